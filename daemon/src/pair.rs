//! The daemon's half of a failover pair (issue 4, `../shared/design/failover.md`).
//!
//! - **Active** (`role = "active"` with `[replication]`): a [`Primary`]
//!   dials the standby; the sink ships every changed TCB through it and,
//!   with the `replica` gate, writes a release only after the standby
//!   acknowledged the copy carrying it (claim 24, invariant 2). Hearing of a
//!   newer epoch puts the card back in standby — silent — and the gate then
//!   releases nothing (invariant 8).
//! - **Standby** (`role = "standby"`): the card is silent (CTRL.standby); a
//!   [`Standby`] accepts the primary, keeps the copies in memory (claim 23)
//!   and writes each into the card before acknowledging it. Heartbeat loss
//!   (claims 36, 37; `detector = "heartbeat"`) or a `promote` request
//!   (`holdback promote` / `holdback watch`, claims 21, 22) promotes it: a
//!   new epoch, the card's PROMOTE walk resumes every connection from R
//!   (invariant 3), announces the address with a gratuitous ARP and — with
//!   `dup_acks` — sends one ACK at R and three duplicates per connection;
//!   then the daemon's sink starts.
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use holdback_driver::{Bar, CardError, CardHandle, Tcb};
use tokio::sync::{mpsc, oneshot};

use crate::config::{Detector, Gate, Replication, ReplicateMode, Role, SyncMode};
use crate::control::PairStatus;
use crate::replication::{self, HookError, LinkConfig, LinkEvent, LinkState, Primary, Standby, StoreHook};
use crate::sink::{ReplicaGate, SinkStats};

/// The epoch a pair starts in; each promotion adds one.
pub const FIRST_EPOCH: u32 = 1;
/// Longest the card's PROMOTE walk may take (N TCBs; the simulated card is
/// slower than hardware).
const PROMOTE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum PairError {
    #[error("replication link settings")]
    Link(#[from] replication::ConfigError),
    #[error("standby replication listener")]
    Standby(#[from] replication::standby::StandbyError),
    #[error("card")]
    Card(#[from] CardError),
    #[error("this daemon is {0}, not a standby: nothing to promote")]
    NotStandby(String),
}

/// Installs replicated copies into the standby card (claim 23 → card).
struct CardStore<B: Bar> {
    card: Arc<CardHandle<B>>,
}

impl<B: Bar + 'static> StoreHook for CardStore<B> {
    fn install(&mut self, id: u16, tcb: &Tcb) -> Result<(), HookError> {
        self.card.write_tcb(id, tcb).map_err(|e| Box::new(e) as HookError)
    }
    fn remove(&mut self, id: u16) -> Result<(), HookError> {
        self.card.write_tcb(id, &Tcb::closed()).map_err(|e| Box::new(e) as HookError)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PairRole {
    Active,
    Standby,
    Promoted,
    Fenced,
}

impl PairRole {
    fn name(self) -> &'static str {
        match self {
            PairRole::Active => "active",
            PairRole::Standby => "standby",
            PairRole::Promoted => "promoted",
            PairRole::Fenced => "fenced",
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
}

/// One daemon's pair membership.
pub struct Pair<B: Bar> {
    card: Arc<CardHandle<B>>,
    cfg: Replication,
    state: Mutex<State>,
    primary: Option<Arc<Primary>>,
    standby: Mutex<Option<Standby>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn link_config(cfg: &Replication, card_ip: std::net::Ipv4Addr) -> LinkConfig {
    let mut link = LinkConfig::new(cfg.secret.clone(), (u64::from(u32::from(card_ip)) << 32) | u64::from(std::process::id()));
    link.heartbeat_interval = cfg.heartbeat;
    link.heartbeat_misses = cfg.heartbeat_misses;
    link
}

impl<B: Bar + 'static> Pair<B> {
    /// Joins the pair in `role`, with the card configured (not yet enabled
    /// for a standby: the caller enables it after this put it in standby).
    /// Must run inside the tokio runtime.
    pub async fn start(
        card: Arc<CardHandle<B>>,
        cfg: &Replication,
        role: Role,
        card_ip: std::net::Ipv4Addr,
    ) -> Result<(Arc<Pair<B>>, mpsc::Receiver<LinkEvent>), PairError> {
        let link = link_config(cfg, card_ip);
        let epoch = FIRST_EPOCH;
        match role {
            Role::Active => {
                card.set_epoch(epoch)?;
                let (primary, events) = Primary::start(link, cfg.peer, epoch)?;
                tracing::info!(peer = %cfg.peer, epoch, sync = ?cfg.sync, replicate = ?cfg.replicate, "replicating to the standby");
                let pair = Pair {
                    card,
                    cfg: cfg.clone(),
                    state: Mutex::new(State { role: PairRole::Active, epoch, closed_link: None, promoted_unix_ms: None, promote_took_us: None }),
                    primary: Some(Arc::new(primary)),
                    standby: Mutex::new(None),
                };
                Ok((Arc::new(pair), events))
            }
            Role::Standby => {
                card.set_standby(true)?;
                card.set_epoch(epoch)?;
                let (standby, events) = Standby::bind(link, cfg.listen, epoch, CardStore { card: card.clone() }).await?;
                tracing::info!(listen = %standby.local_addr(), epoch, detector = ?cfg.detector, "standby: card silent, waiting for the primary");
                let pair = Pair {
                    card,
                    cfg: cfg.clone(),
                    state: Mutex::new(State { role: PairRole::Standby, epoch, closed_link: None, promoted_unix_ms: None, promote_took_us: None }),
                    primary: None,
                    standby: Mutex::new(Some(standby)),
                };
                Ok((Arc::new(pair), events))
            }
        }
    }

    /// Whether this daemon runs its sink now (active or promoted).
    pub fn runs_sink(&self) -> bool {
        matches!(lock(&self.state).role, PairRole::Active | PairRole::Promoted)
    }

    /// The sink's gate (active side). `replica` in `gates` with
    /// `sync = before-ack` waits for acknowledgements; otherwise copies are
    /// shipped without holding the release (claim 32's asynchronous mode).
    pub fn sink_gate(&self, gates: &[Gate]) -> Option<ReplicaGate> {
        let link = self.primary.clone()?;
        let wait = gates.contains(&Gate::Replica) && self.cfg.sync == SyncMode::BeforeAck;
        Some(ReplicaGate {
            link,
            wait,
            timeout: self.cfg.ack_timeout,
            hold_synack: wait && self.cfg.replicate == ReplicateMode::AtSetup,
        })
    }

    /// `replicate = at-setup` under a waiting replica gate: the card holds
    /// SYN-ACKs until the standby has the TCB (claim 31, invariant 6).
    pub fn holds_synack(&self, gates: &[Gate]) -> bool {
        self.primary.is_some()
            && gates.contains(&Gate::Replica)
            && self.cfg.sync == SyncMode::BeforeAck
            && self.cfg.replicate == ReplicateMode::AtSetup
    }

    /// Whether a heartbeat loss promotes this daemon by itself.
    pub fn self_promotes(&self) -> bool {
        self.cfg.detector == Detector::Heartbeat
    }

    /// Promote the standby card (blocking: card register round trips).
    pub fn promote(&self) -> Result<String, PairError> {
        let role = lock(&self.state).role;
        if role != PairRole::Standby {
            return Err(PairError::NotStandby(role.name().to_string()));
        }
        // Stop listening first: from here on no primary may install copies
        // (a stale one would be refused by epoch anyway, invariant 8).
        let standby = lock(&self.standby).take();
        let copies = match standby {
            Some(s) => {
                let figures = (s.applied(), s.tcbs().len() as u64, s.stats());
                lock(&self.state).closed_link = Some(figures);
                s.stop()
            }
            None => Default::default(),
        };
        let epoch = {
            let highest = copies.values().map(|t| t.epoch).max().unwrap_or(0);
            lock(&self.state).epoch.max(highest) + 1
        };
        let started = Instant::now();
        let report = self.card.promote(epoch, self.cfg.dup_acks, PROMOTE_TIMEOUT)?;
        let mut st = lock(&self.state);
        st.role = PairRole::Promoted;
        st.epoch = epoch;
        st.promoted_unix_ms = SystemTime::now().duration_since(UNIX_EPOCH).ok().map(|d| d.as_millis() as u64);
        st.promote_took_us = Some(report.took.as_micros() as u64);
        let what = format!(
            "promoted to active in epoch {epoch}: {} connections resume from their released point; card walk {:?}, total {:?}",
            copies.values().filter(|t| t.is_open()).count(),
            report.took,
            started.elapsed()
        );
        tracing::warn!("{what}");
        Ok(what)
    }

    /// Invariant 8: a newer epoch exists, so this card must stop speaking.
    fn fence(&self, peer_epoch: u32) {
        if let Err(e) = self.card.set_standby(true) {
            tracing::error!(error = %crate::report::chain(&e), "could not silence the card after learning of a newer epoch");
        }
        let mut st = lock(&self.state);
        st.role = PairRole::Fenced;
        tracing::error!(own = st.epoch, peer = peer_epoch, "a newer epoch exists: card silenced, nothing more is released");
    }

    pub fn status(&self, sink: &SinkStats) -> PairStatus {
        let st = lock(&self.state);
        let (link, replicated_seq, stored, stats) = match (&self.primary, &*lock(&self.standby)) {
            (Some(p), _) => (format!("{:?}", p.state()), p.acked(), 0, p.stats()),
            (None, Some(s)) => (
                if s.connected() { "Connected" } else { "Waiting" }.to_string(),
                s.applied(),
                s.tcbs().len() as u64,
                s.stats(),
            ),
            (None, None) => match &st.closed_link {
                Some((applied, stored, stats)) => ("Closed".to_string(), *applied, *stored, stats.clone()),
                None => ("Closed".to_string(), 0, 0, replication::LinkStats::default()),
            },
        };
        PairStatus {
            role: st.role.name().to_string(),
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
            bytes_per_update: (self.primary.is_some() && replicated_seq > 0)
                .then(|| stats.bytes_sent as f64 / replicated_seq as f64),
            promoted_unix_ms: st.promoted_unix_ms,
            promote_took_us: st.promote_took_us,
            replica_waits: sink.replica_waits,
            replica_wait_us_total: sink.replica_wait_us_total,
            replica_waits_failed: sink.replica_waits_failed,
        }
    }
}

/// A promotion request to the daemon's serve loop, which promotes the card
/// and starts the sink; the answer goes back on the oneshot.
pub type PromoteRequest = oneshot::Sender<Result<String, String>>;

/// Acts on the link's events: logs them, fences on a newer epoch, and on a
/// standby with the heartbeat detector asks the serve loop to promote when
/// the primary is lost (claims 5, 10, 36, 37).
pub async fn run_events<B: Bar + 'static>(pair: Arc<Pair<B>>, mut events: mpsc::Receiver<LinkEvent>, promote: mpsc::Sender<PromoteRequest>) {
    while let Some(ev) = events.recv().await {
        match ev {
            LinkEvent::Connected { peer, peer_node, peer_epoch, resumed } => {
                tracing::info!(%peer, peer_node, peer_epoch, resumed, "replication peer connected")
            }
            LinkEvent::Synced { tcbs } => tracing::info!(tcbs, "replication full sync done"),
            LinkEvent::Disconnected { peer, reason } => tracing::warn!(%peer, %reason, "replication peer disconnected"),
            LinkEvent::Refused { peer, reason, detail } => {
                tracing::warn!(%peer, reason = reason.name(), %detail, "replication connection refused")
            }
            LinkEvent::NewerEpoch { own, peer } => {
                if pair.primary.is_some() {
                    let p = pair.clone();
                    let _ = tokio::task::spawn_blocking(move || p.fence(peer)).await;
                } else {
                    tracing::warn!(own, peer, "a newer epoch was announced to this standby");
                }
            }
            LinkEvent::PeerLost { silent_for } => {
                let standby = lock(&pair.state).role == PairRole::Standby;
                if standby && pair.self_promotes() {
                    tracing::error!(?silent_for, "primary lost (heartbeats): promoting");
                    let (tx, rx) = oneshot::channel();
                    if promote.send(tx).await.is_err() {
                        return;
                    }
                    match rx.await {
                        Ok(Ok(what)) => tracing::info!(%what, "self-promotion done"),
                        Ok(Err(e)) => tracing::error!(error = %e, "self-promotion failed"),
                        Err(_) => return,
                    }
                } else if standby {
                    tracing::error!(?silent_for, "primary lost (heartbeats); detector = external: waiting for `holdback promote`");
                } else {
                    tracing::error!(?silent_for, "standby lost: with the replica gate nothing is released until it returns");
                }
            }
        }
    }
}

/// Whether a link state lets the replica gate pass (for status readers).
pub fn link_is_replicating(link: &str) -> bool {
    link == format!("{:?}", LinkState::Replicating)
}
