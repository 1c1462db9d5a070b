//! The production decisions satisfy every property within the bound.
use std::time::Instant;

use holdback_model::{is_example, trace, FailoverModel, Faults, Variant};
use stateright::{Checker, Model};

/// Two segments, two crashes (with restarts), one cut of the link, one
/// lost and one duplicated message.
const FAULTS: Faults = Faults { crashes: 2, cuts: 1, losses: 1, duplicates: 1, switchovers: 0 };
/// A planned switchover, checked apart so the budget above stays as it was:
/// one switchover, one crash (with its restart), one lost and one
/// duplicated message, no cut (the state space of both together is
/// several times the main check's).
const SWITCHOVER_FAULTS: Faults = Faults { crashes: 1, cuts: 0, losses: 1, duplicates: 1, switchovers: 1 };
/// The switchover check's depth bound (`HOLDBACK_MODEL_SWITCHOVER_DEPTH`).
fn switchover_depth() -> usize {
    std::env::var("HOLDBACK_MODEL_SWITCHOVER_DEPTH").ok().and_then(|d| d.parse().ok()).unwrap_or(13)
}
/// The depth bound; `HOLDBACK_MODEL_DEPTH` deepens the check (slower).
fn depth() -> usize {
    std::env::var("HOLDBACK_MODEL_DEPTH").ok().and_then(|d| d.parse().ok()).unwrap_or(15)
}

#[test]
fn the_pair_keeps_every_property_under_crashes_partitions_loss_and_duplication() {
    let depth = depth();
    let started = Instant::now();
    let checker = FailoverModel::new(Variant::CORRECT, FAULTS).checker().target_max_depth(depth).spawn_bfs().join();
    let took = started.elapsed();
    println!(
        "correct model: {} unique states ({} visited), depth bound {depth}, max depth {}, in {:.1} s",
        checker.unique_state_count(),
        checker.state_count(),
        checker.max_depth(),
        took.as_secs_f64()
    );
    for (name, path) in checker.discoveries() {
        if is_example(name) {
            continue;
        }
        panic!("property violated: {name}\n{}", trace(&path));
    }
    assert!(
        checker.discovery("a promoted card acknowledges the whole stream").is_some(),
        "the model never reached a failover that carries the stream: it is vacuous"
    );
    // The gaps docs/failover.md documents, as the checker finds them.
    for gap in ["known gap: a degraded release, then the edge moves left", "known gap: a split brain answers, then the edge moves left"] {
        if let Some(path) = checker.discovery(gap) {
            println!("{gap}:\n{}", trace(&path));
        }
    }
}

#[test]
fn a_planned_switchover_keeps_every_property_under_a_crash_loss_and_duplication() {
    let depth = switchover_depth();
    let started = Instant::now();
    let checker = FailoverModel::new(Variant::CORRECT, SWITCHOVER_FAULTS).checker().target_max_depth(depth).spawn_bfs().join();
    println!(
        "switchover model: {} unique states ({} visited), depth bound {depth}, max depth {}, in {:.1} s",
        checker.unique_state_count(),
        checker.state_count(),
        checker.max_depth(),
        started.elapsed().as_secs_f64()
    );
    for (name, path) in checker.discoveries() {
        if is_example(name) {
            continue;
        }
        panic!("property violated: {name}\n{}", trace(&path));
    }
    let path = checker
        .discovery("a switchover's new card acknowledges the whole stream")
        .unwrap_or_else(|| panic!("no switchover carried the stream within depth {depth}: the switchover check is vacuous"));
    println!("a switchover that carries the stream:\n{}", trace(&path));
}
