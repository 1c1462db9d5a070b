//! `holdback lab --chaos N [--chaos-seed S]`: the pair under the etcd
//! authority (docs/authority.md) while seeded faults hit whichever node is
//! active. The lab starts a real etcd member in a namespace of its own
//! ([`EtcdLab`]), runs the pair with Linux clients streaming in waves (a
//! new wave when one ends, so traffic spans every fault) into one store
//! both daemons share, and does N faults, each only once the pair is
//! Replicating again after the last (a fault while degraded loses by
//! design):
//!
//! - **kill**: SIGKILL; the node restarts with its unchanged config,
//!   rejoins as standby and resyncs;
//! - **hang**: every daemon thread stopped with ptrace but its card's
//!   ([`Hung`]), which must fall silent by itself when its lease runs out;
//! - **etcd cut**: its link to etcd cut — heard by its standby, it keeps
//!   serving on the standby's promises, nothing moves;
//! - **replication cut**: the replication link cut with both nodes alive —
//!   the standby takes over, the old node must stop first.
//!
//! The verdict ([`ChaosReport`]): bytes lost, duplicated and resets over
//! the whole run, and per fault kind, from both cards' captures, the
//! longest time two cards answered for the service address at once,
//! against its stated bound (0: docs/authority.md, The bounds).
mod etcd;
mod hang;

pub use etcd::{require_etcd, EtcdLab, EtcdLabError, ETCD_TO_PRIMARY, ETCD_TO_STANDBY};
pub use hang::{HangError, Hung, CARD_THREAD};

use std::net::SocketAddrV4;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::app::AppKind;
use crate::config::{Gate, ReplicateMode, StoreMode, SyncMode};
use crate::control::{client, PairLink, PairRole, PairStatus, Request, Response};
use crate::lab::capture::CaptureError;
use crate::lab::clients::{self, ClientHandle, ClientOutcome, ClientPlan};
use crate::lab::daemon::DaemonProcess;
use crate::lab::netns::{self, LabNet, LabTopology, NetnsError};
use crate::lab::pair::{self, FailoverOptions, PairSetup};
use crate::lab::progress::Progress;
use crate::lab::{interrupted, LabError, DEFAULT_PORT};

/// The longest two cards may answer at once in any fault: none — the new
/// card speaks only after the old one's last grant ran out
/// (docs/authority.md, The bounds).
pub const OVERLAP_BOUND: Duration = Duration::ZERO;
/// How long the lab's daemons get to exit after SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(20);
/// How long the last wave of clients gets to finish after the last fault.
const LAST_WAVE_TIMEOUT: Duration = Duration::from_secs(180);
/// Traffic under the settled pair before each fault.
const SETTLE: Duration = Duration::from_millis(200);

/// What the chaos run does to the active node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// SIGKILL; the node restarts with its unchanged config.
    Kill,
    /// Every daemon thread stopped with ptrace, the card running.
    Hang,
    /// Its link to etcd cut.
    EtcdCut,
    /// The replication link cut, both nodes alive.
    ReplicationCut,
}

impl FaultKind {
    pub const ALL: [FaultKind; 4] = [FaultKind::Kill, FaultKind::Hang, FaultKind::EtcdCut, FaultKind::ReplicationCut];

    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Kill => "kill",
            FaultKind::Hang => "hang",
            FaultKind::EtcdCut => "etcd cut",
            FaultKind::ReplicationCut => "replication cut",
        }
    }
}

/// What a chaos run does.
#[derive(Clone, Debug)]
pub struct ChaosOptions {
    /// Faults, one after the other.
    pub faults: usize,
    /// Seed of the fault sequence.
    pub chaos_seed: u64,
    /// Clients per wave.
    pub conns: usize,
    /// Bytes each client of a wave sends.
    pub bytes: u64,
    /// Seed of the first wave's streams (each wave its own, from it).
    pub seed: u64,
    pub holdback: bool,
    pub gates: Vec<Gate>,
    pub sync: SyncMode,
    pub replicate: ReplicateMode,
    pub dup_acks: bool,
    pub heartbeat_ms: u64,
    pub heartbeat_misses: u32,
    /// Seeded loss/reordering at both cards' ports (`--impair`).
    pub impair: Option<String>,
    /// tc netem arguments for the clients' link (`--netem`).
    pub netem: Option<String>,
    /// A client making no progress this long fails.
    pub stall_timeout: Duration,
    /// How long a hang, and a cut of the active node's link to etcd, lasts.
    pub hang_for: Duration,
    pub etcd_cut_for: Duration,
    /// How long the replication link stays cut after the standby promoted.
    pub split_for: Duration,
    /// Longest wait for the pair to settle (Replicating, a promotion).
    pub state_timeout: Duration,
    /// Keep the work directory here (configs, logs, captures, the store).
    pub keep_dir: Option<PathBuf>,
    /// The `holdback` binary the daemons run; None: this process's own.
    pub holdback_exe: Option<PathBuf>,
    pub progress: Progress,
    /// The application on both nodes: every stream checked in the sink's
    /// shared store, or the echo's checked as it came back to its client.
    pub app: crate::app::AppKind,
    /// Out-of-order reassembly and SACK on both cards, as in the pair lab.
    pub reassembly: bool,
    pub sack: bool,
    /// TCP timestamps on both cards, as in the pair lab.
    pub timestamps: bool,
    /// SYN cookies on both cards, as in the pair lab (`--syn-cookies`).
    pub syn_cookies: Option<u16>,
}

impl Default for ChaosOptions {
    fn default() -> Self {
        let pair = FailoverOptions::default();
        ChaosOptions {
            faults: 20,
            chaos_seed: 1,
            conns: 4,
            bytes: 4 << 20,
            seed: 1,
            holdback: pair.holdback,
            gates: pair.gates,
            sync: pair.sync,
            replicate: pair.replicate,
            dup_acks: pair.dup_acks,
            heartbeat_ms: pair.heartbeat_ms,
            heartbeat_misses: pair.heartbeat_misses,
            impair: None,
            netem: None,
            stall_timeout: Duration::from_secs(60),
            hang_for: Duration::from_millis(1500),
            etcd_cut_for: Duration::from_millis(1500),
            split_for: Duration::from_millis(300),
            state_timeout: Duration::from_secs(30),
            keep_dir: None,
            holdback_exe: None,
            progress: Progress::hidden(),
            app: crate::app::AppKind::Sink,
            reassembly: pair.reassembly,
            sack: pair.sack,
            timestamps: pair.timestamps,
            syn_cookies: pair.syn_cookies,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ChaosError {
    #[error("--chaos N needs at least one fault")]
    NoFaults,
    #[error(
        "this holdback was built without the etcd authority (cargo feature `etcd`): the chaos run needs it; \
         build with the default features (`cargo build --release -p holdback-daemon`)"
    )]
    NoEtcdFeature,
    #[error("the chaos run's etcd")]
    Etcd(#[from] EtcdLabError),
    #[error("the chaos run's pair")]
    Lab(#[from] LabError),
    #[error("the chaos run's network")]
    Net(#[from] NetnsError),
    #[error("hanging the active daemon")]
    Hang(#[from] HangError),
    #[error("reading the cards' captures")]
    Capture(#[from] CaptureError),
    #[error("fault {n} ({kind}): waited {after:?} for {what}; the pair then: {pair}")]
    Timeout { n: usize, kind: &'static str, what: &'static str, after: Duration, pair: String },
    #[error("interrupted (Ctrl-C or SIGTERM); the lab was torn down")]
    Interrupted,
}

/// Root, the etcd authority built in, and `etcd` installed: what a chaos
/// run needs besides the lab's own tools; checked before anything is built.
pub fn check_prerequisites() -> Result<(), ChaosError> {
    netns::require_root()?;
    if !cfg!(feature = "etcd") {
        return Err(ChaosError::NoEtcdFeature);
    }
    require_etcd()?;
    Ok(())
}

/// One fault as it happened.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FaultRecord {
    pub kind: FaultKind,
    /// The node that was active, and its epoch.
    pub active: String,
    pub epoch: u32,
    /// Seconds into the run when the fault began.
    pub at_s: f64,
    /// The node that took over (none after a cut of the etcd link).
    pub took_over: Option<String>,
    /// The fault → the new card's first own frame (captures).
    pub takeover_ms: Option<f64>,
    /// How long the two cards answered at once (captures).
    pub overlap_ms: f64,
}

/// One fault kind over the run.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct KindReport {
    pub kind: FaultKind,
    pub faults: usize,
    pub takeovers: usize,
    /// The longest two cards answered for the service address at once.
    pub longest_overlap_ms: f64,
    /// Its stated bound.
    pub overlap_bound_ms: f64,
    /// The fault → the new card's first own frame, median and longest.
    pub takeover_median_ms: Option<f64>,
    pub takeover_max_ms: Option<f64>,
}

/// `holdback lab --chaos N --json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ChaosReport {
    pub faults: usize,
    pub chaos_seed: u64,
    pub seed: u64,
    pub conns: usize,
    pub bytes_per_conn: u64,
    pub heartbeat_ms: u64,
    pub heartbeat_misses: u32,
    /// P and C of the configs (docs/authority.md, Settings and symbols).
    pub promise_ms: u64,
    pub confirm_ms: u64,
    /// Waves of clients and their streams, over the whole run.
    pub waves: usize,
    pub streams: usize,
    pub bytes_sent: u64,
    pub bytes_lost: u64,
    pub duplicate_bytes: u64,
    pub resets_seen: u64,
    /// The longest any client's application waited to send more: a
    /// connection whose resent segment went to a card that then failed
    /// waits for its peer's next retransmission timeout, doubled for each
    /// such loss (RFC 6298 §5.5; Linux stops doubling at 120 s).
    #[serde(default)]
    pub longest_stall_ms: u64,
    pub kinds: Vec<KindReport>,
    pub log: Vec<FaultRecord>,
    /// The streams that did not arrive whole, one line each.
    pub broken_streams: Vec<String>,
    pub errors: Vec<String>,
    /// The faults took this long; the whole run this long.
    pub faults_s: f64,
    pub duration_s: f64,
    pub work_dir: PathBuf,
}

impl ChaosReport {
    pub fn passed(&self) -> bool {
        self.bytes_lost == 0
            && self.duplicate_bytes == 0
            && self.resets_seen == 0
            && self.broken_streams.is_empty()
            && self.errors.is_empty()
            && self.kinds.iter().all(|k| k.longest_overlap_ms <= k.overlap_bound_ms)
    }

    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"report not serialisable: {e}\"}}"))
    }

    pub fn human(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "holdback chaos lab (etcd authority): {} — {} faults (--chaos-seed {}) in {:.1} s; waves of {} connections × {} bytes (--seed {})",
            if self.passed() { "PASS" } else { "FAIL" },
            self.faults,
            self.chaos_seed,
            self.faults_s,
            self.conns,
            self.bytes_per_conn,
            self.seed,
        );
        let _ = writeln!(
            s,
            "  {} waves, {} streams, {} B sent: lost {} B, duplicated {} B, resets {}; longest client stall {} ms",
            self.waves, self.streams, self.bytes_sent, self.bytes_lost, self.duplicate_bytes, self.resets_seen, self.longest_stall_ms
        );
        let _ = writeln!(
            s,
            "  heartbeat {} ms × {}, promise P {} ms, confirmation C {} ms",
            self.heartbeat_ms, self.heartbeat_misses, self.promise_ms, self.confirm_ms
        );
        for k in &self.kinds {
            let took = match (k.takeover_median_ms, k.takeover_max_ms) {
                (Some(m), Some(x)) => format!("; new card's first frame {m:.0} ms median, {x:.0} ms longest after the fault"),
                _ if k.faults > 0 => "; no takeover (the active node kept serving)".into(),
                _ => String::new(),
            };
            let _ = writeln!(
                s,
                "  {:<16} {:>2} faults: two cards answered at once for {:.1} ms at most (bound {:.0} ms){}{took}",
                k.kind.name(),
                k.faults,
                k.longest_overlap_ms,
                k.overlap_bound_ms,
                if k.longest_overlap_ms > k.overlap_bound_ms { " — OVER THE BOUND" } else { "" },
            );
        }
        for e in &self.errors {
            let _ = writeln!(s, "  error: {e}");
        }
        for b in &self.broken_streams {
            let _ = writeln!(s, "  stream: {b}");
        }
        let _ = writeln!(s, "  work directory: {}", self.work_dir.display());
        s
    }
}

/// xorshift64*: the fault sequence from the seed, the same on every machine.
struct FaultRng(u64);

impl FaultRng {
    fn new(seed: u64) -> FaultRng {
        // xorshift must not start at 0.
        FaultRng(seed | 1)
    }

    fn next_kind(&mut self) -> FaultKind {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
        FaultKind::ALL[(x % FaultKind::ALL.len() as u64) as usize]
    }
}

/// The first `n` faults of the sequence `seed` gives.
pub fn fault_sequence(seed: u64, n: usize) -> Vec<FaultKind> {
    let mut rng = FaultRng::new(seed);
    (0..n).map(|_| rng.next_kind()).collect()
}

/// Runs one chaos lab. Teardown happens on every path; the work directory
/// survives a failed run (or `keep_dir`), for its logs and captures.
pub fn run_chaos(opts: &ChaosOptions) -> Result<ChaosReport, ChaosError> {
    if opts.faults == 0 {
        return Err(ChaosError::NoFaults);
    }
    check_prerequisites()?;
    let dir = work_dir(opts);
    let result = run_in(opts, &dir);
    opts.progress.finish();
    let keep = opts.keep_dir.is_some() || !matches!(&result, Ok(r) if r.passed());
    if !keep {
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            tracing::warn!(dir = %dir.display(), error = %e, "could not remove the chaos run's work directory");
        }
    }
    result
}

fn work_dir(opts: &ChaosOptions) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    opts.keep_dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("holdback-chaos-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)))
    })
}

/// A daemon's pair status (`None` while it does not answer).
fn pair_status(socket: &Path) -> Option<PairStatus> {
    match client::call(socket, &Request::Status) {
        Ok(Response::Status(s)) => s.pair,
        _ => None,
    }
}

/// The member whose daemon is active (Active or Promoted), and its epoch.
fn active(daemons: &[DaemonProcess; 2]) -> Option<(usize, u32)> {
    (0..2).find_map(|i| {
        pair_status(&daemons[i].socket).filter(|p| matches!(p.role, PairRole::Active | PairRole::Promoted)).map(|p| (i, p.epoch))
    })
}

/// The pair is Replicating: the active node's link to its standby is in
/// sync and the standby promises again.
fn replicating(daemons: &[DaemonProcess; 2]) -> Option<(usize, u32)> {
    let (i, epoch) = active(daemons)?;
    let p = pair_status(&daemons[i].socket)?;
    let s = pair_status(&daemons[1 - i].socket)?;
    (p.link == PairLink::Replicating
        && s.role == PairRole::Standby
        && s.epoch == epoch
        && s.authority.as_ref().is_some_and(|a| a.promising))
    .then_some((i, epoch))
}

/// Both daemons' role, epoch and link, for a timeout's message.
fn describe(daemons: &[DaemonProcess; 2]) -> String {
    daemons
        .iter()
        .map(|d| match pair_status(&d.socket) {
            Some(p) => format!("{}: {:?} in epoch {}, link {:?}", d.name, p.role, p.epoch, p.link),
            None => format!("{}: not answering", d.name),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Where one fault stands, for waits and errors.
#[derive(Clone, Copy)]
struct Step {
    n: usize,
    kind: &'static str,
    timeout: Duration,
}

impl Step {
    /// Polls `f` every 20 ms until it returns `Some`; a timeout says what
    /// the pair looked like.
    fn wait<T>(&self, daemons: &[DaemonProcess; 2], what: &'static str, mut f: impl FnMut(&[DaemonProcess; 2]) -> Option<T>) -> Result<T, ChaosError> {
        let start = Instant::now();
        loop {
            if let Some(v) = f(daemons) {
                return Ok(v);
            }
            if interrupted() {
                return Err(ChaosError::Interrupted);
            }
            if start.elapsed() > self.timeout {
                return Err(ChaosError::Timeout { n: self.n, kind: self.kind, what, after: self.timeout, pair: describe(daemons) });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Clients in waves: a new wave starts when the last one ended.
struct Waves {
    plan: ClientPlan,
    first_seed: u64,
    ns: String,
    mode: clients::ClientMode,
    cancel: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    running: Vec<ClientHandle>,
    /// Finished clients with their wave's stream seed.
    done: Vec<(u64, ClientOutcome)>,
    wave: u64,
}

impl Waves {
    fn start(ns: &str, conns: usize, plan: ClientPlan, mode: clients::ClientMode) -> Waves {
        let (cancel, sent) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
        let running = clients::spawn_clients(ns, conns, &plan, mode, cancel.clone(), sent.clone());
        Waves { first_seed: plan.seed, plan, ns: ns.to_string(), mode, cancel, sent, running, done: Vec::new(), wave: 0 }
    }

    fn finished(&self) -> bool {
        self.running.iter().all(|h| h.is_finished())
    }

    /// Starts the next wave when the current one ended.
    fn keep_going(&mut self, conns: usize) {
        if !self.finished() {
            return;
        }
        let seed = self.plan.seed;
        self.done.extend(clients::collect(std::mem::take(&mut self.running)).into_iter().map(|o| (seed, o)));
        self.wave += 1;
        // Each wave its own streams, reproducible from the first seed.
        self.plan.seed = self.first_seed ^ self.wave.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        tracing::info!(wave = self.wave, seed = self.plan.seed, "next wave of clients");
        self.running = clients::spawn_clients(&self.ns, conns, &self.plan, self.mode, self.cancel.clone(), self.sent.clone());
    }

    fn finish(mut self) -> (Vec<(u64, ClientOutcome)>, usize) {
        let seed = self.plan.seed;
        self.done.extend(clients::collect(std::mem::take(&mut self.running)).into_iter().map(|o| (seed, o)));
        (std::mem::take(&mut self.done), self.wave as usize + 1)
    }
}

impl Drop for Waves {
    /// A run that ends early (an error, Ctrl-C) stops its clients.
    fn drop(&mut self) {
        self.cancel.store(true, Ordering::SeqCst);
    }
}

/// One fault as the loop saw it: which member (0 primary, 1 standby) was
/// active, which took over, in which life of each (a life ends with a
/// kill), and when it began (wall clock, as the captures stamp frames).
struct Done {
    kind: FaultKind,
    old: (usize, usize),
    new: Option<(usize, usize)>,
    epoch: u32,
    from: Duration,
    at: Duration,
}

/// The wall clock, as the captures stamp frames.
pub fn wall() -> Duration {
    holdback_sim::pcap::unix_now()
}

fn run_in(opts: &ChaosOptions, dir: &Path) -> Result<ChaosReport, ChaosError> {
    let began = Instant::now();
    tracing::info!(faults = opts.faults, chaos_seed = opts.chaos_seed, conns = opts.conns, bytes = opts.bytes, dir = %dir.display(), "chaos run");
    opts.progress.step("starting etcd and the pair");
    let net = LabNet::create(LabTopology::unique_with_standby("ch"))?;
    let topo = net.topology().clone();
    if let Some(netem) = &opts.netem {
        netns::add_netem(&topo, netem)?;
    }
    let pair_opts = FailoverOptions {
        conns: opts.conns,
        bytes: opts.bytes,
        seed: opts.seed,
        failover_at: None,
        gates: opts.gates.clone(),
        sync: opts.sync,
        replicate: opts.replicate,
        dup_acks: opts.dup_acks,
        holdback: opts.holdback,
        heartbeat_ms: opts.heartbeat_ms,
        heartbeat_misses: opts.heartbeat_misses,
        impair: opts.impair.clone(),
        // A just-full-synced standby's own store may lack bytes below R
        // (README, Not done yet): one store for both keeps this run about
        // who speaks, not about that.
        store: StoreMode::Shared,
        app: opts.app,
        reassembly: opts.reassembly,
        sack: opts.sack,
        timestamps: opts.timestamps,
        syn_cookies: opts.syn_cookies,
        ..FailoverOptions::default()
    };
    let mut pair = PairSetup::write(dir, &topo, &pair_opts)?;
    let etcd = EtcdLab::start(&topo, dir)?;
    etcd.configure(&mut pair)?;
    let (primary, standby) = pair.start_both(opts.holdback_exe.as_deref())?;
    let members = [&pair.primary, &pair.standby];
    let mut daemons = [primary, standby];
    let mut lives = [1usize, 1];
    let sink_dir = pair.primary.sink_dir().to_path_buf();

    let plan = ClientPlan {
        target: SocketAddrV4::new(topo.card_ip, DEFAULT_PORT),
        bytes: opts.bytes,
        seed: opts.seed,
        stall_timeout: opts.stall_timeout,
    };
    let mode = clients::ClientMode::for_app(opts.app);
    let mut waves = Waves::start(&topo.client_ns, opts.conns, plan, mode);
    let mut rng = FaultRng::new(opts.chaos_seed);
    let mut done: Vec<Done> = Vec::new();
    let mut errors = Vec::new();
    for n in 0..opts.faults {
        let kind = rng.next_kind();
        let step = Step { n, kind: kind.name(), timeout: opts.state_timeout };
        let (a, epoch) = step.wait(&daemons, "the pair Replicating again", replicating)?;
        waves.keep_going(opts.conns);
        std::thread::sleep(SETTLE);
        let b = 1 - a;
        let at = began.elapsed();
        let from = wall();
        opts.progress.step(&format!("fault {}/{}: {} of the {}", n + 1, opts.faults, kind.name(), members[a].name));
        tracing::info!(n, fault = kind.name(), active = members[a].name, epoch, "fault");
        let promoted = |daemons: &[DaemonProcess; 2]| {
            step.wait(daemons, "the standby promoted in a newer epoch", |d| {
                pair_status(&d[b].socket).filter(|p| p.role == PairRole::Promoted && p.epoch > epoch)
            })
        };
        let mut new = Some((b, lives[b] - 1));
        let old = (a, lives[a] - 1);
        match kind {
            FaultKind::Kill => {
                daemons[a].kill_hard();
                promoted(&daemons)?;
                let name = members[a].name;
                let (live, kept) = (dir.join(format!("{name}.pcap")), dir.join(format!("{name}-life{}.pcap", lives[a] - 1)));
                std::fs::rename(&live, &kept).map_err(|source| {
                    LabError::Io(crate::error::IoError { what: "keeping the killed card's capture", path: live.clone(), source })
                })?;
                lives[a] += 1;
                let log = dir.join(format!("{name}-life{}.log", lives[a]));
                daemons[a] = members[a].start(opts.holdback_exe.as_deref(), &log)?;
            }
            FaultKind::Hang => {
                let hung = Hung::hang(daemons[a].child.id())?;
                promoted(&daemons)?;
                std::thread::sleep(opts.hang_for);
                drop(hung);
            }
            FaultKind::EtcdCut => {
                let cut = |up| if a == 0 { etcd.set_primary_link(up) } else { etcd.set_standby_link(up) };
                cut(false)?;
                std::thread::sleep(opts.etcd_cut_for);
                let still = pair_status(&daemons[a].socket);
                cut(true)?;
                // Cut from etcd but heard by its standby, the active node
                // keeps serving on the promises (docs/authority.md, requirement 2).
                if !still.as_ref().is_some_and(|p| matches!(p.role, PairRole::Active | PairRole::Promoted) && p.epoch == epoch) {
                    errors.push(format!(
                        "fault {n} (etcd cut): the {} stopped serving while its standby still heard it: {:?}",
                        members[a].name,
                        still.map(|p| (p.role, p.epoch))
                    ));
                }
                new = None;
            }
            FaultKind::ReplicationCut => {
                net.set_replication_link(false)?;
                let took_over = promoted(&daemons);
                std::thread::sleep(opts.split_for);
                net.set_replication_link(true)?;
                took_over?;
            }
        }
        done.push(Done { kind, old, new, epoch, from, at });
    }
    let last = Step { n: opts.faults, kind: "after the last", timeout: opts.state_timeout };
    last.wait(&daemons, "the pair Replicating after the last fault", replicating)?;
    let faults_took = began.elapsed();
    opts.progress.step("the last wave of clients");
    let deadline = Instant::now() + LAST_WAVE_TIMEOUT;
    while !waves.finished() && Instant::now() < deadline && !interrupted() {
        std::thread::sleep(Duration::from_millis(100));
    }
    // Clients still running now have stalled: they fail and say so.
    waves.cancel.store(true, Ordering::SeqCst);
    let (outcomes, wave_count) = waves.finish();
    if interrupted() {
        return Err(ChaosError::Interrupted);
    }
    for d in daemons.iter() {
        crate::lab::log_failed_conns(d, outcomes.iter().map(|(_, o)| o));
    }
    for d in daemons.iter_mut() {
        match d.stop(STOP_GRACE) {
            Some(st) if st.success() => {}
            other => errors.push(format!("the {} daemon did not exit cleanly on SIGTERM: {other:?}", d.name)),
        }
    }
    drop(etcd);

    opts.progress.step("verifying the streams and the captures");
    let (mut lost, mut duplicated, mut resets, mut broken) = (0u64, 0u64, 0u64, Vec::new());
    for (seed, o) in &outcomes {
        let (l, d, intact) = match opts.app {
            AppKind::Sink => match crate::sink::find_sink_file(&sink_dir, topo.client_ip, o.local_port) {
                Some(file) => pair::compare_stream(&file, *seed, o.index, o.bytes_sent).unwrap_or((o.bytes_sent, 0, false)),
                None => (o.bytes_sent, 0, false),
            },
            AppKind::Echo => pair::echo_verdict(o),
        };
        lost += l;
        duplicated += d;
        resets += u64::from(o.reset);
        if !intact || o.reset || o.error.is_some() || o.bytes_sent != opts.bytes {
            broken.push(format!(
                "client {} (port {}, seed {seed:#x}): sent {} lost {l} duplicated {d} reset {} error {:?}",
                o.index, o.local_port, o.bytes_sent, o.reset, o.error
            ));
        }
    }

    // The captures: for each takeover, how long the old card's own frames
    // went on after the new card's first, from the fault until the next
    // one (the old node may speak again only once a later fault promotes it).
    let ends: Vec<Duration> = done.iter().skip(1).map(|d| d.from).chain([wall()]).collect();
    let capture = |(m, life): (usize, usize)| {
        let name = members[m].name;
        if life + 1 == lives[m] { dir.join(format!("{name}.pcap")) } else { dir.join(format!("{name}-life{life}.pcap")) }
    };
    let mut log = Vec::new();
    for (d, end) in done.iter().zip(ends) {
        let mut record = FaultRecord {
            kind: d.kind,
            active: members[d.old.0].name.to_string(),
            epoch: d.epoch,
            at_s: d.at.as_secs_f64(),
            took_over: d.new.map(|(m, _)| members[m].name.to_string()),
            takeover_ms: None,
            overlap_ms: 0.0,
        };
        if let Some(new) = d.new {
            let (old_own, new_own) = own_frames(&capture(d.old), &capture(new), topo.card_mac)?;
            let window = |frames: Vec<Duration>| frames.into_iter().filter(|t| *t >= d.from && *t < end).collect::<Vec<_>>();
            let (old_own, new_own) = (window(old_own), window(new_own));
            record.overlap_ms = ms(overlap(&old_own, &new_own));
            record.takeover_ms = new_own.iter().min().map(|first| ms(first.saturating_sub(d.from)));
        }
        log.push(record);
    }
    let kinds = FaultKind::ALL.iter().map(|&kind| kind_report(kind, &log)).collect();
    let (promise_ms, confirm_ms) = match &pair.primary.config.authority {
        crate::config::Authority::Etcd(e) => (e.promise.as_millis() as u64, e.confirm.as_millis() as u64),
        crate::config::Authority::Pair => (0, 0),
    };
    drop(daemons);
    drop(net);
    Ok(ChaosReport {
        faults: opts.faults,
        chaos_seed: opts.chaos_seed,
        seed: opts.seed,
        conns: opts.conns,
        bytes_per_conn: opts.bytes,
        heartbeat_ms: opts.heartbeat_ms,
        heartbeat_misses: opts.heartbeat_misses,
        promise_ms,
        confirm_ms,
        waves: wave_count,
        streams: outcomes.len(),
        bytes_sent: outcomes.iter().map(|(_, o)| o.bytes_sent).sum(),
        bytes_lost: lost,
        duplicate_bytes: duplicated,
        resets_seen: resets,
        longest_stall_ms: outcomes.iter().map(|(_, o)| o.max_stall_ms).max().unwrap_or(0),
        kinds,
        log,
        broken_streams: broken,
        errors,
        faults_s: faults_took.as_secs_f64(),
        duration_s: began.elapsed().as_secs_f64(),
        work_dir: dir.to_path_buf(),
    })
}

fn ms(d: Duration) -> f64 {
    d.as_micros() as f64 / 1e3
}

fn kind_report(kind: FaultKind, log: &[FaultRecord]) -> KindReport {
    let of_kind: Vec<&FaultRecord> = log.iter().filter(|r| r.kind == kind).collect();
    let mut took: Vec<f64> = of_kind.iter().filter_map(|r| r.takeover_ms).collect();
    took.sort_by(f64::total_cmp);
    KindReport {
        kind,
        faults: of_kind.len(),
        takeovers: of_kind.iter().filter(|r| r.took_over.is_some()).count(),
        longest_overlap_ms: of_kind.iter().map(|r| r.overlap_ms).fold(0.0, f64::max),
        overlap_bound_ms: ms(OVERLAP_BOUND),
        takeover_median_ms: took.get(took.len() / 2).copied(),
        takeover_max_ms: took.last().copied(),
    }
}

/// When each card sent its own frames, from the two captures. Both cards
/// use the service MAC, so a card's capture also holds the broadcasts the
/// other card sent (the bridge floods them: the promoted card's gratuitous
/// ARP lands in the old card's capture with the card's source MAC). A
/// broadcast found byte for byte in the other capture is counted for
/// neither card; unicast frames reach one port only, so those with the
/// card's source MAC are the card's own.
pub fn own_frames(a_pcap: &Path, b_pcap: &Path, mac: [u8; 6]) -> Result<(Vec<Duration>, Vec<Duration>), CaptureError> {
    let read = |path: &Path| -> Result<Vec<(Duration, Vec<u8>)>, CaptureError> {
        let (records, _) = holdback_sim::pcap::read_complete_records(path)
            .map_err(|source| CaptureError::Read { path: path.to_path_buf(), source })?;
        Ok(records.into_iter().filter(|(_, f)| f.get(6..12) == Some(&mac[..])).collect())
    };
    let (a, b) = (read(a_pcap)?, read(b_pcap)?);
    let own = |mine: &[(Duration, Vec<u8>)], other: &[(Duration, Vec<u8>)]| -> Vec<Duration> {
        mine.iter()
            .filter(|(_, f)| !(f.get(..6) == Some(&[0xff; 6][..]) && other.iter().any(|(_, o)| o == f)))
            .map(|(at, _)| *at)
            .collect()
    };
    Ok((own(&a, &b), own(&b, &a)))
}

/// How long two cards answered at once: the old card's last own frame
/// after the new card's first (0: never both).
pub fn overlap(old_own: &[Duration], new_own: &[Duration]) -> Duration {
    match (old_own.iter().max(), new_own.iter().min()) {
        (Some(old), Some(new)) => old.saturating_sub(*new),
        _ => Duration::ZERO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fault_sequence_is_the_seeds_and_holds_every_kind() {
        let a = fault_sequence(0xc4a0_5e7d, 20);
        assert_eq!(a, fault_sequence(0xc4a0_5e7d, 20), "the same seed, the same faults");
        assert_ne!(a, fault_sequence(0xc4a0_5e7e ^ 0x10, 20), "another seed, other faults");
        for kind in FaultKind::ALL {
            assert!(a.contains(&kind), "20 faults of seed 0xc4a05e7d include a {kind:?}: {a:?}");
        }
        // Seed 0 is a valid seed (xorshift starts from 1).
        assert_eq!(fault_sequence(0, 3).len(), 3);
    }

    #[test]
    fn overlap_is_the_old_cards_last_frame_after_the_new_cards_first() {
        let s = Duration::from_millis;
        assert_eq!(overlap(&[s(10), s(20)], &[s(30), s(40)]), Duration::ZERO);
        assert_eq!(overlap(&[s(10), s(35)], &[s(30), s(40)]), s(5));
        assert_eq!(overlap(&[], &[s(30)]), Duration::ZERO);
        assert_eq!(overlap(&[s(30)], &[]), Duration::ZERO);
    }

    #[test]
    fn a_report_fails_on_any_lost_byte_reset_or_overlap_over_its_bound() {
        let kind = KindReport {
            kind: FaultKind::Kill,
            faults: 1,
            takeovers: 1,
            longest_overlap_ms: 0.0,
            overlap_bound_ms: 0.0,
            takeover_median_ms: Some(300.0),
            takeover_max_ms: Some(300.0),
        };
        let good = ChaosReport {
            faults: 1,
            chaos_seed: 1,
            seed: 1,
            conns: 1,
            bytes_per_conn: 1,
            heartbeat_ms: 50,
            heartbeat_misses: 3,
            promise_ms: 100,
            confirm_ms: 150,
            waves: 1,
            streams: 1,
            bytes_sent: 1,
            bytes_lost: 0,
            duplicate_bytes: 0,
            resets_seen: 0,
            longest_stall_ms: 0,
            kinds: vec![kind.clone()],
            log: Vec::new(),
            broken_streams: Vec::new(),
            errors: Vec::new(),
            faults_s: 1.0,
            duration_s: 1.0,
            work_dir: PathBuf::new(),
        };
        assert!(good.passed(), "{}", good.human());
        let back: ChaosReport = serde_json::from_str(&good.json()).expect("the JSON report reads back");
        assert_eq!(back, good);
        assert!(!ChaosReport { bytes_lost: 1, ..good.clone() }.passed());
        assert!(!ChaosReport { duplicate_bytes: 1, ..good.clone() }.passed());
        assert!(!ChaosReport { resets_seen: 1, ..good.clone() }.passed());
        let over = ChaosReport { kinds: vec![KindReport { longest_overlap_ms: 0.1, ..kind }], ..good.clone() };
        assert!(!over.passed());
        assert!(over.human().contains("OVER THE BOUND"), "{}", over.human());
    }
}
