//! The event queue: one fixed-size record per TCB change, written by the
//! card's event-queue writer (`hdl/src/dma/event_queue.rs`) into a ring in
//! host memory and read there by the host with [`EventQueueConsumer`].
//! The layout is declared once, here: the RTL takes every field's bit
//! position from [`event`], the host decodes with [`EventRecord`].
//!
//! A record is 128 bytes. Bytes 0..88 are the connection's whole TCB: the
//! [`TCB_WORDS`] 32-bit words exactly as the TCB window and [`Tcb`] lay them
//! out, little-endian, read from the TCB table in one block-RAM word so they
//! cannot tear. Bytes 88..90 are the connection id (u16 little-endian). The
//! phase bit is bit 7 of byte 127, the last byte the writer sends; every other
//! byte is zero. Record `k` (counted from 0 since the writer was enabled)
//! goes to slot `k mod entries` at `base + 128 * slot` and carries the phase
//! bit `1` on the ring's first lap, `0` on the second, and so on
//! ([`EventRing::phase`]); the host zeroes the ring before enabling the
//! writer, so a slot whose phase is not the one expected for the host's next
//! index holds nothing new. The writer sends the record as one 128-byte burst
//! in address order, so by the time the host sees the new phase the bytes
//! before it are there (the rule NICs' completion queues rely on: one aligned
//! TLP within one or two cache lines, written in address order).
//!
//! The writer never writes record `k` before the host has consumed record
//! `k - entries` (it compares its producer count with the consumer count the
//! host hands back), and it keeps one dirty bit per connection, so a
//! connection has at most one change waiting however often it changes:
//! nothing overflows and the last state of every connection reaches the host.
//! Payload bytes below a record's `rcv_nxt` are in host memory before the
//! record: payload and records share one DMA write engine, in order.
use crate::{Tcb, TcbError, TCB_WORDS};

/// Bytes per record.
pub const EVENT_RECORD_BYTES: usize = 128;
/// 32-bit words per record.
pub const EVENT_RECORD_WORDS: usize = EVENT_RECORD_BYTES / 4;
/// The producer and consumer counts are 16 bits, wrapping; a ring has at most
/// `1 << MAX_EVENT_RING_BITS` records so that a count still tells the lap's parity.
pub const MAX_EVENT_RING_BITS: u32 = 15;

/// The fields of a record, as word / shift / width like the TCB's.
pub mod event {
    use crate::{TcbField, TCB_WORDS};

    /// Word of the record where the TCB's word 0 is; TCB word `w` is record word `TCB_WORD + w`.
    pub const TCB_WORD: u32 = 0;
    /// Record words taken by the TCB.
    pub const TCB_SPAN: u32 = TCB_WORDS as u32;
    pub const CONN: TcbField = TcbField {
        name: "CONN",
        word: TCB_WORD + TCB_SPAN,
        shift: 0,
        width: 16,
        doc: "Connection id (TCB slot), little-endian.",
    };
    pub const PHASE: TcbField = TcbField {
        name: "PHASE",
        word: 31,
        shift: 31,
        width: 1,
        doc: "1 on the ring's first lap, flipping every lap; the last bit the writer sends.",
    };

    /// The fields beside the TCB; bits not covered are written as zero.
    pub const FIELDS: &[TcbField] = &[CONN, PHASE];
}

/// Why a record or a ring geometry was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EventRecordError {
    #[error("event record of connection {conn} does not hold a TCB: {source}")]
    BadTcb { conn: u16, source: TcbError },
    #[error("an event ring of 2^{ring_bits} records is too large: the 16-bit counts allow at most 2^{MAX_EVENT_RING_BITS}")]
    RingTooLarge { ring_bits: u32 },
}

/// One record: connection `conn`'s whole TCB as the writer read it, in one
/// block-RAM read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventRecord {
    pub conn: u16,
    pub tcb: Tcb,
}

impl EventRecord {
    /// The 128 bytes the writer puts in the ring, with phase bit `phase`.
    pub fn to_bytes(&self, phase: bool) -> [u8; EVENT_RECORD_BYTES] {
        let mut w = [0u32; EVENT_RECORD_WORDS];
        let tcb_at = event::TCB_WORD as usize;
        w[tcb_at..tcb_at + TCB_WORDS].copy_from_slice(&self.tcb.to_words());
        event::CONN.set(&mut w, self.conn as u32);
        event::PHASE.set(&mut w, phase as u32);
        let mut out = [0u8; EVENT_RECORD_BYTES];
        for (chunk, word) in out.chunks_exact_mut(4).zip(w) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        out
    }

    /// Decodes a record read from the ring (its phase: [`record_phase`]).
    pub fn from_bytes(bytes: &[u8; EVENT_RECORD_BYTES]) -> Result<EventRecord, EventRecordError> {
        let w = words(bytes);
        let conn = event::CONN.get(&w) as u16;
        let tcb_at = event::TCB_WORD as usize;
        let tcb = Tcb::decode(&w[tcb_at..tcb_at + TCB_WORDS]).map_err(|source| EventRecordError::BadTcb { conn, source })?;
        Ok(EventRecord { conn, tcb })
    }
}

fn words(bytes: &[u8; EVENT_RECORD_BYTES]) -> [u32; EVENT_RECORD_WORDS] {
    let mut w = [0u32; EVENT_RECORD_WORDS];
    for (word, chunk) in w.iter_mut().zip(bytes.chunks_exact(4)) {
        *word = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
    }
    w
}

/// Byte of the record holding the phase bit, and the bit's mask in it: the
/// host reads this byte first.
pub const PHASE_BYTE: usize = (event::PHASE.bit()) / 8;
pub const PHASE_MASK: u8 = 1 << (event::PHASE.bit() % 8);

/// The phase bit of a record as read from the ring.
pub fn record_phase(bytes: &[u8; EVENT_RECORD_BYTES]) -> bool {
    bytes[PHASE_BYTE] & PHASE_MASK != 0
}

/// Where record `k` goes and which phase it carries, for a ring of
/// `1 << ring_bits` records. Counts are the 16-bit wrapping counts the
/// writer and the host exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventRing {
    ring_bits: u32,
}

impl EventRing {
    pub fn new(ring_bits: u32) -> Result<EventRing, EventRecordError> {
        if ring_bits > MAX_EVENT_RING_BITS {
            return Err(EventRecordError::RingTooLarge { ring_bits });
        }
        Ok(EventRing { ring_bits })
    }

    pub fn ring_bits(&self) -> u32 {
        self.ring_bits
    }

    /// Records the ring holds.
    pub fn entries(&self) -> usize {
        1 << self.ring_bits
    }

    /// Bytes of host memory the ring takes.
    pub fn bytes(&self) -> usize {
        self.entries() * EVENT_RECORD_BYTES
    }

    /// Byte offset from the ring's base of record `k`.
    pub fn offset(&self, k: u16) -> usize {
        (k as usize & (self.entries() - 1)) * EVENT_RECORD_BYTES
    }

    /// Phase bit of record `k`: 1 on even laps (the first is lap 0).
    pub fn phase(&self, k: u16) -> bool {
        (k >> self.ring_bits) & 1 == 0
    }

    /// Records written but not consumed when the writer has written
    /// `produced` and the host consumed `consumed` (both wrapping counts).
    pub fn in_use(&self, produced: u16, consumed: u16) -> u16 {
        produced.wrapping_sub(consumed)
    }
}

/// Markdown table of the record layout, for docs/dma.md (kept in sync by
/// `regmap/tests/event_record_table.rs`).
pub fn record_table() -> String {
    let mut s = String::from("| field | bytes | word | bits | meaning |\n|---|---|---|---|---|\n");
    let tcb_first = event::TCB_WORD as usize * 4;
    let tcb_last = (event::TCB_WORD + event::TCB_SPAN) as usize * 4 - 1;
    s += &format!(
        "| tcb | {tcb_first}-{tcb_last} | {}-{} | all | The connection's whole TCB: its {} words as the TCB window lays them out (fields in the register map), from one block-RAM read. |\n",
        event::TCB_WORD,
        event::TCB_WORD + event::TCB_SPAN - 1,
        event::TCB_SPAN
    );
    for f in event::FIELDS {
        let first = f.bit() / 8;
        let last = (f.bit() + f.width as usize - 1) / 8;
        let bytes = if first == last { format!("{first}") } else { format!("{first}-{last}") };
        s += &format!(
            "| {} | {} | {} | {}:{} | {} |\n",
            f.name.to_lowercase(),
            bytes,
            f.word,
            f.shift + f.width - 1,
            f.shift,
            f.doc
        );
    }
    s
}

/// Where the consumer reads the ring from: plain memory in tests, the
/// driver's DMA buffer (volatile reads) on a card.
pub trait RecordMemory {
    /// Copies `out.len()` bytes from byte `offset` of the ring.
    fn read_at(&self, offset: usize, out: &mut [u8]) -> Result<(), EventQueueError>;
}

impl RecordMemory for [u8] {
    fn read_at(&self, offset: usize, out: &mut [u8]) -> Result<(), EventQueueError> {
        let src = offset
            .checked_add(out.len())
            .and_then(|end| self.get(offset..end))
            .ok_or(EventQueueError::OutOfRange { offset, len: out.len(), size: self.len() })?;
        out.copy_from_slice(src);
        Ok(())
    }
}

/// Why the consumer could not read the ring.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EventQueueError {
    #[error("event ring read of {len} bytes at offset {offset} is past its {size} bytes")]
    OutOfRange { offset: usize, len: usize, size: usize },
    #[error("event record {index} (skipped): {source}")]
    BadRecord { index: u16, source: EventRecordError },
    #[error("event ring memory: {0}")]
    Memory(String),
}

/// The host's side of the ring: takes records in order by their phase bit
/// and counts them; [`EventQueueConsumer::consumed`] is what the host hands
/// back to the writer (the consumer-index register), which lets it reuse
/// the slots.
#[derive(Clone, Debug)]
pub struct EventQueueConsumer {
    ring: EventRing,
    consumed: u16,
}

impl EventQueueConsumer {
    /// A consumer of a freshly zeroed ring whose writer was just enabled.
    pub fn new(ring: EventRing) -> EventQueueConsumer {
        EventQueueConsumer { ring, consumed: 0 }
    }

    pub fn ring(&self) -> EventRing {
        self.ring
    }

    /// Records taken so far (wrapping count).
    pub fn consumed(&self) -> u16 {
        self.consumed
    }

    /// The next record, if the writer has finished it. Reads the phase byte
    /// first and the record only if the phase is the one this lap expects:
    /// the writer sends that byte last, so the rest is complete by then.
    /// A record that does not decode is skipped (counted) and reported.
    pub fn poll<M: RecordMemory + ?Sized>(&mut self, mem: &M) -> Result<Option<EventRecord>, EventQueueError> {
        let index = self.consumed;
        let at = self.ring.offset(index);
        let want = self.ring.phase(index);
        let mut phase_byte = [0u8; 1];
        mem.read_at(at + PHASE_BYTE, &mut phase_byte)?;
        if (phase_byte[0] & PHASE_MASK != 0) != want {
            return Ok(None);
        }
        // The record's other bytes must not be read before the phase byte.
        std::sync::atomic::fence(std::sync::atomic::Ordering::Acquire);
        let mut bytes = [0u8; EVENT_RECORD_BYTES];
        mem.read_at(at, &mut bytes)?;
        self.consumed = index.wrapping_add(1);
        EventRecord::from_bytes(&bytes).map(Some).map_err(|source| EventQueueError::BadRecord { index, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SeqNum, TcpState};

    fn sample() -> EventRecord {
        let tcb = Tcb {
            state: TcpState::CloseWait,
            holdback: true,
            fin_rcvd: true,
            send_hold: false,
            close_asked: false,
            peer_mss: 1460,
            local_port: 5001,
            remote_port: 40_000,
            rcv_nxt: SeqNum(0x0000_0101),
            rel: SeqNum(0xFFFF_FFF0),
            ack_sent: SeqNum(0xFFFF_FF00),
            epoch: 7,
            gen: 0x8000_0001,
            ..Tcb::closed()
        };
        EventRecord { conn: 1023, tcb }
    }

    #[test]
    fn fields_do_not_overlap_the_tcb_or_each_other_and_fit() {
        let mut used = [false; EVENT_RECORD_BYTES * 8];
        let tcb_bits = (event::TCB_WORD as usize * 32)..((event::TCB_WORD + event::TCB_SPAN) as usize * 32);
        for b in tcb_bits {
            used[b] = true;
        }
        for f in event::FIELDS {
            assert!(f.shift + f.width <= 32, "{} crosses a word", f.name);
            assert!((f.word as usize) < EVENT_RECORD_WORDS, "{} is past the record", f.name);
            for b in f.bit()..f.bit() + f.width as usize {
                assert!(!used[b], "{} overlaps at bit {b}", f.name);
                used[b] = true;
            }
        }
        // The phase bit is the last bit of the record: the last one written.
        assert_eq!(event::PHASE.bit(), EVENT_RECORD_BYTES * 8 - 1);
        assert_eq!((PHASE_BYTE, PHASE_MASK), (127, 0x80));
        assert_eq!(event::CONN.bit(), 88 * 8, "the id follows the 88 bytes of the TCB");
    }

    #[test]
    fn record_round_trips_with_either_phase() {
        let r = sample();
        for phase in [false, true] {
            let b = r.to_bytes(phase);
            assert_eq!(record_phase(&b), phase);
            assert_eq!(EventRecord::from_bytes(&b), Ok(r.clone()));
        }
        // Golden bytes: the TCB window's words little-endian first (word 0:
        // state, flags, peer MSS; word 6: rcv_nxt), the id at byte 88, the
        // phase in byte 127, zeros between.
        let b = r.to_bytes(true);
        assert_eq!(&b[0..4], &[TcpState::CloseWait as u8 | 0b11_0000, 0, 0xB4, 0x05]);
        assert_eq!(&b[24..28], &[0x01, 0x01, 0, 0]);
        let words = r.tcb.to_words();
        for (w, chunk) in words.iter().zip(b[..88].chunks_exact(4)) {
            assert_eq!(&w.to_le_bytes()[..], chunk);
        }
        assert_eq!(&b[88..90], &[0xFF, 0x03]);
        assert!(b[90..127].iter().all(|&x| x == 0));
        assert_eq!(b[127], 0x80);
    }

    #[test]
    fn record_refuses_unknown_state() {
        let mut b = sample().to_bytes(false);
        b[0] = 14;
        assert_eq!(
            EventRecord::from_bytes(&b),
            Err(EventRecordError::BadTcb { conn: 1023, source: TcbError::UnknownState { code: 14 } })
        );
    }

    #[test]
    fn phase_flips_every_lap_and_survives_the_count_wrap() {
        let ring = EventRing::new(6).unwrap();
        assert_eq!(ring.entries(), 64);
        assert!(ring.phase(0) && ring.phase(63));
        assert!(!ring.phase(64) && !ring.phase(127));
        assert!(ring.phase(128));
        assert_eq!(ring.offset(65), EVENT_RECORD_BYTES);
        // 2^16 is a whole number of double laps: the parity carries across the wrap.
        assert_eq!(ring.phase(u16::MAX), !ring.phase(0));
        assert_eq!(ring.in_use(3, 0xFFFE), 5);
        assert!(EventRing::new(15).is_ok());
        assert_eq!(EventRing::new(16), Err(EventRecordError::RingTooLarge { ring_bits: 16 }));
    }

    #[test]
    fn consumer_takes_records_by_phase_across_laps() {
        let ring = EventRing::new(2).unwrap();
        let mut mem = vec![0u8; ring.bytes()];
        let mut c = EventQueueConsumer::new(ring);
        assert_eq!(c.poll(&mem[..]), Ok(None), "a zeroed ring is empty");
        let write = |mem: &mut Vec<u8>, k: u16, gen: u32| {
            let mut r = sample();
            r.tcb.gen = gen;
            let at = ring.offset(k);
            mem[at..at + EVENT_RECORD_BYTES].copy_from_slice(&r.to_bytes(ring.phase(k)));
        };
        for k in 0..4 {
            write(&mut mem, k, k as u32);
        }
        for k in 0..4 {
            assert_eq!(c.poll(&mem[..]).unwrap().map(|r| r.tcb.gen), Some(k));
        }
        // Lap 1: the old records are still there with phase 1; lap 1 wants 0.
        assert_eq!(c.poll(&mem[..]), Ok(None));
        write(&mut mem, 4, 40);
        assert_eq!(c.poll(&mem[..]).unwrap().map(|r| r.tcb.gen), Some(40));
        assert_eq!(c.poll(&mem[..]), Ok(None));
        assert_eq!(c.consumed(), 5);
    }

    #[test]
    fn consumer_ignores_a_record_whose_phase_byte_is_not_there_yet() {
        let ring = EventRing::new(3).unwrap();
        let mut mem = vec![0u8; ring.bytes()];
        let full = sample().to_bytes(true);
        // Everything but the last beat has landed: not a record yet.
        mem[..120].copy_from_slice(&full[..120]);
        let mut c = EventQueueConsumer::new(ring);
        assert_eq!(c.poll(&mem[..]), Ok(None));
        mem[120..128].copy_from_slice(&full[120..]);
        assert_eq!(c.poll(&mem[..]), Ok(Some(sample())));
    }

    #[test]
    fn consumer_skips_and_reports_a_bad_record_and_a_short_ring() {
        let ring = EventRing::new(1).unwrap();
        let mut mem = vec![0u8; ring.bytes()];
        let mut bad = sample().to_bytes(true);
        bad[0] = 12;
        mem[..EVENT_RECORD_BYTES].copy_from_slice(&bad);
        let mut c = EventQueueConsumer::new(ring);
        assert!(matches!(c.poll(&mem[..]), Err(EventQueueError::BadRecord { index: 0, .. })));
        assert_eq!(c.consumed(), 1);
        assert!(matches!(c.poll(&mem[..160]), Err(EventQueueError::OutOfRange { offset: 255, .. })));
    }
}
