//! Holdback is real as the peer sees it. With the sink's
//! release paused, the client's `tcpi_bytes_acked` (TCP_INFO) stays at the
//! released point while `holdback conns --json` shows the card's rcv_nxt
//! ahead of it; after resuming the transfer completes. With holdback off the
//! ACK follows rcv_nxt even while the release is paused. And holdback per
//! listening port: two clients at once, one to a port holding back and one
//! to a port that does not; the first's ACK never passes what the sink
//! committed while the second's runs ahead of it.
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use holdback_daemon::lab::clients::tcp_info;
use holdback_tests::{connect_from, holdback_ok, require_lab_prerequisites, wait_for, LabUp};

/// Bytes sent while the sink releases normally.
const BEFORE_PAUSE: usize = 3000;
/// Bytes sent while the release is paused (less than the 8 KiB ring, so the
/// window never closes).
const DURING_PAUSE: usize = 5000;
const TIMEOUT: Duration = Duration::from_secs(20);

fn payload(len: usize, salt: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(salt)).collect()
}

/// The card's view of the connection, from `holdback conns --json`.
struct Row {
    state: String,
    holdback: bool,
    /// Stream bytes received (rcv_nxt − irs − 1).
    received: u64,
    /// Released point as a stream offset (R − irs − 1).
    released: u64,
    /// ACK the core sends now, as a stream offset.
    ack: u64,
}

fn row(lab: &LabUp, port: u16) -> Option<Row> {
    let r = lab.conn_row(port)?;
    let num = |k: &str| r[k].as_u64().unwrap_or_else(|| panic!("conns row lacks `{k}`: {r}"));
    let (rcv_nxt, received) = (num("rcv_nxt") as u32, num("received") as u32);
    let irs1 = rcv_nxt.wrapping_sub(received); // irs + 1
    Some(Row {
        state: r["state"].as_str().unwrap_or("?").to_string(),
        holdback: r["holdback"].as_bool().unwrap_or_else(|| panic!("conns row lacks `holdback`: {r}")),
        received: received as u64,
        released: (num("released") as u32).wrapping_sub(irs1) as u64,
        ack: (num("ack") as u32).wrapping_sub(irs1) as u64,
    })
}

fn acked(s: &TcpStream) -> u64 {
    tcp_info(s).expect("TCP_INFO").bytes_acked
}

fn scenario(holdback_on: bool) {
    require_lab_prerequisites();
    let lab = LabUp::start(if holdback_on { "hb-on" } else { "hb-off" }, holdback_on);
    let mut s = connect_from(&lab.info.client_ns, lab.info.card_ip, lab.info.card_port, TIMEOUT);
    let port = s.local_addr().unwrap().port();

    // Phase 1: release running. Linux counts its SYN in bytes_acked.
    let first = payload(BEFORE_PAUSE, 1);
    s.write_all(&first).unwrap();
    wait_for(TIMEOUT, "the first bytes to be ACKed", || (acked(&s) == BEFORE_PAUSE as u64 + 1).then_some(()));
    let r = row(&lab, port).expect("connection listed by holdback conns");
    assert_eq!(r.holdback, holdback_on);
    assert_eq!((r.received, r.released), (BEFORE_PAUSE as u64, BEFORE_PAUSE as u64));

    // Phase 2: release paused, more bytes.
    holdback_ok(&["release", "pause", "--socket", lab.socket()]);
    let second = payload(DURING_PAUSE, 2);
    s.write_all(&second).unwrap();
    let total = (BEFORE_PAUSE + DURING_PAUSE) as u64;
    let r = wait_for(TIMEOUT, "the card to receive the bytes sent while paused", || {
        row(&lab, port).filter(|r| r.received == total)
    });
    assert_eq!(r.released, BEFORE_PAUSE as u64, "nothing released while paused");
    if holdback_on {
        // Give the card every chance to (wrongly) ACK: Linux would retransmit
        // unacknowledged data after its RTO (≥ 200 ms), and we watch across it.
        std::thread::sleep(Duration::from_millis(600));
        let a = acked(&s);
        let r = row(&lab, port).unwrap();
        assert_eq!(a, BEFORE_PAUSE as u64 + 1, "peer's bytes_acked must stay at the released point");
        assert_eq!(r.ack, r.released, "the core's ACK is the released point");
        assert!(r.received > r.released, "rcv_nxt ({}) ahead of the released point ({})", r.received, r.released);
        let info = tcp_info(&s).unwrap();
        assert!(info.unacked > 0, "Linux still holds unacknowledged segments: {info:?}");
        eprintln!(
            "holdback on, paused: tcpi_bytes_acked {a} (released {} + SYN), card rcv_nxt at {} ({} bytes held back)",
            r.released,
            r.received,
            r.received - r.released
        );
    } else {
        let a = wait_for(TIMEOUT, "the ACK to follow rcv_nxt", || {
            let a = acked(&s);
            (a == total + 1).then_some(a)
        });
        let r = row(&lab, port).unwrap();
        assert_eq!(r.ack, r.received, "with holdback off the core ACKs rcv_nxt");
        assert_eq!(r.released, BEFORE_PAUSE as u64);
        eprintln!("holdback off, paused: tcpi_bytes_acked {a} follows rcv_nxt ({}) past released ({})", r.received, r.released);
    }
    assert_eq!(r.state, "ESTABLISHED");

    // Phase 3: resume; the transfer completes and the card closes after the sink
    // committed the FIN.
    holdback_ok(&["release", "resume", "--socket", lab.socket()]);
    s.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).expect("the card's FIN arrives after resume");
    assert!(rest.is_empty(), "the card sends no payload");
    wait_for(TIMEOUT, "our FIN to be ACKed", || (acked(&s) == total + 2).then_some(()));

    // The card counted the payload (`holdback stats --json`, same socket).
    let stats: serde_json::Value = serde_json::from_str(&holdback_ok(&["stats", "--json", "--socket", lab.socket()]))
        .expect("stats --json is JSON");
    let payload = stats["stats"]["rx_payload_bytes"].as_u64().unwrap_or_else(|| panic!("no rx_payload_bytes: {stats}"));
    assert_eq!(payload, total, "rx_payload_bytes counts every in-order byte once");

    // The sink file holds exactly what was sent.
    let file = std::fs::read_dir(&lab.info.sink_dir)
        .expect("sink directory")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().contains(&format!("-{port}-"))))
        .expect("a sink file for our connection");
    let got = std::fs::read(&file).unwrap();
    let mut want = first;
    want.extend_from_slice(&second);
    assert!(got == want, "sink file {} differs ({} bytes, expected {})", file.display(), got.len(), want.len());
}

#[test]
fn held_back_ack_stays_at_the_released_point_until_resumed() {
    scenario(true);
}

#[test]
fn without_holdback_the_ack_follows_rcv_nxt() {
    scenario(false);
}

/// Holdback per listening port (`lab up --port-holdback 5002=off`, CTRL
/// holdback on for 5001): one client to each port, sending at the same
/// time. Sampled throughout, the 5001 connection's `tcpi_bytes_acked`
/// never exceeds the released point R the sink wrote after committing
/// (+1 for the SYN); with the release paused the 5002 connection's ACK runs
/// on to everything it sent while the 5001 one stays put. Needs root.
#[test]
fn holdback_per_listening_port_two_clients_at_once() {
    require_lab_prerequisites();
    const FREE_PORT: u16 = 5002;
    let lab = LabUp::start_with("hb-port", true, &["--port-holdback", "5002=off"]);
    assert_eq!(lab.info.card_port, 5001);
    let connect = |port: u16| {
        connect_from(&lab.info.client_ns, lab.info.card_ip, port, TIMEOUT)
    };
    let mut held = connect(lab.info.card_port);
    let mut free = connect(FREE_PORT);
    let (held_port, free_port) = (held.local_addr().unwrap().port(), free.local_addr().unwrap().port());
    let held_row = || row(&lab, held_port).expect("the held connection in holdback conns");
    let free_row = || row(&lab, free_port).expect("the free connection in holdback conns");
    // The ACK of the held connection against what the sink released: read
    // the ACK first, R after (R only grows), so a != over-ACK is caught.
    let check_held = |held: &TcpStream, what: &str| {
        let a = acked(held);
        let r = held_row();
        assert!(a <= r.released + 1, "{what}: tcpi_bytes_acked {a} passed the released point {} (+1 SYN)", r.released);
        a
    };

    // Phase 1: both send in slices, release running; sample after each slice.
    let mut sent = 0usize;
    let mut first = Vec::new();
    for slice in 0..6u8 {
        let chunk = payload(500, 10 + slice);
        held.write_all(&chunk).unwrap();
        free.write_all(&chunk).unwrap();
        first.extend_from_slice(&chunk);
        sent += chunk.len();
        check_held(&held, &format!("slice {slice}"));
    }
    wait_for(TIMEOUT, "both connections' bytes to be ACKed", || (acked(&held) == sent as u64 + 1 && acked(&free) == sent as u64 + 1).then_some(()));
    let (h, f) = (held_row(), free_row());
    assert!(h.holdback && !f.holdback, "the TCBs took their ports' holdback: 5001 {}, 5002 {}", h.holdback, f.holdback);

    // Phase 2: release paused, both send more.
    holdback_ok(&["release", "pause", "--socket", lab.socket()]);
    let second = payload(DURING_PAUSE, 3);
    held.write_all(&second).unwrap();
    free.write_all(&second).unwrap();
    let total = (sent + DURING_PAUSE) as u64;
    wait_for(TIMEOUT, "the card to receive both connections' bytes", || {
        (held_row().received == total && free_row().received == total).then_some(())
    });
    let a_free = wait_for(TIMEOUT, "the free connection's ACK to follow rcv_nxt", || {
        let a = acked(&free);
        (a == total + 1).then_some(a)
    });
    // Watch the held one across Linux's RTO (≥ 200 ms): it must not move.
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_millis(600) {
        let a = check_held(&held, "release paused");
        assert_eq!(a, sent as u64 + 1, "the held connection's ACK moved while the release was paused");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (h, f) = (held_row(), free_row());
    assert_eq!((h.released, f.released), (sent as u64, sent as u64), "nothing released while paused");
    assert_eq!(h.ack, h.released, "the held connection's ACK is its released point");
    assert_eq!(f.ack, f.received, "the free connection's ACK is rcv_nxt, {} past its released point", f.received - f.released);
    eprintln!(
        "port 5001 (holdback): tcpi_bytes_acked {} = released {} + SYN; port 5002 (no holdback): {a_free} = rcv_nxt {} + SYN, released {}",
        acked(&held),
        h.released,
        f.received,
        f.released
    );

    // Phase 3: resume; both complete and their sink files hold what was sent.
    holdback_ok(&["release", "resume", "--socket", lab.socket()]);
    for s in [&mut held, &mut free] {
        s.shutdown(Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).expect("the card's FIN arrives after resume");
    }
    let mut want = first;
    want.extend_from_slice(&second);
    for port in [held_port, free_port] {
        let file = wait_for(TIMEOUT, "the sink file", || {
            std::fs::read_dir(&lab.info.sink_dir)
                .ok()?
                .flatten()
                .map(|e| e.path())
                .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().contains(&format!("-{port}-"))))
        });
        let got = wait_for(TIMEOUT, "the whole stream in the sink file", || std::fs::read(&file).ok().filter(|g| g.len() == want.len()));
        assert!(got == want, "sink file {} differs", file.display());
    }
}
