//! SACK (RFC 2018) with real Linux peers (needs root: namespaces and a TAP;
//! and tshark). `holdback lab --impair "loss 1% reorder 5%"` — seeded loss
//! and reordering of the frames arriving at the card — run twice with one
//! seed, reassembly on both times, SACK on and off. With SACK on:
//!
//! - the card offers SACK-permitted and its ACKs carry SACK blocks (tshark
//!   finds `tcp.options.sack_le` in frames from the card; with SACK off none,
//!   and no SYN-ACK offers it);
//! - Linux uses them: its SACK-based loss recoveries (`nstat`
//!   TcpExtTCPSackRecovery in the client namespace) rise above zero, and stay
//!   zero with SACK off; it takes the card's D-SACK blocks for what they are
//!   (TcpExtTCPDSACKRecv and TcpExtTCPDSACKOfoRecv) whenever it resent
//!   something the card held, none with SACK off;
//! - Linux retransmits fewer segments (`nstat` TcpRetransSegs) than with
//!   reassembly alone;
//! - every stream arrives intact, nobody resets.
//!
//! Both runs have timestamps on (RFC 7323), as Linux peers expect.
use std::time::{Duration, Instant};

use holdback_daemon::lab::report::LabReport;
use holdback_daemon::lab::{run_lab, LabRunOptions};
use holdback_regmap::Stat;
use holdback_tests::{holdback_bin, require_lab_prerequisites, require_tool, tshark_count};

/// The clients' streams and the impairment's seed unless `HOLDBACK_TEST_SEED` replaces it.
const DEFAULT_SEED: u64 = 0x5EED_0017;

const CONNS: usize = 2;
const BYTES: u64 = 1 << 20;

struct Run {
    report: LabReport,
    /// Frames from the card with SACK blocks, and SYN-ACKs offering SACK-permitted.
    sack_frames: usize,
    sackp_syn_acks: usize,
}

fn run(seed: u64, sack: bool) -> Run {
    let dir = std::env::temp_dir().join(format!("holdback-sack-lab-{}-{sack}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    let pcap = dir.join("card.pcap");
    let opts = LabRunOptions {
        conns: CONNS,
        bytes: BYTES,
        seed,
        impair: Some("loss 1% reorder 5%".into()),
        stall_timeout: Duration::from_secs(60),
        holdback_exe: Some(holdback_bin().to_path_buf()),
        pcap: Some(pcap.clone()),
        reassembly: true,
        sack,
        timestamps: true,
        ..LabRunOptions::default()
    };
    let started = Instant::now();
    let report = run_lab(&opts).unwrap_or_else(|e| panic!("lab run (sack {sack}) failed: {}", holdback_daemon::error::chain(&e)));
    let ip = report.topology.card_ip;
    let (sack_frames, _) = tshark_count(&pcap, &format!("ip.src=={ip} && tcp.options.sack_le"));
    let (sackp_syn_acks, _) = tshark_count(&pcap, &format!("ip.src=={ip} && tcp.flags.syn==1 && tcp.options.sack_perm"));
    eprintln!(
        "sack {sack}: {} client retransmissions, {} SACK recoveries, {} D-SACKs taken, {sack_frames} frames with SACK blocks, goodput {:.1} Mbit/s, {:.1} s",
        report.client_retrans_segs.map_or("no".into(), |n| n.to_string()),
        report.client_sack_recoveries.map_or("no".into(), |n| n.to_string()),
        report.client_dsacks_recv.map_or("no".into(), |n| n.to_string()),
        report.goodput_mbps,
        started.elapsed().as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(report.sack, sack);
    Run { report, sack_frames, sackp_syn_acks }
}

/// Ignored: not reliably fewer yet. Seed 0x5EED_0017, 2 × 1 MiB, SACK on /
/// off, retransmitted segments (the impairment dropped 12-15 data frames, the
/// floor for both):
///
/// - with a block `[R, rcv_nxt)` in ACKs held below rcv_nxt by holdback:
///   272-385 / 19-25. Linux discards a block that starts at SND.UNA
///   (`tcp_is_sackblock_valid`; the client's TcpExtTCPSACKDiscard was 397),
///   so the blocks above rcv_nxt made `[R, rcv_nxt)` look lost: 254 of the
///   266 retransmissions the capture saw resent bytes that had reached the
///   card. Fixed: an ACK below rcv_nxt carries no block (docs/engine.md,
///   "SACK").
/// - since: on 13, 16, 15, 18, 19, 20, 24, 28, 30, 32, 34, 40, 100 (median
///   24); off 23, 24, 25, 27, 35. TcpExtTCPSACKDiscard, TCPSACKReneging and
///   TCPTimeouts 0, every retransmission a fast one (TcpExtTCPFastRetrans).
///   Two things are left, both resending bytes that had reached the card:
///   - RACK (RFC 8985 §6.2; Linux uses it only with SACK) against a slow
///     receiver without D-SACK. A swapped pair gets one duplicate ACK with a
///     block for the later segment, and the simulated core answers the
///     earlier one some 0.4 ms later, past RACK's reordering window
///     (min_rtt / 4); with no D-SACK (RFC 2883) Linux never learns the resend
///     was spurious, so the window does not grow. Holdback off: SACK on 11,
///     14, 17, 28, 33, 50, 51, off 12, 13, 15, 16; RACK off in the client
///     namespace (net.ipv4.tcp_recovery=0) SACK on 14, 16, 17, 21.
///   - holdback: bytes received in order above R cannot be reported (the ACK
///     waits at R for the release; a block for them starts at SND.UNA), and
///     Linux in SACK recovery resends them: with holdback and RACK off SACK
///     on still 15, 16, 22, 43, 46; in the capture of the run with 100, 84 of
///     99 resent bytes lay at or above the ACK and had reached the card.
///
/// - with D-SACK (RFC 2883; docs/engine.md, "D-SACK"), 17 runs with SACK
///   on, 16 off: on 12, 13, 14, 15, 16, 17, 18, 18, 23, 23, 25, 25, 26, 28,
///   34, 48, 58 (median 23); off 17, 20, 22, 22, 23, 23, 24, 24, 24, 25, 25,
///   27, 30, 34, 47, 56 (median 24); on below off in 11 of 16 pairs. Still
///   not reliably fewer. Linux takes every D-SACK block the card sends (the
///   lab's `client_dsacks_recv`, TcpExtTCPDSACKRecv + TCPDSACKOfoRecv, equals
///   the frames tshark finds with `tcp.options.sack.dsack` from the card in
///   each run), and the card D-SACKs 166 of the 201 duplicates in the 17
///   captures; the other 35 lay above the ACK at R and below rcv_nxt, where
///   any block would start above SND.UNA and make Linux take the unreleased
///   bytes below it for lost. Holdback off, SACK on 13, 14, 15, 17, 18, 32
///   (median 16, was 28 without D-SACK) against off 10, 10, 12, 13, 13: 33
///   of 34 duplicates D-SACKed, yet the resends happen first. The large runs
///   are bursts: the simulated card answers late (its input queue holds some
///   8 ms of frames at full rate), a swapped pair's duplicate ACK makes RACK
///   resend the earlier segment, the ACK of the queued original then looks
///   like the ACK of that resend (no timestamps to tell them apart), and
///   RACK marks every segment sent before the resend and still queued at the
///   card as lost: in the run with 58, 45 duplicates in two bursts (29 and
///   16 segments, 0.265-0.310 s), every one D-SACKed once it arrived, after
///   the resends. D-SACK widens RACK's window for the next round and lets
///   Linux undo; it cannot stop the first burst, and under holdback the
///   resends of unreleased bytes above R remain unreportable. What is left:
///   a release that keeps up with rcv_nxt, or timestamps on the card's ACKs
///   (RFC 7323) so Linux can tell which copy an ACK answers.
///
/// - with timestamps on both runs (docs/engine.md, "Timestamps"), 10 pairs
///   at this seed: on 12, 13, 13, 14, 14, 14, 15, 15, 17, 19 (median 14);
///   off 14, 17, 17, 20, 23, 23, 23, 25, 29, 39 (median 23); on below off in
///   9 of 10 pairs. The bursts are gone (no run above 19 with SACK), so the
///   echoed TSvals let RACK tell the ACK of an original from that of a
///   resend; one pair in ten still has SACK on above off, so the test stays
///   ignored. Against neither reassembly nor SACK (what `ooo_lab.rs`
///   compares) the same impairment costs some 1 500 retransmissions.
#[test]
#[ignore = "with timestamps, SACK on resends fewer segments than off in 9 of 10 pairs (12-19, median 14, vs 14-39, median 23), not every time (see above)"]
fn linux_uses_the_cards_sack_blocks_and_retransmits_less_than_with_reassembly_alone() {
    require_lab_prerequisites();
    require_tool("tshark", "tshark");
    require_tool("nstat", "iproute2");
    let seed = holdback_sim::test_seed(DEFAULT_SEED);
    let on = run(seed, true);
    let off = run(seed, false);
    for (what, r) in [("on", &on.report), ("off", &off.report)] {
        assert!(r.sha256_match, "SACK {what}: a stream arrived damaged:\n{}", r.json());
        assert_eq!(r.resets_seen, 0, "SACK {what}: clients saw resets:\n{}", r.json());
        assert_eq!(r.bytes_delivered, CONNS as u64 * BYTES, "SACK {what}:\n{}", r.json());
        assert!(r.stats.get(Stat::RxOooHeld) > 0, "seed {seed}: SACK {what}: nothing held, the impairment did not reorder\n{}", r.json());
    }
    assert_eq!(on.sackp_syn_acks, CONNS, "every SYN-ACK offers SACK-permitted");
    assert!(on.sack_frames > 0, "seed {seed}: no ACK of the card carried a SACK block");
    assert_eq!((off.sackp_syn_acks, off.sack_frames), (0, 0), "SACK off: nothing offered, no block sent");
    let (on_rec, off_rec) = match (on.report.client_sack_recoveries, off.report.client_sack_recoveries) {
        (Some(a), Some(b)) => (a, b),
        _ => panic!("nstat gave no TcpExtTCPSackRecovery"),
    };
    assert!(on_rec > 0, "seed {seed}: Linux never recovered by SACK with SACK on");
    assert_eq!(off_rec, 0, "seed {seed}: Linux recovered by SACK though the card never offered it");
    assert_eq!(off.report.client_dsacks_recv, Some(0), "seed {seed}: D-SACKs taken though the card never offered SACK");
    let (on_n, off_n) = match (on.report.client_retrans_segs, off.report.client_retrans_segs) {
        (Some(a), Some(b)) => (a, b),
        _ => panic!("nstat gave no TcpRetransSegs (install iproute2)"),
    };
    assert!(on_n < off_n, "seed {seed}: {on_n} retransmitted segments with SACK, {off_n} with reassembly alone: not fewer");
}
