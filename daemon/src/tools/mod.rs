//! Operator tools beside the daemon: `holdback watch` (the external
//! failure detector), `holdback switchover` (a planned switchover), `holdback load` (bitstream → vfio-pci) and
//! `holdback verilog` (the RustHDL generator, feature `verilog`).
pub mod load;
pub mod switchover;
#[cfg(feature = "verilog")]
pub mod verilog;
pub mod watch;
