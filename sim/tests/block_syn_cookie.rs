//! The Verilated `syn_cookie` block (RFC 4987 §3.6 SYN cookies,
//! docs/syn-cookies.md) against the reference model
//! (`refmodel::syn_cookie`): seeded operations back to back or with idle
//! gaps, generate and check, the checks on valid cookies (this period and
//! the previous), stale ones (2..255 periods old), corrupted ones (a bit of
//! the cookie, the ISN or the tuple flipped) and random ones. Each result
//! must come exactly `LATENCY` cycles after its start, with `busy` high in
//! between; a `start` while busy, with other inputs, must change nothing.
//! The combinational MSS index is checked every cycle, and the TSval
//! options block (`syn_cookie_ts`) on seeded encodes and every decode.
use holdback_sim::model::{Model, PortId};
use holdback_sim::refmodel::syn_cookie::{
    cookie_check, cookie_generate, mss_index, ts_decode_options, ts_encode_options, CookieTuple, TsCookieOptions,
};
use rand::{rngs::SmallRng, Rng, SeedableRng};
use std::net::Ipv4Addr;

/// Cycles from the start cycle to the done cycle (hdl/src/engine/syn_cookie.rs).
const LATENCY: u64 = 23;

#[derive(Clone, Copy, Debug)]
struct Op {
    check: bool,
    t: CookieTuple,
    sseq: u32,
    now: u8,
    mss_index: u8,
    cookie_in: u32,
    key0: u128,
    key1: u128,
}

impl Op {
    /// The model's answer: (cookie, valid, mss_index_out); `None` for an
    /// output the block leaves unspecified (the index of a rejected cookie).
    fn expect(&self) -> (u32, bool, Option<u8>) {
        if self.check {
            match cookie_check(self.key0, self.key1, &self.t, self.cookie_in, self.sseq, self.now) {
                Some(m) => (0, true, Some(m)),
                None => (0, false, None),
            }
        } else {
            (cookie_generate(self.key0, self.key1, &self.t, self.sseq, self.now, self.mss_index), false, Some(self.mss_index))
        }
    }
}

struct Dut {
    m: Model,
    start: PortId,
    check: PortId,
    peer_ip: PortId,
    our_ip: PortId,
    peer_port: PortId,
    our_port: PortId,
    sseq: PortId,
    now_count: PortId,
    mss_index: PortId,
    cookie_in: PortId,
    key0: PortId,
    key1: PortId,
    mss: PortId,
    busy: PortId,
    done: PortId,
    cookie: PortId,
    valid: PortId,
    mss_index_out: PortId,
    mss_index_for: PortId,
}

impl Dut {
    fn new() -> Dut {
        let m = Model::new("syn_cookie").expect("syn_cookie is built");
        let p = |n: &str| m.port(n).unwrap_or_else(|e| panic!("{e}"));
        Dut {
            start: p("start"),
            check: p("check"),
            peer_ip: p("peer_ip"),
            our_ip: p("our_ip"),
            peer_port: p("peer_port"),
            our_port: p("our_port"),
            sseq: p("sseq"),
            now_count: p("now_count"),
            mss_index: p("mss_index"),
            cookie_in: p("cookie_in"),
            key0: p("key0"),
            key1: p("key1"),
            mss: p("mss"),
            busy: p("busy"),
            done: p("done"),
            cookie: p("cookie"),
            valid: p("valid"),
            mss_index_out: p("mss_index_out"),
            mss_index_for: p("mss_index_for"),
            m,
        }
    }

    /// Present `op` on the inputs (the keys only when `keys`: they must hold while busy).
    fn present(&mut self, op: &Op, keys: bool) {
        let m = &mut self.m;
        m.set(self.check, op.check.into());
        m.set(self.peer_ip, u32::from(op.t.peer_ip).into());
        m.set(self.our_ip, u32::from(op.t.our_ip).into());
        m.set(self.peer_port, op.t.peer_port.into());
        m.set(self.our_port, op.t.our_port.into());
        m.set(self.sseq, op.sseq.into());
        m.set(self.now_count, op.now.into());
        m.set(self.mss_index, op.mss_index.into());
        m.set(self.cookie_in, op.cookie_in.into());
        if keys {
            m.set_wide(self.key0, &[op.key0 as u64, (op.key0 >> 64) as u64]);
            m.set_wide(self.key1, &[op.key1 as u64, (op.key1 >> 64) as u64]);
        }
    }
}

fn random_tuple(rng: &mut SmallRng) -> CookieTuple {
    CookieTuple {
        peer_ip: Ipv4Addr::from(rng.gen::<u32>()),
        our_ip: Ipv4Addr::from(rng.gen::<u32>()),
        peer_port: rng.gen(),
        our_port: rng.gen(),
    }
}

/// What a check is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Case {
    Generate,
    Fresh,
    Stale,
    FlipCookie,
    FlipSeq,
    FlipTuple,
    Random,
}

fn random_op(rng: &mut SmallRng, keys: (u128, u128)) -> (Op, Case) {
    let (key0, key1) = keys;
    let t = random_tuple(rng);
    let sseq: u32 = rng.gen();
    let born: u8 = rng.gen();
    let mi: u8 = rng.gen_range(0..4);
    let cookie = cookie_generate(key0, key1, &t, sseq, born, mi);
    let mut op = Op { check: true, t, sseq, now: born, mss_index: mi, cookie_in: cookie, key0, key1 };
    let case = match rng.gen_range(0..10) {
        0..=2 => Case::Generate,
        3..=4 => Case::Fresh,
        5 => Case::Stale,
        6 => Case::FlipCookie,
        7 => Case::FlipSeq,
        8 => Case::FlipTuple,
        _ => Case::Random,
    };
    match case {
        Case::Generate => op.check = false,
        Case::Fresh => op.now = born.wrapping_add(rng.gen_range(0..2)),
        Case::Stale => op.now = born.wrapping_add(rng.gen_range(2..=255)),
        // Bits 1:0 carry the index unhashed (refmodel::syn_cookie's tests):
        // a flip there may be accepted, with another index, so these flip
        // the hashed bits and `Random` covers the rest.
        Case::FlipCookie => op.cookie_in ^= 1 << rng.gen_range(2..32),
        Case::FlipSeq => op.sseq ^= 1 << rng.gen_range(2..32),
        Case::FlipTuple => {
            let bit = rng.gen_range(0..96);
            match bit {
                0..=31 => op.t.peer_ip = Ipv4Addr::from(u32::from(op.t.peer_ip) ^ (1 << bit)),
                32..=63 => op.t.our_ip = Ipv4Addr::from(u32::from(op.t.our_ip) ^ (1 << (bit - 32))),
                64..=79 => op.t.peer_port ^= 1 << (bit - 64),
                _ => op.t.our_port ^= 1 << (bit - 80),
            }
        }
        Case::Random => op.cookie_in = rng.gen(),
    }
    if case != Case::Generate && case != Case::Fresh {
        // Not in the mss input: a generate's index is taken at start only.
        op.mss_index = rng.gen_range(0..4);
    }
    (op, case)
}

/// The model's verdicts on fresh and damaged cookies, counted.
#[derive(Default, Debug)]
struct Tally {
    cases: [u32; 7],
    fresh_rejected: u32,
    bad_accepted: u32,
}

impl Tally {
    fn add(&mut self, case: Case, accepted: bool) {
        self.cases[case as usize] += 1;
        match case {
            Case::Generate => {}
            Case::Fresh => self.fresh_rejected += u32::from(!accepted),
            _ => self.bad_accepted += u32::from(accepted),
        }
    }
}

#[test]
fn syn_cookie_matches_the_model_with_fixed_latency() {
    let seed = holdback_sim::test_seed(0x5c00_c1e5);
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut dut = Dut::new();
    let mut keys: (u128, u128) = (rng.gen(), rng.gen());
    let mut tally = Tally::default();
    let mss_edges = [0u16, 1, 535, 536, 1299, 1300, 1439, 1440, 1459, 1460, 1461, u16::MAX];
    let mut next = random_op(&mut rng, keys);
    // The next operation's start cycle was the previous one's done cycle.
    let mut started = false;
    let mut back_to_back = 0u32;
    for n in 0..20_000 {
        let (op, case) = next;
        let want = op.expect();
        tally.add(case, want.1);
        if !started {
            for _ in 0..rng.gen_range(0..4) {
                dut.m.set(dut.start, 0);
                dut.m.cycle();
                assert_eq!(dut.m.get(dut.busy), 0, "op {n}: busy while idle");
                assert_eq!(dut.m.get(dut.done), 0, "op {n}: done while idle");
            }
            dut.present(&op, true);
            dut.m.set(dut.start, 1);
            dut.m.cycle();
        }
        // Inputs other than the keys may change once started.
        let (other, _) = random_op(&mut rng, keys);
        dut.present(&other, false);
        for k in 1..LATENCY {
            // A start while busy is ignored, whatever it asks.
            dut.m.set(dut.start, rng.gen_bool(0.2).into());
            // The MSS helper, every cycle.
            let mss = if rng.gen_bool(0.5) { mss_edges[rng.gen_range(0..mss_edges.len())] } else { rng.gen() };
            dut.m.set(dut.mss, mss.into());
            dut.m.cycle();
            assert_eq!(dut.m.get(dut.mss_index_for), u64::from(mss_index(mss)), "mss {mss}");
            assert_eq!(dut.m.get(dut.done), 0, "op {n} ({case:?}): done {k} cycles after start");
            assert_eq!(dut.m.get(dut.busy), 1, "op {n} ({case:?}): not busy {k} cycles after start");
        }
        // The done cycle, LATENCY after the start cycle: a start here is
        // taken, so the next operation starts here half of the time.
        if rng.gen_bool(0.05) {
            keys = (rng.gen(), rng.gen());
        }
        next = random_op(&mut rng, keys);
        started = rng.gen_bool(0.5);
        back_to_back += u32::from(started);
        dut.present(&next.0, true);
        dut.m.set(dut.start, started.into());
        dut.m.cycle();
        assert_eq!(dut.m.get(dut.done), 1, "op {n} ({case:?}): no done {LATENCY} cycles after start");
        assert_eq!(dut.m.get(dut.busy), 0, "op {n}: busy in the done cycle");
        let got = (dut.m.get(dut.cookie) as u32, dut.m.get(dut.valid) == 1, dut.m.get(dut.mss_index_out) as u8);
        assert_eq!((got.0, got.1), (want.0, want.1), "op {n} ({case:?}): {op:?}");
        if let Some(m) = want.2 {
            assert_eq!(got.2, m, "op {n} ({case:?}): mss index of {op:?}");
        }
        if !started {
            // done is one cycle; the result holds until the next.
            dut.m.set(dut.start, 0);
            dut.m.cycle();
            assert_eq!(dut.m.get(dut.done), 0, "op {n}: done longer than one cycle");
            assert_eq!(dut.m.get(dut.busy), 0, "op {n}: busy with no start");
            let held = (dut.m.get(dut.cookie) as u32, dut.m.get(dut.valid) == 1, dut.m.get(dut.mss_index_out) as u8);
            assert_eq!(held, got, "op {n}: the result did not hold");
        }
    }
    eprintln!("{tally:?}; {back_to_back} back to back; {} cycles", dut.m.cycles());
    assert_eq!(tally.fresh_rejected, 0, "the model rejected a fresh cookie");
    assert_eq!(tally.bad_accepted, 0, "the model accepted a stale or corrupted cookie");
    assert!(tally.cases.iter().all(|&c| c > 500), "every case often: {:?}", tally.cases);
    assert!(back_to_back > 5_000);
}

#[test]
fn syn_cookie_ts_matches_the_model() {
    let seed = holdback_sim::test_seed(0x5c00_c1e6);
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut m = Model::new("syn_cookie_ts").expect("syn_cookie_ts is built");
    let p = |m: &Model, n: &str| m.port(n).unwrap_or_else(|e| panic!("{e}"));
    let (ts_now, wscale_ok, wscale, sack_ok, tsval) =
        (p(&m, "ts_now"), p(&m, "wscale_ok"), p(&m, "wscale"), p(&m, "sack_ok"), p(&m, "tsval"));
    let (opts, d_ws_ok, d_ws, d_sack, d_ecn) =
        (p(&m, "tsecr_opts"), p(&m, "dec_wscale_ok"), p(&m, "dec_wscale"), p(&m, "dec_sack_ok"), p(&m, "dec_ecn_ok"));
    let mut moved_back = 0;
    for i in 0..100_000u32 {
        // Every low-6-bit pattern against every option set, near the wrap sometimes.
        let now: u32 = if rng.gen_bool(0.1) { rng.gen_range(0..128u32).wrapping_sub(64) } else { rng.gen() };
        let (ws_ok, ws, sack): (bool, u8, bool) = (rng.gen(), rng.gen_range(0..16), rng.gen());
        m.set(ts_now, now.into());
        m.set(wscale_ok, ws_ok.into());
        m.set(wscale, ws.into());
        m.set(sack_ok, sack.into());
        m.set(opts, u64::from(i % 64));
        m.cycle();
        let o = TsCookieOptions { wscale: ws_ok.then_some(ws), sack_ok: sack, ecn_ok: false };
        let want = ts_encode_options(now, &o);
        assert_eq!(m.get(tsval) as u32, want, "ts_now {now:#x}, {o:?}");
        // The options were above ts_now's low bits: the TSval went back a period.
        moved_back += u32::from((want & !0x3F) != (now & !0x3F));
        let d = ts_decode_options(i % 64);
        let got = (m.get(d_ws_ok) == 1, m.get(d_ws) as u8, m.get(d_sack) == 1, m.get(d_ecn) == 1);
        assert_eq!((got.0, got.2, got.3), (d.wscale.is_some(), d.sack_ok, d.ecn_ok), "tsecr bits {:#x}", i % 64);
        if let Some(w) = d.wscale {
            assert_eq!(got.1, w);
        }
    }
    assert!(moved_back > 10_000, "only {moved_back} TSvals moved back a period");
}
