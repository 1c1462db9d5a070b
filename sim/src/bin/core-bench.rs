//! The core's hardware figures in simulated cycles (see [`holdback_sim::bench`]),
//! printed as plain lines; `holdback bench` reports the same figures with the
//! core's area and the lab's goodput, as JSON and a plot.
//!
//! `cargo run --release -p holdback-sim --bin core-bench [-- --frames N]`
use holdback_sim::bench;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut frames = 2000u64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--frames" => frames = args.next().and_then(|v| v.parse().ok()).ok_or("--frames needs a number")?,
            _ => return Err(format!("unknown argument {a}; usage: core-bench [--frames N]").into()),
        }
    }
    for size in bench::FRAME_SIZES {
        for (events, name) in [(bench::EventQueue::On, "on"), (bench::EventQueue::Off, "off")] {
            let f = bench::rx_frames(size, frames, true, events)?;
            println!(
                "rx {:>4}-byte frames, holdback on, event queue {name:>3}: {:6.1} cycles/frame (line rate {:6.2}), {:.2} bytes/cycle; simulator {:.2} M cycles/s",
                f.wire_bytes,
                f.cycles_per_frame,
                f.line_rate_cycles,
                f.bytes_per_cycle,
                f.sim_cycles_per_second / 1e6
            );
        }
    }
    println!("rx 60-byte pure ACKs: {:.1} cycles/frame (line rate 10.5)", bench::min_frame_cycles(frames)?);
    let lat = bench::release_to_ack(50)?;
    println!(
        "release write -> first ACK beat: median {} cycles, max {} cycles (incl. the bus handshake)",
        lat[lat.len() / 2],
        lat[lat.len() - 1]
    );
    Ok(())
}
