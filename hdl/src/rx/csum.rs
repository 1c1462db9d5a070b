//! Per-beat checksum contributions of the RX parser, combinational.
//!
//! Frame words are in network order and every header starts at an even frame
//! offset, so the four 16-bit lanes of a word are exactly the one's-complement
//! words of the IPv4 header and of the TCP segment. Each byte of the word is
//! kept or zeroed by its frame offset: IPv4 takes [14, ip_hdr_end), TCP takes
//! [max(34, ip_hdr_end), ip_end). A TCP segment of odd length thus ends with
//! its last byte in the high half of a lane (RFC 9293 §3.1 padding), and
//! Ethernet padding after the datagram stays out of both sums. Bytes below 34
//! always count as IPv4 header, so the sum is right before the IHL arrives
//! (an IHL below 5 is dropped anyway).
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct RxBeatSum {
    /// The beat, network order (frame byte `base` in bits 63:56).
    pub word: Signal<In, Bits<64>>,
    /// Frame offset of the word's first byte.
    pub base: Signal<In, Bits<16>>,
    /// 14 + ihl*4: end of the IPv4 header, start of the TCP segment.
    pub ip_hdr_end: Signal<In, Bits<16>>,
    /// 14 + total length: end of the IP datagram.
    pub ip_end: Signal<In, Bits<16>>,
    /// Sum of the kept 16-bit lanes (at most 4 * 0xFFFF).
    pub ip_sum: Signal<Out, Bits<32>>,
    pub tcp_sum: Signal<Out, Bits<32>>,
    lane_no: [Constant<Bits<16>>; 8],
    /// Mask of byte j of a network-order word.
    lane_mask: [Constant<Bits<64>>; 8],
    at: [Signal<Local, Bits<16>>; 8],
    ip_mask: [Signal<Local, Bits<64>>; 9],
    tcp_mask: [Signal<Local, Bits<64>>; 9],
    ip_words: Signal<Local, Bits<64>>,
    tcp_words: Signal<Local, Bits<64>>,
    ip_lanes: Signal<Local, Bits<64>>,
    tcp_lanes: Signal<Local, Bits<64>>,
    /// The lane sums' upper 32 bits (always zero), reduced so that Verilator's
    /// UNUSED check (which skips names matching *unused*) sees them read.
    spare_unused: Signal<Local, Bit>,
}

impl Default for RxBeatSum {
    fn default() -> Self {
        Self {
            word: Default::default(),
            base: Default::default(),
            ip_hdr_end: Default::default(),
            ip_end: Default::default(),
            ip_sum: Default::default(),
            tcp_sum: Default::default(),
            lane_no: std::array::from_fn(|j| Constant::new(bits(j as u64))),
            lane_mask: std::array::from_fn(|j| Constant::new(bits(0xFF_u64 << (56 - 8 * j)))),
            at: Default::default(),
            ip_mask: Default::default(),
            tcp_mask: Default::default(),
            ip_words: Default::default(),
            tcp_words: Default::default(),
            ip_lanes: Default::default(),
            tcp_lanes: Default::default(),
            spare_unused: Default::default(),
        }
    }
}

impl Logic for RxBeatSum {
    #[hdl_gen]
    fn update(&mut self) {
        self.ip_mask[0].next = 0_u64.to_bits();
        self.tcp_mask[0].next = 0_u64.to_bits();
        for j in 0..8 {
            self.at[j].next = self.base.val() + self.lane_no[j].val();
            self.ip_mask[j + 1].next = self.ip_mask[j].val();
            if (self.at[j].val() >= 14_u16.to_bits())
                && ((self.at[j].val() < 34_u16.to_bits()) || (self.at[j].val() < self.ip_hdr_end.val()))
            {
                self.ip_mask[j + 1].next = self.ip_mask[j].val() | self.lane_mask[j].val();
            }
            self.tcp_mask[j + 1].next = self.tcp_mask[j].val();
            if (self.at[j].val() >= 34_u16.to_bits())
                && (self.at[j].val() >= self.ip_hdr_end.val())
                && (self.at[j].val() < self.ip_end.val())
            {
                self.tcp_mask[j + 1].next = self.tcp_mask[j].val() | self.lane_mask[j].val();
            }
        }
        self.ip_words.next = self.word.val() & self.ip_mask[8].val();
        self.tcp_words.next = self.word.val() & self.tcp_mask[8].val();
        self.ip_lanes.next = (self.ip_words.val() >> 48)
            + ((self.ip_words.val() >> 32) & 0xFFFF_u64.to_bits())
            + ((self.ip_words.val() >> 16) & 0xFFFF_u64.to_bits())
            + (self.ip_words.val() & 0xFFFF_u64.to_bits());
        self.tcp_lanes.next = (self.tcp_words.val() >> 48)
            + ((self.tcp_words.val() >> 32) & 0xFFFF_u64.to_bits())
            + ((self.tcp_words.val() >> 16) & 0xFFFF_u64.to_bits())
            + (self.tcp_words.val() & 0xFFFF_u64.to_bits());
        self.ip_sum.next = self.ip_lanes.val().get_bits::<32>(0);
        self.tcp_sum.next = self.tcp_lanes.val().get_bits::<32>(0);
        self.spare_unused.next = self.ip_lanes.val().xor() ^ self.tcp_lanes.val().xor();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rx_beat_sum_splits_header_segment_and_padding_by_byte() {
        let mut uut = RxBeatSum::default();
        uut.connect_all();
        // Word 4 (bytes 32..39) of a frame with ihl 5 and total length 23:
        // bytes 32-33 IPv4 header, 34-36 TCP (odd end), 37-39 padding.
        uut.word.next = 0x1122_3344_5566_7788_u64.into();
        uut.base.next = 32_u64.into();
        uut.ip_hdr_end.next = 34_u64.into();
        uut.ip_end.next = 37_u64.into();
        assert!(simulate(&mut uut, 100));
        assert_eq!(uut.ip_sum.val().index(), 0x1122);
        assert_eq!(uut.tcp_sum.val().index(), 0x3344 + 0x5500);
    }

    #[test]
    fn rx_beat_sum_lints_clean_and_synthesizes() {
        let v = crate::generate::verilog_named(&mut RxBeatSum::default(), "rx_beat_sum").expect("generates");
        crate::check::lint("rx_beat_sum", &v).unwrap_or_else(|e| panic!("lint:\n{e}"));
        let area = crate::check::synth("rx_beat_sum", &v).unwrap_or_else(|e| panic!("{e}"));
        assert!(area.luts > 0);
    }
}
