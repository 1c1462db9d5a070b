//! Window scaling (RFC 7323 §2) in the Verilated core, scored frame by frame
//! against the reference model (every frame byte for byte, TCBs, counters and
//! rings along the way; the lockstep harness also checks on every segment
//! that the right edge the peer computes, `ack + (window << shift)`, never
//! moves left). SYNs with and without a Window Scale option, the peer's
//! shifts 0, 7, 14 and one above 14, rings whose shift is 0 and 1 (the
//! largest ring the core takes decides our largest shift), windows near the
//! edge: ACKs that move by less than one unit of the scale, a peer that fills
//! the window to its last byte, releases that open it again.
//!
//! Needs verilator (the sim crate's build verilates the core): install with
//! `apt-get install verilator`.
#[path = "common/or_panic.rs"]
mod or_panic;
use or_panic::OrPanic;
use std::net::Ipv4Addr;

use holdback_regmap::{wscale_for_ring, CoreParams, MAX_WSCALE, RX_RING_LOG2_MAX};
use holdback_sim::host_mem::{HostMemory, DEFAULT_HOST_MEM_IOVA};
use holdback_sim::core_sim::CoreSim;
use holdback_sim::refmodel::lockstep::{test_mac, Lockstep, PeerConn};
use holdback_sim::refmodel::Config;
use holdback_sim::wire::{Endpoint, Frame, MacAddr, SeqNum, TcpFlags};

const CORE: Endpoint = Endpoint { mac: MacAddr([0x02, 0x00, 0x5e, 0x00, 0x00, 0x02]), ip: Ipv4Addr::new(198, 18, 0, 2) };
const LISTEN: u16 = 5001;
const RTO_US: u32 = 3000;

fn peer(n: u16) -> Endpoint {
    Endpoint { mac: test_mac(n), ip: Ipv4Addr::new(198, 18, 3, n as u8) }
}

fn start(holdback: bool, ring_bytes: u32) -> Lockstep<CoreSim> {
    // Host memory for every connection's ring at the largest size (zeroed
    // lazily: untouched pages cost nothing) and the event ring.
    let conns = CoreParams::DEFAULT.conns();
    let mem = HostMemory::new(DEFAULT_HOST_MEM_IOVA, (conns << RX_RING_LOG2_MAX) + (1 << 20));
    let core = CoreSim::with_host_memory(mem)
        .unwrap_or_else(|e| panic!("cannot start the Verilated core ({e}); the sim crate needs verilator: apt-get install verilator"));
    let mut cfg = Config::new(&CoreParams::DEFAULT, CORE.mac, CORE.ip, &[LISTEN], 1460, RTO_US);
    cfg.holdback = holdback;
    cfg.ring_bytes = ring_bytes;
    Lockstep::new(core, cfg).unwrap_or_else(|e| panic!("configure: {e}"))
}

/// The TCB (all fields, the shifts included), the counters and the ring agree.
fn check_conn(ls: &mut Lockstep<CoreSim>, c: &PeerConn, what: &str) {
    let what = &format!("{what} (last inputs: {:#?})", ls.recent_inputs(6));
    ls.check_stats().or_panic(what);
    ls.check_tcb(c.id, &[]).or_panic(what);
    let t = ls.model.tcb(c.id).clone();
    let received = (t.rcv_nxt.diff(t.irs + 1).max(0) as usize).min(ls.model.cfg.ring_bytes as usize);
    ls.check_ring(c.id, 0, received).or_panic(what);
}

/// The device's TCP segments to the peer in `frames`: (flags, ack, window, Window Scale option).
fn segments(frames: &[Vec<u8>]) -> Vec<(TcpFlags, SeqNum, u16, Option<u8>)> {
    frames
        .iter()
        .filter_map(|f| Frame::parse(f).ok())
        .filter_map(|f| f.tcp().map(|(_, t, _)| (t.flags, t.ack, t.window, t.wscale())))
        .collect()
}

/// Opens a connection with (or without) a Window Scale option and checks the
/// negotiated shifts in the core's TCB and its SYN-ACK's option.
fn open(ls: &mut Lockstep<CoreSim>, n: u16, wscale: Option<u8>) -> PeerConn {
    // The SYN-ACK is the first frame the core answers the SYN with: watch it.
    let ring = ls.model.cfg.ring_bytes;
    let c = PeerConn::open_scaled(ls, peer(n), 40000 + n, LISTEN, 0xffff_f000 + u32::from(n), wscale).or_panic("open");
    let t = ls.model.tcb(c.id).clone();
    let (snd, rcv) = match wscale {
        Some(s) => (s.min(MAX_WSCALE), wscale_for_ring(ring)),
        None => (0, 0),
    };
    assert_eq!((t.snd_wscale, t.rcv_wscale), (snd, rcv), "shifts for a SYN with {wscale:?}, ring {ring}");
    check_conn(ls, &c, "after the handshake");
    c
}

/// A SYN-ACK's option and window, for a SYN with `wscale` to a ring of `ring` bytes.
fn synack_of(ring: u32, wscale: Option<u8>) -> (Option<u8>, u16) {
    let mut ls = start(true, ring);
    let key_peer = peer(9);
    let core = CORE;
    let syn = holdback_sim::wire::tcp_frame(
        key_peer,
        core,
        &{
            let r = holdback_sim::wire::TcpRepr::new(40009, LISTEN, SeqNum(7), SeqNum(0), TcpFlags::SYN, 1000).with_mss(1460);
            match wscale {
                Some(s) => r.with_wscale(s),
                None => r,
            }
        },
        &[],
    );
    let out = ls.frame(&syn).or_panic("SYN");
    let segs = segments(&out);
    assert_eq!(segs.len(), 1, "one SYN-ACK");
    assert!(segs[0].0.syn() && segs[0].0.ack());
    (segs[0].3, segs[0].2)
}

#[test]
fn syn_ack_carries_our_window_scale_only_when_the_syn_had_one() {
    // Ring 64 KiB: our shift is 1; the SYN-ACK's own window is never scaled.
    assert_eq!(synack_of(65536, None), (None, 65535));
    for peer_shift in [0u8, 7, 14, 15, 200] {
        assert_eq!(synack_of(65536, Some(peer_shift)), (Some(1), 65535), "peer shift {peer_shift}");
    }
    // Ring 4 KiB: our shift is 0; the option goes out unless both shifts are 0.
    assert_eq!(synack_of(4096, Some(7)), (Some(0), 4096));
    assert_eq!(synack_of(4096, Some(0)), (None, 4096));
    assert_eq!(synack_of(4096, None), (None, 4096));
}

/// A stream under holdback with the host releasing in random steps: every
/// ACK's window is the ring beyond R in units of 2^shift (1 for a 64 KiB
/// ring, 5 for 1 MiB), the window the peer computes is the whole ring — more
/// than the 65535 an unscaled window says — once everything is released,
/// the stream wraps the ring three times, and the core's TCB, ring and
/// counters agree with the model throughout.
#[test]
fn scaled_window_under_holdback_follows_the_releases() {
    for (ring, peer_shift) in [(65536u32, 0u8), (65536, 7), (65536, 14), (65536, 200), (1 << 20, 0), (1 << 20, 14)] {
        scaled_stream(ring, peer_shift);
    }
}

fn scaled_stream(ring: u32, peer_shift: u8) {
    {
        let mut ls = start(true, ring);
        let shift = wscale_for_ring(ring);
        let mut c = open(&mut ls, 1, Some(peer_shift));
        let data: Vec<u8> = (0..3 * ring + 7000).map(|i| (i * 13 + u32::from(peer_shift)) as u8).collect();
        let (mut sent, mut released) = (0usize, 0usize);
        let mut rng = holdback_sim::wire::fuzz::SplitMix64(holdback_sim::test_seed(0x3c7) + u64::from(peer_shift));
        let mut widest = 0u32;
        while sent < data.len() {
            // The peer sends what the last advertised edge allows, in odd sizes.
            let t = ls.model.tcb(c.id).clone();
            let room = t.rcv_adv.diff(c.snd_nxt).max(0) as usize;
            let len = (1 + rng.below(1460)).min(room).min(data.len() - sent);
            if len > 0 {
                let out = c.send(&mut ls, &data[sent..sent + len]).or_panic("data");
                sent += len;
                for (flags, _, window, _) in segments(&out) {
                    if !flags.syn() {
                        widest = widest.max(u32::from(window) << shift);
                    }
                }
            }
            // The host releases part of what it received, sometimes nothing;
            // everything when the window is full.
            if len == 0 || rng.chance(33) {
                let upto = released + (sent - released) * rng.below(101) / 100;
                if upto > released || len == 0 {
                    released = if len == 0 { sent } else { upto };
                    let r = (ls.model.tcb(c.id).irs + 1 + released as u32).0;
                    for (flags, _, window, _) in segments(&ls.release(c.id, r).or_panic("release")) {
                        if !flags.syn() {
                            widest = widest.max(u32::from(window) << shift);
                        }
                    }
                }
            }
        }
        check_conn(&mut ls, &c, &format!("after the stream, ring {ring}, peer shift {peer_shift}"));
        assert_eq!(widest, ring, "the whole ring is offered (more than the 65535 an unscaled window says)");
    }
}

/// Without holdback the ACK follows rcv_nxt byte by byte, so it moves by less
/// than one unit of the scale: the edge is rounded up rather than moved left,
/// and a peer that fills that window to its last byte may pass the ring's end
/// by less than one unit — those bytes are dropped, never written over
/// unreleased ones (the model and the ring comparison say so).
#[test]
fn odd_acks_round_the_edge_up_and_the_ring_is_never_overrun() {
    let mut ls = start(false, 65536);
    let mut c = open(&mut ls, 2, Some(7));
    let data: Vec<u8> = (0..140_000u32).map(|i| (i * 31 + 5) as u8).collect();
    let (mut sent, mut rounds, mut taken) = (0usize, 0, 1usize);
    let mut dropped_past_ring = 0;
    // Fill the window completely twice, one odd-sized segment at a time,
    // releasing only when the window is full or the ring takes nothing more.
    while rounds < 2 {
        let t = ls.model.tcb(c.id).clone();
        let room = t.rcv_adv.diff(c.snd_nxt).max(0) as usize;
        if room == 0 || taken == 0 {
            dropped_past_ring += usize::from(room > 0);
            taken = 1;
            let r = ls.model.tcb(c.id).rcv_nxt.0;
            ls.release(c.id, r).or_panic("release");
            check_conn(&mut ls, &c, "window full");
            rounds += 1;
            continue;
        }
        let len = [1usize, 333, 1460, 7][sent % 4].min(room);
        let before = ls.model.tcb(c.id).rcv_nxt;
        c.send(&mut ls, &data[sent..sent + len]).or_panic("data");
        taken = ls.model.tcb(c.id).rcv_nxt.diff(before) as usize;
        // Bytes past what the ring holds are dropped; the peer resends them.
        c.snd_nxt = ls.model.tcb(c.id).rcv_nxt;
        sent += taken;
    }
    check_conn(&mut ls, &c, "after two rounds");
    eprintln!("rounds that ended with bytes past the ring dropped: {dropped_past_ring}");
}
