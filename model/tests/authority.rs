//! The etcd authority's rules (`daemon/src/authority/rules.rs`,
//! docs/authority.md) keep invariant 8 in every partition the model
//! reaches — link cut, either node cut from etcd, etcd down, a hung host,
//! an external detector reporting a live primary lost — and each broken
//! variant of them fails with a trace.
use std::time::Instant;

use holdback_daemon::authority::rules::{Mutation, Rules, RULES};
use holdback_model::authority::{is_example, trace, AuthorityModel};
use stateright::{Checker, HasDiscoveries, Model};

/// Two faults (of cut link, cut from etcd, etcd down, hang) and one report
/// of the external detector per run, over the model's 7 heartbeat ticks.
fn model(rules: Rules) -> AuthorityModel {
    AuthorityModel { rules, faults: 2, external_reports: 1 }
}

#[test]
fn the_authority_keeps_one_speaker_in_every_partition() {
    let started = Instant::now();
    let m = model(RULES);
    let checker = model(RULES).checker().spawn_bfs().join();
    println!(
        "authority model: {} unique states ({} visited), max depth {}, in {:.1} s",
        checker.unique_state_count(),
        checker.state_count(),
        checker.max_depth(),
        started.elapsed().as_secs_f64()
    );
    for (name, path) in checker.discoveries() {
        if !is_example(name) {
            panic!("property violated: {name}\n{}", trace(&m, &path));
        }
    }
    for example in [
        "example: the standby takes over from a hung primary",
        "example: the standby takes over while the old primary lives, link cut",
        "example: etcd down, the pair keeps serving to the end",
    ] {
        let path = checker.discovery(example).unwrap_or_else(|| panic!("never reached `{example}`: the model is vacuous there"));
        println!("{example}:\n{}", trace(&m, &path));
    }
}

fn counterexample(name: &str, rules: Rules) -> &'static str {
    let started = Instant::now();
    let m = model(rules);
    let checker = model(rules).checker().finish_when(HasDiscoveries::AnyFailures).spawn_bfs().join();
    let (property, path) = checker
        .discoveries()
        .into_iter()
        .find(|(property, _)| !is_example(property))
        .unwrap_or_else(|| panic!("{name}: no counterexample ({} states)", checker.unique_state_count()));
    println!(
        "{name}: `{property}` violated after {} states in {:.1} s; the trace:\n{}",
        checker.unique_state_count(),
        started.elapsed().as_secs_f64(),
        trace(&m, &path)
    );
    property
}

#[test]
fn a_standby_that_does_not_wait_for_its_own_promise_is_caught() {
    let violated = counterexample("campaign during the promise", Rules::broken(Mutation::CampaignDuringPromise));
    assert_eq!(violated, "no two cards speak at the same moment");
}

#[test]
fn a_winner_that_speaks_before_the_old_confirmation_ran_out_is_caught() {
    let violated = counterexample("speak right after winning", Rules::broken(Mutation::SpeakRightAfterWinning));
    assert_eq!(violated, "no two cards speak at the same moment");
}
