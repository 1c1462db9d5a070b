//! `holdback bench`: one command for the core's figures. Its JSON has a row
//! per frame size from 64 to 1518 bytes with the 10 GbE budget beside each,
//! and its plot draws the measured curve and the line-rate limit. The
//! synthesis is the same code the hdl tests run and is left out here; the
//! first test leaves the lab out too, to take a second, and the last runs
//! the bench's lab rows small (root).
use holdback_tests::holdback_ok;

#[test]
fn bench_reports_every_frame_size_against_line_rate_and_plots_them() {
    let plot = std::env::temp_dir().join(format!("holdback-bench-{}.svg", std::process::id()));
    let text = holdback_ok(&["bench", "--no-area", "--no-lab", "--frames", "50", "--json", "--plot", plot.to_str().expect("UTF-8 temp path")]);
    let report: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"));
    let rows = report["rx"].as_array().expect("rx rows");
    let sizes: Vec<u64> = rows.iter().map(|r| r["wire_bytes"].as_u64().expect("wire_bytes")).collect();
    assert_eq!(sizes, [64, 128, 256, 512, 1024, 1280, 1518]);
    for r in rows {
        let (size, cycles, budget) = (r["wire_bytes"].as_f64().unwrap_or(0.0), r["cycles_per_frame"].as_f64().unwrap_or(0.0), r["line_rate_cycles"].as_f64().unwrap_or(0.0));
        assert_eq!(budget, (size + 20.0) / 8.0, "line-rate budget of {size}-byte frames");
        assert!(cycles >= ((size - 4.0) / 8.0).ceil(), "{size}-byte frames in {cycles} cycles: fewer than their beats");
    }
    assert!(report["release_to_ack_median_cycles"].as_u64().is_some_and(|c| c > 0));
    assert_eq!(report["area"].as_array().map(Vec::len), Some(0), "--no-area synthesizes nothing");
    let svg = std::fs::read_to_string(&plot).unwrap_or_else(|e| panic!("{}: {e}", plot.display()));
    let _ = std::fs::remove_file(&plot);
    assert!(svg.starts_with("<svg") && svg.contains("10 GbE line rate") && svg.contains("measured on the Verilated core"), "plot:\n{svg}");
}

#[test]
fn bench_refuses_a_frame_count_it_cannot_measure() {
    let out = holdback_tests::holdback(&["bench", "--frames", "0", "--no-lab", "--no-area"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--frames"), "{}", String::from_utf8_lossy(&out.stderr));
}

/// The bench's lab rows (root): holdback on and off, the echo against the
/// sink, and 2 % loss both ways at the card's port against none — each a
/// run whose streams all arrived intact, with its goodput.
#[test]
fn bench_measures_the_lab_with_the_echo_and_under_loss_beside_the_sink() {
    holdback_tests::require_lab_prerequisites();
    let text = holdback_ok(&["bench", "--no-area", "--frames", "10", "--lab-conns", "2", "--lab-bytes", "256KiB", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"));
    let lab = report["lab"].as_array().expect("lab rows");
    let runs: Vec<(bool, &str, Option<&str>)> =
        lab.iter().map(|l| (l["holdback"].as_bool().unwrap_or(false), l["app"].as_str().unwrap_or(""), l["impair"].as_str())).collect();
    assert_eq!(
        runs,
        [(true, "sink", None), (false, "sink", None), (true, "echo", None), (true, "sink", Some("loss 2% dir both"))],
        "{text}"
    );
    for l in lab {
        assert!(l["goodput_mbps"].as_f64().is_some_and(|g| g > 0.0), "a lab row without goodput: {l}");
        assert_eq!((l["conns"].as_u64(), l["bytes_per_conn"].as_u64()), (Some(2), Some(256 << 10)), "{l}");
    }
}
