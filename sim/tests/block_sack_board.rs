//! The Verilated `sack_board` block (RFC 6675 sender scoreboard,
//! docs/sack-sender.md) against the reference model
//! (`refmodel::sack_board`): every element's flags and the board it leaves,
//! and every query (IsLost of the first hole, NextSeg, SACKed and lost
//! bytes). Directed cases first (one hole, several holes, D-SACK, beyond
//! snd_max, a cumulative ACK passing ranges, a fifth range, IsLost by count
//! and by bytes), then seeded random ACK/SACK sequences of several
//! connections sharing the block: each switch stores the board of the one
//! left and loads the other's, as the engine would.
use holdback_sim::model::{Model, PortId};
use holdback_sim::refmodel::sack_board::{ElementOutcome, Gap, SackBoard, BOARD_SLOTS};
use holdback_sim::wire::SeqNum;
use rand::{rngs::SmallRng, Rng, SeedableRng};

struct Dut {
    m: Model,
    load: PortId,
    ld_left: [PortId; BOARD_SLOTS],
    ld_right: [PortId; BOARD_SLOTS],
    ld_valid: [PortId; BOARD_SLOTS],
    in_valid: PortId,
    in_ready: PortId,
    in_una: PortId,
    in_snd_max: PortId,
    in_blk: PortId,
    in_left: PortId,
    in_right: PortId,
    ign_dsack: PortId,
    ign_beyond: PortId,
    overflow: PortId,
    st_left: [PortId; BOARD_SLOTS],
    st_right: [PortId; BOARD_SLOTS],
    st_valid: [PortId; BOARD_SLOTS],
    q_una: PortId,
    q_from: PortId,
    q_smss: PortId,
    sacked_bytes: PortId,
    lost_bytes: PortId,
    first_lost: PortId,
    gap_seq: PortId,
    gap_room: PortId,
    gap_top: PortId,
    gap_lost: PortId,
}

/// What the queries answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Answers {
    sacked: u32,
    lost: u32,
    first_lost: bool,
    gap: Gap,
    /// NextSeg rule 1: the gap when it is lost, at most SMSS of it.
    next: Option<(SeqNum, u16)>,
}

impl Dut {
    fn new() -> Dut {
        let m = Model::new("sack_board").expect("sack_board is built");
        let p = |n: &str| m.port(n).unwrap_or_else(|e| panic!("{e}"));
        // rust-hdl names array element i `name$i`; Verilator spells `$` as `__024`.
        let a = |n: &str| core::array::from_fn(|i| p(&format!("{n}__024{i}")));
        Dut {
            load: p("load"),
            ld_left: a("ld_left"),
            ld_right: a("ld_right"),
            ld_valid: a("ld_valid"),
            in_valid: p("in_valid"),
            in_ready: p("in_ready"),
            in_una: p("in_una"),
            in_snd_max: p("in_snd_max"),
            in_blk: p("in_blk"),
            in_left: p("in_left"),
            in_right: p("in_right"),
            ign_dsack: p("ign_dsack"),
            ign_beyond: p("ign_beyond"),
            overflow: p("overflow"),
            st_left: a("st_left"),
            st_right: a("st_right"),
            st_valid: a("st_valid"),
            q_una: p("q_una"),
            q_from: p("q_from"),
            q_smss: p("q_smss"),
            sacked_bytes: p("sacked_bytes"),
            lost_bytes: p("lost_bytes"),
            first_lost: p("first_lost"),
            gap_seq: p("gap_seq"),
            gap_room: p("gap_room"),
            gap_top: p("gap_top"),
            gap_lost: p("gap_lost"),
            m,
        }
    }

    /// The board's registers (the bundle the engine stores).
    fn board(&self) -> Vec<(SeqNum, SeqNum)> {
        let valid: Vec<bool> = self.st_valid.iter().map(|p| self.m.get(*p) == 1).collect();
        let n = valid.iter().take_while(|v| **v).count();
        assert!(valid[n..].iter().all(|v| !v), "valid bits not a prefix: {valid:?}");
        (0..n).map(|i| (SeqNum(self.m.get(self.st_left[i]) as u32), SeqNum(self.m.get(self.st_right[i]) as u32))).collect()
    }

    fn idle(&mut self) {
        self.m.set(self.load, 0);
        self.m.set(self.in_valid, 0);
    }

    /// `cycle` samples the outputs before its edge: an idle cycle shows what the edge stored.
    fn settle(&mut self) {
        self.idle();
        self.m.cycle();
    }

    /// One load cycle of `ranges`; the stream is not ready meanwhile.
    fn load(&mut self, ranges: &[(SeqNum, SeqNum)]) {
        self.m.set(self.load, 1);
        self.m.set(self.in_valid, 1);
        for i in 0..BOARD_SLOTS {
            let (l, r) = ranges.get(i).copied().unwrap_or_default();
            self.m.set(self.ld_left[i], l.0.into());
            self.m.set(self.ld_right[i], r.0.into());
            self.m.set(self.ld_valid[i], (i < ranges.len()).into());
        }
        self.m.cycle();
        assert_eq!(self.m.get(self.in_ready), 0, "ready while loading");
        for p in [self.ign_dsack, self.ign_beyond, self.overflow] {
            assert_eq!(self.m.get(p), 0, "a flag while loading");
        }
        self.settle();
    }

    /// One element; returns the flags of its handshake cycle.
    fn element(&mut self, una: SeqNum, snd_max: SeqNum, block: Option<(SeqNum, SeqNum)>) -> ElementOutcome {
        self.m.set(self.load, 0);
        self.m.set(self.in_valid, 1);
        self.m.set(self.in_una, una.0.into());
        self.m.set(self.in_snd_max, snd_max.0.into());
        self.m.set(self.in_blk, block.is_some().into());
        let (l, r) = block.unwrap_or_default();
        self.m.set(self.in_left, l.0.into());
        self.m.set(self.in_right, r.0.into());
        self.m.cycle();
        assert_eq!(self.m.get(self.in_ready), 1, "not ready for an element");
        let out = ElementOutcome {
            dsack: self.m.get(self.ign_dsack) == 1,
            beyond: self.m.get(self.ign_beyond) == 1,
            overflow: self.m.get(self.overflow) == 1,
        };
        self.settle();
        out
    }

    fn query(&mut self, una: SeqNum, from: SeqNum, smss: u16) -> Answers {
        self.idle();
        self.m.set(self.q_una, una.0.into());
        self.m.set(self.q_from, from.0.into());
        self.m.set(self.q_smss, smss.into());
        self.m.cycle();
        let gap = Gap {
            seq: SeqNum(self.m.get(self.gap_seq) as u32),
            room: (self.m.get(self.gap_top) == 0).then(|| self.m.get(self.gap_room) as u32),
            lost: self.m.get(self.gap_lost) == 1,
        };
        Answers {
            sacked: self.m.get(self.sacked_bytes) as u32,
            lost: self.m.get(self.lost_bytes) as u32,
            first_lost: self.m.get(self.first_lost) == 1,
            gap,
            next: gap.lost.then(|| (gap.seq, gap.room.unwrap_or(0).min(u32::from(smss)) as u16)),
        }
    }
}

fn model_answers(b: &SackBoard, una: SeqNum, from: SeqNum, smss: u16) -> Answers {
    Answers {
        sacked: b.sacked_bytes(),
        lost: b.lost_bytes(una, smss),
        first_lost: b.first_lost(una, smss),
        gap: b.gap(una, from, smss),
        next: b.next_seg(una, from, smss),
    }
}

/// The block and the model side by side, for one connection at a time.
struct Bench {
    dut: Dut,
    model: SackBoard,
    elements: usize,
    queries: usize,
}

impl Bench {
    fn new() -> Bench {
        let mut dut = Dut::new();
        dut.load(&[]);
        Bench { dut, model: SackBoard::default(), elements: 0, queries: 0 }
    }

    /// One ACK, element by element: flags and board checked after each.
    fn ack(&mut self, una: SeqNum, snd_max: SeqNum, blocks: &[(SeqNum, SeqNum)]) -> Vec<ElementOutcome> {
        let elements: Vec<Option<(SeqNum, SeqNum)>> =
            if blocks.is_empty() { vec![None] } else { blocks.iter().copied().map(Some).collect() };
        elements
            .into_iter()
            .map(|e| {
                let before = self.model.clone();
                let want = self.model.on_element(una, snd_max, e);
                let got = self.dut.element(una, snd_max, e);
                assert_eq!(got, want, "flags: board {before:?}, una {una:?}, snd_max {snd_max:?}, block {e:?}");
                assert_eq!(
                    self.dut.board(),
                    self.model.ranges(),
                    "board: was {before:?}, una {una:?}, snd_max {snd_max:?}, block {e:?}"
                );
                self.elements += 1;
                want
            })
            .collect()
    }

    fn query(&mut self, una: SeqNum, from: SeqNum, smss: u16) -> Answers {
        let want = model_answers(&self.model, una, from, smss);
        let got = self.dut.query(una, from, smss);
        assert_eq!(got, want, "queries: board {:?}, una {una:?}, from {from:?}, smss {smss}", self.model);
        self.queries += 1;
        want
    }
}

const SMSS: u16 = 1000;

fn s(x: u32) -> SeqNum {
    SeqNum(x)
}

#[test]
fn sack_board_directed_cases() {
    let mut b = Bench::new();
    let una = s(0xFFFF_F000); // across the wrap
    let max = una + 20_000;
    // One hole: [una, una+1000) lost by bytes (3000 SACKed above).
    b.ack(una, max, &[(una + 1000, una + 4000)]);
    let a = b.query(una, una, SMSS);
    assert!(a.first_lost && a.next == Some((una, 1000)) && a.sacked == 3000 && a.lost == 1000);
    // Exactly 2 × SMSS above is not lost (more than is required).
    let a = b.query(una, una, 1500);
    assert!(!a.first_lost && a.next.is_none());
    // Several holes: ranges at 5000 and 8000; HighRxt past the first hole.
    b.ack(una, max, &[(una + 5000, una + 7000), (una + 8000, una + 8100)]);
    let a = b.query(una, una, SMSS);
    assert_eq!(a.next, Some((una, 1000)));
    let a = b.query(una, una + 1000, SMSS);
    assert_eq!(a.next, Some((una + 4000, 1000)), "second hole (2100 bytes above), capped at SMSS");
    let a = b.query(una, una + 4500, SMSS);
    assert_eq!(a.next, Some((una + 4500, 500)), "the rest of the second hole");
    let a = b.query(una, una + 6000, SMSS);
    assert_eq!(a.next, None, "[7000, 8000): one range, 100 SACKed bytes above");
    assert_eq!(a.lost, 2000);
    // D-SACK below una and blocks beyond snd_max change nothing.
    let before = b.model.clone();
    let out = b.ack(una, max, &[(una - 500, una), (una + 19_000, max + 1), (una + 9000, una + 9000)]);
    assert!(out[0].dsack && out[1].beyond && out[2].beyond);
    assert_eq!(b.model, before);
    // The cumulative ACK passes the first range and ends inside the second.
    b.ack(una + 5500, max, &[]);
    assert_eq!(b.model.ranges(), &[(una + 5500, una + 7000), (una + 8000, una + 8100)]);
    b.query(una + 5500, una + 5500, SMSS);
    // IsLost by count: three small ranges above the hole, 300 bytes.
    let una = una + 10_000;
    b.ack(una, max, &[(una + 1000, una + 1100), (una + 2000, una + 2100)]);
    assert!(b.model.ranges().len() == 2 && !b.query(una, una, SMSS).first_lost);
    b.ack(una, max, &[(una + 3000, una + 3100)]);
    let a = b.query(una, una, SMSS);
    assert!(a.first_lost && a.next == Some((una, 1000)) && a.lost == 1000);
    // A fifth range: the highest goes, whether old or the block itself.
    let out = b.ack(una, max, &[(una + 4000, una + 4100)]);
    assert!(!out[0].overflow);
    let out = b.ack(una, max, &[(una + 500, una + 600)]);
    assert!(out[0].overflow);
    assert_eq!(b.model.ranges().last(), Some(&(una + 3000, una + 3100)));
    let out = b.ack(una, max, &[(una + 9000, una + 9100)]);
    assert!(out[0].overflow);
    // A block bridging two ranges merges three into one.
    b.ack(una, max, &[(una + 1100, una + 2000)]);
    assert_eq!(b.model.ranges()[1], (una + 1000, una + 2100));
    b.query(una, una, SMSS);
    // A stored board loaded back answers the same.
    let stored = b.dut.board();
    b.dut.load(&[]);
    assert!(b.dut.board().is_empty());
    b.dut.load(&stored);
    b.query(una, una + 100, 536);
}

/// One connection's sender: what is outstanding and what the peer holds.
struct Conn {
    board: Vec<(SeqNum, SeqNum)>,
    model: SackBoard,
    una: SeqNum,
    snd_max: SeqNum,
    mss: u32,
}

#[test]
fn sack_board_matches_the_model_over_random_ack_sequences() {
    let seed = holdback_sim::test_seed(0x5ac_b0a2d);
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut b = Bench::new();
    let mut conns: Vec<Conn> = (0..3)
        .map(|i| {
            // One connection starts just below the wrap.
            let una = if i == 0 { s(0xFFFF_0000) } else { s(rng.gen()) };
            Conn { board: Vec::new(), model: SackBoard::default(), una, snd_max: una, mss: [536, 1460, 100][i] }
        })
        .collect();
    let mut cur = 0;
    let (mut dsacks, mut beyonds, mut overflows, mut lost, mut nexts) = (0, 0, 0, 0, 0);
    let (mut not_lost, mut no_next) = (0, 0);
    for step in 0..60_000 {
        // Switch connections now and then: store the board, load the other's.
        if rng.gen_bool(0.05) {
            conns[cur].board = b.dut.board();
            conns[cur].model = std::mem::take(&mut b.model);
            cur = rng.gen_range(0..conns.len());
            b.dut.load(&conns[cur].board);
            b.model = conns[cur].model.clone();
            assert_eq!(b.dut.board(), b.model.ranges(), "step {step}: loaded board");
        }
        let c = &mut conns[cur];
        // The sender sends more, the peer acknowledges some of it.
        if (rng.gen_bool(0.3) && c.snd_max.bytes_since(c.una) < 64 * c.mss) || c.snd_max.bytes_since(c.una) < 4 * c.mss {
            c.snd_max += rng.gen_range(1..=16) * c.mss;
        }
        let flight = c.snd_max.bytes_since(c.una);
        // The ACK moves: a little, or over everything SACKed (the board empties).
        if rng.gen_bool(0.3) {
            c.una += if rng.gen_bool(0.15) { flight } else { rng.gen_range(0..=flight.min(6 * c.mss)) };
        }
        let (una, max, mss) = (c.una, c.snd_max, c.mss);
        let flight = max.bytes_since(una);
        // Mostly few blocks, as a receiver with a hole or two sends.
        let nblocks = [0, 0, 0, 1, 1, 1, 1, 2, 3, 4][rng.gen_range(0..10)];
        let blocks: Vec<(SeqNum, SeqNum)> = (0..nblocks)
            .map(|_| match rng.gen_range(0..20) {
                // D-SACK: a run below una, or one straddling it.
                0 => {
                    let l = una - rng.gen_range(1..=3 * mss);
                    (l, l + rng.gen_range(1..=4 * mss))
                }
                // Beyond snd_max, empty or inverted.
                1 => {
                    let l = una + rng.gen_range(0..=flight);
                    (l, max + rng.gen_range(1..=2 * mss))
                }
                2 => {
                    let l = una + rng.gen_range(0..=flight);
                    (l, l - rng.gen_range(0..=mss))
                }
                // Anything at all.
                3 => (s(rng.gen()), s(rng.gen())),
                // Segment-aligned SACKs inside the flight.
                _ => {
                    let segs = (flight / mss).max(1);
                    let first = rng.gen_range(0..segs);
                    let l = una + first * mss;
                    let r = (l + rng.gen_range(1..=4) * mss).earliest(max);
                    if rng.gen_bool(0.2) {
                        (l + rng.gen_range(0..mss / 2), r)
                    } else {
                        (l, r)
                    }
                }
            })
            .collect();
        for o in b.ack(una, max, &blocks) {
            dsacks += usize::from(o.dsack);
            beyonds += usize::from(o.beyond);
            overflows += usize::from(o.overflow);
        }
        for _ in 0..2 {
            let from = match rng.gen_range(0..4) {
                0 => una,
                1 => una - rng.gen_range(1..=1000),
                _ => una + rng.gen_range(0..=flight),
            };
            let smss = if rng.gen_bool(0.8) { mss as u16 } else { rng.gen_range(1..=9000) };
            let a = b.query(una, from, smss);
            lost += usize::from(a.first_lost);
            not_lost += usize::from(!a.first_lost);
            nexts += usize::from(a.next.is_some());
            no_next += usize::from(a.next.is_none());
        }
    }
    eprintln!(
        "sack_board: {} elements, {} queries; dsack {dsacks}, beyond {beyonds}, overflow {overflows}, first_lost {lost} (not {not_lost}), next_seg {nexts} (none {no_next})",
        b.elements, b.queries
    );
    let counts = [
        ("dsack", dsacks),
        ("beyond", beyonds),
        ("overflow", overflows),
        ("first_lost", lost),
        ("not first_lost", not_lost),
        ("next_seg", nexts),
        ("no next_seg", no_next),
    ];
    for (what, n) in counts {
        assert!(n > 500, "only {n} vectors exercised {what}");
    }
}
