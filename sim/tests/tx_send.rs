//! The card sends payload: the host writes bytes into connection 0's
//! transmit ring in the simulated host memory and rings its send-tail
//! doorbell (TX_TAIL), the Verilated core reads them back through its DMA
//! read port and sends them. Every data segment is scored against the
//! reference model's TX side (`TxTcb::next_segment`, sim/src/refmodel/tx.rs):
//! its sequence number and length, and nothing more than the model allows
//! (RFC 5681's initial window, the peer's window, Nagle); its payload must be
//! the ring's bytes at its stream offset and its checksums must verify. The
//! host only writes where the peer's ACKs freed ring space, so a 4 KiB ring
//! wraps many times and segments crossing its end take two reads.
//!
//! The peer advertises a window of 3 × 1460 bytes, the card's initial window:
//! the card keeps its congestion window at the initial window (no TX table
//! yet, docs/tx.md), the model grows its own, and below the peer's window
//! both send the same.
//!
//! Seed: `HOLDBACK_TEST_SEED=<n>` reproduces a run (the test prints its seed).
#[path = "common/tx_card.rs"]
mod tx_card;

use holdback_regmap as map;
use holdback_regmap::Stat;
use holdback_sim::refmodel::tx::{AckSegment, RtoSettings, TxTcb};
use holdback_sim::wire::{SeqNum, TcpFlags, TcpRepr};
use rand::{rngs::SmallRng, Rng, SeedableRng};
use tx_card::{open, seed, Card, LISTEN, MSS, PEER_PORT, PEER_WINDOW, RING, RING_LOG2};

/// What the card sent so far, scored segment by segment.
struct Score {
    /// Stream offset up to which the host filled the ring (and rang).
    written: u32,
    /// Stream offset up to which the card sent.
    sent: u32,
    segments: u32,
    /// Segments that crossed the ring's end (two DMA reads).
    split: u32,
}

impl Score {
    /// Takes every frame the card sent and checks each against the model.
    fn frames(&mut self, card: &mut Card, model: &mut TxTcb, iss: SeqNum, peer_seq: SeqNum, data: &[u8]) {
        let now = card.sim.now_us() as u32;
        for (tcp, payload) in card.frames() {
            let want = model.next_segment(now).unwrap_or_else(|| {
                panic!("the core sent {} bytes at {} where the model sends nothing (model {model:?})", payload.len(), tcp.seq)
            });
            assert_eq!((tcp.seq, payload.len() as u32), (want.seq, want.len), "segment (seq, len) against the model");
            let off = tcp.seq.0.wrapping_sub(iss.0.wrapping_add(1));
            assert_eq!(payload, &data[off as usize..(off + want.len) as usize], "payload at stream offset {off}");
            assert_eq!(tcp.ack, peer_seq, "the card acknowledges the peer's (empty) stream");
            let flags = tcp.flags;
            assert!(flags.contains(TcpFlags::ACK) && !flags.contains(TcpFlags::SYN) && !flags.contains(TcpFlags::FIN));
            assert_eq!(flags.contains(TcpFlags::PSH), off + want.len == self.written, "PSH exactly on the segment that empties the ring");
            if off / RING != (off + want.len - 1) / RING {
                self.split += 1;
            }
            self.segments += 1;
            self.sent = off + want.len;
        }
        assert_eq!(model.next_segment(now), None, "the model would send more than the core did");
    }
}

#[test]
fn data_from_the_transmit_ring_goes_out_as_the_model_segments_it() {
    let seed = seed();
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut card = Card::new(RING_LOG2);
    let isn: u32 = rng.gen();
    let iss = open(&mut card, isn, PEER_WINDOW);
    let peer_seq = SeqNum(isn) + 1;
    let mut model = TxTcb::established(iss, MSS, peer_seq, PEER_WINDOW);
    let rto = RtoSettings::default();

    // Not a multiple of the MSS, so Nagle holds the last short segment until
    // everything before it is acknowledged.
    let total: u32 = 40_000 + rng.gen_range(0..MSS as u32);
    let data: Vec<u8> = (0..total).map(|_| rng.gen()).collect();
    let mut score = Score { written: 0, sent: 0, segments: 0, split: 0 };
    let mut acked = 0u32;
    let mut rounds = 0;
    while acked < total {
        rounds += 1;
        assert!(rounds < 1000, "no progress: {acked} of {total} bytes acknowledged");
        // The host fills what the ring holds beyond the acknowledged bytes, in pieces.
        if score.written < total && score.written - acked < RING {
            let end = total.min(acked + RING).min(score.written + rng.gen_range(1..=3000));
            card.write_ring(score.written, &data[score.written as usize..end as usize]);
            score.written = end;
            card.doorbell(end);
            model.set_tail(end, RING).expect("the model takes the same tail");
        }
        // The card sends; the peer acknowledges all it got, which may let more go.
        loop {
            card.idle();
            score.frames(&mut card, &mut model, iss, peer_seq, &data);
            if score.sent == acked {
                break;
            }
            let ack = SeqNum(iss.0.wrapping_add(1).wrapping_add(score.sent));
            card.send(&TcpRepr::new(PEER_PORT, LISTEN, peer_seq, ack, TcpFlags::ACK, PEER_WINDOW), &[]);
            model.on_ack(&AckSegment { seq: peer_seq, ack, wnd: PEER_WINDOW, occupies: false }, card.sim.now_us() as u32, &rto);
            acked = score.sent;
            card.idle();
            assert_eq!(card.tcb(map::tcb::SND_UNA), ack.0, "snd_una follows the ACK (the host learns it from the TCB)");
        }
    }
    assert_eq!(card.tcb(map::tcb::SND_MAX), iss.0.wrapping_add(1).wrapping_add(total));
    assert_eq!(card.tcb(map::tcb::TX_END), total);
    assert_eq!(card.stat(Stat::TxTailRefused), 0);
    assert_eq!(card.stat(Stat::DmaErrors), 0);
    eprintln!("{total} bytes in {} segments ({} crossing the ring's end), {rounds} host rounds", score.segments, score.split);
    assert!(score.split > 0, "some segment crossed the ring's end");
}

#[test]
fn a_tail_backwards_or_past_the_ring_is_refused_and_counted() {
    let mut card = Card::new(RING_LOG2);
    let iss = open(&mut card, 0x1234_5678, PEER_WINDOW);
    // Past snd_una + ring: the host would overwrite bytes not yet acknowledged.
    card.doorbell(RING + 1);
    card.idle();
    assert_eq!(card.stat(Stat::TxTailRefused), 1);
    assert_eq!(card.tcb(map::tcb::TX_END), 0, "a refused tail changes nothing");
    assert!(card.frames().is_empty(), "nothing sent for a refused tail");
    card.write_ring(0, &[0x5a; 100]);
    card.doorbell(100);
    card.idle();
    let frames = card.frames();
    assert_eq!(frames.len(), 1);
    assert_eq!((frames[0].0.seq, frames[0].1.as_slice()), (iss + 1, &[0x5a; 100][..]));
    // Backwards: the host may only append.
    card.doorbell(99);
    card.idle();
    assert_eq!(card.stat(Stat::TxTailRefused), 2);
    assert_eq!(card.tcb(map::tcb::TX_END), 100);
    assert!(card.frames().is_empty());
    // A doorbell for a connection that does not exist is refused too.
    card.sim.reg_write(map::tx_tail_addr(5), 10).expect("TX_TAIL write");
    card.idle();
    assert_eq!(card.stat(Stat::TxTailRefused), 3);
}

/// Figures for the report: cycles from the doorbell to the first payload
/// beat of the first segment, and payload bytes per cycle for an initial
/// window of three 1460-byte segments (doorbell to the last beat).
#[test]
fn figures_doorbell_to_first_payload_beat_and_bytes_per_cycle() {
    // A 16 KiB ring: the initial window is more than 4 KiB.
    let mut card = Card::new(14);
    let _iss = open(&mut card, 77, PEER_WINDOW);
    let bytes = 3 * u32::from(MSS);
    card.write_ring(0, &vec![0xa5; bytes as usize]);
    let start = card.sim.cycles();
    card.doorbell(bytes);
    let mut first_done = None;
    let mut frames = 0;
    while frames < 3 {
        card.sim.cycle();
        if card.sim.tx_pending() > frames {
            frames = card.sim.tx_pending();
            first_done.get_or_insert(card.sim.cycles());
        }
        assert!(card.sim.cycles() - start < 100_000, "three segments within 100 000 cycles");
    }
    let last_done = card.sim.cycles();
    let segs = card.frames();
    assert_eq!(segs.len(), 3);
    assert!(segs.iter().all(|(_, p)| p.len() == usize::from(MSS)));
    // A 1514-byte frame is 190 beats, one per cycle (the sim's MAC never
    // back-pressures); its first payload bytes travel in beat 6.
    let first_payload_beat = first_done.expect("a frame") - (190 - 1 - 6);
    let to_first = first_payload_beat - start;
    let per_cycle = f64::from(bytes) / (last_done - start) as f64;
    eprintln!("doorbell -> first payload beat: {to_first} cycles; {bytes} B in {} cycles: {per_cycle:.2} B/cycle", last_done - start);
    // Bounds that fail when the path stalls or serialises needlessly: the
    // register write, the engine, one DMA read of 183 beats and the builder's
    // first six beats fit in 400 cycles; reading and sending one after the
    // other give at least 3 B/cycle.
    assert!(to_first < 400, "{to_first} cycles");
    assert!(per_cycle > 3.0, "{per_cycle} B/cycle");
}
