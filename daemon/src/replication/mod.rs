//! The replication link: daemon to daemon over TCP (claims 27, 28).
//!
//! The primary ships every TCB to the standby — in full once after
//! connecting (claim 33), then only the changed fields of each event-record
//! entry (claims 34, 35); the standby keeps the copies in memory (claim 23),
//! writes each into its card through a [`StoreHook`], and only then
//! acknowledges it. That order is invariant 2: the primary
//! writes a release covered by the `replica` gate (claim 24) only after
//! [`Primary::wait_acked`] returned for an update carrying it.
//!
//! - [`wire`]: frames (length, version, frame number, postcard payload,
//!   HMAC-SHA256) and messages; the handshake with nonces from both sides.
//! - [`delta`]: field-by-field TCB deltas over the register map's field list.
//! - [`primary`]: [`Primary`] dials the standby, keeps the unacknowledged
//!   updates for a resume, and lets the sink wait for acknowledgements.
//! - [`standby`]: [`Standby`] listens, refuses peers that fail the handshake
//!   without disturbing the session it has, and applies updates in order.
//! - [`relay_pair`]: the promotion's fix-up of relayed pairs, whose two
//!   copies were taken at their own moments and whose bytes were never
//!   shipped (docs/relay.md, "Failover of both connections").
//!
//! Both sides send heartbeats every `heartbeat_interval` and report
//! [`LinkEvent::PeerLost`] after `heartbeat_misses` intervals of silence
//! (claims 36, 37); a side that hears of a newer epoch than its own reports
//! [`LinkEvent::NewerEpoch`] (invariant 8), and a primary that does stops.
pub mod delta;
pub mod primary;
pub mod relay_pair;
pub mod standby;
pub mod wire;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

pub use delta::TcbDelta;
pub use primary::{LinkState, Primary, SendError, WaitError};
pub use standby::{HookError, Standby, StoreHook};
pub use wire::{FrameError, Versions, MIN_PROTOCOL_VERSION, PROTOCOL_VERSION};

/// Settings shared by both ends.
#[derive(Clone)]
pub struct LinkConfig {
    /// Shared secret; every frame carries an HMAC keyed from it.
    pub secret: Vec<u8>,
    /// This node's id, announced in the handshake (logs, events).
    pub node_id: u64,
    /// A heartbeat goes out this often in both directions (claim 37).
    pub heartbeat_interval: Duration,
    /// Intervals without a frame from the peer before it is declared lost.
    pub heartbeat_misses: u32,
    /// A peer must finish the handshake within this time.
    pub handshake_timeout: Duration,
    /// Pause between the primary's connection attempts.
    pub reconnect_delay: Duration,
    /// Unacknowledged updates the primary keeps for a resume; beyond, the
    /// standby is resynchronised in full.
    pub max_unacked: usize,
    /// TCBs per full-sync message.
    pub sync_chunk: usize,
    /// The protocol versions this node speaks ([`wire::Versions::BUILT`];
    /// a test sets another range to play an older or newer daemon).
    pub versions: wire::Versions,
    /// The standby's promise not to take over, given in answer to each of
    /// the primary's [`wire::Msg::PromiseAsk`] (the etcd authority,
    /// docs/authority.md); `None`: it promises nothing (the pair authority).
    pub promise: Option<Duration>,
}

impl std::fmt::Debug for LinkConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkConfig")
            .field("secret", &"<redacted>")
            .field("node_id", &self.node_id)
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("heartbeat_misses", &self.heartbeat_misses)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("reconnect_delay", &self.reconnect_delay)
            .field("max_unacked", &self.max_unacked)
            .field("sync_chunk", &self.sync_chunk)
            .field("versions", &self.versions)
            .field("promise", &self.promise)
            .finish()
    }
}

/// Why a [`LinkConfig`] cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("the replication secret is empty; set a shared secret on both daemons")]
    EmptySecret,
    #[error("heartbeat interval must be > 0 and heartbeat misses ≥ 1 (got {interval:?} × {misses})")]
    Heartbeat { interval: Duration, misses: u32 },
    #[error("sync_chunk and max_unacked must be ≥ 1")]
    Zero,
    #[error("protocol versions {0} are not a range of versions ≥ 1")]
    Versions(wire::Versions),
}

impl LinkConfig {
    /// Defaults: heartbeat every 100 ms, lost after 3 misses, 2 s handshake.
    pub fn new(secret: impl Into<Vec<u8>>, node_id: u64) -> LinkConfig {
        LinkConfig {
            secret: secret.into(),
            node_id,
            heartbeat_interval: Duration::from_millis(100),
            heartbeat_misses: 3,
            handshake_timeout: Duration::from_secs(2),
            reconnect_delay: Duration::from_millis(100),
            max_unacked: 1 << 16,
            sync_chunk: 32,
            versions: wire::Versions::BUILT,
            promise: None,
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.secret.is_empty() {
            return Err(ConfigError::EmptySecret);
        }
        if self.heartbeat_interval.is_zero() || self.heartbeat_misses == 0 {
            return Err(ConfigError::Heartbeat { interval: self.heartbeat_interval, misses: self.heartbeat_misses });
        }
        if self.sync_chunk == 0 || self.max_unacked == 0 {
            return Err(ConfigError::Zero);
        }
        if self.versions.min == 0 || self.versions.min > self.versions.max {
            return Err(ConfigError::Versions(self.versions));
        }
        Ok(())
    }

    /// Silence after which the peer is lost: interval × misses (claim 37).
    pub fn peer_timeout(&self) -> Duration {
        self.heartbeat_interval * self.heartbeat_misses
    }
}

/// Why a connection was refused before (or while) authenticating.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum RefuseReason {
    Oversized,
    TooShort,
    UnknownVersion,
    BadMac,
    Replayed,
    Garbled,
    /// A well-formed message out of place (e.g. an update before the handshake).
    Protocol,
    /// An authenticated update that does not fit the stored copies (stream
    /// or transmit-ring bytes beyond what the connection can hold, of
    /// another connection, or for a TCB never sent): the session ends,
    /// nothing of it is acknowledged, the next one full-syncs.
    Misfit,
    /// The peer's TCB layout differs: deltas by field would mismatch.
    LayoutMismatch,
    /// The peer's epoch is older than ours (invariant 8).
    StaleEpoch,
    Timeout,
    Closed,
    Io,
    /// Too many handshakes at once.
    Busy,
}

impl RefuseReason {
    pub fn name(self) -> &'static str {
        match self {
            RefuseReason::Oversized => "oversized",
            RefuseReason::TooShort => "too_short",
            RefuseReason::UnknownVersion => "unknown_version",
            RefuseReason::BadMac => "bad_mac",
            RefuseReason::Replayed => "replayed",
            RefuseReason::Garbled => "garbled",
            RefuseReason::Protocol => "protocol",
            RefuseReason::Misfit => "misfit",
            RefuseReason::LayoutMismatch => "layout_mismatch",
            RefuseReason::StaleEpoch => "stale_epoch",
            RefuseReason::Timeout => "timeout",
            RefuseReason::Closed => "closed",
            RefuseReason::Io => "io",
            RefuseReason::Busy => "busy",
        }
    }
}

impl From<&FrameError> for RefuseReason {
    fn from(e: &FrameError) -> RefuseReason {
        match e {
            FrameError::Closed => RefuseReason::Closed,
            FrameError::Io(_) => RefuseReason::Io,
            FrameError::Oversized { .. } => RefuseReason::Oversized,
            FrameError::TooShort { .. } => RefuseReason::TooShort,
            FrameError::UnknownVersion { .. } => RefuseReason::UnknownVersion,
            FrameError::BadMac => RefuseReason::BadMac,
            FrameError::OutOfOrder { .. } => RefuseReason::Replayed,
            FrameError::Garbled(_) => RefuseReason::Garbled,
            FrameError::Encode(_) => RefuseReason::Protocol,
        }
    }
}

/// What the link tells the daemon.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkEvent {
    /// A peer authenticated. `resumed`: no full sync was needed.
    Connected { peer: SocketAddr, peer_node: u64, peer_epoch: u32, resumed: bool },
    /// A full sync of `tcbs` TCBs completed (standby: stored; primary: acknowledged).
    Synced { tcbs: usize },
    /// The authenticated session ended.
    Disconnected { peer: SocketAddr, reason: String },
    /// Nothing heard from the peer for `heartbeat_misses` intervals (claim 37):
    /// on the standby, the daemon promotes (claims 5, 10).
    PeerLost { silent_for: Duration },
    /// The peer runs a newer epoch than ours (invariant 8): a primary stops.
    NewerEpoch { own: u32, peer: u32 },
    /// A connection failed the handshake; the running session is untouched.
    Refused { peer: SocketAddr, reason: RefuseReason, detail: String },
}

/// Counters of one end of the link.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    pub frames_sent: u64,
    pub bytes_sent: u64,
    pub frames_received: u64,
    pub bytes_received: u64,
    pub full_syncs: u64,
    pub resumes: u64,
    /// Refused connections by reason name.
    pub refused: BTreeMap<&'static str, u64>,
    /// TCB copies (full or delta) queued for the standby, by the RFC name
    /// of the state they carry (the primary's count): `after-data` queues
    /// none in SYN-RECEIVED (claim 30).
    pub copies_by_state: BTreeMap<&'static str, u64>,
    /// Stream bytes queued for the standby's own store (`store =
    /// "replicated"`; the primary's count).
    pub data_bytes: u64,
    /// Transmit-ring bytes queued for the standby's transmit ring
    /// ([`wire::Update::Sent`], invariant 9; the primary's count).
    pub sent_bytes: u64,
}

#[derive(Default)]
struct Counters {
    frames_sent: AtomicU64,
    bytes_sent: AtomicU64,
    frames_received: AtomicU64,
    bytes_received: AtomicU64,
    full_syncs: AtomicU64,
    resumes: AtomicU64,
    refused: Mutex<BTreeMap<&'static str, u64>>,
    copies_by_state: Mutex<BTreeMap<&'static str, u64>>,
    data_bytes: AtomicU64,
    sent_bytes: AtomicU64,
}

impl Counters {
    fn sent(&self, frames: u64, bytes: u64) {
        self.frames_sent.fetch_add(frames, Ordering::Relaxed);
        self.bytes_sent.fetch_add(bytes, Ordering::Relaxed);
    }

    fn received(&self, bytes: u64) {
        self.frames_received.fetch_add(1, Ordering::Relaxed);
        self.bytes_received.fetch_add(bytes, Ordering::Relaxed);
    }

    fn copy_queued(&self, state: holdback_regmap::TcpState) {
        *lock(&self.copies_by_state).entry(state.rfc_name()).or_default() += 1;
    }

    fn data(&self, bytes: usize) {
        self.data_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    fn sent_bytes(&self, bytes: usize) {
        self.sent_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    fn refused(&self, reason: RefuseReason) {
        *lock(&self.refused).entry(reason.name()).or_default() += 1;
    }

    fn snapshot(&self) -> LinkStats {
        LinkStats {
            frames_sent: self.frames_sent.load(Ordering::Relaxed),
            bytes_sent: self.bytes_sent.load(Ordering::Relaxed),
            frames_received: self.frames_received.load(Ordering::Relaxed),
            bytes_received: self.bytes_received.load(Ordering::Relaxed),
            full_syncs: self.full_syncs.load(Ordering::Relaxed),
            resumes: self.resumes.load(Ordering::Relaxed),
            refused: lock(&self.refused).clone(),
            copies_by_state: lock(&self.copies_by_state).clone(),
            data_bytes: self.data_bytes.load(Ordering::Relaxed),
            sent_bytes: self.sent_bytes.load(Ordering::Relaxed),
        }
    }
}

/// Lock a mutex, taking the data even if a panicking thread poisoned it: the
/// guarded state is updated in single steps that leave it consistent.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Events to the daemon. Bounded: a flood of refused connections must not
/// grow memory; events that do not fit are dropped with a warning.
#[derive(Clone)]
struct Events(mpsc::Sender<LinkEvent>);

impl Events {
    fn channel() -> (Events, mpsc::Receiver<LinkEvent>) {
        let (tx, rx) = mpsc::channel(1024);
        (Events(tx), rx)
    }

    fn emit(&self, event: LinkEvent) {
        if let Err(mpsc::error::TrySendError::Full(event)) = self.0.try_send(event) {
            tracing::warn!(?event, "replication event queue full; event dropped");
        }
    }
}

/// When the peer was last heard from, across connections, and whether its
/// loss was reported; the heartbeat monitor reads it (claim 37).
struct Liveness {
    state: Mutex<(Option<Instant>, bool)>,
    /// Woken when the loss is declared: the session closes at once, so the
    /// link is down by the time the daemon sees PeerLost.
    lost: tokio::sync::Notify,
}

impl Liveness {
    fn new() -> Liveness {
        Liveness { state: Mutex::new((None, false)), lost: tokio::sync::Notify::new() }
    }

    fn heard(&self) {
        *lock(&self.state) = (Some(Instant::now()), false);
    }

    fn silent_for(&self) -> Option<Duration> {
        lock(&self.state).0.map(|t| t.elapsed())
    }

    /// `Some(silence)` once per loss: the peer was heard at least once and
    /// has been silent for `timeout`.
    fn check_lost(&self, timeout: Duration) -> Option<Duration> {
        let mut s = lock(&self.state);
        match *s {
            (Some(t), false) if t.elapsed() >= timeout => {
                s.1 = true;
                Some(t.elapsed())
            }
            _ => None,
        }
    }
}

/// Report each newer epoch value once (invariant 8).
struct EpochWatch {
    own: std::sync::atomic::AtomicU32,
    reported: std::sync::atomic::AtomicU32,
}

impl EpochWatch {
    fn new(own: u32) -> EpochWatch {
        EpochWatch { own: own.into(), reported: own.into() }
    }

    fn own(&self) -> u32 {
        self.own.load(Ordering::SeqCst)
    }

    fn set(&self, epoch: u32) {
        self.own.store(epoch, Ordering::SeqCst);
        self.reported.fetch_max(epoch, Ordering::SeqCst);
    }

    /// True if `peer` is newer than our epoch; the event is emitted the first
    /// time a given newer value is heard.
    fn hear(&self, peer: u32, events: &Events) -> bool {
        let own = self.own();
        if peer <= own {
            return false;
        }
        if self.reported.fetch_max(peer, Ordering::SeqCst) < peer {
            tracing::warn!(own, peer, "replication peer runs a newer epoch");
            events.emit(LinkEvent::NewerEpoch { own, peer });
        }
        true
    }
}

/// Report [`LinkEvent::PeerLost`] once per loss: the peer was heard at least
/// once and nothing came for `heartbeat_misses` intervals (claims 36, 37).
/// Runs until aborted.
async fn monitor_liveness(cfg: LinkConfig, events: Events, liveness: std::sync::Arc<Liveness>) {
    let timeout = cfg.peer_timeout();
    let mut tick = tokio::time::interval((cfg.heartbeat_interval / 4).max(Duration::from_millis(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Some(silent_for) = liveness.check_lost(timeout) {
            liveness.lost.notify_waiters();
            tracing::error!(?silent_for, misses = cfg.heartbeat_misses, "replication peer lost");
            events.emit(LinkEvent::PeerLost { silent_for });
        }
    }
}

/// Aborts a task when dropped, so a cancelled session takes its reader along.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
