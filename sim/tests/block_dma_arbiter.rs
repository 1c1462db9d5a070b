//! The Verilated DMA write arbiter (`hdl/src/dma/arbiter.rs`) in front of a
//! DMA writer with 16-beat bursts, driven by two random requesters and
//! answered by host memory behind an AXI4 slave (`common/axi_host.rs`).
//!
//! Each requester works like the payload DMA: it offers a command and, at
//! once, its stream (before the command is granted, too), moves on to its
//! next command as soon as the current one's beats are gone, and takes its
//! `done`s in order later. Per stall rate (0, 0.3, 0.8), 1 500 commands per
//! requester of 0..=300 bytes (some of 1460) at random lanes, each
//! requester in its own half of the host window, quiet for up to 60
//! cycles (scaled by the stall rate) before 30 % of its commands (so that often only one waits). Checked on every cycle:
//! a command is granted only when the previous one's stream beats have all
//! been taken (the writer keeps earlier commands' responses owed meanwhile),
//! and an idle writer (nothing streaming, nothing owed) takes an offered
//! command in that very cycle; a stream beat is taken only from the
//! requester whose command is streaming; `done`s come in grant order and
//! reach only the owner of the oldest command owed, after all its beats;
//! when both wait the payload requester (`req0`) is granted, unless the
//! record requester was passed over twice in a row. The record's barrier:
//! `req1_snap` strobes at random (5 % of cycles) with `req0_queued` = req0's
//! offered command; after a strobe that finds one, req1 is not granted
//! before req0's command is (and a tie then goes to req0). Every W beat belongs to
//! the oldest granted command not yet wholly on the bus, every host byte it
//! writes lies in that command's range and is written once; at the end the
//! window equals the expected image. One
//! write burst per run answers SLVERR: exactly its command sees `err`.
//!
//! Seed: `HOLDBACK_TEST_SEED=<n>` reproduces a run (each test prints its seed).
#[path = "common/axi_host.rs"]
mod axi_host;

use std::collections::VecDeque;

use axi_host::{HostMem, WritePorts};
use holdback_sim::model::{Model, PortId};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const WINDOW_BASE: u64 = 0x2_0000_0000;
const WINDOW: usize = 0x4_0000;
const HALF: u64 = WINDOW as u64 / 2;
const MAX_BEATS: u32 = 16;
const JOBS: usize = 1500;
const TIMEOUT: u64 = 3_000_000;

struct ReqPorts {
    cmd_valid: PortId,
    cmd_ready: PortId,
    cmd_addr: PortId,
    cmd_len: PortId,
    cmd_done: PortId,
    cmd_err: PortId,
    data_valid: PortId,
    data_ready: PortId,
    data: PortId,
}

impl ReqPorts {
    fn of(m: &Model, req: &str) -> ReqPorts {
        let p = |n: &str| m.port(&format!("{req}_{n}")).unwrap_or_else(|e| panic!("{e}"));
        ReqPorts {
            cmd_valid: p("cmd__024valid"),
            cmd_ready: p("cmd__024ready"),
            cmd_addr: p("cmd__024addr"),
            cmd_len: p("cmd__024len"),
            cmd_done: p("cmd__024done"),
            cmd_err: p("cmd__024err"),
            data_valid: p("data__024valid"),
            data_ready: p("data__024ready"),
            data: p("data__024data"),
        }
    }
}

struct Job {
    addr: u64,
    bytes: Vec<u8>,
    beats: Vec<u64>,
    sent: usize,
    /// Index in the run's AW log of the job's first burst, once granted.
    first_burst: Option<usize>,
}

/// One requester: jobs not yet issued, the one issuing, the ones waiting for `done`.
struct Requester {
    p: ReqPorts,
    todo: VecDeque<Job>,
    issuing: Option<(Job, bool)>,
    waiting: VecDeque<Job>,
    /// Probability of not offering a stream beat in a cycle.
    stall: f64,
    dones: usize,
    errs: Vec<u64>,
    /// Cycles to stay quiet before the next command (so that often only one requester waits).
    idle: u32,
}

impl Requester {
    fn new(m: &Model, name: &str, region: u64, stall: f64, rng: &mut SmallRng) -> Requester {
        let todo = (0..JOBS)
            .map(|_| {
                let len = if rng.gen_bool(0.05) { 1460 } else { rng.gen_range(0..=300) };
                let addr = region + 8 * rng.gen_range(0..(HALF - 2048) / 8) + rng.gen_range(0..8);
                let mut bytes = vec![0u8; len];
                rng.fill(&mut bytes[..]);
                let beats = axi_host::stream_beats(&bytes, rng);
                Job { addr, bytes, beats, sent: 0, first_burst: None }
            })
            .collect();
        Requester {
            p: ReqPorts::of(m, name),
            todo,
            issuing: None,
            waiting: VecDeque::new(),
            stall,
            dones: 0,
            errs: Vec::new(),
            idle: 0,
        }
    }

    /// Drives the requester's inputs for the coming cycle; returns whether
    /// it offers a command.
    fn drive(&mut self, m: &mut Model, rng: &mut SmallRng) -> bool {
        if self.issuing.is_none() {
            if self.idle > 0 {
                self.idle -= 1;
            } else {
                self.issuing = self.todo.pop_front().map(|j| (j, false));
                if rng.gen_bool(0.3) {
                    // Commands take about 1 / (1 - stall) times longer when stalled.
                    self.idle = rng.gen_range(1..(60.0 / (1.0 - self.stall)) as u32);
                }
            }
        }
        let (mut cv, mut dv) = (false, false);
        if let Some((job, accepted)) = &self.issuing {
            cv = !accepted;
            m.set(self.p.cmd_addr, job.addr);
            m.set(self.p.cmd_len, job.bytes.len() as u64);
            if job.sent < job.beats.len() && !rng.gen_bool(self.stall) {
                dv = true;
                m.set(self.p.data, job.beats[job.sent]);
            }
        }
        m.set(self.p.cmd_valid, cv as u64);
        m.set(self.p.data_valid, dv as u64);
        cv
    }

    fn finished(&self) -> bool {
        self.todo.is_empty() && self.issuing.is_none() && self.waiting.is_empty()
    }
}

/// A granted command: which requester, its range.
#[derive(Clone, Copy, Debug)]
struct InFlight {
    req: usize,
    addr: u64,
    len: usize,
}

fn run(stall: f64, seed: u64) {
    let mut m = Model::new("dma_arbiter").expect("the dma_arbiter test instance is built");
    let mut rng = SmallRng::seed_from_u64(seed);
    let wp = WritePorts::of(&m);
    let mut host = HostMem::new(WINDOW_BASE, WINDOW, MAX_BEATS, stall, &mut rng);
    host.fail_b = Some(rng.gen_range(0..400));
    let mut reqs = [
        Requester::new(&m, "req0", WINDOW_BASE, stall, &mut rng),
        Requester::new(&m, "req1", WINDOW_BASE + HALF, stall, &mut rng),
    ];
    let mut expect = host.mem.clone();
    let mut written = vec![0u8; WINDOW];
    // The command whose stream the writer takes; the granted commands whose
    // `done` is owed; the granted commands not yet wholly on the bus (bytes left).
    let mut streaming: Option<InFlight> = None;
    let mut owed: VecDeque<InFlight> = VecDeque::new();
    let mut on_bus: VecDeque<(InFlight, usize, bool)> = VecDeque::new();
    let mut last_grant: Option<usize> = None;
    let mut passed = 0u32;
    let queued0 = m.port("req0_queued").expect("req0_queued");
    let snap1 = m.port("req1_snap").expect("req1_snap");
    // req1 snapped while req0's command waited: req0 goes first.
    let mut barrier = false;
    let mut barriers_held = 0u64;
    let (mut ties, mut grants, mut alone_again, mut max_owed) = (0u64, 0u64, 0u64, 0usize);
    let mut failed_job: Option<(usize, u64)> = None;
    let mut job_ids = [0u64; 2];

    while !reqs.iter().all(Requester::finished) {
        let now = m.cycles();
        assert!(now < TIMEOUT, "stall {stall}: not finished within {TIMEOUT} cycles");
        let offers = [reqs[0].drive(&mut m, &mut rng), reqs[1].drive(&mut m, &mut rng)];
        let snap = rng.gen_bool(0.05);
        m.set(snap1, snap as u64);
        m.set(queued0, offers[0] as u64);
        host.drive_write(&mut m, &wp, &mut rng, now);
        m.cycle();
        let beat = host.observe_write(&m, &wp, &mut rng, now);

        // ---- Completions: only the owner, after all its beats. ----
        let mut done_now = false;
        for r in 0..2 {
            let done = m.get(reqs[r].p.cmd_done) == 1;
            let err = m.get(reqs[r].p.cmd_err) == 1;
            assert!(!err || done, "stall {stall}: req{r} err without done");
            if !done {
                continue;
            }
            assert!(!done_now, "stall {stall}: two dones in one cycle");
            let f = owed.pop_front().unwrap_or_else(|| panic!("stall {stall}: done to req{r} with no command owed"));
            assert_eq!(f.req, r, "stall {stall}: done of req{}'s command (the oldest owed) went to req{r}", f.req);
            let job = reqs[r]
                .waiting
                .pop_front()
                .unwrap_or_else(|| panic!("stall {stall}: req{r} done before its command's beats were all taken"));
            assert_eq!(job.sent, job.beats.len(), "stall {stall}: req{r} done before all its beats");
            let id = job_ids[r];
            job_ids[r] += 1;
            if let (Some(fail), Some(first)) = (host.fail_b, job.first_burst) {
                if (first..host.aw_log.len()).contains(&(fail as usize)) {
                    failed_job = Some((r, id));
                }
            }
            if err {
                reqs[r].errs.push(id);
            }
            reqs[r].dones += 1;
            done_now = true;
        }

        // ---- Grants: after the previous command's stream, payload first, no lost cycle. ----
        let taken: Vec<usize> = (0..2).filter(|&r| offers[r] && m.get(reqs[r].p.cmd_ready) == 1).collect();
        assert!(taken.len() <= 1, "stall {stall}: both commands granted in one cycle");
        let writer_idle = streaming.is_none() && owed.is_empty();
        if let Some(&r) = taken.first() {
            assert!(streaming.is_none(), "stall {stall}: req{r} granted while {streaming:?} still streams");
            assert!(!(r == 1 && barrier), "stall {stall}: the record overtook a payload command queued at its snapshot");
            if offers[0] && offers[1] {
                ties += 1;
                if barrier {
                    barriers_held += 1;
                }
                let want = if passed == 2 && !barrier { 1 } else { 0 };
                assert_eq!(r, want, "stall {stall}: tie granted to req{r} with the record passed over {passed} times");
                passed = if r == 0 { (passed + 1).min(2) } else { 0 };
            } else if r == 1 {
                passed = 0;
            }
            if r == 0 {
                barrier = false;
            }
            if !offers[1 - r] && last_grant == Some(r) {
                alone_again += 1;
            }
            last_grant = Some(r);
            grants += 1;
            let (job, accepted) = reqs[r].issuing.as_mut().expect("offered");
            *accepted = true;
            job.first_burst = Some(host.aw_log.len());
            let f = InFlight { req: r, addr: job.addr, len: job.bytes.len() };
            if !job.beats.is_empty() {
                streaming = Some(f);
            }
            owed.push_back(f);
            max_owed = max_owed.max(owed.len());
            if f.len > 0 {
                on_bus.push_back((f, f.len, false));
            }
            // Commands may overlap earlier ones: host memory completes them in
            // grant order, so the latest grant's bytes are what must stay.
            let i0 = (job.addr - WINDOW_BASE) as usize;
            expect[i0..i0 + job.bytes.len()].copy_from_slice(&job.bytes);
        } else if writer_idle && (offers[0] || offers[1]) {
            panic!("stall {stall}: a command waited while the writer was idle: the arbiter lost a cycle");
        }
        if snap && offers[0] && taken.first() != Some(&0) {
            barrier = true;
        }

        // ---- Stream: only the owner's beats move. ----
        for r in 0..2 {
            if m.get(reqs[r].p.data_valid) == 1 && m.get(reqs[r].p.data_ready) == 1 {
                let f = streaming
                    .unwrap_or_else(|| panic!("stall {stall}: req{r}'s beat taken with no command streaming"));
                assert_eq!(f.req, r, "stall {stall}: req{r}'s beat taken during req{}'s command", f.req);
                let (job, _) = reqs[r].issuing.as_mut().expect("a beat offered");
                assert!(job.sent < job.beats.len());
                job.sent += 1;
                if job.sent == job.beats.len() {
                    streaming = None;
                }
            }
            let issued = matches!(&reqs[r].issuing, Some((j, true)) if j.sent == j.beats.len());
            if issued {
                let (job, _) = reqs[r].issuing.take().expect("checked");
                reqs[r].waiting.push_back(job);
            }
        }

        // ---- Host bytes: inside the oldest command not wholly on the bus, once each. ----
        if let Some(b) = beat {
            let (f, left, started) = on_bus.front_mut().expect("a W beat with no command granted");
            if !*started {
                // Its bytes are counted from its first beat (an earlier overlapping command is done by then).
                let i0 = (f.addr - WINDOW_BASE) as usize;
                written[i0..i0 + f.len].fill(0);
                *started = true;
            }
            for lane in 0..8 {
                if b.strb >> lane & 1 == 1 {
                    let a = b.row + lane;
                    assert!(
                        a >= f.addr && a < f.addr + f.len as u64,
                        "stall {stall}: byte {a:#x} written during {f:?}, outside its range"
                    );
                    let i = (a - WINDOW_BASE) as usize;
                    written[i] += 1;
                    assert_eq!(written[i], 1, "stall {stall}: byte {a:#x} written twice in {f:?}");
                    *left -= 1;
                }
            }
            if *left == 0 {
                on_bus.pop_front();
            }
        }
    }
    assert!(streaming.is_none() && owed.is_empty() && on_bus.is_empty() && host.quiet());
    if let Some(i) = (0..WINDOW).find(|&i| host.mem[i] != expect[i]) {
        panic!(
            "stall {stall}: host byte {:#x} is {:#04x}, want {:#04x}",
            WINDOW_BASE + i as u64,
            host.mem[i],
            expect[i]
        );
    }
    let (fr, fid) = failed_job.expect("the failing burst belongs to some command");
    assert_eq!(reqs[fr].errs, vec![fid], "stall {stall}: err must reach exactly the failing command's requester");
    assert!(reqs[1 - fr].errs.is_empty(), "stall {stall}: err reached the other requester");
    assert_eq!((reqs[0].dones, reqs[1].dones), (JOBS, JOBS));
    assert!(ties > JOBS as u64 / 10, "stall {stall}: only {ties} ties: the priority barely exercised");
    assert!(barriers_held > 0, "stall {stall}: no tie under a barrier: the barrier was not exercised");
    assert!(max_owed >= 2, "stall {stall}: never more than {max_owed} command owed: the pipelining was not exercised");
    assert!(alone_again > JOBS as u64 / 20, "stall {stall}: only {alone_again} repeated grants to a lone requester");
    eprintln!(
        "stall {stall}: {grants} commands, {ties} with both waiting, {alone_again} repeated to a lone requester, up to {max_owed} owed, {} cycles",
        m.cycles()
    );
}

#[test]
fn unstalled_requesters_and_host() {
    run(0.0, holdback_sim::test_seed(0xA4B1_0000));
}

#[test]
fn stall_30_percent() {
    run(0.3, holdback_sim::test_seed(0xA4B1_0030));
}

#[test]
fn stall_80_percent() {
    run(0.8, holdback_sim::test_seed(0xA4B1_0080));
}
