//! Command-line interface of the `holdback` binary (clap derive).
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use crate::config::default_socket;
use crate::config::DEFAULT_NAME;

/// holdback: a TCP offload core (RustHDL → Verilog → Verilator) whose ACKs the
/// host holds back until it has committed the bytes.
#[derive(Debug, Parser)]
#[command(name = "holdback", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process: the size of the lab's many flags does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write the core's Verilog (the whole core and every block) to DIR/<model>.v.
    Verilog {
        /// Output directory (created if missing).
        #[arg(long, value_name = "DIR", default_value = "target/hdl")]
        out: PathBuf,
    },
    /// Run the lab: namespaces + bridge + simulated card on a TAP + sink +
    /// Linux TCP clients; verify every byte (SHA-256) and report. Needs root.
    /// `lab up` / `lab down` keep a lab running in the background instead.
    Lab(LabCmd),
    /// Run the card as a service from a config file: open and enable the
    /// card, run the sink (commit, then release ACKs), serve the control
    /// socket and the metrics endpoint; SIGTERM/SIGINT stop it cleanly.
    Daemon(DaemonArgs),
    /// The daemon and its card: version, uptime, register map, CTRL bits,
    /// open connections (via the control socket of `holdback daemon` or
    /// `holdback lab up`).
    Status(QueryArgs),
    /// One row per connection from the card's control-block memory (via the
    /// control socket of `holdback daemon` or `holdback lab up`).
    Conns(QueryArgs),
    /// The card's counters (via the control socket).
    Stats(QueryArgs),
    /// Print a shell completion script, e.g.
    /// `holdback completions bash > /etc/bash_completion.d/holdback`.
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Put a bitstream on a PCIe FPGA board and hand the card to vfio-pci
    /// (unbind, remove, program, rescan, bind, check the ID block). Untested
    /// on hardware here; `--dry-run` prints every step and changes nothing.
    Load(crate::tools::load::LoadArgs),
    /// Promote a standby daemon's card to active now (the manual form of
    /// failover): new epoch, every connection resumes from its released
    /// point, gratuitous ARP; its sink starts.
    Promote {
        #[command(flatten)]
        socket: SocketArg,
    },
    /// External failure detector: probe the primary daemon's /health every
    /// interval from another host; after MISSES failed probes in a row, run
    /// the switch hook (--switch-cmd) and promote the standby.
    Watch(WatchArgs),
    /// Pause or resume the sink's release-register writes (ACK holdback
    /// demonstration): while paused the card ACKs nothing beyond the last
    /// released point.
    Release {
        /// `pause`: stop writing release registers; `resume`: release
        /// everything committed and carry on.
        #[arg(value_enum)]
        action: ReleaseAction,
        #[command(flatten)]
        socket: SocketArg,
    },
    /// The core's figures: simulated cycles per received frame from 64 to
    /// 1518 bytes against the 10 GbE budget, bytes per cycle, release write
    /// to ACK, the simulator's speed, the core's area (yosys) and the lab's
    /// goodput with holdback on and off. The lab needs root.
    Bench(BenchArgs),
    /// Planned switchover (maintenance, upgrades): the primary stops
    /// releasing, silences its card and hands its last released points to
    /// the standby, which then promotes; the old primary joins it as
    /// standby. The two cards never answer at once.
    Switchover(SwitchoverArgs),
}

#[derive(Debug, Args)]
pub struct SwitchoverArgs {
    /// Control socket of the primary daemon (hands over).
    #[arg(long, value_name = "PATH")]
    pub primary: PathBuf,
    /// Control socket of the standby daemon (takes over).
    #[arg(long, value_name = "PATH")]
    pub standby: PathBuf,
    /// How long to wait for the old primary to join the new one as standby, milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    pub rejoin_timeout_ms: u64,
    /// Print the outcome as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Frames per frame size.
    #[arg(long, value_name = "N", default_value_t = 2000, value_parser = clap::value_parser!(u64).range(10..=1_000_000))]
    pub frames: u64,
    /// Skip the synthesis (yosys takes about a minute).
    #[arg(long)]
    pub no_area: bool,
    /// Also synthesize the core for N = 64 and 4096 connections (the default
    /// is 1024): several minutes more.
    #[arg(long, conflicts_with = "no_area")]
    pub area_sweep: bool,
    /// Skip the lab runs (they need root).
    #[arg(long)]
    pub no_lab: bool,
    /// Connections of each lab run.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub lab_conns: u16,
    /// Bytes per connection of each lab run (e.g. 512KiB, 8MiB).
    #[arg(long, value_name = "SIZE", default_value = "8MiB", value_parser = parse_size)]
    pub lab_bytes: u64,
    /// Draw cycles per frame against frame size, with the line-rate budget, as SVG.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The primary daemon's health endpoint, http://IP:PORT[/health] (its
    /// `[metrics] listen`); or its control socket's PATH, on its own host.
    #[arg(long, value_name = "URL|PATH")]
    pub primary: crate::tools::watch::Probe,
    /// Control socket of the standby daemon (promoted on failure).
    #[arg(long, value_name = "PATH")]
    pub standby: PathBuf,
    /// Probe interval in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub interval_ms: u64,
    /// Failed probes in a row that count as a failure.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub misses: u32,
    /// The switch hook, run once when the primary failed and before the
    /// standby is promoted; PROGRAM and its arguments, last on the command
    /// line. Environment: HOLDBACK_WATCH_PRIMARY, HOLDBACK_WATCH_PRIMARY_EPOCH,
    /// HOLDBACK_WATCH_STANDBY, HOLDBACK_WATCH_MISSES, HOLDBACK_WATCH_LAST_ERROR.
    /// Exit 0: the switch moved; anything else is an error and nothing is
    /// promoted. Without it the switch is left to the gratuitous ARP.
    #[arg(long, value_name = "PROGRAM [ARGS]", num_args = 1.., allow_hyphen_values = true)]
    pub switch_cmd: Option<Vec<String>>,
    /// Longest the switch hook may run before it is killed (a failure).
    #[arg(long, value_name = "MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub switch_timeout_ms: u64,
}

impl WatchArgs {
    /// The switch hook of `--switch-cmd`.
    pub fn switch_hook(&self) -> Option<crate::tools::watch::CommandHook> {
        let (program, args) = self.switch_cmd.as_ref()?.split_first()?;
        Some(crate::tools::watch::CommandHook {
            program: PathBuf::from(program),
            args: args.to_vec(),
            timeout: std::time::Duration::from_millis(self.switch_timeout_ms),
        })
    }
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct LabCmd {
    #[command(subcommand)]
    pub action: Option<LabAction>,
    #[command(flatten)]
    pub run: LabRunArgs,
}

/// What `holdback lab` runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LabMode {
    /// Linux clients stream into the card's application (the sink or the echo).
    Single,
    /// The card relays (docs/relay.md): clients reach a server namespace's
    /// nginx and upload sink through the card's relay ports.
    Relay,
}

#[derive(Debug, Args)]
pub struct LabRunArgs {
    /// `single`: clients stream into the card's application; `relay`: the
    /// card relays between a client namespace and a server namespace
    /// (docs/relay.md): 8080 to the server's nginx on port 80, 8081 to its
    /// upload sink on port 9000; --conns curl downloads of --bytes and as
    /// many uploads through the card, SHA-256 both ways, goodput per
    /// direction. With --standby or --failover-at F two cards relay as a
    /// pair and the primary is SIGKILLed at F of the download (with
    /// --client-cmd, of --bytes through the primary's card).
    #[arg(long, value_enum, value_name = "single|relay", default_value_t = LabMode::Single)]
    pub mode: LabMode,
    /// Relay mode: run this in the server namespace instead of nginx and
    /// the upload sink, until the run ends (`sh -c`; placeholders
    /// {server_ip} {server_port} {upload_port} {listen_ip} {listen_port}
    /// {client_ip} {file} {work_dir}; the card relays {listen_port} to
    /// {server_port} and {listen_port}+1 to {upload_port}). Needs --client-cmd.
    #[arg(long, value_name = "TEMPLATE")]
    pub server_cmd: Option<String>,
    /// Relay mode: run this in the client namespace instead of the curl
    /// downloads and the uploads (placeholders as --server-cmd); its exit
    /// status decides the run, its output is in the report.
    #[arg(long, value_name = "TEMPLATE")]
    pub client_cmd: Option<String>,
    /// Relay mode: how long a client's SYN-ACK waits for the card's
    /// connection to the backend (`[tcp] relay_connect_ms`) [default: 3000].
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u32).range(1..=crate::config::MAX_TIMER_MS as i64))]
    pub relay_connect_ms: Option<u32>,
    /// Concurrent client connections (at most the core's N; 4096 is the largest N generated).
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=4096))]
    pub conns: u16,
    /// Bytes each client sends, e.g. 1048576, 512K, 8MiB, 1G.
    #[arg(long, value_name = "SIZE", default_value = "1MiB", value_parser = parse_size)]
    pub bytes: u64,
    /// Seed of the clients' random streams (logged in the report).
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub seed: u64,
    /// ACK holdback: `on` ACKs only what the sink released, `off` ACKs on receipt.
    #[arg(long, value_enum, value_name = "on|off", default_value_t = OnOff::On)]
    pub holdback: OnOff,
    /// Out-of-order reassembly on the card (`[network] reassembly`): `on`
    /// holds segments that arrive ahead of a gap, `off` drops them.
    #[arg(long, value_enum, value_name = "on|off", default_value_t = OnOff::On)]
    pub reassembly: OnOff,
    /// SACK on the card (`[network] sack`, RFC 2018): with reassembly `on`,
    /// our ACKs carry the held ranges as SACK blocks to peers that permit it.
    /// With --failover-at the kill waits (up to 5 s) until the primary has
    /// SACKed ranges above its ACKs, and the report says what the promoted
    /// card reneged on and how long the peers took to bring it again.
    #[arg(long, value_enum, value_name = "on|off", default_value_t = OnOff::Off)]
    pub sack: OnOff,
    /// TCP timestamps on the card (`[network] timestamps`, RFC 7323): answered
    /// to peers whose SYN carries the option and offered on the card's own
    /// SYNs, TS.Recent echoed, PAWS, RTT samples by the echo. The
    /// report counts what the Linux clients dropped by PAWS (after a failover
    /// too: the promoted card's TSval must not go back, docs/failover.md).
    #[arg(long, value_enum, value_name = "on|off", default_value_t = OnOff::Off)]
    pub timestamps: OnOff,
    /// A SYN flood (RFC 4987) while the clients stream: hping3 in the client
    /// namespace sends PPS bare SYNs per second to the card's port from an
    /// address of the lab's subnet that no host has, and one late client
    /// connects a second into it. The report gives the SYNs sent, the card's
    /// counters, and how long the late client took and how many SYNs it
    /// needed (single-card lab; needs Debian's hping3).
    #[arg(long, value_name = "PPS", value_parser = clap::value_parser!(u32).range(1..=crate::lab::flood::MAX_PPS as i64))]
    pub syn_flood: Option<u32>,
    /// SYN cookies on every card the lab starts (`[network] syn_cookies`,
    /// RFC 4987 §3.6, docs/syn-cookies.md): a SYN is answered by a cookie
    /// instead of a TCB once THRESHOLD connections are half-open (0: every
    /// SYN). The pair's cards share keys derived from the pair's secret.
    /// With --syn-flood the report gives the cookies sent, accepted and
    /// refused. Off without it.
    #[arg(long, value_name = "THRESHOLD")]
    pub syn_cookies: Option<u16>,
    /// Print the report as JSON (and no progress bar).
    #[arg(long)]
    pub json: bool,
    /// Draw the run to this SVG file: with --failover-at, each connection's
    /// acknowledged bytes and the failover's events (primary's last frame,
    /// detection, PROMOTE, GARP, duplicate ACKs, retransmissions, catch-up);
    /// otherwise goodput and held-back bytes over time.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Record the card's port (both directions) to this pcap file.
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
    /// The card's receive ring per connection, a power of two from 4KiB to
    /// 1MiB; above 64KiB only a client that offers window scaling is
    /// offered more than 65535 bytes.
    #[arg(long, value_name = "SIZE", default_value = "64KiB", value_parser = parse_ring_size)]
    pub rx_ring_bytes: u32,
    /// Keep the sink's files in DIR (default: a temporary directory, removed
    /// after a passing run); with --mode relay, the run's whole work
    /// directory (the files, downloads, uploads, logs, the card's config).
    #[arg(long, value_name = "DIR")]
    pub sink_dir: Option<PathBuf>,
    /// Fail a client on which for this many seconds neither its writes nor
    /// the card's ACKs moved; with --mode relay, how long a transfer may
    /// stall (a download's limit adds its time at 512 kbit/s) and the
    /// limit of --client-cmd.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub stall_timeout: u64,
    /// The application behind the card: `sink` writes each stream to a
    /// file; `echo` sends it back, the clients read the echo while sending
    /// and the report compares the SHA-256 both ways per connection.
    #[arg(long, value_enum, value_name = "sink|echo", default_value_t = crate::app::AppKind::Sink)]
    pub app: crate::app::AppKind,
    #[command(flatten)]
    pub pair: LabPairArgs,
}

/// The hot-standby lab: two daemons, each with its own simulated
/// card, replicating over their own link. Flags with a default are
/// `Option`s, so a flag the chosen mode would not use is refused
/// ([`LabRunArgs::check`]) rather than silently ignored.
#[derive(Debug, Args)]
pub struct LabPairArgs {
    /// Run a primary and a standby (separate processes). Implied by --failover-at.
    #[arg(long)]
    pub standby: bool,
    /// Kill the primary (SIGKILL) when this fraction of all bytes was sent
    /// (0.0-1.0); with --mode relay, of the downloads' bytes arrived; with
    /// --mode relay and --client-cmd, of --bytes received as payload by the
    /// primary's card (its rx_payload_bytes counter, both sides of every
    /// relayed connection): the lab cannot see how far the command's
    /// transfer got. A client command that ends before then fails the run.
    #[arg(long, value_name = "F", value_parser = parse_fraction)]
    pub failover_at: Option<f64>,
    /// ACK holdback gates of the primary, comma-separated: app, replica [default: app,replica].
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub gates: Option<Vec<crate::config::Gate>>,
    /// before-ack: release only what the standby stored; async: ship and release at once [default: before-ack].
    #[arg(long, value_enum)]
    pub sync: Option<crate::config::SyncMode>,
    /// at-setup: hold each SYN-ACK until the standby has the TCB; after-data: replicate with the first data [default: at-setup].
    #[arg(long, value_enum)]
    pub replicate: Option<crate::config::ReplicateMode>,
    /// heartbeat: the standby promotes itself; external: `holdback watch` moves the switch and promotes [default: heartbeat].
    #[arg(long, value_enum)]
    pub detector: Option<crate::config::Detector>,
    /// After promotion, one ACK at R plus three duplicates per connection (peers fast-retransmit) [default: on].
    #[arg(long, value_enum, value_name = "on|off")]
    pub dup_acks: Option<OnOff>,
    /// Heartbeat (and external probe) interval, milliseconds [default: 50].
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub heartbeat_ms: Option<u64>,
    /// Silent intervals before the peer counts as failed [default: 3].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100))]
    pub heartbeat_misses: Option<u32>,
    /// tc netem arguments for the clients' link, e.g. "loss 1% reorder 1% delay 1ms"
    /// (single-card and pair lab; needs sch_netem in the kernel).
    #[arg(long, value_name = "ARGS")]
    pub netem: Option<String>,
    /// Seeded loss/reordering at the card's port (both cards' in the pair
    /// lab), netem spelling ("loss 1% reorder 1%") plus the direction:
    /// "dir in" (frames arriving at the card, the default), "dir out"
    /// (frames the card sends: ACKs, SYN-ACKs, FINs, RSTs) or "dir both";
    /// "delay 100ms" holds every frame that long, "cut 5s at 1s" drops every
    /// frame for 5 s from 1 s after the direction's first; works without
    /// sch_netem in the kernel.
    #[arg(long, value_name = "ARGS")]
    pub impair: Option<String>,
    /// Open one more connection right before the kill (does it survive?); needs --failover-at.
    #[arg(long)]
    pub late_conn: bool,
    /// Cut the replication link (primary alive) when this fraction of all
    /// bytes was sent; use with --detector external.
    #[arg(long, value_name = "F", value_parser = parse_fraction)]
    pub cut_replication_at: Option<f64>,
    /// How long the replication link stays cut, milliseconds; needs --cut-replication-at [default: 1000 (DEFAULT_CUT_FOR_MS)].
    #[arg(long, value_name = "MS")]
    pub cut_for_ms: Option<u64>,
    /// Planned switchover (`holdback switchover`, primary alive) when this
    /// fraction of all bytes was sent (0.0-1.0); the report's `switchover`.
    #[arg(long, value_name = "F", value_parser = parse_fraction)]
    pub switchover_at: Option<f64>,
    /// replicated: each daemon its own sink directory, the committed bytes
    /// shipped over the replication link; shared: one directory for both
    /// [default: replicated].
    #[arg(long, value_enum)]
    pub store: Option<crate::config::StoreMode>,
    /// Kill the primary with R behind rcv_nxt: pause its releases at
    /// --failover-at and kill it once the standby's copies show bytes
    /// received but not released (the peers must send them again).
    #[arg(long)]
    pub lag_at_kill: bool,
    /// Chaos under the etcd authority: start a real etcd (Debian
    /// `etcd-server`) beside the pair, stream clients in waves and do N
    /// seeded faults to whichever node is active (SIGKILL, a hang, a cut of
    /// its link to etcd, a cut of the replication link), each once the pair
    /// is Replicating again; report bytes lost, duplicated, resets and the
    /// longest time two cards answered at once per fault kind.
    #[arg(long, value_name = "N", value_parser = parse_fault_count)]
    pub chaos: Option<u32>,
    /// Seed of the --chaos fault sequence [default: from the clock, printed in the report].
    #[arg(long, value_name = "S")]
    pub chaos_seed: Option<u64>,
}

impl LabPairArgs {
    pub fn wanted(&self) -> bool {
        self.standby || self.failover_at.is_some() || self.cut_replication_at.is_some() || self.switchover_at.is_some()
    }

    /// The flags given that only the pair lab uses.
    fn pair_only_given(&self) -> Vec<&'static str> {
        let given = [
            ("--gates", self.gates.is_some()),
            ("--sync", self.sync.is_some()),
            ("--replicate", self.replicate.is_some()),
            ("--detector", self.detector.is_some()),
            ("--dup-acks", self.dup_acks.is_some()),
            ("--heartbeat-ms", self.heartbeat_ms.is_some()),
            ("--heartbeat-misses", self.heartbeat_misses.is_some()),
            ("--late-conn", self.late_conn),
            ("--cut-for-ms", self.cut_for_ms.is_some()),
            ("--store", self.store.is_some()),
            ("--lag-at-kill", self.lag_at_kill),
        ];
        given.into_iter().filter(|(_, g)| *g).map(|(flag, _)| flag).collect()
    }
}

impl LabRunArgs {
    /// Every flag given takes effect in the mode it selects, or the run is
    /// refused here with the reason (before anything is built).
    pub fn check(&self) -> Result<(), String> {
        let p = &self.pair;
        if self.mode == LabMode::Relay {
            return self.check_relay();
        }
        let relay_only = [
            ("--server-cmd", self.server_cmd.is_some()),
            ("--client-cmd", self.client_cmd.is_some()),
            ("--relay-connect-ms", self.relay_connect_ms.is_some()),
        ];
        let given: Vec<&str> = relay_only.iter().filter(|(_, g)| *g).map(|(f, _)| *f).collect();
        if !given.is_empty() {
            return Err(format!("{} only apply to the relay lab: add --mode relay", given.join(", ")));
        }
        if p.chaos.is_some() {
            return self.check_chaos();
        }
        if p.chaos_seed.is_some() {
            return Err("--chaos-seed seeds the faults of --chaos N, the pair lab under etcd: give --chaos N".into());
        }
        if self.app != crate::app::AppKind::Sink && p.wanted() {
            // What the pair lab checks of a sending application: every
            // stream echoed once and in order through a failover, a
            // switchover, a cut of the replication link (or none). The
            // other pair modes are about the sink's store.
            let sink_only = [
                ("--store", p.store.is_some()),
                ("--lag-at-kill", p.lag_at_kill),
                ("--late-conn", p.late_conn),
            ];
            let given: Vec<_> = sink_only.iter().filter(|(_, g)| *g).map(|(f, _)| *f).collect();
            if !given.is_empty() {
                return Err(format!(
                    "--app {} in the pair lab runs with --standby, --failover-at F, --switchover-at F or \
                     --cut-replication-at F; {} check the sink's store: run them with the sink (the default)",
                    self.app.name(),
                    given.join(", ")
                ));
            }
        }
        if !p.wanted() {
            let unused = p.pair_only_given();
            if !unused.is_empty() {
                return Err(format!(
                    "{} only apply to the pair lab (a primary and a standby daemon); add --standby, --failover-at F or --cut-replication-at F",
                    unused.join(", ")
                ));
            }
            return Ok(());
        }
        if self.syn_flood.is_some() {
            return Err("--syn-flood runs in the single-card lab: drop --standby, --failover-at, --switchover-at and --cut-replication-at".into());
        }
        if self.pcap.is_some() {
            return Err("--pcap records the single card; in the pair lab each card records its own port to \
                        primary.pcap and standby.pcap in the work directory (keep it with --sink-dir DIR)"
                .into());
        }
        if p.late_conn && p.failover_at.is_none() {
            return Err("--late-conn opens its connection right before the primary is killed: give --failover-at F".into());
        }
        if p.lag_at_kill && p.failover_at.is_none() {
            return Err("--lag-at-kill holds releases back before the primary is killed: give --failover-at F".into());
        }
        if p.switchover_at.is_some() && p.failover_at.is_some() {
            return Err("--switchover-at hands over from a live primary, --failover-at kills it: give one of them".into());
        }
        if p.cut_for_ms.is_some() && p.cut_replication_at.is_none() {
            return Err("--cut-for-ms is how long --cut-replication-at F cuts the link: give --cut-replication-at F".into());
        }
        Ok(())
    }
}

impl LabRunArgs {
    /// `--mode relay`: one card between a client and a server namespace,
    /// or with `--standby` / `--failover-at F` a relaying pair (the
    /// primary SIGKILLed at F of the download). What it cannot do is
    /// refused with the reason.
    fn check_relay(&self) -> Result<(), String> {
        let p = &self.pair;
        let not_built = [
            ("--switchover-at", p.switchover_at.is_some()),
            ("--cut-replication-at", p.cut_replication_at.is_some()),
            ("--chaos", p.chaos.is_some()),
        ];
        let given: Vec<&str> = not_built.iter().filter(|(_, g)| *g).map(|(f, _)| *f).collect();
        if !given.is_empty() {
            return Err(format!(
                "{}: not built for --mode relay; a relaying pair runs with --standby or --failover-at F \
                 (docs/relay.md, \"Running relay mode\")",
                given.join(", ")
            ));
        }
        // A relaying pair takes its `replicate` mode and a late
        // connection; the rest of the pair's settings are fixed.
        let unused: Vec<&str> = p.pair_only_given().into_iter().filter(|f| !matches!(*f, "--replicate" | "--late-conn")).collect();
        if !unused.is_empty() || p.chaos_seed.is_some() {
            let mut flags = unused;
            if p.chaos_seed.is_some() {
                flags.push("--chaos-seed");
            }
            return Err(format!(
                "{} only apply to the pair lab without --mode relay: a relaying pair runs with sync before-ack and \
                 the heartbeat detector, and takes --replicate and --late-conn (docs/relay.md, \"Failover of both \
                 connections\")",
                flags.join(", ")
            ));
        }
        if p.replicate.is_some() && !p.wanted() {
            return Err("--replicate applies to a relaying pair: add --standby or --failover-at F".into());
        }
        if p.late_conn && p.failover_at.is_none() {
            return Err("--late-conn opens its connection right before the primary is killed: give --failover-at F".into());
        }
        if p.wanted() && self.pcap.is_some() {
            return Err("--pcap not with --standby or --failover-at in --mode relay: the relaying pair captures each \
                        card's port to primary.pcap and standby.pcap in its work directory (keep it with --sink-dir DIR)"
                .into());
        }
        if p.late_conn && self.client_cmd.is_some() {
            return Err("--late-conn not with --client-cmd: the late connection is opened at F of the curl downloads, \
                        which a client command replaces"
                .into());
        }
        let not_relay = [
            ("--syn-flood", self.syn_flood.is_some()),
            ("--syn-cookies", self.syn_cookies.is_some()),
            ("--plot", self.plot.is_some()),
            ("--app", self.app != crate::app::AppKind::Sink),
            ("--holdback off", !self.holdback.on()),
        ];
        let given: Vec<&str> = not_relay.iter().filter(|(_, g)| *g).map(|(f, _)| *f).collect();
        if !given.is_empty() {
            return Err(format!(
                "{} do not apply to --mode relay: the card holds every relayed ACK until the other side acknowledged \
                 (the peer gate), no application runs behind it, and its SYN cookies and plot are the single-card lab's",
                given.join(", ")
            ));
        }
        if self.server_cmd.is_some() && self.client_cmd.is_none() {
            return Err("--server-cmd replaces nginx and the upload sink, so the curl downloads and the uploads would \
                        have nothing to check against: give --client-cmd too"
                .into());
        }
        Ok(())
    }

    /// `--chaos N`: the pair's own settings apply; what would fight the
    /// chaos run's own faults, its one shared store or its captures is refused.
    fn check_chaos(&self) -> Result<(), String> {
        let p = &self.pair;
        let given = [
            ("--failover-at", p.failover_at.is_some()),
            ("--cut-replication-at", p.cut_replication_at.is_some()),
            ("--cut-for-ms", p.cut_for_ms.is_some()),
            ("--switchover-at", p.switchover_at.is_some()),
            ("--late-conn", p.late_conn),
            ("--lag-at-kill", p.lag_at_kill),
            ("--detector", p.detector.is_some()),
            ("--store", p.store.is_some()),
            ("--pcap", self.pcap.is_some()),
            ("--plot", self.plot.is_some()),
        ];
        let clashing: Vec<&str> = given.into_iter().filter(|(_, g)| *g).map(|(flag, _)| flag).collect();
        if !clashing.is_empty() {
            return Err(format!(
                "{} do not apply to --chaos: it does its own faults with the heartbeat detector under the etcd \
                 authority, into one store both daemons share, and keeps each card's capture in its work directory \
                 (keep it with --sink-dir DIR)",
                clashing.join(", ")
            ));
        }
        Ok(())
    }
}

/// `--chaos N`: at least one fault.
fn parse_fault_count(s: &str) -> Result<u32, String> {
    match s.trim().parse::<u32>() {
        Ok(0) => Err("--chaos needs at least one fault (N ≥ 1)".into()),
        Ok(n) if n <= MAX_CHAOS_FAULTS => Ok(n),
        Ok(n) => Err(format!("{n} faults: at most {MAX_CHAOS_FAULTS} in one run")),
        Err(e) => Err(format!("`{s}` is not a number of faults: {e}")),
    }
}

/// The most faults one `--chaos` run does (each takes about two seconds).
pub const MAX_CHAOS_FAULTS: u32 = 10_000;

/// How long `--cut-replication-at` cuts the link when `--cut-for-ms` is not given.
pub const DEFAULT_CUT_FOR_MS: u64 = 1000;

/// A fraction in [0, 1].
pub fn parse_fraction(s: &str) -> Result<f64, String> {
    let v: f64 = s.trim().parse().map_err(|e| format!("`{s}` is not a number: {e}"))?;
    if !(0.0..=1.0).contains(&v) {
        return Err(format!("{v} is outside 0.0..=1.0"));
    }
    Ok(v)
}

#[derive(Debug, Subcommand)]
pub enum LabAction {
    /// Build the lab and leave it running in the background; print its
    /// namespaces, addresses and control socket.
    Up(UpArgs),
    /// Stop a lab started with `lab up` and remove its namespaces.
    Down {
        /// Name given to `lab up`.
        #[arg(long, default_value = DEFAULT_NAME)]
        name: String,
    },
    /// The lab bridge as a switch hook for `holdback watch --switch-cmd`:
    /// detach the primary card's port, pin the service MAC on the
    /// standby's port.
    Switch {
        /// A failover lab's topology.json (in its work directory).
        #[arg(value_name = "TOPOLOGY")]
        topology: PathBuf,
    },
}

/// TCP port the lab's card listens on.
pub const LAB_PORT: u16 = 5001;

/// `5002=off` → port 5002 with holdback off.
fn parse_port_holdback(s: &str) -> Result<holdback_driver::PortHoldback, String> {
    let (port, onoff) = s.split_once('=').ok_or_else(|| format!("`{s}` is not PORT=on|off"))?;
    let port: u16 = port.parse().ok().filter(|p| *p != 0).ok_or_else(|| format!("`{port}` is not a port in 1..=65535"))?;
    let holdback = match onoff {
        "on" => true,
        "off" => false,
        other => return Err(format!("`{other}` is not on or off")),
    };
    Ok(holdback_driver::PortHoldback { port, holdback })
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Name of the lab (state in /run/holdback/NAME/).
    #[arg(long, default_value = DEFAULT_NAME)]
    pub name: String,
    /// ACK holdback for new connections.
    #[arg(long, value_enum, value_name = "on|off", default_value_t = OnOff::On)]
    pub holdback: OnOff,
    /// TCP port the card listens on.
    #[arg(long, default_value_t = LAB_PORT)]
    pub port: u16,
    /// A listening port with a holdback of its own, whatever --holdback
    /// says (repeatable): "5002=off" listens on 5002 too and ACKs its
    /// connections at rcv_nxt.
    #[arg(long, value_name = "PORT=on|off", value_parser = parse_port_holdback)]
    pub port_holdback: Vec<holdback_driver::PortHoldback>,
    /// Record the card's port to this pcap file.
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
    /// Print what was started as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// The configuration file (TOML; see daemon/holdback.example.toml). It is
    /// validated completely before anything starts.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Drive this card instead of the file's `card`: `vfio:<PCI address>`
    /// (e.g. vfio:0000:03:00.0, bound to vfio-pci; see `holdback load`) or
    /// `sim` (needs the file's [sim] section). Validated like the file.
    #[arg(long, value_name = "SPEC")]
    pub card: Option<String>,
    /// Validate the file, print the effective configuration (defaults filled
    /// in) and exit without starting anything.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Args)]
pub struct SocketArg {
    /// Control socket of the daemon (`socket` in its config) or of a lab
    /// (`lab up` prints it).
    #[arg(long, value_name = "PATH", env = "HOLDBACK_SOCKET", default_value_os_t = default_socket())]
    pub socket: PathBuf,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub socket: SocketArg,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

impl OnOff {
    pub fn on(self) -> bool {
        self == OnOff::On
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReleaseAction {
    Pause,
    Resume,
}

/// Parses "1048576", "512K", "512KiB", "8M", "8MiB", "1G" (binary multiples;
/// "kB"/"MB"/"GB" are decimal).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    if num.is_empty() {
        return Err(format!("`{s}` is not a size: expected a number with an optional unit (K, M, G, KiB, MiB, GiB, kB, MB, GB)"));
    }
    let n: u64 = num.parse().map_err(|e| format!("`{s}`: {e}"))?;
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "K" | "k" | "KiB" => 1 << 10,
        "M" | "MiB" => 1 << 20,
        "G" | "GiB" => 1 << 30,
        "kB" | "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        other => return Err(format!("`{s}`: unknown unit `{other}` (use K, M, G, KiB, MiB, GiB, kB, MB or GB)")),
    };
    let v = n.checked_mul(mult).ok_or_else(|| format!("`{s}` overflows 64 bits"))?;
    if v == 0 {
        return Err("the size must be at least 1 byte".to_string());
    }
    Ok(v)
}

/// A receive-ring size for `--rx-ring-bytes`: a power of two the card's
/// RX_RING_LOG2 takes (4KiB..=1MiB; window scaling offers rings above 64KiB).
pub fn parse_ring_size(s: &str) -> Result<u32, String> {
    let (min, max) = (holdback_driver::host_mem::MIN_RX_RING_BYTES, holdback_driver::host_mem::MAX_RX_RING_BYTES);
    match u32::try_from(parse_size(s)?) {
        Ok(b) if b.is_power_of_two() && (min..=max).contains(&b) => Ok(b),
        _ => Err(format!("`{s}` is not a power of two in {min}..={max} bytes (the card's RX_RING_LOG2)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use std::path::Path;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("8MiB"), Ok(8 << 20));
        assert_eq!(parse_size("8M"), Ok(8 << 20));
        assert_eq!(parse_size("512K"), Ok(512 << 10));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size("2MB"), Ok(2_000_000));
        assert!(parse_size("").is_err());
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("8 parsecs").is_err());
        assert!(parse_size("0").is_err());
        assert!(parse_size("99999999999999999999G").is_err());
    }

    #[test]
    fn watch_takes_a_health_url_and_a_switch_hook_with_its_arguments_last() {
        use crate::tools::watch::Probe;
        let c = Cli::try_parse_from([
            "holdback", "watch", "--primary", "http://198.19.1.2:9464/health", "--standby", "/run/s.sock", "--misses", "2",
            "--switch-cmd", "holdback", "lab", "switch", "--to", "b", "-v",
        ])
        .unwrap();
        let Command::Watch(w) = c.command else { panic!("{:?}", c.command) };
        assert_eq!(w.primary, Probe::Health("198.19.1.2:9464".parse().unwrap()));
        assert_eq!(w.misses, 2);
        let hook = w.switch_hook().expect("a hook");
        assert_eq!(hook.program, Path::new("holdback"));
        assert_eq!(hook.args, ["lab", "switch", "--to", "b", "-v"]);
        assert_eq!(hook.timeout, std::time::Duration::from_secs(10));
        let c = Cli::try_parse_from(["holdback", "watch", "--primary", "/run/p.sock", "--standby", "/run/s.sock"]).unwrap();
        assert!(matches!(c.command, Command::Watch(ref w) if w.switch_hook().is_none() && w.primary == Probe::ControlSocket("/run/p.sock".into())));
        assert!(Cli::try_parse_from(["holdback", "watch", "--primary", "https://198.19.1.2", "--standby", "/s"]).is_err());
        assert!(Cli::try_parse_from(["holdback", "watch", "--primary", "/p", "--standby", "/s", "--switch-cmd"]).is_err());
        let c = Cli::try_parse_from(["holdback", "lab", "switch", "/tmp/lab/topology.json"]).unwrap();
        assert!(matches!(c.command, Command::Lab(LabCmd { action: Some(LabAction::Switch { ref topology }), .. }) if topology == Path::new("/tmp/lab/topology.json")));
    }

    #[test]
    fn cli_is_well_formed_and_parses_the_documented_forms() {
        Cli::command().debug_assert();
        let c = Cli::try_parse_from(["holdback", "lab", "--conns", "8", "--bytes", "8MiB", "--json"]).unwrap();
        match c.command {
            Command::Lab(LabCmd { action: None, run }) => {
                assert_eq!((run.conns, run.bytes, run.json), (8, 8 << 20, true));
                assert!(run.holdback.on());
            }
            other => panic!("{other:?}"),
        }
        let c = Cli::try_parse_from(["holdback", "lab", "up", "--name", "x", "--holdback", "off"]).unwrap();
        assert!(matches!(c.command, Command::Lab(LabCmd { action: Some(LabAction::Up(ref u)), .. }) if u.name == "x" && !u.holdback.on()));
        assert!(Cli::try_parse_from(["holdback", "lab", "--conns", "0"]).is_err());
        assert!(Cli::try_parse_from(["holdback", "lab", "--holdback", "maybe"]).is_err());
        assert!(Cli::try_parse_from(["holdback", "conns", "--json", "--socket", "/tmp/x"]).is_ok());
        assert!(Cli::try_parse_from(["holdback", "release", "pause"]).is_ok());
        let c = Cli::try_parse_from(["holdback", "daemon", "--check", "--config", "/etc/holdback/holdback.toml"]).unwrap();
        assert!(matches!(c.command, Command::Daemon(ref d) if d.check && d.config == Path::new("/etc/holdback/holdback.toml")));
        assert!(Cli::try_parse_from(["holdback", "daemon"]).is_err(), "--config is required");
        assert!(Cli::try_parse_from(["holdback", "status", "--json"]).is_ok());
        assert!(Cli::try_parse_from(["holdback", "completions", "zsh"]).is_ok());
        assert!(Cli::try_parse_from(["holdback", "completions", "cmd.exe"]).is_err());
    }

    /// Each `holdback lab` flag either takes effect in the single-card lab
    /// (the lab tests show it) or, given there, refuses the run naming it;
    /// a new flag fails here until it is one or the other.
    #[test]
    fn every_lab_flag_takes_effect_in_the_single_card_lab_or_is_refused() {
        // Used by the single-card run (LabRunOptions), or selecting the pair lab (or its chaos run).
        const SINGLE_CARD: [&str; 24] = [
            "conns", "bytes", "seed", "holdback", "reassembly", "sack", "timestamps", "syn_flood", "syn_cookies", "json", "plot", "pcap", "rx_ring_bytes", "sink_dir", "stall_timeout", "netem", "impair", "app",
            "standby", "failover_at", "cut_replication_at", "switchover_at", "chaos", "mode",
        ];
        // Used by the relay lab only (`lab_relay_mode_*` below).
        const RELAY_ONLY: [&str; 3] = ["server_cmd", "client_cmd", "relay_connect_ms"];
        // A value each pair-only flag accepts.
        let sample = |id: &str| match id {
            "gates" => "app",
            "sync" => "async",
            "replicate" => "after-data",
            "detector" => "external",
            "dup_acks" => "off",
            "heartbeat_ms" => "10",
            "heartbeat_misses" => "2",
            "cut_for_ms" => "5",
            "store" => "shared",
            "chaos_seed" => "7",
            other => panic!("`holdback lab --{other}`: give it a sample value here, or use it in the single-card lab"),
        };
        let cmd = Cli::command();
        let lab = cmd.find_subcommand("lab").expect("lab subcommand");
        let mut refused = 0;
        for arg in lab.get_arguments() {
            let id = arg.get_id().as_str();
            if matches!(id, "help" | "version") || SINGLE_CARD.contains(&id) || RELAY_ONLY.contains(&id) {
                continue;
            }
            let long = format!("--{}", arg.get_long().expect("lab flags are long"));
            let mut argv = vec!["holdback".to_string(), "lab".into(), long.clone()];
            if arg.get_action().takes_values() {
                argv.push(sample(id).into());
            }
            let Command::Lab(LabCmd { action: None, run }) = Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("{argv:?}: {e}")).command
            else {
                panic!("{argv:?} is not a lab run")
            };
            let why = run.check().expect_err(&format!("{argv:?} must be refused in the single-card lab"));
            assert!(why.contains(&long) && why.contains("pair lab"), "{argv:?}: {why}");
            refused += 1;
        }
        assert_eq!(refused, 12, "the pair-only flags");
        // In the pair lab, a flag that needs another says which.
        for (args, needs) in [
            (&["--standby", "--late-conn"][..], "--failover-at"),
            (&["--standby", "--cut-for-ms", "5"][..], "--cut-replication-at"),
            (&["--standby", "--lag-at-kill"][..], "--failover-at"),
            (&["--failover-at", "0.5", "--pcap", "/tmp/x.pcap"][..], "primary.pcap"),
            (&["--failover-at", "0.5", "--switchover-at", "0.5"][..], "--switchover-at"),
            (&["--standby", "--syn-flood", "1000"][..], "single-card lab"),
        ] {
            let argv: Vec<&str> = ["holdback", "lab"].into_iter().chain(args.iter().copied()).collect();
            let Command::Lab(LabCmd { action: None, run }) = Cli::try_parse_from(&argv).unwrap().command else { panic!() };
            let why = run.check().expect_err(&format!("{argv:?} must be refused"));
            assert!(why.contains(needs), "{argv:?}: {why}");
        }
        // Accepted combinations stay accepted.
        for args in [&["--impair", "loss 1%", "--netem", "delay 1ms"][..], &["--failover-at", "0.5", "--late-conn", "--gates", "app"][..]] {
            let argv: Vec<&str> = ["holdback", "lab"].into_iter().chain(args.iter().copied()).collect();
            let Command::Lab(LabCmd { action: None, run }) = Cli::try_parse_from(&argv).unwrap().command else { panic!() };
            assert_eq!(run.check(), Ok(()), "{argv:?}");
        }
    }

    /// `holdback lab ARGS` as a lab run, or clap's error.
    fn run_of(args: &[&str]) -> Result<LabRunArgs, String> {
        let argv: Vec<&str> = ["holdback", "lab"].into_iter().chain(args.iter().copied()).collect();
        match Cli::try_parse_from(&argv).map(|c| c.command) {
            Ok(Command::Lab(LabCmd { action: None, run })) => Ok(run),
            Ok(other) => panic!("{argv:?} parsed as {other:?}"),
            Err(e) => Err(e.to_string()),
        }
    }

    /// `--app` picks the application behind the lab's card: sink by
    /// default, echo by name, nothing else; echo in the pair lab with a
    /// failover, a switchover, a replication cut or none, not the sink's store modes.
    #[test]
    fn lab_app_is_sink_by_default_takes_echo_and_refuses_the_rest() {
        assert_eq!(run_of(&[]).unwrap().app, crate::app::AppKind::Sink);
        let echo = run_of(&["--app", "echo", "--conns", "8", "--bytes", "8MiB"]).unwrap();
        assert_eq!((echo.app, echo.conns, echo.bytes), (crate::app::AppKind::Echo, 8, 8 << 20));
        assert_eq!(echo.check(), Ok(()));
        let bad = run_of(&["--app", "relay"]).expect_err("an unknown application is refused");
        assert!(bad.contains("relay") && bad.contains("sink") && bad.contains("echo"), "{bad}");
        assert_eq!(run_of(&["--app", "echo", "--failover-at", "0.5"]).unwrap().check(), Ok(()));
        assert_eq!(run_of(&["--app", "echo", "--standby"]).unwrap().check(), Ok(()));
        let pair = run_of(&["--app", "echo", "--failover-at", "0.5", "--lag-at-kill", "--store", "shared"]).unwrap();
        let why = pair.check().expect_err("the sink's own pair modes are refused with the echo");
        assert!(why.contains("--app echo") && why.contains("--store, --lag-at-kill"), "{why}");
        assert_eq!(run_of(&["--app", "echo", "--switchover-at", "0.5"]).unwrap().check(), Ok(()));
        let cut = ["--app", "echo", "--cut-replication-at", "0.3", "--cut-for-ms", "1500", "--detector", "external"];
        assert_eq!(run_of(&cut).unwrap().check(), Ok(()));
    }

    /// `--mode relay`: its own flags only with it, a failover of a
    /// relaying pair with `--standby` / `--failover-at`, and what it cannot
    /// do (a switchover, a replication cut, chaos) refused with the reason.
    #[test]
    fn lab_relay_mode_takes_its_templates_and_refuses_what_it_cannot_run() {
        assert_eq!(run_of(&[]).unwrap().mode, LabMode::Single);
        let relay = run_of(&["--mode", "relay", "--bytes", "8MiB", "--impair", "loss 1%", "--netem", "delay 1ms", "--pcap", "/tmp/r.pcap"]).unwrap();
        assert_eq!((relay.mode, relay.bytes), (LabMode::Relay, 8 << 20));
        assert_eq!(relay.check(), Ok(()));
        let both = ["--mode", "relay", "--server-cmd", "nc -l {server_ip} {server_port}", "--client-cmd", "curl http://{listen_ip}:{listen_port}/", "--relay-connect-ms", "500"];
        let both = run_of(&both).unwrap();
        assert_eq!((both.relay_connect_ms, both.check()), (Some(500), Ok(())));
        assert_eq!(run_of(&["--mode", "relay", "--client-cmd", "true"]).unwrap().check(), Ok(()), "a client command against nginx and the sink");
        let failover = run_of(&["--mode", "relay", "--failover-at", "0.3", "--impair", "loss 1% reorder 1%", "--bytes", "2MiB"]).unwrap();
        assert_eq!((failover.pair.failover_at, failover.check()), (Some(0.3), Ok(())));
        assert_eq!(run_of(&["--mode", "relay", "--standby", "--netem", "delay 1ms"]).unwrap().check(), Ok(()), "a relaying pair without a kill");
        for pair in [&["--standby"][..], &["--failover-at", "0.5"][..]] {
            let with = |cmds: &[&str]| run_of(&[&["--mode", "relay"][..], pair, cmds].concat()).unwrap().check();
            assert_eq!(with(&["--server-cmd", "nc -l {server_ip} {server_port}", "--client-cmd", "nc {listen_ip} {listen_port}"]), Ok(()), "the user's commands through a relaying pair ({pair:?})");
            assert_eq!(with(&["--client-cmd", "true"]), Ok(()), "a client command against nginx and the sink ({pair:?})");
            assert!(with(&["--server-cmd", "true"]).is_err_and(|why| why.contains("give --client-cmd too")), "{pair:?}");
        }
        for mode in ["at-setup", "after-data"] {
            let r = run_of(&["--mode", "relay", "--failover-at", "0.5", "--replicate", mode]).unwrap();
            assert_eq!(r.check(), Ok(()), "--replicate {mode}");
            let late = run_of(&["--mode", "relay", "--failover-at", "0.5", "--replicate", mode, "--late-conn"]).unwrap();
            assert_eq!((late.pair.late_conn, late.check()), (true, Ok(())), "--late-conn --replicate {mode}");
        }
        for (args, needle) in [
            (&["--mode", "relay", "--switchover-at", "0.5"][..], "--switchover-at: not built for --mode relay"),
            (&["--mode", "relay", "--cut-replication-at", "0.5"][..], "--cut-replication-at: not built for --mode relay"),
            (&["--mode", "relay", "--standby", "--switchover-at", "0.5"][..], "--switchover-at: not built"),
            (&["--mode", "relay", "--chaos", "3"][..], "--chaos: not built for --mode relay"),
            (&["--mode", "relay", "--gates", "app"][..], "--gates only apply to the pair lab without --mode relay"),
            (&["--mode", "relay", "--failover-at", "0.5", "--detector", "external"][..], "--detector only apply"),
            (&["--mode", "relay", "--replicate", "at-setup"][..], "--replicate applies to a relaying pair"),
            (&["--mode", "relay", "--standby", "--late-conn"][..], "--late-conn opens its connection right before the primary is killed"),
            (&["--mode", "relay", "--failover-at", "0.5", "--pcap", "/tmp/r.pcap"][..], "--pcap not with --standby or --failover-at"),
            (&["--mode", "relay", "--failover-at", "0.5", "--late-conn", "--client-cmd", "true"][..], "--late-conn not with --client-cmd"),
            (&["--mode", "relay", "--holdback", "off"][..], "--holdback off do not apply to --mode relay"),
            (&["--mode", "relay", "--app", "echo"][..], "--app do not apply"),
            (&["--mode", "relay", "--syn-flood", "100"][..], "--syn-flood do not apply"),
            (&["--mode", "relay", "--server-cmd", "true"][..], "give --client-cmd too"),
            (&["--server-cmd", "true"][..], "--server-cmd only apply to the relay lab: add --mode relay"),
            (&["--client-cmd", "true"][..], "--client-cmd only apply to the relay lab"),
            (&["--relay-connect-ms", "500"][..], "--relay-connect-ms only apply to the relay lab"),
        ] {
            let why = run_of(args).unwrap().check().expect_err(&format!("{args:?} must be refused"));
            assert!(why.contains(needle), "{args:?}: `{needle}` not in {why}");
        }
        assert!(run_of(&["--mode", "bridge"]).is_err());
        assert!(run_of(&["--mode", "relay", "--relay-connect-ms", "0"]).is_err());
    }

    /// `--chaos N [--chaos-seed S]`: N ≥ 1, the pair's settings apply, and
    /// what it cannot run is refused with the reason.
    #[test]
    fn lab_chaos_takes_faults_and_a_seed_and_refuses_what_it_cannot_run() {
        let chaos = run_of(&["--chaos", "20", "--chaos-seed", "7", "--heartbeat-ms", "50", "--bytes", "4MiB"]).unwrap();
        assert_eq!((chaos.pair.chaos, chaos.pair.chaos_seed, chaos.bytes), (Some(20), Some(7), 4 << 20));
        assert_eq!(chaos.check(), Ok(()));
        assert_eq!(run_of(&[]).unwrap().pair.chaos, None);

        let none = run_of(&["--chaos", "0"]).expect_err("no faults is refused");
        assert!(none.contains("at least one fault"), "{none}");
        assert_eq!(run_of(&["--chaos", "3", "--app", "echo"]).unwrap().check(), Ok(()), "the echo runs under chaos");
        let clash = run_of(&["--chaos", "3", "--failover-at", "0.5", "--store", "replicated"]).unwrap().check().expect_err("its own faults");
        assert!(clash.contains("--failover-at") && clash.contains("--store") && clash.contains("--chaos"), "{clash}");
        let seed_alone = run_of(&["--chaos-seed", "3"]).unwrap().check().expect_err("a seed without faults");
        assert!(seed_alone.contains("--chaos N"), "{seed_alone}");
    }

    #[test]
    fn every_flag_and_subcommand_has_help() {
        fn walk(cmd: &clap::Command, path: &str) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if matches!(id, "help" | "version") {
                    continue;
                }
                assert!(arg.get_help().is_some() || arg.get_long_help().is_some(), "{path} {id} has no help");
            }
            for sub in cmd.get_subcommands() {
                if sub.is_hide_set() || sub.get_name() == "help" {
                    continue;
                }
                assert!(sub.get_about().is_some(), "{path} {} has no help", sub.get_name());
                walk(sub, &format!("{path} {}", sub.get_name()));
            }
        }
        walk(&Cli::command(), "holdback");
    }
}
