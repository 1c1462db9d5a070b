//! The Grafana dashboard `dashboards/holdback.json` queries only metrics a
//! running daemon exports: every `holdback_*` name in it is a sample name
//! in a scrape of `/metrics` of a `holdback daemon` on the simulated card,
//! configured as a pair member (a standby, so the pair's metrics are there
//! too). The dashboard also covers what an operator of a pair needs:
//! held-back bytes, release latency, replication lag, role, epoch, drops by
//! reason. Needs root (the card's TAP in a lab namespace).
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use holdback_daemon::lab::netns::{LabNet, LabTopology};
use holdback_driver::MacAddr;
use holdback_tests::{daemon_status, holdback_bin, require_lab_prerequisites, wait_for, WorkDir};

const TIMEOUT: Duration = Duration::from_secs(120);

/// Every `holdback_…` metric name in the strings of a dashboard (queries,
/// variable definitions).
fn queried_names(dashboard: &serde_json::Value) -> BTreeSet<String> {
    fn walk(v: &serde_json::Value, out: &mut BTreeSet<String>) {
        match v {
            serde_json::Value::String(s) => {
                for (start, _) in s.match_indices("holdback_") {
                    let name: String =
                        s[start..].chars().take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_').collect();
                    out.insert(name);
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            serde_json::Value::Object(map) => map.values().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    walk(dashboard, &mut out);
    out
}

/// The sample names of a text exposition (the part of each sample line before its labels or value).
fn sample_names(body: &str) -> BTreeSet<String> {
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_string)
        .collect()
}

fn scrape(port: u16) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let (head, body) = out.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_string())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("an ephemeral loopback port")
}

fn standby_config(topo: &LabTopology, dir: &Path, metrics_port: u16) -> String {
    format!(
        r#"card = "sim"
socket = "{dir}/standby.sock"
role = "standby"
gates = ["app", "replica"]
sink_dir = "{dir}/sink"

[sim]
tap = "{tap}"
netns = "{ns}"

[network]
mac = "{mac}"
ip = "{ip}"
listen_ports = [5001]

[metrics]
listen = "127.0.0.1:{metrics_port}"

[replication]
listen = "127.0.0.1:{listen}"
peer = "127.0.0.1:{peer}"
secret_file = "{dir}/replication.secret"
state_file = "{dir}/pair-epoch"
detector = "external"
"#,
        dir = dir.display(),
        tap = topo.tap,
        ns = topo.card_ns,
        mac = MacAddr(topo.card_mac),
        ip = topo.card_ip,
        listen = free_port(),
        peer = free_port(),
    )
}

#[test]
fn every_metric_the_dashboard_queries_is_exported_by_a_running_daemon() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dashboards/holdback.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let dashboard: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
    let queried = queried_names(&dashboard);
    // What the dashboard is for: each of these is queried.
    for needed in [
        "holdback_held_back_bytes",
        "holdback_release_latency_seconds_bucket",
        "holdback_pair_replica_wait_seconds_total",
        "holdback_pair_role",
        "holdback_pair_epoch",
        "holdback_drops_total",
    ] {
        assert!(queried.contains(needed), "the dashboard does not query {needed}; it queries {queried:?}");
    }

    require_lab_prerequisites();
    let net = LabNet::create(LabTopology::unique("dash")).expect("lab network");
    let topo = net.topology().clone();
    let dir = WorkDir(std::env::temp_dir().join(format!("holdback-dashboard-test-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&dir.0);
    std::fs::create_dir_all(&dir.0).expect("work directory");
    std::fs::write(dir.0.join("replication.secret"), "a test secret, not for production use").expect("secret");
    let metrics_port = free_port();
    let config = dir.0.join("standby.toml");
    std::fs::write(&config, standby_config(&topo, &dir.0, metrics_port)).expect("config");
    let log = std::fs::File::create(dir.0.join("daemon.log")).expect("log");
    let mut daemon = Command::new(holdback_bin())
        .args(["daemon", "--config"])
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log fd"))
        .stderr(log)
        .spawn()
        .expect("starting holdback daemon");
    let socket = dir.0.join("standby.sock");
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_for(TIMEOUT, "the daemon to serve", || daemon_status(&socket));
        // The card's counters are read once a second: the drop counters appear then.
        let body = wait_for(Duration::from_secs(30), "a scrape with the card's counters", || {
            scrape(metrics_port).filter(|b| b.contains("holdback_drops_total{"))
        });
        let exported = sample_names(&body);
        let missing: Vec<&String> = queried.iter().filter(|n| !exported.contains(*n)).collect();
        assert!(missing.is_empty(), "the dashboard queries {missing:?}, which the daemon does not export:\n{body}");
        eprintln!("dashboard: {} metric names queried, all among the {} exported", queried.len(), exported.len());
    }));
    let _ = daemon.kill();
    let _ = daemon.wait();
    drop(net);
    if let Err(panic) = result {
        eprintln!("daemon log:\n{}", std::fs::read_to_string(dir.0.join("daemon.log")).unwrap_or_default());
        std::panic::resume_unwind(panic);
    }
}
