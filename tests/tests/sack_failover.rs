//! A failover with SACK on (docs/engine.md, "SACK"): the pair lab with
//! reassembly and SACK on both cards, the clients' frames lost (1 %) and
//! reordered (5 %) on the way in, and the primary SIGKILLed at a moment it
//! had SACKed ranges above its last ACK (the lab waits for one in the
//! primary's capture). The held ranges are not replicated, so the promoted
//! card reneges on them (RFC 2018 §8): its first ACK on every connection
//! carries no SACK block, the Linux clients send those bytes again, and
//! every stream arrives intact with no reset. The report gives how long the
//! promoted card took to acknowledge the reneged bytes — the stall the
//! reneging costs — and the clients' longest stall.
//!
//! Needs root (network namespaces, TAPs); fails loudly without it.
use std::collections::HashSet;

use holdback_daemon::lab::capture::{read_frames, Seen};
use holdback_daemon::lab::netns::LabTopology;
use holdback_daemon::lab::pair::{run_failover_lab, FailoverOptions};
use holdback_tests::{holdback_bin, require_lab_prerequisites, WorkDir};

#[test]
fn a_failover_with_sacked_ranges_open_keeps_every_stream_and_resets_nothing() {
    require_lab_prerequisites();
    let dir = WorkDir(std::env::temp_dir().join(format!("holdback-sack-fo-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&dir.0);
    let opts = FailoverOptions {
        conns: 4,
        // Long enough that the kill still finds the transfer running after
        // waiting for a SACKed range (seconds at most).
        bytes: 4 << 20,
        seed: holdback_sim::test_seed(0x5ac4_f0),
        failover_at: Some(0.4),
        impair: Some("loss 1% reorder 5%".into()),
        reassembly: true,
        sack: true,
        keep_dir: Some(dir.0.clone()),
        holdback_exe: Some(holdback_bin().to_path_buf()),
        ..FailoverOptions::default()
    };
    let report = run_failover_lab(&opts).unwrap_or_else(|e| panic!("failover lab: {}", holdback_daemon::error::chain(&e)));
    eprintln!("{}", report.human());
    assert!(report.passed(), "every stream intact, nothing lost or reset:\n{}", report.human());
    assert_eq!((report.resets_seen, report.rst_segments), (0, 0), "no reset, no RST on either card's port");
    let reneged = report.reneged_at_kill.clone().expect("SACK on and a kill: the report says what was reneged");
    assert!(reneged.bytes > 0 && reneged.conns > 0, "the kill found SACKed ranges above the primary's ACKs: {reneged:?}");
    let refilled = reneged.refilled_ms.expect("the promoted card acknowledged the reneged bytes before the streams ended");
    eprintln!(
        "reneged {} B on {} connections; acknowledged by the promoted card {refilled:.1} ms after its first frame; \
         failover {:?} ms, clients' longest stall {} ms",
        reneged.bytes, reneged.conns, report.failover_ms, report.max_stall_ms
    );

    // The promoted card's first ACK on each connection reports no range
    // (docs/engine.md, "After a promotion: none until fresh holes").
    let topology = std::fs::read_to_string(dir.0.join("topology.json")).expect("the lab's topology.json");
    let topo: LabTopology = serde_json::from_str(&topology).expect("topology.json parses");
    let (frames, _) = read_frames(&dir.0.join("standby.pcap"), topo.card_mac).expect("the standby's capture");
    let mut first_ack_seen = HashSet::new();
    for f in frames.iter().filter(|f| f.sent) {
        if let Seen::Tcp(seg) = f.what {
            if seg.ack_flag && !seg.syn && first_ack_seen.insert(seg.peer_port) {
                assert!(seg.sack_blocks().is_empty(), "the promoted card's first ACK to port {} carries SACK blocks {:?}", seg.peer_port, seg.sack_blocks());
            }
        }
    }
    assert_eq!(first_ack_seen.len(), opts.conns, "the promoted card ACKed every connection");
}
