//! SYN cookies (RFC 4987 §3.6) in Linux's layout (docs/syn-cookies.md): the
//! ISN of our SYN-ACK encodes the MSS index and a time count, so a listener
//! under a SYN flood can answer without keeping state and rebuild the
//! connection from the ACK. The reference is `sim/src/refmodel/syn_cookie.rs`.
//!
//! `h(k, count)` is SipHash-2-4 keyed by `k` over 16 bytes, the fields
//! big-endian in this order: peer IP (bytes 0-3), our IP (4-7), peer port
//! (8-9), our port (10-11), count as a u32 (12-15). SipHash reads them as two
//! little-endian words, so `m0 = swap32(peer_ip) | swap32(our_ip) << 32` and
//! `m1 = swap16(peer_port) | swap16(our_port) << 16 | count << 56` (count
//! fits in 8 bits here). The key's low 64 bits are SipHash's k0 (key bytes
//! 0-7 little-endian), the high 64 bits k1. Only the low 32 bits of a hash
//! are used.
//!
//! - generate: `cookie = h(key0, 0) + sseq + (now_count << 24) +
//!   ((h(key1, now_count) + mss_index) & 0xFF_FFFF)`;
//! - check: `v = cookie_in - h(key0, 0) - sseq`, `c = v >> 24`, valid iff
//!   `(now_count - c) mod 256 < 2` and `m = (v - h(key1, c)) & 0xFF_FFFF < 4`;
//!   `mss_index_out = m`.
//!
//! After a generate `valid` is 0 and `mss_index_out` the index encoded;
//! after a check `cookie` is 0.
//!
//! One SipRound per clock, the two hashes one after the other (a check needs
//! the first to know the second's count). Fixed latency, the same for both
//! modes: `start` sampled at clock edge E gives `done` (and the outputs,
//! which then hold until the next `done`) in the cycle after edge E + 22,
//! i.e. 23 cycles after the start cycle; `busy` is high in between and a
//! new `start` is accepted in the `done` cycle. The tuple, `sseq`,
//! `now_count`, `mss_index`, `cookie_in` and `check` are taken at `start`;
//! `key0` is read at `start`, `key1` 11 cycles later, so the keys must hold
//! while `busy` (they are configuration registers).
//!
//! `mss_index_for` is combinational ([`MssIndex`], a child block): the index
//! of Linux's table [536, 1300, 1440, 1460] for a SYN's MSS option (0, the
//! option absent, gives 0).
use rust_hdl::prelude::*;

#[derive(Copy, Clone, PartialEq, Debug, LogicState)]
pub enum SynCookieState {
    Idle,
    /// SipRounds of h(key0, 0); `rnd` counts 0..9.
    Hash0,
    /// h(key0, 0) folded into `acc`; the check's count found; key1 loaded.
    Mid,
    /// SipRounds of h(key1, count).
    Hash1,
    /// The result registered; `done`.
    Fin,
}

#[derive(LogicBlock, Default)]
pub struct SynCookie {
    pub clock: Signal<In, Clock>,
    pub start: Signal<In, Bit>,
    /// 0: generate a cookie; 1: check `cookie_in`.
    pub check: Signal<In, Bit>,
    pub peer_ip: Signal<In, Bits<32>>,
    pub our_ip: Signal<In, Bits<32>>,
    pub peer_port: Signal<In, Bits<16>>,
    pub our_port: Signal<In, Bits<16>>,
    /// The peer's ISN (check: the ACK's seq - 1).
    pub sseq: Signal<In, Bits<32>>,
    pub now_count: Signal<In, Bits<8>>,
    pub mss_index: Signal<In, Bits<2>>,
    /// Check: the ACK's ack - 1.
    pub cookie_in: Signal<In, Bits<32>>,
    pub key0: Signal<In, Bits<128>>,
    pub key1: Signal<In, Bits<128>>,
    pub busy: Signal<Out, Bit>,
    pub done: Signal<Out, Bit>,
    pub cookie: Signal<Out, Bits<32>>,
    pub valid: Signal<Out, Bit>,
    pub mss_index_out: Signal<Out, Bits<2>>,
    /// A SYN's MSS option value and its table index.
    pub mss: Signal<In, Bits<16>>,
    pub mss_index_for: Signal<Out, Bits<2>>,

    msstab: MssIndex,
    state: DFF<SynCookieState>,
    rnd: DFF<Bits<8>>,
    v0: DFF<Bits<64>>,
    v1: DFF<Bits<64>>,
    v2: DFF<Bits<64>>,
    v3: DFF<Bits<64>>,
    /// The message words' tuple part, taken at start.
    m0: DFF<Bits<64>>,
    ports: DFF<Bits<32>>,
    /// now_count, then (check) the cookie's count.
    count: DFF<Bits<8>>,
    /// generate: sseq + (now << 24), then + h0; check: cookie - sseq, then - h0.
    acc: DFF<Bits<32>>,
    mss_in: DFF<Bits<2>>,
    mode: DFF<Bit>,
    /// Check: the cookie's count is this period's or the previous one's.
    fresh: DFF<Bit>,
    cookie_r: DFF<Bits<32>>,
    valid_r: DFF<Bit>,
    mss_out_r: DFF<Bits<2>>,
    done_r: DFF<Bit>,

    peer_sw: Signal<Local, Bits<32>>,
    our_sw: Signal<Local, Bits<32>>,
    peer_port32: Signal<Local, Bits<32>>,
    our_port32: Signal<Local, Bits<32>>,
    ports_sw: Signal<Local, Bits<32>>,
    msg_count: Signal<Local, Bits<8>>,
    m1: Signal<Local, Bits<64>>,
    /// This cycle loads SipHash's initial state from `key` / runs a SipRound.
    load_key: Signal<Local, Bit>,
    run_round: Signal<Local, Bit>,
    /// This round's block word, xored into v3 before it or v0 after it.
    pre_m: Signal<Local, Bits<64>>,
    pre_ff: Signal<Local, Bits<64>>,
    post_m: Signal<Local, Bits<64>>,
    a2: Signal<Local, Bits<64>>,
    a3: Signal<Local, Bits<64>>,
    // One SipRound (the SipHash paper, §2), step by step.
    s0: Signal<Local, Bits<64>>,
    t1: Signal<Local, Bits<64>>,
    s0r: Signal<Local, Bits<64>>,
    s2: Signal<Local, Bits<64>>,
    t3: Signal<Local, Bits<64>>,
    u0: Signal<Local, Bits<64>>,
    u3: Signal<Local, Bits<64>>,
    u2: Signal<Local, Bits<64>>,
    u1: Signal<Local, Bits<64>>,
    /// The key a hash starts from, and its halves.
    key: Signal<Local, Bits<128>>,
    k0: Signal<Local, Bits<64>>,
    k1: Signal<Local, Bits<64>>,
    h32: Signal<Local, Bits<32>>,
    now_sh: Signal<Local, Bits<32>>,
    vv: Signal<Local, Bits<32>>,
    vv_count: Signal<Local, Bits<8>>,
    age: Signal<Local, Bits<8>>,
    low24: Signal<Local, Bits<32>>,
    mrem: Signal<Local, Bits<32>>,
}

impl Logic for SynCookie {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, state, rnd, v0, v1, v2, v3, m0, ports, count, acc, mss_in, mode, fresh, cookie_r, valid_r, mss_out_r, done_r);
        // The message words (module doc).
        self.peer_sw.next = ((self.peer_ip.val() << 24) & 0xFF00_0000_u32.to_bits())
            | ((self.peer_ip.val() << 8) & 0x00FF_0000_u32.to_bits())
            | ((self.peer_ip.val() >> 8) & 0x0000_FF00_u32.to_bits())
            | (self.peer_ip.val() >> 24);
        self.our_sw.next = ((self.our_ip.val() << 24) & 0xFF00_0000_u32.to_bits())
            | ((self.our_ip.val() << 8) & 0x00FF_0000_u32.to_bits())
            | ((self.our_ip.val() >> 8) & 0x0000_FF00_u32.to_bits())
            | (self.our_ip.val() >> 24);
        self.peer_port32.next = bit_cast::<32, 16>(self.peer_port.val());
        self.our_port32.next = bit_cast::<32, 16>(self.our_port.val());
        self.ports_sw.next = ((self.our_port32.val() << 24) & 0xFF00_0000_u32.to_bits())
            | ((self.our_port32.val() << 8) & 0x00FF_0000_u32.to_bits())
            | ((self.peer_port32.val() << 8) & 0x0000_FF00_u32.to_bits())
            | (self.peer_port32.val() >> 8);
        // h(key0) is over count 0; h(key1) over `count`.
        self.msg_count.next = 0_u8.to_bits();
        if self.state.q.val() == SynCookieState::Hash1 {
            self.msg_count.next = self.count.q.val();
        }
        self.m1.next = (bit_cast::<64, 8>(self.msg_count.val()) << 56) | bit_cast::<64, 32>(self.ports.q.val());
        // Rounds 0-5 compress m0, m1 and the length block (16 << 56), two
        // each: v3 ^= m before the first, v0 ^= m after the second. Round 6
        // starts finalization with v2 ^= 0xff.
        self.pre_m.next = 0_u64.to_bits();
        self.post_m.next = 0_u64.to_bits();
        self.pre_ff.next = 0_u64.to_bits();
        match self.rnd.q.val().index() {
            0 => self.pre_m.next = self.m0.q.val(),
            1 => self.post_m.next = self.m0.q.val(),
            2 => self.pre_m.next = self.m1.val(),
            3 => self.post_m.next = self.m1.val(),
            4 => self.pre_m.next = 0x1000_0000_0000_0000_u64.to_bits(),
            5 => self.post_m.next = 0x1000_0000_0000_0000_u64.to_bits(),
            6 => self.pre_ff.next = 0xff_u64.to_bits(),
            _ => {}
        }
        self.a2.next = self.v2.q.val() ^ self.pre_ff.val();
        self.a3.next = self.v3.q.val() ^ self.pre_m.val();
        self.s0.next = self.v0.q.val() + self.v1.q.val();
        self.t1.next = ((self.v1.q.val() << 13) | (self.v1.q.val() >> 51)) ^ self.s0.val();
        self.s0r.next = (self.s0.val() << 32) | (self.s0.val() >> 32);
        self.s2.next = self.a2.val() + self.a3.val();
        self.t3.next = ((self.a3.val() << 16) | (self.a3.val() >> 48)) ^ self.s2.val();
        self.u0.next = self.s0r.val() + self.t3.val();
        self.u3.next = ((self.t3.val() << 21) | (self.t3.val() >> 43)) ^ self.u0.val();
        self.u2.next = self.s2.val() + self.t1.val();
        self.u1.next = ((self.t1.val() << 17) | (self.t1.val() >> 47)) ^ self.u2.val();

        // The hash: v0 ^ v1 ^ v2 ^ v3, its low 32 bits.
        self.h32.next = self.v0.q.val().get_bits::<32>(0)
            ^ self.v1.q.val().get_bits::<32>(0)
            ^ self.v2.q.val().get_bits::<32>(0)
            ^ self.v3.q.val().get_bits::<32>(0);
        self.load_key.next = false;
        self.run_round.next = false;
        self.key.next = self.key0.val();
        if self.state.q.val() == SynCookieState::Mid {
            self.key.next = self.key1.val();
        }
        self.k0.next = self.key.val().get_bits::<64>(0);
        self.k1.next = self.key.val().get_bits::<64>(64);
        self.now_sh.next = bit_cast::<32, 8>(self.now_count.val()) << 24;
        self.vv.next = self.acc.q.val() - self.h32.val();
        self.vv_count.next = self.vv.val().get_bits::<8>(24);
        self.age.next = self.count.q.val() - self.vv_count.val();
        self.low24.next = (self.h32.val() + bit_cast::<32, 2>(self.mss_in.q.val())) & 0x00FF_FFFF_u32.to_bits();
        self.mrem.next = (self.acc.q.val() - self.h32.val()) & 0x00FF_FFFF_u32.to_bits();

        self.done_r.d.next = false;
        match self.state.q.val() {
            SynCookieState::Idle => {
                if self.start.val() {
                    self.state.d.next = SynCookieState::Hash0;
                    self.rnd.d.next = 0_u8.to_bits();
                    self.m0.d.next = (bit_cast::<64, 32>(self.our_sw.val()) << 32) | bit_cast::<64, 32>(self.peer_sw.val());
                    self.ports.d.next = self.ports_sw.val();
                    self.mode.d.next = self.check.val();
                    self.mss_in.d.next = self.mss_index.val();
                    self.count.d.next = self.now_count.val();
                    if self.check.val() {
                        self.acc.d.next = self.cookie_in.val() - self.sseq.val();
                    } else {
                        self.acc.d.next = self.sseq.val() + self.now_sh.val();
                    }
                    self.load_key.next = true;
                }
            }
            SynCookieState::Hash0 => {
                self.run_round.next = true;
                if self.rnd.q.val() == 9_u8.to_bits() {
                    self.state.d.next = SynCookieState::Mid;
                }
            }
            SynCookieState::Mid => {
                self.state.d.next = SynCookieState::Hash1;
                self.rnd.d.next = 0_u8.to_bits();
                self.load_key.next = true;
                if self.mode.q.val() {
                    self.acc.d.next = self.vv.val();
                    self.count.d.next = self.vv_count.val();
                    self.fresh.d.next = self.age.val() < 2_u8.to_bits();
                } else {
                    self.acc.d.next = self.acc.q.val() + self.h32.val();
                }
            }
            SynCookieState::Hash1 => {
                self.run_round.next = true;
                if self.rnd.q.val() == 9_u8.to_bits() {
                    self.state.d.next = SynCookieState::Fin;
                }
            }
            SynCookieState::Fin => {
                self.state.d.next = SynCookieState::Idle;
                self.done_r.d.next = true;
                if self.mode.q.val() {
                    self.cookie_r.d.next = 0_u32.to_bits();
                    self.valid_r.d.next = self.fresh.q.val() & (self.mrem.val() < 4_u32.to_bits());
                    self.mss_out_r.d.next = self.mrem.val().get_bits::<2>(0);
                } else {
                    self.cookie_r.d.next = self.acc.q.val() + self.low24.val();
                    self.valid_r.d.next = false;
                    self.mss_out_r.d.next = self.mss_in.q.val();
                }
            }
        }
        // SipHash's initial state (the paper, §2: k xor "somepseudorandomlygeneratedbytes").
        if self.load_key.val() {
            self.v0.d.next = self.k0.val() ^ 0x736f_6d65_7073_6575_u64.to_bits();
            self.v1.d.next = self.k1.val() ^ 0x646f_7261_6e64_6f6d_u64.to_bits();
            self.v2.d.next = self.k0.val() ^ 0x6c79_6765_6e65_7261_u64.to_bits();
            self.v3.d.next = self.k1.val() ^ 0x7465_6462_7974_6573_u64.to_bits();
        }
        if self.run_round.val() {
            self.v0.d.next = self.u0.val() ^ self.post_m.val();
            self.v1.d.next = self.u1.val();
            self.v2.d.next = (self.u2.val() << 32) | (self.u2.val() >> 32);
            self.v3.d.next = self.u3.val();
            self.rnd.d.next = self.rnd.q.val() + 1_u8.to_bits();
        }

        self.busy.next = self.state.q.val() != SynCookieState::Idle;
        self.done.next = self.done_r.q.val();
        self.cookie.next = self.cookie_r.q.val();
        self.valid.next = self.valid_r.q.val();
        self.mss_index_out.next = self.mss_out_r.q.val();

        self.msstab.mss.next = self.mss.val();
        self.mss_index_for.next = self.msstab.index.val();
    }
}

/// Linux's msstab: the MSS a cookie's index stands for.
pub const MSS_TABLE: [u16; 4] = [536, 1300, 1440, 1460];

/// Linux's msstab [536, 1300, 1440, 1460]: the index of the largest entry
/// not above a SYN's MSS option (0 below 1300, the option absent included).
#[derive(LogicBlock)]
pub struct MssIndex {
    pub mss: Signal<In, Bits<16>>,
    pub index: Signal<Out, Bits<2>>,
    idx: [Constant<Bits<2>>; 4],
}

impl Default for MssIndex {
    fn default() -> Self {
        Self {
            mss: Default::default(),
            index: Default::default(),
            idx: core::array::from_fn(|i| Constant::new(Bits::<2>::from(i as u64))),
        }
    }
}

impl Logic for MssIndex {
    #[hdl_gen]
    fn update(&mut self) {
        self.index.next = self.idx[0].val();
        if self.mss.val() >= 1300_u16.to_bits() {
            self.index.next = self.idx[1].val();
        }
        if self.mss.val() >= 1440_u16.to_bits() {
            self.index.next = self.idx[2].val();
        }
        if self.mss.val() >= 1460_u16.to_bits() {
            self.index.next = self.idx[3].val();
        }
    }
}

pub fn verilog() -> Result<String, crate::generate::GenError> {
    crate::generate::verilog_named(&mut SynCookie::default(), "syn_cookie")
}

#[cfg(test)]
mod tests {
    #[test]
    fn syn_cookie_lints_clean_and_synthesizes() {
        let v = super::verilog().expect("generates");
        crate::check::lint("syn_cookie", &v).unwrap_or_else(|e| panic!("lint:\n{e}"));
        let area = crate::check::synth("syn_cookie", &v).unwrap_or_else(|e| panic!("{e}"));
        eprintln!("syn_cookie area: {area:?}");
        assert!(area.luts > 0);
        assert_eq!(area.dsp, 0, "adds, xors and rotates only");
    }
}
