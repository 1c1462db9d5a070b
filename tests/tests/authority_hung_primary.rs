//! A hung primary host under the etcd authority (docs/authority.md, "What
//! the card adds"): every thread of the primary's daemon is stopped
//! (ptrace) except the simulated card's own, which keeps receiving and
//! answering. The daemon then writes no lease, sends no heartbeat and asks
//! etcd for nothing, so its card must fall silent by itself when the lease
//! register's time has passed — within max(P, C) of the last grant — and
//! the standby takes over in epoch 2 only after that. Judged from the
//! captures: the hung card sent frames after the hang began, its last one
//! within the bound, and before the promoted card's first. Once thawed,
//! the old primary learns of epoch 2 and joins as standby; every stream
//! arrives intact, with no reset.
//! Needs root (network namespaces, TAPs, ptrace) and etcd; fails loudly without them.
mod authority_lab;

use std::time::{Duration, Instant};

use holdback_daemon::control::PairRole;
use holdback_tests::{pair_status, require_lab_prerequisites, wait_for};

use authority_lab::{wall, EtcdPairSetup, Hung};

const CONNS: usize = 4;
const BYTES: u64 = 2 << 20;
const STATE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the primary stays hung.
const HUNG_FOR: Duration = Duration::from_secs(2);

#[test]
fn a_hung_primarys_card_falls_silent_by_itself_when_its_lease_runs_out() {
    require_lab_prerequisites();
    let began = Instant::now();
    let (EtcdPairSetup { dir, net, topo, pair, etcd }, mut primary, mut standby) =
        authority_lab::start_pair("holdback-hung-etcd", "hg", CONNS, BYTES);
    let bound = authority_lab::silence_bound(&pair);
    authority_lab::wait_until_held_and_promised(&primary, &standby);

    let (handles, cancel, _sent_fraction) = authority_lab::clients_a_fifth_in(&topo, CONNS, BYTES, 0x4a46_e7cd);

    // Under the app and replica gates a hung host releases nothing, so its
    // card ACKs nothing new; echo requests make it answer by itself (the
    // core replies to ICMP echo without its host) until its lease ends.
    let mut pings = std::process::Command::new("ip")
        .args(["netns", "exec", &topo.client_ns, "ping", "-q", "-i", "0.01", "-w", "3"])
        .arg(topo.card_ip.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("ping from the clients' namespace");
    std::thread::sleep(Duration::from_millis(200));
    let hung_at = wall();
    let hung = Hung::hang(primary.child.id());
    let promoted = wait_for(STATE_TIMEOUT, "the standby promoted in epoch 2", || {
        pair_status(&standby.socket).filter(|p| p.role == PairRole::Promoted && p.epoch == 2)
    });
    let promoted_after = wall().saturating_sub(hung_at);
    std::thread::sleep(HUNG_FOR.saturating_sub(promoted_after));
    drop(hung);
    let _ = pings.kill();
    let _ = pings.wait();
    eprintln!("primary hung for {HUNG_FOR:?}; standby promoted {promoted_after:?} after the hang: {:?}", promoted.authority);

    let setup = EtcdPairSetup { dir, net, topo, pair, etcd };
    authority_lab::the_old_card_fell_silent_in_time(&setup, (&mut primary, &mut standby), (handles, cancel), hung_at, bound, "hung", BYTES);
    eprintln!("{CONNS} x {} MiB intact; test wall time {:?}", BYTES >> 20, began.elapsed());
    drop(setup);
}
