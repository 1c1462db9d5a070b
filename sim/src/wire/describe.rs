//! Every field of any frame, valid or not, as text: readable diffs for the
//! scorer and for failing tests.
use super::*;

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
    push("eth.dst", mac_from_wire(ef.dst_addr()).to_string());
    push("eth.src", mac_from_wire(ef.src_addr()).to_string());
    let et = u16::from(ef.ethertype());
    push("eth.type", format!("{et:#06x}"));
    let pl = &f[ETH_HEADER_LEN..];
    match et {
        ethertype::ARP if pl.len() >= ARP_LEN => {
            let a = ArpPacket::new_unchecked(pl);
            // Addresses at the Ethernet/IPv4 offsets whatever hlen and plen say.
            let mac = |at: usize| MacAddr(pl[at..at + 6].try_into().expect("6 bytes"));
            let ip = |at: usize| Ipv4Addr::from(<[u8; 4]>::try_from(&pl[at..at + 4]).expect("4 bytes"));
            push("arp.htype", u16::from(a.hardware_type()).to_string());
            push("arp.ptype", format!("{:#06x}", u16::from(a.protocol_type())));
            push("arp.hlen", a.hardware_len().to_string());
            push("arp.plen", a.protocol_len().to_string());
            push("arp.oper", u16::from(a.operation()).to_string());
            push("arp.sha", mac(8).to_string());
            push("arp.spa", ip(14).to_string());
            push("arp.tha", mac(18).to_string());
            push("arp.tpa", ip(24).to_string());
            push("arp.trailer", hex(&pl[ARP_LEN..]));
        }
        ethertype::ARP => push("arp.bytes", hex(pl)),
        ethertype::IPV4 => {
            if pl.len() < IPV4_HEADER_LEN {
                push("ip.bytes", hex(pl));
                return out;
            }
            let p = Ipv4Packet::new_unchecked(pl);
            push("ip.version", p.version().to_string());
            push("ip.ihl", (p.header_len() / 4).to_string());
            push("ip.dscp_ecn", ((p.dscp() << 2) | p.ecn()).to_string());
            push("ip.total_len", p.total_len().to_string());
            push("ip.ident", p.ident().to_string());
            push("ip.df", p.dont_frag().to_string());
            push("ip.mf", p.more_frags().to_string());
            push("ip.frag_offset", (p.frag_offset() / 8).to_string());
            push("ip.ttl", p.hop_limit().to_string());
            let protocol = u8::from(p.next_header());
            push("ip.protocol", protocol.to_string());
            push("ip.src", p.src_addr().to_string());
            push("ip.dst", p.dst_addr().to_string());
            let Ok(()) = check_ipv4(&p) else {
                push("ip.checksum", format!("{:#06x} (header malformed)", p.checksum()));
                push("ip.rest", hex(&pl[IPV4_HEADER_LEN..]));
                return out;
            };
            let verdict = if p.verify_checksum() { "ok".to_string() } else { format!("BAD, expected {:#06x}", expected_ipv4_checksum(&p)) };
            push("ip.checksum", format!("{:#06x} ({verdict})", p.checksum()));
            let (hl, total) = (usize::from(p.header_len()), usize::from(p.total_len()));
            if hl > IPV4_HEADER_LEN {
                push("ip.options", hex(&pl[IPV4_HEADER_LEN..hl]));
            }
            push("eth.padding", hex(&pl[total..]));
            let l4 = &pl[hl..total];
            match protocol {
                ip_protocol::TCP => match check_tcp(&TcpPacket::new_unchecked(l4)) {
                    Ok(()) => {
                        let s = TcpPacket::new_unchecked(l4);
                        push("tcp.src_port", s.src_port().to_string());
                        push("tcp.dst_port", s.dst_port().to_string());
                        push("tcp.seq", seq_from_wire(s.seq_number()).to_string());
                        push("tcp.ack", seq_from_wire(s.ack_number()).to_string());
                        push("tcp.doff", (s.header_len() / 4).to_string());
                        push("tcp.flags", TcpFlags::of(&s).to_string());
                        push("tcp.window", s.window_len().to_string());
                        push("tcp.urgent", s.urgent_at().to_string());
                        push("tcp.options", hex(s.options()));
                        let (src, dst) = (p.src_addr(), p.dst_addr());
                        let verdict = if verify_tcp_checksum(&s, src, dst) {
                            "ok".to_string()
                        } else {
                            format!("BAD, expected {:#06x}", expected_tcp_checksum(&s, src, dst))
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
                    let icmp = Icmpv4Packet::new_unchecked(l4);
                    let ok = icmp.verify_checksum();
                    push("icmp.checksum", format!("{:#06x} ({})", icmp.checksum(), if ok { "ok" } else { "BAD" }));
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
