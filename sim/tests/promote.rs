//! Card roles (standby, promotion) on the Verilated core, scored against the
//! reference model: a standby card holding the primary's TCB copies is
//! silent; PROMOTE makes it active from the released point R 
//! (invariant 3) with a new epoch, announces the address by gratuitous ARP
//! first (invariant 8), keeps the advertised right edge (invariant 5) and,
//! with CTRL bit3, sends one ACK at R plus three duplicates per connection;
//! hold-synack (claim 31, invariant 6) keeps the SYN-ACK until the release.
//! Every emitted segment is checked for A ≤ R (invariant 1) by the harness.
//!
//! Needs verilator (the sim crate's build verilates the core).
#[path = "common/or_panic.rs"]
mod or_panic;
use or_panic::OrPanic;
use std::net::Ipv4Addr;

use holdback_regmap::{self as regmap, tcb, CoreParams, TcpState, TCB_WORDS};
use holdback_sim::core_sim::CoreSim;
use holdback_sim::refmodel::lockstep::{test_mac, Lockstep, PeerConn};
use holdback_sim::refmodel::Config;
use holdback_sim::wire::{
    arp_oper, arp_request, tcp_frame, Endpoint, Frame, FrameBody, MacAddr, SeqNum, TcpFlags, TcpRepr,
};

const SERVICE_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const PRIMARY_MAC: MacAddr = MacAddr([0x02, 0x00, 0x5e, 0x00, 0x00, 0x02]);
const STANDBY_MAC: MacAddr = MacAddr([0x02, 0x00, 0x5e, 0x00, 0x00, 0x03]);
const LISTEN: u16 = 5001;
const RTO_US: u32 = 3000;

fn peer(n: u16) -> Endpoint {
    Endpoint { mac: test_mac(n), ip: Ipv4Addr::new(198, 18, 2, n as u8) }
}

fn start(mac: MacAddr) -> Lockstep<CoreSim> {
    let core = CoreSim::new().unwrap_or_else(|e| panic!("cannot start the Verilated core ({e}); apt-get install verilator"));
    let mut cfg = Config::new(&CoreParams::DEFAULT, mac, SERVICE_IP, &[LISTEN], 1460, RTO_US);
    cfg.holdback = true;
    Lockstep::new(core, cfg).unwrap_or_else(|e| panic!("configure: {e}"))
}

fn tcp_of(f: &[u8]) -> (Ipv4Addr, TcpRepr) {
    let frame = Frame::parse(f).expect("the core's frames parse");
    let (ip, tcp, payload) = frame.tcp().expect("a TCP segment");
    assert!(payload.is_empty(), "the core sends no payload");
    (ip.dst, tcp.clone())
}

/// Counters, change log and every TCB of `ids` agree with the model.
fn check_all(ls: &mut Lockstep<CoreSim>, ids: &[usize], what: &str) {
    ls.check_stats().or_panic(what);
    ls.check_change_log().or_panic(what);
    for id in ids {
        ls.check_tcb(*id, &[]).or_panic(what);
    }
}

/// The primary's state, as replication would ship it: three connections —
/// `data` ESTABLISHED with bytes above R, `fin` CLOSE-WAIT with the peer's
/// FIN above R, `half` SYN-RECEIVED — and their TCB words.
struct PrimaryState {
    data: PeerConn,
    fin: PeerConn,
    half_id: usize,
    tcbs: Vec<(usize, [u32; TCB_WORDS])>,
}

fn primary_state() -> PrimaryState {
    let mut p = start(PRIMARY_MAC);
    // The standby's card is in its primary's epoch: the copies it takes
    // must not be older than its EPOCH (docs/authority.md).
    p.set_epoch(6).or_panic("epoch");
    let mut data = PeerConn::open(&mut p, peer(1), 40001, LISTEN, 1_000).or_panic("open data");
    data.send(&mut p, &[0xA5; 1200]).or_panic("data 1");
    data.send(&mut p, &[0x5A; 800]).or_panic("data 2");
    // The app committed the first 700 bytes only: R = irs + 1 + 700.
    let r = p.model.tcb(data.id).irs + 1 + 700;
    p.release(data.id, r.0).or_panic("release 700");

    let mut fin = PeerConn::open(&mut p, peer(2), 40002, LISTEN, 0xFFFF_FF00).or_panic("open fin");
    fin.send(&mut p, &[7; 300]).or_panic("fin data");
    let fin_seg = fin.segment(fin.snd_nxt, TcpFlags::FIN | TcpFlags::ACK, &[]);
    p.frame(&fin_seg).or_panic("peer FIN");
    fin.snd_nxt += 1;
    let r = p.model.tcb(fin.id).irs + 1 + 300; // data committed, FIN not yet
    p.release(fin.id, r.0).or_panic("release data, not the FIN");
    assert_eq!(p.model.tcb(fin.id).state, TcpState::CloseWait);

    let half_peer = peer(3);
    let core = Endpoint { mac: PRIMARY_MAC, ip: SERVICE_IP };
    let half_syn = tcp_frame(half_peer, core, &TcpRepr::new(40003, LISTEN, SeqNum(77), SeqNum(0), TcpFlags::SYN, 64240).with_mss(1460), &[]);
    p.frame(&half_syn).or_panic("half-open SYN");
    let key = holdback_sim::refmodel::ConnKey { remote_ip: half_peer.ip, remote_port: 40003, local_port: LISTEN };
    let half_id = p.model.lookup(key).expect("SYN opened a TCB");

    let tcbs = [data.id, fin.id, half_id].iter().map(|&id| (id, p.read_tcb(id).or_panic("read primary TCB"))).collect();
    check_all(&mut p, &[data.id, fin.id, half_id], "primary");
    PrimaryState { data, fin, half_id, tcbs }
}

/// A standby card (its own MAC, the service IP) holding the primary's copies.
fn standby_with(state: &PrimaryState, dup_acks: bool) -> Lockstep<CoreSim> {
    let mut s = start(STANDBY_MAC);
    s.set_ctrl(true, true, true).or_panic("standby");
    s.set_epoch(6).or_panic("epoch");
    s.set_failover(dup_acks, false).or_panic("failover settings");
    // Some time on the standby's own clock, so the primary's timer_due means nothing here.
    assert!(s.advance(5_000).or_panic("standby time").is_empty());
    for (id, words) in &state.tcbs {
        s.write_tcb(*id, words).or_panic("install replicated TCB");
        assert_eq!(&s.read_tcb(*id).or_panic("read back"), words, "a standby card stores the host's TCB words");
    }
    s
}

fn promotion(dup_acks: bool) {
    let st = primary_state();
    let mut s = standby_with(&st, dup_acks);
    let ids = [st.data.id, st.fin.id, st.half_id];
    let rel = |s: &Lockstep<CoreSim>, id: usize| s.model.tcb(id).rel;
    let (r_data, r_fin) = (rel(&s, st.data.id), rel(&s, st.fin.id));
    let edge_before = s.model.tcb(st.data.id).rcv_adv;

    // Standby: the peers' segments, a new SYN, an ARP request and timers get nothing.
    let mut to_standby = st.data.clone();
    to_standby.core.mac = STANDBY_MAC;
    assert!(s.frame(&to_standby.data(&[1; 100])).or_panic("data in standby").is_empty());
    let syn = tcp_frame(peer(9), to_standby.core, &TcpRepr::new(40009, LISTEN, SeqNum(5), SeqNum(0), TcpFlags::SYN, 64240), &[]);
    assert!(s.frame(&syn).or_panic("SYN in standby").is_empty());
    assert!(s.frame(&arp_request(peer(9), SERVICE_IP)).or_panic("ARP in standby").is_empty());
    assert!(s.advance(4 * RTO_US).or_panic("timers in standby").is_empty());

    let out = s.promote(7).or_panic("promote");
    // The address moves first: a broadcast ARP announcement of our IP at our MAC.
    let garp = Frame::parse(&out[0]).expect("parses");
    assert_eq!(garp.eth.dst, MacAddr::BROADCAST);
    let FrameBody::Arp(arp) = garp.body else { panic!("first frame after PROMOTE is not ARP") };
    assert_eq!((arp.oper, arp.sha, arp.spa, arp.tpa, arp.tha), (arp_oper::REQUEST, STANDBY_MAC, SERVICE_IP, SERVICE_IP, MacAddr::ZERO));
    let acks = &out[1..];
    if dup_acks {
        // Both synchronised connections: one ACK at R and three identical duplicates.
        assert_eq!(acks.len(), 8, "1 + 3 ACKs on each of two connections");
        for (conn, r) in [(&st.data, r_data), (&st.fin, r_fin)] {
            let mine: Vec<&Vec<u8>> = acks.iter().filter(|f| tcp_of(f).1.dst_port == conn.peer_port).collect();
            assert_eq!(mine.len(), 4);
            assert!(mine.iter().all(|f| f == &mine[0]), "duplicates are identical");
            let (_, tcp) = tcp_of(mine[0]);
            assert_eq!(tcp.flags, TcpFlags::ACK);
            assert_eq!(tcp.ack, r, "ACK at R, not the primary's rcv_nxt (invariant 3)");
        }
    } else {
        assert!(acks.is_empty(), "without the setting PROMOTE sends only the ARP: {} frames", acks.len());
    }

    // Resumed from R, in the new epoch, active.
    for id in ids {
        assert_eq!(s.read_tcb(id).or_panic("read")[tcb::EPOCH.word as usize], 7, "epoch of TCB {id}");
    }
    let words = s.read_tcb(st.data.id).or_panic("read");
    assert_eq!(tcb::RCV_NXT.get(&words), r_data.0);
    assert_eq!(tcb::ACK_SENT.get(&words), r_data.0);
    assert!(SeqNum(tcb::RCV_ADV.get(&words)) >= edge_before, "right edge kept (invariant 5)");
    let fin_words = s.read_tcb(st.fin.id).or_panic("read");
    assert_eq!(TcpState::from_code(tcb::STATE.get(&fin_words)), Some(TcpState::Established), "the FIN above R comes again");
    assert_eq!(s.dut.reg_read(regmap::CTRL.offset).expect("CTRL") & regmap::CTRL_STANDBY, 0, "standby cleared");
    assert_eq!(s.dut.reg_read(regmap::EPOCH.offset).expect("EPOCH"), 7);
    assert_eq!(s.dut.reg_read(regmap::STATUS.offset).expect("STATUS") >> 16, 3, "the walk recounted the open TCBs");
    check_all(&mut s, &ids, "after promotion");

    // A second PROMOTE on the now active card is ignored.
    assert!(s.promote(8).or_panic("promote again").is_empty());
    assert_eq!(s.dut.reg_read(regmap::EPOCH.offset).expect("EPOCH"), 7);

    // The peer resends from R (what it never saw ACKed): in order at the card.
    let mut data = to_standby;
    data.snd_nxt = r_data;
    data.send(&mut s, &[0x5A; 500]).or_panic("retransmission from R");
    let out = s.release(data.id, (r_data + 500).0).or_panic("release the resent bytes");
    assert_eq!(tcp_of(&out[0]).1.ack, r_data + 500);
    // The peer's FIN comes again and is taken.
    let mut fin = st.fin.clone();
    fin.core.mac = STANDBY_MAC;
    let fin_seg = fin.segment(r_fin, TcpFlags::FIN | TcpFlags::ACK, &[]);
    s.frame(&fin_seg).or_panic("FIN again");
    // The half-open connection's timer runs on this card's clock: its SYN-ACK is retransmitted.
    let out = s.advance(2 * RTO_US).or_panic("SYN-RECEIVED timer");
    assert!(out.iter().any(|f| tcp_of(f).1.flags == TcpFlags::SYN | TcpFlags::ACK), "SYN-ACK retransmitted after RTO");
    check_all(&mut s, &ids, "after resuming");
}

#[test]
fn promote_resumes_from_r_with_garp_and_duplicate_acks() {
    promotion(true);
}

#[test]
fn promote_without_duplicate_acks_sends_only_the_garp() {
    promotion(false);
}

/// Entering standby on an active card: frames already decided go out whole,
/// then nothing — no answers, no timer retransmissions — and TCB writes are
/// allowed; leaving standby resumes the timers.
#[test]
fn entering_standby_on_an_active_card_is_clean() {
    let mut ls = start(PRIMARY_MAC);
    let mut c = PeerConn::open(&mut ls, peer(4), 40004, LISTEN, 9).or_panic("open");
    c.send(&mut ls, b"hello").or_panic("data");
    let core = Endpoint { mac: PRIMARY_MAC, ip: SERVICE_IP };
    let syn = tcp_frame(peer(5), core, &TcpRepr::new(40005, LISTEN, SeqNum(500), SeqNum(0), TcpFlags::SYN, 64240), &[]);
    assert_eq!(ls.frame(&syn).or_panic("SYN").len(), 1, "SYN-ACK while active");
    ls.set_epoch(3).or_panic("epoch");
    ls.set_ctrl(true, true, true).or_panic("a newer epoch exists: standby");
    assert_eq!(CoreSim::tx_pending(&ls.dut), 0, "no half-sent frame");
    assert!(ls.frame(&c.data(b"more")).or_panic("data").is_empty());
    assert!(ls.advance(10 * RTO_US).or_panic("timers").is_empty(), "no SYN-ACK retransmission in standby");
    let mut words = ls.read_tcb(c.id).or_panic("read");
    tcb::SND_WND.set(&mut words, 1234);
    // The host's TCB carries the card's epoch: an older one would be refused.
    tcb::EPOCH.set(&mut words, 3);
    ls.write_tcb(c.id, &words).or_panic("TCB write in standby");
    assert_eq!(ls.read_tcb(c.id).or_panic("read back"), words);
    check_all(&mut ls, &[c.id], "standby");
    ls.set_ctrl(true, true, false).or_panic("active again");
    let out = ls.advance(4 * RTO_US).or_panic("timers again");
    assert!(out.iter().any(|f| tcp_of(f).1.flags == TcpFlags::SYN | TcpFlags::ACK), "timers resume");
}

/// replicate = at-setup (claim 31): R starts at irs, the SYN-ACK (which ACKs
/// irs+1) goes only once a release moves R there; off, it goes at once.
#[test]
fn hold_synack_waits_for_the_release() {
    let mut ls = start(PRIMARY_MAC);
    ls.set_failover(false, true).or_panic("hold-synack on");
    let core = Endpoint { mac: PRIMARY_MAC, ip: SERVICE_IP };
    let p = peer(6);
    let syn = tcp_frame(p, core, &TcpRepr::new(40006, LISTEN, SeqNum(1_000), SeqNum(0), TcpFlags::SYN, 64240).with_mss(1460), &[]);
    assert!(ls.frame(&syn).or_panic("SYN").is_empty(), "SYN-ACK held");
    let key = holdback_sim::refmodel::ConnKey { remote_ip: p.ip, remote_port: 40006, local_port: LISTEN };
    let id = ls.model.lookup(key).expect("TCB opened");
    let words = ls.read_tcb(id).or_panic("read");
    assert_eq!(tcb::REL.get(&words), 1_000, "R starts at irs");
    assert!(ls.frame(&syn).or_panic("SYN again").is_empty(), "a repeated SYN gets nothing while held");
    assert!(ls.advance(3 * RTO_US).or_panic("time").is_empty(), "no timer while held");
    assert!(ls.release(id, 1_000).or_panic("release at irs").is_empty());
    let out = ls.release(id, 1_001).or_panic("release covering the SYN");
    assert_eq!(out.len(), 1);
    let (_, synack) = tcp_of(&out[0]);
    assert_eq!((synack.flags, synack.ack), (TcpFlags::SYN | TcpFlags::ACK, SeqNum(1_001)));
    // The handshake completes and data is held back at R as usual.
    let mut c = PeerConn { peer: p, core, peer_port: 40006, local_port: LISTEN, id, snd_nxt: SeqNum(1_001), rcv_nxt: synack.seq + 1 };
    ls.frame(&c.segment(c.snd_nxt, TcpFlags::ACK, &[])).or_panic("handshake ACK");
    assert_eq!(ls.model.tcb(id).state, TcpState::Established);
    c.send(&mut ls, &[3; 200]).or_panic("data");
    check_all(&mut ls, &[id], "held SYN-ACK");

    // Off again: the next connection's SYN-ACK goes at once.
    ls.set_failover(false, false).or_panic("hold-synack off");
    let c2 = PeerConn::open(&mut ls, peer(7), 40007, LISTEN, 42).or_panic("open without hold");
    check_all(&mut ls, &[id, c2.id], "after hold off");
}

/// A held SYN-ACK on the primary, replicated and released only on the
/// standby: promotion sends it (R covers the SYN), then the handshake ends there.
#[test]
fn promotion_sends_a_held_synack_that_was_released() {
    let mut p = start(PRIMARY_MAC);
    p.set_failover(false, true).or_panic("hold-synack");
    let core = Endpoint { mac: PRIMARY_MAC, ip: SERVICE_IP };
    let pe = peer(8);
    let syn = tcp_frame(pe, core, &TcpRepr::new(40008, LISTEN, SeqNum(0xFFFF_FFFF), SeqNum(0), TcpFlags::SYN, 64240), &[]);
    assert!(p.frame(&syn).or_panic("SYN").is_empty());
    let key = holdback_sim::refmodel::ConnKey { remote_ip: pe.ip, remote_port: 40008, local_port: LISTEN };
    let id = p.model.lookup(key).expect("opened");
    let words = p.read_tcb(id).or_panic("read");

    let mut s = start(STANDBY_MAC);
    s.set_ctrl(true, true, true).or_panic("standby");
    s.set_failover(true, true).or_panic("settings");
    s.write_tcb(id, &words).or_panic("install");
    // The standby stored the copy, so R may move past the SYN (invariant 2) — silently.
    assert!(s.release(id, 0).or_panic("release in standby").is_empty());
    let out = s.promote(1).or_panic("promote");
    assert_eq!(out.len(), 2, "ARP, then the SYN-ACK");
    let (_, synack) = tcp_of(&out[1]);
    assert_eq!((synack.flags, synack.ack), (TcpFlags::SYN | TcpFlags::ACK, SeqNum(0)));
    check_all(&mut s, &[id], "held SYN-ACK after promotion");
}
