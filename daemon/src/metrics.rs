//! The daemon's Prometheus metrics: what one scrape shows ([`Snapshot`]) and
//! its OpenMetrics text exposition, encoded by `prometheus-client`. The HTTP
//! side (`GET /metrics` beside `GET /health`, one server) is in
//! [`crate::http`].
//!
//! What it exports: the card's counters (drops per reason as
//! `holdback_drops_total{reason=…}`, the rest as `holdback_card_<name>_total`),
//! connections by RFC 9293 state, bytes held back (Σ rcv_nxt − R over the
//! open connections, serial arithmetic), the release latency (the sink's
//! group-commit time, a histogram), the sink's own counters.
//!
//! The values come from the card and the sink as a snapshot taken at scrape
//! time, so every family is encoded by a [`Collector`] from that snapshot
//! rather than kept in live metric objects: the card's 32-bit counters are
//! read over the bus, and the sink keeps its own tallies.
//!
//! The card's counters are 32 bits and wrap (`rx_payload_bytes` every 4 GiB,
//! seconds at 10 Gbit/s); [`CardCounters`] folds periodic reads into 64-bit
//! totals so the exported counters only ever go up.
use std::time::Duration;

use holdback_driver::regmap::{Stat, TcpState};
use holdback_driver::{Stats, Tcb};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeCounterValue, EncodeGaugeValue, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::sink::SinkStats;

/// Upper bounds of the release-latency buckets, microseconds.
pub const LATENCY_BUCKETS_US: [u64; 12] =
    [250, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000];

/// A latency histogram with fixed buckets ([`LATENCY_BUCKETS_US`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Histogram {
    /// Observations per bucket (not cumulative); the last slot is "above every bound".
    buckets: [u64; LATENCY_BUCKETS_US.len() + 1],
    count: u64,
    sum_us: u64,
}

impl Histogram {
    pub fn observe_us(&mut self, us: u64) {
        let slot = LATENCY_BUCKETS_US.iter().position(|b| us <= *b).unwrap_or(LATENCY_BUCKETS_US.len());
        self.buckets[slot] += 1;
        self.count += 1;
        self.sum_us += us;
    }
    pub fn count(&self) -> u64 {
        self.count
    }
    pub fn sum_us(&self) -> u64 {
        self.sum_us
    }
}

/// 64-bit totals of the card's wrapping 32-bit counters. Read the card at
/// least once per wrap period (the daemon reads every second).
#[derive(Clone, Debug)]
pub struct CardCounters {
    totals: [u64; Stat::COUNT],
    last: Option<Stats>,
}

/// By hand: `Default` is derived for arrays of at most 32.
impl Default for CardCounters {
    fn default() -> Self {
        CardCounters { totals: [0; Stat::COUNT], last: None }
    }
}

impl CardCounters {
    /// Fold in a fresh read: the first read is taken as the count so far,
    /// later ones add their wrapping difference to the previous read.
    pub fn update(&mut self, now: &Stats) {
        let delta = match &self.last {
            Some(last) => now.delta_since(last),
            None => now.clone(),
        };
        for (stat, v) in delta.iter() {
            self.totals[stat.index()] += v as u64;
        }
        self.last = Some(now.clone());
    }
    pub fn total(&self, stat: Stat) -> u64 {
        self.totals[stat.index()]
    }
    /// Whether the card has been read at least once.
    pub fn is_read(&self) -> bool {
        self.last.is_some()
    }
}

/// Everything one scrape shows.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub counters: CardCounters,
    /// Open connections (the card's TCB mirror, built from its event records).
    pub tcbs: Vec<Tcb>,
    pub sink: SinkStats,
    pub commit_latency: Histogram,
    pub release_paused: bool,
    pub uptime: Duration,
    /// The failover pair, when the daemon is one of a pair.
    pub pair: Option<crate::control::PairStatus>,
}

/// Connection states a live card reports (CLOSED slots are free TCBs).
const OPEN_STATES: [TcpState; 10] = [
    TcpState::Listen,
    TcpState::SynSent,
    TcpState::SynReceived,
    TcpState::Established,
    TcpState::FinWait1,
    TcpState::FinWait2,
    TcpState::CloseWait,
    TcpState::Closing,
    TcpState::LastAck,
    TcpState::TimeWait,
];

/// The `Content-Type` of [`render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The OpenMetrics text of `s` (ends with `# EOF`).
pub fn render(s: &Snapshot) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(SnapshotCollector(s.clone())));
    let mut out = String::with_capacity(8 * 1024);
    // The encoder writes into a String, which cannot fail, and every name
    // and label below is a valid constant: an error here is a bug in this
    // module, and the scrape says so instead of taking the daemon down.
    if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &registry) {
        tracing::error!(error = %e, "encoding the metrics failed");
        out.clear();
    }
    out
}

/// Encodes every family from one snapshot, at scrape time.
#[derive(Debug)]
struct SnapshotCollector(Snapshot);

impl Collector for SnapshotCollector {
    fn encode(&self, mut e: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        encode_snapshot(&self.0, &mut e)
    }
}

/// A counter family of one sample; `name` without the `_total` the encoder adds.
fn counter(e: &mut DescriptorEncoder<'_>, name: &str, help: &str, v: impl EncodeCounterValue) -> Result<(), std::fmt::Error> {
    e.encode_descriptor(name, help, None, MetricType::Counter)?.encode_counter::<NoLabelSet, _, u64>(&v, None)
}

/// A gauge family of one sample.
fn gauge(e: &mut DescriptorEncoder<'_>, name: &str, help: &str, v: impl EncodeGaugeValue) -> Result<(), std::fmt::Error> {
    e.encode_descriptor(name, help, None, MetricType::Gauge)?.encode_gauge(&v)
}

fn encode_snapshot(s: &Snapshot, e: &mut DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
    gauge(e, "holdback_up", "1 while the daemon serves its card.", 1u32)?;
    gauge(e, "holdback_uptime_seconds", "Seconds since the daemon started serving.", s.uptime.as_secs_f64())?;

    if s.counters.is_read() {
        let mut drops = e.encode_descriptor(
            "holdback_drops",
            "Frames the card dropped, by reason (the regmap's drop counters).",
            None,
            MetricType::Counter,
        )?;
        for st in Stat::ALL {
            if let Some(reason) = st.name().strip_prefix("drop_") {
                drops.encode_family(&[("reason", reason)])?.encode_counter::<NoLabelSet, _, u64>(&s.counters.total(st), None)?;
            }
        }
        for st in Stat::ALL.iter().filter(|st| !st.name().starts_with("drop_")) {
            counter(e, &format!("holdback_card_{}", st.name()), &single_line(st.doc()), s.counters.total(*st))?;
        }
    }

    let mut conns = e.encode_descriptor(
        "holdback_connections",
        "Connections on the card by RFC 9293 state (CLOSED slots are free).",
        None,
        MetricType::Gauge,
    )?;
    for st in OPEN_STATES {
        let n = s.tcbs.iter().filter(|t| t.state == st).count() as u64;
        conns.encode_family(&[("state", st.rfc_name())])?.encode_gauge(&n)?;
    }

    let held: u64 = s.tcbs.iter().map(|t| t.held_back_bytes() as u64).sum();
    gauge(
        e,
        "holdback_held_back_bytes",
        "Bytes received but not yet released (sum over connections of rcv_nxt - R): what peers still hold unacknowledged.",
        held,
    )?;

    let h = &s.commit_latency;
    let buckets: Vec<(f64, u64)> = LATENCY_BUCKETS_US
        .iter()
        .map(|bound| *bound as f64 / 1e6)
        // The encoder writes an upper bound of f64::MAX as "+Inf".
        .chain([f64::MAX])
        .zip(h.buckets)
        .collect();
    e.encode_descriptor(
        "holdback_release_latency_seconds",
        "Time of a sink group commit, first TCB read to last release write (ring read + write + fsync + release): \
         the delay holdback adds to an ACK.",
        None,
        MetricType::Histogram,
    )?
    .encode_histogram::<NoLabelSet>(h.sum_us as f64 / 1e6, h.count, &buckets, None)?;

    for (name, help, v) in [
        ("holdback_sink_committed_bytes", "Bytes the sink wrote and fsynced.", s.sink.bytes_committed),
        ("holdback_sink_group_commits", "Sink passes that committed something.", s.sink.commits),
        ("holdback_sink_fsyncs", "Files fsynced by the sink.", s.sink.fsyncs),
        ("holdback_sink_release_writes", "Release-register writes.", s.sink.release_writes),
        ("holdback_sink_connections", "Connections the sink has followed.", s.sink.conns_seen),
    ] {
        counter(e, name, help, v)?;
    }
    gauge(e, "holdback_release_paused", "1 while release-register writes are paused (holdback release pause).", s.release_paused as u32)?;
    if let Some(p) = &s.pair {
        encode_pair(e, p)?;
    }
    Ok(())
}

/// The failover pair: role, epoch, the replication link and the
/// replica gate — what an operator alerts on (a standby that stopped
/// acknowledging, a fenced card, a degraded primary).
fn encode_pair(e: &mut DescriptorEncoder<'_>, p: &crate::control::PairStatus) -> Result<(), std::fmt::Error> {
    let mut roles = e.encode_descriptor("holdback_pair_role", "1 for this daemon's current role in its failover pair.", None, MetricType::Gauge)?;
    for role in crate::control::PairRole::ALL {
        roles.encode_family(&[("role", role.name())])?.encode_gauge(&((p.role == role) as u32))?;
    }
    gauge(e, "holdback_pair_epoch", "The pair's failover epoch this daemon is in (invariant 8).", p.epoch)?;
    gauge(
        e,
        "holdback_pair_link_replicating",
        "1 while the replication link is in sync (primary: Replicating; standby: a primary connected).",
        p.link.in_sync() as u32,
    )?;
    gauge(
        e,
        "holdback_pair_degraded",
        "1 while releases are not held for a standby's acknowledgement after a failover.",
        p.degraded.is_some() as u32,
    )?;
    gauge(e, "holdback_pair_replicated_seq", "Primary: highest update the standby acknowledged. Standby: highest stored.", p.replicated_seq)?;
    for (name, help, v) in [
        ("holdback_pair_link_sent_bytes", "Bytes sent on the replication link.", p.bytes_sent),
        ("holdback_pair_link_received_bytes", "Bytes received on the replication link.", p.bytes_received),
        ("holdback_pair_full_syncs", "Full synchronisations of every TCB (claim 33).", p.full_syncs),
        ("holdback_pair_resumes", "Reconnects resumed without a full sync.", p.resumes),
        ("holdback_pair_replica_waits", "Group commits the replica gate held for the standby's acknowledgement.", p.replica_waits),
        ("holdback_pair_replica_waits_failed", "Sink passes the replica gate released nothing in (standby silent).", p.replica_waits_failed),
    ] {
        counter(e, name, help, v)?;
    }
    counter(
        e,
        "holdback_pair_replica_wait_seconds",
        "Total time group commits waited for the standby.",
        p.replica_wait_us_total as f64 / 1e6,
    )?;
    let mut refused =
        e.encode_descriptor("holdback_pair_refused", "Connections the replication listener refused, by reason.", None, MetricType::Counter)?;
    for (reason, n) in &p.refused {
        refused.encode_family(&[("reason", reason.as_str())])?.encode_counter::<NoLabelSet, _, u64>(n, None)?;
    }
    drop(refused);
    if let Some(a) = &p.authority {
        encode_authority(e, a)?;
    }
    Ok(())
}

/// The etcd authority (docs/authority.md): what an operator alerts on — a
/// holder speaking on promises only (etcd away), no promotion possible.
fn encode_authority(e: &mut DescriptorEncoder<'_>, a: &crate::control::AuthorityStatus) -> Result<(), std::fmt::Error> {
    use crate::authority::SpeaksOn;
    gauge(e, "holdback_authority_epoch", "The highest epoch this daemon saw in etcd.", a.epoch)?;
    gauge(e, "holdback_authority_holds", "1 while this daemon holds the epoch in etcd.", a.holds as u32)?;
    let mut on = e.encode_descriptor("holdback_authority_speaks_on", "1 for the grant that lets this card speak now (nothing: silent).", None, MetricType::Gauge)?;
    for (name, v) in [("confirmation", SpeaksOn::Confirmation), ("promise", SpeaksOn::Promise), ("nothing", SpeaksOn::Nothing)] {
        on.encode_family(&[("grant", name)])?.encode_gauge(&((a.speaks_on == v) as u32))?;
    }
    drop(on);
    let secs = |ms: Option<u64>| ms.unwrap_or(0) as f64 / 1e3;
    gauge(e, "holdback_authority_confirmation_left_seconds", "Time left of the holder's last confirmation in etcd (0: none).", secs(a.confirmed_left_ms))?;
    gauge(
        e,
        "holdback_authority_promise_left_seconds",
        "Holder: time left of its standby's freshest promise. Standby: how long its own last promise still binds it.",
        secs(a.promise_left_ms),
    )?;
    gauge(e, "holdback_authority_promising", "1 while this standby answers heartbeats with promises not to take over.", a.promising as u32)?;
    gauge(
        e,
        "holdback_authority_etcd_unreachable",
        "1 while etcd's last request failed: no promotion and no start is possible.",
        a.etcd_unreachable.is_some() as u32,
    )
}

/// HELP text on one line: the encoder writes it as given, and a line break
/// would end the line early.
fn single_line(help: &str) -> String {
    help.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// One sample of a parsed exposition.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Labels,
    pub value: f64,
}

impl Sample {
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// Parse (and check) a text exposition, Prometheus 0.0.4 or OpenMetrics:
/// every line is a `# HELP`, `# TYPE`, `# UNIT` or other comment, or a
/// sample `name{labels} value [timestamp]` whose family was declared by a
/// `# TYPE` before it (an OpenMetrics counter `x` has samples `x_total` and
/// `x_created`); nothing may follow `# EOF`. Independent of the encoder, so
/// a test of [`render`] checks the library's output rather than trusting it;
/// for the tests and for anyone checking a scrape by script.
pub fn parse_exposition(text: &str) -> Result<Vec<Sample>, String> {
    let mut typed: Vec<(String, String)> = Vec::new();
    let mut samples = Vec::new();
    let mut eof = false;
    for (i, line) in text.lines().enumerate() {
        let at = |m: &str| format!("line {}: {m}: {line}", i + 1);
        if eof {
            return Err(at("text after # EOF"));
        }
        if line.is_empty() {
            continue;
        }
        if line == "# EOF" {
            eof = true;
            continue;
        }
        if let Some(rest) = line.strip_prefix('#') {
            let mut words = rest.trim_start().splitn(3, ' ');
            match words.next() {
                Some("TYPE") => {
                    let name = words.next().filter(|n| valid_name(n)).ok_or_else(|| at("TYPE without a valid name"))?;
                    let kind = words.next().unwrap_or("");
                    if !matches!(
                        kind,
                        "counter" | "gauge" | "histogram" | "gaugehistogram" | "summary" | "info" | "stateset" | "untyped" | "unknown"
                    ) {
                        return Err(at("unknown metric type"));
                    }
                    if typed.iter().any(|(n, _)| n == name) {
                        return Err(at("family typed twice"));
                    }
                    typed.push((name.to_string(), kind.to_string()));
                }
                Some("HELP" | "UNIT") => {
                    words.next().filter(|n| valid_name(n)).ok_or_else(|| at("HELP without a valid name"))?;
                }
                _ => {}
            }
            continue;
        }
        let (name, rest) = match line.find(['{', ' ']) {
            Some(p) => line.split_at(p),
            None => return Err(at("sample without a value")),
        };
        if !valid_name(name) {
            return Err(at("invalid metric name"));
        }
        let (labels, rest) = if let Some(inner) = rest.strip_prefix('{') {
            parse_labels(inner).map_err(|m| at(&m))?
        } else {
            (Vec::new(), rest)
        };
        let mut fields = rest.split_whitespace();
        let value = fields.next().ok_or_else(|| at("sample without a value"))?;
        let value = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            v => v.parse::<f64>().map_err(|_| at("value is not a number"))?,
        };
        if let Some(ts) = fields.next() {
            ts.parse::<f64>().map_err(|_| at("timestamp is not a number"))?;
        }
        if fields.next().is_some() {
            return Err(at("trailing text after the value"));
        }
        let family_declared = typed.iter().any(|(fam, kind)| {
            name == fam
                || (kind == "counter" && ["_total", "_created"].iter().any(|sfx| name.strip_suffix(sfx) == Some(fam.as_str())))
                || (kind == "histogram"
                    && ["_bucket", "_sum", "_count"].iter().any(|sfx| name.strip_suffix(sfx) == Some(fam.as_str())))
                || (kind == "summary" && ["_sum", "_count"].iter().any(|sfx| name.strip_suffix(sfx) == Some(fam.as_str())))
        });
        if !family_declared {
            return Err(at("sample of a family with no # TYPE line before it"));
        }
        samples.push(Sample { name: name.to_string(), labels, value });
    }
    Ok(samples)
}

fn valid_name(n: &str) -> bool {
    let mut chars = n.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Label pairs of a sample, in order.
type Labels = Vec<(String, String)>;

/// `k="v",k2="v2"}rest` → labels and `rest`.
fn parse_labels(mut s: &str) -> Result<(Labels, &str), String> {
    let mut labels = Vec::new();
    loop {
        if let Some(rest) = s.strip_prefix('}') {
            return Ok((labels, rest));
        }
        let eq = s.find('=').ok_or("label without `=`")?;
        let key = &s[..eq];
        if !valid_name(key) || key.contains(':') {
            return Err(format!("invalid label name `{key}`"));
        }
        let mut chars = s[eq + 1..].char_indices();
        if chars.next().map(|(_, c)| c) != Some('"') {
            return Err("label value not quoted".into());
        }
        let mut value = String::new();
        let mut end = None;
        let mut escaped = false;
        for (i, c) in chars {
            match (escaped, c) {
                (true, c) => {
                    value.push(if c == 'n' { '\n' } else { c });
                    escaped = false;
                }
                (false, '\\') => escaped = true,
                (false, '"') => {
                    end = Some(eq + 1 + i + 1);
                    break;
                }
                (false, c) => value.push(c),
            }
        }
        let end = end.ok_or("unterminated label value")?;
        labels.push((key.to_string(), value));
        s = &s[end..];
        s = s.strip_prefix(',').unwrap_or(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use holdback_driver::SeqNum;

    fn snapshot() -> Snapshot {
        let mut counters = CardCounters::default();
        let mut v = [0u32; Stat::COUNT];
        v[Stat::DropTcbFull.index()] = 3;
        v[Stat::RxPayloadBytes.index()] = u32::MAX - 10;
        counters.update(&Stats::from_values(v));
        v[Stat::RxPayloadBytes.index()] = 20; // wrapped: +31
        counters.update(&Stats::from_values(v));
        let est = Tcb {
            state: TcpState::Established,
            holdback: true,
            rcv_nxt: SeqNum(5),
            rel: SeqNum(0xFFFF_FFFB), // 10 bytes behind, across the wrap
            ..Tcb::closed()
        };
        let syn = Tcb { state: TcpState::SynReceived, ..Tcb::closed() };
        let mut commit_latency = Histogram::default();
        for us in [100, 3_000, 7_000, 2_000_000] {
            commit_latency.observe_us(us);
        }
        Snapshot {
            counters,
            tcbs: vec![est.clone(), est, syn],
            sink: SinkStats { bytes_committed: 9, ..SinkStats::default() },
            commit_latency,
            release_paused: false,
            uptime: Duration::from_millis(1500),
            pair: None,
        }
    }

    fn value(samples: &[Sample], name: &str, label: Option<(&str, &str)>) -> f64 {
        samples
            .iter()
            .find(|s| s.name == name && label.is_none_or(|(k, v)| s.label(k) == Some(v)))
            .unwrap_or_else(|| panic!("no sample {name} {label:?}"))
            .value
    }

    #[test]
    fn render_is_valid_exposition_with_every_family() {
        let text = render(&snapshot());
        assert!(text.ends_with("# EOF\n"), "{text}");
        let samples = parse_exposition(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(value(&samples, "holdback_drops_total", Some(("reason", "tcb_full"))), 3.0);
        let drops = samples.iter().filter(|s| s.name == "holdback_drops_total").count();
        assert_eq!(drops, Stat::ALL.iter().filter(|s| s.name().starts_with("drop_")).count());
        assert_eq!(value(&samples, "holdback_card_rx_payload_bytes_total", None), (u32::MAX - 10) as f64 + 31.0);
        assert_eq!(value(&samples, "holdback_connections", Some(("state", "ESTABLISHED"))), 2.0);
        assert_eq!(value(&samples, "holdback_connections", Some(("state", "SYN-RECEIVED"))), 1.0);
        assert_eq!(value(&samples, "holdback_held_back_bytes", None), 20.0);
        assert_eq!(value(&samples, "holdback_release_latency_seconds_bucket", Some(("le", "0.00025"))), 1.0);
        assert_eq!(value(&samples, "holdback_release_latency_seconds_bucket", Some(("le", "0.01"))), 3.0);
        assert_eq!(value(&samples, "holdback_release_latency_seconds_bucket", Some(("le", "+Inf"))), 4.0);
        assert_eq!(value(&samples, "holdback_release_latency_seconds_count", None), 4.0);
        assert!((value(&samples, "holdback_release_latency_seconds_sum", None) - 2.0101).abs() < 1e-9);
        assert_eq!(value(&samples, "holdback_sink_committed_bytes_total", None), 9.0);
        assert!(!samples.iter().any(|s| s.name.starts_with("holdback_pair_")), "no pair families for a lone card");
    }

    #[test]
    fn a_pair_member_exports_its_role_epoch_link_and_gate() {
        let mut snap = snapshot();
        snap.pair = Some(crate::control::PairStatus {
            role: crate::control::PairRole::Promoted,
            epoch: 2,
            link: crate::control::PairLink::Down,
            degraded: Some("degraded: no standby acknowledgement".into()),
            replica_wait_us_total: 1_500_000,
            refused: [("bad_mac".to_string(), 3u64), ("stale_epoch".to_string(), 1)].into_iter().collect(),
            ..Default::default()
        });
        let text = render(&snap);
        let samples = parse_exposition(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(value(&samples, "holdback_pair_role", Some(("role", "promoted"))), 1.0);
        assert_eq!(value(&samples, "holdback_pair_role", Some(("role", "active"))), 0.0);
        assert_eq!(value(&samples, "holdback_pair_epoch", None), 2.0);
        assert_eq!(value(&samples, "holdback_pair_link_replicating", None), 0.0);
        assert_eq!(value(&samples, "holdback_pair_degraded", None), 1.0);
        assert_eq!(value(&samples, "holdback_pair_refused_total", Some(("reason", "bad_mac"))), 3.0);
        assert_eq!(value(&samples, "holdback_pair_replica_wait_seconds_total", None), 1.5);
        assert!(!samples.iter().any(|s| s.name.starts_with("holdback_authority_")), "no authority families with kind = pair");
    }

    #[test]
    fn an_etcd_pair_member_exports_the_epoch_its_grant_and_what_is_left() {
        let mut snap = snapshot();
        snap.pair = Some(crate::control::PairStatus {
            role: crate::control::PairRole::Active,
            epoch: 3,
            authority: Some(crate::control::AuthorityStatus {
                holder: Some("a".into()),
                epoch: 3,
                holds: true,
                speaks_on: crate::authority::SpeaksOn::Promise,
                confirmed_left_ms: None,
                promise_left_ms: Some(150),
                promising: false,
                etcd_unreachable: Some("etcd did not answer".into()),
            }),
            ..Default::default()
        });
        let text = render(&snap);
        let samples = parse_exposition(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(value(&samples, "holdback_authority_epoch", None), 3.0);
        assert_eq!(value(&samples, "holdback_authority_holds", None), 1.0);
        assert_eq!(value(&samples, "holdback_authority_speaks_on", Some(("grant", "promise"))), 1.0);
        assert_eq!(value(&samples, "holdback_authority_speaks_on", Some(("grant", "confirmation"))), 0.0);
        assert_eq!(value(&samples, "holdback_authority_promise_left_seconds", None), 0.15);
        assert_eq!(value(&samples, "holdback_authority_confirmation_left_seconds", None), 0.0);
        assert_eq!(value(&samples, "holdback_authority_etcd_unreachable", None), 1.0);
    }

    #[test]
    fn the_parser_refuses_what_prometheus_refuses() {
        for bad in [
            "x 1",                                       // no TYPE
            "# TYPE x counter\nx{a=\"1} 1",              // unterminated label
            "# TYPE x counter\nx one",                   // not a number
            "# TYPE x counter\n9x 1",                    // bad name
            "# TYPE x counter\nx{a=1} 1",                // unquoted
            "# TYPE x kounter\nx 1",                     // bad type
            "# TYPE x counter\nx 1 2 3",                 // trailing
            "# TYPE x counter\nx_total 1\n# EOF\nx_total 2", // after EOF
            "# TYPE x counter\nx_sum 1",                // not a counter's sample
        ] {
            assert!(parse_exposition(bad).is_err(), "accepted: {bad}");
        }
        let ok = parse_exposition("# TYPE h histogram\nh_bucket{le=\"+Inf\",a=\"q\\\"\"} 2\nh_sum 1.5\nh_count 2 1700000000\n").unwrap();
        assert_eq!(ok[0].label("a"), Some("q\""));
        let open_metrics = parse_exposition("# HELP c C.\n# TYPE c counter\nc_total{r=\"x\"} 3\nc_created 1.7e9\n# EOF\n").unwrap();
        assert_eq!(open_metrics[0].name, "c_total");
    }
}
