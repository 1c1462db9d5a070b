//! Driving a device under test and the reference model with the same inputs
//! and scoring every frame the device emits — the scoreboard of the Verilator
//! tests. The device is anything that implements [`Dut`]; [`CoreSim`] does.
//!
//! Host memory: the harness is the host of the card's DMA data path. It lays
//! out every connection's receive ring and the event ring in the device's
//! host memory ([`DmaLayout`]), configures the registers, and after every
//! input takes the event records the device wrote, each of which must be a
//! state the model's TCB had.
//!
//! Time: the model is told the device's own clock (the NOW_US register) for
//! every input. [`Lockstep::advance`] moves time in steps of at most 1024 µs
//! and tells the model about a timer scan whenever bit 10 of NOW_US toggles,
//! which is when the core scans its TCBs.
use holdback_regmap::event_queue::{EventQueueConsumer, EventQueueError, EventRecord, EventRing};
use holdback_regmap::{self as regmap, Stat, TCB_WORDS};
use tracing::debug;

use super::score::{score, summary, Mismatch};
use super::tcb::diff_tcb;
use super::{Config, RefModel, RelayBackend, Step};
use crate::core_sim::CoreSim;
use crate::host_mem::{DmaLayout, HostMemError, HostMemory, HostRegion};
use crate::wire::MacAddr;
use crate::SimError;

/// Cycles any single input may take to settle.
pub const SETTLE_CYCLES: u64 = 200_000;
/// The core's timer scan period (NOW_US bit 10).
pub const SCAN_PERIOD_US: u32 = 1024;

/// What the lockstep harness needs from a device.
pub trait Dut {
    fn push_frame(&mut self, frame: &[u8]);
    fn pop_tx_frame(&mut self) -> Option<Vec<u8>>;
    fn advance_us(&mut self, us: u32);
    /// Run until nothing is in flight.
    fn settle(&mut self, max_cycles: u64) -> Result<u64, SimError>;
    fn reg_read(&mut self, addr: u32) -> Result<u32, SimError>;
    fn reg_write(&mut self, addr: u32, v: u32) -> Result<(), SimError>;
    /// The host memory the device's DMA writes land in.
    fn host_memory(&self) -> HostMemory;
}

impl Dut for CoreSim {
    fn push_frame(&mut self, frame: &[u8]) {
        CoreSim::push_frame(self, frame)
    }
    fn pop_tx_frame(&mut self) -> Option<Vec<u8>> {
        CoreSim::pop_tx_frame(self)
    }
    fn advance_us(&mut self, us: u32) {
        CoreSim::advance_us(self, us)
    }
    /// `run_until_idle`, then a grace period: the core's `idle` output has
    /// been seen high for a few cycles between a frame's last beat and the
    /// parser's descriptor (reported; `scoring::core_idle_covers_frames_in_flight`
    /// checks the contract itself), so idle must hold for `GRACE` cycles.
    fn settle(&mut self, max_cycles: u64) -> Result<u64, SimError> {
        const GRACE: u64 = 64;
        let mut total = 0;
        loop {
            total += self.run_until_idle(max_cycles)?;
            let mut steady = true;
            for _ in 0..GRACE {
                self.cycle();
                total += 1;
                steady &= self.is_quiescent();
            }
            if steady {
                return Ok(total);
            }
            if total > max_cycles {
                return Err(SimError::NotIdle { cycles: total });
            }
        }
    }
    fn reg_read(&mut self, addr: u32) -> Result<u32, SimError> {
        CoreSim::reg_read(self, addr)
    }
    fn reg_write(&mut self, addr: u32, v: u32) -> Result<(), SimError> {
        CoreSim::reg_write(self, addr, v)
    }
    fn host_memory(&self) -> HostMemory {
        CoreSim::host_memory(self)
    }
}

/// Why a lockstep run stopped.
#[derive(Debug, thiserror::Error)]
pub enum LockstepError {
    #[error("simulation: {0}")]
    Sim(#[from] SimError),
    #[error("after {input}: the core's frames differ from the model's\n{mismatch}")]
    Frames { input: String, mismatch: Mismatch },
    #[error("the core is generated for {what} = {core}, the model was configured with {model}")]
    Params { what: &'static str, core: u32, model: u32 },
    #[error("stats differ from the model's (core vs model):\n{0}")]
    Stats(String),
    #[error("invariant violated: {0}")]
    Invariant(String),
    #[error("the connections whose TCB changed differ: core's event records name {core:?} (in order of first record), the model's change log {model:?}")]
    ChangeLog { core: Vec<usize>, model: Vec<usize> },
    #[error("after {input}: event record of connection {conn} (generation {gen}) is no state the model's TCB had; against its current TCB:\n{diffs}")]
    Event { input: String, conn: usize, gen: u32, diffs: String },
    #[error("event record of connection {conn} is not its last state:\n{diffs}")]
    EventNotLast { conn: usize, diffs: String },
    #[error("connection {conn} changed but the device wrote no event record of it")]
    EventMissing { conn: usize },
    #[error("event ring: {0}")]
    EventRing(#[from] EventQueueError),
    #[error("event ring of ID_EQ_ENTRIES records: {0}")]
    EventRingSize(#[from] holdback_regmap::event_queue::EventRecordError),
    #[error("host memory: {0}")]
    HostMemory(#[from] HostMemError),
    #[error("the model's receive ring of {0} bytes is not a power of two between 4 KiB and 1 MiB (RX_RING_LOG2)")]
    RingSize(u32),
    #[error("the SYN from {key:?} opened no TCB (the model counted {tcb_full} DropTcbFull so far)")]
    NotOpened { key: super::ConnKey, tcb_full: u32 },
    #[error("TCB {id} differs from the model's:\n{diffs}")]
    Tcb { id: usize, diffs: String },
    #[error("ring of connection {id} differs from the model's at {count} byte(s) in ring offsets {first}..={last}; first: core {core:#04x} model {model:#04x}")]
    Ring { id: usize, first: usize, last: usize, count: usize, core: u8, model: u8 },
    #[error("relay slot {slot}: the core has {slots} (one per LISTEN slot) and a backend needs the slot's listening port, but the model listens on {listen:?}")]
    RelaySlot { slot: usize, slots: usize, listen: Vec<u16> },
}

/// The device and the model, fed in lockstep.
pub struct Lockstep<D: Dut> {
    pub dut: D,
    pub model: RefModel,
    /// The device's NOW_US after the last input.
    now_us: u32,
    /// Inputs so far, one line each (printed with a mismatch).
    history: Vec<String>,
    /// Highest right edge (ack + window) each connection advertised, and
    /// (window scaling) the shift its windows are scaled by: our Window
    /// Scale option's in the SYN-ACK, 0 without one.
    right_edges: std::collections::HashMap<super::ConnKey, (crate::wire::SeqNum, u8)>,
    /// Where the rings and the event ring are in the device's host memory.
    dma: DmaLayout,
    mem: HostMemory,
    events: EventQueueConsumer,
    eq: HostRegion,
    /// Records taken after the last input, checked against the model's states.
    taken: Vec<EventRecord>,
    /// Records checked since the last `check_change_log`.
    since_check: Vec<EventRecord>,
    /// The host takes records and hands EQ_CONS back only every this many
    /// inputs (1: after every input); meanwhile the ring fills and changes
    /// coalesce in the writer.
    events_every: u32,
    inputs_since_take: u32,
    /// Every record up to now was taken in the last input: states older
    /// than the model's current ones can no longer appear.
    caught_up: bool,
}

impl<D: Dut> Lockstep<D> {
    /// Check the device's generation parameters against `cfg`, configure its
    /// registers from `cfg` and start the model from the same.
    pub fn new(mut dut: D, cfg: Config) -> Result<Lockstep<D>, LockstepError> {
        let conns = dut.reg_read(regmap::ID_CONNS.offset)?;
        if conns as usize != cfg.conns {
            return Err(LockstepError::Params { what: "ID_CONNS", core: conns, model: cfg.conns as u32 });
        }
        let max_ring = dut.reg_read(regmap::ID_RING_BYTES.offset)?;
        if cfg.ring_bytes > max_ring {
            return Err(LockstepError::Params { what: "ID_RING_BYTES", core: max_ring, model: cfg.ring_bytes });
        }
        let ring_log2 = cfg.ring_bytes.trailing_zeros();
        if !cfg.ring_bytes.is_power_of_two() || !(regmap::RX_RING_LOG2_MIN..=regmap::RX_RING_LOG2_MAX).contains(&ring_log2) {
            return Err(LockstepError::RingSize(cfg.ring_bytes));
        }
        let eq_entries = dut.reg_read(regmap::ID_EQ_ENTRIES.offset)?;
        let ring = EventRing::new(eq_entries.trailing_zeros())?;
        let mem = dut.host_memory();
        let dma = DmaLayout::new(&mem, cfg.conns, ring_log2, ring.entries())?;
        mem.zero(dma.eq_base, dma.eq_bytes())?;
        let eq = mem.region(dma.eq_base, dma.eq_bytes())?;
        dut.reg_write(regmap::RX_RING_BASE_LO.offset, dma.rx_ring_base as u32)?;
        dut.reg_write(regmap::RX_RING_BASE_HI.offset, (dma.rx_ring_base >> 32) as u32)?;
        dut.reg_write(regmap::RX_RING_LOG2.offset, ring_log2)?;
        dut.reg_write(regmap::EQ_BASE_LO.offset, dma.eq_base as u32)?;
        dut.reg_write(regmap::EQ_BASE_HI.offset, (dma.eq_base >> 32) as u32)?;
        dut.reg_write(regmap::EQ_CONS.offset, 0)?;
        dut.reg_write(regmap::EQ_CTRL.offset, regmap::EQ_CTRL_ENABLE)?;
        let mac = cfg.mac.to_u64();
        dut.reg_write(regmap::MAC_HI.offset, (mac >> 32) as u32)?;
        dut.reg_write(regmap::MAC_LO.offset, mac as u32)?;
        dut.reg_write(regmap::IPV4_ADDR.offset, u32::from(cfg.ip))?;
        for (i, slot) in regmap::LISTEN_SLOTS.iter().enumerate() {
            let v = cfg.listen.get(i).map_or(0, |p| regmap::listen_value(*p, cfg.own_holdback(*p)));
            dut.reg_write(slot.offset, v)?;
        }
        for (i, regs) in regmap::RELAY_SLOTS.iter().enumerate() {
            let backend = cfg.listen.get(i).and_then(|p| cfg.relay_backend(*p));
            write_relay_slot(&mut dut, regs, backend)?;
        }
        dut.reg_write(regmap::RELAY_CONNECT_US.offset, cfg.relay_connect_us)?;
        dut.reg_write(regmap::OUR_MSS.offset, u32::from(cfg.our_mss))?;
        dut.reg_write(regmap::RTO_US.offset, cfg.rto_us)?;
        dut.reg_write(regmap::TIME_WAIT_US.offset, cfg.time_wait_us)?;
        dut.reg_write(regmap::KEEPALIVE_IDLE_US.offset, cfg.keepalive_idle_us)?;
        dut.reg_write(regmap::KEEPALIVE_INTVL_US.offset, cfg.keepalive_intvl_us)?;
        dut.reg_write(regmap::KEEPALIVE_PROBES.offset, u32::from(cfg.keepalive_probes))?;
        dut.reg_write(regmap::IDLE_TIMEOUT_US.offset, cfg.idle_timeout_us)?;
        dut.reg_write(regmap::SEND_HOLDBACK.offset, cfg.send_holdback)?;
        dut.reg_write(regmap::RX_REASM.offset, reasm_bits(&cfg))?;
        dut.reg_write(regmap::TIMESTAMPS.offset, u32::from(cfg.timestamps))?;
        write_syn_cookies(&mut dut, cfg.syn_cookies, cfg.cookie_keys)?;
        dut.reg_write(regmap::CTRL.offset, ctrl_bits(&cfg))?;
        dut.settle(SETTLE_CYCLES)?;
        let now_us = dut.reg_read(regmap::NOW_US.offset)?;
        let mut model = RefModel::new(cfg);
        // The model's counters start where the device's are.
        let mut ls = Lockstep {
            dut,
            model: model.clone(),
            now_us,
            history: Vec::new(),
            right_edges: Default::default(),
            dma,
            mem,
            events: EventQueueConsumer::new(ring),
            eq,
            taken: Vec::new(),
            since_check: Vec::new(),
            events_every: 1,
            inputs_since_take: 0,
            caught_up: true,
        };
        let stats = ls.read_stats()?;
        model.set_stats(stats);
        ls.model = model;
        Ok(ls)
    }

    pub fn now_us(&self) -> u32 {
        self.now_us
    }

    /// The last `n` inputs, oldest first (for failure messages).
    pub fn recent_inputs(&self, n: usize) -> Vec<String> {
        self.history.iter().rev().take(n).rev().cloned().collect()
    }

    /// Change CTRL (holdback for new connections, enable, standby) on both.
    pub fn set_ctrl(&mut self, enable: bool, holdback: bool, standby: bool) -> Result<(), LockstepError> {
        self.model.cfg.enable = enable;
        self.model.cfg.holdback = holdback;
        self.model.cfg.standby = standby;
        self.dut.reg_write(regmap::CTRL.offset, ctrl_bits(&self.model.cfg))?;
        self.history.push(format!("CTRL enable={enable} holdback={holdback} standby={standby}"));
        Ok(())
    }

    /// CTRL's failover settings on both: duplicate ACKs after a promotion
    /// (bit3) and hold-synack (bit4); enable/holdback/standby unchanged.
    pub fn set_failover(&mut self, dup_acks: bool, hold_synack: bool) -> Result<(), LockstepError> {
        self.model.cfg.dup_acks = dup_acks;
        self.model.cfg.hold_synack = hold_synack;
        self.dut.reg_write(regmap::CTRL.offset, ctrl_bits(&self.model.cfg))?;
        self.history.push(format!("CTRL dup_acks={dup_acks} hold_synack={hold_synack}"));
        Ok(())
    }

    /// RX_REASM: out-of-order reassembly on or off, on both.
    pub fn set_reassembly(&mut self, on: bool) -> Result<(), LockstepError> {
        self.model.cfg.reassembly = on;
        self.dut.reg_write(regmap::RX_REASM.offset, reasm_bits(&self.model.cfg))?;
        self.history.push(format!("RX_REASM = {}", reasm_bits(&self.model.cfg)));
        Ok(())
    }

    /// RX_REASM bit1: SACK on or off (with reassembly), on both.
    pub fn set_sack(&mut self, on: bool) -> Result<(), LockstepError> {
        self.model.cfg.sack = on;
        self.dut.reg_write(regmap::RX_REASM.offset, reasm_bits(&self.model.cfg))?;
        self.history.push(format!("RX_REASM = {}", reasm_bits(&self.model.cfg)));
        Ok(())
    }

    /// TIMESTAMPS bit0: the Timestamps option taken from SYNs or not, on both.
    pub fn set_timestamps(&mut self, on: bool) -> Result<(), LockstepError> {
        self.model.cfg.timestamps = on;
        self.dut.reg_write(regmap::TIMESTAMPS.offset, u32::from(on))?;
        self.history.push(format!("TIMESTAMPS = {}", u32::from(on)));
        Ok(())
    }

    /// SYN_COOKIES (threshold, None: off) and the cookie keys, on both.
    pub fn set_syn_cookies(&mut self, threshold: Option<u16>, keys: (u128, u128)) -> Result<(), LockstepError> {
        self.model.cfg.syn_cookies = threshold;
        self.model.cfg.cookie_keys = keys;
        write_syn_cookies(&mut self.dut, threshold, keys)?;
        self.history.push(format!("SYN_COOKIES = {threshold:?}"));
        Ok(())
    }

    /// HALF_OPEN as the core reads it, checked against the model's count of SYN-RECEIVED TCBs.
    pub fn half_open(&mut self) -> Result<u32, LockstepError> {
        let core = self.dut.reg_read(regmap::HALF_OPEN.offset)?;
        let model = self.model.half_open() as u32;
        if core != model {
            return Err(LockstepError::Invariant(format!("HALF_OPEN reads {core}, the model has {model} TCBs in SYN-RECEIVED")));
        }
        Ok(core)
    }

    /// TS_CLOCK = `value` on both (at the current NOW_US: no time passes in a
    /// register write); read back from the core, which must have taken it.
    pub fn set_ts_clock(&mut self, value: u32) -> Result<(), LockstepError> {
        self.dut.reg_write(regmap::TS_CLOCK.offset, value)?;
        self.model.on_ts_clock_write(self.now_us, value);
        self.history.push(format!("TS_CLOCK = {value:#x}"));
        let back = self.dut.reg_read(regmap::TS_CLOCK.offset)?;
        let want = self.model.cfg.ts_clock.ticks(self.now_us);
        if back != want {
            return Err(LockstepError::Invariant(format!("TS_CLOCK reads {back:#x} after writing {value:#x}, the model has {want:#x}")));
        }
        Ok(())
    }

    /// TS_CLOCK as the core reads it, checked against the model's count.
    pub fn ts_clock(&mut self) -> Result<u32, LockstepError> {
        let now = self.dut.reg_read(regmap::TS_CLOCK.offset)?;
        let want = self.model.cfg.ts_clock.ticks(self.now_us);
        if now != want {
            return Err(LockstepError::Invariant(format!("TS_CLOCK reads {now:#x} at {} us, the model has {want:#x}", self.now_us)));
        }
        Ok(now)
    }

    /// EPOCH = `epoch` on both.
    pub fn set_epoch(&mut self, epoch: u32) -> Result<(), LockstepError> {
        self.model.on_epoch_write(epoch);
        self.dut.reg_write(regmap::EPOCH.offset, epoch)?;
        self.history.push(format!("EPOCH = {epoch}"));
        Ok(())
    }

    /// The host writes every word of TCB `id` (a replicated copy) into both;
    /// only a standby card takes them.
    pub fn write_tcb(&mut self, id: usize, words: &[u32; TCB_WORDS]) -> Result<(), LockstepError> {
        // The EPOCH word first, as the driver writes it: the core judges
        // every word by the epoch the TCB carries after it.
        let epoch_word = regmap::tcb::EPOCH.word as usize;
        let order = std::iter::once(epoch_word).chain((0..TCB_WORDS).filter(|&w| w != epoch_word));
        for w in order {
            let v = &words[w];
            self.dut.reg_write(regmap::tcb_word_addr(id as u32, w as u32), *v)?;
            self.model.on_tcb_write(id, w, *v);
        }
        self.history.push(format!("TCB[{id}] written"));
        Ok(())
    }

    /// PROMOTE = `epoch` on both; the device's frames (gratuitous ARP, then
    /// the walk's ACKs) must equal the model's. Waits for PROMOTE.done when
    /// the write was accepted.
    pub fn promote(&mut self, epoch: u32) -> Result<Vec<Vec<u8>>, LockstepError> {
        let input = format!("PROMOTE = {epoch}");
        let accepted = self.model.cfg.enable && self.model.cfg.standby && epoch > self.model.cfg.epoch;
        self.dut.reg_write(regmap::PROMOTE.offset, epoch)?;
        let actual = self.collect()?;
        // Accepted: done and no longer busy. Refused: nothing started, the
        // done bit of an earlier promotion stays.
        let status = self.dut.reg_read(regmap::PROMOTE.offset)?;
        let finished = status & regmap::PROMOTE_BUSY == 0 && (!accepted || status & regmap::PROMOTE_DONE != 0);
        if !finished {
            return Err(LockstepError::Invariant(format!("after {input}: PROMOTE reads {status:#x} (accepted: {accepted})")));
        }
        let step = self.model.on_promote(self.now_us, epoch);
        self.check(input, step, actual)
    }

    /// A slow host: it takes the event records and hands its consumer count
    /// back only every `inputs` inputs (at least 1).
    pub fn set_event_lag(&mut self, inputs: u32) {
        self.events_every = inputs.max(1);
    }

    /// The host takes every record now (whatever the lag) and checks them.
    pub fn catch_up(&mut self) -> Result<(), LockstepError> {
        self.take_events()?;
        self.inputs_since_take = 0;
        self.caught_up = true;
        self.check_events("catch-up")
    }

    /// Frames back to back into the device (all queued at once, so each
    /// follows the previous one's last beat), one after the other into the
    /// model; the device's output must equal the model's, in order.
    pub fn burst(&mut self, frames: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, LockstepError> {
        let input = format!("{} frames back to back, the first {}", frames.len(), frames.first().map_or(String::new(), |f| summary(f)));
        for f in frames {
            self.dut.push_frame(f);
        }
        let actual = self.collect()?;
        self.model.learn_iss_from(&actual);
        let mut step = Step::default();
        for f in frames {
            let s = self.model.on_frame(self.now_us, f);
            step.frames.extend(s.frames);
        }
        self.check(input, step, actual)
    }

    /// One frame into both; the device's output must equal the model's.
    /// Returns the frames emitted.
    pub fn frame(&mut self, frame: &[u8]) -> Result<Vec<Vec<u8>>, LockstepError> {
        let input = format!("frame {}", summary(frame));
        self.dut.push_frame(frame);
        let actual = self.collect()?;
        self.model.learn_iss_from(&actual);
        // A relay open's server side sends our SYN (docs/relay.md).
        self.model.learn_connect_iss_from(&actual);
        self.learn_iss_from_records();
        let step = self.model.on_frame(self.now_us, frame);
        self.check(input, step, actual)
    }

    /// `RELEASE[id] = value` on both.
    pub fn release(&mut self, id: usize, value: u32) -> Result<Vec<Vec<u8>>, LockstepError> {
        let input = format!("RELEASE[{id}] = {value}");
        self.dut.reg_write(regmap::release_addr(id as u32), value)?;
        let actual = self.collect()?;
        // A held SYN-ACK (claim 31) goes out on a release: learn its ISS.
        self.model.learn_iss_from(&actual);
        let step = self.model.on_release(self.now_us, id, value);
        self.check(input, step, actual)
    }

    /// `SEND_LIMIT[id] = value` on both (send holdback: the host moves L).
    pub fn set_send_limit(&mut self, id: usize, value: u32) -> Result<Vec<Vec<u8>>, LockstepError> {
        let input = format!("SEND_LIMIT[{id}] = {value}");
        self.dut.reg_write(regmap::send_limit_addr(id as u32), value)?;
        let actual = self.collect()?;
        let step = self.model.on_send_limit(self.now_us, id, value);
        self.check(input, step, actual)
    }

    /// `CONN_CLOSE = id` on both (the host closes our side).
    pub fn close(&mut self, id: usize) -> Result<Vec<Vec<u8>>, LockstepError> {
        let input = format!("CONN_CLOSE = {id}");
        self.dut.reg_write(regmap::CONN_CLOSE.offset, id as u32)?;
        let actual = self.collect()?;
        let step = self.model.on_close(self.now_us, id);
        self.check(input, step, actual)
    }

    /// CONNECT on both (the host opens a connection, active_open.rs): the
    /// CONNECT_* registers, then the CONNECT write. Returns the frames and the
    /// slot, which the device's CONNECT read-back must agree on.
    pub fn connect(&mut self, c: &super::active_open::Connect) -> Result<(Vec<Vec<u8>>, Option<usize>), LockstepError> {
        let input = format!("CONNECT {c:?}");
        let (mac_hi, mac_lo) = c.next_hop.to_words();
        self.dut.reg_write(regmap::CONNECT_IP.offset, u32::from(c.remote_ip))?;
        self.dut.reg_write(regmap::CONNECT_PORTS.offset, c.ports_word())?;
        self.dut.reg_write(regmap::CONNECT_MAC_LO.offset, mac_lo)?;
        self.dut.reg_write(regmap::CONNECT.offset, u32::from(mac_hi))?;
        let actual = self.collect()?;
        let taken = self.dut.reg_read(regmap::CONNECT.offset)?;
        self.model.learn_connect_iss_from(&actual);
        let (step, id) = self.model.on_connect(self.now_us, c);
        let core_id = (taken != regmap::CONNECT_REFUSED).then_some(taken as usize);
        if core_id != id {
            return Err(LockstepError::Invariant(format!("after {input}: CONNECT reads {taken:#x}, the model took slot {id:?}")));
        }
        Ok((self.check(input, step, actual)?, id))
    }

    /// `CONN_ABORT = id` on both (the host aborts the connection).
    pub fn abort(&mut self, id: usize) -> Result<Vec<Vec<u8>>, LockstepError> {
        let input = format!("CONN_ABORT = {id}");
        self.dut.reg_write(regmap::CONN_ABORT.offset, id as u32)?;
        let actual = self.collect()?;
        let step = self.model.on_abort(self.now_us, id);
        self.check(input, step, actual)
    }

    /// Let `us` microseconds pass, in steps of at most one scan period, with
    /// the model told of every timer scan. Returns every frame emitted.
    pub fn advance(&mut self, us: u32) -> Result<Vec<Vec<u8>>, LockstepError> {
        let mut all = Vec::new();
        let mut left = us;
        while left > 0 {
            let step_us = left.min(SCAN_PERIOD_US);
            left -= step_us;
            let before = self.now_us;
            self.dut.advance_us(step_us);
            let actual = self.collect()?;
            let scanned = (before ^ self.now_us) & SCAN_PERIOD_US != 0;
            let step = if scanned { self.model.on_time(self.now_us) } else { Step::default() };
            all.extend(self.check(format!("time {before} -> {} µs", self.now_us), step, actual)?);
        }
        Ok(all)
    }

    fn collect(&mut self) -> Result<Vec<Vec<u8>>, LockstepError> {
        self.dut.settle(SETTLE_CYCLES)?;
        self.inputs_since_take += 1;
        self.caught_up = self.inputs_since_take >= self.events_every;
        if self.caught_up {
            self.take_events()?;
            self.inputs_since_take = 0;
        }
        let mut out = Vec::new();
        while let Some(f) = self.dut.pop_tx_frame() {
            out.push(f);
        }
        self.now_us = self.dut.reg_read(regmap::NOW_US.offset)?;
        Ok(out)
    }

    /// The host's side of the event ring: takes every record written, hands
    /// the consumer count back, and again while that lets the writer go on.
    fn take_events(&mut self) -> Result<(), LockstepError> {
        loop {
            let before = self.events.consumed();
            while let Some(r) = self.events.poll(&self.eq)? {
                self.taken.push(r);
            }
            if self.events.consumed() == before {
                return Ok(());
            }
            self.dut.reg_write(regmap::EQ_CONS.offset, u32::from(self.events.consumed()))?;
            self.dut.settle(SETTLE_CYCLES)?;
        }
    }

    /// A passive open's ISS from its record, for a SYN-ACK held back (claim
    /// 31): the model cannot learn it from the wire then.
    fn learn_iss_from_records(&mut self) {
        for r in &self.taken {
            let key = super::ConnKey { remote_ip: r.tcb.remote_ip, remote_port: r.tcb.remote_port, local_port: r.tcb.local_port };
            // Only a connection the model has yet to open: its SYN is the input at hand.
            if r.tcb.state == regmap::TcpState::SynReceived && self.model.lookup(key).is_none() {
                self.model.learn_iss(key, r.tcb.iss);
            }
        }
    }

    /// Every record taken after the last input is a state the model's TCB had.
    fn check_events(&mut self, input: &str) -> Result<(), LockstepError> {
        for r in std::mem::take(&mut self.taken) {
            let conn = usize::from(r.conn);
            if conn >= self.model.cfg.conns || !self.model.had_state(conn, &r.tcb) {
                let diffs = match self.model.tcbs().get(conn) {
                    Some(t) => diff_tcb(t, &r.tcb.to_words(), &[]).join("\n"),
                    None => format!("no connection {conn}"),
                };
                return Err(LockstepError::Event { input: input.to_string(), conn, gen: r.tcb.gen, diffs });
            }
            self.since_check.push(r);
        }
        if self.caught_up {
            self.model.forget_states();
        }
        Ok(())
    }

    fn check(&mut self, input: String, step: Step, actual: Vec<Vec<u8>>) -> Result<Vec<Vec<u8>>, LockstepError> {
        debug!(%input, frames = actual.len(), "lockstep");
        self.history.push(input.clone());
        self.check_invariants(&input, &actual)?;
        self.check_events(&input)?;
        match score(&step.frames, &actual) {
            Ok(()) => Ok(actual),
            Err(mismatch) => {
                // The counters usually say why (a drop reason the model did not expect).
                let stats = match self.check_stats() {
                    Ok(()) => "counters agree".to_string(),
                    Err(e) => e.to_string(),
                };
                let recent: Vec<&String> = self.history.iter().rev().take(12).rev().collect();
                let input = format!("{input}\n  (last inputs: {recent:#?})\n  {stats}");
                Err(LockstepError::Frames { input, mismatch })
            }
        }
    }

    /// The failover invariants on what the device sent, independent of the
    /// model's frames: (1) with holdback on, no ACK passes the released point
    /// R; (5) a connection's advertised right edge never moves left; (9) with
    /// send holdback on, no segment reaches past the send limit L.
    fn check_invariants(&mut self, input: &str, frames: &[Vec<u8>]) -> Result<(), LockstepError> {
        use crate::wire::Frame;
        for f in frames {
            let Ok(frame) = Frame::parse(f) else { continue };
            let Some((ip, tcp, payload)) = frame.tcp() else { continue };
            if ip.src != self.model.cfg.ip {
                continue;
            }
            let key = super::ConnKey { remote_ip: ip.dst, remote_port: tcp.dst_port, local_port: tcp.src_port };
            if let Some(id) = self.model.lookup(key) {
                let t = self.model.tcb(id);
                if t.send_hold {
                    let (syn, fin) = (tcp.flags.syn(), tcp.flags.fin());
                    super::send_limit::check_segment(t.iss, self.model.send_limit(id), tcp.seq, payload.len() as u32, syn, fin)
                        .map_err(|e| LockstepError::Invariant(format!("after {input}: {key:?}: {e} (invariant 9)")))?;
                }
            }
            if !tcp.flags.ack() {
                continue;
            }
            if tcp.flags.syn() {
                // A new connection (or its SYN-ACK again): its edge starts
                // here; a SYN-ACK's window is never scaled (RFC 7323 §2.2).
                let shift = tcp.wscale().unwrap_or(0).min(holdback_regmap::MAX_WSCALE);
                self.right_edges.insert(key, (tcp.ack + u32::from(tcp.window), shift));
            } else if let Some(&(prev, shift)) = self.right_edges.get(&key) {
                // What the peer computes (RFC 7323 §2.3).
                let right = tcp.ack + (u32::from(tcp.window) << shift);
                if right.before(prev) {
                    return Err(LockstepError::Invariant(format!(
                        "after {input}: {key:?} advertised right edge {right} left of {prev} (invariant 5, window scale {shift})"
                    )));
                }
                self.right_edges.insert(key, (right, shift));
            }
            if let Some(id) = self.model.lookup(key) {
                let t = self.model.tcb(id);
                // Claim 31: a held SYN-ACK obeys R too, whatever the holdback bit.
                let bound = t.holdback || (tcp.flags.syn() && self.model.cfg.hold_synack);
                if bound && tcp.ack > t.rel {
                    return Err(LockstepError::Invariant(format!(
                        "after {input}: {key:?} ACKed {} past the released point {} (invariant 1)",
                        tcp.ack, t.rel
                    )));
                }
            }
        }
        Ok(())
    }

    /// Every counter of the device, indexed by `Stat::index()`.
    pub fn read_stats(&mut self) -> Result<[u32; Stat::COUNT], LockstepError> {
        let mut out = [0u32; Stat::COUNT];
        for s in Stat::ALL {
            out[s.index()] = self.dut.reg_read(s.offset())?;
        }
        Ok(out)
    }

    /// The device's counters must equal the model's.
    pub fn check_stats(&mut self) -> Result<(), LockstepError> {
        let core = self.read_stats()?;
        let model = *self.model.stats();
        let diffs: Vec<String> = Stat::ALL
            .iter()
            .filter(|s| core[s.index()] != model[s.index()])
            .map(|s| format!("  {}: core {} model {}", s.name(), core[s.index()], model[s.index()]))
            .collect();
        if diffs.is_empty() { Ok(()) } else { Err(LockstepError::Stats(diffs.join("\n"))) }
    }

    /// The event records since the last call against the model's change log
    /// (with a slow host, call it after [`Lockstep::catch_up`]):
    /// the same connections, in the order of their first record (the writer
    /// queues each id once, as the model's log does), and the last record of
    /// each is the TCB the model has now.
    pub fn check_change_log(&mut self) -> Result<(), LockstepError> {
        let records = std::mem::take(&mut self.since_check);
        let mut core: Vec<usize> = Vec::new();
        for r in &records {
            if !core.contains(&usize::from(r.conn)) {
                core.push(usize::from(r.conn));
            }
        }
        let model: Vec<usize> = std::iter::from_fn(|| self.model.pop_change_log()).collect();
        if core != model {
            return Err(LockstepError::ChangeLog { core, model });
        }
        for &conn in &model {
            let last = records.iter().rev().find(|r| usize::from(r.conn) == conn).ok_or(LockstepError::EventMissing { conn })?;
            let Some(written) = self.model.last_written(conn) else { return Err(LockstepError::EventMissing { conn }) };
            let diffs = diff_tcb(written, &last.tcb.to_words(), &[]);
            if !diffs.is_empty() {
                return Err(LockstepError::EventNotLast { conn, diffs: diffs.join("\n") });
            }
        }
        Ok(())
    }

    /// Where the device's receive rings and event ring are in host memory.
    pub fn dma_layout(&self) -> DmaLayout {
        self.dma
    }

    /// The device's TCB words of connection `id`.
    pub fn read_tcb(&mut self, id: usize) -> Result<[u32; TCB_WORDS], LockstepError> {
        let mut w = [0u32; TCB_WORDS];
        for (i, word) in w.iter_mut().enumerate() {
            *word = self.dut.reg_read(regmap::tcb_word_addr(id as u32, i as u32))?;
        }
        Ok(w)
    }

    /// The device's TCB `id` must equal the model's, fields in `skip` aside.
    pub fn check_tcb(&mut self, id: usize, skip: &[regmap::TcbField]) -> Result<(), LockstepError> {
        let core = self.read_tcb(id)?;
        let diffs = diff_tcb(self.model.tcb(id), &core, skip);
        if diffs.is_empty() { Ok(()) } else { Err(LockstepError::Tcb { id, diffs: diffs.join("\n") }) }
    }

    /// Ring bytes `[from, from + len)` (ring offsets, wrapping) of connection
    /// `id`'s receive ring in host memory must equal the model's.
    pub fn check_ring(&mut self, id: usize, from: usize, len: usize) -> Result<(), LockstepError> {
        let ring = self.model.cfg.ring_bytes as usize;
        let mut host = vec![0u8; ring];
        self.mem.read(self.dma.ring_iova(id), &mut host)?;
        let model = self.model.ring(id);
        let mut mismatched: Option<(usize, usize)> = None;
        let (mut count, mut first_core, mut first_model) = (0, 0u8, 0u8);
        for k in 0..len {
            let b = (from + k) % ring;
            // A ring the model never wrote (a slot a host TCB write opened) holds zeros.
            let m = model.get(b).copied().unwrap_or(0);
            if host[b] != m {
                if mismatched.is_none() {
                    (first_core, first_model) = (host[b], m);
                }
                count += 1;
                mismatched = Some(mismatched.map_or((b, b), |(f, _)| (f, b)));
            }
        }
        match mismatched {
            None => Ok(()),
            Some((first, last)) => Err(LockstepError::Ring { id, first, last, count, core: first_core, model: first_model }),
        }
    }
}

/// Relay mode's registers (docs/relay.md, "Relay slots"), on both.
impl<D: Dut> Lockstep<D> {
    /// LISTEN slot `slot` relays its clients to `backend`, or (None) stops
    /// relaying: RELAY_IPn, RELAY_PORTn (with RELAY_ENABLE for Some) and
    /// RELAY_MAC_HIn/LOn on the core; `Config::relay` maps the slot's
    /// listening port (LISTENn as `Lockstep::new` wrote it from the config's
    /// `listen`) to the backend on the model.
    pub fn set_relay(&mut self, slot: usize, backend: Option<RelayBackend>) -> Result<(), LockstepError> {
        let cfg = &self.model.cfg;
        let slot_error = || LockstepError::RelaySlot { slot, slots: regmap::RELAY_SLOTS.len(), listen: cfg.listen.clone() };
        let regs = regmap::RELAY_SLOTS.get(slot).ok_or_else(slot_error)?;
        let port = cfg.listen.get(slot).copied();
        if backend.is_some() && port.is_none() {
            return Err(slot_error());
        }
        write_relay_slot(&mut self.dut, regs, backend)?;
        if let Some(port) = port {
            self.model.cfg.relay.retain(|(p, _)| *p != port);
            if let Some(b) = backend {
                self.model.cfg.relay.push((port, b));
            }
        }
        self.history.push(format!("RELAY slot {slot} = {backend:?}"));
        Ok(())
    }

    /// RELAY_CONNECT_US = `us` on both.
    pub fn set_relay_connect_us(&mut self, us: u32) -> Result<(), LockstepError> {
        self.dut.reg_write(regmap::RELAY_CONNECT_US.offset, us)?;
        self.model.cfg.relay_connect_us = us;
        self.history.push(format!("RELAY_CONNECT_US = {us}"));
        Ok(())
    }
}

/// One slot's relay registers. The enable bit (in RELAY_PORTn) is written
/// last when a slot starts relaying and first when it stops, so the core
/// never relays to a half-written backend.
fn write_relay_slot<D: Dut>(dut: &mut D, regs: &regmap::RelaySlotRegs, backend: Option<RelayBackend>) -> Result<(), LockstepError> {
    match backend {
        Some(b) => {
            let mac = b.next_hop.to_u64();
            dut.reg_write(regs.ip.offset, u32::from(b.ip))?;
            dut.reg_write(regs.mac_hi.offset, (mac >> 32) as u32)?;
            dut.reg_write(regs.mac_lo.offset, mac as u32)?;
            dut.reg_write(regs.port.offset, regmap::RELAY_ENABLE | u32::from(b.port))?;
        }
        None => {
            dut.reg_write(regs.port.offset, 0)?;
            dut.reg_write(regs.ip.offset, 0)?;
            dut.reg_write(regs.mac_hi.offset, 0)?;
            dut.reg_write(regs.mac_lo.offset, 0)?;
        }
    }
    Ok(())
}

/// RX_REASM: bit0 reassembly, bit1 SACK.
fn reasm_bits(cfg: &Config) -> u32 {
    u32::from(cfg.reassembly) | (u32::from(cfg.sack) << 1)
}

fn ctrl_bits(cfg: &Config) -> u32 {
    let mut v = 0;
    if cfg.enable {
        v |= regmap::CTRL_ENABLE;
    }
    if cfg.holdback {
        v |= regmap::CTRL_HOLDBACK;
    }
    if cfg.standby {
        v |= regmap::CTRL_STANDBY;
    }
    if cfg.dup_acks {
        v |= regmap::CTRL_PROMOTE_DUP_ACKS;
    }
    if cfg.hold_synack {
        v |= regmap::CTRL_HOLD_SYNACK;
    }
    v
}

/// A locally administered MAC for test peers: 02:00:00:00:hi:lo.
/// SYN_COOKIES and COOKIE_KEY0..7.
fn write_syn_cookies<D: Dut>(dut: &mut D, threshold: Option<u16>, (key0, key1): (u128, u128)) -> Result<(), LockstepError> {
    dut.reg_write(regmap::SYN_COOKIES.offset, regmap::syn_cookies_value(threshold))?;
    for (reg, word) in regmap::COOKIE_KEYS.iter().zip(regmap::cookie_key_words(key0, key1)) {
        dut.reg_write(reg.offset, word)?;
    }
    Ok(())
}

pub fn test_mac(n: u16) -> MacAddr {
    let [hi, lo] = n.to_be_bytes();
    MacAddr([0x02, 0, 0, 0, hi, lo])
}

/// The test's side of one TCP connection to the device: builds the peer's
/// segments and tracks its sequence numbers.
#[derive(Debug, Clone)]
pub struct PeerConn {
    pub peer: crate::wire::Endpoint,
    pub core: crate::wire::Endpoint,
    pub peer_port: u16,
    pub local_port: u16,
    /// The device's TCB slot.
    pub id: usize,
    /// The peer's next sequence number to send.
    pub snd_nxt: crate::wire::SeqNum,
    /// The device's next sequence number (what the peer acknowledges).
    pub rcv_nxt: crate::wire::SeqNum,
}

impl PeerConn {
    /// Open a connection from `peer:peer_port` to the device's `local_port`
    /// with initial sequence number `isn` (the device's SYN-ACK and the
    /// handshake ACK both scored against the model).
    pub fn open<D: Dut>(
        ls: &mut Lockstep<D>,
        peer: crate::wire::Endpoint,
        peer_port: u16,
        local_port: u16,
        isn: u32,
    ) -> Result<PeerConn, LockstepError> {
        PeerConn::open_scaled(ls, peer, peer_port, local_port, isn, None)
    }

    /// [`PeerConn::open`] with (window scaling) a Window Scale option of
    /// shift `wscale` in the SYN after the MSS, as Linux sends it.
    pub fn open_scaled<D: Dut>(
        ls: &mut Lockstep<D>,
        peer: crate::wire::Endpoint,
        peer_port: u16,
        local_port: u16,
        isn: u32,
        wscale: Option<u8>,
    ) -> Result<PeerConn, LockstepError> {
        PeerConn::open_with(ls, peer, peer_port, local_port, isn, wscale, false)
    }

    /// [`PeerConn::open_scaled`] with (SACK, RFC 2018 §2) NOP, NOP,
    /// SACK-permitted after the other options when `sack_permitted`.
    pub fn open_with<D: Dut>(
        ls: &mut Lockstep<D>,
        peer: crate::wire::Endpoint,
        peer_port: u16,
        local_port: u16,
        isn: u32,
        wscale: Option<u8>,
        sack_permitted: bool,
    ) -> Result<PeerConn, LockstepError> {
        use crate::wire::{tcp_frame, Endpoint, Frame, SeqNum, TcpFlags, TcpRepr};
        let core = Endpoint { mac: ls.model.cfg.mac, ip: ls.model.cfg.ip };
        let mut repr = TcpRepr::new(peer_port, local_port, SeqNum(isn), SeqNum(0), TcpFlags::SYN, 64240).with_mss(1460);
        if let Some(shift) = wscale {
            repr = repr.with_wscale(shift);
        }
        if sack_permitted {
            repr = repr.with_sack_permitted();
        }
        let syn = tcp_frame(peer, core, &repr, &[]);
        let out = ls.frame(&syn)?;
        let key = super::ConnKey { remote_ip: peer.ip, remote_port: peer_port, local_port };
        let id = ls.model.lookup(key).ok_or(LockstepError::NotOpened { key, tcb_full: ls.model.stat(holdback_regmap::Stat::DropTcbFull) })?;
        let iss = out
            .iter()
            .filter_map(|f| Frame::parse(f).ok())
            .find_map(|f| f.tcp().map(|(_, t, _)| t.seq))
            .unwrap_or(ls.model.tcb(id).iss);
        let mut c = PeerConn { peer, core, peer_port, local_port, id, snd_nxt: SeqNum(isn) + 1, rcv_nxt: iss + 1 };
        let ack = c.segment(c.snd_nxt, TcpFlags::ACK, &[]);
        ls.frame(&ack)?;
        c.rcv_nxt = ls.model.tcb(id).snd_nxt;
        Ok(c)
    }

    /// A segment from the peer at `seq` acknowledging the device's `rcv_nxt`.
    pub fn segment(&self, seq: crate::wire::SeqNum, flags: crate::wire::TcpFlags, payload: &[u8]) -> Vec<u8> {
        use crate::wire::{tcp_frame, TcpRepr};
        tcp_frame(self.peer, self.core, &TcpRepr::new(self.peer_port, self.local_port, seq, self.rcv_nxt, flags, 64240), payload)
    }

    /// The next in-order data segment (ACK|PSH); does not advance `snd_nxt`.
    pub fn data(&self, payload: &[u8]) -> Vec<u8> {
        use crate::wire::TcpFlags;
        self.segment(self.snd_nxt, TcpFlags::ACK | TcpFlags::PSH, payload)
    }

    /// Send the next in-order data segment through the lockstep harness and
    /// advance `snd_nxt`. Returns the device's frames.
    pub fn send<D: Dut>(&mut self, ls: &mut Lockstep<D>, payload: &[u8]) -> Result<Vec<Vec<u8>>, LockstepError> {
        let f = self.data(payload);
        let out = ls.frame(&f)?;
        self.snd_nxt += payload.len() as u32;
        Ok(out)
    }
}
