//! The holdback TCP offload core, described in RustHDL.
//!
//! One block per file, each with a lint/synthesis test beside it; behavioural
//! testbenches run on the Verilated Verilog in `sim/tests/` (Verilator is the
//! truth: rust-hdl's simulator and the generated Verilog can disagree).
//!
//! Stream convention everywhere: valid/ready, a beat moves when both are high;
//! on the Ethernet ports byte 0 of a frame is `tdata[7:0]` (AXI-Stream).
//! Frame buffers hold 64-bit words in network order: frame byte `8w` is bits
//! 63:56 of word `w`, so big-endian header fields are contiguous bit ranges.
pub mod channels;
pub mod check;
pub mod coalesce;
pub mod core;
pub mod dma;
pub mod engine;
pub mod generate;
pub mod regbus;
pub mod relay_regs;
pub mod rx;
pub mod seq_cmp;
pub mod tx;
pub mod tx_builder;

pub use holdback_regmap as regmap;
