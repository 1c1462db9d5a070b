//! "Tell the host which ids changed", once per id: a queue of ids in which an
//! id waits at most once, so it never holds more than the N ids there are and
//! never loses the news that one changed. The change log and the event-queue
//! writer both need it; at N = 4096 a flop per id and the N-wide muxes that
//! set and clear them would cost more than the rest of either block, so both
//! the queue and the per-id "waiting" bits are block RAM here.
//!
//! Contract, cycle by cycle: a `push` of id `x` in cycle `t` is covered by the
//! first `pop` of `x` in a cycle after `t`; if `x` is waiting and not popped
//! in `t` or earlier, the push adds nothing. A push in the very cycle `x` is
//! popped queues it again (the consumer reads the state after the pop, and
//! this change may have come too late for that read). Ids leave in the order
//! they were first pushed.
//!
//! Inside: a FIFO of ids (`order`, N entries) and a waiting bit per id
//! (`waiting`, N x 1), both simple dual-port RAMs with a registered read. A
//! push is registered (`stage_*`) while its waiting bit is read, and enqueued
//! the next cycle if the bit was clear. The one write port of `waiting` goes
//! to the stage's "set"; a pop's "clear" waits in `clear_*` for a cycle
//! without a set (the next pop waits for it), and the stage looks past the
//! RAM at the last write and at the pending clear, so no read sees a stale
//! bit. The waiting bits start at zero (the RAM's initial contents, which
//! block RAM loads at configuration).
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct Coalescer<const ID_BITS: usize, const COUNT_BITS: usize> {
    pub clock: Signal<In, Clock>,
    /// Id `push_id` changed.
    pub push: Signal<In, Bit>,
    pub push_id: Signal<In, Bits<ID_BITS>>,
    /// The oldest waiting id, on `head_id` while `head_valid`.
    pub head_valid: Signal<Out, Bit>,
    pub head_id: Signal<Out, Bits<ID_BITS>>,
    /// Take `head_id` (ignored while `head_valid` is low).
    pub pop: Signal<In, Bit>,
    /// Every push so far is visible: `head_valid` is low only if no id waits.
    pub settled: Signal<Out, Bit>,

    order: RAM<Bits<ID_BITS>, ID_BITS>,
    waiting: RAM<Bits<1>, ID_BITS>,
    head: DFF<Bits<ID_BITS>>,
    tail: DFF<Bits<ID_BITS>>,
    count: DFF<Bits<COUNT_BITS>>,
    stage_valid: DFF<Bit>,
    stage_id: DFF<Bits<ID_BITS>>,
    /// The waiting bit written last cycle (the RAM's read missed it).
    last_valid: DFF<Bit>,
    last_id: DFF<Bits<ID_BITS>>,
    last_set: DFF<Bit>,
    clear_pending: DFF<Bit>,
    clear_id: DFF<Bits<ID_BITS>>,
    /// The FIFO held an id last cycle and none left: its head entry is on `order`'s read port.
    nonempty_q: DFF<Bit>,
    popped_q: DFF<Bit>,

    was_waiting: Signal<Local, Bit>,
    enqueue: Signal<Local, Bit>,
    take: Signal<Local, Bit>,
    one_id: Constant<Bits<ID_BITS>>,
    one_count: Constant<Bits<COUNT_BITS>>,
    bit_set: Constant<Bits<1>>,
    bit_clear: Constant<Bits<1>>,
}

impl<const ID_BITS: usize, const COUNT_BITS: usize> Coalescer<ID_BITS, COUNT_BITS> {
    /// # Panics
    /// If `COUNT_BITS` is not `ID_BITS + 1` (a build-time configuration error:
    /// the count runs from 0 to N inclusive).
    pub fn new() -> Self {
        assert_eq!(COUNT_BITS, ID_BITS + 1, "coalescer: the count needs one bit more than an id");
        Self {
            clock: Default::default(),
            push: Default::default(),
            push_id: Default::default(),
            head_valid: Default::default(),
            head_id: Default::default(),
            pop: Default::default(),
            settled: Default::default(),
            order: Default::default(),
            // Explicit zeros, so every tool (Verilator, yosys' BRAM INIT) starts with no id waiting.
            waiting: RAM::from((0..1usize << ID_BITS).map(|_| Bits::<1>::from(0u64))),
            head: Default::default(),
            tail: Default::default(),
            count: Default::default(),
            stage_valid: Default::default(),
            stage_id: Default::default(),
            last_valid: Default::default(),
            last_id: Default::default(),
            last_set: Default::default(),
            clear_pending: Default::default(),
            clear_id: Default::default(),
            nonempty_q: Default::default(),
            popped_q: Default::default(),
            was_waiting: Default::default(),
            enqueue: Default::default(),
            take: Default::default(),
            one_id: Constant::new(1u64.into()),
            one_count: Constant::new(1u64.into()),
            bit_set: Constant::new(1u64.into()),
            bit_clear: Constant::new(0u64.into()),
        }
    }
}

impl<const ID_BITS: usize, const COUNT_BITS: usize> Default for Coalescer<ID_BITS, COUNT_BITS> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const ID_BITS: usize, const COUNT_BITS: usize> Logic for Coalescer<ID_BITS, COUNT_BITS> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, head, tail, count, stage_valid, stage_id, last_valid, last_id, last_set, clear_pending, clear_id,
            nonempty_q, popped_q
        );
        self.order.read_clock.next = self.clock.val();
        self.order.write_clock.next = self.clock.val();
        self.waiting.read_clock.next = self.clock.val();
        self.waiting.write_clock.next = self.clock.val();

        // The oldest id: fresh on the read port unless the FIFO was empty or
        // popped last cycle. From registers only, so a consumer may decide
        // `pop` from `head_valid` in the same cycle without a combinational loop.
        self.order.read_address.next = self.head.q.val();
        self.head_id.next = self.order.read_data.val();
        self.head_valid.next = self.nonempty_q.q.val() & !self.popped_q.q.val() & !self.clear_pending.q.val();
        // Not from `head_valid` itself: Verilator would tie that output to `pop`.
        self.take.next = self.pop.val() & self.nonempty_q.q.val() & !self.popped_q.q.val() & !self.clear_pending.q.val();

        // A push waits one cycle for its id's waiting bit.
        self.stage_valid.d.next = self.push.val();
        self.stage_id.d.next = self.push_id.val();
        self.waiting.read_address.next = self.push_id.val();
        self.was_waiting.next = self.waiting.read_data.val().any();
        if self.last_valid.q.val() & (self.last_id.q.val() == self.stage_id.q.val()) {
            self.was_waiting.next = self.last_set.q.val();
        }
        if self.clear_pending.q.val() & (self.clear_id.q.val() == self.stage_id.q.val()) {
            self.was_waiting.next = false;
        }
        self.enqueue.next = self.stage_valid.q.val() & !self.was_waiting.val();

        // The waiting bits' one write: the stage's set, else the pending clear.
        self.waiting.write_address.next = self.stage_id.q.val();
        self.waiting.write_data.next = self.bit_set.val();
        self.waiting.write_enable.next = false;
        self.last_valid.d.next = false;
        self.last_id.d.next = self.stage_id.q.val();
        self.last_set.d.next = true;
        if self.enqueue.val() {
            self.waiting.write_enable.next = true;
            self.last_valid.d.next = true;
            if self.clear_id.q.val() == self.stage_id.q.val() {
                // Popped and pushed again: the set supersedes the clear.
                self.clear_pending.d.next = false;
            }
        } else if self.clear_pending.q.val() {
            self.waiting.write_address.next = self.clear_id.q.val();
            self.waiting.write_data.next = self.bit_clear.val();
            self.waiting.write_enable.next = true;
            self.last_valid.d.next = true;
            self.last_id.d.next = self.clear_id.q.val();
            self.last_set.d.next = false;
            self.clear_pending.d.next = false;
        }
        if self.take.val() {
            // `take` needs no clear pending, so this one has the register to itself.
            self.clear_pending.d.next = true;
            self.clear_id.d.next = self.order.read_data.val();
            self.head.d.next = self.head.q.val() + self.one_id.val();
        }

        self.order.write_address.next = self.tail.q.val();
        self.order.write_data.next = self.stage_id.q.val();
        self.order.write_enable.next = self.enqueue.val();
        if self.enqueue.val() {
            self.tail.d.next = self.tail.q.val() + self.one_id.val();
        }
        if self.enqueue.val() & !self.take.val() {
            self.count.d.next = self.count.q.val() + self.one_count.val();
        } else if self.take.val() & !self.enqueue.val() {
            self.count.d.next = self.count.q.val() - self.one_count.val();
        }
        self.nonempty_q.d.next = self.count.q.val().any();
        self.popped_q.d.next = self.take.val();
        self.settled.next = !self.stage_valid.q.val()
            & !self.clear_pending.q.val()
            & (!self.count.q.val().any() | (self.nonempty_q.q.val() & !self.popped_q.q.val()));
    }
}

/// The Verilated testbench's instance: 16 ids, so the queue fills and ids collide often.
pub type TestCoalescer = Coalescer<4, 5>;

pub fn verilog() -> Result<String, crate::generate::GenError> {
    crate::generate::verilog_named(&mut TestCoalescer::new(), "coalesce")
}

#[cfg(test)]
mod tests {
    use super::Coalescer;

    #[test]
    fn coalesce_lints_clean() {
        let v = super::verilog().expect("generates");
        crate::check::lint("coalesce", &v).unwrap_or_else(|e| panic!("lint:\n{e}"));
    }

    /// N = 4096: both memories are block RAM, and the logic around them does
    /// not grow with N (a flop per id would be 4096 FFs).
    #[test]
    fn coalesce_for_4096_ids_maps_to_block_ram() {
        let v = crate::generate::verilog_named(&mut Coalescer::<12, 13>::new(), "coalesce_4096").expect("generates");
        crate::check::lint("coalesce_4096", &v).unwrap_or_else(|e| panic!("lint:\n{e}"));
        let area = crate::check::synth("coalesce_4096", &v).unwrap_or_else(|e| panic!("{e}"));
        eprintln!("coalesce (N = 4096) area: {area:?}");
        assert_eq!(area.lutram, 0, "{area:?}");
        assert!(area.bram18 >= 2, "{area:?}");
        assert!(area.ffs < 120, "{area:?}");
        assert!(area.luts < 200, "{area:?}");
    }
}
