//! `holdback switchover`: a planned switchover of a failover pair, for
//! maintenance (an upgrade: docs/upgrade.md) instead of killing the primary.
//!
//! Over the two daemons' control sockets, in this order:
//! 1. both are asked for their status: the primary must be active or
//!    promoted with its standby `Replicating`, the standby a standby with
//!    its primary connected, both in one epoch;
//! 2. the primary hands over ([`Request::HandOver`]): its sink stops (no
//!    release after this), its card goes silent, it ships a final copy of
//!    every connection and answers once the standby acknowledged them all;
//! 3. the standby takes over ([`Request::TakeOver`]): it checks that it
//!    stored everything the hand-over covers and that the old card is
//!    silent (`Rules::takes_over`), then promotes — a new epoch, every
//!    connection resumes from R, a gratuitous ARP moves the switch's MAC
//!    entry to its port. The old card went quiet before, so nothing pulls
//!    the entry back and the two cards never answer at once (invariant 8);
//! 4. the promoted node dials the old primary's listener; the old primary,
//!    silent, yields to it and becomes its standby. This tool waits for
//!    that and reports it.
//!
//! If the standby refuses the takeover ([`Response::TakeOverRefused`]), the
//! primary is told to speak again ([`Request::ResumeActive`]) and nothing
//! changed but a pause in the ACKs. Any other outcome (its promotion
//! failed, its answer was lost) leaves the primary silent: the standby's
//! card may speak, and two cards must never answer at once.
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::control::{client, HandOver, PairLink, PairRole, PairStatus, Request, Response};

#[derive(Debug, thiserror::Error)]
pub enum SwitchoverError {
    #[error("asking {socket}")]
    Call {
        socket: PathBuf,
        #[source]
        source: client::ClientError,
    },
    #[error("{socket} is not a pair member (no [replication] section)")]
    NotAPair { socket: PathBuf },
    #[error("not ready for a switchover: {0}")]
    NotReady(String),
    #[error("the primary did not hand over: {0}")]
    HandOver(String),
    #[error("the standby refused to take over: {refusal}; the primary speaks again: {resumed}")]
    TakeOverRefused { refusal: String, resumed: String },
    #[error(
        "the standby neither took over nor refused cleanly ({0}); the old primary stays silent, since the standby's card may speak. \
         Check `holdback status` on the standby: if it is not promoted, `holdback promote` it"
    )]
    TakeOverUnknown(String),
    #[error("the daemon at {socket} answered {answer}")]
    Unexpected { socket: PathBuf, answer: String },
}

/// What `holdback switchover` does.
pub struct SwitchoverPlan<'a> {
    pub primary_socket: &'a Path,
    pub standby_socket: &'a Path,
    /// How long to wait for the old primary to join the promoted node as
    /// its standby (reported, not required).
    pub rejoin_timeout: Duration,
}

/// What happened (`holdback switchover --json`, and the lab's report).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SwitchoverOutcome {
    /// The primary's hand-over: epoch, acknowledged sequence, when its card
    /// went silent.
    pub handover: HandOver,
    /// The standby's answer to the takeover.
    pub promoted: String,
    /// The epoch the new primary runs.
    pub new_epoch: u32,
    /// Request to the primary → the standby's promotion answered, ms.
    pub took_ms: f64,
    /// The old primary joined the new one as standby within the timeout,
    /// and after how long (ms from the promotion).
    pub old_primary_rejoined_ms: Option<f64>,
    /// The old primary's card's frame counter (TX) right after the
    /// hand-over, and once the takeover and the rejoin wait are over: equal
    /// when the old card sent nothing while the new one took over.
    pub old_card_tx_frames: (Option<u32>, Option<u32>),
}

/// The card's count of frames sent (its TX counter), if the daemon answers.
fn tx_frames(socket: &Path) -> Option<u32> {
    match client::call(socket, &Request::Stats) {
        Ok(Response::Stats { stats }) => Some(stats.get(holdback_driver::regmap::Stat::TxFrames)),
        _ => None,
    }
}

fn call(socket: &Path, req: &Request) -> Result<Response, SwitchoverError> {
    client::call(socket, req).map_err(|source| SwitchoverError::Call { socket: socket.to_path_buf(), source })
}

fn pair_status(socket: &Path) -> Result<PairStatus, SwitchoverError> {
    match call(socket, &Request::Status)? {
        Response::Status(s) => s.pair.ok_or_else(|| SwitchoverError::NotAPair { socket: socket.to_path_buf() }),
        other => Err(SwitchoverError::Unexpected { socket: socket.to_path_buf(), answer: format!("{other:?}") }),
    }
}

fn error_text(r: Response) -> String {
    match r {
        Response::Error { message, causes } if causes.is_empty() => message,
        Response::Error { message, causes } => format!("{message}: {}", causes.join(": ")),
        other => format!("{other:?}"),
    }
}

/// Runs the switchover (see the module docs).
pub fn run(plan: &SwitchoverPlan<'_>) -> Result<SwitchoverOutcome, SwitchoverError> {
    let primary = pair_status(plan.primary_socket)?;
    let standby = pair_status(plan.standby_socket)?;
    if !matches!(primary.role, PairRole::Active | PairRole::Promoted) || primary.link != PairLink::Replicating {
        return Err(SwitchoverError::NotReady(format!(
            "{} is {} with link {} (needs active or promoted, link Replicating)",
            plan.primary_socket.display(),
            primary.role,
            primary.link
        )));
    }
    if standby.role != PairRole::Standby || standby.link != PairLink::Connected || standby.epoch != primary.epoch {
        return Err(SwitchoverError::NotReady(format!(
            "{} is {} in epoch {} with link {} (needs a standby of the primary's epoch {}, its primary connected)",
            plan.standby_socket.display(),
            standby.role,
            standby.epoch,
            standby.link,
            primary.epoch
        )));
    }
    let started = Instant::now();
    let handover = match call(plan.primary_socket, &Request::HandOver)? {
        Response::HandedOver(h) => h,
        other => return Err(SwitchoverError::HandOver(error_text(other))),
    };
    let tx_at_hand_over = tx_frames(plan.primary_socket);
    tracing::info!(?handover, "primary handed over: card silent, the standby acknowledged every final copy");
    let promoted = match client::call(plan.standby_socket, &Request::TakeOver { handover }) {
        Ok(Response::Done { what }) => what,
        // A clean refusal: the standby did not promote, the primary may speak again.
        Ok(Response::TakeOverRefused { refusal }) => {
            let resumed = match call(plan.primary_socket, &Request::ResumeActive) {
                Ok(Response::Done { what }) => what,
                Ok(other) => format!("resume refused: {}", error_text(other)),
                Err(e) => format!("resume failed: {}", crate::error::chain(&e)),
            };
            return Err(SwitchoverError::TakeOverRefused { refusal: refusal.to_string(), resumed });
        }
        // Anything else (a failed promotion, a lost answer): the standby's
        // card may speak, so the old one stays silent.
        Ok(other) => return Err(SwitchoverError::TakeOverUnknown(error_text(other))),
        Err(e) => return Err(SwitchoverError::TakeOverUnknown(crate::error::chain(&e))),
    };
    let took = started.elapsed();
    let promoted_at = Instant::now();
    let new_epoch = pair_status(plan.standby_socket).map(|s| s.epoch).unwrap_or(0);
    let mut rejoined = None;
    while promoted_at.elapsed() < plan.rejoin_timeout {
        if let Ok(s) = pair_status(plan.primary_socket) {
            if s.role == PairRole::Standby && s.epoch >= new_epoch {
                rejoined = Some(promoted_at.elapsed().as_secs_f64() * 1e3);
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    if rejoined.is_none() {
        tracing::warn!(timeout = ?plan.rejoin_timeout, "the old primary has not joined the promoted node as standby yet (it stays silent meanwhile)");
    }
    Ok(SwitchoverOutcome {
        handover,
        promoted,
        new_epoch,
        took_ms: took.as_secs_f64() * 1e3,
        old_primary_rejoined_ms: rejoined,
        old_card_tx_frames: (tx_at_hand_over, tx_frames(plan.primary_socket)),
    })
}
