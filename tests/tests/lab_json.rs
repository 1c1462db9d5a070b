//! Acceptance e: `holdback lab --json` exits 0 with sha256_match true and
//! resets_seen 0 (the built binary, as a user runs it).
use holdback_tests::{holdback, require_lab_prerequisites};

#[test]
fn lab_json_reports_a_clean_run() {
    require_lab_prerequisites();
    let seed = holdback_sim::test_seed(42).to_string();
    let out = holdback(&["lab", "--json", "--conns", "4", "--bytes", "1MiB", "--seed", &seed]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "holdback lab --json failed ({}):\n{stdout}\n{stderr}", out.status);
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}"));
    assert_eq!(v["sha256_match"], true, "{stdout}");
    assert_eq!(v["resets_seen"], 0, "{stdout}");
    assert_eq!(v["conns"], 4);
    assert_eq!(v["bytes_sent"], 4 << 20);
    assert_eq!(v["bytes_delivered"], 4 << 20);
    let goodput = v["goodput_mbps"].as_f64().expect("goodput_mbps is a number");
    assert!(goodput > 0.0, "{stdout}");
    eprintln!("lab --json: goodput {goodput:.1} Mbit/s in {} s", v["duration_s"]);
}

#[test]
fn lab_rejects_bad_arguments_with_a_reason() {
    for (args, needle) in [
        (&["lab", "--bytes", "8 parsecs"][..], "unknown unit"),
        (&["lab", "--conns", "0"][..], "conns"),
        (&["lab", "--holdback", "maybe"][..], "holdback"),
    ] {
        let out = holdback(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(stderr.contains(needle), "{args:?}: error does not mention `{needle}`:\n{stderr}");
    }
}
