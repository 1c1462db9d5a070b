//! The driver's view of a real connection on the cycle-exact core (feature
//! `sim`): a handshake, data across the sequence wrap with ACK holdback, a
//! release — each step checked through `CardHandle` (event records and the
//! TCB mirror, the receive ring in host memory, release, stats) against what
//! the RTL put on the wire and what its TCB window holds.
#![cfg(feature = "sim")]

use std::net::Ipv4Addr;

use holdback_driver::regmap::{Stat, TcpState};
use holdback_driver::{CardHandle, CardSettings, CookieKeys, CoreSimBar, SeqNum};
use holdback_sim::core_sim::CoreSim;
use holdback_sim::wire::{self, Endpoint, MacAddr, TcpFlags, TcpRepr};

const CORE: Endpoint = Endpoint { mac: MacAddr([0x02, 0, 0xC6, 0x12, 0, 2]), ip: Ipv4Addr::new(198, 18, 0, 2) };
const PEER: Endpoint = Endpoint { mac: MacAddr([0x02, 0, 0xC6, 0x12, 0, 9]), ip: Ipv4Addr::new(198, 18, 0, 9) };
/// The peer's ISN: payload byte 255 is the one at sequence number 0.
const IRS: u32 = 0xFFFF_FF00;

type Card = CardHandle<CoreSimBar>;

/// Takes the card's event records; the mirror then holds every TCB as the
/// (idle) core does, which its TCB window must agree with word for word.
fn changed(card: &Card) -> Vec<u16> {
    let ids = card.poll_events().expect("event records");
    for id in &ids {
        assert_eq!(card.tcb(*id).unwrap(), card.read_tcb(*id).unwrap(), "the record of TCB {id} is the whole TCB");
    }
    ids
}

fn wire_seq(s: SeqNum) -> wire::SeqNum {
    wire::SeqNum(s.0)
}

/// Push `frame`, let the core settle, and return what it sent.
fn exchange(card: &Card, frame: Vec<u8>) -> Vec<TcpRepr> {
    card.bar().with_sim(|s| {
        s.push_frame(&frame);
        s.run_until_idle(100_000).expect("core settles");
        let mut out = Vec::new();
        while let Some(f) = s.pop_tx_frame() {
            let parsed = wire::Frame::parse(&f).expect("the core's frame parses");
            let (_, tcp, _) = parsed.tcp().expect("a TCP segment");
            out.push(tcp.clone());
        }
        out
    })
}

fn segment(seq: u32, ack: SeqNum, flags: TcpFlags, payload: &[u8]) -> Vec<u8> {
    let tcp = TcpRepr::new(40000, 5001, wire::SeqNum(seq), wire_seq(ack), flags, 64240);
    wire::tcp_frame(PEER, CORE, &tcp, payload)
}

#[test]
fn handshake_data_holdback_and_release_as_the_driver_sees_them() {
    let card = CardHandle::open(CoreSimBar::new(CoreSim::new().expect("core builds (needs verilator)"))).unwrap();
    let host_memory = card.bar().with_sim(|s| s.host_memory());
    card.attach_host_memory(&host_memory, 4096).expect("rings and event queue in the simulated host memory");
    card.configure(&CardSettings {
        mac: CORE.mac,
        ip: CORE.ip,
        listen_ports: vec![5001],
        holdback: true,
        port_holdback: Vec::new(),
        our_mss: 1460,
        rto_us: 200_000,
        reassembly: false,
        sack: false,
        timestamps: false,
        syn_cookies: None,
        cookie_keys: CookieKeys::default(),
    })
    .unwrap();
    card.enable().unwrap();

    // SYN → SYN-ACK; an event record names the new TCB.
    let syn = TcpRepr::new(40000, 5001, wire::SeqNum(IRS), wire::SeqNum(0), TcpFlags::SYN, 64240).with_mss(1400);
    let sent = exchange(&card, wire::tcp_frame(PEER, CORE, &syn, &[]));
    assert_eq!(sent.len(), 1, "one SYN-ACK: {sent:?}");
    let syn_ack = &sent[0];
    let ids = changed(&card);
    assert!(!ids.is_empty() && ids.iter().all(|i| *i == ids[0]), "one TCB changed: {ids:?}");
    let id = ids[0];
    let t = card.tcb(id).unwrap();
    assert_eq!(t.state, TcpState::SynReceived);
    assert_eq!((t.remote_ip, t.remote_port, t.local_port), (PEER.ip, 40000, 5001));
    assert_eq!(t.remote_mac(), PEER.mac);
    assert_eq!(t.irs, SeqNum(IRS));
    assert_eq!(t.rcv_nxt, SeqNum(IRS) + 1);
    assert_eq!(t.rel, SeqNum(IRS) + 1);
    assert_eq!(t.iss.0, syn_ack.seq.0, "TCB iss is the SYN-ACK's seq");
    assert_eq!(t.peer_mss, 1400);
    assert!(t.holdback);
    assert_eq!(card.open_connections().unwrap().len(), 1);

    // ACK → ESTABLISHED.
    let our_next = t.iss + 1;
    let sent = exchange(&card, segment(IRS.wrapping_add(1), our_next, TcpFlags::ACK, &[]));
    assert!(sent.is_empty(), "a bare ACK is not answered: {sent:?}");
    assert!(changed(&card).contains(&id));
    assert_eq!(card.tcb(id).unwrap().state, TcpState::Established);

    // 300 bytes straddling the sequence wrap: the ACK stays at R.
    let payload: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
    let sent = exchange(&card, segment(IRS.wrapping_add(1), our_next, TcpFlags::ACK | TcpFlags::PSH, &payload));
    assert!(changed(&card).contains(&id));
    let t = card.tcb(id).unwrap();
    assert_eq!(t.rcv_nxt, SeqNum(IRS) + 301);
    assert_eq!(t.held_back_bytes(), 300);
    assert_eq!(t.received_bytes(), 300);
    assert_eq!(t.ack_value(), SeqNum(IRS) + 1);
    for seg in &sent {
        assert!(SeqNum(seg.ack.0).not_after(t.rel), "ACK {} beyond R {} (invariant 1)", seg.ack.0, t.rel);
    }
    let mut ring = vec![0u8; 300];
    card.read_ring(id, 0, &mut ring).unwrap();
    assert_eq!(ring, payload, "ring holds the stream from offset 0");
    let mut tail = vec![0u8; 45];
    card.read_ring(id, 255, &mut tail).unwrap();
    assert_eq!(tail, payload[255..], "bytes past the sequence wrap");

    // Release 200 bytes: the core ACKs exactly up to R.
    let r = t.seq_of_offset(200);
    card.release(id, r).unwrap();
    let sent = card.bar().with_sim(|s| {
        s.run_until_idle(100_000).expect("settles");
        std::iter::from_fn(|| s.pop_tx_frame()).collect::<Vec<_>>()
    });
    assert_eq!(sent.len(), 1, "one window/ACK update after the release");
    let parsed = wire::Frame::parse(&sent[0]).unwrap();
    let (_, ack, _) = parsed.tcp().unwrap();
    assert_eq!(ack.ack.0, r.0, "ACK = R");
    assert!(changed(&card).contains(&id));
    let t = card.tcb(id).unwrap();
    assert_eq!(card.released(id).unwrap(), r);
    assert_eq!(t.rel, r);
    assert_eq!(t.ack_sent, r);
    assert_eq!(t.held_back_bytes(), 100);
    assert_eq!(card.stats().unwrap().get(Stat::RxPayloadBytes), 300);
    assert_eq!(card.status().unwrap().open_conns, 1);
}
