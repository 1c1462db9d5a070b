//! The connection index admits every connection while a TCB slot is free,
//! whatever the 4-tuples hash to (docs/engine.md, "Connection index"): N
//! peers whose tuples all land in one bucket are admitted and established,
//! the N+1st SYN is dropped and counted as `drop_tcb_full`, closing frees
//! slots that the next opens reuse, and opening and closing the whole table
//! again leaks nothing. Every frame is scored against the reference model.
use std::net::Ipv4Addr;

use holdback_regmap::{conn_bucket, conn_hash, CoreParams, Stat};
use holdback_sim::core_sim::CoreSim;
use holdback_sim::refmodel::lockstep::{test_mac, Lockstep, PeerConn};
use holdback_sim::refmodel::Config;
use holdback_sim::wire::{self, Endpoint, MacAddr, SeqNum, TcpFlags, TcpRepr};

const CORE: Endpoint = Endpoint { mac: MacAddr([0x02, 0x00, 0x5e, 0x00, 0x00, 0x02]), ip: Ipv4Addr::new(198, 18, 0, 2) };
const LISTEN: u16 = 5001;
const RTO_US: u32 = 200_000;
/// The bucket every peer below hashes to.
const BUCKET: usize = 0x2a;

/// Peer `n` (port 30000 + n) at the first address in 198.19.0.0/16 whose
/// tuple hashes to `BUCKET`, found with the core's own hash function.
fn colliding_peer(n: u16) -> (Endpoint, u16) {
    let port = 30000 + n;
    let conn_bits = CoreParams::DEFAULT.conn_bits;
    let ip = (0..=u16::MAX)
        .map(|lo| Ipv4Addr::new(198, 19, (lo >> 8) as u8, lo as u8))
        .find(|ip| conn_bucket(conn_hash(u32::from(*ip), port, LISTEN), conn_bits) == BUCKET)
        .expect("some address in a /16 hashes to any bucket");
    (Endpoint { mac: test_mac(0x300 + n), ip }, port)
}

fn start() -> Lockstep<CoreSim> {
    let core = CoreSim::new().unwrap_or_else(|e| panic!("cannot start the Verilated core ({e}); the sim crate needs verilator: apt-get install verilator"));
    let cfg = Config::new(&CoreParams::DEFAULT, CORE.mac, CORE.ip, &[LISTEN], 1460, RTO_US);
    Lockstep::new(core, cfg).unwrap_or_else(|e| panic!("configure: {e}"))
}

fn open(ls: &mut Lockstep<CoreSim>, n: u16) -> PeerConn {
    let (peer, port) = colliding_peer(n);
    let c = PeerConn::open(ls, peer, port, LISTEN, 1000 * u32::from(n)).unwrap_or_else(|e| panic!("open colliding peer {n}: {e}"));
    ls.check_tcb(c.id, &[]).unwrap_or_else(|e| panic!("peer {n}'s TCB: {e}"));
    c
}

/// The SYN of colliding peer `n` finds the table full: dropped, counted, unanswered.
fn expect_full(ls: &mut Lockstep<CoreSim>, n: u16) {
    let (peer, port) = colliding_peer(n);
    let before = ls.read_stats().unwrap_or_else(|e| panic!("{e}"));
    let syn = wire::tcp_frame(peer, CORE, &TcpRepr::new(port, LISTEN, SeqNum(77), SeqNum(0), TcpFlags::SYN, 1000), &[]);
    let out = ls.frame(&syn).unwrap_or_else(|e| panic!("SYN of peer {n} onto a full table: {e}"));
    assert!(out.is_empty(), "a SYN onto a full table is not answered");
    let after = ls.read_stats().unwrap_or_else(|e| panic!("{e}"));
    let delta = |s: Stat| after[s.index()].wrapping_sub(before[s.index()]);
    assert_eq!(delta(Stat::DropTcbFull), 1, "drop_tcb_full counts the SYN of peer {n}");
    assert_eq!(delta(Stat::ConnsOpened), 0);
    ls.check_stats().unwrap_or_else(|e| panic!("{e}"));
}

fn close(ls: &mut Lockstep<CoreSim>, c: &PeerConn) {
    ls.frame(&c.segment(c.snd_nxt, TcpFlags::RST, &[])).unwrap_or_else(|e| panic!("RST closes slot {}: {e}", c.id));
    assert_eq!(ls.model.tcb(c.id).state, holdback_regmap::TcpState::Closed);
    ls.check_tcb(c.id, &[]).unwrap_or_else(|e| panic!("closed slot {}: {e}", c.id));
}

#[test]
fn colliding_tuples_fill_every_slot_and_closed_slots_are_reused() {
    let conns = CoreParams::DEFAULT.conns();
    let mut ls = start();
    let mut open_conns: Vec<PeerConn> = (0..conns as u16).map(|n| open(&mut ls, n)).collect();
    let mut ids: Vec<usize> = open_conns.iter().map(|c| c.id).collect();
    ids.sort_unstable();
    assert_eq!(ids, (0..conns).collect::<Vec<_>>(), "N colliding connections take all N slots");
    expect_full(&mut ls, conns as u16);

    // The whole chain is still searched: data on the first and last opened.
    for i in [0, conns - 1] {
        let c = &mut open_conns[i];
        let out = c.send(&mut ls, b"deep in one bucket's chain").unwrap_or_else(|e| panic!("data on slot {}: {e}", c.id));
        assert_eq!(out.len(), 1, "slot {} ACKs its data", c.id);
    }

    // Close three (from the chain's head, middle and tail): exactly those slots come back, oldest first.
    let closed: Vec<PeerConn> = [conns - 1, conns / 2, 0].iter().map(|&i| open_conns.remove(i)).collect();
    for c in &closed {
        close(&mut ls, c);
    }
    for (k, c) in closed.iter().enumerate() {
        let again = open(&mut ls, (conns + 1 + k) as u16);
        assert_eq!(again.id, c.id, "the freed slots are reused in the order they were freed");
        open_conns.push(again);
    }
    expect_full(&mut ls, (conns + 10) as u16);
    for c in open_conns.iter_mut().step_by(7) {
        c.send(&mut ls, b"still found").unwrap_or_else(|e| panic!("data on slot {} after the reuse: {e}", c.id));
    }
    ls.check_stats().unwrap_or_else(|e| panic!("{e}"));
    ls.check_change_log().unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn opening_and_closing_the_whole_table_twice_leaks_no_slot() {
    let conns = CoreParams::DEFAULT.conns();
    let mut ls = start();
    for round in 0..2u16 {
        let base = round * 1000;
        let open_conns: Vec<PeerConn> = (0..conns as u16).map(|n| open(&mut ls, base + n)).collect();
        expect_full(&mut ls, base + conns as u16);
        for c in &open_conns {
            close(&mut ls, c);
        }
    }
    assert_eq!(ls.model.stat(Stat::ConnsOpened), 2 * conns as u32);
    ls.check_stats().unwrap_or_else(|e| panic!("{e}"));
}
