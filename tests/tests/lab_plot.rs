//! `holdback lab --plot FILE.svg`, the built binary as a user runs it.
//!
//! - A failover run (`--failover-at 0.5`, 2 × 1 MiB): every annotated
//!   event of the SVG (`<g class="event" data-event=… data-t=…>`) carries
//!   the time the JSON report's `timeline` gives it, one for one, and the
//!   failover, wire-gap and stall figures carry the report's values; the
//!   failover's moments are all there (the primary's last frame,
//!   detection, PROMOTE, the GARP, duplicate ACKs, retransmissions,
//!   catch-up) in the order they must happen.
//! - A single-card run draws goodput and held-back bytes and marks the
//!   report's goodput.
//!
//! Needs root (the lab's namespaces).
use std::collections::BTreeMap;
use std::path::Path;

use holdback_tests::{holdback, require_lab_prerequisites, WorkDir};

/// The attributes of every `<g class="CLASS" …>` opening tag in `svg`.
fn groups(svg: &str, class: &str) -> Vec<BTreeMap<String, String>> {
    let open = format!("<g class=\"{class}\"");
    svg.match_indices(&open)
        .map(|(start, _)| {
            let tag = &svg[start..start + svg[start..].find('>').expect("an opening tag ends")];
            let mut attrs = BTreeMap::new();
            let mut rest = tag;
            while let Some(eq) = rest.find("=\"") {
                let key = rest[..eq].rsplit(' ').next().unwrap_or("").to_string();
                let value_start = eq + 2;
                let value_end = value_start + rest[value_start..].find('"').expect("a closing quote");
                attrs.insert(key, rest[value_start..value_end].to_string());
                rest = &rest[value_end + 1..];
            }
            attrs
        })
        .collect()
}

fn num(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn run_lab(args: &[&str]) -> serde_json::Value {
    let out = holdback(args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "holdback {} failed ({}):\n{stdout}\n{stderr}", args.join(" "), out.status);
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("the whole stdout is not JSON ({e}):\n{stdout}"))
}

fn read_svg(path: &Path) -> String {
    let svg = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "not an SVG document:\n{}", &svg[..svg.len().min(300)]);
    svg
}

#[test]
fn a_failover_plot_carries_the_report_s_time_for_every_event() {
    require_lab_prerequisites();
    let dir = WorkDir(std::env::temp_dir().join(format!("holdback-lab-plot-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).expect("work directory");
    let plot = dir.0.join("failover.svg");
    let seed = holdback_sim::test_seed(3).to_string();
    let started = std::time::Instant::now();
    let r = run_lab(&[
        "lab", "--failover-at", "0.5", "--conns", "2", "--bytes", "1MiB", "--seed", &seed, "--json", "--plot",
        plot.to_str().expect("UTF-8 path"),
    ]);
    eprintln!("failover lab with --plot: {:.1} s", started.elapsed().as_secs_f64());
    assert_eq!(r["sha256_match"], true, "{r}");
    let tl = &r["timeline"];
    assert!(tl.is_object(), "a failover run reports its timeline: {r}");
    let svg = read_svg(&plot);

    // What the report says happened when, as (event, port, t) triples…
    let mut expected: Vec<(String, Option<u16>, f64)> = Vec::new();
    for (event, key) in [("primary_last_frame", "primary_last_frame_ms"), ("detection", "detection_ms"), ("promote", "promote_ms")] {
        assert!(tl[key].is_number(), "the heartbeat failover has `{key}`: {tl}");
        expected.push((event.into(), None, num(&tl[key])));
    }
    let garps = tl["garps_ms"].as_array().expect("garps_ms");
    assert!(!garps.is_empty(), "the promoted card sent a gratuitous ARP: {tl}");
    expected.extend(garps.iter().map(|t| ("garp".to_string(), None, num(t))));
    let streams = tl["streams"].as_array().expect("streams");
    assert_eq!(streams.len(), 2, "{tl}");
    for s in streams {
        let port = s["client_port"].as_u64().expect("client_port") as u16;
        for (event, key) in [("dup_ack", "dup_acks_ms"), ("retransmit", "retransmits_ms")] {
            expected.extend(s[key].as_array().expect(key).iter().map(|t| (event.to_string(), Some(port), num(t))));
        }
        for (event, key) in [("caught_up", "caught_up_ms"), ("stall", "max_stall_from_ms")] {
            if !s[key].is_null() {
                expected.push((event.into(), Some(port), num(&s[key])));
            }
        }
    }
    // …and what the plot draws, the same way.
    let events = groups(&svg, "event");
    let mut drawn: Vec<(String, Option<u16>, f64)> = events
        .iter()
        .map(|g| {
            let t: f64 = g["data-t"].parse().unwrap_or_else(|e| panic!("data-t {:?}: {e}", g["data-t"]));
            (g["data-event"].clone(), g.get("data-port").map(|p| p.parse().expect("data-port")), t)
        })
        .collect();
    let order = |a: &(String, Option<u16>, f64), b: &(String, Option<u16>, f64)| {
        (&a.0, a.1).cmp(&(&b.0, b.1)).then(a.2.total_cmp(&b.2))
    };
    expected.sort_by(order);
    drawn.sort_by(order);
    assert_eq!(drawn, expected, "the plot's events and their data-t differ from the report's timeline");

    // The failover happened as it must: each stream that was cut off got
    // PROMOTE's ACK and duplicates, retransmitted and caught up.
    let times = |event: &str| expected.iter().filter(|e| e.0 == event).map(|e| e.2).collect::<Vec<f64>>();
    let (last_frame, detection) = (times("primary_last_frame")[0], times("detection")[0]);
    assert!(last_frame < detection, "detection {detection} ms before the primary's last frame {last_frame} ms");
    for event in ["dup_ack", "retransmit", "caught_up"] {
        let after: Vec<f64> = times(event).into_iter().filter(|t| *t > last_frame).collect();
        assert!(!after.is_empty(), "no `{event}` after the primary's last frame: {tl}");
    }
    for t in times("caught_up") {
        assert!(t >= garps.iter().map(num).fold(f64::INFINITY, f64::min), "caught up at {t} ms before the standby spoke: {tl}");
    }

    // The report's figures, with their values.
    let figures: BTreeMap<String, BTreeMap<String, String>> =
        groups(&svg, "figure").into_iter().map(|g| (g["data-figure"].clone(), g)).collect();
    for (figure, start) in [("failover_ms", "primary_last_frame_ms"), ("wire_gap_ms", "primary_last_data_ms")] {
        let g = figures.get(figure).unwrap_or_else(|| panic!("no `{figure}` figure in the plot"));
        assert_eq!(g["data-ms"].parse::<f64>().ok(), r[figure].as_f64(), "{figure}: {g:?} vs {}", r[figure]);
        assert_eq!(g["data-t"].parse::<f64>().ok(), tl[start].as_f64(), "{figure} starts at {start}: {g:?}");
    }
    let stall = figures.get("max_stall_ms").expect("a max_stall_ms figure");
    assert_eq!(stall["data-ms"].parse::<u64>().ok(), r["max_stall_ms"].as_u64(), "{stall:?}");
    for g in events.iter().filter(|g| g["data-event"] == "stall") {
        let port: u64 = g["data-port"].parse().expect("data-port");
        let stream = r["streams"].as_array().expect("streams").iter().find(|s| s["client_port"] == port).expect("the stall's stream");
        assert_eq!(g["data-ms"].parse::<u64>().ok(), stream["max_stall_ms"].as_u64(), "stall of port {port}: {g:?}");
    }
    eprintln!(
        "plot: {} events; failover {} ms, wire gap {} ms, max stall {} ms; {} bytes of SVG",
        events.len(),
        r["failover_ms"],
        r["wire_gap_ms"],
        r["max_stall_ms"],
        svg.len()
    );
}

#[test]
fn a_single_card_plot_marks_the_report_s_goodput() {
    require_lab_prerequisites();
    let dir = WorkDir(std::env::temp_dir().join(format!("holdback-lab-plot-single-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).expect("work directory");
    let plot = dir.0.join("goodput.svg");
    let seed = holdback_sim::test_seed(5).to_string();
    let r = run_lab(&["lab", "--conns", "1", "--bytes", "256KiB", "--seed", &seed, "--json", "--plot", plot.to_str().expect("UTF-8 path")]);
    assert_eq!(r["sha256_match"], true, "{r}");
    let svg = read_svg(&plot);
    let figures = groups(&svg, "figure");
    let goodput = figures.iter().find(|g| g["data-figure"] == "goodput_mbps").expect("a goodput figure");
    assert_eq!(goodput["data-mbps"].parse::<f64>().ok(), r["goodput_mbps"].as_f64(), "{goodput:?}");
    assert!(svg.contains("held back"), "the held-back panel is missing");
    assert!(groups(&svg, "event").is_empty(), "no failover, no failover events");
}
