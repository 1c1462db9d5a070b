//! `holdback conns` and `holdback stats` output: human tables and JSON.
//!
//! The JSON forms are what tests and scripts read, so their keys are stable:
//! `conns --json` is `{"local_ip": …, "conns": [ConnRow…]}` and
//! `stats --json` is `{"stats": {name: value…}}` with the regmap's counter
//! names in register order; `status --json` is the daemon's `StatusReport`.
use std::net::Ipv4Addr;

use holdback_driver::{Bar, CardError, CardHandle, Stats};
use serde::{Deserialize, Serialize};

use crate::control::{ConnEntry, ConnsReport, StatusReport};

/// Every open connection of `card`, for a [`crate::control::Request::Conns`] answer.
pub fn snapshot_conns<B: Bar>(card: &CardHandle<B>) -> Result<ConnsReport, CardError> {
    Ok(ConnsReport {
        local_ip: card.our_ip()?,
        conns: card.open_connections()?.into_iter().map(|(id, tcb)| ConnEntry { id, tcb }).collect(),
    })
}

/// One row of `holdback conns`: the connection as the peer and the host see
/// it. Sequence numbers are raw 32-bit values.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnRow {
    pub id: u16,
    /// RFC 9293 name ("ESTABLISHED").
    pub state: String,
    pub local_ip: Ipv4Addr,
    pub local_port: u16,
    pub remote_ip: Ipv4Addr,
    pub remote_port: u16,
    /// Next sequence number expected from the peer.
    pub rcv_nxt: u32,
    /// Released point R (ACK holdback register).
    pub released: u32,
    /// ACK the core sends now: min(rcv_nxt, R) with holdback on, else rcv_nxt.
    pub ack: u32,
    /// Window last advertised (right edge − ACK sent).
    pub adv_window: u32,
    /// rcv_nxt − R with holdback on (bytes the peer still holds), else 0.
    pub held_back: u32,
    pub holdback: bool,
    /// Stream bytes received (mod 2^32).
    pub received: u32,
}

impl ConnRow {
    pub fn new(local_ip: Ipv4Addr, entry: &ConnEntry) -> ConnRow {
        let t = &entry.tcb;
        ConnRow {
            id: entry.id,
            state: t.state.rfc_name().to_string(),
            local_ip,
            local_port: t.local_port,
            remote_ip: t.remote_ip,
            remote_port: t.remote_port,
            rcv_nxt: t.rcv_nxt.0,
            released: t.rel.0,
            ack: t.ack_value().0,
            adv_window: t.advertised_window(),
            held_back: t.held_back_bytes(),
            holdback: t.holdback,
            received: t.received_bytes(),
        }
    }
}

pub fn conn_rows(report: &ConnsReport) -> Vec<ConnRow> {
    report.conns.iter().map(|e| ConnRow::new(report.local_ip, e)).collect()
}

#[derive(Serialize)]
struct ConnsJson<'a> {
    local_ip: Ipv4Addr,
    conns: &'a [ConnRow],
}

/// `holdback conns --json`.
pub fn conns_json(report: &ConnsReport) -> String {
    let rows = conn_rows(report);
    to_json(&ConnsJson { local_ip: report.local_ip, conns: &rows })
}

/// `holdback conns`: one row per connection.
pub fn conns_table(report: &ConnsReport) -> String {
    let header = ["ID", "STATE", "LOCAL", "REMOTE", "RCV_NXT", "RELEASED", "ACK", "WINDOW", "HELD_BACK", "HOLDBACK"];
    let rows: Vec<Vec<String>> = conn_rows(report)
        .into_iter()
        .map(|r| {
            vec![
                r.id.to_string(),
                r.state,
                format!("{}:{}", r.local_ip, r.local_port),
                format!("{}:{}", r.remote_ip, r.remote_port),
                r.rcv_nxt.to_string(),
                r.released.to_string(),
                r.ack.to_string(),
                r.adv_window.to_string(),
                r.held_back.to_string(),
                if r.holdback { "on" } else { "off" }.to_string(),
            ]
        })
        .collect();
    if rows.is_empty() {
        return "no open connections\n".to_string();
    }
    render(&header, &rows, &[0, 4, 5, 6, 7, 8])
}

#[derive(Serialize)]
struct StatsJson<'a> {
    stats: &'a Stats,
}

/// `holdback stats --json`.
pub fn stats_json(stats: &Stats) -> String {
    to_json(&StatsJson { stats })
}

/// `holdback stats`: every counter with its meaning.
pub fn stats_table(stats: &Stats) -> String {
    let rows: Vec<Vec<String>> =
        stats.iter().map(|(s, v)| vec![s.name().to_string(), v.to_string(), s.doc().to_string()]).collect();
    render(&["COUNTER", "VALUE", "MEANING"], &rows, &[1])
}

/// `holdback status --json`: the [`StatusReport`] as the daemon sent it.
pub fn status_json(report: &StatusReport) -> String {
    to_json(report)
}

/// The etcd authority in one line: holder, epoch, and what is left of the
/// grants that let this node speak (or of the promise that binds it).
fn authority_line(a: &crate::control::AuthorityStatus) -> String {
    let left = |what: &str, ms: Option<u64>| ms.map_or(String::new(), |ms| format!(", {what} {ms} ms left"));
    let holder = a.holder.as_deref().unwrap_or("nobody (no live holder record)");
    let speaks = match a.speaks_on {
        crate::authority::SpeaksOn::Confirmation => "speaks on a confirmation",
        crate::authority::SpeaksOn::Promise => "speaks on its standby's promise only",
        crate::authority::SpeaksOn::Nothing if a.holds => "holds the epoch but has no fresh grant: card silent",
        crate::authority::SpeaksOn::Nothing => "does not hold the epoch",
    };
    format!(
        "etcd: epoch {} held by {holder}; this node {speaks}{}{}{}",
        a.epoch,
        left("confirmation", a.confirmed_left_ms),
        left(if a.holds { "promise" } else { "own promise binds" }, a.promise_left_ms),
        if a.promising { ", promising not to take over" } else { "" },
    )
}

/// `holdback status`: one `key  value` line per fact.
pub fn status_table(r: &StatusReport) -> String {
    let flag = |b: bool| if b { "yes" } else { "no" }.to_string();
    let mut rows: Vec<(&str, String)> = vec![
        ("daemon", format!("holdback {} (pid {}), up {:.1} s", r.daemon_version, r.pid, r.uptime_ms as f64 / 1000.0)),
        ("card", r.card.clone()),
        ("register map", format!("version {}, build {:#010x}", r.info.version, r.info.build_id)),
        ("connections", format!("{} open of {} TCBs", r.status.open_conns, r.info.conns)),
        ("receive ring", format!("{} bytes per connection in host memory (the card takes up to {})", r.rx_ring_bytes, r.info.ring_bytes)),
        ("enabled", flag(r.status.ctrl.enabled)),
        ("holdback", flag(r.status.ctrl.holdback)),
        ("standby", flag(r.status.ctrl.standby)),
        ("release paused", flag(r.release_paused)),
        ("core idle", flag(r.status.idle)),
        ("core clock", format!("{} us", r.status.now_us)),
    ];
    if let Some(p) = &r.pair {
        rows.push(("pair role", format!("{} in epoch {}", p.role, p.epoch)));
        if let Some(d) = &p.degraded {
            rows.push(("degraded", d.clone()));
        }
        if let (Some(at), Some(took)) = (p.promoted_unix_ms, p.promote_took_us) {
            rows.push(("promoted", format!("at unix {:.3} s, card walk {} us", at as f64 / 1e3, took)));
        }
        if let Some(why) = &p.reason {
            rows.push(("role reason", why.clone()));
        }
        if let Some(a) = &p.authority {
            rows.push(("authority", authority_line(a)));
            if let Some(why) = &a.etcd_unreachable {
                rows.push(("authority error", format!("NO PROMOTION OR START POSSIBLE: {why}")));
            }
        }
        rows.push(("replication", format!("{}, seq {} ({} TCB copies stored)", p.link, p.replicated_seq, p.stored_tcbs)));
        rows.push((
            "link traffic",
            format!(
                "{} frames / {} B out, {} frames / {} B in; {} full syncs, {} resumes{}",
                p.frames_sent,
                p.bytes_sent,
                p.frames_received,
                p.bytes_received,
                p.full_syncs,
                p.resumes,
                p.bytes_per_update.map_or(String::new(), |b| format!("; {b:.1} B per update")),
            ),
        ));
        if !p.refused.is_empty() {
            let refused: Vec<String> = p.refused.iter().map(|(k, v)| format!("{k}={v}")).collect();
            rows.push(("refused peers", refused.join(" ")));
        }
        if p.replica_waits + p.replica_waits_failed > 0 {
            rows.push((
                "replica gate",
                format!(
                    "{} commits waited {:.2} ms mean; {} passes held (standby silent)",
                    p.replica_waits,
                    p.replica_wait_us_total.checked_div(p.replica_waits).unwrap_or(0) as f64 / 1e3,
                    p.replica_waits_failed
                ),
            ));
        }
    }
    let rows: Vec<Vec<String>> = rows.into_iter().map(|(k, v)| vec![k.to_string(), v]).collect();
    render(&["STATUS", "VALUE"], &rows, &[])
}

fn to_json(v: &impl Serialize) -> String {
    // Serialising these plain structs cannot fail (string keys, no maps of
    // non-string keys); fall back to an error object rather than panic.
    serde_json::to_string_pretty(v).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// Left-aligned columns, right-aligned where `numeric` lists the column;
/// two spaces between columns; the last column is not padded.
fn render(header: &[&str], rows: &[Vec<String>], numeric: &[usize]) -> String {
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            width[i] = width[i].max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut s = String::new();
        let cells: Vec<&str> = cells.collect();
        let last = cells.len().saturating_sub(1);
        for (i, cell) in cells.iter().enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            let pad = width[i].saturating_sub(cell.chars().count());
            if numeric.contains(&i) {
                s.extend(std::iter::repeat_n(' ', pad));
                s.push_str(cell);
            } else {
                s.push_str(cell);
                if i != last {
                    s.extend(std::iter::repeat_n(' ', pad));
                }
            }
        }
        s.push('\n');
        s
    };
    let mut out = line(&mut header.iter().copied());
    for row in rows {
        out += &line(&mut row.iter().map(String::as_str));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use holdback_driver::regmap::{CoreParams, Stat, TcpState};
    use holdback_driver::{MemBar, SeqNum, Tcb};

    fn report() -> ConnsReport {
        let t = Tcb {
            state: TcpState::Established,
            holdback: true,
            local_port: 5001,
            remote_port: 40000,
            remote_ip: Ipv4Addr::new(198, 18, 0, 1),
            irs: SeqNum(0xFFFF_FFF0),
            rcv_nxt: SeqNum(0x0000_1000),
            rel: SeqNum(0x0000_0010),
            rcv_adv: SeqNum(0x0000_2010),
            ack_sent: SeqNum(0x0000_0010),
            ..Tcb::closed()
        };
        let t2 = Tcb { state: TcpState::CloseWait, holdback: false, remote_port: 40001, ..t.clone() };
        ConnsReport {
            local_ip: Ipv4Addr::new(198, 18, 0, 2),
            conns: vec![ConnEntry { id: 3, tcb: t }, ConnEntry { id: 17, tcb: t2 }],
        }
    }

    #[test]
    fn rows_carry_the_derived_views() {
        let rows = conn_rows(&report());
        assert_eq!(rows[0].state, "ESTABLISHED");
        assert_eq!(rows[0].held_back, 0xFF0);
        assert_eq!(rows[0].ack, 0x10);
        assert_eq!(rows[0].adv_window, 0x2000);
        assert_eq!(rows[0].received, 0x100F);
        assert_eq!(rows[1].state, "CLOSE-WAIT");
        assert_eq!(rows[1].held_back, 0);
        assert_eq!(rows[1].ack, 0x1000);
    }

    #[test]
    fn conns_table_has_one_aligned_row_per_connection() {
        let table = conns_table(&report());
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3, "{table}");
        assert!(lines[0].starts_with("ID"));
        assert!(lines[1].contains("ESTABLISHED") && lines[1].contains("198.18.0.2:5001") && lines[1].contains("198.18.0.1:40000"));
        assert!(lines[2].contains("CLOSE-WAIT") && lines[2].contains("off"));
        // Columns line up: RCV_NXT values end where the header ends.
        let end = lines[0].find("RCV_NXT").unwrap() + "RCV_NXT".len();
        assert_eq!(&lines[1][end - 4..end], "4096");
        assert_eq!(conns_table(&ConnsReport { conns: vec![], ..report() }), "no open connections\n");
    }

    #[test]
    fn conns_json_has_the_documented_keys() {
        let v: serde_json::Value = serde_json::from_str(&conns_json(&report())).unwrap();
        assert_eq!(v["local_ip"], "198.18.0.2");
        let c = &v["conns"][0];
        for key in ["id", "state", "local_ip", "local_port", "remote_ip", "remote_port", "rcv_nxt", "released", "ack", "adv_window", "held_back", "holdback"] {
            assert!(c.get(key).is_some(), "missing {key}: {c}");
        }
        assert_eq!(c["rcv_nxt"], 4096);
        assert_eq!(c["released"], 16);
        assert_eq!(c["state"], "ESTABLISHED");
    }

    #[test]
    fn stats_render_every_counter() {
        let mut values = [0u32; Stat::COUNT];
        values[Stat::DropTcbFull.index()] = 7;
        let stats = Stats::from_values(values);
        let table = stats_table(&stats);
        assert_eq!(table.lines().count(), 1 + Stat::COUNT);
        let line = table.lines().find(|l| l.starts_with("drop_tcb_full")).unwrap();
        assert!(line.contains(" 7  ") && line.contains("no free TCB"), "{line}");
        let v: serde_json::Value = serde_json::from_str(&stats_json(&stats)).unwrap();
        assert_eq!(v["stats"]["drop_tcb_full"], 7);
        assert_eq!(v["stats"].as_object().unwrap().len(), Stat::COUNT);
    }

    #[test]
    fn status_renders_and_round_trips() {
        let card = CardHandle::open(MemBar::with_id_block(&CoreParams::DEFAULT)).unwrap();
        card.enable().unwrap();
        let r = StatusReport {
            daemon_version: "0.1.0".into(),
            pid: 42,
            uptime_ms: 1500,
            card: card.bar().describe(),
            info: *card.info(),
            status: card.status().unwrap(),
            rx_ring_bytes: 65536,
            release_paused: true,
            pair: Some(crate::control::PairStatus {
                role: crate::control::PairRole::Active,
                epoch: 1,
                link: crate::control::PairLink::Replicating,
                replicated_seq: 10,
                bytes_sent: 660,
                bytes_per_update: Some(66.0),
                ..Default::default()
            }),
        };
        let table = status_table(&r);
        assert!(table.contains("active in epoch 1"), "{table}");
        assert!(table.contains("66.0 B per update"), "{table}");
        assert!(table.contains("release paused  yes"), "{table}");
        assert!(table.contains(&format!("0 open of {} TCBs", holdback_regmap::CoreParams::DEFAULT.conns())), "{table}");
        assert!(table.contains("65536 bytes per connection in host memory"), "{table}");
        assert!(table.lines().any(|l| l.starts_with("enabled") && l.ends_with("yes")), "{table}");
        let back: StatusReport = serde_json::from_str(&status_json(&r)).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn snapshot_reads_open_tcbs_from_the_cards_mirror() {
        let card = crate::testcard::FakeCard::new().card;
        card.bar().poke(holdback_driver::regmap::IPV4_ADDR.offset, 0xC612_0002);
        card.set_standby(true).unwrap();
        let entry = &report().conns[0];
        card.write_tcb(entry.id, &entry.tcb).unwrap();
        let snap = snapshot_conns(&card).unwrap();
        assert_eq!(snap.local_ip, Ipv4Addr::new(198, 18, 0, 2));
        assert_eq!(snap.conns, vec![entry.clone()]);
    }
}
