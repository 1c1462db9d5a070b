//! The Verilated core set up for the SACK tests (reassembly on, SACK as
//! asked), its peers and what to read from its frames.
use std::net::Ipv4Addr;

use holdback_regmap::CoreParams;
use holdback_sim::core_sim::CoreSim;
use holdback_sim::refmodel::lockstep::{test_mac, Lockstep};
use holdback_sim::refmodel::Config;
use holdback_sim::wire::{Endpoint, Frame, MacAddr, TcpRepr};

pub const CORE: Endpoint = Endpoint { mac: MacAddr([0x02, 0x00, 0x5e, 0x00, 0x00, 0x02]), ip: Ipv4Addr::new(198, 18, 0, 2) };
pub const LISTEN: u16 = 5001;
pub const RTO_US: u32 = 3000;

pub fn peer(n: u16) -> Endpoint {
    Endpoint { mac: test_mac(n), ip: Ipv4Addr::new(198, 18, 2 + (n >> 8) as u8, n as u8) }
}

/// The core with reassembly on, holdback and SACK as given.
pub fn start(holdback: bool, sack: bool) -> Lockstep<CoreSim> {
    let core = CoreSim::new().unwrap_or_else(|e| panic!("cannot start the Verilated core ({e}); the sim crate needs verilator: apt-get install verilator"));
    let mut cfg = Config::new(&CoreParams::DEFAULT, CORE.mac, CORE.ip, &[LISTEN], 1460, RTO_US);
    cfg.holdback = holdback;
    cfg.reassembly = true;
    cfg.sack = sack;
    Lockstep::new(core, cfg).unwrap_or_else(|e| panic!("configure: {e}"))
}

/// A stream's bytes, distinct enough that a byte out of place shows.
pub fn stream(len: usize) -> Vec<u8> {
    (0..len as u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect()
}

/// The TCP headers of the core's frames.
pub fn segments(frames: &[Vec<u8>]) -> Vec<TcpRepr> {
    frames.iter().filter_map(|f| Frame::parse(f).ok()).filter_map(|f| f.tcp().map(|(_, t, _)| t.clone())).collect()
}
