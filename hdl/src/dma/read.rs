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
use super::{AxiAddrSource, AxiRSink, BurstIssuer, BurstSplit, CmdBeats, DmaRdCmdSink, DmaRdDataSource, BEAT_BITS};
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct DmaReader {
    pub clock: Signal<In, Clock>,
    pub cmd: DmaRdCmdSink,
    pub out: DmaRdDataSource,
    pub ar: AxiAddrSource,
    pub r: AxiRSink,

    beats: CmdBeats,
    ar_issue: BurstIssuer,
    r_split: BurstSplit,

    busy: DFF<Bit>,
    lane: DFF<Bits<3>>,
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
    zero10: Constant<Bits<10>>,
    one10: Constant<Bits<10>>,
    one9: Constant<Bits<9>>,

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
            beats: CmdBeats::default(),
            ar_issue: BurstIssuer::new(max_beats),
            r_split: BurstSplit::new(max_beats),
            busy: Default::default(),
            lane: Default::default(),
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
            zero10: Constant::new(0_u64.into()),
            one10: Constant::new(1_u64.into()),
            one9: Constant::new(1_u64.into()),
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
            self, clock, busy, lane, r_row, r_left, r_burst_left, r_first, o_left, prev, err, o_valid, o_data, o_last,
            o_err
        );
        clock!(self, clock, ar_issue);

        // ---- Command decode (used in the accepting cycle). ----
        self.beats.lane.next = self.cmd.addr.val().get_bits::<3>(0);
        self.beats.len.next = self.cmd.len.val();
        self.cmd.ready.next = !self.busy.q.val();
        self.ar_issue.load.next = false;
        self.ar_issue.load_addr.next = self.cmd.addr.val();
        self.ar_issue.load_beats.next = self.beats.bus_beats.val();
        if self.cmd.valid.val() & !self.busy.q.val() {
            self.busy.d.next = true;
            self.ar_issue.load.next = true;
            self.lane.d.next = self.cmd.addr.val().get_bits::<3>(0);
            // A zero-length command reads nothing and yields no beat.
            self.r_left.d.next = self.beats.bus_beats.val();
            self.o_left.d.next = self.beats.stream_beats.val();
            self.r_row.d.next = self.cmd.addr.val().get_bits::<9>(3);
            self.r_burst_left.d.next = self.zero10.val();
            self.r_first.d.next = true;
            self.err.d.next = false;
        }

        // ---- AR: the whole command's bursts, back to back. ----
        AxiAddrSource::link(&mut self.ar, &mut self.ar_issue.bursts);

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
            self.o_left.d.next = self.o_left.q.val() - self.one_beat.val();
        }
        self.out.valid.next = self.o_valid.q.val();
        self.out.data.next = self.o_data.q.val();
        self.out.last.next = self.o_last.q.val();
        self.out.err.next = self.o_err.q.val();

        // ---- Free for the next command once every beat is in and out. ----
        if self.busy.q.val() & !self.ar_issue.left.val().any() & !self.r_left.q.val().any() & !self.o_left.q.val().any() {
            self.busy.d.next = false;
        }
    }
}
