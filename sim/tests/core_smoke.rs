//! Smoke test of the whole Verilated core: ID block, then a SYN answered by a
//! SYN-ACK, with the stats that explain what happened printed on failure.
use holdback_regmap as map;
use holdback_regmap::Stat;
use holdback_sim::core_sim::CoreSim;
use holdback_sim::wire::{self, Endpoint, MacAddr, SeqNum, TcpFlags, TcpRepr};
use std::net::Ipv4Addr;

const CORE: Endpoint = Endpoint { mac: MacAddr([0x02, 0, 0x5e, 0, 0, 2]), ip: Ipv4Addr::new(198, 18, 0, 2) };
const PEER: Endpoint = Endpoint { mac: MacAddr([0x02, 0, 0x5e, 0, 0, 9]), ip: Ipv4Addr::new(198, 18, 0, 9) };

fn stats(sim: &mut CoreSim) -> String {
    Stat::ALL
        .iter()
        .map(|s| (s.name(), sim.reg_read(s.offset()).expect("stat read")))
        .filter(|(_, v)| *v != 0)
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn id_block_then_syn_gets_syn_ack() {
    let mut sim = CoreSim::new().expect("core model (needs verilator: apt-get install verilator)");
    assert_eq!(sim.reg_read(map::ID_MAGIC.offset).unwrap(), map::MAGIC);
    assert_eq!(sim.reg_read(map::ID_CONNS.offset).unwrap(), map::CoreParams::DEFAULT.conns() as u32, "the ID block reports the generated N");
    sim.reg_write(map::MAC_HI.offset, 0x0200).unwrap();
    sim.reg_write(map::MAC_LO.offset, 0x5e00_0002).unwrap();
    sim.reg_write(map::IPV4_ADDR.offset, u32::from(CORE.ip)).unwrap();
    sim.reg_write(map::LISTEN0.offset, map::LISTEN_ENABLE | 5001).unwrap();
    sim.reg_write(map::CTRL.offset, map::CTRL_ENABLE).unwrap();
    assert_eq!(sim.reg_read(map::LISTEN0.offset).unwrap(), map::LISTEN_ENABLE | 5001);
    let syn = TcpRepr::new(40000, 5001, SeqNum(100), SeqNum(0), TcpFlags::SYN, 64240).with_mss(1460);
    sim.push_frame(&wire::tcp_frame(PEER, CORE, &syn, &[]));
    sim.run_until_idle(10_000).expect("settles");
    let f = sim.pop_tx_frame().unwrap_or_else(|| panic!("no SYN-ACK; stats: {}", stats(&mut sim)));
    let parsed = wire::Frame::parse(&f).expect("the SYN-ACK parses");
    let (_, tcp, payload) = parsed.tcp().expect("a TCP segment");
    assert_eq!((tcp.src_port, tcp.dst_port), (5001, 40000));
    assert_eq!(tcp.flags, TcpFlags::SYN | TcpFlags::ACK);
    assert_eq!(tcp.ack, SeqNum(101), "acks the SYN");
    assert_eq!(tcp.mss(), Some(1460));
    assert!(payload.is_empty());
    assert_eq!(sim.reg_read(Stat::RxFrames.offset()).unwrap(), 1, "{}", stats(&mut sim));
    assert_eq!(sim.reg_read(Stat::TxFrames.offset()).unwrap(), 1, "{}", stats(&mut sim));
    assert_eq!(sim.reg_read(Stat::ConnsOpened.offset()).unwrap(), 1);
    assert_eq!(sim.reg_read(map::STATUS.offset).unwrap(), 1 << 16 | 1, "one connection open, idle");
    // Past the stats block the bus answers like an unmapped PCIe read.
    assert_eq!(sim.reg_read(map::STATS_BASE + 4 * Stat::COUNT as u32).unwrap(), u32::MAX);
}
