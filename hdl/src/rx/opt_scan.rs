//! TCP option scanner of the RX parser: one 8-byte word of the frame per call,
//! combinational. It follows the option list kind by kind (EOL ends it, NOP is
//! one byte, every other option is kind, length, data) through up to eight
//! option starts in the word, and reports the first MSS option (kind 2,
//! length 4), the first Window Scale option (kind 3, length 3, RFC 7323
//! §2.2) and any SACK-permitted option (kind 4, length 2, RFC 2018 §2) in it.
//! Lengths and values that cross the word end come from `look`,
//! the first three bytes of the next word; the parser keeps the first of each
//! over the words.
//!
//! The Timestamps option (kind 8, length 10, RFC 7323 §3.2) carries 8 value
//! bytes, which can span this word and the next two: the scanner reports
//! where the first one's value starts (`ts_at`), and for that option, found
//! in this word or an earlier one (`ts_seen`/`ts_seen_at`), which of its
//! value bytes lie in this word (`ts_bytes` under `ts_mask`, TSval in bits
//! 63:32, TSecr in 31:0). The parser keeps the bytes over the words.
//!
//! The SACK option (kind 5, length 2 + 8n, n = 1..4, RFC 2018 §3) works the
//! same way over up to five words: the first one of a well-formed length
//! wholly inside the header counts (`sack_found`/`sack_at`/`sack_n`, then
//! `sack_seen*` from the parser), and its value bytes in this word come in
//! `sack_bytes` under `sack_mask` (block 0's left edge in bits 255:224, the
//! layout of the transmit request's `sack_blocks`). A kind-5 option of
//! another length is skipped like an MSS of the wrong length; the mask may
//! cover bytes past the 8n, so the parser keeps only `sack_n` blocks.
//!
//! The parser keeps `pos`/`done` in registers between words; the first option
//! starts at `pos = 14 + ihl*4 + 20`. The scan stops at the header end
//! (`hdr_end = 14 + ihl*4 + doff*4`), at EOL and at a length below 2; an
//! MSS, Window Scale, Timestamps or SACK option running past the header end
//! is ignored.
//!
//! Depth: everything about "an option starts at lane i" (where the next one
//! starts, whether it stops the scan, whether it is the MSS or the window
//! scale) is computed for
//! all eight lanes in parallel from the bytes alone; only a one-hot "next
//! option start" vector then ripples through the lanes, one 2:1 mux per lane.
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct RxOptScan {
    /// Scan this word at all (otherwise `next_* = pos/done`).
    pub enable: Signal<In, Bit>,
    /// Frame offset of the next option's kind byte, and whether the list ended.
    pub pos: Signal<In, Bits<16>>,
    pub done: Signal<In, Bit>,
    /// Frame offset of byte 0 of `word`.
    pub word_base: Signal<In, Bits<16>>,
    pub hdr_end: Signal<In, Bits<16>>,
    /// The word, network order (byte 0 in bits 63:56).
    pub word: Signal<In, Bits<64>>,
    /// Bytes 0..2 of the following word (byte 0 in bits 23:16).
    pub look: Signal<In, Bits<24>>,
    pub next_pos: Signal<Out, Bits<16>>,
    pub next_done: Signal<Out, Bit>,
    pub mss_found: Signal<Out, Bit>,
    pub mss: Signal<Out, Bits<16>>,
    /// A Window Scale option in this word, and its shift capped at 14 (RFC 7323 §2.3).
    pub ws_found: Signal<Out, Bit>,
    pub ws: Signal<Out, Bits<4>>,
    /// A SACK-permitted option in this word.
    pub sackp_found: Signal<Out, Bit>,
    /// Timestamps: the first option was found in an earlier word, its value at this frame offset.
    pub ts_seen: Signal<In, Bit>,
    pub ts_seen_at: Signal<In, Bits<16>>,
    /// Timestamps: the first option starts in this word (and not before), its value at `ts_at`.
    pub ts_found: Signal<Out, Bit>,
    pub ts_at: Signal<Out, Bits<16>>,
    /// The first option's value bytes that lie in this word, in value order
    /// (byte 0, TSval's high byte, in bits 63:56), and which they are.
    pub ts_bytes: Signal<Out, Bits<64>>,
    pub ts_mask: Signal<Out, Bits<64>>,
    /// SACK: the first well-formed option was found in an earlier word, its
    /// blocks at this frame offset, and how many.
    pub sack_seen: Signal<In, Bit>,
    pub sack_seen_at: Signal<In, Bits<16>>,
    pub sack_seen_n: Signal<In, Bits<3>>,
    /// SACK: the first well-formed option starts in this word (and not
    /// before), its blocks at `sack_at`, `sack_n` of them (1-4); `sack_n` is
    /// also the count of the one seen before.
    pub sack_found: Signal<Out, Bit>,
    pub sack_at: Signal<Out, Bits<16>>,
    pub sack_n: Signal<Out, Bits<3>>,
    /// The option's value bytes that lie in this word, in value order (byte
    /// 0, block 0's left edge's high byte, in bits 255:248), and which they
    /// are (`sack_bytes` is meaningful only under the mask). Bytes past the
    /// option's 8n may be marked too: the parser keeps only the first
    /// `sack_n` blocks.
    pub sack_bytes: Signal<Out, Bits<256>>,
    pub sack_mask: Signal<Out, Bits<256>>,
    ws_max: Constant<Bits<4>>,
    /// Byte number within a word, 0..7.
    lane_no: [Constant<Bits<16>>; 8],
    /// Window bytes zero-extended: 0..7 the word, 8..10 the look-ahead.
    wb: [Signal<Local, Bits<16>>; 11],
    /// Where `pos` lies relative to the word.
    rel: Signal<Local, Bits<16>>,
    /// Per lane, if an option starts there: its frame offset, whether it
    /// ends the scan, whether it is the MSS option, the next option's start
    /// relative to the word, and that start as a one-hot lane (0 if beyond
    /// the word or the scan ends).
    lane_at: [Signal<Local, Bits<16>>; 8],
    lane_mss_end: [Signal<Local, Bits<16>>; 8],
    stop: [Signal<Local, Bit>; 8],
    is_mss: [Signal<Local, Bit>; 8],
    lane_ws_end: [Signal<Local, Bits<16>>; 8],
    is_ws: [Signal<Local, Bit>; 8],
    lane_sackp_end: [Signal<Local, Bits<16>>; 8],
    is_sackp: [Signal<Local, Bit>; 8],
    lane_ts_end: [Signal<Local, Bits<16>>; 8],
    is_ts: [Signal<Local, Bit>; 8],
    nxt_rel: [Signal<Local, Bits<16>>; 8],
    /// (Lane 7's successor always lies beyond the word.)
    nxt_lane: [Signal<Local, Bits<8>>; 7],
    /// One-hot option starts not yet passed, entering lane i.
    starts: [Signal<Local, Bits<8>>; 8],
    /// Results accumulated over the lanes where an option starts.
    at: [Signal<Local, Bits<16>>; 9],
    end: [Signal<Local, Bit>; 9],
    hit: [Signal<Local, Bit>; 9],
    val: [Signal<Local, Bits<16>>; 9],
    ws_hit: [Signal<Local, Bit>; 9],
    ws_val: [Signal<Local, Bits<8>>; 9],
    sackp_hit: [Signal<Local, Bit>; 9],
    ts_hit: [Signal<Local, Bit>; 9],
    ts_pos: [Signal<Local, Bits<16>>; 9],
    /// Timestamps capture: the value's frame offset, and how far it lies
    /// before (`ts_before`) or after (`ts_after`) the word's start, in bits.
    ts_val_at: Signal<Local, Bits<16>>,
    ts_before: Signal<Local, Bits<16>>,
    ts_after: Signal<Local, Bits<16>>,
    ts_before_bits: Signal<Local, Bits<16>>,
    ts_after_bits: Signal<Local, Bits<16>>,
    all_ones: Constant<Bits<64>>,
    /// SACK (RFC 2018 §3), per lane: where an option starting there would
    /// end, whether its length is 2 + 8n for n = 1..4, whether it is one.
    lane_sack_end: [Signal<Local, Bits<16>>; 8],
    sack_len_ok: [Signal<Local, Bit>; 8],
    is_sack: [Signal<Local, Bit>; 8],
    sack_hit: [Signal<Local, Bit>; 9],
    sack_pos: [Signal<Local, Bits<16>>; 9],
    sack_cnt: [Signal<Local, Bits<3>>; 9],
    /// SACK capture: words start at multiples of 8, so value byte k lies in
    /// lane (sack_at + k) mod 8 of its word; the word rotated left by
    /// sack_at mod 8 bytes (`sack_rot`) and repeated four times puts under
    /// each value byte the lane it can come from, and `sack_mask` (all ones
    /// in the top 64 bits of 256, `sack_top`, shifted) picks the bytes in
    /// this word.
    sack_rot_bits: Signal<Local, Bits<16>>,
    sack_rot_inv: Signal<Local, Bits<16>>,
    sack_rot: Signal<Local, Bits<64>>,
    sack_top: Constant<Bits<256>>,
    sack_none: Constant<Bits<256>>,
    sack_before: Signal<Local, Bits<16>>,
    sack_after: Signal<Local, Bits<16>>,
    sack_before_bits: Signal<Local, Bits<16>>,
    sack_after_bits: Signal<Local, Bits<16>>,
    /// Entering lane 7 only bit 7 of `starts` matters; reduced so that
    /// Verilator's UNUSED check (which skips names matching *unused*) sees the
    /// other bits read. Synthesis removes it.
    spare_unused: Signal<Local, Bit>,
}

impl Default for RxOptScan {
    fn default() -> Self {
        Self {
            enable: Default::default(),
            pos: Default::default(),
            done: Default::default(),
            word_base: Default::default(),
            hdr_end: Default::default(),
            word: Default::default(),
            look: Default::default(),
            next_pos: Default::default(),
            next_done: Default::default(),
            mss_found: Default::default(),
            mss: Default::default(),
            ws_found: Default::default(),
            ws: Default::default(),
            sackp_found: Default::default(),
            ts_seen: Default::default(),
            ts_seen_at: Default::default(),
            ts_found: Default::default(),
            ts_at: Default::default(),
            ts_bytes: Default::default(),
            ts_mask: Default::default(),
            sack_seen: Default::default(),
            sack_seen_at: Default::default(),
            sack_seen_n: Default::default(),
            sack_found: Default::default(),
            sack_at: Default::default(),
            sack_n: Default::default(),
            sack_bytes: Default::default(),
            sack_mask: Default::default(),
            ws_max: Constant::new(Bits::<4>::from(u64::from(holdback_regmap::MAX_WSCALE))),
            lane_no: std::array::from_fn(|j| Constant::new(bits(j as u64))),
            wb: Default::default(),
            rel: Default::default(),
            lane_at: Default::default(),
            lane_mss_end: Default::default(),
            stop: Default::default(),
            is_mss: Default::default(),
            lane_ws_end: Default::default(),
            is_ws: Default::default(),
            lane_sackp_end: Default::default(),
            is_sackp: Default::default(),
            lane_ts_end: Default::default(),
            is_ts: Default::default(),
            nxt_rel: Default::default(),
            nxt_lane: Default::default(),
            starts: Default::default(),
            at: Default::default(),
            end: Default::default(),
            hit: Default::default(),
            val: Default::default(),
            ws_hit: Default::default(),
            ws_val: Default::default(),
            sackp_hit: Default::default(),
            ts_hit: Default::default(),
            ts_pos: Default::default(),
            ts_val_at: Default::default(),
            ts_before: Default::default(),
            ts_after: Default::default(),
            ts_before_bits: Default::default(),
            ts_after_bits: Default::default(),
            all_ones: Constant::new(Bits::<64>::from(u64::MAX)),
            lane_sack_end: Default::default(),
            sack_len_ok: Default::default(),
            is_sack: Default::default(),
            sack_hit: Default::default(),
            sack_pos: Default::default(),
            sack_cnt: Default::default(),
            sack_rot_bits: Default::default(),
            sack_rot_inv: Default::default(),
            sack_rot: Default::default(),
            sack_top: Constant::new({
                let mut t = Bits::<256>::default();
                t.set_bits::<64>(192, Bits::<64>::from(u64::MAX));
                t
            }),
            sack_none: Constant::new(Bits::<256>::default()),
            sack_before: Default::default(),
            sack_after: Default::default(),
            sack_before_bits: Default::default(),
            sack_after_bits: Default::default(),
            spare_unused: Default::default(),
        }
    }
}

impl Logic for RxOptScan {
    #[hdl_gen]
    fn update(&mut self) {
        // Byte j of the word sits in bits 63-8j..56-8j; a 16-bit slice starting
        // at 56-8j holds it in its low half.
        self.wb[0].next = self.word.val().get_bits::<16>(48) >> 8;
        for j in 1..8 {
            self.wb[j].next = self.word.val().get_bits::<16>(56 - 8 * j) & 0x00FF_u16.to_bits();
        }
        self.wb[8].next = self.look.val().get_bits::<16>(8) >> 8;
        self.wb[9].next = self.look.val().get_bits::<16>(8) & 0x00FF_u16.to_bits();
        self.wb[10].next = self.look.val().get_bits::<16>(0) & 0x00FF_u16.to_bits();

        // Every lane as a possible option start, in parallel.
        for i in 0..8 {
            self.lane_at[i].next = self.word_base.val() + self.lane_no[i].val();
            self.lane_mss_end[i].next = self.lane_at[i].val() + 4_u16.to_bits();
            // The first MSS option counts (as wire::tcp_options_mss).
            self.is_mss[i].next = (self.lane_at[i].val() < self.hdr_end.val())
                && (self.wb[i].val() == 2_u16.to_bits())
                && (self.wb[i + 1].val() == 4_u16.to_bits())
                && (self.lane_mss_end[i].val() <= self.hdr_end.val());
            // The first Window Scale option counts (as wire::tcp_options_wscale).
            self.lane_ws_end[i].next = self.lane_at[i].val() + 3_u16.to_bits();
            self.is_ws[i].next = (self.lane_at[i].val() < self.hdr_end.val())
                && (self.wb[i].val() == 3_u16.to_bits())
                && (self.wb[i + 1].val() == 3_u16.to_bits())
                && (self.lane_ws_end[i].val() <= self.hdr_end.val());
            // SACK-permitted (RFC 2018 §2): kind 4, length 2, wholly inside the header.
            self.lane_sackp_end[i].next = self.lane_at[i].val() + 2_u16.to_bits();
            self.is_sackp[i].next = (self.lane_at[i].val() < self.hdr_end.val())
                && (self.wb[i].val() == 4_u16.to_bits())
                && (self.wb[i + 1].val() == 2_u16.to_bits())
                && (self.lane_sackp_end[i].val() <= self.hdr_end.val());
            // Timestamps (RFC 7323 §3.2): kind 8, length 10, wholly inside the header.
            self.lane_ts_end[i].next = self.lane_at[i].val() + 10_u16.to_bits();
            self.is_ts[i].next = (self.lane_at[i].val() < self.hdr_end.val())
                && (self.wb[i].val() == 8_u16.to_bits())
                && (self.wb[i + 1].val() == 10_u16.to_bits())
                && (self.lane_ts_end[i].val() <= self.hdr_end.val());
            // SACK (RFC 2018 §3): kind 5, length 2 + 8n with n = 1..4 (10,
            // 18, 26, 34: n is the length's bits 5:3), wholly inside the
            // header. Other lengths are skipped like a wrong-length MSS.
            self.lane_sack_end[i].next = self.lane_at[i].val() + self.wb[i + 1].val();
            self.sack_len_ok[i].next = (self.wb[i + 1].val() == 10_u16.to_bits())
                || (self.wb[i + 1].val() == 18_u16.to_bits())
                || (self.wb[i + 1].val() == 26_u16.to_bits())
                || (self.wb[i + 1].val() == 34_u16.to_bits());
            self.is_sack[i].next = (self.lane_at[i].val() < self.hdr_end.val())
                && (self.wb[i].val() == 5_u16.to_bits())
                && self.sack_len_ok[i].val()
                && (self.lane_sack_end[i].val() <= self.hdr_end.val());
            // Past the header, EOL, or a length below 2 (malformed: stop
            // rather than loop).
            self.stop[i].next = (self.lane_at[i].val() >= self.hdr_end.val())
                || (self.wb[i].val() == 0_u16.to_bits())
                || ((self.wb[i].val() != 1_u16.to_bits()) && (self.wb[i + 1].val() < 2_u16.to_bits()));
            self.nxt_rel[i].next = self.lane_no[i].val() + self.wb[i + 1].val();
            if self.wb[i].val() == 1_u16.to_bits() {
                // No-operation: one byte.
                self.nxt_rel[i].next = self.lane_no[i].val() + 1_u16.to_bits();
            }
        }
        for i in 0..7 {
            self.nxt_lane[i].next = 0_u8.to_bits();
            if !self.stop[i].val() && (self.nxt_rel[i].val() < 8_u16.to_bits()) {
                self.nxt_lane[i].next = 1_u8.to_bits() << self.nxt_rel[i].val().get_bits::<3>(0);
            }
        }

        // Where the scan enters the word.
        self.rel.next = self.pos.val() - self.word_base.val();
        self.starts[0].next = 0_u8.to_bits();
        if self.enable.val() && !self.done.val() && (self.rel.val() < 8_u16.to_bits()) {
            self.starts[0].next = 1_u8.to_bits() << self.rel.val().get_bits::<3>(0);
        }
        // The ripple: an option starting at lane i replaces the pending starts
        // by its successor (starts only move forward, so one is pending).
        for i in 0..7 {
            self.starts[i + 1].next = self.starts[i].val();
            if self.starts[i].val().get_bit(i) {
                self.starts[i + 1].next = self.nxt_lane[i].val();
            }
        }
        self.at[0].next = self.pos.val();
        self.end[0].next = self.done.val();
        self.hit[0].next = false;
        self.val[0].next = 0_u16.to_bits();
        self.ws_hit[0].next = false;
        self.ws_val[0].next = 0_u8.to_bits();
        self.sackp_hit[0].next = false;
        // A Timestamps option already found in an earlier word is the first.
        self.ts_hit[0].next = self.ts_seen.val();
        self.ts_pos[0].next = self.ts_seen_at.val();
        self.sack_hit[0].next = self.sack_seen.val();
        self.sack_pos[0].next = self.sack_seen_at.val();
        self.sack_cnt[0].next = self.sack_seen_n.val();
        for i in 0..8 {
            self.at[i + 1].next = self.at[i].val();
            self.end[i + 1].next = self.end[i].val();
            self.hit[i + 1].next = self.hit[i].val();
            self.val[i + 1].next = self.val[i].val();
            self.ws_hit[i + 1].next = self.ws_hit[i].val();
            self.ws_val[i + 1].next = self.ws_val[i].val();
            self.sackp_hit[i + 1].next = self.sackp_hit[i].val();
            self.ts_hit[i + 1].next = self.ts_hit[i].val();
            self.ts_pos[i + 1].next = self.ts_pos[i].val();
            self.sack_hit[i + 1].next = self.sack_hit[i].val();
            self.sack_pos[i + 1].next = self.sack_pos[i].val();
            self.sack_cnt[i + 1].next = self.sack_cnt[i].val();
            if self.starts[i].val().get_bit(i) {
                self.at[i + 1].next = self.word_base.val() + self.nxt_rel[i].val();
                if self.stop[i].val() {
                    self.end[i + 1].next = true;
                }
                if self.is_mss[i].val() & !self.hit[i].val() {
                    self.hit[i + 1].next = true;
                    self.val[i + 1].next = (self.wb[i + 2].val() << 8) | self.wb[i + 3].val();
                }
                if self.is_sackp[i].val() {
                    self.sackp_hit[i + 1].next = true;
                }
                if self.is_ws[i].val() & !self.ws_hit[i].val() {
                    self.ws_hit[i + 1].next = true;
                    self.ws_val[i + 1].next = self.wb[i + 2].val().get_bits::<8>(0);
                }
                if self.is_ts[i].val() & !self.ts_hit[i].val() {
                    self.ts_hit[i + 1].next = true;
                    self.ts_pos[i + 1].next = self.lane_at[i].val() + 2_u16.to_bits();
                }
                if self.is_sack[i].val() & !self.sack_hit[i].val() {
                    self.sack_hit[i + 1].next = true;
                    self.sack_pos[i + 1].next = self.lane_at[i].val() + 2_u16.to_bits();
                    self.sack_cnt[i + 1].next = self.wb[i + 1].val().get_bits::<3>(3);
                }
            }
        }
        self.next_pos.next = self.at[8].val();
        self.next_done.next = self.end[8].val();
        self.mss_found.next = self.hit[8].val();
        self.mss.next = self.val[8].val();
        self.ws_found.next = self.ws_hit[8].val();
        self.ws.next = self.ws_val[8].val().get_bits::<4>(0);
        self.sackp_found.next = self.sackp_hit[8].val();
        if self.ws_val[8].val() > 14_u8.to_bits() {
            self.ws.next = self.ws_max.val();
        }
        self.ts_found.next = self.ts_hit[8].val() & !self.ts_seen.val();
        self.ts_at.next = self.ts_pos[8].val();
        // The value's bytes in this word: value byte k is at frame offset
        // ts_at + k, lane j at word_base + j. A value that began d bytes
        // before the word starts (d < 8) has bytes d.. here, from lane 0; one
        // that begins d bytes into the word (0 < d < 8) has bytes 0..8-d,
        // from lane d. Offsets are 16-bit, so "before" and "after" are the
        // two wrapping differences, at most one of them below 8.
        self.ts_val_at.next = self.ts_pos[8].val();
        self.ts_before.next = self.word_base.val() - self.ts_val_at.val();
        self.ts_after.next = self.ts_val_at.val() - self.word_base.val();
        self.ts_before_bits.next = self.ts_before.val() << 3;
        self.ts_after_bits.next = self.ts_after.val() << 3;
        self.ts_bytes.next = 0_u64.to_bits();
        self.ts_mask.next = 0_u64.to_bits();
        if self.enable.val() & self.ts_hit[8].val() {
            if self.ts_before.val() < 8_u16.to_bits() {
                self.ts_bytes.next = self.word.val() >> self.ts_before_bits.val();
                self.ts_mask.next = self.all_ones.val() >> self.ts_before_bits.val();
            } else if self.ts_after.val() < 8_u16.to_bits() {
                self.ts_bytes.next = self.word.val() << self.ts_after_bits.val();
                self.ts_mask.next = self.all_ones.val() << self.ts_after_bits.val();
            }
        }
        // SACK: as the timestamps, the value's frame offset d bytes before
        // the word's start (d < 32: bytes d.. here, from lane 0) or after it
        // (d < 8: bytes 0..8-d, from lane d).
        self.sack_found.next = self.sack_hit[8].val() & !self.sack_seen.val();
        self.sack_at.next = self.sack_pos[8].val();
        self.sack_n.next = self.sack_cnt[8].val();
        self.sack_rot_bits.next = (self.sack_pos[8].val() & 7_u16.to_bits()) << 3;
        self.sack_rot_inv.next = 64_u16.to_bits() - self.sack_rot_bits.val();
        // (Rotating by 0 would shift by the full width; that is the word.)
        self.sack_rot.next = self.word.val();
        if self.sack_rot_bits.val() != 0_u16.to_bits() {
            self.sack_rot.next = (self.word.val() << self.sack_rot_bits.val()) | (self.word.val() >> self.sack_rot_inv.val());
        }
        self.sack_before.next = self.word_base.val() - self.sack_pos[8].val();
        self.sack_after.next = self.sack_pos[8].val() - self.word_base.val();
        self.sack_before_bits.next = self.sack_before.val() << 3;
        self.sack_after_bits.next = self.sack_after.val() << 3;
        self.sack_bytes.next = (bit_cast::<256, 64>(self.sack_rot.val()) << 192)
            | (bit_cast::<256, 64>(self.sack_rot.val()) << 128)
            | (bit_cast::<256, 64>(self.sack_rot.val()) << 64)
            | bit_cast::<256, 64>(self.sack_rot.val());
        self.sack_mask.next = self.sack_none.val();
        if self.enable.val() & self.sack_hit[8].val() {
            if self.sack_before.val() < 32_u16.to_bits() {
                self.sack_mask.next = self.sack_top.val() >> self.sack_before_bits.val();
            } else if self.sack_after.val() < 8_u16.to_bits() {
                self.sack_mask.next = self.sack_top.val() << self.sack_after_bits.val();
            }
        }
        self.spare_unused.next = self.starts[7].val().xor();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scans `opts` (placed at frame offset 54, as with ihl 5) word by word with
    /// the rust-hdl simulator and returns the MSS found.
    fn scan(opts: &[u8]) -> Option<u16> {
        scan_both(opts).0
    }

    /// The first MSS and the first window-scale shift, each kept once found
    /// (as the parser keeps them over the words).
    fn scan_both(opts: &[u8]) -> (Option<u16>, Option<u8>) {
        let (mss, ws, _) = scan_all(opts);
        (mss, ws)
    }

    /// Runs the scanner over `opts` (after a 54-byte header) word by word as
    /// the parser feeds it; `before` sets the block's extra inputs of each
    /// word, `after` reads its outputs.
    fn scan_words(opts: &[u8], mut before: impl FnMut(&mut RxOptScan), mut after: impl FnMut(&RxOptScan)) {
        let mut frame = vec![0u8; 54];
        frame.extend_from_slice(opts);
        frame.resize(frame.len().div_ceil(8) * 8 + 8, 0xEE);
        let mut uut = RxOptScan::default();
        uut.connect_all();
        let (mut pos, mut done) = (54u64, false);
        for w in 0..frame.len() / 8 - 1 {
            let word = u64::from_be_bytes(frame[8 * w..8 * w + 8].try_into().expect("8 bytes"));
            let look = u64::from_be_bytes(frame[8 * w + 8..8 * w + 16].try_into().expect("8 bytes")) >> 40;
            uut.enable.next = true;
            uut.pos.next = pos.into();
            uut.done.next = done;
            uut.word_base.next = (8 * w as u64).into();
            uut.hdr_end.next = (54 + opts.len() as u64).into();
            uut.word.next = word.into();
            uut.look.next = look.into();
            before(&mut uut);
            assert!(simulate(&mut uut, 100));
            pos = uut.next_pos.val().index() as u64;
            done = uut.next_done.val();
            after(&uut);
        }
    }

    /// The first MSS, the first window-scale shift, and whether a SACK-permitted option was seen.
    fn scan_all(opts: &[u8]) -> (Option<u16>, Option<u8>, bool) {
        let (mut mss, mut ws, mut sackp) = (None, None, false);
        scan_words(opts, |_| {}, |uut| {
            if uut.mss_found.val() && mss.is_none() {
                mss = Some(uut.mss.val().index() as u16);
            }
            if uut.ws_found.val() && ws.is_none() {
                ws = Some(uut.ws.val().index() as u8);
            }
            sackp |= uut.sackp_found.val();
        });
        (mss, ws, sackp)
    }

    /// The first Timestamps option's (TSval, TSecr), its value bytes kept over
    /// the words as the parser keeps them.
    fn scan_ts(opts: &[u8]) -> Option<(u32, u32)> {
        // The parser's memory of the option between words: whether it was
        // seen, and where.
        let seen_at = std::cell::Cell::new(None::<u64>);
        let (mut value, mut got) = (0u64, 0u64);
        scan_words(
            opts,
            |uut| {
                uut.ts_seen.next = seen_at.get().is_some();
                uut.ts_seen_at.next = seen_at.get().unwrap_or(0).into();
            },
            |uut| {
                if uut.ts_found.val() {
                    assert!(seen_at.get().is_none(), "found twice");
                    seen_at.set(Some(uut.ts_at.val().index() as u64));
                }
                let mask = uut.ts_mask.val().to_u64();
                value = (value & !mask) | (uut.ts_bytes.val().to_u64() & mask);
                got |= mask;
            },
        );
        seen_at.get().map(|_| {
            assert_eq!(got, u64::MAX, "every value byte captured");
            ((value >> 32) as u32, value as u32)
        })
    }

    /// The first well-formed SACK option's blocks (left, right), its value
    /// bytes kept over the words as the parser keeps them.
    fn scan_sack(opts: &[u8]) -> Vec<(u32, u32)> {
        let seen = std::cell::Cell::new(None::<(u64, u64)>);
        let (mut value, mut got) = (Bits::<256>::default(), Bits::<256>::default());
        scan_words(
            opts,
            |uut| {
                uut.sack_seen.next = seen.get().is_some();
                uut.sack_seen_at.next = seen.get().map_or(0, |s| s.0).into();
                uut.sack_seen_n.next = seen.get().map_or(0, |s| s.1).into();
            },
            |uut| {
                if uut.sack_found.val() {
                    assert!(seen.get().is_none(), "found twice");
                    seen.set(Some((uut.sack_at.val().index() as u64, uut.sack_n.val().index() as u64)));
                }
                let mask = uut.sack_mask.val();
                value = (value & !mask) | (uut.sack_bytes.val() & mask);
                got = got | mask;
            },
        );
        let Some((_, n)) = seen.get() else { return vec![] };
        (0..n as usize)
            .map(|i| {
                let blk = |at: usize| {
                    assert!(got.get_bits::<32>(at) == Bits::<32>::from(u32::MAX as u64), "every value byte captured");
                    value.get_bits::<32>(at).index() as u32
                };
                (blk(224 - 64 * i), blk(192 - 64 * i))
            })
            .collect()
    }

    #[test]
    fn rx_opt_scan_finds_sack_blocks_at_every_lane() {
        let blocks = |n: usize| (0..n as u32).map(|i| (0x1020_3040 + i * 0x0101_0101, 0xa0b0_c0d0 ^ i)).collect::<Vec<_>>();
        let opt = |n: usize| {
            let mut o = vec![5u8, 2 + 8 * n as u8];
            for (l, r) in blocks(n) {
                o.extend_from_slice(&l.to_be_bytes());
                o.extend_from_slice(&r.to_be_bytes());
            }
            o
        };
        // Every lane of a word as the option's start, 1-4 blocks: up to 5 words.
        for n in 1..=4 {
            for pad in 0..8 {
                let mut o = vec![1u8; pad];
                o.extend(opt(n));
                o.resize(o.len().div_ceil(4) * 4, 0);
                assert_eq!(scan_sack(&o), blocks(n), "{n} blocks after {pad} NOPs");
            }
        }
        // Linux: NOP, NOP, timestamps, NOP, NOP, SACK.
        let mut linux = vec![1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 1];
        linux.extend(opt(3));
        assert_eq!(scan_sack(&linux), blocks(3));
        // The first of two counts; a kind 5 of another length is skipped.
        assert_eq!(scan_sack(&[opt(2), opt(1)].concat()), blocks(2));
        assert_eq!(scan_sack(&[opt(1), opt(3), vec![0, 0]].concat()), blocks(1));
        assert_eq!(scan_sack(&[vec![5, 12], vec![9; 10], opt(1)].concat()), blocks(1));
        for len in [2u8, 9, 11, 42] {
            let mut o = vec![5, len];
            o.resize(40, 0x44);
            assert_eq!(scan_sack(&o), vec![], "length {len}");
        }
        assert_eq!(scan_sack(&[vec![0, 0], opt(1), vec![0, 0]].concat()), vec![], "after EOL");
        assert_eq!(scan_sack(&opt(2)[..16]), vec![], "past the header end");
    }

    #[test]
    fn rx_opt_scan_finds_timestamps_where_linux_and_others_put_them() {
        // Linux's SYN: MSS, SACK-permitted, timestamps, NOP, window scale 7.
        let linux = [2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 1, 3, 3, 7];
        assert_eq!(scan_ts(&linux), Some((0x1122_3344, 0x5566_7788)));
        // Linux's data segments: NOP, NOP, timestamps (RFC 7323 Appendix A).
        assert_eq!(scan_ts(&[1, 1, 8, 10, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1]), Some((0xdead_beef, 1)));
        // Every lane of a word as the option's start: its value in one, two or three words.
        for pad in 0..16 {
            let mut opts = vec![1u8; pad];
            opts.extend_from_slice(&[8, 10, 1, 2, 3, 4, 0xf5, 0xf6, 0xf7, 0xf8]);
            opts.resize(opts.len().div_ceil(4) * 4, 0);
            assert_eq!(scan_ts(&opts), Some((0x0102_0304, 0xf5f6_f7f8)), "after {pad} NOPs");
        }
        // The first of two counts.
        let two = [8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 8, 10, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 0];
        assert_eq!(scan_ts(&two), Some((1, 2)));
        assert_eq!(scan_ts(&[0, 0, 0, 0, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0]), None, "after EOL");
        assert_eq!(scan_ts(&[8, 9, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]), None, "length 9 is not timestamps");
        assert_eq!(scan_ts(&[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0]), None, "value past the header end");
        assert_eq!(scan_ts(&[2, 4, 0x05, 0xb4]), None);
    }

    #[test]
    fn rx_opt_scan_finds_sack_permitted_where_linux_and_others_put_it() {
        // Linux: MSS, SACK-permitted, timestamps, NOP, window scale 7.
        let linux = [2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 1, 2, 3, 0, 0, 0, 0, 1, 3, 3, 7];
        assert_eq!(scan_all(&linux), (Some(1460), Some(7), true));
        // Every lane of a word as its start, its length crossing into the look-ahead.
        for pad in 0..8 {
            let mut opts = vec![1u8; pad];
            opts.extend_from_slice(&[4, 2]);
            opts.resize(opts.len().div_ceil(4) * 4, 0);
            assert!(scan_all(&opts).2, "after {pad} NOPs");
        }
        assert!(!scan_all(&[2, 4, 0x05, 0xb4]).2, "none there");
        assert!(!scan_all(&[0, 0, 0, 0, 4, 2, 0, 0]).2, "after EOL");
        assert!(!scan_all(&[4, 3, 0, 0]).2, "length 3 is not SACK-permitted");
        assert!(!scan_all(&[1, 1, 1, 4]).2, "past the header end");
        // A SACK option's kind 5 is not SACK-permitted.
        assert!(!scan_all(&[1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2]).2);
    }

    #[test]
    fn rx_opt_scan_finds_window_scale_where_linux_and_others_put_it() {
        // Linux: MSS, SACK-permitted, timestamps, NOP, window scale 7.
        let linux = [2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 1, 2, 3, 0, 0, 0, 0, 1, 3, 3, 7];
        assert_eq!(scan_both(&linux), (Some(1460), Some(7)));
        // Window scale first, MSS after it; the first of two counts.
        assert_eq!(scan_both(&[3, 3, 14, 2, 4, 0x12, 0x34, 3, 3, 2, 0, 0]), (Some(0x1234), Some(14)));
        // A shift above 14 is taken as 14 (RFC 7323 §2.3).
        assert_eq!(scan_both(&[1, 3, 3, 200, 0, 0, 0, 0]).1, Some(14));
        assert_eq!(scan_both(&[1, 3, 3, 15, 0, 0, 0, 0]).1, Some(14));
        // Every lane of a word as the option's start, the shift crossing into the look-ahead.
        for pad in 0..8 {
            let mut opts = vec![1u8; pad];
            opts.extend_from_slice(&[3, 3, 9]);
            opts.resize(opts.len().div_ceil(4) * 4, 0);
            assert_eq!(scan_both(&opts).1, Some(9), "after {pad} NOPs");
        }
        assert_eq!(scan_both(&[0, 0, 0, 0, 3, 3, 7, 0]).1, None, "after EOL");
        assert_eq!(scan_both(&[3, 4, 7, 0]).1, None, "length 4 is not a window scale");
        assert_eq!(scan_both(&[1, 1, 1, 1, 1, 1, 3, 3]).1, None, "shift past the header end");
        assert_eq!(scan_both(&[2, 4, 0x05, 0xb4]), (Some(1460), None));
    }

    #[test]
    fn rx_opt_scan_finds_mss_where_linux_and_others_put_it() {
        assert_eq!(scan(&[2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 1, 2, 3, 0, 0, 0, 0, 1, 3, 3, 7]), Some(1460));
        assert_eq!(scan(&[1, 1, 1, 1, 1, 1, 1, 2, 4, 0x12, 0x34, 0]), Some(0x1234));
        assert_eq!(scan(&[8, 10, 1, 2, 3, 4, 5, 6, 7, 8, 2, 4, 0x22, 0x33]), Some(0x2233));
        assert_eq!(scan(&[0, 0, 0, 0, 2, 4, 0x05, 0xb4]), None, "after EOL");
        assert_eq!(scan(&[3, 0, 2, 4, 0x05, 0xb4, 0, 0]), None, "after a zero length");
        assert_eq!(scan(&[1, 1, 1, 1, 1, 1, 2, 4]), None, "value past the header end");
    }

    #[test]
    fn rx_opt_scan_lints_clean_and_synthesizes() {
        let v = crate::generate::verilog_named(&mut RxOptScan::default(), "rx_opt_scan").expect("generates");
        crate::check::lint("rx_opt_scan", &v).unwrap_or_else(|e| panic!("lint:\n{e}"));
        let area = crate::check::synth("rx_opt_scan", &v).unwrap_or_else(|e| panic!("{e}"));
        assert!(area.luts > 0);
    }
}
