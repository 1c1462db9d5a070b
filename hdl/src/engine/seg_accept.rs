//! What a segment does to a synchronized connection, RFC 9293 §3.10.7.4 steps
//! 1-6 decided at once (combinational), so the engine applies them in the one
//! cycle after the TCB is loaded (`TcpCheck`, or `TcpAccept` after the ACK
//! that completed a handshake):
//!
//! 1. not acceptable: `drop_out_of_window`, an ACK unless it is a RST;
//! 2. RST at rcv_nxt closes, elsewhere in the window a challenge ACK (RFC 5961 §3.2);
//! 3. SYN: a challenge ACK (RFC 5961 §4.2);
//! 4. no ACK bit: `drop_unsupported`; an ACK of something never sent: an ACK,
//!    `drop_out_of_window`; an old ACK (before snd_una) is ignored and the
//!    segment's text still processed (RFC 9293 §3.10.7.4); else snd_una
//!    advances (if the ACK is new and not beyond snd_nxt), the peer's window
//!    is taken, and in LAST-ACK the ACK of our FIN closes;
//! 5. data or a FIN beyond rcv_nxt in ESTABLISHED, FIN-WAIT-1 or FIN-WAIT-2: a duplicate ACK, `drop_out_of_order`;
//!    with reassembly on, the new bytes of a data segment without FIN are
//!    copied to their offset in the ring and held (`ooo_copy`; `OooIssue`
//!    waits while the ring writer is busy), and one that would need a fifth
//!    held range is `drop_ooo_over_limit`;
//! 6. new in-order bytes: the payload copy is offered (`CopyIssue` waits while
//!    the ring writer is busy); then the FIN step (`TcpFin`). In-order data
//!    the ring has no room for (window scaling: an edge rounded up past the
//!    ring's end) is dropped and answered by an ACK, as out-of-order data is.
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
            goto: Default::default(),
            stats: Default::default(),
            advertise: Default::default(),
            close: Default::default(),
            ack_taken: Default::default(),
            una_moves: Default::default(),
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
        self.ack_only.next = false;
        self.copy.next = false;
        self.ooo_copy.next = false;
        self.goto.next = EngineState::TxSend;
        if !self.acceptable.val() {
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
            self.ack_taken.next = !self.ack_old.val();
            self.una_moves.next = !self.ack_old.val()
                & (self.ack_minus_una.val() != 0_u32.to_bits())
                & !(self.nxt_minus_una.val() < self.ack_minus_una.val());
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
