//! The Verilated `tx_builder` block: every frame it emits is compared byte for
//! byte with a frame built here independently, decoded field by field, and its
//! IPv4/TCP/ICMP checksums are verified by summing (TCP over the pseudo-header).
//! Cases: SYN-ACK with MSS, pure ACK, RST, RST|ACK, FIN|ACK, ARP reply, ICMP echo
//! replies of odd and even lengths from every source alignment, random
//! `m_tready` back-pressure and request gaps, tshark over a pcap of the frames,
//! and the cycles per frame of back-to-back pure ACKs. Timestamps (RFC 7323
//! §3.2, Appendix A layout) first in the options: an ACK, ACKs with 3 and 4
//! SACK blocks asked for (3 sent: 40 option bytes, RFC 2018 §3), a SYN-ACK
//! with MSS, Window Scale and SACK-permitted, and data segments of 1, 7, 8 and
//! 1460 bytes read from the transmit staging buffer.
//!
//! Seed: `HOLDBACK_TEST_SEED=<n>` reproduces a run (each random test prints its seed).
mod common;
use common::{be16, be32, mac_u64};

use std::collections::VecDeque;
use std::process::Command;

use holdback_sim::model::{Model, PortId};
use holdback_sim::pcap::PcapWriter;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const OUR_MAC: [u8; 6] = [0x02, 0x00, 0x5e, 0x10, 0x20, 0x30];
const PEER_MAC: [u8; 6] = [0x02, 0x11, 0x22, 0x33, 0x44, 0x55];
const OUR_IP: [u8; 4] = [198, 18, 0, 2];
const PEER_IP: [u8; 4] = [198, 18, 0, 1];
const OUR_MSS: u16 = 1460;
const KIND_TCP: u64 = 0;
const KIND_ARP: u64 = 1;
const KIND_ICMP: u64 = 2;
const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const ACK: u8 = 0x10;


fn ip_u32(ip: &[u8]) -> u32 {
    u32::from_be_bytes([ip[0], ip[1], ip[2], ip[3]])
}

/// One's-complement sum of big-endian 16-bit words (odd tail padded with zero), folded.
fn ones_sum(data: &[u8]) -> u16 {
    let mut s: u32 = data.chunks(2).map(|c| u32::from(c[0]) << 8 | u32::from(*c.get(1).unwrap_or(&0))).sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// The Internet checksum of `data` (with its checksum field zeroed by the caller).
fn checksum(data: &[u8]) -> u16 {
    !ones_sum(data)
}

/// One request to the block.
#[derive(Clone, Debug)]
enum Req {
    Tcp { sport: u16, dport: u16, seq: u32, ack: u32, flags: u8, window: u16, mss: bool, dst_ip: [u8; 4] },
    Arp { dst_mac: [u8; 6], dst_ip: [u8; 4] },
    /// The echo request sits in the frame buffer (`fb`) at `off`, `len` bytes of ICMP message.
    Icmp { off: usize, len: usize, csum: u16, fb: Vec<u8> },
}

fn tcp_req(flags: u8, mss: bool) -> Req {
    Req::Tcp {
        sport: 80,
        dport: 51514,
        seq: 0xfffffff0,
        ack: 0x1234_5678,
        flags,
        window: 65535,
        mss,
        dst_ip: PEER_IP,
    }
}

/// The frame the block must emit for `r`, built independently of the RTL.
fn expected(r: &Req) -> Vec<u8> {
    let mut f = Vec::new();
    let ipv4 = |f: &mut Vec<u8>, dst_mac: &[u8], total: usize, proto: u8, dst_ip: &[u8]| {
        f.extend_from_slice(dst_mac);
        f.extend_from_slice(&OUR_MAC);
        f.extend_from_slice(&[0x08, 0x00]);
        let mut ip = vec![0x45, 0, (total >> 8) as u8, total as u8, 0, 0, 0x40, 0, 64, proto, 0, 0];
        ip.extend_from_slice(&OUR_IP);
        ip.extend_from_slice(dst_ip);
        let c = checksum(&ip);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        f.extend_from_slice(&ip);
    };
    match r {
        Req::Tcp { sport, dport, seq, ack, flags, window, mss, dst_ip } => {
            let hl = if *mss { 24 } else { 20 };
            ipv4(&mut f, &PEER_MAC, 20 + hl, 6, dst_ip);
            let mut t = Vec::new();
            t.extend_from_slice(&sport.to_be_bytes());
            t.extend_from_slice(&dport.to_be_bytes());
            t.extend_from_slice(&seq.to_be_bytes());
            t.extend_from_slice(&ack.to_be_bytes());
            t.extend_from_slice(&[((hl / 4) << 4) as u8, *flags]);
            t.extend_from_slice(&window.to_be_bytes());
            t.extend_from_slice(&[0, 0, 0, 0]);
            if *mss {
                t.extend_from_slice(&[2, 4]);
                t.extend_from_slice(&OUR_MSS.to_be_bytes());
            }
            let mut pseudo = Vec::new();
            pseudo.extend_from_slice(&OUR_IP);
            pseudo.extend_from_slice(dst_ip);
            pseudo.extend_from_slice(&[0, 6, 0, hl as u8]);
            pseudo.extend_from_slice(&t);
            let c = checksum(&pseudo);
            t[16..18].copy_from_slice(&c.to_be_bytes());
            f.extend_from_slice(&t);
        }
        Req::Arp { dst_mac, dst_ip } => {
            f.extend_from_slice(dst_mac);
            f.extend_from_slice(&OUR_MAC);
            f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, 2]);
            f.extend_from_slice(&OUR_MAC);
            f.extend_from_slice(&OUR_IP);
            f.extend_from_slice(dst_mac);
            f.extend_from_slice(dst_ip);
        }
        Req::Icmp { off, len, csum, fb } => {
            // The request's source addresses (Ethernet 6..12, IPv4 26..30) are
            // where the engine takes req_dst_mac / req_dst_ip from.
            ipv4(&mut f, &fb[6..12], 20 + len, 1, &fb[26..30]);
            let mut m = vec![0, 0, 0, 0];
            m.extend_from_slice(&fb[off + 4..off + len]);
            // The design asks for the RFC 1624 update of the request's checksum.
            // It equals a fresh checksum except when the rest of the message
            // sums to -0 (0xffff): then the block sends 0xffff and a fresh sum
            // gives 0x0000 (both verify); `verify_fields` checks validity on its own.
            let c = rfc1624_echo_reply(*csum);
            m[2..4].copy_from_slice(&c.to_be_bytes());
            f.extend_from_slice(&m);
        }
    }
    f
}

/// Decodes `f` as the reply to `r` and checks every field and checksum on its
/// own (not through `expected`).
fn verify_fields(r: &Req, f: &[u8]) {
    assert!(f.len() >= 38, "frame too short: {} bytes", f.len());
    assert_eq!(&f[6..12], &OUR_MAC, "Ethernet source");
    match r {
        Req::Arp { dst_mac, dst_ip } => {
            assert_eq!(f.len(), 42, "ARP reply length");
            assert_eq!(&f[0..6], dst_mac, "Ethernet destination");
            assert_eq!(be16(f, 12), 0x0806, "ethertype");
            assert_eq!((be16(f, 14), be16(f, 16), f[18], f[19]), (1, 0x0800, 6, 4), "htype/ptype/hlen/plen");
            assert_eq!(be16(f, 20), 2, "oper reply");
            assert_eq!((&f[22..28], &f[28..32]), (&OUR_MAC[..], &OUR_IP[..]), "sender");
            assert_eq!((&f[32..38], &f[38..42]), (&dst_mac[..], &dst_ip[..]), "target");
        }
        Req::Tcp { sport, dport, seq, ack, flags, window, mss, dst_ip } => {
            let hl = if *mss { 24 } else { 20 };
            assert_eq!(f.len(), 34 + hl, "TCP frame length");
            assert_eq!(&f[0..6], &PEER_MAC, "Ethernet destination");
            verify_ipv4(f, 20 + hl, 6, dst_ip);
            let t = &f[34..];
            assert_eq!((be16(t, 0), be16(t, 2)), (*sport, *dport), "ports");
            assert_eq!((be32(t, 4), be32(t, 8)), (*seq, *ack), "seq/ack");
            assert_eq!(t[12], ((hl / 4) << 4) as u8, "data offset");
            assert_eq!(t[13], *flags, "flags");
            assert_eq!(be16(t, 14), *window, "window");
            assert_eq!(be16(t, 18), 0, "urgent pointer");
            if *mss {
                assert_eq!((t[20], t[21], be16(t, 22)), (2, 4, OUR_MSS), "MSS option");
            }
            let mut pseudo = Vec::new();
            pseudo.extend_from_slice(&f[26..34]);
            pseudo.extend_from_slice(&[0, 6, 0, hl as u8]);
            pseudo.extend_from_slice(t);
            assert_eq!(ones_sum(&pseudo), 0xffff, "TCP checksum (pseudo-header) does not verify");
        }
        Req::Icmp { off, len, csum, fb } => {
            assert_eq!(f.len(), 34 + len, "ICMP frame length");
            assert_eq!(&f[0..6], &fb[6..12], "Ethernet destination");
            verify_ipv4(f, 20 + len, 1, &fb[26..30]);
            let m = &f[34..];
            assert_eq!((m[0], m[1]), (0, 0), "echo reply type/code");
            assert_eq!(&m[4..], &fb[off + 4..off + len], "echo data (identifier, sequence, payload)");
            assert_eq!(ones_sum(m), 0xffff, "ICMP checksum does not verify");
            assert_eq!(be16(m, 2), rfc1624_echo_reply(*csum), "ICMP checksum is not the RFC 1624 update of {csum:#06x}");
        }
    }
}

/// RFC 1624 eqn. 3, HC' = ~(~HC + ~m + m'), for the type/code word going from
/// 0x0800 (echo request) to 0x0000 (echo reply); a 0x0000 result becomes
/// 0xffff, the value that verifies whether the rest sums to +0 or -0.
fn rfc1624_echo_reply(hc: u16) -> u16 {
    match !(fold_add(u32::from(!hc), u32::from(!0x0800u16)) as u16) {
        0 => 0xffff,
        c => c,
    }
}

fn fold_add(a: u32, b: u32) -> u32 {
    let mut s = a + b;
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s
}

fn verify_ipv4(f: &[u8], total: usize, proto: u8, dst_ip: &[u8]) {
    assert_eq!(be16(f, 12), 0x0800, "ethertype");
    let ip = &f[14..34];
    assert_eq!(ip[0], 0x45, "version/IHL");
    assert_eq!(ip[1], 0, "TOS");
    assert_eq!(be16(ip, 2) as usize, total, "total length");
    assert_eq!(be16(ip, 4), 0, "identification");
    assert_eq!(be16(ip, 6), 0x4000, "flags DF, fragment offset 0");
    assert_eq!(ip[8], 64, "TTL");
    assert_eq!(ip[9], proto, "protocol");
    assert_eq!((&ip[12..16], &ip[16..20]), (&OUR_IP[..], dst_ip), "addresses");
    assert_eq!(ones_sum(ip), 0xffff, "IPv4 header checksum does not verify");
}

/// An ICMP echo request frame with `ip_opts` bytes of IPv4 options (a multiple
/// of 4 on the wire; any value here to move the ICMP header to any alignment —
/// the block must not care) and `data_len` bytes after the 8-byte echo header.
fn echo_request(rng: &mut SmallRng, ip_opts: usize, data_len: usize) -> Req {
    let mut fb = vec![0u8; 2048];
    rng.fill(&mut fb[..]);
    let off = 34 + ip_opts;
    let len = 8 + data_len;
    let mut f = Vec::new();
    f.extend_from_slice(&OUR_MAC);
    f.extend_from_slice(&PEER_MAC);
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(&[0x45, 0, 0, 0, 0, 1, 0, 0, 64, 1, 0, 0]);
    f.extend_from_slice(&PEER_IP);
    f.extend_from_slice(&OUR_IP);
    f.extend(std::iter::repeat_n(1u8, ip_opts)); // NOP options
    let mut m = vec![8, 0, 0, 0];
    m.extend_from_slice(&rng.gen::<u32>().to_be_bytes()); // identifier, sequence
    m.extend((0..data_len).map(|_| rng.gen::<u8>()));
    let c = checksum(&m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&m);
    fb[..f.len()].copy_from_slice(&f);
    Req::Icmp { off, len, csum: c, fb }
}

struct Ports {
    req_valid: PortId,
    req_ready: PortId,
    req_kind: PortId,
    req_dst_mac: PortId,
    req_dst_ip: PortId,
    req_src_port: PortId,
    req_dst_port: PortId,
    req_seq: PortId,
    req_ack: PortId,
    req_flags: PortId,
    req_window: PortId,
    req_with_mss: PortId,
    req_icmp_off: PortId,
    req_icmp_len: PortId,
    req_icmp_csum: PortId,
    our_mac: PortId,
    our_ip: PortId,
    our_mss: PortId,
    m_tdata: PortId,
    m_tkeep: PortId,
    m_tvalid: PortId,
    m_tlast: PortId,
    m_tready: PortId,
    fb_raddr: PortId,
    fb_rdata: PortId,
    busy: PortId,
    // The option inputs and a data segment's payload (`OptReq`).
    req_with_ws: PortId,
    req_ws: PortId,
    req_with_sackp: PortId,
    req_sack_count: PortId,
    req_sack_blocks: PortId,
    req_with_ts: PortId,
    req_tsval: PortId,
    req_tsecr: PortId,
    req_data_len: PortId,
    req_data_sum: PortId,
    pl_raddr: PortId,
    pl_rdata: PortId,
}

/// The block plus its environment: a frame buffer with a registered read
/// port, and an AXI sink that collects frames.
struct Tx {
    m: Model,
    p: Ports,
    fb: Vec<u8>,
    /// Address the block drove last cycle: the RAM returns that word now.
    fb_addr_q: u64,
    /// The transmit staging buffer (a data segment's payload from byte 0), read like `fb`.
    pl: Vec<u8>,
    pl_addr_q: u64,
    frame: Vec<u8>,
    frames: VecDeque<Vec<u8>>,
    /// (tdata, tkeep, tlast) of a beat offered without m_tready.
    stalled: Option<(u64, u64, u64)>,
}

impl Tx {
    fn new() -> Tx {
        let m = Model::new("tx_builder").expect("tx_builder is built");
        let port = |n: &str| m.port(n).unwrap_or_else(|e| panic!("{e}"));
        let p = Ports {
            // Bundle members are `req$<member>` in the Verilog; Verilator's C++ spells `$` as `__024`.
            req_valid: port("req__024valid"),
            req_ready: port("req__024ready"),
            req_kind: port("req__024kind"),
            req_dst_mac: port("req__024dst_mac"),
            req_dst_ip: port("req__024dst_ip"),
            req_src_port: port("req__024src_port"),
            req_dst_port: port("req__024dst_port"),
            req_seq: port("req__024seq"),
            req_ack: port("req__024ack"),
            req_flags: port("req__024flags"),
            req_window: port("req__024window"),
            req_with_mss: port("req__024with_mss"),
            req_icmp_off: port("req__024icmp_off"),
            req_icmp_len: port("req__024icmp_len"),
            req_icmp_csum: port("req__024icmp_csum"),
            our_mac: port("our_mac"),
            our_ip: port("our_ip"),
            our_mss: port("our_mss"),
            m_tdata: port("m_tdata"),
            m_tkeep: port("m_tkeep"),
            m_tvalid: port("m_tvalid"),
            m_tlast: port("m_tlast"),
            m_tready: port("m_tready"),
            fb_raddr: port("fb_raddr"),
            fb_rdata: port("fb_rdata"),
            busy: port("req__024busy"),
            req_with_ws: port("req__024with_ws"),
            req_ws: port("req__024ws"),
            req_with_sackp: port("req__024with_sackp"),
            req_sack_count: port("req__024sack_count"),
            req_sack_blocks: port("req__024sack_blocks"),
            req_with_ts: port("req__024with_ts"),
            req_tsval: port("req__024tsval"),
            req_tsecr: port("req__024tsecr"),
            req_data_len: port("req__024data_len"),
            req_data_sum: port("req__024data_sum"),
            pl_raddr: port("pl_raddr"),
            pl_rdata: port("pl_rdata"),
        };
        let mut tx = Tx {
            m,
            p,
            fb: vec![0; 2048],
            fb_addr_q: 0,
            pl: vec![0; 2048],
            pl_addr_q: 0,
            frame: Vec::new(),
            frames: VecDeque::new(),
            stalled: None,
        };
        tx.m.set(tx.p.our_mac, mac_u64(&OUR_MAC));
        tx.m.set(tx.p.our_ip, ip_u32(&OUR_IP) as u64);
        tx.m.set(tx.p.our_mss, OUR_MSS as u64);
        tx
    }

    /// One clock with `m_tready = ready`; collects a beat that moved.
    fn cycle(&mut self, ready: bool) {
        let w = self.fb_addr_q as usize * 8;
        let word = self.fb[w..w + 8].iter().fold(0u64, |a, &b| (a << 8) | b as u64);
        self.m.set(self.p.fb_rdata, word);
        let w = self.pl_addr_q as usize * 8;
        let word = self.pl[w..w + 8].iter().fold(0u64, |a, &b| (a << 8) | b as u64);
        self.m.set(self.p.pl_rdata, word);
        self.m.set(self.p.m_tready, ready as u64);
        self.m.cycle();
        self.fb_addr_q = self.m.get(self.p.fb_raddr);
        self.pl_addr_q = self.m.get(self.p.pl_raddr);
        let beat = (self.m.get(self.p.m_tdata), self.m.get(self.p.m_tkeep), self.m.get(self.p.m_tlast));
        if let Some(held) = self.stalled.take() {
            // AXI: a beat offered and not taken stays offered, unchanged.
            assert_eq!(self.m.get(self.p.m_tvalid), 1, "m_tvalid dropped without m_tready");
            assert_eq!(beat, held, "beat changed while stalled");
        }
        if !ready && self.m.get(self.p.m_tvalid) == 1 {
            self.stalled = Some(beat);
        }
        if ready && self.m.get(self.p.m_tvalid) == 1 {
            let data = self.m.get(self.p.m_tdata);
            let keep = self.m.get(self.p.m_tkeep);
            let last = self.m.get(self.p.m_tlast) == 1;
            assert!(keep != 0 && (keep & (keep + 1)) == 0, "tkeep {keep:#04x} not contiguous from bit 0");
            assert!(last || keep == 0xff, "tkeep {keep:#04x} short on a beat that is not the last");
            for i in 0..8 {
                if keep >> i & 1 == 1 {
                    self.frame.push((data >> (8 * i)) as u8);
                }
            }
            if last {
                self.frames.push_back(std::mem::take(&mut self.frame));
            }
        }
    }

    fn drive(&mut self, r: &Req) {
        let p = &self.p;
        let m = &mut self.m;
        m.set(p.req_valid, 1);
        m.set(p.req_dst_mac, mac_u64(&PEER_MAC));
        m.set(p.req_dst_ip, ip_u32(&PEER_IP) as u64);
        match r {
            Req::Tcp { sport, dport, seq, ack, flags, window, mss, dst_ip } => {
                m.set(p.req_kind, KIND_TCP);
                m.set(p.req_dst_ip, ip_u32(dst_ip) as u64);
                m.set(p.req_src_port, *sport as u64);
                m.set(p.req_dst_port, *dport as u64);
                m.set(p.req_seq, *seq as u64);
                m.set(p.req_ack, *ack as u64);
                m.set(p.req_flags, *flags as u64);
                m.set(p.req_window, *window as u64);
                m.set(p.req_with_mss, *mss as u64);
            }
            Req::Arp { dst_mac, dst_ip } => {
                m.set(p.req_kind, KIND_ARP);
                m.set(p.req_dst_mac, mac_u64(dst_mac));
                m.set(p.req_dst_ip, ip_u32(dst_ip) as u64);
            }
            Req::Icmp { off, len, csum, fb } => {
                m.set(p.req_kind, KIND_ICMP);
                m.set(p.req_dst_mac, mac_u64(&fb[6..12]));
                m.set(p.req_dst_ip, ip_u32(&fb[26..30]) as u64);
                m.set(p.req_icmp_off, *off as u64);
                m.set(p.req_icmp_len, *len as u64);
                m.set(p.req_icmp_csum, *csum as u64);
                self.fb.copy_from_slice(fb);
            }
        }
    }

    /// Offers `r` until accepted (with `m_tready` from `ready`), then drops req_valid.
    fn request(&mut self, r: &Req, mut ready: impl FnMut() -> bool) {
        self.drive(r);
        for _ in 0..100_000 {
            self.cycle(ready());
            if self.m.get(self.p.req_ready) == 1 {
                self.m.set(self.p.req_valid, 0);
                // Scramble the request inputs: the block must have latched them.
                for q in [self.p.req_seq, self.p.req_ack, self.p.req_dst_ip, self.p.req_dst_mac, self.p.req_icmp_off] {
                    self.m.set(q, 0x5a5a_5a5a_5a5a);
                }
                return;
            }
        }
        panic!("request never accepted");
    }

    /// Runs until the block is idle and the output drained.
    fn drain(&mut self, mut ready: impl FnMut() -> bool) {
        for _ in 0..100_000 {
            self.cycle(ready());
            if self.m.get(self.p.busy) == 0 {
                return;
            }
        }
        panic!("block never went idle");
    }

    /// Sends `r` with `m_tready` always high and returns the frame.
    fn send(&mut self, r: &Req) -> Vec<u8> {
        self.request(r, || true);
        self.drain(|| true);
        let f = self.frames.pop_front().expect("a frame was emitted");
        assert!(self.frames.is_empty(), "one request, one frame");
        f
    }
}

fn check(r: &Req, f: &[u8]) {
    let want = expected(r);
    assert_eq!(f, &want[..], "frame for {r:?}\n got {f:02x?}\nwant {want:02x?}");
    verify_fields(r, f);
}

#[test]
fn tcp_control_segments_are_exact_with_valid_checksums() {
    let mut tx = Tx::new();
    let cases = [
        tcp_req(SYN | ACK, true),
        tcp_req(ACK, false),
        tcp_req(RST, false),
        tcp_req(RST | ACK, false),
        tcp_req(FIN | ACK, false),
        // Field values that exercise the carries of the checksum sums.
        Req::Tcp {
            sport: 0xffff,
            dport: 0xffff,
            seq: 0xffff_ffff,
            ack: 0xffff_ffff,
            flags: 0xff,
            window: 0xffff,
            mss: true,
            dst_ip: [255, 255, 255, 255],
        },
        Req::Tcp { sport: 0, dport: 0, seq: 0, ack: 0, flags: 0, window: 0, mss: false, dst_ip: [0, 0, 0, 0] },
    ];
    for r in &cases {
        let f = tx.send(r);
        check(r, &f);
    }
}

#[test]
fn arp_reply_is_exact() {
    let mut tx = Tx::new();
    let r = Req::Arp { dst_mac: PEER_MAC, dst_ip: PEER_IP };
    let f = tx.send(&r);
    check(&r, &f);
}

#[test]
fn icmp_echo_reply_from_every_alignment_and_length() {
    let s = holdback_sim::test_seed(0x5458_0001);
    let mut rng = SmallRng::seed_from_u64(s);
    let mut tx = Tx::new();
    // Real frames put the ICMP header at 34 + 4k (IPv4 options); the block
    // takes any offset, so try all eight byte alignments, odd and even lengths.
    for opts in 0..8 {
        for data_len in [0usize, 1, 2, 3, 7, 8, 9, 15, 31, 56, 57, 1471, 1472] {
            let r = echo_request(&mut rng, opts, data_len);
            let f = tx.send(&r);
            check(&r, &f);
        }
    }
    // 40 bytes of IPv4 options (IHL 15), the largest header.
    let r = echo_request(&mut rng, 40, 1001);
    let f = tx.send(&r);
    check(&r, &f);
}

#[test]
fn random_backpressure_and_gaps_keep_frames_exact() {
    let s = holdback_sim::test_seed(0x5458_0002);
    let mut rng = SmallRng::seed_from_u64(s);
    let mut tx = Tx::new();
    let mut sent = Vec::new();
    for i in 0..300 {
        let r = match rng.gen_range(0..4) {
            0 => Req::Arp { dst_mac: PEER_MAC, dst_ip: rng.gen() },
            1 => {
                let (opts, len) = (rng.gen_range(0..11), rng.gen_range(0..200));
                echo_request(&mut rng, opts, len)
            }
            _ => Req::Tcp {
                sport: rng.gen(),
                dport: rng.gen(),
                seq: rng.gen(),
                ack: rng.gen(),
                flags: rng.gen(),
                window: rng.gen(),
                mss: rng.gen(),
                dst_ip: rng.gen(),
            },
        };
        let p_ready = [1.0, 0.9, 0.5, 0.1][i % 4];
        // ICMP copies from the frame buffer, which must stay put until the
        // reply is out (the engine holds the descriptor that long): drain first.
        if matches!(r, Req::Icmp { .. }) {
            let mut rr = rng.clone();
            tx.drain(|| rr.gen_bool(p_ready));
        }
        let mut r1 = SmallRng::seed_from_u64(rng.gen());
        tx.request(&r, || r1.gen_bool(p_ready));
        for _ in 0..rng.gen_range(0..5) {
            tx.cycle(r1.gen_bool(p_ready));
        }
        if matches!(r, Req::Icmp { .. }) {
            tx.drain(|| r1.gen_bool(p_ready));
        }
        sent.push(r);
    }
    let mut rr = SmallRng::seed_from_u64(rng.gen());
    tx.drain(|| rr.gen_bool(0.5));
    assert_eq!(tx.frames.len(), sent.len(), "one frame per request");
    for (r, f) in sent.iter().zip(tx.frames.iter()) {
        check(r, f);
    }
}

#[test]
fn tshark_finds_no_bad_checksums_or_malformed_frames() {
    let mut rng = SmallRng::seed_from_u64(holdback_sim::test_seed(7));
    let mut tx = Tx::new();
    let dir = std::env::temp_dir().join(format!("holdback-tx-tshark-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("tx.pcap");
    let mut pcap = PcapWriter::create(&path).expect("pcap");
    let reqs = vec![
        tcp_req(SYN | ACK, true),
        tcp_req(ACK, false),
        tcp_req(RST | ACK, false),
        tcp_req(FIN | ACK, false),
        Req::Arp { dst_mac: PEER_MAC, dst_ip: PEER_IP },
        echo_request(&mut rng, 0, 56),
        echo_request(&mut rng, 4, 57),
    ];
    for r in &reqs {
        let f = tx.send(r);
        pcap.write(std::time::Duration::from_secs(1), &f).expect("pcap write");
    }
    drop(pcap);
    let out = Command::new("tshark")
        .arg("-r")
        .arg(&path)
        .args(["-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-V"])
        .output()
        .unwrap_or_else(|e| panic!("tshark is needed: `apt-get install -y tshark` ({e})"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "tshark failed: {}", String::from_utf8_lossy(&out.stderr));
    let _ = std::fs::remove_dir_all(&dir);
    for bad in ["Malformed", "Status: Bad", "status: Bad", "[incorrect", "Expert Info (Error"] {
        assert!(!text.contains(bad), "tshark reports `{bad}`:\n{text}");
    }
    // The only warning expected is tshark noting the RST|ACK.
    for line in text.lines().filter(|l| l.contains("Expert Info (Warning")) {
        assert!(line.contains("Connection reset (RST)"), "tshark warns: {line}\n{text}");
    }
    let good_ip = text.matches("[Header checksum status: Good]").count();
    let good_l4 = text.matches("[Checksum Status: Good]").count();
    // 6 IPv4 headers; 4 TCP + 2 ICMP checksums.
    assert_eq!((good_ip, good_l4), (6, 6), "tshark verified ({good_ip}, {good_l4}) checksums:\n{text}");
    assert_eq!(text.matches("Echo (ping) reply").count(), 2, "{text}");
    assert_eq!(text.matches("Opcode: reply (2)").count(), 1, "{text}");
}

#[test]
fn back_to_back_pure_acks_cycles_per_frame() {
    let mut tx = Tx::new();
    let r = tcp_req(ACK, false);
    tx.drive(&r);
    let n = 200;
    let start = tx.m.cycles();
    let mut first_beat = None;
    while tx.frames.len() < n {
        tx.cycle(true);
        if first_beat.is_none() && tx.m.get(tx.p.m_tvalid) == 1 {
            first_beat = Some(tx.m.cycles() - start);
        }
        assert!(tx.m.cycles() - start < 100 * n as u64, "stalled");
    }
    let per_frame = (tx.m.cycles() - start) as f64 / n as f64;
    eprintln!(
        "pure ACK (54 B, 7 beats): {per_frame:.2} cycles/frame back to back; first beat {} cycles after req_valid",
        first_beat.unwrap_or(0)
    );
    for f in &tx.frames {
        check(&r, f);
    }
    // 7 beats, a new frame accepted in the cycle that loads the last beat: line rate.
    assert!(per_frame < 7.05, "{per_frame} cycles per pure ACK");
}

#[test]
fn icmp_and_tcp_back_to_back_under_backpressure() {
    let s = holdback_sim::test_seed(0x5458_0003);
    let mut rng = SmallRng::seed_from_u64(s);
    let mut tx = Tx::new();
    // One frame buffer for the whole run (the engine keeps the echo request
    // in place until its reply is out); replies cut from any offset/length of
    // it, interleaved with TCP segments, offered with no gap.
    let base = echo_request(&mut rng, 0, 1400);
    let Req::Icmp { fb, .. } = &base else { unreachable!() };
    tx.fb.copy_from_slice(fb);
    let mut sent = Vec::new();
    let mut ready_rng = SmallRng::seed_from_u64(rng.gen());
    for i in 0..200 {
        let r = if i % 3 == 2 {
            tcp_req(ACK, rng.gen())
        } else {
            let off = rng.gen_range(34..60);
            let len = rng.gen_range(4..=2048 - off).min(rng.gen_range(4..300));
            let mut m = vec![8, 0, 0, 0];
            m.extend_from_slice(&fb[off + 4..off + len]);
            Req::Icmp { off, len, csum: checksum(&m), fb: fb.clone() }
        };
        let p_ready = [1.0, 0.7, 0.3][i % 3];
        tx.request(&r, || ready_rng.gen_bool(p_ready));
        sent.push(r);
    }
    tx.drain(|| ready_rng.gen_bool(0.5));
    assert_eq!(tx.frames.len(), sent.len(), "one frame per request");
    for (r, f) in sent.iter().zip(tx.frames.iter()) {
        check(r, f);
    }
}

#[test]
fn all_zero_echo_gets_a_checksum_that_verifies() {
    // Identifier 0, sequence 0, no data: the rest of the reply sums to +0, so
    // RFC 1624 eqn. 3 alone would give 0x0000, which a receiver rejects.
    let mut tx = Tx::new();
    let mut fb = vec![0u8; 2048];
    fb[6..12].copy_from_slice(&PEER_MAC);
    fb[26..30].copy_from_slice(&PEER_IP);
    for len in [8usize, 64] {
        let mut m = vec![8u8, 0, 0, 0];
        m.resize(len, 0);
        let r = Req::Icmp { off: 34, len, csum: checksum(&m), fb: fb.clone() };
        let f = tx.send(&r);
        check(&r, &f);
        assert_eq!(be16(&f, 36), 0xffff, "checksum of an all-zero echo reply");
    }
}

/// A TCP request with the option inputs: Timestamps, a SYN-ACK's Window Scale
/// and SACK-permitted (beside the MSS), an ACK's SACK blocks (as asked for:
/// the block may send fewer), a data segment's payload.
#[derive(Clone, Debug, Default)]
struct OptReq {
    flags: u8,
    mss: bool,
    ws: Option<u8>,
    sackp: bool,
    blocks: Vec<(u32, u32)>,
    ts: Option<(u32, u32)>,
    payload: Vec<u8>,
}

const OPT_SEQ: u32 = 0x8000_fff0;
const OPT_ACK: u32 = 0xffff_1234;
const OPT_WINDOW: u16 = 0xfedc;

impl OptReq {
    /// The option bytes as the block must send them: Timestamps first (NOP,
    /// NOP, kind 8, length 10, TSval, TSecr), then the MSS, NOP + Window
    /// Scale and NOP NOP SACK-permitted of a SYN-ACK, or NOP NOP SACK with at
    /// most 4 blocks (3 after Timestamps).
    fn options(&self) -> Vec<u8> {
        let mut o = Vec::new();
        if let Some((tsval, tsecr)) = self.ts {
            o.extend_from_slice(&[1, 1, 8, 10]);
            o.extend_from_slice(&tsval.to_be_bytes());
            o.extend_from_slice(&tsecr.to_be_bytes());
        }
        if self.mss {
            o.extend_from_slice(&[2, 4]);
            o.extend_from_slice(&OUR_MSS.to_be_bytes());
            if let Some(ws) = self.ws {
                o.extend_from_slice(&[1, 3, 3, ws]);
            }
            if self.sackp {
                o.extend_from_slice(&[1, 1, 4, 2]);
            }
        } else if self.payload.is_empty() && !self.blocks.is_empty() {
            let n = self.blocks.len().min(if self.ts.is_some() { 3 } else { 4 });
            o.extend_from_slice(&[1, 1, 5, 2 + 8 * n as u8]);
            for (l, r) in &self.blocks[..n] {
                o.extend_from_slice(&l.to_be_bytes());
                o.extend_from_slice(&r.to_be_bytes());
            }
        }
        o
    }

    fn expected(&self) -> Vec<u8> {
        let opts = self.options();
        let hl = 20 + opts.len();
        let total = 20 + hl + self.payload.len();
        let mut f = Vec::new();
        f.extend_from_slice(&PEER_MAC);
        f.extend_from_slice(&OUR_MAC);
        f.extend_from_slice(&[0x08, 0x00]);
        let mut ip = vec![0x45, 0, (total >> 8) as u8, total as u8, 0, 0, 0x40, 0, 64, 6, 0, 0];
        ip.extend_from_slice(&OUR_IP);
        ip.extend_from_slice(&PEER_IP);
        let c = checksum(&ip);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        f.extend_from_slice(&ip);
        let mut t = Vec::new();
        t.extend_from_slice(&80u16.to_be_bytes());
        t.extend_from_slice(&51514u16.to_be_bytes());
        t.extend_from_slice(&OPT_SEQ.to_be_bytes());
        t.extend_from_slice(&OPT_ACK.to_be_bytes());
        t.extend_from_slice(&[((hl / 4) << 4) as u8, self.flags]);
        t.extend_from_slice(&OPT_WINDOW.to_be_bytes());
        t.extend_from_slice(&[0, 0, 0, 0]);
        t.extend_from_slice(&opts);
        t.extend_from_slice(&self.payload);
        let tcp_len = t.len();
        let mut pseudo = Vec::new();
        pseudo.extend_from_slice(&OUR_IP);
        pseudo.extend_from_slice(&PEER_IP);
        pseudo.extend_from_slice(&[0, 6, (tcp_len >> 8) as u8, tcp_len as u8]);
        pseudo.extend_from_slice(&t);
        let c = checksum(&pseudo);
        t[16..18].copy_from_slice(&c.to_be_bytes());
        f.extend_from_slice(&t);
        f
    }
}

impl Tx {
    fn drive_opt(&mut self, r: &OptReq) {
        let p = &self.p;
        let m = &mut self.m;
        m.set(p.req_valid, 1);
        m.set(p.req_kind, KIND_TCP);
        m.set(p.req_dst_mac, mac_u64(&PEER_MAC));
        m.set(p.req_dst_ip, ip_u32(&PEER_IP) as u64);
        m.set(p.req_src_port, 80);
        m.set(p.req_dst_port, 51514);
        m.set(p.req_seq, OPT_SEQ as u64);
        m.set(p.req_ack, OPT_ACK as u64);
        m.set(p.req_flags, r.flags as u64);
        m.set(p.req_window, OPT_WINDOW as u64);
        m.set(p.req_with_mss, r.mss as u64);
        m.set(p.req_with_ws, r.ws.is_some() as u64);
        m.set(p.req_ws, r.ws.unwrap_or(0) as u64);
        m.set(p.req_with_sackp, r.sackp as u64);
        m.set(p.req_sack_count, r.blocks.len() as u64);
        // Block i's left edge in bits 255-64i..224-64i, its right edge below: word 3 - i.
        let mut words = [0u64; 4];
        for (i, (l, rt)) in r.blocks.iter().enumerate() {
            words[3 - i] = (u64::from(*l) << 32) | u64::from(*rt);
        }
        m.set_wide(p.req_sack_blocks, &words);
        m.set(p.req_with_ts, r.ts.is_some() as u64);
        let (tsval, tsecr) = r.ts.unwrap_or((0x5a5a_5a5a, 0xa5a5_a5a5));
        m.set(p.req_tsval, tsval as u64);
        m.set(p.req_tsecr, tsecr as u64);
        m.set(p.req_data_len, r.payload.len() as u64);
        m.set(p.req_data_sum, ones_sum(&r.payload) as u64);
        self.pl.fill(0xee);
        self.pl[..r.payload.len()].copy_from_slice(&r.payload);
    }

    fn send_opt(&mut self, r: &OptReq) -> Vec<u8> {
        self.drive_opt(r);
        for _ in 0..100_000 {
            self.cycle(true);
            if self.m.get(self.p.req_ready) == 1 {
                self.m.set(self.p.req_valid, 0);
                // Scramble the option inputs: the block must have latched them.
                for q in [self.p.req_tsval, self.p.req_tsecr, self.p.req_sack_count, self.p.req_with_ts, self.p.req_data_len] {
                    self.m.set(q, 0x5a5a_5a5a);
                }
                self.m.set_wide(self.p.req_sack_blocks, &[u64::MAX; 4]);
                self.drain(|| true);
                let f = self.frames.pop_front().expect("a frame was emitted");
                assert!(self.frames.is_empty(), "one request, one frame");
                return f;
            }
        }
        panic!("request never accepted");
    }
}

/// Sends `r`, compares the frame byte for byte and parses it (every checksum
/// verified), returning the parsed TCP header and payload.
fn check_opt(tx: &mut Tx, r: &OptReq) -> (holdback_sim::wire::TcpRepr, Vec<u8>) {
    let f = tx.send_opt(r);
    let want = r.expected();
    assert_eq!(f, want, "frame for {r:?}\n got {f:02x?}\nwant {want:02x?}");
    let frame = holdback_sim::wire::Frame::parse(&f).unwrap_or_else(|e| panic!("{r:?}: does not parse: {e}"));
    let (_, t, payload) = frame.tcp().unwrap_or_else(|| panic!("{r:?}: not TCP"));
    assert_eq!(t.timestamps(), r.ts, "Timestamps option of {r:?}");
    assert_eq!(payload, &r.payload[..], "payload of {r:?}");
    (t.clone(), payload.to_vec())
}

const TS: Option<(u32, u32)> = Some((0xfedc_ba98, 0x0123_4567));

#[test]
fn timestamps_lead_the_options_of_acks_and_cap_sack_at_three_blocks() {
    let mut tx = Tx::new();
    let blocks = [(0x1000_0000u32, 0x1000_05b4u32), (0xffff_f000, 0x0000_0010), (0x2000_0000, 0x2000_0001), (0x3000_0000, 0x3000_ffff)];
    // A pure ACK: 12 option bytes, data offset 8, 66 bytes.
    let ack = OptReq { flags: ACK, ts: TS, ..Default::default() };
    let (t, _) = check_opt(&mut tx, &ack);
    assert_eq!(t.options.len(), 12);
    // TSvals at the wrap, all-ones fields (the sums' carries).
    for ts in [(0, 0), (u32::MAX, u32::MAX), (0xffff_0000, 0x0000_ffff)] {
        check_opt(&mut tx, &OptReq { flags: ACK | FIN, ts: Some(ts), ..Default::default() });
    }
    // SACK beside timestamps: 3 blocks fit the 40 option bytes, the 4th asked for is left out.
    for n in 1..=4 {
        let r = OptReq { flags: ACK, ts: TS, blocks: blocks[..n].to_vec(), ..Default::default() };
        let (t, _) = check_opt(&mut tx, &r);
        let sent: Vec<(u32, u32)> = t.sack_blocks().iter().map(|(l, r)| (l.0, r.0)).collect();
        assert_eq!(sent, blocks[..n.min(3)].to_vec(), "{n} blocks asked for with timestamps");
        assert!(t.options.len() <= 40);
    }
    // Without timestamps 4 still go.
    let (t, _) = check_opt(&mut tx, &OptReq { flags: ACK, blocks: blocks.to_vec(), ..Default::default() });
    assert_eq!(t.sack_blocks().len(), 4);
    assert_eq!(t.timestamps(), None);
}

#[test]
fn timestamps_lead_a_syn_acks_mss_window_scale_and_sack_permitted() {
    let mut tx = Tx::new();
    for (ws, sackp) in [(Some(7), true), (None, true), (Some(14), false), (None, false)] {
        let r = OptReq { flags: SYN | ACK, mss: true, ws, sackp, ts: TS, ..Default::default() };
        let (t, _) = check_opt(&mut tx, &r);
        assert_eq!((t.mss(), t.wscale(), t.sack_permitted()), (Some(OUR_MSS), ws, sackp), "{r:?}");
        // Without timestamps: exactly today's options.
        let plain = OptReq { ts: None, ..r };
        let (t, _) = check_opt(&mut tx, &plain);
        assert_eq!((t.mss(), t.wscale(), t.sack_permitted(), t.timestamps()), (Some(OUR_MSS), ws, sackp, None));
    }
}

#[test]
fn data_segments_carry_timestamps_before_their_payload() {
    let s = holdback_sim::test_seed(0x5458_0007);
    let mut rng = SmallRng::seed_from_u64(s);
    let mut tx = Tx::new();
    for len in [1usize, 7, 8, 9, 15, 16, 17, 1460] {
        let payload: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        for ts in [TS, None] {
            let r = OptReq { flags: ACK | 0x08, ts, payload: payload.clone(), ..Default::default() };
            let (t, _) = check_opt(&mut tx, &r);
            assert_eq!(t.options.len(), if ts.is_some() { 12 } else { 0 }, "{len} bytes");
        }
    }
    // SACK blocks never ride on data, timestamps or not.
    let r = OptReq { flags: ACK, ts: TS, payload: vec![0xff; 8], blocks: vec![(1, 2)], ..Default::default() };
    check_opt(&mut tx, &r);
}
