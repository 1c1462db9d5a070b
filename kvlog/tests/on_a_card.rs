//! kvlog behind a card in memory (`holdback_daemon::testcard`): lines are
//! committed — and so acknowledged by the card — only once whole and on
//! disk, a half line waits for its end, the FIN ends the last line, and the
//! state comes back from the log after a restart.
use std::net::{Ipv4Addr, SocketAddrV4};

use holdback_daemon::app::{AppHost, SinkShared};
use holdback_daemon::events::EventPump;
use holdback_daemon::testcard::{FakeCard, TestConn};
use holdback_regmap::TcpState;
use kvlog::{KvLog, LOG_FILE};

const IRS: u32 = 0xFFFF_FFF0; // the stream crosses the 2^32 wrap
const ID: u32 = 12;

const PEER: TestConn = TestConn { remote: SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 9), 42000), local_port: 5001, irs: IRS };

fn conn(w: &mut [u32], rcv_nxt: u32, fin: bool, state: TcpState) {
    PEER.set(w, rcv_nxt, fin, state);
}

#[test]
fn whole_lines_are_logged_fsynced_and_acknowledged_and_the_state_survives_a_restart() {
    let dir = std::env::temp_dir().join(format!("kvlog-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let fake = FakeCard::new();
    let pump = EventPump::new(fake.card.clone());
    let app = KvLog::open(&dir).expect("the log opens");
    let state = app.state();
    let mut host = AppHost::new(&pump, Box::new(app), SinkShared::default()).expect("the host starts");

    let first = b"colour=blue\nsize=10\nshape=squ";
    fake.put_ring(ID, 0, first);
    fake.set_tcb(ID, |w| conn(w, IRS.wrapping_add(1 + first.len() as u32), false, TcpState::Established));
    host.step().expect("a pass");
    let whole = "colour=blue\nsize=10\n".len() as u32;
    assert_eq!(fake.released(ID), IRS.wrapping_add(1 + whole), "acknowledged up to the last whole line only");
    let log = std::fs::read_to_string(dir.join(LOG_FILE)).expect("the log");
    assert_eq!(log, "198.18.0.9:42000 colour=blue\n198.18.0.9:42000 size=10\n");

    // The half line's end, a key set again, a line that is not key=value,
    // and a last line ended by the FIN instead of a newline.
    let second = b"are\ncolour=red\nnonsense\nweight=3";
    fake.put_ring(ID, first.len() as u64, second);
    let total = (first.len() + second.len()) as u32;
    fake.set_tcb(ID, |w| conn(w, IRS.wrapping_add(2 + total), true, TcpState::CloseWait));
    host.step().expect("a pass");
    assert_eq!(fake.released(ID), IRS.wrapping_add(2 + total), "everything and the FIN");
    {
        let s = state.lock().unwrap();
        let values: Vec<(&str, &str)> = s.values.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(values, vec![("colour", "red"), ("shape", "square"), ("size", "10"), ("weight", "3")]);
        assert_eq!((s.stats.lines, s.stats.refused_lines), (5, 1));
        assert_eq!(s.stats.fsyncs, 2, "one fsync per pass that logged lines");
    }
    drop(host);

    let again = KvLog::open(&dir).expect("the log opens again");
    let s = again.state();
    let s = s.lock().unwrap();
    assert_eq!(s.values, state.lock().unwrap().values, "the state comes back from the log");
    assert_eq!(s.stats.lines, 5);
    let _ = std::fs::remove_dir_all(&dir);
}
