//! The simulated host's DMA memory: a window of bytes at a base IOVA that the
//! card's AXI writes land in (the simulator serves the core's `m_axi_*`
//! port against it) and the host reads, as the driver reads the DMA buffers
//! it mapped through the IOMMU on a real card.
//!
//! [`HostMemory`] is a cloneable handle: the card's clock thread writes while
//! the host reads from another thread. Each access takes the lock once, and
//! the core writes a record's phase byte in its last beat, after the record's
//! other bytes, so a reader that sees the new phase sees the whole record.
use std::sync::{Arc, Mutex, MutexGuard};

use holdback_regmap::event_queue::{EventQueueError, RecordMemory};

/// Host memory the simulator gives a core unless told otherwise: the base
/// IOVA (above 4 GiB, so the card's 64-bit addresses are exercised) and room
/// for 1024 receive rings of 64 KiB plus an event ring of up to 8192 records.
/// Untouched pages cost nothing (the buffer is allocated zeroed, lazily).
pub const DEFAULT_HOST_MEM_IOVA: u64 = 0x1_0000_0000;
pub const DEFAULT_HOST_MEM_BYTES: usize = (1024 << 16) + (8192 * 128);

/// Where the host puts the card's DMA targets in its memory: every
/// connection's receive ring back to back from the window's base (ring `id`
/// at `rx_ring_base + (id << ring_log2)`, as RX_RING_BASE and RX_RING_LOG2
/// say), then the event ring on the next page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DmaLayout {
    pub rx_ring_base: u64,
    pub ring_log2: u32,
    pub eq_base: u64,
    pub eq_entries: usize,
}

impl DmaLayout {
    /// The layout for `conns` rings of `1 << ring_log2` bytes and an event
    /// ring of `eq_entries` records in `mem`; refused when it does not fit.
    pub fn new(mem: &HostMemory, conns: usize, ring_log2: u32, eq_entries: usize) -> Result<DmaLayout, HostMemError> {
        let page = holdback_regmap::HOST_RING_ALIGN;
        let rx_ring_base = mem.base_iova().next_multiple_of(page);
        let rings = (conns as u64) << ring_log2;
        let eq_base = (rx_ring_base + rings).next_multiple_of(page);
        let layout = DmaLayout { rx_ring_base, ring_log2, eq_base, eq_entries };
        mem.offset(eq_base, layout.eq_bytes())?;
        Ok(layout)
    }

    pub fn ring_bytes(&self) -> usize {
        1 << self.ring_log2
    }

    /// Host address of connection `id`'s receive ring.
    pub fn ring_iova(&self, id: usize) -> u64 {
        self.rx_ring_base + ((id as u64) << self.ring_log2)
    }

    /// Host address of stream offset `offset` of connection `id`.
    pub fn stream_iova(&self, id: usize, offset: u64) -> u64 {
        self.ring_iova(id) + (offset & (self.ring_bytes() as u64 - 1))
    }

    pub fn eq_bytes(&self) -> usize {
        self.eq_entries * holdback_regmap::event_queue::EVENT_RECORD_BYTES
    }
}

/// Why a host-memory access was refused.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum HostMemError {
    #[error("host memory access of {len} bytes at IOVA {iova:#x} is outside the window {base:#x}..{end:#x}")]
    OutOfWindow { iova: u64, len: usize, base: u64, end: u64 },
}

/// A shared handle to the simulated host's DMA memory (clones share the bytes).
#[derive(Clone)]
pub struct HostMemory {
    base_iova: u64,
    bytes: Arc<Mutex<Vec<u8>>>,
    len: usize,
}

impl HostMemory {
    /// `bytes` zeroed bytes at `base_iova`.
    pub fn new(base_iova: u64, bytes: usize) -> HostMemory {
        HostMemory { base_iova, bytes: Arc::new(Mutex::new(vec![0u8; bytes])), len: bytes }
    }

    pub fn base_iova(&self) -> u64 {
        self.base_iova
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `len` bytes at `iova` lie inside the window.
    pub fn contains(&self, iova: u64, len: usize) -> bool {
        self.offset(iova, len).is_ok()
    }

    /// Copies `out.len()` bytes at `iova` into `out`.
    pub fn read(&self, iova: u64, out: &mut [u8]) -> Result<(), HostMemError> {
        let at = self.offset(iova, out.len())?;
        out.copy_from_slice(&self.lock()[at..at + out.len()]);
        Ok(())
    }

    /// Writes `data` at `iova`.
    pub fn write(&self, iova: u64, data: &[u8]) -> Result<(), HostMemError> {
        let at = self.offset(iova, data.len())?;
        self.lock()[at..at + data.len()].copy_from_slice(data);
        Ok(())
    }

    /// Writes the bytes of `data` whose bit is set in `strobes` (bit `i` for
    /// `data[i]`) at `iova`: one AXI write beat. The whole 8-byte row must be
    /// inside the window, as an AXI slave answers for a whole beat.
    pub fn write_strobed(&self, iova: u64, data: [u8; 8], strobes: u8) -> Result<(), HostMemError> {
        let at = self.offset(iova, data.len())?;
        let mut mem = self.lock();
        for (i, b) in data.iter().enumerate() {
            if strobes & (1 << i) != 0 {
                mem[at + i] = *b;
            }
        }
        Ok(())
    }

    /// Sets `len` bytes at `iova` to zero (the host zeroing a ring).
    pub fn zero(&self, iova: u64, len: usize) -> Result<(), HostMemError> {
        let at = self.offset(iova, len)?;
        self.lock()[at..at + len].fill(0);
        Ok(())
    }

    /// A view of `len` bytes at `iova` as the event-queue consumer reads a
    /// ring: offsets from `iova`.
    pub fn region(&self, iova: u64, len: usize) -> Result<HostRegion, HostMemError> {
        self.offset(iova, len)?;
        Ok(HostRegion { mem: self.clone(), iova, len })
    }

    fn offset(&self, iova: u64, len: usize) -> Result<usize, HostMemError> {
        let end = self.base_iova + self.len as u64;
        let refused = HostMemError::OutOfWindow { iova, len, base: self.base_iova, end };
        let at = iova.checked_sub(self.base_iova).ok_or(refused.clone())?;
        match at.checked_add(len as u64) {
            Some(last) if last <= self.len as u64 => Ok(at as usize),
            _ => Err(refused),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<u8>> {
        // A panic while holding the lock leaves plain bytes behind, still valid memory.
        self.bytes.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl std::fmt::Debug for HostMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostMemory").field("base_iova", &format_args!("{:#x}", self.base_iova)).field("len", &self.len).finish()
    }
}

/// Part of the host memory seen from its start, e.g. the event ring for
/// [`holdback_regmap::event_queue::EventQueueConsumer::poll`].
#[derive(Clone, Debug)]
pub struct HostRegion {
    mem: HostMemory,
    iova: u64,
    len: usize,
}

impl HostRegion {
    pub fn iova(&self) -> u64 {
        self.iova
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl RecordMemory for HostRegion {
    fn read_at(&self, offset: usize, out: &mut [u8]) -> Result<(), EventQueueError> {
        let inside = offset.checked_add(out.len()).is_some_and(|end| end <= self.len);
        if !inside {
            return Err(EventQueueError::OutOfRange { offset, len: out.len(), size: self.len });
        }
        self.mem.read(self.iova + offset as u64, out).map_err(|e| EventQueueError::Memory(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_was_written_and_refuses_outside_the_window() {
        let m = HostMemory::new(0x1000, 64);
        let other = m.clone();
        m.write(0x1008, &[1, 2, 3]).unwrap();
        let mut out = [0u8; 4];
        other.read(0x1007, &mut out).unwrap();
        assert_eq!(out, [0, 1, 2, 3], "clones share the bytes");
        assert!(m.write(0x0fff, &[0]).is_err());
        assert!(m.write(0x1040, &[0]).is_err());
        assert!(m.read(0x103d, &mut out).is_err());
        m.read(0x103c, &mut out).unwrap();
        assert_eq!(m.write(u64::MAX, &[0, 0]), Err(HostMemError::OutOfWindow { iova: u64::MAX, len: 2, base: 0x1000, end: 0x1040 }));
    }

    #[test]
    fn strobes_select_the_bytes_of_a_beat() {
        let m = HostMemory::new(0, 16);
        m.write(8, &[0xAA; 8]).unwrap();
        m.write_strobed(8, [1, 2, 3, 4, 5, 6, 7, 8], 0b0011_1100).unwrap();
        let mut out = [0u8; 8];
        m.read(8, &mut out).unwrap();
        assert_eq!(out, [0xAA, 0xAA, 3, 4, 5, 6, 0xAA, 0xAA]);
        assert!(m.write_strobed(12, [0; 8], 1).is_err(), "a beat reaching past the window is refused whole");
    }

    #[test]
    fn a_region_reads_from_its_start_and_stays_inside() {
        let m = HostMemory::new(0x2000, 256);
        m.write(0x2080, &[9, 8, 7]).unwrap();
        let r = m.region(0x2080, 128).unwrap();
        let mut out = [0u8; 3];
        r.read_at(0, &mut out).unwrap();
        assert_eq!(out, [9, 8, 7]);
        assert!(r.read_at(126, &mut out).is_err());
        assert!(m.region(0x2080, 129).is_err());
    }
}
