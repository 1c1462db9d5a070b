//! A Linux TAP device with raw `libc` (`IFF_TAP | IFF_NO_PI`, nonblocking):
//! each read is one Ethernet frame without FCS, each write sends one.
//!
//! The TAP is created in the network namespace of the calling thread, so
//! [`Tap::open`] with a `netns` does it on a short-lived helper thread that
//! first `setns()`s into `/run/netns/<name>`; the fd then works from any thread.
use std::{
    ffi::CStr,
    fs::File,
    io,
    os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd},
    path::PathBuf,
};

use crate::SimError;

/// Where the card's Ethernet port lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TapSpec {
    /// Interface name (< 16 bytes). An existing persistent TAP of that name is attached.
    pub name: String,
    /// Network namespace name under /run/netns (as made by `ip netns add`); None = ours.
    pub netns: Option<String>,
}

#[derive(Debug)]
pub struct Tap {
    fd: OwnedFd,
    name: String,
}

impl Tap {
    /// Opens (creating if needed) the TAP of `spec`, in its netns if one is named.
    pub fn open(spec: &TapSpec) -> Result<Tap, SimError> {
        match &spec.netns {
            None => Tap::open_here(&spec.name).map_err(|source| SimError::TapOpen {
                name: spec.name.clone(),
                netns: None,
                source,
            }),
            Some(ns) => {
                let spec = spec.clone();
                let ns = ns.clone();
                std::thread::Builder::new()
                    .name(format!("tap-open-{ns}"))
                    .spawn(move || {
                        enter_netns(&ns)?;
                        Tap::open_here(&spec.name).map_err(|source| SimError::TapOpen {
                            name: spec.name.clone(),
                            netns: Some(ns.clone()),
                            source,
                        })
                    })
                    .map_err(SimError::Thread)?
                    .join()
                    .map_err(|_| SimError::ThreadPanicked("TAP open helper".into()))?
            }
        }
    }

    /// Opens the TAP in the calling thread's network namespace.
    fn open_here(name: &str) -> io::Result<Tap> {
        if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.bytes().any(|b| b == 0 || b == b'/') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad interface name `{name}` (1..{} bytes, no NUL or '/')", libc::IFNAMSIZ - 1),
            ));
        }
        // SAFETY: a NUL-terminated path literal and plain flags; the result is checked.
        let raw = unsafe { libc::open(c"/dev/net/tun".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC | libc::O_NONBLOCK) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a freshly opened fd that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: ifreq is plain old data; all-zero is a valid (empty) request.
        let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
        for (d, s) in ifr.ifr_name.iter_mut().zip(name.bytes()) {
            *d = s as libc::c_char;
        }
        ifr.ifr_ifru.ifru_flags = (libc::IFF_TAP | libc::IFF_NO_PI) as libc::c_short;
        // SAFETY: TUNSETIFF reads and writes the `ifreq` we pass, which outlives the call.
        if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF, &mut ifr) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the kernel wrote a NUL-terminated name into ifr_name (IFNAMSIZ bytes, zeroed).
        let name = unsafe { CStr::from_ptr(ifr.ifr_name.as_ptr()) }.to_string_lossy().into_owned();
        Ok(Tap { fd, name })
    }

    /// The interface name the kernel gave the TAP.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// One frame into `buf`; `Ok(None)` when none is waiting.
    pub fn recv(&self, buf: &mut [u8]) -> Result<Option<usize>, SimError> {
        loop {
            // SAFETY: `buf` is a valid writable buffer of `buf.len()` bytes for the call.
            let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n >= 0 {
                return Ok(Some(n as usize));
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::WouldBlock => return Ok(None),
                io::ErrorKind::Interrupted => continue,
                _ => return Err(SimError::TapIo { name: self.name.clone(), op: "read", source: e }),
            }
        }
    }

    /// Sends one frame; `Ok(false)` if the kernel dropped it (queue full, or the
    /// interface is down), which a real wire would do too.
    pub fn send(&self, frame: &[u8]) -> Result<bool, SimError> {
        loop {
            // SAFETY: `frame` is a valid readable buffer of `frame.len()` bytes for the call.
            let n = unsafe { libc::write(self.fd.as_raw_fd(), frame.as_ptr().cast(), frame.len()) };
            if n >= 0 {
                return Ok(true);
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EAGAIN) | Some(libc::EIO) | Some(libc::ENOBUFS) => return Ok(false),
                _ => return Err(SimError::TapIo { name: self.name.clone(), op: "write", source: e }),
            }
        }
    }
}

impl AsRawFd for Tap {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for Tap {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Moves the calling thread into the network namespace `/run/netns/<ns>`.
pub fn enter_netns(ns: &str) -> Result<(), SimError> {
    let path = PathBuf::from("/run/netns").join(ns);
    let err = |source| SimError::Netns { netns: ns.to_string(), path: path.clone(), source };
    if ns.is_empty() || ns.contains('/') {
        return Err(err(io::Error::new(io::ErrorKind::InvalidInput, "bad namespace name")));
    }
    let file = File::open(&path).map_err(err)?;
    // SAFETY: `file` is an open namespace fd for the duration of the call;
    // CLONE_NEWNET only changes this thread's network namespace.
    if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } < 0 {
        return Err(err(io::Error::last_os_error()));
    }
    Ok(())
}
