//! The card's active opens toward test servers, scored against the
//! reference model: the addresses, the CONNECT, and the checks the active
//! open's tests share (`active_open_timestamps.rs`, `active_open_sack.rs`).
#![allow(dead_code)] // each test binary uses its own subset
use std::net::Ipv4Addr;

use crate::or_panic::OrPanic;
use holdback_regmap::{CoreParams, TcpState};
use holdback_sim::core_sim::CoreSim;
use holdback_sim::refmodel::active_open::Connect;
use holdback_sim::refmodel::lockstep::{test_mac, Lockstep};
use holdback_sim::refmodel::Config;
use holdback_sim::wire::{Endpoint, Frame, MacAddr, TcpFlags, TcpRepr};

pub const CORE: Endpoint = Endpoint { mac: MacAddr([0x02, 0x00, 0x5e, 0x00, 0x00, 0x02]), ip: Ipv4Addr::new(198, 18, 0, 2) };
pub const LISTEN: u16 = 5001;
pub const RTO_US: u32 = 3000;
pub const SERVER_PORT: u16 = 7000;
pub const SERVER_ISN: u32 = 0x8000_0000;

/// Test server `n`.
pub fn server(n: u16) -> Endpoint {
    Endpoint { mac: test_mac(n), ip: Ipv4Addr::new(198, 18, 4, n as u8) }
}

/// A Verilated core in lockstep with the model, `cfg` adjusted by `tune` first.
pub fn start(tune: impl FnOnce(&mut Config)) -> Lockstep<CoreSim> {
    let core = CoreSim::new().unwrap_or_else(|e| panic!("cannot start the Verilated core ({e}); the sim crate needs verilator: apt-get install verilator"));
    let mut cfg = Config::new(&CoreParams::DEFAULT, CORE.mac, CORE.ip, &[LISTEN], 1460, RTO_US);
    tune(&mut cfg);
    Lockstep::new(core, cfg).unwrap_or_else(|e| panic!("configure: {e}"))
}

pub fn connect_to(n: u16, local_port: u16) -> Connect {
    let s = server(n);
    Connect { remote_ip: s.ip, remote_port: SERVER_PORT, local_port, next_hop: s.mac }
}

/// The TCP segments in `frames`, each checked to be ours to `to`.
pub fn segments(frames: &[Vec<u8>], to: Endpoint, what: &str) -> Vec<TcpRepr> {
    frames
        .iter()
        .map(|f| {
            let f = Frame::parse(f).unwrap_or_else(|e| panic!("{what}: {e}"));
            let (ip, tcp, _) = f.tcp().unwrap_or_else(|| panic!("{what}: not TCP"));
            assert_eq!((ip.src, ip.dst), (CORE.ip, to.ip), "{what}: addresses");
            tcp.clone()
        })
        .collect()
}

pub fn only_segment(frames: &[Vec<u8>], to: Endpoint, what: &str) -> TcpRepr {
    assert_eq!(frames.len(), 1, "{what}: one frame");
    segments(frames, to, what).remove(0)
}

/// Counters, change log and connection `id`'s TCB agree with the model, whose TCB is in `state`.
pub fn check(ls: &mut Lockstep<CoreSim>, id: usize, state: TcpState, what: &str) {
    let what = &format!("{what} (last inputs: {:#?})", ls.recent_inputs(6));
    assert_eq!(ls.model.tcb(id).state, state, "{what}");
    ls.check_stats().or_panic(what);
    ls.check_change_log().or_panic(what);
    ls.check_tcb(id, &[]).or_panic(what);
}

/// CONNECT from `local_port` to server `n`: our SYN and the slot.
pub fn connect(ls: &mut Lockstep<CoreSim>, n: u16, local_port: u16) -> (TcpRepr, usize) {
    let (frames, id) = ls.connect(&connect_to(n, local_port)).or_panic("CONNECT");
    let id = id.expect("a free slot");
    let syn = only_segment(&frames, server(n), "our SYN");
    assert_eq!(syn.flags, TcpFlags::SYN, "our SYN");
    check(ls, id, TcpState::SynSent, "SYN-SENT");
    (syn, id)
}
