//! The ACK processor of one connection's transmit side (docs/tx.md, "ACK
//! processing"), without the RTT estimate (`rtt.rs` takes the same ACK and
//! hands this block the RTO to restart the timer with):
//!
//! 1. an ACK after snd_max is too new, one before snd_una old: nothing changes
//!    (RFC 9293 §3.10.7.4);
//! 2. the window is taken from a newer segment (SND.WL1/SND.WL2, same section);
//! 3. a duplicate ACK (RFC 5681 §2; not while the persist timer runs) counts,
//!    inflates cwnd in recovery (RFC 5681 §3.2 step 4), and the third one after
//!    `recover` starts fast retransmit (RFC 6582 §3.2 step 2, RFC 5681 eq. 4);
//! 4. new data moves snd_una (and snd_nxt when behind), grows cwnd by slow
//!    start or byte-counting congestion avoidance (RFC 5681 §3.1), or in
//!    recovery ends it on a full ACK / deflates on a partial ACK (RFC 6582
//!    §3.2 step 3), and stops or restarts the timer (RFC 6298 §5.2-§5.3;
//!    only the first partial ACK restarts it);
//! 5. an opened window ends the persist timer (RFC 9293 §3.8.6.1).
//!
//! Sequence numbers compare in serial-number order (`SeqCmp`); byte counts
//! are plain unsigned. Combinational; the reference is
//! `TxTcb::ack_update` in `sim/src/refmodel/tx.rs`.
use super::{timer_code, TIMER_OFF, TIMER_PERSIST, TIMER_RETRANSMIT};
use crate::seq_cmp::SeqCmp;
use rust_hdl::prelude::*;

/// Codes of the `verdict` port, the reference model's `AckVerdict` in order.
pub const VERDICT_TOO_NEW: u64 = 0;
pub const VERDICT_OLD: u64 = 1;
pub const VERDICT_NO_PROGRESS: u64 = 2;
pub const VERDICT_DUPLICATE: u64 = 3;
pub const VERDICT_FAST_RETRANSMIT: u64 = 4;
pub const VERDICT_NEW_DATA: u64 = 5;
pub const VERDICT_PARTIAL_ACK: u64 = 6;
pub const VERDICT_FULL_ACK: u64 = 7;

#[derive(LogicBlock)]
pub struct TxAck {
    // The connection's transmit state.
    pub snd_una: Signal<In, Bits<32>>,
    pub snd_nxt: Signal<In, Bits<32>>,
    pub snd_max: Signal<In, Bits<32>>,
    pub snd_wnd: Signal<In, Bits<16>>,
    pub snd_wl1: Signal<In, Bits<32>>,
    pub snd_wl2: Signal<In, Bits<32>>,
    pub smss: Signal<In, Bits<16>>,
    pub cwnd: Signal<In, Bits<32>>,
    pub ssthresh: Signal<In, Bits<32>>,
    pub bytes_acked: Signal<In, Bits<32>>,
    pub dupacks: Signal<In, Bits<4>>,
    pub recover: Signal<In, Bits<32>>,
    pub in_recovery: Signal<In, Bit>,
    pub partial_seen: Signal<In, Bit>,
    pub timer: Signal<In, Bits<2>>,
    pub timer_due_us: Signal<In, Bits<32>>,
    pub retries: Signal<In, Bits<4>>,
    // The segment.
    pub seg_seq: Signal<In, Bits<32>>,
    pub seg_ack: Signal<In, Bits<32>>,
    pub seg_wnd: Signal<In, Bits<16>>,
    /// Payload, SYN or FIN: no duplicate ACK.
    pub seg_occupies: Signal<In, Bit>,
    pub now_us: Signal<In, Bits<32>>,
    /// The RTO after this ACK's sample (from `TxRtt`).
    pub rto_us: Signal<In, Bits<32>>,

    pub verdict: Signal<Out, Bits<3>>,
    /// Send the segment at (the new) snd_una again: fast retransmit or a partial ACK.
    pub retransmit: Signal<Out, Bit>,
    pub new_snd_una: Signal<Out, Bits<32>>,
    pub new_snd_nxt: Signal<Out, Bits<32>>,
    pub new_snd_wnd: Signal<Out, Bits<16>>,
    pub new_snd_wl1: Signal<Out, Bits<32>>,
    pub new_snd_wl2: Signal<Out, Bits<32>>,
    pub new_cwnd: Signal<Out, Bits<32>>,
    pub new_ssthresh: Signal<Out, Bits<32>>,
    pub new_bytes_acked: Signal<Out, Bits<32>>,
    pub new_dupacks: Signal<Out, Bits<4>>,
    pub new_recover: Signal<Out, Bits<32>>,
    pub new_in_recovery: Signal<Out, Bit>,
    pub new_partial_seen: Signal<Out, Bit>,
    pub new_timer: Signal<Out, Bits<2>>,
    pub new_timer_due_us: Signal<Out, Bits<32>>,
    pub new_retries: Signal<Out, Bits<4>>,

    cmp_too_new: SeqCmp,
    cmp_old: SeqCmp,
    cmp_wl1: SeqCmp,
    cmp_wl2: SeqCmp,
    cmp_nxt: SeqCmp,
    cmp_recover: SeqCmp,
    take_window: Signal<Local, Bit>,
    wnd_after: Signal<Local, Bits<16>>,
    una_after: Signal<Local, Bits<32>>,
    flight: Signal<Local, Bits<32>>,
    flight_after: Signal<Local, Bits<32>>,
    acked: Signal<Local, Bits<32>>,
    smss32: Signal<Local, Bits<32>>,
    two_smss: Signal<Local, Bits<32>>,
    loss_ssthresh: Signal<Local, Bits<32>>,
    dup_count: Signal<Local, Bits<4>>,
    can_grow: Signal<Local, Bit>,
    ss_step: Signal<Local, Bits<32>>,
    ca_sum: Signal<Local, Bits<32>>,
    full_floor: Signal<Local, Bits<32>>,
    full_cwnd: Signal<Local, Bits<32>>,
    deflated: Signal<Local, Bits<32>>,
    refilled: Signal<Local, Bits<32>>,
    partial_cwnd: Signal<Local, Bits<32>>,
    timer_mid: Signal<Local, Bits<2>>,
    due_mid: Signal<Local, Bits<32>>,
    due_restart: Signal<Local, Bits<32>>,
    t_off: Constant<Bits<2>>,
    t_retransmit: Constant<Bits<2>>,
    t_persist: Constant<Bits<2>>,
    v_too_new: Constant<Bits<3>>,
    v_old: Constant<Bits<3>>,
    v_no_progress: Constant<Bits<3>>,
    v_duplicate: Constant<Bits<3>>,
    v_fast_retransmit: Constant<Bits<3>>,
    v_new_data: Constant<Bits<3>>,
    v_partial: Constant<Bits<3>>,
    v_full: Constant<Bits<3>>,
    dup_max: Constant<Bits<4>>,
    dup_threshold: Constant<Bits<4>>,
    one4: Constant<Bits<4>>,
    zero4: Constant<Bits<4>>,
    zero16: Constant<Bits<16>>,
    one32: Constant<Bits<32>>,
    zero32: Constant<Bits<32>>,
    ones32: Constant<Bits<32>>,
}

fn verdict(code: u64) -> Constant<Bits<3>> {
    Constant::new(Bits::<3>::from(code))
}

impl Default for TxAck {
    fn default() -> Self {
        Self {
            snd_una: Default::default(),
            snd_nxt: Default::default(),
            snd_max: Default::default(),
            snd_wnd: Default::default(),
            snd_wl1: Default::default(),
            snd_wl2: Default::default(),
            smss: Default::default(),
            cwnd: Default::default(),
            ssthresh: Default::default(),
            bytes_acked: Default::default(),
            dupacks: Default::default(),
            recover: Default::default(),
            in_recovery: Default::default(),
            partial_seen: Default::default(),
            timer: Default::default(),
            timer_due_us: Default::default(),
            retries: Default::default(),
            seg_seq: Default::default(),
            seg_ack: Default::default(),
            seg_wnd: Default::default(),
            seg_occupies: Default::default(),
            now_us: Default::default(),
            rto_us: Default::default(),
            verdict: Default::default(),
            retransmit: Default::default(),
            new_snd_una: Default::default(),
            new_snd_nxt: Default::default(),
            new_snd_wnd: Default::default(),
            new_snd_wl1: Default::default(),
            new_snd_wl2: Default::default(),
            new_cwnd: Default::default(),
            new_ssthresh: Default::default(),
            new_bytes_acked: Default::default(),
            new_dupacks: Default::default(),
            new_recover: Default::default(),
            new_in_recovery: Default::default(),
            new_partial_seen: Default::default(),
            new_timer: Default::default(),
            new_timer_due_us: Default::default(),
            new_retries: Default::default(),
            cmp_too_new: Default::default(),
            cmp_old: Default::default(),
            cmp_wl1: Default::default(),
            cmp_wl2: Default::default(),
            cmp_nxt: Default::default(),
            cmp_recover: Default::default(),
            take_window: Default::default(),
            wnd_after: Default::default(),
            una_after: Default::default(),
            flight: Default::default(),
            flight_after: Default::default(),
            acked: Default::default(),
            smss32: Default::default(),
            two_smss: Default::default(),
            loss_ssthresh: Default::default(),
            dup_count: Default::default(),
            can_grow: Default::default(),
            ss_step: Default::default(),
            ca_sum: Default::default(),
            full_floor: Default::default(),
            full_cwnd: Default::default(),
            deflated: Default::default(),
            refilled: Default::default(),
            partial_cwnd: Default::default(),
            timer_mid: Default::default(),
            due_mid: Default::default(),
            due_restart: Default::default(),
            t_off: timer_code(TIMER_OFF),
            t_retransmit: timer_code(TIMER_RETRANSMIT),
            t_persist: timer_code(TIMER_PERSIST),
            v_too_new: verdict(VERDICT_TOO_NEW),
            v_old: verdict(VERDICT_OLD),
            v_no_progress: verdict(VERDICT_NO_PROGRESS),
            v_duplicate: verdict(VERDICT_DUPLICATE),
            v_fast_retransmit: verdict(VERDICT_FAST_RETRANSMIT),
            v_new_data: verdict(VERDICT_NEW_DATA),
            v_partial: verdict(VERDICT_PARTIAL_ACK),
            v_full: verdict(VERDICT_FULL_ACK),
            dup_max: Constant::new(Bits::<4>::from(15u64)),
            dup_threshold: Constant::new(Bits::<4>::from(3u64)),
            one4: Constant::new(Bits::<4>::from(1u64)),
            zero4: Constant::new(Bits::<4>::from(0u64)),
            zero16: Constant::new(Bits::<16>::from(0u64)),
            one32: Constant::new(Bits::<32>::from(1u64)),
            zero32: Constant::new(Bits::<32>::from(0u64)),
            ones32: Constant::new(Bits::<32>::from(0xFFFF_FFFFu64)),
        }
    }
}

impl Logic for TxAck {
    #[hdl_gen]
    fn update(&mut self) {
        // ---- Comparisons in sequence space. ----
        self.cmp_too_new.a.next = self.snd_max.val();
        self.cmp_too_new.b.next = self.seg_ack.val();
        self.cmp_old.a.next = self.seg_ack.val();
        self.cmp_old.b.next = self.snd_una.val();
        self.cmp_wl1.a.next = self.snd_wl1.val();
        self.cmp_wl1.b.next = self.seg_seq.val();
        self.cmp_wl2.a.next = self.snd_wl2.val();
        self.cmp_wl2.b.next = self.seg_ack.val();
        self.cmp_nxt.a.next = self.snd_nxt.val();
        self.cmp_nxt.b.next = self.seg_ack.val();
        self.cmp_recover.a.next = self.recover.val();
        self.cmp_recover.b.next = self.seg_ack.val();

        // ---- Byte counts (all from the state before this ACK). ----
        self.take_window.next = self.cmp_wl1.a_before_b.val()
            | ((self.snd_wl1.val() == self.seg_seq.val()) & self.cmp_wl2.a_not_after_b.val());
        self.wnd_after.next = self.snd_wnd.val();
        if self.take_window.val() {
            self.wnd_after.next = self.seg_wnd.val();
        }
        self.flight.next = self.snd_max.val() - self.snd_una.val();
        self.flight_after.next = self.snd_max.val() - self.seg_ack.val();
        self.acked.next = self.seg_ack.val() - self.snd_una.val();
        self.smss32.next = bit_cast::<32, 16>(self.smss.val());
        self.two_smss.next = self.smss32.val() << 1;
        // RFC 5681 eq. 4: max(FlightSize / 2, 2 SMSS).
        self.loss_ssthresh.next = self.flight.val() >> 1;
        if (self.flight.val() >> 1) < self.two_smss.val() {
            self.loss_ssthresh.next = self.two_smss.val();
        }
        self.dup_count.next = self.dupacks.val();
        if self.dupacks.val() != self.dup_max.val() {
            self.dup_count.next = self.dupacks.val() + self.one4.val();
        }
        // cwnd grows only below 2^24 (it can then never wrap).
        self.can_grow.next = !self.cwnd.val().get_bits::<8>(24).any();
        self.ss_step.next = self.acked.val();
        if self.smss32.val() < self.acked.val() {
            self.ss_step.next = self.smss32.val();
        }
        // Saturating bytes_acked + acked.
        self.ca_sum.next = self.bytes_acked.val() + self.acked.val();
        if self.ca_sum.val() < self.bytes_acked.val() {
            self.ca_sum.next = self.ones32.val();
        }
        // RFC 6582 full ACK: min(ssthresh, max(FlightSize, SMSS) + SMSS).
        self.full_floor.next = self.flight_after.val();
        if self.flight_after.val() < self.smss32.val() {
            self.full_floor.next = self.smss32.val();
        }
        self.full_cwnd.next = self.full_floor.val() + self.smss32.val();
        if self.ssthresh.val() < self.full_cwnd.val() {
            self.full_cwnd.next = self.ssthresh.val();
        }
        // RFC 6582 partial ACK: deflate, add one SMSS back after >= SMSS, floor SMSS.
        self.deflated.next = self.zero32.val();
        if self.acked.val() < self.cwnd.val() {
            self.deflated.next = self.cwnd.val() - self.acked.val();
        }
        self.refilled.next = self.deflated.val();
        if !(self.acked.val() < self.smss32.val()) {
            self.refilled.next = self.deflated.val() + self.smss32.val();
        }
        self.partial_cwnd.next = self.refilled.val();
        if self.refilled.val() < self.smss32.val() {
            self.partial_cwnd.next = self.smss32.val();
        }
        self.due_restart.next = self.now_us.val() + self.rto_us.val();

        // ---- Defaults: nothing changes. ----
        self.verdict.next = self.v_no_progress.val();
        self.una_after.next = self.snd_una.val();
        self.new_snd_nxt.next = self.snd_nxt.val();
        self.new_snd_wnd.next = self.snd_wnd.val();
        self.new_snd_wl1.next = self.snd_wl1.val();
        self.new_snd_wl2.next = self.snd_wl2.val();
        self.new_cwnd.next = self.cwnd.val();
        self.new_ssthresh.next = self.ssthresh.val();
        self.new_bytes_acked.next = self.bytes_acked.val();
        self.new_dupacks.next = self.dupacks.val();
        self.new_recover.next = self.recover.val();
        self.new_in_recovery.next = self.in_recovery.val();
        self.new_partial_seen.next = self.partial_seen.val();
        self.timer_mid.next = self.timer.val();
        self.due_mid.next = self.timer_due_us.val();
        self.new_retries.next = self.retries.val();

        if self.cmp_too_new.a_before_b.val() {
            self.verdict.next = self.v_too_new.val();
        } else if self.cmp_old.a_before_b.val() {
            self.verdict.next = self.v_old.val();
        } else {
            if self.take_window.val() {
                self.new_snd_wnd.next = self.seg_wnd.val();
                self.new_snd_wl1.next = self.seg_seq.val();
                self.new_snd_wl2.next = self.seg_ack.val();
            }
            if self.seg_ack.val() == self.snd_una.val() {
                if self.flight.val().any()
                    & !self.seg_occupies.val()
                    & (self.seg_wnd.val() == self.snd_wnd.val())
                    & (self.timer.val() != self.t_persist.val())
                {
                    self.new_dupacks.next = self.dup_count.val();
                    self.verdict.next = self.v_duplicate.val();
                    if self.in_recovery.val() {
                        if self.can_grow.val() {
                            self.new_cwnd.next = self.cwnd.val() + self.smss32.val();
                        }
                    } else if (self.dup_count.val() == self.dup_threshold.val()) & self.cmp_recover.a_before_b.val() {
                        self.verdict.next = self.v_fast_retransmit.val();
                        self.new_ssthresh.next = self.loss_ssthresh.val();
                        self.new_recover.next = self.snd_max.val() - self.one32.val();
                        self.new_cwnd.next = self.loss_ssthresh.val() + self.two_smss.val() + self.smss32.val();
                        self.new_in_recovery.next = true;
                        self.new_partial_seen.next = false;
                        self.new_bytes_acked.next = self.zero32.val();
                    }
                }
            } else {
                self.una_after.next = self.seg_ack.val();
                if self.cmp_nxt.a_before_b.val() {
                    self.new_snd_nxt.next = self.seg_ack.val();
                }
                self.new_dupacks.next = self.zero4.val();
                self.new_retries.next = self.zero4.val();
                self.verdict.next = self.v_new_data.val();
                // recover follows the ACKs that pass it (never stale after 2 GiB; the model's rule).
                if self.cmp_recover.a_before_b.val() {
                    self.new_recover.next = self.seg_ack.val() - self.one32.val();
                }
                if self.in_recovery.val() {
                    if self.cmp_recover.a_before_b.val() {
                        self.verdict.next = self.v_full.val();
                        self.new_cwnd.next = self.full_cwnd.val();
                        self.new_in_recovery.next = false;
                    } else {
                        self.verdict.next = self.v_partial.val();
                        self.new_cwnd.next = self.partial_cwnd.val();
                        self.new_partial_seen.next = true;
                    }
                } else if self.cwnd.val() < self.ssthresh.val() {
                    if self.can_grow.val() {
                        self.new_cwnd.next = self.cwnd.val() + self.ss_step.val();
                    }
                } else if self.cwnd.val() <= self.ca_sum.val() {
                    self.new_bytes_acked.next = self.ca_sum.val() - self.cwnd.val();
                    if self.can_grow.val() {
                        self.new_cwnd.next = self.cwnd.val() + self.smss32.val();
                    }
                } else {
                    self.new_bytes_acked.next = self.ca_sum.val();
                }
                // RFC 6298 §5.2/§5.3; RFC 6582: later partial ACKs leave the timer.
                if self.seg_ack.val() == self.snd_max.val() {
                    self.timer_mid.next = self.t_off.val();
                } else if !(self.in_recovery.val() & !self.cmp_recover.a_before_b.val() & self.partial_seen.val()) {
                    self.timer_mid.next = self.t_retransmit.val();
                    self.due_mid.next = self.due_restart.val();
                }
            }
            // RFC 9293 §3.8.6.1: an opened window ends the persist timer.
            if (self.timer_mid.val() == self.t_persist.val()) & (self.wnd_after.val() != self.zero16.val()) {
                if self.una_after.val() == self.snd_max.val() {
                    self.timer_mid.next = self.t_off.val();
                } else {
                    self.timer_mid.next = self.t_retransmit.val();
                    self.due_mid.next = self.due_restart.val();
                }
            }
        }
        self.new_snd_una.next = self.una_after.val();
        self.new_timer.next = self.timer_mid.val();
        self.new_timer_due_us.next = self.due_mid.val();
        self.retransmit.next = (self.verdict.val() == self.v_fast_retransmit.val()) | (self.verdict.val() == self.v_partial.val());
    }
}

pub fn verilog() -> Result<String, crate::generate::GenError> {
    crate::generate::verilog_named(&mut TxAck::default(), "tx_ack")
}

#[cfg(test)]
mod tests {
    #[test]
    fn tx_ack_lints_clean_and_synthesizes() {
        let v = super::verilog().expect("generates");
        crate::check::lint("tx_ack", &v).unwrap_or_else(|e| panic!("lint:\n{e}"));
        let area = crate::check::synth("tx_ack", &v).unwrap_or_else(|e| panic!("{e}"));
        eprintln!("tx_ack area: {area:?}");
        assert!(area.luts > 0);
        assert_eq!(area.dsp, 0, "adds and compares only");
    }
}
