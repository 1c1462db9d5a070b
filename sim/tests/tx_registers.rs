//! The transmit-ring registers on the whole core: TX_RING_BASE keeps the page
//! address the host wrote (low 12 bits read as 0), TX_RING_LOG2 starts at its
//! default and refuses sizes outside 4 KiB..64 KiB, like RX_RING_LOG2.
use holdback_regmap as map;
use holdback_sim::core_sim::CoreSim;

#[test]
fn tx_ring_registers_read_back_and_refuse_bad_sizes() {
    let mut sim = CoreSim::new().unwrap_or_else(|e| panic!("CoreSim::new: {e}"));
    let read = |sim: &mut CoreSim, r: map::Reg| sim.reg_read(r.offset).unwrap_or_else(|e| panic!("read {}: {e}", r.name));
    assert_eq!(read(&mut sim, map::TX_RING_LOG2), map::TX_RING_LOG2_DEFAULT);
    sim.reg_write(map::TX_RING_BASE_LO.offset, 0x1234_5FFF).expect("TX_RING_BASE_LO write");
    sim.reg_write(map::TX_RING_BASE_HI.offset, 0x0000_00AB).expect("TX_RING_BASE_HI write");
    assert_eq!(read(&mut sim, map::TX_RING_BASE_LO), 0x1234_5000, "page aligned: bits 11:0 are not stored");
    assert_eq!(read(&mut sim, map::TX_RING_BASE_HI), 0xAB);
    for refused in [0, map::TX_RING_LOG2_MIN - 1, map::TX_RING_LOG2_MAX + 1, 0xFFFF_FFFF] {
        sim.reg_write(map::TX_RING_LOG2.offset, refused).expect("TX_RING_LOG2 write");
        assert_eq!(read(&mut sim, map::TX_RING_LOG2), map::TX_RING_LOG2_DEFAULT, "{refused} must be refused");
    }
    sim.reg_write(map::TX_RING_LOG2.offset, map::TX_RING_LOG2_MIN).expect("TX_RING_LOG2 write");
    assert_eq!(read(&mut sim, map::TX_RING_LOG2), map::TX_RING_LOG2_MIN);
    // The receive ring's registers are separate ones.
    assert_eq!(read(&mut sim, map::RX_RING_LOG2), map::RX_RING_LOG2_DEFAULT);
    assert_eq!(read(&mut sim, map::RX_RING_BASE_LO), 0);
}
