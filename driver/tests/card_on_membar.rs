//! The typed layer over a memory-backed BAR: every code path of `CardHandle`
//! except the backend itself.
use std::net::Ipv4Addr;

use holdback_driver::regmap::{self, tcb, CoreParams, Stat, TcpState};
use holdback_driver::{Bar, CardError, CardHandle, CardSettings, MacAddr, MemBar, OpenError, SeqNum, SettingsError, Tcb};

fn card() -> CardHandle<MemBar> {
    CardHandle::open(MemBar::with_id_block(&CoreParams::DEFAULT)).expect("a well-formed ID block opens")
}

#[test]
fn open_reads_the_generation_parameters() {
    let card = card();
    let p = CoreParams::DEFAULT;
    assert_eq!(card.info().conns as usize, p.conns());
    assert_eq!(card.info().ring_bytes as usize, p.ring_bytes());
    assert_eq!(card.info().params(), p);
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
    let err = CardHandle::open(MemBar::new(regmap::RING_BASE)).err().expect("refused");
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
        (regmap::ID_RING_BYTES, 1 << 20),
        (regmap::ID_TCB_WORDS, regmap::TCB_WORDS as u32 - 1),
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
        our_mss: 1460,
        rto_us: 200_000,
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
fn configure_refuses_bad_settings_before_writing() {
    let card = card();
    let cases = [
        (CardSettings { listen_ports: vec![1, 2, 3, 4, 5], ..settings() }, SettingsError::TooManyPorts { count: 5, slots: 4 }),
        (CardSettings { listen_ports: vec![0], ..settings() }, SettingsError::PortZero),
        (CardSettings { listen_ports: vec![7, 7], ..settings() }, SettingsError::DuplicatePort(7)),
        (CardSettings { our_mss: 0, ..settings() }, SettingsError::Mss(0)),
        (CardSettings { rto_us: 0, ..settings() }, SettingsError::RtoZero),
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
    let open = card.open_connections().unwrap();
    assert_eq!(open, vec![(id, t)]);
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

#[test]
fn change_log_drain_stops_at_the_first_invalid_entry() {
    let card = card();
    let v = regmap::CHLOG_VALID;
    card.bar().push_pop_fifo(regmap::CHLOG_POP.offset, [v | 3, v | 7, v, 0, v | 9]);
    assert_eq!(card.drain_change_log().unwrap(), vec![3, 7, 0]);
    assert_eq!(card.drain_change_log().unwrap(), vec![9]);
    assert_eq!(card.drain_change_log().unwrap(), Vec::<u16>::new());
}

#[test]
fn change_log_drain_is_bounded_and_skips_corrupt_ids() {
    let card = card();
    let n = card.info().conns;
    // Valid bit stuck at 1 (plain memory): the drain must still return.
    card.bar().poke(regmap::CHLOG_POP.offset, regmap::CHLOG_VALID | 1);
    let ids = card.drain_change_log().unwrap();
    assert_eq!(ids.len(), 2 * n as usize);
    assert!(ids.iter().all(|id| *id == 1));

    let card2 = self::card();
    let v = regmap::CHLOG_VALID;
    card2.bar().push_pop_fifo(regmap::CHLOG_POP.offset, [v | 2, v | n, v | 4]);
    assert_eq!(card2.drain_change_log().unwrap(), vec![2, 4]);
}

fn fill_ring(card: &CardHandle<MemBar>, id: u32) -> Vec<u8> {
    let ring = card.info().ring_bytes;
    let bytes: Vec<u8> = (0..ring).map(|b| (b.wrapping_mul(31) ^ (b >> 8) ^ id) as u8).collect();
    for (i, chunk) in bytes.chunks(4).enumerate() {
        let word = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        card.bar().poke(regmap::ring_addr(&card.info().params(), id, 4 * i as u32), word);
    }
    bytes
}

#[test]
fn ring_read_handles_wrap_and_unaligned_edges() {
    let card = card();
    let ring = card.info().ring_bytes as u64;
    let id = 3u16;
    let mem = fill_ring(&card, id as u32);
    let _ = fill_ring(&card, 2); // neighbours differ, so a wrong base address shows
    let _ = fill_ring(&card, 4);
    let expect = |offset: u64, len: usize| -> Vec<u8> { (0..len as u64).map(|i| mem[((offset + i) % ring) as usize]).collect() };
    let cases: &[(u64, usize)] = &[
        (0, 0),
        (0, 1),
        (1, 2),
        (3, 6),
        (0, ring as usize),
        (5, ring as usize),
        (ring - 5, 13),
        (ring - 4, 4),
        (ring - 1, 1),
        (ring - 3, 3 + 4096 + 2),
        (7 * ring + 10, 100),
        (u32::MAX as u64 + 3, 1000),
    ];
    for &(offset, len) in cases {
        let mut buf = vec![0xAAu8; len];
        card.read_ring(id, offset, &mut buf).unwrap();
        assert_eq!(buf, expect(offset, len), "offset {offset} len {len}");
    }
}

#[test]
fn ring_read_refuses_more_than_a_ring() {
    let card = card();
    let mut buf = vec![0u8; card.info().ring_bytes as usize + 1];
    assert!(matches!(card.read_ring(0, 0, &mut buf), Err(CardError::RingReadTooLong { .. })));
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
    for r in [regmap::ID_MAGIC, regmap::ID_VERSION, regmap::ID_CONNS, regmap::ID_RING_BYTES, regmap::ID_TCB_WORDS] {
        let v = MemBar::with_id_block(&CoreParams::DEFAULT).peek(r.offset);
        bar.poke(r.offset, v);
    }
    let card = CardHandle::open(bar).unwrap();
    let err = card.read_tcb(1).unwrap_err();
    let chain = format!("{err}: {}", std::error::Error::source(&err).unwrap());
    assert!(chain.contains("reading TCB 1") && chain.contains("outside"), "{chain}");
}

/// A BAR whose TCB gen word changes on the first `churn` reads of it, like
/// an engine updating the TCB while the host reads the window.
struct ChurningBar {
    mem: MemBar,
    churn: std::sync::atomic::AtomicU32,
    gen_addr: u32,
}
impl Bar for ChurningBar {
    fn read32(&self, offset: u32) -> Result<u32, holdback_driver::BarError> {
        if offset == self.gen_addr {
            let left = self.churn.load(std::sync::atomic::Ordering::SeqCst);
            if left > 0 {
                self.churn.store(left - 1, std::sync::atomic::Ordering::SeqCst);
                self.mem.poke(offset, self.mem.peek(offset) + 1);
            }
        }
        self.mem.read32(offset)
    }
    fn write32(&self, offset: u32, value: u32) -> Result<(), holdback_driver::BarError> {
        self.mem.write32(offset, value)
    }
    fn describe(&self) -> String {
        "churning".into()
    }
}

#[test]
fn stable_tcb_read_retries_until_two_reads_agree() {
    let gen_addr = regmap::tcb_word_addr(6, tcb::GEN.word);
    let bar = |churn| ChurningBar {
        mem: MemBar::with_id_block(&CoreParams::DEFAULT),
        churn: std::sync::atomic::AtomicU32::new(churn),
        gen_addr,
    };
    let card = CardHandle::open(bar(3)).unwrap();
    let t = card.read_tcb_stable(6).unwrap();
    assert_eq!(t.gen, 3, "the copy after the churn stopped");
    let card = CardHandle::open(bar(1000)).unwrap();
    match card.read_tcb_stable(6) {
        Err(CardError::TcbUnstable { id: 6, tries }) => assert_eq!(tries, holdback_driver::card::TCB_STABLE_TRIES),
        other => panic!("{other:?}"),
    }
}
