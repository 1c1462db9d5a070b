//! The read engine: one command (host address, byte length) in, AXI4 AR/R
//! bursts out, the bytes back as a stream with `last` on its final beat.
//!
//! A command starting at lane `a = addr & 7` covers `ceil((a + len) / 8)` bus
//! beats and yields `ceil(len / 8)` stream beats; stream beat `k` is lanes
//! `a..8` of bus beat `k` followed by lanes `0..a` of bus beat `k + 1`. So the
//! engine keeps the previous bus beat (`prev`), emits stream beat `k` when bus
//! beat `k + 1` arrives, and, when the bus has no beat `k + 1` (always so for
//! an aligned start), emits the final stream beat from `prev` alone (`flush`).
//!
//! AR runs ahead through the whole command; R is taken only when the output
//! register can take the beat it yields, so back-pressure from the core
//! reaches the bus as `r.ready` low. RLAST is checked against the burst
//! sequence (a second [`BurstSplit`] walks it) and a mismatch, like a
//! non-OKAY RRESP, sets `err` on the final beat.
use super::{AxiAddrSource, AxiRSink, BurstSplit, DmaRdCmdSink, DmaRdDataSource, BEAT_BITS};
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct DmaReader {
    pub clock: Signal<In, Clock>,
    pub cmd: DmaRdCmdSink,
    pub out: DmaRdDataSource,
    pub ar: AxiAddrSource,
    pub r: AxiRSink,

    ar_split: BurstSplit,
    r_split: BurstSplit,

    busy: DFF<Bit>,
    lane: DFF<Bits<3>>,
    ar_addr: DFF<Bits<64>>,
    ar_left: DFF<Bits<BEAT_BITS>>,
    /// Bits 11:3 of the next R beat's address.
    r_row: DFF<Bits<9>>,
    r_left: DFF<Bits<BEAT_BITS>>,
    /// Beats left in the current R burst; 0 = the next beat opens a burst.
    r_burst_left: DFF<Bits<10>>,
    /// The next R beat is the command's first (it only fills `prev`).
    r_first: DFF<Bit>,
    /// Stream beats not yet emitted.
    o_left: DFF<Bits<BEAT_BITS>>,
    prev: DFF<Bits<64>>,
    err: DFF<Bit>,
    o_valid: DFF<Bit>,
    o_data: DFF<Bits<64>>,
    o_last: DFF<Bit>,
    o_err: DFF<Bit>,

    one_beat: Constant<Bits<BEAT_BITS>>,
    zero_beats: Constant<Bits<BEAT_BITS>>,
    zero10: Constant<Bits<10>>,
    one10: Constant<Bits<10>>,
    one9: Constant<Bits<9>>,
    row_base_mask: Constant<Bits<64>>,

    cmd_lane: Signal<Local, Bits<3>>,
    end_whole: Signal<Local, Bits<BEAT_BITS>>,
    bus_beats: Signal<Local, Bits<BEAT_BITS>>,
    len_whole: Signal<Local, Bits<13>>,
    len_lane: Signal<Local, Bits<3>>,
    end_sum: Signal<Local, Bits<17>>,
    end_lane: Signal<Local, Bits<3>>,
    stream_beats: Signal<Local, Bits<BEAT_BITS>>,
    ar_fire: Signal<Local, Bit>,
    ar_beats8: Signal<Local, Bits<8>>,
    ar_step: Signal<Local, Bits<64>>,
    o_free: Signal<Local, Bit>,
    r_fire: Signal<Local, Bit>,
    flush: Signal<Local, Bit>,
    burst_start: Signal<Local, Bit>,
    expect_last: Signal<Local, Bit>,
    err_now: Signal<Local, Bit>,
    cur: Signal<Local, Bits<64>>,
    pair: Signal<Local, Bits<128>>,
    pick: Signal<Local, Bits<7>>,
}

impl DmaReader {
    /// # Panics
    /// If `max_beats` is not in 1..=256.
    pub fn new(max_beats: u32) -> DmaReader {
        DmaReader {
            clock: Default::default(),
            cmd: Default::default(),
            out: Default::default(),
            ar: Default::default(),
            r: Default::default(),
            ar_split: BurstSplit::new(max_beats),
            r_split: BurstSplit::new(max_beats),
            busy: Default::default(),
            lane: Default::default(),
            ar_addr: Default::default(),
            ar_left: Default::default(),
            r_row: Default::default(),
            r_left: Default::default(),
            r_burst_left: Default::default(),
            r_first: Default::default(),
            o_left: Default::default(),
            prev: Default::default(),
            err: Default::default(),
            o_valid: Default::default(),
            o_data: Default::default(),
            o_last: Default::default(),
            o_err: Default::default(),
            one_beat: Constant::new(1_u64.into()),
            zero_beats: Constant::new(0_u64.into()),
            zero10: Constant::new(0_u64.into()),
            one10: Constant::new(1_u64.into()),
            one9: Constant::new(1_u64.into()),
            row_base_mask: Constant::new((!7_u64).into()),
            cmd_lane: Default::default(),
            end_whole: Default::default(),
            bus_beats: Default::default(),
            len_whole: Default::default(),
            len_lane: Default::default(),
            end_sum: Default::default(),
            end_lane: Default::default(),
            stream_beats: Default::default(),
            ar_fire: Default::default(),
            ar_beats8: Default::default(),
            ar_step: Default::default(),
            o_free: Default::default(),
            r_fire: Default::default(),
            flush: Default::default(),
            burst_start: Default::default(),
            expect_last: Default::default(),
            err_now: Default::default(),
            cur: Default::default(),
            pair: Default::default(),
            pick: Default::default(),
        }
    }
}

impl Logic for DmaReader {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, busy, lane, ar_addr, ar_left, r_row, r_left, r_burst_left, r_first, o_left, prev, err, o_valid,
            o_data, o_last, o_err
        );

        // ---- Command decode (used in the accepting cycle). ----
        self.cmd_lane.next = self.cmd.addr.val().get_bits::<3>(0);
        self.end_sum.next = bit_cast::<17, 3>(self.cmd_lane.val()) + bit_cast::<17, 16>(self.cmd.len.val());
        self.end_lane.next = self.end_sum.val().get_bits::<3>(0);
        // Beats = ceil(bytes / 8): whole rows, plus one for a partial last row.
        self.end_whole.next = self.end_sum.val().get_bits::<14>(3);
        self.bus_beats.next = self.end_whole.val();
        if self.end_lane.val().any() {
            self.bus_beats.next = self.end_whole.val() + self.one_beat.val();
        }
        self.len_whole.next = self.cmd.len.val().get_bits::<13>(3);
        self.len_lane.next = self.cmd.len.val().get_bits::<3>(0);
        self.stream_beats.next = bit_cast::<14, 13>(self.len_whole.val());
        if self.len_lane.val().any() {
            self.stream_beats.next = bit_cast::<14, 13>(self.len_whole.val()) + self.one_beat.val();
        }
        self.cmd.ready.next = !self.busy.q.val();
        if self.cmd.valid.val() & !self.busy.q.val() {
            self.busy.d.next = true;
            self.lane.d.next = self.cmd_lane.val();
            self.ar_addr.d.next = self.cmd.addr.val();
            // A zero-length command reads nothing and yields no beat.
            self.ar_left.d.next = self.zero_beats.val();
            self.r_left.d.next = self.zero_beats.val();
            if self.cmd.len.val().any() {
                self.ar_left.d.next = self.bus_beats.val();
                self.r_left.d.next = self.bus_beats.val();
            }
            self.o_left.d.next = self.stream_beats.val();
            self.r_row.d.next = self.cmd.addr.val().get_bits::<9>(3);
            self.r_burst_left.d.next = self.zero10.val();
            self.r_first.d.next = true;
            self.err.d.next = false;
        }

        // ---- AR: the whole command's bursts, back to back. ----
        self.ar_split.row.next = self.ar_addr.q.val().get_bits::<9>(3);
        self.ar_split.left.next = self.ar_left.q.val();
        self.ar.valid.next = self.busy.q.val() & self.ar_left.q.val().any();
        self.ar.addr.next = self.ar_addr.q.val();
        // At most 256 beats: the low 8 bits minus one wrap 256 to AxLEN 255.
        self.ar_beats8.next = self.ar_split.beats.val().get_bits::<8>(0);
        self.ar.len.next = self.ar_beats8.val() - 1_u8.to_bits();
        self.ar_fire.next = self.ar.valid.val() & self.ar.ready.val();
        self.ar_step.next = bit_cast::<64, 10>(self.ar_split.beats.val()) << 3;
        if self.ar_fire.val() {
            self.ar_addr.d.next = (self.ar_addr.q.val() & self.row_base_mask.val()) + self.ar_step.val();
            self.ar_left.d.next = self.ar_left.q.val() - bit_cast::<14, 10>(self.ar_split.beats.val());
        }

        // ---- R: each beat after the first completes one stream beat. ----
        self.r_split.row.next = self.r_row.q.val();
        self.r_split.left.next = self.r_left.q.val();
        self.o_free.next = !self.o_valid.q.val() | self.out.ready.val();
        self.r.ready.next = self.busy.q.val() & self.r_left.q.val().any() & (self.r_first.q.val() | self.o_free.val());
        self.r_fire.next = self.r.valid.val() & self.r.ready.val();
        self.flush.next =
            self.busy.q.val() & !self.r_left.q.val().any() & self.o_left.q.val().any() & self.o_free.val();
        self.burst_start.next = !self.r_burst_left.q.val().any();
        self.expect_last.next = self.r_burst_left.q.val() == self.one10.val();
        if self.burst_start.val() {
            self.expect_last.next = self.r_split.beats.val() == self.one10.val();
        }
        self.err_now.next = self.err.q.val();
        if self.r_fire.val() & (self.r.resp.val().any() | (self.r.last.val() != self.expect_last.val())) {
            self.err_now.next = true;
        }
        self.cur.next = 0_u64.to_bits();
        if self.r_fire.val() {
            self.cur.next = self.r.data.val();
        }
        self.pair.next = (bit_cast::<128, 64>(self.cur.val()) << 64) | bit_cast::<128, 64>(self.prev.q.val());
        self.pick.next = bit_cast::<7, 3>(self.lane.q.val()) << 3;

        if self.out.ready.val() {
            self.o_valid.d.next = false;
        }
        if self.r_fire.val() {
            self.err.d.next = self.err_now.val();
            self.prev.d.next = self.r.data.val();
            self.r_left.d.next = self.r_left.q.val() - self.one_beat.val();
            self.r_row.d.next = self.r_row.q.val() + self.one9.val();
            self.r_first.d.next = false;
            if self.burst_start.val() {
                self.r_burst_left.d.next = self.r_split.beats.val() - self.one10.val();
            } else {
                self.r_burst_left.d.next = self.r_burst_left.q.val() - self.one10.val();
            }
            if !self.r_first.q.val() {
                self.o_valid.d.next = true;
                self.o_data.d.next = self.pair.val().get_bits::<64>(self.pick.val().index());
                self.o_last.d.next = self.o_left.q.val() == self.one_beat.val();
                self.o_err.d.next = self.err_now.val();
                self.o_left.d.next = self.o_left.q.val() - self.one_beat.val();
            }
        } else if self.flush.val() {
            self.o_valid.d.next = true;
            self.o_data.d.next = self.pair.val().get_bits::<64>(self.pick.val().index());
            self.o_last.d.next = true;
            self.o_err.d.next = self.err.q.val();
            self.o_left.d.next = self.zero_beats.val();
        }
        self.out.valid.next = self.o_valid.q.val();
        self.out.data.next = self.o_data.q.val();
        self.out.last.next = self.o_last.q.val();
        self.out.err.next = self.o_err.q.val();

        // ---- Free for the next command once every beat is in and out. ----
        if self.busy.q.val() & !self.ar_left.q.val().any() & !self.r_left.q.val().any() & !self.o_left.q.val().any() {
            self.busy.d.next = false;
        }
    }
}
