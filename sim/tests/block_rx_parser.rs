//! The Verilated `rx_parser` block against a software reference of its drop
//! rules (the order documented at the top of `hdl/src/rx/mod.rs`): directed
//! frames for every accept path and every drop reason, a seeded random-frame
//! test, idle gaps on `s_tvalid`, back-pressure on `desc_ready`, the frame
//! buffer read back through `fb_raddr` while the next frame streams in, and
//! throughput figures.
//!
//! Seed: `HOLDBACK_TEST_SEED=<n>` reproduces a run (each test prints the seed it used).
mod common;
use common::{be16, be32, mac_u64};

use std::net::Ipv4Addr;

use holdback_regmap::Stat;
use holdback_sim::model::{Model, PortId};
use holdback_sim::refmodel::{classify, Accepted};
use holdback_sim::wire::{MacAddr, SeqNum};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const OUR_MAC: [u8; 6] = [0x02, 0x00, 0x5e, 0x10, 0x20, 0x30];
const PEER_MAC: [u8; 6] = [0x02, 0x11, 0x22, 0x33, 0x44, 0x55];
const OUR_IP: [u8; 4] = [198, 18, 0, 2];
const PEER_IP: [u8; 4] = [198, 18, 0, 1];
const KIND_TCP: u64 = 0;
const KIND_ARP: u64 = 1;
const KIND_ICMP: u64 = 2;
/// The Linux SYN option block: MSS 1460, SACK permitted, timestamps, NOP, window scale 7.
const LINUX_SYN_OPTS: [u8; 20] = [2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 1, 2, 3, 0, 0, 0, 0, 1, 3, 3, 7];


// ---------------------------------------------------------------- frames ---


/// One's-complement sum of big-endian 16-bit words (odd tail padded with zero).
fn ones_sum(data: &[u8]) -> u32 {
    data.chunks(2).map(|c| u32::from(c[0]) << 8 | u32::from(*c.get(1).unwrap_or(&0))).sum()
}
fn fold(mut s: u32) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// Knobs for the frames the tests build; defaults give a valid segment for us.
#[derive(Clone)]
struct Seg {
    dst_mac: [u8; 6],
    dst_ip: [u8; 4],
    ip_opts: Vec<u8>,
    tcp_opts: Vec<u8>,
    payload: Vec<u8>,
    flags: u8,
    frag: u16,
    version: u8,
    /// Replaces the computed IHL when set.
    ihl: Option<u8>,
    /// Replaces the computed total length when set (checksum computed over it).
    total_len: Option<u16>,
    /// Replaces the computed data offset when set.
    doff: Option<u8>,
    /// Ethernet padding appended after the IP datagram.
    pad: Vec<u8>,
}

impl Default for Seg {
    fn default() -> Self {
        Seg {
            dst_mac: OUR_MAC,
            dst_ip: OUR_IP,
            ip_opts: vec![],
            tcp_opts: vec![],
            payload: vec![],
            flags: 0x10,
            frag: 0x4000,
            version: 4,
            ihl: None,
            total_len: None,
            doff: None,
            pad: vec![],
        }
    }
}

fn eth(dst: [u8; 6], ethertype: u16, body: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + body.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&PEER_MAC);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(body);
    f
}

/// IPv4 header (+ options) with a correct checksum, followed by `l4`.
fn ipv4(s: &Seg, proto: u8, l4: &[u8]) -> Vec<u8> {
    let hl = 20 + s.ip_opts.len();
    let ihl = s.ihl.unwrap_or((hl / 4) as u8);
    let total = s.total_len.unwrap_or((hl + l4.len()) as u16);
    let mut h = vec![(s.version << 4) | ihl, 0];
    h.extend_from_slice(&total.to_be_bytes());
    h.extend_from_slice(&[0x12, 0x34]);
    h.extend_from_slice(&s.frag.to_be_bytes());
    h.extend_from_slice(&[64, proto, 0, 0]);
    h.extend_from_slice(&PEER_IP);
    h.extend_from_slice(&s.dst_ip);
    h.extend_from_slice(&s.ip_opts);
    let c = !fold(ones_sum(&h));
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend_from_slice(l4);
    h
}

fn tcp_frame(s: &Seg) -> Vec<u8> {
    let hl = 20 + s.tcp_opts.len();
    let doff = s.doff.unwrap_or((hl / 4) as u8);
    let mut t = vec![];
    t.extend_from_slice(&40000u16.to_be_bytes());
    t.extend_from_slice(&5001u16.to_be_bytes());
    t.extend_from_slice(&0xfedc_ba98u32.to_be_bytes());
    t.extend_from_slice(&0x0123_4567u32.to_be_bytes());
    t.extend_from_slice(&[doff << 4, s.flags]);
    t.extend_from_slice(&29200u16.to_be_bytes());
    t.extend_from_slice(&[0, 0, 0, 0]);
    t.extend_from_slice(&s.tcp_opts);
    t.extend_from_slice(&s.payload);
    let mut pseudo = PEER_IP.to_vec();
    pseudo.extend_from_slice(&s.dst_ip);
    pseudo.extend_from_slice(&[0, 6]);
    pseudo.extend_from_slice(&(t.len() as u16).to_be_bytes());
    let c = !fold(ones_sum(&pseudo) + ones_sum(&t));
    t[16..18].copy_from_slice(&c.to_be_bytes());
    let mut f = eth(s.dst_mac, 0x0800, &ipv4(s, 6, &t));
    f.extend_from_slice(&s.pad);
    f
}

fn icmp_echo(s: &Seg, data_len: usize) -> Vec<u8> {
    let mut m = vec![8, 0, 0, 0, 0x12, 0x34, 0x00, 0x07];
    m.extend((0..data_len).map(|i| (i * 7 + 3) as u8));
    let c = !fold(ones_sum(&m));
    m[2..4].copy_from_slice(&c.to_be_bytes());
    let mut f = eth(s.dst_mac, 0x0800, &ipv4(s, 1, &m));
    f.extend_from_slice(&s.pad);
    f
}

fn arp_request(target_ip: [u8; 4]) -> Vec<u8> {
    let mut a = vec![0, 1, 8, 0, 6, 4, 0, 1];
    a.extend_from_slice(&PEER_MAC);
    a.extend_from_slice(&PEER_IP);
    a.extend_from_slice(&[0; 6]);
    a.extend_from_slice(&target_ip);
    a.extend_from_slice(&[0; 18]); // padding to 60 bytes, as a MAC sends it
    eth([0xff; 6], 0x0806, &a)
}

// ------------------------------------------------------------- reference ---

/// What the parser must report for a frame.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Desc {
    reason: u64,
    /// Fields below are compared only for accepted frames.
    kind: u64,
    src_mac: u64,
    src_ip: u64,
    total_len: u64,
    hdr_len: u64,
    sport: u64,
    dport: u64,
    seq: u64,
    ack: u64,
    flags: u64,
    window: u64,
    mss: u64,
    /// Timestamps (RFC 7323 §3.2): present, TSval, TSecr (0 when absent).
    ts_ok: u64,
    tsval: u64,
    tsecr: u64,
    /// SACK (RFC 2018 §3): blocks of the first well-formed SACK option of
    /// a segment with ACK, and each block as left << 32 | right, block i in
    /// `sack_blocks[i]` (read from bits 255-64i..192-64i); zero past the count.
    sack_count: u64,
    sack_blocks: [u64; 4],
    poff: u64,
    plen: u64,
    icmp_csum: u64,
}

fn dropped(s: Stat) -> Desc {
    Desc { reason: s.index() as u64, ..accepted(KIND_TCP) }
}
fn accepted(kind: u64) -> Desc {
    Desc {
        reason: 0,
        kind,
        src_mac: 0,
        src_ip: 0,
        total_len: 0,
        hdr_len: 0,
        sport: 0,
        dport: 0,
        seq: 0,
        ack: 0,
        flags: 0,
        window: 0,
        mss: 0,
        ts_ok: 0,
        tsval: 0,
        tsecr: 0,
        sack_count: 0,
        sack_blocks: [0; 4],
        poff: 0,
        plen: 0,
        icmp_csum: 0,
    }
}

/// Where the value of the first option of `kind` with length `len` starts
/// in f[start..end], the options scanned as RFC 9293 §3.1 says.
fn first_option(f: &[u8], start: usize, end: usize, kind: u8, len: usize) -> Option<usize> {
    first_option_len(f, start, end, kind, |l| l == len).map(|(v, _)| v)
}

/// Where the value of the first option of `kind` with a length `len_ok`
/// takes starts in f[start..end], and that length.
fn first_option_len(f: &[u8], start: usize, end: usize, kind: u8, len_ok: impl Fn(usize) -> bool) -> Option<(usize, usize)> {
    let mut p = start;
    while p < end {
        match f[p] {
            0 => break,
            1 => p += 1,
            k => {
                if p + 1 >= end || f[p + 1] < 2 {
                    break;
                }
                let l = f[p + 1] as usize;
                if k == kind && len_ok(l) && p + l <= end {
                    return Some((p + 2, l));
                }
                p += l;
            }
        }
    }
    None
}

/// MSS from the TCP options in f[start..end] (the first MSS option counts).
fn scan_mss(f: &[u8], start: usize, end: usize) -> u16 {
    first_option(f, start, end, 2, 4).map_or(0, |v| be16(f, v))
}

/// (TSval, TSecr) of the first Timestamps option (kind 8, length 10, RFC
/// 7323 §3.2) in f[start..end].
fn scan_ts(f: &[u8], start: usize, end: usize) -> Option<(u32, u32)> {
    first_option(f, start, end, 8, 10).map(|v| (be32(f, v), be32(f, v + 4)))
}

/// SACK blocks (RFC 2018 §3) of the first SACK option (kind 5) of length
/// 2 + 8n, n = 1..4, wholly in f[start..end]; other kind-5 lengths are skipped.
fn scan_sack(f: &[u8], start: usize, end: usize) -> (u64, [u64; 4]) {
    let mut blocks = [0u64; 4];
    let Some((v, l)) = first_option_len(f, start, end, 5, |l| matches!(l, 10 | 18 | 26 | 34)) else { return (0, blocks) };
    let n = (l - 2) / 8;
    for (i, b) in blocks.iter_mut().enumerate().take(n) {
        *b = u64::from(be32(f, v + 8 * i)) << 32 | u64::from(be32(f, v + 8 * i + 4));
    }
    (n as u64, blocks)
}

/// The software reference of the parser's rules (independent of the RTL).
fn reference(f: &[u8]) -> Desc {
    let len = f.len();
    if len > 2048 {
        return dropped(Stat::DropOversize);
    }
    let et = if len >= 14 { be16(f, 12) } else { 0 };
    let (ihl, tl) = if len >= 18 { ((f[14] & 15) as usize, be16(f, 16) as usize) } else { (0, 0) };
    let hl = ihl * 4;
    let truncated =
        len < 14 || (et == 0x0806 && len < 42) || (et == 0x0800 && (len < 34 || len < 14 + hl || len < 14 + tl));
    if truncated {
        return dropped(Stat::DropTruncated);
    }
    if f[..6] != OUR_MAC && f[..6] != [0xff; 6] {
        return dropped(Stat::DropNotOurAddress);
    }
    if et == 0x0806 {
        if be16(f, 14) != 1 || be16(f, 16) != 0x0800 || f[18] != 6 || f[19] != 4 || be16(f, 20) != 1 {
            return dropped(Stat::DropUnsupported);
        }
        if f[38..42] != OUR_IP {
            return dropped(Stat::DropNotOurAddress);
        }
        return Desc { src_mac: mac_u64(&f[22..]), src_ip: be32(f, 28) as u64, ..accepted(KIND_ARP) };
    }
    if et != 0x0800 {
        return dropped(Stat::DropUnknownEthertype);
    }
    let proto = f[23];
    let t = 14 + hl;
    let tcp_len = tl.wrapping_sub(hl);
    // Evaluated last: only then is the data offset byte inside the datagram.
    let bad_tcp_hdr = || {
        let doff4 = ((f[t + 12] >> 4) as usize) * 4;
        tcp_len < 20 || doff4 < 20 || doff4 > tcp_len
    };
    if f[14] >> 4 != 4 || ihl < 5 || tl < hl || (proto == 6 && (tcp_len < 20 || bad_tcp_hdr())) {
        return dropped(Stat::DropBadIpHeader);
    }
    if fold(ones_sum(&f[14..t])) != 0xffff {
        return dropped(Stat::DropBadIpChecksum);
    }
    if f[30..34] != OUR_IP {
        return dropped(Stat::DropNotOurAddress);
    }
    if be16(f, 20) & 0x3fff != 0 {
        return dropped(Stat::DropIpFragment);
    }
    let base = Desc {
        src_mac: mac_u64(&f[6..]),
        src_ip: be32(f, 26) as u64,
        total_len: tl as u64,
        hdr_len: hl as u64,
        ..accepted(KIND_TCP)
    };
    match proto {
        6 => {
            let mut pseudo = f[26..34].to_vec();
            pseudo.extend_from_slice(&[0, 6]);
            pseudo.extend_from_slice(&(tcp_len as u16).to_be_bytes());
            if fold(ones_sum(&pseudo) + ones_sum(&f[t..14 + tl])) != 0xffff {
                return dropped(Stat::DropBadTcpChecksum);
            }
            let doff4 = ((f[t + 12] >> 4) as usize) * 4;
            let ts = scan_ts(f, t + 20, t + doff4);
            // The blocks qualify the cumulative ACK: none without the ACK flag.
            let (sack_count, sack_blocks) =
                if f[t + 13] & 0x10 != 0 { scan_sack(f, t + 20, t + doff4) } else { (0, [0; 4]) };
            Desc {
                sport: be16(f, t) as u64,
                dport: be16(f, t + 2) as u64,
                seq: be32(f, t + 4) as u64,
                ack: be32(f, t + 8) as u64,
                flags: f[t + 13] as u64,
                window: be16(f, t + 14) as u64,
                mss: scan_mss(f, t + 20, t + doff4) as u64,
                ts_ok: u64::from(ts.is_some()),
                tsval: ts.map_or(0, |t| u64::from(t.0)),
                tsecr: ts.map_or(0, |t| u64::from(t.1)),
                sack_count,
                sack_blocks,
                poff: (t + doff4) as u64,
                plen: (tcp_len - doff4) as u64,
                ..base
            }
        }
        1 if tcp_len < 8 => dropped(Stat::DropTruncated),
        1 if f[t] != 8 || f[t + 1] != 0 => dropped(Stat::DropUnsupported),
        1 => Desc { kind: KIND_ICMP, poff: t as u64, plen: tcp_len as u64, icmp_csum: be16(f, t + 2) as u64, ..base },
        _ => dropped(Stat::DropUnsupported),
    }
}

// ------------------------------------------------------------------- DUT ---

struct Ports {
    tdata: PortId,
    tkeep: PortId,
    tvalid: PortId,
    tlast: PortId,
    tready: PortId,
    desc_valid: PortId,
    desc_ready: PortId,
    fb_raddr: PortId,
    fb_rdata: PortId,
    fields: Vec<PortId>,
    /// 256 bits wide: read with `get_wide`.
    sack_blocks: PortId,
}

const FIELD_PORTS: [&str; 20] = [
    "desc__024reason",
    "desc__024kind",
    "desc__024src_mac",
    "desc__024src_ip",
    "desc_ip_total_len",
    "desc_ip_hdr_len",
    "desc__024src_port",
    "desc__024dst_port",
    "desc__024seq",
    "desc__024ack",
    "desc__024flags",
    "desc__024window",
    "desc__024mss",
    "desc__024ts_ok",
    "desc__024tsval",
    "desc__024tsecr",
    "desc__024sack_count",
    "desc__024payload_off",
    "desc__024payload_len",
    "desc__024icmp_csum",
];

fn dut() -> (Model, Ports) {
    let mut m = Model::new("rx_parser")
        .unwrap_or_else(|e| panic!("{e} (is verilator installed? apt-get install -y verilator)"));
    let p = |m: &Model, n: &str| m.port(n).unwrap_or_else(|e| panic!("{e}"));
    let ports = Ports {
        tdata: p(&m, "s_tdata"),
        tkeep: p(&m, "s_tkeep"),
        tvalid: p(&m, "s_tvalid"),
        tlast: p(&m, "s_tlast"),
        tready: p(&m, "s_tready"),
        // Bundle members are `desc$<member>` in the Verilog; Verilator's C++ spells `$` as `__024`.
        desc_valid: p(&m, "desc__024valid"),
        desc_ready: p(&m, "desc__024ready"),
        fb_raddr: p(&m, "fb_raddr"),
        fb_rdata: p(&m, "fb_rdata"),
        fields: FIELD_PORTS.iter().map(|n| p(&m, n)).collect(),
        sack_blocks: p(&m, "desc__024sack_blocks"),
    };
    let mac = p(&m, "our_mac");
    let ip = p(&m, "our_ip");
    m.set(mac, mac_u64(&OUR_MAC));
    m.set(ip, u32::from_be_bytes(OUR_IP) as u64);
    (m, ports)
}

fn read_desc(m: &Model, p: &Ports) -> Desc {
    let v: Vec<u64> = p.fields.iter().map(|&f| m.get(f)).collect();
    Desc {
        reason: v[0],
        kind: v[1],
        src_mac: v[2],
        src_ip: v[3],
        total_len: v[4],
        hdr_len: v[5],
        sport: v[6],
        dport: v[7],
        seq: v[8],
        ack: v[9],
        flags: v[10],
        window: v[11],
        mss: v[12],
        // TSval and TSecr mean something only with ts_ok (the parser keeps
        // whatever an earlier frame left in them otherwise, as with ws).
        ts_ok: v[13],
        tsval: if v[13] == 1 { v[14] } else { 0 },
        tsecr: if v[13] == 1 { v[15] } else { 0 },
        // Unlike TSval, the blocks past the count (all of them for count 0)
        // must read zero, so they are compared whole.
        sack_count: v[16],
        sack_blocks: {
            let w = m.get_wide(p.sack_blocks);
            [w[3], w[2], w[1], w[0]]
        },
        poff: v[17],
        plen: v[18],
        icmp_csum: v[19],
    }
}

/// How the testbench drives the block.
#[derive(Clone, Copy)]
struct Drive {
    /// Probability that s_tvalid is low in a cycle.
    idle: f64,
    /// Probability that desc_ready is low in a cycle.
    stall: f64,
    /// Read every presented frame back through fb_raddr before popping it.
    read_back: bool,
}

struct Popped {
    desc: Desc,
    /// Frame bytes read back from the buffer (up to 2048).
    buffer: Vec<u8>,
}

/// Streams `frames` into the block and collects one descriptor per frame.
/// Returns the descriptors and the number of cycles from the first to the last pop.
fn run(frames: &[Vec<u8>], drive: Drive, rng: &mut SmallRng) -> (Vec<Popped>, u64) {
    let (mut m, p) = dut();
    let mut out: Vec<Popped> = vec![];
    let (mut fi, mut bi) = (0usize, 0usize); // frame and beat being offered
    let mut reading: Option<(usize, usize, Vec<u8>)> = None; // (words, next addr, bytes)
    let mut last_valid = false;
    let limit = 1000 + frames.iter().map(|f| f.len() as u64).sum::<u64>() * 4;
    while out.len() < frames.len() {
        assert!(
            m.cycles() < limit,
            "no progress: {} of {} descriptors after {} cycles (offering frame {fi} beat {bi}, desc_valid {last_valid}, read-back {:?})",
            out.len(),
            frames.len(),
            m.cycles(),
            reading.as_ref().map(|r| (r.0, r.1, r.2.len()))
        );
        // Stream side.
        let offer = fi < frames.len() && !rng.gen_bool(drive.idle);
        if offer {
            let f = &frames[fi];
            let chunk = &f[bi * 8..f.len().min(bi * 8 + 8)];
            let mut data = rng.gen::<u64>(); // bytes past tkeep are don't-care
            for (j, &b) in chunk.iter().enumerate() {
                data = (data & !(0xff << (8 * j))) | (u64::from(b) << (8 * j));
            }
            m.set(p.tdata, data);
            m.set(p.tkeep, (1u64 << chunk.len()) - 1);
            m.set(p.tlast, u64::from(bi * 8 + 8 >= f.len()));
        } else {
            m.set(p.tdata, rng.gen());
        }
        m.set(p.tvalid, u64::from(offer));
        // Descriptor side: read the buffer back first if asked, then pop.
        let frame_words = |i: usize| frames[i].len().min(2048).div_ceil(8);
        if drive.read_back && last_valid && reading.is_none() {
            reading = Some((frame_words(out.len()), 0, vec![]));
        }
        let mut ready = !rng.gen_bool(drive.stall);
        if drive.read_back {
            match &mut reading {
                Some((words, next, _)) if *next < *words => {
                    m.set(p.fb_raddr, *next as u64);
                    ready = false;
                }
                Some(_) => {}
                None => ready = false,
            }
        }
        m.set(p.desc_ready, u64::from(ready));
        m.cycle();
        if let Some((words, next, bytes)) = &mut reading {
            if *next > 0 && bytes.len() < *words * 8 {
                bytes.extend_from_slice(&m.get(p.fb_rdata).to_be_bytes());
            }
            if *next < *words {
                *next += 1;
            }
        }
        // Sampled pre-edge: these handshakes completed at this edge.
        if offer && m.get(p.tready) == 1 {
            bi += 1;
            if bi * 8 >= frames[fi].len() {
                fi += 1;
                bi = 0;
            }
        }
        let valid = m.get(p.desc_valid) == 1;
        if ready && valid {
            let buffer = reading.take().map(|(_, _, b)| b).unwrap_or_default();
            out.push(Popped { desc: read_desc(&m, &p), buffer });
        }
        last_valid = valid && !ready;
    }
    let cycles = m.cycles();
    (out, cycles)
}

/// Compares what the block reported with the reference, frame by frame.
fn check(frames: &[Vec<u8>], popped: &[Popped], read_back: bool) {
    for (i, (f, got)) in frames.iter().zip(popped).enumerate() {
        let want = reference(f);
        let ctx = || format!("frame {i} ({} bytes): {:02x?}", f.len(), &f[..f.len().min(80)]);
        assert_eq!(got.desc.reason, want.reason, "drop reason of {}", ctx());
        if want.reason == 0 {
            let mut got_d = got.desc.clone();
            if want.kind == KIND_ARP {
                // Only kind, sender addresses are defined for ARP.
                got_d = Desc { kind: got_d.kind, src_mac: got_d.src_mac, src_ip: got_d.src_ip, ..accepted(0) };
            } else if want.kind == KIND_ICMP {
                got_d.sport = 0;
                got_d.dport = 0;
                got_d.seq = 0;
                got_d.ack = 0;
                got_d.flags = 0;
                got_d.window = 0;
            } else {
                got_d.icmp_csum = 0;
            }
            assert_eq!(got_d, want, "descriptor of {}", ctx());
        }
        agree_with_refmodel(f, &got.desc, &ctx);
        if read_back {
            let n = f.len().min(2048);
            assert_eq!(&got.buffer[..n], &f[..n], "frame buffer of {}", ctx());
        }
    }
}

/// The block must also agree with the team's reference model
/// (`refmodel::classify`), which the whole-core tests score against.
fn agree_with_refmodel(f: &[u8], got: &Desc, ctx: &dyn Fn() -> String) {
    let ours = MacAddr::from_u64(mac_u64(&OUR_MAC));
    let payload = || &f[got.poff as usize..(got.poff + got.plen) as usize];
    match classify(f, ours, Ipv4Addr::from(OUR_IP)) {
        Err(stat) => assert_eq!(got.reason, stat.index() as u64, "refmodel drop reason of {}", ctx()),
        Ok(accepted) => {
            assert_eq!(got.reason, 0, "refmodel accepts {}", ctx());
            let (kind, src_mac, src_ip) = match &accepted {
                Accepted::Tcp(seg) => {
                    let fields = (seg.src_port, seg.dst_port, seg.seq.0, seg.ack.0, seg.flags.0, seg.window, seg.mss);
                    let g = (
                        got.sport as u16,
                        got.dport as u16,
                        got.seq as u32,
                        got.ack as u32,
                        got.flags as u8,
                        got.window as u16,
                        got.mss as u16,
                    );
                    assert_eq!(g, fields, "refmodel TCP fields of {}", ctx());
                    let ts = (got.ts_ok == 1).then_some((got.tsval as u32, got.tsecr as u32));
                    assert_eq!(ts, seg.timestamps, "refmodel timestamps of {}", ctx());
                    let sack: Vec<(SeqNum, SeqNum)> = got.sack_blocks[..(got.sack_count as usize).min(4)]
                        .iter()
                        .map(|b| (SeqNum((b >> 32) as u32), SeqNum(*b as u32)))
                        .collect();
                    assert_eq!(sack, seg.sack_blocks, "refmodel SACK blocks of {}", ctx());
                    assert_eq!(payload(), &seg.payload[..], "refmodel payload of {}", ctx());
                    (KIND_TCP, seg.src_mac, u32::from(seg.src_ip))
                }
                Accepted::ArpRequest { sha, spa } => (KIND_ARP, *sha, u32::from(*spa)),
                Accepted::IcmpEcho { src_mac, src_ip, message } => {
                    assert_eq!(payload(), &message[..], "refmodel ICMP message of {}", ctx());
                    (KIND_ICMP, *src_mac, u32::from(*src_ip))
                }
            };
            assert_eq!(
                (got.kind, got.src_mac, got.src_ip),
                (kind, src_mac.to_u64(), src_ip as u64),
                "refmodel addresses of {}",
                ctx()
            );
        }
    }
}

fn directed() -> Vec<(&'static str, Vec<u8>, Option<Stat>)> {
    let syn = Seg { flags: 0x02, tcp_opts: LINUX_SYN_OPTS.to_vec(), ..Seg::default() };
    let data = Seg { payload: (0..100u8).collect(), flags: 0x18, ..Seg::default() };
    let ihl6 =
        Seg { ip_opts: vec![1, 1, 1, 0], tcp_opts: LINUX_SYN_OPTS.to_vec(), payload: vec![9; 13], ..Seg::default() };
    let odd = Seg { payload: (0..37u8).map(|b| b.wrapping_mul(13)).collect(), ..Seg::default() };
    let padded = Seg { pad: vec![0xee; 6], ..Seg::default() };
    // MSS after NOPs, crossing a word boundary, at the end of 40 option bytes.
    let mut late = vec![1u8; 36];
    late.extend_from_slice(&[2, 4, 0x23, 0x45]);
    let mss_late = Seg { tcp_opts: late, flags: 0x02, ..Seg::default() };
    let mss_ihl7 = Seg { ip_opts: vec![1; 8], tcp_opts: vec![1, 1, 1, 2, 4, 0x05, 0x78, 0], ..Seg::default() };
    let two_mss = Seg { tcp_opts: vec![2, 4, 0x11, 0x11, 2, 4, 0x22, 0x22], ..Seg::default() };
    let mut bad_ip = tcp_frame(&data);
    bad_ip[24] ^= 0x40;
    let mut bad_tcp = tcp_frame(&data);
    bad_tcp[60] ^= 0x01;
    let mut truncated = tcp_frame(&data);
    truncated.truncate(100);
    let mut ipv6 = tcp_frame(&data);
    ipv6[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());
    let big = Seg { payload: vec![0x5a; 2100], ..Seg::default() };
    // The largest frame the buffer holds, and one byte more.
    let max_fit = Seg { payload: (0..1994u32).map(|i| i as u8).collect(), ..Seg::default() };
    let one_over = Seg { payload: vec![0x33; 1995], ..Seg::default() };
    // The longest headers: IHL 15 and data offset 15, MSS the last option.
    let mut long_opts = vec![1u8; 36];
    long_opts.extend_from_slice(&[2, 4, 0x0f, 0xa0]);
    let longest = Seg { ip_opts: vec![1; 40], tcp_opts: long_opts, payload: vec![7; 3], ..Seg::default() };
    vec![
        ("SYN with Linux options", tcp_frame(&syn), None),
        ("data segment", tcp_frame(&data), None),
        ("IHL 6", tcp_frame(&ihl6), None),
        ("odd payload", tcp_frame(&odd), None),
        ("padded short frame", tcp_frame(&padded), None),
        ("MSS late in 40 option bytes", tcp_frame(&mss_late), None),
        ("MSS with IHL 7", tcp_frame(&mss_ihl7), None),
        ("two MSS options", tcp_frame(&two_mss), None),
        ("ARP for us", arp_request(OUR_IP), None),
        ("ARP for another IP", arp_request([198, 18, 0, 9]), Some(Stat::DropNotOurAddress)),
        ("ICMP echo", icmp_echo(&Seg::default(), 56), None),
        ("ICMP echo, odd length", icmp_echo(&Seg::default(), 5), None),
        ("bad IP checksum", bad_ip, Some(Stat::DropBadIpChecksum)),
        ("bad TCP checksum", bad_tcp, Some(Stat::DropBadTcpChecksum)),
        ("truncated", truncated, Some(Stat::DropTruncated)),
        ("IHL 4", tcp_frame(&Seg { ihl: Some(4), ..data.clone() }), Some(Stat::DropBadIpHeader)),
        ("total length < header", tcp_frame(&Seg { total_len: Some(16), ..data.clone() }), Some(Stat::DropBadIpHeader)),
        ("doff 4", tcp_frame(&Seg { doff: Some(4), ..data.clone() }), Some(Stat::DropBadIpHeader)),
        ("fragment (MF)", tcp_frame(&Seg { frag: 0x2000, ..data.clone() }), Some(Stat::DropIpFragment)),
        ("fragment offset", tcp_frame(&Seg { frag: 0x0010, ..data.clone() }), Some(Stat::DropIpFragment)),
        ("IPv6 ethertype", ipv6, Some(Stat::DropUnknownEthertype)),
        ("wrong dst MAC", tcp_frame(&Seg { dst_mac: PEER_MAC, ..data.clone() }), Some(Stat::DropNotOurAddress)),
        ("wrong dst IP", tcp_frame(&Seg { dst_ip: [198, 18, 0, 7], ..data.clone() }), Some(Stat::DropNotOurAddress)),
        ("oversize", tcp_frame(&big), Some(Stat::DropOversize)),
        ("UDP", eth(OUR_MAC, 0x0800, &ipv4(&Seg::default(), 17, &[0; 12])), Some(Stat::DropUnsupported)),
        ("runt", vec![0xff; 9], Some(Stat::DropTruncated)),
        // One-beat frames right after a frame: taken in its finish cycle.
        ("one-beat runt", vec![0xff; 6], Some(Stat::DropTruncated)),
        ("another one-beat runt", vec![0x01; 8], Some(Stat::DropTruncated)),
        ("data segment after runts", tcp_frame(&data), None),
        ("2048-byte frame", tcp_frame(&max_fit), None),
        ("2049-byte frame", tcp_frame(&one_over), Some(Stat::DropOversize)),
        ("IHL 15, doff 15, MSS last", tcp_frame(&longest), None),
        ("jumbo frame", tcp_frame(&Seg { payload: vec![1; 9000], ..Seg::default() }), Some(Stat::DropOversize)),
        ("data segment after a jumbo", tcp_frame(&data), None),
    ]
}

#[test]
fn rx_parser_directed_frames() {
    let cases = directed();
    // The reference itself must agree with the intent of each case.
    for (name, f, want) in &cases {
        let r = reference(f);
        let want = want.map(|s| s.index() as u64).unwrap_or(0);
        assert_eq!(r.reason, want, "reference disagrees with case `{name}`");
    }
    let frames: Vec<Vec<u8>> = cases.iter().map(|c| c.1.clone()).collect();
    let seed = holdback_sim::test_seed(0x5258_0001);
    for (drive, what) in [
        (Drive { idle: 0.0, stall: 0.0, read_back: false }, "back-to-back"),
        (Drive { idle: 0.3, stall: 0.5, read_back: true }, "idle gaps, back-pressure, read-back"),
        (Drive { idle: 0.0, stall: 0.9, read_back: true }, "heavy back-pressure"),
    ] {
        let mut rng = SmallRng::seed_from_u64(seed);
        let (popped, cycles) = run(&frames, drive, &mut rng);
        eprintln!("{what}: {} frames in {cycles} cycles", frames.len());
        check(&frames, &popped, drive.read_back);
    }
    // Spot checks that do not depend on the reference.
    let mut rng = SmallRng::seed_from_u64(seed);
    let (popped, _) = run(&frames, Drive { idle: 0.0, stall: 0.0, read_back: false }, &mut rng);
    let at = |name: &str| cases.iter().position(|c| c.0 == name).expect("case exists");
    let got = |name: &str| &popped[at(name)].desc;
    assert_eq!(got("SYN with Linux options").mss, 1460);
    let linux = got("SYN with Linux options");
    assert_eq!((linux.ts_ok, linux.tsval, linux.tsecr), (1, 0x0001_0203, 0), "Linux's SYN timestamps");
    assert_eq!((got("data segment").poff, got("data segment").plen), (54, 100));
    let ihl6 = got("IHL 6");
    assert_eq!((ihl6.hdr_len, ihl6.poff, ihl6.mss), (24, 78, 1460));
    assert_eq!(got("odd payload").plen, 37);
    assert_eq!(got("padded short frame").plen, 0);
    assert_eq!(got("MSS late in 40 option bytes").mss, 0x2345);
    assert_eq!(got("MSS with IHL 7").mss, 0x0578);
    assert_eq!(got("two MSS options").mss, 0x1111);
    assert_eq!((got("ARP for us").kind, got("ARP for us").src_ip), (KIND_ARP, u32::from_be_bytes(PEER_IP) as u64));
    let echo = got("ICMP echo");
    assert_eq!((echo.kind, echo.poff, echo.plen), (KIND_ICMP, 34, 64));
    assert_eq!(frames[at("2048-byte frame")].len(), 2048);
    assert_eq!(frames[at("2049-byte frame")].len(), 2049);
    let longest = &popped[at("IHL 15, doff 15, MSS last")].desc;
    assert_eq!((longest.hdr_len, longest.poff, longest.plen, longest.mss), (60, 134, 3, 4000));
}

/// A SACK option (kind 5) of length `len` whose value bytes are distinct
/// and depend on `tag`, so a byte taken from the wrong lane or word shows.
fn sack_opt(len: u8, tag: u8) -> Vec<u8> {
    let mut o = vec![5, len];
    o.extend((2..len).map(|k| tag.wrapping_mul(41).wrapping_add(k.wrapping_mul(7)) ^ 0x5a));
    o
}

/// The blocks `sack_opt(2 + 8n, tag)` carries, as the descriptor holds them.
fn sack_want(n: usize, tag: u8) -> [u64; 4] {
    let o = sack_opt(2 + 8 * n as u8, tag);
    let mut b = [0u64; 4];
    for (i, x) in b.iter_mut().enumerate().take(n) {
        *x = u64::from(be32(&o, 2 + 8 * i)) << 32 | u64::from(be32(&o, 6 + 8 * i));
    }
    b
}

/// Pads an option list to whole 32-bit words with EOL.
fn words(mut o: Vec<u8>) -> Vec<u8> {
    o.resize(o.len().div_ceil(4) * 4, 0);
    o
}

/// SACK directed frames: (name, frame, expected count and blocks).
fn sack_cases() -> Vec<(String, Vec<u8>, (u64, [u64; 4]))> {
    let mut cases = vec![];
    let mut tag = 0u8;
    // Every lane of a word as the option's start (the options begin at frame
    // offset 54, 6 mod 8; NOPs move it), 1-4 blocks: the value in up to 5 words.
    for n in 1..=4usize {
        for pad in 0..8usize {
            let len = 2 + 8 * n;
            if pad + len > 40 {
                continue;
            }
            tag = tag.wrapping_add(1);
            let mut o = vec![1u8; pad];
            o.extend(sack_opt(len as u8, tag));
            let seg = Seg { tcp_opts: words(o), payload: vec![0x77; pad * 3], ..Seg::default() };
            cases.push((format!("{n} SACK blocks after {pad} NOPs"), tcp_frame(&seg), (n as u64, sack_want(n, tag))));
            // IHL 6 moves the options to 2 mod 8.
            let ihl6 = Seg { ip_opts: vec![1, 1, 1, 0], ..seg };
            cases.push((format!("{n} SACK blocks after {pad} NOPs, IHL 6"), tcp_frame(&ihl6), (n as u64, sack_want(n, tag))));
        }
    }
    // As Linux sends them: NOP, NOP, Timestamps, NOP, NOP, SACK (at most 3 blocks then).
    for n in 1..=3usize {
        tag = tag.wrapping_add(1);
        let mut o = vec![1, 1, 8, 10, 0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04, 1, 1];
        o.extend(sack_opt(2 + 8 * n as u8, tag));
        let seg = Seg { tcp_opts: o, payload: vec![0x33; 20], flags: 0x10, ..Seg::default() };
        cases.push((format!("Linux: timestamps and {n} SACK blocks"), tcp_frame(&seg), (n as u64, sack_want(n, tag))));
        let ihl7 = Seg { ip_opts: vec![1; 8], ..seg };
        cases.push((format!("Linux: timestamps and {n} SACK blocks, IHL 7"), tcp_frame(&ihl7), (n as u64, sack_want(n, tag))));
    }
    // Malformed lengths: not 2 + 8n, or no block at all.
    for len in [2u8, 3, 9, 11, 17, 19, 33, 35] {
        let seg = Seg { tcp_opts: words([vec![1, 1], sack_opt(len, 9)].concat()), ..Seg::default() };
        cases.push((format!("SACK of length {len}"), tcp_frame(&seg), (0, [0; 4])));
    }
    // Five blocks (length 42) cannot fit 40 option bytes: the option runs
    // past the header end, whose remaining bytes come as payload.
    let five = sack_opt(42, 3);
    let seg = Seg { tcp_opts: five[..40].to_vec(), payload: five[40..].to_vec(), ..Seg::default() };
    cases.push(("SACK of 5 blocks".into(), tcp_frame(&seg), (0, [0; 4])));
    // Cut by the header end: a 3-block option in a 20-byte option list, the
    // rest following as payload so the frame reads on as if it were whole.
    let cut = sack_opt(26, 4);
    let o = [vec![1, 1], cut.clone()].concat();
    let seg = Seg { tcp_opts: o[..20].to_vec(), payload: o[20..].to_vec(), ..Seg::default() };
    cases.push(("SACK cut by the header end".into(), tcp_frame(&seg), (0, [0; 4])));
    // Cut by one byte.
    let o = [vec![1, 1, 1], sack_opt(18, 5)].concat();
    let seg = Seg { tcp_opts: o[..20].to_vec(), payload: o[20..].to_vec(), ..Seg::default() };
    cases.push(("SACK one byte past the header end".into(), tcp_frame(&seg), (0, [0; 4])));
    // Two SACK options: the first counts, whichever is longer.
    let seg = Seg { tcp_opts: [vec![1, 1], sack_opt(10, 6), vec![1, 1], sack_opt(18, 7)].concat(), ..Seg::default() };
    cases.push(("two SACK options, 1 block first".into(), tcp_frame(&seg), (1, sack_want(1, 6))));
    let seg = Seg { tcp_opts: [vec![1, 1], sack_opt(18, 8), vec![1, 1], sack_opt(10, 9)].concat(), ..Seg::default() };
    cases.push(("two SACK options, 2 blocks first".into(), tcp_frame(&seg), (2, sack_want(2, 8))));
    // A kind-5 option of a wrong length is skipped, as an MSS of a wrong length is.
    let seg = Seg { tcp_opts: [sack_opt(12, 10), sack_opt(18, 11), vec![0, 0]].concat(), ..Seg::default() };
    cases.push(("malformed SACK, then a good one".into(), tcp_frame(&seg), (2, sack_want(2, 11))));
    // After EOL nothing counts.
    let seg = Seg { tcp_opts: words([vec![0, 1], sack_opt(10, 12)].concat()), ..Seg::default() };
    cases.push(("SACK after EOL".into(), tcp_frame(&seg), (0, [0; 4])));
    // Without ACK (a SYN, or a bare segment) the blocks mean nothing.
    for flags in [0x02u8, 0x00, 0x08, 0x01] {
        let seg = Seg { flags, tcp_opts: words([vec![1, 1], sack_opt(18, 13)].concat()), ..Seg::default() };
        cases.push((format!("SACK without ACK, flags {flags:#04x}"), tcp_frame(&seg), (0, [0; 4])));
    }
    // With ACK and other flags; and a segment after one with 4 blocks must
    // not keep them (the 1-block one after a 4-block one, then none).
    let seg = Seg { flags: 0x19, tcp_opts: words([vec![1, 1], sack_opt(18, 14)].concat()), ..Seg::default() };
    cases.push(("SACK with ACK FIN PSH".into(), tcp_frame(&seg), (2, sack_want(2, 14))));
    let seg = Seg { tcp_opts: words([vec![1, 1], sack_opt(34, 15)].concat()), ..Seg::default() };
    cases.push(("4 SACK blocks before 1".into(), tcp_frame(&seg), (4, sack_want(4, 15))));
    let seg = Seg { tcp_opts: words([vec![1, 1], sack_opt(10, 16)].concat()), ..Seg::default() };
    cases.push(("1 SACK block after 4".into(), tcp_frame(&seg), (1, sack_want(1, 16))));
    cases.push(("no SACK after 1".into(), tcp_frame(&Seg::default()), (0, [0; 4])));
    cases
}

#[test]
fn rx_parser_sack_blocks() {
    let cases = sack_cases();
    // The reference agrees with what each case was built to carry.
    for (name, f, want) in &cases {
        let r = reference(f);
        assert_eq!(r.reason, 0, "case `{name}` is accepted");
        assert_eq!((r.sack_count, r.sack_blocks), *want, "reference on case `{name}`");
    }
    let frames: Vec<Vec<u8>> = cases.iter().map(|c| c.1.clone()).collect();
    let seed = holdback_sim::test_seed(0x5258_0003);
    for drive in [
        Drive { idle: 0.0, stall: 0.0, read_back: false },
        Drive { idle: 0.3, stall: 0.5, read_back: true },
    ] {
        let mut rng = SmallRng::seed_from_u64(seed);
        let (popped, _) = run(&frames, drive, &mut rng);
        check(&frames, &popped, drive.read_back);
        // And against the expectation directly, independent of the reference.
        for ((name, _, want), got) in cases.iter().zip(&popped) {
            assert_eq!((got.desc.sack_count, got.desc.sack_blocks), *want, "RTL on case `{name}`");
        }
    }
    eprintln!("{} SACK frames", cases.len());
}

/// A random frame: a valid TCP/ICMP/ARP frame with random sizes and options,
/// then (often) one random corruption.
fn random_frame(rng: &mut SmallRng) -> Vec<u8> {
    let mut s = Seg { flags: rng.gen(), ..Seg::default() };
    if rng.gen_bool(0.3) {
        s.ip_opts = vec![1; 4 * rng.gen_range(1..=10)];
    }
    let mut opts = vec![];
    for _ in 0..rng.gen_range(0..8) {
        match rng.gen_range(0..8) {
            0 | 1 => opts.push(1),
            2 => opts.extend_from_slice(&[2, 4, rng.gen(), rng.gen()]),
            3 => opts.extend_from_slice(&[3, 3, rng.gen()]),
            4 => {
                opts.extend_from_slice(&[8, 10]);
                opts.extend((0..8).map(|_| rng.gen::<u8>()));
            }
            5 => opts.push(0),
            // SACK, mostly well-formed (1-4 blocks), sometimes not.
            6 => {
                let len = if rng.gen_bool(0.8) { 2 + 8 * rng.gen_range(1..=4) } else { rng.gen_range(2..36) };
                opts.extend_from_slice(&[5, len]);
                opts.extend((2..len).map(|_| rng.gen::<u8>()));
            }
            // Any kind with any length, malformed or running past the header
            // end included (the checksum stays right, so the scan decides).
            _ => {
                let len: u8 = rng.gen_range(0..14);
                opts.extend_from_slice(&[rng.gen_range(2..40), len]);
                opts.extend((2..len).map(|_| rng.gen::<u8>()));
            }
        }
    }
    opts.truncate(40);
    while opts.len() % 4 != 0 {
        opts.push(0);
    }
    s.tcp_opts = opts;
    let max_payload = if rng.gen_bool(0.2) { 1600 } else { 80 };
    s.payload = (0..rng.gen_range(0..=max_payload)).map(|_| rng.gen()).collect();
    if rng.gen_bool(0.3) {
        s.pad = (0..rng.gen_range(1..30)).map(|_| rng.gen()).collect();
    }
    let mut f = match rng.gen_range(0..10) {
        0 => arp_request(if rng.gen_bool(0.7) { OUR_IP } else { PEER_IP }),
        1 => icmp_echo(&s, rng.gen_range(0..100)),
        _ => tcp_frame(&s),
    };
    match rng.gen_range(0..12) {
        0 => {
            let at = rng.gen_range(0..f.len());
            f[at] ^= 1 << rng.gen_range(0..8);
        }
        1 => f.truncate(rng.gen_range(1..f.len())),
        2 => f[14] = rng.gen(),
        3 => f[16..18].copy_from_slice(&rng.gen_range(0u16..200).to_be_bytes()),
        4 => f[rng.gen_range(0..6)] ^= 0x80,
        5 if f.len() > 47 => {
            let at = 46 + rng.gen_range(0..2);
            f[at] = rng.gen();
        }
        _ => {}
    }
    f
}

#[test]
fn rx_parser_random_frames() {
    let seed = holdback_sim::test_seed(0x5258_0002);
    let mut rng = SmallRng::seed_from_u64(seed);
    let frames: Vec<Vec<u8>> = (0..600).map(|_| random_frame(&mut rng)).collect();
    let accepted = frames.iter().filter(|f| reference(f).reason == 0).count();
    let with_mss = frames.iter().map(|f| reference(f)).filter(|d| d.reason == 0 && d.mss != 0).count();
    let with_ts = frames.iter().map(|f| reference(f)).filter(|d| d.reason == 0 && d.ts_ok == 1).count();
    let with_sack = frames.iter().map(|f| reference(f)).filter(|d| d.reason == 0 && d.sack_count != 0).count();
    eprintln!(
        "{} random frames, {accepted} acceptable by the reference, {with_mss} with an MSS, {with_ts} with timestamps, {with_sack} with SACK blocks",
        frames.len()
    );
    assert!(with_sack > 15, "the random frames exercise the SACK option");
    assert!(with_ts > 20, "the random frames exercise the Timestamps option");
    assert!(with_mss > 30, "the generator should exercise the option scan");
    assert!(accepted > 200 && accepted < 550, "the generator should mix accepted and dropped frames");
    let (popped, cycles) = run(&frames, Drive { idle: 0.2, stall: 0.3, read_back: true }, &mut rng);
    eprintln!("{cycles} cycles");
    check(&frames, &popped, true);
}

#[test]
fn rx_parser_throughput() {
    let mut rng = SmallRng::seed_from_u64(holdback_sim::test_seed(1));
    let full_speed = Drive { idle: 0.0, stall: 0.0, read_back: false };
    let min = tcp_frame(&Seg { payload: vec![0; 10], ..Seg::default() });
    assert_eq!(min.len(), 64);
    let max = tcp_frame(&Seg { payload: vec![0; 1460], ..Seg::default() });
    assert_eq!(max.len(), 1514);
    let max = {
        let mut f = max;
        f.extend_from_slice(&[0; 4]); // 1518 bytes: 4 bytes of padding after the datagram
        f
    };
    let n = 200;
    let (p, c_min) = run(&vec![min; n], full_speed, &mut rng);
    assert!(p.iter().all(|d| d.desc.reason == 0));
    let (p, c_max) = run(&vec![max; n], full_speed, &mut rng);
    assert!(p.iter().all(|d| d.desc.reason == 0));
    let per_min = c_min as f64 / n as f64;
    let bpc = (1518 * n) as f64 / c_max as f64;
    eprintln!("rx_parser: {per_min:.2} cycles per 64-byte frame, {bpc:.2} bytes/cycle for 1518-byte frames");
    assert!(per_min <= 10.5, "{per_min} cycles per minimum frame");
    assert!(bpc >= 7.5, "{bpc} bytes/cycle");
}
