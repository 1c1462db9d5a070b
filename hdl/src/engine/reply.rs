//! The segment a change to a connection calls for, chosen after every
//! received segment, release and promotion (the engine's `Reply` state), and
//! the working TCB as that segment leaves it. Combinational.
//!
//! In order: a standby card sends nothing (it only stores replicated state);
//! a held SYN-ACK goes out once R covers the peer's SYN (it may then ACK
//! irs+1) and its retransmission timer starts; in CLOSE-WAIT with everything
//! up to and including the peer's FIN released, our FIN|ACK closes our side
//! (LAST-ACK, FIN timer armed); otherwise ESTABLISHED and CLOSE-WAIT send an
//! ACK when the ACK value or the right edge moved. Every segment sent records
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
    pub changed: Signal<In, Bit>,
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
    st_syn_rcvd: Constant<Bits<4>>,
    st_established: Constant<Bits<4>>,
    st_close_wait: Constant<Bits<4>>,
    st_last_ack: Constant<Bits<4>>,
    zero4: Constant<Bits<4>>,
}

impl Default for ReplyChoice {
    fn default() -> Self {
        Self {
            tcb: Default::default(),
            standby: Default::default(),
            promoting: Default::default(),
            all_released: Default::default(),
            changed: Default::default(),
            ack: Default::default(),
            right: Default::default(),
            now_us: Default::default(),
            rto_us: Default::default(),
            send: Default::default(),
            segment: Default::default(),
            fixed: Default::default(),
            silent: Default::default(),
            st_syn_rcvd: st(TcpState::SynReceived),
            st_established: st(TcpState::Established),
            st_close_wait: st(TcpState::CloseWait),
            st_last_ack: st(TcpState::LastAck),
            zero4: Constant::new(Bits::<4>::from(0u64)),
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
        } else if (self.tcb.val().state == self.st_close_wait.val()) & self.all_released.val() {
            self.send.next = true;
            self.segment.next = TxSegmentState::FinAck;
            self.fixed.next.snd_nxt = self.tcb.val().snd_nxt + 1_u32.to_bits();
            self.fixed.next.snd_max = self.tcb.val().snd_nxt + 1_u32.to_bits();
            self.fixed.next.state = self.st_last_ack.val();
            self.fixed.next.timer_due = self.now_us.val() + self.rto_us.val();
            self.fixed.next.retries = self.zero4.val();
            self.fixed.next.ack_sent = self.ack.val();
            self.fixed.next.rcv_adv = self.right.val();
        } else if ((self.tcb.val().state == self.st_established.val()) | (self.tcb.val().state == self.st_close_wait.val()))
            & self.changed.val()
        {
            self.send.next = true;
            self.fixed.next.ack_sent = self.ack.val();
            self.fixed.next.rcv_adv = self.right.val();
        }
    }
}
