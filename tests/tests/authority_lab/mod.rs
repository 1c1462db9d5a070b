//! A failover lab under the etcd authority (docs/authority.md): one real
//! etcd member (Debian's `etcd-server`) in a namespace of its own, linked
//! by one veth to each daemon's namespace, so either node's link to etcd
//! can be cut alone; the pair's configs get `[authority] kind = "etcd"`.
//! Everything is removed on drop, also when the test fails. Needs root.
#![allow(dead_code)] // each test binary uses a part

use std::net::{Ipv4Addr, SocketAddrV4};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use holdback_daemon::config::{Authority, EtcdAuthority};
use holdback_daemon::control::{PairLink, PairRole};
use holdback_daemon::lab::capture::CardCapture;
use holdback_daemon::lab::clients::{self, ClientHandle, ClientPlan};
use holdback_daemon::lab::daemon::{write_config, DaemonProcess};
use holdback_daemon::lab::DEFAULT_PORT;
use holdback_daemon::lab::netns::{LabNet, LabTopology};
use holdback_daemon::lab::pair::{FailoverOptions, PairSetup};
use holdback_tests::{broken_streams, holdback_bin, pair_status, require_tool, wait_for, WorkDir};

/// etcd's address towards the primary's namespace, and the primary's.
pub const ETCD_TO_PRIMARY: Ipv4Addr = Ipv4Addr::new(198, 19, 1, 1);
const PRIMARY_TO_ETCD: Ipv4Addr = Ipv4Addr::new(198, 19, 1, 2);
/// etcd's address towards the standby's namespace, and the standby's.
pub const ETCD_TO_STANDBY: Ipv4Addr = Ipv4Addr::new(198, 19, 1, 5);
const STANDBY_TO_ETCD: Ipv4Addr = Ipv4Addr::new(198, 19, 1, 6);
const ETCD_PORT: u16 = 2379;
/// etcd's own interface towards each node (inside the etcd namespace).
const TO_PRIMARY_IF: &str = "hbetcd0";
const TO_STANDBY_IF: &str = "hbetcd1";

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip").args(args).output().map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

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

/// The etcd namespace and its member; killed and removed on drop.
pub struct EtcdLab {
    pub netns: String,
    child: Option<Child>,
    dir: std::path::PathBuf,
    /// Holder record TTL and key prefix the configs got.
    pub key_prefix: String,
}

impl EtcdLab {
    /// Creates the namespace beside `topo`'s pair, links it to both daemon
    /// namespaces and starts etcd in it; waits until it answers.
    pub fn start(topo: &LabTopology, dir: &std::path::Path) -> EtcdLab {
        require_tool("etcd", "etcd-server");
        let sb = topo.standby.as_ref().expect("a pair topology");
        let netns = format!("{}-etcd", topo.client_ns.trim_end_matches("-cli"));
        let _ = ip(&["netns", "del", &netns]);
        ip(&["netns", "add", &netns]).expect("etcd's namespace");
        let mut lab = EtcdLab { netns: netns.clone(), child: None, dir: dir.join("etcd"), key_prefix: format!("/holdback/{netns}") };
        let links = [
            (TO_PRIMARY_IF, &sb.primary_ns, ETCD_TO_PRIMARY, PRIMARY_TO_ETCD),
            (TO_STANDBY_IF, &sb.standby_ns, ETCD_TO_STANDBY, STANDBY_TO_ETCD),
        ];
        ip(&["-n", &netns, "link", "set", "lo", "up"]).expect("etcd namespace loopback");
        for (ours, node_ns, etcd_ip, node_ip) in links {
            ip(&["-n", &netns, "link", "add", ours, "type", "veth", "peer", "name", "hbetcd", "netns", node_ns]).expect("veth to a node");
            ip(&["-n", &netns, "addr", "add", &format!("{etcd_ip}/30"), "dev", ours]).expect("etcd's address");
            ip(&["-n", node_ns, "addr", "add", &format!("{node_ip}/30"), "dev", "hbetcd"]).expect("the node's address towards etcd");
            ip(&["-n", &netns, "link", "set", ours, "up"]).expect("etcd's link up");
            ip(&["-n", node_ns, "link", "set", "hbetcd", "up"]).expect("the node's link up");
        }
        let _ = std::fs::remove_dir_all(&lab.dir);
        std::fs::create_dir_all(&lab.dir).expect("etcd's directory");
        let clients = format!("http://{ETCD_TO_PRIMARY}:{ETCD_PORT},http://{ETCD_TO_STANDBY}:{ETCD_PORT}");
        let log = std::fs::File::create(lab.dir.join("etcd.log")).expect("etcd's log");
        let child = Command::new("ip")
            .args(["netns", "exec", &netns, "etcd", "--name", "hb", "--data-dir"])
            .arg(lab.dir.join("data"))
            .args(["--listen-client-urls", &clients, "--advertise-client-urls", &clients])
            .args(["--listen-peer-urls", "http://127.0.0.1:2380", "--initial-advertise-peer-urls", "http://127.0.0.1:2380"])
            .args(["--initial-cluster", "hb=http://127.0.0.1:2380", "--initial-cluster-state", "new"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting etcd");
        lab.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        // Reachable from the primary's namespace: its member is serving.
        loop {
            let probe = Command::new("ip")
                .args(["netns", "exec", &sb.primary_ns, "bash", "-c", &format!("exec 3<>/dev/tcp/{ETCD_TO_PRIMARY}/{ETCD_PORT}")])
                .output();
            if probe.is_ok_and(|o| o.status.success()) {
                break;
            }
            assert!(Instant::now() < deadline, "etcd did not serve within 20 s; its log: {}", lab.log());
            std::thread::sleep(Duration::from_millis(100));
        }
        lab
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("etcd.log")).unwrap_or_default()
    }

    /// Kills the etcd member (its data stays until drop).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Cuts (or restores) the primary's link to etcd.
    pub fn set_primary_link(&self, up: bool) {
        ip(&["-n", &self.netns, "link", "set", TO_PRIMARY_IF, if up { "up" } else { "down" }]).expect("the primary's link to etcd");
    }

    /// Cuts (or restores) the standby's link to etcd.
    pub fn set_standby_link(&self, up: bool) {
        ip(&["-n", &self.netns, "link", "set", TO_STANDBY_IF, if up { "up" } else { "down" }]).expect("the standby's link to etcd");
    }

    /// Rewrites both daemons' configs with `[authority] kind = "etcd"`,
    /// each reaching etcd over its own link.
    pub fn configure(&self, pair: &mut PairSetup) {
        for (member, endpoint) in [(&mut pair.primary, ETCD_TO_PRIMARY), (&mut pair.standby, ETCD_TO_STANDBY)] {
            let r = member.config.replication.as_ref().expect("a pair member");
            let heartbeat_ms = r.heartbeat.as_millis() as u64;
            member.config.authority = Authority::Etcd(Box::new(EtcdAuthority {
                endpoints: vec![format!("http://{endpoint}:{ETCD_PORT}")],
                key_prefix: self.key_prefix.clone(),
                lease_ttl_s: 2,
                // The documented defaults: P = 2h, C = D = m·h.
                promise: Duration::from_millis(2 * heartbeat_ms),
                confirm: r.heartbeat * r.heartbeat_misses,
                // Its first request also opens the connection, slow on a
                // loaded machine; safety does not depend on it (grants are
                // counted from when a request was sent).
                request_timeout: Duration::from_millis(holdback_daemon::config::DEFAULT_ETCD_TIMEOUT_MS),
                name: member.name.to_string(),
                ca_file: None,
                cert_file: None,
                key_file: None,
                user: None,
                password_file: None,
            }));
            write_config(&member.config, "the etcd authority's lab test").expect("rewriting a pair config");
        }
    }
}

impl Drop for EtcdLab {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // Deleting the namespace removes etcd's ends of the veths, and so
        // their peers in the daemons' namespaces.
        let _ = ip(&["netns", "del", &self.netns]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// When each card sent its own frames, from the two captures. Both cards
/// use the service MAC, so a card's capture also holds the broadcasts the
/// other card sent (the bridge floods them: the promoted card's gratuitous
/// ARP lands in the old card's capture with the card's source MAC). A
/// broadcast found byte for byte in the other capture is counted for
/// neither card; unicast frames reach one port only, so those with the
/// card's source MAC are the card's own.
pub fn own_frames(a_pcap: &std::path::Path, b_pcap: &std::path::Path, mac: [u8; 6]) -> (Vec<Duration>, Vec<Duration>) {
    let read = |path: &std::path::Path| -> Vec<(Duration, Vec<u8>)> {
        let (records, _) = holdback_sim::pcap::read_complete_records(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        records.into_iter().filter(|(_, f)| f.get(6..12) == Some(&mac[..])).collect()
    };
    let (a, b) = (read(a_pcap), read(b_pcap));
    let own = |mine: &[(Duration, Vec<u8>)], other: &[(Duration, Vec<u8>)]| -> Vec<Duration> {
        mine.iter()
            .filter(|(_, f)| !(f.get(..6) == Some(&[0xff; 6][..]) && other.iter().any(|(_, o)| o == f)))
            .map(|(at, _)| *at)
            .collect()
    };
    (own(&a, &b), own(&b, &a))
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

/// The wall clock, as the captures stamp frames.
pub fn wall() -> Duration {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock after 1970")
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

/// How long two cards answered at once: the old card's last own frame
/// after the new card's first (0: never both).
pub fn overlap(old_own: &[Duration], new_own: &[Duration]) -> Duration {
    match (old_own.iter().max(), new_own.iter().min()) {
        (Some(old), Some(new)) => old.saturating_sub(*new),
        _ => Duration::ZERO,
    }
}

/// The simulated card's thread (sim/src/card.rs): the one left running.
pub const CARD_THREAD: &str = "holdback-card";
/// Every thread of a process but the card's, stopped with ptrace; resumed
/// (detached) on drop, also when the test fails.
pub struct Hung {
    tids: Vec<libc::pid_t>,
}

impl Hung {
    pub fn hang(pid: u32) -> Hung {
        let mut hung = Hung { tids: Vec::new() };
        // Threads come and go (the runtime's blocking pool): list again
        // until a pass finds none left to stop.
        loop {
            let mut stopped_one = false;
            let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("the daemon's threads");
            for task in tasks.flatten() {
                let Some(tid) = task.file_name().to_str().and_then(|t| t.parse::<libc::pid_t>().ok()) else { continue };
                let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
                if comm.trim() == CARD_THREAD || hung.tids.contains(&tid) {
                    continue;
                }
                // SAFETY: ptrace on a thread id of a child process we own; the
                // null address and data are what SEIZE and INTERRUPT take.
                let seized = unsafe { libc::ptrace(libc::PTRACE_SEIZE, tid, std::ptr::null_mut::<libc::c_void>(), std::ptr::null_mut::<libc::c_void>()) };
                if seized != 0 {
                    let e = std::io::Error::last_os_error();
                    // It ended between the listing and now.
                    assert_eq!(e.raw_os_error(), Some(libc::ESRCH), "ptrace(SEIZE) of thread {tid} ({}): {e}", comm.trim());
                    continue;
                }
                hung.tids.push(tid);
                stopped_one = true;
                // SAFETY: as above, on a thread we just seized.
                let interrupted = unsafe { libc::ptrace(libc::PTRACE_INTERRUPT, tid, std::ptr::null_mut::<libc::c_void>(), std::ptr::null_mut::<libc::c_void>()) };
                assert_eq!(interrupted, 0, "ptrace(INTERRUPT) of thread {tid}: {}", std::io::Error::last_os_error());
                let mut status = 0;
                // SAFETY: waiting for the ptrace-stop of a thread we trace.
                let waited = unsafe { libc::waitpid(tid, &mut status, libc::__WALL) };
                assert_eq!(waited, tid, "waiting for thread {tid} to stop: {}", std::io::Error::last_os_error());
            }
            if !stopped_one {
                break;
            }
        }
        assert!(!hung.tids.is_empty(), "no daemon thread besides the card's");
        hung
    }
}

impl Drop for Hung {
    fn drop(&mut self) {
        for &tid in &self.tids {
            // SAFETY: detaching a thread this thread traces resumes it.
            unsafe { libc::ptrace(libc::PTRACE_DETACH, tid, std::ptr::null_mut::<libc::c_void>(), std::ptr::null_mut::<libc::c_void>()) };
        }
    }
}
