//! `holdback lab up` / `lab down`: a lab left running in the background —
//! its network, and a `holdback daemon` process on its simulated card (the
//! daemon serves the control socket and runs the sink). Its state lives in
//! `/run/holdback/<name>/`: `lab.json` (what `up` prints and `down` reads),
//! `daemon.toml`, `control.sock`, `lab.log` (the daemon's), `sink/`.
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::control::Request;
use crate::error::io;
use crate::lab::daemon::{card_config, write_config, CardPlan, DaemonProcess};
use crate::lab::netns::{self, LabNet, LabTopology};
use crate::lab::LabError;

pub use crate::config::{DEFAULT_NAME, STATE_ROOT};
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
    #[error(transparent)]
    Io(#[from] crate::error::IoError),
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
    /// Listening ports with a holdback of their own (`--port-holdback`).
    #[serde(default)]
    pub port_holdback: Vec<holdback_driver::PortHoldback>,
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
        _ => LabUpError::Io(crate::error::IoError { what: "reading", path: path.clone(), source }),
    })?;
    serde_json::from_str(&text).map_err(|source| LabUpError::BadState { path, source })
}

/// Options of `lab up` passed through to the background process.
#[derive(Clone, Debug)]
pub struct UpOptions {
    pub name: String,
    pub holdback: bool,
    /// Ports with a holdback of their own (listened on too).
    pub port_holdback: Vec<holdback_driver::PortHoldback>,
    pub pcap: Option<PathBuf>,
    pub port: u16,
}

/// `holdback lab up`: build the network, start `holdback daemon` on its
/// card in the background (its own process group, outliving us) and wait
/// until it serves; then record it in `lab.json`.
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
    std::fs::create_dir_all(&dir).map_err(io("creating", &dir))?;
    let mut net = LabNet::create(LabTopology::unique(&opts.name))?;
    let topo = net.topology().clone();
    let card = CardPlan {
        topo: &topo,
        tap: &topo.tap,
        port: opts.port,
        holdback: opts.holdback,
        port_holdback: opts.port_holdback.clone(),
        pcap: opts.pcap.clone(),
        impair: None,
        report: None,
        rx_ring_bytes: holdback_driver::DEFAULT_RX_RING_BYTES,
        reassembly: true,
        sack: false,
        timestamps: false,
        syn_cookies: None,
        app: crate::app::AppKind::Sink,
    };
    let config = card_config(dir.join("daemon.toml"), socket_path(&opts.name), dir.join("sink"), &card);
    write_config(&config, "`holdback lab up`")?;
    let daemon = DaemonProcess::start_ready("lab", None, &topo.card_ns, &config, &dir.join("lab.log"))?;
    let info = LabUpInfo {
        name: opts.name.clone(),
        pid: daemon.child.id(),
        socket: config.socket.clone(),
        log: dir.join("lab.log"),
        sink_dir: config.sink_dir.clone(),
        client_ns: topo.client_ns.clone(),
        card_ns: topo.card_ns.clone(),
        client_ip: topo.client_ip,
        card_ip: topo.card_ip,
        card_port: opts.port,
        card_mac: holdback_driver::MacAddr(topo.card_mac).to_string(),
        holdback: opts.holdback,
        port_holdback: opts.port_holdback.clone(),
        pcap: opts.pcap.clone(),
        topology: topo,
    };
    write_info(&info)?;
    // Only now, with everything recorded for `lab down`, are the daemon
    // and the network left behind.
    daemon.detach();
    net.keep_on_drop();
    tracing::info!(name = %opts.name, pid = info.pid, socket = %info.socket.display(), "lab up");
    Ok(info)
}

/// `holdback lab down`: ask the lab process to stop, wait, and remove
/// whatever is left (namespaces, state directory).
pub fn down(name: &str) -> Result<LabUpInfo, LabUpError> {
    check_name(name)?;
    netns::require_root()?;
    let info = read_info(name)?;
    if pid_alive(info.pid) {
        if let Err(e) = crate::control::client::call(&info.socket, &Request::Shutdown) {
            tracing::warn!(error = %crate::error::chain(&e), pid = info.pid, "shutdown request failed; sending SIGTERM");
            if let Err(e) = crate::sys::terminate(info.pid) {
                tracing::warn!(pid = info.pid, error = %e, "SIGTERM");
            }
        }
        let start = Instant::now();
        while pid_alive(info.pid) && start.elapsed() < EXIT_TIMEOUT {
            std::thread::sleep(Duration::from_millis(50));
        }
        if pid_alive(info.pid) {
            tracing::warn!(pid = info.pid, "lab process still alive after {EXIT_TIMEOUT:?}; killing it");
            if let Err(e) = crate::sys::kill(info.pid) {
                tracing::warn!(pid = info.pid, error = %e, "SIGKILL");
            }
        }
    }
    netns::destroy_topology(&info.topology)?;
    let dir = state_dir(name);
    // Keep the log and sink files? They are in /run (tmpfs): remove all.
    std::fs::remove_dir_all(&dir).map_err(io("removing", &dir))?;
    Ok(info)
}

fn write_info(info: &LabUpInfo) -> Result<(), LabUpError> {
    let path = info_path(&info.name);
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_string_pretty(info).map_err(|source| LabUpError::BadState { path: path.clone(), source })?;
    std::fs::write(&tmp, text).map_err(io("writing", &tmp))?;
    std::fs::rename(&tmp, &path).map_err(io("writing", &path))?;
    Ok(())
}
