//! Any Verilated model of `holdback_hdl::generate::all_models()`, driven one
//! clock cycle per FFI call.
//!
//! `sim/build.rs` generates, per model, a C function that takes every input
//! port packed into `u64` words and returns every output port the same way, and
//! a table ([`ModelInfo`]) of port names and widths. [`Model`] resolves port
//! names once ([`Model::port`]) and then reads and writes plain arrays.
use std::ffi::c_void;

use crate::SimError;

/// One top-level port of a model (the `clock` port is not listed: the shim drives it).
#[derive(Debug)]
pub struct PortInfo {
    pub name: &'static str,
    /// Bits; ports wider than 64 take several consecutive `u64` words.
    pub width: u32,
    /// Index of the port's first `u64` word in the input or output array.
    pub word: usize,
}

/// A model linked into this crate: its ports and its generated C entry points.
#[derive(Debug)]
pub struct ModelInfo {
    pub name: &'static str,
    /// The model has a `clock` input; `cycle()` then makes one rising edge.
    pub has_clock: bool,
    pub inputs: &'static [PortInfo],
    pub input_words: usize,
    pub outputs: &'static [PortInfo],
    pub output_words: usize,
    new: unsafe extern "C" fn() -> *mut c_void,
    free: unsafe extern "C" fn(*mut c_void),
    cycle: unsafe extern "C" fn(*mut c_void, *const u64, *mut u64),
    /// The `--trace` build of the model (feature `vcd`).
    trace: Option<TraceFns>,
}

impl ModelInfo {
    /// Whether this build has a VCD-tracing variant of the model (feature `vcd`).
    pub fn can_trace(&self) -> bool {
        self.trace.is_some()
    }
}

/// Entry points of a model's `--trace` variant; same port layout as the plain one.
#[derive(Debug)]
struct TraceFns {
    new: unsafe extern "C" fn(*const std::ffi::c_char) -> *mut c_void,
    free: unsafe extern "C" fn(*mut c_void),
    cycle: unsafe extern "C" fn(*mut c_void, *const u64, *mut u64),
}

include!(concat!(env!("OUT_DIR"), "/models.rs"));

/// Every model built into this crate.
pub fn models() -> &'static [ModelInfo] {
    MODELS
}

/// Looks a model up by name.
pub fn model_info(name: &str) -> Result<&'static ModelInfo, SimError> {
    MODELS.iter().find(|m| m.name == name).ok_or_else(|| SimError::NoSuchModel {
        name: name.to_string(),
        built: MODELS.iter().map(|m| m.name).collect::<Vec<_>>().join(", "),
    })
}

/// Direction of a port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortDir {
    In,
    Out,
}

/// A resolved port of one model: cheap to copy, no name lookup per access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortId {
    dir: PortDir,
    /// First u64 word in the input or output array.
    word: usize,
    /// Mask of the port's width, applied to the first word (wide ports: the last word).
    width: u32,
}

impl PortId {
    pub fn dir(&self) -> PortDir {
        self.dir
    }
    pub fn width(&self) -> u32 {
        self.width
    }
    fn words(&self) -> usize {
        self.width.div_ceil(64) as usize
    }
}

fn mask(width: u32) -> u64 {
    if width >= 64 {
        u64::MAX
    } else {
        (1u64 << width) - 1
    }
}

/// One instance of a Verilated model. `Send` (it can move to a clock thread),
/// not `Sync` (Verilator models are single-threaded).
pub struct Model {
    info: &'static ModelInfo,
    handle: *mut c_void,
    /// The plain or the traced variant's entry points, matching `handle`.
    free: unsafe extern "C" fn(*mut c_void),
    cycle_fn: unsafe extern "C" fn(*mut c_void, *const u64, *mut u64),
    inputs: Vec<u64>,
    outputs: Vec<u64>,
    cycles: u64,
}

// SAFETY: the Verilated model behind `handle` is owned exclusively by this
// `Model` (created in `new`, freed in `drop`) and has no thread affinity; we
// don't use `--threads`, so no Verilator worker threads touch it. `&self`
// methods never call into C++, so `Model` is not `Sync` but may be sent.
unsafe impl Send for Model {}

impl Model {
    /// Instantiates the model `name` with its power-on (`initial`) state.
    pub fn new(name: &str) -> Result<Model, SimError> {
        let info = model_info(name)?;
        // SAFETY: `new` is the generated constructor of this model; it takes no
        // arguments and returns an owned heap object (C++ `new` aborts rather
        // than return null).
        let handle = unsafe { (info.new)() };
        Ok(Model::from_handle(info, handle, info.free, info.cycle))
    }

    /// Instantiates the `--trace` variant of `name`, dumping every signal to a
    /// VCD file at `vcd` (times 2n and 2n+1 for cycle n). Needs the `vcd`
    /// feature; large: use it on short runs.
    pub fn new_traced(name: &str, vcd: &std::path::Path) -> Result<Model, SimError> {
        let info = model_info(name)?;
        let Some(trace) = &info.trace else {
            return Err(SimError::VcdUnsupported(vcd.to_path_buf()));
        };
        let bad_path = || SimError::Io {
            what: format!("VCD path {}", vcd.display()),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "path contains a NUL byte"),
        };
        let path = std::ffi::CString::new(vcd.as_os_str().as_encoded_bytes()).map_err(|_| bad_path())?;
        // SAFETY: `path` is a valid NUL-terminated string for the duration of the
        // call (Verilator copies it); the result is null only if the file can't be opened.
        let handle = unsafe { (trace.new)(path.as_ptr()) };
        if handle.is_null() {
            return Err(SimError::Io {
                what: format!("opening VCD file {}", vcd.display()),
                source: std::io::Error::other("Verilator could not open it"),
            });
        }
        Ok(Model::from_handle(info, handle, trace.free, trace.cycle))
    }

    fn from_handle(
        info: &'static ModelInfo,
        handle: *mut c_void,
        free: unsafe extern "C" fn(*mut c_void),
        cycle_fn: unsafe extern "C" fn(*mut c_void, *const u64, *mut u64),
    ) -> Model {
        let mut model = Model {
            info,
            handle,
            free,
            cycle_fn,
            inputs: vec![0; info.input_words],
            outputs: vec![0; info.output_words],
            cycles: 0,
        };
        if !info.has_clock {
            // Combinational model: settle once so `get` shows the outputs for all-zero inputs.
            model.cycle();
            model.cycles = 0;
        }
        model
    }

    pub fn info(&self) -> &'static ModelInfo {
        self.info
    }

    pub fn name(&self) -> &'static str {
        self.info.name
    }

    /// Resolves a port by name (inputs and outputs; not `clock`).
    pub fn port(&self, name: &str) -> Result<PortId, SimError> {
        let find = |list: &'static [PortInfo], dir| {
            list.iter().find(|p| p.name == name).map(|p| PortId { dir, word: p.word, width: p.width })
        };
        find(self.info.inputs, PortDir::In)
            .or_else(|| find(self.info.outputs, PortDir::Out))
            .ok_or_else(|| SimError::NoSuchPort { model: self.info.name.to_string(), port: name.to_string() })
    }

    /// Whether the model has a port of this name.
    pub fn has_port(&self, name: &str) -> bool {
        self.port(name).is_ok()
    }

    /// Drives input `p` from the next `cycle()` on (bits above its width are dropped).
    /// Wide ports: sets the low 64 bits and clears the rest.
    ///
    /// # Panics
    /// If `p` is an output (a programming error: ports are resolved by name once).
    pub fn set(&mut self, p: PortId, v: u64) {
        assert_eq!(p.dir, PortDir::In, "{}: set() on an output port", self.info.name);
        let n = p.words();
        if n == 1 {
            self.inputs[p.word] = v & mask(p.width);
        } else {
            self.inputs[p.word] = v;
            self.inputs[p.word + 1..p.word + n].fill(0);
        }
    }

    /// The value of a port: outputs as sampled in the last `cycle()` (pre-edge),
    /// inputs as last set. Wide ports: the low 64 bits.
    pub fn get(&self, p: PortId) -> u64 {
        match p.dir {
            PortDir::In => self.inputs[p.word],
            PortDir::Out => self.outputs[p.word],
        }
    }

    /// Drives a port wider than 64 bits, least significant word first.
    pub fn set_wide(&mut self, p: PortId, words: &[u64]) {
        assert_eq!(p.dir, PortDir::In, "{}: set_wide() on an output port", self.info.name);
        let n = p.words();
        for i in 0..n {
            let mut w = words.get(i).copied().unwrap_or(0);
            if i == n - 1 {
                w &= mask(p.width - 64 * (n as u32 - 1));
            }
            self.inputs[p.word + i] = w;
        }
    }

    /// All words of a port, least significant first.
    pub fn get_wide(&self, p: PortId) -> &[u64] {
        let arr = match p.dir {
            PortDir::In => &self.inputs,
            PortDir::Out => &self.outputs,
        };
        &arr[p.word..p.word + p.words()]
    }

    /// One clock cycle: inputs applied with the clock low, eval, outputs sampled
    /// (pre-edge: a valid&&ready seen in `get` moved at this edge), clock high,
    /// eval. Models without a clock: eval and sample.
    pub fn cycle(&mut self) {
        // SAFETY: `handle` is live (freed only in Drop); `inputs`/`outputs` have
        // exactly `input_words`/`output_words` elements, which is what the
        // generated shim reads and writes for this model.
        unsafe { (self.cycle_fn)(self.handle, self.inputs.as_ptr(), self.outputs.as_mut_ptr()) };
        self.cycles += 1;
    }

    /// Cycles run since `new`.
    pub fn cycles(&self) -> u64 {
        self.cycles
    }
}

impl Drop for Model {
    fn drop(&mut self) {
        // SAFETY: `handle` came from the matching variant's `new` (`free` is
        // that variant's) and is freed exactly once.
        unsafe { (self.free)(self.handle) };
    }
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model").field("name", &self.info.name).field("cycles", &self.cycles).finish()
    }
}
