//! Deliberate corruption of valid frames for drop-reason tests. Each helper
//! changes one thing and repairs every checksum it did not mean to break, so
//! exactly one drop reason applies. Helpers leave frames they cannot
//! interpret (too short, not IPv4) as they are, apart from the one change.
use super::*;

/// Byte offset of the IPv4 header in an Ethernet frame.
const IP: usize = ETH_HEADER_LEN;
/// Offset of the checksum in the IPv4 header (RFC 791) and the TCP header (RFC 9293).
const IP_CHECKSUM: usize = 10;
const TCP_CHECKSUM: usize = 16;

fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

/// Checksum of the fixed 20-byte IPv4 header, whatever its IHL says.
fn fill_fixed_ip_checksum(f: &mut [u8]) {
    put16(f, IP + IP_CHECKSUM, 0);
    let c = checksum::of(&f[IP..IP + IPV4_HEADER_LEN]);
    put16(f, IP + IP_CHECKSUM, c);
}

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
        (usize::from(p.header_len()), usize::from(p.total_len()))
    };
    if ihl >= IPV4_HEADER_LEN && f.len() >= IP + ihl {
        Ipv4Packet::new_unchecked(&mut f[IP..]).fill_checksum();
    }
    if ihl < IPV4_HEADER_LEN || total < ihl || f.len() < IP + total {
        return f;
    }
    let (src, dst, proto) = {
        let p = Ipv4Packet::new_unchecked(&f[IP..]);
        (p.src_addr(), p.dst_addr(), u8::from(p.next_header()))
    };
    let l4 = &mut f[IP + ihl..IP + total];
    match proto {
        ip_protocol::TCP if l4.len() >= TCP_HEADER_LEN => TcpPacket::new_unchecked(l4).fill_checksum(&ip_addr(src), &ip_addr(dst)),
        ip_protocol::ICMP if l4.len() >= 4 => Icmpv4Packet::new_unchecked(l4).fill_checksum(),
        _ => {}
    }
    f
}

/// Flip the IPv4 header checksum (everything else valid).
pub fn bad_ip_checksum(mut f: Vec<u8>) -> Vec<u8> {
    if ip_header_ok(&f) {
        f[IP + IP_CHECKSUM] ^= 0x5a;
    }
    f
}

/// Flip the TCP checksum (IPv4 header still valid).
pub fn bad_tcp_checksum(mut f: Vec<u8>) -> Vec<u8> {
    if ip_header_ok(&f) {
        let at = IP + usize::from(Ipv4Packet::new_unchecked(&f[IP..]).header_len()) + TCP_CHECKSUM;
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
            fill_fixed_ip_checksum(&mut f);
        }
    }
    f
}

/// Set the IPv4 version nibble (header checksum repaired).
pub fn set_ip_version(mut f: Vec<u8>, version: u8) -> Vec<u8> {
    if ip_header_ok(&f) {
        f[IP] = (version << 4) | (f[IP] & 0xf);
        fill_fixed_ip_checksum(&mut f);
    }
    f
}

/// Set the IPv4 total length (header checksum repaired; TCP checksum left as
/// computed for the original length).
pub fn set_total_len(mut f: Vec<u8>, total_len: u16) -> Vec<u8> {
    if ip_header_ok(&f) {
        let mut p = Ipv4Packet::new_unchecked(&mut f[IP..]);
        p.set_total_len(total_len);
        if f.len() >= IP + usize::from(Ipv4Packet::new_unchecked(&f[IP..]).header_len()) {
            Ipv4Packet::new_unchecked(&mut f[IP..]).fill_checksum();
        }
    }
    f
}

/// Make the packet a fragment (MF and/or offset), checksums repaired.
pub fn fragment(mut f: Vec<u8>, more_frags: bool, offset: u16) -> Vec<u8> {
    if ip_header_ok(&f) {
        let mut p = Ipv4Packet::new_unchecked(&mut f[IP..]);
        p.clear_flags();
        p.set_more_frags(more_frags);
        p.set_frag_offset((offset & 0x1fff) << 3);
    }
    fix_checksums(f)
}

/// Replace the ethertype.
pub fn set_ethertype(mut f: Vec<u8>, ethertype: u16) -> Vec<u8> {
    if f.len() >= ETH_HEADER_LEN {
        EthernetFrame::new_unchecked(&mut f[..]).set_ethertype(ethertype.into());
    }
    f
}

/// Replace the destination MAC.
pub fn set_dst_mac(mut f: Vec<u8>, mac: MacAddr) -> Vec<u8> {
    if f.len() >= ETH_HEADER_LEN {
        EthernetFrame::new_unchecked(&mut f[..]).set_dst_addr(EthernetAddress(mac.0));
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
        Ipv4Packet::new_unchecked(&mut f[IP..]).set_next_header(protocol.into());
    }
    fix_checksums(f)
}

/// Set the TCP data offset (words), checksums repaired.
pub fn set_tcp_doff(mut f: Vec<u8>, doff: u8) -> Vec<u8> {
    if ip_header_ok(&f) {
        let at = IP + usize::from(Ipv4Packet::new_unchecked(&f[IP..]).header_len());
        if f.len() >= at + TCP_HEADER_LEN {
            TcpPacket::new_unchecked(&mut f[at..]).set_header_len((doff & 0xf) * 4);
        }
    }
    fix_checksums(f)
}

/// Append `n` bytes of Ethernet padding (not counted by the IPv4 length).
pub fn pad(mut f: Vec<u8>, n: usize, byte: u8) -> Vec<u8> {
    f.resize(f.len() + n, byte);
    f
}
