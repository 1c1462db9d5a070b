//! Relay mode on the Verilated core (docs/relay.md, "The engine's part"):
//! a client's SYN on a relaying listening slot opens a spliced pair, scored
//! frame by frame, TCB by TCB and counter by counter against the reference
//! model (`sim/src/refmodel/relay_open.rs`): the held client side and the
//! server side's SYN, the client's SYN-ACK released only by the backend's,
//! a refusing backend, a silent one past the connect timeout, a client RST
//! while connecting, too few free slots, and a plain port beside a relay
//! port. The model sends no data, so the relayed bytes are checked past it
//! on the core alone: the client's bytes reach the backend from the client
//! side's receive ring, each side's ACK follows the other side's; seeded
//! streams of random chunks both ways arrive intact with no ACK to either
//! side passing what the other side acknowledged.
//!
//! Needs verilator (the sim crate's build verilates the core): install with
//! `apt-get install verilator`.
#[path = "common/or_panic.rs"]
mod or_panic;
use or_panic::OrPanic;
use std::net::Ipv4Addr;

use holdback_regmap::{CoreParams, Stat, TcpState, RELAY_LOCAL_PORT_BASE};
use holdback_sim::core_sim::CoreSim;
use holdback_sim::refmodel::lockstep::{Dut, Lockstep};
use holdback_sim::refmodel::{Config, RelayBackend};
use holdback_sim::wire::{tcp_frame, Endpoint, Frame, MacAddr, SeqNum, TcpFlags, TcpRepr};

const CORE: Endpoint = Endpoint { mac: MacAddr([0x02, 0, 0, 0, 0, 0x02]), ip: Ipv4Addr::new(198, 18, 0, 2) };
const CLIENT: Endpoint = Endpoint { mac: MacAddr([0x02, 0, 0, 0, 0, 0x01]), ip: Ipv4Addr::new(198, 18, 0, 1) };
/// The backend, reached through its own next hop's MAC.
const SERVER: Endpoint = Endpoint { mac: MacAddr([0x02, 0, 0, 0, 0, 0x09]), ip: Ipv4Addr::new(198, 18, 1, 9) };
const PLAIN_PORT: u16 = 5001;
const RELAY_PORT: u16 = 8080;
/// LISTEN1 is the relay port (LISTEN0 the plain one).
const RELAY_SLOT: usize = 1;
const BACKEND_PORT: u16 = 80;
const CLIENT_PORT: u16 = 40000;
/// The client's ISS: its bytes cross 2^32 after 15.
const IRS_C: u32 = 0xffff_fff0;
/// The server's ISS.
const IRS_S: u32 = 0x0000_0010;
const RTO_US: u32 = 3000;
/// A connect timeout short enough to run out in a test.
const CONNECT_US: u32 = 50_000;

fn backend() -> RelayBackend {
    RelayBackend { ip: SERVER.ip, port: BACKEND_PORT, next_hop: SERVER.mac }
}

fn start() -> Lockstep<CoreSim> {
    let core = CoreSim::new().unwrap_or_else(|e| panic!("cannot start the Verilated core ({e}); the sim crate needs verilator: apt-get install verilator"));
    let cfg = Config::new(&CoreParams::DEFAULT, CORE.mac, CORE.ip, &[PLAIN_PORT, RELAY_PORT], 1460, RTO_US);
    let mut ls = Lockstep::new(core, cfg).unwrap_or_else(|e| panic!("configure: {e}"));
    ls.set_relay(RELAY_SLOT, Some(backend())).or_panic("relay slot");
    ls.set_relay_connect_us(CONNECT_US).or_panic("RELAY_CONNECT_US");
    ls
}

fn s_port(s: usize) -> u16 {
    RELAY_LOCAL_PORT_BASE + s as u16
}

fn from_client(seq: u32, ack: u32, flags: TcpFlags, payload: &[u8]) -> Vec<u8> {
    tcp_frame(CLIENT, CORE, &TcpRepr::new(CLIENT_PORT, RELAY_PORT, SeqNum(seq), SeqNum(ack), flags, 64240), payload)
}

fn from_server(s: usize, seq: u32, ack: u32, flags: TcpFlags, payload: &[u8]) -> Vec<u8> {
    tcp_frame(SERVER, CORE, &TcpRepr::new(BACKEND_PORT, s_port(s), SeqNum(seq), SeqNum(ack), flags, 64240), payload)
}

fn client_syn() -> Vec<u8> {
    tcp_frame(CLIENT, CORE, &TcpRepr::new(CLIENT_PORT, RELAY_PORT, SeqNum(IRS_C), SeqNum(0), TcpFlags::SYN, 64240).with_mss(1400), &[])
}

/// The backend accepts server side `s`, whose SYN had sequence number `iss_s`.
fn server_syn_ack(s: usize, iss_s: SeqNum) -> Vec<u8> {
    tcp_frame(SERVER, CORE, &TcpRepr::new(BACKEND_PORT, s_port(s), SeqNum(IRS_S), iss_s + 1, TcpFlags::SYN | TcpFlags::ACK, 64240).with_mss(1400), &[])
}

/// Each frame parsed: (to whom, the TCP header, the payload).
fn segments(frames: &[Vec<u8>]) -> Vec<(Endpoint, TcpRepr, Vec<u8>)> {
    frames
        .iter()
        .map(|f| {
            let p = Frame::parse(f).unwrap_or_else(|e| panic!("our frame does not parse: {e}"));
            let (ip, tcp, payload) = p.tcp().unwrap_or_else(|| panic!("not TCP: {p:?}"));
            assert_eq!(ip.src, CORE.ip);
            (Endpoint { mac: p.eth.dst, ip: ip.dst }, tcp.clone(), payload.to_vec())
        })
        .collect()
}

/// Counters, change log and both TCBs agree with the model's.
fn check(ls: &mut Lockstep<CoreSim>, ids: &[usize], what: &str) {
    let what = &format!("{what} (last inputs: {:#?})", ls.recent_inputs(6));
    ls.check_stats().or_panic(what);
    ls.check_change_log().or_panic(what);
    for &id in ids {
        ls.check_tcb(id, &[]).or_panic(what);
    }
}

/// The client's SYN: c takes the first free slot, s the next; the only
/// frame is s's SYN to the backend from port 49152 + s.
fn open(ls: &mut Lockstep<CoreSim>) -> (usize, usize, SeqNum) {
    let out = ls.frame(&client_syn()).or_panic("client SYN");
    let segs = segments(&out);
    assert_eq!(segs.len(), 1, "only the server side's SYN: {segs:?}");
    let (to, syn, _) = &segs[0];
    assert_eq!((*to, syn.flags, syn.dst_port), (SERVER, TcpFlags::SYN, BACKEND_PORT), "{syn:?}");
    let s = usize::from(syn.src_port - RELAY_LOCAL_PORT_BASE);
    let c = usize::from(ls.model.tcb(s).peer_link);
    let (tc, ts) = (ls.model.tcb(c).clone(), ls.model.tcb(s).clone());
    assert_eq!((tc.state, tc.holdback, tc.peer_link, tc.rel), (TcpState::SynReceived, true, s as u16, SeqNum(IRS_C)), "c held and linked");
    assert_eq!((ts.state, ts.holdback, ts.peer_link), (TcpState::SynSent, true, c as u16), "s connecting, linked");
    check(ls, &[c, s], "the open");
    (c, s, syn.seq)
}

/// Open, then the server's SYN-ACK: [our ACK to the server, the client's SYN-ACK].
fn accept(ls: &mut Lockstep<CoreSim>) -> (usize, usize, SeqNum, SeqNum) {
    let (c, s, iss_s) = open(ls);
    let synack = server_syn_ack(s, iss_s);
    let out = ls.frame(&synack).or_panic("server SYN-ACK");
    let segs = segments(&out);
    assert_eq!(segs.len(), 2, "{segs:?}");
    assert_eq!((segs[0].0, segs[0].1.flags, segs[0].1.ack), (SERVER, TcpFlags::ACK, SeqNum(IRS_S) + 1), "the server's ACK first");
    assert_eq!((segs[1].0, segs[1].1.flags, segs[1].1.ack), (CLIENT, TcpFlags::SYN | TcpFlags::ACK, SeqNum(IRS_C) + 1), "then the client's SYN-ACK");
    let iss_c = segs[1].1.seq;
    check(ls, &[c, s], "the backend accepted");
    (c, s, iss_s, iss_c)
}

#[test]
fn the_clients_syn_ack_waits_for_the_backends() {
    let mut ls = start();
    let (c, s, iss_s) = open(&mut ls);
    assert_eq!(ls.model.stat(Stat::ActiveOpens), 1);
    // The client repeats its SYN: dropped, uncounted; s's SYN is retransmitted at RTO.
    assert!(ls.frame(&client_syn()).or_panic("repeated SYN").is_empty());
    let again = ls.advance(RTO_US + 2048).or_panic("RTO");
    let segs = segments(&again);
    assert_eq!(segs.len(), 1, "s's SYN again, nothing to the client: {segs:?}");
    assert_eq!((segs[0].0, segs[0].1.flags, segs[0].1.seq), (SERVER, TcpFlags::SYN, iss_s));
    check(&mut ls, &[c, s], "SYN retransmitted");
    let (c, s, _, iss_c) = {
        let synack = server_syn_ack(s, iss_s);
        let out = ls.frame(&synack).or_panic("server SYN-ACK");
        let segs = segments(&out);
        assert_eq!(segs.len(), 2, "{segs:?}");
        assert_eq!(segs[1].1.flags, TcpFlags::SYN | TcpFlags::ACK);
        (c, s, iss_s, segs[1].1.seq)
    };
    check(&mut ls, &[c, s], "accepted");
    // The client's ACK: both ESTABLISHED, nothing to send.
    assert!(ls.frame(&from_client(IRS_C.wrapping_add(1), iss_c.0.wrapping_add(1), TcpFlags::ACK, &[])).or_panic("client ACK").is_empty());
    assert_eq!((ls.model.tcb(c).state, ls.model.tcb(s).state), (TcpState::Established, TcpState::Established));
    assert_eq!(ls.model.tcb(c).seq_offset, IRS_S.wrapping_sub(iss_c.0), "c.seq_offset = s.irs - c.iss");
    assert_eq!(ls.model.tcb(s).seq_offset, IRS_C.wrapping_sub(iss_s.0), "s.seq_offset = c.irs - s.iss");
    check(&mut ls, &[c, s], "both ESTABLISHED");
}

#[test]
fn a_refusing_backend_resets_the_client_and_the_next_syn_opens_a_new_pair() {
    let mut ls = start();
    let (c, s, iss_s) = open(&mut ls);
    let out = ls.frame(&from_server(s, 0, iss_s.0.wrapping_add(1), TcpFlags::RST | TcpFlags::ACK, &[])).or_panic("backend RST");
    let segs = segments(&out);
    assert_eq!(segs.len(), 1, "{segs:?}");
    let (to, rst, _) = &segs[0];
    assert_eq!((*to, rst.flags, rst.seq, rst.ack), (CLIENT, TcpFlags::RST | TcpFlags::ACK, SeqNum(0), SeqNum(IRS_C) + 1), "a closed port's answer");
    assert_eq!((ls.model.tcb(c).state, ls.model.tcb(s).state), (TcpState::Closed, TcpState::Closed));
    assert_eq!(ls.model.stat(Stat::RelayConnectsFailed), 1);
    check(&mut ls, &[c, s], "refused");
    // The card goes on: the client's next SYN opens a new pair.
    let (c2, s2, _) = open(&mut ls);
    check(&mut ls, &[c2, s2], "the next open");
}

#[test]
fn a_silent_backend_runs_out_the_connect_timeout() {
    let mut ls = start();
    let (c, s, _) = open(&mut ls);
    // s's SYN is retransmitted meanwhile (RTO doubling); then the timeout.
    let mut to_client = Vec::new();
    for _ in 0..40 {
        let out = ls.advance(2048).or_panic("time");
        to_client.extend(segments(&out).into_iter().filter(|(to, _, _)| *to == CLIENT));
        if ls.model.tcb(c).state == TcpState::Closed {
            break;
        }
    }
    assert_eq!(to_client.len(), 1, "{to_client:?}");
    assert_eq!((to_client[0].1.flags, to_client[0].1.ack), (TcpFlags::RST | TcpFlags::ACK, SeqNum(IRS_C) + 1));
    assert_eq!((ls.model.tcb(c).state, ls.model.tcb(s).state), (TcpState::Closed, TcpState::Closed), "both freed");
    assert_eq!(ls.model.stat(Stat::RelayConnectsFailed), 1);
    check(&mut ls, &[c, s], "connect timeout");
}

#[test]
fn a_client_rst_while_connecting_frees_both_silently() {
    let mut ls = start();
    let (c, s, _) = open(&mut ls);
    assert!(ls.frame(&from_client(IRS_C.wrapping_add(1), 0, TcpFlags::RST, &[])).or_panic("client RST").is_empty());
    assert_eq!((ls.model.tcb(c).state, ls.model.tcb(s).state), (TcpState::Closed, TcpState::Closed));
    assert_eq!(ls.model.stat(Stat::RelayConnectsFailed), 0, "the client gave up, nothing failed");
    check(&mut ls, &[c, s], "client RST");
}

#[test]
fn a_plain_port_beside_a_relay_port_opens_as_ever() {
    let mut ls = start();
    let syn = tcp_frame(CLIENT, CORE, &TcpRepr::new(CLIENT_PORT + 1, PLAIN_PORT, SeqNum(7), SeqNum(0), TcpFlags::SYN, 64240), &[]);
    let out = ls.frame(&syn).or_panic("plain SYN");
    let segs = segments(&out);
    assert_eq!(segs.len(), 1);
    assert_eq!((segs[0].0, segs[0].1.flags), (CLIENT, TcpFlags::SYN | TcpFlags::ACK));
    let (c, s, _, _) = accept(&mut ls);
    check(&mut ls, &[0, c, s], "a plain connection and a pair");
}

/// Frames into the core alone (past the model, which relays no data): the
/// core's answers once it is idle.
fn exchange(ls: &mut Lockstep<CoreSim>, frame: &[u8]) -> Vec<(Endpoint, TcpRepr, Vec<u8>)> {
    ls.dut.push_frame(frame);
    ls.dut.settle(2_000_000).unwrap_or_else(|e| panic!("settle: {e}"));
    let mut out = Vec::new();
    while let Some(f) = ls.dut.pop_tx_frame() {
        out.push(f);
    }
    segments(&out)
}

#[test]
fn bytes_cross_both_ways_and_each_ack_waits_for_the_other_sides() {
    let mut ls = start();
    let (c, s, iss_s, iss_c) = accept(&mut ls);
    assert!(ls.frame(&from_client(IRS_C.wrapping_add(1), iss_c.0.wrapping_add(1), TcpFlags::ACK, &[])).or_panic("client ACK").is_empty());
    check(&mut ls, &[c, s], "ESTABLISHED");

    // 1000 client bytes across the client's 2^32 wrap: not ACKed to the
    // client; relayed to the backend, in order, from s's first byte.
    let up: Vec<u8> = (0..1000u32).map(|i| (i * 7 + 3) as u8).collect();
    let out = exchange(&mut ls, &from_client(IRS_C.wrapping_add(1), iss_c.0.wrapping_add(1), TcpFlags::ACK | TcpFlags::PSH, &up));
    assert!(out.iter().all(|(to, _, _)| *to == SERVER), "nothing to the client before the backend ACKs: {out:?}");
    let relayed: Vec<u8> = out.iter().flat_map(|(_, _, p)| p.clone()).collect();
    assert_eq!(relayed, up, "the backend gets the client's bytes");
    assert_eq!(out[0].1.seq, iss_s + 1, "from s's first byte");

    // The backend ACKs 600: the client's ACK moves to 600, not 1000.
    let ack = exchange(&mut ls, &from_server(s, IRS_S + 1, iss_s.0.wrapping_add(601), TcpFlags::ACK, &[]));
    let to_c: Vec<_> = ack.iter().filter(|(to, _, _)| *to == CLIENT).collect();
    assert_eq!(to_c.len(), 1, "{ack:?}");
    assert_eq!(to_c[0].1.ack, SeqNum(IRS_C.wrapping_add(601)));
    let ack = exchange(&mut ls, &from_server(s, IRS_S + 1, iss_s.0.wrapping_add(1001), TcpFlags::ACK, &[]));
    let to_c: Vec<_> = ack.iter().filter(|(to, _, _)| *to == CLIENT).collect();
    assert_eq!(to_c.last().map(|(_, t, _)| t.ack), Some(SeqNum(IRS_C.wrapping_add(1001))), "{ack:?}");

    // 500 server bytes: to the client, ACKed to the backend only once the client ACKs them.
    let down: Vec<u8> = (0..500u32).map(|i| (i * 13 + 1) as u8).collect();
    let out = exchange(&mut ls, &from_server(s, IRS_S + 1, iss_s.0.wrapping_add(1001), TcpFlags::ACK | TcpFlags::PSH, &down));
    assert!(out.iter().all(|(to, _, _)| *to == CLIENT), "nothing to the backend yet: {out:?}");
    let relayed: Vec<u8> = out.iter().flat_map(|(_, _, p)| p.clone()).collect();
    assert_eq!(relayed, down);
    assert_eq!(out[0].1.seq, iss_c + 1);
    let ack = exchange(&mut ls, &from_client(IRS_C.wrapping_add(1001), iss_c.0.wrapping_add(501), TcpFlags::ACK, &[]));
    let to_s: Vec<_> = ack.iter().filter(|(to, _, _)| *to == SERVER).collect();
    assert_eq!(to_s.last().map(|(_, t, _)| t.ack), Some(SeqNum(IRS_S + 501)), "{ack:?}");
}

/// The half-close (RFC 9293 §3.6, docs/relay.md "The splice rule", 3): the
/// client's FIN closes the server side after its bytes, but the client side
/// sends its own FIN only once the server sent one; each FIN is ACKed only
/// once the other side ACKed the FIN it caused. Scored against the model.
#[test]
fn a_client_half_close_waits_for_the_servers_fin() {
    let mut ls = start();
    let (c, s, iss_s, iss_c) = accept(&mut ls);
    assert!(ls.frame(&from_client(IRS_C.wrapping_add(1), iss_c.0.wrapping_add(1), TcpFlags::ACK, &[])).or_panic("client ACK").is_empty());

    // The client half-closes: our FIN to the server, nothing to the client yet.
    let out = ls.frame(&from_client(IRS_C.wrapping_add(1), iss_c.0.wrapping_add(1), TcpFlags::ACK | TcpFlags::FIN, &[])).or_panic("client FIN");
    let segs = segments(&out);
    assert_eq!(segs.len(), 1, "{segs:?}");
    assert_eq!((segs[0].0, segs[0].1.flags, segs[0].1.seq), (SERVER, TcpFlags::FIN | TcpFlags::ACK, iss_s + 1));
    assert_eq!((ls.model.tcb(c).state, ls.model.tcb(s).state), (TcpState::CloseWait, TcpState::FinWait1));
    check(&mut ls, &[c, s], "client FIN");

    // The server ACKs our FIN: the client's FIN is ACKed; the client side stays open.
    let out = ls.frame(&from_server(s, IRS_S + 1, iss_s.0.wrapping_add(2), TcpFlags::ACK, &[])).or_panic("server ACKs our FIN");
    let segs = segments(&out);
    assert_eq!(segs.len(), 1, "{segs:?}");
    assert_eq!((segs[0].0, segs[0].1.flags, segs[0].1.ack), (CLIENT, TcpFlags::ACK, SeqNum(IRS_C.wrapping_add(2))));
    assert_eq!((ls.model.tcb(c).state, ls.model.tcb(s).state), (TcpState::CloseWait, TcpState::FinWait2), "no FIN to the client yet");
    check(&mut ls, &[c, s], "half-closed");

    // The server's FIN: now the client side closes; the server's FIN waits for the client's ACK.
    let out = ls.frame(&from_server(s, IRS_S + 1, iss_s.0.wrapping_add(2), TcpFlags::ACK | TcpFlags::FIN, &[])).or_panic("server FIN");
    let segs = segments(&out);
    assert_eq!(segs.len(), 1, "{segs:?}");
    assert_eq!((segs[0].0, segs[0].1.flags, segs[0].1.seq), (CLIENT, TcpFlags::FIN | TcpFlags::ACK, iss_c + 1));
    assert!(ls.model.tcb(c).close_asked);
    assert_eq!(ls.model.tcb(c).state, TcpState::LastAck);
    check(&mut ls, &[c, s], "server FIN");

    // The client ACKs our FIN: the client side is freed and the server's FIN ACKed; the pair is unlinked.
    let out = ls.frame(&from_client(IRS_C.wrapping_add(2), iss_c.0.wrapping_add(2), TcpFlags::ACK, &[])).or_panic("client ACKs our FIN");
    let segs = segments(&out);
    assert_eq!(segs.len(), 1, "{segs:?}");
    assert_eq!((segs[0].0, segs[0].1.flags, segs[0].1.ack), (SERVER, TcpFlags::ACK, SeqNum(IRS_S + 2)));
    assert_eq!((ls.model.tcb(c).state, ls.model.tcb(s).state), (TcpState::Closed, TcpState::TimeWait));
    assert_eq!(ls.model.tcb(s).peer_link, 0xFFFF, "unlinked");
    check(&mut ls, &[c, s], "both FINs crossed");
}

/// Seeded streams both ways through a pair, on the core alone: random chunk
/// sizes from each side, the other side ACKing at random points. Every byte
/// arrives once, in order, at the sequence number its stream offset gives
/// (the offsets of the splice); no ACK to either side ever passes what the
/// other side acknowledged (the `peer` gate, claim 3), and once everything
/// is ACKed both ACKs reach the ends of the streams.
/// `HOLDBACK_TEST_SEED=<n>` reproduces a run.
#[test]
fn seeded_streams_cross_intact_and_no_ack_passes_the_other_sides() {
    use rand::{rngs::SmallRng, Rng, SeedableRng};
    let seed = std::env::var("HOLDBACK_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
    eprintln!("HOLDBACK_TEST_SEED={seed}");
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut ls = start();
    let (_, s, iss_s, iss_c) = accept(&mut ls);
    assert!(ls.frame(&from_client(IRS_C.wrapping_add(1), iss_c.0.wrapping_add(1), TcpFlags::ACK, &[])).or_panic("client ACK").is_empty());

    const TOTAL: usize = 96 * 1024;
    /// What a side keeps unacknowledged at most (within the card's window).
    const IN_FLIGHT: usize = 16 * 1024;
    let up: Vec<u8> = (0..TOTAL).map(|_| rng.gen()).collect();
    let down: Vec<u8> = (0..TOTAL).map(|_| rng.gen()).collect();
    // Per direction: bytes sent by the origin, received in order at the far
    // end, and acknowledged by the far end.
    let (mut up_sent, mut up_got, mut up_acked) = (0usize, Vec::new(), 0usize);
    let (mut down_sent, mut down_got, mut down_acked) = (0usize, Vec::new(), 0usize);
    // The highest ACK the card sent each side, as stream offsets.
    let (mut client_heard, mut server_heard) = (0usize, 0usize);
    let off = |base: SeqNum, seq: SeqNum| seq.0.wrapping_sub(base.0).wrapping_sub(1) as usize;

    let mut steps = 0;
    while up_acked < TOTAL || down_acked < TOTAL || client_heard < TOTAL || server_heard < TOTAL {
        steps += 1;
        assert!(steps < 20_000, "no progress (seed {seed}): up {up_sent}/{}/{up_acked}, down {down_sent}/{}/{down_acked}", up_got.len(), down_got.len());
        let frame = match rng.gen_range(0..4) {
            // The client sends a chunk (or ACKs what it got).
            0 if up_sent < TOTAL && up_sent - client_heard < IN_FLIGHT => {
                let n = rng.gen_range(1..=1400).min(TOTAL - up_sent);
                let seq = IRS_C.wrapping_add(1 + up_sent as u32);
                let f = from_client(seq, iss_c.0.wrapping_add(1 + down_acked as u32), TcpFlags::ACK | TcpFlags::PSH, &up[up_sent..up_sent + n]);
                up_sent += n;
                f
            }
            1 if down_sent < TOTAL && down_sent - server_heard < IN_FLIGHT => {
                let n = rng.gen_range(1..=1400).min(TOTAL - down_sent);
                let seq = IRS_S + 1 + down_sent as u32;
                let f = from_server(s, seq, iss_s.0.wrapping_add(1 + up_acked as u32), TcpFlags::ACK | TcpFlags::PSH, &down[down_sent..down_sent + n]);
                down_sent += n;
                f
            }
            // The client ACKs some or all of what it received.
            2 => {
                let n = rng.gen_range(down_acked..=down_got.len());
                down_acked = n;
                from_client(IRS_C.wrapping_add(1 + up_sent as u32), iss_c.0.wrapping_add(1 + n as u32), TcpFlags::ACK, &[])
            }
            _ => {
                let n = rng.gen_range(up_acked..=up_got.len());
                up_acked = n;
                from_server(s, IRS_S + 1 + down_sent as u32, iss_s.0.wrapping_add(1 + n as u32), TcpFlags::ACK, &[])
            }
        };
        for (to, tcp, payload) in exchange(&mut ls, &frame) {
            if to == SERVER {
                let o = off(iss_s, tcp.seq);
                assert!(o <= up_got.len(), "seed {seed}: a byte to the server beyond a gap (offset {o}, have {})", up_got.len());
                let fresh = (o + payload.len()).saturating_sub(up_got.len());
                assert_eq!(&payload[..], &up[o..o + payload.len()], "seed {seed}: relayed bytes at offset {o} differ from the client's");
                up_got.extend_from_slice(&payload[payload.len() - fresh..]);
                let heard = off(SeqNum(IRS_S), tcp.ack);
                assert!(heard <= down_acked, "seed {seed}: the server heard an ACK of {heard} bytes, the client ACKed {down_acked}");
                server_heard = server_heard.max(heard);
            } else {
                assert_eq!(to, CLIENT);
                let o = off(iss_c, tcp.seq);
                assert!(o <= down_got.len(), "seed {seed}: a byte to the client beyond a gap (offset {o}, have {})", down_got.len());
                let fresh = (o + payload.len()).saturating_sub(down_got.len());
                assert_eq!(&payload[..], &down[o..o + payload.len()], "seed {seed}: relayed bytes at offset {o} differ from the server's");
                down_got.extend_from_slice(&payload[payload.len() - fresh..]);
                let heard = off(SeqNum(IRS_C), tcp.ack);
                assert!(heard <= up_acked, "seed {seed}: the client heard an ACK of {heard} bytes, the server ACKed {up_acked}");
                client_heard = client_heard.max(heard);
            }
        }
    }
    assert_eq!((up_got.len(), down_got.len()), (TOTAL, TOTAL), "seed {seed}");
    eprintln!("seed {seed}: {TOTAL} bytes each way in {steps} steps");
}

/// A standby card is silent, also over a TCB the host is still installing
/// word by word: with only its state (SYN-RECEIVED) and ports written, the
/// rest still zero (irs, ack_sent, the timer, and a `peer_link` of 0, which
/// names slot 0), it looks like a held client side whose connect timeout
/// ran out. The timer scan must not answer it (it once sent the closed
/// port's RST|ACK from both cards of a starting pair).
#[test]
fn a_standby_card_stays_silent_over_a_half_installed_tcb() {
    use holdback_regmap::{self as regmap, tcb};
    let mut ls = start();
    ls.set_ctrl(true, true, true).or_panic("standby");
    let id = 5u32;
    let mut words = [0u32; regmap::TCB_WORDS];
    tcb::STATE.set(&mut words, TcpState::SynReceived as u32);
    tcb::LOCAL_PORT.set(&mut words, u32::from(RELAY_PORT));
    tcb::REMOTE_PORT.set(&mut words, u32::from(CLIENT_PORT));
    for w in [tcb::STATE.word, tcb::LOCAL_PORT.word] {
        ls.dut.reg_write(regmap::tcb_word_addr(id, w), words[w as usize]).unwrap_or_else(|e| panic!("TCB word {w}: {e}"));
    }
    ls.dut.advance_us(CONNECT_US + 10_000);
    ls.dut.settle(2_000_000).unwrap_or_else(|e| panic!("settle: {e}"));
    let mut out = Vec::new();
    while let Some(f) = ls.dut.pop_tx_frame() {
        out.push(f);
    }
    assert!(out.is_empty(), "a standby card sent {:?}", segments(&out));
}

/// With hold-synack (CTRL bit4, the pair's `replicate = "at-setup"`), the
/// backend's accept no longer releases the client's SYN-ACK: the host does,
/// once the standby holds both sides (docs/relay.md, "Setup across three
/// parties").
#[test]
fn with_hold_synack_the_clients_syn_ack_also_waits_for_the_hosts_release() {
    let mut ls = start();
    ls.set_failover(true, true).or_panic("CTRL hold-synack");
    let (c, s, iss_s) = open(&mut ls);
    let out = ls.frame(&server_syn_ack(s, iss_s)).or_panic("server SYN-ACK");
    let segs = segments(&out);
    assert_eq!(segs.len(), 1, "only the server's ACK: {segs:?}");
    assert_eq!((segs[0].0, segs[0].1.flags, segs[0].1.ack), (SERVER, TcpFlags::ACK, SeqNum(IRS_S) + 1));
    let (tc, ts) = (ls.model.tcb(c).clone(), ls.model.tcb(s).clone());
    assert_eq!((tc.state, tc.rel, ts.state), (TcpState::SynReceived, SeqNum(IRS_C), TcpState::Established), "c still held");
    check(&mut ls, &[c, s], "the backend accepted, the host has not released");
    assert!(ls.frame(&client_syn()).or_panic("repeated SYN").is_empty(), "a repeated SYN meets a held SYN-ACK");
    // The host's release: the SYN-ACK, and c's timer now the SYN-ACK's.
    let out = ls.release(c, IRS_C.wrapping_add(1)).or_panic("the host's release");
    let segs = segments(&out);
    assert_eq!(segs.len(), 1, "{segs:?}");
    assert_eq!((segs[0].0, segs[0].1.flags, segs[0].1.ack), (CLIENT, TcpFlags::SYN | TcpFlags::ACK, SeqNum(IRS_C) + 1));
    let iss_c = segs[0].1.seq;
    check(&mut ls, &[c, s], "released");
    assert!(ls.frame(&from_client(IRS_C.wrapping_add(1), iss_c.0.wrapping_add(1), TcpFlags::ACK, &[])).or_panic("client ACK").is_empty());
    assert_eq!((ls.model.tcb(c).state, ls.model.tcb(s).state), (TcpState::Established, TcpState::Established));
    check(&mut ls, &[c, s], "both ESTABLISHED");
}

/// A release that never comes (no standby acknowledged the pair) leaves the
/// client side held until the connect timeout, which ends both sides: the
/// client gets the closed port's RST|ACK, as when the backend is silent.
#[test]
fn with_hold_synack_a_release_that_never_comes_runs_out_the_connect_timeout() {
    let mut ls = start();
    ls.set_failover(true, true).or_panic("CTRL hold-synack");
    let (c, s, iss_s) = open(&mut ls);
    ls.frame(&server_syn_ack(s, iss_s)).or_panic("server SYN-ACK");
    check(&mut ls, &[c, s], "accepted, held");
    let mut sent = Vec::new();
    for _ in 0..40 {
        sent.extend(segments(&ls.advance(2048).or_panic("time")));
        if ls.model.tcb(c).state == TcpState::Closed {
            break;
        }
    }
    let to_client: Vec<_> = sent.iter().filter(|(to, _, _)| *to == CLIENT).collect();
    assert_eq!(to_client.len(), 1, "{sent:?}");
    assert_eq!((to_client[0].1.flags, to_client[0].1.ack), (TcpFlags::RST | TcpFlags::ACK, SeqNum(IRS_C) + 1));
    assert!(sent.iter().any(|(to, t, _)| *to == SERVER && t.flags.rst()), "the backend's connection is reset: {sent:?}");
    assert_eq!((ls.model.tcb(c).state, ls.model.tcb(s).state), (TcpState::Closed, TcpState::Closed), "both freed");
    check(&mut ls, &[c, s], "connect timeout after the accept");
}
