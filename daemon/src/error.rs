//! What every error of the daemon shares: a file operation that failed
//! (what, on which path, why), and the one-line form of a cause chain.
use std::path::{Path, PathBuf};

/// An I/O operation on a path failed: "creating /run/holdback/x: …".
#[derive(Debug, thiserror::Error)]
#[error("{what} {path}")]
pub struct IoError {
    pub what: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// `map_err(io("writing", &path))`: the I/O error with what was done to which path.
pub fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> IoError + 'a {
    move |source| IoError { what, path: path.to_path_buf(), source }
}

/// An error and its causes on one line: "a: b: c".
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}
