//! The timer scan's decision for one TCB (the engine's `ScanDecide` state):
//! our SYN-ACK (SYN-RECEIVED) or FIN (LAST-ACK) is retransmitted when its
//! timer has expired, with the timeout doubled per retry (`RTO << retries`,
//! the count before this retry), until seven retries have gone unanswered:
//! then the peer is gone and the connection is dropped. A standby card runs
//! no timers, and a held SYN-ACK (nothing ACKed yet) has none running.
//! Combinational.
use super::st;
use super::tcb_fields::TcbFields;
use super::tx_request::TxSegmentState;
use crate::seq_cmp::SeqCmp;
use holdback_regmap::TcpState;
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct Retransmit {
    pub tcb: Signal<In, TcbFields>,
    pub now_us: Signal<In, Bits<32>>,
    pub rto_us: Signal<In, Bits<32>>,
    pub standby: Signal<In, Bit>,

    /// The timer expired and retries are left: send `segment`, store `fixed`.
    pub due: Signal<Out, Bit>,
    /// The timer expired after the last retry: drop the connection.
    pub give_up: Signal<Out, Bit>,
    /// Our SYN-ACK again (offering the ring, as the first did) or our FIN|ACK again.
    pub segment: Signal<Out, TxSegmentState>,
    /// `tcb` with the retry counted and the timer re-armed.
    pub fixed: Signal<Out, TcbFields>,

    cmp_timer: SeqCmp,
    expired: Signal<Local, Bit>,
    backoff: Signal<Local, Bits<32>>,
    st_syn_rcvd: Constant<Bits<4>>,
    st_last_ack: Constant<Bits<4>>,
    max_retries: Constant<Bits<4>>,
    one4: Constant<Bits<4>>,
}

impl Default for Retransmit {
    fn default() -> Self {
        Self {
            tcb: Default::default(),
            now_us: Default::default(),
            rto_us: Default::default(),
            standby: Default::default(),
            due: Default::default(),
            give_up: Default::default(),
            segment: Default::default(),
            fixed: Default::default(),
            cmp_timer: Default::default(),
            expired: Default::default(),
            backoff: Default::default(),
            st_syn_rcvd: st(TcpState::SynReceived),
            st_last_ack: st(TcpState::LastAck),
            max_retries: Constant::new(Bits::<4>::from(7u64)),
            one4: Constant::new(Bits::<4>::from(1u64)),
        }
    }
}

impl Logic for Retransmit {
    #[hdl_gen]
    fn update(&mut self) {
        self.cmp_timer.a.next = self.now_us.val();
        self.cmp_timer.b.next = self.tcb.val().timer_due;
        self.backoff.next = self.rto_us.val() << self.tcb.val().retries;
        self.expired.next = ((self.tcb.val().state == self.st_syn_rcvd.val()) | (self.tcb.val().state == self.st_last_ack.val()))
            & !self.cmp_timer.a_before_b.val()
            & !self.standby.val()
            & !((self.tcb.val().state == self.st_syn_rcvd.val()) & (self.tcb.val().ack_sent == self.tcb.val().irs));
        self.give_up.next = self.expired.val() & (self.max_retries.val() <= self.tcb.val().retries);
        self.due.next = self.expired.val() & (self.tcb.val().retries < self.max_retries.val());
        self.segment.next = TxSegmentState::FinAgain;
        if self.tcb.val().state == self.st_syn_rcvd.val() {
            self.segment.next = TxSegmentState::SynAck;
        }
        self.fixed.next = self.tcb.val();
        self.fixed.next.retries = self.tcb.val().retries + self.one4.val();
        self.fixed.next.timer_due = self.now_us.val() + self.backoff.val();
    }
}
