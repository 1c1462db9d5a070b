//! 1024 Linux connections open on the card at the same time, every one
//! admitted: `holdback lab --conns 1024 --bytes 64KiB --json` (the built
//! binary, as a user runs it). The clients connect, wait until all 1024 have
//! connected, then each sends 64 KiB (one host ring's worth) and closes.
//! Checked: the report saw all 1024 open at once, every stream's SHA-256
//! matches its sink file, nobody was reset, and the card refused no SYN
//! (`drop_tcb_full` 0) and opened exactly 1024 connections.
//!
//! Needs root (network namespaces, a TAP) and fails when not root. Sizes:
//! 1024 connections x 64 KiB = 64 MiB through the simulated card.
use std::time::Instant;

use holdback_tests::lab_report;

const CONNS: u64 = 1024;

#[test]
fn a_thousand_and_twenty_four_connections_are_open_at_once_and_every_stream_arrives() {
    let seed = holdback_sim::test_seed(1024).to_string();
    let started = Instant::now();
    let v = lab_report(&["--conns", "1024", "--bytes", "64KiB", "--seed", &seed]);
    let wall = started.elapsed();
    let text = || {
        let mut brief = v.clone();
        // 1024 client rows would bury the figures: keep those with an error.
        if let Some(rows) = brief["clients"].as_array_mut() {
            rows.retain(|c| !c["error"].is_null() || c["sha256_match"] != true);
        }
        serde_json::to_string_pretty(&brief).unwrap_or_default()
    };
    let stat = |name: &str| v["stats"][name].as_u64().unwrap_or_else(|| panic!("no `{name}` in the card's counters:\n{}", text()));

    assert_eq!(v["conns"], CONNS, "{}", text());
    assert_eq!(v["peak_open_conns"], CONNS, "all 1024 connections open at the same time:\n{}", text());
    assert_eq!(stat("drop_tcb_full"), 0, "the card refused a SYN with a free slot:\n{}", text());
    assert_eq!(stat("conns_opened"), CONNS, "{}", text());
    assert_eq!(v["resets_seen"], 0, "{}", text());
    assert_eq!(v["sha256_match"], true, "every stream arrives intact:\n{}", text());
    assert_eq!(v["bytes_delivered"], CONNS * 64 * 1024, "{}", text());
    let clients = v["clients"].as_array().expect("a row per client");
    assert_eq!(clients.len() as u64, CONNS);
    assert!(clients.iter().all(|c| c["sha256_match"] == true && c["error"].is_null()), "{}", text());
    eprintln!(
        "lab 1024 x 64 KiB: {:.1} s wall ({:.1} s of clients), {:.1} Mbit/s, {} card cycles",
        wall.as_secs_f64(),
        v["duration_s"].as_f64().unwrap_or(0.0),
        v["goodput_mbps"].as_f64().unwrap_or(0.0),
        v["card"]["cycles"]
    );
}
