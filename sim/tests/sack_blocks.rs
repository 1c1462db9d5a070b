//! SACK (RFC 2018) on the receive side of the Verilated core, scored frame by
//! frame against the reference model (RX_REASM bits 0 and 1): SACK-permitted
//! offered only to a SYN that carried it (beside Window Scale or alone), SACK
//! blocks built from the hole table in every ACK at rcv_nxt (the latest
//! segment's range first, at most four), none while holdback keeps the ACK
//! below rcv_nxt, the blocks shrinking as holes fill, none for a
//! connection that did not negotiate SACK or with SACK off, and none in a
//! promoted card's ACKs until new out-of-order data arrives (the primary's
//! blocks may be gone: reneging, RFC 2018 §8).
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
use sack_core::{peer, segments, start, stream, CORE, LISTEN};

use holdback_regmap::Stat;
use holdback_sim::core_sim::CoreSim;
use holdback_sim::refmodel::lockstep::{Lockstep, PeerConn};
use holdback_sim::wire::{SeqNum, TcpFlags, TcpRepr};

/// The SACK blocks of the one ACK the core answered with, as stream offsets from `base`.
fn blocks_of(frames: &[Vec<u8>], base: SeqNum, what: &str) -> Vec<(i64, i64)> {
    let segs = segments(frames);
    assert_eq!(segs.len(), 1, "{what}: one ACK expected, got {segs:?}");
    segs[0].sack_blocks().iter().map(|&(l, r)| (l.diff(base) as i64, r.diff(base) as i64)).collect()
}

/// Opens a connection whose SYN carries SACK-permitted (and Window Scale
/// when `wscale`); returns it, its stream's first sequence number and the
/// SYN-ACK's options.
fn open(ls: &mut Lockstep<CoreSim>, n: u16, isn: u32, wscale: Option<u8>, sack_permitted: bool) -> (PeerConn, SeqNum) {
    let c = PeerConn::open_with(ls, peer(n), 40000 + n, LISTEN, isn, wscale, sack_permitted).or_panic("open");
    let base = c.snd_nxt;
    (c, base)
}

fn piece(c: &PeerConn, base: SeqNum, data: &[u8], from: usize, to: usize) -> Vec<u8> {
    c.segment(base + from as u32, TcpFlags::ACK, &data[from..to])
}

fn check(ls: &mut Lockstep<CoreSim>, c: &PeerConn, what: &str) {
    ls.check_stats().or_panic(what);
    ls.check_tcb(c.id, &[]).or_panic(what);
}

/// The SYN-ACK the core sends to a SYN from peer `n`, captured by sending the SYN alone.
fn syn_ack_to(ls: &mut Lockstep<CoreSim>, n: u16, wscale: Option<u8>, sack_permitted: bool) -> TcpRepr {
    let mut syn = TcpRepr::new(40000 + n, LISTEN, SeqNum(1000), SeqNum(0), TcpFlags::SYN, 64240).with_mss(1460);
    if let Some(s) = wscale {
        syn = syn.with_wscale(s);
    }
    if sack_permitted {
        syn = syn.with_sack_permitted();
    }
    let out = ls.frame(&holdback_sim::wire::tcp_frame(peer(n), CORE, &syn, &[])).or_panic("SYN");
    let segs = segments(&out);
    assert_eq!(segs.len(), 1, "one SYN-ACK");
    segs[0].clone()
}

#[test]
fn sack_permitted_is_offered_only_to_a_syn_that_carried_it() {
    let mut ls = start(false, true);
    let with_ws = syn_ack_to(&mut ls, 1, Some(7), true);
    assert!(with_ws.sack_permitted() && with_ws.wscale().is_some() && with_ws.mss() == Some(1460), "{with_ws:?}");
    let alone = syn_ack_to(&mut ls, 2, None, true);
    assert!(alone.sack_permitted() && alone.wscale().is_none(), "{alone:?}");
    let without = syn_ack_to(&mut ls, 3, Some(7), false);
    assert!(!without.sack_permitted(), "{without:?}");
    ls.check_stats().or_panic("counters");

    // SACK off (RX_REASM bit1 clear): never offered.
    let mut off = start(false, false);
    let refused = syn_ack_to(&mut off, 4, Some(7), true);
    assert!(!refused.sack_permitted(), "{refused:?}");
}

#[test]
fn acks_carry_the_held_ranges_latest_first_and_shrink_as_holes_fill() {
    let mut ls = start(false, true);
    let (c, base) = open(&mut ls, 5, 0xffff_f000, Some(7), true);
    assert!(ls.model.tcb(c.id).sack_ok);
    let data = stream(12_000);
    let out = ls.frame(&piece(&c, base, &data, 0, 1000)).or_panic("in order");
    assert_eq!(blocks_of(&out, base, "in order"), vec![], "nothing held: no blocks");
    let out = ls.frame(&piece(&c, base, &data, 3000, 4000)).or_panic("held 3000..4000");
    assert_eq!(blocks_of(&out, base, "first hole"), vec![(3000, 4000)]);
    let out = ls.frame(&piece(&c, base, &data, 7000, 8000)).or_panic("held 7000..8000");
    assert_eq!(blocks_of(&out, base, "second"), vec![(7000, 8000), (3000, 4000)]);
    let out = ls.frame(&piece(&c, base, &data, 5000, 6000)).or_panic("held 5000..6000");
    assert_eq!(blocks_of(&out, base, "third"), vec![(5000, 6000), (3000, 4000), (7000, 8000)]);
    let out = ls.frame(&piece(&c, base, &data, 4000, 4500)).or_panic("appended to the first range");
    assert_eq!(blocks_of(&out, base, "merged"), vec![(3000, 4500), (5000, 6000), (7000, 8000)]);
    let out = ls.frame(&piece(&c, base, &data, 10_000, 11_000)).or_panic("held 10000..11000");
    assert_eq!(blocks_of(&out, base, "four"), vec![(10_000, 11_000), (3000, 4500), (5000, 6000), (7000, 8000)]);
    check(&mut ls, &c, "four ranges");
    // A fifth range does not fit the table: dropped, and the ACK still lists the four.
    let out = ls.frame(&piece(&c, base, &data, 9000, 9500)).or_panic("a fifth range");
    assert_eq!(ls.model.stat(Stat::DropOooOverLimit), 1);
    assert_eq!(blocks_of(&out, base, "over the limit"), vec![(10_000, 11_000), (3000, 4500), (5000, 6000), (7000, 8000)]);
    // The first hole fills: rcv_nxt jumps to 4500, that block goes.
    ls.frame(&piece(&c, base, &data, 1000, 2000)).or_panic("half the first hole");
    let out = ls.frame(&piece(&c, base, &data, 2000, 3000)).or_panic("the rest of the first hole");
    assert_eq!(ls.model.tcb(c.id).rcv_nxt, base + 4500);
    assert_eq!(blocks_of(&out, base, "first hole filled"), vec![(10_000, 11_000), (5000, 6000), (7000, 8000)]);
    for (from, to) in [(4500, 5000), (6000, 7000), (8000, 9000), (9000, 10_000), (11_000, 12_000)] {
        ls.frame(&piece(&c, base, &data, from, to)).or_panic("filling");
    }
    assert_eq!(ls.model.tcb(c.id).rcv_nxt, base + 12_000);
    // Nothing held: an old duplicate gets its D-SACK block alone (RFC 2883; sim/tests/dsack.rs).
    let out = ls.frame(&piece(&c, base, &data, 0, 1000)).or_panic("an old duplicate");
    assert_eq!(blocks_of(&out, base, "all filled"), vec![(0, 1000)]);
    ls.check_ring(c.id, 0, 12_000).or_panic("the stream");
    check(&mut ls, &c, "all filled");
}

#[test]
fn no_blocks_without_negotiation() {
    let mut ls = start(false, true);
    let (c, base) = open(&mut ls, 6, 77, Some(7), false);
    assert!(!ls.model.tcb(c.id).sack_ok);
    let data = stream(3000);
    let out = ls.frame(&piece(&c, base, &data, 2000, 3000)).or_panic("held");
    assert_eq!(ls.model.stat(Stat::RxOooHeld), 1, "reassembly still holds it");
    assert_eq!(blocks_of(&out, base, "not negotiated"), vec![]);
    check(&mut ls, &c, "not negotiated");
}

#[test]
fn a_promoted_card_sends_no_block_until_fresh_out_of_order_data() {
    let mut ls = start(true, true);
    ls.set_failover(true, false).or_panic("duplicate ACKs after a promotion");
    let (c, base) = open(&mut ls, 7, 4242, None, true);
    let data = stream(6000);
    ls.frame(&piece(&c, base, &data, 0, 1000)).or_panic("in order");
    ls.release(c.id, (base + 1000).0).or_panic("release");
    let out = ls.frame(&piece(&c, base, &data, 2000, 3000)).or_panic("held before the failover");
    assert_eq!(blocks_of(&out, base, "before"), vec![(2000, 3000)]);
    // Holdback: in-order bytes above R, unreleased: the ACK at R lags rcv_nxt, no block.
    ls.frame(&piece(&c, base, &data, 1000, 1400)).or_panic("in order, not released");
    let out = ls.frame(&piece(&c, base, &data, 3500, 4000)).or_panic("held above the lag");
    assert_eq!(ls.model.tcb(c.id).ack_sent, base + 1000, "the ACK stays at R");
    assert_eq!(blocks_of(&out, base, "lag behind a new range"), vec![]);
    ls.set_ctrl(true, true, true).or_panic("standby");
    let out = ls.promote(2).or_panic("promote");
    let acks = segments(&out);
    assert_eq!(acks.len(), 4, "one ACK at R and three duplicates: {acks:?}");
    for a in &acks {
        assert_eq!(a.ack, base + 1000, "at R");
        assert!(a.sack_blocks().is_empty(), "a promoted card's ACK carries no block: {a:?}");
    }
    // In order after the promotion: still nothing held, nothing to SACK.
    let out = ls.frame(&piece(&c, base, &data, 1000, 1500)).or_panic("in order after");
    for s in segments(&out) {
        assert!(s.sack_blocks().is_empty(), "in order after: {s:?}");
    }
    // The peer's retransmission of what the primary held is fresh content
    // now; reported once the ACK reaches rcv_nxt.
    let out = ls.frame(&piece(&c, base, &data, 2000, 3000)).or_panic("held again");
    assert_eq!(blocks_of(&out, base, "fresh, behind unreleased bytes"), vec![]);
    let out = ls.release(c.id, (base + 1500).0).or_panic("release to rcv_nxt");
    assert_eq!(blocks_of(&out, base, "fresh, released to rcv_nxt"), vec![(2000, 3000)]);
    check(&mut ls, &c, "after the promotion");
}

/// Under holdback the ACK (at R) may lie below rcv_nxt. A block for
/// `[ack, rcv_nxt)` starts at the ACK, and a Linux sender discards a block
/// that starts at SND.UNA (`tcp_is_sackblock_valid`); blocks for the ranges
/// above rcv_nxt without it make the peer take the unreleased bytes for lost
/// (RFC 6675 §4) and send them again. So such an ACK carries none, and the
/// held ranges come back in the first ACK at rcv_nxt: the release that
/// reaches it.
#[test]
fn an_ack_held_below_rcv_nxt_carries_no_block_until_the_release_reaches_it() {
    let mut ls = start(true, true);
    let (c, base) = open(&mut ls, 8, 0xffff_fc00, Some(7), true);
    let data = stream(8000);
    ls.frame(&piece(&c, base, &data, 0, 1000)).or_panic("in order");
    ls.release(c.id, (base + 1000).0).or_panic("release");
    // At rcv_nxt: the held range is reported.
    let out = ls.frame(&piece(&c, base, &data, 3000, 4000)).or_panic("held at rcv_nxt");
    assert_eq!(blocks_of(&out, base, "ACK at rcv_nxt"), vec![(3000, 4000)]);
    // In order but not released: rcv_nxt 1500, the ACK stays at 1000.
    ls.frame(&piece(&c, base, &data, 1000, 1500)).or_panic("in order, not released");
    let out = ls.frame(&piece(&c, base, &data, 5000, 6000)).or_panic("held, ACK lagging");
    assert_eq!(segments(&out)[0].ack, base + 1000, "the ACK at R");
    assert_eq!(blocks_of(&out, base, "ACK below rcv_nxt"), vec![]);
    let out = ls.frame(&piece(&c, base, &data, 3200, 3300)).or_panic("a duplicate, ACK lagging");
    assert_eq!(blocks_of(&out, base, "duplicate, ACK below rcv_nxt"), vec![]);
    // A release short of rcv_nxt: the ACK moves, still below, still none.
    let out = ls.release(c.id, (base + 1200).0).or_panic("release short of rcv_nxt");
    let acks = segments(&out);
    assert_eq!(acks.len(), 1, "{acks:?}");
    assert_eq!((acks[0].ack, acks[0].sack_blocks().len()), (base + 1200, 0));
    // The release that reaches rcv_nxt: both ranges, the latest segment's first.
    let out = ls.release(c.id, (base + 1500).0).or_panic("release to rcv_nxt");
    assert_eq!(segments(&out)[0].ack, base + 1500);
    assert_eq!(blocks_of(&out, base, "released to rcv_nxt"), vec![(5000, 6000), (3000, 4000)]);
    // The first hole fills up to the first range; unreleased, so none again.
    let out = ls.frame(&piece(&c, base, &data, 1500, 3000)).or_panic("first hole filled");
    assert_eq!(ls.model.tcb(c.id).rcv_nxt, base + 4000);
    for s in segments(&out) {
        assert!(s.sack_blocks().is_empty(), "hole filled, ACK below rcv_nxt: {s:?}");
    }
    let out = ls.frame(&piece(&c, base, &data, 7000, 7500)).or_panic("held, ACK lagging again");
    assert_eq!(blocks_of(&out, base, "ACK below rcv_nxt again"), vec![]);
    let out = ls.release(c.id, (base + 4000).0).or_panic("release past the first range");
    assert_eq!(blocks_of(&out, base, "released to the new rcv_nxt"), vec![(7000, 7500), (5000, 6000)]);
    for (from, to) in [(4000, 5000), (6000, 8000)] {
        ls.frame(&piece(&c, base, &data, from, to)).or_panic("filling");
    }
    ls.check_ring(c.id, 0, 8000).or_panic("the stream");
    check(&mut ls, &c, "holdback lag");
}
