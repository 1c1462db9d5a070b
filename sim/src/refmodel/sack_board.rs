//! The sender's SACK scoreboard (RFC 6675 §2-§4, docs/sack-sender.md), the
//! reference for `hdl/src/tx/sack_board.rs`: up to [`BOARD_SLOTS`] SACKed
//! ranges above snd_una, sorted and merged, with IsLost, NextSeg rule 1 and
//! the byte totals SetPipe needs. Written from the RFC's definitions (IsLost
//! of any sequence number, NextSeg over the holes), not from the RTL's
//! structure. Every comparison is between offsets from snd_una.
use crate::wire::SeqNum;

/// Ranges the board keeps; a fifth drops the highest (NextSeg needs the lowest).
pub const BOARD_SLOTS: usize = 4;
/// DupThresh (RFC 6675 §2): three discontiguous SACKed ranges above make a byte lost.
pub const DUP_THRESH: usize = 3;

/// What one element (one SACK block of an ACK, or an ACK without one) did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ElementOutcome {
    /// The block's left edge is before snd_una: a D-SACK (RFC 2883 §4) or stale; ignored.
    pub dsack: bool,
    /// Otherwise not a non-empty range ending at or below snd_max; ignored.
    pub beyond: bool,
    /// Five disjoint ranges: the highest was dropped.
    pub overflow: bool,
}

/// The gap at or above a sequence number ([`SackBoard::gap`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    pub seq: SeqNum,
    /// Bytes up to the next SACKed range; `None` above the highest one.
    pub room: Option<u32>,
    /// IsLost holds for the gap's bytes (never above the highest range).
    pub lost: bool,
}

/// One connection's board: SACKed `[left, right)` ranges, sorted, disjoint,
/// never touching, inside `[snd_una, snd_max]` of the last element.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SackBoard {
    ranges: Vec<(SeqNum, SeqNum)>,
}

fn off(x: SeqNum, una: SeqNum) -> u32 {
    x.0.wrapping_sub(una.0)
}

impl SackBoard {
    /// A board holding `ranges` (as stored per connection); at most four, in order.
    pub fn from_ranges(ranges: &[(SeqNum, SeqNum)]) -> SackBoard {
        SackBoard { ranges: ranges.iter().copied().take(BOARD_SLOTS).collect() }
    }

    pub fn ranges(&self) -> &[(SeqNum, SeqNum)] {
        &self.ranges
    }

    /// One element: trim at `una` (the ACK's cumulative acknowledgment), then
    /// merge `block` if it is SACK information (inside `[una, snd_max]`).
    pub fn on_element(&mut self, una: SeqNum, snd_max: SeqNum, block: Option<(SeqNum, SeqNum)>) -> ElementOutcome {
        // Ranges wholly at or below the ACK go; one straddling it starts there.
        self.ranges.retain(|&(_, r)| r.diff(una) > 0);
        for (l, _) in &mut self.ranges {
            if l.before(una) {
                *l = una;
            }
        }
        let mut out = ElementOutcome::default();
        let Some((l, r)) = block else { return out };
        if l.before(una) {
            out.dsack = true;
            return out;
        }
        if off(r, una) <= off(l, una) || off(r, una) > off(snd_max, una) {
            out.beyond = true;
            return out;
        }
        self.ranges.push((l, r));
        self.ranges.sort_by_key(|&(l, _)| off(l, una));
        let mut merged: Vec<(SeqNum, SeqNum)> = Vec::with_capacity(BOARD_SLOTS + 1);
        for &(l, r) in &self.ranges {
            match merged.last_mut() {
                // Overlapping or touching: one range.
                Some(last) if off(l, una) <= off(last.1, una) => {
                    if off(r, una) > off(last.1, una) {
                        last.1 = r;
                    }
                }
                _ => merged.push((l, r)),
            }
        }
        out.overflow = merged.len() > BOARD_SLOTS;
        merged.truncate(BOARD_SLOTS);
        self.ranges = merged;
        out
    }

    /// An ACK's elements, in order: one per block, or one without a block.
    pub fn on_ack(&mut self, una: SeqNum, snd_max: SeqNum, blocks: &[(SeqNum, SeqNum)]) -> Vec<ElementOutcome> {
        if blocks.is_empty() {
            return vec![self.on_element(una, snd_max, None)];
        }
        blocks.iter().map(|&b| self.on_element(una, snd_max, Some(b))).collect()
    }

    /// SACKed bytes on the board (SetPipe, RFC 6675 §4).
    pub fn sacked_bytes(&self) -> u32 {
        self.ranges.iter().map(|&(l, r)| r.0.wrapping_sub(l.0)).sum()
    }

    /// IsLost(seq) (RFC 6675 §4): DupThresh discontiguous SACKed ranges
    /// above `seq`, or more than (DupThresh - 1) × SMSS SACKed bytes above it.
    /// The board keeps ranges, not segments: each range counts once.
    pub fn is_lost(&self, una: SeqNum, seq: SeqNum, smss: u16) -> bool {
        let q = off(seq, una);
        let above = self.ranges.iter().filter(|&&(l, _)| off(l, una) > q).count();
        let bytes: u64 = self
            .ranges
            .iter()
            .map(|&(l, r)| u64::from(off(r, una).saturating_sub(off(l, una).max(q + 1))))
            .sum();
        above >= DUP_THRESH || bytes > (DUP_THRESH as u64 - 1) * u64::from(smss)
    }

    /// The holes below the highest SACKed byte: `[start, end)` offsets from `una`.
    fn holes(&self, una: SeqNum) -> Vec<(u32, u32)> {
        let mut prev = 0;
        let mut out = Vec::new();
        for &(l, r) in &self.ranges {
            if prev < off(l, una) {
                out.push((prev, off(l, una)));
            }
            prev = off(r, una);
        }
        out
    }

    /// IsLost of the first unSACKed byte at or above `una` (RFC 6675 §5: the
    /// test that starts loss recovery); false when nothing is SACKed above it.
    pub fn first_lost(&self, una: SeqNum, smss: u16) -> bool {
        let first = match self.ranges.first() {
            Some(&(l, r)) if l == una => r,
            _ => una,
        };
        self.is_lost(una, first, smss)
    }

    /// Bytes of the holes IsLost says are lost.
    pub fn lost_bytes(&self, una: SeqNum, smss: u16) -> u32 {
        self.holes(una).iter().filter(|&&(s, _)| self.is_lost(una, una + s, smss)).map(|&(s, e)| e - s).sum()
    }

    /// The first unSACKed byte at or above `from` (`una` if `from` is before
    /// it), the bytes from there up to the next SACKed range (`None` above
    /// the highest one) and whether IsLost holds for it: what the sender's
    /// resend and its walk after a timeout ask (docs/sack-sender.md). A hole
    /// is lost or not as a whole, and a higher hole never has more above it,
    /// so NextSeg rule 1 is this gap when it is lost.
    pub fn gap(&self, una: SeqNum, from: SeqNum, smss: u16) -> Gap {
        let mut at = if from.before(una) { 0 } else { off(from, una) };
        for &(l, r) in &self.ranges {
            if at < off(l, una) {
                return Gap { seq: una + at, room: Some(off(l, una) - at), lost: self.is_lost(una, una + at, smss) };
            }
            at = at.max(off(r, una));
        }
        Gap { seq: una + at, room: None, lost: false }
    }

    /// NextSeg rule 1 (RFC 6675 §4): the smallest unSACKed byte at or above
    /// `from` (HighRxt + 1; `una` if `from` is before it) and below the
    /// highest SACKed byte for which IsLost holds, with the bytes up to the
    /// next SACKed range, at most SMSS.
    pub fn next_seg(&self, una: SeqNum, from: SeqNum, smss: u16) -> Option<(SeqNum, u16)> {
        let fo = if from.before(una) { 0 } else { off(from, una) };
        self.holes(una).into_iter().find_map(|(s, e)| {
            let c = s.max(fo);
            (c < e && self.is_lost(una, una + c, smss)).then(|| (una + c, (e - c).min(u32::from(smss)) as u16))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMSS: u16 = 1000;

    fn s(x: u32) -> SeqNum {
        SeqNum(x)
    }

    #[test]
    fn one_hole_lost_by_bytes() {
        let mut b = SackBoard::default();
        // Lost [100, 1100); three segments SACKed above: one range of 3000 bytes.
        let out = b.on_ack(s(100), s(10_000), &[(s(1100), s(4100))]);
        assert_eq!(out, vec![ElementOutcome::default()]);
        assert_eq!(b.ranges(), &[(s(1100), s(4100))]);
        assert!(b.first_lost(s(100), SMSS));
        assert_eq!(b.next_seg(s(100), s(100), SMSS), Some((s(100), 1000)));
        assert_eq!(b.sacked_bytes(), 3000);
        assert_eq!(b.lost_bytes(s(100), SMSS), 1000);
        // Exactly 2 SMSS above is not more than (DupThresh - 1) × SMSS.
        let mut b = SackBoard::default();
        b.on_ack(s(100), s(10_000), &[(s(1100), s(3100))]);
        assert!(!b.first_lost(s(100), SMSS));
        assert_eq!(b.next_seg(s(100), s(100), SMSS), None);
    }

    #[test]
    fn lost_by_count_of_small_ranges() {
        let mut b = SackBoard::default();
        b.on_ack(s(0), s(10_000), &[(s(1000), s(1100)), (s(2000), s(2100))]);
        assert!(!b.first_lost(s(0), SMSS));
        b.on_ack(s(0), s(10_000), &[(s(3000), s(3100))]);
        assert!(b.first_lost(s(0), SMSS));
        // The first hole is lost (3 ranges above), the second not (2 above, 200 bytes).
        assert_eq!(b.next_seg(s(0), s(0), SMSS), Some((s(0), 1000)));
        assert_eq!(b.next_seg(s(0), s(500), SMSS), Some((s(500), 500)));
        assert_eq!(b.next_seg(s(0), s(1000), SMSS), None);
        assert_eq!(b.lost_bytes(s(0), SMSS), 1000);
    }

    #[test]
    fn merges_and_trims_across_the_wrap() {
        let una = s(0xFFFF_FF00);
        let mut b = SackBoard::default();
        b.on_ack(una, una + 10_000, &[(una + 200, una + 300), (una + 400, una + 500), (una + 300, una + 400)]);
        assert_eq!(b.ranges(), &[(una + 200, una + 500)]);
        // The cumulative ACK passes into the range: it starts there.
        b.on_ack(una + 250, una + 10_000, &[]);
        assert_eq!(b.ranges(), &[(una + 250, una + 500)]);
        b.on_ack(una + 500, una + 10_000, &[]);
        assert!(b.ranges().is_empty());
    }

    #[test]
    fn dsack_and_beyond_are_ignored() {
        let mut b = SackBoard::default();
        let out = b.on_ack(s(1000), s(5000), &[(s(500), s(900)), (s(4000), s(5001)), (s(3000), s(3000)), (s(4000), s(5000))]);
        assert!(out[0].dsack && !out[0].beyond);
        assert!(out[1].beyond && out[2].beyond);
        assert_eq!(out[3], ElementOutcome::default());
        assert_eq!(b.ranges(), &[(s(4000), s(5000))]);
    }

    #[test]
    fn a_fifth_range_drops_the_highest() {
        let mut b = SackBoard::default();
        let blocks: Vec<_> = [5, 1, 4, 2].iter().map(|&i| (s(i * 1000), s(i * 1000 + 100))).collect();
        assert!(b.on_ack(s(0), s(10_000), &blocks).iter().all(|o| !o.overflow));
        let out = b.on_ack(s(0), s(10_000), &[(s(3000), s(3100))]);
        assert!(out[0].overflow);
        assert_eq!(b.ranges().last(), Some(&(s(4000), s(4100))));
        // A block above the four is itself the one dropped.
        let out = b.on_ack(s(0), s(10_000), &[(s(9000), s(9100))]);
        assert!(out[0].overflow);
        assert_eq!(b.ranges().last(), Some(&(s(4000), s(4100))));
    }

    #[test]
    fn the_gap_skips_sacked_ranges_and_is_next_seg_when_lost() {
        let una = s(0xFFFF_F000);
        let b = SackBoard::from_ranges(&[(una + 1000, una + 2000), (una + 3000, una + 4000), (una + 5000, una + 6000)]);
        // Below the first range: the hole at una, lost (three ranges above).
        let g = b.gap(una, una - 50, SMSS);
        assert_eq!(g, Gap { seq: una, room: Some(1000), lost: true });
        assert_eq!(b.next_seg(una, una, SMSS), Some((una, 1000)));
        // Inside a range: its end, up to the next one; two ranges and 2000
        // bytes (not more than 2 SMSS) above it: not lost.
        let g = b.gap(una, una + 1500, SMSS);
        assert_eq!(g, Gap { seq: una + 2000, room: Some(1000), lost: false });
        assert_eq!(b.next_seg(una, una + 1500, SMSS), None);
        // Above every range: no room, never lost.
        assert_eq!(b.gap(una, una + 5500, SMSS), Gap { seq: una + 6000, room: None, lost: false });
        assert_eq!(b.gap(una, una + 7000, SMSS), Gap { seq: una + 7000, room: None, lost: false });
        // An empty board: the byte asked for.
        assert_eq!(SackBoard::default().gap(una, una + 10, SMSS), Gap { seq: una + 10, room: None, lost: false });
    }
}
