//! Connection life after ESTABLISHED (RFC 9293 §3.6): what the engine needs
//! to close our side, follow the peer's FIN through FIN-WAIT-1/2, CLOSING and
//! TIME-WAIT, and free a slot whose TIME-WAIT (or an unanswered FIN-WAIT-2)
//! ran out. Combinational; the engine applies each answer in one state.
//!
//! Our FIN takes the sequence number after the last byte the host wrote
//! (`tail = iss + 1 + tx_end`), so it goes out only once every byte below the
//! send tail was sent: "FIN sent" is `snd_max == tail + 1` and "FIN acked" is
//! `snd_una == tail + 1`; no TCB bit records either.
//!
//! - `fin_due`: the FIN is the next thing to send: FIN-WAIT-1, CLOSING and
//!   LAST-ACK (after a go-back-N put snd_nxt back below it), or CLOSE-WAIT with
//!   everything released, and snd_nxt at the tail. `fin_sent` is the TCB after
//!   sending it (CLOSE-WAIT goes to LAST-ACK, ESTABLISHED to FIN-WAIT-1); its
//!   timer starts unless data already runs it.
//! - `seg_moves`/`seg_next`: a segment accepted in FIN-WAIT-1, FIN-WAIT-2 or
//!   CLOSING (the engine's `TcpFin`, after the ACK step): the ACK of our FIN
//!   moves FIN-WAIT-1 to FIN-WAIT-2 and CLOSING to TIME-WAIT; the peer's FIN at
//!   rcv_nxt moves FIN-WAIT-1 to CLOSING (TIME-WAIT if it also ACKs ours) and
//!   FIN-WAIT-2 to TIME-WAIT. TIME-WAIT and FIN-WAIT-2 run TIME_WAIT_US.
//! - `fin_again`: in TIME-WAIT the peer's FIN came again (our ACK of it was
//!   lost): the segment ends just below rcv_nxt. It is ACKed (it fails the
//!   acceptability test, whose answer is an ACK) and the 2 MSL timeout
//!   restarts at `time_wait_due` (RFC 9293 §3.10.7.4, TIME-WAIT).
//! - `timer_close`: the timer scan frees a TIME-WAIT or FIN-WAIT-2 slot whose
//!   time is up (Linux's `tcp_fin_timeout` likewise bounds an orphaned
//!   FIN-WAIT-2, so a vanished peer cannot hold the slot).
use super::st;
use super::tcb_fields::TcbFields;
use crate::seq_cmp::SeqCmp;
use holdback_regmap::TcpState;
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct CloseSteps {
    /// The engine's working TCB.
    pub tcb: Signal<In, TcbFields>,
    pub now_us: Signal<In, Bits<32>>,
    pub rto_us: Signal<In, Bits<32>>,
    pub time_wait_us: Signal<In, Bits<32>>,
    pub standby: Signal<In, Bit>,
    // The segment checks' view of `tcb` and the segment.
    pub fin_at_rcv_nxt: Signal<In, Bit>,
    pub all_released: Signal<In, Bit>,
    // The segment.
    pub seg_seq: Signal<In, Bits<32>>,
    pub seg_payload_len: Signal<In, Bits<11>>,
    pub seg_fin: Signal<In, Bit>,
    /// Send holdback lets our FIN out (its sequence number is below the send limit).
    pub fin_allowed: Signal<In, Bit>,

    /// The state takes in-order data (ESTABLISHED, FIN-WAIT-1, FIN-WAIT-2).
    pub rcv_open: Signal<Out, Bit>,
    /// The host may still move the send tail (not after its close).
    pub may_append: Signal<Out, Bit>,
    /// The state may send data below the tail (a retransmission after our FIN included).
    pub data_allowed: Signal<Out, Bit>,
    /// Every byte below the send tail has been sent (snd_nxt at the tail).
    pub all_sent: Signal<Out, Bit>,
    pub fin_due: Signal<Out, Bit>,
    pub fin_sent: Signal<Out, TcbFields>,
    pub seg_moves: Signal<Out, Bit>,
    pub seg_next: Signal<Out, TcbFields>,
    pub enters_time_wait: Signal<Out, Bit>,
    pub fin_again: Signal<Out, Bit>,
    /// When TIME-WAIT ends if it (re)starts now.
    pub time_wait_due: Signal<Out, Bits<32>>,
    pub timer_close: Signal<Out, Bit>,
    /// New data acknowledged restarts the retransmission timer (RFC 6298 §5.3).
    pub ack_restarts_timer: Signal<Out, Bit>,

    tail: Signal<Local, Bits<32>>,
    tail1: Signal<Local, Bits<32>>,
    fin_acked: Signal<Local, Bit>,
    /// NOW_US against the TCB's timer, in serial order.
    cmp_timer: SeqCmp,
    tw_due: Signal<Local, Bits<32>>,
    is_est: Signal<Local, Bit>,
    is_cw: Signal<Local, Bit>,
    is_fw1: Signal<Local, Bit>,
    is_fw2: Signal<Local, Bit>,
    is_closing: Signal<Local, Bit>,
    is_last_ack: Signal<Local, Bit>,
    is_tw: Signal<Local, Bit>,
    st_established: Constant<Bits<4>>,
    st_close_wait: Constant<Bits<4>>,
    st_fin_wait1: Constant<Bits<4>>,
    st_fin_wait2: Constant<Bits<4>>,
    st_closing: Constant<Bits<4>>,
    st_last_ack: Constant<Bits<4>>,
    st_time_wait: Constant<Bits<4>>,
    st_syn_rcvd: Constant<Bits<4>>,
    zero4: Constant<Bits<4>>,
    /// A relayed CLOSE-WAIT closes only once its peer received a FIN (docs/relay.md).
    may_close: Signal<Local, Bit>,
    no_link: Constant<Bits<16>>,
}

impl Default for CloseSteps {
    fn default() -> Self {
        Self {
            tcb: Default::default(),
            now_us: Default::default(),
            rto_us: Default::default(),
            time_wait_us: Default::default(),
            standby: Default::default(),
            fin_at_rcv_nxt: Default::default(),
            all_released: Default::default(),
            seg_seq: Default::default(),
            seg_payload_len: Default::default(),
            seg_fin: Default::default(),
            fin_allowed: Default::default(),
            rcv_open: Default::default(),
            may_append: Default::default(),
            data_allowed: Default::default(),
            all_sent: Default::default(),
            fin_due: Default::default(),
            fin_sent: Default::default(),
            seg_moves: Default::default(),
            seg_next: Default::default(),
            enters_time_wait: Default::default(),
            fin_again: Default::default(),
            time_wait_due: Default::default(),
            timer_close: Default::default(),
            ack_restarts_timer: Default::default(),
            tail: Default::default(),
            tail1: Default::default(),
            fin_acked: Default::default(),
            cmp_timer: Default::default(),
            tw_due: Default::default(),
            is_est: Default::default(),
            is_cw: Default::default(),
            is_fw1: Default::default(),
            is_fw2: Default::default(),
            is_closing: Default::default(),
            is_last_ack: Default::default(),
            is_tw: Default::default(),
            st_established: st(TcpState::Established),
            st_close_wait: st(TcpState::CloseWait),
            st_fin_wait1: st(TcpState::FinWait1),
            st_fin_wait2: st(TcpState::FinWait2),
            st_closing: st(TcpState::Closing),
            st_last_ack: st(TcpState::LastAck),
            st_time_wait: st(TcpState::TimeWait),
            st_syn_rcvd: st(TcpState::SynReceived),
            zero4: Constant::new(Bits::<4>::from(0u64)),
            may_close: Default::default(),
            no_link: Constant::new(Bits::<16>::from(super::relay_step::NO_LINK)),
        }
    }
}

impl Logic for CloseSteps {
    #[hdl_gen]
    fn update(&mut self) {
        self.is_est.next = self.tcb.val().state == self.st_established.val();
        self.is_cw.next = self.tcb.val().state == self.st_close_wait.val();
        self.is_fw1.next = self.tcb.val().state == self.st_fin_wait1.val();
        self.is_fw2.next = self.tcb.val().state == self.st_fin_wait2.val();
        self.is_closing.next = self.tcb.val().state == self.st_closing.val();
        self.is_last_ack.next = self.tcb.val().state == self.st_last_ack.val();
        self.is_tw.next = self.tcb.val().state == self.st_time_wait.val();
        self.tail.next = self.tcb.val().iss + 1_u32.to_bits() + self.tcb.val().tx_end;
        self.may_close.next = (self.tcb.val().peer_link == self.no_link.val()) | self.tcb.val().close_asked.any();
        self.tail1.next = self.tail.val() + 1_u32.to_bits();
        self.fin_acked.next = (self.tcb.val().snd_max == self.tail1.val()) & (self.tcb.val().snd_una == self.tail1.val());
        self.cmp_timer.a.next = self.now_us.val();
        self.cmp_timer.b.next = self.tcb.val().timer_due;
        self.tw_due.next = self.now_us.val() + self.time_wait_us.val();

        self.rcv_open.next = self.is_est.val() | self.is_fw1.val() | self.is_fw2.val();
        self.may_append.next = self.is_est.val() | self.is_cw.val() | (self.tcb.val().state == self.st_syn_rcvd.val());
        self.all_sent.next = self.tcb.val().snd_nxt == self.tail.val();
        self.data_allowed.next = (self.is_est.val() | self.is_cw.val() | self.is_fw1.val() | self.is_closing.val() | self.is_last_ack.val())
            & (self.tcb.val().snd_nxt != self.tail1.val());
        // CLOSE-WAIT closes once the host's bytes are also acknowledged: LAST-ACK
        // then only has our FIN in flight (the TX table's ACK processing stops there).
        self.fin_due.next = (self.is_fw1.val() | self.is_closing.val() | self.is_last_ack.val()
            | (self.is_cw.val() & self.may_close.val() & self.all_released.val() & (self.tcb.val().snd_una == self.tail.val())))
            & self.all_sent.val()
            & self.fin_allowed.val();
        self.ack_restarts_timer.next = self.is_est.val() | self.is_cw.val() | self.is_fw1.val() | self.is_closing.val();

        self.fin_sent.next = self.tcb.val();
        self.fin_sent.next.snd_nxt = self.tail1.val();
        self.fin_sent.next.snd_max = self.tail1.val();
        if self.is_cw.val() {
            self.fin_sent.next.state = self.st_last_ack.val();
        }
        if self.is_est.val() {
            self.fin_sent.next.state = self.st_fin_wait1.val();
        }
        if self.tcb.val().snd_una == self.tcb.val().snd_max {
            // Nothing was in flight: the FIN starts the retransmission timer.
            self.fin_sent.next.timer_due = self.now_us.val() + self.rto_us.val();
            self.fin_sent.next.retries = self.zero4.val();
        }

        self.seg_next.next = self.tcb.val();
        self.seg_moves.next = false;
        self.enters_time_wait.next = false;
        if (self.is_fw1.val() | self.is_fw2.val()) & self.fin_at_rcv_nxt.val() {
            // The peer's FIN, in order: it counts in rcv_nxt and is ACKed by the reply.
            self.seg_moves.next = true;
            self.seg_next.next.rcv_nxt = self.tcb.val().rcv_nxt + 1_u32.to_bits();
            self.seg_next.next.fin_rcvd = true.into();
            if self.is_fw2.val() | self.fin_acked.val() {
                self.enters_time_wait.next = true;
                self.seg_next.next.state = self.st_time_wait.val();
                self.seg_next.next.timer_due = self.tw_due.val();
            } else {
                self.seg_next.next.state = self.st_closing.val();
            }
        } else if self.is_fw1.val() & self.fin_acked.val() {
            self.seg_moves.next = true;
            self.seg_next.next.state = self.st_fin_wait2.val();
            self.seg_next.next.timer_due = self.tw_due.val();
            self.seg_next.next.retries = self.zero4.val();
        } else if self.is_closing.val() & self.fin_acked.val() {
            self.seg_moves.next = true;
            self.enters_time_wait.next = true;
            self.seg_next.next.state = self.st_time_wait.val();
            self.seg_next.next.timer_due = self.tw_due.val();
        }

        // The FIN takes the sequence number after the segment's data: it was
        // counted once, so rcv_nxt is one past it.
        self.fin_again.next = self.is_tw.val()
            & self.seg_fin.val()
            & ((self.seg_seq.val() + bit_cast::<32, 11>(self.seg_payload_len.val()) + 1_u32.to_bits()) == self.tcb.val().rcv_nxt);
        self.time_wait_due.next = self.tw_due.val();

        self.timer_close.next = (self.is_tw.val() | self.is_fw2.val()) & !self.cmp_timer.a_before_b.val() & !self.standby.val();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn close_steps_lint_clean_and_synthesize() {
        let mut block = super::CloseSteps::default();
        let v = crate::generate::verilog_named(&mut block, "close_steps").expect("generates");
        crate::check::lint("close_steps", &v).unwrap_or_else(|e| panic!("lint:\n{e}"));
        crate::check::synth("close_steps", &v).unwrap_or_else(|e| panic!("{e}"));
    }
}
