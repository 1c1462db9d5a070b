//! One connection's transmit side run against a simulated lossy peer, for the
//! TX blocks' testbenches: the model ([`TxTcb`]) sends from its ring to a
//! peer that loses segments, discards out-of-order ones (as the card's own
//! receive side does), ACKs every segment it takes and now and then stops
//! reading (its window closes; it opens again with a window update). The
//! host keeps the ring topped up; the timers fire as the clock advances.
//! With [`RunConfig::sack`] the peer is a SACK receiver instead (RFC 2018):
//! it keeps out-of-order segments and reports them in SACK blocks, and the
//! model has SACK negotiated.
//!
//! A [`TxObserver`] sees the model's state just before every decision it
//! makes — each ACK, each "what to send next", each retransmission an ACK
//! calls for — so a testbench can put the same question to an RTL block.
//! Everything is drawn from one seeded generator.
use std::collections::VecDeque;

use rand::{rngs::SmallRng, Rng, SeedableRng};

use super::tx::{AckSegment, AckVerdict, RtoSettings, Segment, TimerAction, TxTcb};
use crate::wire::SeqNum;

/// RFC 2018 §3: a SACK option holds at most four blocks (no timestamps here).
pub const MAX_SACK_BLOCKS: usize = 4;

/// What a run did, for the testbench to show that it exercised something.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunStats {
    pub acks: u32,
    pub delivered: u32,
    pub segments: u32,
    pub fast_retransmits: u32,
    pub partial_acks: u32,
    pub timeouts: u32,
    pub probes: u32,
    /// Payload bytes of the segments the path lost on the way to the peer.
    pub bytes_dropped: u64,
    /// Payload bytes that reached the peer while its window was closed and
    /// were refused: they too must be sent again.
    pub bytes_refused: u64,
    /// Payload bytes that reached the peer when it held them already (below
    /// its cumulative ACK, or in its out-of-order store): resent for nothing.
    pub bytes_duplicate: u64,
    /// Payload bytes of the segments sent as retransmissions (resends,
    /// timeouts, the walk after them and repeated probes).
    pub bytes_resent: u64,
    /// Resends an ACK asked for ([`TxTcb::resend_asked`]).
    pub resends_asked: u32,
}

/// Hooks called with the model's state before each of its decisions.
pub trait TxObserver {
    /// `seg` arrives at `now` and is about to go through [`TxTcb::on_ack`]
    /// (with SACK, [`TxTcb::on_ack_with_sack`] and the peer's blocks).
    fn ack(&mut self, _before: &TxTcb, _seg: &AckSegment, _now: u32, _s: &RtoSettings) {}
    /// [`TxTcb::next_segment`] (`forced` false) or
    /// [`TxTcb::retransmit_first`] (`forced` true, when
    /// [`TxTcb::resend_asked`]) is about to run at `now`.
    fn send(&mut self, _before: &TxTcb, _now: u32, _forced: bool) {}
}

/// The run's fixed parameters.
#[derive(Clone, Copy, Debug)]
pub struct RunConfig {
    pub iss: SeqNum,
    pub peer_mss: u16,
    pub ring_bytes: u32,
    pub start_us: u32,
    pub steps: u32,
    pub settings: RtoSettings,
    pub max_retries: u8,
    /// The peer now and then closes its window (and refuses what arrives
    /// beyond it); off, every loss is the path's.
    pub window_closes: bool,
    /// The peer is a SACK receiver (keeps out-of-order segments, ACKs with
    /// SACK blocks) and the model has `sack_ok`. Off: the peer discards
    /// out-of-order segments, as before SACK.
    pub sack: bool,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            // Sequence numbers and the clock both wrap during the run.
            iss: SeqNum(0xFFF0_0000),
            peer_mss: 1460,
            ring_bytes: 1 << 20,
            start_us: 0xFFFF_0000,
            steps: 600_000,
            settings: RtoSettings { rto_min_us: 200_000, ..RtoSettings::default() },
            max_retries: 15,
            window_closes: true,
            sack: false,
        }
    }
}

/// The peer's out-of-order store and its SACK reports (RFC 2018 §4).
#[derive(Default)]
struct SackReceiver {
    /// Bytes held above rcv: `[left, right)`, sorted, disjoint, not touching.
    held: Vec<(SeqNum, SeqNum)>,
    /// The blocks of the last ACK, first the most recent.
    reported: Vec<(SeqNum, SeqNum)>,
}

impl SackReceiver {
    /// Keep `[seq, end)` (the part above `rcv`); returns the new rcv, moved
    /// over every byte now contiguous with it (a retransmission filling a hole).
    fn take(&mut self, rcv: SeqNum, seq: SeqNum, end: SeqNum) -> SeqNum {
        let left = if seq.before(rcv) { rcv } else { seq };
        if !rcv.before(end) {
            return rcv;
        }
        let off = |x: SeqNum| x.0.wrapping_sub(rcv.0);
        self.held.push((left, end));
        self.held.sort_by_key(|&(l, _)| off(l));
        let mut merged: Vec<(SeqNum, SeqNum)> = Vec::with_capacity(self.held.len());
        for &(l, r) in &self.held {
            match merged.last_mut() {
                Some(last) if off(l) <= off(last.1) => {
                    if off(r) > off(last.1) {
                        last.1 = r;
                    }
                }
                _ => merged.push((l, r)),
            }
        }
        self.held = merged;
        match self.held.first() {
            Some(&(l, r)) if l == rcv => {
                self.held.remove(0);
                r
            }
            _ => rcv,
        }
    }

    /// Bytes of `[seq, end)` held already: below `rcv` or in the store.
    fn held_bytes(&self, rcv: SeqNum, seq: SeqNum, end: SeqNum) -> u64 {
        let (s, e) = (i64::from(seq.diff(rcv)), i64::from(end.diff(rcv)));
        let below = (e.min(0) - s).max(0);
        let stored: i64 =
            self.held.iter().map(|&(l, r)| (e.min(i64::from(r.diff(rcv))) - s.max(i64::from(l.diff(rcv)))).max(0)).sum();
        (below + stored) as u64
    }

    /// The held range containing `seq`, if any.
    fn range_of(&self, seq: SeqNum) -> Option<(SeqNum, SeqNum)> {
        self.held.iter().copied().find(|&(l, r)| l.not_after(seq) && seq.before(r))
    }

    /// The SACK blocks of the ACK that `trigger` (the segment's first byte,
    /// `None` for a window update) causes, RFC 2018 §4: first the block
    /// holding the triggering segment unless it advanced the cumulative ACK,
    /// then the most recently reported blocks that are still held and not
    /// already included, each as the range it has grown into.
    fn blocks(&mut self, trigger: Option<SeqNum>) -> Vec<(SeqNum, SeqNum)> {
        let mut out: Vec<(SeqNum, SeqNum)> = Vec::with_capacity(MAX_SACK_BLOCKS);
        let recent = std::mem::take(&mut self.reported);
        for b in trigger.and_then(|t| self.range_of(t)).into_iter().chain(recent.iter().filter_map(|&(l, _)| self.range_of(l))) {
            if out.len() < MAX_SACK_BLOCKS && !out.contains(&b) {
                out.push(b);
            }
        }
        self.reported = out.clone();
        out
    }
}

/// Run `cfg.steps` steps of the connection with `seed`, calling `obs`.
///
/// # Panics
/// If the model gives the connection up (the peer never vanishes, so that
/// would be a model bug) or the host overruns its ring.
pub fn run_lossy_connection(cfg: &RunConfig, seed: u64, obs: &mut dyn TxObserver) -> RunStats {
    let mut rng = SmallRng::seed_from_u64(seed);
    let s = cfg.settings;
    let mut t = TxTcb::established(cfg.iss, cfg.peer_mss, SeqNum(1000), 65_535);
    t.sack_ok = cfg.sack;
    let mut stats = RunStats::default();
    let mut peer = SackReceiver::default();
    let resent = |stats: &mut RunStats, seg: &Segment| {
        if seg.retransmission {
            stats.bytes_resent += u64::from(seg.len);
        }
    };
    let mut written = 0u32;
    let mut now = cfg.start_us;
    // Segments on the wire towards the peer, and ACKs on the way back.
    let mut to_peer: VecDeque<(SeqNum, u32)> = VecDeque::new();
    let mut to_us: VecDeque<(AckSegment, Vec<(SeqNum, SeqNum)>)> = VecDeque::new();
    let mut rcv = cfg.iss + 1;
    let mut peer_seq = SeqNum(1000);
    let mut peer_wnd: u16 = 65_535;
    // A peer that closes its window still has room for what was sent before
    // it could know: everything before this.
    let mut room_end = cfg.iss;
    let mut loss = 0.02;
    for step in 0..cfg.steps {
        if step % 50_000 == 0 {
            loss = [0.0, 0.01, 0.03, 0.1][rng.gen_range(0..4)];
        }
        now = now.wrapping_add(rng.gen_range(0..2_000));
        let room = cfg.ring_bytes - t.snd_tail.bytes_since(t.snd_una);
        if room > 0 && rng.gen_bool(0.3) {
            written += rng.gen_range(1..=room.min(20_000));
            t.set_tail(written, cfg.ring_bytes).expect("the host stays inside the ring");
        }
        loop {
            obs.send(&t, now, false);
            let Some(seg) = t.next_segment(now) else { break };
            stats.segments += 1;
            resent(&mut stats, &seg);
            to_peer.push_back((seg.seq, seg.len));
        }
        match t.on_timer(now, &s, cfg.max_retries) {
            Some(TimerAction::Retransmit(seg)) => {
                stats.timeouts += 1;
                resent(&mut stats, &seg);
                to_peer.push_back((seg.seq, seg.len));
            }
            Some(TimerAction::Probe(seg)) => {
                stats.probes += 1;
                resent(&mut stats, &seg);
                to_peer.push_back((seg.seq, seg.len));
            }
            Some(TimerAction::GiveUp) => panic!("step {step}: the model gave up after {} retries", t.retries),
            None => {}
        }
        if peer_wnd != 0 && rng.gen_bool(0.0005) && cfg.window_closes {
            peer_wnd = 0;
            room_end = t.snd_max;
        } else if peer_wnd == 0 && rng.gen_bool(0.0005) {
            peer_wnd = rng.gen_range(1000..=65_535);
            peer_seq += 1;
            let blocks = if cfg.sack { peer.blocks(None) } else { Vec::new() };
            to_us.push_back((AckSegment { seq: peer_seq, ack: rcv, wnd: peer_wnd, occupies: false }, blocks));
        }
        if let Some((seq, len)) = rng.gen_bool(0.6).then(|| to_peer.pop_front()).flatten() {
            if rng.gen_bool(loss) {
                stats.bytes_dropped += u64::from(len);
            } else {
                let taken = peer_wnd > 0 || seq.before(room_end);
                if taken {
                    stats.bytes_duplicate += peer.held_bytes(rcv, seq, seq + len);
                } else {
                    stats.bytes_refused += u64::from(len);
                }
                if cfg.sack {
                    if taken {
                        rcv = peer.take(rcv, seq, seq + len);
                    }
                } else if seq == rcv && taken {
                    rcv = rcv + len;
                }
                peer_seq += u32::from(rng.gen_bool(0.05));
                let blocks = if cfg.sack { peer.blocks(taken.then_some(seq)) } else { Vec::new() };
                let ack = AckSegment { seq: peer_seq, ack: rcv, wnd: peer_wnd, occupies: rng.gen_bool(0.02) };
                to_us.push_back((ack, blocks));
            }
        }
        if let Some((seg, blocks)) = rng.gen_bool(0.7).then(|| to_us.pop_front()).flatten() {
            obs.ack(&t, &seg, now, &s);
            let out = t.on_ack_with_sack(&seg, None, &blocks, now, &s);
            stats.acks += 1;
            match out.verdict {
                AckVerdict::FastRetransmit => stats.fast_retransmits += 1,
                AckVerdict::PartialAck => stats.partial_acks += 1,
                _ => {}
            }
            if out.resend {
                stats.resends_asked += 1;
                obs.send(&t, now, true);
                if let Some(seg) = t.retransmit_first(now) {
                    resent(&mut stats, &seg);
                    to_peer.push_back((seg.seq, seg.len));
                }
            }
        }
    }
    stats.delivered = rcv.bytes_since(cfg.iss + 1);
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 2018 §4: the first block holds the segment that triggered the
    /// ACK, then the most recently reported others, at most four; a
    /// retransmission filling the hole moves the cumulative ACK over every
    /// byte held next to it, and a segment that advanced it is no block.
    #[test]
    fn sack_receiver_reports_in_rfc_2018_order() {
        let s = |k: u32| SeqNum(0xFFFF_FF00) + k * 100;
        let mut p = SackReceiver::default();
        let mut rcv = s(0);
        // Segment 0 lost; 1, 3, 5, 7, 9 arrive, each a range of its own.
        for k in [1, 3, 5, 7, 9] {
            rcv = p.take(rcv, s(k), s(k + 1));
            assert_eq!(rcv, s(0));
            let b = p.blocks(Some(s(k)));
            assert_eq!(b[0], (s(k), s(k + 1)), "the latest segment's block first");
        }
        assert_eq!(p.reported, vec![(s(9), s(10)), (s(7), s(8)), (s(5), s(6)), (s(3), s(4))]);
        // Segment 4 joins 3 and 5: that block first, then the recent others.
        rcv = p.take(rcv, s(4), s(5));
        assert_eq!(p.blocks(Some(s(4))), vec![(s(3), s(6)), (s(9), s(10)), (s(7), s(8))]);
        // The retransmission of 0 fills the hole up to 2: no block of its own.
        rcv = p.take(rcv, s(0), s(1));
        assert_eq!(rcv, s(2));
        assert_eq!(p.blocks(Some(s(0))), vec![(s(3), s(6)), (s(9), s(10)), (s(7), s(8))]);
        // Segment 2 moves it over 3-5 as well; a duplicate changes nothing.
        rcv = p.take(rcv, s(2), s(3));
        assert_eq!(rcv, s(6));
        assert_eq!(p.held_bytes(rcv, s(5), s(8)), 100 + 100);
        assert_eq!(p.blocks(None), vec![(s(9), s(10)), (s(7), s(8))]);
    }
}
