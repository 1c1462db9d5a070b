//! Typed volatile access to a mapped BAR: 8/16/32/64-bit registers at byte
//! offsets, each access bounds- and alignment-checked, each one a single
//! `volatile` load or store (never merged, split or elided by the compiler).
use std::ptr::NonNull;
use std::sync::Arc;

use volatile::VolatilePtr;

use super::device::DeviceInner;
use super::error::RegisterError;

mod sealed {
    pub trait Sealed {}
    impl Sealed for u8 {}
    impl Sealed for u16 {}
    impl Sealed for u32 {}
    impl Sealed for u64 {}
}

/// A register width: u8, u16, u32 or u64.
pub trait RegValue: sealed::Sealed + Copy + Default + std::fmt::LowerHex {
    const WIDTH: u32;
}
impl RegValue for u8 {
    const WIDTH: u32 = 1;
}
impl RegValue for u16 {
    const WIDTH: u32 = 2;
}
impl RegValue for u32 {
    const WIDTH: u32 = 4;
}
impl RegValue for u64 {
    const WIDTH: u32 = 8;
}

/// Check that a `width`-byte access at `offset` is naturally aligned and
/// lies inside `size` bytes (shared by BAR mappings and DMA buffers).
pub(crate) fn check_access(region: &str, offset: u64, width: u32, size: u64) -> Result<(), RegisterError> {
    // Widths are powers of two.
    if offset & (width as u64 - 1) != 0 {
        return Err(RegisterError::Unaligned { region: region.to_string(), offset, width });
    }
    if offset.checked_add(width as u64).is_none_or(|end| end > size) {
        return Err(RegisterError::OutOfRange { region: region.to_string(), offset, width, size });
    }
    Ok(())
}

/// One BAR of an open device, mapped from the device fd. Keeps the device
/// open while it lives; unmapped on drop.
pub struct BarMapping {
    base: NonNull<u8>,
    len: u64,
    index: u32,
    name: String,
    /// Keeps the device fd (and so this mapping's backing) open.
    _device: Arc<DeviceInner>,
}

// SAFETY: the mapping is device memory reached only through single volatile
// loads/stores by raw pointer (no Rust references into it), which have no
// thread affinity; `device` (Send + Sync) keeps the fd and mapping alive.
unsafe impl Send for BarMapping {}
// SAFETY: as for Send — `&self` methods perform independent volatile accesses.
unsafe impl Sync for BarMapping {}

impl BarMapping {
    /// # Safety
    /// `base` must be a live `mmap` of `len` bytes of BAR `index` of
    /// `device`, page aligned, owned by the returned value (it is unmapped
    /// on drop) and never referenced as Rust memory.
    pub(crate) unsafe fn new(base: NonNull<u8>, len: u64, index: u32, device: Arc<DeviceInner>) -> BarMapping {
        let name = format!("vfio {} BAR{index}", device.addr);
        BarMapping { base, len, index, name, _device: device }
    }

    /// BAR number (0-5).
    pub fn index(&self) -> u32 {
        self.index
    }

    /// Mapped length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// "vfio 0000:03:00.0 BAR0", for errors and logs.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn ptr<T: RegValue>(&self, offset: u64) -> Result<VolatilePtr<'_, T>, RegisterError> {
        check_access(&self.name, offset, T::WIDTH, self.len)?;
        // SAFETY: offset + width <= len (checked above), so the pointer stays
        // inside the mapping `new`'s contract makes valid.
        let p = unsafe { self.base.as_ptr().add(offset as usize) };
        // SAFETY: `p` is non-null, naturally aligned for T (checked above, and
        // the mapping is page aligned), inside the live mapping for the
        // lifetime of `&self`, and nothing creates references to this memory.
        Ok(unsafe { VolatilePtr::new(NonNull::new_unchecked(p.cast::<T>())) })
    }

    /// Read the `T`-sized register at byte `offset`.
    pub fn read<T: RegValue>(&self, offset: u64) -> Result<T, RegisterError> {
        Ok(self.ptr::<T>(offset)?.read())
    }

    /// Write the `T`-sized register at byte `offset`.
    pub fn write<T: RegValue>(&self, offset: u64, value: T) -> Result<(), RegisterError> {
        self.ptr::<T>(offset)?.write(value);
        Ok(())
    }

    pub fn read32(&self, offset: u64) -> Result<u32, RegisterError> {
        self.read(offset)
    }

    pub fn write32(&self, offset: u64, value: u32) -> Result<(), RegisterError> {
        self.write(offset, value)
    }

    pub fn read64(&self, offset: u64) -> Result<u64, RegisterError> {
        self.read(offset)
    }

    pub fn write64(&self, offset: u64, value: u64) -> Result<(), RegisterError> {
        self.write(offset, value)
    }
}

impl Drop for BarMapping {
    fn drop(&mut self) {
        // SAFETY: `base`/`len` are the mapping made for this value (see
        // `new`), unmapped exactly once, here; no access can follow.
        let rc = unsafe { libc::munmap(self.base.as_ptr().cast(), self.len as usize) };
        if rc != 0 {
            tracing::error!(bar = %self.name, err = %std::io::Error::last_os_error(), "munmap of BAR failed");
        }
    }
}

impl std::fmt::Debug for BarMapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BarMapping({}, {:#x} bytes)", self.name, self.len)
    }
}
