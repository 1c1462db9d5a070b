//! `kvlog daemon --config FILE`: the holdback daemon with kvlog behind the
//! card instead of a built-in application. Everything but the application
//! is the daemon's own: the same config file, control socket, failover
//! pair and gates (`holdback daemon --config` documents them).
use std::path::PathBuf;
use std::process::ExitCode;

use holdback_daemon::app::{AppContext, AppError, Application};
use holdback_daemon::{config, error::chain, service};

const USAGE: &str = "usage: kvlog daemon --config FILE";

fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config_path = match args.as_slice() {
        [daemon, flag, path] if daemon == "daemon" && flag == "--config" => PathBuf::from(path),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let config = match config::load(&config_path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("kvlog: error: {}", chain(&e));
            return ExitCode::from(2);
        }
    };
    // The log lives in the daemon's `sink_dir`; a fresh KvLog (replaying
    // it) every time the daemon starts its application.
    let kvlog = |ctx: &AppContext<'_>| -> Result<Box<dyn Application>, AppError> { Ok(Box::new(kvlog::KvLog::open(&ctx.config.sink_dir)?)) };
    match service::run_with(&config, &kvlog) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kvlog: error: {}", chain(&e));
            ExitCode::FAILURE
        }
    }
}
