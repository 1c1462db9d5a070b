//! RTT samples from timestamps (RFC 7323 §4.1) in the whole Verilated core:
//! after a retransmission timeout, the ACK of the retransmitted segment
//! echoes its TSval, and with timestamps on that echo is an RTT sample that
//! replaces the backed-off RTO at once. Without timestamps Karn's rule
//! (RFC 6298 §3) leaves the RTO backed off until new data is timed. The RTO
//! shows in TIMER_DUE when the next segment starts the timer; it is scored
//! against the reference model's `RttEstimator` fed the same events.
#[path = "common/tx_card.rs"]
mod tx_card;

use tx_card::{Card, LISTEN, MSS, PEER_PORT, SCAN_US};
use holdback_regmap as map;
use holdback_regmap::TcpState;
use holdback_sim::refmodel::tx_rtt::{RtoSettings, RttEstimator, RttSample, INITIAL_RTO_US, TS_TICK_US};
use holdback_sim::wire::{SeqNum, TcpFlags, TcpRepr};

const RTO_MIN_US: u32 = 10_000;
const WINDOW: u16 = 60_000;
const PEER_TSVAL: u32 = 7_000;
/// How long the peer takes to acknowledge the retransmission.
const ACK_DELAY_US: u32 = 30_000;

/// What the card's RTO was when the segment after the retransmission's ACK
/// started the timer, and the model's answer for the same events.
struct Outcome {
    card_rto_us: u32,
    model_rto_us: Vec<u32>,
    backed_off_rto_us: u32,
}

fn run(timestamps: bool) -> Outcome {
    let mut card = Card::new(12);
    let ctrl = card.sim.reg_read(map::CTRL.offset).expect("CTRL");
    card.sim.reg_write(map::CTRL.offset, 0).expect("CTRL off");
    card.sim.reg_write(map::TIMESTAMPS.offset, u32::from(timestamps)).expect("TIMESTAMPS");
    card.sim.reg_write(map::RTO_US.offset, INITIAL_RTO_US).expect("RTO_US");
    card.sim.reg_write(map::RTO_MIN_US.offset, RTO_MIN_US).expect("RTO_MIN_US");
    card.sim.reg_write(map::CTRL.offset, ctrl).expect("CTRL on");
    let settings = RtoSettings { rto_min_us: RTO_MIN_US, ..RtoSettings::default() };

    // The handshake, with the Timestamps option in the peer's SYN and ACK.
    let isn = SeqNum(0x4000_0000);
    let ts = |t: TcpRepr, ecr: u32| t.with_timestamps(PEER_TSVAL, ecr);
    card.send(&ts(TcpRepr::new(PEER_PORT, LISTEN, isn, SeqNum(0), TcpFlags::SYN, WINDOW).with_mss(MSS), 0), &[]);
    card.idle();
    let synack = card.frames().remove(0).0;
    assert_eq!(synack.timestamps().is_some(), timestamps, "the SYN-ACK answers the option only when TIMESTAMPS is on");
    let iss = synack.seq;
    let ecr = synack.timestamps().map_or(0, |(v, _)| v);
    card.send(&ts(TcpRepr::new(PEER_PORT, LISTEN, isn + 1, iss + 1, TcpFlags::ACK, WINDOW), ecr), &[]);
    card.idle();
    assert_eq!(card.tcb(map::tcb::STATE), TcpState::Established as u32);
    assert!(card.frames().is_empty());
    let ts_offset = card.tcb(map::tcb::TS_OFFSET);

    let mut model = RttEstimator::default();
    // One segment goes out, timed, and is lost.
    // A full segment: with timestamps its payload is MSS less the option's
    // 12 bytes (RFC 6691 §2).
    let seg = if timestamps { MSS - 12 } else { MSS };
    let data = vec![0x5a; 2 * seg as usize];
    card.write_ring(0, &data[..seg as usize]);
    card.doorbell(u32::from(seg));
    card.idle();
    let sent = card.frames();
    assert_eq!(sent.len(), 1);
    model.on_send(iss + 1, false, card.sim.now_us() as u32, timestamps);

    // The retransmission timer fires (RFC 6298 §5.5: the RTO doubles) and resends it.
    card.sim.advance_us(INITIAL_RTO_US - 1);
    card.idle();
    assert!(card.frames().is_empty(), "nothing before the RTO");
    card.sim.advance_us(SCAN_US + 1);
    card.idle();
    let resent = card.frames();
    assert_eq!(resent.len(), 1, "the timeout resends the segment");
    assert_eq!(resent[0].0.seq, iss + 1);
    model.on_timeout(&settings);
    let backed_off_rto_us = model.rto_us;
    model.on_send(iss + 1, true, card.sim.now_us() as u32, timestamps);

    // The peer acknowledges the retransmission ACK_DELAY_US later, echoing its TSval.
    card.sim.advance_us(ACK_DELAY_US);
    card.idle();
    let resent_tsval = resent[0].0.timestamps().map_or(0, |(v, _)| v);
    let clock_before = card.sim.reg_read(map::TS_CLOCK.offset).expect("TS_CLOCK");
    let acked = iss + 1 + u32::from(seg);
    card.send(&ts(TcpRepr::new(PEER_PORT, LISTEN, isn + 1, acked, TcpFlags::ACK, WINDOW), resent_tsval), &[]);
    card.idle();
    let clock_after = card.sim.reg_read(map::TS_CLOCK.offset).expect("TS_CLOCK");
    assert!(card.frames().is_empty());
    let now = card.sim.now_us() as u32;
    // The card reads TS_CLOCK once while it takes the ACK: any tick between the two reads.
    let mut model_rto_us = Vec::new();
    for clock in clock_before..=clock_after {
        let mut m = model;
        let echo = timestamps.then(|| clock.wrapping_add(ts_offset).wrapping_sub(resent_tsval));
        let sample = m.on_ack(acked, now, echo, &settings);
        assert_eq!(matches!(sample, RttSample::Taken(_)), timestamps, "the model samples the echo only with timestamps");
        model_rto_us.push(m.rto_us);
    }

    // The next segment starts the timer at the RTO the ACK left.
    card.write_ring(u32::from(seg), &data[seg as usize..]);
    card.doorbell(2 * u32::from(seg));
    card.idle();
    assert_eq!(card.frames().len(), 1, "the next segment goes");
    let sent_at = card.sim.now_us() as u32;
    let card_rto_us = card.tcb(map::tcb::TIMER_DUE).wrapping_sub(sent_at);
    Outcome { card_rto_us, model_rto_us, backed_off_rto_us }
}

/// The card's RTO is the model's, give or take the microsecond the send took.
fn assert_scored(o: &Outcome, what: &str) {
    assert!(
        o.model_rto_us.iter().any(|&m| m.abs_diff(o.card_rto_us) <= 2),
        "{what}: the card's RTO {} us against the model's {:?}",
        o.card_rto_us,
        o.model_rto_us
    );
}

#[test]
fn with_timestamps_the_retransmissions_ack_is_an_rtt_sample() {
    let o = run(true);
    assert_scored(&o, "timestamps on");
    // SRTT about ACK_DELAY_US (in whole ticks), RTTVAR half of it: RTO about 3 × the RTT.
    let rtt = (ACK_DELAY_US / TS_TICK_US) * TS_TICK_US;
    assert!(o.card_rto_us < 4 * (rtt + TS_TICK_US), "RTO {} us is not from a {rtt}-us sample", o.card_rto_us);
    assert!(o.card_rto_us < o.backed_off_rto_us / 10, "RTO {} us, backed off {}", o.card_rto_us, o.backed_off_rto_us);
}

#[test]
fn without_timestamps_karn_keeps_the_rto_backed_off() {
    let o = run(false);
    assert_scored(&o, "timestamps off");
    assert_eq!(o.model_rto_us, vec![o.backed_off_rto_us], "no sample across a retransmission");
    assert!(o.card_rto_us.abs_diff(2 * INITIAL_RTO_US) <= 2, "RTO {} us", o.card_rto_us);
}
