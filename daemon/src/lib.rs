//! The holdback daemon library, in three layers; each uses only those
//! before it, and the daemon's modules never name the lab or the tools (a
//! test below keeps it so):
//!
//! - the daemon (`holdback daemon --config`), at the top level: [`config`]
//!   (the validated file), [`service`] (the card's service loop), [`app`]
//!   (the application interface and its host: commit, then release ACKs),
//!   [`sink`] and [`echo`] (the built-in applications), [`events`] (the one consumer of the
//!   card's event queue, fanning TCB changes out), [`pair`] and [`replication`] (the
//!   failover pair), [`control`] and [`tables`] (the control socket and its
//!   output), [`metrics`] (Prometheus) and [`http`] (the HTTP endpoint:
//!   metrics and health), [`error`] (shared error parts) and
//!   [`sys`] (the one module with system calls);
//! - [`tools`], for operators: `holdback watch`, `holdback load`,
//!   `holdback verilog` (feature `verilog`);
//! - `lab` (feature `lab`): namespaces, Linux clients, the single-card and
//!   pair labs, `lab up`; it runs the daemon as a process, from a
//!   generated [`config::Config`].
//!
//! [`cli`] is the `holdback` command line of all three.
#![deny(unsafe_code)]

pub mod app;
pub mod authority;
pub mod cli;
pub mod config;
pub mod control;
pub mod echo;
pub mod error;
pub mod events;
pub mod http;
pub mod metrics;
pub mod pair;
pub mod replication;
pub mod service;
pub mod sink;
pub mod syn_cookies;
#[allow(unsafe_code)]
pub mod sys;
pub mod tables;
/// A card in memory for applications' unit tests (feature `testcard`):
/// an example application outside this crate tests against it.
#[cfg(any(test, feature = "testcard"))]
pub mod testcard;

pub mod tools;

#[cfg(feature = "lab")]
pub mod lab;

#[cfg(test)]
mod layering {
    use std::path::{Path, PathBuf};

    /// What only the lab and the tools may name.
    const ABOVE_THE_DAEMON: [&str; 4] = ["crate::lab", "crate::tools", "holdback_hdl", "super::lab"];

    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).flatten() {
            let path = entry.path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// The daemon is every source file outside `lab/`, `tools/`, `bin/`,
    /// `main.rs` and `cli.rs` (the binary and its command line reach all
    /// three layers).
    #[test]
    fn no_daemon_module_names_the_lab_or_the_tools() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let daemon: Vec<PathBuf> = files
            .into_iter()
            .filter(|f| {
                let rel = f.strip_prefix(&src).expect("under src");
                !["lab", "tools", "bin"].iter().any(|d| rel.starts_with(d)) && rel != Path::new("main.rs") && rel != Path::new("cli.rs")
            })
            .collect();
        assert!(daemon.len() >= 11, "the daemon's modules were not found: {daemon:?}");
        let mut offences = Vec::new();
        for f in &daemon {
            let text = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            for (n, line) in text.lines().enumerate() {
                // This test names them, in its list.
                if f.ends_with("lib.rs") && line.contains("ABOVE_THE_DAEMON") {
                    continue;
                }
                if let Some(name) = ABOVE_THE_DAEMON.iter().find(|name| line.contains(*name)) {
                    offences.push(format!("{}:{}: names {name}: {}", f.display(), n + 1, line.trim()));
                }
            }
        }
        assert!(offences.is_empty(), "the daemon must not use the lab or the tools:\n{}", offences.join("\n"));
    }

    /// `--no-default-features` leaves the simulator and rust-hdl out of
    /// the daemon's build (cargo tree resolves; nothing is compiled).
    #[test]
    fn without_default_features_the_daemon_depends_on_neither_the_simulator_nor_rust_hdl() {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let out = std::process::Command::new(&cargo)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["tree", "--offline", "-p", "holdback-daemon", "--no-default-features", "-e", "normal", "--prefix", "none"])
            .output()
            .unwrap_or_else(|e| panic!("running {cargo:?} tree: {e}"));
        let tree = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && tree.contains("holdback-driver"), "cargo tree failed:\n{}", String::from_utf8_lossy(&out.stderr));
        for unwanted in ["holdback-sim", "holdback-hdl", "rust-hdl"] {
            assert!(!tree.lines().any(|l| l.starts_with(unwanted)), "{unwanted} is in the daemon's build without default features:\n{tree}");
        }
    }
}
