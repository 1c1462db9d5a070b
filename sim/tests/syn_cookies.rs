//! SYN cookies (RFC 4987 §3.6, docs/syn-cookies.md) in the Verilated core,
//! every frame, TCB, counter and HALF_OPEN reading scored against the
//! reference model: past the half-open threshold a SYN is answered from a
//! cookie and takes no TCB; the ACK that returns a valid cookie opens the
//! connection in ESTABLISHED with the MSS the cookie encodes and, with
//! timestamps, the Window Scale and SACK-permitted its TSecr returns, data and
//! all; a forged, stale or ECN-claiming cookie gets a RST.
//!
//! Needs verilator (the sim crate's build verilates the core): install with
//! `apt-get install verilator`.
#[path = "common/or_panic.rs"]
mod or_panic;
use or_panic::OrPanic;
use std::net::Ipv4Addr;

use holdback_regmap::{CoreParams, Stat, TcpState};
use holdback_sim::core_sim::CoreSim;
use holdback_sim::refmodel::lockstep::{test_mac, Lockstep};
use holdback_sim::refmodel::syn_cookie::{cookie_generate, CookieTuple};
use holdback_sim::refmodel::{Config, ConnKey};
use holdback_sim::wire::{tcp_frame, Endpoint, Frame, MacAddr, SeqNum, TcpFlags, TcpRepr};

const CORE: Endpoint = Endpoint { mac: MacAddr([0x02, 0x00, 0x5e, 0x00, 0x00, 0x02]), ip: Ipv4Addr::new(198, 18, 0, 2) };
const LISTEN: u16 = 5001;
const KEYS: (u128, u128) = (0x0f0e_0d0c_0b0a_0908_0706_0504_0302_0100, 0x1f1e_1d1c_1b1a_1918_1716_1514_1312_1110);
/// One cookie period: 2^16 timestamp ticks.
const PERIOD_TICKS: u32 = 1 << 16;

fn peer(n: u16) -> Endpoint {
    Endpoint { mac: test_mac(n), ip: Ipv4Addr::new(198, 18, 5, n as u8) }
}

/// Cookies on past `threshold` half-open TCBs; timestamps and SACK as asked.
fn start(threshold: u16, timestamps: bool, sack: bool) -> Lockstep<CoreSim> {
    start_rto(threshold, timestamps, sack, 200_000)
}

fn start_rto(threshold: u16, timestamps: bool, sack: bool, rto_us: u32) -> Lockstep<CoreSim> {
    let core = CoreSim::new()
        .unwrap_or_else(|e| panic!("cannot start the Verilated core ({e}); the sim crate needs verilator: apt-get install verilator"));
    let mut cfg = Config::new(&CoreParams::DEFAULT, CORE.mac, CORE.ip, &[LISTEN], 1460, rto_us);
    cfg.timestamps = timestamps;
    cfg.reassembly = sack;
    cfg.sack = sack;
    cfg.syn_cookies = Some(threshold);
    cfg.cookie_keys = KEYS;
    let mut ls = Lockstep::new(core, cfg).unwrap_or_else(|e| panic!("configure: {e}"));
    // A clock well away from zero, so the time count is not trivially 0.
    ls.set_ts_clock(0x0123_4567).or_panic("TS_CLOCK");
    ls
}

/// What the peer's SYN offers.
#[derive(Clone, Copy)]
struct Offer {
    mss: u16,
    wscale: Option<u8>,
    sack: bool,
    tsval: Option<u32>,
}

const LINUX: Offer = Offer { mss: 1460, wscale: Some(7), sack: true, tsval: Some(0x1000_0000) };

fn syn(n: u16, isn: u32, o: Offer) -> Vec<u8> {
    let mut r = TcpRepr::new(40000 + n, LISTEN, SeqNum(isn), SeqNum(0), TcpFlags::SYN, 64240).with_mss(o.mss);
    if let Some(s) = o.wscale {
        r = r.with_wscale(s);
    }
    if o.sack {
        r = r.with_sack_permitted();
    }
    if let Some(ts) = o.tsval {
        r = r.with_timestamps(ts, 0);
    }
    tcp_frame(peer(n), CORE, &r, &[])
}

/// The peer's segment after the SYN-ACK: `ack`, its TSecr echoing `tsecr` when timestamps are on.
fn ack(n: u16, seq: u32, ack: u32, ts: Option<(u32, u32)>, payload: &[u8]) -> Vec<u8> {
    let mut r = TcpRepr::new(40000 + n, LISTEN, SeqNum(seq), SeqNum(ack), TcpFlags::ACK | TcpFlags::PSH, 502);
    if let Some((tsval, tsecr)) = ts {
        r = r.with_timestamps(tsval, tsecr);
    }
    tcp_frame(peer(n), CORE, &r, payload)
}

/// The one SYN-ACK among `frames`: (ISS, TSval, whether WS and SACK-permitted were offered, MSS).
fn synack(frames: &[Vec<u8>]) -> (u32, Option<u32>, bool, bool) {
    let seen: Vec<_> = frames
        .iter()
        .filter_map(|f| Frame::parse(f).ok())
        .filter_map(|f| f.tcp().map(|(_, t, _)| (t.flags, t.mss(), t.seq.0, t.timestamps().map(|(v, _)| v), t.wscale().is_some(), t.sack_permitted())))
        .collect();
    assert_eq!(seen.len(), 1, "one SYN-ACK: {seen:?}");
    let (flags, mss, iss, tsval, ws, sack) = seen[0];
    assert_eq!(flags, TcpFlags::SYN | TcpFlags::ACK);
    assert_eq!(mss, Some(1460), "our MSS, as for a slot's SYN-ACK");
    (iss, tsval, ws, sack)
}

fn delta(before: &[u32; Stat::COUNT], after: &[u32; Stat::COUNT], s: Stat) -> u32 {
    after[s.index()].wrapping_sub(before[s.index()])
}

/// Two SYNs take slots and stay half-open; HALF_OPEN counts them.
fn two_half_open(ls: &mut Lockstep<CoreSim>) {
    for n in 1..=2 {
        let out = ls.frame(&syn(n, 1000 * u32::from(n), LINUX)).or_panic("a SYN below the threshold");
        assert_eq!(out.len(), 1, "answered by a slot's SYN-ACK");
    }
    assert_eq!(ls.half_open().or_panic("HALF_OPEN"), 2);
}

#[test]
fn past_the_threshold_a_syn_gets_a_cookie_and_its_ack_opens_the_connection_with_data() {
    let mut ls = start(2, true, true);
    two_half_open(&mut ls);
    let before = ls.read_stats().or_panic("stats");
    let out = ls.frame(&syn(3, 0x7000_0000, LINUX)).or_panic("the SYN past the threshold");
    let (iss, tsval, ws, sack) = synack(&out);
    let now_count = (ls.ts_clock().or_panic("TS_CLOCK") >> 16) as u8;
    let tuple = CookieTuple { peer_ip: peer(3).ip, our_ip: CORE.ip, peer_port: 40003, our_port: LISTEN };
    assert_eq!(iss, cookie_generate(KEYS.0, KEYS.1, &tuple, 0x7000_0000, now_count, 3), "the ISS is the cookie (MSS 1460: index 3)");
    let tsval = tsval.expect("with timestamps the SYN-ACK carries the option");
    assert_eq!(tsval & 0x3F, 7 | 1 << 4, "the TSval's low bits carry shift 7 and SACK-permitted");
    assert!(ws && sack, "Window Scale and SACK-permitted offered: the TSecr returns them");
    let key = ConnKey { remote_ip: peer(3).ip, remote_port: 40003, local_port: LISTEN };
    assert_eq!(ls.model.lookup(key), None, "the cookie's SYN took no TCB");
    assert_eq!(ls.half_open().or_panic("HALF_OPEN"), 2);

    let out = ls.frame(&ack(3, 0x7000_0001, iss.wrapping_add(1), Some((0x1000_0010, tsval)), b"first bytes")).or_panic("the ACK returning the cookie");
    assert_eq!(out.len(), 1, "the data is ACKed: {out:?}");
    let id = ls.model.lookup(key).expect("the returned cookie opened a TCB");
    let t = ls.model.tcb(id).clone();
    assert_eq!(t.state, TcpState::Established);
    assert_eq!((t.irs, t.iss), (SeqNum(0x7000_0000), SeqNum(iss)));
    assert_eq!((t.peer_mss, t.snd_wscale, t.sack_ok, t.ts_ok), (1460, 7, true, true));
    assert_eq!(t.rcv_nxt, SeqNum(0x7000_0001 + 11));
    ls.check_tcb(id, &[]).or_panic("the cookie's TCB");
    ls.check_ring(id, 0, 11).or_panic("the ACK's data in the ring");
    assert_eq!(ls.half_open().or_panic("HALF_OPEN"), 2, "it never was half-open");
    let after = ls.read_stats().or_panic("stats");
    assert_eq!(delta(&before, &after, Stat::CookiesSent), 1);
    assert_eq!(delta(&before, &after, Stat::CookiesAccepted), 1);
    assert_eq!(delta(&before, &after, Stat::ConnsOpened), 1);
    ls.check_stats().or_panic("counters");
}

#[test]
fn without_timestamps_the_cookie_keeps_only_the_mss_and_the_options_stay_off() {
    let mut ls = start(0, false, true);
    let offer = Offer { mss: 1400, wscale: Some(9), sack: true, tsval: None };
    let out = ls.frame(&syn(7, 5000, offer)).or_panic("threshold 0: every SYN gets a cookie");
    let (iss, tsval, ws, sack) = synack(&out);
    assert_eq!((tsval, ws, sack), (None, false, false), "nothing the ACK could not return is offered");
    ls.frame(&ack(7, 5001, iss.wrapping_add(1), None, b"")).or_panic("the bare ACK");
    let key = ConnKey { remote_ip: peer(7).ip, remote_port: 40007, local_port: LISTEN };
    let id = ls.model.lookup(key).expect("opened");
    let t = ls.model.tcb(id).clone();
    assert_eq!((t.state, t.peer_mss, t.snd_wscale, t.rcv_wscale, t.sack_ok), (TcpState::Established, 1300, 0, 0, false), "MSS 1400 falls to the table's 1300");
    ls.check_tcb(id, &[]).or_panic("TCB");
    ls.check_stats().or_panic("counters");
}

#[test]
fn forged_stale_and_ecn_claiming_cookies_get_a_rst() {
    let mut ls = start(0, true, false);
    let offer = Offer { wscale: None, sack: false, ..LINUX };
    let out = ls.frame(&syn(9, 9000, offer)).or_panic("SYN");
    let (iss, tsval, _, _) = synack(&out);
    let tsval = tsval.expect("TS");
    let before = ls.read_stats().or_panic("stats");
    // One wrong bit, a TSecr claiming ECN, and the right cookie two periods later.
    for (what, ack_no, tsecr) in [("one bit off", iss ^ 0x100, tsval), ("ECN claimed", iss, tsval | 1 << 5)] {
        let out = ls.frame(&ack(9, 9001, ack_no.wrapping_add(1), Some((0x1000_0001, tsecr)), b"")).or_panic(what);
        let rst = out.iter().filter_map(|f| Frame::parse(f).ok()).filter_map(|f| f.tcp().map(|(_, t, _)| t.flags)).collect::<Vec<_>>();
        assert_eq!(rst, vec![TcpFlags::RST], "{what}: a RST");
    }
    let clock = ls.ts_clock().or_panic("TS_CLOCK");
    ls.set_ts_clock(clock.wrapping_add(2 * PERIOD_TICKS)).or_panic("two periods on");
    let out = ls.frame(&ack(9, 9001, iss.wrapping_add(1), Some((0x1000_0002, tsval)), b"")).or_panic("stale");
    assert_eq!(out.len(), 1, "a stale cookie: a RST");
    let after = ls.read_stats().or_panic("stats");
    assert_eq!(delta(&before, &after, Stat::CookiesRefused), 3);
    assert_eq!(delta(&before, &after, Stat::ConnsOpened), 0);
    ls.check_stats().or_panic("counters");
}

#[test]
fn half_open_follows_every_way_out_of_syn_received() {
    // RTO 5 ms: the SYN-ACK's seven retransmissions end in 1.3 s.
    let mut ls = start_rto(3, false, false, 5_000);
    let offer = Offer { wscale: None, sack: false, tsval: None, ..LINUX };
    let mut isses = Vec::new();
    for n in 1..=3 {
        let out = ls.frame(&syn(n, 100 * u32::from(n), offer)).or_panic("SYN");
        isses.push(synack(&out).0);
        assert_eq!(ls.half_open().or_panic("HALF_OPEN"), u32::from(n));
    }
    // At the threshold: a cookie, and HALF_OPEN stays.
    ls.frame(&syn(4, 400, offer)).or_panic("SYN at the threshold");
    assert_eq!(ls.half_open().or_panic("HALF_OPEN"), 3);
    // The handshake's ACK, a RST, and the SYN-ACK's give-up each leave SYN-RECEIVED.
    ls.frame(&ack(1, 101, isses[0].wrapping_add(1), None, b"")).or_panic("ACK");
    assert_eq!(ls.half_open().or_panic("HALF_OPEN"), 2);
    let rst = tcp_frame(peer(2), CORE, &TcpRepr::new(40002, LISTEN, SeqNum(201), SeqNum(0), TcpFlags::RST, 0), &[]);
    ls.frame(&rst).or_panic("RST");
    assert_eq!(ls.half_open().or_panic("HALF_OPEN"), 1);
    // Below the threshold again: the next SYN takes a slot.
    let out = ls.frame(&syn(5, 500, offer)).or_panic("SYN below the threshold");
    assert_eq!(out.len(), 1);
    assert_eq!(ls.half_open().or_panic("HALF_OPEN"), 2);
    for _ in 0..8 {
        ls.advance(200_000).or_panic("the SYN-ACKs' retransmissions and give-up");
    }
    assert_eq!(ls.half_open().or_panic("HALF_OPEN"), 0, "given up");
    ls.check_stats().or_panic("counters");
}

#[test]
fn with_hold_synack_a_cookie_connection_still_holds_its_data_for_the_host() {
    let mut ls = start(0, false, false);
    ls.set_ctrl(true, true, false).or_panic("holdback on");
    ls.set_failover(false, true).or_panic("hold-synack on");
    let offer = Offer { wscale: None, sack: false, tsval: None, ..LINUX };
    let out = ls.frame(&syn(6, 600, offer)).or_panic("SYN: a cookie SYN-ACK goes out at once, there is no TCB to hold it in");
    let (iss, ..) = synack(&out);
    let out = ls.frame(&ack(6, 601, iss.wrapping_add(1), None, b"held")).or_panic("ACK with data");
    let key = ConnKey { remote_ip: peer(6).ip, remote_port: 40006, local_port: LISTEN };
    let id = ls.model.lookup(key).expect("opened");
    let t = ls.model.tcb(id).clone();
    assert_eq!(t.rel, SeqNum(601), "R starts past the SYN: the cookie's SYN-ACK ACKed it");
    assert!(out.iter().all(|f| Frame::parse(f).ok().and_then(|f| f.tcp().map(|(_, t, _)| t.ack)) != Some(SeqNum(605))), "the data is not ACKed before the host releases it");
    let out = ls.release(id, 605).or_panic("release");
    assert_eq!(out.len(), 1, "the release ACKs it");
    ls.check_tcb(id, &[]).or_panic("TCB");
}

#[test]
fn a_card_with_the_pairs_keys_accepts_the_cookie_the_other_card_sent() {
    // The two cards of a pair: the same keys (derived from the pair's
    // secret) and TS_CLOCK from the same wall clock.
    let mut primary = start(0, true, true);
    let mut promoted = start(0, true, true);
    let out = primary.frame(&syn(11, 0x2222_0000, LINUX)).or_panic("SYN to the primary");
    let (iss, tsval, ..) = synack(&out);
    let tsval = tsval.expect("TS");
    let out = promoted
        .frame(&ack(11, 0x2222_0001, iss.wrapping_add(1), Some((0x1000_0020, tsval)), b"to the other card"))
        .or_panic("the ACK reaches the other card");
    assert_eq!(out.len(), 1, "the other card takes the data and ACKs it: {out:?}");
    let key = ConnKey { remote_ip: peer(11).ip, remote_port: 40011, local_port: LISTEN };
    let id = promoted.model.lookup(key).expect("the other card opened the connection from the cookie");
    let t = promoted.model.tcb(id).clone();
    assert_eq!((t.state, t.iss, t.snd_wscale, t.sack_ok), (TcpState::Established, SeqNum(iss), 7, true));
    promoted.check_tcb(id, &[]).or_panic("TCB on the other card");

    // A card with other keys refuses it.
    let mut stranger = start(0, true, true);
    stranger.set_syn_cookies(Some(0), (KEYS.1, KEYS.0)).or_panic("other keys");
    let out = stranger
        .frame(&ack(11, 0x2222_0001, iss.wrapping_add(1), Some((0x1000_0020, tsval)), b"to a stranger"))
        .or_panic("the ACK reaches a card with other keys");
    assert_eq!(out.len(), 1, "a RST");
    assert_eq!(stranger.model.lookup(key), None);
    stranger.check_stats().or_panic("counters");
}
