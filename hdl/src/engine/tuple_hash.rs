//! The hash of a connection's 4-tuple as the core sees it (peer IP, peer
//! port, our port; our IP is the card's one address): the 32-bit XOR of the
//! IP with the two ports, folded to 16 bits. The connection index takes its
//! bucket from the low bits, and the ISS mixes all 16 in.
//! `holdback_regmap::conn_hash` is the same function in Rust (a test below
//! checks the block against it), for the reference model and the tests that
//! need tuples which collide on purpose.
use rust_hdl::prelude::*;

#[derive(LogicBlock, Default)]
pub struct TupleHash {
    pub remote_ip: Signal<In, Bits<32>>,
    pub remote_port: Signal<In, Bits<16>>,
    pub local_port: Signal<In, Bits<16>>,
    pub hash: Signal<Out, Bits<16>>,
    mixed: Signal<Local, Bits<32>>,
}

impl Logic for TupleHash {
    #[hdl_gen]
    fn update(&mut self) {
        self.mixed.next = self.remote_ip.val()
            ^ ((bit_cast::<32, 16>(self.remote_port.val()) << 16) | bit_cast::<32, 16>(self.local_port.val()));
        self.hash.next = self.mixed.val().get_bits::<16>(16) ^ self.mixed.val().get_bits::<16>(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    #[test]
    fn tuple_hash_block_is_the_register_maps_function() {
        let mut uut = TupleHash::default();
        uut.connect_all();
        let mut rng = SmallRng::seed_from_u64(0x7e57_4a54);
        for _ in 0..500 {
            let (ip, rport, lport): (u32, u16, u16) = (rng.gen(), rng.gen(), rng.gen());
            uut.remote_ip.next = u64::from(ip).into();
            uut.remote_port.next = u64::from(rport).into();
            uut.local_port.next = u64::from(lport).into();
            assert!(simulate(&mut uut, 100));
            assert_eq!(uut.hash.val().index(), usize::from(holdback_regmap::conn_hash(ip, rport, lport)), "{ip:#x} {rport} {lport}");
        }
    }
}
