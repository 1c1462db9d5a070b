//! The transmit engine's blocks (docs/tx.md). Each is combinational over one
//! connection's transmit state, like the engine's `retransmit.rs`: the
//! engine reads the state, a block computes the whole new state, one engine
//! state writes it back. `fetch` is the sequential one: it stages a
//! segment's payload from the transmit ring for the frame builder.
use rust_hdl::prelude::*;

pub mod ack;
pub mod fetch;
pub mod rtt;
pub mod sack_board;
pub mod segmenter;

pub use ack::TxAck;
pub use fetch::TxFetch;
pub use rtt::TxRtt;
pub use sack_board::SackBoard;
pub use segmenter::TxSegmenter;

/// Which timer runs (docs/tx.md, "Timers"), the codes of the `timer` ports.
pub const TIMER_OFF: u64 = 0;
pub const TIMER_RETRANSMIT: u64 = 1;
pub const TIMER_PERSIST: u64 = 2;

/// `Constant` of a 2-bit timer code, for the kernels.
fn timer_code(code: u64) -> Constant<Bits<2>> {
    Constant::new(Bits::<2>::from(code))
}

/// The blocks as Verilated models for their testbenches.
pub fn test_models() -> Result<Vec<crate::generate::ModelSource>, crate::generate::GenError> {
    Ok(vec![
        crate::generate::ModelSource { name: "tx_rtt", verilog: rtt::verilog()? },
        crate::generate::ModelSource { name: "tx_ack", verilog: ack::verilog()? },
        crate::generate::ModelSource { name: "tx_segmenter", verilog: segmenter::verilog()? },
        crate::generate::ModelSource { name: "sack_board", verilog: sack_board::verilog()? },
    ])
}
