//! The daemon library's system calls: the one module allowed `unsafe`
//! (`#![deny(unsafe_code)]` everywhere else). Each wrapper is safe to call
//! and says why its block is sound.
use std::os::unix::io::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};

static STOP_REQUESTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop_signal(_sig: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    STOP_REQUESTED.store(true, Ordering::SeqCst);
}

/// Make SIGINT, SIGTERM and SIGHUP set a flag ([`stop_requested`]) instead
/// of killing the process, so a long-running command (the lab, `watch`)
/// can tear down what it built.
pub fn install_stop_signals() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: installs a handler that only stores to an atomic, which is
        // async-signal-safe; the function pointer has the C ABI signal() expects.
        unsafe {
            libc::signal(sig, on_stop_signal as extern "C" fn(libc::c_int) as libc::sighandler_t);
        }
    }
}

/// A signal installed by [`install_stop_signals`] arrived.
pub fn stop_requested() -> bool {
    STOP_REQUESTED.load(Ordering::SeqCst)
}

/// Asks process `pid` to stop (SIGTERM). For a process that is not our
/// child (a background lab's daemon, found by its pid); a child is better
/// stopped through [`terminate_child`] or `Child::kill`.
pub fn terminate(pid: u32) -> std::io::Result<()> {
    send_signal(pid, libc::SIGTERM)
}

/// SIGTERM to our own child (std offers only SIGKILL): while it is not
/// reaped its pid cannot be reused, so the signal reaches this process.
pub fn terminate_child(child: &std::process::Child) -> std::io::Result<()> {
    terminate(child.id())
}

/// SIGINT to our own child: tools such as hping3 print their closing
/// statistics on it, where SIGTERM would end them silently.
pub fn interrupt_child(child: &std::process::Child) -> std::io::Result<()> {
    send_signal(child.id(), libc::SIGINT)
}

/// Kills process `pid` (SIGKILL): the last resort after [`terminate`].
pub fn kill(pid: u32) -> std::io::Result<()> {
    send_signal(pid, libc::SIGKILL)
}

fn send_signal(pid: u32, sig: libc::c_int) -> std::io::Result<()> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| std::io::Error::other(format!("pid {pid} is out of range")))?;
    // SAFETY: kill() takes a pid and a signal number; no memory is involved.
    let rc = unsafe { libc::kill(pid, sig) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// An exclusive, non-blocking `flock` on `file`: `Ok(false)` when another
/// process holds it. Released when the file is closed.
pub fn try_lock_exclusive(file: &std::fs::File) -> std::io::Result<bool> {
    // SAFETY: flock on a file descriptor the caller owns and keeps open; it
    // takes no pointers.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(err)
    }
}

/// Our effective user id.
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// What `getsockopt(TCP_INFO)` says about a Linux TCP socket (the fields
/// the lab reports).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TcpInfo {
    pub state: u8,
    pub bytes_acked: u64,
    pub bytes_received: u64,
    pub total_retrans: u32,
    pub unacked: u32,
    pub snd_cwnd: u32,
    pub rtt_us: u32,
    /// The retransmission timeout now, and how many times it was doubled
    /// since the last ACK of new data (RFC 6298 §5.5): a peer in deep
    /// back-off resends only at `rto_us`, up to Linux's 120 s.
    #[serde(default)]
    pub rto_us: u32,
    #[serde(default)]
    pub backoff: u8,
}

/// `getsockopt(TCP_INFO)` on `stream`.
pub fn tcp_info(stream: &std::net::TcpStream) -> std::io::Result<TcpInfo> {
    // SAFETY: tcp_info is plain old data; all-zero is a valid value.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: the pointer and length describe `info`, which outlives the call;
    // the kernel writes at most `len` bytes and updates `len`.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // tcpi_bytes_acked and tcpi_bytes_received sit at bytes 120..136 (Linux ≥ 4.1).
    if (len as usize) < 136 {
        return Err(std::io::Error::other(format!(
            "TCP_INFO returned {len} bytes; this kernel is too old to report tcpi_bytes_acked (needs Linux 4.1+)"
        )));
    }
    Ok(TcpInfo {
        state: info.tcpi_state,
        bytes_acked: info.tcpi_bytes_acked,
        bytes_received: info.tcpi_bytes_received,
        total_retrans: info.tcpi_total_retrans,
        unacked: info.tcpi_unacked,
        snd_cwnd: info.tcpi_snd_cwnd,
        rtt_us: info.tcpi_rtt,
        rto_us: info.tcpi_rto,
        backoff: info.tcpi_backoff,
    })
}

/// Raises this process's soft limit on open files to `wanted` (at most the
/// hard limit): a lab with N clients holds N sockets at once, more than the
/// usual soft limit of 1024. Returns the limit now in force.
pub fn raise_open_file_limit(wanted: u64) -> std::io::Result<u64> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes one rlimit into `lim`, which outlives the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let target = wanted.min(lim.rlim_max as u64);
    if (lim.rlim_cur as u64) >= target {
        return Ok(lim.rlim_cur as u64);
    }
    lim.rlim_cur = target as libc::rlim_t;
    // SAFETY: setrlimit reads one valid rlimit from `lim`; only the soft limit
    // changes, within the hard limit, which needs no privilege.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(target)
}


/// Stops thread `tid` with ptrace (SEIZE, INTERRUPT, then wait for its
/// stop): the thread that calls this becomes its tracer. The lab's chaos
/// run hangs a daemon this way while its card thread runs on.
/// `Ok(false)`: the thread ended before it stopped.
pub fn ptrace_stop_thread(tid: libc::pid_t) -> Result<bool, (&'static str, std::io::Error)> {
    let null = std::ptr::null_mut::<libc::c_void>();
    // SAFETY: PTRACE_SEIZE takes a thread id and a null address and data;
    // no memory of ours is involved. A wrong id fails with ESRCH or EPERM.
    if unsafe { libc::ptrace(libc::PTRACE_SEIZE, tid, null, null) } != 0 {
        let e = std::io::Error::last_os_error();
        return if e.raw_os_error() == Some(libc::ESRCH) { Ok(false) } else { Err(("SEIZE", e)) };
    }
    // SAFETY: as above, on the thread this thread just seized.
    if unsafe { libc::ptrace(libc::PTRACE_INTERRUPT, tid, null, null) } != 0 {
        return Err(("INTERRUPT", std::io::Error::last_os_error()));
    }
    let mut status = 0;
    // SAFETY: waits for the ptrace-stop of a thread this thread traces;
    // `status` is a valid int for the kernel to write.
    if unsafe { libc::waitpid(tid, &mut status, libc::__WALL) } != tid {
        let e = std::io::Error::last_os_error();
        return if e.raw_os_error() == Some(libc::ECHILD) { Ok(false) } else { Err(("waitpid", e)) };
    }
    Ok(true)
}

/// Resumes a thread [`ptrace_stop_thread`] stopped (on the same calling
/// thread, its tracer); a thread that ended meanwhile is no error.
pub fn ptrace_detach(tid: libc::pid_t) {
    let null = std::ptr::null_mut::<libc::c_void>();
    // SAFETY: PTRACE_DETACH takes a thread id and a null address and data;
    // it resumes a thread this thread traces and fails harmlessly otherwise.
    unsafe { libc::ptrace(libc::PTRACE_DETACH, tid, null, null) };
}
