//! The driver's typed layer against the one register map: a field added to,
//! moved in or removed from `holdback_regmap` fails here until `Tcb` and
//! `Stats` follow.
use std::collections::BTreeSet;

use holdback_driver::regmap::{self, tcb, Stat};
use holdback_driver::{Stats, Tcb};

#[test]
fn tcb_members_are_exactly_the_regmap_fields() {
    let json = serde_json::to_value(Tcb::closed()).unwrap();
    let members: BTreeSet<String> = json.as_object().unwrap().keys().filter(|k| *k != "version").cloned().collect();
    let fields: BTreeSet<String> = tcb::FIELDS.iter().map(|f| f.name.to_lowercase()).collect();
    assert_eq!(members, fields);
}

/// Every bit of every field survives decode → encode, and setting one field
/// touches only that field's bits: the decoder uses each field's word, shift
/// and width, not a copy of them.
#[test]
fn each_field_round_trips_in_isolation() {
    for f in tcb::FIELDS {
        let mut words = [0u32; regmap::TCB_WORDS];
        let value = if *f == tcb::STATE {
            regmap::TcpState::TimeWait as u32 // highest defined code
        } else {
            u32::MAX >> (32 - f.width)
        };
        f.set(&mut words, value);
        let t = Tcb::decode(&words).unwrap_or_else(|e| panic!("{}: {e}", f.name));
        assert_eq!(t.encode().unwrap(), words, "{} does not round-trip", f.name);
        // The member named after the field changed; all others are zero.
        let json = serde_json::to_value(&t).unwrap();
        let closed = serde_json::to_value(Tcb::closed()).unwrap();
        for (k, v) in json.as_object().unwrap() {
            let changed = *v != closed[k];
            assert_eq!(changed, *k == f.name.to_lowercase(), "field {} changed member {k}", f.name);
        }
    }
}

#[test]
fn tcb_words_fit_the_window_stride() {
    assert!(regmap::TCB_WORDS as u32 * 4 <= regmap::TCB_STRIDE);
}

#[test]
fn stats_names_are_the_regmap_names() {
    let json = serde_json::to_value(Stats::default()).unwrap();
    let names: Vec<&String> = json.as_object().unwrap().keys().collect();
    let want: Vec<&str> = Stat::ALL.iter().map(|s| s.name()).collect();
    let mut names_sorted: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
    names_sorted.sort();
    let mut want_sorted = want.clone();
    want_sorted.sort();
    assert_eq!(names_sorted, want_sorted);
}
