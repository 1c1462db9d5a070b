//! The model's TCP control block is the register map's one [`Tcb`]; this
//! module compares it with the core's TCB words, field by field.
use holdback_regmap::{tcb, TcbField, TcpState, TCB_WORDS};

pub use holdback_regmap::Tcb;

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
