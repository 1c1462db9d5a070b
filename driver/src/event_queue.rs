//! The host's end of the event queue (docs/dma.md): the ring of records the
//! card's event-queue writer fills in host memory, read in order by their
//! phase bit. The record layout, the ring's indexing and the consumer are
//! the register map's (`holdback_regmap::event_queue`), re-exported here;
//! the ring's memory is the card layer's ([`crate::host_mem::HostRings`]).
pub use holdback_regmap::event_queue::{
    EventQueueConsumer, EventQueueError, EventRecord, EventRecordError, EventRing, RecordMemory,
};
