//! Invariant 8 in a partition, with the etcd authority (docs/authority.md):
//! the split brain the heartbeat-only pair allows (failover_split.rs) does
//! not happen. A pair streams to real Linux clients; the replication link
//! is cut with the primary alive and the heartbeat detector on. The
//! standby stops promising, waits out its last promise, takes epoch 2 in
//! etcd and waits out the old holder's last confirmation before its card
//! speaks; the old primary's next confirmation fails on epoch 2 and its
//! card goes silent. The captures must show the two cards never answered
//! at once; once the link returns, the old primary joins as standby, and
//! every stream arrives intact, with no reset.
//! Needs root (network namespaces, TAPs) and etcd; fails loudly without them.
mod authority_lab;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use holdback_daemon::authority::SpeaksOn;
use holdback_daemon::control::{PairLink, PairRole};
use holdback_daemon::lab::capture::CardCapture;
use holdback_daemon::lab::clients;
use holdback_tests::{daemon_status as status, pair_status, require_lab_prerequisites, broken_streams, wait_for};

use authority_lab::{overlap, own_frames, EtcdPairSetup};

const CONNS: usize = 4;
/// Per connection: long enough to span the cut, the takeover and the rejoin.
const BYTES: u64 = 2 << 20;
const STATE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the link stays cut after the standby promoted.
const SPLIT_FOR: Duration = Duration::from_millis(500);

#[test]
fn a_cut_replication_link_with_the_primary_alive_never_lets_two_cards_answer() {
    require_lab_prerequisites();
    let began = Instant::now();
    let (EtcdPairSetup { dir: _dir, net, topo, pair, etcd }, mut primary, mut standby) =
        authority_lab::start_pair("holdback-split-etcd", "se", CONNS, BYTES);
    let sink_dir = pair.standby.sink_dir().to_path_buf();
    let held = wait_for(STATE_TIMEOUT, "the primary holding epoch 1 in etcd, speaking on a confirmation", || {
        pair_status(&primary.socket).filter(|p| {
            p.role == PairRole::Active && p.authority.as_ref().is_some_and(|a| a.holds && a.speaks_on == SpeaksOn::Confirmation)
        })
    });
    assert_eq!(held.epoch, 1, "a fresh pair starts in epoch 1: {held:?}");
    let promising = wait_for(STATE_TIMEOUT, "the standby promising on the heartbeats", || {
        pair_status(&standby.socket).filter(|p| p.link == PairLink::Connected && p.authority.as_ref().is_some_and(|a| a.promising))
    });
    assert_eq!(
        promising.protocol_version,
        Some(holdback_daemon::replication::PROTOCOL_VERSION),
        "promises travel from protocol version 3 on, and the link runs the highest version both speak"
    );

    let (handles, cancel, sent_fraction) = authority_lab::clients_a_fifth_in(&topo, CONNS, BYTES, 0x5b11_e7cd);

    // The link is cut, the primary alive: only one of the two may speak.
    net.set_replication_link(false).expect("cutting the replication link");
    let cut_at = Instant::now();
    let cut_wall = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970");
    let promoted = wait_for(STATE_TIMEOUT, "the standby promoted in epoch 2", || {
        pair_status(&standby.socket).filter(|p| p.role == PairRole::Promoted && p.epoch == 2)
    });
    let promoted_after = cut_at.elapsed();
    let fenced = wait_for(STATE_TIMEOUT, "the old primary's card silenced by epoch 2 in etcd", || {
        status(&primary.socket).filter(|s| s.status.ctrl.standby && s.pair.as_ref().is_some_and(|p| p.role == PairRole::Fenced))
    });
    eprintln!(
        "standby promoted {promoted_after:?} after the cut ({:.0} % sent); old primary: {:?}",
        sent_fraction() * 100.0,
        fenced.pair.as_ref().and_then(|p| p.reason.clone())
    );
    assert!(promoted.authority.as_ref().is_some_and(|a| a.holds && a.epoch == 2), "the promoted node holds epoch 2: {promoted:?}");
    std::thread::sleep(SPLIT_FOR);

    // The link returns: the old primary joins the promoted node as standby.
    net.set_replication_link(true).expect("restoring the replication link");
    wait_for(STATE_TIMEOUT, "the old primary a standby in epoch 2", || {
        pair_status(&primary.socket).filter(|p| p.role == PairRole::Standby && p.epoch == 2)
    });
    wait_for(STATE_TIMEOUT, "the promoted node replicating to the old primary", || {
        pair_status(&standby.socket).filter(|p| p.link == PairLink::Replicating && p.degraded.is_none())
    });

    let outcomes = clients::collect(handles);
    cancel.store(true, Ordering::SeqCst);
    for d in [&mut primary, &mut standby] {
        let exit = d.stop(Duration::from_secs(20));
        assert!(exit.is_some_and(|s| s.success()), "{} exits cleanly on SIGTERM: {exit:?}", d.name);
    }

    // Judged from the captures: the old card's last frame came before the
    // promoted card's first (its gratuitous ARP).
    let old = CardCapture::read(&pair.primary.pcap, topo.card_mac).expect("the old primary's capture");
    let new = CardCapture::read(&pair.standby.pcap, topo.card_mac).expect("the promoted card's capture");
    let (old_own, new_own) = own_frames(&pair.primary.pcap, &pair.standby.pcap, topo.card_mac);
    let both = overlap(&old_own, &new_own);
    let (old_last, new_first) = (old_own.iter().max().copied(), new_own.iter().min().copied());
    // With the replica gate the old card releases nothing after the cut and
    // may send nothing either; what shows it silenced is its status above
    // (fenced, CTRL.standby, while the link was still cut), which the
    // heartbeat-only pair does not reach (failover_split.rs: still active).
    assert!(old_last.is_some(), "the old card spoke before the cut");
    let takeover = new_first.map(|f| f.saturating_sub(cut_wall));
    let silent_before = match (old_last, new_first) {
        (Some(o), Some(n)) => n.saturating_sub(o),
        _ => Duration::ZERO,
    };
    eprintln!(
        "captures: the promoted card's first frame {takeover:?} after the cut; the old card's last frame {silent_before:?} before it; overlap {both:?}; RSTs sent {} + {}",
        old.rst_sent, new.rst_sent
    );
    assert!(new.gratuitous_arps_sent >= 1, "the promoted card announced the address: {new:?}");
    assert_eq!(both, Duration::ZERO, "two cards answered at once for {both:?} (old {old:?}, new {new:?})");
    assert_eq!((old.rst_sent, new.rst_sent), (0, 0), "no card reset a connection");

    let bad = broken_streams(&outcomes, &sink_dir, topo.client_ip, BYTES);
    assert!(bad.is_empty(), "streams across a cut link under the etcd authority: {bad:#?}");
    eprintln!("{CONNS} x {} MiB intact; test wall time {:?}", BYTES >> 20, began.elapsed());
    drop(etcd);
    drop(net);
}
