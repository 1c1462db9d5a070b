//! `holdback lab --mode relay`: the card as a TCP relay (docs/relay.md).
//!
//! ```text
//!  client netns                        card netns                          server netns
//!  [hbcli0 198.18.0.1/24]--veth--[hbbrp0]-[hbbr0]-[hbbrs0]--veth--[hbsrv0 198.18.0.3/24]
//!                                           |
//!                                        [hbtap0] simulated card 198.18.0.2
//! ```
//!
//! The card listens on relay ports mapped to the server namespace's
//! address and MAC ([`RELAY_HTTP_PORT`] to nginx on [`SERVER_HTTP_PORT`],
//! [`RELAY_UPLOAD_PORT`] to the upload sink on [`SERVER_UPLOAD_PORT`]; a
//! run may add more). By default the server namespace runs nginx serving a
//! generated file and the upload sink ([`servers`]), and the client
//! namespace downloads the file with curl and uploads another through the
//! card, `--conns` of each at once; SHA-256 both ways. `--server-cmd` and
//! `--client-cmd` run the user's templates instead. [`RelayLab`] is the
//! running lab, for tests that act in it themselves; [`run_relay_lab`] the
//! whole run behind the CLI.
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use holdback_driver::{MacAddr, RelayTarget, Stats};
use serde::Serialize;

use crate::error::io;
use crate::lab::daemon::{card_config, write_config, CardPlan, DaemonProcess};
use crate::lab::netns::{self, LabNet, LabTopology};
use crate::lab::report::CardFigures;
use crate::lab::servers::{
    self, CommandOutcome, Download, GeneratedFile, HttpServer, Placeholders, ServersError, TransferCheck, Upload, UploadSink,
    UserCommand,
};
use crate::lab::{card_stats, impairment, LabError, STOP_GRACE};

/// The card's relay port to the server's HTTP server (`{listen_port}`).
pub const RELAY_HTTP_PORT: u16 = 8080;
/// The card's relay port to the server's upload sink (`{listen_port}` + 1).
pub const RELAY_UPLOAD_PORT: u16 = 8081;
/// nginx's port in the server namespace (`{server_port}`).
pub const SERVER_HTTP_PORT: u16 = 80;
/// The upload sink's port in the server namespace (`{upload_port}`).
pub const SERVER_UPLOAD_PORT: u16 = 9000;
/// The server namespace's address, on the lab's /24 beside the client (.1) and the card (.2).
pub const SERVER_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 3);
/// The server namespace's MAC (locally administered), the card's next hop toward it.
pub const SERVER_MAC: MacAddr = MacAddr([0x02, 0x48, 0x4c, 0x44, 0x42, 0x03]);
const SERVER_IF: &str = "hbsrv0";
const SERVER_BRIDGE_PORT: &str = "hbbrs0";

/// What a relay lab runs.
#[derive(Clone, Debug)]
pub struct RelayLabOptions {
    /// Downloads and uploads at once (each way).
    pub conns: usize,
    /// Size of the file downloaded and of each upload.
    pub bytes: u64,
    pub seed: u64,
    /// The user's server template, run in the server namespace instead of
    /// nginx and the upload sink.
    pub server_cmd: Option<String>,
    /// The user's client template, run in the client namespace instead of
    /// the curl downloads and the uploads.
    pub client_cmd: Option<String>,
    /// Seeded loss/reordering at the card's port (both sides of every pair cross it).
    pub impair: Option<String>,
    /// tc netem on the clients' link.
    pub netem: Option<String>,
    pub pcap: Option<PathBuf>,
    /// How long a transfer may stall (an upload's every write and read; a
    /// download's limit adds the file's time at 512 kbit/s), and the limit
    /// of the client command.
    pub timeout: Duration,
    /// The card's connect timeout toward a backend (RELAY_CONNECT_US), ms.
    pub relay_connect_ms: u32,
    /// More relay ports: (the card's port, the backend's port on the server
    /// namespace), e.g. to a port nothing listens on.
    pub extra_relays: Vec<(u16, u16)>,
    pub rx_ring_bytes: u32,
    pub reassembly: bool,
    pub sack: bool,
    pub timestamps: bool,
    /// The `holdback` binary the daemon runs; None: this process's own.
    pub holdback_exe: Option<PathBuf>,
    /// Keep the work directory here instead of a temporary one (removed
    /// after a passing run).
    pub work_dir: Option<PathBuf>,
}

impl Default for RelayLabOptions {
    fn default() -> RelayLabOptions {
        RelayLabOptions {
            conns: 1,
            bytes: 1 << 20,
            seed: 1,
            server_cmd: None,
            client_cmd: None,
            impair: None,
            netem: None,
            pcap: None,
            timeout: Duration::from_secs(60),
            relay_connect_ms: holdback_driver::regmap::RELAY_CONNECT_US_DEFAULT / 1000,
            extra_relays: Vec::new(),
            rx_ring_bytes: holdback_driver::DEFAULT_RX_RING_BYTES,
            reassembly: true,
            sack: false,
            timestamps: false,
            holdback_exe: None,
            work_dir: None,
        }
    }
}

/// The server namespace on the lab's bridge; deleted on drop.
pub(crate) struct ServerNs {
    pub(crate) name: String,
}

impl ServerNs {
    /// `<lab>-srv` with a veth to the lab's bridge, [`SERVER_IP`] and [`SERVER_MAC`].
    pub(crate) fn create(topo: &LabTopology) -> Result<ServerNs, LabError> {
        let name = format!("{}-srv", topo.client_ns.trim_end_matches("-cli"));
        netns::add_netns(&name)?;
        let ns = ServerNs { name };
        let t = topo;
        netns::ip(&["link", "add", SERVER_IF, "netns", &ns.name, "type", "veth", "peer", "name", SERVER_BRIDGE_PORT, "netns", &t.card_ns])?;
        netns::ip(&["-n", &t.card_ns, "link", "set", SERVER_BRIDGE_PORT, "master", &t.bridge, "up"])?;
        netns::ip(&["-n", &ns.name, "link", "set", SERVER_IF, "address", &SERVER_MAC.to_string()])?;
        netns::ip(&["-n", &ns.name, "addr", "add", &format!("{SERVER_IP}/{}", t.prefix_len), "dev", SERVER_IF])?;
        netns::ip(&["-n", &ns.name, "link", "set", SERVER_IF, "up"])?;
        Ok(ns)
    }
}

impl Drop for ServerNs {
    fn drop(&mut self) {
        if let Err(e) = netns::ip(&["netns", "del", &self.name]) {
            tracing::warn!(ns = %self.name, error = %e, "could not remove the relay lab's server namespace");
        }
    }
}

/// One direction's transfers through the card.
#[derive(Clone, Debug, Serialize)]
pub struct Direction {
    /// Bytes that arrived, over all transfers.
    pub bytes: u64,
    /// Every transfer arrived whole with the SHA-256 of what was sent.
    pub sha256_match: bool,
    /// Bytes over the wall time from the first transfer's start to the last one's end, 10^6 bit/s.
    pub goodput_mbps: f64,
    pub wall_s: f64,
    pub checks: Vec<TransferCheck>,
}

impl Direction {
    pub(crate) fn of(checks: Vec<TransferCheck>, wall: Duration) -> Direction {
        let bytes = checks.iter().map(|c| c.bytes_got).sum();
        let secs = wall.as_secs_f64().max(1e-9);
        Direction {
            bytes,
            sha256_match: !checks.is_empty() && checks.iter().all(TransferCheck::matches),
            goodput_mbps: bytes as f64 * 8.0 / secs / 1e6,
            wall_s: secs,
            checks,
        }
    }
}

/// `holdback lab --mode relay --json`.
#[derive(Clone, Debug, Serialize)]
pub struct RelayReport {
    pub mode: &'static str,
    pub conns: usize,
    pub bytes_per_conn: u64,
    pub seed: u64,
    pub topology: LabTopology,
    pub server_ns: String,
    pub server_ip: Ipv4Addr,
    pub server_mac: MacAddr,
    /// The card's relay mappings.
    pub relays: Vec<RelayTarget>,
    pub relay_connect_ms: u32,
    pub placeholders: Placeholders,
    /// Server to client: the curl downloads from nginx (absent with --client-cmd).
    pub download: Option<Direction>,
    /// Client to server: the uploads to the sink (absent with --client-cmd).
    pub upload: Option<Direction>,
    pub server_cmd: Option<CommandOutcome>,
    pub client_cmd: Option<CommandOutcome>,
    /// The card's counters over the run.
    pub stats: Stats,
    /// The simulated card's own figures.
    pub card: CardFigures,
    pub impair: Option<String>,
    pub netem: Option<String>,
    pub pcap: Option<PathBuf>,
    pub errors: Vec<String>,
    /// The work directory, kept after a failing run.
    pub kept_work_dir: Option<PathBuf>,
}

impl RelayReport {
    /// Both directions arrived intact (or the client command succeeded) and nothing went wrong.
    pub fn passed(&self) -> bool {
        self.errors.is_empty()
            && self.download.as_ref().is_none_or(|d| d.sha256_match)
            && self.upload.as_ref().is_none_or(|u| u.sha256_match)
            && self.client_cmd.as_ref().is_none_or(CommandOutcome::succeeded)
    }

    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"report not serialisable: {e}\"}}"))
    }

    pub fn human(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let verdict = if self.passed() { "PASS" } else { "FAIL" };
        let _ = writeln!(s, "holdback lab --mode relay: {verdict} (seed {})", self.seed);
        for r in &self.relays {
            let _ = writeln!(s, "  relay {}:{} -> {} (next hop {})", self.topology.card_ip, r.listen, r.backend, r.next_hop);
        }
        for (what, d) in [("download (curl from nginx, server -> client)", &self.download), ("upload (to the sink, client -> server)", &self.upload)] {
            if let Some(d) = d {
                let check = if d.sha256_match { "SHA-256 match".to_string() } else { "MISMATCH".to_string() };
                let _ = writeln!(s, "  {what}: {} x {} bytes = {} bytes in {:.3} s = {:.1} Mbit/s; {check}", d.checks.len(), self.bytes_per_conn, d.bytes, d.wall_s, d.goodput_mbps);
                for c in d.checks.iter().filter(|c| !c.matches()) {
                    let _ = writeln!(s, "    {c}");
                }
            }
        }
        write_commands(&mut s, self.server_cmd.as_ref(), self.client_cmd.as_ref());
        let nonzero: Vec<String> = self.stats.iter().filter(|(_, v)| *v > 0).map(|(k, v)| format!("{}={v}", k.name())).collect();
        let _ = writeln!(s, "  card: {}", nonzero.join(" "));
        for e in &self.errors {
            let _ = writeln!(s, "  error: {e}");
        }
        if let Some(dir) = &self.kept_work_dir {
            let _ = writeln!(s, "  work directory kept: {}", dir.display());
        }
        s
    }
}

/// A running relay lab: network, servers, the card's daemon. Dropping it
/// stops everything and removes the namespaces.
pub struct RelayLab {
    // Dropped in this order: the processes, then the namespaces they ran in.
    servers: ServerSide,
    pub daemon: DaemonProcess,
    server_ns: ServerNs,
    net: LabNet,
    pub work: PathBuf,
    pub placeholders: Placeholders,
    pub relays: Vec<RelayTarget>,
    /// The file nginx serves and the one the uploads send.
    pub served: GeneratedFile,
    pub sent: GeneratedFile,
    figures: PathBuf,
    stats_before: Stats,
}

impl RelayLab {
    /// Builds the network, starts the servers (or `--server-cmd`) and the
    /// card's daemon with the relay mappings, and returns once it serves.
    pub fn start(opts: &RelayLabOptions, work: &Path) -> Result<RelayLab, LabError> {
        let impair = opts.impair.as_deref().map(|i| impairment(i, opts.seed)).transpose()?;
        std::fs::create_dir_all(work).map_err(io("creating", work))?;
        let net = LabNet::create(LabTopology::unique("relay"))?;
        let topo = net.topology().clone();
        let server_ns = ServerNs::create(&topo)?;
        if let Some(netem) = &opts.netem {
            netns::add_netem(&topo, netem)?;
        }
        let (files, served, sent) = generate_files(work, opts.seed, opts.bytes)?;
        let placeholders = placeholders(&topo, &served, work);
        let servers = ServerSide::start(&server_ns.name, opts.server_cmd.as_deref(), &placeholders, &files, work)?;
        let relays = relay_targets(&opts.extra_relays);
        let figures = work.join("card.json");
        let plan = CardPlan {
            topo: &topo,
            tap: &topo.tap,
            port: RELAY_HTTP_PORT,
            holdback: true,
            port_holdback: Vec::new(),
            pcap: opts.pcap.clone(),
            impair,
            report: Some(figures.clone()),
            rx_ring_bytes: opts.rx_ring_bytes,
            reassembly: opts.reassembly,
            sack: opts.sack,
            timestamps: opts.timestamps,
            syn_cookies: None,
            app: crate::app::AppKind::Sink,
        };
        let mut config = card_config(work.join("card.toml"), work.join("control.sock"), work.join("card-sink"), &plan);
        relay_config(&mut config, &relays, opts.relay_connect_ms, "card", "`holdback lab --mode relay` for its card")?;
        let daemon = DaemonProcess::start_ready("card", opts.holdback_exe.as_deref(), &topo.card_ns, &config, &work.join("daemon.log"))?;
        let stats_before = card_stats(&daemon)?;
        tracing::info!(client_ns = %topo.client_ns, server_ns = %server_ns.name, relays = ?relays, "relay lab up");
        Ok(RelayLab {
            servers,
            daemon,
            server_ns,
            net,
            work: work.to_path_buf(),
            placeholders,
            relays,
            served,
            sent,
            figures,
            stats_before,
        })
    }

    pub fn topology(&self) -> &LabTopology {
        self.net.topology()
    }

    pub fn client_ns(&self) -> &str {
        &self.net.topology().client_ns
    }

    pub fn server_ns(&self) -> &str {
        &self.server_ns.name
    }

    /// The card's address and port `listen`.
    pub fn relay_addr(&self, listen: u16) -> SocketAddrV4 {
        SocketAddrV4::new(self.net.topology().card_ip, listen)
    }

    /// The card's counters since the lab started.
    pub fn stats(&self) -> Result<Stats, LabError> {
        Ok(card_stats(&self.daemon)?.delta_since(&self.stats_before))
    }

    /// `n` curl downloads of the served file through [`RELAY_HTTP_PORT`] at
    /// once, and their wall time (first start to last end). `timeout` is
    /// how long a transfer may stall; curl's limit is on the whole
    /// download, so it gets that plus the file's time at 512 kbit/s, below
    /// which the relay is broken rather than slow.
    pub fn downloads(&self, n: usize, timeout: Duration) -> Result<(Vec<Download>, Duration), LabError> {
        let timeout = timeout + Duration::from_secs(self.served.bytes * n as u64 / (64 << 10));
        let url = format!("http://{}/{}", self.relay_addr(RELAY_HTTP_PORT), self.served.name);
        let start = Instant::now();
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let (ns, url, served) = (self.client_ns().to_string(), url.clone(), self.served.clone());
                let out = self.work.join(format!("downloaded-{i}.bin"));
                std::thread::spawn(move || servers::download(&ns, &url, &served, &out, timeout))
            })
            .collect();
        let mut done = Vec::with_capacity(n);
        for h in handles {
            done.push(h.join().map_err(|_| LabError::Pair { name: "card", what: "a download thread panicked".into() })?.map_err(servers_error)?);
        }
        Ok((done, start.elapsed()))
    }

    /// `n` uploads of the sent file through [`RELAY_UPLOAD_PORT`] at once, as
    /// the sink recorded them, and their wall time.
    pub fn uploads(&self, n: usize, timeout: Duration) -> Result<(Vec<Upload>, Duration), LabError> {
        let sink = self.servers.sink.as_ref().ok_or_else(|| LabError::Pair { name: "card", what: "no upload sink runs (--server-cmd)".into() })?;
        let start = Instant::now();
        let up = servers::uploads_via(self.client_ns(), &self.sent.path, self.relay_addr(RELAY_UPLOAD_PORT), sink, n, timeout)
            .map_err(servers_error)?;
        Ok((up, start.elapsed()))
    }

    /// Runs the user's client template in the client namespace.
    pub fn client_cmd(&self, template: &str, timeout: Duration) -> Result<CommandOutcome, LabError> {
        run_client_cmd(self.client_ns(), template, &self.placeholders, &self.work, timeout)
    }

    /// Stops the daemon (SIGTERM) and the servers; the card's counters over
    /// the run, its own figures and the server command's outcome.
    pub fn finish(mut self) -> Result<(Stats, CardFigures, Option<CommandOutcome>), LabError> {
        let stats = self.stats()?;
        match self.daemon.stop(STOP_GRACE) {
            Some(status) if status.success() => {}
            other => return Err(self.daemon.died(format!("did not exit cleanly on SIGTERM ({other:?})"))),
        }
        let text = std::fs::read_to_string(&self.figures).map_err(io("reading the card's figures from", &self.figures))?;
        let card: CardFigures = serde_json::from_str(&text).map_err(|source| LabError::Figures { path: self.figures.clone(), source })?;
        let server_cmd = self.servers.server_cmd.take().map(UserCommand::stop);
        Ok((stats, card, server_cmd))
    }
}

/// The user's commands as the reports show them: each one's command, how
/// it ended and every line it printed (the relay lab's and the relaying
/// pair's reports alike).
pub(crate) fn write_commands(s: &mut String, server: Option<&CommandOutcome>, client: Option<&CommandOutcome>) {
    use std::fmt::Write as _;
    for (what, cmd) in [("server-cmd", server), ("client-cmd", client)] {
        if let Some(c) = cmd {
            let _ = writeln!(s, "  {what} `{}`: {}{}", c.command, c.status, if c.timed_out { " (timed out)" } else { "" });
            for (name, text) in [("stdout", &c.stdout), ("stderr", &c.stderr)] {
                for line in text.lines() {
                    let _ = writeln!(s, "    {name}| {line}");
                }
            }
        }
    }
}

/// What the user's templates may name: the card's relay port to the
/// server's HTTP port, the served file, the work directory.
pub(crate) fn placeholders(topo: &LabTopology, served: &GeneratedFile, work: &Path) -> Placeholders {
    Placeholders {
        server_ip: SERVER_IP,
        server_port: SERVER_HTTP_PORT,
        upload_port: SERVER_UPLOAD_PORT,
        listen_ip: topo.card_ip,
        listen_port: RELAY_HTTP_PORT,
        client_ip: topo.client_ip,
        file: served.name.clone(),
        work_dir: work.to_path_buf(),
    }
}

/// The server namespace's side of a run: the user's `--server-cmd`, or
/// nginx and the upload sink. Dropping it ends them (before the namespace
/// goes: declare it before the [`ServerNs`]).
pub(crate) struct ServerSide {
    pub(crate) server_cmd: Option<UserCommand>,
    // Held so nginx serves while the lab runs; the downloads go to the card's address.
    _http: Option<HttpServer>,
    pub(crate) sink: Option<UploadSink>,
}

impl ServerSide {
    /// `server_cmd` expanded with `placeholders` in the namespace `ns`, or
    /// without one nginx serving `files` and the upload sink.
    pub(crate) fn start(ns: &str, server_cmd: Option<&str>, placeholders: &Placeholders, files: &Path, work: &Path) -> Result<ServerSide, LabError> {
        if let Some(t) = server_cmd {
            let cmd = UserCommand::start(ns, t, placeholders, work, "server-cmd").map_err(servers_error)?;
            return Ok(ServerSide { server_cmd: Some(cmd), _http: None, sink: None });
        }
        let (http, sink) = start_servers(ns, files, work)?;
        Ok(ServerSide { server_cmd: None, _http: Some(http), sink: Some(sink) })
    }
}

/// Runs the user's client template in the client namespace `ns` to its
/// end, or kills it after `timeout`; its output goes to
/// `work/client-cmd.stdout` and `.stderr`.
pub(crate) fn run_client_cmd(ns: &str, template: &str, placeholders: &Placeholders, work: &Path, timeout: Duration) -> Result<CommandOutcome, LabError> {
    UserCommand::run(ns, template, placeholders, work, "client-cmd", timeout).map_err(servers_error)
}

/// The file nginx serves (`files/download.bin`, seeded by `seed`) and the
/// one the uploads send (`upload.bin`), `bytes` each, in `work`; and the
/// directory nginx serves.
pub(crate) fn generate_files(work: &Path, seed: u64, bytes: u64) -> Result<(PathBuf, GeneratedFile, GeneratedFile), LabError> {
    let files = work.join("files");
    std::fs::create_dir_all(&files).map_err(io("creating", &files))?;
    let served = servers::generate_file(&files, "download.bin", seed, bytes).map_err(servers_error)?;
    // Another stream, so a server echoing the download cannot pass the upload check.
    let sent = servers::generate_file(work, "upload.bin", seed.wrapping_add(1), bytes).map_err(servers_error)?;
    Ok((files, served, sent))
}

/// nginx serving `files` on [`SERVER_HTTP_PORT`] and the upload sink
/// (writing into `work/uploads`) on [`SERVER_UPLOAD_PORT`], in the server
/// namespace `ns`.
fn start_servers(ns: &str, files: &Path, work: &Path) -> Result<(HttpServer, UploadSink), LabError> {
    let http = HttpServer::start(ns, SocketAddrV4::new(SERVER_IP, SERVER_HTTP_PORT), files, work).map_err(servers_error)?;
    let sink = UploadSink::start(ns, SocketAddrV4::new(SERVER_IP, SERVER_UPLOAD_PORT), &work.join("uploads")).map_err(servers_error)?;
    Ok((http, sink))
}

/// The card's relay mappings: [`RELAY_HTTP_PORT`] to nginx,
/// [`RELAY_UPLOAD_PORT`] to the upload sink, then `extra` (the card's
/// port, the backend's port), all toward the server namespace.
pub(crate) fn relay_targets(extra: &[(u16, u16)]) -> Vec<RelayTarget> {
    [(RELAY_HTTP_PORT, SERVER_HTTP_PORT), (RELAY_UPLOAD_PORT, SERVER_UPLOAD_PORT)]
        .into_iter()
        .chain(extra.iter().copied())
        .map(|(listen, backend)| RelayTarget { listen, backend: SocketAddrV4::new(SERVER_IP, backend), next_hop: SERVER_MAC })
        .collect()
}

/// Makes `config` a relaying card's (every listening port relays, to
/// `relays`; the application follows no connection) and writes it; the
/// file is read back as the daemon will, so whatever the config refuses is
/// refused here, naming the daemon `name`.
pub(crate) fn relay_config(
    config: &mut crate::config::Config,
    relays: &[RelayTarget],
    relay_connect_ms: u32,
    name: &'static str,
    written_by: &str,
) -> Result<(), LabError> {
    config.network.listen_ports = relays.iter().map(|r| r.listen).collect();
    config.relay = relays.to_vec();
    config.tcp.relay_connect_us = relay_connect_ms.saturating_mul(1000);
    write_config(config, written_by)?;
    crate::config::load(&config.path).map_err(|e| LabError::Pair { name, what: format!("refused the relay lab's config: {e}") })?;
    Ok(())
}

pub(crate) fn servers_error(e: ServersError) -> LabError {
    LabError::Servers(Box::new(e))
}

/// The whole relay run: [`RelayLab::start`], the transfers (or the client
/// command), the checks, the teardown; the work directory is removed after
/// a passing run unless it was given.
pub fn run_relay_lab(opts: &RelayLabOptions) -> Result<RelayReport, LabError> {
    let (result, kept) = super::run_in_work_dir(opts.work_dir.clone(), "relay-lab", RelayReport::passed, |work| run_into(opts, work));
    result.map(|mut r| {
        r.kept_work_dir = kept;
        r
    })
}

fn run_into(opts: &RelayLabOptions, work: &Path) -> Result<RelayReport, LabError> {
    let lab = RelayLab::start(opts, work)?;
    let mut errors = Vec::new();
    let (mut download, mut upload, mut client_cmd) = (None, None, None);
    match &opts.client_cmd {
        Some(t) => client_cmd = Some(lab.client_cmd(t, opts.timeout)?),
        None => {
            match lab.downloads(opts.conns, opts.timeout) {
                Ok((d, wall)) => download = Some(Direction::of(d.into_iter().map(|d| d.check).collect(), wall)),
                Err(e) => errors.push(format!("download: {}", crate::error::chain(&e))),
            }
            match lab.uploads(opts.conns, opts.timeout) {
                Ok((u, wall)) => {
                    let checks = u.iter().map(|u| u.sink.check(&lab.sent)).collect();
                    for e in u.iter().filter_map(|u| u.sink.error.as_ref()) {
                        errors.push(format!("upload: the sink's connection ended with: {e}"));
                    }
                    upload = Some(Direction::of(checks, wall));
                }
                Err(e) => errors.push(format!("upload: {}", crate::error::chain(&e))),
            }
        }
    }
    if crate::lab::interrupted() {
        return Err(LabError::Interrupted);
    }
    let (topology, server_ns, placeholders, relays) =
        (lab.topology().clone(), lab.server_ns().to_string(), lab.placeholders.clone(), lab.relays.clone());
    let (stats, card, server_cmd) = lab.finish()?;
    if card.frames_out_dropped > 0 {
        errors.push(format!("the kernel refused {} frames the card sent", card.frames_out_dropped));
    }
    Ok(RelayReport {
        mode: "relay",
        conns: opts.conns,
        bytes_per_conn: opts.bytes,
        seed: opts.seed,
        topology,
        server_ns,
        server_ip: SERVER_IP,
        server_mac: SERVER_MAC,
        relays,
        relay_connect_ms: opts.relay_connect_ms,
        placeholders,
        download,
        upload,
        server_cmd,
        client_cmd,
        stats,
        card,
        impair: opts.impair.clone(),
        netem: opts.netem.clone(),
        pcap: opts.pcap.clone(),
        errors,
        kept_work_dir: None,
    })
}
