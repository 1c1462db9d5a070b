//! The host-memory data path of the whole core against the reference model,
//! with a slow host: back-to-back full-size frames into one connection and
//! into many, holdback on, while the host hands the event ring's consumer
//! count back late (every few inputs, so the ring of 2N records fills and
//! changes coalesce), releases R slowly (part of what it received, now and
//! then) and its memory stalls the core's AXI writes and answers late.
//!
//! Checked: every frame the core sends (every ACK and window) equals the
//! model's; every event record is a state the model's TCB had, and after a
//! catch-up the last one of each connection is its last state; every payload
//! byte is in the connection's host ring at its stream offset, compared with
//! the bytes the peer sent right after they landed (before the ring can wrap
//! over them) and with the model's ring; counters agree, no DMA error.
//!
//! Seed: `HOLDBACK_TEST_SEED=<n>` reproduces a run (each test prints its seed).
#[path = "common/or_panic.rs"]
mod or_panic;
use or_panic::OrPanic;
use std::net::Ipv4Addr;

use holdback_regmap::{CoreParams, Stat};
use holdback_sim::axi_slave::AxiKnobs;
use holdback_sim::core_sim::CoreSim;
use holdback_sim::refmodel::lockstep::{test_mac, Lockstep, PeerConn};
use holdback_sim::refmodel::Config;
use holdback_sim::wire::{Endpoint, MacAddr};
use rand::{rngs::SmallRng, Rng, SeedableRng};

const CORE: Endpoint = Endpoint { mac: MacAddr([0x02, 0x00, 0x5e, 0x00, 0x00, 0x02]), ip: Ipv4Addr::new(198, 18, 0, 2) };
const LISTEN: u16 = 5001;
const RTO_US: u32 = 3000;
const MSS: usize = 1460;

fn peer(n: u16) -> Endpoint {
    Endpoint { mac: test_mac(n), ip: Ipv4Addr::new(198, 18, 2 + (n >> 8) as u8, n as u8) }
}

/// One connection as the peer drives it: what it sent, what landed.
struct Flow {
    c: PeerConn,
    /// Every payload byte sent, from stream offset 0.
    sent: Vec<u8>,
    /// Stream offset up to which host memory was checked.
    checked: usize,
}

struct Run {
    ls: Lockstep<CoreSim>,
    rng: SmallRng,
    flows: Vec<Flow>,
    frames: u64,
}

impl Run {
    /// `event_lag`: inputs between two of the host's looks at the event ring.
    fn new(seed: u64, conns: u16, event_lag: u32) -> Run {
        let mut core = CoreSim::new().unwrap_or_else(|e| panic!("cannot start the Verilated core ({e}); the sim crate needs verilator: apt-get install verilator"));
        // The host's memory stalls a third of the address and data cycles and answers 0-24 cycles late.
        core.set_axi_knobs(Some(AxiKnobs { stall: 0.3, b_latency: 24, seed }));
        let mut cfg = Config::new(&CoreParams::DEFAULT, CORE.mac, CORE.ip, &[LISTEN], 1460, RTO_US);
        cfg.holdback = true;
        let mut ls = Lockstep::new(core, cfg).unwrap_or_else(|e| panic!("configure: {e}"));
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut flows = Vec::new();
        for n in 0..conns {
            let isn: u32 = rng.gen();
            let c = PeerConn::open(&mut ls, peer(n + 1), 40000 + n, LISTEN, isn).or_panic("open");
            flows.push(Flow { c, sent: Vec::new(), checked: 0 });
        }
        // From here on the host is slow to hand back the event ring's count.
        ls.set_event_lag(event_lag);
        Run { ls, rng, flows, frames: 0 }
    }

    /// Up to `max` full-size segments of flow `f`, as far as its window allows.
    fn segments(&mut self, f: usize, max: usize) -> Vec<Vec<u8>> {
        let t = self.ls.model.tcb(self.flows[f].c.id).clone();
        let flow = &mut self.flows[f];
        let mut out = Vec::new();
        for _ in 0..max {
            let room = t.rcv_adv.diff(flow.c.snd_nxt);
            if room <= 0 {
                break;
            }
            let len = (room as usize).min(MSS);
            let payload: Vec<u8> = (0..len).map(|_| self.rng.gen()).collect();
            out.push(flow.c.data(&payload));
            flow.c.snd_nxt += len as u32;
            flow.sent.extend_from_slice(&payload);
        }
        out
    }

    fn send(&mut self, frames: Vec<Vec<u8>>) {
        if frames.is_empty() {
            return;
        }
        self.frames += frames.len() as u64;
        self.ls.burst(&frames).or_panic("back-to-back frames");
        self.check_landed();
    }

    /// The host releases part of what flow `f` received (R moves slowly).
    fn release_some(&mut self, f: usize) {
        let id = self.flows[f].c.id;
        let t = self.ls.model.tcb(id).clone();
        let unreleased = t.rcv_nxt.diff(t.rel);
        if unreleased > 0 {
            let by = self.rng.gen_range(1..=unreleased as u32);
            self.ls.release(id, (t.rel + by).0).or_panic("release");
        }
    }

    /// Every byte that landed since the last look is in host memory, as the
    /// peer sent it (the ring cannot have wrapped over it: nothing above R +
    /// ring is accepted, and these bytes are not released yet or just were).
    fn check_landed(&mut self) {
        let layout = self.ls.dma_layout();
        let mem = self.ls.dut.host_memory();
        for flow in &mut self.flows {
            let t = self.ls.model.tcb(flow.c.id);
            let received = t.rcv_nxt.diff(t.irs + 1) as usize;
            assert!(received <= flow.sent.len(), "connection {}: received more than was sent", flow.c.id);
            let mut at = flow.checked;
            while at < received {
                // One contiguous piece up to the ring's end.
                let ring_off = at % layout.ring_bytes();
                let n = (received - at).min(layout.ring_bytes() - ring_off);
                let mut host = vec![0u8; n];
                mem.read(layout.stream_iova(flow.c.id, at as u64), &mut host).expect("ring inside host memory");
                if host != flow.sent[at..at + n] {
                    let i = host.iter().zip(&flow.sent[at..]).position(|(a, b)| a != b).unwrap_or(0);
                    panic!("connection {}: host ring differs from the bytes sent at stream offset {}", flow.c.id, at + i);
                }
                at += n;
            }
            flow.checked = received;
        }
    }

    /// The host catches up; records, counters, TCBs and rings agree with the model.
    fn finish(&mut self) {
        for f in 0..self.flows.len() {
            let (id, nxt) = (self.flows[f].c.id, self.ls.model.tcb(self.flows[f].c.id).rcv_nxt);
            self.ls.release(id, nxt.0).or_panic("final release");
        }
        self.ls.catch_up().or_panic("catch-up");
        self.ls.check_change_log().or_panic("records after the catch-up");
        self.ls.check_stats().or_panic("counters");
        assert_eq!(self.ls.model.stat(Stat::DmaErrors), 0);
        assert_eq!(self.ls.dut.axi_counters().slverr, 0, "a DMA write outside host memory");
        assert_eq!(self.ls.dut.axi_counters().protocol_errors, 0, "the core broke AXI4's rules");
        let ring = self.ls.model.cfg.ring_bytes as usize;
        for f in 0..self.flows.len() {
            let id = self.flows[f].c.id;
            self.ls.check_tcb(id, &[]).or_panic("TCB");
            let received = self.flows[f].sent.len();
            // The model's ring holds the last ring's worth of the stream.
            let from = received.saturating_sub(ring);
            self.ls.check_ring(id, from % ring, received - from).or_panic("ring against the model's");
        }
        self.check_landed();
    }
}

#[test]
fn one_connection_back_to_back_with_a_slow_host() {
    let seed = holdback_sim::test_seed(0xD3A_0001);
    eprintln!("seed {seed}");
    let mut r = Run::new(seed, 1, 5);
    let t0 = std::time::Instant::now();
    for round in 0..120 {
        let n = r.rng.gen_range(1..=12);
        let frames = r.segments(0, n);
        r.send(frames);
        // Now and then the host releases part of what it has.
        if round % 3 == 2 {
            r.release_some(0);
        }
    }
    r.finish();
    let bytes = r.flows[0].sent.len();
    eprintln!("{} frames, {bytes} bytes into one connection in {:?}", r.frames, t0.elapsed());
    // The stream wrapped the 64 KiB ring several times and the window closed on the way.
    assert!(bytes > 4 * 65536, "only {bytes} bytes");
}

#[test]
fn many_connections_interleaved_back_to_back_with_a_slow_host() {
    let seed = holdback_sim::test_seed(0xD3A_0002);
    eprintln!("seed {seed}");
    let conns = 24;
    // 24 connections x up to 24 frames per input x 12 inputs: the 128-record ring fills.
    let mut r = Run::new(seed, conns, 12);
    let t0 = std::time::Instant::now();
    for round in 0..60 {
        // A burst with segments of several connections interleaved.
        let mut frames = Vec::new();
        for _ in 0..r.rng.gen_range(4..=24) {
            let f = r.rng.gen_range(0..conns as usize);
            frames.extend(r.segments(f, 1));
        }
        r.send(frames);
        if round % 2 == 1 {
            let f = r.rng.gen_range(0..conns as usize);
            r.release_some(f);
        }
    }
    r.finish();
    let bytes: usize = r.flows.iter().map(|f| f.sent.len()).sum();
    eprintln!("{} frames, {bytes} bytes into {conns} connections in {:?}", r.frames, t0.elapsed());
    assert!(r.flows.iter().all(|f| !f.sent.is_empty()), "some connection got no data");
}
