//! The holdback core verilated and driven from Rust.
//!
//! - [`model`]: any generated model (the core or one block), one FFI call per cycle.
//! - [`core_sim`]: the whole core, deterministic and single-threaded, for tests.
//! - [`card`]: the simulated card: clock thread, wall-clock ticks, TAP port, register bus.
//! - [`host_mem`]: the simulated host's DMA memory, which the core's AXI writes land in;
//!   [`axi_slave`] serves the core's write port against it.
//! - [`wire`]: Ethernet/ARP/IPv4/TCP/ICMP frames built and parsed with checksums.
//! - [`refmodel`]: the sans-I/O reference model of the core's segment handling.
//! - [`bench`]: the core's cycles per frame, bytes per cycle and release-to-ACK latency.
//! - [`seeds`]: the seed of a randomised test, fixed unless `HOLDBACK_TEST_SEED` is set.
pub mod axi_read_slave;
pub mod axi_slave;
pub mod bench;
pub mod card;
pub mod core_sim;
pub mod error;
pub mod host_mem;
pub mod impair;
pub mod model;
pub mod pcap;
pub mod refmodel;
pub mod seeds;
pub mod tap;
pub mod wire;

pub use error::SimError;
pub use seeds::test_seed;
