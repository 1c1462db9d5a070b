//! A SYN flood from the client namespace (RFC 4987 §2), for `holdback lab
//! --syn-flood PPS`: hping3 (Debian's `hping3`) sends bare SYNs to the card's
//! port, each from the next source port of an address in the lab's subnet
//! that no host has. The card answers each with a SYN-ACK to that address;
//! the client host drops them (the address is not its own and it does not
//! forward), so nobody ever answers or resets them and every SYN leaves a
//! half-open entry until the card gives up on it. That is what a spoofed
//! flood does, without sending anything outside the namespaces the lab made.
//!
//! While it runs, a late client ([`late_connect`]) shows what a legitimate
//! newcomer gets: how long its connect took and how many SYNs Linux had to
//! send (`nstat` TcpExtTCPSynRetrans in the client namespace).
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::netns::{run_in_netns, LabTopology, NetnsError};

/// The highest rate the lab accepts: hping3 sleeps at least 1 us between
/// SYNs, and far beyond the simulator's frame rate a flood measures nothing
/// but the TAP's queue.
pub const MAX_PPS: u32 = 100_000;

#[derive(Debug, thiserror::Error)]
pub enum FloodError {
    #[error("--syn-flood {0}: the rate must be 1..={MAX_PPS} SYNs per second")]
    Rate(u32),
    #[error("the lab's subnet /{prefix_len} has no free address to flood from")]
    NoSpareAddress { prefix_len: u8 },
    #[error("starting hping3 in {ns} (Debian's hping3 package; .ci/setup installs it)")]
    Start {
        ns: String,
        #[source]
        source: std::io::Error,
    },
    #[error("hping3 exited early ({status}): {output}")]
    Exited { status: std::process::ExitStatus, output: String },
    #[error("stopping hping3")]
    Stop(#[source] std::io::Error),
    #[error("hping3 printed no count of SYNs sent: {0}")]
    NoCount(String),
    #[error("the late client")]
    Netns(#[from] NetnsError),
}

/// What the flood did, for the lab's report.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FloodFigures {
    /// The rate asked for.
    pub pps: u32,
    /// SYNs hping3 says it sent.
    pub syns_sent: u64,
    pub seconds: f64,
    /// The address the SYNs came from (no host has it).
    pub spoofed_from: Ipv4Addr,
    /// The client that connected while the flood ran.
    pub late_client: Option<LateConnect>,
}

/// A client that connected during the flood.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LateConnect {
    /// Whether it connected within the lab's stall timeout, and how long it took.
    pub connected: bool,
    pub connect_ms: f64,
    /// SYNs Linux sent again for it (TcpExtTCPSynRetrans; the streaming
    /// clients connected before the flood, so this is its count); None when
    /// nstat did not answer.
    pub syn_retransmits: Option<u64>,
    /// Why it did not connect.
    pub error: Option<String>,
}

/// An address of the lab's subnet that neither the client nor the card has:
/// the highest host address not theirs.
pub fn spoof_address(topo: &LabTopology) -> Result<Ipv4Addr, FloodError> {
    let host_bits = 32 - u32::from(topo.prefix_len);
    if !(2..=30).contains(&host_bits) {
        return Err(FloodError::NoSpareAddress { prefix_len: topo.prefix_len });
    }
    let mask = u32::MAX << host_bits;
    let net = u32::from(topo.card_ip) & mask;
    let broadcast = net | !mask;
    (net + 1..broadcast)
        .rev()
        .map(Ipv4Addr::from)
        .find(|a| *a != topo.card_ip && *a != topo.client_ip)
        .ok_or(FloodError::NoSpareAddress { prefix_len: topo.prefix_len })
}

/// A running hping3.
pub struct SynFlood {
    child: Child,
    pps: u32,
    spoofed_from: Ipv4Addr,
    started: Instant,
}

impl SynFlood {
    /// Starts hping3 in the client namespace at `pps` SYNs per second
    /// towards the card's `port`.
    pub fn start(topo: &LabTopology, port: u16, pps: u32) -> Result<SynFlood, FloodError> {
        if pps == 0 || pps > MAX_PPS {
            return Err(FloodError::Rate(pps));
        }
        let spoofed_from = spoof_address(topo)?;
        let interval = format!("u{}", 1_000_000 / pps);
        let mut child = Command::new("ip")
            .args(["netns", "exec", &topo.client_ns, "hping3", "-q", "-S", "-p"])
            .arg(port.to_string())
            .args(["-a", &spoofed_from.to_string(), "-s", "1024", "-i", &interval])
            .arg(topo.card_ip.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| FloodError::Start { ns: topo.client_ns.clone(), source })?;
        // A missing binary or a refused raw socket ends it at once.
        std::thread::sleep(Duration::from_millis(100));
        if let Some(status) = child.try_wait().map_err(FloodError::Stop)? {
            return Err(FloodError::Exited { status, output: output_of(&mut child) });
        }
        tracing::info!(pps, %spoofed_from, ns = %topo.client_ns, "SYN flood started");
        Ok(SynFlood { child, pps, spoofed_from, started: Instant::now() })
    }

    /// Stops hping3 (SIGINT, after which it prints its count) and reads what it sent.
    pub fn stop(mut self, late_client: Option<LateConnect>) -> Result<FloodFigures, FloodError> {
        let seconds = self.started.elapsed().as_secs_f64();
        crate::sys::interrupt_child(&self.child).map_err(FloodError::Stop)?;
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.child.try_wait().map_err(FloodError::Stop)?.is_none() {
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.wait();
        let output = output_of(&mut self.child);
        let syns_sent = syns_sent(&output).ok_or_else(|| FloodError::NoCount(output.clone()))?;
        tracing::info!(syns_sent, seconds, "SYN flood stopped");
        Ok(FloodFigures { pps: self.pps, syns_sent, seconds, spoofed_from: self.spoofed_from, late_client })
    }
}

impl Drop for SynFlood {
    fn drop(&mut self) {
        // An error path: nothing reads its count, but it must not outlive the lab.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn output_of(child: &mut Child) -> String {
    let mut text = String::new();
    if let Some(out) = child.stdout.as_mut() {
        let _ = out.read_to_string(&mut text);
    }
    if let Some(err) = child.stderr.as_mut() {
        let _ = err.read_to_string(&mut text);
    }
    text
}

/// hping3's closing statistics: "N packets transmitted, M packets received, ...".
fn syns_sent(output: &str) -> Option<u64> {
    output.lines().find_map(|l| l.split_once(" packets transmitted").and_then(|(n, _)| n.trim().parse().ok()))
}

/// One client connects to `target` from the client namespace while the
/// flood runs, and closes at once.
pub fn late_connect(client_ns: &str, target: SocketAddrV4, timeout: Duration) -> Result<LateConnect, FloodError> {
    let before = super::client_nstat(client_ns, "TcpExtTCPSynRetrans");
    let (connected, connect_ms, error) = run_in_netns(client_ns, move || {
        let started = Instant::now();
        let result = TcpStream::connect_timeout(&target.into(), timeout);
        let ms = started.elapsed().as_secs_f64() * 1e3;
        match result {
            Ok(stream) => {
                drop(stream);
                (true, ms, None)
            }
            Err(e) => (false, ms, Some(e.to_string())),
        }
    })?;
    let after = super::client_nstat(client_ns, "TcpExtTCPSynRetrans");
    let syn_retransmits = before.zip(after).map(|(b, a)| a.saturating_sub(b));
    tracing::info!(connected, connect_ms, ?syn_retransmits, "late client during the SYN flood");
    Ok(LateConnect { connected, connect_ms, syn_retransmits, error })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spoofed_address_is_in_the_subnet_and_nobodys() {
        let mut topo = LabTopology::unique("flood-unit");
        let a = spoof_address(&topo).expect("a /24 or wider has room");
        let mask = u32::MAX << (32 - u32::from(topo.prefix_len));
        assert_eq!(u32::from(a) & mask, u32::from(topo.card_ip) & mask);
        assert!(a != topo.card_ip && a != topo.client_ip);
        assert_ne!(u32::from(a) | mask, u32::MAX, "not the broadcast address");
        // A /30 holds just the two hosts: no room.
        topo.prefix_len = 30;
        topo.client_ip = Ipv4Addr::from((u32::from(topo.card_ip) & !3) | 1);
        topo.card_ip = Ipv4Addr::from((u32::from(topo.card_ip) & !3) | 2);
        assert!(matches!(spoof_address(&topo), Err(FloodError::NoSpareAddress { prefix_len: 30 })));
    }

    #[test]
    fn hping3s_count_is_read_from_its_statistics() {
        let out = "HPING 198.18.77.2 (hbtA 198.18.77.2): S set, 40 headers + 0 data bytes\n\n\
                   --- 198.18.77.2 hping statistic ---\n1895 packets transmitted, 0 packets received, 100% packet loss\n";
        assert_eq!(syns_sent(out), Some(1895));
        assert_eq!(syns_sent("hping3: command not found"), None);
    }
}
