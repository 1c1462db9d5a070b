//! The engine's time base and its timer-scan cursor: `now_us` follows the
//! microsecond tick, and every 1024 us a scan of all TCBs' retransmission
//! timers becomes due. The engine visits one slot per `scan_step`; the scan
//! ends when the cursor wraps back to slot 0.
//!
//! The timestamp clock (RFC 7323 §5.4, TS_CLOCK): `ts_ticks` counts the
//! 1024-us boundaries `now` crosses (one per toggle of its bit 10 while the
//! tick stays below 1024 us per cycle; a larger tick counts every boundary
//! it jumps), so one tick is 1.024 ms, inside §5.4's 1 ms..1 s. It is its own
//! 32-bit counter, not `now_us >> 10`, so it does not wrap with `now_us`; a
//! host write (`ts_load`) sets it, so two cards of a pair tick in step.
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct TimeBase<const CONN_BITS: usize> {
    pub clock: Signal<In, Clock>,
    /// Microseconds elapsed since the last cycle.
    pub tick_us: Signal<In, Bits<16>>,
    /// The engine finished the slot at `scan_slot` (one cycle).
    pub scan_step: Signal<In, Bit>,
    /// A TS_CLOCK write: `ts_ticks` := `ts_wdata`.
    pub ts_load: Signal<In, Bit>,
    pub ts_wdata: Signal<In, Bits<32>>,
    pub ts_ticks: Signal<Out, Bits<32>>,
    pub now_us: Signal<Out, Bits<32>>,
    /// A scan is due or under way.
    pub scan_due: Signal<Out, Bit>,
    /// The next slot the scan visits.
    pub scan_slot: Signal<Out, Bits<CONN_BITS>>,

    now: DFF<Bits<32>>,
    last_ms_bit: DFF<Bit>,
    ts: DFF<Bits<32>>,
    /// The time after this cycle, and the 1024-us boundaries it crosses.
    now_next: Signal<Local, Bits<32>>,
    ms_now: Signal<Local, Bits<22>>,
    ms_next: Signal<Local, Bits<22>>,
    ms_crossed: Signal<Local, Bits<22>>,
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
            ts_load: Default::default(),
            ts_wdata: Default::default(),
            ts_ticks: Default::default(),
            now_us: Default::default(),
            scan_due: Default::default(),
            scan_slot: Default::default(),
            now: Default::default(),
            last_ms_bit: Default::default(),
            ts: Default::default(),
            now_next: Default::default(),
            ms_now: Default::default(),
            ms_next: Default::default(),
            ms_crossed: Default::default(),
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
        dff_setup!(self, clock, now, last_ms_bit, ts, scan_pending, scan_id);
        self.now_next.next = self.now.q.val() + bit_cast::<32, 16>(self.tick_us.val());
        self.now.d.next = self.now_next.val();
        // Modulo 2^22 the difference of the millisecond parts is the number of
        // boundaries crossed, across the wrap of `now` too.
        self.ms_now.next = self.now.q.val().get_bits::<22>(10);
        self.ms_next.next = self.now_next.val().get_bits::<22>(10);
        self.ms_crossed.next = self.ms_next.val() - self.ms_now.val();
        self.ts.d.next = self.ts.q.val() + bit_cast::<32, 22>(self.ms_crossed.val());
        if self.ts_load.val() {
            self.ts.d.next = self.ts_wdata.val();
        }
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
        self.ts_ticks.next = self.ts.q.val();
        self.scan_due.next = self.scan_pending.q.val();
        self.scan_slot.next = self.scan_id.q.val();
    }
}
