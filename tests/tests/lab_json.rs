//! `holdback lab --json` exits 0 with sha256_match true and
//! resets_seen 0 (the built binary, as a user runs it). And the lab's flags
//! in the single-card mode: `--impair` takes effect (the Linux peers
//! retransmit, the card counts the gaps; `dir out`/`dir both` impair the
//! card's own frames too, counted apart), a pair-only flag is refused with
//! its reason, `--netem` shapes the clients' link or is refused with tc's
//! reason. (`cli.rs` checks every flag is one or the other.) On a
//! terminal (a pty from `script`) the run shows a progress bar; with
//! `--json` it shows none and stdout is the JSON alone.
use holdback_tests::{holdback, holdback_bin, require_lab_prerequisites, require_tool};

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

#[test]
fn impair_in_the_single_card_lab_loses_frames_the_peers_retransmit() {
    require_lab_prerequisites();
    let seed = holdback_sim::test_seed(7).to_string();
    let out = holdback(&["lab", "--json", "--conns", "2", "--bytes", "256KiB", "--seed", &seed, "--impair", "loss 3%"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "holdback lab --impair failed ({}):\n{stdout}\n{stderr}", out.status);
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}"));
    assert_eq!(v["sha256_match"], true, "the streams still arrive intact: {stdout}");
    assert_eq!(v["impair"], "loss 3%", "{stdout}");
    let retransmits: u64 = v["clients"].as_array().expect("clients").iter().map(|c| c["linux_retransmits"].as_u64().expect("a count")).sum();
    assert!(retransmits > 0, "the peers retransmitted nothing: the loss did not happen\n{stdout}");
    let stat = |name: &str| v["stats"][name].as_u64().unwrap_or_else(|| panic!("no `{name}` in the card's counters: {stdout}"));
    // A segment after a lost one arrives out of order: the card holds it
    // in reassembly (the lab's default) or, past the hole limit, drops it.
    let (held, dropped) = (stat("rx_ooo_held"), stat("drop_out_of_order"));
    assert!(held + dropped > 0, "the card saw no gap after a lost frame: {stdout}");
    eprintln!("--impair \"loss 3%\": Linux retransmits {retransmits}, card held {held} and dropped {dropped} out-of-order segments");
}

/// `--impair "... dir out"` drops and reorders frames the card sends (its
/// ACKs, SYN-ACKs, FINs): the Linux peers recover, every stream arrives
/// intact, and the report counts the leaving drops apart from the arriving
/// ones (none with `dir out`). Then `dir both`: both directions lose
/// frames, each counted on its own. Holdback off, so the card ACKs every
/// segment and enough of its frames cross the port for the drops to be
/// certain at these rates. Needs root (namespaces, TAP).
#[test]
fn impair_leaving_the_card_is_counted_apart_and_the_streams_still_arrive_intact() {
    require_lab_prerequisites();
    let seed = holdback_sim::test_seed(5).to_string();
    for (spec, arriving_lost) in [("loss 5% reorder 3% dir out", false), ("loss 3% dir both", true)] {
        let args = ["lab", "--json", "--holdback", "off", "--conns", "2", "--bytes", "256KiB", "--seed", &seed, "--impair", spec, "--stall-timeout", "60"];
        let out = holdback(&args);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "holdback lab --impair \"{spec}\" failed ({}):\n{stdout}\n{stderr}", out.status);
        let v: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}"));
        assert_eq!(v["sha256_match"], true, "{spec}: the streams still arrive intact: {stdout}");
        assert_eq!(v["resets_seen"], 0, "{spec}: {stdout}");
        assert_eq!(v["impair"], spec, "{stdout}");
        let count = |dir: &str, what: &str| {
            v["card"][dir][what].as_u64().unwrap_or_else(|| panic!("no card.{dir}.{what} in the report: {stdout}"))
        };
        let (in_dropped, out_dropped) = (count("impaired_in", "dropped"), count("impaired_out", "dropped"));
        assert!(out_dropped > 0, "{spec}: no frame leaving the card was dropped: {stdout}");
        if arriving_lost {
            assert!(in_dropped > 0, "{spec}: no arriving frame was dropped: {stdout}");
        } else {
            assert!(count("impaired_out", "reordered") > 0, "{spec}: no frame leaving the card was reordered: {stdout}");
            assert_eq!((in_dropped, count("impaired_in", "reordered")), (0, 0), "{spec} touched arriving frames: {stdout}");
        }
        let retransmits: u64 = v["clients"].as_array().expect("clients").iter().map(|c| c["linux_retransmits"].as_u64().expect("a count")).sum();
        eprintln!("--impair \"{spec}\": dropped {in_dropped} arriving, {out_dropped} leaving; Linux retransmits {retransmits}; {} s", v["duration_s"]);
    }
}

#[test]
fn a_bad_impairment_is_refused_with_what_is_wrong() {
    for (spec, needle) in [("loss 1% dir sideways", "not a direction"), ("loss 1% loss 2%", "named twice"), ("loss 1", "percentage")] {
        let out = holdback(&["lab", "--impair", spec]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "--impair \"{spec}\" was accepted");
        assert!(stderr.contains("--impair") && stderr.contains(needle), "--impair \"{spec}\": error does not say `{needle}`:\n{stderr}");
    }
}

#[test]
fn a_pair_only_flag_in_the_single_card_lab_is_refused_with_the_reason() {
    let out = holdback(&["lab", "--impair", "loss 1%", "--heartbeat-ms", "10"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "--heartbeat-ms was accepted without a pair");
    assert!(stderr.contains("--heartbeat-ms") && stderr.contains("--standby"), "{stderr}");
}

/// `--netem` in the single-card lab shapes the clients' link with tc; on a
/// kernel without sch_netem (this machine's) the run is refused with tc's
/// reason instead of passing unshaped.
#[test]
fn netem_in_the_single_card_lab_takes_effect_or_is_refused_with_tc_s_reason() {
    require_lab_prerequisites();
    let out = holdback(&["lab", "--json", "--conns", "1", "--bytes", "64KiB", "--netem", "delay 5ms"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        let v: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}"));
        // tc accepted the qdisc (the run fails otherwise) and the report says so.
        assert_eq!(v["netem"], "delay 5ms", "{stdout}");
        assert_eq!(v["sha256_match"], true, "{stdout}");
    } else {
        assert!(stderr.contains("tc ") && stderr.contains("netem"), "refused without tc's reason:\n{stderr}");
        eprintln!("--netem refused: {}", stderr.trim());
    }
}

/// Runs `command` (a shell command line) on a pseudo-terminal with
/// `script`, and returns everything the terminal showed.
fn on_a_terminal(command: &str) -> String {
    require_tool("script", "bsdutils");
    let out = std::process::Command::new("script")
        .args(["--quiet", "--return", "--command", command, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running script: {e}"));
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "`{command}` on a terminal failed ({}):\n{shown}", out.status);
    shown
}

#[test]
fn on_a_terminal_the_lab_shows_progress_and_json_stays_pure() {
    require_lab_prerequisites();
    let seed = holdback_sim::test_seed(11).to_string();
    let bin = holdback_bin().to_str().expect("UTF-8 path of the binary");
    let lab = format!("'{bin}' lab --conns 1 --bytes 256KiB --seed {seed}");

    let shown = on_a_terminal(&lab);
    // The bar: the phase, bytes of the total, a rate; then the report.
    for needle in ["sending", "/256.00 KiB", "holdback lab: PASS"] {
        assert!(shown.contains(needle), "the terminal never showed `{needle}`:\n{shown}");
    }
    assert!(shows_a_rate(&shown), "the terminal never showed a transfer rate:\n{shown}");

    let dir = holdback_tests::WorkDir(std::env::temp_dir().join(format!("holdback-lab-pty-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).expect("work directory");
    let json_file = dir.0.join("report.json");
    let shown = on_a_terminal(&format!("{lab} --json > '{}'", json_file.display()));
    assert!(!shown.contains("sending") && !shows_a_rate(&shown), "--json drew a progress bar on the terminal:\n{shown}");
    let stdout = std::fs::read_to_string(&json_file).expect("the JSON report");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("stdout is not JSON alone ({e}):\n{stdout}"));
    assert_eq!(v["sha256_match"], true, "{stdout}");
}

/// Whether `shown` holds a rate as the bar prints one (indicatif's binary
/// units: the unit follows the speed, so a fast run shows MiB/s, a slow one KiB/s).
fn shows_a_rate(shown: &str) -> bool {
    [" B/s", "KiB/s", "MiB/s", "GiB/s"].iter().any(|unit| shown.contains(unit))
}
