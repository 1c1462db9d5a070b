//! One connection's transmit side run against a simulated lossy peer, for the
//! TX blocks' testbenches: the model ([`TxTcb`]) sends from its ring to a
//! peer that loses segments, discards out-of-order ones (as the card's own
//! receive side does), ACKs every segment it takes and now and then stops
//! reading (its window closes; it opens again with a window update). The
//! host keeps the ring topped up; the timers fire as the clock advances.
//!
//! A [`TxObserver`] sees the model's state just before every decision it
//! makes — each ACK, each "what to send next", each retransmission an ACK
//! calls for — so a testbench can put the same question to an RTL block.
//! Everything is drawn from one seeded generator.
use std::collections::VecDeque;

use rand::{rngs::SmallRng, Rng, SeedableRng};

use super::tx::{AckSegment, AckVerdict, RtoSettings, TimerAction, TxTcb};
use crate::wire::SeqNum;

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
}

/// Hooks called with the model's state before each of its decisions.
pub trait TxObserver {
    /// `seg` arrives at `now` and is about to go through [`TxTcb::on_ack`].
    fn ack(&mut self, _before: &TxTcb, _seg: &AckSegment, _now: u32, _s: &RtoSettings) {}
    /// [`TxTcb::next_segment`] (`forced` false) or
    /// [`TxTcb::retransmit_first`] (`forced` true) is about to run at `now`.
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
        }
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
    let mut stats = RunStats::default();
    let mut written = 0u32;
    let mut now = cfg.start_us;
    // Segments on the wire towards the peer, and ACKs on the way back.
    let mut to_peer: VecDeque<(SeqNum, u32)> = VecDeque::new();
    let mut to_us: VecDeque<AckSegment> = VecDeque::new();
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
            to_peer.push_back((seg.seq, seg.len));
        }
        match t.on_timer(now, &s, cfg.max_retries) {
            Some(TimerAction::Retransmit(seg)) => {
                stats.timeouts += 1;
                to_peer.push_back((seg.seq, seg.len));
            }
            Some(TimerAction::Probe(seg)) => {
                stats.probes += 1;
                to_peer.push_back((seg.seq, seg.len));
            }
            Some(TimerAction::GiveUp) => panic!("step {step}: the model gave up after {} retries", t.retries),
            None => {}
        }
        if peer_wnd != 0 && rng.gen_bool(0.0005) {
            peer_wnd = 0;
            room_end = t.snd_max;
        } else if peer_wnd == 0 && rng.gen_bool(0.0005) {
            peer_wnd = rng.gen_range(1000..=65_535);
            peer_seq += 1;
            to_us.push_back(AckSegment { seq: peer_seq, ack: rcv, wnd: peer_wnd, occupies: false });
        }
        if let Some((seq, len)) = rng.gen_bool(0.6).then(|| to_peer.pop_front()).flatten() {
            if !rng.gen_bool(loss) {
                if seq == rcv && (peer_wnd > 0 || seq.before(room_end)) {
                    rcv = rcv + len;
                }
                peer_seq += u32::from(rng.gen_bool(0.05));
                to_us.push_back(AckSegment { seq: peer_seq, ack: rcv, wnd: peer_wnd, occupies: rng.gen_bool(0.02) });
            }
        }
        if let Some(seg) = rng.gen_bool(0.7).then(|| to_us.pop_front()).flatten() {
            obs.ack(&t, &seg, now, &s);
            let verdict = t.on_ack(&seg, now, &s);
            stats.acks += 1;
            match verdict {
                AckVerdict::FastRetransmit => stats.fast_retransmits += 1,
                AckVerdict::PartialAck => stats.partial_acks += 1,
                _ => {}
            }
            if verdict.retransmits() {
                obs.send(&t, now, true);
                if let Some(seg) = t.retransmit_first(now) {
                    to_peer.push_back((seg.seq, seg.len));
                }
            }
        }
    }
    stats.delivered = rcv.bytes_since(cfg.iss + 1);
    stats
}
