//! The TCB a passive open creates (RFC 9293 §3.10.7.2, a SYN in LISTEN):
//! SYN-RECEIVED, the peer's addressing and sequence numbers from the SYN, our
//! ISS, the whole host ring offered (as a window, at most 65535), the SYN-ACK's retransmission timer armed.
//!
//! Window scaling (RFC 7323 §2): a SYN with a Window Scale option gives the
//! peer's shift (the parser caps it at 14) and ours, the smallest that fits
//! the ring in the 16-bit window field; without the option both are 0. The
//! SYN-ACK's own window is never scaled (§2.2), so the edge it records is
//! irs + 1 + min(ring, 65535) either way.
//!
//! Timestamps (RFC 7323 §3.2): a SYN with the option, TIMESTAMPS on, gives
//! TS_OK and TS.Recent = its TSval, and TS_OFFSET = the ISS with its 16-bit
//! halves swapped (§5.4: every TSval the connection sends is the timestamp
//! clock plus this offset, as unpredictable as the ISS and carried to the
//! standby with the TCB); otherwise all three are 0.
//! Combinational; the engine loads `tcb` into its working copy in one step.
//!
//! With hold-synack (CTRL bit4) R and ack_sent start at irs: nothing, not
//! even the SYN, is ACKed before the host has it, so the engine holds the
//! SYN-ACK (which ACKs irs+1) until a release moves R past irs.
use super::st;
use super::tcb_fields::TcbFields;
use holdback_regmap::TcpState;
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct PassiveOpen {
    // The SYN, from the parser's descriptor.
    pub src_mac: Signal<In, Bits<48>>,
    pub src_ip: Signal<In, Bits<32>>,
    pub src_port: Signal<In, Bits<16>>,
    pub dst_port: Signal<In, Bits<16>>,
    pub seq: Signal<In, Bits<32>>,
    pub window: Signal<In, Bits<16>>,
    /// MSS option value, 0 when absent.
    pub mss: Signal<In, Bits<16>>,
    /// Our initial send sequence number.
    pub iss: Signal<In, Bits<32>>,
    pub now_us: Signal<In, Bits<32>>,
    pub rto_us: Signal<In, Bits<32>>,
    /// The new connection's holdback bit: its listening port's own setting
    /// (LISTEN bits 17-18), else CTRL.holdback. The engine's ACK decision
    /// reads it from the TCB, so it holds per connection for its life.
    pub holdback: Signal<In, Bit>,
    /// CTRL bit4: R and ack_sent start at irs.
    pub hold_synack: Signal<In, Bit>,
    /// The slot's own change generation: a reused slot keeps counting it.
    pub gen: Signal<In, Bits<32>>,
    /// The host's receive ring in bytes (a power of two).
    pub ring_window: Signal<In, Bits<32>>,
    /// Window scaling: the SYN carried a Window Scale option, with this shift (at most 14).
    pub ws_ok: Signal<In, Bit>,
    pub ws: Signal<In, Bits<4>>,
    /// SACK (RFC 2018): the SYN carried SACK-permitted and the card sends SACK.
    pub sack_ok: Signal<In, Bit>,
    /// Timestamps (RFC 7323 §3.2): the SYN carried the option and TIMESTAMPS is on, with this TSval.
    pub ts_ok: Signal<In, Bit>,
    pub tsval: Signal<In, Bits<32>>,

    pub tcb: Signal<Out, TcbFields>,

    /// Window scaling: our shift for this ring, and the SYN-ACK's window.
    our_ws: Signal<Local, Bits<4>>,
    syn_window: Signal<Local, Bits<32>>,
    /// The ISS's halves, swapped into TS_OFFSET.
    iss_lo: Signal<Local, Bits<16>>,
    iss_hi: Signal<Local, Bits<16>>,
    ring_bit_shift: [Constant<Bits<4>>; 15],
    max16: Constant<Bits<32>>,

    blank: Constant<TcbFields>,
    st_syn_rcvd: Constant<Bits<4>>,
    default_mss: Constant<Bits<16>>,
    no_link: Constant<Bits<16>>,
}

impl Default for PassiveOpen {
    fn default() -> Self {
        Self {
            src_mac: Default::default(),
            src_ip: Default::default(),
            src_port: Default::default(),
            dst_port: Default::default(),
            seq: Default::default(),
            window: Default::default(),
            mss: Default::default(),
            iss: Default::default(),
            now_us: Default::default(),
            rto_us: Default::default(),
            holdback: Default::default(),
            hold_synack: Default::default(),
            gen: Default::default(),
            ring_window: Default::default(),
            ws_ok: Default::default(),
            ws: Default::default(),
            sack_ok: Default::default(),
            ts_ok: Default::default(),
            tsval: Default::default(),
            tcb: Default::default(),
            our_ws: Default::default(),
            syn_window: Default::default(),
            iss_lo: Default::default(),
            iss_hi: Default::default(),
            // Ring bit 15 + k set: shift k makes 2^(15+k) >> k = 32768 fit.
            ring_bit_shift: std::array::from_fn(|k| Constant::new(Bits::<4>::from(k as u64))),
            max16: Constant::new(Bits::<32>::from(65535u64)),
            blank: Constant::new(TcbFields::default()),
            st_syn_rcvd: st(TcpState::SynReceived),
            // RFC 9293 §3.7.1: 536 when the SYN carries no MSS option.
            default_mss: Constant::new(Bits::<16>::from(536u64)),
            // Relay mode's "no spliced connection".
            no_link: Constant::new(Bits::<16>::from(0xFFFFu64)),
        }
    }
}

impl Logic for PassiveOpen {
    #[hdl_gen]
    fn update(&mut self) {
        // Every field not named below (FIN received, retries, relay offsets) starts at zero.
        self.tcb.next = self.blank.val();
        self.tcb.next.state = self.st_syn_rcvd.val();
        self.tcb.next.holdback = self.holdback.val().into();
        self.tcb.next.peer_mss = self.mss.val();
        if !self.mss.val().any() {
            self.tcb.next.peer_mss = self.default_mss.val();
        }
        self.tcb.next.local_port = self.dst_port.val();
        self.tcb.next.remote_port = self.src_port.val();
        self.tcb.next.remote_ip = self.src_ip.val();
        self.tcb.next.remote_mac = self.src_mac.val();
        self.tcb.next.peer_link = self.no_link.val();
        self.tcb.next.irs = self.seq.val();
        self.tcb.next.rcv_nxt = self.seq.val() + 1_u32.to_bits();
        self.tcb.next.rel = self.seq.val() + 1_u32.to_bits();
        // Window scaling: the smallest shift with ring >> shift <= 65535 (the ring is a power of two).
        self.our_ws.next = self.ring_bit_shift[0].val();
        for k in 1..15 {
            if self.ring_window.val().get_bit(15 + k) {
                self.our_ws.next = self.ring_bit_shift[k].val();
            }
        }
        if self.ws_ok.val() {
            self.tcb.next.snd_wscale = self.ws.val();
            self.tcb.next.rcv_wscale = self.our_ws.val();
        }
        self.tcb.next.sack_ok = self.sack_ok.val().into();
        // RFC 7323 §3.2: TS.Recent starts at the SYN's TSval.
        // Halves as Locals: Verilator flags a part-select widened by bit_cast.
        self.iss_lo.next = self.iss.val().get_bits::<16>(0);
        self.iss_hi.next = self.iss.val().get_bits::<16>(16);
        if self.ts_ok.val() {
            self.tcb.next.ts_ok = true.into();
            self.tcb.next.ts_recent = self.tsval.val();
            self.tcb.next.ts_offset = (bit_cast::<32, 16>(self.iss_lo.val()) << 16) | bit_cast::<32, 16>(self.iss_hi.val());
        }
        self.syn_window.next = self.ring_window.val();
        if self.ring_window.val() > self.max16.val() {
            self.syn_window.next = self.max16.val();
        }
        self.tcb.next.rcv_adv = self.seq.val() + 1_u32.to_bits() + self.syn_window.val();
        self.tcb.next.ack_sent = self.seq.val() + 1_u32.to_bits();
        if self.hold_synack.val() {
            self.tcb.next.rel = self.seq.val();
            self.tcb.next.ack_sent = self.seq.val();
        }
        self.tcb.next.iss = self.iss.val();
        self.tcb.next.snd_una = self.iss.val();
        self.tcb.next.snd_nxt = self.iss.val() + 1_u32.to_bits();
        self.tcb.next.snd_max = self.iss.val() + 1_u32.to_bits();
        self.tcb.next.snd_wnd = self.window.val();
        self.tcb.next.timer_due = self.now_us.val() + self.rto_us.val();
        self.tcb.next.gen = self.gen.val();
    }
}
