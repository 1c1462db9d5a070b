//! RFC 6298's RTT estimator and RTO for one connection, one event at a time
//! (docs/tx.md, "Timers"): a segment sent (`EV_SEND` on `event_kind`), an ACK of new data
//! (`EV_ACK`) or the retransmission/persist timer firing (`EV_TIMEOUT`).
//! SRTT is kept ×8 and RTTVAR ×4, so §2.2/§2.3 are shifts and adds:
//!
//! ```text
//! first:  srtt8 = R << 3;  rttvar4 = R << 1
//! later:  d = |R - (srtt8 >> 3)|;  rttvar4 += d - (rttvar4 >> 2);  srtt8 += R - (srtt8 >> 3)
//! RTO   = max(min((srtt8 >> 3) + max(G, rttvar4), RTO_MAX), RTO_MIN)
//! ```
//!
//! R is clamped to RTO_MAX, which must be at most 2^28 us so nothing wraps.
//! Karn's rule (§3): a retransmission cancels the measurement and is never
//! timed; one segment is timed at a time, and an ACK after its first sequence
//! number ends the measurement. A timeout doubles the RTO up to RTO_MAX (§5.5).
//!
//! With timestamps (`ts_ok`, RFC 7323 §4.1) the echoed TSval tells which copy
//! an ACK answers, so a retransmission keeps (or starts) the measurement and
//! marks it `by_echo`: its R is then the echo's age, `echo_age` ticks of
//! 1024 us, trusted only up to the measurement's own age plus one tick.
//! Combinational; the reference is `sim/src/refmodel/tx_rtt.rs`.
use crate::seq_cmp::SeqCmp;
use rust_hdl::prelude::*;

/// Event codes of the `event_kind` port.
pub const EV_NONE: u64 = 0;
pub const EV_SEND: u64 = 1;
pub const EV_ACK: u64 = 2;
pub const EV_TIMEOUT: u64 = 3;

#[derive(LogicBlock)]
pub struct TxRtt {
    // The connection's estimator state.
    pub srtt8: Signal<In, Bits<32>>,
    pub rttvar4: Signal<In, Bits<32>>,
    pub rto_us: Signal<In, Bits<32>>,
    pub measured: Signal<In, Bit>,
    pub timing: Signal<In, Bit>,
    pub rtt_seq: Signal<In, Bits<32>>,
    pub rtt_start_us: Signal<In, Bits<32>>,
    /// The measurement is to be sampled by the echoed TSval.
    pub by_echo: Signal<In, Bit>,
    // The event.
    pub event_kind: Signal<In, Bits<2>>,
    /// `EV_SEND`: the segment's first sequence number; `EV_ACK`: the ACK.
    pub seq: Signal<In, Bits<32>>,
    /// `EV_SEND`: the segment was sent before.
    pub retransmission: Signal<In, Bit>,
    pub now_us: Signal<In, Bits<32>>,
    /// The connection negotiated timestamps.
    pub ts_ok: Signal<In, Bit>,
    /// `EV_ACK`: the ACK carried a Timestamps option, and its TSecr's age in
    /// ticks (the connection's TSval now minus TSecr).
    pub echo_ok: Signal<In, Bit>,
    pub echo_age: Signal<In, Bits<32>>,
    // Settings.
    pub rto_min_us: Signal<In, Bits<32>>,
    pub rto_max_us: Signal<In, Bits<32>>,
    pub granularity_us: Signal<In, Bits<32>>,

    pub new_srtt8: Signal<Out, Bits<32>>,
    pub new_rttvar4: Signal<Out, Bits<32>>,
    pub new_rto_us: Signal<Out, Bits<32>>,
    pub new_measured: Signal<Out, Bit>,
    pub new_timing: Signal<Out, Bit>,
    pub new_rtt_seq: Signal<Out, Bits<32>>,
    pub new_rtt_start_us: Signal<Out, Bits<32>>,
    pub new_by_echo: Signal<Out, Bit>,
    /// `EV_ACK` ended a measurement: `sample_us` is its RTT (clamped).
    pub sampled: Signal<Out, Bit>,
    pub sample_us: Signal<Out, Bits<32>>,

    cmp_timed: SeqCmp,
    elapsed: Signal<Local, Bits<32>>,
    echo_trusted: Signal<Local, Bit>,
    sample_ok: Signal<Local, Bit>,
    sample: Signal<Local, Bits<32>>,
    srtt: Signal<Local, Bits<32>>,
    dev: Signal<Local, Bits<32>>,
    var_next: Signal<Local, Bits<32>>,
    srtt8_next: Signal<Local, Bits<32>>,
    var_term: Signal<Local, Bits<32>>,
    rto_raw: Signal<Local, Bits<32>>,
    rto_capped: Signal<Local, Bits<32>>,
    rto_computed: Signal<Local, Bits<32>>,
    rto_doubled: Signal<Local, Bits<32>>,
    ev_send: Constant<Bits<2>>,
    ev_ack: Constant<Bits<2>>,
    ev_timeout: Constant<Bits<2>>,
}

impl Default for TxRtt {
    fn default() -> Self {
        Self {
            srtt8: Default::default(),
            rttvar4: Default::default(),
            rto_us: Default::default(),
            measured: Default::default(),
            timing: Default::default(),
            rtt_seq: Default::default(),
            rtt_start_us: Default::default(),
            by_echo: Default::default(),
            event_kind: Default::default(),
            seq: Default::default(),
            retransmission: Default::default(),
            now_us: Default::default(),
            ts_ok: Default::default(),
            echo_ok: Default::default(),
            echo_age: Default::default(),
            rto_min_us: Default::default(),
            rto_max_us: Default::default(),
            granularity_us: Default::default(),
            new_srtt8: Default::default(),
            new_rttvar4: Default::default(),
            new_rto_us: Default::default(),
            new_measured: Default::default(),
            new_timing: Default::default(),
            new_rtt_seq: Default::default(),
            new_rtt_start_us: Default::default(),
            new_by_echo: Default::default(),
            sampled: Default::default(),
            sample_us: Default::default(),
            cmp_timed: Default::default(),
            elapsed: Default::default(),
            echo_trusted: Default::default(),
            sample_ok: Default::default(),
            sample: Default::default(),
            srtt: Default::default(),
            dev: Default::default(),
            var_next: Default::default(),
            srtt8_next: Default::default(),
            var_term: Default::default(),
            rto_raw: Default::default(),
            rto_capped: Default::default(),
            rto_computed: Default::default(),
            rto_doubled: Default::default(),
            ev_send: Constant::new(Bits::<2>::from(EV_SEND)),
            ev_ack: Constant::new(Bits::<2>::from(EV_ACK)),
            ev_timeout: Constant::new(Bits::<2>::from(EV_TIMEOUT)),
        }
    }
}

impl Logic for TxRtt {
    #[hdl_gen]
    fn update(&mut self) {
        // The sample R, clamped to RTO_MAX: the time since the timed send, or
        // the echo's age when a retransmission made that ambiguous.
        self.elapsed.next = self.now_us.val() - self.rtt_start_us.val();
        self.echo_trusted.next = self.echo_ok.val() & (self.echo_age.val() <= (self.elapsed.val() >> 10) + 1_u32.to_bits());
        self.sample_ok.next = true;
        self.sample.next = self.elapsed.val();
        if self.rto_max_us.val() < self.elapsed.val() {
            self.sample.next = self.rto_max_us.val();
        }
        if self.by_echo.val() {
            self.sample_ok.next = self.echo_trusted.val();
            self.sample.next = self.echo_age.val() << 10;
            if (self.rto_max_us.val() >> 10) < self.echo_age.val() {
                self.sample.next = self.rto_max_us.val();
            }
        }
        // §2.3 with the SRTT before this sample; §2.2 for the first.
        self.srtt.next = self.srtt8.val() >> 3;
        self.dev.next = self.srtt.val() - self.sample.val();
        if self.srtt.val() < self.sample.val() {
            self.dev.next = self.sample.val() - self.srtt.val();
        }
        self.var_next.next = self.sample.val() << 1;
        self.srtt8_next.next = self.sample.val() << 3;
        if self.measured.val() {
            self.var_next.next = self.rttvar4.val() - (self.rttvar4.val() >> 2) + self.dev.val();
            self.srtt8_next.next = self.srtt8.val() - (self.srtt8.val() >> 3) + self.sample.val();
        }
        // §2.2-§2.5: SRTT + max(G, 4 RTTVAR), capped, then floored.
        self.var_term.next = self.var_next.val();
        if self.var_next.val() < self.granularity_us.val() {
            self.var_term.next = self.granularity_us.val();
        }
        self.rto_raw.next = (self.srtt8_next.val() >> 3) + self.var_term.val();
        self.rto_capped.next = self.rto_raw.val();
        if self.rto_max_us.val() < self.rto_raw.val() {
            self.rto_capped.next = self.rto_max_us.val();
        }
        self.rto_computed.next = self.rto_capped.val();
        if self.rto_capped.val() < self.rto_min_us.val() {
            self.rto_computed.next = self.rto_min_us.val();
        }
        // §5.5: back off.
        self.rto_doubled.next = self.rto_us.val() << 1;
        if self.rto_max_us.val() < self.rto_doubled.val() {
            self.rto_doubled.next = self.rto_max_us.val();
        }
        // The timed segment is covered when its first sequence number is before the ACK.
        self.cmp_timed.a.next = self.rtt_seq.val();
        self.cmp_timed.b.next = self.seq.val();

        self.new_srtt8.next = self.srtt8.val();
        self.new_rttvar4.next = self.rttvar4.val();
        self.new_rto_us.next = self.rto_us.val();
        self.new_measured.next = self.measured.val();
        self.new_timing.next = self.timing.val();
        self.new_rtt_seq.next = self.rtt_seq.val();
        self.new_rtt_start_us.next = self.rtt_start_us.val();
        self.new_by_echo.next = self.by_echo.val();
        self.sampled.next = false;
        self.sample_us.next = self.sample.val();
        if self.event_kind.val() == self.ev_send.val() {
            if self.retransmission.val() & !self.ts_ok.val() {
                self.new_timing.next = false;
            } else {
                if !self.timing.val() {
                    self.new_timing.next = true;
                    self.new_rtt_seq.next = self.seq.val();
                    self.new_rtt_start_us.next = self.now_us.val();
                    self.new_by_echo.next = false;
                }
                if self.retransmission.val() {
                    self.new_by_echo.next = true;
                }
            }
        }
        if (self.event_kind.val() == self.ev_ack.val()) & self.timing.val() & self.cmp_timed.a_before_b.val() {
            self.new_timing.next = false;
            if self.sample_ok.val() {
                self.sampled.next = true;
                self.new_srtt8.next = self.srtt8_next.val();
                self.new_rttvar4.next = self.var_next.val();
                self.new_rto_us.next = self.rto_computed.val();
                self.new_measured.next = true;
            }
        }
        if self.event_kind.val() == self.ev_timeout.val() {
            self.new_rto_us.next = self.rto_doubled.val();
            self.new_timing.next = false;
            self.new_by_echo.next = false;
        }
    }
}

pub fn verilog() -> Result<String, crate::generate::GenError> {
    crate::generate::verilog_named(&mut TxRtt::default(), "tx_rtt")
}

#[cfg(test)]
mod tests {
    #[test]
    fn tx_rtt_lints_clean_and_synthesizes() {
        let v = super::verilog().expect("generates");
        crate::check::lint("tx_rtt", &v).unwrap_or_else(|e| panic!("lint:\n{e}"));
        let area = crate::check::synth("tx_rtt", &v).unwrap_or_else(|e| panic!("{e}"));
        eprintln!("tx_rtt area: {area:?}");
        assert!(area.luts > 0);
        assert_eq!(area.dsp, 0, "shifts and adds only");
    }
}
