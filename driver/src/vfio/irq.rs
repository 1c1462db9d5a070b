//! MSI / MSI-X vectors routed to eventfds (VFIO_DEVICE_SET_IRQS).
//!
//! Each vector is a non-blocking eventfd: wait on it with [`Interrupts::wait`]
//! in a thread, or register [`Interrupts::fd`] with tokio's `AsyncFd` (the fd
//! is non-blocking, and a read returns how many interrupts arrived).
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

use super::device::DeviceInner;
use super::error::VfioError;

/// Message-signalled interrupt flavour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IrqKind {
    Msi,
    Msix,
}

impl IrqKind {
    pub fn name(self) -> &'static str {
        match self {
            IrqKind::Msi => "MSI",
            IrqKind::Msix => "MSI-X",
        }
    }
}

/// Enabled vectors; disabled again on drop.
pub struct Interrupts {
    kind: IrqKind,
    index: u32,
    fds: Vec<EventFd>,
    device: Arc<DeviceInner>,
}

impl Interrupts {
    pub(crate) fn new(device: Arc<DeviceInner>, kind: IrqKind, index: u32, count: u32) -> Result<Interrupts, VfioError> {
        let addr = device.addr;
        let fds = (0..count)
            .map(|_| EventFd::new(EFD_NONBLOCK))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| VfioError::Os { addr, op: "creating an eventfd".into(), source })?;
        device.device().enable_irq(index, fds.iter().collect()).map_err(|source| VfioError::Ioctl {
            addr,
            op: match kind {
                IrqKind::Msi => "enabling MSI (VFIO_DEVICE_SET_IRQS)",
                IrqKind::Msix => "enabling MSI-X (VFIO_DEVICE_SET_IRQS)",
            },
            source,
        })?;
        tracing::debug!(%addr, kind = kind.name(), count, "interrupts routed to eventfds");
        Ok(Interrupts { kind, index, fds, device })
    }

    pub fn kind(&self) -> IrqKind {
        self.kind
    }

    pub fn count(&self) -> usize {
        self.fds.len()
    }

    fn vector_err(&self, vector: usize, problem: impl Into<String>) -> VfioError {
        VfioError::Interrupt { addr: self.device.addr, kind: self.kind.name(), vector: vector as u32, problem: problem.into() }
    }

    /// The eventfd of `vector` (non-blocking), e.g. for tokio's `AsyncFd`.
    pub fn fd(&self, vector: usize) -> Result<BorrowedFd<'_>, VfioError> {
        let fd = self.fds.get(vector).ok_or_else(|| self.vector_err(vector, "no such vector"))?;
        // SAFETY: the eventfd stays open as long as `self`, which the
        // returned borrow cannot outlive.
        Ok(unsafe { BorrowedFd::borrow_raw(fd.as_raw_fd()) })
    }

    /// Interrupts that arrived on `vector` since the last take (0: none).
    pub fn take(&self, vector: usize) -> Result<u64, VfioError> {
        let fd = self.fds.get(vector).ok_or_else(|| self.vector_err(vector, "no such vector"))?;
        match fd.read() {
            Ok(n) => Ok(n),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(0),
            Err(e) => Err(self.vector_err(vector, format!("reading its eventfd: {e}"))),
        }
    }

    /// Block until `vector` fires or `timeout` passes; returns the count.
    pub fn wait(&self, vector: usize, timeout: Duration) -> Result<u64, VfioError> {
        let raw: RawFd = self.fd(vector)?.as_raw_fd();
        let deadline = Instant::now() + timeout;
        loop {
            let n = self.take(vector)?;
            if n > 0 {
                return Ok(n);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(self.vector_err(vector, format!("no interrupt within {timeout:?}")));
            }
            let mut pfd = libc::pollfd { fd: raw, events: libc::POLLIN, revents: 0 };
            let ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
            // SAFETY: one valid pollfd for a live fd; poll only writes revents.
            let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
            if rc < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() != std::io::ErrorKind::Interrupted {
                    return Err(self.vector_err(vector, format!("poll: {e}")));
                }
            }
        }
    }
}

impl Drop for Interrupts {
    fn drop(&mut self) {
        if let Err(e) = self.device.device().disable_irq(self.index) {
            tracing::warn!(addr = %self.device.addr, kind = self.kind.name(), err = %e, "disabling interrupts failed");
        }
    }
}
