//! The SYN cookie registers on the whole core (docs/syn-cookies.md): SYN_COOKIES
//! keeps bit31 and bits 15:0 of what the host wrote and starts off, the
//! COOKIE_KEY words are secrets that read 0 whatever was written, and
//! HALF_OPEN reads 0 on a core with no connections.
use holdback_regmap as map;
use holdback_sim::core_sim::CoreSim;

#[test]
fn cookie_registers_read_back_and_keys_read_zero() {
    let mut sim = CoreSim::new().unwrap_or_else(|e| panic!("CoreSim::new: {e}"));
    let read = |sim: &mut CoreSim, r: map::Reg| sim.reg_read(r.offset).unwrap_or_else(|e| panic!("read {}: {e}", r.name));
    assert_eq!(read(&mut sim, map::SYN_COOKIES), 0, "cookies start off");
    assert_eq!(read(&mut sim, map::HALF_OPEN), 0, "an idle core has no half-open TCB");

    // Bits 30:16 do not exist: they are not stored.
    sim.reg_write(map::SYN_COOKIES.offset, 0xFFFF_FFFF).expect("SYN_COOKIES write");
    assert_eq!(read(&mut sim, map::SYN_COOKIES), 0x8000_FFFF);
    sim.reg_write(map::SYN_COOKIES.offset, 0x8000_0040).expect("SYN_COOKIES write");
    assert_eq!(read(&mut sim, map::SYN_COOKIES), 0x8000_0040);
    sim.reg_write(map::SYN_COOKIES.offset, 0x0000_0007).expect("SYN_COOKIES write");
    assert_eq!(read(&mut sim, map::SYN_COOKIES), 0x0000_0007, "off keeps the threshold");

    let keys = map::COOKIE_KEYS;
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(read(&mut sim, *k), 0, "{} before a write", k.name);
        sim.reg_write(k.offset, 0xA5A5_0000 | i as u32).unwrap_or_else(|e| panic!("{} write: {e}", k.name));
    }
    for k in keys {
        assert_eq!(read(&mut sim, k), 0, "{} reads 0 after a write", k.name);
    }
    // The key writes landed nowhere else: the neighbours keep their values.
    assert_eq!(read(&mut sim, map::SYN_COOKIES), 0x0000_0007);
    assert_eq!(read(&mut sim, map::HALF_OPEN), 0);
    assert_eq!(read(&mut sim, map::HOST_STATUS), 0);
}
