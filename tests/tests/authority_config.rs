//! `[authority]` through the built binary: `holdback daemon --check` prints
//! the effective etcd settings (defaults from the heartbeat filled in, the
//! password's file but never a password) and refuses settings outside the
//! bounds docs/authority.md states. The daemon acting on them is shown by
//! the lab tests split_brain_etcd.rs and authority_hung_primary.rs.
//! Needs no root.
use holdback_tests::{holdback_bin, WorkDir};

fn config(dir: &std::path::Path, authority: &str) -> std::path::PathBuf {
    let secret = dir.join("secret");
    std::fs::write(&secret, "0123456789abcdef0123").expect("secret");
    let path = dir.join("card.toml");
    std::fs::write(
        &path,
        format!(
            r#"card = "sim"
socket = "{}/control.sock"
sink_dir = "{}/sink"
role = "standby"
[sim]
tap = "hbauthcfg0"
[network]
mac = "02:48:4c:44:42:02"
ip = "198.18.0.2"
listen_ports = [5001]
[replication]
listen = "198.19.0.1:7400"
peer = "198.19.0.2:7400"
secret_file = "{}"
heartbeat_ms = 50
[authority]
{authority}
"#,
            dir.display(),
            dir.display(),
            secret.display()
        ),
    )
    .expect("config");
    path
}

#[test]
fn the_etcd_settings_are_checked_and_printed() {
    let dir = std::env::temp_dir().join(format!("holdback-authority-config-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("work directory");
    let dir = WorkDir(dir);
    let path = config(&dir.0, "kind = \"etcd\"\nendpoints = [\"http://198.18.0.9:2379\"]\nuser = \"hb\"\npassword_file = \"/etc/holdback/etcd.pw\"");

    let check = std::process::Command::new(holdback_bin()).args(["daemon", "--check", "--config"]).arg(&path).output().expect("run holdback");
    let out = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "--check refused a valid file: {}", String::from_utf8_lossy(&check.stderr));
    for line in ["kind = \"etcd\"", "promise_ms = 100", "confirm_ms = 150", "lease_ttl_s = 5", "name = \"198.19.0.1:7400\"", "password_file = \"/etc/holdback/etcd.pw\""] {
        assert!(out.contains(line), "`{line}` not in the effective configuration:\n{out}");
    }

    let bad = config(&dir.0, "kind = \"etcd\"\nendpoints = [\"http://198.18.0.9:2379\"]\npromise_ms = 40");
    let run = std::process::Command::new(holdback_bin()).args(["daemon", "--check", "--config"]).arg(&bad).output().expect("run holdback");
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(78), "{err}");
    assert!(err.contains("`authority.promise_ms`") && err.contains("longer than one heartbeat (50 ms)"), "{err}");
}
