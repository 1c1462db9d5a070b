//! Connection life in the reference model (docs/engine.md, "Connection
//! life"; RFC 9293 §3.6, §3.10.4, §3.10.5): the host's close and abort, our
//! FIN after the host's last byte, FIN-WAIT-1/2, CLOSING and TIME-WAIT, the
//! timer that frees a TIME-WAIT (or unanswered FIN-WAIT-2) slot, and the RST
//! a retransmission give-up sends (RFC 9293 §3.8.3, R2).
//!
//! Our FIN takes the sequence number after the last byte the host wrote
//! (`tail = iss + 1 + tx_end`): "FIN sent" is `snd_max == tail + 1`, "FIN
//! acked" is `snd_una == tail + 1`, as the core computes them (no TCB bit).
//! The model sends no data, so a close always finds every byte sent.
use holdback_regmap::{Stat, TcpState};

use super::parse::RxSegment;
use super::{RefModel, Step, Tcb};
use crate::wire::{self, Endpoint, SeqNum, TcpFlags, TcpRepr};

/// Where our FIN goes: after the last byte the host wrote.
pub fn fin_seq(t: &Tcb) -> SeqNum {
    t.iss + 1 + t.tx_end
}

/// Our FIN was sent and acknowledged.
pub fn fin_acked(t: &Tcb) -> bool {
    let fin = fin_seq(t);
    t.snd_max == fin + 1 && t.snd_una == fin + 1
}

/// Our FIN was sent and nothing but it is unacknowledged: its timer runs.
pub fn fin_only_in_flight(t: &Tcb) -> bool {
    let fin = fin_seq(t);
    matches!(t.state, TcpState::LastAck | TcpState::FinWait1 | TcpState::Closing) && t.snd_una == fin && t.snd_max != fin
}

/// States that take in-order data and the peer's FIN.
pub fn receives_data(state: TcpState) -> bool {
    matches!(state, TcpState::Established | TcpState::FinWait1 | TcpState::FinWait2)
}

/// States in which an ACK of new data (or of our FIN) restarts the
/// retransmission timer and its back-off (RFC 6298 §5.3).
pub fn ack_restarts_timer(state: TcpState) -> bool {
    matches!(state, TcpState::Established | TcpState::CloseWait | TcpState::FinWait1 | TcpState::Closing)
}

/// States that ACK what they receive when the ACK value or the edge moved.
pub fn acks_on_change(state: TcpState) -> bool {
    matches!(
        state,
        TcpState::Established | TcpState::CloseWait | TcpState::FinWait1 | TcpState::FinWait2 | TcpState::Closing | TcpState::TimeWait
    )
}

impl RefModel {
    /// The host writes CONN_CLOSE = `id` at `now_us` (RFC 9293 §3.10.4 CLOSE).
    pub fn on_close(&mut self, now_us: u32, id: usize) -> Step {
        self.now_us = now_us;
        if id < self.tcbs.len() && !self.cfg.standby && self.close_conn(id) {
            self.writeback(id);
        }
        self.finish()
    }

    /// CLOSE of connection `id` (the host's CONN_CLOSE, or a relayed peer's
    /// FIN: relay_open.rs); returns whether it acted, so the caller writes
    /// the TCB back.
    pub(super) fn close_conn(&mut self, id: usize) -> bool {
        match self.tcbs[id].state {
            TcpState::SynSent => {
                // RFC 9293 §3.10.4 CLOSE in SYN-SENT: delete the TCB (nothing received, so no RST).
                self.set_state(id, TcpState::Closed);
                true
            }
            TcpState::Established => {
                let t = &self.tcbs[id];
                if t.snd_nxt == fin_seq(t) && self.fin_allowed(id) {
                    self.send_our_fin(id);
                } else {
                    // The FIN follows the bytes still to send, or the send limit's
                    // move past it (the send queue's CloseFin).
                    self.set_state(id, TcpState::FinWait1);
                }
                true
            }
            // CLOSE-WAIT: the FIN already follows the release of the peer's FIN; other states: nothing.
            _ => false,
        }
    }

    /// The host writes CONN_ABORT = `id` at `now_us` (RFC 9293 §3.10.5 ABORT):
    /// a RST at snd_nxt, and the slot is free.
    pub fn on_abort(&mut self, now_us: u32, id: usize) -> Step {
        self.now_us = now_us;
        if id < self.tcbs.len() && !self.cfg.standby && self.tcbs[id].state != TcpState::Closed {
            self.send_rst(id);
            self.count(Stat::HostAborts);
            self.set_state(id, TcpState::Closed);
            self.writeback(id);
        }
        self.finish()
    }

    /// Our FIN|ACK at the tail: ESTABLISHED goes to FIN-WAIT-1, CLOSE-WAIT to
    /// LAST-ACK; the FIN starts the timer unless data already runs it.
    pub(super) fn send_our_fin(&mut self, id: usize) {
        self.send_fin(id, false);
        let now = self.now_us;
        let rto = self.cfg.rto_us;
        let t = &mut self.tcbs[id];
        let nothing_in_flight = t.snd_una == t.snd_max;
        t.snd_nxt = fin_seq(t) + 1;
        t.snd_max = t.snd_nxt;
        if nothing_in_flight {
            t.retries = 0;
            t.timer_due = now.wrapping_add(rto);
        }
        let next = match t.state {
            TcpState::Established => TcpState::FinWait1,
            TcpState::CloseWait => TcpState::LastAck,
            other => other,
        };
        self.set_state(id, next);
    }

    /// A RST at snd_nxt (abort, give-up), no ACK (RFC 9293 §3.10.5).
    pub(super) fn send_rst(&mut self, id: usize) {
        let t = &self.tcbs[id];
        let rst = TcpRepr::new(t.local_port, t.remote_port, t.snd_nxt, SeqNum(0), TcpFlags::RST, 0);
        let to = Endpoint { mac: t.remote_mac(), ip: t.remote_ip };
        self.send(wire::tcp_frame(self.cfg.us(), to, &rst, &[]), Some(Stat::RstSent));
    }

    /// After the ACK and data steps of a segment in FIN-WAIT-1, FIN-WAIT-2
    /// or CLOSING (the core's `TcpFin`): the ACK of our FIN and the peer's FIN.
    pub(super) fn close_segment_step(&mut self, id: usize, fin_in_order: bool) {
        let tw = self.cfg.time_wait_us;
        let now = self.now_us;
        let t = &self.tcbs[id];
        let acked = fin_acked(t);
        let next = match t.state {
            TcpState::FinWait1 | TcpState::FinWait2 if fin_in_order => {
                let t = &mut self.tcbs[id];
                t.rcv_nxt += 1;
                t.fin_rcvd = true;
                if t.state == TcpState::FinWait2 || acked {
                    TcpState::TimeWait
                } else {
                    TcpState::Closing
                }
            }
            TcpState::FinWait1 if acked => {
                self.tcbs[id].retries = 0;
                TcpState::FinWait2
            }
            TcpState::Closing if acked => TcpState::TimeWait,
            _ => return,
        };
        if matches!(next, TcpState::TimeWait | TcpState::FinWait2) {
            self.tcbs[id].timer_due = now.wrapping_add(tw);
        }
        if next == TcpState::TimeWait {
            self.count(Stat::TimeWaitEntered);
        }
        self.set_state(id, next);
    }

    /// TIME-WAIT and the peer's FIN again (our ACK of it was lost): the
    /// segment ends just below rcv_nxt, so it fails the acceptability test
    /// and is ACKed there; the 2 MSL timeout restarts (RFC 9293 §3.10.7.4,
    /// TIME-WAIT).
    pub(super) fn time_wait_fin_again(&mut self, id: usize, seg: &RxSegment) {
        let (tw, now) = (self.cfg.time_wait_us, self.now_us);
        let t = &mut self.tcbs[id];
        if t.state == TcpState::TimeWait && seg.flags.fin() && seg.seq + seg.payload.len() as u32 + 1 == t.rcv_nxt {
            t.timer_due = now.wrapping_add(tw);
        }
    }

    /// The timer scan frees a TIME-WAIT or FIN-WAIT-2 slot whose time is up.
    /// Returns whether it did.
    pub(super) fn close_timer(&mut self, id: usize, now_us: u32) -> bool {
        let t = &self.tcbs[id];
        let due = (now_us.wrapping_sub(t.timer_due) as i32) >= 0;
        if !(matches!(t.state, TcpState::TimeWait | TcpState::FinWait2) && due) {
            return false;
        }
        self.set_state(id, TcpState::Closed);
        self.writeback(id);
        true
    }

    /// Seven retransmissions went unanswered: a RST (RFC 9293 §3.8.3, R2), then the slot is free.
    pub(super) fn give_up(&mut self, id: usize) {
        self.send_rst(id);
        self.count(Stat::GiveUpResets);
        self.set_state(id, TcpState::Closed);
    }

    /// An ACK taken in ESTABLISHED or CLOSE-WAIT that leaves nothing in
    /// flight re-arms the keep-alive timer (or the idle timeout's) and
    /// forgets the probes sent (RFC 9293 §3.8.4).
    pub(super) fn keepalive_rearm(&mut self, id: usize) {
        let (ka, idle) = (self.cfg.keepalive_idle_us, self.cfg.idle_timeout_us);
        let now = self.now_us;
        let t = &mut self.tcbs[id];
        let synced = matches!(t.state, TcpState::Established | TcpState::CloseWait);
        if (ka != 0 || idle != 0) && synced && t.snd_una == t.snd_max {
            t.timer_due = now.wrapping_add(if ka != 0 { ka } else { idle });
            t.retries = 0;
        }
    }

    /// The timer scan's keep-alive: a probe (an ACK at snd_nxt - 1) while
    /// probes are left, else a RST and the slot freed; without keep-alive
    /// the idle timeout resets and frees. Returns whether it acted.
    pub(super) fn keepalive_timer(&mut self, id: usize, now_us: u32) -> bool {
        let (ka, idle) = (self.cfg.keepalive_idle_us, self.cfg.idle_timeout_us);
        let t = &self.tcbs[id];
        let synced = matches!(t.state, TcpState::Established | TcpState::CloseWait);
        let due = (now_us.wrapping_sub(t.timer_due) as i32) >= 0;
        if !(synced && t.snd_una == t.snd_max && due && (ka != 0 || idle != 0)) {
            return false;
        }
        if ka != 0 && t.retries < self.cfg.keepalive_probes.min(15) {
            let seq = t.snd_nxt - 1;
            self.send_with_flags(id, seq, TcpFlags::ACK);
            self.count(Stat::KeepaliveProbes);
            let intvl = self.cfg.keepalive_intvl_us;
            let t = &mut self.tcbs[id];
            t.retries += 1;
            t.timer_due = now_us.wrapping_add(intvl);
        } else {
            self.send_rst(id);
            self.count(if ka != 0 { Stat::KeepaliveDrops } else { Stat::IdleDrops });
            self.set_state(id, TcpState::Closed);
        }
        self.writeback(id);
        true
    }
}
