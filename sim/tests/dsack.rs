//! D-SACK (RFC 2883) on the receive side of the Verilated core, scored frame
//! by frame against the reference model: the ACK that answers a segment
//! carrying bytes the card holds already leads with a block for the first
//! duplicate run — bytes below rcv_nxt, clipped where they are; bytes inside
//! a held range, followed by that range — then the usual blocks, four at
//! most; under holdback (the ACK at R below rcv_nxt) only a run below the
//! ACK, or one starting at it together with `[ack, rcv_nxt)`; nothing for a
//! connection without SACK (docs/engine.md, "D-SACK").
//!
//! Every test checks the blocks the core sent itself, not only that the core
//! and the model agree.
//!
//! Needs verilator (the sim crate's build verilates the core): install with
//! `apt-get install verilator`.
#[path = "common/or_panic.rs"]
mod or_panic;
use or_panic::OrPanic;
#[path = "common/sack_core.rs"]
mod sack_core;
use sack_core::{peer, segments, start, stream, LISTEN};

use holdback_sim::core_sim::CoreSim;
use holdback_sim::refmodel::lockstep::{Lockstep, PeerConn};
use holdback_sim::wire::{fuzz::SplitMix64, SeqNum, TcpFlags};

/// The one ACK the core answered with: its ACK and SACK blocks as stream offsets from `base`.
fn answer(frames: &[Vec<u8>], base: SeqNum, what: &str) -> (i64, Vec<(i64, i64)>) {
    let segs = segments(frames);
    assert_eq!(segs.len(), 1, "{what}: one ACK expected, got {segs:?}");
    let blocks = segs[0].sack_blocks().iter().map(|&(l, r)| (l.diff(base) as i64, r.diff(base) as i64)).collect();
    (segs[0].ack.diff(base) as i64, blocks)
}

fn open(ls: &mut Lockstep<CoreSim>, n: u16, isn: u32, sack_permitted: bool) -> (PeerConn, SeqNum) {
    let c = PeerConn::open_with(ls, peer(n), 40000 + n, LISTEN, isn, Some(7), sack_permitted).or_panic("open");
    let base = c.snd_nxt;
    (c, base)
}

/// The peer's segment carrying stream bytes `from..to`.
fn piece(c: &PeerConn, base: SeqNum, data: &[u8], from: usize, to: usize) -> Vec<u8> {
    c.segment(base + from as u32, TcpFlags::ACK, &data[from..to])
}

/// Stream bytes `from..to` in order, in segments of at most 1000 bytes.
fn feed(ls: &mut Lockstep<CoreSim>, c: &PeerConn, base: SeqNum, data: &[u8], from: usize, to: usize) {
    for at in (from..to).step_by(1000) {
        ls.frame(&piece(c, base, data, at, (at + 1000).min(to))).or_panic("in order");
    }
}

fn check(ls: &mut Lockstep<CoreSim>, c: &PeerConn, what: &str) {
    ls.check_stats().or_panic(what);
    ls.check_tcb(c.id, &[]).or_panic(what);
}

/// Holdback off (the ACK at rcv_nxt): a segment wholly below rcv_nxt, one
/// that overlaps it, and an in-order one that runs into the first held
/// range each get a D-SACK block for their duplicate run, then the held ranges.
#[test]
fn a_duplicate_below_rcv_nxt_leads_with_a_dsack_block() {
    let mut ls = start(false, true);
    let (c, base) = open(&mut ls, 1, 0xffff_f800, true);
    let data = stream(9000);
    feed(&mut ls, &c, base, &data, 0, 3000);
    let out = ls.frame(&piece(&c, base, &data, 5000, 6000)).or_panic("held");
    assert_eq!(answer(&out, base, "held"), (3000, vec![(5000, 6000)]));
    let out = ls.frame(&piece(&c, base, &data, 1000, 2000)).or_panic("old duplicate");
    assert_eq!(answer(&out, base, "old duplicate"), (3000, vec![(1000, 2000), (5000, 6000)]));
    // Partial overlap: the run stops at rcv_nxt, the new bytes are taken.
    let out = ls.frame(&piece(&c, base, &data, 2500, 3500)).or_panic("partial overlap");
    assert_eq!(answer(&out, base, "partial overlap"), (3500, vec![(2500, 3000), (5000, 6000)]));
    // In order into the held range: rcv_nxt jumps past it, the overlap is a duplicate.
    let out = ls.frame(&piece(&c, base, &data, 3500, 5400)).or_panic("into the held range");
    assert_eq!(answer(&out, base, "into the held range"), (6000, vec![(5000, 5400)]));
    // Only the ACK the duplicate triggers: the next one is plain.
    let out = ls.frame(&piece(&c, base, &data, 6000, 7000)).or_panic("in order after");
    assert_eq!(answer(&out, base, "in order after"), (7000, vec![]));
    ls.check_ring(c.id, 0, 7000).or_panic("the stream");
    check(&mut ls, &c, "below rcv_nxt");
}

/// A duplicate inside a held range: the run, then the range holding it,
/// then the other ranges in sequence order; four blocks at most.
#[test]
fn a_duplicate_inside_a_held_range_leads_with_its_run_and_its_range() {
    let mut ls = start(false, true);
    let (c, base) = open(&mut ls, 2, 0x7fff_ff00, true);
    let data = stream(12_000);
    ls.frame(&piece(&c, base, &data, 0, 1000)).or_panic("in order");
    for (from, to) in [(3000, 4000), (6000, 7000), (8000, 9000)] {
        ls.frame(&piece(&c, base, &data, from, to)).or_panic("held");
    }
    let out = ls.frame(&piece(&c, base, &data, 3200, 3500)).or_panic("inside the first range");
    assert_eq!(answer(&out, base, "inside"), (1000, vec![(3200, 3500), (3000, 4000), (6000, 7000), (8000, 9000)]));
    // New bytes before a range and a duplicate run in it: held and merged, the merged range second.
    let out = ls.frame(&piece(&c, base, &data, 5500, 6200)).or_panic("head new, tail held");
    assert_eq!(answer(&out, base, "tail held"), (1000, vec![(6000, 6200), (5500, 7000), (3000, 4000), (8000, 9000)]));
    // Four ranges: the D-SACK block pushes the last of them out of this ACK.
    ls.frame(&piece(&c, base, &data, 10_000, 11_000)).or_panic("a fourth range");
    let out = ls.frame(&piece(&c, base, &data, 8500, 9000)).or_panic("inside the third");
    assert_eq!(answer(&out, base, "four ranges"), (1000, vec![(8500, 9000), (8000, 9000), (3000, 4000), (5500, 7000)]));
    // Wholly held across a range's start: the run is the part inside it.
    let out = ls.frame(&piece(&c, base, &data, 2800, 3300)).or_panic("into the first range");
    assert_eq!(answer(&out, base, "head new"), (1000, vec![(3000, 3300), (2800, 4000), (5500, 7000), (8000, 9000)]));
    for (from, to) in [(1000, 2800), (4000, 5500), (7000, 8000), (9000, 10_000), (11_000, 12_000)] {
        feed(&mut ls, &c, base, &data, from, to);
    }
    ls.check_ring(c.id, 0, 12_000).or_panic("the stream");
    check(&mut ls, &c, "held ranges");
}

/// Holdback: the ACK at R below rcv_nxt. A run below the ACK is reported
/// (clipped at it) alone; a run starting at the ACK with `[ack, rcv_nxt)`
/// holding it, and such an ACK goes out although neither the ACK nor the
/// window moved; a run above the ACK, or in a held range, gets no block.
#[test]
fn a_duplicate_while_the_ack_is_held_below_rcv_nxt() {
    let mut ls = start(true, true);
    let (c, base) = open(&mut ls, 3, 0xffff_ff00, true);
    let data = stream(8000);
    ls.frame(&piece(&c, base, &data, 0, 1000)).or_panic("in order");
    ls.release(c.id, (base + 1000).0).or_panic("release");
    ls.frame(&piece(&c, base, &data, 1000, 2000)).or_panic("in order, not released");
    assert_eq!(ls.model.tcb(c.id).rcv_nxt, base + 2000);
    let out = ls.frame(&piece(&c, base, &data, 500, 900)).or_panic("below R");
    assert_eq!(answer(&out, base, "below R"), (1000, vec![(500, 900)]));
    let out = ls.frame(&piece(&c, base, &data, 500, 1500)).or_panic("across R");
    assert_eq!(answer(&out, base, "across R"), (1000, vec![(500, 1000)]));
    let out = ls.frame(&piece(&c, base, &data, 1000, 1500)).or_panic("at R");
    assert_eq!(answer(&out, base, "at R"), (1000, vec![(1000, 1500), (1000, 2000)]));
    let out = ls.frame(&piece(&c, base, &data, 1200, 1500)).or_panic("above R");
    assert_eq!(answer(&out, base, "above R"), (1000, vec![]));
    // In order from R: the run [R, rcv_nxt) and new bytes; the ACK stays at
    // R and the window with it, yet the duplicate is answered.
    let out = ls.frame(&piece(&c, base, &data, 1000, 2500)).or_panic("from R, partly new");
    assert_eq!(ls.model.tcb(c.id).rcv_nxt, base + 2500);
    assert_eq!(answer(&out, base, "from R, partly new"), (1000, vec![(1000, 2000), (1000, 2500)]));
    // Partly new above R: nothing to report, nothing moved, no ACK.
    let out = ls.frame(&piece(&c, base, &data, 2200, 2800)).or_panic("above R, partly new");
    assert!(segments(&out).is_empty(), "{:?}", segments(&out));
    // A held range while the ACK lags: its duplicate gets no block.
    ls.frame(&piece(&c, base, &data, 4000, 5000)).or_panic("held, ACK lagging");
    let out = ls.frame(&piece(&c, base, &data, 4200, 4300)).or_panic("inside, ACK lagging");
    assert_eq!(answer(&out, base, "inside, ACK lagging"), (1000, vec![]));
    // Released to rcv_nxt: a duplicate below is reported with the held range.
    ls.release(c.id, (base + 2800).0).or_panic("release to rcv_nxt");
    let out = ls.frame(&piece(&c, base, &data, 2000, 2800)).or_panic("below, released");
    assert_eq!(answer(&out, base, "below, released"), (2800, vec![(2000, 2800), (4000, 5000)]));
    for (from, to) in [(2800, 4000), (5000, 8000)] {
        feed(&mut ls, &c, base, &data, from, to);
    }
    ls.check_ring(c.id, 0, 8000).or_panic("the stream");
    check(&mut ls, &c, "holdback");
}

/// The same duplicates to a connection that negotiated SACK and to one that
/// did not, and with SACK off: only the first gets D-SACK blocks.
#[test]
fn no_dsack_without_sack() {
    let mut ls = start(false, true);
    let (with, wbase) = open(&mut ls, 4, 1000, true);
    let (without, nbase) = open(&mut ls, 5, 2000, false);
    let data = stream(4000);
    for (c, base) in [(&with, wbase), (&without, nbase)] {
        feed(&mut ls, c, base, &data, 0, 2000);
        ls.frame(&piece(c, base, &data, 3000, 4000)).or_panic("held");
    }
    let out = ls.frame(&piece(&with, wbase, &data, 500, 1000)).or_panic("old, negotiated");
    assert_eq!(answer(&out, wbase, "old, negotiated"), (2000, vec![(500, 1000), (3000, 4000)]));
    let out = ls.frame(&piece(&with, wbase, &data, 3500, 4000)).or_panic("held, negotiated");
    assert_eq!(answer(&out, wbase, "held, negotiated"), (2000, vec![(3500, 4000), (3000, 4000)]));
    let out = ls.frame(&piece(&without, nbase, &data, 500, 1000)).or_panic("old, not negotiated");
    assert_eq!(answer(&out, nbase, "old, not negotiated"), (2000, vec![]));
    let out = ls.frame(&piece(&without, nbase, &data, 3500, 4000)).or_panic("held, not negotiated");
    assert_eq!(answer(&out, nbase, "held, not negotiated"), (2000, vec![]));
    check(&mut ls, &with, "negotiated");
    check(&mut ls, &without, "not negotiated");

    let mut off = start(false, false);
    let (c, base) = open(&mut off, 6, 3000, true);
    feed(&mut off, &c, base, &data, 0, 2000);
    let out = off.frame(&piece(&c, base, &data, 500, 1000)).or_panic("old, SACK off");
    assert_eq!(answer(&out, base, "old, SACK off"), (2000, vec![]));
    check(&mut off, &c, "SACK off");
}

/// A seeded stream of in-order, out-of-order and overlapping segments with
/// holdback on or off and releases short of rcv_nxt or up to it: every ACK
/// the core sends (D-SACK blocks included) is scored against the model, and
/// the core must have sent D-SACK blocks of every kind that exists here.
#[test]
fn a_reordered_duplicated_stream_matches_the_model_block_for_block() {
    let seed = holdback_sim::test_seed(0x0d5a_c4ed);
    let mut r = SplitMix64(seed);
    let holdback = r.chance(50);
    let mut ls = start(holdback, true);
    let (c, base) = open(&mut ls, 7, r.next_u64() as u32, true);
    let data = stream(48_000);
    let (mut below_ack, mut above_ack) = (0, 0);
    let mut steps = 0;
    while ls.model.tcb(c.id).rcv_nxt != base + data.len() as u32 {
        steps += 1;
        assert!(steps < 4000, "seed {seed}: the stream did not complete");
        let rcv = ls.model.tcb(c.id).rcv_nxt.diff(base) as usize;
        let len = 100 + r.below(1300);
        let from = match r.below(10) {
            0..=3 => rcv,
            4..=6 => rcv + 100 * r.below(50),
            _ => rcv.saturating_sub(r.below(3000)),
        }
        .min(data.len() - 1);
        let to = (from + len).min(data.len());
        let out = ls.frame(&piece(&c, base, &data, from, to)).or_panic(&format!("seed {seed} step {steps}: [{from}, {to})"));
        for s in segments(&out) {
            if let Some(&(l, _)) = s.sack_blocks().first() {
                if l.before(s.ack) {
                    below_ack += 1;
                } else if s.sack_blocks().get(1).is_some_and(|&(l1, r1)| l1.not_after(l) && s.sack_blocks()[0].1.not_after(r1)) {
                    above_ack += 1;
                }
            }
        }
        if holdback && r.chance(30) {
            // Up to rcv_nxt, or part of the way (the ACK then lags it).
            let (rel, nxt) = (ls.model.tcb(c.id).rel, ls.model.tcb(c.id).rcv_nxt);
            let to = if r.chance(50) { nxt } else { rel + (nxt.diff(rel).max(0) as u32) / 2 };
            ls.release(c.id, to.0).or_panic("release");
        }
        if steps % 200 == 0 {
            check(&mut ls, &c, &format!("seed {seed} step {steps}"));
        }
    }
    ls.check_ring(c.id, 0, data.len()).or_panic("the stream");
    check(&mut ls, &c, &format!("seed {seed}: done"));
    println!("seed {seed}: holdback {holdback}, {steps} segments, D-SACK blocks below the ACK {below_ack}, inside the next block {above_ack}");
    assert!(below_ack > 5 && above_ack > 0, "seed {seed}: too few D-SACK blocks to mean anything ({below_ack}, {above_ack})");
}
