//! The persist timer on the whole core (RFC 9293 §3.8.6.1), scored against the
//! reference model frame by frame: bytes wait behind the peer's zero window
//! with nothing in flight, so the card probes with one byte beyond the window
//! when the timer runs out, again at doubling intervals while the peer keeps
//! its window closed (the last probe's byte again), and a window update
//! resumes sending without counting the probes as losses.
#[path = "common/tx_card.rs"]
mod tx_card;

use holdback_regmap::Stat;
use holdback_sim::refmodel::tx::TxTimer;
use tx_card::{seed, Scored, MSS};

const RTT_US: u32 = 2_000;

#[test]
fn a_zero_window_is_probed_at_backed_off_intervals_and_a_window_update_resumes() {
    let window = 3 * MSS;
    let mut s = Scored::new(15, window, 200_000, 10_000, seed());
    let backoffs = s.card.stat(Stat::RtoBackoffs);
    let retransmits = s.card.stat(Stat::Retransmits);
    let flight = s.expect_sent(false, "the first flight");
    assert_eq!(flight.len(), 3);
    // The peer takes all three and closes its window: the persist timer starts.
    let end = flight[2].seq + flight[2].len;
    s.ack(end, 0, RTT_US);
    assert!(s.expect_sent(false, "after the zero window").is_empty());
    assert_eq!(s.model.timer, TxTimer::Persist);
    s.check_timer("the persist timer armed");
    // Three probes; the peer answers each with its window still closed (the
    // byte lies beyond it, so its ACK does not move).
    let mut probes = Vec::new();
    let mut rtos = Vec::new();
    for k in 1..=3 {
        let sent = s.expect_timer(&format!("probe {k}"));
        assert_eq!(sent.len(), 1, "probe {k}: one segment");
        assert_eq!(sent[0].len, 1, "probe {k}: one byte");
        probes.push(sent[0]);
        rtos.push(s.model.rtt.rto_us);
        s.ack(end, 0, RTT_US);
        assert!(s.expect_sent(false, &format!("after probe {k}")).is_empty());
        s.check_timer(&format!("after probe {k}"));
    }
    assert_eq!(probes[0].seq, end, "the first probe is the next byte");
    assert!(probes.iter().all(|p| p.seq == end), "later probes send that byte again: {probes:?}");
    assert_eq!(rtos[1], 2 * rtos[0], "the persist timer backs off: {rtos:?}");
    assert_eq!(rtos[2], 2 * rtos[1], "the persist timer backs off: {rtos:?}");
    // The window opens: sending resumes from after the probe's byte.
    s.ack(end, window, RTT_US);
    let resumed = s.expect_sent(false, "the window update");
    assert!(!resumed.is_empty(), "a window update resumes sending");
    assert_eq!(s.card.stat(Stat::RtoBackoffs) - backoffs, 3, "each probe backs the persist timer off");
    assert_eq!(s.card.stat(Stat::Retransmits) - retransmits, 0, "probes are not retransmissions");
    // The rest of the stream goes as the model sends it.
    let mut wire: std::collections::VecDeque<_> = resumed.into();
    while let Some(seg) = wire.pop_front() {
        s.ack(seg.seq + seg.len, window, RTT_US);
        wire.extend(s.expect_sent(false, "after the window update"));
    }
    assert_eq!(s.model.snd_una, s.iss + 1 + 10_000, "everything acknowledged");
}
