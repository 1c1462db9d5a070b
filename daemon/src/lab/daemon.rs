//! The lab's daemons. Every lab card is brought up by a `holdback daemon`
//! process, from a [`Config`] the lab generates and writes as the TOML an
//! operator writes (serialised by [`Config::effective_toml`], so the two
//! cannot drift): the single-card lab, `lab up`, the pair lab and the pair
//! tests. The daemon's service loop is the one place a card and its sink
//! start.
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use holdback_driver::{CardSettings, PortHoldback};

use crate::config::{CardSpec, Config, Gate, Role, SimCard, DEFAULT_MSS, DEFAULT_RTO_US};
use crate::control::{client, Request};
use crate::error::io;
use crate::lab::netns::LabTopology;
use crate::lab::LabError;

/// How long a daemon gets to come up (Verilator model start, TAP, socket).
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// One simulated card on the lab's network: the service address of
/// `topo`, its TAP `tap` in the card namespace, one listening port.
pub struct CardPlan<'a> {
    pub topo: &'a LabTopology,
    pub tap: &'a str,
    pub port: u16,
    pub holdback: bool,
    /// Ports with a holdback of their own; one that is not `port` is
    /// listened on too (`lab up --port-holdback`).
    pub port_holdback: Vec<PortHoldback>,
    pub pcap: Option<PathBuf>,
    pub impair: Option<holdback_sim::impair::Impairment>,
    /// Where the daemon writes the card's own figures when it stops.
    pub report: Option<PathBuf>,
    /// Window scaling: the card's receive rings (`[dma] rx_ring_bytes`).
    pub rx_ring_bytes: u32,
    /// Out-of-order reassembly on the card (`[network] reassembly`).
    pub reassembly: bool,
    /// SACK on the card (`[network] sack`; takes effect with reassembly).
    pub sack: bool,
    /// TCP timestamps on the card (`[network] timestamps`).
    pub timestamps: bool,
    /// SYN cookies' half-open threshold (`[network] syn_cookies`); None: off.
    pub syn_cookies: Option<u16>,
    /// The built-in application behind the card (`[app] kind`).
    pub app: crate::app::AppKind,
}

/// A lone card's daemon config (the single-card lab, `lab up`): role
/// active, the `app` gate, no replication.
pub fn card_config(path: PathBuf, socket: PathBuf, sink_dir: PathBuf, card: &CardPlan<'_>) -> Config {
    let topo = card.topo;
    Config {
        path,
        card: CardSpec::Sim(SimCard {
            tap: card.tap.to_string(),
            netns: Some(topo.card_ns.clone()),
            pcap: card.pcap.clone(),
            impair: card.impair,
            report: card.report.clone(),
        }),
        socket,
        role: Role::Active,
        gates: vec![Gate::App],
        port_gates: Vec::new(),
        sink_dir,
        network: CardSettings {
            mac: holdback_driver::MacAddr(topo.card_mac),
            ip: topo.card_ip,
            listen_ports: std::iter::once(card.port)
                .chain(card.port_holdback.iter().map(|p| p.port).filter(|p| *p != card.port))
                .collect(),
            holdback: card.holdback,
            port_holdback: card.port_holdback.clone(),
            our_mss: DEFAULT_MSS,
            rto_us: DEFAULT_RTO_US,
            reassembly: card.reassembly,
            sack: card.sack,
            timestamps: card.timestamps,
            syn_cookies: card.syn_cookies,
            // The daemon derives the keys at card setup.
            cookie_keys: Default::default(),
        },
        metrics: None,
        replication: None,
        authority: crate::config::Authority::Pair,
        dma: crate::config::DmaSettings { rx_ring_bytes: card.rx_ring_bytes },
        app: crate::config::AppSettings { kind: card.app },
        tcp: crate::config::TcpSettings::default(),
        relay: Vec::new(),
    }
}

/// Writes `config` to `config.path`, headed by a comment naming who wrote it.
pub fn write_config(config: &Config, written_by: &str) -> Result<(), LabError> {
    let text = format!("# Written by {written_by}.\n{}", config.effective_toml());
    std::fs::write(&config.path, text).map_err(io("writing", &config.path))?;
    Ok(())
}

/// A `holdback daemon` child process; killed (SIGKILL) on drop if still running.
pub struct DaemonProcess {
    pub name: &'static str,
    pub child: Child,
    pub socket: PathBuf,
    pub log: PathBuf,
    pub config: PathBuf,
    /// Left running on drop ([`DaemonProcess::detach`]).
    detached: bool,
}

impl DaemonProcess {
    /// Starts `holdback daemon --config CONFIG` inside network namespace `ns`.
    pub fn start(
        name: &'static str,
        exe: Option<&Path>,
        ns: &str,
        config: &Path,
        socket: &Path,
        log: &Path,
    ) -> Result<DaemonProcess, LabError> {
        let exe = match exe {
            Some(p) => p.to_path_buf(),
            None => std::env::current_exe().map_err(io("finding our own binary", Path::new("")))?,
        };
        let out = std::fs::File::create(log).map_err(io("creating", log))?;
        let err = out.try_clone().map_err(io("opening", log))?;
        let mut cmd = Command::new("ip");
        // `ip netns exec` execs the daemon in place: the child's pid is the daemon's.
        cmd.args(["netns", "exec", ns]).arg(&exe).arg("daemon").arg("--config").arg(config);
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "info");
        }
        use std::os::unix::process::CommandExt;
        cmd.process_group(0).stdin(Stdio::null()).stdout(out).stderr(err);
        let child = cmd.spawn().map_err(io("starting the daemon with", config))?;
        tracing::info!(name, pid = child.id(), config = %config.display(), "daemon started");
        Ok(DaemonProcess { name, child, socket: socket.to_path_buf(), log: log.to_path_buf(), config: config.to_path_buf(), detached: false })
    }

    /// Starts the daemon of `config` in namespace `ns` (logging to `log`)
    /// and waits until it serves.
    pub fn start_ready(name: &'static str, exe: Option<&Path>, ns: &str, config: &Config, log: &Path) -> Result<DaemonProcess, LabError> {
        let mut d = DaemonProcess::start(name, exe, ns, &config.path, &config.socket, log)?;
        d.wait_ready()?;
        Ok(d)
    }

    /// Waits until the daemon answers a status request.
    pub fn wait_ready(&mut self) -> Result<(), LabError> {
        let start = Instant::now();
        loop {
            if client::call(&self.socket, &Request::Status).is_ok() {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(self.died(format!("exited before it was ready ({status})")));
            }
            if start.elapsed() > READY_TIMEOUT {
                return Err(self.died(format!("not ready after {READY_TIMEOUT:?}")));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// An error carrying the tail of the daemon's log.
    pub fn died(&self, what: String) -> LabError {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(25).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        LabError::Daemon { name: self.name, what, log: self.log.clone(), tail: tail.join("\n") }
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Leave the daemon running when this handle drops (`lab up`); its pid.
    pub fn detach(mut self) -> u32 {
        self.detached = true;
        self.child.id()
    }

    /// SIGKILL: the card dies with its process, mid-whatever (the failure under test).
    pub fn kill_hard(&mut self) {
        if let Err(e) = self.child.kill() {
            tracing::warn!(name = self.name, error = %e, "SIGKILL");
        }
        let _ = self.child.wait();
    }

    /// SIGTERM and wait (clean shutdown); SIGKILL after `grace`.
    pub fn stop(&mut self, grace: Duration) -> Option<std::process::ExitStatus> {
        if !self.is_running() {
            return self.child.try_wait().ok().flatten();
        }
        if let Err(e) = crate::sys::terminate_child(&self.child) {
            tracing::warn!(name = self.name, error = %e, "SIGTERM");
        }
        let start = Instant::now();
        while start.elapsed() < grace {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill_hard();
        None
    }
}

impl Drop for DaemonProcess {
    fn drop(&mut self) {
        if !self.detached && self.is_running() {
            self.kill_hard();
        }
    }
}

