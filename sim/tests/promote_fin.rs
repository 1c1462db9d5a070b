//! Our FIN across a promotion (docs/failover.md, invariant 9, "Our FIN"),
//! on the Verilated core scored against the reference model. A primary's
//! card sends its FIN and dies before its host ships the copy that shows
//! it; the standby's card holds the copy from before the FIN. The promoted
//! card sends the FIN again at the same place, and the peer's ACK of it
//! ends the close as it would have on the dead card:
//!
//! - CLOSE-WAIT whose R covers the peer's FIN (the release that let the
//!   dead card's FIN go): the promotion walk sends it.
//! - FIN-WAIT-1 with the FIN held by the send limit (send holdback): the
//!   promoted host's first send-limit write sends it. Until then an ACK
//!   of the dead card's FIN is one of something never sent (RFC 9293
//!   §3.10.7.4): answered with an ACK and dropped, and the peer sends its
//!   segment again.
//!
//! Needs verilator (the sim crate's build verilates the core).
#[path = "common/or_panic.rs"]
mod or_panic;
use or_panic::OrPanic;
use std::net::Ipv4Addr;

use holdback_regmap::{self as regmap, CoreParams, SeqNum, Tcb, TcpState, TCB_WORDS};
use holdback_sim::core_sim::CoreSim;
use holdback_sim::refmodel::lockstep::{test_mac, Lockstep, PeerConn};
use holdback_sim::refmodel::Config;
use holdback_sim::wire::{Endpoint, Frame, MacAddr, TcpFlags, TcpRepr};

const SERVICE_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const PRIMARY_MAC: MacAddr = MacAddr([0x02, 0x00, 0x5e, 0x00, 0x00, 0x02]);
const STANDBY_MAC: MacAddr = MacAddr([0x02, 0x00, 0x5e, 0x00, 0x00, 0x03]);
const LISTEN: u16 = 5001;
const RTO_US: u32 = 3000;

fn start(mac: MacAddr, send_holdback: bool) -> Lockstep<CoreSim> {
    let core = CoreSim::new().unwrap_or_else(|e| panic!("cannot start the Verilated core ({e}); apt-get install verilator"));
    let mut cfg = Config::new(&CoreParams::DEFAULT, mac, SERVICE_IP, &[LISTEN], 1460, RTO_US);
    cfg.holdback = true;
    if send_holdback {
        cfg.send_holdback = regmap::send_holdback_value(true, [None; 4]);
    }
    Lockstep::new(core, cfg).unwrap_or_else(|e| panic!("configure: {e}"))
}

fn check(ls: &mut Lockstep<CoreSim>, id: usize, what: &str) {
    ls.check_stats().or_panic(what);
    ls.check_change_log().or_panic(what);
    ls.check_tcb(id, &[]).or_panic(what);
}

fn tcb(ls: &mut Lockstep<CoreSim>, id: usize) -> Tcb {
    Tcb::decode(&ls.read_tcb(id).or_panic("read TCB")).expect("TCB words decode")
}

fn segments(frames: &[Vec<u8>]) -> Vec<TcpRepr> {
    frames.iter().filter_map(|f| Frame::parse(f).ok().and_then(|f| f.tcp().map(|(_, t, _)| t.clone()))).collect()
}

/// The one FIN among `frames`, where it starts.
fn fin_at(frames: &[Vec<u8>], what: &str) -> SeqNum {
    let fins: Vec<SeqNum> = segments(frames).iter().filter(|t| t.flags.fin()).map(|t| t.seq).collect();
    assert_eq!(fins.len(), 1, "{what}: one FIN, got {fins:?}");
    fins[0]
}

/// A connection from peer 1 that sent `bytes` bytes.
fn connected(card: &mut Lockstep<CoreSim>, bytes: usize) -> PeerConn {
    card.set_epoch(6).or_panic("epoch");
    let peer = Endpoint { mac: test_mac(1), ip: Ipv4Addr::new(198, 18, 2, 1) };
    let mut c = PeerConn::open(card, peer, 40001, LISTEN, 0xFFFF_FF00).or_panic("open");
    c.send(card, &vec![7; bytes]).or_panic("data");
    c
}

/// A standby's card holding `copy` in slot `id`, promoted (no duplicate
/// ACKs); returns it and what PROMOTE sent.
fn promoted(id: usize, copy: &[u32; TCB_WORDS], send_holdback: bool) -> (Lockstep<CoreSim>, Vec<Vec<u8>>) {
    let mut s = start(STANDBY_MAC, send_holdback);
    s.set_ctrl(true, true, true).or_panic("standby");
    s.set_epoch(6).or_panic("epoch");
    s.set_failover(false, false).or_panic("failover settings");
    assert!(s.advance(5_000).or_panic("standby time").is_empty());
    s.write_tcb(id, copy).or_panic("install the copy");
    let out = s.promote(7).or_panic("promote");
    check(&mut s, id, "after promotion");
    (s, out)
}

#[test]
fn a_close_wait_copy_whose_r_covers_the_peers_fin_sends_our_fin_again_at_promotion() {
    let mut p = start(PRIMARY_MAC, false);
    let mut c = connected(&mut p, 300);
    p.frame(&c.segment(c.snd_nxt, TcpFlags::FIN | TcpFlags::ACK, &[])).or_panic("peer FIN");
    c.snd_nxt += 1;
    // The copy the primary's host ships before the release past the
    // peer's FIN: CLOSE-WAIT, carrying that R (docs/failover.md, invariant 2).
    let mut copy = tcb(&mut p, c.id);
    assert_eq!(copy.state, TcpState::CloseWait);
    copy.rel = copy.rcv_nxt;
    let dead_card_fin = fin_at(&p.release(c.id, copy.rel.0).or_panic("release past the peer's FIN"), "the primary's release");
    check(&mut p, c.id, "primary");

    let (mut s, out) = promoted(c.id, &copy.encode().expect("encodes"), false);
    assert_eq!(fin_at(&out, "PROMOTE"), dead_card_fin, "the promoted card's FIN is the dead card's");
    assert_eq!(tcb(&mut s, c.id).state, TcpState::LastAck);
    c.core.mac = STANDBY_MAC;
    c.rcv_nxt = dead_card_fin + 1;
    assert!(s.frame(&c.segment(c.snd_nxt, TcpFlags::ACK, &[])).or_panic("the peer's ACK of our FIN").is_empty());
    assert_eq!(tcb(&mut s, c.id).state, TcpState::Closed, "LAST-ACK ends with the ACK of our FIN");
    check(&mut s, c.id, "closed");
}

#[test]
fn a_fin_wait_1_copy_from_before_our_fin_sends_it_on_the_first_send_limit_write() {
    let mut p = start(PRIMARY_MAC, true);
    let mut c = connected(&mut p, 300);
    // The host closes; the FIN waits for the send limit (tail 0: L = 1
    // lets it go). The copy shipped now shows FIN-WAIT-1 without it.
    assert!(segments(&p.close(c.id).or_panic("close")).iter().all(|t| !t.flags.fin()), "L = 0 holds the FIN");
    let copy = tcb(&mut p, c.id);
    assert_eq!((copy.state, copy.snd_max), (TcpState::FinWait1, copy.iss + 1));
    let dead_card_fin = fin_at(&p.set_send_limit(c.id, 1).or_panic("L past the tail"), "the primary's L");
    check(&mut p, c.id, "primary");

    let (mut s, out) = promoted(c.id, &copy.encode().expect("encodes"), true);
    assert!(segments(&out).is_empty(), "PROMOTE sends the ARP only");
    c.core.mac = STANDBY_MAC;
    c.rcv_nxt = dead_card_fin + 1;
    // The peer's ACK of the dead card's FIN, before the promoted host
    // wrote L: beyond snd_max, answered with an ACK at snd_max and dropped.
    let out = segments(&s.frame(&c.segment(c.snd_nxt, TcpFlags::ACK, &[])).or_panic("early ACK of our FIN"));
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].flags, out[0].seq), (TcpFlags::ACK, dead_card_fin));
    assert_eq!(tcb(&mut s, c.id).state, TcpState::FinWait1, "not taken");
    assert!(segments(&s.advance(3 * RTO_US).or_panic("timers")).is_empty(), "nothing sent, nothing to resend");
    check(&mut s, c.id, "waiting for L");

    assert_eq!(fin_at(&s.set_send_limit(c.id, 1).or_panic("the promoted host's L"), "the promoted L"), dead_card_fin);
    assert!(s.frame(&c.segment(c.snd_nxt, TcpFlags::ACK, &[])).or_panic("the peer's ACK again").is_empty());
    assert_eq!(tcb(&mut s, c.id).state, TcpState::FinWait2, "the ACK of our FIN is taken now");
    check(&mut s, c.id, "FIN-WAIT-2");
}
