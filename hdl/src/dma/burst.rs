//! How many beats the next burst of a transfer carries: as many as the
//! transfer still needs, at most the generation limit, and never past the end
//! of the 4 KiB page the burst starts in (AXI4 and PCIe both forbid a burst
//! across a 4 KiB boundary). Combinational; the address and data sides of
//! each engine use one instance each, fed the same sequence, so they agree on
//! every burst boundary without passing lengths between them.
use super::BEAT_BITS;
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
