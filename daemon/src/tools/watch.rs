//! `holdback watch`: the external failure detector (claims 21, 22, 38-40).
//! It probes the primary from outside the pair — a status request over the
//! primary daemon's control socket, which the daemon answers only while its
//! service loop and card are alive — and after `misses` failed probes in a
//! row it commands the switch (in the lab: the Linux bridge; take the
//! primary's port off it, pin the service MAC on the standby's port) and
//! promotes the standby. Moving the switch first keeps invariant 8: by the
//! time the standby speaks, nothing the old primary might still send
//! reaches a peer.
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::control::{client, Request, Response};

/// The switch in front of the pair's two cards (in the lab: its Linux
/// bridge; in a deployment, whatever its own tooling commands).
pub trait Switch {
    /// Stop forwarding to the primary's port and send the service address
    /// to the standby's.
    fn move_to_standby(&self) -> Result<(), Box<dyn std::error::Error + Send + Sync>>;
}

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("commanding the switch")]
    Switch(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("promoting the standby via {socket}")]
    Promote {
        socket: PathBuf,
        #[source]
        source: client::ClientError,
    },
    #[error("the standby answered the promotion with {0}")]
    Unexpected(String),
    #[error("stopped before the primary failed")]
    Stopped,
}

/// What `holdback watch` does when the primary fails.
pub struct WatchPlan<'a> {
    pub primary_socket: &'a Path,
    pub standby_socket: &'a Path,
    /// The switch; `None` skips the switch step.
    pub switch: Option<&'a dyn Switch>,
    pub interval: Duration,
    pub misses: u32,
}

/// What happened.
#[derive(Clone, Debug, PartialEq)]
pub struct WatchOutcome {
    /// From the first failed probe of the final run of misses to the
    /// standby's answer to the promotion.
    pub detect_to_promoted: Duration,
    pub probes: u64,
    pub standby_answer: String,
}

/// Whether the primary answered a status probe within one interval.
fn probe(socket: &Path) -> bool {
    matches!(client::call(socket, &Request::Status), Ok(Response::Status(_)))
}

/// Probes until the primary has failed `misses` times in a row (or `stop`
/// returns true), then switches and promotes.
pub fn run(plan: &WatchPlan<'_>, stop: &dyn Fn() -> bool) -> Result<WatchOutcome, WatchError> {
    let mut missed = 0u32;
    let mut probes = 0u64;
    let mut first_miss: Option<Instant> = None;
    loop {
        if stop() {
            return Err(WatchError::Stopped);
        }
        let t = Instant::now();
        probes += 1;
        if probe(plan.primary_socket) {
            missed = 0;
            first_miss = None;
        } else {
            missed += 1;
            first_miss.get_or_insert(t);
            tracing::warn!(missed, of = plan.misses, socket = %plan.primary_socket.display(), "primary probe failed");
            if missed >= plan.misses.max(1) {
                break;
            }
        }
        std::thread::sleep(plan.interval.saturating_sub(t.elapsed()));
    }
    if let Some(switch) = plan.switch {
        switch.move_to_standby().map_err(WatchError::Switch)?;
    }
    let answer = client::call(plan.standby_socket, &Request::Promote)
        .map_err(|source| WatchError::Promote { socket: plan.standby_socket.to_path_buf(), source })?;
    let standby_answer = match answer {
        Response::Done { what } => what,
        other => return Err(WatchError::Unexpected(format!("{other:?}"))),
    };
    let detect_to_promoted = first_miss.map(|t| t.elapsed()).unwrap_or_default();
    tracing::info!(?detect_to_promoted, probes, %standby_answer, "primary failed: switch moved, standby promoted");
    Ok(WatchOutcome { detect_to_promoted, probes, standby_answer })
}
