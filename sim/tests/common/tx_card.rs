//! The whole core with its transmit rings set up, one peer and connection 0,
//! for the TX tests (`tx_send.rs`, `tx_retransmit.rs`).
#![allow(dead_code)] // each test binary uses its own subset

use std::net::Ipv4Addr;

use holdback_regmap as map;
use holdback_regmap::{Stat, TcpState};
use holdback_sim::core_sim::CoreSim;
use holdback_sim::wire::{tcp_frame, Endpoint, Frame, MacAddr, SeqNum, TcpFlags, TcpRepr};

pub const CORE: Endpoint = Endpoint { mac: MacAddr([0x02, 0x00, 0x5e, 0x00, 0x00, 0x02]), ip: Ipv4Addr::new(198, 18, 0, 2) };
pub const PEER: Endpoint = Endpoint { mac: MacAddr([0x02, 0, 0, 0, 0, 0x11]), ip: Ipv4Addr::new(198, 18, 1, 17) };
pub const LISTEN: u16 = 5001;
pub const PEER_PORT: u16 = 40001;
pub const MSS: u16 = 1460;
/// The card's initial window for SMSS 1460 (RFC 5681 §3.1 eq. 1).
pub const PEER_WINDOW: u16 = 3 * MSS;
pub const RING_LOG2: u32 = 12;
pub const RING: u32 = 1 << RING_LOG2;
pub const IDLE_CYCLES: u64 = 200_000;

pub fn seed() -> u64 {
    let seed = std::env::var("HOLDBACK_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
    eprintln!("HOLDBACK_TEST_SEED={seed}");
    seed
}

/// The core with receive rings of 4 KiB and transmit rings of
/// `1 << tx_log2` bytes in host memory (event queue off: nothing here reads
/// the records), one listening port, holdback off.
pub struct Card {
    pub sim: CoreSim,
    pub tx_base: u64,
    pub tx_ring: u32,
}

impl Card {
    pub fn new(tx_log2: u32) -> Card {
        let mut sim = CoreSim::new().unwrap_or_else(|e| panic!("cannot start the Verilated core ({e}); the sim crate needs verilator"));
        let conns = sim.reg_read(map::ID_CONNS.offset).expect("ID_CONNS") as u64;
        let mem = sim.host_memory();
        let rx_base = mem.base_iova().next_multiple_of(map::HOST_RING_ALIGN);
        let tx_base = rx_base + (conns << RING_LOG2);
        assert!(mem.contains(tx_base, (conns << tx_log2) as usize), "host memory holds both ring sets");
        let mac = CORE.mac.to_u64();
        for (reg, v) in [
            (map::RX_RING_BASE_LO, rx_base as u32),
            (map::RX_RING_BASE_HI, (rx_base >> 32) as u32),
            (map::RX_RING_LOG2, RING_LOG2),
            (map::TX_RING_BASE_LO, tx_base as u32),
            (map::TX_RING_BASE_HI, (tx_base >> 32) as u32),
            (map::TX_RING_LOG2, tx_log2),
            (map::MAC_HI, (mac >> 32) as u32),
            (map::MAC_LO, mac as u32),
            (map::IPV4_ADDR, u32::from(CORE.ip)),
            (map::LISTEN0, map::listen_value(LISTEN, Some(false))),
            (map::OUR_MSS, u32::from(MSS)),
            (map::RTO_US, 200_000),
            (map::CTRL, map::CTRL_ENABLE),
        ] {
            sim.reg_write(reg.offset, v).unwrap_or_else(|e| panic!("write {}: {e}", reg.name));
        }
        Card { sim, tx_base, tx_ring: 1 << tx_log2 }
    }

    pub fn idle(&mut self) {
        self.sim.run_until_idle(IDLE_CYCLES).expect("the core goes idle");
    }

    pub fn send(&mut self, tcp: &TcpRepr, payload: &[u8]) {
        self.sim.push_frame(&tcp_frame(PEER, CORE, tcp, payload));
    }

    pub fn frames(&mut self) -> Vec<(TcpRepr, Vec<u8>)> {
        let mut out = Vec::new();
        while let Some(bytes) = self.sim.pop_tx_frame() {
            let frame = Frame::parse(&bytes).unwrap_or_else(|e| panic!("the core sent a frame that does not parse or verify ({e}): {bytes:02x?}"));
            let (ip, tcp, payload) = frame.tcp().unwrap_or_else(|| panic!("not TCP: {frame:?}"));
            assert_eq!((ip.src, ip.dst, tcp.src_port, tcp.dst_port), (CORE.ip, PEER.ip, LISTEN, PEER_PORT));
            out.push((tcp.clone(), payload.to_vec()));
        }
        out
    }

    pub fn stat(&mut self, s: Stat) -> u32 {
        self.sim.reg_read(s.offset()).expect("stat read")
    }

    pub fn tcb(&mut self, field: map::TcbField) -> u32 {
        let mut words = [0u32; map::TCB_WORDS];
        words[field.word as usize] = self.sim.reg_read(map::tcb_word_addr(0, field.word)).expect("TCB read");
        field.get(&words)
    }

    /// The host puts `data` at stream offset `off` of connection 0's ring.
    pub fn write_ring(&mut self, off: u32, data: &[u8]) {
        let mem = self.sim.host_memory();
        for (i, b) in data.iter().enumerate() {
            let at = (off as u64 + i as u64) & u64::from(self.tx_ring - 1);
            mem.write(self.tx_base + at, &[*b]).expect("ring write");
        }
    }

    pub fn doorbell(&mut self, tail: u32) {
        self.sim.reg_write(map::tx_tail_addr(0), tail).expect("TX_TAIL write");
    }
}

/// The handshake from the peer with `isn` and `window`; returns the card's ISS.
pub fn open(card: &mut Card, isn: u32, window: u16) -> SeqNum {
    open_offering(card, isn, window, false)
}

/// [`open`], the peer's SYN offering SACK-permitted when `sack` (RFC 2018 §2).
pub fn open_offering(card: &mut Card, isn: u32, window: u16, sack: bool) -> SeqNum {
    let mut syn = TcpRepr::new(PEER_PORT, LISTEN, SeqNum(isn), SeqNum(0), TcpFlags::SYN, window).with_mss(MSS);
    if sack {
        syn = syn.with_sack_permitted();
    }
    card.send(&syn, &[]);
    card.idle();
    let frames = card.frames();
    assert_eq!(frames.len(), 1, "one SYN-ACK");
    let iss = frames[0].0.seq;
    let ack = TcpRepr::new(PEER_PORT, LISTEN, SeqNum(isn) + 1, iss + 1, TcpFlags::ACK, window);
    card.send(&ack, &[]);
    card.idle();
    assert!(card.frames().is_empty(), "the handshake's ACK is not answered");
    assert_eq!(card.tcb(map::tcb::STATE), TcpState::Established as u32, "connection 0 is established");
    iss
}


/// Connection 0 of the card beside the reference model's `TxTcb`, for tests
/// that score every data segment the card sends against the model's
/// decisions, frame by frame (the peer is the test: it picks what to
/// acknowledge, with which window, when).
pub struct Scored {
    pub card: Card,
    pub model: holdback_sim::refmodel::tx::TxTcb,
    pub rto: holdback_sim::refmodel::tx_rtt::RtoSettings,
    pub iss: SeqNum,
    /// The peer's next sequence number (it sends no data).
    pub peer_seq: SeqNum,
    /// The stream the host wrote, from offset 0.
    pub data: Vec<u8>,
}

impl Scored {
    /// Open connection 0 with the peer offering `window`, set the card's
    /// RTO_MIN_US to `rto_min_us` and its initial RTO to the model's, and
    /// have the host write `bytes` pseudo-random bytes (a `tx_log2` ring
    /// must hold them) and ring the doorbell. Nothing is sent yet: the first
    /// [`Scored::expect_sent`] sees the first flight.
    pub fn new(tx_log2: u32, window: u16, rto_min_us: u32, bytes: usize, seed: u64) -> Scored {
        Scored::new_offering(tx_log2, window, rto_min_us, bytes, seed, false)
    }

    /// [`Scored::new`] with SACK negotiated when `sack` (the card's
    /// reassembly and SACK on, the peer's SYN offering it): the peer's ACKs
    /// may then carry SACK blocks ([`Scored::ack_with`]).
    pub fn new_offering(tx_log2: u32, window: u16, rto_min_us: u32, bytes: usize, seed: u64, sack: bool) -> Scored {
        use holdback_sim::refmodel::tx::TxTcb;
        use holdback_sim::refmodel::tx_rtt::{RtoSettings, INITIAL_RTO_US};
        let mut card = Card::new(tx_log2);
        card.sim.reg_write(map::RTO_US.offset, INITIAL_RTO_US).expect("RTO_US");
        card.sim.reg_write(map::RTO_MIN_US.offset, rto_min_us).expect("RTO_MIN_US");
        if sack {
            card.sim.reg_write(map::RX_REASM.offset, 3).expect("RX_REASM");
        }
        let rto = RtoSettings { rto_min_us, ..RtoSettings::default() };
        let isn = (seed as u32) | 0x8000_0000;
        let iss = open_offering(&mut card, isn, window, sack);
        assert_eq!(card.tcb(map::tcb::SACK_OK) == 1, sack, "SACK negotiated as offered");
        let peer_seq = SeqNum(isn) + 1;
        let mut model = TxTcb::established(iss, MSS, peer_seq, window);
        model.sack_ok = sack;
        let data: Vec<u8> = (0..bytes).map(|i| ((i as u64).wrapping_mul(0x9e37_79b9).wrapping_add(seed) >> 7) as u8).collect();
        assert!(bytes <= 1 << tx_log2, "the ring holds the stream");
        let mut s = Scored { card, model, rto, iss, peer_seq, data };
        s.card.write_ring(0, &s.data.clone());
        s.card.doorbell(bytes as u32);
        s.model.set_tail(bytes as u32, 1 << tx_log2).expect("tail");
        s
    }

    /// Let the card run until idle, and check that the data segments it sent
    /// are exactly the model's: the segment at snd_una first when
    /// `resend_first` (a fast retransmit or partial ACK), then each next
    /// segment until the model sends nothing. Returns them.
    pub fn expect_sent(&mut self, resend_first: bool, what: &str) -> Vec<holdback_sim::refmodel::tx::Segment> {
        self.card.idle();
        let now = self.card.sim.now_us() as u32;
        let mut want = Vec::new();
        if resend_first {
            want.extend(self.model.retransmit_first(now));
        }
        while let Some(seg) = self.model.next_segment(now) {
            want.push(seg);
        }
        let sent = self.card.frames();
        let got: Vec<(SeqNum, u32)> = sent.iter().map(|(t, p)| (t.seq, p.len() as u32)).collect();
        let exp: Vec<(SeqNum, u32)> = want.iter().map(|s| (s.seq, s.len)).collect();
        assert_eq!(got, exp, "{what}: the card's data segments (seq, len) against the model's");
        for (tcp, payload) in &sent {
            let off = tcp.seq.bytes_since(self.iss + 1) as usize;
            assert_eq!(payload.as_slice(), &self.data[off..off + payload.len()], "{what}: the ring's bytes at {off}");
            assert_eq!(tcp.ack, self.peer_seq, "{what}: every segment acknowledges the peer's");
        }
        want
    }

    /// The peer acknowledges `ack` with `wnd` (after `rtt_us` more
    /// microseconds); the model takes the same ACK. Returns the model's verdict.
    pub fn ack(&mut self, ack: SeqNum, wnd: u16, rtt_us: u32) -> holdback_sim::refmodel::tx::AckVerdict {
        self.ack_with(ack, &[], wnd, rtt_us).verdict
    }

    /// [`Scored::ack`] carrying SACK `blocks` (RFC 2018 §3); the model takes
    /// them too. Returns its outcome: the verdict and whether a resend is asked.
    pub fn ack_with(
        &mut self,
        ack: SeqNum,
        blocks: &[(SeqNum, SeqNum)],
        wnd: u16,
        rtt_us: u32,
    ) -> holdback_sim::refmodel::tx::AckOutcome {
        use holdback_sim::refmodel::tx::AckSegment;
        // The ACK's round trip, cut short of the timer's due time: this peer's
        // ACKs race no timeout (those come when nothing is on the wire).
        let mut rtt_us = rtt_us;
        if self.model.timer != holdback_sim::refmodel::tx::TxTimer::Off {
            let left = self.model.timer_due_us.wrapping_sub(self.card.sim.now_us() as u32) as i32;
            rtt_us = rtt_us.min(left.saturating_sub(1).max(0) as u32);
        }
        if rtt_us > 0 {
            self.card.sim.advance_us(rtt_us);
            self.card.idle();
            assert!(self.card.frames().is_empty(), "nothing is sent while the peer's ACK is on its way");
        }
        let now = self.card.sim.now_us() as u32;
        let mut repr = TcpRepr::new(PEER_PORT, LISTEN, self.peer_seq, ack, TcpFlags::ACK, wnd);
        if !blocks.is_empty() {
            repr = repr.with_sack_blocks(blocks);
        }
        self.card.send(&repr, &[]);
        self.model.on_ack_with_sack(&AckSegment { seq: self.peer_seq, ack, wnd, occupies: false }, None, blocks, now, &self.rto)
    }

    /// The card's TIMER_DUE against the model's, when a timer runs.
    pub fn check_timer(&mut self, what: &str) {
        use holdback_sim::refmodel::tx::TxTimer;
        if self.model.timer != TxTimer::Off {
            assert_eq!(self.card.tcb(map::tcb::TIMER_DUE), self.model.timer_due_us, "{what}: the timer's due time");
        }
    }
}

/// The timer scan visits each connection once per 1024 us: a timer fires
/// within that much of its due time.
pub const SCAN_US: u32 = 1024;

impl Scored {
    /// Nothing is on the wire: let the card's timer (the model's) run out and
    /// check what it sends, a retransmission of the first unacknowledged
    /// segment (RFC 6298 §5.4) or a zero-window probe, against the model's
    /// `on_timer`; then anything the model sends after it. Returns all of it.
    pub fn expect_timer(&mut self, what: &str) -> Vec<holdback_sim::refmodel::tx::Segment> {
        use holdback_sim::refmodel::tx::TimerAction;
        use holdback_sim::refmodel::MAX_RETRIES;
        self.check_timer(what);
        let due = self.model.timer_due_us;
        let now = self.card.sim.now_us() as u32;
        self.card.sim.advance_us(due.wrapping_sub(now).saturating_sub(1));
        self.card.idle();
        assert!(self.card.frames().is_empty(), "{what}: sent before the timer ran out");
        self.card.sim.advance_us(SCAN_US + 1);
        self.card.idle();
        let sent = self.card.frames();
        // The scan fired at new_due - (the backed-off RTO): within one scan period of due.
        let mut backed = self.model.rtt;
        backed.on_timeout(&self.rto);
        let new_due = self.card.tcb(map::tcb::TIMER_DUE);
        let fired = new_due.wrapping_sub(backed.rto_us);
        assert!(fired.wrapping_sub(due) <= SCAN_US + 1, "{what}: the timer fired {} us after its due time", fired.wrapping_sub(due) as i32);
        let mut want = match self.model.on_timer(fired, &self.rto, MAX_RETRIES) {
            Some(TimerAction::Retransmit(seg)) | Some(TimerAction::Probe(seg)) => vec![seg],
            other => panic!("{what}: the model does {other:?}"),
        };
        let now = self.card.sim.now_us() as u32;
        while let Some(seg) = self.model.next_segment(now) {
            want.push(seg);
        }
        let got: Vec<(SeqNum, u32)> = sent.iter().map(|(t, p)| (t.seq, p.len() as u32)).collect();
        let exp: Vec<(SeqNum, u32)> = want.iter().map(|s| (s.seq, s.len)).collect();
        assert_eq!(got, exp, "{what}: the card's segments after its timer against the model's");
        for (tcp, payload) in &sent {
            let off = tcp.seq.bytes_since(self.iss + 1) as usize;
            assert_eq!(payload.as_slice(), &self.data[off..off + payload.len()], "{what}: the ring's bytes at {off}");
        }
        assert_eq!(new_due, self.model.timer_due_us, "{what}: the timer re-armed with the backed-off RTO");
        want
    }
}

/// What the peer of [`run_peer`] did, for the tests' coverage checks.
#[derive(Debug, Default)]
pub struct PeerRun {
    pub segments: usize,
    pub dropped: usize,
    /// Payload bytes of the dropped segments, and of the card's retransmissions.
    pub bytes_dropped: u64,
    pub bytes_resent: u64,
    /// ACKs that carried SACK blocks.
    pub sack_acks: usize,
    pub timeouts: usize,
    pub verdicts: std::collections::HashMap<String, usize>,
}

/// A receiving peer that ACKs every data segment it gets with its rcv_nxt
/// (keeping out-of-order ones, as Linux does) and a fixed window, each ACK
/// `rtt_us` after the last; `drop(n, seg)` says whether the n-th segment the
/// card sends is lost. With SACK negotiated ([`Scored::new_offering`]) each
/// ACK reports the ranges held above rcv_nxt, at most four, in RFC 2018 §4's
/// order (the one holding the segment just taken first, then the most
/// recently changed). Every segment the card sends, every ACK's effect and
/// every timer are scored against the model, until all of the stream is
/// acknowledged.
pub fn run_peer(
    s: &mut Scored,
    wnd: u16,
    rtt_us: u32,
    mut drop: impl FnMut(usize, &holdback_sim::refmodel::tx::Segment) -> bool,
) -> PeerRun {
    let end = s.iss + 1 + s.data.len() as u32;
    let mut run = PeerRun::default();
    let mut wire: std::collections::VecDeque<holdback_sim::refmodel::tx::Segment> = s.expect_sent(false, "the first flight").into();
    let mut rcv_nxt = s.iss + 1;
    let mut held: Vec<(SeqNum, SeqNum)> = Vec::new();
    let mut n = 0;
    // Sequence numbers of the segments taken, the latest last (RFC 2018 §4's recency).
    let mut taken: Vec<SeqNum> = Vec::new();
    while s.model.snd_una != end {
        let Some(seg) = wire.pop_front() else {
            run.timeouts += 1;
            let what = format!("timeout {} (snd_una {})", run.timeouts, s.model.snd_una);
            let sent = s.expect_timer(&what);
            run.bytes_resent += sent.iter().filter(|g| g.retransmission).map(|g| u64::from(g.len)).sum::<u64>();
            wire.extend(sent);
            assert!(run.timeouts < 200, "no progress");
            continue;
        };
        n += 1;
        run.segments += 1;
        if drop(n, &seg) {
            run.dropped += 1;
            run.bytes_dropped += u64::from(seg.len);
            continue;
        }
        held.push((seg.seq, seg.seq + seg.len));
        taken.push(seg.seq);
        loop {
            let before = rcv_nxt;
            for &(a, b) in &held {
                if a.not_after(rcv_nxt) && rcv_nxt.before(b) {
                    rcv_nxt = b;
                }
            }
            if rcv_nxt == before {
                break;
            }
        }
        held.retain(|&(_, b)| rcv_nxt.before(b));
        let blocks = if s.model.sack_ok { sack_blocks(rcv_nxt, &held, &taken) } else { Vec::new() };
        run.sack_acks += usize::from(!blocks.is_empty());
        let out = s.ack_with(rcv_nxt, &blocks, wnd, rtt_us);
        let verdict = out.verdict;
        *run.verdicts.entry(format!("{verdict:?}")).or_default() += 1;
        let what = format!("after ACK {rcv_nxt} {blocks:?} ({verdict:?}) of segment {n}");
        let sent = s.expect_sent(out.resend, &what);
        run.bytes_resent += sent.iter().filter(|g| g.retransmission).map(|g| u64::from(g.len)).sum::<u64>();
        wire.extend(sent);
        s.check_timer(&what);
    }
    run
}

/// The held segments above `rcv_nxt` merged into ranges, at most four, the
/// one holding the latest segment taken first and the others by the latest
/// segment each holds (RFC 2018 §4).
fn sack_blocks(rcv_nxt: SeqNum, held: &[(SeqNum, SeqNum)], taken: &[SeqNum]) -> Vec<(SeqNum, SeqNum)> {
    let mut segs: Vec<(SeqNum, SeqNum)> = held.iter().copied().filter(|&(_, b)| rcv_nxt.before(b)).collect();
    segs.sort_by_key(|&(a, _)| a.bytes_since(rcv_nxt));
    let mut ranges: Vec<(SeqNum, SeqNum)> = Vec::new();
    for (a, b) in segs {
        match ranges.last_mut() {
            Some(last) if a.not_after(last.1) => {
                if last.1.before(b) {
                    last.1 = b;
                }
            }
            _ => ranges.push((a, b)),
        }
    }
    let recency = |r: &(SeqNum, SeqNum)| taken.iter().rposition(|&q| !q.before(r.0) && q.before(r.1));
    ranges.sort_by_key(|r| std::cmp::Reverse(recency(r)));
    ranges.truncate(4);
    ranges
}
