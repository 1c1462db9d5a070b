//! The lab network guard: namespaces, bridge, veth and TAP appear, IPv6 is
//! off, and everything is gone after `Drop` — also when the test panics.
use std::path::Path;

use holdback_daemon::netns::{ip, run_in_netns, LabNet, LabTopology};
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
