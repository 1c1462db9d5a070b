//! Relay mode's open in the model (relay_open.rs): scripted conversations of
//! a client, the card and a backend server, every expected frame written out
//! from docs/relay.md's rules. Both connections' sequence numbers straddle
//! the 32-bit wrap, and so do the splice's offsets.
use super::relay::NO_LINK;
use super::*;
use crate::wire::tcp_frame;

const CORE: Endpoint = Endpoint { mac: MacAddr([0x02, 0, 0, 0, 0, 0x02]), ip: Ipv4Addr::new(198, 18, 0, 2) };
const CLIENT: Endpoint = Endpoint { mac: MacAddr([0x02, 0, 0, 0, 0, 0x01]), ip: Ipv4Addr::new(198, 18, 0, 1) };
/// The backend, reached through its own next hop's MAC.
const SERVER: Endpoint = Endpoint { mac: MacAddr([0x02, 0, 0, 0, 0, 0x09]), ip: Ipv4Addr::new(198, 18, 1, 9) };
const RELAY_PORT: u16 = 8080;
const PLAIN_PORT: u16 = 5001;
const CLIENT_PORT: u16 = 40000;
const BACKEND_PORT: u16 = 80;
/// The client's ISS: its bytes cross 2^32 after 15.
const IRS_C: u32 = 0xffff_fff0;
/// Our ISS towards the client.
const ISS_C: u32 = 0xffff_ff00;
/// Our ISS towards the server: its bytes cross 2^32 after 7, and
/// `s.seq_offset = IRS_C - ISS_S` wraps (it is -8).
const ISS_S: u32 = 0xffff_fff8;
/// The server's ISS: `c.seq_offset = IRS_S - ISS_C` wraps too (0x110).
const IRS_S: u32 = 0x0000_0010;
const RTO: u32 = 200_000;
const RING: u32 = 8192;

/// A fresh model with `conns` slots: port 8080 relays to the backend, 5001
/// is a plain listening port.
fn model(conns: usize) -> RefModel {
    let mut cfg = Config::new(&CoreParams::DEFAULT, CORE.mac, CORE.ip, &[PLAIN_PORT, RELAY_PORT], 1460, RTO);
    cfg.ring_bytes = RING;
    cfg.conns = conns;
    cfg.relay = vec![(RELAY_PORT, RelayBackend { ip: SERVER.ip, port: BACKEND_PORT, next_hop: SERVER.mac })];
    RefModel::new(cfg)
}

fn s_port(s: usize) -> u16 {
    RELAY_LOCAL_PORT_BASE + s as u16
}

fn client_key() -> ConnKey {
    ConnKey { remote_ip: CLIENT.ip, remote_port: CLIENT_PORT, local_port: RELAY_PORT }
}

fn server_key(s: usize) -> ConnKey {
    ConnKey { remote_ip: SERVER.ip, remote_port: BACKEND_PORT, local_port: s_port(s) }
}

fn from_client(seq: u32, ack: u32, flags: TcpFlags, payload: &[u8]) -> Vec<u8> {
    tcp_frame(CLIENT, CORE, &TcpRepr::new(CLIENT_PORT, RELAY_PORT, SeqNum(seq), SeqNum(ack), flags, 64240), payload)
}

fn from_server(s: usize, seq: u32, ack: u32, flags: TcpFlags, payload: &[u8]) -> Vec<u8> {
    tcp_frame(SERVER, CORE, &TcpRepr::new(BACKEND_PORT, s_port(s), SeqNum(seq), SeqNum(ack), flags, 64240), payload)
}

fn to_client(seq: u32, ack: u32, flags: TcpFlags, window: u16) -> Vec<u8> {
    tcp_frame(CORE, CLIENT, &TcpRepr::new(RELAY_PORT, CLIENT_PORT, SeqNum(seq), SeqNum(ack), flags, window), &[])
}

fn to_server(s: usize, seq: u32, ack: u32, flags: TcpFlags, window: u16) -> Vec<u8> {
    tcp_frame(CORE, SERVER, &TcpRepr::new(s_port(s), BACKEND_PORT, SeqNum(seq), SeqNum(ack), flags, window), &[])
}

fn client_syn() -> Vec<u8> {
    tcp_frame(CLIENT, CORE, &TcpRepr::new(CLIENT_PORT, RELAY_PORT, SeqNum(IRS_C), SeqNum(0), TcpFlags::SYN, 64240).with_mss(1400), &[])
}

/// The card's SYN to the backend from slot `s`: our MSS, our Window Scale
/// always (docs/engine.md, Active open), the whole ring as window.
fn syn_to_server(s: usize) -> Vec<u8> {
    let seg = TcpRepr::new(s_port(s), BACKEND_PORT, SeqNum(ISS_S), SeqNum(0), TcpFlags::SYN, RING as u16)
        .with_mss(1460)
        .with_wscale(holdback_regmap::wscale_for_ring(RING));
    tcp_frame(CORE, SERVER, &seg, &[])
}

/// The server accepts: its SYN-ACK (no Window Scale, so neither side scales).
fn server_syn_ack(s: usize) -> Vec<u8> {
    tcp_frame(SERVER, CORE, &TcpRepr::new(BACKEND_PORT, s_port(s), SeqNum(IRS_S), SeqNum(ISS_S.wrapping_add(1)), TcpFlags::SYN | TcpFlags::ACK, 64240).with_mss(1400), &[])
}

/// The client's SYN-ACK: the client offered no Window Scale, so none.
fn syn_ack_to_client() -> Vec<u8> {
    let seg = TcpRepr::new(RELAY_PORT, CLIENT_PORT, SeqNum(ISS_C), SeqNum(IRS_C.wrapping_add(1)), TcpFlags::SYN | TcpFlags::ACK, RING as u16).with_mss(1460);
    tcp_frame(CORE, CLIENT, &seg, &[])
}

/// What a closed port answers the client's SYN with (RFC 9293 §3.10.7.1).
fn rst_ack_to_client() -> Vec<u8> {
    to_client(0, IRS_C.wrapping_add(1), TcpFlags::RST | TcpFlags::ACK, 0)
}

fn expect(step: Step, frames: &[Vec<u8>]) -> StatDelta {
    if let Err(m) = score(frames, &step.frames) {
        panic!("model deviates from the script:\n{m}");
    }
    step.stats
}

/// The client's SYN on a fresh model: c takes slot 0, s slot 1; s's SYN is the only frame.
fn open(m: &mut RefModel) -> (usize, usize) {
    m.learn_connect_iss_from(&[syn_to_server(1)]);
    let d = expect(m.on_frame(0, &client_syn()), &[syn_to_server(1)]);
    assert_eq!((d.get(Stat::ConnsOpened), d.get(Stat::ActiveOpens), d.get(Stat::TxFrames)), (1, 1, 1));
    let (c, s) = (m.lookup(client_key()).expect("client side"), m.lookup(server_key(1)).expect("server side"));
    assert_eq!((c, s), (0, 1), "c is taken first, then s");
    (c, s)
}

/// Open, the server's SYN-ACK, the client's ACK: both ESTABLISHED.
fn establish(m: &mut RefModel) -> (usize, usize) {
    let (c, s) = open(m);
    m.learn_iss(client_key(), SeqNum(ISS_C));
    expect(m.on_frame(1_000, &server_syn_ack(s)), &[to_server(s, ISS_S.wrapping_add(1), IRS_S + 1, TcpFlags::ACK, RING as u16), syn_ack_to_client()]);
    expect(m.on_frame(2_000, &from_client(IRS_C.wrapping_add(1), ISS_C + 1, TcpFlags::ACK, &[])), &[]);
    assert_eq!((m.tcb(c).state, m.tcb(s).state), (TcpState::Established, TcpState::Established));
    (c, s)
}

#[test]
fn the_clients_syn_ack_waits_for_the_servers_and_the_offsets_cross_the_wrap() {
    let mut m = model(4);
    assert_eq!(m.cfg.relay_connect_us, 3_000_000, "the default connect timeout");
    let (c, s) = open(&mut m);
    let (tc, ts) = (m.tcb(c).clone(), m.tcb(s).clone());
    assert_eq!((tc.state, tc.rel, tc.ack_sent, tc.holdback, tc.peer_link), (TcpState::SynReceived, SeqNum(IRS_C), SeqNum(IRS_C), true, s as u16));
    assert_eq!(tc.timer_due, 3_000_000, "the client side's timer is the connect timeout");
    assert_eq!((ts.state, ts.holdback, ts.peer_link, ts.iss), (TcpState::SynSent, true, c as u16, SeqNum(ISS_S)));
    assert_eq!(ts.seq_offset, 0xffff_fff8, "s.seq_offset = c.irs - s.iss, across the wrap");
    assert_eq!((ts.remote_ip, ts.remote_port, ts.local_port, ts.remote_mac()), (SERVER.ip, BACKEND_PORT, 49153, SERVER.mac));

    // Only s's timer runs: its SYN again at RTO, still no SYN-ACK to the client.
    m.learn_iss(client_key(), SeqNum(ISS_C));
    expect(m.on_time(RTO), &[syn_to_server(s)]);

    // The server accepts: s's ACK, then the client's SYN-ACK, its timer from now.
    let now = RTO + 1_000;
    expect(
        m.on_frame(now, &server_syn_ack(s)),
        &[to_server(s, ISS_S.wrapping_add(1), IRS_S + 1, TcpFlags::ACK, RING as u16), syn_ack_to_client()],
    );
    let (tc, ts) = (m.tcb(c).clone(), m.tcb(s).clone());
    assert_eq!((tc.state, tc.iss, tc.rel, tc.ack_sent, tc.timer_due), (TcpState::SynReceived, SeqNum(ISS_C), SeqNum(IRS_C.wrapping_add(1)), SeqNum(IRS_C.wrapping_add(1)), now + RTO));
    assert_eq!(tc.seq_offset, 0x110, "c.seq_offset = s.irs - c.iss, across the wrap");
    assert_eq!((ts.state, ts.seq_offset), (TcpState::Established, 0xffff_fff8));

    // The client's ACK completes its side and asks nothing of s.
    let gen_s = m.tcb(s).gen;
    expect(m.on_frame(now + 10, &from_client(IRS_C.wrapping_add(1), ISS_C + 1, TcpFlags::ACK, &[])), &[]);
    assert_eq!(m.tcb(c).state, TcpState::Established);
    assert_eq!(m.tcb(s).gen, gen_s, "nothing moved in s, so it is not written back");
}

#[test]
fn a_servers_banner_and_fin_before_the_clients_ack_reach_the_client_once_it_is_established() {
    let mut m = model(4);
    let (c, s) = open(&mut m);
    m.learn_iss(client_key(), SeqNum(ISS_C));
    expect(m.on_frame(1_000, &server_syn_ack(s)), &[to_server(s, ISS_S.wrapping_add(1), IRS_S + 1, TcpFlags::ACK, RING as u16), syn_ack_to_client()]);
    // The server speaks first (an SMTP banner) and closes, while c still waits for the client's ACK.
    let banner = b"220 relay test ready\r\n";
    m.on_frame(1_500, &from_server(s, IRS_S + 1, ISS_S.wrapping_add(1), TcpFlags::ACK | TcpFlags::PSH | TcpFlags::FIN, banner));
    assert_eq!(m.tcb(s).state, TcpState::CloseWait);
    assert_eq!((m.tcb(c).state, m.tcb(c).tx_end), (TcpState::SynReceived, 0), "SYN-RECEIVED takes no tail");
    // The client's ACK: c is ESTABLISHED and pulls s's step, the banner's tail and the close.
    m.on_frame(2_000, &from_client(IRS_C.wrapping_add(1), ISS_C + 1, TcpFlags::ACK, &[]));
    assert_eq!(m.tcb(c).tx_end, banner.len() as u32, "the banner is c's to send");
    assert_eq!(m.tcb(c).state, TcpState::FinWait1, "the server's FIN closes c after the banner");
}

#[test]
fn client_bytes_become_the_servers_tail_and_the_servers_ack_releases_the_clients_ack() {
    let mut m = model(4);
    let (c, s) = establish(&mut m);
    // 100 bytes across the client's wrap: held back (nothing released), relayed as s's tail.
    let data: Vec<u8> = (0..100u8).collect();
    expect(m.on_frame(3_000, &from_client(IRS_C.wrapping_add(1), ISS_C + 1, TcpFlags::ACK | TcpFlags::PSH, &data)), &[]);
    assert_eq!(m.tcb(c).rcv_nxt, SeqNum(IRS_C.wrapping_add(101)));
    assert_eq!(m.tcb(c).ack_sent, SeqNum(IRS_C.wrapping_add(1)));
    assert_eq!(m.tcb(s).tx_end, 100);

    // The TX model sent them (across s's wrap); the server ACKs 80.
    let sent = SeqNum(ISS_S.wrapping_add(101));
    (m.tcbs[s].snd_nxt, m.tcbs[s].snd_max) = (sent, sent);
    let d = expect(
        m.on_frame(4_000, &from_server(s, IRS_S + 1, ISS_S.wrapping_add(81), TcpFlags::ACK, &[])),
        &[to_client(ISS_C + 1, IRS_C.wrapping_add(81), TcpFlags::ACK, RING as u16)],
    );
    assert_eq!(d.get(Stat::TxFrames), 1);
    assert_eq!(m.tcb(c).rel, SeqNum(IRS_C.wrapping_add(81)), "R follows the server's ACK, not rcv_nxt");
    assert_eq!(m.tcb(c).rcv_nxt, SeqNum(IRS_C.wrapping_add(101)));
    // The same ACK again moves nothing and sends nothing.
    expect(m.on_frame(4_001, &from_server(s, IRS_S + 1, ISS_S.wrapping_add(81), TcpFlags::ACK, &[])), &[]);
}

#[test]
fn a_refused_backend_resets_the_client_and_frees_both_slots() {
    let mut m = model(2);
    let (c, s) = open(&mut m);
    let d = expect(m.on_frame(500, &from_server(s, 0, ISS_S.wrapping_add(1), TcpFlags::RST | TcpFlags::ACK, &[])), &[rst_ack_to_client()]);
    assert_eq!((d.get(Stat::ConnectsRefused), d.get(Stat::RelayConnectsFailed), d.get(Stat::RstSent)), (1, 1, 1));
    assert_eq!((m.tcb(c).state, m.tcb(s).state), (TcpState::Closed, TcpState::Closed));
    assert_eq!(m.tcb(c).peer_link, NO_LINK, "the survivor's link is cleared");
    assert_eq!(m.slots.free_count(), 2);
    assert_eq!((m.lookup(client_key()), m.lookup(server_key(s))), (None, None));
    // Nothing is left to time out.
    expect(m.on_time(3_000_000), &[]);
}

#[test]
fn the_connect_timeout_resets_the_client_and_frees_the_server_side_silently() {
    let mut m = model(4);
    // Shorter than the RTO, so s's SYN is not sent again before it.
    m.cfg.relay_connect_us = 150_000;
    let (c, s) = open(&mut m);
    expect(m.on_time(149_999), &[]);
    let d = expect(m.on_time(150_000), &[rst_ack_to_client()]);
    assert_eq!((d.get(Stat::RelayConnectsFailed), d.get(Stat::RstSent), d.get(Stat::TxFrames)), (1, 1, 1));
    assert_eq!((m.tcb(c).state, m.tcb(s).state), (TcpState::Closed, TcpState::Closed));
    // s's SYN timer is gone with it.
    expect(m.on_time(RTO), &[]);
    assert_eq!(m.slots.free_count(), 4);
}

#[test]
fn a_client_rst_while_connecting_frees_the_server_side_silently() {
    let mut m = model(4);
    let (c, s) = open(&mut m);
    let d = expect(m.on_frame(100, &from_client(IRS_C.wrapping_add(1), 0, TcpFlags::RST, &[])), &[]);
    assert_eq!((d.get(Stat::RstSent), d.get(Stat::RelayConnectsFailed)), (0, 0));
    assert_eq!((m.tcb(c).state, m.tcb(s).state), (TcpState::Closed, TcpState::Closed));
    assert_eq!(m.tcb(s).peer_link, NO_LINK);
    expect(m.on_time(RTO), &[]);
    // The server's late SYN-ACK now finds no connection.
    expect(m.on_frame(RTO + 1, &server_syn_ack(s)), &[to_server(s, ISS_S.wrapping_add(1), 0, TcpFlags::RST, 0)]);
}

#[test]
fn one_free_slot_drops_the_clients_syn_as_table_full() {
    let mut m = model(2);
    let plain = tcp_frame(CLIENT, CORE, &TcpRepr::new(41000, PLAIN_PORT, SeqNum(7), SeqNum(0), TcpFlags::SYN, 64240), &[]);
    m.on_frame(0, &plain);
    assert_eq!(m.slots.free_count(), 1);
    let d = expect(m.on_frame(10, &client_syn()), &[]);
    assert_eq!((d.get(Stat::DropTcbFull), d.get(Stat::ConnsOpened), d.get(Stat::ActiveOpens)), (1, 0, 0));
    assert_eq!(m.lookup(client_key()), None);
    assert_eq!(m.slots.free_count(), 1);
}

#[test]
fn a_repeated_client_syn_is_dropped_uncounted_while_the_backend_connects() {
    let mut m = model(4);
    open(&mut m);
    let d = expect(m.on_frame(50, &client_syn()), &[]);
    assert_eq!(d.nonzero(), vec![(Stat::RxFrames, 1)]);
}

#[test]
fn a_plain_port_beside_a_relay_port_answers_at_once() {
    let mut m = model(4);
    m.cfg.syn_cookies = Some(0);
    // With SYN cookies on and a threshold of 0, the plain port answers from a cookie...
    let plain = tcp_frame(CLIENT, CORE, &TcpRepr::new(41000, PLAIN_PORT, SeqNum(7), SeqNum(0), TcpFlags::SYN, 64240), &[]);
    let d = m.on_frame(0, &plain).stats;
    assert_eq!(d.get(Stat::CookiesSent), 1);
    // ...and the relay port never does: it opens the pair, and an ACK for no
    // connection on it gets the plain RST, not a cookie check.
    open(&mut m);
    let ack = tcp_frame(CLIENT, CORE, &TcpRepr::new(41002, RELAY_PORT, SeqNum(900), SeqNum(77), TcpFlags::ACK, 64240), &[]);
    let rst = tcp_frame(CORE, CLIENT, &TcpRepr::new(RELAY_PORT, 41002, SeqNum(77), SeqNum(0), TcpFlags::RST, 0), &[]);
    let d = expect(m.on_frame(5, &ack), &[rst]);
    assert_eq!((d.get(Stat::DropNoConnection), d.get(Stat::CookiesRefused), d.get(Stat::RstSent)), (1, 0, 1));
    m.cfg.syn_cookies = None;
    // A plain open on the same model: its SYN-ACK at once.
    let syn_ack = tcp_frame(CORE, CLIENT, &TcpRepr::new(PLAIN_PORT, 41001, SeqNum(0x1234), SeqNum(8), TcpFlags::SYN | TcpFlags::ACK, RING as u16).with_mss(1460), &[]);
    m.learn_iss_from(std::slice::from_ref(&syn_ack));
    let plain = tcp_frame(CLIENT, CORE, &TcpRepr::new(41001, PLAIN_PORT, SeqNum(7), SeqNum(0), TcpFlags::SYN, 64240), &[]);
    let d = expect(m.on_frame(10, &plain), &[syn_ack]);
    assert_eq!((d.get(Stat::ConnsOpened), d.get(Stat::ActiveOpens)), (1, 0));
    let id = m.lookup(ConnKey { remote_ip: CLIENT.ip, remote_port: 41001, local_port: PLAIN_PORT }).expect("plain connection");
    assert_eq!(m.tcb(id).peer_link, NO_LINK);
}

#[test]
fn a_server_reset_after_establishment_resets_the_client() {
    let mut m = model(4);
    let (c, s) = establish(&mut m);
    let d = expect(m.on_frame(3_000, &from_server(s, IRS_S + 1, 0, TcpFlags::RST, &[])), &[to_client(ISS_C + 1, 0, TcpFlags::RST, 0)]);
    assert_eq!((d.get(Stat::RstSent), d.get(Stat::HostAborts), d.get(Stat::RelayConnectsFailed)), (1, 0, 0));
    assert_eq!((m.tcb(c).state, m.tcb(s).state), (TcpState::Closed, TcpState::Closed));
}

#[test]
fn the_close_crosses_both_ways_and_the_last_fin_is_acked_after_the_pair_ends() {
    let mut m = model(4);
    let (c, s) = establish(&mut m);
    let (c1, s1) = (IRS_C.wrapping_add(1), ISS_S.wrapping_add(1));
    // The client's FIN: held (nothing released); s closes, its FIN at once (nothing to send).
    expect(m.on_frame(3_000, &from_client(c1, ISS_C + 1, TcpFlags::ACK | TcpFlags::FIN, &[])), &[to_server(s, s1, IRS_S + 1, TcpFlags::FIN | TcpFlags::ACK, RING as u16)]);
    assert_eq!((m.tcb(c).state, m.tcb(s).state), (TcpState::CloseWait, TcpState::FinWait1));
    // The server ACKs our FIN: the client's FIN is ACKed, but the client side
    // stays in CLOSE-WAIT (the half-close): the server may still be sending.
    expect(m.on_frame(4_000, &from_server(s, IRS_S + 1, s1.wrapping_add(1), TcpFlags::ACK, &[])), &[to_client(ISS_C + 1, c1.wrapping_add(1), TcpFlags::ACK, RING as u16)]);
    assert_eq!((m.tcb(c).state, m.tcb(s).state), (TcpState::CloseWait, TcpState::FinWait2));
    assert!(!m.tcb(c).close_asked);
    // The server's FIN: now the client side closes; s holds its ACK until the client ACKed ours.
    expect(m.on_frame(5_000, &from_server(s, IRS_S + 1, s1.wrapping_add(1), TcpFlags::ACK | TcpFlags::FIN, &[])), &[to_client(ISS_C + 1, c1.wrapping_add(1), TcpFlags::FIN | TcpFlags::ACK, RING as u16)]);
    assert_eq!((m.tcb(c).state, m.tcb(s).state), (TcpState::LastAck, TcpState::TimeWait));
    assert!(m.tcb(c).close_asked);
    // The client ACKs our FIN: c ends, and its last step ACKs the server's FIN.
    expect(m.on_frame(6_000, &from_client(c1.wrapping_add(1), ISS_C + 2, TcpFlags::ACK, &[])), &[to_server(s, s1.wrapping_add(1), IRS_S + 2, TcpFlags::ACK, RING as u16)]);
    assert_eq!(m.tcb(c).state, TcpState::Closed);
    assert_eq!((m.tcb(s).state, m.tcb(s).peer_link), (TcpState::TimeWait, NO_LINK), "s outlives c, unlinked");
}

#[test]
fn a_host_abort_of_either_side_while_connecting_ends_the_other() {
    // The server side: its RST, then the client's RST|ACK.
    let mut m = model(4);
    let (c, s) = open(&mut m);
    let d = expect(m.on_abort(100, s), &[to_server(s, ISS_S.wrapping_add(1), 0, TcpFlags::RST, 0), rst_ack_to_client()]);
    assert_eq!((d.get(Stat::HostAborts), d.get(Stat::RelayConnectsFailed), d.get(Stat::RstSent)), (1, 1, 2));
    assert_eq!((m.tcb(c).state, m.tcb(s).state), (TcpState::Closed, TcpState::Closed));

    // The client side: CONN_ABORT's own RST (at snd_nxt; the held side's ISS
    // is learned only when its SYN-ACK goes, so it is 0 here), and s is
    // freed without a word.
    let mut m = model(4);
    let (c, s) = open(&mut m);
    let d = expect(m.on_abort(100, c), &[to_client(1, 0, TcpFlags::RST, 0)]);
    assert_eq!((d.get(Stat::HostAborts), d.get(Stat::RelayConnectsFailed), d.get(Stat::RstSent)), (1, 0, 1));
    assert_eq!((m.tcb(c).state, m.tcb(s).state), (TcpState::Closed, TcpState::Closed));
    expect(m.on_time(RTO), &[]);
}

#[test]
fn the_server_sides_give_up_resets_the_client() {
    let mut m = model(4);
    // Longer than the SYN's seven retransmissions (128 RTOs).
    m.cfg.relay_connect_us = 200 * RTO;
    let (c, s) = open(&mut m);
    for _ in 0..MAX_RETRIES {
        expect(m.on_time(m.tcb(s).timer_due), &[syn_to_server(s)]);
    }
    let d = expect(m.on_time(m.tcb(s).timer_due), &[to_server(s, ISS_S.wrapping_add(1), 0, TcpFlags::RST, 0), rst_ack_to_client()]);
    assert_eq!((d.get(Stat::GiveUpResets), d.get(Stat::RelayConnectsFailed), d.get(Stat::RstSent)), (1, 1, 2));
    assert_eq!((m.tcb(c).state, m.tcb(s).state), (TcpState::Closed, TcpState::Closed));
    expect(m.on_time(200 * RTO), &[]);
}
