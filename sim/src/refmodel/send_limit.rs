//! Send holdback in the reference model (docs/engine.md, "Send holdback";
//! invariant 9 in docs/failover.md): each connection's send limit L and what
//! it lets out, as `hdl/src/engine/send_limit.rs` computes it, and the check
//! every segment the card emits must pass.
//!
//! L is a transmit-stream offset (the send tail's units, mod 2^32): stream
//! offset `o` is sequence number `iss + 1 + o`, so L stands for sequence
//! number `iss + 1 + L`. While a connection's `send_hold` is set, nothing at
//! or above that leaves the card: a segment's end (sequence number, plus its
//! payload, plus one for a FIN) is at most `iss + 1 + L`.
use super::{close, RefModel, Step, Tcb};
use crate::wire::SeqNum;
use holdback_regmap::TcpState;

/// The `send_hold` bit a connection opened now to `port` takes from
/// SEND_HOLDBACK (`reg`) and the listening slots (`listen[n]` is slot n's
/// port): the slot's own setting, else the default bit.
pub fn send_hold_for(reg: u32, listen: &[u16], port: u16) -> bool {
    let mut hold = reg & holdback_regmap::SEND_HOLDBACK_DEFAULT != 0;
    for (slot, &p) in listen.iter().enumerate() {
        if p == port && reg & holdback_regmap::send_holdback_own(slot) != 0 {
            hold = reg & holdback_regmap::send_holdback_on(slot) != 0;
        }
    }
    hold
}

/// The sequence number a send limit stands for.
pub fn limit_seq(iss: SeqNum, limit: u32) -> SeqNum {
    iss + 1 + limit
}

/// Where the bytes a connection may send end, as a stream offset: the send
/// tail `tx_end`, or L when send holdback is on and L is before it.
pub fn sendable_end(hold: bool, limit: u32, tx_end: u32) -> u32 {
    if hold && SeqNum(limit).before(SeqNum(tx_end)) {
        limit
    } else {
        tx_end
    }
}

/// Our FIN (at stream offset `tx_end`) may leave: send holdback is off, or L is after it.
pub fn fin_allowed(hold: bool, limit: u32, tx_end: u32) -> bool {
    !hold || SeqNum(tx_end).before(SeqNum(limit))
}

/// The checker's rule for one segment a connection with send holdback on
/// emits: its end, `seq + payload (+ 1 for SYN, + 1 for FIN)`, is not after L's
/// sequence number. Err says by how much it is.
pub fn check_segment(iss: SeqNum, limit: u32, seq: SeqNum, payload: u32, syn: bool, fin: bool) -> Result<(), String> {
    let end = seq + payload + u32::from(syn) + u32::from(fin);
    let bound = limit_seq(iss, limit);
    if end.not_after(bound) {
        Ok(())
    } else {
        Err(format!(
            "a segment at {seq} with {payload} payload bytes{} ends at {end}, {} past the send limit L = {limit} (sequence {bound})",
            if fin { " and a FIN" } else { "" },
            end.bytes_since(bound)
        ))
    }
}

/// Every connection's send limit L, as the core's block RAM holds it.
#[derive(Debug, Clone)]
pub struct SendLimits(Vec<u32>);

impl SendLimits {
    pub fn new(conns: usize) -> SendLimits {
        SendLimits(vec![0; conns])
    }
    pub fn get(&self, id: usize) -> u32 {
        self.0[id]
    }
    /// A new connection starts with nothing of its stream allowed.
    pub fn clear(&mut self, id: usize) {
        self.0[id] = 0;
    }
    /// The host's SEND_LIMIT write: an active card keeps the serial maximum
    /// (a stale write cannot pull L below what was sent), a standby takes the
    /// value as written (its host installs a copied connection).
    pub fn host_write(&mut self, id: usize, value: u32, standby: bool) {
        if standby || !SeqNum(value).before(SeqNum(self.0[id])) {
            self.0[id] = value;
        }
    }
}

impl RefModel {
    /// Connection `id`'s send limit L.
    pub fn send_limit(&self, id: usize) -> u32 {
        self.send_limits.get(id)
    }

    /// Our FIN may leave connection `id` as far as send holdback goes.
    pub(super) fn fin_allowed(&self, id: usize) -> bool {
        let t = &self.tcbs[id];
        fin_allowed(t.send_hold, self.send_limits.get(id), t.tx_end)
    }

    /// The host writes SEND_LIMIT[`id`] = `value` at `now_us`. The core then
    /// visits the connection from its send queue: a FIN that waited for L
    /// goes (the model sends no data, so every byte below the tail is sent).
    pub fn on_send_limit(&mut self, now_us: u32, id: usize, value: u32) -> Step {
        self.now_us = now_us;
        if id < self.tcbs.len() {
            self.send_limits.host_write(id, value, self.cfg.standby);
            if self.cfg.enable && !self.cfg.standby && fin_waits(&self.tcbs[id]) && self.fin_allowed(id) {
                self.send_our_fin(id);
                self.writeback(id);
            }
        }
        self.finish()
    }
}

/// The send queue's `fin_due` (close.rs in the core) with every byte below
/// the tail sent: FIN-WAIT-1, CLOSING and LAST-ACK before their FIN went, or
/// CLOSE-WAIT with everything released and acknowledged.
fn fin_waits(t: &Tcb) -> bool {
    let fin = close::fin_seq(t);
    t.snd_nxt == fin
        && match t.state {
            TcpState::FinWait1 | TcpState::Closing | TcpState::LastAck => true,
            TcpState::CloseWait => t.rcv_nxt.not_after(t.rel) && t.snd_una == fin,
            _ => false,
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_of_its_own_overrides_the_default() {
        use holdback_regmap::send_holdback_value;
        let listen = [5001, 5002, 5003];
        let reg = send_holdback_value(true, [Some(false), Some(true), None, None]);
        assert!(!send_hold_for(reg, &listen, 5001));
        assert!(send_hold_for(reg, &listen, 5002));
        assert!(send_hold_for(reg, &listen, 5003), "no setting of its own: the default");
        let reg = send_holdback_value(false, [None, Some(true), None, None]);
        assert!(!send_hold_for(reg, &listen, 5001));
        assert!(send_hold_for(reg, &listen, 5002));
    }

    #[test]
    fn the_limit_clamps_the_tail_across_the_wrap_and_only_with_holdback() {
        let l = 0xFFFF_FFF0;
        assert_eq!(sendable_end(true, l, 0x10), l, "the tail past the wrap, L before it");
        assert_eq!(sendable_end(true, 0x10, l), l, "L past the wrap, the tail before it");
        assert_eq!(sendable_end(false, 0, 5000), 5000, "holdback off: L is ignored");
        assert!(fin_allowed(true, 101, 100) && !fin_allowed(true, 100, 100), "the FIN takes the sequence number at the tail");
        assert!(fin_allowed(false, 0, 100));
    }

    #[test]
    fn the_checker_counts_payload_syn_and_fin() {
        let iss = SeqNum(0xFFFF_FF00);
        // L = 0x200: sequence iss + 1 + 0x200, across the wrap.
        assert!(check_segment(iss, 0x200, iss + 1, 0x200, false, false).is_ok());
        assert!(check_segment(iss, 0x200, iss + 1, 0x201, false, false).is_err());
        assert!(check_segment(iss, 0x200, iss + 0x201, 0, false, true).is_err(), "a FIN at L is at L");
        assert!(check_segment(iss, 0x201, iss + 0x201, 0, false, true).is_ok());
        assert!(check_segment(iss, 0, iss, 0, true, false).is_ok(), "the SYN-ACK is below any L");
    }

    #[test]
    fn an_active_card_keeps_the_largest_limit_a_standby_the_last() {
        let mut l = SendLimits::new(2);
        l.host_write(1, 1000, false);
        l.host_write(1, 900, false);
        assert_eq!(l.get(1), 1000);
        l.host_write(1, 900, true);
        assert_eq!(l.get(1), 900);
        l.clear(1);
        assert_eq!((l.get(0), l.get(1)), (0, 0));
    }
}
