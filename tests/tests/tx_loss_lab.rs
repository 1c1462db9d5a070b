//! The card's own loss recovery against real Linux peers (needs root:
//! namespaces and a TAP): `holdback lab --app echo` with `--impair "loss 2%
//! reorder 2% dir both"`, so frames the card sends are lost and reordered as
//! well as frames it receives. Every stream must come back intact in both
//! directions with no reset, and the card's counters must show that it
//! recovered by itself: retransmissions, fast retransmits (three duplicate
//! ACKs from Linux, RFC 5681 §3.2) and RTO back-offs (RFC 6298 §5.5).
use std::time::{Duration, Instant};

use holdback_daemon::app::AppKind;
use holdback_daemon::lab::{run_lab, LabRunOptions};
use holdback_regmap::Stat;
use holdback_tests::{holdback_bin, require_lab_prerequisites};

/// The clients' stream seed unless `HOLDBACK_TEST_SEED` replaces it.
const DEFAULT_SEED: u64 = 0x5EED_7105;
const CONNS: usize = 8;
const BYTES: u64 = 1 << 20;

#[test]
fn echo_through_two_percent_loss_both_ways_comes_back_intact_and_the_card_retransmits() {
    require_lab_prerequisites();
    let seed = holdback_sim::test_seed(DEFAULT_SEED);
    let opts = LabRunOptions {
        conns: CONNS,
        bytes: BYTES,
        seed,
        app: AppKind::Echo,
        impair: Some("loss 2% reorder 2% dir both".to_string()),
        stall_timeout: Duration::from_secs(60),
        holdback_exe: Some(holdback_bin().to_path_buf()),
        ..LabRunOptions::default()
    };
    let started = Instant::now();
    let report = run_lab(&opts).unwrap_or_else(|e| panic!("lab run failed: {}", holdback_daemon::error::chain(&e)));
    eprint!("{}", report.human());
    eprintln!("tx loss lab: {:.1} s", started.elapsed().as_secs_f64());
    assert_eq!(report.resets_seen, 0, "clients saw resets:\n{}", report.json());
    assert!(report.sha256_match, "some stream did not come back intact:\n{}", report.json());
    for c in &report.clients {
        assert_eq!(c.bytes_delivered, BYTES, "client {}: the echo took every byte: {c:?}", c.index);
        assert_eq!(c.bytes_echoed, Some(BYTES), "client {}: every byte came back: {c:?}", c.index);
        assert_eq!(c.sha256_echoed.as_deref(), Some(c.sha256_sent.as_str()), "client {}: unchanged: {c:?}", c.index);
    }
    assert!(report.card.impaired_out.dropped > 0, "frames leaving the card were dropped: {:?}", report.card.impaired_out);
    let (retx, fast, backoffs) =
        (report.stats.get(Stat::Retransmits), report.stats.get(Stat::FastRetransmits), report.stats.get(Stat::RtoBackoffs));
    assert!(retx > 0 && fast > 0 && backoffs > 0, "the card's loss recovery: retransmits {retx}, fast {fast}, back-offs {backoffs}");
    assert!(retx >= fast, "fast retransmits are retransmissions too");
}
