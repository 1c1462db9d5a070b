//! RFC 6298's retransmission timeout for one connection, in the integer form
//! the RTL computes (docs/tx.md, "Timers"): SRTT scaled by 8 and RTTVAR by 4,
//! so every update is shifts and adds. Times are the engine's microseconds.
//!
//! One event at a time, as the RTL block `hdl/src/tx/rtt.rs` takes them:
//! a segment sent ([`RttEstimator::on_send`]), an ACK of new data
//! ([`RttEstimator::on_ack`]) or the retransmission timer firing
//! ([`RttEstimator::on_timeout`]).
//!
//! With timestamps (RFC 7323 §4) a retransmission no longer cancels the
//! measurement: the segment is still timed, but its ACK is measured by the
//! TSval it echoes instead of the send time (docs/tx.md, "Timers").
use crate::wire::SeqNum;

/// RFC 6298 §2.1: the RTO before any sample.
pub const INITIAL_RTO_US: u32 = 1_000_000;
/// RFC 6298 §2.4: RTO values below this are rounded up to it.
pub const DEFAULT_RTO_MIN_US: u32 = 1_000_000;
/// RFC 6298 §2.5: the upper bound, at least 60 s.
pub const DEFAULT_RTO_MAX_US: u32 = 60_000_000;
/// The engine scans its timers every 1024 us: the clock granularity G.
pub const TIMER_GRANULARITY_US: u32 = 1024;
/// One timestamp tick (TS_CLOCK, RFC 7323 §5.4) in microseconds.
pub const TS_TICK_US: u32 = 1024;
/// Largest RTO_MAX the scaled integers fit: samples are clamped to RTO_MAX,
/// so `srtt8 <= 8 * RTO_MAX` must fit 32 bits with room for the sums.
pub const RTO_MAX_LIMIT_US: u32 = 1 << 28;

/// The timer settings (registers of the TX engine once it is wired).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtoSettings {
    /// RTO floor (RFC 6298 §2.4 says 1 s; a lab may lower it).
    pub rto_min_us: u32,
    /// RTO ceiling (RFC 6298 §2.5); at most [`RTO_MAX_LIMIT_US`].
    pub rto_max_us: u32,
    /// Clock granularity G of RFC 6298 §2.
    pub granularity_us: u32,
}

impl Default for RtoSettings {
    fn default() -> Self {
        RtoSettings {
            rto_min_us: DEFAULT_RTO_MIN_US,
            rto_max_us: DEFAULT_RTO_MAX_US,
            granularity_us: TIMER_GRANULARITY_US,
        }
    }
}

/// What [`RttEstimator::on_ack`] measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RttSample {
    /// The ACK covered the timed segment: this RTT (clamped to RTO_MAX) was
    /// folded into SRTT/RTTVAR and the RTO recomputed.
    Taken(u32),
    /// No segment was being timed, or the ACK did not reach it.
    None,
}

/// One connection's RTT estimate and RTO.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RttEstimator {
    /// 8 × SRTT in microseconds; meaningful once `measured`.
    pub srtt8: u32,
    /// 4 × RTTVAR in microseconds; meaningful once `measured`.
    pub rttvar4: u32,
    /// The current RTO; always within [rto_min, rto_max] after the first
    /// sample, [`INITIAL_RTO_US`] before it (doubled by back-offs).
    pub rto_us: u32,
    /// At least one sample was taken (RFC 6298 §2.2 versus §2.3).
    pub measured: bool,
    /// A segment is being timed (one at a time).
    pub timing: bool,
    /// First sequence number of the timed segment: an ACK after it ends the
    /// measurement.
    pub rtt_seq: SeqNum,
    /// NOW_US when the timed segment was sent.
    pub rtt_start_us: u32,
    /// A retransmission went out while timing with timestamps on: the send
    /// time no longer tells which copy the ACK answers, so the sample is the
    /// echoed TSval's age instead (RFC 7323 §4.1).
    pub by_echo: bool,
}

impl Default for RttEstimator {
    fn default() -> Self {
        RttEstimator {
            srtt8: 0,
            rttvar4: 0,
            rto_us: INITIAL_RTO_US,
            measured: false,
            timing: false,
            rtt_seq: SeqNum(0),
            rtt_start_us: 0,
            by_echo: false,
        }
    }
}

impl RttEstimator {
    /// A segment starting at `seq` left at `now_us`. Without timestamps
    /// (`ts_ok` false) a retransmission cancels the measurement under way and
    /// is never timed itself (Karn's rule, RFC 6298 §3). With them the
    /// echoed TSval says which copy an ACK answers (RFC 7323 §4.1), so a
    /// retransmission keeps the measurement, or starts one, and marks it to
    /// be measured by the echo. New data starts a measurement when none runs.
    pub fn on_send(&mut self, seq: SeqNum, retransmission: bool, now_us: u32, ts_ok: bool) {
        if retransmission && !ts_ok {
            self.timing = false;
            return;
        }
        if !self.timing {
            self.timing = true;
            self.rtt_seq = seq;
            self.rtt_start_us = now_us;
            self.by_echo = false;
        }
        if retransmission {
            self.by_echo = true;
        }
    }

    /// An ACK of new data, `ack`, arrived at `now_us`. If it covers the
    /// timed segment the RTT is sampled (RFC 6298 §2.2 / §2.3) and the RTO
    /// recomputed, which also undoes any back-off (§5.7's note: the backed-off
    /// RTO holds until a new sample).
    ///
    /// `echo_age` is the age in TS ticks of the TSval the ACK echoes (the
    /// connection's TSval now minus the segment's TSecr), `None` when the ACK
    /// carries no Timestamps option. It is the sample when the measurement is
    /// [`RttEstimator::by_echo`]; an echo older than the measurement itself
    /// (by more than the tick it may straddle) answers no copy this
    /// measurement timed, or is garbage (a TSecr of 0), and gives no sample.
    pub fn on_ack(&mut self, ack: SeqNum, now_us: u32, echo_age: Option<u32>, s: &RtoSettings) -> RttSample {
        if !(self.timing && self.rtt_seq.before(ack)) {
            return RttSample::None;
        }
        let elapsed = now_us.wrapping_sub(self.rtt_start_us);
        let r = if self.by_echo {
            match echo_age {
                Some(age) if age <= (elapsed >> 10) + 1 => (u64::from(age) * u64::from(TS_TICK_US)).min(u64::from(s.rto_max_us)) as u32,
                _ => {
                    self.timing = false;
                    return RttSample::None;
                }
            }
        } else {
            elapsed.min(s.rto_max_us)
        };
        if self.measured {
            // §2.3: RTTVAR first, with the SRTT before this sample.
            let srtt = self.srtt8 >> 3;
            let d = r.abs_diff(srtt);
            self.rttvar4 = self.rttvar4 - (self.rttvar4 >> 2) + d;
            self.srtt8 = self.srtt8 - (self.srtt8 >> 3) + r;
        } else {
            // §2.2: SRTT = R, RTTVAR = R / 2.
            self.srtt8 = r << 3;
            self.rttvar4 = r << 1;
            self.measured = true;
        }
        self.timing = false;
        self.rto_us = self.computed_rto(s);
        RttSample::Taken(r)
    }

    /// The retransmission (or persist) timer fired: RFC 6298 §5.5 doubles the
    /// RTO up to RTO_MAX; the segment about to be retransmitted must not be
    /// timed (Karn), so the measurement stops.
    pub fn on_timeout(&mut self, s: &RtoSettings) {
        self.rto_us = self.rto_us.saturating_mul(2).min(s.rto_max_us);
        self.timing = false;
        self.by_echo = false;
    }

    /// RFC 6298 §2.2–§2.5: SRTT + max(G, K·RTTVAR) with K = 4 (which is
    /// `rttvar4` itself), clamped to [RTO_MIN, RTO_MAX]; the ceiling first,
    /// so a floor set above the ceiling wins, as the RTL does.
    fn computed_rto(&self, s: &RtoSettings) -> u32 {
        let raw = (self.srtt8 >> 3) + s.granularity_us.max(self.rttvar4);
        raw.min(s.rto_max_us).max(s.rto_min_us)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: RtoSettings = RtoSettings {
        rto_min_us: DEFAULT_RTO_MIN_US,
        rto_max_us: DEFAULT_RTO_MAX_US,
        granularity_us: TIMER_GRANULARITY_US,
    };
    /// A floor low enough that the SRTT/RTTVAR arithmetic shows in the RTO.
    const LOW_FLOOR: RtoSettings = RtoSettings { rto_min_us: 1, ..S };

    fn timed(seq: u32, at: u32) -> RttEstimator {
        let mut e = RttEstimator::default();
        e.on_send(SeqNum(seq), false, at, false);
        e
    }

    /// RFC 6298 §2.1: until a measurement is made the RTO is 1 second.
    #[test]
    fn rto_is_one_second_before_any_sample() {
        assert_eq!(RttEstimator::default().rto_us, 1_000_000);
    }

    /// RFC 6298 §2.2: the first sample R sets SRTT = R, RTTVAR = R/2 and
    /// RTO = SRTT + max(G, 4·RTTVAR).
    #[test]
    fn first_sample_sets_srtt_to_r_and_rttvar_to_half_r() {
        let mut e = timed(100, 5_000);
        assert_eq!(e.on_ack(SeqNum(200), 5_000 + 40_000, None, &LOW_FLOOR), RttSample::Taken(40_000));
        assert_eq!((e.srtt8 >> 3, e.rttvar4 >> 2), (40_000, 20_000));
        assert_eq!(e.rto_us, 40_000 + 4 * 20_000);
    }

    /// RFC 6298 §2.3: RTTVAR = 3/4 RTTVAR + 1/4 |SRTT − R'| with the old
    /// SRTT, then SRTT = 7/8 SRTT + 1/8 R'.
    #[test]
    fn later_samples_smooth_with_alpha_one_eighth_and_beta_one_quarter() {
        let mut e = timed(0, 0);
        e.on_ack(SeqNum(10), 80_000, None, &LOW_FLOOR);
        e.on_send(SeqNum(10), false, 100_000, false);
        assert_eq!(e.on_ack(SeqNum(20), 100_000 + 16_000, None, &LOW_FLOOR), RttSample::Taken(16_000));
        // RTTVAR = 3/4 · 40000 + 1/4 · |80000 − 16000| = 46000; SRTT = 7/8 · 80000 + 1/8 · 16000 = 72000.
        assert_eq!((e.srtt8 >> 3, e.rttvar4 >> 2), (72_000, 46_000));
        assert_eq!(e.rto_us, 72_000 + 4 * 46_000);
    }

    /// RFC 6298 §2 (G): when 4·RTTVAR is below the clock granularity the
    /// granularity is added instead.
    #[test]
    fn granularity_bounds_the_variance_term() {
        let mut e = timed(0, 0);
        e.on_ack(SeqNum(1), 1_000, None, &LOW_FLOOR);
        for k in 0..40u32 {
            e.on_send(SeqNum(k + 1), false, k * 10_000, false);
            e.on_ack(SeqNum(k + 2), k * 10_000 + 1_000, None, &LOW_FLOOR);
        }
        assert!(e.rttvar4 < TIMER_GRANULARITY_US);
        assert_eq!(e.rto_us, (e.srtt8 >> 3) + TIMER_GRANULARITY_US);
    }

    /// RFC 6298 §2.4: an RTO below the floor is rounded up to it (1 s by
    /// default, a setting here).
    #[test]
    fn rto_is_rounded_up_to_the_floor() {
        let mut e = timed(0, 0);
        e.on_ack(SeqNum(1), 2_000, None, &S);
        assert_eq!(e.rto_us, 1_000_000);
        let floor_200ms = RtoSettings { rto_min_us: 200_000, ..S };
        let mut e = timed(0, 0);
        e.on_ack(SeqNum(1), 2_000, None, &floor_200ms);
        assert_eq!(e.rto_us, 200_000);
    }

    /// RFC 6298 §2.5: a maximum may be placed on RTO provided it is at least
    /// 60 seconds; samples above it are clamped so the integers cannot overflow.
    #[test]
    fn rto_and_samples_are_capped_at_the_maximum() {
        let mut e = timed(0, 0);
        assert_eq!(e.on_ack(SeqNum(1), 200_000_000, None, &S), RttSample::Taken(DEFAULT_RTO_MAX_US));
        assert_eq!(e.rto_us, DEFAULT_RTO_MAX_US);
    }

    /// RFC 6298 §3 (Karn): a retransmission cancels the measurement, and an
    /// ACK after it yields no sample.
    #[test]
    fn karn_no_sample_across_a_retransmission() {
        let mut e = timed(0, 0);
        e.on_send(SeqNum(0), true, 1_000_000, false);
        assert_eq!(e.on_ack(SeqNum(100), 1_010_000, None, &S), RttSample::None);
        assert!(!e.measured);
        // The retransmitted segment itself is never timed.
        e.on_send(SeqNum(0), true, 2_000_000, false);
        assert!(!e.timing);
    }

    /// RFC 6298 §3: one segment at a time — a second send while timing does
    /// not restart the measurement, and only an ACK past the timed
    /// segment's first byte ends it.
    #[test]
    fn only_one_segment_is_timed_and_only_its_ack_ends_it() {
        let mut e = timed(1000, 10);
        e.on_send(SeqNum(2000), false, 500, false);
        assert_eq!(e.rtt_start_us, 10);
        assert_eq!(e.on_ack(SeqNum(1000), 600, None, &S), RttSample::None);
        assert!(e.timing);
        assert_eq!(e.on_ack(SeqNum(1001), 700, None, &LOW_FLOOR), RttSample::Taken(690));
    }

    /// RFC 6298 §5.5: on expiry the RTO doubles, up to the maximum, and the
    /// backed-off value holds until the next sample recomputes it.
    #[test]
    fn timeout_doubles_the_rto_up_to_the_maximum() {
        let mut e = RttEstimator::default();
        let mut want = 1_000_000u32;
        for _ in 0..8 {
            e.on_timeout(&S);
            want = (want * 2).min(DEFAULT_RTO_MAX_US);
            assert_eq!(e.rto_us, want);
        }
        assert_eq!(e.rto_us, DEFAULT_RTO_MAX_US);
        e.on_send(SeqNum(5), false, 0, false);
        e.on_ack(SeqNum(6), 50_000, None, &LOW_FLOOR);
        assert_eq!(e.rto_us, 50_000 + 4 * 25_000);
    }

    /// RFC 1982 / RFC 9293 §3.4: the timed segment's ACK is recognised across
    /// the sequence-number wrap, and the elapsed time across the clock's wrap.
    #[test]
    fn sample_across_sequence_and_clock_wraps() {
        let mut e = timed(0xFFFF_FFF0, 0xFFFF_FF00);
        assert_eq!(e.on_ack(SeqNum(0x10), 0x100, None, &LOW_FLOOR), RttSample::Taken(0x200));
    }

    /// RFC 7323 §4.1: with timestamps a retransmission keeps the measurement
    /// and its ACK is measured by the echoed TSval's age, in 1024-us ticks.
    #[test]
    fn with_timestamps_a_retransmission_is_measured_by_the_echo() {
        let mut e = RttEstimator::default();
        e.on_send(SeqNum(0), false, 0, true);
        e.on_send(SeqNum(0), true, 300_000, true);
        assert!(e.timing && e.by_echo, "the retransmission keeps the measurement");
        // The ACK answers the retransmission: it echoes a TSval 40 ticks old.
        assert_eq!(e.on_ack(SeqNum(100), 341_000, Some(40), &LOW_FLOOR), RttSample::Taken(40 * 1024));
        assert_eq!(e.srtt8 >> 3, 40 * 1024);
        // After a timeout (which cancels the measurement) the retransmission starts one.
        e.on_timeout(&S);
        e.on_send(SeqNum(100), true, 400_000, true);
        assert!(e.timing && e.by_echo && e.rtt_seq == SeqNum(100));
        assert_eq!(e.on_ack(SeqNum(200), 420_000, Some(20), &LOW_FLOOR), RttSample::Taken(20 * 1024));
        // New data after it is timed by the clock again.
        e.on_send(SeqNum(200), false, 500_000, true);
        assert!(e.timing && !e.by_echo);
        assert_eq!(e.on_ack(SeqNum(300), 500_700, Some(0), &LOW_FLOOR), RttSample::Taken(700));
    }

    /// An echo is trusted only if it is no older than the measurement (plus
    /// the tick it may straddle): a missing option, a TSecr from the future
    /// or a garbage one (far in the past, such as 0) ends the measurement
    /// without a sample instead of inflating the RTO.
    #[test]
    fn an_echo_older_than_the_measurement_or_missing_gives_no_sample() {
        for echo in [None, Some(u32::MAX), Some(0x8000_0000), Some(12)] {
            let mut e = RttEstimator::default();
            e.on_send(SeqNum(0), true, 1_000_000, true);
            // 10 ms since the retransmission: at most 10 + 1 ticks of echo age.
            assert_eq!(e.on_ack(SeqNum(1), 1_010_000, echo, &LOW_FLOOR), RttSample::None, "echo age {echo:?}");
            assert!(!e.timing && !e.measured);
        }
        let mut e = RttEstimator::default();
        e.on_send(SeqNum(0), true, 1_000_000, true);
        assert_eq!(e.on_ack(SeqNum(1), 1_010_000, Some(10), &LOW_FLOOR), RttSample::Taken(10 * 1024));
    }

    /// The echo's sample is clamped to RTO_MAX like the clock's.
    #[test]
    fn an_echo_sample_is_capped_at_the_maximum() {
        let mut e = RttEstimator::default();
        e.on_send(SeqNum(0), true, 0, true);
        let age = 100_000_000 / 1024;
        assert_eq!(e.on_ack(SeqNum(1), 100_000_000, Some(age), &S), RttSample::Taken(DEFAULT_RTO_MAX_US));
    }
}
