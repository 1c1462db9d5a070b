//! The card's SACK sender on the whole core (docs/sack-sender.md), scored
//! against the reference model frame by frame: a peer that keeps
//! out-of-order segments and reports them in SACK blocks (RFC 2018), ACKs
//! whose blocks go into the connection's scoreboard, fast retransmit and
//! each duplicate ACK in recovery resending only the lost holes (RFC 6675
//! §5), and the walk after a timeout skipping what the peer holds.
#[path = "common/tx_card.rs"]
mod tx_card;

use holdback_regmap::Stat;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tx_card::{run_peer, PeerRun, Scored};

/// The run's seed unless `HOLDBACK_TEST_SEED` replaces it.
const DEFAULT_SEED: u64 = 2;
/// A 32 KiB ring (what host memory holds for every connection) with the
/// whole stream: 22 segments, several holes in a window.
const TX_LOG2: u32 = 15;
const BYTES: usize = 32_000;

/// 6 % of the segments lost, retransmissions too, and a burst of three early on.
fn lossy_run(seed: u64, sack: bool) -> (Scored, PeerRun) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut s = Scored::new_offering(TX_LOG2, 65_535, 20_000, BYTES, seed, sack);
    let run = run_peer(&mut s, 65_535, 3_000, |n, _| rng.gen_bool(0.06) || (8..=10).contains(&n));
    (s, run)
}

#[test]
fn a_lossy_sack_connection_matches_the_model_and_resends_only_the_holes() {
    let seed = holdback_sim::test_seed(DEFAULT_SEED);
    let (mut s, run) = lossy_run(seed, true);
    eprintln!("seed {seed}: {run:?}");
    assert!(run.dropped >= 3 && run.sack_acks > 5, "the peer reported holes: {run:?}");
    assert!(s.card.stat(Stat::FastRetransmits) > 0, "recovery by fast retransmit");
    // Every lost byte is resent at least once; bytes the peer holds are not.
    assert!(run.bytes_resent >= run.bytes_dropped, "{run:?}");
    assert!(run.bytes_resent * 10 <= run.bytes_dropped * 11, "resent more than 110 % of what was lost: {run:?}");
}

/// Three holes in one window, and the first hole's retransmission lost too.
/// With SACK the duplicate ACKs of the recovery resend the other two holes
/// (NextSeg, RFC 6675 §5 (C)), and the timeout resends only the first hole
/// again; without it NewReno waits for a partial ACK that never comes, and
/// after the timeout goes back N over bytes the peer holds (RFC 6298 §5.4).
/// (The walk after a timeout is the lossy run's: with it disabled in the
/// store, that run's segments leave the model's.)
fn holes_and_a_lost_retransmission(sack: bool) -> PeerRun {
    let mut s = Scored::new_offering(TX_LOG2, 65_535, 20_000, BYTES, DEFAULT_SEED, sack);
    let mut first_hole = None;
    let mut lost_again = false;
    run_peer(&mut s, 65_535, 3_000, |n, seg| {
        if n == 8 {
            first_hole = Some(seg.seq);
        }
        if seg.retransmission && Some(seg.seq) == first_hole && !lost_again {
            lost_again = true;
            return true;
        }
        matches!(n, 8 | 10 | 12)
    })
}

#[test]
fn sack_recovery_resends_every_hole_where_go_back_n_resends_what_the_peer_holds() {
    let with = holes_and_a_lost_retransmission(true);
    let without = holes_and_a_lost_retransmission(false);
    eprintln!("SACK: {with:?}\nwithout: {without:?}");
    assert!(with.timeouts >= 1 && without.timeouts >= 1, "the lost retransmission times out");
    assert!(with.verdicts.get("Duplicate").copied().unwrap_or(0) > 0, "duplicate ACKs in recovery: {with:?}");
    assert_eq!(with.bytes_resent, with.bytes_dropped, "with SACK exactly the lost bytes go again");
    assert!(
        without.bytes_resent >= without.bytes_dropped + 2 * 1460,
        "without SACK go-back-N resends what the peer holds: {} of {} lost",
        without.bytes_resent,
        without.bytes_dropped
    );
}

/// SACK blocks the sender takes nothing from are counted: one below snd_una
/// (a D-SACK, RFC 2883), one beyond snd_max (bytes never sent: bogus), and a
/// fifth disjoint range the scoreboard drops. The segments the card sends
/// around them stay the model's.
#[test]
fn ignored_sack_blocks_and_a_dropped_range_are_counted() {
    let mut s = Scored::new_offering(TX_LOG2, 65_535, 20_000, BYTES, DEFAULT_SEED, true);
    let sent = s.expect_sent(false, "the first flight");
    let (una, max) = (s.model.snd_una, s.model.snd_max);
    assert!(sent.len() >= 3 && max.bytes_since(una) > 1000, "a flight to SACK into: {sent:?}");
    let counts = |s: &mut Scored| {
        [Stat::SackDsackBlocks, Stat::SackBogusBlocks, Stat::SackRangesDropped].map(|c| s.card.stat(c))
    };
    let before = counts(&mut s);
    let out = s.ack_with(una, &[(una - 100, una), (max, max + 100)], 65_535, 1_000);
    s.expect_sent(out.resend, "an ACK with a D-SACK and a bogus block");
    let four: Vec<_> = (0..4).map(|i| (una + 100 + 200 * i, una + 200 + 200 * i)).collect();
    let out = s.ack_with(una, &four, 65_535, 1_000);
    s.expect_sent(out.resend, "four ranges");
    let out = s.ack_with(una, &[(una + 10, una + 20)], 65_535, 1_000);
    s.expect_sent(out.resend, "a fifth, lower range");
    let after = counts(&mut s);
    let delta: Vec<u32> = after.iter().zip(before).map(|(a, b)| a - b).collect();
    assert_eq!(delta, vec![1, 1, 1], "D-SACK, bogus and dropped-range counters");
    assert_eq!(s.model.board.ranges().len(), 4, "the model's board keeps four ranges too");
}
