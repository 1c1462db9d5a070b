//! Figures of the hot-standby pair (the README's "Hot standby" table), from the failover
//! lab itself (`lab::pair::run_failover_lab`, real Linux clients, two
//! daemons with their own simulated cards):
//!
//! 1. `failover_ms` and `max_stall_ms` with the duplicate-ACK trick on and
//!    off (heartbeat detector), several seeded runs each, plus one run with
//!    the external detector (`holdback watch`'s loop);
//! 2. goodput of the pair without a failure: holdback off, gates `app`,
//!    `app,replica` before-ack and `app,replica` async, back to back (each
//!    daemon its own store: the committed bytes cross the link), and
//!    `app,replica` before-ack with one shared directory (`store =
//!    "shared"`, no bytes on the link): what the store per host costs;
//! 3. replication link bytes per update and per delivered byte as the lab
//!    reports them.
//!
//! Besides the lab's `max_stall_ms` (the client application's longest wait
//! to send) it reports the lab's `wire_gap_ms`, from both cards' captures:
//! the last client data segment the primary received → the first one the
//! promoted standby received, i.e. how long the client's byte stream stopped
//! on the wire — what the duplicate ACKs are meant to shorten (fast
//! retransmit, not RTO).
//!
//! 4. the etcd authority against the heartbeat-only pair (docs/authority.md):
//!    the same kill, seeded runs of each interleaved (pair, etcd, pair,
//!    etcd, …) so both see the same seeds and the same load on this shared
//!    machine — the failover time from the cards' own frames (the last the
//!    primary's card sent → the first the standby's sent), medians and
//!    their ratio; then one chaos run (`lab::chaos`, `holdback lab
//!    --chaos`): per fault kind the longest time two cards answered at
//!    once against its stated bound, and the takeover time.
//!
//! Prints a Markdown table, then the same figures as JSON. Needs root
//! (and etcd, Debian `etcd-server`, for 4).
//!
//! Only the authority figures: `failover-bench --only-authority [--authority-runs 5 --chaos 20]`.
//!
//! `cargo run --release -p holdback-daemon --bin failover-bench [-- --runs 3 --conns 4 --bytes 2MiB]`
//!
//! The lab's two daemons run the `holdback` binary built beside this one
//! (`cargo build --release -p holdback-daemon` builds both).
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use holdback_daemon::cli::{parse_fraction, parse_size};
use holdback_daemon::config::{Detector, Gate, StoreMode, SyncMode};
use holdback_daemon::lab::chaos::{self, ChaosOptions, KindReport};
use holdback_daemon::lab::netns::LabTopology;
use holdback_daemon::lab::pair::{run_failover_lab, FailoverOptions, FailoverReport};
use holdback_daemon::lab::progress::Progress;
use holdback_daemon::error::chain;
use serde::Serialize;

#[derive(Debug, Parser)]
#[command(about = "Failover and goodput figures of the hot-standby lab")]
struct BenchArgs {
    /// Seeded failover runs per duplicate-ACK setting.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=50))]
    runs: u32,
    /// Client connections of every run.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    conns: u16,
    /// Bytes each client sends in a failover run, e.g. 2MiB.
    #[arg(long, value_name = "SIZE", default_value = "2MiB", value_parser = parse_size)]
    bytes: u64,
    /// Bytes each client sends in a goodput run (default: --bytes).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    goodput_bytes: Option<u64>,
    /// Rounds of the four goodput configurations (interleaved; the median is reported).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=20))]
    goodput_rounds: u32,
    /// Fraction of all bytes sent when the primary is killed.
    #[arg(long, value_name = "F", default_value_t = 0.5, value_parser = parse_fraction)]
    failover_at: f64,
    /// Heartbeat (and external probe) interval, milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    heartbeat_ms: u64,
    /// Silent intervals before the primary counts as failed.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    heartbeat_misses: u32,
    /// Seed of the first run; run i uses seed + i.
    #[arg(long, value_name = "S", default_value_t = 1)]
    seed: u64,
    /// Skip the external-detector run.
    #[arg(long)]
    no_external: bool,
    /// Skip the goodput runs.
    #[arg(long)]
    no_goodput: bool,
    /// Skip the failover runs (goodput only).
    #[arg(long)]
    no_failover: bool,
    /// Also write every run's full lab report (JSON array) to this file.
    #[arg(long, value_name = "FILE")]
    reports: Option<PathBuf>,
    /// Seeded kill runs of each authority (heartbeat-only pair, etcd), interleaved; 0 skips them.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(0..=50))]
    authority_runs: u32,
    /// Faults of the chaos run under the etcd authority; 0 skips it.
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u32).range(0..=1000))]
    chaos: u32,
    /// Seed of the chaos run's faults.
    #[arg(long, value_name = "S", default_value_t = 0xc4a0_5e7d)]
    chaos_seed: u64,
    /// Only the authority figures (skip the duplicate-ACK, external-detector and goodput runs).
    #[arg(long)]
    only_authority: bool,
}

/// One lab run, reduced to the figures this bench reports.
#[derive(Debug, Serialize)]
struct Run {
    label: String,
    seed: u64,
    passed: bool,
    failover_ms: Option<f64>,
    max_stall_ms: u64,
    /// Last client data segment at the primary → first at the promoted standby.
    wire_gap_ms: Option<f64>,
    goodput_mbps: f64,
    duration_s: f64,
    replication_bytes_per_update: Option<f64>,
    /// Replication link bytes (the primary's) per byte delivered (no-failure runs).
    replication_bytes_per_delivered_byte: Option<f64>,
    bytes_lost: u64,
    duplicate_bytes: u64,
    resets_seen: u64,
    /// Linux retransmissions summed over the clients.
    linux_retransmits: u64,
    errors: Vec<String>,
}

impl Run {
    fn from_report(label: &str, r: &FailoverReport) -> Run {
        Run {
            label: label.into(),
            seed: r.seed,
            passed: r.passed(),
            failover_ms: r.failover_ms,
            max_stall_ms: r.max_stall_ms,
            wire_gap_ms: r.wire_gap_ms,
            goodput_mbps: r.goodput_mbps,
            duration_s: r.duration_s,
            replication_bytes_per_update: r.replication_bytes_per_update,
            replication_bytes_per_delivered_byte: r.replication_bytes_per_delivered_byte,
            bytes_lost: r.bytes_lost,
            duplicate_bytes: r.duplicate_bytes,
            resets_seen: r.resets_seen,
            linux_retransmits: r.streams.iter().map(|s| u64::from(s.linux_retransmits)).sum(),
            errors: r.errors.clone(),
        }
    }

    fn failed_to_run(label: &str, seed: u64, error: String) -> Run {
        Run {
            label: label.into(),
            seed,
            passed: false,
            failover_ms: None,
            max_stall_ms: 0,
            wire_gap_ms: None,
            goodput_mbps: 0.0,
            duration_s: 0.0,
            replication_bytes_per_update: None,
            replication_bytes_per_delivered_byte: None,
            bytes_lost: 0,
            duplicate_bytes: 0,
            resets_seen: 0,
            linux_retransmits: 0,
            errors: vec![error],
        }
    }
}

/// Median and maximum of the values present (`None`: no value at all).
fn median_max(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let mut v: Vec<f64> = values.filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    let median = if v.len() % 2 == 1 { v[mid] } else { (v[mid - 1] + v[mid]) / 2.0 };
    Some((median, v[v.len() - 1]))
}

/// A group of runs of one configuration.
#[derive(Debug, Serialize)]
struct Group {
    label: String,
    runs: Vec<Run>,
    passed: usize,
    failover_ms_median: Option<f64>,
    failover_ms_max: Option<f64>,
    max_stall_ms_median: Option<f64>,
    max_stall_ms_max: Option<f64>,
    wire_gap_ms_median: Option<f64>,
    wire_gap_ms_max: Option<f64>,
    goodput_mbps_median: Option<f64>,
    /// Goodput median over the "holdback off" group's median (goodput groups only).
    goodput_ratio_to_off: Option<f64>,
    replication_bytes_per_update_median: Option<f64>,
    replication_bytes_per_delivered_byte_median: Option<f64>,
}

impl Group {
    fn new(label: &str, runs: Vec<Run>) -> Group {
        // A lab that could not run at all has no figures (duration 0).
        let ran = || runs.iter().filter(|r| r.duration_s > 0.0);
        let fo = median_max(ran().filter_map(|r| r.failover_ms));
        let stall = median_max(ran().map(|r| r.max_stall_ms as f64));
        let gap = median_max(ran().filter_map(|r| r.wire_gap_ms));
        let goodput = median_max(ran().map(|r| r.goodput_mbps));
        let repl = median_max(runs.iter().filter_map(|r| r.replication_bytes_per_update));
        let per_byte = median_max(runs.iter().filter_map(|r| r.replication_bytes_per_delivered_byte));
        Group {
            label: label.into(),
            passed: runs.iter().filter(|r| r.passed).count(),
            failover_ms_median: fo.map(|x| x.0),
            failover_ms_max: fo.map(|x| x.1),
            max_stall_ms_median: stall.map(|x| x.0),
            max_stall_ms_max: stall.map(|x| x.1),
            wire_gap_ms_median: gap.map(|x| x.0),
            wire_gap_ms_max: gap.map(|x| x.1),
            goodput_mbps_median: goodput.map(|x| x.0),
            goodput_ratio_to_off: None,
            replication_bytes_per_update_median: repl.map(|x| x.0),
            replication_bytes_per_delivered_byte_median: per_byte.map(|x| x.0),
            runs,
        }
    }
}

/// One kill run of the authority comparison.
#[derive(Debug, Serialize)]
struct AuthorityRun {
    authority: &'static str,
    seed: u64,
    passed: bool,
    /// The primary card's last own frame → the promoted card's first own
    /// frame (broadcasts both captures hold counted for neither: the
    /// primary's gratuitous ARP at its start floods to the standby's port).
    failover_ms: Option<f64>,
    wire_gap_ms: Option<f64>,
    max_stall_ms: u64,
    bytes_lost: u64,
    resets_seen: u64,
    errors: Vec<String>,
}

/// The etcd authority against the heartbeat-only pair, one kill each per seed.
#[derive(Debug, Serialize)]
struct AuthorityComparison {
    runs: Vec<AuthorityRun>,
    pair_failover_ms_median: Option<f64>,
    etcd_failover_ms_median: Option<f64>,
    /// etcd's median over the pair's.
    failover_ratio: Option<f64>,
    pair_wire_gap_ms_median: Option<f64>,
    etcd_wire_gap_ms_median: Option<f64>,
    /// What docs/authority.md says etcd costs per takeover: C·(1 + ρ) + r.
    etcd_extra_bound_ms: f64,
}

/// The chaos run's verdict per fault kind.
#[derive(Debug, Serialize)]
struct ChaosFigures {
    faults: usize,
    chaos_seed: u64,
    passed: bool,
    bytes_sent: u64,
    bytes_lost: u64,
    duplicate_bytes: u64,
    resets_seen: u64,
    faults_s: f64,
    kinds: Vec<KindReport>,
    errors: Vec<String>,
}

#[derive(Debug, Serialize)]
struct BenchReport {
    conns: u16,
    failover_bytes_per_conn: u64,
    goodput_bytes_per_conn: u64,
    failover_at: f64,
    heartbeat_ms: u64,
    heartbeat_misses: u32,
    /// The goal for failover_ms: within 3 heartbeat intervals (detection plus promotion).
    failover_goal_ms: u64,
    failover: Vec<Group>,
    goodput: Vec<Group>,
    #[serde(skip_serializing_if = "Option::is_none")]
    authority: Option<AuthorityComparison>,
    #[serde(skip_serializing_if = "Option::is_none")]
    chaos: Option<ChaosFigures>,
    total_s: f64,
}

fn main() -> ExitCode {
    let args = BenchArgs::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    bench(&args)
}

/// The `holdback` binary built beside this bench (`cargo build --release
/// -p holdback-daemon` builds both): the lab's two daemons run it.
fn holdback_beside_us() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let sibling = exe.parent()?.join("holdback");
    sibling.is_file().then_some(sibling)
}

fn gate_text(gates: &[Gate], sync: SyncMode, holdback: bool, store: StoreMode) -> String {
    if !holdback {
        return "holdback off".into();
    }
    let names: Vec<&str> = gates.iter().map(|g| if *g == Gate::App { "app" } else { "replica" }).collect();
    let sync = if gates.contains(&Gate::Replica) { if sync == SyncMode::Async { " async" } else { " before-ack" } } else { "" };
    let store = match store {
        StoreMode::Replicated => "",
        StoreMode::Shared => ", one shared store",
    };
    format!("gates {}{sync}{store}", names.join("+"))
}

/// Runs one lab (which keeps its work directory only when a run fails).
fn one_run(label: &str, opts: &FailoverOptions, reports: &mut Vec<FailoverReport>) -> Run {
    eprintln!("failover-bench: {label}, seed {} …", opts.seed);
    let started = Instant::now();
    // On a terminal, the run's bytes, rate and phase while it runs.
    let opts = FailoverOptions { progress: Progress::on_terminal("failover-bench "), ..opts.clone() };
    let run = match run_failover_lab(&opts) {
        Ok(r) => {
            let run = Run::from_report(label, &r);
            if !run.passed {
                eprintln!("failover-bench:   kept {} (configs, logs, captures, sink files)", r.work_dir.display());
            }
            reports.push(r);
            run
        }
        Err(e) => Run::failed_to_run(label, opts.seed, chain(&e)),
    };
    let fo = run.failover_ms.map_or("-".into(), |v| format!("{v:.1} ms"));
    let gap = run.wire_gap_ms.map_or("-".into(), |v| format!("{v:.1} ms"));
    eprintln!(
        "failover-bench:   {} in {:.1} s: failover {fo}, wire gap {gap}, max stall {} ms, goodput {:.2} Mbit/s, lost {} B, resets {}{}",
        if run.passed { "pass" } else { "FAIL" },
        started.elapsed().as_secs_f64(),
        run.max_stall_ms,
        run.goodput_mbps,
        run.bytes_lost,
        run.resets_seen,
        run.errors.first().map_or(String::new(), |e| format!("; {e}")),
    );
    run
}

fn bench(args: &BenchArgs) -> ExitCode {
    holdback_daemon::sys::install_stop_signals();
    let started = Instant::now();
    let goodput_bytes = args.goodput_bytes.unwrap_or(args.bytes);
    let Some(holdback) = holdback_beside_us() else {
        eprintln!("failover-bench: no `holdback` binary beside this one; build it: cargo build --release -p holdback-daemon");
        return ExitCode::FAILURE;
    };
    let base = FailoverOptions {
        conns: args.conns as usize,
        bytes: args.bytes,
        seed: args.seed,
        failover_at: Some(args.failover_at),
        heartbeat_ms: args.heartbeat_ms,
        heartbeat_misses: args.heartbeat_misses,
        stall_timeout: Duration::from_secs(30),
        holdback_exe: Some(holdback),
        ..FailoverOptions::default()
    };
    let mut reports = Vec::new();

    // (1) Failover: dup-ACKs on/off alternate per seed, so both settings see
    // the same seeds and the same background load on this shared machine.
    let mut on_runs = Vec::new();
    let mut off_runs = Vec::new();
    let no_failover = args.no_failover || args.only_authority;
    for i in 0..if no_failover { 0 } else { args.runs } {
        let seed = args.seed + u64::from(i);
        for dup_acks in [true, false] {
            let opts = FailoverOptions { seed, dup_acks, ..base.clone() };
            let label = format!("heartbeat, dup-ACKs {}", if dup_acks { "on" } else { "off" });
            let run = one_run(&label, &opts, &mut reports);
            if dup_acks { on_runs.push(run) } else { off_runs.push(run) }
            if holdback_daemon::sys::stop_requested() {
                return ExitCode::FAILURE;
            }
        }
    }
    let mut failover = if no_failover {
        Vec::new()
    } else {
        vec![Group::new("heartbeat, dup-ACKs on", on_runs), Group::new("heartbeat, dup-ACKs off", off_runs)]
    };
    if !args.no_external && !no_failover {
        let opts = FailoverOptions { detector: Detector::External, ..base.clone() };
        let label = "external detector, dup-ACKs on";
        failover.push(Group::new(label, vec![one_run(label, &opts, &mut reports)]));
    }

    // (2) Goodput without a failure, the four configurations back to back.
    let configs: [(Vec<Gate>, SyncMode, bool, StoreMode); 5] = [
        (vec![Gate::App], SyncMode::BeforeAck, false, StoreMode::Replicated),
        (vec![Gate::App], SyncMode::BeforeAck, true, StoreMode::Replicated),
        (vec![Gate::App, Gate::Replica], SyncMode::BeforeAck, true, StoreMode::Replicated),
        (vec![Gate::App, Gate::Replica], SyncMode::Async, true, StoreMode::Replicated),
        (vec![Gate::App, Gate::Replica], SyncMode::BeforeAck, true, StoreMode::Shared),
    ];
    let mut goodput = Vec::new();
    if !args.no_goodput && !args.only_authority {
        let mut per_config: Vec<Vec<Run>> = configs.iter().map(|_| Vec::new()).collect();
        for round in 0..args.goodput_rounds {
            for (i, (gates, sync, holdback, store)) in configs.iter().enumerate() {
                if holdback_daemon::sys::stop_requested() {
                    return ExitCode::FAILURE;
                }
                let opts = FailoverOptions {
                    bytes: goodput_bytes,
                    seed: args.seed + u64::from(round),
                    failover_at: None,
                    gates: gates.clone(),
                    sync: *sync,
                    holdback: *holdback,
                    store: *store,
                    ..base.clone()
                };
                per_config[i].push(one_run(&gate_text(gates, *sync, *holdback, *store), &opts, &mut reports));
            }
        }
        for ((gates, sync, holdback, store), runs) in configs.iter().zip(per_config) {
            goodput.push(Group::new(&gate_text(gates, *sync, *holdback, *store), runs));
        }
        let off = goodput[0].goodput_mbps_median;
        for g in goodput.iter_mut() {
            g.goodput_ratio_to_off = match (g.goodput_mbps_median, off) {
                (Some(x), Some(o)) if o > 0.0 => Some(x / o),
                _ => None,
            };
        }
    }

    // (4) The etcd authority against the heartbeat-only pair, then chaos.
    let authority = (args.authority_runs > 0).then(|| authority_comparison(args, &base, &mut reports));
    if holdback_daemon::sys::stop_requested() {
        return ExitCode::FAILURE;
    }
    let chaos = (args.chaos > 0).then(|| chaos_figures(args, &base));

    let report = BenchReport {
        conns: args.conns,
        failover_bytes_per_conn: args.bytes,
        goodput_bytes_per_conn: goodput_bytes,
        failover_at: args.failover_at,
        heartbeat_ms: args.heartbeat_ms,
        heartbeat_misses: args.heartbeat_misses,
        failover_goal_ms: args.heartbeat_ms * 3,
        failover,
        goodput,
        authority,
        chaos,
        total_s: started.elapsed().as_secs_f64(),
    };
    print!("{}", markdown(&report));
    match serde_json::to_string_pretty(&report) {
        Ok(j) => println!("\n```json\n{j}\n```"),
        Err(e) => eprintln!("failover-bench: the summary is not serialisable: {e}"),
    }
    if let Some(path) = &args.reports {
        let written = serde_json::to_string_pretty(&reports)
            .map_err(|e| e.to_string())
            .and_then(|j| std::fs::write(path, j).map_err(|e| e.to_string()));
        if let Err(e) = written {
            eprintln!("failover-bench: writing {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    let all_passed = report.failover.iter().chain(&report.goodput).all(|g| g.passed == g.runs.len())
        && report.authority.as_ref().is_none_or(|a| a.runs.iter().all(|r| r.passed))
        && report.chaos.as_ref().is_none_or(|c| c.passed);
    if all_passed { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// The primary card's last own frame → the promoted card's first own
/// frame, from a kept work directory's captures.
fn own_failover_ms(r: &FailoverReport) -> Result<Option<f64>, String> {
    let topology = r.work_dir.join("topology.json");
    let text = std::fs::read_to_string(&topology).map_err(|e| format!("reading {}: {e}", topology.display()))?;
    let topo: LabTopology = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", topology.display()))?;
    let (primary, standby) = chaos::own_frames(&r.work_dir.join("primary.pcap"), &r.work_dir.join("standby.pcap"), topo.card_mac)
        .map_err(|e| chain(&e))?;
    Ok(primary.iter().max().zip(standby.iter().min()).map(|(last, first)| (first.as_secs_f64() - last.as_secs_f64()) * 1e3))
}

/// (4a) The same kill under the heartbeat-only pair and under etcd, per
/// seed one of each, back to back.
fn authority_comparison(args: &BenchArgs, base: &FailoverOptions, reports: &mut Vec<FailoverReport>) -> AuthorityComparison {
    let mut runs = Vec::new();
    for i in 0..args.authority_runs {
        for etcd in [false, true] {
            if holdback_daemon::sys::stop_requested() {
                break;
            }
            let seed = args.seed + u64::from(i);
            let authority = if etcd { "etcd" } else { "pair" };
            let keep = std::env::temp_dir().join(format!("holdback-failover-bench-{}-{authority}-{i}", std::process::id()));
            let opts = FailoverOptions { seed, etcd, keep_dir: Some(keep.clone()), ..base.clone() };
            let label = format!("{authority} authority, kill");
            eprintln!("failover-bench: {label}, seed {seed} …");
            let run = match run_failover_lab(&opts) {
                Ok(r) => {
                    let (failover_ms, mut errors) = match own_failover_ms(&r) {
                        Ok(f) => (f, r.errors.clone()),
                        Err(e) => (None, [r.errors.clone(), vec![e]].concat()),
                    };
                    errors.extend(r.streams.iter().filter(|s| !s.sha256_match).map(|s| format!("client {} not intact", s.index)));
                    let run = AuthorityRun {
                        authority,
                        seed,
                        passed: r.passed() && errors.is_empty(),
                        failover_ms,
                        wire_gap_ms: r.wire_gap_ms,
                        max_stall_ms: r.max_stall_ms,
                        bytes_lost: r.bytes_lost,
                        resets_seen: r.resets_seen,
                        errors,
                    };
                    reports.push(r);
                    run
                }
                Err(e) => AuthorityRun {
                    authority,
                    seed,
                    passed: false,
                    failover_ms: None,
                    wire_gap_ms: None,
                    max_stall_ms: 0,
                    bytes_lost: 0,
                    resets_seen: 0,
                    errors: vec![chain(&e)],
                },
            };
            eprintln!(
                "failover-bench:   {}: failover {} ms (own frames), wire gap {} ms, max stall {} ms, lost {} B, resets {}{}",
                if run.passed { "pass" } else { "FAIL" },
                ms(run.failover_ms),
                ms(run.wire_gap_ms),
                run.max_stall_ms,
                run.bytes_lost,
                run.resets_seen,
                run.errors.first().map_or(String::new(), |e| format!("; {e}")),
            );
            if run.passed {
                let _ = std::fs::remove_dir_all(&keep);
            } else {
                eprintln!("failover-bench:   kept {}", keep.display());
            }
            runs.push(run);
        }
    }
    let median = |authority: &str, pick: &dyn Fn(&AuthorityRun) -> Option<f64>| {
        median_max(runs.iter().filter(|r| r.authority == authority).filter_map(pick)).map(|m| m.0)
    };
    let (pair_fo, etcd_fo) = (median("pair", &|r| r.failover_ms), median("etcd", &|r| r.failover_ms));
    // docs/authority.md, The bounds: the price of etcd is C·(1 + ρ) + r, C = D = m·h by default.
    let confirm_ms = (args.heartbeat_ms * u64::from(args.heartbeat_misses)) as f64;
    AuthorityComparison {
        pair_failover_ms_median: pair_fo,
        etcd_failover_ms_median: etcd_fo,
        failover_ratio: pair_fo.zip(etcd_fo).filter(|(p, _)| *p > 0.0).map(|(p, e)| e / p),
        pair_wire_gap_ms_median: median("pair", &|r| r.wire_gap_ms),
        etcd_wire_gap_ms_median: median("etcd", &|r| r.wire_gap_ms),
        etcd_extra_bound_ms: confirm_ms * 1.01,
        runs,
    }
}

/// (4b) One chaos run: the longest overlap of two cards per fault kind.
fn chaos_figures(args: &BenchArgs, base: &FailoverOptions) -> ChaosFigures {
    eprintln!("failover-bench: chaos, {} faults (seed {:#x}) …", args.chaos, args.chaos_seed);
    let opts = ChaosOptions {
        faults: args.chaos as usize,
        chaos_seed: args.chaos_seed,
        heartbeat_ms: args.heartbeat_ms,
        heartbeat_misses: args.heartbeat_misses,
        holdback_exe: base.holdback_exe.clone(),
        progress: Progress::spinner_on_terminal("failover-bench chaos "),
        ..ChaosOptions::default()
    };
    match chaos::run_chaos(&opts) {
        Ok(r) => {
            eprint!("{}", r.human());
            ChaosFigures {
                faults: r.faults,
                chaos_seed: r.chaos_seed,
                passed: r.passed(),
                bytes_sent: r.bytes_sent,
                bytes_lost: r.bytes_lost,
                duplicate_bytes: r.duplicate_bytes,
                resets_seen: r.resets_seen,
                faults_s: r.faults_s,
                kinds: r.kinds,
                errors: [r.errors, r.broken_streams].concat(),
            }
        }
        Err(e) => ChaosFigures {
            faults: opts.faults,
            chaos_seed: opts.chaos_seed,
            passed: false,
            bytes_sent: 0,
            bytes_lost: 0,
            duplicate_bytes: 0,
            resets_seen: 0,
            faults_s: 0.0,
            kinds: Vec::new(),
            errors: vec![chain(&e)],
        },
    }
}

fn ms(v: Option<f64>) -> String {
    v.map_or("-".into(), |x| format!("{x:.1}"))
}

fn markdown(r: &BenchReport) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    if !r.failover.is_empty() {
        let _ = writeln!(
            s,
            "failover: {} conns × {} B, primary killed at {:.0} % of the bytes; heartbeat {} ms × {} misses (goal: failover ≤ {} ms)\n",
            r.conns,
            r.failover_bytes_per_conn,
            r.failover_at * 100.0,
            r.heartbeat_ms,
            r.heartbeat_misses,
            r.failover_goal_ms
        );
        let _ = writeln!(s, "| failover | runs passed | failover_ms median / max | wire_gap_ms median / max | max_stall_ms median / max | lost B | resets | Linux retransmits | repl. B/update |");
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|");
        for g in &r.failover {
            let _ = writeln!(
                s,
                "| {} | {}/{} | {} / {} | {} / {} | {} / {} | {} | {} | {} | {} |",
                g.label,
                g.passed,
                g.runs.len(),
                ms(g.failover_ms_median),
                ms(g.failover_ms_max),
                ms(g.wire_gap_ms_median),
                ms(g.wire_gap_ms_max),
                ms(g.max_stall_ms_median),
                ms(g.max_stall_ms_max),
                g.runs.iter().map(|x| x.bytes_lost).sum::<u64>(),
                g.runs.iter().map(|x| x.resets_seen).sum::<u64>(),
                g.runs.iter().map(|x| x.linux_retransmits).sum::<u64>(),
                ms(g.replication_bytes_per_update_median),
            );
        }
    }
    if !r.goodput.is_empty() {
        let _ = writeln!(s, "\ngoodput without a failure: {} conns × {} B, pair lab (primary + standby)\n", r.conns, r.goodput_bytes_per_conn);
        let _ = writeln!(s, "| configuration | runs passed | goodput Mbit/s (median) | ratio to holdback off | repl. B/update | repl. B per delivered B |");
        let _ = writeln!(s, "|---|---|---|---|---|---|");
        for g in &r.goodput {
            let _ = writeln!(
                s,
                "| {} | {}/{} | {} | {} | {} | {} |",
                g.label,
                g.passed,
                g.runs.len(),
                g.goodput_mbps_median.map_or("-".into(), |x| format!("{x:.2}")),
                g.goodput_ratio_to_off.map_or("-".into(), |x| format!("{:.0} %", x * 100.0)),
                ms(g.replication_bytes_per_update_median),
                g.replication_bytes_per_delivered_byte_median.map_or("-".into(), |x| format!("{x:.3}")),
            );
        }
    }
    for g in r.failover.iter().chain(&r.goodput) {
        for run in g.runs.iter().filter(|x| !x.errors.is_empty()) {
            let _ = writeln!(s, "\n- {} (seed {}): {}", run.label, run.seed, run.errors.join("; "));
        }
    }
    if let Some(a) = &r.authority {
        let _ = writeln!(
            s,
            "\nthe etcd authority against the heartbeat-only pair: the primary killed at {:.0} % of the bytes, {} seeded runs each, interleaved\n",
            r.failover_at * 100.0,
            a.runs.len() / 2
        );
        let _ = writeln!(s, "| authority | runs passed | failover_ms (own frames) median | each run | wire_gap_ms median | lost B | resets |");
        let _ = writeln!(s, "|---|---|---|---|---|---|---|");
        for (name, median, gap) in [
            ("heartbeat-only pair", a.pair_failover_ms_median, a.pair_wire_gap_ms_median),
            ("etcd", a.etcd_failover_ms_median, a.etcd_wire_gap_ms_median),
        ] {
            let runs: Vec<&AuthorityRun> = a.runs.iter().filter(|x| (x.authority == "etcd") == (name == "etcd")).collect();
            let _ = writeln!(
                s,
                "| {name} | {}/{} | {} | {} | {} | {} | {} |",
                runs.iter().filter(|x| x.passed).count(),
                runs.len(),
                ms(median),
                runs.iter().map(|x| ms(x.failover_ms)).collect::<Vec<_>>().join(", "),
                ms(gap),
                runs.iter().map(|x| x.bytes_lost).sum::<u64>(),
                runs.iter().map(|x| x.resets_seen).sum::<u64>(),
            );
        }
        let _ = writeln!(
            s,
            "\netcd / pair failover median: {} (docs/authority.md: etcd adds C·(1 + ρ) + r = {:.0} ms + one etcd round trip)",
            a.failover_ratio.map_or("-".into(), |x| format!("{x:.2}")),
            a.etcd_extra_bound_ms
        );
        for run in a.runs.iter().filter(|x| !x.errors.is_empty()) {
            let _ = writeln!(s, "\n- {} (seed {}): {}", run.authority, run.seed, run.errors.join("; "));
        }
    }
    if let Some(c) = &r.chaos {
        let _ = writeln!(
            s,
            "\nchaos under etcd: {} faults (seed {:#x}) in {:.1} s, {} MiB sent: lost {} B, duplicated {} B, resets {} — {}\n",
            c.faults,
            c.chaos_seed,
            c.faults_s,
            c.bytes_sent >> 20,
            c.bytes_lost,
            c.duplicate_bytes,
            c.resets_seen,
            if c.passed { "pass" } else { "FAIL" }
        );
        let _ = writeln!(s, "| fault kind | faults | takeovers | longest overlap of two cards (ms) | bound (ms) | takeover median / longest (ms) |");
        let _ = writeln!(s, "|---|---|---|---|---|---|");
        for k in &c.kinds {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:.1} | {:.0} | {} / {} |",
                k.kind.name(),
                k.faults,
                k.takeovers,
                k.longest_overlap_ms,
                k.overlap_bound_ms,
                ms(k.takeover_median_ms),
                ms(k.takeover_max_ms)
            );
        }
        for e in &c.errors {
            let _ = writeln!(s, "\n- chaos: {e}");
        }
    }
    let _ = writeln!(s, "\ntotal {:.0} s", r.total_s);
    s
}
