//! Two writers share one DMA write engine: the payload DMA (`req0`) and the
//! event-queue writer (`req1`) each offer write commands and their streams;
//! the arbiter hands the [`DmaWriter`](super::DmaWriter) one whole command at a
//! time (the command, then all its stream beats), so two commands' bytes
//! never interleave, and returns each `done`/`err` to the requester that owns
//! the command.
//!
//! The payload goes first when both wait: a frame's payload holds the frame
//! buffer until it has left, so every cycle it waits stalls the receive path,
//! while the event writer's changes keep coalescing meanwhile (its queue
//! holds a connection once and reads the TCB only when its record starts, so
//! the last state still reaches the host). The records do not starve: a
//! record passed over twice in a row (`passed`) goes before the next payload
//! command, so it waits for at most two (a copy that wraps the ring is two).
//!
//! Order: the DMA writer issues commands in grant order on one AXI ID, so
//! host memory completes them in that order. A record granted after a payload
//! command is therefore written after that payload, which is the order the
//! host relies on (docs/dma.md, "Ordering"). The writer takes a new command
//! once the previous one's data has left, before its responses; `done`
//! strobes come back in grant order, so the arbiter keeps the owner of every
//! command in flight in a queue (`owners`, one bit each: the writer has at
//! most 32 commands in flight, as many as its own queue of owed bursts).
//!
//! Paths: `cmd.ready` to the requesters' `ready`, their `valid` to
//! `cmd.valid`; the writer's `cmd.ready` comes from its registers, so there
//! is no loop.
use super::order::BitQueue;
use super::{DmaStreamSink, DmaStreamSource, DmaWrCmdSink, DmaWrCmdSource};
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct DmaWriteArbiter {
    pub clock: Signal<In, Clock>,
    /// The payload DMA's commands and stream.
    pub req0_cmd: DmaWrCmdSink,
    pub req0_data: DmaStreamSink,
    /// The event-queue writer's commands and stream.
    pub req1_cmd: DmaWrCmdSink,
    pub req1_data: DmaStreamSink,
    /// Payload write commands queued in the payload DMA, not yet granted.
    pub req0_queued: Signal<In, Bits<3>>,
    /// The event writer takes its snapshot of a TCB now: the payload
    /// commands queued now go before its record.
    pub req1_snap: Signal<In, Bit>,
    /// To the DMA writer.
    pub cmd: DmaWrCmdSource,
    pub data: DmaStreamSource,

    /// Which requester owns the command whose stream the writer takes (the
    /// last one granted).
    owner: DFF<Bit>,
    /// The owner of every command whose `done` is owed, oldest first.
    owners: BitQueue,
    /// Payload commands granted while a record waited, since its last grant.
    passed: DFF<Bits<2>>,
    /// Payload commands still to be granted before the pending record.
    ahead: DFF<Bits<3>>,
    two: Constant<Bits<2>>,
    one3: Constant<Bits<3>>,
    one2: Constant<Bits<2>>,
    zero2: Constant<Bits<2>>,
    take0: Signal<Local, Bit>,

    tie: Signal<Local, Bit>,
    pick1: Signal<Local, Bit>,
    take: Signal<Local, Bit>,
    done_for0: Signal<Local, Bit>,
    done_for1: Signal<Local, Bit>,
}

impl Default for DmaWriteArbiter {
    fn default() -> Self {
        DmaWriteArbiter {
            clock: Default::default(),
            req0_cmd: Default::default(),
            req0_data: Default::default(),
            req1_cmd: Default::default(),
            req1_data: Default::default(),
            req0_queued: Default::default(),
            req1_snap: Default::default(),
            cmd: Default::default(),
            data: Default::default(),
            owner: Default::default(),
            owners: Default::default(),
            passed: Default::default(),
            ahead: Default::default(),
            two: Constant::new(2_u64.into()),
            one3: Constant::new(1_u64.into()),
            one2: Constant::new(1_u64.into()),
            zero2: Constant::new(0_u64.into()),
            take0: Default::default(),
            tie: Default::default(),
            pick1: Default::default(),
            take: Default::default(),
            done_for0: Default::default(),
            done_for1: Default::default(),
        }
    }
}

impl Logic for DmaWriteArbiter {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, owner, passed, ahead);
        clock!(self, clock, owners);

        // ---- Completion, routed to the oldest command's owner. ----
        self.owners.pop.next = self.cmd.done.val();
        self.done_for0.next = self.cmd.done.val() & !self.owners.empty.val() & !self.owners.head.val();
        self.done_for1.next = self.cmd.done.val() & !self.owners.empty.val() & self.owners.head.val();
        self.req0_cmd.done.next = self.done_for0.val();
        self.req0_cmd.err.next = self.done_for0.val() & self.cmd.err.val();
        self.req1_cmd.done.next = self.done_for1.val();
        self.req1_cmd.err.next = self.done_for1.val() & self.cmd.err.val();

        // ---- Grant: the payload first, unless the record was passed over twice. ----
        self.tie.next = self.req0_cmd.valid.val() & self.req1_cmd.valid.val();
        self.pick1.next = self.req1_cmd.valid.val()
            & !self.ahead.q.val().any()
            & (!self.req0_cmd.valid.val() | (self.passed.q.val() == self.two.val()));
        // The writer has at most 32 commands in flight, so `owners` is never
        // full when it takes one; the guard only keeps the queue's contract.
        self.cmd.valid.next = (self.req0_cmd.valid.val() | self.req1_cmd.valid.val()) & !self.owners.full.val();
        self.cmd.addr.next = self.req0_cmd.addr.val();
        self.cmd.len.next = self.req0_cmd.len.val();
        if self.pick1.val() {
            self.cmd.addr.next = self.req1_cmd.addr.val();
            self.cmd.len.next = self.req1_cmd.len.val();
        }
        self.req0_cmd.ready.next = !self.pick1.val() & self.cmd.ready.val() & !self.owners.full.val();
        self.req1_cmd.ready.next = self.pick1.val() & self.cmd.ready.val() & !self.owners.full.val();
        self.take.next = self.cmd.valid.val() & self.cmd.ready.val();
        self.take0.next = self.take.val() & !self.pick1.val();
        // The record's barrier: the payload commands queued at its snapshot.
        if self.req1_snap.val() {
            self.ahead.d.next = self.req0_queued.val();
            if self.take0.val() {
                self.ahead.d.next = self.req0_queued.val() - self.one3.val();
            }
        } else if self.take0.val() & self.ahead.q.val().any() {
            self.ahead.d.next = self.ahead.q.val() - self.one3.val();
        }
        self.owners.push.next = self.take.val();
        self.owners.push_bit.next = self.pick1.val();
        if self.take.val() {
            self.owner.d.next = self.pick1.val();
            if self.pick1.val() {
                self.passed.d.next = self.zero2.val();
            } else if self.tie.val() & (self.passed.q.val() != self.two.val()) {
                // Saturates: a record held back by its barrier keeps its turn.
                self.passed.d.next = self.passed.q.val() + self.one2.val();
            }
        }

        // ---- Stream: the last granted command's owner (the writer takes
        // beats only while it has a command). ----
        self.data.valid.next = self.req0_data.valid.val();
        self.data.data.next = self.req0_data.data.val();
        if self.owner.q.val() {
            self.data.valid.next = self.req1_data.valid.val();
            self.data.data.next = self.req1_data.data.val();
        }
        self.req0_data.ready.next = !self.owner.q.val() & self.data.ready.val();
        self.req1_data.ready.next = self.owner.q.val() & self.data.ready.val();
    }
}

/// The Verilated test instance: the arbiter in front of a DMA writer with
/// 16-beat bursts; both requesters' ports and the AXI4 write channels at the top.
#[derive(LogicBlock)]
pub struct ArbitratedDmaWriter {
    pub clock: Signal<In, Clock>,
    pub req0_cmd: DmaWrCmdSink,
    pub req0_data: DmaStreamSink,
    pub req1_cmd: DmaWrCmdSink,
    pub req1_data: DmaStreamSink,
    pub req0_queued: Signal<In, Bits<3>>,
    pub req1_snap: Signal<In, Bit>,
    pub aw: super::AxiAddrSource,
    pub w: super::AxiWSource,
    pub b: super::AxiBSink,
    pub dma_quiet: Signal<Out, Bit>,
    arbiter: DmaWriteArbiter,
    dma: super::DmaWriter,
}

impl ArbitratedDmaWriter {
    /// `max_beats`: the DMA writer's burst limit.
    pub fn new(max_beats: u32) -> Self {
        Self {
            clock: Default::default(),
            req0_cmd: Default::default(),
            req0_data: Default::default(),
            req1_cmd: Default::default(),
            req1_data: Default::default(),
            req0_queued: Default::default(),
            req1_snap: Default::default(),
            aw: Default::default(),
            w: Default::default(),
            b: Default::default(),
            dma_quiet: Default::default(),
            arbiter: Default::default(),
            dma: super::DmaWriter::new(max_beats),
        }
    }
}

impl Logic for ArbitratedDmaWriter {
    #[hdl_gen]
    fn update(&mut self) {
        clock!(self, clock, arbiter, dma);
        DmaWrCmdSink::link(&mut self.req0_cmd, &mut self.arbiter.req0_cmd);
        DmaStreamSink::link(&mut self.req0_data, &mut self.arbiter.req0_data);
        DmaWrCmdSink::link(&mut self.req1_cmd, &mut self.arbiter.req1_cmd);
        DmaStreamSink::link(&mut self.req1_data, &mut self.arbiter.req1_data);
        DmaWrCmdSource::join(&mut self.arbiter.cmd, &mut self.dma.cmd);
        DmaStreamSource::join(&mut self.arbiter.data, &mut self.dma.data);
        super::AxiAddrSource::link(&mut self.aw, &mut self.dma.aw);
        super::AxiWSource::link(&mut self.w, &mut self.dma.w);
        super::AxiBSink::link(&mut self.b, &mut self.dma.b);
        self.arbiter.req0_queued.next = self.req0_queued.val();
        self.arbiter.req1_snap.next = self.req1_snap.val();
        self.dma_quiet.next = self.dma.quiet.val();
    }
}

pub fn test_verilog() -> Result<String, crate::generate::GenError> {
    crate::generate::verilog_named(&mut ArbitratedDmaWriter::new(16), "dma_arbiter")
}

#[cfg(test)]
mod tests {
    #[test]
    fn dma_arbiter_lints_clean_and_synthesizes() {
        let v = crate::generate::verilog_named(&mut super::DmaWriteArbiter::default(), "dma_arbiter_block")
            .expect("generates");
        crate::check::lint("dma_arbiter_block", &v).unwrap_or_else(|e| panic!("lint:\n{e}"));
        let area = crate::check::synth("dma_arbiter_block", &v).unwrap_or_else(|e| panic!("{e}"));
        eprintln!("dma_arbiter area: {area:?}");
        assert!(area.luts > 0);
        let v = super::test_verilog().expect("generates");
        crate::check::lint("dma_arbiter", &v).unwrap_or_else(|e| panic!("lint:\n{e}"));
    }
}
