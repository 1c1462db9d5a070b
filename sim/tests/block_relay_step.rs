//! The Verilated relay splice blocks (`relay_step`, `relay_apply`,
//! hdl/src/engine/relay_step.rs) against the reference model's own functions
//! (`refmodel::relay::relay_step`, `apply_follow`): every state code 0..=15,
//! `peer_link` at 0, a real id, 0xFFFE and NO_LINK, reset on and off, every
//! 32-bit field at the 2^32 wrap and half-way round, R and the send tail
//! exactly 2^31 from the requested ones, then seeded random cases, and the two
//! blocks chained (one step's outputs applied to a random peer); every apply
//! with hold-synack (CTRL bit4) on and off.
//!
//! State codes 11..=15 are not RFC 9293 states and the model cannot hold them
//! (`TcpState` has eleven variants). The blocks treat them as neither
//! synchronized nor sending (the module doc of relay_step.rs): a step asks
//! nothing unless `reset` (then it aborts the peer, as for every valid code)
//! and an apply behaves as in the non-sending CLOSED. That is what is
//! checked for them here.
use holdback_sim::model::{Model, PortId};
use holdback_sim::refmodel::relay::{apply_follow, relay_step, Applied, PeerUpdate, NO_LINK};
use holdback_sim::refmodel::Tcb;
use holdback_sim::wire::SeqNum;
use holdback_regmap::TcpState;
use rand::{rngs::SmallRng, Rng, SeedableRng};

/// Values at the wrap and half-way round, and one ordinary.
const EDGES: [u32; 8] = [0, 1, 0x7fff_ffff, 0x8000_0000, 0x8000_0001, 0xffff_fffe, 0xffff_ffff, 0x1234_5678];
/// Distances from a value to the one compared with it: equal, one either
/// side, and the serial-number edges 2^31 - 1, 2^31 (undefined order:
/// `before` holds both ways) and 2^31 + 1.
const DELTAS: [u32; 8] = [0, 1, u32::MAX, 1000, 0x7fff_ffff, 0x8000_0000, 0x8000_0001, 0x0001_0000];
const LINKS: [u16; 4] = [0, 7, 0xFFFE, NO_LINK];
const RANDOM_CASES: usize = 200_000;

/// One step input: `x`'s fields as the engine reads them.
#[derive(Clone, Copy, Debug)]
struct StepIn {
    state: u8,
    peer_link: u16,
    irs: u32,
    rcv_nxt: u32,
    snd_una: u32,
    seq_offset: u32,
    reset: bool,
}

/// One apply input: the peer `y`'s fields and a Follow.
#[derive(Clone, Copy, Debug)]
struct ApplyIn {
    state: u8,
    iss: u32,
    rel: u32,
    rcv_nxt: u32,
    tx_end: u32,
    f_tx_end: u32,
    f_rel: u32,
    f_irs: u32,
    f_close: bool,
    hold_synack: bool,
}

/// What the blocks answered, in the model's terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ApplyOut {
    seq_offset: u32,
    rel: u32,
    rcv_nxt: u32,
    tx_end: u32,
    applied: Applied,
}

/// Each rule seen at least once, so a run shows what it compared.
#[derive(Default, Debug)]
struct Coverage {
    steps: u64,
    follow: u64,
    abort: u64,
    nothing: u64,
    follow_with_fin: u64,
    invalid_codes: u64,
    tx_end_wrapped: u64,
    applies: u64,
    release_moved: u64,
    release_held: u64,
    tail_moved: u64,
    tail_held_sending: u64,
    rcv_jumped: u64,
    rcv_held_receiving: u64,
    /// SYN-RECEIVED with hold-synack: a later R requested and not taken.
    held_for_host: u64,
    close: u64,
    chained: u64,
}

struct Dut {
    step: Model,
    apply: Model,
    s: [PortId; 14],
    a: [PortId; 18],
    cov: Coverage,
}

fn ports<const N: usize>(m: &Model, names: [&str; N]) -> [PortId; N] {
    names.map(|n| m.port(n).unwrap_or_else(|e| panic!("{e}")))
}

fn state_of(code: u8) -> Option<TcpState> {
    TcpState::from_code(u32::from(code))
}

impl Dut {
    fn new() -> Dut {
        let step = Model::new("relay_step").expect("relay_step is built");
        let apply = Model::new("relay_apply").expect("relay_apply is built");
        let s = ports(
            &step,
            [
                "state", "peer_link", "irs", "rcv_nxt", "snd_una", "seq_offset", "reset", // in
                "follow", "abort_peer", "peer", "tx_end", "peer_rel", "irs_out", "close", // out
            ],
        );
        let a = ports(
            &apply,
            [
                "state", "iss", "rel", "rcv_nxt", "tx_end", "follow_tx_end", "follow_rel", "follow_irs", "follow_close", "hold_synack", // in
                "seq_offset", "rel_out", "rcv_nxt_out", "tx_end_out", "release_moved", "rcv_jumped", "tail_moved", "close", // out
            ],
        );
        Dut { step, apply, s, a, cov: Coverage::default() }
    }

    /// Runs the step block; its answer in the model's terms.
    fn run_step(&mut self, c: StepIn) -> Option<PeerUpdate> {
        let [state, peer_link, irs, rcv_nxt, snd_una, seq_offset, reset, follow, abort, peer, tx_end, peer_rel, irs_out, close] =
            self.s;
        let m = &mut self.step;
        m.set(state, u64::from(c.state));
        m.set(peer_link, u64::from(c.peer_link));
        m.set(irs, u64::from(c.irs));
        m.set(rcv_nxt, u64::from(c.rcv_nxt));
        m.set(snd_una, u64::from(c.snd_una));
        m.set(seq_offset, u64::from(c.seq_offset));
        m.set(reset, u64::from(c.reset));
        m.cycle();
        let (f, a, cl) = (m.get(follow) == 1, m.get(abort) == 1, m.get(close) == 1);
        assert!(!(f && a), "follow and abort both set: {c:?}");
        assert!(f || !cl, "close without follow: {c:?}");
        let peer = m.get(peer) as u16;
        if f {
            Some(PeerUpdate::Follow {
                peer,
                tx_end: m.get(tx_end) as u32,
                release: SeqNum(m.get(peer_rel) as u32),
                irs: SeqNum(m.get(irs_out) as u32),
                close: cl,
            })
        } else if a {
            Some(PeerUpdate::Abort { peer })
        } else {
            None
        }
    }

    /// Checks one step against the model (for codes 11..=15, against the
    /// documented rule).
    fn check_step(&mut self, c: StepIn) -> Option<PeerUpdate> {
        let got = self.run_step(c);
        let want = match state_of(c.state) {
            Some(state) => {
                let x = Tcb {
                    state,
                    peer_link: c.peer_link,
                    irs: SeqNum(c.irs),
                    rcv_nxt: SeqNum(c.rcv_nxt),
                    snd_una: SeqNum(c.snd_una),
                    seq_offset: c.seq_offset,
                    ..Tcb::default()
                };
                relay_step(&x, c.reset)
            }
            None => {
                self.cov.invalid_codes += 1;
                (c.peer_link != NO_LINK && c.reset).then_some(PeerUpdate::Abort { peer: c.peer_link })
            }
        };
        assert_eq!(got, want, "relay_step {c:?}");
        self.cov.steps += 1;
        match want {
            Some(PeerUpdate::Follow { tx_end, close, .. }) => {
                self.cov.follow += 1;
                self.cov.follow_with_fin += u64::from(close);
                // The tail's offset came out below the wrap (rcv_nxt - irs - 1 - fin wrapped).
                self.cov.tx_end_wrapped += u64::from(tx_end > 0x8000_0000);
            }
            Some(PeerUpdate::Abort { .. }) => self.cov.abort += 1,
            None => self.cov.nothing += 1,
        }
        want
    }

    fn run_apply(&mut self, c: ApplyIn) -> ApplyOut {
        let [state, iss, rel, rcv_nxt, tx_end, f_tx_end, f_rel, f_irs, f_close, hold_synack, seq_offset, rel_out, rcv_nxt_out, tx_end_out, release_moved, rcv_jumped, tail_moved, close] =
            self.a;
        let m = &mut self.apply;
        m.set(state, u64::from(c.state));
        m.set(iss, u64::from(c.iss));
        m.set(rel, u64::from(c.rel));
        m.set(rcv_nxt, u64::from(c.rcv_nxt));
        m.set(tx_end, u64::from(c.tx_end));
        m.set(f_tx_end, u64::from(c.f_tx_end));
        m.set(f_rel, u64::from(c.f_rel));
        m.set(f_irs, u64::from(c.f_irs));
        m.set(f_close, u64::from(c.f_close));
        m.set(hold_synack, u64::from(c.hold_synack));
        m.cycle();
        ApplyOut {
            seq_offset: m.get(seq_offset) as u32,
            rel: m.get(rel_out) as u32,
            rcv_nxt: m.get(rcv_nxt_out) as u32,
            tx_end: m.get(tx_end_out) as u32,
            applied: Applied {
                release_moved: m.get(release_moved) == 1,
                rcv_jumped: m.get(rcv_jumped) == 1,
                tail_moved: m.get(tail_moved) == 1,
                close: m.get(close) == 1,
            },
        }
    }

    /// Checks one apply against the model; a code outside 0..=10 is
    /// expected to act as CLOSED (not sending).
    fn check_apply(&mut self, c: ApplyIn) {
        let got = self.run_apply(c);
        let mut y = Tcb {
            state: state_of(c.state).unwrap_or(TcpState::Closed),
            iss: SeqNum(c.iss),
            rel: SeqNum(c.rel),
            rcv_nxt: SeqNum(c.rcv_nxt),
            tx_end: c.tx_end,
            seq_offset: c.iss ^ 0x5a5a_5a5a, // overwritten: must not matter
            ..Tcb::default()
        };
        let applied = apply_follow(&mut y, c.f_tx_end, SeqNum(c.f_rel), SeqNum(c.f_irs), c.f_close, c.hold_synack);
        let want = ApplyOut { seq_offset: y.seq_offset, rel: y.rel.0, rcv_nxt: y.rcv_nxt.0, tx_end: y.tx_end, applied };
        assert_eq!(got, want, "apply_follow {c:?}");
        let sending = matches!(state_of(c.state), Some(TcpState::Established | TcpState::CloseWait));
        self.cov.applies += 1;
        self.cov.release_moved += u64::from(applied.release_moved);
        self.cov.release_held += u64::from(!applied.release_moved && c.rel != c.f_rel);
        self.cov.tail_moved += u64::from(applied.tail_moved);
        self.cov.tail_held_sending += u64::from(sending && !applied.tail_moved && c.tx_end != c.f_tx_end);
        let receiving = matches!(state_of(c.state), Some(TcpState::Established | TcpState::FinWait1 | TcpState::FinWait2));
        self.cov.rcv_jumped += u64::from(applied.rcv_jumped);
        self.cov.rcv_held_receiving += u64::from(receiving && !applied.rcv_jumped && c.rcv_nxt != y.rel.0);
        self.cov.close += u64::from(applied.close);
        let syn_rcvd = state_of(c.state) == Some(TcpState::SynReceived);
        self.cov.held_for_host +=
            u64::from(c.hold_synack && syn_rcvd && SeqNum(c.rel).before(SeqNum(c.f_rel)) && !applied.release_moved);
    }
}

#[test]
fn relay_step_matches_the_model_on_every_state_link_and_wrap() {
    let mut dut = Dut::new();
    for state in 0..=15u8 {
        for &peer_link in &LINKS {
            for reset in [false, true] {
                for &irs in &EDGES {
                    // rcv_nxt at irs (nothing, not even a SYN: the offset wraps to
                    // 2^32 - 1), irs + 1, irs + 2 (a FIN alone) and far ones.
                    for d in [0u32, 1, 2, 1461, 0x8000_0000, 0x8000_0001, u32::MAX] {
                        for &snd_una in &[0u32, 0x8000_0000, 0xffff_ffff] {
                            for &seq_offset in &[0u32, 1, 0x8000_0000, 0xffff_ffff] {
                                dut.check_step(StepIn {
                                    state,
                                    peer_link,
                                    irs,
                                    rcv_nxt: irs.wrapping_add(d),
                                    snd_una,
                                    seq_offset,
                                    reset,
                                });
                            }
                        }
                    }
                }
            }
        }
    }
    // snd_una + seq_offset across the wrap for every edge pair, in a FIN state
    // and a plain one.
    for state in [TcpState::Established as u8, TcpState::LastAck as u8] {
        for &snd_una in &EDGES {
            for &seq_offset in &EDGES {
                dut.check_step(StepIn { state, peer_link: 3, irs: 0xffff_fff0, rcv_nxt: 5, snd_una, seq_offset, reset: false });
            }
        }
    }
    eprintln!("{:?}", dut.cov);
    let c = &dut.cov;
    assert!(c.follow > 0 && c.abort > 0 && c.nothing > 0 && c.follow_with_fin > 0 && c.invalid_codes > 0, "{c:?}");
    assert!(c.tx_end_wrapped > 0, "{c:?}");
}

#[test]
fn relay_apply_matches_the_model_on_every_state_and_serial_edge() {
    let mut dut = Dut::new();
    for state in 0..=15u8 {
        for &rel in &EDGES {
            for &dr in &DELTAS {
                for &tx_end in &[0u32, 0x7fff_ffff, 0xffff_ffff] {
                    for &dt in &DELTAS {
                        for (iss, f_irs) in [(0u32, 0xffff_ffffu32), (0xffff_fff0, 0x10), (0x8000_0000, 0x8000_0000)] {
                            for (f_close, hold_synack) in [(false, false), (true, false), (false, true), (true, true)] {
                                dut.check_apply(ApplyIn {
                                    state,
                                    iss,
                                    rel,
                                    // rcv_nxt at every offset from R that the
                                    // tail takes from its own: before, at and
                                    // past the new R across the wrap.
                                    rcv_nxt: rel.wrapping_add(dt),
                                    tx_end,
                                    f_tx_end: tx_end.wrapping_add(dt),
                                    f_rel: rel.wrapping_add(dr),
                                    f_irs,
                                    f_close,
                                    hold_synack,
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
    assert!(c.release_moved > 0 && c.release_held > 0 && c.tail_moved > 0 && c.tail_held_sending > 0 && c.close > 0, "{c:?}");
    assert!(c.rcv_jumped > 0 && c.rcv_held_receiving > 0 && c.held_for_host > 0, "{c:?}");
}

/// A random 32-bit value, half the time near an edge.
fn value(rng: &mut SmallRng) -> u32 {
    if rng.gen_bool(0.5) {
        EDGES[rng.gen_range(0..EDGES.len())].wrapping_add(rng.gen_range(0..4u32).wrapping_sub(2))
    } else {
        rng.gen()
    }
}

/// `b` near `a` (either side, or 2^31 off) or anywhere.
fn near(rng: &mut SmallRng, a: u32) -> u32 {
    match rng.gen_range(0..4) {
        0 => a.wrapping_add(rng.gen_range(0..3000u32)),
        1 => a.wrapping_sub(rng.gen_range(0..3000u32)),
        2 => a.wrapping_add(DELTAS[rng.gen_range(0..DELTAS.len())]),
        _ => rng.gen(),
    }
}

#[test]
fn relay_blocks_match_the_model_on_random_cases_and_chained() {
    let mut dut = Dut::new();
    let mut rng = SmallRng::seed_from_u64(0x5e1a_7e57);
    for _ in 0..RANDOM_CASES {
        let irs = value(&mut rng);
        let step = StepIn {
            state: rng.gen_range(0..=15),
            peer_link: if rng.gen_bool(0.2) { NO_LINK } else { rng.gen() },
            irs,
            rcv_nxt: near(&mut rng, irs),
            snd_una: value(&mut rng),
            seq_offset: value(&mut rng),
            reset: rng.gen_bool(0.2),
        };
        let update = dut.check_step(step);

        let rel = value(&mut rng);
        let tx_end = value(&mut rng);
        let mut apply = ApplyIn {
            state: rng.gen_range(0..=15),
            iss: value(&mut rng),
            rel,
            rcv_nxt: near(&mut rng, rel),
            tx_end,
            f_tx_end: near(&mut rng, tx_end),
            f_rel: near(&mut rng, rel),
            f_irs: value(&mut rng),
            f_close: rng.gen(),
            hold_synack: rng.gen(),
        };
        dut.check_apply(apply);

        // Chained: the step block's own Follow fed into the apply block, as the
        // engine will wire them.
        if let Some(PeerUpdate::Follow { tx_end, release, irs, close, .. }) = update {
            apply.f_tx_end = tx_end;
            apply.f_rel = release.0;
            apply.f_irs = irs.0;
            apply.f_close = close;
            dut.check_apply(apply);
            dut.cov.chained += 1;
        }
    }
    eprintln!("{:?}", dut.cov);
    let c = &dut.cov;
    assert!(c.follow > 1000 && c.abort > 1000 && c.chained > 1000, "{c:?}");
    assert!(c.release_moved > 1000 && c.tail_moved > 1000 && c.close > 1000 && c.rcv_jumped > 1000, "{c:?}");
}

/// The model's own pair walk, through the blocks: the client receives bytes
/// and a FIN across the wrap, the server's tail and close follow, the server
/// ACKs, the client's R follows; each block output equals the model's.
#[test]
fn a_spliced_pair_through_both_blocks_matches_the_model() {
    let mut dut = Dut::new();
    let established = TcpState::Established as u8;
    let (c_irs, c_iss, s_irs, s_iss) = (0xffff_ff00u32, 0x1000u32, 0x8000_0000u32, 0xffff_fff0u32);
    let c_off = s_irs.wrapping_sub(c_iss);
    let s_off = c_irs.wrapping_sub(s_iss);
    // The client received 1000 bytes (rcv_nxt crosses 2^32), then its FIN.
    for (state, rcv_nxt, want_tail, want_close) in [
        (established, c_irs.wrapping_add(1 + 1000), 1000u32, false),
        (TcpState::CloseWait as u8, c_irs.wrapping_add(1 + 1000 + 1), 1000, true),
    ] {
        let step =
            StepIn { state, peer_link: 7, irs: c_irs, rcv_nxt, snd_una: c_iss.wrapping_add(1), seq_offset: c_off, reset: false };
        let Some(PeerUpdate::Follow { tx_end, release, irs, close, .. }) = dut.check_step(step) else {
            panic!("a synchronized linked client follows")
        };
        assert_eq!((tx_end, close), (want_tail, want_close));
        // The server side, still ESTABLISHED with an older tail.
        let out = dut.run_apply(ApplyIn {
            state: established,
            iss: s_iss,
            rel: s_irs.wrapping_add(1),
            rcv_nxt: s_irs.wrapping_add(1),
            tx_end: 400,
            f_tx_end: tx_end,
            f_rel: release.0,
            f_irs: irs.0,
            f_close: close,
            hold_synack: false,
        });
        assert_eq!(out.seq_offset, s_off);
        assert_eq!(out.tx_end, want_tail);
        assert_eq!(out.applied, Applied { release_moved: false, rcv_jumped: false, tail_moved: true, close: want_close });
    }
    // The server ACKed 600 bytes: the client's R moves to byte 600.
    let step = StepIn {
        state: established,
        peer_link: 3,
        irs: s_irs,
        rcv_nxt: s_irs.wrapping_add(1),
        snd_una: s_iss.wrapping_add(1 + 600),
        seq_offset: s_off,
        reset: false,
    };
    let Some(PeerUpdate::Follow { release, irs, .. }) = dut.check_step(step) else { panic!("the server follows") };
    let out = dut.run_apply(ApplyIn {
        state: TcpState::CloseWait as u8,
        iss: c_iss,
        rel: c_irs.wrapping_add(1),
        rcv_nxt: c_irs.wrapping_add(1 + 600 + 1),
        tx_end: 0,
        f_tx_end: 0,
        f_rel: release.0,
        f_irs: irs.0,
        f_close: false,
        hold_synack: true,
    });
    assert_eq!(out.rel, c_irs.wrapping_add(1 + 600), "hold-synack holds only SYN-RECEIVED");
    assert_eq!(out.seq_offset, c_off);
    assert!(out.applied.release_moved);
}
