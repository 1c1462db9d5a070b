//! What a segment does to a synchronized connection, RFC 9293 §3.10.7.4 steps
//! 1-6 decided at once (combinational), so the engine applies them in the one
//! cycle after the TCB is loaded (`TcpCheck`, or `TcpAccept` after the ACK
//! that completed a handshake):
//!
//! 0. PAWS (RFC 7323 §5.3): on a connection with TS_OK, a segment that is
//!    not a RST and carries a TSval older than TS.Recent (serial order,
//!    §5.2) is not acceptable: `drop_paws`, an ACK, and its ACK field is not
//!    taken either (what Linux does; RFC 7323 §5.3 R1). A RST is judged by
//!    step 2 alone, as Linux does. A segment without the option is not
//!    dropped for lacking it (§3.2 lets the receiver drop it; Linux does not);
//! 1. not acceptable: `drop_out_of_window`, an ACK unless it is a RST;
//! 2. RST at rcv_nxt closes, elsewhere in the window a challenge ACK (RFC 5961 §3.2);
//! 3. SYN: a challenge ACK (RFC 5961 §4.2);
//! 4. no ACK bit: `drop_unsupported`; an ACK of something never sent: an ACK,
//!    `drop_out_of_window`; an old ACK (before snd_una) is ignored and the
//!    segment's text still processed (RFC 9293 §3.10.7.4); else snd_una
//!    advances (if the ACK is new; `snd_max` is RFC 9293's SND.NXT, the
//!    most ever sent), the peer's window is taken, and in LAST-ACK the ACK
//!    of our FIN closes. A retransmission timeout takes `snd_nxt` back to
//!    snd_una (go-back-N), and the peer may then acknowledge bytes the first
//!    sending brought it, past `snd_nxt`: those move snd_una and `snd_nxt`
//!    with it (`nxt_moves`). In ESTABLISHED and CLOSE-WAIT the transmit
//!    side's ACK processor decides the same (`tx/ack.rs`); in FIN-WAIT-1 and
//!    CLOSING, with data still before our FIN, only this block does;
//! 5. data or a FIN beyond rcv_nxt in ESTABLISHED, FIN-WAIT-1 or FIN-WAIT-2: a duplicate ACK, `drop_out_of_order`;
//!    with reassembly on, the new bytes of a data segment without FIN are
//!    copied to their offset in the ring and held (`ooo_copy`; `OooIssue`
//!    waits while the ring writer is busy), and one that would need a fifth
//!    held range is `drop_ooo_over_limit`;
//! 6. new in-order bytes: the payload copy is offered (`CopyIssue` waits while
//!    the ring writer is busy); then the FIN step (`TcpFin`). In-order data
//!    the ring has no room for (window scaling: an edge rounded up past the
//!    ring's end) is dropped and answered by an ACK, as out-of-order data is.
//!
//! TS.Recent (RFC 7323 §4.3): a segment that passes steps 0-4 with an ACK
//! (neither SYN nor RST) and carries a TSval at or after TS.Recent takes it
//! into TS.Recent (`ts_recent_take`) when it starts at or before the last
//! ACK we sent (`ack_sent`, Last.ACK.sent). Under ACK holdback the last ACK
//! sent stops at R, so the TSval echoed is that of the segment that reached
//! R: the peer's RTT sample then includes the holdback, as it should (its
//! bytes were not acknowledged before).
use super::{mask, st, EngineState};
use crate::regbus::STAT_COUNT;
use holdback_regmap::{Stat, TcpState};
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct SegAccept {
    // The working TCB.
    pub state: Signal<In, Bits<4>>,
    pub snd_una: Signal<In, Bits<32>>,
    pub snd_nxt: Signal<In, Bits<32>>,
    pub snd_max: Signal<In, Bits<32>>,
    // The segment, from the parser's descriptor.
    pub seg_ack: Signal<In, Bits<32>>,
    pub payload_len: Signal<In, Bits<11>>,
    pub fin: Signal<In, Bit>,
    pub syn: Signal<In, Bit>,
    pub rst: Signal<In, Bit>,
    pub ack: Signal<In, Bit>,
    // The segment checks' view of both.
    pub acceptable: Signal<In, Bit>,
    pub at_rcv_nxt: Signal<In, Bit>,
    pub out_of_order: Signal<In, Bit>,
    pub take: Signal<In, Bits<32>>,
    /// The ring writer takes a copy command this cycle.
    pub ring_ready: Signal<In, Bit>,
    /// The state takes in-order data and FINs (ESTABLISHED, FIN-WAIT-1, FIN-WAIT-2).
    pub rcv_open: Signal<In, Bit>,
    /// Reassembly (the hole table's merge): an out-of-order segment has new
    /// bytes to hold, or would need more ranges than are kept.
    pub ooo_held: Signal<In, Bit>,
    pub ooo_over: Signal<In, Bit>,
    /// Timestamps: the connection's TS_OK and TS.Recent, the last ACK sent.
    pub ts_ok: Signal<In, Bit>,
    pub ts_recent: Signal<In, Bits<32>>,
    pub ack_sent: Signal<In, Bits<32>>,
    /// The segment's Timestamps option (present, TSval) and SEG.SEQ.
    pub seg_ts: Signal<In, Bit>,
    pub seg_tsval: Signal<In, Bits<32>>,
    pub seg_seq: Signal<In, Bits<32>>,

    /// The engine's next state.
    pub goto: Signal<Out, EngineState>,
    /// Statistics this segment counts (one-hot `Stat` masks).
    pub stats: Signal<Out, Bits<STAT_COUNT>>,
    /// The ACK the transmit request holds goes out and is recorded.
    pub advertise: Signal<Out, Bit>,
    /// The connection closes (RST at rcv_nxt, or the ACK of our FIN).
    pub close: Signal<Out, Bit>,
    /// Step 4 passed: the peer's window is taken; `una_moves`: snd_una := SEG.ACK.
    pub ack_taken: Signal<Out, Bit>,
    pub una_moves: Signal<Out, Bit>,
    /// With `una_moves`: the ACK passes snd_nxt (after a go-back-N), snd_nxt := SEG.ACK.
    pub nxt_moves: Signal<Out, Bit>,
    /// An unacceptable segment (step 1) with an ACK, no RST or SYN: RFC 9293
    /// §3.10.7.4 asks that valid ACKs still be accepted when the receive
    /// window is closed, and a peer's data beyond our window carries them
    /// (the sending side takes the ACK when it acknowledges new data).
    pub ack_only: Signal<Out, Bit>,
    /// Offer the payload copy of `take` bytes.
    pub copy: Signal<Out, Bit>,
    pub take_len: Signal<Out, Bits<11>>,
    /// Offer the out-of-order copy and hold its bytes.
    pub ooo_copy: Signal<Out, Bit>,
    /// TS.Recent := the segment's TSval (RFC 7323 §4.3).
    pub ts_recent_take: Signal<Out, Bit>,

    tsval_minus_recent: Signal<Local, Bits<32>>,
    ack_sent_minus_seq: Signal<Local, Bits<32>>,
    /// 2^31: serial order's sign.
    half: Constant<Bits<32>>,
    /// SEG.TSval is before TS.Recent (serial: the sign of the difference).
    ts_older: Signal<Local, Bit>,
    /// SEG.SEQ is at or before Last.ACK.sent.
    seq_not_after_ack_sent: Signal<Local, Bit>,
    /// PAWS rejects the segment (step 0).
    paws: Signal<Local, Bit>,
    ack_minus_una: Signal<Local, Bits<32>>,
    nxt_minus_una: Signal<Local, Bits<32>>,
    max_minus_una: Signal<Local, Bits<32>>,
    /// SEG.ACK is before snd_una (serial: the sign of ack - snd_una).
    ack_old: Signal<Local, Bit>,
    st_last_ack: Constant<Bits<4>>,
    no_stats: Constant<Bits<STAT_COUNT>>,
    m_out_of_window: Constant<Bits<STAT_COUNT>>,
    m_out_of_order: Constant<Bits<STAT_COUNT>>,
    m_unsupported: Constant<Bits<STAT_COUNT>>,
    m_ooo_over_limit: Constant<Bits<STAT_COUNT>>,
    m_paws: Constant<Bits<STAT_COUNT>>,
}

impl Default for SegAccept {
    fn default() -> Self {
        Self {
            state: Default::default(),
            snd_una: Default::default(),
            snd_nxt: Default::default(),
            snd_max: Default::default(),
            seg_ack: Default::default(),
            payload_len: Default::default(),
            fin: Default::default(),
            syn: Default::default(),
            rst: Default::default(),
            ack: Default::default(),
            acceptable: Default::default(),
            at_rcv_nxt: Default::default(),
            out_of_order: Default::default(),
            take: Default::default(),
            ring_ready: Default::default(),
            rcv_open: Default::default(),
            ooo_held: Default::default(),
            ooo_over: Default::default(),
            ooo_copy: Default::default(),
            ts_ok: Default::default(),
            ts_recent: Default::default(),
            ack_sent: Default::default(),
            seg_ts: Default::default(),
            seg_tsval: Default::default(),
            seg_seq: Default::default(),
            ts_recent_take: Default::default(),
            tsval_minus_recent: Default::default(),
            ack_sent_minus_seq: Default::default(),
            half: Constant::new(Bits::<32>::from(0x8000_0000u64)),
            ts_older: Default::default(),
            seq_not_after_ack_sent: Default::default(),
            paws: Default::default(),
            goto: Default::default(),
            stats: Default::default(),
            advertise: Default::default(),
            close: Default::default(),
            ack_taken: Default::default(),
            una_moves: Default::default(),
            nxt_moves: Default::default(),
            ack_only: Default::default(),
            copy: Default::default(),
            take_len: Default::default(),
            ack_minus_una: Default::default(),
            nxt_minus_una: Default::default(),
            max_minus_una: Default::default(),
            ack_old: Default::default(),
            st_last_ack: st(TcpState::LastAck),
            no_stats: Constant::new(Bits::<STAT_COUNT>::from(0u64)),
            m_out_of_window: mask(Stat::DropOutOfWindow),
            m_out_of_order: mask(Stat::DropOutOfOrder),
            m_unsupported: mask(Stat::DropUnsupported),
            m_ooo_over_limit: mask(Stat::DropOooOverLimit),
            m_paws: mask(Stat::DropPaws),
        }
    }
}

impl Logic for SegAccept {
    #[hdl_gen]
    fn update(&mut self) {
        self.ack_minus_una.next = self.seg_ack.val() - self.snd_una.val();
        self.nxt_minus_una.next = self.snd_nxt.val() - self.snd_una.val();
        self.max_minus_una.next = self.snd_max.val() - self.snd_una.val();
        self.ack_old.next = self.ack_minus_una.val().get_bit(31);
        self.take_len.next = self.take.val().get_bits::<11>(0);
        self.stats.next = self.no_stats.val();
        self.advertise.next = false;
        self.close.next = false;
        self.ack_taken.next = false;
        self.una_moves.next = false;
        self.nxt_moves.next = false;
        self.ack_only.next = false;
        self.copy.next = false;
        self.ooo_copy.next = false;
        self.goto.next = EngineState::TxSend;
        self.ts_recent_take.next = false;
        // Timestamps are compared in serial order like sequence numbers (RFC
        // 7323 §5.2): a wrapping difference of 2^31 or more is negative.
        self.tsval_minus_recent.next = self.seg_tsval.val() - self.ts_recent.val();
        self.ts_older.next = self.tsval_minus_recent.val() >= self.half.val();
        self.ack_sent_minus_seq.next = self.ack_sent.val() - self.seg_seq.val();
        self.seq_not_after_ack_sent.next = self.ack_sent_minus_seq.val() < self.half.val();
        self.paws.next = self.ts_ok.val() & self.seg_ts.val() & !self.rst.val() & self.ts_older.val();
        if self.paws.val() {
            self.stats.next = self.m_paws.val();
            self.advertise.next = true;
        } else if !self.acceptable.val() {
            self.stats.next = self.m_out_of_window.val();
            self.ack_only.next = self.ack.val() & !self.rst.val() & !self.syn.val();
            if self.rst.val() {
                self.goto.next = EngineState::PopFrame;
            } else {
                self.advertise.next = true;
            }
        } else if self.rst.val() {
            if self.at_rcv_nxt.val() {
                self.close.next = true;
                self.goto.next = EngineState::WriteBack;
            } else {
                self.advertise.next = true;
            }
        } else if self.syn.val() {
            self.advertise.next = true;
        } else if !self.ack.val() {
            self.stats.next = self.m_unsupported.val();
            self.goto.next = EngineState::PopFrame;
        } else if !self.ack_old.val() & (self.max_minus_una.val() < self.ack_minus_una.val()) {
            self.stats.next = self.m_out_of_window.val();
            self.advertise.next = true;
        } else {
            // An old ACK changes nothing of the sending side; its text is still taken.
            self.ts_recent_take.next = self.ts_ok.val() & self.seg_ts.val() & !self.ts_older.val() & self.seq_not_after_ack_sent.val();
            self.ack_taken.next = !self.ack_old.val();
            // Not beyond snd_max: the branch above answered those.
            self.una_moves.next = !self.ack_old.val() & (self.ack_minus_una.val() != 0_u32.to_bits());
            self.nxt_moves.next = !self.ack_old.val() & (self.nxt_minus_una.val() < self.ack_minus_una.val());
            self.goto.next = EngineState::TcpFin;
            if (self.state.val() == self.st_last_ack.val()) & (self.seg_ack.val() == self.snd_nxt.val()) {
                self.close.next = true;
                self.goto.next = EngineState::WriteBack;
            } else if self.rcv_open.val() & (self.payload_len.val().any() | self.fin.val()) {
                if self.out_of_order.val() {
                    self.stats.next = self.m_out_of_order.val();
                    self.advertise.next = true;
                    self.goto.next = EngineState::TxSend;
                    if self.ooo_held.val() & !self.fin.val() {
                        // Held: the copy counts it.
                        self.stats.next = self.no_stats.val();
                        self.ooo_copy.next = true;
                        if !self.ring_ready.val() {
                            // The ACK is recorded when the copy is taken, so
                            // the window the decision used stands still until then.
                            self.advertise.next = false;
                            self.goto.next = EngineState::OooIssue;
                        }
                    } else if self.ooo_over.val() & !self.fin.val() {
                        self.stats.next = self.m_ooo_over_limit.val();
                    }
                } else if self.take.val().any() {
                    self.copy.next = true;
                    if !self.ring_ready.val() {
                        self.goto.next = EngineState::CopyIssue;
                    }
                } else if self.payload_len.val().any() {
                    // Window scaling: no room in the ring for any of it.
                    self.advertise.next = true;
                    self.goto.next = EngineState::TxSend;
                }
            }
        }
    }
}
