//! The Verilated event-queue writer with its DMA write engine
//! (`hdl/src/dma/event_queue.rs`, model `event_queue`: 64 connections, a ring
//! of 64 records, 128-byte records carrying the whole TCB) against a Rust TCB
//! table whose every write the writer's mirror takes, host memory behind an AXI4 slave
//! that stalls every channel (`common/axi_host.rs`), and a slow host reading
//! the ring with the one consumer the host has
//! (`holdback_regmap::event_queue::EventQueueConsumer`).
//!
//! Random bursts of TCB changes across all connections, a host that polls
//! rarely, stops for long stretches and hands its consumer count back late.
//! Checked: every record the host takes is a state the TCB really had (the
//! whole TCB, looked up by connection and generation: a torn record cannot
//! match), records of one connection never go back in time, the writer never
//! writes a record into a slot the host has not given back, every record
//! lands at its slot, and once the changes stop the host sees the final
//! state of every connection. Changes coalesce: fewer records than changes.
//!
//! Seed: `HOLDBACK_TEST_SEED=<n>` reproduces a run (each test prints its seed).
#[path = "common/axi_host.rs"]
mod axi_host;

use std::collections::{HashMap, VecDeque};

use axi_host::{HostMem, WritePorts};
use holdback_regmap::event_queue::{EventQueueConsumer, EventRing, EVENT_RECORD_BYTES};
use holdback_regmap::{tcb, SeqNum, Tcb, TCB_WORDS};
use holdback_sim::model::{Model, PortId};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const CONNS: usize = 64;
const RING_BITS: u32 = 6;
/// The ring straddles the 4 GiB line and a 4 KiB boundary (128-byte aligned).
const RING_BASE: u64 = 0x1_0000_0000 - 4096;

struct Ports {
    changed: PortId,
    changed_conn: PortId,
    enable: PortId,
    ring_base: PortId,
    cons_idx: PortId,
    prod_idx: PortId,
    dma_err: PortId,
    active: PortId,
    tcb_we: PortId,
    tcb_waddr: PortId,
    tcb_wdata: PortId,
}

impl Ports {
    fn of(m: &Model) -> Ports {
        let p = |n: &str| m.port(n).unwrap_or_else(|e| panic!("{e}"));
        Ports {
            changed: p("changed"),
            changed_conn: p("changed_conn"),
            enable: p("enable"),
            ring_base: p("ring_base"),
            cons_idx: p("cons_idx"),
            prod_idx: p("prod_idx"),
            dma_err: p("dma_err"),
            active: p("active"),
            tcb_we: p("tcb_we"),
            tcb_waddr: p("tcb_waddr"),
            tcb_wdata: p("tcb_wdata"),
        }
    }
}

/// How the host behaves in one stretch of the run.
#[derive(Clone, Copy, Debug)]
struct Phase {
    cycles: u64,
    /// Probability of a TCB change per cycle.
    change: f64,
    /// Connections the changes fall on (0..hot): few means much coalescing.
    hot: usize,
    /// Probability per cycle that the host polls the ring.
    poll: f64,
}

struct Bench {
    m: Model,
    p: Ports,
    wp: WritePorts,
    host: HostMem,
    rng: SmallRng,
    ring: EventRing,
    consumer: EventQueueConsumer,
    /// The TCB table whose writes the writer mirrors.
    tcbs: Vec<Tcb>,
    /// Every state each TCB has had, by (connection, generation).
    history: HashMap<(u16, u32), Tcb>,
    /// The generation of the last record the host took, per connection.
    seen: Vec<Option<u32>>,
    /// Connections that changed at least once.
    touched: Vec<bool>,
    /// A change the next cycle makes instead of a random one.
    queued_change: Option<usize>,
    /// Consumer counts on their way to the writer's register: (due cycle, count).
    cons_in_flight: VecDeque<(u64, u16)>,
    cons_published: u16,
    records_started: u16,
    changes: u64,
    records: u64,
}

impl Bench {
    fn new(seed: u64) -> Bench {
        let m = Model::new("event_queue").expect("the event_queue model is built");
        let mut rng = SmallRng::seed_from_u64(seed);
        let ring = EventRing::new(RING_BITS).expect("a valid ring");
        let mut host = HostMem::new(RING_BASE, ring.bytes(), 16, 0.3, &mut rng);
        // The host zeroes the ring before it enables the writer.
        host.mem.fill(0);
        let mut tcbs = Vec::new();
        let mut history = HashMap::new();
        for conn in 0..CONNS as u16 {
            // The mirror starts all zero, like the table at reset: generation 0, CLOSED.
            let t = Tcb::closed();
            history.insert((conn, t.gen), t.clone());
            tcbs.push(t);
        }
        let p = Ports::of(&m);
        let wp = WritePorts::of(&m);
        Bench {
            m,
            p,
            wp,
            host,
            rng,
            ring,
            consumer: EventQueueConsumer::new(ring),
            tcbs,
            history,
            seen: vec![None; CONNS],
            touched: vec![false; CONNS],
            queued_change: None,
            cons_in_flight: VecDeque::new(),
            cons_published: 0,
            records_started: 0,
            changes: 0,
            records: 0,
        }
    }

    /// A new state for `conn`'s TCB: generation + 1, a valid state, every
    /// other word random. Returns its table words.
    fn change(&mut self, conn: usize) -> [u32; TCB_WORDS] {
        let mut words: [u32; TCB_WORDS] = self.rng.gen();
        tcb::STATE.set(&mut words, self.rng.gen_range(0..=10));
        tcb::GEN.set(&mut words, self.tcbs[conn].gen.wrapping_add(1));
        // The table word keeps its unused bits zero, as the engine writes it.
        let t = Tcb::decode(&words).expect("a valid state decodes");
        let words = t.to_words();
        self.history.insert((conn as u16, t.gen), t.clone());
        self.tcbs[conn] = t;
        self.touched[conn] = true;
        self.changes += 1;
        words
    }

    fn cycle(&mut self, phase: &Phase, enable: bool) {
        let now = self.m.cycles();
        let p = &self.p;
        self.m.set(p.enable, enable as u64);
        self.m.set(p.ring_base, RING_BASE);
        let mut strobe = self.queued_change.take();
        if strobe.is_none() && self.rng.gen_bool(phase.change) {
            strobe = Some(self.rng.gen_range(0..phase.hot));
        }
        // The table write and the strobe in the same cycle, as the engine's write-back.
        let mut wide = [0u64; TCB_WORDS / 2];
        if let Some(conn) = strobe {
            let words = self.change(conn);
            for (w, pair) in wide.iter_mut().zip(words.chunks_exact(2)) {
                *w = pair[0] as u64 | (pair[1] as u64) << 32;
            }
        }
        self.m.set(self.p.changed, strobe.is_some() as u64);
        self.m.set(self.p.changed_conn, strobe.unwrap_or(0) as u64);
        self.m.set(self.p.tcb_we, strobe.is_some() as u64);
        self.m.set(self.p.tcb_waddr, strobe.unwrap_or(0) as u64);
        self.m.set_wide(self.p.tcb_wdata, &wide);
        // The consumer count reaches the register some cycles after the host wrote it.
        while let Some(&(due, count)) = self.cons_in_flight.front() {
            if due > now {
                break;
            }
            self.cons_published = count;
            self.cons_in_flight.pop_front();
        }
        self.m.set(self.p.cons_idx, self.cons_published as u64);
        self.host.drive_write(&mut self.m, &self.wp, &mut self.rng, now);

        self.m.cycle();

        if let Some(beat) = self.host.observe_write(&self.m, &self.wp, &mut self.rng, now) {
            let off = beat.row - RING_BASE;
            if off % EVENT_RECORD_BYTES as u64 == 0 {
                // The first beat of record `records_started`.
                let k = self.records_started;
                assert_eq!(off as usize, self.ring.offset(k), "record {k} written to the wrong slot");
                assert!(
                    self.ring.in_use(k.wrapping_add(1), self.cons_published) as usize <= self.ring.entries(),
                    "record {k} overwrites a record the host has not given back (consumer count {})",
                    self.cons_published
                );
                self.records_started = k.wrapping_add(1);
            }
        }
        assert_eq!(self.m.get(self.p.dma_err), 0, "a record write failed");
        if self.rng.gen_bool(phase.poll) {
            let max = self.rng.gen_range(1..=8);
            self.poll(max);
        }
    }

    /// The host takes up to `max` records and schedules its consumer count.
    fn poll(&mut self, max: usize) {
        let before = self.consumer.consumed();
        for _ in 0..max {
            let Some(r) = self.consumer.poll(&self.host.mem[..]).expect("the ring decodes") else { break };
            let had = self.history.get(&(r.conn, r.tcb.gen));
            assert_eq!(had, Some(&r.tcb), "record {} is no state connection {} ever had", self.records, r.conn);
            if let Some(prev) = self.seen[r.conn as usize] {
                assert!(
                    SeqNum(prev).not_after(SeqNum(r.tcb.gen)),
                    "connection {}: a record of generation {} after one of {prev}",
                    r.conn,
                    r.tcb.gen
                );
            }
            self.seen[r.conn as usize] = Some(r.tcb.gen);
            self.records += 1;
        }
        let after = self.consumer.consumed();
        if after != before {
            let due = self.m.cycles() + self.rng.gen_range(1..40);
            self.cons_in_flight.push_back((due, after));
        }
    }

    /// The host's restart: with the writer disabled and quiet and every
    /// record up to its count taken, zero the ring, reset the consumer and
    /// the consumer register; the caller then raises `enable`.
    fn restart_ring(&mut self) {
        self.host.mem.fill(0);
        self.consumer = EventQueueConsumer::new(self.ring);
        self.cons_in_flight.clear();
        self.cons_published = 0;
        self.records_started = 0;
    }

    /// Changes stop; runs until the host has seen every connection's last
    /// state and taken every record. Returns the cycles it took.
    fn drain(&mut self) -> u64 {
        let drain = Phase { cycles: 0, change: 0.0, hot: CONNS, poll: 0.2 };
        let mut waited = 0;
        while !self.behind().is_empty() || self.m.get(self.p.prod_idx) as u16 != self.consumer.consumed() {
            self.cycle(&drain, true);
            waited += 1;
            assert!(waited < 200_000, "the host never saw the final state of connections {:?}", self.behind());
        }
        waited
    }

    /// Connections that changed and whose last state the host has not seen.
    fn behind(&self) -> Vec<usize> {
        (0..CONNS).filter(|&c| self.touched[c] && self.seen[c] != Some(self.tcbs[c].gen)).collect()
    }
}

fn run(seed: u64, phases: &[Phase]) -> Bench {
    let mut b = Bench::new(seed);
    // Changes while the writer is off queue up; nothing is written.
    let quiet = Phase { cycles: 200, change: 0.3, hot: CONNS, poll: 0.0 };
    for _ in 0..quiet.cycles {
        b.cycle(&quiet, false);
    }
    assert_eq!(b.records_started, 0, "a record written while the writer was off");
    for ph in phases {
        for _ in 0..ph.cycles {
            b.cycle(ph, true);
        }
    }
    let waited = b.drain();
    assert!(b.touched.iter().all(|&t| t), "some connection never changed: the run is too short");
    eprintln!(
        "{} changes, {} records ({} cycles; drained in {waited})",
        b.changes,
        b.records,
        b.m.cycles()
    );
    b
}

#[test]
fn slow_host_sees_every_final_state_and_no_torn_record() {
    let seed = holdback_sim::test_seed(0xE7E7_0001);
    let phases = [
        // Bursts on all connections, a host that polls now and then.
        Phase { cycles: 20_000, change: 0.2, hot: CONNS, poll: 0.01 },
        // The host stops: the ring fills, the writer must wait.
        Phase { cycles: 10_000, change: 0.3, hot: CONNS, poll: 0.0 },
        // A few hot connections hammered: heavy coalescing.
        Phase { cycles: 20_000, change: 0.8, hot: 4, poll: 0.02 },
        // Sparse changes, a brisk host.
        Phase { cycles: 20_000, change: 0.02, hot: CONNS, poll: 0.2 },
        // Everything at once.
        Phase { cycles: 30_000, change: 0.5, hot: CONNS, poll: 0.005 },
    ];
    let b = run(seed, &phases);
    assert!(b.records < b.changes / 2, "{} records for {} changes: changes did not coalesce", b.records, b.changes);
    assert!(b.consumer.consumed() as u64 == b.records % 65536);
    // The ring wrapped many times (phase flips exercised).
    assert!(b.records > 20 * b.ring.entries() as u64, "only {} records", b.records);
}

#[test]
fn every_change_gets_a_record_when_the_host_keeps_up() {
    // Changes far apart: each is read, written and consumed before the next,
    // so nothing coalesces and every generation reaches the host.
    let seed = holdback_sim::test_seed(0xE7E7_0002);
    let mut b = Bench::new(seed);
    let idle = Phase { cycles: 0, change: 0.0, hot: CONNS, poll: 1.0 };
    for i in 0..300 {
        let conn = b.rng.gen_range(0..CONNS);
        b.queued_change = Some(conn);
        b.cycle(&idle, true);
        let mut waited = 0;
        while b.seen[conn] != Some(b.tcbs[conn].gen) {
            b.cycle(&idle, true);
            waited += 1;
            assert!(waited < 2_000, "change {i} on connection {conn} never reached the host");
        }
    }
    assert_eq!(b.records, b.changes);
}

#[test]
fn the_host_restarts_the_ring_after_draining_it() {
    let seed = holdback_sim::test_seed(0xE7E7_0003);
    let mut b = Bench::new(seed);
    let busy = Phase { cycles: 5_000, change: 0.3, hot: CONNS, poll: 0.02 };
    let off = Phase { cycles: 0, change: 0.3, hot: CONNS, poll: 0.0 };
    for round in 0..3 {
        for _ in 0..busy.cycles {
            b.cycle(&busy, true);
        }
        // Drop enable (changes go on) and wait for the writer to go quiet.
        let mut waited = 0;
        while {
            b.cycle(&off, false);
            b.m.get(b.p.active) == 1
        } {
            waited += 1;
            assert!(waited < 1_000, "round {round}: the writer stays active with enable low");
        }
        let prod = b.m.get(b.p.prod_idx) as u16;
        for _ in 0..100 {
            b.cycle(&off, false);
        }
        assert_eq!(b.m.get(b.p.prod_idx) as u16, prod, "round {round}: records written with enable low");
        assert_eq!(b.records_started, prod, "round {round}: a record started but not counted");
        // Take every record up to the count, then start a fresh ring.
        let mut polls = 0;
        while b.consumer.consumed() != prod {
            b.poll(8);
            polls += 1;
            assert!(polls < 1_000, "round {round}: records up to {prod} are not all in the ring");
        }
        b.restart_ring();
    }
    b.drain();
    assert!(b.touched.iter().all(|&t| t));
}
