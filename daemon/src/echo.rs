//! The echo application: every byte a peer sends is written back to it.
//! A pass reads each connection's new bytes, queues as many as its
//! transmit ring takes, and commits exactly those: the card acknowledges
//! a byte only once its echo is queued, and what did not fit is read again
//! in a later pass, when the peer's acknowledgements freed ring space.
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

    fn accept(&mut self, conn: &Conn) -> Result<Option<std::path::PathBuf>, AppError> {
        tracing::debug!(id = conn.id, peer = %format!("{}:{}", conn.remote_ip(), conn.remote_port()), "echo accepts");
        Ok(None)
    }

    fn pass(&mut self, io: &mut AppIo<'_>) -> Result<(), AppError> {
        for conn in io.readable() {
            let Some(chunk) = io.read(conn.id)? else { continue };
            let offset = chunk.offset;
            self.scratch.clear();
            self.scratch.extend_from_slice(chunk.bytes);
            if self.scratch.is_empty() {
                continue;
            }
            let queued = match io.write(conn.id, &self.scratch) {
                Ok(n) => n,
                // The connection may no longer send (it is closing): its
                // bytes cannot be echoed; leave them uncommitted, the
                // connection ends without them.
                Err(AppError::NotWritable { id, state }) => {
                    tracing::warn!(id, state, bytes = self.scratch.len(), "echo: the connection can no longer send; not echoed");
                    continue;
                }
                Err(e) => return Err(e),
            };
            io.commit(conn.id, offset + queued as u64)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use holdback_regmap::{self as regmap, tcb, TcpState};

    use super::*;
    use crate::app::{AppHost, SinkShared};
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
        fake.set_tcb(ID, |w| conn(w, IRS.wrapping_add(2 + 11_000), acked(11_000), true, TcpState::CloseWait));
        host.step().unwrap();
        assert_eq!(fake.released(ID), IRS.wrapping_add(2 + 11_000));
        assert_eq!(tail(&fake), 11_000);
        let rec = shared.ledger().records()[0].clone();
        assert!(rec.fin_committed && rec.fin_released && rec.path.as_os_str().is_empty(), "{rec:?}");
        assert_eq!(shared.stats().fsyncs, 0, "the echo keeps no file");
    }
}
