//! A [`Bar`] over a memory-mapped register region: every access one
//! bounds-checked volatile 32-bit load or store. The VFIO backend maps BAR0
//! from the device fd and hands the mapping to [`MmioBar::new`]; everything
//! above it (the typed layer) is the code the sim and memory backends run.
#![allow(unsafe_code)]

use std::ptr::NonNull;

use crate::bar::{Bar, BarError};

/// Keeps a mapping alive (and unmaps it when dropped): the VFIO backend's
/// region, or in tests a plain buffer.
pub trait MmioOwner: Send + Sync {}
impl<T: Send + Sync> MmioOwner for T {}

/// Volatile MMIO access to `len` bytes at `base`.
pub struct MmioBar {
    base: NonNull<u32>,
    len: u32,
    name: String,
    /// Dropped after every access is impossible (we are being dropped), so
    /// the mapping outlives all uses of `base`.
    _owner: Box<dyn MmioOwner>,
}

// SAFETY: MmioBar only performs volatile loads/stores of u32 through `base`,
// which is valid for the lifetime of `_owner` (a Send + Sync owner); device
// registers have no thread affinity and every access is a single aligned
// 32-bit operation, so sharing and sending across threads is sound.
unsafe impl Send for MmioBar {}
// SAFETY: see `Send` above; `&self` accesses are individual volatile
// operations with no Rust-visible aliasing of `&mut` data.
unsafe impl Sync for MmioBar {}

impl MmioBar {
    /// # Safety
    /// `base` must be valid for volatile reads and writes of `len` bytes,
    /// 4-byte aligned, for as long as `owner` lives, and no Rust reference
    /// may alias that memory while this `MmioBar` exists.
    pub unsafe fn new(base: NonNull<u8>, len: u32, name: impl Into<String>, owner: Box<dyn MmioOwner>) -> MmioBar {
        MmioBar { base: base.cast(), len, name: name.into(), _owner: owner }
    }

    pub fn len(&self) -> u32 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn word(&self, offset: u32) -> Result<*mut u32, BarError> {
        if offset & 3 != 0 {
            return Err(BarError::Unaligned { bar: self.name.clone(), offset });
        }
        if offset as u64 + 4 > self.len as u64 {
            return Err(BarError::OutOfRange { bar: self.name.clone(), offset, len: 4, size: self.len });
        }
        // SAFETY: offset + 4 <= len, so the word lies inside the mapping
        // `new`'s contract makes valid; `add` stays in bounds.
        Ok(unsafe { self.base.as_ptr().add(offset as usize / 4) })
    }
}

impl Bar for MmioBar {
    fn read32(&self, offset: u32) -> Result<u32, BarError> {
        let p = self.word(offset)?;
        // SAFETY: `p` is an aligned in-bounds word of the live mapping
        // (checked by `word`); volatile because it is a device register.
        Ok(unsafe { p.read_volatile() })
    }

    fn write32(&self, offset: u32, value: u32) -> Result<(), BarError> {
        let p = self.word(offset)?;
        // SAFETY: as in `read32`.
        unsafe { p.write_volatile(value) };
        Ok(())
    }

    fn describe(&self) -> String {
        self.name.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CardHandle, OpenError};
    use holdback_regmap as regmap;
    use std::cell::UnsafeCell;

    /// Heap words standing in for a device mapping.
    struct Region(Box<[UnsafeCell<u32>]>);
    // SAFETY: only accessed through MmioBar's volatile word accesses.
    unsafe impl Sync for Region {}

    fn region_bar(words: usize) -> MmioBar {
        let region = Region((0..words).map(|_| UnsafeCell::new(0)).collect());
        let base = NonNull::new(region.0.as_ptr() as *mut u8).expect("non-null");
        // SAFETY: the boxed slice is 4-byte aligned, `words * 4` bytes long,
        // never moved (the Box is) and only touched through the MmioBar.
        unsafe { MmioBar::new(base, (words * 4) as u32, "test mapping", Box::new(region)) }
    }

    #[test]
    fn volatile_accesses_are_bounds_checked() {
        let bar = region_bar(4);
        bar.write32(12, 0xABCD).unwrap();
        assert_eq!(bar.read32(12).unwrap(), 0xABCD);
        assert!(matches!(bar.read32(16), Err(BarError::OutOfRange { .. })));
        assert!(matches!(bar.write32(6, 0), Err(BarError::Unaligned { .. })));
        let mut out = [0u32; 2];
        bar.read_block(8, &mut out).unwrap();
        assert_eq!(out, [0, 0xABCD]);
    }

    #[test]
    fn typed_layer_runs_over_a_mapping() {
        let bar = region_bar(regmap::RING_BASE as usize / 4);
        assert!(matches!(CardHandle::open(&bar), Err(OpenError::BadMagic { found: 0, .. })));
        let p = regmap::CoreParams::DEFAULT;
        for (reg, v) in [
            (regmap::ID_MAGIC, regmap::MAGIC),
            (regmap::ID_VERSION, regmap::VERSION),
            (regmap::ID_CONNS, p.conns() as u32),
            (regmap::ID_RING_BYTES, p.ring_bytes() as u32),
            (regmap::ID_TCB_WORDS, regmap::TCB_WORDS as u32),
        ] {
            bar.write32(reg.offset, v).unwrap();
        }
        // The ring window lies beyond this short mapping: open must accept
        // the ID block, and ring reads must fail with a bounds error.
        let card = CardHandle::open(&bar).unwrap();
        card.release(3, 77u32).unwrap();
        assert_eq!(bar.read32(regmap::release_addr(3)).unwrap(), 77);
        let mut buf = [0u8; 4];
        assert!(card.read_ring(0, 0, &mut buf).is_err());
    }
}
