//! A card for the daemon's unit tests: a [`MemBar`] with an ID block and
//! [`FakeDmaMemory`] as host memory, attached by the card layer's own code.
//! The test plays the card: [`FakeCard::set_tcb`] changes a TCB and writes
//! its event record into the event ring, [`FakeCard::put_ring`] writes
//! payload into a receive ring, both where the card would.
use std::sync::{Arc, Mutex};

use std::net::SocketAddrV4;

use holdback_driver::event_queue::EventRecord;
use holdback_driver::{CardHandle, FakeDmaMemory, MemBar, Tcb};
use holdback_regmap::{self as regmap, tcb, CoreParams, TcpState};

/// Receive ring bytes of the fake card: small, so tests wrap it.
pub const FAKE_RX_RING_BYTES: u32 = 8192;

pub struct FakeCard {
    pub bar: Arc<MemBar>,
    pub card: Arc<CardHandle<Arc<MemBar>>>,
    /// The TCBs as the fake card holds them, and the records it produced.
    state: Mutex<(Vec<[u32; regmap::TCB_WORDS]>, u16)>,
}

impl Default for FakeCard {
    fn default() -> FakeCard {
        FakeCard::new()
    }
}

impl FakeCard {
    pub fn new() -> FakeCard {
        let params = CoreParams::DEFAULT;
        let bar = Arc::new(MemBar::with_id_block(&params));
        let card = Arc::new(CardHandle::open(bar.clone()).expect("fake card opens"));
        // No slot relays (`peer_link` 0xFFFF, as the engine's opens set it):
        // a test writes the fields of its connection on top.
        let closed = Tcb { peer_link: regmap::NO_PEER_LINK, ..Tcb::closed() }.encode().expect("a closed TCB encodes");
        let mem = FakeDmaMemory::new(0x1000_0000, 32 << 20);
        card.attach_host_memory(&mem, FAKE_RX_RING_BYTES).expect("host memory attaches");
        FakeCard { bar, card, state: Mutex::new((vec![closed; params.conns()], 0)) }
    }

    /// Change TCB `id` and write its record, as the engine and the event
    /// queue's writer do.
    pub fn set_tcb(&self, id: u32, f: impl Fn(&mut [u32])) {
        let mut st = self.state.lock().unwrap();
        let words = &mut st.0[id as usize];
        f(words);
        for (i, x) in words.iter().enumerate() {
            self.bar.poke(regmap::tcb_word_addr(id, i as u32), *x);
        }
        let tcb = Tcb::decode(words).expect("the test's TCB decodes");
        let k = st.1;
        st.1 = k.wrapping_add(1);
        let rings = self.card.host_rings().expect("attached");
        let record = EventRecord { conn: id as u16, tcb }.to_bytes(rings.layout().event_ring.phase(k));
        rings.write_event(k, &record).expect("record fits the ring");
        self.bar.poke(regmap::EQ_PROD.offset, st.1 as u32);
    }

    /// Put stream bytes [off, off+data.len()) into the ring of `id`.
    pub fn put_ring(&self, id: u32, off: u64, data: &[u8]) {
        self.card.host_rings().expect("attached").write_ring(id as u16, off, data).expect("ring write");
    }

    pub fn released(&self, id: u32) -> u32 {
        self.bar.peek(regmap::release_addr(id))
    }

    pub fn rx_ring_bytes(&self) -> u32 {
        FAKE_RX_RING_BYTES
    }

    /// What the host handed back in EQ_CONS.
    pub fn consumer_count(&self) -> u32 {
        self.bar.peek(regmap::EQ_CONS.offset)
    }
}

/// A peer's connection to the fake card, as a test writes its TCB.
#[derive(Clone, Copy, Debug)]
pub struct TestConn {
    pub remote: SocketAddrV4,
    pub local_port: u16,
    pub irs: u32,
}

impl TestConn {
    /// The TCB words of this connection in `state`, received up to
    /// `rcv_nxt` (FIN counted if `fin`), with R at irs + 1: nothing
    /// released (the fake card does not fold release writes into the TCB).
    pub fn set(&self, w: &mut [u32], rcv_nxt: u32, fin: bool, state: TcpState) {
        tcb::STATE.set(w, state as u32);
        tcb::FIN_RCVD.set(w, fin as u32);
        tcb::REMOTE_IP.set(w, u32::from(*self.remote.ip()));
        tcb::REMOTE_PORT.set(w, u32::from(self.remote.port()));
        tcb::LOCAL_PORT.set(w, u32::from(self.local_port));
        tcb::IRS.set(w, self.irs);
        tcb::RCV_NXT.set(w, rcv_nxt);
        tcb::REL.set(w, self.irs.wrapping_add(1));
    }
}

/// A primary's link to a standby on loopback that stores into `hook`,
/// after its first full sync: the host's and the echo's tests run an
/// application host against it. Dropped link first, runtime last.
pub struct SyncedPair {
    pub link: Arc<crate::replication::Primary>,
    pub standby: crate::replication::Standby,
    _events: (tokio::sync::mpsc::Receiver<crate::replication::LinkEvent>, tokio::sync::mpsc::Receiver<crate::replication::LinkEvent>),
    _runtime: tokio::runtime::Runtime,
}

impl SyncedPair {
    pub fn new<H: crate::replication::StoreHook + Clone>(hook: &H) -> SyncedPair {
        use crate::replication::{LinkConfig, LinkEvent, Primary, Standby};
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a test runtime");
        let cfg = LinkConfig::new(b"0123456789abcdef0123456789abcdef".to_vec(), 1);
        let (standby, standby_events) = runtime
            .block_on(Standby::bind(cfg.clone(), "127.0.0.1:0".parse().expect("an address"), 1, hook.clone()))
            .expect("a loopback standby");
        let (link, mut events) = {
            let _enter = runtime.enter();
            Primary::start(cfg, standby.local_addr(), 1).expect("a primary link")
        };
        runtime.block_on(async { while !matches!(events.recv().await, Some(LinkEvent::Synced { .. })) {} });
        SyncedPair { link: Arc::new(link), standby, _events: (events, standby_events), _runtime: runtime }
    }
}
