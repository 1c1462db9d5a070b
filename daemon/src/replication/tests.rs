//! Loopback tests of the replication link: a primary and a standby in one
//! process, optionally through a proxy that can record, pause or cut the link.
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use holdback_driver::{SeqNum, Tcb};
use holdback_regmap::TcpState;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use super::wire::{self, Direction, FrameCodec, FrameError, Msg};
use super::*;

const SECRET: &[u8] = b"holdback test secret";

fn config(node_id: u64) -> LinkConfig {
    LinkConfig {
        heartbeat_interval: Duration::from_millis(50),
        heartbeat_misses: 3,
        handshake_timeout: Duration::from_secs(1),
        reconnect_delay: Duration::from_millis(30),
        ..LinkConfig::new(SECRET, node_id)
    }
}

/// The standby's card, in memory: what the hook installed, and switches to
/// make it fail or block.
#[derive(Clone, Default)]
struct MemCard {
    copies: Arc<Mutex<HashMap<u16, Tcb>>>,
    fail: Arc<AtomicBool>,
    block: Arc<AtomicBool>,
    /// Each connection's transmit ring ([`MEM_TX_RING`] bytes).
    tx_rings: Arc<Mutex<HashMap<u16, Vec<u8>>>>,
}

/// Bytes of a [`MemCard`]'s transmit ring per connection.
const MEM_TX_RING: u32 = 8192;

impl MemCard {
    /// `len` bytes of connection `id`'s transmit ring from stream offset `from`.
    fn tx_ring(&self, id: u16, from: u64, len: usize) -> Vec<u8> {
        let rings = self.tx_rings.lock().unwrap();
        let Some(ring) = rings.get(&id) else { return Vec::new() };
        (0..len as u64).map(|i| ring[((from + i) % u64::from(MEM_TX_RING)) as usize]).collect()
    }
}

impl StoreHook for MemCard {
    fn install(&mut self, id: u16, tcb: &Tcb) -> Result<(), HookError> {
        while self.block.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
        if self.fail.load(Ordering::SeqCst) {
            return Err(format!("card refused TCB {id}").into());
        }
        self.copies.lock().unwrap().insert(id, tcb.clone());
        Ok(())
    }

    fn remove(&mut self, id: u16) -> Result<(), HookError> {
        self.copies.lock().unwrap().remove(&id);
        Ok(())
    }

    fn tx_ring_bytes(&self) -> Option<u32> {
        Some(MEM_TX_RING)
    }

    fn write_sent(&mut self, id: u16, _tcb: &Tcb, offset: u64, bytes: &[u8]) -> Result<(), HookError> {
        while self.block.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut rings = self.tx_rings.lock().unwrap();
        let ring = rings.entry(id).or_insert_with(|| vec![0; MEM_TX_RING as usize]);
        for (i, b) in bytes.iter().enumerate() {
            ring[((offset + i as u64) % u64::from(MEM_TX_RING)) as usize] = *b;
        }
        Ok(())
    }
}

fn tcb(id: u16, rng: &mut SmallRng) -> Tcb {
    let irs = SeqNum(rng.gen());
    Tcb {
        state: TcpState::Established,
        holdback: true,
        peer_mss: 1460,
        local_port: 5001,
        remote_port: 40_000 + id,
        remote_ip: std::net::Ipv4Addr::new(198, 18, 0, 1),
        irs,
        rcv_nxt: irs + 1,
        rel: irs + 1,
        ack_sent: irs + 1,
        rcv_adv: irs + 1 + 65_535,
        iss: SeqNum(rng.gen()),
        epoch: 1,
        ..Tcb::closed()
    }
}

/// One stream update (data in, released, ACKed, window moved) or, now and
/// then, a state change.
fn step(t: &mut Tcb, rng: &mut SmallRng) {
    let n = rng.gen_range(1..=1460u32);
    t.rcv_nxt += n;
    t.rel += n;
    t.ack_sent += n;
    t.rcv_adv += n;
    t.gen = t.gen.wrapping_add(1);
    if rng.gen_bool(0.02) {
        t.state = TcpState::CloseWait;
        t.fin_rcvd = true;
    }
}

/// `n` connections, each sent once; returns the truth and the last sequence.
fn open_all(primary: &Primary, n: u16, rng: &mut SmallRng) -> (HashMap<u16, Tcb>, u64) {
    let mut truth = HashMap::new();
    let mut last = 0;
    for id in 0..n {
        let t = tcb(id, rng);
        last = primary.send(id, &t).unwrap();
        truth.insert(id, t);
    }
    (truth, last)
}

/// `rounds` passes updating random connections; returns the last sequence.
fn churn(primary: &Primary, truth: &mut HashMap<u16, Tcb>, rounds: usize, rng: &mut SmallRng) -> u64 {
    let mut last = 0;
    let n = truth.len() as u16;
    for _ in 0..rounds {
        let id = rng.gen_range(0..n);
        let t = truth.get_mut(&id).unwrap();
        step(t, rng);
        last = primary.send(id, t).unwrap();
    }
    last
}

async fn next_event(rx: &mut mpsc::Receiver<LinkEvent>, within: Duration, what: impl Fn(&LinkEvent) -> bool) -> LinkEvent {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(e)) if what(&e) => return e,
            Ok(Some(_)) => {}
            Ok(None) => panic!("event channel closed"),
            Err(_) => panic!("no matching event within {within:?}"),
        }
    }
}

async fn pair(epoch: u32, card: MemCard) -> (Standby, mpsc::Receiver<LinkEvent>, Primary, mpsc::Receiver<LinkEvent>) {
    let (standby, sev) = Standby::bind(config(2), "127.0.0.1:0".parse().unwrap(), epoch, card).await.unwrap();
    let (primary, pev) = Primary::start(config(1), standby.local_addr(), epoch).unwrap();
    (standby, sev, primary, pev)
}

const WAIT: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_sync_then_deltas_reproduce_the_primary_exactly() {
    // Claims 33-35, 23: 64 TCBs in full, then seeded random stream updates.
    let card = MemCard::default();
    let (standby, _sev, primary, mut pev) = pair(1, card.clone()).await;
    let mut rng = SmallRng::seed_from_u64(33);
    let (mut truth, opened) = open_all(&primary, 64, &mut rng);
    // The link connects in the background: its full sync may catch some
    // of the 64 and the rest follow as updates.
    next_event(&mut pev, WAIT, |e| matches!(e, LinkEvent::Synced { .. })).await;
    primary.wait_acked(opened, WAIT).await.unwrap();
    for _ in 0..20 {
        let last = churn(&primary, &mut truth, 500, &mut rng);
        primary.wait_acked(last, WAIT).await.unwrap();
    }
    assert_eq!(standby.tcbs(), truth);
    assert_eq!(*card.copies.lock().unwrap(), truth, "the card holds what the store holds");
    let stats = primary.stats();
    assert_eq!((stats.full_syncs, stats.resumes), (1, 0));
    // Deltas, not full copies: far below a full TCB (~88 bytes) per update.
    let per_update = stats.bytes_sent as f64 / stats.frames_sent as f64;
    assert!(per_update < 75.0, "{per_update:.1} bytes per frame");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ack_comes_only_after_the_hook_stored_the_copy() {
    // Invariant 2: a blocked or failing install is never acknowledged.
    let card = MemCard::default();
    let (standby, _sev, primary, mut pev) = pair(1, card.clone()).await;
    let mut rng = SmallRng::seed_from_u64(2);
    let (mut truth, _) = open_all(&primary, 4, &mut rng);
    next_event(&mut pev, WAIT, |e| matches!(e, LinkEvent::Synced { .. })).await;

    card.block.store(true, Ordering::SeqCst);
    let rseq = churn(&primary, &mut truth, 1, &mut rng);
    let waited = primary.wait_acked(rseq, Duration::from_millis(400)).await;
    assert!(matches!(waited, Err(WaitError::Timeout { .. })), "{waited:?}");
    assert!(primary.acked() < rseq);
    assert_eq!(primary.state(), LinkState::Replicating, "a slow card is not a lost peer");
    card.block.store(false, Ordering::SeqCst);
    primary.wait_acked(rseq, WAIT).await.unwrap();

    // A failing install: no ack; the session ends; once the card works again
    // the primary reconnects, resumes, and the copy is acknowledged.
    card.fail.store(true, Ordering::SeqCst);
    let rseq = churn(&primary, &mut truth, 1, &mut rng);
    let blocking_primary = Arc::new(primary);
    let p = blocking_primary.clone();
    let waited = tokio::task::spawn_blocking(move || p.wait_acked_blocking(rseq, Duration::from_secs(2))).await.unwrap();
    assert!(waited.is_err(), "{waited:?}");
    assert!(blocking_primary.acked() < rseq);
    card.fail.store(false, Ordering::SeqCst);
    let p = blocking_primary.clone();
    let deadline = Instant::now() + WAIT;
    tokio::task::spawn_blocking(move || loop {
        match p.wait_acked_blocking(rseq, Duration::from_millis(100)) {
            Ok(()) => break,
            Err(e) if Instant::now() > deadline => panic!("{e}"),
            Err(_) => {}
        }
    })
    .await
    .unwrap();
    assert_eq!(standby.tcbs(), truth);
}

/// What the primary sent, one buffer per proxied connection.
type Recording = Arc<Mutex<Vec<Vec<u8>>>>;

/// A TCP proxy between primary and standby that can pause (stop forwarding,
/// keep the sockets) or cut (close every connection) the link, and records
/// what the primary sent on each connection.
struct Proxy {
    addr: SocketAddr,
    paused: watch::Sender<bool>,
    cut: watch::Sender<u64>,
    recorded: Recording,
}

impl Proxy {
    async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (paused, _) = watch::channel(false);
        let (cut, _) = watch::channel(0u64);
        let recorded = Arc::new(Mutex::new(Vec::new()));
        let (p, c, r) = (paused.clone(), cut.clone(), recorded.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(target).await else { continue };
                let conn = {
                    let mut r = r.lock().unwrap();
                    r.push(Vec::new());
                    r.len() - 1
                };
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::spawn(pump(cr, sw, p.subscribe(), c.subscribe(), Some((r.clone(), conn))));
                tokio::spawn(pump(sr, cw, p.subscribe(), c.subscribe(), None));
            }
        });
        Proxy { addr, paused, cut, recorded }
    }

    fn cut(&self) {
        self.cut.send_modify(|g| *g += 1);
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut paused: watch::Receiver<bool>,
    mut cut: watch::Receiver<u64>,
    record: Option<(Recording, usize)>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if *paused.borrow() {
            tokio::select! {
                _ = paused.changed() => continue,
                _ = cut.changed() => return,
            }
        }
        let n = tokio::select! {
            n = from.read(&mut buf) => match n { Ok(0) | Err(_) => return, Ok(n) => n },
            _ = cut.changed() => return,
            _ = paused.changed() => continue,
        };
        if let Some((rec, conn)) = &record {
            rec.lock().unwrap()[*conn].extend_from_slice(&buf[..n]);
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

async fn proxied_pair(card: MemCard, cfg: LinkConfig) -> (Standby, mpsc::Receiver<LinkEvent>, Primary, mpsc::Receiver<LinkEvent>, Proxy) {
    let (standby, sev) = Standby::bind(config(2), "127.0.0.1:0".parse().unwrap(), 1, card).await.unwrap();
    let proxy = Proxy::start(standby.local_addr()).await;
    let (primary, pev) = Primary::start(cfg, proxy.addr, 1).unwrap();
    (standby, sev, primary, pev, proxy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_resumes_or_resyncs_and_the_store_converges() {
    let card = MemCard::default();
    let cfg = LinkConfig { max_unacked: 200, ..config(1) };
    let (standby, _sev, primary, mut pev, proxy) = proxied_pair(card.clone(), cfg).await;
    let mut rng = SmallRng::seed_from_u64(9);
    let (mut truth, _) = open_all(&primary, 16, &mut rng);
    next_event(&mut pev, WAIT, |e| matches!(e, LinkEvent::Synced { tcbs: 16 })).await;

    // Cut with few updates in flight: the primary still holds them → resume.
    proxy.cut();
    let last = churn(&primary, &mut truth, 50, &mut rng);
    next_event(&mut pev, WAIT, |e| matches!(e, LinkEvent::Connected { resumed: true, .. })).await;
    primary.wait_acked(last, WAIT).await.unwrap();
    assert_eq!(standby.tcbs(), truth);
    assert_eq!(primary.stats().resumes, 1);

    // Cut, then more updates than the primary keeps → full resync.
    proxy.paused.send_replace(true);
    proxy.cut();
    let last = churn(&primary, &mut truth, 500, &mut rng);
    proxy.paused.send_replace(false);
    next_event(&mut pev, WAIT, |e| matches!(e, LinkEvent::Connected { resumed: false, .. })).await;
    primary.wait_acked(last, WAIT).await.unwrap();
    assert_eq!(standby.tcbs(), truth);
    assert_eq!(*card.copies.lock().unwrap(), truth);
    assert_eq!(primary.stats().full_syncs, 2);
    assert_eq!((standby.stats().full_syncs, standby.stats().resumes), (2, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silence_for_interval_times_misses_reports_peer_lost() {
    // Claims 36, 37: pause the link (sockets stay open, nothing flows).
    let (standby, mut sev, primary, mut pev, proxy) = proxied_pair(MemCard::default(), config(1)).await;
    next_event(&mut sev, WAIT, |e| matches!(e, LinkEvent::Connected { .. })).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let timeout = config(1).peer_timeout();
    let paused_at = Instant::now();
    proxy.paused.send_replace(true);
    let lost = next_event(&mut sev, WAIT, |e| matches!(e, LinkEvent::PeerLost { .. })).await;
    let after = paused_at.elapsed();
    assert!(after >= timeout.saturating_sub(Duration::from_millis(60)), "lost after {after:?}");
    assert!(after <= timeout + Duration::from_millis(150), "lost only after {after:?}: {lost:?}");
    next_event(&mut pev, WAIT, |e| matches!(e, LinkEvent::PeerLost { .. })).await;
    // The session closes on the same loss: waits fail fast from then on.
    let mut view = primary.subscribe();
    tokio::time::timeout(Duration::from_millis(100), view.wait_for(|v| v.state == LinkState::Down)).await.unwrap().unwrap();
    drop(primary);

    // Drop the link: the primary process is gone.
    proxy.paused.send_replace(false);
    let (primary, _pev) = Primary::start(config(1), standby.local_addr(), 1).unwrap();
    next_event(&mut sev, WAIT, |e| matches!(e, LinkEvent::Connected { .. })).await;
    let dropped_at = Instant::now();
    drop(primary);
    next_event(&mut sev, WAIT, |e| matches!(e, LinkEvent::PeerLost { .. })).await;
    let after = dropped_at.elapsed();
    assert!(after <= timeout + Duration::from_millis(150), "lost only after {after:?}");
}

/// Connect and write `bytes`; return when the standby closed the connection.
async fn hostile(addr: SocketAddr, bytes: &[u8]) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let _ = s.write_all(bytes).await;
    let mut sink = Vec::new();
    let _ = tokio::time::timeout(WAIT, s.read_to_end(&mut sink)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_peers_are_refused_while_the_pair_keeps_replicating() {
    let card = MemCard::default();
    let (standby, mut sev, primary, mut pev, proxy) = proxied_pair(card, config(1)).await;
    let mut rng = SmallRng::seed_from_u64(5);
    let (mut truth, _) = open_all(&primary, 8, &mut rng);
    next_event(&mut pev, WAIT, |e| matches!(e, LinkEvent::Synced { .. })).await;
    next_event(&mut sev, WAIT, |e| matches!(e, LinkEvent::Connected { .. })).await;

    // The legit pair replicates throughout.
    let primary = Arc::new(primary);
    let stop = Arc::new(AtomicBool::new(false));
    let (p, s) = (primary.clone(), stop.clone());
    let writer = tokio::spawn(async move {
        let mut acked = 0;
        while !s.load(Ordering::SeqCst) {
            let last = churn(&p, &mut truth, 20, &mut rng);
            p.wait_acked(last, WAIT).await.expect("the legit pair keeps replicating");
            acked += 1;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        (acked, truth)
    });

    let target = standby.local_addr();
    // Wrong secret: a real primary with another key.
    let (intruder, _ie) = Primary::start(LinkConfig::new("not the secret", 66), target, 1).unwrap();
    next_event(&mut sev, WAIT, |e| matches!(e, LinkEvent::Refused { reason: RefuseReason::BadMac, .. })).await;
    drop(intruder);
    // Garbage: an HTTP request (its first four bytes are a 1.2 GB length).
    hostile(target, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    next_event(&mut sev, WAIT, |e| matches!(e, LinkEvent::Refused { reason: RefuseReason::Oversized, .. })).await;
    // Oversized length prefix, refused before any allocation.
    hostile(target, &u32::MAX.to_be_bytes()).await;
    next_event(&mut sev, WAIT, |e| matches!(e, LinkEvent::Refused { reason: RefuseReason::Oversized, .. })).await;
    // Random bytes with a plausible length: the MAC fails.
    let mut garbled = 100u32.to_be_bytes().to_vec();
    garbled.extend_from_slice(&wire::PROTOCOL_VERSION.to_be_bytes());
    garbled.extend((0..98).map(|i| (i * 37) as u8));
    hostile(target, &garbled).await;
    next_event(&mut sev, WAIT, |e| matches!(e, LinkEvent::Refused { reason: RefuseReason::BadMac, .. })).await;
    // An old (0) and an unknown (99) protocol version.
    for version in [0u16, 99] {
        let mut frame = 60u32.to_be_bytes().to_vec();
        frame.extend_from_slice(&version.to_be_bytes());
        frame.extend_from_slice(&[0; 58]);
        hostile(target, &frame).await;
        next_event(&mut sev, WAIT, |e| matches!(e, LinkEvent::Refused { reason: RefuseReason::UnknownVersion, .. })).await;
    }
    // A replay of the legit primary's recorded connection: the Hello is
    // accepted, but the recorded Start answers another nonce.
    let recorded = proxy.recorded.lock().unwrap()[0].clone();
    assert!(recorded.len() > 1000);
    hostile(target, &recorded).await;
    next_event(&mut sev, WAIT, |e| matches!(e, LinkEvent::Refused { reason: RefuseReason::BadMac, .. })).await;
    // A peer that connects and says nothing.
    let idle = TcpStream::connect(target).await.unwrap();
    next_event(&mut sev, WAIT, |e| matches!(e, LinkEvent::Refused { reason: RefuseReason::Timeout, .. })).await;
    drop(idle);

    stop.store(true, Ordering::SeqCst);
    let (rounds, truth) = writer.await.unwrap();
    assert!(rounds > 10, "{rounds} acknowledged rounds during the attacks");
    assert_eq!(standby.tcbs(), truth);
    // No legit session was disturbed: one connection, one full sync.
    while let Ok(e) = sev.try_recv() {
        assert!(!matches!(e, LinkEvent::Disconnected { .. } | LinkEvent::Connected { .. }), "{e:?}");
    }
    assert_eq!(primary.stats().full_syncs, 1);
    assert_eq!((standby.stats().full_syncs, standby.stats().resumes), (1, 0));
    let refused = standby.stats().refused;
    assert_eq!(refused.get("bad_mac"), Some(&3), "{refused:?}");
    assert_eq!(refused.get("oversized"), Some(&2), "{refused:?}");
    assert_eq!(refused.get("unknown_version"), Some(&2), "{refused:?}");
    assert_eq!(refused.get("timeout"), Some(&1), "{refused:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_epoch_is_reported_and_fences_the_primary() {
    // Invariant 8.
    let (standby, mut sev, primary, mut pev) = pair(1, MemCard::default()).await;
    let mut rng = SmallRng::seed_from_u64(8);
    open_all(&primary, 2, &mut rng);
    next_event(&mut pev, WAIT, |e| matches!(e, LinkEvent::Synced { .. })).await;
    standby.set_epoch(2);
    assert_eq!(
        next_event(&mut pev, WAIT, |e| matches!(e, LinkEvent::NewerEpoch { .. })).await,
        LinkEvent::NewerEpoch { own: 1, peer: 2 }
    );
    let rseq = primary.send(0, &tcb(0, &mut rng));
    assert!(matches!(rseq, Err(SendError::Fenced)), "{rseq:?}");
    assert_eq!(primary.wait_acked(u64::MAX, WAIT).await, Err(WaitError::Fenced));
    drop(primary);

    // A primary older than the standby is refused; a newer one is reported.
    let (stale, _e) = Primary::start(config(1), standby.local_addr(), 1).unwrap();
    next_event(&mut sev, WAIT, |e| matches!(e, LinkEvent::Refused { reason: RefuseReason::StaleEpoch, .. })).await;
    drop(stale);
    let (_newer, _e) = Primary::start(config(1), standby.local_addr(), 3).unwrap();
    next_event(&mut sev, WAIT, |e| matches!(e, LinkEvent::NewerEpoch { own: 2, peer: 3 })).await;
}

#[tokio::test]
async fn frames_replayed_reordered_or_from_another_connection_are_refused() {
    let key_a = wire::connection_key(SECRET, &[1; 32], &[2; 32]);
    let key_b = wire::connection_key(SECRET, &[1; 32], &[3; 32]);
    let mut out = FrameCodec::new(&key_a, Direction::PrimaryToStandby);
    let (mut f0, mut f1) = (Vec::new(), Vec::new());
    out.encode(&Msg::Heartbeat { epoch: 1 }, &mut f0).unwrap();
    out.encode(&Msg::Ack { applied: 7 }, &mut f1).unwrap();

    let mut inn = FrameCodec::new(&key_a, Direction::PrimaryToStandby);
    let (msg, size) = inn.read(&mut &f0[..]).await.unwrap();
    assert_eq!((msg, size), (Msg::Heartbeat { epoch: 1 }, f0.len()));
    assert!(matches!(inn.read(&mut &f0[..]).await, Err(FrameError::OutOfOrder { expected: 1, found: 0 })));
    assert_eq!(inn.read(&mut &f1[..]).await.unwrap().0, Msg::Ack { applied: 7 });

    let mut other = FrameCodec::new(&key_b, Direction::PrimaryToStandby);
    assert!(matches!(other.read(&mut &f0[..]).await, Err(FrameError::BadMac)));
    let mut reflected = FrameCodec::new(&key_a, Direction::StandbyToPrimary);
    assert!(matches!(reflected.read(&mut &f0[..]).await, Err(FrameError::BadMac)));
    let mut flipped = f0.clone();
    flipped[15] ^= 1;
    let mut inn = FrameCodec::new(&key_a, Direction::PrimaryToStandby);
    assert!(matches!(inn.read(&mut &flipped[..]).await, Err(FrameError::BadMac)));
    assert!(matches!(inn.read(&mut &[0u8, 0, 0, 3][..]).await, Err(FrameError::TooShort { len: 3 })));
}

/// A standby with its own store (`store = "replicated"`): [`MemCard`] for
/// the copies, [`crate::sink::StoreFiles`] for the stream bytes.
struct StoringCard {
    card: MemCard,
    files: crate::sink::StoreFiles,
}

impl StoreHook for StoringCard {
    fn install(&mut self, id: u16, tcb: &Tcb) -> Result<(), HookError> {
        self.card.install(id, tcb)
    }
    fn remove(&mut self, id: u16) -> Result<(), HookError> {
        self.card.remove(id)
    }
    fn write_data(&mut self, _id: u16, tcb: &Tcb, offset: u64, bytes: &[u8]) -> Result<(), HookError> {
        Ok(self.files.write_at(tcb, offset, bytes)?)
    }
    fn sync_data(&mut self) -> Result<(), HookError> {
        Ok(self.files.sync()?)
    }
}

fn store_dir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("holdback-repl-store-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// An established connection that has received `received` bytes.
fn receiving(id: u16, received: u32, rng: &mut SmallRng) -> Tcb {
    let mut t = tcb(id, rng);
    t.rcv_nxt = t.irs + 1 + received;
    t
}

async fn storing_pair(tag: &str) -> (Standby, mpsc::Receiver<LinkEvent>, Primary, mpsc::Receiver<LinkEvent>, std::path::PathBuf) {
    let dir = store_dir(tag);
    let hook = StoringCard { card: MemCard::default(), files: crate::sink::StoreFiles::new(&dir).unwrap() };
    let (standby, sev) = Standby::bind(config(2), "127.0.0.1:0".parse().unwrap(), 1, hook).await.unwrap();
    let (primary, mut pev) = Primary::start(config(1), standby.local_addr(), 1).unwrap();
    next_event(&mut pev, WAIT, |e| matches!(e, LinkEvent::Synced { .. })).await;
    (standby, sev, primary, pev, dir)
}

fn stored_file(dir: &std::path::Path, t: &Tcb) -> Vec<u8> {
    std::fs::read(dir.join(crate::sink::sink_file_name(t.remote_ip, t.remote_port, t.irs.0))).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_bytes_are_on_the_standbys_disk_when_acknowledged() {
    // Invariant 3 across two hosts: a copy, the bytes it covers, then the
    // copy whose R covers them; the acknowledgement of the last one means
    // the bytes are written at their offset (fsynced) in the standby's store.
    let (standby, _sev, primary, _pev, dir) = storing_pair("ok").await;
    let mut rng = SmallRng::seed_from_u64(3);
    let data: Vec<u8> = (0..100_000u32).map(|i| (i * 13 + 5) as u8).collect();
    let mut t = receiving(4, 0, &mut rng);
    primary.send(4, &t).unwrap();
    for chunk in data.chunks(30_000).enumerate() {
        let (i, bytes) = chunk;
        let off = (i * 30_000) as u64;
        t.rcv_nxt = t.irs + 1 + (off as u32 + bytes.len() as u32);
        primary.send(4, &t).unwrap();
        primary.send_data(4, off, bytes.to_vec()).unwrap();
        t.rel = t.rcv_nxt;
        let last = primary.send(4, &t).unwrap();
        primary.wait_acked(last, WAIT).await.unwrap();
        assert_eq!(stored_file(&dir, &t), data[..off as usize + bytes.len()], "acknowledged ⇒ stored");
    }
    // Bytes that come again (a resume, a store shipped again) land on themselves.
    let last = primary.send_data(4, 0, data[..5000].to_vec()).unwrap();
    primary.wait_acked(last, WAIT).await.unwrap();
    assert_eq!(stored_file(&dir, &t), data);
    assert_eq!(standby.tcbs()[&4], t);
    assert_eq!(primary.stats().data_bytes, 105_000);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_bytes_the_standby_cannot_accept_are_refused_never_written() {
    // Each malformed data message ends the session with its reason, is not
    // acknowledged, and writes nothing; the next session full-syncs.
    let mut rng = SmallRng::seed_from_u64(4);
    type Case = (&'static str, fn(&Primary, &Tcb) -> u64, &'static str);
    let cases: [Case; 3] = [
        ("beyond", |p, _| p.send_data(1, 900, vec![7; 200]).unwrap(), "beyond what the primary received"),
        ("gap", |p, _| p.send_data(1, 500, vec![7; 10]).unwrap(), "would leave a hole"),
        (
            "syn",
            |p, t| {
                let mut syn = t.clone();
                syn.state = TcpState::SynReceived;
                p.send(1, &syn).unwrap();
                p.send_data(1, 0, vec![7; 10]).unwrap()
            },
            "carries no data",
        ),
    ];
    for (tag, send_bad, reason) in cases {
        let (standby, mut sev, primary, _pev, dir) = storing_pair(tag).await;
        let t = receiving(1, 1000, &mut rng);
        let good = primary.send(1, &t).unwrap();
        primary.wait_acked(good, WAIT).await.unwrap();
        let bad = send_bad(&primary, &t);
        let ended = next_event(&mut sev, WAIT, |e| matches!(e, LinkEvent::Disconnected { .. })).await;
        let LinkEvent::Disconnected { reason: why, .. } = ended else { unreachable!() };
        assert!(why.contains(reason), "{tag}: {why}");
        assert!(standby.applied() < bad, "{tag}: not acknowledged");
        assert!(stored_file(&dir, &t).is_empty(), "{tag}: nothing written");
        let _ = std::fs::remove_dir_all(&dir);
    }
    // A standby without a store of its own refuses stream bytes by name.
    let (standby, mut sev, primary, mut pev) = pair(1, MemCard::default()).await;
    next_event(&mut pev, WAIT, |e| matches!(e, LinkEvent::Synced { .. })).await;
    let t = receiving(2, 100, &mut rng);
    primary.send(2, &t).unwrap();
    let bad = primary.send_data(2, 0, vec![1; 100]).unwrap();
    let ended = next_event(&mut sev, WAIT, |e| matches!(e, LinkEvent::Disconnected { .. })).await;
    assert!(matches!(&ended, LinkEvent::Disconnected { reason, .. } if reason.contains("no store of its own")), "{ended:?}");
    assert!(standby.applied() < bad);
    // Bytes for a slot that never had a copy do not even leave the primary.
    assert!(matches!(primary.send_data(9, 0, vec![1]), Err(SendError::DataBeforeCopy { id: 9 })));
}

#[test]
fn stream_bytes_must_name_their_connection_and_stay_below_its_rcv_nxt_across_the_wrap() {
    use super::standby::data_misfit;
    let mut t = tcb(1, &mut SmallRng::seed_from_u64(5));
    // The stream crosses 2^32: 0x2000 bytes received from irs 0xFFFF_F000.
    t.irs = SeqNum(0xFFFF_F000);
    t.rcv_nxt = t.irs + 1 + 0x2000;
    assert_eq!(data_misfit(&t, t.irs.0, 0, 0x2000), None, "everything received fits");
    assert_eq!(data_misfit(&t, t.irs.0, 0x1000, 0x1000), None);
    assert!(data_misfit(&t, t.irs.0, 0x1000, 0x1001).is_some_and(|w| w.contains("beyond")));
    assert!(data_misfit(&t, t.irs.0 ^ 1, 0, 1).is_some_and(|w| w.contains("irs")), "a reused slot's bytes");
    assert!(data_misfit(&t, t.irs.0, u64::MAX, 2).is_some_and(|w| w.contains("past the end")));
    t.fin_rcvd = true;
    assert!(data_misfit(&t, t.irs.0, 0, 0x2000).is_some(), "the FIN is not a data byte");
}

/// An established connection whose peer acknowledged `acked` bytes of
/// our stream, which starts just before the 2^32 wrap.
fn sending(id: u16, acked: u32, rng: &mut SmallRng) -> Tcb {
    let mut t = tcb(id, rng);
    t.iss = SeqNum(0xFFFF_F000);
    t.snd_una = t.iss + 1 + acked;
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sent_bytes_are_in_the_standbys_transmit_ring_when_acknowledged() {
    // Invariant 9: the transmit ring's unacknowledged bytes after a copy of
    // their connection; their acknowledgement means the standby's ring
    // holds them at their offsets (the send limit may then pass them), and
    // a blocked ring write is not acknowledged.
    let card = MemCard::default();
    let (standby, _sev, primary, mut pev) = pair(1, card.clone()).await;
    next_event(&mut pev, WAIT, |e| matches!(e, LinkEvent::Synced { .. })).await;
    let mut rng = SmallRng::seed_from_u64(9);
    let out: Vec<u8> = (0..20_000u32).map(|i| (i * 31 + 3) as u8).collect();
    let mut t = sending(3, 0, &mut rng);
    primary.send(3, &t).unwrap();
    // 3000-byte writes while the peer acknowledges up to 5000 bytes behind:
    // the stream crosses 2^32 and the ring wraps twice.
    let mut off = 0usize;
    while off < out.len() {
        let n = 3000.min(out.len() - off);
        let last = primary.send_sent(3, off as u64, out[off..off + n].to_vec()).unwrap();
        primary.wait_acked(last, WAIT).await.unwrap();
        assert_eq!(card.tx_ring(3, off as u64, n), out[off..off + n], "acknowledged ⇒ in the standby's transmit ring");
        off += n;
        t.snd_una = t.iss + 1 + off.saturating_sub(5000) as u32;
        primary.send(3, &t).unwrap();
    }
    card.block.store(true, Ordering::SeqCst);
    let held = primary.send_sent(3, off as u64, vec![0xAB; 100]).unwrap();
    let waited = primary.wait_acked(held, Duration::from_millis(300)).await;
    assert!(matches!(waited, Err(WaitError::Timeout { .. })), "a ring write in progress is not acknowledged: {waited:?}");
    card.block.store(false, Ordering::SeqCst);
    primary.wait_acked(held, WAIT).await.unwrap();
    assert_eq!(standby.tcbs()[&3], t);
    assert_eq!(primary.stats().sent_bytes, 20_100);
    assert!(matches!(primary.send_sent(3, 0, vec![0; wire::MAX_SENT_BYTES + 1]), Err(SendError::SentTooLong { id: 3, .. })));
    assert!(matches!(primary.send_sent(9, 0, vec![1]), Err(SendError::DataBeforeCopy { id: 9 })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standbys_card_holds_a_send_tail_and_snd_max_at_the_end_of_the_bytes_it_holds() {
    // With send holdback the old primary's card may have sent every byte
    // the standby acknowledged, after the primary's last copy: the copy in
    // the standby's card ends its send tail and snd_max there (else the
    // peer's ACK of those bytes is one of data never sent to the promoted
    // card). The stored copy stays the primary's; without send holdback
    // nothing is raised.
    let card = MemCard::default();
    let (standby, _sev, primary, mut pev) = pair(1, card.clone()).await;
    next_event(&mut pev, WAIT, |e| matches!(e, LinkEvent::Synced { .. })).await;
    let mut rng = SmallRng::seed_from_u64(11);
    for (id, send_hold) in [(4u16, true), (5, false)] {
        let mut t = sending(id, 1000, &mut rng);
        t.send_hold = send_hold;
        t.tx_end = 1500;
        t.snd_nxt = t.iss + 1 + 1500;
        t.snd_max = t.snd_nxt;
        primary.send(id, &t).unwrap();
        let last = primary.send_sent(id, 1500, vec![9; 2500]).unwrap();
        primary.wait_acked(last, WAIT).await.unwrap();
        let installed = card.copies.lock().unwrap()[&id].clone();
        assert_eq!(standby.tcbs()[&id], t, "the stored copy is the primary's");
        if send_hold {
            assert_eq!((installed.tx_end, installed.snd_max), (4000, t.iss + 1 + 4000), "connection {id}");
            assert_eq!((installed.snd_una, installed.snd_nxt), (t.snd_una, t.snd_nxt), "the rest as the primary sent it");
        } else {
            assert_eq!(installed, t, "connection {id}: no send holdback, nothing raised");
        }
        // A later copy from before the primary's card sent them (its
        // send tail lower) still installs with what is held.
        t.rel += 10;
        let last = primary.send(id, &t).unwrap();
        primary.wait_acked(last, WAIT).await.unwrap();
        let installed = card.copies.lock().unwrap()[&id].clone();
        assert_eq!(installed.tx_end, if send_hold { 4000 } else { 1500 }, "connection {id}");
        assert_eq!(installed.rel, t.rel);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sent_bytes_that_do_not_fit_are_refused_counted_and_never_written() {
    // A primary holding the secret but sending what no primary could have
    // queued (the wrong connection's bytes: the unit test below): each case ends the session with its reason, is neither
    // acknowledged nor written, and counts as refused `misfit`.
    let mut rng = SmallRng::seed_from_u64(10);
    type Case = (&'static str, fn(&Primary, &Tcb) -> u64, &'static str);
    let cases: [Case; 4] = [
        ("beyond the ring", |p, _| p.send_sent(1, 1000 + u64::from(MEM_TX_RING) - 5, vec![7; 10]).unwrap(), "beyond one 8192-byte transmit ring"),
        ("below snd_una", |p, _| p.send_sent(1, 999, vec![7; 10]).unwrap(), "start before what the peer acknowledged"),
        (
            "handshake",
            |p, t| {
                let mut syn = t.clone();
                syn.state = TcpState::SynReceived;
                p.send(1, &syn).unwrap();
                p.send_sent(1, 1000, vec![7; 10]).unwrap()
            },
            "sends no data",
        ),
        ("wrapped offset", |p, _| p.send_sent(1, u64::MAX - 3, vec![7; 10]).unwrap(), "past the end"),
    ];
    for (tag, send_bad, reason) in cases {
        let card = MemCard::default();
        let (standby, mut sev, primary, mut pev) = pair(1, card.clone()).await;
        next_event(&mut pev, WAIT, |e| matches!(e, LinkEvent::Synced { .. })).await;
        let t = sending(1, 1000, &mut rng);
        let good = primary.send(1, &t).unwrap();
        primary.wait_acked(good, WAIT).await.unwrap();
        let bad = send_bad(&primary, &t);
        let ended = next_event(&mut sev, WAIT, |e| matches!(e, LinkEvent::Disconnected { .. })).await;
        let LinkEvent::Disconnected { reason: why, .. } = ended else { unreachable!() };
        assert!(why.contains(reason), "{tag}: {why}");
        assert!(standby.applied() < bad, "{tag}: not acknowledged");
        assert!(card.tx_rings.lock().unwrap().is_empty(), "{tag}: nothing written");
        assert_eq!(standby.stats().refused.get("misfit"), Some(&1), "{tag}: counted");
    }
}

#[test]
fn sent_bytes_must_name_their_connection_and_stay_within_one_ring_after_snd_una_across_the_wrap() {
    use super::standby::sent_misfit;
    let mut rng = SmallRng::seed_from_u64(11);
    // Our stream crosses 2^32; the peer acknowledged 0x1800 bytes.
    let t = sending(1, 0x1800, &mut rng);
    let ring = MEM_TX_RING;
    assert_eq!(sent_misfit(&t, t.iss.0, 0x1800, ring as usize, ring), None, "one whole ring after snd_una fits");
    assert_eq!(sent_misfit(&t, t.iss.0, 0x2000, 0x1000, ring), None);
    assert!(sent_misfit(&t, t.iss.0, 0x1800, ring as usize + 1, ring).is_some_and(|w| w.contains("beyond")));
    assert!(sent_misfit(&t, t.iss.0, 0x17FF, 1, ring).is_some_and(|w| w.contains("before")), "acknowledged bytes are not shipped");
    assert!(sent_misfit(&t, t.iss.0 ^ 1, 0x1800, 1, ring).is_some_and(|w| w.contains("iss")), "a reused slot's bytes");
    assert!(sent_misfit(&t, t.iss.0, u64::MAX, 2, ring).is_some_and(|w| w.contains("past the end")));
    assert!(sent_misfit(&t, t.iss.0, 0x1800, wire::MAX_SENT_BYTES + 1, u32::MAX).is_some_and(|w| w.contains("in one update")));
    let mut closing = t.clone();
    closing.state = TcpState::TimeWait;
    assert!(sent_misfit(&closing, t.iss.0, 0x1800, 1, ring).is_some_and(|w| w.contains("sends no data")));
}

/// The standby's promise travels on the heartbeats (docs/authority.md):
/// the primary holds one that ends before the standby's own view of it,
/// keeps it fresh while the standby promises, and sees it run out once the
/// standby stopped; a standby that promises nothing gives none.
#[tokio::test]
async fn the_standby_promises_on_each_heartbeat_until_it_stops() {
    let promise = Duration::from_millis(100);
    let cfg = LinkConfig { promise: Some(promise), ..config(61) };
    let (standby, _sev) = Standby::bind(cfg.clone(), "127.0.0.1:0".parse().unwrap(), 1, MemCard::default()).await.unwrap();
    let (primary, _pev) = Primary::start(cfg, standby.local_addr(), 1).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while primary.promise_until_us().is_none() {
        assert!(Instant::now() < deadline, "no promise reached the primary");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(primary.protocol_version(), Some(wire::PROTOCOL_VERSION));
    const { assert!(wire::PROTOCOL_VERSION >= wire::PROMISE_VERSION) };
    // Fresh for a while: every heartbeat (50 ms) renews a 100 ms promise.
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = crate::authority::now_us();
        let until = primary.promise_until_us().unwrap();
        assert!(until > now, "the promise lapsed while the standby promised: {until} <= {now}");
    }
    let last = standby.stop_promising().expect("the standby promised");
    assert!(!standby.promising());
    let binds_until = last + promise.as_micros() as u64 * 101 / 100;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let until = primary.promise_until_us().unwrap();
    assert!(until < crate::authority::now_us(), "no promise after stop_promising");
    assert!(until <= binds_until, "the primary's end {until} must not pass the standby's {binds_until}");
    assert_eq!(standby.last_promise_sent_us(), Some(last), "no promise went out after stop_promising");

    let plain = config(62);
    let (standby, _sev) = Standby::bind(plain.clone(), "127.0.0.1:0".parse().unwrap(), 1, MemCard::default()).await.unwrap();
    let (primary, _pev) = Primary::start(plain, standby.local_addr(), 1).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(primary.state(), LinkState::Replicating);
    assert_eq!((primary.promise_until_us(), standby.last_promise_sent_us()), (None, None));
}

/// A relayed connection (its peer link TCB 7) with send holdback, whose
/// peer acknowledged `acked` bytes of a stream that starts just before
/// the 2^32 wrap; the relay moved `tail` bytes into its transmit stream.
fn relaying(id: u16, acked: u32, tail: u32, rng: &mut SmallRng) -> Tcb {
    let mut t = sending(id, acked, rng);
    t.peer_link = 7;
    t.seq_offset = 0x1234_5678;
    t.send_hold = true;
    t.tx_end = tail;
    t.snd_nxt = t.snd_una;
    t.snd_max = t.snd_una;
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relayed_connections_send_limit_is_covered_by_the_installed_snd_max_once_acknowledged() {
    // docs/relay.md, "Failover of both connections": the primary's card
    // sends a relayed stream only below the limit the standby acknowledged,
    // so the standby's card must then accept the peer's ACK of anything
    // below it (snd_max), across the 2^32 wrap, while the send tail stays
    // the primary's: the bytes are in the relay peer's ring, not here.
    let card = MemCard::default();
    let (standby, _sev, primary, mut pev) = pair(1, card.clone()).await;
    next_event(&mut pev, WAIT, |e| matches!(e, LinkEvent::Synced { .. })).await;
    let mut rng = SmallRng::seed_from_u64(21);
    let mut t = relaying(4, 0x0800, 0x1000, &mut rng);
    primary.send(4, &t).unwrap();
    let last = primary.send_limit(4, 0x1000).unwrap();
    primary.wait_acked(last, WAIT).await.unwrap();
    let installed = card.copies.lock().unwrap()[&4].clone();
    assert_eq!(installed.snd_max, t.iss + 1 + 0x1000, "acknowledged ⇒ snd_max covers the limit");
    assert!(installed.snd_max.0 < t.iss.0, "the limit is past the wrap");
    assert_eq!((installed.tx_end, installed.snd_nxt, installed.snd_una), (t.tx_end, t.snd_nxt, t.snd_una));
    assert_eq!(standby.tcbs()[&4], t, "the stored copy is the primary's");
    // A later copy with a lower tail (the relay's view before a resend)
    // keeps snd_max at the limit and its own tail: no bytes are held here.
    t.tx_end = 0x0900;
    t.rel += 10;
    let last = primary.send(4, &t).unwrap();
    primary.wait_acked(last, WAIT).await.unwrap();
    let installed = card.copies.lock().unwrap()[&4].clone();
    assert_eq!((installed.tx_end, installed.snd_max, installed.rel), (0x0900, t.iss + 1 + 0x1000, t.rel));
    // The FIN's limit (one past the stream's end) covers the FIN; a lower
    // limit arriving later does not take it back (serial max).
    primary.send_limit(4, 0x1001).unwrap();
    let last = primary.send_limit(4, 0x0C00).unwrap();
    primary.wait_acked(last, WAIT).await.unwrap();
    assert_eq!(card.copies.lock().unwrap()[&4].snd_max, t.iss + 1 + 0x1001);
    // The slot reused by another connection (another iss): nothing held
    // for the old one applies.
    let mut next = relaying(4, 0, 0, &mut rng);
    next.iss = SeqNum(0x4000_0000);
    next.snd_una = next.iss + 1;
    next.snd_nxt = next.snd_una;
    next.snd_max = next.snd_una;
    let last = primary.send(4, &next).unwrap();
    primary.wait_acked(last, WAIT).await.unwrap();
    assert_eq!(card.copies.lock().unwrap()[&4], next, "a new connection in the slot installs as sent");
    assert!(matches!(primary.send_limit(9, 1), Err(SendError::DataBeforeCopy { id: 9 })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_limits_that_do_not_fit_are_refused_counted_and_never_installed() {
    // A primary holding the secret but sending a limit no primary could
    // have written: each ends the session with its reason, is neither
    // acknowledged nor installed, and counts as refused `misfit`.
    let mut rng = SmallRng::seed_from_u64(22);
    type Case = (&'static str, fn(&Primary, &Tcb) -> u64, &'static str);
    let cases: [Case; 4] = [
        ("below snd_una", |p, _| p.send_limit(1, 0x07FF).unwrap(), "before what the peer acknowledged"),
        ("2^31 ahead", |p, _| p.send_limit(1, 0x0800 + (1 << 31)).unwrap(), "2^31 or more beyond"),
        (
            "unlinked",
            |p, t| {
                let mut plain = t.clone();
                plain.peer_link = holdback_regmap::NO_PEER_LINK;
                p.send(1, &plain).unwrap();
                p.send_limit(1, 0x1000).unwrap()
            },
            "relays nothing",
        ),
        (
            "handshake",
            |p, t| {
                let mut syn = t.clone();
                syn.state = TcpState::SynReceived;
                p.send(1, &syn).unwrap();
                p.send_limit(1, 0x1000).unwrap()
            },
            "not synchronized",
        ),
    ];
    for (tag, send_bad, reason) in cases {
        let card = MemCard::default();
        let (standby, mut sev, primary, mut pev) = pair(1, card.clone()).await;
        next_event(&mut pev, WAIT, |e| matches!(e, LinkEvent::Synced { .. })).await;
        let t = relaying(1, 0x0800, 0x1000, &mut rng);
        let good = primary.send(1, &t).unwrap();
        primary.wait_acked(good, WAIT).await.unwrap();
        let bad = send_bad(&primary, &t);
        let ended = next_event(&mut sev, WAIT, |e| matches!(e, LinkEvent::Disconnected { .. })).await;
        let LinkEvent::Disconnected { reason: why, .. } = ended else { unreachable!() };
        assert!(why.contains(reason), "{tag}: {why}");
        assert!(standby.applied() < bad, "{tag}: not acknowledged");
        let installed = card.copies.lock().unwrap()[&1].clone();
        assert_eq!(installed.snd_max, t.snd_max, "{tag}: snd_max not raised");
        assert_eq!(standby.stats().refused.get("misfit"), Some(&1), "{tag}: counted");
    }
}

#[test]
fn a_send_limit_must_name_its_connection_and_lie_within_2_31_from_snd_una_across_the_wrap() {
    use super::standby::limit_misfit;
    let mut rng = SmallRng::seed_from_u64(23);
    // Our stream crosses 2^32 (iss 0xFFFF_F000); the peer acknowledged 0x1800 bytes.
    let t = relaying(1, 0x1800, 0x2000, &mut rng);
    assert_eq!(limit_misfit(&t, t.iss.0, 0x1800), None, "nothing beyond what the peer has");
    assert_eq!(limit_misfit(&t, t.iss.0, 0x2001), None, "the FIN's limit");
    assert_eq!(limit_misfit(&t, t.iss.0, 0x1800 + (1 << 31) - 1), None);
    assert!(limit_misfit(&t, t.iss.0, 0x1800 + (1 << 31)).is_some_and(|w| w.contains("2^31")));
    assert!(limit_misfit(&t, t.iss.0, 0x17FF).is_some_and(|w| w.contains("before")));
    assert!(limit_misfit(&t, t.iss.0 ^ 1, 0x1800).is_some_and(|w| w.contains("iss")), "a reused slot's limit");
    // The peer acknowledged our FIN (one past the stream's end): that is the limit.
    let mut done = t.clone();
    done.state = TcpState::FinWait2;
    done.snd_una = done.iss + 1 + 0x2001;
    assert_eq!(limit_misfit(&done, t.iss.0, 0x2001), None);
    for state in [TcpState::Closed, TcpState::Listen, TcpState::SynSent, TcpState::SynReceived] {
        let mut early = t.clone();
        early.state = state;
        assert!(limit_misfit(&early, t.iss.0, 0x1800).is_some_and(|w| w.contains("not synchronized")), "{state:?}");
    }
}
