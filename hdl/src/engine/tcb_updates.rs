//! The four combinational blocks that each compute a whole new working TCB,
//! behind one set of inputs: [`PassiveOpen`] (the TCB a SYN creates, loaded in
//! `OpenSlot`), [`ReplyChoice`] (what a change calls for, `Reply`),
//! [`Retransmit`] (the timer scan's decision, `ScanDecide`) and [`PromoteFix`]
//! (what a promotion does to a replicated TCB, `PromFix`). They share the
//! working TCB, the clock and the RTO, so the engine's kernel wires them once.
use super::passive_open::PassiveOpen;
use super::promote_fix::PromoteFix;
use super::reply::ReplyChoice;
use super::retransmit::Retransmit;
use super::tcb_fields::TcbFields;
use super::tx_request::TxSegmentState;
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct TcbUpdates {
    /// The engine's working TCB.
    pub tcb: Signal<In, TcbFields>,
    pub now_us: Signal<In, Bits<32>>,
    pub rto_us: Signal<In, Bits<32>>,
    /// The TX table's timer and the RTO a data timeout backs off to (the timer scan's).
    pub tx_timer: Signal<In, Bits<2>>,
    pub data_rto_us: Signal<In, Bits<32>>,
    pub standby: Signal<In, Bit>,
    /// The promotion walk is running (it speaks although still in standby).
    pub promoting: Signal<In, Bit>,
    // The segment checks' view of `tcb`.
    pub all_released: Signal<In, Bit>,
    /// Send holdback lets our FIN out (its sequence number is below the send limit).
    pub fin_allowed: Signal<In, Bit>,
    pub changed: Signal<In, Bit>,
    /// The ACK being composed leads with a D-SACK block (dsack.rs): it goes out.
    pub dsack: Signal<In, Bit>,
    pub ack: Signal<In, Bits<32>>,
    pub right: Signal<In, Bits<32>>,
    // A SYN, from the parser's descriptor, and what a new connection starts with.
    pub syn_mac: Signal<In, Bits<48>>,
    pub syn_ip: Signal<In, Bits<32>>,
    pub syn_port: Signal<In, Bits<16>>,
    pub syn_dst_port: Signal<In, Bits<16>>,
    pub syn_seq: Signal<In, Bits<32>>,
    pub syn_window: Signal<In, Bits<16>>,
    pub syn_mss: Signal<In, Bits<16>>,
    /// Window scaling: the SYN's Window Scale option (present, shift).
    pub syn_ws_ok: Signal<In, Bit>,
    pub syn_ws: Signal<In, Bits<4>>,
    /// SACK: the SYN carried SACK-permitted and RX_REASM allows SACK.
    pub syn_sack_ok: Signal<In, Bit>,
    /// Timestamps: the SYN carried the option and TIMESTAMPS is on, with this TSval.
    pub syn_ts_ok: Signal<In, Bit>,
    pub syn_tsval: Signal<In, Bits<32>>,
    pub iss: Signal<In, Bits<32>>,
    pub holdback: Signal<In, Bit>,
    pub hold_synack: Signal<In, Bit>,
    /// The free slot's own change generation (a reused slot keeps counting it).
    pub slot_gen: Signal<In, Bits<32>>,
    /// The host's receive ring in bytes (RX_RING_LOG2).
    pub ring_window: Signal<In, Bits<32>>,

    /// The TCB a SYN to a listening port creates.
    pub opened: Signal<Out, TcbFields>,
    /// The reply a change calls for: whether one is sent, which, and the TCB after it.
    pub reply_send: Signal<Out, Bit>,
    pub reply_segment: Signal<Out, TxSegmentState>,
    pub replied: Signal<Out, TcbFields>,
    /// The timer scan: give up, or retransmit this segment with this TCB.
    pub retx_give_up: Signal<Out, Bit>,
    pub retx_due: Signal<Out, Bit>,
    pub retx_segment: Signal<Out, TxSegmentState>,
    /// The timer was for data in flight: the send queue resends from snd_una.
    pub retx_data: Signal<Out, Bit>,
    pub retx_probe: Signal<Out, Bit>,
    pub retransmitted: Signal<Out, TcbFields>,
    /// The promotion walk: the TCB holds a connection, and what the walk makes of it.
    pub prom_open: Signal<Out, Bit>,
    pub promoted: Signal<Out, TcbFields>,

    opener: PassiveOpen,
    reply: ReplyChoice,
    retx: Retransmit,
    prom_fix: PromoteFix,
}

impl Default for TcbUpdates {
    fn default() -> Self {
        Self {
            tcb: Default::default(),
            now_us: Default::default(),
            rto_us: Default::default(),
            tx_timer: Default::default(),
            data_rto_us: Default::default(),
            standby: Default::default(),
            promoting: Default::default(),
            all_released: Default::default(),
            fin_allowed: Default::default(),
            changed: Default::default(),
            dsack: Default::default(),
            ack: Default::default(),
            right: Default::default(),
            syn_mac: Default::default(),
            syn_ip: Default::default(),
            syn_port: Default::default(),
            syn_dst_port: Default::default(),
            syn_seq: Default::default(),
            syn_window: Default::default(),
            syn_mss: Default::default(),
            syn_ws_ok: Default::default(),
            syn_ws: Default::default(),
            syn_sack_ok: Default::default(),
            syn_ts_ok: Default::default(),
            syn_tsval: Default::default(),
            iss: Default::default(),
            holdback: Default::default(),
            hold_synack: Default::default(),
            slot_gen: Default::default(),
            ring_window: Default::default(),
            opened: Default::default(),
            reply_send: Default::default(),
            reply_segment: Default::default(),
            replied: Default::default(),
            retx_give_up: Default::default(),
            retx_due: Default::default(),
            retx_segment: Default::default(),
            retx_data: Default::default(),
            retx_probe: Default::default(),
            retransmitted: Default::default(),
            prom_open: Default::default(),
            promoted: Default::default(),
            opener: Default::default(),
            reply: Default::default(),
            retx: Default::default(),
            prom_fix: Default::default(),
        }
    }
}

impl Logic for TcbUpdates {
    #[hdl_gen]
    fn update(&mut self) {
        self.opener.src_mac.next = self.syn_mac.val();
        self.opener.src_ip.next = self.syn_ip.val();
        self.opener.src_port.next = self.syn_port.val();
        self.opener.dst_port.next = self.syn_dst_port.val();
        self.opener.seq.next = self.syn_seq.val();
        self.opener.window.next = self.syn_window.val();
        self.opener.mss.next = self.syn_mss.val();
        self.opener.iss.next = self.iss.val();
        self.opener.now_us.next = self.now_us.val();
        self.opener.rto_us.next = self.rto_us.val();
        self.opener.holdback.next = self.holdback.val();
        self.opener.hold_synack.next = self.hold_synack.val();
        self.opener.gen.next = self.slot_gen.val();
        self.opener.ring_window.next = self.ring_window.val();
        self.opener.ws_ok.next = self.syn_ws_ok.val();
        self.opener.ws.next = self.syn_ws.val();
        self.opener.sack_ok.next = self.syn_sack_ok.val();
        self.opener.ts_ok.next = self.syn_ts_ok.val();
        self.opener.tsval.next = self.syn_tsval.val();
        self.opened.next = self.opener.tcb.val();

        self.reply.tcb.next = self.tcb.val();
        self.reply.standby.next = self.standby.val();
        self.reply.promoting.next = self.promoting.val();
        self.reply.all_released.next = self.all_released.val();
        self.reply.fin_allowed.next = self.fin_allowed.val();
        self.reply.changed.next = self.changed.val();
        self.reply.dsack.next = self.dsack.val();
        self.reply.ack.next = self.ack.val();
        self.reply.right.next = self.right.val();
        self.reply.now_us.next = self.now_us.val();
        self.reply.rto_us.next = self.rto_us.val();
        self.reply_send.next = self.reply.send.val();
        self.reply_segment.next = self.reply.segment.val();
        self.replied.next = self.reply.fixed.val();

        self.retx.tcb.next = self.tcb.val();
        self.retx.now_us.next = self.now_us.val();
        self.retx.rto_us.next = self.rto_us.val();
        self.retx.standby.next = self.standby.val();
        self.retx_give_up.next = self.retx.give_up.val();
        self.retx_due.next = self.retx.due.val();
        self.retx_segment.next = self.retx.segment.val();
        self.retx_data.next = self.retx.data.val();
        self.retx_probe.next = self.retx.probe.val();
        self.retx.tx_timer.next = self.tx_timer.val();
        self.retx.data_rto_us.next = self.data_rto_us.val();
        self.retransmitted.next = self.retx.fixed.val();

        self.prom_fix.tcb.next = self.tcb.val();
        self.prom_fix.right.next = self.right.val();
        self.prom_fix.all_released.next = self.all_released.val();
        self.prom_fix.now_us.next = self.now_us.val();
        self.prom_fix.rto_us.next = self.rto_us.val();
        self.prom_open.next = self.prom_fix.open.val();
        self.promoted.next = self.prom_fix.fixed.val();
    }
}
