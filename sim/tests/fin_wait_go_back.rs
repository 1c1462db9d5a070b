//! An ACK past snd_nxt after a go-back-N, on the whole Verilated core
//! (docs/engine.md, "Segment handling"): a retransmission timeout takes
//! snd_nxt back to snd_una and the send path resends the first segment; the
//! peer, which had the rest all along, answers with an ACK of everything
//! the card ever sent (snd_max). In FIN-WAIT-1 and CLOSING, with data still
//! before our FIN, only the receive path takes that ACK: it must move
//! snd_una and snd_nxt to it and the close go on. Before, the ACK was
//! refused for passing snd_nxt, every timeout resent the same segment, and
//! the connection ended in a RST after seven (a relayed upload whose client
//! had closed, under loss).
//!
//! Needs verilator (the sim crate's build verilates the core): install with
//! `apt-get install verilator`.
#[path = "common/tx_card.rs"]
mod tx_card;

use holdback_regmap::{self as map, Stat, TcpState};
use holdback_sim::refmodel::tx_rtt::INITIAL_RTO_US;
use holdback_sim::wire::{SeqNum, TcpFlags, TcpRepr};
use tx_card::{open, Card, LISTEN, MSS, PEER_PORT};

const TX_LOG2: u32 = 15;
const ISN: u32 = 0x9000_0000;

/// Connection 0 with two full segments sent and then our FIN (FIN-WAIT-1),
/// none acknowledged; then the retransmission timeout, which resends the
/// first segment. Returns the card and our ISS.
fn fin_wait_after_a_timeout() -> (Card, SeqNum) {
    let mut card = Card::new(TX_LOG2);
    card.sim.reg_write(map::RTO_US.offset, INITIAL_RTO_US).expect("RTO_US");
    let window = 8 * MSS;
    let iss = open(&mut card, ISN, window);
    let bytes = 2 * u32::from(MSS);
    let data: Vec<u8> = (0..bytes).map(|i| (i * 7) as u8).collect();
    card.write_ring(0, &data);
    card.doorbell(bytes);
    card.idle();
    let sent = card.frames();
    assert_eq!(sent.len(), 2, "two full segments: {:?}", sent.iter().map(|(t, p)| (t.seq, p.len())).collect::<Vec<_>>());
    card.sim.reg_write(map::CONN_CLOSE.offset, 0).expect("CONN_CLOSE");
    card.idle();
    let fin = card.frames();
    assert_eq!(fin.len(), 1, "our FIN after the data");
    assert_eq!((fin[0].0.flags, fin[0].0.seq), (TcpFlags::FIN | TcpFlags::ACK, iss + 1 + bytes));
    assert_eq!(card.tcb(map::tcb::STATE), TcpState::FinWait1 as u32);
    assert_eq!(card.tcb(map::tcb::SND_MAX), (iss + 1 + bytes + 1).0, "snd_max past our FIN");

    let retransmits = card.stat(Stat::Retransmits);
    let resent = after_a_timeout(&mut card, 5);
    assert_eq!(resent.len(), 1, "the timeout resends one segment: {:?}", resent.iter().map(|(t, p)| (t.seq, p.len())).collect::<Vec<_>>());
    let (again, payload) = &resent[0];
    assert_eq!((again.seq, payload.len()), (iss + 1, usize::from(MSS)), "the first segment again");
    assert!(card.stat(Stat::Retransmits) > retransmits, "counted as a retransmission");
    assert_eq!(card.tcb(map::tcb::SND_NXT), (iss + 1 + u32::from(MSS)).0, "go-back-N: snd_nxt behind the FIN");
    (card, iss)
}

/// What the card sends first while time runs on in eighths of the initial
/// RTO, for at most `rtos` of them (a backed-off timer waits longer).
fn after_a_timeout(card: &mut Card, rtos: u32) -> Vec<(TcpRepr, Vec<u8>)> {
    for _ in 0..rtos * 8 {
        card.sim.advance_us(INITIAL_RTO_US / 8);
        card.idle();
        let sent = card.frames();
        if !sent.is_empty() {
            return sent;
        }
    }
    Vec::new()
}

fn peer_segment(seq: SeqNum, ack: SeqNum, flags: TcpFlags) -> TcpRepr {
    TcpRepr::new(PEER_PORT, LISTEN, seq, ack, flags, 8 * MSS)
}

#[test]
fn an_ack_of_everything_after_a_timeout_ends_fin_wait_1() {
    let (mut card, _) = fin_wait_after_a_timeout();
    let all = SeqNum(card.tcb(map::tcb::SND_MAX));
    let dropped = card.stat(Stat::DropOutOfWindow);
    card.send(&peer_segment(SeqNum(ISN) + 1, all, TcpFlags::ACK), &[]);
    card.idle();
    assert!(card.frames().is_empty(), "an ACK of all we sent is not answered");
    assert_eq!(card.stat(Stat::DropOutOfWindow), dropped, "not refused");
    assert_eq!(card.tcb(map::tcb::SND_UNA), all.0, "snd_una at snd_max");
    assert_eq!(card.tcb(map::tcb::SND_NXT), all.0, "snd_nxt moved with it");
    assert_eq!(card.tcb(map::tcb::STATE), TcpState::FinWait2 as u32, "our FIN is acknowledged");
    // And the close goes on: the peer's FIN, our ACK, TIME-WAIT.
    card.send(&peer_segment(SeqNum(ISN) + 1, all, TcpFlags::FIN | TcpFlags::ACK), &[]);
    card.idle();
    let last = card.frames();
    assert_eq!(last.len(), 1);
    assert_eq!((last[0].0.flags, last[0].0.ack), (TcpFlags::ACK, SeqNum(ISN) + 2));
    assert_eq!(card.tcb(map::tcb::STATE), TcpState::TimeWait as u32);
}

#[test]
fn an_ack_past_snd_nxt_below_the_fin_resumes_sending_from_it() {
    let (mut card, iss) = fin_wait_after_a_timeout();
    // The peer had the second segment but not the FIN.
    let data_end = iss + 1 + 2 * u32::from(MSS);
    card.send(&peer_segment(SeqNum(ISN) + 1, data_end, TcpFlags::ACK), &[]);
    card.idle();
    assert_eq!(card.tcb(map::tcb::SND_UNA), data_end.0, "snd_una past the resent segment");
    assert_eq!(card.tcb(map::tcb::STATE), TcpState::FinWait1 as u32, "our FIN is still out");
    // What remains is our FIN: the next timeout sends it again, not data.
    let fin = after_a_timeout(&mut card, 10);
    assert_eq!(fin.len(), 1, "our FIN again");
    assert_eq!((fin[0].0.flags, fin[0].0.seq, fin[0].1.len()), (TcpFlags::FIN | TcpFlags::ACK, data_end, 0));
}

#[test]
fn in_closing_the_ack_past_snd_nxt_leads_to_time_wait() {
    let (mut card, iss) = fin_wait_after_a_timeout();
    // The peer's FIN crosses ours (CLOSING), without acknowledging our data.
    card.send(&peer_segment(SeqNum(ISN) + 1, iss + 1, TcpFlags::FIN | TcpFlags::ACK), &[]);
    card.idle();
    let ack = card.frames();
    assert!(ack.iter().all(|(t, _)| t.ack == SeqNum(ISN) + 2), "its FIN acknowledged: {ack:?}");
    assert_eq!(card.tcb(map::tcb::STATE), TcpState::Closing as u32);
    let all = SeqNum(card.tcb(map::tcb::SND_MAX));
    card.send(&peer_segment(SeqNum(ISN) + 2, all, TcpFlags::ACK), &[]);
    card.idle();
    assert_eq!(card.tcb(map::tcb::SND_UNA), all.0);
    assert_eq!(card.tcb(map::tcb::STATE), TcpState::TimeWait as u32, "our FIN acknowledged in CLOSING");
}
