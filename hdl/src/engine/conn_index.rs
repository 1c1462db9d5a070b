//! The connection index: which TCB slot holds a 4-tuple's connection, and
//! which slot a new connection gets. It admits every connection while a slot
//! is free, whatever the 4-tuples hash to (docs/engine.md, "Connection index").
//!
//! - A hash index of 2N buckets (`head`), each the first slot of a chain of
//!   the connections whose tuple hashes there; every slot has a `next` and a
//!   `prev` link, so a connection is unlinked in one cycle when it closes.
//! - A free queue of closed slots (`free`), refilled by every close and
//!   drained by every passive open; slots never used since power-on come
//!   from a counter (`fresh`), so no memory needs initial contents.
//!
//! All four are simple dual-port RAMs (one read, one write per cycle), so
//! they map to block RAM as N grows. An entry of `head`, `next` or `prev` is a
//! slot reference: bit 0 says it is valid, bits `CONN_BITS:1` hold the slot.
//!
//! Reads are the engine's to steer, one cycle ahead like the TCB table's:
//! `head_*` is the bucket of the tuple selected by `by_tcb` in the previous
//! cycle, `next_*` the link of the slot presented on `slot`. Commands act on
//! `slot` too: the engine reads the TCB it changes (one command per cycle, and
//! none in the cycle after `insert`, whose second half links the bucket's old
//! first slot back to the new one).
//!
//! `rebuild` (a promotion) empties the index and the free queue, taking
//! 2N cycles (`busy`); the promotion walk then inserts every open slot and
//! releases every closed one, in slot order, and `fresh` counts as spent.
use super::tuple_hash::TupleHash;
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct ConnIndex<const CONN_BITS: usize, const REF_BITS: usize> {
    pub clock: Signal<In, Clock>,
    // The received segment's tuple: (source IP, source port, destination port).
    pub rx_ip: Signal<In, Bits<32>>,
    pub rx_remote_port: Signal<In, Bits<16>>,
    pub rx_local_port: Signal<In, Bits<16>>,
    // The working TCB's tuple.
    pub tcb_ip: Signal<In, Bits<32>>,
    pub tcb_remote_port: Signal<In, Bits<16>>,
    pub tcb_local_port: Signal<In, Bits<16>>,
    /// Hash the working TCB's tuple (timer scan, promotion), else the segment's.
    pub by_tcb: Signal<In, Bit>,
    /// The TCB slot the engine reads this cycle (its links are out next cycle),
    /// and the slot a command acts on.
    pub slot: Signal<In, Bits<CONN_BITS>>,
    /// Allocate `alloc_slot` (a passive open).
    pub take: Signal<In, Bit>,
    /// Link `slot` first in the hashed tuple's bucket (it must be `head`'s last read).
    pub insert: Signal<In, Bit>,
    /// Unlink `slot` (its links read last cycle, its bucket the hashed tuple's) and free it.
    pub remove: Signal<In, Bit>,
    /// Free `slot` without unlinking it (the promotion walk's closed slots).
    pub recycle: Signal<In, Bit>,
    /// Empty the index and the free queue (a promotion).
    pub rebuild: Signal<In, Bit>,

    /// The 16-bit hash of the selected tuple (the ISS mixes it in).
    pub hash: Signal<Out, Bits<16>>,
    pub head_valid: Signal<Out, Bit>,
    pub head_slot: Signal<Out, Bits<CONN_BITS>>,
    pub next_valid: Signal<Out, Bit>,
    pub next_slot: Signal<Out, Bits<CONN_BITS>>,
    /// A slot is free; `alloc_slot` is the one `take` gets.
    pub can_alloc: Signal<Out, Bit>,
    pub alloc_slot: Signal<Out, Bits<CONN_BITS>>,
    /// At least two slots are free (a relay open takes a pair, docs/relay.md).
    pub can_alloc2: Signal<Out, Bit>,
    /// `rebuild` is still clearing buckets.
    pub busy: Signal<Out, Bit>,

    hasher: TupleHash,
    head: RAM<Bits<REF_BITS>, REF_BITS>,
    next: RAM<Bits<REF_BITS>, CONN_BITS>,
    prev: RAM<Bits<REF_BITS>, CONN_BITS>,
    free: RAM<Bits<CONN_BITS>, CONN_BITS>,
    free_rd: DFF<Bits<CONN_BITS>>,
    free_wr: DFF<Bits<CONN_BITS>>,
    free_count: DFF<Bits<REF_BITS>>,
    fresh: DFF<Bits<REF_BITS>>,
    link_pending: DFF<Bit>,
    link_at: DFF<Bits<CONN_BITS>>,
    link_to: DFF<Bits<REF_BITS>>,
    clearing: DFF<Bit>,
    clear_at: DFF<Bits<REF_BITS>>,

    bucket: Signal<Local, Bits<REF_BITS>>,
    slot_ref: Signal<Local, Bits<REF_BITS>>,
    fresh_lo: Signal<Local, Bits<CONN_BITS>>,
    freed: Signal<Local, Bit>,
    /// Free slots: the free queue's and those never taken.
    avail: Signal<Local, Bits<REF_BITS>>,
    no_ref: Constant<Bits<REF_BITS>>,
    valid_bit: Constant<Bits<REF_BITS>>,
    one_ref: Constant<Bits<REF_BITS>>,
    one_slot: Constant<Bits<CONN_BITS>>,
    conns: Constant<Bits<REF_BITS>>,
    last_bucket: Constant<Bits<REF_BITS>>,
}

impl<const CONN_BITS: usize, const REF_BITS: usize> Default for ConnIndex<CONN_BITS, REF_BITS> {
    fn default() -> Self {
        assert_eq!(REF_BITS, CONN_BITS + 1, "a slot reference is a valid bit and a slot; 2N buckets");
        Self {
            clock: Default::default(),
            rx_ip: Default::default(),
            rx_remote_port: Default::default(),
            rx_local_port: Default::default(),
            tcb_ip: Default::default(),
            tcb_remote_port: Default::default(),
            tcb_local_port: Default::default(),
            by_tcb: Default::default(),
            slot: Default::default(),
            take: Default::default(),
            insert: Default::default(),
            remove: Default::default(),
            recycle: Default::default(),
            rebuild: Default::default(),
            hash: Default::default(),
            head_valid: Default::default(),
            head_slot: Default::default(),
            next_valid: Default::default(),
            next_slot: Default::default(),
            can_alloc: Default::default(),
            alloc_slot: Default::default(),
            can_alloc2: Default::default(),
            busy: Default::default(),
            hasher: Default::default(),
            head: Default::default(),
            next: Default::default(),
            prev: Default::default(),
            free: Default::default(),
            free_rd: Default::default(),
            free_wr: Default::default(),
            free_count: Default::default(),
            fresh: Default::default(),
            link_pending: Default::default(),
            link_at: Default::default(),
            link_to: Default::default(),
            clearing: Default::default(),
            clear_at: Default::default(),
            bucket: Default::default(),
            slot_ref: Default::default(),
            fresh_lo: Default::default(),
            freed: Default::default(),
            avail: Default::default(),
            no_ref: Constant::new(Bits::<REF_BITS>::from(0u64)),
            valid_bit: Constant::new(Bits::<REF_BITS>::from(1u64)),
            one_ref: Constant::new(Bits::<REF_BITS>::from(1u64)),
            one_slot: Constant::new(Bits::<CONN_BITS>::from(1u64)),
            conns: Constant::new(Bits::<REF_BITS>::from(1u64 << CONN_BITS)),
            last_bucket: Constant::new(Bits::<REF_BITS>::from((2u64 << CONN_BITS) - 1)),
        }
    }
}

impl<const CONN_BITS: usize, const REF_BITS: usize> Logic for ConnIndex<CONN_BITS, REF_BITS> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, free_rd, free_wr, free_count, fresh, link_pending, link_at, link_to, clearing, clear_at);
        self.head.read_clock.next = self.clock.val();
        self.head.write_clock.next = self.clock.val();
        self.next.read_clock.next = self.clock.val();
        self.next.write_clock.next = self.clock.val();
        self.prev.read_clock.next = self.clock.val();
        self.prev.write_clock.next = self.clock.val();
        self.free.read_clock.next = self.clock.val();
        self.free.write_clock.next = self.clock.val();
        if self.by_tcb.val() {
            self.hasher.remote_ip.next = self.tcb_ip.val();
            self.hasher.remote_port.next = self.tcb_remote_port.val();
            self.hasher.local_port.next = self.tcb_local_port.val();
        } else {
            self.hasher.remote_ip.next = self.rx_ip.val();
            self.hasher.remote_port.next = self.rx_remote_port.val();
            self.hasher.local_port.next = self.rx_local_port.val();
        }
        self.hash.next = self.hasher.hash.val();
        self.bucket.next = self.hasher.hash.val().get_bits::<REF_BITS>(0);
        self.slot_ref.next = (bit_cast::<REF_BITS, CONN_BITS>(self.slot.val()) << 1) | self.valid_bit.val();

        self.head.read_address.next = self.bucket.val();
        self.head.write_address.next = self.bucket.val();
        self.head.write_data.next = self.slot_ref.val();
        self.head.write_enable.next = false;
        self.head_valid.next = self.head.read_data.val().get_bit(0);
        self.head_slot.next = self.head.read_data.val().get_bits::<CONN_BITS>(1);

        self.next.read_address.next = self.slot.val();
        self.next.write_address.next = self.slot.val();
        self.next.write_data.next = self.head.read_data.val();
        self.next.write_enable.next = false;
        self.next_valid.next = self.next.read_data.val().get_bit(0);
        self.next_slot.next = self.next.read_data.val().get_bits::<CONN_BITS>(1);

        self.prev.read_address.next = self.slot.val();
        self.prev.write_address.next = self.slot.val();
        self.prev.write_data.next = self.no_ref.val();
        self.prev.write_enable.next = false;

        self.fresh_lo.next = self.fresh.q.val().get_bits::<CONN_BITS>(0);
        self.free.read_address.next = self.free_rd.q.val();
        self.free.write_address.next = self.free_wr.q.val();
        self.free.write_data.next = self.slot.val();
        self.free.write_enable.next = false;
        self.can_alloc.next = (self.free_count.q.val() != self.no_ref.val()) | (self.fresh.q.val() != self.conns.val());
        self.avail.next = self.free_count.q.val() + (self.conns.val() - self.fresh.q.val());
        self.can_alloc2.next = self.avail.val() > self.one_ref.val();
        self.alloc_slot.next = self.fresh_lo.val();
        if self.free_count.q.val() != self.no_ref.val() {
            self.alloc_slot.next = self.free.read_data.val();
        }
        self.busy.next = self.clearing.q.val();

        self.link_pending.d.next = false;
        if self.link_pending.q.val() {
            // Second half of an insert: the bucket's old first slot now follows the new one.
            self.prev.write_address.next = self.link_at.q.val();
            self.prev.write_data.next = self.link_to.q.val();
            self.prev.write_enable.next = true;
        }
        if self.take.val() {
            if self.free_count.q.val() != self.no_ref.val() {
                self.free_rd.d.next = self.free_rd.q.val() + self.one_slot.val();
                self.free_count.d.next = self.free_count.q.val() - self.one_ref.val();
            } else {
                self.fresh.d.next = self.fresh.q.val() + self.one_ref.val();
            }
        }
        if self.insert.val() {
            // First in the bucket: no predecessor, the old first slot (if any) next.
            self.head.write_enable.next = true;
            self.next.write_enable.next = true;
            self.prev.write_enable.next = true;
            self.link_pending.d.next = self.head.read_data.val().get_bit(0);
            self.link_at.d.next = self.head.read_data.val().get_bits::<CONN_BITS>(1);
            self.link_to.d.next = self.slot_ref.val();
        }
        if self.remove.val() {
            // The predecessor (or the bucket) now points past the slot, and its successor back past it.
            if self.prev.read_data.val().get_bit(0) {
                self.next.write_address.next = self.prev.read_data.val().get_bits::<CONN_BITS>(1);
                self.next.write_data.next = self.next.read_data.val();
                self.next.write_enable.next = true;
            } else {
                self.head.write_data.next = self.next.read_data.val();
                self.head.write_enable.next = true;
            }
            if self.next.read_data.val().get_bit(0) {
                self.prev.write_address.next = self.next.read_data.val().get_bits::<CONN_BITS>(1);
                self.prev.write_data.next = self.prev.read_data.val();
                self.prev.write_enable.next = true;
            }
        }
        self.freed.next = self.remove.val() | self.recycle.val();
        if self.freed.val() {
            self.free.write_enable.next = true;
            self.free_wr.d.next = self.free_wr.q.val() + self.one_slot.val();
            self.free_count.d.next = self.free_count.q.val() + self.one_ref.val();
        }
        if self.rebuild.val() {
            self.clearing.d.next = true;
            self.clear_at.d.next = self.no_ref.val();
            self.free_rd.d.next = self.free_wr.q.val();
            self.free_count.d.next = self.no_ref.val();
            self.fresh.d.next = self.conns.val();
        }
        if self.clearing.q.val() {
            self.head.write_address.next = self.clear_at.q.val();
            self.head.write_data.next = self.no_ref.val();
            self.head.write_enable.next = true;
            self.clear_at.d.next = self.clear_at.q.val() + self.one_ref.val();
            if self.clear_at.q.val() == self.last_bucket.val() {
                self.clearing.d.next = false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// N = 4096 (CONN_BITS 12): every memory is block RAM, and the block is lint clean.
    #[test]
    fn conn_index_for_4096_connections_lints_clean_and_maps_to_block_ram() {
        let v = crate::generate::verilog_named(&mut ConnIndex::<12, 13>::default(), "conn_index").expect("generates");
        crate::check::lint("conn_index", &v).unwrap_or_else(|e| panic!("lint:\n{e}"));
        let area = crate::check::synth("conn_index", &v).unwrap_or_else(|e| panic!("{e}"));
        eprintln!("conn_index (N = 4096) area: {area:?}");
        // head 8192 x 13, next and prev 4096 x 13, free 4096 x 12: no LUT RAM, a few BRAM18s each.
        assert_eq!(area.lutram, 0, "{area:?}");
        assert!(area.bram18 >= 8, "{area:?}");
        assert!(area.luts < 400, "{area:?}");
    }
}
