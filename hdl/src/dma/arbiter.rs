//! Two writers share one DMA write engine: the payload DMA (`req0`) and the
//! event-queue writer (`req1`) each offer write commands and their streams;
//! the arbiter hands the [`DmaWriter`](super::DmaWriter) one whole command at a
//! time (the command, all its stream beats, up to its `done`), so two
//! commands' bytes never interleave, and returns `done`/`err` to the
//! requester that owns the command.
//!
//! Grants alternate when both wait (round-robin), so neither starves: a
//! stream of payload copies leaves room for an event record after each, and
//! the other way round. Since both requesters' commands go through one
//! engine in grant order, a record offered after a payload copy's `done` is
//! written after that payload, which is the order the host relies on.
//!
//! The DMA writer takes a new command only once the previous one has all its
//! write responses, and then in the very cycle its `done` strobes. The
//! arbiter releases a grant in that same cycle and offers the next command
//! combinationally, so it adds no cycle between commands. Paths: `cmd.done`
//! and `cmd.ready` to the requesters' `ready`, `valid` to `cmd.valid`; the
//! writer's `cmd.ready` and `done` come from its registers, so there is no
//! loop.
use super::{DmaStreamSink, DmaStreamSource, DmaWrCmdSink, DmaWrCmdSource};
use rust_hdl::prelude::*;

#[derive(LogicBlock, Default)]
pub struct DmaWriteArbiter {
    pub clock: Signal<In, Clock>,
    /// The payload DMA's commands and stream.
    pub req0_cmd: DmaWrCmdSink,
    pub req0_data: DmaStreamSink,
    /// The event-queue writer's commands and stream.
    pub req1_cmd: DmaWrCmdSink,
    pub req1_data: DmaStreamSink,
    /// To the DMA writer.
    pub cmd: DmaWrCmdSource,
    pub data: DmaStreamSource,

    /// A granted command is in the DMA writer and has not strobed `done`.
    busy: DFF<Bit>,
    /// Which requester owns it (after its `done`: which one got the last
    /// grant, so the other one wins a tie).
    owner: DFF<Bit>,

    free: Signal<Local, Bit>,
    pick1: Signal<Local, Bit>,
    take: Signal<Local, Bit>,
    done_for0: Signal<Local, Bit>,
    done_for1: Signal<Local, Bit>,
}

impl Logic for DmaWriteArbiter {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, busy, owner);

        // ---- Completion, routed to the owner. ----
        self.done_for0.next = self.busy.q.val() & !self.owner.q.val() & self.cmd.done.val();
        self.done_for1.next = self.busy.q.val() & self.owner.q.val() & self.cmd.done.val();
        self.req0_cmd.done.next = self.done_for0.val();
        self.req0_cmd.err.next = self.done_for0.val() & self.cmd.err.val();
        self.req1_cmd.done.next = self.done_for1.val();
        self.req1_cmd.err.next = self.done_for1.val() & self.cmd.err.val();

        // ---- Grant: a command is offered once the previous one is done. ----
        self.free.next = !self.busy.q.val() | self.cmd.done.val();
        self.pick1.next = self.req1_cmd.valid.val() & (!self.req0_cmd.valid.val() | !self.owner.q.val());
        self.cmd.valid.next = self.free.val() & (self.req0_cmd.valid.val() | self.req1_cmd.valid.val());
        self.cmd.addr.next = self.req0_cmd.addr.val();
        self.cmd.len.next = self.req0_cmd.len.val();
        if self.pick1.val() {
            self.cmd.addr.next = self.req1_cmd.addr.val();
            self.cmd.len.next = self.req1_cmd.len.val();
        }
        self.req0_cmd.ready.next = self.free.val() & !self.pick1.val() & self.cmd.ready.val();
        self.req1_cmd.ready.next = self.free.val() & self.pick1.val() & self.cmd.ready.val();
        self.take.next = self.cmd.valid.val() & self.cmd.ready.val();
        if self.cmd.done.val() {
            self.busy.d.next = false;
        }
        if self.take.val() {
            self.busy.d.next = true;
            self.owner.d.next = self.pick1.val();
        }

        // ---- Stream: only the owner's, only while its command is in flight. ----
        self.data.valid.next = self.busy.q.val() & self.req0_data.valid.val();
        self.data.data.next = self.req0_data.data.val();
        if self.owner.q.val() {
            self.data.valid.next = self.busy.q.val() & self.req1_data.valid.val();
            self.data.data.next = self.req1_data.data.val();
        }
        self.req0_data.ready.next = self.busy.q.val() & !self.owner.q.val() & self.data.ready.val();
        self.req1_data.ready.next = self.busy.q.val() & self.owner.q.val() & self.data.ready.val();
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
    pub aw: super::AxiAddrSource,
    pub w: super::AxiWSource,
    pub b: super::AxiBSink,
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
            aw: Default::default(),
            w: Default::default(),
            b: Default::default(),
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
