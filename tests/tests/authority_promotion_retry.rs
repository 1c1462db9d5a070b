//! A standby whose promotion failed because etcd could not be reached
//! tries again by itself (docs/authority.md, The standby): its link to
//! etcd is cut, then the primary is killed (SIGKILL). The detector fires,
//! the campaign cannot reach etcd, and the standby stays a silent standby
//! and says so — then tries again after a pause that starts at one
//! heartbeat interval and doubles up to `PROMOTION_RETRY_MAX`. Once its
//! link to etcd returns, it promotes in epoch 2 without any `holdback
//! promote`, within that pause plus one campaign; every stream arrives
//! intact through it, with no reset.
//! Needs root (network namespaces, TAPs) and etcd; fails loudly without them.
mod authority_lab;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use holdback_daemon::control::PairRole;
use holdback_daemon::lab::capture::CardCapture;
use holdback_daemon::lab::clients;
use holdback_daemon::pair::PROMOTION_RETRY_MAX;
use holdback_tests::{broken_streams, pair_status, require_lab_prerequisites, wait_for};

use authority_lab::EtcdPairSetup;

const CONNS: usize = 4;
const BYTES: u64 = 2 << 20;
const STATE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long etcd stays out of the standby's reach after its first
/// promotion failed: long enough for more than one attempt.
const UNREACHABLE_FOR: Duration = Duration::from_millis(2500);

#[test]
fn a_standby_whose_promotion_failed_on_unreachable_etcd_promotes_by_itself_once_etcd_is_back() {
    require_lab_prerequisites();
    let began = Instant::now();
    let (EtcdPairSetup { dir: _dir, net, topo, pair, etcd }, mut primary, mut standby) =
        authority_lab::start_pair("holdback-retry-etcd", "rt", CONNS, BYTES);
    let holdback_daemon::config::Authority::Etcd(settings) = &pair.standby.config.authority else { panic!("configured for etcd") };
    let (request_timeout, confirm) = (settings.request_timeout, settings.confirm);
    let sink_dir = pair.standby.sink_dir().to_path_buf();
    authority_lab::wait_until_held_and_promised(&primary, &standby);

    let (handles, cancel, _sent_fraction) = authority_lab::clients_a_fifth_in(&topo, CONNS, BYTES, 0x7e7_a9a1);

    etcd.set_standby_link(false);
    primary.kill_hard();
    let killed_at = Instant::now();
    let failed = wait_for(STATE_TIMEOUT, "the standby's promotion refused: etcd unreachable", || {
        pair_status(&standby.socket).filter(|p| p.reason.as_ref().is_some_and(|r| r.starts_with("no promotion")))
    });
    eprintln!("{:?} after the kill: {:?}", killed_at.elapsed(), failed.reason);
    assert_eq!(failed.role, PairRole::Standby, "without etcd the standby stays a standby: {failed:?}");
    std::thread::sleep(UNREACHABLE_FOR);
    let still = pair_status(&standby.socket).expect("the standby's status");
    assert_eq!(still.role, PairRole::Standby, "no promotion while etcd is out of reach: {still:?}");

    etcd.set_standby_link(true);
    let restored_at = Instant::now();
    let promoted = wait_for(STATE_TIMEOUT, "the standby promoted by itself in epoch 2", || {
        pair_status(&standby.socket).filter(|p| p.role == PairRole::Promoted && p.epoch == 2)
    });
    let after_restore = restored_at.elapsed();
    // The attempt under way when the link returned may still wait out its
    // request timeout; the next starts at most PROMOTION_RETRY_MAX later and
    // takes one campaign: a round trip, C·1.01, a confirmation, PROMOTE.
    let bound = request_timeout + PROMOTION_RETRY_MAX + request_timeout + confirm.mul_f64(1.01) + Duration::from_secs(1);
    eprintln!(
        "promoted {after_restore:?} after etcd returned ({:?} after the kill; bound {bound:?}): {:?}",
        killed_at.elapsed(),
        promoted.authority
    );
    assert!(after_restore <= bound, "promoted {after_restore:?} after etcd returned: more than {bound:?}");
    assert!(promoted.authority.as_ref().is_some_and(|a| a.holds && a.epoch == 2), "{promoted:?}");

    let outcomes = clients::collect(handles);
    cancel.store(true, Ordering::SeqCst);
    let exit = standby.stop(Duration::from_secs(20));
    assert!(exit.is_some_and(|s| s.success()), "the promoted daemon exits cleanly on SIGTERM: {exit:?}");

    let old = CardCapture::read(&pair.primary.pcap, topo.card_mac).expect("the killed card's capture");
    let new = CardCapture::read(&pair.standby.pcap, topo.card_mac).expect("the promoted card's capture");
    assert!(new.gratuitous_arps_sent >= 1, "the promoted card announced the address: {new:?}");
    assert_eq!((old.rst_sent, new.rst_sent), (0, 0), "no card reset a connection");
    let bad = broken_streams(&outcomes, &sink_dir, topo.client_ip, BYTES);
    assert!(bad.is_empty(), "streams across a promotion retried after etcd returned: {bad:#?}");
    eprintln!("{CONNS} x {} MiB intact; test wall time {:?}", BYTES >> 20, began.elapsed());
    drop(etcd);
    drop(net);
}
