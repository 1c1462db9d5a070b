//! Keep-alive and the idle timeout (RFC 9293 §3.8.4, RFC 1122 §4.2.3.6):
//! so that a peer that vanished while nothing was in flight cannot hold its
//! slot forever. Both are settings and off by default. Combinational.
//!
//! A connection in ESTABLISHED or CLOSE-WAIT with nothing unacknowledged
//! (snd_una = snd_max) has no retransmission timer, so its `timer_due` and
//! `retries` serve this timer instead:
//! - every ACK the engine takes that leaves nothing in flight re-arms it
//!   (`rearm`): now + KEEPALIVE_IDLE_US with keep-alive on, else now +
//!   IDLE_TIMEOUT_US, and clears `retries` (the probes sent);
//! - when it expires with keep-alive on and fewer than KEEPALIVE_PROBES
//!   probes sent, a probe goes out (`probe`: an ACK at snd_nxt - 1 with no
//!   data, which the peer must answer) and the timer runs
//!   KEEPALIVE_INTVL_US; once that many probes went unanswered, or when the
//!   idle timeout expires (keep-alive off), the connection is dropped with a
//!   RST (`expire`, `idle_expire` says which).
use super::st;
use super::tcb_fields::TcbFields;
use crate::seq_cmp::SeqCmp;
use holdback_regmap::TcpState;
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct KeepAlive {
    /// The engine's working TCB.
    pub tcb: Signal<In, TcbFields>,
    pub now_us: Signal<In, Bits<32>>,
    pub standby: Signal<In, Bit>,
    /// KEEPALIVE_IDLE_US (0: keep-alive off), KEEPALIVE_INTVL_US,
    /// KEEPALIVE_PROBES (1..=15), IDLE_TIMEOUT_US (0: off).
    pub idle_us: Signal<In, Bits<32>>,
    pub intvl_us: Signal<In, Bits<32>>,
    pub probes: Signal<In, Bits<4>>,
    pub idle_timeout_us: Signal<In, Bits<32>>,
    /// The segment's ACK field, and whether the ACK step moves snd_una to it.
    pub seg_ack: Signal<In, Bits<32>>,
    pub una_moves: Signal<In, Bit>,

    /// An ACK taken now leaves nothing in flight: `timer_due := rearm_due`, `retries := 0`.
    pub rearm: Signal<Out, Bit>,
    pub rearm_due: Signal<Out, Bits<32>>,
    /// The timer scan: send a probe and store `probed`.
    pub probe: Signal<Out, Bit>,
    pub probed: Signal<Out, TcbFields>,
    /// The timer scan: reset the connection and free the slot (the idle timeout's when `idle_expire`).
    pub expire: Signal<Out, Bit>,
    pub idle_expire: Signal<Out, Bit>,

    cmp_timer: SeqCmp,
    ka_on: Signal<Local, Bit>,
    idle_on: Signal<Local, Bit>,
    synced: Signal<Local, Bit>,
    quiet: Signal<Local, Bit>,
    due: Signal<Local, Bit>,
    st_established: Constant<Bits<4>>,
    st_close_wait: Constant<Bits<4>>,
    one4: Constant<Bits<4>>,
}

impl Default for KeepAlive {
    fn default() -> Self {
        Self {
            tcb: Default::default(),
            now_us: Default::default(),
            standby: Default::default(),
            idle_us: Default::default(),
            intvl_us: Default::default(),
            probes: Default::default(),
            idle_timeout_us: Default::default(),
            seg_ack: Default::default(),
            una_moves: Default::default(),
            rearm: Default::default(),
            rearm_due: Default::default(),
            probe: Default::default(),
            probed: Default::default(),
            expire: Default::default(),
            idle_expire: Default::default(),
            cmp_timer: Default::default(),
            ka_on: Default::default(),
            idle_on: Default::default(),
            synced: Default::default(),
            quiet: Default::default(),
            due: Default::default(),
            st_established: st(TcpState::Established),
            st_close_wait: st(TcpState::CloseWait),
            one4: Constant::new(Bits::<4>::from(1u64)),
        }
    }
}

impl Logic for KeepAlive {
    #[hdl_gen]
    fn update(&mut self) {
        self.ka_on.next = self.idle_us.val().any();
        self.idle_on.next = self.idle_timeout_us.val().any();
        self.synced.next = (self.tcb.val().state == self.st_established.val()) | (self.tcb.val().state == self.st_close_wait.val());
        self.cmp_timer.a.next = self.now_us.val();
        self.cmp_timer.b.next = self.tcb.val().timer_due;
        self.due.next = !self.cmp_timer.a_before_b.val() & !self.standby.val();

        self.quiet.next = self.tcb.val().snd_una == self.tcb.val().snd_max;
        if self.una_moves.val() {
            self.quiet.next = self.seg_ack.val() == self.tcb.val().snd_max;
        }
        self.rearm.next = (self.ka_on.val() | self.idle_on.val()) & self.synced.val() & self.quiet.val();
        self.rearm_due.next = self.now_us.val() + self.idle_timeout_us.val();
        if self.ka_on.val() {
            self.rearm_due.next = self.now_us.val() + self.idle_us.val();
        }

        // The scan sees the TCB as stored: quiet means snd_una = snd_max.
        self.probe.next = false;
        self.expire.next = false;
        self.idle_expire.next = false;
        if self.synced.val() & (self.tcb.val().snd_una == self.tcb.val().snd_max) & self.due.val() {
            if self.ka_on.val() {
                if self.tcb.val().retries < self.probes.val() {
                    self.probe.next = true;
                } else {
                    self.expire.next = true;
                }
            } else if self.idle_on.val() {
                self.expire.next = true;
                self.idle_expire.next = true;
            }
        }
        self.probed.next = self.tcb.val();
        self.probed.next.retries = self.tcb.val().retries + self.one4.val();
        self.probed.next.timer_due = self.now_us.val() + self.intvl_us.val();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn keepalive_lints_clean_and_synthesizes() {
        let mut block = super::KeepAlive::default();
        let v = crate::generate::verilog_named(&mut block, "keepalive").expect("generates");
        crate::check::lint("keepalive", &v).unwrap_or_else(|e| panic!("lint:\n{e}"));
        crate::check::synth("keepalive", &v).unwrap_or_else(|e| panic!("{e}"));
    }
}
