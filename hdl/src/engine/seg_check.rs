//! Segment checks: what the engine needs to know about one received segment
//! against one TCB, all combinational and all in sequence space (RFC 9293
//! §3.4, serial-number order across the 2^32 wrap).
//!
//! Receive side (RFC 9293 §3.10.7.4): the sequence space the segment occupies
//! (payload, plus one each for SYN and FIN), the acceptability test against
//! RCV.WND = rcv_adv - rcv_nxt, whether it starts beyond rcv_nxt (out of
//! order), and how many of its payload bytes are new and fit the window.
//!
//! What we send back: the ACK value `min(rcv_nxt, rel)` while holdback is on
//! (no byte is ACKed before the host released it), the right edge
//! `max(rcv_adv, rel + ring)` (an advertised edge never moves left; `ring`
//! is what the host's receive ring holds, at most `65535 << rcv_wscale`), the
//! 16-bit window between them, and whether either moved since the last ACK on
//! the wire.
//!
//! Window scaling (RFC 7323 §2.3): the window field is `(edge - ack) >>
//! rcv_wscale` and the peer takes the edge as `ack + (window << rcv_wscale)`,
//! so `right` is that rounded edge — what the peer sees, and what `rcv_adv`
//! records. It is rounded down, except where that would put it left of
//! `rcv_adv` (an ACK that moved by less than 2^rcv_wscale): then up, by less
//! than 2^rcv_wscale, so the edge never moves left. An edge rounded up may lie
//! past what the ring holds (`rel + ring`); `take` stops there, so such bytes
//! are dropped (the peer sends them again), never written over unreleased ones.
//!
//! `sim/tests/block_seg_check.rs` checks the Verilated block against the
//! reference model's functions of the same names.
use crate::seq_cmp::SeqCmp;
use rust_hdl::prelude::*;

#[derive(LogicBlock, Default)]
pub struct SegCheck {
    // The segment, from the parser's descriptor.
    pub seq: Signal<In, Bits<32>>,
    pub payload_len: Signal<In, Bits<11>>,
    pub syn: Signal<In, Bit>,
    pub fin: Signal<In, Bit>,
    // The connection, from the engine's working TCB.
    pub rcv_nxt: Signal<In, Bits<32>>,
    pub rcv_adv: Signal<In, Bits<32>>,
    pub rel: Signal<In, Bits<32>>,
    pub holdback: Signal<In, Bit>,
    pub ack_sent: Signal<In, Bits<32>>,
    /// Bytes the host's receive ring holds beyond R: the ring's size (RX_RING_LOG2).
    pub ring_window: Signal<In, Bits<32>>,
    /// Window scaling: our shift (the TCB's RCV_WSCALE; 0 in SYN-RECEIVED's
    /// SYN-ACK, which is sent with `syn_window` instead).
    pub rcv_wscale: Signal<In, Bits<4>>,

    /// SEG.LEN: payload bytes plus one for SYN and one for FIN.
    pub seg_len: Signal<Out, Bits<32>>,
    /// RFC 9293 §3.10.7.4, the four cases of SEG.LEN and RCV.WND.
    pub acceptable: Signal<Out, Bit>,
    /// `rcv_nxt <= seq < rcv_adv`.
    pub in_window: Signal<Out, Bit>,
    /// `seq == rcv_nxt`.
    pub at_rcv_nxt: Signal<Out, Bit>,
    /// In the window but beyond rcv_nxt: the bytes before it are missing.
    pub out_of_order: Signal<Out, Bit>,
    /// Payload bytes below rcv_nxt (a retransmission overlap), modulo 2048.
    pub skip: Signal<Out, Bits<11>>,
    /// New payload bytes: from rcv_nxt to the segment's end, cut at rcv_adv
    /// and at what the ring holds (`rel + ring_window`).
    pub take: Signal<Out, Bits<32>>,
    /// The segment's FIN sits exactly at rcv_nxt (all its data taken).
    pub fin_at_rcv_nxt: Signal<Out, Bit>,
    /// `rcv_nxt <= rel`: the host released everything received (a FIN included).
    pub all_released: Signal<Out, Bit>,
    /// The ACK value to send: `min(rcv_nxt, rel)` under holdback, else rcv_nxt.
    pub ack: Signal<Out, Bits<32>>,
    /// The right edge to advertise: `max(rcv_adv, rel + ring)`, rounded to
    /// what the window field can say (see above).
    pub right: Signal<Out, Bits<32>>,
    /// `(right - ack) >> rcv_wscale`, saturated to 16 bits.
    pub window: Signal<Out, Bits<16>>,
    /// The ACK value or the right edge differs from what was last sent.
    pub changed: Signal<Out, Bit>,

    cmp_ack: SeqCmp,
    len32: Signal<Local, Bits<32>>,
    rcv_wnd: Signal<Local, Bits<32>>,
    off_start: Signal<Local, Bits<32>>,
    off_end: Signal<Local, Bits<32>>,
    avail: Signal<Local, Bits<32>>,
    end_seq: Signal<Local, Bits<32>>,
    wnd_full: Signal<Local, Bits<32>>,
    // Window scaling: the ring as this connection's window can say it, the
    // unrounded edge, the window in units of 2^rcv_wscale (rounded down, then
    // up if needed), and the room the ring has beyond rcv_nxt.
    wnd_cap: Signal<Local, Bits<32>>,
    ring_conn: Signal<Local, Bits<32>>,
    edge_cand: Signal<Local, Bits<32>>,
    adv_minus_cand: Signal<Local, Bits<32>>,
    edge_raw: Signal<Local, Bits<32>>,
    units_floor: Signal<Local, Bits<32>>,
    floor_off: Signal<Local, Bits<32>>,
    adv_off: Signal<Local, Bits<32>>,
    units: Signal<Local, Bits<32>>,
    units_bytes: Signal<Local, Bits<32>>,
    room: Signal<Local, Bits<32>>,
}

impl Logic for SegCheck {
    #[hdl_gen]
    fn update(&mut self) {
        self.len32.next = bit_cast::<32, 11>(self.payload_len.val());
        self.seg_len.next = self.len32.val();
        if self.syn.val() & self.fin.val() {
            self.seg_len.next = self.len32.val() + 2_u32.to_bits();
        } else if self.syn.val() | self.fin.val() {
            self.seg_len.next = self.len32.val() + 1_u32.to_bits();
        }
        // Acceptability as offsets from rcv_nxt, so that "rcv_nxt <= x < rcv_nxt + wnd"
        // is one unsigned compare across the wrap.
        self.rcv_wnd.next = self.rcv_adv.val() - self.rcv_nxt.val();
        self.off_start.next = self.seq.val() - self.rcv_nxt.val();
        self.off_end.next = self.off_start.val() + self.seg_len.val() - 1_u32.to_bits();
        self.in_window.next = self.off_start.val() < self.rcv_wnd.val();
        self.at_rcv_nxt.next = self.off_start.val() == 0_u32.to_bits();
        if self.seg_len.val() == 0_u32.to_bits() {
            if self.rcv_wnd.val() == 0_u32.to_bits() {
                self.acceptable.next = self.off_start.val() == 0_u32.to_bits();
            } else {
                self.acceptable.next = self.off_start.val() < self.rcv_wnd.val();
            }
        } else {
            self.acceptable.next = (self.rcv_wnd.val() != 0_u32.to_bits())
                & ((self.off_start.val() < self.rcv_wnd.val()) | (self.off_end.val() < self.rcv_wnd.val()));
        }
        self.out_of_order.next = (self.off_start.val() != 0_u32.to_bits()) & (self.off_start.val() < self.rcv_wnd.val());
        self.skip.next = self.rcv_nxt.val().get_bits::<11>(0) - self.seq.val().get_bits::<11>(0);
        // Bytes of this segment beyond rcv_nxt; negative (all old) takes none.
        self.avail.next = self.off_start.val() + self.len32.val();
        self.take.next = self.avail.val();
        self.room.next = self.rel.val() + self.ring_window.val() - self.rcv_nxt.val();
        if self.avail.val().get_bit(31) {
            self.take.next = 0_u32.to_bits();
        } else if (self.rcv_wnd.val() < self.avail.val()) & !(self.room.val() < self.rcv_wnd.val()) {
            self.take.next = self.rcv_wnd.val();
        } else if self.room.val() < self.avail.val() {
            // Window scaling: an edge rounded up past the ring.
            self.take.next = self.room.val();
        }
        self.end_seq.next = self.seq.val() + self.len32.val();
        self.fin_at_rcv_nxt.next = self.fin.val() & (self.end_seq.val() == self.rcv_nxt.val());

        self.cmp_ack.a.next = self.rcv_nxt.val();
        self.cmp_ack.b.next = self.rel.val();
        self.all_released.next = self.cmp_ack.a_not_after_b.val();
        self.ack.next = self.rcv_nxt.val();
        if self.holdback.val() {
            self.ack.next = self.cmp_ack.earlier.val();
        }
        // The edge in serial order without a comparator child: a Local feeding
        // a child whose outputs the kernel reads is a (false) combinational
        // loop for Verilator (UNOPTFLAT).
        self.wnd_cap.next = 0xFFFF_u32.to_bits() << self.rcv_wscale.val();
        self.ring_conn.next = self.ring_window.val();
        if self.wnd_cap.val() < self.ring_window.val() {
            self.ring_conn.next = self.wnd_cap.val();
        }
        self.edge_cand.next = self.rel.val() + self.ring_conn.val();
        self.adv_minus_cand.next = self.rcv_adv.val() - self.edge_cand.val();
        // max(rcv_adv, cand) = cand + max(rcv_adv - cand, 0) in serial order.
        self.edge_raw.next = self.edge_cand.val();
        if !self.adv_minus_cand.val().get_bit(31) {
            self.edge_raw.next = self.edge_cand.val() + self.adv_minus_cand.val();
        }
        self.wnd_full.next = self.edge_raw.val() - self.ack.val();
        self.units_floor.next = self.wnd_full.val() >> self.rcv_wscale.val();
        self.floor_off.next = self.units_floor.val() << self.rcv_wscale.val();
        self.adv_off.next = self.rcv_adv.val() - self.ack.val();
        self.units.next = self.units_floor.val();
        if self.floor_off.val() < self.adv_off.val() {
            self.units.next = self.units_floor.val() + 1_u32.to_bits();
        }
        self.units_bytes.next = self.units.val() << self.rcv_wscale.val();
        self.right.next = self.ack.val() + self.units_bytes.val();
        self.window.next = self.units.val().get_bits::<16>(0);
        if self.units.val() > 0xFFFF_u32.to_bits() {
            // More than the field can say (an ACK far behind the edge): the
            // edge is kept, the window saturates, as without scaling.
            self.right.next = self.edge_raw.val();
            self.window.next = 0xFFFF_u16.to_bits();
        }
        self.changed.next = (self.ack.val() != self.ack_sent.val()) | (self.right.val() != self.rcv_adv.val());
    }
}

/// The checker alone, for its lint/synthesis check and its Verilated testbench.
pub fn verilog() -> Result<String, crate::generate::GenError> {
    crate::generate::verilog_named(&mut SegCheck::default(), "seg_check")
}

#[cfg(test)]
mod tests {
    #[test]
    fn seg_check_lints_clean_and_synthesizes() {
        let v = super::verilog().expect("generates");
        crate::check::lint("seg_check", &v).unwrap_or_else(|e| panic!("lint:\n{e}"));
        let area = crate::check::synth("seg_check", &v).unwrap_or_else(|e| panic!("{e}"));
        assert!(area.luts > 0);
    }
}
