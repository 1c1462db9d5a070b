//! Relay mode's open, its failures and the relay visit in the model
//! (docs/relay.md, "The engine's part"): a client's SYN on a relay port makes
//! the pair `c` (client side) and `s` (server side), and every write-back of
//! a spliced TCB applies the splice rule of `relay.rs` to its peer.
//!
//! What the model fixes, so the engine has one behaviour to match:
//! - **Open.** A SYN without ACK, for no connection, to a listening port
//!   with a relay backend (`Config::relay`) needs two free slots; with fewer
//!   it is dropped and counted in `drop_tcb_full`, nothing is sent (the
//!   client retries its SYN). A relay port never answers from a SYN cookie,
//!   nor takes one back: an ACK for no connection on it gets the plain RST
//!   (RFC 9293 §3.10.7.1, `drop_no_connection`), whatever SYN_COOKIES says.
//!   `c` is taken first, then `s` (the allocator's order).
//! - `c` is the passive open's TCB (options negotiated as for any passive
//!   open) with holdback on, whatever CTRL.holdback and the port's own
//!   setting say (the `peer` gate is the point of relaying), held as with
//!   hold-synack: R = ack_sent = irs and no SYN-ACK; `peer_link = s`;
//!   `timer_due = now + relay_connect_us` (the connect timeout);
//!   `conns_opened` counts it.
//! - `s` is what CONNECT makes (active_open.rs) towards the backend's
//!   address and port from local port [`RELAY_LOCAL_PORT_BASE`]` + s` (relay
//!   mode reserves those ports: nothing else may use them while relaying),
//!   the backend's next-hop MAC, with `peer_link = c`, holdback on and
//!   `seq_offset = c.irs - s.iss`; `active_opens` counts it. Its ISS is the
//!   core's, learned from its SYN as for CONNECT.
//! - The open's only frame is `s`'s SYN. `c` is written back first, then `s`.
//!   A repeated client SYN while `c` is held is dropped uncounted (the
//!   SYN-RECEIVED path of hold-synack).
//! - **The relay visit.** After every write-back of a TCB `x` that names a
//!   peer `y` (`y.peer_link` naming `x` back, `y` not CLOSED), outside
//!   standby:
//!   - `x` synchronized: its `Follow` is applied to `y` (`apply_follow`),
//!     unless `y` is in SYN-SENT (no irs yet: only a host's release of a held
//!     `c` gets there). A held `y` learns its ISS first, so its `seq_offset`
//!     uses it. When R moved, `y` sends what a release sends (`reply`: a held
//!     SYN-ACK with its timer at now + RTO, else an ACK when (ACK, edge)
//!     moved, or the FIN of a CLOSE-WAIT with everything released); then,
//!     when asked, `y`'s close runs as CONN_CLOSE's does (ESTABLISHED only:
//!     `apply_follow` asks it of ESTABLISHED and CLOSE-WAIT, and in
//!     CLOSE-WAIT the FIN already follows the release). A moved tail only
//!     sets `tx_end` (this model sends no data; the TX model is separate).
//!     `y` is written back once, and only when its R, tail or `seq_offset`
//!     moved or it closed: a late or repeated step writes nothing. Frames:
//!     `x`'s, then `y`'s (the release's, then the close's).
//!   - `x` was just freed after both FINs crossed (`fin_rcvd` and our FIN
//!     ACKed: LAST-ACK or TIME-WAIT ended): `x`'s last `Follow` (that of its
//!     state before CLOSED; both give the same step) is applied to `y` as
//!     above, so `y` still ACKs the FIN `x`'s peer ACKed; `y.peer_link`
//!     becomes none and `y` is written back.
//!   - `x` was freed otherwise (a RST received or sent, a give-up, a
//!     refused or aborted connect, the connect timeout, a keep-alive or idle
//!     drop, a FIN-WAIT-2 timeout): `y` is aborted. A held `c` (SYN-RECEIVED,
//!     its SYN-ACK never sent) is freed and the client gets RST|ACK with seq 0
//!     and ACK `irs + 1` (what a closed port answers a SYN with, RFC 9293
//!     §3.10.7.1; a client in SYN-SENT takes only a RST whose ACK covers its
//!     SYN, §3.10.7.3), counted in `relay_connects_failed` and `rst_sent`. A
//!     `y` in SYN-SENT is freed silently (CLOSE in SYN-SENT, §3.10.4), no
//!     counter. Any other `y` gets what CONN_ABORT sends (a RST at snd_nxt,
//!     `rst_sent`, §3.10.5) and is freed; `host_aborts` does not count it
//!     (the host did not abort). `y.peer_link` becomes none; `y` is written
//!     back.
//!   - So a freed TCB keeps the id of its peer in its last record, and the
//!     survivor never names a slot that may be reused: each freeing resolves
//!     the pair once.
//! - **Connect timeout.** The timer scan finds a held `c` with a link whose
//!   timer is due: `c` is freed with the client's RST|ACK above
//!   (`relay_connects_failed`, `rst_sent`), and its write-back aborts `s`
//!   (SYN-SENT: freed silently).
use std::net::Ipv4Addr;

use holdback_regmap::{Stat, TcpState};
use tracing::{debug, warn};

use super::active_open::Connect;
use super::relay::{apply_follow, relay_step, seq_offset, PeerUpdate, NO_LINK};
use super::{close, synack_held, Config, ConnKey, RefModel, RxSegment, Tcb};
use crate::wire::{self, Endpoint, MacAddr, SeqNum, TcpFlags, TcpRepr};

pub use holdback_regmap::{RELAY_CONNECT_US_DEFAULT, RELAY_LOCAL_PORT_BASE};

/// Where a relay port's clients are spliced to: the backend server's
/// address and port, and the next hop's MAC (the card has no ARP cache).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayBackend {
    pub ip: Ipv4Addr,
    pub port: u16,
    pub next_hop: MacAddr,
}

impl Config {
    /// The backend of listening port `port`, if it relays.
    pub fn relay_backend(&self, port: u16) -> Option<RelayBackend> {
        self.relay.iter().find(|(p, _)| *p == port).map(|(_, b)| *b)
    }
}

impl RefModel {
    /// A client's SYN to relay port `key.local_port` with backend `backend`
    /// (module notes, "Open").
    pub(super) fn relay_open(&mut self, key: ConnKey, seg: &RxSegment, backend: RelayBackend) {
        if self.slots.free_count() < 2 {
            self.count(Stat::DropTcbFull);
            return;
        }
        let (Some(c), Some(s)) = (self.slots.take(), self.slots.take()) else {
            unreachable!("free_count said two slots are free");
        };
        // The client side: a passive open held as with hold-synack; its ISS is
        // learned when its SYN-ACK is released (learn_held_iss).
        let iss_c = self.learned_iss.remove(&key).unwrap_or(SeqNum(0));
        self.send_limits.clear(c);
        let mut tc = self.passive_tcb(self.tcbs[c].gen, key, seg, iss_c, true);
        tc.holdback = true;
        tc.peer_link = s as u16;
        tc.timer_due = self.now_us.wrapping_add(self.cfg.relay_connect_us);
        self.tcbs[c] = tc;
        self.rings[c].fill(0);
        self.holes[c].clear();
        debug!(c, ?key, "CLOSED => SYN-RECEIVED (relay client, held)");
        self.count(Stat::ConnsOpened);
        self.writeback(c);

        // The server side: CONNECT to the backend from the slot's reserved port.
        let connect = Connect {
            remote_ip: backend.ip,
            remote_port: backend.port,
            local_port: RELAY_LOCAL_PORT_BASE.wrapping_add(s as u16),
            next_hop: backend.next_hop,
        };
        let skey = connect.key();
        let iss_s = self.learned_iss.remove(&skey).unwrap_or_else(|| {
            warn!(?skey, "no SYN from the core to learn the ISS from; using 0");
            SeqNum(0)
        });
        let mut ts = self.active_tcb(self.tcbs[s].gen, &connect, iss_s);
        ts.holdback = true;
        ts.peer_link = c as u16;
        ts.seq_offset = seq_offset(iss_s, seg.seq);
        self.tcbs[s] = ts;
        self.rings[s].fill(0);
        self.holes[s].clear();
        self.send_limits.clear(s);
        debug!(s, ?skey, "CLOSED => SYN-SENT (relay server side)");
        self.count(Stat::ActiveOpens);
        self.send_syn(s);
        self.writeback(s);
    }

    /// The timer scan found held client side `c` due (module notes, "Connect
    /// timeout"); its write-back frees `s`.
    pub(super) fn relay_connect_timeout(&mut self, c: usize) {
        debug!(c, "relay connect timed out");
        self.refuse_relay_client(c);
        self.writeback(c);
    }

    /// Frees held client side `c`: the client gets the RST|ACK a closed port
    /// answers its SYN with (seq 0, ACK irs + 1).
    fn refuse_relay_client(&mut self, c: usize) {
        let t = &self.tcbs[c];
        let rst = TcpRepr::new(t.local_port, t.remote_port, SeqNum(0), t.irs + 1, TcpFlags::RST | TcpFlags::ACK, 0);
        let to = Endpoint { mac: t.remote_mac(), ip: t.remote_ip };
        self.send(wire::tcp_frame(self.cfg.us(), to, &rst, &[]), Some(Stat::RstSent));
        self.count(Stat::RelayConnectsFailed);
        self.set_state(c, TcpState::Closed);
    }

    /// The relay visit after a write-back of `x` (module notes).
    pub(super) fn relay_after_writeback(&mut self, x: usize) {
        let t = &self.tcbs[x];
        if self.cfg.standby || t.peer_link == NO_LINK {
            return;
        }
        let y = usize::from(t.peer_link);
        // A pair is two open TCBs naming each other; once one is freed the
        // other's link is cleared, so a stale or default link names no one.
        let paired = self.tcbs.get(y).is_some_and(|p| p.state != TcpState::Closed && usize::from(p.peer_link) == x);
        if !paired {
            return;
        }
        if t.state != TcpState::Closed {
            if let Some(update) = relay_step(t, false) {
                self.follow(y, update, false);
            }
            // The pull: a visit syncs the pair both ways. What `y` received
            // while `x` could not take it (a server's banner or FIN before
            // the client's ACK made `c` ESTABLISHED: `apply_follow` moves
            // no tail in SYN-RECEIVED) reaches `x` when `x` changes.
            let p = &self.tcbs[y];
            if p.state != TcpState::Closed && usize::from(p.peer_link) == x {
                if let Some(update) = relay_step(p, false) {
                    self.follow(x, update, false);
                }
            }
        } else if t.fin_rcvd && close::fin_acked(t) {
            // Both FINs crossed: the last step is that of LAST-ACK or
            // TIME-WAIT (both received the FIN), not of CLOSED.
            let last = Tcb { state: TcpState::TimeWait, ..t.clone() };
            if let Some(update) = relay_step(&last, false) {
                self.follow(y, update, true);
            }
        } else if let Some(PeerUpdate::Abort { peer }) = relay_step(t, true) {
            self.abort_peer(usize::from(peer));
        }
    }

    /// Applies `update` (a `Follow`) to `y`, sends what it releases, runs the
    /// close it asks for, and writes `y` back if anything changed; `unlink`:
    /// `x` is gone, so `y`'s link is cleared as well.
    fn follow(&mut self, y: usize, update: PeerUpdate, unlink: bool) {
        let PeerUpdate::Follow { tx_end, release, irs, close, .. } = update else {
            return;
        };
        if self.tcbs[y].state == TcpState::SynSent {
            // No irs yet: the step's offsets mean nothing to `y`.
            if unlink {
                self.tcbs[y].peer_link = NO_LINK;
                self.writeback(y);
            }
            return;
        }
        let t = &self.tcbs[y];
        if synack_held(t) && t.rel.before(release) {
            // The held SYN-ACK goes now: its ISS first, so seq_offset uses it.
            self.learn_held_iss(y);
        }
        let offset_before = self.tcbs[y].seq_offset;
        let applied = apply_follow(&mut self.tcbs[y], tx_end, release, irs, close, self.cfg.hold_synack);
        if applied.rcv_jumped {
            // The held ranges were offsets from the old rcv_nxt.
            self.holes[y].clear();
        }
        // The half-close: a linked CLOSE-WAIT sends its FIN only once its peer
        // received one (CLOSE_ASKED), then as soon as it would in terminate mode.
        let t = &mut self.tcbs[y];
        let asked = applied.close && t.state == TcpState::CloseWait && !t.close_asked;
        t.close_asked |= asked;
        if applied.release_moved || asked {
            self.reply(y);
        }
        let closed = (applied.close && self.close_conn(y)) || asked;
        if unlink {
            self.tcbs[y].peer_link = NO_LINK;
        }
        // Everything a visit can change follows from these: a repeated or
        // late step writes nothing.
        if applied.release_moved || applied.tail_moved || closed || unlink || self.tcbs[y].seq_offset != offset_before {
            self.writeback(y);
        }
    }

    /// `y`'s peer ended abnormally (module notes): `y` is reset as its state
    /// allows and freed, its link cleared.
    fn abort_peer(&mut self, y: usize) {
        let t = &self.tcbs[y];
        if synack_held(t) {
            self.refuse_relay_client(y);
        } else {
            if t.state != TcpState::SynSent {
                self.send_rst(y);
            }
            self.set_state(y, TcpState::Closed);
        }
        debug!(y, "relay peer aborted");
        self.tcbs[y].peer_link = NO_LINK;
        self.writeback(y);
    }
}
