//! The sink application: the host side of claim 2. For every connection the
//! card receives, it copies new bytes out of the receive ring, writes them at
//! their stream offset into a per-connection file, makes them durable
//! (fsync), and only then writes the release register, so the card's ACK —
//! the peer's permission to forget the bytes — never runs ahead of the disk.
//!
//! Writing at the offset (not appending) makes the commit idempotent: when
//! bytes arrive again after a failover (invariant 3) they land
//! on top of themselves.
//!
//! The sink learns which connections changed from the card's event queue
//! (a [`ChangeFeed`] of the daemon's [`EventPump`]), takes their TCBs from
//! the card's mirror of the event records, and copies the payload out of
//! the receive rings in host memory: no register reads on the data path.
//!
//! One pass ([`Sink::step`]) is a group commit: read every connection with new
//! bytes, write them all, fsync each touched file once, then release all of
//! them. The release can be paused (control socket) to show holdback at work.
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::net::Ipv4Addr;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use holdback_driver::{Bar, CardError, CardHandle, SeqNum, Tcb};
use holdback_regmap::TcpState;
use serde::{Deserialize, Serialize};

use crate::config::{Gate, PortGates};
use crate::events::{ChangeFeed, EventPump};
use crate::metrics::Histogram;
use crate::pair::decide::{ReleaseStep, RULES};
use crate::replication::{Primary, WaitError};

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("card access")]
    Card(#[from] CardError),
    #[error(transparent)]
    Io(#[from] crate::error::IoError),
    #[error(
        "connection {id} ({peer}): {new} new bytes exceed the {ring}-byte ring; \
         the core accepted beyond released + ring (rcv_nxt {rcv_nxt}, committed to {committed})"
    )]
    RingOverrun { id: u16, peer: String, new: u32, ring: u32, rcv_nxt: SeqNum, committed: u64 },
}

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
    fn of(tcb: &Tcb) -> ConnKey {
        ConnKey { remote_ip: tcb.remote_ip, remote_port: tcb.remote_port, local_port: tcb.local_port, irs: tcb.irs.0 }
    }
}

/// What the sink knows about one connection; kept after it closes so the lab
/// can check the file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnRecord {
    pub id: u16,
    pub key: ConnKey,
    pub path: PathBuf,
    /// Bytes written and fsynced (stream offsets [0, committed)).
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

/// Records of every connection the sink has seen; shared with the lab and
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

/// Counters of the sink's own work, for the report.
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

/// Handles the lab and the control socket use while the sink runs.
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
    file: File,
    irs: SeqNum,
    /// The last TCB taken from the mirror: the base of the copy the replica
    /// gate ships with a new R.
    last: Tcb,
    /// Stream bytes [0, shipped) are queued for the standby's own store on
    /// the link's current sync generation (`store = "replicated"`).
    shipped: u64,
    /// The last R this sink wrote for the connection: no copy the standby
    /// gets carries less, even one read before the card folded the write
    /// into the TCB (invariant 2).
    r_written: Option<SeqNum>,
}

impl Active {
    /// Sequence number of stream offset `off`.
    fn seq_at(&self, off: u64) -> SeqNum {
        self.irs + 1 + off as u32
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
    /// standby stored the new TCB.
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
}

pub struct Sink<B: Bar> {
    card: Arc<CardHandle<B>>,
    changes: ChangeFeed<B>,
    dir: PathBuf,
    shared: SinkShared,
    active: HashMap<u16, Active>,
    ring_bytes: u32,
    last_poll_all: Instant,
    buf: Vec<u8>,
    replica: Option<ReplicaGate>,
    /// Listening ports with gates of their own; empty: every connection
    /// has the sink's one gate set (the replica gate's `wait`, `durable`).
    port_gates: Vec<PortGates>,
    /// The gates of connections to ports not in `port_gates`.
    default_gates: Vec<Gate>,
    /// The link's sync generation the `shipped` offsets count in.
    sync_generation: u64,
    /// Connections whose first copy went to the standby, by slot: with
    /// `after-data` the rest are not replicated yet.
    copied: HashMap<u16, ConnKey>,
}

impl<B: Bar> Sink<B> {
    /// A sink following the changes `pump` takes from its card, writing its
    /// files under `dir` (created if missing).
    pub fn new(pump: &Arc<EventPump<B>>, dir: &Path, shared: SinkShared) -> Result<Sink<B>, SinkError> {
        std::fs::create_dir_all(dir).map_err(crate::error::io("creating sink directory", dir))?;
        let card = pump.card().clone();
        let ring_bytes = card.rx_ring_bytes()?;
        Ok(Sink {
            card,
            changes: pump.subscribe()?,
            dir: dir.to_path_buf(),
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
        })
    }

    /// Put the `replica` gate in front of every release.
    pub fn with_replica_gate(mut self, gate: ReplicaGate) -> Sink<B> {
        self.replica = Some(gate);
        self
    }

    /// Gates per connection: those of its listening port in `ports`, else
    /// `default`. The replica gate, if any, must be set up for the union
    /// (it waits only for connections whose gates name `replica`).
    pub fn with_port_gates(mut self, default: Vec<Gate>, ports: Vec<PortGates>) -> Sink<B> {
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

    /// The `app` gate: the connection's bytes are fsynced before release.
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

    /// Runs passes until `stop` is set, sleeping briefly when idle. Returns
    /// the first error (the lab then tears down and reports it).
    pub fn run(&mut self, stop: &AtomicBool) -> Result<(), SinkError> {
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
    pub fn step(&mut self) -> Result<bool, SinkError> {
        let pass_start = Instant::now();
        let mut ids = self.changes.take()?;
        if self.last_poll_all.elapsed() >= POLL_ALL_EVERY {
            self.last_poll_all = Instant::now();
            ids.extend(self.active.keys().copied());
        }
        ids.sort_unstable();
        ids.dedup();
        let mut worked = !ids.is_empty();

        // 1. Read: every changed connection's new bytes go to its file.
        let mut touched: Vec<u16> = Vec::new();
        let mut changed: Vec<(u16, Tcb)> = Vec::new();
        for id in ids {
            let tcb = self.card.tcb(id)?;
            if self.follow(id, &tcb)? {
                touched.push(id);
            }
            if self.replica.is_some() {
                changed.push((id, tcb));
            }
        }
        // 2. Durable: fsync every touched file, in parallel — the filesystem
        // journal folds concurrent fsyncs into one commit (measured on ext4:
        // 8 files in ~5 ms together against ~6 ms each one after another).
        // Without the app gate the bytes stay in the page cache (they
        // survive the daemon's death, not the host's) and the release waits
        // for the standby only.
        let files: Vec<(&File, &Path)> = touched
            .iter()
            .filter_map(|id| self.active.get(id))
            .filter(|a| self.app_gate_on(a.rec.key.local_port))
            .map(|a| (&a.file, a.rec.path.as_path()))
            .collect();
        sync_all(&files)?;
        {
            let mut st = self.shared.stats.lock().unwrap_or_else(|p| p.into_inner());
            st.passes += 1;
            st.fsyncs += files.len() as u64;
            if !touched.is_empty() {
                st.commits += 1;
            }
        }
        // 3. Release: everything committed (and past the FIN when it is in).
        // The gates of claim 2 stand between these two steps: "app" is the
        // fsync above; the "replica" gate ships the new R to the standby and
        // (sync = before-ack) waits for its acknowledgement (invariant 2).
        // With a replicated store the standby first gets copies whose
        // rcv_nxt covers the committed bytes, then the bytes themselves.
        let ahead = self.ship_ahead_of_release(&changed);
        if !self.shared.is_paused() {
            let plan = self.plan_releases(&changed);
            // Connections whose gates do not name `replica` release once
            // committed; the others wait at the replica gate.
            let (gated, free): (Vec<PlannedRelease>, Vec<PlannedRelease>) =
                plan.into_iter().partition(|p| self.replica_gate_on(p.port));
            let freed = self.release_all(&free)?;
            if ahead.is_some_and(|last| self.replica_gate(&changed, &gated, last)) {
                worked |= freed | self.release_all(&gated)?;
            } else {
                worked = freed;
            }
        } else if !changed.is_empty() {
            // Paused: nothing is released, but the standby still follows.
            self.replica_gate(&changed, &[], ahead.unwrap_or(0));
        }
        if !touched.is_empty() {
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

    /// Track TCB `id`: open/close records and pwrite new bytes (not yet
    /// fsynced). Returns whether bytes were written.
    fn follow(&mut self, id: u16, tcb: &Tcb) -> Result<bool, SinkError> {
        let key = ConnKey::of(tcb);
        let same = self.active.get(&id).is_some_and(|a| a.rec.key == key);
        if !same || tcb.state == TcpState::Closed {
            if let Some(old) = self.active.remove(&id) {
                self.finish(old, tcb.state);
            }
        }
        match tcb.state {
            TcpState::Closed | TcpState::Listen => return Ok(false),
            TcpState::SynReceived => {
                // No data before the handshake completes; the record starts
                // at ESTABLISHED so a SYN-flood slot leaves no file.
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
            return Err(SinkError::RingOverrun {
                id,
                peer: format!("{}:{}", key.remote_ip, key.remote_port),
                new,
                ring,
                rcv_nxt: tcb.rcv_nxt,
                committed: a.rec.committed,
            });
        }
        let mut wrote = false;
        if new > 0 {
            let buf = &mut self.buf[..new as usize];
            self.card.read_ring(id, a.rec.committed, buf)?;
            a.file.write_all_at(buf, a.rec.committed).map_err(crate::error::io("writing", &a.rec.path))?;
            // Committed once the fsync of this pass succeeds; the pass
            // aborts on an fsync error before any release is written.
            a.rec.committed += new as u64;
            self.shared.stats.lock().unwrap_or_else(|p| p.into_inner()).bytes_committed += new as u64;
            wrote = true;
        }
        if tcb.fin_rcvd && data_end.bytes_since(a.seq_at(a.rec.committed)) == 0 {
            a.rec.fin_committed = true;
        }
        Ok(wrote)
    }

    fn open(&mut self, id: u16, tcb: &Tcb) -> Result<Active, SinkError> {
        let path = self.dir.join(sink_file_name(tcb.remote_ip, tcb.remote_port, tcb.irs.0));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .read(true)
            .open(&path)
            .map_err(|source| SinkError::Io(crate::error::IoError { what: "creating sink file", path: path.clone(), source }))?;
        tracing::info!(id, peer = %format!("{}:{}", tcb.remote_ip, tcb.remote_port), irs = tcb.irs.0,
            path = %path.display(), "sink follows a new connection");
        self.shared.stats.lock().unwrap_or_else(|p| p.into_inner()).conns_seen += 1;
        // Everything below R was released, so committed — by us, or by the
        // primary before a failover (invariant 3: a promoted card resumes
        // each connection at R, and the shared store already holds the
        // bytes below it). A fresh connection has R = irs + 1: offset 0.
        let data_start = tcb.irs + 1;
        let fin_released = tcb.fin_rcvd && tcb.rel == tcb.rcv_nxt && data_start.before(tcb.rel);
        let released_bytes = if data_start.before(tcb.rel) { tcb.rel.bytes_since(data_start) - fin_released as u32 } else { 0 };
        if released_bytes > 0 {
            tracing::info!(id, released_bytes, fin_released, "sink resumes a connection at its released point");
        }
        Ok(Active {
            // A standby that keeps its own store gets this connection's
            // bytes from offset 0: a sink started after a promotion or a
            // resync cannot know what that standby already holds.
            shipped: 0,
            r_written: None,
            rec: ConnRecord {
                id,
                key: ConnKey::of(tcb),
                path,
                committed: released_bytes as u64,
                released: released_bytes as u64,
                fin_committed: fin_released,
                fin_released,
                closed: false,
                aborted: false,
                last_state: tcb.state.rfc_name().to_string(),
            },
            file,
            irs: tcb.irs,
            last: tcb.clone(),
        })
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
        self.shared.ledger().upsert(&a.rec);
    }

    /// The releases this pass may write: every connection whose committed
    /// point is ahead of its last release (claim 2: R = irs + 1 + committed,
    /// +1 once the FIN is committed), and every held SYN-ACK (R = irs + 1).
    fn plan_releases(&self, changed: &[(u16, Tcb)]) -> Vec<PlannedRelease> {
        // A replicated store under a waiting gate: R covers only bytes the
        // standby is sent (and, by the wait, acknowledges) for its own disk.
        let shipped_only = self.replica.as_ref().is_some_and(|g| g.ship_data && g.wait);
        let mut plan: Vec<PlannedRelease> = self
            .active
            .iter()
            .filter_map(|(id, a)| {
                let port = a.rec.key.local_port;
                let upto = if shipped_only && self.replica_gate_on(port) { a.rec.committed.min(a.shipped) } else { a.rec.committed };
                let past_fin = a.rec.fin_committed && !a.rec.fin_released && upto == a.rec.committed;
                (upto > a.rec.released || past_fin).then(|| PlannedRelease {
                    id: *id,
                    port,
                    r: a.seq_at(upto) + past_fin as u32,
                    upto,
                    past_fin,
                    synack: false,
                })
            })
            .collect();
        if self.replica.as_ref().is_some_and(|g| g.hold_synack) {
            // A held SYN-ACK: the card keeps R at irs until we move it.
            plan.extend(changed.iter().filter(|(_, t)| t.state == TcpState::SynReceived && t.rel == t.irs).map(
                |(id, t)| PlannedRelease { id: *id, port: t.local_port, r: t.irs + 1, upto: 0, past_fin: false, synack: true },
            ));
        }
        plan.sort_by_key(|p| p.id);
        plan
    }

    /// With `after-data` (claim 30), whether TCB `id` as `tcb` may go to
    /// the standby: a connection already replicated always, a new one only
    /// once its peer sent data (or its FIN) past the SYN — never in
    /// SYN-RECEIVED — and a slot's closing only if its connection went.
    fn replicates(&self, id: u16, tcb: &Tcb) -> bool {
        if !self.replica.as_ref().is_some_and(|g| g.after_data) {
            return true;
        }
        match (tcb.state, self.copied.get(&id)) {
            (_, Some(key)) if *key == ConnKey::of(tcb) => true,
            (TcpState::Closed, copied) => copied.is_some(),
            (TcpState::Listen | TcpState::SynReceived, _) => false,
            _ => tcb.rcv_nxt != tcb.irs + 1,
        }
    }

    /// `store = "replicated"`: ship this pass's copies as read (their
    /// rcv_nxt covers what was committed), then every connection's
    /// committed bytes the standby's store has not been sent, from the
    /// sink's own fsynced file, at most [`DATA_PER_CONN_PER_PASS`] each.
    /// Returns the last sequence queued (0: none), or `None` if the link
    /// refused: then nothing may be released. A full sync since the last
    /// pass (a new sync generation) starts every connection over from 0.
    fn ship_ahead_of_release(&mut self, changed: &[(u16, Tcb)]) -> Option<u64> {
        let Some(gate) = self.replica.as_ref().filter(|g| g.ship_data) else { return Some(0) };
        let link = gate.link.clone();
        let generation = link.sync_generation();
        if generation != self.sync_generation {
            self.sync_generation = generation;
            for a in self.active.values_mut() {
                a.shipped = 0;
            }
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
        let ids: Vec<u16> = self.active.iter().filter(|(_, a)| a.shipped < a.rec.committed).map(|(id, _)| *id).collect();
        for id in ids {
            let a = self.active.get_mut(&id).expect("listed above");
            let until = a.rec.committed.min(a.shipped + DATA_PER_CONN_PER_PASS);
            while a.shipped < until {
                let n = (until - a.shipped).min(DATA_CHUNK as u64) as usize;
                let mut bytes = vec![0u8; n];
                if let Err(e) = a.file.read_exact_at(&mut bytes, a.shipped) {
                    tracing::error!(id, path = %a.rec.path.display(), error = %e, "reading committed bytes to ship to the standby's store");
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
        Some(last)
    }

    /// `tcb` as a copy for the standby: its R raised to the last one this
    /// sink wrote for the connection, if the card's TCB does not show it yet.
    fn covering_release(&self, id: u16, tcb: &Tcb) -> Tcb {
        let mut copy = tcb.clone();
        let written = self.active.get(&id).filter(|a| a.rec.key == ConnKey::of(tcb)).and_then(|a| a.r_written);
        if let Some(r) = written.filter(|r| copy.rel.before(*r)) {
            copy.rel = r;
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
    /// [`Sink::ship_ahead_of_release`] queued); returns whether the
    /// planned releases may be written.
    fn replica_gate(&mut self, changed: &[(u16, Tcb)], plan: &[PlannedRelease], ahead: u64) -> bool {
        let Some(gate) = &self.replica else { return true };
        let mut copies: std::collections::BTreeMap<u16, Tcb> =
            changed.iter().filter(|(id, t)| self.replicates(*id, t)).map(|(id, t)| (*id, self.covering_release(*id, t))).collect();
        for p in plan {
            let base = copies.get(&p.id).cloned().or_else(|| self.active.get(&p.id).map(|a| a.last.clone()));
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
        if plan.is_empty() {
            return true;
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
    fn release_all(&mut self, plan: &[PlannedRelease]) -> Result<bool, SinkError> {
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

/// `fdatasync` every file, concurrently when there is more than one.
fn sync_all(files: &[(&File, &Path)]) -> Result<(), SinkError> {
    let sync = |(file, path): &(&File, &Path)| {
        file.sync_data().map_err(|source| SinkError::Io(crate::error::IoError { what: "fsync of", path: path.to_path_buf(), source }))
    };
    if files.len() <= 1 {
        return files.iter().try_for_each(sync);
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = files.iter().map(|f| s.spawn(move || sync(f))).collect();
        handles.into_iter().try_for_each(|h| {
            h.join().unwrap_or_else(|_| {
                Err(SinkError::Io(crate::error::IoError { what: "fsync thread panicked for", path: PathBuf::new(), source: std::io::Error::other("panic") }))
            })
        })
    })
}

/// File name of a connection's sink file.
pub fn sink_file_name(remote_ip: Ipv4Addr, remote_port: u16, irs: u32) -> String {
    format!("conn-{remote_ip}-{remote_port}-{irs:08x}.bin")
}

/// The sink file of the most recent connection from `remote_ip:remote_port`
/// in `dir`: the name also carries the peer's ISN, which only the card saw,
/// so a reader that knows only the client's address looks it up by prefix.
pub fn find_sink_file(dir: &Path, remote_ip: Ipv4Addr, remote_port: u16) -> Option<PathBuf> {
    let prefix = format!("conn-{remote_ip}-{remote_port}-");
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(&prefix)))
        .collect();
    found.sort();
    found.pop()
}

/// Why the standby's own store did not take stream bytes.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Io(#[from] crate::error::IoError),
    #[error(
        "{path}: bytes at offset {offset} would leave a hole after the {len} bytes stored; \
         the primary ships each connection's bytes in order from offset 0"
    )]
    Gap { path: PathBuf, offset: u64, len: u64 },
}

/// The standby's own copy of the sink's store (`store = "replicated"`):
/// the stream bytes that arrive on the replication link, written at their
/// offset into the file the sink would write for that connection
/// ([`sink_file_name`]) in this daemon's `sink_dir`, so that after a
/// promotion this daemon's sink continues the same files — every byte
/// below R already on its own disk (invariant 3).
pub struct StoreFiles {
    dir: PathBuf,
    open: HashMap<ConnKey, (File, PathBuf)>,
    /// Written since the last [`StoreFiles::sync`].
    dirty: Vec<ConnKey>,
}

/// Files [`StoreFiles`] keeps open between syncs; beyond, clean ones close.
const STORE_OPEN_FILES: usize = 128;

impl StoreFiles {
    pub fn new(dir: &Path) -> Result<StoreFiles, StoreError> {
        std::fs::create_dir_all(dir).map_err(crate::error::io("creating the standby's store directory", dir))?;
        Ok(StoreFiles { dir: dir.to_path_buf(), open: HashMap::new(), dirty: Vec::new() })
    }

    /// Write `bytes` at stream `offset` of the connection `tcb` (not yet
    /// durable: [`StoreFiles::sync`]). Refuses an offset past the end of
    /// what is stored: the bytes before it would be missing.
    pub fn write_at(&mut self, tcb: &Tcb, offset: u64, bytes: &[u8]) -> Result<(), StoreError> {
        let key = ConnKey::of(tcb);
        if !self.open.contains_key(&key) {
            let path = self.dir.join(sink_file_name(tcb.remote_ip, tcb.remote_port, tcb.irs.0));
            let file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(crate::error::io("creating the standby's store file", &path))?;
            self.open.insert(key, (file, path));
        }
        let (file, path) = self.open.get(&key).expect("opened above");
        let len = file.metadata().map_err(crate::error::io("reading the size of", path))?.len();
        if offset > len {
            return Err(StoreError::Gap { path: path.clone(), offset, len });
        }
        file.write_all_at(bytes, offset).map_err(crate::error::io("writing", path))?;
        if !self.dirty.contains(&key) {
            self.dirty.push(key);
        }
        Ok(())
    }

    /// fsync every file written since the last call, in parallel.
    pub fn sync(&mut self) -> Result<(), StoreError> {
        let files: Vec<(&File, &Path)> =
            self.dirty.iter().filter_map(|k| self.open.get(k)).map(|(f, p)| (f, p.as_path())).collect();
        sync_all(&files).map_err(|e| match e {
            SinkError::Io(io) => StoreError::Io(io),
            other => StoreError::Io(crate::error::IoError { what: "fsync of", path: self.dir.clone(), source: std::io::Error::other(other.to_string()) }),
        })?;
        self.dirty.clear();
        if self.open.len() > STORE_OPEN_FILES {
            self.open.clear();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testcard::FakeCard;
    use holdback_driver::MemBar;
    use holdback_regmap::tcb;

    fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("holdback-sink-test-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    const IRS: u32 = 0xFFFF_F000; // the stream crosses the 2^32 wrap
    const PEER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);

    fn conn(w: &mut [u32], rcv_nxt: u32, fin: bool, state: TcpState) {
        tcb::STATE.set(w, state as u32);
        tcb::FIN_RCVD.set(w, fin as u32);
        tcb::REMOTE_IP.set(w, u32::from(PEER));
        tcb::REMOTE_PORT.set(w, 40000);
        tcb::LOCAL_PORT.set(w, 5001);
        tcb::IRS.set(w, IRS);
        tcb::RCV_NXT.set(w, rcv_nxt);
        // A fresh connection's R: nothing released yet (the fake card does
        // not fold release writes back into the TCB).
        tcb::REL.set(w, IRS.wrapping_add(1));
    }

    fn sink_on(fake: &FakeCard, tag: &str) -> (Sink<Arc<MemBar>>, SinkShared, PathBuf) {
        let pump = EventPump::new(fake.card.clone());
        let dir = temp_dir(tag);
        let shared = SinkShared::default();
        (Sink::new(&pump, &dir, shared.clone()).unwrap(), shared, dir)
    }

    #[test]
    fn commits_at_offsets_releases_after_fsync_and_past_the_fin() {
        let fake = FakeCard::new();
        let (mut sink, shared, dir) = sink_on(&fake, "basic");
        let ring = fake.rx_ring_bytes() as usize;
        let data: Vec<u8> = (0..20_000u32).map(|i| (i * 7 + 3) as u8).collect();

        fake.set_tcb(7, |w| conn(w, IRS.wrapping_add(1), false, TcpState::SynReceived));
        sink.step().unwrap();
        assert!(shared.ledger().records().is_empty(), "no record before ESTABLISHED");

        // Three rounds of up to one ring each, wrapping the ring and the sequence space.
        let mut off = 0usize;
        for chunk in [5000usize, ring, 20_000 - 5000 - ring] {
            fake.put_ring(7, off as u64, &data[off..off + chunk]);
            off += chunk;
            fake.set_tcb(7, |w| conn(w, IRS.wrapping_add(1 + off as u32), false, TcpState::Established));
            sink.step().unwrap();
            assert_eq!(fake.released(7), IRS.wrapping_add(1 + off as u32), "released after {off} bytes");
        }
        // The FIN: released one past the data once everything is committed.
        fake.set_tcb(7, |w| conn(w, IRS.wrapping_add(2 + off as u32), true, TcpState::CloseWait));
        sink.step().unwrap();
        assert_eq!(fake.released(7), IRS.wrapping_add(2 + off as u32));
        let rec = shared.ledger().by_peer(PEER, 40000).cloned().unwrap();
        assert!(rec.fin_committed && rec.fin_released && !rec.closed, "{rec:?}");
        assert_eq!(std::fs::read(&rec.path).unwrap(), data);

        fake.set_tcb(7, |w| tcb::STATE.set(w, TcpState::Closed as u32));
        sink.step().unwrap();
        let rec = shared.ledger().by_peer(PEER, 40000).cloned().unwrap();
        assert!(rec.closed && !rec.aborted, "{rec:?}");
        assert_eq!(sink.shared().stats().bytes_committed, 20_000);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn paused_sink_commits_but_does_not_release() {
        let fake = FakeCard::new();
        let (mut sink, shared, dir) = sink_on(&fake, "pause");
        fake.put_ring(3, 0, &[0xA5u8; 3000]);
        fake.set_tcb(3, |w| conn(w, IRS.wrapping_add(1 + 1000), false, TcpState::Established));
        sink.step().unwrap();
        assert_eq!(fake.released(3), IRS.wrapping_add(1001));

        shared.set_paused(true);
        fake.set_tcb(3, |w| conn(w, IRS.wrapping_add(1 + 3000), false, TcpState::Established));
        sink.step().unwrap();
        assert_eq!(fake.released(3), IRS.wrapping_add(1001), "no release while paused");
        assert_eq!(shared.ledger().by_peer(PEER, 40000).unwrap().committed, 3000);

        shared.set_paused(false);
        sink.step().unwrap();
        assert_eq!(fake.released(3), IRS.wrapping_add(3001), "resume releases everything committed");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn reset_connection_is_recorded_as_aborted_and_slot_reuse_starts_a_new_record() {
        let fake = FakeCard::new();
        let (mut sink, shared, dir) = sink_on(&fake, "reuse");
        fake.put_ring(2, 0, &[1u8; 100]);
        fake.set_tcb(2, |w| conn(w, IRS.wrapping_add(101), false, TcpState::Established));
        sink.step().unwrap();
        // Same slot, new connection (another port) without a CLOSED in between.
        fake.set_tcb(2, |w| {
            conn(w, IRS.wrapping_add(1), false, TcpState::Established);
            tcb::REMOTE_PORT.set(w, 40001);
        });
        sink.step().unwrap();
        let ledger = shared.ledger();
        let old = ledger.by_peer(PEER, 40000).unwrap();
        assert!(old.closed && old.aborted && old.committed == 100, "{old:?}");
        let new = ledger.by_peer(PEER, 40001).unwrap();
        assert!(!new.closed && new.committed == 0, "{new:?}");
        drop(ledger);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Invariant 3 on the host side: a promoted card's connection is first
    /// seen with R past irs+1 (the primary released up to there, so the
    /// shared store holds those bytes); the sink resumes at R, reads the
    /// ring only from there, and a released FIN stays released.
    #[test]
    fn a_connection_first_seen_after_promotion_resumes_at_its_released_point() {
        let fake = FakeCard::new();
        let (mut sink, shared, dir) = sink_on(&fake, "resume");
        fake.put_ring(4, 3000, &[0x5Au8; 500]);
        fake.set_tcb(4, |w| {
            conn(w, IRS.wrapping_add(1 + 3500), false, TcpState::Established);
            tcb::REL.set(w, IRS.wrapping_add(1 + 3000));
        });
        sink.step().unwrap();
        let rec = shared.ledger().by_peer(PEER, 40000).cloned().unwrap();
        assert_eq!((rec.committed, rec.released), (3500, 3500), "{rec:?}");
        assert_eq!(fake.released(4), IRS.wrapping_add(3501));
        let file = std::fs::read(&rec.path).unwrap();
        assert_eq!(file.len(), 3500);
        assert!(file[..3000].iter().all(|b| *b == 0) && file[3000..].iter().all(|b| *b == 0x5A), "only bytes from R were read");
        // Another slot: everything including the FIN was released before the failover.
        fake.set_tcb(5, |w| {
            conn(w, IRS.wrapping_add(2 + 100), true, TcpState::LastAck);
            tcb::REMOTE_PORT.set(w, 40005);
            tcb::REL.set(w, IRS.wrapping_add(2 + 100));
        });
        sink.step().unwrap();
        let rec = shared.ledger().by_peer(PEER, 40005).cloned().unwrap();
        assert!(rec.fin_committed && rec.fin_released && rec.committed == 100, "{rec:?}");
        assert_eq!(fake.released(5), 0, "nothing new to release");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A waiting replica gate whose standby never answers: nothing listens
    /// on loopback's discard port, so the link stays down. Call inside a
    /// tokio runtime; keep the link's event receiver for the test's length.
    fn gate_without_a_standby() -> (ReplicaGate, tokio::sync::mpsc::Receiver<crate::replication::LinkEvent>) {
        let mut cfg = crate::replication::LinkConfig::new(b"0123456789abcdef0123456789abcdef".to_vec(), 1);
        cfg.reconnect_delay = Duration::from_secs(60);
        let (link, events) = Primary::start(cfg, "127.0.0.1:9".parse().unwrap(), 1).unwrap();
        let gate = ReplicaGate {
            link: Arc::new(link),
            wait: true,
            timeout: Duration::from_millis(50),
            hold_synack: true,
            durable: true,
            ship_data: false,
            after_data: false,
        };
        (gate, events)
    }

    /// Invariant 2: with the replica gate waiting and no standby reachable,
    /// the sink commits but writes no release (the card ACKs nothing new).
    #[test]
    fn replica_gate_without_a_standby_commits_but_releases_nothing() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let _enter = runtime.enter();
        let fake = FakeCard::new();
        let (sink, shared, dir) = sink_on(&fake, "gate");
        let (gate, _events) = gate_without_a_standby();
        let mut sink = sink.with_replica_gate(gate);
        fake.put_ring(6, 0, &[7u8; 1000]);
        fake.set_tcb(6, |w| conn(w, IRS.wrapping_add(1 + 1000), false, TcpState::Established));
        sink.step().unwrap();
        assert_eq!(shared.ledger().by_peer(PEER, 40000).unwrap().committed, 1000, "committed");
        assert_eq!(fake.released(6), 0, "no release without the standby's acknowledgement");
        // A held SYN-ACK stays held too.
        fake.set_tcb(8, |w| {
            conn(w, IRS.wrapping_add(1), false, TcpState::SynReceived);
            tcb::REMOTE_PORT.set(w, 40008);
            tcb::REL.set(w, IRS);
        });
        sink.step().unwrap();
        assert_eq!(fake.released(8), 0, "SYN-ACK held until the standby has the TCB");
        assert!(shared.stats().replica_waits_failed >= 2);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Gates per listening port: with the replica gate waiting and no
    /// standby reachable, a connection to a port whose gates name
    /// `replica` releases nothing, while one to a port with `app` alone is
    /// committed and released as without a pair; its held SYN-ACK too.
    #[test]
    fn gates_apply_per_listening_port() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let _enter = runtime.enter();
        let fake = FakeCard::new();
        let (sink, shared, dir) = sink_on(&fake, "port-gates");
        let (gate, _events) = gate_without_a_standby();
        let mut sink = sink
            .with_replica_gate(gate)
            .with_port_gates(vec![Gate::App, Gate::Replica], vec![PortGates { port: 6000, gates: vec![Gate::App] }]);
        // Slot 6 on 5001 (the default gates: app + replica), slot 7 on 6000 (app alone).
        fake.put_ring(6, 0, &[7u8; 1000]);
        fake.set_tcb(6, |w| conn(w, IRS.wrapping_add(1 + 1000), false, TcpState::Established));
        fake.put_ring(7, 0, &[9u8; 1200]);
        fake.set_tcb(7, |w| {
            conn(w, IRS.wrapping_add(1 + 1200), false, TcpState::Established);
            tcb::REMOTE_PORT.set(w, 40007);
            tcb::LOCAL_PORT.set(w, 6000);
        });
        sink.step().unwrap();
        assert_eq!(shared.ledger().by_peer(PEER, 40000).unwrap().committed, 1000);
        assert_eq!(fake.released(6), 0, "the replica gate holds 5001's release");
        assert_eq!(shared.ledger().by_peer(PEER, 40007).unwrap().released, 1200);
        assert_eq!(fake.released(7), IRS.wrapping_add(1 + 1200), "6000 has no replica gate: released once committed");
        assert_eq!(shared.stats().fsyncs, 2, "both ports have the app gate");
        // Held SYN-ACKs: released at once on 6000, held on 5001.
        for (slot, port, remote) in [(8u32, 5001u16, 40008u16), (9, 6000, 40009)] {
            fake.set_tcb(slot, |w| {
                conn(w, IRS.wrapping_add(1), false, TcpState::SynReceived);
                tcb::REMOTE_PORT.set(w, u32::from(remote));
                tcb::LOCAL_PORT.set(w, u32::from(port));
                tcb::REL.set(w, IRS);
            });
        }
        sink.step().unwrap();
        assert_eq!(fake.released(8), 0, "5001's SYN-ACK waits for the standby");
        assert_eq!(fake.released(9), IRS.wrapping_add(1), "6000's SYN-ACK goes");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A standby on loopback whose hook keeps the copies, writes stream
    /// bytes into its own store and can be held (installs block).
    #[derive(Clone)]
    struct LoopbackStandby {
        copies: Arc<Mutex<HashMap<u16, Tcb>>>,
        files: Arc<Mutex<StoreFiles>>,
        block: Arc<AtomicBool>,
    }

    impl crate::replication::StoreHook for LoopbackStandby {
        fn install(&mut self, id: u16, tcb: &Tcb) -> Result<(), crate::replication::HookError> {
            while self.block.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(1));
            }
            self.copies.lock().unwrap().insert(id, tcb.clone());
            Ok(())
        }
        fn remove(&mut self, id: u16) -> Result<(), crate::replication::HookError> {
            self.copies.lock().unwrap().remove(&id);
            Ok(())
        }
        fn write_data(&mut self, _id: u16, tcb: &Tcb, offset: u64, bytes: &[u8]) -> Result<(), crate::replication::HookError> {
            Ok(self.files.lock().unwrap().write_at(tcb, offset, bytes)?)
        }
        fn sync_data(&mut self) -> Result<(), crate::replication::HookError> {
            Ok(self.files.lock().unwrap().sync()?)
        }
    }

    /// A sink on a fake card whose replica gate reaches a real standby over
    /// loopback, which keeps its copies and its own store.
    struct GatedSink {
        _runtime: tokio::runtime::Runtime,
        sink: Sink<Arc<MemBar>>,
        shared: SinkShared,
        dir: PathBuf,
        standby: crate::replication::Standby,
        hook: LoopbackStandby,
        store: PathBuf,
    }

    impl GatedSink {
        /// One pass while the standby's installs are held (`hook.block`
        /// set): returns TCB `id`'s release register 300 ms into the pass,
        /// then lets the standby store.
        fn step_while_the_standby_holds(&mut self, fake: &FakeCard, id: u32) -> u32 {
            let (sink, block) = (&mut self.sink, &self.hook.block);
            std::thread::scope(|s| {
                let h = s.spawn(|| {
                    std::thread::sleep(Duration::from_millis(300));
                    let r = fake.released(id);
                    block.store(false, Ordering::SeqCst);
                    r
                });
                sink.step().unwrap();
                h.join().unwrap()
            })
        }
    }

    fn gated_sink(fake: &FakeCard, tag: &str, replicate_after_data: bool) -> GatedSink {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let store = temp_dir(&format!("{tag}-standby"));
        let hook = LoopbackStandby {
            copies: Default::default(),
            files: Arc::new(Mutex::new(StoreFiles::new(&store).unwrap())),
            block: Default::default(),
        };
        let cfg = crate::replication::LinkConfig::new(b"0123456789abcdef0123456789abcdef".to_vec(), 1);
        let (standby, _sev) =
            runtime.block_on(crate::replication::Standby::bind(cfg.clone(), "127.0.0.1:0".parse().unwrap(), 1, hook.clone())).unwrap();
        let (link, mut events) = {
            let _enter = runtime.enter();
            Primary::start(cfg, standby.local_addr(), 1).unwrap()
        };
        runtime.block_on(async {
            while !matches!(events.recv().await, Some(crate::replication::LinkEvent::Synced { .. })) {}
        });
        let (sink, shared, dir) = sink_on(fake, tag);
        let sink = sink.with_replica_gate(ReplicaGate {
            link: Arc::new(link),
            wait: true,
            timeout: Duration::from_secs(5),
            hold_synack: !replicate_after_data,
            durable: true,
            ship_data: true,
            after_data: replicate_after_data,
        });
        GatedSink { _runtime: runtime, sink, shared, dir, standby, hook, store }
    }

    /// Invariant 3 across two hosts (`store = "replicated"`): a release is
    /// written only once the standby's own store holds every byte below it.
    #[test]
    fn a_release_waits_until_the_standbys_own_store_holds_the_bytes_below_it() {
        let fake = FakeCard::new();
        let mut g = gated_sink(&fake, "store", false);
        let data: Vec<u8> = (0..12_000u32).map(|i| (i * 31 + 1) as u8).collect();
        let mut off = 0usize;
        for chunk in [7000usize, 5000] {
            fake.put_ring(3, off as u64, &data[off..off + chunk]);
            off += chunk;
            fake.set_tcb(3, |w| conn(w, IRS.wrapping_add(1 + off as u32), false, TcpState::Established));
            g.sink.step().unwrap();
            assert_eq!(fake.released(3), IRS.wrapping_add(1 + off as u32), "released after {off} bytes");
            let stored = std::fs::read(g.store.join(sink_file_name(PEER, 40000, IRS))).unwrap();
            assert_eq!(stored, data[..off], "the standby's store holds every released byte");
            assert_eq!(g.standby.tcbs()[&3].rel, SeqNum(IRS.wrapping_add(1 + off as u32)), "and the copy with that R");
        }
        // The standby holds its installs: nothing more is released.
        g.hook.block.store(true, Ordering::SeqCst);
        fake.put_ring(3, off as u64, &[9u8; 100]);
        fake.set_tcb(3, |w| conn(w, IRS.wrapping_add(1 + off as u32 + 100), false, TcpState::Established));
        let blocked = g.step_while_the_standby_holds(&fake, 3);
        assert_eq!(blocked, IRS.wrapping_add(1 + off as u32), "no release while the standby has not stored the bytes");
        assert_eq!(fake.released(3), IRS.wrapping_add(1 + off as u32 + 100));
        assert_eq!(g.shared.stats().bytes_committed, 12_100);
        // Invariant 2: a copy read before the card shows the last release
        // (this fake card never folds release writes into the TCB) still
        // carries that R, never a lower one.
        g.shared.set_paused(true);
        fake.put_ring(3, off as u64 + 100, &[8u8; 50]);
        fake.set_tcb(3, |w| conn(w, IRS.wrapping_add(1 + off as u32 + 150), false, TcpState::Established));
        g.sink.step().unwrap();
        // Paused, the copies go without a wait for their acknowledgement.
        let deadline = Instant::now() + Duration::from_secs(5);
        while g.standby.tcbs()[&3].rcv_nxt != SeqNum(IRS.wrapping_add(1 + off as u32 + 150)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let copy = g.standby.tcbs()[&3].clone();
        assert_eq!((copy.rcv_nxt, copy.rel), (SeqNum(IRS.wrapping_add(1 + off as u32 + 150)), SeqNum(IRS.wrapping_add(1 + off as u32 + 100))));
        let _ = std::fs::remove_dir_all(&g.dir);
        let _ = std::fs::remove_dir_all(&g.store);
    }

    /// Claim 30 as written: with `after-data` no SYN-RECEIVED copy crosses
    /// the link, and a connection's first copy goes once its peer sent
    /// data; with `at-setup` (claim 31) the SYN-ACK's release waits until
    /// the standby stored the SYN-RECEIVED copy.
    #[test]
    fn after_data_ships_no_syn_received_copy_and_at_setup_holds_the_synack_until_stored() {
        let syn = |w: &mut [u32]| {
            conn(w, IRS.wrapping_add(1), false, TcpState::SynReceived);
            tcb::REL.set(w, IRS);
        };
        let fake = FakeCard::new();
        let mut g = gated_sink(&fake, "after-data", true);
        fake.set_tcb(5, syn);
        g.sink.step().unwrap();
        fake.set_tcb(5, |w| {
            conn(w, IRS.wrapping_add(1), false, TcpState::Established);
            tcb::REL.set(w, IRS.wrapping_add(1));
        });
        g.sink.step().unwrap();
        let link = g.sink.replica.as_ref().unwrap().link.clone();
        assert_eq!(link.stats().copies_by_state.get("SYN-RECEIVED"), None, "{:?}", link.stats().copies_by_state);
        assert!(!g.standby.tcbs().contains_key(&5), "no copy before data: {:?}", g.standby.tcbs());
        assert_eq!(fake.released(5), 0, "after-data does not hold the SYN-ACK");
        fake.put_ring(5, 0, &[4u8; 500]);
        fake.set_tcb(5, |w| conn(w, IRS.wrapping_add(501), false, TcpState::Established));
        g.sink.step().unwrap();
        assert_eq!(g.standby.tcbs()[&5].rcv_nxt, SeqNum(IRS.wrapping_add(501)), "the first copy came with the first data");
        assert_eq!(fake.released(5), IRS.wrapping_add(501));
        assert_eq!(link.stats().copies_by_state.get("SYN-RECEIVED"), None);
        let _ = std::fs::remove_dir_all(&g.dir);
        let _ = std::fs::remove_dir_all(&g.store);

        let fake = FakeCard::new();
        let mut g = gated_sink(&fake, "at-setup", false);
        g.hook.block.store(true, Ordering::SeqCst);
        fake.set_tcb(6, |w| {
            syn(w);
            tcb::REMOTE_PORT.set(w, 40006);
        });
        let held = g.step_while_the_standby_holds(&fake, 6);
        assert_eq!(held, 0, "the SYN-ACK stays held while the standby has not stored the TCB");
        assert_eq!(fake.released(6), IRS.wrapping_add(1), "then released");
        assert_eq!(g.hook.copies.lock().unwrap()[&6].state, TcpState::SynReceived, "the standby stored it in SYN-RECEIVED");
        let link = g.sink.replica.as_ref().unwrap().link.clone();
        assert!(link.stats().copies_by_state.get("SYN-RECEIVED").is_some_and(|n| *n >= 1), "{:?}", link.stats().copies_by_state);
        let _ = std::fs::remove_dir_all(&g.dir);
        let _ = std::fs::remove_dir_all(&g.store);
    }

    #[test]
    fn overrun_is_an_error_not_silent_corruption() {
        let fake = FakeCard::new();
        let (mut sink, _shared, dir) = sink_on(&fake, "overrun");
        let ring = fake.rx_ring_bytes();
        fake.set_tcb(1, |w| conn(w, IRS.wrapping_add(2 + ring), false, TcpState::Established));
        assert!(matches!(sink.step(), Err(SinkError::RingOverrun { .. })));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
