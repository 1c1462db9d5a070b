//! Root, `ip` and throwaway network namespaces for the tests that put the
//! simulated card on a TAP (`card_tap.rs`, `tx_tap.rs`).
#![allow(dead_code)] // each test binary uses its own subset

use std::{
    process::Command,
    sync::atomic::{AtomicU32, Ordering},
};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Fails (never skips) unless running as root with `ip` installed; `what`
/// names the test in the message.
pub fn require_root_and_ip(what: &str) {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(euid, 0, "{what} needs root (network namespaces and a TAP device); run it as root");
    let ok = Command::new("ip").arg("-V").output().map(|o| o.status.success()).unwrap_or(false);
    assert!(ok, "{what} needs `ip`: apt-get install -y iproute2");
}

pub fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap_or_else(|e| panic!("running ip {args:?}: {e}"));
    assert!(out.status.success(), "ip {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// A uniquely named netns (`<prefix>-<pid>-<n>`), deleted on drop even when
/// the test fails (deleting it also deletes the TAP inside).
pub struct Netns(pub String);

impl Netns {
    pub fn new(prefix: &str) -> Netns {
        let name = format!("{prefix}-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        ip(&["netns", "add", &name]);
        let ns = Netns(name);
        ip(&["-n", &ns.0, "link", "set", "lo", "up"]);
        ns
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}
