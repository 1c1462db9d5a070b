//! The model's TCP control block is the register map's one [`Tcb`]; this
//! module compares it with the core's TCB words, field by field.
use holdback_regmap::{tcb, TcbField, TcpState, TCB_WORDS};

pub use holdback_regmap::Tcb;

/// Timestamps (RFC 7323 §5.4): a connection's TS_OFFSET, its ISS with the
/// 16-bit halves swapped (passive_open.rs), so its TSvals are as hard to
/// guess as its sequence numbers.
pub fn ts_offset_for(iss: crate::wire::SeqNum) -> u32 {
    iss.0.rotate_left(16)
}

/// The core's timestamp clock (TS_CLOCK, timebase.rs): a 32-bit count of the
/// 1024-us boundaries NOW_US crossed since the host last wrote it (or since
/// reset, from 0). The model keeps the value and the time of the last write
/// and counts boundaries from there, modulo 2^22 of NOW_US's millisecond
/// part as the RTL does per cycle: exact while less than 2^32 us pass
/// between a write and a read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TsClock {
    /// The value written, and NOW_US when it was.
    pub base: u32,
    pub base_us: u32,
}

impl TsClock {
    /// The host writes TS_CLOCK = `value` at `now_us`.
    pub fn write(&mut self, now_us: u32, value: u32) {
        *self = TsClock { base: value, base_us: now_us };
    }
    /// The count at `now_us`.
    pub fn ticks(&self, now_us: u32) -> u32 {
        let crossed = ((now_us >> 10).wrapping_sub(self.base_us >> 10)) & 0x3f_ffff;
        self.base.wrapping_add(crossed)
    }
}

/// Fields whose value depends on when the core's timer scan ran or how often
/// it wrote the TCB back, not on the segments: `score::diff_tcb` skips them
/// unless asked.
pub const TIMING_FIELDS: &[TcbField] = &[tcb::TIMER_DUE, tcb::GEN];

/// Field-by-field differences between the model's TCB and the core's words,
/// skipping `skip`; empty when they agree.
pub fn diff_tcb(model: &Tcb, core: &[u32; TCB_WORDS], skip: &[TcbField]) -> Vec<String> {
    let mw = model.to_words();
    tcb::FIELDS
        .iter()
        .filter(|f| !skip.iter().any(|s| s.name == f.name))
        .filter_map(|f| {
            let (m, c) = (f.get(&mw), f.get(core));
            (m != c).then(|| {
                if *f == tcb::STATE {
                    let name = |v: u32| TcpState::from_code(v).map_or(format!("code {v}"), |s| s.rfc_name().to_string());
                    format!("{}: model {} core {}", f.name, name(m), name(c))
                } else {
                    format!("{}: model {m} ({m:#x}) core {c} ({c:#x}) diff {}", f.name, c.wrapping_sub(m) as i32)
                }
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::SeqNum;

    #[test]
    fn diff_reports_each_field_that_differs() {
        let t = Tcb { state: TcpState::CloseWait, rcv_nxt: SeqNum(5), rel: SeqNum(3), gen: 11, ..Tcb::closed() };
        let w = t.to_words();
        assert!(diff_tcb(&t, &w, &[]).is_empty());
        let mut other = w;
        tcb::RCV_NXT.set(&mut other, 6);
        assert_eq!(diff_tcb(&t, &other, &[]).len(), 1);
        assert!(diff_tcb(&t, &other, &[tcb::RCV_NXT]).is_empty());
    }
}
