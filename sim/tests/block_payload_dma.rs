//! The Verilated payload DMA (`hdl/src/dma/payload.rs`) feeding a DMA writer
//! with 16-beat bursts, against a frame buffer served from Rust (one cycle of
//! read latency, network byte order) and host memory behind an AXI4 slave
//! (`common/axi_host.rs`: random stalls on every channel, protocol rules on
//! every handshake).
//!
//! The sweep crosses stall rate (0, 0.3, 0.8) x ring size (4 KiB and 64 KiB)
//! x frame-buffer byte alignment 0..7 x ring byte alignment 0..7 x 30
//! lengths (1..=17 and the edges around 32, 64 and 256 bytes, 1000, 1459,
//! 1460) x ring position (the ring's start, anywhere without a wrap, ending
//! exactly at the ring's end, across the ring's end). Every copy goes to a
//! random one of 64 connections whose ring sits between its two neighbours'
//! in the host window, with random bits above the ring in `ring_off`. After
//! every copy: each written host byte lies in the copy's range(s) and is
//! written once, the range holds the frame's bytes, the bursts tile the
//! range (two commands when it wraps), `done` came once and after the last
//! frame-buffer read (the frame buffer is scrambled at `done`), and the DMA
//! writer got one command per piece.
//!
//! Seed: `HOLDBACK_TEST_SEED=<n>` reproduces a run (each test prints its seed).
#[path = "common/axi_host.rs"]
mod axi_host;

use axi_host::{HostMem, WritePorts};
use holdback_sim::model::{Model, PortId};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const CONNS: u64 = 64;
const MAX_BEATS: u32 = 16;
/// Host address of the window's first byte: a 64 KiB ring of the middle
/// connection starts at 4 GiB, so addresses carry into bit 32.
const WINDOW_BASE: u64 = 0x1_0000_0000 - 0x1_0000;
/// The most cycles one copy may take (1460 bytes with every channel
/// stalling 80 % of the time need about a tenth of it).
const TIMEOUT: u64 = 50_000;

struct Ports {
    cmd_valid: PortId,
    cmd_ready: PortId,
    cmd_done: PortId,
    cmd_fb_off: PortId,
    cmd_len: PortId,
    cmd_conn: PortId,
    cmd_ring_off: PortId,
    fb_raddr: PortId,
    fb_rdata: PortId,
    ring_base: PortId,
    ring_log2: PortId,
    err: PortId,
    wr_done: PortId,
}

impl Ports {
    fn of(m: &Model) -> Ports {
        let p = |n: &str| m.port(n).unwrap_or_else(|e| panic!("{e}"));
        Ports {
            cmd_valid: p("cmd__024valid"),
            cmd_ready: p("cmd__024ready"),
            cmd_done: p("cmd__024done"),
            cmd_fb_off: p("cmd__024fb_off"),
            cmd_len: p("cmd__024len"),
            cmd_conn: p("cmd__024conn"),
            cmd_ring_off: p("cmd__024ring_off"),
            fb_raddr: p("fb_raddr"),
            fb_rdata: p("fb_rdata"),
            ring_base: p("ring_base"),
            ring_log2: p("ring_log2"),
            err: p("err"),
            wr_done: p("wr_done"),
        }
    }
}

/// One copy command, as the engine issues it.
#[derive(Clone, Copy, Debug)]
struct Copy {
    fb_off: usize,
    len: usize,
    conn: u64,
    /// Stream offset mod 2^16: bits above the ring are not part of the position.
    ring_off: u16,
}

/// Counts of one copy's events.
#[derive(Default, Debug)]
struct Outcome {
    /// Cycles from the accepting cycle to `done` (inclusive).
    to_done: u64,
    /// Cycles from the accepting cycle until the DMA writer finished the last piece.
    to_written: u64,
    dones: u32,
    wr_dones: u32,
    errs: u32,
}

struct Bench {
    m: Model,
    p: Ports,
    wp: WritePorts,
    host: HostMem,
    rng: SmallRng,
    fb: Vec<u8>,
    fb_addr_q: u64,
    ring_log2: u32,
}

impl Bench {
    /// Host memory holds three rings: the target connection's in the middle.
    fn new(ring_log2: u32, stall: f64, seed: u64) -> Bench {
        let m = Model::new("payload_dma").expect("the payload_dma test instance is built");
        let mut rng = SmallRng::seed_from_u64(seed);
        let host = HostMem::new(WINDOW_BASE, 3 << ring_log2, MAX_BEATS, stall, &mut rng);
        let mut fb = vec![0u8; 2048];
        rng.fill(&mut fb[..]);
        let mut b = Bench { p: Ports::of(&m), wp: WritePorts::of(&m), m, host, rng, fb, fb_addr_q: 0, ring_log2 };
        b.m.set(b.p.ring_log2, ring_log2 as u64);
        b
    }

    fn ring_bytes(&self) -> u64 {
        1 << self.ring_log2
    }

    /// `ring_base` that puts `conn`'s ring one ring above the window's start.
    fn ring_base_for(&self, conn: u64) -> u64 {
        WINDOW_BASE + self.ring_bytes() - (conn << self.ring_log2)
    }

    /// One clock: the frame buffer answers the address of the previous cycle.
    fn cycle(&mut self, now: u64) {
        let w = (self.fb_addr_q as usize % 256) * 8;
        let word = self.fb[w..w + 8].iter().fold(0u64, |a, &b| (a << 8) | b as u64);
        self.m.set(self.p.fb_rdata, word);
        self.host.drive_write(&mut self.m, &self.wp, &mut self.rng, now);
        self.m.cycle();
        self.fb_addr_q = self.m.get(self.p.fb_raddr);
    }

    /// Runs one copy to completion and checks where its bytes went; returns
    /// its counts (the caller judges `errs`).
    fn copy(&mut self, c: Copy, what: &str) -> Outcome {
        let ring = self.ring_bytes();
        let pos = c.ring_off as u64 % ring;
        let ring_base = self.ring_base_for(c.conn);
        self.m.set(self.p.ring_base, ring_base);
        let ring_start = ring_base + (c.conn << self.ring_log2);
        // The host byte each stream byte must land on.
        let dest: Vec<u64> = (0..c.len as u64).map(|i| ring_start + (pos + i) % ring).collect();
        let want: Vec<u8> = (0..c.len).map(|i| self.fb[(c.fb_off + i) % 2048]).collect();
        let pieces: Vec<(u64, usize)> = if pos + c.len as u64 > ring {
            vec![(ring_start + pos, (ring - pos) as usize), (ring_start, c.len - (ring - pos) as usize)]
        } else if c.len > 0 {
            vec![(ring_start + pos, c.len)]
        } else {
            vec![]
        };
        let mut written = vec![0u32; c.len];
        // Stream byte of a host address, if the copy covers it.
        let index_of = |addr: u64| {
            let in_ring = addr.checked_sub(ring_start).filter(|&o| o < ring)?;
            let i = (in_ring + ring - pos) % ring;
            (i < c.len as u64).then_some(i as usize)
        };
        self.host.aw_log.clear();

        let p = &self.p;
        self.m.set(p.cmd_valid, 1);
        self.m.set(p.cmd_fb_off, c.fb_off as u64);
        self.m.set(p.cmd_len, c.len as u64);
        self.m.set(p.cmd_conn, c.conn);
        self.m.set(p.cmd_ring_off, c.ring_off as u64);
        let start = self.m.cycles();
        let mut out = Outcome::default();
        let mut accepted = false;
        loop {
            let now = self.m.cycles();
            assert!(now - start < TIMEOUT, "{what}: {c:?} not finished within {TIMEOUT} cycles");
            self.cycle(now);
            if let Some(beat) = self.host.observe_write(&self.m, &self.wp, &mut self.rng, now) {
                for lane in 0..8 {
                    if beat.strb >> lane & 1 == 1 {
                        let addr = beat.row + lane;
                        let i = index_of(addr)
                            .unwrap_or_else(|| panic!("{what}: {c:?} wrote host byte {addr:#x}, outside its range"));
                        written[i] += 1;
                    }
                }
            }
            if !accepted && self.m.get(self.p.cmd_ready) == 1 {
                accepted = true;
                // Scramble the command inputs: the block must have latched them.
                self.m.set(self.p.cmd_valid, 0);
                for q in [self.p.cmd_fb_off, self.p.cmd_len, self.p.cmd_conn, self.p.cmd_ring_off] {
                    self.m.set(q, self.rng.gen());
                }
                self.m.set(self.p.ring_base, self.rng.gen());
            }
            let elapsed = self.m.cycles() - start;
            if self.m.get(self.p.cmd_done) == 1 {
                assert!(accepted, "{what}: done before the copy was accepted");
                out.dones += 1;
                out.to_done = elapsed;
                // The frame may be reused now: whatever the block reads later is noise.
                self.rng.fill(&mut self.fb[..]);
            }
            if self.m.get(self.p.wr_done) == 1 {
                out.wr_dones += 1;
                out.to_written = elapsed;
            }
            out.errs += self.m.get(self.p.err) as u32;
            if out.dones > 0 && out.wr_dones as usize == pieces.len() && self.host.quiet() {
                break;
            }
        }
        // Nothing more may happen.
        for _ in 0..4 {
            let now = self.m.cycles();
            self.cycle(now);
            assert!(
                self.host.observe_write(&self.m, &self.wp, &mut self.rng, now).is_none(),
                "{what}: a write after the copy ended"
            );
            assert_eq!(self.m.get(self.p.cmd_done) | self.m.get(self.p.wr_done), 0, "{what}: a second done");
            assert_eq!(self.m.get(self.wp.aw_valid), 0, "{what}: a burst after the copy ended");
        }

        assert_eq!(out.dones, 1, "{what}: {c:?}: one done per copy");
        assert_eq!(out.wr_dones as usize, pieces.len(), "{what}: {c:?}: one write command per piece {pieces:x?}");
        if let Some(i) = written.iter().position(|&n| n != 1) {
            panic!("{what}: {c:?}: stream byte {i} (host {:#x}) written {} times", dest[i], written[i]);
        }
        for (i, (&d, &w)) in dest.iter().zip(&want).enumerate() {
            let got = self.host.mem[(d - WINDOW_BASE) as usize];
            assert_eq!(got, w, "{what}: {c:?}: host byte {d:#x} (stream byte {i}) is {got:#04x}, want {w:#04x}");
        }
        check_tiling(&self.host.aw_log, &pieces, &format!("{what}: {c:?}"));
        out
    }
}

/// The bursts start at each piece's address and follow each other row by
/// row to its last byte, piece after piece.
fn check_tiling(log: &[axi_host::Burst], pieces: &[(u64, usize)], what: &str) {
    let mut bursts = log.iter();
    for &(addr, len) in pieces {
        let mut next = addr;
        let end = (addr + len as u64).next_multiple_of(8);
        while next != end {
            let b = bursts.next().unwrap_or_else(|| panic!("{what}: bursts {log:x?} do not cover {pieces:x?}"));
            assert_eq!(b.addr, next, "{what}: bursts {log:x?} do not tile {pieces:x?}");
            next = (b.addr & !7) + 8 * b.beats as u64;
        }
    }
    assert!(bursts.next().is_none(), "{what}: bursts {log:x?} beyond {pieces:x?}");
}

/// Every short length, either side of 32, 64 and 256 bytes, an MSS.
const LENGTHS: &[usize] = &[
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 31, 32, 33, 63, 64, 65, 255, 256, 257, 1000, 1459, 1460,
];

#[derive(Clone, Copy, Debug)]
enum Place {
    RingStart,
    Inside,
    EndsAtRingEnd,
    Wraps,
}

/// The whole cross for one stall rate and ring size; returns the number of
/// copies that wrapped and the copies run.
fn sweep(ring_log2: u32, stall: f64, seed: u64) -> (u32, u32) {
    let mut b = Bench::new(ring_log2, stall, seed);
    let ring = 1u64 << ring_log2;
    let (mut wraps, mut copies) = (0, 0);
    for fb_lane in 0..8usize {
        for ring_lane in 0..8u64 {
            for &len in LENGTHS {
                for place in [Place::RingStart, Place::Inside, Place::EndsAtRingEnd, Place::Wraps] {
                    let pos = match place {
                        Place::RingStart => ring_lane,
                        Place::Inside => (8 * b.rng.gen_range(0..(ring - len as u64 - 8) / 8)) | ring_lane,
                        // The alignment follows from the length here.
                        Place::EndsAtRingEnd => ring - len as u64,
                        Place::Wraps => {
                            if len < 2 {
                                continue;
                            }
                            // 1..len bytes before the end, at this lane if it still wraps.
                            let before = b.rng.gen_range(1..len as u64);
                            let at_lane = ((ring - before) & !7) | ring_lane;
                            if at_lane + len as u64 > ring && at_lane < ring {
                                at_lane
                            } else {
                                ring - before
                            }
                        }
                    };
                    // Anywhere in the 2 KiB frame buffer at this alignment.
                    let fb_off = 8 * b.rng.gen_range(0..=(2048 - len - fb_lane) / 8) + fb_lane;
                    // Bits of the stream offset above the ring are random.
                    let lap = b.rng.gen_range(0..(1u64 << (16 - ring_log2)));
                    let ring_off = ((lap << ring_log2) | pos) as u16;
                    let c = Copy { fb_off, len, conn: b.rng.gen_range(0..CONNS), ring_off };
                    wraps += (pos + len as u64 > ring) as u32;
                    copies += 1;
                    let out = b.copy(c, &format!("ring 2^{ring_log2}, stall {stall}, {place:?}"));
                    assert_eq!(out.errs, 0, "{c:?}: err without an error response");
                }
            }
        }
    }
    eprintln!("ring 2^{ring_log2}, stall {stall}: {copies} copies ({wraps} wrapped), {} cycles", b.m.cycles());
    (wraps, copies)
}

fn sweep_both_ring_sizes(stall: f64, seed: u64) {
    for ring_log2 in [12, 16] {
        let (wraps, copies) = sweep(ring_log2, stall, seed ^ ring_log2 as u64);
        assert!(wraps >= copies / 5, "only {wraps} of {copies} copies wrapped: the sweep lost its wrap cases");
    }
}

#[test]
fn unstalled_every_alignment_length_and_ring_position() {
    sweep_both_ring_sizes(0.0, holdback_sim::test_seed(0xB10C_0000));
}

#[test]
fn stall_30_percent_every_alignment_length_and_ring_position() {
    sweep_both_ring_sizes(0.3, holdback_sim::test_seed(0xB10C_0030));
}

#[test]
fn stall_80_percent_every_alignment_length_and_ring_position() {
    sweep_both_ring_sizes(0.8, holdback_sim::test_seed(0xB10C_0080));
}

#[test]
fn zero_length_copies_complete_without_a_write() {
    let mut b = Bench::new(12, 0.3, holdback_sim::test_seed(0xB10C_000E));
    for lane in 0..8 {
        let out = b.copy(Copy { fb_off: 100 + lane, len: 0, conn: 5, ring_off: 4093 }, "zero length");
        assert_eq!((out.wr_dones, out.errs), (0, 0));
        assert!(b.host.aw_log.is_empty(), "bursts for zero bytes");
    }
}

#[test]
fn an_error_response_strobes_err_once_for_its_copy() {
    let mut b = Bench::new(12, 0.3, holdback_sim::test_seed(0xB10C_0E22));
    // A wrapping copy of 200 bytes: 150 + 50, in 16-beat bursts: 2 + 1
    // bursts. Fail the first command's second burst.
    b.host.fail_b = Some(1);
    let out = b.copy(Copy { fb_off: 3, len: 200, conn: 9, ring_off: 4096 - 150 }, "failing");
    assert_eq!((out.dones, out.wr_dones, out.errs), (1, 2, 1), "one err, with the failing command's completion");
    // The flag belongs to that command: the next copies are clean.
    for k in 0..3 {
        let out = b.copy(Copy { fb_off: 8 * k, len: 100, conn: k as u64, ring_off: 4000 }, "after the error");
        assert_eq!(out.errs, 0, "err outlived its command");
    }
}

#[test]
fn unstalled_cycles_per_copy() {
    // Unstalled host, responses 0-4 cycles after a burst's last beat: the
    // frame is free (`done`) after the copy's beats plus the block's decode
    // and priming cycle and the DMA writer's command and address cycles.
    for len in [6usize, 64, 1460] {
        let mut b = Bench::new(16, 0.0, holdback_sim::test_seed(0xB10C_0B2B));
        let mut total = 0;
        let n = 50;
        let mut worst_to_done = 0;
        for k in 0..n {
            // No wrap here: a wrapping copy's second command waits for the
            // first one's write response (the DMA writer's rule).
            let ring_off = ((k * 1500) % (65536 - len)) as u16;
            let c = Copy { fb_off: 54 + k % 8, len, conn: k as u64 % CONNS, ring_off };
            let out = b.copy(c, "unstalled");
            assert_eq!(out.errs, 0);
            total += out.to_written;
            worst_to_done = worst_to_done.max(out.to_done);
        }
        let beats = len.div_ceil(8) as u64;
        eprintln!(
            "{len}-byte copies: {:.1} cycles per copy until written, done (frame free) after at most {worst_to_done}",
            total as f64 / n as f64
        );
        assert!(worst_to_done <= beats + 4 + 1, "{len}-byte copy: done after {worst_to_done} cycles");
    }
}
