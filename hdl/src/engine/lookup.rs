//! Connection lookup facts for the receive path, all combinational: the first
//! slot of the probe sequence (a hash of the 4-tuple, `fold16(src_ip ^ ports)
//! mod N`, then linear probes), whether the slot just read from the TCB table
//! is free or holds this segment's connection, whether the destination port
//! is one we listen on, and the ISS a new connection gets.
use crate::regbus::LISTEN_PORTS;
use holdback_regmap::TcpState;
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct ConnLookup<const CONN_BITS: usize> {
    // The segment's addressing, from the parser's descriptor.
    pub src_ip: Signal<In, Bits<32>>,
    pub src_port: Signal<In, Bits<16>>,
    pub dst_port: Signal<In, Bits<16>>,
    /// The LISTEN registers: bit 16 enables the slot, bits 15:0 are the port.
    pub listen_ports: [Signal<In, Bits<17>>; LISTEN_PORTS],
    /// Engine time in microseconds, mixed into the ISS.
    pub now_us: Signal<In, Bits<32>>,
    // The slot the TCB table returned this cycle.
    pub slot_state: Signal<In, Bits<4>>,
    pub slot_remote_ip: Signal<In, Bits<32>>,
    pub slot_remote_port: Signal<In, Bits<16>>,
    pub slot_local_port: Signal<In, Bits<16>>,

    /// Where the probe sequence starts.
    pub first_slot: Signal<Out, Bits<CONN_BITS>>,
    /// The slot is CLOSED, so a passive open may take it.
    pub slot_free: Signal<Out, Bit>,
    /// The slot holds this segment's connection.
    pub tuple_match: Signal<Out, Bit>,
    /// An enabled LISTEN slot names the destination port.
    pub listening: Signal<Out, Bit>,
    /// Initial send sequence number for a connection opened now.
    pub iss: Signal<Out, Bits<32>>,

    hash32: Signal<Local, Bits<32>>,
    hash16: Signal<Local, Bits<16>>,
    listen_enable: Constant<Bits<17>>,
    st_closed: Constant<Bits<4>>,
}

impl<const CONN_BITS: usize> Default for ConnLookup<CONN_BITS> {
    fn default() -> Self {
        Self {
            src_ip: Default::default(),
            src_port: Default::default(),
            dst_port: Default::default(),
            listen_ports: Default::default(),
            now_us: Default::default(),
            slot_state: Default::default(),
            slot_remote_ip: Default::default(),
            slot_remote_port: Default::default(),
            slot_local_port: Default::default(),
            first_slot: Default::default(),
            slot_free: Default::default(),
            tuple_match: Default::default(),
            listening: Default::default(),
            iss: Default::default(),
            hash32: Default::default(),
            hash16: Default::default(),
            listen_enable: Constant::new(Bits::<17>::from(u64::from(holdback_regmap::LISTEN_ENABLE))),
            st_closed: Constant::new(Bits::<4>::from(TcpState::Closed as u64)),
        }
    }
}

impl<const CONN_BITS: usize> Logic for ConnLookup<CONN_BITS> {
    #[hdl_gen]
    fn update(&mut self) {
        self.hash32.next = self.src_ip.val()
            ^ ((bit_cast::<32, 16>(self.src_port.val()) << 16) | bit_cast::<32, 16>(self.dst_port.val()));
        self.hash16.next = self.hash32.val().get_bits::<16>(16) ^ self.hash32.val().get_bits::<16>(0);
        self.first_slot.next = self.hash16.val().get_bits::<CONN_BITS>(0);
        self.iss.next = (self.now_us.val() << 2) ^ (bit_cast::<32, 16>(self.hash16.val()) << 16);
        self.listening.next = false;
        for i in 0..LISTEN_PORTS {
            if (self.listen_ports[i].val() & self.listen_enable.val()).any()
                & (self.listen_ports[i].val().get_bits::<16>(0) == self.dst_port.val())
            {
                self.listening.next = true;
            }
        }
        self.slot_free.next = self.slot_state.val() == self.st_closed.val();
        self.tuple_match.next = !self.slot_free.val()
            & (self.slot_remote_ip.val() == self.src_ip.val())
            & (self.slot_remote_port.val() == self.src_port.val())
            & (self.slot_local_port.val() == self.dst_port.val());
    }
}
