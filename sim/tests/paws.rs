//! TCP timestamps, the receive rules (RFC 7323 §4.3 and §5.3), in the
//! Verilated core scored against the reference model: on a connection with
//! TS_OK, a segment that is not a RST and carries a TSval older than
//! TS.Recent (serial order, §5.2) is dropped by PAWS, counted in
//! `drop_paws` and answered by an ACK; a TSval at or after TS.Recent on a
//! segment starting at or before the last ACK sent becomes TS.Recent, so
//! under ACK holdback TS.Recent stops at the segment that reached R. Every
//! frame, TCB word and counter is compared with the model's
//! (docs/engine.md, Timestamps).
//!
//! Needs verilator (the sim crate's build verilates the core): install with
//! `apt-get install verilator`.
#[path = "common/or_panic.rs"]
mod or_panic;
use or_panic::OrPanic;
use std::net::Ipv4Addr;

use holdback_regmap::{CoreParams, Stat, TcpState};
use holdback_sim::core_sim::CoreSim;
use holdback_sim::refmodel::lockstep::{test_mac, Lockstep};
use holdback_sim::refmodel::{Config, ConnKey};
use holdback_sim::wire::{tcp_frame, Endpoint, Frame, MacAddr, SeqNum, TcpFlags, TcpRepr};

const CORE: Endpoint = Endpoint { mac: MacAddr([0x02, 0x00, 0x5e, 0x00, 0x00, 0x02]), ip: Ipv4Addr::new(198, 18, 0, 2) };
const LISTEN: u16 = 5001;
const ISN: u32 = 0x4000_0000;

fn start(timestamps: bool, holdback: bool) -> Lockstep<CoreSim> {
    let core = CoreSim::new()
        .unwrap_or_else(|e| panic!("cannot start the Verilated core ({e}); the sim crate needs verilator: apt-get install verilator"));
    let mut cfg = Config::new(&CoreParams::DEFAULT, CORE.mac, CORE.ip, &[LISTEN], 1460, 3000);
    cfg.timestamps = timestamps;
    cfg.holdback = holdback;
    Lockstep::new(core, cfg).unwrap_or_else(|e| panic!("configure: {e}"))
}

/// The peer's side of one connection whose every segment carries a
/// Timestamps option with a TSval the test chooses.
struct Peer {
    ep: Endpoint,
    port: u16,
    id: usize,
    /// The core's next sequence number, what the peer acknowledges.
    ack: SeqNum,
}

impl Peer {
    /// Opens a connection with TSval `syn_tsval` on the SYN and `ack_tsval`
    /// on the handshake's ACK.
    fn open(ls: &mut Lockstep<CoreSim>, n: u16, syn_tsval: u32, ack_tsval: u32) -> Peer {
        let ep = Endpoint { mac: test_mac(n), ip: Ipv4Addr::new(198, 18, 4, n as u8) };
        let port = 42000 + n;
        let syn = TcpRepr::new(port, LISTEN, SeqNum(ISN), SeqNum(0), TcpFlags::SYN, 64240)
            .with_mss(1460)
            .with_timestamps(syn_tsval, 0);
        let out = ls.frame(&tcp_frame(ep, CORE, &syn, &[])).or_panic("SYN");
        let key = ConnKey { remote_ip: ep.ip, remote_port: port, local_port: LISTEN };
        let id = ls.model.lookup(key).unwrap_or_else(|| panic!("peer {n}'s SYN opened no connection"));
        let iss = out
            .iter()
            .filter_map(|f| Frame::parse(f).ok())
            .find_map(|f| f.tcp().filter(|(_, t, _)| t.flags.syn()).map(|(_, t, _)| t.seq))
            .unwrap_or_else(|| panic!("no SYN-ACK to peer {n}"));
        let mut p = Peer { ep, port, id, ack: iss + 1 };
        p.send(ls, 1, TcpFlags::ACK, 0, ack_tsval, "the handshake's ACK");
        assert_eq!(ls.model.tcb(id).state, TcpState::Established);
        p
    }

    /// Sends `len` payload bytes at stream offset `off` (0 = the first byte
    /// after the SYN) with `flags` and TSval `tsval`, checks the TCB and the
    /// counters against the model, and returns the core's frames.
    fn send(&mut self, ls: &mut Lockstep<CoreSim>, off: u32, flags: TcpFlags, len: usize, tsval: u32, what: &str) -> Vec<Vec<u8>> {
        let repr = TcpRepr::new(self.port, LISTEN, SeqNum(ISN) + off, self.ack, flags, 64240).with_timestamps(tsval, 0);
        let payload: Vec<u8> = (0..len).map(|i| (off as usize + i) as u8).collect();
        let out = ls.frame(&tcp_frame(self.ep, CORE, &repr, &payload)).or_panic(what);
        ls.check_tcb(self.id, &[]).or_panic(what);
        ls.check_stats().or_panic(what);
        out
    }
}

fn acks(out: &[Vec<u8>]) -> Vec<u32> {
    out.iter()
        .filter_map(|f| Frame::parse(f).ok())
        .filter_map(|f| f.tcp().filter(|(_, t, _)| t.flags.ack() && !t.flags.rst()).map(|(_, t, _)| t.ack.0))
        .collect()
}

#[test]
fn an_older_tsval_is_dropped_by_paws_and_answered_by_an_ack() {
    let mut ls = start(true, false);
    let mut p = Peer::open(&mut ls, 1, 1000, 1001);
    assert_eq!(ls.model.tcb(p.id).ts_recent, 1001, "the handshake's ACK starts at the last ACK sent: its TSval is taken");
    p.send(&mut ls, 1, TcpFlags::ACK | TcpFlags::PSH, 100, 1002, "data 1..101");
    assert_eq!(ls.model.tcb(p.id).ts_recent, 1002);
    let rcv_nxt = ls.model.tcb(p.id).rcv_nxt;
    assert_eq!(rcv_nxt, SeqNum(ISN) + 101);

    // An older TSval on new in-order data: dropped, counted, answered at rcv_nxt.
    let out = p.send(&mut ls, 101, TcpFlags::ACK | TcpFlags::PSH, 100, 1001, "data 101..201 with an old TSval");
    assert_eq!(ls.model.stat(Stat::DropPaws), 1);
    assert_eq!(ls.model.tcb(p.id).rcv_nxt, rcv_nxt, "PAWS must not take the bytes");
    assert_eq!(ls.model.tcb(p.id).ts_recent, 1002);
    assert_eq!(acks(&out), vec![rcv_nxt.0], "PAWS answers with one ACK at rcv_nxt");

    // The same bytes with a fresh TSval are taken.
    p.send(&mut ls, 101, TcpFlags::ACK | TcpFlags::PSH, 100, 1003, "data 101..201 again");
    assert_eq!(ls.model.tcb(p.id).rcv_nxt, SeqNum(ISN) + 201);
    assert_eq!(ls.model.tcb(p.id).ts_recent, 1003);
    // An equal TSval is not older (§4.3: SEG.TSval >= TS.Recent).
    p.send(&mut ls, 201, TcpFlags::ACK | TcpFlags::PSH, 10, 1003, "data 201..211, TSval equal");
    assert_eq!(ls.model.tcb(p.id).rcv_nxt, SeqNum(ISN) + 211);
    assert_eq!(ls.model.stat(Stat::DropPaws), 1);

    // A RST is judged by the RST rules alone: at rcv_nxt it closes, however old its TSval.
    p.send(&mut ls, 211, TcpFlags::RST, 0, 5, "RST with an old TSval");
    assert_eq!(ls.model.tcb(p.id).state, TcpState::Closed);
    assert_eq!(ls.model.stat(Stat::DropPaws), 1);
}

#[test]
fn paws_compares_tsvals_in_serial_order_across_the_wrap() {
    let mut ls = start(true, false);
    let mut p = Peer::open(&mut ls, 2, 0xffff_ff00, 0xffff_fff0);
    // 0x10 follows 0xffff_fff0 across the wrap: newer, taken.
    p.send(&mut ls, 1, TcpFlags::ACK | TcpFlags::PSH, 50, 0x10, "TSval past the wrap");
    assert_eq!(ls.model.tcb(p.id).ts_recent, 0x10);
    // 0xffff_ffff is now older, though numerically larger.
    p.send(&mut ls, 51, TcpFlags::ACK | TcpFlags::PSH, 50, 0xffff_ffff, "TSval before the wrap");
    assert_eq!(ls.model.stat(Stat::DropPaws), 1);
    assert_eq!(ls.model.tcb(p.id).rcv_nxt, SeqNum(ISN) + 51);
    // Half the space ahead is still newer (RFC 7323 §5.2).
    p.send(&mut ls, 51, TcpFlags::ACK | TcpFlags::PSH, 50, 0x7fff_0000, "TSval far ahead");
    assert_eq!(ls.model.tcb(p.id).ts_recent, 0x7fff_0000);
    assert_eq!(ls.model.tcb(p.id).rcv_nxt, SeqNum(ISN) + 101);
}

#[test]
fn under_holdback_ts_recent_stops_at_the_segment_that_reached_r() {
    let mut ls = start(true, true);
    let mut p = Peer::open(&mut ls, 3, 500, 501);
    // Nothing released: the last ACK sent stays at the first byte, so only
    // the segment starting there gives its TSval (RFC 7323 §4.3).
    p.send(&mut ls, 1, TcpFlags::ACK | TcpFlags::PSH, 100, 510, "data 1..101");
    p.send(&mut ls, 101, TcpFlags::ACK | TcpFlags::PSH, 100, 520, "data 101..201");
    assert_eq!(ls.model.tcb(p.id).rcv_nxt, SeqNum(ISN) + 201);
    assert_eq!(ls.model.tcb(p.id).ts_recent, 510, "a segment past the last ACK sent must not move TS.Recent");
    // The host releases the first 100 bytes: the ACK goes out at R = 101.
    let r = ls.model.tcb(p.id).irs + 101;
    ls.release(p.id, r.0).or_panic("release 100 bytes");
    ls.check_tcb(p.id, &[]).or_panic("after the release");
    assert_eq!(ls.model.tcb(p.id).ack_sent, r);
    // A segment past A still gives nothing.
    p.send(&mut ls, 201, TcpFlags::ACK | TcpFlags::PSH, 100, 530, "data 201..301, past A");
    assert_eq!(ls.model.tcb(p.id).ts_recent, 510);
    // One starting at A (old bytes up to rcv_nxt, then new ones) does.
    p.send(&mut ls, 101, TcpFlags::ACK | TcpFlags::PSH, 300, 540, "data 101..401, from A");
    assert_eq!(ls.model.tcb(p.id).rcv_nxt, SeqNum(ISN) + 401);
    assert_eq!(ls.model.tcb(p.id).ts_recent, 540);
    assert_eq!(ls.model.stat(Stat::DropPaws), 0);
}

#[test]
fn without_negotiated_timestamps_no_tsval_is_judged() {
    let mut ls = start(false, false);
    let mut p = Peer::open(&mut ls, 4, 1000, 1001);
    assert!(!ls.model.tcb(p.id).ts_ok);
    p.send(&mut ls, 1, TcpFlags::ACK | TcpFlags::PSH, 100, 1002, "data 1..101");
    p.send(&mut ls, 101, TcpFlags::ACK | TcpFlags::PSH, 100, 3, "data 101..201, TSval far older");
    assert_eq!(ls.model.tcb(p.id).rcv_nxt, SeqNum(ISN) + 201);
    assert_eq!(ls.model.stat(Stat::DropPaws), 0);
    assert_eq!(ls.model.tcb(p.id).ts_recent, 0);
}
