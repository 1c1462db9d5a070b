//! The one `Tcb` (`holdback_regmap::Tcb`) across all its users: the
//! reference model makes it, the driver reads it off a card's TCB window, the
//! daemon shows it (`holdback conns --json`) and ships it to the standby
//! (replication frames). The typed hand-overs below compile only while every
//! user holds the register map's type, and each hand-over is checked to lose
//! nothing. `driver/tests/regmap_agreement.rs` checks the type against the
//! register-map table itself.
use std::future::Future;
use std::net::Ipv4Addr;
use std::task::{Context, Poll, Waker};

use holdback_daemon::control::ConnEntry;
use holdback_daemon::replication::wire::{Direction, FrameCodec, Msg, Update};
use holdback_driver::regmap::{self, tcb, CoreParams, TcpState};
use holdback_driver::{CardHandle, MemBar};
use holdback_sim::refmodel::{Config, ConnKey, RefModel};
use holdback_sim::wire::{tcp_frame, Endpoint, MacAddr, SeqNum, TcpFlags, TcpRepr};

const CORE: Endpoint = Endpoint { mac: MacAddr([0x02, 0, 0xC6, 0x12, 0, 2]), ip: Ipv4Addr::new(198, 18, 0, 2) };
const PEER: Endpoint = Endpoint { mac: MacAddr([0x02, 0, 0xC6, 0x12, 0, 9]), ip: Ipv4Addr::new(198, 18, 0, 9) };
const PORT: u16 = 5001;
const PEER_PORT: u16 = 40000;
/// The peer's stream crosses 2^32 after 3 bytes.
const IRS: u32 = 0xFFFF_FFFB;
const ISS: u32 = 0x7000_0000;

/// The model's TCB of a connection that exchanged a handshake and 8 bytes,
/// 5 of them released: every sequence field set, the receive side across
/// the wrap, holdback on.
fn model_tcb() -> (usize, regmap::Tcb) {
    let mut cfg = Config::new(&CoreParams::DEFAULT, CORE.mac, CORE.ip, &[PORT], 1460, 200_000);
    cfg.holdback = true;
    cfg.epoch = 3;
    let mut model = RefModel::new(cfg);
    let from_peer = |seq: u32, ack: u32, flags, payload: &[u8]| {
        tcp_frame(PEER, CORE, &TcpRepr::new(PEER_PORT, PORT, SeqNum(seq), SeqNum(ack), flags, 64240), payload)
    };
    let syn_ack = TcpRepr::new(PORT, PEER_PORT, SeqNum(ISS), SeqNum(IRS.wrapping_add(1)), TcpFlags::SYN | TcpFlags::ACK, 8192);
    model.learn_iss_from(&[tcp_frame(CORE, PEER, &syn_ack.with_mss(1460), &[])]);
    model.on_frame(0, &from_peer(IRS, 0, TcpFlags::SYN, &[]));
    model.on_frame(1, &from_peer(IRS.wrapping_add(1), ISS + 1, TcpFlags::ACK, b"8 bytes!"));
    let key = ConnKey { remote_ip: PEER.ip, remote_port: PEER_PORT, local_port: PORT };
    let id = model.lookup(key).expect("the handshake opened a connection");
    model.on_release(2, id, IRS.wrapping_add(6));
    let t = model.tcb(id).clone();
    assert_eq!((t.state, t.rcv_nxt, t.rel, t.remote_mac()), (TcpState::Established, SeqNum(IRS) + 9, SeqNum(IRS) + 6, PEER.mac));
    (id, t)
}

/// Runs a future that cannot wait (it reads from a byte slice) to completion.
fn ready<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("a read from a byte slice waited"),
    }
}

#[test]
fn the_driver_reads_back_the_tcb_the_model_made() {
    let (id, t) = model_tcb();
    let bar = MemBar::with_id_block(&CoreParams::DEFAULT);
    for (w, value) in t.to_words().iter().enumerate() {
        bar.poke(regmap::tcb_word_addr(id as u32, w as u32), *value);
    }
    let card = CardHandle::open(bar).expect("a well-formed ID block opens");
    let read: holdback_driver::Tcb = card.read_tcb(id as u16).expect("the model's TCB decodes");
    assert_eq!(read, t);
}

#[test]
fn the_daemon_shows_the_models_tcb_by_register_map_names() {
    let (id, t) = model_tcb();
    let json = serde_json::to_value(ConnEntry { id: id as u16, tcb: t.clone() }).expect("serialises");
    let members: Vec<&String> = json["tcb"].as_object().expect("an object").keys().filter(|k| *k != "version").collect();
    let mut members: Vec<String> = members.into_iter().cloned().collect();
    let mut fields: Vec<String> = tcb::FIELDS.iter().map(|f| f.name.to_lowercase()).collect();
    members.sort();
    fields.sort();
    assert_eq!(members, fields);
    assert_eq!(json["tcb"]["state"], "ESTABLISHED");
    let back: ConnEntry = serde_json::from_value(json).expect("deserialises");
    assert_eq!(back.tcb, t);
}

#[test]
fn the_replication_link_ships_the_models_tcb_unchanged() {
    let (id, t) = model_tcb();
    let key = [7u8; 32];
    let msg = Msg::Update { rseq: 1, update: Update::Full { id: id as u16, tcb: t.clone() } };
    let mut frame = Vec::new();
    FrameCodec::new(&key, Direction::PrimaryToStandby).encode(&msg, &mut frame).expect("encodes");
    let mut reader = FrameCodec::new(&key, Direction::PrimaryToStandby);
    let (got, size) = ready(reader.read(&mut &frame[..])).expect("the standby accepts the frame");
    assert_eq!(size, frame.len());
    match got {
        Msg::Update { update: Update::Full { tcb, .. }, .. } => assert_eq!(tcb, t),
        other => panic!("shipped a full TCB, received {other:?}"),
    }
}
