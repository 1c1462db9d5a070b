//! The failover pair's epoch on disk (invariant 8).
//!
//! One small file per daemon (`[replication] state_file`) holding two
//! numbers: `seen`, the highest epoch this daemon has seen or held, and
//! `held_active`, the highest epoch in which it held the active role
//! (active or promoted). [`crate::pair`] writes it *before* acting on a new
//! epoch, and starts from it, so a restart neither forgets a promotion nor
//! comes up active on stale knowledge (`seen > held_active`: another card
//! was promoted after this one last spoke).
//!
//! Every write is atomic: a temporary file beside it is written and
//! fsynced, renamed over the old one, and the directory fsynced, so a crash
//! leaves either the old record or the new one. A file that exists but does
//! not parse is an error naming the file — never a silent epoch 1.
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum EpochFileError {
    #[error("{path}: cannot read the pair's epoch file")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: the pair's epoch file is corrupt ({message}); the daemon does not guess an epoch: restore the file, or write the pair's current epoch as `seen = N` and `held_active = M` (M <= N; M < N keeps a daemon configured active from taking the role until a primary connects or `holdback promote`)")]
    Corrupt { path: PathBuf, message: String },
    #[error("{path}: {what} (recording the pair's epoch)")]
    Write {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
}

/// What the file records. A missing file reads as all zeros (a daemon
/// that never was in a pair).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EpochRecord {
    /// Highest epoch this daemon has seen (adopted from a primary, heard
    /// of from a peer) or held.
    pub seen: u32,
    /// Highest epoch in which this daemon held the active role; never
    /// above `seen`.
    pub held_active: u32,
}

impl EpochRecord {
    /// Another card was promoted after this one last held the active role:
    /// it must not take the role without hearing from the pair.
    pub fn knows_a_newer_primary(&self) -> bool {
        self.seen > self.held_active
    }
}

const HEADER: &str = "# holdback failover pair epoch (invariant 8): written by the daemon before it acts on a new epoch, read at its start.\n";

/// The state file and its last written record; writes are serialised.
pub struct EpochFile {
    path: PathBuf,
    record: Mutex<EpochRecord>,
}

impl EpochFile {
    /// Reads `path` (a missing file is a fresh daemon: all zeros).
    pub fn open(path: &Path) -> Result<EpochFile, EpochFileError> {
        let record = read(path)?;
        Ok(EpochFile { path: path.to_path_buf(), record: Mutex::new(record) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn record(&self) -> EpochRecord {
        *lock(&self.record)
    }

    /// Records that `epoch` exists (adopted or heard of); a no-op unless it
    /// is newer than what the file holds.
    pub fn note_seen(&self, epoch: u32) -> Result<(), EpochFileError> {
        self.update(|r| EpochRecord { seen: r.seen.max(epoch), ..r })
    }

    /// Records that this daemon takes the active role in `epoch`.
    pub fn note_active(&self, epoch: u32) -> Result<(), EpochFileError> {
        self.update(|r| EpochRecord { seen: r.seen.max(epoch), held_active: r.held_active.max(epoch) })
    }

    /// Writes the new record first; memory follows only a durable write.
    fn update(&self, change: impl FnOnce(EpochRecord) -> EpochRecord) -> Result<(), EpochFileError> {
        let mut current = lock(&self.record);
        let next = change(*current);
        if next == *current {
            return Ok(());
        }
        write_atomically(&self.path, &next)?;
        *current = next;
        Ok(())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The record in `path`; a missing file is all zeros.
pub fn read(path: &Path) -> Result<EpochRecord, EpochFileError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(EpochRecord::default()),
        Err(source) => return Err(EpochFileError::Read { path: path.to_path_buf(), source }),
    };
    let corrupt = |message: String| EpochFileError::Corrupt { path: path.to_path_buf(), message };
    let record: EpochRecord = toml::from_str(&text).map_err(|e| corrupt(e.message().trim().lines().collect::<Vec<_>>().join("; ")))?;
    if record.held_active > record.seen {
        return Err(corrupt(format!("held_active = {} is above seen = {}", record.held_active, record.seen)));
    }
    Ok(record)
}

/// tmp + fsync + rename + fsync of the directory.
fn write_atomically(path: &Path, record: &EpochRecord) -> Result<(), EpochFileError> {
    let err = |what: &'static str, at: &Path| {
        let at = at.to_path_buf();
        move |source| EpochFileError::Write { path: at, what, source }
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(err("creating its directory", dir))?;
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = dir.join(tmp_name);
    // Two plain integers: serialising cannot fail.
    let body = toml::to_string(record).unwrap_or_default();
    let mut file = std::fs::File::create(&tmp).map_err(err("creating the temporary file", &tmp))?;
    file.write_all(format!("{HEADER}{body}").as_bytes()).map_err(err("writing the temporary file", &tmp))?;
    file.sync_all().map_err(err("fsync of the temporary file", &tmp))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(err("renaming the temporary file over it", path))?;
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(err("fsync of its directory", dir))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Dir(PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    fn scratch(name: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("holdback-epoch-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        Dir(d)
    }

    #[test]
    fn a_missing_file_is_a_fresh_daemon_and_writes_read_back_across_a_reopen() {
        let d = scratch("rw");
        let path = d.0.join("state").join("pair-epoch");
        let f = EpochFile::open(&path).expect("missing file is fine");
        assert_eq!(f.record(), EpochRecord::default());
        assert!(!path.exists(), "reading does not create the file");
        f.note_active(1).expect("write");
        f.note_seen(3).expect("write");
        f.note_seen(2).expect("an older epoch is a no-op");
        assert_eq!(f.record(), EpochRecord { seen: 3, held_active: 1 });
        let again = EpochFile::open(&path).expect("reopen");
        assert_eq!(again.record(), EpochRecord { seen: 3, held_active: 1 });
        assert!(again.record().knows_a_newer_primary());
        again.note_active(4).expect("write");
        assert_eq!(read(&path).expect("read"), EpochRecord { seen: 4, held_active: 4 });
        assert!(!read(&path).unwrap().knows_a_newer_primary());
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().flatten().map(|e| e.file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("pair-epoch")], "no temporary file left behind");
    }

    #[test]
    fn a_corrupt_file_is_an_error_naming_the_file_not_epoch_1() {
        let d = scratch("corrupt");
        std::fs::create_dir_all(&d.0).unwrap();
        let path = d.0.join("pair-epoch");
        for (text, what) in [
            ("seen = \"three\"\nheld_active = 1\n", "invalid type"),
            ("seen = 3\n", "missing field `held_active`"),
            ("seen = 3\nheld_active = 1\nextra = 2\n", "unknown field `extra`"),
            ("\u{0}\u{0}\u{0}", "corrupt"),
            ("seen = 2\nheld_active = 3\n", "held_active = 3 is above seen = 2"),
        ] {
            std::fs::write(&path, text).unwrap();
            let e = EpochFile::open(&path).err().unwrap_or_else(|| panic!("{text:?} must be refused"));
            let msg = e.to_string();
            assert!(msg.starts_with(&path.display().to_string()), "{msg}");
            assert!(msg.contains(what), "`{what}` not in: {msg}");
        }
    }

    #[test]
    fn a_write_that_cannot_happen_leaves_the_record_unchanged() {
        let d = scratch("unwritable");
        let dir = d.0.join("not-a-dir");
        std::fs::create_dir_all(&dir).unwrap();
        let f = EpochFile::open(&dir.join("pair-epoch")).expect("missing file");
        // The directory becomes a regular file (root ignores permissions).
        std::fs::remove_dir(&dir).unwrap();
        std::fs::write(&dir, "x").unwrap();
        let e = f.note_active(2).expect_err("cannot write under a file");
        assert!(e.to_string().contains("not-a-dir"), "{e}");
        assert_eq!(f.record(), EpochRecord::default(), "memory follows only a durable write");
        // And reading through it is an error, not a fresh daemon.
        assert!(matches!(EpochFile::open(&dir.join("pair-epoch")), Err(EpochFileError::Read { .. })));
    }
}
