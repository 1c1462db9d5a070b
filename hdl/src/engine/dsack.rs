//! D-SACK (RFC 2883): the ACK that answers a segment carrying bytes the card
//! holds already reports them in a first SACK block, so the peer learns its
//! retransmission was spurious (Linux then widens RACK's reordering window,
//! RFC 8985 §7.2, and may undo the recovery). Both halves are combinational;
//! the reference model makes the same decisions (`refmodel::holes`,
//! `HoleList::duplicate` and `HoleList::sack_blocks_with`; docs/engine.md,
//! "D-SACK").
//!
//! [`DupRange`] finds, in the accept step, the segment's first duplicate run
//! (RFC 2883 §4 rule 3: one contiguous run, its edges those of the run): its
//! bytes below rcv_nxt, else its part inside the first held range it
//! overlaps. [`DsackPlace`] decides, where the ACK is composed (the ACK value
//! and rcv_nxt then known), whether and how the run is reported:
//!
//! - starting below the ACK: `[start, min(end, ack))` first (a first block
//!   below the ACK is a D-SACK to Linux), then the usual blocks if the ACK is
//!   at rcv_nxt;
//! - starting at the ACK, below rcv_nxt (held back): the run and `[ack,
//!   rcv_nxt)` (a first block inside the second is a D-SACK too); Linux's
//!   block checks then drop both (they start at SND.UNA), so nothing is
//!   marked, but the D-SACK was seen;
//! - starting above the ACK, below rcv_nxt: nothing (a block there starts
//!   above SND.UNA: Linux would mark it and take the unreleased bytes below
//!   it for lost);
//! - inside a held range: with the ACK at rcv_nxt the run, then that range
//!   (as the latest segment's: `*_meta_eff` name it), then the others; with
//!   the ACK below rcv_nxt nothing, as for every block then (sack.rs).
use super::reassembly::{HOLE_META_BITS, HOLE_SLOTS};
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct DupRange {
    /// Reassembly is on: else no range is held.
    pub enable: Signal<In, Bit>,
    /// The connection's hole table entry as read with its TCB.
    pub ent_start: [Signal<In, Bits<32>>; HOLE_SLOTS],
    pub ent_end: [Signal<In, Bits<32>>; HOLE_SLOTS],
    /// Which ranges are held (the entry's meta bits 3:0).
    pub ent_held: Signal<In, Bits<HOLE_SLOTS>>,
    pub rcv_nxt: Signal<In, Bits<32>>,
    pub seq: Signal<In, Bits<32>>,
    pub payload_len: Signal<In, Bits<11>>,
    /// Some payload byte is held already: the first such run is `[dup_start, dup_end)`.
    pub dup: Signal<Out, Bit>,
    pub dup_start: Signal<Out, Bits<32>>,
    pub dup_end: Signal<Out, Bits<32>>,

    len32: Signal<Local, Bits<32>>,
    seg_end: Signal<Local, Bits<32>>,
    /// Offsets from rcv_nxt: the segment's start and end, each range's.
    s_off: Signal<Local, Bits<32>>,
    end_off: Signal<Local, Bits<32>>,
    off_s: [Signal<Local, Bits<32>>; HOLE_SLOTS],
    off_e: [Signal<Local, Bits<32>>; HOLE_SLOTS],
    /// Range i is held and overlaps the segment; `seen[i]`: one before i does.
    hit: [Signal<Local, Bit>; HOLE_SLOTS],
    seen: [Signal<Local, Bit>; HOLE_SLOTS],
}

impl Default for DupRange {
    fn default() -> Self {
        Self {
            enable: Default::default(),
            ent_start: Default::default(),
            ent_end: Default::default(),
            ent_held: Default::default(),
            rcv_nxt: Default::default(),
            seq: Default::default(),
            payload_len: Default::default(),
            dup: Default::default(),
            dup_start: Default::default(),
            dup_end: Default::default(),
            len32: Default::default(),
            seg_end: Default::default(),
            s_off: Default::default(),
            end_off: Default::default(),
            off_s: Default::default(),
            off_e: Default::default(),
            hit: Default::default(),
            seen: Default::default(),
        }
    }
}

impl Logic for DupRange {
    #[hdl_gen]
    fn update(&mut self) {
        self.len32.next = bit_cast::<32, 11>(self.payload_len.val());
        self.seg_end.next = self.seq.val() + self.len32.val();
        self.s_off.next = self.seq.val() - self.rcv_nxt.val();
        self.end_off.next = self.s_off.val() + self.len32.val();
        self.seen[0].next = false;
        for i in 0..HOLE_SLOTS {
            self.off_s[i].next = self.ent_start[i].val() - self.rcv_nxt.val();
            self.off_e[i].next = self.ent_end[i].val() - self.rcv_nxt.val();
            self.hit[i].next = self.enable.val()
                & self.ent_held.val().get_bit(i)
                & (self.off_s[i].val() < self.end_off.val())
                & (self.s_off.val() < self.off_e[i].val());
        }
        for i in 0..3 {
            self.seen[i + 1].next = self.seen[i].val() | self.hit[i].val();
        }
        self.dup.next = false;
        self.dup_start.next = self.seq.val();
        self.dup_end.next = self.seg_end.val();
        if self.payload_len.val().any() {
            if self.s_off.val().get_bit(31) {
                // Starts below rcv_nxt: the run ends there, or with the segment.
                self.dup.next = true;
                if !self.end_off.val().get_bit(31) {
                    self.dup_end.next = self.rcv_nxt.val();
                }
            } else {
                for i in 0..HOLE_SLOTS {
                    if self.hit[i].val() & !self.seen[i].val() {
                        self.dup.next = true;
                        if self.s_off.val() < self.off_s[i].val() {
                            self.dup_start.next = self.ent_start[i].val();
                        }
                        if !(self.end_off.val() < self.off_e[i].val()) {
                            self.dup_end.next = self.ent_end[i].val();
                        }
                    }
                }
            }
        }
    }
}

#[derive(LogicBlock)]
pub struct DsackPlace {
    /// The segment this ACK answers had a duplicate run `[dup_start, dup_end)`.
    pub dup: Signal<In, Bit>,
    pub dup_start: Signal<In, Bits<32>>,
    pub dup_end: Signal<In, Bits<32>>,
    /// The ACK being sent and rcv_nxt.
    pub ack: Signal<In, Bits<32>>,
    pub rcv_nxt: Signal<In, Bits<32>>,
    /// The entry the blocks come from (`sack.rs`: the one being inserted, or the stored one).
    pub use_ins: Signal<In, Bit>,
    pub rd_start: [Signal<In, Bits<32>>; HOLE_SLOTS],
    pub rd_end: [Signal<In, Bits<32>>; HOLE_SLOTS],
    pub rd_meta: Signal<In, Bits<HOLE_META_BITS>>,
    pub ins_start: [Signal<In, Bits<32>>; HOLE_SLOTS],
    pub ins_end: [Signal<In, Bits<32>>; HOLE_SLOTS],
    pub ins_meta: Signal<In, Bits<HOLE_META_BITS>>,
    /// A D-SACK block `[first_start, first_end)` leads.
    pub lead: Signal<Out, Bit>,
    /// Held back: only it and `[ack, rcv_nxt)` go.
    pub pair: Signal<Out, Bit>,
    pub first_start: Signal<Out, Bits<32>>,
    pub first_end: Signal<Out, Bits<32>>,
    /// The entries' meta words with the range holding the run as the latest.
    pub rd_meta_eff: Signal<Out, Bits<HOLE_META_BITS>>,
    pub ins_meta_eff: Signal<Out, Bits<HOLE_META_BITS>>,

    s_ack: Signal<Local, Bits<32>>,
    e_ack: Signal<Local, Bits<32>>,
    s_nxt: Signal<Local, Bits<32>>,
    e_nxt: Signal<Local, Bits<32>>,
    held: Signal<Local, Bit>,
    c_start: [Signal<Local, Bits<32>>; HOLE_SLOTS],
    c_end: [Signal<Local, Bits<32>>; HOLE_SLOTS],
    c_held: Signal<Local, Bits<HOLE_SLOTS>>,
    st_off: [Signal<Local, Bits<32>>; HOLE_SLOTS],
    en_off: [Signal<Local, Bits<32>>; HOLE_SLOTS],
    latest: Signal<Local, Bits<HOLE_META_BITS>>,
    found: Signal<Local, Bit>,
    /// Bit 4 (the latest is held) with index i in bits 6:5.
    latest_is: [Constant<Bits<HOLE_META_BITS>>; HOLE_SLOTS],
    ranges_mask: Constant<Bits<HOLE_META_BITS>>,
}

impl Default for DsackPlace {
    fn default() -> Self {
        Self {
            dup: Default::default(),
            dup_start: Default::default(),
            dup_end: Default::default(),
            ack: Default::default(),
            rcv_nxt: Default::default(),
            use_ins: Default::default(),
            rd_start: Default::default(),
            rd_end: Default::default(),
            rd_meta: Default::default(),
            ins_start: Default::default(),
            ins_end: Default::default(),
            ins_meta: Default::default(),
            lead: Default::default(),
            pair: Default::default(),
            first_start: Default::default(),
            first_end: Default::default(),
            rd_meta_eff: Default::default(),
            ins_meta_eff: Default::default(),
            s_ack: Default::default(),
            e_ack: Default::default(),
            s_nxt: Default::default(),
            e_nxt: Default::default(),
            held: Default::default(),
            c_start: Default::default(),
            c_end: Default::default(),
            c_held: Default::default(),
            st_off: Default::default(),
            en_off: Default::default(),
            latest: Default::default(),
            found: Default::default(),
            latest_is: core::array::from_fn(|i| Constant::new(Bits::<HOLE_META_BITS>::from((1u64 << 4) | ((i as u64) << 5)))),
            ranges_mask: Constant::new(Bits::<HOLE_META_BITS>::from(0b1111u64)),
        }
    }
}

impl Logic for DsackPlace {
    #[hdl_gen]
    fn update(&mut self) {
        self.s_ack.next = self.dup_start.val() - self.ack.val();
        self.e_ack.next = self.dup_end.val() - self.ack.val();
        self.s_nxt.next = self.dup_start.val() - self.rcv_nxt.val();
        self.e_nxt.next = self.dup_end.val() - self.rcv_nxt.val();
        self.lead.next = false;
        self.pair.next = false;
        self.held.next = false;
        self.first_start.next = self.dup_start.val();
        self.first_end.next = self.dup_end.val();
        if self.dup.val() {
            if self.s_ack.val().get_bit(31) {
                self.lead.next = true;
                // The run ends at the ACK or before it (serial order: the sign bit).
                if self.e_ack.val() < 0x8000_0000_u32.to_bits() {
                    self.first_end.next = self.ack.val();
                }
            } else if (self.s_ack.val() == 0_u32.to_bits()) & self.s_nxt.val().get_bit(31) {
                self.lead.next = true;
                self.pair.next = true;
                if self.e_nxt.val() < 0x8000_0000_u32.to_bits() {
                    self.first_end.next = self.rcv_nxt.val();
                }
            } else if !self.s_nxt.val().get_bit(31) & (self.ack.val() == self.rcv_nxt.val()) {
                self.lead.next = true;
                self.held.next = true;
            }
        }
        // A run in a held range: the range holding it is reported next.
        for i in 0..HOLE_SLOTS {
            self.c_start[i].next = self.rd_start[i].val();
            self.c_end[i].next = self.rd_end[i].val();
        }
        self.c_held.next = self.rd_meta.val().get_bits::<HOLE_SLOTS>(0);
        if self.use_ins.val() {
            for i in 0..HOLE_SLOTS {
                self.c_start[i].next = self.ins_start[i].val();
                self.c_end[i].next = self.ins_end[i].val();
            }
            self.c_held.next = self.ins_meta.val().get_bits::<HOLE_SLOTS>(0);
        }
        self.found.next = false;
        self.latest.next = self.latest_is[0].val();
        for i in 0..HOLE_SLOTS {
            self.st_off[i].next = self.c_start[i].val() - self.rcv_nxt.val();
            self.en_off[i].next = self.c_end[i].val() - self.rcv_nxt.val();
            if self.c_held.val().get_bit(i) & !(self.s_nxt.val() < self.st_off[i].val()) & (self.s_nxt.val() < self.en_off[i].val()) {
                self.found.next = true;
                self.latest.next = self.latest_is[i].val();
            }
        }
        self.rd_meta_eff.next = self.rd_meta.val();
        self.ins_meta_eff.next = self.ins_meta.val();
        if self.held.val() & self.found.val() {
            self.rd_meta_eff.next = (self.rd_meta.val() & self.ranges_mask.val()) | self.latest.val();
            self.ins_meta_eff.next = (self.ins_meta.val() & self.ranges_mask.val()) | self.latest.val();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dup_range_and_dsack_place_lint_clean() {
        let v = crate::generate::verilog_named(&mut DupRange::default(), "dup_range").expect("generates");
        crate::check::lint("dup_range", &v).unwrap_or_else(|e| panic!("lint:\n{e}"));
        let v = crate::generate::verilog_named(&mut DsackPlace::default(), "dsack_place").expect("generates");
        crate::check::lint("dsack_place", &v).unwrap_or_else(|e| panic!("lint:\n{e}"));
    }

    /// Ranges [300,400), [600,700) beyond rcv_nxt 100: below rcv_nxt, inside
    /// the second range, spanning the first's end, touching without overlap.
    #[test]
    fn the_first_duplicate_run_is_found() {
        let mut uut = DupRange::default();
        uut.connect_all();
        uut.enable.next = true;
        uut.rcv_nxt.next = 100u64.into();
        for (i, (s, e)) in [(300u64, 400u64), (600, 700)].iter().enumerate() {
            uut.ent_start[i].next = (*s).into();
            uut.ent_end[i].next = (*e).into();
        }
        uut.ent_held.next = 0b0011u64.into();
        let mut run = |seq: u64, len: u64| {
            uut.seq.next = seq.into();
            uut.payload_len.next = len.into();
            assert!(simulate(&mut uut, 100));
            uut.dup.val().then(|| (uut.dup_start.val().index() as u64, uut.dup_end.val().index() as u64))
        };
        assert_eq!(run(50, 30), Some((50, 80)));
        assert_eq!(run(50, 100), Some((50, 100)));
        assert_eq!(run(620, 50), Some((620, 670)));
        assert_eq!(run(350, 300), Some((350, 400)));
        assert_eq!(run(250, 100), Some((300, 350)));
        assert_eq!(run(400, 200), None);
        assert_eq!(run(100, 0), None);
    }
}
