//! Acceptance (c) of the etcd authority (docs/authority.md, requirement 2):
//! etcd goes down while the pair's nodes hear each other. Nobody can be
//! elected, so nobody needs to stop: the primary keeps serving on its
//! standby's promises alone, and both daemons say loudly, in `holdback
//! status`, that no promotion is possible. A fresh daemon configured
//! active then refuses to go active without etcd: it stays a silent
//! standby and says why. Every stream arrives intact, with no reset.
//! Needs root (network namespaces, TAPs) and etcd; fails loudly without them.
mod authority_lab;

use std::net::SocketAddrV4;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use holdback_daemon::authority::SpeaksOn;
use holdback_daemon::control::PairRole;
use holdback_daemon::lab::capture::CardCapture;
use holdback_daemon::lab::clients::{self, ClientPlan};
use holdback_daemon::lab::DEFAULT_PORT;
use holdback_tests::{daemon_status as status, holdback_bin, pair_status, require_lab_prerequisites, broken_streams, wait_for};

use authority_lab::EtcdPairSetup;

const CONNS: usize = 2;
const BYTES: u64 = 1 << 20;
const STATE_TIMEOUT: Duration = Duration::from_secs(30);

#[test]
fn with_etcd_down_a_pair_that_hears_itself_keeps_serving_and_nobody_new_goes_active() {
    require_lab_prerequisites();
    let bin = holdback_bin();
    let began = Instant::now();
    let (EtcdPairSetup { dir, net, topo, pair, mut etcd }, mut primary, mut standby) =
        authority_lab::start_pair("holdback-etcd-down", "ed", CONNS, BYTES);
    let sink_dir = pair.primary.sink_dir().to_path_buf();
    wait_for(STATE_TIMEOUT, "the primary holding the epoch, the standby promising", || {
        let p = pair_status(&primary.socket)?;
        let s = pair_status(&standby.socket)?;
        (p.authority.as_ref()?.speaks_on == SpeaksOn::Confirmation && s.authority.as_ref()?.promising).then_some(())
    });

    etcd.kill();
    let on_promises = wait_for(STATE_TIMEOUT, "the primary speaking on promises alone, saying etcd is unreachable", || {
        pair_status(&primary.socket)
            .filter(|p| p.authority.as_ref().is_some_and(|a| a.speaks_on == SpeaksOn::Promise && a.etcd_unreachable.is_some()))
    });
    wait_for(STATE_TIMEOUT, "the standby saying no promotion is possible", || {
        pair_status(&standby.socket).filter(|p| p.authority.as_ref().is_some_and(|a| a.etcd_unreachable.is_some() && a.promising))
    });
    let table = holdback_daemon::tables::status_table(&status(&primary.socket).expect("primary status"));
    assert!(table.contains("NO PROMOTION OR START POSSIBLE"), "status says it loudly:\n{table}");
    eprintln!("etcd down: primary {:?}", on_promises.authority);

    let plan = ClientPlan {
        target: SocketAddrV4::new(topo.card_ip, DEFAULT_PORT),
        bytes: BYTES,
        seed: holdback_sim::test_seed(0xe7cd_d0e0),
        stall_timeout: Duration::from_secs(60),
    };
    let (cancel, sent) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
    let handles = clients::spawn_clients_counting(&topo.client_ns, CONNS, &plan, cancel.clone(), sent.clone());
    let outcomes = clients::collect(handles);
    cancel.store(true, Ordering::SeqCst);
    let end = pair_status(&primary.socket).expect("primary status after the streams");
    assert_eq!(end.role, PairRole::Active, "the primary served throughout: {end:?}");
    assert_eq!(pair_status(&standby.socket).map(|p| p.role), Some(PairRole::Standby), "nobody was promoted");
    for d in [&mut primary, &mut standby] {
        let exit = d.stop(Duration::from_secs(20));
        assert!(exit.is_some_and(|s| s.success()), "{} exits cleanly on SIGTERM: {exit:?}", d.name);
    }
    let bad = broken_streams(&outcomes, &sink_dir, topo.client_ip, BYTES);
    assert!(bad.is_empty(), "streams while etcd is down: {bad:#?}");
    let cap = CardCapture::read(&pair.primary.pcap, topo.card_mac).expect("the primary's capture");
    assert_eq!(cap.rst_sent, 0, "no reset");

    // A fresh start of the daemon configured active, etcd still down.
    let _ = std::fs::remove_file(&pair.primary.epoch_file);
    let fresh = pair.primary.start(Some(bin), &dir.0.join("primary-fresh.log")).unwrap_or_else(|e| panic!("{}", holdback_daemon::error::chain(&e)));
    let refused = wait_for(STATE_TIMEOUT, "the fresh daemon a silent standby that says why", || {
        status(&fresh.socket).filter(|s| s.pair.as_ref().is_some_and(|p| p.role == PairRole::Standby && p.reason.is_some()))
    });
    let why = refused.pair.as_ref().and_then(|p| p.reason.clone()).unwrap_or_default();
    assert!(refused.status.ctrl.standby, "its card is silent");
    assert!(why.contains("etcd"), "the reason names etcd: {why}");
    eprintln!("fresh daemon: {why}; test wall time {:?}", began.elapsed());
    drop(fresh);
    drop(etcd);
    drop(net);
}
