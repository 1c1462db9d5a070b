//! Acceptance of the echo application (needs root: namespaces and a TAP;
//! and tshark): `holdback lab --app echo --conns 8 --bytes 8MiB` — every
//! Linux client sends its 8 MiB stream and reads the echo while sending;
//! the card took every byte and every byte came back unchanged (SHA-256
//! both ways per connection), no connection was reset, and tshark finds no
//! bad checksum, malformed frame or error-level expert note in a capture of
//! the card's port, in which the card sent the echoed payload itself.
use std::time::{Duration, Instant};

use holdback_daemon::app::AppKind;
use holdback_daemon::lab::{run_lab, LabRunOptions};
use holdback_tests::{holdback_bin, require_lab_prerequisites, require_tool, tshark_count, bad_frames};

/// The clients' stream seed unless `HOLDBACK_TEST_SEED` replaces it.
const DEFAULT_SEED: u64 = 0x5EED_EC40;

#[test]
fn echo_of_eight_8mib_streams_comes_back_intact_without_resets_and_with_clean_frames() {
    require_lab_prerequisites();
    require_tool("tshark", "tshark");
    let dir = std::env::temp_dir().join(format!("holdback-echo-lab-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a work directory");
    let pcap = dir.join("card-port.pcap");
    let seed = holdback_sim::test_seed(DEFAULT_SEED);
    let opts = LabRunOptions {
        conns: 8,
        bytes: 8 << 20,
        seed,
        app: AppKind::Echo,
        pcap: Some(pcap.clone()),
        stall_timeout: Duration::from_secs(60),
        holdback_exe: Some(holdback_bin().to_path_buf()),
        ..LabRunOptions::default()
    };
    let started = Instant::now();
    let report = run_lab(&opts).unwrap_or_else(|e| panic!("lab run failed: {}", holdback_daemon::error::chain(&e)));
    eprint!("{}", report.human());
    eprintln!("echo lab: {:.1} s", started.elapsed().as_secs_f64());
    assert_eq!(report.app, AppKind::Echo);
    assert_eq!(report.resets_seen, 0, "clients saw resets:\n{}", report.json());
    assert!(report.sha256_match, "some stream did not come back intact:\n{}", report.json());
    for c in &report.clients {
        assert_eq!(c.bytes_sent, 8 << 20, "client {}: {c:?}", c.index);
        assert_eq!(c.bytes_delivered, c.bytes_sent, "client {}: the echo took every byte: {c:?}", c.index);
        assert_eq!(c.bytes_echoed, Some(c.bytes_sent), "client {}: every byte came back: {c:?}", c.index);
        assert_eq!(c.sha256_echoed.as_deref(), Some(c.sha256_sent.as_str()), "client {}: unchanged: {c:?}", c.index);
    }
    let (bad, lines) = tshark_count(&pcap, &bad_frames(report.topology.card_ip));
    assert_eq!(bad, 0, "tshark flags {bad} frames of {}:\n{}", pcap.display(), lines.lines().take(20).collect::<Vec<_>>().join("\n"));
    let (resets, lines) = tshark_count(&pcap, "tcp.flags.reset==1");
    assert_eq!(resets, 0, "resets on the wire:\n{lines}");
    // The card itself sent the echo: payload from the card's address.
    let card_data = format!("ip.src=={} && tcp.len > 0", report.topology.card_ip);
    let (echo_frames, _) = tshark_count(&pcap, &card_data);
    assert!(echo_frames > 5000, "the card sent only {echo_frames} frames with payload");
    let _ = std::fs::remove_dir_all(&dir);
}
