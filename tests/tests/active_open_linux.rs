//! The card opens connections to a real Linux server (needs root: a
//! throwaway network namespace and a TAP, removed on every path; and
//! tshark). The test is the card's host: it writes CONNECT, and the
//! simulated card's SYN reaches a Linux server listening in the namespace.
//!
//! 1. Active open and active close: the card's SYN (RFC 9293 §3.10.1), Linux's
//!    SYN-ACK, ESTABLISHED; the host writes a message into the transmit ring,
//!    rings the send-tail doorbell and closes at once, so the card's FIN
//!    follows the message; the server checks the bytes, reads end-of-stream
//!    and closes; the card goes through TIME-WAIT and frees the slot. Linux
//!    ends with no socket left (`ss`) and no reset either way (its TCP
//!    counters); tshark finds no RST, bad checksum, malformed frame or
//!    error-level expert note on that connection. Timestamps are on (RFC
//!    7323 §3.2): the card's SYN offers the option, Linux's SYN-ACK answers
//!    it echoing the card's TSval, and every later segment of the card
//!    carries it.
//! 2. A refused connect: nobody listens on the second port, Linux answers
//!    the SYN with a RST, the card frees the slot and counts it
//!    (`connects_refused`).
use std::{
    io::Read,
    net::{SocketAddr, TcpListener},
    time::{Duration, Instant},
};

use holdback_daemon::lab::netns;
use holdback_regmap as map;
use holdback_regmap::{MacAddr, Stat, TcpState};
use holdback_sim::card::RegPort;
use holdback_tests::{bad_frames, require_lab_prerequisites, require_tool, tshark_count, card_on_tap, TapCard, TestNetns};

const CARD_IP: std::net::Ipv4Addr = std::net::Ipv4Addr::new(198, 18, 0, 2);
const SERVER_IP: std::net::Ipv4Addr = std::net::Ipv4Addr::new(198, 18, 0, 1);
/// The Linux server's port, and one nobody listens on.
const SERVER_PORT: u16 = 7001;
const CLOSED_PORT: u16 = 7002;
/// The card's local ports (the card listens on none).
const CARD_PORT: u16 = 40001;
const REFUSED_CARD_PORT: u16 = 40002;
/// TIME-WAIT of the card's clock: short, so the test sees the slot freed.
const TIME_WAIT_US: u32 = 300_000;
const MESSAGE: &[u8] = b"the card opened this connection and says these bytes, then goodbye";

fn ip(args: &[&str]) {
    if let Err(e) = netns::ip(args) {
        panic!("{e}");
    }
}

fn state(regs: &RegPort, id: u32) -> TcpState {
    let f = map::tcb::STATE;
    let mut words = [0u32; map::TCB_WORDS];
    words[f.word as usize] = regs.read32(map::tcb_word_addr(id, f.word)).expect("TCB read");
    TcpState::from_code(f.get(&words)).expect("a state code")
}

/// CONNECT to the server's `remote_port` from `local_port`: the slot taken.
fn connect(regs: &RegPort, next_hop: MacAddr, remote_port: u16, local_port: u16) -> u32 {
    let (mac_hi, mac_lo) = next_hop.to_words();
    for (reg, v) in [
        (map::CONNECT_IP, u32::from(SERVER_IP)),
        (map::CONNECT_PORTS, (u32::from(remote_port) << 16) | u32::from(local_port)),
        (map::CONNECT_MAC_LO, mac_lo),
        (map::CONNECT, u32::from(mac_hi)),
    ] {
        regs.write32(reg.offset, v).unwrap_or_else(|e| panic!("write {}: {e}", reg.name));
    }
    let id = regs.read32(map::CONNECT.offset).expect("CONNECT read-back");
    assert_ne!(id, map::CONNECT_REFUSED, "the card refused CONNECT to port {remote_port}");
    id
}

/// Wait until slot `id` is in `want`, noting every state seen on the way.
fn wait_for(regs: &RegPort, id: u32, want: TcpState, deadline: Instant, seen: &mut Vec<TcpState>) {
    loop {
        let now = state(regs, id);
        if seen.last() != Some(&now) {
            seen.push(now);
        }
        if now == want {
            return;
        }
        assert!(Instant::now() < deadline, "slot {id} never reached {want:?}; states seen {seen:?}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn the_card_connects_to_linux_sends_and_closes_through_time_wait_and_a_refused_connect_frees_the_slot() {
    require_lab_prerequisites();
    require_tool("tshark", "tshark");
    let started = Instant::now();
    let ns = TestNetns::new("aopen");
    let TapCard { card, dir, pcap, tap, tx_base } = card_on_tap(&ns, "aopen", CARD_IP);
    let regs = card.regs();
    let mem = card.host_memory();
    for (reg, v) in [
        (map::TIME_WAIT_US, TIME_WAIT_US),
        (map::TIMESTAMPS, 1),
        (map::CTRL, map::CTRL_ENABLE),
    ] {
        regs.write32(reg.offset, v).unwrap_or_else(|e| panic!("write {}: {e}", reg.name));
    }
    netns::set_net_sysctl(&ns.0, "net.ipv6.conf.all.disable_ipv6", "1").unwrap_or_else(|e| panic!("{e}"));
    ip(&["-n", &ns.0, "addr", "add", &format!("{SERVER_IP}/24"), "dev", &tap]);
    ip(&["-n", &ns.0, "link", "set", &tap, "up"]);
    let next_hop = ns.mac_of(&tap);

    // Linux: a server that takes one connection, reads it to end-of-stream and closes.
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let ns_name = ns.0.clone();
    let server = std::thread::spawn(move || -> Result<Vec<u8>, String> {
        netns::enter_netns(&ns_name).map_err(|e| e.to_string())?;
        let listener = TcpListener::bind(SocketAddr::from((SERVER_IP, SERVER_PORT))).map_err(|e| format!("bind: {e}"))?;
        ready_tx.send(()).map_err(|e| e.to_string())?;
        let (mut s, peer) = listener.accept().map_err(|e| format!("accept: {e}"))?;
        if peer != SocketAddr::from((CARD_IP, CARD_PORT)) {
            return Err(format!("accepted {peer}, not the card"));
        }
        s.set_read_timeout(Some(Duration::from_secs(30))).map_err(|e| e.to_string())?;
        let mut got = Vec::new();
        s.read_to_end(&mut got).map_err(|e| format!("reading to the card's FIN: {e}"))?;
        Ok(got)
    });
    ready_rx.recv_timeout(Duration::from_secs(20)).expect("the Linux server listens");

    // 1. Active open, the message, our close first.
    let deadline = started + Duration::from_secs(90);
    let id = connect(&regs, next_hop, SERVER_PORT, CARD_PORT);
    let mut seen = Vec::new();
    wait_for(&regs, id, TcpState::Established, deadline, &mut seen);
    let ring = tx_base + (u64::from(id) << 12);
    mem.write(ring, MESSAGE).expect("transmit ring write");
    regs.write32(map::tx_tail_addr(id), MESSAGE.len() as u32).expect("TX_TAIL");
    regs.write32(map::CONN_CLOSE.offset, id).expect("CONN_CLOSE");
    wait_for(&regs, id, TcpState::Closed, deadline, &mut seen);
    let got = server.join().expect("server thread").unwrap_or_else(|e| panic!("the Linux server failed: {e}"));
    assert_eq!(got, MESSAGE, "Linux read the card's message, then its FIN");
    let sockets = ns.run(&["ss", "-tanH", "state", "all", &format!("( sport = :{SERVER_PORT} or dport = :{SERVER_PORT} )")]);
    assert!(sockets.trim().is_empty(), "Linux still holds the connection: {sockets}");
    let (out_rsts, estab_resets) = (ns.tcp_counter("OutRsts"), ns.tcp_counter("EstabResets"));
    assert_eq!((out_rsts, estab_resets), (0, 0), "Linux sent or took a reset");
    let opened_at = started.elapsed();

    // 2. Nobody listens on CLOSED_PORT: Linux's RST refuses the SYN, the slot is free.
    let refused = connect(&regs, next_hop, CLOSED_PORT, REFUSED_CARD_PORT);
    let mut refused_seen = Vec::new();
    wait_for(&regs, refused, TcpState::Closed, deadline, &mut refused_seen);
    assert_eq!(ns.tcp_counter("OutRsts"), 1, "Linux refused the SYN with one RST");
    for (stat, want) in [
        (Stat::ActiveOpens, 2),
        (Stat::ConnectsRefused, 1),
        (Stat::TimeWaitEntered, 1),
        (Stat::RstSent, 0),
        (Stat::GiveUpResets, 0),
    ] {
        assert_eq!(regs.read32(stat.offset()).expect("stat"), want, "{}", stat.name());
    }
    let status = regs.read32(map::STATUS.offset).expect("STATUS");
    assert_eq!(status >> 16, 0, "no connection left open on the card");
    // The first connection's slot, freed after TIME-WAIT, is handed out first.
    assert_eq!(refused, id, "the freed slot is taken again");

    let report = card.shutdown().unwrap_or_else(|e| panic!("shutdown: {e}"));
    let on_conn = format!("tcp.port == {CARD_PORT}");
    let (resets, which) = tshark_count(&pcap, &format!("tcp.flags.reset == 1 && {on_conn}"));
    assert_eq!(resets, 0, "no RST on the card's connection:\n{which}");
    let (bad, which) = tshark_count(&pcap, &bad_frames(CARD_IP));
    assert_eq!(bad, 0, "tshark flags frames:\n{which}");
    let card_syn = format!("tcp.flags.syn == 1 && tcp.flags.ack == 0 && ip.src == {CARD_IP} && {on_conn}");
    let (syns, _) = tshark_count(&pcap, &card_syn);
    let (with_options, which) = tshark_count(&pcap, &format!("{card_syn} && tcp.options.mss_val == 1460 && tcp.options.wscale.shift == 0"));
    assert!(syns >= 1 && with_options == syns, "every SYN of the card offers MSS 1460 and Window Scale 0 (a 4 KiB ring):\n{which}");
    let (bare, which) = tshark_count(&pcap, &format!("{card_syn} && !tcp.options.timestamp.tsval"));
    assert_eq!(bare, 0, "every SYN of the card offers timestamps:\n{which}");
    let linux_synack = format!("tcp.flags.syn == 1 && tcp.flags.ack == 1 && ip.src == {SERVER_IP} && {on_conn}");
    let (synacks, _) = tshark_count(&pcap, &linux_synack);
    let (echoing, which) = tshark_count(&pcap, &format!("{linux_synack} && tcp.options.timestamp.tsecr != 0"));
    assert!(synacks >= 1 && echoing == synacks, "Linux's SYN-ACK answers the option, echoing the card's TSval:\n{which}");
    let (untimed, which) = tshark_count(&pcap, &format!("ip.src == {CARD_IP} && {on_conn} && !tcp.options.timestamp.tsval"));
    assert_eq!(untimed, 0, "every segment of the card on the connection carries timestamps:\n{which}");
    let first_frame = |filter: String| {
        let (_, frames) = tshark_count(&pcap, &filter);
        frames.lines().find_map(|l| l.split_whitespace().next()?.parse::<u64>().ok())
    };
    // An active close (RFC 9293 §3.6): the card's FIN precedes Linux's.
    let card_fin = first_frame(format!("tcp.flags.fin == 1 && ip.src == {CARD_IP} && {on_conn}"));
    let linux_fin = first_frame(format!("tcp.flags.fin == 1 && ip.dst == {CARD_IP} && {on_conn}"));
    assert!(matches!((card_fin, linux_fin), (Some(c), Some(l)) if c < l), "the card's FIN (frame {card_fin:?}) before Linux's (frame {linux_fin:?})");
    let (refusals, which) = tshark_count(&pcap, &format!("tcp.flags.reset == 1 && ip.src == {SERVER_IP} && tcp.port == {REFUSED_CARD_PORT}"));
    assert_eq!(refusals, 1, "Linux's one RST to the refused SYN:\n{which}");
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!(
        "active_open_linux: card states {seen:?} (open + close {:.1} s), refused connect {refused_seen:?}; {:.1} s; card report {report:?}",
        opened_at.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}
