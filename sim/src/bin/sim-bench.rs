//! Simulation speed of the Verilated models, as plain figures for the README:
//!
//!   cargo run --release -p holdback-sim --bin sim-bench [-- --cycles N]
//!
//! - every block model, inputs held at zero;
//! - the whole core idle, with a register read every 16 cycles, and with a
//!   back-to-back stream of 60-byte and 1514-byte frames on s_axis.
use std::time::Instant;

use holdback_sim::{
    card::{Card, CardConfig},
    core_sim::CoreSim,
    model::Model,
    SimError,
};

fn rate(cycles: u64, secs: f64) -> String {
    format!("{:.2} M cycles/s", cycles as f64 / secs / 1e6)
}

fn main() -> Result<(), SimError> {
    let mut cycles: u64 = 2_000_000;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--cycles" => {
                cycles = args.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
                    eprintln!("--cycles needs a number");
                    std::process::exit(2)
                })
            }
            _ => {
                eprintln!("usage: sim-bench [--cycles N]");
                std::process::exit(2)
            }
        }
    }
    println!("sim-bench: {cycles} cycles per measurement (C++ model -O2, one FFI call per cycle)");

    for info in holdback_sim::model::models() {
        let mut m = Model::new(info.name)?;
        let t = Instant::now();
        for _ in 0..cycles {
            m.cycle();
        }
        println!("model {:<14} idle inputs          {}", info.name, rate(cycles, t.elapsed().as_secs_f64()));
    }

    let mut core = match CoreSim::new() {
        Ok(c) => c,
        Err(e) => {
            println!("core: not measured: {e}");
            return Ok(());
        }
    };
    let t = Instant::now();
    core.run(cycles);
    println!("core idle                               {}", rate(cycles, t.elapsed().as_secs_f64()));

    let t = Instant::now();
    let start = core.cycles();
    let mut reads = 0u64;
    while core.cycles() - start < cycles {
        core.run(16);
        core.reg_read(holdback_regmap::ID_MAGIC.offset)?;
        reads += 1;
    }
    let n = core.cycles() - start;
    println!(
        "core idle + register read every 16 cyc  {}  ({:.1} cycles per read incl. the 16)",
        rate(n, t.elapsed().as_secs_f64()),
        n as f64 / reads as f64
    );

    for len in [60usize, 1514] {
        // Broadcast, IPv4 ethertype, junk payload: the parser reads every beat and
        // drops the frame; what is measured is the datapath at one beat per cycle.
        let mut frame = vec![0u8; len];
        frame[..6].copy_from_slice(&[0xff; 6]);
        frame[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 1]);
        frame[12..14].copy_from_slice(&[0x08, 0x00]);
        for (i, b) in frame[14..].iter_mut().enumerate() {
            *b = i as u8;
        }
        let before = core.counters();
        let start = core.cycles();
        let t = Instant::now();
        // Enough queued that the 256 cycles below never run dry.
        let queue = 2 + 256 * 8 / len;
        while core.cycles() - start < cycles {
            while core.rx_pending() < queue {
                core.push_frame(&frame);
            }
            core.run(256);
            while core.pop_tx_frame().is_some() {}
        }
        let secs = t.elapsed().as_secs_f64();
        let n = core.cycles() - start;
        let after = core.counters();
        let frames = after.frames_in - before.frames_in;
        let bytes = after.bytes_in - before.bytes_in;
        println!(
            "core stream of {len:>4}-byte frames       {}  {:.0} frames/s  {:.1} Mbit/s simulated  {:.2} bytes/cycle",
            rate(n, secs),
            frames as f64 / secs,
            bytes as f64 * 8.0 / secs / 1e6,
            bytes as f64 / n as f64
        );
        core.run_until_idle(1_000_000)?;
    }
    drop(core);

    // The threaded card (no TAP): how much CPU an idle card burns, then what a
    // host register access costs.
    let card = Card::start(CardConfig::default())?;
    std::thread::sleep(std::time::Duration::from_secs(1));
    let idle = card.shutdown()?;
    println!(
        "card idle for {:.1} s: {:.0}% of wall time asleep in poll(), {} cycles, {:.2} M cycles/s while awake",
        idle.wall.as_secs_f64(),
        100.0 * idle.idle_wall.as_secs_f64() / idle.wall.as_secs_f64(),
        idle.cycles,
        idle.cycles_per_busy_second() / 1e6
    );

    let card = Card::start(CardConfig::default())?;
    let regs = card.regs();
    let n = 2000;
    let t = Instant::now();
    for _ in 0..n {
        regs.read32(holdback_regmap::ID_MAGIC.offset)?;
    }
    let single = t.elapsed().as_secs_f64() / n as f64;
    let mut block = vec![0u32; 256];
    let t = Instant::now();
    for _ in 0..20 {
        regs.read_block(holdback_regmap::ID_MAGIC.offset, &mut block)?;
    }
    let per_word = t.elapsed().as_secs_f64() / (20.0 * 256.0);
    card.shutdown()?;
    println!("card RegPort read32 round trip          {:.1} us", single * 1e6);
    println!("card RegPort read_block(256)            {:.2} us per word", per_word * 1e6);
    Ok(())
}
