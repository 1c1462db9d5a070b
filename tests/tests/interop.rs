//! 8 concurrent Linux client connections each send 8 MiB of
//! seeded random bytes through the simulated card; every sink file's SHA-256
//! matches, and a capture of the card's port, checked by tshark with IP and
//! TCP checksum validation on, has no bad or unverified checksum and no
//! malformed frame.
use std::time::Duration;

use holdback_daemon::lab::{run_lab, LabRunOptions};
use holdback_tests::{holdback_bin, require_lab_prerequisites, require_tool, tshark_count, bad_frames};

/// The clients' stream seed unless `HOLDBACK_TEST_SEED` replaces it.
const DEFAULT_SEED: u64 = 0x5EED_A001;

#[test]
fn eight_clients_of_8mib_arrive_intact_with_clean_checksums() {
    require_lab_prerequisites();
    require_tool("tshark", "tshark");
    let dir = std::env::temp_dir().join(format!("holdback-interop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pcap = dir.join("card-port.pcap");
    let seed = holdback_sim::test_seed(DEFAULT_SEED);
    let opts = LabRunOptions {
        conns: 8,
        bytes: 8 << 20,
        seed,
        holdback: true,
        pcap: Some(pcap.clone()),
        sink_dir: None,
        stall_timeout: Duration::from_secs(60),
        holdback_exe: Some(holdback_bin().to_path_buf()),
        ..LabRunOptions::default()
    };
    eprintln!("interop: capture {}", pcap.display());
    let report = run_lab(&opts).unwrap_or_else(|e| panic!("lab run failed: {}", holdback_daemon::error::chain(&e)));
    eprint!("{}", report.human());
    assert!(report.sha256_match, "some sink file differs from what its client sent:\n{}", report.json());
    assert_eq!(report.resets_seen, 0, "clients saw resets:\n{}", report.json());
    assert_eq!(report.bytes_delivered, 8 * (8 << 20));
    for c in &report.clients {
        // Linux saw every byte acknowledged, plus its SYN and FIN.
        assert_eq!(c.tcpi_bytes_acked, c.bytes_sent + 2, "client {} TCP_INFO: {c:?}", c.index);
    }

    let (bad, lines) = tshark_count(&pcap, &bad_frames(report.topology.card_ip));
    assert_eq!(bad, 0, "tshark flags {bad} frames of {}:\n{}", pcap.display(), lines.lines().take(20).collect::<Vec<_>>().join("\n"));
    // Guard against a vacuous pass: the capture holds the transfer and the
    // checksums were really checked (status 1 = good).
    let (good_tcp, _) = tshark_count(&pcap, "tcp.checksum.status==1 && ip.checksum.status==1");
    let (data, _) = tshark_count(&pcap, "tcp.len > 0");
    assert!(good_tcp > 5000 && data > 5000, "capture too small: {good_tcp} verified TCP frames, {data} with data");
    eprintln!("tshark: {good_tcp} TCP frames with verified IP+TCP checksums, 0 bad, 0 malformed");
    let _ = std::fs::remove_dir_all(&dir);
}
