//! The event-queue writer: tells the host which TCBs changed, and how, by
//! writing one 128-byte record per change into a ring in host memory through
//! the DMA master's write port. The record layout, the phase bit and the
//! ring's indexing are `holdback_regmap::event_queue`'s; every position
//! comes from there.
//!
//! The record carries the connection's whole TCB, read from the writer's own
//! copy of the TCB table (`mirror`): one block-RAM word per connection,
//! written with every write of the engine's table (`tcb_we`, `tcb_waddr`,
//! `tcb_wdata` are that table's write port), so the writer reads a TCB in one
//! cycle without a port on the engine's table and without waiting for the
//! engine. One read of one word: a record cannot tear.
//!
//! Changes coalesce per connection ([`Coalescer`], block RAM): a "connection c
//! changed" strobe queues `c` unless it is already waiting, and `c` leaves
//! the queue *before* its TCB is read, so a change landing after that read
//! queues `c` again and the last state of every connection reaches the host.
//!
//! Per record: pop an id, read its TCB, write the record at
//! `ring_base + 128 * (prod mod entries)` as one 16-beat burst, count it in
//! `prod` once host memory acknowledged it. A record is started only while
//! `prod - cons_idx < entries`: the writer never overwrites a record the host
//! has not consumed. `ring_base` must be 128-byte aligned (a record then
//! never straddles a 4 KiB page, so it is one burst and one TLP).
//!
//! Restarting the ring (the host's protocol): drop `enable`, wait for
//! `active` low, take the records up to `prod_idx` (it no longer moves),
//! zero the ring, raise `enable`: the writer starts again at record 0 with
//! phase 1. Changes meanwhile stay queued.
use crate::coalesce::Coalescer;
use super::{AxiAddrSource, AxiBSink, AxiWSource, DmaStreamSource, DmaWrCmdSource, DmaWriter};
use holdback_regmap::event_queue::{event, EVENT_RECORD_BYTES, MAX_EVENT_RING_BITS};
use holdback_regmap::TCB_BITS;
use rust_hdl::prelude::*;

/// Beats of a record that carry the TCB (64 bits each).
const TCB_BEATS: usize = TCB_BITS / 64;

#[derive(Copy, Clone, PartialEq, Eq, Debug, LogicState)]
pub enum EventQueueState {
    /// Waiting for a queued id and room in the host ring.
    Idle,
    /// The mirror latches the popped id's TCB.
    Snap,
    /// The TCB is on the mirror's read port: keep it.
    Load,
    /// Offering the record's write command to the DMA master.
    Cmd,
    /// Sending the record's sixteen beats.
    Send,
    /// Waiting for the host memory's acknowledgement.
    Wait,
}

/// `COUNT_BITS` must be `CONN_BITS + 1` (a parameter because stable Rust
/// cannot compute it: the coalescer counts 0..=N waiting ids); the host ring
/// holds `1 << RING_BITS` records, at least N.
#[derive(LogicBlock)]
pub struct EventQueueWriter<const CONN_BITS: usize, const COUNT_BITS: usize, const RING_BITS: usize> {
    pub clock: Signal<In, Clock>,
    /// Connection `changed_conn`'s TCB changed (one strobe per change, in
    /// the cycle of its table write or later).
    pub changed: Signal<In, Bit>,
    pub changed_conn: Signal<In, Bits<CONN_BITS>>,
    /// The TCB table's write port, mirrored.
    pub tcb_we: Signal<In, Bit>,
    pub tcb_waddr: Signal<In, Bits<CONN_BITS>>,
    pub tcb_wdata: Signal<In, Bits<TCB_BITS>>,
    /// Low: no record is started (one in flight finishes); changes still
    /// queue. Rising: the writer starts a fresh ring, producer count 0.
    pub enable: Signal<In, Bit>,
    /// Host byte address of the ring's slot 0 (128-byte aligned).
    pub ring_base: Signal<In, Bits<64>>,
    /// Records the host has consumed (wrapping count).
    pub cons_idx: Signal<In, Bits<16>>,
    /// Records written and acknowledged (wrapping count).
    pub prod_idx: Signal<Out, Bits<16>>,
    /// A record write got a non-OKAY response (one cycle per record).
    pub dma_err: Signal<Out, Bit>,
    /// A record is being read or written. With `enable` low and this low
    /// the writer is quiet: `prod_idx` stays put until `enable` rises.
    pub active: Signal<Out, Bit>,
    /// Nothing to do: no record in flight and none the writer could start
    /// (none queued, the writer disabled, or the host ring full).
    pub idle: Signal<Out, Bit>,
    /// Strobes the cycle after a record's connection left the queue (from a
    /// register: no combinational path to the arbiter and back): the TCB it
    /// reads holds every table write up to the leaving cycle, and the
    /// arbiter lets the record go only after the payload commands still
    /// queued now (docs/dma.md "Ordering").
    pub snap: Signal<Out, Bit>,
    pub dma: DmaWrCmdSource,
    pub data: DmaStreamSource,

    changes: Coalescer<CONN_BITS, COUNT_BITS>,
    mirror: RAM<Bits<TCB_BITS>, CONN_BITS>,
    state: DFF<EventQueueState>,
    snap_conn: DFF<Bits<CONN_BITS>>,
    snap_tcb: DFF<Bits<TCB_BITS>>,
    prod: DFF<Bits<16>>,
    beat: DFF<Bits<4>>,
    enable_q: DFF<Bit>,
    /// `enable` rose: start a fresh ring once idle.
    restart: DFF<Bit>,
    snap_q: DFF<Bit>,

    entries: Constant<Bits<16>>,
    slot_mask: Constant<Bits<16>>,
    lap_bit: Constant<Bits<16>>,
    record_len: Constant<Bits<16>>,
    slot_shift: Constant<Bits<8>>,
    conn_beat: Constant<Bits<4>>,
    phase_beat: Constant<Bits<4>>,
    phase_in_beat: Constant<Bits<64>>,
    zero_beat: Constant<Bits<4>>,
    one_beat: Constant<Bits<4>>,

    in_use: Signal<Local, Bits<16>>,
    lap: Signal<Local, Bits<16>>,
    slot: Signal<Local, Bits<16>>,
    slot_off: Signal<Local, Bits<64>>,
}

impl<const CONN_BITS: usize, const COUNT_BITS: usize, const RING_BITS: usize> EventQueueWriter<CONN_BITS, COUNT_BITS, RING_BITS> {
    /// # Panics
    /// If the parameters are inconsistent with each other or with the record
    /// layout (a build-time configuration error).
    pub fn new() -> Self {
        assert_eq!(COUNT_BITS, CONN_BITS + 1, "event queue: COUNT_BITS must be CONN_BITS + 1");
        assert!(RING_BITS >= CONN_BITS, "event queue: the ring must hold at least one record per connection");
        assert!(RING_BITS as u32 <= MAX_EVENT_RING_BITS, "event queue: ring larger than the 16-bit counts allow");
        assert!(CONN_BITS as u32 <= event::CONN.width, "event queue: connection ids do not fit the record");
        assert_eq!(EVENT_RECORD_BYTES, 128, "event queue: the RTL sends records as sixteen 64-bit beats");
        assert_eq!(TCB_BITS % 64, 0, "event queue: the TCB fills whole beats");
        assert_eq!(event::TCB_WORD, 0, "event queue: the TCB opens the record");
        assert_eq!(event::CONN.bit(), TCB_BITS, "event queue: the id follows the TCB, in the beat after it");
        assert_eq!(event::CONN.shift, 0, "event queue: the id starts its beat");
        assert_eq!(event::PHASE.bit(), EVENT_RECORD_BYTES * 8 - 1, "event queue: the phase is the record's last bit");
        Self {
            clock: Default::default(),
            changed: Default::default(),
            changed_conn: Default::default(),
            tcb_we: Default::default(),
            tcb_waddr: Default::default(),
            tcb_wdata: Default::default(),
            enable: Default::default(),
            ring_base: Default::default(),
            cons_idx: Default::default(),
            prod_idx: Default::default(),
            dma_err: Default::default(),
            active: Default::default(),
            idle: Default::default(),
            snap: Default::default(),
            dma: Default::default(),
            data: Default::default(),
            changes: Default::default(),
            mirror: Default::default(),
            state: Default::default(),
            snap_conn: Default::default(),
            snap_tcb: Default::default(),
            prod: Default::default(),
            beat: Default::default(),
            enable_q: Default::default(),
            restart: Default::default(),
            snap_q: Default::default(),
            entries: Constant::new((1_u64 << RING_BITS).into()),
            slot_mask: Constant::new(((1_u64 << RING_BITS) - 1).into()),
            lap_bit: Constant::new((1_u64 << RING_BITS).into()),
            record_len: Constant::new((EVENT_RECORD_BYTES as u64).into()),
            slot_shift: Constant::new((EVENT_RECORD_BYTES.trailing_zeros() as u64).into()),
            conn_beat: Constant::new((TCB_BEATS as u64).into()),
            phase_beat: Constant::new(((EVENT_RECORD_BYTES / 8 - 1) as u64).into()),
            phase_in_beat: Constant::new((1_u64 << (event::PHASE.bit() % 64)).into()),
            zero_beat: Constant::new(0_u64.into()),
            one_beat: Constant::new(1_u64.into()),
            in_use: Default::default(),
            lap: Default::default(),
            slot: Default::default(),
            slot_off: Default::default(),
        }
    }
}

impl<const CONN_BITS: usize, const COUNT_BITS: usize, const RING_BITS: usize> Default
    for EventQueueWriter<CONN_BITS, COUNT_BITS, RING_BITS>
{
    fn default() -> Self {
        Self::new()
    }
}

impl<const CONN_BITS: usize, const COUNT_BITS: usize, const RING_BITS: usize> Logic
    for EventQueueWriter<CONN_BITS, COUNT_BITS, RING_BITS>
{
    #[hdl_gen]
    fn update(&mut self) {
        clock!(self, clock, changes);
        dff_setup!(self, clock, state, snap_conn, snap_tcb, prod, beat, enable_q, restart, snap_q);

        self.changes.push.next = self.changed.val();
        self.changes.push_id.next = self.changed_conn.val();
        self.changes.pop.next = false;

        // The copy of the TCB table, read at the popped id.
        self.mirror.read_clock.next = self.clock.val();
        self.mirror.write_clock.next = self.clock.val();
        self.mirror.write_enable.next = self.tcb_we.val();
        self.mirror.write_address.next = self.tcb_waddr.val();
        self.mirror.write_data.next = self.tcb_wdata.val();
        self.mirror.read_address.next = self.snap_conn.q.val();

        // ---- Where record `prod` goes and its phase. ----
        self.in_use.next = self.prod.q.val() - self.cons_idx.val();
        self.lap.next = self.prod.q.val() & self.lap_bit.val();
        self.slot.next = self.prod.q.val() & self.slot_mask.val();
        self.slot_off.next = bit_cast::<64, 16>(self.slot.val()) << self.slot_shift.val();

        // ---- One record at a time. ----
        self.dma.valid.next = false;
        self.dma.addr.next = self.ring_base.val() + self.slot_off.val();
        self.dma.len.next = self.record_len.val();
        self.data.valid.next = false;
        // Beats 0-10: the TCB; 11: the id; 15: the phase (1 on even laps); zeros between.
        self.data.data.next = 0_u64.to_bits();
        match self.beat.q.val().index() {
            0 => self.data.data.next = self.snap_tcb.q.val().get_bits::<64>(0),
            1 => self.data.data.next = self.snap_tcb.q.val().get_bits::<64>(64),
            2 => self.data.data.next = self.snap_tcb.q.val().get_bits::<64>(128),
            3 => self.data.data.next = self.snap_tcb.q.val().get_bits::<64>(192),
            4 => self.data.data.next = self.snap_tcb.q.val().get_bits::<64>(256),
            5 => self.data.data.next = self.snap_tcb.q.val().get_bits::<64>(320),
            6 => self.data.data.next = self.snap_tcb.q.val().get_bits::<64>(384),
            7 => self.data.data.next = self.snap_tcb.q.val().get_bits::<64>(448),
            8 => self.data.data.next = self.snap_tcb.q.val().get_bits::<64>(512),
            9 => self.data.data.next = self.snap_tcb.q.val().get_bits::<64>(576),
            10 => self.data.data.next = self.snap_tcb.q.val().get_bits::<64>(640),
            _ => {}
        }
        if self.beat.q.val() == self.conn_beat.val() {
            self.data.data.next = bit_cast::<64, CONN_BITS>(self.snap_conn.q.val());
        }
        if (self.beat.q.val() == self.phase_beat.val()) & !self.lap.val().any() {
            self.data.data.next = self.phase_in_beat.val();
        }
        self.dma_err.next = false;
        match self.state.q.val() {
            EventQueueState::Idle => {
                if self.restart.q.val() {
                    self.prod.d.next = 0_u16.to_bits();
                    self.restart.d.next = false;
                } else if self.enable.val()
                    & self.enable_q.q.val()
                    & self.changes.head_valid.val()
                    & (self.in_use.val() < self.entries.val())
                {
                    // enable_q: not in the cycle enable rises (the restart goes first).
                    self.changes.pop.next = true;
                    self.snap_conn.d.next = self.changes.head_id.val();
                    self.state.d.next = EventQueueState::Snap;
                }
            }
            EventQueueState::Snap => {
                self.state.d.next = EventQueueState::Load;
            }
            EventQueueState::Load => {
                self.snap_tcb.d.next = self.mirror.read_data.val();
                self.state.d.next = EventQueueState::Cmd;
            }
            EventQueueState::Cmd => {
                self.dma.valid.next = true;
                if self.dma.ready.val() {
                    self.beat.d.next = self.zero_beat.val();
                    self.state.d.next = EventQueueState::Send;
                }
            }
            EventQueueState::Send => {
                self.data.valid.next = true;
                if self.data.ready.val() {
                    self.beat.d.next = self.beat.q.val() + self.one_beat.val();
                    if self.beat.q.val() == self.phase_beat.val() {
                        self.state.d.next = EventQueueState::Wait;
                    }
                }
            }
            EventQueueState::Wait => {
                if self.dma.done.val() {
                    self.prod.d.next = self.prod.q.val() + 1_u16.to_bits();
                    self.dma_err.next = self.dma.err.val();
                    self.state.d.next = EventQueueState::Idle;
                }
            }
            _ => {
                self.state.d.next = EventQueueState::Idle;
            }
        }
        // A rise of `enable` (the host zeroed the ring) restarts the count,
        // after the record in flight, if any.
        self.enable_q.d.next = self.enable.val();
        if self.enable.val() & !self.enable_q.q.val() {
            self.restart.d.next = true;
        }
        self.snap_q.d.next = self.changes.pop.val();
        self.snap.next = self.snap_q.q.val();
        self.prod_idx.next = self.prod.q.val();
        self.active.next = self.state.q.val() != EventQueueState::Idle;
        self.idle.next = (self.state.q.val() == EventQueueState::Idle)
            & !self.restart.q.val()
            & self.changes.settled.val()
            & !(self.enable.val() & self.changes.head_valid.val() & (self.in_use.val() < self.entries.val()));
    }
}

/// The writer with a DMA write engine behind it: what the Verilated test
/// drives (TCB port and change strobes in, AXI4 write channels out).
#[derive(LogicBlock)]
pub struct EventQueueOverDma<const CONN_BITS: usize, const COUNT_BITS: usize, const RING_BITS: usize> {
    pub clock: Signal<In, Clock>,
    pub changed: Signal<In, Bit>,
    pub changed_conn: Signal<In, Bits<CONN_BITS>>,
    pub tcb_we: Signal<In, Bit>,
    pub tcb_waddr: Signal<In, Bits<CONN_BITS>>,
    pub tcb_wdata: Signal<In, Bits<TCB_BITS>>,
    pub enable: Signal<In, Bit>,
    pub ring_base: Signal<In, Bits<64>>,
    pub cons_idx: Signal<In, Bits<16>>,
    pub prod_idx: Signal<Out, Bits<16>>,
    pub dma_err: Signal<Out, Bit>,
    pub active: Signal<Out, Bit>,
    pub idle: Signal<Out, Bit>,
    pub aw: AxiAddrSource,
    pub w: AxiWSource,
    pub b: AxiBSink,
    /// Every write taken so far is complete.
    pub dma_quiet: Signal<Out, Bit>,
    /// The writer's snapshot strobe (see [`EventQueueWriter::snap`]).
    pub snap: Signal<Out, Bit>,
    writer: EventQueueWriter<CONN_BITS, COUNT_BITS, RING_BITS>,
    dma: DmaWriter,
}

impl<const CONN_BITS: usize, const COUNT_BITS: usize, const RING_BITS: usize> EventQueueOverDma<CONN_BITS, COUNT_BITS, RING_BITS> {
    /// `max_beats`: the DMA engine's burst limit (a record is 16 beats).
    pub fn new(max_beats: u32) -> Self {
        Self {
            clock: Default::default(),
            changed: Default::default(),
            changed_conn: Default::default(),
            tcb_we: Default::default(),
            tcb_waddr: Default::default(),
            tcb_wdata: Default::default(),
            enable: Default::default(),
            ring_base: Default::default(),
            cons_idx: Default::default(),
            prod_idx: Default::default(),
            dma_err: Default::default(),
            active: Default::default(),
            idle: Default::default(),
            aw: Default::default(),
            w: Default::default(),
            b: Default::default(),
            dma_quiet: Default::default(),
            snap: Default::default(),
            writer: EventQueueWriter::new(),
            dma: DmaWriter::new(max_beats),
        }
    }
}

impl<const CONN_BITS: usize, const COUNT_BITS: usize, const RING_BITS: usize> Logic
    for EventQueueOverDma<CONN_BITS, COUNT_BITS, RING_BITS>
{
    #[hdl_gen]
    fn update(&mut self) {
        clock!(self, clock, writer, dma);
        self.writer.changed.next = self.changed.val();
        self.writer.changed_conn.next = self.changed_conn.val();
        self.writer.enable.next = self.enable.val();
        self.writer.ring_base.next = self.ring_base.val();
        self.writer.cons_idx.next = self.cons_idx.val();
        self.prod_idx.next = self.writer.prod_idx.val();
        self.dma_err.next = self.writer.dma_err.val();
        self.active.next = self.writer.active.val();
        self.idle.next = self.writer.idle.val();
        self.writer.tcb_we.next = self.tcb_we.val();
        self.writer.tcb_waddr.next = self.tcb_waddr.val();
        self.writer.tcb_wdata.next = self.tcb_wdata.val();
        DmaWrCmdSource::join(&mut self.writer.dma, &mut self.dma.cmd);
        DmaStreamSource::join(&mut self.writer.data, &mut self.dma.data);
        AxiAddrSource::link(&mut self.aw, &mut self.dma.aw);
        AxiWSource::link(&mut self.w, &mut self.dma.w);
        AxiBSink::link(&mut self.b, &mut self.dma.b);
        self.dma_quiet.next = self.dma.quiet.val();
        self.snap.next = self.writer.snap.val();
    }
}

/// The writer alone for its lint/synthesis check: 64 connections, a ring of 128 records.
pub type DefaultEventQueueWriter = EventQueueWriter<6, 7, 7>;

/// The Verilated test instance: 64 connections, a ring of exactly 64 records
/// (the smallest allowed, so the ring wraps and fills often), 16-beat bursts.
pub type TestEventQueue = EventQueueOverDma<6, 7, 6>;

pub fn verilog() -> Result<String, crate::generate::GenError> {
    crate::generate::verilog_named(&mut TestEventQueue::new(16), "event_queue")
}

#[cfg(test)]
mod tests {
    #[test]
    fn event_queue_lints_clean_and_synthesizes() {
        let v = crate::generate::verilog_named(&mut super::DefaultEventQueueWriter::default(), "event_queue_writer")
            .expect("generates");
        crate::check::lint("event_queue_writer", &v).unwrap_or_else(|e| panic!("lint:\n{e}"));
        let area = crate::check::synth("event_queue_writer", &v).unwrap_or_else(|e| panic!("{e}"));
        eprintln!("event_queue_writer area: {area:?}");
        assert!(area.luts > 0);
        let v = super::verilog().expect("generates");
        crate::check::lint("event_queue", &v).unwrap_or_else(|e| panic!("lint:\n{e}"));
    }
}
