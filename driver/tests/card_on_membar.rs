//! The typed layer over a memory-backed BAR: every code path of `CardHandle`
//! except the backend itself.
use std::net::Ipv4Addr;

use std::sync::Arc;

use holdback_driver::event_queue::EventRecord;
use holdback_driver::regmap::{self, tcb, CoreParams, Stat, TcpState};
use holdback_driver::{
    Bar, CardError, CardHandle, CardSettings, CookieKeys, DmaMemError, FakeDmaMemory, MacAddr, MemBar, OpenError, PortHoldback, SeqNum, SettingsError,
    Tcb,
};

fn card() -> CardHandle<MemBar> {
    CardHandle::open(MemBar::with_id_block(&CoreParams::DEFAULT)).expect("a well-formed ID block opens")
}

#[test]
fn open_reads_the_generation_parameters() {
    let card = card();
    let p = CoreParams::DEFAULT;
    assert_eq!(card.info().conns as usize, p.conns());
    assert_eq!(card.info().ring_bytes, 1 << regmap::RX_RING_LOG2_MAX, "the largest ring the card supports");
    assert_eq!(card.info().eq_entries as usize, p.conns());
}

#[test]
fn open_refuses_bad_magic_naming_what_it_found() {
    let bar = MemBar::with_id_block(&CoreParams::DEFAULT);
    bar.poke(regmap::ID_MAGIC.offset, 0xDEAD_BEEF);
    let err = CardHandle::open(bar).err().expect("bad magic refused");
    assert!(matches!(err, OpenError::BadMagic { found: 0xDEAD_BEEF, expected: regmap::MAGIC, .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("0xdeadbeef") && msg.contains("0x484c4442"), "{msg}");
}

#[test]
fn open_checks_magic_before_anything_else() {
    // An all-zero BAR (nothing there) must fail on the magic, not on N = 0.
    let err = CardHandle::open(MemBar::new(regmap::TCB_BASE)).err().expect("refused");
    assert!(matches!(err, OpenError::BadMagic { found: 0, .. }), "{err:?}");
}

#[test]
fn open_refuses_other_versions() {
    let bar = MemBar::with_id_block(&CoreParams::DEFAULT);
    bar.poke(regmap::ID_VERSION.offset, regmap::VERSION + 1);
    let err = CardHandle::open(bar).err().expect("refused");
    assert!(matches!(err, OpenError::VersionMismatch { found, expected, .. } if found == regmap::VERSION + 1 && expected == regmap::VERSION));
}

#[test]
fn open_refuses_nonsense_parameters() {
    for (reg, value) in [
        (regmap::ID_CONNS, 0),
        (regmap::ID_CONNS, 48),
        (regmap::ID_RING_BYTES, 3000),
        (regmap::ID_RING_BYTES, 2 << regmap::RX_RING_LOG2_MAX),
        (regmap::ID_TCB_WORDS, regmap::TCB_WORDS as u32 - 1),
        // Fewer records than connections, or not a power of two.
        (regmap::ID_EQ_ENTRIES, CoreParams::DEFAULT.conns() as u32 / 2),
        (regmap::ID_EQ_ENTRIES, 100),
    ] {
        let bar = MemBar::with_id_block(&CoreParams::DEFAULT);
        bar.poke(reg.offset, value);
        match CardHandle::open(bar) {
            Err(OpenError::BadParameter { what, found, .. }) => {
                assert_eq!((what, found), (reg.name, value));
            }
            Err(e) => panic!("{} = {value}: wrong error {e:?}", reg.name),
            Ok(_) => panic!("{} = {value} accepted", reg.name),
        }
    }
}

#[test]
fn open_reports_a_bar_too_small_for_the_id_block() {
    let err = CardHandle::open(MemBar::new(4)).err().expect("refused");
    // Magic read fine (0), so it is the magic that fails: nothing there.
    assert!(matches!(err, OpenError::BadMagic { .. }), "{err:?}");
    let err = CardHandle::open(MemBar::new(0)).err().expect("refused");
    assert!(matches!(err, OpenError::Bar(_)), "{err:?}");
}

fn settings() -> CardSettings {
    CardSettings {
        mac: MacAddr([0x02, 0x00, 0xC6, 0x12, 0x00, 0x02]),
        ip: Ipv4Addr::new(198, 18, 0, 2),
        listen_ports: vec![5001, 5002],
        holdback: true,
        port_holdback: Vec::new(),
        our_mss: 1460,
        rto_us: 200_000,
        reassembly: false,
        sack: false,
        timestamps: false,
        syn_cookies: None,
        cookie_keys: CookieKeys::default(),
    }
}

#[test]
fn configure_programs_every_register_and_enable_keeps_holdback() {
    let card = card();
    card.configure(&settings()).unwrap();
    let bar = card.bar();
    assert_eq!(bar.peek(regmap::MAC_HI.offset), 0x0000_0200);
    assert_eq!(bar.peek(regmap::MAC_LO.offset), 0xC612_0002);
    assert_eq!(bar.peek(regmap::IPV4_ADDR.offset), 0xC612_0002);
    assert_eq!(card.our_ip().unwrap(), Ipv4Addr::new(198, 18, 0, 2));
    assert_eq!(bar.peek(regmap::LISTEN0.offset), regmap::LISTEN_ENABLE | 5001);
    assert_eq!(bar.peek(regmap::LISTEN1.offset), regmap::LISTEN_ENABLE | 5002);
    assert_eq!(bar.peek(regmap::LISTEN2.offset), 0);
    assert_eq!(bar.peek(regmap::LISTEN3.offset), 0);
    assert_eq!(bar.peek(regmap::OUR_MSS.offset), 1460);
    assert_eq!(bar.peek(regmap::RTO_US.offset), 200_000);
    assert_eq!(bar.peek(regmap::CTRL.offset), regmap::CTRL_HOLDBACK);
    card.enable().unwrap();
    assert_eq!(bar.peek(regmap::CTRL.offset), regmap::CTRL_HOLDBACK | regmap::CTRL_ENABLE);
    let ctrl = card.ctrl().unwrap();
    assert!(ctrl.enabled && ctrl.holdback && !ctrl.standby);
    card.configure(&CardSettings { holdback: false, ..settings() }).unwrap();
    assert_eq!(bar.peek(regmap::CTRL.offset), regmap::CTRL_ENABLE);
}

#[test]
fn a_port_with_its_own_holdback_gets_it_in_its_listen_slot() {
    let card = card();
    let s = CardSettings { holdback: false, port_holdback: vec![PortHoldback { port: 5001, holdback: true }], ..settings() };
    card.configure(&s).unwrap();
    let bar = card.bar();
    assert_eq!(bar.peek(regmap::LISTEN0.offset), regmap::LISTEN_ENABLE | regmap::LISTEN_OWN_HOLDBACK | regmap::LISTEN_HOLDBACK | 5001);
    assert_eq!(bar.peek(regmap::LISTEN1.offset), regmap::LISTEN_ENABLE | 5002, "5002 follows CTRL");
    assert_eq!(bar.peek(regmap::CTRL.offset) & regmap::CTRL_HOLDBACK, 0);
    assert!(s.holdback_for(5001) && !s.holdback_for(5002));
    let s = CardSettings { holdback: true, port_holdback: vec![PortHoldback { port: 5002, holdback: false }], ..settings() };
    card.configure(&s).unwrap();
    assert_eq!(bar.peek(regmap::LISTEN0.offset), regmap::LISTEN_ENABLE | 5001);
    assert_eq!(bar.peek(regmap::LISTEN1.offset), regmap::LISTEN_ENABLE | regmap::LISTEN_OWN_HOLDBACK | 5002);
}

#[test]
fn configure_refuses_bad_settings_before_writing() {
    let card = card();
    let cases = [
        (CardSettings { listen_ports: vec![1, 2, 3, 4, 5], ..settings() }, SettingsError::TooManyPorts { count: 5, slots: 4 }),
        (CardSettings { listen_ports: vec![0], ..settings() }, SettingsError::PortZero),
        (CardSettings { listen_ports: vec![7, 7], ..settings() }, SettingsError::DuplicatePort(7)),
        (CardSettings { our_mss: 0, ..settings() }, SettingsError::Mss(0)),
        (CardSettings { rto_us: 0, ..settings() }, SettingsError::RtoZero),
        (
            CardSettings { port_holdback: vec![PortHoldback { port: 6000, holdback: true }], ..settings() },
            SettingsError::HoldbackForUnknownPort(6000),
        ),
        (
            CardSettings {
                port_holdback: vec![PortHoldback { port: 5001, holdback: true }, PortHoldback { port: 5001, holdback: false }],
                ..settings()
            },
            SettingsError::DuplicateHoldback(5001),
        ),
    ];
    for (s, want) in cases {
        match card.configure(&s) {
            Err(CardError::Settings(got)) => assert_eq!(got, want),
            other => panic!("{s:?}: {other:?}"),
        }
    }
    assert_eq!(card.bar().peek(regmap::IPV4_ADDR.offset), 0, "nothing written");
}

/// A BAR whose registers ignore writes, like a card that is not there.
struct DeafBar(MemBar);
impl Bar for DeafBar {
    fn read32(&self, offset: u32) -> Result<u32, holdback_driver::BarError> {
        self.0.read32(offset)
    }
    fn write32(&self, _offset: u32, _value: u32) -> Result<(), holdback_driver::BarError> {
        Ok(())
    }
    fn describe(&self) -> String {
        "deaf".into()
    }
}

#[test]
fn configure_notices_registers_that_do_not_stick() {
    let card = CardHandle::open(DeafBar(MemBar::with_id_block(&CoreParams::DEFAULT))).unwrap();
    match card.configure(&settings()) {
        Err(CardError::NotApplied { reg: "MAC_HI", wrote: 0x200, read: 0 }) => {}
        other => panic!("{other:?}"),
    }
}

fn sample_tcb() -> Tcb {
    Tcb {
        state: TcpState::Established,
        holdback: true,
        peer_mss: 1460,
        local_port: 5001,
        remote_port: 43210,
        remote_ip: Ipv4Addr::new(198, 18, 0, 1),
        irs: SeqNum(0xFFFF_FF00),
        rcv_nxt: SeqNum(0x0000_0400),
        rel: SeqNum(0x0000_0100),
        rcv_adv: SeqNum(0x0000_2100),
        ack_sent: SeqNum(0x0000_0100),
        iss: SeqNum(77),
        snd_una: SeqNum(78),
        snd_nxt: SeqNum(78),
        snd_max: SeqNum(78),
        gen: 9,
        ..Tcb::closed()
    }
}

#[test]
fn read_tcb_decodes_the_window_words() {
    let card = card();
    let t = sample_tcb();
    let id = 5u16;
    for (w, v) in t.encode().unwrap().iter().enumerate() {
        card.bar().poke(regmap::tcb_word_addr(id as u32, w as u32), *v);
    }
    let got = card.read_tcb(id).unwrap();
    assert_eq!(got, t);
    assert_eq!(got.held_back_bytes(), 0x300);
    assert_eq!(card.read_tcb(4).unwrap(), Tcb::closed());
}

#[test]
fn read_tcb_refuses_bad_id_and_bad_state() {
    let card = card();
    let n = card.info().conns as u16;
    assert!(matches!(card.read_tcb(n), Err(CardError::NoSuchConnection { id, .. }) if id == n));
    card.bar().poke(regmap::tcb_word_addr(2, tcb::STATE.word), 0xF);
    let err = card.read_tcb(2).unwrap_err();
    assert!(matches!(err, CardError::Tcb { id: 2, .. }), "{err:?}");
}

#[test]
fn write_tcb_needs_standby_then_round_trips() {
    let card = card();
    let t = sample_tcb();
    assert!(matches!(card.write_tcb(7, &t), Err(CardError::NotStandby { id: 7 })));
    assert_eq!(card.read_tcb(7).unwrap(), Tcb::closed(), "nothing written while active");
    card.set_standby(true).unwrap();
    card.write_tcb(7, &t).unwrap();
    assert_eq!(card.read_tcb(7).unwrap(), t);
    assert_eq!(card.bar().peek(regmap::tcb_word_addr(7, tcb::REL.word)), 0x100);
}

/// IOVA of the fake host memory: page aligned, above 4 GiB so the high
/// base registers matter.
const HOST_IOVA: u64 = 0x1_2345_6000;

/// A card with host memory attached: rings of `ring` bytes in a fake.
fn attached(ring: u32) -> (CardHandle<MemBar>, Arc<FakeDmaMemory>) {
    let card = card();
    let mem = FakeDmaMemory::new(HOST_IOVA, 16 << 20);
    card.attach_host_memory(&mem, ring).expect("attaches");
    (card, mem)
}

/// Writes record `k` of connection `conn` into the event ring as the
/// card's writer would, and moves EQ_PROD past it.
fn card_writes_record(card: &CardHandle<MemBar>, k: u16, conn: u16, tcb: &Tcb) {
    let rings = card.host_rings().unwrap();
    let bytes = EventRecord { conn, tcb: tcb.clone() }.to_bytes(rings.layout().event_ring.phase(k));
    rings.write_event(k, &bytes).unwrap();
    card.bar().poke(regmap::EQ_PROD.offset, k as u32 + 1);
}

#[test]
fn attach_programs_the_rings_and_starts_a_fresh_event_queue() {
    let card = card();
    // A stale consumer count and an enabled queue from an earlier owner.
    card.bar().poke(regmap::EQ_CONS.offset, 77);
    card.bar().poke(regmap::EQ_CTRL.offset, regmap::EQ_CTRL_ENABLE);
    let t = sample_tcb();
    for (w, v) in t.encode().unwrap().iter().enumerate() {
        card.bar().poke(regmap::tcb_word_addr(9, w as u32), *v);
    }
    assert!(matches!(card.open_connections(), Err(CardError::NoHostMemory)));
    let mem = FakeDmaMemory::new(HOST_IOVA, 48 << 20);
    // Dirt where the event ring will be (after N receive and N transmit
    // rings): it must be zeroed before enabling.
    let n = CoreParams::DEFAULT.conns();
    mem_write(&mem, 2 * n * 16384, &[0xFF; 256]);
    card.attach_host_memory(&mem, 16384).unwrap();
    let peek = |r: regmap::Reg| card.bar().peek(r.offset);
    assert_eq!((peek(regmap::RX_RING_BASE_LO), peek(regmap::RX_RING_BASE_HI)), (0x2345_6000, 1));
    assert_eq!(peek(regmap::RX_RING_LOG2), 14);
    let tx = HOST_IOVA + n as u64 * 16384;
    assert_eq!((peek(regmap::TX_RING_BASE_LO), peek(regmap::TX_RING_BASE_HI)), (tx as u32, (tx >> 32) as u32));
    assert_eq!(peek(regmap::TX_RING_LOG2), 14, "transmit rings as large as the receive rings");
    assert_eq!((card.host_rings().unwrap().tx_ring_iova(), card.tx_ring_bytes().unwrap()), (tx, 16384));
    let eq = HOST_IOVA + 2 * n as u64 * 16384;
    assert_eq!((peek(regmap::EQ_BASE_LO), peek(regmap::EQ_BASE_HI)), (eq as u32, (eq >> 32) as u32));
    assert_eq!((peek(regmap::EQ_CONS), peek(regmap::EQ_CTRL)), (0, regmap::EQ_CTRL_ENABLE));
    assert_eq!(card.host_rings().unwrap().event_ring_iova(), eq);
    assert_eq!(card.rx_ring_bytes().unwrap(), 16384);
    let mut ring = [1u8; 256];
    card.host_rings().unwrap().memory().read(2 * n * 16384, &mut ring).unwrap();
    assert!(ring.iter().all(|b| *b == 0), "event ring zeroed");
    // The mirror starts from the window, read while the card was disabled.
    assert_eq!(card.open_connections().unwrap(), vec![(9, t)]);
    assert_eq!(card.poll_events().unwrap(), Vec::<u16>::new(), "a fresh ring is empty");
}

fn mem_write(mem: &FakeDmaMemory, offset: usize, data: &[u8]) {
    holdback_driver::DmaMemory::write(mem, offset, data).unwrap();
}

#[test]
fn attach_refuses_bad_ring_sizes_an_enabled_card_and_too_little_memory() {
    let card = card();
    // N receive and N transmit rings of 8 KiB and the event ring.
    let mem = FakeDmaMemory::new(HOST_IOVA, 17 << 20);
    for bad in [0, 2048, 5000, 2 << regmap::RX_RING_LOG2_MAX] {
        assert!(matches!(card.attach_host_memory(&mem, bad), Err(CardError::RxRingBytes { bytes, .. }) if bytes == bad), "{bad}");
    }
    // Larger than the card's largest ring (its ID block says).
    card.bar().poke(regmap::ID_RING_BYTES.offset, 8192);
    let small = CardHandle::open(card.into_bar()).unwrap();
    assert!(matches!(small.attach_host_memory(&mem, 16384), Err(CardError::RxRingBytes { bytes: 16384, max: 8192 })));
    small.attach_host_memory(&mem, 8192).unwrap();
    let card = self::card();
    card.enable().unwrap();
    assert!(matches!(card.attach_host_memory(&mem, 4096), Err(CardError::AttachWhileEnabled)));
    let card = self::card();
    let tiny = FakeDmaMemory::new(HOST_IOVA, 64 * 4096);
    let err = card.attach_host_memory(&tiny, 4096).unwrap_err();
    assert!(matches!(err, CardError::HostMemory(DmaMemError::TooSmall { .. })), "{err:?}");
    assert!(matches!(card.read_ring(0, 0, &mut [0u8; 4]), Err(CardError::NoHostMemory)));
}

/// The send-tail doorbell: the host fills a connection's transmit ring in
/// host memory, then writes the stream offset it filled up to (mod 2^32)
/// into that connection's TX_TAIL word; bad ids and oversized writes are
/// refused before anything is written.
#[test]
fn write_tx_ring_then_send_tail_rings_the_connections_doorbell() {
    let (card, mem) = attached(4096);
    let data: Vec<u8> = (0..3000u32).map(|i| (i * 11 + 2) as u8).collect();
    // Stream offsets (2^32 + 2000).. of connection 3: past the 32-bit wrap
    // of the tail and across the ring's end.
    let offset = (1u64 << 32) + 2000;
    card.write_tx_ring(3, offset, &data).unwrap();
    let end = offset + data.len() as u64;
    card.send_tail(3, end as u32).unwrap();
    assert_eq!(card.bar().peek(regmap::tx_tail_addr(3)), 5000, "the tail is the stream offset mod 2^32");
    for other in [0, 2, 4] {
        assert_eq!(card.bar().peek(regmap::tx_tail_addr(other)), 0, "connection {other}'s doorbell untouched");
    }
    let layout = card.host_rings().unwrap().layout();
    let ring3 = layout.tx_ring_offset() + 3 * 4096;
    let mut raw = vec![0u8; 4096];
    holdback_driver::DmaMemory::read(&*mem, ring3, &mut raw).unwrap();
    assert_eq!(raw[2000..4096], data[..2096], "up to the ring's end");
    assert_eq!(raw[..904], data[2096..], "then from its start");
    let conns = card.info().conns as u16;
    assert!(matches!(card.send_tail(conns, 1), Err(CardError::NoSuchConnection { .. })));
    assert!(matches!(card.write_tx_ring(conns, 0, &[1]), Err(CardError::NoSuchConnection { .. })));
    assert!(matches!(card.write_tx_ring(0, 0, &[0u8; 4097]), Err(CardError::TxRingWriteTooLong { len: 4097, ring_bytes: 4096, .. })));
}

#[test]
fn event_records_build_the_mirror_and_hand_back_the_consumer_count() {
    let (card, _mem) = attached(4096);
    let entries = card.info().eq_entries as u16;
    let t = sample_tcb();
    // Two laps of the ring, so the phase flips; connection 3 changes often.
    let mut k = 0u16;
    for lap in 0..2u32 {
        let mut ids = Vec::new();
        for i in 0..entries {
            let conn = if i % 2 == 0 { 3 } else { i };
            let tcb = Tcb { gen: lap * 1000 + i as u32, ..t.clone() };
            card_writes_record(&card, k, conn, &tcb);
            k = k.wrapping_add(1);
            ids.push(conn);
            if i == entries / 2 {
                // Half a lap at a time: the rest is not written yet.
                assert_eq!(card.poll_events().unwrap(), ids, "lap {lap}, first half");
                assert_eq!(card.bar().peek(regmap::EQ_CONS.offset), k as u32);
                ids.clear();
            }
        }
        assert_eq!(card.poll_events().unwrap(), ids, "lap {lap}, second half");
        assert_eq!(card.bar().peek(regmap::EQ_CONS.offset), k as u32, "EQ_CONS after lap {lap}");
        assert_eq!(card.tcb(3).unwrap().gen, lap * 1000 + entries as u32 - 2, "the last record of a connection wins");
    }
    assert_eq!(card.poll_events().unwrap(), Vec::<u16>::new());
    assert_eq!(card.tcb(5).unwrap(), Tcb { gen: 1005, ..t.clone() });
    // Connection 3 and every odd one (3 among them).
    assert_eq!(card.open_connections().unwrap().len(), entries as usize / 2);
    assert!(matches!(card.tcb(card.info().conns as u16), Err(CardError::NoSuchConnection { .. })));
}

#[test]
fn a_record_that_does_not_decode_is_skipped_and_the_next_one_taken() {
    let (card, _mem) = attached(4096);
    let rings = card.host_rings().unwrap();
    let mut bad = EventRecord { conn: 4, tcb: sample_tcb() }.to_bytes(true);
    let state_byte = tcb::STATE.bit() / 8;
    bad[state_byte] |= 0xF << (tcb::STATE.bit() % 8);
    rings.write_event(0, &bad).unwrap();
    // A record naming no connection.
    card_writes_record(&card, 1, card.info().conns as u16 + 3, &sample_tcb());
    card_writes_record(&card, 2, 6, &sample_tcb());
    assert_eq!(card.poll_events().unwrap(), vec![6]);
    assert_eq!(card.tcb(4).unwrap(), Tcb::closed(), "the bad record changed nothing");
    assert_eq!(card.bar().peek(regmap::EQ_CONS.offset), 3, "all three consumed");
}

#[test]
fn settle_waits_until_the_card_produced_nothing_more() {
    let (card, _mem) = attached(4096);
    card_writes_record(&card, 0, 2, &sample_tcb());
    assert_eq!(card.settle_events(std::time::Duration::from_millis(100)).unwrap(), vec![2]);
    // EQ_PROD says a record is done that is not in memory: it never settles.
    card.bar().poke(regmap::EQ_PROD.offset, 2);
    let err = card.settle_events(std::time::Duration::from_millis(20)).unwrap_err();
    assert!(matches!(err, CardError::EventQueueUnsettled { produced: 2, consumed: 1, .. }), "{err:?}");
}

#[test]
fn a_standby_hosts_own_tcb_writes_reach_the_mirror() {
    let (card, _mem) = attached(4096);
    card.set_standby(true).unwrap();
    card.write_tcb(11, &sample_tcb()).unwrap();
    assert_eq!(card.open_connections().unwrap(), vec![(11, sample_tcb())]);
}

#[test]
fn ring_read_follows_the_stream_in_host_memory_across_the_wrap() {
    let (card, _mem) = attached(4096);
    let rings = card.host_rings().unwrap();
    let ring = 4096u64;
    let id = 3u16;
    let pattern = |id: u16| -> Vec<u8> { (0..ring as u32).map(|b| (b.wrapping_mul(31) ^ (b >> 8) ^ id as u32) as u8).collect() };
    // Neighbours differ, so a wrong base address shows.
    for n in [2, 3, 4] {
        rings.write_ring(n, 0, &pattern(n)).unwrap();
    }
    let mem = pattern(id);
    let expect = |offset: u64, len: usize| -> Vec<u8> { (0..len as u64).map(|i| mem[((offset + i) % ring) as usize]).collect() };
    let cases: &[(u64, usize)] = &[
        (0, 0),
        (0, 1),
        (1, 2),
        (3, 6),
        (0, ring as usize),
        (5, ring as usize),
        (ring - 5, 13),
        (ring - 1, 1),
        (ring - 3, 3 + 2048 + 2),
        (7 * ring + 10, 100),
        (u32::MAX as u64 + 3, 1000),
    ];
    for &(offset, len) in cases {
        let mut buf = vec![0xAAu8; len];
        card.read_ring(id, offset, &mut buf).unwrap();
        assert_eq!(buf, expect(offset, len), "offset {offset} len {len}");
    }
    let mut buf = vec![0u8; ring as usize + 1];
    assert!(matches!(card.read_ring(0, 0, &mut buf), Err(CardError::RingReadTooLong { ring_bytes: 4096, .. })));
    assert!(matches!(card.read_ring(card.info().conns as u16, 0, &mut [0u8; 1]), Err(CardError::NoSuchConnection { .. })));
}

#[test]
fn release_writes_the_release_register() {
    let card = card();
    card.release(9, 0xFFFF_FFFEu32).unwrap();
    assert_eq!(card.bar().peek(regmap::release_addr(9)), 0xFFFF_FFFE);
    card.release(9, SeqNum(3)).unwrap();
    assert_eq!(card.released(9).unwrap(), SeqNum(3));
    assert!(matches!(card.release(u16::MAX, 1u32), Err(CardError::NoSuchConnection { .. })));
}

#[test]
fn stats_name_every_counter() {
    let card = card();
    for s in Stat::ALL {
        card.bar().poke(s.offset(), 1000 + s.index() as u32);
    }
    let stats = card.stats().unwrap();
    assert_eq!(stats.iter().count(), Stat::COUNT);
    for s in Stat::ALL {
        assert_eq!(stats.get(s), 1000 + s.index() as u32);
        assert_eq!(stats.by_name(s.name()), Some(1000 + s.index() as u32));
    }
}

#[test]
fn status_decodes_status_now_and_ctrl() {
    let card = card();
    card.bar().poke(regmap::STATUS.offset, (3 << 16) | 1);
    card.bar().poke(regmap::NOW_US.offset, 123);
    card.bar().poke(regmap::CTRL.offset, regmap::CTRL_ENABLE | regmap::CTRL_STANDBY);
    let st = card.status().unwrap();
    assert!(st.idle);
    assert_eq!(st.open_conns, 3);
    assert_eq!(st.now_us, 123);
    assert!(st.ctrl.enabled && st.ctrl.standby && !st.ctrl.holdback);
}

#[test]
fn errors_carry_context_down_to_the_bar() {
    // A BAR that ends before the TCB window.
    let bar = MemBar::new(regmap::TCB_BASE);
    for r in [regmap::ID_MAGIC, regmap::ID_VERSION, regmap::ID_CONNS, regmap::ID_RING_BYTES, regmap::ID_TCB_WORDS, regmap::ID_EQ_ENTRIES] {
        let v = MemBar::with_id_block(&CoreParams::DEFAULT).peek(r.offset);
        bar.poke(r.offset, v);
    }
    let card = CardHandle::open(bar).unwrap();
    let err = card.read_tcb(1).unwrap_err();
    let chain = format!("{err}: {}", std::error::Error::source(&err).unwrap());
    assert!(chain.contains("reading TCB 1") && chain.contains("outside"), "{chain}");
}

/// The send limit lands in the connection's own SEND_LIMIT word, in the
/// send tail's units (stream offset mod 2^32); other connections' words stay,
/// and an id past the card's TCBs is refused before anything is written.
#[test]
fn set_send_limit_writes_the_connections_send_limit_word() {
    let card = card();
    card.set_send_limit(3, 0xFFFF_FFF0).unwrap();
    assert_eq!(card.bar().peek(regmap::send_limit_addr(3)), 0xFFFF_FFF0);
    for other in [0, 2, 4] {
        assert_eq!(card.bar().peek(regmap::send_limit_addr(other)), 0, "connection {other}'s limit untouched");
    }
    let conns = card.info().conns as u16;
    assert!(matches!(card.set_send_limit(conns, 1), Err(CardError::NoSuchConnection { .. })));
    assert_eq!(card.bar().peek(regmap::send_limit_addr(u32::from(conns))), 0);
}

/// SEND_HOLDBACK's default bit, no slot with a setting of its own.
#[test]
fn set_send_holdback_writes_the_default_bit() {
    let card = card();
    card.set_send_holdback(true).unwrap();
    assert_eq!(card.bar().peek(regmap::SEND_HOLDBACK.offset), regmap::SEND_HOLDBACK_DEFAULT);
    card.set_send_holdback(false).unwrap();
    assert_eq!(card.bar().peek(regmap::SEND_HOLDBACK.offset), 0);
}

#[test]
fn configure_writes_the_cookie_keys_then_syn_cookies() {
    let card = card();
    let keys = CookieKeys { key0: 0x0f0e0d0c_0b0a0908_07060504_03020100, key1: 0x1f1e1d1c_1b1a1918_17161514_13121110 };
    card.configure(&CardSettings { syn_cookies: Some(64), cookie_keys: keys, ..settings() }).unwrap();
    let bar = card.bar();
    assert_eq!(bar.peek(regmap::SYN_COOKIES.offset), 0x8000_0040, "bit31 on, threshold 64");
    // COOKIE_KEY0 holds key0's bits 31:0: SipHash's first key bytes, little-endian.
    assert_eq!(bar.peek(regmap::COOKIE_KEY0.offset), 0x0302_0100);
    assert_eq!(bar.peek(regmap::COOKIE_KEY3.offset), 0x0f0e_0d0c);
    assert_eq!(bar.peek(regmap::COOKIE_KEY4.offset), 0x1312_1110);
    assert_eq!(bar.peek(regmap::COOKIE_KEY7.offset), 0x1f1e_1d1c);
    assert_eq!(format!("{keys:?}"), "CookieKeys(..)", "the keys stay out of logs");
    card.configure(&CardSettings { syn_cookies: Some(0), ..settings() }).unwrap();
    assert_eq!(bar.peek(regmap::SYN_COOKIES.offset), 0x8000_0000, "threshold 0: every SYN");
    card.configure(&settings()).unwrap();
    assert_eq!(bar.peek(regmap::SYN_COOKIES.offset), 0, "off");
    bar.poke(regmap::HALF_OPEN.offset, 0x0001_0007);
    assert_eq!(card.half_open().unwrap(), 7, "bits 15:0");
}
