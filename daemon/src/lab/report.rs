//! The lab's report: JSON for scripts and tests, a short text for people.
use std::fmt::Write as _;
use std::path::PathBuf;

use holdback_driver::Stats;
use serde::{Deserialize, Serialize};

use crate::lab::netns::LabTopology;
use crate::sink::SinkStats;

/// One client connection, as sent and as delivered.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ConnResult {
    pub index: usize,
    pub client_port: u16,
    pub bytes_sent: u64,
    /// Length of the sink file; with `--app echo`, the bytes the echo
    /// application committed (took from the card).
    pub bytes_delivered: u64,
    pub sha256_sent: String,
    /// SHA-256 of the sink file; with `--app echo`, of the echo the client
    /// read back.
    pub sha256_delivered: String,
    /// The whole stream was sent and the sink file is byte-identical; with
    /// `--app echo`, the application took every byte and the client read
    /// every one back unchanged (SHA-256 both ways).
    pub sha256_match: bool,
    /// The sink committed the peer's FIN (and released past it).
    pub fin_committed: bool,
    /// What Linux believes the card ACKed (TCP_INFO; counts SYN and FIN).
    pub tcpi_bytes_acked: u64,
    pub linux_retransmits: u32,
    pub reset: bool,
    pub elapsed_ms: u64,
    pub sink_file: Option<PathBuf>,
    pub error: Option<String>,
    /// `--app echo`: the bytes the client read back, and their SHA-256.
    #[serde(default)]
    pub bytes_echoed: Option<u64>,
    #[serde(default)]
    pub sha256_echoed: Option<String>,
}

pub use crate::service::CardFigures;

/// `holdback lab --json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LabReport {
    pub conns: usize,
    pub bytes_per_conn: u64,
    pub bytes_sent: u64,
    pub bytes_delivered: u64,
    /// Every connection sent everything and its sink file matches.
    pub sha256_match: bool,
    /// Connections the clients saw reset.
    pub resets_seen: u64,
    /// Delivered bytes over the clients' wall time, in 10^6 bit/s.
    pub goodput_mbps: f64,
    pub duration_s: f64,
    pub seed: u64,
    pub holdback: bool,
    /// `--netem` on the clients' link.
    #[serde(default)]
    pub netem: Option<String>,
    /// `--impair` of the frames crossing the card's port (`dir in|out|both`;
    /// what it did is in `card.impaired_in` / `card.impaired_out`).
    #[serde(default)]
    pub impair: Option<String>,
    pub topology: LabTopology,
    pub sink_dir: PathBuf,
    pub pcap: Option<PathBuf>,
    pub clients: Vec<ConnResult>,
    /// The card's counters over the run.
    pub stats: Stats,
    pub sink: SinkStats,
    pub card: CardFigures,
    pub errors: Vec<String>,
    /// The most client connections open at the same time (the clients start
    /// sending once all have connected, so a clean run shows all of them).
    #[serde(default)]
    pub peak_open_conns: usize,
    /// The application behind the card (`--app`).
    #[serde(default)]
    pub app: crate::app::AppKind,
    /// Out-of-order reassembly on the card (`--reassembly`).
    #[serde(default)]
    pub reassembly: bool,
    /// Segments the Linux clients sent again (`nstat` TcpRetransSegs in the
    /// client namespace), if nstat answered.
    #[serde(default)]
    pub client_retrans_segs: Option<u64>,
    /// SACK on the card (with reassembly).
    #[serde(default)]
    pub sack: bool,
    /// TCP timestamps on the card (`--timestamps`).
    #[serde(default)]
    pub timestamps: bool,
    /// Segments the Linux clients dropped by PAWS or for a bad TSecr
    /// (`nstat` TcpExtPAWS* and TcpExtTSEcrRejected), if nstat answered.
    #[serde(default)]
    pub client_paws_drops: Option<u64>,
    /// The SYN flood of `--syn-flood`, and the client that connected during it.
    #[serde(default)]
    pub syn_flood: Option<super::flood::FloodFigures>,
    /// SYN cookies' half-open threshold on the card (`--syn-cookies`); None: off.
    #[serde(default)]
    pub syn_cookies: Option<u16>,
    /// The Linux clients' loss recoveries based on SACK (`nstat`
    /// TcpExtTCPSackRecovery in the client namespace), if nstat answered.
    #[serde(default)]
    pub client_sack_recoveries: Option<u64>,
    /// D-SACK blocks the Linux clients took as such (`nstat`
    /// TcpExtTCPDSACKRecv, a first block below the ACK, plus
    /// TcpExtTCPDSACKOfoRecv, one inside the second block), if nstat answered.
    #[serde(default)]
    pub client_dsacks_recv: Option<u64>,
    /// The work directory (config, daemon log, figures, sink files unless
    /// kept elsewhere), left in place because the run failed its checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept_work_dir: Option<PathBuf>,
}

impl LabReport {
    /// The run counts as a pass: every stream arrived intact, nobody reset.
    pub fn passed(&self) -> bool {
        self.sha256_match && self.resets_seen == 0
    }

    /// The card's resent payload bytes over the payload bytes the impairment
    /// dropped on their way out (RFC 6675: a SACK sender resends about what
    /// was lost; going back to snd_una resends a window's worth). None when
    /// nothing was lost leaving the card.
    pub fn resent_per_lost(&self) -> Option<f64> {
        let lost = self.card.impaired_out.dropped_payload_bytes;
        (lost > 0).then(|| self.card.resent_payload_bytes as f64 / lost as f64)
    }

    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"report not serialisable: {e}\"}}"))
    }

    /// The human summary.
    pub fn human(&self) -> String {
        let mut s = String::new();
        let verdict = if self.passed() { "PASS" } else { "FAIL" };
        let _ = writeln!(
            s,
            "holdback lab: {verdict} — {} connections × {} bytes to the {} application (seed {}, holdback {}{}{})",
            self.conns,
            self.bytes_per_conn,
            self.app.name(),
            self.seed,
            if self.holdback { "on" } else { "off" },
            self.netem.as_ref().map_or(String::new(), |n| format!(", netem {n}")),
            self.impair.as_ref().map_or(String::new(), |i| format!(", impair {i}")),
        );
        let _ = writeln!(
            s,
            "  sent {} B, delivered {} B in {:.2} s: goodput {:.1} Mbit/s; sha256 {}; resets seen {}; Linux retransmits {}",
            self.bytes_sent,
            self.bytes_delivered,
            self.duration_s,
            self.goodput_mbps,
            if self.sha256_match { "match" } else { "MISMATCH" },
            self.resets_seen,
            self.clients.iter().map(|c| u64::from(c.linux_retransmits)).sum::<u64>(),
        );
        let _ = writeln!(
            s,
            "  card: {} cycles ({:.2} M cycles/s busy), {} frames in, {} out",
            self.card.cycles,
            self.card.cycles_per_busy_second / 1e6,
            self.card.frames_in,
            self.card.frames_out,
        );
        if self.impair.is_some() {
            let (i, o) = (&self.card.impaired_in, &self.card.impaired_out);
            let _ = writeln!(
                s,
                "  impair: arriving at the card {} dropped ({} B of TCP payload), {} reordered; leaving it {} dropped ({} B of TCP payload), {} reordered",
                i.dropped, i.dropped_payload_bytes, i.reordered, o.dropped, o.dropped_payload_bytes, o.reordered,
            );
        }
        let _ = writeln!(
            s,
            "  {}: {} group commits ({:.1} ms mean, {:.1} ms max: read ring, commit, release), {} fsyncs, {} releases",
            self.app.name(),
            self.sink.commits,
            self.sink.commit_us_mean() as f64 / 1e3,
            self.sink.commit_us_max as f64 / 1e3,
            self.sink.fsyncs,
            self.sink.release_writes
        );
        let _ = writeln!(s, "  connections open at the same time: {} of {}", self.peak_open_conns, self.conns);
        if let Some(f) = &self.syn_flood {
            let _ = writeln!(
                s,
                "  SYN flood: {} SYNs in {:.1} s ({} asked per second) from {}; the card dropped {} for want of a free TCB",
                f.syns_sent,
                f.seconds,
                f.pps,
                f.spoofed_from,
                self.stats.get(holdback_regmap::Stat::DropTcbFull),
            );
            let _ = writeln!(
                s,
                "  SYN cookies {}: {} sent, {} accepted, {} refused",
                self.syn_cookies.map_or("off".to_string(), |t| format!("on from {t} half-open")),
                self.stats.get(holdback_regmap::Stat::CookiesSent),
                self.stats.get(holdback_regmap::Stat::CookiesAccepted),
                self.stats.get(holdback_regmap::Stat::CookiesRefused),
            );
            if let Some(l) = &f.late_client {
                let _ = writeln!(
                    s,
                    "  late client: {} after {:.0} ms, {} SYN retransmissions",
                    if l.connected { "connected" } else { "did NOT connect" },
                    l.connect_ms,
                    l.syn_retransmits.map_or("unknown".into(), |n| n.to_string()),
                );
            }
        }
        let _ = writeln!(
            s,
            "  card's loss recovery: {} retransmissions, {} fast retransmits, {} RTO back-offs; {} B of payload resent{}",
            self.stats.get(holdback_regmap::Stat::Retransmits),
            self.stats.get(holdback_regmap::Stat::FastRetransmits),
            self.stats.get(holdback_regmap::Stat::RtoBackoffs),
            self.card.resent_payload_bytes,
            self.resent_per_lost().map_or(String::new(), |r| format!(
                " for {} B lost leaving the card ({r:.2} × the loss)",
                self.card.impaired_out.dropped_payload_bytes
            )),
        );
        let nonzero: Vec<String> = self.stats.iter().filter(|(_, v)| *v != 0).map(|(k, v)| format!("{}={v}", k.name())).collect();
        let _ = writeln!(s, "  card counters: {}", nonzero.join(" "));
        let _ = writeln!(
            s,
            "  lab: client netns {} ({}) → card {}:{} in netns {}",
            self.topology.client_ns,
            self.topology.client_ip,
            self.topology.card_ip,
            crate::lab::DEFAULT_PORT,
            self.topology.card_ns
        );
        for c in &self.clients {
            if !c.sha256_match || c.error.is_some() {
                let _ = writeln!(
                    s,
                    "  client {} (port {}): sent {} delivered {}{} acked {} {}",
                    c.index,
                    c.client_port,
                    c.bytes_sent,
                    c.bytes_delivered,
                    c.bytes_echoed.map_or(String::new(), |e| format!(" echoed {e}")),
                    c.tcpi_bytes_acked,
                    c.error.as_deref().unwrap_or("content differs")
                );
            }
        }
        if let Some(p) = &self.pcap {
            let _ = writeln!(s, "  capture: {}", p.display());
        }
        if !self.passed() && self.app == crate::app::AppKind::Sink {
            let _ = writeln!(s, "  sink files kept in {}", self.sink_dir.display());
        }
        if let Some(dir) = &self.kept_work_dir {
            let _ = writeln!(s, "  work directory kept: {}", dir.display());
        }
        s
    }
}
