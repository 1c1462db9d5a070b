//! Linux TCP clients of the lab: each connects from the client namespace to
//! the card, sends a seeded-random stream, half-closes, waits for the card's
//! FIN and records what Linux believes the card acknowledged (TCP_INFO).
//! Against the echo application ([`ClientMode::Echo`]) a client reads the
//! echo while it sends and hashes it, so the report compares the stream
//! both ways.
//!
//! The clients of one run start sending together: each connects, then waits
//! at a start line until every client of the run has connected (or given up),
//! so all N connections are open on the card at the same time; the run
//! records the most that were open at once ([`peak_open`]).
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddrV4, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{RngCore, SeedableRng};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::lab::netns;

/// Bytes generated, hashed and written per `write` call.
const CHUNK: usize = 64 * 1024;

/// The byte stream client `index` sends under `seed`: reproducible from the
/// two numbers alone (logged in the report), different per client.
pub fn stream_rng(seed: u64, index: usize) -> SmallRng {
    // Mix the index in with a large odd constant so neighbouring seeds and
    // neighbouring clients do not share streams.
    SmallRng::seed_from_u64(seed ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// SHA-256 of the first `len` bytes of client `index`'s stream.
pub fn expected_sha256(seed: u64, index: usize, len: u64) -> [u8; 32] {
    let mut rng = stream_rng(seed, index);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut left = len;
    while left > 0 {
        let n = left.min(CHUNK as u64) as usize;
        rng.fill_bytes(&mut buf[..n]);
        hasher.update(&buf[..n]);
        left -= n as u64;
    }
    hasher.finalize().into()
}

/// What one client did and saw.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ClientOutcome {
    pub index: usize,
    /// Our (client-side) port: the card's `remote_port` for this connection.
    pub local_port: u16,
    pub bytes_sent: u64,
    /// Hex SHA-256 of everything written.
    pub sha256: String,
    /// `tcpi_bytes_acked` after the card's FIN (Linux counts our SYN and,
    /// once acknowledged, our FIN: a full transfer shows bytes + 2).
    pub bytes_acked: u64,
    /// Linux's own retransmission count (`tcpi_total_retrans`).
    pub total_retrans: u32,
    /// The connection was reset (ECONNRESET, ECONNABORTED, EPIPE, refused).
    pub reset: bool,
    /// First error, if the client failed.
    pub error: Option<String>,
    pub elapsed_ms: u64,
    /// Longest time the client's application waited, while sending, for its
    /// socket to accept more bytes. A failover shows up here as the stall
    /// the peer's application sees.
    #[serde(default)]
    pub max_stall_ms: u64,
    /// When that longest wait began: wall-clock microseconds since the Unix
    /// epoch (the clock the cards' captures are stamped with).
    #[serde(default)]
    pub max_stall_from_unix_us: Option<u64>,
    /// From the last byte accepted by the socket to the card's FIN (the sink
    /// committing the tail, then releasing past the client's FIN).
    #[serde(default)]
    pub fin_wait_ms: u64,
    /// Against the echo application: the bytes read back before the card's
    /// FIN, and their hex SHA-256.
    #[serde(default)]
    pub bytes_echoed: u64,
    #[serde(default)]
    pub sha256_echoed: Option<String>,
    /// The first stream offset at which the echo differs from what this
    /// client sent (a byte lost, duplicated or out of order); `None` when
    /// every byte read back matched.
    #[serde(default)]
    pub echo_first_mismatch: Option<u64>,
}

/// Parameters shared by all clients of one run.
#[derive(Clone, Debug)]
pub struct ClientPlan {
    pub target: SocketAddrV4,
    pub bytes: u64,
    pub seed: u64,
    /// Give up on a connection making no progress for this long.
    pub stall_timeout: Duration,
}

/// What the clients expect of the application behind the card.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClientMode {
    /// The card sends nothing but its FIN (the sink).
    #[default]
    SendOnly,
    /// The card echoes the stream (`--app echo`): read it back while
    /// sending, until the card's FIN.
    Echo,
}

impl ClientMode {
    /// What the clients expect of `app` behind the card.
    pub fn for_app(app: crate::app::AppKind) -> ClientMode {
        match app {
            crate::app::AppKind::Sink => ClientMode::SendOnly,
            crate::app::AppKind::Echo => ClientMode::Echo,
        }
    }
}

/// The subset of Linux `struct tcp_info` the lab reads.
pub use crate::sys::{tcp_info, TcpInfo};

/// Errors that mean the peer (or the path) reset the connection.
pub fn is_reset(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe | ErrorKind::ConnectionRefused
    )
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A client thread started by [`spawn_clients_counting`].
pub struct ClientHandle {
    index: usize,
    thread: Result<std::thread::JoinHandle<Result<ClientOutcome, netns::NetnsError>>, String>,
    group: Arc<ClientGroup>,
}

/// What the clients of one run share: the start line and the count of
/// connections open right now.
#[derive(Debug)]
struct ClientGroup {
    clients: usize,
    /// Clients that connected or gave up trying.
    arrived: AtomicUsize,
    open: AtomicUsize,
    peak: AtomicUsize,
}

impl ClientGroup {
    fn new(clients: usize) -> ClientGroup {
        ClientGroup { clients, arrived: AtomicUsize::new(0), open: AtomicUsize::new(0), peak: AtomicUsize::new(0) }
    }

    /// Waits until every client arrived, or `limit` passed, or the run is cancelled.
    /// A client that never gets here (its thread could not enter the namespace)
    /// arrives through its [`StartTicket`]'s drop, so nobody waits for it.
    fn wait_for_all(&self, limit: Duration, cancel: &AtomicBool) {
        let start = Instant::now();
        while self.arrived.load(Ordering::Acquire) < self.clients
            && start.elapsed() < limit
            && !cancel.load(Ordering::Relaxed)
        {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// A client's place at the start line: arriving once, by hand or when dropped.
struct StartTicket {
    group: Arc<ClientGroup>,
    arrived: bool,
}

impl StartTicket {
    fn arrive(&mut self) {
        if !self.arrived {
            self.arrived = true;
            self.group.arrived.fetch_add(1, Ordering::AcqRel);
        }
    }
}

impl Drop for StartTicket {
    fn drop(&mut self) {
        self.arrive();
    }
}

/// One open connection of the group, counted until dropped.
struct OpenConn<'a>(&'a ClientGroup);

impl<'a> OpenConn<'a> {
    fn count(group: &'a ClientGroup) -> OpenConn<'a> {
        let now = group.open.fetch_add(1, Ordering::AcqRel) + 1;
        group.peak.fetch_max(now, Ordering::AcqRel);
        OpenConn(group)
    }
}

impl Drop for OpenConn<'_> {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The most connections of the run (the handles of one
/// [`spawn_clients_counting`] call) that were open at the same time: from a
/// client's connect to its socket's close, after the card's FIN.
pub fn peak_open(handles: &[ClientHandle]) -> usize {
    handles.first().map_or(0, |h| h.group.peak.load(Ordering::Acquire))
}

/// Waits until every client of the run (the handles of one
/// [`spawn_clients`] call) connected or gave up, or `limit` passed.
pub fn wait_connected(handles: &[ClientHandle], limit: Duration) {
    if let Some(h) = handles.first() {
        h.group.wait_for_all(limit, &AtomicBool::new(false));
    }
}

/// File descriptors a run of `n` clients needs besides the sockets: the
/// namespace handles, the daemon's control connection, logs, captures.
const FD_HEADROOM: u64 = 256;

impl ClientHandle {
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().map_or(true, |t| t.is_finished())
    }
}

/// Starts `n` clients, each on its own thread inside namespace `ns`, so
/// they run concurrently; they start sending once all `n` have connected (a
/// client that cannot connect, or whose thread cannot enter the namespace,
/// counts as arrived; after `plan.stall_timeout` the others go anyway).
/// `cancel` makes them give up early (Ctrl-C, a dead card). Every byte a
/// client's socket accepts is added to `sent_total` as it happens (the
/// progress bar; the failover lab kills the primary when it reaches a
/// fraction of the whole).
pub fn spawn_clients_counting(
    ns: &str,
    n: usize,
    plan: &ClientPlan,
    cancel: Arc<AtomicBool>,
    sent_total: Arc<AtomicU64>,
) -> Vec<ClientHandle> {
    spawn_clients(ns, n, plan, ClientMode::SendOnly, cancel, sent_total)
}

/// [`spawn_clients_counting`] against the application `mode` says.
pub fn spawn_clients(
    ns: &str,
    n: usize,
    plan: &ClientPlan,
    mode: ClientMode,
    cancel: Arc<AtomicBool>,
    sent_total: Arc<AtomicU64>,
) -> Vec<ClientHandle> {
    match crate::sys::raise_open_file_limit(n as u64 + FD_HEADROOM) {
        Ok(limit) if limit < n as u64 + FD_HEADROOM => {
            tracing::warn!(clients = n, limit, "the open-file limit is below what the clients need; some may fail to connect")
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(clients = n, error = %e, "could not raise the open-file limit"),
    }
    let group = Arc::new(ClientGroup::new(n));
    (0..n)
        .map(|index| {
            let plan = plan.clone();
            let cancel = cancel.clone();
            let sent_total = sent_total.clone();
            let ticket = StartTicket { group: group.clone(), arrived: false };
            let thread = netns::spawn_in_netns(ns, move || run_counting(index, &plan, mode, &cancel, &sent_total, ticket));
            ClientHandle { index, thread: thread.map_err(|e| e.to_string()), group: group.clone() }
        })
        .collect()
}

/// Waits for every client and returns what each did.
pub fn collect(handles: Vec<ClientHandle>) -> Vec<ClientOutcome> {
    handles
        .into_iter()
        .map(|h| {
            let failed = |error: String| ClientOutcome { index: h.index, error: Some(error), ..ClientOutcome::default() };
            match h.thread {
                Err(e) => failed(e),
                Ok(t) => match t.join() {
                    Ok(Ok(outcome)) => outcome,
                    Ok(Err(e)) => failed(e.to_string()),
                    Err(_) => failed("client thread panicked".to_string()),
                },
            }
        })
        .collect()
}

/// One client, in the calling thread's namespace.
pub fn run_one(index: usize, plan: &ClientPlan, cancel: &AtomicBool) -> ClientOutcome {
    let ticket = StartTicket { group: Arc::new(ClientGroup::new(1)), arrived: false };
    run_counting(index, plan, ClientMode::SendOnly, cancel, &AtomicU64::new(0), ticket)
}

fn run_counting(
    index: usize,
    plan: &ClientPlan,
    mode: ClientMode,
    cancel: &AtomicBool,
    sent_total: &AtomicU64,
    ticket: StartTicket,
) -> ClientOutcome {
    let start = Instant::now();
    let mut out = ClientOutcome { index, ..ClientOutcome::default() };
    let mut hasher = Sha256::new();
    let result = transfer(index, plan, mode, cancel, sent_total, &mut out, &mut hasher, ticket);
    out.sha256 = hex(&hasher.finalize());
    out.elapsed_ms = start.elapsed().as_millis() as u64;
    if let Err(e) = result {
        out.reset = is_reset(&e);
        tracing::warn!(client = index, port = out.local_port, sent = out.bytes_sent, error = %e, "client failed");
        out.error = Some(e.to_string());
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn transfer(
    index: usize,
    plan: &ClientPlan,
    mode: ClientMode,
    cancel: &AtomicBool,
    sent_total: &AtomicU64,
    out: &mut ClientOutcome,
    hasher: &mut Sha256,
    mut ticket: StartTicket,
) -> std::io::Result<()> {
    let ctx = |what: &str, e: std::io::Error| std::io::Error::new(e.kind(), format!("{what}: {e}"));
    let connected = TcpStream::connect_timeout(&plan.target.into(), plan.stall_timeout);
    let group = ticket.group.clone();
    // Counted before arriving, so the last to arrive finds all of them counted.
    let _open = connected.is_ok().then(|| OpenConn::count(&group));
    ticket.arrive();
    let mut stream = connected.map_err(|e| ctx(&format!("connecting to {}", plan.target), e))?;
    out.local_port = stream.local_addr().map(|a| a.port()).unwrap_or(0);
    group.wait_for_all(plan.stall_timeout, cancel);
    // Short timeouts so a stalled card or Ctrl-C is noticed; progress resets
    // the stall clock.
    let poll = Duration::from_millis(200);
    stream.set_write_timeout(Some(poll))?;
    stream.set_read_timeout(Some(poll))?;
    tracing::debug!(client = index, port = out.local_port, "connected");

    let echo_reader = if mode == ClientMode::Echo { Some(stream.try_clone().map_err(|e| ctx("cloning the socket for the echo reader", e))?) } else { None };
    let sending_done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let reader = echo_reader.map(|r| {
            let sending_done = &sending_done;
            let expected = ExpectedStream::new(plan.seed, index, plan.bytes);
            s.spawn(move || read_echo(r, expected, cancel, sending_done, plan.stall_timeout))
        });
        let sent = send_stream(index, plan, cancel, sent_total, out, hasher, &mut stream);
        sending_done.store(true, Ordering::SeqCst);
        let Some(reader) = reader else {
            let (last_write, acked) = sent?;
            return wait_for_fin(index, plan, cancel, out, &mut stream, last_write, acked);
        };
        let echoed = reader.join().unwrap_or_else(|_| Err(std::io::Error::other("the echo reader panicked")));
        sent?;
        let echo = echoed.map_err(|e| ctx("reading the echo", e))?;
        out.bytes_echoed = echo.bytes;
        out.sha256_echoed = Some(hex(&echo.sha256));
        out.echo_first_mismatch = echo.first_mismatch;
        out.fin_wait_ms = echo.fin_after_last_send.as_millis() as u64;
        let info = tcp_info(&stream).map_err(|e| ctx("reading TCP_INFO", e))?;
        out.bytes_acked = info.bytes_acked;
        out.total_retrans = info.total_retrans;
        tracing::debug!(client = index, port = out.local_port, echoed = out.bytes_echoed, ?info, "client done");
        Ok(())
    })
}

/// Sends the client's stream and half-closes. Returns when the socket
/// took the last byte, and the card's acknowledgements as last seen.
fn send_stream(
    index: usize,
    plan: &ClientPlan,
    cancel: &AtomicBool,
    sent_total: &AtomicU64,
    out: &mut ClientOutcome,
    hasher: &mut Sha256,
    stream: &mut TcpStream,
) -> std::io::Result<(Instant, AckProgress)> {
    let ctx = |what: &str, e: std::io::Error| std::io::Error::new(e.kind(), format!("{what}: {e}"));
    let mut rng = stream_rng(plan.seed, index);
    let mut buf = vec![0u8; CHUNK];
    let mut left = plan.bytes;
    let mut last_progress = Instant::now();
    let mut last_progress_wall = holdback_sim::pcap::unix_now();
    let mut acked = AckProgress::default();
    while left > 0 {
        let n = left.min(CHUNK as u64) as usize;
        rng.fill_bytes(&mut buf[..n]);
        hasher.update(&buf[..n]);
        let mut off = 0;
        while off < n {
            if cancel.load(Ordering::Relaxed) {
                return Err(std::io::Error::new(ErrorKind::Interrupted, "cancelled"));
            }
            match stream.write(&buf[off..n]) {
                Ok(0) => return Err(std::io::Error::new(ErrorKind::WriteZero, "socket accepted no bytes")),
                Ok(k) => {
                    off += k;
                    out.bytes_sent += k as u64;
                    sent_total.fetch_add(k as u64, Ordering::Relaxed);
                    note_stall(out, last_progress, last_progress_wall);
                    last_progress = Instant::now();
                    last_progress_wall = holdback_sim::pcap::unix_now();
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {
                    acked.check(stream, last_progress, plan.stall_timeout, "sending")?;
                }
                Err(e) => return Err(ctx("sending", e)),
            }
        }
        left -= n as u64;
    }
    stream.shutdown(Shutdown::Write).map_err(|e| ctx("half-closing", e))?;
    Ok((last_progress, acked))
}

/// Against the sink: the card sends nothing but its FIN, which comes once
/// the sink released past ours: read() returning 0.
fn wait_for_fin(
    index: usize,
    plan: &ClientPlan,
    cancel: &AtomicBool,
    out: &mut ClientOutcome,
    stream: &mut TcpStream,
    last_progress: Instant,
    mut acked: AckProgress,
) -> std::io::Result<()> {
    let ctx = |what: &str, e: std::io::Error| std::io::Error::new(e.kind(), format!("{what}: {e}"));
    let mut sink = [0u8; 256];
    let fin_wait_start = Instant::now();
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(std::io::Error::new(ErrorKind::Interrupted, "cancelled"));
        }
        match stream.read(&mut sink) {
            Ok(0) => {
                out.fin_wait_ms = last_progress.elapsed().as_millis() as u64;
                break;
            }
            Ok(k) => {
                return Err(std::io::Error::new(
                    ErrorKind::InvalidData,
                    format!("the card sent {k} payload bytes; it only receives"),
                ))
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {
                acked.check(stream, fin_wait_start.max(last_progress), plan.stall_timeout, "waiting for the card's FIN")?;
            }
            Err(e) => return Err(ctx("waiting for the card's FIN", e)),
        }
    }
    let info = tcp_info(stream).map_err(|e| ctx("reading TCP_INFO", e))?;
    out.bytes_acked = info.bytes_acked;
    out.total_retrans = info.total_retrans;
    tracing::debug!(client = index, port = out.local_port, ?info, "client done");
    Ok(())
}

/// Client `index`'s stream of `len` bytes generated again, for reads of
/// any size: the sender draws it in [`CHUNK`]-byte blocks (the last one
/// shorter), and the generator's bytes depend on how the draws are cut
/// (a draw's tail of up to 4 bytes comes from a 32-bit word), so the echo
/// is compared against blocks drawn exactly as the sender drew them.
struct ExpectedStream {
    rng: SmallRng,
    block: Vec<u8>,
    at: usize,
    left: u64,
}

impl ExpectedStream {
    fn new(seed: u64, index: usize, len: u64) -> ExpectedStream {
        ExpectedStream { rng: stream_rng(seed, index), block: Vec::with_capacity(CHUNK), at: 0, left: len }
    }

    /// Consumes `got.len()` expected bytes; the index in `got` of the
    /// first that differs (or that lies beyond the stream's end).
    fn first_difference(&mut self, got: &[u8]) -> Option<usize> {
        let mut checked = 0;
        while checked < got.len() {
            if self.at == self.block.len() {
                if self.left == 0 {
                    return Some(checked);
                }
                let n = self.left.min(CHUNK as u64) as usize;
                self.block.resize(n, 0);
                self.rng.fill_bytes(&mut self.block);
                self.left -= n as u64;
                self.at = 0;
            }
            let n = (got.len() - checked).min(self.block.len() - self.at);
            if let Some(i) = got[checked..checked + n].iter().zip(&self.block[self.at..self.at + n]).position(|(a, b)| a != b) {
                return Some(checked + i);
            }
            self.at += n;
            checked += n;
        }
        None
    }
}

/// What came back from the echo application.
struct Echoed {
    bytes: u64,
    sha256: [u8; 32],
    /// Where the echo first differs from the stream sent.
    first_mismatch: Option<u64>,
    /// From the client's last write to the card's FIN.
    fin_after_last_send: Duration,
}

/// Reads the echo until the card's FIN, hashing it and comparing it byte
/// for byte with the stream `expected` generates (the one this client
/// sends), so a loss or a duplicate is located, not only detected. Fails
/// when nothing came for `stall` (counted from the end of sending once it
/// ended).
fn read_echo(
    mut stream: TcpStream,
    mut expected: ExpectedStream,
    cancel: &AtomicBool,
    sending_done: &AtomicBool,
    stall: Duration,
) -> std::io::Result<Echoed> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut first_mismatch = None;
    let mut bytes = 0u64;
    let mut last_byte = Instant::now();
    let mut send_end: Option<Instant> = None;
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(std::io::Error::new(ErrorKind::Interrupted, "cancelled"));
        }
        if send_end.is_none() && sending_done.load(Ordering::SeqCst) {
            send_end = Some(Instant::now());
        }
        match stream.read(&mut buf) {
            Ok(0) => {
                let fin_after_last_send = send_end.map_or(Duration::ZERO, |t| t.elapsed());
                return Ok(Echoed { bytes, sha256: hasher.finalize().into(), first_mismatch, fin_after_last_send });
            }
            Ok(k) => {
                hasher.update(&buf[..k]);
                if first_mismatch.is_none() {
                    first_mismatch = expected.first_difference(&buf[..k]).map(|i| bytes + i as u64);
                }
                bytes += k as u64;
                last_byte = Instant::now();
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {
                let since = send_end.map_or(last_byte, |t| t.max(last_byte));
                if since.elapsed() >= stall {
                    return Err(std::io::Error::new(
                        ErrorKind::TimedOut,
                        format!("no echo byte and no FIN for {:.1} s after {bytes} bytes", since.elapsed().as_secs_f64()),
                    ));
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// A wait that began at `since` (`since_wall` on the wall clock) just ended.
fn note_stall(out: &mut ClientOutcome, since: Instant, since_wall: Duration) {
    let waited = since.elapsed().as_millis() as u64;
    if waited > out.max_stall_ms || out.max_stall_from_unix_us.is_none() {
        out.max_stall_ms = waited;
        out.max_stall_from_unix_us = Some(since_wall.as_micros() as u64);
    }
}

/// The peer's side of a connection's progress: the bytes the card
/// acknowledged (TCP_INFO). A client whose bytes all sit in its socket
/// buffer makes no progress of its own while the card works through them —
/// under load (1024 connections, frames lost at the TAP and resent) that
/// takes longer than the stall timeout — so only a connection on which
/// neither the application's writes nor the card's ACKs moved is stalled.
#[derive(Default)]
struct AckProgress {
    bytes_acked: u64,
    at: Option<Instant>,
}

impl AckProgress {
    /// Fails once neither a write (`last_write`) nor a new ACK came for `limit`.
    fn check(&mut self, stream: &TcpStream, last_write: Instant, limit: Duration, what: &str) -> std::io::Result<()> {
        let info = tcp_info(stream).ok();
        if let Some(i) = &info {
            if i.bytes_acked > self.bytes_acked {
                self.bytes_acked = i.bytes_acked;
                self.at = Some(Instant::now());
            }
        }
        let since = self.at.map_or(last_write, |at| at.max(last_write));
        if since.elapsed() < limit {
            return Ok(());
        }
        Err(std::io::Error::new(
            ErrorKind::TimedOut,
            format!("{what}: no progress (no write, no new ACK) for {:.1} s (TCP_INFO: {info:?})", since.elapsed().as_secs_f64()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a = expected_sha256(7, 0, 100_000);
        assert_eq!(a, expected_sha256(7, 0, 100_000));
        assert_ne!(a, expected_sha256(7, 1, 100_000));
        assert_ne!(a, expected_sha256(8, 0, 100_000));
    }

    /// A client whose thread never runs (it could not enter the namespace)
    /// still arrives, through its ticket's drop, so the others do not wait
    /// out the limit; the peak counts connections open at the same time.
    #[test]
    fn the_start_line_counts_dropped_tickets_and_the_peak_counts_overlap() {
        let group = Arc::new(ClientGroup::new(3));
        let mut first = StartTicket { group: group.clone(), arrived: false };
        first.arrive();
        first.arrive();
        drop(first);
        assert_eq!(group.arrived.load(Ordering::Acquire), 1, "a ticket arrives once");
        drop(StartTicket { group: group.clone(), arrived: false });
        let waiter = {
            let group = group.clone();
            std::thread::spawn(move || {
                let t = Instant::now();
                group.wait_for_all(Duration::from_secs(30), &AtomicBool::new(false));
                t.elapsed()
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        assert!(!waiter.is_finished(), "the start line let a client go before all three arrived");
        drop(StartTicket { group: group.clone(), arrived: false });
        let waited = waiter.join().expect("the waiter ran");
        assert!(waited < Duration::from_secs(5), "the waiter was not released by the last arrival: {waited:?}");

        let a = OpenConn::count(&group);
        let b = OpenConn::count(&group);
        drop(a);
        let c = OpenConn::count(&group);
        drop((b, c));
        let d = OpenConn::count(&group);
        drop(d);
        assert_eq!(group.peak.load(Ordering::Acquire), 2);
        assert_eq!(group.open.load(Ordering::Acquire), 0);
    }

    #[test]
    fn tcp_info_reads_bytes_acked_on_loopback() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut v = Vec::new();
            s.read_to_end(&mut v).unwrap();
            v.len()
        });
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(&[1u8; 1000]).unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        assert_eq!(t.join().unwrap(), 1000);
        // The peer's ACK of our FIN may trail read_to_end by a moment.
        let mut info = tcp_info(&c).unwrap();
        for _ in 0..100 {
            if info.bytes_acked >= 1001 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
            info = tcp_info(&c).unwrap();
        }
        // SYN counts 1, the data 1000, our FIN 1 once acknowledged.
        assert!((1001..=1002).contains(&info.bytes_acked), "{info:?}");
    }

    /// The echo check follows the stream however reads cut it (odd sizes
    /// across the sender's block boundaries, a short last block whose
    /// length is not a multiple of 8) and locates a duplicated byte, a
    /// dropped one and one past the end where they happen.
    #[test]
    fn echo_compare_follows_the_stream_and_locates_a_duplicate_and_a_loss() {
        let len = 3 * CHUNK as u64 + 1234;
        let mut sent = Vec::new();
        let mut rng = stream_rng(7, 2);
        let mut left = len;
        while left > 0 {
            let n = left.min(CHUNK as u64) as usize;
            let mut block = vec![0u8; n];
            rng.fill_bytes(&mut block);
            sent.extend_from_slice(&block);
            left -= n as u64;
        }
        let compare = |stream: &[u8]| {
            let mut expected = ExpectedStream::new(7, 2, len);
            let mut at = 0;
            for (i, size) in [1usize, 7, 4093, 65_536, 9, 100_000].iter().cycle().enumerate() {
                if at >= stream.len() {
                    return None;
                }
                let end = (at + size + i % 3).min(stream.len());
                if let Some(d) = expected.first_difference(&stream[at..end]) {
                    return Some(at + d);
                }
                at = end;
            }
            unreachable!("the cycle ends by returning")
        };
        assert_eq!(compare(&sent), None);
        let mut duplicated = sent.clone();
        let at = 2 * CHUNK + 17;
        // A segment resent into the stream: bytes [at-100, at) again at `at`.
        let again = duplicated[at - 100..at].to_vec();
        duplicated.splice(at..at, again);
        assert_eq!(compare(&duplicated), Some(at));
        let mut lost = sent.clone();
        lost.drain(CHUNK - 3..CHUNK + 500);
        assert_eq!(compare(&lost), Some(CHUNK - 3));
        let mut longer = sent.clone();
        longer.push(0);
        assert_eq!(compare(&longer), Some(sent.len()), "a byte past the end is a difference");
    }
}
