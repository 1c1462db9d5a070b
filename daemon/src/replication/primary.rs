//! The primary's end of the replication link: dials the standby, ships a full
//! sync and then deltas, and lets the sink wait for the standby's
//! acknowledgement before it writes a release (invariant 2, claim 24).
//!
//! Group commit: call [`Primary::send`] for every changed TCB of a pass (it
//! does not block), keep the highest sequence it returned, then wait once
//! with [`Primary::wait_acked_blocking`] (sink thread) or
//! [`Primary::wait_acked`] (async). Acknowledgements are cumulative.
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use holdback_driver::{Tcb, TcbError};
use rand::RngCore;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch, Notify};

use super::delta::TcbDelta;
use super::wire::{self, Direction, FrameCodec, FrameError, Hello, Msg, ResumePoint, Role, Start, Update};
use super::{lock, AbortOnDrop, ConfigError, Counters, EpochWatch, Events, LinkConfig, LinkEvent, LinkStats, Liveness};

/// Updates encoded into one write to the socket at most.
const WRITE_BATCH: usize = 256;
/// Stream bytes ([`Update::Data`], [`Update::Sent`]) the log keeps unacknowledged at most;
/// beyond, the standby is resynchronised in full and the sink ships its
/// store again ([`Primary::sync_generation`]). Bounds the memory a slow or
/// absent standby can make the primary hold.
const MAX_UNACKED_DATA: usize = 64 << 20;
/// The longest promise a standby can be configured to give (the config's
/// bound on `authority.promise_ms` is far below it).
const MAX_PROMISE_US: u64 = 60_000_000;

/// Where the primary's link stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkState {
    /// No authenticated standby: nothing gets acknowledged.
    Down,
    /// Connected; a full sync is not acknowledged yet.
    Syncing,
    /// Connected and in sync: updates are acknowledged as they are stored.
    Replicating,
    /// The standby runs a newer epoch (invariant 8): this primary must stop;
    /// nothing will be acknowledged any more.
    Fenced,
    Shutdown,
}

/// The acknowledged point and the link state, published together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AckView {
    /// Highest replication sequence the standby stored (cumulative).
    pub acked: u64,
    pub state: LinkState,
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("TCB {id} cannot be replicated: {source}")]
    Tcb { id: u16, source: TcbError },
    #[error("this primary is fenced: the standby runs a newer epoch (invariant 8)")]
    Fenced,
    #[error("stream bytes or a send limit for TCB {id} before any copy of it: the standby could not tell which connection they belong to")]
    DataBeforeCopy { id: u16 },
    #[error("{len} transmit-ring bytes for TCB {id} in one update; at most {max} travel in one")]
    SentTooLong { id: u16, len: usize, max: usize },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WaitError {
    #[error("update {rseq} not acknowledged within {timeout:?} (acknowledged up to {acked})")]
    Timeout { rseq: u64, acked: u64, timeout: Duration },
    #[error("no standby connected: update {rseq} cannot be acknowledged now (acknowledged up to {acked})")]
    Disconnected { rseq: u64, acked: u64 },
    #[error("this primary is fenced: the standby runs a newer epoch (invariant 8)")]
    Fenced,
    #[error("the replication link was shut down")]
    Shutdown,
}

/// The outgoing stream: the unacknowledged updates, kept for a resume.
struct Log {
    /// Every TCB as of the end of the stream: the base of the next delta and
    /// the content of a full sync.
    tail: HashMap<u16, Tcb>,
    /// Unacknowledged updates, contiguous and ascending by sequence.
    entries: VecDeque<(u64, Update)>,
    next_rseq: u64,
    acked: u64,
    /// Updates were dropped (more than `max_unacked`): the standby can only
    /// catch up with a full sync.
    overflowed: bool,
    /// Sequence of the SyncEnd in flight, and how many TCBs it covers.
    sync_end: Option<(u64, usize)>,
    /// Stream bytes in `entries` ([`Update::Data`], [`Update::Sent`]).
    data_bytes: usize,
}

fn data_len(update: &Update) -> usize {
    match update {
        Update::Data { bytes, .. } | Update::Sent { bytes, .. } => bytes.len(),
        _ => 0,
    }
}

impl Log {
    fn push(&mut self, update: Update, max_unacked: usize) -> u64 {
        let rseq = self.next_rseq;
        self.next_rseq += 1;
        if !self.overflowed {
            self.data_bytes += data_len(&update);
            self.entries.push_back((rseq, update));
            if self.entries.len() > max_unacked || self.data_bytes > MAX_UNACKED_DATA {
                tracing::warn!(max_unacked, data_bytes = self.data_bytes, "standby too far behind; it will be resynchronised in full");
                self.overflowed = true;
                self.entries.clear();
                self.data_bytes = 0;
            }
        }
        rseq
    }

    /// Raise the acknowledged point; drop what it covers. Returns the end of
    /// a full sync it completed, if any.
    fn ack(&mut self, applied: u64) -> Option<usize> {
        if applied <= self.acked {
            return None;
        }
        self.acked = applied;
        while self.entries.front().is_some_and(|(rseq, _)| *rseq <= applied) {
            if let Some((_, update)) = self.entries.pop_front() {
                self.data_bytes -= data_len(&update);
            }
        }
        match self.sync_end {
            Some((end, count)) if applied >= end => {
                self.sync_end = None;
                Some(count)
            }
            _ => None,
        }
    }

    /// Up to `max` updates from sequence `from` on.
    fn from(&self, from: u64, max: usize) -> Vec<(u64, Update)> {
        let Some(&(front, _)) = self.entries.front() else { return Vec::new() };
        let skip = from.saturating_sub(front) as usize;
        self.entries.iter().skip(skip).take(max).cloned().collect()
    }
}

struct Shared {
    cfg: LinkConfig,
    peer: SocketAddr,
    /// Random per primary: a standby's resume point from another primary
    /// (or an earlier run of this one) never matches.
    session: u64,
    log: Mutex<Log>,
    /// New updates (or an epoch notice) for the writer.
    wake: Notify,
    epoch_notice: std::sync::atomic::AtomicBool,
    view: Mutex<AckView>,
    view_changed: Condvar,
    view_tx: watch::Sender<AckView>,
    counters: Counters,
    events: Events,
    liveness: Arc<Liveness>,
    epoch: EpochWatch,
    /// The protocol version the next Hello goes out in (wire.rs, Versions).
    hello_version: std::sync::atomic::AtomicU16,
    /// The version the current connection runs in (0: none).
    session_version: std::sync::atomic::AtomicU16,
    /// The end of the freshest promise the standby gave not to take over,
    /// on this node's clock (`authority::now_us`; 0: none yet).
    promise_until_us: std::sync::atomic::AtomicU64,
}

impl Shared {
    fn publish(&self, change: impl FnOnce(&mut AckView)) {
        let mut v = lock(&self.view);
        // Terminal states stay.
        let before = *v;
        change(&mut v);
        if matches!(before.state, LinkState::Fenced | LinkState::Shutdown) {
            v.state = before.state;
        }
        let now = *v;
        drop(v);
        self.view_changed.notify_all();
        self.view_tx.send_replace(now);
    }

    fn state(&self) -> LinkState {
        lock(&self.view).state
    }

    fn on_ack(&self, applied: u64) -> Result<(), String> {
        let mut log = lock(&self.log);
        if applied >= log.next_rseq {
            return Err(format!("standby acknowledged {applied}, beyond the last update sent ({})", log.next_rseq - 1));
        }
        let synced = log.ack(applied);
        let acked = log.acked;
        drop(log);
        self.publish(|v| {
            v.acked = acked;
            if synced.is_some() {
                v.state = LinkState::Replicating;
            }
        });
        if let Some(tcbs) = synced {
            tracing::info!(tcbs, "standby acknowledged the full sync");
            self.events.emit(LinkEvent::Synced { tcbs });
        }
        Ok(())
    }

    /// After the handshake: resume from the standby's point if it is ours and
    /// we still hold what follows it, else queue a full sync (claim 33).
    /// Returns the Start message and the first sequence to send.
    fn start(&self, resume: Option<ResumePoint>) -> (Start, u64) {
        let mut log = lock(&self.log);
        let front = log.entries.front().map_or(log.next_rseq, |(rseq, _)| *rseq);
        if let Some(rp) = resume {
            if rp.session == self.session
                && rp.epoch == self.epoch.own()
                && !log.overflowed
                && rp.applied < log.next_rseq
                && rp.applied + 1 >= front
            {
                let synced = log.ack(rp.applied);
                let acked = log.acked;
                let sync_pending = log.sync_end.is_some();
                drop(log);
                self.publish(|v| {
                    v.acked = acked;
                    v.state = if sync_pending { LinkState::Syncing } else { LinkState::Replicating };
                });
                if let Some(tcbs) = synced {
                    self.events.emit(LinkEvent::Synced { tcbs });
                }
                self.counters.resumes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return (Start::Resume { from: rp.applied + 1 }, rp.applied + 1);
            }
        }
        // Counted before the unacknowledged updates go, under the log's
        // lock: a sink that sees the same generation after its wait knows
        // its stream bytes were not dropped ([`Primary::sync_generation`]).
        self.counters.full_syncs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        log.entries.clear();
        log.data_bytes = 0;
        log.overflowed = false;
        let mut ids: Vec<u16> = log.tail.keys().copied().collect();
        ids.sort_unstable();
        let count = ids.len();
        let begin = log.next_rseq;
        let max = usize::MAX;
        log.push(Update::SyncBegin { count: count as u32 }, max);
        for chunk in ids.chunks(self.cfg.sync_chunk) {
            let tcbs = chunk.iter().map(|id| (*id, log.tail[id].clone())).collect();
            log.push(Update::SyncChunk { tcbs }, max);
        }
        let end = log.push(Update::SyncEnd, max);
        log.sync_end = Some((end, count));
        drop(log);
        self.publish(|v| v.state = LinkState::Syncing);
        (Start::FullSync, begin)
    }

    /// Invariant 8: fence first, then report, so whoever acts on the
    /// report finds this primary already stopped.
    fn fence_if_newer(&self, peer_epoch: u32) -> bool {
        if peer_epoch <= self.epoch.own() {
            return false;
        }
        self.fence();
        self.epoch.hear(peer_epoch, &self.events);
        true
    }

    /// Invariant 8: a newer epoch exists, so this primary must not get
    /// anything acknowledged any more.
    fn fence(&self) {
        self.publish(|v| v.state = LinkState::Fenced);
        self.wake.notify_one();
    }
}

/// The primary's link. Dropping it stops the link.
pub struct Primary {
    shared: Arc<Shared>,
    task: AbortOnDrop<()>,
}

impl Primary {
    /// Start replicating to the standby listening at `peer`, as epoch `epoch`.
    /// Must be called inside a tokio runtime; the link runs on it and
    /// reconnects by itself. Events (connected, synced, lost, newer epoch)
    /// arrive on the returned receiver.
    pub fn start(cfg: LinkConfig, peer: SocketAddr, epoch: u32) -> Result<(Primary, mpsc::Receiver<LinkEvent>), ConfigError> {
        cfg.validate()?;
        let cfg_versions = cfg.versions;
        let (events, rx) = Events::channel();
        let initial = AckView { acked: 0, state: LinkState::Down };
        let shared = Arc::new(Shared {
            session: rand::rngs::OsRng.next_u64(),
            cfg,
            peer,
            log: Mutex::new(Log {
                tail: HashMap::new(),
                entries: VecDeque::new(),
                next_rseq: 1,
                acked: 0,
                overflowed: false,
                sync_end: None,
                data_bytes: 0,
            }),
            wake: Notify::new(),
            epoch_notice: false.into(),
            view: Mutex::new(initial),
            view_changed: Condvar::new(),
            view_tx: watch::Sender::new(initial),
            counters: Counters::default(),
            events,
            liveness: Arc::new(Liveness::new()),
            epoch: EpochWatch::new(epoch),
            hello_version: cfg_versions.max.into(),
            session_version: 0.into(),
            promise_until_us: 0.into(),
        });
        let task = AbortOnDrop(tokio::spawn(run(shared.clone())));
        Ok((Primary { shared, task }, rx))
    }

    /// Queue TCB `id` for the standby: its first copy in full, afterwards
    /// only the fields changed since the last copy queued (claims 34, 35).
    /// Never blocks; works while the link is down (a reconnect resumes or
    /// resynchronises). Returns the sequence to wait for: acknowledging it
    /// means the standby stored this copy. An unchanged TCB queues nothing
    /// and returns the latest sequence.
    pub fn send(&self, id: u16, tcb: &Tcb) -> Result<u64, SendError> {
        if self.shared.state() == LinkState::Fenced {
            return Err(SendError::Fenced);
        }
        let mut log = lock(&self.shared.log);
        let update = match log.tail.get(&id) {
            Some(prev) => {
                let delta = TcbDelta::between(prev, tcb).map_err(|source| SendError::Tcb { id, source })?;
                if delta.is_empty() {
                    return Ok(log.next_rseq - 1);
                }
                Update::Delta { id, delta }
            }
            None => {
                tcb.encode().map_err(|source| SendError::Tcb { id, source })?;
                Update::Full { id, tcb: tcb.clone() }
            }
        };
        log.tail.insert(id, tcb.clone());
        let rseq = log.push(update, self.shared.cfg.max_unacked);
        drop(log);
        self.shared.counters.copy_queued(tcb.state);
        self.shared.wake.notify_one();
        Ok(rseq)
    }

    /// Queue stream bytes `[offset, offset + bytes.len())` of the connection
    /// in TCB `id` for a standby that keeps its own store. A copy of `id`
    /// must have been queued first (the standby checks the bytes against
    /// it), and its rcv_nxt must cover them. Returns the sequence whose
    /// acknowledgement means the bytes are on the standby's disk.
    pub fn send_data(&self, id: u16, offset: u64, bytes: Vec<u8>) -> Result<u64, SendError> {
        if self.shared.state() == LinkState::Fenced {
            return Err(SendError::Fenced);
        }
        let mut log = lock(&self.shared.log);
        let irs = log.tail.get(&id).ok_or(SendError::DataBeforeCopy { id })?.irs.0;
        let len = bytes.len();
        let rseq = log.push(Update::Data { id, irs, offset, bytes }, self.shared.cfg.max_unacked);
        drop(log);
        self.shared.counters.data(len);
        self.shared.wake.notify_one();
        Ok(rseq)
    }

    /// Queue transmit-stream bytes `[offset, offset + bytes.len())` of the
    /// connection in TCB `id`: bytes its application queued in this host's
    /// transmit ring that the peer has not acknowledged (invariant 9). A
    /// copy of `id` must have been queued first (the standby checks the
    /// bytes against its snd_una and its transmit ring). At most
    /// [`wire::MAX_SENT_BYTES`] per call. Returns the sequence whose
    /// acknowledgement means the standby holds them in its transmit ring:
    /// only then may the send limit L pass them.
    pub fn send_sent(&self, id: u16, offset: u64, bytes: Vec<u8>) -> Result<u64, SendError> {
        if bytes.len() > wire::MAX_SENT_BYTES {
            return Err(SendError::SentTooLong { id, len: bytes.len(), max: wire::MAX_SENT_BYTES });
        }
        if self.shared.state() == LinkState::Fenced {
            return Err(SendError::Fenced);
        }
        let mut log = lock(&self.shared.log);
        let iss = log.tail.get(&id).ok_or(SendError::DataBeforeCopy { id })?.iss.0;
        let len = bytes.len();
        let rseq = log.push(Update::Sent { id, iss, offset, bytes }, self.shared.cfg.max_unacked);
        drop(log);
        self.shared.counters.sent_bytes(len);
        self.shared.wake.notify_one();
        Ok(rseq)
    }

    /// Queue the send limit of the relayed connection in TCB `id`: its
    /// card may send the transmit stream below offset `limit` (mod 2^32;
    /// one more for its FIN). The bytes stay in the relay peer's receive
    /// ring; only the limit travels. A copy of `id` must have been queued
    /// first (the standby checks the limit against it). Returns the
    /// sequence whose acknowledgement means the standby holds the limit:
    /// only then may the card's send limit move to it, so that a promoted
    /// card's snd_max covers what the old card may have sent.
    pub fn send_limit(&self, id: u16, limit: u32) -> Result<u64, SendError> {
        if self.shared.state() == LinkState::Fenced {
            return Err(SendError::Fenced);
        }
        let mut log = lock(&self.shared.log);
        let iss = log.tail.get(&id).ok_or(SendError::DataBeforeCopy { id })?.iss.0;
        let rseq = log.push(Update::Limit { id, iss, limit }, self.shared.cfg.max_unacked);
        drop(log);
        self.shared.wake.notify_one();
        Ok(rseq)
    }

    /// Full syncs started on this link so far. A full sync replaces the
    /// standby's copies and drops the unacknowledged stream bytes, so a
    /// sink that ships its store starts over when this changes.
    pub fn sync_generation(&self) -> u64 {
        self.shared.counters.full_syncs.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Block the calling (non-async) thread until the standby acknowledged
    /// `rseq`, the link is down, or `timeout` passed. For the sink thread.
    pub fn wait_acked_blocking(&self, rseq: u64, timeout: Duration) -> Result<(), WaitError> {
        let deadline = Instant::now() + timeout;
        let mut v = lock(&self.shared.view);
        loop {
            if let Some(done) = verdict(&v, rseq) {
                return done;
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(WaitError::Timeout { rseq, acked: v.acked, timeout });
            }
            v = match self.shared.view_changed.wait_timeout(v, deadline - now) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// [`Primary::wait_acked_blocking`] for async callers.
    pub async fn wait_acked(&self, rseq: u64, timeout: Duration) -> Result<(), WaitError> {
        let mut rx = self.shared.view_tx.subscribe();
        let waited = tokio::time::timeout(timeout, rx.wait_for(|v| verdict(v, rseq).is_some())).await;
        match waited {
            Ok(Ok(v)) => verdict(&v, rseq).expect("wait_for returned on a verdict"),
            Ok(Err(_)) => Err(WaitError::Shutdown),
            Err(_) => Err(WaitError::Timeout { rseq, acked: self.acked(), timeout }),
        }
    }

    /// The latest replication sequence queued: acknowledging it covers
    /// every update sent so far.
    pub fn last_sent(&self) -> u64 {
        lock(&self.shared.log).next_rseq - 1
    }

    /// The protocol version of the connection to the standby, if connected.
    pub fn protocol_version(&self) -> Option<u16> {
        Some(self.shared.session_version.load(std::sync::atomic::Ordering::Relaxed)).filter(|v| *v != 0)
    }

    /// Highest sequence the standby acknowledged.
    pub fn acked(&self) -> u64 {
        lock(&self.shared.view).acked
    }

    pub fn state(&self) -> LinkState {
        self.shared.state()
    }

    /// Watch acknowledged point and state change (async).
    pub fn subscribe(&self) -> watch::Receiver<AckView> {
        self.shared.view_tx.subscribe()
    }

    /// Change our epoch and tell the standby at once (heartbeats carry it).
    /// A changed epoch ends resumability: the next connection full-syncs.
    pub fn set_epoch(&self, epoch: u32) {
        self.shared.epoch.set(epoch);
        self.shared.epoch_notice.store(true, std::sync::atomic::Ordering::SeqCst);
        self.shared.wake.notify_one();
    }

    pub fn epoch(&self) -> u32 {
        self.shared.epoch.own()
    }

    /// Until when (`authority::now_us`) the standby promised not to take
    /// over, counted from when this node sent the heartbeat the freshest
    /// promise answered; `None` if it never promised.
    pub fn promise_until_us(&self) -> Option<u64> {
        Some(self.shared.promise_until_us.load(std::sync::atomic::Ordering::SeqCst)).filter(|u| *u != 0)
    }

    pub fn stats(&self) -> LinkStats {
        self.shared.counters.snapshot()
    }

    /// Stop the link; waiters get [`WaitError::Shutdown`].
    pub fn shutdown(&self) {
        self.shared.publish(|v| v.state = LinkState::Shutdown);
        self.task.0.abort();
    }
}

impl Drop for Primary {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The answer to a wait for `rseq`, or `None` to keep waiting. Syncing
/// keeps waiting: the full sync's end covers every earlier update.
fn verdict(v: &AckView, rseq: u64) -> Option<Result<(), WaitError>> {
    if v.acked >= rseq {
        return Some(Ok(()));
    }
    match v.state {
        LinkState::Down => Some(Err(WaitError::Disconnected { rseq, acked: v.acked })),
        LinkState::Fenced => Some(Err(WaitError::Fenced)),
        LinkState::Shutdown => Some(Err(WaitError::Shutdown)),
        LinkState::Syncing | LinkState::Replicating => None,
    }
}

async fn run(shared: Arc<Shared>) {
    let _monitor = AbortOnDrop(tokio::spawn(super::monitor_liveness(
        shared.cfg.clone(),
        shared.events.clone(),
        shared.liveness.clone(),
    )));
    // A standby that stays away is retried every reconnect delay; say so at
    // WARN once per change of reason (and every 10 s), the rest at DEBUG.
    let mut last_warned: Option<(String, std::time::Instant)> = None;
    loop {
        match session(&shared).await {
            Ok(()) => last_warned = None,
            Err(reason) => {
                let text = reason.to_string();
                let repeat = last_warned.as_ref().is_some_and(|(r, at)| *r == text && at.elapsed() < Duration::from_secs(10));
                if repeat {
                    tracing::debug!(peer = %shared.peer, %reason, "replication link to the standby still down");
                } else {
                    tracing::warn!(peer = %shared.peer, %reason, "replication link to the standby down");
                    last_warned = Some((text, std::time::Instant::now()));
                }
            }
        }
        shared.session_version.store(0, std::sync::atomic::Ordering::Relaxed);
        shared.publish(|v| v.state = LinkState::Down);
        if shared.state() == LinkState::Fenced {
            tracing::error!("replication stopped: the standby runs a newer epoch (invariant 8)");
            return;
        }
        tokio::time::sleep(shared.cfg.reconnect_delay).await;
    }
}

/// One connection: handshake, then write updates and heartbeats while a
/// reader task takes acknowledgements. Returns why it ended.
async fn session(shared: &Arc<Shared>) -> Result<(), String> {
    let cfg = &shared.cfg;
    let stream = tokio::time::timeout(cfg.handshake_timeout, TcpStream::connect(shared.peer))
        .await
        .map_err(|_| format!("connecting to {} timed out", shared.peer))?
        .map_err(|e| format!("connecting to {}: {e}", shared.peer))?;
    stream.set_nodelay(true).map_err(|e| format!("setting TCP_NODELAY: {e}"))?;
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::with_capacity(64 * 1024, rd);

    let mut nonce = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    // The standby answers in the Hello's version or closes (wire.rs, Versions).
    let version = shared.hello_version.load(std::sync::atomic::Ordering::Relaxed);
    let mut out = FrameCodec::new(&wire::hello_key(&cfg.secret), Direction::PrimaryToStandby).in_version(version);
    let mut inn = FrameCodec::new(&wire::welcome_key(&cfg.secret, &nonce), Direction::StandbyToPrimary).in_version(version);
    let hello = Hello {
        node_id: cfg.node_id,
        epoch: shared.epoch.own(),
        role: Role::Primary,
        layout: holdback_driver::regmap::VERSION,
        session: shared.session,
        nonce,
    };
    let mut buf = Vec::new();
    out.encode(&Msg::Hello(hello), &mut buf).map_err(|e| e.to_string())?;
    write(shared, &mut wr, &mut buf, 1).await?;
    let welcome = match tokio::time::timeout(cfg.handshake_timeout, inn.read(&mut rd)).await {
        Err(_) => return Err("the standby did not answer the Hello in time".into()),
        Ok(Err(FrameError::Closed | FrameError::Io(_))) => return Err(hello_closed(shared, version)),
        Ok(Err(e)) => return Err(format!("handshake refused: {e}")),
        Ok(Ok((Msg::Welcome(w), _))) if w.role == Role::Standby => w,
        Ok(Ok((other, _))) => return Err(format!("expected a standby's Welcome, got {}", kind(&other))),
    };
    shared.liveness.heard();
    shared.session_version.store(version, std::sync::atomic::Ordering::Relaxed);
    if shared.fence_if_newer(welcome.epoch) {
        return Err(format!("the standby runs epoch {}, newer than ours", welcome.epoch));
    }
    let key = wire::connection_key(&cfg.secret, &nonce, &welcome.nonce);
    out.rekey(&key);
    inn.rekey(&key);
    let (start, mut pos) = shared.start(welcome.resume);
    out.encode(&Msg::Start(start), &mut buf).map_err(|e| e.to_string())?;
    write(shared, &mut wr, &mut buf, 1).await?;
    let resumed = matches!(start, Start::Resume { .. });
    tracing::info!(peer = %shared.peer, standby = welcome.node_id, resumed, from = pos, "replicating to the standby");
    shared.events.emit(LinkEvent::Connected {
        peer: shared.peer,
        peer_node: welcome.node_id,
        peer_epoch: welcome.epoch,
        resumed,
    });

    let mut reader = AbortOnDrop(tokio::spawn(read_acks(shared.clone(), rd, inn)));
    let mut tick = tokio::time::interval(cfg.heartbeat_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let batch = {
            let log = lock(&shared.log);
            if log.overflowed {
                return Err(format!("more than {} updates unacknowledged; resynchronising", cfg.max_unacked));
            }
            log.from(pos, WRITE_BATCH)
        };
        if let Some((last, _)) = batch.last() {
            pos = last + 1;
            let frames = batch.len() as u64;
            for (rseq, update) in batch {
                out.encode(&Msg::Update { rseq, update }, &mut buf).map_err(|e| e.to_string())?;
            }
            write(shared, &mut wr, &mut buf, frames).await?;
            continue;
        }
        if shared.state() == LinkState::Fenced {
            return Err("fenced by a newer epoch".into());
        }
        if shared.epoch_notice.swap(false, std::sync::atomic::Ordering::SeqCst) {
            out.encode(&Msg::Heartbeat { epoch: shared.epoch.own() }, &mut buf).map_err(|e| e.to_string())?;
            write(shared, &mut wr, &mut buf, 1).await?;
        }
        tokio::select! {
            _ = shared.wake.notified() => {}
            _ = tick.tick() => {
                if let Some(silent) = shared.liveness.silent_for().filter(|s| *s >= cfg.peer_timeout()) {
                    return Err(format!("nothing heard from the standby for {silent:?}"));
                }
                // From version 3 on the heartbeat asks for the standby's
                // promise, stamped with our clock (docs/authority.md).
                let beat = if version >= wire::PROMISE_VERSION {
                    Msg::PromiseAsk { epoch: shared.epoch.own(), sent_us: crate::authority::now_us() }
                } else {
                    Msg::Heartbeat { epoch: shared.epoch.own() }
                };
                out.encode(&beat, &mut buf).map_err(|e| e.to_string())?;
                write(shared, &mut wr, &mut buf, 1).await?;
            }
            _ = shared.liveness.lost.notified() => {
                return Err(format!("nothing heard from the standby for {:?}", cfg.peer_timeout()));
            }
            ended = &mut reader.0 => {
                return Err(match ended {
                    Ok(reason) => reason,
                    Err(e) => format!("ack reader failed: {e}"),
                });
            }
        }
    }
}

/// The standby closed the connection after our Hello in `version` without
/// a Welcome: it does not speak that version (or refused us for another
/// reason, which its log and `refused` counters name). The next Hello goes
/// out one version lower; below our oldest, back at our newest.
fn hello_closed(shared: &Shared, version: u16) -> String {
    let ours = shared.cfg.versions;
    match ours.below(version) {
        Some(lower) => {
            shared.hello_version.store(lower, std::sync::atomic::Ordering::Relaxed);
            tracing::warn!(version, next = lower, speaks = %ours, "the standby closed the handshake of protocol version {version}: trying {lower}");
            format!("the standby closed the handshake of protocol version {version}; trying version {lower} next")
        }
        None => {
            shared.hello_version.store(ours.max, std::sync::atomic::Ordering::Relaxed);
            tracing::error!(speaks = %ours, "no protocol version in common with the standby: it closed the handshake in every version this node speaks (or refused it for a stale epoch or a wrong secret: its log says which); see docs/upgrade.md");
            format!(
                "the standby closed the handshake in every protocol version this node speaks ({ours}): no version in common, a stale epoch or a wrong secret (its log and refused counters say which)"
            )
        }
    }
}

async fn write(shared: &Shared, wr: &mut OwnedWriteHalf, buf: &mut Vec<u8>, frames: u64) -> Result<(), String> {
    wr.write_all(buf).await.map_err(|e| format!("writing to the standby: {e}"))?;
    shared.counters.sent(frames, buf.len() as u64);
    buf.clear();
    Ok(())
}

/// Take acknowledgements and heartbeats until the connection fails; returns why.
async fn read_acks(shared: Arc<Shared>, mut rd: BufReader<OwnedReadHalf>, mut inn: FrameCodec) -> String {
    loop {
        let (msg, size) = match inn.read(&mut rd).await {
            Ok(m) => m,
            Err(e) => return format!("reading from the standby: {e}"),
        };
        shared.liveness.heard();
        shared.counters.received(size as u64);
        match msg {
            Msg::Ack { applied } => {
                if let Err(reason) = shared.on_ack(applied) {
                    return reason;
                }
            }
            Msg::Heartbeat { epoch } => {
                if shared.fence_if_newer(epoch) {
                    return format!("the standby runs epoch {epoch}, newer than ours");
                }
            }
            Msg::Promise { epoch, sent_us, promise_us } => {
                if shared.fence_if_newer(epoch) {
                    return format!("the standby runs epoch {epoch}, newer than ours");
                }
                // Our own stamp comes back: one from the future, or a promise
                // longer than any configurable, is not an answer to us.
                if sent_us > crate::authority::now_us() || promise_us > MAX_PROMISE_US {
                    return format!("a promise for {promise_us} µs answering a heartbeat stamped {sent_us}: not one this node asked for");
                }
                let timing = crate::authority::Timing { promise_us, confirm_us: 0 };
                let until = crate::authority::rules::RULES.promise_until(timing, sent_us);
                shared.promise_until_us.fetch_max(until, std::sync::atomic::Ordering::SeqCst);
            }
            other => return format!("unexpected {} from the standby", kind(&other)),
        }
    }
}

/// A message's name for logs (never its content: a chunk is large).
pub(crate) fn kind(msg: &Msg) -> &'static str {
    match msg {
        Msg::Hello(_) => "Hello",
        Msg::Welcome(_) => "Welcome",
        Msg::Start(_) => "Start",
        Msg::Update { .. } => "Update",
        Msg::Ack { .. } => "Ack",
        Msg::Heartbeat { .. } => "Heartbeat",
        Msg::PromiseAsk { .. } => "PromiseAsk",
        Msg::Promise { .. } => "Promise",
    }
}
