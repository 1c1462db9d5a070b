//! What the core's `rx_parser` decides about a frame: accepted (and as what)
//! or dropped for a reason, checked in the core's order — the first reason that
//! applies wins, so the order below is part of the contract. Where the design is
//! silent the rx_parser's documented choices are mirrored: a TCP length below
//! 20 is a bad header, an ICMP message below 8 bytes is truncated.
use std::net::Ipv4Addr;

use holdback_regmap::Stat;

use crate::wire::{
    checksum, ethertype, icmp_type, ip_protocol, mac_from_wire, seq_from_wire, tcp_options_mss, tcp_options_sack_permitted, tcp_options_timestamps, tcp_options_wscale, verify_tcp_checksum, ArpPacket,
    ArpRepr, EthernetFrame, Ipv4Packet, MacAddr, SeqNum, TcpFlags, TcpPacket, ARP_LEN, ETH_HEADER_LEN, ICMP_ECHO_HEADER_LEN,
    IPV4_HEADER_LEN, TCP_HEADER_LEN,
};

/// Largest frame the core's frame buffer holds.
pub const MAX_FRAME: usize = 2048;

/// A TCP segment addressed to us, as the parser's descriptor presents it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RxSegment {
    pub src_mac: MacAddr,
    pub src_ip: Ipv4Addr,
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: SeqNum,
    pub ack: SeqNum,
    pub flags: TcpFlags,
    pub window: u16,
    /// The MSS option value; 0 when absent (as `desc_mss`).
    pub mss: u16,
    /// Window scaling: the Window Scale option's shift capped at 14 (RFC
    /// 7323 §2.3), `None` when absent (as `desc_ws_ok`/`desc_ws`).
    pub wscale: Option<u8>,
    /// SACK: the segment carried SACK-permitted (RFC 2018 §2; as `desc_sack_ok`).
    pub sack_permitted: bool,
    /// Timestamps (RFC 7323 §3.2): (TSval, TSecr) of the first Timestamps
    /// option, `None` when absent (as `desc_ts_ok`/`desc_tsval`/`desc_tsecr`).
    pub timestamps: Option<(u32, u32)>,
    /// SACK (RFC 2018 §3): the (left, right) edges of the blocks of the
    /// first well-formed SACK option, in the order sent (as `desc_sack_count`
    /// and `desc_sack_blocks`); see [`sack_blocks`] for what counts.
    pub sack_blocks: Vec<(SeqNum, SeqNum)>,
    pub payload: Vec<u8>,
}

impl RxSegment {
    /// Sequence space occupied: payload plus SYN and FIN.
    pub fn seq_len(&self) -> u32 {
        self.payload.len() as u32 + u32::from(self.flags.syn()) + u32::from(self.flags.fin())
    }
}

/// A frame the parser accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    Tcp(RxSegment),
    /// ARP request for our IPv4 address.
    ArpRequest { sha: MacAddr, spa: Ipv4Addr },
    /// ICMP echo request for us; `message` is the whole ICMP message
    /// (`total_len - ihl*4` bytes, header included).
    IcmpEcho { src_mac: MacAddr, src_ip: Ipv4Addr, message: Vec<u8> },
}

/// Classify `f` as the rx_parser does. `Err` is the drop reason's counter.
pub fn classify(f: &[u8], our_mac: MacAddr, our_ip: Ipv4Addr) -> Result<Accepted, Stat> {
    if f.len() > MAX_FRAME {
        return Err(Stat::DropOversize);
    }
    // Shorter than its headers: Ethernet; then per ethertype the fixed header,
    // the IHL-sized header, the total length and the TCP header (doff*4).
    let Ok(eth) = EthernetFrame::new_checked(f) else { return Err(Stat::DropTruncated) };
    let et = u16::from(eth.ethertype());
    let l3 = &f[ETH_HEADER_LEN..];
    match et {
        ethertype::ARP if l3.len() < ARP_LEN => return Err(Stat::DropTruncated),
        ethertype::IPV4 => {
            if l3.len() < IPV4_HEADER_LEN {
                return Err(Stat::DropTruncated);
            }
            let ip = Ipv4Packet::new_unchecked(l3);
            let hl = usize::from(ip.header_len());
            // The TCP header is checked against the IPv4 length below
            // (DropBadIpHeader), not against the frame: a frame holding its
            // total length holds its TCP header.
            if l3.len() < hl || l3.len() < usize::from(ip.total_len()) {
                return Err(Stat::DropTruncated);
            }
        }
        _ => {}
    }
    let dst = mac_from_wire(eth.dst_addr());
    if dst != our_mac && dst != MacAddr::BROADCAST {
        return Err(Stat::DropNotOurAddress);
    }
    match et {
        ethertype::ARP => {
            // Anything but an Ethernet/IPv4 request is unsupported.
            let Ok(a) = ArpRepr::parse(&ArpPacket::new_unchecked(l3)) else { return Err(Stat::DropUnsupported) };
            if a.oper != crate::wire::arp_oper::REQUEST {
                return Err(Stat::DropUnsupported);
            }
            if a.tpa != our_ip {
                return Err(Stat::DropNotOurAddress);
            }
            Ok(Accepted::ArpRequest { sha: a.sha, spa: a.spa })
        }
        ethertype::IPV4 => classify_ipv4(mac_from_wire(eth.src_addr()), l3, our_ip),
        _ => Err(Stat::DropUnknownEthertype),
    }
}

/// The IPv4 part, after every length check passed.
fn classify_ipv4(src_mac: MacAddr, l3: &[u8], our_ip: Ipv4Addr) -> Result<Accepted, Stat> {
    let ip = Ipv4Packet::new_unchecked(l3);
    let hl = usize::from(ip.header_len());
    let total = usize::from(ip.total_len());
    if ip.version() != 4 || hl < IPV4_HEADER_LEN || total < hl {
        return Err(Stat::DropBadIpHeader);
    }
    let l4 = &l3[hl..total];
    let protocol = u8::from(ip.next_header());
    if protocol == ip_protocol::TCP {
        let doff = l4.get(12).map_or(0, |b| b >> 4);
        if l4.len() < TCP_HEADER_LEN || doff < 5 || usize::from(doff) * 4 > l4.len() {
            return Err(Stat::DropBadIpHeader);
        }
    }
    if !ip.verify_checksum() {
        return Err(Stat::DropBadIpChecksum);
    }
    if ip.dst_addr() != our_ip {
        return Err(Stat::DropNotOurAddress);
    }
    if ip.more_frags() || ip.frag_offset() != 0 {
        return Err(Stat::DropIpFragment);
    }
    match protocol {
        ip_protocol::TCP => {
            let s = TcpPacket::new_unchecked(l4);
            if !verify_tcp_checksum(&s, ip.src_addr(), ip.dst_addr()) {
                return Err(Stat::DropBadTcpChecksum);
            }
            Ok(Accepted::Tcp(RxSegment {
                src_mac,
                src_ip: ip.src_addr(),
                src_port: s.src_port(),
                dst_port: s.dst_port(),
                seq: seq_from_wire(s.seq_number()),
                ack: seq_from_wire(s.ack_number()),
                flags: TcpFlags::of(&s),
                window: s.window_len(),
                mss: tcp_options_mss(s.options()).unwrap_or(0),
                wscale: tcp_options_wscale(s.options()).map(|w| w.min(holdback_regmap::MAX_WSCALE)),
                sack_permitted: tcp_options_sack_permitted(s.options()),
                timestamps: tcp_options_timestamps(s.options()),
                sack_blocks: if TcpFlags::of(&s).ack() { sack_blocks(s.options()) } else { Vec::new() },
                payload: s.payload().to_vec(),
            }))
        }
        // An ICMP message shorter than the echo header is truncated.
        ip_protocol::ICMP if l4.len() < ICMP_ECHO_HEADER_LEN => Err(Stat::DropTruncated),
        ip_protocol::ICMP if l4[0] == icmp_type::ECHO_REQUEST && l4[1] == 0 => {
            Ok(Accepted::IcmpEcho { src_mac, src_ip: ip.src_addr(), message: l4.to_vec() })
        }
        _ => Err(Stat::DropUnsupported),
    }
}

/// SACK (RFC 2018 §3) as the rx_parser reports it: the blocks of the first
/// SACK option (kind 5) whose length is 2 + 8n with n = 1..4 and which lies
/// wholly inside the TCP header; a kind-5 option of any other length is
/// skipped as the scan skips an MSS of the wrong length. The caller applies
/// the ACK rule: the blocks only qualify the cumulative acknowledgment, so a
/// segment without ACK reports none.
///
/// (Not `wire::tcp_options_sack_blocks`: that one prefers a one-block option
/// to an earlier longer one, and the first option must win.)
pub fn sack_blocks(options: &[u8]) -> Vec<(SeqNum, SeqNum)> {
    let mut i = 0;
    while i < options.len() {
        match options[i] {
            0 => break,
            1 => i += 1,
            k => {
                let Some(&l) = options.get(i + 1) else { break };
                let l = usize::from(l);
                if l < 2 || i + l > options.len() {
                    break;
                }
                if k == 5 && (10..=34).contains(&l) && (l - 2) % 8 == 0 {
                    return options[i + 2..i + l]
                        .chunks_exact(8)
                        .map(|b| {
                            let edge = |o: usize| SeqNum(u32::from_be_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]));
                            (edge(0), edge(4))
                        })
                        .collect();
                }
                i += l;
            }
        }
    }
    Vec::new()
}

/// The ICMP echo reply message for a request message: type 0, checksum
/// adjusted incrementally (RFC 1624) from the request's, the rest copied.
pub fn icmp_reply_message(request: &[u8]) -> Vec<u8> {
    let mut m = request.to_vec();
    if m.len() >= 4 {
        let old = u16::from_be_bytes([m[2], m[3]]);
        let old_word = u16::from_be_bytes([m[0], m[1]]);
        m[0] = icmp_type::ECHO_REPLY;
        m[1] = 0;
        // RFC 1624 eqn. 3 gives 0x0000 when the rest of the message sums to
        // zero; only 0xffff verifies for all-zero data, and both do otherwise,
        // so the core (and the model) send 0xffff.
        let c = match checksum::adjust(old, old_word, 0x0000) {
            0x0000 => 0xffff,
            c => c,
        };
        m[2..4].copy_from_slice(&c.to_be_bytes());
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sack(len: u8, first: u32) -> Vec<u8> {
        let mut o = vec![5, len];
        for k in 0..u32::from(len.saturating_sub(2)) / 4 {
            o.extend_from_slice(&(first + k).to_be_bytes());
        }
        o
    }

    #[test]
    fn sack_blocks_come_from_the_first_well_formed_option() {
        let blocks = |first: u32, n: u32| (0..n).map(|i| (SeqNum(first + 2 * i), SeqNum(first + 2 * i + 1))).collect::<Vec<_>>();
        assert_eq!(sack_blocks(&[vec![1, 1], sack(34, 100)].concat()), blocks(100, 4));
        // The first counts even when a later one is shorter.
        assert_eq!(sack_blocks(&[sack(18, 10), sack(10, 20)].concat()), blocks(10, 2));
        // Another length is skipped; past the end, after EOL or a length below 2 nothing counts.
        assert_eq!(sack_blocks(&[sack(14, 1), sack(10, 30)].concat()), blocks(30, 1));
        assert_eq!(sack_blocks(&sack(26, 1)[..20]), vec![]);
        assert_eq!(sack_blocks(&[vec![0], sack(10, 1)].concat()), vec![]);
        assert_eq!(sack_blocks(&[vec![3, 1], sack(10, 1)].concat()), vec![]);
        assert_eq!(sack_blocks(&sack(2, 0)), vec![]);
    }
}
