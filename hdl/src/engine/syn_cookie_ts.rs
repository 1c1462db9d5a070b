//! The options a SYN cookie cannot hold, carried in the low 6 bits of the
//! SYN-ACK's TSval and read back from the ACK's TSecr (Linux's layout:
//! docs/syn-cookies.md, "Timestamps"): bits 3:0 the peer's window-scale
//! shift (0xF: no Window Scale option), bit 4 SACK-permitted, bit 5 ECN
//! (never offered by us: always 0 out, reported in).
//!
//! Encode: `tsval = (ts_now & !0x3F) | options`, 64 ticks earlier when that
//! is after `ts_now` in serial order, so the TSval never runs ahead of the
//! clock. Combinational; the reference is `refmodel::syn_cookie`'s
//! `ts_encode_options` / `ts_decode_options`; the engine uses it in the
//! cookie states (docs/syn-cookies.md, "In the engine").
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct SynCookieTs {
    /// The TSval the SYN-ACK would carry without a cookie.
    pub ts_now: Signal<In, Bits<32>>,
    /// The SYN's Window Scale option and its shift (above 14 counts as 14,
    /// RFC 7323 §2.3).
    pub wscale_ok: Signal<In, Bit>,
    pub wscale: Signal<In, Bits<4>>,
    pub sack_ok: Signal<In, Bit>,
    pub tsval: Signal<Out, Bits<32>>,
    /// The low 6 bits of the ACK's TSecr, and the options they return.
    pub tsecr_opts: Signal<In, Bits<6>>,
    pub dec_wscale_ok: Signal<Out, Bit>,
    pub dec_wscale: Signal<Out, Bits<4>>,
    pub dec_sack_ok: Signal<Out, Bit>,
    pub dec_ecn_ok: Signal<Out, Bit>,

    ws_eff: Signal<Local, Bits<4>>,
    ws_part: Signal<Local, Bits<32>>,
    sack_part: Signal<Local, Bits<32>>,
    ts: Signal<Local, Bits<32>>,
    ahead: Signal<Local, Bits<32>>,
    ws_max: Constant<Bits<4>>,
    ws_none: Constant<Bits<4>>,
}

impl Default for SynCookieTs {
    fn default() -> Self {
        Self {
            ts_now: Default::default(),
            wscale_ok: Default::default(),
            wscale: Default::default(),
            sack_ok: Default::default(),
            tsval: Default::default(),
            tsecr_opts: Default::default(),
            dec_wscale_ok: Default::default(),
            dec_wscale: Default::default(),
            dec_sack_ok: Default::default(),
            dec_ecn_ok: Default::default(),
            ws_eff: Default::default(),
            ws_part: Default::default(),
            sack_part: Default::default(),
            ts: Default::default(),
            ahead: Default::default(),
            ws_max: Constant::new(Bits::<4>::from(14u64)),
            ws_none: Constant::new(Bits::<4>::from(15u64)),
        }
    }
}

impl Logic for SynCookieTs {
    #[hdl_gen]
    fn update(&mut self) {
        self.ws_eff.next = self.wscale.val();
        if self.wscale.val() > self.ws_max.val() {
            self.ws_eff.next = self.ws_max.val();
        }
        self.ws_part.next = 0x0F_u32.to_bits();
        if self.wscale_ok.val() {
            self.ws_part.next = bit_cast::<32, 4>(self.ws_eff.val());
        }
        self.sack_part.next = 0_u32.to_bits();
        if self.sack_ok.val() {
            self.sack_part.next = 0x10_u32.to_bits();
        }
        self.ts.next = (self.ts_now.val() & 0xFFFF_FFC0_u32.to_bits()) | self.ws_part.val() | self.sack_part.val();
        // ts and ts_now differ only in the low 6 bits: after means ts - ts_now > 0.
        self.ahead.next = self.ts.val() - self.ts_now.val();
        self.tsval.next = self.ts.val();
        if !self.ahead.val().get_bit(31) & self.ahead.val().any() {
            self.tsval.next = self.ts.val() - 64_u32.to_bits();
        }
        self.dec_wscale.next = self.tsecr_opts.val().get_bits::<4>(0);
        self.dec_wscale_ok.next = self.tsecr_opts.val().get_bits::<4>(0) != self.ws_none.val();
        self.dec_sack_ok.next = self.tsecr_opts.val().get_bit(4);
        self.dec_ecn_ok.next = self.tsecr_opts.val().get_bit(5);
    }
}

pub fn verilog() -> Result<String, crate::generate::GenError> {
    crate::generate::verilog_named(&mut SynCookieTs::default(), "syn_cookie_ts")
}

#[cfg(test)]
mod tests {
    #[test]
    fn syn_cookie_ts_lints_clean_and_synthesizes() {
        let v = super::verilog().expect("generates");
        crate::check::lint("syn_cookie_ts", &v).unwrap_or_else(|e| panic!("lint:\n{e}"));
        let area = crate::check::synth("syn_cookie_ts", &v).unwrap_or_else(|e| panic!("{e}"));
        eprintln!("syn_cookie_ts area: {area:?}");
        assert!(area.luts > 0);
    }
}
