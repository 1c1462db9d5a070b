//! Claim 32 and claim 7, as a Linux peer sees them. A pair (gates app and
//! replica, external detector so nothing promotes) serves one Linux
//! connection; the standby daemon is frozen with SIGSTOP, so it can
//! acknowledge nothing, and the peer sends more.
//!
//! - `sync = "async"` (claim 32): the peer's bytes are ACKed — its
//!   `tcpi_bytes_acked` reaches them — while the primary's count of
//!   standby acknowledgements has not moved; the acknowledgement of the
//!   copy carrying that R comes only after the standby is thawed. The ACK
//!   left first.
//! - `sync = "before-ack"` (invariant 2): nothing more is ACKed while the
//!   standby is frozen; once it is thawed and acknowledged, the ACK follows.
//! - Claim 7 in both: the peer keeps its copy of unacknowledged bytes
//!   (`tcpi_unacked` > 0) until R covers them, then deletes it
//!   (`tcpi_unacked` = 0).
//!
//! Needs root (network namespaces, TAPs); fails loudly without it.
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use holdback_daemon::config::{Detector, Gate, SyncMode};
use holdback_daemon::control::{client, Request, Response};
use holdback_daemon::lab::clients::tcp_info;
use holdback_daemon::lab::netns::{LabNet, LabTopology};
use holdback_daemon::lab::pair::{FailoverOptions, PairSetup};
use holdback_daemon::lab::DEFAULT_PORT;
use holdback_tests::{connect_from, holdback_bin, pair_status, require_lab_prerequisites, wait_for, Frozen, WorkDir};

/// Bytes sent while both daemons run.
const BEFORE: usize = 3000;
/// Bytes sent while the standby is frozen (below the card's 8 KiB ring).
const FROZEN: usize = 5000;
const TIMEOUT: Duration = Duration::from_secs(20);

/// The connection's released point R as a stream offset, from the daemon's
/// `conns` (R − irs − 1).
fn released(socket: &Path, port: u16) -> Option<u64> {
    let Ok(Response::Conns(c)) = client::call(socket, &Request::Conns) else { return None };
    let tcb = c.conns.into_iter().find(|e| e.tcb.remote_port == port)?.tcb;
    Some(u64::from(tcb.rel.0.wrapping_sub(tcb.irs.0).wrapping_sub(1)))
}

/// The standby's acknowledgements as the primary counts them.
fn standby_acked(primary: &Path) -> u64 {
    pair_status(primary).expect("primary pair status").replicated_seq
}

fn scenario(sync: SyncMode, tag: &str) {
    require_lab_prerequisites();
    let dir = WorkDir(std::env::temp_dir().join(format!("holdback-{tag}-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&dir.0);
    let net = LabNet::create(LabTopology::unique_with_standby(tag)).expect("lab network");
    let topo = net.topology().clone();
    let opts = FailoverOptions { sync, detector: Detector::External, gates: vec![Gate::App, Gate::Replica], ..FailoverOptions::default() };
    let pair = PairSetup::write(&dir.0, &topo, &opts).unwrap_or_else(|e| panic!("pair configs: {}", holdback_daemon::error::chain(&e)));
    let (mut primary, mut standby) =
        pair.start_both(Some(holdback_bin())).unwrap_or_else(|e| panic!("pair: {}", holdback_daemon::error::chain(&e)));
    let p_socket = primary.socket.clone();

    let mut s = connect_from(&topo.client_ns, topo.card_ip, DEFAULT_PORT, TIMEOUT);
    let port = s.local_addr().unwrap().port();
    let info = |s: &TcpStream| tcp_info(s).expect("TCP_INFO");

    // Both daemons run: the first bytes are ACKed (Linux counts the SYN).
    s.write_all(&vec![1u8; BEFORE]).unwrap();
    wait_for(TIMEOUT, "the first bytes ACKed", || (info(&s).bytes_acked == BEFORE as u64 + 1).then_some(()));

    // Freeze the standby; let acknowledgements already on the wire land.
    let frozen = Frozen::new(standby.child.id());
    std::thread::sleep(Duration::from_millis(200));
    let acked_when_frozen = standby_acked(&p_socket);
    let total = (BEFORE + FROZEN) as u64;
    s.write_all(&vec![2u8; FROZEN]).unwrap();

    match sync {
        SyncMode::Async => {
            // Claim 32: the peer sees its bytes ACKed, and drops its copy
            // (claim 7), with the standby unable to acknowledge anything.
            let peer_acked_at = wait_for(TIMEOUT, "the peer's bytes ACKed with the standby frozen", || {
                let i = info(&s);
                (i.bytes_acked == total + 1 && i.unacked == 0).then(Instant::now)
            });
            assert_eq!(released(&p_socket, port), Some(total), "the primary's card released every byte");
            assert_eq!(
                standby_acked(&p_socket),
                acked_when_frozen,
                "the primary counted no standby acknowledgement while the standby was frozen"
            );
            drop(frozen);
            let standby_acked_at = wait_for(TIMEOUT, "the standby's acknowledgement after the thaw", || {
                (standby_acked(&p_socket) > acked_when_frozen).then(Instant::now)
            });
            assert!(peer_acked_at < standby_acked_at);
            wait_for(TIMEOUT, "the standby's copy carrying the released point", || {
                (released(&standby.socket, port) == Some(total)).then_some(())
            });
            eprintln!(
                "sync async: peer ACKed all {total} bytes (tcpi_unacked 0) {:?} before the standby's acknowledgement (standby frozen in between)",
                standby_acked_at - peer_acked_at
            );
        }
        SyncMode::BeforeAck => {
            // Invariant 2: no standby acknowledgement, no ACK; the peer keeps
            // its copy (claim 7). Watched across Linux's RTO (≥ 200 ms).
            std::thread::sleep(Duration::from_millis(800));
            let i = info(&s);
            assert_eq!(i.bytes_acked, BEFORE as u64 + 1, "nothing ACKed past the standby's copy: {i:?}");
            assert!(i.unacked > 0, "the peer still holds its unacknowledged segments: {i:?}");
            assert_eq!(released(&p_socket, port), Some(BEFORE as u64), "nothing released while the standby is frozen");
            assert_eq!(standby_acked(&p_socket), acked_when_frozen);
            drop(frozen);
            wait_for(TIMEOUT, "the ACK once the standby acknowledged", || {
                let i = info(&s);
                (i.bytes_acked == total + 1 && i.unacked == 0).then_some(())
            });
            assert!(standby_acked(&p_socket) > acked_when_frozen, "the standby acknowledged before the release");
            assert_eq!(released(&p_socket, port), Some(total));
            eprintln!("sync before-ack: nothing ACKed while the standby was frozen (tcpi_unacked {}), all {total} bytes after the thaw", i.unacked);
        }
    }

    s.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).expect("the card's FIN");
    for d in [&mut primary, &mut standby] {
        let stopped = d.stop(Duration::from_secs(20));
        assert!(stopped.is_some_and(|st| st.success()), "{} daemon did not exit cleanly: {stopped:?}", d.name);
    }
    drop(net);
}

#[test]
fn with_sync_async_the_ack_leaves_before_the_standby_confirms_and_the_peer_drops_its_copy() {
    scenario(SyncMode::Async, "async");
}

#[test]
fn with_sync_before_ack_nothing_is_acked_until_the_standby_confirms() {
    scenario(SyncMode::BeforeAck, "bfack");
}
