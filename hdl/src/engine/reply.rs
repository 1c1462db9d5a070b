//! The segment a change to a connection calls for, chosen after every
//! received segment, release and promotion (the engine's `Reply` state), and
//! the working TCB as that segment leaves it. Combinational.
//!
//! In order: a standby card sends nothing (it only stores replicated state);
//! a held SYN-ACK goes out once R covers the peer's SYN (it may then ACK
//! irs+1) and its retransmission timer starts; in CLOSE-WAIT with everything
//! up to and including the peer's FIN released, our FIN|ACK closes our side
//! (LAST-ACK, FIN timer armed) once every byte the host wrote is sent and
//! acknowledged (so LAST-ACK never has data to resend behind the FIN);
//! otherwise every synchronized state that still receives or ACKs the
//! peer's FIN (ESTABLISHED, CLOSE-WAIT, FIN-WAIT-1/2, CLOSING, TIME-WAIT)
//! sends an ACK when the ACK value or the right edge moved, or when it answers
//! a duplicate with a D-SACK block (dsack.rs). Every segment sent records
//! the ACK and right edge it carries.
use super::st;
use super::tcb_fields::TcbFields;
use super::tx_request::TxSegmentState;
use holdback_regmap::TcpState;
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct ReplyChoice {
    /// The working TCB after the change.
    pub tcb: Signal<In, TcbFields>,
    pub standby: Signal<In, Bit>,
    /// The promotion walk is running (it speaks although still in standby).
    pub promoting: Signal<In, Bit>,
    // The segment checks' view of `tcb`.
    pub all_released: Signal<In, Bit>,
    /// Send holdback lets our FIN out (its sequence number is below the send limit).
    pub fin_allowed: Signal<In, Bit>,
    pub changed: Signal<In, Bit>,
    /// The ACK would lead with a D-SACK block (dsack.rs): a duplicate is
    /// answered even when nothing moved, so the peer learns of it (RFC 2883 §4).
    pub dsack: Signal<In, Bit>,
    pub ack: Signal<In, Bits<32>>,
    pub right: Signal<In, Bits<32>>,
    pub now_us: Signal<In, Bits<32>>,
    pub rto_us: Signal<In, Bits<32>>,

    /// A segment is to be sent.
    pub send: Signal<Out, Bit>,
    /// Which one (a plain ACK when nothing is sent).
    pub segment: Signal<Out, TxSegmentState>,
    pub fixed: Signal<Out, TcbFields>,

    silent: Signal<Local, Bit>,
    /// Where our FIN goes: after the last byte the host wrote.
    tail: Signal<Local, Bits<32>>,
    /// A state that ACKs what it receives (RFC 9293 §3.10.7.4 steps 6-7).
    acks: Signal<Local, Bit>,
    st_fin_wait1: Constant<Bits<4>>,
    st_fin_wait2: Constant<Bits<4>>,
    st_closing: Constant<Bits<4>>,
    st_time_wait: Constant<Bits<4>>,
    st_syn_rcvd: Constant<Bits<4>>,
    st_established: Constant<Bits<4>>,
    st_close_wait: Constant<Bits<4>>,
    st_last_ack: Constant<Bits<4>>,
    zero4: Constant<Bits<4>>,
    /// A relayed CLOSE-WAIT closes only once its peer received a FIN (docs/relay.md).
    may_close: Signal<Local, Bit>,
    no_link: Constant<Bits<16>>,
}

impl Default for ReplyChoice {
    fn default() -> Self {
        Self {
            tcb: Default::default(),
            standby: Default::default(),
            promoting: Default::default(),
            all_released: Default::default(),
            fin_allowed: Default::default(),
            changed: Default::default(),
            dsack: Default::default(),
            ack: Default::default(),
            right: Default::default(),
            now_us: Default::default(),
            rto_us: Default::default(),
            send: Default::default(),
            segment: Default::default(),
            fixed: Default::default(),
            silent: Default::default(),
            tail: Default::default(),
            acks: Default::default(),
            st_fin_wait1: st(TcpState::FinWait1),
            st_fin_wait2: st(TcpState::FinWait2),
            st_closing: st(TcpState::Closing),
            st_time_wait: st(TcpState::TimeWait),
            st_syn_rcvd: st(TcpState::SynReceived),
            st_established: st(TcpState::Established),
            st_close_wait: st(TcpState::CloseWait),
            st_last_ack: st(TcpState::LastAck),
            zero4: Constant::new(Bits::<4>::from(0u64)),
            may_close: Default::default(),
            no_link: Constant::new(Bits::<16>::from(super::relay_step::NO_LINK)),
        }
    }
}

impl Logic for ReplyChoice {
    #[hdl_gen]
    fn update(&mut self) {
        self.silent.next = self.standby.val() & !self.promoting.val();
        self.send.next = false;
        self.segment.next = TxSegmentState::Ack;
        self.fixed.next = self.tcb.val();
        self.tail.next = self.tcb.val().iss + 1_u32.to_bits() + self.tcb.val().tx_end;
        self.may_close.next = (self.tcb.val().peer_link == self.no_link.val()) | self.tcb.val().close_asked.any();
        self.acks.next = (self.tcb.val().state == self.st_established.val())
            | (self.tcb.val().state == self.st_close_wait.val())
            | (self.tcb.val().state == self.st_fin_wait1.val())
            | (self.tcb.val().state == self.st_fin_wait2.val())
            | (self.tcb.val().state == self.st_closing.val())
            | (self.tcb.val().state == self.st_time_wait.val());
        if self.silent.val() {
            self.send.next = false;
        } else if (self.tcb.val().state == self.st_syn_rcvd.val())
            & (self.tcb.val().ack_sent == self.tcb.val().irs)
            & (self.tcb.val().rel != self.tcb.val().irs)
        {
            self.send.next = true;
            self.segment.next = TxSegmentState::SynAck;
            self.fixed.next.ack_sent = self.ack.val();
            self.fixed.next.timer_due = self.now_us.val() + self.rto_us.val();
            self.fixed.next.retries = self.zero4.val();
        } else if (self.tcb.val().state == self.st_close_wait.val())
            & self.may_close.val()
            & self.all_released.val()
            & (self.tcb.val().snd_una == self.tail.val())
            & self.fin_allowed.val()
        {
            // The FIN after the host's last byte, once it is acknowledged (before that the send queue sends the bytes).
            self.send.next = true;
            self.segment.next = TxSegmentState::FinAck;
            self.fixed.next.snd_nxt = self.tcb.val().snd_nxt + 1_u32.to_bits();
            self.fixed.next.snd_max = self.tcb.val().snd_nxt + 1_u32.to_bits();
            self.fixed.next.state = self.st_last_ack.val();
            self.fixed.next.timer_due = self.now_us.val() + self.rto_us.val();
            self.fixed.next.retries = self.zero4.val();
            self.fixed.next.ack_sent = self.ack.val();
            self.fixed.next.rcv_adv = self.right.val();
        } else if self.acks.val() & (self.changed.val() | self.dsack.val()) {
            self.send.next = true;
            self.fixed.next.ack_sent = self.ack.val();
            self.fixed.next.rcv_adv = self.right.val();
        }
    }
}
