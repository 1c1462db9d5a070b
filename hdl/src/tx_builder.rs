//! TX frame builder: turns one request from the TCB engine into one complete
//! Ethernet frame on a 64-bit AXI-Stream-style output.
//!
//! The kinds of frame:
//! - TCP control segment (no payload): IPv4 (20 B, ID 0, DF, TTL 64) + TCP
//!   header and its options, 54 to 94 bytes. The options, in this order:
//!   Timestamps when `with_ts` (RFC 7323 §3.2, the Appendix A layout: NOP,
//!   NOP, kind 8, length 10, TSval, TSecr; 12 bytes, always first); then a
//!   SYN-ACK's (`with_mss`) MSS option, NOP + our Window Scale when the SYN
//!   had one (§2.2), NOP, NOP, SACK-permitted when offered (RFC 2018 §2);
//!   or an ACK's NOP, NOP, kind 5, length 2 + 8n and `sack_count` blocks
//!   (RFC 2018 §3), at most 4, at most 3 beside timestamps (40 option
//!   bytes): the first ones of the request, the engine's order (sack.rs).
//!   All of them are composed into one register (`opt`) when the request is
//!   taken; beats 6-11 read it, and the checksum sums its twenty words.
//! - TCP data segment (`req_data_len` > 0): the control segment's 54 bytes
//!   (66 with the Timestamps option, the only option a data segment carries)
//!   followed by `data_len` payload bytes read from the transmit fetch's
//!   staging buffer (`pl_raddr`/`pl_rdata`, segment byte 0 at buffer byte 0)
//!   through the same realigning window as the echo payload; the TCP
//!   checksum adds the request's `data_sum` (the payload's one's-complement
//!   sum, computed while it was staged) and the payload length to the
//!   pseudo-header. The staging buffer must stay unchanged while `busy`.
//! - ARP reply: 42 bytes, oper 2, sender = us, target = the requester.
//! - ICMP echo reply: a fresh IPv4 header (ID 0, DF, TTL 64), type 0 code 0,
//!   the checksum adjusted incrementally from the request's (RFC 1624 eqn. 3;
//!   a 0x0000 result is sent as 0xffff, the only value that verifies for an
//!   all-zero echo), and the rest of the request message copied from the frame
//!   buffer, realigned by any byte offset. The buffer must stay unchanged
//!   while `busy` (the engine holds the descriptor until then).
//! - Gratuitous ARP (`req_kind` 3, sent on promotion so the switch and the
//!   peers move the service address to this card, invariant 8): 42 bytes to
//!   `req_dst_mac` (the engine gives broadcast), an ARP request (oper 1, the
//!   RFC 5227 announcement Linux treats as gratuitous) with sender = target
//!   IP = ours and a zero target MAC.
//!
//! Flow: a request is accepted when idle or in the cycle that loads the last
//! beat of the previous frame, so frames go out back to back (a 54-byte ACK
//! every 7 cycles). `Send` loads one beat per cycle into the output register
//! whenever that register is empty or being taken (`m_tready`). Beat k can't
//! load before the (k+1)th cycle of the frame, which leaves room to compute
//! beside beats 0-2: in the first cycle (`in_sum`) the 16-bit words of the
//! IPv4 header and of the TCP pseudo-header + header + options are added into
//! 20- and 21-bit partial sums (ICMP: the RFC 1624 terms) and the first payload word is
//! addressed; in the second (`in_fold`) the carries are folded once and the
//! payload pipeline is primed (first needed by beat 4); in the third
//! (`in_fin`) the second fold and the complement give the checksums (first
//! needed by beat 3). Short adder chains per cycle keep the clock fast.
//!
//! Header beats are composed in network order (frame byte 8w is bits 63:56,
//! like the frame buffer) and byte-swapped once into AXI order (byte 0 at
//! `m_tdata[7:0]`).
use crate::channels::TxReqSink;
use rust_hdl::prelude::*;

/// Request kinds on `req_kind`.
pub const KIND_TCP: u64 = 0;
pub const KIND_ARP: u64 = 1;
pub const KIND_ICMP: u64 = 2;
pub const KIND_GARP: u64 = 3;

#[derive(Copy, Clone, PartialEq, Eq, Debug, LogicState)]
pub enum TxBuilderState {
    /// Waiting for a request (`req_ready`).
    Idle,
    /// Streaming beats (checksums computed beside the first three).
    Send,
}

#[derive(LogicBlock)]
pub struct TxBuilder {
    pub clock: Signal<In, Clock>,
    /// Frames to build, from the engine.
    pub req: TxReqSink,
    pub our_mac: Signal<In, Bits<48>>,
    pub our_ip: Signal<In, Bits<32>>,
    pub our_mss: Signal<In, Bits<16>>,
    pub m_tdata: Signal<Out, Bits<64>>,
    pub m_tkeep: Signal<Out, Bits<8>>,
    pub m_tvalid: Signal<Out, Bit>,
    pub m_tlast: Signal<Out, Bit>,
    pub m_tready: Signal<In, Bit>,
    pub fb_raddr: Signal<Out, Bits<8>>,
    pub fb_rdata: Signal<In, Bits<64>>,
    /// The transmit fetch's staging buffer (a data segment's payload).
    pub pl_raddr: Signal<Out, Bits<8>>,
    pub pl_rdata: Signal<In, Bits<64>>,

    // Request codes (sized localparams, so comparisons stay 2 bits wide).
    kind_tcp: Constant<Bits<2>>,
    kind_arp: Constant<Bits<2>>,
    kind_icmp: Constant<Bits<2>>,
    kind_garp: Constant<Bits<2>>,
    eleven_2: Constant<Bits<11>>,
    eleven_13: Constant<Bits<11>>,
    eleven_41: Constant<Bits<11>>,
    seven_64: Constant<Bits<7>>,
    // Checksum constants (see the sums in the `in_sum` cycle).
    c_ip_tcp: Constant<Bits<20>>,
    c_ip_icmp: Constant<Bits<20>>,
    c_tcp: Constant<Bits<20>>,
    c_icmp: Constant<Bits<20>>,

    state: DFF<TxBuilderState>,
    /// First cycle of a frame: partial sums, first payload word addressed.
    in_sum: DFF<Bit>,
    /// Second cycle: checksums folded, payload pipeline primed.
    in_fold: DFF<Bit>,
    /// Third cycle: checksums complemented.
    in_fin: DFF<Bit>,
    // The latched request.
    is_arp: DFF<Bit>,
    /// An ARP announcement (kind 3) rather than a reply.
    is_garp: DFF<Bit>,
    is_icmp: DFF<Bit>,
    dst_mac: DFF<Bits<48>>,
    dst_ip: DFF<Bits<32>>,
    src_port: DFF<Bits<16>>,
    dst_port: DFF<Bits<16>>,
    seq: DFF<Bits<32>>,
    ack: DFF<Bits<32>>,
    flags: DFF<Bits<8>>,
    window: DFF<Bits<16>>,
    /// The TCP options as they go on the wire (option byte 0 in bits
    /// 319:312), zero past `opt_words` 32-bit words; composed when the request is taken.
    opt: DFF<Bits<320>>,
    opt_words: DFF<Bits<4>>,
    /// The Timestamps option leads (a data segment's payload then starts at frame byte 66).
    with_ts: DFF<Bit>,
    icmp_off: DFF<Bits<11>>,
    icmp_len: DFF<Bits<11>>,
    icmp_csum: DFF<Bits<16>>,
    /// A TCP segment with payload: its length and sum.
    is_data: DFF<Bit>,
    data_len: DFF<Bits<16>>,
    data_sum: DFF<Bits<16>>,
    // Derived in the first cycle of a frame (`in_sum`).
    ip_total_len: DFF<Bits<16>>,
    last_beat: DFF<Bits<8>>,
    last_keep: DFF<Bits<8>>,
    ip_part: DFF<Bits<20>>,
    l4_part_a: DFF<Bits<20>>,
    l4_part_b: DFF<Bits<20>>,
    /// The option words' sum (twenty 16-bit words).
    l4_part_c: DFF<Bits<21>>,
    // Derived in the second (`in_fold`).
    ip_fold1: DFF<Bits<17>>,
    l4_fold1: DFF<Bits<17>>,
    // Derived in the third (`in_fin`).
    ip_csum: DFF<Bits<16>>,
    l4_csum: DFF<Bits<16>>,
    // Streaming.
    beat: DFF<Bits<8>>,
    rd_ptr: DFF<Bits<8>>,
    prev_word: DFF<Bits<64>>,
    win_off: DFF<Bits<7>>,
    o_data: DFF<Bits<64>>,
    o_keep: DFF<Bits<8>>,
    o_valid: DFF<Bit>,
    o_last: DFF<Bit>,

    // Combinational intermediates.
    total_len: Signal<Local, Bits<16>>,
    frame_len_m1: Signal<Local, Bits<11>>,
    win_start: Signal<Local, Bits<11>>,
    our_ip_hi: Signal<Local, Bits<16>>,
    our_ip_lo: Signal<Local, Bits<16>>,
    dst_ip_hi: Signal<Local, Bits<16>>,
    dst_ip_lo: Signal<Local, Bits<16>>,
    seq_hi: Signal<Local, Bits<16>>,
    seq_lo: Signal<Local, Bits<16>>,
    ack_hi: Signal<Local, Bits<16>>,
    ack_lo: Signal<Local, Bits<16>>,
    ip_part_lo: Signal<Local, Bits<16>>,
    ip_part_hi: Signal<Local, Bits<4>>,
    l4_sum: Signal<Local, Bits<22>>,
    l4_sum_lo: Signal<Local, Bits<16>>,
    l4_sum_hi: Signal<Local, Bits<6>>,
    /// The TCP data offset, in words.
    doff: Signal<Local, Bits<8>>,
    /// The latched options as twenty 16-bit words, for their sum.
    opt_word: [Signal<Local, Bits<16>>; 20],
    // Composing the offered request's options.
    req_tcp: Signal<Local, Bit>,
    req_ts: Signal<Local, Bit>,
    /// SACK blocks the ACK carries: the count, at most 4, at most 3 beside timestamps (RFC 2018 §3).
    sack_req_n: Signal<Local, Bits<3>>,
    /// The first 1, 2, 3 blocks (network order).
    sack_b1: Signal<Local, Bits<64>>,
    sack_b2: Signal<Local, Bits<128>>,
    sack_b3: Signal<Local, Bits<192>>,
    /// Everything but the Timestamps option, left-aligned, and its words.
    rest: Signal<Local, Bits<320>>,
    rest_words: Signal<Local, Bits<4>>,
    /// NOP, NOP, kind 8, length 10, TSval, TSecr.
    ts_opt: Signal<Local, Bits<96>>,
    /// NOP, NOP, kind 5, length 2 + 8n, for n = 1-4 blocks (index n - 1).
    c_sack_hdr: [Constant<Bits<32>>; 4],
    /// Option words, sized: 0-3; and of the SACK option with n = 1-4 blocks, 1 + 2n.
    c_words: [Constant<Bits<4>>; 4],
    c_sack_words: [Constant<Bits<4>>; 4],
    c_mss_kind: Constant<Bits<16>>,
    c_ws_head: Constant<Bits<24>>,
    c_sackp: Constant<Bits<32>>,
    c_ts_head: Constant<Bits<32>>,
    zero21: Constant<Bits<21>>,
    /// Option bytes 0-1 (beat 6) and 34-39 (beat 11).
    opt_head: Signal<Local, Bits<16>>,
    opt_tail: Signal<Local, Bits<48>>,
    three3: Constant<Bits<3>>,
    four3: Constant<Bits<3>>,
    ip_carry: Signal<Local, Bits<16>>,
    ip_fold2: Signal<Local, Bits<16>>,
    l4_carry: Signal<Local, Bits<16>>,
    l4_fold2: Signal<Local, Bits<16>>,
    icmp_csum_inv: Signal<Local, Bits<16>>,
    ip_const: Signal<Local, Bits<20>>,
    tcp_const: Signal<Local, Bits<20>>,
    /// The header bytes kept in the first payload beat (6 of them; 2 after the Timestamps option).
    first_hdr_mask: Signal<Local, Bits<64>>,
    win_lo3: Signal<Local, Bits<3>>,
    can_load: Signal<Local, Bit>,
    advance: Signal<Local, Bit>,
    last_now: Signal<Local, Bit>,
    hdr: Signal<Local, Bits<64>>,
    pair: Signal<Local, Bits<128>>,
    payload: Signal<Local, Bits<64>>,
    beat_net: Signal<Local, Bits<64>>,
    /// The payload source word: the staging buffer's for data, the frame buffer's for an echo.
    src_word: Signal<Local, Bits<64>>,
    raddr: Signal<Local, Bits<8>>,
    first_payload_beat: Signal<Local, Bits<8>>,
    /// The 11-bit two's complement of 6: a data segment's window starts 6 bytes before buffer byte 0
    /// (2 after the Timestamps option).
    data_win_start: Constant<Bits<11>>,
    data_ts_win_start: Constant<Bits<11>>,
}

impl Default for TxBuilder {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            req: Default::default(),
            our_mac: Default::default(),
            our_ip: Default::default(),
            our_mss: Default::default(),
            m_tdata: Default::default(),
            m_tkeep: Default::default(),
            m_tvalid: Default::default(),
            m_tlast: Default::default(),
            m_tready: Default::default(),
            fb_raddr: Default::default(),
            fb_rdata: Default::default(),
            pl_raddr: Default::default(),
            pl_rdata: Default::default(),
            kind_tcp: Constant::new(KIND_TCP.into()),
            kind_arp: Constant::new(KIND_ARP.into()),
            kind_icmp: Constant::new(KIND_ICMP.into()),
            kind_garp: Constant::new(KIND_GARP.into()),
            eleven_2: Constant::new(2_u64.into()),
            eleven_13: Constant::new(13_u64.into()),
            eleven_41: Constant::new(41_u64.into()),
            seven_64: Constant::new(64_u64.into()),
            c_ip_tcp: Constant::new(0xC506_u64.into()),
            c_ip_icmp: Constant::new(0xC501_u64.into()),
            c_tcp: Constant::new(0x501A_u64.into()),
            c_icmp: Constant::new(0xF7FF_u64.into()),
            state: Default::default(),
            in_sum: Default::default(),
            in_fold: Default::default(),
            in_fin: Default::default(),
            is_arp: Default::default(),
            is_garp: Default::default(),
            is_icmp: Default::default(),
            dst_mac: Default::default(),
            dst_ip: Default::default(),
            src_port: Default::default(),
            dst_port: Default::default(),
            seq: Default::default(),
            ack: Default::default(),
            flags: Default::default(),
            window: Default::default(),
            opt: Default::default(),
            opt_words: Default::default(),
            with_ts: Default::default(),
            icmp_off: Default::default(),
            icmp_len: Default::default(),
            icmp_csum: Default::default(),
            is_data: Default::default(),
            data_len: Default::default(),
            data_sum: Default::default(),
            ip_total_len: Default::default(),
            last_beat: Default::default(),
            last_keep: Default::default(),
            ip_part: Default::default(),
            ip_fold1: Default::default(),
            l4_fold1: Default::default(),
            l4_part_a: Default::default(),
            l4_part_b: Default::default(),
            l4_part_c: Default::default(),
            ip_csum: Default::default(),
            l4_csum: Default::default(),
            beat: Default::default(),
            rd_ptr: Default::default(),
            prev_word: Default::default(),
            win_off: Default::default(),
            o_data: Default::default(),
            o_keep: Default::default(),
            o_valid: Default::default(),
            o_last: Default::default(),
            total_len: Default::default(),
            frame_len_m1: Default::default(),
            win_start: Default::default(),
            our_ip_hi: Default::default(),
            our_ip_lo: Default::default(),
            dst_ip_hi: Default::default(),
            dst_ip_lo: Default::default(),
            seq_hi: Default::default(),
            seq_lo: Default::default(),
            ack_hi: Default::default(),
            ack_lo: Default::default(),
            ip_part_lo: Default::default(),
            ip_part_hi: Default::default(),
            l4_sum: Default::default(),
            l4_sum_lo: Default::default(),
            l4_sum_hi: Default::default(),
            doff: Default::default(),
            opt_word: Default::default(),
            req_tcp: Default::default(),
            req_ts: Default::default(),
            sack_req_n: Default::default(),
            sack_b1: Default::default(),
            sack_b2: Default::default(),
            sack_b3: Default::default(),
            rest: Default::default(),
            rest_words: Default::default(),
            ts_opt: Default::default(),
            c_sack_hdr: [1u64, 2, 3, 4].map(|n| Constant::new((0x0101_0502_u64 + 8 * n).into())),
            c_words: std::array::from_fn(|n| Constant::new((n as u64).into())),
            c_sack_words: std::array::from_fn(|n| Constant::new((3 + 2 * n as u64).into())),
            c_mss_kind: Constant::new(0x0204_u64.into()),
            c_ws_head: Constant::new(0x01_0303_u64.into()),
            c_sackp: Constant::new(0x0101_0402_u64.into()),
            c_ts_head: Constant::new(0x0101_080A_u64.into()),
            zero21: Constant::new(0_u64.into()),
            opt_head: Default::default(),
            opt_tail: Default::default(),
            three3: Constant::new(3_u64.into()),
            four3: Constant::new(4_u64.into()),
            ip_carry: Default::default(),
            ip_fold2: Default::default(),
            l4_carry: Default::default(),
            l4_fold2: Default::default(),
            icmp_csum_inv: Default::default(),
            ip_const: Default::default(),
            tcp_const: Default::default(),
            first_hdr_mask: Default::default(),
            win_lo3: Default::default(),
            can_load: Default::default(),
            advance: Default::default(),
            last_now: Default::default(),
            hdr: Default::default(),
            pair: Default::default(),
            payload: Default::default(),
            beat_net: Default::default(),
            src_word: Default::default(),
            raddr: Default::default(),
            first_payload_beat: Default::default(),
            data_win_start: Constant::new(((1u64 << 11) - 6).into()),
            data_ts_win_start: Constant::new(((1u64 << 11) - 2).into()),

        }
    }
}

impl Logic for TxBuilder {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, state, in_sum, in_fold, in_fin, is_arp, is_garp, is_icmp, dst_mac, dst_ip, src_port, dst_port, seq, ack,
            flags, window, opt, opt_words, with_ts, icmp_off, icmp_len, icmp_csum, is_data, data_len, data_sum, ip_total_len, last_beat, last_keep,
            ip_part, l4_part_a, l4_part_b, l4_part_c, ip_fold1, l4_fold1, ip_csum, l4_csum, beat, rd_ptr, prev_word, win_off, o_data,
            o_keep, o_valid, o_last
        );

        // ---- Lengths of the latched request (used in the `in_sum` cycle). ----
        // The TCP header: 5 words and the options' words.
        self.doff.next = 5_u8.to_bits() + bit_cast::<8, 4>(self.opt_words.q.val());
        // IPv4 total length: TCP 20 + the header, ICMP 20 + message.
        // (`data_len` is 0 but in a data segment.)
        self.total_len.next = 20_u16.to_bits() + (bit_cast::<16, 8>(self.doff.val()) << 2) + self.data_len.q.val();
        if self.is_icmp.q.val() {
            self.total_len.next = bit_cast::<16, 11>(self.icmp_len.q.val()) + 20_u16.to_bits();
        }
        // Frame length - 1: ARP 42; IPv4 14 + total length.
        self.frame_len_m1.next = self.total_len.val().get_bits::<11>(0) + self.eleven_13.val();
        if self.is_arp.q.val() {
            self.frame_len_m1.next = self.eleven_41.val();
        }
        // Frame byte where output beat 4 starts reading: output byte 38 (the
        // first copied one) must come from icmp_off + 4, so beat 4 (bytes
        // 32..39) reads the 8 bytes from icmp_off - 2.
        self.win_start.next = self.icmp_off.q.val() - self.eleven_2.val();
        // A data segment's payload starts at frame byte 54, 6 bytes into beat 6:
        // beat 6 reads the 8 bytes from buffer byte -6. After the Timestamps
        // option (the only one a data segment carries) at byte 66, 2 bytes
        // into beat 8: beat 8 reads from buffer byte -2.
        self.first_payload_beat.next = 4_u8.to_bits();
        self.first_hdr_mask.next = 0xFFFF_FFFF_FFFF_0000_u64.to_bits();
        if self.is_data.q.val() {
            self.win_start.next = self.data_win_start.val();
            self.first_payload_beat.next = 6_u8.to_bits();
            if self.with_ts.q.val() {
                self.win_start.next = self.data_ts_win_start.val();
                self.first_payload_beat.next = 8_u8.to_bits();
                self.first_hdr_mask.next = 0xFFFF_0000_0000_0000_u64.to_bits();
            }
        }
        // Bit offset of that byte in {prev_word, fb_rdata}: 64 - 8 * (byte & 7).
        self.win_lo3.next = self.win_start.val().get_bits::<3>(0);

        // ---- Checksum operands and folds (`in_sum`, `in_fold`, `in_fin` cycles). ----
        // 16-bit halves as Locals: Verilator flags a part-select widened by bit_cast.
        self.our_ip_hi.next = self.our_ip.val().get_bits::<16>(16);
        self.our_ip_lo.next = self.our_ip.val().get_bits::<16>(0);
        self.dst_ip_hi.next = self.dst_ip.q.val().get_bits::<16>(16);
        self.dst_ip_lo.next = self.dst_ip.q.val().get_bits::<16>(0);
        self.seq_hi.next = self.seq.q.val().get_bits::<16>(16);
        self.seq_lo.next = self.seq.q.val().get_bits::<16>(0);
        self.ack_hi.next = self.ack.q.val().get_bits::<16>(16);
        self.ack_lo.next = self.ack.q.val().get_bits::<16>(0);
        self.ip_part_lo.next = self.ip_part.q.val().get_bits::<16>(0);
        self.ip_part_hi.next = self.ip_part.q.val().get_bits::<4>(16);
        // With the options the words sum past 21 bits: 22 before the fold.
        self.l4_sum.next = bit_cast::<22, 20>(self.l4_part_a.q.val()) + bit_cast::<22, 20>(self.l4_part_b.q.val())
            + bit_cast::<22, 21>(self.l4_part_c.q.val());
        self.l4_sum_lo.next = self.l4_sum.val().get_bits::<16>(0);
        self.l4_sum_hi.next = self.l4_sum.val().get_bits::<6>(16);
        self.ip_carry.next = 0_u16.to_bits();
        if self.ip_fold1.q.val().get_bit(16) {
            self.ip_carry.next = 1_u16.to_bits();
        }
        self.ip_fold2.next = self.ip_fold1.q.val().get_bits::<16>(0) + self.ip_carry.val();
        self.l4_carry.next = 0_u16.to_bits();
        if self.l4_fold1.q.val().get_bit(16) {
            self.l4_carry.next = 1_u16.to_bits();
        }
        self.l4_fold2.next = self.l4_fold1.q.val().get_bits::<16>(0) + self.l4_carry.val();
        // Constant words of the sums: IPv4 protocol 6 or 1; TCP 6 (protocol)
        // + 20 (length) + 0x5000 (data offset 5), and per option word 4 more
        // length and 0x1000 more data offset; the option bytes are `l4_part_c`.
        self.ip_const.next = self.c_ip_tcp.val();
        if self.is_icmp.q.val() {
            self.ip_const.next = self.c_ip_icmp.val();
        }
        // A data segment adds its length to the pseudo-header's TCP length.
        self.tcp_const.next = self.c_tcp.val()
            + bit_cast::<20, 16>(self.data_len.q.val())
            + (bit_cast::<20, 4>(self.opt_words.q.val()) << 12)
            + (bit_cast::<20, 4>(self.opt_words.q.val()) << 2);
        // A Local, not `bit_cast(!x)`: Verilog widens before inverting.
        self.icmp_csum_inv.next = !self.icmp_csum.q.val();
        self.opt_head.next = self.opt.q.val().get_bits::<16>(304);
        self.opt_tail.next = self.opt.q.val().get_bits::<48>(0);
        // The latched options' words, for their sum.
        for i in 0..20 {
            self.opt_word[i].next = self.opt.q.val().get_bits::<16>(304 - 16 * i);
        }

        // ---- The offered request's options, composed as it is taken. ----
        // Timestamps (RFC 7323 §3.2, Appendix A layout) lead; then a SYN-ACK's
        // MSS, NOP + Window Scale, NOP NOP SACK-permitted, or an ACK's NOP NOP
        // SACK (RFC 2018 §3) with at most 4 blocks, 3 beside timestamps (40
        // option bytes): the first ones, which the engine orders D-SACK,
        // latest, then the rest (sack.rs).
        self.req_tcp.next = self.req.kind.val() == self.kind_tcp.val();
        self.req_ts.next = self.req.with_ts.val() & self.req_tcp.val();
        self.sack_req_n.next = self.req.sack_count.val();
        if self.req.sack_count.val() > self.four3.val() {
            self.sack_req_n.next = self.four3.val();
        }
        if self.req_ts.val() & (self.req.sack_count.val() > self.three3.val()) {
            self.sack_req_n.next = self.three3.val();
        }
        self.sack_b1.next = self.req.sack_blocks.val().get_bits::<64>(192);
        self.sack_b2.next = self.req.sack_blocks.val().get_bits::<128>(128);
        self.sack_b3.next = self.req.sack_blocks.val().get_bits::<192>(64);
        self.rest.next = 0_u64.to_bits();
        self.rest_words.next = self.c_words[0].val();
        if self.req.with_mss.val() & self.req_tcp.val() {
            // MSS: kind 2, length 4.
            self.rest.next = (bit_cast::<320, 16>(self.c_mss_kind.val()) << 304) | (bit_cast::<320, 16>(self.our_mss.val()) << 288);
            self.rest_words.next = self.c_words[1].val();
            if self.req.with_ws.val() {
                // NOP, kind 3, length 3, shift.
                self.rest.next = self.rest.val()
                    | (bit_cast::<320, 24>(self.c_ws_head.val()) << 264)
                    | (bit_cast::<320, 4>(self.req.ws.val()) << 256);
                self.rest_words.next = self.c_words[2].val();
            }
            if self.req.with_sackp.val() {
                // NOP, NOP, kind 4, length 2, after the MSS or the Window Scale.
                if self.req.with_ws.val() {
                    self.rest.next = self.rest.val() | (bit_cast::<320, 32>(self.c_sackp.val()) << 224);
                } else {
                    self.rest.next = self.rest.val() | (bit_cast::<320, 32>(self.c_sackp.val()) << 256);
                }
                self.rest_words.next = self.rest_words.val() + self.c_words[1].val();
            }
        } else if self.req_tcp.val() & !self.req.data_len.val().any() {
            // SACK blocks only in a control segment without the MSS (an ACK).
            match self.sack_req_n.val().index() {
                1 => {
                    self.rest.next = (bit_cast::<320, 32>(self.c_sack_hdr[0].val()) << 288) | (bit_cast::<320, 64>(self.sack_b1.val()) << 224);
                    self.rest_words.next = self.c_sack_words[0].val();
                }
                2 => {
                    self.rest.next = (bit_cast::<320, 32>(self.c_sack_hdr[1].val()) << 288) | (bit_cast::<320, 128>(self.sack_b2.val()) << 160);
                    self.rest_words.next = self.c_sack_words[1].val();
                }
                3 => {
                    self.rest.next = (bit_cast::<320, 32>(self.c_sack_hdr[2].val()) << 288) | (bit_cast::<320, 192>(self.sack_b3.val()) << 96);
                    self.rest_words.next = self.c_sack_words[2].val();
                }
                4 => {
                    self.rest.next = (bit_cast::<320, 32>(self.c_sack_hdr[3].val()) << 288) | (bit_cast::<320, 256>(self.req.sack_blocks.val()) << 32);
                    self.rest_words.next = self.c_sack_words[3].val();
                }
                _ => {}
            }
        }
        self.ts_opt.next = (bit_cast::<96, 32>(self.c_ts_head.val()) << 64)
            | (bit_cast::<96, 32>(self.req.tsval.val()) << 32)
            | bit_cast::<96, 32>(self.req.tsecr.val());

        // ---- Output register handshake. ----
        self.can_load.next = !self.o_valid.q.val() | self.m_tready.val();
        if self.o_valid.q.val() & self.m_tready.val() {
            self.o_valid.d.next = false;
        }
        self.advance.next = false;

        // ---- Header beat `beat` in network order. ----
        self.hdr.next = 0_u64.to_bits();
        match self.beat.q.val().index() {
            0 => {
                self.hdr.next = (bit_cast::<64, 48>(self.dst_mac.q.val()) << 16)
                    | (bit_cast::<64, 48>(self.our_mac.val()) >> 32);
            }
            1 => {
                self.hdr.next = (bit_cast::<64, 48>(self.our_mac.val()) << 32)
                    | 0x0800_4500_u64.to_bits();
                if self.is_arp.q.val() {
                    self.hdr.next = (bit_cast::<64, 48>(self.our_mac.val()) << 32)
                        | 0x0806_0001_u64.to_bits();
                }
            }
            2 => {
                // total length, ID 0, DF, TTL 64, protocol.
                self.hdr.next = (bit_cast::<64, 16>(self.ip_total_len.q.val()) << 48) | 0x4000_4006_u64.to_bits();
                if self.is_icmp.q.val() {
                    self.hdr.next = (bit_cast::<64, 16>(self.ip_total_len.q.val()) << 48) | 0x4000_4001_u64.to_bits();
                }
                if self.is_arp.q.val() {
                    // ptype 0x0800, hlen 6, plen 4, oper 2 (reply), sha[47:32].
                    self.hdr.next = 0x0800_0604_0002_0000_u64.to_bits()
                        | (bit_cast::<64, 48>(self.our_mac.val()) >> 32);
                    if self.is_garp.q.val() {
                        // oper 1: an announcement.
                        self.hdr.next = 0x0800_0604_0001_0000_u64.to_bits()
                            | (bit_cast::<64, 48>(self.our_mac.val()) >> 32);
                    }
                }
            }
            3 => {
                self.hdr.next = (bit_cast::<64, 16>(self.ip_csum.q.val()) << 48)
                    | (bit_cast::<64, 32>(self.our_ip.val()) << 16)
                    | (bit_cast::<64, 32>(self.dst_ip.q.val()) >> 16);
                if self.is_arp.q.val() {
                    self.hdr.next = (bit_cast::<64, 48>(self.our_mac.val()) << 32)
                        | bit_cast::<64, 32>(self.our_ip.val());
                }
            }
            4 => {
                self.hdr.next = (bit_cast::<64, 32>(self.dst_ip.q.val()) << 48)
                    | (bit_cast::<64, 16>(self.src_port.q.val()) << 32)
                    | (bit_cast::<64, 16>(self.dst_port.q.val()) << 16)
                    | (bit_cast::<64, 32>(self.seq.q.val()) >> 16);
                if self.is_icmp.q.val() {
                    // type 0, code 0, checksum; bytes 38..39 come from the payload.
                    self.hdr.next = (bit_cast::<64, 32>(self.dst_ip.q.val()) << 48)
                        | (bit_cast::<64, 16>(self.l4_csum.q.val()) << 16);
                }
                if self.is_arp.q.val() {
                    self.hdr.next = (bit_cast::<64, 48>(self.dst_mac.q.val()) << 16)
                        | (bit_cast::<64, 32>(self.dst_ip.q.val()) >> 16);
                    if self.is_garp.q.val() {
                        // Target MAC zero (RFC 5227); dst_ip holds our address.
                        self.hdr.next = bit_cast::<64, 32>(self.dst_ip.q.val()) >> 16;
                    }
                }
            }
            5 => {
                self.hdr.next = (bit_cast::<64, 32>(self.seq.q.val()) << 48)
                    | (bit_cast::<64, 32>(self.ack.q.val()) << 16)
                    | (bit_cast::<64, 8>(self.doff.val()) << 12)
                    | bit_cast::<64, 8>(self.flags.q.val());
                if self.is_arp.q.val() {
                    self.hdr.next = bit_cast::<64, 32>(self.dst_ip.q.val()) << 48;
                }
            }
            6 => {
                // window, checksum, urgent pointer 0, option bytes 0-1.
                self.hdr.next = (bit_cast::<64, 16>(self.window.q.val()) << 48)
                    | (bit_cast::<64, 16>(self.l4_csum.q.val()) << 32)
                    | bit_cast::<64, 16>(self.opt_head.val());
            }
            7 => {
                self.hdr.next = self.opt.q.val().get_bits::<64>(240);
            }
            8 => {
                self.hdr.next = self.opt.q.val().get_bits::<64>(176);
            }
            9 => {
                self.hdr.next = self.opt.q.val().get_bits::<64>(112);
            }
            10 => {
                self.hdr.next = self.opt.q.val().get_bits::<64>(48);
            }
            11 => {
                self.hdr.next = bit_cast::<64, 48>(self.opt_tail.val()) << 16;
            }
            _ => {}
        }

        // ---- Payload window: 8 buffer bytes from any byte offset (an echo's
        // message from the frame buffer, a segment's payload from the staging buffer). ----
        self.src_word.next = self.fb_rdata.val();
        if self.is_data.q.val() {
            self.src_word.next = self.pl_rdata.val();
        }
        self.pair.next = (bit_cast::<128, 64>(self.prev_word.q.val()) << 64) | bit_cast::<128, 64>(self.src_word.val());
        self.payload.next = self.pair.val().get_bits::<64>(self.win_off.q.val().index());
        self.beat_net.next = self.hdr.val();
        if (self.is_icmp.q.val() | self.is_data.q.val()) & (self.beat.q.val() >= self.first_payload_beat.val()) {
            self.beat_net.next = self.payload.val();
            if self.beat.q.val() == self.first_payload_beat.val() {
                self.beat_net.next = (self.hdr.val() & self.first_hdr_mask.val()) | (self.payload.val() & !self.first_hdr_mask.val());
            }
        }

        // ---- Accepting: when idle, or in the cycle that loads the last beat. ----
        self.last_now.next = (self.beat.q.val() == self.last_beat.q.val()) & !self.in_sum.q.val();
        self.req.ready.next = (self.state.q.val() == TxBuilderState::Idle)
            | ((self.state.q.val() == TxBuilderState::Send) & self.can_load.val() & self.last_now.val());

        // ---- Send: beat k loads in the (k+1)th cycle at the earliest, so the
        // checksums (needed from beat 3 on) and the payload pipeline (beat 4)
        // are computed beside the first beats: `in_sum` is the first cycle of
        // a frame, `in_fold` the second, `in_fin` the third. ----
        self.raddr.next = self.rd_ptr.q.val();
        self.in_sum.d.next = false;
        self.in_fold.d.next = self.in_sum.q.val();
        self.in_fin.d.next = self.in_fold.q.val();
        if self.in_sum.q.val() {
            self.ip_total_len.d.next = self.total_len.val();
            self.last_beat.d.next = self.frame_len_m1.val().get_bits::<8>(3);
            match self.frame_len_m1.val().get_bits::<3>(0).index() {
                0 => self.last_keep.d.next = 0x01_u8.to_bits(),
                1 => self.last_keep.d.next = 0x03_u8.to_bits(),
                2 => self.last_keep.d.next = 0x07_u8.to_bits(),
                3 => self.last_keep.d.next = 0x0F_u8.to_bits(),
                4 => self.last_keep.d.next = 0x1F_u8.to_bits(),
                5 => self.last_keep.d.next = 0x3F_u8.to_bits(),
                6 => self.last_keep.d.next = 0x7F_u8.to_bits(),
                _ => self.last_keep.d.next = 0xFF_u8.to_bits(),
            }
            // Sums of at most seven 16-bit words fit in 19 bits; two of them in
            // 20. One adder chain per sum: the kind only selects operands.
            // IPv4 header: 0x4500 + 0x4000 (DF) + 0x40pp (TTL, protocol)
            // + total length + source + destination (ID and checksum 0).
            self.ip_part.d.next = self.ip_const.val()
                + bit_cast::<20, 16>(self.total_len.val())
                + bit_cast::<20, 16>(self.our_ip_hi.val())
                + bit_cast::<20, 16>(self.our_ip_lo.val())
                + bit_cast::<20, 16>(self.dst_ip_hi.val())
                + bit_cast::<20, 16>(self.dst_ip_lo.val());
            // TCP: pseudo-header (addresses, protocol 6, TCP length) and the
            // header words, the option's MSS included.
            self.l4_part_a.d.next = bit_cast::<20, 16>(self.our_ip_hi.val())
                + bit_cast::<20, 16>(self.our_ip_lo.val())
                + bit_cast::<20, 16>(self.dst_ip_hi.val())
                + bit_cast::<20, 16>(self.dst_ip_lo.val())
                + bit_cast::<20, 16>(self.src_port.q.val())
                + bit_cast::<20, 16>(self.dst_port.q.val())
                + bit_cast::<20, 16>(self.window.q.val());
            self.l4_part_b.d.next = self.tcp_const.val()
                + bit_cast::<20, 16>(self.data_sum.q.val())
                + bit_cast::<20, 16>(self.seq_hi.val())
                + bit_cast::<20, 16>(self.seq_lo.val())
                + bit_cast::<20, 16>(self.ack_hi.val())
                + bit_cast::<20, 16>(self.ack_lo.val())
                + bit_cast::<20, 8>(self.flags.q.val());
            self.l4_part_c.d.next = bit_cast::<21, 16>(self.opt_word[0].val())
                + bit_cast::<21, 16>(self.opt_word[1].val())
                + bit_cast::<21, 16>(self.opt_word[2].val())
                + bit_cast::<21, 16>(self.opt_word[3].val())
                + bit_cast::<21, 16>(self.opt_word[4].val())
                + bit_cast::<21, 16>(self.opt_word[5].val())
                + bit_cast::<21, 16>(self.opt_word[6].val())
                + bit_cast::<21, 16>(self.opt_word[7].val())
                + bit_cast::<21, 16>(self.opt_word[8].val())
                + bit_cast::<21, 16>(self.opt_word[9].val())
                + bit_cast::<21, 16>(self.opt_word[10].val())
                + bit_cast::<21, 16>(self.opt_word[11].val())
                + bit_cast::<21, 16>(self.opt_word[12].val())
                + bit_cast::<21, 16>(self.opt_word[13].val())
                + bit_cast::<21, 16>(self.opt_word[14].val())
                + bit_cast::<21, 16>(self.opt_word[15].val())
                + bit_cast::<21, 16>(self.opt_word[16].val())
                + bit_cast::<21, 16>(self.opt_word[17].val())
                + bit_cast::<21, 16>(self.opt_word[18].val())
                + bit_cast::<21, 16>(self.opt_word[19].val());
            if self.is_icmp.q.val() {
                // RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), m = 0x0800
                // (type 8 code 0), m' = 0x0000 (type 0 code 0).
                self.l4_part_a.d.next = bit_cast::<20, 16>(self.icmp_csum_inv.val());
                self.l4_part_b.d.next = self.c_icmp.val();
                self.l4_part_c.d.next = self.zero21.val();
            }
            // Address the frame-buffer word holding payload window byte 0.
            self.raddr.next = self.win_start.val().get_bits::<8>(3);
            self.rd_ptr.d.next = self.win_start.val().get_bits::<8>(3);
            self.win_off.d.next = self.seven_64.val() - (bit_cast::<7, 3>(self.win_lo3.val()) << 3);
        }
        if self.in_fold.q.val() {
            // First end-around-carry fold: 20 -> 17 bits.
            self.ip_fold1.d.next = bit_cast::<17, 16>(self.ip_part_lo.val()) + bit_cast::<17, 4>(self.ip_part_hi.val());
            self.l4_fold1.d.next = bit_cast::<17, 16>(self.l4_sum_lo.val()) + bit_cast::<17, 6>(self.l4_sum_hi.val());
            // Prime the payload pipeline: prev_word = window word 0, and
            // fb_rdata = window word 1 from the next cycle on.
            self.prev_word.d.next = self.src_word.val();
            self.raddr.next = self.rd_ptr.q.val() + 1_u8.to_bits();
            self.rd_ptr.d.next = self.rd_ptr.q.val() + 1_u8.to_bits();
        }
        if self.in_fin.q.val() {
            // Second fold (17 -> 16 bits, can't carry again) and complement.
            self.ip_csum.d.next = !self.ip_fold2.val();
            self.l4_csum.d.next = !self.l4_fold2.val();
            // RFC 1624 eqn. 3 yields 0x0000 when the rest of the echo message
            // sums to zero, which can be all-zero data (+0, where only 0xffff
            // verifies) or data summing to 0xffff (-0, where both verify):
            // 0xffff is right in both cases.
            if self.is_icmp.q.val() & self.l4_fold2.val().all() {
                self.l4_csum.d.next = 0xFFFF_u16.to_bits();
            }
        }
        if (self.state.q.val() == TxBuilderState::Send) & self.can_load.val() {
            self.o_valid.d.next = true;
            self.o_last.d.next = self.last_now.val();
            self.o_keep.d.next = 0xFF_u8.to_bits();
            if self.last_now.val() {
                self.o_keep.d.next = self.last_keep.q.val();
                self.state.d.next = TxBuilderState::Idle;
            }
            self.beat.d.next = self.beat.q.val() + 1_u8.to_bits();
            self.advance.next = (self.is_icmp.q.val() | self.is_data.q.val()) & (self.beat.q.val() >= self.first_payload_beat.val());
            // Byte swap: network order -> AXI order (frame byte 0 at [7:0]).
            self.o_data.d.next = ((self.beat_net.val() >> 56) & 0xFF_u64.to_bits())
                | ((self.beat_net.val() >> 40) & 0xFF00_u64.to_bits())
                | ((self.beat_net.val() >> 24) & 0xFF_0000_u64.to_bits())
                | ((self.beat_net.val() >> 8) & 0xFF00_0000_u64.to_bits())
                | ((self.beat_net.val() << 8) & 0xFF_0000_0000_u64.to_bits())
                | ((self.beat_net.val() << 24) & 0xFF00_0000_0000_u64.to_bits())
                | ((self.beat_net.val() << 40) & 0xFF_0000_0000_0000_u64.to_bits())
                | (self.beat_net.val() << 56);
        }

        // ---- Latch an accepted request. ----
        if self.req.ready.val() & self.req.valid.val() {
            self.is_arp.d.next = (self.req.kind.val() == self.kind_arp.val()) | (self.req.kind.val() == self.kind_garp.val());
            self.is_garp.d.next = self.req.kind.val() == self.kind_garp.val();
            self.is_icmp.d.next = self.req.kind.val() == self.kind_icmp.val();
            self.dst_mac.d.next = self.req.dst_mac.val();
            self.dst_ip.d.next = self.req.dst_ip.val();
            if self.req.kind.val() == self.kind_garp.val() {
                // A gratuitous ARP's target IP is our own.
                self.dst_ip.d.next = self.our_ip.val();
            }
            self.src_port.d.next = self.req.src_port.val();
            self.dst_port.d.next = self.req.dst_port.val();
            self.seq.d.next = self.req.seq.val();
            self.ack.d.next = self.req.ack.val();
            self.flags.d.next = self.req.flags.val();
            self.window.d.next = self.req.window.val();
            self.opt.d.next = self.rest.val();
            self.opt_words.d.next = self.rest_words.val();
            self.with_ts.d.next = self.req_ts.val();
            if self.req_ts.val() {
                self.opt.d.next = (bit_cast::<320, 96>(self.ts_opt.val()) << 224) | (self.rest.val() >> 96);
                self.opt_words.d.next = self.rest_words.val() + self.c_words[3].val();
            }
            self.icmp_off.d.next = self.req.icmp_off.val();
            self.icmp_len.d.next = self.req.icmp_len.val();
            self.icmp_csum.d.next = self.req.icmp_csum.val();
            self.is_data.d.next =
                (self.req.kind.val() == self.kind_tcp.val()) & !self.req.with_mss.val() & self.req.data_len.val().any();
            self.data_len.d.next = 0_u16.to_bits();
            self.data_sum.d.next = 0_u16.to_bits();
            // The payload's sum only with a payload: the engine presents the
            // last fetch's sum on every request, control segments included.
            if (self.req.kind.val() == self.kind_tcp.val()) & !self.req.with_mss.val() {
                self.data_len.d.next = self.req.data_len.val();
                if self.req.data_len.val().any() {
                    self.data_sum.d.next = self.req.data_sum.val();
                }
            }
            self.state.d.next = TxBuilderState::Send;
            self.in_sum.d.next = true;
            self.beat.d.next = 0_u8.to_bits();
        }

        // ---- Payload pipeline: hold the read address unless a payload beat moved. ----
        if self.advance.val() {
            self.raddr.next = self.rd_ptr.q.val() + 1_u8.to_bits();
            self.rd_ptr.d.next = self.rd_ptr.q.val() + 1_u8.to_bits();
            self.prev_word.d.next = self.src_word.val();
        }
        self.fb_raddr.next = self.raddr.val();
        self.pl_raddr.next = self.raddr.val();

        self.m_tdata.next = self.o_data.q.val();
        self.m_tkeep.next = self.o_keep.q.val();
        self.m_tvalid.next = self.o_valid.q.val();
        self.m_tlast.next = self.o_last.q.val();
        self.req.busy.next = (self.state.q.val() != TxBuilderState::Idle) | self.o_valid.q.val();
    }
}

pub fn verilog() -> Result<String, crate::generate::GenError> {
    crate::generate::verilog_named(&mut TxBuilder::default(), "tx_builder")
}

#[cfg(test)]
mod tests {
    #[test]
    fn tx_builder_lints_clean_and_synthesizes() {
        let v = super::verilog().expect("generates");
        crate::check::lint("tx_builder", &v).unwrap_or_else(|e| panic!("lint:\n{e}"));
        let area = crate::check::synth("tx_builder", &v).unwrap_or_else(|e| panic!("{e}"));
        eprintln!("tx_builder area: {area:?}");
        assert!(area.luts > 0);
    }
}
