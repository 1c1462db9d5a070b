//! The card's lease register (`LEASE_UNTIL_US`, docs/authority.md) on the
//! Verilated core: with no lease (0) the card answers as before; while
//! NOW_US is before the lease it answers; from the lease's time on it is
//! as silent as a standby — no SYN-ACK, no ARP reply, nothing at all —
//! without any host action, and a later lease written by the host lets it
//! speak again. A hung host therefore cannot leave its card answering.
//!
//! Needs verilator (the sim crate's build verilates the core).
use holdback_regmap as map;
use holdback_regmap::Stat;
use holdback_sim::core_sim::CoreSim;
use holdback_sim::wire::{self, Endpoint, MacAddr, SeqNum, TcpFlags, TcpRepr};
use std::net::Ipv4Addr;

const CORE: Endpoint = Endpoint { mac: MacAddr([0x02, 0, 0x5e, 0, 0, 2]), ip: Ipv4Addr::new(198, 18, 0, 2) };
const PEER: Endpoint = Endpoint { mac: MacAddr([0x02, 0, 0x5e, 0, 0, 9]), ip: Ipv4Addr::new(198, 18, 0, 9) };
const PORT: u16 = 5001;

fn card() -> CoreSim {
    let mut sim = CoreSim::new().expect("core model (needs verilator: apt-get install verilator)");
    sim.reg_write(map::MAC_HI.offset, 0x0200).unwrap();
    sim.reg_write(map::MAC_LO.offset, 0x5e00_0002).unwrap();
    sim.reg_write(map::IPV4_ADDR.offset, u32::from(CORE.ip)).unwrap();
    sim.reg_write(map::LISTEN0.offset, map::LISTEN_ENABLE | u32::from(PORT)).unwrap();
    sim.reg_write(map::CTRL.offset, map::CTRL_ENABLE).unwrap();
    sim
}

/// A SYN from `src_port`: what the card sends back (nothing, or the frames).
fn syn(sim: &mut CoreSim, src_port: u16) -> Vec<Vec<u8>> {
    let syn = TcpRepr::new(src_port, PORT, SeqNum(100), SeqNum(0), TcpFlags::SYN, 64240).with_mss(1460);
    sim.push_frame(&wire::tcp_frame(PEER, CORE, &syn, &[]));
    sim.run_until_idle(10_000).expect("settles");
    std::iter::from_fn(|| sim.pop_tx_frame()).collect()
}

fn arp(sim: &mut CoreSim) -> usize {
    sim.push_frame(&wire::arp_request(PEER, CORE.ip));
    sim.run_until_idle(10_000).expect("settles");
    std::iter::from_fn(|| sim.pop_tx_frame()).count()
}

fn now(sim: &mut CoreSim) -> u32 {
    sim.reg_read(map::NOW_US.offset).unwrap()
}

fn is_syn_ack(frames: &[Vec<u8>]) -> bool {
    frames.len() == 1
        && wire::Frame::parse(&frames[0]).ok().and_then(|f| f.tcp().map(|(_, t, _)| t.flags)) == Some(TcpFlags::SYN | TcpFlags::ACK)
}

#[test]
fn a_card_falls_silent_when_its_lease_runs_out_and_speaks_again_when_renewed() {
    let mut sim = card();
    assert_eq!(sim.reg_read(map::LEASE_UNTIL_US.offset).unwrap(), 0, "no lease after reset: the check is off");
    assert!(is_syn_ack(&syn(&mut sim, 40000)), "without a lease the card answers");

    sim.advance_us(5_000);
    sim.run(100);
    let until = now(&mut sim) + 1_000;
    sim.reg_write(map::LEASE_UNTIL_US.offset, until).unwrap();
    assert_eq!(sim.reg_read(map::LEASE_UNTIL_US.offset).unwrap(), until);
    assert!(is_syn_ack(&syn(&mut sim, 40001)), "before the lease's end the card answers");
    assert_eq!(arp(&mut sim), 1, "and answers ARP");

    // The host writes nothing more: its card goes quiet on its own.
    sim.advance_us(1_000);
    sim.run(100);
    assert!(now(&mut sim) >= until);
    let tx_before = sim.reg_read(Stat::TxFrames.offset()).unwrap();
    assert!(syn(&mut sim, 40002).is_empty(), "past its lease the card sends no SYN-ACK");
    assert_eq!(arp(&mut sim), 0, "nor an ARP reply");
    // The established connections' timers are stopped too: a long wait sends nothing.
    sim.advance_us(1_000_000);
    sim.run(2_000);
    assert_eq!(std::iter::from_fn(|| sim.pop_tx_frame()).count(), 0, "no retransmission of the SYN-ACKs");
    assert_eq!(sim.reg_read(Stat::TxFrames.offset()).unwrap(), tx_before, "TX counter stands still");
    assert_eq!(sim.reg_read(map::CTRL.offset).unwrap() & map::CTRL_STANDBY, 0, "CTRL is the host's: the lease does not write it");

    // A later lease lets it speak again.
    let until = now(&mut sim) + 1_000;
    sim.reg_write(map::LEASE_UNTIL_US.offset, until).unwrap();
    assert!(is_syn_ack(&syn(&mut sim, 40003)), "a renewed lease lets the card answer again");

    // Lease 0 turns the check off.
    sim.advance_us(2_000);
    sim.run(100);
    assert!(syn(&mut sim, 40004).is_empty(), "the renewed lease ran out too");
    sim.reg_write(map::LEASE_UNTIL_US.offset, 0).unwrap();
    assert!(is_syn_ack(&syn(&mut sim, 40005)), "lease 0: no check");
}
