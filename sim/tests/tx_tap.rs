//! The card sends to a real Linux peer: the simulated card on a TAP inside a
//! throwaway network namespace listens, a Linux socket in the namespace
//! connects and reads; the test, as the host, writes a stream into the
//! connection's transmit ring in host memory, rings the send-tail doorbell,
//! and refills the ring as the card's snd_una (read from its TCB) shows what
//! Linux acknowledged. Linux must read every byte intact and in order: its
//! TCP stack, not our model, judges the card's segments and checksums.
//! Needs root (netns + TAP); fails saying so otherwise.
#[path = "common/netns.rs"]
mod netns;
#[path = "common/tap_sender.rs"]
mod tap_sender;

use std::{
    time::{Duration, Instant},
};

use holdback_regmap::Stat;
use netns::{require_root_and_ip, Netns};
use rand::{rngs::SmallRng, Rng, SeedableRng};
use tap_sender::TapSender;

const BYTES: usize = 256 * 1024;

#[test]
fn a_linux_peer_reads_the_cards_stream_intact() {
    require_root_and_ip("tx_tap");
    let ns = Netns::new("hbtx");
    let tap = format!("hbtx{}", std::process::id() % 100_000);
    let sender = TapSender::start(&ns, &tap, None, &[]);

    // The Linux side: a thread in the namespace connects and reads every byte.
    let (reader, done_rx) = tap_sender::linux_reader(&ns, BYTES, Duration::ZERO, Duration::from_secs(10));

    let started = Instant::now();
    let data: Vec<u8> = {
        let mut rng = SmallRng::seed_from_u64(0x7478_7461_70);
        (0..BYTES).map(|_| rng.gen()).collect()
    };
    sender.send_all(&data, &done_rx, started + Duration::from_secs(60));
    let got = reader.join().expect("reader thread").unwrap_or_else(|e| panic!("the Linux reader failed: {e}"));
    let elapsed = started.elapsed();
    assert_eq!(sender.regs.read32(Stat::TxTailRefused.offset()).expect("stat"), 0);
    let report = sender.card.shutdown().unwrap_or_else(|e| panic!("shutdown: {e}"));
    let first_bad = got.iter().zip(&data).position(|(a, b)| a != b);
    assert_eq!(first_bad, None, "Linux read a different byte at offset {first_bad:?}");
    eprintln!("Linux read {BYTES} bytes intact in {elapsed:?}; card report {report:?}");
}
