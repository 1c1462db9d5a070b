//! Connection lookup facts for the receive path, all combinational: whether
//! the TCB just read from the table holds this segment's connection (a
//! CLOSED slot holds none), whether the destination port is one we listen
//! on, whether a connection it opens holds its ACKs back (the matching
//! LISTEN slot's own holdback bit, else CTRL's), whether that slot relays
//! and to which backend (docs/relay.md, "Relay slots"), and the ISS a new
//! connection gets. Which slots to read is the
//! connection index's answer ([`super::conn_index`]).
use crate::regbus::{LISTEN_BITS, LISTEN_PORTS};
use holdback_regmap::{TcpState, RELAY_PORT_BITS};
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct ConnLookup {
    // The segment's addressing, from the parser's descriptor.
    pub src_ip: Signal<In, Bits<32>>,
    pub src_port: Signal<In, Bits<16>>,
    pub dst_port: Signal<In, Bits<16>>,
    /// The segment's tuple hash (`holdback_regmap::conn_hash`), mixed into the ISS.
    pub hash: Signal<In, Bits<16>>,
    /// The LISTEN registers: bit 16 enables the slot, bits 15:0 are the
    /// port, bit 17 says bit 18 is the slot's holdback.
    pub listen_ports: [Signal<In, Bits<LISTEN_BITS>>; LISTEN_PORTS],
    /// CTRL.holdback: for connections to a slot without its own setting.
    pub holdback_default: Signal<In, Bit>,
    /// Engine time in microseconds, mixed into the ISS.
    pub now_us: Signal<In, Bits<32>>,
    // The slot the TCB table returned this cycle.
    pub slot_state: Signal<In, Bits<4>>,
    pub slot_remote_ip: Signal<In, Bits<32>>,
    pub slot_remote_port: Signal<In, Bits<16>>,
    pub slot_local_port: Signal<In, Bits<16>>,
    /// The relay registers of each LISTEN slot (RELAY_PORTn, RELAY_IPn, the next hop's MAC).
    pub relay_ports: [Signal<In, Bits<RELAY_PORT_BITS>>; LISTEN_PORTS],
    pub relay_ips: [Signal<In, Bits<32>>; LISTEN_PORTS],
    pub relay_macs: [Signal<In, Bits<48>>; LISTEN_PORTS],

    /// The slot holds this segment's connection.
    pub tuple_match: Signal<Out, Bit>,
    /// An enabled LISTEN slot names the destination port.
    pub listening: Signal<Out, Bit>,
    /// The holdback bit of a connection the segment opens.
    pub holdback: Signal<Out, Bit>,
    /// Initial send sequence number for a connection opened now.
    pub iss: Signal<Out, Bits<32>>,
    /// The listening slot relays: a SYN to it opens a spliced pair toward
    /// `relay_ip`:`relay_port` through next hop `relay_mac`.
    pub relay: Signal<Out, Bit>,
    pub relay_ip: Signal<Out, Bits<32>>,
    pub relay_port: Signal<Out, Bits<16>>,
    pub relay_mac: Signal<Out, Bits<48>>,

    slot_open: Signal<Local, Bit>,
    listen_enable: Constant<Bits<LISTEN_BITS>>,
    listen_own: Constant<Bits<LISTEN_BITS>>,
    listen_holdback: Constant<Bits<LISTEN_BITS>>,
    relay_enable: Constant<Bits<RELAY_PORT_BITS>>,
    st_closed: Constant<Bits<4>>,
}

impl Default for ConnLookup {
    fn default() -> Self {
        Self {
            src_ip: Default::default(),
            src_port: Default::default(),
            dst_port: Default::default(),
            hash: Default::default(),
            listen_ports: Default::default(),
            now_us: Default::default(),
            slot_state: Default::default(),
            slot_remote_ip: Default::default(),
            slot_remote_port: Default::default(),
            slot_local_port: Default::default(),
            tuple_match: Default::default(),
            listening: Default::default(),
            holdback_default: Default::default(),
            holdback: Default::default(),
            iss: Default::default(),
            relay_ports: Default::default(),
            relay_ips: Default::default(),
            relay_macs: Default::default(),
            relay: Default::default(),
            relay_ip: Default::default(),
            relay_port: Default::default(),
            relay_mac: Default::default(),
            relay_enable: Constant::new(Bits::<RELAY_PORT_BITS>::from(u64::from(holdback_regmap::RELAY_ENABLE))),
            slot_open: Default::default(),
            listen_enable: Constant::new(Bits::<LISTEN_BITS>::from(u64::from(holdback_regmap::LISTEN_ENABLE))),
            listen_own: Constant::new(Bits::<LISTEN_BITS>::from(u64::from(holdback_regmap::LISTEN_OWN_HOLDBACK))),
            listen_holdback: Constant::new(Bits::<LISTEN_BITS>::from(u64::from(holdback_regmap::LISTEN_HOLDBACK))),
            st_closed: Constant::new(Bits::<4>::from(TcpState::Closed as u64)),
        }
    }
}

impl Logic for ConnLookup {
    #[hdl_gen]
    fn update(&mut self) {
        self.iss.next = (self.now_us.val() << 2) ^ (bit_cast::<32, 16>(self.hash.val()) << 16);
        self.listening.next = false;
        self.holdback.next = self.holdback_default.val();
        self.relay.next = false;
        self.relay_ip.next = 0_u32.to_bits();
        self.relay_port.next = 0_u16.to_bits();
        self.relay_mac.next = 0_u64.to_bits();
        // The port is unique among the slots (the driver refuses duplicates).
        for i in 0..LISTEN_PORTS {
            if (self.listen_ports[i].val() & self.listen_enable.val()).any()
                & (self.listen_ports[i].val().get_bits::<16>(0) == self.dst_port.val())
            {
                self.listening.next = true;
                if (self.listen_ports[i].val() & self.listen_own.val()).any() {
                    self.holdback.next = (self.listen_ports[i].val() & self.listen_holdback.val()).any();
                }
                self.relay.next = (self.relay_ports[i].val() & self.relay_enable.val()).any();
                self.relay_ip.next = self.relay_ips[i].val();
                self.relay_port.next = self.relay_ports[i].val().get_bits::<16>(0);
                self.relay_mac.next = self.relay_macs[i].val();
            }
        }
        self.slot_open.next = self.slot_state.val() != self.st_closed.val();
        self.tuple_match.next = self.slot_open.val()
            & (self.slot_remote_ip.val() == self.src_ip.val())
            & (self.slot_remote_port.val() == self.src_port.val())
            & (self.slot_local_port.val() == self.dst_port.val());
    }
}

/// The lookup alone, for its lint/synthesis check.
pub fn verilog() -> Result<String, crate::generate::GenError> {
    crate::generate::verilog_named(&mut ConnLookup::default(), "conn_lookup")
}

#[cfg(test)]
mod tests {
    use super::*;
    use holdback_regmap::listen_value;

    /// Whether a SYN to `dst_port` is taken and with which holdback, for the
    /// given LISTEN register values and CTRL.holdback.
    fn open_to(listen: [u32; LISTEN_PORTS], ctrl_holdback: bool, dst_port: u16) -> (bool, bool) {
        let mut uut = ConnLookup::default();
        uut.connect_all();
        for (i, v) in listen.iter().enumerate() {
            uut.listen_ports[i].next = u64::from(*v).into();
        }
        uut.holdback_default.next = ctrl_holdback;
        uut.dst_port.next = u64::from(dst_port).into();
        assert!(simulate(&mut uut, 100));
        (uut.listening.val(), uut.holdback.val())
    }

    #[test]
    fn a_listening_port_sets_holdback_for_its_connections_or_follows_ctrl() {
        let slots = [listen_value(5001, Some(true)), listen_value(5002, Some(false)), listen_value(5003, None), 0];
        for ctrl in [false, true] {
            assert_eq!(open_to(slots, ctrl, 5001), (true, true), "CTRL {ctrl}: 5001 holds back");
            assert_eq!(open_to(slots, ctrl, 5002), (true, false), "CTRL {ctrl}: 5002 never does");
            assert_eq!(open_to(slots, ctrl, 5003), (true, ctrl), "CTRL {ctrl}: 5003 follows CTRL");
            assert!(!open_to(slots, ctrl, 5004).0, "5004 is not listened on");
        }
        // A disabled slot's holdback bits do not apply to anyone.
        let disabled = listen_value(5001, Some(true)) & !holdback_regmap::LISTEN_ENABLE;
        assert_eq!(open_to([disabled, 0, 0, 0], false, 5001), (false, false));
    }

    #[test]
    fn conn_lookup_lints_clean_and_synthesizes() {
        let v = verilog().expect("generates");
        crate::check::lint("conn_lookup", &v).unwrap_or_else(|e| panic!("lint:\n{e}"));
        let area = crate::check::synth("conn_lookup", &v).unwrap_or_else(|e| panic!("{e}"));
        assert!(area.luts > 0);
    }
}
