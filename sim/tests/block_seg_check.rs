//! The Verilated `seg_check` block against the reference model's own functions
//! (`acceptable`, `in_window`, `in_order_span`, `ack_and_edge`): the segment
//! checks of RFC 9293 §3.10.7.4 and the ACK / right edge / window the engine
//! sends, crossing the sequence-space edges — the 2^32 wrap, segments 2^31
//! away, zero windows, and SYN and FIN each occupying one sequence number.
use holdback_sim::model::{Model, PortId};
use holdback_sim::refmodel::{self, RxSegment, Tcb};
use holdback_sim::wire::{MacAddr, SeqNum, TcpFlags};
use rand::{rngs::SmallRng, Rng, SeedableRng};
use std::net::Ipv4Addr;

/// The host ring's window, as the register block derives it from
/// RX_RING_LOG2 = 12..=16: the ring's bytes, capped at 65535.
const RING_WINDOWS: [u32; 5] = [4096, 8192, 16384, 32768, 65535];
/// The random cases' scale of R's distance from rcv_nxt.
const RING_BYTES: u32 = 65536;

struct Ports {
    seq: PortId,
    payload_len: PortId,
    syn: PortId,
    fin: PortId,
    rcv_nxt: PortId,
    rcv_adv: PortId,
    rel: PortId,
    holdback: PortId,
    ack_sent: PortId,
    ring_window: PortId,
    rcv_wscale: PortId,
    seg_len: PortId,
    acceptable: PortId,
    in_window: PortId,
    at_rcv_nxt: PortId,
    out_of_order: PortId,
    skip: PortId,
    take: PortId,
    fin_at_rcv_nxt: PortId,
    all_released: PortId,
    ack: PortId,
    right: PortId,
    window: PortId,
    changed: PortId,
}

/// One case: a TCB's receive side and a segment.
#[derive(Clone, Copy, Debug)]
struct Case {
    rcv_nxt: u32,
    /// RCV.WND; well below 2^31 as in any real TCB.
    wnd: u32,
    rel: u32,
    holdback: bool,
    ack_sent: u32,
    /// What the host ring holds beyond R (the engine's `ring_window`).
    ring_window: u32,
    /// Window scaling: the TCB's RCV_WSCALE.
    rcv_wscale: u8,
    seq: u32,
    len: u16,
    syn: bool,
    fin: bool,
}

/// What each output was compared on, so a run shows every rule was exercised.
#[derive(Default, Debug)]
struct Coverage {
    cases: u64,
    acceptable: u64,
    unacceptable: u64,
    out_of_order: u64,
    took_bytes: u64,
    zero_window: u64,
    fin_at_rcv_nxt: u64,
    window_saturated: u64,
}

struct SegCheck {
    m: Model,
    p: Ports,
    cov: Coverage,
}

impl SegCheck {
    fn new() -> SegCheck {
        let m = Model::new("seg_check").expect("seg_check is built");
        let port = |n: &str| m.port(n).unwrap_or_else(|e| panic!("{e}"));
        let p = Ports {
            seq: port("seq"),
            payload_len: port("payload_len"),
            syn: port("syn"),
            fin: port("fin"),
            rcv_nxt: port("rcv_nxt"),
            rcv_adv: port("rcv_adv"),
            rel: port("rel"),
            holdback: port("holdback"),
            ack_sent: port("ack_sent"),
            ring_window: port("ring_window"),
            rcv_wscale: port("rcv_wscale"),
            seg_len: port("seg_len"),
            acceptable: port("acceptable"),
            in_window: port("in_window"),
            at_rcv_nxt: port("at_rcv_nxt"),
            out_of_order: port("out_of_order"),
            skip: port("skip"),
            take: port("take"),
            fin_at_rcv_nxt: port("fin_at_rcv_nxt"),
            all_released: port("all_released"),
            ack: port("ack"),
            right: port("right"),
            window: port("window"),
            changed: port("changed"),
        };
        SegCheck { m, p, cov: Coverage::default() }
    }

    fn check(&mut self, c: Case) {
        let tcb = Tcb {
            rcv_nxt: SeqNum(c.rcv_nxt),
            rcv_adv: SeqNum(c.rcv_nxt.wrapping_add(c.wnd)),
            rel: SeqNum(c.rel),
            holdback: c.holdback,
            ack_sent: SeqNum(c.ack_sent),
            rcv_wscale: c.rcv_wscale,
            ..Tcb::default()
        };
        let mut flags = TcpFlags::ACK;
        if c.syn {
            flags = flags | TcpFlags::SYN;
        }
        if c.fin {
            flags = flags | TcpFlags::FIN;
        }
        let seg = RxSegment {
            src_mac: MacAddr([2, 0, 0, 0, 0, 9]),
            src_ip: Ipv4Addr::new(198, 18, 0, 9),
            src_port: 40000,
            dst_port: 5001,
            sack_permitted: false,
            timestamps: None,
            sack_blocks: Vec::new(),
            seq: SeqNum(c.seq),
            ack: SeqNum(0),
            flags,
            window: 0,
            mss: 0,
            wscale: None,
            payload: vec![0; usize::from(c.len)],
        };

        let p = &self.p;
        self.m.set(p.seq, u64::from(c.seq));
        self.m.set(p.payload_len, u64::from(c.len));
        self.m.set(p.syn, u64::from(c.syn));
        self.m.set(p.fin, u64::from(c.fin));
        self.m.set(p.rcv_nxt, u64::from(c.rcv_nxt));
        self.m.set(p.rcv_adv, u64::from(tcb.rcv_adv.0));
        self.m.set(p.rel, u64::from(c.rel));
        self.m.set(p.holdback, u64::from(c.holdback));
        self.m.set(p.ack_sent, u64::from(c.ack_sent));
        self.m.set(p.ring_window, u64::from(c.ring_window));
        self.m.set(p.rcv_wscale, u64::from(c.rcv_wscale));
        self.m.cycle();
        let get = |id: PortId| self.m.get(id);
        let bit = |id: PortId| self.m.get(id) == 1;

        let acceptable = refmodel::acceptable(&tcb, &seg);
        assert_eq!(get(p.seg_len) as u32, seg.seq_len(), "seg_len {c:?}");
        assert_eq!(bit(p.acceptable), acceptable, "acceptable {c:?}");
        assert_eq!(bit(p.in_window), refmodel::in_window(&tcb, seg.seq), "in_window {c:?}");
        assert_eq!(bit(p.at_rcv_nxt), c.seq == c.rcv_nxt, "at_rcv_nxt {c:?}");
        assert_eq!(
            bit(p.fin_at_rcv_nxt),
            c.fin && seg.seq + u32::from(c.len) == tcb.rcv_nxt,
            "fin_at_rcv_nxt {c:?}"
        );
        assert_eq!(bit(p.all_released), tcb.rcv_nxt <= tcb.rel, "all_released {c:?}");
        if acceptable {
            // The engine asks "out of order" only of acceptable segments (RFC 9293
            // §3.10.7.4 step 5 follows step 1): there it means seq > rcv_nxt.
            let beyond = seg.seq > tcb.rcv_nxt;
            assert_eq!(bit(p.out_of_order), beyond, "out_of_order {c:?}");
            if !beyond && !c.syn {
                // An in-order data segment: the bytes the ring gets.
                let (skip, take) = refmodel::in_order_span(&tcb, &seg, c.ring_window);
                assert_eq!(get(p.take) as u32, take, "take {c:?}");
                if c.len > 0 {
                    assert_eq!(get(p.skip) as usize, skip, "skip {c:?}");
                }
                self.cov.took_bytes += u64::from(take > 0);
            }
            self.cov.acceptable += 1;
            self.cov.out_of_order += u64::from(beyond);
        } else {
            self.cov.unacceptable += 1;
        }

        let (ack, right, window) = refmodel::advertise(&tcb, c.ring_window);
        assert_eq!(get(p.ack) as u32, ack.0, "ack {c:?}");
        assert_eq!(get(p.right) as u32, right.0, "right edge {c:?}");
        // The window the model puts in every segment it sends.
        let window = u64::from(window);
        assert_eq!(get(p.window), window, "window {c:?}");
        assert_eq!(bit(p.changed), (ack, right) != (tcb.ack_sent, tcb.rcv_adv), "changed {c:?}");

        self.cov.cases += 1;
        self.cov.zero_window += u64::from(c.wnd == 0);
        self.cov.fin_at_rcv_nxt += u64::from(bit(p.fin_at_rcv_nxt));
        self.cov.window_saturated += u64::from(window == 65535);
    }
}

/// Sequence numbers at the wrap and half-way round.
const BASES: [u32; 7] = [0, 1, 0x7fff_ffff, 0x8000_0000, 0xffff_fff0, 0xffff_ffff, 0x1234_5678];
/// Windows up to just short of 2^31: a TCB's right edge never runs that far
/// ahead of its ACK, and beyond it sequence-space order is undefined.
const WINDOWS: [u32; 7] = [0, 1, 1460, 8192, 65535, 65536, 0x7ffe_0000];
const LENS: [u16; 5] = [0, 1, 7, 1460, 2047];

#[test]
fn seg_check_matches_the_model_across_sequence_space_edges() {
    let mut dut = SegCheck::new();
    // The ring size turns with every case, so each size meets every edge kind.
    let mut windows = RING_WINDOWS.iter().copied().cycle();
    for &rcv_nxt in &BASES {
        for &wnd in &WINDOWS {
            // Segments before, at, inside, at the edge of and beyond the window,
            // and exactly 2^31 away (the serial-number undefined case).
            let deltas = [
                0u32,
                1,
                u32::MAX,
                2047u32.wrapping_neg(),
                wnd.wrapping_sub(1),
                wnd,
                wnd.wrapping_add(1),
                0x7fff_ffff,
                0x8000_0000,
                0x8000_0001,
            ];
            for &d in &deltas {
                for &len in &LENS {
                    for (syn, fin) in [(false, false), (false, true), (true, false), (true, true)] {
                        // R at, behind and (with holdback) ahead of the ACK a
                        // non-holdback TCB would send; ack_sent as last sent or stale.
                        for (rel_d, holdback) in [(0u32, false), (0, true), (100u32.wrapping_neg(), true), (5000, false)] {
                            let rel = rcv_nxt.wrapping_add(rel_d);
                            for ack_sent in [rcv_nxt, rcv_nxt.wrapping_sub(1)] {
                                dut.check(Case {
                                    rcv_nxt,
                                    wnd,
                                    rel,
                                    holdback,
                                    ack_sent,
                                    ring_window: windows.next().unwrap_or(65535),
                                    rcv_wscale: 0,
                                    seq: rcv_nxt.wrapping_add(d),
                                    len,
                                    syn,
                                    fin,
                                });
                            }
                        }
                    }
                }
            }
        }
    }
    eprintln!("{:?}", dut.cov);
    let c = &dut.cov;
    assert!(c.acceptable > 0 && c.unacceptable > 0 && c.out_of_order > 0 && c.took_bytes > 0);
    assert!(c.zero_window > 0 && c.fin_at_rcv_nxt > 0 && c.window_saturated > 0);
}

#[test]
fn seg_check_matches_the_model_on_seeded_random_cases() {
    let seed = holdback_sim::test_seed(0x5e6c_4ec4);
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut dut = SegCheck::new();
    for _ in 0..200_000 {
        let rcv_nxt: u32 = rng.gen();
        let wnd = match rng.gen_range(0..4) {
            0 => 0,
            1 => rng.gen_range(0..=65536),
            2 => rng.gen_range(0..RING_BYTES * 2),
            _ => rng.gen_range(0..0x7ffe_0000),
        };
        // Mostly near the window, where the rules differ; sometimes anywhere.
        let seq = if rng.gen_bool(0.8) {
            rcv_nxt.wrapping_add(rng.gen_range(0..=wnd.saturating_add(4096))).wrapping_sub(2048)
        } else {
            rng.gen()
        };
        // R never runs far from rcv_nxt: the host releases what was received.
        let rel = rcv_nxt.wrapping_add(rng.gen_range(0..=2 * RING_BYTES)).wrapping_sub(RING_BYTES);
        let ack_sent = if rng.gen_bool(0.5) { rcv_nxt } else { rel };
        dut.check(Case {
            rcv_nxt,
            wnd,
            rel,
            holdback: rng.gen(),
            ack_sent,
            ring_window: RING_WINDOWS[rng.gen_range(0..RING_WINDOWS.len())],
            rcv_wscale: 0,
            seq,
            len: rng.gen_range(0..=2047),
            syn: rng.gen_bool(0.1),
            fin: rng.gen_bool(0.2),
        });
    }
    eprintln!("{:?}", dut.cov);
    assert!(dut.cov.acceptable > 1000 && dut.cov.unacceptable > 1000 && dut.cov.took_bytes > 1000);
}

/// Window scaling (RFC 7323 §2.3): rings up to 1 MiB, every shift, ACKs that
/// move by less than one unit of the scale; the block's window, edge and take
/// equal the model's, the window field times 2^shift is the edge the block
/// records, and that edge never lies left of the one advertised before.
#[test]
fn seg_check_matches_the_model_with_window_scaling() {
    let seed = holdback_sim::test_seed(0x3c7_5ca1e);
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut dut = SegCheck::new();
    let mut rounded_up = 0u64;
    for _ in 0..200_000 {
        let ring_log2 = rng.gen_range(12..=20u32);
        let ring = 1u32 << ring_log2;
        let rcv_wscale = if rng.gen_bool(0.7) { holdback_regmap::wscale_for_ring(ring) } else { rng.gen_range(0..=14) };
        let rcv_nxt: u32 = rng.gen();
        // R at or a little behind rcv_nxt (the host releases what it received).
        let rel = rcv_nxt.wrapping_sub(rng.gen_range(0..=ring));
        let holdback = rng.gen();
        let ack = if holdback { rel } else { rcv_nxt };
        // The edge last advertised: ack_sent plus a whole number of units, as
        // the block records it, or anywhere up to what the ring holds.
        let ack_sent = ack.wrapping_sub(rng.gen_range(0..=3000));
        let units_max = ((u64::from(rel.wrapping_add(ring).wrapping_sub(ack_sent)) >> rcv_wscale) as u32).min(0xFFFF);
        let adv = if rng.gen_bool(0.8) {
            ack_sent.wrapping_add(rng.gen_range(0..=units_max) << rcv_wscale)
        } else {
            rel.wrapping_add(rng.gen_range(0..=ring))
        };
        let wnd = adv.wrapping_sub(rcv_nxt);
        if wnd >= 0x8000_0000 {
            continue;
        }
        let seq = rcv_nxt.wrapping_add(rng.gen_range(0..=4096)).wrapping_sub(2048);
        let c = Case {
            rcv_nxt,
            wnd,
            rel,
            holdback,
            ack_sent,
            ring_window: ring,
            rcv_wscale,
            seq,
            len: rng.gen_range(0..=2047),
            syn: false,
            fin: rng.gen_bool(0.1),
        };
        dut.check(c);
        // What the peer computes from the field is the edge recorded, and it
        // is not left of the previous one.
        let (ack, right) = (SeqNum(dut.m.get(dut.p.ack) as u32), SeqNum(dut.m.get(dut.p.right) as u32));
        let window = dut.m.get(dut.p.window) as u32;
        if window < 0xFFFF {
            assert_eq!(ack + (window << rcv_wscale), right, "the edge the peer sees {c:?}");
        }
        assert!(!right.before(SeqNum(adv)), "edge {right:?} left of {adv:#x} {c:?}");
        rounded_up += u64::from(right.diff(SeqNum(rel.wrapping_add(ring.min(0xFFFF << rcv_wscale)))) > 0);
    }
    eprintln!("{:?}, edges rounded up past R + ring: {rounded_up}", dut.cov);
    assert!(dut.cov.took_bytes > 1000 && rounded_up > 0);
}
