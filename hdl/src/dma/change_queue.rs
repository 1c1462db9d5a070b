//! Ids of connections whose TCB changed, each queued at most once: a FIFO
//! of N entries in block RAM plus a dirty bit per connection. A `push` of an
//! id already waiting is absorbed (the reader will read the newest state
//! anyway), so N entries always suffice and nothing overflows however often
//! a TCB changes. The dirty bit clears when the id leaves (`pop`), so a
//! change landing after that queues the id again: the last change of every
//! connection is always followed by a pop of its id.
//!
//! The event-queue writer's only coalescing logic: a different store of the
//! dirty bits (e.g. block RAM at large N) replaces this block alone.
use rust_hdl::prelude::*;

/// `NCONN` must be `1 << CONN_BITS` (a parameter because stable Rust cannot
/// compute it).
#[derive(LogicBlock)]
pub struct ChangeQueue<const CONN_BITS: usize, const NCONN: usize> {
    pub clock: Signal<In, Clock>,
    /// Connection `push_id` changed (one strobe per change).
    pub push: Signal<In, Bit>,
    pub push_id: Signal<In, Bits<CONN_BITS>>,
    /// An id waits and `head_id` shows it.
    pub head_valid: Signal<Out, Bit>,
    pub head_id: Signal<Out, Bits<CONN_BITS>>,
    /// Take `head_id` (only while `head_valid`).
    pub pop: Signal<In, Bit>,

    ids: RAM<Bits<CONN_BITS>, CONN_BITS>,
    head: DFF<Bits<CONN_BITS>>,
    tail: DFF<Bits<CONN_BITS>>,
    count: DFF<Bits<16>>,
    dirty: DFF<Bits<NCONN>>,
    /// The RAM's registered read shows the head one cycle after the head
    /// moved or an id entered an empty queue.
    settling: DFF<Bit>,
    dirty_cleared: Signal<Local, Bits<NCONN>>,
    push_ok: Signal<Local, Bit>,
    one_slot: Constant<Bits<CONN_BITS>>,
    one_dirty: Constant<Bits<NCONN>>,
}

impl<const CONN_BITS: usize, const NCONN: usize> Default for ChangeQueue<CONN_BITS, NCONN> {
    fn default() -> Self {
        assert_eq!(NCONN, 1 << CONN_BITS, "change queue: NCONN must be 1 << CONN_BITS");
        Self {
            clock: Default::default(),
            push: Default::default(),
            push_id: Default::default(),
            head_valid: Default::default(),
            head_id: Default::default(),
            pop: Default::default(),
            ids: Default::default(),
            head: Default::default(),
            tail: Default::default(),
            count: Default::default(),
            dirty: Default::default(),
            settling: Default::default(),
            dirty_cleared: Default::default(),
            push_ok: Default::default(),
            one_slot: Constant::new(1_u64.into()),
            one_dirty: Constant::new(1_u64.into()),
        }
    }
}

impl<const CONN_BITS: usize, const NCONN: usize> Logic for ChangeQueue<CONN_BITS, NCONN> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, head, tail, count, dirty, settling);
        self.ids.read_clock.next = self.clock.val();
        self.ids.write_clock.next = self.clock.val();
        self.ids.read_address.next = self.head.q.val();
        self.ids.write_address.next = self.tail.q.val();
        self.ids.write_data.next = self.push_id.val();
        self.dirty_cleared.next = self.dirty.q.val();
        if self.pop.val() {
            self.dirty_cleared.next = self.dirty.q.val() & !(self.one_dirty.val() << self.ids.read_data.val());
        }
        // A change in the very cycle its id leaves queues it again.
        self.push_ok.next = self.push.val() & !self.dirty_cleared.val().get_bit(self.push_id.val().index());
        self.ids.write_enable.next = self.push_ok.val();
        self.dirty.d.next = self.dirty_cleared.val();
        if self.push_ok.val() {
            self.dirty.d.next = self.dirty_cleared.val() | (self.one_dirty.val() << self.push_id.val());
            self.tail.d.next = self.tail.q.val() + self.one_slot.val();
        }
        if self.pop.val() {
            self.head.d.next = self.head.q.val() + self.one_slot.val();
        }
        if self.push_ok.val() & !self.pop.val() {
            self.count.d.next = self.count.q.val() + 1_u16.to_bits();
        } else if self.pop.val() & !self.push_ok.val() {
            self.count.d.next = self.count.q.val() - 1_u16.to_bits();
        }
        self.settling.d.next = self.pop.val() | (self.push_ok.val() & !self.count.q.val().any());
        self.head_valid.next = self.count.q.val().any() & !self.settling.q.val();
        self.head_id.next = self.ids.read_data.val();
    }
}
