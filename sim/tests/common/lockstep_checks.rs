//! What the lockstep tests of connection life, send holdback and old ACKs
//! share: the core's address, a Verilated core under the checker, and the
//! comparison of a connection's TCB, counters and change log with the model.
#![allow(dead_code)] // each test binary uses its own subset
use super::or_panic::OrPanic;
use std::net::Ipv4Addr;

use holdback_regmap::TcpState;
use holdback_sim::core_sim::CoreSim;
use holdback_sim::refmodel::lockstep::{Lockstep, PeerConn};
use holdback_sim::refmodel::Config;
use holdback_sim::wire::{Endpoint, Frame, MacAddr, TcpFlags};

pub const CORE: Endpoint = Endpoint { mac: MacAddr([0x02, 0x00, 0x5e, 0x00, 0x00, 0x02]), ip: Ipv4Addr::new(198, 18, 0, 2) };

/// A Verilated core configured as `cfg` says, in lockstep with the model.
pub fn lockstep(cfg: Config) -> Lockstep<CoreSim> {
    let core = CoreSim::new().unwrap_or_else(|e| panic!("cannot start the Verilated core ({e}); the sim crate needs verilator: apt-get install verilator"));
    Lockstep::new(core, cfg).unwrap_or_else(|e| panic!("configure: {e}"))
}

/// Every counter, the change log and `c`'s TCB agree with the model, and the
/// model's TCB is in `state`.
pub fn check(ls: &mut Lockstep<CoreSim>, c: &PeerConn, state: TcpState, what: &str) {
    let what = &format!("{what} (last inputs: {:#?})", ls.recent_inputs(6));
    assert_eq!(ls.model.tcb(c.id).state, state, "{what}");
    ls.check_stats().or_panic(what);
    ls.check_change_log().or_panic(what);
    ls.check_tcb(c.id, &[]).or_panic(what);
}

/// The TCP flags of the one frame in `frames`.
pub fn only_flags(frames: &[Vec<u8>], what: &str) -> TcpFlags {
    assert_eq!(frames.len(), 1, "{what}: one frame");
    let f = Frame::parse(&frames[0]).unwrap_or_else(|e| panic!("{what}: {e}"));
    f.tcp().unwrap_or_else(|| panic!("{what}: not TCP")).1.flags
}
