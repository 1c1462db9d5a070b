//! The host side of the core's AXI4 read master (`m_axi_ar*`, `m_axi_r*`):
//! what the PCIe bridge does when the card reads host memory (the transmit
//! rings). Bursts are answered in the order they were issued, one beat per
//! cycle from the cycle after the address, each beat the 8-byte row of
//! [`HostMemory`] it addresses — the same memory the driver writes, so the
//! card reads exactly what the host put in its transmit ring. A burst any
//! byte of which falls outside the memory's window is answered SLVERR with
//! zero data, as the bridge answers an address outside its aperture.
use std::collections::VecDeque;

use crate::axi_slave::{RESP_OKAY, RESP_SLVERR};
use crate::host_mem::HostMemory;

/// What crossed the read port.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AxiReadCounters {
    pub bursts: u64,
    pub beats: u64,
    /// Bursts answered SLVERR (outside the host memory's window).
    pub slverr: u64,
}

/// The values the slave drives into the core for the coming cycle.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReadDrive {
    pub arready: bool,
    pub rvalid: bool,
    pub rdata: u64,
    pub rresp: u8,
    pub rlast: bool,
}

/// The master's outputs as sampled in a cycle (pre-edge).
#[derive(Clone, Copy, Debug, Default)]
pub struct ReadSample {
    pub arvalid: bool,
    pub araddr: u64,
    pub arlen: u8,
    pub rready: bool,
}

#[derive(Debug)]
struct ReadBurst {
    row: u64,
    beats: u32,
    done: u32,
    inside: bool,
}

pub struct AxiReadSlave {
    mem: HostMemory,
    open: VecDeque<ReadBurst>,
    drive: ReadDrive,
    counters: AxiReadCounters,
}

impl AxiReadSlave {
    pub fn new(mem: HostMemory) -> AxiReadSlave {
        AxiReadSlave { mem, open: VecDeque::new(), drive: ReadDrive::default(), counters: AxiReadCounters::default() }
    }

    pub fn counters(&self) -> AxiReadCounters {
        self.counters
    }

    /// No burst open.
    pub fn is_quiet(&self) -> bool {
        self.open.is_empty()
    }

    /// What to drive for the coming cycle: the front burst's next beat.
    pub fn drive(&mut self) -> ReadDrive {
        self.drive = match self.open.front() {
            None => ReadDrive { arready: true, ..ReadDrive::default() },
            Some(b) => {
                let mut word = [0u8; 8];
                let resp = if b.inside {
                    // Inside the window by construction: the burst was checked whole.
                    let _ = self.mem.read(b.row + 8 * b.done as u64, &mut word);
                    RESP_OKAY
                } else {
                    RESP_SLVERR
                };
                ReadDrive {
                    arready: true,
                    rvalid: true,
                    rdata: u64::from_le_bytes(word),
                    rresp: resp,
                    rlast: b.done + 1 == b.beats,
                }
            }
        };
        self.drive
    }

    /// Applies the handshakes of the cycle, given what the master showed in it.
    pub fn observe(&mut self, m: &ReadSample) {
        let d = self.drive;
        if d.rvalid && m.rready {
            self.counters.beats += 1;
            if let Some(b) = self.open.front_mut() {
                b.done += 1;
                if b.done == b.beats {
                    self.open.pop_front();
                }
            }
        }
        if m.arvalid && d.arready {
            let beats = m.arlen as u32 + 1;
            let row = m.araddr & !7;
            let inside = self.mem.contains(row, 8 * beats as usize);
            if !inside {
                self.counters.slverr += 1;
                tracing::warn!(addr = m.araddr, beats, "AXI read outside host memory: SLVERR");
            }
            self.counters.bursts += 1;
            self.open.push_back(ReadBurst { row, beats, done: 0, inside });
        }
    }
}
