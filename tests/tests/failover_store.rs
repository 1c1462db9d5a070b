//! A store per host (invariant 3 across two hosts): the standby resumes each
//! connection at R and the peers never send the bytes below R again, so
//! those bytes must already be in the standby's own store. The pair lab
//! gives each daemon its own sink directory (`store = "replicated"`): the
//! primary ships the committed bytes over the replication link, the
//! standby writes them at their offset and fsyncs before acknowledging,
//! and a release waits for that acknowledgement.
//!
//! - a failover with separate sink directories: every stream is intact in
//!   the promoted standby's directory alone, and what the primary's own
//!   directory holds is a prefix of it;
//! - the primary killed while R lags rcv_nxt (its releases paused): the
//!   bytes between R and rcv_nxt come again from the peers' retransmission
//!   and land exactly once, which holds only if the promoted card resumes
//!   from R (a card resuming from its copy's rcv_nxt reads a ring it never
//!   filled and the stream check fails).
//!
//! Needs root (network namespaces, TAPs); fails loudly without it. The labs
//! run one at a time (two Verilated cards each).
use std::path::Path;
use std::sync::Mutex;

use holdback_daemon::lab::pair::{run_failover_lab, FailoverOptions, FailoverReport, StoreMode};
use holdback_tests::{holdback_bin, require_lab_prerequisites, WorkDir};

static ONE_LAB_AT_A_TIME: Mutex<()> = Mutex::new(());

fn run(tag: &str, opts: FailoverOptions) -> (FailoverReport, WorkDir) {
    require_lab_prerequisites();
    let _serial = ONE_LAB_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = WorkDir(std::env::temp_dir().join(format!("holdback-store-{tag}-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&dir.0);
    let opts = FailoverOptions { keep_dir: Some(dir.0.clone()), holdback_exe: Some(holdback_bin().to_path_buf()), ..opts };
    let report = run_failover_lab(&opts).unwrap_or_else(|e| panic!("{tag}: {}", holdback_daemon::error::chain(&e)));
    eprintln!(
        "{tag}: passed {} failover_ms {:?} lost {} dup {} resets {} held back at the kill {:?} goodput {:.1} Mbit/s, {:.1} s",
        report.passed(),
        report.failover_ms,
        report.bytes_lost,
        report.duplicate_bytes,
        report.resets_seen,
        report.held_back_at_kill,
        report.goodput_mbps,
        report.duration_s
    );
    (report, dir)
}

fn assert_no_loss(r: &FailoverReport, what: &str) {
    let bad: Vec<_> = r.streams.iter().filter(|s| !s.sha256_match).collect();
    assert!(
        r.passed(),
        "{what}: sha256_match {} lost {} duplicate {} resets {}; errors {:?}; bad streams {bad:#?}; work dir {}",
        r.sha256_match,
        r.bytes_lost,
        r.duplicate_bytes,
        r.resets_seen,
        r.errors,
        r.work_dir.display()
    );
}

/// The connection files in `dir`.
fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("conn-")))
        .collect();
    v.sort();
    v
}

#[test]
fn a_failover_leaves_every_stream_intact_in_the_standbys_own_store() {
    let (r, dir) = run("own", FailoverOptions { conns: 4, bytes: 1 << 20, failover_at: Some(0.5), ..FailoverOptions::default() });
    assert_eq!(r.store, StoreMode::Replicated);
    // The lab checked every stream against the promoted standby's own
    // directory alone: the bytes below R at the kill came over the link.
    assert_no_loss(&r, "4 x 1 MiB, failover at 0.5, a store per host");
    let (primary_dir, standby_dir) = (dir.0.join("primary-sink"), dir.0.join("standby-sink"));
    let standby_files = files(&standby_dir);
    assert_eq!(standby_files.len(), 4, "one file per stream in the standby's store: {standby_files:?}");
    // What the primary wrote before it died is in its own directory, and is
    // the start of the same stream.
    let primary_files = files(&primary_dir);
    assert_eq!(primary_files.len(), 4, "the primary wrote its own store: {primary_files:?}");
    let mut before = 0;
    for p in &primary_files {
        let name = p.file_name().expect("file name");
        let mine = std::fs::read(p).expect("primary's file");
        let theirs = std::fs::read(standby_dir.join(name)).expect("the standby holds the same connection");
        assert!(mine.len() < theirs.len() || theirs.len() as u64 == r.bytes_per_conn, "{name:?}");
        assert_eq!(mine[..], theirs[..mine.len()], "{name:?}: the primary's bytes are the stream's start");
        before += mine.len();
    }
    assert!(before > 0 && (before as u64) < r.bytes_sent, "the primary died mid-stream ({before} of {} bytes written)", r.bytes_sent);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
}

#[test]
fn a_primary_killed_with_r_behind_rcv_nxt_loses_nothing_and_duplicates_nothing() {
    let (r, _dir) = run(
        "lag",
        FailoverOptions { conns: 4, bytes: 1 << 20, failover_at: Some(0.5), lag_at_kill: true, ..FailoverOptions::default() },
    );
    let held = r.held_back_at_kill.expect("the lab measured the lag at the kill");
    assert!(held > 0, "the standby's copies had R behind rcv_nxt when the primary died (Σ rcv_nxt − R = {held})");
    // Those bytes came again from the peers and landed once, at their offset.
    assert_no_loss(&r, "killed with R behind rcv_nxt");
    assert_eq!(r.duplicate_bytes, 0);
}
