//! The Verilated coalescer (`hdl/src/coalesce.rs`, model `coalesce`: 16 ids)
//! against its contract, cycle by cycle: a reference queue takes the cycle's
//! pop first and then its push, and adds the pushed id only if it is not
//! already waiting. Every id the block offers must be the reference's oldest,
//! so no id is lost, none waits twice, none comes out that nobody pushed and
//! the order is the order of first pushes. After the pushes stop the block
//! drains to the same empty queue and says so (`settled`).
//!
//! Stretches of traffic cross push rates (none to every cycle) with few or all
//! ids (the same id back to back, the popped id pushed in the cycle it leaves
//! and the cycle after) and a consumer that pops eagerly, rarely or never (the
//! queue fills: all 16 ids waiting).
//!
//! Seed: `HOLDBACK_TEST_SEED=<n>` reproduces a run (each test prints its seed).
use std::collections::VecDeque;

use holdback_sim::model::{Model, PortId};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const IDS: usize = 16;

struct Ports {
    push: PortId,
    push_id: PortId,
    pop: PortId,
    head_valid: PortId,
    head_id: PortId,
    settled: PortId,
}

struct Bench {
    m: Model,
    p: Ports,
    rng: SmallRng,
    /// Ids pushed and not yet popped, oldest first.
    reference: VecDeque<usize>,
    pushes: u64,
    pops: u64,
    max_queued: usize,
}

/// One stretch of traffic.
#[derive(Clone, Copy, Debug)]
struct Phase {
    cycles: u64,
    /// Probability of a push per cycle.
    push: f64,
    /// Pushes fall on ids 0..hot.
    hot: usize,
    /// Probability that the consumer pops an offered id.
    pop: f64,
    /// Probability that a push repeats the id the consumer just took or was offered.
    echo: f64,
}

impl Bench {
    fn new(seed: u64) -> Bench {
        let m = Model::new("coalesce").expect("the coalesce model is built");
        let port = |n: &str| m.port(n).unwrap_or_else(|e| panic!("{e}"));
        let p = Ports {
            push: port("push"),
            push_id: port("push_id"),
            pop: port("pop"),
            head_valid: port("head_valid"),
            head_id: port("head_id"),
            settled: port("settled"),
        };
        Bench { m, p, rng: SmallRng::seed_from_u64(seed), reference: VecDeque::new(), pushes: 0, pops: 0, max_queued: 0 }
    }

    /// One cycle: a push and a pop chosen by `phase`, the block's offer checked
    /// against the reference queue (both see the same inputs).
    fn cycle(&mut self, phase: &Phase, last_offer: &mut Option<usize>) {
        let push = (phase.push > 0.0 && self.rng.gen_bool(phase.push)).then(|| match *last_offer {
            Some(id) if self.rng.gen_bool(phase.echo) => id,
            _ => self.rng.gen_range(0..phase.hot),
        });
        let pop = phase.pop > 0.0 && self.rng.gen_bool(phase.pop);
        self.m.set(self.p.push, push.is_some() as u64);
        self.m.set(self.p.push_id, push.unwrap_or(0) as u64);
        self.m.set(self.p.pop, pop as u64);
        self.m.cycle();
        let cycle = self.m.cycles();

        let offered = (self.m.get(self.p.head_valid) == 1).then(|| self.m.get(self.p.head_id) as usize);
        if self.m.get(self.p.settled) == 1 {
            // Every push of earlier cycles is visible: an id is offered exactly when the reference holds one.
            assert_eq!(offered.is_some(), !self.reference.is_empty(), "cycle {cycle}: settled, offer {offered:?}, reference {:?}", self.reference);
        }
        if let Some(id) = offered {
            assert_eq!(
                Some(&id),
                self.reference.front(),
                "cycle {cycle}: the block offers id {id}, the oldest waiting id is {:?} (queue {:?})",
                self.reference.front(),
                self.reference
            );
            *last_offer = Some(id);
            if pop {
                self.reference.pop_front();
                self.pops += 1;
            }
        }
        if let Some(id) = push {
            self.pushes += 1;
            if !self.reference.contains(&id) {
                self.reference.push_back(id);
            }
        }
        self.max_queued = self.max_queued.max(self.reference.len());
    }

    /// No pushes, eager pops: the block must drain to nothing and settle.
    fn drain(&mut self) {
        let quiet = Phase { cycles: 0, push: 0.0, hot: 1, pop: 1.0, echo: 0.0 };
        let mut offer = None;
        for _ in 0..(4 * IDS + 16) {
            self.cycle(&quiet, &mut offer);
        }
        assert!(self.reference.is_empty(), "after draining, ids still wait in the reference: {:?}", self.reference);
        assert_eq!(self.m.get(self.p.head_valid), 0, "the block still offers an id after draining");
        assert_eq!(self.m.get(self.p.settled), 1, "the block is settled once drained");
    }
}

#[test]
fn every_change_reaches_the_consumer_once_in_order() {
    let seed = holdback_sim::test_seed(0xC0A1_E5CE);
    let mut b = Bench::new(seed);
    let phases = [
        Phase { cycles: 4000, push: 0.3, hot: IDS, pop: 0.5, echo: 0.2 },
        // The same few ids every cycle: back-to-back pushes of one id, pops racing pushes.
        Phase { cycles: 4000, push: 1.0, hot: 2, pop: 0.7, echo: 0.5 },
        // Nobody pops: all 16 ids end up waiting, every further push coalesces.
        Phase { cycles: 2000, push: 0.9, hot: IDS, pop: 0.0, echo: 0.0 },
        // An eager consumer and the id it takes pushed again at once.
        Phase { cycles: 6000, push: 0.8, hot: IDS, pop: 1.0, echo: 0.8 },
        Phase { cycles: 6000, push: 0.5, hot: 5, pop: 0.1, echo: 0.3 },
        Phase { cycles: 6000, push: 1.0, hot: IDS, pop: 0.9, echo: 0.1 },
    ];
    for round in 0..4 {
        for phase in &phases {
            let mut offer = None;
            for _ in 0..phase.cycles {
                b.cycle(phase, &mut offer);
            }
        }
        b.drain();
        eprintln!("round {round}: {} pushes, {} pops so far", b.pushes, b.pops);
    }
    assert_eq!(b.max_queued, IDS, "the run filled the queue with every id");
    assert!(b.pops < b.pushes / 2, "pushes coalesced: {} pops for {} pushes", b.pops, b.pushes);
}
