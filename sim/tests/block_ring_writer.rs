//! The Verilated `ring_writer` block (default instance: 64 connections x 8 KiB
//! rings) against a byte-array mirror of the ring memory: every source x
//! destination byte alignment with lengths 1..=20 and 1460, the wrap at the
//! ring end, the unused high bits of `cmd.ring_off`, neighbouring
//! connections left untouched, `done` exactly once per command, host read-back
//! through the 32-bit port, and the copy rate in bytes per cycle.
//!
//! Seed: `HOLDBACK_TEST_SEED=<n>` reproduces a run (each random test prints its seed).
mod common;

use holdback_sim::model::{Model, PortId};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const CONN_BITS: usize = 6;
const RING_BITS: usize = 13;
const RING: usize = 1 << RING_BITS;
const MEM: usize = RING << CONN_BITS;


struct Ports {
    cmd_valid: PortId,
    cmd_ready: PortId,
    cmd_fb_off: PortId,
    cmd_len: PortId,
    cmd_conn: PortId,
    cmd_ring_off: PortId,
    fb_raddr: PortId,
    fb_rdata: PortId,
    done: PortId,
    host_raddr: PortId,
    host_rdata: PortId,
}

/// The block, a frame buffer behind a registered read port, and a mirror of
/// what the ring memory must hold.
struct Rw {
    m: Model,
    p: Ports,
    fb: Vec<u8>,
    fb_addr_q: u64,
    mirror: Vec<u8>,
    dones: u64,
}

/// One copy command.
#[derive(Clone, Copy, Debug)]
struct Cmd {
    fb_off: usize,
    len: usize,
    /// All 16 bits are driven; only the low CONN_BITS select the connection.
    conn: u16,
    /// All 16 bits are driven; only the low RING_BITS are the offset.
    ring_off: u16,
}

impl Rw {
    fn new(rng: &mut SmallRng) -> Rw {
        let m = Model::new("ring_writer").expect("ring_writer is built");
        let port = |n: &str| m.port(n).unwrap_or_else(|e| panic!("{e}"));
        let p = Ports {
            // Bundle members are `cmd$<member>` in the Verilog; Verilator's C++ spells `$` as `__024`.
            cmd_valid: port("cmd__024valid"),
            cmd_ready: port("cmd__024ready"),
            cmd_fb_off: port("cmd__024fb_off"),
            cmd_len: port("cmd__024len"),
            cmd_conn: port("cmd__024conn"),
            cmd_ring_off: port("cmd__024ring_off"),
            fb_raddr: port("fb_raddr"),
            fb_rdata: port("fb_rdata"),
            done: port("cmd__024done"),
            host_raddr: port("host_raddr"),
            host_rdata: port("host_rdata"),
        };
        assert_eq!(p.host_raddr.width() as usize, CONN_BITS + RING_BITS - 2, "host_raddr indexes 32-bit words");
        let mut fb = vec![0u8; 2048];
        rng.fill(&mut fb[..]);
        let mut rw = Rw { m, p, fb, fb_addr_q: 0, mirror: Vec::new(), dones: 0 };
        // The RAMs power up with whatever Verilator gives them: learn it.
        rw.mirror = rw.read_host(0, MEM);
        rw
    }

    fn cycle(&mut self) {
        let w = self.fb_addr_q as usize * 8;
        let word = self.fb[w..w + 8].iter().fold(0u64, |a, &b| (a << 8) | b as u64);
        self.m.set(self.p.fb_rdata, word);
        self.m.cycle();
        self.fb_addr_q = self.m.get(self.p.fb_raddr);
        self.dones += self.m.get(self.p.done);
    }

    /// Reads `len` bytes (multiple of 4) from byte address `addr` (multiple of 4)
    /// through the host port, one 32-bit word per cycle, pipelined.
    fn read_host(&mut self, addr: usize, len: usize) -> Vec<u8> {
        assert!(addr.is_multiple_of(4) && len.is_multiple_of(4));
        let words = len / 4;
        let mut out = Vec::with_capacity(len);
        for k in 0..=words {
            self.m.set(self.p.host_raddr, ((addr / 4 + k) % (MEM / 4)) as u64);
            self.cycle();
            if k > 0 {
                // host_rdata now shows the word addressed in the previous cycle.
                out.extend_from_slice(&(self.m.get(self.p.host_rdata) as u32).to_le_bytes());
            }
        }
        out
    }

    /// Offers `c`, waits for `done`, updates the mirror; returns the cycles from
    /// the accepting cycle to the `done` strobe (inclusive).
    fn run(&mut self, c: Cmd) -> u64 {
        let p = &self.p;
        self.m.set(p.cmd_valid, 1);
        self.m.set(p.cmd_fb_off, c.fb_off as u64);
        self.m.set(p.cmd_len, c.len as u64);
        self.m.set(p.cmd_conn, c.conn as u64);
        self.m.set(p.cmd_ring_off, c.ring_off as u64);
        let dones0 = self.dones;
        let mut waited = 0;
        loop {
            self.cycle();
            if self.m.get(self.p.cmd_ready) == 1 {
                break;
            }
            waited += 1;
            assert!(waited < 10_000, "command never accepted");
        }
        // Scramble the command inputs: the block must have latched them.
        self.m.set(self.p.cmd_valid, 0);
        for q in [self.p.cmd_fb_off, self.p.cmd_len, self.p.cmd_conn, self.p.cmd_ring_off] {
            self.m.set(q, 0x5a5);
        }
        assert_eq!(self.dones, dones0, "done before the command started");
        let mut cycles = 1;
        while self.dones == dones0 {
            self.cycle();
            cycles += 1;
            assert!(cycles < 10_000, "no done for {c:?}");
        }
        // Exactly one strobe.
        for _ in 0..3 {
            self.cycle();
        }
        assert_eq!(self.dones, dones0 + 1, "done strobed more than once for {c:?}");
        let base = ((c.conn as usize) & ((1 << CONN_BITS) - 1)) << RING_BITS;
        for i in 0..c.len {
            let b = (c.ring_off as usize + i) % RING;
            self.mirror[base | b] = self.fb[c.fb_off + i];
        }
        cycles
    }

    /// Compares the ring bytes `[from, from + len)` of connection `conn`
    /// (wrapping, widened to 32-bit words) with the mirror.
    fn check_ring(&mut self, conn: usize, from: isize, len: usize, what: &str) {
        let start = (from.rem_euclid(RING as isize) as usize) & !3;
        let words = (len + (from.rem_euclid(RING as isize) as usize - start)).div_ceil(4);
        for k in 0..words {
            let off = (start + 4 * k) % RING;
            let addr = (conn << RING_BITS) | off;
            let got = self.read_host(addr, 4);
            assert_eq!(&got[..], &self.mirror[addr..addr + 4], "{what}: conn {conn} ring bytes {off}..{}", off + 4);
        }
    }

    fn check_all(&mut self, what: &str) {
        let got = self.read_host(0, MEM);
        if let Some(i) = (0..MEM).find(|&i| got[i] != self.mirror[i]) {
            panic!(
                "{what}: ring memory differs first at conn {} byte {}: got {:#04x}, want {:#04x}",
                i >> RING_BITS,
                i % RING,
                got[i],
                self.mirror[i]
            );
        }
    }
}

#[test]
fn every_alignment_and_short_length_lands_exactly() {
    let s = holdback_sim::test_seed(0x5257_0001);
    let mut rng = SmallRng::seed_from_u64(s);
    let mut rw = Rw::new(&mut rng);
    let mut n = 0;
    for src in 0..8 {
        for dst in 0..8 {
            for len in (1..=20).chain([1460]) {
                let conn = rng.gen_range(0..64u16);
                let ring_off = (rng.gen_range(0..RING / 8 - 200) * 8 + dst) as u16;
                let c = Cmd { fb_off: 40 + src + 8 * rng.gen_range(0..4), len, conn, ring_off };
                rw.run(c);
                // The written bytes and 8 on either side (must be untouched).
                rw.check_ring(conn as usize, ring_off as isize - 8, len + 16, &format!("{c:?}"));
                n += 1;
            }
        }
    }
    rw.check_all("after the alignment sweep");
    eprintln!("{n} commands checked");
}

#[test]
fn wraps_at_the_ring_end_without_touching_the_neighbours() {
    let s = holdback_sim::test_seed(0x5257_0002);
    let mut rng = SmallRng::seed_from_u64(s);
    let mut rw = Rw::new(&mut rng);
    for src in 0..8 {
        for back in 1..=12 {
            for len in [1usize, 7, 8, 9, 13, 20, 64, 1460] {
                // Start `back` bytes before the end of connection 5's ring; the
                // high bits of ring_off must be ignored (the conn port is
                // CONN_BITS wide, so the model drops 0xFFC0 before the RTL).
                let ring_off = (0xE000 | (RING - back)) as u16;
                let c = Cmd { fb_off: 100 + src, len, conn: 0xFFC0 | 5, ring_off };
                rw.run(c);
                rw.check_ring(5, (RING - back) as isize - 8, len + 16, &format!("{c:?}"));
            }
        }
    }
    // Connection 4 ends where 5 starts and 6 starts where 5 ends: the whole
    // memory must equal the mirror (which only ever wrote into ring 5).
    rw.check_all("after wrapping writes into connection 5");
    // And the same writes into the first and last connection.
    for conn in [0u16, 63] {
        let c = Cmd { fb_off: 3, len: 1460, conn, ring_off: (RING - 5) as u16 };
        rw.run(c);
        let c = Cmd { fb_off: 0, len: 2047, conn, ring_off: (RING - 2047 / 2) as u16 };
        rw.run(c);
    }
    rw.check_all("after wrapping writes into connections 0 and 63");
}

#[test]
fn zero_length_writes_nothing_and_still_strobes_done() {
    let mut rng = SmallRng::seed_from_u64(holdback_sim::test_seed(3));
    let mut rw = Rw::new(&mut rng);
    for dst in 0..8 {
        rw.run(Cmd { fb_off: 17, len: 0, conn: 9, ring_off: 800 + dst });
    }
    rw.check_all("after zero-length commands");
}

#[test]
fn random_commands_match_the_mirror_and_rate() {
    let s = holdback_sim::test_seed(0x5257_0003);
    let mut rng = SmallRng::seed_from_u64(s);
    let mut rw = Rw::new(&mut rng);
    let (mut bytes, mut cycles) = (0u64, 0u64);
    for _ in 0..400 {
        let fb_off = rng.gen_range(0..2048);
        let len = rng.gen_range(0..=(2048 - fb_off).min(1600));
        let c = Cmd { fb_off, len, conn: rng.gen(), ring_off: rng.gen() };
        cycles += rw.run(c);
        bytes += len as u64;
        if rng.gen_bool(0.05) {
            rng.fill(&mut rw.fb[..]);
        }
    }
    rw.check_all("after random commands");
    eprintln!("random commands: {:.2} bytes/cycle accept-to-done", bytes as f64 / cycles as f64);

    let c = Cmd { fb_off: 54, len: 1460, conn: 1, ring_off: 3 };
    let t = rw.run(c);
    let rate = 1460.0 / t as f64;
    eprintln!("1460-byte segment: {t} cycles accept-to-done = {rate:.2} bytes/cycle (8 at most)");
    assert!(rate > 7.5, "{rate} bytes/cycle");
}

#[test]
fn back_to_back_commands_with_no_gap() {
    let s = holdback_sim::test_seed(0x5257_0004);
    let mut rng = SmallRng::seed_from_u64(s);
    let mut rw = Rw::new(&mut rng);
    // cmd_valid stays high: each command is offered in the cycle after the
    // previous one was accepted, so one is taken in the same cycle as the
    // previous `done`.
    let cmds: Vec<Cmd> = (0..300)
        .map(|_| {
            let fb_off = rng.gen_range(0..2048);
            let len = rng.gen_range(0..=(2048 - fb_off).min(100));
            Cmd { fb_off, len, conn: rng.gen(), ring_off: rng.gen() }
        })
        .collect();
    let p = &rw.p;
    let (cmd_valid, cmd_ready) = (p.cmd_valid, p.cmd_ready);
    let ports = [p.cmd_fb_off, p.cmd_len, p.cmd_conn, p.cmd_ring_off];
    let (start, dones0) = (rw.m.cycles(), rw.dones);
    let mut next = 0;
    rw.m.set(cmd_valid, 1);
    while next < cmds.len() {
        let c = cmds[next];
        for (q, v) in ports.iter().zip([c.fb_off as u64, c.len as u64, c.conn as u64, c.ring_off as u64]) {
            rw.m.set(*q, v);
        }
        rw.cycle();
        if rw.m.get(cmd_ready) == 1 {
            next += 1;
        }
        assert!(rw.m.cycles() - start < 100_000, "stalled");
    }
    rw.m.set(cmd_valid, 0);
    for _ in 0..50 {
        rw.cycle();
    }
    assert_eq!(rw.dones - dones0, cmds.len() as u64, "one done per command");
    let elapsed = rw.m.cycles() - start - 50;
    let bytes: usize = cmds.iter().map(|c| c.len).sum();
    for c in &cmds {
        let base = ((c.conn as usize) & ((1 << CONN_BITS) - 1)) << RING_BITS;
        for i in 0..c.len {
            rw.mirror[base | ((c.ring_off as usize + i) % RING)] = rw.fb[c.fb_off + i];
        }
    }
    rw.check_all("after back-to-back commands");
    eprintln!("back to back: {bytes} bytes in {elapsed} cycles ({} commands of 0..=100 bytes)", cmds.len());
}
