//! Window scaling with a real Linux peer (needs root: the lab makes its own
//! uniquely named namespaces and removes them on every path). A Linux client
//! — window scaling on, its send buffer autotuned up to the namespace's
//! `net.ipv4.tcp_wmem` maximum (4 MiB by default, well above 1 MiB) — streams
//! 4 MiB into the card with 1 MiB receive rings. The card's own capture
//! shows the negotiation (the client's SYN offers a Window Scale option, the
//! card's SYN-ACK answers with shift 5), windows of the whole ring — field ×
//! 2^5 = 1 MiB, far above 64 KiB — and more than 64 KiB of the client's data
//! in flight at once, so the larger window was used; the stream arrives
//! intact (SHA-256) with no reset.
use holdback_sim::wire::{Frame, SeqNum};
use holdback_tests::lab_report;

#[test]
fn a_linux_client_uses_a_window_above_64_kib_with_1_mib_rings() {
    let dir = std::env::temp_dir().join(format!("holdback-wscale-lab-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    let pcap = dir.join("card.pcap");
    let pcap_arg = pcap.to_str().expect("a UTF-8 temp path");
    let seed = holdback_sim::test_seed(17).to_string();
    let started = std::time::Instant::now();
    let v = lab_report(&["--conns", "1", "--bytes", "4MiB", "--seed", &seed, "--rx-ring-bytes", "1MiB", "--pcap", pcap_arg]);
    let report = serde_json::to_string_pretty(&v).unwrap_or_default();
    assert_eq!(v["sha256_match"], true, "the stream arrives intact: {report}");
    assert_eq!(v["resets_seen"], 0, "{report}");
    assert_eq!(v["bytes_delivered"], 4 << 20, "{report}");

    let frames = holdback_sim::pcap::read_all(&pcap).unwrap_or_else(|e| panic!("reading {}: {e}", pcap.display()));
    let card_ip = v["topology"]["card_ip"].as_str().expect("the card's address").parse::<std::net::Ipv4Addr>().expect("an IPv4 address");
    let (mut client_shift, mut card_shift) = (None, None);
    let (mut widest, mut in_flight, mut resets) = (0u64, 0u32, 0);
    let mut last_ack: Option<SeqNum> = None;
    for (_, f) in &frames {
        let Ok(frame) = Frame::parse(f) else { continue };
        let Some((ip, tcp, payload)) = frame.tcp() else { continue };
        resets += usize::from(tcp.flags.rst());
        let from_card = ip.src == card_ip;
        if tcp.flags.syn() {
            // RFC 7323 §2.2: the SYN and the SYN-ACK carry the shifts; their windows are not scaled.
            if from_card {
                card_shift = tcp.wscale();
            } else {
                client_shift = tcp.wscale();
            }
            continue;
        }
        if from_card {
            if let Some(shift) = card_shift {
                widest = widest.max(u64::from(tcp.window) << shift);
            }
            last_ack = Some(last_ack.map_or(tcp.ack, |a| a.latest(tcp.ack)));
        } else if let Some(ack) = last_ack {
            // The client's bytes sent and not yet acknowledged by the card.
            let end = tcp.seq + payload.len() as u32;
            in_flight = in_flight.max(end.diff(ack).max(0) as u32);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(client_shift.is_some(), "the Linux client offers window scaling");
    assert_eq!(card_shift, Some(5), "the card scales its window for a 1 MiB ring");
    assert_eq!(widest, 1 << 20, "the card offers the whole 1 MiB ring");
    assert!(in_flight > 65535, "the client had {in_flight} bytes in flight: the window above 64 KiB was not used");
    assert_eq!(resets, 0, "no RST in the capture");
    eprintln!(
        "wscale lab: client shift {client_shift:?}, card shift 5, window {widest} B, up to {in_flight} B in flight, goodput {} Mbit/s, {:.1} s",
        v["goodput_mbps"],
        started.elapsed().as_secs_f64()
    );
}
