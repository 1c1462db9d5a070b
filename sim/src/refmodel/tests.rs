//! Self-tests of the reference model: scripted conversations whose every
//! expected frame is written out from the core's rules, independently of the
//! model's code paths. Sequence numbers straddle the 32-bit wrap.
use super::*;
use crate::wire::{arp_request, icmp_echo_frame, tcp_frame, Frame};

const CORE: Endpoint = Endpoint { mac: MacAddr([0x02, 0, 0, 0, 0, 0x02]), ip: Ipv4Addr::new(198, 18, 0, 2) };
const PEER: Endpoint = Endpoint { mac: MacAddr([0x02, 0, 0, 0, 0, 0x01]), ip: Ipv4Addr::new(198, 18, 0, 1) };
const PORT: u16 = 5001;
const PEER_PORT: u16 = 40000;
/// Peer's initial sequence number: the stream crosses 2^32 after 16 bytes.
const IRS: u32 = 0xffff_ffef;
const ISS: u32 = 0x7000_0000;
const RTO: u32 = 200_000;
/// The scripts' receive ring: 8 KiB (RX_RING_LOG2 = 13), so windows stay below 65535.
const RING: u32 = 8192;

fn model(holdback: bool) -> RefModel {
    let mut cfg = Config::new(&CoreParams::DEFAULT, CORE.mac, CORE.ip, &[PORT], 1460, RTO);
    cfg.holdback = holdback;
    cfg.ring_bytes = RING;
    RefModel::new(cfg)
}

fn from_peer(seq: u32, ack: u32, flags: TcpFlags, payload: &[u8]) -> Vec<u8> {
    tcp_frame(PEER, CORE, &TcpRepr::new(PEER_PORT, PORT, SeqNum(seq), SeqNum(ack), flags, 64240), payload)
}

fn to_peer(seq: u32, ack: u32, flags: TcpFlags, window: u16) -> Vec<u8> {
    tcp_frame(CORE, PEER, &TcpRepr::new(PORT, PEER_PORT, SeqNum(seq), SeqNum(ack), flags, window), &[])
}

fn syn_ack() -> Vec<u8> {
    tcp_frame(CORE, PEER, &TcpRepr::new(PORT, PEER_PORT, SeqNum(ISS), SeqNum(IRS.wrapping_add(1)), TcpFlags::SYN | TcpFlags::ACK, 8192).with_mss(1460), &[])
}

fn key() -> ConnKey {
    ConnKey { remote_ip: PEER.ip, remote_port: PEER_PORT, local_port: PORT }
}

fn expect(step: Step, frames: &[Vec<u8>]) -> StatDelta {
    if let Err(m) = score(frames, &step.frames) {
        panic!("model deviates from the script:\n{m}");
    }
    step.stats
}

/// Handshake with the ISS learned from a (scripted) core SYN-ACK; returns the slot.
fn open(m: &mut RefModel) -> usize {
    let syn = tcp_frame(PEER, CORE, &TcpRepr::new(PEER_PORT, PORT, SeqNum(IRS), SeqNum(0), TcpFlags::SYN, 64240).with_mss(1400), &[]);
    m.learn_iss_from(&[syn_ack()]);
    let d = expect(m.on_frame(0, &syn), &[syn_ack()]);
    assert_eq!(d.get(Stat::ConnsOpened), 1);
    let id = m.lookup(key()).expect("TCB exists");
    assert_eq!(id, 0, "a fresh model's first open takes slot 0");
    let t = m.tcb(id);
    assert_eq!((t.state, t.peer_mss, t.iss, t.snd_nxt, t.rcv_adv), (TcpState::SynReceived, 1400, SeqNum(ISS), SeqNum(ISS + 1), SeqNum(IRS) + 1 + RING));
    expect(m.on_frame(10, &from_peer(IRS.wrapping_add(1), ISS + 1, TcpFlags::ACK, &[])), &[]);
    assert_eq!(m.tcb(id).state, TcpState::Established);
    id
}

#[test]
fn data_is_acked_at_once_without_holdback_and_lands_in_the_ring_across_the_wrap() {
    let mut m = model(false);
    let id = open(&mut m);
    let data: Vec<u8> = (0..100u8).collect();
    let s1 = IRS.wrapping_add(1);
    // ack = rcv_nxt = s1+100, right edge unchanged = s1 + RING → window RING - 100.
    let d = expect(m.on_frame(20, &from_peer(s1, ISS + 1, TcpFlags::ACK | TcpFlags::PSH, &data)), &[to_peer(ISS + 1, s1.wrapping_add(100), TcpFlags::ACK, (RING - 100) as u16)]);
    assert_eq!(d.get(Stat::RxPayloadBytes), 100);
    assert_eq!(&m.ring(id)[..100], &data[..]);
    assert_eq!(m.tcb(id).rcv_nxt, SeqNum(s1.wrapping_add(100)));
    // Overlapping retransmission: bytes 50..150, only 100..150 are new.
    let more: Vec<u8> = (50..150u8).collect();
    let d = expect(m.on_frame(30, &from_peer(s1.wrapping_add(50), ISS + 1, TcpFlags::ACK, &more)), &[to_peer(ISS + 1, s1.wrapping_add(150), TcpFlags::ACK, (RING - 150) as u16)]);
    assert_eq!(d.get(Stat::RxPayloadBytes), 50);
    assert_eq!(&m.ring(id)[..150], &(0..150u8).collect::<Vec<_>>()[..]);
    // A release moves the right edge: window update ACK.
    let d = expect(m.on_release(40, id, s1.wrapping_add(150)), &[to_peer(ISS + 1, s1.wrapping_add(150), TcpFlags::ACK, RING as u16)]);
    assert_eq!(d.get(Stat::TxFrames), 1);
}

#[test]
fn holdback_withholds_the_ack_until_release_and_never_passes_it() {
    let mut m = model(true);
    let id = open(&mut m);
    let s1 = IRS.wrapping_add(1);
    // Data with holdback: ack stays min(rcv_nxt, rel) = s1, edge unchanged → silence.
    expect(m.on_frame(20, &from_peer(s1, ISS + 1, TcpFlags::ACK, &[7; 300])), &[]);
    assert_eq!(m.tcb(id).rcv_nxt, SeqNum(s1.wrapping_add(300)));
    assert_eq!(m.tcb(id).ack_sent, SeqNum(s1));
    // Release 200: ack s1+200, right edge s1+200+RING → window RING.
    expect(m.on_release(30, id, s1.wrapping_add(200)), &[to_peer(ISS + 1, s1.wrapping_add(200), TcpFlags::ACK, RING as u16)]);
    // Release beyond rcv_nxt: ack capped at rcv_nxt (invariant 1 is about R, so rcv_nxt ≤ R here is fine).
    expect(m.on_release(40, id, s1.wrapping_add(1000)), &[to_peer(ISS + 1, s1.wrapping_add(300), TcpFlags::ACK, (RING + 700) as u16)]);
    // Releasing backwards changes nothing.
    expect(m.on_release(50, id, s1), &[]);
    assert_eq!(m.tcb(id).rel, SeqNum(s1.wrapping_add(1000)));
}

#[test]
fn out_of_order_gets_a_duplicate_ack_and_out_of_window_an_ack() {
    let mut m = model(false);
    let id = open(&mut m);
    let s1 = IRS.wrapping_add(1);
    let dup = to_peer(ISS + 1, s1, TcpFlags::ACK, RING as u16);
    let d = expect(m.on_frame(20, &from_peer(s1.wrapping_add(10), ISS + 1, TcpFlags::ACK, &[1; 10])), std::slice::from_ref(&dup));
    assert_eq!(d.get(Stat::DropOutOfOrder), 1);
    let d = expect(m.on_frame(21, &from_peer(s1.wrapping_add(RING), ISS + 1, TcpFlags::ACK, &[1; 10])), std::slice::from_ref(&dup));
    assert_eq!(d.get(Stat::DropOutOfWindow), 1);
    // Entirely old data (before rcv_nxt) is unacceptable too.
    let d = expect(m.on_frame(22, &from_peer(s1.wrapping_sub(20), ISS + 1, TcpFlags::ACK, &[1; 10])), &[dup]);
    assert_eq!(d.get(Stat::DropOutOfWindow), 1);
    assert_eq!(m.tcb(id).rcv_nxt, SeqNum(s1));
    // Fill the window to 1000 bytes short, then overrun it: trimmed at rcv_adv.
    let mut at = 0u32;
    while at + 1000 < RING {
        let n = (RING - 1000 - at).min(1460);
        let ack = to_peer(ISS + 1, s1.wrapping_add(at + n), TcpFlags::ACK, (RING - at - n) as u16);
        expect(m.on_frame(23, &from_peer(s1.wrapping_add(at), ISS + 1, TcpFlags::ACK, &vec![9u8; n as usize])), &[ack]);
        at += n;
    }
    let d = expect(m.on_frame(23, &from_peer(s1.wrapping_add(at), ISS + 1, TcpFlags::ACK, &[8u8; 1200])), &[to_peer(ISS + 1, s1.wrapping_add(RING), TcpFlags::ACK, 0)]);
    assert_eq!(d.get(Stat::RxPayloadBytes), 1000);
    assert_eq!(m.ring(id)[(RING - 1) as usize], 8);
    // Zero window: only seq == rcv_nxt with no data is acceptable.
    expect(m.on_frame(24, &from_peer(s1.wrapping_add(RING), ISS + 1, TcpFlags::ACK, &[])), &[]);
    let d = expect(m.on_frame(25, &from_peer(s1.wrapping_add(RING), ISS + 1, TcpFlags::ACK, &[1])), &[to_peer(ISS + 1, s1.wrapping_add(RING), TcpFlags::ACK, 0)]);
    assert_eq!(d.get(Stat::DropOutOfWindow), 1);
}

#[test]
fn reassembly_holds_out_of_order_bytes_and_the_first_copy_wins() {
    let mut m = model(false);
    m.cfg.reassembly = true;
    let id = open(&mut m);
    let s1 = IRS.wrapping_add(1);
    // Bytes 100..200 ahead of rcv_nxt: held in the ring at their offset; a
    // duplicate ACK at rcv_nxt, window unchanged.
    let dup = to_peer(ISS + 1, s1, TcpFlags::ACK, RING as u16);
    let d = expect(m.on_frame(20, &from_peer(s1.wrapping_add(100), ISS + 1, TcpFlags::ACK, &[0xaa; 100])), std::slice::from_ref(&dup));
    assert_eq!((d.get(Stat::RxOooHeld), d.get(Stat::RxPayloadBytes), d.get(Stat::DropOutOfOrder)), (1, 100, 0));
    assert_eq!(&m.ring(id)[100..200], &[0xaa; 100][..]);
    assert_eq!(m.tcb(id).rcv_nxt, SeqNum(s1), "held bytes are not delivered");
    // A conflicting copy of 150..250: only 200..250 is new.
    let d = expect(m.on_frame(21, &from_peer(s1.wrapping_add(150), ISS + 1, TcpFlags::ACK, &[0xbb; 100])), std::slice::from_ref(&dup));
    assert_eq!((d.get(Stat::RxOooHeld), d.get(Stat::RxPayloadBytes)), (1, 50));
    assert_eq!(&m.ring(id)[150..200], &[0xaa; 50][..], "the first copy wins");
    assert_eq!(&m.ring(id)[200..250], &[0xbb; 50][..]);
    // Wholly held: dropped as out of order.
    let d = expect(m.on_frame(22, &from_peer(s1.wrapping_add(120), ISS + 1, TcpFlags::ACK, &[0xcc; 10])), std::slice::from_ref(&dup));
    assert_eq!((d.get(Stat::DropOutOfOrder), d.get(Stat::RxPayloadBytes)), (1, 0));
    // In order, running into the held range with other bytes: it stops at
    // 100, and rcv_nxt jumps to 250; one ACK says so.
    let d = expect(
        m.on_frame(23, &from_peer(s1, ISS + 1, TcpFlags::ACK, &[0xdd; 160])),
        &[to_peer(ISS + 1, s1.wrapping_add(250), TcpFlags::ACK, (RING - 250) as u16)],
    );
    assert_eq!((d.get(Stat::RxPayloadBytes), d.get(Stat::RxOooHolesFilled)), (100, 1));
    assert_eq!(&m.ring(id)[..100], &[0xdd; 100][..]);
    assert_eq!(&m.ring(id)[100..150], &[0xaa; 50][..]);
    assert!(m.holes(id).is_empty());
    // A FIN ahead of rcv_nxt is still out of order: its data is not held.
    let d = expect(m.on_frame(24, &from_peer(s1.wrapping_add(300), ISS + 1, TcpFlags::ACK | TcpFlags::FIN, &[1; 10])), &[to_peer(ISS + 1, s1.wrapping_add(250), TcpFlags::ACK, (RING - 250) as u16)]);
    assert_eq!((d.get(Stat::DropOutOfOrder), d.get(Stat::RxOooHeld)), (1, 0));
}

#[test]
fn passive_close_after_release_then_last_ack_closes() {
    let mut m = model(true);
    let id = open(&mut m);
    let s1 = IRS.wrapping_add(1);
    // 5 bytes + FIN: rcv_nxt = s1+6; holdback keeps the ack at s1 → no ACK (nothing moved).
    expect(m.on_frame(20, &from_peer(s1, ISS + 1, TcpFlags::ACK | TcpFlags::FIN, b"hello")), &[]);
    assert_eq!((m.tcb(id).state, m.tcb(id).fin_rcvd), (TcpState::CloseWait, true));
    // Release the bytes only: ACK s1+5; not yet past the FIN so no FIN of ours.
    expect(m.on_release(30, id, s1.wrapping_add(5)), &[to_peer(ISS + 1, s1.wrapping_add(5), TcpFlags::ACK, RING as u16)]);
    // Release past the FIN: our FIN|ACK carries the ACK of s1+6 (one frame).
    expect(m.on_release(40, id, s1.wrapping_add(6)), &[to_peer(ISS + 1, s1.wrapping_add(6), TcpFlags::FIN | TcpFlags::ACK, RING as u16)]);
    assert_eq!((m.tcb(id).state, m.tcb(id).snd_nxt, m.tcb(id).timer_due), (TcpState::LastAck, SeqNum(ISS + 2), 40 + RTO));
    // The FIN is retransmitted at its own sequence number when the timer fires;
    // the next wait is RTO << 0, then RTO << 1.
    let d = expect(m.on_time(40 + RTO), &[to_peer(ISS + 1, s1.wrapping_add(6), TcpFlags::FIN | TcpFlags::ACK, RING as u16)]);
    assert_eq!(d.get(Stat::Retransmits), 1);
    assert_eq!(m.tcb(id).timer_due, 40 + RTO + RTO);
    expect(m.on_time(40 + 2 * RTO), &[to_peer(ISS + 1, s1.wrapping_add(6), TcpFlags::FIN | TcpFlags::ACK, RING as u16)]);
    assert_eq!(m.tcb(id).timer_due, 40 + 2 * RTO + (RTO << 1));
    // The peer ACKs our FIN: CLOSED, slot free.
    expect(m.on_frame(50 + 2 * RTO, &from_peer(s1.wrapping_add(6), ISS + 2, TcpFlags::ACK, &[])), &[]);
    assert_eq!(m.tcb(id).state, TcpState::Closed);
    assert_eq!(m.lookup(key()), None);
}

#[test]
fn fin_without_holdback_is_acked_and_our_fin_waits_for_release() {
    let mut m = model(false);
    let id = open(&mut m);
    let s1 = IRS.wrapping_add(1);
    expect(m.on_frame(20, &from_peer(s1, ISS + 1, TcpFlags::ACK | TcpFlags::FIN, &[])), &[to_peer(ISS + 1, s1.wrapping_add(1), TcpFlags::ACK, (RING - 1) as u16)]);
    expect(m.on_release(30, id, s1.wrapping_add(1)), &[to_peer(ISS + 1, s1.wrapping_add(1), TcpFlags::FIN | TcpFlags::ACK, RING as u16)]);
}

#[test]
fn out_of_order_fin_without_holdback_is_acked() {
    // Without holdback every segment with data or FIN is ACKed.
    let mut m = model(false);
    let id = open(&mut m);
    let s1 = IRS.wrapping_add(1);
    let d = expect(m.on_frame(20, &from_peer(s1.wrapping_add(10), ISS + 1, TcpFlags::ACK | TcpFlags::FIN, &[])), &[to_peer(ISS + 1, s1, TcpFlags::ACK, RING as u16)]);
    assert_eq!(d.get(Stat::DropOutOfOrder), 1, "a FIN ahead of rcv_nxt is out of order like data");
    assert_eq!(m.tcb(id).state, TcpState::Established);
}

#[test]
fn ack_of_unsent_data_is_answered_and_the_segment_dropped() {
    let mut m = model(false);
    let id = open(&mut m);
    let s1 = IRS.wrapping_add(1);
    let d = expect(m.on_frame(20, &from_peer(s1, ISS + 5, TcpFlags::ACK, b"xyz")), &[to_peer(ISS + 1, s1, TcpFlags::ACK, RING as u16)]);
    assert_eq!(d.get(Stat::DropOutOfWindow), 1);
    assert_eq!(m.tcb(id).rcv_nxt, SeqNum(s1));
    let d = expect(m.on_frame(21, &from_peer(s1, 0, TcpFlags::PSH, b"xyz")), &[]);
    assert_eq!(d.get(Stat::DropUnsupported), 1);
}

#[test]
fn rst_handling_and_segments_for_no_connection() {
    let mut m = model(false);
    let id = open(&mut m);
    let s1 = IRS.wrapping_add(1);
    // In-window RST not at rcv_nxt: challenge ACK.
    expect(m.on_frame(20, &from_peer(s1.wrapping_add(5), 0, TcpFlags::RST, &[])), &[to_peer(ISS + 1, s1, TcpFlags::ACK, RING as u16)]);
    // SYN on an established connection: challenge ACK.
    expect(m.on_frame(21, &from_peer(s1, 0, TcpFlags::SYN, &[])), &[to_peer(ISS + 1, s1, TcpFlags::ACK, RING as u16)]);
    // Out-of-window RST: dropped silently.
    let d = expect(m.on_frame(22, &from_peer(s1.wrapping_add(RING + 5), 0, TcpFlags::RST, &[])), &[]);
    assert_eq!(d.get(Stat::DropOutOfWindow), 1);
    // Exact RST closes.
    expect(m.on_frame(23, &from_peer(s1, 0, TcpFlags::RST, &[])), &[]);
    assert_eq!(m.tcb(id).state, TcpState::Closed);
    // Now there is no connection: an ACK segment gets RST seq=its ack.
    let d = expect(m.on_frame(24, &from_peer(s1, 1234, TcpFlags::ACK, &[1, 2, 3])), &[to_peer(1234, 0, TcpFlags::RST, 0)]);
    assert_eq!((d.get(Stat::RstSent), d.get(Stat::DropNoConnection)), (1, 1));
    // A SYN to a closed port gets RST|ACK acking the SYN; a RST gets nothing.
    let syn = tcp_frame(PEER, CORE, &TcpRepr::new(PEER_PORT, 9, SeqNum(100), SeqNum(0), TcpFlags::SYN, 1000), &[]);
    let rst_ack = tcp_frame(CORE, PEER, &TcpRepr::new(9, PEER_PORT, SeqNum(0), SeqNum(101), TcpFlags::RST | TcpFlags::ACK, 0), &[]);
    expect(m.on_frame(25, &syn), &[rst_ack]);
    let d = expect(m.on_frame(26, &from_peer(5, 0, TcpFlags::RST, &[])), &[]);
    assert_eq!(d.get(Stat::DropNoConnection), 1);
}

#[test]
fn syn_received_retransmits_resends_and_gives_up() {
    let mut m = model(false);
    let syn = from_peer(IRS, 0, TcpFlags::SYN, &[]);
    m.learn_iss_from(&[syn_ack()]);
    let sa = tcp_frame(CORE, PEER, &TcpRepr::new(PORT, PEER_PORT, SeqNum(ISS), SeqNum(IRS.wrapping_add(1)), TcpFlags::SYN | TcpFlags::ACK, 8192).with_mss(1460), &[]);
    expect(m.on_frame(0, &syn), std::slice::from_ref(&sa));
    let id = m.lookup(key()).expect("open");
    assert_eq!(m.tcb(id).peer_mss, DEFAULT_PEER_MSS);
    // A retransmitted SYN is answered again.
    expect(m.on_frame(5, &syn), std::slice::from_ref(&sa));
    // A wrong ACK gets a RST at its ack.
    expect(m.on_frame(6, &from_peer(IRS.wrapping_add(1), 99, TcpFlags::ACK, &[])), &[to_peer(99, 0, TcpFlags::RST, 0)]);
    let mut now = 0u32;
    for retry in 0..MAX_RETRIES {
        now = m.tcb(id).timer_due;
        expect(m.on_time(now - 1), &[]);
        expect(m.on_time(now), std::slice::from_ref(&sa));
        assert_eq!(m.tcb(id).retries, retry + 1);
    }
    // The give-up resets (RFC 9293 §3.8.3, R2): a RST at snd_nxt, no ACK.
    let d = expect(m.on_time(m.tcb(id).timer_due), &[to_peer(ISS.wrapping_add(1), 0, TcpFlags::RST, 0)]);
    assert_eq!((d.get(Stat::RstSent), d.get(Stat::GiveUpResets)), (1, 1));
    assert_eq!(m.tcb(id).state, TcpState::Closed);
    assert!(now > 0);
}

#[test]
fn handshake_ack_with_data_completes_and_delivers() {
    let mut m = model(false);
    m.learn_iss_from(&[syn_ack()]);
    expect(m.on_frame(0, &from_peer(IRS, 0, TcpFlags::SYN, &[])), &[syn_ack()]);
    let s1 = IRS.wrapping_add(1);
    expect(m.on_frame(1, &from_peer(s1, ISS + 1, TcpFlags::ACK, b"abc")), &[to_peer(ISS + 1, s1.wrapping_add(3), TcpFlags::ACK, (RING - 3) as u16)]);
}

#[test]
fn table_full_when_every_slot_is_open_and_arp_icmp_answered() {
    let mut m = model(false);
    // Admission is "fewer than N open": N other connections take every slot.
    let conns = u16::try_from(m.cfg.conns).expect("N fits a port range");
    for port in 0..conns {
        let syn = tcp_frame(PEER, CORE, &TcpRepr::new(20000 + port, PORT, SeqNum(IRS), SeqNum(0), TcpFlags::SYN, 64240), &[]);
        assert_eq!(m.on_frame(0, &syn).stats.get(Stat::ConnsOpened), 1, "SYN from port {} admitted", 20000 + port);
    }
    let d = expect(m.on_frame(0, &from_peer(IRS, 0, TcpFlags::SYN, &[])), &[]);
    assert_eq!(d.get(Stat::DropTcbFull), 1);

    let d = expect(m.on_frame(1, &arp_request(PEER, CORE.ip)), &[wire::arp_reply(CORE, PEER)]);
    assert_eq!(d.get(Stat::ArpReplies), 1);
    let d = expect(m.on_frame(2, &arp_request(PEER, Ipv4Addr::new(198, 18, 0, 77))), &[]);
    assert_eq!(d.get(Stat::DropNotOurAddress), 1);

    let req = IcmpEchoRepr { request: true, ident: 7, seq_no: 1, data: b"ping payload".to_vec() };
    let rep = IcmpEchoRepr { request: false, ..req.clone() };
    let d = expect(m.on_frame(3, &icmp_echo_frame(PEER, CORE, &req)), &[icmp_echo_frame(CORE, PEER, &rep)]);
    assert_eq!(d.get(Stat::IcmpEchoReplies), 1);
    assert!(Frame::parse(&icmp_echo_frame(CORE, PEER, &rep)).is_ok());
}

#[test]
fn disabled_core_counts_only_rx_frames() {
    let mut m = model(false);
    m.cfg.enable = false;
    let d = expect(m.on_frame(0, &arp_request(PEER, CORE.ip)), &[]);
    assert_eq!(d.nonzero(), vec![(Stat::RxFrames, 1)]);
}

#[test]
fn parser_drop_reasons_in_plan_order() {
    use crate::wire::corrupt;
    let good = from_peer(IRS, 0, TcpFlags::SYN, &[]);
    let c = |f: &[u8]| classify(f, CORE.mac, CORE.ip).err();
    assert_eq!(c(&good), None);
    assert_eq!(c(&vec![0; 2049]), Some(Stat::DropOversize));
    assert_eq!(c(&good[..13]), Some(Stat::DropTruncated));
    assert_eq!(c(&good[..40]), Some(Stat::DropTruncated));
    assert_eq!(c(&corrupt::set_total_len(good.clone(), 100)), Some(Stat::DropTruncated));
    assert_eq!(c(&corrupt::set_dst_mac(good.clone(), MacAddr([2, 9, 9, 9, 9, 9]))), Some(Stat::DropNotOurAddress));
    assert_eq!(c(&corrupt::set_dst_mac(good.clone(), MacAddr::BROADCAST)), None);
    assert_eq!(c(&corrupt::set_ethertype(good.clone(), 0x86dd)), Some(Stat::DropUnknownEthertype));
    assert_eq!(c(&corrupt::set_ihl(good.clone(), 4)), Some(Stat::DropBadIpHeader));
    assert_eq!(c(&corrupt::set_ip_version(good.clone(), 6)), Some(Stat::DropBadIpHeader));
    assert_eq!(c(&corrupt::set_tcp_doff(good.clone(), 4)), Some(Stat::DropBadIpHeader));
    assert_eq!(c(&corrupt::bad_ip_checksum(good.clone())), Some(Stat::DropBadIpChecksum));
    assert_eq!(c(&corrupt::set_dst_ip(good.clone(), Ipv4Addr::new(198, 18, 0, 3))), Some(Stat::DropNotOurAddress));
    assert_eq!(c(&corrupt::fragment(good.clone(), true, 0)), Some(Stat::DropIpFragment));
    assert_eq!(c(&corrupt::bad_tcp_checksum(good.clone())), Some(Stat::DropBadTcpChecksum));
    assert_eq!(c(&corrupt::set_protocol(good.clone(), 17)), Some(Stat::DropUnsupported));
    // Padding beyond the total length is ignored.
    assert_eq!(c(&corrupt::pad(good, 6, 0xee)), None);
}

#[test]
fn model_survives_fuzzed_frames_releases_and_time() {
    use crate::wire::fuzz::FrameFuzzer;
    let mut m = model(false);
    let id = open(&mut m);
    let s1 = IRS.wrapping_add(1);
    let templates = vec![
        from_peer(s1, ISS + 1, TcpFlags::ACK | TcpFlags::PSH, &[3; 200]),
        from_peer(IRS, 0, TcpFlags::SYN, &[]),
        arp_request(PEER, CORE.ip),
        icmp_echo_frame(PEER, CORE, &IcmpEchoRepr { request: true, ident: 1, seq_no: 2, data: vec![9; 30] }),
    ];
    let mut fuzz = FrameFuzzer::new(crate::test_seed(0x5eed), templates);
    for n in 0..20_000u32 {
        let (_, f) = fuzz.next_frame();
        let step = m.on_frame(n, &f);
        for out in &step.frames {
            // Replies are well-formed (ICMP replies to corrupt requests keep the
            // request's wrong checksum, so only their IPv4 header is checked).
            if out[12..14] == [0x08, 0x00] {
                let ip = wire::Ipv4Packet::new_checked(&out[14..]).expect("reply has a valid IPv4 header");
                assert!(ip.verify_checksum());
            } else {
                assert!(Frame::parse(out).is_ok(), "ARP reply parses");
            }
        }
        if n % 97 == 0 {
            m.on_release(n, (n as usize) % 64, fuzz.rng.next_u64() as u32);
        }
        if n % 1000 == 0 {
            m.on_time(n.wrapping_mul(1024));
        }
    }
    assert_eq!(m.stat(Stat::RxFrames), 20_002, "the handshake's two frames and the fuzzed ones");
    let _ = m.tcb(id);
}

#[test]
fn slots_come_back_oldest_freed_first_then_never_used_ones() {
    let mut a = SlotAllocator::new(4);
    assert_eq!((a.take(), a.take()), (Some(0), Some(1)));
    a.free(1);
    a.free(0);
    assert_eq!((a.take(), a.take(), a.take(), a.take(), a.take()), (Some(1), Some(0), Some(2), Some(3), None));
    // A promotion rebuilds from the table: its closed slots, in slot order.
    a.rebuild([3, 1].into_iter());
    assert_eq!((a.take(), a.take(), a.take()), (Some(3), Some(1), None));
}

/// A retransmission timeout took snd_nxt back to snd_una with data and our
/// FIN in flight (FIN-WAIT-1): the peer's ACK of everything, past snd_nxt
/// but not past snd_max, moves both and acknowledges the FIN
/// (docs/engine.md, "Segment handling").
#[test]
fn an_ack_past_snd_nxt_after_a_go_back_moves_snd_una_and_snd_nxt() {
    let mut m = model(false);
    let id = open(&mut m);
    let t = &mut m.tcbs[id];
    t.state = TcpState::FinWait1;
    t.close_asked = true;
    t.tx_end = 2920;
    t.snd_una = SeqNum(ISS + 1);
    t.snd_nxt = SeqNum(ISS + 1 + 1460);
    t.snd_max = SeqNum(ISS + 1 + 2920 + 1);
    let s1 = IRS.wrapping_add(1);
    let d = expect(m.on_frame(30, &from_peer(s1, ISS + 1 + 2921, TcpFlags::ACK, &[])), &[]);
    assert_eq!(d.get(Stat::DropOutOfWindow), 0, "not refused");
    let t = m.tcb(id);
    assert_eq!((t.snd_una, t.snd_nxt), (SeqNum(ISS + 2922), SeqNum(ISS + 2922)));
    assert_eq!(t.state, TcpState::FinWait2, "our FIN is acknowledged");
    // One past snd_max is still refused and answered.
    let mut m = model(false);
    let id = open(&mut m);
    m.tcbs[id].snd_nxt = SeqNum(ISS + 1);
    let d = m.on_frame(40, &from_peer(s1, ISS + 2, TcpFlags::ACK, &[])).stats;
    assert_eq!(d.get(Stat::DropOutOfWindow), 1, "an ACK past snd_max");
    assert_eq!(m.tcb(id).snd_una, SeqNum(ISS + 1));
}
