//! Scoring the core's frames against the model's: exact bytes, and when they
//! differ a field-by-field diff (`wire::describe`) that says which field of
//! which frame is wrong.
use std::fmt;

use crate::wire::{self, Frame, FrameBody, Ipv4Body};

/// Why the core's frames differ from the model's, ready to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// One line per frame position that differs, then the field diffs.
    pub report: String,
    /// Number of frame positions that differ.
    pub frames_differing: usize,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.report)
    }
}

impl std::error::Error for Mismatch {}

/// One line naming a frame: `TCP a:p > b:q [SYN|ACK] seq=… ack=… win=… len=…`.
pub fn summary(f: &[u8]) -> String {
    match Frame::parse(f) {
        Ok(Frame { body: FrameBody::Arp(a), .. }) => {
            format!("ARP oper {} {} ({}) > {} ({})", a.oper, a.spa, a.sha, a.tpa, a.tha)
        }
        Ok(Frame { body: FrameBody::Ipv4 { ip, body: Ipv4Body::Tcp { tcp, payload } }, .. }) => format!(
            "TCP {}:{} > {}:{} [{}] seq={} ack={} win={} len={}{}",
            ip.src,
            tcp.src_port,
            ip.dst,
            tcp.dst_port,
            tcp.flags,
            tcp.seq,
            tcp.ack,
            tcp.window,
            payload.len(),
            tcp.mss().map_or(String::new(), |m| format!(" mss={m}"))
        ),
        Ok(Frame { body: FrameBody::Ipv4 { ip, body: Ipv4Body::IcmpEcho(e) }, .. }) => format!(
            "ICMP echo {} {} > {} id={} seq={} len={}",
            if e.request { "request" } else { "reply" },
            ip.src,
            ip.dst,
            e.ident,
            e.seq_no,
            e.data.len()
        ),
        Err(e) => format!("unparsable ({e}), {} bytes", f.len()),
    }
}

/// Field differences between two frames as `name: expected X, core Y` lines.
pub fn field_diff(expected: &[u8], actual: &[u8]) -> Vec<String> {
    let e = wire::describe(expected);
    let a = wire::describe(actual);
    let mut names: Vec<&String> = e.iter().map(|(k, _)| k).collect();
    for (k, _) in &a {
        if !names.contains(&k) {
            names.push(k);
        }
    }
    let get = |v: &[(String, String)], k: &str| v.iter().find(|(n, _)| n == k).map(|(_, x)| x.clone());
    names
        .into_iter()
        .filter_map(|k| {
            let (x, y) = (get(&e, k), get(&a, k));
            (x != y).then(|| {
                format!("    {k}: model {} | core {}", x.unwrap_or_else(|| "-".into()), y.unwrap_or_else(|| "-".into()))
            })
        })
        .collect()
}

/// Compare the frames the core emitted (`actual`) with the model's
/// (`expected`), in order. `Ok` only if every frame is byte-identical.
pub fn score(expected: &[Vec<u8>], actual: &[Vec<u8>]) -> Result<(), Mismatch> {
    if expected == actual {
        return Ok(());
    }
    let mut report = String::new();
    let mut differing = 0;
    if expected.len() != actual.len() {
        report += &format!("model expects {} frame(s), core emitted {}\n", expected.len(), actual.len());
    }
    for i in 0..expected.len().max(actual.len()) {
        match (expected.get(i), actual.get(i)) {
            (Some(e), Some(a)) if e == a => report += &format!("  #{i} same:    {}\n", summary(e)),
            (Some(e), Some(a)) => {
                differing += 1;
                report += &format!("  #{i} model:   {}\n  #{i} core:    {}\n", summary(e), summary(a));
                for line in field_diff(e, a) {
                    report += &line;
                    report.push('\n');
                }
            }
            (Some(e), None) => {
                differing += 1;
                report += &format!("  #{i} missing: {}\n", summary(e));
            }
            (None, Some(a)) => {
                differing += 1;
                report += &format!("  #{i} extra:   {}\n", summary(a));
            }
            (None, None) => {}
        }
    }
    Err(Mismatch { report, frames_differing: differing })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{tcp_frame, Endpoint, MacAddr, SeqNum, TcpFlags, TcpRepr};
    use std::net::Ipv4Addr;

    const A: Endpoint = Endpoint { mac: MacAddr([2, 0, 0, 0, 0, 1]), ip: Ipv4Addr::new(198, 18, 0, 1) };
    const B: Endpoint = Endpoint { mac: MacAddr([2, 0, 0, 0, 0, 2]), ip: Ipv4Addr::new(198, 18, 0, 2) };

    #[test]
    fn identical_lists_score_ok_and_a_wrong_ack_is_named() {
        let mk = |ack| tcp_frame(B, A, &TcpRepr::new(5001, 40000, SeqNum(1), SeqNum(ack), TcpFlags::ACK, 100), &[]);
        assert!(score(&[mk(7)], &[mk(7)]).is_ok());
        let m = score(&[mk(7)], &[mk(8)]).expect_err("ack differs");
        assert_eq!(m.frames_differing, 1);
        assert!(m.report.contains("tcp.ack: model 7 | core 8"), "{m}");
        assert!(m.report.contains("tcp.checksum"), "checksum differs too: {m}");
        let m = score(&[mk(7)], &[]).expect_err("missing");
        assert!(m.report.contains("missing: TCP 198.18.0.2:5001 > 198.18.0.1:40000 [ACK]"), "{m}");
    }
}
