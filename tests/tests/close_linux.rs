//! The card closes first, judged by a real Linux peer (needs root: a
//! throwaway network namespace and a TAP, removed on every path; and
//! tshark). A Linux client connects to the simulated card; the test, as the
//! host, writes a message into the connection's transmit ring, rings the
//! send-tail doorbell and at once writes CONN_CLOSE, so the card's FIN must
//! follow the message (RFC 9293 §3.10.4). Linux reads the message and then
//! end-of-stream, closes its side, and its socket ends CLOSED (gone from
//! `ss`) with no reset sent or received (the namespace's TCP counters);
//! the card goes FIN-WAIT-1/2 → TIME-WAIT (its TCB, read through the TCB
//! window) and frees the slot when TIME_WAIT_US is over. tshark finds no
//! RST, bad checksum, malformed frame or error-level expert note in the
//! card's capture.
use std::{
    io::Read,
    net::{SocketAddr, TcpStream},
    time::{Duration, Instant},
};

use holdback_daemon::lab::netns;
use holdback_regmap as map;
use holdback_regmap::{Stat, TcpState};
use holdback_sim::card::RegPort;
use holdback_tests::{bad_frames, require_lab_prerequisites, require_tool, tshark_count, card_on_tap, TapCard, TestNetns};

const PORT: u16 = 5001;
const CARD_IP: std::net::Ipv4Addr = std::net::Ipv4Addr::new(198, 18, 0, 2);
/// TIME-WAIT of the card's clock: short, so the test sees the slot freed.
const TIME_WAIT_US: u32 = 300_000;
const MESSAGE: &[u8] = b"the card says goodbye after these bytes";

fn ip(args: &[&str]) {
    if let Err(e) = netns::ip(args) {
        panic!("{e}");
    }
}

fn tcb(regs: &RegPort, field: map::TcbField) -> u32 {
    let mut words = [0u32; map::TCB_WORDS];
    words[field.word as usize] = regs.read32(map::tcb_word_addr(0, field.word)).expect("TCB read");
    field.get(&words)
}

fn state(regs: &RegPort) -> TcpState {
    TcpState::from_code(tcb(regs, map::tcb::STATE)).expect("a state code")
}

#[test]
fn the_card_closes_first_and_linux_ends_closed_without_a_reset() {
    require_lab_prerequisites();
    require_tool("tshark", "tshark");
    let started = Instant::now();
    let ns = TestNetns::new("close");
    let TapCard { card, dir, pcap, tap, tx_base } = card_on_tap(&ns, "close", CARD_IP);
    let regs = card.regs();
    let mem = card.host_memory();
    for (reg, v) in [
        (map::LISTEN0, map::listen_value(PORT, Some(false))),
        (map::TIME_WAIT_US, TIME_WAIT_US),
        (map::CTRL, map::CTRL_ENABLE),
    ] {
        regs.write32(reg.offset, v).unwrap_or_else(|e| panic!("write {}: {e}", reg.name));
    }
    netns::set_net_sysctl(&ns.0, "net.ipv6.conf.all.disable_ipv6", "1").unwrap_or_else(|e| panic!("{e}"));
    ip(&["-n", &ns.0, "addr", "add", "198.18.0.1/24", "dev", &tap]);
    ip(&["-n", &ns.0, "link", "set", &tap, "up"]);

    // Linux: connect, read to end-of-stream, close.
    let ns_name = ns.0.clone();
    let client = std::thread::spawn(move || -> Result<Vec<u8>, String> {
        netns::enter_netns(&ns_name).map_err(|e| e.to_string())?;
        let addr: SocketAddr = (CARD_IP, PORT).into();
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(20)).map_err(|e| format!("connect: {e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(30))).map_err(|e| e.to_string())?;
        let mut got = Vec::new();
        s.read_to_end(&mut got).map_err(|e| format!("reading to the card's FIN: {e}"))?;
        Ok(got)
    });

    let deadline = started + Duration::from_secs(90);
    while state(&regs) != TcpState::Established {
        assert!(Instant::now() < deadline, "Linux never connected");
        std::thread::sleep(Duration::from_millis(5));
    }
    // The host writes the message, rings the doorbell and closes at once:
    // the card must send the bytes first and its FIN after them.
    mem.write(tx_base, MESSAGE).expect("transmit ring write");
    regs.write32(map::tx_tail_addr(0), MESSAGE.len() as u32).expect("TX_TAIL");
    regs.write32(map::CONN_CLOSE.offset, 0).expect("CONN_CLOSE");

    let mut seen = vec![state(&regs)];
    while state(&regs) != TcpState::Closed {
        assert!(Instant::now() < deadline, "the card's slot never closed; states seen {seen:?}");
        let now = state(&regs);
        if seen.last() != Some(&now) {
            seen.push(now);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    seen.push(TcpState::Closed);
    let got = client.join().expect("client thread").unwrap_or_else(|e| panic!("the Linux client failed: {e}"));
    assert_eq!(got, MESSAGE, "Linux read the message, then the card's FIN");
    // Polling the state register can miss FIN-WAIT entirely (Linux's FIN may
    // follow the card's within one poll), so the order of the close is judged
    // from the capture below and TIME-WAIT from the card's own counter.

    // Linux's side: gone from the socket table (CLOSED), and no reset either way.
    let sockets = ns.run(&["ss", "-tanH", "state", "all", &format!("( sport = :{PORT} or dport = :{PORT} )")]);
    assert!(sockets.trim().is_empty(), "Linux still holds the connection: {sockets}");
    let (out_rsts, estab_resets) = (ns.tcp_counter("OutRsts"), ns.tcp_counter("EstabResets"));
    assert_eq!((out_rsts, estab_resets), (0, 0), "Linux sent or took a reset");
    for (stat, want) in [(Stat::RstSent, 0), (Stat::TimeWaitEntered, 1), (Stat::GiveUpResets, 0)] {
        assert_eq!(regs.read32(stat.offset()).expect("stat"), want, "{}", stat.name());
    }
    let report = card.shutdown().unwrap_or_else(|e| panic!("shutdown: {e}"));
    let (resets, which) = tshark_count(&pcap, "tcp.flags.reset == 1");
    assert_eq!(resets, 0, "no RST in the capture:\n{which}");
    let (bad, which) = tshark_count(&pcap, &bad_frames(CARD_IP));
    assert_eq!(bad, 0, "tshark flags frames:\n{which}");
    let (card_fins, _) = tshark_count(&pcap, &format!("tcp.flags.fin == 1 && ip.src == {CARD_IP}"));
    let (linux_fins, _) = tshark_count(&pcap, &format!("tcp.flags.fin == 1 && ip.dst == {CARD_IP}"));
    assert!(card_fins >= 1 && linux_fins >= 1, "a FIN each way: card {card_fins}, Linux {linux_fins}");
    // An active close (RFC 9293 §3.6): the card's first FIN precedes Linux's.
    let first_frame = |filter: String| {
        let (_, frames) = tshark_count(&pcap, &filter);
        frames.lines().find_map(|l| l.split_whitespace().next()?.parse::<u64>().ok())
    };
    let card_fin = first_frame(format!("tcp.flags.fin == 1 && ip.src == {CARD_IP}"));
    let linux_fin = first_frame(format!("tcp.flags.fin == 1 && ip.dst == {CARD_IP}"));
    assert!(matches!((card_fin, linux_fin), (Some(c), Some(l)) if c < l), "the card's FIN (frame {card_fin:?}) before Linux's (frame {linux_fin:?})");
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!("close_linux: card states {seen:?}; {:.1} s; card report {report:?}", started.elapsed().as_secs_f64());
}
