//! The send-holdback model (`holdback_model::send_side`, invariant 9): the
//! correct rules keep the invariant over every interleaving, and each
//! one-line mutation — a card that sends at or above L, a host that moves L
//! before the standby's acknowledgement — produces a counterexample.
use std::time::Instant;

use holdback_model::send_side::{is_send_example, SendSideModel, SendVariant};
use stateright::{Checker, Model};

const INVARIANT: &str = "every byte the peer may have received is held by the standby";

fn check(variant: SendVariant) -> Vec<&'static str> {
    let started = Instant::now();
    let checker = SendSideModel { variant }.checker().spawn_bfs().join();
    println!(
        "{variant:?}: {} unique states in {:.2} s",
        checker.unique_state_count(),
        started.elapsed().as_secs_f64()
    );
    let mut failed = Vec::new();
    for (name, path) in checker.discoveries() {
        if !is_send_example(name) {
            println!("`{name}` violated:\n{:#?}", path.into_actions());
            failed.push(name);
        }
    }
    // The example must be reached in every variant: the model is not vacuous.
    for p in (SendSideModel { variant }).properties() {
        if is_send_example(p.name) {
            assert!(checker.discovery(p.name).is_some(), "{variant:?}: `{}` never reached", p.name);
        }
    }
    failed
}

#[test]
fn send_holdback_keeps_every_byte_the_peer_saw_on_the_standby() {
    assert_eq!(check(SendVariant::CORRECT), Vec::<&str>::new());
}

#[test]
fn a_card_that_sends_above_the_limit_is_caught() {
    let variant = SendVariant { card_ignores_limit: true, ..SendVariant::CORRECT };
    assert_eq!(check(variant), vec![INVARIANT]);
}

#[test]
fn moving_the_limit_before_the_standby_acknowledged_is_caught() {
    let variant = SendVariant { limit_before_ack: true, ..SendVariant::CORRECT };
    assert_eq!(check(variant), vec![INVARIANT]);
}
