//! DMA memory: page-aligned anonymous memory mapped at a chosen IOVA through
//! the device's container. The device may read or write it at any time, so
//! it is never exposed as a Rust reference: every access is volatile.
use std::ptr::NonNull;
use std::sync::Arc;

use volatile::VolatilePtr;

use super::device::DeviceInner;
use super::error::VfioError;
use super::regs::{check_access, RegValue};

const PAGE: usize = 4096;

/// A DMA buffer; unmapped from the IOMMU and freed on drop.
pub struct DmaBuffer {
    ptr: NonNull<u8>,
    len: usize,
    iova: u64,
    mapped: bool,
    name: String,
    device: Arc<DeviceInner>,
}

// SAFETY: the memory is reached only through volatile raw-pointer accesses
// (no references), which are fine from any thread; `device` is Send + Sync.
unsafe impl Send for DmaBuffer {}
// SAFETY: as for Send: `&self` accessors are single volatile operations.
unsafe impl Sync for DmaBuffer {}

fn memlock_limit() -> String {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the rlimit struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut lim) } != 0 {
        return "unknown".to_string();
    }
    if lim.rlim_cur == libc::RLIM_INFINITY {
        "unlimited".to_string()
    } else {
        format!("{} bytes", lim.rlim_cur)
    }
}

impl DmaBuffer {
    pub(crate) fn new(device: Arc<DeviceInner>, iova: u64, len: usize) -> Result<DmaBuffer, VfioError> {
        let addr = device.addr;
        if len == 0 || iova & (PAGE as u64 - 1) != 0 {
            return Err(VfioError::Os {
                addr,
                op: format!("DMA buffer of {len} bytes at IOVA {iova:#x}"),
                source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "length must be > 0 and IOVA page aligned"),
            });
        }
        let len = len.div_ceil(PAGE) * PAGE;
        // SAFETY: a fresh private anonymous mapping chosen by the kernel; it
        // aliases nothing.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(VfioError::Os {
                addr,
                op: format!("allocating {len} bytes of DMA memory"),
                source: std::io::Error::last_os_error(),
            });
        }
        let ptr = NonNull::new(p.cast::<u8>()).expect("mmap never returns 0 on success");
        let name = format!("DMA buffer of {addr} at IOVA {iova:#x}");
        // Constructed before mapping so an early return frees the memory.
        let mut buf = DmaBuffer { ptr, len, iova, mapped: false, name, device };
        // SAFETY: [ptr, ptr+len) is our own mapping, only ever touched through
        // volatile raw-pointer accesses (no Rust references exist or will be
        // made), and stays mapped until after `unmap` (Drop unmaps first).
        let r = unsafe { buf.device.container.vfio_dma_map(iova, len, ptr.as_ptr()) };
        match r {
            Ok(()) => buf.mapped = true,
            Err(vfio_ioctls::VfioError::IommuDmaMap(e)) if e.errno() == libc::ENOMEM => {
                return Err(VfioError::MemlockTooLow { requested: len, limit: memlock_limit() });
            }
            Err(source) => {
                return Err(VfioError::Ioctl { addr, op: "mapping DMA memory through the IOMMU (VFIO_IOMMU_MAP_DMA)", source });
            }
        }
        tracing::debug!(%addr, iova, len, "DMA buffer mapped");
        Ok(buf)
    }

    /// Device-side address of byte 0.
    pub fn iova(&self) -> u64 {
        self.iova
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the IOMMU still maps it (false after [`DmaBuffer::unmap`]).
    pub fn is_mapped(&self) -> bool {
        self.mapped
    }

    /// Remove the IOMMU mapping but keep the memory: afterwards the device
    /// can no longer reach it (what the blocked-DMA test checks).
    pub fn unmap(&mut self) -> Result<(), VfioError> {
        if self.mapped {
            self.device
                .container
                .vfio_dma_unmap(self.iova, self.len)
                .map_err(|source| VfioError::Ioctl { addr: self.device.addr, op: "unmapping DMA memory (VFIO_IOMMU_UNMAP_DMA)", source })?;
            self.mapped = false;
        }
        Ok(())
    }

    fn ptr<T: RegValue>(&self, offset: usize) -> Result<VolatilePtr<'_, T>, VfioError> {
        check_access(&self.name, offset as u64, T::WIDTH, self.len as u64)
            .map_err(|source| VfioError::Register { addr: self.device.addr, source })?;
        // SAFETY: offset + width <= len (checked), inside our mapping.
        let p = unsafe { self.ptr.as_ptr().add(offset) };
        // SAFETY: non-null, aligned for T (checked; the base is page
        // aligned), valid while `self` lives, and never referenced.
        Ok(unsafe { VolatilePtr::new(NonNull::new_unchecked(p.cast::<T>())) })
    }

    pub fn read<T: RegValue>(&self, offset: usize) -> Result<T, VfioError> {
        Ok(self.ptr::<T>(offset)?.read())
    }

    pub fn write<T: RegValue>(&self, offset: usize, value: T) -> Result<(), VfioError> {
        self.ptr::<T>(offset)?.write(value);
        Ok(())
    }

    /// Copy `data` into the buffer at `offset` (byte-wise volatile stores).
    pub fn write_bytes(&self, offset: usize, data: &[u8]) -> Result<(), VfioError> {
        self.check_span(offset, data.len())?;
        for (i, b) in data.iter().enumerate() {
            self.write::<u8>(offset + i, *b)?;
        }
        Ok(())
    }

    /// Copy `out.len()` bytes from `offset` (byte-wise volatile loads).
    pub fn read_bytes(&self, offset: usize, out: &mut [u8]) -> Result<(), VfioError> {
        self.check_span(offset, out.len())?;
        for (i, b) in out.iter_mut().enumerate() {
            *b = self.read::<u8>(offset + i)?;
        }
        Ok(())
    }

    fn check_span(&self, offset: usize, len: usize) -> Result<(), VfioError> {
        if offset.checked_add(len).is_none_or(|end| end > self.len) {
            return Err(VfioError::Register {
                addr: self.device.addr,
                source: super::error::RegisterError::OutOfRange {
                    region: self.name.clone(),
                    offset: offset as u64,
                    width: len as u32,
                    size: self.len as u64,
                },
            });
        }
        Ok(())
    }
}

impl Drop for DmaBuffer {
    fn drop(&mut self) {
        // The IOMMU mapping must go before the memory does, or the device
        // could write into pages the kernel hands to someone else.
        if let Err(e) = self.unmap() {
            tracing::error!(buffer = %self.name, err = %e, "leaking DMA memory: IOMMU unmap failed");
            return;
        }
        // SAFETY: our own mapping of `len` bytes, no longer reachable by the
        // device (unmapped above) and freed exactly once, here.
        if unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) } != 0 {
            tracing::error!(buffer = %self.name, err = %std::io::Error::last_os_error(), "munmap of DMA memory failed");
        }
    }
}

impl std::fmt::Debug for DmaBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DmaBuffer({}, {:#x} bytes, mapped: {})", self.name, self.len, self.mapped)
    }
}
