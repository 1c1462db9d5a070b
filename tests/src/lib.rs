//! Shared helpers of the end-to-end tests: checks for root and tools (a
//! missing one FAILS the test with the install command, never skips), the
//! built `holdback` binary, a `lab up` guard that always runs `lab down`.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub use holdback_daemon::lab::up::LabUpInfo;

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
