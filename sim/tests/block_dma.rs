//! The Verilated DMA master (`hdl/src/dma/`, instances with 2-, 16- and
//! 256-beat bursts) against a Rust model of host memory behind an AXI4 slave
//! (`common/axi_host.rs`: random stalls on every channel, protocol rules
//! checked on every handshake). The sweep crosses burst limit x stall rate x
//! start lane 0..7 x length (1..=17 bytes and the edges around 32, 256, 2 KiB
//! and 4 KiB) x position (the start of a page, the last row or the last 64
//! bytes before a 4 KiB boundary, anywhere); each case runs a write and a
//! read at once, on separate halves of the window. After every command the
//! whole host window must equal the expected image (every byte of the range
//! written exactly once, nothing outside it touched), the read stream must
//! equal the memory, and the bursts must tile the range in order.
//!
//! Seed: `HOLDBACK_TEST_SEED=<n>` reproduces a run (each test prints its seed).
#[path = "common/axi_host.rs"]
mod axi_host;

use axi_host::{Burst, HostMem, ReadPorts, WritePorts};
use holdback_sim::model::{Model, PortId};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// The host window straddles the 4 GiB line: addresses carry into bit 32.
const WINDOW_BASE: u64 = 0xFFFF_8000;
const WINDOW: usize = 0x1_0000;
/// Writes go to the low half of the window, reads to the high half.
const HALF: u64 = WINDOW as u64 / 2;
/// The most cycles one command may take (a 6000-byte transfer with every
/// channel stalling 80 % of the time needs about a tenth of it).
const TIMEOUT: u64 = 200_000;

struct CorePorts {
    wr_valid: PortId,
    wr_ready: PortId,
    wr_addr: PortId,
    wr_len: PortId,
    wr_done: PortId,
    wr_err: PortId,
    wd_valid: PortId,
    wd_ready: PortId,
    wd_data: PortId,
    rd_valid: PortId,
    rd_ready: PortId,
    rd_addr: PortId,
    rd_len: PortId,
    rdd_valid: PortId,
    rdd_ready: PortId,
    rdd_data: PortId,
    rdd_last: PortId,
    rdd_err: PortId,
}

impl CorePorts {
    fn of(m: &Model) -> CorePorts {
        let p = |n: &str| m.port(n).unwrap_or_else(|e| panic!("{e}"));
        CorePorts {
            wr_valid: p("wr_cmd__024valid"),
            wr_ready: p("wr_cmd__024ready"),
            wr_addr: p("wr_cmd__024addr"),
            wr_len: p("wr_cmd__024len"),
            wr_done: p("wr_cmd__024done"),
            wr_err: p("wr_cmd__024err"),
            wd_valid: p("wr_data__024valid"),
            wd_ready: p("wr_data__024ready"),
            wd_data: p("wr_data__024data"),
            rd_valid: p("rd_cmd__024valid"),
            rd_ready: p("rd_cmd__024ready"),
            rd_addr: p("rd_cmd__024addr"),
            rd_len: p("rd_cmd__024len"),
            rdd_valid: p("rd_data__024valid"),
            rdd_ready: p("rd_data__024ready"),
            rdd_data: p("rd_data__024data"),
            rdd_last: p("rd_data__024last"),
            rdd_err: p("rd_data__024err"),
        }
    }
}

/// A write as the core issues it: the command, then its stream of beats.
struct WriteJob {
    addr: u64,
    bytes: Vec<u8>,
    beats: Vec<u64>,
    sent: usize,
    accepted: bool,
    dones: u32,
    err: bool,
}

impl WriteJob {
    fn new(addr: u64, bytes: Vec<u8>, rng: &mut SmallRng) -> WriteJob {
        let beats = axi_host::stream_beats(&bytes, rng);
        WriteJob { addr, bytes, beats, sent: 0, accepted: false, dones: 0, err: false }
    }
}

/// A read as the core issues it, and what came back.
struct ReadJob {
    addr: u64,
    len: usize,
    accepted: bool,
    got: Vec<u8>,
    beats: usize,
    finished: bool,
    err: bool,
}

impl ReadJob {
    fn new(addr: u64, len: usize) -> ReadJob {
        ReadJob { addr, len, accepted: false, got: Vec::new(), beats: 0, finished: false, err: false }
    }
}

struct Bench {
    m: Model,
    core: CorePorts,
    wp: WritePorts,
    rp: ReadPorts,
    host: HostMem,
    rng: SmallRng,
    /// Probability that the core's own side stalls in a cycle.
    core_stall: f64,
}

impl Bench {
    fn new(name: &str, max_beats: u32, stall: f64, seed: u64) -> Bench {
        let m = Model::new(name).expect("the DMA master instances are built");
        let mut rng = SmallRng::seed_from_u64(seed);
        let host = HostMem::new(WINDOW_BASE, WINDOW, max_beats, stall, &mut rng);
        Bench { core: CorePorts::of(&m), wp: WritePorts::of(&m), rp: ReadPorts::of(&m), m, host, rng, core_stall: stall }
    }

    /// Runs `wr` and `rd` (either may be absent) to completion, one cycle at a
    /// time; returns the cycles taken.
    fn run(&mut self, mut wr: Option<&mut WriteJob>, mut rd: Option<&mut ReadJob>) -> u64 {
        let c = &self.core;
        let start = self.m.cycles();
        loop {
            let now = self.m.cycles();
            assert!(now - start < TIMEOUT, "no completion within {TIMEOUT} cycles");
            // ---- The core's side. ----
            let (mut wv, mut dv) = (0, 0);
            if let Some(w) = wr.as_deref() {
                wv = !w.accepted as u64;
                self.m.set(c.wr_addr, w.addr);
                self.m.set(c.wr_len, w.bytes.len() as u64);
                if w.sent < w.beats.len() && !self.rng.gen_bool(self.core_stall) {
                    dv = 1;
                    self.m.set(c.wd_data, w.beats[w.sent]);
                }
            }
            self.m.set(c.wr_valid, wv);
            self.m.set(c.wd_valid, dv);
            let mut rv = 0;
            if let Some(r) = rd.as_deref() {
                rv = !r.accepted as u64;
                self.m.set(c.rd_addr, r.addr);
                self.m.set(c.rd_len, r.len as u64);
            }
            self.m.set(c.rd_valid, rv);
            self.m.set(c.rdd_ready, !self.rng.gen_bool(self.core_stall) as u64);
            // ---- The host's side. ----
            self.host.drive_write(&mut self.m, &self.wp, &mut self.rng, now);
            self.host.drive_read(&mut self.m, &self.rp, &mut self.rng);

            self.m.cycle();

            self.host.observe_write(&self.m, &self.wp, &mut self.rng, now);
            self.host.observe_read(&self.m, &self.rp);
            let c = &self.core;
            if let Some(w) = wr.as_deref_mut() {
                if wv == 1 && self.m.get(c.wr_ready) == 1 {
                    w.accepted = true;
                }
                if dv == 1 && self.m.get(c.wd_ready) == 1 {
                    w.sent += 1;
                }
                if self.m.get(c.wr_done) == 1 {
                    assert!(w.accepted, "done before the write command was taken");
                    assert_eq!(w.sent, w.beats.len(), "done before every stream beat was taken");
                    w.dones += 1;
                    w.err = self.m.get(c.wr_err) == 1;
                }
            } else {
                assert_eq!(self.m.get(c.wr_done), 0, "done with no write command");
            }
            let rdd = self.m.get(c.rdd_valid) == 1 && self.m.get(c.rdd_ready) == 1;
            if let Some(r) = rd.as_deref_mut() {
                if rv == 1 && self.m.get(c.rd_ready) == 1 {
                    r.accepted = true;
                }
                if rdd {
                    assert!(!r.finished, "a read beat after the last one");
                    r.got.extend_from_slice(&self.m.get(c.rdd_data).to_le_bytes());
                    r.beats += 1;
                    if self.m.get(c.rdd_last) == 1 {
                        r.finished = true;
                        r.err = self.m.get(c.rdd_err) == 1;
                    }
                }
            } else {
                assert!(!rdd, "read data with no read command");
            }
            let wr_done = wr.as_deref().is_none_or(|w| w.dones > 0);
            let rd_done = rd.as_deref().is_none_or(|r| r.finished);
            if wr_done && rd_done && self.host.quiet() {
                break;
            }
        }
        let took = self.m.cycles() - start;
        // Nothing more may happen: no second done, no stray read beat.
        self.m.set(self.core.wr_valid, 0);
        self.m.set(self.core.wd_valid, 0);
        self.m.set(self.core.rd_valid, 0);
        self.m.set(self.core.rdd_ready, 1);
        for _ in 0..4 {
            let now = self.m.cycles();
            self.host.drive_write(&mut self.m, &self.wp, &mut self.rng, now);
            self.host.drive_read(&mut self.m, &self.rp, &mut self.rng);
            self.m.cycle();
            self.host.observe_write(&self.m, &self.wp, &mut self.rng, now);
            self.host.observe_read(&self.m, &self.rp);
            assert_eq!(self.m.get(self.core.wr_done), 0, "a second done");
            assert_eq!(self.m.get(self.core.rdd_valid), 0, "read data after the last beat");
            assert_eq!(self.m.get(self.wp.aw_valid) | self.m.get(self.rp.ar_valid), 0, "a burst after the command ended");
        }
        took
    }

    /// One write and one read at once; checks the memory image, the stream
    /// and the bursts.
    fn write_and_read(&mut self, wr_addr: u64, rd_addr: u64, len: usize, what: &str) {
        let mut bytes = vec![0u8; len];
        self.rng.fill(&mut bytes[..]);
        let mut expect = self.host.mem.clone();
        let w0 = (wr_addr - WINDOW_BASE) as usize;
        expect[w0..w0 + len].copy_from_slice(&bytes);
        let r0 = (rd_addr - WINDOW_BASE) as usize;
        let want_read = self.host.mem[r0..r0 + len].to_vec();
        self.host.writes.fill(0);
        self.host.aw_log.clear();
        self.host.ar_log.clear();

        let mut wj = WriteJob::new(wr_addr, bytes, &mut self.rng);
        let mut rj = ReadJob::new(rd_addr, len);
        self.run(Some(&mut wj), Some(&mut rj));

        assert_eq!(wj.dones, 1, "{what}: one done per write");
        assert!(!wj.err, "{what}: write reported an error");
        if let Some(i) = (0..WINDOW).find(|&i| self.host.mem[i] != expect[i]) {
            let inside = (w0..w0 + len).contains(&i);
            panic!(
                "{what}: host byte {:#x} ({} the written range) is {:#04x}, want {:#04x}",
                WINDOW_BASE + i as u64,
                if inside { "inside" } else { "outside" },
                self.host.mem[i],
                expect[i]
            );
        }
        if let Some(i) = (w0..w0 + len).find(|&i| self.host.writes[i] != 1) {
            panic!("{what}: host byte {:#x} written {} times", WINDOW_BASE + i as u64, self.host.writes[i]);
        }
        check_tiling(&self.host.aw_log, wr_addr, len, &format!("{what}: write"));

        assert!(!rj.err, "{what}: read reported an error");
        assert_eq!(rj.beats, len.div_ceil(8), "{what}: read stream beats");
        assert_eq!(&rj.got[..len], &want_read[..], "{what}: read stream bytes");
        check_tiling(&self.host.ar_log, rd_addr, len, &format!("{what}: read"));
    }
}

/// The bursts of one command start at its address and follow each other row
/// by row to its last byte.
fn check_tiling(log: &[Burst], addr: u64, len: usize, what: &str) {
    let mut next = addr;
    for b in log {
        assert_eq!(b.addr, next, "{what}: bursts {log:x?} do not tile {addr:#x}+{len}");
        next = (b.addr & !7) + 8 * b.beats as u64;
    }
    assert_eq!(next, (addr + len as u64).next_multiple_of(8), "{what}: bursts {log:x?} do not cover {addr:#x}+{len}");
}

/// Lengths: every short one, and either side of 32 B, 256 B, 2 KiB, 4 KiB.
const LENGTHS: &[usize] = &[
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 31, 32, 33, 255, 256, 257, 1000, 2047, 2048, 2049,
    4095, 4096, 4097, 6000,
];

/// Page-relative start rows: the first row of a page, the last one, 64
/// bytes before the boundary; a random row is added per case.
const PAGE_ROWS: &[u64] = &[0, 4096 - 8, 4096 - 64];

/// The whole cross for one instance: stall rate x lane x length x position.
fn sweep(name: &str, max_beats: u32, seed: u64) {
    let mut cases = 0;
    let mut cycles = 0;
    for (k, stall) in [0.0, 0.3, 0.8].into_iter().enumerate() {
        let mut b = Bench::new(name, max_beats, stall, seed ^ k as u64);
        for lane in 0..8u64 {
            for &len in LENGTHS {
                let random_row = 8 * b.rng.gen_range(0..512u64);
                for row in PAGE_ROWS.iter().copied().chain([random_row]) {
                    // The page: one the whole transfer fits behind, in each half.
                    let span = (row + lane + len as u64).div_ceil(4096) * 4096;
                    let page = 4096 * b.rng.gen_range(0..=(HALF - span) / 4096);
                    let wr = WINDOW_BASE + page + row + lane;
                    let rd = WINDOW_BASE + HALF + page + row + lane;
                    let before = b.m.cycles();
                    b.write_and_read(wr, rd, len, &format!("{name} stall {stall}: {len} bytes at {wr:#x} / {rd:#x}"));
                    cycles += b.m.cycles() - before;
                    cases += 1;
                }
            }
        }
    }
    eprintln!("{name}: {cases} write+read pairs, {cycles} cycles");
}

#[test]
fn two_beat_bursts_every_lane_length_position_and_stall() {
    sweep("dma_master_b2", 2, holdback_sim::test_seed(0xD3A0_0002));
}

#[test]
fn sixteen_beat_bursts_every_lane_length_position_and_stall() {
    sweep("dma_master_b16", 16, holdback_sim::test_seed(0xD3A0_0016));
}

#[test]
fn axi_maximum_bursts_every_lane_length_position_and_stall() {
    sweep("dma_master_b256", 256, holdback_sim::test_seed(0xD3A0_0256));
}

#[test]
fn zero_length_commands_complete_without_bus_traffic() {
    let mut b = Bench::new("dma_master_b16", 16, 0.3, holdback_sim::test_seed(0xD3A0_0000));
    for lane in 0..8 {
        let image = b.host.mem.clone();
        b.host.aw_log.clear();
        b.host.ar_log.clear();
        let mut wj = WriteJob::new(WINDOW_BASE + 64 + lane, Vec::new(), &mut b.rng);
        b.run(Some(&mut wj), None);
        assert_eq!(wj.dones, 1, "a zero-length write still completes once");
        // A zero-length read yields no beat: it is done once accepted.
        let mut rj = ReadJob::new(WINDOW_BASE + HALF + lane, 0);
        rj.finished = true;
        b.run(None, Some(&mut rj));
        assert!(rj.accepted && rj.got.is_empty());
        assert!(b.host.aw_log.is_empty() && b.host.ar_log.is_empty(), "bursts for zero bytes");
        assert!(b.host.mem == image, "a zero-length write changed memory");
    }
}

#[test]
fn error_responses_reach_the_core() {
    let mut b = Bench::new("dma_master_b2", 2, 0.3, holdback_sim::test_seed(0xD3A0_0E22));
    // 100 bytes at lane 3: 13 beats in 7 two-beat bursts; the 4th write
    // burst's response and the 5th read burst's data are SLVERR.
    b.host.fail_b = Some(3);
    b.host.fail_r = Some(4);
    let mut wj = WriteJob::new(WINDOW_BASE + 3, vec![0xA5; 100], &mut b.rng);
    let mut rj = ReadJob::new(WINDOW_BASE + HALF + 3, 100);
    b.run(Some(&mut wj), Some(&mut rj));
    assert_eq!(wj.dones, 1);
    assert!(wj.err, "a failed burst must show as err with done");
    assert!(rj.finished && rj.err, "a failed read burst must show as err on the last beat");
    // The flags belong to one command: the next ones are clean.
    let mut wj = WriteJob::new(WINDOW_BASE + 3, vec![0x5A; 100], &mut b.rng);
    let mut rj = ReadJob::new(WINDOW_BASE + HALF + 3, 100);
    b.run(Some(&mut wj), Some(&mut rj));
    assert!(!wj.err && !rj.err, "error flags outlived their command");
}

#[test]
fn unstalled_transfers_move_a_beat_per_cycle() {
    // Bursts overlap: the next address goes out while the current burst's
    // data flows, so an unstalled 4 KiB transfer takes its 512 beats plus a
    // few cycles of latency, whatever the burst length.
    for (name, max_beats) in [("dma_master_b2", 2), ("dma_master_b16", 16), ("dma_master_b256", 256)] {
        let mut b = Bench::new(name, max_beats, 0.0, holdback_sim::test_seed(0xD3A0_0FA5));
        let mut bytes = vec![0u8; 4096];
        b.rng.fill(&mut bytes[..]);
        let mut wj = WriteJob::new(WINDOW_BASE, bytes, &mut b.rng);
        let w = b.run(Some(&mut wj), None);
        let mut rj = ReadJob::new(WINDOW_BASE + HALF, 4096);
        let r = b.run(None, Some(&mut rj));
        eprintln!("{name}: 4 KiB written in {w} cycles, read in {r} cycles (512 beats)");
        assert!(w <= 512 + 12, "{name}: write of 512 beats took {w} cycles");
        assert!(r <= 512 + 12, "{name}: read of 512 beats took {r} cycles");
    }
}
