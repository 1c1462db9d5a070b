//! The host side of the core's AXI4 write master (`m_axi_aw*`, `m_axi_w*`,
//! `m_axi_b*`): what the PCIe bridge and the root complex do on a card. Each
//! write burst lands in [`HostMemory`] beat by beat, in address order; a
//! burst any byte of which falls outside the memory's window writes nothing
//! and is answered SLVERR, as the bridge answers an address outside its
//! aperture.
//!
//! Optional knobs ([`AxiKnobs`]) make the slave stall AW and W at random and
//! hold each response back, so tests can show that the core's data path does
//! not depend on an always-ready host.
use std::collections::VecDeque;

use rand::{rngs::SmallRng, Rng, SeedableRng};

use crate::host_mem::HostMemory;

/// AXI4 BRESP codes.
pub const RESP_OKAY: u8 = 0;
pub const RESP_SLVERR: u8 = 2;

/// Back-pressure and latency of the simulated host's write path.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AxiKnobs {
    /// Probability that AWREADY (and, separately, WREADY) is low in a cycle.
    pub stall: f64,
    /// Cycles between a burst's last W beat and its response.
    pub b_latency: u32,
    /// Seed of the stalls.
    pub seed: u64,
}

/// What crossed the write port.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AxiCounters {
    pub bursts: u64,
    pub beats: u64,
    /// Bytes written (strobed lanes of beats inside the window).
    pub bytes: u64,
    /// Bursts answered SLVERR (outside the host memory's window).
    pub slverr: u64,
    /// Handshakes that broke AXI4's rules (a W beat with no burst open,
    /// WLAST off the burst's last beat): a core bug, also logged.
    pub protocol_errors: u64,
}

/// The values the slave drives into the core for the coming cycle.
#[derive(Clone, Copy, Debug, Default)]
pub struct SlaveDrive {
    pub awready: bool,
    pub wready: bool,
    pub bvalid: bool,
    pub bresp: u8,
}

/// The master's outputs as sampled in a cycle (pre-edge).
#[derive(Clone, Copy, Debug, Default)]
pub struct MasterSample {
    pub awvalid: bool,
    pub awaddr: u64,
    pub awlen: u8,
    pub wvalid: bool,
    pub wdata: u64,
    pub wstrb: u8,
    pub wlast: bool,
    pub bready: bool,
}

#[derive(Debug)]
struct OpenBurst {
    addr: u64,
    beats: u32,
    done: u32,
    /// The whole burst lies inside the host memory's window.
    inside: bool,
}

pub struct AxiWriteSlave {
    mem: HostMemory,
    knobs: Option<(AxiKnobs, SmallRng)>,
    open: VecDeque<OpenBurst>,
    /// Responses owed: (cycle from which it may be offered, resp).
    owed: VecDeque<(u64, u8)>,
    drive: SlaveDrive,
    counters: AxiCounters,
}

impl AxiWriteSlave {
    pub fn new(mem: HostMemory) -> AxiWriteSlave {
        AxiWriteSlave {
            mem,
            knobs: None,
            open: VecDeque::new(),
            owed: VecDeque::new(),
            drive: SlaveDrive::default(),
            counters: AxiCounters::default(),
        }
    }

    pub fn memory(&self) -> &HostMemory {
        &self.mem
    }

    pub fn set_knobs(&mut self, knobs: Option<AxiKnobs>) {
        self.knobs = knobs.map(|k| (k, SmallRng::seed_from_u64(k.seed)));
    }

    pub fn counters(&self) -> AxiCounters {
        self.counters
    }

    /// Nothing open and no response owed.
    pub fn is_quiet(&self) -> bool {
        self.open.is_empty() && self.owed.is_empty()
    }

    /// What to drive for cycle `now`. A response once offered stays offered
    /// until taken (AXI: valid is never withdrawn).
    pub fn drive(&mut self, now: u64) -> SlaveDrive {
        let (awready, wready) = match &mut self.knobs {
            Some((k, rng)) => (!rng.gen_bool(k.stall), !rng.gen_bool(k.stall)),
            None => (true, true),
        };
        let offered = self.drive.bvalid;
        let b = self.owed.front().filter(|(due, _)| offered || *due <= now).map(|&(_, resp)| resp);
        self.drive = SlaveDrive { awready, wready, bvalid: b.is_some(), bresp: b.unwrap_or(RESP_OKAY) };
        self.drive
    }

    /// Applies the handshakes of cycle `now`, given what the master showed in it.
    pub fn observe(&mut self, m: &MasterSample, now: u64) {
        let d = self.drive;
        if m.awvalid && d.awready {
            let beats = m.awlen as u32 + 1;
            let row = m.awaddr & !7;
            let inside = self.mem.contains(row, 8 * beats as usize);
            self.open.push_back(OpenBurst { addr: m.awaddr, beats, done: 0, inside });
            self.counters.bursts += 1;
        }
        if d.bvalid && m.bready {
            self.owed.pop_front();
            self.drive.bvalid = false;
        }
        if m.wvalid && d.wready {
            self.counters.beats += 1;
            let Some(open) = self.open.front_mut() else {
                self.counters.protocol_errors += 1;
                tracing::error!("AXI: a W beat with no burst open");
                return;
            };
            let row = (open.addr & !7) + 8 * open.done as u64;
            open.done += 1;
            let last = open.done == open.beats;
            if m.wlast != last {
                self.counters.protocol_errors += 1;
                tracing::error!(beat = open.done, beats = open.beats, "AXI: WLAST off the burst's last beat");
            }
            if open.inside {
                // Inside the window by construction: the burst was checked whole.
                if self.mem.write_strobed(row, m.wdata.to_le_bytes(), m.wstrb).is_ok() {
                    self.counters.bytes += m.wstrb.count_ones() as u64;
                }
            }
            if last {
                let resp = if open.inside { RESP_OKAY } else { RESP_SLVERR };
                if !open.inside {
                    self.counters.slverr += 1;
                    tracing::warn!(addr = open.addr, beats = open.beats, "AXI write outside host memory: SLVERR");
                }
                let latency = self.knobs.as_ref().map_or(0, |(k, _)| k.b_latency as u64);
                self.owed.push_back((now + 1 + latency, resp));
                self.open.pop_front();
            }
        }
    }
}
