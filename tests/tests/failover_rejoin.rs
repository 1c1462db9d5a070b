//! Invariant 8: a returning old primary joins as standby. A pair streams to real Linux clients; the primary is
//! killed with SIGKILL and the standby promotes itself (epoch 2). The old
//! primary's daemon is then restarted with its original config (`role =
//! "active"`): it must come up as a standby — its card silent, CTRL.standby
//! set, in the promoted node's epoch — while the promoted node replicates to
//! it (full sync, then deltas). Then the promoted node is killed too and the
//! returned node promotes in epoch 3. Every stream must arrive intact, with
//! no reset: the Linux peers never see the two failovers. The returned
//! node's epoch record (`[replication] state_file`) follows: epoch 2 seen
//! but never held after the rejoin, 3 held after its promotion — and a
//! restart alone keeps epoch 3 instead of falling back to 1.
//! Needs root (network namespaces, TAPs); fails loudly without it.
use std::net::SocketAddrV4;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use holdback_daemon::lab::capture::CardCapture;
use holdback_daemon::lab::clients::{self, ClientPlan};
use holdback_daemon::control::{PairLink, PairRole};
use holdback_daemon::lab::DEFAULT_PORT;
use holdback_daemon::lab::pair::{FailoverOptions, PairMember, PairSetup};
use holdback_daemon::lab::netns::{LabNet, LabTopology};
use holdback_daemon::pair::epoch::{self, EpochRecord};
use holdback_tests::{
    daemon_status as status, frames_sent_by_card, holdback_bin, pair_status, require_lab_prerequisites, broken_streams,
    wait_for, WorkDir,
};

const CONNS: usize = 4;
/// Per connection: at the lab's ~7 Mbit/s this streams for about 40 s, long
/// enough to span the kill, the promotion, the restart of a Verilated card,
/// the full sync and the second kill.
const BYTES: u64 = 8 << 20;
const STATE_TIMEOUT: Duration = Duration::from_secs(30);

fn now_since_epoch() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970")
}

#[test]
fn a_restarted_old_primary_joins_as_standby_and_is_promoted_in_epoch_3() {
    require_lab_prerequisites();
    let bin = holdback_bin();
    let dir = WorkDir(std::env::temp_dir().join(format!("holdback-rejoin-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&dir.0);

    let net = LabNet::create(LabTopology::unique_with_standby("rj")).expect("lab network");
    let topo = net.topology().clone();
    let opts = FailoverOptions { conns: CONNS, bytes: BYTES, ..FailoverOptions::default() };
    let pair = PairSetup::write(&dir.0, &topo, &opts).unwrap_or_else(|e| panic!("pair configs: {}", holdback_daemon::error::chain(&e)));
    // The twice-promoted node ends the run: its own store must hold every
    // stream (store = "replicated": the promoted node shipped its store to
    // it when it rejoined, and the peers the rest after its promotion).
    let sink_dir = pair.primary.sink_dir().to_path_buf();
    let (p_socket, p_pcap) = (pair.primary.socket().to_path_buf(), pair.primary.pcap.clone());
    let s_socket = pair.standby.socket().to_path_buf();
    let start = |member: &PairMember, log: &str| {
        member.start(Some(bin), &dir.0.join(log)).unwrap_or_else(|e| panic!("{} daemon: {}", member.name, holdback_daemon::error::chain(&e)))
    };
    let mut primary = start(&pair.primary, "primary.log");
    let mut standby = start(&pair.standby, "standby.log");
    let first = pair_status(&p_socket).expect("primary pair status");
    assert_eq!((first.role, first.epoch), (PairRole::Active, 1), "nobody was running: the primary takes the active role");
    wait_for(STATE_TIMEOUT, "the primary replicating to the standby", || {
        pair_status(&p_socket).filter(|p| p.link == PairLink::Replicating)
    });

    let plan = ClientPlan {
        target: SocketAddrV4::new(topo.card_ip, DEFAULT_PORT),
        bytes: BYTES,
        seed: holdback_sim::test_seed(0x5e70_7e1f),
        stall_timeout: Duration::from_secs(60),
    };
    let (cancel, sent) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
    let total = BYTES * CONNS as u64;
    let began = Instant::now();
    let handles = clients::spawn_clients_counting(&topo.client_ns, CONNS, &plan, cancel.clone(), sent.clone());
    let sent_fraction = || sent.load(Ordering::Relaxed) as f64 / total as f64;
    wait_for(Duration::from_secs(120), "15 % of the bytes sent", || (sent_fraction() >= 0.15).then_some(()));

    // 1. The primary dies; the standby promotes itself in epoch 2 and
    //    replicates (degraded, not waiting) toward the dead primary's address.
    primary.kill_hard();
    eprintln!("primary killed at {:.0} % sent, {:?} in", sent_fraction() * 100.0, began.elapsed());
    let promoted = wait_for(STATE_TIMEOUT, "the standby promoted in epoch 2", || {
        pair_status(&s_socket).filter(|p| p.role == PairRole::Promoted && p.epoch == 2)
    });
    assert!(promoted.degraded.is_some(), "a promoted node without a standby says it is degraded: {promoted:?}");

    // 2. The old primary comes back with its original config (role = active).
    std::fs::rename(&p_pcap, dir.0.join("primary-before-kill.pcap")).expect("keeping the first capture");
    let restarted_at = Instant::now();
    let mut returned = start(&pair.primary, "primary-restart.log");
    eprintln!("old primary restarted and serving in {:?}", restarted_at.elapsed());
    let back = status(&p_socket).expect("returned node status");
    let back_pair = back.pair.clone().expect("returned node pair status");
    assert_eq!(back_pair.role, PairRole::Standby, "a returning old primary joins as standby: {back_pair:?}");
    assert!(back.status.ctrl.standby && back.status.ctrl.enabled, "its card is enabled and silent: {:?}", back.status.ctrl);
    assert_eq!(back_pair.epoch, 2, "it adopted the promoted node's epoch (invariant 8)");
    wait_for(STATE_TIMEOUT, "the promoted node's link to the returned node Replicating, no longer degraded", || {
        pair_status(&s_socket).filter(|p| p.link == PairLink::Replicating && p.degraded.is_none())
    });
    let stored = wait_for(STATE_TIMEOUT, "the returned node storing the open connections' TCBs", || {
        pair_status(&p_socket).filter(|p| p.link == PairLink::Connected && p.stored_tcbs >= CONNS as u64)
    });
    assert_eq!(frames_sent_by_card(&p_socket), 0, "the returned standby's card sent nothing");
    let p_epoch_file = pair.primary.epoch_file.clone();
    let record = |path: &Path| epoch::read(path).unwrap_or_else(|e| panic!("{}", holdback_daemon::error::chain(&e)));
    assert_eq!(
        record(&p_epoch_file),
        EpochRecord { seen: 2, held_active: 1 },
        "the returned node recorded the adopted epoch: restarted alone now, it would stay standby"
    );
    let rejoined_at = sent_fraction();
    eprintln!(
        "returned node: standby in epoch {}, {} TCBs stored, replicated up to {}; {:.0} % sent",
        stored.epoch,
        stored.stored_tcbs,
        stored.replicated_seq,
        rejoined_at * 100.0
    );
    assert!(rejoined_at < 0.85, "the streams were nearly over before the rejoin ({:.0} %): make BYTES larger", rejoined_at * 100.0);

    // 3. The promoted node dies too; the returned node promotes in epoch 3.
    wait_for(Duration::from_secs(120), "a further 5 % sent with the rejoined pair", || {
        (sent_fraction() >= rejoined_at + 0.05).then_some(())
    });
    assert_eq!(frames_sent_by_card(&p_socket), 0, "the returned standby's card still sent nothing");
    let second_kill = now_since_epoch();
    standby.kill_hard();
    eprintln!("promoted node killed at {:.0} % sent", sent_fraction() * 100.0);
    let again = wait_for(STATE_TIMEOUT, "the returned node promoted in epoch 3", || {
        pair_status(&p_socket).filter(|p| p.role == PairRole::Promoted && p.epoch == 3)
    });
    eprintln!("returned node promoted: {again:?}");
    assert_eq!(record(&p_epoch_file), EpochRecord { seen: 3, held_active: 3 }, "the promotion was recorded");
    assert_eq!(record(&pair.standby.epoch_file), EpochRecord { seen: 2, held_active: 2 }, "the killed node's record");

    let outcomes = clients::collect(handles);
    cancel.store(true, Ordering::SeqCst);
    let took = began.elapsed();
    let exit = returned.stop(Duration::from_secs(20));
    assert!(exit.is_some_and(|s| s.success()), "the twice-promoted daemon exits cleanly on SIGTERM: {exit:?}");

    let bad = broken_streams(&outcomes, &sink_dir, topo.client_ip, BYTES);
    assert!(bad.is_empty(), "streams across two failovers and a rejoin: {bad:#?}");
    let retrans: u32 = outcomes.iter().map(|o| o.total_retrans).sum();
    eprintln!(
        "{CONNS} x {} MiB intact across two failovers and a rejoin in {took:?} ({:.1} Mbit/s), Linux retransmits {retrans}",
        BYTES >> 20,
        total as f64 * 8.0 / took.as_secs_f64() / 1e6
    );

    // The returned card's capture: nothing sent before its own promotion.
    let cap = CardCapture::read(&p_pcap, topo.card_mac).expect("the returned card's capture");
    let first_sent = cap.first_sent.expect("the returned card spoke after its promotion");
    assert!(
        first_sent >= second_kill,
        "the returned card sent a frame {:?} before the promoted node was killed (invariant 8)",
        second_kill - first_sent
    );
    assert!(cap.gratuitous_arps_sent >= 1, "its promotion announced the address: {cap:?}");

    // Restarted alone, the node last active in epoch 3 takes the active
    // role in epoch 3 again, not 1 (a returning peer older than 3 is refused).
    let mut alone = start(&pair.primary, "primary-alone.log");
    let p = pair_status(&p_socket).expect("restarted node pair status");
    assert_eq!((p.role, p.epoch), (PairRole::Active, 3), "the epoch survives the restart: {p:?}");
    let exit = alone.stop(Duration::from_secs(20));
    assert!(exit.is_some_and(|s| s.success()), "{exit:?}");
    drop(net);
}
