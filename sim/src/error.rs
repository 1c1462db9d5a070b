//! Errors of the simulated card.
use std::{io, path::PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("no Verilated model named `{name}` (built: {built})")]
    NoSuchModel { name: String, built: String },
    #[error("model `{model}` has no port `{port}`")]
    NoSuchPort { model: String, port: String },
    #[error("model `{model}` lacks the core's top-level ports {missing:?} (is it still a placeholder?)")]
    MissingPorts { model: String, missing: Vec<String> },
    #[error("register {op} at {addr:#07x}: no reg_ack within {cycles} cycles")]
    RegisterTimeout { op: &'static str, addr: u32, cycles: u64 },
    #[error("register address {addr:#x} does not fit the {bits}-bit register bus")]
    RegisterAddress { addr: u32, bits: u32 },
    #[error("core not idle after {cycles} cycles")]
    NotIdle { cycles: u64 },
    #[error(
        "opening TAP `{name}`{} failed: {source} (needs root or CAP_NET_ADMIN, and /dev/net/tun; \
         create it with `mkdir -p /dev/net && mknod /dev/net/tun c 10 200` if missing)",
        netns.as_ref().map(|n| format!(" in netns `{n}`")).unwrap_or_default()
    )]
    TapOpen { name: String, netns: Option<String>, source: io::Error },
    #[error("entering network namespace `{netns}` ({path}) failed: {source} (needs root; create it with `ip netns add {netns}`)")]
    Netns { netns: String, path: PathBuf, source: io::Error },
    #[error("TAP `{name}` {op} failed: {source}")]
    TapIo { name: String, op: &'static str, source: io::Error },
    #[error("pcap file {path}: {source}")]
    Pcap { path: PathBuf, source: io::Error },
    #[error("the card's clock thread is gone{}", reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default())]
    CardStopped { reason: Option<String> },
    #[error("starting the card's clock thread: {0}")]
    Thread(#[source] io::Error),
    #[error("the card's clock thread panicked: {0}")]
    ThreadPanicked(String),
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
    #[error("VCD tracing was requested ({0}) but this build has no traced model: build holdback-sim with `--features vcd`")]
    VcdUnsupported(PathBuf),
}
