//! `holdback lab`: the whole system on one machine. Namespaces and a bridge
//! ([`crate::netns`]), the simulated card on a TAP, the sink application
//! ([`crate::sink`]) and Linux TCP clients ([`crate::clients`]); then the
//! check that every byte the clients sent is in the sink's files.
use std::net::SocketAddrV4;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use holdback_driver::{CardError, CardHandle, CardSettings, MacAddr, OpenError, SimBar, Stats};
use holdback_sim::card::{Card, CardConfig, CardReport, TapSpec};
use holdback_sim::SimError;
use sha2::{Digest, Sha256};

use crate::clients::{self, ClientOutcome, ClientPlan};
use crate::netns::{LabNet, LabTopology, NetnsError};
use crate::report::{CardFigures, ConnResult, LabReport};
use crate::sink::{Sink, SinkError, SinkShared};

/// TCP port the card listens on in the lab.
pub const DEFAULT_PORT: u16 = 5001;
/// MSS the card announces (Ethernet MTU 1500).
pub const OUR_MSS: u16 = 1460;
/// RTO of the card's SYN-ACK and FIN: Linux's initial RTO is 1 s; 200 ms
/// keeps a lost FIN from stretching a lab run.
pub const RTO_US: u32 = 200_000;

#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("lab network")]
    Net(#[from] NetnsError),
    #[error("starting the simulated card")]
    Sim(#[from] SimError),
    #[error("opening the simulated card")]
    Open(#[from] OpenError),
    #[error("card access")]
    Card(#[from] CardError),
    #[error("sink application")]
    Sink(#[from] SinkError),
    #[error("the sink thread panicked")]
    SinkPanicked,
    #[error("the {name} daemon {what}; its log {log}:\n{tail}")]
    Daemon { name: &'static str, what: String, log: PathBuf, tail: String },
    #[error("the {name} daemon: {what}")]
    Pair { name: &'static str, what: String },
    #[error("interrupted (Ctrl-C or SIGTERM); the lab was torn down")]
    Interrupted,
    #[error("{what} {path}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_sig: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Make SIGINT and SIGTERM set a flag the lab polls, so it can tear the
/// namespaces down instead of dying with them in place.
pub fn install_signal_handlers() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: installs a handler that only stores to an atomic, which is
        // async-signal-safe; the function pointer has the C ABI signal() expects.
        unsafe {
            libc::signal(sig, on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t);
        }
    }
}

/// A signal asked us to stop.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// How the lab's card and sink are set up.
#[derive(Clone, Debug)]
pub struct LabConfig {
    /// Label in the namespace names (`lab up --name`, or "run").
    pub tag: String,
    pub holdback: bool,
    pub pcap: Option<PathBuf>,
    pub port: u16,
    /// Where the sink writes one file per connection.
    pub sink_dir: PathBuf,
}

impl LabConfig {
    pub fn new(tag: &str, sink_dir: PathBuf) -> LabConfig {
        LabConfig { tag: tag.to_string(), holdback: true, pcap: None, port: DEFAULT_PORT, sink_dir }
    }
}

/// A running lab: network, card, sink. Dropping it stops the sink, shuts the
/// card down and removes the namespaces, in that order.
pub struct LabRuntime {
    config: LabConfig,
    shared: SinkShared,
    card: Arc<CardHandle<SimBar>>,
    sink_stop: Arc<AtomicBool>,
    sink_thread: Option<JoinHandle<Result<(), SinkError>>>,
    sim: Option<Card>,
    net: LabNet,
}

impl LabRuntime {
    /// Builds the network, starts the card on its TAP, configures and
    /// enables it, and starts the sink.
    pub fn start(config: LabConfig) -> Result<LabRuntime, LabError> {
        let net = LabNet::create(LabTopology::unique(&config.tag))?;
        let topo = net.topology().clone();
        let sim = Card::start(CardConfig {
            tap: Some(TapSpec { name: topo.tap.clone(), netns: Some(topo.card_ns.clone()) }),
            pcap: config.pcap.clone(),
            vcd: None,
            impair: None,
        })?;
        let card = Arc::new(CardHandle::open(SimBar::new(sim.regs()))?);
        card.configure(&CardSettings {
            mac: MacAddr(topo.card_mac),
            ip: topo.card_ip,
            listen_ports: vec![config.port],
            holdback: config.holdback,
            our_mss: OUR_MSS,
            rto_us: RTO_US,
        })?;
        card.enable()?;
        let shared = SinkShared::default();
        let mut sink = Sink::new(card.clone(), &config.sink_dir, shared.clone())?;
        let sink_stop = Arc::new(AtomicBool::new(false));
        let stop = sink_stop.clone();
        let sink_thread = std::thread::Builder::new()
            .name("holdback-sink".into())
            .spawn(move || {
                let r = sink.run(&stop);
                if let Err(e) = &r {
                    tracing::error!(error = %crate::report::chain(e), "sink stopped");
                }
                r
            })
            .map_err(|source| LabError::Io { what: "spawning the sink thread in", path: config.sink_dir.clone(), source })?;
        tracing::info!(card = %topo.card_ip, port = config.port, holdback = config.holdback, "lab running");
        Ok(LabRuntime { config, shared, card, sink_stop, sink_thread: Some(sink_thread), sim: Some(sim), net })
    }

    pub fn topology(&self) -> &LabTopology {
        self.net.topology()
    }
    pub fn config(&self) -> &LabConfig {
        &self.config
    }
    pub fn card(&self) -> &Arc<CardHandle<SimBar>> {
        &self.card
    }
    pub fn sink(&self) -> &SinkShared {
        &self.shared
    }
    /// Where clients connect.
    pub fn target(&self) -> SocketAddrV4 {
        SocketAddrV4::new(self.topology().card_ip, self.config.port)
    }

    /// The sink thread ended (it only does on error or stop).
    pub fn sink_ended(&self) -> bool {
        self.sink_thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Whether the card's clock thread still runs.
    pub fn card_running(&self) -> bool {
        self.sim.as_ref().is_some_and(|c| c.is_running())
    }

    fn stop_sink(&mut self) -> Result<(), LabError> {
        self.sink_stop.store(true, Ordering::SeqCst);
        match self.sink_thread.take() {
            Some(t) => t.join().map_err(|_| LabError::SinkPanicked)?.map_err(LabError::from),
            None => Ok(()),
        }
    }

    /// Stops the sink and the card and removes the network. Returns the
    /// card's report, or the first error of the sink or card.
    pub fn shutdown(mut self) -> Result<CardReport, LabError> {
        let sink = self.stop_sink();
        let card = match self.sim.take() {
            Some(c) => c.shutdown().map_err(LabError::from),
            None => Err(LabError::Sim(SimError::CardStopped { reason: Some("already shut down".into()) })),
        };
        // `self.net` drops with `self`, removing the namespaces.
        sink?;
        card
    }
}

impl Drop for LabRuntime {
    fn drop(&mut self) {
        if let Err(e) = self.stop_sink() {
            tracing::warn!(error = %crate::report::chain(&e), "sink ended with an error");
        }
        if let Some(c) = self.sim.take() {
            if let Err(e) = c.shutdown() {
                tracing::warn!(error = %e, "card shutdown");
            }
        }
        // Then the fields drop; `net` removes the namespaces.
    }
}

/// What `holdback lab` runs.
#[derive(Clone, Debug)]
pub struct LabRunOptions {
    pub conns: usize,
    pub bytes: u64,
    pub seed: u64,
    pub holdback: bool,
    pub pcap: Option<PathBuf>,
    /// Keep the sink files here (default: a temporary directory removed after a passing run).
    pub sink_dir: Option<PathBuf>,
    /// A client making no progress this long fails.
    pub stall_timeout: Duration,
}

impl Default for LabRunOptions {
    fn default() -> Self {
        LabRunOptions {
            conns: 4,
            bytes: 1 << 20,
            seed: 1,
            holdback: true,
            pcap: None,
            sink_dir: None,
            stall_timeout: Duration::from_secs(30),
        }
    }
}

static RUN_COUNTER: AtomicU32 = AtomicU32::new(0);

fn temp_sink_dir() -> PathBuf {
    std::env::temp_dir().join(format!(
        "holdback-lab-sink-{}-{}",
        std::process::id(),
        RUN_COUNTER.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Runs one lab: N clients × SIZE bytes through the card into the sink, then
/// verifies every file. Teardown happens on every path (also on error and
/// on Ctrl-C, via [`install_signal_handlers`]).
pub fn run_lab(opts: &LabRunOptions) -> Result<LabReport, LabError> {
    let (sink_dir, temp_dir) = match &opts.sink_dir {
        Some(d) => (d.clone(), false),
        None => (temp_sink_dir(), true),
    };
    let result = run_lab_into(opts, &sink_dir);
    // A temporary sink directory survives only a completed run that failed
    // its checks (the report names it, for inspection).
    let keep = matches!(&result, Ok(r) if !r.passed());
    if temp_dir && !keep && sink_dir.exists() {
        if let Err(e) = std::fs::remove_dir_all(&sink_dir) {
            tracing::warn!(dir = %sink_dir.display(), error = %e, "could not remove the sink directory");
        }
    }
    result
}

fn run_lab_into(opts: &LabRunOptions, sink_dir: &Path) -> Result<LabReport, LabError> {
    let sink_dir = sink_dir.to_path_buf();
    tracing::info!(conns = opts.conns, bytes = opts.bytes, seed = opts.seed, holdback = opts.holdback,
        sink_dir = %sink_dir.display(), "lab run");
    let mut config = LabConfig::new("run", sink_dir.clone());
    config.holdback = opts.holdback;
    config.pcap = opts.pcap.clone();
    let lab = LabRuntime::start(config)?;
    let topo = lab.topology().clone();
    let stats_before = lab.card().stats()?;

    let plan = ClientPlan { target: lab.target(), bytes: opts.bytes, seed: opts.seed, stall_timeout: opts.stall_timeout };
    let cancel = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let handles = clients::spawn_clients(&topo.client_ns, opts.conns, &plan, cancel.clone());
    let mut problem: Option<LabError> = None;
    while !handles.iter().all(|h| h.is_finished()) {
        if interrupted() {
            cancel.store(true, Ordering::SeqCst);
            problem.get_or_insert(LabError::Interrupted);
        }
        if lab.sink_ended() || !lab.card_running() {
            // The sink or the card died: the clients would only stall.
            cancel.store(true, Ordering::SeqCst);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let outcomes = clients::collect(handles);
    let duration = started.elapsed();

    // The card's FIN reached every finished client, so the sink released past
    // its FIN: everything is committed. Check each file against its sender.
    let results = verify(&lab.sink().clone(), &topo, &outcomes, opts.bytes);
    let stats_after = lab.card().stats();
    let sink_stats = lab.sink().stats();
    let card_report = lab.shutdown();
    if let Some(p) = problem {
        return Err(p);
    }
    let card_report = card_report?;
    let stats = stats_after.map(|s| s.delta_since(&stats_before))?;
    Ok(build_report(opts, topo, results, duration, stats, sink_stats, &card_report, &sink_dir))
}

/// Length and hex SHA-256 of a file (a sink file, to compare with what a client sent).
pub fn sha256_file(path: &Path) -> std::io::Result<(u64, String)> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut len = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        len += n as u64;
    }
    Ok((len, hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()))
}

fn verify(shared: &SinkShared, topo: &LabTopology, outcomes: &[ClientOutcome], bytes: u64) -> Vec<ConnResult> {
    // A client that saw the card's FIN is committed; give stragglers (a
    // failed client whose bytes still trickle in) a moment, not forever.
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let ledger = shared.ledger();
        let all = outcomes.iter().all(|o| ledger.by_peer(topo.client_ip, o.local_port).is_some_and(|r| r.fin_committed));
        if all || Instant::now() >= deadline {
            break;
        }
        drop(ledger);
        std::thread::sleep(Duration::from_millis(20));
    }
    let ledger = shared.ledger();
    outcomes
        .iter()
        .map(|o| {
            let rec = if o.local_port == 0 { None } else { ledger.by_peer(topo.client_ip, o.local_port) };
            let mut error = o.error.clone();
            let (delivered, sha_delivered, sink_file) = match rec {
                Some(r) => match sha256_file(&r.path) {
                    Ok((len, sha)) => (len, sha, Some(r.path.clone())),
                    Err(e) => {
                        error.get_or_insert(format!("reading sink file {}: {e}", r.path.display()));
                        (0, String::new(), Some(r.path.clone()))
                    }
                },
                None => {
                    error.get_or_insert("the sink never saw this connection".to_string());
                    (0, String::new(), None)
                }
            };
            let complete = o.error.is_none() && o.bytes_sent == bytes;
            ConnResult {
                index: o.index,
                client_port: o.local_port,
                bytes_sent: o.bytes_sent,
                bytes_delivered: delivered,
                sha256_sent: o.sha256.clone(),
                sha256_delivered: sha_delivered.clone(),
                sha256_match: complete && delivered == o.bytes_sent && sha_delivered == o.sha256,
                fin_committed: rec.is_some_and(|r| r.fin_committed),
                tcpi_bytes_acked: o.bytes_acked,
                linux_retransmits: o.total_retrans,
                reset: o.reset,
                elapsed_ms: o.elapsed_ms,
                sink_file,
                error,
            }
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn build_report(
    opts: &LabRunOptions,
    topology: LabTopology,
    clients: Vec<ConnResult>,
    duration: Duration,
    stats: Stats,
    sink: crate::sink::SinkStats,
    card: &CardReport,
    sink_dir: &Path,
) -> LabReport {
    let bytes_sent: u64 = clients.iter().map(|c| c.bytes_sent).sum();
    let bytes_delivered: u64 = clients.iter().map(|c| c.bytes_delivered).sum();
    let secs = duration.as_secs_f64().max(1e-9);
    let mut errors: Vec<String> =
        clients.iter().filter_map(|c| c.error.as_ref().map(|e| format!("client {}: {e}", c.index))).collect();
    if card.frames_out_dropped > 0 {
        errors.push(format!("the kernel refused {} frames the card sent", card.frames_out_dropped));
    }
    LabReport {
        conns: opts.conns,
        bytes_per_conn: opts.bytes,
        bytes_sent,
        bytes_delivered,
        sha256_match: clients.len() == opts.conns && clients.iter().all(|c| c.sha256_match),
        resets_seen: clients.iter().filter(|c| c.reset).count() as u64,
        goodput_mbps: bytes_delivered as f64 * 8.0 / secs / 1e6,
        duration_s: secs,
        seed: opts.seed,
        holdback: opts.holdback,
        topology,
        sink_dir: sink_dir.to_path_buf(),
        pcap: opts.pcap.clone(),
        clients,
        stats,
        sink,
        card: CardFigures::from(card),
        errors,
    }
}
