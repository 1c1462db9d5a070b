//! `holdback lab`: the whole system on one machine. Namespaces and a bridge
//! ([`netns`]), a `holdback daemon` running the simulated card on a TAP and
//! its sink ([`daemon`]: the same service an operator runs, from a
//! generated config), and Linux TCP clients ([`clients`]); then the check
//! that every byte the clients sent is in the sink's files. [`pair`] runs
//! two daemons (failover), [`relay`] the card as a relay between a client
//! and a server namespace, [`relay_failover`] a relaying pair through a
//! failover, [`chaos`] the pair under etcd through seeded faults, [`up`]
//! leaves one running. [`progress`] shows a run on a terminal, [`plot`]
//! draws it (`--plot`).
#[cfg(feature = "verilog")]
pub mod bench;
pub mod capture;
pub mod chaos;
pub mod clients;
pub mod daemon;
pub mod flood;
pub mod netns;
pub mod pair;
pub mod plot;
pub mod progress;
pub mod relay;
pub mod relay_failover;
pub mod report;
pub mod servers;
pub mod up;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use holdback_driver::Stats;
use sha2::{Digest, Sha256};

use crate::app::AppKind;
use crate::control::{client, Request, Response, SinkReport};
use crate::error::io;
use crate::sink::{Ledger, SinkStats};
use clients::{ClientOutcome, ClientPlan};
use daemon::{card_config, write_config, CardPlan, DaemonProcess};
use netns::{LabNet, LabTopology, NetnsError};
use progress::{Phase, Progress};
use report::{CardFigures, ConnResult, LabReport};

pub use crate::cli::LAB_PORT as DEFAULT_PORT;

/// How long the lab's daemon gets to exit after SIGTERM (its sink finishes,
/// its card stops and writes its figures).
pub(crate) const STOP_GRACE: Duration = Duration::from_secs(20);

#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("lab network")]
    Net(#[from] NetnsError),
    #[error("--impair")]
    Impair(#[from] holdback_sim::impair::ImpairmentError),
    #[error("asking the lab's daemon")]
    Control(#[from] client::ClientError),
    #[error("the {name} daemon {what}; its log {log}:\n{tail}")]
    Daemon { name: &'static str, what: String, log: PathBuf, tail: String },
    #[error("the {name} daemon: {what}")]
    Pair { name: &'static str, what: String },
    #[error("the card's figures {path}")]
    Figures {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("--plot")]
    Plot(#[from] plot::PlotError),
    #[error("reading the card's capture for --plot")]
    Capture(#[from] capture::CaptureError),
    #[error("--syn-flood")]
    Flood(#[from] flood::FloodError),
    #[error("the relay lab's servers or clients")]
    Servers(#[source] Box<servers::ServersError>),
    #[error("{0} is not taken by this lab")]
    NotTaken(&'static str),
    #[error("interrupted (Ctrl-C or SIGTERM); the lab was torn down")]
    Interrupted,
    #[error(transparent)]
    Io(#[from] crate::error::IoError),
}

/// A signal asked us to stop (see [`crate::sys::install_stop_signals`]):
/// the lab polls it, so it can tear the namespaces down instead of dying
/// with them in place.
pub use crate::sys::stop_requested as interrupted;

/// What `holdback lab` runs.
#[derive(Clone, Debug)]
pub struct LabRunOptions {
    pub conns: usize,
    pub bytes: u64,
    pub seed: u64,
    pub holdback: bool,
    /// tc netem arguments for the clients' link (`--netem`).
    pub netem: Option<String>,
    /// Seeded loss/reordering of frames at the card's port (`--impair`,
    /// `dir in|out|both`), seeded from `seed` unless it names its own.
    pub impair: Option<String>,
    pub pcap: Option<PathBuf>,
    /// Keep the sink files here (default: in a temporary work directory,
    /// removed after a passing run).
    pub sink_dir: Option<PathBuf>,
    /// A client making no progress this long fails.
    pub stall_timeout: Duration,
    /// The `holdback` binary the daemon runs; None: this process's own
    /// executable (right for the CLI; a test passes the built binary).
    pub holdback_exe: Option<PathBuf>,
    /// Draw the run (goodput, held-back bytes) to this SVG file.
    pub plot: Option<PathBuf>,
    pub progress: Progress,
    /// Window scaling: the card's receive rings, bytes (`--rx-ring-bytes`).
    pub rx_ring_bytes: u32,
    /// Out-of-order reassembly on the card (`--reassembly`).
    pub reassembly: bool,
    /// SACK on the card (`[network] sack`; only with reassembly).
    pub sack: bool,
    /// TCP timestamps on the card (`[network] timestamps`, RFC 7323).
    pub timestamps: bool,
    /// A SYN flood of this many SYNs per second while the clients stream
    /// (`--syn-flood`, [`flood`]).
    pub syn_flood: Option<u32>,
    /// SYN cookies on the card from this half-open count (`--syn-cookies`,
    /// `[network] syn_cookies`); None: off.
    pub syn_cookies: Option<u16>,
    /// The application behind the card (`--app`): with `echo` the clients
    /// read their stream back and the check compares it both ways.
    pub app: AppKind,
}

impl Default for LabRunOptions {
    fn default() -> Self {
        LabRunOptions {
            conns: 4,
            bytes: 1 << 20,
            seed: 1,
            holdback: true,
            netem: None,
            impair: None,
            pcap: None,
            sink_dir: None,
            stall_timeout: Duration::from_secs(30),
            holdback_exe: None,
            plot: None,
            progress: Progress::hidden(),
            rx_ring_bytes: holdback_driver::DEFAULT_RX_RING_BYTES,
            reassembly: true,
            sack: false,
            timestamps: false,
            syn_flood: None,
            syn_cookies: None,
            app: AppKind::Sink,
        }
    }
}

static RUN_COUNTER: AtomicU32 = AtomicU32::new(0);

fn temp_work_dir() -> PathBuf {
    std::env::temp_dir().join(format!("holdback-lab-{}-{}", std::process::id(), RUN_COUNTER.fetch_add(1, Ordering::Relaxed)))
}

/// Runs a lab in the directory `given`, or in a new one under the system's
/// temporary directory named after `what`. A directory the caller did not
/// give is removed after a run that `passed`, and kept for inspection
/// otherwise. Returns the run's result and the directory if it is kept.
pub(crate) fn run_in_work_dir<R>(
    given: Option<PathBuf>,
    what: &str,
    passed: impl Fn(&R) -> bool,
    run: impl FnOnce(&Path) -> Result<R, LabError>,
) -> (Result<R, LabError>, Option<PathBuf>) {
    let chosen = given.is_some();
    let work = given.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("holdback-{what}-{}-{}", std::process::id(), RUN_COUNTER.fetch_add(1, Ordering::Relaxed)))
    });
    let result = run(&work);
    let keep = chosen || result.as_ref().map_or(true, |r| !passed(r));
    if !keep {
        if let Err(e) = std::fs::remove_dir_all(&work) {
            tracing::warn!(dir = %work.display(), error = %e, "could not remove the {what} work directory");
        }
    }
    (result, keep.then_some(work))
}

/// Runs one lab: N clients × SIZE bytes through the card into the sink, then
/// verifies every file. Teardown happens on every path (also on error and
/// on Ctrl-C, via [`crate::sys::install_stop_signals`]).
pub fn run_lab(opts: &LabRunOptions) -> Result<LabReport, LabError> {
    let work = temp_work_dir();
    let sink_dir = opts.sink_dir.clone().unwrap_or_else(|| work.join("sink"));
    opts.progress.phase(Phase::Starting);
    let mut result = run_lab_into(opts, &work, &sink_dir);
    opts.progress.finish();
    // The work directory (config, daemon log, sink files unless kept
    // elsewhere) survives a run that failed its checks or its daemon, for
    // inspection; the report or the error names it.
    let keep = match &result {
        Ok(r) => !r.passed(),
        Err(LabError::Interrupted) => false,
        // Refused before anything was written there (the lab network or
        // netem): nothing to inspect.
        Err(_) => work.read_dir().is_ok_and(|mut entries| entries.next().is_some()),
    };
    if !keep && work.exists() {
        if let Err(e) = std::fs::remove_dir_all(&work) {
            tracing::warn!(dir = %work.display(), error = %e, "could not remove the lab's work directory");
        }
    }
    if let Ok(report) = &mut result {
        report.kept_work_dir = keep.then_some(work);
    }
    result
}

fn run_lab_into(opts: &LabRunOptions, work: &Path, sink_dir: &Path) -> Result<LabReport, LabError> {
    tracing::info!(conns = opts.conns, bytes = opts.bytes, seed = opts.seed, holdback = opts.holdback, app = opts.app.name(),
        sink_dir = %sink_dir.display(), work = %work.display(), "lab run");
    // A bad --impair is refused before anything is set up.
    let impair = opts.impair.as_deref().map(|i| impairment(i, opts.seed)).transpose()?;
    std::fs::create_dir_all(work).map_err(io("creating", work))?;
    let net = LabNet::create(LabTopology::unique("run"))?;
    let topo = net.topology().clone();
    if let Some(netem) = &opts.netem {
        netns::add_netem(&topo, netem)?;
    }
    let figures_file = work.join("card.json");
    // The plot is drawn from the capture: the one asked for, or one of our own.
    let capture = opts.pcap.clone().or_else(|| opts.plot.as_ref().map(|_| work.join("card.pcap")));
    let card = CardPlan {
        topo: &topo,
        tap: &topo.tap,
        port: DEFAULT_PORT,
        holdback: opts.holdback,
        port_holdback: Vec::new(),
        pcap: capture.clone(),
        impair,
        report: Some(figures_file.clone()),
        rx_ring_bytes: opts.rx_ring_bytes,
        reassembly: opts.reassembly,
        sack: opts.sack,
        timestamps: opts.timestamps,
        syn_cookies: opts.syn_cookies,
        app: opts.app,
    };
    let config = card_config(work.join("card.toml"), work.join("control.sock"), sink_dir.to_path_buf(), &card);
    write_config(&config, "`holdback lab` for its card")?;
    let mut daemon = DaemonProcess::start_ready("card", opts.holdback_exe.as_deref(), &topo.card_ns, &config, &work.join("daemon.log"))?;
    let stats_before = card_stats(&daemon)?;

    let plan = ClientPlan {
        target: std::net::SocketAddrV4::new(topo.card_ip, DEFAULT_PORT),
        bytes: opts.bytes,
        seed: opts.seed,
        stall_timeout: opts.stall_timeout,
    };
    let cancel = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    opts.progress.set_total(opts.bytes * opts.conns as u64);
    opts.progress.phase(Phase::Sending);
    let started = Instant::now();
    let mode = clients::ClientMode::for_app(opts.app);
    let handles = clients::spawn_clients(&topo.client_ns, opts.conns, &plan, mode, cancel.clone(), sent.clone());
    // The flood starts once the clients are connected, and a late client
    // tries its luck a second into it.
    let flood = match opts.syn_flood {
        Some(pps) => {
            clients::wait_connected(&handles, opts.stall_timeout);
            let flood = flood::SynFlood::start(&topo, DEFAULT_PORT, pps);
            if flood.is_err() {
                cancel.store(true, Ordering::SeqCst);
            }
            Some(flood)
        }
        None => None,
    };
    let late_client = match &flood {
        Some(Ok(_)) => {
            std::thread::sleep(Duration::from_secs(1));
            Some(flood::late_connect(&topo.client_ns, plan.target, opts.stall_timeout))
        }
        _ => None,
    };
    let mut problem: Option<LabError> = None;
    while !handles.iter().all(|h| h.is_finished()) {
        opts.progress.sent(sent.load(Ordering::Relaxed));
        if interrupted() {
            cancel.store(true, Ordering::SeqCst);
            problem.get_or_insert(LabError::Interrupted);
        }
        if !daemon.is_running() {
            // The card or its sink died: the clients would only stall.
            cancel.store(true, Ordering::SeqCst);
            problem.get_or_insert_with(|| daemon.died("stopped while the clients sent".into()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let peak_open = clients::peak_open(&handles);
    let outcomes = clients::collect(handles);
    let duration = started.elapsed();
    let flood = flood.map(|f| f.and_then(|f| f.stop(late_client.transpose()?)));
    log_failed_conns(&daemon, &outcomes);
    if let Some(p) = problem {
        return Err(p);
    }
    let syn_flood = flood.transpose()?;
    opts.progress.sent(sent.load(Ordering::Relaxed));
    opts.progress.phase(Phase::Verifying);

    // The card's FIN reached every finished client, so the sink released past
    // its FIN: everything is committed. Check each file against its sender.
    let (results, sink) = verify(&daemon, topo.client_ip, &outcomes, opts.bytes, opts.app)?;
    let stats_after = card_stats(&daemon)?;
    match daemon.stop(STOP_GRACE) {
        Some(status) if status.success() => {}
        other => return Err(daemon.died(format!("did not exit cleanly on SIGTERM ({other:?})"))),
    }
    let text = std::fs::read_to_string(&figures_file).map_err(io("reading the card's figures from", &figures_file))?;
    let card: CardFigures = serde_json::from_str(&text).map_err(|source| LabError::Figures { path: figures_file, source })?;
    // The Linux clients' own count of segments they sent again (a fresh
    // namespace counts from zero).
    let client_retrans_segs = client_nstat(&topo.client_ns, "TcpRetransSegs");
    // SACK: the clients' loss recoveries driven by our SACK blocks.
    let client_sack_recoveries = client_nstat(&topo.client_ns, "TcpExtTCPSackRecovery");
    // D-SACK: the blocks Linux recognised (docs/engine.md, "D-SACK").
    let client_dsacks_recv = client_nstat(&topo.client_ns, "TcpExtTCPDSACKRecv")
        .zip(client_nstat(&topo.client_ns, "TcpExtTCPDSACKOfoRecv"))
        .map(|(below, inside)| below + inside);
    let client_paws_drops = client_paws_drops(&topo.client_ns);
    drop(net);
    let mut report = build_report(opts, topo, results, duration, stats_after.delta_since(&stats_before), sink, &card, sink_dir);
    report.peak_open_conns = peak_open;
    report.client_retrans_segs = client_retrans_segs;
    report.client_sack_recoveries = client_sack_recoveries;
    report.client_dsacks_recv = client_dsacks_recv;
    report.client_paws_drops = client_paws_drops;
    report.syn_flood = syn_flood;
    if let (Some(path), Some(capture)) = (&opts.plot, &capture) {
        opts.progress.phase(Phase::Plotting);
        let (frames, _) = capture::read_frames(capture, report.topology.card_mac)?;
        plot::plot_single(path, &report, &frames, capture)?;
    }
    Ok(report)
}

/// Counter `name` of namespace `ns` (`nstat -az`), or None (logged) when
/// nstat is missing or says something else.
/// Segments the Linux peers in `ns` dropped by PAWS or for a TSecr they
/// never sent (RFC 7323 §5.3; `nstat` TcpExtPAWSEstab, PAWSActive,
/// PAWSOldAck, PAWSTimewait and TSEcrRejected): what a TSval going back, or a
/// bad echo, costs. None if nstat did not answer for all of them.
pub(crate) fn client_paws_drops(ns: &str) -> Option<u64> {
    ["TcpExtPAWSEstab", "TcpExtPAWSActive", "TcpExtPAWSOldAck", "TcpExtPAWSTimewait", "TcpExtTSEcrRejected"]
        .iter()
        .map(|name| client_nstat(ns, name))
        .sum()
}

pub(crate) fn client_nstat(ns: &str, name: &str) -> Option<u64> {
    let out = match std::process::Command::new("ip").args(["netns", "exec", ns, "nstat", "-az", name]).output() {
        Ok(o) if o.status.success() => o,
        Ok(o) => {
            tracing::warn!(ns, stderr = %String::from_utf8_lossy(&o.stderr), "nstat failed (iproute2 provides it)");
            return None;
        }
        Err(e) => {
            tracing::warn!(ns, error = %e, "could not run nstat (iproute2 provides it)");
            return None;
        }
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let count = text.lines().find_map(|l| {
        let mut f = l.split_whitespace();
        (f.next() == Some(name)).then(|| f.next()?.parse().ok()).flatten()
    });
    if count.is_none() {
        tracing::warn!(ns, name, output = %text, "counter not in nstat's output");
    }
    count
}

/// A client that failed is logged with the card's own TCB of its
/// connection (the clients see only their side: TCP_INFO), so a stall can be
/// placed on the card's send or receive side from the log alone.
pub(crate) fn log_failed_conns<'a>(daemon: &DaemonProcess, outcomes: impl IntoIterator<Item = &'a ClientOutcome>) {
    let failed: Vec<&ClientOutcome> = outcomes.into_iter().filter(|o| o.error.is_some()).collect();
    if failed.is_empty() {
        return;
    }
    let conns = match client::call(&daemon.socket, &Request::Conns) {
        Ok(Response::Conns(report)) => report.conns,
        Ok(other) => {
            tracing::warn!(answer = ?other, "the card's daemon answered a conns request with something else");
            return;
        }
        Err(e) => {
            tracing::warn!(error = %crate::error::chain(&e), "could not read the card's connections of the failed clients");
            return;
        }
    };
    let card = daemon.name;
    for o in failed {
        match conns.iter().find(|c| c.tcb.remote_port == o.local_port) {
            Some(c) => tracing::warn!(card, client = o.index, port = o.local_port, id = c.id, tcb = ?c.tcb, "a failed client's connection on the card"),
            None => tracing::warn!(card, client = o.index, port = o.local_port, "a failed client has no connection on the card"),
        }
    }
}

/// The card's counters, from its daemon.
pub(crate) fn card_stats(daemon: &DaemonProcess) -> Result<Stats, LabError> {
    match client::call(&daemon.socket, &Request::Stats)? {
        Response::Stats { stats } => Ok(stats),
        other => Err(LabError::Pair { name: daemon.name, what: format!("answered a stats request with {other:?}") }),
    }
}

/// The sink's counters and connection records, from its daemon.
fn sink_report(daemon: &DaemonProcess) -> Result<SinkReport, LabError> {
    match client::call(&daemon.socket, &Request::Sink)? {
        Response::Sink(r) => Ok(r),
        other => Err(LabError::Pair { name: daemon.name, what: format!("answered a sink request with {other:?}") }),
    }
}

/// `--impair` text as the card takes it: seeded from the run's seed unless
/// it names its own ("loss 1% seed 7").
pub fn impairment(text: &str, seed: u64) -> Result<holdback_sim::impair::Impairment, holdback_sim::impair::ImpairmentError> {
    if text.split_whitespace().any(|w| w == "seed") {
        text.parse()
    } else {
        format!("{text} seed {seed}").parse()
    }
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

fn verify(
    daemon: &DaemonProcess,
    client_ip: Ipv4Addr,
    outcomes: &[ClientOutcome],
    bytes: u64,
    app: AppKind,
) -> Result<(Vec<ConnResult>, SinkStats), LabError> {
    // A client that saw the card's FIN is committed; give stragglers (a
    // failed client whose bytes still trickle in) a moment, not forever.
    let deadline = Instant::now() + Duration::from_secs(2);
    let (ledger, sink) = loop {
        let report = sink_report(daemon)?;
        let ledger = Ledger::from(report.conns);
        let all = outcomes.iter().all(|o| ledger.by_peer(client_ip, o.local_port).is_some_and(|r| r.fin_committed));
        if all || Instant::now() >= deadline {
            break (ledger, report.stats);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let results = outcomes
        .iter()
        .map(|o| {
            let rec = if o.local_port == 0 { None } else { ledger.by_peer(client_ip, o.local_port) };
            let mut error = o.error.clone();
            let (delivered, sha_delivered, sink_file) = match (rec, app) {
                (Some(r), AppKind::Sink) => match sha256_file(&r.path) {
                    Ok((len, sha)) => (len, sha, Some(r.path.clone())),
                    Err(e) => {
                        error.get_or_insert(format!("reading sink file {}: {e}", r.path.display()));
                        (0, String::new(), Some(r.path.clone()))
                    }
                },
                // The echo keeps no file: what it received is what it
                // committed, and the stream came back to the client.
                (Some(r), AppKind::Echo) => (r.committed, String::new(), None),
                (None, _) => {
                    error.get_or_insert("the application never saw this connection".to_string());
                    (0, String::new(), None)
                }
            };
            let complete = o.error.is_none() && o.bytes_sent == bytes;
            // Both ways for the echo: the card took every byte sent, and
            // every byte came back unchanged.
            let echo_match = (app == AppKind::Echo)
                .then(|| delivered == o.bytes_sent && o.bytes_echoed == o.bytes_sent && o.sha256_echoed.as_deref() == Some(&o.sha256));
            let sha_delivered = match app {
                AppKind::Sink => sha_delivered,
                AppKind::Echo => o.sha256_echoed.clone().unwrap_or_default(),
            };
            ConnResult {
                index: o.index,
                client_port: o.local_port,
                bytes_sent: o.bytes_sent,
                bytes_delivered: delivered,
                sha256_sent: o.sha256.clone(),
                sha256_delivered: sha_delivered.clone(),
                sha256_match: complete
                    && echo_match.unwrap_or(delivered == o.bytes_sent && sha_delivered == o.sha256),
                fin_committed: rec.is_some_and(|r| r.fin_committed),
                tcpi_bytes_acked: o.bytes_acked,
                linux_retransmits: o.total_retrans,
                reset: o.reset,
                elapsed_ms: o.elapsed_ms,
                sink_file,
                error,
                bytes_echoed: o.sha256_echoed.as_ref().map(|_| o.bytes_echoed),
                sha256_echoed: o.sha256_echoed.clone(),
            }
        })
        .collect();
    Ok((results, sink))
}


#[allow(clippy::too_many_arguments)]
fn build_report(
    opts: &LabRunOptions,
    topology: LabTopology,
    clients: Vec<ConnResult>,
    duration: Duration,
    stats: Stats,
    sink: SinkStats,
    card: &CardFigures,
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
        netem: opts.netem.clone(),
        impair: opts.impair.clone(),
        topology,
        sink_dir: sink_dir.to_path_buf(),
        pcap: opts.pcap.clone(),
        clients,
        stats,
        sink,
        card: card.clone(),
        errors,
        peak_open_conns: 0,
        app: opts.app,
        reassembly: opts.reassembly,
        sack: opts.reassembly && opts.sack,
        timestamps: opts.timestamps,
        client_paws_drops: None,
        syn_flood: None,
        syn_cookies: opts.syn_cookies,
        client_retrans_segs: None,
        client_sack_recoveries: None,
        client_dsacks_recv: None,
        kept_work_dir: None,
    }
}
