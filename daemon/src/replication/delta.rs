//! Field-by-field TCB deltas (claims 34, 35): after the full sync only the
//! fields that changed since the last copy sent travel.
//!
//! The fields are those of the single register map (`holdback_regmap::tcb::
//! FIELDS`), so a field added to the layout is replicated without touching
//! this code. Each changed field carries the wrapping difference to its old
//! value, which postcard writes as a zigzag varint: a sequence number that
//! advanced by one MSS costs 2 bytes instead of 4, a generation step 1 byte.
use holdback_driver::{Tcb, TcbError};
use holdback_regmap::tcb::FIELDS;
use serde::{Deserialize, Serialize};

/// The changed fields of one TCB: bit i of `mask` set when `FIELDS[i]`
/// changed; `steps` holds `new - old` (wrapping) of each, in field order.
///
/// postcard writes the mask as a varint, so a mask of fields below 32 is
/// the same bytes a `u32` mask was (protocol versions up to 4); fields 32
/// and up (TS_OFFSET, the 33rd) travel only in sessions from
/// [`super::wire::WIDE_DELTA_VERSION`] on.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcbDelta {
    pub mask: u64,
    pub steps: Vec<i32>,
}

/// Why a delta could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum DeltaError {
    #[error("TCB copy does not encode: {0}")]
    Tcb(#[from] TcbError),
    #[error("delta names field bit {bit}, the layout has {} fields", FIELDS.len())]
    UnknownField { bit: u32 },
    #[error("delta has {found} steps for {expected} changed fields")]
    StepCount { found: usize, expected: usize },
    #[error("applying the delta gives an invalid TCB: {0}")]
    Result(TcbError),
}

// The mask is a u64: the layout must stay within 64 fields (checked here at
// compile time, so a 65th field breaks the build rather than replication).
const _: () = assert!(FIELDS.len() <= 64);

impl TcbDelta {
    /// The fields in which `new` differs from `old`.
    pub fn between(old: &Tcb, new: &Tcb) -> Result<TcbDelta, TcbError> {
        let (old_w, new_w) = (old.encode()?, new.encode()?);
        let mut delta = TcbDelta::default();
        for (bit, field) in FIELDS.iter().enumerate() {
            let (a, b) = (field.get(&old_w), field.get(&new_w));
            if a != b {
                delta.mask |= 1u64 << bit;
                delta.steps.push(b.wrapping_sub(a) as i32);
            }
        }
        Ok(delta)
    }

    pub fn is_empty(&self) -> bool {
        self.mask == 0
    }

    /// `base` with the changed fields replaced.
    pub fn apply(&self, base: &Tcb) -> Result<Tcb, DeltaError> {
        let expected = self.mask.count_ones() as usize;
        if self.steps.len() != expected {
            return Err(DeltaError::StepCount { found: self.steps.len(), expected });
        }
        if let Some(bit) = (FIELDS.len() as u32..64).find(|b| self.mask & (1u64 << b) != 0) {
            return Err(DeltaError::UnknownField { bit });
        }
        let mut words = base.encode()?;
        let mut steps = self.steps.iter();
        for (bit, field) in FIELDS.iter().enumerate() {
            if self.mask & (1u64 << bit) != 0 {
                let step = *steps.next().expect("step count checked against the mask");
                let value = field.get(&words).wrapping_add(step as u32);
                field.set(&mut words, value);
            }
        }
        Tcb::decode(&words).map_err(DeltaError::Result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use holdback_driver::SeqNum;
    use holdback_regmap::TcpState;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    /// A random TCB whose every field fits its width (so it encodes and
    /// decodes to itself).
    fn random_tcb(rng: &mut SmallRng) -> Tcb {
        let mut words = [0u32; holdback_regmap::TCB_WORDS];
        for field in FIELDS {
            field.set(&mut words, rng.gen());
        }
        holdback_regmap::tcb::STATE.set(&mut words, rng.gen_range(0..=10));
        Tcb::decode(&words).expect("state in 0..=10 decodes")
    }

    /// A typical stream update: data arrived and was released.
    fn stream_step(t: &Tcb, rng: &mut SmallRng) -> Tcb {
        let n = rng.gen_range(1..=65_535u32);
        Tcb {
            rcv_nxt: t.rcv_nxt + n,
            rel: t.rel + n,
            ack_sent: t.ack_sent + n,
            rcv_adv: t.rcv_adv + n,
            gen: t.gen.wrapping_add(1),
            ..t.clone()
        }
    }

    /// Change a random subset of fields to random values.
    fn random_step(t: &Tcb, rng: &mut SmallRng) -> Tcb {
        let mut words = t.encode().unwrap();
        for field in FIELDS {
            if rng.gen_bool(0.3) {
                field.set(&mut words, rng.gen());
            }
        }
        holdback_regmap::tcb::STATE.set(&mut words, rng.gen_range(0..=10));
        Tcb::decode(&words).unwrap()
    }

    #[test]
    fn seeded_random_sequences_round_trip_through_postcard() {
        for seed in 0..200u64 {
            let mut rng = SmallRng::seed_from_u64(seed);
            let mut sent = random_tcb(&mut rng);
            let mut copy = sent.clone();
            for step in 0..100 {
                let new = if rng.gen_bool(0.5) { stream_step(&sent, &mut rng) } else { random_step(&sent, &mut rng) };
                let delta = TcbDelta::between(&sent, &new).unwrap();
                let wire = postcard::to_allocvec(&delta).unwrap();
                let back: TcbDelta = postcard::from_bytes(&wire).unwrap();
                copy = back.apply(&copy).unwrap_or_else(|e| panic!("seed {seed} step {step}: {e}"));
                assert_eq!(copy, new, "seed {seed} step {step}");
                sent = new;
            }
        }
    }

    /// A mask of fields below 32 is the bytes a u32 mask was (sessions in
    /// versions up to 4 read it unchanged); TS_OFFSET, field 33, needs more.
    #[test]
    fn masks_below_field_32_keep_the_old_bytes_and_ts_offset_travels_above() {
        let narrow = postcard::to_allocvec(&TcbDelta { mask: 0x8000_0001, steps: vec![1, 2] }).unwrap();
        #[derive(Serialize)]
        struct OldDelta {
            mask: u32,
            steps: Vec<i32>,
        }
        assert_eq!(narrow, postcard::to_allocvec(&OldDelta { mask: 0x8000_0001, steps: vec![1, 2] }).unwrap());
        let bit = FIELDS.iter().position(|f| f.name == holdback_regmap::tcb::TS_OFFSET.name).expect("TS_OFFSET is a field");
        assert!(bit >= 32, "TS_OFFSET is field {bit}");
        let t = Tcb::closed();
        let new = Tcb { ts_offset: 0x1234_5678, ..t.clone() };
        let d = TcbDelta::between(&t, &new).unwrap();
        assert_eq!(d.mask, 1u64 << bit);
        let back: TcbDelta = postcard::from_bytes(&postcard::to_allocvec(&d).unwrap()).unwrap();
        assert_eq!(back.apply(&t).unwrap(), new);
    }

    #[test]
    fn unchanged_tcb_gives_an_empty_delta() {
        let mut rng = SmallRng::seed_from_u64(7);
        let t = random_tcb(&mut rng);
        let d = TcbDelta::between(&t, &t).unwrap();
        assert!(d.is_empty());
        assert_eq!(d.apply(&t).unwrap(), t);
    }

    #[test]
    fn stream_update_straddling_the_wrap_is_small() {
        let t = Tcb {
            state: TcpState::Established,
            rcv_nxt: SeqNum(0xFFFF_FF00),
            rel: SeqNum(0xFFFF_FF00),
            ack_sent: SeqNum(0xFFFF_FF00),
            rcv_adv: SeqNum(0x0000_7F00),
            ..Tcb::closed()
        };
        let new = Tcb {
            rcv_nxt: t.rcv_nxt + 1460,
            rel: t.rel + 1460,
            ack_sent: t.ack_sent + 1460,
            rcv_adv: t.rcv_adv + 1460,
            gen: 1,
            ..t.clone()
        };
        let d = TcbDelta::between(&t, &new).unwrap();
        assert_eq!(d.steps, vec![1460, 1460, 1460, 1460, 1]);
        assert_eq!(d.apply(&t).unwrap(), new);
        let wire = postcard::to_allocvec(&d).unwrap();
        // The mask is a varint of 5 bytes (gen's bit is above 2^28), then the
        // step count (1), four steps of 1460 (2 each) and gen's 1 (1): 15 bytes,
        // against the ~130 of a full copy.
        assert_eq!(wire.len(), 15, "{} bytes", wire.len());
    }

    #[test]
    fn malformed_deltas_are_refused() {
        let t = Tcb::closed();
        let short = TcbDelta { mask: 0b11, steps: vec![1] };
        assert!(matches!(short.apply(&t), Err(DeltaError::StepCount { found: 1, expected: 2 })));
        // Bits above the layout's last field, up to the mask's top.
        for bit in [FIELDS.len() as u32, 63] {
            let beyond = TcbDelta { mask: 1u64 << bit, steps: vec![1] };
            assert!(matches!(beyond.apply(&t), Err(DeltaError::UnknownField { bit: b }) if b == bit), "bit {bit}");
        }
        let bad_state = TcbDelta { mask: 1, steps: vec![14] };
        assert!(matches!(bad_state.apply(&t), Err(DeltaError::Result(_))));
    }
}
