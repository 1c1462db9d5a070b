//! TCP timestamps (RFC 7323), in the Verilated core scored against the
//! reference model: with TIMESTAMPS on, a SYN carrying the Timestamps option
//! gives the TCB TS_OK, TS.Recent = its TSval and TS_OFFSET = the ISS with its
//! halves swapped (§5.4), and from the SYN-ACK on every segment of the
//! connection but a RST carries TSval = TS_CLOCK + TS_OFFSET and TSecr =
//! TS.Recent (§3.2); a SYN without it, or TIMESTAMPS off, gives none of this
//! and not a byte of the option. TS_CLOCK counts one tick per 1024 us of
//! NOW_US and a host write sets it. Every TCB word (TS_OFFSET included),
//! counter and frame is compared with the model's.
//!
//! Data segments from the transmit ring carry it too (the TX engine is not
//! in the lockstep model: their TSval and TSecr are checked against the
//! model's clock and offset, their bytes by parsing; block_tx_builder.rs
//! checks the builder's layout byte for byte).
//!
//! The §4.3 update rule of TS.Recent and PAWS (§5.3) are `paws.rs`'s.
//!
//! Needs verilator (the sim crate's build verilates the core): install with
//! `apt-get install verilator`.
#[path = "common/or_panic.rs"]
mod or_panic;
#[path = "common/tx_card.rs"]
mod tx_card;
use or_panic::OrPanic;
use std::net::Ipv4Addr;

use holdback_regmap::CoreParams;
use holdback_sim::core_sim::CoreSim;
use holdback_sim::refmodel::lockstep::{test_mac, Lockstep};
use holdback_sim::refmodel::{ts_offset_for, Config, ConnKey};
use holdback_sim::wire::{tcp_frame, Endpoint, Frame, MacAddr, SeqNum, TcpFlags, TcpRepr};

const CORE: Endpoint = Endpoint { mac: MacAddr([0x02, 0x00, 0x5e, 0x00, 0x00, 0x02]), ip: Ipv4Addr::new(198, 18, 0, 2) };
const LISTEN: u16 = 5001;

fn peer(n: u16) -> Endpoint {
    Endpoint { mac: test_mac(n), ip: Ipv4Addr::new(198, 18, 4, n as u8) }
}

fn start(timestamps: bool) -> Lockstep<CoreSim> {
    start_with(timestamps, false)
}

/// With `sack`: reassembly and SACK on too (RX_REASM bits 0-1).
fn start_with(timestamps: bool, sack: bool) -> Lockstep<CoreSim> {
    let core = CoreSim::new()
        .unwrap_or_else(|e| panic!("cannot start the Verilated core ({e}); the sim crate needs verilator: apt-get install verilator"));
    let mut cfg = Config::new(&CoreParams::DEFAULT, CORE.mac, CORE.ip, &[LISTEN], 1460, 3000);
    cfg.timestamps = timestamps;
    cfg.reassembly = sack;
    cfg.sack = sack;
    Lockstep::new(core, cfg).unwrap_or_else(|e| panic!("configure: {e}"))
}

/// What one TCP frame of the core carried: flags, seq, and the Timestamps option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sent {
    flags: TcpFlags,
    seq: SeqNum,
    ts: Option<(u32, u32)>,
}

fn sent(frames: &[Vec<u8>]) -> Vec<Sent> {
    frames
        .iter()
        .filter_map(|f| Frame::parse(f).ok())
        .filter_map(|f| f.tcp().map(|(_, t, _)| Sent { flags: t.flags, seq: t.seq, ts: t.timestamps() }))
        .collect()
}

/// One connection from peer `n`; its segments carry the Timestamps option
/// when `ts` (RFC 7323 §3.2: both sides send it once negotiated).
struct Conn {
    n: u16,
    port: u16,
    id: usize,
    /// The peer's next sequence number, and the core's.
    snd_nxt: SeqNum,
    rcv_nxt: SeqNum,
    ts: bool,
    /// The peer's TSval of its next segment.
    tsval: u32,
}

impl Conn {
    fn segment(&mut self, flags: TcpFlags, payload: &[u8]) -> Vec<u8> {
        let mut repr = TcpRepr::new(self.port, LISTEN, self.snd_nxt, self.rcv_nxt, flags, 64240);
        if self.ts {
            repr = repr.with_timestamps(self.tsval, 0);
            self.tsval = self.tsval.wrapping_add(1);
        }
        self.snd_nxt += payload.len() as u32;
        tcp_frame(peer(self.n), CORE, &repr, payload)
    }

    /// Stream bytes `[from, to)` of `data` at their own sequence numbers (out
    /// of order or again); `snd_nxt` stays.
    fn piece(&mut self, base: SeqNum, data: &[u8], from: usize, to: usize) -> Vec<u8> {
        let keep = self.snd_nxt;
        self.snd_nxt = base + from as u32;
        let f = self.segment(TcpFlags::ACK, &data[from..to]);
        self.snd_nxt = keep;
        f
    }
}

/// Sends a SYN from peer `n` (with the Timestamps option, TSval `tsval`, when
/// `ts`), checks the TCB and counters against the model and returns the
/// connection and what the core answered (the SYN-ACK first, unless held).
fn syn(ls: &mut Lockstep<CoreSim>, n: u16, ts: Option<(u32, u32)>) -> (Conn, Vec<Sent>) {
    let port = 41000 + n;
    let isn = SeqNum(0x8000_0000 + u32::from(n));
    let mut repr = TcpRepr::new(port, LISTEN, isn, SeqNum(0), TcpFlags::SYN, 64240).with_mss(1460).with_sack_permitted();
    if let Some((tsval, tsecr)) = ts {
        repr = repr.with_timestamps(tsval, tsecr);
    }
    let out = sent(&ls.frame(&tcp_frame(peer(n), CORE, &repr, &[])).or_panic("SYN"));
    let key = ConnKey { remote_ip: peer(n).ip, remote_port: port, local_port: LISTEN };
    let id = ls.model.lookup(key).unwrap_or_else(|| panic!("peer {n}'s SYN opened no connection"));
    ls.check_tcb(id, &[]).or_panic("TCB after the SYN");
    ls.check_stats().or_panic("counters after the SYN");
    // No SYN-ACK while hold-synack holds it: the peer learns our ISS later.
    let rcv_nxt = out.iter().find(|s| s.flags.syn()).map_or(SeqNum(0), |s| s.seq + 1);
    let conn = Conn {
        n,
        port,
        id,
        snd_nxt: isn + 1,
        rcv_nxt,
        ts: ts.is_some(),
        tsval: ts.map_or(0, |(v, _)| v.wrapping_add(1)),
    };
    (conn, out)
}

/// The negotiation as the TCB records it: (TS_OK, TS.Recent, TS_OFFSET).
fn tcb_ts(ls: &Lockstep<CoreSim>, c: &Conn) -> (bool, u32, u32) {
    let t = ls.model.tcb(c.id);
    (t.ts_ok, t.ts_recent, t.ts_offset)
}

#[test]
fn timestamps_on_take_the_syns_tsval_and_echo_it_in_the_syn_ack() {
    let mut ls = start(true);
    // TSvals on both sides of the 32-bit wrap and at its edge.
    for (n, tsval) in [(1u16, 1u32), (2, 0x7fff_ffff), (3, 0xffff_fff0), (4, 0xffff_ffff), (5, 0)] {
        let (c, out) = syn(&mut ls, n, Some((tsval, 0)));
        let iss = out[0].seq;
        assert_eq!(tcb_ts(&ls, &c), (true, tsval, ts_offset_for(iss)), "SYN {n} with TSval {tsval:#x}");
        let ticks = ls.ts_clock().or_panic("TS_CLOCK");
        // RFC 7323 §3.2: the SYN-ACK's TSecr is the SYN's TSval.
        assert_eq!(out[0].ts, Some((ticks.wrapping_add(iss.0.rotate_left(16)), tsval)), "SYN-ACK to SYN {n}");
    }
    // A SYN's TSecr means nothing (RFC 7323 §3.2): it is not taken.
    let (c, out) = syn(&mut ls, 6, Some((77, 0xdead_beef)));
    assert_eq!(tcb_ts(&ls, &c).1, 77);
    assert_eq!(out[0].ts.map(|(_, ecr)| ecr), Some(77));
    // A peer without the option: nothing negotiated, nothing sent.
    let (c, out) = syn(&mut ls, 7, None);
    assert_eq!(tcb_ts(&ls, &c), (false, 0, 0));
    assert_eq!(out[0].ts, None);
}

#[test]
fn every_segment_but_a_rst_carries_tsval_on_the_clock_and_tsecr() {
    let mut ls = start(true);
    ls.set_ts_clock(0x0012_3400).or_panic("TS_CLOCK write");
    let (mut c, out) = syn(&mut ls, 1, Some((0x1000, 0)));
    let offset = tcb_ts(&ls, &c).2;
    assert_eq!(out[0].ts, Some((0x0012_3400u32.wrapping_add(offset), 0x1000)), "SYN-ACK");
    // The handshake's ACK: nothing to answer.
    let f = c.segment(TcpFlags::ACK, &[]);
    assert!(sent(&ls.frame(&f).or_panic("handshake ACK")).is_empty());

    // Data: the card ACKs it with the option (TSecr: TS.Recent, still the
    // SYN's TSval here; its §4.3 update is the receive half's).
    let ack_ts = |ls: &mut Lockstep<CoreSim>, c: &mut Conn, what: &str| {
        let f = c.segment(TcpFlags::ACK | TcpFlags::PSH, b"hello");
        let out = sent(&ls.frame(&f).or_panic(what));
        ls.check_tcb(c.id, &[]).or_panic(what);
        assert_eq!(out.len(), 1, "{what}: one ACK");
        let recent = ls.model.tcb(c.id).ts_recent;
        let (tsval, tsecr) = out[0].ts.unwrap_or_else(|| panic!("{what}: ACK without timestamps"));
        assert_eq!(tsecr, recent, "{what}: TSecr");
        tsval
    };
    let t0 = ack_ts(&mut ls, &mut c, "first data");
    assert_eq!(t0, ls.ts_clock().or_panic("TS_CLOCK").wrapping_add(offset));

    // One tick per 1024 us: 10 * 1024 us cross exactly ten boundaries from anywhere.
    ls.advance(10 * 1024).or_panic("10 ticks");
    assert_eq!(ack_ts(&mut ls, &mut c, "after 10 ticks"), t0.wrapping_add(10));
    ls.advance(1023).or_panic("under a tick");
    let t1 = ack_ts(&mut ls, &mut c, "after 1023 us");
    assert!(t1.wrapping_sub(t0) == 10 || t1.wrapping_sub(t0) == 11, "1023 us moved TSval by {}", t1.wrapping_sub(t0));

    // A TS_CLOCK write moves TSval, across the 32-bit wrap too.
    ls.set_ts_clock(0xffff_fffe).or_panic("TS_CLOCK write");
    assert_eq!(ack_ts(&mut ls, &mut c, "after TS_CLOCK write"), 0xffff_fffeu32.wrapping_add(offset));
    ls.advance(3 * 1024).or_panic("3 ticks");
    assert_eq!(ack_ts(&mut ls, &mut c, "past the wrap"), 0xffff_fffeu32.wrapping_add(3).wrapping_add(offset));

    // The host's close: our FIN carries the option; the peer's FIN|ACK: the
    // card's ACK of it (into TIME-WAIT) too.
    let out = sent(&ls.close(c.id).or_panic("close"));
    assert!(out.iter().any(|s| s.flags.fin()), "our FIN: {out:?}");
    assert!(out.iter().all(|s| s.ts.is_some()), "our FIN: {out:?}");
    c.rcv_nxt = ls.model.tcb(c.id).snd_nxt;
    let f = c.segment(TcpFlags::FIN | TcpFlags::ACK, &[]);
    c.snd_nxt += 1;
    let out = sent(&ls.frame(&f).or_panic("peer FIN"));
    assert!(!out.is_empty() && out.iter().all(|s| s.ts.is_some()), "ACK of the FIN: {out:?}");
    ls.check_tcb(c.id, &[]).or_panic("TCB after both FINs");

    // A RST never carries it (RFC 7323 §3.2): abort a second connection.
    let (c2, _) = syn(&mut ls, 2, Some((5, 0)));
    let out = sent(&ls.abort(c2.id).or_panic("abort"));
    assert!(out.iter().any(|s| s.flags.rst()), "abort sends a RST: {out:?}");
    assert!(out.iter().all(|s| s.ts.is_none()), "RST: {out:?}");
    ls.check_stats().or_panic("counters");
}

#[test]
fn without_the_option_or_with_timestamps_off_nothing_carries_it() {
    for on in [true, false] {
        let mut ls = start(on);
        ls.set_ts_clock(0x4242).or_panic("TS_CLOCK write");
        // Off: a SYN with the option; on: a SYN without it.
        let (mut c, out) = syn(&mut ls, 1, if on { None } else { Some((1234, 0)) });
        assert_eq!(tcb_ts(&ls, &c), (false, 0, 0));
        c.ts = false;
        let mut all = out;
        all.extend(sent(&ls.frame(&c.segment(TcpFlags::ACK, &[])).or_panic("handshake ACK")));
        all.extend(sent(&ls.frame(&c.segment(TcpFlags::ACK | TcpFlags::PSH, b"data")).or_panic("data")));
        all.extend(sent(&ls.close(c.id).or_panic("close")));
        assert!(all.len() >= 3, "SYN-ACK, ACK, FIN: {all:?}");
        assert!(all.iter().all(|s| s.ts.is_none()), "TIMESTAMPS {on}: {all:?}");
        ls.check_tcb(c.id, &[]).or_panic("TCB");
        ls.check_stats().or_panic("counters");
    }
}

#[test]
fn switched_on_at_run_time_the_next_syn_negotiates() {
    let mut ls = start(false);
    let (c, out) = syn(&mut ls, 1, Some((1234, 0)));
    assert_eq!((tcb_ts(&ls, &c), out[0].ts), ((false, 0, 0), None));
    ls.set_timestamps(true).or_panic("TIMESTAMPS on");
    let (c, out) = syn(&mut ls, 3, Some((99, 0)));
    assert_eq!(tcb_ts(&ls, &c), (true, 99, ts_offset_for(out[0].seq)));
    assert_eq!(out[0].ts.map(|(_, ecr)| ecr), Some(99));
}

/// SACK blocks of the core's ACKs in `frames`, relative to `base`, with whether each ACK had timestamps.
fn blocks(frames: &[Vec<u8>], base: SeqNum) -> Vec<(Vec<(i64, i64)>, bool)> {
    frames
        .iter()
        .filter_map(|f| Frame::parse(f).ok())
        .filter_map(|f| {
            f.tcp().map(|(_, t, _)| {
                let b = t.sack_blocks().iter().map(|(l, r)| (i64::from(*l - base), i64::from(*r - base))).collect();
                (b, t.timestamps().is_some())
            })
        })
        .collect()
}

#[test]
fn beside_timestamps_an_ack_carries_the_first_three_sack_blocks() {
    let mut ls = start_with(true, true);
    let (mut c, _) = syn(&mut ls, 1, Some((0x100, 0)));
    assert!(ls.model.tcb(c.id).sack_ok && ls.model.tcb(c.id).ts_ok);
    let f = c.segment(TcpFlags::ACK, &[]);
    ls.frame(&f).or_panic("handshake ACK");
    let base = c.snd_nxt;
    let data: Vec<u8> = (0..12_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    for (from, to, want) in [
        (3000, 4000, vec![(3000, 4000)]),
        (7000, 8000, vec![(7000, 8000), (3000, 4000)]),
        (5000, 6000, vec![(5000, 6000), (3000, 4000), (7000, 8000)]),
        // Four held ranges: the latest first, then the first two of the rest in sequence order (RFC 2018 §4).
        (10_000, 11_000, vec![(10_000, 11_000), (3000, 4000), (5000, 6000)]),
    ] {
        let f = c.piece(base, &data, from, to);
        let out = ls.frame(&f).or_panic("out of order");
        assert_eq!(blocks(&out, base), vec![(want, true)], "after {from}..{to}");
        ls.check_tcb(c.id, &[]).or_panic("TCB");
    }
    // A duplicate of a held range: its D-SACK block leads (RFC 2883 §4), then the range holding it, then one more.
    let f = c.piece(base, &data, 5000, 6000);
    let out = ls.frame(&f).or_panic("duplicate");
    assert_eq!(blocks(&out, base), vec![(vec![(5000, 6000), (5000, 6000), (3000, 4000)], true)], "D-SACK");
    ls.check_stats().or_panic("counters");
}

#[test]
fn data_segments_from_the_transmit_ring_carry_timestamps() {
    use holdback_regmap as map;
    use holdback_sim::refmodel::TsClock;
    use tx_card::{Card, LISTEN as TX_LISTEN, MSS, PEER_PORT, PEER_WINDOW};
    let mut card = Card::new(12);
    card.sim.reg_write(map::TIMESTAMPS.offset, 1).unwrap_or_else(|e| panic!("TIMESTAMPS: {e}"));
    let mut clock = TsClock::default();
    let now = card.sim.reg_read(map::NOW_US.offset).unwrap_or_else(|e| panic!("NOW_US: {e}"));
    card.sim.reg_write(map::TS_CLOCK.offset, 0x00ab_cdef).unwrap_or_else(|e| panic!("TS_CLOCK: {e}"));
    clock.write(now, 0x00ab_cdef);
    let isn = SeqNum(0x1234_5678);
    let peer_tsval = 0x7777_0000u32;
    let syn = TcpRepr::new(PEER_PORT, TX_LISTEN, isn, SeqNum(0), TcpFlags::SYN, PEER_WINDOW).with_mss(MSS).with_timestamps(peer_tsval, 0);
    card.send(&syn, &[]);
    card.idle();
    let frames = card.frames();
    assert_eq!(frames.len(), 1, "one SYN-ACK");
    let iss = frames[0].0.seq;
    let offset = ts_offset_for(iss);
    assert_eq!(card.tcb(map::tcb::TS_OFFSET), offset);
    let tsval_now = |card: &mut Card| {
        let now = card.sim.reg_read(map::NOW_US.offset).unwrap_or_else(|e| panic!("NOW_US: {e}"));
        assert_eq!(card.sim.reg_read(map::TS_CLOCK.offset).unwrap_or_else(|e| panic!("TS_CLOCK: {e}")), clock.ticks(now), "TS_CLOCK at {now} us");
        clock.ticks(now).wrapping_add(offset)
    };
    assert_eq!(frames[0].0.timestamps(), Some((tsval_now(&mut card), peer_tsval)), "SYN-ACK");
    let ack_no = isn + 1;
    let handshake = TcpRepr::new(PEER_PORT, TX_LISTEN, ack_no, iss + 1, TcpFlags::ACK, PEER_WINDOW).with_timestamps(peer_tsval + 1, 0);
    card.send(&handshake, &[]);
    card.idle();
    assert!(card.frames().is_empty(), "the handshake's ACK is not answered");
    let mut off = 0u32;
    // The last is a full segment: MSS less the option's 12 bytes (RFC 6691 §2),
    // so the frame is 1514 bytes.
    for (i, len) in [1u32, 7, 8, u32::from(MSS) - 12].into_iter().enumerate() {
        let data: Vec<u8> = (0..len).map(|b| (b as u8).wrapping_mul(31).wrapping_add(i as u8)).collect();
        card.write_ring(off, &data);
        card.doorbell(off + len);
        card.idle();
        let sent = card.frames();
        assert_eq!(sent.len(), 1, "{len} bytes: one data segment");
        let (t, payload) = &sent[0];
        assert_eq!((t.seq, payload), (iss + 1 + off, &data), "{len} bytes");
        // TSecr: TS.Recent as the TCB has it (its §4.3 update is the receive half's).
        let recent = card.tcb(map::tcb::TS_RECENT);
        assert_eq!(t.timestamps(), Some((tsval_now(&mut card), recent)), "{len} bytes: TSval, TSecr");
        off += len;
        // Time passes between segments: TSval follows the clock.
        card.sim.advance_us(3 * 1024 + 100 * i as u32);
        card.idle();
        let ack = TcpRepr::new(PEER_PORT, TX_LISTEN, ack_no, iss + 1 + off, TcpFlags::ACK, PEER_WINDOW).with_timestamps(peer_tsval + 2, 0);
        card.send(&ack, &[]);
        card.idle();
        assert!(card.frames().is_empty(), "an ACK of everything sent is not answered");
    }
    // MSS bytes written: the first segment is MSS less the option, not MSS
    // (which would make a 1526-byte frame); the 12 bytes left wait for its ACK (Nagle).
    let data = vec![0x3c; usize::from(MSS)];
    card.write_ring(off, &data);
    card.doorbell(off + u32::from(MSS));
    card.idle();
    let sent = card.frames();
    assert_eq!(sent.iter().map(|(_, p)| p.len()).collect::<Vec<_>>(), vec![usize::from(MSS) - 12], "SMSS with timestamps");
}

/// Hold-synack (docs/engine.md): the SYN-ACK waits for the release; it then
/// carries the clock of its own time, the TS_OFFSET of the ISS it goes with
/// and the SYN's TSval.
#[test]
fn a_held_syn_ack_carries_timestamps_when_released() {
    let mut ls = start(true);
    ls.set_failover(false, true).or_panic("hold-synack on");
    let (c, out) = syn(&mut ls, 1, Some((0xabcd, 0)));
    assert!(out.is_empty(), "SYN-ACK held: {out:?}");
    ls.advance(5 * 1024).or_panic("time");
    let irs = c.snd_nxt - 1;
    let out = sent(&ls.release(c.id, (irs + 1).0).or_panic("release covering the SYN"));
    assert_eq!(out.len(), 1, "the SYN-ACK: {out:?}");
    let offset = ts_offset_for(out[0].seq);
    assert_eq!(tcb_ts(&ls, &c), (true, 0xabcd, offset));
    assert_eq!(out[0].ts, Some((ls.ts_clock().or_panic("TS_CLOCK").wrapping_add(offset), 0xabcd)));
    ls.check_tcb(c.id, &[]).or_panic("TCB after the release");
}

/// A promoted card sends the connection's TSvals on its own TS_CLOCK with the
/// TCB's TS_OFFSET: the host writes the clock of the pair before it promotes.
#[test]
fn a_promoted_card_sends_its_clock_plus_the_tcbs_offset() {
    let mut ls = start(true);
    let (mut c, _) = syn(&mut ls, 1, Some((0x55, 0)));
    let f = c.segment(TcpFlags::ACK, &[]);
    ls.frame(&f).or_panic("handshake ACK");
    let f = c.segment(TcpFlags::ACK | TcpFlags::PSH, b"some data");
    ls.frame(&f).or_panic("data");
    let offset = tcb_ts(&ls, &c).2;
    ls.set_epoch(3).or_panic("epoch");
    ls.set_ctrl(true, false, true).or_panic("standby");
    ls.set_ts_clock(0x8000_0000).or_panic("the pair's clock");
    ls.set_failover(true, false).or_panic("duplicate ACKs on promotion");
    let out = sent(&ls.promote(4).or_panic("promote"));
    assert!(!out.is_empty(), "the promotion's ACKs");
    let recent = ls.model.tcb(c.id).ts_recent;
    for s in &out {
        assert_eq!(s.ts, Some((0x8000_0000u32.wrapping_add(offset), recent)), "{s:?}");
    }
    ls.check_tcb(c.id, &[]).or_panic("TCB after promotion");
    ls.check_stats().or_panic("counters");
}
