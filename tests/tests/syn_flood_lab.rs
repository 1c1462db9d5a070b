//! A SYN flood while connections stream (needs root: namespaces and a TAP;
//! and Debian's hping3): `holdback lab --syn-flood 2000 --syn-cookies 16` —
//! hping3 in the client namespace sends 2000 spoofed SYNs a second at the
//! card's port once the clients are connected (daemon/src/lab/flood.rs).
//! With SYN cookies on past 16 half-open entries (docs/syn-cookies.md) the
//! flood takes at most 16 slots and the rest of its SYNs are answered from
//! cookies; the established streams go on, every byte intact, nobody reset;
//! and a late Linux client connects on its first SYN, through a cookie.
//!
//! With threshold 0 and timestamps on, every SYN is answered from a cookie:
//! the table only ever holds established connections (every slot taken is
//! a client's, through a returned cookie), and the clients' window scale and
//! SACK-permitted come back in the TSecr (docs/syn-cookies.md).
use std::time::{Duration, Instant};

use holdback_daemon::lab::{run_lab, LabRunOptions};
use holdback_regmap::Stat;
use holdback_tests::{holdback_bin, require_lab_prerequisites, require_tool};

/// The clients' stream seed unless `HOLDBACK_TEST_SEED` replaces it.
const DEFAULT_SEED: u64 = 0x5EED_F100;
const PPS: u32 = 2000;
/// Streaming clients.
const CONNS: usize = 4;
/// Half-open entries past which SYNs are answered from cookies.
const THRESHOLD: u16 = 16;

struct FloodRun {
    threshold: u16,
    timestamps: bool,
}

/// Runs the flood lab; returns the report after the checks every run shares.
fn flood_lab(run: FloodRun) -> holdback_daemon::lab::report::LabReport {
    require_lab_prerequisites();
    require_tool("hping3", "hping3");
    let seed = holdback_sim::test_seed(DEFAULT_SEED);
    let opts = LabRunOptions {
        conns: CONNS,
        bytes: 1 << 20,
        seed,
        syn_flood: Some(PPS),
        syn_cookies: Some(run.threshold),
        timestamps: run.timestamps,
        // Also how long the late client may take to connect.
        stall_timeout: Duration::from_secs(10),
        holdback_exe: Some(holdback_bin().to_path_buf()),
        ..LabRunOptions::default()
    };
    let started = Instant::now();
    let report = run_lab(&opts).unwrap_or_else(|e| panic!("lab run failed: {}", holdback_daemon::error::chain(&e)));
    eprint!("{}", report.human());
    eprintln!("SYN flood lab (threshold {}): {:.1} s", run.threshold, started.elapsed().as_secs_f64());
    assert!(report.sha256_match, "a stream arrived damaged under the flood:\n{}", report.json());
    assert_eq!(report.resets_seen, 0, "clients were reset under the flood:\n{}", report.json());
    assert_eq!(report.bytes_delivered, CONNS as u64 * (1 << 20), "{}", report.json());
    let flood = report.syn_flood.as_ref().unwrap_or_else(|| panic!("no flood in the report:\n{}", report.json()));
    assert!(flood.syns_sent > 0, "hping3 sent nothing:\n{}", report.json());
    let stat = |s: Stat| report.stats.get(s);
    assert!(stat(Stat::CookiesSent) > 0, "no SYN was answered from a cookie:\n{}", report.json());
    assert_eq!(stat(Stat::DropTcbFull), 0, "a SYN found the table full:\n{}", report.json());
    let late = flood.late_client.as_ref().unwrap_or_else(|| panic!("no late client was tried:\n{}", report.json()));
    assert!(late.connected, "the late client did not get in:\n{}", report.json());
    assert_eq!(late.syn_retransmits, Some(0), "the late client had to send its SYN again:\n{}", report.json());
    assert!(stat(Stat::CookiesAccepted) >= 1, "the late client's cookie was not counted:\n{}", report.json());
    report
}

#[test]
fn with_syn_cookies_streams_survive_a_syn_flood_and_a_late_client_gets_in_on_its_first_syn() {
    let report = flood_lab(FloodRun { threshold: THRESHOLD, timestamps: false });
    // Every slot taken: the streams, the late client (through a cookie) and at most THRESHOLD flood entries.
    let flood_slots = u64::from(report.stats.get(Stat::ConnsOpened)).saturating_sub(CONNS as u64 + 1);
    assert!(flood_slots <= u64::from(THRESHOLD), "the flood took {flood_slots} slots, past the threshold of {THRESHOLD}:\n{}", report.json());
}

#[test]
fn with_threshold_zero_the_table_only_ever_holds_established_connections() {
    let report = flood_lab(FloodRun { threshold: 0, timestamps: true });
    let clients = CONNS as u32 + 1;
    assert_eq!(report.stats.get(Stat::ConnsOpened), clients, "a slot went to something but the clients:\n{}", report.json());
    assert_eq!(report.stats.get(Stat::CookiesAccepted), clients, "every client came in through a cookie:\n{}", report.json());
}
