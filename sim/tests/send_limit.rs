//! Send holdback on the whole Verilated core (docs/engine.md, "Send
//! holdback"; invariant 9 in docs/failover.md): with a connection's send
//! holdback on, nothing at or above its send limit L leaves the card — new
//! data stops at L and resumes when the host moves L, retransmissions and
//! zero-window probes stay below it, and the FIN waits until L passes it.
//! Every data segment is scored against the reference model (`TxTcb`, whose
//! tail the model's send limit clamps: `refmodel::send_limit::sendable_end`)
//! and every segment is checked against L (`refmodel::send_limit::check_segment`).
//!
//! Needs verilator (the sim crate's build verilates the core): install with
//! `apt-get install verilator`.
#[path = "common/tx_card.rs"]
mod tx_card;

use holdback_regmap::{self as map, Stat, TcpState};
use holdback_sim::refmodel::send_limit::{check_segment, sendable_end};
use holdback_sim::refmodel::tx::{Segment, TxTcb, TxTimer};
use holdback_sim::refmodel::tx_rtt::{RtoSettings, INITIAL_RTO_US};
use holdback_sim::wire::{SeqNum, TcpFlags, TcpRepr};
use tx_card::{open, seed, Card, Scored, LISTEN, MSS, PEER_PORT};

const RTT_US: u32 = 2_000;
const RTO_MIN_US: u32 = 200_000;
/// 32 KiB transmit rings: the largest stream here fits in one.
const TX_LOG2: u32 = 15;

/// Connection 0 scored against the model, with the host's send limit.
struct Held {
    s: Scored,
    /// The connection's send holdback bit (from SEND_HOLDBACK at its SYN).
    hold: bool,
    /// L as the card keeps it (the serial maximum of the writes).
    limit: u32,
    tail: u32,
}

impl Held {
    /// Open connection 0 with SEND_HOLDBACK = `send_holdback` and the peer
    /// offering `window`; the host writes `bytes` bytes and rings the
    /// doorbell; L is still 0.
    fn new(send_holdback: u32, window: u16, bytes: u32, seed: u64) -> Held {
        let mut card = Card::new(TX_LOG2);
        card.sim.reg_write(map::SEND_HOLDBACK.offset, send_holdback).expect("SEND_HOLDBACK");
        card.sim.reg_write(map::RTO_US.offset, INITIAL_RTO_US).expect("RTO_US");
        card.sim.reg_write(map::RTO_MIN_US.offset, RTO_MIN_US).expect("RTO_MIN_US");
        let isn = (seed as u32) | 0x8000_0000;
        let iss = open(&mut card, isn, window);
        let hold = card.tcb(map::tcb::SEND_HOLD) == 1;
        let peer_seq = SeqNum(isn) + 1;
        let model = TxTcb::established(iss, MSS, peer_seq, window);
        let data: Vec<u8> = (0..bytes as u64).map(|i| (i.wrapping_mul(0x9e37_79b9).wrapping_add(seed) >> 7) as u8).collect();
        let rto = RtoSettings { rto_min_us: RTO_MIN_US, ..RtoSettings::default() };
        let mut h = Held { s: Scored { card, model, rto, iss, peer_seq, data }, hold, limit: 0, tail: bytes };
        h.s.card.write_ring(0, &h.s.data.clone());
        h.s.card.doorbell(bytes);
        h.model_tail();
        h
    }

    /// The model sends what the card may: up to min(tail, L) with holdback on.
    fn model_tail(&mut self) {
        let end = sendable_end(self.hold, self.limit, self.tail);
        self.s.model.set_tail(end, 1 << TX_LOG2).expect("the model's tail");
    }

    fn set_limit(&mut self, limit: u32) {
        self.s.card.sim.reg_write(map::send_limit_addr(0), limit).expect("SEND_LIMIT write");
        if !SeqNum(limit).before(SeqNum(self.limit)) {
            self.limit = limit;
        }
        self.model_tail();
    }

    /// Every segment below L (with holdback on).
    fn below_limit(&self, segs: &[Segment], what: &str) {
        if !self.hold {
            return;
        }
        for seg in segs {
            check_segment(self.s.iss, self.limit, seg.seq, seg.len, false, false).unwrap_or_else(|e| panic!("{what}: {e}"));
        }
    }

    fn expect_sent(&mut self, resend_first: bool, what: &str) -> Vec<Segment> {
        let segs = self.s.expect_sent(resend_first, what);
        self.below_limit(&segs, what);
        segs
    }

    fn expect_timer(&mut self, what: &str) -> Vec<Segment> {
        let segs = self.s.expect_timer(what);
        self.below_limit(&segs, what);
        segs
    }

    /// The peer acknowledges each segment on the wire as it arrives (window
    /// `wnd`), and every segment the card sends in answer, until it sends nothing.
    fn ack_all(&mut self, wire: Vec<Segment>, wnd: u16, what: &str) {
        let mut wire: std::collections::VecDeque<Segment> = wire.into();
        while let Some(seg) = wire.pop_front() {
            self.s.ack(seg.seq + seg.len, wnd, RTT_US);
            wire.extend(self.expect_sent(false, what));
        }
    }

    /// Stream bytes acknowledged so far.
    fn acked(&self) -> u32 {
        self.s.model.snd_una.bytes_since(self.s.iss + 1)
    }
}

#[test]
fn data_stops_at_the_send_limit_and_resumes_when_it_moves() {
    let window = 8 * MSS;
    let mut h = Held::new(map::SEND_HOLDBACK_DEFAULT, window, 20_000, seed());
    assert!(h.hold, "SEND_HOLDBACK bit0 puts send holdback into the new connection's TCB");
    assert!(h.expect_sent(false, "L = 0").is_empty(), "nothing of the stream is below L = 0");

    // L = 1000: one short segment (it empties what may be sent, nothing in flight).
    h.set_limit(1000);
    let first = h.expect_sent(false, "L = 1000");
    assert_eq!(first.iter().map(|s| s.len).sum::<u32>(), 1000, "exactly the bytes below L: {first:?}");
    h.ack_all(first, window, "after L = 1000");
    assert_eq!(h.acked(), 1000);

    // L = 9000: the window's worth up to L, then nothing more.
    h.set_limit(9000);
    let flight = h.expect_sent(false, "L = 9000");
    assert!(!flight.is_empty());
    h.ack_all(flight, window, "up to L = 9000");
    assert_eq!(h.acked(), 9000, "the card sent up to L and stopped");

    // A stale write (backwards) does not pull L back, and nothing moves.
    h.set_limit(5000);
    assert!(h.expect_sent(false, "a stale L").is_empty());

    // L past the tail: the rest of the stream, but no FIN before the host closes.
    h.set_limit(20_000);
    let rest = h.expect_sent(false, "L = tail");
    h.ack_all(rest, window, "the rest");
    assert_eq!(h.acked(), 20_000, "everything acknowledged");

    // CLOSE with L at the tail: the FIN (sequence number at the tail) is not below L.
    h.s.card.sim.reg_write(map::CONN_CLOSE.offset, 0).expect("CONN_CLOSE");
    h.s.card.idle();
    assert!(h.s.card.frames().is_empty(), "no FIN while L does not pass it");
    assert_eq!(h.s.card.tcb(map::tcb::STATE), TcpState::FinWait1 as u32, "FIN-WAIT-1, the FIN waiting");
    // L one past the tail lets it out.
    h.set_limit(20_001);
    h.s.card.idle();
    let fin = h.s.card.frames();
    assert_eq!(fin.len(), 1, "the FIN once L passes it");
    let (tcp, payload) = &fin[0];
    assert_eq!(tcp.flags, TcpFlags::FIN | TcpFlags::ACK);
    assert_eq!(tcp.seq, h.s.iss + 1 + 20_000);
    check_segment(h.s.iss, h.limit, tcp.seq, payload.len() as u32, false, true).unwrap_or_else(|e| panic!("the FIN: {e}"));
    assert_eq!(h.s.card.tcb(map::tcb::SND_MAX), (h.s.iss + 1 + 20_001).0);
}

#[test]
fn retransmissions_never_reach_past_the_send_limit() {
    let window = 8 * MSS;
    let mut h = Held::new(map::SEND_HOLDBACK_DEFAULT, window, 30_000, seed());
    let retransmits = h.s.card.stat(Stat::Retransmits);
    h.set_limit(2 * u32::from(MSS) + 700);
    let flight = h.expect_sent(false, "the first flight below L");
    assert_eq!(flight.len(), 2, "two full segments; the short rest waits (Nagle) while they fly: {flight:?}");
    // The peer loses the whole flight: the timer resends from snd_una, twice
    // (backed off), never past L.
    let again = h.expect_timer("the first timeout");
    assert_eq!(again[0].seq, h.s.iss + 1);
    let again2 = h.expect_timer("the second timeout");
    assert_eq!(again2[0].seq, h.s.iss + 1);
    assert!(h.s.card.stat(Stat::Retransmits) - retransmits >= 2);
    // L moves while the retransmission is unacknowledged: the go-back-N
    // resend and the new bytes all stay below the new L.
    h.set_limit(6000);
    let mut wire = again2;
    wire.extend(h.expect_sent(false, "L = 6000 after the timeouts"));
    h.ack_all(wire, window, "recovery below L");
    assert_eq!(h.acked(), 6000, "the card recovered and stopped at L");
}

#[test]
fn a_zero_window_probe_stays_below_the_send_limit() {
    let window = 3 * MSS;
    let mut h = Held::new(map::SEND_HOLDBACK_DEFAULT, window, 10_000, seed());
    let l = 3 * u32::from(MSS);
    h.set_limit(l);
    let flight = h.expect_sent(false, "the first flight, up to L");
    assert_eq!(flight.len(), 3);
    // The peer takes it all and closes its window. Bytes wait, but none below
    // L: no persist timer, so no probe (it would carry the byte at L).
    let end = flight[2].seq + flight[2].len;
    h.s.ack(end, 0, RTT_US);
    assert!(h.expect_sent(false, "the zero window at L").is_empty());
    assert_eq!(h.s.model.timer, TxTimer::Off, "the model arms no persist timer for bytes above L");
    h.s.card.sim.advance_us(5 * INITIAL_RTO_US);
    h.s.card.idle();
    assert!(h.s.card.frames().is_empty(), "no probe past L however long the window stays closed");
    // L moves: now a byte below L waits behind the zero window, so the
    // persist timer runs and its probe is that byte.
    h.set_limit(l + 500);
    assert!(h.expect_sent(false, "L moved, the window still closed").is_empty());
    assert_eq!(h.s.model.timer, TxTimer::Persist);
    let probe = h.expect_timer("the probe");
    assert_eq!((probe[0].seq, probe[0].len), (end, 1), "one byte beyond the window, below L");
    // The window opens and the peer takes the probe's byte: the rest up to
    // L (a short segment: nothing is in flight any more), and no further.
    h.s.ack(end + 1, window, RTT_US);
    let rest = h.expect_sent(false, "the window opens");
    h.ack_all(rest, window, "up to L");
    assert_eq!(h.acked(), l + 500);
}

#[test]
fn without_send_holdback_the_limit_is_ignored() {
    // The default is on, but LISTEN0's port has its own setting: off.
    let reg = map::send_holdback_value(true, [Some(false), None, None, None]);
    let window = 8 * MSS;
    let mut h = Held::new(reg, window, 8_000, seed());
    assert!(!h.hold, "the slot's own setting wins over the default");
    let flight = h.expect_sent(false, "L = 0, holdback off");
    assert!(!flight.is_empty(), "with send holdback off L = 0 holds nothing back");
    h.ack_all(flight, window, "the stream");
    assert_eq!(h.acked(), 8_000);
    // The FIN does not wait for L either.
    h.s.card.sim.reg_write(map::CONN_CLOSE.offset, 0).expect("CONN_CLOSE");
    h.s.card.idle();
    let fin = h.s.card.frames();
    assert_eq!(fin.len(), 1);
    assert!(fin[0].0.flags.fin());
}

#[test]
fn a_slot_of_its_own_turns_send_holdback_on_against_the_default() {
    let reg = map::send_holdback_value(false, [Some(true), None, None, None]);
    let mut h = Held::new(reg, 8 * MSS, 4_000, seed());
    assert!(h.hold, "LISTEN0's own setting: on");
    assert!(h.expect_sent(false, "L = 0").is_empty());
    // An ACK of nothing new (a window update) must not let anything past L either.
    let ack = TcpRepr::new(PEER_PORT, LISTEN, h.s.peer_seq, h.s.iss + 1, TcpFlags::ACK, 16 * MSS);
    h.s.card.send(&ack, &[]);
    h.s.card.idle();
    assert!(h.s.card.frames().is_empty(), "a window update sends nothing above L");
}
