//! Active open (RFC 9293 §3.10.1 OPEN, active, and §3.10.7.3 SYN-SENT): the
//! TCB a CONNECT creates, and what a segment does to a TCB in SYN-SENT.
//!
//! CONNECT (host op 7) takes a free slot as a passive open does and writes
//! `syn_sent`: SYN-SENT, the tuple and next hop's MAC from the CONNECT
//! registers, our ISS, nothing received yet, the SYN's timer armed. Our SYN
//! offers our MSS and always a Window Scale option (RFC 7323 §2.2: scaling
//! happens only when both SYNs carry one), with `rcv_wscale` already our
//! shift for the ring; the SYN-ACK decides whether it stays.
//!
//! Timestamps (RFC 7323 §3.2): with TIMESTAMPS on, the SYN-SENT TCB has
//! TS_OK, TS_OFFSET = the ISS with its 16-bit halves swapped (as a passive
//! open's, §5.4) and TS.Recent 0, so our SYN (and its retransmissions)
//! carries TSval = TS_CLOCK + TS_OFFSET and TSecr 0 (not valid without ACK).
//! The peer's SYN or SYN-ACK decides: with the option TS_OK stays and
//! TS.Recent is its TSval; without it TS_OK and TS_OFFSET are cleared (the
//! register map's "0 unless TS_OK") and the connection sends no more
//! timestamps.
//!
//! A segment in SYN-SENT, in the RFC's order:
//! 1. an ACK other than iss + 1 (the only acceptable one: snd_nxt is iss + 1)
//!    gets a RST at that ACK (`rst_reply`) unless it is a RST itself;
//! 2. a RST with the acceptable ACK: the peer refused, the slot is free
//!    (`refused`); a RST without ACK is dropped;
//! 4. a SYN: irs, rcv_nxt and R from it, the peer's MSS and shifts, and
//!    (`synced`) ESTABLISHED with an ACK when it also ACKed our SYN, else
//!    SYN-RECEIVED with our SYN-ACK (simultaneous open);
//! 5. anything else is dropped (`drop_unsupported`).
//!
//! The SYN-ACK's window is never scaled (RFC 7323 §2.2), so `snd_wnd`, which
//! is read as `snd_wnd << snd_wscale`, keeps it shifted right: at most what
//! the peer offered, until its next segment gives the scaled window.
//! Combinational; the engine loads either TCB into its working copy in one step.
use super::st;
use super::tcb_fields::TcbFields;
use holdback_regmap::{tcp_flags, TcpState};
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct ActiveOpen {
    // CONNECT: the registers, our ISS and the slot's own generation.
    pub connect_ip: Signal<In, Bits<32>>,
    /// Bits 31:16 the remote port, 15:0 ours.
    pub connect_ports: Signal<In, Bits<32>>,
    /// The next hop's MAC: bytes 2-5 from CONNECT_MAC_LO, bytes 0-1 from the CONNECT write.
    pub connect_mac_lo: Signal<In, Bits<32>>,
    pub connect_mac_hi: Signal<In, Bits<16>>,
    pub iss: Signal<In, Bits<32>>,
    pub gen: Signal<In, Bits<32>>,
    pub holdback: Signal<In, Bit>,
    pub now_us: Signal<In, Bits<32>>,
    pub rto_us: Signal<In, Bits<32>>,
    /// The host's receive ring in bytes (a power of two).
    pub ring_window: Signal<In, Bits<32>>,
    // A segment to the TCB in SYN-SENT (`tcb`), from the parser's descriptor.
    pub tcb: Signal<In, TcbFields>,
    pub seg_seq: Signal<In, Bits<32>>,
    pub seg_ack: Signal<In, Bits<32>>,
    pub seg_flags: Signal<In, Bits<8>>,
    pub seg_window: Signal<In, Bits<16>>,
    /// MSS option value, 0 when absent.
    pub seg_mss: Signal<In, Bits<16>>,
    pub seg_ws_ok: Signal<In, Bit>,
    pub seg_ws: Signal<In, Bits<4>>,
    /// TIMESTAMPS bit0: our SYN offers the Timestamps option.
    pub timestamps: Signal<In, Bit>,
    /// The segment's Timestamps option: present, and its TSval.
    pub seg_ts_ok: Signal<In, Bit>,
    pub seg_tsval: Signal<In, Bits<32>>,
    /// RX_REASM bits 0-1: our SYN offers SACK-permitted.
    pub sack: Signal<In, Bit>,
    /// The segment carried SACK-permitted.
    pub seg_sack_ok: Signal<In, Bit>,

    /// The TCB CONNECT writes.
    pub syn_sent: Signal<Out, TcbFields>,
    /// Step 1: an unacceptable ACK, answered by a RST at SEG.ACK.
    pub rst_reply: Signal<Out, Bit>,
    /// Step 2: the peer refused (RST with the acceptable ACK): the slot is free.
    pub refused: Signal<Out, Bit>,
    /// Step 4: a SYN (with the acceptable ACK, or none): load `synced`.
    pub syn_taken: Signal<Out, Bit>,
    /// ESTABLISHED (our SYN was ACKed: send an ACK) or SYN-RECEIVED (simultaneous open: send our SYN-ACK).
    pub synced: Signal<Out, TcbFields>,

    our_ws: Signal<Local, Bits<4>>,
    /// The ISS's halves, swapped into TS_OFFSET.
    iss_lo: Signal<Local, Bits<16>>,
    iss_hi: Signal<Local, Bits<16>>,
    syn_window: Signal<Local, Bits<32>>,
    ack_ok: Signal<Local, Bit>,
    f_syn: Signal<Local, Bit>,
    f_ack: Signal<Local, Bit>,
    f_rst: Signal<Local, Bit>,
    ring_bit_shift: [Constant<Bits<4>>; 15],
    max16: Constant<Bits<32>>,
    zero4: Constant<Bits<4>>,
    blank: Constant<TcbFields>,
    st_syn_sent: Constant<Bits<4>>,
    st_syn_rcvd: Constant<Bits<4>>,
    st_established: Constant<Bits<4>>,
    default_mss: Constant<Bits<16>>,
    no_link: Constant<Bits<16>>,
    bit_syn: Constant<Bits<3>>,
    bit_ack: Constant<Bits<3>>,
    bit_rst: Constant<Bits<3>>,
}

impl Default for ActiveOpen {
    fn default() -> Self {
        let bit = |b: usize| Constant::new(Bits::<3>::from(b as u64));
        Self {
            connect_ip: Default::default(),
            connect_ports: Default::default(),
            connect_mac_lo: Default::default(),
            connect_mac_hi: Default::default(),
            iss: Default::default(),
            gen: Default::default(),
            holdback: Default::default(),
            now_us: Default::default(),
            rto_us: Default::default(),
            ring_window: Default::default(),
            tcb: Default::default(),
            seg_seq: Default::default(),
            seg_ack: Default::default(),
            seg_flags: Default::default(),
            seg_window: Default::default(),
            seg_mss: Default::default(),
            seg_ws_ok: Default::default(),
            seg_ws: Default::default(),
            timestamps: Default::default(),
            seg_ts_ok: Default::default(),
            seg_tsval: Default::default(),
            sack: Default::default(),
            seg_sack_ok: Default::default(),
            syn_sent: Default::default(),
            rst_reply: Default::default(),
            refused: Default::default(),
            syn_taken: Default::default(),
            synced: Default::default(),
            our_ws: Default::default(),
            iss_lo: Default::default(),
            iss_hi: Default::default(),
            syn_window: Default::default(),
            ack_ok: Default::default(),
            f_syn: Default::default(),
            f_ack: Default::default(),
            f_rst: Default::default(),
            // Ring bit 15 + k set: shift k makes 2^(15+k) >> k = 32768 fit.
            ring_bit_shift: std::array::from_fn(|k| Constant::new(Bits::<4>::from(k as u64))),
            max16: Constant::new(Bits::<32>::from(65535u64)),
            zero4: Constant::new(Bits::<4>::from(0u64)),
            blank: Constant::new(TcbFields::default()),
            st_syn_sent: st(TcpState::SynSent),
            st_syn_rcvd: st(TcpState::SynReceived),
            st_established: st(TcpState::Established),
            // RFC 9293 §3.7.1: 536 when the SYN-ACK carries no MSS option.
            default_mss: Constant::new(Bits::<16>::from(536u64)),
            // Relay mode's "no spliced connection".
            no_link: Constant::new(Bits::<16>::from(0xFFFFu64)),
            bit_syn: bit(tcp_flags::SYN_BIT),
            bit_ack: bit(tcp_flags::ACK_BIT),
            bit_rst: bit(tcp_flags::RST_BIT),
        }
    }
}

impl Logic for ActiveOpen {
    #[hdl_gen]
    fn update(&mut self) {
        // Our shift: the smallest with ring >> shift <= 65535 (the ring is a power of two).
        self.our_ws.next = self.ring_bit_shift[0].val();
        for k in 1..15 {
            if self.ring_window.val().get_bit(15 + k) {
                self.our_ws.next = self.ring_bit_shift[k].val();
            }
        }
        self.syn_window.next = self.ring_window.val();
        if self.ring_window.val() > self.max16.val() {
            self.syn_window.next = self.max16.val();
        }

        // CONNECT: every field not named (the receive side, FIN, retries, relay offsets) starts at zero.
        self.syn_sent.next = self.blank.val();
        self.syn_sent.next.state = self.st_syn_sent.val();
        self.syn_sent.next.holdback = self.holdback.val().into();
        self.syn_sent.next.peer_mss = self.default_mss.val();
        self.syn_sent.next.local_port = self.connect_ports.val().get_bits::<16>(0);
        self.syn_sent.next.remote_port = self.connect_ports.val().get_bits::<16>(16);
        self.syn_sent.next.remote_ip = self.connect_ip.val();
        self.syn_sent.next.remote_mac =
            (bit_cast::<48, 16>(self.connect_mac_hi.val()) << 32) | bit_cast::<48, 32>(self.connect_mac_lo.val());
        self.syn_sent.next.peer_link = self.no_link.val();
        self.syn_sent.next.rcv_wscale = self.our_ws.val();
        self.syn_sent.next.iss = self.iss.val();
        self.syn_sent.next.snd_una = self.iss.val();
        self.syn_sent.next.snd_nxt = self.iss.val() + 1_u32.to_bits();
        self.syn_sent.next.snd_max = self.iss.val() + 1_u32.to_bits();
        self.syn_sent.next.timer_due = self.now_us.val() + self.rto_us.val();
        self.syn_sent.next.gen = self.gen.val();
        // RFC 7323 §3.2: our SYN offers timestamps; TS.Recent stays 0, the SYN's TSecr.
        // Halves as Locals: Verilator flags a part-select widened by bit_cast.
        self.iss_lo.next = self.iss.val().get_bits::<16>(0);
        self.iss_hi.next = self.iss.val().get_bits::<16>(16);
        // RFC 2018 §2: our SYN offers SACK-permitted; the peer's SYN decides (`synced`).
        self.syn_sent.next.sack_ok = self.sack.val().into();
        if self.timestamps.val() {
            self.syn_sent.next.ts_ok = true.into();
            self.syn_sent.next.ts_offset = (bit_cast::<32, 16>(self.iss_lo.val()) << 16) | bit_cast::<32, 16>(self.iss_hi.val());
        }

        // A segment in SYN-SENT (RFC 9293 §3.10.7.3).
        self.f_syn.next = self.seg_flags.val().get_bit(self.bit_syn.val().index());
        self.f_ack.next = self.seg_flags.val().get_bit(self.bit_ack.val().index());
        self.f_rst.next = self.seg_flags.val().get_bit(self.bit_rst.val().index());
        self.ack_ok.next = self.seg_ack.val() == self.tcb.val().snd_nxt;
        self.rst_reply.next = self.f_ack.val() & !self.ack_ok.val() & !self.f_rst.val();
        self.refused.next = self.f_rst.val() & self.f_ack.val() & self.ack_ok.val();
        self.syn_taken.next = self.f_syn.val() & !self.f_rst.val() & (!self.f_ack.val() | self.ack_ok.val());

        self.synced.next = self.tcb.val();
        self.synced.next.state = self.st_syn_rcvd.val();
        if self.f_ack.val() {
            self.synced.next.state = self.st_established.val();
            self.synced.next.snd_una = self.seg_ack.val();
        }
        self.synced.next.irs = self.seg_seq.val();
        self.synced.next.rcv_nxt = self.seg_seq.val() + 1_u32.to_bits();
        self.synced.next.rel = self.seg_seq.val() + 1_u32.to_bits();
        self.synced.next.ack_sent = self.seg_seq.val() + 1_u32.to_bits();
        self.synced.next.rcv_adv = self.seg_seq.val() + 1_u32.to_bits() + self.syn_window.val();
        self.synced.next.peer_mss = self.seg_mss.val();
        if !self.seg_mss.val().any() {
            self.synced.next.peer_mss = self.default_mss.val();
        }
        self.synced.next.snd_wnd = self.seg_window.val();
        self.synced.next.snd_wscale = self.zero4.val();
        self.synced.next.rcv_wscale = self.zero4.val();
        if self.seg_ws_ok.val() {
            self.synced.next.snd_wnd = self.seg_window.val() >> self.seg_ws.val();
            self.synced.next.snd_wscale = self.seg_ws.val();
            self.synced.next.rcv_wscale = self.tcb.val().rcv_wscale;
        }
        // RFC 7323 §3.2: timestamps only when both SYNs carried the option.
        self.synced.next.ts_ok = false.into();
        self.synced.next.ts_offset = 0_u32.to_bits();
        if self.tcb.val().ts_ok.any() & self.seg_ts_ok.val() {
            self.synced.next.ts_ok = true.into();
            self.synced.next.ts_recent = self.seg_tsval.val();
            self.synced.next.ts_offset = self.tcb.val().ts_offset;
        }
        // SACK only when both SYNs carried SACK-permitted (RFC 2018 §2).
        self.synced.next.sack_ok = (self.tcb.val().sack_ok.any() & self.seg_sack_ok.val()).into();
        self.synced.next.retries = self.zero4.val();
        self.synced.next.timer_due = self.now_us.val() + self.rto_us.val();
    }
}
