//! The pair under `[authority] kind = "etcd"` (docs/authority.md): a card
//! speaks in a new epoch only after this node won it in etcd and waited out
//! every grant the old holder may still speak on; a holder keeps its card's
//! lease register at the end of its freshest grant, confirms its epoch every
//! heartbeat interval and watches the epoch key; a newer epoch silences the
//! card at once.
use std::sync::Arc;
use std::time::Duration;

use holdback_driver::{Bar, CardError, CardHandle};

use super::{lock, Pair, PairError};
use crate::authority::etcd::Campaign;
use crate::authority::node::{Authority, Campaigned};
use crate::authority::rules::{CampaignRefusal, RULES};
use crate::authority::now_us;
use crate::control::PairRole;

/// How often a node that does not hold the epoch reads who does (status).
const REFRESH_EVERY: Duration = Duration::from_secs(1);
/// Pause before a watch of the epoch key is set up again after it failed.
const WATCH_RETRY: Duration = Duration::from_secs(1);
/// The card's lease is compared within 2^31 µs of NOW_US (the register map).
const MAX_LEASE_US: u64 = (1 << 31) - 1;

/// Writes the end of the node's grant (`now_us` time) into the card's lease
/// register, on the card's clock: NOW_US is read first, then our clock, so
/// the time left is measured from the later reading and the card's end is
/// never later than ours. No grant (or one that ended): the card's own
/// now, which silences it at once. Never 0, which would turn the check off.
pub(super) fn write_lease<B: Bar>(card: &CardHandle<B>, speak_until_us: Option<u64>) -> Result<(), CardError> {
    let card_now = card.now_us()?;
    let left = speak_until_us.map_or(0, |u| u.saturating_sub(now_us())).min(MAX_LEASE_US);
    let until = card_now.wrapping_add(left as u32);
    card.set_lease_until(until.max(1))
}

/// Why a campaign gave no epoch to speak in, for the pair's error and status.
fn refusal(outcome: Campaigned) -> String {
    match outcome {
        Campaigned::Lost { epoch, holder } => format!(
            "etcd holds epoch {epoch} ({}): another node took the epoch; this one stays a silent standby",
            holder.map_or("its holder record expired".to_string(), |h| format!("held by {h}"))
        ),
        Campaigned::Won { epoch, .. } => format!("won epoch {epoch}"),
    }
}

/// Why a campaign gave this node no epoch to speak in.
enum NoEpoch {
    /// etcd answered: another node holds the epoch, or the card failed.
    Refused(String),
    /// etcd could not be asked (or did not answer in time): nobody knows
    /// yet, so a standby whose primary is lost asks again.
    Unreachable(String),
}

impl NoEpoch {
    fn why(self) -> String {
        match self {
            NoEpoch::Refused(why) | NoEpoch::Unreachable(why) => why,
        }
    }
}

/// After winning: wait until the old holder's last confirmation has run
/// out, then take a fresh confirmation of our own and write the card's
/// lease from it. Returns the epoch, ready for the card to speak in.
async fn after_winning<B: Bar + 'static>(etcd: &Authority, card: &Arc<CardHandle<B>>, epoch: u32, speaks_from_us: u64) -> Result<u32, NoEpoch> {
    let wait = speaks_from_us.saturating_sub(now_us());
    tracing::warn!(epoch, wait_us = wait, "authority: won the epoch; waiting out the old holder's last confirmation before the card speaks");
    tokio::time::sleep(Duration::from_micros(wait)).await;
    match etcd.confirm().await {
        Ok(None) => {}
        Ok(Some(newer)) => return Err(NoEpoch::Refused(format!("epoch {newer} was taken right after this node won {epoch}: stays a silent standby"))),
        Err(e) => return Err(NoEpoch::Unreachable(format!("won epoch {epoch} but could not confirm it: {}", crate::error::chain(&e)))),
    }
    let until = RULES.speak_until(etcd.grants(None));
    let c = card.clone();
    tokio::task::spawn_blocking(move || write_lease(&c, until))
        .await
        .map_err(|e| NoEpoch::Refused(format!("writing the card's lease: {e}")))?
        .map_err(|e| NoEpoch::Refused(format!("writing the card's lease: {}", crate::error::chain(&e))))?;
    Ok(epoch)
}

/// A daemon configured active whose rejoin window stayed empty: it takes
/// the next epoch only if nobody holds the current one (docs/authority.md,
/// Starting). `Err`: why it stays a silent standby.
pub(super) async fn campaign_to_start<B: Bar + 'static>(etcd: &Authority, card: &Arc<CardHandle<B>>, known: u32) -> Result<u32, String> {
    match etcd.campaign(Campaign::Start, known).await {
        Ok(Campaigned::Won { epoch, speaks_from_us }) => after_winning(etcd, card, epoch, speaks_from_us).await.map_err(NoEpoch::why),
        Ok(lost) => Err(format!("configured active, but {}", refusal(lost))),
        Err(e) => Err(format!("configured active, but {}: a fresh daemon does not go active without etcd", crate::error::chain(&e))),
    }
}

impl<B: Bar + 'static> Pair<B> {
    /// A standby promotes (its detector fired, or `holdback promote`): it
    /// stops promising, waits until its own last promise ran out, takes
    /// epoch `known + 1` (or higher) in etcd and waits out the old holder's
    /// last confirmation. Blocking: call on a blocking thread of the
    /// runtime. On any failure it promises again and stays the standby;
    /// [`PairError::AuthorityUnreachable`] when etcd could not be asked.
    pub(super) fn campaign_for_promotion(&self, etcd: &Authority, known: u32) -> Result<u32, PairError> {
        let last_promise = lock(&self.standby).as_ref().and_then(|s| s.stop_promising());
        loop {
            match RULES.may_campaign(etcd.timing(), now_us(), true, last_promise) {
                Ok(()) => break,
                Err(CampaignRefusal::PromiseRunning { left_us }) => {
                    tracing::warn!(left_us, "authority: waiting until this standby's last promise not to take over ran out");
                    std::thread::sleep(Duration::from_micros(left_us));
                }
                Err(refused @ CampaignRefusal::PrimaryNotLost) => return Err(PairError::Authority(refused.to_string())),
            }
        }
        let runtime = tokio::runtime::Handle::current();
        let won = runtime.block_on(async {
            match etcd.campaign(Campaign::Takeover, known).await {
                Ok(Campaigned::Won { epoch, speaks_from_us }) => after_winning(etcd, &self.card, epoch, speaks_from_us).await,
                Ok(lost) => Err(NoEpoch::Refused(refusal(lost))),
                Err(e) => Err(NoEpoch::Unreachable(crate::error::chain(&e))),
            }
        });
        won.map_err(|no| {
            if let Some(s) = lock(&self.standby).as_ref() {
                s.resume_promising();
            }
            let unreachable = matches!(no, NoEpoch::Unreachable(_));
            let why = format!("no promotion: {}", no.why());
            lock(&self.state).reason = Some(why.clone());
            if unreachable {
                PairError::AuthorityUnreachable(why)
            } else {
                PairError::Authority(why)
            }
        })
    }
}

/// The holder's duties, for the pair's whole life (they act only while this
/// node is active or promoted and holds the epoch): the lease register
/// twice per heartbeat interval, a confirmation every interval, and the
/// watch of the epoch key. A newer epoch from either silences the card.
pub(super) fn spawn_duties<B: Bar + 'static>(pair: &Arc<Pair<B>>, etcd: Arc<Authority>, heartbeat: Duration) -> Vec<tokio::task::JoinHandle<()>> {
    let lease = {
        let (pair, etcd) = (pair.clone(), etcd.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval((heartbeat / 2).max(Duration::from_millis(5)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if !speaks(&pair) || etcd.held_epoch().is_none() {
                    continue;
                }
                let promise = lock(&pair.primary).as_ref().and_then(|p| p.promise_until_us());
                let until = RULES.speak_until(etcd.grants(promise));
                let card = pair.card.clone();
                match tokio::task::spawn_blocking(move || write_lease(&card, until)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::error!(error = %crate::error::chain(&e), "authority: writing the card's lease register"),
                    Err(e) => tracing::error!(error = %e, "authority: the lease writer failed"),
                }
            }
        })
    };
    let confirm = {
        let (pair, etcd) = (pair.clone(), etcd.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(heartbeat);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut refreshed = tokio::time::Instant::now() - REFRESH_EVERY;
            loop {
                tick.tick().await;
                if speaks(&pair) && etcd.held_epoch().is_some() {
                    if let Ok(Some(newer)) = etcd.confirm().await {
                        silence(&pair, &etcd, newer).await;
                    }
                } else if refreshed.elapsed() >= REFRESH_EVERY {
                    refreshed = tokio::time::Instant::now();
                    let _ = etcd.refresh().await;
                }
            }
        })
    };
    let watch = {
        let pair = pair.clone();
        tokio::spawn(async move {
            loop {
                let mut epochs = match etcd.watch().await {
                    Ok(rx) => rx,
                    Err(_) => {
                        tokio::time::sleep(WATCH_RETRY).await;
                        continue;
                    }
                };
                while let Some(seen) = epochs.recv().await {
                    let held = etcd.held_epoch();
                    if speaks(&pair) && held.is_none_or(|h| RULES.silences_on(h, seen)) {
                        silence(&pair, &etcd, seen).await;
                    }
                }
                tokio::time::sleep(WATCH_RETRY).await;
            }
        })
    };
    vec![lease, confirm, watch]
}

fn speaks<B: Bar>(pair: &Pair<B>) -> bool {
    matches!(lock(&pair.state).role, PairRole::Active | PairRole::Promoted)
}

/// A newer epoch exists in etcd: the card goes silent before anything else
/// (`Pair::fence`), and nothing of ours is confirmed any more.
async fn silence<B: Bar + 'static>(pair: &Arc<Pair<B>>, etcd: &Authority, newer: u32) {
    tracing::error!(newer, held = ?etcd.held_epoch(), "authority: a newer epoch is in etcd: silencing the card");
    etcd.lost_to(newer, None);
    let p = pair.clone();
    let _ = tokio::task::spawn_blocking(move || p.fence(newer)).await;
}
