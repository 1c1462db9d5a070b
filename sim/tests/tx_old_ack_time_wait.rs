//! Two rules of RFC 9293 §3.10.7.4 on the Verilated core, scored frame by
//! frame, TCB by TCB and counter by counter against the reference model:
//!
//! - an old ACK (SEG.ACK before SND.UNA) is ignored, not the segment: its
//!   data is still taken into the ring and acknowledged;
//! - in TIME-WAIT a retransmission of the peer's FIN (our ACK of it lost) is
//!   acknowledged and restarts the 2 MSL timeout, so the slot outlives the
//!   first timeout.
//!
//! Needs verilator (the sim crate's build verilates the core): install with
//! `apt-get install verilator`.
#[path = "common/or_panic.rs"]
mod or_panic;
#[path = "common/lockstep_checks.rs"]
mod lockstep_checks;
use lockstep_checks::{check, lockstep, CORE};
use or_panic::OrPanic;
use std::net::Ipv4Addr;

use holdback_regmap::{CoreParams, Stat, TcpState};
use holdback_sim::core_sim::CoreSim;
use holdback_sim::refmodel::lockstep::{test_mac, Lockstep, PeerConn};
use holdback_sim::refmodel::Config;
use holdback_sim::wire::{Endpoint, Frame, TcpFlags};

const LISTEN: u16 = 5001;
const RTO_US: u32 = 3000;
/// TIME_WAIT_US for these tests: 20 ms of the core's clock.
const TIME_WAIT_US: u32 = 20_000;

fn peer(n: u16) -> Endpoint {
    Endpoint { mac: test_mac(n), ip: Ipv4Addr::new(198, 18, 4, n as u8) }
}

fn start() -> Lockstep<CoreSim> {
    let mut cfg = Config::new(&CoreParams::DEFAULT, CORE.mac, CORE.ip, &[LISTEN], 1460, RTO_US);
    cfg.holdback = false;
    cfg.time_wait_us = TIME_WAIT_US;
    lockstep(cfg)
}

/// The TCP flags and ACK number of the one frame in `frames`.
fn only_ack(frames: &[Vec<u8>], what: &str) -> (TcpFlags, u32) {
    assert_eq!(frames.len(), 1, "{what}: one frame, got {frames:?}");
    let f = Frame::parse(&frames[0]).unwrap_or_else(|e| panic!("{what}: {e}"));
    let tcp = f.tcp().unwrap_or_else(|| panic!("{what}: not TCP")).1;
    (tcp.flags, tcp.ack.0)
}

#[test]
fn an_old_ack_is_ignored_but_its_segments_data_is_taken() {
    let mut ls = start();
    let mut c = PeerConn::open(&mut ls, peer(1), 42001, LISTEN, 3_000).or_panic("open");
    c.send(&mut ls, b"first").or_panic("data");
    check(&mut ls, &c, TcpState::Established, "after the first data");
    let drops_before = ls.model.stat(Stat::DropOutOfWindow);
    let rcv_before = ls.model.tcb(c.id).rcv_nxt;

    // The peer's next segment carries an ACK one below snd_una (the SYN-ACK's
    // own sequence number): old, but its data is in order.
    let snd_una = ls.model.tcb(c.id).snd_una;
    let payload = b"second, under an old ACK";
    let mut stale = PeerConn { rcv_nxt: snd_una - 1, ..c.clone() };
    let out = stale.send(&mut ls, payload).or_panic("data with an old ACK");
    c.snd_nxt = stale.snd_nxt;
    let (flags, ack) = only_ack(&out, "the ACK of the data");
    assert_eq!(flags, TcpFlags::ACK);
    assert_eq!(ack, (rcv_before + payload.len() as u32).0, "the data under the old ACK is acknowledged");
    check(&mut ls, &c, TcpState::Established, "after the old ACK");
    assert_eq!(ls.model.tcb(c.id).rcv_nxt, rcv_before + payload.len() as u32, "rcv_nxt took the data");
    assert_eq!(ls.model.tcb(c.id).snd_una, snd_una, "the old ACK moved nothing of the sending side");
    assert_eq!(ls.model.stat(Stat::DropOutOfWindow), drops_before, "the segment was not dropped");
    ls.check_ring(c.id, 0, b"first".len() + payload.len()).or_panic("ring");
}

#[test]
fn a_retransmitted_fin_in_time_wait_is_acked_and_restarts_the_timeout() {
    let mut ls = start();
    let mut c = PeerConn::open(&mut ls, peer(2), 42002, LISTEN, 9_000).or_panic("open");
    ls.close(c.id).or_panic("CONN_CLOSE");
    c.rcv_nxt = ls.model.tcb(c.id).snd_nxt;
    assert!(ls.frame(&c.segment(c.snd_nxt, TcpFlags::ACK, &[])).or_panic("ACK of our FIN").is_empty());
    check(&mut ls, &c, TcpState::FinWait2, "FIN-WAIT-2");
    let ack = ls.frame(&c.segment(c.snd_nxt, TcpFlags::ACK | TcpFlags::FIN, &[])).or_panic("peer's FIN");
    assert_eq!(only_ack(&ack, "ACK of the peer's FIN").0, TcpFlags::ACK);
    c.snd_nxt += 1;
    check(&mut ls, &c, TcpState::TimeWait, "TIME-WAIT");
    let first_due = ls.model.tcb(c.id).timer_due;

    // Three quarters of the way through, the peer's FIN again: ACKed, and
    // TIME-WAIT starts over.
    ls.advance(TIME_WAIT_US * 3 / 4).or_panic("three quarters of TIME-WAIT");
    let again = ls.frame(&c.segment(c.snd_nxt - 1, TcpFlags::ACK | TcpFlags::FIN, &[])).or_panic("FIN again");
    assert_eq!(only_ack(&again, "ACK of the FIN again"), (TcpFlags::ACK, c.snd_nxt.0));
    check(&mut ls, &c, TcpState::TimeWait, "TIME-WAIT after the FIN again");
    let restarted_due = ls.model.tcb(c.id).timer_due;
    assert!(
        restarted_due.wrapping_sub(first_due) >= TIME_WAIT_US / 2,
        "the FIN again restarted the 2 MSL timeout (due {first_due} before, {restarted_due} after)"
    );

    // Past the first timeout the slot is still held.
    ls.advance(TIME_WAIT_US / 2).or_panic("past the first timeout");
    check(&mut ls, &c, TcpState::TimeWait, "past the first TIME-WAIT timeout");

    // A whole TIME_WAIT_US after the FIN again it is free, silently.
    let sent = ls.advance(TIME_WAIT_US / 2 + 2048).or_panic("end of the restarted TIME-WAIT");
    assert!(sent.is_empty(), "TIME-WAIT ends without a frame: {sent:?}");
    check(&mut ls, &c, TcpState::Closed, "after the restarted TIME-WAIT");
}
