//! The transmit fetch: one segment's payload read from the transmit ring in
//! host memory into a 2 KiB staging buffer, with its one's-complement sum, for
//! the frame builder to send (docs/tx.md, "The transmit ring").
//!
//! `start` takes one or two DMA reads (`addr0`/`len0`, then `addr1`/`len1`
//! when the segment crosses the ring's end; `len1` 0 otherwise). The read
//! engine's stream (byte 0 in the low lane) is turned into network order
//! (byte 0 in bits 63:56, as the frame builder's buffers) and packed: byte
//! `i` of the segment lands at buffer byte `i`, whatever the split. The first
//! read's last beat carries `len0 mod 8` bytes when that is not 0, so a
//! 64-bit accumulator holds the `fill` bytes not yet written and each beat's
//! valid bytes are appended behind them. Bytes past the segment's end are
//! zero, so the sum (16-bit words from byte 0, RFC 1071) needs no mask.
//!
//! `staged` rises once every byte is in the buffer and stays until the next
//! `start`; `sum` is then the folded, uncomplemented sum. `err` says a read
//! burst was answered with an error: the bytes are not to be sent.
use crate::dma::{DmaRdCmdSource, DmaRdDataSink};
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct TxFetch {
    pub clock: Signal<In, Clock>,
    /// Take a segment (only while `idle`).
    pub start: Signal<In, Bit>,
    pub addr0: Signal<In, Bits<64>>,
    pub len0: Signal<In, Bits<16>>,
    pub addr1: Signal<In, Bits<64>>,
    pub len1: Signal<In, Bits<16>>,
    pub cmd: DmaRdCmdSource,
    pub data: DmaRdDataSink,
    /// The staging buffer's read port (registered read): word `k` holds
    /// segment bytes `8k..8k+7`, byte `8k` in bits 63:56.
    pub rd_addr: Signal<In, Bits<8>>,
    pub rd_data: Signal<Out, Bits<64>>,
    pub staged: Signal<Out, Bit>,
    pub sum: Signal<Out, Bits<16>>,
    pub err: Signal<Out, Bit>,
    pub idle: Signal<Out, Bit>,

    stage: RAM<Bits<64>, 8>,
    busy: DFF<Bit>,
    staged_r: DFF<Bit>,
    err_r: DFF<Bit>,
    /// Reads still to offer: the first, the second.
    want0: DFF<Bit>,
    want1: DFF<Bit>,
    addr0_r: DFF<Bits<64>>,
    addr1_r: DFF<Bits<64>>,
    len0_r: DFF<Bits<16>>,
    len1_r: DFF<Bits<16>>,
    /// The stream's beats now come from the second read.
    second: DFF<Bit>,
    /// Beats of reads still to come (1 or 2 reads' last beats).
    lasts_left: DFF<Bits<2>>,
    /// The last beat is in: the accumulator's rest goes to the buffer next.
    flush: DFF<Bit>,
    acc: DFF<Bits<64>>,
    fill: DFF<Bits<4>>,
    wptr: DFF<Bits<8>>,
    sum32: DFF<Bits<32>>,

    beat_net: Signal<Local, Bits<64>>,
    n_bytes: Signal<Local, Bits<4>>,
    rem: Signal<Local, Bits<3>>,
    keep_mask: Signal<Local, Bits<64>>,
    beat_kept: Signal<Local, Bits<64>>,
    merged: Signal<Local, Bits<128>>,
    total: Signal<Local, Bits<4>>,
    wr_word: Signal<Local, Bits<64>>,
    wr_now: Signal<Local, Bit>,
    word_sum: Signal<Local, Bits<32>>,
    fold1: Signal<Local, Bits<17>>,
    fold_carry: Signal<Local, Bits<16>>,
    beat_in: Signal<Local, Bit>,
    ones: Constant<Bits<64>>,
    c64: Constant<Bits<7>>,
    eight4: Constant<Bits<4>>,
    zero4: Constant<Bits<4>>,
    one2: Constant<Bits<2>>,
    two2: Constant<Bits<2>>,
    w3: Signal<Local, Bits<16>>,
    w2: Signal<Local, Bits<16>>,
    w1: Signal<Local, Bits<16>>,
    w0: Signal<Local, Bits<16>>,
    sum_lo: Signal<Local, Bits<16>>,
    sum_hi: Signal<Local, Bits<16>>,
}

impl Default for TxFetch {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            start: Default::default(),
            addr0: Default::default(),
            len0: Default::default(),
            addr1: Default::default(),
            len1: Default::default(),
            cmd: Default::default(),
            data: Default::default(),
            rd_addr: Default::default(),
            rd_data: Default::default(),
            staged: Default::default(),
            sum: Default::default(),
            err: Default::default(),
            idle: Default::default(),
            stage: Default::default(),
            busy: Default::default(),
            staged_r: Default::default(),
            err_r: Default::default(),
            want0: Default::default(),
            want1: Default::default(),
            addr0_r: Default::default(),
            addr1_r: Default::default(),
            len0_r: Default::default(),
            len1_r: Default::default(),
            second: Default::default(),
            lasts_left: Default::default(),
            flush: Default::default(),
            acc: Default::default(),
            fill: Default::default(),
            wptr: Default::default(),
            sum32: Default::default(),
            beat_net: Default::default(),
            n_bytes: Default::default(),
            rem: Default::default(),
            keep_mask: Default::default(),
            beat_kept: Default::default(),
            merged: Default::default(),
            total: Default::default(),
            wr_word: Default::default(),
            wr_now: Default::default(),
            word_sum: Default::default(),
            fold1: Default::default(),
            fold_carry: Default::default(),
            beat_in: Default::default(),
            ones: Constant::new(Bits::<64>::from(u64::MAX)),
            c64: Constant::new(Bits::<7>::from(64u64)),
            eight4: Constant::new(Bits::<4>::from(8u64)),
            zero4: Constant::new(Bits::<4>::from(0u64)),
            one2: Constant::new(Bits::<2>::from(1u64)),
            two2: Constant::new(Bits::<2>::from(2u64)),
            w3: Default::default(),
            w2: Default::default(),
            w1: Default::default(),
            w0: Default::default(),
            sum_lo: Default::default(),
            sum_hi: Default::default(),
        }
    }
}

impl Logic for TxFetch {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, busy, staged_r, err_r, want0, want1, addr0_r, addr1_r, len0_r, len1_r, second, lasts_left, flush, acc,
            fill, wptr, sum32
        );
        self.stage.read_clock.next = self.clock.val();
        self.stage.write_clock.next = self.clock.val();
        self.stage.read_address.next = self.rd_addr.val();
        self.rd_data.next = self.stage.read_data.val();
        self.stage.write_enable.next = false;
        self.stage.write_address.next = self.wptr.q.val();

        // ---- The reads: the first, then the second (if any). ----
        self.cmd.valid.next = self.want0.q.val() | self.want1.q.val();
        self.cmd.addr.next = self.addr1_r.q.val();
        self.cmd.len.next = self.len1_r.q.val();
        if self.want0.q.val() {
            self.cmd.addr.next = self.addr0_r.q.val();
            self.cmd.len.next = self.len0_r.q.val();
        }
        if self.cmd.ready.val() {
            if self.want0.q.val() {
                self.want0.d.next = false;
            } else {
                self.want1.d.next = false;
            }
        }

        // ---- A beat: network order, its valid bytes appended to the accumulator. ----
        self.beat_net.next = ((self.data.data.val() >> 56) & 0xFF_u64.to_bits())
            | ((self.data.data.val() >> 40) & 0xFF00_u64.to_bits())
            | ((self.data.data.val() >> 24) & 0xFF_0000_u64.to_bits())
            | ((self.data.data.val() >> 8) & 0xFF00_0000_u64.to_bits())
            | ((self.data.data.val() << 8) & 0xFF_0000_0000_u64.to_bits())
            | ((self.data.data.val() << 24) & 0xFF00_0000_0000_u64.to_bits())
            | ((self.data.data.val() << 40) & 0xFF_0000_0000_0000_u64.to_bits())
            | (self.data.data.val() << 56);
        self.rem.next = self.len0_r.q.val().get_bits::<3>(0);
        if self.second.q.val() {
            self.rem.next = self.len1_r.q.val().get_bits::<3>(0);
        }
        self.n_bytes.next = self.eight4.val();
        if self.data.last.val() & self.rem.val().any() {
            self.n_bytes.next = bit_cast::<4, 3>(self.rem.val());
        }
        // The beat's first n bytes (the top ones); a full beat keeps all 64 bits.
        self.keep_mask.next = self.ones.val();
        if self.n_bytes.val() != self.eight4.val() {
            self.keep_mask.next = !(self.ones.val() >> (bit_cast::<7, 4>(self.n_bytes.val()) << 3));
        }
        self.beat_kept.next = self.beat_net.val() & self.keep_mask.val();
        self.merged.next = (bit_cast::<128, 64>(self.acc.q.val()) << 64)
            | (bit_cast::<128, 64>(self.beat_kept.val()) << (self.c64.val() - (bit_cast::<7, 4>(self.fill.q.val()) << 3)));
        self.total.next = self.fill.q.val() + self.n_bytes.val();
        self.data.ready.next = self.busy.q.val() & !self.flush.q.val();
        self.beat_in.next = self.data.valid.val() & self.busy.q.val() & !self.flush.q.val();

        self.wr_now.next = false;
        self.wr_word.next = self.merged.val().get_bits::<64>(64);
        if self.beat_in.val() {
            if self.data.err.val() {
                self.err_r.d.next = true;
            }
            if self.total.val().get_bit(3) {
                self.wr_now.next = true;
                self.acc.d.next = self.merged.val().get_bits::<64>(0);
                self.fill.d.next = self.total.val() - self.eight4.val();
            } else {
                self.acc.d.next = self.merged.val().get_bits::<64>(64);
                self.fill.d.next = self.total.val();
            }
            if self.data.last.val() {
                self.second.d.next = true;
                self.lasts_left.d.next = self.lasts_left.q.val() - self.one2.val();
                if self.lasts_left.q.val() == self.one2.val() {
                    self.flush.d.next = true;
                }
            }
        }
        if self.flush.q.val() {
            // The rest (zero past the segment's end), then the segment is staged.
            self.wr_word.next = self.acc.q.val();
            self.wr_now.next = self.fill.q.val().any();
            self.flush.d.next = false;
            self.busy.d.next = false;
            self.staged_r.d.next = true;
        }
        // 16-bit halves as Locals: Verilator flags a part-select widened by bit_cast.
        self.w3.next = self.wr_word.val().get_bits::<16>(48);
        self.w2.next = self.wr_word.val().get_bits::<16>(32);
        self.w1.next = self.wr_word.val().get_bits::<16>(16);
        self.w0.next = self.wr_word.val().get_bits::<16>(0);
        self.word_sum.next = bit_cast::<32, 16>(self.w3.val())
            + bit_cast::<32, 16>(self.w2.val())
            + bit_cast::<32, 16>(self.w1.val())
            + bit_cast::<32, 16>(self.w0.val());
        self.stage.write_data.next = self.wr_word.val();
        if self.wr_now.val() {
            self.stage.write_enable.next = true;
            self.wptr.d.next = self.wptr.q.val() + 1_u8.to_bits();
            self.sum32.d.next = self.sum32.q.val() + self.word_sum.val();
        }

        // ---- A new segment. ----
        if self.start.val() & !self.busy.q.val() {
            self.busy.d.next = true;
            self.staged_r.d.next = false;
            self.err_r.d.next = false;
            self.want0.d.next = true;
            self.want1.d.next = self.len1.val().any();
            self.addr0_r.d.next = self.addr0.val();
            self.addr1_r.d.next = self.addr1.val();
            self.len0_r.d.next = self.len0.val();
            self.len1_r.d.next = self.len1.val();
            self.second.d.next = false;
            self.lasts_left.d.next = self.one2.val();
            if self.len1.val().any() {
                self.lasts_left.d.next = self.two2.val();
            }
            self.flush.d.next = false;
            self.acc.d.next = 0_u64.to_bits();
            self.fill.d.next = self.zero4.val();
            self.wptr.d.next = 0_u8.to_bits();
            self.sum32.d.next = 0_u32.to_bits();
        }

        // At most 256 words of four 16-bit terms: the sum fits 27 bits; two folds end it.
        self.sum_lo.next = self.sum32.q.val().get_bits::<16>(0);
        self.sum_hi.next = self.sum32.q.val().get_bits::<16>(16);
        self.fold1.next = bit_cast::<17, 16>(self.sum_lo.val()) + bit_cast::<17, 16>(self.sum_hi.val());
        self.fold_carry.next = 0_u16.to_bits();
        if self.fold1.val().get_bit(16) {
            self.fold_carry.next = 1_u16.to_bits();
        }
        self.sum.next = self.fold1.val().get_bits::<16>(0) + self.fold_carry.val();
        self.staged.next = self.staged_r.q.val();
        self.err.next = self.err_r.q.val();
        self.idle.next = !self.busy.q.val();
    }
}

pub fn verilog() -> Result<String, crate::generate::GenError> {
    crate::generate::verilog_named(&mut TxFetch::default(), "tx_fetch")
}

#[cfg(test)]
mod tests {
    #[test]
    fn tx_fetch_lints_clean_and_synthesizes() {
        let v = super::verilog().expect("generates");
        crate::check::lint("tx_fetch", &v).unwrap_or_else(|e| panic!("lint:\n{e}"));
        let area = crate::check::synth("tx_fetch", &v).unwrap_or_else(|e| panic!("{e}"));
        eprintln!("tx_fetch area: {area:?}");
        assert!(area.bram18 >= 1, "the staging buffer is block RAM: {area:?}");
    }
}
