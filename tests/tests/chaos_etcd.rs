//! Chaos under the etcd authority (docs/authority.md, acceptance e): a
//! pair streams to real Linux clients while seeded faults hit whichever
//! node is active — SIGKILL; a hang (every daemon thread stopped with
//! ptrace but the simulated card's, which keeps running); a cut of its
//! link to etcd; a cut of the replication link — each only once the pair
//! is Replicating again after the last. A killed node restarts with its
//! unchanged config and rejoins as standby. Clients run in waves (a new
//! wave when one ends) so traffic spans every fault. The verdict: 0 bytes
//! lost, 0 duplicated, 0 resets over the whole run, and from the captures
//! the longest time two cards answered at once for each fault kind
//! (bound: 0). Both daemons share one sink directory (`store =
//! "shared"`): a just-full-synced standby's own store may lack bytes below
//! R (README, Not done yet), which is not what this test is about.
//! `HOLDBACK_CHAOS_FAULTS` and `HOLDBACK_CHAOS_SEED` change the run.
//! Needs root (network namespaces, TAPs, ptrace) and etcd; fails loudly without them.
mod authority_lab;

use std::collections::BTreeMap;
use std::net::SocketAddrV4;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use holdback_daemon::config::StoreMode;
use holdback_daemon::control::{PairLink, PairRole};
use holdback_daemon::lab::clients::{self, ClientHandle, ClientOutcome, ClientPlan};
use holdback_daemon::lab::daemon::DaemonProcess;
use holdback_daemon::lab::pair::FailoverOptions;
use holdback_daemon::lab::DEFAULT_PORT;
use holdback_tests::{holdback_bin, pair_status, require_lab_prerequisites, wait_for};

use authority_lab::{overlap, own_frames, wall, EtcdPairSetup, Hung};

const DEFAULT_FAULTS: usize = 20;
const DEFAULT_SEED: u64 = 0xc4a0_5e7d;
const CONNS: usize = 4;
/// Per connection and wave.
const BYTES: u64 = 4 << 20;
const STATE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a hang, or a cut of the active node's link to etcd, lasts.
const HANG_FOR: Duration = Duration::from_millis(1500);
const ETCD_CUT_FOR: Duration = Duration::from_millis(1500);
/// How long the replication link stays cut after the standby promoted.
const SPLIT_FOR: Duration = Duration::from_millis(300);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Fault {
    Kill,
    Hang,
    EtcdCut,
    ReplicationCut,
}

impl Fault {
    const ALL: [Fault; 4] = [Fault::Kill, Fault::Hang, Fault::EtcdCut, Fault::ReplicationCut];
}

/// One fault as it happened: which member (0 primary, 1 standby) was
/// active and which took over, in which life of each (a life ends with a
/// kill), and when it began (wall clock, as the captures stamp frames).
struct Done {
    fault: Fault,
    old: (usize, usize),
    new: Option<(usize, usize)>,
    from: Duration,
}

/// xorshift64*: the fault sequence from the seed, the same on every machine.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The member whose daemon is active (Active or Promoted), and its epoch.
fn active(daemons: &[DaemonProcess; 2]) -> Option<(usize, u32)> {
    (0..2).find_map(|i| {
        pair_status(&daemons[i].socket).filter(|p| matches!(p.role, PairRole::Active | PairRole::Promoted)).map(|p| (i, p.epoch))
    })
}

/// The pair is Replicating: the active node's link to its standby is in sync
/// and the standby promises again.
fn replicating(daemons: &[DaemonProcess; 2]) -> Option<(usize, u32)> {
    let (i, epoch) = active(daemons)?;
    let p = pair_status(&daemons[i].socket)?;
    let s = pair_status(&daemons[1 - i].socket)?;
    (p.link == PairLink::Replicating
        && s.role == PairRole::Standby
        && s.epoch == epoch
        && s.authority.as_ref().is_some_and(|a| a.promising))
    .then_some((i, epoch))
}

/// The capture of member `m` in its life `life` (earlier lives renamed at each kill).
fn capture(dir: &Path, name: &str, life: usize, lives: usize) -> PathBuf {
    if life + 1 == lives {
        dir.join(format!("{name}.pcap"))
    } else {
        dir.join(format!("{name}-life{life}.pcap"))
    }
}

struct Waves {
    plan: ClientPlan,
    ns: String,
    cancel: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    running: Vec<ClientHandle>,
    /// Finished clients with their wave's seed.
    done: Vec<(u64, ClientOutcome)>,
    wave: u64,
}

impl Waves {
    /// Starts the next wave when the current one ended.
    fn keep_going(&mut self) {
        if !self.running.iter().all(|h| h.is_finished()) {
            return;
        }
        let seed = self.plan.seed;
        self.done.extend(clients::collect(std::mem::take(&mut self.running)).into_iter().map(|o| (seed, o)));
        self.wave += 1;
        self.plan.seed = holdback_sim::test_seed(DEFAULT_SEED ^ self.wave);
        self.running = clients::spawn_clients_counting(&self.ns, CONNS, &self.plan, self.cancel.clone(), self.sent.clone());
    }

    fn finish(mut self) -> Vec<(u64, ClientOutcome)> {
        let seed = self.plan.seed;
        self.done.extend(clients::collect(std::mem::take(&mut self.running)).into_iter().map(|o| (seed, o)));
        self.done
    }
}

/// (bytes lost, bytes duplicated) of one stream: the sent bytes not in the
/// sink file at their offset, and the file's bytes beyond them.
fn lost_and_duplicated(sink_dir: &Path, client_ip: std::net::Ipv4Addr, seed: u64, o: &ClientOutcome) -> (u64, u64) {
    use rand::RngCore;
    let Some(path) = holdback_daemon::sink::find_sink_file(sink_dir, client_ip, o.local_port) else { return (o.bytes_sent, 0) };
    let got = std::fs::read(&path).unwrap_or_default();
    let mut want = vec![0u8; o.bytes_sent as usize];
    clients::stream_rng(seed, o.index).fill_bytes(&mut want);
    let same = want.iter().zip(&got).take_while(|(a, b)| a == b).count() as u64;
    (o.bytes_sent - same, (got.len() as u64).saturating_sub(o.bytes_sent))
}

#[test]
fn seeded_faults_to_the_active_node_lose_no_byte_duplicate_none_and_never_let_two_cards_answer() {
    require_lab_prerequisites();
    let faults: usize = env_or("HOLDBACK_CHAOS_FAULTS", DEFAULT_FAULTS);
    let seed: u64 = env_or("HOLDBACK_CHAOS_SEED", DEFAULT_SEED);
    let began = Instant::now();
    let opts = FailoverOptions { conns: CONNS, bytes: BYTES, store: StoreMode::Shared, ..FailoverOptions::default() };
    let (EtcdPairSetup { dir, net, topo, pair, etcd }, primary, standby) = authority_lab::start_pair_with("holdback-chaos-etcd", "ch", &opts);
    let members = [&pair.primary, &pair.standby];
    let mut daemons = [primary, standby];
    let mut lives = [1usize, 1];
    let log = |m: usize, lives: &[usize; 2]| dir.0.join(format!("{}-life{}.log", members[m].name, lives[m]));
    let sink_dir = pair.primary.sink_dir().to_path_buf();
    assert_eq!(sink_dir, pair.standby.sink_dir(), "one shared store");

    let plan = ClientPlan {
        target: SocketAddrV4::new(topo.card_ip, DEFAULT_PORT),
        bytes: BYTES,
        seed: holdback_sim::test_seed(DEFAULT_SEED),
        stall_timeout: Duration::from_secs(60),
    };
    let (cancel, sent) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
    let mut waves = Waves {
        running: clients::spawn_clients_counting(&topo.client_ns, CONNS, &plan, cancel.clone(), sent.clone()),
        plan,
        ns: topo.client_ns.clone(),
        cancel: cancel.clone(),
        sent: sent.clone(),
        done: Vec::new(),
        wave: 0,
    };

    let mut rng = Rng(seed | 1);
    let mut log_of_faults: Vec<Done> = Vec::new();
    for n in 0..faults {
        let (a, epoch) = wait_for(STATE_TIMEOUT, "the pair Replicating again", || replicating(&daemons));
        waves.keep_going();
        // Some traffic under the pair before the next fault.
        std::thread::sleep(Duration::from_millis(200));
        let fault = Fault::ALL[(rng.next() % Fault::ALL.len() as u64) as usize];
        let b = 1 - a;
        let from = wall();
        eprintln!("fault {n}: {fault:?} to the {} (active in epoch {epoch}), {:.1} s in", members[a].name, began.elapsed().as_secs_f64());
        let promoted = |daemons: &[DaemonProcess; 2]| {
            wait_for(STATE_TIMEOUT, "the standby promoted in a newer epoch", || {
                pair_status(&daemons[b].socket).filter(|p| p.role == PairRole::Promoted && p.epoch > epoch)
            })
        };
        let mut new = Some((b, lives[b] - 1));
        let old = (a, lives[a] - 1);
        match fault {
            Fault::Kill => {
                daemons[a].kill_hard();
                promoted(&daemons);
                let name = members[a].name;
                std::fs::rename(dir.0.join(format!("{name}.pcap")), dir.0.join(format!("{name}-life{}.pcap", lives[a] - 1)))
                    .expect("keeping the killed card's capture");
                lives[a] += 1;
                daemons[a] = members[a].start(Some(holdback_bin()), &log(a, &lives)).unwrap_or_else(|e| {
                    panic!("restarting the {name} daemon with its unchanged config: {}", holdback_daemon::error::chain(&e))
                });
            }
            Fault::Hang => {
                let hung = Hung::hang(daemons[a].child.id());
                promoted(&daemons);
                std::thread::sleep(HANG_FOR);
                drop(hung);
            }
            Fault::EtcdCut => {
                let cut = |up| if a == 0 { etcd.set_primary_link(up) } else { etcd.set_standby_link(up) };
                cut(false);
                std::thread::sleep(ETCD_CUT_FOR);
                let still = pair_status(&daemons[a].socket).expect("the active node's status");
                cut(true);
                assert!(
                    matches!(still.role, PairRole::Active | PairRole::Promoted) && still.epoch == epoch,
                    "cut from etcd but heard by its standby, the active node keeps serving: {still:?}"
                );
                new = None;
            }
            Fault::ReplicationCut => {
                net.set_replication_link(false).expect("cutting the replication link");
                promoted(&daemons);
                std::thread::sleep(SPLIT_FOR);
                net.set_replication_link(true).expect("restoring the replication link");
            }
        }
        log_of_faults.push(Done { fault, old, new, from });
    }
    wait_for(STATE_TIMEOUT, "the pair Replicating after the last fault", || replicating(&daemons));
    let faults_took = began.elapsed();
    // Let the last wave finish.
    let outcomes = {
        let deadline = Instant::now() + Duration::from_secs(180);
        while !waves.running.iter().all(|h| h.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        waves.finish()
    };
    cancel.store(true, Ordering::SeqCst);
    for d in daemons.iter_mut() {
        let exit = d.stop(Duration::from_secs(20));
        assert!(exit.is_some_and(|s| s.success()), "{} exits cleanly on SIGTERM: {exit:?}", d.name);
    }

    // The streams: every byte of every wave in the shared store, once.
    let (mut lost, mut duplicated, mut resets, mut bad) = (0u64, 0u64, 0usize, Vec::new());
    for (seed, o) in &outcomes {
        let (l, d) = lost_and_duplicated(&sink_dir, topo.client_ip, *seed, o);
        lost += l;
        duplicated += d;
        resets += o.reset as usize;
        if l > 0 || d > 0 || o.reset || o.error.is_some() || o.bytes_sent != BYTES {
            bad.push(format!("client {} (seed {seed:#x}): sent {} lost {l} duplicated {d} reset {} error {:?}", o.index, o.bytes_sent, o.reset, o.error));
        }
    }

    // The captures: for each takeover, how long the old card's own frames
    // went on after the new card's first, from the fault until the next
    // one (the old node may speak again only once a later fault promotes it).
    let mut longest: BTreeMap<Fault, (usize, Duration)> = BTreeMap::new();
    let mut takeovers: BTreeMap<Fault, Vec<Duration>> = BTreeMap::new();
    let ends: Vec<Duration> = log_of_faults.iter().skip(1).map(|d| d.from).chain([wall()]).collect();
    for (done, end) in log_of_faults.iter().zip(ends) {
        let entry = longest.entry(done.fault).or_insert((0, Duration::ZERO));
        entry.0 += 1;
        let Some(new) = done.new else { continue };
        let path = |(m, life): (usize, usize)| capture(&dir.0, members[m].name, life, lives[m]);
        let (old_own, new_own) = own_frames(&path(done.old), &path(new), topo.card_mac);
        let window = |frames: Vec<Duration>| frames.into_iter().filter(|t| *t >= done.from && *t < end).collect::<Vec<_>>();
        let (old_own, new_own) = (window(old_own), window(new_own));
        entry.1 = entry.1.max(overlap(&old_own, &new_own));
        if let Some(first) = new_own.iter().min() {
            takeovers.entry(done.fault).or_default().push(first.saturating_sub(done.from));
        }
    }
    let total_sent: u64 = outcomes.iter().map(|(_, o)| o.bytes_sent).sum();
    eprintln!(
        "chaos: {faults} faults (seed {seed:#x}) in {faults_took:?}, {} waves, {} streams, {} MiB sent; lost {lost} B, duplicated {duplicated} B, resets {resets}",
        waves_count(&outcomes),
        outcomes.len(),
        total_sent >> 20
    );
    for (fault, (count, longest)) in &longest {
        let took = takeovers.get_mut(fault).map(|t| {
            t.sort();
            // A gratuitous ARP the other card's capture also holds counts for
            // neither, so a live old card (hang, cut) shows the first unicast.
            format!("; the new card's first own frame {:?} (median) / {:?} (longest) after the fault", t[t.len() / 2], t[t.len() - 1])
        });
        eprintln!(
            "  {fault:?}: {count} faults, longest overlap of two cards answering {longest:?} (bound 0){}",
            took.unwrap_or_else(|| " (no takeover: the active node keeps serving on its standby's promises)".into())
        );
    }
    eprintln!("test wall time {:?}", began.elapsed());
    assert!(bad.is_empty(), "streams across {faults} faults: {bad:#?}");
    assert_eq!((lost, duplicated, resets), (0, 0, 0));
    for (fault, (_, longest)) in &longest {
        assert_eq!(*longest, Duration::ZERO, "two cards answered at once for {longest:?} in a {fault:?} fault");
    }
    drop(etcd);
    drop(net);
    drop(dir);
}

fn waves_count(outcomes: &[(u64, ClientOutcome)]) -> usize {
    let mut seeds: Vec<u64> = outcomes.iter().map(|(s, _)| *s).collect();
    seeds.sort();
    seeds.dedup();
    seeds.len()
}
