//! The promotion fix-up of relayed pairs (docs/relay.md, "Failover of both
//! connections"; docs/failover.md, invariant 4).
//!
//! A relayed pair is two TCBs `x`, `y` whose `peer_link` names each other.
//! The primary's card moves `y.rel` from `x.snd_una` and `y`'s send tail
//! from `x.rcv_nxt`; no payload is replicated, so the standby's copies of
//! the two were each taken at their own moment and the promoted card's
//! receive rings are empty. Before the card promotes, [`fix_up`] turns the
//! installed copies into a pair the promoted card can resume:
//!
//! - Each side's snd_una is at least what the other side's R says its peer
//!   acknowledged (`y.rel` only ever came from an ACK of `x`'s peer), and
//!   each side's R at least what the other side's (adjusted) snd_una lets
//!   through: the splice rule of docs/relay.md, applied to the newer of the
//!   two copies in both directions.
//! - snd_nxt starts at snd_max, so every ACK the peer may send for what
//!   the old card sent moves snd_una.
//! - The promoted card holds none of the bytes a side still had to send
//!   (they were in the other side's receive ring on the old card), so the
//!   send tail is cut back to snd_una: the side sends nothing it has not
//!   received again, and the card's splice raises the tail as the other
//!   side's peer retransmits them. A FIN not yet acknowledged goes back
//!   with its tail (FIN-WAIT-1 to ESTABLISHED, CLOSING and LAST-ACK to
//!   CLOSE-WAIT, `close_asked` cleared): the splice closes the side again
//!   once the other side shows its peer's FIN.
//! - The send limit L of each side is its new tail: nothing beyond what it
//!   may resend.
//! - A pair whose client side is still SYN-RECEIVED (its SYN-ACK held for
//!   the host's release under `replicate = "at-setup"`) and whose server
//!   side is synchronized resumes with the client side's R at irs + 1: the
//!   backend accepted, and the primary released the client's SYN-ACK, if it
//!   did, only after the standby acknowledged both copies. The promoted
//!   card's walk then sends what a release sends, the SYN-ACK
//!   (docs/relay.md, "Setup across three parties").
//! - A linked, synchronized TCB whose peer is absent, still opening in
//!   SYN-SENT, or relays to another TCB cannot be resumed (it would send
//!   from an empty ring, and nobody moves its R): it is freed, and with it a
//!   peer still opening that names it. So is a pair still opening on both
//!   sides (the backend has not answered: the server side has no irs) and
//!   a TCB still opening whose peer is absent or names another: the
//!   client has had no SYN-ACK, and its retransmitted SYN opens the pair
//!   afresh on the promoted card, where a held client side would otherwise
//!   wait for a backend that the promoted card's walk does not call again.
//!
//! The function is pure: [`crate::pair::Pair::promote`] reads the installed
//! TCBs from the standby card, writes what this returns, then promotes.
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use holdback_driver::{SeqNum, Tcb};
use holdback_regmap::{TcpState, NO_PEER_LINK};

/// Why a linked TCB cannot be resumed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HalfPair {
    /// Its peer link names a slot without a connection.
    PeerAbsent { peer: u16 },
    /// Its peer link names a TCB that relays to `names` (another TCB, or
    /// none), not back to it.
    PeerNamesAnother { peer: u16, names: u16 },
    /// It is synchronized, its peer is still opening in `state` (SYN-SENT:
    /// a peer in SYN-RECEIVED is a held client side, resumed with it).
    PeerNotSynchronized { peer: u16, state: TcpState },
    /// It is still opening in SYN-SENT and its synchronized peer is freed
    /// as a half pair.
    PeerFreed { peer: u16 },
    /// It and its peer (in `state`) are both still opening: the backend has
    /// not accepted, so the client has had no SYN-ACK and retries its SYN.
    BothOpening { peer: u16, state: TcpState },
}

impl fmt::Display for HalfPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            HalfPair::PeerAbsent { peer } => write!(f, "its peer link {peer} holds no connection"),
            HalfPair::PeerNamesAnother { peer, names: NO_PEER_LINK } => write!(f, "its peer link {peer} relays nothing"),
            HalfPair::PeerNamesAnother { peer, names } => write!(f, "its peer link {peer} relays to {names}, not back to it"),
            HalfPair::PeerNotSynchronized { peer, state } => {
                write!(f, "its peer link {peer} is in {}, not synchronized", state.rfc_name())
            }
            HalfPair::PeerFreed { peer } => write!(f, "it is still opening and its peer link {peer} is freed as a half pair"),
            HalfPair::BothOpening { peer, state } => {
                write!(f, "it and its peer link {peer} ({}) are both still opening: the client's next SYN opens the pair afresh", state.rfc_name())
            }
        }
    }
}

/// A TCB to free before the promotion, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Freed {
    pub id: u16,
    pub why: HalfPair,
}

/// What the promotion writes into the standby card for its relayed pairs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FixUp {
    /// TCBs that changed, as they must be written, by id.
    pub write: Vec<(u16, Tcb)>,
    /// The send limit L (transmit-stream offset mod 2^32) of every resumed
    /// relayed TCB, by id.
    pub limits: Vec<(u16, u32)>,
    /// TCBs to free (half pairs), by id.
    pub free: Vec<Freed>,
}

/// RFC 9293's synchronized states: both sides' initial sequence numbers
/// are known, so the splice's offsets are fixed.
fn synchronized(state: TcpState) -> bool {
    !matches!(state, TcpState::Closed | TcpState::Listen | TcpState::SynSent | TcpState::SynReceived)
}

/// The fix-up of every relayed pair in `installed` (the standby card's
/// TCBs by id, as installed). TCBs that relay nothing are left alone.
pub fn fix_up(installed: &BTreeMap<u16, Tcb>) -> FixUp {
    let mut out = FixUp::default();
    for (&id, x) in installed {
        if x.peer_link == NO_PEER_LINK || !x.is_open() {
            continue;
        }
        let peer = x.peer_link;
        let why = match installed.get(&peer).filter(|y| y.is_open()) {
            None => Some(HalfPair::PeerAbsent { peer }),
            Some(y) if y.peer_link != id || peer == id => Some(HalfPair::PeerNamesAnother { peer, names: y.peer_link }),
            Some(y) => match (synchronized(x.state), synchronized(y.state)) {
                (true, true) => None,
                // The held client side beside its accepted server side: resumed below.
                (true, false) if y.state == TcpState::SynReceived => None,
                (false, true) if x.state == TcpState::SynReceived => None,
                (true, false) => Some(HalfPair::PeerNotSynchronized { peer, state: y.state }),
                (false, true) => Some(HalfPair::PeerFreed { peer }),
                (false, false) => Some(HalfPair::BothOpening { peer, state: y.state }),
            },
        };
        if let Some(why) = why {
            out.free.push(Freed { id, why });
        }
    }
    let freed: BTreeSet<u16> = out.free.iter().map(|f| f.id).collect();

    for (&xid, x) in installed {
        let yid = x.peer_link;
        // Each pair once, from its lower id; only pairs that were not freed
        // (so both naming each other, both synchronized or one of them the
        // held client side).
        if x.peer_link == NO_PEER_LINK || yid <= xid || !x.is_open() || freed.contains(&xid) {
            continue;
        }
        let Some(y) = installed.get(&yid) else { continue };
        let resumed = if synchronized(x.state) && synchronized(y.state) {
            // From the unmodified copies of both: each side's snd_una from the
            // other's R, then each side's R from the other's new snd_una.
            let x_una = x.snd_una.latest(y.rel - x.seq_offset);
            let y_una = y.snd_una.latest(x.rel - y.seq_offset);
            let x_rel = x.rel.latest(y_una + y.seq_offset);
            let y_rel = y.rel.latest(x_una + x.seq_offset);
            [(xid, x, resume(x, x_una, x_rel)), (yid, y, resume(y, y_una, y_rel))]
        } else {
            // One side still SYN-RECEIVED, the other synchronized. The
            // splice's offsets count stream bytes, and the SYNs' sequence
            // numbers are none: the accepted side's R (its peer's SYN-ACK
            // acknowledged) says nothing of the held side's snd_una, whose
            // SYN-ACK nobody acknowledged yet. The held side gets
            // R = irs + 1, what rule 2 gives it from the accepted side's
            // snd_una (iss + 1, nothing sent: the held side received
            // nothing to relay); the accepted side resumes from its own copy.
            // The held side's offset is the splice rule's `accepted.irs -
            // held.iss`, set here: the card sets it when the accept's step
            // reaches the held side, and the copy the standby holds may be
            // older than that step. With a stale offset the promoted card
            // would take R of the accepted side from the held side's own
            // sequence numbers once the client's ACK synchronizes it.
            let ((hid, held), (aid, accepted)) = if x.state == TcpState::SynReceived { ((xid, x), (yid, y)) } else { ((yid, y), (xid, x)) };
            let released = Tcb {
                rel: held.rel.latest(held.irs + 1),
                seq_offset: accepted.irs.0.wrapping_sub(held.iss.0),
                ..held.clone()
            };
            [(hid, held, released), (aid, accepted, resume(accepted, accepted.snd_una, accepted.rel))]
        };
        for (id, side, resumed) in resumed {
            out.limits.push((id, resumed.tx_end));
            if resumed != *side {
                out.write.push((id, resumed));
            }
        }
    }
    out.write.sort_by_key(|(id, _)| *id);
    out.limits.sort_by_key(|(id, _)| *id);
    out
}

/// One side of a pair with snd_una `una` and R `rel`, its send tail cut
/// back to `una` unless its FIN is already acknowledged.
fn resume(side: &Tcb, una: SeqNum, rel: SeqNum) -> Tcb {
    let mut t = side.clone();
    t.snd_una = una;
    t.snd_max = t.snd_max.latest(una);
    // The old card may have sent anything up to snd_max (the promised send
    // limit), so the sender resumes from there as it would have: the bytes
    // below go again after the card's retransmission timeout, which goes
    // back to snd_una, and no resend passes the tail (docs/tx.md). Any ACK
    // up to snd_max moves snd_una (docs/engine.md, "Segment handling").
    t.snd_nxt = t.snd_max;
    t.rel = rel;
    // Our FIN, once sent, is at iss + 1 + tx_end; its ACK one past it.
    let fin_acked = !una.before(t.iss + 1 + t.tx_end + 1);
    let reverted = match t.state {
        TcpState::Established | TcpState::CloseWait => Some(t.state),
        TcpState::FinWait1 if !fin_acked => Some(TcpState::Established),
        TcpState::Closing | TcpState::LastAck if !fin_acked => Some(TcpState::CloseWait),
        _ => None,
    };
    if let Some(state) = reverted {
        t.state = state;
        t.tx_end = una.0.wrapping_sub(t.iss.0).wrapping_sub(1);
        // The FIN waits until the other side shows its peer's FIN again
        // (docs/relay.md, the half-close).
        t.close_asked = false;
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: u16 = 1;
    const S: u16 = 2;

    /// Initial sequence numbers just before the 2^32 wrap, so every
    /// transfer below crosses it.
    const CI: u32 = 0xFFFF_FF00; // the client's iss: c.irs
    const CS: u32 = 0xFFFF_F000; // our iss on the client side: c.iss
    const SI: u32 = 0x7FFF_FFF0; // the backend's iss: s.irs
    const SS: u32 = 0xFFFF_FFF8; // our iss on the server side: s.iss

    /// One side as the old card held it: `(recv, released)` bytes received
    /// and let be acknowledged by its R, `(tail, acked, sent)` bytes to
    /// send, acknowledged by the peer and sent.
    fn side(iss: u32, irs: u32, peer: u16, offset: u32, (recv, released): (u32, u32), (tail, acked, sent): (u32, u32, u32)) -> Tcb {
        let iss = SeqNum(iss);
        let irs = SeqNum(irs);
        Tcb {
            state: TcpState::Established,
            holdback: true,
            send_hold: true,
            peer_link: peer,
            seq_offset: offset,
            irs,
            rcv_nxt: irs + 1 + recv,
            rel: irs + 1 + released,
            ack_sent: irs + 1 + released,
            rcv_adv: irs + 1 + released + 65_535,
            iss,
            snd_una: iss + 1 + acked,
            snd_nxt: iss + 1 + sent,
            snd_max: iss + 1 + sent,
            tx_end: tail,
            epoch: 1,
            ..Tcb::closed()
        }
    }

    /// A pair in step: the client uploaded `up` bytes of which the backend
    /// acknowledged `up_acked`; the backend sent `down`, the client
    /// acknowledged `down_acked`. Each side's R follows the other's
    /// snd_una, each tail the other's rcv_nxt (the splice rule).
    fn pair(up: u32, up_acked: u32, down: u32, down_acked: u32) -> BTreeMap<u16, Tcb> {
        let c_off = SI.wrapping_sub(CS);
        let s_off = CI.wrapping_sub(SS);
        let c = side(CS, CI, S, c_off, (up, up_acked), (down, down_acked, down));
        let s = side(SS, SI, C, s_off, (down, down_acked), (up, up_acked, up));
        // The splice rule holds as the card keeps it.
        assert_eq!(s.rel, c.snd_una + c.seq_offset);
        assert_eq!(c.rel, s.snd_una + s.seq_offset);
        BTreeMap::from([(C, c), (S, s)])
    }

    fn written(fix: &FixUp, id: u16) -> Tcb {
        fix.write.iter().find(|(i, _)| *i == id).map(|(_, t)| t.clone()).unwrap_or_else(|| panic!("TCB {id} not written: {fix:?}"))
    }

    #[test]
    fn a_pair_in_step_keeps_its_points_and_sends_nothing_it_has_not_received_again_across_the_wrap() {
        let installed = pair(0x3000, 0x1000, 0x5000, 0x4800);
        let fix = fix_up(&installed);
        assert!(fix.free.is_empty());
        let (c, s) = (written(&fix, C), written(&fix, S));
        // Points already consistent: only the tails move, to snd_una.
        assert_eq!((c.snd_una, c.rel, c.snd_nxt), (installed[&C].snd_una, installed[&C].rel, installed[&C].snd_nxt));
        assert_eq!((s.snd_una, s.rel, s.snd_nxt), (installed[&S].snd_una, installed[&S].rel, installed[&S].snd_nxt));
        assert_eq!((c.tx_end, s.tx_end), (0x4800, 0x1000));
        assert!(c.snd_una.0 < CS && s.snd_una.0 < SS, "both send points are past the wrap");
        assert_eq!(fix.limits, vec![(C, 0x4800), (S, 0x1000)], "L is the new tail: nothing beyond what may be resent");
        // snd_max still covers what the old card sent: the peer's ACK of it is acceptable.
        assert_eq!(c.snd_max, installed[&C].snd_max);
    }

    #[test]
    fn a_client_side_copy_newer_than_the_server_sides_moves_the_server_sides_r() {
        // The old card saw the client acknowledge 0x4F00 of 0x5000 bytes
        // (c's copy has it); s's copy is from before, with R at 0x4800.
        let mut installed = pair(0x3000, 0x1000, 0x5000, 0x4800);
        let c = installed.get_mut(&C).unwrap();
        c.snd_una = c.iss + 1 + 0x4F00;
        let fix = fix_up(&installed);
        let (c, s) = (written(&fix, C), written(&fix, S));
        assert_eq!(s.rel, s.irs + 1 + 0x4F00, "s may acknowledge what the client acknowledged");
        assert_eq!(c.snd_una, c.iss + 1 + 0x4F00);
        assert_eq!(c.tx_end, 0x4F00);
        assert_eq!(fix.limits, vec![(C, 0x4F00), (S, 0x1000)]);
    }

    #[test]
    fn a_server_side_copy_newer_than_the_client_sides_moves_the_client_sides_snd_una_nxt_and_max() {
        // s's copy has R at 0x4F00 (the client acknowledged it on the old
        // card); c's copy is older: it had acknowledged 0x4000 of the
        // 0x4400 bytes then sent.
        let mut installed = pair(0x3000, 0x1000, 0x5000, 0x4F00);
        let c = installed.get_mut(&C).unwrap();
        c.snd_una = c.iss + 1 + 0x4000;
        c.snd_nxt = c.iss + 1 + 0x4400;
        c.snd_max = c.snd_nxt;
        c.tx_end = 0x4400;
        let fix = fix_up(&installed);
        let c = written(&fix, C);
        let top = c.iss + 1 + 0x4F00;
        assert_eq!((c.snd_una, c.snd_nxt, c.snd_max, c.tx_end), (top, top, top, 0x4F00));
        assert_eq!(written(&fix, S).rel, installed[&S].rel, "s's R already covers it");
    }

    #[test]
    fn skewed_copies_both_ways_at_once_meet_at_the_newer_points() {
        // c newer on the download (client ACKed 0x4F00), s newer on the
        // upload (backend ACKed 0x2800; c's R still at 0x1000).
        let mut installed = pair(0x3000, 0x1000, 0x5000, 0x4800);
        let c = installed.get_mut(&C).unwrap();
        c.snd_una = c.iss + 1 + 0x4F00;
        let s = installed.get_mut(&S).unwrap();
        s.snd_una = s.iss + 1 + 0x2800;
        let fix = fix_up(&installed);
        let (c, s) = (written(&fix, C), written(&fix, S));
        assert_eq!((c.rel, s.rel), (c.irs + 1 + 0x2800, s.irs + 1 + 0x4F00));
        assert_eq!((c.tx_end, s.tx_end), (0x4F00, 0x2800));
        // R never passes rcv_nxt here; the card raises rcv_nxt when it
        // does (the promoted card's RelayApply).
        assert!(!c.rcv_nxt.before(c.rel));
    }

    #[test]
    fn a_fin_not_yet_acknowledged_goes_back_with_its_tail() {
        for (state, back) in [
            (TcpState::FinWait1, TcpState::Established),
            (TcpState::Closing, TcpState::CloseWait),
            (TcpState::LastAck, TcpState::CloseWait),
        ] {
            // The download is complete (0x5000 bytes) and c sent its FIN;
            // the client acknowledged 0x4000 bytes.
            let mut installed = pair(0x3000, 0x3000, 0x5000, 0x4000);
            let c = installed.get_mut(&C).unwrap();
            c.state = state;
            c.close_asked = state == TcpState::LastAck;
            c.snd_nxt = c.iss + 1 + 0x5001;
            c.snd_max = c.snd_nxt;
            let fix = fix_up(&installed);
            let c = written(&fix, C);
            assert_eq!((c.state, c.tx_end, c.close_asked), (back, 0x4000, false), "{state:?}");
            assert_eq!(c.snd_max, c.iss + 1 + 0x5001, "{state:?}: the FIN sent stays acceptable to acknowledge");
            assert!(fix.limits.contains(&(C, 0x4000)), "{state:?}: neither bytes nor FIN may go");
        }
    }

    #[test]
    fn a_fin_acknowledged_on_the_old_card_keeps_its_state_and_tail() {
        // c's copy in LAST-ACK with 0x4000 acknowledged, but s's R shows the
        // client acknowledged the FIN (0x5001): the close is done.
        let mut installed = pair(0x3000, 0x3000, 0x5000, 0x5001);
        let c = installed.get_mut(&C).unwrap();
        c.state = TcpState::LastAck;
        c.close_asked = true;
        c.snd_una = c.iss + 1 + 0x4000;
        c.snd_nxt = c.iss + 1 + 0x5001;
        c.snd_max = c.snd_nxt;
        let fix = fix_up(&installed);
        let c = written(&fix, C);
        assert_eq!((c.state, c.tx_end, c.close_asked), (TcpState::LastAck, 0x5000, true));
        assert_eq!(c.snd_una, c.iss + 1 + 0x5001);
        for state in [TcpState::FinWait2, TcpState::TimeWait] {
            let mut installed = pair(0x3000, 0x3000, 0x5000, 0x5001);
            let c = installed.get_mut(&C).unwrap();
            c.state = state;
            c.snd_una = c.iss + 1 + 0x5001;
            c.snd_nxt = c.snd_una;
            c.snd_max = c.snd_una;
            let fix = fix_up(&installed);
            assert!(fix.write.iter().all(|(id, _)| *id != C), "{state:?}: unchanged");
            assert!(fix.limits.contains(&(C, 0x5000)), "{state:?}");
        }
    }

    #[test]
    fn a_close_wait_waiting_for_its_tail_waits_again_for_the_other_sides_fin() {
        let mut installed = pair(0x3000, 0x3000, 0x5000, 0x4000);
        let c = installed.get_mut(&C).unwrap();
        c.state = TcpState::CloseWait;
        c.close_asked = true;
        let c = written(&fix_up(&installed), C);
        assert_eq!((c.state, c.tx_end, c.close_asked), (TcpState::CloseWait, 0x4000, false));
    }

    #[test]
    fn half_pairs_are_freed() {
        // The server side's copy is absent (never shipped, or freed).
        let mut installed = pair(0x3000, 0x1000, 0x5000, 0x4800);
        installed.remove(&S);
        let fix = fix_up(&installed);
        assert_eq!(fix.free, vec![Freed { id: C, why: HalfPair::PeerAbsent { peer: S } }]);
        assert!(fix.write.is_empty() && fix.limits.is_empty());
        // A closed slot is absent too.
        let mut installed = pair(0x3000, 0x1000, 0x5000, 0x4800);
        installed.insert(S, Tcb::closed());
        assert_eq!(fix_up(&installed).free, vec![Freed { id: C, why: HalfPair::PeerAbsent { peer: S } }]);
        // The server side relays nothing: it stays as it is.
        let mut installed = pair(0x3000, 0x1000, 0x5000, 0x4800);
        installed.get_mut(&S).unwrap().peer_link = NO_PEER_LINK;
        let fix = fix_up(&installed);
        assert_eq!(fix.free, vec![Freed { id: C, why: HalfPair::PeerNamesAnother { peer: S, names: NO_PEER_LINK } }]);
        assert!(fix.write.is_empty() && fix.limits.is_empty(), "the unlinked side is not a pair: untouched");
        // The server side names a third slot, which holds nothing: two half pairs.
        let mut installed = pair(0x3000, 0x1000, 0x5000, 0x4800);
        installed.get_mut(&S).unwrap().peer_link = 7;
        let fix = fix_up(&installed);
        assert_eq!(
            fix.free,
            vec![
                Freed { id: C, why: HalfPair::PeerNamesAnother { peer: S, names: 7 } },
                Freed { id: S, why: HalfPair::PeerAbsent { peer: 7 } },
            ]
        );
        // The server side still opening while the client side is
        // synchronized: both go.
        let mut installed = pair(0x3000, 0x1000, 0x5000, 0x4800);
        installed.get_mut(&S).unwrap().state = TcpState::SynSent;
        let fix = fix_up(&installed);
        assert_eq!(
            fix.free,
            vec![
                Freed { id: C, why: HalfPair::PeerNotSynchronized { peer: S, state: TcpState::SynSent } },
                Freed { id: S, why: HalfPair::PeerFreed { peer: C } },
            ]
        );
        assert!(fix.write.is_empty() && fix.limits.is_empty());
        // Both still opening: see `a_pair_still_opening_on_both_sides_is_freed`.
        // A TCB linked to itself is no pair.
        let mut installed = pair(0x3000, 0x1000, 0x5000, 0x4800);
        installed.remove(&S);
        installed.get_mut(&C).unwrap().peer_link = C;
        assert_eq!(fix_up(&installed).free, vec![Freed { id: C, why: HalfPair::PeerNamesAnother { peer: C, names: C } }]);
    }

    /// A pair as `at-setup` leaves it between the backend's SYN-ACK and
    /// the client's release: the client side SYN-RECEIVED with its SYN-ACK
    /// held (R = irs, nothing sent or received; its `seq_offset` not set
    /// yet: the copy predates the accept's step), the server side ESTABLISHED with the backend's
    /// SYN acknowledged and `banner` bytes of it received (not relayed:
    /// the client side cannot send yet).
    fn held_pair(banner: u32) -> BTreeMap<u16, Tcb> {
        let c = Tcb {
            state: TcpState::SynReceived,
            holdback: true,
            send_hold: true,
            peer_link: S,
            irs: SeqNum(CI),
            rcv_nxt: SeqNum(CI) + 1,
            rel: SeqNum(CI),
            ack_sent: SeqNum(CI),
            iss: SeqNum(CS),
            snd_una: SeqNum(CS),
            snd_nxt: SeqNum(CS) + 1,
            snd_max: SeqNum(CS) + 1,
            epoch: 1,
            ..Tcb::closed()
        };
        let s = side(SS, SI, C, CI.wrapping_sub(SS), (banner, 0), (0, 0, 0));
        BTreeMap::from([(C, c), (S, s)])
    }

    #[test]
    fn a_held_client_side_beside_an_accepted_server_side_resumes_with_its_syn_ack_released() {
        for banner in [0, 0x200] {
            let installed = held_pair(banner);
            let fix = fix_up(&installed);
            assert!(fix.free.is_empty(), "banner {banner}: {fix:?}");
            let c = written(&fix, C);
            assert_eq!(c.rel, SeqNum(CI) + 1, "banner {banner}: the promoted card's walk sends the SYN-ACK");
            assert_eq!(c.rel.0, 0xFFFF_FF01, "across the wrap");
            assert_eq!(c.seq_offset, SI.wrapping_sub(CS), "banner {banner}: the splice's offset, s.irs - c.iss");
            assert_eq!(
                Tcb { rel: installed[&C].rel, seq_offset: installed[&C].seq_offset, ..c.clone() },
                installed[&C],
                "banner {banner}: nothing else of the client side moves"
            );
            assert_eq!(c.snd_una, SeqNum(CS), "banner {banner}: its SYN-ACK is not acknowledged by anything the copies show");
            assert!(fix.write.iter().all(|(id, _)| *id != S), "banner {banner}: the server side resumes as installed");
            assert_eq!(fix.limits, vec![(C, 0), (S, 0)], "banner {banner}: neither side may send a byte");
            let again = fix_up(&applied(&installed, &fix));
            assert!(again.write.is_empty() && again.free.is_empty(), "banner {banner}: {again:?}");
        }
        // The primary released the SYN-ACK and the client side's copy shows
        // it, with the offset the accept's step set: nothing to write.
        let mut installed = held_pair(0);
        installed.get_mut(&C).unwrap().rel = SeqNum(CI) + 1;
        installed.get_mut(&C).unwrap().seq_offset = SI.wrapping_sub(CS);
        let fix = fix_up(&installed);
        assert!(fix.write.is_empty() && fix.free.is_empty(), "{fix:?}");
        // Released, but the copy older than the step: the offset is written.
        installed.get_mut(&C).unwrap().seq_offset = 0;
        let fix = fix_up(&installed);
        assert_eq!(written(&fix, C).seq_offset, SI.wrapping_sub(CS));
        // The client side in the higher slot: the same.
        let (c, s) = (installed[&C].clone(), installed[&S].clone());
        let swapped = BTreeMap::from([(C, Tcb { peer_link: 7, ..s }), (7, Tcb { peer_link: C, rel: SeqNum(CI), ..c })]);
        let fix = fix_up(&swapped);
        assert_eq!(written(&fix, 7).rel, SeqNum(CI) + 1);
        assert!(fix.free.is_empty());
    }

    /// The backend has not answered (its side in SYN-SENT, no irs): the
    /// client has had no SYN-ACK, and the promoted card would otherwise
    /// hold its side for a backend nobody calls again. Both sides go; the
    /// client's retransmitted SYN opens the pair afresh. A client side
    /// still opening without its peer goes too.
    #[test]
    fn a_pair_still_opening_on_both_sides_is_freed() {
        let mut installed = held_pair(0);
        let s = installed.get_mut(&S).unwrap();
        s.state = TcpState::SynSent;
        s.irs = SeqNum(0);
        s.rcv_nxt = SeqNum(0);
        s.rel = SeqNum(0);
        s.snd_una = SeqNum(SS);
        let fix = fix_up(&installed);
        assert_eq!(
            fix.free,
            vec![
                Freed { id: C, why: HalfPair::BothOpening { peer: S, state: TcpState::SynSent } },
                Freed { id: S, why: HalfPair::BothOpening { peer: C, state: TcpState::SynReceived } },
            ]
        );
        assert!(fix.write.is_empty() && fix.limits.is_empty());
        let mut alone = held_pair(0);
        alone.remove(&S);
        assert_eq!(fix_up(&alone).free, vec![Freed { id: C, why: HalfPair::PeerAbsent { peer: S } }]);
    }

    #[test]
    fn tcbs_that_relay_nothing_are_untouched() {
        let mut installed = pair(0x3000, 0x1000, 0x5000, 0x4800);
        let plain = side(0x10, 0x20, NO_PEER_LINK, 0, (100, 50), (80, 40, 80));
        installed.insert(5, plain.clone());
        let mut closing = plain.clone();
        closing.state = TcpState::LastAck;
        installed.insert(6, closing);
        let fix = fix_up(&installed);
        assert!(fix.free.is_empty());
        assert_eq!(fix.write.iter().map(|(id, _)| *id).collect::<Vec<_>>(), vec![C, S]);
        assert_eq!(fix.limits.iter().map(|(id, _)| *id).collect::<Vec<_>>(), vec![C, S]);
        assert_eq!(fix_up(&BTreeMap::from([(5, plain)])), FixUp::default());
    }

    /// The installed TCBs with the fix-up's writes and frees applied, as
    /// the card holds them afterwards.
    fn applied(installed: &BTreeMap<u16, Tcb>, fix: &FixUp) -> BTreeMap<u16, Tcb> {
        let mut after = installed.clone();
        after.extend(fix.write.iter().cloned());
        for f in &fix.free {
            after.insert(f.id, Tcb::closed());
        }
        after
    }

    #[test]
    fn after_the_fix_up_the_splice_rule_holds_and_a_second_fix_up_changes_nothing() {
        // Seeded pairs anywhere in sequence space, each side's copy behind
        // the old card by its own amount: afterwards each R is exactly what
        // the other side's snd_una gives (the splice rule), the send points
        // are ordered, nothing is left to send, and running the fix-up
        // again (a promotion retried) writes nothing new.
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::SmallRng::seed_from_u64(0x5EED);
        for case in 0..2000 {
            let (up, down) = (rng.gen_range(0..1u32 << 20), rng.gen_range(0..1u32 << 20));
            let (up_acked, down_acked) = (rng.gen_range(0..=up), rng.gen_range(0..=down));
            let (ci, cs, si, ss): (u32, u32, u32, u32) = (rng.gen(), rng.gen(), rng.gen(), rng.gen());
            let c_off = si.wrapping_sub(cs);
            let s_off = ci.wrapping_sub(ss);
            let mut c = side(cs, ci, S, c_off, (up, up_acked), (down, down_acked, down));
            let mut s = side(ss, si, C, s_off, (down, down_acked), (up, up_acked, up));
            // Per direction, one of the two copies that show how far the
            // peer acknowledged (the sender's snd_una, the other side's R)
            // is older than the old card by its own amount; the other one
            // has it, as the card wrote both in one visit.
            let (down_lag, up_lag) = (rng.gen_range(0..=down_acked), rng.gen_range(0..=up_acked));
            if rng.gen_bool(0.5) {
                c.snd_una = c.snd_una - down_lag;
            } else {
                s.rel = s.rel - down_lag;
            }
            if rng.gen_bool(0.5) {
                s.snd_una = s.snd_una - up_lag;
            } else {
                c.rel = c.rel - up_lag;
            }
            let installed = BTreeMap::from([(C, c), (S, s)]);
            let fix = fix_up(&installed);
            let after = applied(&installed, &fix);
            let (c, s) = (&after[&C], &after[&S]);
            assert_eq!(s.rel, c.snd_una + c.seq_offset, "case {case}");
            assert_eq!(c.rel, s.snd_una + s.seq_offset, "case {case}");
            assert_eq!((c.snd_una, s.snd_una), (SeqNum(cs) + 1 + down_acked, SeqNum(ss) + 1 + up_acked), "case {case}: the newer point");
            for t in [c, s] {
                assert!(t.snd_una.not_after(t.snd_nxt) && t.snd_nxt.not_after(t.snd_max), "case {case}: {t:?}");
                assert_eq!(t.iss + 1 + t.tx_end, t.snd_una, "case {case}: nothing left to send");
            }
            assert_eq!(fix.limits, vec![(C, c.tx_end), (S, s.tx_end)], "case {case}");
            let again = fix_up(&after);
            assert!(again.write.is_empty() && again.free.is_empty(), "case {case}: {again:?}");
            assert_eq!(again.limits, fix.limits, "case {case}");
        }
    }

    #[test]
    fn the_reasons_read_as_sentences() {
        assert_eq!(HalfPair::PeerAbsent { peer: 3 }.to_string(), "its peer link 3 holds no connection");
        assert_eq!(HalfPair::PeerNamesAnother { peer: 3, names: NO_PEER_LINK }.to_string(), "its peer link 3 relays nothing");
        assert_eq!(
            HalfPair::PeerNotSynchronized { peer: 3, state: TcpState::SynSent }.to_string(),
            "its peer link 3 is in SYN-SENT, not synchronized"
        );
        assert_eq!(
            HalfPair::BothOpening { peer: 3, state: TcpState::SynSent }.to_string(),
            "it and its peer link 3 (SYN-SENT) are both still opening: the client's next SYN opens the pair afresh"
        );
    }
}
