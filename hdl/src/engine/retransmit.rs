//! The timer scan's decision for one TCB (the engine's `ScanDecide` state):
//! our SYN (SYN-SENT), SYN-ACK (SYN-RECEIVED) or FIN (LAST-ACK) is retransmitted when its
//! timer has expired, with the timeout doubled per retry (`RTO << retries`,
//! the count before this retry), until seven retries have gone unanswered:
//! then the peer is gone and the connection is dropped. A standby card runs
//! no timers, and a held SYN-ACK (nothing ACKed yet) has none running.
//!
//! FIN-WAIT-1 and CLOSING time our FIN as LAST-ACK does, while it is the
//! only thing unacknowledged (it sits at `iss + 1 + tx_end`, after the
//! host's last byte); the give-up is followed by a RST (the engine's).
//!
//! Data (ESTABLISHED, CLOSE-WAIT, or data before our FIN in FIN-WAIT-1,
//! CLOSING and LAST-ACK) runs the timer the TX table names
//! (`tx_timer`, docs/tx.md "Timers"), due at the TCB's `timer_due`:
//! - retransmission (RFC 6298 §5): the sender goes back to snd_una (§5.4;
//!   the send path resends the first unacknowledged segment), the next wait
//!   is `data_rto_us`, the RTO the estimator backed off (§5.5), and seven
//!   timeouts without an ACK of new data drop the connection (RFC 9293
//!   §3.8.3, R2);
//! - persist (RFC 9293 §3.8.6.1): a zero-window probe is due, the next wait
//!   is `data_rto_us` too, and no retry counts (a peer may keep its window
//!   closed for ever).
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
    /// The TX table's timer of this connection (`crate::tx::TIMER_*`).
    pub tx_timer: Signal<In, Bits<2>>,
    /// The RTO after this timeout's back-off (the estimator's).
    pub data_rto_us: Signal<In, Bits<32>>,

    /// The timer expired and retries are left: send `segment`, store `fixed`.
    pub due: Signal<Out, Bit>,
    /// The timer expired after the last retry: drop the connection.
    pub give_up: Signal<Out, Bit>,
    /// Our SYN-ACK again (offering the ring, as the first did) or our FIN|ACK again.
    pub segment: Signal<Out, TxSegmentState>,
    /// The timer was data's retransmission timer: `fixed` goes back to snd_una, the send path resends.
    pub data: Signal<Out, Bit>,
    /// The timer was the persist timer: a zero-window probe is due.
    pub probe: Signal<Out, Bit>,
    /// `tcb` with the retry counted and the timer re-armed.
    pub fixed: Signal<Out, TcbFields>,

    cmp_timer: SeqCmp,
    expired: Signal<Local, Bit>,
    backoff: Signal<Local, Bits<32>>,
    in_flight: Signal<Local, Bit>,
    persist: Signal<Local, Bit>,
    data_state: Signal<Local, Bit>,
    /// Our FIN (after the host's last byte, `tail`) is the only thing unacknowledged.
    tail: Signal<Local, Bits<32>>,
    fin_only: Signal<Local, Bit>,
    fin_state: Signal<Local, Bit>,
    st_fin_wait1: Constant<Bits<4>>,
    st_closing: Constant<Bits<4>>,
    retries_next: Signal<Local, Bits<4>>,
    st_established: Constant<Bits<4>>,
    st_close_wait: Constant<Bits<4>>,
    st_syn_rcvd: Constant<Bits<4>>,
    /// Active open: our SYN is timed as a SYN-ACK is (active_open.rs).
    st_syn_sent: Constant<Bits<4>>,
    st_last_ack: Constant<Bits<4>>,
    max_retries: Constant<Bits<4>>,
    one4: Constant<Bits<4>>,
    t_retransmit: Constant<Bits<2>>,
    t_persist: Constant<Bits<2>>,
}

impl Default for Retransmit {
    fn default() -> Self {
        Self {
            tcb: Default::default(),
            now_us: Default::default(),
            rto_us: Default::default(),
            standby: Default::default(),
            tx_timer: Default::default(),
            data_rto_us: Default::default(),
            due: Default::default(),
            give_up: Default::default(),
            segment: Default::default(),
            data: Default::default(),
            probe: Default::default(),
            fixed: Default::default(),
            cmp_timer: Default::default(),
            expired: Default::default(),
            backoff: Default::default(),
            in_flight: Default::default(),
            persist: Default::default(),
            data_state: Default::default(),
            tail: Default::default(),
            fin_only: Default::default(),
            fin_state: Default::default(),
            st_fin_wait1: st(TcpState::FinWait1),
            st_closing: st(TcpState::Closing),
            retries_next: Default::default(),
            st_established: st(TcpState::Established),
            st_close_wait: st(TcpState::CloseWait),
            st_syn_rcvd: st(TcpState::SynReceived),
            st_syn_sent: st(TcpState::SynSent),
            st_last_ack: st(TcpState::LastAck),
            max_retries: Constant::new(Bits::<4>::from(7u64)),
            one4: Constant::new(Bits::<4>::from(1u64)),
            t_retransmit: Constant::new(Bits::<2>::from(crate::tx::TIMER_RETRANSMIT)),
            t_persist: Constant::new(Bits::<2>::from(crate::tx::TIMER_PERSIST)),
        }
    }
}

impl Logic for Retransmit {
    #[hdl_gen]
    fn update(&mut self) {
        self.cmp_timer.a.next = self.now_us.val();
        self.cmp_timer.b.next = self.tcb.val().timer_due;
        self.retries_next.next = self.tcb.val().retries + self.one4.val();
        self.tail.next = self.tcb.val().iss + 1_u32.to_bits() + self.tcb.val().tx_end;
        // The states that sent (or will send) our FIN: its timer, or data's before it.
        self.fin_state.next = (self.tcb.val().state == self.st_last_ack.val())
            | (self.tcb.val().state == self.st_fin_wait1.val())
            | (self.tcb.val().state == self.st_closing.val());
        self.fin_only.next = self.fin_state.val() & (self.tcb.val().snd_una == self.tail.val()) & (self.tcb.val().snd_max != self.tail.val());
        self.data_state.next = ((self.tcb.val().state == self.st_established.val())
            | (self.tcb.val().state == self.st_close_wait.val())
            | self.fin_state.val())
            & !self.fin_only.val();
        // The TX table's ACK processing runs in ESTABLISHED and CLOSE-WAIT; data
        // still in flight before our FIN keeps the retransmission timer unless
        // the persist timer runs.
        self.persist.next = self.data_state.val() & (self.tx_timer.val() == self.t_persist.val());
        self.in_flight.next = self.data_state.val()
            & (self.tcb.val().snd_una != self.tcb.val().snd_max)
            & ((self.tx_timer.val() == self.t_retransmit.val()) | (self.fin_state.val() & !self.persist.val()));
        self.backoff.next = self.rto_us.val() << self.tcb.val().retries;
        if self.in_flight.val() | self.persist.val() {
            self.backoff.next = self.data_rto_us.val();
        }
        self.expired.next = (((self.tcb.val().state == self.st_syn_rcvd.val()) & (self.tcb.val().ack_sent != self.tcb.val().irs))
            | (self.tcb.val().state == self.st_syn_sent.val())
            | self.fin_only.val()
            | self.in_flight.val()
            | self.persist.val())
            & !self.cmp_timer.a_before_b.val()
            & !self.standby.val();
        self.data.next = self.in_flight.val();
        self.probe.next = self.persist.val();
        self.give_up.next = self.expired.val() & !self.persist.val() & (self.max_retries.val() <= self.tcb.val().retries);
        self.due.next = self.expired.val() & (self.persist.val() | (self.tcb.val().retries < self.max_retries.val()));
        self.segment.next = TxSegmentState::FinAgain;
        if self.tcb.val().state == self.st_syn_rcvd.val() {
            self.segment.next = TxSegmentState::SynAck;
        }
        if self.tcb.val().state == self.st_syn_sent.val() {
            self.segment.next = TxSegmentState::Syn;
        }
        self.fixed.next = self.tcb.val();
        if !self.persist.val() {
            self.fixed.next.retries = self.retries_next.val();
        }
        self.fixed.next.timer_due = self.now_us.val() + self.backoff.val();
        if self.in_flight.val() {
            self.fixed.next.snd_nxt = self.tcb.val().snd_una;
        }
    }
}
