//! PLACEHOLDER until the real block lands (being written now); not wired anywhere.
use rust_hdl::prelude::*;

#[derive(LogicBlock, Default)]
pub struct Placeholder {
    pub a: Signal<In, Bits<8>>,
    pub y: Signal<Out, Bits<8>>,
}

impl Logic for Placeholder {
    #[hdl_gen]
    fn update(&mut self) {
        self.y.next = self.a.val();
    }
}

pub fn verilog() -> Result<String, crate::generate::GenError> {
    crate::generate::verilog_named(&mut Placeholder::default(), "holdback_core")
}
