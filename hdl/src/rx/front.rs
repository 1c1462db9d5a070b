//! Stream front end of the RX parser, combinational: the beat in network
//! order, whether it is taken, its index and frame offset, and when the
//! finished frame's verdict moves into the descriptor slot.
//!
//! It is a block of its own (not Locals of the parser) for Verilator: the
//! parser's kernel is one `always @(*)`, and a Local computed there that feeds
//! a combinational child whose outputs the same kernel reads is a (false)
//! combinational loop (UNOPTFLAT). The children's inputs therefore come only
//! from ports, registers and this block's outputs.
use rust_hdl::prelude::*;

#[derive(LogicBlock, Default)]
pub struct RxFront {
    pub s_tdata: Signal<In, Bits<64>>,
    pub s_tkeep: Signal<In, Bits<8>>,
    pub s_tvalid: Signal<In, Bit>,
    /// Parser registers: beats taken so far, a frame is in progress, a
    /// finished frame awaits the descriptor slot, the slot is full.
    pub beat_no: Signal<In, Bits<16>>,
    pub in_frame: Signal<In, Bit>,
    pub fin_pending: Signal<In, Bit>,
    pub slot_full: Signal<In, Bit>,
    /// The engine pops the slot at this edge: a finished frame may take it at once.
    pub slot_pop: Signal<In, Bit>,

    /// `s_tdata` in network order: AXI byte 0 (tdata[7:0]) in bits 63:56.
    pub word: Signal<Out, Bits<64>>,
    pub ready: Signal<Out, Bit>,
    /// A beat moves at this edge.
    pub take: Signal<Out, Bit>,
    /// The pending verdict moves into the (free) descriptor slot at this edge.
    pub fin_now: Signal<Out, Bit>,
    /// Index of the beat within its frame and its frame offset.
    pub idx: Signal<Out, Bits<16>>,
    pub base: Signal<Out, Bits<16>>,
    /// Bytes the beat holds (from tkeep, contiguous from bit 0).
    pub keep_bytes: Signal<Out, Bits<16>>,
    /// The option scan runs this cycle, over the word at this frame offset:
    /// the previous beat while a frame streams in, the last one at finish.
    pub scan_en: Signal<Out, Bit>,
    pub scan_base: Signal<Out, Bits<16>>,

    slot_free: Signal<Local, Bit>,
}

impl Logic for RxFront {
    #[hdl_gen]
    fn update(&mut self) {
        self.word.next = ((self.s_tdata.val() & 0xFF_u64.to_bits()) << 56)
            | ((self.s_tdata.val() & 0xFF00_u64.to_bits()) << 40)
            | ((self.s_tdata.val() & 0xFF_0000_u64.to_bits()) << 24)
            | ((self.s_tdata.val() & 0xFF00_0000_u64.to_bits()) << 8)
            | ((self.s_tdata.val() >> 8) & 0xFF00_0000_u64.to_bits())
            | ((self.s_tdata.val() >> 24) & 0xFF_0000_u64.to_bits())
            | ((self.s_tdata.val() >> 40) & 0xFF00_u64.to_bits())
            | (self.s_tdata.val() >> 56);
        // A finished frame may move to the slot in the cycle that takes the
        // next frame's first beat, and in the cycle the engine pops the slot;
        // only a slot that stays full holds the stream.
        self.slot_free.next = !self.slot_full.val() || self.slot_pop.val();
        self.fin_now.next = self.fin_pending.val() && self.slot_free.val();
        self.ready.next = !self.fin_pending.val() || self.slot_free.val();
        self.take.next = self.s_tvalid.val() && (!self.fin_pending.val() || self.slot_free.val());
        self.idx.next = self.beat_no.val();
        if !self.in_frame.val() {
            self.idx.next = 0_u16.to_bits();
        }
        self.base.next = self.idx.val() << 3;
        match self.s_tkeep.val().index() {
            1 => self.keep_bytes.next = 1_u16.to_bits(),
            3 => self.keep_bytes.next = 2_u16.to_bits(),
            7 => self.keep_bytes.next = 3_u16.to_bits(),
            15 => self.keep_bytes.next = 4_u16.to_bits(),
            31 => self.keep_bytes.next = 5_u16.to_bits(),
            63 => self.keep_bytes.next = 6_u16.to_bits(),
            127 => self.keep_bytes.next = 7_u16.to_bits(),
            _ => self.keep_bytes.next = 8_u16.to_bits(),
        }
        // The scan position is set at beat 2 (the IHL came with beat 1).
        self.scan_en.next = (self.take.val() && (self.idx.val() >= 3_u16.to_bits()))
            || (self.fin_now.val() && (self.beat_no.val() >= 3_u16.to_bits()));
        self.scan_base.next = self.base.val() - 8_u16.to_bits();
        if self.fin_now.val() {
            self.scan_base.next = (self.beat_no.val() - 1_u16.to_bits()) << 3;
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn rx_front_lints_clean_and_synthesizes() {
        let v = crate::generate::verilog_named(&mut super::RxFront::default(), "rx_front").expect("generates");
        crate::check::lint("rx_front", &v).unwrap_or_else(|e| panic!("lint:\n{e}"));
        let area = crate::check::synth("rx_front", &v).unwrap_or_else(|e| panic!("{e}"));
        assert!(area.luts > 0);
    }
}
