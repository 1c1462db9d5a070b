//! What PROMOTE does to one replicated TCB before the new primary speaks for
//! it (the walk itself is the engine's `Prom*` states). Combinational: `tcb`
//! is the working copy as replicated, `fixed` what the walk writes back.
//!
//! - Invariant 5: the advertised edge moves to at least the replicated right
//!   edge `max(rcv_adv, rel + ring)` (`right`, from the segment checks).
//! - Invariant 3: a synchronized connection resumes from the released point
//!   R, not the old primary's rcv_nxt: rcv_nxt := ack_sent := R, and bytes
//!   above R come again. A CLOSE-WAIT whose FIN lies above R goes back to
//!   ESTABLISHED, because that FIN comes again too.
//! - The old primary's timer_due is in its own clock: SYN-RECEIVED and
//!   LAST-ACK re-arm theirs on this card's.
use super::st;
use super::tcb_fields::TcbFields;
use holdback_regmap::TcpState;
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct PromoteFix {
    pub tcb: Signal<In, TcbFields>,
    /// `max(rcv_adv, rel + ring)` of `tcb`.
    pub right: Signal<In, Bits<32>>,
    /// `rcv_nxt <= rel` in `tcb`: everything received, a FIN included, was released.
    pub all_released: Signal<In, Bit>,
    pub now_us: Signal<In, Bits<32>>,
    pub rto_us: Signal<In, Bits<32>>,

    /// The TCB holds a connection (not CLOSED): the walk resumes it.
    pub open: Signal<Out, Bit>,
    pub fixed: Signal<Out, TcbFields>,

    st_closed: Constant<Bits<4>>,
    st_syn_rcvd: Constant<Bits<4>>,
    st_established: Constant<Bits<4>>,
    st_close_wait: Constant<Bits<4>>,
    st_last_ack: Constant<Bits<4>>,
}

impl Default for PromoteFix {
    fn default() -> Self {
        Self {
            tcb: Default::default(),
            right: Default::default(),
            all_released: Default::default(),
            now_us: Default::default(),
            rto_us: Default::default(),
            open: Default::default(),
            fixed: Default::default(),
            st_closed: st(TcpState::Closed),
            st_syn_rcvd: st(TcpState::SynReceived),
            st_established: st(TcpState::Established),
            st_close_wait: st(TcpState::CloseWait),
            st_last_ack: st(TcpState::LastAck),
        }
    }
}

impl Logic for PromoteFix {
    #[hdl_gen]
    fn update(&mut self) {
        self.open.next = self.tcb.val().state != self.st_closed.val();
        self.fixed.next = self.tcb.val();
        self.fixed.next.rcv_adv = self.right.val();
        if self.tcb.val().state == self.st_syn_rcvd.val() {
            self.fixed.next.timer_due = self.now_us.val() + self.rto_us.val();
        } else {
            self.fixed.next.rcv_nxt = self.tcb.val().rel;
            self.fixed.next.ack_sent = self.tcb.val().rel;
            if (self.tcb.val().state == self.st_close_wait.val()) & !self.all_released.val() {
                self.fixed.next.state = self.st_established.val();
                self.fixed.next.fin_rcvd = false.into();
            }
            if self.tcb.val().state == self.st_last_ack.val() {
                self.fixed.next.timer_due = self.now_us.val() + self.rto_us.val();
            }
        }
    }
}
