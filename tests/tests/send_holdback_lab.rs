//! Send holdback as the peer sees it (docs/failover.md, invariant 9): the
//! echo runs on a pair (gates app and replica, external detector so nothing
//! promotes) and the standby daemon is frozen with SIGSTOP, so it can
//! acknowledge no bytes of the transmit ring. The echo on the primary still
//! reads the new input and queues its answer (the card's send tail moves),
//! but the send limit L stays where the standby's last acknowledgement put
//! it: the Linux client's `tcpi_bytes_received` must not move past it in
//! any sample. Once the standby is thawed, the rest of the echo arrives.
//!
//! Needs root (network namespaces, TAPs); fails loudly without it.
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use holdback_daemon::app::AppKind;
use holdback_daemon::config::{Detector, Gate};
use holdback_daemon::control::{client, Request, Response};
use holdback_daemon::lab::clients::tcp_info;
use holdback_daemon::lab::netns::{LabNet, LabTopology};
use holdback_daemon::lab::pair::{FailoverOptions, PairSetup};
use holdback_daemon::lab::DEFAULT_PORT;
use holdback_tests::{connect_from, holdback_bin, require_lab_prerequisites, wait_for, Frozen, WorkDir};

/// Echoed while both daemons run.
const BEFORE: usize = 3000;
/// Sent while the standby is frozen (below the card's receive ring).
const FROZEN: usize = 5000;
/// How long the peer is watched with the standby frozen: past Linux's
/// delayed-ACK and RTO timers, so a byte the card should not send would be
/// there.
const WATCH: Duration = Duration::from_millis(1500);
const TIMEOUT: Duration = Duration::from_secs(20);

/// The connection's send tail on `socket`'s card: the transmit-stream
/// offset up to which the host queued output.
fn send_tail(socket: &Path, port: u16) -> Option<u64> {
    let Ok(Response::Conns(c)) = client::call(socket, &Request::Conns) else { return None };
    c.conns.into_iter().find(|e| e.tcb.remote_port == port).map(|e| u64::from(e.tcb.tx_end))
}

#[test]
fn with_the_standby_frozen_the_peer_receives_nothing_past_the_send_limit_then_everything() {
    require_lab_prerequisites();
    let dir = WorkDir(std::env::temp_dir().join(format!("holdback-sendhold-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&dir.0);
    let net = LabNet::create(LabTopology::unique_with_standby("sh")).expect("lab network");
    let topo = net.topology().clone();
    let opts = FailoverOptions {
        detector: Detector::External,
        gates: vec![Gate::App, Gate::Replica],
        app: AppKind::Echo,
        ..FailoverOptions::default()
    };
    let pair = PairSetup::write(&dir.0, &topo, &opts).unwrap_or_else(|e| panic!("pair configs: {}", holdback_daemon::error::chain(&e)));
    let (mut primary, mut standby) =
        pair.start_both(Some(holdback_bin())).unwrap_or_else(|e| panic!("pair: {}", holdback_daemon::error::chain(&e)));

    let mut s = connect_from(&topo.client_ns, topo.card_ip, DEFAULT_PORT, TIMEOUT);
    let port = s.local_addr().unwrap().port();
    let received = |s: &TcpStream| tcp_info(s).expect("TCP_INFO").bytes_received;

    // Both daemons run: the echo of the first bytes arrives.
    let first: Vec<u8> = (0..BEFORE).map(|i| (i % 251) as u8).collect();
    s.write_all(&first).unwrap();
    let mut echo = vec![0u8; BEFORE];
    s.read_exact(&mut echo).expect("the first echo");
    assert_eq!(echo, first, "the first echo is what was sent");

    // Freeze the standby; acknowledgements already on the wire land, and L
    // with them. From here on L cannot move.
    let frozen = Frozen::new(standby.child.id());
    std::thread::sleep(Duration::from_millis(300));
    let at_freeze = received(&s);
    assert_eq!(at_freeze, BEFORE as u64, "the client received exactly the first echo");
    let more: Vec<u8> = (0..FROZEN).map(|i| (i % 241) as u8).collect();
    s.write_all(&more).unwrap();

    // The primary's echo queues its answer: the send tail passes L ...
    let queued_after = wait_for(TIMEOUT, "the echo's answer queued on the primary's card", || {
        (send_tail(&primary.socket, port)? >= (BEFORE + FROZEN) as u64).then(Instant::now)
    });
    // ... and the peer receives none of it, in any sample.
    let mut samples = 0;
    while queued_after.elapsed() < WATCH {
        let r = received(&s);
        assert!(r <= at_freeze, "the client received {r} bytes, past L = {at_freeze} (the standby holds nothing beyond it)");
        samples += 1;
        std::thread::sleep(Duration::from_millis(5));
    }

    // Thawed: the standby acknowledges the bytes, L moves, the echo flows.
    drop(frozen);
    let mut rest = vec![0u8; FROZEN];
    s.read_exact(&mut rest).expect("the echo after the thaw");
    assert_eq!(rest, more, "the echo after the thaw is what was sent");
    assert_eq!(received(&s), (BEFORE + FROZEN) as u64);
    eprintln!("send holdback: {samples} samples over {WATCH:?} stayed at L = {at_freeze}; all {} bytes echoed after the thaw", BEFORE + FROZEN);

    s.shutdown(Shutdown::Write).unwrap();
    let mut tail = Vec::new();
    s.read_to_end(&mut tail).expect("the card's FIN");
    assert!(tail.is_empty(), "nothing after the echo: {} bytes", tail.len());
    for d in [&mut primary, &mut standby] {
        let stopped = d.stop(Duration::from_secs(20));
        assert!(stopped.is_some_and(|st| st.success()), "{} daemon did not exit cleanly: {stopped:?}", d.name);
    }
    drop(net);
}
