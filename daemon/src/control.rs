//! The control socket: typed requests and responses shared by the daemon and
//! the CLI, one JSON object per line over a Unix stream socket.
//!
//! ```text
//! → {"request":"status"}
//! ← {"response":"status","pid":…,"card":{…},…}
//! → not json
//! ← {"response":"error","message":"bad request: …","causes":[]}
//! ```
//!
//! The server ([`serve`] / [`ControlServer`]) guards its socket with a lock
//! file (`<socket>.lock`, `flock`ed for the server's lifetime, holding its
//! pid), so a second daemon on the same path is refused instead of stealing
//! the socket; a socket file left by a crashed daemon is replaced. The socket
//! appears at its path already with mode 0600 (bound under a temporary name,
//! chmod'ed, renamed). A line that is not a request gets an error reply and
//! the connection and the server keep serving.
use std::fs::{self, File, OpenOptions};
use std::future::Future;
use std::io::{Read, Seek, Write};
use std::net::Ipv4Addr;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use holdback_driver::{CardInfo, CardStatus, Stats, Tcb};

use crate::sink::{ConnRecord, SinkStats};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

/// Longest request line the server reads; longer lines are refused (and the
/// connection closed, since the rest of the line cannot be resynchronised).
pub const MAX_LINE: usize = 64 * 1024;

/// What the CLI asks the daemon.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// Daemon and card status.
    Status,
    /// Every open connection's TCB.
    Conns,
    /// The card's counters.
    Stats,
    /// The sink's own counters and its record of every connection it has
    /// seen (file, committed, FIN committed): what the lab checks files by.
    Sink,
    /// Stop writing release registers (the sink keeps committing bytes; the
    /// card keeps holding ACKs back at the last released point).
    PauseRelease,
    /// Release again, catching up to everything committed.
    ResumeRelease,
    /// Shut the daemon down cleanly.
    Shutdown,
    /// Promote this standby to active (`holdback promote`; `holdback watch`
    /// sends it when the primary fails): a new epoch, the card resumes every
    /// connection from R (invariant 3) and the sink starts.
    Promote,
    /// Planned switchover, the primary's half (`holdback switchover`): stop
    /// releasing, silence the card, ship a final copy of every connection
    /// and wait for the standby's acknowledgement. Answers
    /// [`Response::HandedOver`]; the card stays silent until the promoted
    /// standby reaches this daemon's listener (it then joins as standby) or
    /// [`Request::ResumeActive`].
    HandOver,
    /// Undo a [`Request::HandOver`] whose takeover did not happen: the card
    /// speaks again and the sink restarts.
    ResumeActive,
    /// Planned switchover, the standby's half: promote, but only if this
    /// standby holds everything `handover` covers and the old card is silent
    /// (`Rules::takes_over`).
    TakeOver { handover: HandOver },
}

/// What a primary reports when it handed over (planned switchover).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandOver {
    /// The epoch the primary held.
    pub epoch: u32,
    /// Replication sequence the standby acknowledged: it covers the final
    /// copy of every connection, with its last released point R.
    pub through: u64,
    /// Connections whose final copy was shipped.
    pub conns: u64,
    /// The primary's card is silent (CTRL.standby).
    pub silent: bool,
    /// When the card went silent (Unix time, microseconds).
    pub silenced_unix_us: u64,
    /// Sink stopped → hand-over acknowledged, microseconds.
    pub took_us: u64,
}

impl Request {
    /// Parse one request line strictly: besides serde's checks, a key the
    /// request does not have is refused (serde ignores extra keys next to a
    /// unit variant's tag, and `{"request":"pause_release","conn":3}` must not
    /// silently pause everything).
    pub fn parse(line: &[u8]) -> Result<Request, String> {
        let value: serde_json::Value = serde_json::from_slice(line).map_err(|e| e.to_string())?;
        let req: Request = serde_json::from_value(value.clone()).map_err(|e| e.to_string())?;
        let known = serde_json::to_value(&req).map_err(|e| e.to_string())?;
        if let (Some(got), Some(known)) = (value.as_object(), known.as_object()) {
            if let Some(extra) = got.keys().find(|k| !known.contains_key(*k)) {
                return Err(format!("unknown field `{extra}` in a `{}` request", known["request"].as_str().unwrap_or("?")));
            }
        }
        Ok(req)
    }
}

/// What the daemon answers. `Error` carries the message and its cause chain.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "response", rename_all = "snake_case", deny_unknown_fields)]
// One response per request line, serialised at once: the size of the
// status variant costs nothing worth a Box in every match.
#[allow(clippy::large_enum_variant)]
pub enum Response {
    Status(StatusReport),
    Conns(ConnsReport),
    Stats { stats: Stats },
    Sink(SinkReport),
    /// The request was carried out (pause, resume, shutdown).
    Done { what: String },
    Error { message: String, causes: Vec<String> },
    /// The answer to [`Request::HandOver`].
    HandedOver(HandOver),
    /// A standby's answer to a [`Request::TakeOver`] it refused: it did not
    /// promote, so the old primary may speak again.
    TakeOverRefused { refusal: crate::pair::decide::TakeOverRefusal },
}

impl Response {
    /// An error reply from an error and its `source()` chain.
    pub fn from_error(e: &(dyn std::error::Error + 'static)) -> Response {
        let mut causes = Vec::new();
        let mut src = e.source();
        while let Some(s) = src {
            causes.push(s.to_string());
            src = s.source();
        }
        Response::Error { message: e.to_string(), causes }
    }

    pub fn error(message: impl Into<String>) -> Response {
        Response::Error { message: message.into(), causes: Vec::new() }
    }
}

/// Answer to [`Request::Status`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    /// `CARGO_PKG_VERSION` of the daemon.
    pub daemon_version: String,
    pub pid: u32,
    pub uptime_ms: u64,
    /// The card backend (`Bar::describe`).
    pub card: String,
    pub info: CardInfo,
    pub status: CardStatus,
    /// Bytes of every connection's receive ring in host memory (`[dma]`).
    #[serde(default)]
    pub rx_ring_bytes: u32,
    /// Release registers are not being written (see [`Request::PauseRelease`]).
    pub release_paused: bool,
    /// The failover pair, when the daemon is one of a pair (`[replication]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pair: Option<PairStatus>,
}

/// A pair member's role.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PairRole {
    /// Configured active and nobody else was: runs the sink, replicates.
    Active,
    /// Card silent, installs the primary's copies; promotable.
    #[default]
    Standby,
    /// Was standby, now active in a newer epoch.
    Promoted,
    /// Learnt of a newer epoch: card silent, releases nothing (invariant 8).
    Fenced,
}

impl PairRole {
    pub const ALL: [PairRole; 4] = [PairRole::Active, PairRole::Standby, PairRole::Promoted, PairRole::Fenced];

    /// The name on the wire, in logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            PairRole::Active => "active",
            PairRole::Standby => "standby",
            PairRole::Promoted => "promoted",
            PairRole::Fenced => "fenced",
        }
    }
}

impl std::fmt::Display for PairRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The replication link as one pair member sees it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum PairLink {
    /// Sending side (active or promoted): no authenticated standby.
    Down,
    /// Sending side: connected; the full sync is not acknowledged yet.
    Syncing,
    /// Sending side: in sync; updates are acknowledged as they are stored.
    /// The only state in which the replica gate passes.
    Replicating,
    /// Sending side: the standby runs a newer epoch; nothing more is acknowledged.
    Fenced,
    /// Sending side: the link was shut down.
    Shutdown,
    /// Receiving side (standby): a primary is connected.
    Connected,
    /// Receiving side: no primary connected.
    Waiting,
    /// No link at all (a promoted daemon whose link could not start).
    #[default]
    Closed,
}

impl PairLink {
    /// In sync: the sender's standby acknowledges, or a primary is connected to the standby.
    pub fn in_sync(self) -> bool {
        matches!(self, PairLink::Replicating | PairLink::Connected)
    }
}

impl std::fmt::Display for PairLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

/// Where this daemon stands in its failover pair.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PairStatus {
    pub role: PairRole,
    pub epoch: u32,
    pub link: PairLink,
    /// Primary: highest update the standby acknowledged. Standby: highest stored.
    pub replicated_seq: u64,
    /// Copies the standby holds (standby only).
    pub stored_tcbs: u64,
    pub frames_sent: u64,
    pub bytes_sent: u64,
    pub frames_received: u64,
    pub bytes_received: u64,
    pub full_syncs: u64,
    pub resumes: u64,
    /// Connections refused on the replication port, by reason.
    pub refused: std::collections::BTreeMap<String, u64>,
    /// Primary: link bytes sent per acknowledged update (deltas, heartbeats
    /// and full syncs included).
    pub bytes_per_update: Option<f64>,
    /// When the last promotion happened and how long the card took.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promoted_unix_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promote_took_us: Option<u64>,
    /// A promoted daemon whose releases are not held for a standby (none is
    /// `Replicating` yet, or its link could not start): why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub degraded: Option<String>,
    /// Why the daemon holds this role when it is not the configured one or
    /// the obvious one: a daemon configured active that stays standby (it
    /// knows of a newer epoch than it last held active, or joined a running
    /// primary), or a fenced one (invariant 8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Sink gate figures (primary): group commits held for the standby.
    pub replica_waits: u64,
    pub replica_wait_us_total: u64,
    pub replica_waits_failed: u64,
    /// The replication protocol version the link runs (an upgrade: both
    /// daemons use the highest version both speak; docs/upgrade.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol_version: Option<u16>,
    /// `[authority] kind = "etcd"`: who holds which epoch and what lets
    /// this node speak (docs/authority.md); absent with `kind = "pair"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority: Option<AuthorityStatus>,
}

/// The etcd authority as one daemon sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuthorityStatus {
    /// The holder record's name, as last read (`None`: nobody holds it).
    pub holder: Option<String>,
    /// The highest epoch this node saw in etcd.
    pub epoch: u32,
    /// This node holds the epoch.
    pub holds: bool,
    /// What lets this node's card speak now.
    pub speaks_on: crate::authority::SpeaksOn,
    /// The holder's confirmation: ms left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed_left_ms: Option<u64>,
    /// The holder: ms left of its standby's freshest promise. A standby:
    /// ms its own last promise still binds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promise_left_ms: Option<u64>,
    /// A standby answers the heartbeats with promises now.
    pub promising: bool,
    /// etcd's last request failed (no promotion and no start is possible): why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etcd_unreachable: Option<String>,
}

/// Answer to [`Request::Sink`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SinkReport {
    pub stats: SinkStats,
    pub conns: Vec<ConnRecord>,
}

/// Answer to [`Request::Conns`]: every open TCB, by id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConnsReport {
    /// Our IPv4 address (the local half of every 4-tuple).
    pub local_ip: Ipv4Addr,
    pub conns: Vec<ConnEntry>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConnEntry {
    pub id: u16,
    pub tcb: Tcb,
}

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "another holdback daemon (pid {pid}) serves {socket}: lock {lock} is held; \
         stop it, or give this one another socket path (`--socket`, or `socket =` in the daemon's config)"
    )]
    InUse { socket: PathBuf, lock: PathBuf, pid: String },
    #[error("{path} exists and is not a socket; refusing to replace it")]
    NotASocket { path: PathBuf },
    #[error(transparent)]
    Io(#[from] crate::error::IoError),
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> ServeError + 'a {
    move |source| ServeError::Io(crate::error::io(what, path)(source))
}

/// The lock file path guarding socket `path`.
pub fn lock_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".lock");
    PathBuf::from(s)
}

/// An exclusive `flock` on the lock file, released when dropped (or when
/// the process dies, so a crashed daemon never blocks its successor). The
/// daemon takes it before it opens the card, so a second daemon on the same
/// socket is refused before it touches anything.
pub struct SocketLock {
    _file: File,
}

impl SocketLock {
    /// Lock `<socket>.lock`, or fail with [`ServeError::InUse`] naming the
    /// holder's pid.
    pub fn acquire(socket: &Path) -> Result<SocketLock, ServeError> {
        let path = lock_path(socket);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode_0600()
            .open(&path)
            .map_err(io_err("opening lock file", &path))?;
        if !crate::sys::try_lock_exclusive(&file).map_err(io_err("locking", &path))? {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            let pid = if pid.trim().is_empty() { "unknown".to_string() } else { pid.trim().to_string() };
            return Err(ServeError::InUse { socket: socket.to_path_buf(), lock: path, pid });
        }
        file.set_len(0).map_err(io_err("writing lock file", &path))?;
        file.rewind().map_err(io_err("writing lock file", &path))?;
        writeln!(file, "{}", std::process::id()).map_err(io_err("writing lock file", &path))?;
        Ok(SocketLock { _file: file })
    }
}

trait Mode0600 {
    fn mode_0600(&mut self) -> &mut Self;
}

impl Mode0600 for OpenOptions {
    fn mode_0600(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.mode(0o600)
    }
}

/// A bound control socket, serving in a background task until
/// [`ControlServer::shutdown`] (which removes the socket file).
pub struct ControlServer {
    path: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    _lock: SocketLock,
}

impl ControlServer {
    /// Take the lock, bind `path` (mode 0600) and start serving with
    /// `handler`. Must be called inside a tokio runtime.
    pub async fn bind<H, F>(path: &Path, handler: H) -> Result<ControlServer, ServeError>
    where
        H: Fn(Request) -> F + Send + Sync + 'static,
        F: Future<Output = Response> + Send + 'static,
    {
        ControlServer::bind_locked(SocketLock::acquire(path)?, path, handler).await
    }

    /// [`ControlServer::bind`] with the lock of `path` already held.
    pub async fn bind_locked<H, F>(lock: SocketLock, path: &Path, handler: H) -> Result<ControlServer, ServeError>
    where
        H: Fn(Request) -> F + Send + Sync + 'static,
        F: Future<Output = Response> + Send + 'static,
    {
        // We hold the lock, so a socket file at `path` is a dead daemon's.
        match fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_socket() => {
                tracing::info!(path = %path.display(), "replacing a stale control socket");
                fs::remove_file(path).map_err(io_err("removing stale socket", path))?;
            }
            Ok(_) => return Err(ServeError::NotASocket { path: path.to_path_buf() }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(ServeError::Io(crate::error::IoError { what: "inspecting", path: path.to_path_buf(), source: e })),
        }
        // Bind under a temporary name and chmod before the rename, so the
        // socket is never reachable at `path` with the umask's mode.
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(format!(".tmp{}", std::process::id()));
        let tmp = PathBuf::from(tmp);
        let _ = fs::remove_file(&tmp);
        let listener = UnixListener::bind(&tmp).map_err(io_err("binding control socket", &tmp))?;
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600)).map_err(io_err("chmod 0600", &tmp))?;
        fs::rename(&tmp, path).map_err(io_err("moving control socket into place at", path))?;
        tracing::info!(path = %path.display(), "control socket listening");

        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(accept_loop(listener, Arc::new(handler), stop_rx));
        Ok(ControlServer { path: path.to_path_buf(), stop: Some(stop_tx), task, _lock: lock })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stop accepting, close open connections, remove the socket file, then
    /// release the lock.
    pub async fn shutdown(mut self) -> Result<(), ServeError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
        self.remove_socket()
    }

    fn remove_socket(&self) -> Result<(), ServeError> {
        match fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(ServeError::Io(crate::error::IoError { what: "removing control socket", path: self.path.clone(), source: e })),
        }
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        if self.stop.is_some() {
            self.task.abort();
            if let Err(e) = self.remove_socket() {
                tracing::warn!("{e}");
            }
        }
    }
}

/// Serve `handler` on `path` until `shutdown` completes, then remove the
/// socket. The daemon passes its signal/`Shutdown`-request future.
pub async fn serve<H, F>(path: &Path, handler: H, shutdown: impl Future<Output = ()>) -> Result<(), ServeError>
where
    H: Fn(Request) -> F + Send + Sync + 'static,
    F: Future<Output = Response> + Send + 'static,
{
    let server = ControlServer::bind(path, handler).await?;
    shutdown.await;
    server.shutdown().await
}

async fn accept_loop<H, F>(listener: UnixListener, handler: Arc<H>, mut stop: tokio::sync::oneshot::Receiver<()>)
where
    H: Fn(Request) -> F + Send + Sync + 'static,
    F: Future<Output = Response> + Send + 'static,
{
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let handler = handler.clone();
                    conns.spawn(async move {
                        if let Err(e) = serve_connection(stream, handler).await {
                            tracing::debug!("control connection ended: {e}");
                        }
                    });
                }
                Err(e) => {
                    // EMFILE and the like: keep serving, but do not spin.
                    tracing::warn!("control socket accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.abort_all();
}

async fn serve_connection<H, F>(stream: UnixStream, handler: Arc<H>) -> std::io::Result<()>
where
    H: Fn(Request) -> F + Send + Sync + 'static,
    F: Future<Output = Response> + Send + 'static,
{
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = (&mut reader).take(MAX_LINE as u64 + 1).read_until(b'\n', &mut line).await?;
        if n == 0 {
            return Ok(());
        }
        let complete = line.last() == Some(&b'\n');
        if !complete && line.len() > MAX_LINE {
            let reply = Response::error(format!("request line longer than {MAX_LINE} bytes; closing"));
            write_response(&mut write, &reply).await?;
            return Ok(());
        }
        let text = line.trim_ascii();
        if text.is_empty() {
            continue;
        }
        let reply = match Request::parse(text) {
            Ok(req) => {
                tracing::debug!(?req, "control request");
                handler(req).await
            }
            Err(e) => {
                tracing::debug!("garbage on control socket: {e}");
                Response::error(format!(
                    "bad request: {e}; expected one JSON object per line such as {{\"request\":\"status\"}}"
                ))
            }
        };
        write_response(&mut write, &reply).await?;
    }
}

async fn write_response(w: &mut (impl AsyncWriteExt + Unpin), reply: &Response) -> std::io::Result<()> {
    let mut out = serde_json::to_vec(reply).unwrap_or_else(|e| {
        serde_json::to_vec(&Response::error(format!("reply not serialisable: {e}"))).unwrap_or_default()
    });
    out.push(b'\n');
    w.write_all(&out).await?;
    w.flush().await
}

/// The CLI side: one request, one response.
pub mod client {
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::net::UnixStream;
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    use super::{Request, Response};

    /// How long the CLI waits for the daemon's answer.
    pub const TIMEOUT: Duration = Duration::from_secs(10);

    #[derive(Debug, thiserror::Error)]
    pub enum ClientError {
        #[error("no holdback daemon at {path}: is `holdback daemon` running, and is --socket right?")]
        NoDaemon {
            path: PathBuf,
            #[source]
            source: std::io::Error,
        },
        #[error("not allowed to connect to {path} (the socket is mode 0600): run as the daemon's user")]
        PermissionDenied { path: PathBuf },
        #[error("talking to the daemon at {path}")]
        Io {
            path: PathBuf,
            #[source]
            source: std::io::Error,
        },
        #[error("the daemon at {path} closed the connection without answering")]
        NoReply { path: PathBuf },
        #[error("the daemon's reply is not a response: {line}")]
        BadReply {
            line: String,
            #[source]
            source: serde_json::Error,
        },
        #[error("the daemon refused: {message}{}", causes.iter().map(|c| format!(": {c}")).collect::<String>())]
        Daemon { message: String, causes: Vec<String> },
    }

    /// Send `req` to the daemon at `path` and wait (blocking, at most
    /// [`TIMEOUT`]) for its answer. An `Error` response becomes
    /// [`ClientError::Daemon`].
    pub fn call(path: &Path, req: &Request) -> Result<Response, ClientError> {
        let io = |source| ClientError::Io { path: path.to_path_buf(), source };
        let mut stream = UnixStream::connect(path).map_err(|source| match source.kind() {
            std::io::ErrorKind::PermissionDenied => ClientError::PermissionDenied { path: path.to_path_buf() },
            std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
                ClientError::NoDaemon { path: path.to_path_buf(), source }
            }
            _ => ClientError::Io { path: path.to_path_buf(), source },
        })?;
        stream.set_read_timeout(Some(TIMEOUT)).map_err(io)?;
        stream.set_write_timeout(Some(TIMEOUT)).map_err(io)?;
        let mut line = serde_json::to_vec(req).map_err(|e| io(std::io::Error::other(e)))?;
        line.push(b'\n');
        stream.write_all(&line).map_err(io)?;
        let mut reply = String::new();
        BufReader::new(&stream).read_line(&mut reply).map_err(io)?;
        if reply.is_empty() {
            return Err(ClientError::NoReply { path: path.to_path_buf() });
        }
        match serde_json::from_str::<Response>(reply.trim_end()) {
            Ok(Response::Error { message, causes }) => Err(ClientError::Daemon { message, causes }),
            Ok(r) => Ok(r),
            Err(source) => Err(ClientError::BadReply { line: reply.trim_end().to_string(), source }),
        }
    }

    /// [`call`] from async code, on a blocking thread.
    pub async fn call_async(path: &Path, req: &Request) -> Result<Response, ClientError> {
        let (path_owned, req) = (path.to_path_buf(), req.clone());
        match tokio::task::spawn_blocking(move || call(&path_owned, &req)).await {
            Ok(r) => r,
            Err(e) => Err(ClientError::Io { path: path.to_path_buf(), source: std::io::Error::other(e) }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::client::{call, call_async, ClientError};
    use super::*;
    use std::io::{BufRead, BufReader as StdBufReader};
    use std::os::unix::net::UnixStream as StdUnixStream;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A socket path in a directory of its own, removed with it when the
    /// test ends (passed or failed).
    struct TempSocket(PathBuf);

    impl std::ops::Deref for TempSocket {
        type Target = PathBuf;
        fn deref(&self) -> &PathBuf {
            &self.0
        }
    }

    impl AsRef<Path> for TempSocket {
        fn as_ref(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempSocket {
        fn drop(&mut self) {
            if let Some(dir) = self.0.parent() {
                let _ = fs::remove_dir_all(dir);
            }
        }
    }

    fn temp_socket(tag: &str) -> TempSocket {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "holdback-ctl-{}-{}-{}",
            std::process::id(),
            tag,
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("temp dir");
        TempSocket(dir.join("holdback.sock"))
    }

    /// Answers Stats with counters, Shutdown with Done, the rest with an error.
    async fn fake_handler(req: Request) -> Response {
        match req {
            Request::Stats => Response::Stats { stats: Stats::default() },
            Request::Shutdown => Response::Done { what: "shutting down".into() },
            other => Response::error(format!("{other:?} not served by the fake")),
        }
    }

    fn raw_exchange(path: &Path, lines: &[&[u8]]) -> Vec<String> {
        let mut s = StdUnixStream::connect(path).expect("connect");
        let mut reader = StdBufReader::new(s.try_clone().expect("clone"));
        let mut out = Vec::new();
        for l in lines {
            s.write_all(l).expect("write");
            let mut reply = String::new();
            reader.read_line(&mut reply).expect("read");
            out.push(reply);
        }
        out
    }

    #[tokio::test]
    async fn request_response_round_trip_and_mode_0600() {
        let path = temp_socket("rt");
        let server = ControlServer::bind(&path, fake_handler).await.expect("binds");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let r = call_async(&path, &Request::Stats).await.expect("stats");
        assert_eq!(r, Response::Stats { stats: Stats::default() });
        let r = call_async(&path, &Request::Shutdown).await.expect("done");
        assert!(matches!(r, Response::Done { .. }));
        match call_async(&path, &Request::Status).await {
            Err(ClientError::Daemon { message, .. }) => assert!(message.contains("Status"), "{message}"),
            other => panic!("{other:?}"),
        }
        server.shutdown().await.unwrap();
        assert!(!path.exists(), "socket removed on shutdown");
        assert!(matches!(call(&path, &Request::Status), Err(ClientError::NoDaemon { .. })));
    }

    #[tokio::test]
    async fn garbage_gets_an_error_reply_and_the_server_keeps_serving() {
        let path = temp_socket("garbage");
        let server = ControlServer::bind(&path, fake_handler).await.unwrap();
        let p = path.clone();
        let replies = tokio::task::spawn_blocking(move || {
            raw_exchange(
                &p,
                &[
                    b"this is not json\n",
                    b"\xff\xfe\x00binary\n",
                    b"{\"request\":\"no_such_request\"}\n",
                    b"{\"request\":\"stats\",\"extra\":1}\n",
                    b"[1,2,3]\n",
                    b"\n{\"request\":\"stats\"}\n",
                ],
            )
        })
        .await
        .unwrap();
        for r in &replies[..5] {
            let resp: Response = serde_json::from_str(r).expect("every reply is a response");
            match resp {
                Response::Error { message, .. } => assert!(message.starts_with("bad request"), "{message}"),
                other => panic!("garbage answered with {other:?}"),
            }
        }
        let last: Response = serde_json::from_str(&replies[5]).unwrap();
        assert!(matches!(last, Response::Stats { .. }), "same connection still served: {last:?}");
        // And a fresh connection too.
        assert!(matches!(call_async(&path, &Request::Stats).await, Ok(Response::Stats { .. })));
        server.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn overlong_line_is_refused_and_server_survives() {
        let path = temp_socket("long");
        let server = ControlServer::bind(&path, fake_handler).await.unwrap();
        let p = path.clone();
        let reply = tokio::task::spawn_blocking(move || {
            let mut long = vec![b'x'; MAX_LINE + 10];
            long.push(b'\n');
            raw_exchange(&p, &[&long])
        })
        .await
        .unwrap();
        assert!(reply[0].contains("longer than"), "{}", reply[0]);
        assert!(matches!(call_async(&path, &Request::Stats).await, Ok(Response::Stats { .. })));
        server.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn second_server_on_the_same_path_is_refused() {
        let path = temp_socket("two");
        let first = ControlServer::bind(&path, fake_handler).await.unwrap();
        match ControlServer::bind(&path, fake_handler).await {
            Err(ServeError::InUse { pid, .. }) => assert_eq!(pid, std::process::id().to_string()),
            Err(e) => panic!("wrong error: {e}"),
            Ok(_) => panic!("second server bound the same socket"),
        }
        // The first still serves.
        assert!(matches!(call_async(&path, &Request::Stats).await, Ok(Response::Stats { .. })));
        first.shutdown().await.unwrap();
        // Once it is gone the path is free again.
        let again = ControlServer::bind(&path, fake_handler).await.expect("rebinds after shutdown");
        again.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn stale_socket_is_replaced_but_other_files_are_not() {
        let path = temp_socket("stale");
        // A socket file nobody listens on, as a crashed daemon leaves it.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        let server = ControlServer::bind(&path, fake_handler).await.expect("replaces stale socket");
        assert!(matches!(call_async(&path, &Request::Stats).await, Ok(Response::Stats { .. })));
        server.shutdown().await.unwrap();

        fs::write(&path, b"precious").unwrap();
        assert!(matches!(ControlServer::bind(&path, fake_handler).await, Err(ServeError::NotASocket { .. })));
        assert_eq!(fs::read(&path).unwrap(), b"precious");
    }

    #[tokio::test]
    async fn serve_runs_until_shutdown_future() {
        let path = temp_socket("serve");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let p = path.clone();
        let server = tokio::spawn(async move {
            serve(&p, fake_handler, async {
                let _ = rx.await;
            })
            .await
        });
        for _ in 0..100 {
            if path.exists() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(matches!(call_async(&path, &Request::Stats).await, Ok(Response::Stats { .. })));
        tx.send(()).unwrap();
        server.await.unwrap().unwrap();
        assert!(!path.exists());
    }

    #[test]
    fn wire_format_is_snake_case_tagged() {
        assert_eq!(serde_json::to_string(&Request::PauseRelease).unwrap(), r#"{"request":"pause_release"}"#);
        let e = Response::error("x");
        assert_eq!(serde_json::to_string(&e).unwrap(), r#"{"response":"error","message":"x","causes":[]}"#);
    }

    #[test]
    fn error_reply_lists_causes() {
        let inner = std::io::Error::other("bus timeout");
        let outer = ServeError::Io(crate::error::IoError { what: "binding", path: "/x".into(), source: inner });
        match Response::from_error(&outer) {
            Response::Error { message, causes } => {
                assert_eq!(message, "binding /x");
                assert_eq!(causes, vec!["bus timeout".to_string()]);
            }
            other => panic!("{other:?}"),
        }
    }
}
