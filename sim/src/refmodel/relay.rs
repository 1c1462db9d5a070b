//! Relay mode's splice (docs/relay.md "The splice rule"): what a change in
//! one connection of a spliced pair asks of the other, computed from that
//! one connection's TCB alone, so the engine reads one TCB per step.
//!
//! A pair is two TCBs naming each other in `peer_link`. Stream offset `o` of
//! what `x` receives (sequence number `x.irs + 1 + o`) is stream offset `o`
//! of what its peer `y` sends (`y.iss + 1 + o`): the bytes sit once, in `x`'s
//! receive ring, which is `y`'s transmit ring. Two rules follow:
//! - `y` may send what `x` received: `y.tx_end = x.rcv_nxt - x.irs - 1`,
//!   less the FIN's place once `x` received its peer's FIN;
//! - `y` may acknowledge what `x`'s peer acknowledged (the `peer` gate):
//!   `y.rel = y.irs + 1 + (x.snd_una - x.iss - 1) = x.snd_una + x.seq_offset`,
//!   with `x.seq_offset = y.irs - x.iss` fixed once both are synchronized.
//!   The same rule releases the client's SYN-ACK (`y.irs + 1`) once the
//!   server ACKed our SYN, and a FIN once the other side's FIN was ACKed.
//!
//! The RTL computes the same in `hdl/src/engine/relay_step.rs` (`RelayStep`
//! for [`relay_step`], `RelayApply` for [`apply_follow`]);
//! `sim/tests/block_relay_step.rs` scores its Verilated Verilog against
//! these functions.
use holdback_regmap::TcpState;

use super::tcb::Tcb;
use crate::wire::SeqNum;

/// `peer_link` of a connection that relays nothing.
pub const NO_LINK: u16 = holdback_regmap::NO_PEER_LINK;

/// `x.seq_offset` for `x` spliced to a peer whose initial receive sequence
/// number is `peer_irs`: added to one of `x`'s send sequence numbers, it
/// gives the peer's receive sequence number of the same stream offset.
pub fn seq_offset(x_iss: SeqNum, peer_irs: SeqNum) -> u32 {
    peer_irs.0.wrapping_sub(x_iss.0)
}

/// Whether a connection in `state` received its peer's FIN: the FIN then
/// takes one sequence number below `rcv_nxt` that is not a byte.
pub fn fin_received(state: TcpState) -> bool {
    matches!(state, TcpState::CloseWait | TcpState::Closing | TcpState::LastAck | TcpState::TimeWait)
}

/// Whether `state` has both initial sequence numbers and the splice's
/// offsets (RFC 9293 §3.3.2's synchronized states).
fn synchronized(state: TcpState) -> bool {
    !matches!(state, TcpState::Closed | TcpState::Listen | TcpState::SynSent | TcpState::SynReceived)
}

/// What one step asks of the peer `peer`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerUpdate {
    /// `x` is synchronized: move the peer's send tail, its release and, once
    /// `x` received a FIN, close the peer after its tail.
    Follow {
        peer: u16,
        /// The peer's transmit-stream offset up to which `x` received bytes
        /// (`tx_end`, in the send tail's units).
        tx_end: u32,
        /// The peer's new R (a serial maximum with the one it has).
        release: SeqNum,
        /// `x.irs`: the peer sets its `seq_offset` to `x.irs - peer.iss`.
        irs: SeqNum,
        /// `x` received its peer's FIN: the peer closes (a FIN after `tx_end`).
        close: bool,
    },
    /// `x` ended by a RST (received or sent), a give-up or an abort: the
    /// peer is reset too.
    Abort { peer: u16 },
}

/// The update a change of `x` asks of its peer; `None` when `x` relays
/// nothing or is not synchronized yet (its offsets are not known).
/// `reset` says `x` just ended abnormally (its TCB is the last one before
/// the slot is freed).
pub fn relay_step(x: &Tcb, reset: bool) -> Option<PeerUpdate> {
    if x.peer_link == NO_LINK {
        return None;
    }
    if reset {
        return Some(PeerUpdate::Abort { peer: x.peer_link });
    }
    if !synchronized(x.state) {
        return None;
    }
    let fin = u32::from(fin_received(x.state));
    Some(PeerUpdate::Follow {
        peer: x.peer_link,
        tx_end: x.rcv_nxt.0.wrapping_sub(x.irs.0).wrapping_sub(1).wrapping_sub(fin),
        release: x.snd_una + x.seq_offset,
        irs: x.irs,
        close: fin == 1,
    })
}

/// What applying a [`PeerUpdate::Follow`] changed in the peer `y`, so the
/// caller knows what to send (a released SYN-ACK or ACK, new data, a FIN).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    pub release_moved: bool,
    pub tail_moved: bool,
    /// R passed `y`'s rcv_nxt, which followed it: `y`'s peer acknowledged
    /// bytes this card never received (only after a promotion, docs/relay.md
    /// "Failover of both connections"); `y`'s held out-of-order ranges lie
    /// below or across the new rcv_nxt and are dropped.
    pub rcv_jumped: bool,
    /// `y` should close now (it was ESTABLISHED or CLOSE-WAIT and not
    /// closing yet); the caller runs its close.
    pub close: bool,
}

/// Applies `Follow` to `y`: `seq_offset`, R (serial maximum: a late or
/// repeated step never moves it back), rcv_nxt when R passes it, the send
/// tail in the states that send (a serial maximum too), and whether `y`
/// must now close.
///
/// R passes rcv_nxt only on a promoted card: the standby resumed `y` from
/// its copy's R, while `y`'s peer already had an ACK from the old card for
/// bytes up to where `x`'s peer acknowledged them. Those bytes are safe at
/// the far end and the peer will not send them again, so `y` takes them as
/// received: rcv_nxt := R. Only before `y` received its peer's FIN (after
/// it, R never passes the FIN's place).
///
/// With `hold_synack` (CTRL bit4) a SYN-RECEIVED `y` keeps its R: the host
/// releases a relayed client's SYN-ACK once the standby holds both sides
/// (docs/relay.md, "Setup across three parties").
pub fn apply_follow(y: &mut Tcb, tx_end: u32, release: SeqNum, irs: SeqNum, close: bool, hold_synack: bool) -> Applied {
    let mut applied = Applied::default();
    y.seq_offset = seq_offset(y.iss, irs);
    let held = hold_synack && y.state == TcpState::SynReceived;
    if !held && y.rel.before(release) {
        y.rel = release;
        applied.release_moved = true;
    }
    let receiving = matches!(y.state, TcpState::Established | TcpState::FinWait1 | TcpState::FinWait2);
    if receiving && y.rcv_nxt.before(y.rel) {
        y.rcv_nxt = y.rel;
        applied.rcv_jumped = true;
    }
    let sending = matches!(y.state, TcpState::Established | TcpState::CloseWait);
    if sending && SeqNum(y.tx_end).before(SeqNum(tx_end)) {
        y.tx_end = tx_end;
        applied.tail_moved = true;
    }
    applied.close = close && sending;
    applied
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client-side TCB `c` and a server-side TCB `s` spliced, both
    /// ESTABLISHED, with sequence numbers near the 2^32 wrap.
    fn pair() -> (Tcb, Tcb) {
        let mut c = Tcb::default();
        let mut s = Tcb::default();
        c.state = TcpState::Established;
        s.state = TcpState::Established;
        c.peer_link = 7;
        s.peer_link = 3;
        c.irs = SeqNum(0xFFFF_FF00);
        c.iss = SeqNum(0x1000);
        s.irs = SeqNum(0x8000_0000);
        s.iss = SeqNum(0xFFFF_FFF0);
        c.seq_offset = seq_offset(c.iss, s.irs);
        s.seq_offset = seq_offset(s.iss, c.irs);
        for t in [&mut c, &mut s] {
            t.rcv_nxt = t.irs + 1;
            t.rel = t.irs + 1;
            t.snd_una = t.iss + 1;
        }
        (c, s)
    }

    fn follow(x: &Tcb) -> (u16, u32, SeqNum, SeqNum, bool) {
        match relay_step(x, false) {
            Some(PeerUpdate::Follow { peer, tx_end, release, irs, close }) => (peer, tx_end, release, irs, close),
            other => panic!("expected Follow, got {other:?}"),
        }
    }

    #[test]
    fn with_hold_synack_a_held_client_keeps_its_r_for_the_host_and_an_established_one_follows() {
        let (mut c, s) = pair();
        c.state = TcpState::SynReceived;
        c.rel = c.irs;
        let (_, _, release, irs, _) = follow(&s);
        let mut held = c.clone();
        let applied = apply_follow(&mut held, 0, release, irs, false, true);
        assert!(!applied.release_moved, "the SYN-ACK waits for the host's release");
        assert_eq!(held.rel, c.irs);
        assert_eq!(held.seq_offset, seq_offset(c.iss, s.irs), "the offset is taken all the same");
        let applied = apply_follow(&mut c, 0, release, irs, false, false);
        assert!(applied.release_moved, "without hold-synack the backend's accept releases it");
        // ESTABLISHED follows whatever bit4 says.
        let (mut c, mut s) = pair();
        s.snd_una = s.iss + 1 + 600;
        let (_, _, release, irs, _) = follow(&s);
        assert!(apply_follow(&mut c, 0, release, irs, false, true).release_moved);
        assert_eq!(c.rel, c.irs + 1 + 600);
    }

    #[test]
    fn client_bytes_become_the_servers_tail_and_the_servers_ack_the_clients_release() {
        let (mut c, mut s) = pair();
        c.rcv_nxt = c.irs + 1 + 1000; // the client sent 1000 bytes, across the wrap
        let (peer, tx_end, release, irs, close) = follow(&c);
        assert_eq!((peer, tx_end, close), (7, 1000, false));
        let applied = apply_follow(&mut s, tx_end, release, irs, close, false);
        assert_eq!(applied, Applied { release_moved: false, rcv_jumped: false, tail_moved: true, close: false });
        assert_eq!(s.tx_end, 1000);

        // The server ACKed 600 of them: the client's R moves to byte 600, not 1000.
        s.snd_una = s.iss + 1 + 600;
        let (peer, _, release, irs, _) = follow(&s);
        assert_eq!(peer, 3);
        assert_eq!(release, c.irs + 1 + 600);
        let applied = apply_follow(&mut c, 0, release, irs, false, false);
        assert!(applied.release_moved);
        assert_eq!(c.rel, c.irs + 1 + 600);
        assert_eq!(c.seq_offset, seq_offset(c.iss, s.irs));
    }

    #[test]
    fn the_clients_syn_ack_waits_for_the_servers_syn_ack() {
        let (mut c, mut s) = pair();
        c.state = TcpState::SynReceived;
        c.rel = c.irs; // held: no SYN-ACK yet
        c.seq_offset = 0; // not known before the server's SYN
        s.state = TcpState::SynSent;
        assert_eq!(relay_step(&c, false), None, "a SYN-RECEIVED client side asks nothing");
        assert_eq!(relay_step(&s, false), None, "a SYN-SENT server side asks nothing");

        // The server's SYN-ACK arrived and ACKed our SYN: s is ESTABLISHED.
        s.state = TcpState::Established;
        let (_, tx_end, release, irs, _) = follow(&s);
        assert_eq!(release, c.irs + 1, "the client's SYN is acknowledged once the server acknowledged ours");
        let applied = apply_follow(&mut c, tx_end, release, irs, false, false);
        assert!(applied.release_moved && !applied.tail_moved, "{applied:?}");
        assert_eq!(c.seq_offset, s.irs.0.wrapping_sub(c.iss.0));
    }

    #[test]
    fn a_fin_closes_the_other_side_after_the_bytes_and_its_ack_waits_for_the_other_fins() {
        let (mut c, mut s) = pair();
        c.state = TcpState::CloseWait;
        c.rcv_nxt = c.irs + 1 + 50 + 1; // 50 bytes and the FIN
        let (_, tx_end, release, irs, close) = follow(&c);
        assert_eq!((tx_end, close), (50, true), "the FIN is not a byte to relay");
        let applied = apply_follow(&mut s, tx_end, release, irs, close, false);
        assert!(applied.close && applied.tail_moved);

        // The server ACKed the 50 bytes and our FIN: the client's FIN is released.
        s.state = TcpState::FinWait2;
        s.snd_una = s.iss + 1 + 50 + 1;
        let (_, _, release, irs, _) = follow(&s);
        apply_follow(&mut c, 0, release, irs, false, false);
        assert_eq!(c.rel, c.rcv_nxt, "the client's FIN is ACKed only after the server ACKed ours");

        // A side already closing is not closed again, and sends no new tail.
        s.state = TcpState::FinWait1;
        let (held, irs) = (s.rel, c.irs);
        let applied = apply_follow(&mut s, 60, held, irs, true, false);
        assert_eq!(applied, Applied::default());
    }

    #[test]
    fn an_ack_past_what_this_card_received_moves_rcv_nxt_to_r() {
        // A promoted card resumed the client side from its copy's R, 400
        // bytes in; the server's ACK tells it the old card had relayed 900.
        let (mut c, mut s) = pair();
        c.rcv_nxt = c.irs + 1 + 400;
        c.rel = c.rcv_nxt;
        s.snd_una = s.iss + 1 + 900;
        s.snd_nxt = s.snd_una;
        let (_, tx_end, release, irs, _) = follow(&s);
        let applied = apply_follow(&mut c, tx_end, release, irs, false, false);
        assert!(applied.release_moved && applied.rcv_jumped, "{applied:?}");
        assert_eq!((c.rel, c.rcv_nxt), (c.irs + 1 + 900, c.irs + 1 + 900));
        // The client side's new rcv_nxt is the server side's new tail.
        let (_, tx_end, ..) = follow(&c);
        assert_eq!(tx_end, 900);

        // Behind rcv_nxt, as always on an active card: no jump.
        let at = c.irs + 1 + 900;
        let applied = apply_follow(&mut c, 0, at, irs, false, false);
        assert!(!applied.rcv_jumped);
        // After the peer's FIN R never passes it; nothing jumps either.
        c.state = TcpState::CloseWait;
        let past = c.irs + 1 + 2000;
        let applied = apply_follow(&mut c, 0, past, irs, false, false);
        assert!(applied.release_moved && !applied.rcv_jumped);
    }

    #[test]
    fn late_or_repeated_steps_never_move_anything_back() {
        let (mut c, mut s) = pair();
        c.rcv_nxt = c.irs + 1 + 500;
        let early = follow(&c);
        c.rcv_nxt = c.irs + 1 + 900;
        let late = follow(&c);
        apply_follow(&mut s, late.1, late.2, late.3, late.4, false);
        let applied = apply_follow(&mut s, early.1, early.2, early.3, early.4, false);
        assert_eq!(applied, Applied::default());
        assert_eq!(s.tx_end, 900);
        s.rel = s.irs + 1 + 77;
        let older = s.irs + 1;
        apply_follow(&mut s, 0, older, c.irs, false, false);
        assert_eq!(s.rel, s.irs + 1 + 77);
    }

    #[test]
    fn a_reset_aborts_the_peer_and_an_unlinked_connection_asks_nothing() {
        let (mut c, _) = pair();
        assert_eq!(relay_step(&c, true), Some(PeerUpdate::Abort { peer: 7 }));
        c.state = TcpState::SynReceived;
        assert_eq!(relay_step(&c, true), Some(PeerUpdate::Abort { peer: 7 }), "a client that resets while the backend connects aborts the connect");
        c.peer_link = NO_LINK;
        assert_eq!(relay_step(&c, true), None);
        c.state = TcpState::Established;
        assert_eq!(relay_step(&c, false), None);
    }
}
