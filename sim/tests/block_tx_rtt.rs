//! The Verilated `tx_rtt` block (RFC 6298 RTT estimator and RTO) against the
//! reference model's `RttEstimator`, one event per transaction: every output
//! field after every event. Two input sources, both seeded: arbitrary states
//! and events anywhere in their ranges (wraps, clamps, a floor above the
//! ceiling), and one connection's estimator living through a long run of
//! sends, ACKs and timeouts with realistic RTTs. Both with and without
//! timestamps: with them a retransmission is measured by the echoed TSval
//! (RFC 7323 §4.1), and the ACKs carry echoes fair, missing and garbage.
use holdback_sim::model::{Model, PortId};
use holdback_sim::refmodel::tx::{RtoSettings, RttEstimator, RttSample};
use holdback_sim::wire::SeqNum;
use rand::{rngs::SmallRng, Rng, SeedableRng};

/// `event_kind` codes (hdl/src/tx/rtt.rs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Event {
    None,
    Send { seq: SeqNum, retransmission: bool, ts_ok: bool },
    /// The ACK, and the age in ticks of the TSval it echoes (`None`: no option).
    Ack(SeqNum, Option<u32>),
    Timeout,
}

struct Dut {
    m: Model,
    ins: [PortId; 18],
    outs: [PortId; 10],
}

const IN_NAMES: [&str; 18] = [
    "srtt8", "rttvar4", "rto_us", "measured", "timing", "rtt_seq", "rtt_start_us", "by_echo", "event_kind", "seq",
    "retransmission", "now_us", "ts_ok", "echo_ok", "echo_age", "rto_min_us", "rto_max_us", "granularity_us",
];
const OUT_NAMES: [&str; 10] = [
    "new_srtt8", "new_rttvar4", "new_rto_us", "new_measured", "new_timing", "new_rtt_seq", "new_rtt_start_us",
    "new_by_echo", "sampled", "sample_us",
];

impl Dut {
    fn new() -> Dut {
        let m = Model::new("tx_rtt").expect("tx_rtt is built");
        let port = |n: &str| m.port(n).unwrap_or_else(|e| panic!("{e}"));
        Dut { ins: IN_NAMES.map(port), outs: OUT_NAMES.map(port), m }
    }

    /// Apply one event to `e` in the RTL; returns the new state and the sample.
    fn step(&mut self, e: &RttEstimator, ev: Event, now: u32, s: &RtoSettings) -> (RttEstimator, RttSample) {
        let (code, seq, rtx, ts_ok, echo) = match ev {
            Event::None => (0, 0, false, false, None),
            Event::Send { seq, retransmission, ts_ok } => (1, seq.0, retransmission, ts_ok, None),
            Event::Ack(a, echo) => (2, a.0, false, false, echo),
            Event::Timeout => (3, 0, false, false, None),
        };
        let values: [u64; 18] = [
            e.srtt8.into(),
            e.rttvar4.into(),
            e.rto_us.into(),
            e.measured.into(),
            e.timing.into(),
            e.rtt_seq.0.into(),
            e.rtt_start_us.into(),
            e.by_echo.into(),
            code,
            seq.into(),
            rtx.into(),
            now.into(),
            ts_ok.into(),
            echo.is_some().into(),
            echo.unwrap_or(0).into(),
            s.rto_min_us.into(),
            s.rto_max_us.into(),
            s.granularity_us.into(),
        ];
        for (p, v) in self.ins.iter().zip(values) {
            self.m.set(*p, v);
        }
        self.m.cycle();
        let o: Vec<u64> = self.outs.iter().map(|p| self.m.get(*p)).collect();
        let next = RttEstimator {
            srtt8: o[0] as u32,
            rttvar4: o[1] as u32,
            rto_us: o[2] as u32,
            measured: o[3] == 1,
            timing: o[4] == 1,
            rtt_seq: SeqNum(o[5] as u32),
            rtt_start_us: o[6] as u32,
            by_echo: o[7] == 1,
        };
        let sample = if o[8] == 1 { RttSample::Taken(o[9] as u32) } else { RttSample::None };
        (next, sample)
    }
}

/// The model's answer to the same event.
fn model_step(e: &RttEstimator, ev: Event, now: u32, s: &RtoSettings) -> (RttEstimator, RttSample) {
    let mut m = *e;
    let sample = match ev {
        Event::None => RttSample::None,
        Event::Send { seq, retransmission, ts_ok } => {
            m.on_send(seq, retransmission, now, ts_ok);
            RttSample::None
        }
        Event::Ack(a, echo) => m.on_ack(a, now, echo, s),
        Event::Timeout => {
            m.on_timeout(s);
            RttSample::None
        }
    };
    (m, sample)
}

fn check(dut: &mut Dut, e: &RttEstimator, ev: Event, now: u32, s: &RtoSettings, what: &str) -> (RttEstimator, RttSample) {
    let want = model_step(e, ev, now, s);
    let got = dut.step(e, ev, now, s);
    assert_eq!(got, want, "{what}: state {e:?}, event {ev:?}, now {now}, settings {s:?}");
    want
}

#[test]
fn tx_rtt_matches_the_model_on_arbitrary_states_and_events() {
    let seed = holdback_sim::test_seed(0x7e_5277);
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut dut = Dut::new();
    let (mut sampled, mut sampled_by_echo) = (0, 0);
    for i in 0..200_000 {
        let rto_max = rng.gen_range(1..=1u32 << 28);
        let s = RtoSettings {
            // Mostly a floor below the ceiling; sometimes above it.
            rto_min_us: if rng.gen_bool(0.9) { rng.gen_range(0..=rto_max) } else { rng.gen_range(0..=1u32 << 28) },
            rto_max_us: rto_max,
            granularity_us: rng.gen_range(0..=1u32 << 16),
        };
        let e = RttEstimator {
            srtt8: rng.gen_range(0..1u32 << 29),
            rttvar4: rng.gen_range(0..1u32 << 28),
            rto_us: rng.gen_range(1..=1u32 << 28),
            measured: rng.gen(),
            timing: rng.gen_bool(0.8),
            rtt_seq: SeqNum(rng.gen()),
            rtt_start_us: rng.gen(),
            by_echo: rng.gen(),
        };
        // Near the start mostly (short and long RTTs), sometimes anywhere (a wrap).
        let now = if rng.gen_bool(0.9) { e.rtt_start_us.wrapping_add(rng.gen_range(0..1u32 << 27)) } else { rng.gen() };
        let near = |rng: &mut SmallRng, base: SeqNum| base + rng.gen_range(0..=200_000u32).wrapping_sub(100_000);
        // An echo no older than the measurement mostly, sometimes anything.
        let elapsed_ticks = now.wrapping_sub(e.rtt_start_us) >> 10;
        let echo = match rng.gen_range(0..10) {
            0 => None,
            1 => Some(rng.gen()),
            2 => Some(elapsed_ticks + rng.gen_range(0..=2)),
            _ => Some(rng.gen_range(0..=elapsed_ticks + 1)),
        };
        let ev = match rng.gen_range(0..4) {
            0 => Event::None,
            1 => Event::Send { seq: near(&mut rng, e.rtt_seq), retransmission: rng.gen(), ts_ok: rng.gen() },
            2 => Event::Ack(near(&mut rng, e.rtt_seq), echo),
            _ => Event::Timeout,
        };
        let (_, sample) = check(&mut dut, &e, ev, now, &s, &format!("vector {i}"));
        let took = matches!(sample, RttSample::Taken(_));
        sampled += usize::from(took);
        sampled_by_echo += usize::from(took && e.by_echo);
    }
    assert!(sampled_by_echo > 5_000, "only {sampled_by_echo} vectors took a sample from the echo");
    assert!(sampled > 15_000, "only {sampled} vectors took a sample");
}

#[test]
fn tx_rtt_matches_the_model_over_a_connection_lifetime() {
    lifetime(holdback_sim::test_seed(0x7e_5278), false);
}

#[test]
fn tx_rtt_matches_the_model_over_a_connection_lifetime_with_timestamps() {
    lifetime(holdback_sim::test_seed(0x7e_5279), true);
}

fn lifetime(seed: u64, ts_ok: bool) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut dut = Dut::new();
    let s = RtoSettings { rto_min_us: 200_000, ..RtoSettings::default() };
    let mut e = RttEstimator::default();
    // Sequence and clock start just below their wraps.
    let mut seq = SeqNum(0xFFFF_0000);
    let mut una = seq;
    let mut now: u32 = 0xFFF0_0000;
    let mut base_rtt = 20_000u32;
    let (mut samples, mut timeouts, mut echo_samples) = (0, 0, 0);
    for step in 0..100_000 {
        if step % 5_000 == 0 {
            // A new path: the RTT jumps.
            base_rtt = rng.gen_range(100..2_000_000);
        }
        now = now.wrapping_add(rng.gen_range(0..base_rtt / 4 + 1));
        let ev = match rng.gen_range(0..100) {
            0..=44 => {
                let len = rng.gen_range(1..1461);
                let ev = Event::Send { seq, retransmission: false, ts_ok };
                seq += len;
                ev
            }
            45..=49 => Event::Send { seq: una, retransmission: true, ts_ok },
            50..=94 => {
                // The peer acknowledges some of what is outstanding, an RTT later.
                let delay = base_rtt / 2 + rng.gen_range(0..base_rtt / 2 + 1);
                now = now.wrapping_add(delay);
                una = una + rng.gen_range(0..=seq.bytes_since(una));
                // The echo is about as old as this round trip, now and then missing.
                let echo = (ts_ok && rng.gen_bool(0.95)).then_some(delay >> 10);
                Event::Ack(una, echo)
            }
            95..=97 => {
                timeouts += 1;
                Event::Timeout
            }
            _ => Event::None,
        };
        let before = e;
        let sample;
        (e, sample) = check(&mut dut, &e, ev, now, &s, &format!("step {step}"));
        if matches!(sample, RttSample::Taken(_)) {
            samples += 1;
            echo_samples += usize::from(before.by_echo);
        }
        assert!(e.rto_us >= s.rto_min_us && e.rto_us <= s.rto_max_us || !e.measured, "RTO {} out of bounds", e.rto_us);
    }
    assert!(samples > 10_000 && timeouts > 1_000, "samples {samples}, timeouts {timeouts}");
    if ts_ok {
        assert!(echo_samples > 1_000, "only {echo_samples} samples by the echo");
    } else {
        assert_eq!(echo_samples, 0, "without timestamps nothing is measured by an echo");
    }
}
