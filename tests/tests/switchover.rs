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
    holdback_tests::lab_report(args)
}

/// 4 streams of 2 MiB, switchover half-way: every stream intact, nothing
/// lost, duplicated or reset; the old card's last frame is older than the
/// new card's first (captures) and its TX counter stood still from the
/// hand-over on; the old primary is the new one's standby afterwards.
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
    // The old card's own frame counter, read over its control socket: not
    // one frame from the hand-over until after the takeover.
    let tx = &sw["outcome"]["old_card_tx_frames"];
    assert!(tx[0].is_number() && tx[0] == tx[1], "the old card sent frames after it handed over: {tx}");
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

/// `holdback switchover` on an idle pair, the real CLI both ways: refused
/// with the sockets swapped and on a hand-over that does not hold (old card
/// speaking, the standby behind), each refusal leaving the pair as it was;
/// then a switchover (epoch 2, the old primary its standby) and one back
/// (epoch 3, the roles as configured).
#[test]
fn the_cli_refuses_a_switchover_that_does_not_hold_and_switches_over_and_back() {
    use holdback_daemon::control::{client, HandOver, PairLink, PairRole, Request, Response};
    use holdback_daemon::lab::netns::{LabNet, LabTopology};
    use holdback_daemon::lab::pair::{FailoverOptions, PairSetup};
    use holdback_daemon::pair::decide::TakeOverRefusal;
    use holdback_tests::{pair_status, wait_for, WorkDir};
    use std::time::Duration;

    require_lab_prerequisites();
    let dir = WorkDir(std::env::temp_dir().join(format!("holdback-switch-cli-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&dir.0);
    let net = LabNet::create(LabTopology::unique_with_standby("swc")).expect("lab network");
    let opts = FailoverOptions { detector: holdback_daemon::config::Detector::External, ..FailoverOptions::default() };
    let pair = PairSetup::write(&dir.0, net.topology(), &opts).unwrap_or_else(|e| panic!("pair configs: {}", holdback_daemon::error::chain(&e)));
    let (mut a, mut b) = pair.start_both(Some(holdback_bin())).unwrap_or_else(|e| panic!("pair: {}", holdback_daemon::error::chain(&e)));
    let (a_sock, b_sock) = (a.socket.clone(), b.socket.clone());
    let (a_str, b_str) = (a_sock.to_str().expect("UTF-8 path"), b_sock.to_str().expect("UTF-8 path"));
    let role = |sock: &std::path::Path| pair_status(sock).map(|p| (p.role, p.epoch));
    let switchover = |primary: &str, standby: &str| {
        Command::new(holdback_bin()).args(["switchover", "--primary", primary, "--standby", standby, "--json"]).output().expect("holdback switchover runs")
    };

    // The sockets swapped: the "primary" is a standby. Nothing happens.
    let out = switchover(b_str, a_str);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("not ready for a switchover"), "{stderr}");
    assert_eq!((role(&a_sock), role(&b_sock)), (Some((PairRole::Active, 1)), Some((PairRole::Standby, 1))));

    // Hand-overs that do not hold, sent straight to the standby.
    let take_over = |handover: HandOver| match client::call(&b_sock, &Request::TakeOver { handover }) {
        Ok(Response::TakeOverRefused { refusal }) => refusal,
        other => panic!("the standby must refuse {handover:?}: {other:?}"),
    };
    let holds = HandOver { epoch: 1, through: 0, conns: 0, silent: true, silenced_unix_us: 0, took_us: 0 };
    assert_eq!(take_over(HandOver { silent: false, ..holds }), TakeOverRefusal::PrimaryStillSpeaks);
    assert!(matches!(take_over(HandOver { through: u64::MAX, ..holds }), TakeOverRefusal::Behind { through: u64::MAX, .. }));
    assert_eq!(take_over(HandOver { epoch: 7, ..holds }), TakeOverRefusal::OtherEpoch { own: 1, handed: 7 });
    assert_eq!((role(&a_sock), role(&b_sock)), (Some((PairRole::Active, 1)), Some((PairRole::Standby, 1))));

    // Over: B promoted in epoch 2, A its standby.
    let out = switchover(a_str, b_str);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let outcome: serde_json::Value = serde_json::from_slice(&out.stdout).expect("switchover --json prints JSON");
    assert_eq!((outcome["handover"]["epoch"].as_u64(), outcome["new_epoch"].as_u64()), (Some(1), Some(2)), "{outcome}");
    assert!(outcome["old_primary_rejoined_ms"].is_number(), "{outcome}");
    assert_eq!((role(&a_sock), role(&b_sock)), (Some((PairRole::Standby, 2)), Some((PairRole::Promoted, 2))));
    wait_for(Duration::from_secs(20), "the promoted node replicating to the old primary", || {
        pair_status(&b_sock).filter(|p| p.link == PairLink::Replicating && p.degraded.is_none())
    });

    // And back: A promoted in epoch 3.
    let out = switchover(b_str, a_str);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!((role(&a_sock), role(&b_sock)), (Some((PairRole::Promoted, 3)), Some((PairRole::Standby, 3))));
    let status = holdback_tests::daemon_status(&b_sock).expect("B answers");
    assert!(status.status.ctrl.standby, "B's card is silent again: {:?}", status.status.ctrl);
    for d in [&mut a, &mut b] {
        let stopped = d.stop(Duration::from_secs(20));
        assert!(stopped.is_some_and(|st| st.success()), "{} daemon did not exit cleanly: {stopped:?}", d.name);
    }
    drop(net);
}
