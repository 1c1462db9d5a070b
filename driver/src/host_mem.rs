//! Host memory the card writes by DMA (docs/dma.md, "The host side"): the
//! receive rings of every connection and the event ring, in one region the
//! card reaches at an IOVA.
//!
//! [`DmaMemory`] is one such region, whatever backs it: the simulated card's
//! shared [`holdback_sim::host_mem::HostMemory`] (feature `sim`), a VFIO
//! [`crate::vfio::DmaBuffer`] mapped through the IOMMU (feature `vfio`), or a
//! [`FakeDmaMemory`] in unit tests. A [`DmaAllocator`] hands one out;
//! [`HostRings::allocate`] is the card layer's allocation of the rings in it,
//! used by [`crate::CardHandle::attach_host_memory`] and by the QEMU guest
//! test alike.
use std::sync::{Arc, Mutex};

use holdback_regmap::event_queue::{EventQueueError, EventRing, RecordMemory, EVENT_RECORD_BYTES};

/// Alignment the card requires of the receive rings' and the event ring's
/// base addresses (and a DMA burst never crosses it).
pub const DMA_PAGE: u64 = 4096;
/// Smallest and largest receive ring the card takes (`RX_RING_LOG2`).
pub const MIN_RX_RING_BYTES: u32 = 1 << holdback_regmap::RX_RING_LOG2_MIN;
pub const MAX_RX_RING_BYTES: u32 = 1 << holdback_regmap::RX_RING_LOG2_MAX;
/// The ring size a card gets unless configured otherwise (RX_RING_LOG2's
/// reset value): the whole 65535-byte window of a peer that does not scale
/// windows; larger rings need the peer's Window Scale option to be used.
pub const DEFAULT_RX_RING_BYTES: u32 = 1 << holdback_regmap::RX_RING_LOG2_DEFAULT;

/// Why a DMA memory access or allocation failed.
#[derive(Debug, thiserror::Error)]
pub enum DmaMemError {
    #[error("{mem}: {len} bytes at offset {offset:#x} are outside its {size:#x} bytes")]
    OutOfRange { mem: String, offset: usize, len: usize, size: usize },
    #[error("{mem}: IOVA {iova:#x} is not {DMA_PAGE}-byte aligned, as the card's base registers require")]
    Unaligned { mem: String, iova: u64 },
    #[error("{mem} holds {have:#x} bytes, the rings need {need:#x}")]
    TooSmall { mem: String, have: usize, need: usize },
    #[error("receive rings of {0} bytes: the card takes a power of two in {MIN_RX_RING_BYTES}..={MAX_RX_RING_BYTES}")]
    RingSize(u32),
    #[error("{mem}")]
    Backend {
        mem: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// One region of host memory the card can write, at a fixed IOVA. The card
/// may write it at any time, so every access copies (no references out).
pub trait DmaMemory: Send + Sync {
    /// The card-side address of byte 0.
    fn iova(&self) -> u64;
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Copies `out.len()` bytes from byte `offset`.
    fn read(&self, offset: usize, out: &mut [u8]) -> Result<(), DmaMemError>;
    /// Copies `data` to byte `offset` (zeroing a ring before the card uses it).
    fn write(&self, offset: usize, data: &[u8]) -> Result<(), DmaMemError>;
    /// For errors and logs.
    fn describe(&self) -> String;
}

/// Hands out DMA memory of at least `bytes` bytes, page aligned.
pub trait DmaAllocator {
    fn alloc(&self, bytes: usize) -> Result<Arc<dyn DmaMemory>, DmaMemError>;
}

fn check_span(mem: &dyn DmaMemory, offset: usize, len: usize) -> Result<(), DmaMemError> {
    if offset.checked_add(len).is_none_or(|end| end > mem.len()) {
        return Err(DmaMemError::OutOfRange { mem: mem.describe(), offset, len, size: mem.len() });
    }
    Ok(())
}

/// Plain memory standing in for DMA memory in tests: the test writes what
/// the card would (payload, event records) and the host code reads it.
pub struct FakeDmaMemory {
    iova: u64,
    bytes: Mutex<Vec<u8>>,
}

impl FakeDmaMemory {
    pub fn new(iova: u64, len: usize) -> Arc<FakeDmaMemory> {
        Arc::new(FakeDmaMemory { iova, bytes: Mutex::new(vec![0; len]) })
    }

    fn bytes(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        // Plain bytes: a panic elsewhere leaves nothing half-updated that matters.
        self.bytes.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl DmaMemory for FakeDmaMemory {
    fn iova(&self) -> u64 {
        self.iova
    }
    fn len(&self) -> usize {
        self.bytes().len()
    }
    fn read(&self, offset: usize, out: &mut [u8]) -> Result<(), DmaMemError> {
        check_span(self, offset, out.len())?;
        out.copy_from_slice(&self.bytes()[offset..offset + out.len()]);
        Ok(())
    }
    fn write(&self, offset: usize, data: &[u8]) -> Result<(), DmaMemError> {
        check_span(self, offset, data.len())?;
        self.bytes()[offset..offset + data.len()].copy_from_slice(data);
        Ok(())
    }
    fn describe(&self) -> String {
        format!("test memory at IOVA {:#x}", self.iova)
    }
}

/// The fake is one fixed region: an allocation gets the whole of it, so the
/// test keeps writing where the card layer reads.
impl DmaAllocator for Arc<FakeDmaMemory> {
    fn alloc(&self, bytes: usize) -> Result<Arc<dyn DmaMemory>, DmaMemError> {
        if self.len() < bytes {
            return Err(DmaMemError::TooSmall { mem: self.describe(), have: self.len(), need: bytes });
        }
        Ok(self.clone())
    }
}

#[cfg(feature = "sim")]
mod sim_backend {
    use super::*;
    use holdback_sim::host_mem::HostMemory;

    fn iova_of(mem: &HostMemory, offset: usize) -> u64 {
        mem.base_iova() + offset as u64
    }

    /// The simulated host's DMA memory, shared with the card's clock thread
    /// (its AXI writes land here).
    impl DmaMemory for HostMemory {
        fn iova(&self) -> u64 {
            self.base_iova()
        }
        fn len(&self) -> usize {
            HostMemory::len(self)
        }
        fn read(&self, offset: usize, out: &mut [u8]) -> Result<(), DmaMemError> {
            check_span(self, offset, out.len())?;
            HostMemory::read(self, iova_of(self, offset), out)
                .map_err(|e| DmaMemError::Backend { mem: DmaMemory::describe(self), source: Box::new(e) })
        }
        fn write(&self, offset: usize, data: &[u8]) -> Result<(), DmaMemError> {
            check_span(self, offset, data.len())?;
            HostMemory::write(self, iova_of(self, offset), data)
                .map_err(|e| DmaMemError::Backend { mem: DmaMemory::describe(self), source: Box::new(e) })
        }
        fn describe(&self) -> String {
            format!("simulated host memory at IOVA {:#x}", self.base_iova())
        }
    }

    /// The simulated card serves one window of host memory: the rings take
    /// it from its start.
    impl DmaAllocator for HostMemory {
        fn alloc(&self, bytes: usize) -> Result<Arc<dyn DmaMemory>, DmaMemError> {
            if HostMemory::len(self) < bytes {
                return Err(DmaMemError::TooSmall { mem: DmaMemory::describe(self), have: HostMemory::len(self), need: bytes });
            }
            Ok(Arc::new(self.clone()))
        }
    }
}

#[cfg(feature = "vfio")]
mod vfio_backend {
    use super::*;
    use crate::vfio::{DmaBuffer, VfioPciDevice};

    impl DmaMemory for DmaBuffer {
        fn iova(&self) -> u64 {
            DmaBuffer::iova(self)
        }
        fn len(&self) -> usize {
            DmaBuffer::len(self)
        }
        fn read(&self, offset: usize, out: &mut [u8]) -> Result<(), DmaMemError> {
            self.read_bytes(offset, out).map_err(|e| DmaMemError::Backend { mem: format!("{self:?}"), source: Box::new(e) })
        }
        fn write(&self, offset: usize, data: &[u8]) -> Result<(), DmaMemError> {
            self.write_bytes(offset, data).map_err(|e| DmaMemError::Backend { mem: format!("{self:?}"), source: Box::new(e) })
        }
        fn describe(&self) -> String {
            format!("{self:?}")
        }
    }

    /// DMA memory of a VFIO device, mapped through its IOMMU container at
    /// `iova` (inside the card's AXI BAR aperture).
    pub struct VfioDmaAllocator<'a> {
        pub device: &'a VfioPciDevice,
        pub iova: u64,
    }

    impl DmaAllocator for VfioDmaAllocator<'_> {
        fn alloc(&self, bytes: usize) -> Result<Arc<dyn DmaMemory>, DmaMemError> {
            let buf = self
                .device
                .dma_alloc(self.iova, bytes)
                .map_err(|e| DmaMemError::Backend { mem: format!("DMA memory of {} at IOVA {:#x}", self.device.addr(), self.iova), source: Box::new(e) })?;
            Ok(Arc::new(buf))
        }
    }
}
#[cfg(feature = "vfio")]
pub use vfio_backend::VfioDmaAllocator;

/// The geometry of the host-memory rings: `conns` receive rings of
/// `rx_ring_bytes` each from the region's start (connection `id`'s at
/// `id * rx_ring_bytes`, as `RX_RING_BASE` + `id << RX_RING_LOG2` says),
/// then `conns` transmit rings of `tx_ring_bytes` (`TX_RING_BASE` +
/// `id << TX_RING_LOG2`), then the event ring of `eq_entries` records on
/// the next page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingLayout {
    pub conns: u32,
    pub rx_ring_bytes: u32,
    /// The transmit rings are as large as the receive rings (up to
    /// TX_RING_LOG2's 64 KiB): an echo's
    /// window of bytes in flight either way fits the same ring.
    pub tx_ring_bytes: u32,
    pub event_ring: EventRing,
}

impl RingLayout {
    pub fn new(conns: u32, rx_ring_bytes: u32, event_ring: EventRing) -> Result<RingLayout, DmaMemError> {
        if !rx_ring_bytes.is_power_of_two() || !(MIN_RX_RING_BYTES..=MAX_RX_RING_BYTES).contains(&rx_ring_bytes) {
            return Err(DmaMemError::RingSize(rx_ring_bytes));
        }
        // TX_RING_LOG2 stops at 64 KiB (no TX window scaling yet), where a
        // receive ring may grow to 1 MiB.
        let tx_ring_bytes = rx_ring_bytes.min(1 << holdback_regmap::TX_RING_LOG2_MAX);
        Ok(RingLayout { conns, rx_ring_bytes, tx_ring_bytes, event_ring })
    }

    /// `RX_RING_LOG2`.
    pub fn rx_ring_log2(&self) -> u32 {
        self.rx_ring_bytes.trailing_zeros()
    }

    /// `TX_RING_LOG2`.
    pub fn tx_ring_log2(&self) -> u32 {
        self.tx_ring_bytes.trailing_zeros()
    }

    /// Offset of connection 0's transmit ring: right after the receive
    /// rings (whole pages, as every ring is at least one page).
    pub fn tx_ring_offset(&self) -> usize {
        self.conns as usize * self.rx_ring_bytes as usize
    }

    /// Offset of the event ring: right after the transmit rings.
    pub fn event_ring_offset(&self) -> usize {
        self.tx_ring_offset() + self.conns as usize * self.tx_ring_bytes as usize
    }

    /// Bytes of DMA memory the rings take.
    pub fn bytes(&self) -> usize {
        let end = self.event_ring_offset() + self.event_ring.bytes();
        end.div_ceil(DMA_PAGE as usize) * DMA_PAGE as usize
    }
}

/// The rings in DMA memory: what the card's `RX_RING_BASE`, `TX_RING_BASE`
/// and `EQ_BASE` registers point at.
#[derive(Clone)]
pub struct HostRings {
    mem: Arc<dyn DmaMemory>,
    layout: RingLayout,
}

impl HostRings {
    /// Allocates the rings of `layout` from `alloc` and zeroes the event
    /// ring (the phase rule needs a zeroed ring before the writer starts).
    pub fn allocate(alloc: &dyn DmaAllocator, layout: RingLayout) -> Result<HostRings, DmaMemError> {
        let mem = alloc.alloc(layout.bytes())?;
        if mem.iova() % DMA_PAGE != 0 {
            return Err(DmaMemError::Unaligned { mem: mem.describe(), iova: mem.iova() });
        }
        if mem.len() < layout.bytes() {
            return Err(DmaMemError::TooSmall { mem: mem.describe(), have: mem.len(), need: layout.bytes() });
        }
        let rings = HostRings { mem, layout };
        rings.zero_event_ring()?;
        Ok(rings)
    }

    pub fn layout(&self) -> RingLayout {
        self.layout
    }

    pub fn memory(&self) -> &Arc<dyn DmaMemory> {
        &self.mem
    }

    /// IOVA of connection 0's receive ring (`RX_RING_BASE`).
    pub fn rx_ring_iova(&self) -> u64 {
        self.mem.iova()
    }

    /// IOVA of connection 0's transmit ring (`TX_RING_BASE`).
    pub fn tx_ring_iova(&self) -> u64 {
        self.mem.iova() + self.layout.tx_ring_offset() as u64
    }

    /// IOVA of the event ring's slot 0 (`EQ_BASE`).
    pub fn event_ring_iova(&self) -> u64 {
        self.mem.iova() + self.layout.event_ring_offset() as u64
    }

    /// Zeroes the event ring: before (re)enabling the card's writer.
    pub fn zero_event_ring(&self) -> Result<(), DmaMemError> {
        self.mem.write(self.layout.event_ring_offset(), &vec![0u8; self.layout.event_ring.bytes()])
    }

    /// The event ring as the consumer reads it.
    pub fn event_memory(&self) -> EventRingMemory<'_> {
        EventRingMemory { rings: self }
    }

    /// Copies `buf.len()` bytes of connection `id`'s receive stream from
    /// `stream_offset` (0 = the first payload byte): stream offset `o` is at
    /// byte `o mod rx_ring_bytes` of the ring; at most two copies (the wrap).
    /// `buf` must not be longer than the ring.
    pub fn read_ring(&self, id: u16, stream_offset: u64, buf: &mut [u8]) -> Result<(), DmaMemError> {
        let (base, start, first) = self.ring_span(0, self.layout.rx_ring_bytes, id, stream_offset, buf.len())?;
        let (head, tail) = buf.split_at_mut(first);
        self.mem.read(base + start, head)?;
        if !tail.is_empty() {
            self.mem.read(base, tail)?;
        }
        Ok(())
    }

    /// Writes `data` into connection `id`'s ring at `stream_offset` the way
    /// the card does (a test stands in for the card with it).
    pub fn write_ring(&self, id: u16, stream_offset: u64, data: &[u8]) -> Result<(), DmaMemError> {
        let ring = self.layout.rx_ring_bytes as usize;
        let base = id as usize * ring;
        for (i, b) in data.iter().enumerate() {
            self.mem.write(base + ((stream_offset as usize + i) % ring), std::slice::from_ref(b))?;
        }
        Ok(())
    }

    /// Copies `data` into connection `id`'s transmit ring at stream offset
    /// `stream_offset` (0 = the first byte the host sends): offset `o` is
    /// at byte `o mod tx_ring_bytes`; at most two copies (the wrap). The
    /// caller keeps within what the peer acknowledged plus one ring, and
    /// writes the send tail (`TX_TAIL`) after: the card reads below it.
    pub fn write_tx_ring(&self, id: u16, stream_offset: u64, data: &[u8]) -> Result<(), DmaMemError> {
        let (base, start, first) = self.tx_span(id, stream_offset, data.len())?;
        self.mem.write(base + start, &data[..first])?;
        if first < data.len() {
            self.mem.write(base, &data[first..])?;
        }
        Ok(())
    }

    /// Copies `buf.len()` bytes of connection `id`'s transmit ring from
    /// stream offset `stream_offset`, as the card's DMA reads them.
    pub fn read_tx_ring(&self, id: u16, stream_offset: u64, buf: &mut [u8]) -> Result<(), DmaMemError> {
        let (base, start, first) = self.tx_span(id, stream_offset, buf.len())?;
        let (head, tail) = buf.split_at_mut(first);
        self.mem.read(base + start, head)?;
        if !tail.is_empty() {
            self.mem.read(base, tail)?;
        }
        Ok(())
    }

    /// [`Self::ring_span`] for transmit ring `id`.
    fn tx_span(&self, id: u16, stream_offset: u64, len: usize) -> Result<(usize, usize, usize), DmaMemError> {
        self.ring_span(self.layout.tx_ring_offset(), self.layout.tx_ring_bytes, id, stream_offset, len)
    }

    /// Where `len` bytes at `stream_offset` of ring `id` lie, the rings
    /// being `ring_bytes` each from `rings_offset` (receive or transmit):
    /// the ring's offset, the start within it, and the bytes before the wrap.
    fn ring_span(
        &self,
        rings_offset: usize,
        ring_bytes: u32,
        id: u16,
        stream_offset: u64,
        len: usize,
    ) -> Result<(usize, usize, usize), DmaMemError> {
        let ring = ring_bytes as usize;
        let base = rings_offset + id as usize * ring;
        if id as u32 >= self.layout.conns || len > ring {
            return Err(DmaMemError::OutOfRange { mem: self.mem.describe(), offset: base, len, size: ring });
        }
        let start = (stream_offset % ring as u64) as usize;
        Ok((base, start, len.min(ring - start)))
    }

    /// Writes record `k`'s bytes into its slot the way the card's writer
    /// does: everything but the last byte, then the last byte (the phase).
    pub fn write_event(&self, k: u16, bytes: &[u8; EVENT_RECORD_BYTES]) -> Result<(), DmaMemError> {
        let at = self.layout.event_ring_offset() + self.layout.event_ring.offset(k);
        self.mem.write(at, &bytes[..EVENT_RECORD_BYTES - 1])?;
        self.mem.write(at + EVENT_RECORD_BYTES - 1, &bytes[EVENT_RECORD_BYTES - 1..])
    }
}

/// The event ring inside [`HostRings`], for `EventQueueConsumer::poll`.
pub struct EventRingMemory<'a> {
    rings: &'a HostRings,
}

impl RecordMemory for EventRingMemory<'_> {
    fn read_at(&self, offset: usize, out: &mut [u8]) -> Result<(), EventQueueError> {
        let size = self.rings.layout.event_ring.bytes();
        if offset.checked_add(out.len()).is_none_or(|end| end > size) {
            return Err(EventQueueError::OutOfRange { offset, len: out.len(), size });
        }
        self.rings
            .mem
            .read(self.rings.layout.event_ring_offset() + offset, out)
            .map_err(|e| EventQueueError::Memory(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(conns: u32, ring: u32, eq_bits: u32) -> RingLayout {
        RingLayout::new(conns, ring, EventRing::new(eq_bits).unwrap()).unwrap()
    }

    #[test]
    fn layout_puts_the_transmit_rings_after_the_receive_rings_and_the_event_ring_after_both() {
        let l = layout(1024, 64 << 10, 10);
        assert_eq!((l.rx_ring_log2(), l.tx_ring_log2()), (16, 16));
        assert_eq!(l.tx_ring_offset(), 64 << 20);
        assert_eq!(l.event_ring_offset(), 128 << 20);
        assert_eq!(l.bytes(), (128 << 20) + 1024 * EVENT_RECORD_BYTES);
        // A ring smaller than a page would misalign the event ring.
        for bad in [0, 2048, 3 << 12, MAX_RX_RING_BYTES << 1] {
            assert!(matches!(RingLayout::new(4, bad, EventRing::new(2).unwrap()), Err(DmaMemError::RingSize(b)) if b == bad));
        }
        assert_eq!(layout(2, 4096, 1).bytes(), 5 * 4096, "rounded up to a page");
    }

    #[test]
    fn rings_refuse_a_small_or_unaligned_region() {
        let l = layout(4, 4096, 2);
        assert!(matches!(HostRings::allocate(&FakeDmaMemory::new(0x10_0000, l.bytes() - 1), l), Err(DmaMemError::TooSmall { .. })));
        assert!(matches!(HostRings::allocate(&FakeDmaMemory::new(0x10_0800, l.bytes()), l), Err(DmaMemError::Unaligned { .. })));
        let rings = HostRings::allocate(&FakeDmaMemory::new(0x10_0000, l.bytes()), l).unwrap();
        assert_eq!(
            (rings.rx_ring_iova(), rings.tx_ring_iova(), rings.event_ring_iova()),
            (0x10_0000, 0x10_0000 + 4 * 4096, 0x10_0000 + 8 * 4096)
        );
    }

    #[test]
    fn read_ring_follows_the_stream_across_the_wrap() {
        let l = layout(4, 4096, 2);
        let mem = FakeDmaMemory::new(0x4000_0000, l.bytes());
        let rings = HostRings::allocate(&mem, l).unwrap();
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 + 3) as u8).collect();
        // Stream offsets 3000..8000 of connection 2: the ring wraps once.
        rings.write_ring(2, 3000, &data).unwrap();
        let mut got = vec![0u8; 4096];
        rings.read_ring(2, 3000 + 904, &mut got).unwrap();
        assert_eq!(got, data[904..5000]);
        // Connection 1's and 3's rings were not touched.
        let mut other = vec![0u8; 4096];
        rings.read_ring(1, 0, &mut other).unwrap();
        rings.read_ring(3, 0, &mut got).unwrap();
        assert!(other.iter().chain(&got).all(|b| *b == 0));
        assert!(rings.read_ring(4, 0, &mut [0u8; 1]).is_err(), "no connection 4");
        assert!(rings.read_ring(0, 0, &mut [0u8; 4097]).is_err(), "longer than the ring");
    }

    #[test]
    fn write_tx_ring_wraps_and_stays_out_of_the_receive_rings() {
        let l = layout(4, 4096, 2);
        let mem = FakeDmaMemory::new(0x4000_0000, l.bytes());
        let rings = HostRings::allocate(&mem, l).unwrap();
        let data: Vec<u8> = (0..4096u32).map(|i| (i * 13 + 5) as u8).collect();
        // Stream offsets 3000..7096 of connection 1: the ring wraps once.
        rings.write_tx_ring(1, 3000, &data).unwrap();
        let mut got = vec![0u8; 4096];
        rings.read_tx_ring(1, 3000, &mut got).unwrap();
        assert_eq!(got, data);
        // Ring byte 0 holds stream offset 4096 (data[1096]).
        let mut raw = [0u8; 1];
        mem.read(l.tx_ring_offset() + 4096, &mut raw).unwrap();
        assert_eq!(raw[0], data[1096]);
        // Every receive ring and the other transmit rings are untouched.
        let mut other = vec![0u8; 4096];
        for id in 0..4 {
            rings.read_ring(id, 0, &mut other).unwrap();
            assert!(other.iter().all(|b| *b == 0), "receive ring {id}");
        }
        for id in [0u16, 2, 3] {
            rings.read_tx_ring(id, 0, &mut other).unwrap();
            assert!(other.iter().all(|b| *b == 0), "transmit ring {id}");
        }
        assert!(rings.write_tx_ring(4, 0, &[1]).is_err(), "no connection 4");
        assert!(rings.write_tx_ring(0, 0, &[0u8; 4097]).is_err(), "longer than the ring");
    }
}
