//! The lab network guard: namespaces, bridge, veth and TAP appear, IPv6 is
//! off, and everything is gone after `Drop` — also when the test panics.
use std::path::Path;

use holdback_daemon::lab::netns::{ip, run_in_netns, LabNet, LabTopology};
use holdback_tests::require_lab_prerequisites;

#[test]
fn lab_network_is_built_and_removed_even_on_panic() {
    require_lab_prerequisites();
    let topo = LabTopology::unique("nettest");
    let t = topo.clone();
    let result = std::panic::catch_unwind(move || {
        let net = LabNet::create(t.clone()).expect("lab network builds");
        let links = ip(&["-n", &t.card_ns, "-o", "link", "show"]).unwrap();
        assert!(links.contains(&t.tap) && links.contains(&t.bridge), "{links}");
        let addrs = ip(&["-n", &t.client_ns, "-o", "addr", "show", "dev", &t.client_if]).unwrap();
        assert!(addrs.contains("198.18.0.1/24"), "{addrs}");
        assert!(!addrs.contains("inet6"), "IPv6 must be off in the lab: {addrs}");
        let v6 = run_in_netns(&t.client_ns, || std::fs::read_to_string("/proc/sys/net/ipv6/conf/all/disable_ipv6"))
            .unwrap()
            .unwrap();
        assert_eq!(v6.trim(), "1");
        drop(net.topology().clone());
        panic!("deliberate panic with the lab up");
    });
    assert!(result.is_err(), "the closure panics");
    for ns in [&topo.client_ns, &topo.card_ns] {
        assert!(!Path::new("/run/netns").join(ns).exists(), "namespace {ns} left behind after a panic");
    }
}

/// The failover lab's network: a second TAP on the bridge, the two
/// daemons' namespaces joined by the replication link, which can be cut and
/// restored; the external detector's switch command detaches the primary's
/// port and pins the service MAC on the standby's port. All of it is removed
/// on drop.
#[test]
fn failover_lab_network_has_a_standby_port_and_a_cuttable_replication_link() {
    require_lab_prerequisites();
    let topo = LabTopology::unique_with_standby("nettest");
    let s = topo.standby.clone().expect("standby part");
    {
        let net = LabNet::create(topo.clone()).expect("failover lab network builds");
        let bridge_ports = ip(&["-n", &topo.card_ns, "-o", "link", "show", "master", &topo.bridge]).unwrap();
        assert!(bridge_ports.contains(&topo.tap) && bridge_ports.contains(&s.standby_tap), "{bridge_ports}");
        let ping = |count: &str| {
            std::process::Command::new("ip")
                .args(["netns", "exec", &s.primary_ns, "ping", "-c", count, "-W", "1", "-q"])
                .arg(s.standby_repl_ip.to_string())
                .output()
                .expect("ping runs (iputils-ping)")
        };
        assert!(ping("1").status.success(), "replication link carries traffic");
        net.set_replication_link(false).unwrap();
        assert!(!ping("1").status.success(), "a cut replication link carries nothing");
        net.set_replication_link(true).unwrap();
        assert!(ping("1").status.success(), "a restored replication link carries traffic again");

        holdback_daemon::lab::netns::switch_to_standby(&topo).expect("switch command");
        let bridge_ports = ip(&["-n", &topo.card_ns, "-o", "link", "show", "master", &topo.bridge]).unwrap();
        assert!(!bridge_ports.contains(&format!(" {}:", topo.tap)), "primary port still on the bridge: {bridge_ports}");
        let fdb = std::process::Command::new("bridge")
            .args(["-n", &topo.card_ns, "fdb", "show", "dev", &s.standby_tap])
            .output()
            .unwrap();
        let fdb = String::from_utf8_lossy(&fdb.stdout);
        assert!(fdb.contains("02:48:4c:44:42:02") && fdb.contains("static"), "{fdb}");
    }
    for ns in topo.namespaces() {
        assert!(!Path::new("/run/netns").join(ns).exists(), "namespace {ns} left behind");
    }
}
