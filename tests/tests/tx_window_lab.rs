//! The card's congestion window judged by Linux and tshark, not by our own
//! model (needs root: namespaces and a TAP; and tshark): in a capture of
//! `holdback lab --app echo` the card's first flight on every connection is
//! within RFC 5681 §3.1's initial window (3 × 1460 bytes for the MSS Linux
//! announces on the lab's 1500-byte link), and the card's bytes in flight
//! (tshark's `tcp.analysis.bytes_in_flight`) later exceed it: cwnd grew.
//!
//! Frames arriving at the card wait 100 ms (`--impair "delay 100ms"`, where
//! the card's capture is taken after the wait, so it shows the card's own
//! view). Without it Linux's ACK comes back within a millisecond while the
//! simulated card sends a segment every 6-20 ms: every segment is
//! acknowledged before the next leaves, the flight never exceeds the two
//! segments Linux's delayed ACK covers (2920 B) and cwnd is never what bounds
//! it. With a round trip longer than the card's time per segment, the echo
//! has more bytes written than the window lets out and the window shows.
use std::collections::HashMap;
use std::time::{Duration, Instant};

use holdback_daemon::app::AppKind;
use holdback_daemon::lab::{run_lab, LabRunOptions};
use holdback_tests::{holdback_bin, require_lab_prerequisites, require_tool, tshark_fields};

const DEFAULT_SEED: u64 = 0x5EED_1A1D;
/// RFC 5681 §3.1 eq. 1 for SMSS 1460.
const INITIAL_WINDOW: u64 = 3 * 1460;

/// The round trip the lab adds: long against the card's ~10 ms per segment,
/// short against the 200 ms RTO the lab's driver writes before any sample.
const ROUND_TRIP_DELAY: &str = "delay 100ms";

#[test]
fn the_first_flight_is_within_the_initial_window_and_the_window_then_grows() {
    require_lab_prerequisites();
    require_tool("tshark", "tshark");
    let dir = std::env::temp_dir().join(format!("holdback-tx-window-lab-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a work directory");
    let pcap = dir.join("card-port.pcap");
    let opts = LabRunOptions {
        conns: 2,
        bytes: 1 << 20,
        seed: holdback_sim::test_seed(DEFAULT_SEED),
        app: AppKind::Echo,
        impair: Some(ROUND_TRIP_DELAY.to_string()),
        pcap: Some(pcap.clone()),
        stall_timeout: Duration::from_secs(60),
        holdback_exe: Some(holdback_bin().to_path_buf()),
        ..LabRunOptions::default()
    };
    let started = Instant::now();
    let report = run_lab(&opts).unwrap_or_else(|e| panic!("lab run failed: {}", holdback_daemon::error::chain(&e)));
    eprint!("{}", report.human());
    assert!(report.sha256_match, "{}", report.json());
    let card = report.topology.card_ip.to_string();
    let rows = tshark_fields(&pcap, "tcp", &["tcp.stream", "ip.src", "tcp.len", "tcp.ack", "tcp.analysis.bytes_in_flight"]);
    // Per connection: the card's largest flight before the client first
    // acknowledges any of the card's data, and its largest flight overall.
    let mut first_flight: HashMap<u32, u64> = HashMap::new();
    let mut acked_once: HashMap<u32, bool> = HashMap::new();
    let mut largest: u64 = 0;
    let mut largest_per_stream: HashMap<u32, u64> = HashMap::new();
    for f in &rows {
        let field = |i: usize| f.get(i).map_or("", String::as_str);
        let stream: u32 = field(0).parse().unwrap_or_else(|_| panic!("tshark line {f:?}"));
        let len: u64 = field(2).parse().unwrap_or(0);
        if field(1) == card {
            if len > 0 {
                let in_flight: u64 = field(4).parse().unwrap_or_else(|_| panic!("no bytes_in_flight in {f:?}"));
                largest = largest.max(in_flight);
                let l = largest_per_stream.entry(stream).or_default();
                *l = (*l).max(in_flight);
                if !acked_once.get(&stream).copied().unwrap_or(false) {
                    let e = first_flight.entry(stream).or_default();
                    *e = (*e).max(in_flight);
                }
            }
        } else if field(3).parse::<u64>().unwrap_or(0) > 1 {
            // Relative ACK beyond 1: the client acknowledged card data.
            acked_once.insert(stream, true);
        }
    }
    eprintln!(
        "tx window lab: first flights {first_flight:?}, largest flights {largest_per_stream:?}, largest {largest} B, {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(first_flight.len(), opts.conns, "every connection's first flight is in the capture");
    for (stream, bytes) in &first_flight {
        assert!(*bytes > 0 && *bytes <= INITIAL_WINDOW, "stream {stream}: first flight {bytes} B, the initial window is {INITIAL_WINDOW}");
    }
    assert!(largest > 2 * INITIAL_WINDOW, "the card's flight grew to {largest} B only: cwnd does not grow beyond twice the initial window");
    for (stream, bytes) in &largest_per_stream {
        assert!(*bytes > 2 * INITIAL_WINDOW, "stream {stream}: the card's flight grew to {bytes} B only");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
