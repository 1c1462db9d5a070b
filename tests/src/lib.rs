//! Shared helpers of the end-to-end tests: checks for root and tools (a
//! missing one FAILS the test with the install command, never skips), the
//! built `holdback` binary, a `lab up` guard that always runs `lab down`.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub use holdback_daemon::lab::up::LabUpInfo;

/// A Linux client in the namespace `ns`, connected to the card at
/// `card_ip:port`; its reads time out after `timeout`. Panics, naming both
/// ends, if the namespace cannot be entered or the card does not accept.
pub fn connect_from(ns: &str, card_ip: std::net::Ipv4Addr, port: u16, timeout: Duration) -> std::net::TcpStream {
    let target = std::net::SocketAddrV4::new(card_ip, port);
    let s = holdback_daemon::lab::netns::run_in_netns(ns, move || std::net::TcpStream::connect_timeout(&target.into(), timeout))
        .unwrap_or_else(|e| panic!("entering the namespace {ns}: {e}"))
        .unwrap_or_else(|e| panic!("connecting from {ns} to the card at {target}: {e}"));
    s.set_read_timeout(Some(timeout)).expect("a read timeout on the client socket");
    s
}

/// Panics unless we run as root (namespaces, TAP and bridge need it).
pub fn require_root() {
    if let Err(e) = holdback_daemon::lab::netns::require_root() {
        panic!("this test builds a network lab: {e}");
    }
}

/// Panics with the install command unless `tool` runs (`tool --version` or `-V`).
pub fn require_tool(tool: &str, debian_package: &str) {
    let ok = ["--version", "-V"].iter().any(|flag| {
        Command::new(tool).arg(flag).output().map(|o| o.status.success()).unwrap_or(false)
    });
    if !ok {
        panic!("this test needs `{tool}`; install it with: apt-get install -y {debian_package}");
    }
}

/// Root plus the tools every lab test uses.
pub fn require_lab_prerequisites() {
    require_root();
    require_tool("ip", "iproute2");
    if !Path::new("/dev/net/tun").exists() {
        panic!("/dev/net/tun is missing: create it with `mkdir -p /dev/net && mknod /dev/net/tun c 10 200`");
    }
}

/// The target directory and profile this test binary was built into:
/// `<target>/<profile>/deps/<test>-<hash>`.
fn target_and_profile() -> (PathBuf, String) {
    let exe = std::env::current_exe().expect("path of the running test binary");
    let profile_dir = exe.parent().and_then(Path::parent).expect("test binary lives in <target>/<profile>/deps");
    let target = profile_dir.parent().expect("<target> above <profile>").to_path_buf();
    let profile = profile_dir.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "debug".into());
    (target, profile)
}

/// Variables cargo sets only for the package a test belongs to; see [`holdback_bin`].
const PACKAGE_ENV_PREFIXES: [&str; 8] = [
    "CARGO_PKG_",
    "CARGO_MANIFEST_",
    "CARGO_CRATE_",
    "CARGO_BIN_",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_TARGET_TMPDIR",
    "CARGO_CFG_",
    "OUT_DIR",
];

/// Path of the `holdback` binary, built (once per test process) with the
/// same cargo, target directory and profile as this test, so it is never a
/// stale copy. `cargo build` is a no-op when it is up to date.
pub fn holdback_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let (target, profile) = target_and_profile();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ sits in the workspace");
        let mut cmd = Command::new(&cargo);
        cmd.current_dir(workspace)
            .args(["build", "-p", "holdback-daemon", "--bin", "holdback", "--message-format=json-render-diagnostics"])
            .env("CARGO_TARGET_DIR", &target);
        // Cargo gives a test process its package's variables (CARGO_PKG_NAME,
        // CARGO_MANIFEST_DIR, ...). Build scripts that declare them with
        // rerun-if-env-changed (ring's does) would see them differ from the
        // outer `cargo test`'s environment and rebuild ring, rustls and the
        // daemon here, and again at the next `cargo test`: minutes per run.
        for (key, _) in std::env::vars_os() {
            let key_text = key.to_string_lossy();
            if PACKAGE_ENV_PREFIXES.iter().any(|prefix| key_text.starts_with(prefix)) {
                cmd.env_remove(&key);
            }
        }
        match profile.as_str() {
            "debug" => {}
            "release" => {
                cmd.arg("--release");
            }
            other => {
                cmd.args(["--profile", other]);
            }
        }
        let out = cmd.output().unwrap_or_else(|e| panic!("running {cargo:?} to build the holdback binary: {e}"));
        if !out.status.success() {
            panic!("building the holdback binary failed:\n{}", String::from_utf8_lossy(&out.stderr));
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        let exe = stdout
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["reason"] == "compiler-artifact" && v["target"]["name"] == "holdback")
            .find_map(|v| v["executable"].as_str().map(PathBuf::from))
            .unwrap_or_else(|| panic!("cargo built no `holdback` executable; its output:\n{stdout}"));
        assert!(exe.exists(), "{} was reported built but does not exist", exe.display());
        exe
    })
}

/// Runs `holdback <args>` and returns its output (whatever the exit status).
pub fn holdback(args: &[&str]) -> Output {
    Command::new(holdback_bin())
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running holdback {}: {e}", args.join(" ")))
}

/// Runs `holdback <args>` and panics with its stderr unless it succeeds.
pub fn holdback_ok(args: &[&str]) -> String {
    let out = holdback(args);
    if !out.status.success() {
        panic!(
            "holdback {} failed ({}):\nstdout:\n{}\nstderr:\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A lab started with `holdback lab up`; `Drop` runs `holdback lab down`
/// (also when the test panics).
pub struct LabUp {
    pub info: LabUpInfo,
}

impl LabUp {
    /// `holdback lab up --name <unique> --json [--holdback off]`.
    pub fn start(tag: &str, holdback: bool) -> LabUp {
        LabUp::start_with(tag, holdback, &[])
    }

    /// As [`LabUp::start`], with more `lab up` arguments (`--port-holdback 5002=off`).
    pub fn start_with(tag: &str, holdback: bool, more: &[&str]) -> LabUp {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!("t{}-{}-{tag}", std::process::id() % 100_000, N.fetch_add(1, Ordering::Relaxed));
        let name: String = name.chars().take(24).collect();
        let mut args = vec!["lab", "up", "--name", &name, "--json", "--holdback", if holdback { "on" } else { "off" }];
        args.extend_from_slice(more);
        let out = holdback_ok(&args);
        let info: LabUpInfo =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("`lab up --json` printed no lab description ({e}):\n{out}"));
        LabUp { info }
    }

    pub fn socket(&self) -> &str {
        self.info.socket.to_str().expect("socket path is UTF-8")
    }

    /// `holdback conns --json` of this lab.
    pub fn conns_json(&self) -> serde_json::Value {
        let out = holdback_ok(&["conns", "--json", "--socket", self.socket()]);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("`holdback conns --json` is not JSON ({e}):\n{out}"))
    }

    /// The row of `holdback conns --json` for the client port `port`.
    pub fn conn_row(&self, port: u16) -> Option<serde_json::Value> {
        let v = self.conns_json();
        v["conns"].as_array()?.iter().find(|r| r["remote_port"] == port).cloned()
    }
}

impl Drop for LabUp {
    fn drop(&mut self) {
        let out = holdback(&["lab", "down", "--name", &self.info.name]);
        if !out.status.success() {
            eprintln!("holdback lab down --name {} failed: {}", self.info.name, String::from_utf8_lossy(&out.stderr));
        }
    }
}

/// Polls `f` every 20 ms until it returns `Some`, or panics after `timeout`
/// with `what` and the last value seen by `describe`.
pub fn wait_for<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        if start.elapsed() > timeout {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A scratch directory, removed on drop unless the test is failing (then
/// its path is printed, for the logs and captures in it).
pub struct WorkDir(pub PathBuf);

impl Drop for WorkDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("work directory kept: {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A running daemon's status over its control socket (`None` while it does not answer).
pub fn daemon_status(socket: &Path) -> Option<holdback_daemon::control::StatusReport> {
    use holdback_daemon::control::{client, Request, Response};
    match client::call(socket, &Request::Status) {
        Ok(Response::Status(s)) => Some(s),
        _ => None,
    }
}

/// The failover-pair part of a daemon's status.
pub fn pair_status(socket: &Path) -> Option<holdback_daemon::control::PairStatus> {
    daemon_status(socket).and_then(|s| s.pair)
}

/// Frames the daemon's card has sent (its TX counter), read over the control socket.
pub fn frames_sent_by_card(socket: &Path) -> u32 {
    use holdback_daemon::control::{client, Request, Response};
    match client::call(socket, &Request::Stats) {
        Ok(Response::Stats { stats }) => stats.get(holdback_driver::regmap::Stat::TxFrames),
        other => panic!("stats of {}: {other:?}", socket.display()),
    }
}

/// Whether the sink file of the client at `client_ip:port` in `sink_dir`
/// holds exactly the stream whose hex SHA-256 is `sha256`; and the file.
pub fn sink_file_matches(sink_dir: &Path, client_ip: std::net::Ipv4Addr, port: u16, sha256: &str) -> (bool, Option<PathBuf>) {
    let file = holdback_daemon::sink::find_sink_file(sink_dir, client_ip, port);
    let intact = file.as_deref().and_then(|f| holdback_daemon::lab::sha256_file(f).ok()).is_some_and(|(_, sha)| sha == sha256);
    (intact, file)
}

/// The clients whose stream did not arrive whole: an error, a reset, fewer
/// than `bytes` sent, or a sink file in `sink_dir` that does not hash to
/// what the client sent; one line each, for an assertion's message.
pub fn broken_streams(
    outcomes: &[holdback_daemon::lab::clients::ClientOutcome],
    sink_dir: &Path,
    client_ip: std::net::Ipv4Addr,
    bytes: u64,
) -> Vec<String> {
    let mut bad = Vec::new();
    for o in outcomes {
        let (intact, file) = sink_file_matches(sink_dir, client_ip, o.local_port, &o.sha256);
        if o.error.is_some() || o.reset || o.bytes_sent != bytes || !intact {
            bad.push(format!("client {}: sent {} reset {} error {:?} sink file {file:?} intact {intact}", o.index, o.bytes_sent, o.reset, o.error));
        }
    }
    bad
}

/// Runs `holdback lab <args> --json` (after checking the lab's
/// prerequisites) and returns its report; panics with both output streams
/// when it prints no JSON.
pub fn lab_report(args: &[&str]) -> serde_json::Value {
    require_lab_prerequisites();
    let out = Command::new(holdback_bin())
        .arg("lab")
        .args(args)
        .arg("--json")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap_or_else(|e| panic!("running holdback lab {}: {e}", args.join(" ")));
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "`holdback lab {}` printed no JSON report ({e}); exit {:?}\nstdout:\n{stdout}\nstderr:\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Frames that fail validation: bad (0) or unverified (2) IP/TCP checksum
/// status, malformed, or any error-level expert note. One exception, for
/// the Linux peers' frames only (never those from `card_ip`): a TCP
/// checksum of 0xffff where tshark computes 0x0000. Both are zero in one's
/// complement and verify at any receiver (RFC 1624 §3); Linux writes 0xffff
/// when it completes a checksum in software for the TAP (`CSUM_MANGLED_0`),
/// about once in 65 536 segments, and tshark marks it bad.
pub fn bad_frames(card_ip: std::net::Ipv4Addr) -> String {
    format!(
        "ip.checksum.status==0 || ip.checksum.status==2 || tcp.checksum.status==2 \
         || (tcp.checksum.status==0 && !(ip.src!={card_ip} && tcp.checksum==0xffff && tcp.checksum_calculated==0x0000)) \
         || _ws.malformed || _ws.expert.severity==error"
    )
}

/// Frames of `pcap` matching the display filter `filter` (tshark with IP
/// and TCP checksum validation on), and their numbers and summaries.
pub fn tshark_count(pcap: &Path, filter: &str) -> (usize, String) {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(pcap)
        .args(["-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-Y", filter])
        // The streams are random bytes: decode them as plain data, or a heuristic
        // dissector (Thrift, seen here) may parse a segment and report its own
        // "malformed" error about our random payload, not about TCP/IP.
        .args(["-d", &format!("tcp.port=={},data", holdback_daemon::lab::DEFAULT_PORT)])
        .args(["-T", "fields", "-e", "frame.number", "-e", "_ws.col.Info"])
        .output()
        .expect("running tshark");
    assert!(out.status.success(), "tshark failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (text.lines().filter(|l| !l.trim().is_empty()).count(), text)
}

/// tshark's `fields` of every TCP frame in `pcap` that matches `filter`, one
/// row per frame (the lab's port decoded as plain data, as in
/// [`tshark_count`]); an empty field is an empty string.
pub fn tshark_fields(pcap: &Path, filter: &str, fields: &[&str]) -> Vec<Vec<String>> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-r").arg(pcap);
    cmd.args(["-d", &format!("tcp.port=={},data", holdback_daemon::lab::DEFAULT_PORT), "-Y", filter]);
    cmd.args(["-T", "fields", "-E", "separator=,"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("running tshark");
    assert!(out.status.success(), "tshark failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

/// A uniquely named network namespace for a test's Linux peer, deleted on
/// drop (with any TAP moved into it), so it goes even when the test panics.
pub struct TestNetns(pub String);

impl TestNetns {
    /// `hb<tag>-<pid>-<n>`, with its loopback up.
    pub fn new(tag: &str) -> TestNetns {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let name = format!("hb{tag}-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        let ip = |args: &[&str]| holdback_daemon::lab::netns::ip(args).unwrap_or_else(|e| panic!("{e}"));
        ip(&["netns", "add", &name]);
        let ns = TestNetns(name);
        ip(&["-n", &ns.0, "link", "set", "lo", "up"]);
        ns
    }

    /// A command's output inside the namespace; panics when it fails.
    pub fn run(&self, cmd: &[&str]) -> String {
        let out = Command::new("ip").args(["netns", "exec", &self.0]).args(cmd).output().unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
        assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The namespace's TCP counter `name` from /proc/net/snmp (`OutRsts`, `EstabResets`, …).
    pub fn tcp_counter(&self, name: &str) -> u64 {
        let snmp = self.run(&["cat", "/proc/net/snmp"]);
        let mut rows = snmp.lines().filter(|l| l.starts_with("Tcp:"));
        let (names, values) = (rows.next().expect("Tcp: header"), rows.next().expect("Tcp: values"));
        let at = names.split_whitespace().position(|n| n == name).unwrap_or_else(|| panic!("no Tcp counter {name}"));
        values.split_whitespace().nth(at).and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("Tcp counter {name} unreadable"))
    }

    /// The MAC address of `dev` in the namespace.
    pub fn mac_of(&self, dev: &str) -> holdback_regmap::MacAddr {
        let link = self.run(&["ip", "-o", "link", "show", dev]);
        let mac = link.split_whitespace().skip_while(|w| *w != "link/ether").nth(1).unwrap_or_else(|| panic!("no link/ether in `{link}`"));
        mac.parse().unwrap_or_else(|e| panic!("{dev}'s MAC `{mac}`: {e}"))
    }
}

impl Drop for TestNetns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// The simulated card on a TAP in a test's namespace, as `card_on_tap` starts it.
pub struct TapCard {
    pub card: holdback_sim::card::Card,
    /// The test's work directory (the capture is in it).
    pub dir: PathBuf,
    /// The card's port capture.
    pub pcap: PathBuf,
    /// The TAP's name inside the namespace (still down, without an address).
    pub tap: String,
    /// Host address of connection 0's 4 KiB transmit ring.
    pub tx_base: u64,
}

/// Starts the simulated card on a TAP inside `ns`, capturing its port into a
/// work directory named after `tag`, with 4 KiB receive and transmit rings,
/// the MAC 02:00:00:00:00:02, `card_ip` and OUR_MSS 1460 written; the caller
/// writes the rest (listening ports, timers, CTRL) and brings the TAP up.
pub fn card_on_tap(ns: &TestNetns, tag: &str, card_ip: std::net::Ipv4Addr) -> TapCard {
    use holdback_regmap as map;
    use holdback_sim::card::{Card, CardConfig, TapSpec};
    let pid = std::process::id();
    let dir = std::env::temp_dir().join(format!("holdback-{tag}-linux-{pid}"));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    let pcap = dir.join("card.pcap");
    let tap = format!("hb{}{}", &tag[..2], pid % 100_000);
    let card = Card::start(CardConfig {
        tap: Some(TapSpec { name: tap.clone(), netns: Some(ns.0.clone()) }),
        pcap: Some(pcap.clone()),
        ..CardConfig::default()
    })
    .unwrap_or_else(|e| panic!("Card::start: {e}"));
    let regs = card.regs();
    let conns = u64::from(regs.read32(map::ID_CONNS.offset).expect("ID_CONNS"));
    let rx_base = card.host_memory().base_iova().next_multiple_of(map::HOST_RING_ALIGN);
    let tx_base = rx_base + (conns << 12);
    for (reg, v) in [
        (map::RX_RING_BASE_LO, rx_base as u32),
        (map::RX_RING_BASE_HI, (rx_base >> 32) as u32),
        (map::RX_RING_LOG2, 12),
        (map::TX_RING_BASE_LO, tx_base as u32),
        (map::TX_RING_BASE_HI, (tx_base >> 32) as u32),
        (map::TX_RING_LOG2, 12),
        (map::MAC_HI, 0x0200),
        (map::MAC_LO, 0x0000_0002),
        (map::IPV4_ADDR, u32::from(card_ip)),
        (map::OUR_MSS, 1460),
    ] {
        regs.write32(reg.offset, v).unwrap_or_else(|e| panic!("write {}: {e}", reg.name));
    }
    TapCard { card, dir, pcap, tap, tx_base }
}

/// A process stopped with SIGSTOP (a standby that can acknowledge nothing),
/// continued on drop — also when the test panics.
pub struct Frozen(u32);

impl Frozen {
    pub fn new(pid: u32) -> Frozen {
        signal("-STOP", pid);
        Frozen(pid)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        signal("-CONT", self.0);
    }
}

fn signal(sig: &str, pid: u32) {
    let ok = std::process::Command::new("kill").args([sig, &pid.to_string()]).status().is_ok_and(|s| s.success());
    assert!(ok || std::thread::panicking(), "kill {sig} {pid} failed");
}
