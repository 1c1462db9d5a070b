//! The card's zero-window probes judged by Linux and tshark: the simulated
//! card on a TAP inside a throwaway network namespace listens, a Linux socket
//! in the namespace connects and then stops reading while the test, as the
//! host, keeps the card's transmit ring full. Linux's receive buffer is held
//! small (`net.ipv4.tcp_rmem` of the namespace), so it soon advertises a zero
//! window; the card must then send zero-window probes (RFC 9293 §3.8.6.1)
//! that tshark recognises as such (`tcp.analysis.zero_window_probe`) at
//! backed-off intervals, and resume when Linux reads again: Linux reads every
//! byte intact and in order. Needs root (netns + TAP) and tshark; fails
//! saying so otherwise.
#[path = "common/netns.rs"]
mod netns;
#[path = "common/tap_sender.rs"]
mod tap_sender;

use std::{
    process::Command,
    time::{Duration, Instant},
};

use holdback_regmap as map;
use holdback_regmap::Stat;
use netns::{require_root_and_ip, Netns};
use rand::{rngs::SmallRng, Rng, SeedableRng};
use tap_sender::{TapSender, PORT};

const BYTES: usize = 64 * 1024;
/// Linux's receive buffer in the namespace: min, default and max of `tcp_rmem`.
const LINUX_RCVBUF: &str = "4096 4096 4096";
/// How long the Linux reader does not read: the persist timer's probes at
/// 200, 400, 800 and 1600 ms (RTO_US below, doubled per probe) fit.
const READER_PAUSE: Duration = Duration::from_secs(4);
const RTO_US: u32 = 200_000;

fn require_tshark() {
    let ok = Command::new("tshark").arg("--version").output().map(|o| o.status.success()).unwrap_or(false);
    assert!(ok, "tx_zero_window_tap needs tshark: apt-get install -y tshark");
}

#[test]
fn a_linux_receiver_that_stops_reading_gets_zero_window_probes_tshark_recognises() {
    require_root_and_ip("tx_zero_window_tap");
    require_tshark();
    let ns = Netns::new("hbzw");
    let tap = format!("hbzw{}", std::process::id() % 100_000);
    let dir = std::env::temp_dir().join(format!("holdback-tx-zero-window-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a work directory");
    let pcap = dir.join("card-port.pcap");
    let sender = TapSender::start(&ns, &tap, Some(pcap.clone()), &[(map::RTO_US, RTO_US), (map::RTO_MIN_US, RTO_US)]);
    let rmem = format!("net.ipv4.tcp_rmem={LINUX_RCVBUF}");
    let set = Command::new("ip").args(["netns", "exec", &ns.0, "sysctl", "-qw", &rmem]).status().expect("running sysctl");
    assert!(set.success(), "could not set {rmem} in the namespace");

    // The Linux side: a thread in the namespace connects, does not read for
    // READER_PAUSE, then reads until it has every byte.
    let (reader, done_rx) = tap_sender::linux_reader(&ns, BYTES, READER_PAUSE, Duration::from_secs(20));

    let started = Instant::now();
    let data: Vec<u8> = {
        let mut rng = SmallRng::seed_from_u64(0x7a65_726f_7770);
        (0..BYTES).map(|_| rng.gen()).collect()
    };
    sender.send_all(&data, &done_rx, started + Duration::from_secs(60));
    let got = reader.join().expect("reader thread").unwrap_or_else(|e| panic!("the Linux reader failed: {e}"));
    let elapsed = started.elapsed();
    let backoffs = sender.regs.read32(Stat::RtoBackoffs.offset()).expect("stat");
    let report = sender.card.shutdown().unwrap_or_else(|e| panic!("shutdown: {e}"));
    let first_bad = got.iter().zip(&data).position(|(a, b)| a != b);
    assert_eq!(first_bad, None, "Linux read a different byte at offset {first_bad:?}");

    // tshark's view: Linux closed its window, the card probed it.
    let out = Command::new("tshark")
        .arg("-r")
        .arg(&pcap)
        .args(["-d", &format!("tcp.port=={PORT},data"), "-Y", "tcp.analysis.zero_window_probe || tcp.analysis.zero_window"])
        .args(["-T", "fields", "-E", "separator=,", "-e", "frame.time_relative", "-e", "ip.src", "-e", "tcp.seq", "-e", "tcp.len"])
        .args(["-e", "tcp.analysis.zero_window_probe", "-e", "tcp.analysis.zero_window"])
        .output()
        .expect("running tshark");
    assert!(out.status.success(), "tshark failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<Vec<&str>> = text.lines().filter(|l| !l.trim().is_empty()).map(|l| l.split(',').collect()).collect();
    let zero_windows = lines.iter().filter(|f| f[1] == "198.18.0.1" && !f[5].is_empty()).count();
    let probes: Vec<f64> = lines
        .iter()
        .filter(|f| f[1] == "198.18.0.2" && !f[4].is_empty())
        .map(|f| f[0].parse().unwrap_or_else(|_| panic!("tshark line {f:?}")))
        .collect();
    let intervals: Vec<f64> = probes.windows(2).map(|w| w[1] - w[0]).collect();
    eprintln!(
        "Linux read {BYTES} bytes intact in {elapsed:?}; {zero_windows} zero windows from Linux, zero-window probes at {probes:?} s (intervals {intervals:?}), rto_backoffs {backoffs}; card report {report:?}"
    );
    assert!(zero_windows > 0, "Linux never advertised a zero window:\n{text}");
    assert!(probes.len() >= 3, "tshark saw {} zero-window probes from the card in {READER_PAUSE:?} of a closed window:\n{text}", probes.len());
    for w in intervals.windows(2) {
        assert!(w[1] >= 1.5 * w[0], "the probes do not back off: intervals {intervals:?}");
    }
    assert!(backoffs as usize >= probes.len(), "each probe backs the persist timer off ({backoffs} back-offs, {} probes)", probes.len());
    let _ = std::fs::remove_dir_all(&dir);
}
