//! `holdback lab up` / `lab down`: a lab left running in a background
//! process (`holdback lab serve`, started by `up`), which holds the simulated
//! card, runs the sink and serves the control socket. Its state lives in
//! `/run/holdback/<name>/`: `lab.json` (what `up` prints and `down` reads),
//! `control.sock`, `lab.log`, `sink/`.
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use holdback_driver::MacAddr;
use serde::{Deserialize, Serialize};

use crate::control::{ControlServer, Request};
use crate::lab::{interrupted, LabConfig, LabError, LabRuntime};
use crate::netns::{self, LabTopology};
use crate::service::{control_handler, StopSignal};

/// Parent of every named lab's state directory.
pub const STATE_ROOT: &str = "/run/holdback";
/// Name used when `--name` is not given.
pub const DEFAULT_NAME: &str = "default";
/// How long `lab up` waits for the background process to report ready.
const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// How long `lab down` waits for it to exit before removing things itself.
const EXIT_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, thiserror::Error)]
pub enum LabUpError {
    #[error("lab name `{0}` must be 1-24 characters of [A-Za-z0-9_-]")]
    BadName(String),
    #[error("lab `{name}` is already running (pid {pid}); stop it with `holdback lab down --name {name}`")]
    AlreadyRunning { name: String, pid: u32 },
    #[error("no lab named `{name}` is running ({path} does not exist)")]
    NotRunning { name: String, path: PathBuf },
    #[error("the lab process exited before it was ready ({status}); its log {log}:\n{tail}")]
    DiedEarly { status: String, log: PathBuf, tail: String },
    #[error("the lab process did not report ready within {0:?}; see its log {1}")]
    NotReady(Duration, PathBuf),
    #[error("{what} {path}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a lab state file")]
    BadState {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error(transparent)]
    Net(#[from] netns::NetnsError),
    #[error(transparent)]
    Lab(#[from] LabError),
    #[error("control socket")]
    Serve(#[from] crate::control::ServeError),
}

/// What `lab up` prints and `lab down` reads.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LabUpInfo {
    pub name: String,
    /// The background process holding the card.
    pub pid: u32,
    pub socket: PathBuf,
    pub log: PathBuf,
    pub sink_dir: PathBuf,
    pub client_ns: String,
    pub card_ns: String,
    pub client_ip: Ipv4Addr,
    pub card_ip: Ipv4Addr,
    pub card_port: u16,
    pub card_mac: String,
    pub holdback: bool,
    pub pcap: Option<PathBuf>,
    pub topology: LabTopology,
}

impl LabUpInfo {
    /// The human form `lab up` prints.
    pub fn human(&self) -> String {
        format!(
            "lab `{name}` is up (pid {pid})\n\
             \x20 client namespace: {cns}  address {cip}/24 on {cif}\n\
             \x20 card namespace:   {kns}  card {kip}:{port} (MAC {mac}) on TAP {tap}, bridge {br}\n\
             \x20 holdback:         {hb}\n\
             \x20 control socket:   {sock}\n\
             \x20 sink files:       {sink}\n\
             \x20 log:              {log}\n\
             try:  ip netns exec {cns} ping -c 3 {kip}\n\
             \x20     ip netns exec {cns} bash -c 'head -c 1M /dev/urandom > /dev/tcp/{kip}/{port}'\n\
             \x20     holdback conns --socket {sock}\n\
             stop: holdback lab down --name {name}\n",
            name = self.name,
            pid = self.pid,
            cns = self.client_ns,
            cip = self.client_ip,
            cif = self.topology.client_if,
            kns = self.card_ns,
            kip = self.card_ip,
            port = self.card_port,
            mac = self.card_mac,
            tap = self.topology.tap,
            br = self.topology.bridge,
            hb = if self.holdback { "on" } else { "off" },
            sock = self.socket.display(),
            sink = self.sink_dir.display(),
            log = self.log.display(),
        )
    }
}

pub fn check_name(name: &str) -> Result<(), LabUpError> {
    let ok = !name.is_empty()
        && name.len() <= 24
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(LabUpError::BadName(name.to_string()))
    }
}

pub fn state_dir(name: &str) -> PathBuf {
    Path::new(STATE_ROOT).join(name)
}
pub fn socket_path(name: &str) -> PathBuf {
    state_dir(name).join("control.sock")
}
fn info_path(name: &str) -> PathBuf {
    state_dir(name).join("lab.json")
}

fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Reads `lab.json` of lab `name`.
pub fn read_info(name: &str) -> Result<LabUpInfo, LabUpError> {
    let path = info_path(name);
    let text = std::fs::read_to_string(&path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => LabUpError::NotRunning { name: name.to_string(), path: path.clone() },
        _ => LabUpError::Io { what: "reading", path: path.clone(), source },
    })?;
    serde_json::from_str(&text).map_err(|source| LabUpError::BadState { path, source })
}

/// Options of `lab up` passed through to the background process.
#[derive(Clone, Debug)]
pub struct UpOptions {
    pub name: String,
    pub holdback: bool,
    pub pcap: Option<PathBuf>,
    pub port: u16,
}

/// `holdback lab up`: start `holdback lab serve` in the background and wait
/// until it wrote `lab.json`.
pub fn up(opts: &UpOptions) -> Result<LabUpInfo, LabUpError> {
    check_name(&opts.name)?;
    netns::require_root()?;
    if let Ok(old) = read_info(&opts.name) {
        if pid_alive(old.pid) {
            return Err(LabUpError::AlreadyRunning { name: opts.name.clone(), pid: old.pid });
        }
        // A crashed lab: clear what it left.
        tracing::info!(name = %opts.name, pid = old.pid, "removing a dead lab's leftovers");
        let _ = netns::destroy_topology(&old.topology);
    }
    let dir = state_dir(&opts.name);
    let _ = std::fs::remove_file(info_path(&opts.name));
    std::fs::create_dir_all(&dir).map_err(|source| LabUpError::Io { what: "creating", path: dir.clone(), source })?;
    let log = dir.join("lab.log");
    let log_file =
        std::fs::File::create(&log).map_err(|source| LabUpError::Io { what: "creating", path: log.clone(), source })?;
    let log_err = log_file.try_clone().map_err(|source| LabUpError::Io { what: "opening", path: log.clone(), source })?;
    let exe = std::env::current_exe()
        .map_err(|source| LabUpError::Io { what: "finding our own binary", path: PathBuf::new(), source })?;
    let mut cmd = Command::new(&exe);
    cmd.args(["lab", "serve", "--name", &opts.name, "--port", &opts.port.to_string()]);
    cmd.args(["--holdback", if opts.holdback { "on" } else { "off" }]);
    if let Some(p) = &opts.pcap {
        cmd.arg("--pcap").arg(p);
    }
    // Its own process group: Ctrl-C in this terminal must not reach it.
    use std::os::unix::process::CommandExt;
    cmd.process_group(0).stdin(Stdio::null()).stdout(log_file).stderr(log_err);
    if std::env::var_os("RUST_LOG").is_none() {
        cmd.env("RUST_LOG", "info");
    }
    let mut child = cmd.spawn().map_err(|source| LabUpError::Io { what: "starting", path: exe.clone(), source })?;
    let start = Instant::now();
    loop {
        if let Ok(info) = read_info(&opts.name) {
            if info.pid == child.id() {
                return Ok(info);
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            let tail = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = tail.lines().rev().take(20).collect();
            let tail = tail.into_iter().rev().collect::<Vec<_>>().join("\n");
            return Err(LabUpError::DiedEarly { status: status.to_string(), log, tail });
        }
        if start.elapsed() > READY_TIMEOUT {
            return Err(LabUpError::NotReady(READY_TIMEOUT, log));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `holdback lab down`: ask the lab process to stop, wait, and remove
/// whatever is left (namespaces, state directory).
pub fn down(name: &str) -> Result<LabUpInfo, LabUpError> {
    check_name(name)?;
    netns::require_root()?;
    let info = read_info(name)?;
    if pid_alive(info.pid) {
        if let Err(e) = crate::control::client::call(&info.socket, &Request::Shutdown) {
            tracing::warn!(error = %crate::report::chain(&e), pid = info.pid, "shutdown request failed; sending SIGTERM");
            // SAFETY: kill() with a pid and a signal number; no memory involved.
            unsafe {
                libc::kill(info.pid as libc::pid_t, libc::SIGTERM);
            }
        }
        let start = Instant::now();
        while pid_alive(info.pid) && start.elapsed() < EXIT_TIMEOUT {
            std::thread::sleep(Duration::from_millis(50));
        }
        if pid_alive(info.pid) {
            tracing::warn!(pid = info.pid, "lab process still alive after {EXIT_TIMEOUT:?}; killing it");
            // SAFETY: as above.
            unsafe {
                libc::kill(info.pid as libc::pid_t, libc::SIGKILL);
            }
        }
    }
    netns::destroy_topology(&info.topology)?;
    let dir = state_dir(name);
    // Keep the log and sink files? They are in /run (tmpfs): remove all.
    std::fs::remove_dir_all(&dir).map_err(|source| LabUpError::Io { what: "removing", path: dir, source })?;
    Ok(info)
}

/// `holdback lab serve` (hidden): the background process of `lab up`.
pub fn serve(opts: &UpOptions) -> Result<(), LabUpError> {
    check_name(&opts.name)?;
    crate::lab::install_signal_handlers();
    // A background lab outlives the terminal that started it.
    // SAFETY: setting a signal's disposition to SIG_IGN has no memory effects.
    unsafe {
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
    }
    let dir = state_dir(&opts.name);
    let mut config = LabConfig::new(&opts.name, dir.join("sink"));
    config.holdback = opts.holdback;
    config.pcap = opts.pcap.clone();
    config.port = opts.port;
    let lab = LabRuntime::start(config)?;
    let topo = lab.topology().clone();
    let socket = socket_path(&opts.name);
    let stop = Arc::new(StopSignal::default());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| LabUpError::Io { what: "starting the async runtime for", path: socket.clone(), source })?;
    let handler = control_handler(lab.card().clone(), lab.sink().clone(), stop.clone(), None);
    let server = runtime.block_on(ControlServer::bind(&socket, handler))?;

    let info = LabUpInfo {
        name: opts.name.clone(),
        pid: std::process::id(),
        socket: socket.clone(),
        log: dir.join("lab.log"),
        sink_dir: dir.join("sink"),
        client_ns: topo.client_ns.clone(),
        card_ns: topo.card_ns.clone(),
        client_ip: topo.client_ip,
        card_ip: topo.card_ip,
        card_port: opts.port,
        card_mac: MacAddr(topo.card_mac).to_string(),
        holdback: opts.holdback,
        pcap: opts.pcap.clone(),
        topology: topo,
    };
    write_info(&info)?;
    tracing::info!(name = %opts.name, socket = %socket.display(), "lab up");

    // Serve until asked to stop, signalled, or the card/sink dies.
    runtime.block_on(async {
        loop {
            if stop.is_requested() || interrupted() {
                break;
            }
            if lab.sink_ended() || !lab.card_running() {
                tracing::error!("the sink or the card stopped; taking the lab down");
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let served = runtime.block_on(server.shutdown());
    let _ = std::fs::remove_file(info_path(&opts.name));
    let report = lab.shutdown();
    match &report {
        Ok(r) => tracing::info!(cycles = r.cycles, frames_in = r.frames_in, frames_out = r.frames_out, "lab down"),
        Err(e) => tracing::error!(error = %crate::report::chain(e), "lab ended with an error"),
    }
    served?;
    report.map(|_| ()).map_err(LabUpError::from)
}

fn write_info(info: &LabUpInfo) -> Result<(), LabUpError> {
    let path = info_path(&info.name);
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_string_pretty(info).map_err(|source| LabUpError::BadState { path: path.clone(), source })?;
    std::fs::write(&tmp, text).map_err(|source| LabUpError::Io { what: "writing", path: tmp.clone(), source })?;
    std::fs::rename(&tmp, &path).map_err(|source| LabUpError::Io { what: "writing", path, source })
}
