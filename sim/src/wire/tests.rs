//! Golden-byte, round-trip and robustness tests of the wire module.
use super::*;

const CLIENT: Endpoint = Endpoint { mac: MacAddr([0x02, 0, 0, 0, 0, 0x01]), ip: Ipv4Addr::new(198, 18, 0, 1) };
const CORE: Endpoint = Endpoint { mac: MacAddr([0x02, 0, 0, 0, 0, 0x02]), ip: Ipv4Addr::new(198, 18, 0, 2) };

/// A SYN from 198.18.0.1:40000 to 198.18.0.2:5001, seq 0x01020304, window
/// 64240, MSS 1460, written out by hand from RFC 791 / RFC 9293 and checked
/// with an independent one's-complement sum (IP: 0x4500+0x002c+0+0x4000+
/// 0x4006+0xc612+0x0001+0xc612+0x0002 = 0x2_5159 → 0x515b → ~ = 0xaea4).
const GOLDEN_SYN: [u8; 58] = [
    // Ethernet: dst, src, type
    0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00,
    // IPv4: 45 00 len=44 id=0 DF ttl=64 proto=6 csum src dst
    0x45, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x40, 0x00, 0x40, 0x06, 0xae, 0xa4, 0xc6, 0x12, 0x00, 0x01, 0xc6, 0x12,
    0x00, 0x02,
    // TCP: ports 40000 -> 5001, seq, ack 0, doff 6, SYN, window 64240, csum, urg 0
    0x9c, 0x40, 0x13, 0x89, 0x01, 0x02, 0x03, 0x04, 0x00, 0x00, 0x00, 0x00, 0x60, 0x02, 0xfa, 0xf0, 0x00, 0x00,
    0x00, 0x00, // checksum filled below in the test (computed independently)
    // MSS 1460
    0x02, 0x04, 0x05, 0xb4,
];

/// The TCP checksum of GOLDEN_SYN worked out word by word, independently of
/// `checksum::sum` (pseudo-header + header with checksum zero).
fn golden_tcp_checksum() -> u16 {
    let words: [u32; 18] = [
        0xc612, 0x0001, 0xc612, 0x0002, 0x0006, 24, // pseudo-header
        0x9c40, 0x1389, 0x0102, 0x0304, 0x0000, 0x0000, 0x6002, 0xfaf0, 0x0000, 0x0000, 0x0204, 0x05b4,
    ];
    let mut s: u32 = words.iter().sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

fn golden() -> Vec<u8> {
    let mut g = GOLDEN_SYN.to_vec();
    g[50..52].copy_from_slice(&golden_tcp_checksum().to_be_bytes());
    g
}

fn syn_repr() -> TcpRepr {
    TcpRepr::new(40000, 5001, SeqNum(0x0102_0304), SeqNum(0), TcpFlags::SYN, 64240).with_mss(1460)
}

#[test]
fn builder_matches_golden_syn_bytes() {
    assert_eq!(tcp_frame(CLIENT, CORE, &syn_repr(), &[]), golden());
}

#[test]
fn golden_syn_parses_to_its_fields() {
    let f = Frame::parse(&golden()).expect("golden frame parses");
    let (ip, tcp, payload) = f.tcp().expect("is TCP");
    assert_eq!(f.eth.src, CLIENT.mac);
    assert_eq!(f.eth.dst, CORE.mac);
    assert_eq!((ip.src, ip.dst, ip.ttl, ip.ident, ip.dont_frag), (CLIENT.ip, CORE.ip, 64, 0, true));
    assert_eq!(tcp, &syn_repr());
    assert_eq!(tcp.mss(), Some(1460));
    assert!(payload.is_empty());
}

#[test]
fn frames_round_trip_through_parse_and_emit() {
    let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
    let frames = vec![
        golden(),
        tcp_frame(CLIENT, CORE, &TcpRepr::new(1, 2, SeqNum(u32::MAX - 3), SeqNum(7), TcpFlags::ACK | TcpFlags::PSH, 512), &data),
        tcp_frame(CLIENT, CORE, &TcpRepr::new(1, 2, SeqNum(5), SeqNum(7), TcpFlags::FIN | TcpFlags::ACK, 0), &data[..7]),
        arp_request(CLIENT, CORE.ip),
        arp_reply(CORE, CLIENT),
        icmp_echo_frame(CLIENT, CORE, &IcmpEchoRepr { request: true, ident: 0x1234, seq_no: 9, data: data[..57].to_vec() }),
        corrupt::pad(tcp_frame(CLIENT, CORE, &TcpRepr::new(1, 2, SeqNum(5), SeqNum(7), TcpFlags::ACK, 9), &[]), 6, 0),
    ];
    for bytes in frames {
        let f = Frame::parse(&bytes).unwrap_or_else(|e| panic!("parse: {e}\n{:?}", describe(&bytes)));
        assert_eq!(f.emit(), bytes);
    }
}

#[test]
fn arp_reply_is_42_bytes_with_oper_2() {
    let r = arp_reply(CORE, CLIENT);
    assert_eq!(r.len(), 42);
    assert_eq!(&r[20..22], &[0, 2]);
    assert_eq!(&r[0..6], &CLIENT.mac.0);
}

#[test]
fn icmp_checksum_adjustment_matches_recomputation() {
    for n in 0..40usize {
        let data: Vec<u8> = (0..n as u8).map(|x| x.wrapping_mul(37)).collect();
        let mut req = vec![0u8; 8 + n];
        IcmpEchoRepr { request: true, ident: n as u16 * 77, seq_no: 3, data: data.clone() }.emit(&mut req);
        let mut rep = vec![0u8; 8 + n];
        IcmpEchoRepr { request: false, ident: n as u16 * 77, seq_no: 3, data }.emit(&mut rep);
        let adjusted = checksum::adjust(be16(&req, 2), 0x0800, 0x0000);
        assert_eq!(adjusted, be16(&rep, 2), "n={n}");
    }
}

#[test]
fn every_corruption_is_reported_as_what_it_is() {
    let good = golden();
    type Case = (&'static str, Vec<u8>, fn(&WireError) -> bool);
    let cases: Vec<Case> = vec![
        ("bad ip checksum", corrupt::bad_ip_checksum(good.clone()), |e| matches!(e, WireError::BadIpChecksum { .. })),
        ("bad tcp checksum", corrupt::bad_tcp_checksum(good.clone()), |e| matches!(e, WireError::BadTcpChecksum { .. })),
        ("truncated", corrupt::truncate(good.clone(), 40), |e| matches!(e, WireError::Truncated { .. })),
        ("ihl 4", corrupt::set_ihl(good.clone(), 4), |e| matches!(e, WireError::BadIhl(4))),
        ("version 6", corrupt::set_ip_version(good.clone(), 6), |e| matches!(e, WireError::BadIpVersion(6))),
        ("total < ihl", corrupt::set_total_len(good.clone(), 16), |e| matches!(e, WireError::BadTotalLen { .. })),
        ("total > frame", corrupt::set_total_len(good.clone(), 60), |e| matches!(e, WireError::Truncated { .. })),
        ("fragment mf", corrupt::fragment(good.clone(), true, 0), |e| matches!(e, WireError::Fragment { .. })),
        ("fragment off", corrupt::fragment(good.clone(), false, 1), |e| matches!(e, WireError::Fragment { .. })),
        ("ipv6", corrupt::set_ethertype(good.clone(), ethertype::IPV6), |e| matches!(e, WireError::UnknownEthertype(_))),
        ("udp", corrupt::set_protocol(good.clone(), ip_protocol::UDP), |e| matches!(e, WireError::UnsupportedProtocol(17))),
        ("doff 4", corrupt::set_tcp_doff(good.clone(), 4), |e| matches!(e, WireError::BadTcpDataOffset { .. })),
        ("doff 15", corrupt::set_tcp_doff(good.clone(), 15), |e| matches!(e, WireError::BadTcpDataOffset { .. })),
    ];
    for (name, bytes, is_expected) in cases {
        match Frame::parse(&bytes) {
            Err(e) if is_expected(&e) => {}
            other => panic!("{name}: got {other:?}"),
        }
    }
    // Helpers that repair other checksums really do: the dst-IP change parses.
    let moved = corrupt::set_dst_ip(good, Ipv4Addr::new(198, 18, 0, 9));
    assert_eq!(Frame::parse(&moved).expect("still valid").tcp().map(|(ip, _, _)| ip.dst), Some(Ipv4Addr::new(198, 18, 0, 9)));
}

#[test]
fn parse_never_panics_on_prefixes_or_byte_flips() {
    let g = golden();
    for n in 0..=g.len() {
        let _ = Frame::parse(&g[..n]);
        let _ = describe(&g[..n]);
    }
    for i in 0..g.len() {
        for bit in 0..8 {
            let mut m = g.clone();
            m[i] ^= 1 << bit;
            let _ = Frame::parse(&m);
            let _ = describe(&m);
            let _ = corrupt::fix_checksums(m.clone());
            let _ = corrupt::set_ihl(m.clone(), 15);
            let _ = corrupt::set_tcp_doff(m, 15);
        }
    }
}

#[test]
fn mss_scan_handles_nops_and_malformed_lists() {
    assert_eq!(tcp_options_mss(&[1, 1, 2, 4, 0x05, 0xb4]), Some(1460));
    assert_eq!(tcp_options_mss(&[4, 2, 2, 4, 0x02, 0x18]), Some(536));
    assert_eq!(tcp_options_mss(&[0, 0, 2, 4, 1, 1]), None);
    assert_eq!(tcp_options_mss(&[3, 0, 2, 4, 1, 1]), None);
    assert_eq!(tcp_options_mss(&[2, 4, 5]), None);
    assert_eq!(tcp_options_mss(&[]), None);
}

#[test]
fn window_scale_scan_finds_the_first_well_formed_option() {
    // Linux's SYN: MSS, SACK-permitted, timestamps, NOP, window scale.
    let linux = [2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 1, 2, 3, 0, 0, 0, 0, 1, 3, 3, 7];
    assert_eq!(tcp_options_wscale(&linux), Some(7));
    assert_eq!(tcp_options_mss(&linux), Some(1460));
    assert_eq!(tcp_options_wscale(&[3, 4, 1, 1, 3, 3, 9, 0]), Some(9), "a kind-3 option of length 4 is skipped");
    assert_eq!(tcp_options_wscale(&[0, 3, 3, 7]), None, "after EOL");
    assert_eq!(tcp_options_wscale(&[1, 3, 3]), None, "past the end");
    let repr = TcpRepr::new(1, 2, SeqNum(0), SeqNum(0), TcpFlags::SYN, 0).with_mss(1460).with_wscale(14);
    assert_eq!((repr.mss(), repr.wscale(), repr.header_len()), (Some(1460), Some(14), 28));
}

#[test]
fn timestamps_scan_finds_the_first_well_formed_option() {
    // The vectors of hdl/src/rx/opt_scan.rs's test: the model reads what the core's scanner reads.
    let linux = [2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 1, 3, 3, 7];
    assert_eq!(tcp_options_timestamps(&linux), Some((0x1122_3344, 0x5566_7788)));
    assert_eq!(tcp_options_timestamps(&[1, 1, 8, 10, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1]), Some((0xdead_beef, 1)));
    let two = [8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 8, 10, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 0];
    assert_eq!(tcp_options_timestamps(&two), Some((1, 2)), "the first of two");
    assert_eq!(tcp_options_timestamps(&[0, 0, 0, 0, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0]), None, "after EOL");
    assert_eq!(tcp_options_timestamps(&[8, 9, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]), None, "length 9 is not timestamps");
    assert_eq!(tcp_options_timestamps(&[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0]), None, "value past the end");
}
