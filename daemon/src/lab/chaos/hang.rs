//! A hung host, as the chaos run makes one: every thread of a daemon
//! stopped with ptrace but its simulated card's, which keeps running —
//! the card must fall silent by itself when its lease register runs out
//! (docs/authority.md, What the card adds).
/// The simulated card's thread (sim/src/card.rs): the one left running.
pub const CARD_THREAD: &str = "holdback-card";

#[derive(Debug, thiserror::Error)]
pub enum HangError {
    #[error("listing the threads of process {pid}")]
    Threads {
        pid: u32,
        #[source]
        source: std::io::Error,
    },
    #[error("ptrace({op}) of thread {tid} ({comm})")]
    Ptrace {
        op: &'static str,
        tid: libc::pid_t,
        comm: String,
        #[source]
        source: std::io::Error,
    },
    #[error("process {pid} has no thread besides its card's to stop")]
    NothingToStop { pid: u32 },
}

/// Every thread of a process but the card's, stopped with ptrace; resumed
/// (detached) on drop, also when the run fails. Drop it on the thread that
/// made it: a ptrace tracer is a thread, not a process.
pub struct Hung {
    tids: Vec<libc::pid_t>,
}

impl Hung {
    /// Stops every thread of process `pid` but the one named [`CARD_THREAD`].
    pub fn hang(pid: u32) -> Result<Hung, HangError> {
        let mut hung = Hung { tids: Vec::new() };
        let mut stopped = 0usize;
        // Threads come and go (the runtime's blocking pool): list again
        // until a pass finds none left to stop.
        loop {
            let mut stopped_one = false;
            let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).map_err(|source| HangError::Threads { pid, source })?;
            for task in tasks.flatten() {
                let Some(tid) = task.file_name().to_str().and_then(|t| t.parse::<libc::pid_t>().ok()) else { continue };
                let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default().trim().to_string();
                if comm == CARD_THREAD || hung.tids.contains(&tid) {
                    continue;
                }
                // Listed as seized either way: a thread that ended meanwhile
                // is detached harmlessly.
                hung.tids.push(tid);
                match crate::sys::ptrace_stop_thread(tid) {
                    Ok(true) => {
                        stopped_one = true;
                        stopped += 1;
                    }
                    Ok(false) => {}
                    Err((op, source)) => return Err(HangError::Ptrace { op, tid, comm, source }),
                }
            }
            if !stopped_one {
                break;
            }
        }
        if stopped == 0 {
            return Err(HangError::NothingToStop { pid });
        }
        tracing::info!(pid, threads = stopped, "daemon hung (every thread but the card's stopped)");
        Ok(hung)
    }
}

impl Drop for Hung {
    fn drop(&mut self) {
        for &tid in &self.tids {
            crate::sys::ptrace_detach(tid);
        }
        tracing::info!(threads = self.tids.len(), "hung daemon resumed");
    }
}
