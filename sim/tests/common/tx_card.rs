//! The whole core with its transmit rings set up, one peer and connection 0,
//! for the TX tests (`tx_send.rs`, `tx_retransmit.rs`).
#![allow(dead_code)] // each test binary uses its own subset

use std::net::Ipv4Addr;

use holdback_regmap as map;
use holdback_regmap::{Stat, TcpState};
use holdback_sim::core_sim::CoreSim;
use holdback_sim::wire::{tcp_frame, Endpoint, Frame, MacAddr, SeqNum, TcpFlags, TcpRepr};

pub const CORE: Endpoint = Endpoint { mac: MacAddr([0x02, 0x00, 0x5e, 0x00, 0x00, 0x02]), ip: Ipv4Addr::new(198, 18, 0, 2) };
pub const PEER: Endpoint = Endpoint { mac: MacAddr([0x02, 0, 0, 0, 0, 0x11]), ip: Ipv4Addr::new(198, 18, 1, 17) };
pub const LISTEN: u16 = 5001;
pub const PEER_PORT: u16 = 40001;
pub const MSS: u16 = 1460;
/// The card's initial window for SMSS 1460 (RFC 5681 §3.1 eq. 1).
pub const PEER_WINDOW: u16 = 3 * MSS;
pub const RING_LOG2: u32 = 12;
pub const RING: u32 = 1 << RING_LOG2;
pub const IDLE_CYCLES: u64 = 200_000;

pub fn seed() -> u64 {
    let seed = std::env::var("HOLDBACK_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
    eprintln!("HOLDBACK_TEST_SEED={seed}");
    seed
}

/// The core with receive rings of 4 KiB and transmit rings of
/// `1 << tx_log2` bytes in host memory (event queue off: nothing here reads
/// the records), one listening port, holdback off.
pub struct Card {
    pub sim: CoreSim,
    pub tx_base: u64,
    pub tx_ring: u32,
}

impl Card {
    pub fn new(tx_log2: u32) -> Card {
        let mut sim = CoreSim::new().unwrap_or_else(|e| panic!("cannot start the Verilated core ({e}); the sim crate needs verilator"));
        let conns = sim.reg_read(map::ID_CONNS.offset).expect("ID_CONNS") as u64;
        let mem = sim.host_memory();
        let rx_base = mem.base_iova().next_multiple_of(map::HOST_RING_ALIGN);
        let tx_base = rx_base + (conns << RING_LOG2);
        assert!(mem.contains(tx_base, (conns << tx_log2) as usize), "host memory holds both ring sets");
        let mac = CORE.mac.to_u64();
        for (reg, v) in [
            (map::RX_RING_BASE_LO, rx_base as u32),
            (map::RX_RING_BASE_HI, (rx_base >> 32) as u32),
            (map::RX_RING_LOG2, RING_LOG2),
            (map::TX_RING_BASE_LO, tx_base as u32),
            (map::TX_RING_BASE_HI, (tx_base >> 32) as u32),
            (map::TX_RING_LOG2, tx_log2),
            (map::MAC_HI, (mac >> 32) as u32),
            (map::MAC_LO, mac as u32),
            (map::IPV4_ADDR, u32::from(CORE.ip)),
            (map::LISTEN0, map::listen_value(LISTEN, Some(false))),
            (map::OUR_MSS, u32::from(MSS)),
            (map::RTO_US, 200_000),
            (map::CTRL, map::CTRL_ENABLE),
        ] {
            sim.reg_write(reg.offset, v).unwrap_or_else(|e| panic!("write {}: {e}", reg.name));
        }
        Card { sim, tx_base, tx_ring: 1 << tx_log2 }
    }

    pub fn idle(&mut self) {
        self.sim.run_until_idle(IDLE_CYCLES).expect("the core goes idle");
    }

    pub fn send(&mut self, tcp: &TcpRepr, payload: &[u8]) {
        self.sim.push_frame(&tcp_frame(PEER, CORE, tcp, payload));
    }

    pub fn frames(&mut self) -> Vec<(TcpRepr, Vec<u8>)> {
        let mut out = Vec::new();
        while let Some(bytes) = self.sim.pop_tx_frame() {
            let frame = Frame::parse(&bytes).unwrap_or_else(|e| panic!("the core sent a frame that does not parse or verify ({e}): {bytes:02x?}"));
            let (ip, tcp, payload) = frame.tcp().unwrap_or_else(|| panic!("not TCP: {frame:?}"));
            assert_eq!((ip.src, ip.dst, tcp.src_port, tcp.dst_port), (CORE.ip, PEER.ip, LISTEN, PEER_PORT));
            out.push((tcp.clone(), payload.to_vec()));
        }
        out
    }

    pub fn stat(&mut self, s: Stat) -> u32 {
        self.sim.reg_read(s.offset()).expect("stat read")
    }

    pub fn tcb(&mut self, field: map::TcbField) -> u32 {
        let mut words = [0u32; map::TCB_WORDS];
        words[field.word as usize] = self.sim.reg_read(map::tcb_word_addr(0, field.word)).expect("TCB read");
        field.get(&words)
    }

    /// The host puts `data` at stream offset `off` of connection 0's ring.
    pub fn write_ring(&mut self, off: u32, data: &[u8]) {
        let mem = self.sim.host_memory();
        for (i, b) in data.iter().enumerate() {
            let at = (off as u64 + i as u64) & u64::from(self.tx_ring - 1);
            mem.write(self.tx_base + at, &[*b]).expect("ring write");
        }
    }

    pub fn doorbell(&mut self, tail: u32) {
        self.sim.reg_write(map::tx_tail_addr(0), tail).expect("TX_TAIL write");
    }
}

/// The handshake from the peer with `isn` and `window`; returns the card's ISS.
pub fn open(card: &mut Card, isn: u32, window: u16) -> SeqNum {
    let syn = TcpRepr::new(PEER_PORT, LISTEN, SeqNum(isn), SeqNum(0), TcpFlags::SYN, window).with_mss(MSS);
    card.send(&syn, &[]);
    card.idle();
    let frames = card.frames();
    assert_eq!(frames.len(), 1, "one SYN-ACK");
    let iss = frames[0].0.seq;
    let ack = TcpRepr::new(PEER_PORT, LISTEN, SeqNum(isn) + 1, iss + 1, TcpFlags::ACK, window);
    card.send(&ack, &[]);
    card.idle();
    assert!(card.frames().is_empty(), "the handshake's ACK is not answered");
    assert_eq!(card.tcb(map::tcb::STATE), TcpState::Established as u32, "connection 0 is established");
    iss
}

