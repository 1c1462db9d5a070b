//! A failover lab under the etcd authority (docs/authority.md) for the
//! tests: the lab's own etcd member (`holdback_daemon::lab::chaos`, the one
//! `holdback lab --chaos` runs: Debian's `etcd-server` in a namespace of its
//! own, one veth to each daemon's namespace, so either node's link to etcd
//! can be cut alone), the pair's configs with `[authority] kind = "etcd"`,
//! and the checks the authority tests share. Everything is removed on
//! drop, also when the test fails. Needs root.
#![allow(dead_code)] // each test binary uses a part

use std::net::SocketAddrV4;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use holdback_daemon::config::Authority;
use holdback_daemon::error::chain;
use holdback_daemon::lab::chaos;
#[allow(unused_imports)] // each test binary uses a part
pub use holdback_daemon::lab::chaos::{overlap, wall};
use holdback_daemon::control::{PairLink, PairRole};
use holdback_daemon::lab::capture::CardCapture;
use holdback_daemon::lab::clients::{self, ClientHandle, ClientPlan};
use holdback_daemon::lab::daemon::DaemonProcess;
use holdback_daemon::lab::DEFAULT_PORT;
use holdback_daemon::lab::netns::{LabNet, LabTopology};
use holdback_daemon::lab::pair::{FailoverOptions, PairSetup};
use holdback_tests::{broken_streams, holdback_bin, pair_status, wait_for, WorkDir};

/// Everything an etcd lab test stands on besides the two daemons, in the
/// order a test binds it (`let (EtcdPairSetup { dir, net, topo, pair, etcd }, primary, standby)`),
/// so it is taken down in reverse: daemons, etcd, configs, network, files.
pub struct EtcdPairSetup {
    pub dir: WorkDir,
    pub net: LabNet,
    pub topo: LabTopology,
    pub pair: PairSetup,
    pub etcd: EtcdLab,
}

/// A pair lab under its own etcd with both daemons started: a work
/// directory `work` (under the temp dir, per process), namespaces tagged
/// `tag`, `conns` clients of `bytes` planned.
pub fn start_pair(work: &str, tag: &str, conns: usize, bytes: u64) -> (EtcdPairSetup, DaemonProcess, DaemonProcess) {
    start_pair_with(work, tag, &FailoverOptions { conns, bytes, ..FailoverOptions::default() })
}

/// [`start_pair`] with the pair lab's options `opts` (gates, store, heartbeats).
pub fn start_pair_with(work: &str, tag: &str, opts: &FailoverOptions) -> (EtcdPairSetup, DaemonProcess, DaemonProcess) {
    let bin = holdback_bin();
    let dir = WorkDir(std::env::temp_dir().join(format!("{work}-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&dir.0);
    let net = LabNet::create(LabTopology::unique_with_standby(tag)).expect("lab network");
    let topo = net.topology().clone();
    let mut pair = PairSetup::write(&dir.0, &topo, opts).unwrap_or_else(|e| panic!("pair configs: {}", holdback_daemon::error::chain(&e)));
    let etcd = EtcdLab::start(&topo, &dir.0);
    etcd.configure(&mut pair);
    let (primary, standby) =
        pair.start_both(Some(bin)).unwrap_or_else(|e| panic!("pair daemons: {}", holdback_daemon::error::chain(&e)));
    (EtcdPairSetup { dir, net, topo, pair, etcd }, primary, standby)
}

/// `conns` Linux clients sending `bytes` each (stream seed `seed`) to the
/// card's service address, started and waited for until a fifth of all
/// bytes went out, so a fault comes in the middle of the streams. Returns
/// their handles, the flag that cancels them, and the fraction sent so far.
pub fn clients_a_fifth_in(
    topo: &LabTopology,
    conns: usize,
    bytes: u64,
    seed: u64,
) -> (Vec<ClientHandle>, Arc<AtomicBool>, impl Fn() -> f64) {
    let plan = ClientPlan {
        target: SocketAddrV4::new(topo.card_ip, DEFAULT_PORT),
        bytes,
        seed: holdback_sim::test_seed(seed),
        stall_timeout: Duration::from_secs(60),
    };
    let (cancel, sent) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
    let handles = clients::spawn_clients_counting(&topo.client_ns, conns, &plan, cancel.clone(), sent.clone());
    let total = bytes * conns as u64;
    let sent_fraction = move || sent.load(Ordering::Relaxed) as f64 / total as f64;
    wait_for(Duration::from_secs(120), "20 % of the bytes sent", || (sent_fraction() >= 0.2).then_some(()));
    (handles, cancel, sent_fraction)
}

/// The lab's etcd member ([`chaos::EtcdLab`], the one `holdback lab
/// --chaos` runs), with a test's way of failing: at once, saying why.
pub struct EtcdLab(chaos::EtcdLab);

impl EtcdLab {
    /// Starts etcd beside `topo`'s pair (namespace, veths, member).
    pub fn start(topo: &LabTopology, dir: &std::path::Path) -> EtcdLab {
        EtcdLab(chaos::EtcdLab::start(topo, dir).unwrap_or_else(|e| panic!("etcd for the lab: {}", chain(&e))))
    }

    pub fn log(&self) -> String {
        self.0.log()
    }

    /// Kills the etcd member (its data stays until drop).
    pub fn kill(&mut self) {
        self.0.kill()
    }

    /// Cuts (or restores) the primary's link to etcd.
    pub fn set_primary_link(&self, up: bool) {
        self.0.set_primary_link(up).unwrap_or_else(|e| panic!("the primary's link to etcd: {}", chain(&e)))
    }

    /// Cuts (or restores) the standby's link to etcd.
    pub fn set_standby_link(&self, up: bool) {
        self.0.set_standby_link(up).unwrap_or_else(|e| panic!("the standby's link to etcd: {}", chain(&e)))
    }

    /// Rewrites both daemons' configs with `[authority] kind = "etcd"`.
    pub fn configure(&self, pair: &mut PairSetup) {
        self.0.configure(pair).unwrap_or_else(|e| panic!("the pair's configs for etcd: {}", chain(&e)))
    }
}

/// When each card sent its own frames, from the two captures
/// ([`chaos::own_frames`]).
pub fn own_frames(a_pcap: &std::path::Path, b_pcap: &std::path::Path, mac: [u8; 6]) -> (Vec<Duration>, Vec<Duration>) {
    chaos::own_frames(a_pcap, b_pcap, mac).unwrap_or_else(|e| panic!("reading the cards' captures: {}", chain(&e)))
}

/// Waits until the primary holds the epoch and speaks on a confirmation
/// and the standby promises on the heartbeats: the pair under etcd, settled.
pub fn wait_until_held_and_promised(primary: &DaemonProcess, standby: &DaemonProcess) {
    wait_for(Duration::from_secs(30), "the primary holding the epoch on a confirmation, the standby promising", || {
        let p = pair_status(&primary.socket)?;
        let s = pair_status(&standby.socket)?;
        (p.authority.as_ref()?.speaks_on == holdback_daemon::authority::SpeaksOn::Confirmation && s.authority.as_ref()?.promising)
            .then_some(())
    });
}

/// max(P, C) of the primary's config: how long its card may speak after
/// its last answered request (docs/authority.md, The bounds).
pub fn silence_bound(pair: &PairSetup) -> Duration {
    let Authority::Etcd(settings) = &pair.primary.config.authority else { panic!("configured for etcd") };
    settings.promise.max(settings.confirm)
}

/// Echo requests from the clients' namespace to the card every 10 ms for
/// `secs`: the core answers them without its host, so a card that may
/// still speak shows it in its capture (under the gates a cut-off host
/// releases nothing, so its card ACKs nothing new).
pub fn pings(topo: &LabTopology, secs: u32) -> Child {
    Command::new("ip")
        .args(["netns", "exec", &topo.client_ns, "ping", "-q", "-i", "0.01", "-w", &secs.to_string()])
        .arg(topo.card_ip.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ping from the clients' namespace")
}

/// The card's clock is the host's wall clock sampled by the card thread;
/// on a loaded machine its NOW_US and the capture's stamps can lag one
/// another by up to about a heartbeat interval (the lab's 50 ms).
pub const CLOCK_SAMPLING: Duration = Duration::from_millis(50);

/// The verdict after a fault that leaves the primary's card to fall silent
/// by itself (its host hung, or cut off from everything) at `fault_at`
/// (wall clock), once the fault is over: the old primary becomes the
/// standby in epoch 2 and the promoted node replicates to it; both daemons
/// stop cleanly. From the captures: the old card answered after the fault
/// and sent its last frame within `bound` (max(P, C)) + [`CLOCK_SAMPLING`]
/// of it, never while the promoted card spoke, no RST; every one of the
/// clients' streams of `bytes` is intact. `what` names the old card in
/// messages ("hung", "isolated").
pub fn the_old_card_fell_silent_in_time(
    setup: &EtcdPairSetup,
    (primary, standby): (&mut DaemonProcess, &mut DaemonProcess),
    (handles, cancel): (Vec<ClientHandle>, Arc<AtomicBool>),
    fault_at: Duration,
    bound: Duration,
    what: &str,
    bytes: u64,
) {
    let (pair, topo) = (&setup.pair, &setup.topo);
    wait_for(Duration::from_secs(30), "the old primary a standby in epoch 2", || {
        pair_status(&primary.socket).filter(|p| p.role == PairRole::Standby && p.epoch == 2)
    });
    wait_for(Duration::from_secs(30), "the promoted node replicating to the old primary", || {
        pair_status(&standby.socket).filter(|p| p.link == PairLink::Replicating)
    });
    let outcomes = clients::collect(handles);
    cancel.store(true, Ordering::SeqCst);
    for d in [primary, standby] {
        let exit = d.stop(Duration::from_secs(20));
        assert!(exit.is_some_and(|s| s.success()), "{} exits cleanly on SIGTERM: {exit:?}", d.name);
    }

    let old = CardCapture::read(&pair.primary.pcap, topo.card_mac).expect("the old card's capture");
    let new = CardCapture::read(&pair.standby.pcap, topo.card_mac).expect("the promoted card's capture");
    let (old_own, new_own) = own_frames(&pair.primary.pcap, &pair.standby.pcap, topo.card_mac);
    // Every frame of the old card after the fault counts, also after it
    // ended: it never speaks again, in epoch 1 or as a standby.
    let after: Vec<Duration> = old_own.iter().copied().filter(|at| *at > fault_at).collect();
    let spoke_for = after.iter().max().map(|l| l.saturating_sub(fault_at));
    let both = overlap(&old_own, &new_own);
    eprintln!(
        "captures: the {what} card sent {} frames after the fault, the last {spoke_for:?} after it (bound {bound:?}); promoted card's first frame {:?} after the fault; overlap {both:?}",
        after.len(),
        new_own.iter().min().map(|f| f.saturating_sub(fault_at))
    );
    assert!(!after.is_empty(), "the {what} card answered nothing after the fault: this test would not show its lease ending");
    assert!(
        spoke_for.is_some_and(|s| s <= bound + CLOCK_SAMPLING),
        "the {what} card spoke for {spoke_for:?} after the fault: more than max(P, C) = {bound:?} (+ {CLOCK_SAMPLING:?} of clock sampling)"
    );
    assert_eq!(both, Duration::ZERO, "two cards answered at once for {both:?}");
    assert_eq!((old.rst_sent, new.rst_sent), (0, 0), "no card reset a connection");

    let bad = broken_streams(&outcomes, pair.standby.sink_dir(), topo.client_ip, bytes);
    assert!(bad.is_empty(), "streams across the {what} primary under the etcd authority: {bad:#?}");
}

/// Every thread of a daemon but its card's, stopped with ptrace
/// ([`chaos::Hung`]); resumed on drop, also when the test fails.
pub struct Hung(chaos::Hung);

impl Hung {
    pub fn hang(pid: u32) -> Hung {
        Hung(chaos::Hung::hang(pid).unwrap_or_else(|e| panic!("hanging the daemon: {}", chain(&e))))
    }
}
