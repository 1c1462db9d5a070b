//! The SACK sender's per-connection state and its answers to the send path
//! (docs/sack-sender.md): each connection's scoreboard (`hdl/src/tx/sack_board.rs`)
//! and RFC 6675's HighRxt + 1 (`rxt_next`, the first byte not yet resent in
//! this recovery), in block RAM beside the TCB table like the TX table, and
//! not replicated (a promoted card starts with empty boards: it then resends
//! bytes the peer holds, as after a timeout, never fewer than it must).
//!
//! - `load`: the engine loads its working TCB (read at `read_slot` the cycle
//!   before); the board block's registers and `rxt_next` take that slot's copy.
//! - `clear`: an empty board at `write_slot` and in the registers (a new or
//!   promoted connection, or a retransmission timeout: RFC 2018 §8, the
//!   receiver may have reneged).
//! - `feed`: an ACK the sending side took (snd_una after it, snd_max, its
//!   SACK blocks in the transmit request's layout, block i's left edge in
//!   bits 255-64i..224-64i). Its elements go through the board one a cycle
//!   in the background (`busy`), one per block or one without a block, then
//!   the board is written back at the ACK's slot (an ACK without blocks to an
//!   empty board changes nothing and takes no cycle). The engine starts nothing
//!   while `busy`, so no load or clear meets a feed.
//! - `rxt_we`: `rxt_next` of `write_slot` (and the register) becomes `rxt_value`.
//!
//! Answers for the send path, on the loaded copy and the working TCB,
//! registered (valid the cycle after the inputs: the engine's `TxQuery`), so
//! no path runs from the engine's controls through the board back into it:
//! - a resend (`resend`): from `rxt_next` when snd_una is before it, else
//!   from snd_una; it goes (`rs_ok`) when snd_una was not yet resent in this
//!   recovery (RFC 6675 §5 step 4.3, RFC 6582's partial ACK) or the gap there
//!   is lost (NextSeg rule 1), at `rs_seq`, capped at the next SACKed range;
//!   a zero-window probe (`probe`) always resends at snd_una;
//! - otherwise, below snd_max with a board (the go-back-N walk after a
//!   timeout, RFC 6675 §5.1 uses the SACK information that arrives after
//!   it): `walk_nxt` skips the SACKed ranges and `cap` stops the segment at
//!   the next one.
use crate::tx::sack_board::{SackBoard, BOARD_SLOTS};
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct SackStore<const CONN_BITS: usize> {
    pub clock: Signal<In, Clock>,
    pub read_slot: Signal<In, Bits<CONN_BITS>>,
    pub write_slot: Signal<In, Bits<CONN_BITS>>,
    pub load: Signal<In, Bit>,
    pub clear: Signal<In, Bit>,
    pub feed: Signal<In, Bit>,
    pub feed_una: Signal<In, Bits<32>>,
    pub feed_snd_max: Signal<In, Bits<32>>,
    pub feed_count: Signal<In, Bits<3>>,
    pub feed_blocks: Signal<In, Bits<256>>,
    pub busy: Signal<Out, Bit>,
    /// One cycle after an element: its block was a D-SACK or stale one, an
    /// impossible one, or the board dropped a range (the engine counts them).
    pub dsack_block: Signal<Out, Bit>,
    pub bogus_block: Signal<Out, Bit>,
    pub range_dropped: Signal<Out, Bit>,
    pub rxt_we: Signal<In, Bit>,
    pub rxt_value: Signal<In, Bits<32>>,

    pub snd_una: Signal<In, Bits<32>>,
    pub snd_nxt: Signal<In, Bits<32>>,
    pub snd_max: Signal<In, Bits<32>>,
    pub smss: Signal<In, Bits<16>>,
    pub resend: Signal<In, Bit>,
    pub probe: Signal<In, Bit>,
    pub walk_nxt: Signal<Out, Bits<32>>,
    pub rs_seq: Signal<Out, Bits<32>>,
    pub rs_ok: Signal<Out, Bit>,
    pub cap: Signal<Out, Bits<32>>,

    board: SackBoard,
    left_ram: [RAM<Bits<32>, CONN_BITS>; BOARD_SLOTS],
    right_ram: [RAM<Bits<32>, CONN_BITS>; BOARD_SLOTS],
    valid_ram: [RAM<Bit, CONN_BITS>; BOARD_SLOTS],
    rxt_ram: RAM<Bits<32>, CONN_BITS>,
    rxt: DFF<Bits<32>>,
    o_walk_nxt: DFF<Bits<32>>,
    o_rs_seq: DFF<Bits<32>>,
    o_rs_ok: DFF<Bit>,
    o_cap: DFF<Bits<32>>,
    f_busy: DFF<Bit>,
    f_dsack: DFF<Bit>,
    f_bogus: DFF<Bit>,
    f_dropped: DFF<Bit>,
    f_write: DFF<Bit>,
    f_left: DFF<Bits<3>>,
    f_blk: DFF<Bit>,
    f_blocks: DFF<Bits<256>>,
    f_una: DFF<Bits<32>>,
    f_max: DFF<Bits<32>>,
    f_slot: DFF<Bits<CONN_BITS>>,
    una_less_rxt: Signal<Local, Bits<32>>,
    nxt_less_max: Signal<Local, Bits<32>>,
    una_before_rxt: Signal<Local, Bit>,
    una_less_rxt_ok: Signal<Local, Bits<32>>,
    nxt_before_max: Signal<Local, Bit>,
    walking: Signal<Local, Bit>,
    empty: Signal<Local, Bit>,
    one3: Constant<Bits<3>>,
    half: Constant<Bits<32>>,
}

impl<const CONN_BITS: usize> Default for SackStore<CONN_BITS> {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            read_slot: Default::default(),
            write_slot: Default::default(),
            load: Default::default(),
            clear: Default::default(),
            feed: Default::default(),
            feed_una: Default::default(),
            feed_snd_max: Default::default(),
            feed_count: Default::default(),
            feed_blocks: Default::default(),
            busy: Default::default(),
            dsack_block: Default::default(),
            bogus_block: Default::default(),
            range_dropped: Default::default(),
            rxt_we: Default::default(),
            rxt_value: Default::default(),
            snd_una: Default::default(),
            snd_nxt: Default::default(),
            snd_max: Default::default(),
            smss: Default::default(),
            resend: Default::default(),
            probe: Default::default(),
            walk_nxt: Default::default(),
            rs_seq: Default::default(),
            rs_ok: Default::default(),
            cap: Default::default(),
            board: Default::default(),
            left_ram: Default::default(),
            right_ram: Default::default(),
            valid_ram: Default::default(),
            rxt_ram: Default::default(),
            rxt: Default::default(),
            o_walk_nxt: Default::default(),
            o_rs_seq: Default::default(),
            o_rs_ok: Default::default(),
            o_cap: Default::default(),
            f_busy: Default::default(),
            f_dsack: Default::default(),
            f_bogus: Default::default(),
            f_dropped: Default::default(),
            f_write: Default::default(),
            f_left: Default::default(),
            f_blk: Default::default(),
            f_blocks: Default::default(),
            f_una: Default::default(),
            f_max: Default::default(),
            f_slot: Default::default(),
            una_less_rxt: Default::default(),
            nxt_less_max: Default::default(),
            una_before_rxt: Default::default(),
            una_less_rxt_ok: Default::default(),
            nxt_before_max: Default::default(),
            walking: Default::default(),
            empty: Default::default(),
            one3: Constant::new(Bits::<3>::from(1u64)),
            half: Constant::new(Bits::<32>::from(0x8000_0000u64)),
        }
    }
}

impl<const CONN_BITS: usize> Logic for SackStore<CONN_BITS> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, rxt, o_walk_nxt, o_rs_seq, o_rs_ok, o_cap, f_busy, f_dsack, f_bogus, f_dropped, f_write, f_left, f_blk, f_blocks, f_una, f_max, f_slot);
        self.board.clock.next = self.clock.val();
        // The ranges are a prefix of the slots: the first says whether any is held.
        self.empty.next = !self.board.st_valid[0].val();
        // Block RAM: read at the engine's read slot; written at the ACK's slot
        // when a feed ends, else at the engine's slot for a clear.
        for i in 0..BOARD_SLOTS {
            self.left_ram[i].read_clock.next = self.clock.val();
            self.left_ram[i].write_clock.next = self.clock.val();
            self.right_ram[i].read_clock.next = self.clock.val();
            self.right_ram[i].write_clock.next = self.clock.val();
            self.left_ram[i].read_address.next = self.read_slot.val();
            self.right_ram[i].read_address.next = self.read_slot.val();
            self.left_ram[i].write_address.next = self.write_slot.val();
            self.right_ram[i].write_address.next = self.write_slot.val();
            self.left_ram[i].write_enable.next = self.clear.val() | self.f_write.q.val();
            self.right_ram[i].write_enable.next = self.clear.val() | self.f_write.q.val();
            self.left_ram[i].write_data.next = 0_u32.to_bits();
            self.right_ram[i].write_data.next = 0_u32.to_bits();
            if self.f_write.q.val() {
                self.left_ram[i].write_address.next = self.f_slot.q.val();
                self.right_ram[i].write_address.next = self.f_slot.q.val();
                self.left_ram[i].write_data.next = self.board.st_left[i].val();
                self.right_ram[i].write_data.next = self.board.st_right[i].val();
            }
            self.valid_ram[i].read_clock.next = self.clock.val();
            self.valid_ram[i].write_clock.next = self.clock.val();
            self.valid_ram[i].read_address.next = self.read_slot.val();
            self.valid_ram[i].write_address.next = self.write_slot.val();
            self.valid_ram[i].write_enable.next = self.clear.val() | self.f_write.q.val();
            self.valid_ram[i].write_data.next = false;
            if self.f_write.q.val() {
                self.valid_ram[i].write_address.next = self.f_slot.q.val();
                self.valid_ram[i].write_data.next = self.board.st_valid[i].val();
            }
            // The connection's copy, or an empty board on a clear.
            self.board.ld_left[i].next = self.left_ram[i].read_data.val();
            self.board.ld_right[i].next = self.right_ram[i].read_data.val();
            self.board.ld_valid[i].next = self.valid_ram[i].read_data.val() & !self.clear.val();
        }
        self.rxt_ram.read_clock.next = self.clock.val();
        self.rxt_ram.write_clock.next = self.clock.val();
        self.rxt_ram.read_address.next = self.read_slot.val();
        self.rxt_ram.write_address.next = self.write_slot.val();
        self.rxt_ram.write_enable.next = self.rxt_we.val();
        self.rxt_ram.write_data.next = self.rxt_value.val();
        self.board.load.next = self.load.val() | self.clear.val();
        if self.load.val() {
            self.rxt.d.next = self.rxt_ram.read_data.val();
        }
        if self.rxt_we.val() {
            self.rxt.d.next = self.rxt_value.val();
        }

        // The feed: one element a cycle, the current block in the top 64 bits.
        self.board.in_valid.next = self.f_busy.q.val() & !self.f_write.q.val();
        self.board.in_una.next = self.f_una.q.val();
        self.board.in_snd_max.next = self.f_max.q.val();
        self.board.in_blk.next = self.f_blk.q.val();
        self.board.in_left.next = self.f_blocks.q.val().get_bits::<32>(224);
        self.board.in_right.next = self.f_blocks.q.val().get_bits::<32>(192);
        if self.f_busy.q.val() & !self.f_write.q.val() & self.board.in_ready.val() {
            self.f_blocks.d.next = self.f_blocks.q.val() << 64_u64;
            self.f_left.d.next = self.f_left.q.val() - self.one3.val();
            if self.f_left.q.val() == self.one3.val() {
                self.f_write.d.next = true;
            }
        }
        if self.f_write.q.val() {
            self.f_write.d.next = false;
            self.f_busy.d.next = false;
        }
        // An ACK without blocks changes an empty board in nothing: no feed.
        if self.feed.val() & (self.feed_count.val().any() | !self.empty.val()) {
            self.f_busy.d.next = true;
            self.f_write.d.next = false;
            self.f_blk.d.next = self.feed_count.val().any();
            self.f_left.d.next = self.feed_count.val();
            if !self.feed_count.val().any() {
                self.f_left.d.next = self.one3.val();
            }
            self.f_blocks.d.next = self.feed_blocks.val();
            self.f_una.d.next = self.feed_una.val();
            self.f_max.d.next = self.feed_snd_max.val();
            self.f_slot.d.next = self.write_slot.val();
        }
        self.busy.next = self.f_busy.q.val();
        // Registered, so no path runs from the board back into the engine.
        self.f_dsack.d.next = self.board.ign_dsack.val();
        self.f_bogus.d.next = self.board.ign_beyond.val();
        self.f_dropped.d.next = self.board.overflow.val();
        self.dsack_block.next = self.f_dsack.q.val();
        self.bogus_block.next = self.f_bogus.q.val();
        self.range_dropped.next = self.f_dropped.q.val();

        // The send path's questions.
        // Serial order (RFC 1982): a is before b when a - b has its sign bit set.
        self.una_less_rxt.next = self.snd_una.val() - self.rxt.q.val();
        self.nxt_less_max.next = self.snd_nxt.val() - self.snd_max.val();
        self.una_before_rxt.next = self.una_less_rxt.val() >= self.half.val();
        self.nxt_before_max.next = self.nxt_less_max.val() >= self.half.val();
        self.walking.next = !self.resend.val() & !self.empty.val() & self.nxt_before_max.val();
        self.board.q_una.next = self.snd_una.val();
        self.board.q_smss.next = self.smss.val();
        self.board.q_from.next = self.snd_nxt.val();
        if self.resend.val() {
            self.board.q_from.next = self.snd_una.val();
            if self.una_before_rxt.val() {
                self.board.q_from.next = self.rxt.q.val();
            }
        }
        self.o_walk_nxt.d.next = self.snd_nxt.val();
        if self.walking.val() {
            self.o_walk_nxt.d.next = self.board.gap_seq.val();
        }
        self.o_rs_seq.d.next = self.board.gap_seq.val();
        // (Its own copy of the compare: a local that also steers q_from would
        // tie this statement to the board's input in one always block, a
        // combinational loop to Verilator.)
        self.una_less_rxt_ok.next = self.snd_una.val() - self.rxt.q.val();
        self.o_rs_ok.d.next = (self.una_less_rxt_ok.val() < self.half.val()) | self.board.gap_lost.val();
        self.o_cap.d.next = 0xFFFF_FFFF_u32.to_bits();
        if (self.walking.val() | self.resend.val()) & !self.board.gap_top.val() {
            self.o_cap.d.next = self.board.gap_room.val();
        }
        if self.probe.val() {
            self.o_rs_seq.d.next = self.snd_una.val();
            self.o_rs_ok.d.next = true;
            self.o_cap.d.next = 0xFFFF_FFFF_u32.to_bits();
        }
        self.walk_nxt.next = self.o_walk_nxt.q.val();
        self.rs_seq.next = self.o_rs_seq.q.val();
        self.rs_ok.next = self.o_rs_ok.q.val();
        self.cap.next = self.o_cap.q.val();
    }
}

pub fn verilog() -> Result<String, crate::generate::GenError> {
    crate::generate::verilog_named(&mut SackStore::<10>::default(), "sack_store")
}

#[cfg(test)]
mod tests {
    #[test]
    fn sack_store_lints_clean_and_synthesizes() {
        let v = super::verilog().expect("generates");
        crate::check::lint("sack_store", &v).unwrap_or_else(|e| panic!("lint:\n{e}"));
        let area = crate::check::synth("sack_store", &v).unwrap_or_else(|e| panic!("{e}"));
        eprintln!("sack_store (N = 1024) area: {area:?}");
        assert!(area.bram18 >= 9, "boards and rxt_next in block RAM: {area:?}");
    }
}
