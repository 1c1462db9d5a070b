//! The host's end of the event queue (docs/dma.md): the ring of 32-byte
//! records the card's event-queue writer fills, in DMA memory the card can
//! reach, read in order by their phase bit.
//!
//! The record layout, the ring's indexing and the consumer are the register
//! map's (`holdback_regmap::event_queue`), re-exported here; this module adds
//! the ring in VFIO DMA memory. The card-side registers that take the ring's
//! IOVA and the consumer count do not exist yet, so nothing here talks to a
//! card: the QEMU guest test fills a ring through `edu`'s DMA instead.
pub use holdback_regmap::event_queue::{
    EventQueueConsumer, EventQueueError, EventRecord, EventRecordError, EventRing, RecordMemory,
};

#[cfg(feature = "vfio")]
pub use dma_ring::DmaEventRing;

#[cfg(feature = "vfio")]
mod dma_ring {
    use super::{EventQueueConsumer, EventQueueError, EventRecord, EventRing, RecordMemory};
    use crate::vfio::{DmaBuffer, VfioError, VfioPciDevice};

    /// The device may write the buffer at any time: every read is volatile.
    impl RecordMemory for DmaBuffer {
        fn read_at(&self, offset: usize, out: &mut [u8]) -> Result<(), EventQueueError> {
            self.read_bytes(offset, out).map_err(|e| EventQueueError::Memory(e.to_string()))
        }
    }

    /// An event ring in DMA memory mapped at a chosen IOVA, with its consumer.
    pub struct DmaEventRing {
        buf: DmaBuffer,
        consumer: EventQueueConsumer,
    }

    impl DmaEventRing {
        /// Maps a zeroed ring of `ring.entries()` records at `iova` (page
        /// aligned; the card's writer must be enabled only after this, with
        /// its producer count at 0, as the phase rule requires).
        pub fn new(dev: &VfioPciDevice, iova: u64, ring: EventRing) -> Result<DmaEventRing, VfioError> {
            let buf = dev.dma_alloc(iova, ring.bytes())?;
            // Fresh anonymous pages are zero already; zero explicitly anyway so
            // the phase rule does not rest on how the buffer was obtained.
            buf.write_bytes(0, &vec![0u8; ring.bytes()])?;
            Ok(DmaEventRing { buf, consumer: EventQueueConsumer::new(ring) })
        }

        /// The ring's device-side address (what the card's base register takes).
        pub fn iova(&self) -> u64 {
            self.buf.iova()
        }

        pub fn ring(&self) -> EventRing {
            self.consumer.ring()
        }

        /// The next record the card has finished, if any.
        pub fn poll(&mut self) -> Result<Option<EventRecord>, EventQueueError> {
            self.consumer.poll(&self.buf)
        }

        /// Records taken (what the card's consumer-count register takes).
        pub fn consumed(&self) -> u16 {
            self.consumer.consumed()
        }

        /// The buffer itself (a test writes records into it as the card would).
        pub fn buffer(&self) -> &DmaBuffer {
            &self.buf
        }
    }
}
