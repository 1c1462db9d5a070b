//! The Verilated `tx_segmenter` block (what one connection sends next, and
//! the DMA reads that fetch it from the transmit ring) against the reference
//! model's `TxTcb::next_segment` / `retransmit_first` / `ring_reads`, one
//! decision per transaction, every output compared (the segment and its reads
//! when one is sent; the state always). Two seeded sources: arbitrary states
//! (zero and tiny windows, cwnd below SMSS, the sequence wrap, rings of 4 KiB
//! to 1 MiB, a tail behind snd_nxt) and every decision of a whole lossy
//! connection (`refmodel::tx_peer`).
use holdback_sim::model::{Model, PortId};
use holdback_sim::refmodel::sack_board::SackBoard;
use holdback_sim::refmodel::tx::{RtoSettings, Segment, TxTcb, TxTimer};
use holdback_sim::refmodel::tx_peer::{run_lossy_connection, RunConfig, TxObserver};
use holdback_sim::wire::SeqNum;
use rand::{rngs::SmallRng, Rng, SeedableRng};

const IN_NAMES: [&str; 19] = [
    "iss", "snd_una", "snd_nxt", "snd_max", "snd_tail", "snd_wnd", "cwnd", "smss", "timer", "timer_due_us", "rto_us",
    "now_us", "resend_first", "ring_base", "ring_mask", "rs_seq", "rs_ok", "cap", "nodelay",
];
const SEG_NAMES: [&str; 6] = ["seg_seq", "seg_len", "seg_retransmission", "rd0_addr", "rd0_len", "rd1_len"];
const STATE_NAMES: [&str; 4] = ["new_snd_nxt", "new_snd_max", "new_timer", "new_timer_due_us"];

/// What the engine's SACK store (`hdl/src/engine/sack_store.rs`) hands the
/// segmenter for this state (docs/sack-sender.md): snd_nxt past the SACKed
/// ranges in the walk below snd_max, where a resend starts and whether it
/// goes, and the cap at the next SACKed range.
struct StoreAnswers {
    walk_nxt: SeqNum,
    rs_seq: SeqNum,
    rs_ok: bool,
    cap: u32,
}

fn store_answers(t: &TxTcb, resend: bool) -> StoreAnswers {
    let una_before_rxt = t.snd_una.before(t.rxt_next);
    let walking = !resend && !t.board.ranges().is_empty() && t.snd_nxt.before(t.snd_max);
    let from = match (resend, una_before_rxt) {
        (true, true) => t.rxt_next,
        (true, false) => t.snd_una,
        (false, _) => t.snd_nxt,
    };
    let gap = t.board.gap(t.snd_una, from, t.smss);
    StoreAnswers {
        walk_nxt: if walking { gap.seq } else { t.snd_nxt },
        rs_seq: gap.seq,
        rs_ok: !una_before_rxt || gap.lost,
        cap: if walking || resend { gap.room.unwrap_or(u32::MAX) } else { u32::MAX },
    }
}

/// Up to four sorted, disjoint, non-touching ranges inside (una, una + flight).
fn random_board(rng: &mut SmallRng, una: SeqNum, flight: u32) -> SackBoard {
    let mut edges: Vec<u32> = (0..2 * rng.gen_range(1..=4)).map(|_| rng.gen_range(1..flight)).collect();
    edges.sort_unstable();
    edges.dedup();
    let ranges: Vec<(SeqNum, SeqNum)> =
        edges.chunks_exact(2).filter(|p| p[1] > p[0] + 1).map(|p| (una + p[0], una + p[1])).collect();
    // Touching ranges would be one on a real board: keep every other one if two touch.
    let mut kept: Vec<(SeqNum, SeqNum)> = Vec::new();
    for r in ranges {
        if kept.last().map_or(true, |last: &(SeqNum, SeqNum)| last.1.before(r.0)) {
            kept.push(r);
        }
    }
    SackBoard::from_ranges(&kept)
}

fn timer_code(t: TxTimer) -> u64 {
    match t {
        TxTimer::Off => 0,
        TxTimer::Retransmit => 1,
        TxTimer::Persist => 2,
    }
}

/// One decision's inputs besides the state.
#[derive(Clone, Copy, Debug)]
struct Ask {
    now: u32,
    resend_first: bool,
    ring_base: u64,
    ring_bytes: u32,
}

struct Dut {
    m: Model,
    ins: [PortId; 19],
    send: PortId,
    seg: [PortId; 6],
    state: [PortId; 4],
    sent: u64,
    persist_armed: u64,
    retransmissions: u64,
    wrapped_reads: u64,
    /// Segments the SACK cap shortened; resends that lapsed (nothing lost).
    capped: u64,
    lapsed: u64,
    /// Resends asked for with the tail before snd_max: they stop at the tail.
    resends_at_tail: u64,
}

impl Dut {
    fn new() -> Dut {
        let m = Model::new("tx_segmenter").expect("tx_segmenter is built");
        let port = |n: &str| m.port(n).unwrap_or_else(|e| panic!("{e}"));
        Dut {
            ins: IN_NAMES.map(port),
            send: port("send"),
            seg: SEG_NAMES.map(port),
            state: STATE_NAMES.map(port),
            m,
            sent: 0,
            persist_armed: 0,
            retransmissions: 0,
            wrapped_reads: 0,
            capped: 0,
            lapsed: 0,
            resends_at_tail: 0,
        }
    }

    fn check(&mut self, t: &TxTcb, ask: Ask, what: &str) {
        let store = store_answers(t, ask.resend_first);
        let values: [u64; 19] = [
            t.iss.0.into(),
            t.snd_una.0.into(),
            store.walk_nxt.0.into(),
            t.snd_max.0.into(),
            t.snd_tail.0.into(),
            t.window_bytes().into(),
            t.cwnd.into(),
            t.smss.into(),
            timer_code(t.timer),
            t.timer_due_us.into(),
            t.rtt.rto_us.into(),
            ask.now.into(),
            ask.resend_first.into(),
            ask.ring_base,
            u64::from(ask.ring_bytes - 1),
            store.rs_seq.0.into(),
            store.rs_ok.into(),
            store.cap.into(),
            t.nodelay.into(),
        ];
        for (p, v) in self.ins.iter().zip(values) {
            self.m.set(*p, v);
        }
        self.m.cycle();
        let mut after = t.clone();
        let seg: Option<Segment> =
            if ask.resend_first { after.retransmit_first(ask.now) } else { after.next_segment(ask.now) };
        let ctx = || format!("{what}: state {t:?}\nask {ask:?}, model {seg:?}");
        assert_eq!(self.m.get(self.send) == 1, seg.is_some(), "send: {}", ctx());
        if let Some(seg) = seg {
            let [(addr0, len0), (_, len1)] = after.ring_reads(&seg, ask.ring_base, ask.ring_bytes);
            let want = [seg.seq.0.into(), seg.len.into(), seg.retransmission.into(), addr0, len0.into(), len1.into()];
            for (i, p) in self.seg.iter().enumerate() {
                assert_eq!(self.m.get(*p), want[i], "{}: {}", SEG_NAMES[i], ctx());
            }
            self.sent += 1;
            self.retransmissions += u64::from(seg.retransmission);
            self.wrapped_reads += u64::from(len1 > 0);
            self.capped += u64::from(store.cap == seg.len && seg.len < u32::from(t.smss));
        }
        self.lapsed += u64::from(ask.resend_first && t.snd_una != t.snd_max && !store.rs_ok);
        self.resends_at_tail += u64::from(ask.resend_first && store.rs_ok && t.snd_tail.before(t.snd_max) && t.snd_una != t.snd_max);
        // With nothing sent the engine writes no snd_nxt back, and the block
        // echoes the one it was given (past the SACKed ranges in the walk).
        let nxt = if seg.is_some() { after.snd_nxt } else { store.walk_nxt };
        // A resend of snd_una restarts a running timer: the engine does that
        // (hdl/src/engine/fsm.rs, TxStaged), the block only starts one that is off.
        let engine_restarts = ask.resend_first
            && t.timer != TxTimer::Off
            && seg.is_some_and(|g| g.retransmission && g.seq == t.snd_una && t.snd_una != t.snd_max && t.retries == 0);
        let (timer, due) = if engine_restarts { (t.timer, t.timer_due_us) } else { (after.timer, after.timer_due_us) };
        let want = [nxt.0.into(), after.snd_max.0.into(), timer_code(timer), due.into()];
        for (i, p) in self.state.iter().enumerate() {
            assert_eq!(self.m.get(*p), want[i], "{}: {}", STATE_NAMES[i], ctx());
        }
        self.persist_armed += u64::from(t.timer != TxTimer::Persist && after.timer == TxTimer::Persist);
    }
}

#[test]
fn tx_segmenter_matches_the_model_on_arbitrary_states() {
    let seed = holdback_sim::test_seed(0x5e_6001);
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut dut = Dut::new();
    let mut sacked = 0;
    for i in 0..300_000 {
        let una = SeqNum(if rng.gen_bool(0.3) { 0u32.wrapping_sub(rng.gen_range(0..100_000)) } else { rng.gen() });
        let flight = if rng.gen_bool(0.3) { 0 } else { rng.gen_range(0..1u32 << 18) };
        let smss = if rng.gen_bool(0.01) { 0 } else { rng.gen_range(1..=9000u16) };
        let mut t = TxTcb::established(una - rng.gen_range(1..1u32 << 24), smss, SeqNum(0), rng.gen());
        t.snd_una = una;
        t.snd_max = una + flight;
        t.snd_nxt = if rng.gen_bool(0.5) { t.snd_max } else { una + rng.gen_range(0..=flight) };
        t.snd_tail = if rng.gen_bool(0.1) { t.snd_nxt - rng.gen_range(0..1000) } else { t.snd_max + rng.gen_range(0..1u32 << 18) };
        t.snd_wnd = match rng.gen_range(0..4) {
            0 => 0,
            1 => rng.gen_range(1..2000),
            _ => rng.gen(),
        };
        // Scaled windows (RFC 7323) beyond 64 KiB, which cwnd may also exceed.
        t.snd_wscale = if rng.gen_bool(0.3) { rng.gen_range(1..=14) } else { 0 };
        t.cwnd = rng.gen_range(0..1u32 << 18);
        // A relayed connection sends without Nagle.
        t.nodelay = rng.gen_bool(0.2);
        t.timer = [TxTimer::Off, TxTimer::Retransmit, TxTimer::Persist][rng.gen_range(0..3)];
        t.timer_due_us = rng.gen();
        t.rtt.rto_us = rng.gen_range(1..1u32 << 28);
        // A SACK board and a recovery under way: the resend by the gap, the walk past ranges.
        if flight > 8 && rng.gen_bool(0.4) {
            t.sack_ok = true;
            t.board = random_board(&mut rng, una, flight);
            t.rxt_next = if rng.gen_bool(0.3) { una - rng.gen_range(0..1000) } else { una + rng.gen_range(0..=flight) };
            sacked += 1;
        }
        let ask = Ask {
            now: rng.gen(),
            resend_first: rng.gen_bool(0.3),
            ring_base: rng.gen_range(0..1u64 << 48),
            ring_bytes: 1 << rng.gen_range(12..=20),
        };
        dut.check(&t, ask, &format!("vector {i}"));
    }
    assert!(sacked > 50_000 && dut.capped > 2_000 && dut.lapsed > 5_000, "SACK: {sacked} boards, {} capped, {} lapsed", dut.capped, dut.lapsed);
    assert!(dut.resends_at_tail > 5_000, "{} resends with the tail before snd_max", dut.resends_at_tail);
    assert!(
        dut.sent > 50_000 && dut.persist_armed > 1_000 && dut.retransmissions > 20_000 && dut.wrapped_reads > 1_000,
        "too little exercised: {} sent, {} persist, {} retransmissions, {} wrapped reads",
        dut.sent,
        dut.persist_armed,
        dut.retransmissions,
        dut.wrapped_reads
    );
}

struct SendScorer {
    dut: Dut,
    ring_base: u64,
    ring_bytes: u32,
    n: u64,
}

impl TxObserver for SendScorer {
    fn send(&mut self, before: &TxTcb, now: u32, forced: bool) {
        self.n += 1;
        let ask = Ask { now, resend_first: forced, ring_base: self.ring_base, ring_bytes: self.ring_bytes };
        self.dut.check(before, ask, &format!("decision {}", self.n));
    }
}

#[test]
fn tx_segmenter_matches_the_model_over_a_lossy_connection() {
    let seed = holdback_sim::test_seed(0x5e_6002);
    // A 64 KiB ring, so segments cross its end often.
    let cfg = RunConfig {
        ring_bytes: 1 << 16,
        settings: RtoSettings { rto_min_us: 200_000, ..RtoSettings::default() },
        ..RunConfig::default()
    };
    let mut scorer = SendScorer { dut: Dut::new(), ring_base: 0x0000_0012_3450_0000, ring_bytes: cfg.ring_bytes, n: 0 };
    let stats = run_lossy_connection(&cfg, seed, &mut scorer);
    eprintln!(
        "{stats:?}; {} decisions, {} sent, {} retransmissions, {} persist armed, {} wrapped reads",
        scorer.n, scorer.dut.sent, scorer.dut.retransmissions, scorer.dut.persist_armed, scorer.dut.wrapped_reads
    );
    assert!(stats.delivered > 10_000_000, "only {} bytes got through", stats.delivered);
    assert!(
        scorer.dut.retransmissions > 500 && scorer.dut.persist_armed > 5 && scorer.dut.wrapped_reads > 100,
        "too little exercised"
    );
}

#[test]
fn tx_segmenter_matches_the_model_over_a_lossy_sack_connection() {
    let seed = holdback_sim::test_seed(0x5e_6003);
    let cfg = RunConfig {
        ring_bytes: 1 << 16,
        settings: RtoSettings { rto_min_us: 200_000, ..RtoSettings::default() },
        sack: true,
        ..RunConfig::default()
    };
    let mut scorer = SendScorer { dut: Dut::new(), ring_base: 0x0000_0012_3450_0000, ring_bytes: cfg.ring_bytes, n: 0 };
    let stats = run_lossy_connection(&cfg, seed, &mut scorer);
    eprintln!(
        "{stats:?}; {} decisions, {} sent, {} retransmissions, {} capped, {} lapsed",
        scorer.n, scorer.dut.sent, scorer.dut.retransmissions, scorer.dut.capped, scorer.dut.lapsed
    );
    assert!(stats.delivered > 10_000_000, "only {} bytes got through", stats.delivered);
    assert!(scorer.dut.retransmissions > 500 && scorer.dut.lapsed > 10, "too little exercised");
}
