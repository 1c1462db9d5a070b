//! `holdback watch`: the external failure detector (claims 21, 22, 38-40).
//! It probes the primary from outside the pair — `GET /health` on the
//! primary daemon's HTTP endpoint, from another host or namespace, which
//! answers 200 only while the daemon's service loop runs and its card
//! answers on its bus — and after `misses` failed probes in a row it
//! commands the switch and promotes the standby. Moving the switch first
//! keeps invariant 8: by the time the standby speaks, nothing the old
//! primary might still send reaches a peer.
//!
//! The switch is whatever the site has, commanded by a hook program
//! ([`CommandHook`]; the lab's bridge is `holdback lab switch`). Its
//! contract: it runs once, with the environment variables of
//! [`SwitchContext::env`]; it must send the service address to the standby's
//! port and stop forwarding to the primary's, and exit 0 only when it did.
//! A non-zero exit, a signal or [`CommandHook::timeout`] is a failure, and
//! watch then promotes nothing.
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::control::{client, Request, Response};
use crate::http::{Health, HEALTH_PATH};

/// Largest `/health` answer read.
const MAX_HEALTH_BODY: usize = 64 * 1024;
/// Most of a failed hook's stderr kept for its error.
const MAX_HOOK_STDERR: usize = 16 * 1024;

/// What tells whether the primary is alive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probe {
    /// `GET /health` on the primary daemon's HTTP endpoint (`[metrics]
    /// listen`), over the network.
    Health(SocketAddr),
    /// A status request on the primary's control socket: only where the
    /// detector shares the primary's host (the lab's in-process detector).
    ControlSocket(PathBuf),
}

impl std::fmt::Display for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Probe::Health(addr) => write!(f, "http://{addr}{HEALTH_PATH}"),
            Probe::ControlSocket(path) => write!(f, "{}", path.display()),
        }
    }
}

impl std::str::FromStr for Probe {
    type Err = String;

    /// `http://HOST:PORT[/health]` (an IP address: the detector must not
    /// depend on a name service while the pair fails), or a socket path.
    fn from_str(s: &str) -> Result<Probe, String> {
        let Some(rest) = s.strip_prefix("http://") else {
            if s.contains("://") {
                return Err(format!("`{s}`: only http:// health endpoints are probed"));
            }
            return Ok(Probe::ControlSocket(PathBuf::from(s)));
        };
        let authority = rest.strip_suffix(HEALTH_PATH).unwrap_or(rest).trim_end_matches('/');
        authority
            .parse::<SocketAddr>()
            .map(Probe::Health)
            .map_err(|e| format!("`{s}`: expected http://IP:PORT{HEALTH_PATH} ({e})"))
    }
}

/// What the switch hook is told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwitchContext {
    /// The probe that failed (URL or socket path).
    pub primary: String,
    /// The epoch the primary last reported healthy in, if it ever did.
    pub primary_epoch: Option<u32>,
    /// The standby's control socket, promoted right after the switch moved.
    pub standby: PathBuf,
    /// Failed probes in a row.
    pub misses: u32,
    /// Why the last probe failed.
    pub last_error: String,
}

impl SwitchContext {
    /// The hook's environment: `HOLDBACK_WATCH_PRIMARY`,
    /// `HOLDBACK_WATCH_PRIMARY_EPOCH` (empty when never seen),
    /// `HOLDBACK_WATCH_STANDBY`, `HOLDBACK_WATCH_MISSES`,
    /// `HOLDBACK_WATCH_LAST_ERROR`.
    pub fn env(&self) -> [(&'static str, String); 5] {
        [
            ("HOLDBACK_WATCH_PRIMARY", self.primary.clone()),
            ("HOLDBACK_WATCH_PRIMARY_EPOCH", self.primary_epoch.map(|e| e.to_string()).unwrap_or_default()),
            ("HOLDBACK_WATCH_STANDBY", self.standby.display().to_string()),
            ("HOLDBACK_WATCH_MISSES", self.misses.to_string()),
            ("HOLDBACK_WATCH_LAST_ERROR", self.last_error.clone()),
        ]
    }
}

/// The switch in front of the pair's two cards.
pub trait Switch {
    /// Stop forwarding to the primary's port and send the service address
    /// to the standby's; `Ok` only once that is done.
    fn move_to_standby(&self, ctx: &SwitchContext) -> Result<(), Box<dyn std::error::Error + Send + Sync>>;
}

/// A switch commanded by a program: `--switch-cmd PROGRAM ARGS…`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandHook {
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Longest the program may run; it is killed then, and that is a failure.
    pub timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("starting the switch hook `{program}`")]
    Start {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("waiting for the switch hook `{program}`")]
    Wait {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the switch hook `{program}` failed ({status}): {stderr}")]
    Failed { program: String, status: std::process::ExitStatus, stderr: String },
    #[error("the switch hook `{program}` did not finish within {timeout:?} and was killed")]
    TimedOut { program: String, timeout: Duration },
}

impl Switch for CommandHook {
    fn move_to_standby(&self, ctx: &SwitchContext) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.run(ctx).map_err(Into::into)
    }
}

impl CommandHook {
    /// Runs the program once with the context's environment; its stdout
    /// goes to our stderr (the log), its stderr into the error on failure.
    pub fn run(&self, ctx: &SwitchContext) -> Result<(), HookError> {
        let program = self.program.display().to_string();
        let mut child = Command::new(&self.program)
            .args(&self.args)
            .envs(ctx.env())
            .stdin(Stdio::null())
            // Our stdout carries watch's one-line verdict; the hook's chatter
            // belongs with the log.
            .stdout(std::io::stderr())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| HookError::Start { program: program.clone(), source })?;
        // Read stderr on a thread, so a chatty hook never blocks on a full pipe.
        let mut pipe = child.stderr.take();
        let stderr = std::thread::spawn(move || {
            let mut text = Vec::new();
            if let Some(p) = pipe.as_mut() {
                let _ = p.take(MAX_HOOK_STDERR as u64).read_to_end(&mut text);
                let _ = std::io::copy(p, &mut std::io::sink());
            }
            String::from_utf8_lossy(&text).into_owned()
        });
        let started = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if started.elapsed() >= self.timeout => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(HookError::TimedOut { program, timeout: self.timeout });
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                Err(source) => return Err(HookError::Wait { program, source }),
            }
        };
        let stderr = stderr.join().unwrap_or_default().trim().to_string();
        if !status.success() {
            return Err(HookError::Failed { program, status, stderr });
        }
        tracing::info!(%program, took = ?started.elapsed(), "switch hook succeeded");
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("starting the probe's async runtime")]
    Runtime(#[source] std::io::Error),
    #[error("commanding the switch; the standby was not promoted")]
    Switch(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("promoting the standby via {socket}")]
    Promote {
        socket: PathBuf,
        #[source]
        source: client::ClientError,
    },
    #[error("the standby answered the promotion with {0}")]
    Unexpected(String),
    #[error("stopped before the primary failed")]
    Stopped,
}

/// What `holdback watch` does when the primary fails.
pub struct WatchPlan<'a> {
    pub primary: Probe,
    pub standby_socket: &'a Path,
    /// The switch; `None` skips the switch step.
    pub switch: Option<&'a dyn Switch>,
    pub interval: Duration,
    pub misses: u32,
}

/// What happened.
#[derive(Clone, Debug, PartialEq)]
pub struct WatchOutcome {
    /// From the first failed probe of the final run of misses to the
    /// standby's answer to the promotion.
    pub detect_to_promoted: Duration,
    pub probes: u64,
    pub standby_answer: String,
}

/// Asks whether the primary serves, within `timeout`: its health (`Ok`),
/// or why the probe failed.
fn probe(rt: &tokio::runtime::Runtime, target: &Probe, timeout: Duration) -> Result<Option<Health>, String> {
    match target {
        Probe::ControlSocket(socket) => match client::call(socket, &Request::Status) {
            Ok(Response::Status(_)) => Ok(None),
            Ok(other) => Err(format!("status answered with {other:?}")),
            Err(e) => Err(crate::error::chain(&e)),
        },
        Probe::Health(addr) => match rt.block_on(async { tokio::time::timeout(timeout, get_health(*addr)).await }) {
            Err(_) => Err(format!("no answer within {timeout:?}")),
            Ok(Err(e)) => Err(e),
            Ok(Ok(h)) if h.serving => Ok(Some(h)),
            Ok(Ok(h)) => Err(format!("not serving: {}", h.problem.as_deref().unwrap_or("no reason given"))),
        },
    }
}

/// One `GET /health` over a fresh connection (hyper's client).
async fn get_health(addr: SocketAddr) -> Result<Health, String> {
    let stream = tokio::net::TcpStream::connect(addr).await.map_err(|e| format!("connecting: {e}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP handshake: {e}"))?;
    let connection = tokio::spawn(connection);
    let request = axum::http::Request::get(HEALTH_PATH)
        .header(axum::http::header::HOST, addr.to_string())
        .body(axum::body::Body::empty())
        .map_err(|e| format!("building the request: {e}"))?;
    let response = sender.send_request(request).await.map_err(|e| format!("GET {HEALTH_PATH}: {e}"))?;
    let status = response.status();
    let body = axum::body::to_bytes(axum::body::Body::new(response.into_body()), MAX_HEALTH_BODY)
        .await
        .map_err(|e| format!("reading the answer: {e}"));
    connection.abort();
    let body = body?;
    // 503 carries a Health too (serving: false, and why).
    serde_json::from_slice::<Health>(&body).map_err(|e| format!("HTTP {status}, not a health answer: {e}"))
}

/// Probes until the primary has failed `misses` times in a row (or `stop`
/// returns true), then switches and promotes.
pub fn run(plan: &WatchPlan<'_>, stop: &dyn Fn() -> bool) -> Result<WatchOutcome, WatchError> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(WatchError::Runtime)?;
    let mut missed = 0u32;
    let mut probes = 0u64;
    let mut first_miss: Option<Instant> = None;
    let mut last_epoch = None;
    let mut healthy_before = false;
    let last_error = loop {
        if stop() {
            return Err(WatchError::Stopped);
        }
        let t = Instant::now();
        probes += 1;
        match probe(&rt, &plan.primary, plan.interval) {
            Ok(health) => {
                if !healthy_before {
                    tracing::info!(primary = %plan.primary, role = ?health.as_ref().and_then(|h| h.role),
                        epoch = ?health.as_ref().and_then(|h| h.epoch), "primary serving; watching it");
                    healthy_before = true;
                }
                if let Some(epoch) = health.and_then(|h| h.epoch) {
                    last_epoch = Some(epoch);
                }
                missed = 0;
                first_miss = None;
            }
            Err(why) => {
                missed += 1;
                first_miss.get_or_insert(t);
                tracing::warn!(missed, of = plan.misses, primary = %plan.primary, %why, "primary probe failed");
                if missed >= plan.misses.max(1) {
                    break why;
                }
            }
        }
        std::thread::sleep(plan.interval.saturating_sub(t.elapsed()));
    };
    if let Some(switch) = plan.switch {
        let ctx = SwitchContext {
            primary: plan.primary.to_string(),
            primary_epoch: last_epoch,
            standby: plan.standby_socket.to_path_buf(),
            misses: missed,
            last_error,
        };
        switch.move_to_standby(&ctx).map_err(WatchError::Switch)?;
    }
    let answer = client::call(plan.standby_socket, &Request::Promote)
        .map_err(|source| WatchError::Promote { socket: plan.standby_socket.to_path_buf(), source })?;
    let standby_answer = match answer {
        Response::Done { what } => what,
        other => return Err(WatchError::Unexpected(format!("{other:?}"))),
    };
    let detect_to_promoted = first_miss.map(|t| t.elapsed()).unwrap_or_default();
    tracing::info!(?detect_to_promoted, probes, %standby_answer, "primary failed: switch moved, standby promoted");
    Ok(WatchOutcome { detect_to_promoted, probes, standby_answer })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> SwitchContext {
        SwitchContext {
            primary: "http://198.19.1.2:9464/health".into(),
            primary_epoch: Some(3),
            standby: PathBuf::from("/run/holdback/b/control.sock"),
            misses: 3,
            last_error: "connecting: Connection refused".into(),
        }
    }

    fn sh(script: &str, timeout: Duration) -> CommandHook {
        CommandHook { program: "sh".into(), args: vec!["-c".into(), script.into()], timeout }
    }

    #[test]
    fn probe_targets_parse() {
        let want = Probe::Health("198.19.1.2:9464".parse().unwrap());
        for s in ["http://198.19.1.2:9464", "http://198.19.1.2:9464/", "http://198.19.1.2:9464/health"] {
            assert_eq!(s.parse::<Probe>(), Ok(want.clone()), "{s}");
        }
        assert_eq!("/run/a.sock".parse::<Probe>(), Ok(Probe::ControlSocket("/run/a.sock".into())));
        assert!("https://198.19.1.2:9464".parse::<Probe>().is_err());
        assert!("http://primary.example:9464".parse::<Probe>().is_err(), "names are refused");
        assert_eq!(want.to_string(), "http://198.19.1.2:9464/health");
    }

    #[test]
    fn the_hook_gets_its_environment_and_its_arguments() {
        let dir = std::env::temp_dir().join(format!("holdback-hook-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("env");
        let script = format!(
            "echo \"$0|$1|$HOLDBACK_WATCH_PRIMARY|$HOLDBACK_WATCH_PRIMARY_EPOCH|$HOLDBACK_WATCH_STANDBY|$HOLDBACK_WATCH_MISSES|$HOLDBACK_WATCH_LAST_ERROR\" > {}",
            out.display()
        );
        let hook = CommandHook { args: vec!["-c".into(), script, "hook".into(), "port7".into()], ..sh("", Duration::from_secs(10)) };
        hook.run(&ctx()).unwrap();
        let got = std::fs::read_to_string(&out).unwrap();
        assert_eq!(
            got.trim(),
            "hook|port7|http://198.19.1.2:9464/health|3|/run/holdback/b/control.sock|3|connecting: Connection refused"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failing_a_missing_or_a_hanging_hook_is_an_error() {
        match sh("echo port busy >&2; exit 3", Duration::from_secs(10)).run(&ctx()) {
            Err(HookError::Failed { status, stderr, .. }) => assert_eq!((status.code(), stderr.as_str()), (Some(3), "port busy")),
            other => panic!("{other:?}"),
        }
        let missing = CommandHook { program: "/nonexistent/switch-hook".into(), args: vec![], timeout: Duration::from_secs(1) };
        assert!(matches!(missing.run(&ctx()), Err(HookError::Start { .. })));
        let started = Instant::now();
        assert!(matches!(sh("sleep 30", Duration::from_millis(300)).run(&ctx()), Err(HookError::TimedOut { .. })));
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn a_failed_switch_promotes_nothing() {
        // The standby socket does not exist: reaching the promotion would
        // fail with Promote, so Switch proves watch stopped before it.
        let hook = sh("exit 1", Duration::from_secs(10));
        let plan = WatchPlan {
            primary: Probe::Health("127.0.0.1:1".parse().unwrap()),
            standby_socket: Path::new("/nonexistent/standby.sock"),
            switch: Some(&hook),
            interval: Duration::from_millis(20),
            misses: 2,
        };
        assert!(matches!(run(&plan, &|| false), Err(WatchError::Switch(_))));
    }
}
