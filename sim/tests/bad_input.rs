//! Bad input into the Verilated core: every drop reason.
//!
//! Each test configures the core through its registers, opens two real
//! connections (A, the bystander, and B), then drives crafted frames for one
//! drop reason. Every frame must raise exactly that drop counter by one (and
//! RxFrames by one), the core's output must equal the reference model's, A's
//! TCB (read through the TCB window) must be untouched, and a further data
//! segment on A must still be ACKed. A seeded random-frame test (≥ 10 000
//! frames) ends with the core still answering ARP, ICMP and A's data.
//!
//! Needs verilator (the sim crate's build verilates the core): install with
//! `apt-get install verilator`.
use std::net::Ipv4Addr;

use holdback_regmap::{CoreParams, Stat, TCB_WORDS};
use holdback_sim::core_sim::CoreSim;
use holdback_sim::refmodel::lockstep::{test_mac, Dut, Lockstep, PeerConn};
use holdback_sim::refmodel::{tcb::TIMING_FIELDS, Config};
use holdback_sim::wire::{
    self, arp_request, corrupt, ethertype, fuzz::FrameFuzzer, icmp_echo_frame, ip_protocol, Endpoint, IcmpEchoRepr,
    MacAddr, SeqNum, TcpFlags, TcpRepr,
};

const CORE: Endpoint = Endpoint { mac: MacAddr([0x02, 0x00, 0x5e, 0x00, 0x00, 0x02]), ip: Ipv4Addr::new(198, 18, 0, 2) };
const LISTEN: u16 = 5001;
const OTHER_LISTEN: u16 = 5002;
const RTO_US: u32 = 200_000;

fn peer(n: u8) -> Endpoint {
    Endpoint { mac: test_mac(u16::from(n)), ip: Ipv4Addr::new(198, 18, 1, n) }
}

struct Bench {
    ls: Lockstep<CoreSim>,
    /// The bystander: must never be touched by bad input.
    a: PeerConn,
    /// Used by the per-connection drop reasons (out of order / window).
    b: PeerConn,
}

fn bench() -> Bench {
    let core = CoreSim::new().unwrap_or_else(|e| panic!("cannot start the Verilated core ({e}); the sim crate needs verilator: apt-get install verilator"));
    let mut cfg = Config::new(&CoreParams::DEFAULT, CORE.mac, CORE.ip, &[LISTEN, OTHER_LISTEN], 1460, RTO_US);
    // 8 KiB rings (RX_RING_LOG2 = 13): the window drops below are placed against an 8 KiB window.
    cfg.ring_bytes = 8192;
    let mut ls = Lockstep::new(core, cfg).unwrap_or_else(|e| panic!("configure: {e}"));
    // A's sequence space crosses 2^32 after 100 bytes.
    let mut a = PeerConn::open(&mut ls, peer(1), 40001, LISTEN, 0xffff_ff00).unwrap_or_else(|e| panic!("open A: {e}"));
    let mut b = PeerConn::open(&mut ls, peer(2), 40002, OTHER_LISTEN, 0x1234_5678).unwrap_or_else(|e| panic!("open B: {e}"));
    for (name, c) in [("A", &mut a), ("B", &mut b)] {
        let out = c.send(&mut ls, &[0x5a; 300]).unwrap_or_else(|e| panic!("data on {name}: {e}"));
        assert_eq!(out.len(), 1, "the core ACKs {name}'s first data");
    }
    ls.check_stats().unwrap_or_else(|e| panic!("{e}"));
    Bench { ls, a, b }
}

impl Bench {
    /// Drive `frame`, expect exactly one `reason` drop, A untouched and still ACKing.
    fn expect_drop(&mut self, what: &str, frame: &[u8], reason: Stat) {
        let a_before = self.ls.read_tcb(self.a.id).expect("read A's TCB");
        let before = self.ls.read_stats().expect("read stats");
        let model_before = *self.ls.model.stats();
        self.ls.frame(frame).unwrap_or_else(|e| panic!("{what}: {e}"));
        let after = self.ls.read_stats().expect("read stats");
        let delta = |s: Stat| after[s.index()].wrapping_sub(before[s.index()]);
        assert_eq!(delta(reason), 1, "{what}: {} must count exactly once", reason.name());
        assert_eq!(delta(Stat::RxFrames), 1, "{what}: rx_frames");
        for s in Stat::ALL {
            let model_delta = self.ls.model.stats()[s.index()].wrapping_sub(model_before[s.index()]);
            assert_eq!(delta(s), model_delta, "{what}: {} core +{} model +{}", s.name(), delta(s), model_delta);
            if s.name().starts_with("drop_") && s != reason {
                assert_eq!(delta(s), 0, "{what}: only {} may count, {} did too", reason.name(), s.name());
            }
        }
        let a_after = self.ls.read_tcb(self.a.id).expect("read A's TCB");
        assert_eq!(a_before, a_after, "{what}: connection A's TCB changed");
        self.a_still_acks(what);
    }

    /// A further data segment on A is ACKed (scored against the model) and
    /// A's TCB and ring agree with the model.
    fn a_still_acks(&mut self, what: &str) {
        let rcv_before = self.ls.model.tcb(self.a.id).rcv_nxt;
        let out = self.a.send(&mut self.ls, b"still alive?").unwrap_or_else(|e| panic!("after {what}: A's data: {e}"));
        assert_eq!(out.len(), 1, "after {what}: A's data must be ACKed");
        let f = wire::Frame::parse(&out[0]).expect("the ACK parses");
        let (_, tcp, _) = f.tcp().expect("the ACK is TCP");
        assert_eq!(tcp.ack, rcv_before + 12, "after {what}: A's ACK");
        self.ls.check_tcb(self.a.id, TIMING_FIELDS).unwrap_or_else(|e| panic!("after {what}: {e}"));
        let t = self.ls.model.tcb(self.a.id);
        let received = t.rcv_nxt.diff(t.irs + 1) as usize;
        self.ls.check_ring(self.a.id, 0, received).unwrap_or_else(|e| panic!("after {what}: {e}"));
    }

    /// A's next data segment: the template most bad frames are made from, so
    /// a parser that let it through would change A.
    fn a_segment(&self) -> Vec<u8> {
        self.a.data(b"this must never reach the ring")
    }
}

#[test]
fn drop_bad_ip_checksum() {
    let mut b = bench();
    let f = corrupt::bad_ip_checksum(b.a_segment());
    b.expect_drop("IPv4 header checksum flipped", &f, Stat::DropBadIpChecksum);
}

#[test]
fn drop_bad_tcp_checksum() {
    let mut b = bench();
    let f = corrupt::bad_tcp_checksum(b.a_segment());
    b.expect_drop("TCP checksum flipped", &f, Stat::DropBadTcpChecksum);
    // A payload byte changed after the checksum was computed.
    let mut f = b.a_segment();
    let last = f.len() - 1;
    f[last] ^= 0x01;
    b.expect_drop("payload byte changed", &f, Stat::DropBadTcpChecksum);
}

#[test]
fn drop_truncated() {
    let mut b = bench();
    let seg = b.a_segment();
    b.expect_drop("13-byte frame", &seg[..13], Stat::DropTruncated);
    b.expect_drop("IPv4 header cut at 30 bytes", &seg[..30], Stat::DropTruncated);
    b.expect_drop("cut inside the payload", &seg[..seg.len() - 3], Stat::DropTruncated);
    b.expect_drop("total length beyond the frame", &corrupt::set_total_len(seg.clone(), seg.len() as u16), Stat::DropTruncated);
    let with_opts = corrupt::set_ihl(seg.clone(), 15);
    b.expect_drop("IHL 15 (60-byte header) in a 34-byte frame", &with_opts[..34], Stat::DropTruncated);
    let arp = arp_request(peer(1), CORE.ip);
    b.expect_drop("ARP cut at 40 bytes", &arp[..40], Stat::DropTruncated);
    // An ICMP message of 4 bytes (shorter than the echo header).
    let mut icmp = icmp_echo_frame(peer(1), CORE, &IcmpEchoRepr { request: true, ident: 1, seq_no: 1, data: vec![] });
    icmp.truncate(14 + 20 + 4);
    let icmp = corrupt::fix_checksums(corrupt::set_total_len(icmp, 24));
    b.expect_drop("ICMP message of 4 bytes", &icmp, Stat::DropTruncated);
}

#[test]
fn drop_bad_ip_header() {
    let mut b = bench();
    let seg = b.a_segment();
    b.expect_drop("IHL 4", &corrupt::set_ihl(seg.clone(), 4), Stat::DropBadIpHeader);
    b.expect_drop("IHL 0", &corrupt::set_ihl(seg.clone(), 0), Stat::DropBadIpHeader);
    b.expect_drop("version 6 in an IPv4 ethertype", &corrupt::set_ip_version(seg.clone(), 6), Stat::DropBadIpHeader);
    // Total length below the header length, frame long enough either way.
    b.expect_drop("total length 16 < 20", &corrupt::set_total_len(seg.clone(), 16), Stat::DropBadIpHeader);
    b.expect_drop("TCP data offset 4", &corrupt::set_tcp_doff(seg.clone(), 4), Stat::DropBadIpHeader);
    let bare = b.a.segment(b.a.snd_nxt, TcpFlags::ACK, b"");
    b.expect_drop("TCP data offset 15 beyond a 20-byte segment", &corrupt::set_tcp_doff(bare, 15), Stat::DropBadIpHeader);
    b.expect_drop("TCP length 12 < 20", &corrupt::fix_checksums(corrupt::set_total_len(seg, 32)), Stat::DropBadIpHeader);
}

#[test]
fn drop_ip_fragment() {
    let mut b = bench();
    let seg = b.a_segment();
    b.expect_drop("more-fragments set", &corrupt::fragment(seg.clone(), true, 0), Stat::DropIpFragment);
    b.expect_drop("fragment offset 185", &corrupt::fragment(seg, false, 185), Stat::DropIpFragment);
}

#[test]
fn drop_unknown_ethertype() {
    let mut b = bench();
    let seg = b.a_segment();
    b.expect_drop("IPv6 ethertype", &corrupt::set_ethertype(seg.clone(), ethertype::IPV6), Stat::DropUnknownEthertype);
    b.expect_drop("LLDP ethertype, 14 bytes", &corrupt::set_ethertype(seg[..14].to_vec(), 0x88cc), Stat::DropUnknownEthertype);
}

#[test]
fn drop_not_our_address() {
    let mut b = bench();
    let seg = b.a_segment();
    b.expect_drop("other destination MAC", &corrupt::set_dst_mac(seg.clone(), MacAddr([0x02, 0, 0, 0, 0x99, 0x99])), Stat::DropNotOurAddress);
    b.expect_drop("other destination IP", &corrupt::set_dst_ip(seg.clone(), Ipv4Addr::new(198, 18, 0, 3)), Stat::DropNotOurAddress);
    b.expect_drop("broadcast MAC, other IP", &corrupt::set_dst_ip(corrupt::set_dst_mac(seg, MacAddr::BROADCAST), Ipv4Addr::new(198, 18, 0, 3)), Stat::DropNotOurAddress);
    b.expect_drop("ARP for another IP", &arp_request(peer(1), Ipv4Addr::new(198, 18, 0, 9)), Stat::DropNotOurAddress);
}

#[test]
fn drop_unsupported() {
    let mut b = bench();
    let seg = b.a_segment();
    b.expect_drop("UDP", &corrupt::set_protocol(seg.clone(), ip_protocol::UDP), Stat::DropUnsupported);
    let mut ts = icmp_echo_frame(peer(1), CORE, &IcmpEchoRepr { request: true, ident: 1, seq_no: 1, data: vec![0; 12] });
    ts[14 + 20] = 13; // ICMP timestamp request
    b.expect_drop("ICMP timestamp request", &corrupt::fix_checksums(ts), Stat::DropUnsupported);
    let mut reply = arp_request(peer(1), CORE.ip);
    reply[14 + 7] = 2; // oper 2: a reply, not a request
    b.expect_drop("ARP reply", &reply, Stat::DropUnsupported);
    let mut hw = arp_request(peer(1), CORE.ip);
    hw[14 + 1] = 6; // htype 6 (IEEE 802)
    b.expect_drop("ARP htype 6", &hw, Stat::DropUnsupported);
}

#[test]
fn drop_oversize() {
    let mut b = bench();
    let mut big = b.a.data(&[7u8; 1500]);
    big = corrupt::pad(big, 600, 0); // 2154 bytes on the wire
    b.expect_drop("2154-byte frame", &big, Stat::DropOversize);
}

#[test]
fn drop_no_connection() {
    let mut b = bench();
    let other = peer(9);
    let to_closed_port = |flags, seq, ack| wire::tcp_frame(other, CORE, &TcpRepr::new(33333, 7, SeqNum(seq), SeqNum(ack), flags, 1000), b"x");
    b.expect_drop("ACK to a closed port (answered by RST)", &to_closed_port(TcpFlags::ACK, 10, 20), Stat::DropNoConnection);
    b.expect_drop("SYN to a closed port (answered by RST|ACK)", &to_closed_port(TcpFlags::SYN, 10, 0), Stat::DropNoConnection);
    b.expect_drop("RST to a closed port (silence)", &to_closed_port(TcpFlags::RST, 10, 0), Stat::DropNoConnection);
    // A's port from the wrong peer port: no such connection.
    let stray = wire::tcp_frame(b.a.peer, CORE, &TcpRepr::new(b.a.peer_port + 1, LISTEN, b.a.snd_nxt, b.a.rcv_nxt, TcpFlags::ACK, 1000), b"y");
    b.expect_drop("A's 4-tuple with another peer port", &stray, Stat::DropNoConnection);
}

#[test]
fn drop_out_of_order_and_out_of_window() {
    let mut b = bench();
    let c = b.b.clone();
    b.expect_drop("B: data 100 bytes ahead (duplicate ACK)", &c.segment(c.snd_nxt + 100, TcpFlags::ACK, b"later"), Stat::DropOutOfOrder);
    b.expect_drop("B: data beyond the window (ACK)", &c.segment(c.snd_nxt + 20_000, TcpFlags::ACK, b"far"), Stat::DropOutOfWindow);
    b.expect_drop("B: old data (ACK)", &c.segment(c.snd_nxt - 200, TcpFlags::ACK, b"old"), Stat::DropOutOfWindow);
    b.expect_drop("B: RST outside the window (silence)", &c.segment(c.snd_nxt + 30_000, TcpFlags::RST, b""), Stat::DropOutOfWindow);
    b.ls.check_tcb(c.id, TIMING_FIELDS).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn drop_tcb_full() {
    let mut b = bench();
    // Peers whose tuples all hash to one bucket of the connection index are
    // all admitted while a slot is free; A and B hold two of the N slots, so
    // the (N-1)th of these SYNs finds none.
    let params = CoreParams::DEFAULT;
    let free = params.conns() - 2;
    let bucket = holdback_regmap::conn_bucket(holdback_regmap::conn_hash(u32::from(b.a.peer.ip), b.a.peer_port, LISTEN), params.conn_bits);
    let mut opened = 0;
    for i in 0..=free as u16 {
        let port = 50000 + i;
        let ip = (0..=u16::MAX)
            .map(|lo| Ipv4Addr::new(198, 19, (lo >> 8) as u8, lo as u8))
            .find(|ip| holdback_regmap::conn_bucket(holdback_regmap::conn_hash(u32::from(*ip), port, LISTEN), params.conn_bits) == bucket)
            .expect("some address in a /16 hashes to any bucket");
        let p = Endpoint { mac: test_mac(0x100 + i), ip };
        let syn = wire::tcp_frame(p, CORE, &TcpRepr::new(port, LISTEN, SeqNum(7 * u32::from(i)), SeqNum(0), TcpFlags::SYN, 1000), &[]);
        if usize::from(i) < free {
            b.ls.frame(&syn).unwrap_or_else(|e| panic!("SYN {i}: {e}"));
            opened += 1;
        } else {
            b.expect_drop("a SYN when every slot is taken", &syn, Stat::DropTcbFull);
        }
    }
    assert_eq!(opened, free);
    b.ls.check_stats().unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn ten_thousand_random_frames_leave_the_core_answering() {
    random_frames_leave_the_core_answering(holdback_sim::test_seed(0xBAD_1257));
}

/// The random-frame run from `seed`: a seed that once failed gets its own
/// `#[test]` calling this (docs/testing.md).
fn random_frames_leave_the_core_answering(seed: u64) {
    let mut b = bench();
    // Templates for a connection C that is not A: mutations may close or
    // confuse C and open stray connections, but never touch A.
    let mut c = PeerConn::open(&mut b.ls, peer(3), 40003, LISTEN, 77).unwrap_or_else(|e| panic!("open C: {e}"));
    c.send(&mut b.ls, b"c's first bytes").unwrap_or_else(|e| panic!("{e}"));
    let templates = vec![
        c.data(&[0xc3; 200]),
        c.segment(c.snd_nxt, TcpFlags::ACK | TcpFlags::FIN, b""),
        wire::tcp_frame(peer(4), CORE, &TcpRepr::new(41000, LISTEN, SeqNum(5), SeqNum(0), TcpFlags::SYN, 1000).with_mss(1400), &[]),
        wire::tcp_frame(peer(4), CORE, &TcpRepr::new(41001, 9, SeqNum(5), SeqNum(9), TcpFlags::ACK, 1000), b"closed port"),
        arp_request(peer(5), CORE.ip),
        icmp_echo_frame(peer(6), CORE, &IcmpEchoRepr { request: true, ident: 3, seq_no: 4, data: (0..56).collect() }),
    ];
    let a_before: [u32; TCB_WORDS] = b.ls.read_tcb(b.a.id).expect("read A");
    let rx_before = b.ls.read_stats().expect("stats")[Stat::RxFrames.index()];
    let mut fuzz = FrameFuzzer::new(seed, templates);
    const FRAMES: u32 = 10_000;
    let mut kinds = std::collections::HashMap::new();
    for n in 0..FRAMES {
        let (kind, f) = fuzz.next_frame();
        *kinds.entry(kind).or_insert(0u32) += 1;
        b.ls.dut.push_frame(&f);
        // Settle in small batches: back-to-back frames, but bounded queues.
        if n % 8 == 7 {
            b.ls.dut.settle(1_000_000).unwrap_or_else(|e| panic!("seed {seed}: core stuck after frame {n}: {e}"));
            while b.ls.dut.pop_tx_frame().is_some() {}
        }
    }
    b.ls.dut.settle(1_000_000).unwrap_or_else(|e| panic!("seed {seed}: core stuck at the end: {e}"));
    while b.ls.dut.pop_tx_frame().is_some() {}
    println!("frames by kind: {kinds:?}");
    let stats = b.ls.read_stats().expect("stats");
    assert_eq!(stats[Stat::RxFrames.index()].wrapping_sub(rx_before), FRAMES, "seed {seed}: every frame counted once");
    assert_eq!(b.ls.read_tcb(b.a.id).expect("read A"), a_before, "seed {seed}: A's TCB changed");

    // Still answering: ARP, ICMP echo, and A's data — checked directly, the
    // model's view of the fuzzed stray connections is not needed for these.
    let probe = |b: &mut Bench, f: &[u8]| -> Vec<Vec<u8>> {
        b.ls.dut.push_frame(f);
        b.ls.dut.settle(1_000_000).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        std::iter::from_fn(|| b.ls.dut.pop_tx_frame()).collect()
    };
    let arp = probe(&mut b, &arp_request(peer(7), CORE.ip));
    assert_eq!(arp, vec![wire::arp_reply(CORE, peer(7))], "seed {seed}: ARP reply");
    let echo = IcmpEchoRepr { request: true, ident: 9, seq_no: 9, data: b"are you there".to_vec() };
    let pong = probe(&mut b, &icmp_echo_frame(peer(7), CORE, &echo));
    assert_eq!(pong, vec![icmp_echo_frame(CORE, peer(7), &IcmpEchoRepr { request: false, ..echo })], "seed {seed}: ICMP echo reply");
    let more = b.a.data(b"after the storm");
    let acks = probe(&mut b, &more);
    let a_rcv = b.ls.model.tcb(b.a.id).rcv_nxt;
    assert_eq!(acks.len(), 1, "seed {seed}: A's data must be ACKed");
    let f = wire::Frame::parse(&acks[0]).expect("ACK parses");
    let (_, tcp, _) = f.tcp().expect("TCP");
    assert_eq!((tcp.flags, tcp.ack), (TcpFlags::ACK, a_rcv + 15), "seed {seed}: A's ACK");
}
