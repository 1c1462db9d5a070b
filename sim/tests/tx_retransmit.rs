//! A data segment the peer never acknowledges is sent again when the
//! retransmission timer expires (go-back-N from snd_una, RFC 6298 §5.4), each
//! wait twice the last (§5.5: RTO_US, then 2, 4, 8 × RTO_US), and the first
//! ACK of new data stops the back-off and lets the rest go. Each
//! retransmission is scored against the reference model's `TxTcb::on_timer`,
//! each restarted timer against the model's: the backed-off RTO holds until
//! an RTT sample of a segment sent once (RFC 6298 §5.7, Karn's rule §3).
#[path = "common/tx_card.rs"]
mod tx_card;

use holdback_regmap as map;
use holdback_regmap::Stat;
use holdback_sim::refmodel::tx::{AckSegment, RtoSettings, TimerAction, TxTcb};
use holdback_sim::refmodel::MAX_RETRIES;
use holdback_sim::wire::{SeqNum, TcpFlags, TcpRepr};
use tx_card::{open, Card, LISTEN, MSS, PEER_PORT, RING_LOG2};

const RTO_US: u32 = 1_000_000;
/// The timer scan visits each connection once per 1024 us.
const SCAN_US: u32 = 1024;

#[test]
fn a_lost_segment_is_sent_again_at_doubling_intervals() {
    let mut card = Card::new(RING_LOG2);
    card.sim.reg_write(map::RTO_US.offset, RTO_US).expect("RTO_US");
    let isn = 0x0bad_cafe;
    let iss = open(&mut card, isn, MSS);
    let peer_seq = SeqNum(isn) + 1;
    let rto = RtoSettings::default();
    assert_eq!(rto.rto_min_us, RTO_US, "the model's initial RTO is RTO_US");
    let mut model = TxTcb::established(iss, MSS, peer_seq, MSS);
    // Two full segments and a short one: all of it fits the 4 KiB ring.
    let data: Vec<u8> = (0..2 * u32::from(MSS) + 1000).map(|i| (i * 7 + 3) as u8).collect();
    card.write_ring(0, &data);
    card.doorbell(data.len() as u32);
    model.set_tail(data.len() as u32, 1 << RING_LOG2).expect("tail");
    card.idle();
    let sent = card.frames();
    assert_eq!(sent.len(), 1, "one segment: the peer's window is one MSS");
    let want = model.next_segment(card.sim.now_us() as u32).expect("the model sends one");
    assert_eq!((sent[0].0.seq, sent[0].1.len() as u32), (want.seq, want.len));
    let mut due = card.tcb(map::tcb::TIMER_DUE);
    assert_eq!(due.wrapping_sub(card.sim.now_us() as u32), RTO_US, "armed at RTO_US when the segment left");

    // The segment is lost: nothing comes back. Four timeouts, each wait doubled.
    let retransmits_before = card.stat(Stat::Retransmits);
    let mut wait = RTO_US;
    for k in 1..=4u32 {
        // Just before the timer: nothing.
        let now = card.sim.now_us() as u32;
        card.sim.advance_us(due.wrapping_sub(now) - 1);
        card.idle();
        assert!(card.frames().is_empty(), "retransmission {k} came before its timer");
        // Within one scan period after it: the segment again.
        card.sim.advance_us(SCAN_US + 1);
        card.idle();
        let again = card.frames();
        assert_eq!(again.len(), 1, "retransmission {k}");
        let (tcp, payload) = &again[0];
        let new_due = card.tcb(map::tcb::TIMER_DUE);
        wait *= 2;
        // The scan fired at new_due - wait, within one scan period of the old due.
        let fired = new_due.wrapping_sub(wait);
        assert!(fired.wrapping_sub(due) < SCAN_US + 1, "retransmission {k} fired {} us after its timer", fired.wrapping_sub(due) as i32);
        match model.on_timer(fired, &rto, MAX_RETRIES) {
            Some(TimerAction::Retransmit(seg)) => assert_eq!((tcp.seq, payload.len() as u32), (seg.seq, seg.len)),
            other => panic!("the model does {other:?} at retransmission {k}"),
        }
        assert_eq!(payload.as_slice(), &data[..usize::from(MSS)], "the first segment's bytes again");
        due = new_due;
    }
    assert_eq!(card.stat(Stat::Retransmits) - retransmits_before, 4);

    // The peer finally acknowledges: the back-off ends and the rest goes out, one segment per ACK.
    let mut acked = u32::from(MSS);
    while acked < data.len() as u32 {
        let ack = iss + 1 + acked;
        card.send(&TcpRepr::new(PEER_PORT, LISTEN, peer_seq, ack, TcpFlags::ACK, MSS), &[]);
        model.on_ack(&AckSegment { seq: peer_seq, ack, wnd: MSS, occupies: false }, card.sim.now_us() as u32, &rto);
        card.idle();
        let next = card.frames();
        assert_eq!(next.len(), 1, "one new segment per ACK");
        let want = model.next_segment(card.sim.now_us() as u32).expect("the model sends");
        assert_eq!((next[0].0.seq, next[0].1.len() as u32), (want.seq, want.len));
        assert_eq!(
            card.tcb(map::tcb::TIMER_DUE),
            model.timer_due_us,
            "the timer restarted as the model restarts it (RTO {} us)",
            model.rtt.rto_us
        );
        acked += want.len;
    }
    // The segments sent once were timed: the sample undid the back-off, down to the floor.
    assert_eq!(model.rtt.rto_us, RTO_US, "the model's RTO is back at the floor");
    assert_eq!(card.tcb(map::tcb::RETRIES), 0, "an ACK of new data resets the count");
}
