//! The authority's decisions, without I/O (`docs/authority.md`): when a
//! node may speak, when a standby may ask etcd for the next epoch, when a
//! node that won an epoch may enable its card, and what the card's lease
//! register gets. Times are microseconds on the deciding node's own
//! monotonic clock; the daemon and the model checker (`model/`) both call
//! these, so a change here changes both.
//!
//! Every grant is measured from a moment *before* the grantor acted (the
//! send time of the request it answers) and shortened by the clock-rate
//! allowance, every wait is lengthened by it: a node never believes it
//! holds a grant the other node already considers expired.

/// The longest two clocks may disagree on a duration, in parts per
/// thousand (a crystal is off by well under 0.01 %; 1 % leaves room for a
/// virtual machine's clock being slewed).
pub const DRIFT_PERMILLE: u64 = 10;

/// A deliberately wrong decision, for the model's negative tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mutation {
    /// The standby asks for the next epoch as soon as its detector fired,
    /// without waiting for its own last promise to expire: the old primary
    /// may still speak on that promise (breaks invariant 8).
    CampaignDuringPromise,
    /// The winner of an epoch enables its card at once, without waiting out
    /// the confirmation window the old holder may still speak on (breaks
    /// invariant 8).
    SpeakRightAfterWinning,
}

/// The durations the decisions use (from `[authority]` and `[replication]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Timing {
    /// P: how long a standby's promise not to take over lasts, from the
    /// moment it answers a heartbeat.
    pub promise_us: u64,
    /// C: how long a successful confirmation in etcd lets the holder
    /// speak, from the moment it sent the confirmation request.
    pub confirm_us: u64,
}

/// What the active node holds: the end of its freshest promise and of its
/// freshest confirmation, each already converted to its own clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Grants {
    pub promise_until_us: Option<u64>,
    pub confirmed_until_us: Option<u64>,
}

/// Which grant lets a node speak right now, for status and metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpeaksOn {
    /// A confirmation in etcd (its epoch still current there).
    Confirmation,
    /// Only the standby's promise (etcd not reached lately).
    Promise,
    /// Neither: the card must be silent.
    Nothing,
}

/// Why a standby may not ask for the next epoch yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CampaignRefusal {
    #[error("the detector has not reported the primary lost")]
    PrimaryNotLost,
    #[error("this node's last promise not to take over lasts another {left_us} µs")]
    PromiseRunning { left_us: u64 },
}

/// The production rules, or one broken variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rules {
    broken: Option<Mutation>,
}

/// The daemon's rules.
pub const RULES: Rules = Rules { broken: None };

fn shortened(d: u64) -> u64 {
    d - d * DRIFT_PERMILLE / 1000
}

fn lengthened(d: u64) -> u64 {
    d + d.div_ceil(1000) * DRIFT_PERMILLE
}

impl Rules {
    /// A broken variant, for the model's negative tests only.
    #[cfg(feature = "model-mutations")]
    pub const fn broken(mutation: Mutation) -> Rules {
        Rules { broken: Some(mutation) }
    }

    fn is(&self, m: Mutation) -> bool {
        self.broken == Some(m)
    }

    /// The active node got a promise answering the heartbeat it sent at
    /// `heartbeat_sent_us`: the promise's end on its clock. The standby
    /// counts P from when it answered, which is later.
    pub fn promise_until(&self, t: Timing, heartbeat_sent_us: u64) -> u64 {
        heartbeat_sent_us + shortened(t.promise_us)
    }

    /// The holder's confirmation sent at `request_sent_us` succeeded (its
    /// epoch was still the current one in etcd when etcd applied it).
    pub fn confirmed_until(&self, t: Timing, request_sent_us: u64) -> u64 {
        request_sent_us + shortened(t.confirm_us)
    }

    /// Until when (on this node's clock) it may speak: the later end of its
    /// two grants. This is what the card's lease register is set to.
    pub fn speak_until(&self, g: Grants) -> Option<u64> {
        match (g.promise_until_us, g.confirmed_until_us) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0).max(b.unwrap_or(0))),
        }
    }

    /// What lets the node speak at `now_us`, if anything.
    pub fn speaks_on(&self, g: Grants, now_us: u64) -> SpeaksOn {
        if g.confirmed_until_us.is_some_and(|u| now_us < u) {
            SpeaksOn::Confirmation
        } else if g.promise_until_us.is_some_and(|u| now_us < u) {
            SpeaksOn::Promise
        } else {
            SpeaksOn::Nothing
        }
    }

    /// The standby's own view of a promise it sent at `sent_us`: it may
    /// not ask for the next epoch before this moment.
    pub fn promise_binds_until(&self, t: Timing, sent_us: u64) -> u64 {
        sent_us + lengthened(t.promise_us)
    }

    /// May the standby ask etcd for the next epoch: only once its detector
    /// fired and its last promise (sent at `last_promise_sent_us`, if any)
    /// has run out.
    pub fn may_campaign(&self, t: Timing, now_us: u64, detector_fired: bool, last_promise_sent_us: Option<u64>) -> Result<(), CampaignRefusal> {
        if !detector_fired {
            return Err(CampaignRefusal::PrimaryNotLost);
        }
        if self.is(Mutation::CampaignDuringPromise) {
            return Ok(());
        }
        match last_promise_sent_us.map(|s| self.promise_binds_until(t, s)) {
            Some(until) if now_us < until => Err(CampaignRefusal::PromiseRunning { left_us: until - now_us }),
            _ => Ok(()),
        }
    }

    /// The node won the epoch; the reply reached it at `won_us`. The old
    /// holder's last successful confirmation was applied before ours, so
    /// it was sent before `won_us` and lets it speak for less than C after:
    /// the new card may speak from this moment on.
    pub fn speaks_after_winning(&self, t: Timing, won_us: u64) -> u64 {
        if self.is(Mutation::SpeakRightAfterWinning) {
            return won_us;
        }
        won_us + lengthened(t.confirm_us)
    }

    /// Epochs only grow: the one a campaign asks for is one above every
    /// epoch this node knows of (etcd's current value, its own record, the
    /// ones heard on the replication link).
    pub fn next_epoch(&self, in_etcd: u32, known_here: u32) -> u32 {
        in_etcd.max(known_here) + 1
    }

    /// An epoch seen (etcd's watch, a failed confirmation, the link): the
    /// node silences its card at once if it is newer than the one it holds.
    pub fn silences_on(&self, held: u32, seen: u32) -> bool {
        seen > held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Timing = Timing { promise_us: 200_000, confirm_us: 300_000 };

    #[test]
    fn grants_are_shortened_and_waits_lengthened_by_the_drift_allowance() {
        assert_eq!(RULES.promise_until(T, 1_000_000), 1_198_000);
        assert_eq!(RULES.confirmed_until(T, 1_000_000), 1_297_000);
        assert_eq!(RULES.promise_binds_until(T, 1_000_000), 1_202_000);
        assert_eq!(RULES.speaks_after_winning(T, 1_000_000), 1_303_000);
    }

    #[test]
    fn a_node_speaks_on_its_later_grant_and_falls_silent_when_both_ran_out() {
        let g = Grants { promise_until_us: Some(500), confirmed_until_us: Some(300) };
        assert_eq!(RULES.speak_until(g), Some(500));
        assert_eq!(RULES.speaks_on(g, 200), SpeaksOn::Confirmation);
        assert_eq!(RULES.speaks_on(g, 300), SpeaksOn::Promise);
        assert_eq!(RULES.speaks_on(g, 500), SpeaksOn::Nothing);
        assert_eq!(RULES.speak_until(Grants::default()), None);
        assert_eq!(RULES.speaks_on(Grants::default(), 0), SpeaksOn::Nothing);
    }

    #[test]
    fn the_standby_campaigns_only_after_detection_and_its_own_promise() {
        assert_eq!(RULES.may_campaign(T, 10_000_000, false, None), Err(CampaignRefusal::PrimaryNotLost));
        assert_eq!(RULES.may_campaign(T, 1_100_000, true, Some(1_000_000)), Err(CampaignRefusal::PromiseRunning { left_us: 102_000 }));
        assert_eq!(RULES.may_campaign(T, 1_202_000, true, Some(1_000_000)), Ok(()));
        assert_eq!(RULES.may_campaign(T, 0, true, None), Ok(()));
    }

    #[test]
    fn a_promise_seen_by_the_active_ends_before_the_standby_considers_it_over() {
        // The heartbeat leaves the active before the standby answers it.
        for (sent, answered) in [(0u64, 0u64), (1_000, 1_000), (1_000, 51_000)] {
            assert!(RULES.promise_until(T, sent) < RULES.promise_binds_until(T, answered));
        }
    }

    #[test]
    fn epochs_only_grow_and_only_a_newer_one_silences() {
        assert_eq!(RULES.next_epoch(4, 2), 5);
        assert_eq!(RULES.next_epoch(0, 3), 4);
        assert!(RULES.silences_on(2, 3) && !RULES.silences_on(3, 3) && !RULES.silences_on(3, 2));
    }
}
