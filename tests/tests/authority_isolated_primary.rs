//! A primary cut off from everything under the etcd authority
//! (docs/authority.md, requirement 1): its links to etcd and to its
//! standby go down at once, the daemon and its card alive. No promise
//! reaches it and no confirmation succeeds, so its grant stops moving and
//! its card falls silent when the lease register's time has passed —
//! within max(P, C) of the last answered request. The standby's detector
//! fires; it waits out its last promise, takes epoch 2 in etcd and waits
//! out the old holder's last confirmation before its card speaks. Judged
//! from the captures: the isolated card answered after the cut, its last
//! frame within the bound and before the promoted card's first. Once the
//! links return the old primary learns of epoch 2 and joins as standby;
//! every stream arrives intact, with no reset.
//! Needs root (network namespaces, TAPs) and etcd; fails loudly without them.
mod authority_lab;

use std::time::{Duration, Instant};

use holdback_daemon::control::PairRole;
use holdback_tests::{pair_status, require_lab_prerequisites, wait_for};

use authority_lab::{wall, EtcdPairSetup};

const CONNS: usize = 4;
const BYTES: u64 = 2 << 20;
const STATE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the old primary stays cut off after the standby promoted.
const ISOLATED_FOR: Duration = Duration::from_millis(500);

#[test]
fn a_primary_cut_off_from_etcd_and_its_peer_falls_silent_within_the_bound_and_the_standby_takes_over() {
    require_lab_prerequisites();
    let began = Instant::now();
    let (EtcdPairSetup { dir, net, topo, pair, etcd }, mut primary, mut standby) =
        authority_lab::start_pair("holdback-isolated-etcd", "ip", CONNS, BYTES);
    let bound = authority_lab::silence_bound(&pair);
    authority_lab::wait_until_held_and_promised(&primary, &standby);

    let (handles, cancel, sent_fraction) = authority_lab::clients_a_fifth_in(&topo, CONNS, BYTES, 0x150_1a7e);
    let mut pings = authority_lab::pings(&topo, 3);
    std::thread::sleep(Duration::from_millis(200));

    // Cut off from everything: etcd and the peer, at once.
    let cut_at = wall();
    etcd.set_primary_link(false);
    net.set_replication_link(false).expect("cutting the replication link");
    let promoted = wait_for(STATE_TIMEOUT, "the standby promoted in epoch 2", || {
        pair_status(&standby.socket).filter(|p| p.role == PairRole::Promoted && p.epoch == 2)
    });
    let promoted_after = wall().saturating_sub(cut_at);
    let isolated = pair_status(&primary.socket).expect("the isolated primary's status");
    eprintln!(
        "standby promoted {promoted_after:?} after the cut ({:.0} % sent): {:?}; isolated primary: {:?} {:?}",
        sent_fraction() * 100.0,
        promoted.authority,
        isolated.role,
        isolated.authority
    );
    assert!(promoted.authority.as_ref().is_some_and(|a| a.holds && a.epoch == 2), "the promoted node holds epoch 2: {promoted:?}");
    std::thread::sleep(ISOLATED_FOR);
    let _ = pings.kill();
    let _ = pings.wait();

    // The links return: the old primary learns of epoch 2 and joins as standby.
    etcd.set_primary_link(true);
    net.set_replication_link(true).expect("restoring the replication link");
    let setup = EtcdPairSetup { dir, net, topo, pair, etcd };
    authority_lab::the_old_card_fell_silent_in_time(&setup, (&mut primary, &mut standby), (handles, cancel), cut_at, bound, "isolated", BYTES);
    eprintln!("{CONNS} x {} MiB intact; test wall time {:?}", BYTES >> 20, began.elapsed());
    drop(setup);
}
