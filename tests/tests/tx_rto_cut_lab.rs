//! The card's retransmission timer judged by Linux and tshark (needs root:
//! namespaces and a TAP; and tshark): `holdback lab --app echo` with the
//! card's egress cut for 5 s (`--impair "cut 5s at 1s dir out"`, taken after
//! the card's capture, so the capture shows every segment the card tried to
//! send). While the cut lasts the card resends its first unacknowledged
//! segment at the RTO and then at doubling intervals (RFC 6298 §5.4-§5.6),
//! never below the lab's RTO floor (the driver writes 200 ms); once the link
//! is back Linux acknowledges the retransmission and the stream comes back
//! intact, with no reset.
use std::collections::HashMap;
use std::time::{Duration, Instant};

use holdback_daemon::app::AppKind;
use holdback_daemon::config::DEFAULT_RTO_US;
use holdback_daemon::lab::{run_lab, LabRunOptions};
use holdback_regmap::Stat;
use holdback_tests::{holdback_bin, require_lab_prerequisites, require_tool, tshark_fields};

const DEFAULT_SEED: u64 = 0x5EED_C075;
/// Long enough that the echo is still sending at the cut on a quiet machine
/// too (512 KiB once came back whole in 0.84 s, before the cut began).
const BYTES: u64 = 2 << 20;
/// The cut: 1 s after the card's first frame (the echo is sending by then), for 5 s.
const CUT: &str = "cut 5s at 1s dir out";
const CUT_LENGTH: Duration = Duration::from_secs(5);
/// How far one interval may be from twice the one before, as a fraction:
/// the timer scan runs every 1024 us and the simulated card's loop adds a
/// few ms more (measured: ×1.96 to ×2.05).
const DOUBLING_TOLERANCE: f64 = 0.15;

#[test]
fn with_the_cards_egress_cut_for_five_seconds_its_retransmissions_come_at_doubling_intervals() {
    require_lab_prerequisites();
    require_tool("tshark", "tshark");
    let dir = std::env::temp_dir().join(format!("holdback-tx-rto-cut-lab-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a work directory");
    let pcap = dir.join("card-port.pcap");
    let opts = LabRunOptions {
        conns: 1,
        bytes: BYTES,
        seed: holdback_sim::test_seed(DEFAULT_SEED),
        app: AppKind::Echo,
        impair: Some(CUT.to_string()),
        pcap: Some(pcap.clone()),
        stall_timeout: Duration::from_secs(30),
        holdback_exe: Some(holdback_bin().to_path_buf()),
        ..LabRunOptions::default()
    };
    let started = Instant::now();
    let report = run_lab(&opts).unwrap_or_else(|e| panic!("lab run failed: {}", holdback_daemon::error::chain(&e)));
    eprint!("{}", report.human());
    assert!(report.sha256_match, "the stream did not come back intact:\n{}", report.json());
    assert_eq!(report.resets_seen, 0, "the client saw a reset:\n{}", report.json());
    assert!(report.card.impaired_out.dropped > 0, "the cut dropped frames the card sent: {:?}", report.card.impaired_out);

    let card = report.topology.card_ip.to_string();
    let rows = tshark_fields(&pcap, "tcp", &["frame.time_relative", "ip.src", "tcp.stream", "tcp.seq", "tcp.len", "tcp.ack"]);
    // Every time the card sent each (stream, relative seq) with payload, and
    // the client's highest relative ACK per stream with its time.
    let mut sends: HashMap<(u32, u64), Vec<f64>> = HashMap::new();
    let mut client_acks: Vec<(f64, u32, u64)> = Vec::new();
    for f in &rows {
        let field = |i: usize| f.get(i).map_or("", String::as_str);
        let time: f64 = field(0).parse().unwrap_or_else(|_| panic!("tshark line {f:?}"));
        let stream: u32 = field(2).parse().unwrap_or_else(|_| panic!("tshark line {f:?}"));
        let seq: u64 = field(3).parse().unwrap_or(0);
        let len: u64 = field(4).parse().unwrap_or(0);
        if field(1) == card {
            if len > 0 {
                sends.entry((stream, seq)).or_default().push(time);
            }
        } else {
            client_acks.push((time, stream, field(5).parse().unwrap_or(0)));
        }
    }
    // The segment the cut caught first: the one sent most often.
    let ((stream, seq), times) =
        sends.iter().max_by_key(|(_, t)| t.len()).map(|(k, t)| (*k, t.clone())).expect("the card sent data");
    let intervals: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    eprintln!(
        "tx rto cut lab: stream {stream} seq {seq} sent at {times:?} s, intervals {intervals:?} s, {} retransmissions, {} RTO back-offs, {:.1} s",
        report.stats.get(Stat::Retransmits),
        report.stats.get(Stat::RtoBackoffs),
        started.elapsed().as_secs_f64()
    );
    // 0.2 + 0.4 + 0.8 + 1.6 s fit in the cut: at least four retransmissions,
    // the fifth (3.2 s later) after the cut; three ratios to judge.
    assert!(intervals.len() >= 4, "the card resent its first unacknowledged segment {} times only: {times:?}", intervals.len());
    // The first timeout runs from the last ACK of new data before the cut
    // (RFC 6298 §5.3 restarts the timer there), not from the segment's own
    // send: at least the RTO after it. From then on each interval is the
    // backed-off RTO, twice the one before (§5.5), the first at least twice
    // the floor.
    let floor = f64::from(DEFAULT_RTO_US) / 1e6;
    assert!(intervals[0] >= floor - 0.001, "the first retransmission came {:.3} s after the segment, below the RTO floor {floor} s", intervals[0]);
    assert!(
        intervals[1] >= 2.0 * floor * (1.0 - DOUBLING_TOLERANCE),
        "the second retransmission came {:.3} s after the first: the RTO was not doubled from at least {floor} s",
        intervals[1]
    );
    for (i, w) in intervals[1..].windows(2).enumerate() {
        let ratio = w[1] / w[0];
        assert!(
            (ratio - 2.0).abs() <= 2.0 * DOUBLING_TOLERANCE,
            "retransmission interval {} is {:.3} s after {:.3} s (×{ratio:.2}): the RTO does not double (intervals {intervals:?})",
            i + 2,
            w[1],
            w[0]
        );
    }
    assert!(
        times[times.len() - 1] - times[0] < CUT_LENGTH.as_secs_f64() * 2.0,
        "the card waited past twice the cut to resend: {times:?}"
    );
    // Linux acknowledged the last retransmission once the link was back.
    let last = *times.last().expect("sent at least once");
    assert!(
        client_acks.iter().any(|&(t, s, ack)| s == stream && t >= last && ack > seq),
        "Linux never acknowledged the segment at {seq} after its last retransmission at {last:.3} s"
    );
    assert!(report.stats.get(Stat::RtoBackoffs) as usize >= intervals.len(), "every timeout counts as an RTO back-off");
    let _ = std::fs::remove_dir_all(&dir);
}
