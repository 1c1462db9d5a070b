//! `holdback daemon --config FILE` on the
//! simulated card.
//!
//! - The daemon runs the card on a TAP in a lab namespace while a Linux
//!    client streams to it; `holdback status --json` and `holdback conns
//!    --json` match the card's state, the metrics endpoint is scraped and
//!    every line parses as Prometheus (OpenMetrics) text, malformed requests
//!    get 400, and slow-loris clients neither hold up scrapes nor outlive
//!    the header read timeout; SIGTERM ends it with exit 0 and removes its
//!    socket. (Needs root; fails loudly without it.)
//! - Broken configs each give their error (file, field, what is wrong) and a
//!    non-zero exit before anything starts (no root needed); a second daemon
//!    on the same socket is refused; garbage on the control socket gets an
//!    error reply and the daemon keeps serving.
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use holdback_daemon::lab::clients::tcp_info;
use holdback_daemon::http::HEADER_READ_TIMEOUT;
use holdback_daemon::metrics::{parse_exposition, Sample};
use holdback_daemon::lab::netns::{LabNet, LabTopology};
use holdback_driver::regmap::Stat;
use holdback_driver::MacAddr;
use holdback_tests::{connect_from, holdback, holdback_bin, holdback_ok, require_lab_prerequisites, wait_for};

const TIMEOUT: Duration = Duration::from_secs(30);
/// Bytes the client streams (32 rings' worth: many group commits).
const STREAM_BYTES: usize = 256 * 1024;
const CARD_PORT: u16 = 5001;
/// EX_CONFIG: the daemon's exit status for a refused config file.
const EXIT_CONFIG: i32 = 78;
/// Slow-loris clients connected while the metrics are scraped.
const SLOW_LORIS_CLIENTS: usize = 8;

/// A scratch directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "holdback-daemon-test-{}-{tag}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("scratch directory");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running `holdback daemon`; killed on drop if the test did not stop it.
struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn start(config: &Path, log: PathBuf) -> Daemon {
        let out = std::fs::File::create(&log).expect("daemon log file");
        let child = Command::new(holdback_bin())
            .args(["daemon", "--config"])
            .arg(config)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log fd"))
            .stderr(out)
            .spawn()
            .expect("starting holdback daemon");
        Daemon { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until `status` answers on `socket`; panics with the log if the
    /// daemon exits first.
    fn wait_ready(&mut self, socket: &str) {
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the daemon exited before it served ({status}); its log:\n{}", self.log());
            }
            if Path::new(socket).exists() && holdback(&["status", "--json", "--socket", socket]).status.success() {
                return;
            }
            if start.elapsed() > Duration::from_secs(120) {
                panic!("the daemon did not serve {socket} within 120 s; its log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sends `sig` and waits (bounded) for the exit status.
    fn signal_and_wait(&mut self, sig: libc::c_int) -> std::process::ExitStatus {
        // SAFETY: kill() with our own child's pid and a signal number; no memory involved.
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, sig) };
        assert_eq!(rc, 0, "kill: {}", std::io::Error::last_os_error());
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("waitpid") {
                return status;
            }
            if start.elapsed() > TIMEOUT {
                panic!("the daemon did not exit within {TIMEOUT:?} of the signal; its log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
            eprintln!("daemon killed by the test guard; its log:\n{}", self.log());
        }
    }
}

fn json(args: &[&str]) -> serde_json::Value {
    let out = holdback_ok(args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("`holdback {}` is not JSON ({e}):\n{out}", args.join(" ")))
}

/// A loopback port nobody listens on right now.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local addr").port()
}

/// One HTTP exchange with the metrics endpoint: (status line, body).
fn http(port: u16, request: &[u8]) -> (String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the metrics endpoint");
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s.write_all(request).expect("send request");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read response");
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    (head.lines().next().unwrap_or("").to_string(), body.to_string())
}

/// Opens a connection to the metrics endpoint and sends a request head one
/// byte per second, never finishing it; how long until the server closed
/// the connection (`None`: still open after 20 s).
fn slow_loris(port: u16) -> Option<Duration> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the metrics endpoint");
    s.set_read_timeout(Some(Duration::from_millis(1000))).unwrap();
    let opened = Instant::now();
    let head = b"GET /metrics HTTP/1.1\r\nX-Slow: ";
    let mut buf = [0u8; 256];
    for i in 0..20 {
        if s.write_all(&[head.get(i).copied().unwrap_or(b'a')]).is_err() {
            return Some(opened.elapsed());
        }
        // Waits up to a second for the server's close (or anything it says).
        match s.read(&mut buf) {
            Ok(_) => return Some(opened.elapsed()),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => return Some(opened.elapsed()),
        }
    }
    None
}

fn scrape(port: u16) -> Vec<Sample> {
    let (status, body) = http(port, b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
    parse_exposition(&body).unwrap_or_else(|e| panic!("the scrape is not Prometheus text: {e}\n{body}"))
}

fn metric(samples: &[Sample], name: &str, label: Option<(&str, &str)>) -> Option<f64> {
    samples.iter().find(|s| s.name == name && label.is_none_or(|(k, v)| s.label(k) == Some(v))).map(|s| s.value)
}

fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u32).wrapping_mul(2_654_435_761).rotate_right(13) as u8).collect()
}

fn sim_config(topo: &LabTopology, socket: &Path, sink_dir: &Path, metrics_port: u16) -> String {
    format!(
        r#"card = "sim"
socket = "{socket}"
role = "active"
gates = ["app"]
sink_dir = "{sink}"

[sim]
tap = "{tap}"
netns = "{ns}"

[network]
mac = "{mac}"
ip = "{ip}"
listen_ports = [{CARD_PORT}]
holdback = true

[metrics]
listen = "127.0.0.1:{metrics_port}"
"#,
        socket = socket.display(),
        sink = sink_dir.display(),
        tap = topo.tap,
        ns = topo.card_ns,
        mac = MacAddr(topo.card_mac),
        ip = topo.card_ip,
    )
}

/// The `conns --json` row of the connection from client port `port`.
fn conn_row(socket: &str, port: u16) -> Option<serde_json::Value> {
    let v = json(&["conns", "--json", "--socket", socket]);
    v["conns"].as_array()?.iter().find(|r| r["remote_port"] == port).cloned()
}

fn num(row: &serde_json::Value, key: &str) -> u32 {
    row[key].as_u64().unwrap_or_else(|| panic!("conns row lacks `{key}`: {row}")) as u32
}

#[test]
fn daemon_serves_the_simulated_card_from_a_config_file() {
    require_lab_prerequisites();
    let t0 = Instant::now();
    let net = LabNet::create(LabTopology::unique("dmn")).expect("lab network");
    let topo = net.topology().clone();
    let dir = TempDir::new("serve");
    // The socket's directory does not exist yet: the daemon creates it.
    let socket_path = dir.0.join("run/control.sock");
    let socket = socket_path.to_str().expect("UTF-8 path").to_string();
    let sink_dir = dir.0.join("sink");
    let metrics_port = free_port();
    let config = dir.0.join("holdback.toml");
    std::fs::write(&config, sim_config(&topo, &socket_path, &sink_dir, metrics_port)).unwrap();

    let mut daemon = Daemon::start(&config, dir.0.join("daemon.log"));
    daemon.wait_ready(&socket);
    eprintln!("daemon serving after {:.1} s", t0.elapsed().as_secs_f64());
    let mode = std::fs::metadata(&socket_path).map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777);
    assert_eq!(mode.ok(), Some(0o600), "control socket mode");

    // status: the daemon and the card as configured.
    let status = json(&["status", "--json", "--socket", &socket]);
    assert_eq!(status["pid"], daemon.child.id(), "{status}");
    assert_eq!(status["status"]["ctrl"]["enabled"], true, "{status}");
    assert_eq!(status["status"]["ctrl"]["holdback"], true, "{status}");
    assert_eq!(status["status"]["ctrl"]["standby"], false, "{status}");
    assert_eq!(status["release_paused"], false, "{status}");
    assert_eq!(status["info"]["conns"], holdback_regmap::CoreParams::DEFAULT.conns(), "{status}");
    assert_eq!(status["status"]["open_conns"], 0, "{status}");

    // A Linux client in the client namespace streams to the card.
    let stream = connect_from(&topo.client_ns, topo.card_ip, CARD_PORT, TIMEOUT);
    let client_port = stream.local_addr().unwrap().port();
    let data = payload(STREAM_BYTES);
    let mut writer = stream.try_clone().unwrap();
    let to_send = data.clone();
    let streamer = std::thread::spawn(move || {
        for chunk in to_send.chunks(4096) {
            writer.write_all(chunk)?;
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok::<(), std::io::Error>(())
    });

    // While it streams: the connection is listed, ESTABLISHED, with the
    // client's address, and the card never released beyond what it received.
    let mut seen_while_streaming = 0;
    let mut scraped_while_streaming = false;
    while !streamer.is_finished() {
        if let Some(row) = conn_row(&socket, client_port) {
            assert_eq!(row["state"], "ESTABLISHED", "{row}");
            assert_eq!(row["remote_ip"], topo.client_ip.to_string(), "{row}");
            assert_eq!(row["local_ip"], topo.card_ip.to_string(), "{row}");
            assert_eq!(row["local_port"], CARD_PORT, "{row}");
            assert_eq!(row["holdback"], true, "{row}");
            let (rcv_nxt, released, ack) = (num(&row, "rcv_nxt"), num(&row, "released"), num(&row, "ack"));
            assert!(rcv_nxt.wrapping_sub(released) as i32 >= 0, "released {released} beyond rcv_nxt {rcv_nxt}: {row}");
            assert_eq!(ack, released, "with holdback on the ACK is R while R <= rcv_nxt: {row}");
            assert!(num(&row, "received") as usize <= STREAM_BYTES, "{row}");
            assert_eq!(num(&row, "held_back"), rcv_nxt.wrapping_sub(released), "{row}");
            seen_while_streaming += 1;
        }
        if !scraped_while_streaming {
            let m = scrape(metrics_port);
            if metric(&m, "holdback_connections", Some(("state", "ESTABLISHED"))) == Some(1.0) {
                scraped_while_streaming = true;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    streamer.join().expect("streamer thread").expect("stream the payload");
    assert!(seen_while_streaming > 0, "holdback conns never showed the connection while it streamed");
    assert!(scraped_while_streaming, "the metrics never showed the ESTABLISHED connection while it streamed");

    // Everything sent is ACKed (the peer counts its SYN), and conns agrees.
    wait_for(TIMEOUT, "every byte to be ACKed", || {
        (tcp_info(&stream).expect("TCP_INFO").bytes_acked == STREAM_BYTES as u64 + 1).then_some(())
    });
    let row = wait_for(TIMEOUT, "conns to show every byte received and released", || {
        conn_row(&socket, client_port).filter(|r| num(r, "received") as usize == STREAM_BYTES && r["held_back"] == 0)
    });
    assert_eq!(row["state"], "ESTABLISHED", "{row}");
    assert_eq!(num(&row, "released"), num(&row, "rcv_nxt"), "{row}");
    assert_eq!(num(&row, "ack"), num(&row, "rcv_nxt"), "{row}");
    let status = json(&["status", "--json", "--socket", &socket]);
    assert_eq!(status["status"]["open_conns"], 1, "{status}");
    let stats = json(&["stats", "--json", "--socket", &socket]);
    assert_eq!(stats["stats"]["rx_payload_bytes"], STREAM_BYTES, "{stats}");
    assert_eq!(stats["stats"]["conns_opened"], 1, "{stats}");

    // The metrics: valid text, every drop reason, connections by state,
    // bytes held back, release latency, the card's counters (read every second).
    let m = wait_for(TIMEOUT, "the metrics to catch up with the card's counters", || {
        let m = scrape(metrics_port);
        (metric(&m, "holdback_card_rx_payload_bytes_total", None) == Some(STREAM_BYTES as f64)).then_some(m)
    });
    for stat in Stat::ALL {
        if let Some(reason) = stat.name().strip_prefix("drop_") {
            let v = metric(&m, "holdback_drops_total", Some(("reason", reason)));
            assert!(v.is_some(), "no holdback_drops_total{{reason=\"{reason}\"}}");
        }
    }
    assert_eq!(metric(&m, "holdback_connections", Some(("state", "ESTABLISHED"))), Some(1.0));
    assert_eq!(metric(&m, "holdback_connections", Some(("state", "SYN-RECEIVED"))), Some(0.0));
    assert_eq!(metric(&m, "holdback_held_back_bytes", None), Some(0.0));
    assert_eq!(metric(&m, "holdback_sink_committed_bytes_total", None), Some(STREAM_BYTES as f64));
    let commits = metric(&m, "holdback_release_latency_seconds_count", None).expect("release latency count");
    let latency_sum = metric(&m, "holdback_release_latency_seconds_sum", None).expect("release latency sum");
    assert!(commits >= 1.0 && latency_sum > 0.0, "release latency: {commits} commits, {latency_sum} s");
    assert!(metric(&m, "holdback_card_rx_frames_total", None).unwrap_or(0.0) > 0.0);
    assert!(metric(&m, "holdback_card_tx_frames_total", None).unwrap_or(0.0) > 0.0);
    eprintln!(
        "metrics: {} samples; {commits} group commits, mean release latency {:.2} ms",
        m.len(),
        latency_sum / commits * 1e3
    );
    // Other paths and garbage get 404 / 400, and the endpoint keeps serving.
    assert!(http(metrics_port, b"GET /other HTTP/1.1\r\n\r\n").0.starts_with("HTTP/1.1 404"));
    assert!(http(metrics_port, b"\x16\x03\x01 not http\r\n\r\n").0.starts_with("HTTP/1.1 400"));
    scrape(metrics_port);

    // Slow loris: clients that dribble a header byte per second hold up no
    // scrape, and each is disconnected once the header read timeout passes.
    let loris: Vec<_> = (0..SLOW_LORIS_CLIENTS).map(|_| std::thread::spawn(move || slow_loris(metrics_port))).collect();
    std::thread::sleep(Duration::from_millis(1500));
    let scrape_bound = HEADER_READ_TIMEOUT / 2;
    let mut slowest_scrape = Duration::ZERO;
    for _ in 0..5 {
        let t = Instant::now();
        scrape(metrics_port);
        assert!(t.elapsed() < scrape_bound, "a scrape took {:?} beside {SLOW_LORIS_CLIENTS} slow clients", t.elapsed());
        slowest_scrape = slowest_scrape.max(t.elapsed());
        std::thread::sleep(Duration::from_millis(300));
    }
    let mut held_for = Vec::new();
    for l in loris {
        let held = l.join().expect("slow-loris thread");
        assert!(
            held.is_some_and(|h| h >= HEADER_READ_TIMEOUT - Duration::from_millis(500) && h < HEADER_READ_TIMEOUT + Duration::from_secs(3)),
            "a slow client was held {held:?}; the header read timeout is {HEADER_READ_TIMEOUT:?}"
        );
        held_for.extend(held);
    }
    scrape(metrics_port);
    eprintln!(
        "slow loris: {SLOW_LORIS_CLIENTS} clients cut off after {:?}..{:?}; slowest of 5 scrapes beside them {slowest_scrape:?}",
        held_for.iter().min().copied().unwrap_or_default(),
        held_for.iter().max().copied().unwrap_or_default()
    );

    // Garbage on the control socket: an error reply, and the daemon serves on.
    let mut raw = UnixStream::connect(&socket_path).expect("connect to the control socket");
    raw.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut reader = BufReader::new(raw.try_clone().unwrap());
    for garbage in [&b"this is not json\n"[..], b"{\"request\":\"format_disk\"}\n", b"\xff\xfe\n"] {
        raw.write_all(garbage).unwrap();
        let mut reply = String::new();
        reader.read_line(&mut reply).expect("a reply to garbage");
        let v: serde_json::Value = serde_json::from_str(&reply).unwrap_or_else(|e| panic!("reply is not JSON ({e}): {reply}"));
        assert_eq!(v["response"], "error", "{reply}");
        assert!(v["message"].as_str().unwrap_or("").starts_with("bad request"), "{reply}");
    }
    raw.write_all(b"{\"request\":\"status\"}\n").unwrap();
    let mut reply = String::new();
    reader.read_line(&mut reply).unwrap();
    assert!(reply.contains("\"response\":\"status\""), "same connection still served: {reply}");
    drop((raw, reader));
    holdback_ok(&["status", "--socket", &socket]);

    // A second daemon on the same socket is refused before it opens a card.
    let second = Command::new(holdback_bin()).args(["daemon", "--config"]).arg(&config).output().expect("second daemon");
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "a second daemon started: {err}");
    assert!(
        err.contains(&format!("another holdback daemon (pid {}) serves {socket}", daemon.child.id())),
        "second daemon's error: {err}"
    );
    assert_eq!(json(&["status", "--json", "--socket", &socket])["pid"], daemon.child.id(), "the first still serves");

    // Half-close: the sink commits the FIN, the card sends its own FIN.
    stream.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    (&stream).read_to_end(&mut rest).expect("the card's FIN");
    assert!(rest.is_empty(), "the card sends no payload");
    let file = std::fs::read_dir(&sink_dir)
        .expect("sink directory")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().contains(&format!("-{client_port}-"))))
        .expect("a sink file for the connection");
    let got = std::fs::read(&file).unwrap();
    assert!(got == data, "sink file {} differs ({} bytes, sent {})", file.display(), got.len(), data.len());

    // The closed connection leaves the per-connection view (CLOSED slots are free).
    wait_for(TIMEOUT, "the closed connection to leave holdback_connections", || {
        let m = scrape(metrics_port);
        m.iter().filter(|s| s.name == "holdback_connections").all(|s| s.value == 0.0).then_some(())
    });
    assert_eq!(json(&["status", "--json", "--socket", &socket])["status"]["open_conns"], 0);

    // SIGTERM: exit 0, socket removed.
    let t_stop = Instant::now();
    let status = daemon.signal_and_wait(libc::SIGTERM);
    assert_eq!(status.code(), Some(0), "exit status after SIGTERM; log:\n{}", daemon.log());
    assert!(!socket_path.exists(), "control socket still there after SIGTERM");
    let log = daemon.log();
    assert!(log.contains("holdback daemon stopped"), "log:\n{log}");
    eprintln!(
        "SIGTERM to exit: {:.0} ms; whole test {:.1} s",
        t_stop.elapsed().as_secs_f64() * 1e3,
        t0.elapsed().as_secs_f64()
    );
    drop(net);
}

/// The idle timeout the `[tcp]` test configures: long beside the engine's
/// 1024 us timer scan, short for a test.
const IDLE_TIMEOUT_MS: u64 = 500;

/// `[tcp]` reaches the card: with `idle_timeout_ms` set (off by default) a
/// Linux client that goes quiet after its data is reset by the card no
/// sooner than the timeout, counted as an idle drop; the daemon serves on.
#[test]
fn the_tcp_settings_reach_the_card_an_idle_connection_is_reset() {
    require_lab_prerequisites();
    let t0 = Instant::now();
    let net = LabNet::create(LabTopology::unique("dtcp")).expect("lab network");
    let topo = net.topology().clone();
    let dir = TempDir::new("tcp");
    let socket_path = dir.0.join("control.sock");
    let socket = socket_path.to_str().expect("UTF-8 path").to_string();
    let config = dir.0.join("holdback.toml");
    let text = sim_config(&topo, &socket_path, &dir.0.join("sink"), free_port())
        + &format!("\n[tcp]\nidle_timeout_ms = {IDLE_TIMEOUT_MS}\nrto_min_ms = 200\ntime_wait_ms = 2000\n");
    std::fs::write(&config, text).unwrap();
    eprintln!("lab network up after {:.1} s", t0.elapsed().as_secs_f64());
    let mut daemon = Daemon::start(&config, dir.0.join("daemon.log"));
    daemon.wait_ready(&socket);
    eprintln!("daemon serving after {:.1} s", t0.elapsed().as_secs_f64());

    let mut stream = connect_from(&topo.client_ns, topo.card_ip, CARD_PORT, TIMEOUT);
    let client_port = stream.local_addr().unwrap().port();
    stream.write_all(&payload(1000)).expect("send");
    let quiet_from = Instant::now();
    let mut buf = [0u8; 16];
    let read = stream.read(&mut buf);
    let quiet_for = quiet_from.elapsed();
    match &read {
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("the quiet connection was not reset by the card: {other:?} after {quiet_for:?}; log:\n{}", daemon.log()),
    }
    assert!(
        quiet_for >= Duration::from_millis(IDLE_TIMEOUT_MS),
        "reset after {quiet_for:?} of quiet, before the {IDLE_TIMEOUT_MS} ms idle timeout"
    );
    let stats = json(&["stats", "--json", "--socket", &socket]);
    assert_eq!(stats["stats"]["idle_drops"], 1, "{stats}");
    assert_eq!(stats["stats"]["keepalive_probes"], 0, "keep-alive stays off: {stats}");
    assert!(conn_row(&socket, client_port).is_none(), "the reset connection's slot is free");
    // The timers not seen on the wire here, as the daemon wrote them.
    let log = without_colours(&daemon.log());
    assert!(
        log.contains("connection timers set") && log.contains("idle_timeout_us=500000") && log.contains("rto_min_us=Some(200000)")
            && log.contains("time_wait_us=2000000"),
        "log:\n{log}"
    );

    let status = daemon.signal_and_wait(libc::SIGTERM);
    assert_eq!(status.code(), Some(0), "exit status after SIGTERM; log:\n{}", daemon.log());
    eprintln!("reset after {quiet_for:?} of quiet; whole test {:.1} s", t0.elapsed().as_secs_f64());
    drop(net);
}

/// `text` without the ANSI colour sequences tracing puts around field names.
fn without_colours(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            chars.by_ref().find(|&d| d == 'm');
        } else {
            plain.push(c);
        }
    }
    plain
}

/// Writes `text` as a config and runs `holdback daemon --config` on it.
fn run_daemon_on(dir: &Path, name: &str, text: &str, check: bool) -> (Option<i32>, String, String) {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    let mut args = vec!["daemon", "--config", path.to_str().unwrap()];
    if check {
        args.push("--check");
    }
    let out = holdback(&args);
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// No root needed: every broken file is refused before anything starts.
#[test]
fn broken_configs_are_refused_with_file_field_and_reason() {
    let dir = TempDir::new("broken");
    let socket = dir.0.join("never/control.sock");
    let good = format!(
        r#"card = "sim"
socket = "{}"
sink_dir = "{}"
[sim]
tap = "hbtap9"
[network]
mac = "02:48:4c:44:42:02"
ip = "198.18.0.2"
listen_ports = [5001]
[metrics]
listen = "127.0.0.1:9464"
"#,
        socket.display(),
        dir.0.join("sink").display()
    );
    let cases: Vec<(&str, String, &str, &str)> = vec![
        ("unknown field", good.replace("[network]", "[network]\nspeed = 10"), "network.speed", "unknown field `speed`"),
        ("unknown section", format!("{good}[replicas]\npeer = \"198.19.0.2\"\n"), "replicas", "unknown field `replicas`"),
        ("replication peer without a port", format!("{good}[replication]\npeer = \"198.19.0.2\"\n"), "replication.peer", "invalid socket address syntax"),
        ("unreadable secret", format!("{good}[replication]\nlisten = \"198.19.0.1:7400\"\npeer = \"198.19.0.2:7400\"\nsecret_file = \"/nonexistent/holdback.secret\"\n"), "replication.secret_file", "cannot read /nonexistent/holdback.secret"),
        ("empty secret", format!("{good}[replication]\nlisten = \"198.19.0.1:7400\"\npeer = \"198.19.0.2:7400\"\nsecret_file = \"/dev/null\"\n"), "replication.secret_file", "holds 0 bytes; a shared secret needs at least 16"),
        ("wrong type", good.replace("listen_ports = [5001]", "listen_ports = \"5001\""), "network.listen_ports", "invalid type: string \"5001\", expected a sequence"),
        ("wrong type (bool)", good.replace("[network]", "[network]\nholdback = \"yes\""), "network.holdback", "invalid type: string \"yes\", expected a boolean"),
        ("port out of range", good.replace("[5001]", "[5001, 65536]"), "network.listen_ports", "port 65536 is out of range 1..=65535"),
        ("port 0", good.replace("[5001]", "[0]"), "network.listen_ports", "port 0 is out of range 1..=65535"),
        ("too many ports", good.replace("[5001]", "[1, 2, 3, 4, 5]"), "network.listen_ports", "5 ports given, the card has 4 listening slots"),
        ("missing card", good.replace("card = \"sim\"\n", ""), "card", "missing field `card`"),
        ("bad card", good.replace("card = \"sim\"", "card = \"pci:3\""), "card", "expected \"sim\""),
        ("sim without [sim]", good.replace("[sim]\ntap = \"hbtap9\"\n", ""), "sim", "needs a [sim] section"),
        ("non-loopback metrics", good.replace("127.0.0.1:9464", "0.0.0.0:9464"), "metrics.listen", "0.0.0.0:9464 is not a loopback address"),
        ("multicast MAC", good.replace("02:48:4c:44:42:02", "01:00:5e:00:00:01"), "network.mac", "group (multicast/broadcast) address"),
        ("bad IP", good.replace("198.18.0.2", "198.18.0.256"), "network.ip", "invalid IPv4 address syntax"),
        ("replica gate", good.replace("card = \"sim\"", "card = \"sim\"\ngates = [\"app\", \"replica\"]"), "gates", "\"replica\" needs a [replication] section"),
        ("standby role", good.replace("card = \"sim\"", "card = \"sim\"\nrole = \"standby\""), "role", "\"standby\" needs a [replication] section"),
        ("not TOML", "card = = \"sim\"\n".to_string(), "card", "invalid string; expected"),
    ];
    let mut failures = Vec::new();
    for (what, text, field, reason) in &cases {
        let (code, _, stderr) = run_daemon_on(&dir.0, "broken.toml", text, false);
        let file = dir.0.join("broken.toml");
        let ok = code == Some(EXIT_CONFIG)
            && stderr.contains(&file.display().to_string())
            && stderr.contains(&format!("`{field}`"))
            && stderr.contains(reason);
        if !ok {
            failures.push(format!("{what}: exit {code:?}, expected {EXIT_CONFIG} with `{field}` and \"{reason}\"; stderr: {stderr}"));
        }
        assert!(!socket.exists() && !socket.parent().unwrap().exists(), "{what}: a refused config created the socket");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // A file that does not exist.
    let out = holdback(&["daemon", "--config", "/nonexistent/holdback.toml"]);
    assert_eq!(out.status.code(), Some(EXIT_CONFIG));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/holdback.toml: cannot read the config file"));

    // --check on a good file prints the effective configuration (defaults
    // filled in), which is itself a valid config; nothing is started.
    let (code, stdout, stderr) = run_daemon_on(&dir.0, "good.toml", &good, true);
    assert_eq!(code, Some(0), "{stderr}");
    for line in ["role = \"active\"", "gates = [\"app\"]", "our_mss = 1460", "rto_us = 200000", "holdback = true", "tap = \"hbtap9\""] {
        assert!(stdout.contains(line), "`{line}` not in the effective config:\n{stdout}");
    }
    let (code, _, stderr) = run_daemon_on(&dir.0, "effective.toml", &stdout, true);
    assert_eq!(code, Some(0), "the effective config does not parse: {stderr}");
    assert!(!socket.exists());

    // The shipped example parses.
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../daemon/holdback.example.toml");
    let out = holdback(&["daemon", "--check", "--config", example.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("card = \"vfio:0000:03:00.0\""));
}

/// `--help` of the daemon explains its flags; completions are generated.
#[test]
fn daemon_help_and_completions() {
    let help = holdback_ok(&["daemon", "--help"]);
    assert!(help.contains("--config <FILE>") && help.contains("--check"), "{help}");
    for shell in ["bash", "zsh", "fish"] {
        let script = holdback_ok(&["completions", shell]);
        assert!(script.contains("daemon") && script.contains("status"), "{shell} completion lacks subcommands");
    }
}

/// No root needed: a taken metrics port fails the start after the lock and
/// before the card (a TAP that cannot be created here is never tried), and
/// leaves no control socket behind.
#[test]
fn a_taken_metrics_port_fails_the_start_before_the_card() {
    let dir = TempDir::new("port");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    let port = taken.local_addr().unwrap().port();
    let socket = dir.0.join("control.sock");
    let text = format!(
        "card = \"sim\"\nsocket = \"{}\"\nsink_dir = \"{}\"\n[sim]\ntap = \"hbtap9\"\nnetns = \"hblab-never-there\"\n\
         [network]\nmac = \"02:48:4c:44:42:02\"\nip = \"198.18.0.2\"\nlisten_ports = [5001]\n\
         [metrics]\nlisten = \"127.0.0.1:{port}\"\n",
        socket.display(),
        dir.0.join("sink").display()
    );
    let (code, _, stderr) = run_daemon_on(&dir.0, "taken.toml", &text, false);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains(&format!("binding the metrics endpoint 127.0.0.1:{port}")), "{stderr}");
    assert!(stderr.contains("Address already in use"), "{stderr}");
    assert!(!stderr.contains("TAP"), "the card was tried: {stderr}");
    assert!(!socket.exists(), "a failed start left its socket");
    drop(taken);
}
