//! Send holdback's control side on the Verilated core, scored frame by frame
//! against the reference model, with the lockstep checker's send-limit
//! invariant on every frame (docs/engine.md, "Send holdback"): the TCB's
//! send_hold bit from SEND_HOLDBACK, our FIN held until the host's send limit
//! passes it (after CONN_CLOSE in ESTABLISHED, and after the release in
//! CLOSE-WAIT), and no effect with send holdback off. TCBs, counters and the
//! change log are compared along the way.
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

use holdback_regmap::{self as map, CoreParams, TcpState};
use holdback_sim::core_sim::CoreSim;
use holdback_sim::refmodel::lockstep::{test_mac, Lockstep, PeerConn};
use holdback_sim::refmodel::Config;
use holdback_sim::wire::{Endpoint, TcpFlags};

const HELD: u16 = 5001;
const FREE: u16 = 5002;

fn peer(n: u16) -> Endpoint {
    Endpoint { mac: test_mac(n), ip: Ipv4Addr::new(198, 18, 4, n as u8) }
}

/// Send holdback on for HELD's connections (the default), off for FREE's (its own setting).
fn start(holdback: bool) -> Lockstep<CoreSim> {
    let mut cfg = Config::new(&CoreParams::DEFAULT, CORE.mac, CORE.ip, &[HELD, FREE], 1460, 3000);
    cfg.holdback = holdback;
    cfg.send_holdback = map::send_holdback_value(true, [None, Some(false), None, None]);
    lockstep(cfg)
}

#[test]
fn our_fin_waits_for_the_send_limit_after_a_close() {
    let mut ls = start(false);
    let mut c = PeerConn::open(&mut ls, peer(1), 42001, HELD, 1_000).or_panic("open");
    assert!(ls.model.tcb(c.id).send_hold, "the default puts send holdback into the TCB");
    check(&mut ls, &c, TcpState::Established, "opened with send_hold");
    c.send(&mut ls, b"the peer talks").or_panic("data");

    // L = 0 (the stream's first offset): the FIN, at offset 0, is not below it.
    assert!(ls.close(c.id).or_panic("CONN_CLOSE").is_empty(), "no FIN at L");
    check(&mut ls, &c, TcpState::FinWait1, "FIN-WAIT-1, the FIN held");
    // The FIN's timer does not run for a FIN not sent.
    assert!(ls.advance(20_000).or_panic("time passes").is_empty(), "nothing retransmits a held FIN");
    // L = 1 passes the FIN: it goes now.
    let fin = ls.set_send_limit(c.id, 1).or_panic("SEND_LIMIT = 1");
    assert_eq!(only_flags(&fin, "the FIN once L passes it"), TcpFlags::FIN | TcpFlags::ACK);
    check(&mut ls, &c, TcpState::FinWait1, "FIN-WAIT-1, the FIN sent");
    c.rcv_nxt = ls.model.tcb(c.id).snd_nxt;
    ls.frame(&c.segment(c.snd_nxt, TcpFlags::ACK, &[])).or_panic("ACK of our FIN");
    check(&mut ls, &c, TcpState::FinWait2, "FIN-WAIT-2");
}

#[test]
fn in_close_wait_the_fin_waits_for_the_release_and_the_send_limit() {
    let mut ls = start(true);
    let mut c = PeerConn::open(&mut ls, peer(2), 42002, HELD, 12).or_panic("open");
    ls.frame(&c.segment(c.snd_nxt, TcpFlags::ACK | TcpFlags::FIN, &[])).or_panic("peer's FIN");
    c.snd_nxt += 1;
    check(&mut ls, &c, TcpState::CloseWait, "CLOSE-WAIT");
    // Everything released, but L does not pass the FIN: the ACK only.
    let ack = ls.release(c.id, c.snd_nxt.0).or_panic("release");
    assert_eq!(only_flags(&ack, "the ACK of the peer's FIN, without ours"), TcpFlags::ACK);
    check(&mut ls, &c, TcpState::CloseWait, "still CLOSE-WAIT");
    // A stale limit changes nothing; one past the FIN sends it.
    assert!(ls.set_send_limit(c.id, 0).or_panic("SEND_LIMIT = 0").is_empty());
    let fin = ls.set_send_limit(c.id, 1).or_panic("SEND_LIMIT = 1");
    assert_eq!(only_flags(&fin, "our FIN"), TcpFlags::FIN | TcpFlags::ACK);
    check(&mut ls, &c, TcpState::LastAck, "LAST-ACK");
    c.rcv_nxt = ls.model.tcb(c.id).snd_nxt;
    ls.frame(&c.segment(c.snd_nxt, TcpFlags::ACK, &[])).or_panic("ACK of our FIN");
    check(&mut ls, &c, TcpState::Closed, "closed");
}

#[test]
fn a_port_with_send_holdback_off_closes_without_a_limit() {
    let mut ls = start(false);
    let c = PeerConn::open(&mut ls, peer(3), 42003, FREE, 5).or_panic("open");
    assert!(!ls.model.tcb(c.id).send_hold, "FREE's own setting: off");
    check(&mut ls, &c, TcpState::Established, "opened without send_hold");
    let fin = ls.close(c.id).or_panic("CONN_CLOSE");
    assert_eq!(only_flags(&fin, "the FIN at once"), TcpFlags::FIN | TcpFlags::ACK);
    check(&mut ls, &c, TcpState::FinWait1, "FIN-WAIT-1");
}

#[test]
fn a_keepalive_probe_of_a_held_connection_passes_the_checker() {
    const IDLE_US: u32 = 10_000;
    let mut cfg = Config::new(&CoreParams::DEFAULT, CORE.mac, CORE.ip, &[HELD], 1460, 3000);
    cfg.send_holdback = map::SEND_HOLDBACK_DEFAULT;
    cfg.keepalive_idle_us = IDLE_US;
    let mut ls = lockstep(cfg);
    let c = PeerConn::open(&mut ls, peer(4), 42004, HELD, 77).or_panic("open");
    assert!(ls.model.tcb(c.id).send_hold);
    // The probe (an ACK at snd_nxt - 1, no data) goes with L = 0: it carries
    // nothing of the stream, and the checker sees it.
    let probe = ls.advance(IDLE_US + 2048).or_panic("idle");
    assert_eq!(only_flags(&probe, "the keep-alive probe"), TcpFlags::ACK);
    check(&mut ls, &c, TcpState::Established, "probed");
}
