//! Ring writer: copies a run of bytes from the frame buffer into one
//! connection's receive ring, 8 bytes per cycle at any source and destination
//! alignment, and serves the host's 32-bit reads of the ring memory.
//!
//! The ring memory is 8 byte lanes (`RAM<Bits<8>, ROW_BITS>` each): ring byte
//! address `A = conn << RING_BITS | b` lives in lane `A & 7`, row `A >> 3`.
//! Rings are multiples of 8 bytes, so a row never straddles the wrap.
//!
//! The copy walks destination rows. Row `k` of a command with destination
//! alignment `a = ring_off & 7` holds stream bytes `8k - a .. 8k - a + 8`, i.e.
//! frame bytes `g + 8k ..` with `g = fb_off - a` (mod 2048; a negative `g`
//! only feeds lanes that are masked off). Those 8 bytes span frame-buffer
//! words `(g >> 3) + k` and the next, so a 2-word window (`prev_word`,
//! `fb_rdata`) slides one word per cycle and a variable part-select picks the
//! 8 bytes; lanes before the first byte (first row) and past the last byte
//! (last row) are not written.
//!
//! Timing: the cycle that accepts a command already addresses the first
//! frame-buffer word, the next cycle (`Prime`) loads it into `prev_word`, then
//! `Copy` writes one row per cycle; `done` strobes the cycle after the last row
//! was written. A command of `n` bytes at destination alignment `a` takes
//! `ceil((a + n) / 8)` copy cycles plus 2.
use crate::channels::RingCopySink;
use rust_hdl::prelude::*;

#[derive(Copy, Clone, PartialEq, Eq, Debug, LogicState)]
pub enum RingWriterState {
    /// `cmd.ready`; an accepted command addresses its first frame-buffer word.
    Idle,
    /// First window word arrives; second one addressed.
    Prime,
    /// One destination row per cycle.
    Copy,
}

/// `WORD_BITS` must be `ROW_BITS + 1` (the host port addresses 32-bit words);
/// stable Rust can't compute it, so it is a parameter with the default
/// instance's value and `new()` checks it.
#[derive(LogicBlock)]
pub struct RingWriter<const CONN_BITS: usize, const RING_BITS: usize, const ROW_BITS: usize, const WORD_BITS: usize = 17>
{
    pub clock: Signal<In, Clock>,
    /// Copy commands from the engine.
    pub cmd: RingCopySink<CONN_BITS>,
    pub fb_raddr: Signal<Out, Bits<8>>,
    pub fb_rdata: Signal<In, Bits<64>>,
    pub host_raddr: Signal<In, Bits<WORD_BITS>>,
    pub host_rdata: Signal<Out, Bits<32>>,

    lanes: [RAM<Bits<8>, ROW_BITS>; 8],

    /// Row of ring offset 0 of connection `c`: `c << ring_row_shift`.
    ring_row_shift: Constant<Bits<8>>,
    /// Rows per ring - 1.
    ring_row_mask: Constant<Bits<ROW_BITS>>,
    row_one: Constant<Bits<ROW_BITS>>,
    eight12: Constant<Bits<12>>,
    sixty_four7: Constant<Bits<7>>,

    state: DFF<RingWriterState>,
    /// Next frame-buffer word to address.
    src_word: DFF<Bits<8>>,
    prev_word: DFF<Bits<64>>,
    /// Bit offset of window byte 0 in {prev_word, fb_rdata}: 64 - 8 * (g & 7).
    win_off: DFF<Bits<7>>,
    conn_row: DFF<Bits<ROW_BITS>>,
    ring_row: DFF<Bits<ROW_BITS>>,
    /// Bytes from the start of the current row to the end of the command.
    left: DFF<Bits<12>>,
    /// Lanes at or after the first byte (all ones after the first row).
    first_mask: DFF<Bits<8>>,
    done_q: DFF<Bit>,
    host_half: DFF<Bit>,

    dst_lo3: Signal<Local, Bits<3>>,
    src_start: Signal<Local, Bits<11>>,
    src_lo3: Signal<Local, Bits<3>>,
    left_lo3: Signal<Local, Bits<3>>,
    last_mask: Signal<Local, Bits<8>>,
    lane_we: Signal<Local, Bits<8>>,
    pair: Signal<Local, Bits<128>>,
    window: Signal<Local, Bits<64>>,
    row_addr: Signal<Local, Bits<ROW_BITS>>,
}

impl<const CONN_BITS: usize, const RING_BITS: usize, const ROW_BITS: usize, const WORD_BITS: usize>
    RingWriter<CONN_BITS, RING_BITS, ROW_BITS, WORD_BITS>
{
    /// # Panics
    /// If the parameters are inconsistent (`ROW_BITS != CONN_BITS + RING_BITS - 3`,
    /// `WORD_BITS != ROW_BITS + 1`, or a ring smaller than one row): a build-time
    /// configuration error.
    pub fn new() -> Self {
        assert!(RING_BITS >= 3, "ring_writer: a ring must hold at least one 8-byte row");
        assert_eq!(ROW_BITS, CONN_BITS + RING_BITS - 3, "ring_writer: ROW_BITS must be CONN_BITS + RING_BITS - 3");
        assert_eq!(WORD_BITS, ROW_BITS + 1, "ring_writer: WORD_BITS must be ROW_BITS + 1");
        assert!(RING_BITS <= 16, "ring_writer: the ring offset port is 16 bits");
        Self {
            clock: Default::default(),
            cmd: Default::default(),
            fb_raddr: Default::default(),
            fb_rdata: Default::default(),
            host_raddr: Default::default(),
            host_rdata: Default::default(),
            lanes: Default::default(),
            ring_row_shift: Constant::new(((RING_BITS - 3) as u64).into()),
            ring_row_mask: Constant::new(((1u64 << (RING_BITS - 3)) - 1).into()),
            row_one: Constant::new(1_u64.into()),
            eight12: Constant::new(8_u64.into()),
            sixty_four7: Constant::new(64_u64.into()),
            state: Default::default(),
            src_word: Default::default(),
            prev_word: Default::default(),
            win_off: Default::default(),
            conn_row: Default::default(),
            ring_row: Default::default(),
            left: Default::default(),
            first_mask: Default::default(),
            done_q: Default::default(),
            host_half: Default::default(),
            dst_lo3: Default::default(),
            src_start: Default::default(),
            src_lo3: Default::default(),
            left_lo3: Default::default(),
            last_mask: Default::default(),
            lane_we: Default::default(),
            pair: Default::default(),
            window: Default::default(),
            row_addr: Default::default(),
        }
    }
}

impl<const CONN_BITS: usize, const RING_BITS: usize, const ROW_BITS: usize, const WORD_BITS: usize> Default
    for RingWriter<CONN_BITS, RING_BITS, ROW_BITS, WORD_BITS>
{
    fn default() -> Self {
        Self::new()
    }
}

impl<const CONN_BITS: usize, const RING_BITS: usize, const ROW_BITS: usize, const WORD_BITS: usize> Logic
    for RingWriter<CONN_BITS, RING_BITS, ROW_BITS, WORD_BITS>
{
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, state, src_word, prev_word, win_off, conn_row, ring_row, left, first_mask, done_q,
            host_half
        );
        for l in 0..8 {
            self.lanes[l].read_clock.next = self.clock.val();
            self.lanes[l].write_clock.next = self.clock.val();
        }

        // ---- Command decode (valid in the accepting cycle). ----
        self.dst_lo3.next = self.cmd.ring_off.val().get_bits::<3>(0);
        self.src_start.next = self.cmd.fb_off.val() - bit_cast::<11, 3>(self.dst_lo3.val());
        self.src_lo3.next = self.src_start.val().get_bits::<3>(0);

        // ---- The 8 frame bytes of the current row, and which lanes take them. ----
        self.pair.next = (bit_cast::<128, 64>(self.prev_word.q.val()) << 64) | bit_cast::<128, 64>(self.fb_rdata.val());
        self.window.next = self.pair.val().get_bits::<64>(self.win_off.q.val().index());
        self.left_lo3.next = self.left.q.val().get_bits::<3>(0);
        self.last_mask.next = 0xFF_u8.to_bits();
        if self.left.q.val() < self.eight12.val() {
            match self.left_lo3.val().index() {
                0 => self.last_mask.next = 0x00_u8.to_bits(),
                1 => self.last_mask.next = 0x01_u8.to_bits(),
                2 => self.last_mask.next = 0x03_u8.to_bits(),
                3 => self.last_mask.next = 0x07_u8.to_bits(),
                4 => self.last_mask.next = 0x0F_u8.to_bits(),
                5 => self.last_mask.next = 0x1F_u8.to_bits(),
                6 => self.last_mask.next = 0x3F_u8.to_bits(),
                _ => self.last_mask.next = 0x7F_u8.to_bits(),
            }
        }
        self.lane_we.next = 0_u8.to_bits();
        self.row_addr.next = self.conn_row.q.val() | self.ring_row.q.val();
        for l in 0..8 {
            self.lanes[l].write_address.next = self.row_addr.val();
            // Network order: window byte l is bits 63-8l..56-8l.
            self.lanes[l].write_data.next = self.window.val().get_bits::<8>(56 - 8 * l);
        }

        // ---- FSM. ----
        self.cmd.ready.next = false;
        self.fb_raddr.next = self.src_word.q.val();
        self.done_q.d.next = false;
        match self.state.q.val() {
            RingWriterState::Idle => {
                self.cmd.ready.next = true;
                self.fb_raddr.next = self.src_start.val().get_bits::<8>(3);
                if self.cmd.valid.val() {
                    self.src_word.d.next = self.src_start.val().get_bits::<8>(3) + 1_u8.to_bits();
                    self.win_off.d.next = self.sixty_four7.val() - (bit_cast::<7, 3>(self.src_lo3.val()) << 3);
                    self.conn_row.d.next = bit_cast::<ROW_BITS, CONN_BITS>(self.cmd.conn.val()) << self.ring_row_shift.val();
                    self.ring_row.d.next = (bit_cast::<ROW_BITS, 16>(self.cmd.ring_off.val()) >> 3) & self.ring_row_mask.val();
                    self.left.d.next = bit_cast::<12, 3>(self.dst_lo3.val()) + bit_cast::<12, 11>(self.cmd.len.val());
                    match self.dst_lo3.val().index() {
                        0 => self.first_mask.d.next = 0xFF_u8.to_bits(),
                        1 => self.first_mask.d.next = 0xFE_u8.to_bits(),
                        2 => self.first_mask.d.next = 0xFC_u8.to_bits(),
                        3 => self.first_mask.d.next = 0xF8_u8.to_bits(),
                        4 => self.first_mask.d.next = 0xF0_u8.to_bits(),
                        5 => self.first_mask.d.next = 0xE0_u8.to_bits(),
                        6 => self.first_mask.d.next = 0xC0_u8.to_bits(),
                        _ => self.first_mask.d.next = 0x80_u8.to_bits(),
                    }
                    self.state.d.next = RingWriterState::Prime;
                }
            }
            RingWriterState::Prime => {
                self.prev_word.d.next = self.fb_rdata.val();
                self.fb_raddr.next = self.src_word.q.val();
                self.src_word.d.next = self.src_word.q.val() + 1_u8.to_bits();
                self.state.d.next = RingWriterState::Copy;
            }
            RingWriterState::Copy => {
                self.lane_we.next = self.first_mask.q.val() & self.last_mask.val();
                self.first_mask.d.next = 0xFF_u8.to_bits();
                self.prev_word.d.next = self.fb_rdata.val();
                self.fb_raddr.next = self.src_word.q.val();
                self.src_word.d.next = self.src_word.q.val() + 1_u8.to_bits();
                self.ring_row.d.next = (self.ring_row.q.val() + self.row_one.val()) & self.ring_row_mask.val();
                self.left.d.next = self.left.q.val() - self.eight12.val();
                if self.left.q.val() <= self.eight12.val() {
                    self.done_q.d.next = true;
                    self.state.d.next = RingWriterState::Idle;
                }
            }
            _ => {}
        }
        for l in 0..8 {
            self.lanes[l].write_enable.next = self.lane_we.val().get_bit(l);
        }
        self.cmd.done.next = self.done_q.q.val();

        // ---- Host read port: 32-bit word k = row k >> 1, lanes 4(k & 1)..+3, little-endian. ----
        self.host_half.d.next = self.host_raddr.val().get_bit(0);
        for l in 0..8 {
            self.lanes[l].read_address.next = self.host_raddr.val().get_bits::<ROW_BITS>(1);
        }
        self.host_rdata.next = bit_cast::<32, 8>(self.lanes[0].read_data.val())
            | (bit_cast::<32, 8>(self.lanes[1].read_data.val()) << 8)
            | (bit_cast::<32, 8>(self.lanes[2].read_data.val()) << 16)
            | (bit_cast::<32, 8>(self.lanes[3].read_data.val()) << 24);
        if self.host_half.q.val() {
            self.host_rdata.next = bit_cast::<32, 8>(self.lanes[4].read_data.val())
                | (bit_cast::<32, 8>(self.lanes[5].read_data.val()) << 8)
                | (bit_cast::<32, 8>(self.lanes[6].read_data.val()) << 16)
                | (bit_cast::<32, 8>(self.lanes[7].read_data.val()) << 24);
        }
    }
}

/// The instance the core uses: 64 connections of 8 KiB rings.
pub type DefaultRingWriter = RingWriter<6, 13, 16, 17>;

pub fn verilog() -> Result<String, crate::generate::GenError> {
    crate::generate::verilog_named(&mut DefaultRingWriter::default(), "ring_writer")
}

#[cfg(test)]
mod tests {
    #[test]
    fn ring_writer_lints_clean_and_synthesizes() {
        let v = super::verilog().expect("generates");
        crate::check::lint("ring_writer", &v).unwrap_or_else(|e| panic!("lint:\n{e}"));
        let area = crate::check::synth("ring_writer", &v).unwrap_or_else(|e| panic!("{e}"));
        eprintln!("ring_writer area: {area:?}");
        assert!(area.luts > 0);
    }
}
