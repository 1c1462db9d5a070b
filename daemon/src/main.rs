//! The `holdback` binary. Each subcommand is a thin layer over the library:
//! parse, call, print; errors are printed with their cause chain.
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser};
use holdback_daemon::cli::{Cli, Command, QueryArgs, ReleaseAction};
use holdback_daemon::control::{client, Request, Response};
use holdback_daemon::error::chain;
use holdback_daemon::tools::load;
use holdback_daemon::{config, service, sys, tables};

/// Exit status of a refused configuration file (sysexits.h EX_CONFIG): the
/// systemd unit does not restart on it, since a restart cannot fix the file.
const EXIT_CONFIG: u8 = 78;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The daemon logs what it does; the other commands only what goes wrong.
    let default_level = if matches!(cli.command, Command::Daemon(ref d) if !d.check) { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default_level.into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("holdback: error: {}", chain(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

type BoxError = Box<dyn std::error::Error + 'static>;

fn run(cli: Cli) -> Result<ExitCode, BoxError> {
    match cli.command {
        Command::Verilog { out } => verilog(&out),
        Command::Lab(cmd) => lab_cmd::run(cmd),
        Command::Bench(args) => lab_cmd::bench(args),
        Command::Load(args) => {
            match load::run(&args)? {
                load::Outcome::DryRun(plan) => print!("{}", plan.render()),
                load::Outcome::Loaded(l) => println!(
                    "card {} ({}) is bound to vfio-pci; ID block: magic {:#010x}, version {}, build {:08x}",
                    l.pci, l.board, l.id.magic, l.id.version, l.id.build
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Daemon(args) => {
            let config = match config::load_with_card(&args.config, args.card.as_deref()) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("holdback: error: {}", chain(&e));
                    return Ok(ExitCode::from(EXIT_CONFIG));
                }
            };
            if args.check {
                println!("# {}: valid; the effective configuration:", config.path.display());
                print!("{}", config.effective_toml());
                return Ok(ExitCode::SUCCESS);
            }
            service::run(&config)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "holdback", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Status(q) => query(&q, Request::Status),
        Command::Conns(q) => query(&q, Request::Conns),
        Command::Stats(q) => query(&q, Request::Stats),
        Command::Promote { socket } => match client::call(&socket.socket, &Request::Promote)? {
            Response::Done { what } => {
                println!("{what}");
                Ok(ExitCode::SUCCESS)
            }
            other => Err(format!("unexpected answer: {other:?}").into()),
        },
        Command::Watch(w) => {
            sys::install_stop_signals();
            let hook = w.switch_hook();
            let plan = holdback_daemon::tools::watch::WatchPlan {
                primary: w.primary.clone(),
                standby_socket: &w.standby,
                switch: hook.as_ref().map(|h| h as &dyn holdback_daemon::tools::watch::Switch),
                interval: Duration::from_millis(w.interval_ms),
                misses: w.misses,
            };
            let outcome = holdback_daemon::tools::watch::run(&plan, &sys::stop_requested)?;
            println!(
                "primary failed after {} probes; {}; standby: {} ({:?} from the first missed probe)",
                outcome.probes,
                if hook.is_some() { "switch hook succeeded" } else { "no switch hook" },
                outcome.standby_answer,
                outcome.detect_to_promoted
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Switchover(a) => {
            let plan = holdback_daemon::tools::switchover::SwitchoverPlan {
                primary_socket: &a.primary,
                standby_socket: &a.standby,
                rejoin_timeout: Duration::from_millis(a.rejoin_timeout_ms),
            };
            let outcome = holdback_daemon::tools::switchover::run(&plan)?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&outcome)?);
            } else {
                println!(
                    "switched over in {:.1} ms: epoch {} handed over through update {} ({} connections); {}; old primary {}",
                    outcome.took_ms,
                    outcome.handover.epoch,
                    outcome.handover.through,
                    outcome.handover.conns,
                    outcome.promoted,
                    outcome.old_primary_rejoined_ms.map_or("not yet its standby".to_string(), |ms| format!("its standby after {ms:.0} ms"))
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Release { action, socket } => {
            let req = match action {
                ReleaseAction::Pause => Request::PauseRelease,
                ReleaseAction::Resume => Request::ResumeRelease,
            };
            match client::call(&socket.socket, &req)? {
                Response::Done { what } => println!("{what}"),
                other => return Err(format!("unexpected answer: {other:?}").into()),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[cfg(feature = "verilog")]
fn verilog(out: &std::path::Path) -> Result<ExitCode, BoxError> {
    for w in holdback_daemon::tools::verilog::write_all(out)? {
        println!("{}  ({} bytes, build id {:08x})", w.path.display(), w.bytes, w.build_id);
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(not(feature = "verilog"))]
fn verilog(_out: &std::path::Path) -> Result<ExitCode, BoxError> {
    Err("this holdback was built without the Verilog generator (cargo feature `verilog`)".into())
}

/// `holdback lab`, `lab up|down|switch` (feature `lab`).
#[cfg(feature = "lab")]
mod lab_cmd {
    use super::*;
    use holdback_daemon::cli::{LabAction, LabCmd};
    use holdback_daemon::lab::{self, LabRunOptions};
    use holdback_daemon::lab::progress::Progress;
    use holdback_daemon::lab::up::{self as lab_up, UpOptions};

    pub fn run(cmd: LabCmd) -> Result<ExitCode, BoxError> {
        match cmd {
                LabCmd { action: None, run } if run.mode == holdback_daemon::cli::LabMode::Relay => {
                    run.check()?;
                    sys::install_stop_signals();
                    let (as_pair, failover_at) = (run.pair.wanted(), run.pair.failover_at);
                    let d = holdback_daemon::lab::relay::RelayLabOptions::default();
                    let opts = holdback_daemon::lab::relay::RelayLabOptions {
                        conns: run.conns as usize,
                        bytes: run.bytes,
                        seed: run.seed,
                        server_cmd: run.server_cmd,
                        client_cmd: run.client_cmd,
                        impair: run.pair.impair,
                        netem: run.pair.netem,
                        pcap: run.pcap,
                        timeout: Duration::from_secs(run.stall_timeout.max(1)),
                        relay_connect_ms: run.relay_connect_ms.unwrap_or(d.relay_connect_ms),
                        rx_ring_bytes: run.rx_ring_bytes,
                        reassembly: run.reassembly.on(),
                        sack: run.sack.on(),
                        timestamps: run.timestamps.on(),
                        work_dir: run.sink_dir,
                        ..d
                    };
                    // With --standby or --failover-at, two cards relay as a pair.
                    if as_pair {
                        let d = holdback_daemon::lab::relay_failover::RelayFailoverOptions::default();
                        let replicate = run.pair.replicate.unwrap_or(d.replicate);
                        let late_conn = run.pair.late_conn;
                        let opts = holdback_daemon::lab::relay_failover::RelayFailoverOptions { relay: opts, failover_at, replicate, late_conn };
                        let report = holdback_daemon::lab::relay_failover::run_relay_failover_lab(&opts)?;
                        if run.json {
                            println!("{}", report.json());
                        } else {
                            print!("{}", report.human());
                        }
                        return Ok(if report.passed() { ExitCode::SUCCESS } else { ExitCode::FAILURE });
                    }
                    let report = holdback_daemon::lab::relay::run_relay_lab(&opts)?;
                    if run.json {
                        println!("{}", report.json());
                    } else {
                        print!("{}", report.human());
                    }
                    Ok(if report.passed() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
                }
                LabCmd { action: None, run } if run.pair.chaos.is_some() => {
                    run.check()?;
                    sys::install_stop_signals();
                    let opts = chaos_options(&run);
                    let report = holdback_daemon::lab::chaos::run_chaos(&opts)?;
                    if run.json {
                        println!("{}", report.json());
                    } else {
                        print!("{}", report.human());
                    }
                    Ok(if report.passed() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
                }
                LabCmd { action: None, run } if run.pair.wanted() => {
                    run.check()?;
                    sys::install_stop_signals();
                    let p = &run.pair;
                    let d = holdback_daemon::lab::pair::FailoverOptions::default();
                    let opts = holdback_daemon::lab::pair::FailoverOptions {
                        conns: run.conns as usize,
                        bytes: run.bytes,
                        seed: run.seed,
                        failover_at: p.failover_at,
                        gates: p.gates.clone().unwrap_or(d.gates),
                        sync: p.sync.unwrap_or(d.sync),
                        replicate: p.replicate.unwrap_or(d.replicate),
                        detector: p.detector.unwrap_or(d.detector),
                        dup_acks: p.dup_acks.map_or(d.dup_acks, |o| o.on()),
                        holdback: run.holdback.on(),
                        cut_replication: p.cut_replication_at.map(|f| (f, Duration::from_millis(p.cut_for_ms.unwrap_or(holdback_daemon::cli::DEFAULT_CUT_FOR_MS)))),
                        heartbeat_ms: p.heartbeat_ms.unwrap_or(d.heartbeat_ms),
                        heartbeat_misses: p.heartbeat_misses.unwrap_or(d.heartbeat_misses),
                        netem: p.netem.clone(),
                        impair: p.impair.clone(),
                        late_conn: p.late_conn,
                        stall_timeout: Duration::from_secs(run.stall_timeout.max(1)),
                        keep_dir: run.sink_dir.clone(),
                        disturbance: None,
                        holdback_exe: None,
                        plot: run.plot.clone(),
                        progress: progress(run.json),
                        switchover_at: p.switchover_at,
                        store: p.store.unwrap_or(d.store),
                        lag_at_kill: p.lag_at_kill,
                        etcd: false,
                        app: run.app,
                        isolate_before_kill: None,
                        reassembly: run.reassembly.on(),
                        sack: run.sack.on(),
                        timestamps: run.timestamps.on(),
                        syn_cookies: run.syn_cookies,
                    };
                    let report = holdback_daemon::lab::pair::run_failover_lab(&opts)?;
                    if run.json {
                        println!("{}", report.json());
                    } else {
                        print!("{}", report.human());
                    }
                    Ok(if report.passed() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
                }
                LabCmd { action: None, run } => {
                    run.check()?;
                    sys::install_stop_signals();
                    let opts = LabRunOptions {
                        conns: run.conns as usize,
                        bytes: run.bytes,
                        seed: run.seed,
                        holdback: run.holdback.on(),
                        netem: run.pair.netem,
                        impair: run.pair.impair,
                        pcap: run.pcap,
                        sink_dir: run.sink_dir,
                        stall_timeout: Duration::from_secs(run.stall_timeout.max(1)),
                        holdback_exe: None,
                        plot: run.plot,
                        progress: progress(run.json),
                        rx_ring_bytes: run.rx_ring_bytes,
                        reassembly: run.reassembly.on(),
                        sack: run.sack.on(),
                        timestamps: run.timestamps.on(),
                        syn_flood: run.syn_flood,
                        syn_cookies: run.syn_cookies,
                        app: run.app,
                    };
                    let report = lab::run_lab(&opts)?;
                    if run.json {
                        println!("{}", report.json());
                    } else {
                        print!("{}", report.human());
                    }
                    Ok(if report.passed() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
                }
                LabCmd { action: Some(LabAction::Up(a)), .. } => {
                    let info = lab_up::up(&up_options(&a))?;
                    if a.json {
                        println!("{}", serde_json::to_string_pretty(&info)?);
                    } else {
                        print!("{}", info.human());
                    }
                    Ok(ExitCode::SUCCESS)
                }
                LabCmd { action: Some(LabAction::Switch { topology }), .. } => {
                    holdback_daemon::lab::netns::switch_from_file(&topology)?;
                    println!("switch moved: primary port detached, service MAC pinned on the standby's port");
                    Ok(ExitCode::SUCCESS)
                }
                LabCmd { action: Some(LabAction::Down { name }), .. } => {
                    let info = lab_up::down(&name)?;
                    println!("lab `{}` is down (namespaces {} and {} removed)", info.name, info.client_ns, info.card_ns);
                    Ok(ExitCode::SUCCESS)
                }
        }
    }

    /// `holdback lab --chaos N`: the pair's settings from the flags, the
    /// chaos run's own defaults for the rest.
    fn chaos_options(run: &holdback_daemon::cli::LabRunArgs) -> holdback_daemon::lab::chaos::ChaosOptions {
        let p = &run.pair;
        let d = holdback_daemon::lab::chaos::ChaosOptions::default();
        // Unseeded, the faults come from the clock; the report names the seed.
        let clock_seed = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |t| t.as_nanos() as u64);
        holdback_daemon::lab::chaos::ChaosOptions {
            faults: p.chaos.map_or(d.faults, |n| n as usize),
            chaos_seed: p.chaos_seed.unwrap_or_else(clock_seed),
            conns: run.conns as usize,
            bytes: run.bytes,
            seed: run.seed,
            holdback: run.holdback.on(),
            gates: p.gates.clone().unwrap_or(d.gates),
            sync: p.sync.unwrap_or(d.sync),
            replicate: p.replicate.unwrap_or(d.replicate),
            dup_acks: p.dup_acks.map_or(d.dup_acks, |o| o.on()),
            heartbeat_ms: p.heartbeat_ms.unwrap_or(d.heartbeat_ms),
            heartbeat_misses: p.heartbeat_misses.unwrap_or(d.heartbeat_misses),
            impair: p.impair.clone(),
            netem: p.netem.clone(),
            stall_timeout: Duration::from_secs(run.stall_timeout.max(1)),
            keep_dir: run.sink_dir.clone(),
            progress: if run.json { Progress::hidden() } else { Progress::spinner_on_terminal("chaos ") },
            app: run.app,
            reassembly: run.reassembly.on(),
            sack: run.sack.on(),
            timestamps: run.timestamps.on(),
            syn_cookies: run.syn_cookies,
            ..d
        }
    }

    /// A progress bar on a terminal, none under `--json`: the report is the whole output.
    fn progress(json: bool) -> Progress {
        if json {
            Progress::hidden()
        } else {
            Progress::on_terminal("")
        }
    }

    #[cfg(feature = "verilog")]
    pub fn bench(a: holdback_daemon::cli::BenchArgs) -> Result<ExitCode, BoxError> {
        use holdback_daemon::lab::bench::{self, BenchOptions};
        sys::install_stop_signals();
        let opts = BenchOptions {
            frames: a.frames,
            area: !a.no_area,
            area_sweep: a.area_sweep,
            lab: (!a.no_lab).then_some((usize::from(a.lab_conns), a.lab_bytes)),
            plot: a.plot,
            holdback_exe: None,
            progress: !a.json,
        };
        let report = bench::run(&opts)?;
        if a.json {
            println!("{}", report.json());
        } else {
            print!("{}", report.human());
        }
        Ok(ExitCode::SUCCESS)
    }

    #[cfg(not(feature = "verilog"))]
    pub fn bench(_a: holdback_daemon::cli::BenchArgs) -> Result<ExitCode, BoxError> {
        Err("`holdback bench` synthesizes the generated core: this holdback was built without the Verilog generator (cargo feature `verilog`)".into())
    }

    fn up_options(a: &holdback_daemon::cli::UpArgs) -> UpOptions {
        UpOptions { name: a.name.clone(), holdback: a.holdback.on(), port_holdback: a.port_holdback.clone(), pcap: a.pcap.clone(), port: a.port }
    }
}

#[cfg(not(feature = "lab"))]
mod lab_cmd {
    use super::*;

    const NO_LAB: &str = "this holdback was built without the lab (cargo feature `lab`)";

    pub fn run(_cmd: holdback_daemon::cli::LabCmd) -> Result<ExitCode, BoxError> {
        Err(NO_LAB.into())
    }

    pub fn bench(_a: holdback_daemon::cli::BenchArgs) -> Result<ExitCode, BoxError> {
        Err(format!("`holdback bench` runs the simulated core and the lab: {NO_LAB}").into())
    }
}

fn query(q: &QueryArgs, req: Request) -> Result<ExitCode, BoxError> {
    let text = match client::call(&q.socket.socket, &req)? {
        Response::Conns(r) if q.json => tables::conns_json(&r),
        Response::Conns(r) => tables::conns_table(&r),
        Response::Stats { stats } if q.json => tables::stats_json(&stats),
        Response::Stats { stats } => tables::stats_table(&stats),
        Response::Status(r) if q.json => tables::status_json(&r),
        Response::Status(r) => tables::status_table(&r),
        other => return Err(format!("unexpected answer: {other:?}").into()),
    };
    print!("{text}");
    if !text.ends_with('\n') {
        println!();
    }
    Ok(ExitCode::SUCCESS)
}
