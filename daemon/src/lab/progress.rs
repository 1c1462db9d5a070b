//! What a lab run is doing while it runs: on a terminal a progress bar on
//! stderr (bytes the clients' sockets accepted, the rate, the phase);
//! otherwise nothing on screen, the phases only as `tracing` lines
//! (`RUST_LOG=info`), so a pipe or `--json` gets the report alone.
use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Where a lab run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Namespaces, the daemon(s), their simulated cards coming up.
    Starting,
    /// The clients stream to the card.
    Sending,
    /// The primary was killed: the standby takes over, the clients go on.
    FailingOver,
    /// The replication link is cut, the primary alive.
    LinkCut,
    /// Every stream is compared with what its client sent.
    Verifying,
    /// The captures and logs are read and drawn (`--plot`).
    Plotting,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Starting => "starting",
            Phase::Sending => "sending",
            Phase::FailingOver => "failed over",
            Phase::LinkCut => "link cut",
            Phase::Verifying => "verifying",
            Phase::Plotting => "plotting",
        }
    }
}

/// A run's progress display; clones share one bar. The default shows nothing.
#[derive(Clone, Debug, Default)]
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// No bar (tests, `--json`, a bench that prints its own lines).
    pub fn hidden() -> Progress {
        Progress { bar: None }
    }

    /// A bar on stderr if stderr is a terminal, labelled `prefix`; hidden otherwise.
    pub fn on_terminal(prefix: &str) -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress::hidden();
        }
        let style = ProgressStyle::with_template(
            "{prefix}{spinner} {msg:<12} [{elapsed_precise}] {wide_bar} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec}",
        )
        // The template is a constant; should indicatif reject it, a plain bar is still progress.
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()).with_style(style);
        bar.set_prefix(prefix.to_string());
        // The spinner and the elapsed time move while the daemons start, before any byte.
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress { bar: Some(bar) }
    }

    /// A spinner on stderr if it is a terminal, for steps without a byte
    /// count (`holdback bench` measuring the core); hidden otherwise.
    pub fn spinner_on_terminal(prefix: &str) -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress::hidden();
        }
        let style = ProgressStyle::with_template("{prefix}{spinner} {msg} [{elapsed_precise}]")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()).with_style(style);
        bar.set_prefix(prefix.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress { bar: Some(bar) }
    }

    /// A step that is not one of the lab's phases ("64-byte frames").
    pub fn step(&self, what: &str) {
        tracing::info!(step = what, "bench");
        if let Some(bar) = &self.bar {
            bar.set_message(what.to_string());
        }
    }

    pub fn is_shown(&self) -> bool {
        self.bar.is_some()
    }

    /// The run will send `bytes` in all.
    pub fn set_total(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.set_length(bytes);
        }
    }

    pub fn phase(&self, phase: Phase) {
        tracing::info!(phase = phase.name(), "lab");
        if let Some(bar) = &self.bar {
            bar.set_message(phase.name());
        }
    }

    /// Bytes the clients' sockets accepted so far.
    pub fn sent(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(bytes);
        }
    }

    /// Removes the bar, so the report that follows stands alone.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
