//! The whole core (`holdback_core`), deterministic and single-threaded: frames
//! in and out as byte vectors, simulated microseconds, and the register bus.
//!
//! Time only moves when the caller says so ([`CoreSim::advance_us`]), so tests
//! are reproducible; the threaded [`crate::card::Card`] feeds wall-clock time instead.
use std::{collections::VecDeque, path::Path, time::Duration};

use crate::{
    axi_read_slave::{AxiReadCounters, AxiReadSlave, ReadSample},
    axi_slave::{AxiCounters, AxiKnobs, AxiWriteSlave, MasterSample},
    host_mem::{HostMemory, DEFAULT_HOST_MEM_BYTES, DEFAULT_HOST_MEM_IOVA},
    model::{Model, PortId},
    pcap::PcapWriter,
    SimError,
};

/// Name of the core model in `holdback_hdl::generate::all_models()`.
pub const CORE_MODEL: &str = "holdback_core";

/// Cycles a register access may take before it is reported as hung. The plan
/// promises 1..~100 cycles; this leaves room for an engine busy with a frame.
pub const REG_TIMEOUT_CYCLES: u64 = 100_000;

/// Consecutive quiet cycles (core says idle, we drive nothing) before the
/// core counts as quiescent: one sample of `idle` could race a block handing a
/// frame to the next one; a few cycles of margin cost nothing.
pub const IDLE_CONFIRM_CYCLES: u32 = 4;

/// `tick_us` is 16 bits wide: at most this many microseconds per cycle.
const MAX_TICK_PER_CYCLE: u64 = 0xffff;

/// The fixed top-level ports of the core (`hdl/src/core.rs`), `clock` excepted.
const CORE_PORTS: &[&str] = &[
    "tick_us", "s_tdata", "s_tkeep", "s_tvalid", "s_tlast", "s_tready", "m_tdata", "m_tkeep", "m_tvalid",
    "m_tlast", "m_tready", "reg_addr", "reg_wdata", "reg_we", "reg_re", "reg_rdata", "reg_ack", "idle",
    "m_axi_awaddr", "m_axi_awlen", "m_axi_awvalid", "m_axi_awready", "m_axi_wdata", "m_axi_wstrb", "m_axi_wlast",
    "m_axi_wvalid", "m_axi_wready", "m_axi_bresp", "m_axi_bvalid", "m_axi_bready", "m_axi_araddr", "m_axi_arlen",
    "m_axi_arvalid", "m_axi_arready", "m_axi_rdata", "m_axi_rresp", "m_axi_rlast", "m_axi_rvalid", "m_axi_rready",
];

#[derive(Clone, Copy)]
struct CorePorts {
    tick_us: PortId,
    s_tdata: PortId,
    s_tkeep: PortId,
    s_tvalid: PortId,
    s_tlast: PortId,
    s_tready: PortId,
    m_tdata: PortId,
    m_tkeep: PortId,
    m_tvalid: PortId,
    m_tlast: PortId,
    m_tready: PortId,
    reg_addr: PortId,
    reg_wdata: PortId,
    reg_we: PortId,
    reg_re: PortId,
    reg_rdata: PortId,
    reg_ack: PortId,
    idle: PortId,
    m_axi_awaddr: PortId,
    m_axi_awlen: PortId,
    m_axi_awvalid: PortId,
    m_axi_awready: PortId,
    m_axi_wdata: PortId,
    m_axi_wstrb: PortId,
    m_axi_wlast: PortId,
    m_axi_wvalid: PortId,
    m_axi_wready: PortId,
    m_axi_bresp: PortId,
    m_axi_bvalid: PortId,
    m_axi_bready: PortId,
    m_axi_araddr: PortId,
    m_axi_arlen: PortId,
    m_axi_arvalid: PortId,
    m_axi_arready: PortId,
    m_axi_rdata: PortId,
    m_axi_rresp: PortId,
    m_axi_rlast: PortId,
    m_axi_rvalid: PortId,
    m_axi_rready: PortId,
}

impl CorePorts {
    fn resolve(model: &Model) -> Result<CorePorts, SimError> {
        let missing: Vec<String> = CORE_PORTS.iter().filter(|n| !model.has_port(n)).map(|n| n.to_string()).collect();
        if !missing.is_empty() || !model.info().has_clock {
            let mut missing = missing;
            if !model.info().has_clock {
                missing.insert(0, "clock".to_string());
            }
            return Err(SimError::MissingPorts { model: model.name().to_string(), missing });
        }
        let p = |n: &str| model.port(n);
        Ok(CorePorts {
            tick_us: p("tick_us")?,
            s_tdata: p("s_tdata")?,
            s_tkeep: p("s_tkeep")?,
            s_tvalid: p("s_tvalid")?,
            s_tlast: p("s_tlast")?,
            s_tready: p("s_tready")?,
            m_tdata: p("m_tdata")?,
            m_tkeep: p("m_tkeep")?,
            m_tvalid: p("m_tvalid")?,
            m_tlast: p("m_tlast")?,
            m_tready: p("m_tready")?,
            reg_addr: p("reg_addr")?,
            reg_wdata: p("reg_wdata")?,
            reg_we: p("reg_we")?,
            reg_re: p("reg_re")?,
            reg_rdata: p("reg_rdata")?,
            reg_ack: p("reg_ack")?,
            idle: p("idle")?,
            m_axi_awaddr: p("m_axi_awaddr")?,
            m_axi_awlen: p("m_axi_awlen")?,
            m_axi_awvalid: p("m_axi_awvalid")?,
            m_axi_awready: p("m_axi_awready")?,
            m_axi_wdata: p("m_axi_wdata")?,
            m_axi_wstrb: p("m_axi_wstrb")?,
            m_axi_wlast: p("m_axi_wlast")?,
            m_axi_wvalid: p("m_axi_wvalid")?,
            m_axi_wready: p("m_axi_wready")?,
            m_axi_bresp: p("m_axi_bresp")?,
            m_axi_bvalid: p("m_axi_bvalid")?,
            m_axi_bready: p("m_axi_bready")?,
            m_axi_araddr: p("m_axi_araddr")?,
            m_axi_arlen: p("m_axi_arlen")?,
            m_axi_arvalid: p("m_axi_arvalid")?,
            m_axi_arready: p("m_axi_arready")?,
            m_axi_rdata: p("m_axi_rdata")?,
            m_axi_rresp: p("m_axi_rresp")?,
            m_axi_rlast: p("m_axi_rlast")?,
            m_axi_rvalid: p("m_axi_rvalid")?,
            m_axi_rready: p("m_axi_rready")?,
        })
    }
}

/// Counters of what crossed the core's ports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortCounters {
    /// Frames whose last beat the core accepted on s_axis.
    pub frames_in: u64,
    /// Frames the core emitted on m_axis.
    pub frames_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Register accesses completed.
    pub reg_ops: u64,
}

pub struct CoreSim {
    model: Model,
    p: CorePorts,
    /// Frames waiting for s_axis; the front one is being fed from `rx_pos`.
    rx_queue: VecDeque<Vec<u8>>,
    rx_pos: usize,
    /// m_axis bytes of the frame being emitted.
    tx_partial: Vec<u8>,
    tx_frames: VecDeque<Vec<u8>>,
    /// Microseconds not yet fed to tick_us.
    pending_us: u64,
    /// Microseconds fed to tick_us so far: the core's notion of time.
    now_us: u64,
    /// Wall-clock origin of pcap timestamps (`now_us` is added).
    pcap_origin: Duration,
    pcap: Option<PcapWriter>,
    counters: PortCounters,
    /// Consecutive cycles in which the core said idle and we drove no frame
    /// beat, tick or register request.
    quiet_cycles: u32,
    bus_bits: u32,
    /// The host side of the DMA write port: bursts land in the host memory.
    axi: AxiWriteSlave,
    /// The host side of the DMA read port: the transmit rings, read from the same memory.
    axi_rd: AxiReadSlave,
}

impl CoreSim {
    /// Instantiates the core. Fails with [`SimError::MissingPorts`] if the
    /// `holdback_core` model lacks the fixed top-level ports.
    pub fn new() -> Result<CoreSim, SimError> {
        CoreSim::with_host_memory(HostMemory::new(DEFAULT_HOST_MEM_IOVA, DEFAULT_HOST_MEM_BYTES))
    }

    /// As [`CoreSim::new`], with the core's DMA writes landing in `host_mem`.
    pub fn with_host_memory(host_mem: HostMemory) -> Result<CoreSim, SimError> {
        CoreSim::from_model(Model::new(CORE_MODEL)?, host_mem)
    }

    /// As [`CoreSim::new`], on the `--trace` build of the core, writing every
    /// signal to the VCD file `vcd` (feature `vcd`; ~1 KB per cycle).
    pub fn new_traced(vcd: &Path, host_mem: HostMemory) -> Result<CoreSim, SimError> {
        CoreSim::from_model(Model::new_traced(CORE_MODEL, vcd)?, host_mem)
    }

    fn from_model(mut model: Model, host_mem: HostMemory) -> Result<CoreSim, SimError> {
        let p = CorePorts::resolve(&model)?;
        model.set(p.m_tready, 1); // the sim's MAC never back-pressures
        let bus_bits = p.reg_addr.width();
        Ok(CoreSim {
            model,
            p,
            rx_queue: VecDeque::new(),
            rx_pos: 0,
            tx_partial: Vec::new(),
            tx_frames: VecDeque::new(),
            pending_us: 0,
            now_us: 0,
            pcap_origin: crate::pcap::unix_now(),
            pcap: None,
            counters: PortCounters::default(),
            quiet_cycles: 0,
            bus_bits,
            axi_rd: AxiReadSlave::new(host_mem.clone()),
            axi: AxiWriteSlave::new(host_mem),
        })
    }

    /// Records every frame in (when queued) and out (when its last beat leaves)
    /// to a classic pcap at `path`, stamped with wall-clock start + simulated time.
    pub fn record_pcap(&mut self, path: &Path) -> Result<(), SimError> {
        self.pcap = Some(PcapWriter::create(path)?);
        Ok(())
    }

    /// Queues an Ethernet frame (no FCS) for s_axis. Empty frames are ignored:
    /// AXI-Stream cannot carry them.
    pub fn push_frame(&mut self, frame: &[u8]) {
        if frame.is_empty() {
            tracing::warn!("CoreSim::push_frame: ignoring an empty frame");
            return;
        }
        self.pcap_record(frame);
        self.rx_queue.push_back(frame.to_vec());
    }

    /// The oldest frame the core emitted and nobody popped yet.
    pub fn pop_tx_frame(&mut self) -> Option<Vec<u8>> {
        self.tx_frames.pop_front()
    }

    /// Frames queued for s_axis, including the one being fed.
    pub fn rx_pending(&self) -> usize {
        self.rx_queue.len()
    }

    /// Frames emitted and not yet popped.
    pub fn tx_pending(&self) -> usize {
        self.tx_frames.len()
    }

    /// Lets `us` microseconds pass for the core: fed to tick_us over the next
    /// cycles, at most 65535 per cycle.
    pub fn advance_us(&mut self, us: u32) {
        self.pending_us += us as u64;
    }

    /// Microseconds fed to the core so far (excluding ones still pending).
    pub fn now_us(&self) -> u64 {
        self.now_us
    }

    pub fn counters(&self) -> PortCounters {
        self.counters
    }

    pub fn cycles(&self) -> u64 {
        self.model.cycles()
    }

    /// The core's `idle` output as sampled in the last cycle.
    pub fn core_idle(&self) -> bool {
        self.model.get(self.p.idle) == 1
    }

    /// Nothing left to do: the core said idle for [`IDLE_CONFIRM_CYCLES`]
    /// cycles in which we drove nothing into it (so nothing started at those
    /// edges), no frame is queued or half emitted, and no time is pending.
    pub fn is_quiescent(&self) -> bool {
        self.quiet_cycles >= IDLE_CONFIRM_CYCLES
            && self.rx_queue.is_empty()
            && self.tx_partial.is_empty()
            && self.pending_us == 0
            && self.axi.is_quiet()
            && self.axi_rd.is_quiet()
    }

    /// The host memory the core's DMA writes land in (a shared handle).
    pub fn host_memory(&self) -> HostMemory {
        self.axi.memory().clone()
    }

    /// Makes the host's write path stall and answer late (None: always ready,
    /// a response the cycle after each burst).
    pub fn set_axi_knobs(&mut self, knobs: Option<AxiKnobs>) {
        self.axi.set_knobs(knobs);
    }

    /// What crossed the DMA write port so far.
    pub fn axi_counters(&self) -> AxiCounters {
        self.axi.counters()
    }

    /// What crossed the DMA read port so far.
    pub fn axi_read_counters(&self) -> AxiReadCounters {
        self.axi_rd.counters()
    }

    /// The underlying model, for tests that poke extra ports.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// One clock cycle: feeds the next s_axis beat and up to 65535 µs of time,
    /// collects an m_axis beat.
    pub fn cycle(&mut self) {
        let p = self.p;
        let mut drove = false;

        // s_axis: frame byte 0 is tdata[7:0]; tkeep contiguous from bit 0,
        // all ones except on the last beat.
        let mut beat_len = 0;
        let mut beat_last = false;
        if let Some(frame) = self.rx_queue.front() {
            let rest = &frame[self.rx_pos..];
            beat_len = rest.len().min(8);
            beat_last = rest.len() <= 8;
            let mut word = [0u8; 8];
            word[..beat_len].copy_from_slice(&rest[..beat_len]);
            self.model.set(p.s_tdata, u64::from_le_bytes(word));
            self.model.set(p.s_tkeep, (1u64 << beat_len) - 1);
            self.model.set(p.s_tlast, beat_last as u64);
            self.model.set(p.s_tvalid, 1);
            drove = true;
        } else {
            self.model.set(p.s_tvalid, 0);
            self.model.set(p.s_tlast, 0);
            self.model.set(p.s_tkeep, 0);
        }

        let tick = self.pending_us.min(MAX_TICK_PER_CYCLE);
        self.model.set(p.tick_us, tick);
        self.pending_us -= tick;
        self.now_us += tick;
        drove |= tick != 0;
        drove |= self.model.get(p.reg_re) == 1 || self.model.get(p.reg_we) == 1;

        let now = self.model.cycles();
        let slave = self.axi.drive(now);
        self.model.set(p.m_axi_awready, slave.awready as u64);
        self.model.set(p.m_axi_wready, slave.wready as u64);
        self.model.set(p.m_axi_bvalid, slave.bvalid as u64);
        self.model.set(p.m_axi_bresp, slave.bresp as u64);
        drove |= slave.bvalid;
        let rd = self.axi_rd.drive();
        self.model.set(p.m_axi_arready, rd.arready as u64);
        self.model.set(p.m_axi_rvalid, rd.rvalid as u64);
        self.model.set(p.m_axi_rdata, rd.rdata);
        self.model.set(p.m_axi_rresp, rd.rresp as u64);
        self.model.set(p.m_axi_rlast, rd.rlast as u64);
        drove |= rd.rvalid;

        self.model.cycle();
        let master = MasterSample {
            awvalid: self.model.get(p.m_axi_awvalid) == 1,
            awaddr: self.model.get(p.m_axi_awaddr),
            awlen: self.model.get(p.m_axi_awlen) as u8,
            wvalid: self.model.get(p.m_axi_wvalid) == 1,
            wdata: self.model.get(p.m_axi_wdata),
            wstrb: self.model.get(p.m_axi_wstrb) as u8,
            wlast: self.model.get(p.m_axi_wlast) == 1,
            bready: self.model.get(p.m_axi_bready) == 1,
        };
        self.axi.observe(&master, now);
        self.axi_rd.observe(&ReadSample {
            arvalid: self.model.get(p.m_axi_arvalid) == 1,
            araddr: self.model.get(p.m_axi_araddr),
            arlen: self.model.get(p.m_axi_arlen) as u8,
            rready: self.model.get(p.m_axi_rready) == 1,
        });
        if drove || self.model.get(p.idle) == 0 {
            self.quiet_cycles = 0;
        } else {
            self.quiet_cycles = self.quiet_cycles.saturating_add(1);
        }

        if beat_len > 0 && self.model.get(p.s_tready) == 1 {
            self.rx_pos += beat_len;
            self.counters.bytes_in += beat_len as u64;
            if beat_last {
                self.rx_queue.pop_front();
                self.rx_pos = 0;
                self.counters.frames_in += 1;
            }
        }

        if self.model.get(p.m_tvalid) == 1 {
            let data = self.model.get(p.m_tdata).to_le_bytes();
            let keep = self.model.get(p.m_tkeep);
            for (i, b) in data.iter().enumerate() {
                if keep & (1 << i) != 0 {
                    self.tx_partial.push(*b);
                }
            }
            if self.model.get(p.m_tlast) == 1 {
                let frame = std::mem::take(&mut self.tx_partial);
                self.counters.frames_out += 1;
                self.counters.bytes_out += frame.len() as u64;
                self.pcap_record(&frame);
                self.tx_frames.push_back(frame);
            }
        }
    }

    /// Runs `n` cycles.
    pub fn run(&mut self, n: u64) {
        for _ in 0..n {
            self.cycle();
        }
    }

    /// Cycles until [`CoreSim::is_quiescent`]; returns the cycles run.
    pub fn run_until_idle(&mut self, max_cycles: u64) -> Result<u64, SimError> {
        for n in 1..=max_cycles {
            self.cycle();
            if self.is_quiescent() {
                return Ok(n);
            }
        }
        Err(SimError::NotIdle { cycles: max_cycles })
    }

    /// Reads a 32-bit register (byte address); frames and time keep flowing meanwhile.
    pub fn reg_read(&mut self, addr: u32) -> Result<u32, SimError> {
        self.reg_access("read", addr, None)
    }

    /// Writes a 32-bit register (byte address).
    pub fn reg_write(&mut self, addr: u32, v: u32) -> Result<(), SimError> {
        self.reg_access("write", addr, Some(v)).map(|_| ())
    }

    /// The core's Wishbone-like bus handshake: drive addr/wdata and exactly one
    /// of re/we, hold until reg_ack is sampled 1 (rdata valid in that cycle),
    /// then drop re/we for one cycle before anything else.
    fn reg_access(&mut self, op: &'static str, addr: u32, write: Option<u32>) -> Result<u32, SimError> {
        let p = self.p;
        if self.bus_bits < 32 && addr >> self.bus_bits != 0 {
            return Err(SimError::RegisterAddress { addr, bits: self.bus_bits });
        }
        self.model.set(p.reg_addr, addr as u64);
        self.model.set(p.reg_wdata, write.unwrap_or(0) as u64);
        self.model.set(p.reg_we, write.is_some() as u64);
        self.model.set(p.reg_re, write.is_none() as u64);
        let mut result = Err(SimError::RegisterTimeout { op, addr, cycles: REG_TIMEOUT_CYCLES });
        for _ in 0..REG_TIMEOUT_CYCLES {
            self.cycle();
            if self.model.get(p.reg_ack) == 1 {
                result = Ok(self.model.get(p.reg_rdata) as u32);
                break;
            }
        }
        self.model.set(p.reg_re, 0);
        self.model.set(p.reg_we, 0);
        self.cycle();
        if result.is_ok() {
            self.counters.reg_ops += 1;
        }
        result
    }

    fn pcap_record(&mut self, frame: &[u8]) {
        if let Some(w) = &mut self.pcap {
            let at = self.pcap_origin + Duration::from_micros(self.now_us);
            if let Err(e) = w.write(at, frame) {
                // A full disk must not stop the simulation; say so once and stop recording.
                tracing::error!("{e}; pcap recording stopped");
                self.pcap = None;
            }
        }
    }
}

impl std::fmt::Debug for CoreSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoreSim")
            .field("cycles", &self.cycles())
            .field("now_us", &self.now_us)
            .field("rx_queue", &self.rx_queue.len())
            .field("tx_frames", &self.tx_frames.len())
            .field("counters", &self.counters)
            .finish()
    }
}
