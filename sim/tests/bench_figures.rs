//! The bench's measurements run on the Verilated core and refuse a run in
//! which the core did not take every segment: a bench figure is only quoted
//! for traffic the core handled completely.
use holdback_sim::bench::{self, EventQueue};

#[test]
fn every_frame_size_is_taken_in_order_within_the_parsers_floor() {
    for size in [64, 1518] {
        let f = bench::rx_frames(size, 200, true, EventQueue::On).expect("the core takes every in-order segment");
        // The parser accepts one 64-bit beat per cycle: no frame can pass in
        // fewer cycles than it has beats.
        let beats = (size - 4).div_ceil(8) as f64;
        assert!(f.cycles_per_frame >= beats, "{size}-byte frames at {:.2} cycles, below {beats} beats", f.cycles_per_frame);
        assert!(f.bytes_per_cycle <= 8.0, "{:.2} bytes/cycle exceeds the 64-bit datapath", f.bytes_per_cycle);
    }
}

#[test]
fn a_release_lets_its_ack_out_within_a_bounded_number_of_cycles() {
    let lat = bench::release_to_ack(5).expect("every release lets an ACK out");
    assert_eq!(lat.len(), 5);
    assert!(lat.windows(2).all(|w| w[0] <= w[1]), "sorted: {lat:?}");
}

#[test]
fn sizes_outside_ethernet_are_refused() {
    assert!(matches!(bench::rx_frames(63, 1, true, EventQueue::On), Err(bench::BenchError::FrameSize { wire_bytes: 63 })));
    assert!(matches!(bench::rx_frames(1519, 1, true, EventQueue::On), Err(bench::BenchError::FrameSize { wire_bytes: 1519 })));
}

/// 10 GbE line rate at 64 bits x 156.25 MHz: the smallest frames, data or pure
/// ACK, and full-size ones must each be handled within their wire time, with
/// the event queue on and its records consumed (as a driver runs the card).
#[test]
fn smallest_and_largest_frames_keep_up_with_line_rate() {
    let small = bench::rx_frames(64, 400, true, EventQueue::On).expect("the core takes every in-order segment");
    assert!(
        small.cycles_per_frame <= bench::line_rate_cycles(64),
        "64-byte data frames at {:.2} cycles, budget {}",
        small.cycles_per_frame,
        bench::line_rate_cycles(64)
    );
    let acks = bench::min_frame_cycles(400).expect("pure ACKs are taken");
    assert!(acks <= bench::line_rate_cycles(64), "60-byte ACKs at {acks:.2} cycles");
    let full = bench::rx_frames(1518, 100, true, EventQueue::On).expect("the core takes every in-order segment");
    assert!(full.bytes_per_cycle >= 7.9, "1518-byte frames at {:.2} bytes/cycle", full.bytes_per_cycle);
}

/// Relay mode: a segment from either side is relayed to the other, and the
/// first beat of the relayed segment follows within a bounded number of cycles.
#[test]
fn a_relayed_segment_leaves_within_a_bounded_number_of_cycles() {
    let lat = bench::relay_latency(3).expect("each segment is relayed");
    assert_eq!((lat.up.len(), lat.down.len()), (3, 3));
    eprintln!("relay latency cycles: up {:?}, down {:?}", lat.up, lat.down);
}
