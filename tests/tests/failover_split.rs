//! Invariant 8 ("only one card speaks … a card
//! that learns of a newer epoch stops transmitting"): the split brain the
//! heartbeat detector can cause. A pair streams to real Linux clients; the
//! replication link is cut with the primary alive, so the standby promotes
//! itself (epoch 2) while the old primary still runs active in epoch 1 —
//! two active cards, one address. When the link comes back, the promoted
//! node's replication (which dials the old primary's `listen`) reaches the
//! listener an active daemon keeps: the old primary learns of epoch 2,
//! silences its card, records the epoch and continues as the promoted
//! node's standby (full sync, then deltas). Every stream must arrive
//! intact, with no reset.
//! Needs root (network namespaces, TAPs); fails loudly without it.
use std::net::SocketAddrV4;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use holdback_daemon::lab::clients::{self, ClientPlan};
use holdback_daemon::control::{PairLink, PairRole};
use holdback_daemon::lab::DEFAULT_PORT;
use holdback_daemon::lab::pair::{FailoverOptions, PairSetup};
use holdback_daemon::lab::netns::{LabNet, LabTopology};
use holdback_daemon::pair::epoch::{self, EpochRecord};
use holdback_tests::{
    daemon_status as status, frames_sent_by_card, holdback_bin, pair_status, require_lab_prerequisites, broken_streams,
    wait_for, WorkDir,
};

const CONNS: usize = 4;
/// Per connection: at the lab's ~7 Mbit/s about 20 s, long enough to span
/// the cut, the promotion, the fence and the full sync to the old primary.
const BYTES: u64 = 4 << 20;
const STATE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the link stays cut after the standby promoted: the two cards
/// both speak for the address meanwhile (what this test ends).
const SPLIT_FOR: Duration = Duration::from_millis(500);

#[test]
fn an_old_primary_still_alive_after_a_heartbeat_promotion_is_fenced_when_the_link_returns() {
    require_lab_prerequisites();
    let bin = holdback_bin();
    let dir = WorkDir(std::env::temp_dir().join(format!("holdback-split-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&dir.0);

    let net = LabNet::create(LabTopology::unique_with_standby("sp")).expect("lab network");
    let topo = net.topology().clone();
    // The heartbeat detector (the default): a cut link alone promotes.
    let opts = FailoverOptions { conns: CONNS, bytes: BYTES, ..FailoverOptions::default() };
    let pair = PairSetup::write(&dir.0, &topo, &opts).unwrap_or_else(|e| panic!("pair configs: {}", holdback_daemon::error::chain(&e)));
    // The promoted node's own store holds every stream (store = "replicated").
    let sink_dir = pair.standby.sink_dir().to_path_buf();
    let (mut primary, mut standby) =
        pair.start_both(Some(bin)).unwrap_or_else(|e| panic!("pair daemons: {}", holdback_daemon::error::chain(&e)));
    wait_for(STATE_TIMEOUT, "the primary replicating to the standby", || {
        pair_status(&primary.socket).filter(|p| p.link == PairLink::Replicating)
    });

    let plan = ClientPlan {
        target: SocketAddrV4::new(topo.card_ip, DEFAULT_PORT),
        bytes: BYTES,
        seed: holdback_sim::test_seed(0x5b11_7b4a),
        stall_timeout: Duration::from_secs(60),
    };
    let (cancel, sent) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
    let total = BYTES * CONNS as u64;
    let began = Instant::now();
    let handles = clients::spawn_clients_counting(&topo.client_ns, CONNS, &plan, cancel.clone(), sent.clone());
    let sent_fraction = || sent.load(Ordering::Relaxed) as f64 / total as f64;
    wait_for(Duration::from_secs(120), "20 % of the bytes sent", || (sent_fraction() >= 0.2).then_some(()));

    // 1. The link is cut, the primary alive: the standby promotes itself.
    net.set_replication_link(false).expect("cutting the replication link");
    let cut_at = Instant::now();
    let promoted = wait_for(STATE_TIMEOUT, "the standby promoted in epoch 2", || {
        pair_status(&standby.socket).filter(|p| p.role == PairRole::Promoted && p.epoch == 2)
    });
    eprintln!("standby promoted {:?} after the cut, {:.0} % sent: {:?}", cut_at.elapsed(), sent_fraction() * 100.0, promoted.degraded);
    let old = status(&primary.socket).expect("old primary status");
    let old_pair = old.pair.clone().expect("old primary pair status");
    assert_eq!((old_pair.role, old_pair.epoch), (PairRole::Active, 1), "the old primary never heard of epoch 2 over the cut link");
    assert!(!old.status.ctrl.standby, "the old primary's card still speaks: the split this test ends");
    std::thread::sleep(SPLIT_FOR);

    // 2. The link returns: the promoted node's replication reaches the old
    //    primary's listener, which learns of epoch 2 and yields.
    net.set_replication_link(true).expect("restoring the replication link");
    let restored_at = Instant::now();
    let fenced = wait_for(STATE_TIMEOUT, "the old primary silenced and a standby in epoch 2", || {
        status(&primary.socket).filter(|s| {
            s.status.ctrl.standby && s.pair.as_ref().is_some_and(|p| p.role == PairRole::Standby && p.epoch == 2)
        })
    });
    eprintln!("old primary yielded {:?} after the link returned: {:?}", restored_at.elapsed(), fenced.pair.as_ref().and_then(|p| p.reason.clone()));
    let silent_from = frames_sent_by_card(&primary.socket);
    let record = epoch::read(&pair.primary.epoch_file).unwrap_or_else(|e| panic!("{}", holdback_daemon::error::chain(&e)));
    assert_eq!(record, EpochRecord { seen: 2, held_active: 1 }, "the old primary recorded epoch 2 before acting on it");
    wait_for(STATE_TIMEOUT, "the promoted node replicating to the old primary, no longer degraded", || {
        pair_status(&standby.socket).filter(|p| p.link == PairLink::Replicating && p.degraded.is_none())
    });
    let stored = wait_for(STATE_TIMEOUT, "the old primary storing the open connections' TCBs", || {
        pair_status(&primary.socket).filter(|p| p.link == PairLink::Connected && p.stored_tcbs >= 1)
    });
    let rejoined_at = sent_fraction();
    eprintln!("old primary is the promoted node's standby: {} TCBs stored; {:.0} % sent", stored.stored_tcbs, rejoined_at * 100.0);
    assert!(rejoined_at < 0.95, "the streams were nearly over before the fence ({:.0} %): make BYTES larger", rejoined_at * 100.0);

    let outcomes = clients::collect(handles);
    cancel.store(true, Ordering::SeqCst);
    let took = began.elapsed();
    let end = pair_status(&primary.socket).expect("old primary status at the end");
    assert_eq!((end.role, end.epoch), (PairRole::Standby, 2), "the old primary stayed the standby: {end:?}");
    assert_eq!(frames_sent_by_card(&primary.socket), silent_from, "the fenced card sent nothing more (invariant 8)");
    for d in [&mut primary, &mut standby] {
        let exit = d.stop(Duration::from_secs(20));
        assert!(exit.is_some_and(|s| s.success()), "{} exits cleanly on SIGTERM: {exit:?}", d.name);
    }

    let bad = broken_streams(&outcomes, &sink_dir, topo.client_ip, BYTES);
    assert!(bad.is_empty(), "streams across a split brain and its fence: {bad:#?}");
    let retrans: u32 = outcomes.iter().map(|o| o.total_retrans).sum();
    eprintln!(
        "{CONNS} x {} MiB intact across the split in {took:?} ({:.1} Mbit/s), Linux retransmits {retrans}",
        BYTES >> 20,
        total as f64 * 8.0 / took.as_secs_f64() / 1e6
    );
    drop(net);
}
