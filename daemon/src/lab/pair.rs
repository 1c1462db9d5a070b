//! `holdback lab --failover-at F`: the hot-standby lab. Two
//! separate `holdback daemon` processes, each with its own simulated card on
//! the lab bridge (same service MAC and IP, like a VRRP virtual address), a
//! replication link between them on its own veth, each with its own sink
//! directory (`store = "replicated"`: the committed bytes cross the link to
//! the standby's; `--store shared` gives both one directory instead), and
//! real Linux clients. When fraction F of all bytes has been sent, the
//! primary process is killed with SIGKILL; the standby (heartbeat or
//! external detector) promotes itself and the clients' own retransmissions
//! fill the gap. The report says what the peers saw: every stream's
//! SHA-256, bytes lost, duplicated, resets, the failover time from the
//! cards' captures and the longest stall a client's application saw.
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

pub use crate::config::{Detector, Gate, ReplicateMode, StoreMode, SyncMode};
use crate::app::AppKind;
use crate::config::{Config, Replication, Role, DEFAULT_ACK_TIMEOUT_MS};
use crate::control::{client, PairLink, Request, Response};
use crate::error::io;
use crate::lab::capture::{self, CardCapture};
use crate::lab::clients::{self, ClientOutcome, ClientPlan};
pub use crate::lab::daemon::DaemonProcess;
use crate::lab::daemon::{card_config, write_config, CardPlan, READY_TIMEOUT};
use crate::lab::netns::{LabNet, LabTopology, NetnsError};
use crate::lab::plot::{self, FailoverTimeline, PairEvidence};
use crate::lab::progress::{Phase, Progress};
use crate::lab::{interrupted, LabError, DEFAULT_PORT};

/// TCP port of the replication link (on the lab's own 198.19.0.0/30 veth).
pub const REPLICATION_PORT: u16 = 7400;
/// Bytes the late connection (opened right before the kill, invariant 6) sends.
const LATE_BYTES: u64 = 256 << 10;
/// The late connection's stream seed: not any regular client's stream.
fn late_seed(seed: u64) -> u64 {
    seed ^ 0x1a7e_c0de
}

/// Something a test does to the running pair, called on every pass of the
/// lab's loop with the fraction of all bytes sent so far (e.g. hostile
/// connections to the standby's replication port).
#[derive(Clone)]
pub struct Disturbance(pub Arc<DisturbFn>);

/// Called with (fraction of all bytes sent, the lab's topology).
pub type DisturbFn = dyn Fn(f64, &LabTopology) + Send + Sync;

impl std::fmt::Debug for Disturbance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Disturbance(..)")
    }
}

/// What a failover lab run does.
#[derive(Clone, Debug)]
pub struct FailoverOptions {
    pub conns: usize,
    pub bytes: u64,
    pub seed: u64,
    /// Kill the primary when this fraction of all bytes was sent; `None`
    /// runs the pair without a failure (baseline goodput).
    pub failover_at: Option<f64>,
    /// Gates of the primary: "app", "replica".
    pub gates: Vec<Gate>,
    pub sync: SyncMode,
    pub replicate: ReplicateMode,
    pub detector: Detector,
    pub dup_acks: bool,
    /// ACK holdback on both cards; off: ACK on receipt (the goodput
    /// baseline — a failover then loses what the sink had not committed).
    pub holdback: bool,
    pub heartbeat_ms: u64,
    pub heartbeat_misses: u32,
    /// Cut the replication link when this fraction of all bytes was sent,
    /// for this long, with the primary alive (invariant 2). Use with
    /// `detector = external`, or the standby promotes itself.
    pub cut_replication: Option<(f64, Duration)>,
    /// tc netem arguments for the client's link, e.g. "loss 1% reorder 1% delay 1ms"
    /// (needs a kernel with sch_netem).
    pub netem: Option<String>,
    /// Seeded loss/reordering of the frames arriving at both cards' ports
    /// ("loss 1% reorder 1%"): netem's effect on the client→card direction,
    /// on kernels without sch_netem.
    pub impair: Option<String>,
    /// Open one more connection right before the kill (invariant 6).
    pub late_conn: bool,
    pub stall_timeout: Duration,
    /// Keep the work directory (configs, logs, captures, sink files).
    pub keep_dir: Option<PathBuf>,
    pub disturbance: Option<Disturbance>,
    /// The `holdback` binary the daemons run; None: this process's own
    /// executable (right for the CLI; a test passes the built binary).
    pub holdback_exe: Option<PathBuf>,
    /// Draw the run to this SVG file (the failover's timeline, or goodput
    /// and held-back bytes without one).
    pub plot: Option<PathBuf>,
    pub progress: Progress,
    /// A planned switchover (`holdback switchover`, the primary alive) when
    /// this fraction of all bytes was sent.
    pub switchover_at: Option<f64>,
    /// Each daemon its own sink directory (`replicated`), or one for both.
    pub store: StoreMode,
    /// Kill with R behind rcv_nxt (invariant 3): pause the primary's
    /// releases at the kill point and kill it once the standby's copies
    /// show bytes received but not released.
    pub lag_at_kill: bool,
    /// Run the pair under the etcd authority (docs/authority.md), with the
    /// lab's own etcd member ([`crate::lab::chaos::EtcdLab`]); otherwise
    /// the pair's own means (`kind = "pair"`).
    pub etcd: bool,
    /// The application on both cards: the sink (every stream checked in
    /// the store), or the echo (every stream checked as it came back to its
    /// client; the cards' send side then fails over too, docs/failover.md
    /// invariant 9).
    pub app: AppKind,
    /// Take the primary card's port off the bridge this long before the
    /// kill: what its card sends in between never reaches a peer, as when
    /// a card dies with frames in flight, so the promoted card must resend
    /// them from its own copy.
    pub isolate_before_kill: Option<Duration>,
    /// Out-of-order reassembly on both cards (`[network] reassembly`).
    pub reassembly: bool,
    /// SACK on both cards (`[network] sack`; takes effect with reassembly):
    /// the ranges the primary SACKed are gone after a failover
    /// (docs/engine.md, "After a promotion: none until fresh holes").
    pub sack: bool,
    /// TCP timestamps on both cards (`[network] timestamps`): the report
    /// says what the clients dropped by PAWS (invariant 7, docs/failover.md).
    pub timestamps: bool,
    /// SYN cookies on both cards from this half-open count (`--syn-cookies`);
    /// both derive the same keys from the pair's secret, so the standby
    /// accepts the primary's cookies after a failover. None: off.
    pub syn_cookies: Option<u16>,
}

/// How long a kill with SACK on waits for the primary to hold SACKed
/// ranges above its ACKs.
const SACKED_RANGES_WAIT: Duration = Duration::from_secs(5);

impl Default for FailoverOptions {
    fn default() -> Self {
        FailoverOptions {
            conns: 4,
            bytes: 1 << 20,
            seed: 1,
            failover_at: Some(0.5),
            gates: vec![Gate::App, Gate::Replica],
            sync: SyncMode::BeforeAck,
            replicate: ReplicateMode::AtSetup,
            detector: Detector::Heartbeat,
            dup_acks: true,
            holdback: true,
            heartbeat_ms: 50,
            cut_replication: None,
            heartbeat_misses: 3,
            netem: None,
            impair: None,
            late_conn: false,
            stall_timeout: Duration::from_secs(60),
            keep_dir: None,
            disturbance: None,
            holdback_exe: None,
            plot: None,
            progress: Progress::hidden(),
            switchover_at: None,
            store: StoreMode::Replicated,
            lag_at_kill: false,
            etcd: false,
            app: AppKind::Sink,
            isolate_before_kill: None,
            reassembly: true,
            sack: false,
            timestamps: false,
            syn_cookies: None,
        }
    }
}

/// One stream's verdict.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct StreamResult {
    pub index: usize,
    pub client_port: u16,
    pub bytes_sent: u64,
    /// Length of the sink file.
    pub bytes_delivered: u64,
    pub sha256_match: bool,
    /// Sent bytes not in the sink file at their offset (the first
    /// differing byte onwards, counted up to what was sent).
    pub bytes_lost: u64,
    /// Bytes in the sink file beyond what was sent.
    pub duplicate_bytes: u64,
    pub reset: bool,
    pub max_stall_ms: u64,
    /// Last byte accepted → the card's FIN.
    #[serde(default)]
    pub fin_wait_ms: u64,
    pub linux_retransmits: u32,
    pub tcpi_bytes_acked: u64,
    /// Opened right before the kill (invariant 6).
    pub late: bool,
    pub error: Option<String>,
}

/// What happened while the replication link was cut (primary alive).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct CutReport {
    pub duration_ms: u64,
    /// Comparisons of every connection's R on the primary card with the
    /// copy the standby card holds, and how many found the primary ahead
    /// (invariant 2 says: none).
    pub samples: u64,
    pub primary_ahead_of_standby: u64,
    /// Bytes the clients got accepted during the cut (their socket buffers
    /// fill; nothing new is ACKed).
    pub bytes_sent_during_cut: u64,
    /// Resumes + full syncs the primary ran after the link came back.
    pub reconnects: u64,
    /// Bytes the clients sent after the link came back.
    pub bytes_sent_after: u64,
}

/// `holdback lab --failover-at F --json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FailoverReport {
    pub conns: usize,
    pub bytes_per_conn: u64,
    pub seed: u64,
    pub gates: Vec<Gate>,
    pub sync: SyncMode,
    pub replicate: ReplicateMode,
    pub detector: Detector,
    pub dup_acks: bool,
    pub failover_at: Option<f64>,
    pub netem: Option<String>,
    #[serde(default)]
    pub impair: Option<String>,
    /// Every stream (the late one included) arrived complete and intact.
    pub sha256_match: bool,
    pub bytes_sent: u64,
    pub bytes_lost: u64,
    pub duplicate_bytes: u64,
    /// Connections the clients saw reset, and RST segments on either card's port.
    pub resets_seen: u64,
    pub rst_segments: u64,
    /// Last frame the primary sent → first frame the standby sent (captures).
    pub failover_ms: Option<f64>,
    /// Last client data the primary received → first client data the
    /// promoted standby received (captures): the gap the peers' data saw.
    #[serde(default)]
    pub wire_gap_ms: Option<f64>,
    /// Longest time any client's application waited to send more (the
    /// stall a failover causes; the wait for the card's FIN is apart).
    pub max_stall_ms: u64,
    /// Longest wait from a client's last byte to the card's FIN.
    #[serde(default)]
    pub max_fin_wait_ms: u64,
    /// Bytes on the replication link per TCB update (the primary's count).
    pub replication_bytes_per_update: Option<f64>,
    pub goodput_mbps: f64,
    pub duration_s: f64,
    /// The standby's card sent gratuitous ARPs / pure ACKs after promotion.
    pub standby_garps: u64,
    pub standby_acks: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication_cut: Option<CutReport>,
    /// Connections the standby refused on its replication port, by reason
    /// (hostile peers; read before the run ends).
    #[serde(default)]
    pub standby_refused: std::collections::BTreeMap<String, u64>,
    /// Full syncs + resumes the standby's link counted (1 for an undisturbed run).
    #[serde(default)]
    pub standby_sessions: u64,
    /// When what happened, from the captures and the standby's log and
    /// status (a run whose primary was killed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeline: Option<FailoverTimeline>,
    /// Where the streams were checked: with `replicated` the store of the
    /// daemon that ran the sink last (the promoted standby's alone after a
    /// failover), with `shared` the one directory.
    #[serde(default = "default_store")]
    pub store: StoreMode,
    /// Bytes the primary sent on the replication link (TCB copies, stream
    /// bytes, heartbeats, framing), and per byte delivered to the sink.
    #[serde(default)]
    pub replication_bytes: Option<u64>,
    #[serde(default)]
    pub replication_bytes_per_delivered_byte: Option<f64>,
    /// With `lag_at_kill`: Σ (rcv_nxt − R) over the standby's copies when
    /// the primary was killed — bytes the peers had to send again.
    #[serde(default)]
    pub held_back_at_kill: Option<u64>,
    pub streams: Vec<StreamResult>,
    pub work_dir: PathBuf,
    pub errors: Vec<String>,
    /// `--switchover-at`: what the planned switchover did and what the
    /// cards' captures show of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub switchover: Option<SwitchoverReport>,
    /// The application on both cards.
    #[serde(default)]
    pub app: AppKind,
    /// After a failover, payload segments the promoted standby's card sent
    /// at sequence numbers the primary's card had sent already: bytes the
    /// standby resent from its copy of the transmit ring (docs/failover.md,
    /// invariant 9). `None` without a failover or without an application
    /// that sends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standby_resent_from_copy: Option<u64>,
    /// SACK on (with reassembly): what the killed primary had SACKed above
    /// its last ACKs, which the promoted card never held, and how long the
    /// peers took to bring it again (the captures). `None` without SACK or
    /// without a failover.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reneged_at_kill: Option<capture::Reneged>,
    /// TCP timestamps on both cards (`--timestamps`).
    #[serde(default)]
    pub timestamps: bool,
    /// Timestamps on, after a failover: the step from the dead card's last
    /// TSval to the promoted card's first, per connection (the captures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tsval_step_at_kill: Option<capture::TsvalStep>,
    /// Segments the Linux clients dropped by PAWS or for a bad TSecr
    /// (`nstat` TcpExtPAWS* and TcpExtTSEcrRejected): a promoted card whose
    /// TSval went back shows here (invariant 7). `None` if nstat did not answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_paws_drops: Option<u64>,
}

/// The planned switchover of a pair lab run (`--switchover-at F`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SwitchoverReport {
    /// The fraction of all bytes sent when it started.
    pub at: f64,
    pub outcome: Option<crate::tools::switchover::SwitchoverOutcome>,
    pub error: Option<String>,
    /// Last frame the old primary's card sent → first frame the new
    /// primary's card sent, from the two captures (ms; negative if they
    /// overlapped).
    pub switchover_ms: Option<f64>,
    /// The same two instants, Unix time in microseconds.
    pub old_card_last_sent_unix_us: Option<u64>,
    pub new_card_first_sent_unix_us: Option<u64>,
    /// A frame of the old card is not older than the new card's first:
    /// both answered at once (invariant 8 broken).
    pub cards_overlapped: bool,
}

/// When the cards of a switchover sent their frames: the old card's last
/// and the new card's first own frame, from their captures (`old_pcap`,
/// `new_pcap`; [`crate::lab::chaos::own_frames`] tells a card's own frames
/// from the other card's broadcasts the bridge flooded to it).
fn switchover_frames(old_pcap: &Path, new_pcap: &Path, mac: [u8; 6]) -> Result<(Option<Duration>, Option<Duration>), LabError> {
    let (old, new) = crate::lab::chaos::own_frames(old_pcap, new_pcap, mac).map_err(capture_err)?;
    Ok((old.into_iter().max(), new.into_iter().min()))
}

impl SwitchoverReport {
    fn from_captures(
        at: f64,
        run: Result<crate::tools::switchover::SwitchoverOutcome, String>,
        (last, first): (Option<Duration>, Option<Duration>),
    ) -> SwitchoverReport {
        let us = |d: Duration| d.as_micros() as u64;
        let (outcome, error) = match run {
            Ok(o) => (Some(o), None),
            Err(e) => (None, Some(e)),
        };
        SwitchoverReport {
            at,
            outcome,
            error,
            switchover_ms: last.zip(first).map(|(l, f)| (f.as_secs_f64() - l.as_secs_f64()) * 1e3),
            old_card_last_sent_unix_us: last.map(us),
            new_card_first_sent_unix_us: first.map(us),
            cards_overlapped: last.zip(first).is_some_and(|(l, f)| l >= f),
        }
    }
}

impl FailoverReport {
    pub fn passed(&self) -> bool {
        self.sha256_match
            && self.bytes_lost == 0
            && self.duplicate_bytes == 0
            && self.resets_seen == 0
            && self.errors.is_empty()
            && !self.switchover.as_ref().is_some_and(|s| s.cards_overlapped)
    }

    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"report not serialisable: {e}\"}}"))
    }

    pub fn human(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "holdback failover lab: {} — {} connections × {} bytes to the {} application, gates {:?}, sync {:?}, replicate {:?}, detector {:?}, dup-ACKs {}",
            if self.passed() { "PASS" } else { "FAIL" },
            self.conns,
            self.bytes_per_conn,
            self.app.name(),
            self.gates,
            self.sync,
            self.replicate,
            self.detector,
            if self.dup_acks { "on" } else { "off" },
        );
        let fo = self.failover_ms.map_or("-".to_string(), |v| format!("{v:.1} ms"));
        let _ = writeln!(
            s,
            "  failover at {:?}: failover {fo}, max stall {} ms; lost {} B, duplicate {} B, resets {} (RST segments {}); sha256 {}",
            self.failover_at,
            self.max_stall_ms,
            self.bytes_lost,
            self.duplicate_bytes,
            self.resets_seen,
            self.rst_segments,
            if self.sha256_match { "match" } else { "MISMATCH" },
        );
        if let Some(sw) = &self.switchover {
            let _ = writeln!(
                s,
                "  switchover at {}: last old-card frame → first new-card frame {}{}",
                sw.at,
                sw.switchover_ms.map_or("-".to_string(), |v| format!("{v:.1} ms")),
                if sw.cards_overlapped { " — BOTH CARDS ANSWERED AT ONCE" } else { "" }
            );
        }
        let _ = writeln!(
            s,
            "  goodput {:.1} Mbit/s over {:.2} s; replication {} B/update, {} link B per delivered B (store {:?})",
            self.goodput_mbps,
            self.duration_s,
            self.replication_bytes_per_update.map_or("-".into(), |v| format!("{v:.1}")),
            self.replication_bytes_per_delivered_byte.map_or("-".into(), |v| format!("{v:.3}")),
            self.store,
        );
        if let Some(r) = &self.reneged_at_kill {
            let _ = writeln!(
                s,
                "  SACKed by the primary and reneged at the kill: {} B on {} connections; the promoted card acknowledged them {} after its first frame",
                r.bytes,
                r.conns,
                r.refilled_ms.map_or("-".to_string(), |v| format!("{v:.1} ms")),
            );
        }
        if let Some(n) = self.standby_resent_from_copy {
            let _ = writeln!(s, "  the standby resent {n} payload segments from its copy of the transmit ring");
        }
        if self.timestamps {
            let _ = writeln!(s, "  timestamps on: {} segments dropped by the clients' PAWS", self.client_paws_drops.map_or("-".to_string(), |n| n.to_string()));
        }
        if let Some(t) = &self.tsval_step_at_kill {
            let _ = writeln!(
                s,
                "  TSval from the dead card's last to the promoted card's first: at least {} ticks on {} connections ({} went back)",
                t.smallest_ticks, t.conns, t.went_back
            );
        }
        for e in &self.errors {
            let _ = writeln!(s, "  error: {e}");
        }
        for c in self.streams.iter().filter(|c| !c.sha256_match || c.error.is_some()) {
            let _ = writeln!(
                s,
                "  client {} (port {}{}): sent {} delivered {} lost {} {}",
                c.index,
                c.client_port,
                if c.late { ", late" } else { "" },
                c.bytes_sent,
                c.bytes_delivered,
                c.bytes_lost,
                c.error.as_deref().unwrap_or("content differs")
            );
        }
        let _ = writeln!(s, "  work directory: {}", self.work_dir.display());
        s
    }
}

fn default_store() -> StoreMode {
    StoreMode::Shared
}

/// Sent bytes missing from `file` (first differing offset onwards), and
/// bytes in the file beyond what was sent.
pub(crate) fn compare_stream(file: &Path, seed: u64, index: usize, sent: u64) -> std::io::Result<(u64, u64, bool)> {
    use rand::RngCore;
    use std::io::Read;
    let mut f = std::fs::File::open(file)?;
    let len = f.metadata()?.len();
    let mut rng = clients::stream_rng(seed, index);
    let mut want = vec![0u8; 1 << 16];
    let mut got = vec![0u8; 1 << 16];
    let mut off = 0u64;
    while off < sent {
        let n = (sent - off).min(want.len() as u64) as usize;
        rng.fill_bytes(&mut want[..n]);
        let mut have = 0;
        while have < n {
            let k = f.read(&mut got[have..n])?;
            if k == 0 {
                break;
            }
            have += k;
        }
        if let Some(i) = (0..have).find(|&i| got[i] != want[i]) {
            return Ok((sent - off - i as u64, len.saturating_sub(sent), false));
        }
        if have < n {
            return Ok((sent - off - have as u64, 0, false));
        }
        off += n as u64;
    }
    Ok((0, len.saturating_sub(sent), len == sent))
}

/// A pair lab's two daemons, their configs written in the work directory
/// (`primary.toml`, `standby.toml`; sockets, logs, captures and epoch
/// records beside them), a shared secret, and a sink directory per daemon
/// (`primary-sink/`, `standby-sink/`; one `sink/` for `store = "shared"`).
/// The pair lab and the pair tests set a pair up through this alone.
pub struct PairSetup {
    /// The work directory.
    pub dir: PathBuf,
    pub primary: PairMember,
    pub standby: PairMember,
}

/// One daemon of a [`PairSetup`].
pub struct PairMember {
    pub name: &'static str,
    /// The namespace it runs in (its end of the replication link).
    pub netns: String,
    pub config: Config,
    /// Its card's capture.
    pub pcap: PathBuf,
    /// Its `[replication] state_file`.
    pub epoch_file: PathBuf,
}

impl PairMember {
    /// Starts this member's daemon (logging to `log` in the work
    /// directory) and waits until it serves.
    pub fn start(&self, exe: Option<&Path>, log: &Path) -> Result<DaemonProcess, LabError> {
        DaemonProcess::start_ready(self.name, exe, &self.netns, &self.config, log)
    }

    pub fn socket(&self) -> &Path {
        &self.config.socket
    }

    /// Its own store: where its sink writes, and as a standby with
    /// `store = "replicated"`, where the bytes from the link go.
    pub fn sink_dir(&self) -> &Path {
        &self.config.sink_dir
    }
}

impl PairSetup {
    /// Writes the secret and both configs into `dir` for the pair network `topo`.
    pub fn write(dir: &Path, topo: &LabTopology, opts: &FailoverOptions) -> Result<PairSetup, LabError> {
        std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
        let sink_dir_of = |name: &str| match opts.store {
            StoreMode::Replicated => dir.join(format!("{name}-sink")),
            StoreMode::Shared => dir.join("sink"),
        };
        let secret_file = dir.join("replication.secret");
        let secret = random_secret();
        std::fs::write(&secret_file, &secret).map_err(io("writing", &secret_file))?;
        let sb = topo.standby.clone().ok_or_else(|| LabError::Net(NetnsError::NoStandby(topo.card_ns.clone())))?;
        let impair = opts.impair.as_deref().map(|i| crate::lab::impairment(i, opts.seed)).transpose()?;
        let primary_addr = SocketAddr::V4(SocketAddrV4::new(sb.primary_repl_ip, REPLICATION_PORT));
        let standby_addr = SocketAddr::V4(SocketAddrV4::new(sb.standby_repl_ip, REPLICATION_PORT));
        let member = |name: &'static str, role: Role, netns: &str, tap: &str, listen: SocketAddr, peer: SocketAddr| {
            let socket = dir.join(format!("{name}.sock"));
            let pcap = dir.join(format!("{name}.pcap"));
            // Beside the daemon's socket in the lab's own directory: each
            // daemon keeps its epoch record, and nothing is left in /var/lib.
            let epoch_file = socket.with_extension("epoch");
            let card = CardPlan { topo, tap, port: DEFAULT_PORT, holdback: opts.holdback, port_holdback: Vec::new(), pcap: Some(pcap.clone()), impair, report: None, rx_ring_bytes: holdback_driver::DEFAULT_RX_RING_BYTES, reassembly: opts.reassembly, sack: opts.sack, timestamps: opts.timestamps, syn_cookies: opts.syn_cookies, app: opts.app };
            let sink_dir = sink_dir_of(name);
            std::fs::create_dir_all(&sink_dir).map_err(io("creating", &sink_dir))?;
            let mut config = card_config(dir.join(format!("{name}.toml")), socket, sink_dir.clone(), &card);
            config.role = role;
            config.gates = opts.gates.clone();
            config.replication = Some(Replication {
                listen,
                peer,
                secret_file: secret_file.clone(),
                secret: secret.clone().into_bytes(),
                sync: opts.sync,
                replicate: opts.replicate,
                detector: opts.detector,
                heartbeat: Duration::from_millis(opts.heartbeat_ms),
                heartbeat_misses: opts.heartbeat_misses,
                dup_acks: opts.dup_acks,
                ack_timeout: Duration::from_millis(DEFAULT_ACK_TIMEOUT_MS),
                state_file: epoch_file.clone(),
                store: opts.store,
                store_dir: sink_dir,
            });
            write_config(&config, &format!("`holdback lab` for its {name} card"))?;
            Ok::<_, LabError>(PairMember { name, netns: netns.to_string(), config, pcap, epoch_file })
        };
        Ok(PairSetup {
            primary: member("primary", Role::Active, &sb.primary_ns, &topo.tap, primary_addr, standby_addr)?,
            standby: member("standby", Role::Standby, &sb.standby_ns, &sb.standby_tap, standby_addr, primary_addr)?,
            dir: dir.to_path_buf(),
        })
    }

    /// Starts both daemons (logs `primary.log`, `standby.log`), waits until
    /// both serve and the primary replicates to the standby.
    pub fn start_both(&self, exe: Option<&Path>) -> Result<(DaemonProcess, DaemonProcess), LabError> {
        let dir = &self.dir;
        let mut started = Vec::new();
        // Both Verilated models come up at once; then both must serve.
        for m in [&self.primary, &self.standby] {
            started.push(DaemonProcess::start(m.name, exe, &m.netns, &m.config.path, &m.config.socket, &dir.join(format!("{}.log", m.name)))?);
        }
        for d in started.iter_mut() {
            d.wait_ready()?;
        }
        let standby = started.pop().ok_or(LabError::Interrupted)?;
        let primary = started.pop().ok_or(LabError::Interrupted)?;
        wait_replicating(&primary)?;
        Ok((primary, standby))
    }
}

fn random_secret() -> String {
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The lab's work directory: removed after a passing run unless kept.
fn work_dir(opts: &FailoverOptions) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    opts.keep_dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("holdback-failover-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)))
    })
}

/// Runs one failover lab.
pub fn run_failover_lab(opts: &FailoverOptions) -> Result<FailoverReport, LabError> {
    let dir = work_dir(opts);
    opts.progress.phase(Phase::Starting);
    let result = run_in(opts, &dir);
    opts.progress.finish();
    let keep = opts.keep_dir.is_some() || !matches!(&result, Ok(r) if r.passed());
    if !keep {
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            tracing::warn!(dir = %dir.display(), error = %e, "could not remove the work directory");
        }
    }
    result
}

fn run_in(opts: &FailoverOptions, dir: &Path) -> Result<FailoverReport, LabError> {
    let net = LabNet::create(LabTopology::unique_with_standby("fo"))?;
    let topo = net.topology().clone();
    if let Some(netem) = &opts.netem {
        crate::lab::netns::add_netem(&topo, netem)?;
    }
    let mut pair = PairSetup::write(dir, &topo, opts)?;
    let etcd_failed = |e: crate::lab::chaos::EtcdLabError| LabError::Pair { name: "etcd", what: crate::error::chain(&e) };
    // Dropped after the daemons (declared before them): etcd outlives its clients.
    let _etcd = if opts.etcd {
        let etcd = crate::lab::chaos::EtcdLab::start(&topo, dir).map_err(etcd_failed)?;
        etcd.configure(&mut pair).map_err(etcd_failed)?;
        Some(etcd)
    } else {
        None
    };
    let (mut primary, mut standby) = pair.start_both(opts.holdback_exe.as_deref())?;

    let target = SocketAddrV4::new(topo.card_ip, DEFAULT_PORT);
    let plan = ClientPlan { target, bytes: opts.bytes, seed: opts.seed, stall_timeout: opts.stall_timeout };
    let cancel = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mode = clients::ClientMode::for_app(opts.app);
    let mut handles = clients::spawn_clients(&topo.client_ns, opts.conns, &plan, mode, cancel.clone(), sent.clone());
    let total = opts.bytes * opts.conns as u64;
    opts.progress.set_total(total);
    opts.progress.phase(Phase::Sending);
    let kill_at = opts.failover_at.map(|f| (total as f64 * f.clamp(0.0, 1.0)) as u64);
    let mut killed = false;
    let mut late_index = None;
    let mut watcher: Option<std::thread::JoinHandle<Result<(), String>>> = None;
    let _ = std::fs::write(dir.join("topology.json"), serde_json::to_string_pretty(&topo).unwrap_or_default());
    let mut problem = None;
    let mut cut: Option<(Instant, u64, u64)> = None;
    let mut cut_report: Option<CutReport> = None;
    let switch_at = opts.switchover_at.map(|f| (total as f64 * f.clamp(0.0, 1.0)) as u64);
    let mut switching: Option<std::thread::JoinHandle<Result<crate::tools::switchover::SwitchoverOutcome, String>>> = None;
    let mut paused_at: Option<Instant> = None;
    let mut held_back_at_kill = None;
    let mut sacked_wait: Option<Instant> = None;
    while !handles.iter().all(|h| h.is_finished()) {
        opts.progress.sent(sent.load(Ordering::Relaxed));
        if let Some(at) = switch_at {
            if switching.is_none() && sent.load(Ordering::Relaxed) >= at {
                tracing::info!(sent = sent.load(Ordering::Relaxed), "planned switchover (`holdback switchover`)");
                let (p, s) = (primary.socket.clone(), standby.socket.clone());
                switching = Some(std::thread::spawn(move || {
                    let plan = crate::tools::switchover::SwitchoverPlan {
                        primary_socket: &p,
                        standby_socket: &s,
                        rejoin_timeout: Duration::from_secs(5),
                    };
                    crate::tools::switchover::run(&plan).map_err(|e| crate::error::chain(&e))
                }));
            }
        }
        if let Some(d) = &opts.disturbance {
            (d.0)(sent.load(Ordering::Relaxed) as f64 / total.max(1) as f64, &topo);
        }
        if let Some((at, length)) = opts.cut_replication {
            let now_sent = sent.load(Ordering::Relaxed);
            match (&cut, &mut cut_report) {
                (None, None) if now_sent as f64 >= total as f64 * at => {
                    net.set_replication_link(false)?;
                    opts.progress.phase(Phase::LinkCut);
                    tracing::info!(sent = now_sent, ?length, "replication link cut (primary alive)");
                    let before = link_reconnects(&primary);
                    cut = Some((Instant::now(), now_sent, before));
                    cut_report = Some(CutReport::default());
                }
                (Some((since, sent_at_cut, before)), Some(r)) if r.duration_ms == 0 => {
                    compare_released_points(&primary, &standby, r);
                    if since.elapsed() >= length {
                        r.duration_ms = since.elapsed().as_millis() as u64;
                        r.bytes_sent_during_cut = now_sent - sent_at_cut;
                        net.set_replication_link(true)?;
                        opts.progress.phase(Phase::Sending);
                        tracing::info!("replication link restored");
                        cut = Some((Instant::now(), now_sent, *before));
                    }
                }
                _ => {}
            }
        }
        if interrupted() {
            cancel.store(true, Ordering::SeqCst);
            problem.get_or_insert(LabError::Interrupted);
        }
        if let Some(at) = kill_at {
            if !killed && sent.load(Ordering::Relaxed) >= at && opts.lag_at_kill && paused_at.is_none() {
                // Invariant 3: the standby must resume from R, below the
                // rcv_nxt of its copies. Stop the releases; the primary
                // keeps receiving (one ring beyond R) and shipping copies.
                match client::call(&primary.socket, &Request::PauseRelease) {
                    Ok(_) => paused_at = Some(Instant::now()),
                    Err(e) => {
                        cancel.store(true, Ordering::SeqCst);
                        problem.get_or_insert(LabError::Pair { name: primary.name, what: format!("pausing its releases: {e}") });
                    }
                }
            }
            let lagging = || match paused_at {
                None => Some(None),
                Some(since) => {
                    let held = held_back_on(&standby);
                    // Give up waiting after a while and kill anyway: the
                    // report then shows the lag that was reached.
                    (held > 0 || since.elapsed() > Duration::from_secs(5)).then_some(Some(held))
                }
            };
            if !killed && sent.load(Ordering::Relaxed) >= at && problem.is_none() {
                let Some(held) = lagging() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                held_back_at_kill = held;
                if opts.reassembly && opts.sack {
                    // Kill while the primary has SACKed ranges it never
                    // acknowledged, so the run shows the promoted card's
                    // reneging (docs/engine.md); give up after a while and
                    // kill anyway: the report then shows none.
                    let since = *sacked_wait.get_or_insert_with(Instant::now);
                    let open = capture::read_frames(&dir.join("primary.pcap"), topo.card_mac)
                        .is_ok_and(|(frames, _)| capture::reneged(&frames, &[]).bytes > 0);
                    if !open && since.elapsed() < SACKED_RANGES_WAIT {
                        // Each look parses the whole capture so far: not
                        // more often than this, beside two simulated cards.
                        std::thread::sleep(Duration::from_millis(50));
                        continue;
                    }
                }
                if opts.late_conn {
                    // Its SYN goes out just before the kill: the connection
                    // is set up (or not) in the primary's last moments.
                    let late_plan = ClientPlan { bytes: LATE_BYTES.min(opts.bytes), seed: late_seed(opts.seed), ..plan.clone() };
                    let h = clients::spawn_clients_counting(&topo.client_ns, 1, &late_plan, cancel.clone(), Arc::new(AtomicU64::new(0)));
                    late_index = Some(handles.len());
                    handles.extend(h);
                    std::thread::sleep(Duration::from_millis(5));
                }
                if let Some(before) = opts.isolate_before_kill {
                    crate::lab::netns::detach_primary_port(&topo)?;
                    tracing::info!(?before, "the primary card's port is off the bridge; killing it after this");
                    std::thread::sleep(before);
                }
                tracing::info!(sent = sent.load(Ordering::Relaxed), "killing the primary (SIGKILL)");
                primary.kill_hard();
                killed = true;
                opts.progress.phase(Phase::FailingOver);
                if opts.detector == Detector::External {
                    watcher = Some(spawn_external_detector(&topo, &primary.socket, &standby.socket, opts.heartbeat_ms, opts.heartbeat_misses));
                }
            }
        }
        if !standby.is_running() {
            cancel.store(true, Ordering::SeqCst);
            problem.get_or_insert(standby.died("the standby daemon died".into()));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let outcomes = clients::collect(handles);
    // What the Linux clients dropped by PAWS (a fresh namespace counts from zero).
    let client_paws_drops = super::client_paws_drops(&topo.client_ns);
    let duration = started.elapsed();
    opts.progress.sent(sent.load(Ordering::Relaxed));
    opts.progress.phase(Phase::Verifying);
    if let (Some((_, sent_at_restore, before)), Some(r)) = (&cut, &mut cut_report) {
        r.bytes_sent_after = sent.load(Ordering::Relaxed).saturating_sub(*sent_at_restore);
        r.reconnects = link_reconnects(&primary).saturating_sub(*before);
    }
    let mut errors = Vec::new();
    if let Some(w) = watcher {
        match w.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => errors.push(format!("external detector: {e}")),
            Err(_) => errors.push("external detector thread panicked".into()),
        }
    }
    let switched = match (opts.switchover_at, switching) {
        (Some(at), Some(t)) => Some((at, t.join().unwrap_or_else(|_| Err("the switchover thread panicked".into())))),
        (Some(at), None) => Some((at, Err("the transfer ended before the switchover point".to_string()))),
        _ => None,
    };
    if let Some((_, Err(e))) = &switched {
        errors.push(format!("switchover: {e}"));
    }
    let repl_per_update = replication_bytes_per_update(if killed { &standby } else { &primary });
    let replication_bytes = if killed { None } else { link_bytes_sent(&primary) };
    let standby_pair = match client::call(&standby.socket, &Request::Status) {
        Ok(Response::Status(s)) => s.pair,
        _ => None,
    };
    let (standby_refused, standby_sessions) =
        standby_pair.as_ref().map_or_else(Default::default, |p| (p.refused.clone(), p.full_syncs + p.resumes));
    // Clean shutdown of whoever is alive: its sink finishes, captures flush.
    for d in [&mut primary, &mut standby] {
        if d.is_running() {
            match d.stop(Duration::from_secs(20)) {
                Some(st) if st.success() => {}
                other => errors.push(format!("{} daemon did not exit cleanly on SIGTERM: {other:?}", d.name)),
            }
        }
    }
    if let Some(p) = problem {
        return Err(p);
    }
    // The store of whoever ran the sink last: after a failover or a
    // switchover the promoted standby's alone must hold every stream — the
    // bytes below R at the hand-over came over the link, the rest from the
    // peers afterwards.
    let took_over = killed || matches!(switched, Some((_, Ok(_))));
    let sink_dir = if took_over { pair.standby.sink_dir() } else { pair.primary.sink_dir() };
    let streams: Vec<StreamResult> = outcomes
        .iter()
        .enumerate()
        .map(|(i, o)| match opts.app {
            AppKind::Sink => stream_result(sink_dir, topo.client_ip, opts, o, late_index == Some(i)),
            AppKind::Echo => echo_result(opts, o),
        })
        .collect();
    let (primary_frames, primary_torn) = capture::read_frames(&dir.join("primary.pcap"), topo.card_mac).map_err(capture_err)?;
    let (standby_frames, standby_torn) = capture::read_frames(&dir.join("standby.pcap"), topo.card_mac).map_err(capture_err)?;
    let primary_cap = CardCapture::of(&primary_frames, primary_torn);
    let standby_cap = CardCapture::of(&standby_frames, standby_torn);
    let frames = match switched {
        Some(_) => switchover_frames(&dir.join("primary.pcap"), &dir.join("standby.pcap"), topo.card_mac)?,
        None => (None, None),
    };
    drop(net);
    let bytes_sent: u64 = streams.iter().map(|s| s.bytes_sent).sum();
    let delivered: u64 = streams.iter().map(|s| s.bytes_delivered.min(s.bytes_sent)).sum();
    let secs = duration.as_secs_f64().max(1e-9);
    errors.extend(streams.iter().filter_map(|s| s.error.as_ref().map(|e| format!("client {}: {e}", s.index))));
    let mut report = FailoverReport {
        conns: opts.conns,
        bytes_per_conn: opts.bytes,
        seed: opts.seed,
        gates: opts.gates.clone(),
        sync: opts.sync,
        replicate: opts.replicate,
        detector: opts.detector,
        dup_acks: opts.dup_acks,
        failover_at: opts.failover_at,
        netem: opts.netem.clone(),
        impair: opts.impair.clone(),
        sha256_match: streams.iter().all(|s| s.sha256_match),
        bytes_sent,
        bytes_lost: streams.iter().map(|s| s.bytes_lost).sum(),
        duplicate_bytes: streams.iter().map(|s| s.duplicate_bytes).sum(),
        resets_seen: streams.iter().filter(|s| s.reset).count() as u64,
        rst_segments: primary_cap.rst_sent + primary_cap.rst_received + standby_cap.rst_sent + standby_cap.rst_received,
        failover_ms: if killed { capture::failover_ms(&primary_cap, &standby_cap) } else { None },
        wire_gap_ms: if killed { capture::wire_gap_ms(&primary_cap, &standby_cap) } else { None },
        max_stall_ms: streams.iter().map(|s| s.max_stall_ms).max().unwrap_or(0),
        max_fin_wait_ms: streams.iter().map(|s| s.fin_wait_ms).max().unwrap_or(0),
        replication_bytes_per_update: repl_per_update,
        goodput_mbps: delivered as f64 * 8.0 / secs / 1e6,
        duration_s: secs,
        standby_garps: standby_cap.gratuitous_arps_sent,
        standby_acks: standby_cap.acks_sent,
        replication_cut: cut_report,
        standby_refused,
        standby_sessions,
        timeline: None,
        store: opts.store,
        replication_bytes,
        replication_bytes_per_delivered_byte: replication_bytes.map(|b| b as f64 / delivered.max(1) as f64),
        held_back_at_kill,
        streams,
        work_dir: dir.to_path_buf(),
        errors,
        switchover: switched.map(|(at, run)| SwitchoverReport::from_captures(at, run, frames)),
        app: opts.app,
        standby_resent_from_copy: (killed && opts.app.sends()).then(|| resent_from_copy(&primary_frames, &standby_frames)),
        reneged_at_kill: (killed && opts.reassembly && opts.sack).then(|| capture::reneged(&primary_frames, &standby_frames)),
        timestamps: opts.timestamps,
        tsval_step_at_kill: if killed && opts.timestamps { capture::tsval_step(&primary_frames, &standby_frames) } else { None },
        client_paws_drops,
    };
    let evidence = PairEvidence {
        primary: &primary_frames,
        standby: &standby_frames,
        standby_log: &dir.join("standby.log"),
        standby_pair: standby_pair.as_ref(),
        outcomes: &outcomes,
        killed,
    };
    plot::finish_pair_report(&mut report, &evidence, opts.plot.as_deref(), &opts.progress)?;
    Ok(report)
}

/// Waits until the primary reports its link to the standby in sync
/// (`Replicating`): before that, the replica gate releases nothing.
fn wait_replicating(primary: &DaemonProcess) -> Result<(), LabError> {
    let start = Instant::now();
    let mut last = None;
    while start.elapsed() < READY_TIMEOUT {
        if let Ok(Response::Status(s)) = client::call(&primary.socket, &Request::Status) {
            if let Some(p) = s.pair {
                if p.link == PairLink::Replicating {
                    return Ok(());
                }
                last = Some(p.link);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(LabError::Pair { name: primary.name, what: format!("the replication link did not come up within {READY_TIMEOUT:?} (last: {last:?})") })
}

/// Bytes the daemon sent on its replication link.
fn link_bytes_sent(daemon: &DaemonProcess) -> Option<u64> {
    match client::call(&daemon.socket, &Request::Status) {
        Ok(Response::Status(s)) => s.pair.map(|p| p.bytes_sent),
        _ => None,
    }
}

/// Σ (rcv_nxt − R) over the connections the standby's card holds (the
/// installed copies): bytes the primary received and did not release.
fn held_back_on(standby: &DaemonProcess) -> u64 {
    match client::call(&standby.socket, &Request::Conns) {
        Ok(Response::Conns(c)) => c
            .conns
            .iter()
            .filter(|c| c.tcb.is_open() && c.tcb.rel.before(c.tcb.rcv_nxt))
            .map(|c| u64::from(c.tcb.rcv_nxt.bytes_since(c.tcb.rel)))
            .sum(),
        _ => 0,
    }
}

/// Resumes plus full syncs the daemon's link has run.
fn link_reconnects(daemon: &DaemonProcess) -> u64 {
    match client::call(&daemon.socket, &Request::Status) {
        Ok(Response::Status(s)) => s.pair.map_or(0, |p| p.resumes + p.full_syncs),
        _ => 0,
    }
}

/// Invariant 2 while the link is cut: for every connection the primary
/// card's R must not be ahead of the R in the standby's copy.
fn compare_released_points(primary: &DaemonProcess, standby: &DaemonProcess, r: &mut CutReport) {
    let conns = |d: &DaemonProcess| match client::call(&d.socket, &Request::Conns) {
        Ok(Response::Conns(c)) => Some(c.conns),
        _ => None,
    };
    let (Some(p), Some(s)) = (conns(primary), conns(standby)) else { return };
    for pc in &p {
        let Some(sc) = s.iter().find(|c| c.id == pc.id && c.tcb.irs == pc.tcb.irs) else { continue };
        r.samples += 1;
        if sc.tcb.rel.before(pc.tcb.rel) {
            tracing::error!(id = pc.id, primary_r = %pc.tcb.rel, standby_r = %sc.tcb.rel, "primary released beyond the standby's copy");
            r.primary_ahead_of_standby += 1;
        }
    }
}

/// Link bytes per update as `daemon` counts them (the primary's figure,
/// or the promoted standby's receive side if the primary is gone).
fn replication_bytes_per_update(daemon: &DaemonProcess) -> Option<f64> {
    match client::call(&daemon.socket, &Request::Status) {
        Ok(Response::Status(s)) => s.pair.and_then(|p| {
            p.bytes_per_update.or_else(|| (p.replicated_seq > 0).then(|| p.bytes_received as f64 / p.replicated_seq as f64))
        }),
        _ => None,
    }
}

/// The external detector of `--detector external`: `holdback watch`'s loop
/// on a thread of the lab (the same code the CLI runs).
fn spawn_external_detector(
    topo: &LabTopology,
    primary_socket: &Path,
    standby_socket: &Path,
    interval_ms: u64,
    misses: u32,
) -> std::thread::JoinHandle<Result<(), String>> {
    let (topo, p, s) = (topo.clone(), primary_socket.to_path_buf(), standby_socket.to_path_buf());
    std::thread::spawn(move || {
        let plan = crate::tools::watch::WatchPlan {
            primary: crate::tools::watch::Probe::ControlSocket(p),
            standby_socket: &s,
            switch: Some(&topo as &dyn crate::tools::watch::Switch),
            interval: Duration::from_millis(interval_ms),
            misses,
        };
        crate::tools::watch::run(&plan, &|| interrupted()).map(|_| ()).map_err(|e| crate::error::chain(&e))
    })
}

/// Payload segments in `standby`'s capture that the standby's card sent
/// (after the primary's death) starting below the highest sequence number
/// the primary's card had sent on the same connection: the standby resent
/// them from its copy of the transmit ring. Connections are told apart by
/// the peer's port (one client address in the lab).
fn resent_from_copy(primary: &[capture::FrameSeen], standby: &[capture::FrameSeen]) -> u64 {
    use std::collections::HashMap;
    let sent_data = |frames| capture::tcp_sent(frames).filter(|seg| seg.payload_len > 0);
    let mut primary_end: HashMap<u16, u32> = HashMap::new();
    for seg in sent_data(primary) {
        let end = seg.seq.wrapping_add(seg.payload_len);
        primary_end
            .entry(seg.peer_port)
            // Serial-number order (RFC 1982): the stream may wrap.
            .and_modify(|e| if (end.wrapping_sub(*e) as i32) > 0 { *e = end })
            .or_insert(end);
    }
    sent_data(standby)
        .into_iter()
        .filter(|seg| primary_end.get(&seg.peer_port).is_some_and(|end| (end.wrapping_sub(seg.seq) as i32) > 0))
        .count() as u64
}

/// An echoed stream's verdict: what came back to the client, compared
/// byte for byte with what it sent (the echo keeps no file to check).
fn echo_result(opts: &FailoverOptions, o: &ClientOutcome) -> StreamResult {
    let (lost, duplicate, intact) = echo_verdict(o);
    StreamResult {
        index: o.index,
        client_port: o.local_port,
        bytes_sent: o.bytes_sent,
        bytes_delivered: o.sha256_echoed.as_ref().map_or(0, |_| o.bytes_echoed),
        sha256_match: intact && o.error.is_none() && o.bytes_sent == opts.bytes,
        bytes_lost: lost,
        duplicate_bytes: duplicate,
        reset: o.reset,
        max_stall_ms: o.max_stall_ms,
        fin_wait_ms: o.fin_wait_ms,
        linux_retransmits: o.total_retrans,
        tcpi_bytes_acked: o.bytes_acked,
        late: false,
        error: o.error.clone(),
    }
}

/// Sent bytes that did not come back right (every one from the first that
/// differs), bytes that came back beyond what was sent, and whether the
/// echo is exactly the stream sent.
pub(crate) fn echo_verdict(o: &ClientOutcome) -> (u64, u64, bool) {
    let echoed = o.sha256_echoed.as_ref().map_or(0, |_| o.bytes_echoed);
    let intact_prefix = o.echo_first_mismatch.unwrap_or(echoed).min(o.bytes_sent);
    let intact = echoed == o.bytes_sent && o.echo_first_mismatch.is_none() && o.sha256_echoed.as_deref() == Some(o.sha256.as_str());
    (o.bytes_sent - intact_prefix, echoed.saturating_sub(o.bytes_sent), intact)
}

fn capture_err(e: capture::CaptureError) -> LabError {
    LabError::Io(crate::error::IoError { what: "reading capture", path: PathBuf::new(), source: std::io::Error::other(crate::error::chain(&e)) })
}

fn stream_result(sink_dir: &Path, client_ip: Ipv4Addr, opts: &FailoverOptions, o: &ClientOutcome, late: bool) -> StreamResult {
    let mut error = o.error.clone();
    let (lost, dup, intact, delivered) = match crate::sink::find_sink_file(sink_dir, client_ip, o.local_port) {
        Some(path) => match compare_stream(&path, if late { late_seed(opts.seed) } else { opts.seed }, o.index, o.bytes_sent) {
            Ok((lost, dup, intact)) => {
                (lost, dup, intact, std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0))
            }
            Err(e) => {
                error.get_or_insert(format!("reading {}: {e}", path.display()));
                (o.bytes_sent, 0, false, 0)
            }
        },
        None => {
            if o.bytes_sent > 0 {
                error.get_or_insert("no sink file for this connection".into());
            }
            (o.bytes_sent, 0, false, 0)
        }
    };
    let expected = if late { LATE_BYTES.min(opts.bytes) } else { opts.bytes };
    StreamResult {
        index: o.index,
        client_port: o.local_port,
        bytes_sent: o.bytes_sent,
        bytes_delivered: delivered,
        sha256_match: intact && o.error.is_none() && o.bytes_sent == expected,
        bytes_lost: lost,
        duplicate_bytes: dup,
        reset: o.reset,
        max_stall_ms: o.max_stall_ms,
        fin_wait_ms: o.fin_wait_ms,
        linux_retransmits: o.total_retrans,
        tcpi_bytes_acked: o.bytes_acked,
        late,
        error,
    }
}
