//! Chaos under the etcd authority (docs/authority.md, acceptance e), as an
//! operator runs it: `holdback lab --chaos 20 --json`. The lab starts its
//! own etcd member, streams clients in waves across every fault into one
//! store both daemons share, and does 20 seeded faults to whichever node is
//! active — SIGKILL (the node restarts with its unchanged config and
//! rejoins as standby), a hang (every daemon thread stopped with ptrace but
//! the card's), a cut of its link to etcd, a cut of the replication link —
//! each once the pair is Replicating again. The verdict: 0 bytes lost, 0
//! duplicated, 0 resets, and from the captures no fault kind let two cards
//! answer at once longer than its bound (0). Bad arguments are refused
//! before anything is built, each with its reason.
//! The same run with the echo behind both cards checks every byte coming
//! back to its client once and in order.
//! `HOLDBACK_CHAOS_FAULTS` and `HOLDBACK_CHAOS_SEED` change the runs.
//! Needs root (network namespaces, TAPs, ptrace) and etcd (Debian
//! `etcd-server`); fails loudly without them.
use std::process::Command;
use std::time::Instant;

use holdback_tests::{holdback_bin, lab_report, require_tool};

const DEFAULT_FAULTS: usize = 20;
/// Its 20 faults hold every kind (`lab::chaos` tests the sequence).
const DEFAULT_SEED: u64 = 0xc4a0_5e7d;

/// One chaos run at a time: two at once on a small machine starve each
/// other's 50 ms heartbeats, and a chaos run judges takeovers by them.
static ONE_RUN: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_run() -> std::sync::MutexGuard<'static, ()> {
    // A run that failed still leaves nothing behind: the next may start.
    ONE_RUN.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[test]
fn seeded_faults_to_the_active_node_lose_no_byte_duplicate_none_and_never_let_two_cards_answer() {
    let (r, faults, seed) = chaos_run("sink", &["--conns", "4", "--bytes", "4MiB"]);
    if faults == DEFAULT_FAULTS && seed == DEFAULT_SEED {
        // The run showed something: every kind happened, and every fault
        // but a cut of the etcd link moved the service to the other card.
        for k in r["kinds"].as_array().expect("a verdict per fault kind") {
            assert!(k["faults"].as_u64().is_some_and(|f| f > 0), "no {} fault in the run: {k:#}", k["kind"]);
            let moved = k["kind"] != "etcd_cut";
            assert_eq!(k["takeovers"] == k["faults"], moved, "takeovers of {}: {k:#}", k["kind"]);
        }
    }
}

/// The same faults with the echo behind both cards (send holdback,
/// docs/failover.md invariant 9): each client reads its stream back while
/// it sends, and every byte must come back once and in order. A client
/// whose resent head segment went to a card that then failed waits for its
/// own retransmission timeout, doubled for each such loss (RFC 6298 §5.5),
/// and duplicate ACKs do not bring that segment back sooner; Linux doubles
/// up to 120 s, so the clients' stall timeout is above that. The run reports
/// the longest such wait. Faults wait for Replicating, which after a
/// degraded period means the standby also holds the output the card sent
/// meanwhile (docs/failover.md, the catch-up after a full sync).
#[test]
fn seeded_faults_with_the_echo_bring_every_byte_back_once_with_no_reset() {
    chaos_run("echo", &["--app", "echo", "--conns", "4", "--bytes", "1MiB", "--stall-timeout", "150"]);
}

/// `holdback lab --chaos` with the faults and seed of this file (or of the
/// environment) and `args`, one run at a time, judged by [`judge`].
/// Returns the report, the faults and the seed.
fn chaos_run(app: &str, args: &[&str]) -> (serde_json::Value, usize, u64) {
    require_tool("etcd", "etcd-server");
    let faults: usize = env_or("HOLDBACK_CHAOS_FAULTS", DEFAULT_FAULTS);
    let seed: u64 = env_or("HOLDBACK_CHAOS_SEED", DEFAULT_SEED);
    holdback_bin();
    let _one = one_run();
    let began = Instant::now();
    let (n, s) = (faults.to_string(), seed.to_string());
    let mut all = vec!["--chaos", n.as_str(), "--chaos-seed", s.as_str(), "--heartbeat-ms", "50"];
    all.extend_from_slice(args);
    let r = lab_report(&all);
    judge(app, &r, faults, seed, began);
    (r, faults, seed)
}

/// The verdict both runs share: every fault logged, no error, every stream
/// whole, nothing lost, duplicated or reset, and no fault kind let two cards
/// answer at once longer than its bound.
fn judge(app: &str, r: &serde_json::Value, faults: usize, seed: u64, began: Instant) {
    eprintln!("{}", serde_json::to_string_pretty(&r["kinds"]).unwrap_or_default());
    eprintln!(
        "chaos ({app}): {faults} faults (seed {seed:#x}) in {:.1} s, {} waves, {} streams, {} MiB sent; lost {} B, duplicated {} B, resets {}; longest client stall {} ms; test wall time {:?}",
        r["faults_s"].as_f64().unwrap_or(0.0),
        r["waves"],
        r["streams"],
        r["bytes_sent"].as_u64().unwrap_or(0) >> 20,
        r["bytes_lost"],
        r["duplicate_bytes"],
        r["resets_seen"],
        r["longest_stall_ms"],
        began.elapsed()
    );
    assert_eq!(r["faults"], faults, "{r:#}");
    assert_eq!(r["log"].as_array().map(Vec::len), Some(faults), "one record per fault: {r:#}");
    assert_eq!(r["errors"], serde_json::json!([]), "{r:#}");
    assert_eq!(r["broken_streams"], serde_json::json!([]), "streams across {faults} faults: {r:#}");
    assert!(r["streams"].as_u64().is_some_and(|s| s >= 4), "at least one wave of streams: {r:#}");
    assert_eq!((&r["bytes_lost"], &r["duplicate_bytes"], &r["resets_seen"]), (&0.into(), &0.into(), &0.into()), "{r:#}");
    for k in r["kinds"].as_array().expect("a verdict per fault kind") {
        let (longest, bound) = (k["longest_overlap_ms"].as_f64(), k["overlap_bound_ms"].as_f64());
        assert!(longest.zip(bound).is_some_and(|(l, b)| l <= b), "two cards answered at once over the bound: {k:#}");
    }
    assert_eq!(r["waves"].as_u64().map(|w| w >= 1), Some(true));
}

/// `holdback lab ARGS` run with `PATH` = `path`, expected to fail with
/// every one of `says` in its error, within seconds (before anything is built).
fn refused(args: &[&str], path: Option<&std::path::Path>, says: &[&str]) {
    // Built (once per test process) before the clock starts.
    let bin = holdback_bin();
    let began = Instant::now();
    let mut cmd = Command::new(bin);
    cmd.arg("lab").args(args);
    if let Some(p) = path {
        cmd.env("PATH", p);
    }
    let out = cmd.output().unwrap_or_else(|e| panic!("running holdback lab {}: {e}", args.join(" ")));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "holdback lab {} must be refused; it said:\n{stderr}", args.join(" "));
    for s in says {
        assert!(stderr.contains(s), "holdback lab {}: the error names `{s}`:\n{stderr}", args.join(" "));
    }
    assert!(began.elapsed().as_secs() < 10, "refused before anything was built, not after {:?}", began.elapsed());
}

#[test]
fn chaos_without_etcd_or_faults_or_with_its_own_faults_given_is_refused_saying_why() {
    holdback_tests::require_root();
    refused(&["--chaos", "0"], None, &["at least one fault"]);
    refused(&["--chaos", "2", "--failover-at", "0.5"], None, &["--failover-at", "do not apply to --chaos"]);
    // No etcd on the PATH: the prerequisite is named with its package.
    let empty = std::env::temp_dir().join(format!("holdback-chaos-no-etcd-{}", std::process::id()));
    std::fs::create_dir_all(&empty).expect("an empty PATH directory");
    refused(&["--chaos", "2"], Some(&empty), &["etcd", "apt-get install -y etcd-server"]);
    let _ = std::fs::remove_dir_all(&empty);
}
