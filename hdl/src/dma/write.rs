//! The write engine: one command (host address, byte length) and its byte
//! stream in, AXI4 AW/W/B bursts out.
//!
//! A command starting at lane `a = addr & 7` covers `ceil((a + len) / 8)` bus
//! beats; bus beat `j` carries stream bytes `8j - a .. 8j - a + 8`, i.e. the
//! top `a` bytes of stream beat `j - 1` in lanes `0..a` and the low `8 - a`
//! bytes of stream beat `j` in lanes `a..8`. So the engine keeps the previous
//! stream beat (`prev`) and part-selects 8 bytes out of {current, prev}; the
//! bus may need one beat more than the stream has, which then comes from
//! `prev` alone. The first beat's strobes start at lane `a`, the last beat's
//! end at lane `(a + len - 1) & 7`, every other beat is whole.
//!
//! AW and W walk the same burst sequence with a [`BurstSplit`] each. W starts
//! a burst in the cycle its address goes out or later (`bursts_ahead`; the
//! beat reaches the bus a cycle after the address, as most AXI slaves
//! expect). W leaves through a register (full rate: it reloads in the cycle
//! the slave takes it), so `w.valid` never depends on an input in the same
//! cycle.
//!
//! Responses are not waited for: the cycle after a command's last W beat was
//! loaded, the next command may be taken, so back-to-back commands of `n`
//! beats cost `n + 1` cycles each whatever the response latency. Every burst
//! sent leaves an entry in `owed` (does it close its command?); responses
//! come back in issue order (one AXI ID), so each B pops the head, and the
//! one that closes a command strobes its `done` (with `err` if any of its
//! bursts got a non-OKAY response). At most 32 bursts are owed: AW waits
//! while `owed` is full, and no command is taken then. A zero-length command
//! has no burst to answer: it strobes `done` once nothing is owed, so its
//! `done` keeps the commands' order. `cmd.ready` comes from registers only.
use super::order::BitQueue;
use super::{AxiAddrSource, AxiBSink, AxiWSource, BurstIssuer, BurstSplit, CmdBeats, DmaStreamSink, DmaWrCmdSink, BEAT_BITS};
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct DmaWriter {
    pub clock: Signal<In, Clock>,
    pub cmd: DmaWrCmdSink,
    pub data: DmaStreamSink,
    pub aw: AxiAddrSource,
    pub w: AxiWSource,
    pub b: AxiBSink,
    /// No command is being issued, no beat waits on W and no response is
    /// owed: every write taken so far is complete in host memory.
    pub quiet: Signal<Out, Bit>,

    beats: CmdBeats,
    aw_issue: BurstIssuer,
    w_split: BurstSplit,
    /// One entry per burst whose response is owed: 1 if it closes its command.
    owed: BitQueue,

    /// A command's bursts and beats are being issued.
    busy: DFF<Bit>,
    /// Lane of the command's first byte, `addr & 7`.
    lane: DFF<Bits<3>>,
    first_strb: DFF<Bits<8>>,
    last_strb: DFF<Bits<8>>,
    /// Bits 11:3 of the next W beat's address.
    w_row: DFF<Bits<9>>,
    w_left: DFF<Bits<BEAT_BITS>>,
    /// Beats left in the current W burst; 0 = the next beat opens a burst.
    w_burst_left: DFF<Bits<10>>,
    w_first: DFF<Bit>,
    /// Stream beats not yet taken.
    s_left: DFF<Bits<BEAT_BITS>>,
    prev: DFF<Bits<64>>,
    /// AW bursts sent whose W burst has not started.
    bursts_ahead: DFF<Bits<BEAT_BITS>>,
    /// A response of the command at the head of `owed` was not OKAY.
    err_acc: DFF<Bit>,
    err: DFF<Bit>,
    done_q: DFF<Bit>,
    w_valid: DFF<Bit>,
    w_data: DFF<Bits<64>>,
    w_strb: DFF<Bits<8>>,
    w_last: DFF<Bit>,

    all_lanes: Constant<Bits<8>>,
    one_beat: Constant<Bits<BEAT_BITS>>,
    zero10: Constant<Bits<10>>,
    one10: Constant<Bits<10>>,
    one9: Constant<Bits<9>>,
    sixty_four7: Constant<Bits<7>>,

    cmd_lane: Signal<Local, Bits<3>>,
    end_lane: Signal<Local, Bits<3>>,
    len_lane: Signal<Local, Bits<3>>,
    aw_fire: Signal<Local, Bit>,
    aw_last: Signal<Local, Bit>,
    aw_beats: Signal<Local, Bits<BEAT_BITS>>,
    b_fire: Signal<Local, Bit>,
    b_bad: Signal<Local, Bit>,
    can_take: Signal<Local, Bit>,
    need_stream: Signal<Local, Bit>,
    burst_start: Signal<Local, Bit>,
    burst_ok: Signal<Local, Bit>,
    w_free: Signal<Local, Bit>,
    w_can: Signal<Local, Bit>,
    w_fire: Signal<Local, Bit>,
    cur: Signal<Local, Bits<64>>,
    pair: Signal<Local, Bits<128>>,
    pick: Signal<Local, Bits<7>>,
    strb: Signal<Local, Bits<8>>,
    beat_last: Signal<Local, Bit>,
}

impl DmaWriter {
    /// # Panics
    /// If `max_beats` is not in 1..=256.
    pub fn new(max_beats: u32) -> DmaWriter {
        DmaWriter {
            clock: Default::default(),
            cmd: Default::default(),
            data: Default::default(),
            aw: Default::default(),
            w: Default::default(),
            b: Default::default(),
            quiet: Default::default(),
            beats: CmdBeats::default(),
            aw_issue: BurstIssuer::new(max_beats),
            w_split: BurstSplit::new(max_beats),
            owed: Default::default(),
            busy: Default::default(),
            lane: Default::default(),
            first_strb: Default::default(),
            last_strb: Default::default(),
            w_row: Default::default(),
            w_left: Default::default(),
            w_burst_left: Default::default(),
            w_first: Default::default(),
            s_left: Default::default(),
            prev: Default::default(),
            bursts_ahead: Default::default(),
            err_acc: Default::default(),
            err: Default::default(),
            done_q: Default::default(),
            w_valid: Default::default(),
            w_data: Default::default(),
            w_strb: Default::default(),
            w_last: Default::default(),
            all_lanes: Constant::new(0xFF_u64.into()),
            one_beat: Constant::new(1_u64.into()),
            zero10: Constant::new(0_u64.into()),
            one10: Constant::new(1_u64.into()),
            one9: Constant::new(1_u64.into()),
            sixty_four7: Constant::new(64_u64.into()),
            cmd_lane: Default::default(),
            end_lane: Default::default(),
            len_lane: Default::default(),
            aw_fire: Default::default(),
            aw_last: Default::default(),
            aw_beats: Default::default(),
            b_fire: Default::default(),
            b_bad: Default::default(),
            can_take: Default::default(),
            need_stream: Default::default(),
            burst_start: Default::default(),
            burst_ok: Default::default(),
            w_free: Default::default(),
            w_can: Default::default(),
            w_fire: Default::default(),
            cur: Default::default(),
            pair: Default::default(),
            pick: Default::default(),
            strb: Default::default(),
            beat_last: Default::default(),
        }
    }
}

impl Logic for DmaWriter {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, busy, lane, first_strb, last_strb, w_row, w_left, w_burst_left, w_first, s_left, prev,
            bursts_ahead, err_acc, err, done_q, w_valid, w_data, w_strb, w_last
        );
        clock!(self, clock, aw_issue, owed);

        // ---- Command decode (used in the accepting cycle). ----
        self.cmd_lane.next = self.cmd.addr.val().get_bits::<3>(0);
        self.beats.lane.next = self.cmd_lane.val();
        self.beats.len.next = self.cmd.len.val();
        self.len_lane.next = self.cmd.len.val().get_bits::<3>(0);
        // Lane after the last byte: (addr + len) & 7.
        self.end_lane.next = self.cmd_lane.val() + self.len_lane.val();

        self.can_take.next = !self.busy.q.val() & !self.owed.full.val();
        self.cmd.ready.next = self.can_take.val();
        self.done_q.d.next = false;
        self.aw_issue.load.next = false;
        self.aw_issue.load_addr.next = self.cmd.addr.val();
        self.aw_issue.load_beats.next = self.beats.bus_beats.val();
        // Registers in the condition, not `can_take`: Verilator could not split this block then.
        if self.cmd.valid.val() & !self.busy.q.val() & !self.owed.full.val() {
            self.busy.d.next = true;
            self.aw_issue.load.next = true;
            self.lane.d.next = self.cmd_lane.val();
            self.first_strb.d.next = self.all_lanes.val() << bit_cast::<8, 3>(self.cmd_lane.val());
            self.last_strb.d.next = self.all_lanes.val();
            if self.end_lane.val().any() {
                self.last_strb.d.next = !(self.all_lanes.val() << bit_cast::<8, 3>(self.end_lane.val()));
            }
            self.w_left.d.next = self.beats.bus_beats.val();
            self.s_left.d.next = self.beats.stream_beats.val();
            self.w_row.d.next = self.cmd.addr.val().get_bits::<9>(3);
            self.w_burst_left.d.next = self.zero10.val();
            self.w_first.d.next = true;
        }

        // ---- AW: the command's bursts, back to back, while a response can be owed. ----
        self.aw.valid.next = self.aw_issue.bursts.valid.val() & !self.owed.full.val();
        self.aw.addr.next = self.aw_issue.bursts.addr.val();
        self.aw.len.next = self.aw_issue.bursts.len.val();
        self.aw_issue.bursts.ready.next = self.aw.ready.val() & !self.owed.full.val();
        self.aw_fire.next = self.aw_issue.left.val().any() & self.aw.ready.val() & !self.owed.full.val();
        // The burst closes its command when it carries every beat left.
        self.aw_beats.next = bit_cast::<BEAT_BITS, 8>(self.aw_issue.bursts.len.val()) + self.one_beat.val();
        self.aw_last.next = self.aw_issue.left.val() == self.aw_beats.val();
        self.owed.push.next = self.aw_fire.val();
        self.owed.push_bit.next = self.aw_last.val();

        // ---- B: always taken, in issue order; the closing one completes its command. ----
        self.b.ready.next = true;
        self.b_fire.next = self.b.valid.val();
        self.owed.pop.next = self.b_fire.val();
        self.b_bad.next = self.b.resp.val().any();
        if self.b_fire.val() {
            if self.owed.head.val() {
                self.done_q.d.next = true;
                self.err.d.next = self.err_acc.q.val() | self.b_bad.val();
                self.err_acc.d.next = false;
            } else if self.b_bad.val() {
                self.err_acc.d.next = true;
            }
        }

        // ---- W: the next bus beat, built from {current stream beat, prev}. ----
        self.w_split.row.next = self.w_row.q.val();
        self.w_split.left.next = self.w_left.q.val();
        self.need_stream.next = self.s_left.q.val().any();
        self.burst_start.next = !self.w_burst_left.q.val().any();
        self.burst_ok.next = !self.burst_start.val() | self.bursts_ahead.q.val().any() | self.aw_fire.val();
        self.w_free.next = !self.w_valid.q.val() | self.w.ready.val();
        self.w_can.next = self.busy.q.val() & self.w_left.q.val().any() & self.burst_ok.val() & self.w_free.val();
        self.data.ready.next = self.w_can.val() & self.need_stream.val();
        self.w_fire.next = self.w_can.val() & (!self.need_stream.val() | self.data.valid.val());

        self.cur.next = 0_u64.to_bits();
        if self.need_stream.val() {
            self.cur.next = self.data.data.val();
        }
        self.pair.next = (bit_cast::<128, 64>(self.cur.val()) << 64) | bit_cast::<128, 64>(self.prev.q.val());
        // Lane 0 of the bus beat is byte 8 - a of prev: bit 64 - 8a of the pair.
        self.pick.next = self.sixty_four7.val() - (bit_cast::<7, 3>(self.lane.q.val()) << 3);
        self.strb.next = self.all_lanes.val();
        if self.w_first.q.val() {
            self.strb.next = self.first_strb.q.val();
        }
        if self.w_left.q.val() == self.one_beat.val() {
            self.strb.next = self.strb.val() & self.last_strb.q.val();
        }
        self.beat_last.next = self.w_burst_left.q.val() == self.one10.val();
        if self.burst_start.val() {
            self.beat_last.next = self.w_split.beats.val() == self.one10.val();
        }

        if self.w.ready.val() {
            self.w_valid.d.next = false;
        }
        if self.w_fire.val() {
            self.w_valid.d.next = true;
            self.w_data.d.next = self.pair.val().get_bits::<64>(self.pick.val().index());
            self.w_strb.d.next = self.strb.val();
            self.w_last.d.next = self.beat_last.val();
            self.w_left.d.next = self.w_left.q.val() - self.one_beat.val();
            self.w_row.d.next = self.w_row.q.val() + self.one9.val();
            self.w_first.d.next = false;
            if self.burst_start.val() {
                self.w_burst_left.d.next = self.w_split.beats.val() - self.one10.val();
            } else {
                self.w_burst_left.d.next = self.w_burst_left.q.val() - self.one10.val();
            }
            if self.need_stream.val() {
                self.prev.d.next = self.data.data.val();
                self.s_left.d.next = self.s_left.q.val() - self.one_beat.val();
            }
        }
        if self.aw_fire.val() & !(self.w_fire.val() & self.burst_start.val()) {
            self.bursts_ahead.d.next = self.bursts_ahead.q.val() + self.one_beat.val();
        } else if !self.aw_fire.val() & self.w_fire.val() & self.burst_start.val() {
            self.bursts_ahead.d.next = self.bursts_ahead.q.val() - self.one_beat.val();
        }
        self.w.valid.next = self.w_valid.q.val();
        self.w.data.next = self.w_data.q.val();
        self.w.strb.next = self.w_strb.q.val();
        self.w.last.next = self.w_last.q.val();

        // ---- The next command may come once the last beat is loaded (every
        // burst's address is out by then); a zero-length one is done at once. ----
        if self.w_fire.val() & (self.w_left.q.val() == self.one_beat.val()) {
            self.busy.d.next = false;
        }
        if self.busy.q.val() & !self.w_left.q.val().any() & self.owed.empty.val() {
            self.busy.d.next = false;
            self.done_q.d.next = true;
            self.err.d.next = false;
        }
        self.cmd.done.next = self.done_q.q.val();
        self.cmd.err.next = self.err.q.val() & self.done_q.q.val();
        self.quiet.next = !self.busy.q.val() & !self.w_valid.q.val() & self.owed.empty.val() & !self.done_q.q.val();
    }
}
