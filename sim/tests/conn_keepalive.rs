//! Keep-alive and the idle timeout on the Verilated core, scored frame by
//! frame against the reference model (RFC 9293 §3.8.4): a quiet connection
//! is probed (an ACK at snd_nxt - 1, no data); an answer re-arms the timer;
//! KEEPALIVE_PROBES unanswered probes reset the connection and free its
//! slot; without keep-alive the idle timeout resets and frees it. TCBs and
//! counters are compared along the way.
//!
//! Needs verilator (the sim crate's build verilates the core): install with
//! `apt-get install verilator`.
#[path = "common/or_panic.rs"]
mod or_panic;
use or_panic::OrPanic;
use std::net::Ipv4Addr;

use holdback_regmap::{CoreParams, Stat, TcpState};
use holdback_sim::core_sim::CoreSim;
use holdback_sim::refmodel::lockstep::{test_mac, Lockstep, PeerConn};
use holdback_sim::refmodel::Config;
use holdback_sim::wire::{Endpoint, Frame, MacAddr, SeqNum, TcpFlags};

const CORE: Endpoint = Endpoint { mac: MacAddr([0x02, 0x00, 0x5e, 0x00, 0x00, 0x02]), ip: Ipv4Addr::new(198, 18, 0, 2) };
const LISTEN: u16 = 5001;
const RTO_US: u32 = 3000;
const IDLE_US: u32 = 10_000;
const INTVL_US: u32 = 4_000;
const PROBES: u8 = 3;
/// The timer scan runs every 1024 µs: a timer fires up to one period late.
const SCAN_US: u32 = 1024;

fn peer(n: u16) -> Endpoint {
    Endpoint { mac: test_mac(n), ip: Ipv4Addr::new(198, 18, 4, n as u8) }
}

fn start(keepalive: bool, idle_timeout: bool) -> Lockstep<CoreSim> {
    let core = CoreSim::new().unwrap_or_else(|e| panic!("cannot start the Verilated core ({e}); the sim crate needs verilator: apt-get install verilator"));
    let mut cfg = Config::new(&CoreParams::DEFAULT, CORE.mac, CORE.ip, &[LISTEN], 1460, RTO_US);
    if keepalive {
        (cfg.keepalive_idle_us, cfg.keepalive_intvl_us, cfg.keepalive_probes) = (IDLE_US, INTVL_US, PROBES);
    }
    if idle_timeout {
        cfg.idle_timeout_us = IDLE_US;
    }
    Lockstep::new(core, cfg).unwrap_or_else(|e| panic!("configure: {e}"))
}

fn check(ls: &mut Lockstep<CoreSim>, c: &PeerConn, state: TcpState, what: &str) {
    let what = &format!("{what} (last inputs: {:#?})", ls.recent_inputs(6));
    assert_eq!(ls.model.tcb(c.id).state, state, "{what}");
    ls.check_stats().or_panic(what);
    ls.check_tcb(c.id, &[]).or_panic(what);
}

/// (flags, seq, payload length) of each frame.
fn segments(frames: &[Vec<u8>]) -> Vec<(TcpFlags, SeqNum, usize)> {
    frames
        .iter()
        .map(|f| {
            let frame = Frame::parse(f).unwrap_or_else(|e| panic!("{e}"));
            let (_, tcp, payload) = frame.tcp().expect("TCP");
            (tcp.flags, tcp.seq, payload.len())
        })
        .collect()
}

#[test]
fn keepalive_probes_an_answer_rearms_and_silence_resets() {
    let mut ls = start(true, false);
    let c = PeerConn::open(&mut ls, peer(1), 42001, LISTEN, 500).or_panic("open");
    let snd_nxt = ls.model.tcb(c.id).snd_nxt;
    assert!(ls.advance(IDLE_US - SCAN_US).or_panic("quiet").is_empty(), "no probe before KEEPALIVE_IDLE_US");
    let probe = ls.advance(2 * SCAN_US).or_panic("idle");
    assert_eq!(segments(&probe), vec![(TcpFlags::ACK, snd_nxt - 1, 0)], "one probe at snd_nxt - 1 without data");
    check(&mut ls, &c, TcpState::Established, "probed");

    // The peer answers (its ACK of our snd_nxt): the timer starts over.
    assert!(ls.frame(&c.segment(c.snd_nxt, TcpFlags::ACK, &[])).or_panic("answer").is_empty());
    assert_eq!(ls.model.tcb(c.id).retries, 0, "the answer forgets the probe");
    check(&mut ls, &c, TcpState::Established, "answered");
    assert!(ls.advance(IDLE_US - SCAN_US).or_panic("quiet again").is_empty(), "re-armed by the answer");

    // Silence: PROBES probes, KEEPALIVE_INTVL_US apart, then a RST.
    let rest = ls.advance(SCAN_US + u32::from(PROBES) * (INTVL_US + SCAN_US) + SCAN_US).or_panic("silence");
    let mut want: Vec<(TcpFlags, SeqNum, usize)> = vec![(TcpFlags::ACK, snd_nxt - 1, 0); usize::from(PROBES)];
    want.push((TcpFlags::RST, snd_nxt, 0));
    assert_eq!(segments(&rest), want, "probes, then the reset");
    check(&mut ls, &c, TcpState::Closed, "dropped");
    assert_eq!(ls.model.stat(Stat::KeepaliveProbes), u32::from(PROBES) + 1);
    assert_eq!(ls.model.stat(Stat::KeepaliveDrops), 1);
}

#[test]
fn idle_timeout_resets_a_connection_with_no_traffic() {
    let mut ls = start(false, true);
    let mut c = PeerConn::open(&mut ls, peer(2), 42002, LISTEN, 900).or_panic("open");
    ls.advance(IDLE_US / 2).or_panic("half idle");
    // Traffic re-arms the idle timer.
    c.send(&mut ls, b"still here").or_panic("data");
    assert!(ls.advance(IDLE_US - SCAN_US).or_panic("quiet").is_empty(), "re-armed by the data");
    check(&mut ls, &c, TcpState::Established, "alive");
    let rst = ls.advance(2 * SCAN_US).or_panic("idle");
    assert_eq!(segments(&rst), vec![(TcpFlags::RST, ls.model.tcb(c.id).snd_nxt, 0)], "the idle timeout resets");
    check(&mut ls, &c, TcpState::Closed, "dropped");
    assert_eq!((ls.model.stat(Stat::IdleDrops), ls.model.stat(Stat::KeepaliveProbes)), (1, 0));
}

#[test]
fn without_settings_a_quiet_connection_stays() {
    let mut ls = start(false, false);
    let c = PeerConn::open(&mut ls, peer(3), 42003, LISTEN, 1).or_panic("open");
    assert!(ls.advance(5 * IDLE_US).or_panic("quiet").is_empty(), "keep-alive and the idle timeout are off by default");
    check(&mut ls, &c, TcpState::Established, "still open");
}
