//! The lab's network: two network namespaces joined by a bridge, built with
//! iproute2 and torn down on `Drop`.
//!
//! ```text
//!  client netns                      card netns
//!  [cli0 198.18.0.1/24] --veth-- [brp0]--[br0]--[tap0] <- simulated card (198.18.0.2)
//! ```
//!
//! Names carry a prefix, the pid and a counter, so parallel tests and a
//! long-running `holdback lab up` never collide. Addresses come from
//! 198.18.0.0/15 (RFC 2544 benchmarking) only, and only inside namespaces we
//! create. IPv6 is disabled in both namespaces so no router/neighbour
//! solicitations reach the card.
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use holdback_driver::MacAddr;
use serde::{Deserialize, Serialize};

/// Prefix of every namespace a lab creates; `reap_stale` only touches these.
pub const NS_PREFIX: &str = "hblab";
/// Name of the card's TAP inside the card namespace.
pub const TAP_NAME: &str = "hbtap0";
/// Name of the standby card's TAP (failover labs).
pub const STANDBY_TAP_NAME: &str = "hbtap1";
const BRIDGE_NAME: &str = "hbbr0";
const VETH_CLIENT: &str = "hbcli0";
const VETH_BRIDGE_PORT: &str = "hbbrp0";

static LAB_COUNTER: AtomicU32 = AtomicU32::new(0);

#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error(
        "building the lab needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN to create network namespaces, \
         a bridge, veths and a TAP); running as uid {uid}. Re-run with sudo."
    )]
    NotRoot { uid: u32 },
    #[error("`{tool}` was not found: {source}. Install iproute2 (Debian: apt-get install iproute2).")]
    ToolMissing {
        tool: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` failed ({status}): {stderr}")]
    CommandFailed { command: String, status: String, stderr: String },
    #[error("namespace name `{0}` is not usable (empty, contains '/', or too long)")]
    BadName(String),
    #[error("cannot enter network namespace `{name}` ({path}): {source}")]
    Enter {
        name: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("setting sysctl {key} in namespace `{ns}`: {source}")]
    Sysctl {
        ns: String,
        key: String,
        #[source]
        source: std::io::Error,
    },
    #[error("lab `{0}` has no standby card (built without one)")]
    NoStandby(String),
    #[error("the thread running in namespace `{0}` panicked")]
    ThreadPanicked(String),
    #[error("reading the lab topology {path}: {reason}")]
    Topology { path: PathBuf, reason: String },
}

/// Addresses and names of one lab; serialisable so `lab up` can print it and
/// `lab down` can find what to remove.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct LabTopology {
    /// Namespace of the Linux TCP clients.
    pub client_ns: String,
    /// Namespace holding the bridge and the card's TAP.
    pub card_ns: String,
    pub client_if: String,
    pub tap: String,
    pub bridge: String,
    pub client_ip: Ipv4Addr,
    pub card_ip: Ipv4Addr,
    pub prefix_len: u8,
    /// The card's MAC (locally administered).
    pub card_mac: [u8; 6],
    /// The hot-standby half of a failover lab, if this lab has one.
    #[serde(default)]
    pub standby: Option<StandbyTopology>,
}

/// A failover lab's second card and the replication link between the two
/// daemons. Both cards carry the same service MAC and IP (like a VRRP
/// virtual address): the bridge sends the address to whichever port spoke
/// last, so the standby's gratuitous ARP moves it (invariant 8).
///
/// ```text
///  primary netns [hbrep0 198.19.0.1/30] --veth-- [hbrep1 198.19.0.2/30] standby netns
///  card netns: [br0] -- [tap0] primary card, [tap1] standby card
/// ```
/// Each daemon runs inside its own namespace, so the replication link can be
/// cut (link down) without touching anything else.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct StandbyTopology {
    pub primary_ns: String,
    pub standby_ns: String,
    /// The standby card's TAP on the lab bridge (the primary card uses `tap`).
    pub standby_tap: String,
    pub primary_repl_if: String,
    pub standby_repl_if: String,
    pub primary_repl_ip: Ipv4Addr,
    pub standby_repl_ip: Ipv4Addr,
    pub repl_prefix_len: u8,
}

impl LabTopology {
    /// Names and addresses for a new lab, unique within this host: the tag is
    /// a free-form label (`lab up --name`), then pid and a process counter.
    pub fn unique(tag: &str) -> LabTopology {
        let n = LAB_COUNTER.fetch_add(1, Ordering::Relaxed);
        let base = format!("{NS_PREFIX}-{tag}-{}-{n}", std::process::id());
        LabTopology {
            client_ns: format!("{base}-cli"),
            card_ns: format!("{base}-card"),
            client_if: VETH_CLIENT.to_string(),
            tap: TAP_NAME.to_string(),
            bridge: BRIDGE_NAME.to_string(),
            client_ip: Ipv4Addr::new(198, 18, 0, 1),
            card_ip: Ipv4Addr::new(198, 18, 0, 2),
            prefix_len: 24,
            card_mac: [0x02, 0x48, 0x4c, 0x44, 0x42, 0x02],
            standby: None,
        }
    }

    /// A unique topology with a standby card and a replication link.
    pub fn unique_with_standby(tag: &str) -> LabTopology {
        let mut t = LabTopology::unique(tag);
        let base = t.client_ns.trim_end_matches("-cli").to_string();
        t.standby = Some(StandbyTopology {
            primary_ns: format!("{base}-pri"),
            standby_ns: format!("{base}-sby"),
            standby_tap: STANDBY_TAP_NAME.to_string(),
            primary_repl_if: "hbrep0".to_string(),
            standby_repl_if: "hbrep1".to_string(),
            primary_repl_ip: Ipv4Addr::new(198, 19, 0, 1),
            standby_repl_ip: Ipv4Addr::new(198, 19, 0, 2),
            repl_prefix_len: 30,
        });
        t
    }

    /// Every namespace of this lab, in creation order.
    pub fn namespaces(&self) -> Vec<&str> {
        let mut v = vec![self.client_ns.as_str(), self.card_ns.as_str()];
        if let Some(s) = &self.standby {
            v.push(&s.primary_ns);
            v.push(&s.standby_ns);
        }
        v
    }
}

/// Fails with a clear message unless we are root.
pub fn require_root() -> Result<(), NetnsError> {
    let uid = crate::sys::effective_uid();
    if uid == 0 {
        Ok(())
    } else {
        Err(NetnsError::NotRoot { uid })
    }
}

/// Runs `ip <args>`, returning its stdout, or an error carrying its stderr.
pub fn ip(args: &[&str]) -> Result<String, NetnsError> {
    run_tool("ip", args)
}

/// Runs `tool <args>` (iproute2's `ip`, `bridge`, `tc`), returning its
/// stdout, or an error carrying its stderr.
fn run_tool(tool: &'static str, args: &[&str]) -> Result<String, NetnsError> {
    let out = Command::new(tool).args(args).output().map_err(|source| NetnsError::ToolMissing { tool, source })?;
    if !out.status.success() {
        return Err(NetnsError::CommandFailed {
            command: format!("{tool} {}", args.join(" ")),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn ns_path(name: &str) -> PathBuf {
    Path::new("/run/netns").join(name)
}

fn check_ns_name(name: &str) -> Result<(), NetnsError> {
    if name.is_empty() || name.contains('/') || name.len() > 200 || name == "." || name == ".." {
        return Err(NetnsError::BadName(name.to_string()));
    }
    Ok(())
}

/// Moves the calling thread into network namespace `name` (under /run/netns).
/// Only this thread changes namespace; sockets it creates live there and
/// stay there when used from other threads.
pub fn enter_netns(name: &str) -> Result<(), NetnsError> {
    check_ns_name(name)?;
    // The simulated card's TAP enters namespaces the same way: one setns.
    holdback_sim::tap::enter_netns(name).map_err(|e| match e {
        holdback_sim::SimError::Netns { path, source, .. } => NetnsError::Enter { name: name.to_string(), path, source },
        other => NetnsError::Enter { name: name.to_string(), path: ns_path(name), source: std::io::Error::other(other.to_string()) },
    })
}

/// Runs `f` on a new thread inside network namespace `ns` and waits for it.
pub fn run_in_netns<T, F>(ns: &str, f: F) -> Result<T, NetnsError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    spawn_in_netns(ns, f)?.join().map_err(|_| NetnsError::ThreadPanicked(ns.to_string()))?
}

/// Spawns a thread that enters namespace `ns` and then runs `f`. The join
/// handle yields `Err` when entering the namespace failed.
pub fn spawn_in_netns<T, F>(ns: &str, f: F) -> Result<std::thread::JoinHandle<Result<T, NetnsError>>, NetnsError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    check_ns_name(ns)?;
    let ns = ns.to_string();
    std::thread::Builder::new()
        .name(format!("netns:{}", short(&ns)))
        .spawn(move || {
            enter_netns(&ns)?;
            Ok(f())
        })
        .map_err(|source| NetnsError::Enter { name: "thread spawn".into(), path: PathBuf::new(), source })
}

fn short(ns: &str) -> &str {
    // Thread names are truncated to 15 bytes by the kernel; keep the tail.
    let start = ns.len().saturating_sub(15);
    ns.get(start..).unwrap_or(ns)
}

/// Writes a sysctl under /proc/sys/net as seen from inside namespace `ns`
/// (procfs shows the net sysctls of the reading thread's namespace).
pub fn set_net_sysctl(ns: &str, key: &str, value: &str) -> Result<(), NetnsError> {
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    let value = value.to_string();
    let result = run_in_netns(ns, move || std::fs::write(&path, value))?;
    result.map_err(|source| NetnsError::Sysctl { ns: ns.to_string(), key: key.to_string(), source })
}

/// Creates namespace `ns` with IPv6 off and its loopback up (the lab's
/// namespaces, and the relay lab's in `servers`); deleted again when a
/// step after its creation fails, so a failure leaves nothing behind.
pub fn add_netns(ns: &str) -> Result<(), NetnsError> {
    check_ns_name(ns)?;
    ip(&["netns", "add", ns])?;
    let setup = || -> Result<(), NetnsError> {
        // Before any interface exists, so new ones inherit it via `default`.
        set_net_sysctl(ns, "net.ipv6.conf.all.disable_ipv6", "1")?;
        set_net_sysctl(ns, "net.ipv6.conf.default.disable_ipv6", "1")?;
        ip(&["-n", ns, "link", "set", "lo", "up"])?;
        Ok(())
    };
    setup().inspect_err(|_| {
        if let Err(e) = ip(&["netns", "del", ns]) {
            tracing::warn!(%ns, error = %e, "could not remove a half-built namespace");
        }
    })
}

/// The live lab network. Dropping it deletes both namespaces, which removes
/// the veth pair, the bridge and the TAP inside them (also on panic).
#[derive(Debug)]
pub struct LabNet {
    topo: LabTopology,
    /// Namespaces created so far (so a half-built lab is still removed).
    created: Vec<String>,
    /// `lab up` hands ownership to the background process; `lab down` deletes.
    keep: bool,
}

impl LabNet {
    /// Builds the namespaces, bridge, veth pair and a persistent TAP (the
    /// simulated card attaches to it by name).
    pub fn create(topo: LabTopology) -> Result<LabNet, NetnsError> {
        require_root()?;
        check_ns_name(&topo.client_ns)?;
        check_ns_name(&topo.card_ns)?;
        reap_stale();
        let mut net = LabNet { topo, created: Vec::new(), keep: false };
        net.build()?;
        Ok(net)
    }

    fn build(&mut self) -> Result<(), NetnsError> {
        let t = self.topo.clone();
        for ns in t.namespaces() {
            add_netns(ns)?;
            self.created.push(ns.to_string());
        }
        ip(&["-n", &t.card_ns, "link", "add", &t.bridge, "type", "bridge"])?;
        // Frames must reach the card at once, not after STP learning/forward delay.
        ip(&["-n", &t.card_ns, "link", "set", &t.bridge, "type", "bridge", "forward_delay", "0", "stp_state", "0"])?;
        ip(&[
            "link", "add", &t.client_if, "netns", &t.client_ns, "type", "veth", "peer", "name", VETH_BRIDGE_PORT,
            "netns", &t.card_ns,
        ])?;
        ip(&["-n", &t.card_ns, "link", "set", VETH_BRIDGE_PORT, "master", &t.bridge, "up"])?;
        ip(&["-n", &t.card_ns, "tuntap", "add", "dev", &t.tap, "mode", "tap"])?;
        ip(&["-n", &t.card_ns, "link", "set", &t.tap, "master", &t.bridge, "up"])?;
        ip(&["-n", &t.card_ns, "link", "set", &t.bridge, "up"])?;
        let addr = format!("{}/{}", t.client_ip, t.prefix_len);
        ip(&["-n", &t.client_ns, "addr", "add", &addr, "dev", &t.client_if])?;
        ip(&["-n", &t.client_ns, "link", "set", &t.client_if, "up"])?;
        if let Some(s) = &t.standby {
            ip(&["-n", &t.card_ns, "tuntap", "add", "dev", &s.standby_tap, "mode", "tap"])?;
            ip(&["-n", &t.card_ns, "link", "set", &s.standby_tap, "master", &t.bridge, "up"])?;
            ip(&[
                "link", "add", &s.primary_repl_if, "netns", &s.primary_ns, "type", "veth", "peer", "name",
                &s.standby_repl_if, "netns", &s.standby_ns,
            ])?;
            for (ns, ifname, addr) in [
                (&s.primary_ns, &s.primary_repl_if, s.primary_repl_ip),
                (&s.standby_ns, &s.standby_repl_if, s.standby_repl_ip),
            ] {
                ip(&["-n", ns, "addr", "add", &format!("{addr}/{}", s.repl_prefix_len), "dev", ifname])?;
                ip(&["-n", ns, "link", "set", ifname, "up"])?;
            }
        }
        tracing::info!(client_ns = %t.client_ns, card_ns = %t.card_ns, standby = t.standby.is_some(), "lab network up");
        Ok(())
    }

    /// Adds a watcher namespace (`…-wat`) linked to the primary's namespace
    /// by a veth on 198.19.1.0/30 (failover labs only); removed with the lab.
    pub fn add_watcher(&mut self) -> Result<WatcherNet, NetnsError> {
        let s = self.standby_part()?.clone();
        let base = self.topo.client_ns.trim_end_matches("-cli").to_string();
        let w = WatcherNet { ns: format!("{base}-wat"), watcher_ip: Ipv4Addr::new(198, 19, 1, 1), primary_ip: Ipv4Addr::new(198, 19, 1, 2) };
        check_ns_name(&w.ns)?;
        add_netns(&w.ns)?;
        self.created.push(w.ns.clone());
        ip(&["link", "add", WATCHER_IF, "netns", &w.ns, "type", "veth", "peer", "name", PRIMARY_MGMT_IF, "netns", &s.primary_ns])?;
        for (ns, ifname, addr) in [(&w.ns, WATCHER_IF, w.watcher_ip), (&s.primary_ns, PRIMARY_MGMT_IF, w.primary_ip)] {
            ip(&["-n", ns, "addr", "add", &format!("{addr}/30"), "dev", ifname])?;
            ip(&["-n", ns, "link", "set", ifname, "up"])?;
        }
        Ok(w)
    }

    /// Cuts (or restores) the replication link between the two daemons
    /// (failover labs only): the primary keeps running, the link is down.
    pub fn set_replication_link(&self, up: bool) -> Result<(), NetnsError> {
        let s = self.standby_part()?;
        ip(&["-n", &s.primary_ns, "link", "set", &s.primary_repl_if, if up { "up" } else { "down" }])?;
        Ok(())
    }

    fn standby_part(&self) -> Result<&StandbyTopology, NetnsError> {
        self.topo.standby.as_ref().ok_or_else(|| NetnsError::NoStandby(self.topo.card_ns.clone()))
    }

    pub fn topology(&self) -> &LabTopology {
        &self.topo
    }

    /// Leaves the namespaces in place when dropped (for `lab up`); they are
    /// removed later by [`destroy_topology`].
    pub fn keep_on_drop(&mut self) {
        self.keep = true;
    }
}

impl Drop for LabNet {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        for ns in self.created.iter().rev() {
            if let Err(e) = ip(&["netns", "del", ns]) {
                tracing::warn!(%ns, error = %e, "could not remove lab namespace");
            }
        }
        tracing::info!(namespaces = ?self.topo.namespaces(), "lab network removed");
    }
}

/// The lab's switch, as an external failure detector commands it (claims
/// 38-40): take the primary card's port off the bridge, so nothing it still
/// sends reaches a peer (invariant 8), and point the service MAC at the
/// standby's port, so traffic reaches the promoted card before its own
/// gratuitous ARP does.
pub fn switch_to_standby(topo: &LabTopology) -> Result<(), NetnsError> {
    let s = topo.standby.as_ref().ok_or_else(|| NetnsError::NoStandby(topo.card_ns.clone()))?;
    detach_primary_port(topo)?;
    let mac = MacAddr(topo.card_mac).to_string();
    bridge(&["-n", &topo.card_ns, "fdb", "replace", &mac, "dev", &s.standby_tap, "master", "static"])?;
    tracing::info!(primary_port = %topo.tap, standby_port = %s.standby_tap, %mac, "switch: primary port blocked, service MAC moved");
    Ok(())
}

/// Takes the primary card's port off the lab bridge: its TAP stays up, so
/// the card goes on sending, but nothing it sends reaches a peer and
/// nothing reaches it.
pub fn detach_primary_port(topo: &LabTopology) -> Result<(), NetnsError> {
    ip(&["-n", &topo.card_ns, "link", "set", "dev", &topo.tap, "nomaster"])?;
    Ok(())
}

/// Runs `bridge <args>` (iproute2).
fn bridge(args: &[&str]) -> Result<String, NetnsError> {
    run_tool("bridge", args)
}

/// `tc qdisc add … netem ARGS` on the clients' link ("loss 1% delay 1ms"):
/// the kernel's impairment of what the clients send and receive (needs
/// sch_netem).
pub fn add_netem(topo: &LabTopology, netem: &str) -> Result<(), NetnsError> {
    let mut args = vec!["-n", &topo.client_ns, "qdisc", "add", "dev", &topo.client_if, "root", "netem"];
    args.extend(netem.split_whitespace());
    run_tool("tc", &args).map(|_| ())
}

/// The lab's bridge is the external detector's switch: in process for the
/// pair lab's own detector, and as the hook program `holdback lab switch
/// TOPOLOGY` for `holdback watch --switch-cmd` ([`switch_from_file`]).
impl crate::tools::watch::Switch for LabTopology {
    fn move_to_standby(&self, _ctx: &crate::tools::watch::SwitchContext) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        switch_to_standby(self).map_err(Into::into)
    }
}

/// `holdback lab switch TOPOLOGY`: [`switch_to_standby`] on the failover lab
/// described by its `topology.json` (in the lab's work directory).
pub fn switch_from_file(path: &Path) -> Result<(), NetnsError> {
    let bad = |reason: String| NetnsError::Topology { path: path.to_path_buf(), reason };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let topo: LabTopology = serde_json::from_str(&text).map_err(|e| bad(format!("not a lab topology: {e}")))?;
    switch_to_standby(&topo)
}

/// A namespace for an external failure detector, reaching the primary's
/// namespace only over its own management link, as a third host would.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatcherNet {
    pub ns: String,
    pub watcher_ip: Ipv4Addr,
    /// The primary daemon's end of the management link.
    pub primary_ip: Ipv4Addr,
}

/// The management link's interfaces: the watcher's end and the primary's.
const WATCHER_IF: &str = "hbwat0";
const PRIMARY_MGMT_IF: &str = "hbmgt0";

/// Removes the namespaces of a lab that some other process built.
pub fn destroy_topology(topo: &LabTopology) -> Result<(), NetnsError> {
    let mut first_err = None;
    for ns in topo.namespaces() {
        if ns_path(ns).exists() {
            if let Err(e) = ip(&["netns", "del", ns]) {
                first_err.get_or_insert(e);
            }
        }
    }
    first_err.map_or(Ok(()), Err)
}

/// Deletes lab namespaces left behind by processes that no longer exist
/// (killed with SIGKILL, so their `Drop` never ran). Names are
/// `hblab-<tag>-<pid>-<n>-<role>`; only those with a dead pid are removed.
pub fn reap_stale() {
    let Ok(entries) = std::fs::read_dir("/run/netns") else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = owner_pid(&name) else { continue };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            tracing::info!(ns = %name, pid, "removing namespace of a dead lab");
            if let Err(e) = ip(&["netns", "del", &name]) {
                tracing::warn!(ns = %name, error = %e, "could not remove stale namespace");
            }
        }
    }
}

/// The pid embedded in a lab namespace name, if it is one of ours.
fn owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(NS_PREFIX)?.strip_prefix('-')?;
    // <tag>-<pid>-<n>-<role>; the tag may itself contain '-', so parse from the end.
    let mut parts = rest.rsplitn(4, '-');
    let role = parts.next()?;
    // `etcd`: the chaos lab's etcd member (lab::chaos::EtcdLab); `srv`: the
    // relay lab's server namespace (lab::servers::DirectNet).
    if !matches!(role, "cli" | "card" | "pri" | "sby" | "wat" | "etcd" | "srv") {
        return None;
    }
    let _counter: u32 = parts.next()?.parse().ok()?;
    parts.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_topologies_differ_and_parse_back_to_our_pid() {
        let a = LabTopology::unique("t");
        let b = LabTopology::unique("t");
        assert_ne!(a.client_ns, b.client_ns);
        assert_eq!(owner_pid(&a.client_ns), Some(std::process::id()));
        assert_eq!(owner_pid(&b.card_ns), Some(std::process::id()));
        assert_eq!(owner_pid("hblab-my-lab-12-3-card"), Some(12));
        assert_eq!(owner_pid("other-12-3-card"), None);
        assert_eq!(owner_pid("hblab-x-12-3-foo"), None);
        assert_eq!(owner_pid("hblab-ch-12-3-etcd"), Some(12), "a dead chaos lab's etcd namespace is reaped too");
        assert_eq!(owner_pid("hblab-direct-12-3-srv"), Some(12), "a dead relay lab's server namespace is reaped too");
    }

    #[test]
    fn addresses_are_in_the_benchmarking_range() {
        let t = LabTopology::unique("t");
        for ip in [t.client_ip, t.card_ip] {
            let o = ip.octets();
            assert!(o[0] == 198 && (o[1] == 18 || o[1] == 19), "{ip} outside 198.18.0.0/15");
        }
        assert!(t.client_if.len() < 16 && t.tap.len() < 16 && t.bridge.len() < 16);
    }
}
