//! Serial-number comparison of 32-bit TCP sequence numbers (RFC 1982 /
//! RFC 9293 §3.4): `a` is before `b` when the wrapping difference `a - b` is
//! negative. The same rule as `holdback_regmap::SeqNum`; `sim/tests` checks the
//! Verilated block against it around the wrap.
use rust_hdl::prelude::*;

/// Combinational: `a_before_b = a < b`, `a_not_after_b = a <= b`, `earlier = min(a, b)`,
/// all in sequence space.
#[derive(LogicBlock, Default)]
pub struct SeqCmp {
    pub a: Signal<In, Bits<32>>,
    pub b: Signal<In, Bits<32>>,
    pub a_before_b: Signal<Out, Bit>,
    pub a_not_after_b: Signal<Out, Bit>,
    pub earlier: Signal<Out, Bits<32>>,
    diff: Signal<Local, Bits<32>>,
}

impl Logic for SeqCmp {
    #[hdl_gen]
    fn update(&mut self) {
        // A Local of exactly 32 bits: bit-selecting `(a - b)[31]` is not Verilog.
        self.diff.next = self.a.val() - self.b.val();
        self.a_before_b.next = self.diff.val().get_bit(31);
        self.a_not_after_b.next = self.diff.val().get_bit(31) | !self.diff.val().any();
        self.earlier.next = self.b.val();
        if self.diff.val().get_bit(31) {
            self.earlier.next = self.a.val();
        }
    }
}

pub fn verilog() -> Result<String, crate::generate::GenError> {
    crate::generate::verilog_named(&mut SeqCmp::default(), "seq_cmp")
}

#[cfg(test)]
mod tests {
    #[test]
    fn seq_cmp_lints_clean_and_synthesizes() {
        let v = super::verilog().expect("generates");
        crate::check::lint("seq_cmp", &v).unwrap_or_else(|e| panic!("lint:\n{e}"));
        let area = crate::check::synth("seq_cmp", &v).unwrap_or_else(|e| panic!("{e}"));
        assert!(area.luts > 0);
    }
}
