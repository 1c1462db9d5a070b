//! Out-of-order reassembly: per connection, up to four ranges held in the
//! host receive ring beyond rcv_nxt (RFC 9293 §3.10.7.4: such segments
//! "should be held"). The ranges live in their own block RAM beside the TCB
//! table (the engine's `hole_*` memories), not in the TCB: they are not
//! replicated, and a promoted standby resumes from R without them
//! (docs/failover.md, invariant 3).
//!
//! [`HoleMerge`] is what the engine decides from one entry, all
//! combinational: the entry comes from the table's read port (the engine
//! reads it with the TCB, at the same address) and its outputs are the new
//! entry the engine writes back. The rules (docs/engine.md, "Reassembly and
//! SACK"; the reference model's `refmodel::holes` makes the same decisions and
//! `sim/tests/ooo_hole_table.rs` scores the Verilated table against it):
//!
//! - the ranges are sorted by start, disjoint and never touching, all beyond
//!   rcv_nxt; every comparison is an offset from rcv_nxt, so the order holds
//!   across the 2^32 wrap;
//! - an out-of-order segment's bytes are cut at the window (`rcv_adv`) and at
//!   what the ring holds (`rel + ring_window`), as in-order bytes are;
//! - the first copy wins: the segment's head is cut at the end of a range it
//!   starts in and its tail at the start of the next range, so what is
//!   written (`new_start`, `new_len`) never covers a held byte; a segment
//!   wholly held is a `duplicate`, one that would need a fifth range is
//!   refused (`over_limit`);
//! - in order, bytes stop at the first held range (`take_capped`); reaching
//!   it moves rcv_nxt to its end (`jump`, `jump_to`) and frees it;
//! - SACK blocks (RFC 2018 §4, [`SackBlocks`]): the range holding the latest
//!   segment first, then the others in sequence order.
//!
//! Entry layout: four starts, four ends (32 bits each) and `meta`: bits 3:0
//! which ranges are held (a prefix), bit 4 the latest segment's range is
//! still held, bits 6:5 its index.
use rust_hdl::prelude::*;

/// Out-of-order ranges held per connection.
pub const HOLE_SLOTS: usize = 4;
/// Bits of an entry's `meta` word.
pub const HOLE_META_BITS: usize = 7;

#[derive(LogicBlock)]
pub struct HoleMerge {
    /// Reassembly is on: else the entry reads as empty and nothing is held.
    pub enable: Signal<In, Bit>,
    /// The connection's entry, from the table's read port.
    pub ent_start: [Signal<In, Bits<32>>; HOLE_SLOTS],
    pub ent_end: [Signal<In, Bits<32>>; HOLE_SLOTS],
    pub ent_meta: Signal<In, Bits<HOLE_META_BITS>>,
    // The working TCB's receive side.
    pub rcv_nxt: Signal<In, Bits<32>>,
    pub rcv_adv: Signal<In, Bits<32>>,
    pub rel: Signal<In, Bits<32>>,
    /// Bytes the host's receive ring holds beyond R.
    pub ring_window: Signal<In, Bits<32>>,
    // The segment.
    pub seq: Signal<In, Bits<32>>,
    pub payload_len: Signal<In, Bits<11>>,
    /// Its new in-order bytes from rcv_nxt on (`seg_check`'s `take`).
    pub take: Signal<In, Bits<32>>,

    /// Out of order: some of its bytes are new, `[new_start, new_start + new_len)`.
    pub held: Signal<Out, Bit>,
    pub over_limit: Signal<Out, Bit>,
    pub new_start: Signal<Out, Bits<32>>,
    pub new_len: Signal<Out, Bits<11>>,
    /// `new_start - seq`: where the new bytes start in the payload.
    pub new_skip: Signal<Out, Bits<11>>,
    /// The entry once the segment is held.
    pub ins_start: [Signal<Out, Bits<32>>; HOLE_SLOTS],
    pub ins_end: [Signal<Out, Bits<32>>; HOLE_SLOTS],
    pub ins_meta: Signal<Out, Bits<HOLE_META_BITS>>,

    /// In order: `take` stopped at the first held range.
    pub take_capped: Signal<Out, Bits<32>>,
    /// The in-order bytes reach the first held range: rcv_nxt := `jump_to`.
    pub jump: Signal<Out, Bit>,
    pub jump_to: Signal<Out, Bits<32>>,
    /// The entry once the first range is taken.
    pub adv_start: [Signal<Out, Bits<32>>; HOLE_SLOTS],
    pub adv_end: [Signal<Out, Bits<32>>; HOLE_SLOTS],
    pub adv_meta: Signal<Out, Bits<HOLE_META_BITS>>,

    /// Every byte of the out-of-order segment is held already.
    duplicate: Signal<Local, Bit>,
    valid: [Signal<Local, Bit>; HOLE_SLOTS],
    last_valid: Signal<Local, Bit>,
    last: Signal<Local, Bits<2>>,
    // Padded views of the entry: index i + 1 is range i, 0 and 5 are empty.
    ps: [Signal<Local, Bits<32>>; 6],
    pe: [Signal<Local, Bits<32>>; 6],
    pv: [Signal<Local, Bit>; 6],
    len32: Signal<Local, Bits<32>>,
    s_off: Signal<Local, Bits<32>>,
    end_off: Signal<Local, Bits<32>>,
    rcv_wnd: Signal<Local, Bits<32>>,
    room: Signal<Local, Bits<32>>,
    e_off: Signal<Local, Bits<32>>,
    in_room: Signal<Local, Bit>,
    off_s: [Signal<Local, Bits<32>>; HOLE_SLOTS],
    off_e: [Signal<Local, Bits<32>>; HOLE_SLOTS],
    /// Range i ends before the segment starts, not touching it (a prefix);
    /// padded: index i + 1, index 0 always set.
    before: [Signal<Local, Bit>; 5],
    /// Slot i is where the segment's range goes (the first not before it);
    /// padded: index i + 1, index 0 never set.
    at: [Signal<Local, Bit>; 5],
    head_i: [Signal<Local, Bit>; HOLE_SLOTS],
    tail_i: [Signal<Local, Bit>; HOLE_SLOTS],
    head: Signal<Local, Bit>,
    tail: Signal<Local, Bit>,
    head_start: Signal<Local, Bits<32>>,
    head_end: Signal<Local, Bits<32>>,
    tail_end: Signal<Local, Bits<32>>,
    head_end_off: Signal<Local, Bits<32>>,
    seg_end: Signal<Local, Bits<32>>,
    write_start: Signal<Local, Bits<32>>,
    // A copy is below 2048 bytes: its length and skip are 11-bit arithmetic.
    write_start11: Signal<Local, Bits<11>>,
    write_end11: Signal<Local, Bits<11>>,
    seq11: Signal<Local, Bits<11>>,
    merged_start: Signal<Local, Bits<32>>,
    merged_end: Signal<Local, Bits<32>>,
    /// Ranges the segment's range absorbs: none or two (else one).
    merge0: Signal<Local, Bit>,
    merge2: Signal<Local, Bit>,
    ins_valid: [Signal<Local, Bit>; HOLE_SLOTS],
    new_last: Signal<Local, Bits<2>>,
    first_off: Signal<Local, Bits<32>>,
    adv_last: Signal<Local, Bits<2>>,
    l2: [Constant<Bits<2>>; HOLE_SLOTS],
    meta_bit: [Constant<Bits<HOLE_META_BITS>>; 5],
}

impl Default for HoleMerge {
    fn default() -> Self {
        Self {
            enable: Default::default(),
            ent_start: Default::default(),
            ent_end: Default::default(),
            ent_meta: Default::default(),
            rcv_nxt: Default::default(),
            rcv_adv: Default::default(),
            rel: Default::default(),
            ring_window: Default::default(),
            seq: Default::default(),
            payload_len: Default::default(),
            take: Default::default(),
            held: Default::default(),
            over_limit: Default::default(),
            new_start: Default::default(),
            new_len: Default::default(),
            new_skip: Default::default(),
            ins_start: Default::default(),
            ins_end: Default::default(),
            ins_meta: Default::default(),
            take_capped: Default::default(),
            jump: Default::default(),
            jump_to: Default::default(),
            adv_start: Default::default(),
            adv_end: Default::default(),
            adv_meta: Default::default(),
            duplicate: Default::default(),
            valid: Default::default(),
            last_valid: Default::default(),
            last: Default::default(),
            ps: Default::default(),
            pe: Default::default(),
            pv: Default::default(),
            len32: Default::default(),
            s_off: Default::default(),
            end_off: Default::default(),
            rcv_wnd: Default::default(),
            room: Default::default(),
            e_off: Default::default(),
            in_room: Default::default(),
            off_s: Default::default(),
            off_e: Default::default(),
            before: Default::default(),
            at: Default::default(),
            head_i: Default::default(),
            tail_i: Default::default(),
            head: Default::default(),
            tail: Default::default(),
            head_start: Default::default(),
            head_end: Default::default(),
            tail_end: Default::default(),
            head_end_off: Default::default(),
            seg_end: Default::default(),
            write_start: Default::default(),
            write_start11: Default::default(),
            write_end11: Default::default(),
            seq11: Default::default(),
            merged_start: Default::default(),
            merged_end: Default::default(),
            merge0: Default::default(),
            merge2: Default::default(),
            ins_valid: Default::default(),
            new_last: Default::default(),
            first_off: Default::default(),
            adv_last: Default::default(),
            l2: core::array::from_fn(|i| Constant::new(Bits::<2>::from(i as u64))),
            // Bits 0..3: range i held; bit 4: the latest segment's range is held.
            meta_bit: core::array::from_fn(|i| Constant::new(Bits::<HOLE_META_BITS>::from(1u64 << i))),
        }
    }
}

impl Logic for HoleMerge {
    #[hdl_gen]
    fn update(&mut self) {
        for i in 0..HOLE_SLOTS {
            self.valid[i].next = self.enable.val() & self.ent_meta.val().get_bit(i);
        }
        self.last_valid.next = self.enable.val() & self.ent_meta.val().get_bit(4);
        self.last.next = self.ent_meta.val().get_bits::<2>(5);
        // Padded views, so slot i can name its neighbours i - 1 and i + 1.
        self.ps[0].next = 0_u32.to_bits();
        self.pe[0].next = 0_u32.to_bits();
        self.pv[0].next = false;
        self.ps[5].next = 0_u32.to_bits();
        self.pe[5].next = 0_u32.to_bits();
        self.pv[5].next = false;
        for i in 0..HOLE_SLOTS {
            self.ps[i + 1].next = self.ent_start[i].val();
            self.pe[i + 1].next = self.ent_end[i].val();
            self.pv[i + 1].next = self.valid[i].val();
        }

        // Out of order: the segment's bytes in the window and the ring, as
        // offsets from rcv_nxt.
        self.len32.next = bit_cast::<32, 11>(self.payload_len.val());
        self.s_off.next = self.seq.val() - self.rcv_nxt.val();
        self.end_off.next = self.s_off.val() + self.len32.val();
        self.rcv_wnd.next = self.rcv_adv.val() - self.rcv_nxt.val();
        self.room.next = self.rel.val() + self.ring_window.val() - self.rcv_nxt.val();
        self.e_off.next = self.end_off.val();
        if self.rcv_wnd.val() < self.e_off.val() {
            self.e_off.next = self.rcv_wnd.val();
        }
        if self.room.val() < self.e_off.val() {
            self.e_off.next = self.room.val();
        }
        self.in_room.next = self.s_off.val() < self.e_off.val();
        self.seg_end.next = self.rcv_nxt.val() + self.e_off.val();

        // Where it falls among the held ranges.
        self.before[0].next = true;
        for i in 0..HOLE_SLOTS {
            self.off_s[i].next = self.ent_start[i].val() - self.rcv_nxt.val();
            self.off_e[i].next = self.ent_end[i].val() - self.rcv_nxt.val();
            self.before[i + 1].next = self.valid[i].val() & (self.off_e[i].val() < self.s_off.val());
        }
        self.at[0].next = false;
        for i in 0..HOLE_SLOTS {
            self.at[i + 1].next = self.before[i].val() & !self.before[i + 1].val();
        }
        self.head.next = false;
        self.head_start.next = 0_u32.to_bits();
        self.head_end.next = 0_u32.to_bits();
        for i in 0..HOLE_SLOTS {
            // The range at the segment's slot holds its first byte, or ends right where it starts.
            self.head_i[i].next = self.at[i + 1].val() & self.valid[i].val() & !(self.s_off.val() < self.off_s[i].val());
            if self.head_i[i].val() {
                self.head.next = true;
                self.head_start.next = self.ent_start[i].val();
                self.head_end.next = self.ent_end[i].val();
            }
        }
        self.tail.next = false;
        self.tail_end.next = 0_u32.to_bits();
        self.write_end11.next = self.seg_end.val().get_bits::<11>(0);
        for i in 0..HOLE_SLOTS {
            // The next range after the head (or at the segment's slot) starts
            // within the segment, or right at its end.
            self.tail_i[i].next = self.valid[i].val() & !(self.e_off.val() < self.off_s[i].val());
            if self.head.val() {
                self.tail_i[i].next = self.tail_i[i].val() & self.at[i].val();
            } else {
                self.tail_i[i].next = self.tail_i[i].val() & self.at[i + 1].val();
            }
            if self.tail_i[i].val() {
                self.tail.next = true;
                self.write_end11.next = self.ent_start[i].val().get_bits::<11>(0);
                self.tail_end.next = self.ent_end[i].val();
            }
        }
        self.head_end_off.next = self.head_end.val() - self.rcv_nxt.val();
        self.write_start.next = self.seq.val();
        self.merged_start.next = self.seq.val();
        if self.head.val() {
            self.write_start.next = self.head_end.val();
            self.merged_start.next = self.head_start.val();
        }
        self.merged_end.next = self.seg_end.val();
        if self.tail.val() {
            self.merged_end.next = self.tail_end.val();
        }
        self.merge0.next = !self.head.val() & !self.tail.val();
        self.merge2.next = self.head.val() & self.tail.val();
        self.duplicate.next = self.enable.val() & self.in_room.val() & self.head.val() & !(self.head_end_off.val() < self.e_off.val());
        self.over_limit.next =
            self.enable.val() & self.in_room.val() & !self.duplicate.val() & self.valid[3].val() & self.merge0.val();
        self.held.next = self.enable.val() & self.in_room.val() & !self.duplicate.val() & !self.over_limit.val();
        self.write_start11.next = self.write_start.val().get_bits::<11>(0);
        self.seq11.next = self.seq.val().get_bits::<11>(0);
        self.new_start.next = self.write_start.val();
        self.new_len.next = self.write_end11.val() - self.write_start11.val();
        self.new_skip.next = self.write_start11.val() - self.seq11.val();

        // The entry with the segment: slots before it stay, its slot gets the
        // merged range, the ones after come from i - 1, i or i + 1 as it
        // absorbed none, one or two.
        self.new_last.next = self.l2[0].val();
        for i in 0..HOLE_SLOTS {
            self.ins_start[i].next = self.ent_start[i].val();
            self.ins_end[i].next = self.ent_end[i].val();
            self.ins_valid[i].next = self.valid[i].val();
            if self.at[i + 1].val() {
                self.ins_start[i].next = self.merged_start.val();
                self.ins_end[i].next = self.merged_end.val();
                self.ins_valid[i].next = true;
                self.new_last.next = self.l2[i].val();
            } else if !self.before[i + 1].val() {
                if self.merge0.val() {
                    self.ins_start[i].next = self.ps[i].val();
                    self.ins_end[i].next = self.pe[i].val();
                    self.ins_valid[i].next = self.pv[i].val();
                } else if self.merge2.val() {
                    self.ins_start[i].next = self.ps[i + 2].val();
                    self.ins_end[i].next = self.pe[i + 2].val();
                    self.ins_valid[i].next = self.pv[i + 2].val();
                }
            }
        }
        self.ins_meta.next = (bit_cast::<HOLE_META_BITS, 2>(self.new_last.val()) << 5) | self.meta_bit[4].val();
        for i in 0..HOLE_SLOTS {
            if self.ins_valid[i].val() {
                self.ins_meta.next = self.ins_meta.val() | self.meta_bit[i].val();
            }
        }

        // In order: bytes stop at the first held range; reaching it takes it.
        self.first_off.next = self.ent_start[0].val() - self.rcv_nxt.val();
        self.take_capped.next = self.take.val();
        self.jump.next = false;
        if self.valid[0].val() & !(self.take.val() < self.first_off.val()) {
            self.take_capped.next = self.first_off.val();
            self.jump.next = true;
        }
        self.jump_to.next = self.ent_end[0].val();
        for i in 0..HOLE_SLOTS {
            self.adv_start[i].next = self.ps[i + 2].val();
            self.adv_end[i].next = self.pe[i + 2].val();
        }
        self.adv_last.next = self.last.val() - self.l2[1].val();
        self.adv_meta.next = bit_cast::<HOLE_META_BITS, 2>(self.adv_last.val()) << 5;
        if self.last_valid.val() & (self.last.val() != self.l2[0].val()) {
            self.adv_meta.next = self.adv_meta.val() | self.meta_bit[4].val();
        }
        for i in 0..HOLE_SLOTS {
            if self.pv[i + 2].val() {
                self.adv_meta.next = self.adv_meta.val() | self.meta_bit[i].val();
            }
        }

    }
}

/// The SACK blocks an entry makes (RFC 2018 §4): the range holding the
/// latest segment first, then the others in sequence order; `sack_count` of them.
#[derive(LogicBlock)]
pub struct SackBlocks {
    /// Reassembly is on: else the entry reads as empty.
    pub enable: Signal<In, Bit>,
    pub ent_start: [Signal<In, Bits<32>>; HOLE_SLOTS],
    pub ent_end: [Signal<In, Bits<32>>; HOLE_SLOTS],
    pub ent_meta: Signal<In, Bits<HOLE_META_BITS>>,
    pub sack_start: [Signal<Out, Bits<32>>; HOLE_SLOTS],
    pub sack_end: [Signal<Out, Bits<32>>; HOLE_SLOTS],
    pub sack_count: Signal<Out, Bits<3>>,

    last_valid: Signal<Local, Bit>,
    last_at: [Signal<Local, Bit>; HOLE_SLOTS],
    /// The latest segment's range is at or before slot i.
    last_by: [Signal<Local, Bit>; 3],
    l2: [Constant<Bits<2>>; HOLE_SLOTS],
    n3: [Constant<Bits<3>>; 5],
}

impl Default for SackBlocks {
    fn default() -> Self {
        Self {
            enable: Default::default(),
            ent_start: Default::default(),
            ent_end: Default::default(),
            ent_meta: Default::default(),
            sack_start: Default::default(),
            sack_end: Default::default(),
            sack_count: Default::default(),
            last_valid: Default::default(),
            last_at: Default::default(),
            last_by: Default::default(),
            l2: core::array::from_fn(|i| Constant::new(Bits::<2>::from(i as u64))),
            n3: core::array::from_fn(|i| Constant::new(Bits::<3>::from(i as u64))),
        }
    }
}

impl Logic for SackBlocks {
    #[hdl_gen]
    fn update(&mut self) {
        self.last_valid.next = self.enable.val() & self.ent_meta.val().get_bit(4);
        for i in 0..HOLE_SLOTS {
            self.last_at[i].next = self.last_valid.val() & (self.ent_meta.val().get_bits::<2>(5) == self.l2[i].val());
        }
        self.last_by[0].next = self.last_at[0].val();
        for i in 0..2 {
            self.last_by[i + 1].next = self.last_by[i].val() | self.last_at[i + 1].val();
        }
        self.sack_start[0].next = self.ent_start[0].val();
        self.sack_end[0].next = self.ent_end[0].val();
        for i in 0..HOLE_SLOTS {
            if self.last_at[i].val() {
                self.sack_start[0].next = self.ent_start[i].val();
                self.sack_end[0].next = self.ent_end[i].val();
            }
        }
        // Block i + 1 is range i until the latest segment's range is passed, then range i + 1.
        for i in 0..3 {
            self.sack_start[i + 1].next = self.ent_start[i + 1].val();
            self.sack_end[i + 1].next = self.ent_end[i + 1].val();
            if self.last_valid.val() & !self.last_by[i].val() {
                self.sack_start[i + 1].next = self.ent_start[i].val();
                self.sack_end[i + 1].next = self.ent_end[i].val();
            }
        }
        self.sack_count.next = self.n3[0].val();
        for i in 0..HOLE_SLOTS {
            if self.enable.val() & self.ent_meta.val().get_bit(i) {
                self.sack_count.next = self.n3[i + 1].val();
            }
        }
    }
}

/// The hole table on its own: the merge and the entries of 2^CONN_BITS
/// connections, read one cycle ahead and written by `insert` (when `held`),
/// `advance` (when `jump`) or `clear`, as the engine does. For the table's
/// lint/synthesis check and its Verilated testbench.
#[derive(LogicBlock)]
pub struct HoleTable<const CONN_BITS: usize> {
    pub clock: Signal<In, Clock>,
    /// The entry to read: on the merge's inputs from the next cycle.
    pub rd_conn: Signal<In, Bits<CONN_BITS>>,
    /// The entry the strobes write.
    pub wr_conn: Signal<In, Bits<CONN_BITS>>,
    pub insert: Signal<In, Bit>,
    pub advance: Signal<In, Bit>,
    pub clear: Signal<In, Bit>,
    // The merge's other inputs and its decisions (see [`HoleMerge`]).
    pub enable: Signal<In, Bit>,
    pub rcv_nxt: Signal<In, Bits<32>>,
    pub rcv_adv: Signal<In, Bits<32>>,
    pub rel: Signal<In, Bits<32>>,
    pub ring_window: Signal<In, Bits<32>>,
    pub seq: Signal<In, Bits<32>>,
    pub payload_len: Signal<In, Bits<11>>,
    pub take: Signal<In, Bits<32>>,
    pub held: Signal<Out, Bit>,
    pub over_limit: Signal<Out, Bit>,
    pub new_start: Signal<Out, Bits<32>>,
    pub new_len: Signal<Out, Bits<11>>,
    pub new_skip: Signal<Out, Bits<11>>,
    pub take_capped: Signal<Out, Bits<32>>,
    pub jump: Signal<Out, Bit>,
    pub jump_to: Signal<Out, Bits<32>>,
    pub sack_count: Signal<Out, Bits<3>>,
    pub sack_start: [Signal<Out, Bits<32>>; HOLE_SLOTS],
    pub sack_end: [Signal<Out, Bits<32>>; HOLE_SLOTS],
    merge: HoleMerge,
    sack: SackBlocks,
    start_ram: [RAM<Bits<32>, CONN_BITS>; HOLE_SLOTS],
    end_ram: [RAM<Bits<32>, CONN_BITS>; HOLE_SLOTS],
    meta_ram: RAM<Bits<HOLE_META_BITS>, CONN_BITS>,
    no_ranges: Constant<Bits<HOLE_META_BITS>>,
}

impl<const CONN_BITS: usize> Default for HoleTable<CONN_BITS> {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            rd_conn: Default::default(),
            wr_conn: Default::default(),
            insert: Default::default(),
            advance: Default::default(),
            clear: Default::default(),
            enable: Default::default(),
            rcv_nxt: Default::default(),
            rcv_adv: Default::default(),
            rel: Default::default(),
            ring_window: Default::default(),
            seq: Default::default(),
            payload_len: Default::default(),
            take: Default::default(),
            held: Default::default(),
            over_limit: Default::default(),
            new_start: Default::default(),
            new_len: Default::default(),
            new_skip: Default::default(),
            take_capped: Default::default(),
            jump: Default::default(),
            jump_to: Default::default(),
            sack_count: Default::default(),
            sack_start: Default::default(),
            sack_end: Default::default(),
            merge: Default::default(),
            sack: Default::default(),
            start_ram: Default::default(),
            end_ram: Default::default(),
            // Nothing held anywhere at power-on.
            meta_ram: RAM::from((0..1usize << CONN_BITS).map(|_| Bits::<HOLE_META_BITS>::from(0u64))),
            no_ranges: Constant::new(Bits::<HOLE_META_BITS>::from(0u64)),
        }
    }
}

impl<const CONN_BITS: usize> Logic for HoleTable<CONN_BITS> {
    #[hdl_gen]
    fn update(&mut self) {
        for i in 0..HOLE_SLOTS {
            self.start_ram[i].read_clock.next = self.clock.val();
            self.start_ram[i].write_clock.next = self.clock.val();
            self.start_ram[i].read_address.next = self.rd_conn.val();
            self.start_ram[i].write_address.next = self.wr_conn.val();
            self.start_ram[i].write_enable.next = false;
            self.start_ram[i].write_data.next = self.merge.ins_start[i].val();
            self.end_ram[i].read_clock.next = self.clock.val();
            self.end_ram[i].write_clock.next = self.clock.val();
            self.end_ram[i].read_address.next = self.rd_conn.val();
            self.end_ram[i].write_address.next = self.wr_conn.val();
            self.end_ram[i].write_enable.next = false;
            self.end_ram[i].write_data.next = self.merge.ins_end[i].val();
            self.merge.ent_start[i].next = self.start_ram[i].read_data.val();
            self.merge.ent_end[i].next = self.end_ram[i].read_data.val();
        }
        self.meta_ram.read_clock.next = self.clock.val();
        self.meta_ram.write_clock.next = self.clock.val();
        self.meta_ram.read_address.next = self.rd_conn.val();
        self.meta_ram.write_address.next = self.wr_conn.val();
        self.meta_ram.write_enable.next = false;
        self.meta_ram.write_data.next = self.merge.ins_meta.val();
        self.merge.ent_meta.next = self.meta_ram.read_data.val();
        self.merge.enable.next = self.enable.val();
        self.merge.rcv_nxt.next = self.rcv_nxt.val();
        self.merge.rcv_adv.next = self.rcv_adv.val();
        self.merge.rel.next = self.rel.val();
        self.merge.ring_window.next = self.ring_window.val();
        self.merge.seq.next = self.seq.val();
        self.merge.payload_len.next = self.payload_len.val();
        self.merge.take.next = self.take.val();
        self.held.next = self.merge.held.val();
        self.over_limit.next = self.merge.over_limit.val();
        self.new_start.next = self.merge.new_start.val();
        self.new_len.next = self.merge.new_len.val();
        self.new_skip.next = self.merge.new_skip.val();
        self.take_capped.next = self.merge.take_capped.val();
        self.jump.next = self.merge.jump.val();
        self.jump_to.next = self.merge.jump_to.val();
        self.sack_count.next = self.sack.sack_count.val();
        self.sack.enable.next = self.enable.val();
        self.sack.ent_meta.next = self.meta_ram.read_data.val();
        for i in 0..HOLE_SLOTS {
            self.sack.ent_start[i].next = self.start_ram[i].read_data.val();
            self.sack.ent_end[i].next = self.end_ram[i].read_data.val();
            self.sack_start[i].next = self.sack.sack_start[i].val();
            self.sack_end[i].next = self.sack.sack_end[i].val();
        }
        if self.clear.val() {
            self.meta_ram.write_enable.next = true;
            self.meta_ram.write_data.next = self.no_ranges.val();
        } else if self.insert.val() & self.merge.held.val() {
            self.meta_ram.write_enable.next = true;
            for i in 0..HOLE_SLOTS {
                self.start_ram[i].write_enable.next = true;
                self.end_ram[i].write_enable.next = true;
            }
        } else if self.advance.val() & self.merge.jump.val() {
            self.meta_ram.write_enable.next = true;
            self.meta_ram.write_data.next = self.merge.adv_meta.val();
            for i in 0..HOLE_SLOTS {
                self.start_ram[i].write_enable.next = true;
                self.start_ram[i].write_data.next = self.merge.adv_start[i].val();
                self.end_ram[i].write_enable.next = true;
                self.end_ram[i].write_data.next = self.merge.adv_end[i].val();
            }
        }
    }
}

/// The table of 16 connections, for its lint/synthesis check and its Verilated testbench.
pub fn test_verilog() -> Result<String, crate::generate::GenError> {
    crate::generate::verilog_named(&mut HoleTable::<4>::default(), "hole_table")
}

#[cfg(test)]
mod tests {
    use super::HoleTable;

    #[test]
    fn hole_table_lints_clean_and_synthesizes() {
        let v = super::test_verilog().expect("generates");
        crate::check::lint("hole_table", &v).unwrap_or_else(|e| panic!("lint:\n{e}"));
        let area = crate::check::synth("hole_table", &v).unwrap_or_else(|e| panic!("{e}"));
        println!("hole table, 16 connections: {area:?}");
        assert!(area.luts > 0);
    }

    /// N = 1024: the entries are block RAM, as the TCB table is.
    #[test]
    fn hole_table_for_1024_connections_is_block_ram() {
        let v = crate::generate::verilog_named(&mut HoleTable::<10>::default(), "hole_table_1k").expect("generates");
        let area = crate::check::synth("hole_table_1k", &v).unwrap_or_else(|e| panic!("{e}"));
        println!("hole table, 1024 connections: {area:?}");
        assert!(area.bram18 >= 8, "{area:?}");
        assert!(area.ffs < 200, "{area:?}");
    }
}
