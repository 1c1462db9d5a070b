//! Register access to the card's BAR0: the one trait every backend implements.
//!
//! The typed layer ([`crate::CardHandle`]) only ever talks to a [`Bar`], so the
//! same code paths run over the simulated card ([`crate::SimBar`]), over plain
//! memory ([`MemBar`], for tests) and over a VFIO mapping of a real card.
//!
//! The trait is shaped for a volatile MMIO mapping: every access is an aligned
//! 32-bit word at a byte offset, `&self` (MMIO needs no exclusive borrow; a
//! mapping is shared between the service loop and the control socket), and
//! fallible, because a simulated bus can time out and a mapped BAR can be
//! shorter than the offset asked for.
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use holdback_regmap as regmap;

/// Why one register access failed. Every variant names the BAR (its
/// [`Bar::describe`]) and the byte offset, so a log line is enough to act on.
#[derive(Debug, thiserror::Error)]
pub enum BarError {
    #[error("{bar}: offset {offset:#07x} is not 32-bit aligned")]
    Unaligned { bar: String, offset: u32 },
    #[error("{bar}: offset {offset:#07x} (+{len} bytes) is outside the {size:#x}-byte BAR")]
    OutOfRange { bar: String, offset: u32, len: u32, size: u32 },
    #[error("{bar}: register bus access at {offset:#07x} failed")]
    Backend {
        bar: String,
        offset: u32,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// A card's register BAR: aligned 32-bit accesses at byte offsets.
///
/// Object-safe (`Box<dyn Bar>` lets the daemon pick the backend at run time)
/// and `Send + Sync` (one mapping shared by every task of the daemon).
pub trait Bar: Send + Sync {
    /// Read the 32-bit register at byte `offset`.
    fn read32(&self, offset: u32) -> Result<u32, BarError>;
    /// Write the 32-bit register at byte `offset`.
    fn write32(&self, offset: u32, value: u32) -> Result<(), BarError>;
    /// Read `out.len()` consecutive words starting at `offset` (offset,
    /// offset+4, …). Backends override this when they can batch (the sim does
    /// the whole block in one round trip to the clock thread).
    fn read_block(&self, offset: u32, out: &mut [u32]) -> Result<(), BarError> {
        for (i, word) in out.iter_mut().enumerate() {
            *word = self.read32(offset + 4 * i as u32)?;
        }
        Ok(())
    }
    /// Write `values` to consecutive words starting at `offset`.
    fn write_block(&self, offset: u32, values: &[u32]) -> Result<(), BarError> {
        for (i, value) in values.iter().enumerate() {
            self.write32(offset + 4 * i as u32, *value)?;
        }
        Ok(())
    }
    /// Human description for errors and logs ("sim card", "vfio 0000:03:00.0 BAR0").
    fn describe(&self) -> String;
}

impl<B: Bar + ?Sized> Bar for &B {
    fn read32(&self, offset: u32) -> Result<u32, BarError> {
        (**self).read32(offset)
    }
    fn write32(&self, offset: u32, value: u32) -> Result<(), BarError> {
        (**self).write32(offset, value)
    }
    fn read_block(&self, offset: u32, out: &mut [u32]) -> Result<(), BarError> {
        (**self).read_block(offset, out)
    }
    fn write_block(&self, offset: u32, values: &[u32]) -> Result<(), BarError> {
        (**self).write_block(offset, values)
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
}

macro_rules! forward_bar {
    ($ty:ident) => {
        impl<B: Bar + ?Sized> Bar for $ty<B> {
            fn read32(&self, offset: u32) -> Result<u32, BarError> {
                (**self).read32(offset)
            }
            fn write32(&self, offset: u32, value: u32) -> Result<(), BarError> {
                (**self).write32(offset, value)
            }
            fn read_block(&self, offset: u32, out: &mut [u32]) -> Result<(), BarError> {
                (**self).read_block(offset, out)
            }
            fn write_block(&self, offset: u32, values: &[u32]) -> Result<(), BarError> {
                (**self).write_block(offset, values)
            }
            fn describe(&self) -> String {
                (**self).describe()
            }
        }
    };
}
forward_bar!(Box);
forward_bar!(Arc);

/// Size of the whole BAR0 address space (1 MiB).
pub const BAR_SIZE: u32 = 1 << regmap::ADDR_BITS;

/// A memory-backed BAR: every offset is a plain word of memory.
///
/// It stands in for the card in tests of the typed layer; it has no engine, so
/// writes have no side effects beyond being stored.
pub struct MemBar {
    words: Vec<AtomicU32>,
    name: String,
}

impl MemBar {
    /// A zeroed region of `size` bytes (rounded up to whole words).
    pub fn new(size: u32) -> MemBar {
        let words = (size as usize).div_ceil(4);
        MemBar {
            words: (0..words).map(|_| AtomicU32::new(0)).collect(),
            name: format!("memory BAR ({size:#x} bytes)"),
        }
    }

    /// A full-size BAR whose ID block describes a card with `params`, as the
    /// RTL reports it (magic, version, N, largest ring, TCB words, an event
    /// ring of N records; build id 0).
    pub fn with_id_block(params: &regmap::CoreParams) -> MemBar {
        let bar = MemBar::new(BAR_SIZE);
        bar.poke(regmap::ID_MAGIC.offset, regmap::MAGIC);
        bar.poke(regmap::ID_VERSION.offset, regmap::VERSION);
        bar.poke(regmap::ID_CONNS.offset, params.conns() as u32);
        bar.poke(regmap::ID_RING_BYTES.offset, 1 << regmap::RX_RING_LOG2_MAX);
        bar.poke(regmap::ID_TCB_WORDS.offset, regmap::TCB_WORDS as u32);
        bar.poke(regmap::ID_EQ_ENTRIES.offset, params.conns() as u32);
        bar
    }

    /// Store a word directly (test set-up); panics on a bad offset because
    /// that is a bug in the test, not a runtime condition.
    pub fn poke(&self, offset: u32, value: u32) {
        self.write32(offset, value)
            .unwrap_or_else(|e| panic!("MemBar::poke: {e}"));
    }

    /// Read a word directly, bypassing pop FIFOs (test inspection).
    pub fn peek(&self, offset: u32) -> u32 {
        match self.index(offset, 4) {
            Ok(i) => self.words[i].load(Ordering::SeqCst),
            Err(e) => panic!("MemBar::peek: {e}"),
        }
    }

    /// Size in bytes.
    pub fn size(&self) -> u32 {
        (self.words.len() * 4) as u32
    }

    fn index(&self, offset: u32, len: u32) -> Result<usize, BarError> {
        if offset & 3 != 0 {
            return Err(BarError::Unaligned { bar: self.describe(), offset });
        }
        let end = offset as u64 + len as u64;
        if end > self.size() as u64 {
            return Err(BarError::OutOfRange { bar: self.describe(), offset, len, size: self.size() });
        }
        Ok(offset as usize / 4)
    }
}

impl Bar for MemBar {
    fn read32(&self, offset: u32) -> Result<u32, BarError> {
        let i = self.index(offset, 4)?;
        Ok(self.words[i].load(Ordering::SeqCst))
    }

    fn write32(&self, offset: u32, value: u32) -> Result<(), BarError> {
        let i = self.index(offset, 4)?;
        self.words[i].store(value, Ordering::SeqCst);
        Ok(())
    }

    fn describe(&self) -> String {
        self.name.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_bar_refuses_unaligned_and_out_of_range() {
        let bar = MemBar::new(64);
        assert!(matches!(bar.read32(2), Err(BarError::Unaligned { offset: 2, .. })));
        assert!(matches!(bar.write32(64, 1), Err(BarError::OutOfRange { offset: 64, .. })));
        let mut out = [0u32; 2];
        assert!(matches!(bar.read_block(60, &mut out), Err(BarError::OutOfRange { offset: 64, .. })));
        let msg = bar.read32(2).unwrap_err().to_string();
        assert!(msg.contains("memory BAR") && msg.contains("0x00002"), "{msg}");
    }

    #[test]
    fn dyn_bar_forwards() {
        let bar: Box<dyn Bar> = Box::new(MemBar::new(16));
        bar.write_block(0, &[1, 2, 3, 4]).unwrap();
        let mut out = [0u32; 4];
        Arc::new(bar).read_block(0, &mut out).unwrap();
        assert_eq!(out, [1, 2, 3, 4]);
    }
}
