//! The daemon's Prometheus endpoint: text exposition format 0.0.4 over a
//! minimal HTTP/1.1 server on a loopback port (`[metrics] listen`).
//!
//! What it exports: the card's counters (drops per reason as
//! `holdback_drops_total{reason=…}`, the rest as `holdback_card_<name>_total`),
//! connections by RFC 9293 state, bytes held back (Σ rcv_nxt − R over the
//! open connections, serial arithmetic), the release latency (the sink's
//! group-commit time, a histogram), the sink's own counters.
//!
//! The card's counters are 32 bits and wrap (`rx_payload_bytes` every 4 GiB,
//! seconds at 10 Gbit/s); [`CardCounters`] folds periodic reads into 64-bit
//! totals so the exported counters only ever go up.
use std::fmt::Write as _;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use holdback_driver::regmap::{Stat, TcpState};
use holdback_driver::{Stats, Tcb};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::sink::SinkStats;

/// Upper bounds of the release-latency buckets, microseconds.
pub const LATENCY_BUCKETS_US: [u64; 12] =
    [250, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000];

/// Longest request head the endpoint reads before answering 400.
const MAX_REQUEST_HEAD: usize = 8 * 1024;
/// A client that has not sent its request head by then is dropped.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

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
#[derive(Clone, Debug, Default)]
pub struct CardCounters {
    totals: [u64; Stat::COUNT],
    last: Option<Stats>,
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
    /// Open connections (the sink's change-log view).
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

/// Exposition text under construction: a family's `# HELP`/`# TYPE`, then its samples.
struct Exposition {
    out: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) -> &mut Self {
        let _ = writeln!(self.out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
        self
    }
    fn sample(&mut self, line: std::fmt::Arguments<'_>) -> &mut Self {
        let _ = self.out.write_fmt(line);
        self.out.push('\n');
        self
    }
}

/// The exposition text of `s`.
pub fn render(s: &Snapshot) -> String {
    let mut e = Exposition { out: String::with_capacity(8 * 1024) };
    e.family("holdback_up", "gauge", "1 while the daemon serves its card.").sample(format_args!("holdback_up 1"));
    e.family("holdback_uptime_seconds", "gauge", "Seconds since the daemon started serving.")
        .sample(format_args!("holdback_uptime_seconds {}", s.uptime.as_secs_f64()));

    if s.counters.is_read() {
        e.family("holdback_drops_total", "counter", "Frames the card dropped, by reason (the regmap's drop counters).");
        for st in Stat::ALL {
            if let Some(reason) = st.name().strip_prefix("drop_") {
                e.sample(format_args!("holdback_drops_total{{reason=\"{}\"}} {}", escape_label(reason), s.counters.total(st)));
            }
        }
        for st in Stat::ALL.iter().filter(|st| !st.name().starts_with("drop_")) {
            let name = format!("holdback_card_{}_total", st.name());
            e.family(&name, "counter", st.doc()).sample(format_args!("{name} {}", s.counters.total(*st)));
        }
    }

    e.family("holdback_connections", "gauge", "Connections on the card by RFC 9293 state (CLOSED slots are free).");
    for st in OPEN_STATES {
        let n = s.tcbs.iter().filter(|t| t.state == st).count();
        e.sample(format_args!("holdback_connections{{state=\"{}\"}} {n}", st.rfc_name()));
    }

    let held: u64 = s.tcbs.iter().map(|t| t.held_back_bytes() as u64).sum();
    e.family(
        "holdback_held_back_bytes",
        "gauge",
        "Bytes received but not yet released (sum over connections of rcv_nxt - R): what peers still hold unacknowledged.",
    )
    .sample(format_args!("holdback_held_back_bytes {held}"));

    e.family(
        "holdback_release_latency_seconds",
        "histogram",
        "Time of a sink group commit, first TCB read to last release write (ring read + write + fsync + release): \
         the delay holdback adds to an ACK.",
    );
    let mut cumulative = 0;
    for (i, bound) in LATENCY_BUCKETS_US.iter().enumerate() {
        cumulative += s.commit_latency.buckets[i];
        e.sample(format_args!("holdback_release_latency_seconds_bucket{{le=\"{}\"}} {cumulative}", *bound as f64 / 1e6));
    }
    let h = &s.commit_latency;
    e.sample(format_args!("holdback_release_latency_seconds_bucket{{le=\"+Inf\"}} {}", h.count))
        .sample(format_args!("holdback_release_latency_seconds_sum {}", h.sum_us as f64 / 1e6))
        .sample(format_args!("holdback_release_latency_seconds_count {}", h.count));

    for (name, help, v) in [
        ("holdback_sink_committed_bytes_total", "Bytes the sink wrote and fsynced.", s.sink.bytes_committed),
        ("holdback_sink_group_commits_total", "Sink passes that committed something.", s.sink.commits),
        ("holdback_sink_fsyncs_total", "Files fsynced by the sink.", s.sink.fsyncs),
        ("holdback_sink_release_writes_total", "Release-register writes.", s.sink.release_writes),
        ("holdback_sink_connections_total", "Connections the sink has followed.", s.sink.conns_seen),
    ] {
        e.family(name, "counter", help).sample(format_args!("{name} {v}"));
    }
    e.family("holdback_release_paused", "gauge", "1 while release-register writes are paused (holdback release pause).")
        .sample(format_args!("holdback_release_paused {}", s.release_paused as u8));
    if let Some(p) = &s.pair {
        render_pair(&mut e, p);
    }
    e.out
}

/// The failover pair: role, epoch, the replication link and the
/// replica gate — what an operator alerts on (a standby that stopped
/// acknowledging, a fenced card, a degraded primary).
fn render_pair(e: &mut Exposition, p: &crate::control::PairStatus) {
    e.family("holdback_pair_role", "gauge", "1 for this daemon's current role in its failover pair.");
    for role in crate::control::PairRole::ALL {
        e.sample(format_args!("holdback_pair_role{{role=\"{role}\"}} {}", (p.role == role) as u8));
    }
    e.family("holdback_pair_epoch", "gauge", "The pair's failover epoch this daemon is in (invariant 8).")
        .sample(format_args!("holdback_pair_epoch {}", p.epoch));
    e.family(
        "holdback_pair_link_replicating",
        "gauge",
        "1 while the replication link is in sync (primary: Replicating; standby: a primary connected).",
    )
    .sample(format_args!("holdback_pair_link_replicating {}", p.link.in_sync() as u8));
    e.family("holdback_pair_degraded", "gauge", "1 while releases are not held for a standby's acknowledgement after a failover.")
        .sample(format_args!("holdback_pair_degraded {}", p.degraded.is_some() as u8));
    e.family("holdback_pair_replicated_seq", "gauge", "Primary: highest update the standby acknowledged. Standby: highest stored.")
        .sample(format_args!("holdback_pair_replicated_seq {}", p.replicated_seq));
    for (name, help, v) in [
        ("holdback_pair_link_sent_bytes_total", "Bytes sent on the replication link.", p.bytes_sent),
        ("holdback_pair_link_received_bytes_total", "Bytes received on the replication link.", p.bytes_received),
        ("holdback_pair_full_syncs_total", "Full synchronisations of every TCB (claim 33).", p.full_syncs),
        ("holdback_pair_resumes_total", "Reconnects resumed without a full sync.", p.resumes),
        ("holdback_pair_replica_waits_total", "Group commits the replica gate held for the standby's acknowledgement.", p.replica_waits),
        ("holdback_pair_replica_waits_failed_total", "Sink passes the replica gate released nothing in (standby silent).", p.replica_waits_failed),
    ] {
        e.family(name, "counter", help).sample(format_args!("{name} {v}"));
    }
    e.family("holdback_pair_replica_wait_seconds_total", "counter", "Total time group commits waited for the standby.")
        .sample(format_args!("holdback_pair_replica_wait_seconds_total {}", p.replica_wait_us_total as f64 / 1e6));
    e.family("holdback_pair_refused_total", "counter", "Connections the replication listener refused, by reason.");
    for (reason, n) in &p.refused {
        e.sample(format_args!("holdback_pair_refused_total{{reason=\"{}\"}} {n}", escape_label(reason)));
    }
}

fn escape_help(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Serve `GET /metrics` on `listener` with the text `render` produces, until
/// `stop` completes. Other paths get 404, other methods 405, anything that
/// is not an HTTP/1.x request head 400; one request per connection.
pub async fn serve(
    listener: TcpListener,
    render: Arc<dyn Fn() -> String + Send + Sync>,
    stop: impl Future<Output = ()>,
) {
    let mut conns = tokio::task::JoinSet::new();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let render = render.clone();
                    conns.spawn(async move {
                        if let Err(e) = answer(stream, render).await {
                            tracing::debug!(%peer, "metrics connection: {e}");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!("metrics accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.abort_all();
}

/// What a request head asks for.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Metrics { head_only: bool },
    NotFound,
    MethodNotAllowed,
    BadRequest(&'static str),
}

fn route(head: &[u8]) -> Route {
    let Ok(head) = std::str::from_utf8(head) else { return Route::BadRequest("request head is not UTF-8") };
    let Some(request_line) = head.lines().next() else { return Route::BadRequest("empty request") };
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Route::BadRequest("request line is not `METHOD TARGET HTTP/1.x`");
    };
    if !version.starts_with("HTTP/1.") || method.is_empty() || !target.starts_with('/') {
        return Route::BadRequest("request line is not `METHOD TARGET HTTP/1.x`");
    }
    let path = target.split('?').next().unwrap_or(target);
    match (method, path) {
        ("GET", "/metrics") => Route::Metrics { head_only: false },
        ("HEAD", "/metrics") => Route::Metrics { head_only: true },
        ("GET" | "HEAD", _) => Route::NotFound,
        _ => Route::MethodNotAllowed,
    }
}

async fn answer(mut stream: TcpStream, render: Arc<dyn Fn() -> String + Send + Sync>) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    let complete = tokio::time::timeout(REQUEST_TIMEOUT, async {
        loop {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                return Ok::<bool, std::io::Error>(false);
            }
            head.extend_from_slice(&buf[..n]);
            if head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n") {
                return Ok(true);
            }
            if head.len() > MAX_REQUEST_HEAD {
                return Ok(false);
            }
        }
    })
    .await;
    let route = match complete {
        Err(_) => return Ok(()), // timed out: nothing to answer
        Ok(Err(e)) => return Err(e),
        Ok(Ok(true)) => route(&head),
        Ok(Ok(false)) if head.is_empty() => return Ok(()),
        Ok(Ok(false)) => Route::BadRequest("incomplete or oversized request head"),
    };
    let (status, content_type, body, head_only, extra) = match route {
        Route::Metrics { head_only } => ("200 OK", "text/plain; version=0.0.4; charset=utf-8", render(), head_only, ""),
        Route::NotFound => ("404 Not Found", "text/plain; charset=utf-8", "not found: the metrics are at /metrics\n".into(), false, ""),
        Route::MethodNotAllowed => {
            ("405 Method Not Allowed", "text/plain; charset=utf-8", "only GET /metrics\n".into(), false, "Allow: GET, HEAD\r\n")
        }
        Route::BadRequest(why) => ("400 Bad Request", "text/plain; charset=utf-8", format!("bad request: {why}\n"), false, ""),
    };
    let mut response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        response.extend_from_slice(body.as_bytes());
    }
    stream.write_all(&response).await?;
    stream.shutdown().await
}

/// Bind the metrics endpoint (before the card is opened, so a taken port
/// fails the start cleanly).
pub fn bind(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let l = std::net::TcpListener::bind(addr)?;
    l.set_nonblocking(true)?;
    Ok(l)
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

/// Parse (and check) text exposition format: every line is a `# HELP`,
/// `# TYPE` or other comment, or a sample `name{labels} value [timestamp]`
/// whose family was declared by a `# TYPE` before it. For the tests and for
/// anyone checking a scrape by script.
pub fn parse_exposition(text: &str) -> Result<Vec<Sample>, String> {
    let mut typed: Vec<(String, String)> = Vec::new();
    let mut samples = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let at = |m: &str| format!("line {}: {m}: {line}", i + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('#') {
            let mut words = rest.trim_start().splitn(3, ' ');
            match words.next() {
                Some("TYPE") => {
                    let name = words.next().filter(|n| valid_name(n)).ok_or_else(|| at("TYPE without a valid name"))?;
                    let kind = words.next().unwrap_or("");
                    if !matches!(kind, "counter" | "gauge" | "histogram" | "summary" | "untyped") {
                        return Err(at("unknown metric type"));
                    }
                    if typed.iter().any(|(n, _)| n == name) {
                        return Err(at("family typed twice"));
                    }
                    typed.push((name.to_string(), kind.to_string()));
                }
                Some("HELP") => {
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
            ts.parse::<i64>().map_err(|_| at("timestamp is not an integer"))?;
        }
        if fields.next().is_some() {
            return Err(at("trailing text after the value"));
        }
        let family_declared = typed.iter().any(|(fam, kind)| {
            name == fam
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
        ] {
            assert!(parse_exposition(bad).is_err(), "accepted: {bad}");
        }
        let ok = parse_exposition("# TYPE h histogram\nh_bucket{le=\"+Inf\",a=\"q\\\"\"} 2\nh_sum 1.5\nh_count 2 1700000000\n").unwrap();
        assert_eq!(ok[0].label("a"), Some("q\""));
    }

    #[test]
    fn routes() {
        assert_eq!(route(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), Route::Metrics { head_only: false });
        assert_eq!(route(b"GET /metrics?x=1 HTTP/1.0\r\n\r\n"), Route::Metrics { head_only: false });
        assert_eq!(route(b"HEAD /metrics HTTP/1.1\r\n\r\n"), Route::Metrics { head_only: true });
        assert_eq!(route(b"GET / HTTP/1.1\r\n\r\n"), Route::NotFound);
        assert_eq!(route(b"POST /metrics HTTP/1.1\r\n\r\n"), Route::MethodNotAllowed);
        assert!(matches!(route(b"hello\r\n\r\n"), Route::BadRequest(_)));
        assert!(matches!(route(b"GET /metrics SMTP\r\n\r\n"), Route::BadRequest(_)));
        assert!(matches!(route(b"\xff\xfe\r\n\r\n"), Route::BadRequest(_)));
    }

    #[tokio::test]
    async fn the_endpoint_answers_200_404_400_and_keeps_serving() {
        let listener = TcpListener::from_std(bind("127.0.0.1:0".parse().unwrap()).unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, Arc::new(|| render(&snapshot())), async {
            let _ = rx.await;
        }));
        async fn ask(addr: SocketAddr, req: &[u8]) -> String {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(req).await.unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).await.unwrap();
            out
        }
        let ok = ask(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        let body = ok.split_once("\r\n\r\n").unwrap().1;
        parse_exposition(body).unwrap();
        assert!(ask(addr, b"GET /nope HTTP/1.1\r\n\r\n").await.starts_with("HTTP/1.1 404"));
        assert!(ask(addr, b"\x00\x01garbage\r\n\r\n").await.starts_with("HTTP/1.1 400"));
        assert!(ask(addr, &[b'A'; MAX_REQUEST_HEAD + 100]).await.starts_with("HTTP/1.1 400"));
        assert!(ask(addr, b"DELETE /metrics HTTP/1.1\r\n\r\n").await.starts_with("HTTP/1.1 405"));
        assert!(ask(addr, b"GET /metrics HTTP/1.1\r\n\r\n").await.starts_with("HTTP/1.1 200"));
        tx.send(()).unwrap();
        server.await.unwrap();
    }
}
