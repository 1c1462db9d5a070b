//! The core's hardware figures, measured on the Verilated core with real TCP
//! frames: simulated cycles per received frame for every frame size, bytes per
//! cycle, the cycles from a release-register write to the ACK it lets out, and
//! how fast the simulator itself runs. `core-bench` prints them and
//! `holdback bench` reports them with the area and the lab's goodput.
//!
//! Cycles are the hardware figure (the core's clock is 156.25 MHz with a
//! 64-bit datapath, so 10 GbE line rate is 8 bytes of wire per cycle); wall
//! time only tells how fast the simulator is.
use std::net::Ipv4Addr;
use std::time::Instant;

use holdback_regmap as map;
use holdback_regmap::event_queue::{EventQueueConsumer, EventQueueError, EventRecordError, EventRing};

use crate::core_sim::CoreSim;
use crate::host_mem::{DmaLayout, HostMemError, HostRegion};
use crate::wire::{self, Endpoint, MacAddr, SeqNum, TcpFlags, TcpRepr};
use crate::SimError;

const CORE: Endpoint = Endpoint { mac: MacAddr([0x02, 0, 0x5e, 0, 0, 2]), ip: Ipv4Addr::new(198, 18, 0, 2) };
const PEER: Endpoint = Endpoint { mac: MacAddr([0x02, 0, 0x5e, 0, 0, 9]), ip: Ipv4Addr::new(198, 18, 0, 9) };
const PORT: u16 = 5001;
const PEER_PORT: u16 = 40000;

/// Ethernet + IPv4 + TCP headers (no options) and the FCS: a frame of
/// `wire_bytes` on the wire carries `wire_bytes - FRAME_OVERHEAD` payload bytes.
pub const FRAME_OVERHEAD: usize = 14 + 20 + 20 + 4;
/// Preamble, start delimiter and the minimum inter-frame gap: what a frame
/// occupies on the wire beyond its own bytes.
pub const WIRE_GAP: usize = 8 + 12;
/// Bytes of wire per core cycle at 10 GbE (64 bits at 156.25 MHz).
pub const LINE_BYTES_PER_CYCLE: f64 = 8.0;
/// The frame sizes (on the wire, FCS included) `holdback bench` sweeps.
pub const FRAME_SIZES: [usize; 7] = [64, 128, 256, 512, 1024, 1280, 1518];

/// The cycles a frame of `wire_bytes` occupies at 10 GbE line rate: a core
/// slower than this per frame drops frames at full load.
pub fn line_rate_cycles(wire_bytes: usize) -> f64 {
    (wire_bytes + WIRE_GAP) as f64 / LINE_BYTES_PER_CYCLE
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Sim(#[from] SimError),
    #[error("laying out the receive rings in the simulated host memory")]
    HostMemory(#[from] HostMemError),
    #[error("a {wire_bytes}-byte frame is below the 64-byte Ethernet minimum or above 1518")]
    FrameSize { wire_bytes: usize },
    #[error("the handshake did not reach ESTABLISHED: {0}")]
    Handshake(String),
    #[error("the core took {taken} of {sent} payload bytes in order: it dropped or refused segments")]
    Incomplete { sent: u32, taken: u32 },
    #[error("no ACK within {cycles} cycles of a release")]
    NoAck { cycles: u64 },
    #[error("the card reports an event ring of {entries} records (ID_EQ_ENTRIES)")]
    EventRing { entries: u32, source: EventRecordError },
    #[error("reading the event ring")]
    EventQueue(#[from] EventQueueError),
    #[error("the event queue reported no record of the last state (rcv_nxt {rcv_nxt:#x}) of the bench's connection")]
    StaleEvents { rcv_nxt: u32 },
}

/// Whether the card writes change records to an event ring the host consumes
/// (what a driver runs with) or leaves the event queue off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventQueue {
    On,
    Off,
}

/// Receive throughput at one frame size.
#[derive(Clone, Copy, Debug)]
pub struct RxFigure {
    /// Frame size on the wire, FCS included.
    pub wire_bytes: usize,
    pub frames: u64,
    /// Core cycles per frame, excluding the host's release-register writes.
    pub cycles_per_frame: f64,
    /// The line-rate budget for this size ([`line_rate_cycles`]).
    pub line_rate_cycles: f64,
    /// Frame bytes (FCS excluded, as the MAC hands them over) per cycle.
    pub bytes_per_cycle: f64,
    /// Simulated core cycles per wall-clock second while measuring.
    pub sim_cycles_per_second: f64,
}

struct Conn {
    id: u32,
    seq: SeqNum,
    ack: SeqNum,
}

/// The host's side of the event ring: takes every record written and hands
/// the consumer count back, as a driver's event loop does.
struct EventHost {
    ring: HostRegion,
    consumer: EventQueueConsumer,
    /// The last record's TCB rcv_nxt for the bench's connection.
    last_rcv_nxt: Option<u32>,
}

impl EventHost {
    /// Takes every finished record; writes EQ_CONS when it took any.
    fn consume(&mut self, sim: &mut CoreSim, conn: u32) -> Result<(), BenchError> {
        let before = self.consumer.consumed();
        while let Some(r) = self.consumer.poll(&self.ring)? {
            if u32::from(r.conn) == conn {
                self.last_rcv_nxt = Some(r.tcb.rcv_nxt.0);
            }
        }
        if self.consumer.consumed() != before {
            sim.reg_write(map::EQ_CONS.offset, u32::from(self.consumer.consumed()))?;
        }
        Ok(())
    }
}

fn configure(sim: &mut CoreSim, holdback: bool, events: EventQueue) -> Result<Option<EventHost>, BenchError> {
    // The receive rings in the simulated host's memory (64 KiB each), as a
    // driver lays them out: payload goes there by DMA; the event ring after them.
    let conns = map::CoreParams::DEFAULT.conns();
    let entries = sim.reg_read(map::ID_EQ_ENTRIES.offset)?;
    let ring = EventRing::new(entries.trailing_zeros()).map_err(|source| BenchError::EventRing { entries, source })?;
    let dma = DmaLayout::new(&sim.host_memory(), conns, map::RX_RING_LOG2_DEFAULT, entries as usize)?;
    sim.reg_write(map::RX_RING_BASE_LO.offset, dma.rx_ring_base as u32)?;
    sim.reg_write(map::RX_RING_BASE_HI.offset, (dma.rx_ring_base >> 32) as u32)?;
    sim.reg_write(map::RX_RING_LOG2.offset, dma.ring_log2)?;
    sim.reg_write(map::MAC_HI.offset, u32::from(CORE.mac.0[0]) << 8 | u32::from(CORE.mac.0[1]))?;
    sim.reg_write(map::MAC_LO.offset, u32::from_be_bytes([CORE.mac.0[2], CORE.mac.0[3], CORE.mac.0[4], CORE.mac.0[5]]))?;
    sim.reg_write(map::IPV4_ADDR.offset, u32::from(CORE.ip))?;
    sim.reg_write(map::LISTEN0.offset, map::LISTEN_ENABLE | u32::from(PORT))?;
    let hb = if holdback { map::CTRL_HOLDBACK } else { 0 };
    sim.reg_write(map::CTRL.offset, map::CTRL_ENABLE | hb)?;
    if events == EventQueue::Off {
        return Ok(None);
    }
    let mem = sim.host_memory();
    mem.zero(dma.eq_base, dma.eq_bytes())?;
    sim.reg_write(map::EQ_BASE_LO.offset, dma.eq_base as u32)?;
    sim.reg_write(map::EQ_BASE_HI.offset, (dma.eq_base >> 32) as u32)?;
    sim.reg_write(map::EQ_CONS.offset, 0)?;
    sim.reg_write(map::EQ_CTRL.offset, map::EQ_CTRL_ENABLE)?;
    let ring_mem = mem.region(dma.eq_base, dma.eq_bytes())?;
    Ok(Some(EventHost { ring: ring_mem, consumer: EventQueueConsumer::new(ring), last_rcv_nxt: None }))
}

fn segment(c: &Conn, flags: TcpFlags, payload: &[u8]) -> Vec<u8> {
    wire::tcp_frame(PEER, CORE, &TcpRepr::new(PEER_PORT, PORT, c.seq, c.ack, flags, 64240), payload)
}

fn open(sim: &mut CoreSim) -> Result<Conn, BenchError> {
    let syn = TcpRepr::new(PEER_PORT, PORT, SeqNum(1000), SeqNum(0), TcpFlags::SYN, 64240).with_mss(1460);
    sim.push_frame(&wire::tcp_frame(PEER, CORE, &syn, &[]));
    sim.run_until_idle(100_000)?;
    let f = sim.pop_tx_frame().ok_or_else(|| BenchError::Handshake("no SYN-ACK".into()))?;
    let parsed = wire::Frame::parse(&f).map_err(|e| BenchError::Handshake(format!("the SYN-ACK does not parse: {e}")))?;
    let (_, synack, _) = parsed.tcp().ok_or_else(|| BenchError::Handshake("the SYN-ACK is not TCP".into()))?;
    let c = Conn { id: 0, seq: SeqNum(1001), ack: synack.seq + 1 };
    sim.push_frame(&segment(&c, TcpFlags::ACK, &[]));
    sim.run_until_idle(100_000)?;
    for id in 0..map::CoreParams::DEFAULT.conns() as u32 {
        let port = sim.reg_read(map::tcb_word_addr(id, map::tcb::REMOTE_PORT.word))?;
        let state = sim.reg_read(map::tcb_word_addr(id, map::tcb::STATE.word))?;
        if map::tcb::REMOTE_PORT.get(&[port; map::TCB_WORDS]) == u32::from(PEER_PORT)
            && map::tcb::STATE.get(&[state; map::TCB_WORDS]) == map::TcpState::Established as u32
        {
            return Ok(Conn { id, ..c });
        }
    }
    Err(BenchError::Handshake("no TCB in ESTABLISHED for the peer's port".into()))
}

/// A fresh core with one established connection to the bench's peer.
fn established(holdback: bool, events: EventQueue) -> Result<(CoreSim, Conn, Option<EventHost>), BenchError> {
    let mut sim = CoreSim::new()?;
    let mut host = configure(&mut sim, holdback, events)?;
    let c = open(&mut sim)?;
    if let Some(h) = host.as_mut() {
        h.consume(&mut sim, c.id)?;
    }
    Ok((sim, c, host))
}

/// `frames` in-order data segments of `wire_bytes` each into one established
/// connection, each frame pushed as soon as the previous one has entered the
/// core. The host releases about once per 1460 payload bytes, as a sink
/// committing MSS-sized chunks would (with holdback on, each release lets an
/// ACK out, so the transmit side works too); the bus cycles of those writes are
/// the host's, not the datapath's, and are excluded. With the event queue on,
/// the host also takes the change records at each release and hands EQ_CONS
/// back (that register write is the host's too), and the run is refused
/// unless the last record it saw carries the connection's final rcv_nxt.
pub fn rx_frames(wire_bytes: usize, frames: u64, holdback: bool, events: EventQueue) -> Result<RxFigure, BenchError> {
    if !(64..=1518).contains(&wire_bytes) {
        return Err(BenchError::FrameSize { wire_bytes });
    }
    let payload_len = wire_bytes - FRAME_OVERHEAD;
    let payload: Vec<u8> = (0..payload_len).map(|i| i as u8).collect();
    let frames_per_release = 1460usize.div_ceil(payload_len) as u64;
    let (mut sim, mut c, mut host) = established(holdback, events)?;
    let first_seq = c.seq;
    let (c0, b0, t0) = (sim.cycles(), sim.counters().bytes_in, Instant::now());
    let mut host_cycles = 0u64;
    for n in 1..=frames {
        sim.push_frame(&segment(&c, TcpFlags::ACK | TcpFlags::PSH, &payload));
        c.seq += payload_len as u32;
        while sim.rx_pending() > 0 {
            sim.cycle();
        }
        if n % frames_per_release == 0 || n == frames {
            let h = sim.cycles();
            sim.reg_write(map::release_addr(c.id), c.seq.0)?;
            if let Some(host) = host.as_mut() {
                host.consume(&mut sim, c.id)?;
            }
            host_cycles += sim.cycles() - h;
        }
        while sim.pop_tx_frame().is_some() {}
    }
    sim.run_until_idle(1_000_000)?;
    if let Some(host) = host.as_mut() {
        // The records still due after the last frame are the datapath's work too.
        host.consume(&mut sim, c.id)?;
        sim.run_until_idle(1_000_000)?;
        host.consume(&mut sim, c.id)?;
    }
    let (cycles, bytes, secs) = (sim.cycles() - c0, sim.counters().bytes_in - b0, t0.elapsed().as_secs_f64());
    let rcv_nxt = sim.reg_read(map::tcb_word_addr(c.id, map::tcb::RCV_NXT.word))?;
    if rcv_nxt != c.seq.0 {
        return Err(BenchError::Incomplete { sent: c.seq.0.wrapping_sub(first_seq.0), taken: rcv_nxt.wrapping_sub(first_seq.0) });
    }
    if let Some(host) = &host {
        if host.last_rcv_nxt != Some(rcv_nxt) {
            return Err(BenchError::StaleEvents { rcv_nxt });
        }
    }
    let datapath = (cycles - host_cycles).max(1);
    Ok(RxFigure {
        wire_bytes,
        frames,
        cycles_per_frame: datapath as f64 / frames as f64,
        line_rate_cycles: line_rate_cycles(wire_bytes),
        bytes_per_cycle: bytes as f64 / datapath as f64,
        sim_cycles_per_second: cycles as f64 / secs.max(1e-9),
    })
}

/// Cycles per minimum-size frame: `frames` 60-byte pure ACKs (64 on the wire)
/// back to back into an established connection, all queued at once.
pub fn min_frame_cycles(frames: u64) -> Result<f64, BenchError> {
    let (mut sim, c, _) = established(false, EventQueue::Off)?;
    let mut ack = segment(&c, TcpFlags::ACK, &[]);
    ack.resize(60, 0);
    let c0 = sim.cycles();
    for _ in 0..frames {
        sim.push_frame(&ack);
    }
    sim.run_until_idle(100 * frames.max(1))?;
    Ok((sim.cycles() - c0) as f64 / frames.max(1) as f64)
}

/// Cycles from a release-register write to the first beat of the ACK it lets
/// out (holdback on), bus handshake included, for `samples` releases; sorted.
pub fn release_to_ack(samples: usize) -> Result<Vec<u64>, BenchError> {
    const LIMIT: u64 = 10_000;
    let (mut sim, mut c, _) = established(true, EventQueue::Off)?;
    let m_tvalid = sim.model().port("m_tvalid")?;
    let payload = [0x5au8; 100];
    let mut lat = Vec::with_capacity(samples);
    for _ in 0..samples {
        sim.push_frame(&segment(&c, TcpFlags::ACK | TcpFlags::PSH, &payload));
        c.seq += payload.len() as u32;
        sim.run_until_idle(100_000)?;
        while sim.pop_tx_frame().is_some() {}
        let start = sim.cycles();
        sim.reg_write(map::release_addr(c.id), c.seq.0)?;
        while sim.model().get(m_tvalid) == 0 {
            if sim.cycles() - start > LIMIT {
                return Err(BenchError::NoAck { cycles: LIMIT });
            }
            sim.cycle();
        }
        lat.push(sim.cycles() - start);
        sim.run_until_idle(100_000)?;
        while sim.pop_tx_frame().is_some() {}
    }
    lat.sort_unstable();
    Ok(lat)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_rate_budget_is_ten_and_a_half_cycles_for_the_smallest_frame() {
        assert_eq!(line_rate_cycles(64), 10.5);
        assert_eq!(line_rate_cycles(1518), 192.25);
    }
}

/// Relay mode's added latency (docs/relay.md): cycles from a segment's push
/// into the core to the first beat of the segment relaying it to the other
/// side, both directions, `samples` each, sorted. The path is the whole one
/// a relayed byte takes: parser, engine, the receive ring's DMA write, the
/// relay visit, the send queue and the transmit fetch's read of that ring.
#[derive(Clone, Debug)]
pub struct RelayLatency {
    /// Client to server.
    pub up: Vec<u64>,
    /// Server to client.
    pub down: Vec<u64>,
}

const RELAY_CLIENT: Endpoint = PEER;
const RELAY_SERVER: Endpoint = Endpoint { mac: MacAddr([0x02, 0, 0x5e, 0, 0, 0x19]), ip: Ipv4Addr::new(198, 18, 1, 9) };
const RELAY_BACKEND_PORT: u16 = 80;

fn relay_segment(from: Endpoint, ports: (u16, u16), seq: SeqNum, ack: SeqNum, flags: TcpFlags, payload: &[u8]) -> Vec<u8> {
    wire::tcp_frame(from, CORE, &TcpRepr::new(ports.0, ports.1, seq, ack, flags, 64240), payload)
}

/// The core's TCP segments out, parsed as (destination IP, header, payload length).
fn drain_segments(sim: &mut CoreSim) -> Result<Vec<(Ipv4Addr, TcpRepr, usize)>, BenchError> {
    let mut out = Vec::new();
    while let Some(f) = sim.pop_tx_frame() {
        let p = wire::Frame::parse(&f).map_err(|e| BenchError::Handshake(format!("our frame does not parse: {e}")))?;
        if let Some((ip, tcp, payload)) = p.tcp() {
            out.push((ip.dst, tcp.clone(), payload.len()));
        }
    }
    Ok(out)
}

/// Cycles from pushing `frame` to the first beat out, which must start the
/// segment relaying its `len` bytes to `to`.
fn relayed_after(sim: &mut CoreSim, frame: &[u8], to: Ipv4Addr, len: usize) -> Result<u64, BenchError> {
    let lat = cycles_to_first_beat(sim, frame)?;
    let out = drain_segments(sim)?;
    match out.first() {
        Some((ip, _, n)) if *ip == to && *n == len => Ok(lat),
        _ => Err(BenchError::Handshake(format!("the first segment out does not relay the {len} bytes to {to}: {out:?}"))),
    }
}

fn cycles_to_first_beat(sim: &mut CoreSim, frame: &[u8]) -> Result<u64, BenchError> {
    const LIMIT: u64 = 100_000;
    let m_tvalid = sim.model().port("m_tvalid")?;
    let start = sim.cycles();
    sim.push_frame(frame);
    while sim.model().get(m_tvalid) == 0 {
        if sim.cycles() - start > LIMIT {
            return Err(BenchError::NoAck { cycles: LIMIT });
        }
        sim.cycle();
    }
    let lat = sim.cycles() - start;
    sim.run_until_idle(1_000_000)?;
    Ok(lat)
}

/// See [`RelayLatency`].
pub fn relay_latency(samples: usize) -> Result<RelayLatency, BenchError> {
    let mut sim = CoreSim::new()?;
    configure(&mut sim, true, EventQueue::Off)?;
    let regs = map::RELAY_SLOTS[0];
    let mac = RELAY_SERVER.mac.to_u64();
    sim.reg_write(regs.ip.offset, u32::from(RELAY_SERVER.ip))?;
    sim.reg_write(regs.mac_hi.offset, (mac >> 32) as u32)?;
    sim.reg_write(regs.mac_lo.offset, mac as u32)?;
    sim.reg_write(regs.port.offset, map::RELAY_ENABLE | u32::from(RELAY_BACKEND_PORT))?;
    let cports = (PEER_PORT, PORT);

    // The open: the client's SYN, the card's SYN to the backend, its SYN-ACK, the client's ACK.
    let mut c_seq = SeqNum(1000);
    let syn = TcpRepr::new(cports.0, cports.1, c_seq, SeqNum(0), TcpFlags::SYN, 64240).with_mss(1460);
    sim.push_frame(&wire::tcp_frame(RELAY_CLIENT, CORE, &syn, &[]));
    sim.run_until_idle(100_000)?;
    let out = drain_segments(&mut sim)?;
    let Some((_, ssyn, _)) = out.iter().find(|(ip, t, _)| *ip == RELAY_SERVER.ip && t.flags == TcpFlags::SYN) else {
        return Err(BenchError::Handshake(format!("no SYN to the backend: {out:?}")));
    };
    let sports = (RELAY_BACKEND_PORT, ssyn.src_port);
    let mut s_ack = ssyn.seq + 1;
    let mut s_seq = SeqNum(5000);
    let synack = TcpRepr::new(sports.0, sports.1, s_seq, s_ack, TcpFlags::SYN | TcpFlags::ACK, 64240).with_mss(1460);
    sim.push_frame(&wire::tcp_frame(RELAY_SERVER, CORE, &synack, &[]));
    sim.run_until_idle(100_000)?;
    s_seq += 1;
    let out = drain_segments(&mut sim)?;
    let Some((_, csynack, _)) = out.iter().find(|(ip, t, _)| *ip == RELAY_CLIENT.ip && t.flags == TcpFlags::SYN | TcpFlags::ACK) else {
        return Err(BenchError::Handshake(format!("no SYN-ACK to the client: {out:?}")));
    };
    c_seq += 1;
    let mut c_ack = csynack.seq + 1;
    sim.push_frame(&relay_segment(RELAY_CLIENT, cports, c_seq, c_ack, TcpFlags::ACK, &[]));
    sim.run_until_idle(100_000)?;
    drain_segments(&mut sim)?;

    let payload = [0x5au8; 100];
    let len = payload.len() as u32;
    let mut lat = RelayLatency { up: Vec::with_capacity(samples), down: Vec::with_capacity(samples) };
    for _ in 0..samples {
        let seg = relay_segment(RELAY_CLIENT, cports, c_seq, c_ack, TcpFlags::ACK | TcpFlags::PSH, &payload);
        lat.up.push(relayed_after(&mut sim, &seg, RELAY_SERVER.ip, payload.len())?);
        c_seq += len;
        s_ack += len;
        // The backend ACKs: the client's ACK follows.
        sim.push_frame(&relay_segment(RELAY_SERVER, sports, s_seq, s_ack, TcpFlags::ACK, &[]));
        sim.run_until_idle(100_000)?;
        drain_segments(&mut sim)?;

        let seg = relay_segment(RELAY_SERVER, sports, s_seq, s_ack, TcpFlags::ACK | TcpFlags::PSH, &payload);
        lat.down.push(relayed_after(&mut sim, &seg, RELAY_CLIENT.ip, payload.len())?);
        s_seq += len;
        c_ack += len;
        sim.push_frame(&relay_segment(RELAY_CLIENT, cports, c_seq, c_ack, TcpFlags::ACK, &[]));
        sim.run_until_idle(100_000)?;
        drain_segments(&mut sim)?;
    }
    lat.up.sort_unstable();
    lat.down.sort_unstable();
    Ok(lat)
}
