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
//! engine pops it, and N+1's descriptor takes the slot at the edge of that pop.
//!
//! Helper blocks, each in its own file with its own tests:
//! - [`RxFront`]: beat byte order, handshake, beat index (see there why the
//!   children's inputs never come from this kernel's Locals);
//! - [`RxBeatSum`]: per-beat IPv4 and TCP one's-complement lane sums;
//! - [`RxOptScan`]: the TCP option walk for MSS, window scale, SACK-permitted,
//!   timestamps and SACK blocks, one word behind the stream;
//! - [`RxVerdict`]: header decode and the drop rules, in their priority order.
use crate::channels::RxDescSource;
use rust_hdl::prelude::*;

pub mod csum;
pub mod front;
pub mod opt_scan;
pub mod verdict;

pub use csum::RxBeatSum;
pub use front::RxFront;
pub use opt_scan::RxOptScan;
pub use verdict::{RxVerdict, KIND_ARP, KIND_ICMP, KIND_TCP};

/// The RX parser: frames in, one descriptor (header fields and drop reason) per frame out.
#[derive(LogicBlock, Default)]
pub struct RxParser {
    pub clock: Signal<In, Clock>,
    pub s_tdata: Signal<In, Bits<64>>,
    pub s_tkeep: Signal<In, Bits<8>>,
    pub s_tvalid: Signal<In, Bit>,
    pub s_tlast: Signal<In, Bit>,
    pub s_tready: Signal<Out, Bit>,
    pub our_mac: Signal<In, Bits<48>>,
    pub our_ip: Signal<In, Bits<32>>,
    /// The descriptor: what the engine needs of each frame.
    pub desc: RxDescSource,
    /// IPv4 total and header length of the presented frame, for the block's testbench.
    pub desc_ip_total_len: Signal<Out, Bits<16>>,
    pub desc_ip_hdr_len: Signal<Out, Bits<6>>,
    pub fb_raddr: Signal<In, Bits<8>>,
    pub fb_rdata: Signal<Out, Bits<64>>,

    // Two frame buffers: the one being written (`wsel`) and the presented one (`rsel`).
    fb0: RAM<Bits<64>, 8>,
    fb1: RAM<Bits<64>, 8>,
    wsel: DFF<Bit>,
    rsel: DFF<Bit>,
    front: RxFront,
    sums: RxBeatSum,
    scan: RxOptScan,
    verdict: RxVerdict,

    // The frame streaming in.
    in_frame: DFF<Bit>,
    /// Beats taken so far (saturating); the next beat's index while in_frame.
    beat_no: DFF<Bits<16>>,
    oversize: DFF<Bit>,
    frame_len: DFF<Bits<16>>,
    /// Last beat taken, verdict not yet in the descriptor slot.
    fin_pending: DFF<Bit>,
    prev: DFF<Bits<64>>,
    /// Frame words 0..5 (network order), for the fixed-offset headers.
    w0: DFF<Bits<64>>,
    w1: DFF<Bits<64>>,
    w2: DFF<Bits<64>>,
    w3: DFF<Bits<64>>,
    w4: DFF<Bits<64>>,
    w5: DFF<Bits<64>>,
    /// TCP header bytes [T, T+8) and [T+8, T+16), T = 14 + ihl*4.
    tcp_a: DFF<Bits<64>>,
    tcp_b: DFF<Bits<64>>,
    ip_sum: DFF<Bits<32>>,
    tcp_sum: DFF<Bits<32>>,
    /// TCP pseudo-header sum, registered at beat 5 (words 1..4 are in).
    pseudo_sum: DFF<Bits<32>>,
    opt_pos: DFF<Bits<16>>,
    opt_done: DFF<Bit>,
    mss: DFF<Bits<16>>,
    // Window scaling: the first MSS and window-scale options count (the scanner caps the shift at 14).
    mss_seen: DFF<Bit>,
    ws_seen: DFF<Bit>,
    ws: DFF<Bits<4>>,
    /// SACK-permitted seen in this frame's options (RFC 2018 §2).
    sackp_seen: DFF<Bit>,
    /// Timestamps (RFC 7323 §3.2): the first option seen, its value's frame
    /// offset, and its value bytes as they arrive (TSval in bits 63:32).
    ts_seen: DFF<Bit>,
    ts_at: DFF<Bits<16>>,
    ts_val: DFF<Bits<64>>,
    /// SACK (RFC 2018 §3): the first well-formed option seen, its blocks'
    /// frame offset and count, and its value bytes as they arrive (block 0's
    /// left edge in bits 255:224; bytes past the count are don't-care).
    sack_seen: DFF<Bit>,
    sack_at: DFF<Bits<16>>,
    sack_n: DFF<Bits<3>>,
    sack_val: DFF<Bits<256>>,

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
    d_ws_ok: DFF<Bit>,
    d_ws: DFF<Bits<4>>,
    d_sack_ok: DFF<Bit>,
    d_ts_ok: DFF<Bit>,
    d_ts_val: DFF<Bits<64>>,
    d_sack_count: DFF<Bits<3>>,
    d_sack_blocks: DFF<Bits<256>>,
    d_poff: DFF<Bits<16>>,
    d_plen: DFF<Bits<16>>,
    d_icmp_csum: DFF<Bits<16>>,

    cap_word: Signal<Local, Bits<64>>,
    cap_a_beat: Signal<Local, Bits<16>>,
    cap_b_beat: Signal<Local, Bits<16>>,
    mss_now: Signal<Local, Bits<16>>,
    mss_seen_now: Signal<Local, Bit>,
    ws_seen_now: Signal<Local, Bit>,
    ws_now: Signal<Local, Bits<4>>,
    sackp_seen_now: Signal<Local, Bit>,
    ts_seen_now: Signal<Local, Bit>,
    ts_val_now: Signal<Local, Bits<64>>,
    sack_seen_now: Signal<Local, Bit>,
    sack_n_now: Signal<Local, Bits<3>>,
    sack_val_now: Signal<Local, Bits<256>>,
    /// The descriptor's SACK count, and its blocks, each kept only below the count.
    sack_cnt_desc: Signal<Local, Bits<3>>,
    sack_blk: [Signal<Local, Bits<64>>; 4],
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
            pseudo_sum,
            opt_pos,
            opt_done,
            mss,
            mss_seen,
            ws_seen,
            ws,
            sackp_seen,
            ts_seen,
            ts_at,
            ts_val,
            sack_seen,
            sack_at,
            sack_n,
            sack_val,
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
            d_ws_ok,
            d_ws,
            d_sack_ok,
            d_ts_ok,
            d_ts_val,
            d_sack_count,
            d_sack_blocks,
            d_poff,
            d_plen,
            d_icmp_csum
        );
        self.fb0.read_clock.next = self.clock.val();
        self.fb0.write_clock.next = self.clock.val();
        self.fb1.read_clock.next = self.clock.val();
        self.fb1.write_clock.next = self.clock.val();

        // ---- Header decode and verdict of the frame in the registers ----
        self.verdict.w0.next = self.w0.q.val();
        self.verdict.w1.next = self.w1.q.val();
        self.verdict.w2.next = self.w2.q.val();
        self.verdict.w3.next = self.w3.q.val();
        self.verdict.w4.next = self.w4.q.val();
        self.verdict.w5.next = self.w5.q.val();
        self.verdict.doff_flags.next = self.tcp_b.q.val().get_bits::<16>(16);
        self.verdict.icmp_type_code.next = self.tcp_a.q.val().get_bits::<16>(48);
        self.verdict.ip_sum.next = self.ip_sum.q.val();
        self.verdict.tcp_sum.next = self.tcp_sum.q.val();
        self.verdict.pseudo_sum.next = self.pseudo_sum.q.val();
        self.verdict.frame_len.next = self.frame_len.q.val();
        self.verdict.oversize.next = self.oversize.q.val();
        self.verdict.our_mac.next = self.our_mac.val();
        self.verdict.our_ip.next = self.our_ip.val();

        // ---- Stream side ----
        self.front.s_tdata.next = self.s_tdata.val();
        self.front.s_tkeep.next = self.s_tkeep.val();
        self.front.s_tvalid.next = self.s_tvalid.val();
        self.front.beat_no.next = self.beat_no.q.val();
        self.front.in_frame.next = self.in_frame.q.val();
        self.front.fin_pending.next = self.fin_pending.q.val();
        self.front.slot_full.next = self.d_valid.q.val();
        self.front.slot_pop.next = self.desc.ready.val();
        self.s_tready.next = self.front.ready.val();
        // Cleared before the beat logic below: a one-beat frame taken in the
        // finish cycle sets it again.
        if self.front.fin_now.val() {
            self.fin_pending.d.next = false;
        }
        // The lengths come from words 1 and 2, registered before beat 4,
        // where the first byte past a minimal IPv4 header arrives.
        self.sums.word.next = self.front.word.val();
        self.sums.base.next = self.front.base.val();
        self.sums.ip_hdr_end.next = self.verdict.tcp_start.val();
        self.sums.ip_end.next = self.verdict.ip_end.val();

        // The 8 TCP header bytes ending in this beat: T = 14 + 4*ihl is 2 mod 8
        // for odd ihl and 6 mod 8 for even ihl.
        self.cap_word.next = (self.prev.q.val() << 48) | (self.front.word.val() >> 16);
        if self.verdict.hdr_len.val().get_bit(2) {
            self.cap_word.next = (self.prev.q.val() << 16) | (self.front.word.val() >> 48);
        }
        self.cap_a_beat.next = (self.verdict.tcp_start.val() + 7_u16.to_bits()) >> 3;
        self.cap_b_beat.next = (self.verdict.tcp_start.val() + 15_u16.to_bits()) >> 3;

        if self.front.take.val() {
            self.prev.d.next = self.front.word.val();
            if self.front.idx.val() != 0xFFFF_u16.to_bits() {
                self.beat_no.d.next = self.front.idx.val() + 1_u16.to_bits();
            }
            self.in_frame.d.next = !self.s_tlast.val();
            if self.front.idx.val() == 0_u16.to_bits() {
                self.w0.d.next = self.front.word.val();
                self.oversize.d.next = false;
                self.ip_sum.d.next = 0_u32.to_bits();
                self.tcp_sum.d.next = 0_u32.to_bits();
            } else {
                self.ip_sum.d.next = self.ip_sum.q.val() + self.sums.ip_sum.val();
                self.tcp_sum.d.next = self.tcp_sum.q.val() + self.sums.tcp_sum.val();
            }
            if self.front.idx.val() == 1_u16.to_bits() {
                self.w1.d.next = self.front.word.val();
            }
            if self.front.idx.val() == 2_u16.to_bits() {
                self.w2.d.next = self.front.word.val();
            }
            if self.front.idx.val() == 3_u16.to_bits() {
                self.w3.d.next = self.front.word.val();
            }
            if self.front.idx.val() == 4_u16.to_bits() {
                self.w4.d.next = self.front.word.val();
            }
            if self.front.idx.val() == 5_u16.to_bits() {
                self.w5.d.next = self.front.word.val();
                // A TCP segment for us has at least 7 beats (54 bytes).
                self.pseudo_sum.d.next = self.verdict.pseudo.val();
            }
            if self.front.idx.val() >= 256_u16.to_bits() {
                self.oversize.d.next = true;
            }
            if (self.front.idx.val() >= 2_u16.to_bits()) && (self.front.idx.val() == self.cap_a_beat.val()) {
                self.tcp_a.d.next = self.cap_word.val();
            }
            if (self.front.idx.val() >= 2_u16.to_bits()) && (self.front.idx.val() == self.cap_b_beat.val()) {
                self.tcp_b.d.next = self.cap_word.val();
            }
            if self.s_tlast.val() {
                self.frame_len.d.next = self.front.base.val() + self.front.keep_bytes.val();
                self.fin_pending.d.next = true;
            }
        }
        // Frame buffer writes go to the buffer not presented (in the finish
        // cycle: the one about to be freed by the switch).
        self.fb0.write_address.next = self.front.idx.val().get_bits::<8>(0);
        self.fb1.write_address.next = self.front.idx.val().get_bits::<8>(0);
        self.fb0.write_data.next = self.front.word.val();
        self.fb1.write_data.next = self.front.word.val();
        self.fb0.write_enable.next = false;
        self.fb1.write_enable.next = false;
        if self.front.take.val() && (self.front.idx.val() < 256_u16.to_bits()) {
            if self.wsel.q.val() != self.front.fin_now.val() {
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
        // Word k = beat - 1 (the last word at finish), with this beat as the
        // look-ahead; bytes past the TCP header are never used, so the
        // look-ahead may be anything. opt_pos is valid from beat 3 (set at 2).
        self.scan.enable.next = self.front.scan_en.val();
        self.scan.pos.next = self.opt_pos.q.val();
        self.scan.done.next = self.opt_done.q.val();
        self.scan.word_base.next = self.front.scan_base.val();
        self.scan.hdr_end.next = self.verdict.hdr_end.val();
        self.scan.word.next = self.prev.q.val();
        self.scan.look.next = self.front.word.val().get_bits::<24>(40);
        self.mss_now.next = self.mss.q.val();
        self.mss_seen_now.next = self.mss_seen.q.val();
        self.ws_now.next = self.ws.q.val();
        self.ws_seen_now.next = self.ws_seen.q.val();
        self.sackp_seen_now.next = self.sackp_seen.q.val() | (self.front.scan_en.val() & self.scan.sackp_found.val());
        // Timestamps: the scanner places the first option's value bytes that
        // lie in this word (it gives none while not enabled).
        self.scan.ts_seen.next = self.ts_seen.q.val();
        self.scan.ts_seen_at.next = self.ts_at.q.val();
        self.ts_seen_now.next = self.ts_seen.q.val() | (self.front.scan_en.val() & self.scan.ts_found.val());
        self.ts_val_now.next = (self.ts_val.q.val() & !self.scan.ts_mask.val()) | (self.scan.ts_bytes.val() & self.scan.ts_mask.val());
        if self.front.scan_en.val() & self.scan.ts_found.val() {
            self.ts_at.d.next = self.scan.ts_at.val();
        }
        self.ts_seen.d.next = self.ts_seen_now.val();
        self.ts_val.d.next = self.ts_val_now.val();
        // SACK: the same for the first well-formed SACK option's blocks.
        self.scan.sack_seen.next = self.sack_seen.q.val();
        self.scan.sack_seen_at.next = self.sack_at.q.val();
        self.scan.sack_seen_n.next = self.sack_n.q.val();
        self.sack_seen_now.next = self.sack_seen.q.val() | (self.front.scan_en.val() & self.scan.sack_found.val());
        self.sack_n_now.next = self.sack_n.q.val();
        if self.front.scan_en.val() & self.scan.sack_found.val() {
            self.sack_at.d.next = self.scan.sack_at.val();
            self.sack_n_now.next = self.scan.sack_n.val();
        }
        self.sack_val_now.next =
            (self.sack_val.q.val() & !self.scan.sack_mask.val()) | (self.scan.sack_bytes.val() & self.scan.sack_mask.val());
        self.sack_seen.d.next = self.sack_seen_now.val();
        self.sack_n.d.next = self.sack_n_now.val();
        self.sack_val.d.next = self.sack_val_now.val();
        if self.front.scan_en.val() {
            self.opt_pos.d.next = self.scan.next_pos.val();
            self.opt_done.d.next = self.scan.next_done.val();
            if self.scan.mss_found.val() & !self.mss_seen.q.val() {
                self.mss_now.next = self.scan.mss.val();
                self.mss_seen_now.next = true;
            }
            if self.scan.ws_found.val() & !self.ws_seen.q.val() {
                self.ws_now.next = self.scan.ws.val();
                self.ws_seen_now.next = true;
            }
        }
        self.mss.d.next = self.mss_now.val();
        self.mss_seen.d.next = self.mss_seen_now.val();
        self.ws.d.next = self.ws_now.val();
        self.ws_seen.d.next = self.ws_seen_now.val();
        self.sackp_seen.d.next = self.sackp_seen_now.val();
        if self.front.take.val() && (self.front.idx.val() == 0_u16.to_bits()) {
            self.mss.d.next = 0_u16.to_bits();
            self.mss_seen.d.next = false;
            // (`ws` is read only while `ws_seen`.)
            self.ws_seen.d.next = false;
            self.sackp_seen.d.next = false;
            // (`ts_at` and `ts_val` are read only while `ts_seen`.)
            self.ts_seen.d.next = false;
            // (`sack_at`, `sack_n` and `sack_val` are read only while `sack_seen`.)
            self.sack_seen.d.next = false;
        }
        if self.front.take.val() && (self.front.idx.val() == 2_u16.to_bits()) {
            // ihl arrived with beat 1; options start at T + 20.
            self.opt_pos.d.next = self.verdict.tcp_start.val() + 20_u16.to_bits();
            self.opt_done.d.next = false;
        }

        // ---- Descriptor slot ----
        // SACK blocks qualify the cumulative ACK (RFC 2018 §3): none
        // without the ACK flag (tcp_b bit 20); blocks past the count zero.
        // (0_u64 is a width-independent zero, as lint.vlt notes.)
        self.sack_cnt_desc.next = 0_u64.to_bits();
        if self.verdict.is_tcp.val() & self.tcp_b.q.val().get_bit(20) & self.sack_seen_now.val() {
            self.sack_cnt_desc.next = self.sack_n_now.val();
        }
        for i in 0..4 {
            self.sack_blk[i].next = self.sack_val_now.val().get_bits::<64>(192 - 64 * i);
        }
        // The count is 0..4: block 1 needs 2 or more (bit 1 or bit 2),
        // block 2 needs 3 or 4, block 3 needs 4 (bit 2).
        if !self.sack_cnt_desc.val().any() {
            self.sack_blk[0].next = 0_u64.to_bits();
        }
        if !(self.sack_cnt_desc.val().get_bit(1) | self.sack_cnt_desc.val().get_bit(2)) {
            self.sack_blk[1].next = 0_u64.to_bits();
        }
        if !((self.sack_cnt_desc.val().get_bit(1) & self.sack_cnt_desc.val().get_bit(0)) | self.sack_cnt_desc.val().get_bit(2)) {
            self.sack_blk[2].next = 0_u64.to_bits();
        }
        if !self.sack_cnt_desc.val().get_bit(2) {
            self.sack_blk[3].next = 0_u64.to_bits();
        }
        if self.d_valid.q.val() && self.desc.ready.val() {
            self.d_valid.d.next = false;
        }
        if self.front.fin_now.val() {
            self.d_valid.d.next = true;
            self.rsel.d.next = self.wsel.q.val();
            self.wsel.d.next = !self.wsel.q.val();
            self.d_reason.d.next = self.verdict.reason.val();
            self.d_kind.d.next = self.verdict.kind.val();
            self.d_src_mac.d.next = self.verdict.src_mac.val();
            self.d_src_ip.d.next = self.verdict.src_ip.val();
            self.d_total_len.d.next = self.verdict.total_len.val();
            self.d_hdr_len.d.next = self.verdict.hdr_len.val();
            self.d_sport.d.next = self.tcp_a.q.val().get_bits::<16>(48);
            self.d_dport.d.next = self.tcp_a.q.val().get_bits::<16>(32);
            self.d_seq.d.next = self.tcp_a.q.val().get_bits::<32>(0);
            self.d_ack.d.next = self.tcp_b.q.val().get_bits::<32>(32);
            self.d_flags.d.next = self.tcp_b.q.val().get_bits::<8>(16);
            self.d_window.d.next = self.tcp_b.q.val().get_bits::<16>(0);
            self.d_icmp_csum.d.next = self.tcp_a.q.val().get_bits::<16>(32);
            self.d_poff.d.next = self.verdict.payload_off.val();
            self.d_plen.d.next = self.verdict.payload_len.val();
            self.d_mss.d.next = 0_u16.to_bits();
            self.d_ws_ok.d.next = false;
            self.d_sack_ok.d.next = false;
            self.d_ts_ok.d.next = false;
            if self.verdict.is_tcp.val() {
                self.d_ts_ok.d.next = self.ts_seen_now.val();
                self.d_sack_ok.d.next = self.sackp_seen_now.val();
                self.d_mss.d.next = self.mss_now.val();
                self.d_ws_ok.d.next = self.ws_seen_now.val();
            }
            self.d_ws.d.next = self.ws_now.val();
            self.d_ts_val.d.next = self.ts_val_now.val();
            self.d_sack_count.d.next = self.sack_cnt_desc.val();
            self.d_sack_blocks.d.next = (bit_cast::<256, 64>(self.sack_blk[0].val()) << 192)
                | (bit_cast::<256, 64>(self.sack_blk[1].val()) << 128)
                | (bit_cast::<256, 64>(self.sack_blk[2].val()) << 64)
                | bit_cast::<256, 64>(self.sack_blk[3].val());
        }
        self.desc.valid.next = self.d_valid.q.val();
        self.desc.reason.next = self.d_reason.q.val();
        self.desc.kind.next = self.d_kind.q.val();
        self.desc.src_mac.next = self.d_src_mac.q.val();
        self.desc.src_ip.next = self.d_src_ip.q.val();
        self.desc_ip_total_len.next = self.d_total_len.q.val();
        self.desc_ip_hdr_len.next = self.d_hdr_len.q.val().get_bits::<6>(0);
        self.desc.src_port.next = self.d_sport.q.val();
        self.desc.dst_port.next = self.d_dport.q.val();
        self.desc.seq.next = self.d_seq.q.val();
        self.desc.ack.next = self.d_ack.q.val();
        self.desc.flags.next = self.d_flags.q.val();
        self.desc.window.next = self.d_window.q.val();
        self.desc.mss.next = self.d_mss.q.val();
        self.desc.ws_ok.next = self.d_ws_ok.q.val();
        self.desc.ws.next = self.d_ws.q.val();
        self.desc.sack_ok.next = self.d_sack_ok.q.val();
        self.desc.ts_ok.next = self.d_ts_ok.q.val();
        self.desc.tsval.next = self.d_ts_val.q.val().get_bits::<32>(32);
        self.desc.tsecr.next = self.d_ts_val.q.val().get_bits::<32>(0);
        self.desc.sack_count.next = self.d_sack_count.q.val();
        self.desc.sack_blocks.next = self.d_sack_blocks.q.val();
        self.desc.payload_off.next = self.d_poff.q.val().get_bits::<11>(0);
        self.desc.payload_len.next = self.d_plen.q.val().get_bits::<11>(0);
        self.desc.icmp_csum.next = self.d_icmp_csum.q.val();
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
