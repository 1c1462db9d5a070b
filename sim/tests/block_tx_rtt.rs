//! The Verilated `tx_rtt` block (RFC 6298 RTT estimator and RTO) against the
//! reference model's `RttEstimator`, one event per transaction: every output
//! field after every event. Two input sources, both seeded: arbitrary states
//! and events anywhere in their ranges (wraps, clamps, a floor above the
//! ceiling), and one connection's estimator living through a long run of
//! sends, ACKs and timeouts with realistic RTTs.
use holdback_sim::model::{Model, PortId};
use holdback_sim::refmodel::tx::{RtoSettings, RttEstimator, RttSample};
use holdback_sim::wire::SeqNum;
use rand::{rngs::SmallRng, Rng, SeedableRng};

/// `event_kind` codes (hdl/src/tx/rtt.rs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Event {
    None,
    Send { seq: SeqNum, retransmission: bool },
    Ack(SeqNum),
    Timeout,
}

struct Dut {
    m: Model,
    ins: [PortId; 14],
    outs: [PortId; 9],
}

const IN_NAMES: [&str; 14] = [
    "srtt8", "rttvar4", "rto_us", "measured", "timing", "rtt_seq", "rtt_start_us", "event_kind", "seq",
    "retransmission", "now_us", "rto_min_us", "rto_max_us", "granularity_us",
];
const OUT_NAMES: [&str; 9] = [
    "new_srtt8", "new_rttvar4", "new_rto_us", "new_measured", "new_timing", "new_rtt_seq", "new_rtt_start_us",
    "sampled", "sample_us",
];

impl Dut {
    fn new() -> Dut {
        let m = Model::new("tx_rtt").expect("tx_rtt is built");
        let port = |n: &str| m.port(n).unwrap_or_else(|e| panic!("{e}"));
        Dut { ins: IN_NAMES.map(port), outs: OUT_NAMES.map(port), m }
    }

    /// Apply one event to `e` in the RTL; returns the new state and the sample.
    fn step(&mut self, e: &RttEstimator, ev: Event, now: u32, s: &RtoSettings) -> (RttEstimator, RttSample) {
        let (code, seq, rtx) = match ev {
            Event::None => (0, 0, false),
            Event::Send { seq, retransmission } => (1, seq.0, retransmission),
            Event::Ack(a) => (2, a.0, false),
            Event::Timeout => (3, 0, false),
        };
        let values: [u64; 14] = [
            e.srtt8.into(),
            e.rttvar4.into(),
            e.rto_us.into(),
            e.measured.into(),
            e.timing.into(),
            e.rtt_seq.0.into(),
            e.rtt_start_us.into(),
            code,
            seq.into(),
            rtx.into(),
            now.into(),
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
        };
        let sample = if o[7] == 1 { RttSample::Taken(o[8] as u32) } else { RttSample::None };
        (next, sample)
    }
}

/// The model's answer to the same event.
fn model_step(e: &RttEstimator, ev: Event, now: u32, s: &RtoSettings) -> (RttEstimator, RttSample) {
    let mut m = *e;
    let sample = match ev {
        Event::None => RttSample::None,
        Event::Send { seq, retransmission } => {
            m.on_send(seq, retransmission, now);
            RttSample::None
        }
        Event::Ack(a) => m.on_ack(a, now, s),
        Event::Timeout => {
            m.on_timeout(s);
            RttSample::None
        }
    };
    (m, sample)
}

fn check(dut: &mut Dut, e: &RttEstimator, ev: Event, now: u32, s: &RtoSettings, what: &str) -> RttEstimator {
    let want = model_step(e, ev, now, s);
    let got = dut.step(e, ev, now, s);
    assert_eq!(got, want, "{what}: state {e:?}, event {ev:?}, now {now}, settings {s:?}");
    want.0
}

#[test]
fn tx_rtt_matches_the_model_on_arbitrary_states_and_events() {
    let seed = holdback_sim::test_seed(0x7e_5277);
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut dut = Dut::new();
    let mut sampled = 0;
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
        };
        // Near the start mostly (short and long RTTs), sometimes anywhere (a wrap).
        let now = if rng.gen_bool(0.9) { e.rtt_start_us.wrapping_add(rng.gen_range(0..1u32 << 27)) } else { rng.gen() };
        let near = |rng: &mut SmallRng, base: SeqNum| base + rng.gen_range(0..=200_000u32).wrapping_sub(100_000);
        let ev = match rng.gen_range(0..4) {
            0 => Event::None,
            1 => Event::Send { seq: near(&mut rng, e.rtt_seq), retransmission: rng.gen() },
            2 => Event::Ack(near(&mut rng, e.rtt_seq)),
            _ => Event::Timeout,
        };
        let after = check(&mut dut, &e, ev, now, &s, &format!("vector {i}"));
        sampled += usize::from(after.measured && matches!(ev, Event::Ack(_)) && !after.timing && e.timing);
    }
    assert!(sampled > 20_000, "only {sampled} vectors took a sample");
}

#[test]
fn tx_rtt_matches_the_model_over_a_connection_lifetime() {
    let seed = holdback_sim::test_seed(0x7e_5278);
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut dut = Dut::new();
    let s = RtoSettings { rto_min_us: 200_000, ..RtoSettings::default() };
    let mut e = RttEstimator::default();
    // Sequence and clock start just below their wraps.
    let mut seq = SeqNum(0xFFFF_0000);
    let mut una = seq;
    let mut now: u32 = 0xFFF0_0000;
    let mut base_rtt = 20_000u32;
    let (mut samples, mut timeouts) = (0, 0);
    for step in 0..100_000 {
        if step % 5_000 == 0 {
            // A new path: the RTT jumps.
            base_rtt = rng.gen_range(100..2_000_000);
        }
        now = now.wrapping_add(rng.gen_range(0..base_rtt / 4 + 1));
        let ev = match rng.gen_range(0..100) {
            0..=44 => {
                let len = rng.gen_range(1..1461);
                let ev = Event::Send { seq, retransmission: false };
                seq += len;
                ev
            }
            45..=49 => Event::Send { seq: una, retransmission: true },
            50..=94 => {
                // The peer acknowledges some of what is outstanding, an RTT later.
                now = now.wrapping_add(base_rtt / 2 + rng.gen_range(0..base_rtt / 2 + 1));
                una = una + rng.gen_range(0..=seq.bytes_since(una));
                Event::Ack(una)
            }
            95..=97 => {
                timeouts += 1;
                Event::Timeout
            }
            _ => Event::None,
        };
        let before = e;
        e = check(&mut dut, &e, ev, now, &s, &format!("step {step}"));
        if e.measured && before.timing && !e.timing && matches!(ev, Event::Ack(_)) {
            samples += 1;
        }
        assert!(e.rto_us >= s.rto_min_us && e.rto_us <= s.rto_max_us || !e.measured, "RTO {} out of bounds", e.rto_us);
    }
    assert!(samples > 10_000 && timeouts > 1_000, "samples {samples}, timeouts {timeouts}");
}
