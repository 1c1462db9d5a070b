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
