//! The card sends to a real Linux peer: the simulated card on a TAP inside a
//! throwaway network namespace listens, a Linux socket in the namespace
//! connects and reads; the test, as the host, writes a stream into the
//! connection's transmit ring in host memory, rings the send-tail doorbell,
//! and refills the ring as the card's snd_una (read from its TCB) shows what
//! Linux acknowledged. Linux must read every byte intact and in order: its
//! TCP stack, not our model, judges the card's segments and checksums.
//! Needs root (netns + TAP); fails saying so otherwise.
#[path = "common/netns.rs"]
mod netns;

use std::{
    io::Read,
    net::{SocketAddr, TcpStream},
    process::Command,
    sync::mpsc,
    time::{Duration, Instant},
};

use holdback_regmap as map;
use holdback_regmap::{Stat, TcpState};
use holdback_sim::card::{Card, CardConfig, RegPort, TapSpec};
use netns::{ip, require_root_and_ip, Netns};
use rand::{rngs::SmallRng, Rng, SeedableRng};

const RING_LOG2: u32 = 14;
const RING: u32 = 1 << RING_LOG2;
const PORT: u16 = 5001;
const BYTES: usize = 256 * 1024;

fn tcb(regs: &RegPort, field: map::TcbField) -> u32 {
    let mut words = [0u32; map::TCB_WORDS];
    words[field.word as usize] = regs.read32(map::tcb_word_addr(0, field.word)).expect("TCB read");
    field.get(&words)
}

#[test]
fn a_linux_peer_reads_the_cards_stream_intact() {
    require_root_and_ip("tx_tap");
    let ns = Netns::new("hbtx");
    let tap = format!("hbtx{}", std::process::id() % 100_000);
    let card = Card::start(CardConfig {
        tap: Some(TapSpec { name: tap.clone(), netns: Some(ns.0.clone()) }),
        pcap: None,
        vcd: None,
        impair: None,
        ..CardConfig::default()
    })
    .unwrap_or_else(|e| panic!("Card::start: {e}"));
    let regs = card.regs();
    let mem = card.host_memory();
    let conns = u64::from(regs.read32(map::ID_CONNS.offset).expect("ID_CONNS"));
    let rx_base = mem.base_iova().next_multiple_of(map::HOST_RING_ALIGN);
    let tx_base = rx_base + (conns << 12);
    for (reg, v) in [
        (map::RX_RING_BASE_LO, rx_base as u32),
        (map::RX_RING_BASE_HI, (rx_base >> 32) as u32),
        (map::RX_RING_LOG2, 12),
        (map::TX_RING_BASE_LO, tx_base as u32),
        (map::TX_RING_BASE_HI, (tx_base >> 32) as u32),
        (map::TX_RING_LOG2, RING_LOG2),
        (map::MAC_HI, 0x0200),
        (map::MAC_LO, 0x0000_0002),
        (map::IPV4_ADDR, 0xC612_0002),
        (map::LISTEN0, map::listen_value(PORT, Some(false))),
        (map::OUR_MSS, 1460),
        (map::CTRL, map::CTRL_ENABLE),
    ] {
        regs.write32(reg.offset, v).unwrap_or_else(|e| panic!("write {}: {e}", reg.name));
    }
    let _ = Command::new("ip").args(["netns", "exec", &ns.0, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]).status();
    ip(&["-n", &ns.0, "addr", "add", "198.18.0.1/24", "dev", &tap]);
    ip(&["-n", &ns.0, "link", "set", &tap, "up"]);

    // The Linux side: a thread in the namespace connects and reads until the card stops sending.
    let (done_tx, done_rx) = mpsc::channel();
    let ns_name = ns.0.clone();
    let reader = std::thread::spawn(move || -> Result<Vec<u8>, String> {
        holdback_sim::tap::enter_netns(&ns_name).map_err(|e| e.to_string())?;
        let addr: SocketAddr = ([198, 18, 0, 2], PORT).into();
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).map_err(|e| format!("connect: {e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
        let mut got = vec![0u8; BYTES];
        s.read_exact(&mut got).map_err(|e| format!("read: {e}"))?;
        let _ = done_tx.send(());
        Ok(got)
    });

    let started = Instant::now();
    let deadline = started + Duration::from_secs(60);
    while tcb(&regs, map::tcb::STATE) != TcpState::Established as u32 {
        assert!(Instant::now() < deadline, "Linux never connected");
        std::thread::sleep(Duration::from_millis(5));
    }
    let iss = tcb(&regs, map::tcb::ISS);
    let data: Vec<u8> = {
        let mut rng = SmallRng::seed_from_u64(0x7478_7461_70);
        (0..BYTES).map(|_| rng.gen()).collect()
    };
    // The host: fill what the ring holds beyond snd_una, ring, repeat.
    let mut written = 0usize;
    while done_rx.try_recv().is_err() {
        assert!(Instant::now() < deadline, "not done in 60 s: {written} of {BYTES} bytes written");
        let acked = tcb(&regs, map::tcb::SND_UNA).wrapping_sub(iss.wrapping_add(1)) as usize;
        let end = BYTES.min(acked + RING as usize);
        if end > written {
            for off in written..end {
                let at = tx_base + (off as u64 & u64::from(RING - 1));
                mem.write(at, &data[off..off + 1]).expect("ring write");
            }
            written = end;
            regs.write32(map::tx_tail_addr(0), written as u32).expect("TX_TAIL");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let got = reader.join().expect("reader thread").unwrap_or_else(|e| panic!("the Linux reader failed: {e}"));
    let elapsed = started.elapsed();
    assert_eq!(regs.read32(Stat::TxTailRefused.offset()).expect("stat"), 0);
    let report = card.shutdown().unwrap_or_else(|e| panic!("shutdown: {e}"));
    let first_bad = got.iter().zip(&data).position(|(a, b)| a != b);
    assert_eq!(first_bad, None, "Linux read a different byte at offset {first_bad:?}");
    eprintln!("Linux read {BYTES} bytes intact in {elapsed:?}; card report {report:?}");
}
