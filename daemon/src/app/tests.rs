//! The application interface on the fake card: offsets, commits, the
//! read cursor, close and abort, and the typed refusals of what may not be
//! done (a commit out of range, an unknown id, a connect to a tuple in use).
use std::net::SocketAddrV4;
use std::sync::{Arc, Mutex};

use holdback_regmap::{tcb, TcpState};

use super::*;
use crate::events::EventPump;
use crate::testcard::{FakeCard, TestConn};

const IRS: u32 = 0xFFFF_FF00; // the stream crosses the 2^32 wrap
const ID: u32 = 9;

const PEER: TestConn = TestConn { remote: SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 7), 41000), local_port: 5001, irs: IRS };

fn conn(w: &mut [u32], rcv_nxt: u32, fin: bool, state: TcpState) {
    PEER.set(w, rcv_nxt, fin, state);
}

/// What the scripted application saw and got, pass by pass.
#[derive(Default)]
struct Seen {
    accepted: Vec<Conn>,
    chunks: Vec<(u64, Vec<u8>, bool)>,
    refusals: Vec<String>,
    closed: Vec<(u16, bool)>,
}

/// Commits `commit_per_pass` bytes of what it read (all once the FIN is
/// in), and tries what may not be done.
struct Scripted {
    seen: Arc<Mutex<Seen>>,
    commit_per_pass: u64,
}

impl Application for Scripted {
    fn name(&self) -> &'static str {
        "scripted"
    }
    fn accept(&mut self, conn: &Conn) -> Result<Option<PathBuf>, AppError> {
        self.seen.lock().unwrap().accepted.push(*conn);
        Ok(None)
    }
    fn pass(&mut self, io: &mut AppIo<'_>) -> Result<(), AppError> {
        for c in io.readable() {
            let Some(chunk) = io.read(c.id)? else { continue };
            let (offset, end, fin) = (chunk.offset, chunk.end(), chunk.fin);
            self.seen.lock().unwrap().chunks.push((offset, chunk.bytes.to_vec(), fin));
            assert!(io.read(c.id)?.is_none(), "one read takes everything new");
            let mut seen = self.seen.lock().unwrap();
            for refused in [
                io.commit(c.id, end + 1).err(),
                io.commit(c.id, offset.wrapping_sub(1)).err().filter(|_| offset > 0),
                io.close(c.id + 1).err(),
                io.connect(PEER.remote, PEER.local_port, holdback_driver::MacAddr::ZERO).err(),
                io.commit(c.id + 1, 0).err(),
            ]
            .into_iter()
            .flatten()
            {
                seen.refusals.push(refused.to_string());
            }
            io.commit(c.id, if fin { end } else { (offset + self.commit_per_pass).min(end) })?;
        }
        Ok(())
    }
    fn closed(&mut self, conn: &Conn, aborted: bool) {
        self.seen.lock().unwrap().closed.push((conn.id, aborted));
    }
}

#[test]
fn reads_come_at_their_offsets_uncommitted_bytes_come_again_and_the_release_follows_the_commit() {
    let fake = FakeCard::new();
    let pump = EventPump::new(fake.card.clone());
    let seen = Arc::new(Mutex::new(Seen::default()));
    let shared = SinkShared::default();
    let mut host = AppHost::new(&pump, Box::new(Scripted { seen: seen.clone(), commit_per_pass: 1000 }), shared.clone()).unwrap();
    let data: Vec<u8> = (0..2500u32).map(|i| (i * 3 + 1) as u8).collect();
    fake.put_ring(ID, 0, &data);
    fake.set_tcb(ID, |w| conn(w, IRS.wrapping_add(1 + 2500), false, TcpState::Established));
    host.step().unwrap();
    assert_eq!(fake.released(ID), IRS.wrapping_add(1 + 1000), "released up to the commit, not the bytes read");
    // Nothing new arrived, but bytes [1000, 2500) were not committed: the
    // next look at the connection hands them over again.
    fake.set_tcb(ID, |w| conn(w, IRS.wrapping_add(1 + 2500), false, TcpState::Established));
    host.step().unwrap();
    assert_eq!(fake.released(ID), IRS.wrapping_add(1 + 2000));
    fake.set_tcb(ID, |w| conn(w, IRS.wrapping_add(2 + 2500), true, TcpState::CloseWait));
    host.step().unwrap();
    assert_eq!(fake.released(ID), IRS.wrapping_add(2 + 2500), "all data committed: released past the FIN");
    fake.set_tcb(ID, |w| tcb::STATE.set(w, TcpState::Closed as u32));
    host.step().unwrap();

    let seen = seen.lock().unwrap();
    assert_eq!(seen.accepted.len(), 1);
    let c = seen.accepted[0];
    assert_eq!((c.id, c.remote_port(), c.key.irs, c.start), (ID as u16, 41000, IRS, 0));
    let offsets: Vec<(u64, usize, bool)> = seen.chunks.iter().map(|(o, b, f)| (*o, b.len(), *f)).collect();
    assert_eq!(offsets, vec![(0, 2500, false), (1000, 1500, false), (2000, 500, true)]);
    for (offset, bytes, _) in &seen.chunks {
        assert_eq!(bytes[..], data[*offset as usize..*offset as usize + bytes.len()], "bytes at offset {offset}");
    }
    assert_eq!(seen.closed, vec![(ID as u16, false)]);
    let rec = shared.ledger().records()[0].clone();
    assert!(rec.closed && !rec.aborted && rec.committed == 2500 && rec.fin_released, "{rec:?}");
    assert_eq!(shared.stats().bytes_committed, 2500);
}

#[test]
fn refused_operations_and_bad_commits_are_typed_errors_not_successes() {
    let fake = FakeCard::new();
    let pump = EventPump::new(fake.card.clone());
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut host = AppHost::new(&pump, Box::new(Scripted { seen: seen.clone(), commit_per_pass: 100 }), SinkShared::default()).unwrap();
    fake.put_ring(ID, 0, &[5u8; 300]);
    fake.set_tcb(ID, |w| conn(w, IRS.wrapping_add(1 + 300), false, TcpState::Established));
    host.step().unwrap();
    fake.set_tcb(ID, |w| conn(w, IRS.wrapping_add(1 + 300), false, TcpState::Established));
    host.step().unwrap();
    let seen = seen.lock().unwrap();
    let first: Vec<&str> = seen.refusals.iter().map(String::as_str).collect();
    let expected_first = [
        "connection 9: commit to stream offset 301 is outside [0, 300]",
        "close on connection 10: no open connection has that id",
        "connect to 198.18.0.7:41000 from port 5001: a connection with that tuple is open or opening",
        "commit on connection 10: no open connection has that id",
    ];
    for (got, want) in first.iter().zip(expected_first) {
        assert!(got.starts_with(want), "`{got}` does not start with `{want}`");
    }
    // The second pass starts at offset 100: a commit below it is refused too.
    assert!(first[4].starts_with("connection 9: commit to stream offset 301 is outside [100, 300]"), "{}", first[4]);
    assert!(first[5].starts_with("connection 9: commit to stream offset 99 is outside [100, 300]"), "{}", first[5]);
    assert_eq!(first.len(), 4 + 5, "{first:#?}");
    // None of them moved the commit: two passes of 100 bytes each.
    assert_eq!(fake.released(ID), IRS.wrapping_add(1 + 200));
}

/// Closes or aborts every connection it is handed, once.
struct Ender {
    abort: bool,
    done: bool,
}

impl Application for Ender {
    fn name(&self) -> &'static str {
        "ender"
    }
    fn accept(&mut self, _conn: &Conn) -> Result<Option<PathBuf>, AppError> {
        Ok(None)
    }
    fn pass(&mut self, io: &mut AppIo<'_>) -> Result<(), AppError> {
        for c in io.readable() {
            if !self.done {
                self.done = true;
                if self.abort {
                    io.abort(c.id)?;
                } else {
                    io.close(c.id)?;
                }
            }
        }
        Ok(())
    }
}

#[test]
fn close_and_abort_write_the_cards_close_and_abort_registers() {
    for abort in [false, true] {
        let fake = FakeCard::new();
        let pump = EventPump::new(fake.card.clone());
        let mut host = AppHost::new(&pump, Box::new(Ender { abort, done: false }), SinkShared::default()).unwrap();
        fake.put_ring(ID, 0, &[1u8; 10]);
        fake.set_tcb(ID, |w| conn(w, IRS.wrapping_add(1 + 10), false, TcpState::Established));
        let (closed, aborted) = (fake.bar.peek(holdback_regmap::CONN_CLOSE.offset), fake.bar.peek(holdback_regmap::CONN_ABORT.offset));
        assert_eq!((closed, aborted), (0, 0), "nothing written before the pass");
        host.step().unwrap();
        let (closed, aborted) = (fake.bar.peek(holdback_regmap::CONN_CLOSE.offset), fake.bar.peek(holdback_regmap::CONN_ABORT.offset));
        let want = if abort { (0, ID) } else { (ID, 0) };
        assert_eq!((closed, aborted), want, "abort: {abort}");
    }
}

/// A relayed pair (docs/relay.md) is the card's alone: the host reads
/// nothing of it, writes no release register for it and opens no record,
/// also while one side still closes after the card cleared its link; once
/// the slot is free, a connection of the host's there is followed again.
/// A connection beside the pair is served as ever.
#[test]
fn relayed_connections_are_left_to_the_card() {
    const CLIENT_SIDE: u32 = 3;
    const SERVER_SIDE: u32 = 4;
    let client = TestConn { remote: SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 1), 42000), local_port: 8080, irs: 0x1000 };
    let backend = TestConn {
        remote: SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 3), 80),
        local_port: holdback_regmap::RELAY_LOCAL_PORT_BASE + SERVER_SIDE as u16,
        irs: 0x2000,
    };
    let relayed = |t: TestConn, peer: u32, state: TcpState, fin: bool| {
        move |w: &mut [u32]| {
            t.set(w, t.irs.wrapping_add(1 + 500 + fin as u32), fin, state);
            tcb::PEER_LINK.set(w, peer);
        }
    };
    let fake = FakeCard::new();
    let pump = EventPump::new(fake.card.clone());
    let seen = Arc::new(Mutex::new(Seen::default()));
    let shared = SinkShared::default();
    let mut host = AppHost::new(&pump, Box::new(Scripted { seen: seen.clone(), commit_per_pass: 1 << 20 }), shared.clone()).unwrap();
    for id in [CLIENT_SIDE, SERVER_SIDE, ID] {
        fake.put_ring(id, 0, &[7u8; 500]);
    }
    fake.set_tcb(CLIENT_SIDE, relayed(client, SERVER_SIDE, TcpState::Established, false));
    fake.set_tcb(SERVER_SIDE, relayed(backend, CLIENT_SIDE, TcpState::Established, false));
    fake.set_tcb(ID, |w| conn(w, IRS.wrapping_add(1 + 500), false, TcpState::Established));
    host.step().unwrap();
    assert_eq!(fake.released(ID), IRS.wrapping_add(1 + 500), "the host's own connection is served");
    // The server closed; the card freed the client side and cleared the
    // server side's link while it waits in LAST-ACK.
    fake.set_tcb(CLIENT_SIDE, |w| tcb::STATE.set(w, TcpState::Closed as u32));
    fake.set_tcb(SERVER_SIDE, relayed(backend, 0xFFFF, TcpState::LastAck, true));
    host.step().unwrap();
    // Past the host's periodic look at every connection it follows.
    std::thread::sleep(std::time::Duration::from_millis(60));
    host.step().unwrap();
    for id in [CLIENT_SIDE, SERVER_SIDE] {
        assert_eq!(fake.released(id), 0, "no release register of relayed connection {id} was written");
    }
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.accepted.iter().map(|c| c.id).collect::<Vec<_>>(), vec![ID as u16], "only the host's connection is followed");
        assert!(seen.chunks.iter().all(|(_, b, _)| b.len() == 500), "only its 500 bytes were read: {:?}", seen.chunks.len());
        assert_eq!(seen.chunks.len(), 1);
    }
    assert_eq!(shared.ledger().records().len(), 1, "no record of the relayed pair");
    // The server side's slot is free, then serves a connection of the host's.
    fake.set_tcb(SERVER_SIDE, |w| tcb::STATE.set(w, TcpState::Closed as u32));
    host.step().unwrap();
    let plain = TestConn { remote: SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 1), 42001), local_port: 5001, irs: 0x3000 };
    fake.set_tcb(SERVER_SIDE, |w| {
        plain.set(w, 0x3000 + 1 + 500, false, TcpState::Established);
        tcb::PEER_LINK.set(w, 0xFFFF);
    });
    host.step().unwrap();
    assert_eq!(fake.released(SERVER_SIDE), 0x3000 + 1 + 500, "the slot's next connection is the host's");
    assert_eq!(seen.lock().unwrap().accepted.iter().map(|c| c.id).collect::<Vec<_>>(), vec![ID as u16, SERVER_SIDE as u16]);
}

/// Relayed pairs in a failover pair (docs/relay.md, "Failover of both
/// connections"): the host ships each side's copy as the card holds it and
/// moves each side's send limit L to its tail (+1 for our FIN) once the
/// standby holds it.
mod relayed_limits {
    use crate::testcard::SyncedPair;
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use holdback_driver::Tcb;
    use holdback_regmap::RELAY_LOCAL_PORT_BASE;

    use super::*;
    use crate::replication::{HookError, LinkConfig, Primary, StoreHook};

    const CLIENT_SIDE: u32 = 3;
    const SERVER_SIDE: u32 = 4;
    /// The client side's transmit stream crosses the 2^32 wrap.
    const CLIENT_ISS: u32 = 0xFFFF_FF80;
    const SERVER_ISS: u32 = 0x7000_0000;
    const CLIENT: TestConn = TestConn { remote: SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 1), 42000), local_port: 8080, irs: 0x1000 };
    const BACKEND: TestConn = TestConn {
        remote: SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 3), 80),
        local_port: RELAY_LOCAL_PORT_BASE + SERVER_SIDE as u16,
        irs: 0x2000,
    };

    /// One side of the pair: `received` bytes in, its tail at `tx_end`
    /// (the bytes the card moved from its peer's ring), `acked` of them
    /// (+1 for a FIN) acknowledged, under send holdback.
    #[derive(Clone, Copy)]
    struct Side {
        conn: TestConn,
        peer: u32,
        iss: u32,
        state: TcpState,
        received: u32,
        fin: bool,
        tx_end: u32,
        acked: u32,
        close_asked: bool,
    }

    impl Side {
        fn client(state: TcpState, received: u32, tx_end: u32) -> Side {
            Side { conn: CLIENT, peer: SERVER_SIDE, iss: CLIENT_ISS, state, received, fin: false, tx_end, acked: 0, close_asked: false }
        }
        fn server(state: TcpState, received: u32, tx_end: u32) -> Side {
            Side { conn: BACKEND, peer: CLIENT_SIDE, iss: SERVER_ISS, state, received, fin: false, tx_end, acked: 0, close_asked: false }
        }
        fn write(self, w: &mut [u32]) {
            self.conn.set(w, self.conn.irs.wrapping_add(1 + self.received + self.fin as u32), self.fin, self.state);
            tcb::PEER_LINK.set(w, self.peer);
            tcb::ISS.set(w, self.iss);
            for f in [tcb::SND_UNA, tcb::SND_NXT, tcb::SND_MAX] {
                f.set(w, self.iss.wrapping_add(1 + self.acked));
            }
            tcb::TX_END.set(w, self.tx_end);
            tcb::SEND_HOLD.set(w, 1);
            tcb::CLOSE_ASKED.set(w, self.close_asked as u32);
        }
    }

    fn set(fake: &FakeCard, id: u32, side: Side) {
        fake.set_tcb(id, move |w| side.write(w));
    }

    fn limit(fake: &FakeCard, id: u32) -> u32 {
        fake.bar.peek(holdback_regmap::send_limit_addr(id))
    }

    /// A standby whose card keeps every copy it installs; its stores can be held.
    #[derive(Clone, Default)]
    struct HeldStandby {
        installed: Arc<Mutex<HashMap<u16, Tcb>>>,
        block: Arc<AtomicBool>,
    }

    impl StoreHook for HeldStandby {
        fn install(&mut self, id: u16, tcb: &Tcb) -> Result<(), HookError> {
            while self.block.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(1));
            }
            self.installed.lock().unwrap().insert(id, tcb.clone());
            Ok(())
        }
        fn remove(&mut self, id: u16) -> Result<(), HookError> {
            self.installed.lock().unwrap().remove(&id);
            Ok(())
        }
    }

    impl HeldStandby {
        /// How far the standby's installed copy of `id` lets a promoted
        /// card accept ACKs: snd_max as a transmit-stream offset (+1 past
        /// a FIN).
        fn held(&self, id: u32, iss: u32) -> u32 {
            self.installed.lock().unwrap()[&(id as u16)].snd_max.0.wrapping_sub(iss).wrapping_sub(1)
        }
    }


    fn gate(link: Arc<Primary>, wait: bool, timeout: Duration) -> ReplicaGate {
        ReplicaGate { link, wait, timeout, hold_synack: false, durable: true, ship_data: false, after_data: true, caught_up: None }
    }

    fn host(fake: &FakeCard, gate: Option<ReplicaGate>) -> AppHost<Arc<holdback_driver::MemBar>> {
        let pump = EventPump::new(fake.card.clone());
        let seen = Arc::new(Mutex::new(Seen::default()));
        let host = AppHost::new(&pump, Box::new(Scripted { seen, commit_per_pass: 1 << 20 }), SinkShared::default()).unwrap();
        match gate {
            Some(g) => host.with_replica_gate(g),
            None => host,
        }
    }

    /// Under a waiting gate each side's L follows its tail only once the
    /// standby installed a copy whose snd_max covers it: while the standby
    /// holds its stores, L stays. Then L is the tail exactly, +1 once the
    /// side's FIN is due (FIN-WAIT-1; CLOSE-WAIT only once the card asked
    /// it to close), never more, across the 2^32 wrap of the client side's
    /// stream; a side with nothing to send is not given one byte.
    #[test]
    fn a_relayed_sides_send_limit_follows_its_tail_once_the_standby_holds_it() {
        let hook = HeldStandby::default();
        let pair = SyncedPair::new(&hook);
        let fake = FakeCard::new();
        let mut host = host(&fake, Some(gate(pair.link.clone(), true, Duration::from_secs(5))));

        // Before data crosses (after-data) nothing is shipped or allowed.
        set(&fake, CLIENT_SIDE, Side::client(TcpState::Established, 0, 0));
        set(&fake, SERVER_SIDE, Side::server(TcpState::Established, 0, 0));
        host.step().unwrap();
        assert!(hook.installed.lock().unwrap().is_empty(), "no copy before data crossed the pair");
        assert_eq!((limit(&fake, CLIENT_SIDE), limit(&fake, SERVER_SIDE)), (0, 0));

        // The client's 500 bytes: the card moved the server side's tail.
        hook.block.store(true, Ordering::SeqCst);
        set(&fake, CLIENT_SIDE, Side::client(TcpState::Established, 500, 0));
        set(&fake, SERVER_SIDE, Side::server(TcpState::Established, 0, 500));
        let held = std::thread::scope(|s| {
            let peek = s.spawn(|| {
                std::thread::sleep(Duration::from_millis(300));
                let seen = limit(&fake, SERVER_SIDE);
                hook.block.store(false, Ordering::SeqCst);
                seen
            });
            host.step().unwrap();
            peek.join().unwrap()
        });
        assert_eq!(held, 0, "L waits while the standby holds its stores");
        assert_eq!(limit(&fake, SERVER_SIDE), 500, "then it is the tail");
        assert_eq!(hook.held(SERVER_SIDE, SERVER_ISS), 500, "the standby's snd_max covers it");
        assert_eq!(limit(&fake, CLIENT_SIDE), 0, "nothing to send: no byte promised");
        assert_eq!(fake.released(CLIENT_SIDE), 0, "no release of a relayed side");

        // The backend answers 300 bytes (past the wrap of the client
        // side's stream) and acknowledges the 500.
        set(&fake, SERVER_SIDE, Side { acked: 500, ..Side::server(TcpState::Established, 300, 500) });
        set(&fake, CLIENT_SIDE, Side::client(TcpState::Established, 500, 300));
        host.step().unwrap();
        assert_eq!((limit(&fake, CLIENT_SIDE), limit(&fake, SERVER_SIDE)), (300, 500));
        assert_eq!(hook.held(CLIENT_SIDE, CLIENT_ISS), 300);

        // The client's FIN: its side in CLOSE-WAIT (its own FIN not asked
        // yet), the server side closing after its tail.
        let client_closed = Side { fin: true, ..Side::client(TcpState::CloseWait, 500, 300) };
        set(&fake, CLIENT_SIDE, client_closed);
        set(&fake, SERVER_SIDE, Side { acked: 500, ..Side::server(TcpState::FinWait1, 300, 500) });
        host.step().unwrap();
        assert_eq!((limit(&fake, CLIENT_SIDE), limit(&fake, SERVER_SIDE)), (300, 501), "the server side's FIN and nothing else");
        assert_eq!(hook.held(SERVER_SIDE, SERVER_ISS), 501);

        // The backend's FIN: the card asks the client side to close.
        set(&fake, SERVER_SIDE, Side { acked: 501, fin: true, ..Side::server(TcpState::TimeWait, 300, 500) });
        set(&fake, CLIENT_SIDE, Side { close_asked: true, ..client_closed });
        host.step().unwrap();
        assert_eq!((limit(&fake, CLIENT_SIDE), limit(&fake, SERVER_SIDE)), (301, 501));
        assert_eq!(hook.held(CLIENT_SIDE, CLIENT_ISS), 301);
        drop(host);
        drop(pair);
    }

    /// The card moves a side's tail in the visit that changed its peer,
    /// and the side may report no record of its own: the peer's record
    /// makes the host read it too, ship it and move its L. A side left
    /// closing after its peer was freed (link cleared, LAST-ACK) relays
    /// nothing, so the standby takes no limit for it: it gets its FIN's
    /// byte at once, nothing more.
    #[test]
    fn an_event_for_one_side_reads_its_peer_and_a_side_left_closing_may_send_its_fin() {
        let hook = HeldStandby::default();
        let pair = SyncedPair::new(&hook);
        let fake = FakeCard::new();
        let mut host = host(&fake, Some(gate(pair.link.clone(), true, Duration::from_secs(5))));
        set(&fake, CLIENT_SIDE, Side::client(TcpState::Established, 500, 0));
        set(&fake, SERVER_SIDE, Side::server(TcpState::Established, 0, 500));
        host.step().unwrap();
        assert_eq!(limit(&fake, SERVER_SIDE), 500);

        // The server side's tail moves to 800 with no record of its own
        // (the mirror has it, as after a card's write-back).
        let mut words = [0u32; holdback_regmap::TCB_WORDS];
        Side::server(TcpState::Established, 0, 800).write(&mut words);
        fake.card.set_standby(true).unwrap();
        fake.card.write_tcb(SERVER_SIDE as u16, &Tcb::decode(&words).unwrap()).unwrap();
        fake.card.set_standby(false).unwrap();
        set(&fake, CLIENT_SIDE, Side::client(TcpState::Established, 800, 0));
        host.step().unwrap();
        assert_eq!(limit(&fake, SERVER_SIDE), 800, "read through its peer's record");
        assert_eq!(hook.held(SERVER_SIDE, SERVER_ISS), 800);

        // The client side is freed; the server side waits in LAST-ACK
        // with its link cleared.
        fake.set_tcb(CLIENT_SIDE, |w| tcb::STATE.set(w, TcpState::Closed as u32));
        let left = Side { peer: holdback_regmap::NO_PEER_LINK.into(), acked: 800, fin: true, ..Side::server(TcpState::LastAck, 0, 800) };
        set(&fake, SERVER_SIDE, left);
        host.step().unwrap();
        assert_eq!(limit(&fake, SERVER_SIDE), 801, "its FIN may go");
        assert_eq!(hook.held(SERVER_SIDE, SERVER_ISS), 800, "no limit for a TCB that relays nothing");
        drop(host);
        drop(pair);
    }

    /// `replicate = "at-setup"` beside relays (docs/relay.md, "Setup
    /// across three parties"): the card holds the client side's SYN-ACK
    /// (SYN-RECEIVED, R = irs) after the backend accepted, and the host
    /// releases it (R = irs + 1) only once the server side is synchronized
    /// and the standby acknowledged both copies. Copies of a pair still
    /// opening go to the standby, no send limit before a side is
    /// synchronized (the standby would refuse it); a held SYN-ACK of the
    /// host's own connection is released in the same pass as before.
    #[test]
    fn a_held_relayed_client_is_released_once_its_backend_accepted_and_the_standby_holds_both_sides() {
        let hook = HeldStandby::default();
        let pair = SyncedPair::new(&hook);
        let fake = FakeCard::new();
        let at_setup = ReplicaGate { hold_synack: true, after_data: false, ..gate(pair.link.clone(), true, Duration::from_secs(5)) };
        let mut relaying = host(&fake, Some(at_setup));
        let held_client = |w: &mut [u32]| {
            Side::client(TcpState::SynReceived, 0, 0).write(w);
            tcb::REL.set(w, CLIENT.irs);
            for f in [tcb::SND_UNA, tcb::SND_NXT, tcb::SND_MAX] {
                f.set(w, CLIENT_ISS);
            }
        };
        // The backend has not answered yet: no irs.
        let connecting = |w: &mut [u32]| {
            Side::server(TcpState::SynSent, 0, 0).write(w);
            for f in [tcb::IRS, tcb::RCV_NXT, tcb::REL] {
                f.set(w, 0);
            }
        };
        fake.set_tcb(CLIENT_SIDE, held_client);
        fake.set_tcb(SERVER_SIDE, connecting);
        fake.set_tcb(ID, |w| {
            conn(w, IRS.wrapping_add(1), false, TcpState::SynReceived);
            tcb::REL.set(w, IRS);
        });
        relaying.step().unwrap();
        assert_eq!(fake.released(ID), IRS.wrapping_add(1), "the host's own held SYN-ACK goes as before");
        assert_eq!(fake.released(CLIENT_SIDE), 0, "not before the backend accepted");
        let state = |id: u32| hook.installed.lock().unwrap().get(&(id as u16)).map(|t| t.state);
        assert_eq!((state(CLIENT_SIDE), state(SERVER_SIDE)), (Some(TcpState::SynReceived), Some(TcpState::SynSent)), "both copies shipped");
        assert_eq!(limit(&fake, SERVER_SIDE), 0);

        // The backend's SYN-ACK: the server side ESTABLISHED, the client
        // side still held (the card moves no R under hold-synack). The
        // server side's record alone makes the host read the client side.
        hook.block.store(true, Ordering::SeqCst);
        set(&fake, SERVER_SIDE, Side::server(TcpState::Established, 0, 0));
        let held = std::thread::scope(|s| {
            let peek = s.spawn(|| {
                std::thread::sleep(Duration::from_millis(300));
                let seen = fake.released(CLIENT_SIDE);
                hook.block.store(false, Ordering::SeqCst);
                seen
            });
            relaying.step().unwrap();
            peek.join().unwrap()
        });
        assert_eq!(held, 0, "the release waits while the standby holds its stores");
        assert_eq!(fake.released(CLIENT_SIDE), CLIENT.irs + 1, "then R = irs + 1: the card sends the SYN-ACK");
        assert_eq!((state(CLIENT_SIDE), state(SERVER_SIDE)), (Some(TcpState::SynReceived), Some(TcpState::Established)));
        assert_eq!(pair.link.state(), crate::replication::LinkState::Replicating, "no copy or limit refused as a misfit");
        drop(relaying);
        drop(pair);

        // Without hold-synack (after-data, or a gate that does not wait)
        // the card releases the client itself: the host writes nothing.
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let _enter = runtime.enter();
        let mut cfg = LinkConfig::new(b"0123456789abcdef0123456789abcdef".to_vec(), 1);
        cfg.reconnect_delay = Duration::from_secs(60);
        let (link, _events) = Primary::start(cfg, "127.0.0.1:9".parse().unwrap(), 1).unwrap();
        let fake = FakeCard::new();
        let mut host = host(&fake, Some(gate(Arc::new(link), false, Duration::from_millis(50))));
        fake.set_tcb(CLIENT_SIDE, held_client);
        set(&fake, SERVER_SIDE, Side::server(TcpState::Established, 0, 0));
        host.step().unwrap();
        assert_eq!(fake.released(CLIENT_SIDE), 0);
    }

    /// Without a standby's answer a waiting gate writes no limit; a gate
    /// that does not wait (a promoted daemon whose standby is not back:
    /// degraded) ships the copy and the limit and writes L at once; with no
    /// gate at all L moves at once where the TCB holds its sending, and a
    /// TCB without send holdback is left alone as before.
    #[test]
    fn a_degraded_or_ungated_host_writes_the_limit_at_once_a_waiting_one_only_after_the_standby() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let _enter = runtime.enter();
        for (wait, want) in [(true, 0), (false, 700)] {
            let mut cfg = LinkConfig::new(b"0123456789abcdef0123456789abcdef".to_vec(), 1);
            cfg.reconnect_delay = Duration::from_secs(60);
            // Nothing listens on loopback's discard port: the link stays down.
            let (link, _events) = Primary::start(cfg, "127.0.0.1:9".parse().unwrap(), 1).unwrap();
            let link = Arc::new(link);
            let fake = FakeCard::new();
            let mut host = host(&fake, Some(gate(link.clone(), wait, Duration::from_millis(50))));
            set(&fake, CLIENT_SIDE, Side::client(TcpState::Established, 700, 0));
            set(&fake, SERVER_SIDE, Side::server(TcpState::Established, 0, 700));
            host.step().unwrap();
            host.step().unwrap();
            assert_eq!(limit(&fake, SERVER_SIDE), want, "wait: {wait}");
            assert!(link.last_sent() >= 3, "wait: {wait}: both copies and the limit queued for the standby");
        }
        for (send_hold, want) in [(true, 700), (false, 0)] {
            let fake = FakeCard::new();
            let mut host = host(&fake, None);
            set(&fake, CLIENT_SIDE, Side::client(TcpState::Established, 700, 0));
            fake.set_tcb(SERVER_SIDE, move |w| {
                Side::server(TcpState::Established, 0, 700).write(w);
                tcb::SEND_HOLD.set(w, send_hold as u32);
            });
            host.step().unwrap();
            assert_eq!(limit(&fake, SERVER_SIDE), want, "no gate, send holdback {send_hold}");
        }
    }
}
