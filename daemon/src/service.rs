//! `holdback daemon --config FILE`: the card's service loop.
//!
//! Start order (each step only after the previous succeeded; a failure
//! undoes what was started and exits non-zero):
//! 1. the configuration was validated completely ([`crate::config::load`]);
//! 2. the control socket's lock is taken — a second daemon on the same
//!    socket stops here, before it touches a card;
//! 3. the HTTP endpoint's port is bound (`[metrics] listen`: `/metrics` and
//!    `/health`; a taken port fails here too);
//! 4. the card is opened (simulated on a TAP, or `vfio:` + ID-block check),
//!    its host memory attached (receive rings of `[dma] rx_ring_bytes` and
//!    the event queue), configured and enabled;
//! 5. the sink runs on its own thread: it follows the card's event records
//!    (the one event pump, [`EventPump`]), copies payload out of the
//!    receive rings in host memory, commits, and writes the release registers (`Sink::release_all`, the one place
//!    ACKs are allowed forward; the gates of claim 2 sit just before it);
//! 6. the control socket and the HTTP endpoint serve; the card's counters
//!    are read every second into 64-bit totals, and each such pass counts as
//!    the service loop's sign of life in `/health`.
//!
//! SIGTERM, SIGINT or a `shutdown` request stop it: the control socket is
//! removed, the sink stopped, the card disabled and closed; exit 0. The card
//! or the sink dying ends it with an error (exit 1).
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use holdback_driver::vfio::OpenCardError;
use holdback_driver::{Bar, CardError, CardHandle, OpenError};
#[cfg(feature = "sim")]
use holdback_sim::{
    card::{Card, CardConfig, CardReport, TapSpec},
    SimError,
};
use serde::{Deserialize, Serialize};
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::Notify;

use crate::config::{CardSpec, Config, TcpSettings};
use crate::events::EventPump;
use crate::control::{ControlServer, HandOver, PairStatus, Request, Response, ServeError, SocketLock, StatusReport};
use crate::http;
use crate::pair::decide::TakeOverRefusal;
use crate::pair::{self, EventSource, HandOverRequest, HandOverStep, Pair, PairError, PromoteRequest};
use crate::metrics::{self, CardCounters};
use crate::app::{AppContext, AppFactory, AppHost, Builtin, ReplicaGate, SinkShared, SinkStats};
use crate::sink::SinkError;

/// How often the card's 32-bit counters are folded into 64-bit totals, and
/// the card and sink checked for life. Must stay below the fastest wrap
/// (`rx_payload_bytes`: 2^32 bytes at 10 Gbit/s is 3.4 s).
pub const POLL_EVERY: Duration = Duration::from_secs(1);
/// Longest a switchover's hand-over waits for the standby to acknowledge
/// the final copies before the primary speaks again.
pub const HAND_OVER_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("control socket")]
    Control(#[from] ServeError),
    #[error("binding the metrics endpoint {addr}")]
    Metrics {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[cfg(feature = "sim")]
    #[error("starting the simulated card on TAP {tap}")]
    Sim {
        tap: String,
        #[source]
        source: SimError,
    },
    #[error("this holdback was built without the simulated card (cargo feature `sim`)")]
    NoSim,
    #[error("the simulated card's register map")]
    SimId(#[from] OpenError),
    #[error("opening card {spec}")]
    Vfio {
        spec: String,
        #[source]
        source: OpenCardError,
    },
    #[error("configuring and enabling the card")]
    Card(#[from] CardError),
    #[error("the application")]
    Sink(#[from] SinkError),
    #[error("failover pair")]
    Pair(#[from] PairError),
    #[error("the sink thread panicked")]
    SinkPanicked,
    #[error("the sink stopped while the daemon served")]
    SinkEnded,
    #[error("the simulated card stopped while serving")]
    CardStopped,
    #[cfg(feature = "sim")]
    #[error("the simulated card's clock thread")]
    SimShutdown(#[source] SimError),
    #[error("writing the simulated card's figures to {path}")]
    SimReport {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error(transparent)]
    Io(#[from] crate::error::IoError),
}

/// A stop request shared by the control handler (`shutdown`) and the serve
/// loop that awaits it.
#[derive(Debug, Default)]
pub struct StopSignal {
    requested: AtomicBool,
    notify: Notify,
}

impl StopSignal {
    pub fn request(&self) {
        self.requested.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }
    pub fn is_requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }
    pub async fn wait(&self) {
        let notified = self.notify.notified();
        tokio::pin!(notified);
        // Register before checking the flag, so a request in between is not lost.
        notified.as_mut().enable();
        if self.is_requested() {
            return;
        }
        notified.await;
    }
}

pub type Handler = dyn Fn(Request) -> Pin<Box<dyn std::future::Future<Output = Response> + Send>> + Send + Sync;

/// What the control handler of a pair member can do beyond a lone card:
/// report the pair and ask the serve loop to promote.
#[derive(Clone)]
pub struct PairHooks {
    pub status: Arc<dyn Fn(&SinkStats) -> PairStatus + Send + Sync>,
    pub promote: tokio::sync::mpsc::Sender<PromoteRequest>,
    /// The primary's half of a planned switchover (the serve loop owns the sink).
    pub hand_over: tokio::sync::mpsc::Sender<HandOverRequest>,
    /// The standby's half: may it take over on this hand-over?
    pub check_takeover: Arc<TakeOverCheck>,
}

/// [`PairHooks::check_takeover`]: `Pair::check_takeover` of the daemon's pair.
pub type TakeOverCheck = dyn Fn(&HandOver) -> Result<(), TakeOverRefusal> + Send + Sync;

/// Asks the serve loop to promote this standby; its answer as a response.
fn promote_via(p: &PairHooks) -> Response {
    let (tx, rx) = tokio::sync::oneshot::channel();
    if p.promote.blocking_send(tx).is_err() {
        return Response::error("the daemon is shutting down");
    }
    match rx.blocking_recv() {
        Ok(Ok(what)) => Response::Done { what },
        Ok(Err(e)) => Response::error(format!("promotion failed: {e}")),
        Err(_) => Response::error("the daemon is shutting down"),
    }
}

/// Asks the serve loop to carry out a hand-over step.
fn hand_over_via(p: &PairHooks, step: HandOverStep) -> Response {
    let (tx, rx) = tokio::sync::oneshot::channel();
    if p.hand_over.blocking_send((step, tx)).is_err() {
        return Response::error("the daemon is shutting down");
    }
    rx.blocking_recv().unwrap_or_else(|_| Response::error("the daemon is shutting down"))
}

/// The control-socket handler of a running card:
/// card reads run on a blocking thread (each is a bus round trip; on the
/// simulated card, a round trip to its clock thread).
pub fn control_handler<B: Bar + 'static>(
    events: Arc<EventPump<B>>,
    sink: SinkShared,
    stop: Arc<StopSignal>,
    pair: Option<PairHooks>,
) -> Box<Handler> {
    let started = Instant::now();
    Box::new(move |req: Request| {
        let (events, sink, stop, pair) = (events.clone(), sink.clone(), stop.clone(), pair.clone());
        Box::pin(async move {
            tokio::task::spawn_blocking(move || answer(req, &events, &sink, &stop, pair.as_ref(), started))
                .await
                .unwrap_or_else(|e| Response::error(format!("request handler failed: {e}")))
        })
    })
}

fn answer<B: Bar>(
    req: Request,
    events: &EventPump<B>,
    sink: &SinkShared,
    stop: &StopSignal,
    pair: Option<&PairHooks>,
    started: Instant,
) -> Response {
    let card = events.card();
    let result: Result<Response, CardError> = (|| {
        Ok(match req {
            Request::Status => Response::Status(StatusReport {
                daemon_version: env!("CARGO_PKG_VERSION").to_string(),
                pid: std::process::id(),
                uptime_ms: started.elapsed().as_millis() as u64,
                card: card.bar().describe(),
                info: *card.info(),
                status: card.status()?,
                rx_ring_bytes: card.rx_ring_bytes()?,
                release_paused: sink.is_paused(),
                pair: pair.map(|p| (p.status)(&sink.stats())),
            }),
            Request::Conns => {
                // The mirror as of the card's latest records.
                events.pump()?;
                Response::Conns(crate::tables::snapshot_conns(card)?)
            }
            Request::Stats => Response::Stats { stats: card.stats()? },
            Request::Sink => Response::Sink(crate::control::SinkReport { stats: sink.stats(), conns: sink.ledger().records().to_vec() }),
            Request::PauseRelease => {
                sink.set_paused(true);
                Response::Done { what: "release paused: the card holds ACKs at the last released point".into() }
            }
            Request::ResumeRelease => {
                sink.set_paused(false);
                Response::Done { what: "release resumed".into() }
            }
            Request::Shutdown => {
                stop.request();
                Response::Done { what: "shutting down".into() }
            }
            Request::Promote | Request::HandOver | Request::ResumeActive | Request::TakeOver { .. } => {
                let Some(p) = pair else {
                    return Ok(Response::error("this daemon is not part of a failover pair (no [replication] section)"));
                };
                match req {
                    Request::HandOver => hand_over_via(p, HandOverStep::HandOver),
                    Request::ResumeActive => hand_over_via(p, HandOverStep::Resume),
                    Request::TakeOver { handover } => match (p.check_takeover)(&handover) {
                        Ok(()) => promote_via(p),
                        Err(refusal) => Response::TakeOverRefused { refusal },
                    },
                    _ => promote_via(p),
                }
            }
        })
    })();
    result.unwrap_or_else(|e| Response::from_error(&e))
}

/// Run the daemon for `config` until a signal or a `shutdown` request,
/// with the built-in application `[app] kind` names.
pub fn run(config: &Config) -> Result<(), ServiceError> {
    run_with(config, &Builtin(config.app.kind))
}

/// Run the daemon for `config` with the application `app` makes (a
/// program of its own behind the card: docs/app.md). The daemon owns the
/// card, the pair and the gates; `app` is asked for a fresh application
/// whenever the daemon (re)starts it (at start, after a promotion).
pub fn run_with(config: &Config, app: &dyn AppFactory) -> Result<(), ServiceError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("holdback-daemon")
        .enable_all()
        .build()
        .map_err(|source| ServiceError::Io(crate::error::IoError { what: "starting the async runtime for", path: config.path.clone(), source }))?;
    let _enter = runtime.enter();
    // First, so a SIGTERM during the start is handled (not fatal) and acted
    // on as soon as the card is up.
    let signals = Signals::install()?;
    create_socket_dir(&config.socket)?;
    let lock = SocketLock::acquire(&config.socket)?;
    let metrics_listener = match config.metrics {
        Some(addr) => {
            let l = http::bind(addr).map_err(|source| ServiceError::Metrics { addr, source })?;
            Some(tokio::net::TcpListener::from_std(l).map_err(|source| ServiceError::Metrics { addr, source })?)
        }
        None => None,
    };
    let parts = Parts { lock, metrics_listener, signals };
    match &config.card {
        #[cfg(feature = "sim")]
        CardSpec::Sim(sim) => {
            let card = Card::start(CardConfig {
                tap: Some(TapSpec { name: sim.tap.clone(), netns: sim.netns.clone() }),
                pcap: sim.pcap.clone(),
                vcd: None,
                impair: sim.impair,
                host_mem_bytes: sim_host_memory_bytes(config.dma.rx_ring_bytes),
                ..CardConfig::default()
            })
            .map_err(|source| ServiceError::Sim { tap: sim.tap.clone(), source })?;
            let opened = CardHandle::open(holdback_driver::SimBar::new(card.regs())).map_err(ServiceError::from).and_then(|h| {
                h.attach_host_memory(&card.host_memory(), config.dma.rx_ring_bytes)?;
                Ok(h)
            });
            let handle = match opened {
                Ok(h) => Arc::new(h),
                Err(e) => {
                    let _ = card.shutdown();
                    return Err(e);
                }
            };
            let running = || card.is_running();
            let result = runtime.block_on(serve(config, app, handle, Some(&running), parts));
            let report = card.shutdown().map_err(ServiceError::SimShutdown);
            result?;
            let figures = CardFigures::from(&report?);
            tracing::info!(cycles = figures.cycles, frames_in = figures.frames_in, frames_out = figures.frames_out, "simulated card stopped");
            match &sim.report {
                Some(path) => write_figures(path, &figures),
                None => Ok(()),
            }
        }
        #[cfg(not(feature = "sim"))]
        CardSpec::Sim(_) => Err(ServiceError::NoSim),
        CardSpec::Vfio(_) => {
            let spec = config.card_spec();
            let handle = holdback_driver::vfio::open_card(&spec).map_err(|source| ServiceError::Vfio { spec, source })?;
            let alloc = holdback_driver::host_mem::VfioDmaAllocator { device: handle.bar().device(), iova: holdback_driver::vfio::CARD_DMA_IOVA };
            handle.attach_host_memory(&alloc, config.dma.rx_ring_bytes)?;
            // Dropped (unmapped, device closed) when serve returns, before the process exits.
            runtime.block_on(serve(config, app, Arc::new(handle), None, parts))
        }
    }
}

/// Host memory of the simulated card: its N receive rings of the largest
/// size and its event ring (the simulator's default window), and the N
/// transmit rings the driver places after the receive rings (as large as
/// those configured: `[dma] rx_ring_bytes`).
#[cfg(feature = "sim")]
fn sim_host_memory_bytes(rx_ring_bytes: u32) -> usize {
    // Every connection's receive and transmit ring at the configured size
    // (receive rings up to 1 MiB with window scaling, transmit rings up to
    // 64 KiB), and the event ring; untouched pages of the simulated memory
    // cost nothing.
    let tx_ring_bytes = rx_ring_bytes.min(1 << holdback_regmap::TX_RING_LOG2_MAX);
    holdback_sim::host_mem::DEFAULT_HOST_MEM_BYTES
        + holdback_regmap::CoreParams::DEFAULT.conns() * (rx_ring_bytes + tx_ring_bytes) as usize
}

/// The simulated card's own figures (`[sim] report`, and the lab's report).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct CardFigures {
    pub cycles: u64,
    /// Simulated cycles per second of wall time spent running (not sleeping).
    pub cycles_per_busy_second: f64,
    pub frames_in: u64,
    pub frames_out: u64,
    pub frames_out_dropped: u64,
    /// What `[sim] impair` did to frames arriving at the card.
    #[serde(default)]
    pub impaired_in: ImpairFigures,
    /// What `[sim] impair` did to frames the card sent.
    #[serde(default)]
    pub impaired_out: ImpairFigures,
    /// TCP payload bytes the card sent again (below the highest sequence
    /// number it had sent on the connection), counted before `[sim] impair`:
    /// against `impaired_out.dropped_payload_bytes`, what its loss recovery
    /// resent for what was lost.
    #[serde(default)]
    pub resent_payload_bytes: u64,
    pub reg_ops: u64,
    pub wall_s: f64,
    pub idle_wall_s: f64,
}

/// One direction of the simulated port's impairment: frames dropped, and
/// frames held back behind the next one.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ImpairFigures {
    pub dropped: u64,
    pub reordered: u64,
    /// TCP payload bytes of the dropped frames.
    #[serde(default)]
    pub dropped_payload_bytes: u64,
}

#[cfg(feature = "sim")]
impl From<holdback_sim::impair::ImpairCounts> for ImpairFigures {
    fn from(c: holdback_sim::impair::ImpairCounts) -> ImpairFigures {
        ImpairFigures { dropped: c.dropped, reordered: c.reordered, dropped_payload_bytes: c.dropped_payload_bytes }
    }
}

#[cfg(feature = "sim")]
impl From<&CardReport> for CardFigures {
    fn from(r: &CardReport) -> CardFigures {
        CardFigures {
            cycles: r.cycles,
            cycles_per_busy_second: r.cycles_per_busy_second(),
            frames_in: r.frames_in,
            frames_out: r.frames_out,
            frames_out_dropped: r.frames_out_dropped,
            impaired_in: r.impaired_in.into(),
            impaired_out: r.impaired_out.into(),
            resent_payload_bytes: r.resent_payload_bytes,
            reg_ops: r.reg_ops,
            wall_s: r.wall.as_secs_f64(),
            idle_wall_s: r.idle_wall.as_secs_f64(),
        }
    }
}

/// Writes `figures` to `path` (JSON), whole or not at all.
#[cfg(feature = "sim")]
fn write_figures(path: &Path, figures: &CardFigures) -> Result<(), ServiceError> {
    let text = serde_json::to_string_pretty(figures).map_err(|source| ServiceError::SimReport { path: path.to_path_buf(), source })?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, text).map_err(crate::error::io("writing", &tmp))?;
    std::fs::rename(&tmp, path).map_err(crate::error::io("renaming into place", path))?;
    Ok(())
}

/// What is set up before the card: lock, metrics port, signal streams.
struct Parts {
    lock: SocketLock,
    metrics_listener: Option<tokio::net::TcpListener>,
    signals: Signals,
}

struct Signals {
    term: Signal,
    int: Signal,
}

impl Signals {
    fn install() -> Result<Signals, ServiceError> {
        let io = |source| ServiceError::Io(crate::error::IoError { what: "installing signal handlers", path: PathBuf::new(), source });
        Ok(Signals { term: signal(SignalKind::terminate()).map_err(io)?, int: signal(SignalKind::interrupt()).map_err(io)? })
    }
    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}

/// The socket's directory (`/run/holdback/<name>`), mode 0700 when we create it.
fn create_socket_dir(socket: &Path) -> Result<(), ServiceError> {
    let Some(dir) = socket.parent() else { return Ok(()) };
    if dir.exists() {
        return Ok(());
    }
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| ServiceError::Io(crate::error::IoError { what: "creating the control socket's directory", path: dir.to_path_buf(), source }))
}

/// The application (the sink unless `[app]` says otherwise) on its thread.
struct SinkThread {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<(), SinkError>>>,
}

impl SinkThread {
    fn start<B: Bar + 'static>(
        events: &Arc<EventPump<B>>,
        config: &Config,
        app: &dyn AppFactory,
        shared: SinkShared,
        gate: Option<ReplicaGate>,
    ) -> Result<SinkThread, ServiceError> {
        let dir = &config.sink_dir;
        let application = app.make(&AppContext { config, shared: &shared })?;
        tracing::info!(app = application.name(), "application starts");
        let mut sink = AppHost::new(events, application, shared)?.with_port_gates(config.gates.clone(), config.host_port_gates());
        if let Some(gate) = gate {
            tracing::info!(wait_for_standby = gate.wait, hold_synack = gate.hold_synack, ship_data = gate.ship_data, after_data = gate.after_data,
                "the application's host ships TCB copies to the standby");
            sink = sink.with_replica_gate(gate);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("holdback-sink".into())
            .spawn(move || {
                let r = sink.run(&flag);
                if let Err(e) = &r {
                    tracing::error!(error = %crate::error::chain(e), "sink stopped");
                }
                r
            })
            .map_err(|source| ServiceError::Io(crate::error::IoError { what: "spawning the sink thread for", path: dir.to_path_buf(), source }))?;
        Ok(SinkThread { stop, thread: Some(thread) })
    }

    fn ended(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    fn stop(&mut self) -> Result<(), ServiceError> {
        self.stop.store(true, Ordering::SeqCst);
        match self.thread.take() {
            Some(t) => t.join().map_err(|_| ServiceError::SinkPanicked)?.map_err(ServiceError::from),
            None => Ok(()),
        }
    }
}

impl Drop for SinkThread {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            tracing::warn!(error = %crate::error::chain(&e), "sink ended with an error");
        }
    }
}

/// Why the serve loop ended.
enum End {
    Signal(&'static str),
    ShutdownRequest,
    Failed(ServiceError),
}

/// Whether the card holds every new connection's sending at its send
/// limit (SEND_HOLDBACK, invariant 9): in a pair, where the application
/// sends — the card sends only below the limit the host moves once the
/// standby holds the bytes (`AppHost`) — or relays. A relaying pair holds
/// every connection, the relayed ones with it: their server side takes the
/// default setting, their client side its relay slot's, which follows the
/// default (docs/relay.md, "Failover of both connections": the host raises
/// L once the standby stored it). Off, the card ignores L.
fn card_send_holdback(config: &Config, in_pair: bool) -> bool {
    in_pair && (config.app.kind.sends() || config.relays_fail_over())
}

async fn serve<B: Bar + 'static>(
    config: &Config,
    app: &dyn AppFactory,
    card: Arc<CardHandle<B>>,
    // Whether the simulated card's clock thread still runs (None: a real card).
    sim_running: Option<&dyn Fn() -> bool>,
    parts: Parts,
) -> Result<(), ServiceError> {
    let Parts { lock, metrics_listener, mut signals } = parts;
    let events = EventPump::new(card.clone());
    let c = card.clone();
    let (mut settings, tcp, relay) = (config.network.clone(), config.tcp, config.relay.clone());
    // Primary and standby alike: a promoted standby must accept the
    // cookies the primary sent (docs/syn-cookies.md).
    settings.cookie_keys = crate::syn_cookies::card_keys(config.replication.as_ref());
    blocking(move || {
        c.configure(&settings)?;
        // The relay slots beside the LISTEN slots `configure` wrote, before
        // the card is enabled: a relay port's first SYN already relays.
        c.set_relays(&settings.listen_ports, &relay, tcp.relay_connect_us)?;
        set_tcp_timers(&c, &tcp)
    })
    .await?;
    // A pair member takes its role before the card is enabled: a standby
    // card must never speak (CTRL.standby first), an active one holds its
    // SYN-ACKs for the standby from the first connection (at-setup).
    let (pair, pair_events) = match &config.replication {
        Some(r) => {
            let (p, ev) = Pair::start(events.clone(), r, config.role, config.network.ip, &config.authority, config.app.kind.sends(), config.network.timestamps, !config.relay.is_empty())
                .await?;
            (Some(p), Some(ev))
        }
        None => (None, None),
    };
    // The replica gate is set up for every gate some port has; the sink
    // then applies each connection's own (`[[listen]] gates`).
    let all_gates = config.all_gates();
    let hold_synack = pair.as_ref().is_some_and(|p| p.holds_synack(&all_gates));
    let send_holdback = card_send_holdback(config, pair.is_some());
    let c = card.clone();
    blocking(move || {
        c.set_hold_synack(hold_synack)?;
        c.set_send_holdback(send_holdback)?;
        c.enable()
    })
    .await?;
    let n = &config.network;
    tracing::info!(card = %card.bar().describe(), ip = %n.ip, ports = ?n.listen_ports, relay = ?config.relay, holdback = n.holdback,
        gates = ?config.gates, port_gates = ?config.port_gates, port_holdback = ?n.port_holdback, role = ?config.role,
        "card configured and enabled");

    let shared = SinkShared::default();
    let sink_gate = || pair.as_ref().and_then(|p| p.sink_gate(&all_gates));
    let mut sink = if pair.as_ref().is_none_or(|p| p.runs_sink()) {
        Some(SinkThread::start(&events, &config, app, shared.clone(), sink_gate())?)
    } else {
        None
    };
    let stop = Arc::new(StopSignal::default());
    let (promote_tx, mut promote_rx) = tokio::sync::mpsc::channel::<PromoteRequest>(4);
    let (hand_over_tx, mut hand_over_rx) = tokio::sync::mpsc::channel::<HandOverRequest>(4);
    let hooks = pair.as_ref().map(|p| {
        let (p, checking) = (p.clone(), p.clone());
        PairHooks {
            status: Arc::new(move |s: &SinkStats| p.status(s)),
            promote: promote_tx.clone(),
            hand_over: hand_over_tx.clone(),
            check_takeover: Arc::new(move |h: &HandOver| checking.check_takeover(h)),
        }
    });
    let mut event_tasks = Vec::new();
    if let (Some(p), Some(ev)) = (&pair, pair_events) {
        event_tasks.push(tokio::spawn(pair::run_events(p.clone(), ev.listener, EventSource::Listener, promote_tx.clone())));
        if let Some(primary) = ev.primary {
            event_tasks.push(tokio::spawn(pair::run_events(p.clone(), primary, EventSource::Primary, promote_tx.clone())));
        }
    }
    // `/health` asks the same status a control-socket client gets.
    let status_handler: Arc<Handler> = Arc::from(control_handler(events.clone(), shared.clone(), stop.clone(), hooks.clone()));
    let server =
        ControlServer::bind_locked(lock, &config.socket, control_handler(events.clone(), shared.clone(), stop.clone(), hooks)).await?;

    let counters = Arc::new(Mutex::new(CardCounters::default()));
    let started = Instant::now();
    // Milliseconds after `started` at which the service loop last ran.
    let loop_ran_ms = Arc::new(AtomicU64::new(0));
    let metrics_stop = Arc::new(Notify::new());
    let metrics_task = metrics_listener.map(|listener| {
        let (counters, shared, pair, card) = (counters.clone(), shared.clone(), pair.clone(), card.clone());
        let render = Arc::new(move || {
            let sink = shared.stats();
            metrics::render(&metrics::Snapshot {
                pair: pair.as_ref().map(|p| p.status(&sink)),
                counters: counters.lock().unwrap_or_else(|p| p.into_inner()).clone(),
                // The mirror as the event pump last left it (no bus access here).
                tcbs: card.open_connections().map(|c| c.into_iter().map(|(_, t)| t).collect()).unwrap_or_default(),
                sink,
                commit_latency: shared.commit_latency(),
                release_paused: shared.is_paused(),
                uptime: started.elapsed(),
            })
        });
        let loop_ran_ms = loop_ran_ms.clone();
        let health = Arc::new(move || -> http::HealthFuture {
            let (handler, loop_ran_ms) = (status_handler.clone(), loop_ran_ms.clone());
            Box::pin(async move { health_check(&*handler, &loop_ran_ms, started).await })
        });
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(%addr, "HTTP endpoint listening: /metrics, /health");
        }
        let stop = metrics_stop.clone();
        tokio::spawn(http::serve(listener, http::Endpoints { metrics: render, health }, async move { stop.notified().await }))
    });
    tracing::info!(socket = %config.socket.display(), pid = std::process::id(), "holdback daemon serving");

    let mut poll = tokio::time::interval(POLL_EVERY);
    let end = loop {
        tokio::select! {
            sig = signals.recv() => break End::Signal(sig),
            _ = stop.wait() => break End::ShutdownRequest,
            Some(reply) = promote_rx.recv() => {
                let Some(p) = pair.clone() else { continue };
                let (gates, promoting) = (all_gates.clone(), p.clone());
                let outcome = tokio::task::spawn_blocking(move || promoting.promote(&gates)).await;
                let answer = match outcome {
                    Ok(Ok(promotion)) => {
                        if let Some(ev) = promotion.link_events {
                            event_tasks.push(tokio::spawn(pair::run_events(p.clone(), ev, EventSource::Primary, promote_tx.clone())));
                        }
                        if sink.is_none() {
                            // The promoted card's sink resumes each connection
                            // at R and ships copies to a returning standby
                            // without waiting for it (degraded) until it is
                            // Replicating again.
                            match SinkThread::start(&events, &config, app, shared.clone(), sink_gate()) {
                                Ok(t) => sink = Some(t),
                                Err(e) => break End::Failed(e),
                            }
                        }
                        Ok(promotion.what)
                    }
                    Ok(Err(e)) => Err(crate::error::chain(&e)),
                    Err(e) => Err(format!("promotion task failed: {e}")),
                };
                let _ = reply.send(answer);
            }
            Some((step, reply)) = hand_over_rx.recv() => {
                // A planned switchover (`holdback switchover`), the
                // primary's half. The sink stops first: no release after
                // this point, so the final copies carry every last R.
                let Some(p) = pair.clone() else { continue };
                if step == HandOverStep::HandOver {
                    if let Some(mut old) = sink.take() {
                        if let Err(e) = old.stop() {
                            let _ = reply.send(Response::from_error(&e));
                            break End::Failed(e);
                        }
                    }
                }
                let stepping = p.clone();
                let answer = match tokio::task::spawn_blocking(move || match step {
                    HandOverStep::HandOver => stepping.hand_over(HAND_OVER_TIMEOUT).map(Response::HandedOver),
                    HandOverStep::Resume => stepping.resume_after_hand_over().map(|what| Response::Done { what }),
                })
                .await
                {
                    Ok(Ok(answer)) => answer,
                    Ok(Err(e)) => Response::from_error(&e),
                    Err(e) => Response::error(format!("hand-over task failed: {e}")),
                };
                // Still (or again) the primary, card speaking: release again.
                if sink.is_none() && p.runs_sink() {
                    match SinkThread::start(&events, &config, app, shared.clone(), sink_gate()) {
                        Ok(t) => sink = Some(t),
                        Err(e) => {
                            let _ = reply.send(answer);
                            break End::Failed(e);
                        }
                    }
                }
                let _ = reply.send(answer);
            }
            _ = standby_returned(pair.as_deref()) => {
                // A promoted daemon's returning standby is Replicating:
                // restart the sink with the configured gate, so releases
                // wait for its acknowledgement again (invariant 2). The new
                // sink resumes each connection at its released point; bytes
                // committed above it are rewritten at the same offsets.
                let Some(gate) = pair.as_ref().and_then(|p| p.end_degraded(&all_gates)) else { continue };
                let hold_synack = gate.hold_synack;
                if let Some(mut old) = sink.take() {
                    if let Err(e) = old.stop() {
                        break End::Failed(e);
                    }
                }
                let c = card.clone();
                if let Err(e) = blocking(move || c.set_hold_synack(hold_synack)).await {
                    break End::Failed(e.into());
                }
                match SinkThread::start(&events, &config, app, shared.clone(), Some(gate)) {
                    Ok(t) => sink = Some(t),
                    Err(e) => break End::Failed(e),
                }
            }
            _ = yielded(pair.as_deref()) => {
                // Another primary reached our listener and this daemon
                // yielded (card already silent, invariant 8): no sink on a
                // standby — the copies it takes now are the other
                // primary's — and no SYN-ACK holding until it promotes.
                let Some(p) = pair.clone() else { continue };
                if let Some(mut old) = sink.take() {
                    if let Err(e) = old.stop() {
                        break End::Failed(e);
                    }
                }
                let c = card.clone();
                if let Err(e) = blocking(move || c.set_hold_synack(false)).await {
                    break End::Failed(e.into());
                }
                if let Err(e) = blocking(move || p.rejoin_as_standby()).await {
                    tracing::error!(error = %crate::error::chain(&e), "could not clear the card for the other primary's copies: staying fenced (silent)");
                }
            }
            _ = poll.tick() => {
                if let Some(t) = sink.as_mut() {
                    if t.ended() {
                        break End::Failed(t.stop().err().unwrap_or(ServiceError::SinkEnded));
                    }
                }
                if sim_running.is_some_and(|running| !running()) {
                    break End::Failed(ServiceError::CardStopped);
                }
                // Keeps the event ring drained and the mirror current when
                // no sink pumps (a standby); a running sink pumps far more often.
                let pump = events.clone();
                if let Err(e) = blocking(move || pump.pump()).await {
                    break End::Failed(e.into());
                }
                let c = card.clone();
                match blocking(move || c.stats()).await {
                    Ok(stats) => counters.lock().unwrap_or_else(|p| p.into_inner()).update(&stats),
                    Err(e) => tracing::warn!(error = %crate::error::chain(&e), "reading the card's counters"),
                }
                loop_ran_ms.store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
            }
        }
    };
    match &end {
        End::Signal(sig) => tracing::info!(signal = sig, "stopping"),
        End::ShutdownRequest => tracing::info!("stopping on a shutdown request"),
        End::Failed(e) => tracing::error!(error = %crate::error::chain(e), "stopping after a failure"),
    }

    // Take the socket away first, so no client talks to a daemon going down.
    let served = server.shutdown().await;
    metrics_stop.notify_waiters();
    if let Some(t) = metrics_task {
        let _ = t.await;
    }
    for t in event_tasks {
        t.abort();
    }
    let sink_end = sink.as_mut().map_or(Ok(()), SinkThread::stop);
    let c = card.clone();
    let disabled = blocking(move || c.disable()).await;
    if let Err(e) = &disabled {
        tracing::warn!(error = %crate::error::chain(e), "disabling the card");
    }
    if let End::Failed(e) = end {
        return Err(e);
    }
    served?;
    sink_end?;
    disabled?;
    tracing::info!("holdback daemon stopped");
    Ok(())
}

/// `GET /health`: the status a control-socket client gets (the card read
/// over its bus on a blocking thread) and how long ago the service loop
/// last ran; serving only when both are fine.
async fn health_check(status: &Handler, loop_ran_ms: &AtomicU64, started: Instant) -> http::Health {
    let uptime_ms = started.elapsed().as_millis() as u64;
    let age_ms = uptime_ms.saturating_sub(loop_ran_ms.load(Ordering::Relaxed));
    let mut h = http::Health {
        serving: false,
        problem: None,
        role: None,
        epoch: None,
        card_enabled: false,
        service_loop_age_ms: age_ms,
        uptime_ms,
        pid: std::process::id(),
        daemon_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    h.problem = match tokio::time::timeout(http::LOOP_STALE_AFTER, status(Request::Status)).await {
        Err(_) => Some(format!("the card did not answer a status read within {:?}", http::LOOP_STALE_AFTER)),
        Ok(Response::Status(s)) => {
            h.card_enabled = s.status.ctrl.enabled;
            h.role = s.pair.as_ref().map(|p| p.role);
            h.epoch = s.pair.as_ref().map(|p| p.epoch);
            if Duration::from_millis(age_ms) >= http::LOOP_STALE_AFTER {
                Some(format!("the service loop has not run for {age_ms} ms"))
            } else if !h.card_enabled {
                Some("the card is not enabled".to_string())
            } else {
                None
            }
        }
        Ok(Response::Error { message, causes }) => Some(std::iter::once(message).chain(causes).collect::<Vec<_>>().join(": ")),
        Ok(other) => Some(format!("unexpected answer to a status request: {other:?}")),
    };
    h.serving = h.problem.is_none();
    h
}

/// Resolves when a promoted daemon's returning standby is Replicating;
/// never without a pair.
async fn standby_returned<B: Bar + 'static>(pair: Option<&Pair<B>>) {
    match pair {
        Some(p) => p.standby_returned().await,
        None => std::future::pending().await,
    }
}

/// Resolves when the pair member yielded to another primary; never
/// without a pair.
async fn yielded<B: Bar + 'static>(pair: Option<&Pair<B>>) {
    match pair {
        Some(p) => p.yielded().await,
        None => std::future::pending().await,
    }
}

/// Run a bus operation on a blocking thread. A panic there is re-raised
/// here; the runtime outlives every call, so the task is never cancelled.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, CardError> + Send + 'static) -> Result<T, CardError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("a blocking card operation was cancelled: {e}"),
    }
}

/// The card's connection timers (`[tcp]`), every one written at attach
/// (the defaults too), so a card that served under other settings before
/// this daemon started takes this file's.
fn set_tcp_timers<B: Bar>(card: &CardHandle<B>, t: &TcpSettings) -> Result<(), CardError> {
    if let Some(us) = t.rto_min_us {
        card.set_rto_min_us(us)?;
    }
    card.set_time_wait_us(t.time_wait_us)?;
    card.set_keepalive(t.keepalive_idle_us, t.keepalive_interval_us, t.keepalive_probes)?;
    card.set_idle_timeout_us(t.idle_timeout_us)?;
    tracing::info!(rto_min_us = ?t.rto_min_us, time_wait_us = t.time_wait_us, keepalive_idle_us = t.keepalive_idle_us,
        keepalive_interval_us = t.keepalive_interval_us, keepalive_probes = t.keepalive_probes,
        idle_timeout_us = t.idle_timeout_us, "connection timers set");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `[tcp]` timer lands in its own register, zeros (off) too: the
    /// registers start with a value no setting has, as a card that served
    /// under other settings would.
    #[test]
    fn the_tcp_timers_reach_their_registers() {
        use holdback_driver::regmap::{
            Reg, IDLE_TIMEOUT_US, KEEPALIVE_IDLE_US, KEEPALIVE_INTVL_US, KEEPALIVE_PROBES, RTO_MIN_US, TIME_WAIT_US,
        };
        const LEFT_OVER: u32 = 0xdead_beef;
        let fake = crate::testcard::FakeCard::new();
        let regs = [RTO_MIN_US, TIME_WAIT_US, KEEPALIVE_IDLE_US, KEEPALIVE_INTVL_US, KEEPALIVE_PROBES, IDLE_TIMEOUT_US];
        let read = |r: Reg| fake.bar.peek(r.offset);
        // No floor given: RTO_MIN_US keeps what `configure` wrote.
        for (rto_min_us, keepalive_idle_us, idle_timeout_us) in [(Some(200_000), 30_000_000, 0), (None, 0, 600_000_000)] {
            for r in regs {
                fake.bar.poke(r.offset, LEFT_OVER);
            }
            let tcp = TcpSettings {
                rto_min_us,
                time_wait_us: 2_000_000,
                keepalive_idle_us,
                keepalive_interval_us: 5_000_000,
                keepalive_probes: 4,
                idle_timeout_us,
                relay_connect_us: holdback_driver::regmap::RELAY_CONNECT_US_DEFAULT,
            };
            set_tcp_timers(&fake.card, &tcp).expect("timers written");
            let got = regs.map(read);
            let rto_min = rto_min_us.unwrap_or(LEFT_OVER);
            assert_eq!(got, [rto_min, 2_000_000, keepalive_idle_us, 5_000_000, 4, idle_timeout_us], "{tcp:?}");
        }
    }

    /// The relay mappings reach the relay registers of their listening
    /// slots (docs/relay.md, "Relay slots"), the other slots are cleared
    /// (a card that relayed before stops), and RELAY_CONNECT_US is the
    /// config's; without mappings every slot is cleared and the timeout
    /// left alone.
    #[test]
    fn the_relay_mappings_reach_their_slots_registers() {
        use holdback_driver::regmap::{RELAY_CONNECT_US, RELAY_ENABLE, RELAY_SLOTS};
        const LEFT_OVER: u32 = 0xdead_beef;
        let fake = crate::testcard::FakeCard::new();
        let text = "card = \"vfio:0000:03:00.0\"\n[network]\nmac = \"02:48:4c:44:42:02\"\nip = \"198.18.0.2\"\nlisten_ports = [5001]\n\
                    [[relay]]\nlisten = 8080\nbackend = \"198.18.0.3:80\"\nnext_hop_mac = \"02:00:00:00:0a:03\"\n\
                    [[relay]]\nlisten = 8081\nbackend = \"198.18.1.4:9000\"\nnext_hop_mac = \"02:00:00:00:0b:04\"\n\
                    [tcp]\nrelay_connect_ms = 1500\n";
        let config = crate::config::parse(Path::new("/etc/holdback/t.toml"), text).expect("a valid relay config");
        let regs = |i: usize| RELAY_SLOTS[i];
        let poke_all = |v: u32| {
            for s in RELAY_SLOTS {
                for r in [s.ip, s.port, s.mac_hi, s.mac_lo] {
                    fake.bar.poke(r.offset, v);
                }
            }
            fake.bar.poke(RELAY_CONNECT_US.offset, v);
        };
        poke_all(LEFT_OVER);
        fake.card.configure(&config.network).expect("configured");
        fake.card.set_relays(&config.network.listen_ports, &config.relay, config.tcp.relay_connect_us).expect("relays set");
        let slot = |i: usize| {
            let s = regs(i);
            [s.ip, s.port, s.mac_hi, s.mac_lo].map(|r| fake.bar.peek(r.offset))
        };
        assert_eq!(slot(0), [0; 4], "LISTEN0 (5001) is the application's: not relayed");
        assert_eq!(slot(1), [0xC612_0003, RELAY_ENABLE | 80, 0x0200, 0x0000_0a03], "LISTEN1 (8080)");
        assert_eq!(slot(2), [0xC612_0104, RELAY_ENABLE | 9000, 0x0200, 0x0000_0b04], "LISTEN2 (8081)");
        assert_eq!(slot(3), [0; 4], "an unused slot is cleared");
        assert_eq!(fake.bar.peek(RELAY_CONNECT_US.offset), 1_500_000);

        poke_all(LEFT_OVER);
        fake.card.set_relays(&[5001], &[], config.tcp.relay_connect_us).expect("no relays");
        for i in 0..4 {
            assert_eq!(slot(i), [0; 4], "slot {i} cleared");
        }
        assert_eq!(fake.bar.peek(RELAY_CONNECT_US.offset), LEFT_OVER, "no relay, the timeout is not written");
        let e = fake.card.set_relays(&[5001], &config.relay, 1).expect_err("a relay port that is no listening port");
        assert!(e.to_string().contains("invalid card settings"), "{e}");
    }

    /// SEND_HOLDBACK: on in a pair whose application sends or whose card
    /// relays, off otherwise; on is the default bit alone, so every
    /// listening slot (the relay slots' clients with them) and every
    /// server side follows it.
    #[test]
    fn send_holdback_holds_every_connection_of_a_relaying_pair() {
        use holdback_driver::regmap::{SEND_HOLDBACK, SEND_HOLDBACK_DEFAULT};
        let dir = std::env::temp_dir().join(format!("holdback-svc-holdback-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let secret = dir.join("s");
        std::fs::write(&secret, "0123456789abcdef0123").unwrap();
        let base = "card = \"vfio:0000:03:00.0\"\n[network]\nmac = \"02:48:4c:44:42:02\"\nip = \"198.18.0.2\"\nlisten_ports = [5001]\n";
        let pair = format!(
            "[replication]\nlisten = \"198.19.0.1:7400\"\npeer = \"198.19.0.2:7400\"\nsecret_file = \"{}\"\nreplicate = \"after-data\"\n",
            secret.display()
        );
        let relay = "[[relay]]\nlisten = 8080\nbackend = \"198.18.0.3:80\"\nnext_hop_mac = \"02:00:00:00:0a:03\"\n";
        let echo = "[app]\nkind = \"echo\"\n";
        let parse = |text: String| crate::config::parse(Path::new("/etc/holdback/t.toml"), &text).expect("a valid config");
        for (text, in_pair, on) in [
            (format!("{base}{relay}{pair}"), true, true),
            (format!("{base}{relay}"), false, false),
            (format!("{base}{pair}"), true, false),
            (format!("{base}{echo}{pair}"), true, true),
            (format!("{base}{echo}"), false, false),
        ] {
            assert_eq!(card_send_holdback(&parse(text.clone()), in_pair), on, "{text}");
        }
        let _ = std::fs::remove_dir_all(&dir);
        let fake = crate::testcard::FakeCard::new();
        fake.card.set_send_holdback(true).expect("written");
        assert_eq!(fake.bar.peek(SEND_HOLDBACK.offset), SEND_HOLDBACK_DEFAULT, "the default bit, no slot with a setting of its own");
    }

    #[tokio::test]
    async fn a_stop_request_wakes_a_waiter_before_or_after_it_waits() {
        let early = StopSignal::default();
        early.request();
        tokio::time::timeout(Duration::from_secs(1), early.wait()).await.expect("already requested");

        let late = Arc::new(StopSignal::default());
        let waiter = tokio::spawn({
            let late = late.clone();
            async move { late.wait().await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        late.request();
        tokio::time::timeout(Duration::from_secs(1), waiter).await.expect("woken").unwrap();
    }

    #[tokio::test]
    async fn health_serves_only_with_a_running_loop_and_an_enabled_card() {
        let card = crate::testcard::FakeCard::new().card;
        let handler = control_handler(EventPump::new(card.clone()), SinkShared::default(), Arc::new(StopSignal::default()), None);
        let (started, loop_ran_ms) = (Instant::now(), AtomicU64::new(0));
        let h = health_check(&*handler, &loop_ran_ms, started).await;
        assert!(!h.serving && !h.card_enabled && h.problem.as_deref() == Some("the card is not enabled"), "{h:?}");
        card.enable().unwrap();
        let h = health_check(&*handler, &loop_ran_ms, started).await;
        assert!(h.serving && h.card_enabled && h.problem.is_none(), "{h:?}");
        assert_eq!((h.role, h.epoch), (None, None), "a lone card has no pair role");
        let long_ago = Instant::now().checked_sub(http::LOOP_STALE_AFTER + Duration::from_millis(50)).expect("uptime");
        let h = health_check(&*handler, &AtomicU64::new(0), long_ago).await;
        assert!(!h.serving && h.problem.as_deref().is_some_and(|p| p.contains("service loop has not run")), "{h:?}");
    }

    #[tokio::test]
    async fn the_shared_handler_answers_from_the_card_and_the_sink() {
        let card = crate::testcard::FakeCard::new().card;
        card.enable().unwrap();
        let (sink, stop) = (SinkShared::default(), Arc::new(StopSignal::default()));
        let handler = control_handler(EventPump::new(card.clone()), sink.clone(), stop.clone(), None);
        match handler(Request::Status).await {
            Response::Status(s) => {
                assert!(s.status.ctrl.enabled && !s.release_paused);
                assert_eq!(s.pid, std::process::id());
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(handler(Request::Conns).await, Response::Conns(c) if c.conns.is_empty()));
        assert!(matches!(handler(Request::Stats).await, Response::Stats { .. }));
        assert!(matches!(handler(Request::Sink).await, Response::Sink(s) if s.conns.is_empty() && s.stats.commits == 0));
        assert!(matches!(handler(Request::PauseRelease).await, Response::Done { .. }));
        assert!(sink.is_paused());
        assert!(matches!(handler(Request::ResumeRelease).await, Response::Done { .. }));
        assert!(!sink.is_paused());
        assert!(!stop.is_requested());
        assert!(matches!(handler(Request::Shutdown).await, Response::Done { .. }));
        assert!(stop.is_requested());
    }
}
