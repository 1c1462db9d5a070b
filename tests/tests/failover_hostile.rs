//! Hostile peers on the replication link (claims 27, 28): while a primary/standby
//! pair serves real Linux connections with the `replica` gate, hostile peers
//! dial the standby's replication port from the primary's namespace — a
//! Hello under the wrong secret, an HTTP request, oversized and too-short
//! length prefixes, frames of an old and of an unknown protocol version,
//! random bytes framed plausibly, a garbled payload, a replayed Hello and a
//! reused frame number. Each must be refused and counted under its reason,
//! and the pair must not notice: every stream intact, no reset, and the one
//! authenticated session neither replaced nor dropped.
//!
//! Frames are built from the layout documented in
//! `holdback_daemon::replication::wire`; the ones that need a valid HMAC over
//! a header the library would never send (another version) are sealed here
//! with the lab's secret, and checked against `FrameCodec::encode` first.
use std::collections::BTreeMap;
use std::future::Future;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, SocketAddrV4, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread::JoinHandle;
use std::time::Duration;

use hmac::{Hmac, Mac};
use holdback_daemon::lab::pair::{run_failover_lab, Disturbance, FailoverOptions, REPLICATION_PORT};
use holdback_daemon::lab::netns::{spawn_in_netns, NetnsError};
use holdback_daemon::pair::FIRST_EPOCH;
use holdback_daemon::replication::wire::{
    self, Direction, FrameCodec, FrameError, Hello, Msg, Role, Start, LEN_BYTES, MAC_BYTES, MAX_FRAME, PROTOCOL_VERSION,
};
use holdback_tests::{holdback_bin, require_lab_prerequisites};
use rand::{Rng, SeedableRng};

/// The attacks start when this fraction of all client bytes was sent: the
/// pair is replicating under load and most of the transfer is still ahead.
const ATTACK_AT: f64 = 0.3;
/// How long an attacker waits for the standby to close its connection.
const REFUSAL_WAIT: Duration = Duration::from_secs(5);
/// Bytes before the payload: length, version, frame number.
const HEAD_BYTES: usize = LEN_BYTES + wire::HEADER_BYTES;

/// What one hostile connection saw.
#[derive(Debug)]
struct Outcome {
    attack: &'static str,
    /// The refusal reason (`RefuseReason::name`) the standby must count.
    reason: &'static str,
    /// Frames the standby sent before it closed: 0, or 1 (its Welcome) for
    /// the attacks that open with a genuine Hello.
    frames_back: usize,
    /// Bytes of those frames, or what else arrived.
    bytes_back: usize,
    /// `closed` or `reset`; anything else is a failure.
    ended: String,
}

/// Connect to the standby, send `bytes`, collect everything until it closes.
fn connect(target: SocketAddr) -> Result<TcpStream, String> {
    let s = TcpStream::connect_timeout(&target, REFUSAL_WAIT).map_err(|e| format!("connecting to {target}: {e}"))?;
    s.set_read_timeout(Some(REFUSAL_WAIT)).map_err(|e| e.to_string())?;
    s.set_nodelay(true).map_err(|e| e.to_string())?;
    Ok(s)
}

/// Read until the standby closes: `closed` (FIN) or `reset` (it closed with
/// our bytes unread). Still open after `REFUSAL_WAIT` means not refused.
fn until_closed(s: &mut TcpStream, got: &mut Vec<u8>) -> String {
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return "closed".into(),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return "reset".into(),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return format!("still open after {REFUSAL_WAIT:?}")
            }
            Err(e) => return format!("read error: {e}"),
        }
    }
}

/// Frames in `bytes` by their length prefixes.
fn count_frames(bytes: &[u8]) -> usize {
    let (mut at, mut n) = (0, 0);
    while at + LEN_BYTES <= bytes.len() {
        let len = u32::from_be_bytes(bytes[at..at + LEN_BYTES].try_into().expect("4 bytes")) as usize;
        at += LEN_BYTES + len;
        n += 1;
    }
    n
}

fn send_and_watch(target: SocketAddr, attack: &'static str, reason: &'static str, bytes: &[u8]) -> Result<Outcome, String> {
    let mut s = connect(target)?;
    // The standby may close before it read everything; what it did is in `ended`.
    let _ = s.write_all(bytes);
    let mut got = Vec::new();
    let ended = until_closed(&mut s, &mut got);
    Ok(Outcome { attack, reason, frames_back: count_frames(&got), bytes_back: got.len(), ended })
}

/// A frame sealed by hand: `len | version | seq | payload | HMAC-SHA256(key,
/// direction || len || version || seq || payload)`, the layout of `wire`.
fn seal(key: &[u8; 32], direction: Direction, version: u16, seq: u64, payload: &[u8]) -> Vec<u8> {
    let len = (wire::HEADER_BYTES + payload.len() + MAC_BYTES) as u32;
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(&[direction as u8]);
    mac.update(&len.to_be_bytes());
    mac.update(&version.to_be_bytes());
    mac.update(&seq.to_be_bytes());
    mac.update(payload);
    let mut frame = Vec::with_capacity(LEN_BYTES + len as usize);
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(&version.to_be_bytes());
    frame.extend_from_slice(&seq.to_be_bytes());
    frame.extend_from_slice(payload);
    frame.extend_from_slice(&mac.finalize().into_bytes());
    frame
}

/// Decode one complete frame held in memory. `FrameCodec::read` is async,
/// but reading from a slice never waits, so a single poll finishes it.
fn decode(codec: &mut FrameCodec, frame: &[u8]) -> Result<Msg, String> {
    let mut reader = frame;
    let mut read = std::pin::pin!(codec.read(&mut reader));
    match read.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(Ok((msg, _))) => Ok(msg),
        Poll::Ready(Err(e)) => Err(format!("decoding the standby's frame: {e}")),
        Poll::Pending => Err("decoding a frame held in memory did not finish in one poll".into()),
    }
}

/// A primary's Hello as the library seals it under `key`, with its nonce.
fn hello_frame(key: &[u8; 32], nonce: [u8; 32]) -> Vec<u8> {
    let hello = Hello {
        node_id: 0x6057,
        epoch: FIRST_EPOCH,
        role: Role::Primary,
        layout: holdback_driver::regmap::VERSION,
        session: 0x6057_6057,
        nonce,
    };
    let mut frame = Vec::new();
    FrameCodec::new(key, Direction::PrimaryToStandby)
        .encode(&Msg::Hello(hello), &mut frame)
        .expect("a Hello fits in a frame");
    frame
}

/// Every attack, one connection each, in order. `secret` is the lab's.
fn run_attacks(secret: &[u8], target: SocketAddr) -> Result<Vec<Outcome>, String> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(holdback_sim::test_seed(0xd));
    let hello_key = wire::hello_key(secret);
    let nonce: [u8; 32] = rng.gen();
    let genuine_hello = hello_frame(&hello_key, nonce);
    let payload = &genuine_hello[HEAD_BYTES..genuine_hello.len() - MAC_BYTES];
    // The hand-sealed frames below differ from the library's in nothing but
    // what each attack changes.
    if seal(&hello_key, Direction::PrimaryToStandby, PROTOCOL_VERSION, 0, payload) != genuine_hello {
        return Err("hand-sealed Hello differs from FrameCodec::encode: the test's frame layout is stale".into());
    }
    let mut out = Vec::new();

    // 1. Wrong secret: a well-formed Hello sealed under another key.
    let wrong = hello_frame(&wire::hello_key(b"not the secret of this lab, 32 b"), nonce);
    out.push(send_and_watch(target, "Hello sealed with a wrong secret", "bad_mac", &wrong)?);

    // 2. Garbage: an HTTP request; "GET " read as a length is ~1.2 GB.
    let http = b"GET /replication HTTP/1.1\r\nHost: 198.19.0.2:7400\r\nUser-Agent: curl/8\r\n\r\n";
    out.push(send_and_watch(target, "HTTP request", "oversized", http)?);

    // 3. Oversized length prefixes, refused before a buffer is allocated.
    for (attack, len) in [("length u32::MAX", u32::MAX), ("length MAX_FRAME + 1", MAX_FRAME + 1)] {
        let mut frame = len.to_be_bytes().to_vec();
        frame.extend_from_slice(&PROTOCOL_VERSION.to_be_bytes());
        frame.extend_from_slice(&[0u8; 64]);
        out.push(send_and_watch(target, attack, "oversized", &frame)?);
    }

    // 4. A length too short to hold header and MAC.
    out.push(send_and_watch(target, "length 3", "too_short", &3u32.to_be_bytes())?);

    // 5. Random bytes behind a plausible length and the current version.
    let mut random = 100u32.to_be_bytes().to_vec();
    random.extend_from_slice(&PROTOCOL_VERSION.to_be_bytes());
    random.extend((0..98).map(|_| rng.gen::<u8>()));
    out.push(send_and_watch(target, "random bytes, plausible length", "bad_mac", &random)?);

    // 6. An old and an unknown version: the genuine Hello, MAC valid over
    //    the changed version, so only the version is wrong.
    for (attack, version) in [("protocol version 0", 0u16), ("protocol version PROTOCOL_VERSION + 1", PROTOCOL_VERSION + 1)] {
        let frame = seal(&hello_key, Direction::PrimaryToStandby, version, 0, payload);
        out.push(send_and_watch(target, attack, "unknown_version", &frame)?);
    }

    // 7. A garbled payload under a valid MAC (message variant 200).
    let garbled = seal(&hello_key, Direction::PrimaryToStandby, PROTOCOL_VERSION, 0, b"\xc8\x01 not a message");
    out.push(send_and_watch(target, "garbled payload, valid MAC", "garbled", &garbled)?);

    // 8. A replay: the genuine Hello, then the same bytes again where the
    //    Start belongs; the standby has rekeyed to this connection's key.
    let mut s = connect(target)?;
    s.write_all(&genuine_hello).map_err(|e| format!("sending the Hello: {e}"))?;
    let welcome = read_frame(&mut s)?;
    let _ = s.write_all(&genuine_hello);
    let mut got = welcome.clone();
    let ended = until_closed(&mut s, &mut got);
    out.push(Outcome {
        attack: "genuine Hello, then the Hello replayed",
        reason: "bad_mac",
        frames_back: count_frames(&got),
        bytes_back: got.len(),
        ended,
    });

    // 9. A Start under the right connection key but with a frame number
    //    already used (0): replayed, even from a peer holding the secret.
    let nonce: [u8; 32] = rng.gen();
    let hello = hello_frame(&hello_key, nonce);
    let mut s = connect(target)?;
    s.write_all(&hello).map_err(|e| format!("sending the Hello: {e}"))?;
    let welcome = read_frame(&mut s)?;
    let standby_nonce = match decode(&mut FrameCodec::new(&wire::welcome_key(secret, &nonce), Direction::StandbyToPrimary), &welcome)? {
        Msg::Welcome(w) => w.nonce,
        other => return Err(format!("the standby answered a Hello with {other:?}")),
    };
    let mut start = Vec::new();
    FrameCodec::new(&wire::connection_key(secret, &nonce, &standby_nonce), Direction::PrimaryToStandby)
        .encode(&Msg::Start(Start::FullSync), &mut start)
        .map_err(|e: FrameError| e.to_string())?;
    let _ = s.write_all(&start);
    let mut got = welcome.clone();
    let ended = until_closed(&mut s, &mut got);
    out.push(Outcome {
        attack: "Start with a reused frame number",
        reason: "replayed",
        frames_back: count_frames(&got),
        bytes_back: got.len(),
        ended,
    });
    Ok(out)
}

/// Read exactly one frame (the standby's Welcome).
fn read_frame(s: &mut TcpStream) -> Result<Vec<u8>, String> {
    let mut frame = vec![0u8; LEN_BYTES];
    s.read_exact(&mut frame).map_err(|e| format!("waiting for the Welcome: {e}"))?;
    let len = u32::from_be_bytes(frame[..].try_into().expect("4 bytes"));
    if len > MAX_FRAME {
        return Err(format!("the standby announced a {len}-byte frame"));
    }
    frame.resize(LEN_BYTES + len as usize, 0);
    s.read_exact(&mut frame[LEN_BYTES..]).map_err(|e| format!("reading the Welcome: {e}"))?;
    Ok(frame)
}

type AttackThread = JoinHandle<Result<Result<Vec<Outcome>, String>, NetnsError>>;

/// The attacks' thread and the send fractions at which it started and was
/// first seen finished.
#[derive(Default)]
struct Campaign {
    thread: Option<AttackThread>,
    launch_error: Option<String>,
    started_at: Option<f64>,
    finished_at: Option<f64>,
}

fn disturbance(work_dir: PathBuf, campaign: Arc<Mutex<Campaign>>) -> Disturbance {
    let launched = AtomicBool::new(false);
    Disturbance(Arc::new(move |fraction, topo| {
        let mut c = campaign.lock().unwrap_or_else(|p| p.into_inner());
        if c.finished_at.is_none() && c.thread.as_ref().is_some_and(|t| t.is_finished()) {
            c.finished_at = Some(fraction);
        }
        if fraction < ATTACK_AT || launched.swap(true, Ordering::SeqCst) {
            return;
        }
        c.started_at = Some(fraction);
        let Some(sb) = topo.standby.as_ref() else {
            c.launch_error = Some("the failover lab has no standby topology".into());
            return;
        };
        let secret = match std::fs::read(work_dir.join("replication.secret")) {
            Ok(s) => s.trim_ascii().to_vec(),
            Err(e) => {
                c.launch_error = Some(format!("reading the lab's secret: {e}"));
                return;
            }
        };
        let target = SocketAddr::V4(SocketAddrV4::new(sb.standby_repl_ip, REPLICATION_PORT));
        match spawn_in_netns(&sb.primary_ns, move || run_attacks(&secret, target)) {
            Ok(t) => c.thread = Some(t),
            Err(e) => c.launch_error = Some(format!("entering {}: {e}", sb.primary_ns)),
        }
    }))
}

#[test]
fn hostile_peers_are_refused_while_the_pair_keeps_replicating() {
    require_lab_prerequisites();
    let work_dir = std::env::temp_dir().join(format!("holdback-hostile-{}", std::process::id()));
    let campaign = Arc::new(Mutex::new(Campaign::default()));
    let opts = FailoverOptions {
        conns: 4,
        bytes: 1 << 20,
        seed: holdback_sim::test_seed(0xd),
        failover_at: None,
        stall_timeout: Duration::from_secs(30),
        keep_dir: Some(work_dir.clone()),
        disturbance: Some(disturbance(work_dir.clone(), campaign.clone())),
        holdback_exe: Some(holdback_bin().to_path_buf()),
        ..FailoverOptions::default()
    };
    let report = run_failover_lab(&opts).unwrap_or_else(|e| panic!("failover lab (work dir {}): {e}", work_dir.display()));
    eprintln!("{}", report.human());

    let mut c = campaign.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(e) = &c.launch_error {
        panic!("launching the attacks: {e}");
    }
    let thread = c.thread.take().expect("the transfer reached the attack point, so the attacks were launched");
    let outcomes = match thread.join() {
        Ok(Ok(Ok(o))) => o,
        Ok(Ok(Err(e))) => panic!("an attack could not run: {e}"),
        Ok(Err(e)) => panic!("entering the primary's namespace: {e}"),
        Err(_) => panic!("the attack thread panicked"),
    };
    eprintln!(
        "attacks from {:.0}% to {} of the bytes sent:",
        c.started_at.unwrap_or(0.0) * 100.0,
        c.finished_at.map_or("past the end".into(), |f| format!("{:.0}%", f * 100.0))
    );
    for o in &outcomes {
        eprintln!("  {:<42} -> {:<16} frames back {} ({} B), {}", o.attack, o.reason, o.frames_back, o.bytes_back, o.ended);
    }
    eprintln!("standby refused: {:?}; standby sessions: {}", report.standby_refused, report.standby_sessions);

    // The standby closed every hostile connection, answering only a genuine
    // Hello (with its Welcome) and nothing else.
    for o in &outcomes {
        assert!(o.ended == "closed" || o.ended == "reset", "{}: {}", o.attack, o.ended);
        let genuine_hello = o.reason == "replayed" || o.attack.starts_with("genuine Hello");
        assert_eq!(o.frames_back, usize::from(genuine_hello), "{}: {} bytes came back", o.attack, o.bytes_back);
    }
    // The attacks ran while the clients were still sending.
    let finished = c.finished_at.unwrap_or_else(|| panic!("the attacks outlasted the transfer"));
    assert!(finished < 1.0, "the attacks ended only with the transfer ({finished})");

    // Each attack counted under its own reason, and nothing else refused
    // (the genuine primary never was).
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    for o in &outcomes {
        *expected.entry(o.reason.to_string()).or_default() += 1;
    }
    assert_eq!(report.standby_refused, expected, "refusals by reason on the standby");

    // The pair was not disturbed: one session, one full sync, and
    // what the Linux peers saw is intact.
    assert_eq!(report.standby_sessions, 1, "the authenticated session was replaced or dropped");
    assert!(report.sha256_match, "a stream's SHA-256 differs:\n{}", report.human());
    assert_eq!(report.bytes_lost, 0);
    assert_eq!(report.duplicate_bytes, 0);
    assert_eq!(report.resets_seen, 0);
    assert_eq!(report.rst_segments, 0);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.bytes_sent, 4 << 20);
    assert!(report.passed());
    remove_work_dir(&work_dir);
}

fn remove_work_dir(dir: &Path) {
    if let Err(e) = std::fs::remove_dir_all(dir) {
        eprintln!("could not remove {}: {e}", dir.display());
    }
}
