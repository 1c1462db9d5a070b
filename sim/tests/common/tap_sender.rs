//! The card as a sender to a real Linux peer (`tx_tap.rs`,
//! `tx_zero_window_tap.rs`): the simulated card on a TAP inside a throwaway
//! namespace listening on [`PORT`] at 198.18.0.2, the namespace's side at
//! 198.18.0.1, and the host's part: keep the connection's transmit ring full
//! from a stream, refilled as the card's snd_una (read from its TCB) shows
//! what Linux acknowledged.
#![allow(dead_code)] // each test binary uses its own subset

use std::{
    io::Read,
    net::{SocketAddr, TcpStream},
    path::PathBuf,
    process::Command,
    sync::mpsc,
    thread::JoinHandle,
    time::{Duration, Instant},
};

use holdback_regmap as map;
use holdback_regmap::TcpState;
use holdback_sim::card::{Card, CardConfig, RegPort, TapSpec};
use holdback_sim::host_mem::HostMemory;

use super::netns::{ip, Netns};

pub const RING_LOG2: u32 = 14;
pub const RING: u32 = 1 << RING_LOG2;
pub const PORT: u16 = 5001;

pub struct TapSender {
    pub card: Card,
    pub regs: RegPort,
    mem: HostMemory,
    tx_base: u64,
}

/// One field of connection 0's TCB.
pub fn tcb(regs: &RegPort, field: map::TcbField) -> u32 {
    let mut words = [0u32; map::TCB_WORDS];
    words[field.word as usize] = regs.read32(map::tcb_word_addr(0, field.word)).expect("TCB read");
    field.get(&words)
}

impl TapSender {
    /// Starts the card on TAP `tap` in `ns`, recording to `pcap` if given, with
    /// `more` register writes after the common ones (RTO_US, say).
    pub fn start(ns: &Netns, tap: &str, pcap: Option<PathBuf>, more: &[(map::Reg, u32)]) -> TapSender {
        let card = Card::start(CardConfig {
            tap: Some(TapSpec { name: tap.to_string(), netns: Some(ns.0.clone()) }),
            pcap,
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
        let common = [
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
        ];
        for (reg, v) in common.iter().chain(more).chain(&[(map::CTRL, map::CTRL_ENABLE)]) {
            regs.write32(reg.offset, *v).unwrap_or_else(|e| panic!("write {}: {e}", reg.name));
        }
        let _ = Command::new("ip").args(["netns", "exec", &ns.0, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]).status();
        ip(&["-n", &ns.0, "addr", "add", "198.18.0.1/24", "dev", tap]);
        ip(&["-n", &ns.0, "link", "set", tap, "up"]);
        TapSender { card, regs, mem, tx_base }
    }

    /// Waits for connection 0 to be ESTABLISHED, then writes `data` into its
    /// ring as fast as the card's snd_una frees room, until `done` says the
    /// Linux side has it all. Panics at `deadline`.
    pub fn send_all(&self, data: &[u8], done: &mpsc::Receiver<()>, deadline: Instant) {
        while tcb(&self.regs, map::tcb::STATE) != TcpState::Established as u32 {
            assert!(Instant::now() < deadline, "Linux never connected");
            std::thread::sleep(Duration::from_millis(5));
        }
        let iss = tcb(&self.regs, map::tcb::ISS);
        let mut written = 0usize;
        while done.try_recv().is_err() {
            assert!(Instant::now() < deadline, "not done in time: {written} of {} bytes written", data.len());
            let acked = tcb(&self.regs, map::tcb::SND_UNA).wrapping_sub(iss.wrapping_add(1)) as usize;
            let end = data.len().min(acked + RING as usize);
            if end > written {
                for off in written..end {
                    let at = self.tx_base + (off as u64 & u64::from(RING - 1));
                    self.mem.write(at, &data[off..off + 1]).expect("ring write");
                }
                written = end;
                self.regs.write32(map::tx_tail_addr(0), written as u32).expect("TX_TAIL");
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// The Linux side: a thread in namespace `ns` connects to the card, waits
/// `pause` without reading, then reads `bytes` bytes (giving up after
/// `read_timeout` without progress) and signals the returned receiver.
pub fn linux_reader(ns: &Netns, bytes: usize, pause: Duration, read_timeout: Duration) -> (JoinHandle<Result<Vec<u8>, String>>, mpsc::Receiver<()>) {
    let (done_tx, done_rx) = mpsc::channel();
    let ns_name = ns.0.clone();
    let reader = std::thread::spawn(move || -> Result<Vec<u8>, String> {
        holdback_sim::tap::enter_netns(&ns_name).map_err(|e| e.to_string())?;
        let addr: SocketAddr = ([198, 18, 0, 2], PORT).into();
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).map_err(|e| format!("connect: {e}"))?;
        std::thread::sleep(pause);
        s.set_read_timeout(Some(read_timeout)).map_err(|e| e.to_string())?;
        let mut got = vec![0u8; bytes];
        s.read_exact(&mut got).map_err(|e| format!("read: {e}"))?;
        let _ = done_tx.send(());
        Ok(got)
    });
    (reader, done_rx)
}
