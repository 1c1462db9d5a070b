//! A relaying pair through a failover (docs/relay.md, "Failover of both
//! connections"): `holdback lab --mode relay --failover-at F`. Two cards
//! relay as a pair (`[[relay]]` beside `[replication]`); a curl download
//! from nginx and an upload to the sink cross
//! the card at once, and the primary is SIGKILLed when F of the download
//! arrived. The promoted standby resumes both connections of each pair from
//! the replicated TCBs alone (no payload is replicated), so both transfers
//! must arrive whole with the SHA-256 of what was sent, and neither endpoint
//! may see a reset: curl and the uploading client succeed, the sink's
//! connection ends by the client's FIN, and neither card's capture holds a
//! RST.
//!
//! - Ten kill points spread over 0.2..0.8 of the download, each its own seed
//!   (the generated files follow it), alternating `replicate = "at-setup"`
//!   (from 0.20 on: the card holds each client's SYN-ACK until the backend
//!   accepted and the host released it after the standby stored both
//!   sides; docs/relay.md, "Setup across three parties") and
//!   `"after-data"` (from 0.27 on).
//!
//! - Three kills at 0.5 under seeded loss and reordering on every frame to
//!   and from the card's port, so on the client's side and on the server's
//!   (`--impair "loss 1% reorder 1% dir both"`), with SACK on: the card's
//!   own SYN to the backend offers SACK-permitted, and an ACK past snd_nxt
//!   after a timeout moves snd_una in FIN-WAIT-1 too (docs/engine.md,
//!   "Segment handling"); without either a transfer stalled for tens of
//!   seconds or ended in a RST. These run with `after-data`.
//!
//! - Late connections with `at-setup` (docs/failover.md, invariant 6): one
//!   more client connects to a relay port of its own 5 ms before the kill,
//!   at three kill points, and uploads 16 KiB once the primary is dead;
//!   it must arrive whole, with the same checks for everything else. A
//!   kill before the standby held both sides of its pair frees the pair
//!   on the promotion (the client had no SYN-ACK and retries its SYN
//!   about a second later); the promoted card's RST to a backend still
//!   answering that pair's SYN is the only RST allowed.
//!
//! - The user's own server and client through the pair (`--server-cmd`,
//!   `--client-cmd`): a Python server hashing what it receives and sending
//!   back the SHA-256, a Python client sending the lab's file and exiting
//!   non-zero unless the hash matches; the primary is killed at 0.5 of
//!   `--bytes` received as payload by its card. The client's verdict, its
//!   output and the captures' RSTs are in the report. A client command
//!   exiting 1 fails the run with its output in the report.
//!
//! Needs root (network namespaces, TAPs), nginx and curl (and python3 for
//! the user's commands); fails loudly without them. The labs run one at a
//! time (two Verilated cards each).
use std::sync::Mutex;
use std::time::{Duration, Instant};

use holdback_daemon::config::ReplicateMode;
use holdback_daemon::lab::relay::RelayLabOptions;
use holdback_daemon::lab::relay_failover::{run_relay_failover_lab, DirectionReport, RelayFailoverOptions, RelayFailoverReport};
use holdback_tests::{holdback_bin, require_lab_prerequisites, require_tool, WorkDir};

static ONE_LAB_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Each way: small enough that the eleven runs fit in a few minutes,
/// large enough that both transfers still run at every kill point.
const BYTES: u64 = 2 << 20;

/// Kill points over 0.2..0.8 of the download, each a seed of its own;
/// every other one replicates at set-up.
const KILL_POINTS: [(f64, u64); 10] =
    [(0.20, 51), (0.27, 52), (0.33, 53), (0.40, 54), (0.47, 55), (0.53, 56), (0.60, 57), (0.67, 58), (0.73, 59), (0.80, 60)];

/// The `replicate` mode of the `i`th kill point.
fn replicate_of(i: usize) -> ReplicateMode {
    if i % 2 == 0 {
        ReplicateMode::AtSetup
    } else {
        ReplicateMode::AfterData
    }
}

fn prerequisites() {
    require_lab_prerequisites();
    for (tool, package) in [("nginx", "nginx"), ("curl", "curl")] {
        require_tool(tool, package);
    }
}

/// A failover stalls the transfers for well under a second; a transfer
/// stalled this long will not recover.
const STALL_LIMIT: Duration = Duration::from_secs(20);

fn run(tag: &str, opts: RelayFailoverOptions) -> RelayFailoverReport {
    prerequisites();
    let _serial = ONE_LAB_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = WorkDir(std::env::temp_dir().join(format!("holdback-relay-fo-{tag}-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&dir.0);
    let opts = RelayFailoverOptions {
        relay: RelayLabOptions {
            bytes: BYTES,
            timeout: STALL_LIMIT,
            work_dir: Some(dir.0.clone()),
            holdback_exe: Some(holdback_bin().to_path_buf()),
            ..opts.relay
        },
        ..opts
    };
    let started = Instant::now();
    let report = run_relay_failover_lab(&opts).unwrap_or_else(|e| panic!("{tag}: {}", holdback_daemon::error::chain(&e)));
    // Absent with a client command, which runs instead of the transfers.
    let way = |d: &Option<DirectionReport>| {
        d.as_ref().map_or("not run".to_string(), |d| format!("{} B {:.1} Mbit/s stall {} ms", d.totals.bytes, d.totals.goodput_mbps, d.longest_stall_ms))
    };
    eprintln!(
        "{tag} ({:?}): passed {} failover {:?} ms; download {}; upload {}; client-cmd {}; RSTs {}; {:.1} s",
        report.replicate,
        report.passed(),
        report.failover_ms,
        way(&report.download),
        way(&report.upload),
        report.client_cmd.as_ref().map_or("not run", |c| c.status.as_str()),
        report.rst_segments(),
        started.elapsed().as_secs_f64()
    );
    if report.passed() {
        drop(dir);
    } else {
        // Kept for the failure message's work directory (logs, captures).
        std::mem::forget(dir);
    }
    report
}

/// Both ways whole, no endpoint saw its connection end early, no RST on
/// either card's port, and the standby took over.
fn assert_survived(r: &RelayFailoverReport, what: &str) {
    assert!(r.killed_at_download_bytes.is_some(), "{what}: the primary was never killed:\n{}", r.human());
    assert!(r.failover_ms.is_some(), "{what}: the standby's card never spoke:\n{}", r.human());
    for (way, d) in [("download", &r.download), ("upload", &r.upload)] {
        let d = d.as_ref().unwrap_or_else(|| panic!("{what}: no {way} in the report:\n{}", r.human()));
        assert!(d.totals.sha256_match, "{what}: the {way} did not arrive intact:\n{}", r.human());
        assert_eq!(d.totals.bytes, BYTES, "{what}: {way}:\n{}", r.human());
        assert!(d.endpoint_errors.is_empty(), "{what}: an endpoint of the {way} saw its connection end:\n{}", r.human());
    }
    // A late connection's backend may get the promoted card's RST: a
    // backend connection of a pair the promotion freed (its client had
    // no SYN-ACK and retries its SYN). No other RST.
    assert_eq!(r.unexplained_resets(), 0, "{what}: RSTs in the cards' captures:\n{}", r.human());
    assert!(r.passed(), "{what}:\n{}", r.human());
}

#[test]
fn a_download_and_an_upload_survive_seeded_failovers_of_the_relaying_pair() {
    for (i, (at, seed)) in KILL_POINTS.into_iter().enumerate() {
        let replicate = replicate_of(i);
        let opts = RelayFailoverOptions {
            relay: RelayLabOptions { seed, ..RelayLabOptions::default() },
            failover_at: Some(at),
            replicate,
            late_conn: false,
        };
        let r = run(&format!("at-{at}"), opts);
        assert_eq!(r.replicate, replicate, "the report names the mode the daemons ran");
        assert_survived(&r, &format!("kill at {at} of the download (seed {seed}, replicate {replicate:?})"));
    }
}

/// Seeds of the impairment (and of the generated files) for the kills under loss.
const LOSSY_SEEDS: [u64; 3] = [61, 62, 63];

#[test]
fn both_transfers_survive_failovers_under_loss_and_reordering_on_both_sides() {
    for seed in LOSSY_SEEDS {
        let relay = RelayLabOptions {
            seed,
            impair: Some("loss 1% reorder 1% dir both".to_string()),
            sack: true,
            ..RelayLabOptions::default()
        };
        let opts = RelayFailoverOptions { relay, failover_at: Some(0.5), replicate: ReplicateMode::AfterData, late_conn: false };
        let r = run(&format!("lossy-{seed}"), opts);
        assert_survived(&r, &format!("kill at 0.5 under loss 1% reorder 1% (seed {seed})"));
    }
}

/// Kill points and seeds of the late connections.
const LATE_POINTS: [(f64, u64); 3] = [(0.3, 71), (0.5, 72), (0.7, 73)];

#[test]
fn a_connection_opened_right_before_the_kill_survives_with_at_setup() {
    for (at, seed) in LATE_POINTS {
        let opts = RelayFailoverOptions {
            relay: RelayLabOptions { seed, ..RelayLabOptions::default() },
            failover_at: Some(at),
            replicate: ReplicateMode::AtSetup,
            late_conn: true,
        };
        let r = run(&format!("late-{at}"), opts);
        let late = r.late.as_ref().unwrap_or_else(|| panic!("no late connection in the report:\n{}", r.human()));
        eprintln!(
            "late-{at}: {} ({} connection(s) at its sink, {:?} ms; {} RST(s) to its backend; abandoned {:?})",
            late.check, late.sink_connections, late.wall_ms, r.late_backend_resets, late.abandoned_backends
        );
        assert!(late.ok(), "late connection at {at} (seed {seed}):\n{}", r.human());
        assert_survived(&r, &format!("late connection, kill at {at} (seed {seed})"));
    }
}

/// The user's server: in the server namespace on nginx's port (the card
/// relays `{listen_port}` to it), hashes each connection's bytes and sends
/// back the SHA-256 once the client half-closed.
const HASHING_SERVER: &str = r#"python3 -c '
import hashlib, socket
s = socket.create_server(("{server_ip}", {server_port}))
while True:
    c, peer = s.accept()
    h = hashlib.sha256()
    n = 0
    while True:
        b = c.recv(65536)
        if not b:
            break
        h.update(b)
        n += len(b)
    print("got", n, "bytes from", peer[0], "sha256", h.hexdigest(), flush=True)
    c.sendall(h.hexdigest().encode())
    c.close()
'"#;

/// The user's client: sends the lab's file through the card, half-closes,
/// and exits 0 only when the server's SHA-256 is the file's.
const CHECKING_CLIENT: &str = r#"python3 -c '
import hashlib, socket, sys
data = open("{work_dir}/files/{file}", "rb").read()
want = hashlib.sha256(data).hexdigest()
c = socket.create_connection(("{listen_ip}", {listen_port}), timeout=20)
c.sendall(data)
c.shutdown(socket.SHUT_WR)
got = b""
while True:
    b = c.recv(4096)
    if not b:
        break
    got += b
got = got.decode()
print("sent", len(data), "bytes; the server hashed", got, "want", want)
sys.exit(0 if got == want else 1)
'"#;

fn user_commands(client: &str) -> RelayLabOptions {
    require_tool("python3", "python3");
    RelayLabOptions { seed: 81, server_cmd: Some(HASHING_SERVER.to_string()), client_cmd: Some(client.to_string()), ..RelayLabOptions::default() }
}

#[test]
fn the_users_own_server_and_client_survive_a_failover_and_give_their_verdict() {
    let opts = RelayFailoverOptions { relay: user_commands(CHECKING_CLIENT), failover_at: Some(0.5), replicate: ReplicateMode::AtSetup, late_conn: false };
    let r = run("cmds-0.5", opts);
    let killed_at = r.killed_at_card_payload_bytes.unwrap_or_else(|| panic!("the primary was never killed:\n{}", r.human()));
    assert!(killed_at >= BYTES / 2, "killed at {killed_at} payload bytes, before half of {BYTES}:\n{}", r.human());
    assert!(r.download.is_none() && r.upload.is_none(), "the default transfers ran beside the client command:\n{}", r.human());
    let client = r.client_cmd.as_ref().unwrap_or_else(|| panic!("no client command in the report:\n{}", r.human()));
    assert_eq!(client.exit_code, Some(0), "the client's verdict:\n{}", r.human());
    assert!(client.stdout.contains(&format!("sent {BYTES} bytes; the server hashed")), "the client's output:\n{}", r.human());
    assert!(r.human().contains("client-cmd `python3") && r.human().contains("stdout| sent"), "{}", r.human());
    let json: serde_json::Value = serde_json::from_str(&r.json()).expect("the report's JSON");
    assert_eq!(json["client_cmd"]["stdout"].as_str(), Some(client.stdout.as_str()), "the JSON report carries the client's output");
    assert!(r.server_cmd.as_ref().is_some_and(|s| s.stdout.contains(&format!("got {BYTES} bytes"))), "the server's output:\n{}", r.human());
    assert!(r.failover_ms.is_some(), "the standby's card never spoke:\n{}", r.human());
    assert_eq!(r.standby_frames_while_primary_spoke, 0, "{}", r.human());
    assert_eq!(r.rst_segments(), 0, "RSTs in the cards' captures:\n{}", r.human());
    assert!(r.passed(), "{}", r.human());
}

#[test]
fn a_client_command_exiting_1_fails_the_pair_run_with_its_output_in_the_report() {
    let failing = "echo the check says no; echo and why >&2; exit 1";
    let opts = RelayFailoverOptions { relay: user_commands(failing), failover_at: None, replicate: ReplicateMode::AtSetup, late_conn: false };
    let r = run("cmds-fail", opts);
    let _ = std::fs::remove_dir_all(&r.work_dir);
    assert!(!r.passed(), "a client command exiting 1 passed:\n{}", r.human());
    let client = r.client_cmd.as_ref().unwrap_or_else(|| panic!("no client command in the report:\n{}", r.human()));
    assert_eq!(client.exit_code, Some(1), "{}", r.human());
    assert!(r.human().contains("stdout| the check says no") && r.human().contains("stderr| and why"), "{}", r.human());
    assert!(r.human().contains(": FAIL"), "{}", r.human());
}
