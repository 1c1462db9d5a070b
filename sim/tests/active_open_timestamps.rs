//! TCP timestamps (RFC 7323 §3.2) on the active open, in the Verilated core
//! scored against the reference model: with TIMESTAMPS on, CONNECT's SYN (and
//! its retransmissions) carries TSval = TS_CLOCK + TS_OFFSET, TS_OFFSET the
//! ISS with its 16-bit halves swapped, and TSecr 0 (not valid without ACK);
//! a SYN-ACK with the option gives TS_OK and TS.Recent = its TSval, which the
//! card's ACKs, FIN and data segments echo; a SYN-ACK without it turns the
//! option off for the connection; a crossed SYN (simultaneous open) decides
//! the same way; TIMESTAMPS off leaves the SYN without the option. Every TCB
//! word, counter and frame is compared with the model's.
//!
//! Data segments from the transmit ring are not in the lockstep model (as in
//! `timestamps.rs`): their TSval and TSecr are checked against the model's
//! clock and the SYN-ACK's TSval.
//!
//! Needs verilator (the sim crate's build verilates the core): install with
//! `apt-get install verilator`.
#[path = "common/active_peer.rs"]
mod active_peer;
#[path = "common/or_panic.rs"]
mod or_panic;
#[path = "common/tx_card.rs"]
mod tx_card;
use active_peer::{check, connect, only_segment, segments, server, CORE, RTO_US, SERVER_ISN, SERVER_PORT};
use or_panic::OrPanic;

use holdback_regmap::TcpState;
use holdback_sim::core_sim::CoreSim;
use holdback_sim::refmodel::lockstep::Lockstep;
use holdback_sim::refmodel::active_open::Connect;
use holdback_sim::refmodel::ts_offset_for;
use holdback_sim::wire::{tcp_frame, Frame, SeqNum, TcpFlags, TcpRepr};

fn start(timestamps: bool) -> Lockstep<CoreSim> {
    active_peer::start(|cfg| cfg.timestamps = timestamps)
}

/// The server's SYN-ACK to `syn` (MSS 1460, Window Scale 7, as Linux), with
/// the Timestamps option `(tsval, TSecr = the SYN's TSval)` when `tsval` is given.
fn syn_ack(syn: &TcpRepr, tsval: Option<u32>) -> TcpRepr {
    let mut seg = TcpRepr::new(SERVER_PORT, syn.src_port, SeqNum(SERVER_ISN), syn.seq + 1, TcpFlags::SYN | TcpFlags::ACK, 64240);
    if let Some(v) = tsval {
        seg = seg.with_timestamps(v, syn.timestamps().map_or(0, |(ours, _)| ours));
    }
    seg.with_mss(1460).with_wscale(7)
}

/// A segment of the server at `seq`, acknowledging `ack`, with TSval `tsval` when given.
fn from_server(local_port: u16, seq: SeqNum, ack: SeqNum, flags: TcpFlags, tsval: Option<u32>) -> TcpRepr {
    let seg = TcpRepr::new(SERVER_PORT, local_port, seq, ack, flags, 502);
    match tsval {
        Some(v) => seg.with_timestamps(v, 0),
        None => seg,
    }
}

#[test]
fn the_syn_carries_timestamps_with_tsecr_zero_only_when_timestamps_are_on() {
    for on in [true, false] {
        let mut ls = start(on);
        ls.set_ts_clock(0x0bad_f00d).or_panic("TS_CLOCK write");
        let (syn, id) = connect(&mut ls, 1, 40001);
        let t = ls.model.tcb(id);
        assert_eq!(syn.mss(), Some(1460), "TIMESTAMPS {on}: the SYN offers our MSS");
        assert!(syn.wscale().is_some(), "TIMESTAMPS {on}: the SYN offers Window Scale");
        if on {
            let offset = ts_offset_for(syn.seq);
            assert_eq!((t.ts_ok, t.ts_recent, t.ts_offset), (true, 0, offset), "SYN-SENT TCB");
            let ticks = ls.ts_clock().or_panic("TS_CLOCK");
            assert_eq!(syn.timestamps(), Some((ticks.wrapping_add(offset), 0)), "the SYN's TSval and TSecr");
            // RFC 7323 Appendix A layout first, then MSS and NOP + Window Scale: 20 of the 40 option bytes.
            assert_eq!(&syn.options[..4], &[1, 1, 8, 10], "NOP NOP kind 8 length 10 lead");
            assert_eq!(syn.options.len(), 20, "options {:02x?}", syn.options);
        } else {
            assert_eq!((t.ts_ok, t.ts_recent, t.ts_offset), (false, 0, 0), "SYN-SENT TCB");
            assert_eq!(syn.timestamps(), None, "TIMESTAMPS off: no option");
            assert_eq!(syn.options.len(), 8, "MSS and NOP + Window Scale only: {:02x?}", syn.options);
        }
    }
}

#[test]
fn a_syn_ack_with_timestamps_is_echoed_by_every_later_segment() {
    let mut ls = start(true);
    let (syn, id) = connect(&mut ls, 2, 40002);
    let offset = ts_offset_for(syn.seq);
    ls.advance(4 * 1024).or_panic("time before the SYN-ACK");
    let ack = ls.frame(&tcp_frame(server(2), CORE, &syn_ack(&syn, Some(0x1234_0000)), &[])).or_panic("SYN-ACK");
    let ack = only_segment(&ack, server(2), "the handshake's ACK");
    assert_eq!(ack.flags, TcpFlags::ACK);
    check(&mut ls, id, TcpState::Established, "ESTABLISHED");
    let t = ls.model.tcb(id);
    assert_eq!((t.ts_ok, t.ts_recent, t.ts_offset), (true, 0x1234_0000, offset), "TCB after the SYN-ACK");
    let clock = ls.ts_clock().or_panic("TS_CLOCK");
    assert_eq!(ack.timestamps(), Some((clock.wrapping_add(offset), 0x1234_0000)), "the ACK echoes the SYN-ACK's TSval");

    // The server's data: TS.Recent takes its TSval (§4.3), the ACK echoes it.
    let mut seq = SeqNum(SERVER_ISN) + 1;
    let data = from_server(40002, seq, syn.seq + 1, TcpFlags::ACK | TcpFlags::PSH, Some(0x1234_0005));
    let out = ls.frame(&tcp_frame(server(2), CORE, &data, b"220 ready\r\n")).or_panic("server data");
    seq += 11;
    let ack = only_segment(&out, server(2), "ACK of the data");
    assert_eq!(ack.timestamps().map(|(_, ecr)| ecr), Some(0x1234_0005), "TSecr of the data's ACK");
    check(&mut ls, id, TcpState::Established, "after data");

    // Our FIN carries it too; a RST would not (timestamps.rs checks that for every connection).
    let fin = ls.close(id).or_panic("CONN_CLOSE");
    let fin = only_segment(&fin, server(2), "our FIN");
    assert_eq!(fin.flags, TcpFlags::FIN | TcpFlags::ACK);
    assert_eq!(fin.timestamps().map(|(_, ecr)| ecr), Some(0x1234_0005), "our FIN");
    check(&mut ls, id, TcpState::FinWait1, "FIN-WAIT-1");
    let f = from_server(40002, seq, fin.seq + 1, TcpFlags::ACK | TcpFlags::FIN, Some(0x1234_0009));
    let out = ls.frame(&tcp_frame(server(2), CORE, &f, &[])).or_panic("server's FIN");
    let last = only_segment(&out, server(2), "ACK of the server's FIN");
    assert_eq!(last.timestamps().map(|(_, ecr)| ecr), Some(0x1234_0009), "ACK of the FIN");
    check(&mut ls, id, TcpState::TimeWait, "TIME-WAIT");
}

#[test]
fn a_syn_ack_without_timestamps_turns_them_off_for_the_connection() {
    let mut ls = start(true);
    let (syn, id) = connect(&mut ls, 3, 40003);
    assert!(syn.timestamps().is_some(), "our SYN offers timestamps");
    let out = ls.frame(&tcp_frame(server(3), CORE, &syn_ack(&syn, None), &[])).or_panic("SYN-ACK");
    let mut all = segments(&out, server(3), "the handshake's ACK");
    check(&mut ls, id, TcpState::Established, "ESTABLISHED");
    let t = ls.model.tcb(id);
    assert_eq!((t.ts_ok, t.ts_recent, t.ts_offset), (false, 0, 0), "nothing negotiated without the option in the SYN-ACK");
    let seq = SeqNum(SERVER_ISN) + 1;
    let data = from_server(40003, seq, syn.seq + 1, TcpFlags::ACK | TcpFlags::PSH, None);
    let out = ls.frame(&tcp_frame(server(3), CORE, &data, b"hello")).or_panic("server data");
    all.extend(segments(&out, server(3), "ACK of the data"));
    all.extend(segments(&ls.close(id).or_panic("close"), server(3), "our FIN"));
    assert_eq!(all.len(), 3, "ACK, ACK, FIN: {all:?}");
    assert!(all.iter().all(|s| s.timestamps().is_none()), "no option after the SYN: {all:?}");
    check(&mut ls, id, TcpState::FinWait1, "FIN-WAIT-1");
}

#[test]
fn the_syns_retransmission_carries_the_later_tsval() {
    let mut ls = start(true);
    let (syn, id) = connect(&mut ls, 4, 40004);
    let offset = ts_offset_for(syn.seq);
    let (first, ecr) = syn.timestamps().expect("our SYN offers timestamps");
    assert_eq!(ecr, 0);
    let mut again = None;
    for _ in 0..10 {
        let out = ls.advance(1024).or_panic("the SYN's timer");
        if !out.is_empty() {
            again = Some(only_segment(&out, server(4), "the SYN again"));
            break;
        }
    }
    let again = again.expect("the SYN retransmitted within 10 ms");
    assert_eq!((again.flags, again.seq), (TcpFlags::SYN, syn.seq), "the same SYN");
    let clock = ls.ts_clock().or_panic("TS_CLOCK");
    assert_eq!(again.timestamps(), Some((clock.wrapping_add(offset), 0)), "the retransmission's TSval and TSecr");
    assert!(again.timestamps().map_or(0, |(v, _)| v.wrapping_sub(first)) >= RTO_US / 1024, "TSval moved on");
    check(&mut ls, id, TcpState::SynSent, "SYN-SENT after the retransmission");
    let out = ls.frame(&tcp_frame(server(4), CORE, &syn_ack(&again, Some(77)), &[])).or_panic("SYN-ACK");
    assert_eq!(only_segment(&out, server(4), "ACK").timestamps().map(|(_, ecr)| ecr), Some(77));
    check(&mut ls, id, TcpState::Established, "ESTABLISHED");
}

#[test]
fn a_crossed_syn_decides_as_a_syn_ack_does() {
    let mut ls = start(true);
    for (n, tsval) in [(5u16, Some(0xffff_fff0u32)), (6, None)] {
        let port = 40000 + n;
        let (syn, id) = connect(&mut ls, n, port);
        let offset = ts_offset_for(syn.seq);
        // The peer's SYN crossed ours: our SYN-ACK answers it (simultaneous open).
        let theirs = from_server(port, SeqNum(SERVER_ISN), SeqNum(0), TcpFlags::SYN, tsval).with_mss(1400);
        let out = ls.frame(&tcp_frame(server(n), CORE, &theirs, &[])).or_panic("crossed SYN");
        let synack = only_segment(&out, server(n), "our SYN-ACK");
        assert_eq!(synack.flags, TcpFlags::SYN | TcpFlags::ACK);
        check(&mut ls, id, TcpState::SynReceived, "SYN-RECEIVED");
        let clock = ls.ts_clock().or_panic("TS_CLOCK");
        assert_eq!(synack.timestamps(), tsval.map(|v| (clock.wrapping_add(offset), v)), "our SYN-ACK to TSval {tsval:?}");
        assert_eq!(ls.model.tcb(id).ts_ok, tsval.is_some());
        let ack = from_server(port, SeqNum(SERVER_ISN) + 1, syn.seq + 1, TcpFlags::ACK, tsval.map(|v| v.wrapping_add(1)));
        ls.frame(&tcp_frame(server(n), CORE, &ack, &[])).or_panic("ACK");
        check(&mut ls, id, TcpState::Established, "ESTABLISHED");
    }
}

/// The transmit side, which the lockstep model leaves out: data segments of
/// an actively opened connection carry TSval on the clock and the SYN-ACK's TSval.
#[test]
fn data_segments_of_an_active_open_echo_the_syn_acks_tsval() {
    use holdback_regmap as map;
    use holdback_sim::refmodel::TsClock;
    use tx_card::{Card, PEER, PEER_WINDOW};
    let mut card = Card::new(12);
    let reg = |card: &mut Card, r: map::Reg| card.sim.reg_read(r.offset).unwrap_or_else(|e| panic!("{}: {e}", r.name));
    card.sim.reg_write(map::TIMESTAMPS.offset, 1).unwrap_or_else(|e| panic!("TIMESTAMPS: {e}"));
    let mut clock = TsClock::default();
    let now = reg(&mut card, map::NOW_US);
    card.sim.reg_write(map::TS_CLOCK.offset, 0x00c0_ffee).unwrap_or_else(|e| panic!("TS_CLOCK: {e}"));
    clock.write(now, 0x00c0_ffee);
    let tsval_now = |card: &mut Card, offset: u32| clock.ticks(reg(card, map::NOW_US)).wrapping_add(offset);
    let pop = |card: &mut Card| -> Vec<(TcpRepr, Vec<u8>)> {
        card.idle();
        std::iter::from_fn(|| card.sim.pop_tx_frame())
            .map(|b| {
                let f = Frame::parse(&b).unwrap_or_else(|e| panic!("a frame that does not parse ({e})"));
                let (_, tcp, payload) = f.tcp().unwrap_or_else(|| panic!("not TCP: {f:?}"));
                (tcp.clone(), payload.to_vec())
            })
            .collect()
    };

    let local = 40100;
    let c = Connect { remote_ip: PEER.ip, remote_port: SERVER_PORT, local_port: local, next_hop: PEER.mac };
    let (mac_hi, mac_lo) = c.next_hop.to_words();
    for (r, v) in [(map::CONNECT_IP, u32::from(c.remote_ip)), (map::CONNECT_PORTS, c.ports_word()), (map::CONNECT_MAC_LO, mac_lo), (map::CONNECT, u32::from(mac_hi))] {
        card.sim.reg_write(r.offset, v).unwrap_or_else(|e| panic!("{}: {e}", r.name));
    }
    assert_eq!(reg(&mut card, map::CONNECT), 0, "CONNECT takes slot 0");
    let out = pop(&mut card);
    assert_eq!(out.len(), 1, "our SYN");
    let syn = &out[0].0;
    let offset = ts_offset_for(syn.seq);
    assert_eq!(card.tcb(map::tcb::TS_OFFSET), offset);
    assert_eq!(syn.timestamps(), Some((tsval_now(&mut card, offset), 0)), "SYN");

    let peer_tsval = 0x5151_0000u32;
    let synack = TcpRepr::new(SERVER_PORT, local, SeqNum(SERVER_ISN), syn.seq + 1, TcpFlags::SYN | TcpFlags::ACK, PEER_WINDOW)
        .with_timestamps(peer_tsval, syn.timestamps().map_or(0, |(v, _)| v))
        .with_mss(1460);
    card.sim.push_frame(&tcp_frame(PEER, CORE, &synack, &[]));
    let out = pop(&mut card);
    assert_eq!(out.len(), 1, "the handshake's ACK");
    assert_eq!(out[0].0.timestamps(), Some((tsval_now(&mut card, offset), peer_tsval)), "ACK");
    assert_eq!(card.tcb(map::tcb::STATE), TcpState::Established as u32);
    assert_eq!((card.tcb(map::tcb::TS_OK), card.tcb(map::tcb::TS_RECENT)), (1, peer_tsval));

    card.sim.advance_us(5 * 1024);
    let data: Vec<u8> = (0..300u32).map(|b| (b as u8).wrapping_mul(13)).collect();
    card.write_ring(0, &data);
    card.doorbell(data.len() as u32);
    let out = pop(&mut card);
    assert_eq!(out.len(), 1, "one data segment");
    let (t, payload) = &out[0];
    assert_eq!((t.seq, payload), (syn.seq + 1, &data));
    assert_eq!(t.timestamps(), Some((tsval_now(&mut card, offset), peer_tsval)), "data segment: TSval, TSecr");
}
