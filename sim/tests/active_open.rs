//! Active open on the Verilated core, scored frame by frame against the
//! reference model (RFC 9293 §3.10.1 OPEN, §3.10.7.3 SYN-SENT): CONNECT's
//! SYN, the SYN-ACK into ESTABLISHED and on through the host's close to
//! TIME-WAIT; the SYN's retransmissions at doubling intervals and the give-up;
//! a refused connect (the peer's RST) freeing the slot; the host's CLOSE in
//! SYN-SENT freeing it (§3.10.4); a bad ACK in
//! SYN-SENT; a simultaneous open; a CONNECT on a disabled card. TCBs and
//! counters are compared along the way.
//!
//! Needs verilator (the sim crate's build verilates the core): install with
//! `apt-get install verilator`.
#[path = "common/or_panic.rs"]
mod or_panic;
use or_panic::OrPanic;
use std::net::Ipv4Addr;

use holdback_regmap::{CoreParams, Stat, TcpState};
use holdback_sim::core_sim::CoreSim;
use holdback_sim::refmodel::active_open::Connect;
use holdback_sim::refmodel::lockstep::{test_mac, Lockstep, PeerConn};
use holdback_sim::refmodel::Config;
use holdback_sim::wire::{tcp_frame, Endpoint, Frame, MacAddr, SeqNum, TcpFlags, TcpRepr};

const CORE: Endpoint = Endpoint { mac: MacAddr([0x02, 0x00, 0x5e, 0x00, 0x00, 0x02]), ip: Ipv4Addr::new(198, 18, 0, 2) };
const LISTEN: u16 = 5001;
const RTO_US: u32 = 3000;
/// TIME_WAIT_US for these tests: 20 ms of the core's clock.
const TIME_WAIT_US: u32 = 20_000;
/// The server's port and initial sequence number.
const SERVER_PORT: u16 = 7000;
const SERVER_ISN: u32 = 0x8000_0000;

fn server(n: u16) -> Endpoint {
    Endpoint { mac: test_mac(n), ip: Ipv4Addr::new(198, 18, 4, n as u8) }
}

fn start() -> Lockstep<CoreSim> {
    let core = CoreSim::new().unwrap_or_else(|e| panic!("cannot start the Verilated core ({e}); the sim crate needs verilator: apt-get install verilator"));
    let mut cfg = Config::new(&CoreParams::DEFAULT, CORE.mac, CORE.ip, &[LISTEN], 1460, RTO_US);
    cfg.time_wait_us = TIME_WAIT_US;
    Lockstep::new(core, cfg).unwrap_or_else(|e| panic!("configure: {e}"))
}

fn connect_to(n: u16, local_port: u16) -> Connect {
    let s = server(n);
    Connect { remote_ip: s.ip, remote_port: SERVER_PORT, local_port, next_hop: s.mac }
}

/// The one frame in `frames`, parsed as our TCP segment to `to`.
fn only_segment(frames: &[Vec<u8>], to: Endpoint, what: &str) -> TcpRepr {
    assert_eq!(frames.len(), 1, "{what}: one frame");
    let f = Frame::parse(&frames[0]).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(f.eth.dst, to.mac, "{what}: to the next hop's MAC");
    let (ip, tcp, _) = f.tcp().unwrap_or_else(|| panic!("{what}: not TCP"));
    assert_eq!((ip.src, ip.dst), (CORE.ip, to.ip), "{what}: addresses");
    tcp.clone()
}

/// Counters, change log and connection `id`'s TCB agree with the model, whose TCB is in `state`.
fn check(ls: &mut Lockstep<CoreSim>, id: usize, state: TcpState, what: &str) {
    let what = &format!("{what} (last inputs: {:#?})", ls.recent_inputs(6));
    assert_eq!(ls.model.tcb(id).state, state, "{what}");
    ls.check_stats().or_panic(what);
    ls.check_change_log().or_panic(what);
    ls.check_tcb(id, &[]).or_panic(what);
}

/// CONNECT, then the server's SYN-ACK (MSS 1460, Window Scale 7 as Linux
/// sends them): the test's side of the ESTABLISHED connection.
fn open(ls: &mut Lockstep<CoreSim>, n: u16, local_port: u16) -> PeerConn {
    let c = connect_to(n, local_port);
    let (frames, id) = ls.connect(&c).or_panic("CONNECT");
    let id = id.expect("a free slot");
    let syn = only_segment(&frames, server(n), "our SYN");
    assert_eq!(syn.flags, TcpFlags::SYN, "our SYN");
    assert_eq!((syn.src_port, syn.dst_port), (local_port, SERVER_PORT));
    assert_eq!(syn.mss(), Some(1460), "our SYN offers OUR_MSS");
    assert!(syn.wscale().is_some(), "our SYN always offers Window Scale");
    check(ls, id, TcpState::SynSent, "SYN-SENT");

    let synack = TcpRepr::new(SERVER_PORT, local_port, SeqNum(SERVER_ISN), syn.seq + 1, TcpFlags::SYN | TcpFlags::ACK, 64240)
        .with_mss(1460)
        .with_wscale(7);
    let ack = ls.frame(&tcp_frame(server(n), CORE, &synack, &[])).or_panic("SYN-ACK");
    let ack = only_segment(&ack, server(n), "the handshake's ACK");
    assert_eq!(ack.flags, TcpFlags::ACK);
    assert_eq!((ack.seq, ack.ack), (syn.seq + 1, SeqNum(SERVER_ISN) + 1));
    check(ls, id, TcpState::Established, "ESTABLISHED");
    let t = ls.model.tcb(id);
    assert_eq!((t.snd_wscale, t.peer_mss), (7, 1460), "the SYN-ACK's options are taken");
    PeerConn {
        peer: server(n),
        core: CORE,
        peer_port: SERVER_PORT,
        local_port,
        id,
        snd_nxt: SeqNum(SERVER_ISN) + 1,
        rcv_nxt: syn.seq + 1,
    }
}

#[test]
fn connect_then_data_then_close_through_time_wait() {
    let mut ls = start();
    let mut c = open(&mut ls, 1, 40001);
    assert_eq!(ls.model.stat(Stat::ActiveOpens), 1);

    // The server speaks first: its bytes go to the ring and are ACKed.
    c.send(&mut ls, b"220 hello from the server\r\n").or_panic("server data");
    check(&mut ls, c.id, TcpState::Established, "data in ESTABLISHED");
    ls.check_ring(c.id, 0, b"220 hello from the server\r\n".len()).or_panic("ring");

    // Our close: FIN-WAIT-1, FIN-WAIT-2 on its ACK, TIME-WAIT on the server's FIN.
    let fin = ls.close(c.id).or_panic("CONN_CLOSE");
    assert_eq!(only_segment(&fin, server(1), "our FIN").flags, TcpFlags::FIN | TcpFlags::ACK);
    check(&mut ls, c.id, TcpState::FinWait1, "FIN-WAIT-1");
    c.rcv_nxt = ls.model.tcb(c.id).snd_nxt;
    assert!(ls.frame(&c.segment(c.snd_nxt, TcpFlags::ACK, &[])).or_panic("ACK of our FIN").is_empty());
    check(&mut ls, c.id, TcpState::FinWait2, "FIN-WAIT-2");
    let ack = ls.frame(&c.segment(c.snd_nxt, TcpFlags::ACK | TcpFlags::FIN, &[])).or_panic("server's FIN");
    assert_eq!(only_segment(&ack, server(1), "ACK of the server's FIN").flags, TcpFlags::ACK);
    check(&mut ls, c.id, TcpState::TimeWait, "TIME-WAIT");
    assert_eq!(ls.model.stat(Stat::TimeWaitEntered), 1);

    // 2 MSL later the slot is free, silently.
    let quiet = ls.advance(TIME_WAIT_US + 2 * 1024).or_panic("TIME-WAIT runs out");
    assert!(quiet.is_empty(), "TIME-WAIT ends without a frame");
    check(&mut ls, c.id, TcpState::Closed, "closed after TIME-WAIT");
}

#[test]
fn syn_is_retransmitted_at_doubling_intervals_then_given_up() {
    let mut ls = start();
    let c = connect_to(2, 40002);
    let (first, id) = ls.connect(&c).or_panic("CONNECT");
    let id = id.expect("a free slot");
    let iss = only_segment(&first, server(2), "our SYN").seq;
    let start_us = ls.now_us();
    // Seven retransmissions, then the give-up RST. As the SYN-ACK's, the timer
    // waits RTO after the SYN and RTO << (n - 1) after the n-th retransmission.
    let mut sent_at = Vec::new();
    let mut rst = None;
    for _ in 0..600 {
        for f in ls.advance(1024).or_panic("time") {
            let tcp = only_segment(&[f], server(2), "the SYN's timer");
            if tcp.flags == TcpFlags::SYN {
                assert_eq!(tcp.seq, iss, "the same SYN again");
                sent_at.push(ls.now_us().wrapping_sub(start_us));
            } else {
                rst = Some(tcp);
            }
        }
        if rst.is_some() {
            break;
        }
    }
    assert_eq!(sent_at.len(), 7, "seven retransmissions, at {sent_at:?} us");
    let gaps: Vec<u32> = sent_at.windows(2).map(|w| w[1] - w[0]).collect();
    for (n, gap) in gaps.iter().enumerate() {
        let want = RTO_US << n;
        // The scan runs every 1024 us: a retransmission is up to one period late.
        assert!(gap.abs_diff(want) <= 1024, "gap {n} is {gap} us, want {want} (+-1024): {gaps:?}");
    }
    let rst = rst.expect("a RST after the last retransmission");
    assert_eq!((rst.flags, rst.seq), (TcpFlags::RST, iss + 1));
    check(&mut ls, id, TcpState::Closed, "given up");
    assert_eq!(ls.model.stat(Stat::GiveUpResets), 1);
    assert_eq!(ls.model.stat(Stat::Retransmits), 7);
}

#[test]
fn refused_connect_frees_the_slot_and_counts() {
    let mut ls = start();
    let c = connect_to(3, 40003);
    let (syn, id) = ls.connect(&c).or_panic("CONNECT");
    let id = id.expect("a free slot");
    let iss = only_segment(&syn, server(3), "our SYN").seq;

    // A bad ACK first: answered by a RST at it, the TCB stays in SYN-SENT.
    let bad = TcpRepr::new(SERVER_PORT, c.local_port, SeqNum(SERVER_ISN), iss + 5, TcpFlags::SYN | TcpFlags::ACK, 64240);
    let rst = ls.frame(&tcp_frame(server(3), CORE, &bad, &[])).or_panic("bad ACK");
    let rst = only_segment(&rst, server(3), "RST to a bad ACK");
    assert_eq!((rst.flags, rst.seq), (TcpFlags::RST, iss + 5));
    check(&mut ls, id, TcpState::SynSent, "still SYN-SENT after a bad ACK");

    // Nobody listens: Linux answers RST|ACK acknowledging our SYN.
    let refusal = TcpRepr::new(SERVER_PORT, c.local_port, SeqNum(0), iss + 1, TcpFlags::RST | TcpFlags::ACK, 0);
    assert!(ls.frame(&tcp_frame(server(3), CORE, &refusal, &[])).or_panic("RST").is_empty(), "a RST is not answered");
    check(&mut ls, id, TcpState::Closed, "refused");
    assert_eq!(ls.model.stat(Stat::ConnectsRefused), 1);
    assert_eq!(ls.read_stats().or_panic("stats")[Stat::ConnectsRefused.index()], 1);

    // The slot is free: the next connection takes it again (freed slots first).
    let again = open(&mut ls, 3, 40004);
    assert_eq!(again.id, id, "the refused connect's slot is reused");
    assert_eq!(ls.model.stat(Stat::ActiveOpens), 2);
}

#[test]
fn close_in_syn_sent_frees_the_slot() {
    let mut ls = start();
    let c = connect_to(5, 40005);
    let (syn, id) = ls.connect(&c).or_panic("CONNECT");
    let id = id.expect("a free slot");
    let iss = only_segment(&syn, server(5), "our SYN").seq;

    // RFC 9293 §3.10.4: CLOSE in SYN-SENT deletes the TCB; nothing was received, so nothing is sent.
    assert!(ls.close(id).or_panic("CLOSE in SYN-SENT").is_empty(), "CLOSE in SYN-SENT sends nothing");
    check(&mut ls, id, TcpState::Closed, "closed in SYN-SENT");

    // A SYN-ACK arriving late finds no connection: a RST at its ACK (§3.10.7.1).
    let late = TcpRepr::new(SERVER_PORT, c.local_port, SeqNum(SERVER_ISN), iss + 1, TcpFlags::SYN | TcpFlags::ACK, 64240);
    let rst = ls.frame(&tcp_frame(server(5), CORE, &late, &[])).or_panic("late SYN-ACK");
    let rst = only_segment(&rst, server(5), "RST to a late SYN-ACK");
    assert_eq!((rst.flags, rst.seq), (TcpFlags::RST, iss + 1));
    ls.check_stats().or_panic("after the late SYN-ACK");

    // The slot is free: the next connection takes it again.
    let again = open(&mut ls, 5, 40006);
    assert_eq!(again.id, id, "the closed SYN-SENT slot is reused");
}

#[test]
fn simultaneous_open_goes_through_syn_received() {
    let mut ls = start();
    let c = connect_to(4, 40005);
    let (syn, id) = ls.connect(&c).or_panic("CONNECT");
    let id = id.expect("a free slot");
    let iss = only_segment(&syn, server(4), "our SYN").seq;
    // The peer's SYN crossed ours: our SYN-ACK (same ISS) answers it.
    let their_syn = TcpRepr::new(SERVER_PORT, c.local_port, SeqNum(SERVER_ISN), SeqNum(0), TcpFlags::SYN, 64240).with_mss(1400);
    let synack = ls.frame(&tcp_frame(server(4), CORE, &their_syn, &[])).or_panic("crossed SYN");
    let synack = only_segment(&synack, server(4), "our SYN-ACK");
    assert_eq!((synack.flags, synack.seq, synack.ack), (TcpFlags::SYN | TcpFlags::ACK, iss, SeqNum(SERVER_ISN) + 1));
    check(&mut ls, id, TcpState::SynReceived, "SYN-RECEIVED");
    // Their SYN-ACK's ACK part completes it.
    let ack = TcpRepr::new(SERVER_PORT, c.local_port, SeqNum(SERVER_ISN) + 1, iss + 1, TcpFlags::ACK, 64240);
    ls.frame(&tcp_frame(server(4), CORE, &ack, &[])).or_panic("ACK");
    check(&mut ls, id, TcpState::Established, "ESTABLISHED");
}

#[test]
fn connect_on_a_disabled_card_is_refused_and_counted() {
    let mut ls = start();
    ls.set_ctrl(false, false, false).or_panic("disable");
    let (frames, id) = ls.connect(&connect_to(5, 40006)).or_panic("CONNECT");
    assert!(frames.is_empty() && id.is_none(), "nothing sent, no slot");
    ls.check_stats().or_panic("refused");
    assert_eq!(ls.model.stat(Stat::ConnectsRefused), 1);
}
