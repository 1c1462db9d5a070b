//! The driver's card-role calls (standby, promotion) on the cycle-exact Verilated core:
//! epoch, hold-synack, and `promote`, which waits for PROMOTE.done; a
//! replicated TCB installed in standby resumes from its released point R
//! (invariant 3) in the new epoch, after a gratuitous ARP.
#![cfg(feature = "sim")]

use std::net::Ipv4Addr;
use std::time::Duration;

use holdback_driver::regmap::TcpState;
use holdback_driver::{CardError, CardHandle, CardSettings, CookieKeys, CoreSimBar, SeqNum, Tcb};
use holdback_sim::core_sim::CoreSim;
use holdback_sim::wire::{Frame, FrameBody, MacAddr};

const MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x03];
const IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

fn standby_card() -> CardHandle<CoreSimBar> {
    let h = CardHandle::open(CoreSimBar::new(CoreSim::new().expect("core builds"))).expect("ID block accepted");
    let host_memory = h.bar().with_sim(|s| s.host_memory());
    h.attach_host_memory(&host_memory, 4096).expect("host memory");
    h.configure(&CardSettings { mac: MacAddr(MAC), ip: IP, listen_ports: vec![5001], holdback: true, port_holdback: Vec::new(), our_mss: 1460, rto_us: 3000, reassembly: false, sack: false, timestamps: false, syn_cookies: None, cookie_keys: CookieKeys::default() })
        .expect("configure");
    h.set_standby(true).expect("standby");
    h.enable().expect("enable");
    h
}

/// What a primary would have replicated: ESTABLISHED, 5000 bytes received,
/// 3000 of them released (R), A = R - 1000 (invariant 2: R ≥ A).
fn replicated(irs: u32) -> Tcb {
    let irs = SeqNum(irs);
    Tcb {
        state: TcpState::Established,
        holdback: true,
        peer_mss: 1460,
        local_port: 5001,
        remote_port: 40001,
        remote_ip: Ipv4Addr::new(198, 18, 0, 1),
        remote_mac_lo: 0x0000_0001,
        remote_mac_hi: 0x0200,
        peer_link: 0xFFFF,
        irs,
        rcv_nxt: irs + 5001,
        rel: irs + 3001,
        rcv_adv: irs + 2001 + 8192,
        ack_sent: irs + 2001,
        iss: SeqNum(100),
        snd_una: SeqNum(101),
        snd_nxt: SeqNum(101),
        snd_max: SeqNum(101),
        snd_wnd: 64240,
        timer_due: 0xDEAD_BEEF,
        gen: 41,
        epoch: 5,
        ..Tcb::closed()
    }
}

#[test]
fn promote_resumes_a_replicated_tcb_from_r_in_the_new_epoch() {
    let h = standby_card();
    h.set_epoch(5).expect("epoch");
    assert_eq!(h.epoch().expect("read epoch"), 5);
    // The wrapping edge: R = irs + 3001 crosses 2^32.
    let t = replicated(0xFFFF_F000);
    h.write_tcb(7, &t).expect("TCB write in standby");
    assert_eq!(h.read_tcb(7).expect("read back"), t);
    assert_eq!(h.tcb(7).expect("mirror"), t, "the host's own write is in the mirror");

    let report = h.promote(6, true, Duration::from_secs(10)).expect("promote");
    assert_eq!(report.epoch, 6);
    assert_eq!(h.epoch().expect("epoch"), 6);
    let ctrl = h.ctrl().expect("ctrl");
    assert!(!ctrl.standby && ctrl.dup_acks && ctrl.enabled);
    assert!(h.promotion().expect("promotion").done);
    let after = h.read_tcb(7).expect("read");
    assert_eq!(after.rcv_nxt, t.rel, "invariant 3: rcv_nxt := R");
    assert_eq!(after.ack_sent, t.rel);
    assert_eq!(after.epoch, 6);
    assert!(after.rcv_adv >= t.rcv_adv, "invariant 5: right edge never moves left");
    assert_eq!(after.gen, t.gen + 1);
    // The walk's write-back reaches the host as an event record: the
    // mirror a promoted daemon seeds its new replication link from.
    let changed = h.settle_events(Duration::from_secs(5)).expect("the event queue settles");
    assert!(changed.contains(&7), "{changed:?}");
    assert_eq!(h.tcb(7).expect("mirror"), after);

    // On the wire: the gratuitous ARP, then one ACK at R and three duplicates.
    let frames: Vec<Vec<u8>> = h.bar().with_sim(|s| {
        s.run(2000);
        std::iter::from_fn(|| s.pop_tx_frame()).collect()
    });
    assert_eq!(frames.len(), 5, "ARP + 4 ACKs");
    match Frame::parse(&frames[0]).expect("parses").body {
        FrameBody::Arp(a) => assert_eq!((a.sha, a.spa, a.tpa), (MacAddr(MAC), IP, IP)),
        other => panic!("first frame is not the gratuitous ARP: {other:?}"),
    }
    for f in &frames[1..] {
        assert_eq!(f, &frames[1], "duplicates are identical");
        let frame = Frame::parse(f).expect("parses");
        let (_, tcp, _) = frame.tcp().expect("TCP");
        assert_eq!(tcp.ack.0, t.rel.0, "ACK at R (A ≤ R, invariant 1)");
    }

    // Active now: another promotion is refused before touching the card.
    match h.promote(7, false, Duration::from_secs(1)) {
        Err(CardError::PromoteNotStandby { epoch: 7, .. }) => {}
        other => panic!("promote on an active card: {other:?}"),
    }
    assert_eq!(h.epoch().expect("epoch"), 6);
}

#[test]
fn hold_synack_is_a_ctrl_bit_and_epoch_reads_back() {
    let h = standby_card();
    h.set_hold_synack(true).expect("on");
    assert!(h.ctrl().expect("ctrl").hold_synack);
    h.set_hold_synack(false).expect("off");
    assert!(!h.ctrl().expect("ctrl").hold_synack);
    h.set_epoch(u32::MAX).expect("epoch");
    assert_eq!(h.epoch().expect("epoch"), u32::MAX);
    // Disabled standby card: PROMOTE would be ignored, so the driver refuses.
    h.disable().expect("disable");
    assert!(matches!(h.promote(1, false, Duration::from_millis(10)), Err(CardError::PromoteNotStandby { .. })));
}
