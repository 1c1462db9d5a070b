//! Each broken variant — a one-line mutation of the daemon's decision code
//! (`daemon/src/pair/decide.rs`), or of the model card's PROMOTE — must
//! produce a counterexample: the properties are not vacuous.
use std::time::Instant;

use holdback_daemon::pair::decide::{Mutation, Rules};
use holdback_model::{is_example, trace, FailoverModel, Faults, Variant};
use stateright::{Checker, HasDiscoveries, Model};

const FAULTS: Faults = Faults { crashes: 2, cuts: 1, losses: 1, duplicates: 1, switchovers: 0 };
/// A planned switchover and nothing else going wrong.
const SWITCHOVER: Faults = Faults { crashes: 0, cuts: 0, losses: 0, duplicates: 0, switchovers: 1 };
/// Deep enough for the longest counterexample (taking the active role on
/// a stale record needs a cut, a promotion, a fence, both nodes crashing
/// and a restart: 12 steps).
const DEPTH: usize = 16;

/// Runs the checker until the first failing property; returns its name
/// after printing the trace.
fn counterexample(name: &str, variant: Variant) -> &'static str {
    counterexample_with(name, variant, FAULTS)
}

fn counterexample_with(name: &str, variant: Variant, faults: Faults) -> &'static str {
    let started = Instant::now();
    let checker = FailoverModel::new(variant, faults)
        .checker()
        .target_max_depth(DEPTH)
        .finish_when(HasDiscoveries::AnyFailures)
        .spawn_bfs()
        .join();
    let found = checker
        .discoveries()
        .into_iter()
        .find(|(property, _)| !is_example(property))
        .unwrap_or_else(|| panic!("{name}: no counterexample within depth {DEPTH} ({} states)", checker.unique_state_count()));
    println!(
        "{name}: `{}` violated after {} states in {:.1} s; the trace:\n{}",
        found.0,
        checker.unique_state_count(),
        started.elapsed().as_secs_f64(),
        trace(&found.1)
    );
    found.0
}

#[test]
fn releasing_before_the_standby_acknowledged_is_caught() {
    let variant = Variant { rules: Rules::broken(Mutation::ReleaseBeforeAck), ..Variant::CORRECT };
    let violated = counterexample("release before the standby's ack", variant);
    assert!(
        ["the advertised right edge never moves left", "every byte the peer saw ACKed is delivered at its offset"].contains(&violated),
        "{violated}"
    );
}

#[test]
fn promoting_from_rcv_nxt_instead_of_r_is_caught() {
    let variant = Variant { promote_from_rcv_nxt: true, ..Variant::CORRECT };
    let violated = counterexample("promote from rcv_nxt", variant);
    assert!(
        ["every byte the peer saw ACKed is delivered at its offset", "no offset is delivered twice with different bytes"].contains(&violated),
        "{violated}"
    );
}

#[test]
fn taking_the_active_role_despite_a_newer_epoch_on_record_is_caught() {
    let variant = Variant { rules: Rules::broken(Mutation::ActiveDespiteNewerEpoch), ..Variant::CORRECT };
    let violated = counterexample("active despite a newer epoch", variant);
    assert!(
        ["at most one card transmits for an epoch", "a card that saw a newer epoch never transmits"].contains(&violated),
        "{violated}"
    );
}

#[test]
fn a_standby_that_does_not_promote_when_the_heartbeats_stop_is_caught() {
    let variant = Variant { rules: Rules::broken(Mutation::NoPromotionOnPeerLost), ..Variant::CORRECT };
    let violated = counterexample("no promotion on peer lost", variant);
    assert_eq!(violated, "within the bound after the primary's death the standby is active");
}

#[test]
fn a_takeover_before_the_old_card_is_silent_is_caught() {
    let variant = Variant { rules: Rules::broken(Mutation::TakeOverBeforeSilence), ..Variant::CORRECT };
    let violated = counterexample_with("take over before the old card is silent", variant, SWITCHOVER);
    assert_eq!(violated, "a switchover's new card speaks only after the old one is silent");
}
