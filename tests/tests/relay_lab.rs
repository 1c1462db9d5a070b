//! `holdback lab --mode relay` end to end (needs root, nginx, curl, tshark,
//! perl; fails naming what is missing): the simulated card between a
//! client namespace and a server namespace, relaying in hardware
//! (docs/relay.md).
//!
//! - A download by curl from nginx and an upload to the sink through the
//!   card's relay ports arrive whole (SHA-256 both ways), and tshark finds no
//!   bad checksum, no malformed frame and no RST in the capture of the
//!   card's port.
//! - The peer gate as the client sees it: behind a server that accepts and
//!   never reads, the client's `tcpi_bytes_acked` stops at what the server
//!   acknowledged, far below what the client wrote.
//! - A backend port nothing listens on: the client's connect fails with
//!   ECONNREFUSED (the card's RST) within the connect timeout,
//!   `relay_connects_failed` counts it, and another relay port still serves.
//! - `holdback lab --mode relay --json`: two downloads and two uploads at
//!   once, reported per direction; a switchover, which relay mode does not
//!   run, is refused.
use std::io::{ErrorKind, Write};
use std::net::SocketAddrV4;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use holdback_daemon::lab::netns::run_in_netns;
use holdback_daemon::lab::relay::{RelayLab, RelayLabOptions, RELAY_HTTP_PORT, RELAY_UPLOAD_PORT, SERVER_HTTP_PORT, SERVER_UPLOAD_PORT};
use holdback_regmap::Stat;
use holdback_tests::{bad_frames, holdback, holdback_bin, lab_report, require_lab_prerequisites, require_tool};

/// The generated files' seed unless `HOLDBACK_TEST_SEED` replaces it.
const DEFAULT_SEED: u64 = 0x5EED_4E1B;
const MIB: u64 = 1 << 20;

fn prerequisites() {
    require_lab_prerequisites();
    for (tool, package) in [("nginx", "nginx"), ("curl", "curl"), ("tshark", "tshark"), ("perl", "perl"), ("ss", "iproute2")] {
        require_tool(tool, package);
    }
}

fn work_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("holdback-relay-lab-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn options(seed: u64) -> RelayLabOptions {
    RelayLabOptions { seed, holdback_exe: Some(holdback_bin().to_path_buf()), timeout: Duration::from_secs(120), ..RelayLabOptions::default() }
}

fn start(opts: &RelayLabOptions, work: &Path) -> RelayLab {
    RelayLab::start(opts, work).unwrap_or_else(|e| panic!("the relay lab did not start: {}", holdback_daemon::error::chain(&e)))
}

/// Frames of `pcap` matching `filter`, with IP and TCP checksum validation
/// on and the uploads' random bytes decoded as plain data (a heuristic
/// dissector would report its own errors about them).
fn tshark(pcap: &Path, filter: &str) -> (usize, String) {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(pcap)
        .args(["-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-Y", filter])
        .args(["-d", &format!("tcp.port=={RELAY_UPLOAD_PORT},data"), "-d", &format!("tcp.port=={SERVER_UPLOAD_PORT},data")])
        .args(["-T", "fields", "-e", "frame.number", "-e", "_ws.col.Info"])
        .output()
        .expect("running tshark");
    assert!(out.status.success(), "tshark failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (text.lines().filter(|l| !l.trim().is_empty()).count(), text)
}

#[test]
fn a_download_and_an_upload_of_64mib_cross_the_relay_intact_with_clean_frames() {
    prerequisites();
    let started = Instant::now();
    let seed = holdback_sim::test_seed(DEFAULT_SEED);
    let work = work_dir("transfer");
    let pcap = work.join("card-port.pcap");
    let opts = RelayLabOptions { bytes: 64 * MIB, pcap: Some(pcap.clone()), ..options(seed) };
    let lab = start(&opts, &work);
    let (downloads, down_wall) = lab.downloads(1, opts.timeout).unwrap_or_else(|e| panic!("download: {}", holdback_daemon::error::chain(&e)));
    let (uploads, up_wall) = lab.uploads(1, opts.timeout).unwrap_or_else(|e| panic!("upload: {}", holdback_daemon::error::chain(&e)));
    let (card_ip, sent) = (lab.topology().card_ip, lab.sent.clone());
    let (stats, _card, _) = lab.finish().unwrap_or_else(|e| panic!("stopping the lab: {}", holdback_daemon::error::chain(&e)));
    let (down, up) = (&downloads[0], &uploads[0]);
    eprintln!(
        "relay_lab transfer: download {} ({:.1} Mbit/s), upload {} ({:.1} Mbit/s), seed {seed:#x}",
        down.check,
        8.0 * down.check.bytes_got as f64 / down_wall.as_secs_f64() / 1e6,
        up.sink.check(&sent),
        8.0 * up.sink.bytes as f64 / up_wall.as_secs_f64() / 1e6,
    );
    assert!(down.check.matches(), "download: {}", down.check);
    assert_eq!(down.check.bytes_got, 64 * MIB);
    let up_check = up.sink.check(&sent);
    assert!(up_check.matches() && up.sink.error.is_none(), "upload: {up_check} ({:?})", up.sink.error);
    assert_eq!(stats.get(Stat::RelayConnectsFailed), 0, "{stats:?}");

    // Two passes of tshark over the capture, side by side (each takes about a
    // minute): the bad frames, and the rest — RSTs, and data on all four legs
    // so the checks are not vacuous.
    let ((bad, lines), legs) = std::thread::scope(|scope| {
        let bad = scope.spawn(|| tshark(&pcap, &bad_frames(card_ip)));
        let legs = tcp_legs(&pcap);
        (bad.join().expect("the tshark pass for bad frames"), legs)
    });
    assert_eq!(bad, 0, "tshark flags {bad} frames of {}:\n{}", pcap.display(), lines.lines().take(20).collect::<Vec<_>>().join("\n"));
    assert_eq!(legs.resets, 0, "RSTs in {}: frames {:?}", pcap.display(), legs.reset_frames);
    for (what, n) in [
        ("the server's download to the card", legs.data_from(SERVER_HTTP_PORT)),
        ("the card's download to the client", legs.data_from(RELAY_HTTP_PORT)),
        ("the client's upload to the card", legs.data_to(RELAY_UPLOAD_PORT)),
        ("the card's upload to the server", legs.data_to(SERVER_UPLOAD_PORT)),
    ] {
        assert!(n > 1000, "{what}: only {n} data frames in {}", pcap.display());
    }
    let verified = legs.verified;
    eprintln!("relay_lab transfer: tshark verified {verified} frames, 0 bad, 0 malformed, 0 RST; {:.1} s", started.elapsed().as_secs_f64());
    let _ = std::fs::remove_dir_all(&work);
}

/// What one pass of tshark over the capture says of its TCP frames.
struct Legs {
    /// (source port, destination port, payload length) of each TCP frame.
    frames: Vec<(u16, u16, u32)>,
    resets: usize,
    reset_frames: Vec<u64>,
    /// Frames whose IP and TCP checksums tshark verified.
    verified: usize,
}

impl Legs {
    fn data_from(&self, port: u16) -> usize {
        self.frames.iter().filter(|(src, _, len)| *src == port && *len > 0).count()
    }
    fn data_to(&self, port: u16) -> usize {
        self.frames.iter().filter(|(_, dst, len)| *dst == port && *len > 0).count()
    }
}

fn tcp_legs(pcap: &Path) -> Legs {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(pcap)
        .args(["-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-Y", "tcp"])
        .args(["-d", &format!("tcp.port=={RELAY_UPLOAD_PORT},data"), "-d", &format!("tcp.port=={SERVER_UPLOAD_PORT},data")])
        .args(["-T", "fields", "-E", "separator=,", "-e", "frame.number", "-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "tcp.len"])
        .args(["-e", "tcp.flags.reset", "-e", "tcp.checksum.status", "-e", "ip.checksum.status"])
        .output()
        .expect("running tshark");
    assert!(out.status.success(), "tshark failed: {}", String::from_utf8_lossy(&out.stderr));
    let mut legs = Legs { frames: Vec::new(), resets: 0, reset_frames: Vec::new(), verified: 0 };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.split(',').collect();
        let [number, src, dst, len, reset, tcp_ok, ip_ok] = f[..] else { panic!("tshark printed {line:?}") };
        let num = |s: &str| s.parse::<u64>().unwrap_or_else(|e| panic!("tshark printed {line:?}: {e}"));
        legs.frames.push((num(src) as u16, num(dst) as u16, num(len) as u32));
        if reset == "1" || reset == "True" {
            legs.resets += 1;
            legs.reset_frames.push(num(number));
        }
        legs.verified += usize::from(tcp_ok == "1" && ip_ok == "1");
    }
    legs
}

/// `bytes_received` of the one established connection `ss` shows in namespace `ns`.
fn server_bytes_received(ns: &str) -> u64 {
    let out = Command::new("ip").args(["netns", "exec", ns, "ss", "-tinH", "state", "established"]).output().expect("running ss");
    let text = String::from_utf8_lossy(&out.stdout);
    let values: Vec<u64> = text
        .split_whitespace()
        .filter_map(|w| w.strip_prefix("bytes_received:"))
        .filter_map(|v| v.parse().ok())
        .collect();
    match values[..] {
        [v] => v,
        // A connection that received nothing shows no bytes_received.
        [] if text.contains("ESTAB") || !text.trim().is_empty() => 0,
        _ => panic!("ss in {ns} shows {} established connections:\n{text}", values.len()),
    }
}

#[test]
fn behind_a_server_that_never_reads_the_clients_bytes_are_acked_only_as_far_as_the_server_acked() {
    prerequisites();
    let started = Instant::now();
    let work = work_dir("peer-gate");
    // Accepts one connection and never reads it, with a small receive
    // buffer (set before listen, so the window it offers is small too).
    let server = "perl -MSocket -e '$| = 1; socket(L, PF_INET, SOCK_STREAM, 0) or die \"socket: $!\"; \
                  setsockopt(L, SOL_SOCKET, SO_RCVBUF, 4096) or die \"rcvbuf: $!\"; \
                  setsockopt(L, SOL_SOCKET, SO_REUSEADDR, 1); \
                  bind(L, sockaddr_in({server_port}, inet_aton(\"{server_ip}\"))) or die \"bind: $!\"; \
                  listen(L, 4) or die \"listen: $!\"; print \"listening\\n\"; accept(C, L) or die \"accept: $!\"; \
                  print \"accepted, never reading\\n\"; sleep 600'";
    let opts = RelayLabOptions { server_cmd: Some(server.into()), ..options(holdback_sim::test_seed(DEFAULT_SEED)) };
    let lab = start(&opts, &work);
    let server_ns = lab.server_ns().to_string();
    let listening = Instant::now();
    while !String::from_utf8_lossy(
        &Command::new("ip").args(["netns", "exec", &server_ns, "ss", "-Hltn"]).output().expect("running ss").stdout,
    )
    .contains(&format!(":{SERVER_HTTP_PORT}"))
    {
        assert!(listening.elapsed() < Duration::from_secs(10), "the server command did not listen within 10 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    let target = lab.relay_addr(RELAY_HTTP_PORT);
    let (written, acked, acked_later, client) = run_in_netns(lab.client_ns(), move || {
        let mut s = std::net::TcpStream::connect_timeout(&target.into(), Duration::from_secs(5)).expect("connecting through the relay");
        s.set_write_timeout(Some(Duration::from_secs(2))).expect("a write timeout");
        let chunk = vec![0x5Au8; 16 * 1024];
        let mut written = 0u64;
        // Write until the client's own buffer is full and stays full for 2 s.
        loop {
            match s.write(&chunk) {
                Ok(n) => written += n as u64,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
                Err(e) => panic!("writing through the relay after {written} bytes: {e}"),
            }
            assert!(written < 64 * MIB, "the client wrote {written} bytes without its buffer filling: nothing holds it back");
        }
        std::thread::sleep(Duration::from_secs(1));
        let acked = holdback_daemon::sys::tcp_info(&s).expect("TCP_INFO").bytes_acked;
        std::thread::sleep(Duration::from_secs(1));
        let later = holdback_daemon::sys::tcp_info(&s).expect("TCP_INFO").bytes_acked;
        (written, acked, later, s)
    })
    .expect("the client namespace");
    let server_received = server_bytes_received(&server_ns);
    drop(client);
    let (stats, _card, server_out) = lab.finish().unwrap_or_else(|e| panic!("stopping the lab: {}", holdback_daemon::error::chain(&e)));
    let out = server_out.expect("the server command's outcome");
    eprintln!(
        "relay_lab peer gate: the client wrote {written} bytes, tcpi_bytes_acked {acked} (then {acked_later}), the server received \
         {server_received}; server-cmd said {:?}; {:.1} s",
        out.stdout,
        started.elapsed().as_secs_f64()
    );
    assert!(out.stdout.contains("accepted, never reading"), "the server never accepted: {out:?}");
    assert_eq!(acked, acked_later, "the client's acknowledged bytes still moved");
    // The SYN counts one in tcpi_bytes_acked: the rest is exactly what the server acknowledged.
    assert_eq!(acked - 1, server_received, "the client's acknowledged bytes are not what the server acknowledged");
    assert!(
        written >= acked + 48 * 1024,
        "the client wrote {written} bytes and {acked} are acknowledged: the card acknowledged more than the server did"
    );
    assert_eq!(stats.get(Stat::RelayConnectsFailed), 0, "{stats:?}");
    let _ = std::fs::remove_dir_all(&work);
}

#[test]
fn a_backend_port_nobody_listens_on_refuses_the_client_and_the_other_relay_ports_still_serve() {
    prerequisites();
    let started = Instant::now();
    const DEAD_RELAY: u16 = 8082;
    const DEAD_BACKEND: u16 = 81;
    let work = work_dir("refused");
    let opts = RelayLabOptions { bytes: MIB, extra_relays: vec![(DEAD_RELAY, DEAD_BACKEND)], ..options(holdback_sim::test_seed(DEFAULT_SEED)) };
    let connect_timeout = Duration::from_millis(u64::from(opts.relay_connect_ms));
    let lab = start(&opts, &work);
    let target: SocketAddrV4 = lab.relay_addr(DEAD_RELAY);
    let (result, took) = run_in_netns(lab.client_ns(), move || {
        let t = Instant::now();
        let r = std::net::TcpStream::connect_timeout(&target.into(), Duration::from_secs(10));
        (r.map(|_| ()), t.elapsed())
    })
    .expect("the client namespace");
    let e = result.expect_err("a connect to a relay port whose backend refuses must fail");
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "the client's connect failed with {e} after {took:?}, not ECONNREFUSED");
    assert!(took < connect_timeout, "refused after {took:?}: the card waited for its connect timeout ({connect_timeout:?}) instead of the backend's RST");
    let failed = lab.stats().expect("the card's counters").get(Stat::RelayConnectsFailed);
    assert_eq!(failed, 1, "relay_connects_failed");
    let (downloads, _) = lab.downloads(1, opts.timeout).unwrap_or_else(|e| panic!("download on the other relay port: {}", holdback_daemon::error::chain(&e)));
    assert!(downloads[0].check.matches(), "download: {}", downloads[0].check);
    lab.finish().unwrap_or_else(|e| panic!("stopping the lab: {}", holdback_daemon::error::chain(&e)));
    eprintln!("relay_lab refused: ECONNREFUSED after {took:?}, relay_connects_failed {failed}, 8080 still serves; {:.1} s", started.elapsed().as_secs_f64());
    let _ = std::fs::remove_dir_all(&work);
}

#[test]
fn the_cli_runs_two_transfers_each_way_at_once_and_reports_them_as_json() {
    prerequisites();
    let started = Instant::now();
    let seed = holdback_sim::test_seed(DEFAULT_SEED).to_string();
    let r = lab_report(&["--mode", "relay", "--conns", "2", "--bytes", "256KiB", "--seed", &seed]);
    eprintln!(
        "relay_lab cli: download {} Mbit/s, upload {} Mbit/s; {:.1} s",
        r["download"]["goodput_mbps"],
        r["upload"]["goodput_mbps"],
        started.elapsed().as_secs_f64()
    );
    assert_eq!(r["mode"], "relay");
    assert_eq!(r["errors"], serde_json::json!([]), "{r:#}");
    for way in ["download", "upload"] {
        assert_eq!(r[way]["sha256_match"], true, "{way}: {r:#}");
        assert_eq!(r[way]["bytes"], 2 * 256 * 1024, "{way}: {r:#}");
        assert_eq!(r[way]["checks"].as_array().map(Vec::len), Some(2), "{way}: {r:#}");
    }
    let ports: Vec<u64> = r["relays"].as_array().expect("relays").iter().filter_map(|m| m["listen"].as_u64()).collect();
    assert_eq!(ports, [u64::from(RELAY_HTTP_PORT), u64::from(RELAY_UPLOAD_PORT)]);
    assert_eq!(r["stats"]["relay_connects_failed"], 0, "{r:#}");

    let out = holdback(&["lab", "--mode", "relay", "--switchover-at", "0.5"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("--switchover-at: not built for --mode relay"), "{stderr}");
}
