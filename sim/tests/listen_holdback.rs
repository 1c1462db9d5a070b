//! Holdback per listening port, scored against the reference model: each
//! LISTEN slot may set holdback for the connections it accepts (bit 17,
//! the value in bit 18), copied into the TCB at the SYN; a slot without
//! its own setting follows CTRL.holdback. Two ports run side by side, one
//! holding ACKs back to the released point R and one ACKing rcv_nxt at
//! once, and every frame, TCB and counter must match the model's.
//!
//! Needs verilator (the sim crate's build verilates the core): install with
//! `apt-get install verilator`.
use std::net::Ipv4Addr;

use holdback_regmap::{self as regmap, CoreParams};
use holdback_sim::core_sim::CoreSim;
use holdback_sim::refmodel::lockstep::{test_mac, Lockstep, LockstepError, PeerConn};
use holdback_sim::refmodel::Config;
use holdback_sim::wire::{Endpoint, Frame, MacAddr, SeqNum, TcpFlags};

const CORE: Endpoint = Endpoint { mac: MacAddr([0x02, 0x00, 0x5e, 0x00, 0x00, 0x02]), ip: Ipv4Addr::new(198, 18, 0, 2) };
/// Holds back whatever CTRL says.
const HELD_PORT: u16 = 5001;
/// Never holds back, whatever CTRL says.
const FREE_PORT: u16 = 5002;
/// No setting of its own: follows CTRL.holdback.
const CTRL_PORT: u16 = 5003;

fn peer(n: u16) -> Endpoint {
    Endpoint { mac: test_mac(n), ip: Ipv4Addr::new(198, 18, 3, n as u8) }
}

fn or_panic<T>(r: Result<T, LockstepError>, what: &str) -> T {
    r.unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// The ACK numbers of the core's frames.
fn acks(frames: &[Vec<u8>]) -> Vec<SeqNum> {
    frames
        .iter()
        .filter_map(|f| Frame::parse(f).ok())
        .filter_map(|f| f.tcp().map(|(_, t, _)| (t.flags, t.ack)))
        .filter(|(flags, _)| flags.contains(TcpFlags::ACK))
        .map(|(_, ack)| ack)
        .collect()
}

fn check(ls: &mut Lockstep<CoreSim>, conns: &[&PeerConn], what: &str) {
    or_panic(ls.check_stats(), what);
    for c in conns {
        or_panic(ls.check_tcb(c.id, &[]), &format!("{what}: TCB {}", c.id));
    }
}

#[test]
fn two_listening_ports_one_holding_back_one_not_match_the_model() {
    let core = CoreSim::new().unwrap_or_else(|e| panic!("cannot start the Verilated core ({e}); the sim crate needs verilator: apt-get install verilator"));
    let mut cfg = Config::new(&CoreParams::DEFAULT, CORE.mac, CORE.ip, &[HELD_PORT, FREE_PORT, CTRL_PORT], 1460, 3000);
    cfg.holdback = false;
    cfg.port_holdback = vec![(HELD_PORT, true), (FREE_PORT, false)];
    let mut ls = or_panic(Lockstep::new(core, cfg), "configure");
    // The registers read back what the driver wrote: own-holdback bits included.
    for (slot, port, own) in [(regmap::LISTEN0, HELD_PORT, Some(true)), (regmap::LISTEN1, FREE_PORT, Some(false)), (regmap::LISTEN2, CTRL_PORT, None)] {
        let read = ls.dut.reg_read(slot.offset).unwrap_or_else(|e| panic!("reading {}: {e}", slot.name));
        assert_eq!(read, regmap::listen_value(port, own), "{}", slot.name);
    }

    let mut held = or_panic(PeerConn::open(&mut ls, peer(1), 41001, HELD_PORT, 0xffff_ff00), "open to the holdback port");
    let mut free = or_panic(PeerConn::open(&mut ls, peer(2), 41002, FREE_PORT, 7), "open to the other port");
    assert!(ls.model.tcb(held.id).holdback && !ls.model.tcb(free.id).holdback, "the TCBs took their ports' settings");

    // Interleaved data: the held-back connection ACKs nothing past R, the other ACKs each segment.
    let syn_end = ls.model.tcb(held.id).irs + 1;
    for i in 0..4u8 {
        let out = or_panic(held.send(&mut ls, &[i; 700]), "data to the holdback port");
        assert!(acks(&out).iter().all(|a| *a == syn_end), "segment {i}: an ACK past R before any release: {:?}", acks(&out));
        let out = or_panic(free.send(&mut ls, &[i; 900]), "data to the other port");
        assert_eq!(acks(&out), vec![free.snd_nxt], "segment {i}: the other port ACKs rcv_nxt at once");
    }
    check(&mut ls, &[&held, &free], "after interleaved data");

    // Releasing part of the held stream ACKs exactly that much.
    let r = ls.model.tcb(held.id).irs + 1 + 1400;
    let out = or_panic(ls.release(held.id, r.0), "release 1400 bytes");
    assert_eq!(acks(&out), vec![r], "the ACK is the released point");
    check(&mut ls, &[&held, &free], "after the release");

    // CTRL.holdback flips on: a port with its own setting ignores it, one without follows it.
    or_panic(ls.set_ctrl(true, true, false), "CTRL holdback on");
    let mut free2 = or_panic(PeerConn::open(&mut ls, peer(3), 41003, FREE_PORT, 99), "open another to the other port");
    let mut follows = or_panic(PeerConn::open(&mut ls, peer(4), 41004, CTRL_PORT, 1234), "open to the port that follows CTRL");
    assert_eq!(acks(&or_panic(free2.send(&mut ls, b"acked at once"), "data")), vec![free2.snd_nxt]);
    let follows_syn_end = ls.model.tcb(follows.id).irs + 1;
    let out = or_panic(follows.send(&mut ls, b"held back"), "data");
    assert!(acks(&out).iter().all(|a| *a == follows_syn_end), "CTRL holdback not applied: {:?}", acks(&out));
    assert!(ls.model.tcb(follows.id).holdback && !ls.model.tcb(free2.id).holdback);
    // And the FINs: the free connection's is ACKed at once, the held one's waits for R.
    let out = or_panic(ls.frame(&free.segment(free.snd_nxt, TcpFlags::ACK | TcpFlags::FIN, &[])), "FIN to the other port");
    free.snd_nxt += 1;
    assert_eq!(acks(&out), vec![free.snd_nxt], "the FIN is ACKed without a release");
    let out = or_panic(ls.frame(&held.segment(held.snd_nxt, TcpFlags::ACK | TcpFlags::FIN, &[])), "FIN to the holdback port");
    held.snd_nxt += 1;
    assert!(acks(&out).iter().all(|a| *a == r), "the held connection ACKed past R = {r:?}: {:?}", acks(&out));
    check(&mut ls, &[&held, &free, &free2, &follows], "end");
}
