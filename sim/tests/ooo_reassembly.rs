//! Out-of-order reassembly on the Verilated core, scored frame by frame
//! against the reference model (RX_REASM on): a hole filled by one segment,
//! by several, overlapping and conflicting retransmissions (the first copy
//! wins, in the ring as in the model), more holes than the table keeps, ACK
//! holdback unchanged (the ACK never passes R and rcv_nxt counts only
//! in-order bytes), a promotion forgetting the held ranges, and a seeded
//! random reordered, duplicated and overlapping stream that arrives intact.
//!
//! Needs verilator (the sim crate's build verilates the core): install with
//! `apt-get install verilator`.
#[path = "common/or_panic.rs"]
mod or_panic;
use or_panic::OrPanic;
use std::net::Ipv4Addr;

use holdback_regmap::{CoreParams, Stat};
use holdback_sim::core_sim::CoreSim;
use holdback_sim::refmodel::holes::HOLE_LIMIT;
use holdback_sim::refmodel::lockstep::{test_mac, Lockstep, PeerConn};
use holdback_sim::refmodel::Config;
use holdback_sim::wire::{fuzz::SplitMix64, Endpoint, MacAddr, SeqNum, TcpFlags};

const CORE: Endpoint = Endpoint { mac: MacAddr([0x02, 0x00, 0x5e, 0x00, 0x00, 0x02]), ip: Ipv4Addr::new(198, 18, 0, 2) };
const LISTEN: u16 = 5001;
const RTO_US: u32 = 3000;

fn peer(n: u16) -> Endpoint {
    Endpoint { mac: test_mac(n), ip: Ipv4Addr::new(198, 18, 2 + (n >> 8) as u8, n as u8) }
}

fn start(holdback: bool) -> Lockstep<CoreSim> {
    let core = CoreSim::new().unwrap_or_else(|e| panic!("cannot start the Verilated core ({e}); the sim crate needs verilator: apt-get install verilator"));
    let mut cfg = Config::new(&CoreParams::DEFAULT, CORE.mac, CORE.ip, &[LISTEN], 1460, RTO_US);
    cfg.holdback = holdback;
    cfg.reassembly = true;
    Lockstep::new(core, cfg).unwrap_or_else(|e| panic!("configure: {e}"))
}

/// A stream whose every byte says where it is, tagged so that two copies of
/// one offset (a conflicting retransmission) differ.
fn stream(len: usize, tag: u8) -> Vec<u8> {
    (0..len as u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8 ^ tag).collect()
}

/// Counters, the TCB, the in-order part of the ring and every held range agree.
fn check_all(ls: &mut Lockstep<CoreSim>, c: &PeerConn, what: &str) {
    let what = &format!("{what} (last inputs: {:#?})", ls.recent_inputs(6));
    ls.check_stats().or_panic(what);
    ls.check_tcb(c.id, &[]).or_panic(what);
    let t = ls.model.tcb(c.id).clone();
    let ring = ls.model.cfg.ring_bytes as usize;
    let data_end = if t.fin_rcvd { t.rcv_nxt - 1 } else { t.rcv_nxt };
    let received = (data_end.diff(t.irs + 1).max(0) as usize).min(ring);
    ls.check_ring(c.id, 0, received).or_panic(what);
    for (start, end) in ls.model.holes(c.id).ranges().to_vec() {
        let from = start.diff(t.irs + 1) as usize % ring;
        ls.check_ring(c.id, from, end.diff(start) as usize).or_panic(what);
    }
}

/// The peer's segment of `data[from..to]` (stream offsets) without moving its snd_nxt.
fn piece(c: &PeerConn, base: SeqNum, data: &[u8], from: usize, to: usize) -> Vec<u8> {
    c.segment(base + from as u32, TcpFlags::ACK, &data[from..to])
}

fn open(ls: &mut Lockstep<CoreSim>, n: u16, isn: u32) -> (PeerConn, SeqNum) {
    let c = PeerConn::open(ls, peer(n), 40000 + n, LISTEN, isn).or_panic("open");
    let base = c.snd_nxt;
    (c, base)
}

#[test]
fn a_hole_filled_by_one_segment_moves_rcv_nxt_over_the_held_bytes() {
    let mut ls = start(false);
    // The stream crosses 2^32 inside the held range.
    let (c, base) = open(&mut ls, 1, 0xffff_f7ff);
    let data = stream(3000, 0);
    ls.frame(&piece(&c, base, &data, 0, 1000)).or_panic("in order");
    ls.frame(&piece(&c, base, &data, 2000, 3000)).or_panic("out of order: held, duplicate ACK");
    assert_eq!(ls.model.stat(Stat::RxOooHeld), 1);
    assert_eq!(ls.model.tcb(c.id).rcv_nxt, base + 1000, "rcv_nxt counts only in-order bytes");
    check_all(&mut ls, &c, "one range held");
    ls.frame(&piece(&c, base, &data, 1000, 2000)).or_panic("the gap");
    assert_eq!(ls.model.tcb(c.id).rcv_nxt, base + 3000);
    assert_eq!(ls.model.stat(Stat::RxOooHolesFilled), 1);
    assert_eq!(&ls.model.ring(c.id)[..3000], &data[..], "the model's ring holds the stream");
    check_all(&mut ls, &c, "hole filled");
}

#[test]
fn a_hole_filled_by_several_segments_and_two_holes_at_once() {
    let mut ls = start(false);
    let (c, base) = open(&mut ls, 2, 7);
    let data = stream(8000, 0);
    ls.frame(&piece(&c, base, &data, 0, 500)).or_panic("in order");
    ls.frame(&piece(&c, base, &data, 3000, 4000)).or_panic("held 3000..4000");
    ls.frame(&piece(&c, base, &data, 6000, 7000)).or_panic("held 6000..7000");
    ls.frame(&piece(&c, base, &data, 4000, 5000)).or_panic("appended to 3000..4000");
    check_all(&mut ls, &c, "two ranges");
    for (from, to) in [(500, 1000), (1000, 2000), (2000, 3000)] {
        ls.frame(&piece(&c, base, &data, from, to)).or_panic("filling the first hole");
    }
    assert_eq!(ls.model.tcb(c.id).rcv_nxt, base + 5000);
    check_all(&mut ls, &c, "first hole filled");
    ls.frame(&piece(&c, base, &data, 5000, 5500)).or_panic("half of the second hole");
    ls.frame(&piece(&c, base, &data, 5500, 6000)).or_panic("the rest");
    ls.frame(&piece(&c, base, &data, 7000, 8000)).or_panic("in order again");
    assert_eq!(ls.model.tcb(c.id).rcv_nxt, base + 8000);
    assert_eq!(ls.model.stat(Stat::RxOooHolesFilled), 2);
    assert_eq!(&ls.model.ring(c.id)[..8000], &data[..]);
    check_all(&mut ls, &c, "both filled");
}

#[test]
fn overlapping_and_conflicting_retransmissions_never_change_held_bytes() {
    let mut ls = start(false);
    let (c, base) = open(&mut ls, 3, 0x8000_0000);
    let first = stream(6000, 0);
    let second = stream(6000, 0x5a);
    ls.frame(&piece(&c, base, &first, 0, 1000)).or_panic("in order");
    ls.frame(&piece(&c, base, &first, 2000, 3000)).or_panic("held 2000..3000");
    // A conflicting copy overlapping the held range's tail: only 3000..3500 is new.
    ls.frame(&piece(&c, base, &second, 2500, 3500)).or_panic("conflicting overlap");
    // A conflicting copy inside it: nothing new.
    ls.frame(&piece(&c, base, &second, 2200, 2800)).or_panic("conflicting duplicate");
    check_all(&mut ls, &c, "after the conflicts");
    // In order, conflicting, running into the held range: it stops there and
    // rcv_nxt jumps over the first copy.
    ls.frame(&piece(&c, base, &second, 1000, 2600)).or_panic("in order into the held range");
    assert_eq!(ls.model.tcb(c.id).rcv_nxt, base + 3500);
    let ring = ls.model.ring(c.id).to_vec();
    assert_eq!(&ring[..1000], &first[..1000]);
    assert_eq!(&ring[1000..2000], &second[1000..2000]);
    assert_eq!(&ring[2000..3000], &first[2000..3000], "the first copy wins");
    assert_eq!(&ring[3000..3500], &second[3000..3500]);
    check_all(&mut ls, &c, "after the jump");
}

#[test]
fn more_holes_than_the_table_keeps_are_dropped_and_counted() {
    let mut ls = start(false);
    let (c, base) = open(&mut ls, 4, 1000);
    let data = stream(12_000, 0);
    for k in 0..=HOLE_LIMIT {
        let from = 1000 + 2000 * k;
        ls.frame(&piece(&c, base, &data, from, from + 1000)).or_panic("a range");
    }
    assert_eq!(ls.model.stat(Stat::RxOooHeld), HOLE_LIMIT as u32);
    assert_eq!(ls.model.stat(Stat::DropOooOverLimit), 1);
    check_all(&mut ls, &c, "table full");
    // A segment touching a held range still merges while the table is full.
    ls.frame(&piece(&c, base, &data, 2000, 2500)).or_panic("a merge");
    assert_eq!(ls.model.stat(Stat::RxOooHeld), HOLE_LIMIT as u32 + 1);
    // The peer resends from rcv_nxt; every hole fills and the dropped range comes again.
    for (from, to) in [(0, 1000), (2500, 3000), (4000, 5000), (6000, 7000), (8000, 9000), (9000, 10_000), (10_000, 11_000), (11_000, 12_000)] {
        ls.frame(&piece(&c, base, &data, from, to)).or_panic("resent");
    }
    assert_eq!(ls.model.tcb(c.id).rcv_nxt, base + 12_000);
    assert_eq!(&ls.model.ring(c.id)[..12_000], &data[..]);
    check_all(&mut ls, &c, "all filled");
}

#[test]
fn holdback_acks_never_pass_r_and_a_promotion_forgets_held_ranges() {
    let mut ls = start(true);
    let (c, base) = open(&mut ls, 5, 42);
    let data = stream(4000, 0);
    ls.frame(&piece(&c, base, &data, 0, 1000)).or_panic("in order");
    ls.frame(&piece(&c, base, &data, 2000, 3000)).or_panic("held");
    ls.release(c.id, (base + 1000).0).or_panic("release the in-order bytes");
    ls.frame(&piece(&c, base, &data, 1000, 2000)).or_panic("the gap");
    let t = ls.model.tcb(c.id).clone();
    assert_eq!(t.rcv_nxt, base + 3000);
    assert_eq!(t.ack_sent, base + 1000, "the ACK stays at R");
    check_all(&mut ls, &c, "holdback");
    ls.release(c.id, (base + 3000).0).or_panic("release the rest");
    ls.frame(&piece(&c, base, &data, 3500, 4000)).or_panic("held before the failover");
    assert!(!ls.model.holes(c.id).is_empty());
    // The card goes standby and is promoted: it resumes from R without the range.
    ls.set_ctrl(true, true, true).or_panic("standby");
    ls.promote(2).or_panic("promote");
    assert!(ls.model.holes(c.id).is_empty());
    ls.frame(&piece(&c, base, &data, 3000, 3500)).or_panic("in order after the promotion");
    assert_eq!(ls.model.tcb(c.id).rcv_nxt, base + 3500, "nothing held survived the promotion");
    check_all(&mut ls, &c, "after the promotion");
}

#[test]
fn a_reordered_duplicated_overlapping_stream_arrives_intact() {
    let seed = holdback_sim::test_seed(0x000_5eed_17);
    let mut r = SplitMix64(seed);
    let mut ls = start(r.chance(50));
    let (c, base) = open(&mut ls, 6, r.next_u64() as u32);
    let data = stream(48_000, 0);
    let mut next = 0usize; // the peer's lowest offset not yet ACKed in order
    let mut steps = 0;
    while ls.model.tcb(c.id).rcv_nxt != base + data.len() as u32 {
        steps += 1;
        assert!(steps < 4000, "seed {seed}: the stream did not complete");
        let rcv = ls.model.tcb(c.id).rcv_nxt.diff(base) as usize;
        next = next.max(rcv);
        // A segment near rcv_nxt: in order, ahead by up to four segments, or
        // overlapping what arrived; sometimes a conflicting copy.
        let len = 100 + r.below(1300);
        let from = match r.below(10) {
            0..=3 => rcv,
            4..=7 => rcv + 100 * r.below(50),
            _ => rcv.saturating_sub(r.below(800)),
        }
        .min(data.len() - 1);
        let to = (from + len).min(data.len());
        let frame = piece(&c, base, &data, from, to);
        ls.frame(&frame).or_panic(&format!("seed {seed} step {steps}: [{from}, {to})"));
        if ls.model.tcb(c.id).holdback && r.chance(30) {
            let rel = ls.model.tcb(c.id).rcv_nxt;
            ls.release(c.id, rel.0).or_panic("release");
        }
        if steps % 200 == 0 {
            check_all(&mut ls, &c, &format!("seed {seed} step {steps}"));
        }
    }
    assert_eq!(&ls.model.ring(c.id)[..data.len()], &data[..], "seed {seed}: the model's ring");
    check_all(&mut ls, &c, &format!("seed {seed}: done"));
    assert!(ls.model.stat(Stat::RxOooHolesFilled) > 5, "seed {seed}: too few holes filled to mean anything");
    println!("seed {seed}: {steps} segments, {} held, {} holes filled", ls.model.stat(Stat::RxOooHeld), ls.model.stat(Stat::RxOooHolesFilled));
}
