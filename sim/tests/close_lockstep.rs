//! Connection life on the Verilated core, scored frame by frame against the
//! reference model (RFC 9293 §3.6, §3.10.4, §3.10.5, §3.8.3): the host's
//! close through FIN-WAIT-1, FIN-WAIT-2 and TIME-WAIT, a simultaneous close
//! through CLOSING, the FIN's retransmissions ending in a RST, and the host's
//! abort. TCBs, counters and rings are compared along the way.
//!
//! Needs verilator (the sim crate's build verilates the core): install with
//! `apt-get install verilator`.
#[path = "common/or_panic.rs"]
mod or_panic;
#[path = "common/lockstep_checks.rs"]
mod lockstep_checks;
use lockstep_checks::{check, lockstep, only_flags, CORE};
use or_panic::OrPanic;
use std::net::Ipv4Addr;

use holdback_regmap::{CoreParams, Stat, TcpState};
use holdback_sim::core_sim::CoreSim;
use holdback_sim::refmodel::lockstep::{test_mac, Lockstep, PeerConn};
use holdback_sim::refmodel::Config;
use holdback_sim::wire::{Endpoint, TcpFlags};

const LISTEN: u16 = 5001;
const RTO_US: u32 = 3000;
/// TIME_WAIT_US for these tests: 20 ms of the core's clock.
const TIME_WAIT_US: u32 = 20_000;

fn peer(n: u16) -> Endpoint {
    Endpoint { mac: test_mac(n), ip: Ipv4Addr::new(198, 18, 3, n as u8) }
}

fn start(holdback: bool) -> Lockstep<CoreSim> {
    let mut cfg = Config::new(&CoreParams::DEFAULT, CORE.mac, CORE.ip, &[LISTEN], 1460, RTO_US);
    cfg.holdback = holdback;
    cfg.time_wait_us = TIME_WAIT_US;
    lockstep(cfg)
}

#[test]
fn active_close_through_fin_wait_and_time_wait() {
    let mut ls = start(false);
    let mut c = PeerConn::open(&mut ls, peer(1), 41001, LISTEN, 1_000).or_panic("open");
    c.send(&mut ls, b"before the close").or_panic("data");
    let tw_before = ls.model.stat(Stat::TimeWaitEntered);

    // CLOSE: nothing waits to be sent, so the FIN|ACK goes at once.
    let fin = ls.close(c.id).or_panic("CONN_CLOSE");
    assert_eq!(only_flags(&fin, "our FIN"), TcpFlags::FIN | TcpFlags::ACK);
    check(&mut ls, &c, TcpState::FinWait1, "FIN-WAIT-1");
    c.rcv_nxt = ls.model.tcb(c.id).snd_nxt;

    // The ACK of our FIN: FIN-WAIT-2, nothing sent.
    assert!(ls.frame(&c.segment(c.snd_nxt, TcpFlags::ACK, &[])).or_panic("ACK of FIN").is_empty());
    check(&mut ls, &c, TcpState::FinWait2, "FIN-WAIT-2");

    // FIN-WAIT-2 still receives: the bytes go to the ring and are ACKed.
    c.send(&mut ls, b"after our FIN").or_panic("data in FIN-WAIT-2");
    check(&mut ls, &c, TcpState::FinWait2, "data in FIN-WAIT-2");
    ls.check_ring(c.id, 0, b"before the closeafter our FIN".len()).or_panic("ring");

    // The peer's FIN: ACKed, TIME-WAIT.
    let ack = ls.frame(&c.segment(c.snd_nxt, TcpFlags::ACK | TcpFlags::FIN, &[])).or_panic("peer's FIN");
    assert_eq!(only_flags(&ack, "ACK of the peer's FIN"), TcpFlags::ACK);
    c.snd_nxt += 1;
    check(&mut ls, &c, TcpState::TimeWait, "TIME-WAIT");
    assert_eq!(ls.model.stat(Stat::TimeWaitEntered), tw_before + 1);

    // The peer's FIN again (our ACK lost): ACKed again, the slot still held.
    let again = ls.frame(&c.segment(c.snd_nxt - 1, TcpFlags::ACK | TcpFlags::FIN, &[])).or_panic("FIN again");
    assert_eq!(only_flags(&again, "re-ACK in TIME-WAIT"), TcpFlags::ACK);
    ls.advance(TIME_WAIT_US / 2).or_panic("half of TIME-WAIT");
    check(&mut ls, &c, TcpState::TimeWait, "half of TIME-WAIT");

    // 2 MSL later the slot is free, silently.
    let sent = ls.advance(TIME_WAIT_US).or_panic("end of TIME-WAIT");
    assert!(sent.is_empty(), "TIME-WAIT ends without a frame: {sent:?}");
    check(&mut ls, &c, TcpState::Closed, "after TIME-WAIT");

    // The slot is reusable and the old tuple is gone: a segment to it gets a RST.
    let rst = ls.frame(&c.segment(c.snd_nxt, TcpFlags::ACK, &[])).or_panic("segment after TIME-WAIT");
    assert_eq!(only_flags(&rst, "RST to no connection"), TcpFlags::RST);
    PeerConn::open(&mut ls, peer(2), 41002, LISTEN, 7).or_panic("a new connection");
}

#[test]
fn simultaneous_close_through_closing() {
    let mut ls = start(false);
    let mut c = PeerConn::open(&mut ls, peer(3), 41003, LISTEN, 50).or_panic("open");
    ls.close(c.id).or_panic("CONN_CLOSE");
    let our_fin = ls.model.tcb(c.id).snd_nxt - 1;
    // The peer's FIN crosses ours: it ACKs only what came before our FIN.
    let ack = ls.frame(&c.segment(c.snd_nxt, TcpFlags::ACK | TcpFlags::FIN, &[])).or_panic("crossing FIN");
    assert_eq!(only_flags(&ack, "ACK of the crossing FIN"), TcpFlags::ACK);
    assert_eq!(ls.model.tcb(c.id).snd_una, our_fin, "our FIN is not acknowledged yet");
    c.snd_nxt += 1;
    check(&mut ls, &c, TcpState::Closing, "CLOSING");
    // Our FIN is retransmitted while CLOSING waits for its ACK.
    let again = ls.advance(RTO_US + 2048).or_panic("FIN timer in CLOSING");
    assert_eq!(only_flags(&again, "FIN again"), TcpFlags::FIN | TcpFlags::ACK);
    c.rcv_nxt = our_fin + 1;
    ls.frame(&c.segment(c.snd_nxt, TcpFlags::ACK, &[])).or_panic("ACK of our FIN");
    check(&mut ls, &c, TcpState::TimeWait, "TIME-WAIT from CLOSING");
    ls.advance(TIME_WAIT_US + 2048).or_panic("TIME-WAIT");
    check(&mut ls, &c, TcpState::Closed, "closed");
}

#[test]
fn fin_and_ack_together_go_straight_to_time_wait() {
    let mut ls = start(true);
    let mut c = PeerConn::open(&mut ls, peer(4), 41004, LISTEN, 900).or_panic("open");
    ls.close(c.id).or_panic("CONN_CLOSE");
    c.rcv_nxt = ls.model.tcb(c.id).snd_nxt;
    // With holdback on, the ACK of the peer's FIN waits for its release.
    let none = ls.frame(&c.segment(c.snd_nxt, TcpFlags::ACK | TcpFlags::FIN, &[])).or_panic("FIN|ACK");
    assert!(none.is_empty(), "held: {none:?}");
    c.snd_nxt += 1;
    check(&mut ls, &c, TcpState::TimeWait, "TIME-WAIT, ACK held");
    let ack = ls.release(c.id, c.snd_nxt.0).or_panic("release the FIN");
    assert_eq!(only_flags(&ack, "ACK after the release"), TcpFlags::ACK);
    check(&mut ls, &c, TcpState::TimeWait, "TIME-WAIT, ACKed");
    ls.advance(TIME_WAIT_US + 2048).or_panic("TIME-WAIT");
    check(&mut ls, &c, TcpState::Closed, "closed");
}

#[test]
fn unanswered_fin_is_retransmitted_then_reset() {
    let mut ls = start(false);
    let c = PeerConn::open(&mut ls, peer(5), 41005, LISTEN, 3).or_panic("open");
    let resets = ls.model.stat(Stat::GiveUpResets);
    ls.close(c.id).or_panic("CONN_CLOSE");
    // Due after RTO, then RTO << 0..6 (plus up to one scan period each), then the give-up.
    let sent = ls.advance(130 * RTO_US + 10 * 1024).or_panic("FIN timer");
    let flags: Vec<TcpFlags> = sent.iter().map(|f| only_flags(std::slice::from_ref(f), "timer frame")).collect();
    assert_eq!(flags.len(), 8, "seven FIN retransmissions and a RST: {flags:?}");
    assert!(flags[..7].iter().all(|f| *f == TcpFlags::FIN | TcpFlags::ACK), "{flags:?}");
    assert_eq!(flags[7], TcpFlags::RST, "RFC 9293 §3.8.3 R2: the give-up resets");
    assert_eq!(ls.model.stat(Stat::GiveUpResets), resets + 1);
    check(&mut ls, &c, TcpState::Closed, "given up");
}

#[test]
fn host_abort_resets_and_frees_the_slot() {
    let mut ls = start(false);
    let c = PeerConn::open(&mut ls, peer(6), 41006, LISTEN, 77).or_panic("open");
    let rst = ls.abort(c.id).or_panic("CONN_ABORT");
    assert_eq!(only_flags(&rst, "abort"), TcpFlags::RST);
    assert_eq!(ls.model.stat(Stat::HostAborts), 1);
    check(&mut ls, &c, TcpState::Closed, "aborted");
    // Aborting a free slot and closing it do nothing.
    assert!(ls.abort(c.id).or_panic("abort again").is_empty());
    assert!(ls.close(c.id).or_panic("close a free slot").is_empty());
    check(&mut ls, &c, TcpState::Closed, "still free");
    // The peer's next segment finds no connection.
    let rst = ls.frame(&c.segment(c.snd_nxt, TcpFlags::ACK, b"late")).or_panic("late data");
    assert_eq!(only_flags(&rst, "RST to no connection"), TcpFlags::RST);
}

#[test]
fn close_in_close_wait_leaves_the_fin_to_the_release() {
    let mut ls = start(true);
    let mut c = PeerConn::open(&mut ls, peer(7), 41007, LISTEN, 12).or_panic("open");
    ls.frame(&c.segment(c.snd_nxt, TcpFlags::ACK | TcpFlags::FIN, &[])).or_panic("peer's FIN");
    c.snd_nxt += 1;
    check(&mut ls, &c, TcpState::CloseWait, "CLOSE-WAIT");
    assert!(ls.close(c.id).or_panic("CONN_CLOSE").is_empty(), "nothing released: no FIN yet");
    let fin = ls.release(c.id, c.snd_nxt.0).or_panic("release");
    assert_eq!(only_flags(&fin, "FIN after the release"), TcpFlags::FIN | TcpFlags::ACK);
    check(&mut ls, &c, TcpState::LastAck, "LAST-ACK");
    c.rcv_nxt = ls.model.tcb(c.id).snd_nxt;
    ls.frame(&c.segment(c.snd_nxt, TcpFlags::ACK, &[])).or_panic("ACK of our FIN");
    check(&mut ls, &c, TcpState::Closed, "closed");
}

#[test]
fn a_peers_rst_closes_the_new_states_and_a_stray_one_is_challenged() {
    let mut ls = start(false);
    // FIN-WAIT-1: a RST inside the window but not at rcv_nxt gets a challenge ACK (RFC 5961 §3.2).
    let mut c = PeerConn::open(&mut ls, peer(8), 41008, LISTEN, 10).or_panic("open");
    ls.close(c.id).or_panic("CONN_CLOSE");
    let challenge = ls.frame(&c.segment(c.snd_nxt + 100, TcpFlags::RST, &[])).or_panic("stray RST");
    assert_eq!(only_flags(&challenge, "challenge ACK"), TcpFlags::ACK);
    check(&mut ls, &c, TcpState::FinWait1, "still FIN-WAIT-1");
    // FIN-WAIT-2: a RST at rcv_nxt closes, silently.
    c.rcv_nxt = ls.model.tcb(c.id).snd_nxt;
    ls.frame(&c.segment(c.snd_nxt, TcpFlags::ACK, &[])).or_panic("ACK of FIN");
    check(&mut ls, &c, TcpState::FinWait2, "FIN-WAIT-2");
    assert!(ls.frame(&c.segment(c.snd_nxt, TcpFlags::RST, &[])).or_panic("RST").is_empty());
    check(&mut ls, &c, TcpState::Closed, "reset in FIN-WAIT-2");

    // TIME-WAIT: a RST at rcv_nxt closes too.
    let mut d = PeerConn::open(&mut ls, peer(9), 41009, LISTEN, 20).or_panic("open");
    ls.close(d.id).or_panic("CONN_CLOSE");
    d.rcv_nxt = ls.model.tcb(d.id).snd_nxt;
    ls.frame(&d.segment(d.snd_nxt, TcpFlags::ACK | TcpFlags::FIN, &[])).or_panic("FIN|ACK");
    d.snd_nxt += 1;
    check(&mut ls, &d, TcpState::TimeWait, "TIME-WAIT");
    assert!(ls.frame(&d.segment(d.snd_nxt, TcpFlags::RST, &[])).or_panic("RST").is_empty());
    check(&mut ls, &d, TcpState::Closed, "reset in TIME-WAIT");
}
