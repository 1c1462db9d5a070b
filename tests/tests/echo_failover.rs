//! Send holdback through a failover (docs/failover.md, invariant 9): the
//! echo runs on both cards of a pair with the `app` and `replica` gates,
//! the primary is SIGKILLed at seeded points of the transfer, and every
//! client must read back exactly what it sent — each byte once, in order,
//! no reset. The bytes the primary's card had sent but the peer had not
//! acknowledged exist only in the standby's copy of the transmit ring; with
//! the primary's port off the bridge for its last 100 ms the clients never
//! get them, and the promoted card resends them from its copy, which the
//! captures show. A planned switchover and a cut of the replication link,
//! the primary alive in both, bring every echo back the same way.
//!
//! Needs root (network namespaces, TAPs); fails loudly without it. The labs
//! run one at a time (two Verilated cards each).
use std::sync::Mutex;
use std::time::Duration;

use holdback_daemon::app::AppKind;
use holdback_daemon::config::Detector;
use holdback_daemon::lab::pair::{run_failover_lab, FailoverOptions, FailoverReport};
use holdback_tests::{holdback_bin, require_lab_prerequisites, WorkDir};

static ONE_LAB_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Kill points: spread over the transfer, each a seed of its own (the
/// clients' streams and the lab's impairment follow the seed).
const KILL_POINTS: [(f64, u64); 10] =
    [(0.05, 11), (0.15, 12), (0.25, 13), (0.35, 14), (0.45, 15), (0.55, 16), (0.65, 17), (0.75, 18), (0.85, 19), (0.95, 20)];

fn run(tag: &str, opts: FailoverOptions) -> FailoverReport {
    require_lab_prerequisites();
    let _serial = ONE_LAB_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = WorkDir(std::env::temp_dir().join(format!("holdback-echo-fo-{tag}-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&dir.0);
    let opts = FailoverOptions { keep_dir: Some(dir.0.clone()), holdback_exe: Some(holdback_bin().to_path_buf()), ..opts };
    let report = run_failover_lab(&opts).unwrap_or_else(|e| panic!("{tag}: {}", holdback_daemon::error::chain(&e)));
    eprintln!(
        "{tag}: passed {} failover_ms {:?} lost {} dup {} resets {} resent from copy {:?} goodput {:.1} Mbit/s, {:.1} s",
        report.passed(),
        report.failover_ms,
        report.bytes_lost,
        report.duplicate_bytes,
        report.resets_seen,
        report.standby_resent_from_copy,
        report.goodput_mbps,
        report.duration_s
    );
    if report.passed() {
        drop(dir);
    } else {
        // Kept for the failure message's work directory.
        std::mem::forget(dir);
    }
    report
}

fn echo(failover_at: f64, seed: u64) -> FailoverOptions {
    FailoverOptions { conns: 4, bytes: 512 << 10, seed, failover_at: Some(failover_at), app: AppKind::Echo, ..FailoverOptions::default() }
}

#[test]
fn the_echo_survives_seeded_failovers_every_byte_once_and_in_order() {
    for (at, seed) in KILL_POINTS {
        let r = run(&format!("at-{at}"), echo(at, seed));
        assert_intact(&r, &format!("kill at {at} (seed {seed})"));
    }
}

/// The primary's port is taken off the bridge 100 ms before the kill: what
/// its card sent in that time never reached the clients, and only the
/// standby's copy of the transmit ring holds it. The promoted card sends
/// it again (its capture shows payload below the old card's highest
/// sequence number) and every echo still arrives whole.
#[test]
fn the_promoted_card_resends_from_its_copy_what_the_dead_card_sent_into_the_void() {
    for (at, seed) in [(0.3, 31), (0.6, 32)] {
        let opts = FailoverOptions { isolate_before_kill: Some(Duration::from_millis(100)), ..echo(at, seed) };
        let r = run(&format!("void-{at}"), opts);
        assert_intact(&r, &format!("kill at {at} (seed {seed}) after 100 ms off the bridge"));
        let resent = r.standby_resent_from_copy.expect("a failover with the echo reports what the standby resent");
        assert!(resent > 0, "kill at {at}: the promoted card resent nothing the old card had sent; work dir {}", r.work_dir.display());
    }
}

/// The primary stays alive in both: a planned switchover at half the
/// transfer (the hand-over ships the final copies once the standby holds
/// every echoed byte the card may send), and a 1.5 s cut of the
/// replication link with the external detector (releases and send limits
/// wait for the standby, which catches up when the link returns). Every
/// echo still comes back once and in order, with no reset.
#[test]
fn the_echo_survives_a_switchover_and_a_cut_replication_link() {
    let switched = run("switchover", FailoverOptions { failover_at: None, switchover_at: Some(0.5), ..echo(0.5, 41) });
    assert!(switched.passed(), "switchover: {}", verdict(&switched));
    let sw = switched.switchover.as_ref().expect("a switchover report");
    assert!(sw.error.is_none() && sw.outcome.is_some(), "the switchover did not complete: {sw:?}");

    let cut = FailoverOptions {
        failover_at: None,
        cut_replication: Some((0.3, Duration::from_millis(1500))),
        detector: Detector::External,
        ..echo(0.3, 42)
    };
    let cut = run("cut", cut);
    assert!(cut.passed(), "replication cut: {}", verdict(&cut));
    let c = cut.replication_cut.as_ref().expect("a replication-cut report");
    assert!(c.samples > 0 && c.primary_ahead_of_standby == 0, "invariant 2 during the cut: {c:?}");
}

fn verdict(r: &FailoverReport) -> String {
    let bad: Vec<_> = r.streams.iter().filter(|s| !s.sha256_match).collect();
    format!(
        "lost {} duplicate {} resets {}; errors {:?}; bad streams {bad:#?}; work dir {}",
        r.bytes_lost,
        r.duplicate_bytes,
        r.resets_seen,
        r.errors,
        r.work_dir.display()
    )
}

fn assert_intact(r: &FailoverReport, what: &str) {
    assert!(r.passed(), "{what}: {}", verdict(r));
    assert!(r.failover_ms.is_some(), "{what}: the standby's card never spoke");
}
