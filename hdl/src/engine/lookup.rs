//! Connection lookup facts for the receive path, all combinational: whether
//! the TCB just read from the table holds this segment's connection (a
//! CLOSED slot holds none), whether the destination port is one we listen
//! on, and the ISS a new connection gets. Which slots to read is the
//! connection index's answer ([`super::conn_index`]).
use crate::regbus::LISTEN_PORTS;
use holdback_regmap::TcpState;
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct ConnLookup {
    // The segment's addressing, from the parser's descriptor.
    pub src_ip: Signal<In, Bits<32>>,
    pub src_port: Signal<In, Bits<16>>,
    pub dst_port: Signal<In, Bits<16>>,
    /// The segment's tuple hash (`holdback_regmap::conn_hash`), mixed into the ISS.
    pub hash: Signal<In, Bits<16>>,
    /// The LISTEN registers: bit 16 enables the slot, bits 15:0 are the port.
    pub listen_ports: [Signal<In, Bits<17>>; LISTEN_PORTS],
    /// Engine time in microseconds, mixed into the ISS.
    pub now_us: Signal<In, Bits<32>>,
    // The slot the TCB table returned this cycle.
    pub slot_state: Signal<In, Bits<4>>,
    pub slot_remote_ip: Signal<In, Bits<32>>,
    pub slot_remote_port: Signal<In, Bits<16>>,
    pub slot_local_port: Signal<In, Bits<16>>,

    /// The slot holds this segment's connection.
    pub tuple_match: Signal<Out, Bit>,
    /// An enabled LISTEN slot names the destination port.
    pub listening: Signal<Out, Bit>,
    /// Initial send sequence number for a connection opened now.
    pub iss: Signal<Out, Bits<32>>,

    slot_open: Signal<Local, Bit>,
    listen_enable: Constant<Bits<17>>,
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
            iss: Default::default(),
            slot_open: Default::default(),
            listen_enable: Constant::new(Bits::<17>::from(u64::from(holdback_regmap::LISTEN_ENABLE))),
            st_closed: Constant::new(Bits::<4>::from(TcpState::Closed as u64)),
        }
    }
}

impl Logic for ConnLookup {
    #[hdl_gen]
    fn update(&mut self) {
        self.iss.next = (self.now_us.val() << 2) ^ (bit_cast::<32, 16>(self.hash.val()) << 16);
        self.listening.next = false;
        for i in 0..LISTEN_PORTS {
            if (self.listen_ports[i].val() & self.listen_enable.val()).any()
                & (self.listen_ports[i].val().get_bits::<16>(0) == self.dst_port.val())
            {
                self.listening.next = true;
            }
        }
        self.slot_open.next = self.slot_state.val() != self.st_closed.val();
        self.tuple_match.next = self.slot_open.val()
            & (self.slot_remote_ip.val() == self.src_ip.val())
            & (self.slot_remote_port.val() == self.src_port.val())
            & (self.slot_local_port.val() == self.dst_port.val());
    }
}
