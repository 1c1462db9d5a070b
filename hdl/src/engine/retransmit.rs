//! The timer scan's decision for one TCB (the engine's `ScanDecide` state):
//! our SYN-ACK (SYN-RECEIVED) or FIN (LAST-ACK) is retransmitted when its
//! timer has expired, with the timeout doubled per retry (`RTO << retries`,
//! the count before this retry), until seven retries have gone unanswered:
//! then the peer is gone and the connection is dropped. A standby card runs
//! no timers, and a held SYN-ACK (nothing ACKed yet) has none running.
//!
//! Data in flight (ESTABLISHED or CLOSE-WAIT, snd_una short of snd_max) has
//! the same timer (RFC 6298 §5): when it expires the sender goes back to
//! snd_una (§5.4, go-back-N; the send queue sends the segment) and the next
//! wait is twice the last (§5.5: `RTO << (retries + 1)`, RTO_US being the
//! first); seven timeouts without an ACK of new data drop the connection.
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
    /// The timer was data's: `fixed` goes back to snd_una, the send queue resends.
    pub data: Signal<Out, Bit>,
    /// `tcb` with the retry counted and the timer re-armed.
    pub fixed: Signal<Out, TcbFields>,

    cmp_timer: SeqCmp,
    expired: Signal<Local, Bit>,
    backoff: Signal<Local, Bits<32>>,
    in_flight: Signal<Local, Bit>,
    retries_next: Signal<Local, Bits<4>>,
    st_established: Constant<Bits<4>>,
    st_close_wait: Constant<Bits<4>>,
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
            data: Default::default(),
            fixed: Default::default(),
            cmp_timer: Default::default(),
            expired: Default::default(),
            backoff: Default::default(),
            in_flight: Default::default(),
            retries_next: Default::default(),
            st_established: st(TcpState::Established),
            st_close_wait: st(TcpState::CloseWait),
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
        self.retries_next.next = self.tcb.val().retries + self.one4.val();
        self.in_flight.next = ((self.tcb.val().state == self.st_established.val()) | (self.tcb.val().state == self.st_close_wait.val()))
            & (self.tcb.val().snd_una != self.tcb.val().snd_max);
        self.backoff.next = self.rto_us.val() << self.tcb.val().retries;
        if self.in_flight.val() {
            self.backoff.next = self.rto_us.val() << self.retries_next.val();
        }
        self.expired.next = ((((self.tcb.val().state == self.st_syn_rcvd.val()) | (self.tcb.val().state == self.st_last_ack.val()))
            & !((self.tcb.val().state == self.st_syn_rcvd.val()) & (self.tcb.val().ack_sent == self.tcb.val().irs)))
            | self.in_flight.val())
            & !self.cmp_timer.a_before_b.val()
            & !self.standby.val();
        self.data.next = self.in_flight.val();
        self.give_up.next = self.expired.val() & (self.max_retries.val() <= self.tcb.val().retries);
        self.due.next = self.expired.val() & (self.tcb.val().retries < self.max_retries.val());
        self.segment.next = TxSegmentState::FinAgain;
        if self.tcb.val().state == self.st_syn_rcvd.val() {
            self.segment.next = TxSegmentState::SynAck;
        }
        self.fixed.next = self.tcb.val();
        self.fixed.next.retries = self.retries_next.val();
        self.fixed.next.timer_due = self.now_us.val() + self.backoff.val();
        if self.in_flight.val() {
            self.fixed.next.snd_nxt = self.tcb.val().snd_una;
        }
    }
}
