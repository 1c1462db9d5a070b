//! Benchmarks of the whole Verilated core on real TCP traffic, in simulated
//! cycles (the hardware figure) and wall time (the simulator's figure):
//!
//! - RX throughput of in-order 1460-byte segments (1514-byte frames without
//!   FCS; 1518 on the wire) into one established connection, the host releasing
//!   each segment: bytes per cycle (line rate at 64 bit x 156.25 MHz is 8);
//! - cycles per minimum-size frame (60-byte pure ACKs to the connection);
//! - cycles from a release-register write to the first beat of the ACK it causes
//!   (holdback on).
//!
//! `cargo run --release -p holdback-sim --bin core-bench [-- --frames N]`
use holdback_regmap as map;
use holdback_sim::core_sim::CoreSim;
use holdback_sim::wire::{self, Endpoint, MacAddr, SeqNum, TcpFlags, TcpRepr};
use holdback_sim::SimError;
use std::net::Ipv4Addr;
use std::time::Instant;

const CORE: Endpoint = Endpoint { mac: MacAddr([0x02, 0, 0x5e, 0, 0, 2]), ip: Ipv4Addr::new(198, 18, 0, 2) };
const PEER: Endpoint = Endpoint { mac: MacAddr([0x02, 0, 0x5e, 0, 0, 9]), ip: Ipv4Addr::new(198, 18, 0, 9) };
const PORT: u16 = 5001;

struct Conn {
    id: u32,
    seq: SeqNum,
    ack: SeqNum,
}

fn configure(sim: &mut CoreSim, holdback: bool) -> Result<(), SimError> {
    sim.reg_write(map::MAC_HI.offset, u32::from(CORE.mac.0[0]) << 8 | u32::from(CORE.mac.0[1]))?;
    sim.reg_write(map::MAC_LO.offset, u32::from_be_bytes([CORE.mac.0[2], CORE.mac.0[3], CORE.mac.0[4], CORE.mac.0[5]]))?;
    sim.reg_write(map::IPV4_ADDR.offset, u32::from(CORE.ip))?;
    sim.reg_write(map::LISTEN0.offset, map::LISTEN_ENABLE | u32::from(PORT))?;
    let hb = if holdback { map::CTRL_HOLDBACK } else { 0 };
    sim.reg_write(map::CTRL.offset, map::CTRL_ENABLE | hb)
}

fn segment(c: &Conn, flags: TcpFlags, payload: &[u8]) -> Vec<u8> {
    wire::tcp_frame(PEER, CORE, &TcpRepr::new(40000, PORT, c.seq, c.ack, flags, 64240), payload)
}

fn open(sim: &mut CoreSim) -> Result<Conn, Box<dyn std::error::Error>> {
    let syn = TcpRepr::new(40000, PORT, SeqNum(1000), SeqNum(0), TcpFlags::SYN, 64240).with_mss(1460);
    sim.push_frame(&wire::tcp_frame(PEER, CORE, &syn, &[]));
    sim.run_until_idle(100_000)?;
    let f = sim.pop_tx_frame().ok_or("no SYN-ACK")?;
    let parsed = wire::Frame::parse(&f)?;
    let (_, synack, _) = parsed.tcp().ok_or("SYN-ACK is not TCP")?;
    let c = Conn { id: 0, seq: SeqNum(1001), ack: synack.seq + 1 };
    sim.push_frame(&segment(&c, TcpFlags::ACK, &[]));
    sim.run_until_idle(100_000)?;
    // Find the connection's TCB id by its remote port.
    for id in 0..map::CoreParams::DEFAULT.conns() as u32 {
        let w1 = sim.reg_read(map::tcb_word_addr(id, map::tcb::REMOTE_PORT.word))?;
        let state = sim.reg_read(map::tcb_word_addr(id, map::tcb::STATE.word))?;
        if map::tcb::REMOTE_PORT.get(&[w1; map::TCB_WORDS]) == 40000 && map::tcb::STATE.get(&[state; map::TCB_WORDS]) == map::TcpState::Established as u32 {
            return Ok(Conn { id, ..c });
        }
    }
    Err("handshake did not reach ESTABLISHED".into())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut frames = 2000u64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--frames" => frames = args.next().and_then(|v| v.parse().ok()).ok_or("--frames needs a number")?,
            _ => return Err(format!("unknown argument {a}; usage: core-bench [--frames N]").into()),
        }
    }

    // 1. In-order 1460-byte segments, holdback off; the host releases after each.
    let mut sim = CoreSim::new()?;
    configure(&mut sim, false)?;
    let mut c = open(&mut sim)?;
    let payload: Vec<u8> = (0..1460u32).map(|i| i as u8).collect();
    let (c0, b0, t0) = (sim.cycles(), sim.counters().bytes_in, Instant::now());
    let mut host_cycles = 0u64;
    for _ in 0..frames {
        sim.push_frame(&segment(&c, TcpFlags::ACK | TcpFlags::PSH, &payload));
        c.seq += payload.len() as u32;
        // Let the frame in, then release it as a host would (costs bus cycles only).
        while sim.rx_pending() > 0 {
            sim.cycle();
        }
        let h = sim.cycles();
        sim.reg_write(map::release_addr(c.id), c.seq.0)?;
        host_cycles += sim.cycles() - h;
        while sim.pop_tx_frame().is_some() {}
    }
    sim.run_until_idle(1_000_000)?;
    let (cycles, bytes, secs) = (sim.cycles() - c0, sim.counters().bytes_in - b0, t0.elapsed().as_secs_f64());
    let rcv_nxt = sim.reg_read(map::tcb_word_addr(c.id, map::tcb::RCV_NXT.word))?;
    assert_eq!(rcv_nxt, c.seq.0, "every segment was taken in order");
    let datapath = cycles - host_cycles;
    println!(
        "rx 1514-byte TCP frames: {:.2} bytes/cycle of frame data ({:.1} cycles/frame) excluding the host's release writes, \
         {:.2} including them; simulator {:.2} M cycles/s, {:.1} Mbit/s of simulated traffic",
        bytes as f64 / datapath as f64,
        datapath as f64 / frames as f64,
        bytes as f64 / cycles as f64,
        cycles as f64 / secs / 1e6,
        bytes as f64 * 8.0 / secs / 1e6
    );

    // 2. Minimum frames: 60-byte pure ACKs (padded) to the established connection.
    let ack = {
        let mut f = segment(&c, TcpFlags::ACK, &[]);
        f.resize(60, 0);
        f
    };
    let c0 = sim.cycles();
    for _ in 0..frames {
        sim.push_frame(&ack);
    }
    sim.run_until_idle(100 * frames)?;
    println!("rx 60-byte pure ACKs: {:.1} cycles/frame (target <= 10.5)", (sim.cycles() - c0) as f64 / frames as f64);
    drop(sim);

    // 3. Release -> first beat of the ACK, holdback on.
    let mut sim = CoreSim::new()?;
    configure(&mut sim, true)?;
    let mut c = open(&mut sim)?;
    let m_tvalid = sim.model().port("m_tvalid")?;
    let mut lat = Vec::new();
    for _ in 0..50 {
        sim.push_frame(&segment(&c, TcpFlags::ACK | TcpFlags::PSH, &payload[..100]));
        c.seq += 100;
        sim.run_until_idle(100_000)?;
        while sim.pop_tx_frame().is_some() {}
        let start = sim.cycles();
        sim.reg_write(map::release_addr(c.id), c.seq.0)?;
        while sim.model().get(m_tvalid) == 0 {
            if sim.cycles() - start > 10_000 {
                return Err("no ACK within 10000 cycles of a release".into());
            }
            sim.cycle();
        }
        lat.push(sim.cycles() - start);
        sim.run_until_idle(100_000)?;
        while sim.pop_tx_frame().is_some() {}
    }
    lat.sort_unstable();
    println!(
        "release write -> first ACK beat: median {} cycles, max {} cycles (incl. the bus handshake)",
        lat[lat.len() / 2],
        lat[lat.len() - 1]
    );
    Ok(())
}
