//! A relayed pair across a promotion, on the Verilated cores (docs/relay.md,
//! "Failover of both connections"). A primary card relays a client's bytes
//! to a backend and dies; the standby's card holds copies of both TCBs
//! older than what the old card sent and acknowledged, installed as the
//! standby's host installs a pair (`daemon/src/replication/relay_pair.rs`:
//! each side's snd_max at the send limit its host promised, snd_nxt there
//! too, and nothing to send, since no payload is replicated). Then:
//!
//! - the promotion walk probes each side at snd_una - 1 (scored against
//!   the reference model, frame by frame);
//! - the backend's answer (an ACK of all it has) moves the client side's R
//!   past its rcv_nxt, which follows it: the client gets the ACK the old
//!   card had given, and its next bytes reach the backend at the server
//!   sequence numbers their stream offsets give;
//! - when the backend lacks bytes the old card sent, the client's
//!   retransmission of them is relayed again at the same sequence numbers,
//!   and until it arrives nothing is sent from the empty ring (the resend is
//!   capped at the tail, `hdl/src/tx/segmenter.rs`).
//!
//! Past the promotion the model is left: it relays no data, so the bytes are
//! checked on the core alone, as in `relay_open.rs`.
//!
//! Needs verilator (the sim crate's build verilates the core).
#[path = "common/or_panic.rs"]
mod or_panic;
use or_panic::OrPanic;
use std::net::Ipv4Addr;

use holdback_regmap::{CoreParams, SeqNum, Tcb, TcpState, RELAY_LOCAL_PORT_BASE};
use holdback_sim::core_sim::CoreSim;
use holdback_sim::refmodel::lockstep::{Dut, Lockstep};
use holdback_sim::refmodel::{Config, RelayBackend};
use holdback_sim::wire::{tcp_frame, Endpoint, Frame, MacAddr, TcpFlags, TcpRepr};

const CORE: Endpoint = Endpoint { mac: MacAddr([0x02, 0, 0, 0, 0, 0x02]), ip: Ipv4Addr::new(198, 18, 0, 2) };
const CLIENT: Endpoint = Endpoint { mac: MacAddr([0x02, 0, 0, 0, 0, 0x01]), ip: Ipv4Addr::new(198, 18, 0, 1) };
const SERVER: Endpoint = Endpoint { mac: MacAddr([0x02, 0, 0, 0, 0, 0x09]), ip: Ipv4Addr::new(198, 18, 1, 9) };
const RELAY_PORT: u16 = 8080;
const BACKEND_PORT: u16 = 80;
const CLIENT_PORT: u16 = 40000;
/// The client's ISS: its bytes cross 2^32.
const IRS_C: u32 = 0xffff_fe00;
const IRS_S: u32 = 0x7fff_fff0;
const RTO_US: u32 = 3000;
/// Both cards' epoch before the promotion.
const EPOCH: u32 = 6;

fn card(standby: bool) -> Lockstep<CoreSim> {
    let core = CoreSim::new().unwrap_or_else(|e| panic!("cannot start the Verilated core ({e}); apt-get install verilator"));
    let cfg = Config::new(&CoreParams::DEFAULT, CORE.mac, CORE.ip, &[RELAY_PORT], 1460, RTO_US);
    let mut ls = Lockstep::new(core, cfg).unwrap_or_else(|e| panic!("configure: {e}"));
    ls.set_relay(0, Some(RelayBackend { ip: SERVER.ip, port: BACKEND_PORT, next_hop: SERVER.mac })).or_panic("relay slot");
    ls.set_epoch(EPOCH).or_panic("epoch");
    if standby {
        ls.set_ctrl(true, true, true).or_panic("standby");
        ls.set_failover(false, false).or_panic("failover settings");
    }
    ls
}

fn from_client(seq: u32, ack: u32, flags: TcpFlags, payload: &[u8]) -> Vec<u8> {
    tcp_frame(CLIENT, CORE, &TcpRepr::new(CLIENT_PORT, RELAY_PORT, SeqNum(seq), SeqNum(ack), flags, 64240), payload)
}

fn from_server(s: usize, seq: u32, ack: u32, flags: TcpFlags, payload: &[u8]) -> Vec<u8> {
    let port = RELAY_LOCAL_PORT_BASE + s as u16;
    tcp_frame(SERVER, CORE, &TcpRepr::new(BACKEND_PORT, port, SeqNum(seq), SeqNum(ack), flags, 64240), payload)
}

/// Each frame parsed: (to whom, the TCP header, the payload); ARP left out.
fn segments(frames: &[Vec<u8>]) -> Vec<(Endpoint, TcpRepr, Vec<u8>)> {
    frames
        .iter()
        .filter_map(|f| {
            let p = Frame::parse(f).unwrap_or_else(|e| panic!("our frame does not parse: {e}"));
            let (ip, tcp, payload) = p.tcp()?;
            Some((Endpoint { mac: p.eth.dst, ip: ip.dst }, tcp.clone(), payload.to_vec()))
        })
        .collect()
}

/// Frames into the core alone: its answers once it is idle.
fn exchange(ls: &mut Lockstep<CoreSim>, frame: &[u8]) -> Vec<(Endpoint, TcpRepr, Vec<u8>)> {
    ls.dut.push_frame(frame);
    drain(ls)
}

fn drain(ls: &mut Lockstep<CoreSim>) -> Vec<(Endpoint, TcpRepr, Vec<u8>)> {
    ls.dut.settle(2_000_000).unwrap_or_else(|e| panic!("settle: {e}"));
    let mut out = Vec::new();
    while let Some(f) = ls.dut.pop_tx_frame() {
        out.push(f);
    }
    segments(&out)
}

fn tcb(ls: &mut Lockstep<CoreSim>, id: usize) -> Tcb {
    Tcb::decode(&ls.read_tcb(id).or_panic("read TCB")).expect("TCB words decode")
}

fn upload(n: usize) -> Vec<u8> {
    (0..n as u32).map(|i| (i.wrapping_mul(31) ^ (i >> 8)) as u8).collect()
}

/// What a primary leaves behind: a pair that relayed `UP` client bytes to
/// the backend, and copies of both sides taken after the bytes arrived and
/// were sent on, before any ACK of them.
struct Dead {
    c: usize,
    s: usize,
    iss_c: SeqNum,
    iss_s: SeqNum,
    copy_c: Tcb,
    copy_s: Tcb,
}

const UP: usize = 1000;

fn primary_relays_and_dies() -> Dead {
    let mut p = card(false);
    let syn = tcp_frame(CLIENT, CORE, &TcpRepr::new(CLIENT_PORT, RELAY_PORT, SeqNum(IRS_C), SeqNum(0), TcpFlags::SYN, 64240).with_mss(1400), &[]);
    let out = segments(&p.frame(&syn).or_panic("client SYN"));
    let iss_s = out[0].1.seq;
    let s = usize::from(out[0].1.src_port - RELAY_LOCAL_PORT_BASE);
    let c = usize::from(p.model.tcb(s).peer_link);
    let synack = tcp_frame(SERVER, CORE, &TcpRepr::new(BACKEND_PORT, out[0].1.src_port, SeqNum(IRS_S), iss_s + 1, TcpFlags::SYN | TcpFlags::ACK, 64240).with_mss(1400), &[]);
    let out = segments(&p.frame(&synack).or_panic("server SYN-ACK"));
    let iss_c = out[1].1.seq;
    assert!(p.frame(&from_client(IRS_C.wrapping_add(1), iss_c.0.wrapping_add(1), TcpFlags::ACK, &[])).or_panic("client ACK").is_empty());

    let up = upload(UP);
    let out = exchange(&mut p, &from_client(IRS_C.wrapping_add(1), iss_c.0.wrapping_add(1), TcpFlags::ACK | TcpFlags::PSH, &up));
    let relayed: Vec<u8> = out.iter().filter(|(to, _, _)| *to == SERVER).flat_map(|(_, _, b)| b.clone()).collect();
    assert_eq!(relayed, up, "the primary relayed the client's bytes");
    let (copy_c, copy_s) = (tcb(&mut p, c), tcb(&mut p, s));
    assert_eq!((copy_c.state, copy_s.state), (TcpState::Established, TcpState::Established));
    assert_eq!(copy_s.snd_nxt, iss_s + 1 + UP as u32);
    Dead { c, s, iss_c, iss_s, copy_c, copy_s }
}

/// `x` as the standby's host installs it beside its peer `y`'s copy, with
/// `limit` the send limit its primary's host had promised (the rules of
/// docs/relay.md, "Failover of both connections").
fn as_installed(x: &Tcb, y: &Tcb, limit: u32) -> Tcb {
    let mut t = x.clone();
    let acked_by_peer = y.rel - x.seq_offset;
    if t.snd_una.before(acked_by_peer) {
        t.snd_una = acked_by_peer;
    }
    let promised = t.iss + 1 + limit;
    if t.snd_max.before(promised) {
        t.snd_max = promised;
    }
    t.snd_nxt = t.snd_max;
    let from_peer = y.snd_una + y.seq_offset;
    if t.rel.before(from_peer) {
        t.rel = from_peer;
    }
    t.tx_end = t.snd_una.0.wrapping_sub(t.iss.0).wrapping_sub(1);
    t
}

/// The standby's card holding the pair, promoted; what the walk sent is
/// scored against the model.
fn promoted(d: &Dead) -> (Lockstep<CoreSim>, Vec<(Endpoint, TcpRepr, Vec<u8>)>) {
    let mut b = card(true);
    let c = as_installed(&d.copy_c, &d.copy_s, 0);
    let s = as_installed(&d.copy_s, &d.copy_c, UP as u32);
    b.write_tcb(d.c, &c.encode().expect("encodes")).or_panic("install c");
    b.write_tcb(d.s, &s.encode().expect("encodes")).or_panic("install s");
    let out = segments(&b.promote(EPOCH + 1).or_panic("promote"));
    b.check_stats().or_panic("after promotion");
    b.check_tcb(d.c, &[]).or_panic("c after promotion");
    b.check_tcb(d.s, &[]).or_panic("s after promotion");
    (b, out)
}

#[test]
fn the_walk_probes_both_sides_of_a_pair_below_snd_una() {
    let d = primary_relays_and_dies();
    let (_, out) = promoted(&d);
    let probe_c = out.iter().find(|(to, t, _)| *to == CLIENT && t.seq == d.iss_c).unwrap_or_else(|| panic!("no probe to the client: {out:?}"));
    let probe_s = out.iter().find(|(to, t, _)| *to == SERVER && t.seq == d.iss_s).unwrap_or_else(|| panic!("no probe to the server: {out:?}"));
    for (_, t, payload) in [probe_c, probe_s] {
        assert_eq!((t.flags, payload.len()), (TcpFlags::ACK, 0), "{t:?}");
    }
    // The client side resumes from R (its copy's: nothing acknowledged yet).
    assert_eq!(probe_c.1.ack, SeqNum(IRS_C.wrapping_add(1)));
}

#[test]
fn the_backends_answer_moves_the_client_side_past_what_this_card_received() {
    let d = primary_relays_and_dies();
    let (mut b, _) = promoted(&d);
    // The backend had every byte the old card sent (and had ACKed them, so
    // the old card ACKed them to the client): its answer to the probe says so.
    let out = exchange(&mut b, &from_server(d.s, IRS_S.wrapping_add(1), d.iss_s.0.wrapping_add(1 + UP as u32), TcpFlags::ACK, &[]));
    let to_c: Vec<_> = out.iter().filter(|(to, _, _)| *to == CLIENT).collect();
    assert_eq!(to_c.last().map(|(_, t, _)| t.ack), Some(SeqNum(IRS_C.wrapping_add(1 + UP as u32))), "{out:?}");
    assert!(out.iter().all(|(to, _, p)| *to == CLIENT && p.is_empty()), "nothing to the backend: {out:?}");
    let c = tcb(&mut b, d.c);
    assert_eq!((c.rcv_nxt, c.rel), (SeqNum(IRS_C.wrapping_add(1 + UP as u32)), SeqNum(IRS_C.wrapping_add(1 + UP as u32))));

    // The client's next bytes reach the backend at the sequence numbers
    // their offsets give, past the bytes the backend already had.
    let more = upload(UP + 300)[UP..].to_vec();
    let out = exchange(&mut b, &from_client(IRS_C.wrapping_add(1 + UP as u32), d.iss_c.0.wrapping_add(1), TcpFlags::ACK | TcpFlags::PSH, &more));
    let to_s: Vec<_> = out.iter().filter(|(to, _, p)| *to == SERVER && !p.is_empty()).collect();
    assert_eq!(to_s.len(), 1, "{out:?}");
    assert_eq!((to_s[0].1.seq, &to_s[0].2), (d.iss_s + 1 + UP as u32, &more));
}

#[test]
fn bytes_the_backend_lacks_are_relayed_again_from_the_clients_retransmission() {
    let d = primary_relays_and_dies();
    let (mut b, _) = promoted(&d);
    // The backend got 600 of the 1000 bytes (the old card ACKed those to
    // the client); the rest were lost with the old card's frames.
    const HAD: u32 = 600;
    let out = exchange(&mut b, &from_server(d.s, IRS_S.wrapping_add(1), d.iss_s.0.wrapping_add(1 + HAD), TcpFlags::ACK, &[]));
    let to_c: Vec<_> = out.iter().filter(|(to, _, _)| *to == CLIENT).collect();
    assert_eq!(to_c.last().map(|(_, t, _)| t.ack), Some(SeqNum(IRS_C.wrapping_add(1 + HAD))), "{out:?}");

    // Timeouts before the client resends: the ring holds nothing past the
    // tail, so nothing goes to the backend.
    for _ in 0..3 {
        b.dut.advance_us(4 * RTO_US);
        let out = drain(&mut b);
        assert!(out.iter().all(|(_, _, p)| p.is_empty()), "sent from an empty ring: {out:?}");
    }

    // The client resends what it has no ACK for: relayed at the same
    // server sequence numbers (after the card's timeout, which goes back to
    // snd_una).
    let up = upload(UP);
    let rest = up[HAD as usize..].to_vec();
    let mut got: Vec<(SeqNum, Vec<u8>)> = Vec::new();
    let out = exchange(&mut b, &from_client(IRS_C.wrapping_add(1 + HAD), d.iss_c.0.wrapping_add(1), TcpFlags::ACK | TcpFlags::PSH, &rest));
    got.extend(out.into_iter().filter(|(to, _, p)| *to == SERVER && !p.is_empty()).map(|(_, t, p)| (t.seq, p)));
    for _ in 0..8 {
        if got.iter().map(|(_, p)| p.len()).sum::<usize>() >= rest.len() {
            break;
        }
        b.dut.advance_us(4 * RTO_US);
        got.extend(drain(&mut b).into_iter().filter(|(to, _, p)| *to == SERVER && !p.is_empty()).map(|(_, t, p)| (t.seq, p)));
    }
    assert!(!got.is_empty(), "the client's resent bytes never reached the backend");
    assert_eq!(got[0].0, d.iss_s + 1 + HAD, "at the sequence number the old card used");
    let bytes: Vec<u8> = got.iter().flat_map(|(_, p)| p.clone()).collect();
    assert_eq!(&bytes[..rest.len()], &rest[..], "the client's bytes, nothing else");
}
