//! The simulated card on a real TAP inside a throwaway network namespace:
//! frames the kernel sends (ARP for the card's address) reach the core, the
//! register port works while the clock thread runs, pcap records the port.
//! Needs root (netns + TAP); fails saying so otherwise.
#[path = "common/netns.rs"]
mod netns;

use std::{
    process::Command,
    time::{Duration, Instant},
};

use holdback_regmap::Stat;
use holdback_sim::card::{Card, CardConfig, TapSpec};
use netns::{ip, require_root_and_ip, Netns};

#[test]
fn kernel_frames_reach_the_card_through_the_tap() {
    require_root_and_ip("card_tap");
    let ns = Netns::new("hbsim");
    let pcap = std::env::temp_dir().join(format!("{}.pcap", ns.0));
    let card = Card::start(CardConfig {
        tap: Some(TapSpec { name: "hbtap0".into(), netns: Some(ns.0.clone()) }),
        pcap: Some(pcap.clone()),
        vcd: None,
        impair: None,
        ..CardConfig::default()
    })
    .unwrap_or_else(|e| panic!("Card::start: {e}"));
    assert_eq!(card.tap_name(), Some("hbtap0"));
    let regs = card.regs();
    assert_eq!(regs.read32(holdback_regmap::ID_MAGIC.offset).expect("ID_MAGIC"), holdback_regmap::MAGIC);

    // Disable IPv6 so the only frames are the ARP requests we provoke.
    let _ = Command::new("ip")
        .args(["netns", "exec", &ns.0, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"])
        .status();
    ip(&["-n", &ns.0, "addr", "add", "198.18.0.1/24", "dev", "hbtap0"]);
    ip(&["-n", &ns.0, "link", "set", "hbtap0", "up"]);
    let rx_frames = Stat::RxFrames.offset();
    let before = regs.read32(rx_frames).expect("RxFrames");
    // Nobody answers (the core is not configured): the kernel keeps ARPing for 198.18.0.2.
    let _ = Command::new("ip")
        .args(["netns", "exec", &ns.0, "ping", "-c", "2", "-i", "0.3", "-W", "1", "198.18.0.2"])
        .output();
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut after = before;
    while Instant::now() < deadline {
        after = regs.read32(rx_frames).expect("RxFrames");
        if after > before {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let report = card.shutdown().unwrap_or_else(|e| panic!("shutdown: {e}"));
    eprintln!("{report:?}");
    assert!(after > before, "RxFrames stayed at {before}; report {report:?}");
    assert!(report.frames_in >= 1, "{report:?}");
    // The clock followed the wall: at least the 0.3 s between the pings.
    assert!(report.sim_us >= 300_000, "sim_us {} over {:?}", report.sim_us, report.wall);
    assert!(report.idle_wall > Duration::ZERO, "the idle core should have slept: {report:?}");

    let frames = holdback_sim::pcap::read_all(&pcap).unwrap_or_else(|e| panic!("{e}"));
    let _ = std::fs::remove_file(&pcap);
    let arp = frames.iter().find(|(_, f)| f.len() >= 42 && f[12..14] == [0x08, 0x06]);
    let (_, arp) = arp.unwrap_or_else(|| panic!("no ARP frame in the pcap ({} frames)", frames.len()));
    assert_eq!(&arp[38..42], &[198, 18, 0, 2], "ARP target should be the card's address");
}

#[test]
fn configured_card_answers_arp_and_ping_through_the_tap() {
    require_root_and_ip("card_tap");
    let ns = Netns::new("hbsim");
    let card = Card::start(CardConfig {
        tap: Some(TapSpec { name: "hbtap1".into(), netns: Some(ns.0.clone()) }),
        pcap: None,
        vcd: None,
        impair: None,
        ..CardConfig::default()
    })
    .unwrap_or_else(|e| panic!("Card::start: {e}"));
    let regs = card.regs();
    // 02:00:00:00:00:02 at 198.18.0.2.
    regs.write32(holdback_regmap::MAC_HI.offset, 0x0200).expect("MAC_HI");
    regs.write32(holdback_regmap::MAC_LO.offset, 0x0000_0002).expect("MAC_LO");
    regs.write32(holdback_regmap::IPV4_ADDR.offset, 0xC612_0002).expect("IPV4_ADDR");
    regs.write32(holdback_regmap::CTRL.offset, holdback_regmap::CTRL_ENABLE).expect("CTRL");
    let _ = Command::new("ip")
        .args(["netns", "exec", &ns.0, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"])
        .status();
    ip(&["-n", &ns.0, "addr", "add", "198.18.0.1/24", "dev", "hbtap1"]);
    ip(&["-n", &ns.0, "link", "set", "hbtap1", "up"]);
    let ping = Command::new("ip")
        .args(["netns", "exec", &ns.0, "ping", "-c", "3", "-i", "0.2", "-W", "2", "198.18.0.2"])
        .output()
        .expect("running ping");
    let neigh = Command::new("ip").args(["-n", &ns.0, "neigh", "show", "198.18.0.2"]).output().expect("ip neigh");
    let report = card.shutdown().unwrap_or_else(|e| panic!("shutdown: {e}"));
    let ping_out = String::from_utf8_lossy(&ping.stdout);
    eprintln!("{ping_out}{report:?}");
    assert!(
        String::from_utf8_lossy(&neigh.stdout).contains("02:00:00:00:00:02"),
        "no ARP entry for the card: {}; report {report:?}",
        String::from_utf8_lossy(&neigh.stdout)
    );
    assert!(ping.status.success(), "ping through the card failed:\n{ping_out}\nreport {report:?}");
    assert!(report.frames_out >= 4, "ARP reply + 3 echo replies expected: {report:?}");
}

#[test]
fn register_port_is_shared_across_threads_and_reports_a_stopped_card() {
    let card = Card::start(CardConfig::default()).unwrap_or_else(|e| panic!("Card::start: {e}"));
    let regs = card.regs();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let r = regs.clone();
            std::thread::spawn(move || {
                let mut block = [0u32; 2];
                for _ in 0..50 {
                    r.read_block(holdback_regmap::ID_MAGIC.offset, &mut block).expect("ID block");
                    assert_eq!(block, [holdback_regmap::MAGIC, holdback_regmap::VERSION]);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("reader thread");
    }
    regs.write_block(holdback_regmap::RTO_US.offset, &[250_000]).expect("RTO_US write");
    assert_eq!(regs.read32(holdback_regmap::RTO_US.offset).expect("RTO_US"), 250_000);
    let report = card.shutdown().unwrap_or_else(|e| panic!("shutdown: {e}"));
    assert!(report.reg_ops >= 4 * 50 * 2 + 2, "{report:?}");
    let err = regs.read32(0).expect_err("card is stopped");
    assert!(err.to_string().contains("clock thread is gone"), "{err}");
}
