//! The pair's decisions, without I/O: when a release may be written, what
//! an epoch heard from the other node does to this one, which primary a
//! standby takes copies from, the epoch a promotion takes, whether an
//! empty rejoin window lets a daemon take the active role, and the two
//! halves of a planned switchover.
//!
//! The daemon ([`crate::pair`], [`crate::sink`], the standby's handshake in
//! [`crate::replication::standby`]) calls these, and so does the model
//! checker (`model/`, see `docs/model.md`), which adds only the environment:
//! network, crashes, clocks. A change here changes both.
//!
//! [`Rules::production`] is the only set of rules the daemon can name.
//! The model selects broken variants of these decisions with
//! [`Rules::broken`], which exists only with the `model-mutations` feature
//! (enabled by the model's tests, never by the daemon), to show that its
//! properties catch each one.
use crate::control::PairRole;
use crate::pair::epoch::EpochRecord;
use crate::pair::FIRST_EPOCH;

/// A deliberately wrong decision, one line each, for the model's negative
/// tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mutation {
    /// The sink releases before the standby acknowledged the copy carrying
    /// the release (breaks invariant 2).
    ReleaseBeforeAck,
    /// A daemon configured active takes the active role after an empty
    /// rejoin window although its record holds a newer epoch than the one
    /// it last held: it accepts its own, lower, standing (breaks
    /// invariant 8).
    ActiveDespiteNewerEpoch,
    /// A standby whose detector is the heartbeat does not promote when the
    /// primary's heartbeats stop (breaks recovery).
    NoPromotionOnPeerLost,
    /// A planned switchover promotes the standby before the old primary's
    /// card is silent: both cards answer at once (breaks invariant 8).
    TakeOverBeforeSilence,
}

/// Which decisions apply: the production ones, or one broken variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rules {
    broken: Option<Mutation>,
}

/// The daemon's rules: the production ones.
pub const RULES: Rules = Rules::production();

/// What the sink does before it writes the releases of one pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReleaseStep {
    /// Write them now.
    Release,
    /// Write them once the standby acknowledged the copy with this
    /// replication sequence (the last one of the pass).
    AwaitAck(u64),
}

/// What an epoch heard from the other node does to this daemon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EpochHeard {
    /// Nothing changes.
    Ignore,
    /// A standby takes the newer epoch as its own (recorded first).
    Adopt,
    /// Card silent, epoch recorded: another card speaks (invariant 8).
    Fence,
    /// Card silent, epoch recorded, then become that primary's standby.
    Yield,
}

/// Why a standby refuses the second half of a planned switchover
/// (`holdback switchover`): taking over from a primary that handed over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TakeOverRefusal {
    #[error("this daemon is {0}, not a standby")]
    NotStandby(PairRole),
    #[error("the old primary's card still speaks: promoting now would put two cards on the address (invariant 8)")]
    PrimaryStillSpeaks,
    #[error("the primary handed over in epoch {handed}, this standby follows epoch {own}: it is not that primary's standby")]
    OtherEpoch { own: u32, handed: u32 },
    #[error("this standby stored the primary's stream up to {applied}, the primary handed over at {through}: it lacks the last released points")]
    Behind { applied: u64, through: u64 },
}

/// Where an epoch was heard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeardOn {
    /// An authenticated primary on our listener (its Hello or heartbeat).
    Listener,
    /// The standby our own primary dialled answered with a newer epoch.
    OwnPrimary,
}

impl Rules {
    /// The rules the daemon runs.
    pub const fn production() -> Rules {
        Rules { broken: None }
    }

    /// A broken variant, for the model's negative tests only.
    #[cfg(feature = "model-mutations")]
    pub const fn broken(mutation: Mutation) -> Rules {
        Rules { broken: Some(mutation) }
    }

    fn is(&self, mutation: Mutation) -> bool {
        self.broken == Some(mutation)
    }

    /// Whether the replica gate holds releases for the standby's
    /// acknowledgement: configured to wait (`replica` in the gates and
    /// `sync = before-ack`), and not a promoted daemon whose standby is
    /// not back yet (degraded: nobody could answer).
    pub fn gate_waits(&self, configured_to_wait: bool, degraded: bool) -> bool {
        configured_to_wait && !degraded
    }

    /// Invariant 2: with a waiting gate the releases of a pass wait for the
    /// acknowledgement of the last copy shipped in it (each copy carries the
    /// R about to be written).
    pub fn before_release(&self, gate_waits: bool, last_copy: u64) -> ReleaseStep {
        if !gate_waits || self.is(Mutation::ReleaseBeforeAck) {
            return ReleaseStep::Release;
        }
        ReleaseStep::AwaitAck(last_copy)
    }

    /// The handshake's epoch check: a standby takes copies only from a
    /// primary whose epoch is not older than its own (invariant 8).
    pub fn admits_primary(&self, own: u32, primary: u32) -> bool {
        primary >= own
    }

    /// An epoch `peer` heard while this daemon is `role` in epoch `own`.
    /// `tie_yields`: this daemon is the one that yields when two actives
    /// share an epoch (the lower `listen` address).
    pub fn epoch_heard(&self, role: PairRole, own: u32, peer: u32, on: HeardOn, tie_yields: bool) -> EpochHeard {
        match (role, on) {
            (PairRole::Standby, _) if peer > own => EpochHeard::Adopt,
            (PairRole::Standby, _) => EpochHeard::Ignore,
            // Already silent: it yields to any primary that gets through.
            (PairRole::Fenced, HeardOn::Listener) => EpochHeard::Yield,
            (PairRole::Fenced, HeardOn::OwnPrimary) => EpochHeard::Ignore,
            (PairRole::Active | PairRole::Promoted, HeardOn::Listener) if peer > own => EpochHeard::Yield,
            (PairRole::Active | PairRole::Promoted, HeardOn::Listener) if peer == own && tie_yields => EpochHeard::Yield,
            (PairRole::Active | PairRole::Promoted, HeardOn::OwnPrimary) if peer > own => EpochHeard::Fence,
            (PairRole::Active | PairRole::Promoted, _) => EpochHeard::Ignore,
        }
    }

    /// Whether the loss of the primary's heartbeats promotes this daemon:
    /// a standby whose detector is the heartbeat (otherwise `holdback
    /// watch` or an operator promotes it).
    pub fn promotes_on_peer_lost(&self, role: PairRole, heartbeat_detector: bool) -> bool {
        role == PairRole::Standby && heartbeat_detector && !self.is(Mutation::NoPromotionOnPeerLost)
    }

    /// The epoch a promotion takes: one above every epoch this standby has
    /// held, been told, or stored a copy from.
    pub fn promotion_epoch(&self, own: u32, listener: u32, highest_copy: u32) -> u32 {
        own.max(listener).max(highest_copy) + 1
    }

    /// The primary's half of a planned switchover: its sink stopped and its
    /// card silenced, it shipped a final copy of every connection (the last
    /// R of each); the hand-over is complete once the standby acknowledged
    /// the last of them (`acked` ≥ `last_copy`). Until then it must not
    /// report the hand-over, and if the acknowledgement never comes it
    /// speaks again.
    pub fn hand_over_complete(&self, acked: u64, last_copy: u64) -> bool {
        acked >= last_copy
    }

    /// The standby's half of a planned switchover: promote only a standby
    /// that follows the primary which handed over (same epoch), stored its
    /// stream at least up to the point the hand-over covers (every final
    /// R), and only once that primary's card is silent — the old card goes
    /// quiet before the new one speaks, so the two never answer at once
    /// and the new card's gratuitous ARP is the last word the switch hears
    /// (invariant 8).
    pub fn takes_over(
        &self,
        role: PairRole,
        own_epoch: u32,
        applied: u64,
        (handed_epoch, through, silent): (u32, u64, bool),
    ) -> Result<(), TakeOverRefusal> {
        if role != PairRole::Standby {
            return Err(TakeOverRefusal::NotStandby(role));
        }
        if !silent && !self.is(Mutation::TakeOverBeforeSilence) {
            return Err(TakeOverRefusal::PrimaryStillSpeaks);
        }
        if own_epoch != handed_epoch {
            return Err(TakeOverRefusal::OtherEpoch { own: own_epoch, handed: handed_epoch });
        }
        if applied < through {
            return Err(TakeOverRefusal::Behind { applied, through });
        }
        Ok(())
    }

    /// A daemon configured active whose rejoin window stayed empty: the
    /// epoch it takes the active role in, or `None` when its record says
    /// another card was promoted after it last held the role (it stays a
    /// silent standby, invariant 8).
    pub fn active_after_empty_window(&self, record: EpochRecord) -> Option<u32> {
        (!record.knows_a_newer_primary() || self.is(Mutation::ActiveDespiteNewerEpoch)).then(|| record.seen.max(FIRST_EPOCH))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: Rules = Rules::production();

    #[test]
    fn a_waiting_gate_holds_releases_for_the_last_copy_and_degraded_mode_does_not() {
        assert_eq!(RULES.before_release(RULES.gate_waits(true, false), 7), ReleaseStep::AwaitAck(7));
        assert_eq!(RULES.before_release(RULES.gate_waits(true, true), 7), ReleaseStep::Release);
        assert_eq!(RULES.before_release(RULES.gate_waits(false, false), 7), ReleaseStep::Release);
    }

    #[test]
    fn epochs_heard_fence_yield_or_are_adopted_by_role() {
        use EpochHeard::*;
        use HeardOn::*;
        use PairRole::*;
        assert_eq!(RULES.epoch_heard(Standby, 2, 3, Listener, false), Adopt);
        assert_eq!(RULES.epoch_heard(Standby, 3, 3, Listener, false), Ignore);
        assert_eq!(RULES.epoch_heard(Active, 1, 2, Listener, false), Yield);
        assert_eq!(RULES.epoch_heard(Active, 1, 2, OwnPrimary, false), Fence);
        assert_eq!(RULES.epoch_heard(Promoted, 2, 2, Listener, true), Yield);
        assert_eq!(RULES.epoch_heard(Promoted, 2, 2, Listener, false), Ignore);
        assert_eq!(RULES.epoch_heard(Promoted, 2, 2, OwnPrimary, true), Ignore);
        assert_eq!(RULES.epoch_heard(Fenced, 2, 2, Listener, false), Yield);
        assert_eq!(RULES.epoch_heard(Fenced, 2, 3, OwnPrimary, false), Ignore);
    }

    #[test]
    fn a_standby_refuses_older_primaries_and_promotes_above_every_epoch_it_knows() {
        assert!(RULES.admits_primary(2, 2) && RULES.admits_primary(2, 3) && !RULES.admits_primary(2, 1));
        assert_eq!(RULES.promotion_epoch(2, 1, 3), 4);
        assert_eq!(RULES.promotion_epoch(2, 2, 0), 3);
        assert!(RULES.promotes_on_peer_lost(PairRole::Standby, true));
        assert!(!RULES.promotes_on_peer_lost(PairRole::Standby, false));
        assert!(!RULES.promotes_on_peer_lost(PairRole::Fenced, true));
    }

    #[test]
    fn a_switchover_completes_after_the_ack_and_takes_over_only_from_a_silent_primary_it_caught_up_with() {
        assert!(!RULES.hand_over_complete(6, 7) && RULES.hand_over_complete(7, 7));
        assert_eq!(RULES.takes_over(PairRole::Standby, 2, 7, (2, 7, true)), Ok(()));
        assert_eq!(RULES.takes_over(PairRole::Standby, 2, 7, (2, 7, false)), Err(TakeOverRefusal::PrimaryStillSpeaks));
        assert_eq!(RULES.takes_over(PairRole::Standby, 2, 6, (2, 7, true)), Err(TakeOverRefusal::Behind { applied: 6, through: 7 }));
        assert_eq!(RULES.takes_over(PairRole::Standby, 3, 7, (2, 7, true)), Err(TakeOverRefusal::OtherEpoch { own: 3, handed: 2 }));
        assert_eq!(RULES.takes_over(PairRole::Promoted, 2, 7, (2, 7, true)), Err(TakeOverRefusal::NotStandby(PairRole::Promoted)));
    }
}
