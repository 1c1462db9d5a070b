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

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use holdback_daemon::authority::SpeaksOn;
use holdback_daemon::control::{PairLink, PairRole};
use holdback_daemon::lab::capture::CardCapture;
use holdback_daemon::lab::clients;
use holdback_tests::{broken_streams, pair_status, require_lab_prerequisites, wait_for};

use authority_lab::{overlap, own_frames, wall, EtcdPairSetup};

const CONNS: usize = 4;
const BYTES: u64 = 2 << 20;
const STATE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the old primary stays cut off after the standby promoted.
const ISOLATED_FOR: Duration = Duration::from_millis(500);
/// The card's clock is the host's wall clock sampled by the card thread;
/// on a loaded machine its NOW_US and the capture's stamps can lag one
/// another by up to about a heartbeat interval (the lab's 50 ms).
const CLOCK_SAMPLING: Duration = Duration::from_millis(50);

#[test]
fn a_primary_cut_off_from_etcd_and_its_peer_falls_silent_within_the_bound_and_the_standby_takes_over() {
    require_lab_prerequisites();
    let began = Instant::now();
    let (EtcdPairSetup { dir: _dir, net, topo, pair, etcd }, mut primary, mut standby) =
        authority_lab::start_pair("holdback-isolated-etcd", "ip", CONNS, BYTES);
    let holdback_daemon::config::Authority::Etcd(settings) = &pair.primary.config.authority else { panic!("configured for etcd") };
    let bound = settings.promise.max(settings.confirm);
    let sink_dir = pair.standby.sink_dir().to_path_buf();
    wait_for(STATE_TIMEOUT, "the primary holding the epoch on a confirmation, the standby promising", || {
        let p = pair_status(&primary.socket)?;
        let s = pair_status(&standby.socket)?;
        (p.authority.as_ref()?.speaks_on == SpeaksOn::Confirmation && s.authority.as_ref()?.promising).then_some(())
    });

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
    wait_for(STATE_TIMEOUT, "the old primary a standby in epoch 2", || {
        pair_status(&primary.socket).filter(|p| p.role == PairRole::Standby && p.epoch == 2)
    });
    wait_for(STATE_TIMEOUT, "the promoted node replicating to the old primary", || {
        pair_status(&standby.socket).filter(|p| p.link == PairLink::Replicating)
    });
    let outcomes = clients::collect(handles);
    cancel.store(true, Ordering::SeqCst);
    for d in [&mut primary, &mut standby] {
        let exit = d.stop(Duration::from_secs(20));
        assert!(exit.is_some_and(|s| s.success()), "{} exits cleanly on SIGTERM: {exit:?}", d.name);
    }

    let old = CardCapture::read(&pair.primary.pcap, topo.card_mac).expect("the isolated card's capture");
    let new = CardCapture::read(&pair.standby.pcap, topo.card_mac).expect("the promoted card's capture");
    let (old_own, new_own) = own_frames(&pair.primary.pcap, &pair.standby.pcap, topo.card_mac);
    // Every frame of the old card after the cut counts, also after the links
    // returned: it never speaks again, in epoch 1 or as a standby.
    let after_cut: Vec<Duration> = old_own.iter().copied().filter(|at| *at > cut_at).collect();
    let spoke_for = after_cut.iter().max().map(|l| l.saturating_sub(cut_at));
    let both = overlap(&old_own, &new_own);
    eprintln!(
        "captures: the isolated card sent {} frames after the cut, the last {spoke_for:?} after it (bound {bound:?}); promoted card's first frame {:?} after the cut; overlap {both:?}",
        after_cut.len(),
        new_own.iter().min().map(|f| f.saturating_sub(cut_at))
    );
    assert!(!after_cut.is_empty(), "the isolated card answered nothing after the cut: this test would not show its lease ending");
    assert!(
        spoke_for.is_some_and(|s| s <= bound + CLOCK_SAMPLING),
        "the isolated card spoke for {spoke_for:?} after the cut: more than max(P, C) = {bound:?} (+ {CLOCK_SAMPLING:?} of clock sampling)"
    );
    assert_eq!(both, Duration::ZERO, "two cards answered at once for {both:?}");
    assert_eq!((old.rst_sent, new.rst_sent), (0, 0), "no card reset a connection");

    let bad = broken_streams(&outcomes, &sink_dir, topo.client_ip, BYTES);
    assert!(bad.is_empty(), "streams across an isolated primary under the etcd authority: {bad:#?}");
    eprintln!("{CONNS} x {} MiB intact; test wall time {:?}", BYTES >> 20, began.elapsed());
    drop(etcd);
    drop(net);
}
