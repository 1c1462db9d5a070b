//! Host memory behind an AXI4 slave, for the testbenches of blocks with an
//! AXI4 master port (`aw`/`w`/`b`, optionally `ar`/`r`, 64-bit data): a byte
//! window at a fixed base address, random stalls on every channel (ready low
//! on AW/W/AR, valid low on B/R, and B responses coming 0-4 cycles after their
//! burst), and the protocol rules checked on every handshake:
//! bursts of at most `max_beats` beats that stay inside one 4 KiB page and
//! inside the window, W only for a burst whose address came first, WLAST on
//! exactly the burst's last beat, strobes never empty and always one
//! contiguous run of lanes (the PCIe AXI bridge refuses holes).
//!
//! Writes land in `mem` beat by beat, as a host would see them.
#![allow(dead_code)] // each test binary uses its own subset

use std::collections::VecDeque;

use holdback_sim::model::{Model, PortId};
use rand::rngs::SmallRng;
use rand::Rng;

const PAGE: u64 = 4096;

/// The slave's side of the write channels.
pub struct WritePorts {
    pub aw_valid: PortId,
    pub aw_ready: PortId,
    pub aw_addr: PortId,
    pub aw_len: PortId,
    pub w_valid: PortId,
    pub w_ready: PortId,
    pub w_data: PortId,
    pub w_strb: PortId,
    pub w_last: PortId,
    pub b_valid: PortId,
    pub b_ready: PortId,
    pub b_resp: PortId,
}

/// The slave's side of the read channels.
pub struct ReadPorts {
    pub ar_valid: PortId,
    pub ar_ready: PortId,
    pub ar_addr: PortId,
    pub ar_len: PortId,
    pub r_valid: PortId,
    pub r_ready: PortId,
    pub r_data: PortId,
    pub r_resp: PortId,
    pub r_last: PortId,
}

fn port(m: &Model, name: &str) -> PortId {
    m.port(name).unwrap_or_else(|e| panic!("{e}"))
}

impl WritePorts {
    /// The `aw`, `w` and `b` bundles of the model's top (`aw$valid` is
    /// `aw__024valid` in Verilator's C++).
    pub fn of(m: &Model) -> WritePorts {
        WritePorts {
            aw_valid: port(m, "aw__024valid"),
            aw_ready: port(m, "aw__024ready"),
            aw_addr: port(m, "aw__024addr"),
            aw_len: port(m, "aw__024len"),
            w_valid: port(m, "w__024valid"),
            w_ready: port(m, "w__024ready"),
            w_data: port(m, "w__024data"),
            w_strb: port(m, "w__024strb"),
            w_last: port(m, "w__024last"),
            b_valid: port(m, "b__024valid"),
            b_ready: port(m, "b__024ready"),
            b_resp: port(m, "b__024resp"),
        }
    }
}

impl ReadPorts {
    pub fn of(m: &Model) -> ReadPorts {
        ReadPorts {
            ar_valid: port(m, "ar__024valid"),
            ar_ready: port(m, "ar__024ready"),
            ar_addr: port(m, "ar__024addr"),
            ar_len: port(m, "ar__024len"),
            r_valid: port(m, "r__024valid"),
            r_ready: port(m, "r__024ready"),
            r_data: port(m, "r__024data"),
            r_resp: port(m, "r__024resp"),
            r_last: port(m, "r__024last"),
        }
    }
}

/// One burst as its address channel announced it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Burst {
    pub addr: u64,
    pub beats: u32,
}

#[derive(Debug)]
struct Open {
    burst: Burst,
    /// Beats already moved.
    done: u32,
}

/// One accepted W beat: the bytes it wrote.
#[derive(Clone, Copy, Debug)]
pub struct WriteBeat {
    /// Address of lane 0.
    pub row: u64,
    pub strb: u8,
    pub last: bool,
}

pub struct HostMem {
    pub base: u64,
    pub mem: Vec<u8>,
    /// Times each byte was written (the tests reset it per command).
    pub writes: Vec<u8>,
    pub max_beats: u32,
    /// Probability that a channel stalls in a given cycle.
    pub stall: f64,
    /// Every AW / AR burst in order (the tests inspect and clear them).
    pub aw_log: Vec<Burst>,
    pub ar_log: Vec<Burst>,
    /// Answer the B of this write burst (counted from 0 over the run) with SLVERR.
    pub fail_b: Option<u64>,
    /// Answer every beat of this read burst with SLVERR.
    pub fail_r: Option<u64>,
    aw: VecDeque<Open>,
    b: VecDeque<(u64, u8)>,
    ar: VecDeque<Open>,
    bursts_written: u64,
    bursts_read: u64,
    b_offered: bool,
    /// The R beat on the bus (data, resp, last); kept until taken.
    r_offer: Option<(u64, u8, bool)>,
}

/// `bytes` as a DMA write stream: 8 per beat, stream byte 0 in bits 7:0. The
/// lanes past the last byte carry noise, so a master that lets them land is
/// caught.
pub fn stream_beats(bytes: &[u8], rng: &mut SmallRng) -> Vec<u64> {
    bytes
        .chunks(8)
        .map(|c| {
            let mut b: [u8; 8] = rng.gen();
            b[..c.len()].copy_from_slice(c);
            u64::from_le_bytes(b)
        })
        .collect()
}

/// Lanes `a..=b` set: the strobe shape the AXI bridge accepts.
fn contiguous(strb: u8) -> bool {
    let s = strb as u32;
    s != 0 && {
        let from_low = s >> s.trailing_zeros();
        from_low & (from_low + 1) == 0
    }
}

impl HostMem {
    pub fn new(base: u64, size: usize, max_beats: u32, stall: f64, rng: &mut SmallRng) -> HostMem {
        let mut mem = vec![0u8; size];
        rng.fill(&mut mem[..]);
        HostMem {
            base,
            mem,
            writes: vec![0; size],
            max_beats,
            stall,
            aw_log: Vec::new(),
            ar_log: Vec::new(),
            fail_b: None,
            fail_r: None,
            aw: VecDeque::new(),
            b: VecDeque::new(),
            ar: VecDeque::new(),
            bursts_written: 0,
            bursts_read: 0,
            b_offered: false,
            r_offer: None,
        }
    }

    fn index(&self, addr: u64) -> usize {
        assert!(
            addr >= self.base && addr < self.base + self.mem.len() as u64,
            "access at {addr:#x} outside the host window {:#x}..{:#x}",
            self.base,
            self.base + self.mem.len() as u64
        );
        (addr - self.base) as usize
    }

    fn check_burst(&self, what: &str, addr: u64, len: u64) -> Burst {
        let beats = len as u32 + 1;
        let row = addr & !7;
        assert!(beats <= self.max_beats, "{what} burst of {beats} beats at {addr:#x}: the limit is {}", self.max_beats);
        let last = row + 8 * beats as u64 - 1;
        assert_eq!(row / PAGE, last / PAGE, "{what} burst {addr:#x}..={last:#x} ({beats} beats) crosses a 4 KiB boundary");
        self.index(row);
        self.index(last);
        Burst { addr, beats }
    }

    /// Drives the slave's inputs for the coming cycle (write channels).
    pub fn drive_write(&mut self, m: &mut Model, p: &WritePorts, rng: &mut SmallRng, now: u64) {
        let stall = self.stall;
        m.set(p.aw_ready, !rng.gen_bool(stall) as u64);
        m.set(p.w_ready, !rng.gen_bool(stall) as u64);
        // A response once offered stays offered until taken (AXI: valid is never withdrawn).
        let b = self.b.front().filter(|(due, _)| *due <= now).map(|&(_, resp)| resp);
        match b {
            Some(resp) if self.b_offered || !rng.gen_bool(stall) => {
                self.b_offered = true;
                m.set(p.b_valid, 1);
                m.set(p.b_resp, resp as u64);
            }
            _ => {
                m.set(p.b_valid, 0);
                m.set(p.b_resp, 0);
            }
        }
    }

    /// Applies the handshakes of the cycle just run (write channels); returns
    /// the W beat written, if any.
    pub fn observe_write(&mut self, m: &Model, p: &WritePorts, rng: &mut SmallRng, now: u64) -> Option<WriteBeat> {
        if m.get(p.aw_valid) == 1 && m.get(p.aw_ready) == 1 {
            let burst = self.check_burst("write", m.get(p.aw_addr), m.get(p.aw_len));
            self.aw_log.push(burst);
            self.aw.push_back(Open { burst, done: 0 });
        }
        if m.get(p.b_valid) == 1 && m.get(p.b_ready) == 1 {
            self.b.pop_front().expect("B offered from the queue");
            self.b_offered = false;
        }
        let mut beat = None;
        if m.get(p.w_valid) == 1 && m.get(p.w_ready) == 1 {
            let open = self.aw.front_mut().expect("W beat before its burst's AW");
            let row = (open.burst.addr & !7) + 8 * open.done as u64;
            let strb = m.get(p.w_strb) as u8;
            let last = m.get(p.w_last) == 1;
            assert!(contiguous(strb), "W beat at {row:#x}: strobes {strb:#010b} are empty or have a hole");
            if open.done == 0 {
                assert_eq!(strb.trailing_zeros() as u64, open.burst.addr & 7, "first beat's strobes start off the burst address");
            }
            open.done += 1;
            assert_eq!(last, open.done == open.burst.beats, "WLAST on beat {} of a {}-beat burst", open.done, open.burst.beats);
            let data = m.get(p.w_data).to_le_bytes();
            for (lane, byte) in data.iter().enumerate() {
                if strb >> lane & 1 == 1 {
                    let i = self.index(row + lane as u64);
                    self.mem[i] = *byte;
                    self.writes[i] = self.writes[i].saturating_add(1);
                }
            }
            if last {
                self.aw.pop_front();
                let resp = if self.fail_b == Some(self.bursts_written) { 2 } else { 0 };
                self.bursts_written += 1;
                self.b.push_back((now + rng.gen_range(0..5), resp));
            }
            beat = Some(WriteBeat { row, strb, last });
        }
        beat
    }

    /// Drives the slave's inputs for the coming cycle (read channels).
    pub fn drive_read(&mut self, m: &mut Model, p: &ReadPorts, rng: &mut SmallRng) {
        m.set(p.ar_ready, !rng.gen_bool(self.stall) as u64);
        if self.r_offer.is_some() {
            // Offered last cycle and not taken: the same beat again.
        } else if let Some(open) = self.ar.front() {
            if !rng.gen_bool(self.stall) {
                let row = (open.burst.addr & !7) + 8 * open.done as u64;
                let i = self.index(row);
                let data = u64::from_le_bytes(self.mem[i..i + 8].try_into().expect("8 bytes"));
                let resp = if self.fail_r == Some(self.bursts_read) { 2 } else { 0 };
                self.r_offer = Some((data, resp, open.done + 1 == open.burst.beats));
            }
        }
        let (valid, (data, resp, last)) = match self.r_offer {
            Some(o) => (1, o),
            None => (0, (0, 0, false)),
        };
        m.set(p.r_valid, valid);
        m.set(p.r_data, data);
        m.set(p.r_resp, resp as u64);
        m.set(p.r_last, last as u64);
    }

    /// Applies the handshakes of the cycle just run (read channels).
    pub fn observe_read(&mut self, m: &Model, p: &ReadPorts) {
        if m.get(p.ar_valid) == 1 && m.get(p.ar_ready) == 1 {
            let burst = self.check_burst("read", m.get(p.ar_addr), m.get(p.ar_len));
            self.ar_log.push(burst);
            self.ar.push_back(Open { burst, done: 0 });
        }
        if self.r_offer.is_some() && m.get(p.r_ready) == 1 {
            self.r_offer = None;
            let open = self.ar.front_mut().expect("an R beat is offered only for an open burst");
            open.done += 1;
            if open.done == open.burst.beats {
                self.ar.pop_front();
                self.bursts_read += 1;
            }
        }
    }

    /// No burst is open and no response is owed.
    pub fn quiet(&self) -> bool {
        self.aw.is_empty() && self.b.is_empty() && self.ar.is_empty()
    }
}

#[test]
fn strobe_runs_are_recognised() {
    for ok in [0x01, 0x80, 0xFF, 0x3C, 0xF0, 0x0F] {
        assert!(contiguous(ok), "{ok:#x}");
    }
    for bad in [0x00, 0x81, 0x5A, 0xF7] {
        assert!(!contiguous(bad), "{bad:#x}");
    }
}
