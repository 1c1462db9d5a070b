//! A whole connection through a lossy path, on the whole core, scored
//! against the reference model frame by frame: each data segment, each
//! ACK's effect on the timer, each timeout's retransmission at the RTO the
//! card estimated (RFC 6298: SRTT/RTTVAR from the peer's round trips, the
//! RTO_MIN_US floor, Karn's rule, back-off doubling on consecutive losses of
//! the same segment), fast retransmits and NewReno partial ACKs.
#[path = "common/tx_card.rs"]
mod tx_card;

use holdback_regmap::Stat;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tx_card::{run_peer, seed, Scored};

#[test]
fn a_lossy_connection_matches_the_model_segment_by_segment() {
    let seed = seed();
    let mut rng = SmallRng::seed_from_u64(seed);
    // A 20 ms floor: timeouts come at the RTO from the samples, not at 1 s.
    let mut s = Scored::new(15, 65_535, 20_000, 32_000, seed);
    let backoffs = s.card.stat(Stat::RtoBackoffs);
    let fast = s.card.stat(Stat::FastRetransmits);
    // 6% of the segments lost, retransmissions too; a burst of three once,
    // so one segment's retransmission is lost again and the RTO doubles.
    let run = run_peer(&mut s, 65_535, 3_000, |n, _| rng.gen_bool(0.06) || (20..=22).contains(&n));
    eprintln!("seed {seed}: {run:?}");
    assert!(run.dropped >= 3 && run.timeouts >= 1, "{run:?}");
    assert_eq!(s.card.stat(Stat::RtoBackoffs) - backoffs, run.timeouts as u32, "each timeout backs off once");
    assert_eq!(
        s.card.stat(Stat::FastRetransmits) - fast,
        (run.verdicts.get("FastRetransmit").unwrap_or(&0) + run.verdicts.get("PartialAck").unwrap_or(&0)) as u32
    );
}
