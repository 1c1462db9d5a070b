//! Ethernet / ARP / IPv4 / TCP / ICMP-echo frames, built and parsed with checksums.
//!
//! The packet views and every checksum come from smoltcp's `wire` module
//! (`EthernetFrame`, `ArpPacket`, `Ipv4Packet`, `TcpPacket`, `Icmpv4Packet`
//! over any `T: AsRef<[u8]>`): the reference model judges the RTL's parser
//! with a parser written by others, not one written beside the RTL. smoltcp
//! rather than etherparse because its views have a setter for every field,
//! which the corruption helpers need to break exactly one of them, and its
//! `Packet`/`Repr` shape is the one this crate was already written in.
//!
//! What stays here are plain-value *reprs* (`Ipv4Repr`, `TcpRepr`, …) that
//! keep every field, options and Ethernet padding included, so that parse →
//! emit is byte-exact, and the typed [`WireError`] that names what was wrong.
//! [`Frame`] ties the layers together for whole frames. Hand-written on
//! purpose, each in a file of its own: [`corrupt`] breaks exactly one thing in
//! a valid frame (each helper repairs every *other* checksum, so a test hits
//! one drop reason), [`fuzz`] draws seeded random frames, [`describe`] lists
//! every field of any frame, valid or not, for readable diffs, and
//! [`checksum`] holds the core's incremental ICMP checksum update.
//!
//! Nothing here panics on any input: lengths are checked before every access.
use std::fmt;
use std::net::Ipv4Addr;

use holdback_regmap::tcp_flags;
use smoltcp::wire::{ArpHardware, ArpOperation, EthernetAddress, EthernetProtocol, IpAddress, IpProtocol, TcpSeqNumber};

pub use smoltcp::wire::{ArpPacket, EthernetFrame, Icmpv4Packet, Ipv4Packet, TcpPacket};

/// Why a frame could not be parsed. Each variant carries what was found, so a
/// failing test says which byte was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("{layer} truncated: needs {need} bytes, has {have}")]
    Truncated { layer: &'static str, need: usize, have: usize },
    #[error("unknown ethertype {0:#06x}")]
    UnknownEthertype(u16),
    #[error("unsupported ARP: htype {htype}, ptype {ptype:#06x}, hlen {hlen}, plen {plen}, oper {oper}")]
    UnsupportedArp { htype: u16, ptype: u16, hlen: u8, plen: u8, oper: u16 },
    #[error("IPv4 version field is {0}, not 4")]
    BadIpVersion(u8),
    #[error("IPv4 IHL {0} is below 5")]
    BadIhl(u8),
    #[error("IPv4 total length {total_len} is below the header length {header_len}")]
    BadTotalLen { total_len: u16, header_len: usize },
    #[error("IPv4 header checksum {found:#06x}, expected {expected:#06x}")]
    BadIpChecksum { found: u16, expected: u16 },
    #[error("IPv4 fragment (more fragments {more_frags}, offset {offset})")]
    Fragment { more_frags: bool, offset: u16 },
    #[error("TCP data offset {doff} words does not fit a {tcp_len}-byte segment")]
    BadTcpDataOffset { doff: u8, tcp_len: usize },
    #[error("TCP checksum {found:#06x}, expected {expected:#06x}")]
    BadTcpChecksum { found: u16, expected: u16 },
    #[error("ICMP checksum {found:#06x}, expected {expected:#06x}")]
    BadIcmpChecksum { found: u16, expected: u16 },
    #[error("ICMP type {ty} code {code} is not an echo request or reply")]
    UnsupportedIcmp { ty: u8, code: u8 },
    #[error("unsupported IPv4 protocol {0}")]
    UnsupportedProtocol(u8),
}

pub type Result<T> = std::result::Result<T, WireError>;

fn need(layer: &'static str, buf: &[u8], len: usize) -> Result<()> {
    if buf.len() < len {
        Err(WireError::Truncated { layer, need: len, have: buf.len() })
    } else {
        Ok(())
    }
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

pub mod checksum;

// ---------------------------------------------------------------- addresses, sequence numbers

/// The register map's own types: one definition for the RTL's tests, the
/// model, the driver and the daemon.
pub use holdback_regmap::{MacAddr, SeqNum};

/// smoltcp's sequence number as ours (the same 32 bits).
pub fn seq_from_wire(n: TcpSeqNumber) -> SeqNum {
    SeqNum(n.0 as u32)
}

fn seq_to_wire(n: SeqNum) -> TcpSeqNumber {
    TcpSeqNumber(n.0 as i32)
}

/// smoltcp's Ethernet address as ours.
pub fn mac_from_wire(a: EthernetAddress) -> MacAddr {
    MacAddr(a.0)
}

fn ip_addr(a: Ipv4Addr) -> IpAddress {
    IpAddress::Ipv4(a)
}

// ---------------------------------------------------------------- Ethernet

pub mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const ARP: u16 = 0x0806;
    pub const IPV6: u16 = 0x86dd;
}

/// Length of the Ethernet header.
pub const ETH_HEADER_LEN: usize = smoltcp::wire::ETHERNET_HEADER_LEN;

/// The Ethernet header as values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthernetRepr {
    pub src: MacAddr,
    pub dst: MacAddr,
    pub ethertype: u16,
}

impl EthernetRepr {
    pub fn parse<T: AsRef<[u8]>>(f: &EthernetFrame<T>) -> Result<EthernetRepr> {
        need("Ethernet header", f.as_ref(), ETH_HEADER_LEN)?;
        Ok(EthernetRepr { src: mac_from_wire(f.src_addr()), dst: mac_from_wire(f.dst_addr()), ethertype: u16::from(f.ethertype()) })
    }
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, f: &mut EthernetFrame<T>) {
        f.set_dst_addr(EthernetAddress(self.dst.0));
        f.set_src_addr(EthernetAddress(self.src.0));
        f.set_ethertype(EthernetProtocol::from(self.ethertype));
    }
}

// ---------------------------------------------------------------- ARP

/// Length of an Ethernet/IPv4 ARP packet.
pub const ARP_LEN: usize = 28;

pub mod arp_oper {
    pub const REQUEST: u16 = 1;
    pub const REPLY: u16 = 2;
}

/// An Ethernet/IPv4 ARP request or reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpRepr {
    pub oper: u16,
    pub sha: MacAddr,
    pub spa: Ipv4Addr,
    pub tha: MacAddr,
    pub tpa: Ipv4Addr,
}

impl ArpRepr {
    /// Parse an Ethernet/IPv4 request or reply (anything else is refused with
    /// its header fields).
    pub fn parse<T: AsRef<[u8]>>(p: &ArpPacket<T>) -> Result<ArpRepr> {
        need("ARP packet", p.as_ref(), ARP_LEN)?;
        let (htype, ptype, hlen, plen, oper) =
            (u16::from(p.hardware_type()), u16::from(p.protocol_type()), p.hardware_len(), p.protocol_len(), u16::from(p.operation()));
        if htype != 1 || ptype != ethertype::IPV4 || hlen != 6 || plen != 4 || !(1..=2).contains(&oper) {
            return Err(WireError::UnsupportedArp { htype, ptype, hlen, plen, oper });
        }
        let mac = |b: &[u8]| MacAddr(b.try_into().expect("hlen is 6"));
        let ip = |b: &[u8]| Ipv4Addr::from(<[u8; 4]>::try_from(b).expect("plen is 4"));
        Ok(ArpRepr {
            oper,
            sha: mac(p.source_hardware_addr()),
            spa: ip(p.source_protocol_addr()),
            tha: mac(p.target_hardware_addr()),
            tpa: ip(p.target_protocol_addr()),
        })
    }
    /// Writes the 28 bytes into `buf` (which must hold them).
    pub fn emit(&self, buf: &mut [u8]) {
        let mut p = ArpPacket::new_unchecked(buf);
        p.set_hardware_type(ArpHardware::Ethernet);
        p.set_protocol_type(EthernetProtocol::Ipv4);
        p.set_hardware_len(6);
        p.set_protocol_len(4);
        p.set_operation(ArpOperation::from(self.oper));
        p.set_source_hardware_addr(&self.sha.0);
        p.set_source_protocol_addr(&self.spa.octets());
        p.set_target_hardware_addr(&self.tha.0);
        p.set_target_protocol_addr(&self.tpa.octets());
    }
}

// ---------------------------------------------------------------- IPv4

/// Length of an IPv4 header without options.
pub const IPV4_HEADER_LEN: usize = smoltcp::wire::IPV4_HEADER_LEN;

pub mod ip_protocol {
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
}

/// The checks of [`Ipv4Packet::check_len`], each with its own error: fixed
/// header, version, IHL, IHL-sized header, total length (the one place a
/// frame's IPv4 header is judged, so the errors say which byte was wrong).
pub fn check_ipv4<T: AsRef<[u8]>>(p: &Ipv4Packet<T>) -> Result<()> {
    let b = p.as_ref();
    need("IPv4 header", b, IPV4_HEADER_LEN)?;
    if p.version() != 4 {
        return Err(WireError::BadIpVersion(p.version()));
    }
    let header_len = usize::from(p.header_len());
    if header_len < IPV4_HEADER_LEN {
        return Err(WireError::BadIhl(p.header_len() / 4));
    }
    need("IPv4 header with options", b, header_len)?;
    if usize::from(p.total_len()) < header_len {
        return Err(WireError::BadTotalLen { total_len: p.total_len(), header_len });
    }
    need("IPv4 total length", b, usize::from(p.total_len()))
}

/// The header checksum `p` should carry (smoltcp's, computed on a copy);
/// the header must fit the buffer.
pub fn expected_ipv4_checksum<T: AsRef<[u8]>>(p: &Ipv4Packet<T>) -> u16 {
    let mut header = p.as_ref()[..usize::from(p.header_len())].to_vec();
    let mut copy = Ipv4Packet::new_unchecked(&mut header[..]);
    copy.fill_checksum();
    copy.checksum()
}

/// An IPv4 header as values. Emitted headers carry no options unless
/// `options` is non-empty (it must then be a multiple of 4 bytes long).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv4Repr {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    /// Bytes after the header, up to the total length.
    pub payload_len: usize,
    pub dscp_ecn: u8,
    pub ident: u16,
    pub dont_frag: bool,
    pub ttl: u8,
    pub options: Vec<u8>,
}

impl Ipv4Repr {
    /// The header the core puts on everything it sends: ID 0, DF, TTL 64, no options.
    pub fn new(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, payload_len: usize) -> Ipv4Repr {
        Ipv4Repr { src, dst, protocol, payload_len, dscp_ecn: 0, ident: 0, dont_frag: true, ttl: 64, options: Vec::new() }
    }

    /// Parse a packet: lengths checked, checksum verified, fragments refused.
    pub fn parse<T: AsRef<[u8]>>(p: &Ipv4Packet<T>) -> Result<Ipv4Repr> {
        check_ipv4(p)?;
        if !p.verify_checksum() {
            return Err(WireError::BadIpChecksum { found: p.checksum(), expected: expected_ipv4_checksum(p) });
        }
        if p.more_frags() || p.frag_offset() != 0 {
            return Err(WireError::Fragment { more_frags: p.more_frags(), offset: p.frag_offset() / 8 });
        }
        let header_len = usize::from(p.header_len());
        Ok(Ipv4Repr {
            src: p.src_addr(),
            dst: p.dst_addr(),
            protocol: u8::from(p.next_header()),
            payload_len: usize::from(p.total_len()) - header_len,
            dscp_ecn: (p.dscp() << 2) | p.ecn(),
            ident: p.ident(),
            dont_frag: p.dont_frag(),
            ttl: p.hop_limit(),
            options: p.as_ref()[IPV4_HEADER_LEN..header_len].to_vec(),
        })
    }

    pub fn header_len(&self) -> usize {
        IPV4_HEADER_LEN + self.options.len()
    }

    /// Writes the header (with checksum) into the start of `buf`.
    pub fn emit(&self, buf: &mut [u8]) {
        let hl = self.header_len();
        buf[IPV4_HEADER_LEN..hl].copy_from_slice(&self.options);
        let mut p = Ipv4Packet::new_unchecked(buf);
        p.set_version(4);
        p.set_header_len(hl as u8);
        p.set_dscp(self.dscp_ecn >> 2);
        p.set_ecn(self.dscp_ecn & 3);
        p.set_total_len((hl + self.payload_len) as u16);
        p.set_ident(self.ident);
        p.clear_flags();
        p.set_dont_frag(self.dont_frag);
        p.set_frag_offset(0);
        p.set_hop_limit(self.ttl);
        p.set_next_header(IpProtocol::from(self.protocol));
        p.set_src_addr(self.src);
        p.set_dst_addr(self.dst);
        p.fill_checksum();
    }
}

// ---------------------------------------------------------------- TCP

/// Length of a TCP header without options.
pub const TCP_HEADER_LEN: usize = smoltcp::wire::TCP_HEADER_LEN;

/// The TCP flags byte (bit 0 FIN … bit 7 CWR).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: TcpFlags = TcpFlags(tcp_flags::FIN);
    pub const SYN: TcpFlags = TcpFlags(tcp_flags::SYN);
    pub const RST: TcpFlags = TcpFlags(tcp_flags::RST);
    pub const PSH: TcpFlags = TcpFlags(tcp_flags::PSH);
    pub const ACK: TcpFlags = TcpFlags(tcp_flags::ACK);
    pub const URG: TcpFlags = TcpFlags(tcp_flags::URG);
    pub const ECE: TcpFlags = TcpFlags(tcp_flags::ECE);
    pub const CWR: TcpFlags = TcpFlags(tcp_flags::CWR);
    pub const NONE: TcpFlags = TcpFlags(0);

    pub fn contains(self, f: TcpFlags) -> bool {
        self.0 & f.0 == f.0
    }
    pub fn fin(self) -> bool {
        self.contains(Self::FIN)
    }
    pub fn syn(self) -> bool {
        self.contains(Self::SYN)
    }
    pub fn rst(self) -> bool {
        self.contains(Self::RST)
    }
    pub fn ack(self) -> bool {
        self.contains(Self::ACK)
    }
}

impl std::ops::BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, o: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | o.0)
    }
}

impl fmt::Display for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [&str; 8] = ["FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"];
        let set: Vec<&str> = (0..8).filter(|b| self.0 & (1 << b) != 0).map(|b| NAMES[b]).collect();
        if set.is_empty() { write!(f, "-") } else { write!(f, "{}", set.join("|")) }
    }
}
impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}


impl TcpFlags {
    /// The flags byte of a segment (smoltcp reads the flags one at a time).
    pub fn of<T: AsRef<[u8]>>(s: &TcpPacket<T>) -> TcpFlags {
        let bits = [s.fin(), s.syn(), s.rst(), s.psh(), s.ack(), s.urg(), s.ece(), s.cwr()];
        TcpFlags(bits.iter().enumerate().fold(0u8, |acc, (i, set)| acc | (u8::from(*set) << i)))
    }
    /// Writes the flags byte into a segment.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(self, s: &mut TcpPacket<T>) {
        s.clear_flags();
        s.set_fin(self.fin());
        s.set_syn(self.syn());
        s.set_rst(self.rst());
        s.set_psh(self.contains(Self::PSH));
        s.set_ack(self.ack());
        s.set_urg(self.contains(Self::URG));
        s.set_ece(self.contains(Self::ECE));
        s.set_cwr(self.contains(Self::CWR));
    }
}

/// The checks of [`TcpPacket::check_len`], each with its own error: the
/// buffer must be exactly the TCP segment (the IPv4 payload).
pub fn check_tcp<T: AsRef<[u8]>>(s: &TcpPacket<T>) -> Result<()> {
    let b = s.as_ref();
    need("TCP header", b, TCP_HEADER_LEN)?;
    let header_len = usize::from(s.header_len());
    if header_len < TCP_HEADER_LEN || header_len > b.len() {
        return Err(WireError::BadTcpDataOffset { doff: s.header_len() / 4, tcp_len: b.len() });
    }
    Ok(())
}

/// The checksum segment `s` should carry over the pseudo-header of `src` →
/// `dst` (smoltcp's, computed on a copy).
pub fn expected_tcp_checksum<T: AsRef<[u8]>>(s: &TcpPacket<T>, src: Ipv4Addr, dst: Ipv4Addr) -> u16 {
    let mut bytes = s.as_ref().to_vec();
    let mut copy = TcpPacket::new_unchecked(&mut bytes[..]);
    copy.fill_checksum(&ip_addr(src), &ip_addr(dst));
    copy.checksum()
}

/// Whether segment `s` carries the right checksum for `src` → `dst`.
pub fn verify_tcp_checksum<T: AsRef<[u8]>>(s: &TcpPacket<T>, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
    s.verify_checksum(&ip_addr(src), &ip_addr(dst))
}

/// The MSS option value in raw TCP options, scanning kinds as RFC 9293 §3.2
/// lays them out (0 ends the list, 1 is one byte, others carry a length ≥ 2).
/// Malformed lists end the scan; `None` if no well-formed MSS option was seen.
/// Hand-written: this is the core's `rx_opt_scan` rule (an MSS option of
/// another length is skipped, not fatal), which smoltcp's option parser,
/// refusing such a list, does not share.
pub fn tcp_options_mss(options: &[u8]) -> Option<u16> {
    tcp_option(options, 2, 4).map(|v| be16(v, 0))
}

/// Window scaling: the shift of the first Window Scale option (kind 3,
/// length 3, RFC 7323 §2.2) in raw TCP options, as sent (a receiver caps it
/// at 14), scanning as [`tcp_options_mss`] does; `None` if there is none.
pub fn tcp_options_wscale(options: &[u8]) -> Option<u8> {
    tcp_option(options, 3, 3).map(|v| v[0])
}

/// SACK (RFC 2018 §2): the options hold a SACK-permitted option (kind 4,
/// length 2), scanning as [`tcp_options_mss`] does.
pub fn tcp_options_sack_permitted(options: &[u8]) -> bool {
    tcp_option(options, 4, 2).is_some()
}

/// Timestamps (RFC 7323 §3.2): (TSval, TSecr) of the first Timestamps
/// option (kind 8, length 10) in raw TCP options, scanning as
/// [`tcp_options_mss`] does; `None` if there is none.
pub fn tcp_options_timestamps(options: &[u8]) -> Option<(u32, u32)> {
    tcp_option(options, 8, 10).map(|v| (be32(v, 0), be32(v, 4)))
}

/// SACK (RFC 2018 §3): the blocks of the first SACK option (kind 5), in the
/// order sent; empty if there is none or its length is not 2 + 8n.
pub fn tcp_options_sack_blocks(options: &[u8]) -> Vec<(SeqNum, SeqNum)> {
    (1..=4)
        .find_map(|n| tcp_option(options, 5, 2 + 8 * n))
        .map(|v| v.chunks_exact(8).map(|b| (SeqNum(be32(b, 0)), SeqNum(be32(b, 4)))).collect())
        .unwrap_or_default()
}

/// The value bytes of the first option of `kind` with length `len` (options
/// of that kind with another length are skipped), as the core's
/// `rx_opt_scan` walks the list.
fn tcp_option(options: &[u8], kind: u8, len: usize) -> Option<&[u8]> {
    let mut i = 0;
    while i < options.len() {
        match options[i] {
            0 => return None,
            1 => i += 1,
            k => {
                let l = usize::from(*options.get(i + 1)?);
                if l < 2 || i + l > options.len() {
                    return None;
                }
                if k == kind && l == len {
                    return Some(&options[i + 2..i + l]);
                }
                i += l;
            }
        }
    }
    None
}

/// A TCP header as values. `options` are the raw option bytes (a multiple of
/// four long when emitted), kept raw so that parse → emit is exact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpRepr {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: SeqNum,
    /// The acknowledgment field as on the wire (meaningful only with ACK set).
    pub ack: SeqNum,
    pub flags: TcpFlags,
    pub window: u16,
    pub urgent: u16,
    pub options: Vec<u8>,
}

impl TcpRepr {
    pub fn new(src_port: u16, dst_port: u16, seq: SeqNum, ack: SeqNum, flags: TcpFlags, window: u16) -> TcpRepr {
        TcpRepr { src_port, dst_port, seq, ack, flags, window, urgent: 0, options: Vec::new() }
    }
    /// Adds an MSS option (kind 2, length 4) — data offset 6.
    pub fn with_mss(mut self, mss: u16) -> TcpRepr {
        self.options.extend_from_slice(&[2, 4]);
        self.options.extend_from_slice(&mss.to_be_bytes());
        self
    }
    /// Window scaling: adds NOP and a Window Scale option (kind 3, length 3)
    /// — four bytes, as the core appends it after the MSS option.
    pub fn with_wscale(mut self, shift: u8) -> TcpRepr {
        self.options.extend_from_slice(&[1, 3, 3, shift]);
        self
    }
    /// SACK: NOP, NOP and SACK-permitted (kind 4, length 2) — four bytes, as
    /// the core appends it to a SYN-ACK after the MSS and Window Scale.
    pub fn with_sack_permitted(mut self) -> TcpRepr {
        self.options.extend_from_slice(&[1, 1, 4, 2]);
        self
    }
    /// SACK (RFC 2018 §3): NOP, NOP and a SACK option with `blocks` (1-4), as the core sends it in an ACK.
    pub fn with_sack_blocks(mut self, blocks: &[(SeqNum, SeqNum)]) -> TcpRepr {
        self.options.extend_from_slice(&[1, 1, 5, 2 + 8 * blocks.len() as u8]);
        for (left, right) in blocks {
            self.options.extend_from_slice(&left.0.to_be_bytes());
            self.options.extend_from_slice(&right.0.to_be_bytes());
        }
        self
    }
    /// Timestamps: NOP, NOP and a Timestamps option (kind 8, length 10, RFC
    /// 7323 §3.2) — twelve bytes, the layout of RFC 7323 Appendix A.
    pub fn with_timestamps(mut self, tsval: u32, tsecr: u32) -> TcpRepr {
        self.options.extend_from_slice(&[1, 1, 8, 10]);
        self.options.extend_from_slice(&tsval.to_be_bytes());
        self.options.extend_from_slice(&tsecr.to_be_bytes());
        self
    }
    /// Timestamps: (TSval, TSecr) of the segment's Timestamps option, as sent.
    pub fn timestamps(&self) -> Option<(u32, u32)> {
        tcp_options_timestamps(&self.options)
    }
    pub fn mss(&self) -> Option<u16> {
        tcp_options_mss(&self.options)
    }
    /// SACK: the segment offers SACK-permitted.
    pub fn sack_permitted(&self) -> bool {
        tcp_options_sack_permitted(&self.options)
    }
    /// SACK: the blocks of the segment's SACK option, as sent.
    pub fn sack_blocks(&self) -> Vec<(SeqNum, SeqNum)> {
        tcp_options_sack_blocks(&self.options)
    }
    /// Window scaling: the shift of the segment's Window Scale option, as sent.
    pub fn wscale(&self) -> Option<u8> {
        tcp_options_wscale(&self.options)
    }
    pub fn header_len(&self) -> usize {
        TCP_HEADER_LEN + self.options.len()
    }
    /// Sequence space the segment occupies: payload plus one each for SYN and FIN.
    pub fn seq_len(&self, payload_len: usize) -> u32 {
        payload_len as u32 + u32::from(self.flags.syn()) + u32::from(self.flags.fin())
    }

    /// Parse a segment (the whole IPv4 payload), verifying the checksum
    /// against the pseudo-header.
    pub fn parse<T: AsRef<[u8]>>(s: &TcpPacket<T>, src: Ipv4Addr, dst: Ipv4Addr) -> Result<TcpRepr> {
        check_tcp(s)?;
        if !verify_tcp_checksum(s, src, dst) {
            return Err(WireError::BadTcpChecksum { found: s.checksum(), expected: expected_tcp_checksum(s, src, dst) });
        }
        Ok(TcpRepr {
            src_port: s.src_port(),
            dst_port: s.dst_port(),
            seq: seq_from_wire(s.seq_number()),
            ack: seq_from_wire(s.ack_number()),
            flags: TcpFlags::of(s),
            window: s.window_len(),
            urgent: s.urgent_at(),
            options: s.as_ref()[TCP_HEADER_LEN..usize::from(s.header_len())].to_vec(),
        })
    }

    /// Writes header, options and `payload` into `buf` (exactly the segment's
    /// length) with the checksum over the pseudo-header.
    pub fn emit(&self, buf: &mut [u8], payload: &[u8], src: Ipv4Addr, dst: Ipv4Addr) {
        let hl = self.header_len();
        buf[TCP_HEADER_LEN..hl].copy_from_slice(&self.options);
        buf[hl..hl + payload.len()].copy_from_slice(payload);
        let mut s = TcpPacket::new_unchecked(&mut buf[..hl + payload.len()]);
        s.set_src_port(self.src_port);
        s.set_dst_port(self.dst_port);
        s.set_seq_number(seq_to_wire(self.seq));
        s.set_ack_number(seq_to_wire(self.ack));
        s.set_header_len(hl as u8);
        self.flags.emit(&mut s);
        s.set_window_len(self.window);
        s.set_urgent_at(self.urgent);
        s.fill_checksum(&ip_addr(src), &ip_addr(dst));
    }
}

// ---------------------------------------------------------------- ICMP echo

pub mod icmp_type {
    pub const ECHO_REPLY: u8 = 0;
    pub const ECHO_REQUEST: u8 = 8;
}

/// An ICMP echo request or reply (RFC 792). `data` is everything after the
/// identifier and sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcmpEchoRepr {
    pub request: bool,
    pub ident: u16,
    pub seq_no: u16,
    pub data: Vec<u8>,
}

/// Length of the ICMP echo header (type, code, checksum, identifier, sequence).
pub const ICMP_ECHO_HEADER_LEN: usize = 8;

impl IcmpEchoRepr {
    /// Parse the ICMP message (the whole IPv4 payload), verifying its checksum.
    pub fn parse(msg: &[u8]) -> Result<IcmpEchoRepr> {
        need("ICMP echo", msg, ICMP_ECHO_HEADER_LEN)?;
        let p = Icmpv4Packet::new_unchecked(msg);
        let (ty, code) = (u8::from(p.msg_type()), p.msg_code());
        if code != 0 || (ty != icmp_type::ECHO_REQUEST && ty != icmp_type::ECHO_REPLY) {
            return Err(WireError::UnsupportedIcmp { ty, code });
        }
        if !p.verify_checksum() {
            let mut copy = msg.to_vec();
            let mut fixed = Icmpv4Packet::new_unchecked(&mut copy[..]);
            fixed.fill_checksum();
            return Err(WireError::BadIcmpChecksum { found: p.checksum(), expected: fixed.checksum() });
        }
        Ok(IcmpEchoRepr { request: ty == icmp_type::ECHO_REQUEST, ident: p.echo_ident(), seq_no: p.echo_seq_no(), data: p.data().to_vec() })
    }
    pub fn len(&self) -> usize {
        ICMP_ECHO_HEADER_LEN + self.data.len()
    }
    pub fn is_empty(&self) -> bool {
        false
    }
    pub fn emit(&self, buf: &mut [u8]) {
        buf[ICMP_ECHO_HEADER_LEN..self.len()].copy_from_slice(&self.data);
        let mut p = Icmpv4Packet::new_unchecked(&mut buf[..self.len()]);
        p.set_msg_type(if self.request { icmp_type::ECHO_REQUEST } else { icmp_type::ECHO_REPLY }.into());
        p.set_msg_code(0);
        p.set_echo_ident(self.ident);
        p.set_echo_seq_no(self.seq_no);
        p.fill_checksum();
    }
}

// ---------------------------------------------------------------- whole frames

/// What an IPv4 packet carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ipv4Body {
    Tcp { tcp: TcpRepr, payload: Vec<u8> },
    IcmpEcho(IcmpEchoRepr),
}

/// What an Ethernet frame carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameBody {
    Arp(ArpRepr),
    Ipv4 { ip: Ipv4Repr, body: Ipv4Body },
}

/// A whole frame as values. `padding` is the Ethernet padding after the IPv4
/// total length (or the ARP packet), kept so parse → emit is exact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub eth: EthernetRepr,
    pub body: FrameBody,
    pub padding: Vec<u8>,
}

impl Frame {
    /// Parse and verify a whole frame (every checksum, no fragments). Never panics.
    pub fn parse(bytes: &[u8]) -> Result<Frame> {
        let ef = EthernetFrame::new_unchecked(bytes);
        let eth = EthernetRepr::parse(&ef)?;
        let l3 = &bytes[ETH_HEADER_LEN..];
        match eth.ethertype {
            ethertype::ARP => {
                let arp = ArpRepr::parse(&ArpPacket::new_unchecked(l3))?;
                Ok(Frame { eth, body: FrameBody::Arp(arp), padding: l3[ARP_LEN..].to_vec() })
            }
            ethertype::IPV4 => {
                let p = Ipv4Packet::new_unchecked(l3);
                let ip = Ipv4Repr::parse(&p)?;
                let l4 = &l3[ip.header_len()..usize::from(p.total_len())];
                let body = match ip.protocol {
                    ip_protocol::TCP => {
                        let s = TcpPacket::new_unchecked(l4);
                        let tcp = TcpRepr::parse(&s, ip.src, ip.dst)?;
                        Ipv4Body::Tcp { tcp, payload: l4[usize::from(s.header_len())..].to_vec() }
                    }
                    ip_protocol::ICMP => Ipv4Body::IcmpEcho(IcmpEchoRepr::parse(l4)?),
                    other => return Err(WireError::UnsupportedProtocol(other)),
                };
                let padding = l3[usize::from(p.total_len())..].to_vec();
                Ok(Frame { eth, body: FrameBody::Ipv4 { ip, body }, padding })
            }
            other => Err(WireError::UnknownEthertype(other)),
        }
    }

    /// The frame's bytes, every length and checksum filled in from the reprs
    /// (`ip.payload_len` is recomputed from the body).
    pub fn emit(&self) -> Vec<u8> {
        let mut out = vec![0u8; ETH_HEADER_LEN];
        let mut eth = self.eth;
        match &self.body {
            FrameBody::Arp(arp) => {
                eth.ethertype = ethertype::ARP;
                let mut p = [0u8; ARP_LEN];
                arp.emit(&mut p);
                out.extend_from_slice(&p);
            }
            FrameBody::Ipv4 { ip, body } => {
                eth.ethertype = ethertype::IPV4;
                let mut ip = ip.clone();
                let l4 = match body {
                    Ipv4Body::Tcp { tcp, payload } => {
                        ip.protocol = ip_protocol::TCP;
                        let mut seg = vec![0u8; tcp.header_len() + payload.len()];
                        tcp.emit(&mut seg, payload, ip.src, ip.dst);
                        seg
                    }
                    Ipv4Body::IcmpEcho(icmp) => {
                        ip.protocol = ip_protocol::ICMP;
                        let mut msg = vec![0u8; icmp.len()];
                        icmp.emit(&mut msg);
                        msg
                    }
                };
                ip.payload_len = l4.len();
                let mut hdr = vec![0u8; ip.header_len()];
                ip.emit(&mut hdr);
                out.extend_from_slice(&hdr);
                out.extend_from_slice(&l4);
            }
        }
        eth.emit(&mut EthernetFrame::new_unchecked(&mut out[..]));
        out.extend_from_slice(&self.padding);
        out
    }

    pub fn tcp(&self) -> Option<(&Ipv4Repr, &TcpRepr, &[u8])> {
        match &self.body {
            FrameBody::Ipv4 { ip, body: Ipv4Body::Tcp { tcp, payload } } => Some((ip, tcp, payload)),
            _ => None,
        }
    }
}

/// One end of a conversation: its Ethernet and IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    pub mac: MacAddr,
    pub ip: Ipv4Addr,
}

/// A TCP frame from `from` to `to` with the core's IPv4 header conventions
/// (ID 0, DF, TTL 64) and no padding.
pub fn tcp_frame(from: Endpoint, to: Endpoint, tcp: &TcpRepr, payload: &[u8]) -> Vec<u8> {
    Frame {
        eth: EthernetRepr { src: from.mac, dst: to.mac, ethertype: ethertype::IPV4 },
        body: FrameBody::Ipv4 {
            ip: Ipv4Repr::new(from.ip, to.ip, ip_protocol::TCP, 0),
            body: Ipv4Body::Tcp { tcp: tcp.clone(), payload: payload.to_vec() },
        },
        padding: Vec::new(),
    }
    .emit()
}

/// A broadcast ARP request from `from` asking for `target`.
pub fn arp_request(from: Endpoint, target: Ipv4Addr) -> Vec<u8> {
    Frame {
        eth: EthernetRepr { src: from.mac, dst: MacAddr::BROADCAST, ethertype: ethertype::ARP },
        body: FrameBody::Arp(ArpRepr { oper: arp_oper::REQUEST, sha: from.mac, spa: from.ip, tha: MacAddr::ZERO, tpa: target }),
        padding: Vec::new(),
    }
    .emit()
}

/// The gratuitous ARP a card sends when it is promoted
/// (invariant 8): a broadcast ARP request announcing `from.ip` at `from.mac`
/// (RFC 5227 announcement: sender IP = target IP, target MAC zero), which
/// Linux peers and the switch take as the address having moved.
pub fn gratuitous_arp(from: Endpoint) -> Vec<u8> {
    Frame {
        eth: EthernetRepr { src: from.mac, dst: MacAddr::BROADCAST, ethertype: ethertype::ARP },
        body: FrameBody::Arp(ArpRepr { oper: arp_oper::REQUEST, sha: from.mac, spa: from.ip, tha: MacAddr::ZERO, tpa: from.ip }),
        padding: Vec::new(),
    }
    .emit()
}

/// The ARP reply `from` sends to the requester `to` (42 bytes, no padding).
pub fn arp_reply(from: Endpoint, to: Endpoint) -> Vec<u8> {
    Frame {
        eth: EthernetRepr { src: from.mac, dst: to.mac, ethertype: ethertype::ARP },
        body: FrameBody::Arp(ArpRepr { oper: arp_oper::REPLY, sha: from.mac, spa: from.ip, tha: to.mac, tpa: to.ip }),
        padding: Vec::new(),
    }
    .emit()
}

/// An ICMP echo request or reply with the core's IPv4 header conventions.
pub fn icmp_echo_frame(from: Endpoint, to: Endpoint, echo: &IcmpEchoRepr) -> Vec<u8> {
    Frame {
        eth: EthernetRepr { src: from.mac, dst: to.mac, ethertype: ethertype::IPV4 },
        body: FrameBody::Ipv4 {
            ip: Ipv4Repr::new(from.ip, to.ip, ip_protocol::ICMP, 0),
            body: Ipv4Body::IcmpEcho(echo.clone()),
        },
        padding: Vec::new(),
    }
    .emit()
}

pub mod corrupt;
mod describe;
pub mod fuzz;

pub use describe::{describe, hex};

#[cfg(test)]
mod tests;
