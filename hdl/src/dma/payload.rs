//! The payload DMA: copies a run of received payload from the frame buffer
//! into its connection's receive ring in host memory, through the DMA
//! master's write port. It takes the engine's ring-copy command unchanged
//! (`RingCopySink`: frame-buffer offset, length, connection, ring offset =
//! stream offset) and replaces the on-card ring writer.
//!
//! Connection `c`'s ring is `1 << ring_log2` bytes at
//! `ring_base + (c << ring_log2)`; stream offset `o` lives at byte
//! `o mod (1 << ring_log2)` of it (docs/dma.md). A copy that runs past the
//! ring's end goes out as two write commands, the second one from the ring's
//! start. `ring_log2` is 12..=20 (the register refuses other values) and must
//! not change while a copy is under way.
//!
//! The frame buffer's read port has one cycle of latency and holds a frame in
//! network order: frame byte `8w + i` is bits `63 - 8i .. 56 - 8i` of word
//! `w`. A write command's stream beat `k` carries frame bytes
//! `s + 8k .. s + 8k + 8` (`s` the command's first frame byte) with stream
//! byte 0 in bits 7:0, so a two-word window (`prev`, `fb_rdata`) slides one
//! word per beat and a part-select at `s & 7` picks the 8 bytes, which are
//! then byte-swapped. Only the frame side is realigned: the DMA writer shifts
//! the stream onto the host address's lanes itself.
//!
//! Timing: the cycle that accepts a copy addresses its first frame word and
//! queues the write command; `Prime` loads that word; `Stream` moves one
//! beat per cycle into a sixteen-beat queue in front of the DMA writer, holding
//! the frame-buffer address while that queue is full. A wrap costs one
//! `Prime` cycle between the two commands. `done` strobes the cycle after
//! the copy's last beat entered the queue: the bytes have left the frame
//! buffer, so the engine may reuse it, even while the write engine is still
//! busy with an event record. The write commands wait in a four-entry queue
//! (a copy is taken only while two entries are free: a wrap needs both), so
//! a small frame's copy is done in a few cycles whatever the write engine
//! does; `queued` tells the arbiter how many wait, which is how a record
//! never overtakes payload queued before its snapshot (docs/dma.md,
//! "Ordering"). `err` strobes when a write command of this block completed
//! with a non-OKAY response.
use super::{DmaStreamSource, DmaWrCmdSource, LEN_BITS};
use crate::channels::RingCopySink;
use rust_hdl::prelude::*;

#[derive(Copy, Clone, PartialEq, Eq, Debug, LogicState)]
pub enum PayloadDmaState {
    /// `cmd.ready`; an accepted copy addresses its first frame word.
    Idle,
    /// The first frame word of a write command arrives; the next is addressed.
    Prime,
    /// One stream beat per cycle the DMA writer takes.
    Stream,
}

#[derive(LogicBlock)]
pub struct PayloadDma<const CONN_BITS: usize> {
    pub clock: Signal<In, Clock>,
    /// Copy commands from the engine.
    pub cmd: RingCopySink<CONN_BITS>,
    pub fb_raddr: Signal<Out, Bits<8>>,
    pub fb_rdata: Signal<In, Bits<64>>,
    /// Host address of connection 0's receive ring.
    pub ring_base: Signal<In, Bits<64>>,
    /// log2 of every ring's bytes, 12..=20.
    pub ring_log2: Signal<In, Bits<5>>,
    pub wr: DmaWrCmdSource,
    pub data: DmaStreamSource,
    /// A write command of this block got a non-OKAY response (one strobe per command).
    pub err: Signal<Out, Bit>,
    /// Write commands queued and not yet taken by the write engine (0..=4).
    pub queued: Signal<Out, Bits<3>>,
    /// No copy under way and nothing queued.
    pub idle: Signal<Out, Bit>,

    one32: Constant<Bits<32>>,
    seven12: Constant<Bits<12>>,
    one12: Constant<Bits<12>>,
    sixty_four7: Constant<Bits<7>>,

    state: DFF<PayloadDmaState>,
    /// Frame word on `fb_rdata` this cycle (addressed in the previous one).
    rd_word: DFF<Bits<8>>,
    prev: DFF<Bits<64>>,
    /// Bit offset of the beat's first byte in {prev, fb_rdata}: 64 - 8 * (s & 7).
    win_off: DFF<Bits<7>>,
    /// Stream beats of the current write command not yet taken.
    beats_left: DFF<Bits<12>>,
    /// The write-command queue: four entries, `cq_rd` the oldest.
    cq_addr: [DFF<Bits<64>>; 4],
    cq_len: [DFF<Bits<LEN_BITS>>; 4],
    cq_wr: DFF<Bits<2>>,
    cq_rd: DFF<Bits<2>>,
    cq_count: DFF<Bits<3>>,
    /// The stream-beat queue: sixteen beats (a 128-byte frame's payload), `dq_rd` the oldest.
    dq: [DFF<Bits<64>>; 16],
    dq_wr: DFF<Bits<4>>,
    dq_rd: DFF<Bits<4>>,
    dq_count: DFF<Bits<5>>,
    /// The copy wraps: a second command from the ring's start follows.
    second: DFF<Bit>,
    second_addr: DFF<Bits<64>>,
    second_len: DFF<Bits<11>>,
    /// First frame byte of the second command.
    second_src: DFF<Bits<11>>,
    done_q: DFF<Bit>,

    // Rings up to 1 MiB (window scaling): offsets in 32 bits.
    ring_bytes: Signal<Local, Bits<32>>,
    ring_mask: Signal<Local, Bits<32>>,
    ring_pos: Signal<Local, Bits<32>>,
    to_end: Signal<Local, Bits<32>>,
    len32: Signal<Local, Bits<32>>,
    wraps: Signal<Local, Bit>,
    conn_ring: Signal<Local, Bits<64>>,
    first_len: Signal<Local, Bits<11>>,
    first_len12: Signal<Local, Bits<12>>,
    first_beats12: Signal<Local, Bits<12>>,
    src_lo3: Signal<Local, Bits<3>>,
    second_len12: Signal<Local, Bits<12>>,
    second_beats12: Signal<Local, Bits<12>>,
    second_lo3: Signal<Local, Bits<3>>,
    pair: Signal<Local, Bits<128>>,
    window: Signal<Local, Bits<64>>,
    win_byte: [Signal<Local, Bits<8>>; 8],
    fire: Signal<Local, Bit>,
    last_beat: Signal<Local, Bit>,
    beat: Signal<Local, Bits<64>>,
    cq_push: Signal<Local, Bit>,
    cq_in_addr: Signal<Local, Bits<64>>,
    cq_in_len: Signal<Local, Bits<LEN_BITS>>,
    cq_pop: Signal<Local, Bit>,
    can_take: Signal<Local, Bit>,
    dq_pop: Signal<Local, Bit>,
    one2: Constant<Bits<2>>,
    one3: Constant<Bits<3>>,
    one4b: Constant<Bits<4>>,
    one5: Constant<Bits<5>>,
    sixteen: Constant<Bits<5>>,
    two3: Constant<Bits<3>>,
    one4: Constant<Bits<4>>,
    /// The queues' pointers, one-hot.
    cq_wsel: Signal<Local, Bits<4>>,
    cq_rsel: Signal<Local, Bits<4>>,
    dq_wsel: Signal<Local, Bits<16>>,
    dq_rsel: Signal<Local, Bits<16>>,
    one16: Constant<Bits<16>>,
}

impl<const CONN_BITS: usize> PayloadDma<CONN_BITS> {
    /// # Panics
    /// If `CONN_BITS` exceeds 16 (the connection field of the ring-copy
    /// channel is at most that wide in every instance): a build-time error.
    pub fn new() -> Self {
        assert!((1..=16).contains(&CONN_BITS), "payload_dma: CONN_BITS {CONN_BITS} is not in 1..=16");
        Self {
            clock: Default::default(),
            cmd: Default::default(),
            fb_raddr: Default::default(),
            fb_rdata: Default::default(),
            ring_base: Default::default(),
            ring_log2: Default::default(),
            wr: Default::default(),
            data: Default::default(),
            err: Default::default(),
            queued: Default::default(),
            idle: Default::default(),
            one32: Constant::new(1_u64.into()),
            seven12: Constant::new(7_u64.into()),
            one12: Constant::new(1_u64.into()),
            sixty_four7: Constant::new(64_u64.into()),
            state: Default::default(),
            rd_word: Default::default(),
            prev: Default::default(),
            win_off: Default::default(),
            beats_left: Default::default(),
            cq_addr: Default::default(),
            cq_len: Default::default(),
            cq_wr: Default::default(),
            cq_rd: Default::default(),
            cq_count: Default::default(),
            dq: Default::default(),
            dq_wr: Default::default(),
            dq_rd: Default::default(),
            dq_count: Default::default(),
            second: Default::default(),
            second_addr: Default::default(),
            second_len: Default::default(),
            second_src: Default::default(),
            done_q: Default::default(),
            ring_bytes: Default::default(),
            ring_mask: Default::default(),
            ring_pos: Default::default(),
            to_end: Default::default(),
            len32: Default::default(),
            wraps: Default::default(),
            conn_ring: Default::default(),
            first_len: Default::default(),
            first_len12: Default::default(),
            first_beats12: Default::default(),
            src_lo3: Default::default(),
            second_len12: Default::default(),
            second_beats12: Default::default(),
            second_lo3: Default::default(),
            pair: Default::default(),
            window: Default::default(),
            win_byte: Default::default(),
            fire: Default::default(),
            last_beat: Default::default(),
            beat: Default::default(),
            cq_push: Default::default(),
            cq_in_addr: Default::default(),
            cq_in_len: Default::default(),
            cq_pop: Default::default(),
            can_take: Default::default(),
            dq_pop: Default::default(),
            one2: Constant::new(1_u64.into()),
            one3: Constant::new(1_u64.into()),
            one4b: Constant::new(1_u64.into()),
            one5: Constant::new(1_u64.into()),
            sixteen: Constant::new(16_u64.into()),
            two3: Constant::new(2_u64.into()),
            one4: Constant::new(1_u64.into()),
            cq_wsel: Default::default(),
            cq_rsel: Default::default(),
            dq_wsel: Default::default(),
            dq_rsel: Default::default(),
            one16: Constant::new(1_u64.into()),
        }
    }
}

impl<const CONN_BITS: usize> Default for PayloadDma<CONN_BITS> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const CONN_BITS: usize> Logic for PayloadDma<CONN_BITS> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            state,
            rd_word,
            prev,
            win_off,
            beats_left,
            cq_wr,
            cq_rd,
            cq_count,
            dq_wr,
            dq_rd,
            dq_count,
            second,
            second_addr,
            second_len,
            second_src,
            done_q
        );

        // ---- Copy decode (used in the accepting cycle). ----
        self.ring_bytes.next = self.one32.val() << self.ring_log2.val();
        self.ring_mask.next = self.ring_bytes.val() - self.one32.val();
        self.ring_pos.next = self.cmd.ring_off.val() & self.ring_mask.val();
        // 1..=ring bytes: the bytes before the ring's end.
        self.to_end.next = self.ring_bytes.val() - self.ring_pos.val();
        self.len32.next = bit_cast::<32, 11>(self.cmd.len.val());
        self.wraps.next = self.len32.val() > self.to_end.val();
        self.conn_ring.next =
            self.ring_base.val() + (bit_cast::<64, CONN_BITS>(self.cmd.conn.val()) << self.ring_log2.val());
        self.first_len.next = self.cmd.len.val();
        if self.wraps.val() {
            // to_end < len <= 2047 here: it fits in 11 bits.
            self.first_len.next = self.to_end.val().get_bits::<11>(0);
        }
        // ceil(len / 8) in 12 bits: 2047 + 7 does not carry out.
        self.first_len12.next = bit_cast::<12, 11>(self.first_len.val());
        self.first_beats12.next = (self.first_len12.val() + self.seven12.val()) >> 3;
        self.src_lo3.next = self.cmd.fb_off.val().get_bits::<3>(0);
        self.second_len12.next = bit_cast::<12, 11>(self.second_len.q.val());
        self.second_beats12.next = (self.second_len12.val() + self.seven12.val()) >> 3;
        self.second_lo3.next = self.second_src.q.val().get_bits::<3>(0);

        // ---- The current beat: 8 frame bytes from {prev, fb_rdata}, byte-swapped. ----
        self.pair.next = (bit_cast::<128, 64>(self.prev.q.val()) << 64) | bit_cast::<128, 64>(self.fb_rdata.val());
        self.window.next = self.pair.val().get_bits::<64>(self.win_off.q.val().index());
        // Window byte l (network order) is bits 63-8l..56-8l; it goes to stream lane l.
        for l in 0..8 {
            self.win_byte[l].next = self.window.val().get_bits::<8>(56 - 8 * l);
        }
        self.beat.next = bit_cast::<64, 8>(self.win_byte[0].val())
            | (bit_cast::<64, 8>(self.win_byte[1].val()) << 8)
            | (bit_cast::<64, 8>(self.win_byte[2].val()) << 16)
            | (bit_cast::<64, 8>(self.win_byte[3].val()) << 24)
            | (bit_cast::<64, 8>(self.win_byte[4].val()) << 32)
            | (bit_cast::<64, 8>(self.win_byte[5].val()) << 40)
            | (bit_cast::<64, 8>(self.win_byte[6].val()) << 48)
            | (bit_cast::<64, 8>(self.win_byte[7].val()) << 56);

        // ---- The queues' heads go to the write engine. ----
        self.cq_wsel.next = self.one4.val() << bit_cast::<4, 2>(self.cq_wr.q.val());
        self.cq_rsel.next = self.one4.val() << bit_cast::<4, 2>(self.cq_rd.q.val());
        self.dq_wsel.next = self.one16.val() << bit_cast::<16, 4>(self.dq_wr.q.val());
        self.dq_rsel.next = self.one16.val() << bit_cast::<16, 4>(self.dq_rd.q.val());
        for i in 0..4 {
            self.cq_addr[i].clock.next = self.clock.val();
            self.cq_len[i].clock.next = self.clock.val();
            self.cq_addr[i].d.next = self.cq_addr[i].q.val();
            self.cq_len[i].d.next = self.cq_len[i].q.val();
        }
        for i in 0..16 {
            self.dq[i].clock.next = self.clock.val();
            self.dq[i].d.next = self.dq[i].q.val();
        }
        self.wr.valid.next = self.cq_count.q.val().any();
        self.wr.addr.next = self.cq_addr[0].q.val();
        self.wr.len.next = self.cq_len[0].q.val();
        self.data.valid.next = self.dq_count.q.val().any();
        self.data.data.next = self.dq[0].q.val();
        for i in 0..4 {
            if self.cq_rsel.val().get_bit(i) {
                self.wr.addr.next = self.cq_addr[i].q.val();
                self.wr.len.next = self.cq_len[i].q.val();
            }
        }
        for i in 0..16 {
            if self.dq_rsel.val().get_bit(i) {
                self.data.data.next = self.dq[i].q.val();
            }
        }
        self.can_take.next = self.cq_count.q.val() <= self.two3.val();
        self.cq_pop.next = self.cq_count.q.val().any() & self.wr.ready.val();
        self.dq_pop.next = self.dq_count.q.val().any() & self.data.ready.val();
        self.cq_push.next = false;
        self.cq_in_addr.next = self.conn_ring.val() + bit_cast::<64, 32>(self.ring_pos.val());
        self.cq_in_len.next = bit_cast::<LEN_BITS, 11>(self.first_len.val());
        self.err.next = self.wr.done.val() & self.wr.err.val();

        // ---- FSM. ----
        self.cmd.ready.next = false;
        self.fb_raddr.next = self.rd_word.q.val();
        self.done_q.d.next = false;
        self.fire.next = false;
        self.last_beat.next = self.beats_left.q.val() == self.one12.val();
        match self.state.q.val() {
            PayloadDmaState::Idle => {
                // Room for both commands of a wrap.
                self.cmd.ready.next = self.can_take.val();
                self.fb_raddr.next = self.cmd.fb_off.val().get_bits::<8>(3);
                // Registers in the condition, not `can_take`: Verilator could not split this block then.
                if self.cmd.valid.val() & (self.cq_count.q.val() <= self.two3.val()) {
                    if self.cmd.len.val().any() {
                        self.rd_word.d.next = self.cmd.fb_off.val().get_bits::<8>(3);
                        self.win_off.d.next = self.sixty_four7.val() - (bit_cast::<7, 3>(self.src_lo3.val()) << 3);
                        self.beats_left.d.next = self.first_beats12.val();
                        self.cq_push.next = true;
                        self.second.d.next = self.wraps.val();
                        self.second_addr.d.next = self.conn_ring.val();
                        self.second_len.d.next = self.cmd.len.val() - self.first_len.val();
                        self.second_src.d.next = self.cmd.fb_off.val() + self.first_len.val();
                        self.state.d.next = PayloadDmaState::Prime;
                    } else {
                        // Nothing to move: no write command, the frame is free at once.
                        self.done_q.d.next = true;
                    }
                }
            }
            PayloadDmaState::Prime => {
                self.prev.d.next = self.fb_rdata.val();
                self.fb_raddr.next = self.rd_word.q.val() + 1_u8.to_bits();
                self.rd_word.d.next = self.rd_word.q.val() + 1_u8.to_bits();
                self.state.d.next = PayloadDmaState::Stream;
            }
            PayloadDmaState::Stream => {
                self.fire.next = self.dq_count.q.val() != self.sixteen.val();
                if self.fire.val() {
                    self.prev.d.next = self.fb_rdata.val();
                    self.fb_raddr.next = self.rd_word.q.val() + 1_u8.to_bits();
                    self.rd_word.d.next = self.rd_word.q.val() + 1_u8.to_bits();
                    self.beats_left.d.next = self.beats_left.q.val() - self.one12.val();
                    if self.last_beat.val() {
                        if self.second.q.val() {
                            // The wrap: the rest of the copy from the ring's start.
                            self.second.d.next = false;
                            self.fb_raddr.next = self.second_src.q.val().get_bits::<8>(3);
                            self.rd_word.d.next = self.second_src.q.val().get_bits::<8>(3);
                            self.win_off.d.next =
                                self.sixty_four7.val() - (bit_cast::<7, 3>(self.second_lo3.val()) << 3);
                            self.beats_left.d.next = self.second_beats12.val();
                            self.cq_push.next = true;
                            self.cq_in_addr.next = self.second_addr.q.val();
                            self.cq_in_len.next = bit_cast::<LEN_BITS, 11>(self.second_len.q.val());
                            self.state.d.next = PayloadDmaState::Prime;
                        } else {
                            self.done_q.d.next = true;
                            self.state.d.next = PayloadDmaState::Idle;
                        }
                    }
                }
            }
            _ => {}
        }
        self.cmd.done.next = self.done_q.q.val();

        // ---- Queue bookkeeping. ----
        if self.cq_push.val() {
            for i in 0..4 {
                if self.cq_wsel.val().get_bit(i) {
                    self.cq_addr[i].d.next = self.cq_in_addr.val();
                    self.cq_len[i].d.next = self.cq_in_len.val();
                }
            }
            self.cq_wr.d.next = self.cq_wr.q.val() + self.one2.val();
        }
        if self.cq_pop.val() {
            self.cq_rd.d.next = self.cq_rd.q.val() + self.one2.val();
        }
        if self.cq_push.val() & !self.cq_pop.val() {
            self.cq_count.d.next = self.cq_count.q.val() + self.one3.val();
        } else if self.cq_pop.val() & !self.cq_push.val() {
            self.cq_count.d.next = self.cq_count.q.val() - self.one3.val();
        }
        if self.fire.val() {
            for i in 0..16 {
                if self.dq_wsel.val().get_bit(i) {
                    self.dq[i].d.next = self.beat.val();
                }
            }
            self.dq_wr.d.next = self.dq_wr.q.val() + self.one4b.val();
        }
        if self.dq_pop.val() {
            self.dq_rd.d.next = self.dq_rd.q.val() + self.one4b.val();
        }
        if self.fire.val() & !self.dq_pop.val() {
            self.dq_count.d.next = self.dq_count.q.val() + self.one5.val();
        } else if self.dq_pop.val() & !self.fire.val() {
            self.dq_count.d.next = self.dq_count.q.val() - self.one5.val();
        }
        self.queued.next = self.cq_count.q.val();
        self.idle.next = (self.state.q.val() == PayloadDmaState::Idle)
            & !self.cq_count.q.val().any()
            & !self.dq_count.q.val().any();
    }
}

/// The instance the core takes: 64 connections.
pub type DefaultPayloadDma = PayloadDma<6>;

/// The Verilated test instance: the payload DMA feeding a DMA writer, with the
/// frame buffer's read port and the AXI4 write channels at the top.
#[derive(LogicBlock)]
pub struct PayloadOverDma<const CONN_BITS: usize> {
    pub clock: Signal<In, Clock>,
    pub cmd: RingCopySink<CONN_BITS>,
    pub fb_raddr: Signal<Out, Bits<8>>,
    pub fb_rdata: Signal<In, Bits<64>>,
    pub ring_base: Signal<In, Bits<64>>,
    pub ring_log2: Signal<In, Bits<5>>,
    pub err: Signal<Out, Bit>,
    /// The DMA writer's command completion, for the testbench's timing figures.
    pub wr_done: Signal<Out, Bit>,
    /// The payload DMA is idle and every write is complete.
    pub quiet: Signal<Out, Bit>,
    /// Write commands queued in the payload DMA.
    pub queued: Signal<Out, Bits<3>>,
    pub aw: super::AxiAddrSource,
    pub w: super::AxiWSource,
    pub b: super::AxiBSink,
    payload: PayloadDma<CONN_BITS>,
    dma: super::DmaWriter,
}

impl<const CONN_BITS: usize> PayloadOverDma<CONN_BITS> {
    /// `max_beats`: the DMA writer's burst limit.
    pub fn new(max_beats: u32) -> Self {
        Self {
            clock: Default::default(),
            cmd: Default::default(),
            fb_raddr: Default::default(),
            fb_rdata: Default::default(),
            ring_base: Default::default(),
            ring_log2: Default::default(),
            err: Default::default(),
            wr_done: Default::default(),
            quiet: Default::default(),
            queued: Default::default(),
            aw: Default::default(),
            w: Default::default(),
            b: Default::default(),
            payload: PayloadDma::new(),
            dma: super::DmaWriter::new(max_beats),
        }
    }
}

impl<const CONN_BITS: usize> Logic for PayloadOverDma<CONN_BITS> {
    #[hdl_gen]
    fn update(&mut self) {
        clock!(self, clock, payload, dma);
        RingCopySink::<CONN_BITS>::link(&mut self.cmd, &mut self.payload.cmd);
        self.fb_raddr.next = self.payload.fb_raddr.val();
        self.payload.fb_rdata.next = self.fb_rdata.val();
        self.payload.ring_base.next = self.ring_base.val();
        self.payload.ring_log2.next = self.ring_log2.val();
        self.err.next = self.payload.err.val();
        self.wr_done.next = self.dma.cmd.done.val();
        self.quiet.next = self.payload.idle.val() & self.dma.quiet.val();
        self.queued.next = self.payload.queued.val();
        DmaWrCmdSource::join(&mut self.payload.wr, &mut self.dma.cmd);
        DmaStreamSource::join(&mut self.payload.data, &mut self.dma.data);
        super::AxiAddrSource::link(&mut self.aw, &mut self.dma.aw);
        super::AxiWSource::link(&mut self.w, &mut self.dma.w);
        super::AxiBSink::link(&mut self.b, &mut self.dma.b);
    }
}

/// The Verilated test instance: 64 connections, 16-beat bursts (so a
/// 1460-byte copy is several bursts).
pub fn test_verilog() -> Result<String, crate::generate::GenError> {
    crate::generate::verilog_named(&mut PayloadOverDma::<6>::new(16), "payload_dma")
}

#[cfg(test)]
mod tests {
    #[test]
    fn payload_dma_lints_clean_and_synthesizes() {
        let v = crate::generate::verilog_named(&mut super::DefaultPayloadDma::default(), "payload_dma_block")
            .expect("generates");
        crate::check::lint("payload_dma_block", &v).unwrap_or_else(|e| panic!("lint:\n{e}"));
        let area = crate::check::synth("payload_dma_block", &v).unwrap_or_else(|e| panic!("{e}"));
        eprintln!("payload_dma area: {area:?}");
        assert!(area.luts > 0);
        let v = super::test_verilog().expect("generates");
        crate::check::lint("payload_dma", &v).unwrap_or_else(|e| panic!("lint:\n{e}"));
    }
}
