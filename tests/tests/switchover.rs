//! Planned switchover (`holdback switchover`, `holdback lab --switchover-at`):
//! the primary stops releasing, silences its card and hands its last
//! released points to the standby, which promotes; the old primary joins it
//! as standby. Invariant 8: the two cards never answer at once — the old
//! card's last frame precedes the new card's first in the two captures.
//! Needs root (network namespaces, TAPs, a bridge).
use std::process::Command;

use holdback_tests::{holdback_bin, require_lab_prerequisites};
use serde_json::Value;

/// Runs `holdback lab <args> --json` and returns its report.
fn lab(args: &[&str]) -> Value {
    require_lab_prerequisites();
    let out = Command::new(holdback_bin())
        .arg("lab")
        .args(args)
        .arg("--json")
        .env("RUST_LOG", "warn")
        .output()
        .expect("holdback lab runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "`holdback lab {}` printed no JSON report ({e}); exit {:?}\nstdout:\n{stdout}\nstderr:\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// 4 streams of 2 MiB, switchover half-way: every stream intact, nothing
/// lost, duplicated or reset; the old card's last frame is older than the
/// new card's first; the old primary is the new one's standby afterwards.
#[test]
fn a_switchover_under_four_streams_loses_nothing_and_never_has_two_cards_answering() {
    let seed = holdback_sim::test_seed(0x5c);
    let seed = seed.to_string();
    let r = lab(&["--conns", "4", "--bytes", "2MiB", "--seed", &seed, "--switchover-at", "0.5", "--stall-timeout", "60"]);
    let sw = &r["switchover"];
    eprintln!(
        "switchover: {} ms (last old-card frame → first new-card frame), hand-over {} µs, takeover answered after {} ms, old primary its standby after {} ms; max stall {} ms; goodput {:.1} Mbit/s",
        sw["switchover_ms"],
        sw["outcome"]["handover"]["took_us"],
        sw["outcome"]["took_ms"],
        sw["outcome"]["old_primary_rejoined_ms"],
        r["max_stall_ms"],
        r["goodput_mbps"].as_f64().unwrap_or(0.0),
    );
    assert!(
        r["sha256_match"] == true && r["bytes_lost"] == 0 && r["duplicate_bytes"] == 0 && r["resets_seen"] == 0 && r["rst_segments"] == 0,
        "sha256_match {} lost {} duplicate {} resets {} RST segments {}; errors {}; work dir {}",
        r["sha256_match"],
        r["bytes_lost"],
        r["duplicate_bytes"],
        r["resets_seen"],
        r["rst_segments"],
        r["errors"],
        r["work_dir"]
    );
    assert_eq!(r["errors"].as_array().map_or(0, |e| e.len()), 0, "{}", r["errors"]);
    assert_eq!(sw["error"], Value::Null, "the switchover failed: {sw}");
    let handover = &sw["outcome"]["handover"];
    assert_eq!(handover["epoch"], 1, "{sw}");
    assert_eq!(handover["silent"], true, "{sw}");
    assert_eq!(handover["conns"], 4, "every connection's final copy shipped: {sw}");
    assert_eq!(sw["outcome"]["new_epoch"], 2, "the standby promoted into a new epoch: {sw}");
    assert!(sw["outcome"]["old_primary_rejoined_ms"].is_number(), "the old primary joined the new one as standby: {sw}");
    // Invariant 8 on the wire: both cards' captures, one clock.
    let last_old = sw["old_card_last_sent_unix_us"].as_u64().expect("the old primary's card sent frames before the switchover");
    let first_new = sw["new_card_first_sent_unix_us"].as_u64().expect("the new primary's card sent frames after the switchover");
    assert!(last_old < first_new, "the old card sent at {last_old} µs, after the new card's first frame at {first_new} µs: {sw}");
    assert_eq!(sw["cards_overlapped"], false, "{sw}");
    // The old card went silent when it said it did, before the new one spoke.
    let silenced = handover["silenced_unix_us"].as_u64().expect("silenced_unix_us");
    assert!(silenced <= first_new, "the hand-over silenced the card at {silenced} µs, after the new card spoke at {first_new} µs");
    assert!(r["standby_garps"].as_u64() >= Some(1), "the new card announced the address with a gratuitous ARP");
}

/// The lab refuses a run that would both kill and hand over.
#[test]
fn a_switchover_and_a_kill_in_one_run_are_refused() {
    let out = Command::new(holdback_bin())
        .args(["lab", "--failover-at", "0.5", "--switchover-at", "0.5"])
        .output()
        .expect("holdback lab runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--switchover-at") && stderr.contains("--failover-at"), "{stderr}");
}
