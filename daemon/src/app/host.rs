//! The engine behind [`crate::app`]: it follows the card's connections
//! through the event queue, drives the [`Application`] in passes, and
//! writes the release registers once a pass's commits passed the
//! connections' gates (the `replica` gate ships TCB copies, and with
//! `store = "replicated"` the committed bytes, to the standby first).
//!
//! One pass ([`AppHost::step`]) is a group commit: every connection with
//! new bytes is offered to the application, which commits what it holds;
//! then all of them are released together. The release can be paused
//! (control socket) to show holdback at work.
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use holdback_driver::{Bar, CardError, CardHandle, MacAddr, SeqNum, Tcb};

use super::{AppError, AppOp, Application, Chunk, Conn};
use holdback_regmap::{TcpState, NO_PEER_LINK};
use serde::{Deserialize, Serialize};

use crate::config::{Gate, PortGates};
use crate::events::{ChangeFeed, EventPump};
use crate::metrics::Histogram;
use crate::pair::decide::{ReleaseStep, RULES};
use crate::replication::{LinkState, Primary, WaitError};

/// Identity of one connection: a TCB slot is reused by later connections, so
/// the slot id alone does not name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ConnKey {
    pub remote_ip: Ipv4Addr,
    pub remote_port: u16,
    pub local_port: u16,
    pub irs: u32,
}

impl ConnKey {
    pub fn of(tcb: &Tcb) -> ConnKey {
        ConnKey { remote_ip: tcb.remote_ip, remote_port: tcb.remote_port, local_port: tcb.local_port, irs: tcb.irs.0 }
    }

    /// The same (remote address, remote port, local port), whatever the irs.
    pub fn same_tuple(&self, other: &ConnKey) -> bool {
        (self.remote_ip, self.remote_port, self.local_port) == (other.remote_ip, other.remote_port, other.local_port)
    }
}

/// What the host knows about one connection; kept after it closes so the lab
/// can check the file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnRecord {
    pub id: u16,
    pub key: ConnKey,
    /// Where the application keeps the stream (the sink's file); empty
    /// for an application that keeps none.
    pub path: PathBuf,
    /// Bytes the application committed (stream offsets [0, committed)):
    /// for the sink, written and fsynced.
    pub committed: u64,
    /// Stream bytes covered by the last release write (≤ committed).
    pub released: u64,
    /// The peer's FIN arrived after all data and everything is committed.
    pub fin_committed: bool,
    /// The release went past the FIN (the core then sends its own FIN).
    pub fin_released: bool,
    /// The slot was seen CLOSED (or reused) after this connection.
    pub closed: bool,
    /// Closed before its FIN was committed: reset or timed out.
    pub aborted: bool,
    /// Last state seen (RFC name).
    pub last_state: String,
}

/// Records of every connection the application has seen; shared with the lab and
/// the control socket.
#[derive(Debug, Default)]
pub struct Ledger {
    records: Vec<ConnRecord>,
}

impl From<Vec<ConnRecord>> for Ledger {
    /// A ledger as the control socket reports it (`Request::Sink`).
    fn from(records: Vec<ConnRecord>) -> Ledger {
        Ledger { records }
    }
}

impl Ledger {
    pub fn records(&self) -> &[ConnRecord] {
        &self.records
    }
    /// The most recent connection from `remote_ip:remote_port`.
    pub fn by_peer(&self, remote_ip: Ipv4Addr, remote_port: u16) -> Option<&ConnRecord> {
        self.records.iter().rev().find(|r| r.key.remote_ip == remote_ip && r.key.remote_port == remote_port)
    }
    fn upsert(&mut self, rec: &ConnRecord) {
        match self.records.iter_mut().rev().find(|r| r.key == rec.key && r.id == rec.id) {
            Some(r) => *r = rec.clone(),
            None => self.records.push(rec.clone()),
        }
    }
}

/// Counters of the application host's work (the name is the sink's, the
/// first application, kept for the control socket and the lab's reports).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SinkStats {
    pub passes: u64,
    /// Passes that committed something (group commits).
    pub commits: u64,
    pub fsyncs: u64,
    pub release_writes: u64,
    pub bytes_committed: u64,
    pub conns_seen: u64,
    /// Sum and maximum over group commits of the time from the pass's first
    /// TCB read to its last release write: the gate latency holdback adds to
    /// every ACK (read ring + write + fsync + release).
    pub commit_us_total: u64,
    pub commit_us_max: u64,
    /// Group commits the replica gate held until the standby acknowledged,
    /// and their total wait (the replication round trip holdback adds).
    #[serde(default)]
    pub replica_waits: u64,
    #[serde(default)]
    pub replica_wait_us_total: u64,
    /// Passes whose releases the replica gate refused (standby silent,
    /// disconnected or newer): nothing was released in them.
    #[serde(default)]
    pub replica_waits_failed: u64,
}

impl SinkStats {
    /// Mean time of a group commit, microseconds.
    pub fn commit_us_mean(&self) -> u64 {
        self.commit_us_total.checked_div(self.commits).unwrap_or(0)
    }
}

/// Handles the lab and the control socket use while the application runs.
#[derive(Clone, Debug, Default)]
pub struct SinkShared {
    pub ledger: Arc<Mutex<Ledger>>,
    /// While set, no release register is written (bytes are still committed).
    pub paused: Arc<AtomicBool>,
    pub stats: Arc<Mutex<SinkStats>>,
    /// Distribution of the group-commit time ([`SinkStats::commit_us_total`]
    /// is its sum): the release latency holdback adds to an ACK.
    pub commit_latency: Arc<Mutex<Histogram>>,
}

impl SinkShared {
    pub fn ledger(&self) -> MutexGuard<'_, Ledger> {
        // A panic while holding the lock leaves plain data; keep using it.
        self.ledger.lock().unwrap_or_else(|p| p.into_inner())
    }
    pub fn stats(&self) -> SinkStats {
        *self.stats.lock().unwrap_or_else(|p| p.into_inner())
    }
    pub fn set_paused(&self, paused: bool) {
        self.paused.store(paused, Ordering::SeqCst);
        tracing::info!(paused, "sink release paused state changed");
    }
    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }
    pub fn commit_latency(&self) -> Histogram {
        self.commit_latency.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// A connection being followed.
struct Active {
    rec: ConnRecord,
    conn: Conn,
    irs: SeqNum,
    iss: SeqNum,
    /// The last TCB taken from the mirror: the base of the copy the replica
    /// gate ships with a new R.
    last: Tcb,
    /// Stream bytes [0, shipped) are queued for the standby's own store on
    /// the link's current sync generation (`store = "replicated"`).
    shipped: u64,
    /// The last R this host wrote for the connection: no copy the standby
    /// gets carries less, even one read before the card folded the write
    /// into the TCB (invariant 2).
    r_written: Option<SeqNum>,
    /// The connection's gates include `app`: a commit means durable.
    app_gate: bool,
    /// Stream offset just past the peer's data in the receive ring.
    data_end: u64,
    /// The peer's FIN came after `data_end`.
    fin: bool,
    /// The application's read cursor: bytes [committed, read) were handed
    /// to it; it restarts at the committed point on every pass that looks
    /// at the connection, so bytes read but not committed come again.
    read: u64,
    /// [`AppIo::read`] reported the FIN in this pass.
    fin_read: bool,
    /// Transmit: stream offset up to which the host filled the transmit
    /// ring (the last send tail written).
    tx_end: u64,
    /// Transmit: stream offset the peer acknowledged (snd_una); ring bytes
    /// below it may be overwritten.
    tx_acked: u64,
    /// Transmit: ring bytes [.., tx_shipped) are queued for the standby's
    /// transmit ring on the link's current sync generation (invariant 9).
    tx_shipped: u64,
    /// The last send limit L this host wrote (a transmit-stream offset,
    /// +1 once it lets the card's FIN go); `None`: none yet (a promoted
    /// card's SEND_LIMIT was never written: 0 until the first write).
    limit_written: Option<u64>,
    /// Input answered by output ([`AppIo::commit_after_output`]): each
    /// `(upto, output_end)` commits the input below `upto` once the
    /// transmit stream below `output_end` is held where the card may send
    /// it from after a failover. Ascending in both.
    answers: std::collections::VecDeque<(u64, u64)>,
}

impl Active {
    /// Sequence number of stream offset `off`.
    fn seq_at(&self, off: u64) -> SeqNum {
        self.irs + 1 + off as u32
    }

    /// Where the peer's acknowledgements stand in our stream: bytes not
    /// after snd_una are acknowledged (our SYN and FIN take a sequence
    /// number each but no ring byte).
    fn note_snd_una(&mut self, snd_una: SeqNum) {
        let outstanding = (self.iss + 1 + self.tx_end as u32).bytes_since(snd_una);
        self.tx_acked = self.tx_end.saturating_sub(u64::from(outstanding)).max(self.tx_acked);
    }
}

/// One side of a relayed pair as the host keeps it (docs/relay.md): the
/// card moves its R and sends from its peer's receive ring, so the host at
/// most ships its copies to a standby and moves its send limit L
/// ("Failover of both connections").
struct Relayed {
    key: ConnKey,
    /// The card's iss for the connection: a slot holding another relayed
    /// connection (a new iss) starts its limits over.
    iss: SeqNum,
    /// The TCB has send holdback on (SEND_HOLDBACK when it opened).
    send_hold: bool,
    /// Its `peer_link` names its peer; cleared once the peer was freed
    /// while this side still closes.
    linked: bool,
    /// In a synchronized state as last read (RFC 9293: not SYN-SENT or
    /// SYN-RECEIVED): only then does the standby take a send limit for it
    /// (`standby::limit_misfit`), and only then has a server side's
    /// backend accepted.
    synchronized: bool,
    /// The L the TCB as last read allows ([`relay_limit`]).
    wanted: u32,
    /// The L last queued for the standby in the link's current sync
    /// generation (`None`: none since the last full sync).
    shipped: Option<u32>,
    /// The L last written to the card (`None`: none by this host yet).
    written: Option<u32>,
}

/// The send limit L a relayed TCB may have (docs/relay.md, "Failover of
/// both connections"): its transmit stream up to `tx_end` (mod 2^32) —
/// the bytes its peer's receive ring holds — and one more for our FIN once
/// it is due (FIN-WAIT-1, CLOSING, LAST-ACK, or CLOSE-WAIT once the spliced
/// peer received its FIN) or was sent and acknowledged (FIN-WAIT-2,
/// TIME-WAIT: the standby refuses a limit below snd_una). Never more: a
/// promoted card takes snd_max := iss + 1 + L, and a snd_max past what it
/// can ever resend keeps its retransmission timer running with nothing to
/// send.
fn relay_limit(tcb: &Tcb) -> u32 {
    let fin = match tcb.state {
        TcpState::FinWait1 | TcpState::Closing | TcpState::LastAck | TcpState::FinWait2 | TcpState::TimeWait => true,
        TcpState::CloseWait => tcb.close_asked,
        _ => false,
    };
    tcb.tx_end.wrapping_add(u32::from(fin))
}

/// RFC 9293's synchronized states: the connection's handshake is done.
fn synchronized(state: TcpState) -> bool {
    !matches!(state, TcpState::Closed | TcpState::Listen | TcpState::SynSent | TcpState::SynReceived)
}

/// Whether send limit `new` lies past `old` in the 2^32 stream-offset
/// space (`old` `None`: nothing before it).
fn limit_past(new: u32, old: Option<u32>) -> bool {
    old.is_none_or(|o| SeqNum(o).before(SeqNum(new)))
}

/// What an application reaches of the card during [`Application::pass`].
trait CardIo {
    fn read_ring(&self, id: u16, stream_offset: u64, buf: &mut [u8]) -> Result<(), CardError>;
    fn tx_ring_bytes(&self) -> Result<u32, CardError>;
    fn write_tx_ring(&self, id: u16, stream_offset: u64, data: &[u8]) -> Result<(), CardError>;
    fn send_tail(&self, id: u16, stream_offset: u32) -> Result<(), CardError>;
    fn close(&self, id: u16) -> Result<(), CardError>;
    fn abort(&self, id: u16) -> Result<(), CardError>;
    fn connect(&self, remote: std::net::SocketAddrV4, local_port: u16, next_hop: MacAddr) -> Result<u16, CardError>;
}

impl<B: Bar> CardIo for CardHandle<B> {
    fn read_ring(&self, id: u16, stream_offset: u64, buf: &mut [u8]) -> Result<(), CardError> {
        CardHandle::read_ring(self, id, stream_offset, buf)
    }
    fn tx_ring_bytes(&self) -> Result<u32, CardError> {
        CardHandle::tx_ring_bytes(self)
    }
    fn write_tx_ring(&self, id: u16, stream_offset: u64, data: &[u8]) -> Result<(), CardError> {
        CardHandle::write_tx_ring(self, id, stream_offset, data)
    }
    fn send_tail(&self, id: u16, stream_offset: u32) -> Result<(), CardError> {
        CardHandle::send_tail(self, id, stream_offset)
    }
    fn close(&self, id: u16) -> Result<(), CardError> {
        CardHandle::close(self, id)
    }
    fn abort(&self, id: u16) -> Result<(), CardError> {
        CardHandle::abort(self, id)
    }
    fn connect(&self, remote: std::net::SocketAddrV4, local_port: u16, next_hop: MacAddr) -> Result<u16, CardError> {
        CardHandle::connect(self, remote, local_port, next_hop)
    }
}

/// The application's handle on the connections during one pass
/// ([`Application::pass`]).
pub struct AppIo<'a> {
    card: &'a dyn CardIo,
    conns: &'a mut HashMap<u16, Active>,
    readable: &'a [u16],
    buf: &'a mut [u8],
    /// Bytes committed in this pass (the `bytes_committed` figure).
    committed: u64,
    /// Connections the application opened that have not reached ESTABLISHED.
    connecting: &'a mut HashMap<u16, Conn>,
}

impl AppIo<'_> {
    fn active(&mut self, op: AppOp, id: u16) -> Result<&mut Active, AppError> {
        self.conns.get_mut(&id).ok_or(AppError::NotOpen { op, id })
    }

    /// The connections that have new bytes (or their FIN) for the
    /// application in this pass, by id.
    pub fn readable(&self) -> Vec<Conn> {
        self.readable.iter().filter_map(|id| self.conns.get(id)).map(|a| a.conn).collect()
    }

    /// The open connection in slot `id`, if any.
    pub fn conn(&self, id: u16) -> Option<Conn> {
        self.conns.get(&id).map(|a| a.conn)
    }

    /// Whether the connection's gates include `app`: then a commit must
    /// mean what the application calls durable (the sink: fsynced), as the
    /// card's ACK follows it and the peer forgets the bytes.
    pub fn app_gate(&self, id: u16) -> bool {
        self.conns.get(&id).is_some_and(|a| a.app_gate)
    }

    /// Every byte of `id` after the read cursor, at its stream offset (at
    /// most one receive ring), and whether the peer's FIN follows them.
    /// `None` once there is nothing new in this pass. The cursor starts
    /// each pass at the committed point.
    pub fn read(&mut self, id: u16) -> Result<Option<Chunk<'_>>, AppError> {
        let a = self.conns.get_mut(&id).ok_or(AppError::NotOpen { op: AppOp::Read, id })?;
        let offset = a.read;
        let n = (a.data_end - offset) as usize;
        let fin = a.fin && !a.fin_read;
        if n == 0 && !fin {
            return Ok(None);
        }
        let bytes = &mut self.buf[..n];
        self.card.read_ring(id, offset, bytes)?;
        a.read = a.data_end;
        a.fin_read |= a.fin;
        Ok(Some(Chunk { offset, bytes, fin }))
    }

    /// The input of `id` below stream offset `upto` is answered by every
    /// byte written to the connection so far (its output): commit it once
    /// that output is below the replicated send limit L — held by the
    /// standby, so a promoted card sends it identically (invariant 9) —
    /// and not before, so R never runs ahead of what the standby can
    /// reproduce. Without a waiting `replica` gate the output is held once
    /// written and the commit takes effect in this pass. An application
    /// that answers its input (echo, request/response) commits this way
    /// instead of with [`AppIo::commit`]. `upto` lies between the last
    /// commit asked for and the bytes read.
    pub fn commit_after_output(&mut self, id: u16, upto: u64) -> Result<(), AppError> {
        let a = self.active(AppOp::Commit, id)?;
        let floor = a.answers.back().map_or(a.rec.committed, |(asked, _)| *asked).max(a.rec.committed);
        if upto < floor || upto > a.read {
            return Err(AppError::CommitOutOfRange { id, upto, committed: floor, read: a.read });
        }
        if upto > floor {
            a.answers.push_back((upto, a.tx_end));
        }
        Ok(())
    }

    /// The application holds `id`'s bytes below stream offset `upto`
    /// (durably, where [`AppIo::app_gate`] says so): they pass the `app`
    /// gate, their ring space may be reused, and once every gate passed
    /// the card acknowledges them. Committing all of the peer's data
    /// commits its FIN too. `upto` lies between the committed point and
    /// the bytes read.
    pub fn commit(&mut self, id: u16, upto: u64) -> Result<(), AppError> {
        let a = self.active(AppOp::Commit, id)?;
        if upto < a.rec.committed || upto > a.read {
            return Err(AppError::CommitOutOfRange { id, upto, committed: a.rec.committed, read: a.read });
        }
        let new = upto - a.rec.committed;
        a.rec.committed = upto;
        self.committed += new;
        Ok(())
    }

    /// Bytes [`AppIo::write`] can take now for `id`: the transmit ring
    /// less what the peer has not acknowledged.
    pub fn writable(&mut self, id: u16) -> Result<usize, AppError> {
        let ring = self.card.tx_ring_bytes()?;
        let a = self.active(AppOp::Write, id)?;
        Ok((u64::from(ring) - (a.tx_end - a.tx_acked)) as usize)
    }

    /// Queues as much of `data` as the transmit ring of `id` takes, after
    /// what was queued before, then writes the send-tail doorbell. Returns
    /// the bytes taken (0: the ring is full until the peer acknowledges).
    /// Only while the connection may still send (ESTABLISHED, CLOSE-WAIT).
    pub fn write(&mut self, id: u16, data: &[u8]) -> Result<usize, AppError> {
        let free = self.writable(id)?;
        let card = self.card;
        let a = self.active(AppOp::Write, id)?;
        if !matches!(a.last.state, TcpState::Established | TcpState::CloseWait) {
            return Err(AppError::NotWritable { id, state: a.last.state.rfc_name() });
        }
        let n = free.min(data.len());
        if n == 0 {
            return Ok(0);
        }
        card.write_tx_ring(id, a.tx_end, &data[..n])?;
        a.tx_end += n as u64;
        // The tail is the stream offset modulo 2^32, as TX_END holds it.
        card.send_tail(id, a.tx_end as u32)?;
        Ok(n)
    }

    /// The stream offset up to which `id`'s transmit ring is filled, and
    /// up to which the peer acknowledged it.
    pub fn sent(&self, id: u16) -> Option<(u64, u64)> {
        self.conns.get(&id).map(|a| (a.tx_end, a.tx_acked))
    }

    /// Active open (RFC 9293 §3.10.1): the card sends a SYN to `remote`
    /// from our `local_port`, through `next_hop` (the MAC of `remote` on
    /// the card's link, or of its router: the card has no ARP cache).
    /// Returns the connection at once, in SYN-SENT (its key's `irs` is 0
    /// until the peer's SYN-ACK gives one); once the peer's
    /// SYN-ACK made it ESTABLISHED the application is told as of any
    /// connection ([`Application::accept`], with this [`Conn`]), and from
    /// then on reads, writes and closes it as any other. A refused connect
    /// (the peer's RST: nobody listens), or one the card gave up after
    /// seven unanswered SYNs, ends in [`Application::closed`] with
    /// `aborted`, without an `accept`. `local_port` must not be a
    /// listening port; the tuple must not be in use.
    pub fn connect(&mut self, remote: std::net::SocketAddrV4, local_port: u16, next_hop: MacAddr) -> Result<Conn, AppError> {
        // The peer's ISN is not known before its SYN-ACK: 0 until then.
        let key = ConnKey { remote_ip: *remote.ip(), remote_port: remote.port(), local_port, irs: 0 };
        let in_use = self.conns.values().any(|a| a.conn.key.same_tuple(&key)) || self.connecting.values().any(|c| c.key.same_tuple(&key));
        if in_use {
            return Err(AppError::TupleInUse { remote, local_port });
        }
        let id = self.card.connect(remote, local_port, next_hop)?;
        let conn = Conn { id, key, start: 0 };
        self.connecting.insert(id, conn);
        tracing::info!(id, %remote, local_port, "connecting");
        Ok(conn)
    }

    /// The host closes its direction: the card's FIN follows every byte
    /// written so far (CONN_CLOSE; FIN-WAIT-1, then FIN-WAIT-2 and TIME-WAIT
    /// as the peer answers). Nothing can be written after it. A connection
    /// whose peer closed first (CLOSE-WAIT) closes anyway once the peer's
    /// FIN is committed and every queued byte acknowledged.
    pub fn close(&mut self, id: u16) -> Result<(), AppError> {
        self.active(AppOp::Close, id)?;
        self.card.close(id)?;
        Ok(())
    }

    /// Reset the connection: the card sends a RST and frees the slot
    /// (CONN_ABORT); the host sees it closed, aborted, in a later pass.
    pub fn abort(&mut self, id: u16) -> Result<(), AppError> {
        self.active(AppOp::Abort, id)?;
        self.card.abort(id)?;
        Ok(())
    }
}

/// How often followed connections are looked at even without an event
/// record (belt and braces: the records are the trigger).
const POLL_ALL_EVERY: Duration = Duration::from_millis(50);


/// The `replica` gate (claim 24, invariant 2): before a release register is
/// written, a TCB copy carrying the new R goes to the standby, and (with
/// `wait`, i.e. `sync = before-ack`, claim 32) the release waits until the
/// standby acknowledged storing it. Copies of every TCB the event records
/// name go along (claims 34, 35: the link sends only changed
/// fields).
pub struct ReplicaGate {
    pub link: Arc<Primary>,
    /// `sync = before-ack`: hold the release for the acknowledgement.
    pub wait: bool,
    /// Longest one group commit waits; then the pass releases nothing and
    /// the next pass tries again (a partitioned primary releases nothing).
    pub timeout: Duration,
    /// `replicate = at-setup` (claim 31, invariant 6): the card holds each
    /// SYN-ACK until R moves to irs+1, which this gate does only once the
    /// standby stored the new TCB — for a relayed client side, both TCBs of
    /// the pair, once the backend accepted (docs/relay.md, "Setup across
    /// three parties").
    pub hold_synack: bool,
    /// The `app` gate is on too: fsync before releasing. Without it
    /// (`gates = ["replica"]`) the release waits for the standby only and
    /// the bytes are written but not fsynced: a failover keeps every
    /// connection, a host crash may lose the tail of the store.
    pub durable: bool,
    /// `store = "replicated"` (invariant 3 across two hosts): the committed
    /// bytes go to the standby's own store over the link, after a copy
    /// whose rcv_nxt covers them and before the copy whose R does; with
    /// `wait`, R never passes the bytes the standby acknowledged holding.
    pub ship_data: bool,
    /// `replicate = "after-data"` (claim 30): a connection's first copy
    /// goes out only once the peer sent something past its SYN.
    pub after_data: bool,
    /// Where the sink records that the standby holds its whole backlog
    /// after a full sync; `None` while the pair is degraded (releases do
    /// not wait, so the standby never holds all of them).
    pub caught_up: Option<StandbyCaughtUp>,
}

/// The sync generation of the primary's link ([`Primary::sync_generation`])
/// after which the standby acknowledged everything a waiting sink holds
/// above the full sync: with send holdback the transmit-ring bytes up to
/// each send tail (a full sync carries TCB copies, not ring bytes), with
/// `store = "replicated"` the committed bytes. Until then the standby's
/// card, promoted, would send bytes it does not hold, so the pair is not
/// `Replicating` for status, the chaos lab or a switchover (docs/failover.md).
#[derive(Clone, Debug, Default)]
pub struct StandbyCaughtUp(Arc<AtomicU64>);

impl StandbyCaughtUp {
    /// Whether the standby caught up after the full sync of `generation`.
    pub fn after(&self, generation: u64) -> bool {
        generation > 0 && self.0.load(Ordering::SeqCst) == generation
    }
    fn set(&self, generation: u64) {
        self.0.store(generation, Ordering::SeqCst);
    }
}

/// Stream bytes one [`Update::Data`](crate::replication::wire::Update) carries at most.
const DATA_CHUNK: usize = 64 << 10;
/// Stream bytes one pass ships per connection at most: a store shipped
/// again after a full sync goes in slices, so it does not stall the
/// other connections' releases.
const DATA_PER_CONN_PER_PASS: u64 = 256 << 10;

/// One release the pass intends to write.
struct PlannedRelease {
    id: u16,
    /// The connection's local (listening) port: whose gates apply.
    port: u16,
    r: SeqNum,
    /// Stream bytes below `r` (not counting a FIN).
    upto: u64,
    /// Covers the peer's FIN (data committed and the FIN with it).
    past_fin: bool,
    /// Releases a held SYN-ACK (R := irs+1); no data involved.
    synack: bool,
    /// The client side of a relayed pair: it waits at the replica gate
    /// whatever its port's gates (the relayed connections' only gate is
    /// `peer`, and their standby copies are what it waits for).
    relayed: bool,
}

pub struct AppHost<B: Bar> {
    card: Arc<CardHandle<B>>,
    changes: ChangeFeed<B>,
    app: Box<dyn Application>,
    shared: SinkShared,
    active: HashMap<u16, Active>,
    ring_bytes: u32,
    last_poll_all: Instant,
    buf: Vec<u8>,
    pub(crate) replica: Option<ReplicaGate>,
    /// Listening ports with gates of their own; empty: every connection
    /// has the host's one gate set (the replica gate's `wait`, `durable`).
    port_gates: Vec<PortGates>,
    /// The gates of connections to ports not in `port_gates`.
    default_gates: Vec<Gate>,
    /// The link's sync generation the `shipped` offsets count in.
    sync_generation: u64,
    /// Relayed connections by slot (docs/relay.md): the card moves their R
    /// itself (the `peer` gate) and sends from their peer's receive ring,
    /// so the host never reads, releases or sends for them. Kept until the
    /// slot holds another connection or is free, since the card clears a
    /// pair's link when one side is freed while the other still closes.
    /// In a pair the host ships their copies and moves their send limits.
    relayed: HashMap<u16, Relayed>,
    /// Connections whose first copy went to the standby, by slot: with
    /// `after-data` the rest are not replicated yet.
    copied: HashMap<u16, ConnKey>,
    /// Connections the application opened (`AppIo::connect`) still in
    /// SYN-SENT or SYN-RECEIVED, by slot.
    connecting: HashMap<u16, Conn>,
    /// The sync generation and the replication sequence whose
    /// acknowledgement means the standby caught up ([`StandbyCaughtUp`]).
    catch_up: Option<(u64, u64)>,
}

impl<B: Bar> AppHost<B> {
    /// `app` behind the card whose changes `pump` takes; `shared` holds
    /// the records and figures the control socket reports.
    pub fn new(pump: &Arc<EventPump<B>>, app: Box<dyn Application>, shared: SinkShared) -> Result<AppHost<B>, AppError> {
        let card = pump.card().clone();
        let ring_bytes = card.rx_ring_bytes()?;
        Ok(AppHost {
            card,
            changes: pump.subscribe()?,
            app,
            shared,
            active: HashMap::new(),
            ring_bytes,
            last_poll_all: Instant::now(),
            buf: vec![0; ring_bytes as usize],
            replica: None,
            port_gates: Vec::new(),
            default_gates: vec![Gate::App],
            sync_generation: 0,
            copied: HashMap::new(),
            relayed: HashMap::new(),
            connecting: HashMap::new(),
            catch_up: None,
        })
    }

    /// Put the `replica` gate in front of every release.
    pub fn with_replica_gate(mut self, gate: ReplicaGate) -> AppHost<B> {
        // This sink ships its backlog again from the start: whatever an
        // earlier sink shipped is not known to cover this one's releases.
        if let Some(mark) = &gate.caught_up {
            mark.set(0);
        }
        self.replica = Some(gate);
        self
    }

    /// Gates per connection: those of its listening port in `ports`, else
    /// `default`. The replica gate, if any, must be set up for the union
    /// (it waits only for connections whose gates name `replica`).
    pub fn with_port_gates(mut self, default: Vec<Gate>, ports: Vec<PortGates>) -> AppHost<B> {
        self.default_gates = default;
        self.port_gates = ports;
        self
    }

    /// The gates of a connection to `port`, when ports have their own.
    fn gates_of(&self, port: u16) -> Option<&[Gate]> {
        if self.port_gates.is_empty() {
            return None;
        }
        Some(self.port_gates.iter().find(|g| g.port == port).map_or(&self.default_gates[..], |g| &g.gates[..]))
    }

    /// The `app` gate: the connection's commits are durable before release.
    fn app_gate_on(&self, port: u16) -> bool {
        match self.gates_of(port) {
            Some(gates) => gates.contains(&Gate::App),
            None => self.replica.as_ref().is_none_or(|g| g.durable),
        }
    }

    /// The `replica` gate stands before the connection's releases.
    fn replica_gate_on(&self, port: u16) -> bool {
        self.gates_of(port).is_none_or(|gates| gates.contains(&Gate::Replica))
    }

    pub fn shared(&self) -> &SinkShared {
        &self.shared
    }

    /// The application's name.
    pub fn app_name(&self) -> &'static str {
        self.app.name()
    }

    /// Runs passes until `stop` is set, sleeping briefly when idle. Returns
    /// the first error (the lab then tears down and reports it).
    pub fn run(&mut self, stop: &AtomicBool) -> Result<(), AppError> {
        while !stop.load(Ordering::Relaxed) {
            let worked = self.step()?;
            if !worked {
                // Idle: a short sleep keeps one of the machine's two cores
                // for the card's clock thread; a ring holds one window per
                // connection, so sleeping long would throttle the peer.
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        Ok(())
    }

    /// One group-commit pass. Returns whether anything happened.
    pub fn step(&mut self) -> Result<bool, AppError> {
        let pass_start = Instant::now();
        let mut ids = self.changes.take()?;
        if self.last_poll_all.elapsed() >= POLL_ALL_EVERY {
            self.last_poll_all = Instant::now();
            ids.extend(self.active.keys().copied());
            if self.replica.is_some() {
                ids.extend(self.relayed.keys().copied());
            }
        }
        ids.sort_unstable();
        ids.dedup();
        let mut worked = !ids.is_empty();

        // 1. Follow: open and close records, note what is new in each ring.
        let mut readable: Vec<u16> = Vec::new();
        let mut changed: Vec<(u16, Tcb)> = Vec::new();
        // Relayed TCBs read in this pass, for the standby.
        let mut relayed_changed: Vec<(u16, Tcb)> = Vec::new();
        let events = ids.len();
        let mut next = 0;
        while let Some(&id) = ids.get(next) {
            next += 1;
            let tcb = match self.card.tcb(id) {
                Ok(tcb) => tcb,
                // A peer link that names no slot of this card: nothing to read.
                Err(e) if next > events => {
                    tracing::warn!(id, error = %e, "a relayed TCB's peer link names no TCB; its peer is not read");
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            if self.leave_relayed(id, &tcb) {
                // The card moves the peer's send tail and R in the visit
                // that changed this side, and the peer may report no event
                // of its own: read it too where its copy or limit matters.
                let minded = self.replica.is_some() || tcb.send_hold;
                if minded && tcb.peer_link != NO_PEER_LINK && !ids.contains(&tcb.peer_link) {
                    ids.push(tcb.peer_link);
                }
                relayed_changed.push((id, tcb));
                continue;
            }
            if self.follow(id, &tcb)? {
                readable.push(id);
            }
            if self.replica.is_some() {
                changed.push((id, tcb));
            }
        }
        // 2. The application reads, commits (the `app` gate: the sink
        // writes and fsyncs here) and writes its replies.
        let before: Vec<(u16, u64)> =
            readable.iter().filter_map(|id| self.active.get(id).map(|a| (*id, a.rec.committed))).collect();
        let mut io = AppIo {
            card: &*self.card,
            conns: &mut self.active,
            readable: &readable,
            buf: &mut self.buf,
            committed: 0,
            connecting: &mut self.connecting,
        };
        self.app.pass(&mut io)?;
        let mut committed_now = io.committed;
        // With a replicated store the standby first gets copies whose
        // rcv_nxt covers the committed bytes, then the bytes; with the
        // replica gate every connection's new output goes to the standby's
        // transmit ring (invariant 9). Then input answered by output that
        // is held by now counts as committed.
        let ahead = self.ship_ahead_of_release(&changed).and_then(|a| self.ship_relayed(&relayed_changed).map(|r| a.max(r)));
        if ahead.is_some() {
            self.note_catch_up();
        }
        committed_now += self.commit_answered();
        let touched = before.iter().any(|(id, was)| self.active.get(id).is_some_and(|a| a.rec.committed > *was));
        for a in self.active.values_mut() {
            if a.fin && a.rec.committed == a.data_end {
                a.rec.fin_committed = true;
            }
        }
        {
            let mut st = self.shared.stats.lock().unwrap_or_else(|p| p.into_inner());
            st.passes += 1;
            st.bytes_committed += committed_now;
            if touched {
                st.commits += 1;
            }
        }
        // 3. Release: everything committed (and past the FIN when it is in).
        // The gates of claim 2 stand between these two steps: "app" is the
        // application's commit above; the "replica" gate ships the new R to
        // the standby and (sync = before-ack) waits for its acknowledgement
        // (invariant 2). The send limit L moves on the same terms, and
        // before R: a connection's output goes to the standby ahead of the
        // copy carrying the R that its input's commit allows, so one
        // acknowledgement covers both (invariant 9).
        if !self.shared.is_paused() {
            let plan = self.plan_releases(&changed, &relayed_changed);
            // Connections whose gates do not name `replica` release once
            // committed; the others, and relayed client sides, wait at the
            // replica gate.
            let (gated, free): (Vec<PlannedRelease>, Vec<PlannedRelease>) =
                plan.into_iter().partition(|p| p.relayed || self.replica_gate_on(p.port));
            self.write_limits(&free, false)?;
            let freed = self.release_all(&free)?;
            if ahead.is_some_and(|last| self.replica_gate(&changed, &gated, last)) {
                self.write_limits(&gated, true)?;
                self.write_relayed_limits()?;
                worked |= freed | self.release_all(&gated)?;
            } else {
                worked = freed;
            }
        } else {
            // Paused: nothing is released, but the standby still follows,
            // and the card may send what the standby acknowledged holding.
            let acknowledged = self.replica_gate(&changed, &[], ahead.unwrap_or(0));
            if acknowledged && ahead.is_some() {
                self.write_limits(&[], true)?;
                self.write_relayed_limits()?;
            }
            self.write_limits(&[], false)?;
        }
        if touched {
            let us = pass_start.elapsed().as_micros() as u64;
            let mut st = self.shared.stats.lock().unwrap_or_else(|p| p.into_inner());
            st.commit_us_total += us;
            st.commit_us_max = st.commit_us_max.max(us);
            drop(st);
            self.shared.commit_latency.lock().unwrap_or_else(|p| p.into_inner()).observe_us(us);
        }
        let mut ledger = self.shared.ledger();
        for a in self.active.values() {
            ledger.upsert(&a.rec);
        }
        Ok(worked)
    }

    /// Whether TCB `id` as `tcb` is one side of a relayed pair (or was, and
    /// is still closing), which the host leaves to the card: no record, no
    /// read, no release but of a client side's held SYN-ACK under
    /// `at-setup` ([`AppHost::plan_releases`]), no send; in a pair the
    /// host ships its copies and moves its send limit.
    /// A connection of the host's that held the slot before has ended.
    fn leave_relayed(&mut self, id: u16, tcb: &Tcb) -> bool {
        let key = ConnKey::of(tcb);
        let linked = tcb.state != TcpState::Closed && tcb.peer_link != NO_PEER_LINK;
        let still = !linked
            && tcb.state != TcpState::Closed
            // The irs of a server side is learnt from its SYN-ACK: the tuple names the connection.
            && self.relayed.get(&id).is_some_and(|r| r.key.same_tuple(&key));
        if !(linked || still) {
            if self.relayed.remove(&id).is_some() {
                tracing::debug!(id, "a relayed connection's slot is free again");
            }
            return false;
        }
        match self.relayed.get_mut(&id) {
            Some(r) if r.key.same_tuple(&key) && r.iss == tcb.iss => {
                r.key = key;
                r.send_hold = tcb.send_hold;
                r.linked = linked;
                r.synchronized = synchronized(tcb.state);
                r.wanted = relay_limit(tcb);
            }
            _ => {
                tracing::debug!(id, peer_link = tcb.peer_link, peer = %format!("{}:{}", tcb.remote_ip, tcb.remote_port),
                    local_port = tcb.local_port, "relayed by the card; the host leaves it alone");
                let r = Relayed {
                    key,
                    iss: tcb.iss,
                    send_hold: tcb.send_hold,
                    linked,
                    synchronized: synchronized(tcb.state),
                    wanted: relay_limit(tcb),
                    shipped: None,
                    written: None,
                };
                self.relayed.insert(id, r);
            }
        }
        if let Some(old) = self.active.remove(&id) {
            self.finish(old, tcb.state);
        }
        if let Some(pending) = self.connecting.remove(&id) {
            tracing::warn!(id, "connect failed before ESTABLISHED: the slot now holds a relayed connection");
            self.app.closed(&pending, true);
        }
        true
    }

    /// Track TCB `id`: open and close records, and note the connection's
    /// new bytes and acknowledgements. Returns whether the application has
    /// something to read (new bytes, or a FIN not yet committed).
    fn follow(&mut self, id: u16, tcb: &Tcb) -> Result<bool, AppError> {
        let key = ConnKey::of(tcb);
        if let Some(pending) = self.connecting.get(&id).copied() {
            if !pending.key.same_tuple(&key) || tcb.state == TcpState::Closed {
                // Refused (the peer's RST), given up, or aborted before the handshake completed.
                self.connecting.remove(&id);
                tracing::warn!(id, peer = %format!("{}:{}", pending.key.remote_ip, pending.key.remote_port),
                    "connect failed before ESTABLISHED");
                self.app.closed(&pending, true);
            } else if !matches!(tcb.state, TcpState::SynSent | TcpState::SynReceived) {
                self.connecting.remove(&id);
            }
        }
        let same = self.active.get(&id).is_some_and(|a| a.rec.key == key);
        if !same || tcb.state == TcpState::Closed {
            if let Some(old) = self.active.remove(&id) {
                self.finish(old, tcb.state);
            }
        }
        match tcb.state {
            TcpState::Closed | TcpState::Listen => return Ok(false),
            TcpState::SynReceived | TcpState::SynSent => {
                // No data before the handshake completes; the record starts
                // at ESTABLISHED so a SYN-flood slot leaves no record.
                return Ok(false);
            }
            _ => {}
        }
        if !self.active.contains_key(&id) {
            let a = self.open(id, tcb)?;
            self.active.insert(id, a);
        }
        let ring = self.ring_bytes;
        let a = self.active.get_mut(&id).expect("inserted above");
        a.rec.last_state = tcb.state.rfc_name().to_string();
        a.last = tcb.clone();
        // Data ends at rcv_nxt, or one before it once the FIN is counted.
        let data_end = tcb.rcv_nxt - tcb.fin_rcvd as u32;
        let new = data_end.bytes_since(a.seq_at(a.rec.committed));
        if new > ring {
            return Err(AppError::RingOverrun {
                id,
                peer: format!("{}:{}", key.remote_ip, key.remote_port),
                new,
                ring,
                rcv_nxt: tcb.rcv_nxt,
                committed: a.rec.committed,
            });
        }
        a.data_end = a.rec.committed + u64::from(new);
        a.fin = tcb.fin_rcvd;
        a.read = a.rec.committed;
        a.fin_read = false;
        a.note_snd_una(tcb.snd_una);
        Ok(new > 0 || (a.fin && !a.rec.fin_committed))
    }

    fn open(&mut self, id: u16, tcb: &Tcb) -> Result<Active, AppError> {
        // Everything below R was released, so committed — by us, or by the
        // primary before a failover (invariant 3: a promoted card resumes
        // each connection at R, and the store already holds the bytes
        // below it). A fresh connection has R = irs + 1: offset 0.
        let data_start = tcb.irs + 1;
        let fin_released = tcb.fin_rcvd && tcb.rel == tcb.rcv_nxt && data_start.before(tcb.rel);
        let released_bytes = if data_start.before(tcb.rel) { tcb.rel.bytes_since(data_start) - fin_released as u32 } else { 0 };
        let conn = Conn { id, key: ConnKey::of(tcb), start: u64::from(released_bytes) };
        let path = self.app.accept(&conn)?.unwrap_or_default();
        tracing::info!(id, app = self.app.name(), peer = %format!("{}:{}", tcb.remote_ip, tcb.remote_port), irs = tcb.irs.0,
            path = %path.display(), "application follows a new connection");
        self.shared.stats.lock().unwrap_or_else(|p| p.into_inner()).conns_seen += 1;
        if released_bytes > 0 {
            tracing::info!(id, released_bytes, fin_released, "the application resumes a connection at its released point");
        }
        let mut a = Active {
            // A standby that keeps its own store gets this connection's
            // bytes from offset 0: a host started after a promotion or a
            // resync cannot know what that standby already holds.
            shipped: 0,
            r_written: None,
            rec: ConnRecord {
                id,
                key: conn.key,
                path,
                committed: released_bytes as u64,
                released: released_bytes as u64,
                fin_committed: fin_released,
                fin_released,
                closed: false,
                aborted: false,
                last_state: tcb.state.rfc_name().to_string(),
            },
            conn,
            irs: tcb.irs,
            iss: tcb.iss,
            last: tcb.clone(),
            app_gate: self.app_gate_on(tcb.local_port),
            data_end: released_bytes as u64,
            fin: tcb.fin_rcvd,
            read: released_bytes as u64,
            fin_read: false,
            tx_end: 0,
            tx_acked: 0,
            tx_shipped: 0,
            limit_written: None,
            answers: std::collections::VecDeque::new(),
        };
        // The transmit side continues at the card's send tail: after a
        // failover the standby's copy says how far its transmit ring holds
        // the failed host's output (invariant 9), and the application
        // continues after it ([`AppIo::sent`]). A tail that is not within
        // one ring after snd_una cannot be the card's; start at snd_una.
        let acked = tcb.snd_una.bytes_since(tcb.iss + 1);
        let queued = tcb.tx_end.wrapping_sub(acked);
        let ring = self.card.tx_ring_bytes().unwrap_or(0);
        (a.tx_acked, a.tx_end) = match queued {
            q if q <= ring => (u64::from(acked), u64::from(acked) + u64::from(q)),
            // snd_una counts our FIN, one past the tail: nothing queued.
            u32::MAX => (u64::from(tcb.tx_end), u64::from(tcb.tx_end)),
            _ => (u64::from(acked), u64::from(acked)),
        };
        if a.tx_end > a.tx_acked {
            tracing::info!(id, acked, tail = tcb.tx_end, "the transmit side resumes at the card's send tail");
        }
        // The standby gets every byte the peer has not acknowledged.
        a.tx_shipped = a.tx_acked;
        Ok(a)
    }

    fn finish(&mut self, mut a: Active, now: TcpState) {
        a.rec.closed = true;
        a.rec.aborted = !a.rec.fin_released;
        if a.rec.aborted {
            tracing::warn!(id = a.rec.id, committed = a.rec.committed, state = now.rfc_name(),
                "connection ended before its FIN was committed");
        } else {
            tracing::info!(id = a.rec.id, committed = a.rec.committed, "connection closed");
        }
        self.app.closed(&a.conn, a.rec.aborted);
        self.shared.ledger().upsert(&a.rec);
    }

    /// The releases this pass may write: every connection whose committed
    /// point is ahead of its last release (claim 2: R = irs + 1 + committed,
    /// +1 once the FIN is committed), every held SYN-ACK (R = irs + 1), and
    /// every held relayed client side whose backend accepted
    /// ([`AppHost::relayed_synack_due`]; `relayed` are the relayed TCBs
    /// read in this pass).
    fn plan_releases(&self, changed: &[(u16, Tcb)], relayed: &[(u16, Tcb)]) -> Vec<PlannedRelease> {
        // A replicated store under a waiting gate: R covers only bytes the
        // standby is sent (and, by the wait, acknowledges) for its own disk.
        let shipped_only = self.replica.as_ref().is_some_and(|g| g.ship_data && g.wait) && self.app.keeps_store();
        let mut plan: Vec<PlannedRelease> = self
            .active
            .iter()
            .filter_map(|(id, a)| {
                let port = a.rec.key.local_port;
                let upto = if shipped_only && self.replica_gate_on(port) { a.rec.committed.min(a.shipped) } else { a.rec.committed };
                // Releasing the peer's FIN makes the card send its own (the
                // passive close), which must follow every byte the
                // application queued: it waits until the peer acknowledged
                // them all.
                let past_fin = a.rec.fin_committed && !a.rec.fin_released && upto == a.rec.committed && a.tx_acked == a.tx_end;
                (upto > a.rec.released || past_fin).then(|| PlannedRelease {
                    id: *id,
                    port,
                    r: a.seq_at(upto) + past_fin as u32,
                    upto,
                    past_fin,
                    synack: false,
                    relayed: false,
                })
            })
            .collect();
        if self.replica.as_ref().is_some_and(|g| g.hold_synack) {
            // A held SYN-ACK: the card keeps R at irs until we move it.
            let held = |t: &Tcb| t.state == TcpState::SynReceived && t.rel == t.irs;
            plan.extend(changed.iter().filter(|(_, t)| held(t)).map(|(id, t)| PlannedRelease {
                id: *id,
                port: t.local_port,
                r: t.irs + 1,
                upto: 0,
                past_fin: false,
                synack: true,
                relayed: false,
            }));
            plan.extend(relayed.iter().filter(|(id, t)| held(t) && self.relayed_synack_due(*id, t, relayed)).map(|(id, t)| {
                PlannedRelease { id: *id, port: t.local_port, r: t.irs + 1, upto: 0, past_fin: false, synack: true, relayed: true }
            }));
        }
        plan.sort_by_key(|p| p.id);
        plan
    }

    /// With `at-setup`, whether the held client side `id` of a relayed
    /// pair, as `tcb` (SYN-RECEIVED, R = irs: the card holds its SYN-ACK
    /// under hold-synack), may be released (docs/relay.md, "Setup across
    /// three parties"): only once its backend accepted — its peer, read in
    /// this pass (`read`), is synchronized and names it back — and the
    /// copies of both sides as read went to the standby, in this pass or
    /// before. The replica gate then holds the release until the standby
    /// acknowledged them, so a standby that has the client's SYN-ACK out
    /// holds both TCBs, and the promotion's fix-up gives the client side
    /// R = irs + 1 from its synchronized peer (replication/relay_pair.rs).
    /// Released before its peer is synchronized, the client would be
    /// accepted before the backend was.
    fn relayed_synack_due(&self, id: u16, tcb: &Tcb, read: &[(u16, Tcb)]) -> bool {
        let copied = |id: u16, t: &Tcb| self.copied.get(&id).is_some_and(|k| *k == ConnKey::of(t));
        tcb.peer_link != NO_PEER_LINK
            && copied(id, tcb)
            && read.iter().any(|(peer, s)| {
                *peer == tcb.peer_link && s.peer_link == id && synchronized(s.state) && copied(*peer, s)
            })
    }

    /// With `after-data` (claim 30), whether TCB `id` as `tcb` may go to
    /// the standby: a connection already replicated always, a new one only
    /// once its peer sent data (or its FIN) past the SYN — never in
    /// SYN-RECEIVED or SYN-SENT — and a slot's closing only if its connection went.
    fn replicates(&self, id: u16, tcb: &Tcb) -> bool {
        if !self.replica.as_ref().is_some_and(|g| g.after_data) {
            return true;
        }
        match (tcb.state, self.copied.get(&id)) {
            (_, Some(key)) if *key == ConnKey::of(tcb) => true,
            (TcpState::Closed, copied) => copied.is_some(),
            (TcpState::Listen | TcpState::SynReceived | TcpState::SynSent, _) => false,
            _ => tcb.rcv_nxt != tcb.irs + 1,
        }
    }

    /// Ships what must reach the standby ahead of the copies that carry
    /// the new R: with `store = "replicated"` this pass's copies as read
    /// (their rcv_nxt covers what was committed), then every connection's
    /// committed bytes the standby's store has not been sent, from the
    /// application's own store ([`Application::stored`]: the sink's
    /// fsynced file), at most [`DATA_PER_CONN_PER_PASS`] each; and for
    /// every connection behind the replica gate the transmit ring's bytes
    /// not sent to the standby yet (invariant 9), after a copy of the
    /// connection. Returns the last sequence queued (0: none), or `None`
    /// if the link refused: then nothing may be released. A full sync
    /// since the last pass (a new sync generation) starts every
    /// connection's store over from 0 and its transmit ring from snd_una.
    fn ship_ahead_of_release(&mut self, changed: &[(u16, Tcb)]) -> Option<u64> {
        let Some(gate) = self.replica.as_ref() else { return Some(0) };
        let (link, ship_data) = (gate.link.clone(), gate.ship_data && self.app.keeps_store());
        let generation = link.sync_generation();
        if generation != self.sync_generation {
            self.sync_generation = generation;
            for a in self.active.values_mut() {
                a.shipped = 0;
                a.tx_shipped = a.tx_acked;
            }
            // A full sync carries copies, not limits: each goes again.
            for r in self.relayed.values_mut() {
                r.shipped = None;
            }
        }
        let output: Vec<u16> = self
            .active
            .iter()
            .filter(|(_, a)| a.tx_shipped.max(a.tx_acked) < a.tx_end && self.replica_gate_on(a.rec.key.local_port))
            .map(|(id, _)| *id)
            .collect();
        if !ship_data && output.is_empty() {
            return Some(0);
        }
        // Nothing is connected to take the bytes: keep them for a resume
        // or a full sync rather than fill the link's log.
        if matches!(link.state(), crate::replication::LinkState::Down | crate::replication::LinkState::Fenced) {
            return Some(0);
        }
        let mut last = 0;
        for (id, tcb) in changed {
            if !self.replicates(*id, tcb) {
                continue;
            }
            match link.send(*id, &self.covering_release(*id, tcb)) {
                Ok(rseq) => last = last.max(rseq),
                Err(e) => return self.link_refused(*id, &e),
            }
            self.note_copied(*id, tcb);
        }
        let ids: Vec<u16> =
            self.active.iter().filter(|(_, a)| ship_data && a.shipped < a.rec.committed).map(|(id, _)| *id).collect();
        for id in ids {
            let a = self.active.get_mut(&id).expect("listed above");
            let until = a.rec.committed.min(a.shipped + DATA_PER_CONN_PER_PASS);
            while a.shipped < until {
                let n = (until - a.shipped).min(DATA_CHUNK as u64) as usize;
                let mut bytes = vec![0u8; n];
                if let Err(e) = self.app.stored(&a.conn, a.shipped, &mut bytes) {
                    tracing::error!(id, path = %a.rec.path.display(), error = %crate::error::chain(&e),
                        "reading committed bytes to ship to the standby's store");
                    return None;
                }
                match link.send_data(id, a.shipped, bytes) {
                    Ok(rseq) => last = last.max(rseq),
                    Err(e) => {
                        tracing::error!(error = %e, id, "replication refused stream bytes; releasing nothing");
                        self.shared.stats.lock().unwrap_or_else(|p| p.into_inner()).replica_waits_failed += 1;
                        return None;
                    }
                }
                a.shipped += n as u64;
            }
        }
        let rings = if output.is_empty() { None } else { self.card.host_rings() };
        for id in output {
            let a = self.active.get_mut(&id).expect("listed above");
            let Some(rings) = rings.as_ref() else {
                tracing::error!(id, "no transmit ring in host memory to ship to the standby; the send limit stays");
                return None;
            };
            a.tx_shipped = a.tx_shipped.max(a.tx_acked);
            while a.tx_shipped < a.tx_end {
                let n = (a.tx_end - a.tx_shipped).min(crate::replication::wire::MAX_SENT_BYTES as u64) as usize;
                let mut bytes = vec![0u8; n];
                if let Err(e) = rings.read_tx_ring(id, a.tx_shipped, &mut bytes) {
                    tracing::error!(id, error = %e, "reading the transmit ring to ship to the standby");
                    return None;
                }
                match link.send_sent(id, a.tx_shipped, bytes) {
                    Ok(rseq) => last = last.max(rseq),
                    Err(e) => {
                        tracing::error!(error = %e, id, "replication refused transmit-ring bytes; the send limit stays");
                        self.shared.stats.lock().unwrap_or_else(|p| p.into_inner()).replica_waits_failed += 1;
                        return None;
                    }
                }
                a.tx_shipped += n as u64;
            }
        }
        Some(last)
    }

    /// Records in the gate's [`StandbyCaughtUp`] when the standby holds
    /// everything this sink shipped after the link's last full sync: once
    /// a pass left nothing to ship, the last sequence queued is the target,
    /// and its acknowledgement the mark. Under a waiting gate releases and
    /// send limits wait for the standby from then on, so it stays caught
    /// up; `sync = "async"` gives that up, as it gives up invariant 2.
    fn note_catch_up(&mut self) {
        let Some(gate) = self.replica.as_ref() else { return };
        let Some(mark) = gate.caught_up.as_ref() else { return };
        let link = &gate.link;
        let generation = link.sync_generation();
        if link.state() != LinkState::Replicating || generation != self.sync_generation || mark.after(generation) {
            return;
        }
        match self.catch_up {
            Some((of, target)) if of == generation => {
                if link.acked() >= target {
                    mark.set(generation);
                    tracing::info!(generation, through = target, "the standby holds this primary's backlog since its full sync");
                }
            }
            _ if !self.backlog_left() => self.catch_up = Some((generation, link.last_sent())),
            _ => {}
        }
    }

    /// Whether some bytes the standby must hold are not shipped yet in the
    /// current sync generation (see [`AppHost::ship_ahead_of_release`]).
    fn backlog_left(&self) -> bool {
        let ship_data = self.replica.as_ref().is_some_and(|g| g.ship_data) && self.app.keeps_store();
        self.active.values().any(|a| {
            (self.replica_gate_on(a.rec.key.local_port) && a.tx_shipped.max(a.tx_acked) < a.tx_end)
                || (ship_data && a.shipped < a.rec.committed)
        }) || self.relayed.iter().any(|(id, r)| self.relay_limit_to_ship(*id, r).is_some())
    }

    /// The end of `a`'s transmit stream that the card may send and whose
    /// input counts as answered: with a waiting `replica` gate what went
    /// to the standby (its acknowledgement comes before L is written),
    /// otherwise everything written.
    fn output_held(&self, a: &Active) -> u64 {
        let waits = self.replica.as_ref().is_some_and(|g| g.wait) && self.replica_gate_on(a.rec.key.local_port);
        if waits {
            a.tx_shipped.max(a.tx_acked).min(a.tx_end)
        } else {
            a.tx_end
        }
    }

    /// Commits the input whose answer is held ([`AppIo::commit_after_output`]);
    /// returns the bytes committed.
    fn commit_answered(&mut self) -> u64 {
        let held: Vec<(u16, u64)> = self.active.iter().map(|(id, a)| (*id, self.output_held(a))).collect();
        let mut committed = 0;
        for (id, held) in held {
            let a = self.active.get_mut(&id).expect("listed above");
            while let Some(&(upto, output_end)) = a.answers.front() {
                if output_end > held {
                    break;
                }
                a.answers.pop_front();
                if upto > a.rec.committed {
                    committed += upto - a.rec.committed;
                    a.rec.committed = upto;
                }
            }
        }
        committed
    }

    /// The send limit `a` may have now: its held output, and one more —
    /// the card's FIN — once every byte is held and the FIN is due (our
    /// close is in the card's state, or the release past the peer's FIN
    /// is in `plan` or written).
    fn limit_for(&self, id: u16, a: &Active, plan: &[PlannedRelease]) -> u64 {
        let held = self.output_held(a);
        let closing = matches!(a.last.state, TcpState::FinWait1 | TcpState::Closing | TcpState::LastAck);
        let fin = a.rec.fin_released || closing || plan.iter().any(|p| p.id == id && p.past_fin);
        held + (fin && held == a.tx_end) as u64
    }

    /// Writes the send limits of the connections behind the replica gate
    /// (`gated`) or not: the one place SEND_LIMIT is written, so every
    /// byte the card sends beyond what it had is allowed here — for a
    /// gated connection only after the standby acknowledged holding it.
    fn write_limits(&mut self, plan: &[PlannedRelease], gated: bool) -> Result<(), AppError> {
        let due: Vec<(u16, u64)> = self
            .active
            .iter()
            .filter(|(_, a)| self.replica_gate_on(a.rec.key.local_port) == gated)
            .map(|(id, a)| (*id, self.limit_for(*id, a, plan)))
            .filter(|(id, l)| *l > self.active[id].limit_written.unwrap_or(0))
            .collect();
        for (id, limit) in due {
            // L is a transmit-stream offset mod 2^32, as the send tail.
            self.card.set_send_limit(id, limit as u32)?;
            if let Some(a) = self.active.get_mut(&id) {
                a.limit_written = Some(limit);
            }
        }
        Ok(())
    }

    /// Whether a gated connection's send limit waits for the standby.
    fn limits_pending(&self) -> bool {
        self.active.iter().any(|(id, a)| {
            self.replica_gate_on(a.rec.key.local_port) && self.limit_for(*id, a, &[]) > a.limit_written.unwrap_or(0)
        }) || self.relayed.values().any(|r| r.shipped.is_some_and(|l| limit_past(l, r.written)))
    }

    /// The send limit to queue for relayed TCB `id` now, if any: its
    /// wanted L once past the one queued in this sync generation, and only
    /// after a copy of the same connection went to the standby (which
    /// checks the limit against it) while it is linked and synchronized
    /// (the standby holds limits of relaying, synchronized TCBs only; with
    /// `at-setup` the copies of a pair still opening go before any limit).
    fn relay_limit_to_ship(&self, id: u16, r: &Relayed) -> Option<u32> {
        let copied = self.copied.get(&id).is_some_and(|k| *k == r.key);
        (copied && r.linked && r.synchronized && limit_past(r.wanted, r.shipped)).then_some(r.wanted)
    }

    /// With `after-data` (claim 30), whether relayed TCB `id` as `tcb` goes
    /// to the standby: once copied, always; before, once it is
    /// synchronized and data or a FIN crossed the pair either way — it
    /// received some, or its peer's (a send limit past 0). The copy must
    /// precede its first limit, so a pair's sides go together once the
    /// client sent a byte (docs/relay.md, "Failover of both connections").
    fn replicates_relayed(&self, id: u16, tcb: &Tcb) -> bool {
        if !self.replica.as_ref().is_some_and(|g| g.after_data) {
            return true;
        }
        match (tcb.state, self.copied.get(&id)) {
            (_, Some(key)) if *key == ConnKey::of(tcb) => true,
            (TcpState::Listen | TcpState::SynReceived | TcpState::SynSent, _) => false,
            _ => tcb.rcv_nxt != tcb.irs + 1 || relay_limit(tcb) != 0,
        }
    }

    /// Ships relayed TCBs to the standby (docs/relay.md, "Failover of both
    /// connections"): each change read in this pass as the card holds it
    /// (no R raised, no tail changed: the card moves both), then every
    /// relayed TCB's send limit that is past the one queued. Returns the
    /// last sequence queued (0: none), or `None` if the link refused: then
    /// nothing is released or allowed in this pass.
    fn ship_relayed(&mut self, changed: &[(u16, Tcb)]) -> Option<u64> {
        let Some(gate) = self.replica.as_ref() else { return Some(0) };
        let link = gate.link.clone();
        let mut last = 0;
        for (id, tcb) in changed {
            if !self.replicates_relayed(*id, tcb) {
                continue;
            }
            match link.send(*id, tcb) {
                Ok(rseq) => last = last.max(rseq),
                Err(e) => return self.link_refused(*id, &e),
            }
            self.note_copied(*id, tcb);
        }
        let due: Vec<(u16, u32)> =
            self.relayed.iter().filter_map(|(id, r)| self.relay_limit_to_ship(*id, r).map(|l| (*id, l))).collect();
        for (id, limit) in due {
            match link.send_limit(id, limit) {
                Ok(rseq) => last = last.max(rseq),
                Err(e) => {
                    tracing::error!(error = %e, id, limit, "replication refused a relayed connection's send limit; the limit stays");
                    self.shared.stats.lock().unwrap_or_else(|p| p.into_inner()).replica_waits_failed += 1;
                    return None;
                }
            }
            if let Some(r) = self.relayed.get_mut(&id) {
                r.shipped = Some(limit);
            }
        }
        Some(last)
    }

    /// Writes the send limits of relayed TCBs: with a replica gate the
    /// ones queued for the standby, called once the gate let the pass
    /// through (the standby acknowledged them, or the gate does not wait:
    /// `sync = "async"`, a degraded promoted daemon); without one, at once,
    /// for a TCB under send holdback (a daemon outside a pair leaves
    /// SEND_HOLDBACK off, so its relayed TCBs have none).
    fn write_relayed_limits(&mut self) -> Result<(), AppError> {
        let gated = self.replica.is_some();
        for (id, r) in self.relayed.iter_mut() {
            let allowed = match (gated, r.linked) {
                (true, true) => r.shipped,
                // A side still closing after its peer was freed: the
                // standby takes no limit for a TCB that relays nothing, and
                // the card sends its FIN only past L. Its copies (snd_max)
                // go on; the FIN is the one byte not covered in advance.
                (true, false) => Some(r.wanted),
                (false, _) => r.send_hold.then_some(r.wanted),
            };
            let Some(limit) = allowed.filter(|l| limit_past(*l, r.written)) else { continue };
            self.card.set_send_limit(*id, limit)?;
            r.written = Some(limit);
        }
        Ok(())
    }

    /// `tcb` as a copy for the standby: its R raised to the last one this
    /// sink wrote for the connection, if the card's TCB does not show it yet.
    ///
    /// Its send tail is the end of what went to the standby's transmit
    /// ring before it (invariant 9): a promoted card sends no further
    /// than the bytes it holds, and the application continues there.
    fn covering_release(&self, id: u16, tcb: &Tcb) -> Tcb {
        let mut copy = tcb.clone();
        let active = self.active.get(&id).filter(|a| a.rec.key == ConnKey::of(tcb));
        if let Some(r) = active.and_then(|a| a.r_written).filter(|r| copy.rel.before(*r)) {
            copy.rel = r;
        }
        if let Some(a) = active.filter(|a| self.replica_gate_on(a.rec.key.local_port)) {
            copy.tx_end = a.tx_shipped.max(a.tx_acked).min(a.tx_end) as u32;
        }
        copy
    }

    fn note_copied(&mut self, id: u16, tcb: &Tcb) {
        if tcb.state == TcpState::Closed {
            self.copied.remove(&id);
        } else {
            self.copied.insert(id, ConnKey::of(tcb));
        }
    }

    fn link_refused(&self, id: u16, e: &crate::replication::SendError) -> Option<u64> {
        tracing::error!(error = %e, id, "replication refused a TCB copy; releasing nothing");
        self.shared.stats.lock().unwrap_or_else(|p| p.into_inner()).replica_waits_failed += 1;
        None
    }

    /// Ships this pass's copies through the replica gate, if there is one,
    /// and waits (before-ack) for the standby to acknowledge them and
    /// everything queued before, up to `ahead` (what
    /// [`AppHost::ship_ahead_of_release`] queued); returns whether the
    /// planned releases may be written.
    fn replica_gate(&mut self, changed: &[(u16, Tcb)], plan: &[PlannedRelease], ahead: u64) -> bool {
        let Some(gate) = &self.replica else { return true };
        let mut copies: std::collections::BTreeMap<u16, Tcb> =
            changed.iter().filter(|(id, t)| self.replicates(*id, t)).map(|(id, t)| (*id, self.covering_release(*id, t))).collect();
        for p in plan {
            let base = copies.get(&p.id).cloned().or_else(|| self.active.get(&p.id).map(|a| self.covering_release(p.id, &a.last)));
            if let Some(mut tcb) = base {
                // The copy carries the R about to be written (invariant 2:
                // the standby's R may run ahead of what we ACK, never behind).
                tcb.rel = p.r;
                copies.insert(p.id, tcb);
            }
        }
        let link = gate.link.clone();
        let (wait, timeout, ship_data) = (gate.wait, gate.timeout, gate.ship_data);
        let mut last = ahead;
        for (id, tcb) in &copies {
            match link.send(*id, tcb) {
                Ok(rseq) => last = last.max(rseq),
                Err(e) => return self.link_refused(*id, &e).is_some(),
            }
            self.note_copied(*id, tcb);
        }
        if plan.is_empty() && !self.limits_pending() {
            return true;
        }
        if self.limits_pending() {
            // A limit queued in an earlier pass whose wait failed, and
            // nothing new queued since: its acknowledgement is still owed.
            last = last.max(link.last_sent());
        }
        let ReleaseStep::AwaitAck(copy) = RULES.before_release(wait, last) else { return true };
        let waited = Instant::now();
        match link.wait_acked_blocking(copy, timeout) {
            Ok(()) if ship_data && link.sync_generation() != self.sync_generation => {
                // A full sync ran while we waited and dropped the bytes
                // not yet acknowledged: the acknowledgement of its end does
                // not say they are on the standby's disk. Ship again.
                tracing::warn!("the standby was resynchronised during the wait: shipping the store again before releasing");
                false
            }
            Ok(()) => {
                let mut st = self.shared.stats.lock().unwrap_or_else(|p| p.into_inner());
                st.replica_waits += 1;
                st.replica_wait_us_total += waited.elapsed().as_micros() as u64;
                true
            }
            Err(e) => {
                // Invariant 2 and 8: a primary whose standby does not answer
                // releases nothing, so it never ACKs what the standby lacks.
                tracing::warn!(error = %e, "replica gate closed: the standby did not acknowledge; releases held");
                self.shared.stats.lock().unwrap_or_else(|p| p.into_inner()).replica_waits_failed += 1;
                if matches!(e, WaitError::Disconnected { .. } | WaitError::Fenced | WaitError::Shutdown) {
                    // Nothing will change for a while: do not spin.
                    std::thread::sleep(Duration::from_millis(10));
                }
                false
            }
        }
    }

    /// Writes the planned release registers. The one place release registers
    /// are written: every ACK the card sends beyond what it had is allowed here.
    fn release_all(&mut self, plan: &[PlannedRelease]) -> Result<bool, AppError> {
        let mut wrote = false;
        for p in plan {
            self.card.release(p.id, p.r)?;
            if let Some(a) = self.active.get_mut(&p.id) {
                if !p.synack {
                    a.rec.released = p.upto;
                    a.rec.fin_released |= p.past_fin;
                    a.r_written = Some(p.r);
                }
            }
            self.shared.stats.lock().unwrap_or_else(|p| p.into_inner()).release_writes += 1;
            wrote = true;
        }
        Ok(wrote)
    }
}

