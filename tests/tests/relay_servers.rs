//! The relay lab's servers and clients over a direct link (needs root:
//! network namespaces and a veth pair; and nginx, curl): the baseline the
//! relay benchmark compares with. nginx serves a generated 8 MiB file in
//! one namespace and curl downloads it from the other; 8 MiB are uploaded
//! to the sink; SHA-256 match both ways; a `--client-cmd`-style template
//! runs curl and its output is captured; a `--server-cmd` runs beside the
//! servers and is stopped with them. Then the checks that must fail: a
//! short upload is reported as a mismatch, a command past its timeout is
//! killed and says so, one that exits at once leaves nothing running, a
//! failing one is reported, a second nginx on a taken port fails with its
//! log, an unknown placeholder is an error before anything runs; and every
//! namespace is gone afterwards.
use std::net::SocketAddrV4;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use holdback_daemon::lab::servers::{
    self, direct_baseline, generate_file, BaselinePlan, DirectNet, Placeholders, ServersError, TemplateError, UploadSink,
    UserCommand,
};
use holdback_tests::{require_root, require_tool};

/// The generated files' seed unless `HOLDBACK_TEST_SEED` replaces it.
const DEFAULT_SEED: u64 = 0x5EED_4E1A;
const MIB: u64 = 1 << 20;

fn prerequisites() {
    require_root();
    require_tool("ip", "iproute2");
    require_tool("nginx", "nginx");
    require_tool("curl", "curl");
}

fn work_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("holdback-relay-servers-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a work directory");
    dir
}

/// A process that exists and is not a zombie (killed processes whose
/// parent died wait for init to reap them).
fn alive(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next());
    state.is_some_and(|s| s != "Z")
}

fn netns_exists(ns: &str) -> bool {
    Path::new("/run/netns").join(ns).exists()
}

#[test]
fn direct_download_and_upload_of_8mib_match_and_the_user_commands_output_is_kept() {
    prerequisites();
    let dir = work_dir("baseline");
    let seed = holdback_sim::test_seed(DEFAULT_SEED);
    let plan = BaselinePlan {
        bytes: 8 * MIB,
        seed,
        http_port: 8080,
        upload_port: 9000,
        // Runs until stopped: its output must still be reported, and its
        // background child must die with it.
        server_cmd: Some("echo server-cmd on {server_ip}:{server_port} upload {upload_port}; sleep 60 & wait".into()),
        // curl through the template (`%{{…}}`: curl's own braces, escaped).
        client_cmd: Some(
            "curl -sS --fail -o {work_dir}/via-template.bin -w 'got %{{size_download}}\\n' \
             http://{listen_ip}:{listen_port}/{file} && sha256sum {work_dir}/via-template.bin"
                .into(),
        ),
        timeout: Duration::from_secs(10),
        work_dir: dir.clone(),
    };
    let started = Instant::now();
    let report = direct_baseline(&plan).unwrap_or_else(|e| panic!("direct baseline failed: {}", holdback_daemon::error::chain(&e)));
    eprint!("{}", report.human());
    eprintln!("relay_servers baseline: {:.2} s, seed {seed:#x}", started.elapsed().as_secs_f64());
    assert!(report.download.check.matches(), "download: {}", report.download.check);
    assert_eq!(report.download.check.bytes_got, 8 * MIB);
    assert!(report.upload_check.matches(), "upload: {}", report.upload_check);
    assert_eq!(report.upload.sink.bytes, 8 * MIB);
    assert_eq!(report.upload.sink.error, None);
    assert_ne!(report.download.check.sha256_expected, report.upload_check.sha256_expected, "the two directions carry different streams");
    assert!(report.download.goodput.mbit_per_s() > 0.0 && report.upload.goodput.mbit_per_s() > 0.0);
    let (wall, curl) = (report.download.goodput.wall_us, report.download.curl_goodput.wall_us);
    assert!(curl > 0 && curl <= wall, "curl's own time ({curl} us) lies within its process's wall time ({wall} us)");

    let client = report.client_cmd.as_ref().expect("the client command ran");
    assert!(client.succeeded(), "client-cmd: {client:?}");
    assert!(client.command.contains("http://198.18.2.2:8080/download.bin") && client.command.contains("%{size_download}"), "{}", client.command);
    assert!(client.stdout.contains(&format!("got {}", 8 * MIB)), "client-cmd stdout: {}", client.stdout);
    assert!(client.stdout.contains(&report.download.check.sha256_expected), "curl via the template fetched other bytes: {}", client.stdout);

    let server = report.server_cmd.as_ref().expect("the server command ran");
    assert_eq!(server.stdout.trim(), "server-cmd on 198.18.2.2:8080 upload 9000", "{server:?}");
    assert!(!server.succeeded() && server.exit_code.is_none(), "stopped by a signal, not exited: {server:?}");

    for ns in [&report.client_ns, &report.server_ns] {
        assert!(!netns_exists(ns), "namespace {ns} left behind");
    }
    assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_short_upload_is_a_mismatch_a_hung_command_is_killed_and_an_unknown_placeholder_runs_nothing() {
    prerequisites();
    let dir = work_dir("failures");
    let seed = holdback_sim::test_seed(DEFAULT_SEED);
    let started = Instant::now();
    let names;
    {
        let net = DirectNet::create("fail").unwrap_or_else(|e| panic!("{}", holdback_daemon::error::chain(&e)));
        names = (net.client_ns.clone(), net.server_ns.clone());
        let sink = UploadSink::start(&net.server_ns, SocketAddrV4::new(net.server_ip, 9001), &dir.join("sink"))
            .unwrap_or_else(|e| panic!("{}", holdback_daemon::error::chain(&e)));
        let full = generate_file(&dir, "full.bin", seed, 8 * MIB).expect("a generated file");

        // The client's file lost its last 5 MiB: what arrives is whole as
        // sent, but not the file that was meant.
        let bytes = std::fs::read(&full.path).expect("reading the generated file");
        let short = dir.join("short.bin");
        std::fs::write(&short, &bytes[..3 * MIB as usize]).expect("writing the short copy");
        let up = servers::upload(&net.client_ns, &short, &sink, Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("{}", holdback_daemon::error::chain(&e)));
        let check = up.sink.check(&full);
        eprintln!("short upload: {check}");
        assert!(!check.matches(), "a 3 MiB upload passed as the 8 MiB file: {check}");
        assert_eq!(check.bytes_got, 3 * MIB);
        assert!(check.to_string().starts_with("MISMATCH"), "{check}");

        // The same file whole does match: the check is not always false.
        let whole = servers::upload(&net.client_ns, &full.path, &sink, Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("{}", holdback_daemon::error::chain(&e)));
        assert!(whole.sink.check(&full).matches(), "{}", whole.sink.check(&full));
        assert_eq!(sink.received().len(), 2, "{:?}", sink.received());

        let values = Placeholders {
            server_ip: net.server_ip,
            server_port: 8080,
            upload_port: 9001,
            listen_ip: net.server_ip,
            listen_port: 8080,
            client_ip: net.client_ip,
            file: full.name.clone(),
            work_dir: dir.clone(),
        };
        // A client that hangs: killed at its timeout, its output kept.
        let t = Instant::now();
        let hung = UserCommand::run(&net.client_ns, "echo started; sleep 30", &values, &dir, "hung", Duration::from_millis(300))
            .unwrap_or_else(|e| panic!("{}", holdback_daemon::error::chain(&e)));
        assert!(hung.timed_out && !hung.succeeded(), "{hung:?}");
        assert_eq!(hung.stdout.trim(), "started");
        assert!(t.elapsed() < Duration::from_secs(5), "the hung command was not killed at its timeout: {:?}", t.elapsed());

        // A client that exits at once leaves nothing running behind it.
        let quick = UserCommand::run(&net.client_ns, "sleep 30 & echo $!", &values, &dir, "quick", Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("{}", holdback_daemon::error::chain(&e)));
        assert!(quick.succeeded(), "{quick:?}");
        let bg: u32 = quick.stdout.trim().parse().unwrap_or_else(|e| panic!("the background pid `{}`: {e}", quick.stdout));
        assert!(!alive(bg), "the command's background `sleep 30` (pid {bg}) outlived it");

        // A failing client is reported, not hidden.
        let failed = UserCommand::run(&net.client_ns, "echo oops >&2; exit 3", &values, &dir, "failed", Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("{}", holdback_daemon::error::chain(&e)));
        assert_eq!((failed.exit_code, failed.timed_out, failed.stderr.trim()), (Some(3), false, "oops"), "{failed:?}");

        // A server that cannot listen fails with its log, and is gone.
        let root = dir.join("www");
        std::fs::create_dir_all(&root).expect("a web root");
        let first = servers::HttpServer::start(&net.server_ns, SocketAddrV4::new(net.server_ip, 8081), &root, &dir.join("a"))
            .unwrap_or_else(|e| panic!("{}", holdback_daemon::error::chain(&e)));
        match servers::HttpServer::start(&net.server_ns, SocketAddrV4::new(net.server_ip, 8081), &root, &dir.join("b")) {
            Err(ServersError::ServerExited { tail, .. }) => assert!(tail.contains("Address already in use"), "{tail}"),
            Err(e) => panic!("a second nginx on a taken port: {}", holdback_daemon::error::chain(&e)),
            Ok(_) => panic!("a second nginx listened on a taken port"),
        }
        drop(first);

        // A typo'd placeholder never reaches the shell.
        let marker = dir.join("ran");
        let template = format!("touch {} && curl http://{{client_ns}}:{{listen_port}}/", marker.display());
        match UserCommand::run(&net.client_ns, &template, &values, &dir, "typo", Duration::from_secs(5)) {
            Err(ServersError::Template(TemplateError::Unknown { name, .. })) => assert_eq!(name, "client_ns"),
            other => panic!("an unknown placeholder was not an error: {other:?}"),
        }
        assert!(!marker.exists(), "the command with an unknown placeholder ran");
    }
    for ns in [&names.0, &names.1] {
        assert!(!netns_exists(ns), "namespace {ns} left behind");
    }
    eprintln!("relay_servers failures: {:.2} s", started.elapsed().as_secs_f64());
    let _ = std::fs::remove_dir_all(&dir);
}
