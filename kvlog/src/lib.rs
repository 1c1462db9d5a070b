//! kvlog: a line-based key-value log behind the holdback card, written on
//! the daemon's public application interface ([`holdback_daemon::app`])
//! and nothing else — the example of a program of one's own behind the
//! card (docs/app.md).
//!
//! Peers send lines `key=value\n`. Every complete line is appended to one
//! log file (`kvlog.log` in the daemon's `sink_dir`) as
//! `<peer ip>:<peer port> key=value`, the file is fsynced, and only then
//! are the line's bytes committed: the card acknowledges a line once it is
//! on disk, never a half line. A line still arriving stays uncommitted in
//! the receive ring and is read again, whole, in a later pass. The latest
//! value of every key is kept in memory and rebuilt from the log when the
//! application starts.
//!
//! A line longer than [`MAX_LINE`] bytes (it could fill the smallest
//! receive ring and never end) and a line without `=` or with an empty key
//! are not logged; they are counted in [`KvStats::refused_lines`] and their
//! bytes committed, so the stream goes on.
use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use holdback_daemon::app::{AppError, AppIo, Application, Conn};

/// Longest line taken, newline included: less than the smallest receive
/// ring (4 KiB), so a line always fits the ring whole.
pub const MAX_LINE: usize = 2048;

/// The log's file name in the directory it is kept in.
pub const LOG_FILE: &str = "kvlog.log";

/// What kvlog counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KvStats {
    /// Lines appended to the log.
    pub lines: u64,
    /// Lines too long or not `key=value`: committed, not logged.
    pub refused_lines: u64,
    pub fsyncs: u64,
}

/// The key-value state: the latest value of every key, and the counts.
#[derive(Debug, Default)]
pub struct KvState {
    pub values: BTreeMap<String, String>,
    pub stats: KvStats,
}

/// The application.
pub struct KvLog {
    file: File,
    path: PathBuf,
    state: Arc<Mutex<KvState>>,
    /// Peer of every open connection, for the log lines.
    peers: HashMap<u16, String>,
}

fn app_error(what: String, source: std::io::Error) -> AppError {
    AppError::App { app: "kvlog", what, source: Some(Box::new(source)) }
}

/// One `key=value` line (without its newline), if it is one.
fn parse_line(line: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(line).ok()?;
    let (key, value) = text.split_once('=')?;
    (!key.is_empty() && !key.contains(' ')).then(|| (key.to_string(), value.to_string()))
}

impl KvLog {
    /// Opens (or creates) the log in `dir` and rebuilds the state from it.
    pub fn open(dir: &Path) -> Result<KvLog, AppError> {
        std::fs::create_dir_all(dir).map_err(|e| app_error(format!("creating {}", dir.display()), e))?;
        let path = dir.join(LOG_FILE);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(&path)
            .map_err(|e| app_error(format!("opening {}", path.display()), e))?;
        let mut state = KvState::default();
        for line in BufReader::new(&file).split(b'\n') {
            let line = line.map_err(|e| app_error(format!("reading {}", path.display()), e))?;
            // `<peer> key=value`: the peer is everything before the first space.
            let entry = line.iter().position(|b| *b == b' ').and_then(|at| parse_line(&line[at + 1..]));
            match entry {
                Some((k, v)) => {
                    state.values.insert(k, v);
                    state.stats.lines += 1;
                }
                None => tracing::warn!(path = %path.display(), "a log line that is not `<peer> key=value`: skipped"),
            }
        }
        tracing::info!(path = %path.display(), keys = state.values.len(), lines = state.stats.lines, "kvlog opened");
        Ok(KvLog { file, path, state: Arc::new(Mutex::new(state)), peers: HashMap::new() })
    }

    /// The state, shared with whoever wants to look at it.
    pub fn state(&self) -> Arc<Mutex<KvState>> {
        self.state.clone()
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, KvState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Splits `bytes` (from stream offset `offset`) into the complete lines
/// it holds. Returns the lines (without newlines; `None` for one refused as
/// too long) and the stream offset just past the last complete line; with
/// `fin`, what is left after the last newline is the last line.
fn complete_lines(offset: u64, bytes: &[u8], fin: bool) -> (Vec<Option<&[u8]>>, u64) {
    let mut lines = Vec::new();
    let mut start = 0;
    while start < bytes.len() {
        let rest = &bytes[start..];
        match rest.iter().position(|b| *b == b'\n') {
            Some(n) if n < MAX_LINE => {
                lines.push(Some(&rest[..n]));
                start += n + 1;
            }
            Some(n) => {
                lines.push(None);
                start += n + 1;
            }
            None if rest.len() >= MAX_LINE => {
                // No newline within MAX_LINE: refuse what is here; the rest
                // of the line is refused the same way as it comes.
                lines.push(None);
                start = bytes.len();
            }
            None if fin => {
                lines.push(Some(rest));
                start = bytes.len();
            }
            None => break,
        }
    }
    (lines, offset + start as u64)
}

impl Application for KvLog {
    fn name(&self) -> &'static str {
        "kvlog"
    }

    fn accept(&mut self, conn: &Conn) -> Result<Option<PathBuf>, AppError> {
        self.peers.insert(conn.id, format!("{}:{}", conn.remote_ip(), conn.remote_port()));
        Ok(Some(self.path.clone()))
    }

    fn pass(&mut self, io: &mut AppIo<'_>) -> Result<(), AppError> {
        let mut commits = Vec::new();
        let mut text = Vec::new();
        let mut entries = Vec::new();
        let mut refused = 0;
        let mut durable = false;
        for conn in io.readable() {
            let Some(chunk) = io.read(conn.id)? else { continue };
            let (lines, end) = complete_lines(chunk.offset, chunk.bytes, chunk.fin);
            let peer = self.peers.get(&conn.id).map_or("?", String::as_str);
            for line in lines {
                match line.and_then(parse_line) {
                    Some((k, v)) => {
                        text.extend_from_slice(format!("{peer} {k}={v}\n").as_bytes());
                        entries.push((k, v));
                    }
                    None => refused += 1,
                }
            }
            if end > chunk.offset {
                durable |= io.app_gate(conn.id);
                commits.push((conn.id, end));
            }
        }
        if commits.is_empty() {
            return Ok(());
        }
        // The `app` gate: on disk before the card may acknowledge the lines.
        self.file.write_all(&text).map_err(|e| app_error(format!("appending to {}", self.path.display()), e))?;
        if durable {
            self.file.sync_data().map_err(|e| app_error(format!("fsync of {}", self.path.display()), e))?;
        }
        {
            let mut state = self.lock();
            state.stats.lines += entries.len() as u64;
            state.stats.refused_lines += refused;
            state.stats.fsyncs += u64::from(durable);
            state.values.extend(entries);
        }
        for (id, end) in commits {
            io.commit(id, end)?;
        }
        Ok(())
    }

    fn closed(&mut self, conn: &Conn, aborted: bool) {
        if aborted {
            tracing::warn!(id = conn.id, "kvlog: a connection ended before its FIN; its last line may be missing");
        }
        self.peers.remove(&conn.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_lines_stop_at_the_last_newline_unless_the_fin_ends_the_stream() {
        let (lines, end) = complete_lines(100, b"a=1\nbb=2\ncc=", false);
        assert_eq!((lines, end), (vec![Some(&b"a=1"[..]), Some(&b"bb=2"[..])], 109));
        let (lines, end) = complete_lines(109, b"cc=3", true);
        assert_eq!((lines, end), (vec![Some(&b"cc=3"[..])], 113));
        let long = vec![b'x'; MAX_LINE + 10];
        let (lines, end) = complete_lines(0, &long, false);
        assert_eq!((lines, end), (vec![None], long.len() as u64), "a line longer than MAX_LINE is refused, not waited for");
        assert_eq!(parse_line(b"k=v=w"), Some(("k".into(), "v=w".into())));
        assert_eq!(parse_line(b"=v"), None);
        assert_eq!(parse_line(b"no equals"), None);
    }
}
