//! Congestion control on the whole core, every data segment scored against
//! the reference model (`TxTcb`) frame by frame: RFC 5681 §3.1's initial
//! window and slow start (cwnd doubles per round trip when every segment is
//! ACKed), and loss recovery by fast retransmit on the third duplicate ACK
//! (RFC 5681 §3.2) with NewReno's partial ACKs (RFC 6582 §3.2).
#[path = "common/tx_card.rs"]
mod tx_card;

use holdback_regmap::Stat;
use holdback_sim::refmodel::tx::{initial_window, AckVerdict};
use holdback_sim::wire::{SeqNum, TcpFlags, TcpRepr};
use tx_card::{run_peer, seed, Scored, LISTEN, MSS, PEER_PORT};

/// Round trip of the simulated peer: far below the RTO.
const RTT_US: u32 = 2_000;
const RTO_MIN_US: u32 = 200_000;

#[test]
fn the_first_flight_is_the_initial_window_and_cwnd_doubles_per_round_trip() {
    let mut s = Scored::new(15, 65_535, RTO_MIN_US, 32_000, seed());
    let mut flight = s.expect_sent(false, "the first flight");
    let first: u32 = flight.iter().map(|g| g.len).sum();
    assert!(first <= initial_window(MSS), "the first flight ({first} bytes) is within RFC 5681's initial window");
    assert_eq!(flight.len(), 3, "IW = 3 SMSS for an SMSS of 1460");
    let mut rounds = vec![flight.len()];
    while !flight.is_empty() {
        let mut next = Vec::new();
        for (i, seg) in flight.iter().enumerate() {
            // One ACK per segment; the round's first comes a round trip after the flight.
            let rtt = if i == 0 { RTT_US } else { 0 };
            let verdict = s.ack(seg.seq + seg.len, 65_535, rtt);
            assert_eq!(verdict, AckVerdict::NewData);
            next.extend(s.expect_sent(false, &format!("round {} ACK {i}", rounds.len())));
            s.check_timer("slow start");
        }
        flight = next;
        if !flight.is_empty() {
            rounds.push(flight.len());
        }
    }
    eprintln!("segments per round trip: {rounds:?}");
    // Slow start: every ACK adds one SMSS, so each round sends twice the last
    // until the stream (22 segments) runs out.
    assert_eq!(&rounds[..3], &[3, 6, 12], "cwnd doubles per round trip");
    assert_eq!(rounds.iter().sum::<usize>(), 32_000usize.div_ceil(usize::from(MSS)));
    assert_eq!(s.model.snd_una, s.iss + 1 + 32_000);
}

#[test]
fn three_duplicate_acks_fast_retransmit_and_a_partial_ack_resends_the_next_hole() {
    let mut s = Scored::new(15, 65_535, RTO_MIN_US, 32_000, seed());
    let retransmits = s.card.stat(Stat::Retransmits);
    let fast = s.card.stat(Stat::FastRetransmits);
    // Segments 1-9 arrive (cwnd grows to 12 SMSS); of the third flight the
    // 2nd and 5th are lost once, so recovery meets a partial ACK.
    let run = run_peer(&mut s, 65_535, RTT_US, |n, seg| (n == 11 || n == 14) && !seg.retransmission);
    eprintln!("{run:?}");
    assert_eq!(run.dropped, 2);
    assert_eq!(run.timeouts, 0, "recovered without a timeout");
    assert_eq!(run.verdicts.get("FastRetransmit"), Some(&1), "{run:?}");
    assert_eq!(run.verdicts.get("PartialAck"), Some(&1), "{run:?}");
    assert_eq!(run.verdicts.get("FullAck"), Some(&1), "{run:?}");
    assert_eq!(s.card.stat(Stat::FastRetransmits) - fast, 2, "the fast retransmit and the partial ACK's");
    assert_eq!(s.card.stat(Stat::Retransmits) - retransmits, 2, "two segments sent again");
    assert!(!s.model.in_recovery, "the full ACK ended recovery");
}

/// A fast retransmit overtaken by the ACK of everything: the third duplicate
/// ACK asks the send path to resend the segment at snd_una, but the peer's
/// next ACK covers everything sent before the send path gets to the
/// connection. Nothing is left to resend; the bytes the host wrote beyond
/// go out at once. (Found with Linux peers under loss both ways: the card
/// took the stale request, sent nothing, and with nothing in flight no
/// timer ran and no ACK came to try again — the echo stalled for good.)
#[test]
fn a_resend_overtaken_by_an_ack_of_everything_leaves_new_data_free_to_go() {
    use holdback_sim::refmodel::tx::AckSegment;
    let mut s = Scored::new(15, 65_535, RTO_MIN_US, 32_000, seed());
    let first = s.expect_sent(false, "the first flight");
    let end = first.last().map(|g| g.seq + g.len).expect("a first flight");
    assert_eq!(s.ack(end, 65_535, RTT_US), AckVerdict::NewData);
    let flight = s.expect_sent(false, "the second flight");
    assert!(flight.len() >= 4, "enough in flight for three duplicate ACKs: {}", flight.len());
    let una = flight[0].seq;
    let all = flight.last().map(|g| g.seq + g.len).expect("a second flight");
    // Three duplicates and the ACK of everything, back to back: the card
    // takes all four frames before its send path visits the connection.
    s.card.sim.advance_us(RTT_US);
    let now = s.card.sim.now_us() as u32;
    let mut verdicts = Vec::new();
    for ack in [una, una, una, all] {
        s.card.send(&TcpRepr::new(PEER_PORT, LISTEN, s.peer_seq, ack, TcpFlags::ACK, 65_535), &[]);
        verdicts.push(s.model.on_ack(&AckSegment { seq: s.peer_seq, ack, wnd: 65_535, occupies: false }, now, &s.rto));
    }
    assert_eq!(verdicts[2], AckVerdict::FastRetransmit, "{verdicts:?}");
    s.card.idle();
    let sent = s.card.frames();
    let got: Vec<(SeqNum, u32)> = sent.iter().map(|(t, p)| (t.seq, p.len() as u32)).collect();
    let mut want = Vec::new();
    while let Some(seg) = s.model.next_segment(now) {
        want.push((seg.seq, seg.len));
    }
    assert!(!want.is_empty(), "the model sends new data after the full ACK");
    assert_eq!(got, want, "after the ACK of everything: new data, no resend (card's (seq, len) against the model's)");
}
