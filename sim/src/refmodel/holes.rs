//! Out-of-order reassembly: the ranges a connection holds beyond rcv_nxt (RFC
//! 9293 §3.10.7.4: segments beyond RCV.NXT "should be held"), as the core's
//! hole table (`hdl/src/engine/reassembly.rs`) keeps them, decision for
//! decision, so the Verilated table can be scored against this one.
//!
//! The rules (docs/engine.md, "Reassembly and SACK"):
//! - at most [`HOLE_LIMIT`] ranges, sorted by start, disjoint and never
//!   touching (a range that would touch another is merged with it), all
//!   beyond rcv_nxt; every comparison is an offset from rcv_nxt, so the
//!   order holds across the 2^32 wrap;
//! - the first copy wins: a segment is written only where nothing is held.
//!   Its head is cut at the end of a range it starts in, its tail at the
//!   start of the next range, so a segment spanning a whole held range loses
//!   the bytes past that range (the peer sends them again) — one contiguous
//!   write per segment, never over a held byte;
//! - a segment that would need a fifth range is dropped (counted);
//! - in order, bytes are taken up to the first held range; reaching its
//!   start moves rcv_nxt to its end and frees it (a hole filled);
//! - SACK blocks (RFC 2018 §4): the range holding the latest segment taken
//!   first, then the others in sequence order.
use crate::wire::SeqNum;

/// Out-of-order ranges a connection holds: the hole table's entries per connection.
pub const HOLE_LIMIT: usize = 4;

/// The bytes of an out-of-order segment at `seq` of `len` bytes the ring may
/// take: cut at the window's right edge `rcv_adv` and at what the ring holds
/// (`rel + ring_window`), as offsets from rcv_nxt; `None` if nothing is left.
pub fn ooo_span(rcv_nxt: SeqNum, rcv_adv: SeqNum, rel: SeqNum, ring_window: u32, seq: SeqNum, len: u32) -> Option<(SeqNum, SeqNum)> {
    let off = |x: SeqNum| x.0.wrapping_sub(rcv_nxt.0);
    let start = off(seq);
    let end = start.wrapping_add(len).min(off(rcv_adv)).min(off(rel + ring_window));
    (start < end).then(|| (seq, rcv_nxt + end))
}

/// One connection's held ranges `[start, end)` beyond rcv_nxt.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HoleList {
    ranges: Vec<(SeqNum, SeqNum)>,
    /// Index of the range holding the latest segment taken, while it is held.
    last: Option<usize>,
}

/// What an out-of-order segment did to the list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Insert {
    /// The bytes `[start, end)` of the segment are new: written into the ring.
    Held { start: SeqNum, end: SeqNum },
    /// Every byte of it is held already.
    Duplicate,
    /// It would need more than [`HOLE_LIMIT`] ranges: dropped.
    OverLimit,
}

impl HoleList {
    /// The held ranges, in sequence order.
    pub fn ranges(&self) -> &[(SeqNum, SeqNum)] {
        &self.ranges
    }

    /// Index of the range the latest segment went into, if still held.
    pub fn last(&self) -> Option<usize> {
        self.last
    }

    /// The rebuilt list a table entry holds (the table's write-back order).
    pub fn from_parts(ranges: Vec<(SeqNum, SeqNum)>, last: Option<usize>) -> HoleList {
        HoleList { ranges, last }
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Forget everything (a new connection, a promotion: holes are not replicated).
    pub fn clear(&mut self) {
        self.ranges.clear();
        self.last = None;
    }

    /// An out-of-order segment's bytes `[start, end)`, already cut at the
    /// window, with `rcv_nxt` before `start` and `start` before `end`.
    pub fn insert(&mut self, rcv_nxt: SeqNum, start: SeqNum, end: SeqNum) -> Insert {
        let off = |x: SeqNum| x.0.wrapping_sub(rcv_nxt.0);
        let (s, e) = (off(start), off(end));
        // Ranges that end before the segment starts (not touching it) stay in front.
        let before = self.ranges.iter().filter(|r| off(r.1) < s).count();
        let head = self.ranges.get(before).is_some_and(|r| off(r.0) <= s);
        let new_start = if head { self.ranges[before].1 } else { start };
        if head && off(new_start) >= e {
            return Insert::Duplicate;
        }
        let next = before + usize::from(head);
        let tail = self.ranges.get(next).is_some_and(|r| off(r.0) <= e);
        let new_end = if tail { self.ranges[next].0 } else { end };
        let merged = usize::from(head) + usize::from(tail);
        if self.ranges.len() + 1 - merged > HOLE_LIMIT {
            return Insert::OverLimit;
        }
        let range_start = if head { self.ranges[before].0 } else { new_start };
        let range_end = if tail { self.ranges[next].1 } else { new_end };
        self.ranges.splice(before..before + merged, [(range_start, range_end)]);
        self.last = Some(before);
        Insert::Held { start: new_start, end: new_end }
    }

    /// Where in-order bytes must stop: the first held range's start.
    pub fn first_held(&self) -> Option<SeqNum> {
        self.ranges.first().map(|r| r.0)
    }

    /// rcv_nxt moved to `rcv_nxt` by in-order bytes: if it reached the first
    /// held range, that range is taken and the new rcv_nxt (its end) returned.
    pub fn advance(&mut self, rcv_nxt: SeqNum) -> Option<SeqNum> {
        let &(start, end) = self.ranges.first()?;
        if start != rcv_nxt {
            return None;
        }
        self.ranges.remove(0);
        self.last = match self.last {
            Some(0) | None => None,
            Some(i) => Some(i - 1),
        };
        Some(end)
    }

    /// The SACK blocks an ACK carries (RFC 2018 §4): the range holding the
    /// latest segment first, then the others in sequence order.
    pub fn sack_blocks(&self) -> Vec<(SeqNum, SeqNum)> {
        let mut out = Vec::with_capacity(self.ranges.len());
        if let Some(l) = self.last {
            out.push(self.ranges[l]);
        }
        out.extend(self.ranges.iter().enumerate().filter(|(i, _)| Some(*i) != self.last).map(|(_, r)| *r));
        out
    }

    /// The first run of a segment's payload `[seq, seq + len)` the connection
    /// holds already, found before the segment is taken (RFC 2883 §4: the
    /// D-SACK block reports one contiguous duplicate run, its edges those of
    /// the run): the bytes below `rcv_nxt`, else the part of the first held
    /// range the segment overlaps. `None` without payload or duplicate.
    pub fn duplicate(&self, rcv_nxt: SeqNum, seq: SeqNum, len: u32) -> Option<(SeqNum, SeqNum)> {
        if len == 0 {
            return None;
        }
        let end = seq + len;
        if seq.before(rcv_nxt) {
            return Some((seq, end.earliest(rcv_nxt)));
        }
        let off = |x: SeqNum| x.0.wrapping_sub(rcv_nxt.0);
        let (s, e) = (off(seq), off(seq).wrapping_add(len));
        self.ranges
            .iter()
            .find(|r| off(r.0) < e && s < off(r.1))
            .map(|r| (if s < off(r.0) { r.0 } else { seq }, if e < off(r.1) { end } else { r.1 }))
    }

    /// The SACK blocks of an ACK at `ack` with rcv_nxt at `rcv_nxt`, led by
    /// a D-SACK block for the duplicate run `dup` of the segment this ACK
    /// answers (RFC 2883 §4), and whether one leads (docs/engine.md, "D-SACK"):
    ///
    /// - a run starting below the ACK: `[start, min(end, ack))` (Linux takes
    ///   a first block below the ACK for a D-SACK), then the usual blocks if
    ///   the ACK is at rcv_nxt;
    /// - a run starting at the ACK, below rcv_nxt (held back): the run and
    ///   `[ack, rcv_nxt)` holding it (a first block inside the second is a
    ///   D-SACK too); nothing else;
    /// - a run starting above the ACK, below rcv_nxt: no block at all (a
    ///   D-SACK there starts above SND.UNA, and Linux would take it for new
    ///   SACK information and the unreleased bytes below it for lost);
    /// - a run in a held range: with the ACK at rcv_nxt, the run, then that
    ///   range, then the others in sequence order; with the ACK below, none.
    ///
    /// At most four blocks in all.
    pub fn sack_blocks_with(&self, rcv_nxt: SeqNum, ack: SeqNum, dup: Option<(SeqNum, SeqNum)>) -> (Vec<(SeqNum, SeqNum)>, bool) {
        let at_nxt = ack == rcv_nxt;
        let usual = || if at_nxt { self.sack_blocks() } else { Vec::new() };
        let Some((s, e)) = dup else {
            return (usual(), false);
        };
        let lead = |first: (SeqNum, SeqNum), rest: Vec<(SeqNum, SeqNum)>| {
            let mut out = vec![first];
            out.extend(rest.into_iter().take(HOLE_LIMIT - 1));
            (out, true)
        };
        if s.before(ack) {
            lead((s, e.earliest(ack)), usual())
        } else if s == ack && s.before(rcv_nxt) {
            lead((s, e.earliest(rcv_nxt)), vec![(ack, rcv_nxt)])
        } else if s.before(rcv_nxt) || !at_nxt {
            (usual(), false)
        } else {
            let off = |x: SeqNum| x.0.wrapping_sub(rcv_nxt.0);
            let holding = self.ranges.iter().position(|r| off(r.0) <= off(s) && off(s) < off(r.1));
            let order = HoleList { ranges: self.ranges.clone(), last: holding.or(self.last) };
            lead((s, e), order.sack_blocks())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// rcv_nxt 16 bytes before the wrap, so ranges straddle it.
    const NXT: u32 = 0xffff_fff0;

    fn s(off: u32) -> SeqNum {
        SeqNum(NXT.wrapping_add(off))
    }

    fn list(ranges: &[(u32, u32)]) -> Vec<(SeqNum, SeqNum)> {
        ranges.iter().map(|&(a, b)| (s(a), s(b))).collect()
    }

    #[test]
    fn separate_segments_make_sorted_ranges_and_the_latest_is_sacked_first() {
        let mut h = HoleList::default();
        assert_eq!(h.insert(s(0), s(300), s(400)), Insert::Held { start: s(300), end: s(400) });
        assert_eq!(h.insert(s(0), s(100), s(200)), Insert::Held { start: s(100), end: s(200) });
        assert_eq!(h.ranges(), list(&[(100, 200), (300, 400)]));
        assert_eq!(h.sack_blocks(), list(&[(100, 200), (300, 400)]));
        h.insert(s(0), s(500), s(600));
        assert_eq!(h.sack_blocks(), list(&[(500, 600), (100, 200), (300, 400)]));
    }

    #[test]
    fn touching_segments_merge_and_a_gap_filler_joins_both_sides() {
        let mut h = HoleList::default();
        h.insert(s(0), s(100), s(200));
        h.insert(s(0), s(300), s(400));
        assert_eq!(h.insert(s(0), s(200), s(300)), Insert::Held { start: s(200), end: s(300) });
        assert_eq!(h.ranges(), list(&[(100, 400)]));
        assert_eq!(h.last(), Some(0));
    }

    #[test]
    fn the_first_copy_wins_overlaps_are_cut_to_the_bytes_not_held() {
        let mut h = HoleList::default();
        h.insert(s(0), s(100), s(200));
        h.insert(s(0), s(300), s(400));
        // Starts inside the first range, ends inside the second: only the gap is written.
        assert_eq!(h.insert(s(0), s(150), s(350)), Insert::Held { start: s(200), end: s(300) });
        assert_eq!(h.ranges(), list(&[(100, 400)]));
        // Wholly inside: nothing new.
        assert_eq!(h.insert(s(0), s(120), s(380)), Insert::Duplicate);
        // Spans a whole range: written up to it; the bytes past it are left to the peer.
        assert_eq!(h.insert(s(0), s(50), s(500)), Insert::Held { start: s(50), end: s(100) });
        assert_eq!(h.ranges(), list(&[(50, 400)]));
    }

    #[test]
    fn a_fifth_range_is_refused_but_a_merge_is_not() {
        let mut h = HoleList::default();
        for k in 0..4 {
            h.insert(s(0), s(100 + 200 * k), s(200 + 200 * k));
        }
        let full = h.clone();
        assert_eq!(h.insert(s(0), s(1000), s(1100)), Insert::OverLimit);
        assert_eq!(h.insert(s(0), s(20), s(30)), Insert::OverLimit);
        assert_eq!(h, full);
        assert_eq!(h.insert(s(0), s(200), s(250)), Insert::Held { start: s(200), end: s(250) });
        assert_eq!(h.ranges().len(), 4);
        assert_eq!(h.insert(s(0), s(250), s(300)), Insert::Held { start: s(250), end: s(300) });
        assert_eq!(h.ranges().len(), 3);
    }

    #[test]
    fn reaching_the_first_range_moves_rcv_nxt_to_its_end() {
        let mut h = HoleList::default();
        h.insert(s(0), s(100), s(200));
        h.insert(s(0), s(300), s(400));
        assert_eq!(h.first_held(), Some(s(100)));
        assert_eq!(h.advance(s(50)), None);
        assert_eq!(h.advance(s(100)), Some(s(200)));
        assert_eq!(h.ranges(), list(&[(300, 400)]));
        // The latest segment's range went first in the SACK blocks; it is still held.
        assert_eq!(h.last(), Some(0));
        assert_eq!(h.advance(s(300)), Some(s(400)));
        assert!(h.is_empty());
        assert_eq!(h.last(), None);
    }
}
