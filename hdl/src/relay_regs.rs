//! The relay registers (docs/relay.md, "Relay slots"): per listening slot the
//! backend's IPv4 address (RELAY_IPn), whether the slot relays and the
//! backend's port (RELAY_PORTn), the next hop's MAC (RELAY_MAC_HIn/LOn), and
//! the connect timeout RELAY_CONNECT_US. Plain read/write registers; bits a
//! register does not have are not stored and read 0.
//!
//! A block of its own beside the register block (`regbus.rs`), which only
//! forwards reads: this block decodes the bus address itself, and while it
//! claims it (`hit`) regbus returns `rdata`. The bus signals it takes are the
//! core's registered copies of the host's, the same regbus sees, so `rdata`
//! is valid in the cycle regbus samples a read (its Idle state). Nothing goes
//! from regbus to this block: a regbus output feeding this block while this
//! block's `hit`/`rdata` feed regbus's read mux would close a combinational
//! loop between the two always blocks (Verilator UNOPTFLAT on the core).
//!
//! Writes: regbus takes an access once, in its first cycle; the host holds a
//! write (stable address and data) until the ack. This block stores the held
//! value in every cycle of the write instead, which leaves the same value:
//! these registers have no side effects, so repeating a write is harmless and
//! the block needs no copy of regbus's handshake state.
use holdback_regmap as map;
use rust_hdl::prelude::*;

use crate::regbus::LISTEN_PORTS;

/// One relay slot per listening slot.
pub const RELAY_SLOTS: usize = map::RELAY_SLOTS.len();
const _: () = assert!(RELAY_SLOTS == LISTEN_PORTS, "a relay slot per LISTEN slot");
/// RELAY_PORTn: backend port (15:0) and the slot's enable (16).
pub const RELAY_PORT_BITS: usize = map::RELAY_PORT_BITS;
/// Bytes between two slots' register groups.
const SLOT_STRIDE: u32 = 0x10;
/// The kernel decodes a slot as address bits 5:4 and a register in it as bits
/// 3:2 of the offset from RELAY_IP0 (literals in `get_bits`): the map must
/// have that layout.
const _: () = {
    let mut i = 0;
    while i < RELAY_SLOTS {
        let s = map::RELAY_SLOTS[i];
        let base = map::RELAY_IP0.offset + SLOT_STRIDE * i as u32;
        assert!(s.ip.offset == base && s.port.offset == base + 4 && s.mac_hi.offset == base + 8 && s.mac_lo.offset == base + 12);
        i += 1;
    }
    assert!(RELAY_SLOTS == 4, "the slot number is the 2 bits 5:4 of the offset");
    assert!(RELAY_PORT_BITS == 17 && map::RELAY_ENABLE == 1 << 16);
};

#[derive(LogicBlock)]
pub struct RelayRegs {
    pub clock: Signal<In, Clock>,
    /// The register bus as regbus sees it (the core's registered copies).
    pub reg_addr: Signal<In, Bits<20>>,
    pub reg_wdata: Signal<In, Bits<32>>,
    pub reg_we: Signal<In, Bit>,
    /// `reg_addr` is one of this block's registers; `rdata` is its value.
    pub hit: Signal<Out, Bit>,
    pub rdata: Signal<Out, Bits<32>>,
    /// To the engine, in its port shapes: RELAY_PORTn, RELAY_IPn, and the
    /// MAC with bytes 0-1 (RELAY_MAC_HIn) in bits 47:32 above RELAY_MAC_LOn.
    pub relay_ports: [Signal<Out, Bits<RELAY_PORT_BITS>>; RELAY_SLOTS],
    pub relay_ips: [Signal<Out, Bits<32>>; RELAY_SLOTS],
    pub relay_macs: [Signal<Out, Bits<48>>; RELAY_SLOTS],
    pub relay_connect_us: Signal<Out, Bits<32>>,

    ip: [DFF<Bits<32>>; RELAY_SLOTS],
    port: [DFF<Bits<RELAY_PORT_BITS>>; RELAY_SLOTS],
    mac_hi: [DFF<Bits<16>>; RELAY_SLOTS],
    mac_lo: [DFF<Bits<32>>; RELAY_SLOTS],
    connect_us: DFFWithInit<Bits<32>>,

    /// `reg_addr - RELAY_IP0`: bits 5:4 the slot, 3:2 the register.
    off: Signal<Local, Bits<20>>,
    slot_hit: Signal<Local, Bit>,
    connect_hit: Signal<Local, Bit>,
    /// The addressed slot, and the register in it (ip, port, mac_hi, mac_lo),
    /// as numbers (for the read muxes) and one-hot (for the write enables).
    slot_idx: Signal<Local, Bits<2>>,
    word_idx: Signal<Local, Bits<2>>,
    slot_sel: Signal<Local, Bits<4>>,
    word_sel: Signal<Local, Bits<4>>,
    /// The addressed slot's registers, and the addressed one of them.
    ip_rd: Signal<Local, Bits<32>>,
    port_rd: Signal<Local, Bits<RELAY_PORT_BITS>>,
    mac_hi_rd: Signal<Local, Bits<16>>,
    mac_lo_rd: Signal<Local, Bits<32>>,
    word_rd: Signal<Local, Bits<32>>,
    a_base: Constant<Bits<20>>,
    slots_span: Constant<Bits<20>>,
    a_connect: Constant<Bits<20>>,
    one4: Constant<Bits<4>>,
}

impl Default for RelayRegs {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            reg_addr: Default::default(),
            reg_wdata: Default::default(),
            reg_we: Default::default(),
            hit: Default::default(),
            rdata: Default::default(),
            relay_ports: Default::default(),
            relay_ips: Default::default(),
            relay_macs: Default::default(),
            relay_connect_us: Default::default(),
            ip: Default::default(),
            port: Default::default(),
            mac_hi: Default::default(),
            mac_lo: Default::default(),
            connect_us: DFFWithInit::new(Bits::<32>::from(u64::from(map::RELAY_CONNECT_US_DEFAULT))),
            off: Default::default(),
            slot_hit: Default::default(),
            connect_hit: Default::default(),
            slot_idx: Default::default(),
            word_idx: Default::default(),
            slot_sel: Default::default(),
            word_sel: Default::default(),
            ip_rd: Default::default(),
            port_rd: Default::default(),
            mac_hi_rd: Default::default(),
            mac_lo_rd: Default::default(),
            word_rd: Default::default(),
            a_base: Constant::new(Bits::<20>::from(u64::from(map::RELAY_IP0.offset))),
            slots_span: Constant::new(Bits::<20>::from(u64::from(SLOT_STRIDE) * RELAY_SLOTS as u64)),
            a_connect: Constant::new(Bits::<20>::from(u64::from(map::RELAY_CONNECT_US.offset))),
            one4: Constant::new(Bits::<4>::from(1u64)),
        }
    }
}

impl Logic for RelayRegs {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, connect_us);
        for i in 0..RELAY_SLOTS {
            self.ip[i].clock.next = self.clock.val();
            self.ip[i].d.next = self.ip[i].q.val();
            self.port[i].clock.next = self.clock.val();
            self.port[i].d.next = self.port[i].q.val();
            self.mac_hi[i].clock.next = self.clock.val();
            self.mac_hi[i].d.next = self.mac_hi[i].q.val();
            self.mac_lo[i].clock.next = self.clock.val();
            self.mac_lo[i].d.next = self.mac_lo[i].q.val();
        }

        // Decode: word-aligned addresses only, as regbus's exact compares.
        self.off.next = self.reg_addr.val() - self.a_base.val();
        self.slot_hit.next = (self.reg_addr.val() >= self.a_base.val())
            & (self.off.val() < self.slots_span.val())
            & !self.off.val().get_bit(0)
            & !self.off.val().get_bit(1);
        self.connect_hit.next = self.reg_addr.val() == self.a_connect.val();
        self.slot_idx.next = self.off.val().get_bits::<2>(4);
        self.word_idx.next = self.off.val().get_bits::<2>(2);
        self.slot_sel.next = self.one4.val() << self.slot_idx.val();
        self.word_sel.next = self.one4.val() << self.word_idx.val();
        self.hit.next = self.slot_hit.val() | self.connect_hit.val();

        // Writes: one enable per register.
        if self.connect_hit.val() & self.reg_we.val() {
            self.connect_us.d.next = self.reg_wdata.val();
        }
        for i in 0..RELAY_SLOTS {
            if self.slot_hit.val() & self.reg_we.val() & self.slot_sel.val().get_bit(i) {
                if self.word_sel.val().get_bit(0) {
                    self.ip[i].d.next = self.reg_wdata.val();
                }
                if self.word_sel.val().get_bit(1) {
                    self.port[i].d.next = self.reg_wdata.val().get_bits::<RELAY_PORT_BITS>(0);
                }
                if self.word_sel.val().get_bit(2) {
                    self.mac_hi[i].d.next = self.reg_wdata.val().get_bits::<16>(0);
                }
                if self.word_sel.val().get_bit(3) {
                    self.mac_lo[i].d.next = self.reg_wdata.val();
                }
            }
        }
        // Reads: the slot's four registers, then the word, each a `case` on
        // the address bits (a binary select maps to half the LUTs of an
        // if-chain on one-hot bits, whose exclusivity synthesis cannot see).
        // Literal indices: the macro drops a loop index inside a function
        // call such as `bit_cast`.
        match self.slot_idx.val().index() {
            0 => {
                self.ip_rd.next = self.ip[0].q.val();
                self.port_rd.next = self.port[0].q.val();
                self.mac_hi_rd.next = self.mac_hi[0].q.val();
                self.mac_lo_rd.next = self.mac_lo[0].q.val();
            }
            1 => {
                self.ip_rd.next = self.ip[1].q.val();
                self.port_rd.next = self.port[1].q.val();
                self.mac_hi_rd.next = self.mac_hi[1].q.val();
                self.mac_lo_rd.next = self.mac_lo[1].q.val();
            }
            2 => {
                self.ip_rd.next = self.ip[2].q.val();
                self.port_rd.next = self.port[2].q.val();
                self.mac_hi_rd.next = self.mac_hi[2].q.val();
                self.mac_lo_rd.next = self.mac_lo[2].q.val();
            }
            _ => {
                self.ip_rd.next = self.ip[3].q.val();
                self.port_rd.next = self.port[3].q.val();
                self.mac_hi_rd.next = self.mac_hi[3].q.val();
                self.mac_lo_rd.next = self.mac_lo[3].q.val();
            }
        }
        match self.word_idx.val().index() {
            0 => self.word_rd.next = self.ip_rd.val(),
            1 => self.word_rd.next = bit_cast::<32, RELAY_PORT_BITS>(self.port_rd.val()),
            2 => self.word_rd.next = bit_cast::<32, 16>(self.mac_hi_rd.val()),
            _ => self.word_rd.next = self.mac_lo_rd.val(),
        }
        self.rdata.next = 0_u32.to_bits();
        if self.slot_hit.val() {
            self.rdata.next = self.word_rd.val();
        }
        if self.connect_hit.val() {
            self.rdata.next = self.connect_us.q.val();
        }

        for i in 0..RELAY_SLOTS {
            self.relay_ports[i].next = self.port[i].q.val();
            self.relay_ips[i].next = self.ip[i].q.val();
        }
        // Literal indices: see the read mux above.
        self.relay_macs[0].next = (bit_cast::<48, 16>(self.mac_hi[0].q.val()) << 32) | bit_cast::<48, 32>(self.mac_lo[0].q.val());
        self.relay_macs[1].next = (bit_cast::<48, 16>(self.mac_hi[1].q.val()) << 32) | bit_cast::<48, 32>(self.mac_lo[1].q.val());
        self.relay_macs[2].next = (bit_cast::<48, 16>(self.mac_hi[2].q.val()) << 32) | bit_cast::<48, 32>(self.mac_lo[2].q.val());
        self.relay_macs[3].next = (bit_cast::<48, 16>(self.mac_hi[3].q.val()) << 32) | bit_cast::<48, 32>(self.mac_lo[3].q.val());
        self.relay_connect_us.next = self.connect_us.q.val();
    }
}

/// The block alone, for its lint/synthesis check.
pub fn verilog() -> Result<String, crate::generate::GenError> {
    crate::generate::verilog_named(&mut RelayRegs::default(), "relay_regs")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A write held for two cycles (as the host holds it until the ack), then
    /// the bus released for one.
    fn write(uut: &mut RelayRegs, addr: u32, v: u32) {
        uut.reg_addr.next = Bits::<20>::from(u64::from(addr));
        uut.reg_wdata.next = Bits::<32>::from(u64::from(v));
        uut.reg_we.next = true;
        cycle(uut);
        cycle(uut);
        uut.reg_we.next = false;
        cycle(uut);
    }

    fn read(uut: &mut RelayRegs, addr: u32) -> (bool, u32) {
        uut.reg_addr.next = Bits::<20>::from(u64::from(addr));
        assert!(simulate(uut, 100), "settles");
        (uut.hit.val(), uut.rdata.val().index() as u32)
    }

    fn cycle(uut: &mut RelayRegs) {
        uut.clock.next = Clock { clk: true };
        assert!(simulate(uut, 100), "settles");
        uut.clock.next = Clock { clk: false };
        assert!(simulate(uut, 100), "settles");
    }

    /// rust-hdl's simulation of the block: reset values, the decode (the 17
    /// registers hit, their neighbours and unaligned addresses do not), the
    /// bits that exist, and the outputs in the engine's shapes. The whole
    /// core's test (sim/tests/relay_registers.rs) checks the same on Verilator.
    #[test]
    fn relay_registers_decode_store_and_drive_the_engine_ports() {
        let mut uut = RelayRegs::default();
        uut.connect_all();
        check_all(&uut).expect("design checks pass");
        cycle(&mut uut);
        assert_eq!(read(&mut uut, map::RELAY_CONNECT_US.offset), (true, map::RELAY_CONNECT_US_DEFAULT));
        for addr in [map::RELAY_IP0.offset - 4, map::RELAY_IP0.offset + 1, map::RELAY_MAC_LO3.offset + 2, map::RELAY_CONNECT_US.offset + 4] {
            assert!(!read(&mut uut, addr).0, "{addr:#x} is not a relay register");
        }
        for (i, s) in map::RELAY_SLOTS.iter().enumerate() {
            let n = i as u32;
            write(&mut uut, s.ip.offset, 0xC612_0000 | n);
            write(&mut uut, s.port.offset, 0xFFFF_0000 | (8000 + n));
            write(&mut uut, s.mac_hi.offset, 0xFFFF_0200 | n);
            write(&mut uut, s.mac_lo.offset, 0x0000_5E00 | n);
        }
        write(&mut uut, map::RELAY_CONNECT_US.offset, 250_000);
        for (i, s) in map::RELAY_SLOTS.iter().enumerate() {
            let n = i as u32;
            assert_eq!(read(&mut uut, s.ip.offset), (true, 0xC612_0000 | n));
            assert_eq!(read(&mut uut, s.port.offset), (true, map::RELAY_ENABLE | (8000 + n)), "bits 31:17 are not stored");
            assert_eq!(read(&mut uut, s.mac_hi.offset), (true, 0x0200 | n), "bits 31:16 are not stored");
            assert_eq!(read(&mut uut, s.mac_lo.offset), (true, 0x5E00 | n));
            assert_eq!(uut.relay_ips[i].val().index() as u32, 0xC612_0000 | n);
            assert_eq!(uut.relay_ports[i].val().index() as u32, map::RELAY_ENABLE | (8000 + n));
            assert_eq!(uut.relay_macs[i].val().to_u64(), (u64::from(0x0200 | n) << 32) | u64::from(0x5E00 | n));
        }
        assert_eq!(read(&mut uut, map::RELAY_CONNECT_US.offset), (true, 250_000));
        assert_eq!(uut.relay_connect_us.val().index(), 250_000);
    }

    #[test]
    fn relay_regs_lints_clean_and_synthesizes() {
        let v = super::verilog().expect("generates");
        crate::check::lint("relay_regs", &v).unwrap_or_else(|e| panic!("lint:\n{e}"));
        let area = crate::check::synth("relay_regs", &v).unwrap_or_else(|e| panic!("{e}"));
        eprintln!("relay_regs area: {area:?}");
        assert!(area.ffs > 0);
    }
}
