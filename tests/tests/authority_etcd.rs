//! The etcd authority's client (`daemon/src/authority/etcd.rs`,
//! docs/authority.md) against a real etcd from Debian's `etcd-server`,
//! started by this test on its own loopback ports with its own data
//! directory, and killed and removed after, also when the test fails:
//! two nodes racing for an epoch get one winner, epochs only grow, a
//! confirmation fails once another node took the next epoch and the watch
//! tells the old holder, a starting node does not take the epoch while a
//! holder's lease lives but does once it ran out, the keep-alive keeps it,
//! and an unreachable etcd is an error (the holder's grant then runs out).
//! Needs no root.
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use holdback_daemon::authority::etcd::{Campaign, Confirmation, Etcd, Outcome};
use holdback_daemon::config::EtcdAuthority;
use holdback_tests::{require_tool, WorkDir};

/// One etcd member on two free loopback ports; killed and its data removed on drop.
struct EtcdServer {
    child: Child,
    client_url: String,
    _dir: WorkDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free loopback port").port()
}

impl EtcdServer {
    fn start(tag: &str) -> EtcdServer {
        require_tool("etcd", "etcd-server");
        let dir = std::env::temp_dir().join(format!("holdback-etcd-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("etcd's directory");
        let dir = WorkDir(dir);
        let (client, peer) = (free_port(), free_port());
        let client_url = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let name = format!("hb-{tag}");
        let log = std::fs::File::create(dir.0.join("etcd.log")).expect("etcd's log");
        let child = Command::new("etcd")
            .args(["--name", &name, "--data-dir"])
            .arg(dir.0.join("data"))
            .args(["--listen-client-urls", &client_url, "--advertise-client-urls", &client_url])
            .args(["--listen-peer-urls", &peer_url, "--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &format!("{name}={peer_url}"), "--initial-cluster-state", "new"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting etcd");
        let server = EtcdServer { child, client_url, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", client)).is_err() {
            assert!(Instant::now() < deadline, "etcd did not listen on {} within 20 s; its log: {}", server.client_url, server.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self._dir.0.join("etcd.log")).unwrap_or_default()
    }

    fn settings(&self, prefix: &str) -> EtcdAuthority {
        EtcdAuthority {
            endpoints: vec![self.client_url.clone()],
            key_prefix: prefix.to_string(),
            lease_ttl_s: 2,
            promise: Duration::from_millis(200),
            confirm: Duration::from_millis(300),
            request_timeout: Duration::from_millis(1500),
            name: String::new(),
            ca_file: None,
            cert_file: None,
            key_file: None,
            user: None,
            password_file: None,
        }
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime")
}

async fn node(server: &EtcdServer, prefix: &str, name: &str) -> Etcd {
    Etcd::connect(&server.settings(prefix), name).await.unwrap_or_else(|e| panic!("{name} connecting: {e:?}\netcd's log: {}", server.log()))
}

fn won(o: Outcome) -> holdback_daemon::authority::etcd::Won {
    match o {
        Outcome::Won(w) => w,
        Outcome::Lost(c) => panic!("lost the campaign to {c:?}"),
    }
}

#[test]
fn epochs_are_taken_by_compare_and_swap_confirmed_watched_and_only_grow() {
    let server = EtcdServer::start("cas");
    let prefix = format!("/holdback-test/{}", std::process::id());
    runtime().block_on(async {
        let a = node(&server, &prefix, "a").await;
        let b = node(&server, &prefix, "b").await;
        assert_eq!(a.current().await.expect("read").epoch, 0, "a fresh prefix has no epoch");

        // Both race for the first epoch: exactly one wins, the other sees it.
        let (ra, rb) = tokio::join!(a.campaign(Campaign::Takeover, 0), b.campaign(Campaign::Takeover, 0));
        let (ra, rb) = (ra.expect("a's transaction"), rb.expect("b's transaction"));
        let (winner, loser, winner_name, (first, seen_by_loser)) = match (&ra, &rb) {
            (Outcome::Won(w), Outcome::Lost(c)) => (&a, &b, "a", (*w, c.clone())),
            (Outcome::Lost(c), Outcome::Won(w)) => (&b, &a, "b", (*w, c.clone())),
            other => panic!("one winner expected: {other:?}"),
        };
        assert_eq!(first.epoch, 1);
        assert_eq!(seen_by_loser.epoch, 1, "the loser is told the epoch that won");
        assert_eq!(winner.confirm(first).await.expect("confirm"), Confirmation::Current);

        // The loser takes over: the old holder's watch and confirmation both say so.
        let mut watch = winner.watch_epoch().await.expect("watch");
        let second = won(loser.campaign(Campaign::Takeover, 0).await.expect("takeover"));
        assert_eq!(second.epoch, 2);
        assert_eq!(winner.confirm(first).await.expect("confirm"), Confirmation::Newer(2));
        let heard = tokio::time::timeout(Duration::from_secs(5), watch.recv()).await.expect("the watch reports within 5 s");
        assert_eq!(heard, Some(2));
        assert_eq!(loser.confirm(second).await.expect("confirm"), Confirmation::Current);

        // Epochs only grow: a node that knows of a higher one asks above it.
        let third = won(winner.campaign(Campaign::Takeover, 10).await.expect("campaign"));
        assert_eq!(third.epoch, 11);
        assert_eq!(loser.confirm(second).await.expect("confirm"), Confirmation::Newer(11));
        let now = winner.current().await.expect("read");
        assert_eq!((now.epoch, now.holder.map(|h| (h.name, h.epoch))), (11, Some((winner_name.to_string(), 11))));
    });
}

#[test]
fn a_starting_node_waits_for_the_holders_lease_and_an_unreachable_etcd_is_an_error() {
    let mut server = EtcdServer::start("lease");
    let prefix = format!("/holdback-test/{}", std::process::id());
    runtime().block_on(async {
        let a = node(&server, &prefix, "a").await;
        let b = node(&server, &prefix, "b").await;
        let held = won(a.campaign(Campaign::Start, 0).await.expect("start on a fresh prefix"));
        assert_eq!(held.epoch, 1);

        // Kept alive, the holder stays past its 2 s TTL: b cannot start.
        let (keeper, mut ttl) = a.keep_alive(held);
        let kept_until = Instant::now() + Duration::from_millis(3000);
        while Instant::now() < kept_until {
            let answer = tokio::time::timeout(Duration::from_secs(3), ttl.recv()).await.expect("a keep-alive answer within 3 s");
            assert!(matches!(answer, Some(Ok(s)) if s > 0), "{answer:?}");
        }
        match b.campaign(Campaign::Start, 0).await.expect("b's transaction") {
            Outcome::Lost(c) => assert_eq!((c.epoch, c.holder.map(|h| h.name)), (1, Some("a".to_string()))),
            Outcome::Won(w) => panic!("b started in epoch {} although a holds the epoch", w.epoch),
        }

        // a stops keeping it: once its lease ran out (TTL 2 s) b may start, in epoch 2.
        keeper.abort();
        let started = Instant::now();
        let second = loop {
            match b.campaign(Campaign::Start, 0).await.expect("b's transaction") {
                Outcome::Won(w) => break w,
                Outcome::Lost(c) => assert!(c.holder.is_some() && started.elapsed() < Duration::from_secs(6), "{c:?} after {:?}", started.elapsed()),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert_eq!(second.epoch, 2);
        assert!(started.elapsed() >= Duration::from_millis(500), "b started {:?} after a's last keep-alive: the lease cannot have run out", started.elapsed());
        assert_eq!(a.confirm(held).await.expect("confirm"), Confirmation::Newer(2));

        // etcd gone: confirming is an error naming the endpoint, within the request timeout.
        server.child.kill().expect("kill etcd");
        let _ = server.child.wait();
        let asked = Instant::now();
        let e = b.confirm(second).await.expect_err("no etcd, no confirmation");
        assert!(asked.elapsed() < Duration::from_secs(5), "the confirmation took {:?}", asked.elapsed());
        assert!(format!("{e}").contains(&server.client_url), "{e}");
    });
}
