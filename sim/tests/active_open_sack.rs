//! SACK-permitted (RFC 2018 §2) on the active open, in the Verilated core
//! scored against the reference model: with reassembly and SACK on, CONNECT's
//! SYN and its retransmissions offer SACK-permitted; a SYN-ACK that carries
//! it too gives the connection `sack_ok`, and the card's duplicate ACK for a
//! segment beyond a gap then carries the held range as a SACK block; a SYN-ACK
//! without it, or SACK off, leaves the connection without blocks. A relayed
//! backend connection is such an active open: without SACK there, a Linux
//! server learns of a lost segment only from three duplicate ACKs at the gap,
//! which holdback rarely sends (docs/relay.md, "Loss").
//!
//! Every TCB word, counter and frame is compared with the model's.
//!
//! Needs verilator (the sim crate's build verilates the core): install with
//! `apt-get install verilator`.
#[path = "common/active_peer.rs"]
mod active_peer;
#[path = "common/or_panic.rs"]
mod or_panic;
use active_peer::{check, connect, only_segment, server, CORE, SERVER_ISN, SERVER_PORT};
use or_panic::OrPanic;

use holdback_regmap::TcpState;
use holdback_sim::core_sim::CoreSim;
use holdback_sim::refmodel::lockstep::Lockstep;
use holdback_sim::wire::{tcp_frame, SeqNum, TcpFlags, TcpRepr};

fn start(sack: bool) -> Lockstep<CoreSim> {
    active_peer::start(|cfg| {
        cfg.reassembly = true;
        cfg.sack = sack;
    })
}

/// The server's SYN-ACK to `syn`, as Linux sends it, SACK-permitted when `sack`.
fn syn_ack(syn: &TcpRepr, sack: bool) -> TcpRepr {
    let seg = TcpRepr::new(SERVER_PORT, syn.src_port, SeqNum(SERVER_ISN), syn.seq + 1, TcpFlags::SYN | TcpFlags::ACK, 64240)
        .with_mss(1460)
        .with_wscale(7);
    if sack {
        seg.with_sack_permitted()
    } else {
        seg
    }
}

#[test]
fn the_syn_and_its_retransmission_offer_sack_only_when_sack_is_on() {
    for on in [true, false] {
        let mut ls = start(on);
        let (syn, id) = connect(&mut ls, 1, 40001);
        assert_eq!(syn.sack_permitted(), on, "SACK {on}: our SYN's options {:02x?}", syn.options);
        assert_eq!(ls.model.tcb(id).sack_ok, on, "SACK {on}: SYN-SENT TCB offers it");
        let mut again = None;
        for _ in 0..10 {
            let out = ls.advance(1024).or_panic("the SYN's timer");
            if !out.is_empty() {
                again = Some(only_segment(&out, server(1), "the SYN again"));
                break;
            }
        }
        let again = again.expect("the SYN is sent again within 10 ms");
        assert_eq!((again.flags, again.seq), (TcpFlags::SYN, syn.seq), "the SYN again");
        assert_eq!(again.sack_permitted(), on, "SACK {on}: the retransmitted SYN");
        check(&mut ls, id, TcpState::SynSent, "SYN-SENT after the retransmission");
    }
}

/// The connection to server `n` ESTABLISHED by a SYN-ACK with or without
/// SACK-permitted; then a segment beyond a 100-byte gap: the card's
/// duplicate ACK, which holds the range `[gap end, gap end + 200)`.
fn dup_ack_after_gap(sack_on_card: bool, sack_in_syn_ack: bool, n: u16) -> TcpRepr {
    let mut ls = start(sack_on_card);
    let port = 40000 + n;
    let (syn, id) = connect(&mut ls, n, port);
    let out = ls.frame(&tcp_frame(server(n), CORE, &syn_ack(&syn, sack_in_syn_ack), &[])).or_panic("SYN-ACK");
    assert_eq!(only_segment(&out, server(n), "the handshake's ACK").flags, TcpFlags::ACK);
    check(&mut ls, id, TcpState::Established, "ESTABLISHED");
    assert_eq!(ls.model.tcb(id).sack_ok, sack_on_card && sack_in_syn_ack, "sack_ok after the SYN-ACK");
    let beyond = SeqNum(SERVER_ISN) + 1 + 100;
    let seg = TcpRepr::new(SERVER_PORT, port, beyond, syn.seq + 1, TcpFlags::ACK | TcpFlags::PSH, 502);
    let out = ls.frame(&tcp_frame(server(n), CORE, &seg, &[0x5a; 200])).or_panic("a segment beyond a gap");
    let dup = only_segment(&out, server(n), "the duplicate ACK");
    check(&mut ls, id, TcpState::Established, "after the out-of-order segment");
    assert_eq!(dup.ack, SeqNum(SERVER_ISN) + 1, "the duplicate ACK stays at the gap");
    dup
}

#[test]
fn a_syn_ack_with_sack_permitted_makes_the_gaps_ack_carry_the_held_range() {
    let dup = dup_ack_after_gap(true, true, 2);
    let held = (SeqNum(SERVER_ISN) + 101, SeqNum(SERVER_ISN) + 301);
    assert_eq!(dup.sack_blocks(), vec![held], "the held range as a SACK block");
}

#[test]
fn without_sack_permitted_in_the_syn_ack_or_on_the_card_no_block_goes() {
    for (card, syn_ack) in [(true, false), (false, true)] {
        let dup = dup_ack_after_gap(card, syn_ack, 3 + card as u16);
        assert_eq!(dup.sack_blocks(), vec![], "SACK on the card {card}, in the SYN-ACK {syn_ack}");
    }
}
