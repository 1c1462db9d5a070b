//! TCP sequence numbers with serial-number arithmetic (RFC 1982, RFC 9293 §3.4).
use std::cmp::Ordering;
use std::fmt;
use std::ops::{Add, AddAssign, Sub};

use serde::{Deserialize, Serialize};

/// A 32-bit TCP sequence number, ordered by the sign of the wrapping
/// difference: `a` is before `b` when bit 31 of `a - b` is set. That is the
/// whole rule of the RTL comparator block `seq_cmp` (`hdl/src/seq_cmp.rs`),
/// and [`SeqNum::before`], [`SeqNum::not_after`], [`SeqNum::earliest`] and
/// [`SeqNum::latest`] are its outputs, bit for bit, for every pair —
/// including the pairs exactly 2^31 apart.
///
/// Those pairs have no order in RFC 1982. The RTL decides them by the sign
/// bit, which is set both ways round: each is "before" the other, `earliest`
/// returns its first operand and `latest` its second. [`PartialOrd`] does not
/// pretend otherwise and returns `None` for them (so `<`, `<=`, `>`, `>=` are
/// all false there): an operator cannot give the RTL's answer without breaking
/// `a < b ⇔ b > a`. Code that mirrors an RTL comparison therefore calls the
/// method named after the comparator output it mirrors.
///
/// Deliberately not `Ord`: the relation is not transitive around the circle,
/// so a `SeqNum` must not key a `BTreeMap` or be sorted.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SeqNum(pub u32);

impl SeqNum {
    /// Signed distance `self - other` in sequence space (wrapping).
    pub const fn diff(self, other: SeqNum) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }
    /// The RTL's `a_before_b`: bit 31 of `self - other`.
    pub const fn before(self, other: SeqNum) -> bool {
        self.diff(other) < 0
    }
    /// The RTL's `a_not_after_b`: before or equal.
    pub const fn not_after(self, other: SeqNum) -> bool {
        self.diff(other) <= 0
    }
    /// The RTL's `earlier`: `self` if it is before `other`, else `other`.
    pub const fn earliest(self, other: SeqNum) -> SeqNum {
        if self.before(other) {
            self
        } else {
            other
        }
    }
    /// What the RTL computes as a serial maximum (`x := y if x before y`, as
    /// the right edge and R move): `other` if `self` is before it, else
    /// `self`. Always the operand `earliest` did not return.
    pub const fn latest(self, other: SeqNum) -> SeqNum {
        if self.before(other) {
            other
        } else {
            self
        }
    }
    /// Bytes from `earlier` up to `self`, or 0 if `self` is not after it.
    pub const fn bytes_since(self, earlier: SeqNum) -> u32 {
        let d = self.diff(earlier);
        if d > 0 {
            d as u32
        } else {
            0
        }
    }
}

/// RFC 1982 order: agrees with [`SeqNum::before`] wherever it answers, and
/// answers `None` exactly when the two are 2^31 apart.
impl PartialOrd for SeqNum {
    fn partial_cmp(&self, other: &SeqNum) -> Option<Ordering> {
        match self.diff(*other) {
            0 => Some(Ordering::Equal),
            i32::MIN => None,
            d if d < 0 => Some(Ordering::Less),
            _ => Some(Ordering::Greater),
        }
    }
}

impl Add<u32> for SeqNum {
    type Output = SeqNum;
    fn add(self, n: u32) -> SeqNum {
        SeqNum(self.0.wrapping_add(n))
    }
}

impl AddAssign<u32> for SeqNum {
    fn add_assign(&mut self, n: u32) {
        self.0 = self.0.wrapping_add(n);
    }
}

impl Sub<u32> for SeqNum {
    type Output = SeqNum;
    fn sub(self, n: u32) -> SeqNum {
        SeqNum(self.0.wrapping_sub(n))
    }
}

/// `a - b` is the signed distance (see [`SeqNum::diff`]).
impl Sub<SeqNum> for SeqNum {
    type Output = i32;
    fn sub(self, other: SeqNum) -> i32 {
        self.diff(other)
    }
}

impl From<u32> for SeqNum {
    fn from(v: u32) -> SeqNum {
        SeqNum(v)
    }
}

impl From<SeqNum> for u32 {
    fn from(s: SeqNum) -> u32 {
        s.0
    }
}

impl fmt::Debug for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SeqNum({})", self.0)
    }
}

impl fmt::Display for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NEAR_WRAP: SeqNum = SeqNum(0xFFFF_FFF0);

    #[test]
    fn ordering_straddles_the_wrap() {
        let after = NEAR_WRAP + 0x20; // 0x0000_0010
        assert_eq!(after.0, 0x10);
        assert!(NEAR_WRAP < after);
        assert!(after > NEAR_WRAP);
        assert!(NEAR_WRAP.before(after) && !after.before(NEAR_WRAP));
        assert_eq!(after - NEAR_WRAP, 0x20);
        assert_eq!(NEAR_WRAP - after, -0x20);
        assert_eq!(after - 0x20u32, NEAR_WRAP);
        assert_eq!(NEAR_WRAP.earliest(after), NEAR_WRAP);
        assert_eq!(after.earliest(NEAR_WRAP), NEAR_WRAP);
        assert_eq!(NEAR_WRAP.latest(after), after);
        assert_eq!(after.bytes_since(NEAR_WRAP), 0x20);
        assert_eq!(NEAR_WRAP.bytes_since(after), 0);
    }

    #[test]
    fn orders_across_the_wrap() {
        let a = SeqNum(u32::MAX - 1);
        let b = a + 4; // wraps to 2
        assert_eq!(b, SeqNum(2));
        assert!(a < b);
        assert!(b > a);
        assert_eq!(b.diff(a), 4);
        assert_eq!(a.latest(b), b);
        assert_eq!(a.earliest(b), a);
        assert!(SeqNum(0) > SeqNum(0x8000_0001));
    }

    #[test]
    fn add_assign_wraps() {
        let mut s = SeqNum(u32::MAX);
        s += 2;
        assert_eq!(s, SeqNum(1));
        assert!(SeqNum(u32::MAX) < s);
    }

    #[test]
    fn half_circle_is_unordered_but_rtl_rule_is_defined() {
        let a = SeqNum(0x8000_0005);
        let b = SeqNum(5);
        assert_eq!(a.partial_cmp(&b), None);
        assert_eq!(b.partial_cmp(&a), None);
        // RTL: bit 31 of the difference is set both ways round.
        assert!(a.before(b) && b.before(a));
        assert_eq!(a.earliest(b), a);
        assert_eq!(b.earliest(a), b);
        assert_eq!(a.latest(b), b);
        assert_eq!(b.latest(a), a);
    }

    #[test]
    fn largest_ordered_distance() {
        let a = SeqNum(0xFFFF_FFFF);
        let b = a + 0x7FFF_FFFF;
        assert!(a < b);
        assert!(a.not_after(a) && !a.before(a));
    }

    #[test]
    fn serialises_as_plain_number() {
        assert_eq!(serde_json::to_string(&SeqNum(7)).unwrap(), "7");
        assert_eq!(
            serde_json::from_str::<SeqNum>("4294967295").unwrap(),
            SeqNum(u32::MAX)
        );
    }
}
