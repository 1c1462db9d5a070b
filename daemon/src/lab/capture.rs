//! Reading the failover lab's captures: each simulated card records its own
//! port (both directions, wall-clock stamps), so the primary's and the
//! standby's captures give "last frame the primary sent" and "first frame
//! the standby sent" on one clock — the failover time — and
//! every RST either side put on the wire.
use std::path::{Path, PathBuf};
use std::time::Duration;

use holdback_sim::wire::{tcp_options_sack_blocks, Frame, FrameBody, Ipv4Body};
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("reading capture {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: holdback_sim::SimError,
    },
}

/// One frame of a card's capture, classified.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FrameSeen {
    /// Wall-clock stamp (since the Unix epoch).
    pub at: Duration,
    /// The card sent it (its source MAC is the card's); else it arrived at the card.
    pub sent: bool,
    pub what: Seen,
}

/// What a captured frame is, as far as the lab's figures care.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Seen {
    Tcp(Segment),
    /// An ARP whose sender IP is its target IP.
    GratuitousArp,
    /// Anything else, including frames that do not parse (the peer's
    /// garbage, a torn record): not ours to judge here; tshark checks the
    /// wire elsewhere.
    Other,
}

/// A TCP segment's header fields, from the capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// The peer's port: the source port of a segment the card received,
    /// the destination port of one it sent.
    pub peer_port: u16,
    pub seq: u32,
    /// The acknowledgment field (meaningful with `ack_flag`).
    pub ack: u32,
    pub syn: bool,
    pub fin: bool,
    pub rst: bool,
    pub ack_flag: bool,
    pub payload_len: u32,
    /// The SACK blocks (RFC 2018 §3) in the order sent, `sack_count` of
    /// them: kept inline so a segment stays `Copy`.
    pub sack: [(u32, u32); 4],
    pub sack_count: u8,
    /// The Timestamps option's TSval (RFC 7323 §3.2), if the segment has one.
    pub tsval: Option<u32>,
}

impl Segment {
    pub fn sack_blocks(&self) -> &[(u32, u32)] {
        &self.sack[..usize::from(self.sack_count)]
    }
}

/// Every frame of the capture at `path`, classified by whether its source
/// MAC is `card_mac`; `true` if the writer was killed in the middle of a
/// record (expected for a SIGKILLed primary).
pub fn read_frames(path: &Path, card_mac: [u8; 6]) -> Result<(Vec<FrameSeen>, bool), CaptureError> {
    let (records, truncated) = holdback_sim::pcap::read_complete_records(path)
        .map_err(|source| CaptureError::Read { path: path.to_path_buf(), source })?;
    let frames = records
        .iter()
        .map(|(at, bytes)| {
            let sent = bytes.get(6..12) == Some(&card_mac[..]);
            let what = match Frame::parse(bytes).map(|f| f.body) {
                Ok(FrameBody::Ipv4 { body: Ipv4Body::Tcp { tcp, payload }, .. }) => {
                    let (sack, sack_count) = sack_blocks(&tcp.options);
                    Seen::Tcp(Segment {
                        sack,
                        sack_count,
                        tsval: tcp.timestamps().map(|(tsval, _)| tsval),
                        peer_port: if sent { tcp.dst_port } else { tcp.src_port },
                        seq: tcp.seq.0,
                        ack: tcp.ack.0,
                        syn: tcp.flags.syn(),
                        fin: tcp.flags.fin(),
                        rst: tcp.flags.rst(),
                        ack_flag: tcp.flags.ack(),
                        payload_len: payload.len() as u32,
                    })
                }
                Ok(FrameBody::Arp(arp)) if arp.spa == arp.tpa => Seen::GratuitousArp,
                _ => Seen::Other,
            };
            FrameSeen { at: *at, sent, what }
        })
        .collect();
    Ok((frames, truncated))
}

/// What one card's capture shows.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CardCapture {
    /// Frames the card sent (source MAC = the card's).
    pub frames_sent: u64,
    pub frames_received: u64,
    /// Wall-clock time (since the Unix epoch) of the first and last frame the card sent.
    pub first_sent: Option<Duration>,
    pub last_sent: Option<Duration>,
    /// TCP segments with RST, by direction.
    pub rst_sent: u64,
    pub rst_received: u64,
    /// Gratuitous ARPs the card sent (sender IP = target IP).
    pub gratuitous_arps_sent: u64,
    /// Pure ACKs the card sent (no payload, no SYN/FIN/RST).
    pub acks_sent: u64,
    /// The last TCP segment with payload the card received (a client's data).
    pub last_data_received: Option<Duration>,
    /// The first TCP segment with payload received after the card first
    /// sent anything: for a promoted standby, the first client data it took
    /// over (before promotion it may see flooded frames it drops).
    pub first_data_received_after_sending: Option<Duration>,
    /// The writer was killed in the middle of a record (expected for a
    /// SIGKILLed primary).
    pub truncated: bool,
}

impl CardCapture {
    /// Reads `path`, classifying frames by whether their source MAC is `card_mac`.
    pub fn read(path: &Path, card_mac: [u8; 6]) -> Result<CardCapture, CaptureError> {
        let (frames, truncated) = read_frames(path, card_mac)?;
        Ok(CardCapture::of(&frames, truncated))
    }

    /// The counts and moments of already classified frames.
    pub fn of(frames: &[FrameSeen], truncated: bool) -> CardCapture {
        let mut c = CardCapture { truncated, ..CardCapture::default() };
        for f in frames {
            if f.sent {
                c.frames_sent += 1;
                c.first_sent.get_or_insert(f.at);
                c.last_sent = Some(f.at);
            } else {
                c.frames_received += 1;
            }
            match f.what {
                Seen::Tcp(seg) => {
                    if seg.rst {
                        if f.sent {
                            c.rst_sent += 1;
                        } else {
                            c.rst_received += 1;
                        }
                    } else if f.sent && seg.payload_len == 0 && !seg.syn && !seg.fin {
                        c.acks_sent += 1;
                    }
                    if !f.sent && seg.payload_len > 0 {
                        c.last_data_received = Some(f.at);
                        if c.first_sent.is_some() {
                            c.first_data_received_after_sending.get_or_insert(f.at);
                        }
                    }
                }
                Seen::GratuitousArp if f.sent => c.gratuitous_arps_sent += 1,
                _ => {}
            }
        }
        c
    }
}

/// The gap between the last frame the primary sent and the first frame the
/// standby sent after it, in milliseconds (`None` if either never sent).
pub fn failover_ms(primary: &CardCapture, standby: &CardCapture) -> Option<f64> {
    let last = primary.last_sent?;
    let first = standby.first_sent?;
    Some(micros_as_ms(first.saturating_sub(last)))
}

/// The gap the clients' data saw: the last data segment the primary
/// received → the first the promoted standby received, in milliseconds.
pub fn wire_gap_ms(primary: &CardCapture, standby: &CardCapture) -> Option<f64> {
    let last = primary.last_data_received?;
    let first = standby.first_data_received_after_sending?;
    Some(micros_as_ms(first.saturating_sub(last)))
}

/// The blocks of the SACK option in `options`, inline (at most four fit),
/// and how many there are.
fn sack_blocks(options: &[u8]) -> ([(u32, u32); 4], u8) {
    let mut blocks = [(0, 0); 4];
    let mut count = 0;
    for (slot, (left, right)) in blocks.iter_mut().zip(tcp_options_sack_blocks(options)) {
        *slot = (left.0, right.0);
        count += 1;
    }
    (blocks, count)
}

/// What a killed card had SACKed and never acknowledged: ranges above the
/// last ACK it sent on a connection that some earlier ACK of it reported
/// in a SACK block. The peer keeps them marked as held by the receiver
/// (RFC 2018 §8), but the promoted card never had them — the held ranges
/// are not replicated (docs/engine.md, "After a promotion: none until
/// fresh holes") — so it reneged on them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Reneged {
    /// Connections with such ranges, and their bytes in all.
    pub conns: u64,
    pub bytes: u64,
    /// The promoted card's first frame → its first ACK at or past the end
    /// of the last such range, the longest over those connections (ms):
    /// how long the reneging held the peers' streams up. `None` if some
    /// connection never got that ACK.
    pub refilled_ms: Option<f64>,
}

/// The ranges SACKed above the last ACK, per connection (the peer's port),
/// from the dead card's frames `killed`; with `promoted`, the frames of the
/// card that took over, for the time until it acknowledged them.
pub fn reneged(killed: &[FrameSeen], promoted: &[FrameSeen]) -> Reneged {
    use std::collections::BTreeMap;
    let mut last_ack: BTreeMap<u16, u32> = BTreeMap::new();
    let mut sacked: BTreeMap<u16, Vec<(u32, u32)>> = BTreeMap::new();
    for seg in tcp_sent(killed).filter(|s| s.ack_flag && !s.syn && !s.rst) {
        last_ack.insert(seg.peer_port, seg.ack);
        sacked.entry(seg.peer_port).or_default().extend_from_slice(seg.sack_blocks());
    }
    let mut report = Reneged::default();
    // Each connection's reneged ranges, as offsets past its last ACK
    // (serial-number arithmetic, RFC 1982: the stream may wrap).
    let mut ends: BTreeMap<u16, u32> = BTreeMap::new();
    for (port, blocks) in &sacked {
        let ack = last_ack[port];
        let mut above: Vec<(u32, u32)> = blocks
            .iter()
            .map(|&(l, r)| (l.wrapping_sub(ack) as i32, r.wrapping_sub(ack) as i32))
            .filter(|&(_, r)| r > 0)
            .map(|(l, r)| (l.max(0) as u32, r as u32))
            .collect();
        above.sort_unstable();
        let (mut bytes, mut covered) = (0u64, 0u32);
        for (l, r) in above {
            let from = l.max(covered);
            if r > from {
                bytes += u64::from(r - from);
                covered = r;
            }
        }
        if bytes > 0 {
            report.conns += 1;
            report.bytes += bytes;
            ends.insert(*port, ack.wrapping_add(covered));
        }
    }
    let first_frame = promoted.iter().find(|f| f.sent).map(|f| f.at);
    let mut longest = Some(0.0f64);
    for (port, end) in &ends {
        let refilled = promoted.iter().filter(|f| f.sent).find_map(|f| match f.what {
            Seen::Tcp(s) if s.peer_port == *port && s.ack_flag && (s.ack.wrapping_sub(*end) as i32) >= 0 => Some(f.at),
            _ => None,
        });
        longest = match (longest, refilled, first_frame) {
            (Some(l), Some(at), Some(first)) => Some(l.max(micros_as_ms(at.saturating_sub(first)))),
            _ => None,
        };
    }
    report.refilled_ms = if ends.is_empty() { None } else { longest };
    report
}

/// Invariant 7 (docs/failover.md) as the peers saw it: per connection that
/// both cards spoke on, the promoted card's first TSval minus the dead
/// card's last one (serial order, RFC 7323 §5.2), and the smallest of those
/// steps. A negative step is a TSval that went back: the peer's PAWS drops
/// those segments. `None` if no connection carried TSvals from both cards.
pub fn tsval_step(killed: &[FrameSeen], promoted: &[FrameSeen]) -> Option<TsvalStep> {
    use std::collections::BTreeMap;
    let mut last: BTreeMap<u16, u32> = BTreeMap::new();
    for seg in tcp_sent(killed) {
        if let Some(tsval) = seg.tsval {
            last.insert(seg.peer_port, tsval);
        }
    }
    let mut first: BTreeMap<u16, u32> = BTreeMap::new();
    for seg in tcp_sent(promoted) {
        if let Some(tsval) = seg.tsval {
            first.entry(seg.peer_port).or_insert(tsval);
        }
    }
    let steps: Vec<i64> =
        first.iter().filter_map(|(port, f)| last.get(port).map(|l| i64::from(f.wrapping_sub(*l) as i32))).collect();
    let smallest = *steps.iter().min()?;
    Some(TsvalStep { conns: steps.len() as u64, smallest_ticks: smallest, went_back: steps.iter().filter(|s| **s < 0).count() as u64 })
}

/// What [`tsval_step`] found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TsvalStep {
    /// Connections with TSvals from both cards.
    pub conns: u64,
    /// The smallest step from the dead card's last TSval to the promoted
    /// card's first, in TSval ticks (1.024 ms on the card).
    pub smallest_ticks: i64,
    /// Connections whose TSval went back.
    pub went_back: u64,
}

/// The TCP segments a card sent, in capture order.
pub(crate) fn tcp_sent(frames: &[FrameSeen]) -> impl Iterator<Item = Segment> + '_ {
    frames.iter().filter(|f| f.sent).filter_map(|f| match f.what {
        Seen::Tcp(s) => Some(s),
        _ => None,
    })
}

/// Milliseconds with the captures' microsecond resolution and no more
/// digits: the number reads back exactly from JSON and the plot.
fn micros_as_ms(d: Duration) -> f64 {
    d.as_micros() as f64 / 1e3
}

#[cfg(test)]
mod tests {
    use super::*;
    use holdback_sim::pcap::PcapWriter;
    use holdback_sim::wire::{self, MacAddr};

    const CARD: [u8; 6] = [0x02, 0x48, 0x4c, 0x44, 0x42, 0x02];
    const PEER: [u8; 6] = [0x02, 0, 0, 0, 0, 1];

    fn temp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("holdback-capture-{}-{name}.pcap", std::process::id()))
    }

    #[test]
    fn counts_directions_rsts_garps_and_tolerates_a_torn_tail() {
        let path = temp("a");
        let mut w = PcapWriter::create(&path).unwrap();
        let card_ip = std::net::Ipv4Addr::new(198, 18, 0, 2);
        let peer_ip = std::net::Ipv4Addr::new(198, 18, 0, 1);
        let card = wire::Endpoint { mac: MacAddr(CARD), ip: card_ip };
        let peer = wire::Endpoint { mac: MacAddr(PEER), ip: peer_ip };
        let garp = wire::arp_request(card, card_ip);
        let ack = wire::tcp_frame(card, peer, &wire::TcpRepr::new(5001, 40000, wire::SeqNum(1), wire::SeqNum(100), wire::TcpFlags::ACK, 1000), &[]);
        let rst = wire::tcp_frame(peer, card, &wire::TcpRepr::new(40000, 5001, wire::SeqNum(100), wire::SeqNum(0), wire::TcpFlags::RST, 0), &[]);
        w.write(Duration::from_millis(1000), &garp).unwrap();
        w.write(Duration::from_millis(1010), &ack).unwrap();
        w.write(Duration::from_millis(1020), &rst).unwrap();
        let data = wire::tcp_frame(peer, card, &wire::TcpRepr::new(40000, 5001, wire::SeqNum(100), wire::SeqNum(1), wire::TcpFlags::ACK, 1000), &[7u8; 100]);
        w.write(Duration::from_millis(1030), &data).unwrap();
        drop(w);
        // A record header promising more bytes than were written.
        let mut data = std::fs::read(&path).unwrap();
        data.extend_from_slice(&[0u8, 0, 0, 0, 0, 0, 0, 0, 60, 0, 0, 0, 60, 0, 0, 0, 1, 2, 3]);
        std::fs::write(&path, &data).unwrap();

        let c = CardCapture::read(&path, CARD).unwrap();
        assert_eq!((c.frames_sent, c.frames_received), (2, 2));
        assert_eq!(c.last_data_received, Some(Duration::from_millis(1030)));
        assert_eq!(c.first_data_received_after_sending, Some(Duration::from_millis(1030)));
        assert_eq!((c.rst_sent, c.rst_received, c.gratuitous_arps_sent, c.acks_sent), (0, 1, 1, 1));
        assert_eq!(c.first_sent, Some(Duration::from_millis(1000)));
        assert_eq!(c.last_sent, Some(Duration::from_millis(1010)));
        assert!(c.truncated);
        let standby = CardCapture { first_sent: Some(Duration::from_millis(1260)), ..CardCapture::default() };
        assert_eq!(failover_ms(&c, &standby), Some(250.0));
        let resumed = CardCapture { first_data_received_after_sending: Some(Duration::from_millis(1100)), ..CardCapture::default() };
        assert_eq!(wire_gap_ms(&c, &resumed), Some(70.0));
        let _ = std::fs::remove_file(&path);
    }

    /// The dead card SACKed [B+1000, B+2000) and [B+3000, B+3500) and
    /// then acknowledged B+1500 (the stream wraps at B+2000): 500 + 500
    /// bytes reneged on one connection; a second connection's one range
    /// was acknowledged before the end. The promoted card speaks at 100 ms
    /// and acknowledges B+3500 at 150 ms.
    #[test]
    fn ranges_sacked_above_the_last_ack_are_reneged_and_timed_until_acknowledged() {
        const B: u32 = 0xffff_f830;
        let ack = |ms: u64, port: u16, ack: u32, blocks: &[(u32, u32)]| {
            let mut sack = [(0, 0); 4];
            sack[..blocks.len()].copy_from_slice(blocks);
            let seg = Segment { peer_port: port, seq: 7, ack, syn: false, fin: false, rst: false, ack_flag: true, payload_len: 0, sack, sack_count: blocks.len() as u8, tsval: None };
            FrameSeen { at: Duration::from_millis(ms), sent: true, what: Seen::Tcp(seg) }
        };
        let b = |off: u32| B.wrapping_add(off);
        let killed = [
            ack(1, 40000, b(0), &[(b(1000), b(2000))]),
            ack(2, 40001, b(0), &[(b(500), b(600))]),
            ack(3, 40000, b(500), &[(b(3000), b(3500)), (b(1000), b(2000))]),
            ack(4, 40000, b(1500), &[]),
            ack(5, 40001, b(600), &[]),
        ];
        assert!(B.wrapping_add(2000) < B, "the reneged range straddles the wrap");
        let garp = FrameSeen { at: Duration::from_millis(100), sent: true, what: Seen::GratuitousArp };
        let promoted = [garp, ack(101, 40000, b(1500), &[]), ack(120, 40000, b(3000), &[]), ack(150, 40000, b(3500), &[])];
        assert_eq!(reneged(&killed, &promoted), Reneged { conns: 1, bytes: 1000, refilled_ms: Some(50.0) });
        assert_eq!(reneged(&killed, &promoted[..3]).refilled_ms, None, "never acknowledged past the last range");
        assert_eq!(reneged(&killed[1..2], &promoted), Reneged { conns: 1, bytes: 100, refilled_ms: None });
        assert_eq!(reneged(&killed[3..], &promoted), Reneged::default(), "no SACK blocks, nothing reneged");
    }

    /// Two connections: the promoted card's first TSval is 40 ticks past the
    /// dead card's last on one, 3 before it on the other (across the wrap);
    /// a third spoke only on the dead card.
    #[test]
    fn the_tsval_step_at_a_failover_is_taken_per_connection_in_serial_order() {
        let seg = |port: u16, tsval: Option<u32>| {
            let s = Segment { peer_port: port, seq: 7, ack: 9, syn: false, fin: false, rst: false, ack_flag: true, payload_len: 0, sack: [(0, 0); 4], sack_count: 0, tsval };
            FrameSeen { at: Duration::from_millis(1), sent: true, what: Seen::Tcp(s) }
        };
        let killed = [seg(1, Some(100)), seg(2, Some(1)), seg(1, Some(110)), seg(3, Some(5)), seg(2, None)];
        let promoted = [seg(1, Some(150)), seg(1, Some(90)), seg(2, Some(0xffff_fffe))];
        assert_eq!(tsval_step(&killed, &promoted), Some(TsvalStep { conns: 2, smallest_ticks: -3, went_back: 1 }));
        assert_eq!(tsval_step(&killed, &promoted[..1]), Some(TsvalStep { conns: 1, smallest_ticks: 40, went_back: 0 }));
        assert_eq!(tsval_step(&killed, &[seg(1, None)]), None);
    }
}
