//! The Verilated hole table (`hdl/src/engine/reassembly.rs`) against the
//! reference model's hole list (`refmodel::holes`), decision for decision:
//! out-of-order segments that open ranges, touch them, fill the gap between
//! two, overlap and conflict with what is held (the first copy wins), wholly
//! duplicate it, and ask for more ranges than the table keeps; in-order bytes
//! stopping at the first range and jumping over it; the SACK blocks in
//! RFC 2018 §4 order; and every connection's entry surviving a store and a
//! load while other connections use the table. Sequence numbers straddle the
//! 2^32 wrap.
use holdback_sim::model::{Model, PortId};
use holdback_sim::refmodel::holes::{ooo_span, HoleList, Insert, HOLE_LIMIT};
use holdback_sim::wire::SeqNum;
use rand::{rngs::SmallRng, Rng, SeedableRng};

/// The block is generated for 16 connections; the walk uses a few of them.
const CONNS: usize = 4;
/// What the host ring holds beyond R in the walk.
const RING_WINDOW: u32 = 65536;

struct Ports {
    rd_conn: PortId,
    wr_conn: PortId,
    insert: PortId,
    advance: PortId,
    clear: PortId,
    enable: PortId,
    rcv_nxt: PortId,
    rcv_adv: PortId,
    rel: PortId,
    ring_window: PortId,
    seq: PortId,
    payload_len: PortId,
    take: PortId,
    held: PortId,
    over_limit: PortId,
    new_start: PortId,
    new_len: PortId,
    new_skip: PortId,
    take_capped: PortId,
    jump: PortId,
    jump_to: PortId,
    sack_start: Vec<PortId>,
    sack_end: Vec<PortId>,
    sack_count: PortId,
}

/// What the walk exercised, so a run shows every rule was reached.
#[derive(Default, Debug)]
struct Coverage {
    held_new: u64,
    merged_one: u64,
    merged_two: u64,
    trimmed: u64,
    cut_at_window: u64,
    duplicate: u64,
    over_limit: u64,
    jumps: u64,
    capped: u64,
    full_tables: u64,
    switches: u64,
    disabled: u64,
}

struct Bench {
    m: Model,
    p: Ports,
    /// The model's list, rcv_nxt and window per connection.
    lists: Vec<HoleList>,
    rcv_nxt: Vec<SeqNum>,
    wnd: u32,
    cur: usize,
    cov: Coverage,
}

impl Bench {
    fn new(base: u32) -> Bench {
        let m = Model::new("hole_table").expect("hole_table is built");
        let port = |n: &str| m.port(n).unwrap_or_else(|e| panic!("{e}"));
        let p = Ports {
            rd_conn: port("rd_conn"),
            wr_conn: port("wr_conn"),
            insert: port("insert"),
            advance: port("advance"),
            clear: port("clear"),
            enable: port("enable"),
            rcv_nxt: port("rcv_nxt"),
            rcv_adv: port("rcv_adv"),
            rel: port("rel"),
            ring_window: port("ring_window"),
            seq: port("seq"),
            payload_len: port("payload_len"),
            take: port("take"),
            held: port("held"),
            over_limit: port("over_limit"),
            new_start: port("new_start"),
            new_len: port("new_len"),
            new_skip: port("new_skip"),
            take_capped: port("take_capped"),
            jump: port("jump"),
            jump_to: port("jump_to"),
            sack_start: (0..HOLE_LIMIT).map(|i| port(&format!("sack_start__024{i}"))).collect(),
            sack_end: (0..HOLE_LIMIT).map(|i| port(&format!("sack_end__024{i}"))).collect(),
            sack_count: port("sack_count"),
        };
        let mut b = Bench {
            m,
            p,
            lists: vec![HoleList::default(); CONNS],
            rcv_nxt: (0..CONNS).map(|c| SeqNum(base.wrapping_add(c as u32 * 977))).collect(),
            wnd: 60_000,
            cur: 0,
            cov: Coverage::default(),
        };
        // Every entry starts empty; the engine clears an entry when its connection opens.
        for c in 0..CONNS {
            b.cur = c;
            b.idle();
            b.m.set(b.p.clear, 1);
            b.m.cycle();
        }
        b.cur = 0;
        b
    }

    /// No strobe; the current connection's entry and receive side on the ports.
    fn idle(&mut self) {
        let p = &self.p;
        for id in [p.insert, p.advance, p.clear] {
            self.m.set(id, 0);
        }
        let nxt = self.rcv_nxt[self.cur];
        self.m.set(p.enable, 1);
        self.m.set(p.rd_conn, self.cur as u64);
        self.m.set(p.wr_conn, self.cur as u64);
        self.m.set(p.rcv_nxt, u64::from(nxt.0));
        self.m.set(p.rcv_adv, u64::from((nxt + self.wnd).0));
        self.m.set(p.rel, u64::from(nxt.0));
        self.m.set(p.ring_window, u64::from(RING_WINDOW));
    }

    /// A cycle that reads the current entry (it is on the merge's inputs next cycle).
    fn read(&mut self) {
        self.idle();
        self.m.cycle();
        self.idle();
    }

    /// The entry's SACK blocks equal the model's.
    fn check_sack(&mut self, what: &str) {
        self.read();
        self.m.cycle();
        let want = self.lists[self.cur].sack_blocks();
        assert_eq!(self.m.get(self.p.sack_count) as usize, want.len(), "sack_count after {what}: {:?}", self.lists[self.cur]);
        for (k, (s, e)) in want.iter().enumerate() {
            let got = (self.m.get(self.p.sack_start[k]) as u32, self.m.get(self.p.sack_end[k]) as u32);
            assert_eq!(got, (s.0, e.0), "SACK block {k} after {what}: {:?}", self.lists[self.cur]);
        }
    }

    fn switch_to(&mut self, c: usize) {
        self.cur = c;
        self.cov.switches += 1;
        self.check_sack("switching connections");
    }

    fn out_of_order(&mut self, off: u32, len: u32) {
        let nxt = self.rcv_nxt[self.cur];
        let seq = nxt + off;
        let span = ooo_span(nxt, nxt + self.wnd, nxt, RING_WINDOW, seq, len);
        let before = self.lists[self.cur].clone();
        let want = span.map(|(start, end)| self.lists[self.cur].insert(nxt, start, end));
        self.read();
        self.m.set(self.p.seq, u64::from(seq.0));
        self.m.set(self.p.payload_len, u64::from(len));
        self.m.set(self.p.insert, 1);
        self.m.cycle();
        let bit = |id: PortId| self.m.get(id) == 1;
        let what = format!("{len} bytes at {seq:?} (rcv_nxt {nxt:?}, window {}) onto {before:?}", self.wnd);
        // A segment wholly held (Duplicate) and one with nothing in the window
        // (None) are both neither held nor over the limit: dropped as out of order.
        assert_eq!(bit(self.p.over_limit), want == Some(Insert::OverLimit), "over_limit, {what}");
        assert_eq!(bit(self.p.held), matches!(want, Some(Insert::Held { .. })), "held, {what}");
        match want {
            Some(Insert::Held { start: s, end: e }) => {
                let got = (self.m.get(self.p.new_start) as u32, self.m.get(self.p.new_len) as u32);
                assert_eq!(got, (s.0, e.0.wrapping_sub(s.0)), "bytes written, {what}");
                assert_eq!(self.m.get(self.p.new_skip) as u32, s.0.wrapping_sub(seq.0), "payload skipped, {what}");
                let merged = before.ranges().len() + 1 - self.lists[self.cur].ranges().len();
                self.cov.held_new += u64::from(merged == 0);
                self.cov.merged_one += u64::from(merged == 1);
                self.cov.merged_two += u64::from(merged == 2);
                self.cov.trimmed += u64::from(s != seq || e != seq + len);
                self.cov.cut_at_window += u64::from(span.is_some_and(|(_, end)| end != seq + len));
                self.cov.full_tables += u64::from(self.lists[self.cur].ranges().len() == HOLE_LIMIT);
            }
            Some(Insert::Duplicate) => self.cov.duplicate += 1,
            Some(Insert::OverLimit) => self.cov.over_limit += 1,
            None => {}
        }
        self.check_sack(&what);
    }

    fn in_order(&mut self, take: u32) {
        let nxt = self.rcv_nxt[self.cur];
        let list = &mut self.lists[self.cur];
        let capped = list.first_held().map_or(take, |f| take.min(f.0.wrapping_sub(nxt.0)));
        let jump = if capped > 0 { list.advance(nxt + capped) } else { None };
        self.read();
        self.m.set(self.p.take, u64::from(take));
        self.m.set(self.p.advance, 1);
        self.m.cycle();
        let what = format!("{take} in-order bytes at rcv_nxt {nxt:?}");
        assert_eq!(self.m.get(self.p.take_capped) as u32, capped, "take_capped, {what}");
        assert_eq!(self.m.get(self.p.jump) == 1, jump.is_some(), "jump, {what}");
        if let Some(to) = jump {
            assert_eq!(self.m.get(self.p.jump_to) as u32, to.0, "jump_to, {what}");
            self.cov.jumps += 1;
        }
        self.cov.capped += u64::from(capped < take);
        self.rcv_nxt[self.cur] = jump.unwrap_or(nxt + capped);
        self.check_sack(&what);
    }

    /// Reassembly off: nothing is held, in-order bytes are not stopped, the
    /// entry reads as empty and is left as it was.
    fn disabled(&mut self, off: u32, len: u32, take: u32) {
        self.read();
        self.m.set(self.p.enable, 0);
        let seq = self.rcv_nxt[self.cur] + off;
        self.m.set(self.p.seq, u64::from(seq.0));
        self.m.set(self.p.payload_len, u64::from(len));
        self.m.set(self.p.take, u64::from(take));
        self.m.set(self.p.insert, 1);
        self.m.set(self.p.advance, 1);
        self.m.cycle();
        for (id, name) in [(self.p.held, "held"), (self.p.over_limit, "over_limit"), (self.p.jump, "jump"), (self.p.sack_count, "sack_count")] {
            assert_eq!(self.m.get(id), 0, "{name} with reassembly off");
        }
        assert_eq!(self.m.get(self.p.take_capped) as u32, take, "take_capped with reassembly off");
        self.cov.disabled += 1;
        self.check_sack("a segment with reassembly off");
    }
}

#[test]
fn hole_table_matches_the_reference_model() {
    let seed = holdback_sim::test_seed(0x5eed_0017);
    let mut rng = SmallRng::seed_from_u64(seed);
    // rcv_nxt starts a few KiB before the wrap, so ranges and jumps cross it.
    let mut b = Bench::new(0xffff_f000);

    // Scripted: one hole filled by one segment; then by several; overlaps.
    b.out_of_order(1000, 500);
    b.in_order(1000);
    assert_eq!(b.rcv_nxt[b.cur], SeqNum(0xffff_f000u32.wrapping_add(1500)));
    b.out_of_order(300, 100);
    b.out_of_order(500, 100);
    b.out_of_order(700, 100);
    b.out_of_order(400, 100); // joins the first two
    b.out_of_order(350, 400); // conflicting: only the gap 600..700 is new
    b.out_of_order(100, 50);
    b.out_of_order(900, 100);
    b.out_of_order(1100, 100); // a fourth range
    b.out_of_order(1300, 100); // a fifth: refused
    b.in_order(100); // reaches 100..150 exactly: jumps to 150
    b.in_order(200); // stops at 300 and jumps over 300..800
    b.in_order(500);

    for _ in 0..20_000 {
        match rng.gen_range(0..20) {
            0 => {
                let c = rng.gen_range(0..CONNS);
                b.switch_to(c);
                // Now and then a narrow window, so segments are cut at its edge.
                b.wnd = if rng.gen_bool(0.2) { rng.gen_range(1000..4000) } else { 60_000 };
            }
            19 if rng.gen_bool(0.05) => {
                let (off, len, take) = (rng.gen_range(1..4000), rng.gen_range(1..600), rng.gen_range(0..1200));
                b.disabled(off, len, take);
            }
            1..=4 => {
                let take = rng.gen_range(0..1200);
                b.in_order(take);
            }
            _ => {
                // Segments on a 100-byte grid mostly (as a sender's MSS makes
                // them), some at odd offsets to conflict with what is held.
                let (off, len) = if rng.gen_bool(0.7) {
                    (rng.gen_range(1..40) * 100, rng.gen_range(1..4) * 100)
                } else {
                    (rng.gen_range(1..4000), rng.gen_range(1..600))
                };
                b.out_of_order(off, len);
            }
        }
    }
    println!("seed {seed}: {:?}", b.cov);
    let c = &b.cov;
    for (what, n) in [
        ("new ranges", c.held_new),
        ("merges with one range", c.merged_one),
        ("merges with two", c.merged_two),
        ("trimmed overlaps", c.trimmed),
        ("duplicates", c.duplicate),
        ("refusals over the limit", c.over_limit),
        ("jumps", c.jumps),
        ("capped in-order takes", c.capped),
        ("full tables", c.full_tables),
        ("switches", c.switches),
        ("cuts at the window", c.cut_at_window),
        ("segments with reassembly off", c.disabled),
    ] {
        assert!(n > 10, "the walk reached too few {what}: {c:?}");
    }
}
