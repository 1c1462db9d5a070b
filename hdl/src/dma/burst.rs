//! The burst arithmetic both engines share.
//!
//! [`BurstSplit`]: how many beats the next burst of a transfer carries: as
//! many as the transfer still needs, at most the generation limit, and never
//! past the end of the 4 KiB page the burst starts in (AXI4 and PCIe both
//! forbid a burst across a 4 KiB boundary). Combinational; the address and
//! data sides of each engine use one instance each, fed the same sequence,
//! so they agree on every burst boundary without passing lengths between
//! them. [`CmdBeats`]: how many bus and stream beats a command spans.
//! [`BurstIssuer`]: the address channel, walking a command's bursts.
use super::{AxiAddrSource, BEAT_BITS, LEN_BITS};
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct BurstSplit {
    /// Bits 11:3 of the burst's start address: its 8-byte row in the page.
    pub row: Signal<In, Bits<9>>,
    /// Beats the transfer still needs (0: the output is 0).
    pub left: Signal<In, Bits<BEAT_BITS>>,
    /// Beats of the burst starting at `row`.
    pub beats: Signal<Out, Bits<10>>,
    max_beats: Constant<Bits<10>>,
    rows_per_page: Constant<Bits<10>>,
    to_page_end: Signal<Local, Bits<10>>,
    cap: Signal<Local, Bits<10>>,
    cap_wide: Signal<Local, Bits<BEAT_BITS>>,
    left_low: Signal<Local, Bits<10>>,
}

impl BurstSplit {
    /// # Panics
    /// If `max_beats` is not in 1..=256 (AXI4's AxLEN is 8 bits).
    pub fn new(max_beats: u32) -> BurstSplit {
        assert!((1..=256).contains(&max_beats), "burst limit {max_beats} is not in 1..=256 beats");
        BurstSplit {
            row: Default::default(),
            left: Default::default(),
            beats: Default::default(),
            max_beats: Constant::new((max_beats as u64).into()),
            rows_per_page: Constant::new(512_u64.into()),
            to_page_end: Default::default(),
            cap: Default::default(),
            cap_wide: Default::default(),
            left_low: Default::default(),
        }
    }
}

impl Logic for BurstSplit {
    #[hdl_gen]
    fn update(&mut self) {
        // 512 - row is 1..=512: ten bits hold it without wrapping.
        self.to_page_end.next = self.rows_per_page.val() - bit_cast::<10, 9>(self.row.val());
        self.cap.next = self.max_beats.val();
        if self.to_page_end.val() < self.max_beats.val() {
            self.cap.next = self.to_page_end.val();
        }
        // Fewer beats left than the cap: then they fit in ten bits too.
        self.cap_wide.next = bit_cast::<14, 10>(self.cap.val());
        self.left_low.next = self.left.val().get_bits::<10>(0);
        self.beats.next = self.cap.val();
        if self.left.val() < self.cap_wide.val() {
            self.beats.next = self.left_low.val();
        }
    }
}

/// How many beats a command spans: `ceil((lane + len) / 8)` on the bus (0
/// for a zero-length command: no beat, not one beat without strobes) and
/// `ceil(len / 8)` in the core's stream. Combinational.
#[derive(LogicBlock)]
pub struct CmdBeats {
    /// `addr & 7` of the command.
    pub lane: Signal<In, Bits<3>>,
    pub len: Signal<In, Bits<LEN_BITS>>,
    pub bus_beats: Signal<Out, Bits<BEAT_BITS>>,
    pub stream_beats: Signal<Out, Bits<BEAT_BITS>>,
    one_beat: Constant<Bits<BEAT_BITS>>,
    zero_beats: Constant<Bits<BEAT_BITS>>,
    end_sum: Signal<Local, Bits<17>>,
    end_lane: Signal<Local, Bits<3>>,
    end_whole: Signal<Local, Bits<BEAT_BITS>>,
    len_whole: Signal<Local, Bits<13>>,
    len_lane: Signal<Local, Bits<3>>,
}

impl Default for CmdBeats {
    fn default() -> Self {
        CmdBeats {
            lane: Default::default(),
            len: Default::default(),
            bus_beats: Default::default(),
            stream_beats: Default::default(),
            one_beat: Constant::new(1_u64.into()),
            zero_beats: Constant::new(0_u64.into()),
            end_sum: Default::default(),
            end_lane: Default::default(),
            end_whole: Default::default(),
            len_whole: Default::default(),
            len_lane: Default::default(),
        }
    }
}

impl Logic for CmdBeats {
    #[hdl_gen]
    fn update(&mut self) {
        // ceil(x / 8): the whole rows, plus one for a partial last row.
        self.end_sum.next = bit_cast::<17, 3>(self.lane.val()) + bit_cast::<17, 16>(self.len.val());
        self.end_lane.next = self.end_sum.val().get_bits::<3>(0);
        self.end_whole.next = self.end_sum.val().get_bits::<14>(3);
        self.bus_beats.next = self.end_whole.val();
        if self.end_lane.val().any() {
            self.bus_beats.next = self.end_whole.val() + self.one_beat.val();
        }
        if !self.len.val().any() {
            self.bus_beats.next = self.zero_beats.val();
        }
        self.len_whole.next = self.len.val().get_bits::<13>(3);
        self.len_lane.next = self.len.val().get_bits::<3>(0);
        self.stream_beats.next = bit_cast::<14, 13>(self.len_whole.val());
        if self.len_lane.val().any() {
            self.stream_beats.next = bit_cast::<14, 13>(self.len_whole.val()) + self.one_beat.val();
        }
    }
}

/// The address channel of one engine (AW or AR): loaded with a command's
/// address and bus beats, it announces the command's bursts back to back,
/// each as long as [`BurstSplit`] allows. Only the first burst carries the
/// command's unaligned address; the others start on the row after the
/// previous burst.
#[derive(LogicBlock)]
pub struct BurstIssuer {
    pub clock: Signal<In, Clock>,
    pub load: Signal<In, Bit>,
    pub load_addr: Signal<In, Bits<64>>,
    pub load_beats: Signal<In, Bits<BEAT_BITS>>,
    pub bursts: AxiAddrSource,
    /// Beats not yet announced; `bursts.valid` is high while it is not 0.
    pub left: Signal<Out, Bits<BEAT_BITS>>,
    split: BurstSplit,
    addr: DFF<Bits<64>>,
    left_q: DFF<Bits<BEAT_BITS>>,
    row_base_mask: Constant<Bits<64>>,
    fire: Signal<Local, Bit>,
    beats8: Signal<Local, Bits<8>>,
    step: Signal<Local, Bits<64>>,
}

impl BurstIssuer {
    /// # Panics
    /// If `max_beats` is not in 1..=256.
    pub fn new(max_beats: u32) -> BurstIssuer {
        BurstIssuer {
            clock: Default::default(),
            load: Default::default(),
            load_addr: Default::default(),
            load_beats: Default::default(),
            bursts: Default::default(),
            left: Default::default(),
            split: BurstSplit::new(max_beats),
            addr: Default::default(),
            left_q: Default::default(),
            row_base_mask: Constant::new((!7_u64).into()),
            fire: Default::default(),
            beats8: Default::default(),
            step: Default::default(),
        }
    }
}

impl Logic for BurstIssuer {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, addr, left_q);
        self.split.row.next = self.addr.q.val().get_bits::<9>(3);
        self.split.left.next = self.left_q.q.val();
        self.bursts.valid.next = self.left_q.q.val().any();
        self.bursts.addr.next = self.addr.q.val();
        // At most 256 beats: the low 8 bits minus one wrap 256 to AxLEN 255.
        self.beats8.next = self.split.beats.val().get_bits::<8>(0);
        self.bursts.len.next = self.beats8.val() - 1_u8.to_bits();
        self.fire.next = self.left_q.q.val().any() & self.bursts.ready.val();
        self.step.next = bit_cast::<64, 10>(self.split.beats.val()) << 3;
        if self.fire.val() {
            self.addr.d.next = (self.addr.q.val() & self.row_base_mask.val()) + self.step.val();
            self.left_q.d.next = self.left_q.q.val() - bit_cast::<14, 10>(self.split.beats.val());
        }
        if self.load.val() {
            self.addr.d.next = self.load_addr.val();
            self.left_q.d.next = self.load_beats.val();
        }
        self.left.next = self.left_q.q.val();
    }
}
