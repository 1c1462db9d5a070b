//! The engine's time base and its timer-scan cursor: `now_us` follows the
//! microsecond tick, and every 1024 us a scan of all TCBs' retransmission
//! timers becomes due. The engine visits one slot per `scan_step`; the scan
//! ends when the cursor wraps back to slot 0.
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct TimeBase<const CONN_BITS: usize> {
    pub clock: Signal<In, Clock>,
    /// Microseconds elapsed since the last cycle.
    pub tick_us: Signal<In, Bits<16>>,
    /// The engine finished the slot at `scan_slot` (one cycle).
    pub scan_step: Signal<In, Bit>,
    pub now_us: Signal<Out, Bits<32>>,
    /// A scan is due or under way.
    pub scan_due: Signal<Out, Bit>,
    /// The next slot the scan visits.
    pub scan_slot: Signal<Out, Bits<CONN_BITS>>,

    now: DFF<Bits<32>>,
    last_ms_bit: DFF<Bit>,
    scan_pending: DFF<Bit>,
    scan_id: DFF<Bits<CONN_BITS>>,
    next_slot: Signal<Local, Bits<CONN_BITS>>,
    one_slot: Constant<Bits<CONN_BITS>>,
    zero_slot: Constant<Bits<CONN_BITS>>,
}

impl<const CONN_BITS: usize> Default for TimeBase<CONN_BITS> {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            tick_us: Default::default(),
            scan_step: Default::default(),
            now_us: Default::default(),
            scan_due: Default::default(),
            scan_slot: Default::default(),
            now: Default::default(),
            last_ms_bit: Default::default(),
            scan_pending: Default::default(),
            scan_id: Default::default(),
            next_slot: Default::default(),
            one_slot: Constant::new(Bits::<CONN_BITS>::from(1u64)),
            zero_slot: Constant::new(Bits::<CONN_BITS>::from(0u64)),
        }
    }
}

impl<const CONN_BITS: usize> Logic for TimeBase<CONN_BITS> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, now, last_ms_bit, scan_pending, scan_id);
        self.now.d.next = self.now.q.val() + bit_cast::<32, 16>(self.tick_us.val());
        // Bit 10 of the time toggles every 1024 us.
        self.last_ms_bit.d.next = self.now.q.val().get_bit(10);
        if self.now.q.val().get_bit(10) != self.last_ms_bit.q.val() {
            self.scan_pending.d.next = true;
        }
        self.next_slot.next = self.scan_id.q.val() + self.one_slot.val();
        if self.scan_step.val() {
            self.scan_id.d.next = self.next_slot.val();
            if self.next_slot.val() == self.zero_slot.val() {
                self.scan_pending.d.next = false;
            }
        }
        self.now_us.next = self.now.q.val();
        self.scan_due.next = self.scan_pending.q.val();
        self.scan_slot.next = self.scan_id.q.val();
    }
}
