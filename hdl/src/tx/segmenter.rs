//! What one connection sends next (docs/tx.md, "Sizing a segment"), and the
//! DMA reads that fetch it from the transmit ring. Two questions, chosen by
//! `resend_first`:
//!
//! - `resend_first` low — the next segment from snd_nxt: `min(SMSS, usable window,
//!   bytes written)` where the usable window is `snd_una + min(snd_wnd, cwnd)
//!   - snd_nxt` (RFC 5681 §3.1, RFC 9293 §3.8.6.2.1); a short segment only
//!   when nothing is in flight, when resending below snd_max or with `nodelay` (Nagle); a
//!   segment below snd_max is a retransmission (go-back-N after a timeout).
//!   With data waiting, a zero window and nothing in flight it sends nothing
//!   and starts the persist timer (RFC 9293 §3.8.6.1); while that runs it
//!   sends nothing (the timer's probe is the engine's).
//! - `resend_first` high — a resend, as fast retransmit, a partial ACK or a
//!   timeout asks (RFC 5681 §3.2, RFC 6582 §3.2, RFC 6675 §5): when `rs_ok`,
//!   `min(SMSS, snd_max - rs_seq, tail - rs_seq, cap)` bytes at `rs_seq` (snd_una without
//!   SACK): never past the tail, whose bytes are the only ones the ring
//!   holds (a promoted relayed connection's snd_max runs ahead of what its
//!   peer side received again, docs/relay.md); with nothing unacknowledged (an ACK of everything overtook the
//!   request) the question is the first one's; without `rs_ok` nothing goes.
//!
//! The engine's SACK store (`hdl/src/engine/sack_store.rs`) gives the walk
//! after a timeout its snd_nxt past the ranges the peer SACKed and `cap`, so
//! no segment resends SACKed bytes (docs/sack-sender.md).
//!
//! A segment sent moves snd_nxt and snd_max past it and starts the
//! retransmission timer if none runs (RFC 6298 §5.1). Stream byte `o`
//! (sequence number `iss + 1 + o`) is at ring byte `o & ring_mask`, so the
//! segment is one read at `ring_base + offset` and, when it crosses the ring's
//! end, a second from `ring_base` (`rd1_len` 0 otherwise).
//! Combinational; the reference is `TxTcb::next_segment`,
//! `TxTcb::retransmit_first` and `TxTcb::ring_reads` in `sim/src/refmodel/tx.rs`.
use super::{timer_code, TIMER_OFF, TIMER_PERSIST, TIMER_RETRANSMIT};
use crate::seq_cmp::SeqCmp;
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct TxSegmenter {
    pub iss: Signal<In, Bits<32>>,
    pub snd_una: Signal<In, Bits<32>>,
    pub snd_nxt: Signal<In, Bits<32>>,
    pub snd_max: Signal<In, Bits<32>>,
    /// End of the bytes the host wrote (`iss + 1 + tx_end`).
    pub snd_tail: Signal<In, Bits<32>>,
    /// The peer's window in bytes (scaled: RFC 7323 windows exceed 64 KiB).
    pub snd_wnd: Signal<In, Bits<32>>,
    pub cwnd: Signal<In, Bits<32>>,
    pub smss: Signal<In, Bits<16>>,
    /// No Nagle (a relayed connection, docs/relay.md): short segments go with bytes in flight.
    pub nodelay: Signal<In, Bit>,
    pub timer: Signal<In, Bits<2>>,
    pub timer_due_us: Signal<In, Bits<32>>,
    pub rto_us: Signal<In, Bits<32>>,
    pub now_us: Signal<In, Bits<32>>,
    /// Serve a resend request instead (fast retransmit, a partial ACK, a
    /// duplicate ACK in SACK recovery, a timeout).
    pub resend_first: Signal<In, Bit>,
    /// Where the resend starts and whether it goes at all (the SACK store's
    /// answer, `hdl/src/engine/sack_store.rs`): when not, the request lapses
    /// and the next segment from snd_nxt goes.
    pub rs_seq: Signal<In, Bits<32>>,
    pub rs_ok: Signal<In, Bit>,
    /// No segment runs into the next range the peer SACKed: at most this many
    /// bytes (all ones when there is none).
    pub cap: Signal<In, Bits<32>>,
    pub ring_base: Signal<In, Bits<64>>,
    /// Ring bytes minus one (a power of two minus one).
    pub ring_mask: Signal<In, Bits<32>>,

    pub send: Signal<Out, Bit>,
    pub seg_seq: Signal<Out, Bits<32>>,
    pub seg_len: Signal<Out, Bits<16>>,
    pub seg_retransmission: Signal<Out, Bit>,
    /// The segment serves the resend request (RFC 6675 HighRxt moves past it).
    pub seg_resent: Signal<Out, Bit>,
    pub rd0_addr: Signal<Out, Bits<64>>,
    pub rd0_len: Signal<Out, Bits<16>>,
    pub rd1_len: Signal<Out, Bits<16>>,
    pub new_snd_nxt: Signal<Out, Bits<32>>,
    pub new_snd_max: Signal<Out, Bits<32>>,
    pub new_timer: Signal<Out, Bits<2>>,
    pub new_timer_due_us: Signal<Out, Bits<32>>,

    cmp_resend: SeqCmp,
    // Serial distances of values this kernel computes, compared in place: a
    // SeqCmp child fed from the same always block is a combinational loop to
    // Verilator (UNOPTFLAT). `x` is before `y` when `y - x` is non-zero and
    // either below 2^31 or exactly 2^31 (the sign of `x - y`).
    tail_gap: Signal<Local, Bits<32>>,
    wend_gap: Signal<Local, Bits<32>>,
    end_past_nxt: Signal<Local, Bits<32>>,
    end_past_max: Signal<Local, Bits<32>>,
    half: Constant<Bits<32>>,
    smss32: Signal<Local, Bits<32>>,
    available: Signal<Local, Bits<32>>,
    window: Signal<Local, Bits<32>>,
    window_end: Signal<Local, Bits<32>>,
    usable: Signal<Local, Bits<32>>,
    len_new_smss: Signal<Local, Bits<32>>,
    len_new: Signal<Local, Bits<32>>,
    len_new_or_data: Signal<Local, Bits<32>>,
    flight: Signal<Local, Bits<32>>,
    rs_sent: Signal<Local, Bits<32>>,
    rs_tail_gap: Signal<Local, Bits<32>>,
    rs_bytes: Signal<Local, Bits<32>>,
    len_forced_smss: Signal<Local, Bits<32>>,
    len_forced: Signal<Local, Bits<32>>,
    idle: Signal<Local, Bit>,
    arm_persist: Signal<Local, Bit>,
    nagle_holds: Signal<Local, Bit>,
    go: Signal<Local, Bit>,
    seq: Signal<Local, Bits<32>>,
    len: Signal<Local, Bits<32>>,
    seg_end: Signal<Local, Bits<32>>,
    offset: Signal<Local, Bits<32>>,
    room: Signal<Local, Bits<32>>,
    len16: Signal<Local, Bits<16>>,
    first: Signal<Local, Bits<16>>,
    t_off: Constant<Bits<2>>,
    t_retransmit: Constant<Bits<2>>,
    t_persist: Constant<Bits<2>>,
    one32: Constant<Bits<32>>,
}

impl Default for TxSegmenter {
    fn default() -> Self {
        Self {
            iss: Default::default(),
            snd_una: Default::default(),
            snd_nxt: Default::default(),
            snd_max: Default::default(),
            snd_tail: Default::default(),
            snd_wnd: Default::default(),
            cwnd: Default::default(),
            smss: Default::default(),
            nodelay: Default::default(),
            timer: Default::default(),
            timer_due_us: Default::default(),
            rto_us: Default::default(),
            now_us: Default::default(),
            resend_first: Default::default(),
            rs_seq: Default::default(),
            rs_ok: Default::default(),
            cap: Default::default(),
            ring_base: Default::default(),
            ring_mask: Default::default(),
            send: Default::default(),
            seg_seq: Default::default(),
            seg_len: Default::default(),
            seg_retransmission: Default::default(),
            seg_resent: Default::default(),
            rd0_addr: Default::default(),
            rd0_len: Default::default(),
            rd1_len: Default::default(),
            new_snd_nxt: Default::default(),
            new_snd_max: Default::default(),
            new_timer: Default::default(),
            new_timer_due_us: Default::default(),
            cmp_resend: Default::default(),
            tail_gap: Default::default(),
            wend_gap: Default::default(),
            end_past_nxt: Default::default(),
            end_past_max: Default::default(),
            half: Constant::new(Bits::<32>::from(0x8000_0000u64)),
            smss32: Default::default(),
            available: Default::default(),
            window: Default::default(),
            window_end: Default::default(),
            usable: Default::default(),
            len_new_smss: Default::default(),
            len_new: Default::default(),
            len_new_or_data: Default::default(),
            flight: Default::default(),
            rs_sent: Default::default(),
            rs_tail_gap: Default::default(),
            rs_bytes: Default::default(),
            len_forced_smss: Default::default(),
            len_forced: Default::default(),
            idle: Default::default(),
            arm_persist: Default::default(),
            nagle_holds: Default::default(),
            go: Default::default(),
            seq: Default::default(),
            len: Default::default(),
            seg_end: Default::default(),
            offset: Default::default(),
            room: Default::default(),
            len16: Default::default(),
            first: Default::default(),
            t_off: timer_code(TIMER_OFF),
            t_retransmit: timer_code(TIMER_RETRANSMIT),
            t_persist: timer_code(TIMER_PERSIST),
            one32: Constant::new(Bits::<32>::from(1u64)),
        }
    }
}

impl Logic for TxSegmenter {
    #[hdl_gen]
    fn update(&mut self) {
        self.smss32.next = bit_cast::<32, 16>(self.smss.val());
        // Bytes written and not yet sent from snd_nxt.
        // (The gap as a signed number, kept when positive: RFC 1982 order.)
        self.tail_gap.next = self.snd_tail.val() - self.snd_nxt.val();
        self.available.next = 0_u32.to_bits();
        if !self.tail_gap.val().get_bit(31) {
            self.available.next = self.tail_gap.val();
        }
        // The usable window: snd_una + min(snd_wnd, cwnd) - snd_nxt, or none.
        self.window.next = self.snd_wnd.val();
        if self.cwnd.val() < self.window.val() {
            self.window.next = self.cwnd.val();
        }
        self.window_end.next = self.snd_una.val() + self.window.val();
        self.wend_gap.next = self.window_end.val() - self.snd_nxt.val();
        self.usable.next = 0_u32.to_bits();
        if !self.wend_gap.val().get_bit(31) {
            self.usable.next = self.wend_gap.val();
        }
        self.len_new_or_data.next = self.available.val();
        if self.usable.val() < self.available.val() {
            self.len_new_or_data.next = self.usable.val();
        }
        self.len_new_smss.next = self.len_new_or_data.val();
        if self.smss32.val() < self.len_new_or_data.val() {
            self.len_new_smss.next = self.smss32.val();
        }
        self.len_new.next = self.len_new_smss.val();
        if self.cap.val() < self.len_new_smss.val() {
            self.len_new.next = self.cap.val();
        }
        self.cmp_resend.a.next = self.snd_nxt.val();
        self.cmp_resend.b.next = self.snd_max.val();
        self.idle.next = self.snd_una.val() == self.snd_max.val();
        self.arm_persist.next = (self.timer.val() != self.t_persist.val())
            & self.available.val().any()
            & !self.snd_wnd.val().any()
            & self.idle.val()
            & (self.snd_nxt.val() == self.snd_una.val());
        self.nagle_holds.next =
            (self.len_new.val() < self.smss32.val()) & !self.idle.val() & !self.cmp_resend.a_before_b.val() & !self.nodelay.val();
        // The resend: at most SMSS, the bytes sent from rs_seq, those the
        // ring holds from there (none when the tail is not past rs_seq), and the cap.
        self.flight.next = self.snd_max.val() - self.snd_una.val();
        self.rs_sent.next = self.snd_max.val() - self.rs_seq.val();
        self.rs_tail_gap.next = self.snd_tail.val() - self.rs_seq.val();
        self.rs_bytes.next = self.rs_sent.val();
        if self.rs_tail_gap.val().get_bit(31) {
            self.rs_bytes.next = 0_u32.to_bits();
        } else if self.rs_tail_gap.val() < self.rs_sent.val() {
            self.rs_bytes.next = self.rs_tail_gap.val();
        }
        self.len_forced_smss.next = self.rs_bytes.val();
        if self.smss32.val() < self.rs_bytes.val() {
            self.len_forced_smss.next = self.smss32.val();
        }
        self.len_forced.next = self.len_forced_smss.val();
        if self.cap.val() < self.len_forced_smss.val() {
            self.len_forced.next = self.cap.val();
        }

        self.seq.next = self.snd_nxt.val();
        self.len.next = self.len_new.val();
        self.go.next = (self.timer.val() != self.t_persist.val())
            & !self.arm_persist.val()
            & self.len_new.val().any()
            & !self.nagle_holds.val();
        self.seg_retransmission.next = self.cmp_resend.a_before_b.val();
        self.seg_resent.next = false;
        // A resend overtaken by an ACK of everything sent has nothing to
        // resend: it lapses and new data goes (bytes would otherwise wait
        // with no timer running and no ACK to come). One the SACK store finds
        // nothing lost for sends nothing: the engine comes back without it
        // for the send from snd_nxt (RFC 6675 §5: NextSeg's later rules).
        if self.resend_first.val() & self.flight.val().any() {
            self.seq.next = self.rs_seq.val();
            self.len.next = self.len_forced.val();
            self.go.next = self.len_forced.val().any() & self.rs_ok.val();
            self.seg_retransmission.next = true;
            self.seg_resent.next = true;
        }
        self.seg_end.next = self.seq.val() + self.len.val();
        // A segment is at most SMSS (16 bits) long, so the piece before the
        // ring's end is too.
        self.len16.next = self.len.val().get_bits::<16>(0);
        self.end_past_nxt.next = self.seg_end.val() - self.snd_nxt.val();
        self.end_past_max.next = self.seg_end.val() - self.snd_max.val();

        // Effects on the state.
        self.new_snd_nxt.next = self.snd_nxt.val();
        self.new_snd_max.next = self.snd_max.val();
        self.new_timer.next = self.timer.val();
        self.new_timer_due_us.next = self.timer_due_us.val();
        if self.go.val() {
            if self.end_past_nxt.val().any()
                & (!self.end_past_nxt.val().get_bit(31) | (self.end_past_nxt.val() == self.half.val()))
            {
                self.new_snd_nxt.next = self.seg_end.val();
            }
            if self.end_past_max.val().any()
                & (!self.end_past_max.val().get_bit(31) | (self.end_past_max.val() == self.half.val()))
            {
                self.new_snd_max.next = self.seg_end.val();
            }
            if self.timer.val() == self.t_off.val() {
                self.new_timer.next = self.t_retransmit.val();
                self.new_timer_due_us.next = self.now_us.val() + self.rto_us.val();
            }
        } else if self.arm_persist.val() {
            // (Nothing in flight: a resend asked for has lapsed.)
            self.new_timer.next = self.t_persist.val();
            self.new_timer_due_us.next = self.now_us.val() + self.rto_us.val();
        }
        self.send.next = self.go.val();
        self.seg_seq.next = self.seq.val();
        self.seg_len.next = self.len16.val();

        // The ring: stream offset = seq - iss - 1, modulo the ring.
        self.offset.next = (self.seq.val() - self.iss.val() - self.one32.val()) & self.ring_mask.val();
        self.room.next = self.ring_mask.val() - self.offset.val() + self.one32.val();
        self.first.next = self.len16.val();
        if self.room.val() < self.len.val() {
            self.first.next = self.room.val().get_bits::<16>(0);
        }
        self.rd0_addr.next = self.ring_base.val() + bit_cast::<64, 32>(self.offset.val());
        self.rd0_len.next = self.first.val();
        self.rd1_len.next = self.len16.val() - self.first.val();
    }
}

pub fn verilog() -> Result<String, crate::generate::GenError> {
    crate::generate::verilog_named(&mut TxSegmenter::default(), "tx_segmenter")
}

#[cfg(test)]
mod tests {
    #[test]
    fn tx_segmenter_lints_clean_and_synthesizes() {
        let v = super::verilog().expect("generates");
        crate::check::lint("tx_segmenter", &v).unwrap_or_else(|e| panic!("lint:\n{e}"));
        let area = crate::check::synth("tx_segmenter", &v).unwrap_or_else(|e| panic!("{e}"));
        eprintln!("tx_segmenter area: {area:?}");
        assert!(area.luts > 0);
        assert_eq!(area.dsp, 0, "adds and compares only");
    }
}
