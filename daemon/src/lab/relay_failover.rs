//! `holdback lab --mode relay --failover-at F`: a relaying pair through a
//! failover (docs/relay.md, "Failover of both connections").
//!
//! ```text
//!  client netns                      card netns                               server netns
//!  [hbcli0 198.18.0.1]--veth--[hbbrp0]-[hbbr0]-[hbbrs0]--veth--[hbsrv0 198.18.0.3]
//!                                        |   \
//!                              [hbtap0] primary  [hbtap1] standby   (same MAC and IP 198.18.0.2)
//!  primary netns [hbrep0 198.19.0.1/30] --veth-- [hbrep1 198.19.0.2/30] standby netns
//! ```
//!
//! Two `holdback daemon` processes, each with its own simulated card on the
//! lab's bridge, both with the relay lab's mappings ([`relay::relay_targets`])
//! and `[replication]` with the run's `replicate` mode: `at-setup` (the
//! default) holds each client's SYN-ACK until the backend accepted and the
//! standby stored both sides, `after-data` replicates a pair once data
//! crossed it (docs/relay.md, "Setup across three parties"). The server
//! namespace runs nginx and the upload sink; the client namespace
//! downloads nginx's file with curl and uploads
//! another to the sink through the card, at once. When fraction F of the
//! download's bytes arrived (the downloaded file's size, polled), the
//! primary is SIGKILLed; the standby's heartbeat detector promotes it.
//! Neither endpoint may notice: the report gives per direction the SHA-256
//! check, bytes, goodput and the longest stall, what either endpoint saw
//! end a connection (curl's exit status, the client's upload error, the
//! sink's connection error), the RSTs in both cards' captures, and the
//! failover time from the captures.
//!
//! With the user's commands (`--server-cmd`, `--client-cmd`; the relay
//! lab's templates, [`relay::ServerSide`], [`relay::run_client_cmd`]) they
//! run instead of nginx, the sink and the transfers. The lab cannot see how
//! far a user's transfer got, so the primary is killed once F × `--bytes`
//! payload bytes crossed its card (its `rx_payload_bytes`, read over its
//! control socket); the client command's exit status decides the run
//! beside the captures' RSTs and the standby's take-over, and its output is
//! in the report.
//!
//! With `late_conn` (`--late-conn`) one more client connects to a relay
//! port of its own ([`RELAY_LATE_PORT`], to a second upload sink) right
//! before the kill, so its pair is set up, or not, in the primary's last
//! moments (docs/failover.md, invariant 6), and uploads [`LATE_BYTES`]
//! once the primary is dead: with `at-setup` it must arrive whole.
use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use holdback_driver::{MacAddr, RelayTarget};
use holdback_regmap::Stat;
use serde::Serialize;

use crate::config::{Detector, Gate, ReplicateMode, SyncMode};
use crate::error::io;
use crate::lab::capture::{self, CardCapture};
use crate::lab::daemon::DaemonProcess;
use crate::lab::netns::{self, LabNet, LabTopology};
use crate::lab::pair::{FailoverOptions, PairSetup};
use crate::lab::relay::{self, Direction, ServerNs, ServerSide, RELAY_HTTP_PORT, RELAY_UPLOAD_PORT, SERVER_IP, SERVER_MAC};
use crate::lab::servers::{self, CommandOutcome, Download, GeneratedFile, Placeholders, TransferCheck, Upload, UploadSink, UserCommand};
use crate::lab::{card_stats, interrupted, LabError};

/// How often the run looks at the transfers' files (the kill point and
/// the stalls are measured at this resolution).
const POLL: Duration = Duration::from_millis(10);
/// How far apart in the two captures a frame the primary's card sent and
/// the bridge's flooded copy of it in the standby's capture may be stamped
/// (seen: a few milliseconds either way).
const FLOOD_WINDOW: Duration = Duration::from_millis(50);
/// The card's relay port of the late connection (`late_conn`), to its own
/// sink on [`SERVER_LATE_PORT`]: that sink's records are the late
/// connection's alone.
pub const RELAY_LATE_PORT: u16 = 8082;
/// The late connection's sink in the server namespace.
pub const SERVER_LATE_PORT: u16 = 9001;
/// Bytes the late connection uploads once the primary is dead.
pub const LATE_BYTES: u64 = 16 << 10;
/// How long the late connection's connect runs before the primary is
/// killed: its SYN is out, and the card is somewhere in the pair's set-up.
const LATE_LEAD: Duration = Duration::from_millis(5);

/// What a relay failover lab runs: the relay lab's settings for both
/// cards, and when to kill the primary.
#[derive(Clone, Debug)]
pub struct RelayFailoverOptions {
    /// Conns, sizes, seed, impairment, timeouts, card settings and the
    /// user's commands as in the relay lab (a server command needs a
    /// client command); its `pcap` and `extra_relays` are refused here (this
    /// lab keeps each card's capture). `impair` applies at both cards' ports.
    pub relay: relay::RelayLabOptions,
    /// SIGKILL the primary when this fraction of all the downloads' bytes
    /// arrived, or with a client command of `bytes` payload bytes crossed
    /// the primary's card (its `rx_payload_bytes`); `None` runs the pair
    /// without a failure (`--standby`).
    pub failover_at: Option<f64>,
    /// Both daemons' `[replication] replicate` (`--replicate`; the
    /// daemon's default, `at-setup`, unless given).
    pub replicate: ReplicateMode,
    /// Open the late connection right before the kill (`--late-conn`;
    /// needs `failover_at`).
    pub late_conn: bool,
}

impl Default for RelayFailoverOptions {
    fn default() -> RelayFailoverOptions {
        RelayFailoverOptions {
            relay: relay::RelayLabOptions::default(),
            failover_at: Some(0.5),
            replicate: ReplicateMode::AtSetup,
            late_conn: false,
        }
    }
}

/// One direction of a relay failover run.
#[derive(Clone, Debug, Serialize)]
pub struct DirectionReport {
    /// Bytes, SHA-256 against what was sent, goodput over the wall time.
    #[serde(flatten)]
    pub totals: Direction,
    /// Per transfer, the longest time its received byte count did not move
    /// (from the transfers' start until it had every byte, or until it
    /// ended without them), ms.
    pub stalls_ms: Vec<u64>,
    pub longest_stall_ms: u64,
    /// What the endpoints saw end a connection other than by its close:
    /// curl's failure and exit status, the uploading client's error, the
    /// sink's connection error. A reset shows here.
    pub endpoint_errors: Vec<String>,
}

/// The late connection (`late_conn`): opened right before the kill, its
/// upload sent once the primary was dead.
#[derive(Clone, Debug, Serialize)]
pub struct LateReport {
    /// What its sink received against what was sent.
    pub check: TransferCheck,
    /// The client's error, and the sink's on the connection that carried
    /// the bytes.
    pub endpoint_errors: Vec<String>,
    /// Connections the late sink saw: more than one when the old card's
    /// backend connection was accepted but the promotion freed the pair (its
    /// client had no SYN-ACK yet) and the client's retransmitted SYN opened
    /// another.
    pub sink_connections: usize,
    /// How the sink's other connections (the freed pairs' backend
    /// connections, no byte on them) ended.
    pub abandoned_backends: Vec<String>,
    /// From the connect to the sink's close, ms.
    pub wall_ms: Option<u64>,
}

impl LateReport {
    pub fn ok(&self) -> bool {
        self.check.matches() && self.endpoint_errors.is_empty()
    }
}

/// RSTs in one card's capture.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Resets {
    pub sent: u64,
    pub received: u64,
}

/// `holdback lab --mode relay --failover-at F --json`.
#[derive(Clone, Debug, Serialize)]
pub struct RelayFailoverReport {
    pub mode: &'static str,
    pub conns: usize,
    pub bytes_per_conn: u64,
    pub seed: u64,
    pub failover_at: Option<f64>,
    pub impair: Option<String>,
    pub netem: Option<String>,
    pub topology: LabTopology,
    pub server_ns: String,
    pub server_ip: Ipv4Addr,
    pub server_mac: MacAddr,
    /// Both cards' relay mappings.
    pub relays: Vec<RelayTarget>,
    pub replicate: ReplicateMode,
    pub placeholders: Placeholders,
    /// The late connection, with `late_conn`.
    pub late: Option<LateReport>,
    /// Server to client: the curl downloads from nginx (absent with a client command).
    pub download: Option<DirectionReport>,
    /// Client to server: the uploads to the sink (absent with a client command).
    pub upload: Option<DirectionReport>,
    pub server_cmd: Option<CommandOutcome>,
    /// The user's client command: its exit status decides the run.
    pub client_cmd: Option<CommandOutcome>,
    /// Bytes of the downloads that had arrived when the primary was killed.
    pub killed_at_download_bytes: Option<u64>,
    /// With a client command: payload bytes the primary's card had
    /// received (`rx_payload_bytes`, since the pair came up) when it was killed.
    pub killed_at_card_payload_bytes: Option<u64>,
    /// Last frame the primary's card sent → first frame the standby's card
    /// sent (the captures, each card's own frames: [`own_frames`]), ms.
    pub failover_ms: Option<f64>,
    /// Frames the standby's card sent while the primary's still did (its
    /// own, before the primary's last): two cards answering at once
    /// (docs/failover.md, invariant 8).
    pub standby_frames_while_primary_spoke: u64,
    /// Last data the primary's card received → first data the promoted
    /// card received (the captures), ms.
    pub wire_gap_ms: Option<f64>,
    /// RSTs in each card's capture (both sides of every pair cross the card's port).
    pub primary_resets: Resets,
    pub standby_resets: Resets,
    /// Of those, the ones a card sent to the late connection's backend:
    /// the promoted card's answer to a backend still answering the SYN of a
    /// pair the promotion freed, since its client had no SYN-ACK yet
    /// (docs/relay.md, "Setup across three parties"). The client retries
    /// its SYN; the backend's half-open connection ends.
    pub late_backend_resets: u64,
    /// The captures' files were cut short (a card killed mid-write).
    pub captures_truncated: bool,
    pub duration_s: f64,
    pub errors: Vec<String>,
    pub work_dir: PathBuf,
    /// The work directory survives the run (failed, or given).
    pub kept: bool,
}

impl RelayFailoverReport {
    /// Both directions arrived whole and intact with no endpoint seeing a
    /// connection end early (or the client command exited 0), neither
    /// card's capture has a RST, nothing else went wrong, and a killed
    /// primary's standby spoke.
    pub fn passed(&self) -> bool {
        let intact = |d: &DirectionReport| d.totals.sha256_match && d.endpoint_errors.is_empty();
        self.errors.is_empty()
            && self.download.as_ref().is_none_or(intact)
            && self.upload.as_ref().is_none_or(intact)
            && self.client_cmd.as_ref().is_none_or(CommandOutcome::succeeded)
            && self.unexplained_resets() == 0
            && self.standby_frames_while_primary_spoke == 0
            && (!self.killed() || self.failover_ms.is_some())
            && self.late.as_ref().is_none_or(LateReport::ok)
    }

    /// The primary was SIGKILLed.
    pub fn killed(&self) -> bool {
        self.killed_at_download_bytes.is_some() || self.killed_at_card_payload_bytes.is_some()
    }

    /// RST segments in both cards' captures.
    pub fn rst_segments(&self) -> u64 {
        self.primary_resets.sent + self.primary_resets.received + self.standby_resets.sent + self.standby_resets.received
    }

    /// RST segments in both captures but those to the late connection's
    /// backend ([`RelayFailoverReport::late_backend_resets`]).
    pub fn unexplained_resets(&self) -> u64 {
        self.rst_segments().saturating_sub(self.late_backend_resets)
    }

    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"report not serialisable: {e}\"}}"))
    }

    pub fn human(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let verdict = if self.passed() { "PASS" } else { "FAIL" };
        let _ = writeln!(s, "holdback lab --mode relay (pair, replicate {:?}): {verdict} (seed {})", self.replicate, self.seed);
        for r in &self.relays {
            let _ = writeln!(s, "  relay {}:{} -> {} (next hop {})", self.topology.card_ip, r.listen, r.backend, r.next_hop);
        }
        let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1} ms"));
        let (of, killed_at) = match self.client_cmd {
            Some(_) => ("--bytes through the primary's card", self.killed_at_card_payload_bytes.map(|b| format!("{b} payload bytes received"))),
            None => ("the download", self.killed_at_download_bytes.map(|b| format!("{b} bytes arrived"))),
        };
        match (self.failover_at, killed_at) {
            (Some(f), Some(b)) => {
                let _ = writeln!(s, "  primary SIGKILLed at {f} of {of} ({b}): failover {}, wire gap {}", ms(self.failover_ms), ms(self.wire_gap_ms));
            }
            (Some(f), None) => {
                let _ = writeln!(s, "  the primary was not killed (kill point {f} of {of})");
            }
            (None, _) => {
                let _ = writeln!(s, "  no failover (the pair runs, the standby replicates)");
            }
        }
        for (what, d) in [("download (curl from nginx, server -> client)", &self.download), ("upload (to the sink, client -> server)", &self.upload)] {
            let Some(d) = d else { continue };
            let t = &d.totals;
            let check = if t.sha256_match { "SHA-256 match" } else { "MISMATCH" };
            let _ = writeln!(
                s,
                "  {what}: {} x {} bytes = {} bytes in {:.3} s = {:.1} Mbit/s; {check}; longest stall {} ms",
                t.checks.len(),
                self.bytes_per_conn,
                t.bytes,
                t.wall_s,
                t.goodput_mbps,
                d.longest_stall_ms
            );
            for c in t.checks.iter().filter(|c| !c.matches()) {
                let _ = writeln!(s, "    {c}");
            }
            for e in &d.endpoint_errors {
                let _ = writeln!(s, "    endpoint: {e}");
            }
        }
        relay::write_commands(&mut s, self.server_cmd.as_ref(), self.client_cmd.as_ref());
        if let Some(l) = &self.late {
            let _ = writeln!(
                s,
                "  late connection (opened right before the kill, {} bytes sent after it): {}; {} connection(s) at its sink{}",
                l.check.bytes_expected,
                l.check,
                l.sink_connections,
                l.wall_ms.map_or(String::new(), |ms| format!("; {ms} ms from connect to the sink's close"))
            );
            for e in &l.endpoint_errors {
                let _ = writeln!(s, "    endpoint: {e}");
            }
            for e in &l.abandoned_backends {
                let _ = writeln!(s, "    a freed pair's backend connection: {e}");
            }
        }
        let (p, sb) = (self.primary_resets, self.standby_resets);
        let _ = writeln!(
            s,
            "  RSTs in the captures: primary card sent {} received {}, standby card sent {} received {}{}{}",
            p.sent,
            p.received,
            sb.sent,
            sb.received,
            match self.late_backend_resets {
                0 => String::new(),
                n => format!(" ({n} to the late connection's backend: a freed pair's half-open connection)"),
            },
            if self.captures_truncated { " (a capture was cut short)" } else { "" }
        );
        if self.standby_frames_while_primary_spoke > 0 {
            let _ = writeln!(s, "  the standby's card sent {} frames while the primary's still spoke", self.standby_frames_while_primary_spoke);
        }
        for e in &self.errors {
            let _ = writeln!(s, "  error: {e}");
        }
        let _ = writeln!(s, "  work directory{}: {}", if self.kept { " kept" } else { "" }, self.work_dir.display());
        s
    }
}

/// The whole run; the work directory is removed after a passing run
/// unless it was given.
pub fn run_relay_failover_lab(opts: &RelayFailoverOptions) -> Result<RelayFailoverReport, LabError> {
    let (result, kept) =
        super::run_in_work_dir(opts.relay.work_dir.clone(), "relay-failover", RelayFailoverReport::passed, |work| run_into(opts, work));
    result.map(|mut r| {
        r.kept = kept.is_some();
        r
    })
}

/// The longest time a transfer's received byte count stood still.
struct StallWatch {
    expected: u64,
    size: u64,
    since: Instant,
    longest: Duration,
    done: bool,
}

impl StallWatch {
    fn new(expected: u64, start: Instant) -> StallWatch {
        StallWatch { expected, size: 0, since: start, longest: Duration::ZERO, done: false }
    }

    /// The byte count seen `now`; `ended`: the transfer's client returned.
    fn saw(&mut self, size: u64, now: Instant, ended: bool) {
        if self.done {
            return;
        }
        if size != self.size {
            self.longest = self.longest.max(now - self.since);
            self.size = size;
            self.since = now;
        }
        if self.size >= self.expected {
            self.done = true;
        } else if ended {
            // It ended short: the wait since its last byte counts too.
            self.longest = self.longest.max(now - self.since);
            self.done = true;
        }
    }
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

fn run_into(opts: &RelayFailoverOptions, work: &Path) -> Result<RelayFailoverReport, LabError> {
    let r = &opts.relay;
    for (set, what) in [
        (r.server_cmd.is_some() && r.client_cmd.is_none(), "a server command without a client command (nothing would check it)"),
        (r.pcap.is_some(), "a capture file (each card keeps its own in the work directory)"),
        (!r.extra_relays.is_empty(), "an extra relay port"),
        (opts.late_conn && opts.failover_at.is_none(), "a late connection without a kill"),
        (opts.late_conn && r.client_cmd.is_some(), "a late connection beside a client command (it is opened at F of the curl downloads)"),
    ] {
        if set {
            return Err(LabError::NotTaken(what));
        }
    }
    std::fs::create_dir_all(work).map_err(io("creating", work))?;
    let net = LabNet::create(LabTopology::unique_with_standby("rfo"))?;
    let topo = net.topology().clone();
    let server_ns = ServerNs::create(&topo)?;
    if let Some(netem) = &r.netem {
        netns::add_netem(&topo, netem)?;
    }
    let (files, served, sent) = relay::generate_files(work, r.seed, r.bytes)?;
    let placeholders = relay::placeholders(&topo, &served, work);
    let mut servers = ServerSide::start(&server_ns.name, r.server_cmd.as_deref(), &placeholders, &files, work)?;
    let late = if opts.late_conn {
        let file = servers::generate_file(work, "late.bin", r.seed ^ 0x1a7e_c0de, LATE_BYTES).map_err(relay::servers_error)?;
        let sink = UploadSink::start(&server_ns.name, SocketAddrV4::new(SERVER_IP, SERVER_LATE_PORT), &work.join("late-uploads"))
            .map_err(relay::servers_error)?;
        Some((file, sink))
    } else {
        None
    };
    let relays = relay::relay_targets(if late.is_some() { &[(RELAY_LATE_PORT, SERVER_LATE_PORT)] } else { &[] });
    let pair_opts = FailoverOptions {
        seed: r.seed,
        failover_at: opts.failover_at,
        // The relayed connections' only gate is `peer`, implied; the
        // daemon puts their send limits behind the replica gate itself.
        gates: vec![Gate::App],
        sync: SyncMode::BeforeAck,
        replicate: opts.replicate,
        detector: Detector::Heartbeat,
        impair: r.impair.clone(),
        reassembly: r.reassembly,
        sack: r.sack,
        timestamps: r.timestamps,
        ..FailoverOptions::default()
    };
    let mut pair = PairSetup::write(work, &topo, &pair_opts)?;
    for m in [&mut pair.primary, &mut pair.standby] {
        m.config.dma.rx_ring_bytes = r.rx_ring_bytes;
        relay::relay_config(&mut m.config, &relays, r.relay_connect_ms, m.name, &format!("`holdback lab --mode relay` for its {} card", m.name))?;
    }
    let (primary, standby) = pair.start_both(r.holdback_exe.as_deref())?;
    tracing::info!(client_ns = %topo.client_ns, server_ns = %server_ns.name, relays = ?relays, "relay pair up");

    let mut running = Running { opts, topo: &topo, primary, standby, problem: None, errors: Vec::new() };
    let start = Instant::now();
    let load = match (&r.client_cmd, &servers.sink) {
        (Some(template), _) => running.client(template, &placeholders, work),
        (None, Some(sink)) => running.transfers(work, &served, &sent, sink, late, start),
        // Refused above: without a client command no server command runs.
        (None, None) => return Err(LabError::NotTaken("a server command without a client command (nothing would check it)")),
    };
    let duration = start.elapsed();
    let Running { mut primary, mut standby, problem, mut errors, .. } = running;
    // Whoever is alive stops cleanly: its card flushes its capture.
    for d in [&mut primary, &mut standby] {
        if d.is_running() {
            match d.stop(crate::lab::STOP_GRACE) {
                Some(st) if st.success() => {}
                other => errors.push(format!("the {} daemon did not exit cleanly on SIGTERM: {other:?}", d.name)),
            }
        }
    }
    if let Some(p) = problem {
        return Err(p);
    }
    let server_cmd = servers.server_cmd.take().map(UserCommand::stop);

    let (primary_frames, primary_torn) = capture::read_frames(&pair.primary.pcap, topo.card_mac).map_err(LabError::Capture)?;
    let (standby_frames, standby_torn) = capture::read_frames(&pair.standby.pcap, topo.card_mac).map_err(LabError::Capture)?;
    let (pcap, scap) = (CardCapture::of(&primary_frames, primary_torn), CardCapture::of(&standby_frames, standby_torn));
    let killed = load.killed_at.is_some();
    let (primary_own, standby_own) = own_frames(&pair.primary.pcap, &pair.standby.pcap, topo.card_mac).map_err(LabError::Capture)?;
    let primary_last = primary_own.iter().max().copied();
    let standby_frames_while_primary_spoke = primary_last.map_or(0, |last| standby_own.iter().filter(|at| **at <= last).count() as u64);
    let failover_ms = match (killed, primary_last, standby_own.iter().min()) {
        (true, Some(last), Some(first)) if *first > last => Some((*first - last).as_secs_f64() * 1e3),
        _ => None,
    };
    if killed && failover_ms.is_none() {
        errors.push("the standby's card sent nothing after the primary was killed: it did not take over".into());
    }
    let server_ns_name = server_ns.name.clone();
    drop(servers);
    drop(server_ns);
    drop(net);
    let (download, upload, late, client_cmd) = match load.what {
        Load::Transfers { download, upload, late } => (Some(download), Some(upload), late, None),
        Load::Client(outcome) => (None, None, None, outcome),
    };
    let by_client = client_cmd.is_some();
    Ok(RelayFailoverReport {
        mode: "relay",
        conns: r.conns.max(1),
        bytes_per_conn: r.bytes,
        seed: r.seed,
        failover_at: opts.failover_at,
        impair: r.impair.clone(),
        netem: r.netem.clone(),
        topology: topo,
        server_ns: server_ns_name,
        server_ip: SERVER_IP,
        server_mac: SERVER_MAC,
        relays,
        replicate: opts.replicate,
        placeholders,
        late,
        download,
        upload,
        server_cmd,
        client_cmd,
        killed_at_download_bytes: load.killed_at.filter(|_| !by_client),
        killed_at_card_payload_bytes: load.killed_at.filter(|_| by_client),
        failover_ms,
        standby_frames_while_primary_spoke,
        wire_gap_ms: if killed { capture::wire_gap_ms(&pcap, &scap) } else { None },
        late_backend_resets: [&primary_frames, &standby_frames]
            .into_iter()
            .flatten()
            .filter(|f| f.sent && matches!(f.what, capture::Seen::Tcp(t) if t.rst && t.peer_port == SERVER_LATE_PORT))
            .count() as u64,
        primary_resets: Resets { sent: pcap.rst_sent, received: pcap.rst_received },
        standby_resets: Resets { sent: scap.rst_sent, received: scap.rst_received },
        captures_truncated: pcap.truncated || scap.truncated,
        duration_s: duration.as_secs_f64(),
        errors,
        work_dir: work.to_path_buf(),
        kept: false,
    })
}

/// What went through the pair: the curl downloads and the uploads (and
/// the late connection), or the user's client command.
enum Load {
    Transfers { download: DirectionReport, upload: DirectionReport, late: Option<LateReport> },
    /// None: the command never ran (the run's error says why).
    Client(Option<CommandOutcome>),
}

/// A load's end: when the primary was killed and what went through.
struct LoadEnd {
    /// The kill point's measure when the primary was killed: bytes of the
    /// downloads that had arrived, or with a client command payload bytes
    /// the primary's card had received.
    killed_at: Option<u64>,
    what: Load,
}

/// The running pair, as the load through it sees it: a problem ends the
/// run with an error (after the daemons are stopped), `errors` fail it.
struct Running<'a> {
    opts: &'a RelayFailoverOptions,
    topo: &'a LabTopology,
    primary: DaemonProcess,
    standby: DaemonProcess,
    problem: Option<LabError>,
    errors: Vec<String>,
}

impl Running<'_> {
    /// Once per poll: the standby alive and no interrupt. On a problem
    /// both daemons are killed, so the load ends by its timeouts.
    fn check_pair(&mut self) {
        if self.problem.is_none() {
            if !self.standby.is_running() {
                self.problem = Some(self.standby.died("the standby daemon died".into()));
            } else if interrupted() {
                self.problem = Some(LabError::Interrupted);
            }
            if self.problem.is_some() {
                self.kill_both();
            }
        }
    }

    fn kill_both(&mut self) {
        for d in [&mut self.primary, &mut self.standby] {
            if d.is_running() {
                d.kill_hard();
            }
        }
    }

    /// The user's client command in the client namespace, instead of the
    /// transfers. The lab cannot see how far a user's transfer got, so the
    /// kill point is the primary card's own count of payload received
    /// (`rx_payload_bytes` over its control socket, both sides of every
    /// pair, since the pair came up): the primary is SIGKILLed once F of
    /// `--bytes` crossed it. A command that ends before that fails the run.
    fn client(&mut self, template: &str, placeholders: &Placeholders, work: &Path) -> LoadEnd {
        let (opts, topo) = (self.opts, self.topo);
        let r = &opts.relay;
        let kill_at = opts.failover_at.map(|f| (r.bytes as f64 * f.clamp(0.0, 1.0)) as u64);
        let before = match card_stats(&self.primary) {
            Ok(s) => s,
            Err(e) => {
                self.problem = Some(e);
                self.kill_both();
                return LoadEnd { killed_at: None, what: Load::Client(None) };
            }
        };
        let mut killed_at = None;
        let ns = &topo.client_ns;
        let outcome = std::thread::scope(|scope| {
            let client = scope.spawn(move || relay::run_client_cmd(ns, template, placeholders, work, r.timeout));
            loop {
                if let (Some(at), None, None) = (kill_at, killed_at, &self.problem) {
                    match card_stats(&self.primary) {
                        Ok(now) => {
                            let crossed = u64::from(now.delta_since(&before).get(Stat::RxPayloadBytes));
                            if crossed >= at {
                                tracing::info!(crossed, at, "killing the primary (SIGKILL)");
                                self.primary.kill_hard();
                                killed_at = Some(crossed);
                            }
                        }
                        Err(e) => {
                            self.problem = Some(e);
                            self.kill_both();
                        }
                    }
                }
                self.check_pair();
                if client.is_finished() {
                    break;
                }
                std::thread::sleep(POLL);
            }
            client
                .join()
                .unwrap_or_else(|_| Err(relay::servers_error(servers::ServersError::Net(netns::NetnsError::ThreadPanicked("client command".into())))))
        });
        let outcome = match outcome {
            Ok(o) => Some(o),
            Err(e) => {
                self.problem.get_or_insert(e);
                None
            }
        };
        if let (Some(f), Some(_), None) = (opts.failover_at, kill_at, killed_at) {
            self.errors.push(format!("the client command ended before {f} of --bytes ({} bytes) crossed the card; the primary was never killed", r.bytes));
        }
        LoadEnd { killed_at, what: Load::Client(outcome) }
    }

    /// The curl downloads from nginx and the uploads to the sink at once
    /// (and the late connection); the primary is SIGKILLed when F of the
    /// downloads' bytes arrived (the files' size, polled).
    fn transfers(
        &mut self,
        work: &Path,
        served: &GeneratedFile,
        sent: &GeneratedFile,
        sink: &UploadSink,
        late: Option<(GeneratedFile, UploadSink)>,
        start: Instant,
    ) -> LoadEnd {
        let (opts, topo) = (self.opts, self.topo);
        let n = opts.relay.conns.max(1);
        let card = |port| SocketAddrV4::new(topo.card_ip, port);
        let url = format!("http://{}/{}", card(RELAY_HTTP_PORT), served.name);
        let download_timeout = opts.relay.timeout + Duration::from_secs(served.bytes * n as u64 / (64 << 10));
        let outputs: Vec<PathBuf> = (0..n).map(|i| work.join(format!("downloaded-{i}.bin"))).collect();
        let uploaded: Vec<PathBuf> = (0..n).map(|i| work.join("uploads").join(format!("upload-{i}.bin"))).collect();
        let total_download = served.bytes * n as u64;
        let kill_at = opts.failover_at.map(|f| (total_download as f64 * f.clamp(0.0, 1.0)) as u64);
        let mut killed_at = None;
        let killed = Arc::new(AtomicBool::new(false));
        let mut late_client = None;
        let mut down_watch: Vec<StallWatch> = (0..n).map(|_| StallWatch::new(served.bytes, start)).collect();
        let mut up_watch: Vec<StallWatch> = (0..n).map(|_| StallWatch::new(sent.bytes, start)).collect();

        let (downloads, (uploads, up_wall), down_wall) = std::thread::scope(|scope| {
            let down: Vec<_> = outputs
                .iter()
                .map(|out| {
                    let (ns, url) = (&topo.client_ns, &url);
                    scope.spawn(move || (servers::download(ns, url, served, out, download_timeout), start.elapsed()))
                })
                .collect();
            let (ns, file) = (&topo.client_ns, &sent.path);
            let up = scope.spawn(move || {
                let r = servers::uploads_via(ns, file, card(RELAY_UPLOAD_PORT), sink, n, opts.relay.timeout);
                (r, start.elapsed())
            });
            loop {
                let now = Instant::now();
                let downs_ended: Vec<bool> = down.iter().map(|h| h.is_finished()).collect();
                let up_ended = up.is_finished();
                let mut arrived = 0;
                for ((w, out), ended) in down_watch.iter_mut().zip(&outputs).zip(&downs_ended) {
                    let len = file_len(out);
                    arrived += len;
                    w.saw(len, now, *ended);
                }
                for (w, path) in up_watch.iter_mut().zip(&uploaded) {
                    w.saw(file_len(path), now, up_ended);
                }
                if let Some(at) = kill_at {
                    if killed_at.is_none() && arrived >= at {
                        if let Some((file, _)) = &late {
                            let (file, to, killed, timeout) = (file.path.clone(), card(RELAY_LATE_PORT), killed.clone(), opts.relay.timeout);
                            match netns::spawn_in_netns(&topo.client_ns, move || late_upload(&file, to, &killed, timeout)) {
                                Ok(h) => late_client = Some(h),
                                Err(e) => self.problem = Some(LabError::from(e)),
                            }
                            std::thread::sleep(LATE_LEAD);
                        }
                        tracing::info!(arrived, at, "killing the primary (SIGKILL)");
                        self.primary.kill_hard();
                        killed.store(true, Ordering::SeqCst);
                        killed_at = Some(arrived);
                    }
                }
                self.check_pair();
                if downs_ended.iter().all(|e| *e) && up_ended && late_client.as_ref().is_none_or(|h| h.is_finished()) {
                    break;
                }
                std::thread::sleep(POLL);
            }
            let mut downloads = Vec::with_capacity(n);
            let mut down_wall = Duration::ZERO;
            for h in down {
                let (r, wall) = h.join().unwrap_or_else(|_| (Err(servers::ServersError::Net(netns::NetnsError::ThreadPanicked("download".into()))), Duration::ZERO));
                down_wall = down_wall.max(wall);
                downloads.push(r);
            }
            let up = up.join().unwrap_or_else(|_| (Err(servers::ServersError::Net(netns::NetnsError::ThreadPanicked("upload".into()))), Duration::ZERO));
            (downloads, up, down_wall)
        });
        if let (Some(at), None) = (kill_at, killed_at) {
            self.errors.push(format!("the downloads ended with fewer than the {at} bytes of the kill point; the primary was never killed"));
        }
        let late = late.map(|(file, late_sink)| {
            let sent = late_client.map(|h| match h.join() {
                Ok(Ok(r)) => r.map_err(|e| e.to_string()),
                Ok(Err(e)) => Err(crate::error::chain(&e)),
                Err(_) => Err("the late client's thread panicked".to_string()),
            });
            late_report(sent, &late_sink, &file)
        });
        let download = download_report(downloads, &outputs, served, down_wall, &down_watch);
        let upload = upload_report(uploads, sink, sent, up_wall, &up_watch);
        LoadEnd { killed_at, what: Load::Transfers { download, upload, late } }
    }
}

/// When each card sent its own frames: the frames with the service MAC as
/// source in its capture, less, in the standby's, those found byte for
/// byte in the primary's. Both cards use the service MAC, so the bridge
/// floods to the standby's port what the primary's card sends to a
/// broadcast address or to a MAC it has not learnt yet (the relay's first
/// frames toward the server), and they appear there as if the standby had
/// sent them; the standby's own frames come after the primary's death and
/// are not in the primary's capture.
fn own_frames(primary_pcap: &Path, standby_pcap: &Path, mac: [u8; 6]) -> Result<(Vec<Duration>, Vec<Duration>), capture::CaptureError> {
    let read = |path: &Path| -> Result<Vec<(Duration, Vec<u8>)>, capture::CaptureError> {
        let (records, _) = holdback_sim::pcap::read_complete_records(path)
            .map_err(|source| capture::CaptureError::Read { path: path.to_path_buf(), source })?;
        Ok(records.into_iter().filter(|(_, f)| f.get(6..12) == Some(&mac[..])).collect())
    };
    let (primary, standby) = (read(primary_pcap)?, read(standby_pcap)?);
    let mut sent_at: std::collections::HashMap<&[u8], Vec<Duration>> = std::collections::HashMap::new();
    for (at, f) in &primary {
        sent_at.entry(f.as_slice()).or_default().push(*at);
    }
    // A flooded copy is captured within milliseconds of the original (each
    // simulated card stamps its own capture, so either may come first);
    // the promoted card may well send a frame equal to one the primary sent
    // long before (its gratuitous ARP, an ACK at the same point).
    let flooded = |at: Duration, f: &[u8]| sent_at.get(f).is_some_and(|ts| ts.iter().any(|t| t.abs_diff(at) < FLOOD_WINDOW));
    let standby_own = standby.iter().filter(|(at, f)| !flooded(*at, f)).map(|(at, _)| *at).collect();
    Ok((primary.into_iter().map(|(at, _)| at).collect(), standby_own))
}

/// The late connection's client: connects to `to` (the card's late relay
/// port), waits until the primary was `killed`, then sends `file`,
/// half-closes and waits for the sink's close, as [`servers::upload`] does.
/// Returns the wall time from the connect.
fn late_upload(file: &Path, to: SocketAddrV4, killed: &AtomicBool, timeout: Duration) -> std::io::Result<Duration> {
    let data = std::fs::read(file)?;
    let start = Instant::now();
    let mut stream = TcpStream::connect_timeout(&SocketAddr::V4(to), timeout)?;
    while !killed.load(Ordering::SeqCst) {
        if start.elapsed() > timeout {
            return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "connected, but the primary was never killed"));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    stream.set_write_timeout(Some(timeout))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.write_all(&data)?;
    stream.shutdown(Shutdown::Write)?;
    let mut rest = [0u8; 64];
    match stream.read(&mut rest)? {
        0 => Ok(start.elapsed()),
        n => Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("the sink sent {n} bytes; it only receives"))),
    }
}

/// The late connection as its client and its sink saw it: the sink's
/// record that carries the bytes (the one matching what was sent, else the
/// largest) is checked; `sent` is the client's wall time or error (`None`:
/// never started).
fn late_report(sent: Option<Result<Duration, String>>, sink: &UploadSink, file: &GeneratedFile) -> LateReport {
    let records = sink.received();
    let carried = records.iter().find(|r| r.check(file).matches()).or_else(|| records.iter().max_by_key(|r| r.bytes));
    let abandoned_backends = records
        .iter()
        .filter(|r| carried.is_none_or(|c| c.index != r.index))
        .map(|r| format!("{} from {}: {} bytes, {}", r.index, r.peer, r.bytes, r.error.as_deref().unwrap_or("closed")))
        .collect();
    let mut endpoint_errors = Vec::new();
    let wall_ms = match sent {
        Some(Ok(wall)) => Some(wall.as_millis() as u64),
        Some(Err(e)) => {
            endpoint_errors.push(format!("late client: {e}"));
            None
        }
        None => {
            endpoint_errors.push("the late client never started".to_string());
            None
        }
    };
    if let Some(e) = carried.and_then(|r| r.error.as_ref()) {
        endpoint_errors.push(format!("the late sink's connection: {e}"));
    }
    let check = carried.map_or_else(
        || TransferCheck { bytes_expected: file.bytes, bytes_got: 0, sha256_expected: file.sha256.clone(), sha256_got: String::new() },
        |r| r.check(file),
    );
    LateReport { check, endpoint_errors, sink_connections: records.len(), abandoned_backends, wall_ms }
}

fn stalls(watch: &[StallWatch]) -> Vec<u64> {
    watch.iter().map(|w| w.longest.as_millis() as u64).collect()
}

/// The downloads: each one's file checked against the served one (what a
/// failed curl left too, so the report shows how far it got) and curl's
/// failures.
fn download_report(
    results: Vec<Result<Download, servers::ServersError>>,
    outputs: &[PathBuf],
    served: &GeneratedFile,
    wall: Duration,
    watch: &[StallWatch],
) -> DirectionReport {
    let mut checks = Vec::with_capacity(results.len());
    let mut endpoint_errors = Vec::new();
    for (r, out) in results.into_iter().zip(outputs) {
        match r {
            Ok(d) => checks.push(d.check),
            Err(e) => {
                endpoint_errors.push(format!("download to {}: {}", out.display(), crate::error::chain(&e)));
                checks.push(partial_check(out, served));
            }
        }
    }
    let stalls_ms = stalls(watch);
    DirectionReport { totals: Direction::of(checks, wall), longest_stall_ms: stalls_ms.iter().copied().max().unwrap_or(0), stalls_ms, endpoint_errors }
}

/// What a transfer that failed left in `path`, against `expected`.
fn partial_check(path: &Path, expected: &GeneratedFile) -> TransferCheck {
    let (bytes_got, sha256_got) = servers::hash_file(path).unwrap_or((0, String::new()));
    TransferCheck { bytes_expected: expected.bytes, bytes_got, sha256_expected: expected.sha256.clone(), sha256_got }
}

/// The uploads as the sink recorded them (also when the clients failed:
/// its records show how far each got), the clients' failure and the
/// sink's connection errors.
fn upload_report(
    result: Result<Vec<Upload>, servers::ServersError>,
    sink: &UploadSink,
    sent: &GeneratedFile,
    wall: Duration,
    watch: &[StallWatch],
) -> DirectionReport {
    let mut endpoint_errors = Vec::new();
    let records = match result {
        Ok(u) => u.into_iter().map(|u| u.sink).collect(),
        Err(e) => {
            endpoint_errors.push(format!("upload client: {}", crate::error::chain(&e)));
            sink.received()
        }
    };
    for r in &records {
        if let Some(e) = &r.error {
            endpoint_errors.push(format!("the sink's connection from {}: {e}", r.peer));
        }
    }
    let mut checks: Vec<TransferCheck> = records.iter().map(|r| r.check(sent)).collect();
    // An upload the sink has no record of yet (its connection still open
    // when the client gave up): what its file holds, unhashed.
    for w in watch.iter().skip(checks.len()) {
        checks.push(TransferCheck { bytes_expected: sent.bytes, bytes_got: w.size, sha256_expected: sent.sha256.clone(), sha256_got: String::new() });
    }
    let stalls_ms = stalls(watch);
    DirectionReport { totals: Direction::of(checks, wall), longest_stall_ms: stalls_ms.iter().copied().max().unwrap_or(0), stalls_ms, endpoint_errors }
}
