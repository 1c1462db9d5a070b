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
