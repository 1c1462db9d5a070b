//! Seeded loss and reordering of the frames crossing the simulated card's
//! port — the lab's stand-in for `tc netem` on kernels built without
//! `sch_netem` (this project's CI machines among them). It acts where netem
//! on the link would: on frames arriving at the card (peer → card), before
//! the core (and its pcap) sees them, and on frames leaving the card
//! (card → peer), after the card's pcap recorded them, so the capture shows
//! what the card sent and the peer sees what the wire delivered.
//!
//! Spelled like netem: `"loss 1% reorder 1% delay 50ms"`, plus
//! `dir in|out|both` for the direction (default `in`, arriving frames only).
//! A reordered frame is held back and delivered right after the next frame of
//! its direction (or at the next look at the port if none follows), so
//! segments arrive swapped. `delay` holds every frame of the direction that
//! long (wall time, order kept), so a lab on one machine has a round trip
//! long enough for a sender's window to matter. `cut 5s at 1s` drops every
//! frame of the direction for 5 s, starting 1 s after its first frame (a
//! link pulled and plugged back in). Each direction draws from its own
//! seeded stream and counts its own drops, so a report can tell the peer's
//! losses from the card's.
//!
//! Each direction also counts the TCP payload bytes of the frames it dropped,
//! and [`Resent`] counts the payload bytes the card sent again, so a lab can
//! hold the card's loss recovery to the bytes actually lost (RFC 6675: a
//! SACK sender resends the holes, not a window's worth).
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::wire::{Frame, SeqNum};

/// Which frames crossing the card's port are impaired.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Direction {
    /// Frames arriving at the card (the peer's segments).
    #[default]
    In,
    /// Frames leaving the card (its ACKs, SYN-ACKs, FINs, RSTs).
    Out,
    /// Both, each with its own random stream and counters.
    Both,
}

impl Direction {
    pub fn inbound(self) -> bool {
        matches!(self, Direction::In | Direction::Both)
    }

    pub fn outbound(self) -> bool {
        matches!(self, Direction::Out | Direction::Both)
    }
}

impl FromStr for Direction {
    type Err = ImpairmentError;
    fn from_str(s: &str) -> Result<Direction, ImpairmentError> {
        match s {
            "in" => Ok(Direction::In),
            "out" => Ok(Direction::Out),
            "both" => Ok(Direction::Both),
            _ => Err(ImpairmentError::Direction(s.to_string())),
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::In => "in",
            Direction::Out => "out",
            Direction::Both => "both",
        })
    }
}

/// What to do to the frames crossing the card's port.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Impairment {
    /// Probability of dropping a frame, 0..=1.
    pub loss: f64,
    /// Probability of holding a frame back behind the next one, 0..=1.
    pub reorder: f64,
    pub seed: u64,
    /// Arriving frames, leaving frames, or both.
    pub dir: Direction,
    /// Every frame is delivered this long after it crossed the port.
    pub delay: Duration,
    /// Every frame is dropped while this window lasts.
    pub cut: Option<Cut>,
}

/// A window in which a direction delivers nothing, counted from the first
/// frame of that direction (the lab's start-up time does not move it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cut {
    pub at: Duration,
    pub length: Duration,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImpairmentError {
    #[error("`{0}` is not an impairment: expected words like \"loss 1% reorder 1%\" (and optionally \"dir out\", \"seed 7\")")]
    Syntax(String),
    #[error("`{0}` is not a percentage in 0%..=100%")]
    Percent(String),
    #[error("`dir {0}` is not a direction: expected `dir in` (frames arriving at the card), `dir out` (frames leaving it) or `dir both`")]
    Direction(String),
    #[error("`{0}` is named twice in the impairment")]
    Repeated(String),
    #[error("`{0}` is not a duration: expected a number with `us`, `ms` or `s` (\"50ms\", \"5s\")")]
    Duration(String),
    #[error("`at {0}` needs a `cut` (how long the cut lasts)")]
    AtWithoutCut(String),
}

fn duration(word: &str) -> Result<Duration, ImpairmentError> {
    let bad = || ImpairmentError::Duration(word.to_string());
    let (number, unit_us) = if let Some(n) = word.strip_suffix("us") {
        (n, 1.0)
    } else if let Some(n) = word.strip_suffix("ms") {
        (n, 1e3)
    } else if let Some(n) = word.strip_suffix('s') {
        (n, 1e6)
    } else {
        return Err(bad());
    };
    let v: f64 = number.parse().map_err(|_| bad())?;
    // An hour bounds any lab run; it also keeps the microseconds exact in an f64.
    if !(0.0..=3.6e9).contains(&(v * unit_us)) {
        return Err(bad());
    }
    Ok(Duration::from_micros((v * unit_us).round() as u64))
}

fn percent(word: &str) -> Result<f64, ImpairmentError> {
    let v: f64 = word
        .strip_suffix('%')
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| ImpairmentError::Percent(word.to_string()))?;
    if !(0.0..=100.0).contains(&v) {
        return Err(ImpairmentError::Percent(word.to_string()));
    }
    Ok(v / 100.0)
}

impl FromStr for Impairment {
    type Err = ImpairmentError;
    fn from_str(s: &str) -> Result<Impairment, ImpairmentError> {
        let mut imp = Impairment { loss: 0.0, reorder: 0.0, seed: 1, dir: Direction::In, delay: Duration::ZERO, cut: None };
        let mut cut_at: Option<&str> = None;
        let words: Vec<&str> = s.split_whitespace().collect();
        if words.is_empty() || !words.len().is_multiple_of(2) {
            return Err(ImpairmentError::Syntax(s.to_string()));
        }
        let mut seen: Vec<&str> = Vec::new();
        for pair in words.chunks(2) {
            if seen.contains(&pair[0]) {
                return Err(ImpairmentError::Repeated(pair[0].to_string()));
            }
            seen.push(pair[0]);
            match pair[0] {
                "loss" => imp.loss = percent(pair[1])?,
                "reorder" => imp.reorder = percent(pair[1])?,
                "seed" => imp.seed = pair[1].parse().map_err(|_| ImpairmentError::Syntax(s.to_string()))?,
                "dir" => imp.dir = pair[1].parse()?,
                "delay" => imp.delay = duration(pair[1])?,
                "cut" => imp.cut = Some(Cut { at: Duration::ZERO, length: duration(pair[1])? }),
                "at" => cut_at = Some(pair[1]),
                _ => return Err(ImpairmentError::Syntax(s.to_string())),
            }
        }
        if let Some(at) = cut_at {
            match imp.cut.as_mut() {
                Some(cut) => cut.at = duration(at)?,
                None => return Err(ImpairmentError::AtWithoutCut(at.to_string())),
            }
        }
        Ok(imp)
    }
}

impl fmt::Display for Impairment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "loss {}% reorder {}% seed {} dir {}", self.loss * 100.0, self.reorder * 100.0, self.seed, self.dir)?;
        if !self.delay.is_zero() {
            write!(f, " delay {}us", self.delay.as_micros())?;
        }
        if let Some(cut) = self.cut {
            write!(f, " cut {}us at {}us", cut.length.as_micros(), cut.at.as_micros())?;
        }
        Ok(())
    }
}

/// What one direction's impairment did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImpairCounts {
    pub dropped: u64,
    pub reordered: u64,
    /// TCP payload bytes of the dropped frames (headers, SYN and FIN not
    /// counted): what a sender has to bring again.
    pub dropped_payload_bytes: u64,
}

/// One direction of a TCP connection: source address and port, destination
/// address and port.
type Flow = ([u8; 4], u16, [u8; 4], u16);

/// A TCP segment as [`Resent`] and the drop count see it.
struct Segment {
    flow: Flow,
    /// Sequence number of the first payload byte (after a SYN, if any).
    data_seq: SeqNum,
    /// Sequence number of the segment (its SYN, or its first byte).
    seq: SeqNum,
    payload_len: u32,
    /// Sequence space the segment occupies (payload, SYN, FIN).
    seq_len: u32,
}

/// The TCP segment in `frame`, if it is a whole, well-formed IPv4 TCP frame
/// (every length and checksum checked by [`Frame::parse`], which never
/// panics); anything else is None and counts nothing.
fn tcp_segment(frame: &[u8]) -> Option<Segment> {
    let parsed = Frame::parse(frame).ok()?;
    let (ip, tcp, payload) = parsed.tcp()?;
    // A segment's payload fits the 16-bit IPv4 total length.
    let payload_len = u32::try_from(payload.len()).ok()?;
    Some(Segment {
        flow: (ip.src.octets(), tcp.src_port, ip.dst.octets(), tcp.dst_port),
        data_seq: tcp.seq + u32::from(tcp.flags.syn()),
        seq: tcp.seq,
        payload_len,
        seq_len: tcp.seq_len(payload.len()),
    })
}

/// TCP payload bytes in `frame` (0 for anything that is not a well-formed TCP frame).
pub fn tcp_payload_len(frame: &[u8]) -> u64 {
    tcp_segment(frame).map_or(0, |s| u64::from(s.payload_len))
}

/// Counts the payload bytes a sender sends again: per flow it keeps the
/// highest sequence number sent so far (the end of the furthest segment, in
/// serial-number arithmetic, RFC 9293 §3.4), and a data segment's bytes
/// below it are a retransmission. A segment partly new counts only its old
/// part. Fed every frame the card emits, before any impairment, so a frame
/// dropped on the way still counts as sent.
#[derive(Debug, Default)]
pub struct Resent {
    /// Per flow, the sequence number after the furthest byte (or SYN/FIN) sent.
    highest: HashMap<Flow, SeqNum>,
    /// Payload bytes sent below the flow's highest sequence number.
    pub bytes: u64,
}

impl Resent {
    /// Takes one frame the card sent; returns the payload bytes it resent.
    pub fn sent(&mut self, frame: &[u8]) -> u64 {
        let Some(seg) = tcp_segment(frame) else { return 0 };
        let end = seg.seq + seg.seq_len;
        let old = match self.highest.get_mut(&seg.flow) {
            Some(highest) => {
                let old = highest.bytes_since(seg.data_seq).min(seg.payload_len);
                *highest = highest.latest(end);
                old
            }
            // The first segment seen on a flow is new (a SYN, or the card's
            // first data after the lab started watching).
            None => {
                self.highest.insert(seg.flow, end);
                0
            }
        };
        self.bytes += u64::from(old);
        u64::from(old)
    }
}

/// The port's impairment: one [`Impairer`] per impaired direction.
pub struct PortImpairer {
    /// Frames arriving at the card.
    pub inbound: Option<Impairer>,
    /// Frames leaving the card.
    pub outbound: Option<Impairer>,
}

/// Mixed into the seed of the outbound stream, so `dir both` does not drop
/// the n-th frame of each direction together.
const OUTBOUND_SEED_SALT: u64 = 0x6f75_7462_6f75_6e64;

impl PortImpairer {
    pub fn new(cfg: Impairment) -> PortImpairer {
        PortImpairer {
            inbound: cfg.dir.inbound().then(|| Impairer::new(cfg)),
            outbound: cfg.dir.outbound().then(|| Impairer::new(Impairment { seed: cfg.seed ^ OUTBOUND_SEED_SALT, ..cfg })),
        }
    }

    pub fn inbound_counts(&self) -> ImpairCounts {
        self.inbound.as_ref().map_or_else(ImpairCounts::default, Impairer::counts)
    }

    pub fn outbound_counts(&self) -> ImpairCounts {
        self.outbound.as_ref().map_or_else(ImpairCounts::default, Impairer::counts)
    }
}

/// One direction's running impairment: its random stream, the held frame, counters.
pub struct Impairer {
    cfg: Impairment,
    rng: SmallRng,
    held: Option<Vec<u8>>,
    /// Frames waiting out `delay`, with the time each is due, oldest first.
    delayed: VecDeque<(Instant, Vec<u8>)>,
    /// When the first frame crossed (the cut is counted from it).
    first_frame: Option<Instant>,
    pub dropped: u64,
    pub reordered: u64,
    pub dropped_payload_bytes: u64,
}

impl Impairer {
    pub fn new(cfg: Impairment) -> Impairer {
        Impairer {
            cfg,
            rng: SmallRng::seed_from_u64(cfg.seed),
            held: None,
            delayed: VecDeque::new(),
            first_frame: None,
            dropped: 0,
            reordered: 0,
            dropped_payload_bytes: 0,
        }
    }

    pub fn counts(&self) -> ImpairCounts {
        ImpairCounts { dropped: self.dropped, reordered: self.reordered, dropped_payload_bytes: self.dropped_payload_bytes }
    }

    /// Passes `frame` through: `deliver` is called for what reaches the far side now.
    pub fn arrive(&mut self, frame: &[u8], deliver: &mut dyn FnMut(&[u8])) {
        self.arrive_at(Instant::now(), frame, deliver);
    }

    /// No frame followed: let the held one through (a short delay, not a
    /// loss), and whatever waited out its `delay`.
    pub fn flush(&mut self, deliver: &mut dyn FnMut(&[u8])) {
        self.flush_at(Instant::now(), deliver);
    }

    /// [`Impairer::arrive`] at a given time.
    pub fn arrive_at(&mut self, now: Instant, frame: &[u8], deliver: &mut dyn FnMut(&[u8])) {
        self.release_due(now, deliver);
        let first = *self.first_frame.get_or_insert(now);
        if let Some(cut) = self.cfg.cut {
            let since_first = now.saturating_duration_since(first);
            if since_first >= cut.at && since_first < cut.at + cut.length {
                self.lose(frame);
                return;
            }
        }
        if self.rng.gen_bool(self.cfg.loss) {
            self.lose(frame);
            return;
        }
        if self.held.is_none() && self.rng.gen_bool(self.cfg.reorder) {
            self.reordered += 1;
            self.held = Some(frame.to_vec());
            return;
        }
        self.pass(now, frame, deliver);
        if let Some(h) = self.held.take() {
            self.pass(now, &h, deliver);
        }
    }

    fn lose(&mut self, frame: &[u8]) {
        self.dropped += 1;
        self.dropped_payload_bytes += tcp_payload_len(frame);
    }

    /// [`Impairer::flush`] at a given time.
    pub fn flush_at(&mut self, now: Instant, deliver: &mut dyn FnMut(&[u8])) {
        if let Some(h) = self.held.take() {
            self.pass(now, &h, deliver);
        }
        self.release_due(now, deliver);
    }

    /// Delivers `frame` now, or queues it until its delay is over.
    fn pass(&mut self, now: Instant, frame: &[u8], deliver: &mut dyn FnMut(&[u8])) {
        if self.cfg.delay.is_zero() {
            deliver(frame);
        } else {
            self.delayed.push_back((now + self.cfg.delay, frame.to_vec()));
        }
    }

    fn release_due(&mut self, now: Instant, deliver: &mut dyn FnMut(&[u8])) {
        while self.delayed.front().is_some_and(|(due, _)| *due <= now) {
            if let Some((_, frame)) = self.delayed.pop_front() {
                deliver(&frame);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::wire::{tcp_frame, Endpoint, MacAddr, TcpFlags, TcpRepr};

    const CARD: Endpoint = Endpoint { mac: MacAddr([0x02, 0, 0, 0, 0, 0x02]), ip: Ipv4Addr::new(198, 18, 0, 2) };
    const PEER: Endpoint = Endpoint { mac: MacAddr([0x02, 0, 0, 0, 0, 0x01]), ip: Ipv4Addr::new(198, 18, 0, 1) };

    /// A frame from the card on the connection to the peer's `port`.
    fn segment(port: u16, seq: u32, flags: TcpFlags, len: usize) -> Vec<u8> {
        let tcp = TcpRepr::new(7000, port, SeqNum(seq), SeqNum(1), flags | TcpFlags::ACK, 65535);
        tcp_frame(CARD, PEER, &tcp, &vec![0xa5; len])
    }

    #[test]
    fn resent_counts_only_bytes_below_the_highest_sent_across_the_wrap() {
        let mut r = Resent::default();
        // SYN-ACK and its resend carry no payload: nothing counts.
        assert_eq!(r.sent(&segment(1, 999, TcpFlags::SYN, 0)), 0);
        assert_eq!(r.sent(&segment(1, 999, TcpFlags::SYN, 0)), 0);
        assert_eq!(r.sent(&segment(1, 1000, TcpFlags::NONE, 1000)), 0);
        assert_eq!(r.sent(&segment(1, 2000, TcpFlags::NONE, 1000)), 0);
        // Resent whole.
        assert_eq!(r.sent(&segment(1, 1000, TcpFlags::NONE, 1000)), 1000);
        // Partly new: 500 old bytes, 700 new.
        assert_eq!(r.sent(&segment(1, 2500, TcpFlags::NONE, 1200)), 500);
        // Everything up to 3700 is old now, the pure ACK counts nothing.
        assert_eq!(r.sent(&segment(1, 3700, TcpFlags::NONE, 0)), 0);
        assert_eq!(r.sent(&segment(1, 3000, TcpFlags::NONE, 700)), 700);
        // A resend with the FIN: its payload is old, the FIN not counted.
        assert_eq!(r.sent(&segment(1, 3700, TcpFlags::FIN, 300)), 0);
        assert_eq!(r.sent(&segment(1, 3700, TcpFlags::FIN, 300)), 300);
        // Another connection keeps its own highest: the same numbers are new there.
        assert_eq!(r.sent(&segment(2, 1000, TcpFlags::NONE, 1000)), 0);
        assert_eq!(r.bytes, 1000 + 500 + 700 + 300);

        // Across 2^32: the highest moves past the wrap to 400, so a segment
        // at u32::MAX - 99 is old, and one at 400 is new (serial order, not u32 order).
        let mut w = Resent::default();
        let before_wrap = u32::MAX - 99;
        assert_eq!(w.sent(&segment(3, before_wrap, TcpFlags::NONE, 500)), 0);
        assert_eq!(w.sent(&segment(3, before_wrap, TcpFlags::NONE, 500)), 500);
        assert_eq!(w.sent(&segment(3, 300, TcpFlags::NONE, 200)), 100, "[300, 400) old, [400, 500) new");
        assert_eq!(w.sent(&segment(3, 500, TcpFlags::NONE, 100)), 0);
        assert_eq!(w.bytes, 600);
    }

    #[test]
    fn frames_that_are_not_whole_tcp_segments_count_nothing() {
        let mut r = Resent::default();
        let data = segment(1, 1000, TcpFlags::NONE, 100);
        assert_eq!(r.sent(&data), 0);
        let echo = crate::wire::IcmpEchoRepr { request: true, ident: 1, seq_no: 1, data: vec![0; 100] };
        let icmp = crate::wire::icmp_echo_frame(CARD, PEER, &echo);
        let arp = crate::wire::arp_request(CARD, PEER.ip);
        // A resend cut short, and one with a byte flipped (checksum wrong).
        let short = &data[..data.len() - 10];
        let mut flipped = data.clone();
        if let Some(b) = flipped.last_mut() {
            *b ^= 1;
        }
        for bad in [&icmp[..], &arp[..], short, &flipped[..], &[][..], &data[..13]] {
            assert_eq!(r.sent(bad), 0);
            assert_eq!(tcp_payload_len(bad), 0);
        }
        assert_eq!(r.bytes, 0);
        assert_eq!(tcp_payload_len(&data), 100);
    }

    #[test]
    fn a_dropped_frame_counts_its_tcp_payload_only() {
        let mut imp = Impairer::new("loss 100% dir out".parse().unwrap());
        let mut delivered = 0;
        imp.arrive(&segment(1, 1000, TcpFlags::NONE, 1448), &mut |_| delivered += 1);
        imp.arrive(&segment(1, 2448, TcpFlags::NONE, 0), &mut |_| delivered += 1);
        imp.arrive(&crate::wire::arp_request(CARD, PEER.ip), &mut |_| delivered += 1);
        assert_eq!(delivered, 0);
        assert_eq!(imp.counts(), ImpairCounts { dropped: 3, reordered: 0, dropped_payload_bytes: 1448 });
    }

    #[test]
    fn parses_netem_spelling_and_refuses_nonsense() {
        let i: Impairment = "loss 1% reorder 2.5%".parse().unwrap();
        assert_eq!((i.loss, i.reorder), (0.01, 0.025));
        assert_eq!("seed 9 loss 0%".parse::<Impairment>().unwrap().seed, 9);
        assert!(matches!("loss".parse::<Impairment>(), Err(ImpairmentError::Syntax(_))));
        assert!(matches!("loss 1".parse::<Impairment>(), Err(ImpairmentError::Percent(_))));
        assert!(matches!("loss 120%".parse::<Impairment>(), Err(ImpairmentError::Percent(_))));
        assert!(matches!("jitter 1%".parse::<Impairment>(), Err(ImpairmentError::Syntax(_))));
    }

    #[test]
    fn direction_is_a_word_of_the_spec_defaulting_to_arriving_frames() {
        assert_eq!("loss 1%".parse::<Impairment>().unwrap().dir, Direction::In);
        assert_eq!("loss 1% dir out".parse::<Impairment>().unwrap().dir, Direction::Out);
        assert_eq!("dir both reorder 2%".parse::<Impairment>().unwrap().dir, Direction::Both);
        assert_eq!("loss 1% dir sideways".parse::<Impairment>(), Err(ImpairmentError::Direction("sideways".into())));
        assert_eq!("loss 1% dir in loss 2%".parse::<Impairment>(), Err(ImpairmentError::Repeated("loss".into())));
        assert_eq!("loss 1% dir".parse::<Impairment>(), Err(ImpairmentError::Syntax("loss 1% dir".into())));
        // What the daemon's config writes back is read the same way.
        let i: Impairment = "loss 2% reorder 1% dir both seed 5".parse().unwrap();
        assert_eq!(i.to_string().parse::<Impairment>().unwrap(), i);
        let msg = ImpairmentError::Direction("up".into()).to_string();
        assert!(msg.contains("dir in") && msg.contains("dir out") && msg.contains("dir both"), "{msg}");
    }

    /// Runs `n` numbered frames each way through a port impaired by `spec`;
    /// returns what arrived on each side.
    fn both_ways(spec: &str, n: u32) -> (PortImpairer, Vec<u32>, Vec<u32>) {
        let mut port = PortImpairer::new(spec.parse().unwrap());
        let (mut inward, mut outward) = (Vec::new(), Vec::new());
        let number = |f: &[u8]| u32::from_be_bytes(f.try_into().unwrap());
        for k in 0..n {
            match &mut port.inbound {
                Some(imp) => imp.arrive(&k.to_be_bytes(), &mut |f| inward.push(number(f))),
                None => inward.push(k),
            }
            match &mut port.outbound {
                Some(imp) => imp.arrive(&k.to_be_bytes(), &mut |f| outward.push(number(f))),
                None => outward.push(k),
            }
        }
        (port, inward, outward)
    }

    #[test]
    fn each_direction_is_impaired_only_when_asked_and_counted_apart() {
        let all: Vec<u32> = (0..20_000).collect();

        let (port, inward, outward) = both_ways("loss 2% dir out seed 4", 20_000);
        assert_eq!(inward, all, "dir out touched arriving frames");
        assert_eq!(port.inbound_counts(), ImpairCounts::default());
        let out = port.outbound_counts();
        assert!((300..500).contains(&out.dropped), "{out:?}");
        assert_eq!(outward.len() as u64 + out.dropped, 20_000);

        let (port, inward, outward) = both_ways("loss 2% seed 4", 20_000);
        assert_eq!(outward, all, "the default (dir in) touched leaving frames");
        assert_eq!(port.outbound_counts(), ImpairCounts::default());
        assert_eq!(inward.len() as u64 + port.inbound_counts().dropped, 20_000);

        let (port, inward, outward) = both_ways("loss 2% reorder 1% dir both seed 4", 20_000);
        let (i, o) = (port.inbound_counts(), port.outbound_counts());
        assert!((300..500).contains(&i.dropped) && (300..500).contains(&o.dropped), "{i:?} {o:?}");
        assert!(i.reordered > 0 && o.reordered > 0, "{i:?} {o:?}");
        assert_eq!(inward.len() as u64 + i.dropped, 20_000);
        assert_eq!(outward.len() as u64 + o.dropped, 20_000);
        // Independent streams: the two directions do not lose the same frames.
        assert_ne!(inward, outward, "both directions dropped exactly the same frames");
    }

    #[test]
    fn drops_and_swaps_at_about_the_asked_rates_and_loses_nothing_else() {
        let mut imp = Impairer::new("loss 1% reorder 1% seed 3".parse().unwrap());
        let mut got: Vec<u32> = Vec::new();
        for n in 0..100_000u32 {
            imp.arrive(&n.to_be_bytes(), &mut |f| got.push(u32::from_be_bytes(f.try_into().unwrap())));
        }
        imp.flush(&mut |f| got.push(u32::from_be_bytes(f.try_into().unwrap())));
        assert!((800..1200).contains(&imp.dropped), "{}", imp.dropped);
        assert!((800..1200).contains(&imp.reordered), "{}", imp.reordered);
        assert_eq!(got.len() as u64 + imp.dropped, 100_000);
        let swaps = got.windows(2).filter(|w| w[0] > w[1]).count() as u64;
        assert!(swaps <= imp.reordered && swaps + 1 >= imp.reordered, "{swaps} swaps, {} held", imp.reordered);
    }

    #[test]
    fn delay_and_cut_parse_with_units_and_round_trip_through_display() {
        let i: Impairment = "delay 50ms cut 5s at 1.5s dir out".parse().unwrap();
        assert_eq!(i.delay, Duration::from_millis(50));
        assert_eq!(i.cut, Some(Cut { at: Duration::from_millis(1500), length: Duration::from_secs(5) }));
        assert_eq!(i.to_string().parse::<Impairment>().unwrap(), i);
        assert_eq!("cut 200us".parse::<Impairment>().unwrap().cut, Some(Cut { at: Duration::ZERO, length: Duration::from_micros(200) }));
        assert_eq!("delay 50".parse::<Impairment>(), Err(ImpairmentError::Duration("50".into())));
        assert_eq!("delay -1ms".parse::<Impairment>(), Err(ImpairmentError::Duration("-1ms".into())));
        assert_eq!("at 1s loss 1%".parse::<Impairment>(), Err(ImpairmentError::AtWithoutCut("1s".into())));
    }

    #[test]
    fn a_delay_holds_every_frame_that_long_in_order() {
        let mut imp = Impairer::new("delay 10ms".parse().unwrap());
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut got: Vec<(u64, u8)> = Vec::new();
        for (at, frame) in [(0u64, 1u8), (3, 2), (12, 3)] {
            imp.arrive_at(ms(at), &[frame], &mut |f| got.push((at, f[0])));
        }
        // At 12 ms the first frame (due at 10) went out; the second is due at 13.
        assert_eq!(got, vec![(12, 1)]);
        imp.flush_at(ms(12), &mut |f| got.push((12, f[0])));
        assert_eq!(got.len(), 1, "nothing else is due at 12 ms");
        imp.flush_at(ms(22), &mut |f| got.push((22, f[0])));
        assert_eq!(got, vec![(12, 1), (22, 2), (22, 3)]);
        assert_eq!(imp.counts(), ImpairCounts::default());
    }

    #[test]
    fn a_cut_drops_everything_in_its_window_counted_from_the_first_frame() {
        let mut imp = Impairer::new("cut 5s at 1s".parse().unwrap());
        let t0 = Instant::now() + Duration::from_secs(100);
        let mut got: Vec<u64> = Vec::new();
        for ms in (0..8000u64).step_by(100) {
            imp.arrive_at(t0 + Duration::from_millis(ms), &ms.to_be_bytes(), &mut |f| {
                got.push(u64::from_be_bytes(f.try_into().unwrap()))
            });
        }
        assert!(got.iter().all(|&ms| !(1000..6000).contains(&ms)), "{got:?}");
        assert_eq!(imp.counts().dropped, 50);
        assert_eq!(got.len(), 30);
    }
}
