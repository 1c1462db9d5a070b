//! SACK blocks for our ACKs (RFC 2018 §4), from the connection's hole table
//! entry (`reassembly.rs`): the range holding the latest segment first, then
//! the others in sequence order, at most four (they fit the 40 option bytes:
//! 2 NOPs, kind, length, 4 × 8). Beside timestamps only three fit (12 more
//! bytes, RFC 2018 §3): the frame builder sends the first three, so this
//! order keeps the D-SACK block and the latest range (RFC 2883 §4, RFC 2018 §4).
//!
//! Which entry: an out-of-order segment's duplicate ACK is composed in the
//! very cycle its range is inserted, so it takes the entry as the merge
//! writes it (`ins_*`, `use_ins`); every other ACK is composed at least one
//! cycle after the last write of the entry, so the table's read port already
//! has it (`rd_*`). A promotion clears every entry before the walk's ACKs are
//! composed, so a promoted card sends no SACK block until the peer sends
//! something out of order to it: blocks the primary sent may be gone
//! (reneging, RFC 2018 §8), the standby never repeats them.
//!
//! Under holdback the ACK (`ack`, at R) may lie below rcv_nxt: the bytes
//! `[ack, rcv_nxt)` were received in order but not released. Such an ACK
//! carries no block at all. A block for `[ack, rcv_nxt)` cannot help: its
//! left edge is the ACK, and a Linux sender discards any block that starts
//! at SND.UNA (`tcp_is_sackblock_valid`; counted as TcpExtTCPSACKDiscard).
//! And blocks for the held ranges above rcv_nxt, without one Linux accepts
//! for `[ack, rcv_nxt)`, make every segment of `[ack, rcv_nxt)` look lost
//! (RFC 6675 §4 IsLost, Linux's RACK: un-SACKed below SACKed), so it sends
//! them all again though the card has them. So blocks go only in ACKs at
//! rcv_nxt, where the first gap above the ACK is a real one; the held ranges
//! are reported again by the ACK the release that reaches rcv_nxt sends
//! (RFC 2018 §4's "SHOULD" for every ACK gives way: under holdback the ACK
//! deliberately does not cover every byte in order).
//!
//! D-SACK (RFC 2883, `dsack.rs`): the ACK that answers a segment with a
//! duplicate run leads with a block for it; `DsackPlace` says whether, with
//! which edges, and what follows (the usual blocks shifted one on, the range
//! holding the run first; or, held back, only `[ack, rcv_nxt)`).
//!
//! The blocks leave packed as the frame builder emits them (network order,
//! block i's left edge in bits 255-64i..224-64i, its right edge below), and
//! blocks past `count` are zero so the builder may sum all sixteen words.
use super::dsack::DsackPlace;
use super::reassembly::{SackBlocks, HOLE_META_BITS, HOLE_SLOTS};
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct SackSource {
    /// The connection negotiated SACK (TCB `sack_ok`) and reassembly is on.
    pub sack_ok: Signal<In, Bit>,
    /// Take the entry being inserted rather than the one on the read port.
    pub use_ins: Signal<In, Bit>,
    pub rd_start: [Signal<In, Bits<32>>; HOLE_SLOTS],
    pub rd_end: [Signal<In, Bits<32>>; HOLE_SLOTS],
    pub rd_meta: Signal<In, Bits<HOLE_META_BITS>>,
    pub ins_start: [Signal<In, Bits<32>>; HOLE_SLOTS],
    pub ins_end: [Signal<In, Bits<32>>; HOLE_SLOTS],
    pub ins_meta: Signal<In, Bits<HOLE_META_BITS>>,
    /// The ACK being sent and rcv_nxt: blocks only when they are equal.
    pub ack: Signal<In, Bits<32>>,
    pub rcv_nxt: Signal<In, Bits<32>>,
    /// The segment this ACK answers had the duplicate run `[dup_start, dup_end)` (dsack.rs).
    pub dup: Signal<In, Bit>,
    pub dup_start: Signal<In, Bits<32>>,
    pub dup_end: Signal<In, Bits<32>>,
    /// A D-SACK block leads: the ACK goes out even if nothing else moved.
    pub dsack: Signal<Out, Bit>,
    /// Blocks to send (0 without SACK, without held ranges, or with the ACK below rcv_nxt).
    pub count: Signal<Out, Bits<3>>,
    pub blocks: Signal<Out, Bits<256>>,

    place: DsackPlace,
    from_rd: SackBlocks,
    from_ins: SackBlocks,
    lead: Signal<Local, Bit>,
    /// The blocks that go, D-SACK included.
    fs: [Signal<Local, Bits<32>>; HOLE_SLOTS],
    fe: [Signal<Local, Bits<32>>; HOLE_SLOTS],
    fcount: Signal<Local, Bits<3>>,
    chosen_count: Signal<Local, Bits<3>>,
    /// The table's blocks, chosen.
    start: [Signal<Local, Bits<32>>; HOLE_SLOTS],
    end: [Signal<Local, Bits<32>>; HOLE_SLOTS],
    total: Signal<Local, Bits<3>>,
    packed: [Signal<Local, Bits<256>>; 5],
    n3: [Constant<Bits<3>>; 5],
    none: Constant<Bits<256>>,
}

impl Default for SackSource {
    fn default() -> Self {
        Self {
            sack_ok: Default::default(),
            use_ins: Default::default(),
            rd_start: Default::default(),
            rd_end: Default::default(),
            rd_meta: Default::default(),
            ins_start: Default::default(),
            ins_end: Default::default(),
            ins_meta: Default::default(),
            ack: Default::default(),
            rcv_nxt: Default::default(),
            dup: Default::default(),
            dup_start: Default::default(),
            dup_end: Default::default(),
            dsack: Default::default(),
            count: Default::default(),
            blocks: Default::default(),
            place: Default::default(),
            lead: Default::default(),
            fs: Default::default(),
            fe: Default::default(),
            fcount: Default::default(),
            from_rd: Default::default(),
            from_ins: Default::default(),
            chosen_count: Default::default(),
            start: Default::default(),
            end: Default::default(),
            total: Default::default(),
            packed: Default::default(),
            n3: core::array::from_fn(|i| Constant::new(Bits::<3>::from(i as u64))),
            none: Constant::new(Bits::<256>::default()),
        }
    }
}

impl Logic for SackSource {
    #[hdl_gen]
    fn update(&mut self) {
        self.from_rd.enable.next = self.sack_ok.val();
        self.from_ins.enable.next = self.sack_ok.val();
        self.place.dup.next = self.dup.val();
        self.place.dup_start.next = self.dup_start.val();
        self.place.dup_end.next = self.dup_end.val();
        self.place.ack.next = self.ack.val();
        self.place.rcv_nxt.next = self.rcv_nxt.val();
        self.place.use_ins.next = self.use_ins.val();
        self.place.rd_meta.next = self.rd_meta.val();
        self.place.ins_meta.next = self.ins_meta.val();
        for i in 0..HOLE_SLOTS {
            self.place.rd_start[i].next = self.rd_start[i].val();
            self.place.rd_end[i].next = self.rd_end[i].val();
            self.place.ins_start[i].next = self.ins_start[i].val();
            self.place.ins_end[i].next = self.ins_end[i].val();
        }
        // A duplicate in a held range: that range follows the D-SACK block.
        self.from_rd.ent_meta.next = self.place.rd_meta_eff.val();
        self.from_ins.ent_meta.next = self.place.ins_meta_eff.val();
        for i in 0..HOLE_SLOTS {
            self.from_rd.ent_start[i].next = self.rd_start[i].val();
            self.from_rd.ent_end[i].next = self.rd_end[i].val();
            self.from_ins.ent_start[i].next = self.ins_start[i].val();
            self.from_ins.ent_end[i].next = self.ins_end[i].val();
        }
        self.chosen_count.next = self.from_rd.sack_count.val();
        for i in 0..HOLE_SLOTS {
            self.start[i].next = self.from_rd.sack_start[i].val();
            self.end[i].next = self.from_rd.sack_end[i].val();
        }
        if self.use_ins.val() {
            self.chosen_count.next = self.from_ins.sack_count.val();
            for i in 0..HOLE_SLOTS {
                self.start[i].next = self.from_ins.sack_start[i].val();
                self.end[i].next = self.from_ins.sack_end[i].val();
            }
        }
        // Holdback: an ACK below rcv_nxt carries none (see the module comment).
        self.total.next = self.chosen_count.val();
        if self.ack.val() != self.rcv_nxt.val() {
            self.total.next = self.n3[0].val();
        }
        // D-SACK: its block first, then three of the others, or (held back)
        // only [ack, rcv_nxt).
        self.lead.next = self.sack_ok.val() & self.place.lead.val();
        self.fcount.next = self.total.val();
        for i in 0..HOLE_SLOTS {
            self.fs[i].next = self.start[i].val();
            self.fe[i].next = self.end[i].val();
        }
        if self.lead.val() {
            self.fs[0].next = self.place.first_start.val();
            self.fe[0].next = self.place.first_end.val();
            if self.place.pair.val() {
                self.fs[1].next = self.ack.val();
                self.fe[1].next = self.rcv_nxt.val();
                self.fcount.next = self.n3[2].val();
            } else {
                for i in 0..3 {
                    self.fs[i + 1].next = self.start[i].val();
                    self.fe[i + 1].next = self.end[i].val();
                }
                self.fcount.next = self.total.val() + self.n3[1].val();
                if self.total.val() > self.n3[2].val() {
                    self.fcount.next = self.n3[4].val();
                }
            }
        }
        // Block i goes in only when the count reaches past it.
        self.packed[0].next = self.none.val();
        self.packed[1].next = self.packed[0].val();
        if self.fcount.val() > self.n3[0].val() {
            self.packed[1].next = self.packed[0].val()
                | (bit_cast::<256, 32>(self.fs[0].val()) << 224)
                | (bit_cast::<256, 32>(self.fe[0].val()) << 192);
        }
        self.packed[2].next = self.packed[1].val();
        if self.fcount.val() > self.n3[1].val() {
            self.packed[2].next = self.packed[1].val()
                | (bit_cast::<256, 32>(self.fs[1].val()) << 160)
                | (bit_cast::<256, 32>(self.fe[1].val()) << 128);
        }
        self.packed[3].next = self.packed[2].val();
        if self.fcount.val() > self.n3[2].val() {
            self.packed[3].next = self.packed[2].val()
                | (bit_cast::<256, 32>(self.fs[2].val()) << 96)
                | (bit_cast::<256, 32>(self.fe[2].val()) << 64);
        }
        self.packed[4].next = self.packed[3].val();
        if self.fcount.val() > self.n3[3].val() {
            self.packed[4].next = self.packed[3].val()
                | (bit_cast::<256, 32>(self.fs[3].val()) << 32)
                | (bit_cast::<256, 32>(self.fe[3].val()) << 0);
        }
        self.dsack.next = self.lead.val();
        self.count.next = self.fcount.val();
        self.blocks.next = self.packed[4].val();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Entry ranges [100,200), [300,400), [500,600); the latest segment went into the second.
    #[test]
    fn blocks_are_packed_latest_first_and_zero_past_the_count() {
        let mut uut = SackSource::default();
        uut.connect_all();
        let ranges = [(100u64, 200u64), (300, 400), (500, 600), (0, 0)];
        for (i, (s, e)) in ranges.iter().enumerate() {
            uut.rd_start[i].next = (*s).into();
            uut.rd_end[i].next = (*e).into();
        }
        // Ranges 0-2 held, the latest (bit 4) is range 1.
        uut.rd_meta.next = (0b0111u64 | (1 << 4) | (1 << 5)).into();
        uut.sack_ok.next = true;
        uut.ack.next = 50u64.into();
        uut.rcv_nxt.next = 50u64.into();
        assert!(simulate(&mut uut, 100));
        assert_eq!(uut.count.val().index(), 3);
        let b = uut.blocks.val();
        let edge = |k: usize| b.get_bits::<32>(224 - 32 * k).index() as u64;
        assert_eq!([edge(0), edge(1), edge(2), edge(3), edge(4), edge(5)], [300, 400, 100, 200, 500, 600]);
        assert_eq!((edge(6), edge(7)), (0, 0));
        // Just held: that range leads.
        uut.use_ins.next = true;
        for (i, (s, e)) in ranges.iter().enumerate() {
            uut.ins_start[i].next = (*s).into();
            uut.ins_end[i].next = (*e).into();
        }
        uut.ins_meta.next = (0b0111u64 | (1 << 4) | (2 << 5)).into();
        assert!(simulate(&mut uut, 100));
        let b = uut.blocks.val();
        let edge = |k: usize| b.get_bits::<32>(224 - 32 * k).index() as u64;
        assert_eq!(uut.count.val().index(), 3);
        assert_eq!((0..8).map(edge).collect::<Vec<_>>(), [500, 600, 100, 200, 300, 400, 0, 0]);
        // Holdback: the ACK at 20 below rcv_nxt 50: no block, from either entry.
        uut.ack.next = 20u64.into();
        assert!(simulate(&mut uut, 100));
        assert_eq!(uut.count.val().index(), 0);
        assert!(uut.blocks.val() == Bits::<256>::default());
        uut.use_ins.next = false;
        assert!(simulate(&mut uut, 100));
        assert_eq!(uut.count.val().index(), 0);
        assert!(uut.blocks.val() == Bits::<256>::default());
        uut.ack.next = 50u64.into();
        uut.sack_ok.next = false;
        assert!(simulate(&mut uut, 100));
        assert_eq!(uut.count.val().index(), 0);
        assert!(uut.blocks.val() == Bits::<256>::default());
    }

    #[test]
    fn sack_source_lints_clean() {
        let v = crate::generate::verilog_named(&mut SackSource::default(), "sack_source").expect("generates");
        crate::check::lint("sack_source", &v).unwrap_or_else(|e| panic!("lint:\n{e}"));
    }
}
