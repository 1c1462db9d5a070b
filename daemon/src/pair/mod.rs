//! The daemon's half of a failover pair (the invariants in docs/).
//!
//! - **Active** (`role = "active"` with `[replication]`): first listens as
//!   a standby for one rejoin window (peer timeout + a reconnect + a
//!   heartbeat, [`rejoin_window`]): if an authenticated primary connects —
//!   its epoch is never older than ours, the handshake refuses that — a
//!   promoted peer is running, so this daemon is a returning old primary
//!   and stays a standby (invariant 8: only one card speaks).
//!   Otherwise a [`Primary`] dials the standby; the sink ships every changed
//!   TCB through it and, with the `replica` gate, writes a release only
//!   after the standby acknowledged the copy carrying it (claim 24,
//!   invariant 2). Hearing of a newer epoch puts the card back in standby —
//!   silent — and the gate then releases nothing (invariant 8). Its
//!   listener stays up (refusing copies): see *Two actives* below.
//! - **Standby** (`role = "standby"`, or a returning active): the card is
//!   silent (CTRL.standby, set before the card is enabled); a [`Standby`]
//!   accepts the primary, keeps the copies in memory (claim 23) and writes
//!   each into the card before acknowledging it; it adopts the primary's
//!   epoch, so its own promotion goes one higher. Heartbeat loss (claims 36,
//!   37; `detector = "heartbeat"`) or a `promote` request (`holdback
//!   promote` / `holdback watch`, claims 21, 22) promotes it: a new epoch,
//!   the card's PROMOTE walk resumes every connection from R (invariant 3),
//!   announces the address with a gratuitous ARP and — with `dup_acks` —
//!   sends one ACK at R and three duplicates per connection; then the
//!   daemon's sink starts.
//! - **Promoted**: replicates to its configured `peer` (the old primary's
//!   `listen`) at the new epoch — full sync, then deltas — so a returning
//!   old primary joins as its standby. Until that standby is `Replicating`
//!   the pair is *degraded*: releases are not held for an acknowledgement
//!   nobody can give (the service keeps serving; status says so). Once it
//!   is, the configured gate applies again (the serve loop restarts the sink
//!   with [`Pair::end_degraded`]'s gate): a second failover is then as safe
//!   as the first. Its listener stays up in the new epoch (see below).
//!
//! ## Two actives (split brain, invariant 8)
//!
//! The heartbeat detector promotes a standby whose link was cut while the
//! primary lives, and an old primary can come back active after an empty
//! rejoin window: two active cards, one address. So an active or promoted
//! daemon keeps its replication listener on `listen`; its store refuses
//! copies while the card speaks. The promoted node's [`Primary`] dials
//! `peer` — the old primary's listener — and once the link is back, that
//! primary authenticates there ([`Pair::primary_heard`]): its epoch is
//! never older than the listener's (the handshake refuses `StaleEpoch`).
//! Newer: this daemon yields — card silent, the epoch recorded, its own
//! [`Primary`] shut down (the sink's waits end, nothing more is released),
//! then the serve loop stops the sink and it becomes that primary's
//! standby ([`Pair::rejoin_as_standby`]: takes its copies, promotable
//! again). Equal epochs (both came up active): the daemon whose `listen`
//! address is lower than its `peer` yields — both compute the same answer
//! when each one's `peer` is the other's `listen` (an unspecified `listen`
//! makes both yield: silent, safe, promoted again by the detector or an
//! operator). The old primary's own [`Primary`] dialling the promoted node
//! learns nothing: the refusal of a stale Hello closes the connection
//! before the Welcome that would carry the epoch.
//!
//! ## The epoch on disk
//!
//! Each daemon keeps `seen` (the highest epoch it has seen or held) and
//! `held_active` (the highest it held as active or promoted) in its
//! `[replication] state_file` ([`crate::pair::epoch`]), written atomically
//! *before* the epoch is acted on: before the card is promoted (a failed
//! write refuses the promotion), before taking the active role after an
//! empty rejoin window (a failed write fails the start), when a standby
//! adopts a primary's epoch (a failed write is logged; the epoch is adopted
//! in memory anyway, which only refuses more). A primary that hears of a
//! newer epoch silences its card first and then records the epoch: every
//! moment its card speaks beside a newer primary breaks invariant 8, and a
//! crash between the two steps leaves the same record either way. A
//! corrupt file stops the start with an error naming it, never epoch 1.
//!
//! A daemon starts in epoch `max(seen, 1)`; its standby listener refuses
//! primaries older than that (`StaleEpoch`), and its own promotion goes one
//! higher. Then, by configured role and record:
//!
//! | configured | record | rejoin window | result |
//! |---|---|---|---|
//! | standby | any | — | standby in `seen` (a promoted node restarted keeps its epoch; an older primary is refused and, told our epoch, fences itself) |
//! | active | any | a primary (epoch ≥ `seen`) connects | standby, adopts its epoch, status reason "joined a running primary" |
//! | active | `seen == held_active` (or no file) | empty | active in `max(seen, 1)`, recorded first |
//! | active | `seen > held_active` | empty | **standby, silent**, reason in log and status: it was fenced, or it returned, joined a promoted node and restarted — that node may still speak for the address. It waits for a primary to connect, or `holdback promote` (epoch `seen + 1`); the heartbeat detector cannot promote it, as it never heard a primary |
//!
//! What the file cannot close: a primary killed before it learnt of the
//! promotion (`seen == held_active`) whose promoted peer cannot reach it
//! for the whole window still comes up active in its old epoch; it yields
//! as soon as the promoted node's link reaches its listener (*Two actives*),
//! but until then both speak — the switch-side detector (claims 38-40) or
//! a longer window has to cover that gap. Deleting the file makes a daemon
//! fresh again.
#[cfg(feature = "etcd")]
mod authority;
pub mod decide;
pub mod epoch;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use holdback_driver::{Bar, CardError, CardHandle, Tcb};
use tokio::sync::{mpsc, oneshot, Notify};

use crate::config::{Authority as AuthorityConfig, Detector, Gate, Replication, ReplicateMode, Role, StoreMode, SyncMode};
use crate::events::EventPump;
use crate::control::{HandOver, PairLink, PairRole, PairStatus, Response};
use crate::pair::decide::{EpochHeard, HeardOn, TakeOverRefusal, RULES};
use crate::pair::epoch::{EpochFile, EpochFileError, EpochRecord};
use crate::replication::{self, HookError, LinkConfig, LinkEvent, LinkState, Primary, Standby, StoreHook};
use crate::sink::{ReplicaGate, SinkStats, StandbyCaughtUp};

/// The epoch a pair starts in; each promotion adds one.
pub const FIRST_EPOCH: u32 = 1;
/// Longest the card's PROMOTE walk may take (N TCBs; the simulated card is
/// slower than hardware).
const PROMOTE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a promotion or a hand-over waits for the card's event queue to
/// bring the mirror up to the card's TCBs.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest pause between two promotion attempts of a standby whose
/// primary is lost while etcd cannot be reached.
pub const PROMOTION_RETRY_MAX: Duration = Duration::from_secs(2);

/// The pause before the detector's promotion is tried again after etcd
/// could not be reached `failed` times in a row: one heartbeat interval,
/// doubling, at most [`PROMOTION_RETRY_MAX`].
fn promotion_retry_after(heartbeat: Duration, failed: u32) -> Duration {
    heartbeat.saturating_mul(1 << failed.min(16)).min(PROMOTION_RETRY_MAX)
}

/// What status says while a promoted daemon has no standby acknowledging.
const DEGRADED: &str = "degraded: no standby acknowledgement (releases are not held for a standby until one is Replicating again)";

#[derive(Debug, thiserror::Error)]
pub enum PairError {
    #[error("replication link settings")]
    Link(#[from] replication::ConfigError),
    #[error("standby replication listener")]
    Standby(#[from] replication::standby::StandbyError),
    #[error("card")]
    Card(#[from] CardError),
    #[error("this daemon is {0}, not a standby: nothing to promote")]
    NotStandby(PairRole),
    #[error("the pair's epoch record (invariant 8)")]
    Epoch(#[from] EpochFileError),
    #[error("no hand-over to the standby: {0}")]
    HandOver(String),
    #[error("the standby's own store (`store = \"replicated\"`)")]
    Store(#[from] crate::sink::StoreError),
    #[error("the etcd authority: {0}")]
    Authority(String),
    #[error("the etcd authority could not be reached: {0}")]
    AuthorityUnreachable(String),
}

/// Installs replicated copies into the standby card (claim 23 → card).
/// The listener stays up while this daemon is active or promoted, so a
/// newer primary can reach it; until it has yielded (card silent, sink
/// stopped), its gate is closed and every copy is refused: the session
/// ends and that primary dials again.
struct CardStore<B: Bar> {
    card: Arc<CardHandle<B>>,
    accepts: CopyGate,
    /// `store = "replicated"`: the stream bytes go into this daemon's own
    /// `sink_dir` (invariant 3 across two hosts).
    files: Option<crate::sink::StoreFiles>,
}

#[derive(Debug, thiserror::Error)]
#[error("this card is active: it takes a primary's copies only after it has yielded to it (invariant 8)")]
struct CardIsActive;

/// A free TCB in the card's own epoch: the card refuses a TCB older than
/// its EPOCH (docs/authority.md), and a clear is this host's own decision.
fn cleared_tcb<B: Bar>(card: &CardHandle<B>) -> Result<Tcb, CardError> {
    Ok(Tcb { epoch: card.epoch()?, ..Tcb::closed() })
}

/// Whether the listener's [`CardStore`] may write copies into the card,
/// and the lock every write of a copy holds. A TCB goes into the card word
/// by word; closing the gate waits for the write under way, so the card
/// that starts to speak holds every copy whole — never a copy that a
/// promotion cut in half, part one copy's words and part another's.
#[derive(Clone)]
struct CopyGate(Arc<Mutex<bool>>);

impl CopyGate {
    fn open_now() -> CopyGate {
        CopyGate(Arc::new(Mutex::new(true)))
    }

    /// From now on copies are written (a standby again).
    fn open(&self) {
        *lock(&self.0) = true;
    }

    /// From now on no copy is written; returns once none is being written.
    fn close(&self) {
        *lock(&self.0) = false;
    }

    /// Runs `write` while the gate is open, holding it open until done.
    fn write<T>(&self, write: impl FnOnce() -> Result<T, HookError>) -> Result<T, HookError> {
        let open = lock(&self.0);
        if !*open {
            return Err(Box::new(CardIsActive));
        }
        write()
    }
}

impl<B: Bar + 'static> StoreHook for CardStore<B> {
    fn install(&mut self, id: u16, tcb: &Tcb) -> Result<(), HookError> {
        let card = &self.card;
        self.accepts.write(|| card.write_tcb(id, tcb).map_err(|e| Box::new(e) as HookError))
    }
    fn remove(&mut self, id: u16) -> Result<(), HookError> {
        let card = &self.card;
        self.accepts.write(|| {
            let cleared = cleared_tcb(card).map_err(|e| Box::new(e) as HookError)?;
            card.write_tcb(id, &cleared).map_err(|e| Box::new(e) as HookError)
        })
    }
    fn write_data(&mut self, id: u16, tcb: &Tcb, offset: u64, bytes: &[u8]) -> Result<(), HookError> {
        let files = &mut self.files;
        self.accepts.write(|| {
            let Some(files) = files.as_mut() else {
                return Err(format!("stream bytes for TCB {id}, but this daemon has store = \"shared\": the primary ships them only with store = \"replicated\" (set the same on both)").into());
            };
            files.write_at(tcb, offset, bytes).map_err(|e| crate::error::chain(&e).into())
        })
    }
    fn tx_ring_bytes(&self) -> Option<u32> {
        self.card.tx_ring_bytes().ok()
    }
    fn write_sent(&mut self, id: u16, _tcb: &Tcb, offset: u64, bytes: &[u8]) -> Result<(), HookError> {
        // Into the transmit ring in host memory, where the card reads what
        // it sends after a promotion (invariant 9); the card itself stays
        // silent until then.
        let card = &self.card;
        self.accepts.write(|| card.write_tx_ring(id, offset, bytes).map_err(|e| Box::new(e) as HookError))
    }
    fn sync_data(&mut self) -> Result<(), HookError> {
        match self.files.as_mut() {
            Some(files) => files.sync().map_err(|e| crate::error::chain(&e).into()),
            None => Ok(()),
        }
    }
}

impl From<LinkState> for PairLink {
    fn from(s: LinkState) -> PairLink {
        match s {
            LinkState::Down => PairLink::Down,
            LinkState::Syncing => PairLink::Syncing,
            LinkState::Replicating => PairLink::Replicating,
            LinkState::Fenced => PairLink::Fenced,
            LinkState::Shutdown => PairLink::Shutdown,
        }
    }
}

struct State {
    role: PairRole,
    epoch: u32,
    /// The standby link's last figures, kept when promotion closes it.
    closed_link: Option<(u64, u64, replication::LinkStats)>,
    promoted_unix_ms: Option<u64>,
    promote_took_us: Option<u64>,
    /// Promoted and the configured gate would wait for a standby, but none
    /// is `Replicating` yet: the sink ships copies without waiting.
    degraded: bool,
    /// Why the promoted daemon does not replicate at all (its link could
    /// not start), for status.
    not_replicating: Option<String>,
    /// Why this role (configured active but standby; fenced), for status.
    reason: Option<String>,
    /// Fenced by a primary that reached our listener, in this epoch: the
    /// serve loop stops the sink, then [`Pair::rejoin_as_standby`].
    yielding: Option<u32>,
    /// Handed over to the standby (planned switchover) from this role: the
    /// card is silent until the promoted standby reaches our listener, or
    /// [`Pair::resume_after_hand_over`] if the takeover did not happen.
    handed_over: Option<PairRole>,
    /// The last promotion failed only because etcd could not be reached:
    /// a standby whose detector fired tries again by itself.
    promotion_unreachable: bool,
}

impl State {
    /// The one place the role changes, logged `role=standby=>promoted epoch=2 reason=…`
    /// (the epoch is the one the new role holds).
    fn set_role(&mut self, role: PairRole, reason: &str) {
        tracing::warn!("role={}=>{} epoch={} reason={reason}", self.role, role, self.epoch);
        self.role = role;
    }
}

/// One daemon's pair membership.
pub struct Pair<B: Bar> {
    card: Arc<CardHandle<B>>,
    /// The daemon's event pump: a promotion and a hand-over read TCBs from
    /// the card's mirror once it has taken every record.
    events: Arc<EventPump<B>>,
    cfg: Replication,
    link: LinkConfig,
    /// `seen` / `held_active` on disk, written before acting on an epoch.
    epochs: EpochFile,
    state: Mutex<State>,
    /// The link to the standby (active, or promoted: to the returning peer).
    primary: Mutex<Option<Arc<Primary>>>,
    /// The replication listener, kept in every role: as a standby it takes
    /// the primary's copies; active or promoted, it is how a newer primary
    /// (or an equal one that wins the tie-break) reaches and fences us.
    standby: Mutex<Option<Standby>>,
    /// The listener's [`CardStore`] installs copies (standby roles only).
    accepts_copies: CopyGate,
    /// Set by the sink once the standby holds its backlog after the last
    /// full sync: only then is the pair `Replicating` ([`Pair::standby_holds_all`]).
    caught_up: StandbyCaughtUp,
    /// Woken when a promoted daemon's new standby finished its full sync:
    /// the serve loop then ends the degraded mode ([`Pair::end_degraded`]).
    standby_back: Notify,
    /// Woken when this daemon yielded to a primary on its listener: the
    /// serve loop stops the sink, then calls [`Pair::rejoin_as_standby`].
    yielded: Notify,
    /// `[authority] kind = "etcd"` (docs/authority.md).
    #[cfg(feature = "etcd")]
    etcd: Option<Arc<crate::authority::node::Authority>>,
    /// The holder's duties (lease register, confirmations, watch).
    duties: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl<B: Bar> Drop for Pair<B> {
    fn drop(&mut self) {
        for task in lock(&self.duties).drain(..) {
            task.abort();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn link_config(cfg: &Replication, card_ip: std::net::Ipv4Addr, authority: &AuthorityConfig, app_sends: bool, timestamps: bool, relays: bool) -> LinkConfig {
    let mut link = LinkConfig::new(cfg.secret.clone(), (u64::from(u32::from(card_ip)) << 32) | u64::from(std::process::id()));
    link.heartbeat_interval = cfg.heartbeat;
    link.heartbeat_misses = cfg.heartbeat_misses;
    link.versions =
        replication::wire::Versions::for_store(cfg.store == StoreMode::Replicated).for_sending(app_sends).for_timestamps(timestamps).for_relay(relays);
    if let AuthorityConfig::Etcd(a) = authority {
        // The active node may speak on its standby's promise alone, so
        // every session must carry promises (docs/authority.md).
        link.promise = Some(a.promise);
        link.versions = link.versions.for_authority(true);
    }
    link
}

/// Connects to etcd for `kind = "etcd"`; `None` for the pair authority.
#[cfg(feature = "etcd")]
async fn connect_authority(authority: &AuthorityConfig) -> Result<Option<Arc<crate::authority::node::Authority>>, PairError> {
    match authority {
        AuthorityConfig::Pair => Ok(None),
        AuthorityConfig::Etcd(s) => crate::authority::node::Authority::connect(s)
            .await
            .map(|a| Some(Arc::new(a)))
            .map_err(|e| PairError::Authority(crate::error::chain(&e))),
    }
}

/// How long a daemon configured active listens as a standby before it takes
/// the active role: a promoted peer dials at least every `reconnect_delay`
/// and its heartbeats come every interval, so one peer timeout plus one
/// reconnect plus one heartbeat covers a running peer (with the defaults,
/// 300 + 100 + 100 = 500 ms of first-start cost; the lab's 3 × 50 ms: 300 ms).
pub fn rejoin_window(link: &LinkConfig) -> Duration {
    link.peer_timeout() + link.reconnect_delay + link.heartbeat_interval
}

/// What [`Pair::promote`] did; `link_events` come from the new link to
/// the configured peer (hand them to [`run_events`]).
pub struct Promotion {
    pub what: String,
    pub link_events: Option<mpsc::Receiver<LinkEvent>>,
}

/// What a daemon configured active does when no primary connected within
/// its rejoin window, by its record.
#[derive(Debug, PartialEq, Eq)]
enum EmptyWindow {
    /// It was the last active card it knows of (or is fresh).
    TakeActive { epoch: u32 },
    /// It knows of a newer epoch than it last held active: another card
    /// was promoted and may still speak (invariant 8).
    StayStandby { reason: String },
}

fn after_an_empty_window(record: EpochRecord, file: &std::path::Path) -> EmptyWindow {
    if let Some(epoch) = RULES.active_after_empty_window(record) {
        return EmptyWindow::TakeActive { epoch };
    }
    let held = match record.held_active {
        0 => "never held the active role".to_string(),
        e => format!("last held the active role in epoch {e}"),
    };
    EmptyWindow::StayStandby {
        reason: format!(
            "configured active, but this daemon {held} and has seen epoch {} since ({}): a promoted card may still speak for the address, so this one stays a silent standby until a primary connects or `holdback promote`",
            record.seen,
            file.display()
        ),
    }
}

/// Two actives in one epoch: the one whose `listen` is lower than its
/// `peer` yields. Each daemon's `peer` is the other's `listen`, so exactly
/// one of them yields (the config refuses `listen == peer`).
fn yields_an_epoch_tie(listen: std::net::SocketAddr, peer: std::net::SocketAddr) -> bool {
    listen < peer
}

/// How the rejoin window ended.
enum Heard {
    /// An authenticated primary connected in this epoch.
    Primary { epoch: u32 },
    Nobody,
}

/// Waits up to `window` for an authenticated primary on the standby
/// listener; every event is logged as [`run_events`] would.
async fn listen_for_primary(standby: &Standby, events: &mut mpsc::Receiver<LinkEvent>, window: Duration) -> Heard {
    let deadline = tokio::time::Instant::now() + window;
    let mut newer: Option<u32> = None;
    loop {
        tokio::select! {
            ev = events.recv() => {
                let Some(ev) = ev else { break };
                log_event(&ev);
                match ev {
                    LinkEvent::Connected { peer_epoch, .. } => return Heard::Primary { epoch: peer_epoch },
                    // Reported only once the peer authenticated (its Start
                    // was good): a primary in a newer epoch is there even if
                    // its session has not begun yet.
                    LinkEvent::NewerEpoch { peer, .. } => newer = Some(newer.unwrap_or(0).max(peer)),
                    _ => {}
                }
            }
            _ = tokio::time::sleep_until(deadline) => break,
        }
    }
    if standby.connected() || newer.is_some() {
        return Heard::Primary { epoch: newer.unwrap_or(standby.epoch()) };
    }
    Heard::Nobody
}

impl<B: Bar + 'static> Pair<B> {
    fn new(
        events: Arc<EventPump<B>>,
        cfg: &Replication,
        link: LinkConfig,
        epochs: EpochFile,
        // The role it starts in, its epoch, and why (when not the configured one).
        (role, epoch, reason): (PairRole, u32, Option<String>),
        standby: Standby,
        accepts_copies: CopyGate,
        #[cfg(feature = "etcd")] etcd: Option<Arc<crate::authority::node::Authority>>,
    ) -> Pair<B> {
        tracing::warn!("role=none=>{role} epoch={epoch} reason={}", reason.as_deref().unwrap_or("configured"));
        Pair {
            card: events.card().clone(),
            events,
            cfg: cfg.clone(),
            link,
            epochs,
            state: Mutex::new(State {
                role,
                epoch,
                closed_link: None,
                promoted_unix_ms: None,
                promote_took_us: None,
                degraded: false,
                not_replicating: None,
                reason,
                yielding: None,
                handed_over: None,
                promotion_unreachable: false,
            }),
            primary: Mutex::new(None),
            standby: Mutex::new(Some(standby)),
            accepts_copies,
            caught_up: StandbyCaughtUp::default(),
            standby_back: Notify::new(),
            yielded: Notify::new(),
            #[cfg(feature = "etcd")]
            etcd,
            duties: Mutex::new(Vec::new()),
        }
    }

    /// Joins the pair. The card is configured, not yet enabled: a standby
    /// card is put in CTRL.standby here, before the caller enables it.
    /// `role = active` first listens for a running primary for the
    /// [`rejoin_window`] and stays a standby if one connects
    /// (invariant 8), or if its epoch record says another card was
    /// promoted after it last held the role (see the module docs). Must run
    /// inside the tokio runtime.
    /// `relays`: the card relays (`[[relay]]`), so the link carries send limits.
    #[allow(clippy::too_many_arguments)]
    pub async fn start(
        pump: Arc<EventPump<B>>,
        cfg: &Replication,
        role: Role,
        card_ip: std::net::Ipv4Addr,
        authority: &AuthorityConfig,
        app_sends: bool,
        timestamps: bool,
        relays: bool,
    ) -> Result<(Arc<Pair<B>>, PairEvents), PairError> {
        let card = pump.card().clone();
        let link = link_config(cfg, card_ip, authority, app_sends, timestamps, relays);
        #[cfg(feature = "etcd")]
        let etcd = connect_authority(authority).await?;
        #[cfg(not(feature = "etcd"))]
        if let AuthorityConfig::Etcd(_) = authority {
            return Err(PairError::Authority("this daemon was built without the etcd feature".into()));
        }
        let epochs = EpochFile::open(&cfg.state_file)?;
        let record = epochs.record();
        let epoch = record.seen.max(FIRST_EPOCH);
        tracing::info!(file = %cfg.state_file.display(), seen = record.seen, held_active = record.held_active, epoch, "pair epoch record read");
        // Silent until we know no other card speaks for the address.
        card.set_standby(true)?;
        card.set_epoch(epoch)?;
        let accepts = CopyGate::open_now();
        let files = match cfg.store {
            StoreMode::Replicated => Some(crate::sink::StoreFiles::new(&cfg.store_dir)?),
            StoreMode::Shared => None,
        };
        let store = CardStore { card: card.clone(), accepts: accepts.clone(), files };
        let (standby, mut events) = Standby::bind(link.clone(), cfg.listen, epoch, store).await?;
        let mut joined_epoch = None;
        let mut reason = None;
        if role == Role::Active {
            let window = rejoin_window(&link);
            tracing::info!(listen = %standby.local_addr(), ?window, "role active: listening for a running (promoted) primary before taking the active role");
            match listen_for_primary(&standby, &mut events, window).await {
                Heard::Primary { epoch: peer_epoch } => {
                    tracing::warn!(peer_epoch, "a primary is running: this daemon (configured active) joins as its standby; card silent");
                    joined_epoch = Some(peer_epoch);
                    reason = Some(format!("configured active; a primary in epoch {peer_epoch} was running when this daemon started: joined it as standby"));
                }
                Heard::Nobody => match after_an_empty_window(record, &cfg.state_file) {
                    EmptyWindow::StayStandby { reason: why } => {
                        tracing::warn!(?window, reason = %why, "no primary connected within the rejoin window, and this daemon must not take the active role (invariant 8): standby, card silent");
                        reason = Some(why);
                    }
                    EmptyWindow::TakeActive { epoch } => {
                        // With etcd the epoch is etcd's: taken only if nobody
                        // holds it, and the card speaks only after the wait.
                        #[cfg(feature = "etcd")]
                        let epoch = match &etcd {
                            Some(a) => {
                                standby.stop_promising();
                                authority::campaign_to_start(a, &card, record.seen).await
                            }
                            None => Ok(epoch),
                        };
                        #[cfg(not(feature = "etcd"))]
                        let epoch: Result<u32, String> = Ok(epoch);
                        match epoch {
                            Err(why) => {
                                tracing::error!(reason = %why, "no primary connected within the rejoin window, and etcd gave this daemon no epoch: standby, card silent");
                                standby.resume_promising();
                                reason = Some(why);
                            }
                            Ok(epoch) => {
                                // Recorded before the card speaks in this epoch.
                                epochs.note_active(epoch)?;
                                // The listener stays, refusing copies, so a newer
                                // primary can still fence us (invariant 8).
                                accepts.close();
                                card.set_epoch(epoch)?;
                                card.set_standby(false)?;
                                let (primary, primary_events) = Primary::start(link.clone(), cfg.peer, epoch)?;
                                tracing::info!(?window, peer = %cfg.peer, epoch, sync = ?cfg.sync, replicate = ?cfg.replicate,
                                    "no primary connected within the rejoin window: taking the active role, replicating to the standby");
                                let pair = Pair::new(
                                    pump,
                                    cfg,
                                    link,
                                    epochs,
                                    (PairRole::Active, epoch, None),
                                    standby,
                                    accepts,
                                    #[cfg(feature = "etcd")]
                                    etcd,
                                );
                                *lock(&pair.primary) = Some(Arc::new(primary));
                                let pair = Arc::new(pair);
                                pair.start_duties();
                                return Ok((pair, PairEvents { listener: events, primary: Some(primary_events) }));
                            }
                        }
                    }
                },
            }
        } else {
            tracing::info!(listen = %standby.local_addr(), epoch, detector = ?cfg.detector, "standby: card silent, waiting for the primary");
        }
        let pair = Pair::new(
            pump,
            cfg,
            link,
            epochs,
            (PairRole::Standby, epoch, reason),
            standby,
            accepts,
            #[cfg(feature = "etcd")]
            etcd,
        );
        if let Some(peer_epoch) = joined_epoch {
            pair.adopt_epoch(peer_epoch);
        }
        let pair = Arc::new(pair);
        pair.start_duties();
        Ok((pair, PairEvents { listener: events, primary: None }))
    }

    /// The etcd authority's duties for this pair's life (`authority::spawn_duties`).
    fn start_duties(self: &Arc<Self>) {
        #[cfg(feature = "etcd")]
        if let Some(etcd) = self.etcd.clone() {
            *lock(&self.duties) = authority::spawn_duties(self, etcd, self.cfg.heartbeat);
        }
    }

    /// Whether this daemon runs its sink now (active or promoted).
    pub fn runs_sink(&self) -> bool {
        matches!(lock(&self.state).role, PairRole::Active | PairRole::Promoted)
    }

    /// The configured gate waits for the standby's acknowledgement.
    fn gate_waits(&self, gates: &[Gate]) -> bool {
        gates.contains(&Gate::Replica) && self.cfg.sync == SyncMode::BeforeAck
    }

    /// The sink's gate (active or promoted side). `replica` in `gates` with
    /// `sync = before-ack` waits for acknowledgements — except while a
    /// promoted daemon is degraded; otherwise copies are shipped without
    /// holding the release (claim 32's asynchronous mode).
    pub fn sink_gate(&self, gates: &[Gate]) -> Option<ReplicaGate> {
        let link = lock(&self.primary).clone()?;
        let degraded = lock(&self.state).degraded;
        let wait = RULES.gate_waits(self.gate_waits(gates), degraded);
        Some(ReplicaGate {
            caught_up: (!degraded).then(|| self.caught_up.clone()),
            link,
            wait,
            timeout: self.cfg.ack_timeout,
            hold_synack: wait && self.cfg.replicate == ReplicateMode::AtSetup,
            durable: gates.contains(&Gate::App),
            ship_data: self.cfg.store == StoreMode::Replicated,
            after_data: self.cfg.replicate == ReplicateMode::AfterData,
        })
    }

    /// `replicate = at-setup` under a waiting replica gate: the card holds
    /// SYN-ACKs until the standby has the TCB (claim 31, invariant 6).
    pub fn holds_synack(&self, gates: &[Gate]) -> bool {
        self.sink_gate(gates).is_some_and(|g| g.hold_synack)
    }

    /// Whether a heartbeat loss promotes this daemon by itself.
    pub fn self_promotes(&self) -> bool {
        self.cfg.detector == Detector::Heartbeat
    }

    /// A standby whose last promotion failed only because etcd could not
    /// be reached, and whose primary is still gone: it should try again.
    fn promotion_worth_retrying(&self) -> bool {
        let again = {
            let st = lock(&self.state);
            st.promotion_unreachable && st.role == PairRole::Standby
        };
        again && !lock(&self.standby).as_ref().is_some_and(|s| s.connected())
    }

    /// The standby holds everything the primary's card acts on: the link
    /// acknowledged the full sync, the pair is not degraded, and the sink
    /// has since shipped what a full sync does not carry (transmit-ring
    /// bytes, a replicated store) and had it acknowledged. A promotion
    /// before that would resume connections from state the standby lacks.
    fn standby_holds_all(&self, primary: &Primary, degraded: bool) -> bool {
        primary.state() == LinkState::Replicating && !degraded && self.caught_up.after(primary.sync_generation())
    }

    /// Resolves when a promoted daemon's returning standby finished its
    /// full sync (then call [`Pair::end_degraded`]).
    pub async fn standby_returned(&self) {
        self.standby_back.notified().await
    }

    /// A promoted daemon whose standby is `Replicating` again leaves the
    /// degraded mode: returns the configured (waiting) gate for a new sink,
    /// or `None` if there is nothing to change.
    pub fn end_degraded(&self, gates: &[Gate]) -> Option<ReplicaGate> {
        let replicating = lock(&self.primary).as_ref().is_some_and(|p| p.state() == LinkState::Replicating);
        {
            let mut st = lock(&self.state);
            if !(st.role == PairRole::Promoted && st.degraded && replicating) {
                return None;
            }
            st.degraded = false;
        }
        tracing::info!("the standby is replicating again: releases wait for its acknowledgement (invariant 2), no longer degraded");
        self.sink_gate(gates)
    }

    /// A primary in `epoch` replicates to this standby: adopt it, so a
    /// stale primary is refused from now on and our own promotion goes one
    /// higher (invariant 8). Recorded on disk first (blocking: fsync), so a
    /// restart does not start below it.
    fn adopt_epoch(&self, epoch: u32) {
        let mut st = lock(&self.state);
        if RULES.epoch_heard(st.role, st.epoch, epoch, HeardOn::Listener, false) != EpochHeard::Adopt {
            return;
        }
        if let Err(e) = self.epochs.note_seen(epoch) {
            tracing::error!(epoch, error = %crate::error::chain(&e),
                "could not record the adopted epoch: adopting it in memory only (a restart would start from the older one)");
        }
        tracing::info!(from = st.epoch, to = epoch, "standby adopts the primary's epoch");
        st.epoch = epoch;
        if let Some(s) = lock(&self.standby).as_ref() {
            s.set_epoch(epoch);
        }
    }

    /// Promote the standby card (blocking: card register round trips), then
    /// start replicating to the configured peer at the new epoch so the
    /// old primary can come back as our standby. Call on a blocking thread
    /// of the tokio runtime (the new link runs on it).
    pub fn promote(&self, gates: &[Gate]) -> Result<Promotion, PairError> {
        let role = lock(&self.state).role;
        if role != PairRole::Standby {
            return Err(PairError::NotStandby(role));
        }
        // The new epoch is recorded before anything acts on it (invariant
        // 8): if it cannot be, this daemon stays the standby it is.
        let mut epoch = {
            let (listener, highest_copy) =
                lock(&self.standby).as_ref().map_or((0, 0), |s| (s.epoch(), s.tcbs().values().map(|t| t.epoch).max().unwrap_or(0)));
            RULES.promotion_epoch(lock(&self.state).epoch, listener, highest_copy)
        };
        // With etcd the epoch is the one won there, and the card's lease
        // register already holds the winner's first confirmation.
        #[cfg(feature = "etcd")]
        let from_etcd = match &self.etcd {
            Some(a) => {
                let campaign = self.campaign_for_promotion(a, epoch - 1);
                lock(&self.state).promotion_unreachable = matches!(campaign, Err(PairError::AuthorityUnreachable(_)));
                epoch = campaign?;
                true
            }
            None => false,
        };
        #[cfg(not(feature = "etcd"))]
        let from_etcd = false;
        self.epochs.note_active(epoch)?;
        // From here on no primary may install copies: the session ends, but
        // the listener stays, in the new epoch, so an older primary is
        // refused and a newer one can still fence us (invariant 8).
        self.accepts_copies.close();
        let copies = match lock(&self.standby).as_ref() {
            Some(s) => {
                s.end_session();
                let copies = s.tcbs();
                lock(&self.state).closed_link = Some((s.applied(), copies.len() as u64, s.stats()));
                copies
            }
            None => Default::default(),
        };
        // A copy that came in from a newer primary while we were recording.
        let highest = copies.values().map(|t| t.epoch).max().unwrap_or(0);
        let recorded = if highest >= epoch && from_etcd {
            Err(PairError::Authority(format!("a copy in epoch {highest} arrived while this node won epoch {epoch} in etcd: a newer primary exists")))
        } else if highest >= epoch {
            epoch = RULES.promotion_epoch(epoch, 0, highest);
            self.epochs.note_active(epoch).map_err(PairError::from)
        } else {
            Ok(())
        };
        let started = Instant::now();
        let mut halves_freed = 0;
        let promoted = recorded
            .and_then(|()| {
                halves_freed = self.fix_up_relay_pairs(copies.keys().copied())?;
                Ok(())
            })
            .and_then(|()| Ok(self.card.promote(epoch, self.cfg.dup_acks, PROMOTE_TIMEOUT)?));
        let report = match promoted {
            Ok(report) => report,
            Err(e) => {
                // Still the standby it was: it takes copies again.
                self.accepts_copies.open();
                return Err(e);
            }
        };
        if let Some(s) = lock(&self.standby).as_ref() {
            s.set_epoch(epoch);
        }
        {
            let mut st = lock(&self.state);
            st.epoch = epoch;
            st.set_role(PairRole::Promoted, "promotion (the primary failed, or `holdback promote`)");
            st.promoted_unix_ms = SystemTime::now().duration_since(UNIX_EPOCH).ok().map(|d| d.as_millis() as u64);
            st.promote_took_us = Some(report.took.as_micros() as u64);
            st.degraded = self.gate_waits(gates);
            st.reason = None;
        }
        let link_events = self.replicate_after_promotion(epoch, copies.keys().copied());
        let freed_note = match halves_freed {
            0 => String::new(),
            n => format!(" ({n} relayed connections freed: half pairs, or pairs whose backend had not answered)"),
        };
        let what = format!(
            "promoted to active in epoch {epoch}: {} connections resume from their released point{freed_note}; card walk {:?}, total {:?}; replicating to {} for a returning standby",
            copies.values().filter(|t| t.is_open()).count().saturating_sub(halves_freed),
            report.took,
            started.elapsed(),
            self.cfg.peer,
        );
        tracing::warn!("{what}");
        Ok(Promotion { what, link_events })
    }

    /// Before the card promotes (the copy gate closed, the card still a
    /// standby): make every relayed pair among the installed TCBs `ids`
    /// one the promoted card can resume (a client side whose SYN-ACK the
    /// old card held beside an accepted server side gets R = irs + 1), and
    /// free the halves that cannot be and the pairs still opening on both
    /// sides (replication/relay_pair.rs, docs/relay.md "Failover of both
    /// connections"). The TCBs are read from the card's mirror, which holds
    /// them as installed. Returns how many were freed.
    fn fix_up_relay_pairs(&self, ids: impl Iterator<Item = u16>) -> Result<usize, PairError> {
        let mut installed = std::collections::BTreeMap::new();
        for id in ids {
            installed.insert(id, self.card.tcb(id)?);
        }
        let fix = replication::relay_pair::fix_up(&installed);
        for (id, tcb) in &fix.write {
            let was = &installed[id];
            tracing::info!(
                id,
                state = %tcb.state.rfc_name(),
                was_state = %was.state.rfc_name(),
                snd_una = %tcb.snd_una,
                rel = %tcb.rel,
                tx_end = tcb.tx_end,
                was_tx_end = was.tx_end,
                "relayed connection resumed from its pair's newer points; it sends only what its peer link receives again"
            );
            self.card.write_tcb(*id, tcb)?;
        }
        for (id, limit) in &fix.limits {
            tracing::debug!(id, limit, "send limit of a resumed relayed connection");
            self.card.set_send_limit(*id, *limit)?;
        }
        if !fix.free.is_empty() {
            let cleared = cleared_tcb(&self.card)?;
            for freed in &fix.free {
                tracing::warn!(id = freed.id, reason = %freed.why, "relayed connection cannot be resumed: freed");
                self.card.write_tcb(freed.id, &cleared)?;
            }
        }
        Ok(fix.free.len())
    }

    /// After promotion: a [`Primary`] to the configured peer at the new
    /// epoch, seeded with every TCB the card resumed (as the card holds it
    /// now: rcv_nxt at R, the new epoch), so the first full sync covers
    /// idle connections too; the sink ships the changes from then on.
    fn replicate_after_promotion(&self, epoch: u32, ids: impl Iterator<Item = u16>) -> Option<mpsc::Receiver<LinkEvent>> {
        let (primary, events) = match Primary::start(self.link.clone(), self.cfg.peer, epoch) {
            Ok(p) => p,
            Err(e) => {
                let why = crate::error::chain(&e);
                tracing::error!(error = %why, "promoted, but the replication link to the peer cannot start: running without a standby");
                lock(&self.state).not_replicating = Some(why);
                return None;
            }
        };
        // The card's walk changed every TCB it resumed: the mirror has them
        // once the event queue has settled.
        if let Err(e) = self.events.settle(SETTLE_TIMEOUT) {
            tracing::warn!(error = %crate::error::chain(&e), "the event queue did not settle after the promotion; seeding from the mirror as it is");
        }
        for id in ids {
            match self.card.tcb(id) {
                Ok(tcb) if tcb.is_open() => {
                    if let Err(e) = primary.send(id, &tcb) {
                        tracing::warn!(id, error = %e, "TCB not seeded into the new replication link; the sink ships it on its next change");
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(id, error = %crate::error::chain(&e), "reading a resumed TCB to seed the new replication link")
                }
            }
        }
        tracing::info!(peer = %self.cfg.peer, epoch, "replicating to the configured peer: a returning old primary joins as standby");
        *lock(&self.primary) = Some(Arc::new(primary));
        Some(events)
    }

    /// Invariant 8: a newer epoch exists, so this card must stop speaking.
    /// Silenced first, then recorded (see the module docs), so a restart
    /// does not take the active role on an empty rejoin window.
    fn fence(&self, peer_epoch: u32) {
        if let Err(e) = self.card.set_standby(true) {
            tracing::error!(error = %crate::error::chain(&e), "could not silence the card after learning of a newer epoch");
        }
        if let Err(e) = self.epochs.note_seen(peer_epoch) {
            tracing::error!(peer_epoch, error = %crate::error::chain(&e),
                "could not record the newer epoch: a restart may take the active role in the old one if no primary is heard");
        }
        let mut st = lock(&self.state);
        let why = format!("epoch {peer_epoch} exists, newer than this daemon's {}: card silenced, nothing more is released", st.epoch);
        st.set_role(PairRole::Fenced, &why);
        st.reason = Some(why);
        tracing::error!(own = st.epoch, peer = peer_epoch, "a newer epoch exists: card silenced, nothing more is released");
    }

    /// An authenticated primary in `peer_epoch` reached our listener while
    /// this daemon is active, promoted or fenced (invariant 8).
    /// The handshake refuses primaries older than the listener's epoch, so
    /// `peer_epoch` ≥ ours. Newer: we yield. Equal — two actives in one
    /// epoch, e.g. both came up active — the tie-break both sides compute
    /// alike: the daemon whose `listen` address is lower than its `peer`
    /// (the other's `listen`) yields. Fenced: already silent, it yields to
    /// any primary that gets through. Blocking (card, fsync).
    fn primary_heard(&self, peer_epoch: u32) {
        let (role, own) = {
            let st = lock(&self.state);
            if st.yielding.is_some() {
                return;
            }
            (st.role, st.epoch)
        };
        let tie_yields = yields_an_epoch_tie(self.cfg.listen, self.cfg.peer);
        let yields = RULES.epoch_heard(role, own, peer_epoch, HeardOn::Listener, tie_yields) == EpochHeard::Yield;
        if matches!(role, PairRole::Active | PairRole::Promoted) && peer_epoch == own && !yields {
            tracing::warn!(epoch = own, listen = %self.cfg.listen, peer = %self.cfg.peer,
                "another primary in our own epoch connected: the tie-break (the lower listen address yields) keeps this daemon active; its copies are refused until it yields");
        }
        if yields {
            self.yield_to(peer_epoch, own);
        }
    }

    /// Invariant 8: another primary speaks for the address. Card silent
    /// first, the epoch recorded, our own replication stopped (the sink's
    /// waits end; nothing more is released), then the serve loop stops the
    /// sink and [`Pair::rejoin_as_standby`] opens the listener to that
    /// primary's copies.
    fn yield_to(&self, peer_epoch: u32, own: u32) {
        if let Err(e) = self.card.set_standby(true) {
            tracing::error!(error = %crate::error::chain(&e), "could not silence the card while yielding to another primary");
        }
        if let Err(e) = self.epochs.note_seen(peer_epoch) {
            tracing::error!(peer_epoch, error = %crate::error::chain(&e),
                "could not record the other primary's epoch: a restart may take the active role in the old one if no primary is heard");
        }
        if let Some(p) = lock(&self.primary).take() {
            p.shutdown();
        }
        let mut st = lock(&self.state);
        let was = st.role;
        let why = format!(
            "was {was} in epoch {own}; a primary in epoch {peer_epoch} reached this daemon's listener: card silenced, joining it as standby"
        );
        st.set_role(PairRole::Fenced, &why);
        st.yielding = Some(peer_epoch);
        st.handed_over = None;
        st.degraded = false;
        st.not_replicating = None;
        st.reason = Some(why);
        drop(st);
        tracing::error!(own, peer = peer_epoch, was = %was, "another primary reached our listener: card silenced, yielding to it as standby (invariant 8)");
        self.yielded.notify_one();
    }

    /// Resolves when this daemon yielded to another primary: stop the
    /// sink, then call [`Pair::rejoin_as_standby`].
    pub async fn yielded(&self) {
        self.yielded.notified().await
    }

    /// After a yield, once the sink is stopped: a standby in the other
    /// primary's epoch, taking its copies and promotable again. Every TCB
    /// slot is cleared first: a connection this card held as active that
    /// the other primary does not replicate must not be resumed by a later
    /// promotion. Blocking (card writes); if a slot cannot be cleared the
    /// daemon stays fenced (silent) and takes no copies.
    ///
    /// The yield stays pending until the clear is done, so that primary
    /// connecting again meanwhile starts no second yield: a second clear
    /// would run while the standby installs that primary's copies and
    /// leave slots cleared, or half one and half the other, under copies
    /// the standby believes its card holds. The copy gate stays closed for
    /// the clear for the same reason.
    pub fn rejoin_as_standby(&self) -> Result<(), CardError> {
        let Some(peer_epoch) = lock(&self.state).yielding else { return Ok(()) };
        self.accepts_copies.close();
        // The register map's TCB ids are u16.
        let slots = u16::try_from(self.card.info().conns).unwrap_or(u16::MAX);
        let cleared = match cleared_tcb(&self.card) {
            Ok(t) => t,
            Err(e) => {
                let mut st = lock(&self.state);
                st.yielding = None;
                st.reason =
                    Some(format!("fenced by a primary in epoch {peer_epoch}; reading the card's EPOCH before clearing its TCBs failed: stays silent and takes no copies"));
                return Err(e);
            }
        };
        for id in 0..slots {
            if let Err(e) = self.card.write_tcb(id, &cleared) {
                let mut st = lock(&self.state);
                st.yielding = None;
                st.reason = Some(format!(
                    "fenced by a primary in epoch {peer_epoch}; clearing TCB {id} before taking its copies failed: stays silent and takes no copies"
                ));
                return Err(e);
            }
        }
        let mut st = lock(&self.state);
        st.yielding = None;
        st.epoch = st.epoch.max(peer_epoch);
        let why = format!("yielded to a primary in epoch {peer_epoch} that reached this daemon's listener: its standby now");
        st.set_role(PairRole::Standby, &why);
        st.promoted_unix_ms = None;
        st.promote_took_us = None;
        st.reason = Some(why);
        if let Some(s) = lock(&self.standby).as_ref() {
            s.set_epoch(st.epoch);
        }
        self.accepts_copies.open();
        if let Some(s) = lock(&self.standby).as_ref() {
            s.resume_promising();
        }
        tracing::warn!(epoch = st.epoch, "yielded: standby of the other primary, card silent, taking its copies");
        Ok(())
    }

    /// Planned switchover, the primary's half (`holdback switchover`). The
    /// serve loop stopped the sink first, so no release is in flight and
    /// every R is final. The card goes silent first (invariant 8: from here
    /// on it answers nothing, so the switch hears only the standby's
    /// gratuitous ARP after this), then a final copy of every open
    /// connection goes to the standby — with its last R, and connections
    /// opened since the sink's last pass — and the hand-over completes once
    /// the standby acknowledged all of them (`Rules::hand_over_complete`).
    /// If it does not within `timeout`, the card speaks again and this
    /// daemon stays the primary. Blocking (card reads, the wait).
    pub fn hand_over(&self, timeout: Duration) -> Result<HandOver, PairError> {
        let started = Instant::now();
        let (role, epoch) = {
            let st = lock(&self.state);
            (st.role, st.epoch)
        };
        if !matches!(role, PairRole::Active | PairRole::Promoted) {
            return Err(PairError::HandOver(format!("this daemon is {role}, not the primary")));
        }
        let Some(primary) = lock(&self.primary).clone() else {
            return Err(PairError::HandOver("this primary has no replication link".into()));
        };
        let degraded = lock(&self.state).degraded;
        if !self.standby_holds_all(&primary, degraded) {
            return Err(PairError::HandOver(format!(
                "the standby is not replicating (link {}): it may lack released points or transmit bytes, so it must not take over",
                self.link_status(&primary, degraded)
            )));
        }
        self.card.set_standby(true)?;
        let silenced_unix_us = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64);
        tracing::warn!(epoch, "switchover: sink stopped, card silent; shipping the final copy of every connection to the standby");
        let shipped = self.ship_final_copies(&primary).and_then(|(last, conns)| {
            primary
                .wait_acked_blocking(last, timeout)
                .map_err(|e| PairError::HandOver(format!("the standby did not acknowledge the final copies: {e}")))?;
            Ok((last, conns))
        });
        match shipped {
            Ok((last, conns)) if RULES.hand_over_complete(primary.acked(), last) => {
                let mut st = lock(&self.state);
                let why = format!(
                    "handed over to the standby in epoch {epoch} (switchover): card silent, {conns} connections acknowledged through {last}; joins the promoted standby as its standby"
                );
                st.set_role(PairRole::Fenced, &why);
                st.reason = Some(why);
                st.handed_over = Some(role);
                Ok(HandOver {
                    epoch,
                    through: last,
                    conns,
                    silent: true,
                    silenced_unix_us,
                    took_us: started.elapsed().as_micros() as u64,
                })
            }
            outcome => {
                // Still the primary: speak again, the serve loop restarts the sink.
                self.card.set_standby(false)?;
                let e = match outcome {
                    Err(e) => e,
                    Ok((last, _)) => PairError::HandOver(format!("acknowledged {} of {last}", primary.acked())),
                };
                tracing::error!(error = %crate::error::chain(&e), "switchover abandoned: the card speaks again, this daemon stays the primary");
                Err(e)
            }
        }
    }

    /// Ships the card's current copy of every open connection; returns the
    /// last replication sequence (it covers every earlier update too) and
    /// how many connections were shipped.
    fn ship_final_copies(&self, primary: &Primary) -> Result<(u64, u64), PairError> {
        // The card is silent: once its event queue settled, the mirror holds
        // every TCB's final state.
        self.events.settle(SETTLE_TIMEOUT)?;
        let mut conns = 0;
        for (id, tcb) in self.card.open_connections()? {
            primary.send(id, &tcb).map_err(|e| PairError::HandOver(format!("shipping TCB {id}: {e}")))?;
            conns += 1;
        }
        Ok((primary.last_sent(), conns))
    }

    /// Undo a hand-over whose takeover did not happen: the card speaks again
    /// in the role it had (the serve loop restarts the sink). Refused once
    /// a newer epoch is on record (the standby promoted after all) or the
    /// daemon already yielded to the promoted standby.
    pub fn resume_after_hand_over(&self) -> Result<String, PairError> {
        let mut st = lock(&self.state);
        let Some(was) = st.handed_over else {
            return Err(PairError::HandOver("this daemon has not handed over (or already joined the promoted standby)".into()));
        };
        let seen = self.epochs.record().seen;
        if seen > st.epoch || st.role != PairRole::Fenced {
            return Err(PairError::HandOver(format!(
                "epoch {seen} is on record and this daemon is {} in epoch {}: another card may speak, so this one stays silent",
                st.role, st.epoch
            )));
        }
        self.card.set_standby(false)?;
        st.handed_over = None;
        st.set_role(was, "the switchover's takeover did not happen: the card speaks again");
        st.reason = None;
        Ok(format!("{was} again in epoch {}: card speaks, releases resume", st.epoch))
    }

    /// The standby's half of a planned switchover: may this daemon promote
    /// on `handover` (`Rules::takes_over`)?
    pub fn check_takeover(&self, handover: &HandOver) -> Result<(), TakeOverRefusal> {
        let (role, epoch) = {
            let st = lock(&self.state);
            (st.role, st.epoch)
        };
        let applied = lock(&self.standby).as_ref().map_or(0, |s| s.applied());
        RULES.takes_over(role, epoch, applied, (handover.epoch, handover.through, handover.silent))
    }

    /// The primary's link as status shows it: `Syncing` from the full sync
    /// until the standby also holds the sink's backlog ([`Pair::standby_holds_all`]).
    fn link_status(&self, primary: &Primary, degraded: bool) -> PairLink {
        match primary.state() {
            LinkState::Replicating if !self.standby_holds_all(primary, degraded) => PairLink::Syncing,
            state => state.into(),
        }
    }

    /// Pair status. A promoted daemon reports its link to the returning
    /// standby in `link` and `degraded`; the counters stay those of the
    /// standby link it replicated on before promotion (the failover's figures).
    pub fn status(&self, sink: &SinkStats) -> PairStatus {
        let st = lock(&self.state);
        let primary = lock(&self.primary).clone();
        let closed = || match &st.closed_link {
            Some((applied, stored, stats)) => (*applied, *stored, stats.clone()),
            None => (0, 0, replication::LinkStats::default()),
        };
        let (link, replicated_seq, stored, stats, sender) = match (st.role, &primary, &*lock(&self.standby)) {
            (PairRole::Promoted, p, _) => {
                let (applied, stored, stats) = closed();
                (p.as_ref().map_or(PairLink::Closed, |p| self.link_status(p, st.degraded)), applied, stored, stats, false)
            }
            (_, Some(p), _) => (self.link_status(p, st.degraded), p.acked(), 0, p.stats(), true),
            (_, None, Some(s)) => (
                if s.connected() { PairLink::Connected } else { PairLink::Waiting },
                s.applied(),
                s.tcbs().len() as u64,
                s.stats(),
                false,
            ),
            (_, None, None) => {
                let (applied, stored, stats) = closed();
                (PairLink::Closed, applied, stored, stats, false)
            }
        };
        let degraded = match (&st.not_replicating, st.degraded) {
            (Some(why), _) => Some(format!("degraded: not replicating ({why})")),
            (None, true) => Some(DEGRADED.to_string()),
            (None, false) => None,
        };
        PairStatus {
            role: st.role,
            epoch: st.epoch,
            link,
            replicated_seq,
            stored_tcbs: stored,
            frames_sent: stats.frames_sent,
            bytes_sent: stats.bytes_sent,
            frames_received: stats.frames_received,
            bytes_received: stats.bytes_received,
            full_syncs: stats.full_syncs,
            resumes: stats.resumes,
            refused: stats.refused.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            bytes_per_update: (sender && replicated_seq > 0).then(|| stats.bytes_sent as f64 / replicated_seq as f64),
            promoted_unix_ms: st.promoted_unix_ms,
            promote_took_us: st.promote_took_us,
            degraded,
            reason: st.reason.clone(),
            replica_waits: sink.replica_waits,
            replica_wait_us_total: sink.replica_wait_us_total,
            replica_waits_failed: sink.replica_waits_failed,
            protocol_version: primary
                .as_ref()
                .and_then(|p| p.protocol_version())
                .or_else(|| lock(&self.standby).as_ref().and_then(|s| s.protocol_version())),
            authority: self.authority_status(primary.as_deref()),
        }
    }

    /// The etcd authority's part of the status (`None` with `kind = "pair"`).
    fn authority_status(&self, primary: Option<&Primary>) -> Option<crate::control::AuthorityStatus> {
        #[cfg(feature = "etcd")]
        if let Some(a) = &self.etcd {
            let standby = lock(&self.standby);
            let promising = standby.as_ref().is_some_and(|s| s.promising());
            let promise = match primary {
                Some(p) => p.promise_until_us(),
                None => standby.as_ref().and_then(|s| s.last_promise_sent_us()).map(|t| crate::authority::rules::RULES.promise_binds_until(a.timing(), t)),
            };
            return Some(a.status(promise, promising));
        }
        let _ = primary;
        None
    }
}

/// The link's event channels from [`Pair::start`]: the listener's (every
/// role) and, for a daemon that took the active role, its primary's.
pub struct PairEvents {
    pub listener: mpsc::Receiver<LinkEvent>,
    pub primary: Option<mpsc::Receiver<LinkEvent>>,
}

/// Which end of the replication link a channel of events comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventSource {
    /// Our listener: a primary dialled us.
    Listener,
    /// Our [`Primary`]: we dialled the peer.
    Primary,
}

/// A promotion request to the daemon's serve loop, which promotes the card
/// and starts the sink; the answer goes back on the oneshot.
pub type PromoteRequest = oneshot::Sender<Result<String, String>>;

/// The primary's steps of a planned switchover, carried out by the serve
/// loop (it owns the sink).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandOverStep {
    /// Stop the sink, then [`Pair::hand_over`].
    HandOver,
    /// [`Pair::resume_after_hand_over`], then restart the sink.
    Resume,
}

/// A hand-over step for the serve loop; its control-socket answer goes back
/// on the oneshot.
pub type HandOverRequest = (HandOverStep, oneshot::Sender<Response>);

fn log_event(ev: &LinkEvent) {
    match ev {
        LinkEvent::Connected { peer, peer_node, peer_epoch, resumed } => {
            tracing::info!(%peer, peer_node, peer_epoch, resumed, "replication peer connected")
        }
        LinkEvent::Synced { tcbs } => tracing::info!(tcbs, "replication full sync done"),
        LinkEvent::Disconnected { peer, reason } => tracing::warn!(%peer, %reason, "replication peer disconnected"),
        LinkEvent::Refused { peer, reason, detail } => {
            tracing::warn!(%peer, reason = reason.name(), %detail, "replication connection refused")
        }
        LinkEvent::NewerEpoch { own, peer } => tracing::warn!(own, peer, "a newer epoch was announced"),
        LinkEvent::PeerLost { silent_for } => tracing::error!(?silent_for, "replication peer lost"),
    }
}

/// Acts on the link's events: logs them, fences on a newer epoch, and on a
/// standby with the heartbeat detector asks the serve loop to promote when
/// the primary is lost (claims 5, 10, 36, 37); a promoted daemon's returning
/// standby wakes [`Pair::standby_returned`]. On the listener of an active,
/// promoted or fenced daemon, an authenticated primary makes it yield
/// ([`Pair::primary_heard`], invariant 8). Run one per channel, saying
/// which end it comes from: only the listener's events adopt an epoch or
/// promote.
pub async fn run_events<B: Bar + 'static>(
    pair: Arc<Pair<B>>,
    mut events: mpsc::Receiver<LinkEvent>,
    source: EventSource,
    promote: mpsc::Sender<PromoteRequest>,
) {
    let listener = source == EventSource::Listener;
    while let Some(ev) = events.recv().await {
        let role = lock(&pair.state).role;
        match ev {
            LinkEvent::Connected { peer_epoch, .. } if listener => {
                log_event(&ev);
                if role == PairRole::Standby {
                    adopt_on_blocking_thread(&pair, peer_epoch).await;
                } else {
                    let p = pair.clone();
                    let _ = tokio::task::spawn_blocking(move || p.primary_heard(peer_epoch)).await;
                }
            }
            LinkEvent::Synced { .. } if role == PairRole::Promoted && !listener => {
                log_event(&ev);
                pair.standby_back.notify_one();
            }
            LinkEvent::NewerEpoch { own, peer } => match role {
                PairRole::Active | PairRole::Promoted | PairRole::Fenced if listener => {
                    log_event(&ev);
                    let p = pair.clone();
                    let _ = tokio::task::spawn_blocking(move || p.primary_heard(peer)).await;
                }
                PairRole::Active | PairRole::Promoted => {
                    if RULES.epoch_heard(role, own, peer, HeardOn::OwnPrimary, false) == EpochHeard::Fence {
                        let p = pair.clone();
                        let _ = tokio::task::spawn_blocking(move || p.fence(peer)).await;
                    }
                }
                PairRole::Standby => {
                    tracing::warn!(own, peer, "a newer epoch was announced to this standby");
                    adopt_on_blocking_thread(&pair, peer).await;
                }
                PairRole::Fenced => log_event(&ev),
            },
            LinkEvent::PeerLost { silent_for } if listener => {
                if RULES.promotes_on_peer_lost(role, pair.self_promotes()) {
                    tracing::error!(?silent_for, "primary lost (heartbeats): promoting");
                    // Tried again, with a growing pause, while etcd cannot be
                    // reached and the primary stays gone.
                    let mut failed = 0;
                    loop {
                        let (tx, rx) = oneshot::channel();
                        if promote.send(tx).await.is_err() {
                            return;
                        }
                        match rx.await {
                            Ok(Ok(what)) => tracing::info!(%what, "self-promotion done"),
                            Ok(Err(e)) => tracing::error!(error = %e, "self-promotion failed"),
                            Err(_) => return,
                        }
                        if !pair.promotion_worth_retrying() {
                            break;
                        }
                        let pause = promotion_retry_after(pair.cfg.heartbeat, failed);
                        failed += 1;
                        tracing::warn!(?pause, attempts = failed, "etcd could not be reached and the primary is still gone: promoting again after a pause");
                        tokio::time::sleep(pause).await;
                        if !pair.promotion_worth_retrying() {
                            break;
                        }
                    }
                } else if role == PairRole::Standby {
                    tracing::error!(?silent_for, "primary lost (heartbeats); detector = external: waiting for `holdback promote`");
                } else {
                    tracing::info!(?silent_for, role = role.name(), "the primary that last dialled this daemon's listener went silent");
                }
            }
            LinkEvent::PeerLost { silent_for } if matches!(role, PairRole::Active | PairRole::Promoted) => {
                if lock(&pair.state).degraded {
                    tracing::error!(?silent_for, "standby lost; degraded: releasing without a standby acknowledgement");
                } else {
                    tracing::error!(?silent_for, "standby lost: with the replica gate nothing is released until it returns");
                }
            }
            other => log_event(&other),
        }
    }
}

/// [`Pair::adopt_epoch`] fsyncs the epoch record: off the async workers.
async fn adopt_on_blocking_thread<B: Bar + 'static>(pair: &Arc<Pair<B>>, epoch: u32) {
    let p = pair.clone();
    let _ = tokio::task::spawn_blocking(move || p.adopt_epoch(epoch)).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// A directory of this test's own, removed however the test ends.
    struct Scratch(std::path::PathBuf);

    impl Scratch {
        fn new(test: &str) -> Scratch {
            let dir = std::env::temp_dir().join(format!("holdback-{test}-test-{}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("scratch directory");
            Scratch(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A pair member over `fake` in `role` (epoch 1), its listener on
    /// loopback with the copy gate closed, its files in `dir`.
    fn test_pair(
        dir: &Path,
        fake: &crate::testcard::FakeCard,
        role: PairRole,
        runtime: &tokio::runtime::Runtime,
    ) -> Pair<Arc<holdback_driver::MemBar>> {
        let pump = EventPump::new(fake.card.clone());
        let cfg = Replication {
            listen: "127.0.0.1:0".parse().expect("address"),
            peer: "127.0.0.1:9".parse().expect("address"),
            secret_file: dir.join("secret"),
            secret: b"0123456789abcdef0123456789abcdef".to_vec(),
            sync: SyncMode::BeforeAck,
            replicate: ReplicateMode::AtSetup,
            detector: Detector::External,
            heartbeat: Duration::from_millis(50),
            heartbeat_misses: 3,
            dup_acks: false,
            ack_timeout: Duration::from_secs(1),
            state_file: dir.join("epoch"),
            store: StoreMode::Shared,
            store_dir: dir.to_path_buf(),
        };
        let link = link_config(&cfg, std::net::Ipv4Addr::new(198, 18, 0, 2), &AuthorityConfig::Pair, true, false, false);
        let epochs = EpochFile::open(&cfg.state_file).expect("epoch file");
        let accepts = CopyGate::open_now();
        accepts.close();
        let store = CardStore { card: fake.card.clone(), accepts: accepts.clone(), files: None };
        let (standby, _events) = runtime.block_on(Standby::bind(link.clone(), cfg.listen, 1, store)).expect("listener");
        Pair::new(
            pump,
            &cfg,
            link,
            epochs,
            (role, 1, None),
            standby,
            accepts,
            #[cfg(feature = "etcd")]
            None,
        )
    }

    /// A primary that connects again while a yield clears the card (its
    /// first sessions were refused) must not arm a second yield: that
    /// second clear would run while the standby installs the primary's
    /// copies. A thread keeps hearing the primary during the whole clear.
    #[test]
    fn a_primary_heard_while_the_yield_clears_the_card_arms_no_second_yield() {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        let scratch = Scratch::new("yield");
        let dir = scratch.0.clone();
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
        let fake = crate::testcard::FakeCard::new();
        let pair = test_pair(&dir, &fake, PairRole::Active, &runtime);

        pair.primary_heard(2);
        assert_eq!(lock(&pair.state).yielding, Some(2), "a newer primary on the listener makes the active yield");
        let (clearing, heard) = (AtomicBool::new(true), AtomicU64::new(0));
        std::thread::scope(|s| {
            s.spawn(|| {
                while clearing.load(Ordering::SeqCst) {
                    pair.primary_heard(2);
                    heard.fetch_add(1, Ordering::SeqCst);
                }
            });
            while heard.load(Ordering::SeqCst) == 0 {
                std::thread::yield_now();
            }
            let cleared = pair.rejoin_as_standby();
            clearing.store(false, Ordering::SeqCst);
            cleared.expect("the card's slots cleared");
        });
        let st = lock(&pair.state);
        assert_eq!((st.role, st.yielding), (PairRole::Standby, None), "heard {} times during the clear", heard.load(Ordering::SeqCst));
    }

    /// A relaying pair with `replicate = "at-setup"` (written or the
    /// default), sync before-ack: the gates its config sets the replica
    /// gate up for name `replica` (the relayed connections'), so the
    /// primary's card gets hold-synack (CTRL bit4, `Pair::holds_synack` in
    /// `service::serve`) and the host's gate holds SYN-ACKs and waits
    /// (docs/relay.md, "Setup across three parties"); with `after-data`
    /// neither, as without relays.
    #[test]
    fn a_relaying_primary_with_at_setup_holds_syn_acks_for_the_standby() {
        let scratch = Scratch::new("relay-hold-synack");
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
        std::fs::write(scratch.0.join("secret"), "0123456789abcdef0123456789abcdef").expect("secret written");
        let text = |replicate: &str, relay: bool| {
            format!(
                "card = \"vfio:0000:03:00.0\"\n[network]\nmac = \"02:48:4c:44:42:02\"\nip = \"198.18.0.2\"\nlisten_ports = [5001]\n\
                 [replication]\nlisten = \"198.19.0.1:7400\"\npeer = \"198.19.0.2:7400\"\nsecret_file = \"{}\"\n{replicate}{}",
                scratch.0.join("secret").display(),
                if relay { "[[relay]]\nlisten = 8080\nbackend = \"198.18.0.3:80\"\nnext_hop_mac = \"02:00:00:00:0a:03\"\n" } else { "" }
            )
        };
        for (replicate, relay, holds) in [
            ("", true, true),
            ("replicate = \"at-setup\"\n", true, true),
            ("replicate = \"after-data\"\n", true, false),
            ("", false, false),
        ] {
            let config = crate::config::parse(&scratch.0.join("t.toml"), &text(replicate, relay)).expect("a valid pair config");
            let fake = crate::testcard::FakeCard::new();
            let mut pair = test_pair(&scratch.0, &fake, PairRole::Active, &runtime);
            pair.cfg.replicate = config.replication.as_ref().expect("a pair").replicate;
            let mut link = LinkConfig::new(b"0123456789abcdef0123456789abcdef".to_vec(), 1);
            link.reconnect_delay = Duration::from_secs(60);
            let (primary, _events) = {
                let _enter = runtime.enter();
                Primary::start(link, "127.0.0.1:9".parse().expect("address"), 1).expect("a primary link")
            };
            *lock(&pair.primary) = Some(Arc::new(primary));
            let gates = config.all_gates();
            assert_eq!(pair.holds_synack(&gates), holds, "{replicate:?} relay {relay}");
            let gate = pair.sink_gate(&gates).expect("a primary's gate");
            assert_eq!((gate.hold_synack, gate.wait || !relay), (holds, true), "{replicate:?} relay {relay}");
        }
    }

    /// The promotion's fix-up of relayed pairs as `Pair::promote` runs it
    /// on the standby card before the walk (replication/relay_pair.rs has
    /// the cases): the resumed pair written back with its tails at snd_una
    /// and a send limit each, a half pair freed in the card's epoch, a TCB
    /// that relays nothing left as installed.
    #[test]
    fn the_promotion_fix_up_writes_the_resumed_pair_and_its_limits_and_frees_a_half_pair() {
        use holdback_driver::SeqNum;
        use holdback_regmap::{TcpState, NO_PEER_LINK};
        let scratch = Scratch::new("relay-fix-up");
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
        let fake = crate::testcard::FakeCard::new();
        fake.card.set_standby(true).expect("standby card");
        let pair = test_pair(&scratch.0, &fake, PairRole::Standby, &runtime);
        // c (1) <-> s (2): the backend sent 0x5000 bytes, the client
        // acknowledged 0x4800 (s's R); the client sent 0x3000, the backend
        // acknowledged 0x1000 (c's R). Sequence numbers cross 2^32.
        let (ci, cs, si, ss) = (SeqNum(0xFFFF_FF00), SeqNum(0xFFFF_F000), SeqNum(0x7FFF_FFF0), SeqNum(0xFFFF_FFF8));
        let open = Tcb { state: TcpState::Established, holdback: true, send_hold: true, epoch: 1, ..Tcb::closed() };
        let c = Tcb {
            peer_link: 2,
            seq_offset: si.0.wrapping_sub(cs.0),
            irs: ci,
            rcv_nxt: ci + 1 + 0x3000,
            rel: ci + 1 + 0x1000,
            iss: cs,
            snd_una: cs + 1 + 0x4800,
            snd_nxt: cs + 1 + 0x5000,
            snd_max: cs + 1 + 0x5000,
            tx_end: 0x5000,
            ..open.clone()
        };
        let s = Tcb {
            peer_link: 1,
            seq_offset: ci.0.wrapping_sub(ss.0),
            irs: si,
            rcv_nxt: si + 1 + 0x5000,
            rel: si + 1 + 0x4800,
            iss: ss,
            snd_una: ss + 1 + 0x1000,
            snd_nxt: ss + 1 + 0x3000,
            snd_max: ss + 1 + 0x3000,
            tx_end: 0x3000,
            ..open.clone()
        };
        let half = Tcb { peer_link: 9, ..c.clone() };
        let plain = Tcb { peer_link: NO_PEER_LINK, ..c.clone() };
        for (id, tcb) in [(1u16, &c), (2, &s), (3, &half), (4, &plain)] {
            fake.card.write_tcb(id, tcb).expect("installed as a copy");
        }
        let freed = pair.fix_up_relay_pairs([1u16, 2, 3, 4].into_iter()).expect("fix-up written");
        assert_eq!(freed, 1);
        let tcb = |id| fake.card.tcb(id).expect("mirror");
        assert_eq!((tcb(1).tx_end, tcb(2).tx_end), (0x4800, 0x1000), "each side sends only what it receives again");
        assert_eq!((tcb(1).snd_max, tcb(2).snd_max), (c.snd_max, s.snd_max));
        let limit = |id| fake.bar.peek(holdback_regmap::send_limit_addr(id));
        assert_eq!((limit(1), limit(2)), (0x4800, 0x1000));
        assert_eq!(tcb(3), cleared_tcb(&fake.card).expect("epoch"), "the half pair is free");
        assert_eq!(limit(3), 0);
        assert_eq!((tcb(4), limit(4)), (plain, 0), "a TCB that relays nothing is as installed");
    }

    /// A promotion closes the gate while a copy is being written word by
    /// word: it must wait for that write, so the card never starts to speak
    /// holding a half-written TCB, and no write starts after it.
    #[test]
    fn closing_the_copy_gate_waits_for_the_copy_being_written_and_refuses_the_next() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let gate = CopyGate::open_now();
        let writing = Arc::new(std::sync::Barrier::new(2));
        let finished = Arc::new(AtomicBool::new(false));
        let writer = {
            let (gate, writing, finished) = (gate.clone(), writing.clone(), finished.clone());
            std::thread::spawn(move || {
                gate.write(|| {
                    writing.wait();
                    std::thread::sleep(Duration::from_millis(100));
                    finished.store(true, Ordering::SeqCst);
                    Ok(())
                })
            })
        };
        writing.wait();
        gate.close();
        assert!(finished.load(Ordering::SeqCst), "close() returned while a copy was still being written");
        writer.join().expect("writer thread").expect("the write under way completes");
        let refused = gate.write(|| Ok(()));
        assert!(refused.is_err(), "a copy after the close is refused");
        gate.open();
        assert!(gate.write(|| Ok(())).is_ok(), "a standby again takes copies");
    }

    #[test]
    fn a_failed_promotion_is_retried_after_a_doubling_pause_of_at_most_two_seconds() {
        let h = Duration::from_millis(50);
        let pauses: Vec<Duration> = (0..8).map(|n| promotion_retry_after(h, n)).collect();
        assert_eq!(pauses[..3], [h, 2 * h, 4 * h]);
        assert!(pauses.windows(2).all(|w| w[0] <= w[1]), "{pauses:?}");
        assert_eq!(pauses[7], PROMOTION_RETRY_MAX);
        assert_eq!(promotion_retry_after(h, u32::MAX), PROMOTION_RETRY_MAX, "no overflow");
    }

    #[test]
    fn exactly_one_of_two_actives_in_one_epoch_yields() {
        let a: std::net::SocketAddr = "198.18.1.1:7400".parse().expect("address");
        let b: std::net::SocketAddr = "198.18.1.2:7400".parse().expect("address");
        assert!(yields_an_epoch_tie(a, b) && !yields_an_epoch_tie(b, a));
        let c: std::net::SocketAddr = "198.18.1.1:7401".parse().expect("address");
        assert_ne!(yields_an_epoch_tie(a, c), yields_an_epoch_tie(c, a), "same address, other port");
    }

    #[test]
    fn an_empty_rejoin_window_takes_the_active_role_only_for_the_last_active_card() {
        let file = Path::new("/var/lib/holdback/pair-epoch");
        let rec = |seen, held_active| EpochRecord { seen, held_active };
        // Fresh daemon (no file): epoch 1, as before.
        assert_eq!(after_an_empty_window(rec(0, 0), file), EmptyWindow::TakeActive { epoch: FIRST_EPOCH });
        // Last active in epoch 3 (e.g. a returned node promoted again): keeps 3.
        assert_eq!(after_an_empty_window(rec(3, 3), file), EmptyWindow::TakeActive { epoch: 3 });
        // Fenced in 1 by epoch 2, or returned and joined a node promoted in 2.
        match after_an_empty_window(rec(2, 1), file) {
            EmptyWindow::StayStandby { reason } => {
                assert!(reason.contains("last held the active role in epoch 1") && reason.contains("seen epoch 2"), "{reason}");
                assert!(reason.contains("/var/lib/holdback/pair-epoch") && reason.contains("holdback promote"), "{reason}");
            }
            other => panic!("must stay standby: {other:?}"),
        }
        assert!(matches!(after_an_empty_window(rec(2, 0), file), EmptyWindow::StayStandby { reason } if reason.contains("never held")));
    }
}
