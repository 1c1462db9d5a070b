//! Receive parser: takes Ethernet frames from the MAC (64-bit AXI-Stream, frame
//! byte 0 in `s_tdata[7:0]`), stores each in one of two frame buffers and
//! parses Ethernet / ARP / IPv4 / TCP / ICMP headers while the frame streams
//! in, one beat per cycle. After the last beat it presents a descriptor — the
//! header fields the engine needs and the drop reason (a regmap `Stat` index,
//! 0 = accepted) — with the frame's buffer on the `fb_raddr`/`fb_rdata` read port.
//!
//! Pipelining: the verdict for frame N is computed from registers in the cycle
//! after its last beat ("finish"), which may be the cycle that takes beat 0 of
//! frame N+1 — so back-to-back frames move at one beat per cycle while the
//! descriptor slot is free. Frame N+1 goes into the other buffer; if frame N's
//! descriptor is still waiting when N+1 finishes, `s_tready` drops until the
//! engine pops it.
//!
//! Checksums: frame words are in network order and every header starts at an
//! even frame offset, so the four 16-bit lanes of a beat are exactly the
//! one's-complement words of IPv4 and TCP; each beat adds the lanes whose bytes
//! lie in [14, 14+ihl*4) (IPv4) or [14+ihl*4, 14+total_len) (TCP, an odd last
//! byte is the high half of its word), so padding after the IP datagram and
//! IPv4 options are handled per byte. The pseudo-header is added at finish.
//!
//! TCP options: `opt_scan` walks the options one beat behind the stream,
//! following kind/length through up to eight option starts per word, and
//! records the first MSS option (kind 2, length 4) wherever it lies in the
//! header; an option running past the header end stops the scan.
//!
//! Drop reasons, first that applies (the MODEL mirrors this order):
//! 1. more than 2048 bytes → DropOversize (consumed to tlast, not stored past 2048);
//! 2. shorter than 14, or ARP < 42, or IPv4 < 14+20, < 14+ihl*4 or < 14+total_len
//!    → DropTruncated;
//! 3. dst MAC neither ours nor broadcast → DropNotOurAddress;
//! 4. ARP: not (htype 1, ptype 0x0800, hlen 6, plen 4, oper 1) → DropUnsupported;
//!    target IP not ours → DropNotOurAddress; else kind ARP;
//! 5. ethertype neither IPv4 nor ARP → DropUnknownEthertype;
//! 6. version ≠ 4, ihl < 5, total_len < ihl*4, or (TCP) TCP length < 20,
//!    doff < 5 or doff*4 > TCP length → DropBadIpHeader;
//! 7. IPv4 header checksum → DropBadIpChecksum; 8. dst IP ≠ ours → DropNotOurAddress;
//! 9. MF or fragment offset → DropIpFragment;
//! 10. TCP: checksum with pseudo-header → DropBadTcpChecksum; else kind TCP;
//! 11. ICMP: message < 8 bytes → DropTruncated; not echo request (8/0) →
//!     DropUnsupported; else kind ICMP; 12. any other protocol → DropUnsupported.
use holdback_regmap::Stat;
use rust_hdl::prelude::*;

/// `desc_kind` values.
pub const KIND_TCP: u64 = 0;
pub const KIND_ARP: u64 = 1;
pub const KIND_ICMP: u64 = 2;

/// The RX parser; port list and descriptor semantics in PLAN.md "rx_parser".
#[derive(LogicBlock)]
pub struct RxParser {
    pub clock: Signal<In, Clock>,
    pub s_tdata: Signal<In, Bits<64>>,
    pub s_tkeep: Signal<In, Bits<8>>,
    pub s_tvalid: Signal<In, Bit>,
    pub s_tlast: Signal<In, Bit>,
    pub s_tready: Signal<Out, Bit>,
    pub our_mac: Signal<In, Bits<48>>,
    pub our_ip: Signal<In, Bits<32>>,
    pub desc_valid: Signal<Out, Bit>,
    pub desc_ready: Signal<In, Bit>,
    pub desc_reason: Signal<Out, Bits<5>>,
    pub desc_kind: Signal<Out, Bits<2>>,
    pub desc_src_mac: Signal<Out, Bits<48>>,
    pub desc_src_ip: Signal<Out, Bits<32>>,
    pub desc_ip_total_len: Signal<Out, Bits<16>>,
    pub desc_ip_hdr_len: Signal<Out, Bits<6>>,
    pub desc_src_port: Signal<Out, Bits<16>>,
    pub desc_dst_port: Signal<Out, Bits<16>>,
    pub desc_seq: Signal<Out, Bits<32>>,
    pub desc_ack: Signal<Out, Bits<32>>,
    pub desc_flags: Signal<Out, Bits<8>>,
    pub desc_window: Signal<Out, Bits<16>>,
    pub desc_mss: Signal<Out, Bits<16>>,
    pub desc_payload_off: Signal<Out, Bits<11>>,
    pub desc_payload_len: Signal<Out, Bits<11>>,
    pub desc_icmp_csum: Signal<Out, Bits<16>>,
    pub fb_raddr: Signal<In, Bits<8>>,
    pub fb_rdata: Signal<Out, Bits<64>>,

    // Drop reasons and kinds, from the regmap (never literals in the kernel).
    r_accept: Constant<Bits<5>>,
    r_oversize: Constant<Bits<5>>,
    r_truncated: Constant<Bits<5>>,
    r_not_ours: Constant<Bits<5>>,
    r_ethertype: Constant<Bits<5>>,
    r_unsupported: Constant<Bits<5>>,
    r_bad_ip_hdr: Constant<Bits<5>>,
    r_bad_ip_csum: Constant<Bits<5>>,
    r_fragment: Constant<Bits<5>>,
    r_bad_tcp_csum: Constant<Bits<5>>,
    k_tcp: Constant<Bits<2>>,
    k_arp: Constant<Bits<2>>,
    k_icmp: Constant<Bits<2>>,
    /// Byte number within a beat, 0..7, as 16-bit constants.
    lane_no: [Constant<Bits<16>>; 8],
    /// Mask of byte `j` of a network-order word.
    lane_mask: [Constant<Bits<64>>; 8],

    // Two frame buffers: the one being written (`wsel`) and the presented one (`rsel`).
    fb0: RAM<Bits<64>, 8>,
    fb1: RAM<Bits<64>, 8>,
    wsel: DFF<Bit>,
    rsel: DFF<Bit>,

    // Receive state of the frame now streaming in.
    in_frame: DFF<Bit>,
    beat_no: DFF<Bits<16>>,
    oversize: DFF<Bit>,
    frame_len: DFF<Bits<16>>,
    fin_pending: DFF<Bit>,
    prev: DFF<Bits<64>>,
    w0: DFF<Bits<64>>,
    w1: DFF<Bits<64>>,
    w2: DFF<Bits<64>>,
    w3: DFF<Bits<64>>,
    w4: DFF<Bits<64>>,
    w5: DFF<Bits<64>>,
    /// TCP header bytes [T, T+8) and [T+8, T+16) where T = 14 + ihl*4.
    tcp_a: DFF<Bits<64>>,
    tcp_b: DFF<Bits<64>>,
    ip_sum: DFF<Bits<32>>,
    tcp_sum: DFF<Bits<32>>,
    opt_pos: DFF<Bits<16>>,
    opt_done: DFF<Bit>,
    mss: DFF<Bits<16>>,

    // The descriptor slot.
    d_valid: DFF<Bit>,
    d_reason: DFF<Bits<5>>,
    d_kind: DFF<Bits<2>>,
    d_src_mac: DFF<Bits<48>>,
    d_src_ip: DFF<Bits<32>>,
    d_total_len: DFF<Bits<16>>,
    d_hdr_len: DFF<Bits<16>>,
    d_sport: DFF<Bits<16>>,
    d_dport: DFF<Bits<16>>,
    d_seq: DFF<Bits<32>>,
    d_ack: DFF<Bits<32>>,
    d_flags: DFF<Bits<8>>,
    d_window: DFF<Bits<16>>,
    d_mss: DFF<Bits<16>>,
    d_poff: DFF<Bits<16>>,
    d_plen: DFF<Bits<16>>,
    d_icmp_csum: DFF<Bits<16>>,

    // Per-beat datapath.
    cur: Signal<Local, Bits<64>>,
    take: Signal<Local, Bit>,
    fin_now: Signal<Local, Bit>,
    idx: Signal<Local, Bits<16>>,
    base: Signal<Local, Bits<16>>,
    keep_bytes: Signal<Local, Bits<16>>,
    cap_word: Signal<Local, Bits<64>>,
    cap_a_beat: Signal<Local, Bits<16>>,
    cap_b_beat: Signal<Local, Bits<16>>,
    pos_b: [Signal<Local, Bits<16>>; 8],
    ip_mask: [Signal<Local, Bits<64>>; 9],
    tcp_mask: [Signal<Local, Bits<64>>; 9],
    ip_words: Signal<Local, Bits<64>>,
    tcp_words: Signal<Local, Bits<64>>,
    ip_lanes: Signal<Local, Bits<64>>,
    tcp_lanes: Signal<Local, Bits<64>>,

    // Header fields, decoded from the captured words.
    ethertype: Signal<Local, Bits<16>>,
    vihl: Signal<Local, Bits<16>>,
    hdr_len: Signal<Local, Bits<16>>,
    total_len: Signal<Local, Bits<16>>,
    tcp_start: Signal<Local, Bits<16>>,
    ip_end: Signal<Local, Bits<16>>,
    tcp_len: Signal<Local, Bits<16>>,
    doff4: Signal<Local, Bits<16>>,
    hdr_end: Signal<Local, Bits<16>>,
    proto: Signal<Local, Bits<16>>,
    src_mac_wide: Signal<Local, Bits<64>>,
    sha_wide: Signal<Local, Bits<64>>,
    dst_ip_wide: Signal<Local, Bits<64>>,
    tpa_wide: Signal<Local, Bits<64>>,
    pseudo_wide: Signal<Local, Bits<64>>,
    ip_fold1: Signal<Local, Bits<32>>,
    ip_fold2: Signal<Local, Bits<32>>,
    tcp_total: Signal<Local, Bits<32>>,
    tcp_fold1: Signal<Local, Bits<32>>,
    tcp_fold2: Signal<Local, Bits<32>>,
    len_m14: Signal<Local, Bits<16>>,
    is_ip: Signal<Local, Bit>,
    is_arp: Signal<Local, Bit>,
    truncated: Signal<Local, Bit>,
    reason: Signal<Local, Bits<5>>,
    kind: Signal<Local, Bits<2>>,

    // TCP option scanner over the word before the current one.
    scan_en: Signal<Local, Bit>,
    scan_base: Signal<Local, Bits<16>>,
    /// Window bytes zero-extended: 0..7 the scanned word, 8..10 look-ahead.
    wb: [Signal<Local, Bits<16>>; 11],
    opt_at: [Signal<Local, Bits<16>>; 9],
    opt_end: [Signal<Local, Bit>; 9],
    mss_hit: [Signal<Local, Bit>; 9],
    mss_val: [Signal<Local, Bits<16>>; 9],
    opt_next: [Signal<Local, Bits<16>>; 8],
    opt_mss_end: [Signal<Local, Bits<16>>; 8],
    mss_now: Signal<Local, Bits<16>>,
    /// Bits of wide intermediates that no field uses, reduced so that
    /// Verilator's UNUSED check (which skips names matching *unused*) sees
    /// them read; synthesis removes it.
    spare_unused: Signal<Local, Bit>,
}

fn reason(s: Stat) -> Constant<Bits<5>> {
    Constant::new(bits(s.index() as u64))
}

impl Default for RxParser {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            s_tdata: Default::default(),
            s_tkeep: Default::default(),
            s_tvalid: Default::default(),
            s_tlast: Default::default(),
            s_tready: Default::default(),
            our_mac: Default::default(),
            our_ip: Default::default(),
            desc_valid: Default::default(),
            desc_ready: Default::default(),
            desc_reason: Default::default(),
            desc_kind: Default::default(),
            desc_src_mac: Default::default(),
            desc_src_ip: Default::default(),
            desc_ip_total_len: Default::default(),
            desc_ip_hdr_len: Default::default(),
            desc_src_port: Default::default(),
            desc_dst_port: Default::default(),
            desc_seq: Default::default(),
            desc_ack: Default::default(),
            desc_flags: Default::default(),
            desc_window: Default::default(),
            desc_mss: Default::default(),
            desc_payload_off: Default::default(),
            desc_payload_len: Default::default(),
            desc_icmp_csum: Default::default(),
            fb_raddr: Default::default(),
            fb_rdata: Default::default(),
            r_accept: Constant::new(bits(0)),
            r_oversize: reason(Stat::DropOversize),
            r_truncated: reason(Stat::DropTruncated),
            r_not_ours: reason(Stat::DropNotOurAddress),
            r_ethertype: reason(Stat::DropUnknownEthertype),
            r_unsupported: reason(Stat::DropUnsupported),
            r_bad_ip_hdr: reason(Stat::DropBadIpHeader),
            r_bad_ip_csum: reason(Stat::DropBadIpChecksum),
            r_fragment: reason(Stat::DropIpFragment),
            r_bad_tcp_csum: reason(Stat::DropBadTcpChecksum),
            k_tcp: Constant::new(bits(KIND_TCP)),
            k_arp: Constant::new(bits(KIND_ARP)),
            k_icmp: Constant::new(bits(KIND_ICMP)),
            lane_no: std::array::from_fn(|j| Constant::new(bits(j as u64))),
            lane_mask: std::array::from_fn(|j| Constant::new(bits(0xFF_u64 << (56 - 8 * j)))),
            fb0: Default::default(),
            fb1: Default::default(),
            wsel: Default::default(),
            rsel: Default::default(),
            in_frame: Default::default(),
            beat_no: Default::default(),
            oversize: Default::default(),
            frame_len: Default::default(),
            fin_pending: Default::default(),
            prev: Default::default(),
            w0: Default::default(),
            w1: Default::default(),
            w2: Default::default(),
            w3: Default::default(),
            w4: Default::default(),
            w5: Default::default(),
            tcp_a: Default::default(),
            tcp_b: Default::default(),
            ip_sum: Default::default(),
            tcp_sum: Default::default(),
            opt_pos: Default::default(),
            opt_done: Default::default(),
            mss: Default::default(),
            d_valid: Default::default(),
            d_reason: Default::default(),
            d_kind: Default::default(),
            d_src_mac: Default::default(),
            d_src_ip: Default::default(),
            d_total_len: Default::default(),
            d_hdr_len: Default::default(),
            d_sport: Default::default(),
            d_dport: Default::default(),
            d_seq: Default::default(),
            d_ack: Default::default(),
            d_flags: Default::default(),
            d_window: Default::default(),
            d_mss: Default::default(),
            d_poff: Default::default(),
            d_plen: Default::default(),
            d_icmp_csum: Default::default(),
            cur: Default::default(),
            take: Default::default(),
            fin_now: Default::default(),
            idx: Default::default(),
            base: Default::default(),
            keep_bytes: Default::default(),
            cap_word: Default::default(),
            cap_a_beat: Default::default(),
            cap_b_beat: Default::default(),
            pos_b: Default::default(),
            ip_mask: Default::default(),
            tcp_mask: Default::default(),
            ip_words: Default::default(),
            tcp_words: Default::default(),
            ip_lanes: Default::default(),
            tcp_lanes: Default::default(),
            ethertype: Default::default(),
            vihl: Default::default(),
            hdr_len: Default::default(),
            total_len: Default::default(),
            tcp_start: Default::default(),
            ip_end: Default::default(),
            tcp_len: Default::default(),
            doff4: Default::default(),
            hdr_end: Default::default(),
            proto: Default::default(),
            src_mac_wide: Default::default(),
            sha_wide: Default::default(),
            dst_ip_wide: Default::default(),
            tpa_wide: Default::default(),
            pseudo_wide: Default::default(),
            ip_fold1: Default::default(),
            ip_fold2: Default::default(),
            tcp_total: Default::default(),
            tcp_fold1: Default::default(),
            tcp_fold2: Default::default(),
            len_m14: Default::default(),
            is_ip: Default::default(),
            is_arp: Default::default(),
            truncated: Default::default(),
            reason: Default::default(),
            kind: Default::default(),
            scan_en: Default::default(),
            scan_base: Default::default(),
            wb: Default::default(),
            opt_at: Default::default(),
            opt_end: Default::default(),
            mss_hit: Default::default(),
            mss_val: Default::default(),
            opt_next: Default::default(),
            opt_mss_end: Default::default(),
            mss_now: Default::default(),
            spare_unused: Default::default(),
        }
    }
}

impl Logic for RxParser {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            wsel,
            rsel,
            in_frame,
            beat_no,
            oversize,
            frame_len,
            fin_pending,
            prev,
            w0,
            w1,
            w2,
            w3,
            w4,
            w5,
            tcp_a,
            tcp_b,
            ip_sum,
            tcp_sum,
            opt_pos,
            opt_done,
            mss,
            d_valid,
            d_reason,
            d_kind,
            d_src_mac,
            d_src_ip,
            d_total_len,
            d_hdr_len,
            d_sport,
            d_dport,
            d_seq,
            d_ack,
            d_flags,
            d_window,
            d_mss,
            d_poff,
            d_plen,
            d_icmp_csum
        );
        self.fb0.read_clock.next = self.clock.val();
        self.fb0.write_clock.next = self.clock.val();
        self.fb1.read_clock.next = self.clock.val();
        self.fb1.write_clock.next = self.clock.val();

        // ---- Header fields of the frame in the working registers ----
        // w1 = bytes 8..15: src MAC 8-11, ethertype 12-13, ver/ihl 14, tos 15.
        self.ethertype.next = self.w1.q.val().get_bits::<16>(16);
        self.vihl.next = self.w1.q.val().get_bits::<16>(0) >> 8;
        self.hdr_len.next = (self.vihl.val() & 0x000F_u16.to_bits()) << 2;
        // w2 = bytes 16..23: total length, id, flags/fragment, ttl, protocol.
        self.total_len.next = self.w2.q.val().get_bits::<16>(48);
        self.proto.next = self.w2.q.val().get_bits::<16>(0) & 0x00FF_u16.to_bits();
        self.tcp_start.next = self.hdr_len.val() + 14_u16.to_bits();
        self.ip_end.next = self.total_len.val() + 14_u16.to_bits();
        self.tcp_len.next = self.total_len.val() - self.hdr_len.val();
        self.doff4.next = (self.tcp_b.q.val().get_bits::<16>(16) >> 10) & 0x003C_u16.to_bits();
        self.hdr_end.next = self.tcp_start.val() + self.doff4.val();

        // ---- Stream side ----
        self.fin_now.next = self.fin_pending.q.val() && !self.d_valid.q.val();
        self.s_tready.next = !self.fin_pending.q.val() || !self.d_valid.q.val();
        self.take.next = self.s_tvalid.val() && (!self.fin_pending.q.val() || !self.d_valid.q.val());
        // Cleared before the beat logic below: a one-beat frame taken in the
        // finish cycle sets it again.
        if self.fin_now.val() {
            self.fin_pending.d.next = false;
        }
        // AXI byte 0 (tdata[7:0]) becomes bits 63:56: network order.
        self.cur.next = ((self.s_tdata.val() & 0xFF_u64.to_bits()) << 56)
            | ((self.s_tdata.val() & 0xFF00_u64.to_bits()) << 40)
            | ((self.s_tdata.val() & 0xFF_0000_u64.to_bits()) << 24)
            | ((self.s_tdata.val() & 0xFF00_0000_u64.to_bits()) << 8)
            | ((self.s_tdata.val() >> 8) & 0xFF00_0000_u64.to_bits())
            | ((self.s_tdata.val() >> 24) & 0xFF_0000_u64.to_bits())
            | ((self.s_tdata.val() >> 40) & 0xFF00_u64.to_bits())
            | (self.s_tdata.val() >> 56);
        self.idx.next = self.beat_no.q.val();
        if !self.in_frame.q.val() {
            self.idx.next = 0_u16.to_bits();
        }
        self.base.next = self.idx.val() << 3;
        match self.s_tkeep.val().index() {
            1 => self.keep_bytes.next = 1_u16.to_bits(),
            3 => self.keep_bytes.next = 2_u16.to_bits(),
            7 => self.keep_bytes.next = 3_u16.to_bits(),
            15 => self.keep_bytes.next = 4_u16.to_bits(),
            31 => self.keep_bytes.next = 5_u16.to_bits(),
            63 => self.keep_bytes.next = 6_u16.to_bits(),
            127 => self.keep_bytes.next = 7_u16.to_bits(),
            _ => self.keep_bytes.next = 8_u16.to_bits(),
        }

        // Per-byte checksum ranges: IPv4 header [14, 14+hl), TCP segment
        // [14+hl, 14+total_len). Before beat 4 only bytes < 34 exist, which are
        // IPv4 header whatever ihl says (ihl < 5 is dropped anyway).
        self.ip_mask[0].next = 0_u64.to_bits();
        self.tcp_mask[0].next = 0_u64.to_bits();
        for j in 0..8 {
            self.pos_b[j].next = self.base.val() + self.lane_no[j].val();
            self.ip_mask[j + 1].next = self.ip_mask[j].val();
            if (self.pos_b[j].val() >= 14_u16.to_bits())
                && ((self.pos_b[j].val() < 34_u16.to_bits()) || (self.pos_b[j].val() < self.tcp_start.val()))
            {
                self.ip_mask[j + 1].next = self.ip_mask[j].val() | self.lane_mask[j].val();
            }
            self.tcp_mask[j + 1].next = self.tcp_mask[j].val();
            if (self.pos_b[j].val() >= 34_u16.to_bits())
                && (self.pos_b[j].val() >= self.tcp_start.val())
                && (self.pos_b[j].val() < self.ip_end.val())
            {
                self.tcp_mask[j + 1].next = self.tcp_mask[j].val() | self.lane_mask[j].val();
            }
        }
        self.ip_words.next = self.cur.val() & self.ip_mask[8].val();
        self.tcp_words.next = self.cur.val() & self.tcp_mask[8].val();
        self.ip_lanes.next = (self.ip_words.val() >> 48)
            + ((self.ip_words.val() >> 32) & 0xFFFF_u64.to_bits())
            + ((self.ip_words.val() >> 16) & 0xFFFF_u64.to_bits())
            + (self.ip_words.val() & 0xFFFF_u64.to_bits());
        self.tcp_lanes.next = (self.tcp_words.val() >> 48)
            + ((self.tcp_words.val() >> 32) & 0xFFFF_u64.to_bits())
            + ((self.tcp_words.val() >> 16) & 0xFFFF_u64.to_bits())
            + (self.tcp_words.val() & 0xFFFF_u64.to_bits());

        // The 8 TCP header bytes ending at this beat: T = 14 + 4*ihl is 2 mod 8
        // for odd ihl and 6 mod 8 for even ihl.
        self.cap_word.next = (self.prev.q.val() << 48) | (self.cur.val() >> 16);
        if self.hdr_len.val().get_bit(2) {
            self.cap_word.next = (self.prev.q.val() << 16) | (self.cur.val() >> 48);
        }
        self.cap_a_beat.next = (self.tcp_start.val() + 7_u16.to_bits()) >> 3;
        self.cap_b_beat.next = (self.tcp_start.val() + 15_u16.to_bits()) >> 3;

        if self.take.val() {
            self.prev.d.next = self.cur.val();
            if self.idx.val() != 0xFFFF_u16.to_bits() {
                self.beat_no.d.next = self.idx.val() + 1_u16.to_bits();
            }
            self.in_frame.d.next = !self.s_tlast.val();
            if self.idx.val() == 0_u16.to_bits() {
                self.w0.d.next = self.cur.val();
                self.oversize.d.next = false;
                self.ip_sum.d.next = 0_u32.to_bits();
                self.tcp_sum.d.next = 0_u32.to_bits();
            } else {
                self.ip_sum.d.next = self.ip_sum.q.val() + self.ip_lanes.val().get_bits::<32>(0);
                self.tcp_sum.d.next = self.tcp_sum.q.val() + self.tcp_lanes.val().get_bits::<32>(0);
            }
            if self.idx.val() == 1_u16.to_bits() {
                self.w1.d.next = self.cur.val();
            }
            if self.idx.val() == 2_u16.to_bits() {
                self.w2.d.next = self.cur.val();
            }
            if self.idx.val() == 3_u16.to_bits() {
                self.w3.d.next = self.cur.val();
            }
            if self.idx.val() == 4_u16.to_bits() {
                self.w4.d.next = self.cur.val();
            }
            if self.idx.val() == 5_u16.to_bits() {
                self.w5.d.next = self.cur.val();
            }
            if self.idx.val() >= 256_u16.to_bits() {
                self.oversize.d.next = true;
            }
            if (self.idx.val() >= 2_u16.to_bits()) && (self.idx.val() == self.cap_a_beat.val()) {
                self.tcp_a.d.next = self.cap_word.val();
            }
            if (self.idx.val() >= 2_u16.to_bits()) && (self.idx.val() == self.cap_b_beat.val()) {
                self.tcp_b.d.next = self.cap_word.val();
            }
            if self.s_tlast.val() {
                self.frame_len.d.next = self.base.val() + self.keep_bytes.val();
                self.fin_pending.d.next = true;
            }
        }
        // Frame buffer writes: the buffer not presented (or about to be freed).
        self.fb0.write_address.next = self.idx.val().get_bits::<8>(0);
        self.fb1.write_address.next = self.idx.val().get_bits::<8>(0);
        self.fb0.write_data.next = self.cur.val();
        self.fb1.write_data.next = self.cur.val();
        self.fb0.write_enable.next = false;
        self.fb1.write_enable.next = false;
        if self.take.val() && (self.idx.val() < 256_u16.to_bits()) {
            if self.wsel.q.val() != self.fin_now.val() {
                self.fb1.write_enable.next = true;
            } else {
                self.fb0.write_enable.next = true;
            }
        }
        self.fb0.read_address.next = self.fb_raddr.val();
        self.fb1.read_address.next = self.fb_raddr.val();
        self.fb_rdata.next = self.fb0.read_data.val();
        if self.rsel.q.val() {
            self.fb_rdata.next = self.fb1.read_data.val();
        }

        // ---- TCP option scan, one word behind the stream ----
        // Scans word k = beat - 1 (or the last word at finish) with the current
        // beat as look-ahead for lengths and values that cross the word end.
        // Bytes past the TCP header are never used, so the look-ahead may be
        // anything. opt_pos is valid from beat 3 (set at beat 2).
        self.scan_en.next = (self.take.val() && (self.idx.val() >= 3_u16.to_bits()))
            || (self.fin_now.val() && (self.beat_no.q.val() >= 3_u16.to_bits()));
        self.scan_base.next = self.base.val() - 8_u16.to_bits();
        if self.fin_now.val() {
            self.scan_base.next = (self.beat_no.q.val() - 1_u16.to_bits()) << 3;
        }
        self.wb[0].next = self.prev.q.val().get_bits::<16>(48) >> 8;
        for j in 1..8 {
            self.wb[j].next = self.prev.q.val().get_bits::<16>(56 - 8 * j) & 0x00FF_u16.to_bits();
        }
        self.wb[8].next = self.cur.val().get_bits::<16>(48) >> 8;
        self.wb[9].next = self.cur.val().get_bits::<16>(48) & 0x00FF_u16.to_bits();
        self.wb[10].next = self.cur.val().get_bits::<16>(40) & 0x00FF_u16.to_bits();
        self.opt_at[0].next = self.opt_pos.q.val();
        self.opt_end[0].next = self.opt_done.q.val() || !self.scan_en.val();
        self.mss_hit[0].next = false;
        self.mss_val[0].next = 0_u16.to_bits();
        for i in 0..8 {
            self.opt_next[i].next = self.opt_at[i].val() + self.wb[i + 1].val();
            self.opt_mss_end[i].next = self.opt_at[i].val() + 4_u16.to_bits();
            self.opt_at[i + 1].next = self.opt_at[i].val();
            self.opt_end[i + 1].next = self.opt_end[i].val();
            self.mss_hit[i + 1].next = self.mss_hit[i].val();
            self.mss_val[i + 1].next = self.mss_val[i].val();
            if !self.opt_end[i].val() && (self.opt_at[i].val() == (self.scan_base.val() + self.lane_no[i].val())) {
                if self.opt_at[i].val() >= self.hdr_end.val() {
                    self.opt_end[i + 1].next = true;
                } else if self.wb[i].val() == 0_u16.to_bits() {
                    // End of option list.
                    self.opt_end[i + 1].next = true;
                } else if self.wb[i].val() == 1_u16.to_bits() {
                    // No-operation.
                    self.opt_at[i + 1].next = self.opt_at[i].val() + 1_u16.to_bits();
                } else if self.wb[i + 1].val() < 2_u16.to_bits() {
                    // Malformed length: stop rather than loop.
                    self.opt_end[i + 1].next = true;
                } else {
                    self.opt_at[i + 1].next = self.opt_next[i].val();
                    if (self.wb[i].val() == 2_u16.to_bits())
                        && (self.wb[i + 1].val() == 4_u16.to_bits())
                        && (self.opt_mss_end[i].val() <= self.hdr_end.val())
                    {
                        // The first MSS option counts (as wire::tcp_options_mss).
                        self.opt_end[i + 1].next = true;
                        self.mss_hit[i + 1].next = true;
                        self.mss_val[i + 1].next = (self.wb[i + 2].val() << 8) | self.wb[i + 3].val();
                    }
                }
            }
        }
        self.mss_now.next = self.mss.q.val();
        if self.scan_en.val() {
            self.opt_pos.d.next = self.opt_at[8].val();
            self.opt_done.d.next = self.opt_end[8].val();
            if self.mss_hit[8].val() {
                self.mss_now.next = self.mss_val[8].val();
            }
        }
        self.mss.d.next = self.mss_now.val();
        if self.take.val() && (self.idx.val() == 0_u16.to_bits()) {
            self.mss.d.next = 0_u16.to_bits();
        }
        if self.take.val() && (self.idx.val() == 2_u16.to_bits()) {
            // ihl arrived with beat 1; options start at T + 20.
            self.opt_pos.d.next = self.tcp_start.val() + 20_u16.to_bits();
            self.opt_done.d.next = false;
        }

        // ---- Verdict (used at finish) ----
        self.src_mac_wide.next = (self.w0.q.val() << 32) | (self.w1.q.val() >> 32);
        self.sha_wide.next = (self.w2.q.val() << 32) | (self.w3.q.val() >> 32);
        self.dst_ip_wide.next = (self.w3.q.val() << 16) | (self.w4.q.val() >> 48);
        self.tpa_wide.next = (self.w4.q.val() << 16) | (self.w5.q.val() >> 48);
        // Pseudo-header: source and destination address words, protocol 6,
        // TCP length (total length - 4*ihl, from bits 11:8 of w1).
        self.pseudo_wide.next = ((self.w3.q.val() >> 32) & 0xFFFF_u64.to_bits())
            + ((self.w3.q.val() >> 16) & 0xFFFF_u64.to_bits())
            + (self.w3.q.val() & 0xFFFF_u64.to_bits())
            + (self.w4.q.val() >> 48)
            + 6_u64.to_bits()
            + (self.w2.q.val() >> 48)
            - ((self.w1.q.val() >> 6) & 0x3C_u64.to_bits());
        self.ip_fold1.next = (self.ip_sum.q.val() & 0xFFFF_u32.to_bits()) + (self.ip_sum.q.val() >> 16);
        self.ip_fold2.next = (self.ip_fold1.val() & 0xFFFF_u32.to_bits()) + (self.ip_fold1.val() >> 16);
        self.tcp_total.next = self.tcp_sum.q.val() + self.pseudo_wide.val().get_bits::<32>(0);
        self.tcp_fold1.next = (self.tcp_total.val() & 0xFFFF_u32.to_bits()) + (self.tcp_total.val() >> 16);
        self.tcp_fold2.next = (self.tcp_fold1.val() & 0xFFFF_u32.to_bits()) + (self.tcp_fold1.val() >> 16);
        self.len_m14.next = self.frame_len.q.val() - 14_u16.to_bits();
        self.is_ip.next = self.ethertype.val() == 0x0800_u16.to_bits();
        self.is_arp.next = self.ethertype.val() == 0x0806_u16.to_bits();
        self.truncated.next = (self.frame_len.q.val() < 14_u16.to_bits())
            || (self.is_arp.val() && (self.len_m14.val() < 28_u16.to_bits()))
            || (self.is_ip.val()
                && ((self.len_m14.val() < 20_u16.to_bits())
                    || (self.len_m14.val() < self.hdr_len.val())
                    || (self.len_m14.val() < self.total_len.val())));

        self.kind.next = self.k_tcp.val();
        self.reason.next = self.r_accept.val();
        if self.oversize.q.val() {
            self.reason.next = self.r_oversize.val();
        } else if self.truncated.val() {
            self.reason.next = self.r_truncated.val();
        } else if (self.w0.q.val().get_bits::<48>(16) != self.our_mac.val())
            && !self.w0.q.val().get_bits::<48>(16).all()
        {
            self.reason.next = self.r_not_ours.val();
        } else if self.is_arp.val() {
            self.kind.next = self.k_arp.val();
            if (self.w1.q.val().get_bits::<16>(0) != 1_u16.to_bits())
                || (self.total_len.val() != 0x0800_u16.to_bits())
                || (self.w2.q.val().get_bits::<16>(32) != 0x0604_u16.to_bits())
                || (self.w2.q.val().get_bits::<16>(16) != 1_u16.to_bits())
            {
                self.reason.next = self.r_unsupported.val();
            } else if self.tpa_wide.val().get_bits::<32>(0) != self.our_ip.val() {
                self.reason.next = self.r_not_ours.val();
            }
        } else if !self.is_ip.val() {
            self.reason.next = self.r_ethertype.val();
        } else if ((self.vihl.val() >> 4) != 4_u16.to_bits())
            || (self.hdr_len.val() < 20_u16.to_bits())
            || (self.total_len.val() < self.hdr_len.val())
            || ((self.proto.val() == 6_u16.to_bits())
                && ((self.tcp_len.val() < 20_u16.to_bits())
                    || (self.doff4.val() < 20_u16.to_bits())
                    || (self.doff4.val() > self.tcp_len.val())))
        {
            self.reason.next = self.r_bad_ip_hdr.val();
        } else if self.ip_fold2.val() != 0xFFFF_u32.to_bits() {
            self.reason.next = self.r_bad_ip_csum.val();
        } else if self.dst_ip_wide.val().get_bits::<32>(0) != self.our_ip.val() {
            self.reason.next = self.r_not_ours.val();
        } else if (self.w2.q.val().get_bits::<16>(16) & 0x3FFF_u16.to_bits()) != 0_u16.to_bits() {
            self.reason.next = self.r_fragment.val();
        } else if self.proto.val() == 6_u16.to_bits() {
            if self.tcp_fold2.val() != 0xFFFF_u32.to_bits() {
                self.reason.next = self.r_bad_tcp_csum.val();
            }
        } else if self.proto.val() == 1_u16.to_bits() {
            self.kind.next = self.k_icmp.val();
            if self.tcp_len.val() < 8_u16.to_bits() {
                self.reason.next = self.r_truncated.val();
            } else if self.tcp_a.q.val().get_bits::<16>(48) != 0x0800_u16.to_bits() {
                self.reason.next = self.r_unsupported.val();
            }
        } else {
            self.reason.next = self.r_unsupported.val();
        }

        // ---- Descriptor slot ----
        if self.d_valid.q.val() && self.desc_ready.val() {
            self.d_valid.d.next = false;
        }
        if self.fin_now.val() {
            self.d_valid.d.next = true;
            self.rsel.d.next = self.wsel.q.val();
            self.wsel.d.next = !self.wsel.q.val();
            self.d_reason.d.next = self.reason.val();
            self.d_kind.d.next = self.kind.val();
            self.d_src_mac.d.next = self.src_mac_wide.val().get_bits::<48>(0);
            self.d_src_ip.d.next = self.w3.q.val().get_bits::<32>(16);
            if self.is_arp.val() {
                self.d_src_mac.d.next = self.sha_wide.val().get_bits::<48>(0);
                self.d_src_ip.d.next = self.w3.q.val().get_bits::<32>(0);
            }
            self.d_total_len.d.next = self.total_len.val();
            self.d_hdr_len.d.next = self.hdr_len.val();
            self.d_sport.d.next = self.tcp_a.q.val().get_bits::<16>(48);
            self.d_dport.d.next = self.tcp_a.q.val().get_bits::<16>(32);
            self.d_seq.d.next = self.tcp_a.q.val().get_bits::<32>(0);
            self.d_ack.d.next = self.tcp_b.q.val().get_bits::<32>(32);
            self.d_flags.d.next = self.tcp_b.q.val().get_bits::<8>(16);
            self.d_window.d.next = self.tcp_b.q.val().get_bits::<16>(0);
            self.d_icmp_csum.d.next = self.tcp_a.q.val().get_bits::<16>(32);
            if self.kind.val() == self.k_icmp.val() {
                self.d_mss.d.next = 0_u16.to_bits();
                self.d_poff.d.next = self.tcp_start.val();
                self.d_plen.d.next = self.tcp_len.val();
            } else {
                self.d_mss.d.next = self.mss_now.val();
                self.d_poff.d.next = self.hdr_end.val();
                self.d_plen.d.next = self.tcp_len.val() - self.doff4.val();
            }
        }
        self.desc_valid.next = self.d_valid.q.val();
        self.desc_reason.next = self.d_reason.q.val();
        self.desc_kind.next = self.d_kind.q.val();
        self.desc_src_mac.next = self.d_src_mac.q.val();
        self.desc_src_ip.next = self.d_src_ip.q.val();
        self.desc_ip_total_len.next = self.d_total_len.q.val();
        self.desc_ip_hdr_len.next = self.d_hdr_len.q.val().get_bits::<6>(0);
        self.desc_src_port.next = self.d_sport.q.val();
        self.desc_dst_port.next = self.d_dport.q.val();
        self.desc_seq.next = self.d_seq.q.val();
        self.desc_ack.next = self.d_ack.q.val();
        self.desc_flags.next = self.d_flags.q.val();
        self.desc_window.next = self.d_window.q.val();
        self.desc_mss.next = self.d_mss.q.val();
        self.desc_payload_off.next = self.d_poff.q.val().get_bits::<11>(0);
        self.desc_payload_len.next = self.d_plen.q.val().get_bits::<11>(0);
        self.desc_icmp_csum.next = self.d_icmp_csum.q.val();
        self.spare_unused.next = self.ip_lanes.val().xor()
            ^ self.tcp_lanes.val().xor()
            ^ self.src_mac_wide.val().xor()
            ^ self.sha_wide.val().xor()
            ^ self.dst_ip_wide.val().xor()
            ^ self.tpa_wide.val().xor()
            ^ self.pseudo_wide.val().xor();
    }
}

pub fn verilog() -> Result<String, crate::generate::GenError> {
    crate::generate::verilog_named(&mut RxParser::default(), "rx_parser")
}

#[cfg(test)]
mod tests {
    #[test]
    fn rx_parser_lints_clean_and_synthesizes() {
        let v = super::verilog().expect("generates");
        crate::check::lint("rx_parser", &v).unwrap_or_else(|e| panic!("lint:\n{e}"));
        let area = crate::check::synth("rx_parser", &v).unwrap_or_else(|e| panic!("{e}"));
        eprintln!("rx_parser area: {area:?}");
        assert!(area.luts > 0);
        assert!(area.bram18 > 0 && area.bram18 <= 8, "two 2 KiB frame buffers in block RAM");
    }
}
