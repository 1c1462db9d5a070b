//! One real etcd member (Debian's `etcd-server`) for a pair lab under the
//! etcd authority (docs/authority.md): a network namespace of its own,
//! linked by one veth to each daemon's namespace, so either node's link to
//! etcd can be cut alone. The member, its namespace and its data are
//! removed on drop, also when the run fails.
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::config::{Authority, EtcdAuthority, DEFAULT_ETCD_TIMEOUT_MS};
use crate::error::io;
use crate::lab::daemon::write_config;
use crate::lab::netns::{ip, LabTopology, NetnsError};
use crate::lab::pair::PairSetup;
use crate::lab::LabError;

/// etcd's address towards the primary's namespace, and the primary's.
pub const ETCD_TO_PRIMARY: Ipv4Addr = Ipv4Addr::new(198, 19, 1, 1);
const PRIMARY_TO_ETCD: Ipv4Addr = Ipv4Addr::new(198, 19, 1, 2);
/// etcd's address towards the standby's namespace, and the standby's.
pub const ETCD_TO_STANDBY: Ipv4Addr = Ipv4Addr::new(198, 19, 1, 5);
const STANDBY_TO_ETCD: Ipv4Addr = Ipv4Addr::new(198, 19, 1, 6);
const ETCD_PORT: u16 = 2379;
/// etcd's own interface towards each node (inside the etcd namespace).
const TO_PRIMARY_IF: &str = "hbetcd0";
const TO_STANDBY_IF: &str = "hbetcd1";
/// The node's end of its link to etcd (in the node's namespace).
const NODE_IF: &str = "hbetcd";
/// How long the member gets to serve after it started.
const SERVE_TIMEOUT: Duration = Duration::from_secs(20);
/// The holder record's lease TTL in the lab: etcd's floor.
const LAB_LEASE_TTL_S: u32 = 2;

#[derive(Debug, thiserror::Error)]
pub enum EtcdLabError {
    #[error(
        "the chaos lab runs a real etcd member and `etcd` does not run here ({source}); \
         install it with: apt-get install -y etcd-server"
    )]
    Missing {
        #[source]
        source: std::io::Error,
    },
    #[error("the pair lab's topology has no standby: etcd links to both nodes")]
    NoPair,
    #[error("etcd's network")]
    Net(#[from] NetnsError),
    #[error(transparent)]
    Io(#[from] crate::error::IoError),
    #[error("starting etcd")]
    Spawn(#[source] std::io::Error),
    #[error("etcd did not serve within {SERVE_TIMEOUT:?}; its log {log}:\n{tail}")]
    NotServing { log: PathBuf, tail: String },
    #[error("writing the pair's configs for the etcd authority")]
    Configure(#[source] Box<LabError>),
}

/// Fails with the install command unless `etcd --version` runs.
pub fn require_etcd() -> Result<(), EtcdLabError> {
    match Command::new("etcd").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status() {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(EtcdLabError::Missing { source: std::io::Error::other(format!("`etcd --version` exited with {s}")) }),
        Err(source) => Err(EtcdLabError::Missing { source }),
    }
}

/// The etcd namespace and its member; killed and removed on drop.
pub struct EtcdLab {
    pub netns: String,
    child: Option<Child>,
    dir: PathBuf,
    /// The key prefix the configs get: one per lab, so labs never share an epoch.
    pub key_prefix: String,
}

impl EtcdLab {
    /// Creates the namespace beside `topo`'s pair, links it to both daemon
    /// namespaces and starts etcd in it (data and log under `dir/etcd`);
    /// waits until it answers from the primary's namespace.
    pub fn start(topo: &LabTopology, dir: &Path) -> Result<EtcdLab, EtcdLabError> {
        require_etcd()?;
        let sb = topo.standby.as_ref().ok_or(EtcdLabError::NoPair)?;
        let netns = format!("{}-etcd", topo.client_ns.trim_end_matches("-cli"));
        // A namespace of this name can only be a leftover of a dead run.
        let _ = ip(&["netns", "del", &netns]);
        ip(&["netns", "add", &netns])?;
        // From here on, drop removes what exists.
        let mut lab = EtcdLab { netns: netns.clone(), child: None, dir: dir.join("etcd"), key_prefix: format!("/holdback/{netns}") };
        ip(&["-n", &netns, "link", "set", "lo", "up"])?;
        let links = [
            (TO_PRIMARY_IF, &sb.primary_ns, ETCD_TO_PRIMARY, PRIMARY_TO_ETCD),
            (TO_STANDBY_IF, &sb.standby_ns, ETCD_TO_STANDBY, STANDBY_TO_ETCD),
        ];
        for (ours, node_ns, etcd_ip, node_ip) in links {
            ip(&["-n", &netns, "link", "add", ours, "type", "veth", "peer", "name", NODE_IF, "netns", node_ns])?;
            ip(&["-n", &netns, "addr", "add", &format!("{etcd_ip}/30"), "dev", ours])?;
            ip(&["-n", node_ns, "addr", "add", &format!("{node_ip}/30"), "dev", NODE_IF])?;
            ip(&["-n", &netns, "link", "set", ours, "up"])?;
            ip(&["-n", node_ns, "link", "set", NODE_IF, "up"])?;
        }
        let _ = std::fs::remove_dir_all(&lab.dir);
        std::fs::create_dir_all(&lab.dir).map_err(io("creating", &lab.dir))?;
        let clients = format!("http://{ETCD_TO_PRIMARY}:{ETCD_PORT},http://{ETCD_TO_STANDBY}:{ETCD_PORT}");
        let log_path = lab.log_path();
        let log = std::fs::File::create(&log_path).map_err(io("creating", &log_path))?;
        let child = Command::new("ip")
            .args(["netns", "exec", &netns, "etcd", "--name", "hb", "--data-dir"])
            .arg(lab.dir.join("data"))
            .args(["--listen-client-urls", &clients, "--advertise-client-urls", &clients])
            .args(["--listen-peer-urls", "http://127.0.0.1:2380", "--initial-advertise-peer-urls", "http://127.0.0.1:2380"])
            .args(["--initial-cluster", "hb=http://127.0.0.1:2380", "--initial-cluster-state", "new"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(EtcdLabError::Spawn)?;
        tracing::info!(netns = %netns, pid = child.id(), "etcd started");
        lab.child = Some(child);
        let deadline = Instant::now() + SERVE_TIMEOUT;
        // Reachable from the primary's namespace: its member is serving.
        loop {
            let probe = Command::new("ip")
                .args(["netns", "exec", &sb.primary_ns, "bash", "-c", &format!("exec 3<>/dev/tcp/{ETCD_TO_PRIMARY}/{ETCD_PORT}")])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            if probe.is_ok_and(|s| s.success()) {
                return Ok(lab);
            }
            if Instant::now() >= deadline {
                return Err(EtcdLabError::NotServing { log: log_path, tail: lab.log() });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("etcd.log")
    }

    /// etcd's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Kills the etcd member (its namespace and data stay until drop).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Cuts (`up = false`) or restores the primary's link to etcd.
    pub fn set_primary_link(&self, up: bool) -> Result<(), NetnsError> {
        self.set_link(TO_PRIMARY_IF, up)
    }

    /// Cuts (`up = false`) or restores the standby's link to etcd.
    pub fn set_standby_link(&self, up: bool) -> Result<(), NetnsError> {
        self.set_link(TO_STANDBY_IF, up)
    }

    fn set_link(&self, ours: &str, up: bool) -> Result<(), NetnsError> {
        ip(&["-n", &self.netns, "link", "set", ours, if up { "up" } else { "down" }]).map(|_| ())
    }

    /// Rewrites both daemons' configs with `[authority] kind = "etcd"`,
    /// each reaching etcd over its own link, with the documented defaults
    /// P = 2h and C = D = m·h (docs/authority.md, Settings and symbols).
    pub fn configure(&self, pair: &mut PairSetup) -> Result<(), EtcdLabError> {
        for (member, endpoint) in [(&mut pair.primary, ETCD_TO_PRIMARY), (&mut pair.standby, ETCD_TO_STANDBY)] {
            let Some(r) = member.config.replication.as_ref() else { return Err(EtcdLabError::NoPair) };
            member.config.authority = Authority::Etcd(Box::new(EtcdAuthority {
                endpoints: vec![format!("http://{endpoint}:{ETCD_PORT}")],
                key_prefix: self.key_prefix.clone(),
                lease_ttl_s: LAB_LEASE_TTL_S,
                promise: 2 * r.heartbeat,
                confirm: r.heartbeat * r.heartbeat_misses,
                // Its first request also opens the connection, slow on a
                // loaded machine; safety does not depend on it (grants are
                // counted from when a request was sent).
                request_timeout: Duration::from_millis(DEFAULT_ETCD_TIMEOUT_MS),
                name: member.name.to_string(),
                ca_file: None,
                cert_file: None,
                key_file: None,
                user: None,
                password_file: None,
            }));
            write_config(&member.config, "`holdback lab` under the etcd authority").map_err(|e| EtcdLabError::Configure(Box::new(e)))?;
        }
        Ok(())
    }
}

impl Drop for EtcdLab {
    fn drop(&mut self) {
        self.kill();
        // Deleting the namespace removes etcd's ends of the veths, and so
        // their peers in the daemons' namespaces.
        if let Err(e) = ip(&["netns", "del", &self.netns]) {
            tracing::warn!(netns = %self.netns, error = %e, "could not remove etcd's namespace");
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
