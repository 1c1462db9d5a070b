//! Figures of the replication link over loopback: bytes per update (delta vs
//! full copy), time to full-sync N TCBs, and updates/s sustained with
//! acknowledgements, per update and group-committed; and the framing cost of
//! stream bytes shipped to a standby with its own store.
//!
//! `cargo run --release -p holdback-daemon --bin repl-bench [-- --conns 64 --secs 3]`
use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use holdback_daemon::replication::wire::{self, Direction, FrameCodec, Msg, Update};
use holdback_daemon::replication::{HookError, LinkConfig, LinkEvent, Primary, Standby, StoreHook, TcbDelta};
use holdback_driver::{SeqNum, Tcb};
use holdback_regmap::TcpState;

/// The standby's card stand-in: stores the copy, like a TCB-window write.
struct MemCard(HashMap<u16, Tcb>);

impl StoreHook for MemCard {
    fn install(&mut self, id: u16, tcb: &Tcb) -> Result<(), HookError> {
        self.0.insert(id, tcb.clone());
        Ok(())
    }
    fn remove(&mut self, id: u16) -> Result<(), HookError> {
        self.0.remove(&id);
        Ok(())
    }
}

fn connection(id: u16) -> Tcb {
    let irs = SeqNum(0x1234_0000u32.wrapping_mul(id as u32 + 1));
    Tcb {
        state: TcpState::Established,
        holdback: true,
        peer_mss: 1460,
        local_port: 5001,
        remote_port: 40_000 + id,
        remote_ip: std::net::Ipv4Addr::new(198, 18, 0, 1),
        remote_mac_lo: 0x0304_0506,
        remote_mac_hi: 0x0102,
        peer_link: 0xFFFF,
        irs,
        rcv_nxt: irs + 1,
        rel: irs + 1,
        ack_sent: irs + 1,
        rcv_adv: irs + 1 + 65_535,
        iss: SeqNum(7_000_000 + id as u32),
        snd_una: SeqNum(7_000_001 + id as u32),
        snd_nxt: SeqNum(7_000_001 + id as u32),
        snd_max: SeqNum(7_000_001 + id as u32),
        snd_wnd: 64_240,
        epoch: 1,
        ..Tcb::closed()
    }
}

/// The typical stream update: one MSS in, released, ACKed, window moved.
fn stream_update(t: &mut Tcb) {
    t.rcv_nxt += 1460;
    t.rel += 1460;
    t.ack_sent += 1460;
    t.rcv_adv += 1460;
    t.gen = t.gen.wrapping_add(1);
}

fn frame_size(update: Update) -> Result<(usize, usize)> {
    let msg = Msg::Update { rseq: 1_000_000, update };
    let payload = postcard::to_allocvec(&msg)?.len();
    let mut codec = FrameCodec::new(&[7; 32], Direction::PrimaryToStandby);
    let mut buf = Vec::new();
    let frame = codec.encode(&msg, &mut buf)?;
    Ok((payload, frame))
}

fn config(node: u64) -> LinkConfig {
    LinkConfig {
        heartbeat_interval: Duration::from_millis(100),
        max_unacked: 1 << 20,
        ..LinkConfig::new("repl-bench secret", node)
    }
}

async fn full_sync_time(conns: u16) -> Result<Duration> {
    let (standby, _sev) = Standby::bind(config(2), "127.0.0.1:0".parse()?, 1, MemCard(HashMap::new())).await?;
    let started = Instant::now();
    let (primary, mut pev) = Primary::start(config(1), standby.local_addr(), 1)?;
    for id in 0..conns {
        primary.send(id, &connection(id))?;
    }
    loop {
        match tokio::time::timeout(Duration::from_secs(5), pev.recv()).await {
            Ok(Some(LinkEvent::Synced { tcbs })) if tcbs == conns as usize => return Ok(started.elapsed()),
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => bail!("no full sync acknowledged within 5 s"),
        }
    }
}

/// Updates/s for `secs`: `group` updates (on distinct connections) per
/// acknowledgement wait. Returns (updates/s, mean wait per group, link bytes per update).
async fn sustained(conns: u16, group: usize, secs: f64) -> Result<(f64, Duration, f64)> {
    let (standby, _sev) = Standby::bind(config(2), "127.0.0.1:0".parse()?, 1, MemCard(HashMap::new())).await?;
    let (primary, mut pev) = Primary::start(config(1), standby.local_addr(), 1)?;
    let mut tcbs: Vec<Tcb> = (0..conns).map(connection).collect();
    for (id, t) in tcbs.iter().enumerate() {
        primary.send(id as u16, t)?;
    }
    while !matches!(tokio::time::timeout(Duration::from_secs(5), pev.recv()).await.context("no full sync")?, Some(LinkEvent::Synced { .. })) {}
    let before = primary.stats();
    let started = Instant::now();
    let (mut updates, mut waits, mut waited) = (0u64, 0u32, Duration::ZERO);
    let mut next = 0usize;
    while started.elapsed().as_secs_f64() < secs {
        let mut last = 0;
        for _ in 0..group {
            let id = next % conns as usize;
            next += 1;
            stream_update(&mut tcbs[id]);
            last = primary.send(id as u16, &tcbs[id])?;
        }
        let t = Instant::now();
        primary.wait_acked(last, Duration::from_secs(5)).await?;
        waited += t.elapsed();
        waits += 1;
        updates += group as u64;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let after = primary.stats();
    let bytes = (after.bytes_sent - before.bytes_sent) as f64 / updates as f64;
    if standby.tcbs().len() != conns as usize {
        bail!("standby holds {} TCBs, expected {conns}", standby.tcbs().len());
    }
    Ok((updates as f64 / elapsed, waited / waits, bytes))
}

fn arg(name: &str, default: f64) -> Result<f64> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == name) {
        Some(i) => args.get(i + 1).with_context(|| format!("{name} needs a value"))?.parse().with_context(|| format!("{name} takes a number")),
        None => Ok(default),
    }
}

fn main() -> Result<()> {
    let conns = arg("--conns", 64.0)? as u16;
    let secs = arg("--secs", 2.0)?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;

    let base = connection(3);
    let mut next = base.clone();
    stream_update(&mut next);
    let delta = TcbDelta::between(&base, &next)?;
    let (delta_payload, delta_frame) = frame_size(Update::Delta { id: 3, delta })?;
    let (full_payload, full_frame) = frame_size(Update::Full { id: 3, tcb: next })?;
    println!("bytes per update (rcv_nxt/rel/ack_sent/rcv_adv +1460, gen +1):");
    println!("  delta: payload {delta_payload} B, frame {delta_frame} B (incl. {} B length/version/seq, {} B HMAC)", wire::LEN_BYTES + wire::HEADER_BYTES, wire::MAC_BYTES);
    println!("  full:  payload {full_payload} B, frame {full_frame} B");
    // store = "replicated": the committed bytes ride the link too.
    for len in [1460usize, 8 << 10, 64 << 10] {
        let (_, frame) = frame_size(Update::Data { id: 3, irs: base.irs.0, offset: 1 << 20, bytes: vec![0x5a; len] })?;
        println!(
            "  stream bytes: {len} B in a frame of {frame} B ({:.4} link bytes per stream byte)",
            frame as f64 / len as f64
        );
    }

    let mut times: Vec<Duration> = Vec::new();
    for _ in 0..10 {
        times.push(rt.block_on(full_sync_time(conns))?);
    }
    times.sort();
    println!(
        "full sync of {conns} TCBs (connect + handshake + sync + ack), 10 runs: median {:.2} ms, min {:.2} ms, max {:.2} ms",
        times[5].as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        times[9].as_secs_f64() * 1e3
    );

    for group in [1usize, conns as usize, 8 * conns as usize] {
        let (rate, wait, bytes) = rt.block_on(sustained(conns, group, secs))?;
        println!(
            "sustained, {group} update(s) per ack wait over {conns} conns: {rate:.0} updates/s, mean wait {:.1} µs, {bytes:.1} link bytes/update (primary → standby)",
            wait.as_secs_f64() * 1e6
        );
    }
    Ok(())
}
