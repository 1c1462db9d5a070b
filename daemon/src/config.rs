//! `holdback daemon --config FILE`: the TOML configuration, parsed strictly
//! and validated completely before anything starts, so a bad file never
//! leaves a half-configured daemon behind.
//!
//! ```toml
//! card = "vfio:0000:03:00.0"          # or "sim" (with a [sim] section)
//! socket = "/run/holdback/default/control.sock"
//! role = "active"
//! gates = ["app"]
//! sink_dir = "/var/lib/holdback/sink"
//! [network]
//! mac = "02:48:4c:44:42:01"
//! ip = "198.18.0.2"
//! listen_ports = [5001]
//! reassembly = true                   # hold out-of-order segments (RX_REASM); false drops them
//! sack = false                        # with reassembly: SACK blocks of the held ranges (RFC 2018; off: see README)
//! timestamps = false                  # TCP timestamps (RFC 7323): answered and offered on the card's SYNs; PAWS (docs/engine.md)
//! syn_cookies = "off"                 # or a half-open threshold 0..=65535: SYN cookies (RFC 4987 §3.6, docs/syn-cookies.md)
//! # or, per listening port, holdback and gates of its own (either form, not both):
//! # [[listen]]
//! # port = 5001
//! # holdback = true                   # default: network.holdback
//! # gates = ["app"]                   # default: the top-level gates
//! [metrics]                          # the HTTP endpoint: /metrics and /health
//! listen = "127.0.0.1:9464"
//! [dma]                              # host memory the card writes payload into
//! rx_ring_bytes = 65536              # per connection: 4096..=65536, a power of two
//! [app]                              # the built-in application behind the card
//! kind = "sink"                      # or "echo" (docs/app.md)
//! [tcp]                              # the card's connection timers, milliseconds
//! rto_min_ms = 200                   # RTO floor once sampled (RFC 6298 §2.4); default: network.rto_us
//! time_wait_ms = 60000               # TIME-WAIT (2 MSL), and the FIN-WAIT-2 bound
//! keepalive_idle_ms = 0              # keep-alive (RFC 9293 §3.8.4): 0 = off
//! keepalive_interval_ms = 75000      # between unanswered probes
//! keepalive_probes = 9               # 1..=15 unanswered probes, then RST
//! idle_timeout_ms = 0                # without keep-alive: RST a quiet connection; 0 = off
//! relay_connect_ms = 3000            # relay mode: how long a client waits for its backend
//! [[relay]]                          # relay mode (docs/relay.md): a listening port spliced to a backend
//! listen = 8080                      # takes one of the 4 listening slots
//! backend = "198.18.0.3:80"
//! next_hop_mac = "02:00:00:00:00:03" # the card has no ARP cache
//! gates = ["peer"]                   # the only gate of a relayed connection (the default)
//! # beside [replication]: send limits wait for the standby; with replicate = "at-setup" (the default)
//! # the client's SYN-ACK also waits until the standby stored both TCBs of the pair
//! ```
//!
//! Every error names the file, the field (as a dotted key path) and what is
//! wrong; syntax and type errors add the line and column.
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use holdback_driver::vfio::PciAddress;
use holdback_driver::{CardSettings, MacAddr, MacParseError, PortHoldback, RelayTarget};
use serde::{Deserialize, Serialize};

use crate::app::AppKind;

/// Where the sink writes when `sink_dir` is not given.
pub const DEFAULT_SINK_DIR: &str = "/var/lib/holdback/sink";
/// MSS announced when `network.our_mss` is not given (Ethernet MTU 1500).
pub const DEFAULT_MSS: u16 = 1460;
/// SYN-ACK/FIN retransmission timeout when `network.rto_us` is not given:
/// Linux's initial RTO is 1 s; 200 ms keeps a lost FIN from stretching a
/// connection's end.
pub const DEFAULT_RTO_US: u32 = 200_000;
/// Parent of the runtime directories (`/run/holdback/<name>/`) of daemons
/// and background labs.
pub const STATE_ROOT: &str = "/run/holdback";
/// The name used when none is given (`/run/holdback/default/`).
pub const DEFAULT_NAME: &str = "default";

/// The control socket when `socket` is not given: `/run/holdback/default/control.sock`.
pub fn default_socket() -> PathBuf {
    PathBuf::from(STATE_ROOT).join(DEFAULT_NAME).join("control.sock")
}
/// Listening slots of the card (`holdback_regmap::LISTEN_SLOTS`).
pub const MAX_LISTEN_PORTS: usize = holdback_driver::regmap::LISTEN_SLOTS.len();
/// Longest Linux interface name (IFNAMSIZ − 1).
const MAX_IFNAME: usize = 15;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read the config file")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: `{field}`: {message}")]
    Parse { path: PathBuf, line: usize, column: usize, field: String, message: String },
    #[error("{path}: `{field}`: {message}")]
    Invalid { path: PathBuf, field: String, message: String },
}

impl ConfigError {
    /// The dotted key path the error is about (`network.listen_ports`).
    pub fn field(&self) -> Option<&str> {
        match self {
            ConfigError::Read { .. } => None,
            ConfigError::Parse { field, .. } | ConfigError::Invalid { field, .. } => Some(field),
        }
    }
}

/// The daemon's role in a failover pair (invariants 2, 3, 8): `active` runs the
/// card and (with `[replication]`) ships its TCBs; `standby` keeps its card
/// silent (CTRL.standby), installs the copies it receives and is promoted
/// when the primary fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Active,
    Standby,
}

/// A condition that must hold before the sink writes a release register
/// (the ACK holdback gates, claim 2). `app`: the sink committed the bytes
/// (written and fsynced). `replica`: the standby acknowledged a TCB copy
/// covering them (claim 24, invariant 2); it sits between the sink's commit
/// and its release (see `Sink::release_all`) and needs `[replication]`.
/// `peer`: the other side of a relayed pair acknowledged them (claims 3,
/// 13, 20); the card moves R itself, so it is the gate of `[[relay]]`
/// ports alone and no host application's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Gate {
    App,
    Replica,
    // Not a choice of the pair lab's `--gates`: the lab's relay mode sets it.
    #[value(skip)]
    Peer,
}

/// The file as written (serde's view); [`load`] turns it into a [`Config`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    card: String,
    socket: Option<PathBuf>,
    #[serde(default = "default_role")]
    role: Role,
    #[serde(default = "default_gates")]
    gates: Vec<Gate>,
    sink_dir: Option<PathBuf>,
    sim: Option<RawSim>,
    network: RawNetwork,
    /// `[[listen]]`: the listening ports one by one, each with its own
    /// holdback and gates if given (instead of `network.listen_ports`).
    #[serde(default)]
    listen: Vec<RawListen>,
    /// `[[relay]]`: listening ports the card splices to a backend server.
    #[serde(default)]
    relay: Vec<RawRelay>,
    metrics: Option<RawMetrics>,
    replication: Option<RawReplication>,
    authority: Option<RawAuthority>,
    dma: Option<RawDma>,
    app: Option<RawApp>,
    tcp: Option<RawTcp>,
}

/// `[app]`: which built-in application runs behind the card.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApp {
    #[serde(default)]
    kind: AppKind,
}

/// `[app]` as validated and printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AppSettings {
    pub kind: AppKind,
}

fn validate_app(a: Option<RawApp>) -> Result<AppSettings, (&'static str, String)> {
    // Echo in a pair needs no store of its own on either side: its state
    // is its output, which the standby holds in its transmit ring before
    // the input is committed (invariant 9).
    Ok(AppSettings { kind: a.map(|a| a.kind).unwrap_or_default() })
}

/// `[dma]`: the host memory the card writes into.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDma {
    rx_ring_bytes: Option<i64>,
}

/// The card's host-memory settings (`[dma]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct DmaSettings {
    /// Bytes of every connection's receive ring in host memory: the most a
    /// connection's window can offer (65535 at 64 KiB, without window
    /// scaling). A power of two in 4096..=65536; the card may support less
    /// (its ID block says), which the daemon reports when it opens the card.
    pub rx_ring_bytes: u32,
}

impl Default for DmaSettings {
    fn default() -> DmaSettings {
        DmaSettings { rx_ring_bytes: holdback_driver::DEFAULT_RX_RING_BYTES }
    }
}

fn validate_dma(d: Option<RawDma>) -> Result<DmaSettings, (&'static str, String)> {
    let Some(bytes) = d.and_then(|d| d.rx_ring_bytes) else { return Ok(DmaSettings::default()) };
    let (min, max) = (holdback_driver::host_mem::MIN_RX_RING_BYTES, holdback_driver::host_mem::MAX_RX_RING_BYTES);
    match u32::try_from(bytes) {
        Ok(b) if b.is_power_of_two() && (min..=max).contains(&b) => Ok(DmaSettings { rx_ring_bytes: b }),
        _ => Err(("dma.rx_ring_bytes", format!("{bytes} is not a power of two in {min}..={max} (the card's RX_RING_LOG2 takes {}..={})", holdback_regmap::RX_RING_LOG2_MIN, holdback_regmap::RX_RING_LOG2_MAX))),
    }
}

/// `[tcp]`: the card's connection timers, in milliseconds (the daemon's
/// other timers are `_ms` too); integers are read wide so a negative or
/// too-large value gets its own message.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTcp {
    rto_min_ms: Option<i64>,
    time_wait_ms: Option<i64>,
    keepalive_idle_ms: Option<i64>,
    keepalive_interval_ms: Option<i64>,
    keepalive_probes: Option<i64>,
    idle_timeout_ms: Option<i64>,
    relay_connect_ms: Option<i64>,
}

/// The card's connection timers (`[tcp]`) in microseconds, as its
/// registers take them; every value came from whole milliseconds. The
/// defaults are the card's reset values (keep-alive and the idle timeout
/// off) and, for the RTO floor, whatever the driver's `configure` writes.
/// The initial RTO is `network.rto_us` (RTO_US).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpSettings {
    /// RTO_MIN_US: the RTO floor once a connection has an RTT sample (RFC
    /// 6298 §2.4); in 1 ms..=[`RTO_CEILING_MS`] and at most `network.rto_us`.
    /// None: not written here, the floor `CardHandle::configure` sets stands.
    pub rto_min_us: Option<u32>,
    /// TIME_WAIT_US: how long TIME-WAIT holds a slot, and how long
    /// FIN-WAIT-2 waits for the peer's FIN; > 0.
    pub time_wait_us: u32,
    /// KEEPALIVE_IDLE_US: quiet time before the first keep-alive probe; 0: off.
    pub keepalive_idle_us: u32,
    /// KEEPALIVE_INTVL_US: the wait between unanswered probes; > 0.
    pub keepalive_interval_us: u32,
    /// KEEPALIVE_PROBES: unanswered probes before the RST, 1..=15.
    pub keepalive_probes: u8,
    /// IDLE_TIMEOUT_US: with keep-alive off, quiet time before the RST; 0:
    /// off. Never set together with `keepalive_idle_us` (the card ignores
    /// it while keep-alive is on).
    pub idle_timeout_us: u32,
    /// RELAY_CONNECT_US: how long a relayed client's SYN-ACK waits for its
    /// backend to accept (docs/relay.md, "The open"); > 0. Written only
    /// when the config has `[[relay]]` mappings.
    pub relay_connect_us: u32,
}

impl Default for TcpSettings {
    fn default() -> TcpSettings {
        TcpSettings {
            rto_min_us: None,
            time_wait_us: holdback_regmap::TIME_WAIT_US_DEFAULT,
            keepalive_idle_us: 0,
            keepalive_interval_us: holdback_regmap::KEEPALIVE_INTVL_US_DEFAULT,
            // The register's reset value, 9, fits its 4 bits.
            keepalive_probes: holdback_regmap::KEEPALIVE_PROBES_DEFAULT as u8,
            idle_timeout_us: 0,
            relay_connect_us: holdback_regmap::RELAY_CONNECT_US_DEFAULT,
        }
    }
}

/// RFC 6298 §2.5's RTO ceiling (the card's RTO_MAX): a floor above it
/// would hold every RTO above the ceiling.
pub const RTO_CEILING_MS: u32 = 60_000;
/// The longest timer a 32-bit microsecond register holds, in whole
/// milliseconds (about 71 min).
pub const MAX_TIMER_MS: u32 = u32::MAX / 1000;
/// KEEPALIVE_PROBES holds 1..=15 (bits 3:0).
const KEEPALIVE_PROBES_RANGE: std::ops::RangeInclusive<i64> = 1..=15;

/// `ms` as the microseconds a timer register takes, at least `min` ms.
fn timer_us(field: &'static str, ms: i64, min: u32) -> Result<u32, (&'static str, String)> {
    if ms > i64::from(MAX_TIMER_MS) {
        return Err((
            field,
            format!("{ms} ms does not fit the card's 32-bit microsecond register: at most {MAX_TIMER_MS} ms (about 71 min)"),
        ));
    }
    match u32::try_from(ms) {
        Ok(m) if m >= min => Ok(m * 1000),
        _ if min == 0 => Err((field, format!("{ms} is negative: give milliseconds, 0 for off"))),
        _ => Err((field, format!("{ms} is out of range {min}..={MAX_TIMER_MS} ms"))),
    }
}

/// `[tcp]`, given the initial RTO (`network.rto_us`) the floor may not
/// exceed, and whether the config relays (`relay_connect_ms` means
/// nothing otherwise).
fn validate_tcp(t: Option<RawTcp>, initial_rto_us: u32, relays: bool) -> Result<TcpSettings, (&'static str, String)> {
    let defaults = TcpSettings::default();
    let Some(t) = t else { return Ok(defaults) };
    if t.relay_connect_ms.is_some() && !relays {
        return Err((
            "tcp.relay_connect_ms",
            "is the relay mode's connect timeout, and this config has no [[relay]] mapping: add one or drop it".into(),
        ));
    }
    let given = |v: Option<i64>, default_us: u32| v.unwrap_or(i64::from(default_us / 1000));
    let rto_min_us = match t.rto_min_ms {
        None => None,
        Some(ms) if ms > i64::from(RTO_CEILING_MS) => {
            return Err((
                "tcp.rto_min_ms",
                format!(
                    "{ms} ms is above the {RTO_CEILING_MS} ms RTO ceiling (RFC 6298 §2.5): every RTO would be the floor, \
                     however short the round trip"
                ),
            ))
        }
        Some(ms) => {
            let us = timer_us("tcp.rto_min_ms", ms, 1)?;
            if us > initial_rto_us {
                return Err((
                    "tcp.rto_min_ms",
                    format!(
                        "{ms} ms is above the initial RTO (network.rto_us = {initial_rto_us}): a connection would \
                         retransmit more slowly once it has measured its round trip than before"
                    ),
                ));
            }
            Some(us)
        }
    };
    let probes = t.keepalive_probes.unwrap_or(i64::from(defaults.keepalive_probes));
    if !KEEPALIVE_PROBES_RANGE.contains(&probes) {
        return Err((
            "tcp.keepalive_probes",
            format!("{probes} is out of range 1..=15 (the card's KEEPALIVE_PROBES register has 4 bits)"),
        ));
    }
    let tcp = TcpSettings {
        rto_min_us,
        time_wait_us: timer_us("tcp.time_wait_ms", given(t.time_wait_ms, defaults.time_wait_us), 1)?,
        keepalive_idle_us: timer_us("tcp.keepalive_idle_ms", given(t.keepalive_idle_ms, defaults.keepalive_idle_us), 0)?,
        keepalive_interval_us: timer_us(
            "tcp.keepalive_interval_ms",
            given(t.keepalive_interval_ms, defaults.keepalive_interval_us),
            1,
        )?,
        keepalive_probes: probes as u8,
        idle_timeout_us: timer_us("tcp.idle_timeout_ms", given(t.idle_timeout_ms, defaults.idle_timeout_us), 0)?,
        relay_connect_us: timer_us("tcp.relay_connect_ms", given(t.relay_connect_ms, defaults.relay_connect_us), 1)?,
    };
    if tcp.keepalive_idle_us > 0 && tcp.idle_timeout_us > 0 {
        return Err((
            "tcp.idle_timeout_ms",
            "the card applies the idle timeout only with keep-alive off, and keepalive_idle_ms turns keep-alive on; \
             set one of the two (with keep-alive, keepalive_probes unanswered probes end a dead connection)"
                .into(),
        ));
    }
    Ok(tcp)
}

/// `[replication]`: the link to the other daemon of a failover pair.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReplication {
    listen: SocketAddr,
    peer: SocketAddr,
    secret_file: PathBuf,
    #[serde(default = "default_sync")]
    sync: SyncMode,
    #[serde(default = "default_replicate")]
    replicate: ReplicateMode,
    #[serde(default = "default_detector")]
    detector: Detector,
    heartbeat_ms: Option<i64>,
    heartbeat_misses: Option<i64>,
    #[serde(default = "default_true")]
    dup_acks: bool,
    /// Longest the sink waits for the standby's acknowledgement per group commit.
    ack_timeout_ms: Option<i64>,
    state_file: Option<PathBuf>,
    #[serde(default = "default_store")]
    store: StoreMode,
}

fn default_sync() -> SyncMode {
    SyncMode::BeforeAck
}
fn default_replicate() -> ReplicateMode {
    ReplicateMode::AtSetup
}
fn default_detector() -> Detector {
    Detector::Heartbeat
}
fn default_store() -> StoreMode {
    StoreMode::Replicated
}

/// Where the standby finds the bytes below R after a promotion
/// (invariant 3: the peer never sends them again).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum StoreMode {
    /// Each daemon keeps its own `sink_dir`: the primary ships the
    /// committed bytes over the replication link, and the standby writes
    /// them at their offset and fsyncs before acknowledging, so they are
    /// on its disk before any release covers them.
    Replicated,
    /// Both daemons' `sink_dir` is one store both hosts reach (the
    /// application brings it, e.g. a network filesystem): no stream bytes
    /// cross the replication link.
    Shared,
}

/// When the primary may release bytes covered by the `replica` gate (claim 32).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum SyncMode {
    /// Only after the standby acknowledged a TCB copy covering them (invariant 2).
    BeforeAck,
    /// Ship the copy and release at once: faster, and a failover may lose
    /// what the standby had not stored yet.
    Async,
}

/// When a new connection is first replicated (claims 30, 31; invariant 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ReplicateMode {
    /// The SYN-ACK waits until the standby stored the new TCB.
    AtSetup,
    /// Replicated with its first data; a connection opened in the last
    /// moment before a failure is reset by the standby.
    AfterData,
}

/// Who promotes the standby (claims 36-40).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Detector {
    /// The standby promotes itself after `heartbeat_misses` silent intervals (claims 36, 37).
    Heartbeat,
    /// Only `holdback promote` (or `holdback watch`) promotes (claims 21, 22, 38-40).
    External,
}

/// Validated `[replication]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Replication {
    pub listen: SocketAddr,
    pub peer: SocketAddr,
    pub secret_file: PathBuf,
    /// The shared secret, read from `secret_file` at load time.
    pub secret: Vec<u8>,
    pub sync: SyncMode,
    pub replicate: ReplicateMode,
    pub detector: Detector,
    pub heartbeat: std::time::Duration,
    pub heartbeat_misses: u32,
    pub dup_acks: bool,
    pub ack_timeout: std::time::Duration,
    /// `state_file`: this daemon's record of the pair's epoch (the highest
    /// it has seen, the highest it held active; `crate::pair::epoch`),
    /// written before it acts on a new epoch and read at start, so a
    /// restart keeps its epoch and a daemon that learnt of a newer primary
    /// does not come up active (invariant 8). Absolute; default
    /// [`DEFAULT_STATE_FILE`], in the persistent state directory beside the
    /// default `sink_dir` — not next to the control socket, whose runtime
    /// directory (`/run`) is emptied on reboot and, under systemd, when the
    /// unit stops. One file per daemon: two daemons on one host, or sharing
    /// a directory between hosts, need two different paths.
    pub state_file: PathBuf,
    /// `store`: how the standby gets the bytes below R.
    pub store: StoreMode,
    /// Where a standby with `store = "replicated"` writes the bytes it
    /// receives: this daemon's own `sink_dir` (its sink continues the same
    /// files after a promotion).
    pub store_dir: PathBuf,
}

impl std::fmt::Debug for Replication {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replication")
            .field("listen", &self.listen)
            .field("peer", &self.peer)
            .field("secret_file", &self.secret_file)
            .field("secret", &"<redacted>")
            .field("sync", &self.sync)
            .field("replicate", &self.replicate)
            .field("detector", &self.detector)
            .field("heartbeat", &self.heartbeat)
            .field("heartbeat_misses", &self.heartbeat_misses)
            .field("dup_acks", &self.dup_acks)
            .field("ack_timeout", &self.ack_timeout)
            .field("state_file", &self.state_file)
            .field("store", &self.store)
            .field("store_dir", &self.store_dir)
            .finish()
    }
}

/// `[authority]`: who may speak for the service address (`docs/authority.md`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuthority {
    kind: AuthorityKind,
    endpoints: Option<Vec<String>>,
    key_prefix: Option<String>,
    lease_ttl_s: Option<i64>,
    promise_ms: Option<i64>,
    confirm_ms: Option<i64>,
    request_timeout_ms: Option<i64>,
    name: Option<String>,
    ca_file: Option<PathBuf>,
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    user: Option<String>,
    password_file: Option<PathBuf>,
}

/// Which authority decides who speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthorityKind {
    /// The pair's own means: heartbeats, the epoch file, the tie-break.
    Pair,
    /// Epochs from etcd, promises on the heartbeats, a lease on the card.
    Etcd,
}

/// Validated `[authority]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Authority {
    Pair,
    Etcd(Box<EtcdAuthority>),
}

/// Validated `[authority] kind = "etcd"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EtcdAuthority {
    /// `http://host:port` or `https://host:port`, at least one.
    pub endpoints: Vec<String>,
    /// The keys `<key_prefix>/epoch` and `<key_prefix>/holder`; one prefix per pair.
    pub key_prefix: String,
    /// TTL of the holder record's etcd lease: how long after the holder
    /// stopped keeping it alive a starting node (one that heard no primary)
    /// may take the next epoch.
    pub lease_ttl_s: u32,
    /// P: the standby's promise not to take over, from when it answers a heartbeat.
    pub promise: std::time::Duration,
    /// C: how long a confirmation in etcd lets the holder speak.
    pub confirm: std::time::Duration,
    /// Longest one request to etcd may take.
    pub request_timeout: std::time::Duration,
    /// The name written as holder (default: the replication `listen` address).
    pub name: String,
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub user: Option<String>,
    pub password_file: Option<PathBuf>,
}

/// etcd's shortest useful lease TTL: below ~2 s a lease expires during an
/// ordinary leader election at etcd's default election timeout.
pub const MIN_LEASE_TTL_S: i64 = 2;
/// Holder lease TTL when `authority.lease_ttl_s` is not given.
pub const DEFAULT_LEASE_TTL_S: u32 = 5;
/// Longest one etcd request may take when `authority.request_timeout_ms` is not given.
pub const DEFAULT_ETCD_TIMEOUT_MS: u64 = 1000;

/// Heartbeat interval when `replication.heartbeat_ms` is not given.
pub const DEFAULT_HEARTBEAT_MS: u64 = 100;
/// Silent intervals before the peer is declared lost.
pub const DEFAULT_HEARTBEAT_MISSES: u32 = 3;
/// Longest a group commit waits for the standby's acknowledgement.
pub const DEFAULT_ACK_TIMEOUT_MS: u64 = 200;
/// The pair's epoch record when `replication.state_file` is not given.
pub const DEFAULT_STATE_FILE: &str = "/var/lib/holdback/pair-epoch";

fn default_role() -> Role {
    Role::Active
}
fn default_gates() -> Vec<Gate> {
    vec![Gate::App]
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSim {
    tap: String,
    netns: Option<String>,
    pcap: Option<PathBuf>,
    // Parsed only where the simulator is built in (without it, `card = "sim"` is refused first).
    #[cfg_attr(not(feature = "sim"), allow(dead_code))]
    impair: Option<String>,
    report: Option<PathBuf>,
}

/// Integers are read wide and range-checked here, so "port 70000" gets its
/// own message instead of serde's "expected u16".
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNetwork {
    mac: String,
    ip: Ipv4Addr,
    #[serde(default)]
    listen_ports: Vec<i64>,
    #[serde(default = "default_true")]
    holdback: bool,
    our_mss: Option<i64>,
    rto_us: Option<i64>,
    #[serde(default = "default_true")]
    reassembly: bool,
    #[serde(default)]
    sack: bool,
    #[serde(default)]
    timestamps: bool,
    #[serde(default)]
    syn_cookies: Option<RawSynCookies>,
}

/// `network.syn_cookies`: "off", or the half-open count (HALF_OPEN) at or
/// above which the card answers SYNs with cookies (0: every SYN).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(untagged)]
enum RawSynCookies {
    Threshold(i64),
    Word(String),
}

fn validate_syn_cookies(v: Option<&RawSynCookies>) -> Result<Option<u16>, (&'static str, String)> {
    const FIELD: &str = "network.syn_cookies";
    match v {
        None => Ok(None),
        Some(RawSynCookies::Word(w)) if w == "off" => Ok(None),
        Some(RawSynCookies::Word(w)) => {
            Err((FIELD, format!("{w:?} is neither \"off\" nor a half-open threshold 0..=65535 (a number, unquoted)")))
        }
        Some(RawSynCookies::Threshold(t)) => u16::try_from(*t)
            .map(Some)
            .map_err(|_| (FIELD, format!("threshold {t} is out of range 0..=65535 (HALF_OPEN counts 16 bits; \"off\" turns cookies off)"))),
    }
}

fn default_true() -> bool {
    true
}

/// One `[[listen]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawListen {
    port: i64,
    holdback: Option<bool>,
    gates: Option<Vec<Gate>>,
}

/// One `[[relay]]` entry; integers wide and addresses as text, so each
/// gets its own message.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRelay {
    listen: i64,
    backend: String,
    next_hop_mac: String,
    gates: Option<Vec<Gate>>,
}

/// The local ports relay mode reserves for the card's own connections to
/// the backends: `RELAY_LOCAL_PORT_BASE + id` for TCB `id`, up to 16384
/// TCBs (docs/relay.md, "The open").
pub const RELAY_LOCAL_PORTS: std::ops::RangeInclusive<u16> = holdback_regmap::RELAY_LOCAL_PORT_BASE..=u16::MAX;

/// A listening port's own gates (`[[listen]] gates`): the sink applies
/// them to the port's connections instead of the top-level `gates`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortGates {
    pub port: u16,
    /// Non-empty, no duplicates.
    pub gates: Vec<Gate>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    listen: SocketAddr,
}

/// Which card the daemon drives.
#[derive(Clone, Debug, PartialEq)]
pub enum CardSpec {
    /// The Verilated card on a TAP.
    Sim(SimCard),
    /// A real card bound to vfio-pci.
    Vfio(PciAddress),
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SimCard {
    /// TAP the simulated card's Ethernet port attaches to (created if missing).
    pub tap: String,
    /// Network namespace the TAP lives in (`ip netns` name); None: ours.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub netns: Option<String>,
    /// Record the card's port to this pcap file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pcap: Option<PathBuf>,
    /// Seeded loss/reordering of arriving frames, netem-style
    /// ("loss 1% reorder 1%"), for kernels without sch_netem.
    #[cfg(feature = "sim")]
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "display_impairment")]
    pub impair: Option<holdback_sim::impair::Impairment>,
    /// On a clean stop, write the simulated card's own figures (cycles,
    /// frames in and out, frames the kernel refused) here as JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<PathBuf>,
}

#[cfg(feature = "sim")]
fn display_impairment<S: serde::Serializer>(v: &Option<holdback_sim::impair::Impairment>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(i) => s.serialize_str(&i.to_string()),
        None => s.serialize_none(),
    }
}

/// A validated configuration: everything the daemon needs, nothing unchecked.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// The file it came from (for messages).
    pub path: PathBuf,
    pub card: CardSpec,
    pub socket: PathBuf,
    pub role: Role,
    /// Non-empty, no duplicates: the gates of connections to a port
    /// without its own (`port_gates`).
    pub gates: Vec<Gate>,
    /// Listening ports with gates of their own (`[[listen]] gates`).
    pub port_gates: Vec<PortGates>,
    pub sink_dir: PathBuf,
    /// MAC, IP, ports, holdback, MSS, RTO; passes `CardSettings::validate`.
    pub network: CardSettings,
    /// Address of the HTTP endpoint (`/metrics`, `/health`), if any: loopback,
    /// or one management address of this host.
    pub metrics: Option<SocketAddr>,
    /// The failover pair's link, if this daemon is one of a pair.
    pub replication: Option<Replication>,
    /// The card's host memory (`[dma]`).
    pub dma: DmaSettings,
    /// Who may speak for the service address.
    pub authority: Authority,
    /// The built-in application (`[app]`); `service::run_with` runs another.
    pub app: AppSettings,
    /// The card's connection timers (`[tcp]`).
    pub tcp: TcpSettings,
    /// `[[relay]]`: listening ports the card relays to a backend (their
    /// ports are in `network.listen_ports` too, after the others: each
    /// takes a listening slot).
    pub relay: Vec<RelayTarget>,
}

impl Config {
    pub fn has_gate(&self, g: Gate) -> bool {
        self.gates.contains(&g)
    }
}

/// Read, parse and validate `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
    parse(path, &text)
}

/// Parse and validate `text` (the contents of `path`).
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
    parse_with_card(path, text, None)
}

/// [`load`], with the file's `card` replaced by `card` (`holdback daemon
/// --card vfio:0000:03:00.0`) before validation, so the override is checked
/// exactly like the file (a `[sim]` section still needs `card = "sim"`).
pub fn load_with_card(path: &Path, card: Option<&str>) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
    parse_with_card(path, &text, card)
}

fn parse_with_card(path: &Path, text: &str, card: Option<&str>) -> Result<Config, ConfigError> {
    let mut raw: RawConfig = toml::from_str(text).map_err(|e| parse_error(path, text, &e))?;
    if let Some(card) = card {
        raw.card = card.to_string();
    }
    validate(path, raw)
}

fn parse_error(path: &Path, text: &str, e: &toml::de::Error) -> ConfigError {
    // toml's messages may span lines ("invalid string\nexpected ..."); keep one line.
    let message = e.message().trim().lines().map(str::trim).collect::<Vec<_>>().join("; ");
    let span = e.span().unwrap_or(0..0);
    let start = span.start.min(text.len());
    let (line, column) = line_col(text, start);
    // "missing field `x`" points at the table that lacks it.
    let mut field = match backticked_after(&message, "missing field ") {
        Some(missing) => match table_at(text, start) {
            t if t.is_empty() => missing.to_string(),
            t => format!("{t}.{missing}"),
        },
        None => key_path_at(text, start),
    };
    if field.is_empty() {
        field = "(top level)".to_string();
    }
    ConfigError::Parse { path: path.to_path_buf(), line, column, field, message }
}

/// The text between the backticks following `prefix` in `message`.
fn backticked_after<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = &message[message.find(prefix)? + prefix.len()..];
    let rest = rest.strip_prefix('`')?;
    Some(&rest[..rest.find('`')?])
}

/// 1-based line and column (in characters) of byte offset `at`.
fn line_col(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, text[line_start..at].chars().count() + 1)
}

/// The table name of a `[table]` (or `[[array]]`) header line.
fn header(line: &str) -> Option<String> {
    let inner = line.trim().strip_prefix('[')?.trim_start_matches('[');
    let end = inner.find(']')?;
    Some(inner[..end].trim().to_string())
}

/// The line around byte `at` and where it starts.
fn line_at(text: &str, at: usize) -> (&str, usize) {
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    (text[line_start..line_end].trim(), line_start)
}

/// The table byte `at` is in ("" for the top level).
fn table_at(text: &str, at: usize) -> String {
    let (line, line_start) = line_at(text, at);
    header(line).or_else(|| text[..line_start].lines().rev().find_map(header)).unwrap_or_default()
}

/// The dotted key path of whatever starts at byte `at`: the enclosing
/// `[table]` plus the key of that line (or the table itself for a header).
fn key_path_at(text: &str, at: usize) -> String {
    let (line, line_start) = line_at(text, at);
    if let Some(h) = header(line) {
        return h;
    }
    let table = text[..line_start].lines().rev().find_map(header).unwrap_or_default();
    let key = line.split('=').next().unwrap_or("").trim().trim_matches('"');
    match (table.is_empty(), key.is_empty() || !line.contains('=')) {
        (_, true) => table,
        (true, false) => key.to_string(),
        (false, false) => format!("{table}.{key}"),
    }
}

fn validate(path: &Path, raw: RawConfig) -> Result<Config, ConfigError> {
    let bad = |field: &str, message: String| ConfigError::Invalid { path: path.to_path_buf(), field: field.into(), message };

    let card = parse_card(&raw.card).map_err(|m| bad("card", m))?;
    let card = match (card, raw.sim) {
        (ParsedCard::Sim, Some(sim)) => CardSpec::Sim(validate_sim(sim).map_err(|(f, m)| bad(f, m))?),
        (ParsedCard::Sim, None) => {
            return Err(bad("sim", "card = \"sim\" needs a [sim] section naming the TAP (tap = \"hbtap0\")".into()))
        }
        (ParsedCard::Vfio(_), Some(_)) => {
            return Err(bad("sim", format!("a [sim] section is only allowed with card = \"sim\", not card = \"{}\"", raw.card)))
        }
        (ParsedCard::Vfio(addr), None) => CardSpec::Vfio(addr),
    };

    let socket = raw.socket.unwrap_or_else(default_socket);
    check_absolute(&socket).map_err(|m| bad("socket", m))?;
    if socket.file_name().is_none() {
        return Err(bad("socket", format!("{} names no file", socket.display())));
    }

    if raw.role == Role::Standby && raw.replication.is_none() {
        return Err(bad(
            "role",
            "\"standby\" needs a [replication] section: a standby receives its connections from the primary".into(),
        ));
    }

    check_gates(&raw.gates, raw.replication.is_some()).map_err(|m| bad("gates", m))?;

    let sink_dir = raw.sink_dir.unwrap_or_else(|| PathBuf::from(DEFAULT_SINK_DIR));
    check_absolute(&sink_dir).map_err(|m| bad("sink_dir", m))?;

    let relay = validate_relays(&raw.relay, &raw.network, &raw.listen)
        .map_err(|(f, m)| ConfigError::Invalid { path: path.to_path_buf(), field: f, message: m })?;
    let relay_ports: Vec<u16> = relay.iter().map(|r| r.listen).collect();
    let (network, port_gates) = validate_listening(raw.network, raw.listen, raw.replication.is_some(), &relay_ports)
        .map_err(|(f, m)| ConfigError::Invalid { path: path.to_path_buf(), field: f, message: m })?;

    let metrics = match raw.metrics {
        None => None,
        Some(m) => {
            // Read-only endpoints (/metrics, /health) may face a management
            // network, where `holdback watch` probes /health from another
            // host; every interface at once is never meant.
            if m.listen.ip().is_unspecified() || m.listen.ip().is_multicast() {
                return Err(bad(
                    "metrics.listen",
                    format!(
                        "{} is not a loopback address nor one address of this host: the endpoint answers whoever \
                         reaches it, so give the loopback or management address it should serve on",
                        m.listen
                    ),
                ));
            }
            if m.listen.port() == 0 {
                return Err(bad("metrics.listen", "port 0 would pick a random port nobody can scrape".into()));
            }
            Some(m.listen)
        }
    };

    let replication = match raw.replication {
        None => None,
        Some(r) => Some(validate_replication(path, r, &sink_dir).map_err(|(f, m)| bad(f, m))?),
    };

    let dma = validate_dma(raw.dma).map_err(|(f, m)| bad(f, m))?;
    let app = validate_app(raw.app).map_err(|(f, m)| bad(f, m))?;
    let tcp = validate_tcp(raw.tcp, network.rto_us, !relay.is_empty()).map_err(|(f, m)| bad(f, m))?;
    let authority = match raw.authority {
        None => Authority::Pair,
        Some(a) => validate_authority(a, replication.as_ref()).map_err(|(f, m)| bad(f, m))?,
    };

    Ok(Config {
        path: path.to_path_buf(),
        card,
        socket,
        role: raw.role,
        gates: raw.gates,
        port_gates,
        sink_dir,
        network,
        metrics,
        replication,
        dma,
        authority,
        app,
        tcp,
        relay,
    })
}

fn validate_authority(a: RawAuthority, replication: Option<&Replication>) -> Result<Authority, (&'static str, String)> {
    if a.kind == AuthorityKind::Pair {
        let etcd_only = [
            ("endpoints", a.endpoints.is_some()),
            ("key_prefix", a.key_prefix.is_some()),
            ("lease_ttl_s", a.lease_ttl_s.is_some()),
            ("promise_ms", a.promise_ms.is_some()),
            ("confirm_ms", a.confirm_ms.is_some()),
            ("request_timeout_ms", a.request_timeout_ms.is_some()),
            ("name", a.name.is_some()),
            ("ca_file", a.ca_file.is_some()),
            ("cert_file", a.cert_file.is_some()),
            ("key_file", a.key_file.is_some()),
            ("user", a.user.is_some()),
            ("password_file", a.password_file.is_some()),
        ];
        if let Some((key, _)) = etcd_only.iter().find(|(_, given)| *given) {
            return Err(("authority.kind", format!("`{key}` is a setting of kind = \"etcd\"; kind = \"pair\" takes none")));
        }
        return Ok(Authority::Pair);
    }
    let Some(r) = replication else {
        return Err((
            "authority",
            "kind = \"etcd\" needs a [replication] section: the promises travel with the heartbeats and the detector is the standby's".into(),
        ));
    };
    let endpoints = a.endpoints.unwrap_or_default();
    if endpoints.is_empty() {
        return Err(("authority.endpoints", "kind = \"etcd\" needs at least one endpoint (\"http://198.18.0.9:2379\")".into()));
    }
    let mut tls = None;
    for e in &endpoints {
        let (scheme, rest) = e.split_once("://").ok_or(("authority.endpoints", format!("{e:?} needs a scheme: http://HOST:PORT or https://HOST:PORT")))?;
        let uses_tls = match scheme {
            "http" => false,
            "https" => true,
            _ => return Err(("authority.endpoints", format!("{e:?}: the scheme is http or https, not {scheme:?}"))),
        };
        let port = rest.rsplit_once(':').and_then(|(host, port)| (!host.is_empty()).then_some(port)).and_then(|p| p.parse::<u16>().ok());
        if !matches!(port, Some(p) if p > 0) || rest.contains('/') {
            return Err(("authority.endpoints", format!("{e:?} is not {scheme}://HOST:PORT")));
        }
        if tls.is_some_and(|t| t != uses_tls) {
            return Err(("authority.endpoints", "mixes http and https endpoints: one client speaks one of them".into()));
        }
        tls = Some(uses_tls);
    }
    let tls = tls == Some(true);
    if tls && a.ca_file.is_none() {
        return Err(("authority.ca_file", "https endpoints need the CA certificate that signed etcd's (PEM)".into()));
    }
    if !tls && (a.ca_file.is_some() || a.cert_file.is_some() || a.key_file.is_some()) {
        return Err(("authority.ca_file", "TLS files are given but the endpoints are http://: use https:// or drop them".into()));
    }
    if a.cert_file.is_some() != a.key_file.is_some() {
        return Err(("authority.cert_file", "a client certificate needs its key: give both cert_file and key_file, or neither".into()));
    }
    if a.user.is_some() != a.password_file.is_some() {
        return Err(("authority.user", "etcd credentials need both `user` and `password_file` (a file, so the password is not in the config)".into()));
    }
    for (field, file) in [
        ("authority.ca_file", &a.ca_file),
        ("authority.cert_file", &a.cert_file),
        ("authority.key_file", &a.key_file),
        ("authority.password_file", &a.password_file),
    ] {
        if let Some(f) = file {
            check_absolute(f).map_err(|m| (field, m))?;
        }
    }
    let key_prefix = a.key_prefix.unwrap_or_else(|| "/holdback/pair".to_string());
    if !key_prefix.starts_with('/') || key_prefix.trim_end_matches('/').is_empty() {
        return Err(("authority.key_prefix", format!("{key_prefix:?} must start with / and name something (\"/holdback/<service>\"); one prefix per pair")));
    }
    let lease_ttl_s = match a.lease_ttl_s {
        None => DEFAULT_LEASE_TTL_S,
        Some(v) if (MIN_LEASE_TTL_S..=3600).contains(&v) => v as u32,
        Some(v) => return Err(("authority.lease_ttl_s", format!("{v} is out of range {MIN_LEASE_TTL_S}..=3600 (etcd's leases are whole seconds, and shorter ones expire during its own elections)"))),
    };
    let heartbeat_ms = r.heartbeat.as_millis() as u64;
    let detect_ms = heartbeat_ms * u64::from(r.heartbeat_misses);
    // Promises come with every heartbeat: one must outlast the interval, or
    // the primary is without one between two; and the standby waits for its
    // own promise to run out, so beyond the detector's time it would delay
    // every takeover.
    let promise_ms = match a.promise_ms {
        None => 2 * heartbeat_ms,
        Some(v) => u64::try_from(v).unwrap_or(0),
    };
    if promise_ms <= heartbeat_ms || promise_ms > detect_ms {
        return Err((
            "authority.promise_ms",
            format!(
                "{promise_ms} ms: a promise must last longer than one heartbeat ({heartbeat_ms} ms) and at most the detector's time ({} × {heartbeat_ms} = {detect_ms} ms){}",
                r.heartbeat_misses,
                if heartbeat_ms * 2 > detect_ms { "; with heartbeat_misses = 1 no promise fits: use 2 or more" } else { "" }
            ),
        ));
    }
    let confirm_ms = match a.confirm_ms {
        None => detect_ms,
        Some(v) => u64::try_from(v).unwrap_or(0),
    };
    if confirm_ms <= heartbeat_ms || confirm_ms > 60_000 {
        return Err((
            "authority.confirm_ms",
            format!("{confirm_ms} ms: confirmations are renewed every heartbeat, so one must last longer than a heartbeat ({heartbeat_ms} ms), and at most 60000 (it adds to every takeover)"),
        ));
    }
    let request_timeout_ms = match a.request_timeout_ms {
        None => DEFAULT_ETCD_TIMEOUT_MS,
        Some(v) => u64::try_from(v).ok().filter(|v| (1..=60_000).contains(v)).ok_or(("authority.request_timeout_ms", format!("{v} is out of range 1..=60000")))?,
    };
    let name = a.name.unwrap_or_else(|| r.listen.to_string());
    if name.is_empty() {
        return Err(("authority.name", "the holder's name is empty".into()));
    }
    Ok(Authority::Etcd(Box::new(EtcdAuthority {
        endpoints,
        key_prefix,
        lease_ttl_s,
        promise: std::time::Duration::from_millis(promise_ms),
        confirm: std::time::Duration::from_millis(confirm_ms),
        request_timeout: std::time::Duration::from_millis(request_timeout_ms),
        name,
        ca_file: a.ca_file,
        cert_file: a.cert_file,
        key_file: a.key_file,
        user: a.user,
        password_file: a.password_file,
    })))
}

/// `[replication]`. Beside `[[relay]]` mappings every `replicate` mode is
/// kept: with `at-setup` the card holds a relayed client's SYN-ACK
/// (hold-synack) and the host releases it once the backend accepted and the
/// standby stored both TCBs of the pair (docs/relay.md, "Setup across three
/// parties").
fn validate_replication(config_path: &Path, r: RawReplication, sink_dir: &Path) -> Result<Replication, (&'static str, String)> {
    if r.listen.port() == 0 || r.peer.port() == 0 {
        return Err(("replication", "listen and peer need a port (not 0)".into()));
    }
    if r.listen == r.peer {
        return Err(("replication.peer", format!("{} is our own listen address; the peer is the other daemon", r.peer)));
    }
    let secret_path =
        if r.secret_file.is_absolute() { r.secret_file.clone() } else { config_path.parent().unwrap_or(Path::new("/")).join(&r.secret_file) };
    let secret = std::fs::read(&secret_path)
        .map_err(|e| ("replication.secret_file", format!("cannot read {}: {e}", secret_path.display())))?;
    let secret = secret.trim_ascii().to_vec();
    if secret.len() < 16 {
        return Err((
            "replication.secret_file",
            format!("{} holds {} bytes; a shared secret needs at least 16 (e.g. `head -c 32 /dev/urandom | xxd -p -c 64`)", secret_path.display(), secret.len()),
        ));
    }
    let ms = |v: Option<i64>, default: u64, field: &'static str, max: u64| -> Result<u64, (&'static str, String)> {
        match v {
            None => Ok(default),
            Some(v) => u64::try_from(v).ok().filter(|v| (1..=max).contains(v)).ok_or((field, format!("{v} is out of range 1..={max}"))),
        }
    };
    let heartbeat_ms = ms(r.heartbeat_ms, DEFAULT_HEARTBEAT_MS, "replication.heartbeat_ms", 60_000)?;
    let misses = ms(r.heartbeat_misses, DEFAULT_HEARTBEAT_MISSES as u64, "replication.heartbeat_misses", 100)? as u32;
    let ack_timeout_ms = ms(r.ack_timeout_ms, DEFAULT_ACK_TIMEOUT_MS, "replication.ack_timeout_ms", 60_000)?;
    let state_file = r.state_file.unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_FILE));
    check_absolute(&state_file).map_err(|m| ("replication.state_file", m))?;
    if state_file.file_name().is_none() {
        return Err(("replication.state_file", format!("{} names no file", state_file.display())));
    }
    Ok(Replication {
        listen: r.listen,
        peer: r.peer,
        secret_file: secret_path,
        secret,
        sync: r.sync,
        replicate: r.replicate,
        detector: r.detector,
        heartbeat: std::time::Duration::from_millis(heartbeat_ms),
        heartbeat_misses: misses,
        dup_acks: r.dup_acks,
        ack_timeout: std::time::Duration::from_millis(ack_timeout_ms),
        state_file,
        store: r.store,
        store_dir: sink_dir.to_path_buf(),
    })
}

enum ParsedCard {
    Sim,
    Vfio(PciAddress),
}

fn parse_card(card: &str) -> Result<ParsedCard, String> {
    if card == "sim" {
        return Ok(ParsedCard::Sim);
    }
    if card.starts_with("vfio:") {
        return PciAddress::parse_card_spec(card).map(ParsedCard::Vfio).map_err(|e| e.to_string());
    }
    Err(format!(
        "\"{card}\" is not a card: expected \"sim\" (the Verilated card) or \"vfio:<PCI address>\" such as \"vfio:0000:03:00.0\""
    ))
}

fn validate_sim(sim: RawSim) -> Result<SimCard, (&'static str, String)> {
    if !cfg!(feature = "sim") {
        return Err(("card", "this holdback was built without the simulated card (cargo feature `sim`); use a vfio: card".into()));
    }
    let t = &sim.tap;
    if t.is_empty() || t.len() > MAX_IFNAME || t.contains(['/', ' ', '\t', ':']) {
        return Err(("sim.tap", format!("\"{t}\" is not an interface name (1-{MAX_IFNAME} characters, no '/', ':' or spaces)")));
    }
    if let Some(ns) = &sim.netns {
        if ns.is_empty() || ns.contains('/') || ns == "." || ns == ".." {
            return Err(("sim.netns", format!("\"{ns}\" is not a network namespace name (as `ip netns list` shows)")));
        }
    }
    if let Some(report) = &sim.report {
        check_absolute(report).map_err(|m| ("sim.report", m))?;
    }
    #[cfg(feature = "sim")]
    let impair = match &sim.impair {
        None => None,
        Some(text) => Some(text.parse().map_err(|e: holdback_sim::impair::ImpairmentError| ("sim.impair", e.to_string()))?),
    };
    Ok(SimCard {
        tap: sim.tap,
        netns: sim.netns,
        pcap: sim.pcap,
        #[cfg(feature = "sim")]
        impair,
        report: sim.report,
    })
}

fn check_gates(gates: &[Gate], replication: bool) -> Result<(), String> {
    if gates.is_empty() {
        return Err("must list at least \"app\": with no gate nothing would release ACKs".into());
    }
    for (i, g) in gates.iter().enumerate() {
        if gates[..i].contains(g) {
            return Err(format!("{} listed twice", gate_name(*g)));
        }
        if *g == Gate::Replica && !replication {
            return Err("\"replica\" needs a [replication] section naming the standby".into());
        }
        if *g == Gate::Peer {
            return Err(
                "\"peer\" is the gate of relayed connections alone: the card releases them when the other side \
                 acknowledged, with no application behind them; map the port in a [[relay]] entry instead"
                    .into(),
            );
        }
    }
    Ok(())
}

/// `[[relay]]`, given the listening ports of the sink (`network.listen_ports`
/// or `[[listen]]`, as written): each mapping's port, backend and next hop;
/// a relay port is no other listening port, and together they fit the
/// card's listening slots. Relay mode reserves [`RELAY_LOCAL_PORTS`].
fn validate_relays(
    relays: &[RawRelay],
    network: &RawNetwork,
    listen: &[RawListen],
) -> Result<Vec<RelayTarget>, (String, String)> {
    if relays.is_empty() {
        return Ok(Vec::new());
    }
    let card_ip = network.ip;
    // The sink's ports as written, each with its field.
    let plain: Vec<(String, i64)> = if listen.is_empty() {
        network.listen_ports.iter().map(|p| ("network.listen_ports".to_string(), *p)).collect()
    } else {
        listen.iter().enumerate().map(|(i, l)| (format!("listen[{i}].port"), l.port)).collect()
    };
    let reserved = |p: i64| u16::try_from(p).is_ok_and(|p| RELAY_LOCAL_PORTS.contains(&p));
    let reserved_why = |p: i64| {
        format!(
            "port {p} is in {}..={}, which relay mode reserves for the card's own connections to the backends \
             (local port {} + the TCB's id, docs/relay.md); listen on a lower port",
            RELAY_LOCAL_PORTS.start(),
            RELAY_LOCAL_PORTS.end(),
            RELAY_LOCAL_PORTS.start()
        )
    };
    if let Some((field, p)) = plain.iter().find(|(_, p)| reserved(*p)) {
        return Err((field.clone(), reserved_why(*p)));
    }
    let mut out: Vec<RelayTarget> = Vec::with_capacity(relays.len());
    for (i, r) in relays.iter().enumerate() {
        let field = |name: &str| format!("relay[{i}].{name}");
        let Some(port) = u16::try_from(r.listen).ok().filter(|p| *p != 0) else {
            return Err((field("listen"), format!("port {} is out of range 1..=65535", r.listen)));
        };
        if reserved(r.listen) {
            return Err((field("listen"), reserved_why(r.listen)));
        }
        if let Some((other, _)) = plain.iter().find(|(_, p)| *p == r.listen) {
            return Err((
                field("listen"),
                format!(
                    "port {port} is also a listening port of the application ({other}): a port either relays to a \
                     backend or is served by the host; list it in one place"
                ),
            ));
        }
        if out.iter().any(|o| o.listen == port) {
            return Err((field("listen"), format!("port {port} is relayed twice; one backend per listening port")));
        }
        let backend: std::net::SocketAddrV4 = r.backend.parse().map_err(|e| {
            (field("backend"), format!("{:?} is not IPv4-ADDRESS:PORT (\"198.18.0.3:80\"): {e}", r.backend))
        })?;
        let ip = *backend.ip();
        if ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() || ip.is_loopback() {
            return Err((field("backend"), format!("{ip} is not a unicast host address a server can have")));
        }
        if ip == card_ip {
            return Err((field("backend"), format!("{ip} is the card's own address (network.ip): the backend is another host")));
        }
        if backend.port() == 0 {
            return Err((field("backend"), format!("{backend}: port 0 is no server's port")));
        }
        let next_hop = parse_mac(&r.next_hop_mac).map_err(|m| (field("next_hop_mac"), m))?;
        if let Some(gates) = &r.gates {
            if gates.as_slice() != [Gate::Peer] {
                return Err((
                    field("gates"),
                    "a relayed connection has one gate, \"peer\" (the other side acknowledged; the default): there \
                     is no application behind it to commit, and in a pair its send limit waits for the standby \
                     without a gate of its own"
                        .into(),
                ));
            }
        }
        out.push(RelayTarget { listen: port, backend, next_hop });
    }
    let slots = plain.len() + out.len();
    if slots > MAX_LISTEN_PORTS {
        return Err((
            "relay".into(),
            format!(
                "{} listening ports and {} relay ports need {slots} listening slots; the card has {MAX_LISTEN_PORTS} \
                 (each relay port takes one)",
                plain.len(),
                out.len()
            ),
        ));
    }
    Ok(out)
}

/// `[network]` and the `[[listen]]` entries: the card's settings (ports
/// with their own holdback included) and the ports' own gates.
fn validate_listening(
    mut n: RawNetwork,
    listen: Vec<RawListen>,
    replication: bool,
    relay_ports: &[u16],
) -> Result<(CardSettings, Vec<PortGates>), (String, String)> {
    if listen.is_empty() {
        // The relay ports take the slots after the application's.
        n.listen_ports.extend(relay_ports.iter().map(|p| i64::from(*p)));
        let settings = validate_network(n).map_err(|(f, m)| (f.to_string(), m))?;
        return Ok((settings, Vec::new()));
    }
    if !n.listen_ports.is_empty() {
        return Err((
            "listen".into(),
            "the listening ports are given twice: as network.listen_ports and as [[listen]] entries; keep one".into(),
        ));
    }
    let mut port_holdback = Vec::new();
    let mut port_gates = Vec::new();
    for (i, l) in listen.iter().enumerate() {
        let port = u16::try_from(l.port).ok().filter(|p| *p != 0);
        let Some(port) = port else {
            return Err((format!("listen[{i}].port"), format!("port {} is out of range 1..=65535", l.port)));
        };
        n.listen_ports.push(l.port);
        if let Some(holdback) = l.holdback {
            port_holdback.push(PortHoldback { port, holdback });
        }
        if let Some(gates) = &l.gates {
            check_gates(gates, replication).map_err(|m| (format!("listen[{i}].gates"), m))?;
            port_gates.push(PortGates { port, gates: gates.clone() });
        }
    }
    n.listen_ports.extend(relay_ports.iter().map(|p| i64::from(*p)));
    let mut settings = validate_network(n).map_err(|(f, m)| (f.replace("network.listen_ports", "listen"), m))?;
    settings.port_holdback = port_holdback;
    settings.validate().map_err(|e| ("listen".to_string(), e.to_string()))?;
    Ok((settings, port_gates))
}

fn validate_network(n: RawNetwork) -> Result<CardSettings, (&'static str, String)> {
    let mac = parse_mac(&n.mac).map_err(|m| ("network.mac", m))?;
    let ip = n.ip;
    if ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() || ip.is_loopback() {
        return Err(("network.ip", format!("{ip} is not a unicast host address the card can own")));
    }
    if n.listen_ports.is_empty() {
        return Err((
            "network.listen_ports",
            "at least one port is needed (here, as [[listen]] entries or as [[relay]] entries), or the card accepts no \
             connection"
                .into(),
        ));
    }
    if n.listen_ports.len() > MAX_LISTEN_PORTS {
        return Err((
            "network.listen_ports",
            format!("{} ports given, the card has {MAX_LISTEN_PORTS} listening slots", n.listen_ports.len()),
        ));
    }
    let mut ports = Vec::with_capacity(n.listen_ports.len());
    for p in &n.listen_ports {
        let port = u16::try_from(*p).ok().filter(|p| *p != 0);
        let Some(port) = port else {
            return Err(("network.listen_ports", format!("port {p} is out of range 1..=65535")));
        };
        if ports.contains(&port) {
            return Err(("network.listen_ports", format!("port {port} listed twice")));
        }
        ports.push(port);
    }
    let our_mss = match n.our_mss {
        None => DEFAULT_MSS,
        Some(m) => u16::try_from(m)
            .ok()
            .filter(|m| (64..=9000).contains(m))
            .ok_or(("network.our_mss", format!("{m} is out of range 64..=9000")))?,
    };
    let rto_us = match n.rto_us {
        None => DEFAULT_RTO_US,
        Some(r) => u32::try_from(r)
            .ok()
            .filter(|r| *r > 0)
            .ok_or(("network.rto_us", format!("{r} is out of range 1..={}", u32::MAX)))?,
    };
    let syn_cookies = validate_syn_cookies(n.syn_cookies.as_ref())?;
    let settings = CardSettings {
        mac,
        ip,
        listen_ports: ports,
        holdback: n.holdback,
        port_holdback: Vec::new(),
        our_mss,
        rto_us,
        reassembly: n.reassembly,
        sack: n.sack,
        timestamps: n.timestamps,
        syn_cookies,
        // Derived at card setup (`crate::syn_cookies::card_keys`), not stored in the config.
        cookie_keys: Default::default(),
    };
    // The driver's own check; everything it refuses was refused above with a
    // field name, so this only guards against the two drifting apart.
    settings.validate().map_err(|e| ("network", e.to_string()))?;
    Ok(settings)
}

/// `02:48:4c:44:42:01` → the card's address; refuses group (multicast/broadcast)
/// and all-zero addresses, which no station can own.
fn parse_mac(s: &str) -> Result<MacAddr, String> {
    let mac: MacAddr = s.parse().map_err(|e: MacParseError| e.to_string())?;
    if mac.is_group() {
        return Err(format!("{s} is a group (multicast/broadcast) address; the card needs a unicast MAC (first byte even)"));
    }
    if mac == MacAddr::ZERO {
        return Err(format!("{} is not a usable MAC address", MacAddr::ZERO));
    }
    Ok(mac)
}

fn check_absolute(p: &Path) -> Result<(), String> {
    if p.is_absolute() {
        Ok(())
    } else {
        Err(format!("{} must be an absolute path (the daemon's working directory is not defined)", p.display()))
    }
}

fn gate_name(g: Gate) -> &'static str {
    match g {
        Gate::App => "\"app\"",
        Gate::Replica => "\"replica\"",
        Gate::Peer => "\"peer\"",
    }
}

/// The effective configuration, defaults filled in (`daemon --check`).
#[derive(Serialize)]
struct Effective<'a> {
    card: String,
    socket: &'a Path,
    role: Role,
    gates: &'a [Gate],
    sink_dir: &'a Path,
    #[serde(skip_serializing_if = "Option::is_none")]
    sim: Option<&'a SimCard>,
    network: EffectiveNetwork,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    listen: Vec<EffectiveListen>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    relay: Vec<EffectiveRelay>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metrics: Option<EffectiveMetrics>,
    #[serde(skip_serializing_if = "Option::is_none")]
    replication: Option<EffectiveReplication<'a>>,
    dma: DmaSettings,
    authority: EffectiveAuthority<'a>,
    app: AppSettings,
    tcp: EffectiveTcp,
}

/// `[tcp]` as printed: milliseconds, as written; no floor when the file gave none.
#[derive(Serialize)]
struct EffectiveTcp {
    #[serde(skip_serializing_if = "Option::is_none")]
    rto_min_ms: Option<u32>,
    time_wait_ms: u32,
    keepalive_idle_ms: u32,
    keepalive_interval_ms: u32,
    keepalive_probes: u8,
    idle_timeout_ms: u32,
    /// Only with `[[relay]]` mappings, where it is used.
    #[serde(skip_serializing_if = "Option::is_none")]
    relay_connect_ms: Option<u32>,
}

/// A `[[relay]]` entry as printed (its one gate, `peer`, goes without saying).
#[derive(Serialize)]
struct EffectiveRelay {
    listen: u16,
    backend: String,
    next_hop_mac: MacAddr,
}

impl EffectiveTcp {
    fn of(t: &TcpSettings, relays: bool) -> EffectiveTcp {
        EffectiveTcp { relay_connect_ms: relays.then_some(t.relay_connect_us / 1000), ..EffectiveTcp::from(t) }
    }
}

impl From<&TcpSettings> for EffectiveTcp {
    fn from(t: &TcpSettings) -> EffectiveTcp {
        EffectiveTcp {
            relay_connect_ms: None,
            rto_min_ms: t.rto_min_us.map(|us| us / 1000),
            time_wait_ms: t.time_wait_us / 1000,
            keepalive_idle_ms: t.keepalive_idle_us / 1000,
            keepalive_interval_ms: t.keepalive_interval_us / 1000,
            keepalive_probes: t.keepalive_probes,
            idle_timeout_ms: t.idle_timeout_us / 1000,
        }
    }
}

/// `[authority]` as printed: the password's file, never the password.
#[derive(Serialize)]
struct EffectiveAuthority<'a> {
    kind: AuthorityKind,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    etcd: Option<EffectiveEtcd<'a>>,
}

#[derive(Serialize)]
struct EffectiveEtcd<'a> {
    endpoints: &'a [String],
    key_prefix: &'a str,
    lease_ttl_s: u32,
    promise_ms: u64,
    confirm_ms: u64,
    request_timeout_ms: u64,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ca_file: Option<&'a Path>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cert_file: Option<&'a Path>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_file: Option<&'a Path>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    password_file: Option<&'a Path>,
}

/// `[replication]` as printed: the secret's file, never the secret.
#[derive(Serialize)]
struct EffectiveReplication<'a> {
    listen: SocketAddr,
    peer: SocketAddr,
    secret_file: &'a Path,
    sync: SyncMode,
    replicate: ReplicateMode,
    detector: Detector,
    heartbeat_ms: u64,
    heartbeat_misses: u32,
    dup_acks: bool,
    ack_timeout_ms: u64,
    state_file: &'a Path,
    store: StoreMode,
}

#[derive(Serialize)]
struct EffectiveNetwork {
    mac: MacAddr,
    ip: Ipv4Addr,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    listen_ports: Vec<u16>,
    holdback: bool,
    our_mss: u16,
    rto_us: u32,
    reassembly: bool,
    sack: bool,
    timestamps: bool,
    syn_cookies: RawSynCookies,
}

/// A `[[listen]]` entry as printed: only what the port sets itself.
#[derive(Serialize)]
struct EffectiveListen {
    port: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    holdback: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gates: Option<Vec<Gate>>,
}

#[derive(Serialize)]
struct EffectiveMetrics {
    listen: SocketAddr,
}

impl Config {
    /// The gates the sink applies to connections to `port`: the port's
    /// own (`[[listen]] gates`), else the top-level `gates`.
    pub fn gates_for(&self, port: u16) -> &[Gate] {
        self.port_gates.iter().find(|g| g.port == port).map_or(&self.gates, |g| &g.gates)
    }

    /// Every gate some connection has: what the replica gate is set up
    /// for (it then waits only for the connections whose gates name it).
    /// In a pair with `[[relay]]` mappings that includes `replica`: a
    /// relayed connection's send limit moves only once the standby stored
    /// it (docs/relay.md, "Failover of both connections"), with the sync
    /// mode, timeout and degraded rules of the replica gate.
    pub fn all_gates(&self) -> Vec<Gate> {
        let mut all = self.gates.clone();
        let relayed = self.relays_fail_over().then_some(&Gate::Replica);
        for g in self.port_gates.iter().flat_map(|p| p.gates.iter()).chain(relayed) {
            if !all.contains(g) {
                all.push(*g);
            }
        }
        all
    }

    /// Whether relayed connections are replicated (`[[relay]]` beside
    /// `[replication]`): then the card holds every connection's sending
    /// at its send limit (SEND_HOLDBACK) and the link speaks only
    /// versions that carry send limits.
    pub fn relays_fail_over(&self) -> bool {
        !self.relay.is_empty() && self.replication.is_some()
    }

    /// The per-port gates the application's host applies
    /// ([`crate::app::AppHost::with_port_gates`]): `port_gates`, and when
    /// [`Config::all_gates`] names `replica` for the relayed connections
    /// alone, every application port with its gates spelled out — a host
    /// without per-port gates gives every connection the replica gate's
    /// one setting, which would make them wait for the standby too.
    pub fn host_port_gates(&self) -> Vec<PortGates> {
        if !self.port_gates.is_empty() || !self.relays_fail_over() || self.gates.contains(&Gate::Replica) {
            return self.port_gates.clone();
        }
        self.app_ports().map(|port| PortGates { port, gates: self.gates.clone() }).collect()
    }

    /// The listening ports the application serves: every listening port
    /// but the relayed ones.
    pub fn app_ports(&self) -> impl Iterator<Item = u16> + '_ {
        self.network.listen_ports.iter().copied().filter(|p| !self.relay.iter().any(|r| r.listen == *p))
    }

    /// The card as written in the file (`sim` or `vfio:<address>`).
    pub fn card_spec(&self) -> String {
        match &self.card {
            CardSpec::Sim(_) => "sim".to_string(),
            CardSpec::Vfio(addr) => format!("vfio:{addr}"),
        }
    }

    /// The configuration as TOML with every default filled in; parsing it
    /// gives the same [`Config`].
    pub fn effective_toml(&self) -> String {
        let n = &self.network;
        let eff = Effective {
            card: self.card_spec(),
            socket: &self.socket,
            role: self.role,
            gates: &self.gates,
            sink_dir: &self.sink_dir,
            sim: match &self.card {
                CardSpec::Sim(s) => Some(s),
                CardSpec::Vfio(_) => None,
            },
            // Ports with settings of their own are printed as [[listen]] entries.
            listen: if n.port_holdback.is_empty() && self.port_gates.is_empty() {
                Vec::new()
            } else {
                self.app_ports()
                    .map(|port| EffectiveListen {
                        port,
                        holdback: n.own_holdback(port),
                        gates: self.port_gates.iter().find(|g| g.port == port).map(|g| g.gates.clone()),
                    })
                    .collect()
            },
            network: EffectiveNetwork {
                mac: n.mac,
                ip: n.ip,
                listen_ports: if n.port_holdback.is_empty() && self.port_gates.is_empty() { self.app_ports().collect() } else { Vec::new() },
                holdback: n.holdback,
                our_mss: n.our_mss,
                rto_us: n.rto_us,
                reassembly: n.reassembly,
                sack: n.sack,
                timestamps: n.timestamps,
                syn_cookies: n.syn_cookies.map_or(RawSynCookies::Word("off".into()), |t| RawSynCookies::Threshold(i64::from(t))),
            },
            metrics: self.metrics.map(|listen| EffectiveMetrics { listen }),
            replication: self.replication.as_ref().map(|r| EffectiveReplication {
                listen: r.listen,
                peer: r.peer,
                secret_file: &r.secret_file,
                sync: r.sync,
                replicate: r.replicate,
                detector: r.detector,
                heartbeat_ms: r.heartbeat.as_millis() as u64,
                heartbeat_misses: r.heartbeat_misses,
                dup_acks: r.dup_acks,
                ack_timeout_ms: r.ack_timeout.as_millis() as u64,
                state_file: &r.state_file,
                store: r.store,
            }),
            relay: self
                .relay
                .iter()
                .map(|r| EffectiveRelay { listen: r.listen, backend: r.backend.to_string(), next_hop_mac: r.next_hop })
                .collect(),
            dma: self.dma,
            app: self.app,
            tcp: EffectiveTcp::of(&self.tcp, !self.relay.is_empty()),
            authority: EffectiveAuthority {
                kind: match self.authority {
                    Authority::Pair => AuthorityKind::Pair,
                    Authority::Etcd(_) => AuthorityKind::Etcd,
                },
                etcd: match &self.authority {
                    Authority::Pair => None,
                    Authority::Etcd(e) => Some(EffectiveEtcd {
                        endpoints: &e.endpoints,
                        key_prefix: &e.key_prefix,
                        lease_ttl_s: e.lease_ttl_s,
                        promise_ms: e.promise.as_millis() as u64,
                        confirm_ms: e.confirm.as_millis() as u64,
                        request_timeout_ms: e.request_timeout.as_millis() as u64,
                        name: &e.name,
                        ca_file: e.ca_file.as_deref(),
                        cert_file: e.cert_file.as_deref(),
                        key_file: e.key_file.as_deref(),
                        user: e.user.as_deref(),
                        password_file: e.password_file.as_deref(),
                    }),
                },
            },
        };
        // Plain strings, integers, booleans and tables: serialising cannot fail.
        toml::to_string(&eff).unwrap_or_else(|e| format!("# the effective configuration is not printable: {e}\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
card = "sim"
socket = "/run/holdback/t/control.sock"
sink_dir = "/tmp/holdback-sink"

[sim]
tap = "hbtap0"
netns = "hblab-x-card"

[network]
mac = "02:48:4c:44:42:02"
ip = "198.18.0.2"
listen_ports = [5001, 5002]

[metrics]
listen = "127.0.0.1:9464"
"#;

    fn err(text: &str) -> ConfigError {
        parse(Path::new("/etc/holdback/t.toml"), text).expect_err("must be refused")
    }

    #[test]
    fn a_good_file_gets_defaults_and_round_trips_through_the_effective_form() {
        let c = parse(Path::new("t.toml"), GOOD).expect("valid");
        assert_eq!(c.role, Role::Active);
        assert_eq!(c.gates, vec![Gate::App]);
        assert_eq!(c.network.our_mss, DEFAULT_MSS);
        assert_eq!(c.network.rto_us, DEFAULT_RTO_US);
        assert!(c.network.holdback);
        assert!(c.network.reassembly, "out-of-order reassembly is on unless turned off");
        assert_eq!(c.network.listen_ports, vec![5001, 5002]);
        assert!(matches!(&c.card, CardSpec::Sim(s) if s.tap == "hbtap0" && s.netns.as_deref() == Some("hblab-x-card")));
        let again = parse(Path::new("t.toml"), &c.effective_toml()).expect("effective config parses");
        assert_eq!(again, c);
    }

    /// `[[listen]]`: holdback and gates per listening port, defaults from
    /// `network.holdback` and the top-level `gates`; round-trips through the
    /// effective form; bad entries are refused with their field.
    #[test]
    fn listen_entries_give_ports_their_own_holdback_and_gates() {
        let per_port = GOOD.replace("listen_ports = [5001, 5002]\n", "")
            + "\n[[listen]]\nport = 5001\ngates = [\"app\"]\n\n[[listen]]\nport = 5002\nholdback = false\n\n[[listen]]\nport = 5003\n";
        let c = parse(Path::new("t.toml"), &per_port).expect("valid");
        assert_eq!(c.network.listen_ports, vec![5001, 5002, 5003]);
        assert!(c.network.holdback, "the default stays network.holdback");
        assert_eq!(c.network.port_holdback, vec![PortHoldback { port: 5002, holdback: false }]);
        assert!(c.network.holdback_for(5001) && !c.network.holdback_for(5002) && c.network.holdback_for(5003));
        assert_eq!(c.port_gates, vec![PortGates { port: 5001, gates: vec![Gate::App] }]);
        assert_eq!(c.gates_for(5001), &[Gate::App]);
        assert_eq!(c.gates_for(5003), &c.gates[..]);
        let again = parse(Path::new("t.toml"), &c.effective_toml()).expect("effective config parses");
        assert_eq!(again, c);

        // Today's single-port form is still valid and means the same as before.
        let c = parse(Path::new("t.toml"), GOOD).expect("valid");
        assert!(c.port_gates.is_empty() && c.network.port_holdback.is_empty());

        let without_ports = GOOD.replace("listen_ports = [5001, 5002]\n", "");
        for (text, field, needle) in [
            (format!("{GOOD}\n[[listen]]\nport = 5003\n"), "listen", "given twice"),
            (format!("{without_ports}\n[[listen]]\nport = 70000\n"), "listen[0].port", "out of range"),
            (format!("{without_ports}\n[[listen]]\nport = 5001\n[[listen]]\nport = 5001\n"), "listen", "listed twice"),
            (format!("{without_ports}\n[[listen]]\nport = 5001\ngates = []\n"), "listen[0].gates", "at least"),
            (format!("{without_ports}\n[[listen]]\nport = 5001\ngates = [\"replica\"]\n"), "listen[0].gates", "[replication]"),
            (format!("{without_ports}\n[[listen]]\nport = 5001\nholdback = \"yes\"\n"), "listen", "invalid type"),
        ] {
            let e = err(&text);
            let msg = e.to_string();
            assert!(e.field().is_some_and(|f| f.starts_with(field)), "{field}: {msg}");
            assert!(msg.contains(needle), "{field}: `{needle}` not in {msg}");
        }
    }

    /// `[tcp]`: absent, the card's reset values (keep-alive and the idle
    /// timeout off); given, milliseconds into the registers' microseconds;
    /// printed in milliseconds and read back the same.
    #[test]
    fn tcp_timers_default_to_the_cards_reset_values_and_round_trip() {
        let c = parse(Path::new("t.toml"), GOOD).expect("valid");
        assert_eq!(c.tcp, TcpSettings::default());
        assert_eq!(
            (c.tcp.rto_min_us, c.tcp.time_wait_us, c.tcp.keepalive_idle_us, c.tcp.idle_timeout_us),
            (None, 60_000_000, 0, 0)
        );
        assert_eq!((c.tcp.keepalive_interval_us, c.tcp.keepalive_probes), (75_000_000, 9));
        let printed = c.effective_toml();
        assert!(printed.contains("[tcp]\ntime_wait_ms = 60000\nkeepalive_idle_ms = 0\n"), "{printed}");
        assert_eq!(parse(Path::new("t.toml"), &printed).expect("effective config parses"), c);

        let text = format!(
            "{GOOD}\n[tcp]\nrto_min_ms = 150\ntime_wait_ms = 2000\nkeepalive_idle_ms = 30000\n\
             keepalive_interval_ms = 5000\nkeepalive_probes = 15\n"
        );
        let c = parse(Path::new("t.toml"), &text).expect("valid");
        let want = TcpSettings {
            rto_min_us: Some(150_000),
            time_wait_us: 2_000_000,
            keepalive_idle_us: 30_000_000,
            keepalive_interval_us: 5_000_000,
            keepalive_probes: 15,
            idle_timeout_us: 0,
            relay_connect_us: holdback_regmap::RELAY_CONNECT_US_DEFAULT,
        };
        assert_eq!(c.tcp, want);
        assert_eq!(parse(Path::new("t.toml"), &c.effective_toml()).expect("effective config parses"), c);

        // The longest timer the registers hold, the idle timeout alone, and
        // the floor at the ceiling under an initial RTO as long.
        let text = format!("{GOOD}\n[tcp]\ntime_wait_ms = {MAX_TIMER_MS}\nidle_timeout_ms = 600000\nrto_min_ms = 60000\n")
            .replace("[network]", "[network]\nrto_us = 60000000");
        let c = parse(Path::new("t.toml"), &text).expect("valid");
        assert_eq!((c.tcp.time_wait_us, c.tcp.idle_timeout_us, c.tcp.rto_min_us), (4_294_967_000, 600_000_000, Some(60_000_000)));
        assert_eq!(c.tcp.keepalive_idle_us, 0, "keep-alive stays off");
        assert_eq!(parse(Path::new("t.toml"), &c.effective_toml()).expect("effective config parses"), c);
    }

    /// `GOOD` (the sink on 5001 and 5002) with one relay mapping.
    const RELAY: &str = "\n[[relay]]\nlisten = 8080\nbackend = \"198.18.0.3:80\"\nnext_hop_mac = \"02:00:00:00:00:03\"\n";

    /// `[[relay]]`: each mapping takes a listening slot after the
    /// application's ports, with its backend and next hop; the connect
    /// timeout defaults to the card's 3 s and is printed only with
    /// mappings; the whole round-trips through the effective form.
    #[test]
    fn relay_mappings_take_listening_slots_and_round_trip() {
        let c = parse(Path::new("t.toml"), &format!("{GOOD}{RELAY}")).expect("valid");
        assert_eq!(c.network.listen_ports, vec![5001, 5002, 8080], "the relay port takes the slot after the sink's");
        assert_eq!(c.app_ports().collect::<Vec<_>>(), vec![5001, 5002]);
        assert_eq!(
            c.relay,
            vec![RelayTarget { listen: 8080, backend: "198.18.0.3:80".parse().unwrap(), next_hop: "02:00:00:00:00:03".parse().unwrap() }]
        );
        assert_eq!(c.tcp.relay_connect_us, 3_000_000);
        let printed = c.effective_toml();
        assert!(printed.contains("listen_ports = [5001, 5002]\n") && printed.contains("relay_connect_ms = 3000"), "{printed}");
        assert_eq!(parse(Path::new("t.toml"), &printed).expect("effective config parses"), c);
        assert!(!parse(Path::new("t.toml"), GOOD).unwrap().effective_toml().contains("relay"), "no relay, no relay keys");

        // Only relay ports, the peer gate named, a timeout of its own, two mappings.
        let only_relays = GOOD.replace("listen_ports = [5001, 5002]\n", "")
            + RELAY
            + "gates = [\"peer\"]\n\n[[relay]]\nlisten = 8081\nbackend = \"198.18.0.4:9000\"\nnext_hop_mac = \"02:00:00:00:00:04\"\n\n[tcp]\nrelay_connect_ms = 500\n";
        let c = parse(Path::new("t.toml"), &only_relays).expect("valid");
        assert_eq!(c.network.listen_ports, vec![8080, 8081]);
        assert_eq!(c.app_ports().count(), 0);
        assert_eq!(c.tcp.relay_connect_us, 500_000);
        assert_eq!(parse(Path::new("t.toml"), &c.effective_toml()).expect("effective config parses"), c);

        // With [[listen]] entries: the relay port after them.
        let per_port = GOOD.replace("listen_ports = [5001, 5002]\n", "") + "\n[[listen]]\nport = 5001\nholdback = false\n" + RELAY;
        let c = parse(Path::new("t.toml"), &per_port).expect("valid");
        assert_eq!(c.network.listen_ports, vec![5001, 8080]);
        assert_eq!(parse(Path::new("t.toml"), &c.effective_toml()).expect("effective config parses"), c);
    }

    /// `[[relay]]` beside `[replication]`, with either `replicate` mode
    /// (docs/relay.md, "Failover of both connections"): the relayed
    /// connections' send limits pass the replica gate, so the gates the
    /// replica gate is set up for name `replica`, while the application's
    /// ports keep their own gates, spelled out for the host; with
    /// `replica` among the top-level gates, or per-port gates, nothing is
    /// added. `at-setup`, written or by default, is kept beside relays as
    /// everywhere (the card then holds the relayed client's SYN-ACK for the
    /// host's release: "Setup across three parties"). A plain pair and a
    /// relay daemon without a pair are as before.
    #[test]
    fn a_relay_daemon_in_a_pair_replicates_in_either_mode_and_holds_every_send_limit() {
        let path = Path::new("/etc/holdback/t.toml");
        let (dir, pair) = pair_config("relay-pair");
        for (written, mode) in [("", ReplicateMode::AtSetup), ("replicate = \"at-setup\"\n", ReplicateMode::AtSetup)] {
            let c = parse(path, &format!("{pair}{written}{RELAY}")).expect("a relaying pair with at-setup");
            assert_eq!(c.replication.as_ref().map(|r| r.replicate), Some(mode), "{written:?}");
            assert!(c.relays_fail_over());
            assert_eq!(c.all_gates(), vec![Gate::App, Gate::Replica], "{written:?}: the relayed connections pass the replica gate");
            assert!(c.effective_toml().contains("replicate = \"at-setup\""), "{written:?}");
            assert_eq!(parse(path, &c.effective_toml()).expect("effective config parses"), c);
        }
        let c = parse(path, &format!("{pair}replicate = \"after-data\"\n{RELAY}")).expect("a relaying pair");
        assert_eq!(c.replication.as_ref().map(|r| r.replicate), Some(ReplicateMode::AfterData));
        assert!(c.relays_fail_over());
        assert_eq!(c.all_gates(), vec![Gate::App, Gate::Replica], "the relayed send limits wait at the replica gate");
        assert_eq!(
            c.host_port_gates(),
            vec![PortGates { port: 5001, gates: vec![Gate::App] }, PortGates { port: 5002, gates: vec![Gate::App] }],
            "the application's connections keep the gates they were given"
        );
        assert_eq!(parse(path, &c.effective_toml()).expect("effective config parses"), c);

        let gated = pair.replace("card = \"sim\"", "card = \"sim\"\ngates = [\"app\", \"replica\"]");
        let c = parse(path, &format!("{gated}replicate = \"after-data\"\n{RELAY}")).expect("valid");
        assert_eq!((c.all_gates(), c.host_port_gates()), (vec![Gate::App, Gate::Replica], vec![]));
        let per_port = pair.replace("listen_ports = [5001, 5002]\n", "")
            + "replicate = \"after-data\"\n[[listen]]\nport = 5001\ngates = [\"app\"]\n"
            + RELAY;
        let c = parse(path, &per_port).expect("valid");
        assert_eq!(c.host_port_gates(), vec![PortGates { port: 5001, gates: vec![Gate::App] }]);
        let only_relays = pair.replace("listen_ports = [5001, 5002]\n", "") + "replicate = \"after-data\"\n" + RELAY;
        let c = parse(path, &only_relays).expect("valid");
        assert_eq!((c.all_gates(), c.host_port_gates()), (vec![Gate::App, Gate::Replica], vec![]), "no application port");

        let plain = parse(path, &pair).expect("a pair without relays");
        assert!(!plain.relays_fail_over());
        assert_eq!((plain.all_gates(), plain.host_port_gates()), (vec![Gate::App], vec![]));
        assert_eq!(plain.replication.as_ref().map(|r| r.replicate), Some(ReplicateMode::AtSetup), "at-setup stays the default");
        let alone = parse(path, &format!("{GOOD}{RELAY}")).expect("relays without a pair");
        assert!(!alone.relays_fail_over());
        assert_eq!((alone.all_gates(), alone.host_port_gates()), (vec![Gate::App], vec![]));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Every refusal of a relay mapping names its field and the reason.
    #[test]
    fn bad_relay_mappings_are_refused_with_their_field_and_reason() {
        let without_ports = GOOD.replace("listen_ports = [5001, 5002]\n", "");
        let relay = |listen: &str, backend: &str, mac: &str, more: &str| {
            format!("\n[[relay]]\nlisten = {listen}\nbackend = \"{backend}\"\nnext_hop_mac = \"{mac}\"\n{more}")
        };
        let ok = |listen: &str| relay(listen, "198.18.0.3:80", "02:00:00:00:00:03", "");
        for (text, field, needle) in [
            (format!("{GOOD}{}", ok("5001")), "relay[0].listen", "port 5001 is also a listening port of the application (network.listen_ports)"),
            (format!("{without_ports}\n[[listen]]\nport = 8080\n{}", ok("8080")), "relay[0].listen", "also a listening port of the application (listen[0].port)"),
            (format!("{GOOD}{}{}", ok("8080"), ok("8080")), "relay[1].listen", "port 8080 is relayed twice"),
            (format!("{GOOD}{}", ok("0")), "relay[0].listen", "port 0 is out of range 1..=65535"),
            (format!("{GOOD}{}", ok("70000")), "relay[0].listen", "port 70000 is out of range"),
            (format!("{GOOD}{}{}{}", ok("8080"), ok("8081"), ok("8082")), "relay", "2 listening ports and 3 relay ports need 5 listening slots; the card has 4"),
            (format!("{GOOD}{}", ok("49152")), "relay[0].listen", "port 49152 is in 49152..=65535, which relay mode reserves"),
            (format!("{}{}", GOOD.replace("[5001, 5002]", "[5001, 50000]"), ok("8080")), "network.listen_ports", "port 50000 is in 49152..=65535"),
            (format!("{without_ports}\n[[listen]]\nport = 65535\n{}", ok("8080")), "listen[0].port", "reserves for the card's own connections"),
            (format!("{GOOD}{}", relay("8080", "198.18.0.3", "02:00:00:00:00:03", "")), "relay[0].backend", "\"198.18.0.3\" is not IPv4-ADDRESS:PORT"),
            (format!("{GOOD}{}", relay("8080", "backend:80", "02:00:00:00:00:03", "")), "relay[0].backend", "is not IPv4-ADDRESS:PORT"),
            (format!("{GOOD}{}", relay("8080", "198.18.0.3:0", "02:00:00:00:00:03", "")), "relay[0].backend", "port 0 is no server's port"),
            (format!("{GOOD}{}", relay("8080", "198.18.0.3:70000", "02:00:00:00:00:03", "")), "relay[0].backend", "is not IPv4-ADDRESS:PORT"),
            (format!("{GOOD}{}", relay("8080", "0.0.0.0:80", "02:00:00:00:00:03", "")), "relay[0].backend", "0.0.0.0 is not a unicast host address"),
            (format!("{GOOD}{}", relay("8080", "224.0.0.1:80", "02:00:00:00:00:03", "")), "relay[0].backend", "not a unicast host address"),
            (format!("{GOOD}{}", relay("8080", "198.18.0.2:80", "02:00:00:00:00:03", "")), "relay[0].backend", "198.18.0.2 is the card's own address"),
            (format!("{GOOD}{}", relay("8080", "198.18.0.3:80", "02:00:00:00:03", "")), "relay[0].next_hop_mac", "is not a MAC address"),
            (format!("{GOOD}{}", relay("8080", "198.18.0.3:80", "ff:ff:ff:ff:ff:ff", "")), "relay[0].next_hop_mac", "group (multicast/broadcast)"),
            (format!("{GOOD}{}", relay("8080", "198.18.0.3:80", "00:00:00:00:00:00", "")), "relay[0].next_hop_mac", "is not a usable MAC address"),
            (format!("{GOOD}{}", relay("8080", "198.18.0.3:80", "02:00:00:00:00:03", "gates = [\"app\"]\n")), "relay[0].gates", "a relayed connection has one gate, \"peer\""),
            (format!("{GOOD}{}", relay("8080", "198.18.0.3:80", "02:00:00:00:00:03", "gates = [\"peer\", \"replica\"]\n")), "relay[0].gates", "one gate"),
            (format!("{GOOD}{}", relay("8080", "198.18.0.3:80", "02:00:00:00:00:03", "gates = []\n")), "relay[0].gates", "one gate"),
            (format!("{GOOD}{}", relay("8080", "198.18.0.3:80", "02:00:00:00:00:03", "holdback = false\n")), "relay.holdback", "unknown field `holdback`"),
            (GOOD.replace("card = \"sim\"", "card = \"sim\"\ngates = [\"peer\"]"), "gates", "\"peer\" is the gate of relayed connections alone"),
            (format!("{without_ports}\n[[listen]]\nport = 5001\ngates = [\"app\", \"peer\"]\n"), "listen[0].gates", "map the port in a [[relay]] entry"),
            (format!("{GOOD}\n[tcp]\nrelay_connect_ms = 500\n"), "tcp.relay_connect_ms", "no [[relay]] mapping"),
            (format!("{GOOD}{}\n[tcp]\nrelay_connect_ms = 0\n", ok("8080")), "tcp.relay_connect_ms", "0 is out of range 1..=4294967 ms"),
            (format!("{GOOD}{}\n[tcp]\nrelay_connect_ms = 4294968\n", ok("8080")), "tcp.relay_connect_ms", "does not fit the card's 32-bit microsecond register"),
        ] {
            let e = err(&text);
            let msg = e.to_string();
            assert_eq!(e.field(), Some(field), "{msg}");
            assert!(msg.starts_with("/etc/holdback/t.toml"), "{msg}");
            assert!(msg.contains(needle), "`{needle}` not in {msg}");
        }
    }

    #[test]
    fn bad_tcp_timers_are_refused_with_their_field_and_reason() {
        for (body, field, needle) in [
            ("keepalive_probes = 0", "tcp.keepalive_probes", "0 is out of range 1..=15"),
            ("keepalive_probes = 16", "tcp.keepalive_probes", "16 is out of range 1..=15"),
            ("time_wait_ms = 4294968", "tcp.time_wait_ms", "4294968 ms does not fit the card's 32-bit microsecond register: at most 4294967 ms"),
            ("keepalive_idle_ms = 5000000000", "tcp.keepalive_idle_ms", "does not fit the card's 32-bit microsecond register"),
            ("idle_timeout_ms = 99999999", "tcp.idle_timeout_ms", "about 71 min"),
            ("keepalive_interval_ms = 4294968", "tcp.keepalive_interval_ms", "does not fit"),
            ("keepalive_idle_ms = -1", "tcp.keepalive_idle_ms", "-1 is negative"),
            ("time_wait_ms = 0", "tcp.time_wait_ms", "0 is out of range 1..=4294967 ms"),
            ("keepalive_interval_ms = 0", "tcp.keepalive_interval_ms", "0 is out of range 1..="),
            ("rto_min_ms = 0", "tcp.rto_min_ms", "0 is out of range 1..="),
            ("rto_min_ms = 60001", "tcp.rto_min_ms", "above the 60000 ms RTO ceiling (RFC 6298 §2.5): every RTO would be the floor, however"),
            ("rto_min_ms = 201", "tcp.rto_min_ms", "201 ms is above the initial RTO (network.rto_us = 200000)"),
            ("keepalive_idle_ms = 1000\nidle_timeout_ms = 1000", "tcp.idle_timeout_ms", "only with keep-alive off"),
            ("keepalive_time_ms = 1000", "tcp.keepalive_time_ms", "unknown field"),
            ("rto_min_ms = \"200ms\"", "tcp.rto_min_ms", "invalid type"),
        ] {
            let e = err(&format!("{GOOD}\n[tcp]\n{body}\n"));
            let msg = e.to_string();
            assert_eq!(e.field(), Some(field), "{body}: {msg}");
            assert!(msg.starts_with("/etc/holdback/t.toml"), "{body}: {msg}");
            assert!(msg.contains(needle), "{body}: `{needle}` not in {msg}");
        }
    }

    #[test]
    fn reassembly_can_be_turned_off_and_stays_off_in_the_effective_form() {
        let c = parse(Path::new("t.toml"), &GOOD.replace("[network]", "[network]\nreassembly = false")).expect("reassembly off");
        assert!(!c.network.reassembly);
        assert_eq!(parse(Path::new("t.toml"), &c.effective_toml()).expect("effective config parses"), c);
        let e = err(&GOOD.replace("[network]", "[network]\nreassembly = 1"));
        assert!(e.to_string().contains("reassembly"), "{e}");
    }

    #[test]
    fn timestamps_are_off_unless_turned_on_and_stay_on_in_the_effective_form() {
        assert!(!parse(Path::new("t.toml"), GOOD).unwrap().network.timestamps);
        let c = parse(Path::new("t.toml"), &GOOD.replace("[network]", "[network]\ntimestamps = true")).expect("timestamps on");
        assert!(c.network.timestamps);
        assert_eq!(parse(Path::new("t.toml"), &c.effective_toml()).expect("effective config parses"), c);
        let e = err(&GOOD.replace("[network]", "[network]\ntimestamps = \"yes\""));
        assert!(e.to_string().contains("timestamps"), "{e}");
    }

    #[test]
    fn syn_cookies_are_off_by_default_take_a_threshold_and_refuse_anything_else() {
        assert_eq!(parse(Path::new("t.toml"), GOOD).unwrap().network.syn_cookies, None);
        let off = parse(Path::new("t.toml"), &GOOD.replace("[network]", "[network]\nsyn_cookies = \"off\"")).expect("off");
        assert_eq!(off.network.syn_cookies, None);
        for (v, want) in [("0", 0), ("64", 64), ("65535", 65535)] {
            let c = parse(Path::new("t.toml"), &GOOD.replace("[network]", &format!("[network]\nsyn_cookies = {v}"))).expect(v);
            assert_eq!(c.network.syn_cookies, Some(want));
            assert_eq!(parse(Path::new("t.toml"), &c.effective_toml()).expect("effective config parses"), c);
        }
        assert_eq!(parse(Path::new("t.toml"), &off.effective_toml()).expect("effective config parses"), off);
        for (v, needle) in [
            ("65536", "threshold 65536 is out of range 0..=65535"),
            ("-1", "threshold -1 is out of range"),
            ("\"on\"", "\"on\" is neither \"off\" nor a half-open threshold"),
            ("\"64\"", "a number, unquoted"),
        ] {
            let e = err(&GOOD.replace("[network]", &format!("[network]\nsyn_cookies = {v}")));
            assert_eq!(e.field(), Some("network.syn_cookies"), "{v}: {e}");
            assert!(e.to_string().contains(needle), "{v}: `{needle}` not in {e}");
        }
    }

    #[test]
    fn the_receive_ring_size_defaults_to_64_kib_and_takes_only_what_the_card_can() {
        assert_eq!(parse(Path::new("t.toml"), GOOD).unwrap().dma.rx_ring_bytes, 65536);
        let c = parse(Path::new("t.toml"), &format!("{GOOD}\n[dma]\nrx_ring_bytes = 16384\n")).expect("16 KiB rings");
        assert_eq!(c.dma.rx_ring_bytes, 16384);
        assert_eq!(parse(Path::new("t.toml"), &c.effective_toml()).expect("effective config parses"), c);
        // Window scaling: rings up to 1 MiB.
        let c = parse(Path::new("t.toml"), &format!("{GOOD}\n[dma]\nrx_ring_bytes = 1048576\n")).expect("1 MiB rings");
        assert_eq!(c.dma.rx_ring_bytes, 1 << 20);
        for bad in ["5000", "2048", "2097152", "0", "-4096", "4294971392"] {
            let e = err(&format!("{GOOD}\n[dma]\nrx_ring_bytes = {bad}\n"));
            let msg = e.to_string();
            assert_eq!(e.field(), Some("dma.rx_ring_bytes"), "{msg}");
            assert!(msg.contains(&format!("{bad} is not a power of two in 4096..=1048576")), "{msg}");
        }
        let e = err(&format!("{GOOD}\n[dma]\nring = 4096\n"));
        assert_eq!(e.field(), Some("dma.ring"), "{e}");
    }

    #[test]
    fn the_http_endpoint_may_listen_on_a_management_address_but_not_everywhere() {
        let c = parse(Path::new("t.toml"), &GOOD.replace("127.0.0.1:9464", "198.19.1.2:9464")).expect("a management address");
        assert_eq!(c.metrics, Some("198.19.1.2:9464".parse().unwrap()));
        for everywhere in ["[::]:9464", "0.0.0.0:9464", "224.0.0.1:9464"] {
            let e = err(&GOOD.replace("127.0.0.1:9464", everywhere)).to_string();
            assert!(e.contains("metrics.listen") && e.contains("not a loopback address nor one address"), "{everywhere}: {e}");
        }
    }

    #[test]
    fn the_example_file_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("holdback.example.toml");
        let c = load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(c.card, CardSpec::Vfio(_)));
        assert_eq!(c.socket, default_socket());
        assert_eq!(c.dma.rx_ring_bytes, 65536);
        assert_eq!(c.tcp, TcpSettings::default(), "the example's [tcp] shows the defaults");
    }

    #[test]
    fn errors_name_file_field_and_problem() {
        let cases: &[(&str, &str, &str)] = &[
            (&GOOD.replace("card = \"sim\"", "card = \"sim\"\ncolour = \"blue\""), "colour", "unknown field `colour`"),
            (&GOOD.replace("[5001, 5002]", "\"5001\""), "network.listen_ports", "invalid type"),
            (&GOOD.replace("[5001, 5002]", "[5001, 70000]"), "network.listen_ports", "port 70000 is out of range 1..=65535"),
            (&GOOD.replace("[5001, 5002]", "[0]"), "network.listen_ports", "port 0 is out of range"),
            (&GOOD.replace("[5001, 5002]", "[1, 2, 3, 4, 5]"), "network.listen_ports", "5 ports given, the card has 4"),
            (&GOOD.replace("card = \"sim\"\n", ""), "card", "missing field `card`"),
            (&GOOD.replace("127.0.0.1:9464", "0.0.0.0:9464"), "metrics.listen", "not a loopback address"),
            (&GOOD.replace("02:48:4c:44:42:02", "03:48:4c:44:42:02"), "network.mac", "group (multicast/broadcast)"),
            (&GOOD.replace("02:48:4c:44:42:02", "02:48:4c"), "network.mac", "is not a MAC address"),
            (&GOOD.replace("198.18.0.2", "198.18.0"), "network.ip", "invalid IPv4 address syntax"),
            (&GOOD.replace("[sim]\ntap = \"hbtap0\"\nnetns = \"hblab-x-card\"\n", ""), "sim", "needs a [sim] section"),
            (&GOOD.replace("card = \"sim\"", "card = \"vfio:0000:03:00.0\""), "sim", "only allowed with card = \"sim\""),
            (&GOOD.replace("card = \"sim\"", "card = \"pcie\""), "card", "expected \"sim\""),
            (&GOOD.replace("card = \"sim\"", "card = \"sim\"\ngates = [\"app\", \"replica\"]"), "gates", "\"replica\" needs a [replication] section"),
            (&GOOD.replace("card = \"sim\"", "card = \"sim\"\ngates = [\"disk\"]"), "gates", "unknown variant `disk`"),
            (&GOOD.replace("card = \"sim\"", "card = \"sim\"\nrole = \"standby\""), "role", "needs a [replication] section"),
            (&GOOD.replace("[metrics]", "[metrics]\nscrape = 1"), "metrics.scrape", "unknown field `scrape`"),
            (&GOOD.replace("[network]", "[network]\nour_mss = 10"), "network.our_mss", "out of range 64..=9000"),
            (&GOOD.replace("/tmp/holdback-sink", "sink"), "sink_dir", "absolute path"),
            (&format!("{GOOD}\n[replication]\npeer = \"x\"\n"), "replication.peer", "invalid socket address"),
            (&format!("{GOOD}\n[replication]\nlisten = \"198.19.0.1:7400\"\npeer = \"198.19.0.2:7400\"\nsecret_file = \"/nonexistent/secret\"\n"), "replication.secret_file", "cannot read /nonexistent/secret"),
            (&format!("{GOOD}\n[replication]\nlisten = \"198.19.0.1:7400\"\npeer = \"198.19.0.2:7400\"\nsecret_file = \"/x\"\nsync = \"later\"\n"), "replication.sync", "unknown variant `later`"),
            (&format!("{GOOD}\n[replication]\nlisten = \"198.19.0.1:7400\"\npeer = \"198.19.0.1:7400\"\nsecret_file = \"/x\"\n"), "replication.peer", "our own listen address"),
            ("card = \"sim\"\n[sim]\ntap = \"t\"\n", "network", "missing field `network`"),
            ("card = \"sim\"\n[sim]\ntap = \"t\"\n[network]\nmac = \"02:00:00:00:00:01\"\nip = \"198.18.0.2\"\n", "network.listen_ports", "at least one port is needed (here, as [[listen]] entries or as [[relay]] entries)"),
            ("card = \n", "card", "invalid string"),
        ];
        for (text, field, what) in cases {
            let e = err(text);
            let msg = e.to_string();
            assert_eq!(e.field(), Some(*field), "field of: {msg}");
            assert!(msg.starts_with("/etc/holdback/t.toml"), "{msg}");
            assert!(msg.contains(what), "`{what}` not in: {msg}");
        }
    }

    #[test]
    fn a_card_given_on_the_command_line_replaces_the_file_and_is_validated_alike() {
        let dir = std::env::temp_dir().join(format!("holdback-cfg-card-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.toml");
        let vfio = GOOD.replace("[sim]\ntap = \"hbtap0\"\nnetns = \"hblab-x-card\"\n", "").replace("card = \"sim\"", "card = \"vfio:0000:03:00.0\"");
        std::fs::write(&path, &vfio).unwrap();
        let c = load_with_card(&path, Some("vfio:0000:81:00.1")).expect("override valid");
        assert_eq!(c.card_spec(), "vfio:0000:81:00.1");
        let e = load_with_card(&path, Some("sim")).expect_err("sim needs [sim]");
        assert_eq!(e.field(), Some("sim"), "{e}");
        let e = load_with_card(&path, Some("vfio:zz")).expect_err("not a PCI address");
        assert_eq!(e.field(), Some("card"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// `GOOD` with a `[replication]` section whose secret file exists in a
    /// fresh directory (returned, for removal).
    fn pair_config(tag: &str) -> (PathBuf, String) {
        let dir = std::env::temp_dir().join(format!("holdback-cfg-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let secret = dir.join("s");
        std::fs::write(&secret, "0123456789abcdef0123").unwrap();
        let pair = format!(
            "{GOOD}\n[replication]\nlisten = \"198.19.0.1:7400\"\npeer = \"198.19.0.2:7400\"\nsecret_file = \"{}\"\n",
            secret.display()
        );
        (dir, pair)
    }

    /// `[app] kind`: the sink unless the file names echo; anything else
    /// and an unknown key are refused with file and field. Echo runs in a
    /// pair with either store: the standby holds its output (invariant 9).
    #[test]
    fn the_app_defaults_to_the_sink_takes_echo_and_refuses_the_rest() {
        let path = Path::new("/etc/holdback/t.toml");
        assert_eq!(parse(path, GOOD).expect("valid").app.kind, AppKind::Sink);
        let echo = parse(path, &format!("{GOOD}\n[app]\nkind = \"echo\"\n")).expect("valid");
        assert_eq!(echo.app.kind, AppKind::Echo);
        assert_eq!(parse(path, &echo.effective_toml()).expect("effective parses"), echo);
        assert_eq!(parse(path, &format!("{GOOD}\n[app]\n")).expect("valid").app.kind, AppKind::Sink, "an empty [app] is the sink");
        let (dir, pair) = pair_config("app");
        let shared = parse(path, &format!("{pair}store = \"shared\"\n[app]\nkind = \"echo\"\n")).expect("echo with a shared store");
        assert_eq!(shared.app.kind, AppKind::Echo);
        let replicated = parse(path, &format!("{pair}[app]\nkind = \"echo\"\n")).expect("echo with a store per host");
        assert_eq!((replicated.app.kind, replicated.replication.as_ref().map(|r| r.store)), (AppKind::Echo, Some(StoreMode::Replicated)));
        for (text, field, what) in [
            (format!("{GOOD}\n[app]\nkind = \"relay\"\n"), "app.kind", "unknown variant `relay`, expected `sink` or `echo`"),
            (format!("{GOOD}\n[app]\nkind = \"echo\"\ncolour = 1\n"), "app.colour", "unknown field `colour`"),
        ] {
            let e = err(&text);
            let msg = e.to_string();
            assert_eq!(e.field(), Some(field), "field of: {msg}");
            assert!(msg.starts_with("/etc/holdback/t.toml") && msg.contains(what), "`{what}` not in: {msg}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_state_file_defaults_to_the_state_directory_must_be_absolute_and_round_trips() {
        let (dir, pair) = pair_config("state");
        let c = parse(Path::new("/etc/holdback/t.toml"), &pair).expect("valid");
        let r = c.replication.as_ref().expect("pair");
        assert_eq!(r.state_file, Path::new(DEFAULT_STATE_FILE));
        let custom = parse(Path::new("/etc/holdback/t.toml"), &format!("{pair}state_file = \"/srv/hb/epoch\"\n")).expect("valid");
        assert_eq!(custom.replication.as_ref().unwrap().state_file, Path::new("/srv/hb/epoch"));
        assert_eq!(parse(Path::new("/etc/holdback/t.toml"), &custom.effective_toml()).expect("effective parses"), custom);
        for (value, what) in [("epoch", "must be an absolute path"), ("/", "names no file")] {
            let e = err(&format!("{pair}state_file = \"{value}\"\n"));
            assert_eq!(e.field(), Some("replication.state_file"), "{e}");
            assert!(e.to_string().contains(what), "`{what}` not in: {e}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_store_defaults_to_one_per_host_in_the_sink_dir_and_round_trips() {
        let (dir, pair) = pair_config("store");
        let c = parse(Path::new("/etc/holdback/t.toml"), &pair).expect("valid");
        let r = c.replication.as_ref().expect("pair");
        assert_eq!((r.store, r.store_dir.as_path()), (StoreMode::Replicated, Path::new("/tmp/holdback-sink")));
        let shared = parse(Path::new("/etc/holdback/t.toml"), &format!("{pair}store = \"shared\"\n")).expect("valid");
        assert_eq!(shared.replication.as_ref().unwrap().store, StoreMode::Shared);
        assert_eq!(parse(Path::new("/etc/holdback/t.toml"), &shared.effective_toml()).expect("effective parses"), shared);
        let e = err(&format!("{pair}store = \"nfs\"\n"));
        assert_eq!(e.field(), Some("replication.store"), "{e}");
        assert!(e.to_string().contains("unknown variant `nfs`"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_authority_defaults_to_the_pair_and_etcd_gets_its_settings_and_round_trips() {
        let (dir, pair) = pair_config("authority");
        let path = Path::new("/etc/holdback/t.toml");
        assert_eq!(parse(path, &pair).expect("valid").authority, Authority::Pair);
        assert_eq!(parse(path, &format!("{pair}[authority]\nkind = \"pair\"\n")).expect("valid").authority, Authority::Pair);
        let etcd = format!("{pair}[authority]\nkind = \"etcd\"\nendpoints = [\"http://198.18.0.9:2379\", \"http://198.18.0.10:2379\"]\n");
        let c = parse(path, &etcd).expect("valid");
        let Authority::Etcd(e) = &c.authority else { panic!("{:?}", c.authority) };
        // The defaults follow the heartbeat: 100 ms × 3.
        assert_eq!((e.lease_ttl_s, e.promise.as_millis(), e.confirm.as_millis()), (DEFAULT_LEASE_TTL_S, 200, 300));
        assert_eq!((e.key_prefix.as_str(), e.name.as_str()), ("/holdback/pair", "198.19.0.1:7400"));
        assert_eq!(parse(path, &c.effective_toml()).expect("effective parses"), c);
        let tls = format!(
            "{pair}[authority]\nkind = \"etcd\"\nendpoints = [\"https://198.18.0.9:2379\"]\nca_file = \"/etc/etcd/ca.pem\"\ncert_file = \"/etc/etcd/c.pem\"\nkey_file = \"/etc/etcd/c.key\"\nuser = \"hb\"\npassword_file = \"/etc/etcd/pw\"\nlease_ttl_s = 3\npromise_ms = 250\nconfirm_ms = 400\nkey_prefix = \"/hb/web\"\nname = \"a\"\n"
        );
        let c = parse(path, &tls).expect("valid");
        assert_eq!(parse(path, &c.effective_toml()).expect("effective parses"), c);
        assert!(!c.effective_toml().contains("password ="), "the password's file is printed, never a password");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn bad_authority_settings_are_refused_with_the_field_and_the_reason() {
        let (dir, pair) = pair_config("authority-bad");
        let etcd = |extra: &str| format!("{pair}[authority]\nkind = \"etcd\"\n{extra}");
        let ep = "endpoints = [\"http://198.18.0.9:2379\"]\n";
        for (text, field, why) in [
            (etcd(""), "authority.endpoints", "at least one endpoint"),
            (etcd("endpoints = [\"198.18.0.9:2379\"]\n"), "authority.endpoints", "needs a scheme"),
            (etcd("endpoints = [\"ftp://198.18.0.9:2379\"]\n"), "authority.endpoints", "not \"ftp\""),
            (etcd("endpoints = [\"http://198.18.0.9\"]\n"), "authority.endpoints", "is not http://HOST:PORT"),
            (etcd("endpoints = [\"http://a:1\", \"https://b:2\"]\nca_file = \"/ca\"\n"), "authority.endpoints", "mixes http and https"),
            (etcd("endpoints = [\"https://198.18.0.9:2379\"]\n"), "authority.ca_file", "need the CA certificate"),
            (etcd(&format!("{ep}ca_file = \"/ca\"\n")), "authority.ca_file", "endpoints are http://"),
            (etcd(&format!("{ep}user = \"hb\"\n")), "authority.user", "both `user` and `password_file`"),
            (etcd(&format!("{ep}lease_ttl_s = 1\n")), "authority.lease_ttl_s", "out of range 2..=3600"),
            (etcd(&format!("{ep}promise_ms = 100\n")), "authority.promise_ms", "longer than one heartbeat (100 ms)"),
            (etcd(&format!("{ep}promise_ms = 301\n")), "authority.promise_ms", "at most the detector's time (3 × 100 = 300 ms)"),
            (etcd(&format!("{ep}confirm_ms = 50\n")), "authority.confirm_ms", "longer than a heartbeat"),
            (etcd(&format!("{ep}key_prefix = \"holdback\"\n")), "authority.key_prefix", "must start with /"),
            (etcd(&format!("{ep}password_file = \"pw\"\nuser = \"hb\"\n")), "authority.password_file", "absolute path"),
            (format!("{pair}[authority]\nkind = \"pair\"\n{ep}"), "authority.kind", "`endpoints` is a setting of kind = \"etcd\""),
            (format!("{pair}[authority]\nkind = \"zookeeper\"\n"), "authority.kind", "unknown variant `zookeeper`"),
            (format!("{GOOD}[authority]\nkind = \"etcd\"\n{ep}"), "authority", "needs a [replication] section"),
        ] {
            let e = err(&text);
            assert_eq!(e.field(), Some(field), "{e}");
            assert!(e.to_string().contains(why), "`{why}` not in: {e}");
        }
        let one_miss = pair.replace("secret_file", "heartbeat_misses = 1\nsecret_file");
        let e = err(&format!("{one_miss}[authority]\nkind = \"etcd\"\n{ep}"));
        assert!(e.to_string().contains("with heartbeat_misses = 1 no promise fits"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn parse_errors_carry_line_and_column() {
        match err(&GOOD.replace("[5001, 5002]", "\"5001\"")) {
            ConfigError::Parse { line, column, .. } => assert_eq!((line, column), (13, 16)),
            other => panic!("{other}"),
        }
    }
}
