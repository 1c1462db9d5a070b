//! Verilates every model of `holdback_hdl::generate::all_models()` and links it
//! in statically, with a generated one-call-per-cycle C shim per model and a
//! generated Rust table (`$OUT_DIR/models.rs`) describing each model's ports.
//!
//! Each model is cached in `$OUT_DIR/m_<name>/` under a hash of its Verilog,
//! the shim template and the Verilator version, so an edit to one block only
//! re-verilates and recompiles that block. The Verilator runtime is compiled
//! once into its own archive (two archives both holding `verilated.cpp` would
//! clash at link time).
use std::{
    env, fmt, fs,
    path::{Path, PathBuf},
    process::Command,
};

/// Bump when the generated shim or Rust table changes shape.
const GENERATOR_VERSION: u32 = 4;

const VERILATOR_FLAGS: &[&str] = &[
    "--cc",
    "-O3",
    "--x-assign",
    "fast",
    "--x-initial",
    "fast",
    "--noassert",
    "-Wno-fatal",
    "-Wno-WIDTH",
    "-Wno-UNOPTFLAT",
    // Splits big models (the core) into several .cpp files that cc compiles in
    // parallel; small blocks stay one file.
    "--output-split",
    "20000",
];

const INSTALL_HINT: &str = "install it with `apt-get install -y verilator g++`";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Dir {
    In,
    Out,
}

/// One top-level port as declared in `V<name>.h`.
#[derive(Clone, Debug)]
struct Port {
    name: String,
    dir: Dir,
    width: u32,
    /// `VL_INW/VL_OUTW`: the C++ member is an array of 32-bit words.
    wide: bool,
}

impl Port {
    fn words64(&self) -> usize {
        self.width.div_ceil(64) as usize
    }
}

struct BuildError(String);

impl fmt::Debug for BuildError {
    // `main` returning Err prints Debug: print the message as written.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

macro_rules! bail {
    ($($t:tt)*) => { return Err(BuildError(format!($($t)*))) };
}

/// The normal model, and (feature `vcd`) a `--trace` build of it for waveforms.
struct Variant {
    /// Appended to the model name for the class (`V<name><suffix>`), library and C symbols.
    suffix: &'static str,
    template: String,
    traced: bool,
}

fn main() -> Result<(), BuildError> {
    let out = PathBuf::from(env::var("OUT_DIR").map_err(|_| BuildError("OUT_DIR not set (run through cargo)".into()))?);
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").map_err(|_| BuildError("CARGO_MANIFEST_DIR not set".into()))?);
    let csrc = manifest.join("csrc");
    println!("cargo:rerun-if-changed={}", csrc.display());
    println!("cargo:rerun-if-env-changed=VERILATOR_ROOT");
    let read = |f: &str| {
        let p = csrc.join(f);
        fs::read_to_string(&p).map_err(|e| BuildError(format!("reading {}: {e}", p.display())))
    };
    let mut variants = vec![Variant { suffix: "", template: read("model_shim.cpp.in")?, traced: false }];
    let vcd = env::var_os("CARGO_FEATURE_VCD").is_some();
    if vcd {
        variants.push(Variant { suffix: "_vcdtrace", template: read("model_trace_shim.cpp.in")?, traced: true });
    }

    let verilator_version = verilator_version()?;
    let include = verilator_include()?;

    let models = holdback_hdl::generate::all_models()
        .map_err(|e| BuildError(format!("holdback-hdl could not generate the Verilog: {e}")))?;

    let mut table = Vec::new();
    let mut first_mdir = None;
    for m in &models {
        let mut ports = None;
        for v in &variants {
            let (p, mdir) = build_model(&out, &include, &verilator_version, m.name, &m.verilog, v)?;
            first_mdir.get_or_insert((mdir, format!("{}{}", m.name, v.suffix)));
            ports.get_or_insert(p);
        }
        if let Some(p) = ports {
            table.push((m.name, p));
        }
    }

    if let Some((mdir, prefix)) = &first_mdir {
        build_runtime(&out, &include, &verilator_version, mdir, prefix, vcd)?;
    }
    println!("cargo:rustc-link-lib=stdc++");

    let rust = generate_rust_table(&table, vcd);
    let rs_path = out.join("models.rs");
    fs::write(&rs_path, rust).map_err(|e| BuildError(format!("writing {}: {e}", rs_path.display())))?;
    Ok(())
}

/// Verilates and compiles one model variant (cached by a hash of everything
/// that goes into it); emits its link lines; returns its ports and Mdir.
fn build_model(
    out: &Path,
    include: &Path,
    verilator_version: &str,
    name: &str,
    verilog: &str,
    v: &Variant,
) -> Result<(Vec<Port>, PathBuf), BuildError> {
    let prefix = format!("{name}{}", v.suffix);
    let key = cache_key(&[
        verilog.as_bytes(),
        v.template.as_bytes(),
        verilator_version.as_bytes(),
        VERILATOR_FLAGS.join(" ").as_bytes(),
        &[v.traced as u8],
        &GENERATOR_VERSION.to_le_bytes(),
    ]);
    let dir = out.join(format!("m_{prefix}"));
    let mdir = dir.join("obj");
    let libdir = dir.join("lib");
    let stamp = dir.join("stamp");
    let lib_name = format!("V{prefix}");
    let cached = fs::read_to_string(&stamp).ok().as_deref() == Some(key.as_str())
        && libdir.join(format!("lib{lib_name}.a")).exists();
    if !cached {
        let _ = fs::remove_dir_all(&dir); // DepSet file names are hashed: start clean
        fs::create_dir_all(&mdir).map_err(|e| BuildError(format!("creating {}: {e}", mdir.display())))?;
        fs::create_dir_all(&libdir).map_err(|e| BuildError(format!("creating {}: {e}", libdir.display())))?;
        verilate(name, &prefix, verilog, v.traced, &dir, &mdir)?;
    }
    let ports = parse_ports(name, &prefix, &mdir)?;
    if !cached {
        let shim = generate_shim(name, &ports, &v.template, v.traced);
        let shim_path = mdir.join("holdback_shim.cpp");
        fs::write(&shim_path, shim).map_err(|e| BuildError(format!("writing {}: {e}", shim_path.display())))?;
        let mut b = cxx_build(include, v.traced);
        b.include(&mdir).out_dir(&libdir).file(&shim_path);
        let mk = read_classes_mk(&prefix, &mdir)?;
        for var in ["VM_CLASSES_FAST", "VM_CLASSES_SLOW", "VM_SUPPORT_FAST", "VM_SUPPORT_SLOW"] {
            for c in mk_list(&mk, var) {
                b.file(mdir.join(format!("{c}.cpp")));
            }
        }
        b.try_compile(&lib_name).map_err(|e| {
            BuildError(format!("g++ failed on the Verilated model `{prefix}`: {e}\n({INSTALL_HINT} if g++ is missing)"))
        })?;
        fs::write(&stamp, &key).map_err(|e| BuildError(format!("writing {}: {e}", stamp.display())))?;
    }
    println!("cargo:rustc-link-search=native={}", libdir.display());
    println!("cargo:rustc-link-lib=static={lib_name}");
    Ok((ports, mdir))
}

fn verilator_version() -> Result<String, BuildError> {
    match Command::new("verilator").arg("--version").output() {
        Ok(o) if o.status.success() => Ok(String::from_utf8_lossy(&o.stdout).trim().to_string()),
        Ok(o) => bail!("`verilator --version` failed ({}): {}", o.status, String::from_utf8_lossy(&o.stderr)),
        Err(e) => bail!("cannot run `verilator` ({e}): the sim crate verilates the core at build time; {INSTALL_HINT}"),
    }
}

fn verilator_include() -> Result<PathBuf, BuildError> {
    let root = env::var("VERILATOR_ROOT").unwrap_or_else(|_| "/usr/share/verilator".into());
    let inc = PathBuf::from(root).join("include");
    if !inc.join("verilated.cpp").exists() {
        bail!("Verilator runtime sources not found in {} (set VERILATOR_ROOT, or {INSTALL_HINT})", inc.display());
    }
    Ok(inc)
}

fn cache_key(parts: &[&[u8]]) -> String {
    // FNV-1a 64 over length-prefixed parts: stable across Rust versions.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in (p.len() as u64).to_le_bytes().iter().chain(p.iter()) {
            h ^= *b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

fn verilate(name: &str, prefix: &str, verilog: &str, traced: bool, dir: &Path, mdir: &Path) -> Result<(), BuildError> {
    let vfile = dir.join(format!("{name}.v"));
    fs::write(&vfile, verilog).map_err(|e| BuildError(format!("writing {}: {e}", vfile.display())))?;
    let out = Command::new("verilator")
        .args(VERILATOR_FLAGS)
        .args(if traced { &["--trace"][..] } else { &[][..] })
        .arg("--top-module")
        .arg(name)
        .arg("--prefix")
        .arg(format!("V{prefix}"))
        .arg("--Mdir")
        .arg(mdir)
        .arg(&vfile)
        .output()
        .map_err(|e| BuildError(format!("cannot run `verilator` ({e}); {INSTALL_HINT}")))?;
    let log = dir.join("verilator.log");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let _ = fs::write(&log, &text);
    if !out.status.success() {
        bail!(
            "verilator failed on model `{prefix}` ({}), Verilog in {}:\n{text}",
            out.status,
            vfile.display()
        );
    }
    Ok(())
}

fn read_classes_mk(prefix: &str, mdir: &Path) -> Result<String, BuildError> {
    let p = mdir.join(format!("V{prefix}_classes.mk"));
    fs::read_to_string(&p).map_err(|e| BuildError(format!("reading {}: {e}", p.display())))
}

/// Words of `VAR += a b \ c` lines in Verilator's V<prefix>_classes.mk.
fn mk_list(mk: &str, var: &str) -> Vec<String> {
    mk.replace("\\\n", " ")
        .lines()
        .filter_map(|l| l.trim().strip_prefix(var)?.trim_start().strip_prefix("+="))
        .flat_map(|r| r.split_whitespace().map(String::from).collect::<Vec<_>>())
        .collect()
}

/// Ports from the `VL_IN8(&clock,0,0);` / `VL_OUTW(&z,69,0,3);` lines of V<name>.h.
fn parse_ports(name: &str, prefix: &str, mdir: &Path) -> Result<Vec<Port>, BuildError> {
    let hp = mdir.join(format!("V{prefix}.h"));
    let h = fs::read_to_string(&hp).map_err(|e| BuildError(format!("reading {}: {e}", hp.display())))?;
    let mut ports = Vec::new();
    for line in h.lines() {
        let l = line.trim();
        let Some(rest) = l.strip_prefix("VL_") else { continue };
        let (dir, rest) = if let Some(r) = rest.strip_prefix("IN") {
            (Dir::In, r)
        } else if let Some(r) = rest.strip_prefix("OUT") {
            (Dir::Out, r)
        } else {
            continue;
        };
        let Some(paren) = rest.find('(') else { continue };
        let kind = &rest[..paren];
        if !matches!(kind, "8" | "16" | "" | "64" | "W") {
            continue;
        }
        let args: Vec<&str> = rest[paren + 1..].trim_end_matches(';').trim_end_matches(')').split(',').map(str::trim).collect();
        let (Some(pname), Some(msb), Some(lsb)) = (args.first(), args.get(1), args.get(2)) else {
            bail!("model `{name}`: cannot parse port declaration `{l}` in {}", hp.display());
        };
        let pname = pname.trim_start_matches('&').to_string();
        let (Ok(msb), Ok(lsb)) = (msb.parse::<u32>(), lsb.parse::<u32>()) else {
            bail!("model `{name}`: cannot parse port range in `{l}`");
        };
        if lsb != 0 {
            bail!("model `{name}`: port `{pname}` has lsb {lsb}; only [N:0] ports are supported");
        }
        ports.push(Port { name: pname, dir, width: msb + 1, wide: kind == "W" });
    }
    if ports.is_empty() {
        bail!("model `{name}`: found no ports in {} (Verilator header format changed?)", hp.display());
    }
    if ports.iter().any(|p| p.name == "clock" && (p.dir != Dir::In || p.width != 1)) {
        bail!("model `{name}`: port `clock` must be a 1-bit input");
    }
    Ok(ports)
}

/// Inputs except `clock`, and outputs, each with their first u64 word index.
fn layout(ports: &[Port], dir: Dir) -> Vec<(&Port, usize)> {
    let mut word = 0;
    let mut v = Vec::new();
    for p in ports.iter().filter(|p| p.dir == dir && p.name != "clock") {
        v.push((p, word));
        word += p.words64();
    }
    v
}

fn generate_shim(name: &str, ports: &[Port], template: &str, traced: bool) -> String {
    let has_clock = ports.iter().any(|p| p.name == "clock");
    let mut apply = String::new();
    for (p, w) in layout(ports, Dir::In) {
        if p.wide {
            for i in 0..p.width.div_ceil(32) as usize {
                apply += &format!(
                    "    t->{n}[{i}] = static_cast<uint32_t>(in[{w}] >> {s});\n",
                    n = p.name,
                    w = w + i / 2,
                    s = 32 * (i % 2)
                );
            }
        } else {
            apply += &format!("    t->{n} = in[{w}];\n", n = p.name);
        }
    }
    let mut sample = String::new();
    for (p, w) in layout(ports, Dir::Out) {
        if p.wide {
            for j in 0..p.words64() {
                sample += &format!("    out[{}] = 0;\n", w + j);
            }
            for i in 0..p.width.div_ceil(32) as usize {
                sample += &format!(
                    "    out[{w}] |= static_cast<uint64_t>(t->{n}[{i}]) << {s};\n",
                    n = p.name,
                    w = w + i / 2,
                    s = 32 * (i % 2)
                );
            }
        } else {
            sample += &format!("    out[{w}] = t->{n};\n", n = p.name);
        }
    }
    // Traced variant: dump at 2n after the clock-low eval, 2n+1 after the edge.
    let (dump_low, dump_high) = if traced {
        ("    s->vcd->dump(2 * s->time);\n", "    s->vcd->dump(2 * s->time + 1);\n")
    } else {
        ("", "")
    };
    let tick = if traced { "    s->time++;\n" } else { "" };
    let (clock_low, body) = if has_clock {
        (
            "    t->clock = 0;".to_string(),
            format!(
                "    t->clock = 0;\n    t->eval();\n{dump_low}    sample_@M@(t, out);\n    t->clock = 1;\n    t->eval();\n{dump_high}{tick}"
            ),
        )
    } else {
        (String::new(), format!("    t->eval();\n{dump_low}    sample_@M@(t, out);\n{tick}"))
    };
    template
        .replace("@APPLY@", &apply)
        .replace("@SAMPLE@", &sample)
        .replace("@CLOCK_LOW@", &clock_low)
        .replace("@CYCLE_BODY@", &body)
        .replace("@M@", name)
}

fn cxx_build(include: &Path, traced: bool) -> cc::Build {
    let mut b = cc::Build::new();
    b.cpp(true)
        .std("c++17")
        // Fixed: the cargo dev profile would compile the model at -O0, 5-10x slower.
        .opt_level(2)
        .debug(false)
        .warnings(false)
        .cargo_warnings(false)
        .cargo_metadata(false)
        .include(include)
        .include(include.join("vltstd"))
        .define("VM_TRACE", if traced { "1" } else { "0" })
        .define("VM_TRACE_VCD", if traced { "1" } else { "0" })
        .define("VM_COVERAGE", "0")
        .define("VM_SC", "0")
        .flag("-faligned-new");
    b
}

/// verilated.cpp + verilated_threads.cpp (5.x references VlThreadPool even
/// single-threaded), as listed by VM_GLOBAL_* of the first model; plus the VCD
/// writer when the traced variants are built.
fn build_runtime(out: &Path, include: &Path, version: &str, mdir: &Path, prefix: &str, vcd: bool) -> Result<(), BuildError> {
    let mk = read_classes_mk(prefix, mdir)?;
    let mut globals: Vec<String> =
        mk_list(&mk, "VM_GLOBAL_FAST").into_iter().chain(mk_list(&mk, "VM_GLOBAL_SLOW")).collect();
    if vcd && !globals.iter().any(|g| g == "verilated_vcd_c") {
        globals.push("verilated_vcd_c".into());
    }
    let key = cache_key(&[version.as_bytes(), globals.join(" ").as_bytes(), &[vcd as u8], &GENERATOR_VERSION.to_le_bytes()]);
    let dir = out.join("verilated_rt");
    let stamp = dir.join("stamp");
    let lib = "holdback_verilated_rt";
    let cached = fs::read_to_string(&stamp).ok().as_deref() == Some(key.as_str()) && dir.join(format!("lib{lib}.a")).exists();
    if !cached {
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).map_err(|e| BuildError(format!("creating {}: {e}", dir.display())))?;
        let mut b = cxx_build(include, vcd);
        b.out_dir(&dir);
        for g in &globals {
            b.file(include.join(format!("{g}.cpp")));
        }
        b.try_compile(lib)
            .map_err(|e| BuildError(format!("g++ failed on the Verilator runtime: {e}\n({INSTALL_HINT})")))?;
        fs::write(&stamp, &key).map_err(|e| BuildError(format!("writing {}: {e}", stamp.display())))?;
    }
    println!("cargo:rustc-link-search=native={}", dir.display());
    println!("cargo:rustc-link-lib=static={lib}");
    Ok(())
}

fn generate_rust_table(models: &[(&str, Vec<Port>)], vcd: bool) -> String {
    let mut s = String::from("// @generated by sim/build.rs: the Verilated models linked into this crate.\n");
    s += "extern \"C\" {\n";
    for (name, _) in models {
        s += &format!(
            "    fn {name}_new() -> *mut ::std::ffi::c_void;\n    fn {name}_free(h: *mut ::std::ffi::c_void);\n    fn {name}_cycle(h: *mut ::std::ffi::c_void, inputs: *const u64, outputs: *mut u64);\n"
        );
        if vcd {
            s += &format!(
                "    fn {name}_vcdtrace_new(path: *const ::std::ffi::c_char) -> *mut ::std::ffi::c_void;\n    fn {name}_vcdtrace_free(h: *mut ::std::ffi::c_void);\n    fn {name}_vcdtrace_cycle(h: *mut ::std::ffi::c_void, inputs: *const u64, outputs: *mut u64);\n"
            );
        }
    }
    s += "}\n\n/// Every model built from `holdback_hdl::generate::all_models()`.\npub(crate) static MODELS: &[ModelInfo] = &[\n";
    for (name, ports) in models {
        let has_clock = ports.iter().any(|p| p.name == "clock");
        let fmt_ports = |dir| {
            let l = layout(ports, dir);
            let words: usize = l.iter().map(|(p, _)| p.words64()).sum();
            let list: Vec<String> = l
                .iter()
                .map(|(p, w)| format!("PortInfo {{ name: {:?}, width: {}, word: {w} }}", p.name, p.width))
                .collect();
            (format!("&[{}]", list.join(", ")), words)
        };
        let (inputs, in_words) = fmt_ports(Dir::In);
        let (outputs, out_words) = fmt_ports(Dir::Out);
        let trace = if vcd {
            format!("Some(TraceFns {{ new: {name}_vcdtrace_new, free: {name}_vcdtrace_free, cycle: {name}_vcdtrace_cycle }})")
        } else {
            "None".to_string()
        };
        s += &format!(
            "    ModelInfo {{\n        name: {name:?},\n        has_clock: {has_clock},\n        inputs: {inputs},\n        input_words: {in_words},\n        outputs: {outputs},\n        output_words: {out_words},\n        new: {name}_new,\n        free: {name}_free,\n        cycle: {name}_cycle,\n        trace: {trace},\n    }},\n"
        );
    }
    s += "];\n";
    s
}
