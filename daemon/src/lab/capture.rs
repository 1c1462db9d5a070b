//! Reading the failover lab's captures: each simulated card records its own
//! port (both directions, wall-clock stamps), so the primary's and the
//! standby's captures give "last frame the primary sent" and "first frame
//! the standby sent" on one clock — the failover time — and
//! every RST either side put on the wire.
use std::path::{Path, PathBuf};
use std::time::Duration;

use holdback_sim::wire::{Frame, FrameBody, Ipv4Body};
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
                Ok(FrameBody::Ipv4 { body: Ipv4Body::Tcp { tcp, payload }, .. }) => Seen::Tcp(Segment {
                    peer_port: if sent { tcp.dst_port } else { tcp.src_port },
                    seq: tcp.seq.0,
                    ack: tcp.ack.0,
                    syn: tcp.flags.syn(),
                    fin: tcp.flags.fin(),
                    rst: tcp.flags.rst(),
                    ack_flag: tcp.flags.ack(),
                    payload_len: payload.len() as u32,
                }),
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
}
