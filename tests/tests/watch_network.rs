//! The external failure detector from another host (claims 21, 22, 38-40;
//! invariant 8). A failover pair streams to Linux clients; `holdback watch`
//! runs in a namespace of its own whose only link leads to the primary's
//! namespace (198.19.1.0/30): it probes the primary's `GET /health` over
//! that link, never its control socket. The primary is SIGKILLed; watch
//! must notice, run its switch hook (`holdback lab switch`, the lab bridge)
//! and promote the standby. Afterwards the bridge's forwarding table must
//! hold the service MAC as a static entry on the standby's port with the
//! primary's port detached — which the standby's gratuitous ARP alone never
//! produces (it makes a learned entry) — and every stream must be intact.
//! Needs root (network namespaces, TAPs) and iproute2's `bridge`; fails
//! loudly without them.
use std::net::{SocketAddr, SocketAddrV4};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use holdback_daemon::control::{PairLink, PairRole};
use holdback_daemon::lab::clients::{self, ClientPlan};
use holdback_daemon::lab::daemon::write_config;
use holdback_daemon::lab::netns::{LabNet, LabTopology};
use holdback_daemon::lab::pair::{Detector, FailoverOptions, PairSetup};
use holdback_daemon::lab::DEFAULT_PORT;
use holdback_driver::MacAddr;
use holdback_tests::{holdback_bin, pair_status, require_lab_prerequisites, require_tool, sink_file_matches, wait_for, WorkDir};

const CONNS: usize = 2;
const BYTES: u64 = 1 << 20;
const HEALTH_PORT: u16 = 9464;
const STATE_TIMEOUT: Duration = Duration::from_secs(30);

/// `holdback watch`, killed on drop if it is still running.
struct Watcher(Child);

impl Drop for Watcher {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// `bridge -n NS fdb show br BRIDGE`: the lines for `mac`.
fn fdb_lines(topo: &LabTopology, mac: &str) -> Vec<String> {
    let out = Command::new("bridge").args(["-n", &topo.card_ns, "fdb", "show", "br", &topo.bridge]).output().expect("bridge fdb show");
    assert!(out.status.success(), "bridge fdb show: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.starts_with(mac)).map(str::to_string).collect()
}

#[test]
fn watch_in_its_own_namespace_detects_the_primary_over_the_network_moves_the_bridge_and_promotes() {
    require_lab_prerequisites();
    require_tool("bridge", "iproute2");
    let bin = holdback_bin();
    let began = Instant::now();
    let dir = WorkDir(std::env::temp_dir().join(format!("holdback-watch-net-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&dir.0);

    let mut net = LabNet::create(LabTopology::unique_with_standby("wn")).expect("lab network");
    let watcher_net = net.add_watcher().expect("watcher namespace and management link");
    let topo = net.topology().clone();
    let standby_tap = topo.standby.as_ref().expect("a pair lab").standby_tap.clone();
    let opts = FailoverOptions { conns: CONNS, bytes: BYTES, detector: Detector::External, ..FailoverOptions::default() };
    let mut pair = PairSetup::write(&dir.0, &topo, &opts).unwrap_or_else(|e| panic!("pair configs: {}", holdback_daemon::error::chain(&e)));
    // The primary's HTTP endpoint on its end of the management link only.
    let health = SocketAddr::V4(SocketAddrV4::new(watcher_net.primary_ip, HEALTH_PORT));
    pair.primary.config.metrics = Some(health);
    write_config(&pair.primary.config, "the watch_network test").expect("primary config");
    let topology_file = dir.0.join("topology.json");
    std::fs::write(&topology_file, serde_json::to_string_pretty(&topo).expect("topology as JSON")).expect("topology.json");

    let (p_socket, s_socket) = (pair.primary.socket().to_path_buf(), pair.standby.socket().to_path_buf());
    let start = |member: &holdback_daemon::lab::pair::PairMember, log: &str| {
        member.start(Some(bin), &dir.0.join(log)).unwrap_or_else(|e| panic!("{} daemon: {}", member.name, holdback_daemon::error::chain(&e)))
    };
    let mut primary = start(&pair.primary, "primary.log");
    let mut standby = start(&pair.standby, "standby.log");
    wait_for(STATE_TIMEOUT, "the primary replicating to the standby", || {
        pair_status(&p_socket).filter(|p| p.link == PairLink::Replicating)
    });

    // The detector: in its own namespace, given the primary's health URL and
    // nothing else of the primary.
    let watch_log = dir.0.join("watch.log");
    let log = std::fs::File::create(&watch_log).expect("watch log");
    let mut watcher = Watcher(
        Command::new("ip")
            .args(["netns", "exec", &watcher_net.ns])
            .arg(bin)
            .args(["watch", "--primary", &format!("http://{health}/health"), "--standby"])
            .arg(&s_socket)
            .args(["--interval-ms", "50", "--misses", "3", "--switch-cmd"])
            .arg(bin)
            .args(["lab", "switch"])
            .arg(&topology_file)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("starting holdback watch"),
    );
    wait_for(STATE_TIMEOUT, "watch reaching the primary's /health over the management link", || {
        let text = std::fs::read_to_string(&watch_log).unwrap_or_default();
        assert!(!text.contains("primary probe failed"), "watch could not reach the live primary:\n{text}");
        text.contains("primary serving; watching it").then_some(())
    });

    let plan = ClientPlan {
        target: SocketAddrV4::new(topo.card_ip, DEFAULT_PORT),
        bytes: BYTES,
        seed: holdback_sim::test_seed(0x3a7c_4e11),
        stall_timeout: Duration::from_secs(60),
    };
    let (cancel, sent) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
    let handles = clients::spawn_clients_counting(&topo.client_ns, CONNS, &plan, cancel.clone(), sent.clone());
    let total = BYTES * CONNS as u64;
    wait_for(Duration::from_secs(120), "30 % of the bytes sent", || (sent.load(Ordering::Relaxed) * 10 >= total * 3).then_some(()));

    primary.kill_hard();
    let killed = Instant::now();
    let finished = wait_for(STATE_TIMEOUT, "watch to finish after the kill", || watcher.0.try_wait().expect("watch status"));
    let detected = killed.elapsed();
    let mut stdout = String::new();
    if let Some(mut out) = watcher.0.stdout.take() {
        use std::io::Read;
        let _ = out.read_to_string(&mut stdout);
    }
    let log_text = std::fs::read_to_string(&watch_log).unwrap_or_default();
    assert!(finished.success(), "watch failed ({finished}):\nstdout: {stdout}\nlog:\n{log_text}");
    assert!(stdout.contains("switch hook succeeded"), "{stdout}");
    eprintln!("watch: kill -> promoted in {detected:?}; {}", stdout.trim());

    let promoted = pair_status(&s_socket).expect("the standby answers");
    assert_eq!((promoted.role, promoted.epoch), (PairRole::Promoted, 2), "watch promoted the standby: {promoted:?}");

    // The switch moved: the service MAC is pinned (static) on the standby's
    // port, nothing points it at the primary's, and the primary's port is
    // off the bridge.
    let mac = MacAddr(topo.card_mac).to_string();
    let lines = fdb_lines(&topo, &mac);
    assert!(
        lines.iter().any(|l| l.contains(&format!("dev {standby_tap} ")) && l.contains(" static")),
        "no static fdb entry for {mac} on {standby_tap}: {lines:#?}"
    );
    assert!(!lines.iter().any(|l| l.contains(&format!("dev {} ", topo.tap))), "{mac} still points at the primary's port: {lines:#?}");
    let link = Command::new("ip").args(["-n", &topo.card_ns, "-o", "link", "show", "dev", &topo.tap]).output().expect("ip link show");
    let link = String::from_utf8_lossy(&link.stdout);
    assert!(!link.contains(&format!("master {}", topo.bridge)), "the primary's port is still on the bridge: {link}");

    let outcomes = clients::collect(handles);
    cancel.store(true, Ordering::SeqCst);
    for o in &outcomes {
        assert!(o.error.is_none() && !o.reset && o.bytes_sent == BYTES, "client {}: {o:?}", o.index);
        let (intact, file) = sink_file_matches(pair.standby.sink_dir(), topo.client_ip, o.local_port, &o.sha256);
        assert!(intact, "client {}: sink file {file:?} does not match what it sent", o.index);
    }
    match standby.stop(Duration::from_secs(20)) {
        Some(st) if st.success() => {}
        other => panic!("the promoted daemon did not stop cleanly on SIGTERM: {other:?}"),
    }
    eprintln!("watch_network: {:?} in all, {CONNS} × {BYTES} B intact", began.elapsed());
}
