//! A hung primary host under the etcd authority (docs/authority.md, "What
//! the card adds"): every thread of the primary's daemon is stopped
//! (ptrace) except the simulated card's own, which keeps receiving and
//! answering. The daemon then writes no lease, sends no heartbeat and asks
//! etcd for nothing, so its card must fall silent by itself when the lease
//! register's time has passed — within max(P, C) of the last grant — and
//! the standby takes over in epoch 2 only after that. Judged from the
//! captures: the hung card sent frames after the hang began, its last one
//! within the bound, and before the promoted card's first. Once thawed,
//! the old primary learns of epoch 2 and joins as standby; every stream
//! arrives intact, with no reset.
//! Needs root (network namespaces, TAPs, ptrace) and etcd; fails loudly without them.
mod authority_lab;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use holdback_daemon::authority::SpeaksOn;
use holdback_daemon::control::{PairLink, PairRole};
use holdback_daemon::lab::capture::CardCapture;
use holdback_daemon::lab::clients;
use holdback_tests::{pair_status, require_lab_prerequisites, broken_streams, wait_for};

use authority_lab::{overlap, own_frames, wall, EtcdPairSetup, Hung};

const CONNS: usize = 4;
const BYTES: u64 = 2 << 20;
const STATE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the primary stays hung.
const HUNG_FOR: Duration = Duration::from_secs(2);
/// The card's clock is the host's wall clock sampled by the card thread;
/// on a loaded machine its NOW_US and the capture's stamps can lag one
/// another by up to about a heartbeat interval (the lab's 50 ms).
const CLOCK_SAMPLING: Duration = Duration::from_millis(50);

#[test]
fn a_hung_primarys_card_falls_silent_by_itself_when_its_lease_runs_out() {
    require_lab_prerequisites();
    let began = Instant::now();
    let (EtcdPairSetup { dir: _dir, net, topo, pair, etcd }, mut primary, mut standby) =
        authority_lab::start_pair("holdback-hung-etcd", "hg", CONNS, BYTES);
    let holdback_daemon::config::Authority::Etcd(settings) = &pair.primary.config.authority else { panic!("configured for etcd") };
    let bound = settings.promise.max(settings.confirm);
    let sink_dir = pair.standby.sink_dir().to_path_buf();
    wait_for(STATE_TIMEOUT, "the primary holding the epoch on a confirmation, the standby promising", || {
        let p = pair_status(&primary.socket)?;
        let s = pair_status(&standby.socket)?;
        (p.authority.as_ref()?.speaks_on == SpeaksOn::Confirmation && s.authority.as_ref()?.promising).then_some(())
    });

    let (handles, cancel, _sent_fraction) = authority_lab::clients_a_fifth_in(&topo, CONNS, BYTES, 0x4a46_e7cd);

    // Under the app and replica gates a hung host releases nothing, so its
    // card ACKs nothing new; echo requests make it answer by itself (the
    // core replies to ICMP echo without its host) until its lease ends.
    let mut pings = std::process::Command::new("ip")
        .args(["netns", "exec", &topo.client_ns, "ping", "-q", "-i", "0.01", "-w", "3"])
        .arg(topo.card_ip.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("ping from the clients' namespace");
    std::thread::sleep(Duration::from_millis(200));
    let hung_at = wall();
    let hung = Hung::hang(primary.child.id());
    let promoted = wait_for(STATE_TIMEOUT, "the standby promoted in epoch 2", || {
        pair_status(&standby.socket).filter(|p| p.role == PairRole::Promoted && p.epoch == 2)
    });
    let promoted_after = wall().saturating_sub(hung_at);
    std::thread::sleep(HUNG_FOR.saturating_sub(promoted_after));
    drop(hung);
    let _ = pings.kill();
    let _ = pings.wait();
    eprintln!("primary hung for {HUNG_FOR:?}; standby promoted {promoted_after:?} after the hang: {:?}", promoted.authority);

    wait_for(STATE_TIMEOUT, "the thawed old primary a standby in epoch 2", || {
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

    let old = CardCapture::read(&pair.primary.pcap, topo.card_mac).expect("the hung card's capture");
    let new = CardCapture::read(&pair.standby.pcap, topo.card_mac).expect("the promoted card's capture");
    let (old_own, new_own) = own_frames(&pair.primary.pcap, &pair.standby.pcap, topo.card_mac);
    let after_hang: Vec<Duration> = old_own.iter().copied().filter(|at| *at > hung_at).collect();
    let spoke_for = after_hang.iter().max().map(|l| l.saturating_sub(hung_at));
    let both = overlap(&old_own, &new_own);
    eprintln!(
        "captures: the hung card sent {} frames after the hang, the last {spoke_for:?} after it (bound {bound:?}); promoted card's first frame {:?} after the hang; overlap {both:?}",
        after_hang.len(),
        new_own.iter().min().map(|f| f.saturating_sub(hung_at))
    );
    assert!(!after_hang.is_empty(), "the hung card answered nothing after the hang began: this test would not show its lease ending");
    assert!(
        spoke_for.is_some_and(|s| s <= bound + CLOCK_SAMPLING),
        "the hung card spoke for {spoke_for:?} after its host hung: more than max(P, C) = {bound:?} (+ {CLOCK_SAMPLING:?} of clock sampling)"
    );
    assert_eq!(both, Duration::ZERO, "two cards answered at once for {both:?}");
    assert_eq!((old.rst_sent, new.rst_sent), (0, 0), "no card reset a connection");

    let bad = broken_streams(&outcomes, &sink_dir, topo.client_ip, BYTES);
    assert!(bad.is_empty(), "streams across a hung primary under the etcd authority: {bad:#?}");
    eprintln!("{CONNS} x {} MiB intact; test wall time {:?}", BYTES >> 20, began.elapsed());
    drop(etcd);
    drop(net);
}
