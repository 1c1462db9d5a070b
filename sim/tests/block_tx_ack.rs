//! The Verilated `tx_ack` block (the transmit side's ACK processor: window,
//! duplicate ACKs, RFC 5681 cwnd/ssthresh, RFC 6582 NewReno recovery, the
//! RFC 6298 timer) against the reference model's `TxTcb::ack_update`, one
//! ACK per transaction, every output field compared. Two seeded sources:
//! arbitrary states and segments (every verdict, the sequence wrap, cwnd at
//! its ceiling, saturating counts), and a whole connection
//! (`refmodel::tx_peer`): the model sends from its ring to a lossy peer whose
//! cumulative ACKs, duplicate ACKs, zero windows, timeouts and probes drive
//! the state through slow start, congestion avoidance, fast retransmit and
//! recovery.
use holdback_sim::model::{Model, PortId};
use holdback_sim::refmodel::tx::{AckSegment, AckVerdict, RtoSettings, TxTcb, TxTimer};
use holdback_sim::refmodel::tx_peer::{run_lossy_connection, RunConfig, TxObserver};
use holdback_sim::wire::SeqNum;
use rand::{rngs::SmallRng, Rng, SeedableRng};

/// The state the block reads (port `x`) and, except `smss`, rewrites
/// (port `new_x`), with the model's value of each.
fn state_ports(t: &TxTcb) -> [(&'static str, u64); 17] {
    [
        ("snd_una", t.snd_una.0.into()),
        ("snd_nxt", t.snd_nxt.0.into()),
        ("snd_max", t.snd_max.0.into()),
        ("snd_wnd", t.snd_wnd.into()),
        ("snd_wl1", t.snd_wl1.0.into()),
        ("snd_wl2", t.snd_wl2.0.into()),
        ("smss", t.smss.into()),
        ("cwnd", t.cwnd.into()),
        ("ssthresh", t.ssthresh.into()),
        ("bytes_acked", t.bytes_acked.into()),
        ("dupacks", t.dupacks.into()),
        ("recover", t.recover.0.into()),
        ("in_recovery", t.in_recovery.into()),
        ("partial_seen", t.partial_seen.into()),
        ("timer", timer_code(t.timer)),
        ("timer_due_us", t.timer_due_us.into()),
        ("retries", t.retries.into()),
    ]
}

/// Fields the block reads but never changes.
const READ_ONLY: [&str; 2] = ["snd_max", "smss"];

fn timer_code(t: TxTimer) -> u64 {
    match t {
        TxTimer::Off => 0,
        TxTimer::Retransmit => 1,
        TxTimer::Persist => 2,
    }
}

fn verdict_code(v: AckVerdict) -> u64 {
    match v {
        AckVerdict::TooNew => 0,
        AckVerdict::Old => 1,
        AckVerdict::NoProgress => 2,
        AckVerdict::Duplicate => 3,
        AckVerdict::FastRetransmit => 4,
        AckVerdict::NewData => 5,
        AckVerdict::PartialAck => 6,
        AckVerdict::FullAck => 7,
    }
}

struct Dut {
    m: Model,
    state_in: Vec<PortId>,
    /// `new_x` for every state field not in [`READ_ONLY`], by name.
    state_out: Vec<(&'static str, PortId)>,
    seg_in: [PortId; 6],
    verdict: PortId,
    retransmit: PortId,
    verdicts: [u64; 8],
}

impl Dut {
    fn new() -> Dut {
        let m = Model::new("tx_ack").expect("tx_ack is built");
        let port = |n: &str| m.port(n).unwrap_or_else(|e| panic!("{e}"));
        let names = state_ports(&TxTcb::established(SeqNum(0), 536, SeqNum(0), 0)).map(|(n, _)| n);
        Dut {
            state_in: names.iter().map(|n| port(n)).collect(),
            state_out: names.iter().filter(|n| !READ_ONLY.contains(n)).map(|n| (*n, port(&format!("new_{n}")))).collect(),
            seg_in: ["seg_seq", "seg_ack", "seg_wnd", "seg_occupies", "now_us", "rto_us"].map(port),
            verdict: port("verdict"),
            retransmit: port("retransmit"),
            m,
            verdicts: [0; 8],
        }
    }

    /// Score one ACK: the block's outputs against the model's; returns the
    /// model's verdict and state after it.
    fn check(&mut self, t: &TxTcb, seg: &AckSegment, now: u32, rto: u32, what: &str) -> (AckVerdict, TxTcb) {
        for (p, (_, v)) in self.state_in.iter().zip(state_ports(t)) {
            self.m.set(*p, v);
        }
        let seg_values = [seg.seq.0.into(), seg.ack.0.into(), seg.wnd.into(), seg.occupies.into(), now.into(), rto.into()];
        for (p, v) in self.seg_in.iter().zip(seg_values) {
            self.m.set(*p, v);
        }
        self.m.cycle();
        let mut after = t.clone();
        let v = after.ack_update(seg, now, rto);
        let ctx = || format!("(verdict {v:?})\nstate {t:?}\nsegment {seg:?} now {now} rto {rto}");
        assert_eq!(self.m.get(self.verdict), verdict_code(v), "{what}: verdict {}", ctx());
        assert_eq!(self.m.get(self.retransmit) == 1, v.retransmits(), "{what}: retransmit {}", ctx());
        let want = state_ports(&after);
        for (name, p) in &self.state_out {
            let model = want.iter().find(|(n, _)| n == name).map(|(_, v)| *v).expect("every output is a state field");
            let got = self.m.get(*p);
            assert_eq!(got, model, "{what}: new_{name} is {got:#x}, the model says {model:#x} {}", ctx());
        }
        // What the block does not output, the model must not change.
        for name in READ_ONLY {
            assert_eq!(want.iter().find(|(n, _)| *n == name), state_ports(t).iter().find(|(n, _)| *n == name), "{what}: the model changed {name}");
        }
        self.verdicts[verdict_code(v) as usize] += 1;
        (v, after)
    }
}

fn random_state(rng: &mut SmallRng) -> TxTcb {
    let una = SeqNum(if rng.gen_bool(0.3) { 0u32.wrapping_sub(rng.gen_range(0..100_000)) } else { rng.gen() });
    let flight = if rng.gen_bool(0.1) { 0 } else { rng.gen_range(0..1u32 << 20) };
    let max = una + flight;
    let nxt = una + rng.gen_range(0..=flight);
    let smss = rng.gen_range(1..=9000u16);
    let mut t = TxTcb::established(una - 1, smss, SeqNum(rng.gen()), rng.gen());
    t.snd_nxt = nxt;
    t.snd_max = max;
    t.snd_tail = max;
    t.snd_wl2 = una - rng.gen_range(0..1000u32);
    // cwnd anywhere up to past its ceiling, ssthresh above or below it.
    t.cwnd = rng.gen_range(u32::from(smss)..(1u32 << 24) + 70_000);
    t.ssthresh = rng.gen_range(2 * u32::from(smss)..1u32 << 25);
    t.bytes_acked = if rng.gen_bool(0.05) { u32::MAX - rng.gen_range(0..1000) } else { rng.gen_range(0..1u32 << 25) };
    // Often two duplicates already, so the third is common.
    t.dupacks = if rng.gen_bool(0.3) { 2 } else { rng.gen_range(0..=15) };
    t.recover = una + rng.gen_range(0..=200_000u32).wrapping_sub(100_000);
    t.in_recovery = rng.gen_bool(0.4);
    t.partial_seen = rng.gen();
    t.timer = [TxTimer::Off, TxTimer::Retransmit, TxTimer::Persist][rng.gen_range(0..3)];
    t.timer_due_us = rng.gen();
    t.retries = rng.gen_range(0..=15);
    t
}

fn random_segment(rng: &mut SmallRng, t: &TxTcb) -> AckSegment {
    let flight = t.flight_size();
    let ack = match rng.gen_range(0..10) {
        0..=2 => t.snd_una,
        3 => t.snd_max,
        4 => t.snd_max + rng.gen_range(1..100_000),
        5 => t.snd_una - rng.gen_range(1..100_000),
        6 => t.recover + rng.gen_range(0..3u32).wrapping_sub(1),
        7 => SeqNum(rng.gen()),
        _ => t.snd_una + rng.gen_range(0..=flight),
    };
    AckSegment {
        seq: t.snd_wl1 + rng.gen_range(0..=2000u32).wrapping_sub(1000),
        ack,
        wnd: match rng.gen_range(0..4) {
            0 | 1 => t.snd_wnd,
            2 => 0,
            _ => rng.gen(),
        },
        occupies: rng.gen_bool(0.2),
    }
}

#[test]
fn tx_ack_matches_the_model_on_arbitrary_states_and_segments() {
    let seed = holdback_sim::test_seed(0xac_0001);
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut dut = Dut::new();
    for i in 0..300_000 {
        let t = random_state(&mut rng);
        let seg = random_segment(&mut rng, &t);
        let now: u32 = rng.gen();
        let rto = rng.gen_range(1..1u32 << 28);
        dut.check(&t, &seg, now, rto, &format!("vector {i}"));
    }
    // Every verdict must have been seen many times, or the vectors miss a path.
    assert!(dut.verdicts.iter().all(|&n| n > 1000), "verdict counts {:?}", dut.verdicts);
}

/// The block's answer to every ACK of a whole connection
/// (`refmodel::tx_peer`): state just after the RTT sample, as the engine
/// will chain the two blocks.
struct AckScorer {
    dut: Dut,
    n: u64,
}

impl TxObserver for AckScorer {
    fn ack(&mut self, before: &TxTcb, seg: &AckSegment, now: u32, s: &RtoSettings) {
        let mut pre = before.clone();
        if pre.snd_una.before(seg.ack) && seg.ack.not_after(pre.snd_max) {
            pre.rtt.on_ack(seg.ack, now, None, s);
        }
        self.n += 1;
        let (_, after) = self.dut.check(&pre, seg, now, pre.rtt.rto_us, &format!("ACK {}", self.n));
        // The model's full path must agree with the part the block computes.
        let mut full = before.clone();
        full.on_ack(seg, now, s);
        assert_eq!(full, TxTcb { rtt: full.rtt, ..after }, "ACK {}: on_ack and ack_update disagree", self.n);
    }
}

#[test]
fn tx_ack_matches_the_model_over_a_lossy_connection() {
    let seed = holdback_sim::test_seed(0xac_0002);
    let mut scorer = AckScorer { dut: Dut::new(), n: 0 };
    let stats = run_lossy_connection(&RunConfig::default(), seed, &mut scorer);
    eprintln!("{stats:?}; verdicts {:?}", scorer.dut.verdicts);
    assert!(stats.delivered > 10_000_000, "only {} bytes got through", stats.delivered);
    assert!(
        stats.fast_retransmits > 50 && stats.partial_acks > 50 && stats.timeouts > 5 && stats.probes > 5,
        "too few recoveries to judge: {stats:?}"
    );
}

/// RFC 6582 §3.2 step 2 starts fast retransmit on the third duplicate ACK
/// only when the ACK is after `recover`, a serial comparison: a `recover`
/// that stayed at the ISS while a lossless connection sent 2 GiB would be
/// "after" the ACK and hold fast retransmit back. `recover` follows the ACKs
/// of new data (recover := ack - 1 when the ACK is after it), so after
/// 2.5 GiB without a loss the third duplicate ACK still retransmits.
#[test]
fn tx_ack_still_fast_retransmits_after_two_and_a_half_gib_without_a_loss() {
    const FLIGHT: u32 = 64 * 1024;
    let mut dut = Dut::new();
    let iss = SeqNum(0x1234_5678);
    let mut t = TxTcb::established(iss, 1460, SeqNum(1000), 65535);
    let (mut now, rto) = (0u32, 200_000u32);
    let mut sent: u64 = 0;
    while sent < 5 << 29 {
        // Send a window's worth, then the peer acknowledges all of it.
        t.snd_nxt = t.snd_una + FLIGHT;
        t.snd_max = t.snd_nxt;
        t.timer = TxTimer::Retransmit;
        now = now.wrapping_add(1000);
        let seg = AckSegment { seq: SeqNum(1000), ack: t.snd_max, wnd: 65535, occupies: false };
        let (v, after) = dut.check(&t, &seg, now, rto, &format!("ACK at {sent} B"));
        assert_eq!(v, AckVerdict::NewData, "at {sent} B");
        t = after;
        sent += u64::from(FLIGHT);
    }
    assert!(!t.recover.before(t.snd_una - 1), "recover {:?} fell behind snd_una {:?}", t.recover, t.snd_una);
    // One more flight, its first segment lost: three duplicate ACKs.
    t.snd_nxt = t.snd_una + FLIGHT;
    t.snd_max = t.snd_nxt;
    t.timer = TxTimer::Retransmit;
    let dup = AckSegment { seq: SeqNum(1000), ack: t.snd_una, wnd: 65535, occupies: false };
    let mut verdicts = Vec::new();
    for k in 0..3 {
        now = now.wrapping_add(100);
        let (v, after) = dut.check(&t, &dup, now, rto, &format!("duplicate ACK {k} after {sent} B"));
        verdicts.push(v);
        t = after;
    }
    assert_eq!(
        verdicts,
        [AckVerdict::Duplicate, AckVerdict::Duplicate, AckVerdict::FastRetransmit],
        "after {sent} B without a loss (recover {:?}, snd_una {:?})",
        t.recover,
        t.snd_una
    );
}
