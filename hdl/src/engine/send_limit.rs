//! Send holdback (docs/engine.md, "Send holdback"; invariant 9 in
//! docs/failover.md): each connection's send limit L, and what it lets out.
//!
//! L is a transmit-stream offset (the send tail's units, mod 2^32) kept in a
//! block RAM of its own beside the TCB table, read at `read_slot` (the slot
//! the TCB table reads, so it arrives with the TCB) and written at
//! `write_slot`:
//!
//! - `clear`: a new connection starts with L = 0, nothing of its stream
//!   allowed (the slot's previous L belongs to someone else);
//! - `host_we`: the host's SEND_LIMIT write. An active card keeps the serial
//!   maximum (a stale write cannot pull L back below bytes already sent); a
//!   standby stores the value as written (the host installs a copied
//!   connection whose slot held another one's L).
//!
//! For the connection whose TCB the engine holds (`send_hold`, `iss`,
//! `tx_end`), with its send holdback on:
//!
//! - `snd_tail` is the sequence number where sendable bytes end:
//!   `iss + 1 + min(tx_end, L)` (serial minimum). The segmenter sizes new
//!   data, probes and resends against it, so no payload byte at or above L
//!   leaves; bytes below snd_max were sent under an L that never moved back.
//! - `fin_allowed`: our FIN, whose sequence number is `iss + 1 + tx_end`, is
//!   below L's, `iss + 1 + L`.
//!
//! With send holdback off both are the plain ones (L is ignored).
//! `syn_hold` is the bit a new connection to `dst_port` takes: its listening
//! slot's own setting (SEND_HOLDBACK bits 1+n, 5+n) or the default (bit 0).
use crate::regbus::{LISTEN_BITS, LISTEN_PORTS, SEND_HOLDBACK_BITS};
use crate::seq_cmp::SeqCmp;
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct SendLimit<const CONN_BITS: usize> {
    pub clock: Signal<In, Clock>,
    pub read_slot: Signal<In, Bits<CONN_BITS>>,
    pub write_slot: Signal<In, Bits<CONN_BITS>>,
    pub clear: Signal<In, Bit>,
    pub host_we: Signal<In, Bit>,
    pub host_value: Signal<In, Bits<32>>,
    pub standby: Signal<In, Bit>,

    pub send_hold: Signal<In, Bit>,
    pub iss: Signal<In, Bits<32>>,
    pub tx_end: Signal<In, Bits<32>>,

    pub send_holdback: Signal<In, Bits<SEND_HOLDBACK_BITS>>,
    pub listen_ports: [Signal<In, Bits<LISTEN_BITS>>; LISTEN_PORTS],
    pub dst_port: Signal<In, Bits<16>>,

    pub snd_tail: Signal<Out, Bits<32>>,
    pub fin_allowed: Signal<Out, Bit>,
    pub syn_hold: Signal<Out, Bit>,

    ram: RAM<Bits<32>, CONN_BITS>,
    /// L before tx_end (serial): L ends the sendable bytes.
    cmp_tail: SeqCmp,
    /// The host's value before L (serial): a stale write.
    cmp_host: SeqCmp,
    /// L - tx_end: positive (serially) when L is past the FIN.
    limit_past_fin: Signal<Local, Bits<32>>,
    sendable_end: Signal<Local, Bits<32>>,
    one32: Constant<Bits<32>>,
    listen_enable: Constant<Bits<LISTEN_BITS>>,
}

impl<const CONN_BITS: usize> Default for SendLimit<CONN_BITS> {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            read_slot: Default::default(),
            write_slot: Default::default(),
            clear: Default::default(),
            host_we: Default::default(),
            host_value: Default::default(),
            standby: Default::default(),
            send_hold: Default::default(),
            iss: Default::default(),
            tx_end: Default::default(),
            send_holdback: Default::default(),
            listen_ports: Default::default(),
            dst_port: Default::default(),
            snd_tail: Default::default(),
            fin_allowed: Default::default(),
            syn_hold: Default::default(),
            // L = 0 at power-on; opening a connection clears its entry too.
            ram: RAM::from((0..1usize << CONN_BITS).map(|_| Bits::<32>::from(0u64))),
            cmp_tail: Default::default(),
            cmp_host: Default::default(),
            limit_past_fin: Default::default(),
            sendable_end: Default::default(),
            one32: Constant::new(Bits::<32>::from(1u64)),
            listen_enable: Constant::new(Bits::<LISTEN_BITS>::from(u64::from(holdback_regmap::LISTEN_ENABLE))),
        }
    }
}

impl<const CONN_BITS: usize> Logic for SendLimit<CONN_BITS> {
    #[hdl_gen]
    fn update(&mut self) {
        self.ram.read_clock.next = self.clock.val();
        self.ram.write_clock.next = self.clock.val();
        self.ram.read_address.next = self.read_slot.val();
        self.ram.write_address.next = self.write_slot.val();

        // The host's write: forward only while active, as written in standby.
        self.cmp_host.a.next = self.host_value.val();
        self.cmp_host.b.next = self.ram.read_data.val();
        self.ram.write_enable.next = self.clear.val() | self.host_we.val();
        self.ram.write_data.next = 0_u32.to_bits();
        if self.host_we.val() {
            self.ram.write_data.next = self.host_value.val();
            if !self.standby.val() & self.cmp_host.a_before_b.val() {
                self.ram.write_data.next = self.ram.read_data.val();
            }
        }

        // What the held TCB may send: bytes below min(tx_end, L), a FIN below L.
        self.cmp_tail.a.next = self.ram.read_data.val();
        self.cmp_tail.b.next = self.tx_end.val();
        self.limit_past_fin.next = self.ram.read_data.val() - self.tx_end.val();
        self.sendable_end.next = self.tx_end.val();
        self.fin_allowed.next = true;
        if self.send_hold.val() {
            if self.cmp_tail.a_before_b.val() {
                self.sendable_end.next = self.ram.read_data.val();
            }
            self.fin_allowed.next = self.limit_past_fin.val().any() & !self.limit_past_fin.val().get_bit(31);
        }
        self.snd_tail.next = self.iss.val() + self.one32.val() + self.sendable_end.val();

        // A new connection's bit: its slot's own setting, else the default.
        self.syn_hold.next = self.send_holdback.val().get_bit(0);
        for i in 0..LISTEN_PORTS {
            if ((self.listen_ports[i].val() & self.listen_enable.val()) == self.listen_enable.val())
                & (self.listen_ports[i].val().get_bits::<16>(0) == self.dst_port.val())
                & self.send_holdback.val().get_bit(1 + i)
            {
                self.syn_hold.next = self.send_holdback.val().get_bit(5 + i);
            }
        }
    }
}

/// The block alone (N = 1024), for its lint/synthesis check.
pub fn verilog() -> Result<String, crate::generate::GenError> {
    crate::generate::verilog_named(&mut SendLimit::<10>::default(), "send_limit")
}

#[cfg(test)]
mod tests {
    #[test]
    fn send_limit_lints_clean_and_synthesizes() {
        let v = super::verilog().expect("generates");
        crate::check::lint("send_limit", &v).unwrap_or_else(|e| panic!("lint:\n{e}"));
        let area = crate::check::synth("send_limit", &v).unwrap_or_else(|e| panic!("{e}"));
        eprintln!("send_limit area: {area:?}");
        assert!(area.luts > 0);
    }
}
