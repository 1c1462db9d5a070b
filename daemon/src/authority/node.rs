//! The daemon's use of the etcd authority (`docs/authority.md`): the
//! campaign a node runs before its card speaks in a new epoch, the
//! confirmations and the watch a holder keeps, and the state `holdback
//! status` and the metrics show. The decisions are [`rules`]'; this is
//! their I/O. Every request is bounded by `request_timeout`; a request that
//! does not answer in time counts as not answered (its grant is not taken).
use std::sync::Mutex;
use std::time::Duration;

use super::etcd::{Campaign, Confirmation, Etcd, EtcdError, Outcome, Won};
use super::rules::{Grants, SpeaksOn, Timing, RULES};
use crate::config::EtcdAuthority as Settings;
use crate::control::AuthorityStatus;

#[derive(Debug, thiserror::Error)]
pub enum AuthorityError {
    #[error("etcd did not answer within {0:?}: no promotion or start is possible until it does")]
    Timeout(Duration),
    #[error("etcd cannot be reached: no promotion or start is possible until it can")]
    Etcd(#[from] EtcdError),
}

/// What a campaign ended with, for the pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Campaigned {
    /// This node holds `epoch`; its card may speak from `speaks_from_us`
    /// (`now_us`) on, once a fresh confirmation was taken.
    Won { epoch: u32, speaks_from_us: u64 },
    /// Another node's epoch is current (or, at a start, somebody holds it).
    Lost { epoch: u32, holder: Option<String> },
}

#[derive(Default)]
struct Held {
    won: Option<Won>,
    confirmed_until_us: Option<u64>,
    /// The keep-alive of the holder record; aborted when the epoch is lost.
    keep_alive: Option<tokio::task::JoinHandle<()>>,
    /// The highest epoch seen in etcd and who held it then.
    seen_epoch: u32,
    holder: Option<String>,
    /// The last request's failure, until one succeeds.
    unreachable: Option<String>,
}

/// One daemon's view of the authority.
pub struct Authority {
    etcd: Etcd,
    timing: Timing,
    request_timeout: Duration,
    name: String,
    held: Mutex<Held>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Authority {
    /// Connects to etcd. Connecting is lazy in the client: an unreachable
    /// etcd shows up on the first request, not here.
    pub async fn connect(s: &Settings) -> Result<Authority, EtcdError> {
        let etcd = Etcd::connect(s, &s.name).await?;
        Ok(Authority {
            etcd,
            timing: Timing { promise_us: s.promise.as_micros() as u64, confirm_us: s.confirm.as_micros() as u64 },
            request_timeout: s.request_timeout,
            name: s.name.clone(),
            held: Mutex::new(Held::default()),
        })
    }

    pub fn timing(&self) -> Timing {
        self.timing
    }

    async fn bounded<T>(&self, f: impl std::future::Future<Output = Result<T, EtcdError>>) -> Result<T, AuthorityError> {
        let outcome = match tokio::time::timeout(self.request_timeout, f).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(AuthorityError::Etcd(e)),
            Err(_) => Err(AuthorityError::Timeout(self.request_timeout)),
        };
        let mut h = lock(&self.held);
        match &outcome {
            Ok(_) => {
                if h.unreachable.take().is_some() {
                    tracing::warn!("authority: etcd answers again");
                }
            }
            Err(e) => {
                let why = crate::error::chain(e);
                if h.unreachable.as_deref() != Some(why.as_str()) {
                    tracing::error!(error = %why, "authority: etcd not reached: no promotion or start is possible, a holder speaks only on its standby's promises");
                }
                h.unreachable = Some(why);
            }
        }
        outcome
    }

    /// Asks for the next epoch above `known_here` (every epoch this node
    /// knows of). On a win the holder record is kept alive from now on.
    /// The caller must wait until `speaks_from_us` and confirm before its
    /// card speaks (`rules::speaks_after_winning`).
    pub async fn campaign(&self, how: Campaign, known_here: u32) -> Result<Campaigned, AuthorityError> {
        let outcome = self.bounded(self.etcd.campaign(how, known_here)).await?;
        let won_us = super::now_us();
        let mut h = lock(&self.held);
        match outcome {
            Outcome::Won(won) => {
                if let Some(old) = h.keep_alive.take() {
                    old.abort();
                }
                let (task, mut answers) = self.etcd.keep_alive(won);
                // The answers only matter to the log: the record's lease
                // plays no part in who may speak (docs/authority.md).
                tokio::spawn(async move {
                    while let Some(a) = answers.recv().await {
                        if let Err(e) = a {
                            tracing::warn!(error = %e, "authority: keeping the holder record alive");
                        }
                    }
                });
                h.keep_alive = Some(task);
                h.won = Some(won);
                h.confirmed_until_us = None;
                h.seen_epoch = h.seen_epoch.max(won.epoch);
                h.holder = Some(self.name.clone());
                Ok(Campaigned::Won { epoch: won.epoch, speaks_from_us: RULES.speaks_after_winning(self.timing, won_us) })
            }
            Outcome::Lost(current) => {
                h.seen_epoch = h.seen_epoch.max(current.epoch);
                h.holder = current.holder.as_ref().map(|c| c.name.clone());
                tracing::warn!(epoch = current.epoch, holder = ?h.holder, ?how, "authority: the epoch transaction lost");
                Ok(Campaigned::Lost { epoch: current.epoch, holder: h.holder.clone() })
            }
        }
    }

    /// One confirmation of the held epoch. `Ok(None)`: still current (the
    /// grant is renewed); `Ok(Some(e))`: epoch `e` is newer, the card must
    /// be silenced at once; `Err`: not answered, the grant only runs out.
    pub async fn confirm(&self) -> Result<Option<u32>, AuthorityError> {
        let Some(won) = lock(&self.held).won else { return Ok(None) };
        let sent_us = super::now_us();
        match self.bounded(self.etcd.confirm(won)).await? {
            Confirmation::Current => {
                let mut h = lock(&self.held);
                // The epoch may have been given up meanwhile.
                if h.won == Some(won) {
                    let until = RULES.confirmed_until(self.timing, sent_us);
                    h.confirmed_until_us = Some(h.confirmed_until_us.unwrap_or(0).max(until));
                }
                Ok(None)
            }
            Confirmation::Newer(epoch) => {
                self.lost_to(epoch, None);
                Ok(Some(epoch))
            }
        }
    }

    /// A newer epoch exists: nothing of ours is confirmed any more.
    pub fn lost_to(&self, epoch: u32, holder: Option<String>) {
        let mut h = lock(&self.held);
        if let Some(task) = h.keep_alive.take() {
            task.abort();
        }
        h.won = None;
        h.confirmed_until_us = None;
        h.seen_epoch = h.seen_epoch.max(epoch);
        if holder.is_some() {
            h.holder = holder;
        }
    }

    /// The epoch this node holds, if any.
    pub fn held_epoch(&self) -> Option<u32> {
        lock(&self.held).won.map(|w| w.epoch)
    }

    /// The epoch's current holder's grants, with the standby's promise end.
    pub fn grants(&self, promise_until_us: Option<u64>) -> Grants {
        let h = lock(&self.held);
        Grants { promise_until_us: promise_until_us.filter(|_| h.won.is_some()), confirmed_until_us: h.confirmed_until_us }
    }

    /// Every epoch written to etcd from now on (the holder's watch).
    pub async fn watch(&self) -> Result<tokio::sync::mpsc::Receiver<u32>, AuthorityError> {
        self.bounded(self.etcd.watch_epoch()).await
    }

    /// Reads who holds which epoch now (status of a standby, and a start).
    pub async fn refresh(&self) -> Result<(), AuthorityError> {
        let current = self.bounded(self.etcd.current()).await?;
        let mut h = lock(&self.held);
        h.seen_epoch = h.seen_epoch.max(current.epoch);
        h.holder = current.holder.map(|c| c.name);
        Ok(())
    }

    /// For status and the metrics: `promise_until_us` is the holder's
    /// freshest promise (its [`crate::replication::Primary`]), or, on a
    /// standby, when its own last promise binds it until.
    pub fn status(&self, promise_until_us: Option<u64>, promising: bool) -> AuthorityStatus {
        let now = super::now_us();
        let h = lock(&self.held);
        let grants = Grants { promise_until_us: promise_until_us.filter(|_| h.won.is_some()), confirmed_until_us: h.confirmed_until_us };
        let left_ms = |until: Option<u64>| until.map(|u| u.saturating_sub(now) / 1000);
        AuthorityStatus {
            holder: h.holder.clone(),
            epoch: h.seen_epoch,
            holds: h.won.is_some(),
            speaks_on: if h.won.is_some() { RULES.speaks_on(grants, now) } else { SpeaksOn::Nothing },
            confirmed_left_ms: left_ms(h.confirmed_until_us.filter(|_| h.won.is_some())),
            promise_left_ms: left_ms(promise_until_us),
            promising,
            etcd_unreachable: h.unreachable.clone(),
        }
    }
}
