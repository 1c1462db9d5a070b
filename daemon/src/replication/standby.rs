//! The standby's end of the replication link: listens for the primary, keeps
//! every TCB copy in memory (claim 23), writes each into its card through a
//! [`StoreHook`] and acknowledges only after the hook returned (invariant 2).
//!
//! A connection becomes the session only after it completed the handshake;
//! until then it cannot touch the store, the running session or the
//! liveness clock, so a hostile peer is refused (logged, counted, reported)
//! while the real primary keeps replicating.
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use holdback_driver::Tcb;
use rand::RngCore;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Notify, Semaphore};

use crate::pair::decide::RULES;

use super::delta::DeltaError;
use super::primary::kind;
use super::wire::{self, Direction, FrameCodec, Msg, ResumePoint, Role, Start, Update, Welcome};
use super::{lock, AbortOnDrop, ConfigError, Counters, EpochWatch, Events, LinkConfig, LinkEvent, LinkStats, Liveness, RefuseReason};

/// Handshakes in progress at once; more connections are refused at once.
const MAX_HANDSHAKES: usize = 16;
/// Updates handed to the hook in one blocking call at most.
const APPLY_BATCH: usize = 1024;

pub type HookError = Box<dyn std::error::Error + Send + Sync>;

/// Installs replicated copies into the standby's card. The daemon implements
/// it with `CardHandle::write_tcb`. Called on a blocking thread, in stream
/// order; the acknowledgement covering a copy goes out only after `install`
/// returned `Ok` for it (invariant 2).
pub trait StoreHook: Send + 'static {
    fn install(&mut self, id: u16, tcb: &Tcb) -> Result<(), HookError>;
    /// TCB `id` is gone on the primary (absent from a full sync): free the slot.
    fn remove(&mut self, id: u16) -> Result<(), HookError>;
    /// Write stream bytes of the connection `tcb` (the stored copy of TCB
    /// `id`, already checked to cover them) at stream `offset` into this
    /// standby's own store. A standby without one refuses them: the
    /// primary then ships bytes nobody would keep.
    fn write_data(&mut self, id: u16, tcb: &Tcb, offset: u64, bytes: &[u8]) -> Result<(), HookError> {
        let _ = (tcb, offset, bytes);
        Err(format!("stream bytes for TCB {id}, but this standby keeps no store of its own (store = \"shared\")").into())
    }
    /// Bytes of this standby's transmit ring per connection, if it has
    /// one; `None` refuses every [`Update::Sent`] (invariant 9: a standby
    /// that cannot hold what the primary's card may send must not
    /// acknowledge it).
    fn tx_ring_bytes(&self) -> Option<u32> {
        None
    }
    /// Write transmit-stream bytes of the connection `tcb` (the stored
    /// copy of TCB `id`, already checked to fit them) at stream `offset`
    /// into this standby's transmit ring, where its card sends them from
    /// after a promotion.
    fn write_sent(&mut self, id: u16, tcb: &Tcb, offset: u64, bytes: &[u8]) -> Result<(), HookError> {
        let _ = (tcb, offset, bytes);
        Err(format!("transmit-ring bytes for TCB {id}, but this standby has no transmit ring").into())
    }
    /// Make every byte written since the last call durable. Called before
    /// the acknowledgement that covers them goes out.
    fn sync_data(&mut self) -> Result<(), HookError> {
        Ok(())
    }
}

/// Why stream bytes on the link do not fit the stored copy of their
/// connection; `None`: they fit. Bytes are accepted only for a connection
/// that can carry data, named by the same initial sequence number, and
/// only up to the copy's rcv_nxt (without its FIN): the primary's card
/// cannot have received more, so anything beyond is corrupt or hostile.
pub(super) fn data_misfit(copy: &Tcb, irs: u32, offset: u64, len: usize) -> Option<String> {
    use holdback_regmap::TcpState;
    if copy.irs.0 != irs {
        return Some(format!("for the connection with irs {irs:#010x}, but the stored copy is of irs {:#010x}", copy.irs.0));
    }
    if matches!(copy.state, TcpState::Closed | TcpState::Listen | TcpState::SynReceived) {
        return Some(format!("for a connection in {}, which carries no data", copy.state.rfc_name()));
    }
    let Some(end) = offset.checked_add(len as u64) else {
        return Some(format!("at offset {offset} run past the end of any stream"));
    };
    let data_start = copy.irs + 1;
    let data_end = copy.rcv_nxt - copy.fin_rcvd as u32;
    // Sequence numbers wrap every 4 GiB: compare the bytes' end with the
    // copy's serially (end_seq ≤ data_end) and their length with the ring
    // of any card (≤ 2^31 ahead of the start is already out of range).
    let end_seq = data_start + end as u32;
    if len as u64 > (1 << 30) || data_end.before(end_seq) {
        return Some(format!(
            "bytes [{offset}, {end}) end beyond what the primary received (rcv_nxt {}: {} bytes of data)",
            copy.rcv_nxt,
            data_end.bytes_since(data_start)
        ));
    }
    None
}

/// Why transmit-ring bytes on the link do not fit the stored copy of
/// their connection and a transmit ring of `ring` bytes; `None`: they fit.
/// Accepted only for a connection that may have sent data, named by the
/// same initial sequence number, and only within one ring after the
/// copy's snd_una: the primary's host cannot have queued more (its
/// transmit ring holds one ring beyond what the peer acknowledged), so
/// anything else is corrupt or hostile and would overwrite bytes the card
/// may still have to send.
pub(super) fn sent_misfit(copy: &Tcb, iss: u32, offset: u64, len: usize, ring: u32) -> Option<String> {
    use holdback_regmap::TcpState;
    if copy.iss.0 != iss {
        return Some(format!("for the connection with iss {iss:#010x}, but the stored copy is of iss {:#010x}", copy.iss.0));
    }
    if matches!(copy.state, TcpState::Closed | TcpState::Listen | TcpState::SynReceived | TcpState::TimeWait) {
        return Some(format!("for a connection in {}, which sends no data", copy.state.rfc_name()));
    }
    if len > super::wire::MAX_SENT_BYTES {
        return Some(format!("{len} bytes in one update, more than {}", super::wire::MAX_SENT_BYTES));
    }
    let Some(end) = offset.checked_add(len as u64) else {
        return Some(format!("at offset {offset} run past the end of any stream"));
    };
    // Offsets are 64-bit, sequence numbers wrap: the bytes must lie
    // serially within [snd_una, snd_una + ring] of the copy (offset 0 is
    // at iss + 1, just past our SYN).
    let data_start = copy.iss + 1;
    let acked = copy.snd_una;
    let start_seq = data_start + offset as u32;
    let end_seq = data_start + end as u32;
    if start_seq.before(acked) {
        return Some(format!("bytes [{offset}, {end}) start before what the peer acknowledged (snd_una {acked})"));
    }
    if len as u64 > u64::from(ring) || end_seq.bytes_since(acked) > ring {
        return Some(format!(
            "bytes [{offset}, {end}) end beyond one {ring}-byte transmit ring after what the peer acknowledged (snd_una {acked})"
        ));
    }
    None
}

/// Why a relayed connection's send limit on the link does not fit the
/// stored copy of its connection; `None`: it fits. Accepted only for a
/// synchronized connection that relays (its `peer_link` names another TCB),
/// named by the same initial sequence number, and only from what its peer
/// acknowledged (snd_una, as a stream offset) to less than 2^31 beyond: a
/// limit behind snd_una would have held back bytes the peer already has,
/// one further ahead is not a point in this connection's stream at all.
pub(super) fn limit_misfit(copy: &Tcb, iss: u32, limit: u32) -> Option<String> {
    use holdback_regmap::TcpState;
    if copy.iss.0 != iss {
        return Some(format!("for the connection with iss {iss:#010x}, but the stored copy is of iss {:#010x}", copy.iss.0));
    }
    if matches!(copy.state, TcpState::Closed | TcpState::Listen | TcpState::SynSent | TcpState::SynReceived) {
        return Some(format!("for a connection in {}, which is not synchronized", copy.state.rfc_name()));
    }
    if copy.peer_link == holdback_regmap::NO_PEER_LINK {
        return Some("for a connection that relays nothing (its bytes would be shipped, not limited)".into());
    }
    // Offset 0 is at iss + 1; the peer's ACK of our FIN is one past the
    // stream's end, as a limit that lets the FIN out.
    let acked = copy.snd_una.0.wrapping_sub(iss).wrapping_sub(1);
    if (limit.wrapping_sub(acked) as i32) < 0 {
        return Some(format!(
            "{limit} is before what the peer acknowledged (snd_una {}: offset {acked}) or 2^31 or more beyond it",
            copy.snd_una
        ));
    }
    None
}

#[derive(Debug, thiserror::Error)]
pub enum StandbyError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("listening for the primary on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
}

/// Why applying an update failed.
#[derive(Debug, thiserror::Error)]
enum ApplyError {
    #[error("installing TCB {id} into the card failed: {error}")]
    Hook { id: u16, error: HookError },
    #[error("update {rseq} does not fit the stored copies: {why}")]
    Inconsistent { rseq: u64, why: String },
    #[error("storing stream bytes for TCB {id}: {error}")]
    Store { id: u16, error: HookError },
    #[error("making the stored stream bytes durable (fsync): {error}")]
    Sync { error: HookError },
}

/// The copies and how far they go.
struct Replica {
    hook: Box<dyn StoreHook>,
    tcbs: HashMap<u16, Tcb>,
    /// The primary's (session, epoch) whose stream `applied` counts in;
    /// `None` until a full sync completed (then nothing can be resumed).
    session: Option<(u64, u32)>,
    /// Highest replication sequence stored (and installed by the hook).
    applied: u64,
    /// Ids received so far in a running full sync.
    sync: Option<HashSet<u16>>,
    /// Stream bytes were written since the last fsync.
    unsynced_data: bool,
    /// Per connection, its iss and the end of the transmit-stream bytes
    /// this standby holds in its transmit ring (from [`Update::Sent`]).
    held_sent: HashMap<u16, (u32, u64)>,
    /// Per relayed connection, its iss and the highest send limit the
    /// primary's card may send below (from [`Update::Limit`]; transmit-
    /// stream offset mod 2^32, one more for the FIN).
    held_limit: HashMap<u16, (u32, u32)>,
}

struct Applied {
    applied: u64,
    synced: Option<usize>,
    error: Option<ApplyError>,
}

impl Replica {
    /// `tcb` as this standby's card must hold it. With send holdback the
    /// old primary's card may have sent any byte this standby holds — its
    /// send limit L never passed what this standby acknowledged
    /// (docs/failover.md, invariant 9) — while the primary's last copy may
    /// predate those bytes. So the send tail is the end of what is held and
    /// snd_max at least that point: after a promotion the peer's ACK of
    /// anything the old card sent is acceptable (RFC 9293 §3.10.7.4 takes
    /// an ACK beyond snd_max as one of data never sent, and drops the
    /// segment with its data), and the promoted card resends from snd_una.
    /// The stored copy stays the primary's own: deltas apply to it.
    fn as_held(&self, id: u16, tcb: &Tcb) -> Tcb {
        let mut held = tcb.clone();
        if let Some(&(iss, end)) = self.held_sent.get(&id).filter(|_| tcb.send_hold) {
            if iss == tcb.iss.0 {
                // Transmit-stream offsets are mod 2^32, as the send tail.
                let end = end as u32;
                if (end.wrapping_sub(held.tx_end) as i32) > 0 {
                    held.tx_end = end;
                }
                let top = holdback_driver::SeqNum(held.iss.0.wrapping_add(1).wrapping_add(held.tx_end));
                if held.snd_max.before(top) {
                    held.snd_max = top;
                }
            }
        }
        if let Some(&(iss, limit)) = self.held_limit.get(&id) {
            if iss == tcb.iss.0 {
                // A relayed connection's bytes are in its peer's receive
                // ring, not here: the send tail stays the primary's, only
                // snd_max covers what the old card may have sent, so that
                // the peer's ACK of it is acceptable to a promoted card.
                // The promotion fix-up (relay_pair.rs) sets the rest.
                let top = holdback_driver::SeqNum(iss.wrapping_add(1).wrapping_add(limit));
                held.snd_max = held.snd_max.latest(top);
            }
        }
        held
    }

    /// Store the primary's copy of TCB `id`; what is held for an earlier
    /// connection in the slot (another iss) goes.
    fn store(&mut self, id: u16, tcb: Tcb) {
        let iss = tcb.iss.0;
        if self.held_limit.get(&id).is_some_and(|&(held_iss, _)| held_iss != iss) {
            self.held_limit.remove(&id);
        }
        self.tcbs.insert(id, tcb);
    }

    fn resume_point(&self) -> Option<ResumePoint> {
        self.session.map(|(session, epoch)| ResumePoint { session, epoch, applied: self.applied })
    }

    fn apply_batch(&mut self, from: (u64, u32), batch: Vec<(u64, Update)>) -> Applied {
        let mut synced = None;
        let before = self.applied;
        let mut error = None;
        for (rseq, update) in batch {
            match self.apply(from, rseq, update) {
                Ok(Some(n)) => synced = Some(n),
                Ok(None) => {}
                Err(e) => {
                    if matches!(e, ApplyError::Inconsistent { .. } | ApplyError::Store { .. }) {
                        // Nothing after this can be trusted: the next
                        // connection must full-sync (and the primary then
                        // ships its store again).
                        self.session = None;
                    }
                    error = Some(e);
                    break;
                }
            }
        }
        // The acknowledgement of `applied` says the stream bytes below it
        // are on this standby's disk: fsync first. If that fails, nothing
        // of this batch is acknowledged and the next connection full-syncs.
        if self.unsynced_data {
            if let Err(e) = self.hook.sync_data() {
                self.applied = before;
                self.session = None;
                return Applied { applied: before, synced: None, error: Some(ApplyError::Sync { error: e }) };
            }
            self.unsynced_data = false;
        }
        Applied { applied: self.applied, synced, error }
    }

    /// Store one update; `Some(n)` when it completed a full sync of n TCBs.
    fn apply(&mut self, from: (u64, u32), rseq: u64, update: Update) -> Result<Option<usize>, ApplyError> {
        let in_stream = self.session == Some(from);
        if in_stream && rseq <= self.applied && !matches!(update, Update::SyncBegin { .. }) {
            // Already stored: the primary resumed from a point that an
            // earlier connection had already passed.
            return Ok(None);
        }
        let inconsistent = |why: &str| ApplyError::Inconsistent { rseq, why: why.into() };
        match update {
            Update::SyncBegin { count } => {
                self.session = None;
                self.sync = Some(HashSet::with_capacity(count as usize));
                Ok(None)
            }
            Update::SyncChunk { tcbs } => {
                if self.sync.is_none() {
                    return Err(inconsistent("sync chunk outside a full sync"));
                }
                for (id, tcb) in tcbs {
                    self.hook.install(id, &self.as_held(id, &tcb)).map_err(|error| ApplyError::Hook { id, error })?;
                    self.store(id, tcb);
                    self.sync.as_mut().expect("checked above").insert(id);
                }
                Ok(None)
            }
            Update::SyncEnd => {
                let Some(seen) = self.sync.take() else { return Err(inconsistent("sync end outside a full sync")) };
                let gone: Vec<u16> = self.tcbs.keys().filter(|id| !seen.contains(id)).copied().collect();
                for id in gone {
                    self.hook.remove(id).map_err(|error| ApplyError::Hook { id, error })?;
                    self.tcbs.remove(&id);
                    self.held_sent.remove(&id);
                    self.held_limit.remove(&id);
                }
                self.session = Some(from);
                self.applied = rseq;
                Ok(Some(seen.len()))
            }
            Update::Full { id, tcb } => {
                if !in_stream {
                    return Err(inconsistent("update before a full sync"));
                }
                self.hook.install(id, &self.as_held(id, &tcb)).map_err(|error| ApplyError::Hook { id, error })?;
                self.store(id, tcb);
                self.applied = rseq;
                Ok(None)
            }
            Update::Delta { id, delta } => {
                if !in_stream {
                    return Err(inconsistent("update before a full sync"));
                }
                let base = self.tcbs.get(&id).ok_or_else(|| inconsistent(&format!("delta for TCB {id}, which was never sent in full")))?;
                let new = delta.apply(base).map_err(|e: DeltaError| inconsistent(&e.to_string()))?;
                self.hook.install(id, &self.as_held(id, &new)).map_err(|error| ApplyError::Hook { id, error })?;
                self.store(id, new);
                self.applied = rseq;
                Ok(None)
            }
            Update::Sent { id, iss, offset, bytes } => {
                if !in_stream {
                    return Err(inconsistent("update before a full sync"));
                }
                let copy = self.tcbs.get(&id).ok_or_else(|| inconsistent(&format!("transmit-ring bytes for TCB {id}, which was never sent")))?;
                let ring = self.hook.tx_ring_bytes().ok_or_else(|| ApplyError::Store {
                    id,
                    error: format!("transmit-ring bytes for TCB {id}, but this standby has no transmit ring").into(),
                })?;
                if let Some(why) = sent_misfit(copy, iss, offset, bytes.len(), ring) {
                    return Err(inconsistent(&format!("transmit-ring bytes for TCB {id} {why}")));
                }
                self.hook.write_sent(id, copy, offset, &bytes).map_err(|error| ApplyError::Store { id, error })?;
                let end = offset + bytes.len() as u64;
                let held = match self.held_sent.get(&id) {
                    Some(&(held_iss, held_end)) if held_iss == iss => held_end.max(end),
                    _ => end,
                };
                self.held_sent.insert(id, (iss, held));
                // The card's copy shows the new send tail at once: a
                // promotion may come before the primary's next copy.
                let installed = self.as_held(id, copy);
                self.hook.install(id, &installed).map_err(|error| ApplyError::Hook { id, error })?;
                self.applied = rseq;
                Ok(None)
            }
            Update::Limit { id, iss, limit } => {
                if !in_stream {
                    return Err(inconsistent("update before a full sync"));
                }
                let copy = self.tcbs.get(&id).ok_or_else(|| inconsistent(&format!("a send limit for TCB {id}, which was never sent")))?;
                if let Some(why) = limit_misfit(copy, iss, limit) {
                    return Err(inconsistent(&format!("the send limit for TCB {id} {why}")));
                }
                // Serial max: a limit only grows, as the primary writes it.
                let held = match self.held_limit.get(&id) {
                    Some(&(held_iss, held)) if held_iss == iss && (limit.wrapping_sub(held) as i32) < 0 => held,
                    _ => limit,
                };
                self.held_limit.insert(id, (iss, held));
                // Installed before the acknowledgement: once the primary's
                // card may send up to the limit, this card's snd_max covers it.
                let installed = self.as_held(id, copy);
                self.hook.install(id, &installed).map_err(|error| ApplyError::Hook { id, error })?;
                self.applied = rseq;
                Ok(None)
            }
            Update::Data { id, irs, offset, bytes } => {
                if !in_stream {
                    return Err(inconsistent("update before a full sync"));
                }
                let copy = self.tcbs.get(&id).ok_or_else(|| inconsistent(&format!("stream bytes for TCB {id}, which was never sent")))?;
                if let Some(why) = data_misfit(copy, irs, offset, bytes.len()) {
                    return Err(inconsistent(&format!("stream bytes for TCB {id} {why}")));
                }
                self.unsynced_data = true;
                self.hook.write_data(id, copy, offset, &bytes).map_err(|error| ApplyError::Store { id, error })?;
                self.applied = rseq;
                Ok(None)
            }
        }
    }
}

struct Shared {
    cfg: LinkConfig,
    replica: Arc<Mutex<Replica>>,
    counters: Counters,
    events: Events,
    liveness: Arc<Liveness>,
    epoch: EpochWatch,
    /// Our epoch changed: sessions send a heartbeat at once (the notice).
    epoch_changed: Notify,
    /// The authenticated session, if any.
    current: Mutex<Option<(SocketAddr, AbortOnDrop<()>)>>,
    /// The protocol version of the last authenticated connection.
    session_version: std::sync::atomic::AtomicU16,
    /// Whether this standby still promises not to take over, and when it
    /// last did (docs/authority.md).
    promises: Mutex<Promising>,
}

/// The standby's promises not to take over. `on` and `last_sent_us` change
/// together under one lock: once [`Standby::stop_promising`] returned, no
/// promise newer than the one it reports can go out.
#[derive(Clone, Copy, Debug, Default)]
struct Promising {
    on: bool,
    /// `authority::now_us` after the ask it answered arrived (0: never).
    last_sent_us: u64,
}

impl Shared {
    fn refuse(&self, peer: SocketAddr, reason: RefuseReason, detail: String) {
        tracing::warn!(%peer, reason = reason.name(), %detail, "replication connection refused");
        self.counters.refused(reason);
        self.events.emit(LinkEvent::Refused { peer, reason, detail });
    }
}

/// A connection that completed the handshake.
struct Authenticated {
    peer: SocketAddr,
    rd: BufReader<OwnedReadHalf>,
    wr: OwnedWriteHalf,
    inn: FrameCodec,
    out: FrameCodec,
    /// The primary's (session, epoch).
    stream: (u64, u32),
    peer_node: u64,
    peer_epoch: u32,
    /// First replication sequence expected (`None`: a full sync begins, at
    /// whatever sequence the primary is at).
    expect: Option<u64>,
}

/// The standby's link. Dropping it stops listening and ends the session.
pub struct Standby {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    _accept: AbortOnDrop<()>,
    _monitor: AbortOnDrop<()>,
}

impl Standby {
    /// Listen for the primary on `addr` as epoch `epoch`, installing copies
    /// with `hook`. Must be called inside a tokio runtime.
    pub async fn bind(
        cfg: LinkConfig,
        addr: SocketAddr,
        epoch: u32,
        hook: impl StoreHook,
    ) -> Result<(Standby, mpsc::Receiver<LinkEvent>), StandbyError> {
        cfg.validate()?;
        let listener = TcpListener::bind(addr).await.map_err(|source| StandbyError::Bind { addr, source })?;
        let local_addr = listener.local_addr().map_err(|source| StandbyError::Bind { addr, source })?;
        let (events, rx) = Events::channel();
        let shared = Arc::new(Shared {
            replica: Arc::new(Mutex::new(Replica {
                hook: Box::new(hook),
                tcbs: HashMap::new(),
                session: None,
                applied: 0,
                sync: None,
                unsynced_data: false,
                held_sent: HashMap::new(),
                held_limit: HashMap::new(),
            })),
            counters: Counters::default(),
            events: events.clone(),
            liveness: Arc::new(Liveness::new()),
            epoch: EpochWatch::new(epoch),
            epoch_changed: Notify::new(),
            current: Mutex::new(None),
            session_version: 0.into(),
            promises: Mutex::new(Promising { on: cfg.promise.is_some(), last_sent_us: 0 }),
            cfg: cfg.clone(),
        });
        let monitor = AbortOnDrop(tokio::spawn(super::monitor_liveness(cfg, events, shared.liveness.clone())));
        let accept = AbortOnDrop(tokio::spawn(accept_loop(shared.clone(), listener)));
        tracing::info!(%local_addr, epoch, "standby listening for the primary");
        Ok((Standby { shared, local_addr, _accept: accept, _monitor: monitor }, rx))
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The stored copies (claim 23), as installed into the card.
    pub fn tcbs(&self) -> HashMap<u16, Tcb> {
        lock(&self.shared.replica).tcbs.clone()
    }

    /// Highest replication sequence stored.
    pub fn applied(&self) -> u64 {
        lock(&self.shared.replica).applied
    }

    /// An authenticated primary is connected.
    pub fn connected(&self) -> bool {
        lock(&self.shared.current).as_ref().is_some_and(|(_, task)| !task.0.is_finished())
    }

    /// Change our epoch and tell the primary at once. A primary older than
    /// our epoch is refused from then on (invariant 8).
    pub fn set_epoch(&self, epoch: u32) {
        self.shared.epoch.set(epoch);
        self.shared.epoch_changed.notify_waiters();
    }

    pub fn epoch(&self) -> u32 {
        self.shared.epoch.own()
    }

    /// The protocol version of the connected primary's session, if any.
    pub fn protocol_version(&self) -> Option<u16> {
        let v = self.shared.session_version.load(std::sync::atomic::Ordering::Relaxed);
        (v != 0 && self.connected()).then_some(v)
    }

    pub fn stats(&self) -> LinkStats {
        self.shared.counters.snapshot()
    }

    /// Stop answering the primary's heartbeats with promises (the detector
    /// fired, or this node is about to ask for the next epoch). Returns
    /// when the last promise went out (`authority::now_us`), if one did:
    /// no later one will.
    pub fn stop_promising(&self) -> Option<u64> {
        let mut p = lock(&self.shared.promises);
        p.on = false;
        Some(p.last_sent_us).filter(|t| *t != 0)
    }

    /// Promise again (a standby again after a lost or impossible campaign);
    /// only if this standby gives promises at all (`LinkConfig::promise`).
    pub fn resume_promising(&self) {
        lock(&self.shared.promises).on = self.shared.cfg.promise.is_some();
    }

    /// Whether heartbeats are answered with promises now.
    pub fn promising(&self) -> bool {
        lock(&self.shared.promises).on
    }

    /// When the last promise went out (`authority::now_us`), if ever.
    pub fn last_promise_sent_us(&self) -> Option<u64> {
        Some(lock(&self.shared.promises).last_sent_us).filter(|t| *t != 0)
    }

    /// End the running session (if any) but keep listening: on promotion,
    /// the old primary's stream ends while a newer primary can still reach
    /// this node and fence it (invariant 8). [`Standby::tcbs`] afterwards
    /// waits for an install in progress to finish.
    pub fn end_session(&self) {
        if let Some((_, session)) = lock(&self.shared.current).take() {
            drop(session);
        }
    }
}

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "accepting a replication connection");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let Ok(permit) = handshakes.clone().try_acquire_owned() else {
            shared.refuse(peer, RefuseReason::Busy, format!("{MAX_HANDSHAKES} handshakes already in progress"));
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let outcome = tokio::time::timeout(shared.cfg.handshake_timeout, handshake(&shared, stream, peer)).await;
            drop(permit);
            match outcome {
                Ok(Ok(conn)) => install_session(&shared, conn),
                Ok(Err((reason, detail))) => shared.refuse(peer, reason, detail),
                Err(_) => shared.refuse(peer, RefuseReason::Timeout, format!("no handshake within {:?}", shared.cfg.handshake_timeout)),
            }
        });
    }
}

type Refusal = (RefuseReason, String);

fn frame_refusal(e: wire::FrameError) -> Refusal {
    (RefuseReason::from(&e), e.to_string())
}

/// Hello → Welcome → Start. Only a peer holding the secret gets through:
/// the Start must carry an HMAC under a key bound to our fresh nonce.
async fn handshake(shared: &Shared, stream: TcpStream, peer: SocketAddr) -> Result<Authenticated, Refusal> {
    let cfg = &shared.cfg;
    stream.set_nodelay(true).map_err(|e| (RefuseReason::Io, e.to_string()))?;
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::with_capacity(64 * 1024, rd);
    // A Hello in any version we speak; the connection then runs in it (wire.rs, Versions).
    let mut inn = FrameCodec::new(&wire::hello_key(&cfg.secret), Direction::PrimaryToStandby).accepting(cfg.versions);
    let (msg, size) = inn.read(&mut rd).await.map_err(frame_refusal)?;
    shared.counters.received(size as u64);
    let version = inn.last_read_version().unwrap_or(cfg.versions.max);
    inn.set_version(version);
    let hello = match msg {
        Msg::Hello(h) if h.role == Role::Primary => h,
        other => return Err((RefuseReason::Protocol, format!("expected a primary's Hello, got {}", kind(&other)))),
    };
    if hello.layout != holdback_driver::regmap::VERSION {
        return Err((
            RefuseReason::LayoutMismatch,
            format!("TCB layout {} on the primary, {} here", hello.layout, holdback_driver::regmap::VERSION),
        ));
    }
    let own = shared.epoch.own();
    if !RULES.admits_primary(own, hello.epoch) {
        return Err((RefuseReason::StaleEpoch, format!("primary runs epoch {}, ours is {own}", hello.epoch)));
    }
    let mut nonce = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let resume = lock(&shared.replica).resume_point();
    let mut out = FrameCodec::new(&wire::welcome_key(&cfg.secret, &hello.nonce), Direction::StandbyToPrimary).in_version(version);
    let welcome = Welcome { node_id: cfg.node_id, epoch: own, role: Role::Standby, nonce, resume };
    let mut buf = Vec::new();
    out.encode(&Msg::Welcome(welcome), &mut buf).map_err(frame_refusal)?;
    wr.write_all(&buf).await.map_err(|e| (RefuseReason::Io, e.to_string()))?;
    shared.counters.sent(1, buf.len() as u64);
    let key = wire::connection_key(&cfg.secret, &hello.nonce, &nonce);
    out.rekey(&key);
    inn.rekey(&key);
    let (msg, size) = inn.read(&mut rd).await.map_err(frame_refusal)?;
    shared.counters.received(size as u64);
    let expect = match msg {
        Msg::Start(Start::FullSync) => None,
        Msg::Start(Start::Resume { from }) => match resume {
            Some(rp) if rp.session == hello.session && rp.epoch == hello.epoch && from == rp.applied + 1 => Some(from),
            _ => return Err((RefuseReason::Protocol, format!("primary resumes from {from}, but our resume point is {resume:?}"))),
        },
        other => return Err((RefuseReason::Protocol, format!("expected Start, got {}", kind(&other)))),
    };
    // Authenticated: only now may this peer count as heard, or report an epoch.
    shared.epoch.hear(hello.epoch, &shared.events);
    shared.session_version.store(version, std::sync::atomic::Ordering::Relaxed);
    tracing::info!(%peer, version, speaks = %cfg.versions, "replication handshake: the connection runs protocol version {version}");
    Ok(Authenticated {
        peer,
        rd,
        wr,
        inn,
        out,
        stream: (hello.session, hello.epoch),
        peer_node: hello.node_id,
        peer_epoch: hello.epoch,
        expect,
    })
}

/// A newly authenticated primary replaces the running session (the primary
/// dials again only after it gave up the previous connection).
fn install_session(shared: &Arc<Shared>, conn: Authenticated) {
    let mut current = lock(&shared.current);
    if let Some((old_peer, old)) = current.take() {
        if !old.0.is_finished() {
            tracing::info!(%old_peer, new_peer = %conn.peer, "a newly authenticated primary replaces the running session");
            shared.events.emit(LinkEvent::Disconnected { peer: old_peer, reason: "replaced by a new connection".into() });
        }
        drop(old);
    }
    let peer = conn.peer;
    let task = tokio::spawn(run_session(shared.clone(), conn));
    *current = Some((peer, AbortOnDrop(task)));
}

async fn run_session(shared: Arc<Shared>, conn: Authenticated) {
    let peer = conn.peer;
    let reason = session(&shared, conn).await;
    tracing::warn!(%peer, %reason, "replication session with the primary ended");
    shared.events.emit(LinkEvent::Disconnected { peer, reason });
}

/// Receive updates, install them in order on a blocking thread, acknowledge
/// what is installed, and heartbeat. Returns why the session ended.
async fn session(shared: &Arc<Shared>, conn: Authenticated) -> String {
    let Authenticated { peer, rd, mut wr, inn, mut out, stream, peer_node, peer_epoch, mut expect } = conn;
    shared.liveness.heard();
    // Counted when the session starts, as the primary counts its side.
    let started = if expect.is_some() { &shared.counters.resumes } else { &shared.counters.full_syncs };
    started.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    shared.events.emit(LinkEvent::Connected { peer, peer_node, peer_epoch, resumed: expect.is_some() });
    tracing::info!(%peer, primary = peer_node, resumed = expect.is_some(), "replicating from the primary");

    let (tx, mut rx) = mpsc::channel(APPLY_BATCH);
    let mut reader = AbortOnDrop(tokio::spawn(read_frames(shared.clone(), rd, inn, tx)));
    let mut pending: Vec<(u64, Update)> = Vec::new();
    let mut applying: Option<tokio::task::JoinHandle<Applied>> = None;
    let mut acked = 0u64;
    let mut buf = Vec::new();
    let mut tick = tokio::time::interval(shared.cfg.heartbeat_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The stamp of the latest PromiseAsk not answered yet.
    let mut asked: Option<u64> = None;
    loop {
        if applying.is_none() && !pending.is_empty() {
            let batch = std::mem::take(&mut pending);
            let replica = shared.replica.clone();
            applying = Some(tokio::task::spawn_blocking(move || lock(&replica).apply_batch(stream, batch)));
        }
        let send_heartbeat = tokio::select! {
            msg = rx.recv(), if pending.len() < APPLY_BATCH => {
                let Some(mut msg) = msg else {
                    return match (&mut reader.0).await {
                        Ok(reason) => reason,
                        Err(e) => format!("frame reader failed: {e}"),
                    };
                };
                loop {
                    match msg {
                        Msg::Update { rseq, update } => {
                            if let Some(e) = expect.filter(|e| *e != rseq) {
                                return format!("update {rseq} arrived, expected {e}");
                            }
                            if expect.is_none() && !matches!(update, Update::SyncBegin { .. }) {
                                return format!("update {rseq} is not the SyncBegin the full sync starts with");
                            }
                            expect = Some(rseq + 1);
                            pending.push((rseq, update));
                        }
                        Msg::Heartbeat { epoch } => {
                            shared.epoch.hear(epoch, &shared.events);
                        }
                        Msg::PromiseAsk { epoch, sent_us } => {
                            shared.epoch.hear(epoch, &shared.events);
                            asked = Some(sent_us);
                        }
                        other => return format!("unexpected {} from the primary", kind(&other)),
                    }
                    if pending.len() >= APPLY_BATCH {
                        break;
                    }
                    match rx.try_recv() {
                        Ok(next) => msg = next,
                        Err(_) => break,
                    }
                }
                false
            }
            done = async { applying.as_mut().expect("guarded by is_some").await }, if applying.is_some() => {
                applying = None;
                let done = match done {
                    Ok(done) => done,
                    Err(e) => return format!("installing copies failed: {e}"),
                };
                if done.applied > acked {
                    // Invariant 2: the hook returned Ok for everything up to
                    // `applied`; only now does the acknowledgement go out.
                    acked = done.applied;
                    if let Err(e) = out.encode(&Msg::Ack { applied: acked }, &mut buf) {
                        return e.to_string();
                    }
                    if let Err(reason) = write(shared, &mut wr, &mut buf).await {
                        return reason;
                    }
                }
                if let Some(tcbs) = done.synced {
                    tracing::info!(tcbs, "full sync stored");
                    shared.events.emit(LinkEvent::Synced { tcbs });
                }
                if let Some(error) = done.error {
                    if matches!(error, ApplyError::Inconsistent { .. }) {
                        // An authenticated peer sent what no primary
                        // could have: counted, like a refused connection.
                        shared.counters.refused(RefuseReason::Misfit);
                    }
                    return error.to_string();
                }
                false
            }
            _ = tick.tick() => {
                if let Some(silent) = shared.liveness.silent_for().filter(|s| *s >= shared.cfg.peer_timeout()) {
                    return format!("nothing heard from the primary for {silent:?}");
                }
                true
            }
            _ = shared.epoch_changed.notified() => true,
            _ = shared.liveness.lost.notified() => {
                return format!("nothing heard from the primary for {:?}", shared.cfg.peer_timeout());
            }
        };
        if let Some(sent_us) = asked.take() {
            if let Some(promise) = promise_now(shared) {
                let answer = Msg::Promise { epoch: shared.epoch.own(), sent_us, promise_us: promise.as_micros() as u64 };
                if let Err(e) = out.encode(&answer, &mut buf) {
                    return e.to_string();
                }
                if let Err(reason) = write(shared, &mut wr, &mut buf).await {
                    return reason;
                }
            }
        }
        if send_heartbeat {
            if let Err(e) = out.encode(&Msg::Heartbeat { epoch: shared.epoch.own() }, &mut buf) {
                return e.to_string();
            }
            if let Err(reason) = write(shared, &mut wr, &mut buf).await {
                return reason;
            }
        }
    }
}

/// The promise to give now, if this standby still promises; its time is
/// recorded under the same lock [`Standby::stop_promising`] takes. It is
/// taken after the ask arrived, so after the primary sent it: the primary's
/// end of the promise comes before ours (docs/authority.md, Clocks).
fn promise_now(shared: &Shared) -> Option<std::time::Duration> {
    let promise = shared.cfg.promise?;
    let mut p = lock(&shared.promises);
    if !p.on {
        return None;
    }
    p.last_sent_us = crate::authority::now_us();
    Some(promise)
}

async fn write(shared: &Shared, wr: &mut OwnedWriteHalf, buf: &mut Vec<u8>) -> Result<(), String> {
    wr.write_all(buf).await.map_err(|e| format!("writing to the primary: {e}"))?;
    shared.counters.sent(1, buf.len() as u64);
    buf.clear();
    Ok(())
}

/// Read frames of the authenticated session into the queue; returns why
/// reading stopped.
async fn read_frames(shared: Arc<Shared>, mut rd: BufReader<OwnedReadHalf>, mut inn: FrameCodec, tx: mpsc::Sender<Msg>) -> String {
    loop {
        let (msg, size) = match inn.read(&mut rd).await {
            Ok(m) => m,
            Err(e) => return format!("reading from the primary: {e}"),
        };
        shared.liveness.heard();
        shared.counters.received(size as u64);
        // While the installer is behind, the queue is full and this waits.
        // The primary is not silent then — its frames are waiting on us —
        // so keep its liveness fresh rather than declare it lost.
        let mut send = std::pin::pin!(tx.send(msg));
        loop {
            tokio::select! {
                sent = &mut send => {
                    if sent.is_err() {
                        return "session ended".into();
                    }
                    break;
                }
                _ = tokio::time::sleep(shared.cfg.heartbeat_interval) => shared.liveness.heard(),
            }
        }
    }
}
