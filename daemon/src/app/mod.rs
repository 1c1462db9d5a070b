//! The application interface: what a program behind the card sees of its
//! connections (docs/app.md).
//!
//! The daemon owns the card, the event queue, the failover pair and the
//! release gates; an [`Application`] owns what it does with the bytes. The
//! daemon's [`AppHost`] drives it in passes: it takes the connections whose
//! TCBs changed from the card's event records, tells the application about
//! each new one ([`Application::accept`]), then hands it an [`AppIo`] with
//! which it reads new bytes at their stream offset, commits up to an
//! offset, and writes into the connection's transmit ring. After the pass
//! the host writes the release registers: a commit passes the `app` gate,
//! and the release then follows the connection's configured gates (the
//! `replica` gate waits for the standby) exactly as for the built-in sink.
//!
//! Offsets are stream offsets: 0 is the first payload byte the peer sent
//! (sequence number irs + 1), and the same in the sending direction (0 is
//! at iss + 1).
//!
//! What the card cannot do returns [`AppError::Unsupported`], never a
//! pretended success. [`AppIo::connect`] opens a connection from the card
//! (active open); it then reaches the application as any other.
//!
//! The built-in applications are [`crate::sink`] (each stream into a file,
//! fsynced before release) and [`crate::echo`] (every byte written back);
//! `[app] kind` in the daemon's config picks one, and
//! [`crate::service::run_with`] runs the daemon with any other.
pub mod host;

use std::net::Ipv4Addr;
use std::path::PathBuf;

use holdback_driver::{CardError, SeqNum};
use serde::{Deserialize, Serialize};

pub use host::{AppHost, ConnKey, ConnRecord, Ledger, ReplicaGate, SinkShared, SinkStats, StandbyCaughtUp};

use crate::config::Config;

/// The built-in applications (`[app] kind`, `holdback lab --app`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum AppKind {
    /// Each connection's stream into its own file under `sink_dir`, fsynced
    /// before the release (the `app` gate is the disk).
    #[default]
    Sink,
    /// Every byte read is written back to the peer; committed once queued
    /// in the transmit ring.
    Echo,
}

impl AppKind {
    pub fn name(self) -> &'static str {
        match self {
            AppKind::Sink => "sink",
            AppKind::Echo => "echo",
        }
    }

    /// Whether the application sends payload: then its pair's link must
    /// carry the transmit ring's bytes (invariant 9).
    pub fn sends(self) -> bool {
        self == AppKind::Echo
    }
}

/// An operation of the interface, for errors and logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AppOp {
    Accept,
    Connect,
    Read,
    Commit,
    Write,
    Close,
    Abort,
}

impl std::fmt::Display for AppOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AppOp::Accept => "accept",
            AppOp::Connect => "connect",
            AppOp::Read => "read",
            AppOp::Commit => "commit",
            AppOp::Write => "write",
            AppOp::Close => "close",
            AppOp::Abort => "abort",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("card access")]
    Card(#[from] CardError),
    #[error(transparent)]
    Io(#[from] crate::error::IoError),
    #[error(
        "connection {id} ({peer}): {new} new bytes exceed the {ring}-byte ring; \
         the core accepted beyond released + ring (rcv_nxt {rcv_nxt}, committed to {committed})"
    )]
    RingOverrun { id: u16, peer: String, new: u32, ring: u32, rcv_nxt: SeqNum, committed: u64 },
    /// The card has no way to do this yet; nothing was done.
    #[error("{op} is not supported by this card: {why}")]
    Unsupported { op: AppOp, why: &'static str },
    #[error("connect to {remote} from port {local_port}: a connection with that tuple is open or opening")]
    TupleInUse { remote: std::net::SocketAddrV4, local_port: u16 },
    #[error("{op} on connection {id}: no open connection has that id")]
    NotOpen { op: AppOp, id: u16 },
    #[error("write on connection {id}: it may not send in {state}")]
    NotWritable { id: u16, state: &'static str },
    #[error("connection {id}: commit to stream offset {upto} is outside [{committed}, {read}] (the committed point and the bytes read so far)")]
    CommitOutOfRange { id: u16, upto: u64, committed: u64, read: u64 },
    /// The application's own failure, with its cause.
    #[error("the {app} application: {what}")]
    App {
        app: &'static str,
        what: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

/// One connection as the application sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conn {
    /// The card's TCB slot; reused by later connections, so [`Conn::key`]
    /// names the connection.
    pub id: u16,
    pub key: ConnKey,
    /// The stream offset the application starts at: 0 for a new
    /// connection; after a failover the released point, as every byte below
    /// it was committed by the application on the failed host (with a
    /// shared or replicated store those bytes are in that store).
    pub start: u64,
}

impl Conn {
    pub fn remote_ip(&self) -> Ipv4Addr {
        self.key.remote_ip
    }
    pub fn remote_port(&self) -> u16 {
        self.key.remote_port
    }
    pub fn local_port(&self) -> u16 {
        self.key.local_port
    }
}

/// New bytes of one connection, as [`AppIo::read`] returns them.
#[derive(Debug, PartialEq, Eq)]
pub struct Chunk<'a> {
    /// Stream offset of `bytes[0]`.
    pub offset: u64,
    pub bytes: &'a [u8],
    /// The peer's FIN follows `bytes`: nothing more will come.
    pub fin: bool,
}

impl Chunk<'_> {
    /// The stream offset just past these bytes.
    pub fn end(&self) -> u64 {
        self.offset + self.bytes.len() as u64
    }
}

/// An application behind the card. The daemon's [`AppHost`] calls it from
/// one thread, one pass at a time: [`Application::accept`] for each new
/// connection, [`Application::pass`] once per pass, [`Application::closed`]
/// when a connection ended.
pub trait Application: Send {
    /// A short name for logs and errors (`sink`, `echo`, `kvlog`).
    fn name(&self) -> &'static str;

    /// A new connection (ESTABLISHED or later; seen first in the card's
    /// event records). Returns where the application keeps the connection's
    /// stream, if it keeps it in a file of its own (the control socket's
    /// connection record shows it).
    fn accept(&mut self, conn: &Conn) -> Result<Option<PathBuf>, AppError>;

    /// One pass: read what [`AppIo::readable`] lists, commit what the
    /// application holds (durably, where [`AppIo::app_gate`] says the
    /// connection's gates include `app`), write replies. Bytes read but not
    /// committed are read again in the next pass.
    fn pass(&mut self, io: &mut AppIo<'_>) -> Result<(), AppError>;

    /// The connection ended: closed after its FIN was released, or (with
    /// `aborted`) reset or timed out before.
    fn closed(&mut self, conn: &Conn, aborted: bool) {
        let _ = (conn, aborted);
    }

    /// Whether the application keeps the committed input in a store of its
    /// own ([`Application::stored`]), which a standby with `store =
    /// "replicated"` gets a copy of. An application that answers its input
    /// and keeps nothing else (the echo) has its state in its output
    /// instead, which the standby holds in its transmit ring before the
    /// input is committed ([`AppIo::commit_after_output`], invariant 9):
    /// it ships no store.
    fn keeps_store(&self) -> bool {
        true
    }

    /// Copies committed bytes `[offset, offset + buf.len())` of `conn` out
    /// of the application's own store, for the standby's store
    /// (`store = "replicated"`). Applications that keep no store of the
    /// stream cannot run in a pair with a replicated store.
    fn stored(&mut self, conn: &Conn, offset: u64, buf: &mut [u8]) -> Result<(), AppError> {
        let _ = (conn, offset, buf);
        Err(AppError::Unsupported { op: AppOp::Read, why: "this application keeps no store to ship to the standby" })
    }
}

/// Everything a new application instance may need; the service makes one
/// each time its application (re)starts (at start, after a promotion).
pub struct AppContext<'a> {
    pub config: &'a Config,
    /// The figures and records the control socket reports.
    pub shared: &'a SinkShared,
}

/// Makes the service's application. The daemon calls it again whenever it
/// restarts the application (after a promotion or a switchover).
pub trait AppFactory: Send + Sync {
    fn make(&self, ctx: &AppContext<'_>) -> Result<Box<dyn Application>, AppError>;
}

impl<F> AppFactory for F
where
    F: Fn(&AppContext<'_>) -> Result<Box<dyn Application>, AppError> + Send + Sync,
{
    fn make(&self, ctx: &AppContext<'_>) -> Result<Box<dyn Application>, AppError> {
        self(ctx)
    }
}

/// The built-in application `[app] kind` names.
#[derive(Clone, Copy, Debug)]
pub struct Builtin(pub AppKind);

impl AppFactory for Builtin {
    fn make(&self, ctx: &AppContext<'_>) -> Result<Box<dyn Application>, AppError> {
        Ok(match self.0 {
            AppKind::Sink => Box::new(crate::sink::FileSink::new(&ctx.config.sink_dir, ctx.shared.clone())?),
            AppKind::Echo => Box::new(crate::echo::Echo::default()),
        })
    }
}

pub use host::AppIo;

#[cfg(test)]
mod tests;
