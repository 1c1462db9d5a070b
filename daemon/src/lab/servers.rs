//! The relay lab's real peers: the servers behind the card and the clients
//! in front of it, all ordinary Linux programs in network namespaces.
//!
//! - [`generate_file`]: seeded files of a given size (the bytes client 0 of
//!   [`clients`](crate::lab::clients) sends under the same seed) and their SHA-256;
//! - [`HttpServer`]: Debian's nginx serving a directory, from a config
//!   generated in the work directory (one process, no daemon, logs there);
//! - [`UploadSink`]: a plain TCP server in a namespace writing each
//!   connection to its own file and hashing it;
//! - [`download`] (curl) and [`upload`] clients, each timed, for the
//!   [`Goodput`] of a transfer;
//! - [`UserCommand`]: the user's `--server-cmd` / `--client-cmd`, a
//!   template ([`Placeholders`]) run by `sh -c` in a namespace, its output
//!   and exit status kept for the report;
//! - [`DirectNet`] and [`direct_baseline`]: a client and a server
//!   namespace joined by one veth pair, and the transfer over it that relay
//!   goodput is compared with (no card in the path).
//!
//! Every child process is its own process group, killed with everything it
//! started and reaped when its handle drops; every namespace is deleted
//! when its [`DirectNet`] drops. Addresses come from 198.18.0.0/15 only.
use std::fmt;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{io, IoError};
use crate::lab::clients;
use crate::lab::netns::{self, NetnsError};

/// Bytes generated and hashed per draw; the same cut as the clients' sender,
/// so a generated file equals client 0's stream (the generator's bytes
/// depend on how the draws are cut).
const BLOCK: usize = 64 * 1024;
/// How much of a command's stdout and stderr the report keeps (the tail).
pub const OUTPUT_LIMIT: usize = 64 * 1024;
/// How long a server gets to listen after it was started.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum ServersError {
    #[error("`{tool}` is not installed: apt-get install -y {package}")]
    ToolMissing { tool: &'static str, package: &'static str },
    #[error(transparent)]
    Net(#[from] NetnsError),
    #[error(transparent)]
    Io(#[from] IoError),
    #[error("starting {what} in namespace `{ns}`")]
    Spawn {
        what: String,
        ns: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} exited before it listened on {addr} ({status}); {log}:\n{tail}")]
    ServerExited { what: &'static str, addr: SocketAddrV4, status: String, log: PathBuf, tail: String },
    #[error("{what} did not listen on {addr} within {READY_TIMEOUT:?}; {log}:\n{tail}")]
    NotListening { what: &'static str, addr: SocketAddrV4, log: PathBuf, tail: String },
    #[error("the upload sink could not listen on {addr} in namespace `{ns}`")]
    SinkBind {
        addr: SocketAddrV4,
        ns: String,
        #[source]
        source: std::io::Error,
    },
    #[error("curl {url} failed ({status}): {stderr}")]
    Curl { url: String, status: String, stderr: String },
    #[error("curl {url} did not finish within {timeout:?}; killed")]
    CurlTimeout { url: String, timeout: Duration },
    #[error("uploading {file} to {addr}")]
    Upload {
        file: PathBuf,
        addr: SocketAddrV4,
        #[source]
        source: std::io::Error,
    },
    #[error("the upload sink recorded no connection from {0}")]
    NoUpload(SocketAddrV4),
    #[error(transparent)]
    Template(#[from] TemplateError),
}

/// A user command template that cannot be expanded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TemplateError {
    #[error("unknown placeholder `{{{name}}}` in `{template}`; known: {known} (write `{{{{` and `}}}}` for literal braces)", known = Placeholders::NAMES.map(|n| format!("{{{n}}}")).join(" "))]
    Unknown { name: String, template: String },
    #[error("unclosed `{{` at byte {at} of `{template}` (write `{{{{` for a literal brace)")]
    Unclosed { at: usize, template: String },
    #[error("lone `}}` at byte {at} of `{template}` (write `}}}}` for a literal brace)")]
    LoneClose { at: usize, template: String },
}

use clients::hex;

/// One generated file: `bytes` bytes of client 0's stream under `seed`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct GeneratedFile {
    /// File name, also its URL path on the [`HttpServer`] serving its directory.
    pub name: String,
    pub path: PathBuf,
    pub bytes: u64,
    pub seed: u64,
    /// Hex SHA-256 of the content.
    pub sha256: String,
}

/// Writes `dir/name` with `bytes` bytes generated from `seed` (the stream
/// [`clients::expected_sha256`]`(seed, 0, bytes)` describes) and hashes it.
pub fn generate_file(dir: &Path, name: &str, seed: u64, bytes: u64) -> Result<GeneratedFile, ServersError> {
    let path = dir.join(name);
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).map_err(io("creating", &path))?);
    let mut rng = clients::stream_rng(seed, 0);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; BLOCK];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(BLOCK as u64) as usize;
        rng.fill_bytes(&mut buf[..n]);
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n]).map_err(io("writing", &path))?;
        left -= n as u64;
    }
    file.flush().map_err(io("writing", &path))?;
    Ok(GeneratedFile { name: name.to_string(), path, bytes, seed, sha256: hex(&hasher.finalize()) })
}

/// Size and hex SHA-256 of a file on disk.
pub fn hash_file(path: &Path) -> Result<(u64, String), ServersError> {
    Ok(super::sha256_file(path).map_err(io("hashing", path))?)
}

/// Fails with the install command unless `tool` is on PATH.
fn require_tool(tool: &'static str, package: &'static str) -> Result<(), ServersError> {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    if found {
        Ok(())
    } else {
        Err(ServersError::ToolMissing { tool, package })
    }
}

/// A program started inside a namespace, leader of its own process group:
/// killed (SIGKILL to every process of the group, so a `sh -c`'s children
/// go too, also those left behind by a command that exited by itself) and
/// reaped on drop.
struct NsChild {
    what: String,
    child: Child,
    reaped: Option<ExitStatus>,
    /// The group was swept after the leader ended: never again, as its id
    /// may be reused once the group is empty.
    swept: bool,
}

impl NsChild {
    /// `ip netns exec NS PROGRAM ARGS…`, stdout and stderr into the given files.
    fn spawn(what: &str, ns: &str, program: &str, args: &[&str], stdout: &Path, stderr: &Path) -> Result<NsChild, ServersError> {
        use std::os::unix::process::CommandExt;
        let out = std::fs::File::create(stdout).map_err(io("creating", stdout))?;
        let err = std::fs::File::create(stderr).map_err(io("creating", stderr))?;
        let mut cmd = Command::new("ip");
        // `ip netns exec` execs PROGRAM in place: the child's pid is its pid
        // and the process group it leads holds all it starts.
        cmd.args(["netns", "exec", ns, program]).args(args).process_group(0).stdin(Stdio::null()).stdout(out).stderr(err);
        let child = cmd.spawn().map_err(|source| ServersError::Spawn { what: what.to_string(), ns: ns.to_string(), source })?;
        tracing::debug!(what, ns, pid = child.id(), "started");
        Ok(NsChild { what: what.to_string(), child, reaped: None, swept: false })
    }

    /// The exit status if it has exited (reaping it).
    fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.reaped.is_none() {
            self.reaped = self.child.try_wait().ok().flatten();
        }
        self.reaped
    }

    /// Waits up to `timeout` for it to exit; None if it still runs.
    fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        loop {
            if let Some(st) = self.try_wait() {
                return Some(st);
            }
            if start.elapsed() >= timeout {
                return None;
            }
            // Short: the transfer's wall time is measured across this wait.
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Kills its whole process group and reaps it; its exit status. Called
    /// right after the leader is seen to exit (or at once), so the group id
    /// is still ours: the kernel does not hand out a pid that is still some
    /// live process's group id, and pids are handed out cyclically.
    fn kill(&mut self) -> Option<ExitStatus> {
        if self.swept {
            return self.reaped;
        }
        let pgid = self.child.id();
        kill_group(pgid);
        if self.reaped.is_none() {
            match self.child.wait() {
                Ok(st) => self.reaped = Some(st),
                Err(e) => tracing::warn!(what = %self.what, error = %e, "reaping"),
            }
        }
        // A member that forked while the others were killed.
        kill_group(pgid);
        self.swept = true;
        self.reaped
    }
}

impl Drop for NsChild {
    fn drop(&mut self) {
        self.kill();
    }
}

/// SIGKILL to every process whose process group is `pgid`, found in /proc
/// (the library's one `unsafe` module offers signals to single pids only),
/// until none is left or a bounded number of sweeps has run.
fn kill_group(pgid: u32) {
    for _ in 0..20 {
        let members = group_members(pgid);
        if members.is_empty() {
            return;
        }
        for pid in members {
            // ESRCH: it died between the sweep and the signal.
            let _ = crate::sys::kill(pid);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    tracing::warn!(pgid, "processes of the group still alive after 20 sweeps");
}

/// Live (not zombie) processes of process group `pgid`.
fn group_members(pgid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
            // `pid (comm) state ppid pgrp …`; comm may hold spaces and ')'.
            let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { return false };
            let mut fields = rest.split_whitespace();
            let state = fields.next();
            let pgrp = fields.nth(1).and_then(|f| f.parse::<u32>().ok());
            pgrp == Some(pgid) && state != Some("Z")
        })
        .collect()
}

/// The last `limit` bytes of a file, as text (lossy), for error messages
/// and reports.
fn tail_of(path: &Path, limit: usize) -> String {
    let bytes = std::fs::read(path).unwrap_or_default();
    let from = bytes.len().saturating_sub(limit);
    String::from_utf8_lossy(&bytes[from..]).into_owned()
}

/// True once process `pid` itself holds a socket listening on `addr`: a
/// connection that succeeds proves only that *something* listens there (a
/// second server on a taken port looks ready while it retries its bind).
/// The process's view of its namespace's TCP table gives the listening
/// socket's inode, its file descriptors the sockets it holds.
fn holds_listener(pid: u32, addr: SocketAddrV4) -> bool {
    // /proc/net/tcp: `sl local_address rem_address st … inode`, the address as
    // the in-memory (network order) u32 printed in hex, `0A` for LISTEN.
    let local = format!("{:08X}:{:04X}", u32::from_ne_bytes(addr.ip().octets()), addr.port());
    let Ok(table) = std::fs::read_to_string(format!("/proc/{pid}/net/tcp")) else { return false };
    let inodes: Vec<String> = table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            (f.get(1) == Some(&local.as_str()) && f.get(3) == Some(&"0A")).then(|| f.get(9).map(|i| format!("socket:[{i}]")))?
        })
        .collect();
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return false };
    fds.flatten().any(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| inodes.iter().any(|i| target.as_os_str() == i.as_str())))
}

/// Debian's nginx serving a directory on one address and port, as one
/// foreground process (`master_process off`: no workers to outlive it).
pub struct HttpServer {
    process: NsChild,
    pub addr: SocketAddrV4,
    pub root: PathBuf,
    /// nginx's error log (its access log is beside it).
    pub error_log: PathBuf,
}

impl HttpServer {
    /// Starts nginx in namespace `ns` on `addr`, serving `root`; its config,
    /// logs and temporary files go to `work_dir/nginx`. Returns once it
    /// accepts connections.
    pub fn start(ns: &str, addr: SocketAddrV4, root: &Path, work_dir: &Path) -> Result<HttpServer, ServersError> {
        require_tool("nginx", "nginx")?;
        let dir = work_dir.join("nginx");
        std::fs::create_dir_all(dir.join("tmp")).map_err(io("creating", &dir))?;
        let conf = dir.join("nginx.conf");
        let error_log = dir.join("error.log");
        std::fs::write(&conf, nginx_config(addr, root, &dir)).map_err(io("writing", &conf))?;
        let (conf_s, prefix, early_log) = (conf.display().to_string(), dir.display().to_string(), error_log.display().to_string());
        // -e: the log for errors before the config is read (Debian's default
        // is /var/log/nginx, outside the work directory).
        let args = ["-c", conf_s.as_str(), "-p", prefix.as_str(), "-e", early_log.as_str()];
        let process = NsChild::spawn("nginx", ns, "nginx", &args, &dir.join("stdout.log"), &dir.join("stderr.log"))?;
        let mut server = HttpServer { process, addr, root: root.to_path_buf(), error_log };
        server.wait_listening()?;
        tracing::info!(ns, %addr, root = %root.display(), "nginx serving");
        Ok(server)
    }

    fn wait_listening(&mut self) -> Result<(), ServersError> {
        let start = Instant::now();
        loop {
            if let Some(st) = self.process.try_wait() {
                let tail = self.log_tail();
                return Err(ServersError::ServerExited { what: "nginx", addr: self.addr, status: st.to_string(), log: self.error_log.clone(), tail });
            }
            if holds_listener(self.process.child.id(), self.addr) {
                return Ok(());
            }
            if start.elapsed() > READY_TIMEOUT {
                let tail = self.log_tail();
                return Err(ServersError::NotListening { what: "nginx", addr: self.addr, log: self.error_log.clone(), tail });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The end of nginx's error log, and of its stderr (where `ip netns
    /// exec` and nginx's own early failures go).
    fn log_tail(&self) -> String {
        let stderr = self.error_log.with_file_name("stderr.log");
        format!("{}{}", tail_of(&self.error_log, 4096), tail_of(&stderr, 1024))
    }

    /// The URL of `file` (served from `root`).
    pub fn url(&self, file: &GeneratedFile) -> String {
        format!("http://{}/{}", self.addr, file.name)
    }
}

/// nginx's config: everything it writes under `dir`, files from `root`.
fn nginx_config(addr: SocketAddrV4, root: &Path, dir: &Path) -> String {
    let d = dir.display();
    format!(
        "# Written by holdback's relay lab (daemon/src/lab/servers.rs).\n\
         daemon off;\n\
         master_process off;\n\
         pid {d}/nginx.pid;\n\
         error_log {d}/error.log info;\n\
         events {{ worker_connections 256; }}\n\
         http {{\n\
         \x20 access_log {d}/access.log;\n\
         \x20 client_body_temp_path {d}/tmp/body;\n\
         \x20 proxy_temp_path {d}/tmp/proxy;\n\
         \x20 fastcgi_temp_path {d}/tmp/fastcgi;\n\
         \x20 default_type application/octet-stream;\n\
         \x20 sendfile on;\n\
         \x20 server {{\n\
         \x20   listen {addr};\n\
         \x20   root {root};\n\
         \x20 }}\n\
         }}\n",
        root = root.display(),
    )
}

/// What the upload sink received on one connection.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct SinkConn {
    /// Order of acceptance, from 0.
    pub index: usize,
    pub peer: SocketAddr,
    /// Where the bytes were written.
    pub path: PathBuf,
    pub bytes: u64,
    /// Hex SHA-256 of the bytes received.
    pub sha256: String,
    /// Why the connection ended other than by the peer's FIN.
    pub error: Option<String>,
}

impl SinkConn {
    /// Compares what arrived with the file that was sent.
    pub fn check(&self, sent: &GeneratedFile) -> TransferCheck {
        TransferCheck {
            bytes_expected: sent.bytes,
            bytes_got: self.bytes,
            sha256_expected: sent.sha256.clone(),
            sha256_got: self.sha256.clone(),
        }
    }
}

/// What was expected against what arrived.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct TransferCheck {
    pub bytes_expected: u64,
    pub bytes_got: u64,
    pub sha256_expected: String,
    pub sha256_got: String,
}

impl TransferCheck {
    pub fn matches(&self) -> bool {
        self.bytes_expected == self.bytes_got && self.sha256_expected == self.sha256_got
    }
}

impl fmt::Display for TransferCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.matches() {
            write!(f, "{} bytes, SHA-256 match", self.bytes_got)
        } else {
            write!(
                f,
                "MISMATCH: got {} bytes (SHA-256 {}), expected {} bytes (SHA-256 {})",
                self.bytes_got, self.sha256_got, self.bytes_expected, self.sha256_expected
            )
        }
    }
}

/// A plain TCP server in a namespace: each connection's bytes go to
/// `dir/upload-<index>.bin`, hashed as they arrive; the sink closes the
/// connection once it has read the peer's FIN and recorded the result, so a
/// client that waits for that close knows the record is there.
pub struct UploadSink {
    pub addr: SocketAddrV4,
    received: Arc<Mutex<Vec<SinkConn>>>,
    stop: Arc<AtomicBool>,
    acceptor: Option<std::thread::JoinHandle<()>>,
}

impl UploadSink {
    /// Listens on `addr` inside namespace `ns`, writing into `dir`.
    pub fn start(ns: &str, addr: SocketAddrV4, dir: &Path) -> Result<UploadSink, ServersError> {
        std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
        // Bound on a thread inside the namespace; the socket stays there.
        let listener = netns::run_in_netns(ns, move || TcpListener::bind(addr))?
            .map_err(|source| ServersError::SinkBind { addr, ns: ns.to_string(), source })?;
        listener.set_nonblocking(true).map_err(|source| ServersError::SinkBind { addr, ns: ns.to_string(), source })?;
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let (received, stop, dir) = (received.clone(), stop.clone(), dir.to_path_buf());
            std::thread::Builder::new()
                .name("upload-sink".into())
                .spawn(move || accept_loop(listener, &dir, &received, &stop))
                .map_err(|source| ServersError::Spawn { what: "the upload sink's thread".into(), ns: ns.to_string(), source })?
        };
        tracing::info!(ns, %addr, dir = %dir.display(), "upload sink listening");
        Ok(UploadSink { addr, received, stop, acceptor: Some(acceptor) })
    }

    /// The connections that ended so far, in order of acceptance.
    pub fn received(&self) -> Vec<SinkConn> {
        let mut v = self.received.lock().map(|v| v.clone()).unwrap_or_default();
        v.sort_by_key(|c| c.index);
        v
    }

    /// The record of the connection from `local` (a client's own address).
    pub fn from_peer(&self, local: SocketAddrV4) -> Option<SinkConn> {
        self.received().into_iter().find(|c| c.peer == SocketAddr::V4(local))
    }
}

impl Drop for UploadSink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
    }
}

fn accept_loop(listener: TcpListener, dir: &Path, received: &Mutex<Vec<SinkConn>>, stop: &AtomicBool) {
    std::thread::scope(|s| {
        let mut index = 0;
        while !stop.load(Ordering::SeqCst) {
            match listener.accept() {
                Ok((stream, peer)) => {
                    let path = dir.join(format!("upload-{index}.bin"));
                    s.spawn(move || {
                        let mut stream = stream;
                        let conn = receive(index, &mut stream, peer, path, stop);
                        tracing::debug!(?conn, "upload received");
                        if let Ok(mut v) = received.lock() {
                            v.push(conn);
                        }
                        // Closed only now, with the record in place: the
                        // client waiting for this close finds it.
                        drop(stream);
                    });
                    index += 1;
                }
                // Polled (std has no accept that a stop can interrupt); often,
                // as a new upload's wall time runs while it waits here.
                Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(1)),
                Err(e) => {
                    tracing::warn!(error = %e, "upload sink accept");
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
    });
}

/// Reads one connection to its end into `path`, hashing it.
fn receive(index: usize, stream: &mut TcpStream, peer: SocketAddr, path: PathBuf, stop: &AtomicBool) -> SinkConn {
    let mut conn = SinkConn { index, peer, path: path.clone(), bytes: 0, sha256: String::new(), error: None };
    let mut hasher = Sha256::new();
    let result = (|| -> std::io::Result<()> {
        // Accepted sockets inherit the listener's O_NONBLOCK on some systems; a
        // read timeout instead lets the loop notice `stop`.
        stream.set_nonblocking(false)?;
        stream.set_read_timeout(Some(Duration::from_millis(100)))?;
        let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
        let mut buf = vec![0u8; BLOCK];
        loop {
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    hasher.update(&buf[..n]);
                    file.write_all(&buf[..n])?;
                    conn.bytes += n as u64;
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {
                    if stop.load(Ordering::SeqCst) {
                        return Err(std::io::Error::new(ErrorKind::Interrupted, "the sink stopped before the peer's FIN"));
                    }
                }
                Err(e) => return Err(e),
            }
        }
        file.flush()
    })();
    conn.sha256 = hex(&hasher.finalize());
    conn.error = result.err().map(|e| e.to_string());
    conn
}

/// Bytes moved and the wall time they took: the goodput a benchmark prints.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
pub struct Goodput {
    pub bytes: u64,
    /// From the client's start (process start for curl, connect for an
    /// upload) to its end (curl's exit, the sink's close).
    pub wall_us: u64,
}

impl Goodput {
    fn new(bytes: u64, wall: Duration) -> Goodput {
        Goodput { bytes, wall_us: wall.as_micros() as u64 }
    }

    /// Payload megabits (10^6) per second of wall time.
    pub fn mbit_per_s(&self) -> f64 {
        if self.wall_us == 0 {
            return 0.0;
        }
        self.bytes as f64 * 8.0 / self.wall_us as f64
    }
}

impl fmt::Display for Goodput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bytes in {:.3} s = {:.0} Mbit/s", self.bytes, self.wall_us as f64 / 1e6, self.mbit_per_s())
    }
}

/// A download by curl, checked against the file served.
#[derive(Clone, Debug, Serialize)]
pub struct Download {
    pub url: String,
    pub output: PathBuf,
    pub check: TransferCheck,
    /// Over curl's whole run, process start included (what a user of
    /// curl waits).
    pub goodput: Goodput,
    /// Over curl's own `time_total` (connect to last byte): the transfer
    /// without the process start, which dominates small files.
    pub curl_goodput: Goodput,
}

/// `curl --fail --output OUTPUT URL` inside namespace `ns`, killed after
/// `timeout`; the file it wrote is hashed and compared with `expected`.
pub fn download(ns: &str, url: &str, expected: &GeneratedFile, output: &Path, timeout: Duration) -> Result<Download, ServersError> {
    require_tool("curl", "curl")?;
    let (stdout, stderr) = (output.with_extension("curl-stdout"), output.with_extension("curl-stderr"));
    let out_s = output.display().to_string();
    let args = ["--silent", "--show-error", "--fail", "--output", out_s.as_str(), "--write-out", "%{time_total}", url];
    let start = Instant::now();
    let mut curl = NsChild::spawn("curl", ns, "curl", &args, &stdout, &stderr)?;
    let Some(status) = curl.wait_timeout(timeout) else {
        curl.kill();
        return Err(ServersError::CurlTimeout { url: url.to_string(), timeout });
    };
    let wall = start.elapsed();
    curl.kill();
    if !status.success() {
        return Err(ServersError::Curl { url: url.to_string(), status: status.to_string(), stderr: tail_of(&stderr, 4096).trim().to_string() });
    }
    let (bytes, sha256) = hash_file(output)?;
    let check = TransferCheck { bytes_expected: expected.bytes, bytes_got: bytes, sha256_expected: expected.sha256.clone(), sha256_got: sha256 };
    let written = tail_of(&stdout, 64);
    let time_total = written.trim().parse::<f64>().ok().and_then(|t| Duration::try_from_secs_f64(t).ok()).ok_or_else(|| ServersError::Curl {
        url: url.to_string(),
        status: status.to_string(),
        stderr: format!("its --write-out time_total `{}` is not a number of seconds", written.trim()),
    })?;
    Ok(Download {
        url: url.to_string(),
        output: output.to_path_buf(),
        check,
        goodput: Goodput::new(bytes, wall),
        curl_goodput: Goodput::new(bytes, time_total),
    })
}

/// An upload to an [`UploadSink`], as the sink recorded it.
#[derive(Clone, Debug, Serialize)]
pub struct Upload {
    pub file: PathBuf,
    pub sink: SinkConn,
    pub goodput: Goodput,
}

/// Sends `file` from namespace `ns` to the sink at `addr` over one TCP
/// connection, half-closes, and waits (up to `timeout` without progress)
/// for the sink to close: then the sink's record of it is complete. The
/// record is the sink's, so what is checked is what arrived.
pub fn upload(ns: &str, file: &Path, sink: &UploadSink, timeout: Duration) -> Result<Upload, ServersError> {
    let addr = sink.addr;
    let (local, wall) = send_in_netns(ns, file, addr, timeout)?;
    let record = sink.from_peer(local).ok_or(ServersError::NoUpload(local))?;
    Ok(Upload { file: file.to_path_buf(), goodput: Goodput::new(record.bytes, wall), sink: record })
}

/// `n` [`upload`]s of `file` at once through a relay: each sent to `via`
/// (the card's relay port), which the sink sees coming from the relay's
/// own address, not the client's. The sink's records are the `n`
/// connections that ended meanwhile and were not among those it had
/// before, in the order it accepted them; the uploads are in the order
/// they finished. All carry the same file, so each record is checked
/// against it whichever upload it was.
pub fn uploads_via(ns: &str, file: &Path, via: SocketAddrV4, sink: &UploadSink, n: usize, timeout: Duration) -> Result<Vec<Upload>, ServersError> {
    let before: Vec<usize> = sink.received().iter().map(|c| c.index).collect();
    let senders: Vec<_> = (0..n)
        .map(|_| {
            let (ns, file) = (ns.to_string(), file.to_path_buf());
            std::thread::spawn(move || send_in_netns(&ns, &file, via, timeout))
        })
        .collect();
    let mut sent = Vec::with_capacity(n);
    for s in senders {
        sent.push(s.join().map_err(|_| NetnsError::ThreadPanicked(ns.to_string()))??);
    }
    sent.sort_by_key(|(_, wall)| *wall);
    let records: Vec<SinkConn> = sink.received().into_iter().filter(|c| !before.contains(&c.index)).collect();
    if records.len() < n {
        let local = sent.get(records.len()).map_or(via, |(l, _)| *l);
        return Err(ServersError::NoUpload(local));
    }
    Ok(sent
        .into_iter()
        .zip(records)
        .map(|((_, wall), record)| Upload { file: file.to_path_buf(), goodput: Goodput::new(record.bytes, wall), sink: record })
        .collect())
}

/// [`send_file`] from a thread in namespace `ns`.
fn send_in_netns(ns: &str, file: &Path, addr: SocketAddrV4, timeout: Duration) -> Result<(SocketAddrV4, Duration), ServersError> {
    let path = file.to_path_buf();
    let err = |source: std::io::Error| ServersError::Upload { file: path.clone(), addr, source };
    netns::run_in_netns(ns, {
        let file = file.to_path_buf();
        move || send_file(&file, addr, timeout)
    })?
    .map_err(err)
}

/// The client's side of [`upload`]: its own address and the wall time from
/// connect to the sink's close.
fn send_file(file: &Path, addr: SocketAddrV4, timeout: Duration) -> std::io::Result<(SocketAddrV4, Duration)> {
    let mut src = std::fs::File::open(file)?;
    let start = Instant::now();
    let mut stream = TcpStream::connect_timeout(&addr.into(), timeout)?;
    let local = match stream.local_addr()? {
        SocketAddr::V4(a) => a,
        SocketAddr::V6(a) => return Err(std::io::Error::other(format!("an IPv6 local address {a} on an IPv4 connection"))),
    };
    stream.set_write_timeout(Some(timeout))?;
    stream.set_read_timeout(Some(timeout))?;
    std::io::copy(&mut src, &mut stream)?;
    stream.shutdown(Shutdown::Write)?;
    // The sink sends nothing; its FIN comes once it recorded the upload.
    let mut rest = [0u8; 64];
    loop {
        match stream.read(&mut rest)? {
            0 => return Ok((local, start.elapsed())),
            n => return Err(std::io::Error::new(ErrorKind::InvalidData, format!("the sink sent {n} bytes; it only receives"))),
        }
    }
}

/// The values a user command template can name, each as `{name}`. In the
/// direct baseline the listen address is the server's own; in relay mode
/// it is the card's, which relays to the server.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Placeholders {
    /// `{server_ip}`: the backend server's address.
    pub server_ip: Ipv4Addr,
    /// `{server_port}`: the backend HTTP server's port.
    pub server_port: u16,
    /// `{upload_port}`: the upload sink's port, on `server_ip`.
    pub upload_port: u16,
    /// `{listen_ip}`: where clients connect (the card in relay mode).
    pub listen_ip: Ipv4Addr,
    /// `{listen_port}`: the port clients connect to there.
    pub listen_port: u16,
    /// `{client_ip}`: the clients' own address.
    pub client_ip: Ipv4Addr,
    /// `{file}`: the generated file's name (its URL path on the server).
    pub file: String,
    /// `{work_dir}`: the lab's work directory (absolute).
    pub work_dir: PathBuf,
}

impl Placeholders {
    /// Every placeholder, for the error that lists them.
    pub const NAMES: [&'static str; 8] =
        ["server_ip", "server_port", "upload_port", "listen_ip", "listen_port", "client_ip", "file", "work_dir"];

    fn value(&self, name: &str) -> Option<String> {
        Some(match name {
            "server_ip" => self.server_ip.to_string(),
            "server_port" => self.server_port.to_string(),
            "upload_port" => self.upload_port.to_string(),
            "listen_ip" => self.listen_ip.to_string(),
            "listen_port" => self.listen_port.to_string(),
            "client_ip" => self.client_ip.to_string(),
            "file" => self.file.clone(),
            "work_dir" => self.work_dir.display().to_string(),
            _ => return None,
        })
    }

    /// `template` with every `{name}` replaced by its value (verbatim, not
    /// shell-quoted), `{{` and `}}` by literal braces. An unknown name, an
    /// unclosed `{` or a lone `}` is an error: a typo must not reach the
    /// shell as text.
    pub fn expand(&self, template: &str) -> Result<String, TemplateError> {
        let mut out = String::with_capacity(template.len());
        let mut rest = template.char_indices().peekable();
        while let Some((at, c)) = rest.next() {
            match c {
                '{' if rest.peek().map(|&(_, c)| c) == Some('{') => {
                    rest.next();
                    out.push('{');
                }
                '{' => {
                    let tail = &template[at + 1..];
                    let Some(end) = tail.find('}') else {
                        return Err(TemplateError::Unclosed { at, template: template.to_string() });
                    };
                    let name = &tail[..end];
                    let value = self.value(name).ok_or_else(|| TemplateError::Unknown { name: name.to_string(), template: template.to_string() })?;
                    out.push_str(&value);
                    // Skip the name and its closing brace.
                    for _ in 0..name.chars().count() + 1 {
                        rest.next();
                    }
                }
                '}' if rest.peek().map(|&(_, c)| c) == Some('}') => {
                    rest.next();
                    out.push('}');
                }
                '}' => return Err(TemplateError::LoneClose { at, template: template.to_string() }),
                c => out.push(c),
            }
        }
        Ok(out)
    }
}

/// How a user command ended, for the report.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct CommandOutcome {
    /// The template as given and the command run.
    pub template: String,
    pub command: String,
    pub ns: String,
    /// The exit code; None when a signal ended it.
    pub exit_code: Option<i32>,
    /// `exit status: 0`, `signal: 9 (SIGKILL)`…
    pub status: String,
    /// It ran past its timeout (a client) and was killed.
    pub timed_out: bool,
    pub wall_ms: u64,
    /// The last [`OUTPUT_LIMIT`] bytes of each stream.
    pub stdout: String,
    pub stderr: String,
}

impl CommandOutcome {
    /// Exited by itself with status 0.
    pub fn succeeded(&self) -> bool {
        !self.timed_out && self.exit_code == Some(0)
    }
}

/// A user's `--client-cmd` or `--server-cmd`: a template expanded and run
/// by `sh -c` inside a namespace, stdout and stderr into the work directory.
pub struct UserCommand {
    process: NsChild,
    template: String,
    command: String,
    ns: String,
    stdout: PathBuf,
    stderr: PathBuf,
    started: Instant,
}

impl UserCommand {
    /// Expands `template` and starts it in `ns`; its output goes to
    /// `work_dir/<tag>.stdout` and `.stderr`.
    pub fn start(ns: &str, template: &str, values: &Placeholders, work_dir: &Path, tag: &str) -> Result<UserCommand, ServersError> {
        let command = values.expand(template)?;
        let (stdout, stderr) = (work_dir.join(format!("{tag}.stdout")), work_dir.join(format!("{tag}.stderr")));
        let started = Instant::now();
        let process = NsChild::spawn(tag, ns, "/bin/sh", &["-c", &command], &stdout, &stderr)?;
        tracing::info!(ns, %command, "user command started");
        Ok(UserCommand { process, template: template.to_string(), command, ns: ns.to_string(), stdout, stderr, started })
    }

    /// Runs a client command to its end, or kills it (with all it started)
    /// after `timeout`.
    pub fn run(ns: &str, template: &str, values: &Placeholders, work_dir: &Path, tag: &str, timeout: Duration) -> Result<CommandOutcome, ServersError> {
        let mut cmd = UserCommand::start(ns, template, values, work_dir, tag)?;
        let status = cmd.process.wait_timeout(timeout);
        Ok(cmd.finish(status.is_none()))
    }

    /// Ends a server command (SIGKILL to its process group unless it
    /// already exited) and reports it.
    pub fn stop(mut self) -> CommandOutcome {
        self.finish(false)
    }

    fn finish(&mut self, timed_out: bool) -> CommandOutcome {
        let status = self.process.kill();
        let outcome = CommandOutcome {
            template: self.template.clone(),
            command: self.command.clone(),
            ns: self.ns.clone(),
            exit_code: status.and_then(|s| s.code()),
            status: status.map_or_else(|| "unknown (could not reap)".to_string(), |s| s.to_string()),
            timed_out,
            wall_ms: self.started.elapsed().as_millis() as u64,
            stdout: tail_of(&self.stdout, OUTPUT_LIMIT),
            stderr: tail_of(&self.stderr, OUTPUT_LIMIT),
        };
        tracing::info!(command = %outcome.command, status = %outcome.status, timed_out, "user command ended");
        outcome
    }
}

/// Two namespaces joined by one veth pair, no card between them: the
/// direct path relay goodput is compared with. Deleted on drop.
///
/// ```text
///  client netns [hbcli0 198.18.2.1/24] --veth-- [hbsrv0 198.18.2.2/24] server netns
/// ```
pub struct DirectNet {
    pub client_ns: String,
    pub server_ns: String,
    pub client_ip: Ipv4Addr,
    pub server_ip: Ipv4Addr,
    /// Namespaces created so far (a half-built pair is removed too).
    created: Vec<String>,
}

impl DirectNet {
    pub const CLIENT_IF: &'static str = "hbcli0";
    pub const SERVER_IF: &'static str = "hbsrv0";

    /// Builds it, with names unique to this process and `tag`
    /// (`hblab-<tag>-<pid>-<n>-cli` / `-srv`, which [`netns::reap_stale`]
    /// removes once this process is gone).
    pub fn create(tag: &str) -> Result<DirectNet, ServersError> {
        netns::require_root()?;
        netns::reap_stale();
        // The lab's own naming, so names never collide with a lab's.
        let base = netns::LabTopology::unique(tag).client_ns.trim_end_matches("-cli").to_string();
        let mut net = DirectNet {
            client_ns: format!("{base}-cli"),
            server_ns: format!("{base}-srv"),
            client_ip: Ipv4Addr::new(198, 18, 2, 1),
            server_ip: Ipv4Addr::new(198, 18, 2, 2),
            created: Vec::new(),
        };
        for ns in [net.client_ns.clone(), net.server_ns.clone()] {
            netns::add_netns(&ns)?;
            net.created.push(ns);
        }
        netns::ip(&[
            "link", "add", Self::CLIENT_IF, "netns", &net.client_ns, "type", "veth", "peer", "name", Self::SERVER_IF, "netns",
            &net.server_ns,
        ])?;
        for (ns, ifname, ip) in [(&net.client_ns, Self::CLIENT_IF, net.client_ip), (&net.server_ns, Self::SERVER_IF, net.server_ip)] {
            netns::ip(&["-n", ns, "addr", "add", &format!("{ip}/24"), "dev", ifname])?;
            netns::ip(&["-n", ns, "link", "set", ifname, "up"])?;
        }
        tracing::info!(client_ns = %net.client_ns, server_ns = %net.server_ns, "direct network up");
        Ok(net)
    }
}

impl Drop for DirectNet {
    fn drop(&mut self) {
        for ns in self.created.iter().rev() {
            if let Err(e) = netns::ip(&["netns", "del", ns]) {
                tracing::warn!(%ns, error = %e, "could not remove namespace");
            }
        }
    }
}

/// What [`direct_baseline`] does.
#[derive(Clone, Debug)]
pub struct BaselinePlan {
    /// Size of the file downloaded and of the one uploaded.
    pub bytes: u64,
    pub seed: u64,
    pub http_port: u16,
    pub upload_port: u16,
    /// The user's `--server-cmd`, started in the server namespace before
    /// the transfers and stopped after them.
    pub server_cmd: Option<String>,
    /// The user's `--client-cmd`, run in the client namespace after the
    /// transfers, killed after `timeout`.
    pub client_cmd: Option<String>,
    /// Limit of each transfer and of the client command.
    pub timeout: Duration,
    /// Generated files, logs, downloads, uploads and command output go here.
    pub work_dir: PathBuf,
}

/// The direct transfer's figures and checks.
#[derive(Clone, Debug, Serialize)]
pub struct BaselineReport {
    pub client_ns: String,
    pub server_ns: String,
    pub placeholders: Placeholders,
    pub download: Download,
    pub upload: Upload,
    /// What was uploaded against what the sink received.
    pub upload_check: TransferCheck,
    pub server_cmd: Option<CommandOutcome>,
    pub client_cmd: Option<CommandOutcome>,
}

impl BaselineReport {
    /// Both transfers arrived whole and unchanged, and the client command
    /// (if any) succeeded.
    pub fn ok(&self) -> bool {
        self.download.check.matches() && self.upload_check.matches() && self.client_cmd.as_ref().map_or(true, CommandOutcome::succeeded)
    }

    /// The lines a benchmark prints.
    pub fn human(&self) -> String {
        let mut s = format!(
            "direct (no card) {} -> {}:\n  download (curl from nginx): {} (curl's time_total: {:.0} Mbit/s); {}\n  upload (to the sink):       {}; {}\n",
            self.placeholders.client_ip,
            self.placeholders.server_ip,
            self.download.goodput,
            self.download.curl_goodput.mbit_per_s(),
            self.download.check,
            self.upload.goodput,
            self.upload_check,
        );
        for (what, cmd) in [("server-cmd", &self.server_cmd), ("client-cmd", &self.client_cmd)] {
            if let Some(c) = cmd {
                s.push_str(&format!("  {what} `{}`: {}{}\n", c.command, c.status, if c.timed_out { " (timed out)" } else { "" }));
                for (name, text) in [("stdout", &c.stdout), ("stderr", &c.stderr)] {
                    for line in text.lines() {
                        s.push_str(&format!("    {name}| {line}\n"));
                    }
                }
            }
        }
        s
    }
}

/// The relay benchmark's baseline: in a fresh [`DirectNet`], nginx serves
/// a generated file and the sink listens in the server namespace; the
/// client namespace downloads the file with curl and uploads another;
/// the user's commands run around them. Everything started is stopped and
/// the namespaces removed before this returns, on error too.
pub fn direct_baseline(plan: &BaselinePlan) -> Result<BaselineReport, ServersError> {
    let net = DirectNet::create("direct")?;
    let files = plan.work_dir.join("files");
    std::fs::create_dir_all(&files).map_err(io("creating", &files))?;
    let served = generate_file(&files, "download.bin", plan.seed, plan.bytes)?;
    // A different stream, so a server echoing the download back cannot pass the upload check.
    let sent = generate_file(&plan.work_dir, "upload.bin", plan.seed.wrapping_add(1), plan.bytes)?;
    let placeholders = Placeholders {
        server_ip: net.server_ip,
        server_port: plan.http_port,
        upload_port: plan.upload_port,
        listen_ip: net.server_ip,
        listen_port: plan.http_port,
        client_ip: net.client_ip,
        file: served.name.clone(),
        work_dir: plan.work_dir.clone(),
    };
    let server_cmd = plan
        .server_cmd
        .as_deref()
        .map(|t| UserCommand::start(&net.server_ns, t, &placeholders, &plan.work_dir, "server-cmd"))
        .transpose()?;
    let http = HttpServer::start(&net.server_ns, SocketAddrV4::new(net.server_ip, plan.http_port), &files, &plan.work_dir)?;
    let sink = UploadSink::start(&net.server_ns, SocketAddrV4::new(net.server_ip, plan.upload_port), &plan.work_dir.join("sink"))?;
    let download = download(&net.client_ns, &http.url(&served), &served, &plan.work_dir.join("downloaded.bin"), plan.timeout)?;
    let upload = upload(&net.client_ns, &sent.path, &sink, plan.timeout)?;
    let upload_check = upload.sink.check(&sent);
    let client_cmd = plan
        .client_cmd
        .as_deref()
        .map(|t| UserCommand::run(&net.client_ns, t, &placeholders, &plan.work_dir, "client-cmd", plan.timeout))
        .transpose()?;
    let report = BaselineReport {
        client_ns: net.client_ns.clone(),
        server_ns: net.server_ns.clone(),
        placeholders,
        download,
        upload,
        upload_check,
        server_cmd: server_cmd.map(UserCommand::stop),
        client_cmd,
    };
    // The servers go before the network (reverse order of creation).
    drop((sink, http));
    drop(net);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> Placeholders {
        Placeholders {
            server_ip: Ipv4Addr::new(198, 18, 2, 2),
            server_port: 8080,
            upload_port: 9000,
            listen_ip: Ipv4Addr::new(198, 18, 0, 2),
            listen_port: 80,
            client_ip: Ipv4Addr::new(198, 18, 2, 1),
            file: "download.bin".into(),
            work_dir: PathBuf::from("/tmp/w"),
        }
    }

    #[test]
    fn every_placeholder_expands_and_braces_escape() {
        let v = values();
        let all: String = Placeholders::NAMES.iter().map(|n| format!("{{{n}}} ")).collect();
        assert_eq!(v.expand(&all).unwrap(), "198.18.2.2 8080 9000 198.18.0.2 80 198.18.2.1 download.bin /tmp/w ");
        assert_eq!(
            v.expand("curl http://{listen_ip}:{listen_port}/{file} | awk '{{print $1}}'").unwrap(),
            "curl http://198.18.0.2:80/download.bin | awk '{print $1}'"
        );
        assert_eq!(v.expand("no braces").unwrap(), "no braces");
        assert_eq!(v.expand("é{file}ü").unwrap(), "édownload.binü", "multi-byte text around a placeholder");
    }

    #[test]
    fn unknown_unclosed_and_lone_braces_are_errors() {
        let v = values();
        assert_eq!(v.expand("x {server_addr} y"), Err(TemplateError::Unknown { name: "server_addr".into(), template: "x {server_addr} y".into() }));
        let msg = v.expand("{client_ns}").unwrap_err().to_string();
        assert!(msg.contains("{client_ns}") && msg.contains("{server_ip}") && msg.contains("{work_dir}"), "{msg}");
        assert_eq!(v.expand("echo ${HOME}"), Err(TemplateError::Unknown { name: "HOME".into(), template: "echo ${HOME}".into() }));
        assert_eq!(v.expand("a {file"), Err(TemplateError::Unclosed { at: 2, template: "a {file".into() }));
        assert_eq!(v.expand("a } b"), Err(TemplateError::LoneClose { at: 2, template: "a } b".into() }));
    }

    /// A generated file is client 0's stream under the same seed: both are
    /// drawn in the same blocks, so its hash equals the clients' expected hash.
    #[test]
    fn generated_files_are_the_clients_stream_and_hash_what_is_on_disk() {
        let dir = std::env::temp_dir().join(format!("holdback-servers-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let len = 3 * BLOCK as u64 + 1235;
        let f = generate_file(&dir, "a.bin", 42, len).unwrap();
        assert_eq!(f.sha256, hex(&clients::expected_sha256(42, 0, len)));
        assert_eq!(hash_file(&f.path).unwrap(), (len, f.sha256.clone()));
        let g = generate_file(&dir, "b.bin", 43, len).unwrap();
        assert_ne!(f.sha256, g.sha256);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn goodput_is_bits_per_wall_microsecond() {
        let g = Goodput::new(8 << 20, Duration::from_millis(100));
        assert!((g.mbit_per_s() - 671.088_64).abs() < 1e-6, "{g}");
        assert_eq!(Goodput::new(1, Duration::ZERO).mbit_per_s(), 0.0);
    }

    /// The readiness check finds our own listener, and not a port that only
    /// accepts connections (a connected socket) nor one nobody listens on.
    #[test]
    fn a_listener_is_found_among_the_process_own_sockets() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let SocketAddr::V4(addr) = listener.local_addr().unwrap() else { panic!("an IPv4 listener") };
        let me = std::process::id();
        assert!(holds_listener(me, addr));
        let client = TcpStream::connect(addr).unwrap();
        let SocketAddr::V4(client_addr) = client.local_addr().unwrap() else { panic!("an IPv4 client") };
        assert!(!holds_listener(me, client_addr), "a connected socket is not a listener");
        drop(listener);
        assert!(!holds_listener(me, addr), "a closed listener");
    }

    /// A process group is killed whole: a shell's background child too.
    #[test]
    fn killing_a_group_kills_the_children_it_started() {
        use std::os::unix::process::CommandExt;
        let mut child = Command::new("/bin/sh")
            .args(["-c", "sleep 30 & sleep 30"])
            .process_group(0)
            .spawn()
            .unwrap();
        let pgid = child.id();
        let start = Instant::now();
        // sh and both sleeps, or the two sleeps if sh exec'd the last one.
        while group_members(pgid).len() < 2 && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(group_members(pgid).len() >= 2, "{:?}", group_members(pgid));
        kill_group(pgid);
        child.wait().unwrap();
        assert!(group_members(pgid).is_empty(), "left: {:?}", group_members(pgid));
    }
}
