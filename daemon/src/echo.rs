//! The echo application: every byte a peer sends is written back to it,
//! at the same stream offset. A pass reads each connection's new bytes,
//! queues as many as its transmit ring takes, and commits the input they
//! answer only once that output is held where a promoted card would send
//! it from ([`AppIo::commit_after_output`]: below the replicated send
//! limit L, invariant 9): the card acknowledges a byte only once its echo
//! is safe. What did not fit is read again in a later pass, when the
//! peer's acknowledgements freed ring space.
//!
//! The echo is idempotent by offset: input below the transmit stream's end
//! ([`AppIo::sent`]) was echoed already — by this host in an earlier pass
//! (its commit still waiting for the standby), or by a failed host whose
//! output the standby holds — and is not written twice.
//!
//! It is written on the application interface alone ([`crate::app`]), as
//! a program outside the daemon would be.
use crate::app::{AppError, AppIo, Application, Conn};

/// The built-in echo (`[app] kind = "echo"`).
#[derive(Debug, Default)]
pub struct Echo {
    /// The bytes of one read, copied out so the write can borrow the card.
    scratch: Vec<u8>,
}

impl Application for Echo {
    fn name(&self) -> &'static str {
        "echo"
    }

    /// The echo's state is its output, held by the standby's transmit ring.
    fn keeps_store(&self) -> bool {
        false
    }

    fn accept(&mut self, conn: &Conn) -> Result<Option<std::path::PathBuf>, AppError> {
        tracing::debug!(id = conn.id, peer = %format!("{}:{}", conn.remote_ip(), conn.remote_port()), "echo accepts");
        Ok(None)
    }

    fn pass(&mut self, io: &mut AppIo<'_>) -> Result<(), AppError> {
        for conn in io.readable() {
            let Some(chunk) = io.read(conn.id)? else { continue };
            let (offset, end) = (chunk.offset, chunk.end());
            self.scratch.clear();
            self.scratch.extend_from_slice(chunk.bytes);
            let Some((written, _)) = io.sent(conn.id) else { continue };
            if written < offset {
                // The input before `offset` was committed, so its echo was
                // held; only a run without a waiting replica gate can lose
                // it across a failover (docs/failover.md, invariant 9).
                return Err(AppError::App {
                    app: "echo",
                    what: format!(
                        "connection {}: the transmit stream ends at {written}, before the committed input at {offset}: \
                         the echo of [{written}, {offset}) is lost",
                        conn.id
                    ),
                    source: None,
                });
            }
            // Output offset = input offset: skip what is echoed already.
            let echoed = (written - offset).min(self.scratch.len() as u64) as usize;
            let queued = if echoed < self.scratch.len() {
                match io.write(conn.id, &self.scratch[echoed..]) {
                    Ok(n) => n,
                    // The connection may no longer send (it is closing): its
                    // bytes cannot be echoed; leave them uncommitted, the
                    // connection ends without them.
                    Err(AppError::NotWritable { id, state }) => {
                        tracing::warn!(id, state, bytes = self.scratch.len() - echoed, "echo: the connection can no longer send; not echoed");
                        0
                    }
                    Err(e) => return Err(e),
                }
            } else {
                0
            };
            let answered = offset + (echoed + queued) as u64;
            debug_assert!(answered <= end);
            io.commit_after_output(conn.id, answered)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::testcard::SyncedPair;
    use holdback_regmap::{self as regmap, tcb, TcpState};

    use std::collections::HashMap;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use holdback_driver::{SeqNum, Tcb};

    use super::*;
    use crate::app::{AppHost, ReplicaGate, SinkShared};
    use crate::replication::{HookError, StoreHook};
    use crate::events::EventPump;
    use crate::testcard::{FakeCard, FAKE_RX_RING_BYTES};

    // Both directions' streams cross the 2^32 wrap.
    const IRS: u32 = 0xFFFF_F000;
    const ISS: u32 = 0xFFFF_E800;
    const ID: u32 = 4;

    fn conn(w: &mut [u32], rcv_nxt: u32, snd_una: u32, fin: bool, state: TcpState) {
        tcb::STATE.set(w, state as u32);
        tcb::FIN_RCVD.set(w, fin as u32);
        tcb::REMOTE_IP.set(w, u32::from(std::net::Ipv4Addr::new(198, 18, 0, 1)));
        tcb::REMOTE_PORT.set(w, 40000);
        tcb::LOCAL_PORT.set(w, 5001);
        tcb::IRS.set(w, IRS);
        tcb::RCV_NXT.set(w, rcv_nxt);
        tcb::REL.set(w, IRS.wrapping_add(1));
        tcb::ISS.set(w, ISS);
        tcb::SND_UNA.set(w, snd_una);
    }

    fn tail(fake: &FakeCard) -> u32 {
        fake.bar.peek(regmap::tx_tail_addr(ID))
    }

    fn limit(fake: &FakeCard) -> u32 {
        fake.bar.peek(regmap::send_limit_addr(ID))
    }

    fn tx_ring(fake: &FakeCard, from: u64, len: usize) -> Vec<u8> {
        let mut got = vec![0u8; len];
        fake.card.host_rings().unwrap().read_tx_ring(ID as u16, from, &mut got).unwrap();
        got
    }

    /// Every byte read is queued in the transmit ring at its own stream
    /// offset and the send tail rung with the new end; the card may ACK a
    /// byte only once its echo is queued. A full transmit ring holds the
    /// rest back (not committed, read again) until the peer's ACK frees
    /// ring space; the release past the peer's FIN (the card's own FIN)
    /// waits until the peer acknowledged every echoed byte.
    #[test]
    fn echo_queues_what_it_reads_rings_the_send_tail_and_commits_only_what_it_queued() {
        let fake = FakeCard::new();
        let pump = EventPump::new(fake.card.clone());
        let shared = SinkShared::default();
        let mut host = AppHost::new(&pump, Box::new(Echo::default()), shared.clone()).unwrap();
        let ring = FAKE_RX_RING_BYTES as usize;
        assert_eq!(fake.card.tx_ring_bytes().unwrap() as usize, ring, "transmit rings as large as the receive rings");
        let data: Vec<u8> = (0..11_000u32).map(|i| (i * 29 + 7) as u8).collect();
        let acked = |off: u32| ISS.wrapping_add(1 + off);

        fake.put_ring(ID, 0, &data[..3000]);
        fake.set_tcb(ID, |w| conn(w, IRS.wrapping_add(1 + 3000), acked(0), false, TcpState::Established));
        host.step().unwrap();
        assert_eq!(tx_ring(&fake, 0, 3000), data[..3000], "the echo is in the transmit ring at its offsets");
        assert_eq!(tail(&fake), 3000, "the doorbell says how far the ring is filled");
        assert_eq!(limit(&fake), 3000, "without a replica gate the card may send what is queued");
        assert_eq!(fake.released(ID), IRS.wrapping_add(1 + 3000), "committed once queued");

        // 8000 more arrive, but only 8192 - 3000 fit while the peer has
        // acknowledged nothing of the echo.
        fake.put_ring(ID, 3000, &data[3000..11_000]);
        fake.set_tcb(ID, |w| conn(w, IRS.wrapping_add(1 + 11_000), acked(0), false, TcpState::Established));
        host.step().unwrap();
        assert_eq!(tail(&fake) as usize, ring, "the ring is full");
        assert_eq!(fake.released(ID), IRS.wrapping_add(1 + ring as u32), "only the queued bytes are committed");
        let rec = shared.ledger().records()[0].clone();
        assert_eq!((rec.committed, rec.released), (ring as u64, ring as u64));

        // The peer acknowledges 4000 bytes of the echo: the rest goes out.
        fake.set_tcb(ID, |w| conn(w, IRS.wrapping_add(1 + 11_000), acked(4000), false, TcpState::Established));
        host.step().unwrap();
        assert_eq!(tail(&fake), 11_000);
        assert_eq!(tx_ring(&fake, ring as u64, 11_000 - ring), data[ring..], "written over the acknowledged bytes, past the wrap");
        assert_eq!(tx_ring(&fake, 4000, ring - 4000), data[4000..ring], "unacknowledged bytes untouched");
        assert_eq!(fake.released(ID), IRS.wrapping_add(1 + 11_000));

        // The peer's FIN: committed with the data, but released (the card
        // then sends its own FIN) only once the echo is all acknowledged.
        fake.set_tcb(ID, |w| conn(w, IRS.wrapping_add(2 + 11_000), acked(10_000), true, TcpState::CloseWait));
        host.step().unwrap();
        assert_eq!(fake.released(ID), IRS.wrapping_add(1 + 11_000), "the FIN waits for the echo's last 1000 bytes");
        assert_eq!(limit(&fake), 11_000, "nor the card's FIN");
        fake.set_tcb(ID, |w| conn(w, IRS.wrapping_add(2 + 11_000), acked(11_000), true, TcpState::CloseWait));
        host.step().unwrap();
        assert_eq!(fake.released(ID), IRS.wrapping_add(2 + 11_000));
        assert_eq!(tail(&fake), 11_000);
        assert_eq!(limit(&fake), 11_001, "the send limit lets the card's FIN go with the release past the peer's");
        let rec = shared.ledger().records()[0].clone();
        assert!(rec.fin_committed && rec.fin_released && rec.path.as_os_str().is_empty(), "{rec:?}");
        assert_eq!(shared.stats().fsyncs, 0, "the echo keeps no file");
    }

    /// A standby on loopback whose hook keeps the copies and the transmit
    /// rings' bytes, and can be held (every store blocks).
    #[derive(Clone, Default)]
    struct LoopbackStandby {
        copies: Arc<Mutex<HashMap<u16, Tcb>>>,
        sent: Arc<Mutex<HashMap<u64, u8>>>,
        block: Arc<AtomicBool>,
    }

    impl LoopbackStandby {
        fn hold(&self) {
            while self.block.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(1));
            }
        }

        fn sent(&self, from: u64, len: usize) -> Vec<u8> {
            let sent = self.sent.lock().unwrap();
            (from..from + len as u64).map(|o| sent.get(&o).copied().unwrap_or(0)).collect()
        }
    }

    impl StoreHook for LoopbackStandby {
        fn install(&mut self, id: u16, tcb: &Tcb) -> Result<(), HookError> {
            self.hold();
            self.copies.lock().unwrap().insert(id, tcb.clone());
            Ok(())
        }
        fn remove(&mut self, id: u16) -> Result<(), HookError> {
            self.copies.lock().unwrap().remove(&id);
            Ok(())
        }
        fn tx_ring_bytes(&self) -> Option<u32> {
            Some(FAKE_RX_RING_BYTES)
        }
        fn write_sent(&mut self, _id: u16, _tcb: &Tcb, offset: u64, bytes: &[u8]) -> Result<(), HookError> {
            self.hold();
            let mut sent = self.sent.lock().unwrap();
            for (i, b) in bytes.iter().enumerate() {
                sent.insert(offset + i as u64, *b);
            }
            Ok(())
        }
    }


    /// Invariant 9 with the waiting replica gate: the echo of each byte is
    /// in the standby's transmit ring before the card may send it (L) and
    /// before the input it answers is released (R); while the standby
    /// holds its stores, the doorbell moves (the card has the bytes) but
    /// neither L nor R does.
    #[test]
    fn the_echo_is_sent_and_its_input_released_only_once_the_standby_holds_it() {
        let hook = LoopbackStandby::default();
        let pair = SyncedPair::new(&hook);
        let fake = FakeCard::new();
        let pump = EventPump::new(fake.card.clone());
        let mut host = AppHost::new(&pump, Box::new(Echo::default()), SinkShared::default()).unwrap().with_replica_gate(ReplicaGate {
            link: pair.link.clone(),
            wait: true,
            timeout: Duration::from_secs(5),
            hold_synack: false,
            durable: true,
            ship_data: false,
            after_data: false,
            caught_up: None,
        });
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 + 11) as u8).collect();
        let acked = ISS.wrapping_add(1);

        fake.put_ring(ID, 0, &data[..3000]);
        fake.set_tcb(ID, |w| conn(w, IRS.wrapping_add(1 + 3000), acked, false, TcpState::Established));
        host.step().unwrap();
        assert_eq!((tail(&fake), limit(&fake)), (3000, 3000));
        assert_eq!(fake.released(ID), IRS.wrapping_add(1 + 3000));
        assert_eq!(hook.sent(0, 3000), data[..3000], "the standby's transmit ring holds the echo");
        let copy = pair.standby.tcbs()[&(ID as u16)].clone();
        assert_eq!((copy.rel, copy.tx_end), (SeqNum(IRS.wrapping_add(1 + 3000)), 3000), "its copy: R and the send tail it holds");

        hook.block.store(true, Ordering::SeqCst);
        fake.put_ring(ID, 3000, &data[3000..]);
        fake.set_tcb(ID, |w| conn(w, IRS.wrapping_add(1 + 5000), acked, false, TcpState::Established));
        let held = std::thread::scope(|s| {
            let peek = s.spawn(|| {
                std::thread::sleep(Duration::from_millis(300));
                let seen = (tail(&fake), limit(&fake), fake.released(ID));
                hook.block.store(false, Ordering::SeqCst);
                seen
            });
            host.step().unwrap();
            peek.join().unwrap()
        });
        assert_eq!(held, (5000, 3000, IRS.wrapping_add(1 + 3000)), "queued, but neither sent nor released while the standby holds");
        assert_eq!((limit(&fake), fake.released(ID)), (5000, IRS.wrapping_add(1 + 5000)));
        assert_eq!(hook.sent(0, 5000), data);
        drop(host);
        drop(pair);
    }

    /// A full sync carries TCB copies, not transmit-ring bytes. A sink
    /// that starts behind a synced link — after a degraded period, the
    /// card's echo of [0, 4000) is queued and allowed but was never
    /// shipped — marks the standby caught up only once the standby holds
    /// those bytes; while the standby's stores are held, it does not.
    #[test]
    fn the_standby_is_caught_up_only_once_it_holds_the_echo_queued_before_the_sync() {
        let hook = LoopbackStandby::default();
        let pair = SyncedPair::new(&hook);
        let generation = pair.link.sync_generation();

        let fake = FakeCard::new();
        let pump = EventPump::new(fake.card.clone());
        let data: Vec<u8> = (0..4000u32).map(|i| (i * 13 + 5) as u8).collect();
        fake.card.write_tx_ring(ID as u16, 0, &data).unwrap();
        fake.put_ring(ID, 0, &data);
        fake.set_tcb(ID, |w| {
            conn(w, IRS.wrapping_add(1 + 4000), ISS.wrapping_add(1), false, TcpState::Established);
            tcb::REL.set(w, IRS.wrapping_add(1 + 4000));
            tcb::TX_END.set(w, 4000);
        });
        let caught_up = crate::sink::StandbyCaughtUp::default();
        let mut host = AppHost::new(&pump, Box::new(Echo::default()), SinkShared::default()).unwrap().with_replica_gate(ReplicaGate {
            link: pair.link.clone(),
            wait: true,
            timeout: Duration::from_millis(50),
            hold_synack: false,
            durable: true,
            ship_data: false,
            after_data: false,
            caught_up: Some(caught_up.clone()),
        });

        // The standby holds its stores: each pass's wait times out. The
        // hold ends before any assertion, so a failure cannot hang the
        // standby's thread (and the test) behind it.
        hook.block.store(true, Ordering::SeqCst);
        let marked_while_held = (0..4).any(|_| {
            host.step().unwrap();
            caught_up.after(generation)
        });
        hook.block.store(false, Ordering::SeqCst);
        assert!(!marked_while_held, "caught up while the standby's transmit ring was still empty");
        let deadline = Instant::now() + Duration::from_secs(5);
        while !caught_up.after(generation) {
            assert!(Instant::now() < deadline, "the standby holds the backlog, but the sink never said so");
            host.step().unwrap();
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(hook.sent(0, 4000), data, "caught up means the standby's transmit ring holds the echo");
        drop(host);
        drop(pair);
    }

    /// Promotion resumes the send side: a new host (the promoted daemon's)
    /// on a card whose copy says the standby holds the echo up to 5000
    /// while R is at 3000 (the copy with the newer R had not arrived). The
    /// peer sends [3000, 5500) again; the echo writes only [5000, 5500),
    /// after the held bytes, and the card may send from its copy at once.
    #[test]
    fn after_a_promotion_the_echo_continues_after_what_the_standby_holds() {
        let fake = FakeCard::new();
        let pump = EventPump::new(fake.card.clone());
        let shared = SinkShared::default();
        let mut host = AppHost::new(&pump, Box::new(Echo::default()), shared.clone()).unwrap();
        let data: Vec<u8> = (0..5500u32).map(|i| (i * 3 + 1) as u8).collect();
        fake.card.write_tx_ring(ID as u16, 0, &data[..5000]).unwrap();
        fake.put_ring(ID, 3000, &data[3000..5500]);
        fake.set_tcb(ID, |w| {
            conn(w, IRS.wrapping_add(1 + 5500), ISS.wrapping_add(1 + 1000), false, TcpState::Established);
            tcb::REL.set(w, IRS.wrapping_add(1 + 3000));
            tcb::TX_END.set(w, 5000);
        });
        host.step().unwrap();
        let rec = shared.ledger().records()[0].clone();
        assert_eq!(rec.released, 5500, "resumed at R = 3000, the resent input answered");
        assert_eq!(tail(&fake), 5500, "nothing written twice: [3000, 5000) was echoed on the failed host");
        assert_eq!(tx_ring(&fake, 1000, 4500), data[1000..], "the held bytes untouched, the new ones after them");
        assert_eq!(limit(&fake), 5500);
        assert_eq!(fake.released(ID), IRS.wrapping_add(1 + 5500));
    }

    /// Our FIN after a promotion (docs/failover.md, invariant 9): the
    /// standby's copy shows FIN-WAIT-1 with the FIN held by the send limit
    /// (the dead card may have sent it since). The promoted host's first
    /// pass writes the limit past the send tail, which sends the FIN
    /// again (`sim/tests/promote_fin.rs` shows the card's side).
    #[test]
    fn a_promoted_host_lets_the_fin_of_a_closed_connection_go_in_its_first_pass() {
        let fake = FakeCard::new();
        let pump = EventPump::new(fake.card.clone());
        let mut host = AppHost::new(&pump, Box::new(Echo::default()), SinkShared::default()).unwrap();
        fake.card.write_tx_ring(ID as u16, 0, &[5; 2000]).unwrap();
        fake.set_tcb(ID, |w| {
            conn(w, IRS.wrapping_add(1 + 2000), ISS.wrapping_add(1 + 1500), false, TcpState::FinWait1);
            tcb::REL.set(w, IRS.wrapping_add(1 + 2000));
            tcb::TX_END.set(w, 2000);
        });
        assert_eq!(limit(&fake), 0, "a promoted card's send limit was never written");
        host.step().unwrap();
        assert_eq!(limit(&fake), 2001, "every held byte and the FIN after them");
        assert_eq!(tail(&fake), 0, "nothing written after the close");
    }
}
