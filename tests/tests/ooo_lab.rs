//! Out-of-order reassembly with real Linux peers (needs root: namespaces and
//! a TAP). `holdback lab --impair "loss 1% reorder 5%"` — seeded loss and
//! reordering of the frames arriving at the card — run three times with one
//! seed: reassembly and SACK off, reassembly alone, and reassembly with SACK
//! (and timestamps, as Linux peers expect). With reassembly the card holds
//! what arrives beyond a gap, so one lost segment costs the sender one
//! retransmission instead of the rest of its window: the Linux clients'
//! retransmitted segments (`nstat` TcpRetransSegs in the client namespace)
//! with reassembly, alone or with SACK, are at most half of those with both
//! off, and every stream arrives intact.
//!
//! With reassembly off a client can stall for good under this impairment
//! (seen: no ACK moved for 60 s after ~1 000 retransmissions, 1.3 of 2 MiB
//! through): the off run is the comparison, given a short stall timeout, and
//! counted whether or not it completes.
use std::time::{Duration, Instant};

use holdback_daemon::lab::report::LabReport;
use holdback_daemon::lab::{run_lab, LabRunOptions};
use holdback_regmap::Stat;
use holdback_tests::{holdback_bin, require_lab_prerequisites};

/// The clients' streams and the impairment's seed unless `HOLDBACK_TEST_SEED` replaces it.
const DEFAULT_SEED: u64 = 0x5EED_0017;

const CONNS: usize = 2;
const BYTES: u64 = 1 << 20;

fn run(seed: u64, reassembly: bool, sack: bool) -> LabReport {
    let opts = LabRunOptions {
        conns: CONNS,
        bytes: BYTES,
        seed,
        impair: Some("loss 1% reorder 5%".into()),
        stall_timeout: Duration::from_secs(if reassembly { 60 } else { 15 }),
        holdback_exe: Some(holdback_bin().to_path_buf()),
        reassembly,
        sack,
        timestamps: sack,
        ..LabRunOptions::default()
    };
    let started = Instant::now();
    let report = run_lab(&opts).unwrap_or_else(|e| panic!("lab run (reassembly {reassembly}) failed: {}", holdback_daemon::error::chain(&e)));
    eprintln!(
        "reassembly {reassembly}, SACK {sack}: {} client retransmissions, goodput {:.1} Mbit/s, {:.1} s",
        report.client_retrans_segs.map_or("no".into(), |n| n.to_string()),
        report.goodput_mbps,
        started.elapsed().as_secs_f64()
    );
    assert_eq!((report.reassembly, report.sack), (reassembly, sack));
    // A run without reassembly may fail its checks (the stall described
    // above) and keep its work directory; its figures are in the report.
    if let Some(dir) = &report.kept_work_dir {
        if !reassembly {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    report
}

#[test]
fn reassembly_at_least_halves_the_linux_peers_retransmissions_under_loss_and_reordering() {
    require_lab_prerequisites();
    let seed = holdback_sim::test_seed(DEFAULT_SEED);
    let off = run(seed, false, false);
    assert_eq!(off.resets_seen, 0, "clients saw resets without reassembly:\n{}", off.json());
    // Without reassembly the only failure allowed is the stall described above,
    // and every stream that completed arrived intact.
    assert!(off.errors.iter().all(|e| e.contains("no progress")), "without reassembly:\n{}", off.json());
    for c in off.clients.iter().filter(|c| c.error.is_none()) {
        assert!(c.sha256_match, "without reassembly, client {} completed damaged:\n{}", c.index, off.json());
    }
    let off_n = off.client_retrans_segs.unwrap_or_else(|| panic!("nstat gave no TcpRetransSegs (install iproute2)"));
    assert!(off_n > 0, "seed {seed}: no retransmission without reassembly: the impairment did not bite\n{}", off.json());
    for sack in [false, true] {
        let on = run(seed, true, sack);
        assert!(on.sha256_match, "SACK {sack}: a stream arrived damaged:\n{}", on.json());
        assert_eq!(on.resets_seen, 0, "SACK {sack}: clients saw resets:\n{}", on.json());
        assert_eq!(on.bytes_delivered, CONNS as u64 * BYTES, "{}", on.json());
        let on_n = on.client_retrans_segs.unwrap_or_else(|| panic!("nstat gave no TcpRetransSegs (install iproute2)"));
        let held = on.stats.get(Stat::RxOooHeld);
        assert!(held > 0, "seed {seed}: the card held no out-of-order segment: the impairment did not reorder\n{}", on.json());
        assert!(
            2 * on_n <= off_n,
            "seed {seed}: {on_n} retransmitted segments with reassembly (SACK {sack}), {off_n} with both off: not at most half"
        );
    }
}
