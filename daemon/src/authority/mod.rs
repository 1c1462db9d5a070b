//! Who may speak for the service address (invariant 8, `docs/authority.md`).
//!
//! `[authority] kind = "pair"` keeps the pair's own means (heartbeats, the
//! epoch file, the tie-break on listen addresses: `crate::pair`).
//! `kind = "etcd"` adds an authority that only ever hands out growing
//! epochs: a node takes epoch E+1 by a compare-and-swap transaction in etcd
//! ([`etcd`]), and may speak only while it holds a fresh confirmation that
//! its epoch is still current, or a fresh promise from its standby not to
//! take over ([`rules`]). The standby campaigns only after its detector
//! fired and its own last promise ran out; the winner speaks only after the
//! old holder's last confirmation ran out. Detection stays card to card.
pub mod rules;

#[cfg(feature = "etcd")]
pub mod etcd;
#[cfg(feature = "etcd")]
pub mod node;

pub use rules::{Grants, SpeaksOn, Timing};

/// This process's monotonic clock in microseconds: the time every grant
/// and wait of [`rules`] is measured in. Never compared with another
/// node's; a peer only ever echoes a value of ours back to us.
pub fn now_us() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    // Offset by one second so no real reading is 0 (0 means "never").
    START.get_or_init(std::time::Instant::now).elapsed().as_micros() as u64 + 1_000_000
}
