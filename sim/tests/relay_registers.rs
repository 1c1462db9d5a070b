//! The relay registers on the whole core (docs/relay.md, "Relay slots"):
//! after reset every RELAY_IPn/PORTn/MAC_HIn/MAC_LOn reads 0 and
//! RELAY_CONNECT_US reads 3 000 000; each reads back what was written, minus
//! the bits it does not have (RELAY_PORTn keeps bits 16:0, RELAY_MAC_HIn bits
//! 15:0); a write lands in its own register only (no other slot, nor the
//! LISTEN registers, moves); the block claims only its 17 word addresses.
//! And the lockstep harness's `set_relay` / `set_relay_connect_us`, which
//! write them and the model's `Config::relay` from the same call.
//!
//! Needs verilator (the sim crate's build verilates the core): install with
//! `apt-get install verilator`.
use std::net::Ipv4Addr;

use holdback_regmap::{self as map, CoreParams};
use holdback_sim::core_sim::CoreSim;
use holdback_sim::refmodel::lockstep::{test_mac, Lockstep, LockstepError};
use holdback_sim::refmodel::{Config, RelayBackend};
use holdback_sim::wire::MacAddr;

/// Every relay register, slot by slot, then RELAY_CONNECT_US; with the bits
/// each one stores.
fn relay_registers() -> Vec<(map::Reg, u32)> {
    let port_mask = (1u32 << map::RELAY_PORT_BITS) - 1;
    let mut regs: Vec<(map::Reg, u32)> = map::RELAY_SLOTS
        .iter()
        .flat_map(|s| [(s.ip, u32::MAX), (s.port, port_mask), (s.mac_hi, 0xFFFF), (s.mac_lo, u32::MAX)])
        .collect();
    regs.push((map::RELAY_CONNECT_US, u32::MAX));
    regs
}

fn read(sim: &mut CoreSim, r: map::Reg) -> u32 {
    sim.reg_read(r.offset).unwrap_or_else(|e| panic!("read {}: {e}", r.name))
}

fn write(sim: &mut CoreSim, r: map::Reg, v: u32) {
    sim.reg_write(r.offset, v).unwrap_or_else(|e| panic!("write {}: {e}", r.name));
}

/// Every relay register reads what `want` says (same order as `relay_registers`).
fn check_all(sim: &mut CoreSim, regs: &[(map::Reg, u32)], want: &[u32], after: &str) {
    for ((r, _), w) in regs.iter().zip(want) {
        assert_eq!(read(sim, *r), *w, "{} after {after}", r.name);
    }
}

#[test]
fn relay_registers_reset_read_back_and_keep_to_their_slot() {
    let mut sim = CoreSim::new().unwrap_or_else(|e| panic!("CoreSim::new: {e}"));
    let regs = relay_registers();
    assert_eq!(regs.len(), 17);

    // Reset values: relaying off everywhere, the 3 s connect timeout.
    let mut want: Vec<u32> = regs.iter().map(|(r, _)| if *r == map::RELAY_CONNECT_US { map::RELAY_CONNECT_US_DEFAULT } else { 0 }).collect();
    assert_eq!(want.last(), Some(&3_000_000));
    check_all(&mut sim, &regs, &want, "reset");

    // One register at a time, a value with every bit of the upper half set
    // (RELAY_PORTn and RELAY_MAC_HIn must drop what they do not have) and a
    // lower half of its own; after each write every relay register is read,
    // so a write that spilled into another slot or register shows.
    for (k, (r, mask)) in regs.iter().enumerate() {
        let v = 0xFFFF_0000 | (0x1111 * (k as u32 + 1)) as u16 as u32;
        write(&mut sim, *r, v);
        want[k] = v & mask;
        check_all(&mut sim, &regs, &want, &format!("writing {v:#010x} to {}", r.name));
    }

    // Clearing one slot (the host turning relaying off there) leaves the others.
    let s = map::RELAY_SLOTS[2];
    for r in [s.ip, s.port, s.mac_hi, s.mac_lo] {
        write(&mut sim, r, 0);
        let k = regs.iter().position(|(x, _)| *x == r).expect("a relay register");
        want[k] = 0;
    }
    check_all(&mut sim, &regs, &want, "clearing slot 2");

    // The backend's port with and without the enable bit (RELAY_ENABLE).
    write(&mut sim, map::RELAY_PORT1, map::RELAY_ENABLE | 8080);
    assert_eq!(read(&mut sim, map::RELAY_PORT1), map::RELAY_ENABLE | 8080);
    write(&mut sim, map::RELAY_PORT1, 8080);
    assert_eq!(read(&mut sim, map::RELAY_PORT1), 8080);

    // The block answers only its own word addresses: the bytes between them,
    // the words around the group are not relay registers.
    for addr in [map::RELAY_IP0.offset + 1, map::RELAY_MAC_LO3.offset + 2, map::RELAY_CONNECT_US.offset + 4] {
        assert_eq!(sim.reg_read(addr).unwrap_or_else(|e| panic!("read {addr:#x}: {e}")), u32::MAX, "{addr:#x} reads as unmapped");
    }
    // Writes there go nowhere.
    sim.reg_write(map::RELAY_IP0.offset + 1, 0x1234_5678).expect("write");
    sim.reg_write(map::RELAY_CONNECT_US.offset + 4, 0x1234_5678).expect("write");
    want[regs.iter().position(|(x, _)| *x == map::RELAY_PORT1).expect("a relay register")] = 8080;
    check_all(&mut sim, &regs, &want, "writes to unmapped neighbours");
    // The LISTEN registers, whose slots these are, did not move.
    for l in map::LISTEN_SLOTS {
        assert_eq!(read(&mut sim, l), 0, "{} after the relay writes", l.name);
    }
}

/// The core's four relay registers of `slot`: ip, port, mac_hi, mac_lo.
fn slot_values(ls: &mut Lockstep<CoreSim>, slot: usize) -> [u32; 4] {
    let s = map::RELAY_SLOTS[slot];
    [s.ip, s.port, s.mac_hi, s.mac_lo].map(|r| ls.dut.reg_read(r.offset).unwrap_or_else(|e| panic!("read {}: {e}", r.name)))
}

#[test]
fn lockstep_set_relay_writes_the_slot_and_the_model() {
    const PORTS: [u16; 2] = [8080, 8443];
    let core = CoreSim::new().unwrap_or_else(|e| panic!("CoreSim::new: {e}"));
    let cfg = Config::new(&CoreParams::DEFAULT, MacAddr([0x02, 0, 0x5e, 0, 0, 2]), Ipv4Addr::new(198, 18, 0, 2), &PORTS, 1460, 3000);
    let mut ls = Lockstep::new(core, cfg).unwrap_or_else(|e| panic!("configure: {e}"));
    for slot in 0..map::RELAY_SLOTS.len() {
        assert_eq!(slot_values(&mut ls, slot), [0; 4], "slot {slot} relays nothing at the start");
    }

    let backend = RelayBackend { ip: Ipv4Addr::new(198, 19, 0, 10), port: 80, next_hop: test_mac(0x1234) };
    ls.set_relay(1, Some(backend)).unwrap_or_else(|e| panic!("set_relay: {e}"));
    let [ip, port, mac_hi, mac_lo] = slot_values(&mut ls, 1);
    assert_eq!(ip, u32::from(backend.ip));
    assert_eq!(port, map::RELAY_ENABLE | 80);
    assert_eq!((u64::from(mac_hi) << 32) | u64::from(mac_lo), backend.next_hop.to_u64());
    assert_eq!(ls.model.cfg.relay, vec![(PORTS[1], backend)], "LISTEN1's port relays in the model");
    assert_eq!(slot_values(&mut ls, 0), [0; 4], "slot 0 untouched");

    // A new backend replaces the old one; None stops relaying on both.
    let other = RelayBackend { port: 8000, ..backend };
    ls.set_relay(1, Some(other)).unwrap_or_else(|e| panic!("set_relay: {e}"));
    assert_eq!(ls.model.cfg.relay, vec![(PORTS[1], other)]);
    assert_eq!(slot_values(&mut ls, 1)[1], map::RELAY_ENABLE | 8000);
    ls.set_relay(1, None).unwrap_or_else(|e| panic!("set_relay: {e}"));
    assert!(ls.model.cfg.relay.is_empty());
    assert_eq!(slot_values(&mut ls, 1), [0; 4]);

    // A slot with no listening port in the config cannot relay (the model
    // would not know the port); one past the last slot does not exist.
    for slot in [2, map::RELAY_SLOTS.len()] {
        match ls.set_relay(slot, Some(backend)) {
            Err(LockstepError::RelaySlot { slot: s, .. }) => assert_eq!(s, slot),
            other => panic!("set_relay({slot}) gave {other:?}"),
        }
    }

    ls.set_relay_connect_us(250_000).unwrap_or_else(|e| panic!("set_relay_connect_us: {e}"));
    assert_eq!(ls.model.cfg.relay_connect_us, 250_000);
    assert_eq!(ls.dut.reg_read(map::RELAY_CONNECT_US.offset).expect("read"), 250_000);
}

/// `Lockstep::new` writes the relay slots of the config it starts from.
#[test]
fn lockstep_new_writes_the_configured_relay_slots() {
    let core = CoreSim::new().unwrap_or_else(|e| panic!("CoreSim::new: {e}"));
    let mut cfg = Config::new(&CoreParams::DEFAULT, MacAddr([0x02, 0, 0x5e, 0, 0, 2]), Ipv4Addr::new(198, 18, 0, 2), &[8080], 1460, 3000);
    let backend = RelayBackend { ip: Ipv4Addr::new(198, 19, 0, 10), port: 80, next_hop: test_mac(7) };
    cfg.relay = vec![(8080, backend)];
    cfg.relay_connect_us = 1_000_000;
    let mut ls = Lockstep::new(core, cfg).unwrap_or_else(|e| panic!("configure: {e}"));
    assert_eq!(slot_values(&mut ls, 0)[..2], [u32::from(backend.ip), map::RELAY_ENABLE | 80]);
    assert_eq!(ls.dut.reg_read(map::RELAY_CONNECT_US.offset).expect("read"), 1_000_000);
}
