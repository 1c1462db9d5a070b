//! A failover with TCP timestamps on (docs/failover.md, invariant 7): the
//! pair lab with `--timestamps on` on both cards, Linux clients that offer
//! the option (they do by default), the primary SIGKILLed mid-transfer. Every
//! segment either card sends on a connection carries a TSval; the promoted
//! card's first TSval on each connection is not behind the dead card's
//! last (the captures), the Linux clients drop nothing by PAWS and reject no
//! TSecr (`nstat` TcpExtPAWSEstab, PAWSActive, PAWSOldAck, PAWSTimewait,
//! TSEcrRejected all stay 0), and every stream arrives intact with no reset.
//!
//! Needs root (network namespaces, TAPs); fails loudly without it.
use holdback_daemon::lab::capture::{read_frames, Seen};
use holdback_daemon::lab::netns::LabTopology;
use holdback_daemon::lab::pair::{run_failover_lab, FailoverOptions};
use holdback_tests::{holdback_bin, require_lab_prerequisites, WorkDir};

#[test]
fn a_failover_with_timestamps_on_never_sends_a_tsval_the_peer_drops() {
    require_lab_prerequisites();
    let dir = WorkDir(std::env::temp_dir().join(format!("holdback-ts-fo-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&dir.0);
    let opts = FailoverOptions {
        conns: 4,
        bytes: 2 << 20,
        seed: holdback_sim::test_seed(0x75_f0),
        failover_at: Some(0.5),
        timestamps: true,
        keep_dir: Some(dir.0.clone()),
        holdback_exe: Some(holdback_bin().to_path_buf()),
        ..FailoverOptions::default()
    };
    let report = run_failover_lab(&opts).unwrap_or_else(|e| panic!("failover lab: {}", holdback_daemon::error::chain(&e)));
    eprintln!("{}", report.human());
    assert!(report.passed(), "every stream intact, nothing lost or reset:\n{}", report.human());
    assert_eq!((report.resets_seen, report.rst_segments), (0, 0), "no reset, no RST on either card's port");
    assert_eq!(report.client_paws_drops, Some(0), "the Linux clients dropped segments by PAWS or rejected a TSecr");
    let step = report.tsval_step_at_kill.expect("timestamps on and a kill: both cards sent TSvals on the same connections");
    assert_eq!(step.conns as usize, opts.conns, "both cards sent TSvals on every connection: {step:?}");
    assert_eq!(step.went_back, 0, "the promoted card's TSval went back: {step:?}");
    eprintln!(
        "TSval step at the kill: at least {} ticks on {} connections; failover {:?} ms",
        step.smallest_ticks, step.conns, report.failover_ms
    );

    // Every segment either card sent on a connection carries a TSval (RFC 7323 §3.2);
    // a RST carries none, and there are none (checked above).
    let topology = std::fs::read_to_string(dir.0.join("topology.json")).expect("the lab's topology.json");
    let topo: LabTopology = serde_json::from_str(&topology).expect("topology.json parses");
    for card in ["primary", "standby"] {
        let (frames, _) = read_frames(&dir.0.join(format!("{card}.pcap")), topo.card_mac).expect("the card's capture");
        let (mut with, mut without) = (0u64, 0u64);
        for f in frames.iter().filter(|f| f.sent) {
            if let Seen::Tcp(seg) = f.what {
                if seg.tsval.is_some() {
                    with += 1;
                } else {
                    without += 1;
                }
            }
        }
        assert!(with > 0, "the {card} card sent no TSval");
        assert_eq!(without, 0, "the {card} card sent {without} segments without a Timestamps option ({with} with)");
    }
}
