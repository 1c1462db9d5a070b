//! Ethernet / ARP / IPv4 / TCP / ICMP-echo frames, built and parsed with checksums.
//!
//! The shape follows smoltcp's `wire` module: a zero-copy *packet view*
//! (`EthernetFrame<T>`, `Ipv4Packet<T>`, …) over any `T: AsRef<[u8]>` with a
//! `mod field` of byte ranges and `new_checked` / `check_len`, and a *repr*
//! (`Ipv4Repr`, `TcpRepr`, …) that `parse`s a checked view into plain values and
//! `emit`s them back with correct checksums. [`Frame`] ties the layers together
//! for whole frames, [`corrupt`] breaks exactly one thing in a valid frame (each
//! helper repairs every *other* checksum, so a test hits one drop reason), and
//! [`describe`] lists every field of any frame, valid or not, for readable diffs.
//!
//! Nothing here panics on any input: lengths are checked before every access.
use std::fmt;
use std::net::Ipv4Addr;

use holdback_regmap::tcp_flags;

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
fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}
fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

// ---------------------------------------------------------------- addresses, sequence numbers

/// The register map's own types: one definition for the RTL's tests, the
/// model, the driver and the daemon.
pub use holdback_regmap::{MacAddr, SeqNum};

// ---------------------------------------------------------------- checksums

/// The Internet checksum (RFC 1071).
pub mod checksum {
    use std::net::Ipv4Addr;

    /// Ones'-complement sum of `data` as big-endian 16-bit words (odd tail padded
    /// with zero), not yet folded.
    pub fn sum(data: &[u8]) -> u32 {
        let mut acc = 0u32;
        let mut chunks = data.chunks_exact(2);
        for c in &mut chunks {
            acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
            acc = (acc & 0xffff) + (acc >> 16);
        }
        if let [last] = chunks.remainder() {
            acc += u32::from(*last) << 8;
        }
        acc
    }

    /// Fold carries into 16 bits (end-around carry).
    pub fn fold(mut acc: u32) -> u16 {
        while acc > 0xffff {
            acc = (acc & 0xffff) + (acc >> 16);
        }
        acc as u16
    }

    /// The checksum field value for `data` (complement of the folded sum).
    pub fn of(data: &[u8]) -> u16 {
        !fold(sum(data))
    }

    /// Sum of the TCP/UDP pseudo-header (src, dst, zero, protocol, length).
    pub fn pseudo_header(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, len: u16) -> u32 {
        sum(&src.octets()) + sum(&dst.octets()) + u32::from(protocol) + u32::from(len)
    }

    /// RFC 1624 eqn. 3: the new checksum after a 16-bit word of the covered data
    /// changes from `old_word` to `new_word`: `HC' = ~(~HC + ~m + m')`.
    pub fn adjust(old_checksum: u16, old_word: u16, new_word: u16) -> u16 {
        !fold(u32::from(!old_checksum) + u32::from(!old_word) + u32::from(new_word))
    }
}

// ---------------------------------------------------------------- Ethernet

pub mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const ARP: u16 = 0x0806;
    pub const IPV6: u16 = 0x86dd;
}

/// A view of an Ethernet II frame (no FCS).
#[derive(Debug, Clone)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}

mod eth_field {
    use std::ops::Range;
    pub const DST: Range<usize> = 0..6;
    pub const SRC: Range<usize> = 6..12;
    pub const ETHERTYPE: usize = 12;
    pub const PAYLOAD: usize = 14;
}

/// Length of the Ethernet header.
pub const ETH_HEADER_LEN: usize = eth_field::PAYLOAD;

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    pub fn new_unchecked(buffer: T) -> Self {
        EthernetFrame { buffer }
    }
    pub fn new_checked(buffer: T) -> Result<Self> {
        let f = Self::new_unchecked(buffer);
        f.check_len()?;
        Ok(f)
    }
    pub fn check_len(&self) -> Result<()> {
        need("Ethernet header", self.buffer.as_ref(), ETH_HEADER_LEN)
    }
    pub fn into_inner(self) -> T {
        self.buffer
    }
    pub fn dst_addr(&self) -> MacAddr {
        let mut a = [0; 6];
        a.copy_from_slice(&self.buffer.as_ref()[eth_field::DST]);
        MacAddr(a)
    }
    pub fn src_addr(&self) -> MacAddr {
        let mut a = [0; 6];
        a.copy_from_slice(&self.buffer.as_ref()[eth_field::SRC]);
        MacAddr(a)
    }
    pub fn ethertype(&self) -> u16 {
        be16(self.buffer.as_ref(), eth_field::ETHERTYPE)
    }
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[eth_field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    pub fn set_dst_addr(&mut self, a: MacAddr) {
        self.buffer.as_mut()[eth_field::DST].copy_from_slice(&a.0);
    }
    pub fn set_src_addr(&mut self, a: MacAddr) {
        self.buffer.as_mut()[eth_field::SRC].copy_from_slice(&a.0);
    }
    pub fn set_ethertype(&mut self, v: u16) {
        put16(self.buffer.as_mut(), eth_field::ETHERTYPE, v);
    }
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[eth_field::PAYLOAD..]
    }
}

/// The Ethernet header as values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthernetRepr {
    pub src: MacAddr,
    pub dst: MacAddr,
    pub ethertype: u16,
}

impl EthernetRepr {
    pub fn parse<T: AsRef<[u8]>>(f: &EthernetFrame<T>) -> Result<EthernetRepr> {
        f.check_len()?;
        Ok(EthernetRepr { src: f.src_addr(), dst: f.dst_addr(), ethertype: f.ethertype() })
    }
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, f: &mut EthernetFrame<T>) {
        f.set_dst_addr(self.dst);
        f.set_src_addr(self.src);
        f.set_ethertype(self.ethertype);
    }
}

// ---------------------------------------------------------------- ARP

mod arp_field {
    pub const HTYPE: usize = 0;
    pub const PTYPE: usize = 2;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: usize = 6;
    pub const SHA: usize = 8;
    pub const SPA: usize = 14;
    pub const THA: usize = 18;
    pub const TPA: usize = 24;
}

/// Length of an Ethernet/IPv4 ARP packet.
pub const ARP_LEN: usize = 28;

pub mod arp_oper {
    pub const REQUEST: u16 = 1;
    pub const REPLY: u16 = 2;
}

/// A view of an ARP packet.
#[derive(Debug, Clone)]
pub struct ArpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    pub fn new_unchecked(buffer: T) -> Self {
        ArpPacket { buffer }
    }
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }
    pub fn check_len(&self) -> Result<()> {
        need("ARP packet", self.buffer.as_ref(), ARP_LEN)
    }
    pub fn htype(&self) -> u16 {
        be16(self.buffer.as_ref(), arp_field::HTYPE)
    }
    pub fn ptype(&self) -> u16 {
        be16(self.buffer.as_ref(), arp_field::PTYPE)
    }
    pub fn hlen(&self) -> u8 {
        self.buffer.as_ref()[arp_field::HLEN]
    }
    pub fn plen(&self) -> u8 {
        self.buffer.as_ref()[arp_field::PLEN]
    }
    pub fn oper(&self) -> u16 {
        be16(self.buffer.as_ref(), arp_field::OPER)
    }
    fn mac_at(&self, at: usize) -> MacAddr {
        let mut a = [0; 6];
        a.copy_from_slice(&self.buffer.as_ref()[at..at + 6]);
        MacAddr(a)
    }
    pub fn sha(&self) -> MacAddr {
        self.mac_at(arp_field::SHA)
    }
    pub fn spa(&self) -> Ipv4Addr {
        Ipv4Addr::from(be32(self.buffer.as_ref(), arp_field::SPA))
    }
    pub fn tha(&self) -> MacAddr {
        self.mac_at(arp_field::THA)
    }
    pub fn tpa(&self) -> Ipv4Addr {
        Ipv4Addr::from(be32(self.buffer.as_ref(), arp_field::TPA))
    }
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
    pub fn parse<T: AsRef<[u8]>>(p: &ArpPacket<T>) -> Result<ArpRepr> {
        p.check_len()?;
        let (htype, ptype, hlen, plen, oper) = (p.htype(), p.ptype(), p.hlen(), p.plen(), p.oper());
        if htype != 1 || ptype != ethertype::IPV4 || hlen != 6 || plen != 4 || !(1..=2).contains(&oper) {
            return Err(WireError::UnsupportedArp { htype, ptype, hlen, plen, oper });
        }
        Ok(ArpRepr { oper, sha: p.sha(), spa: p.spa(), tha: p.tha(), tpa: p.tpa() })
    }
    /// Writes the 28 bytes into `buf` (which must hold them).
    pub fn emit(&self, buf: &mut [u8]) {
        put16(buf, arp_field::HTYPE, 1);
        put16(buf, arp_field::PTYPE, ethertype::IPV4);
        buf[arp_field::HLEN] = 6;
        buf[arp_field::PLEN] = 4;
        put16(buf, arp_field::OPER, self.oper);
        buf[arp_field::SHA..arp_field::SHA + 6].copy_from_slice(&self.sha.0);
        buf[arp_field::SPA..arp_field::SPA + 4].copy_from_slice(&self.spa.octets());
        buf[arp_field::THA..arp_field::THA + 6].copy_from_slice(&self.tha.0);
        buf[arp_field::TPA..arp_field::TPA + 4].copy_from_slice(&self.tpa.octets());
    }
}

// ---------------------------------------------------------------- IPv4

mod ip_field {
    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: usize = 2;
    pub const IDENT: usize = 4;
    pub const FLG_OFF: usize = 6;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: usize = 10;
    pub const SRC: usize = 12;
    pub const DST: usize = 16;
}

/// Length of an IPv4 header without options.
pub const IPV4_HEADER_LEN: usize = 20;

pub mod ip_protocol {
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
}

/// A view of an IPv4 packet.
#[derive(Debug, Clone)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    pub fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
    }
    /// Checks that the buffer holds the fixed header, the IHL-sized header and
    /// the total length, and that the header fields are consistent.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }
    pub fn check_len(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        need("IPv4 header", b, IPV4_HEADER_LEN)?;
        if self.version() != 4 {
            return Err(WireError::BadIpVersion(self.version()));
        }
        if self.ihl() < 5 {
            return Err(WireError::BadIhl(self.ihl()));
        }
        need("IPv4 header with options", b, self.header_len())?;
        if usize::from(self.total_len()) < self.header_len() {
            return Err(WireError::BadTotalLen { total_len: self.total_len(), header_len: self.header_len() });
        }
        need("IPv4 total length", b, usize::from(self.total_len()))
    }
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[ip_field::VER_IHL] >> 4
    }
    pub fn ihl(&self) -> u8 {
        self.buffer.as_ref()[ip_field::VER_IHL] & 0xf
    }
    pub fn header_len(&self) -> usize {
        usize::from(self.ihl()) * 4
    }
    pub fn dscp_ecn(&self) -> u8 {
        self.buffer.as_ref()[ip_field::DSCP_ECN]
    }
    pub fn total_len(&self) -> u16 {
        be16(self.buffer.as_ref(), ip_field::LENGTH)
    }
    pub fn ident(&self) -> u16 {
        be16(self.buffer.as_ref(), ip_field::IDENT)
    }
    pub fn dont_frag(&self) -> bool {
        be16(self.buffer.as_ref(), ip_field::FLG_OFF) & 0x4000 != 0
    }
    pub fn more_frags(&self) -> bool {
        be16(self.buffer.as_ref(), ip_field::FLG_OFF) & 0x2000 != 0
    }
    /// Fragment offset in 8-byte units.
    pub fn frag_offset(&self) -> u16 {
        be16(self.buffer.as_ref(), ip_field::FLG_OFF) & 0x1fff
    }
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[ip_field::TTL]
    }
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[ip_field::PROTOCOL]
    }
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), ip_field::CHECKSUM)
    }
    pub fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(be32(self.buffer.as_ref(), ip_field::SRC))
    }
    pub fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(be32(self.buffer.as_ref(), ip_field::DST))
    }
    /// The checksum the header should carry (computed with the field as zero).
    /// Needs `check_len`-validated header bytes.
    pub fn expected_checksum(&self) -> u16 {
        let h = &self.buffer.as_ref()[..self.header_len()];
        let s = checksum::sum(&h[..ip_field::CHECKSUM]) + checksum::sum(&h[ip_field::CHECKSUM + 2..]);
        !checksum::fold(s)
    }
    pub fn verify_checksum(&self) -> bool {
        checksum::of(&self.buffer.as_ref()[..self.header_len()]) == 0
    }
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[IPV4_HEADER_LEN..self.header_len()]
    }
    /// The payload up to the total length (Ethernet padding excluded).
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..usize::from(self.total_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    pub fn set_ver_ihl(&mut self, version: u8, ihl: u8) {
        self.buffer.as_mut()[ip_field::VER_IHL] = (version << 4) | (ihl & 0xf);
    }
    pub fn set_total_len(&mut self, v: u16) {
        put16(self.buffer.as_mut(), ip_field::LENGTH, v);
    }
    pub fn set_flags_frag(&mut self, dont_frag: bool, more_frags: bool, offset: u16) {
        let v = (u16::from(dont_frag) << 14) | (u16::from(more_frags) << 13) | (offset & 0x1fff);
        put16(self.buffer.as_mut(), ip_field::FLG_OFF, v);
    }
    pub fn set_protocol(&mut self, v: u8) {
        self.buffer.as_mut()[ip_field::PROTOCOL] = v;
    }
    pub fn set_checksum(&mut self, v: u16) {
        put16(self.buffer.as_mut(), ip_field::CHECKSUM, v);
    }
    pub fn set_src_addr(&mut self, a: Ipv4Addr) {
        put32(self.buffer.as_mut(), ip_field::SRC, u32::from(a));
    }
    pub fn set_dst_addr(&mut self, a: Ipv4Addr) {
        put32(self.buffer.as_mut(), ip_field::DST, u32::from(a));
    }
    /// Recompute the header checksum (the header must fit the buffer).
    pub fn fill_checksum(&mut self) {
        let c = self.expected_checksum();
        self.set_checksum(c);
    }
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

    /// Parse a checked packet: checksum verified, fragments refused.
    pub fn parse<T: AsRef<[u8]>>(p: &Ipv4Packet<T>) -> Result<Ipv4Repr> {
        p.check_len()?;
        if !p.verify_checksum() {
            return Err(WireError::BadIpChecksum { found: p.checksum(), expected: p.expected_checksum() });
        }
        if p.more_frags() || p.frag_offset() != 0 {
            return Err(WireError::Fragment { more_frags: p.more_frags(), offset: p.frag_offset() });
        }
        Ok(Ipv4Repr {
            src: p.src_addr(),
            dst: p.dst_addr(),
            protocol: p.protocol(),
            payload_len: usize::from(p.total_len()) - p.header_len(),
            dscp_ecn: p.dscp_ecn(),
            ident: p.ident(),
            dont_frag: p.dont_frag(),
            ttl: p.ttl(),
            options: p.options().to_vec(),
        })
    }

    pub fn header_len(&self) -> usize {
        IPV4_HEADER_LEN + self.options.len()
    }

    /// Writes the header (with checksum) into the start of `buf`.
    pub fn emit(&self, buf: &mut [u8]) {
        let hl = self.header_len();
        buf[ip_field::VER_IHL] = 0x40 | (hl / 4) as u8;
        buf[ip_field::DSCP_ECN] = self.dscp_ecn;
        put16(buf, ip_field::LENGTH, (hl + self.payload_len) as u16);
        put16(buf, ip_field::IDENT, self.ident);
        put16(buf, ip_field::FLG_OFF, if self.dont_frag { 0x4000 } else { 0 });
        buf[ip_field::TTL] = self.ttl;
        buf[ip_field::PROTOCOL] = self.protocol;
        put16(buf, ip_field::CHECKSUM, 0);
        put32(buf, ip_field::SRC, u32::from(self.src));
        put32(buf, ip_field::DST, u32::from(self.dst));
        buf[IPV4_HEADER_LEN..hl].copy_from_slice(&self.options);
        let c = checksum::of(&buf[..hl]);
        put16(buf, ip_field::CHECKSUM, c);
    }
}

// ---------------------------------------------------------------- TCP

mod tcp_field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const SEQ: usize = 4;
    pub const ACK: usize = 8;
    pub const DOFF: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WINDOW: usize = 14;
    pub const CHECKSUM: usize = 16;
    pub const URGENT: usize = 18;
}

/// Length of a TCP header without options.
pub const TCP_HEADER_LEN: usize = 20;

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

/// A view of a TCP segment (header, options, payload).
#[derive(Debug, Clone)]
pub struct TcpSegment<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpSegment<T> {
    pub fn new_unchecked(buffer: T) -> Self {
        TcpSegment { buffer }
    }
    /// The buffer must be exactly the TCP segment (IPv4 payload).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let s = Self::new_unchecked(buffer);
        s.check_len()?;
        Ok(s)
    }
    pub fn check_len(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        need("TCP header", b, TCP_HEADER_LEN)?;
        if self.doff() < 5 || self.header_len() > b.len() {
            return Err(WireError::BadTcpDataOffset { doff: self.doff(), tcp_len: b.len() });
        }
        Ok(())
    }
    pub fn src_port(&self) -> u16 {
        be16(self.buffer.as_ref(), tcp_field::SRC_PORT)
    }
    pub fn dst_port(&self) -> u16 {
        be16(self.buffer.as_ref(), tcp_field::DST_PORT)
    }
    pub fn seq(&self) -> SeqNum {
        SeqNum(be32(self.buffer.as_ref(), tcp_field::SEQ))
    }
    pub fn ack(&self) -> SeqNum {
        SeqNum(be32(self.buffer.as_ref(), tcp_field::ACK))
    }
    /// Data offset in 32-bit words.
    pub fn doff(&self) -> u8 {
        self.buffer.as_ref()[tcp_field::DOFF] >> 4
    }
    pub fn header_len(&self) -> usize {
        usize::from(self.doff()) * 4
    }
    pub fn flags(&self) -> TcpFlags {
        TcpFlags(self.buffer.as_ref()[tcp_field::FLAGS])
    }
    pub fn window(&self) -> u16 {
        be16(self.buffer.as_ref(), tcp_field::WINDOW)
    }
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), tcp_field::CHECKSUM)
    }
    pub fn urgent(&self) -> u16 {
        be16(self.buffer.as_ref(), tcp_field::URGENT)
    }
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[TCP_HEADER_LEN..self.header_len()]
    }
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
    /// The checksum the segment should carry, over the pseudo-header and the
    /// whole buffer with the checksum field as zero.
    pub fn expected_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> u16 {
        let b = self.buffer.as_ref();
        let s = checksum::pseudo_header(src, dst, ip_protocol::TCP, b.len() as u16)
            + checksum::sum(&b[..tcp_field::CHECKSUM])
            + checksum::sum(&b[tcp_field::CHECKSUM + 2..]);
        !checksum::fold(s)
    }
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        let b = self.buffer.as_ref();
        let s = checksum::pseudo_header(src, dst, ip_protocol::TCP, b.len() as u16) + checksum::sum(b);
        checksum::fold(s) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpSegment<T> {
    pub fn set_doff(&mut self, words: u8) {
        let b = self.buffer.as_mut();
        b[tcp_field::DOFF] = (words << 4) | (b[tcp_field::DOFF] & 0xf);
    }
    pub fn set_flags(&mut self, f: TcpFlags) {
        self.buffer.as_mut()[tcp_field::FLAGS] = f.0;
    }
    pub fn set_seq(&mut self, s: SeqNum) {
        put32(self.buffer.as_mut(), tcp_field::SEQ, s.0);
    }
    pub fn set_checksum(&mut self, v: u16) {
        put16(self.buffer.as_mut(), tcp_field::CHECKSUM, v);
    }
    pub fn fill_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        let c = self.expected_checksum(src, dst);
        self.set_checksum(c);
    }
}

/// The MSS option value in raw TCP options, scanning kinds as RFC 9293 §3.2 lays
/// them out (0 ends the list, 1 is one byte, others carry a length ≥ 2).
/// Malformed lists end the scan; `None` if no well-formed MSS option was seen.
pub fn tcp_options_mss(options: &[u8]) -> Option<u16> {
    let mut i = 0;
    while i < options.len() {
        match options[i] {
            0 => return None,
            1 => i += 1,
            kind => {
                let len = usize::from(*options.get(i + 1)?);
                if len < 2 || i + len > options.len() {
                    return None;
                }
                if kind == 2 && len == 4 {
                    return Some(be16(options, i + 2));
                }
                i += len;
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
    pub fn mss(&self) -> Option<u16> {
        tcp_options_mss(&self.options)
    }
    pub fn header_len(&self) -> usize {
        TCP_HEADER_LEN + self.options.len()
    }
    /// Sequence space the segment occupies: payload plus one each for SYN and FIN.
    pub fn seq_len(&self, payload_len: usize) -> u32 {
        payload_len as u32 + u32::from(self.flags.syn()) + u32::from(self.flags.fin())
    }

    /// Parse a checked segment, verifying the checksum against the pseudo-header.
    pub fn parse<T: AsRef<[u8]>>(s: &TcpSegment<T>, src: Ipv4Addr, dst: Ipv4Addr) -> Result<TcpRepr> {
        s.check_len()?;
        if !s.verify_checksum(src, dst) {
            return Err(WireError::BadTcpChecksum { found: s.checksum(), expected: s.expected_checksum(src, dst) });
        }
        Ok(TcpRepr {
            src_port: s.src_port(),
            dst_port: s.dst_port(),
            seq: s.seq(),
            ack: s.ack(),
            flags: s.flags(),
            window: s.window(),
            urgent: s.urgent(),
            options: s.options().to_vec(),
        })
    }

    /// Writes header, options and `payload` into `buf` (exactly the segment's
    /// length) with the checksum over the pseudo-header.
    pub fn emit(&self, buf: &mut [u8], payload: &[u8], src: Ipv4Addr, dst: Ipv4Addr) {
        let hl = self.header_len();
        put16(buf, tcp_field::SRC_PORT, self.src_port);
        put16(buf, tcp_field::DST_PORT, self.dst_port);
        put32(buf, tcp_field::SEQ, self.seq.0);
        put32(buf, tcp_field::ACK, self.ack.0);
        buf[tcp_field::DOFF] = ((hl / 4) as u8) << 4;
        buf[tcp_field::FLAGS] = self.flags.0;
        put16(buf, tcp_field::WINDOW, self.window);
        put16(buf, tcp_field::CHECKSUM, 0);
        put16(buf, tcp_field::URGENT, self.urgent);
        buf[TCP_HEADER_LEN..hl].copy_from_slice(&self.options);
        buf[hl..hl + payload.len()].copy_from_slice(payload);
        let mut seg = TcpSegment::new_unchecked(&mut buf[..hl + payload.len()]);
        seg.fill_checksum(src, dst);
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
        let (ty, code) = (msg[0], msg[1]);
        if code != 0 || (ty != icmp_type::ECHO_REQUEST && ty != icmp_type::ECHO_REPLY) {
            return Err(WireError::UnsupportedIcmp { ty, code });
        }
        if checksum::of(msg) != 0 {
            let expected = !checksum::fold(checksum::sum(&msg[..2]) + checksum::sum(&msg[4..]));
            return Err(WireError::BadIcmpChecksum { found: be16(msg, 2), expected });
        }
        Ok(IcmpEchoRepr {
            request: ty == icmp_type::ECHO_REQUEST,
            ident: be16(msg, 4),
            seq_no: be16(msg, 6),
            data: msg[ICMP_ECHO_HEADER_LEN..].to_vec(),
        })
    }
    pub fn len(&self) -> usize {
        ICMP_ECHO_HEADER_LEN + self.data.len()
    }
    pub fn is_empty(&self) -> bool {
        false
    }
    pub fn emit(&self, buf: &mut [u8]) {
        buf[0] = if self.request { icmp_type::ECHO_REQUEST } else { icmp_type::ECHO_REPLY };
        buf[1] = 0;
        put16(buf, 2, 0);
        put16(buf, 4, self.ident);
        put16(buf, 6, self.seq_no);
        buf[ICMP_ECHO_HEADER_LEN..self.len()].copy_from_slice(&self.data);
        let c = checksum::of(&buf[..self.len()]);
        put16(buf, 2, c);
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
        let ef = EthernetFrame::new_checked(bytes)?;
        let eth = EthernetRepr::parse(&ef)?;
        match eth.ethertype {
            ethertype::ARP => {
                let p = ArpPacket::new_checked(ef.payload())?;
                let arp = ArpRepr::parse(&p)?;
                Ok(Frame { eth, body: FrameBody::Arp(arp), padding: ef.payload()[ARP_LEN..].to_vec() })
            }
            ethertype::IPV4 => {
                let p = Ipv4Packet::new_checked(ef.payload())?;
                let ip = Ipv4Repr::parse(&p)?;
                let body = match ip.protocol {
                    ip_protocol::TCP => {
                        let s = TcpSegment::new_checked(p.payload())?;
                        let tcp = TcpRepr::parse(&s, ip.src, ip.dst)?;
                        Ipv4Body::Tcp { tcp, payload: s.payload().to_vec() }
                    }
                    ip_protocol::ICMP => Ipv4Body::IcmpEcho(IcmpEchoRepr::parse(p.payload())?),
                    other => return Err(WireError::UnsupportedProtocol(other)),
                };
                let padding = ef.payload()[usize::from(p.total_len())..].to_vec();
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

/// The gratuitous ARP a card sends when it is promoted (failover.md,
/// invariant 8): a broadcast ARP request announcing `from.ip` at `from.mac`
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

// ---------------------------------------------------------------- corruption helpers

/// Deliberate corruption of valid frames for drop-reason tests. Each helper
/// changes one thing and repairs every checksum it did not mean to break, so
/// exactly one drop reason applies. Helpers leave frames they cannot
/// interpret (too short, not IPv4) as they are, apart from the one change.
pub mod corrupt {
    use super::*;

    /// Byte offset of the IPv4 header in an Ethernet frame.
    const IP: usize = ETH_HEADER_LEN;

    fn ip_header_ok(f: &[u8]) -> bool {
        f.len() >= IP + IPV4_HEADER_LEN && f[12..14] == ethertype::IPV4.to_be_bytes()
    }

    /// Recompute the IPv4 header checksum and, if the IPv4 payload is a TCP
    /// segment or ICMP message that fits, its checksum too.
    pub fn fix_checksums(mut f: Vec<u8>) -> Vec<u8> {
        if !ip_header_ok(&f) {
            return f;
        }
        let (ihl, total) = {
            let p = Ipv4Packet::new_unchecked(&f[IP..]);
            (p.header_len(), usize::from(p.total_len()))
        };
        if ihl >= IPV4_HEADER_LEN && f.len() >= IP + ihl {
            Ipv4Packet::new_unchecked(&mut f[IP..]).fill_checksum();
        }
        if ihl < IPV4_HEADER_LEN || total < ihl || f.len() < IP + total {
            return f;
        }
        let (src, dst, proto) = {
            let p = Ipv4Packet::new_unchecked(&f[IP..]);
            (p.src_addr(), p.dst_addr(), p.protocol())
        };
        let l4 = &mut f[IP + ihl..IP + total];
        match proto {
            ip_protocol::TCP if l4.len() >= TCP_HEADER_LEN => TcpSegment::new_unchecked(l4).fill_checksum(src, dst),
            ip_protocol::ICMP if l4.len() >= 4 => {
                put16(l4, 2, 0);
                let c = checksum::of(l4);
                put16(l4, 2, c);
            }
            _ => {}
        }
        f
    }

    /// Flip the IPv4 header checksum (everything else valid).
    pub fn bad_ip_checksum(mut f: Vec<u8>) -> Vec<u8> {
        if ip_header_ok(&f) {
            f[IP + ip_field::CHECKSUM] ^= 0x5a;
        }
        f
    }

    /// Flip the TCP checksum (IPv4 header still valid).
    pub fn bad_tcp_checksum(mut f: Vec<u8>) -> Vec<u8> {
        if ip_header_ok(&f) {
            let at = IP + Ipv4Packet::new_unchecked(&f[IP..]).header_len() + tcp_field::CHECKSUM;
            if at < f.len() {
                f[at] ^= 0x5a;
            }
        }
        f
    }

    /// Keep only the first `len` bytes.
    pub fn truncate(mut f: Vec<u8>, len: usize) -> Vec<u8> {
        f.truncate(len);
        f
    }

    /// Set the IHL field (header checksum recomputed over the new IHL's bytes
    /// where they exist).
    pub fn set_ihl(mut f: Vec<u8>, ihl: u8) -> Vec<u8> {
        if ip_header_ok(&f) {
            f[IP] = (f[IP] & 0xf0) | (ihl & 0xf);
            let hl = usize::from(ihl & 0xf) * 4;
            if hl >= IPV4_HEADER_LEN && f.len() >= IP + hl {
                Ipv4Packet::new_unchecked(&mut f[IP..]).fill_checksum();
            } else {
                // Checksum over the fixed 20 bytes: only the IHL is wrong.
                put16(&mut f, IP + ip_field::CHECKSUM, 0);
                let c = checksum::of(&f[IP..IP + IPV4_HEADER_LEN]);
                put16(&mut f, IP + ip_field::CHECKSUM, c);
            }
        }
        f
    }

    /// Set the IPv4 version nibble (header checksum repaired).
    pub fn set_ip_version(mut f: Vec<u8>, version: u8) -> Vec<u8> {
        if ip_header_ok(&f) {
            f[IP] = (version << 4) | (f[IP] & 0xf);
            put16(&mut f, IP + ip_field::CHECKSUM, 0);
            let c = checksum::of(&f[IP..IP + IPV4_HEADER_LEN]);
            put16(&mut f, IP + ip_field::CHECKSUM, c);
        }
        f
    }

    /// Set the IPv4 total length (header checksum repaired; TCP checksum left as
    /// computed for the original length).
    pub fn set_total_len(mut f: Vec<u8>, total_len: u16) -> Vec<u8> {
        if ip_header_ok(&f) {
            let mut p = Ipv4Packet::new_unchecked(&mut f[IP..]);
            p.set_total_len(total_len);
            if f.len() >= IP + Ipv4Packet::new_unchecked(&f[IP..]).header_len() {
                Ipv4Packet::new_unchecked(&mut f[IP..]).fill_checksum();
            }
        }
        f
    }

    /// Make the packet a fragment (MF and/or offset), checksums repaired.
    pub fn fragment(mut f: Vec<u8>, more_frags: bool, offset: u16) -> Vec<u8> {
        if ip_header_ok(&f) {
            Ipv4Packet::new_unchecked(&mut f[IP..]).set_flags_frag(false, more_frags, offset);
        }
        fix_checksums(f)
    }

    /// Replace the ethertype.
    pub fn set_ethertype(mut f: Vec<u8>, ethertype: u16) -> Vec<u8> {
        if f.len() >= ETH_HEADER_LEN {
            EthernetFrame::new_unchecked(&mut f[..]).set_ethertype(ethertype);
        }
        f
    }

    /// Replace the destination MAC.
    pub fn set_dst_mac(mut f: Vec<u8>, mac: MacAddr) -> Vec<u8> {
        if f.len() >= ETH_HEADER_LEN {
            EthernetFrame::new_unchecked(&mut f[..]).set_dst_addr(mac);
        }
        f
    }

    /// Replace the destination IPv4 address, checksums repaired.
    pub fn set_dst_ip(mut f: Vec<u8>, ip: Ipv4Addr) -> Vec<u8> {
        if ip_header_ok(&f) {
            Ipv4Packet::new_unchecked(&mut f[IP..]).set_dst_addr(ip);
        }
        fix_checksums(f)
    }

    /// Replace the IPv4 protocol, checksums repaired.
    pub fn set_protocol(mut f: Vec<u8>, protocol: u8) -> Vec<u8> {
        if ip_header_ok(&f) {
            Ipv4Packet::new_unchecked(&mut f[IP..]).set_protocol(protocol);
        }
        fix_checksums(f)
    }

    /// Set the TCP data offset (words), checksums repaired.
    pub fn set_tcp_doff(mut f: Vec<u8>, doff: u8) -> Vec<u8> {
        if ip_header_ok(&f) {
            let at = IP + Ipv4Packet::new_unchecked(&f[IP..]).header_len();
            if f.len() >= at + TCP_HEADER_LEN {
                TcpSegment::new_unchecked(&mut f[at..]).set_doff(doff);
            }
        }
        fix_checksums(f)
    }

    /// Append `n` bytes of Ethernet padding (not counted by the IPv4 length).
    pub fn pad(mut f: Vec<u8>, n: usize, byte: u8) -> Vec<u8> {
        f.resize(f.len() + n, byte);
        f
    }
}

// ---------------------------------------------------------------- describing any frame

/// Every field of a frame as `(name, value)` text, layer by layer, as far as
/// the bytes allow; checksums are shown with their verdict. Works on any bytes
/// (invalid frames describe up to where they stop making sense) — used by
/// `refmodel::score` to print field-by-field diffs.
pub fn describe(f: &[u8]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut push = |k: &str, v: String| out.push((k.to_string(), v));
    push("frame.len", f.len().to_string());
    let Ok(ef) = EthernetFrame::new_checked(f) else {
        push("frame.bytes", hex(f));
        return out;
    };
    push("eth.dst", ef.dst_addr().to_string());
    push("eth.src", ef.src_addr().to_string());
    push("eth.type", format!("{:#06x}", ef.ethertype()));
    let pl = ef.payload();
    match ef.ethertype() {
        ethertype::ARP => match ArpPacket::new_checked(pl) {
            Ok(a) => {
                push("arp.htype", a.htype().to_string());
                push("arp.ptype", format!("{:#06x}", a.ptype()));
                push("arp.hlen", a.hlen().to_string());
                push("arp.plen", a.plen().to_string());
                push("arp.oper", a.oper().to_string());
                push("arp.sha", a.sha().to_string());
                push("arp.spa", a.spa().to_string());
                push("arp.tha", a.tha().to_string());
                push("arp.tpa", a.tpa().to_string());
                push("arp.trailer", hex(&pl[ARP_LEN..]));
            }
            Err(_) => push("arp.bytes", hex(pl)),
        },
        ethertype::IPV4 => {
            if pl.len() < IPV4_HEADER_LEN {
                push("ip.bytes", hex(pl));
                return out;
            }
            let p = Ipv4Packet::new_unchecked(pl);
            push("ip.version", p.version().to_string());
            push("ip.ihl", p.ihl().to_string());
            push("ip.dscp_ecn", p.dscp_ecn().to_string());
            push("ip.total_len", p.total_len().to_string());
            push("ip.ident", p.ident().to_string());
            push("ip.df", p.dont_frag().to_string());
            push("ip.mf", p.more_frags().to_string());
            push("ip.frag_offset", p.frag_offset().to_string());
            push("ip.ttl", p.ttl().to_string());
            push("ip.protocol", p.protocol().to_string());
            push("ip.src", p.src_addr().to_string());
            push("ip.dst", p.dst_addr().to_string());
            let Ok(()) = p.check_len() else {
                push("ip.checksum", format!("{:#06x} (header malformed)", p.checksum()));
                push("ip.rest", hex(&pl[IPV4_HEADER_LEN..]));
                return out;
            };
            let verdict = if p.verify_checksum() { "ok".to_string() } else { format!("BAD, expected {:#06x}", p.expected_checksum()) };
            push("ip.checksum", format!("{:#06x} ({verdict})", p.checksum()));
            if !p.options().is_empty() {
                push("ip.options", hex(p.options()));
            }
            push("eth.padding", hex(&pl[usize::from(p.total_len())..]));
            let l4 = p.payload();
            match p.protocol() {
                ip_protocol::TCP => match TcpSegment::new_checked(l4) {
                    Ok(s) => {
                        push("tcp.src_port", s.src_port().to_string());
                        push("tcp.dst_port", s.dst_port().to_string());
                        push("tcp.seq", s.seq().to_string());
                        push("tcp.ack", s.ack().to_string());
                        push("tcp.doff", s.doff().to_string());
                        push("tcp.flags", s.flags().to_string());
                        push("tcp.window", s.window().to_string());
                        push("tcp.urgent", s.urgent().to_string());
                        push("tcp.options", hex(s.options()));
                        let (src, dst) = (p.src_addr(), p.dst_addr());
                        let verdict = if s.verify_checksum(src, dst) {
                            "ok".to_string()
                        } else {
                            format!("BAD, expected {:#06x}", s.expected_checksum(src, dst))
                        };
                        push("tcp.checksum", format!("{:#06x} ({verdict})", s.checksum()));
                        push("tcp.payload_len", s.payload().len().to_string());
                        push("tcp.payload", hex(s.payload()));
                    }
                    Err(_) => push("tcp.bytes", hex(l4)),
                },
                ip_protocol::ICMP if l4.len() >= 4 => {
                    push("icmp.type", l4[0].to_string());
                    push("icmp.code", l4[1].to_string());
                    let ok = checksum::of(l4) == 0;
                    push("icmp.checksum", format!("{:#06x} ({})", be16(l4, 2), if ok { "ok" } else { "BAD" }));
                    push("icmp.rest", hex(&l4[4..]));
                }
                _ => push("ip.payload", hex(l4)),
            }
        }
        _ => push("eth.payload", hex(pl)),
    }
    out
}

/// Lower-case hex, abbreviated past 64 bytes (length and a few bytes of the end
/// shown) so diffs of big payloads stay readable.
pub fn hex(b: &[u8]) -> String {
    fn h(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }
    if b.len() <= 64 {
        h(b)
    } else {
        format!("{}…{} ({} bytes, sum {:#06x})", h(&b[..48]), h(&b[b.len() - 8..]), b.len(), checksum::fold(checksum::sum(b)))
    }
}

#[cfg(test)]
mod tests;

// ---------------------------------------------------------------- random frames

/// Seeded random frames for robustness tests: random bytes, random mutations
/// of valid templates (with or without repaired checksums) and truncations.
/// Self-contained (SplitMix64) so the library needs no `rand`.
pub mod fuzz {
    use super::corrupt;

    /// SplitMix64 (Steele et al.): tiny, seedable, good enough for test input.
    #[derive(Debug, Clone)]
    pub struct SplitMix64(pub u64);

    impl SplitMix64 {
        pub fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }
        /// Uniform in `0..n` (n > 0; slight modulo bias is irrelevant here).
        pub fn below(&mut self, n: usize) -> usize {
            (self.next_u64() % n.max(1) as u64) as usize
        }
        pub fn chance(&mut self, percent: usize) -> bool {
            self.below(100) < percent
        }
        pub fn bytes(&mut self, n: usize) -> Vec<u8> {
            (0..n).map(|_| self.next_u64() as u8).collect()
        }
    }

    /// Which kind of frame [`FrameFuzzer::next_frame`] made, for statistics.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum FuzzKind {
        RandomBytes,
        Mutated,
        MutatedRepaired,
        Truncated,
        Oversize,
    }

    /// Draws frames around a set of valid templates.
    #[derive(Debug, Clone)]
    pub struct FrameFuzzer {
        pub rng: SplitMix64,
        templates: Vec<Vec<u8>>,
    }

    impl FrameFuzzer {
        pub fn new(seed: u64, templates: Vec<Vec<u8>>) -> FrameFuzzer {
            FrameFuzzer { rng: SplitMix64(seed), templates }
        }

        pub fn next_frame(&mut self) -> (FuzzKind, Vec<u8>) {
            let r = &mut self.rng;
            let pick = r.below(100);
            // Never empty: a stream cannot carry a zero-byte frame.
            if pick < 10 || self.templates.is_empty() {
                let n = 1 + r.below(200);
                return (FuzzKind::RandomBytes, r.bytes(n));
            }
            if pick < 12 {
                let n = 2049 + r.below(200);
                return (FuzzKind::Oversize, r.bytes(n));
            }
            let mut f = self.templates[r.below(self.templates.len())].clone();
            if pick < 30 && f.len() > 1 {
                let n = 1 + r.below(f.len() - 1);
                f.truncate(n);
                return (FuzzKind::Truncated, f);
            }
            // Flip 1-4 bytes, biased to the headers (first 60 bytes).
            for _ in 0..1 + r.below(4) {
                let span = if r.chance(80) { f.len().min(60) } else { f.len() };
                let at = r.below(span);
                f[at] ^= (r.next_u64() as u8) | 1;
            }
            if r.chance(20) {
                let extra = r.below(20);
                f.extend(r.bytes(extra));
            }
            if r.chance(50) {
                (FuzzKind::MutatedRepaired, corrupt::fix_checksums(f))
            } else {
                (FuzzKind::Mutated, f)
            }
        }
    }
}
