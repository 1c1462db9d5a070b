//! Verilog generation: the core and every block, each as its own named module
//! tree, so `holdback verilog`, the Verilator build in `sim/` and the per-block
//! lint/synthesis checks all see exactly the same text.
use rust_hdl::prelude::*;
use std::fmt;

/// One generated Verilog model: `module <name>` plus its submodules.
#[derive(Clone, Debug)]
pub struct ModelSource {
    /// Top module name, also the Verilator model prefix (`V<name>`).
    pub name: &'static str,
    pub verilog: String,
}

#[derive(Debug)]
pub struct GenError {
    pub block: &'static str,
    pub cause: String,
}

impl fmt::Display for GenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "block `{}` failed rust-hdl's design checks: {}", self.block, self.cause)
    }
}
impl std::error::Error for GenError {}

/// Connect, check (open signals, logic loops, writes to inputs) and emit `uut`
/// as `module <name>`; rust-hdl's own `generate_verilog` always says `top` and
/// panics on a failed check.
pub fn verilog_named<U: Block>(uut: &mut U, name: &'static str) -> Result<String, GenError> {
    uut.connect_all();
    check_all(uut).map_err(|e| GenError { block: name, cause: format!("{e:?}") })?;
    let mut defines = ModuleDefines::default();
    uut.accept(name, &mut defines);
    // `default_nettype none` turns an implicitly declared wire (a Rust `const`
    // that leaked into a kernel) into an error in every tool, not a yosys warning.
    Ok(format!("`default_nettype none\n{}\n`default_nettype wire\n", defines.defines()))
}

/// Every model the project builds: the whole core first, then each block on its
/// own for its testbench.
pub fn all_models() -> Result<Vec<ModelSource>, GenError> {
    let mut out = vec![ModelSource { name: "holdback_core", verilog: crate::core::verilog()? }];
    out.push(ModelSource { name: "seq_cmp", verilog: crate::seq_cmp::verilog()? });
    out.push(ModelSource { name: "seg_check", verilog: crate::engine::seg_check::verilog()? });
    out.push(ModelSource { name: "hole_table", verilog: crate::engine::reassembly::test_verilog()? });
    out.push(ModelSource { name: "rx_parser", verilog: crate::rx::verilog()? });
    out.push(ModelSource { name: "tx_builder", verilog: crate::tx_builder::verilog()? });
    out.extend(crate::dma::test_models()?);
    out.push(ModelSource { name: "event_queue", verilog: crate::dma::event_queue::verilog()? });
    out.push(ModelSource { name: "payload_dma", verilog: crate::dma::payload::test_verilog()? });
    out.push(ModelSource { name: "dma_arbiter", verilog: crate::dma::arbiter::test_verilog()? });
    out.push(ModelSource { name: "coalesce", verilog: crate::coalesce::verilog()? });
    out.extend(crate::tx::test_models()?);
    out.push(ModelSource { name: "syn_cookie", verilog: crate::engine::syn_cookie::verilog()? });
    out.extend(crate::engine::relay_step::test_models()?);
    out.push(ModelSource { name: "syn_cookie_ts", verilog: crate::engine::syn_cookie_ts::verilog()? });
    Ok(out)
}

/// A short stable hash of the Verilog text, reported as ID_BUILD.
pub fn build_id(verilog: &str) -> u32 {
    // FNV-1a: stable across Rust versions, unlike DefaultHasher.
    let mut h: u32 = 0x811c_9dc5;
    for b in verilog.bytes() {
        h ^= b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}
