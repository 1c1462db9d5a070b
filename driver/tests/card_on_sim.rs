//! The typed layer over the Verilated card (feature `sim`): the same calls
//! as `card_on_membar.rs`, answered by the RTL's register bus.
#![cfg(feature = "sim")]

use std::net::Ipv4Addr;

use holdback_driver::regmap::{self, CoreParams, Stat};
use holdback_driver::{CardHandle, CardSettings, CookieKeys, MacAddr, SimBar, Tcb};
use holdback_sim::card::{Card, CardConfig};

fn start() -> (Card, CardHandle<SimBar>) {
    // The default window holds N receive rings of 64 KiB and the event
    // ring; the driver puts N transmit rings as large beside them.
    let host_mem_bytes = holdback_sim::host_mem::DEFAULT_HOST_MEM_BYTES
        + holdback_driver::regmap::CoreParams::DEFAULT.conns() * holdback_driver::DEFAULT_RX_RING_BYTES as usize;
    let card = Card::start(CardConfig { host_mem_bytes, ..CardConfig::default() }).expect("simulated card starts");
    let handle = CardHandle::open(SimBar::new(card.regs())).expect("the RTL's ID block is accepted");
    handle.attach_host_memory(&card.host_memory(), holdback_driver::DEFAULT_RX_RING_BYTES).expect("host memory attaches");
    (card, handle)
}

#[test]
fn rtl_id_block_matches_the_regmap() {
    let (card, h) = start();
    let p = CoreParams::DEFAULT;
    assert_eq!(h.info().version, regmap::VERSION);
    assert_eq!(h.info().conns as usize, p.conns());
    assert_eq!(h.info().ring_bytes, 1 << regmap::RX_RING_LOG2_MAX);
    assert!(h.info().eq_entries >= h.info().conns);
    assert_eq!(h.info().tcb_words as usize, regmap::TCB_WORDS);
    card.shutdown().expect("clean shutdown");
}

#[test]
fn configure_enable_and_read_back_on_the_rtl() {
    let (card, h) = start();
    let settings = CardSettings {
        mac: MacAddr([0x02, 0x00, 0xC6, 0x12, 0x00, 0x02]),
        ip: Ipv4Addr::new(198, 18, 0, 2),
        listen_ports: vec![5001, 5002, 5003, 5004],
        holdback: true,
        port_holdback: Vec::new(),
        our_mss: 1460,
        rto_us: 200_000,
        reassembly: false,
        sack: false,
        timestamps: false,
        syn_cookies: None,
        cookie_keys: CookieKeys::default(),
    };
    // configure() reads every register back, so this checks the RTL keeps them.
    h.configure(&settings).expect("configure");
    // The timestamp clock starts at the host's wall clock (invariant 7, docs/failover.md).
    let off = holdback_driver::card::wall_clock_ts_ticks().wrapping_sub(h.ts_clock().expect("TS_CLOCK")) as i32;
    assert!(off.unsigned_abs() < 1_000, "TS_CLOCK is {off} ticks off the wall clock after configure");
    h.enable().expect("enable");
    let st = h.status().expect("status");
    assert!(st.ctrl.enabled && st.ctrl.holdback && !st.ctrl.standby);
    assert_eq!(st.open_conns, 0);
    assert_eq!(h.our_ip().unwrap(), settings.ip);
    let stats = h.stats().expect("stats");
    assert_eq!(stats.get(Stat::DropTcbFull), 0);
    for id in 0..h.info().conns as u16 {
        assert_eq!(h.read_tcb(id).expect("TCB"), Tcb::closed(), "TCB {id} not free at reset");
    }
    assert_eq!(h.poll_events().expect("events"), Vec::<u16>::new());
    assert!(h.open_connections().expect("mirror").is_empty());
    let mut buf = vec![0u8; 13];
    h.read_ring(1, h.rx_ring_bytes().unwrap() as u64 - 5, &mut buf).expect("ring read across the wrap");
    card.shutdown().expect("clean shutdown");
}

#[test]
fn typed_layer_over_the_cycle_exact_core() {
    use holdback_driver::CoreSimBar;
    use holdback_sim::core_sim::CoreSim;
    let h = CardHandle::open(CoreSimBar::new(CoreSim::new().expect("core builds"))).expect("ID block accepted");
    assert_eq!(h.info().conns as usize, CoreParams::DEFAULT.conns());
    h.configure(&CardSettings {
        mac: MacAddr([0x02, 0, 0, 0, 0, 0x02]),
        ip: Ipv4Addr::new(198, 18, 0, 2),
        listen_ports: vec![5001],
        holdback: false,
        port_holdback: Vec::new(),
        our_mss: 1460,
        rto_us: 1000,
        reassembly: false,
        sack: false,
        timestamps: false,
        syn_cookies: None,
        cookie_keys: CookieKeys::default(),
    })
    .expect("configure");
    h.enable().expect("enable");
    let now0 = h.status().unwrap().now_us;
    h.bar().with_sim(|s| {
        s.advance_us(500);
        s.run(2000);
    });
    let now1 = h.status().unwrap().now_us;
    assert!(now1.wrapping_sub(now0) >= 500, "NOW_US follows tick_us: {now0} -> {now1}");
    assert_eq!(h.stats().unwrap().get(Stat::RxFrames), 0);
}
