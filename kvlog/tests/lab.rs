//! kvlog in the lab (needs root: namespaces and a TAP): the `kvlog`
//! binary runs the daemon with kvlog behind a simulated card, four Linux
//! clients each send 400 `key=value` lines in writes that split lines
//! across segments, half-close and wait for the card's FIN; then every
//! line is in the log, in each client's own order, and each client's keys
//! hold its last values.
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddrV4, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use holdback_daemon::app::AppKind;
use holdback_daemon::lab::daemon::{card_config, write_config, CardPlan, DaemonProcess};
use holdback_daemon::lab::netns::{self, LabNet, LabTopology};
use holdback_daemon::lab::DEFAULT_PORT;
use holdback_tests::require_lab_prerequisites;

const CLIENTS: usize = 4;
const LINES: usize = 400;

/// Client `c`'s line `j`: its keys repeat every 50 lines, so later lines
/// overwrite earlier values.
fn line(c: usize, j: usize) -> String {
    format!("c{c}-k{}=v{j}-{}\n", j % 50, "x".repeat(j % 37))
}

/// One Linux client: all its lines in writes of 7 bytes and more, so lines
/// straddle segments; then the half-close and the card's FIN.
fn client(target: SocketAddrV4, c: usize) -> std::io::Result<()> {
    let mut s = TcpStream::connect_timeout(&target.into(), Duration::from_secs(10))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let stream: String = (0..LINES).map(|j| line(c, j)).collect();
    for piece in stream.as_bytes().chunks(7 + c * 100) {
        s.write_all(piece)?;
    }
    s.shutdown(Shutdown::Write)?;
    let mut rest = Vec::new();
    s.read_to_end(&mut rest)?;
    if !rest.is_empty() {
        return Err(std::io::Error::other(format!("kvlog sent {} bytes; it only receives", rest.len())));
    }
    Ok(())
}

#[test]
fn kvlog_behind_the_simulated_card_logs_every_line_of_linux_clients() {
    require_lab_prerequisites();
    let started = Instant::now();
    let work = std::env::temp_dir().join(format!("kvlog-lab-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).expect("a work directory");
    let net = LabNet::create(LabTopology::unique("kvlog")).expect("the lab network");
    let topo = net.topology().clone();
    let card = CardPlan {
        topo: &topo,
        tap: &topo.tap,
        port: DEFAULT_PORT,
        holdback: true,
        port_holdback: Vec::new(),
        pcap: None,
        impair: None,
        report: None,
        rx_ring_bytes: holdback_daemon::config::DmaSettings::default().rx_ring_bytes,
        reassembly: true,
        sack: false,
        timestamps: false,
        syn_cookies: None,
        // Ignored by kvlog's binary: it runs its own application.
        app: AppKind::Sink,
    };
    let store = work.join("store");
    let config = card_config(work.join("kvlog.toml"), work.join("control.sock"), store.clone(), &card);
    write_config(&config, "kvlog's lab test").expect("the config");
    let exe = Path::new(env!("CARGO_BIN_EXE_kvlog"));
    let mut daemon = DaemonProcess::start_ready("kvlog", Some(exe), &topo.card_ns, &config, &work.join("kvlog.log"))
        .unwrap_or_else(|e| panic!("kvlog's daemon: {}", holdback_daemon::error::chain(&e)));

    let target = SocketAddrV4::new(topo.card_ip, DEFAULT_PORT);
    let handles: Vec<_> =
        (0..CLIENTS).map(|c| netns::spawn_in_netns(&topo.client_ns, move || client(target, c)).expect("a client thread")).collect();
    for (c, h) in handles.into_iter().enumerate() {
        match h.join() {
            Ok(Ok(Ok(()))) => {}
            other => panic!("client {c}: {other:?}; kvlog's log: {}", work.join("kvlog.log").display()),
        }
    }
    let status = daemon.stop(Duration::from_secs(20));
    assert!(status.is_some_and(|s| s.success()), "kvlog did not exit cleanly on SIGTERM: {status:?}");
    drop(net);

    // The card's FIN came after the release passed each client's FIN: every
    // line is committed, so in the log.
    let log = std::fs::read_to_string(store.join(kvlog::LOG_FILE)).expect("kvlog's log");
    assert_eq!(log.lines().count(), CLIENTS * LINES, "every line once");
    for c in 0..CLIENTS {
        let peer_lines: Vec<&str> =
            log.lines().filter_map(|l| l.split_once(' ').map(|(_, kv)| kv)).filter(|kv| kv.starts_with(&format!("c{c}-"))).collect();
        let sent: Vec<String> = (0..LINES).map(|j| line(c, j).trim_end().to_string()).collect();
        assert_eq!(peer_lines, sent, "client {c}'s lines, in its order");
    }
    let replayed = kvlog::KvLog::open(&store).expect("the log replays");
    let state = replayed.state();
    let state = state.lock().expect("the state");
    assert_eq!(state.values.len(), CLIENTS * 50);
    assert_eq!(state.values["c3-k49"], format!("v399-{}", "x".repeat(399 % 37)), "the last value of a key wins");
    eprintln!("kvlog lab: {} lines from {CLIENTS} Linux clients in {:.1} s", CLIENTS * LINES, started.elapsed().as_secs_f64());
    let _ = std::fs::remove_dir_all(&work);
}
