//! TCP timestamps (RFC 7323 §3.2), the receive half of the negotiation, in
//! the Verilated core scored against the reference model: with TIMESTAMPS
//! on, a SYN carrying the Timestamps option gives the TCB TS_OK and
//! TS.Recent = its TSval; a SYN without it, or TIMESTAMPS off, gives neither.
//! Every TCB word (the new ones included), counter and frame is compared with
//! the model's.
//!
//! Not yet here, because the core does not do it yet (docs/engine.md): the
//! SYN-ACK offering the option, TSecr echoing TS.Recent, the §4.3 update
//! rules and PAWS (§5). Until then the SYN-ACK must carry no Timestamps
//! option, which the test checks.
//!
//! Needs verilator (the sim crate's build verilates the core): install with
//! `apt-get install verilator`.
#[path = "common/or_panic.rs"]
mod or_panic;
use or_panic::OrPanic;
use std::net::Ipv4Addr;

use holdback_regmap::CoreParams;
use holdback_sim::core_sim::CoreSim;
use holdback_sim::refmodel::lockstep::{test_mac, Lockstep};
use holdback_sim::refmodel::{Config, ConnKey};
use holdback_sim::wire::{tcp_frame, Endpoint, Frame, MacAddr, SeqNum, TcpFlags, TcpRepr};

const CORE: Endpoint = Endpoint { mac: MacAddr([0x02, 0x00, 0x5e, 0x00, 0x00, 0x02]), ip: Ipv4Addr::new(198, 18, 0, 2) };
const LISTEN: u16 = 5001;

fn peer(n: u16) -> Endpoint {
    Endpoint { mac: test_mac(n), ip: Ipv4Addr::new(198, 18, 4, n as u8) }
}

fn start(timestamps: bool) -> Lockstep<CoreSim> {
    let core = CoreSim::new()
        .unwrap_or_else(|e| panic!("cannot start the Verilated core ({e}); the sim crate needs verilator: apt-get install verilator"));
    let mut cfg = Config::new(&CoreParams::DEFAULT, CORE.mac, CORE.ip, &[LISTEN], 1460, 3000);
    cfg.timestamps = timestamps;
    Lockstep::new(core, cfg).unwrap_or_else(|e| panic!("configure: {e}"))
}

/// Sends a SYN from peer `n` (with the Timestamps option when `ts` is some),
/// checks the TCB against the model and returns (TS_OK, TS.Recent) and whether
/// the core's SYN-ACK carried a Timestamps option.
fn syn(ls: &mut Lockstep<CoreSim>, n: u16, ts: Option<(u32, u32)>) -> (bool, u32, bool) {
    let port = 41000 + n;
    let mut repr = TcpRepr::new(port, LISTEN, SeqNum(0x8000_0000 + u32::from(n)), SeqNum(0), TcpFlags::SYN, 64240).with_mss(1460);
    if let Some((tsval, tsecr)) = ts {
        repr = repr.with_timestamps(tsval, tsecr);
    }
    let out = ls.frame(&tcp_frame(peer(n), CORE, &repr, &[])).or_panic("SYN");
    let key = ConnKey { remote_ip: peer(n).ip, remote_port: port, local_port: LISTEN };
    let id = ls.model.lookup(key).unwrap_or_else(|| panic!("peer {n}'s SYN opened no connection"));
    ls.check_tcb(id, &[]).or_panic("TCB after the SYN");
    ls.check_stats().or_panic("counters after the SYN");
    let synack_ts = out
        .iter()
        .filter_map(|f| Frame::parse(f).ok())
        .find_map(|f| f.tcp().filter(|(_, t, _)| t.flags.syn()).map(|(_, t, _)| t.timestamps().is_some()))
        .unwrap_or_else(|| panic!("no SYN-ACK to peer {n}"));
    let t = ls.model.tcb(id);
    (t.ts_ok, t.ts_recent, synack_ts)
}

#[test]
fn timestamps_on_take_the_syns_tsval_as_ts_recent() {
    let mut ls = start(true);
    // TSvals on both sides of the 32-bit wrap and at its edge.
    for (n, tsval) in [(1u16, 1u32), (2, 0x7fff_ffff), (3, 0xffff_fff0), (4, 0xffff_ffff), (5, 0)] {
        assert_eq!(syn(&mut ls, n, Some((tsval, 0))), (true, tsval, false), "SYN {n} with TSval {tsval:#x}");
    }
    // A SYN's TSecr means nothing (RFC 7323 §3.2): it is not taken.
    assert_eq!(syn(&mut ls, 6, Some((77, 0xdead_beef))), (true, 77, false));
    // A peer without the option: nothing negotiated.
    assert_eq!(syn(&mut ls, 7, None), (false, 0, false));
}

#[test]
fn timestamps_off_ignore_the_option() {
    let mut ls = start(false);
    assert_eq!(syn(&mut ls, 1, Some((1234, 0))), (false, 0, false));
    assert_eq!(syn(&mut ls, 2, None), (false, 0, false));
    // Switched on at run time: the next SYN takes it.
    ls.set_timestamps(true).or_panic("TIMESTAMPS on");
    assert_eq!(syn(&mut ls, 3, Some((99, 0))), (true, 99, false));
}
