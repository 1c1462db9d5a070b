//! [`BitQueue`]: an in-order queue of up to 32 one-bit entries in registers.
//! The write engine keeps one entry per burst whose write response is owed
//! (does the burst close its command?), the arbiter one per command whose
//! `done` is owed (which requester owns it?): AXI answers bursts of one ID in
//! the order they were issued, so the head entry always belongs to the next
//! response.
use rust_hdl::prelude::*;

/// Entries a [`BitQueue`] holds.
pub const BIT_QUEUE_DEPTH: usize = 32;

#[derive(LogicBlock)]
pub struct BitQueue {
    pub clock: Signal<In, Clock>,
    /// Appends `push_bit` (ignored while `full`: the user never pushes then).
    pub push: Signal<In, Bit>,
    pub push_bit: Signal<In, Bit>,
    /// Drops the head (ignored while `empty`).
    pub pop: Signal<In, Bit>,
    /// The oldest entry, valid while `!empty`.
    pub head: Signal<Out, Bit>,
    pub empty: Signal<Out, Bit>,
    pub full: Signal<Out, Bit>,
    bits: DFF<Bits<32>>,
    wr: DFF<Bits<5>>,
    rd: DFF<Bits<5>>,
    count: DFF<Bits<6>>,
    one32: Constant<Bits<32>>,
    depth: Constant<Bits<6>>,
    one5: Constant<Bits<5>>,
    one6: Constant<Bits<6>>,
    do_push: Signal<Local, Bit>,
    do_pop: Signal<Local, Bit>,
}

impl Default for BitQueue {
    fn default() -> Self {
        BitQueue {
            clock: Default::default(),
            push: Default::default(),
            push_bit: Default::default(),
            pop: Default::default(),
            head: Default::default(),
            empty: Default::default(),
            full: Default::default(),
            bits: Default::default(),
            wr: Default::default(),
            rd: Default::default(),
            count: Default::default(),
            one32: Constant::new(1_u64.into()),
            depth: Constant::new((BIT_QUEUE_DEPTH as u64).into()),
            one5: Constant::new(1_u64.into()),
            one6: Constant::new(1_u64.into()),
            do_push: Default::default(),
            do_pop: Default::default(),
        }
    }
}

impl Logic for BitQueue {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, bits, wr, rd, count);
        self.empty.next = !self.count.q.val().any();
        self.full.next = self.count.q.val() == self.depth.val();
        self.head.next = self.bits.q.val().get_bit(self.rd.q.val().index());
        self.do_push.next = self.push.val() & (self.count.q.val() != self.depth.val());
        self.do_pop.next = self.pop.val() & self.count.q.val().any();
        if self.do_push.val() {
            self.bits.d.next = self.bits.q.val() & !(self.one32.val() << bit_cast::<32, 5>(self.wr.q.val()));
            if self.push_bit.val() {
                self.bits.d.next = self.bits.q.val() | (self.one32.val() << bit_cast::<32, 5>(self.wr.q.val()));
            }
            self.wr.d.next = self.wr.q.val() + self.one5.val();
        }
        if self.do_pop.val() {
            self.rd.d.next = self.rd.q.val() + self.one5.val();
        }
        if self.do_push.val() & !self.do_pop.val() {
            self.count.d.next = self.count.q.val() + self.one6.val();
        } else if self.do_pop.val() & !self.do_push.val() {
            self.count.d.next = self.count.q.val() - self.one6.val();
        }
    }
}
