//! `SeqNum` (the register map's one type, which the driver, the reference
//! model and the daemon all use) against the Verilated comparator
//! `hdl/src/seq_cmp.rs` (feature `sim`): its order, earliest, latest and
//! "not after" agree bit for bit with the RTL at exactly 2^31 apart, around
//! the 2^31 and 2^32 edges and on seeded random pairs.
#![cfg(feature = "sim")]

use holdback_driver::SeqNum;
use holdback_sim::model::Model;

fn check_all(pairs: impl Iterator<Item = (u32, u32)>) {
    let mut m = Model::new("seq_cmp").expect("seq_cmp is built into holdback-sim");
    let port = |n: &str| m.port(n).unwrap_or_else(|e| panic!("{e}"));
    let (a, b) = (port("a"), port("b"));
    let (before, not_after, earlier) = (port("a_before_b"), port("a_not_after_b"), port("earlier"));
    for (x, y) in pairs {
        m.set(a, x as u64);
        m.set(b, y as u64);
        m.cycle();
        let (sx, sy) = (SeqNum(x), SeqNum(y));
        assert_eq!(m.get(before) == 1, sx.before(sy), "before({x:#010x}, {y:#010x})");
        assert_eq!(m.get(not_after) == 1, sx.not_after(sy), "not_after({x:#010x}, {y:#010x})");
        assert_eq!(m.get(earlier) as u32, sx.earliest(sy).0, "earliest({x:#010x}, {y:#010x})");
        // The RTL's serial maximum is `a_before_b ? b : a` (how R and the right edge move).
        let rtl_latest = if m.get(before) == 1 { y } else { x };
        assert_eq!(sx.latest(sy).0, rtl_latest, "latest({x:#010x}, {y:#010x})");
        // PartialOrd agrees with the RTL wherever RFC 1982 defines an order.
        if let Some(ord) = sx.partial_cmp(&sy) {
            assert_eq!(ord == std::cmp::Ordering::Less, m.get(before) == 1, "partial_cmp({x:#010x}, {y:#010x})");
        } else {
            assert_eq!(x.wrapping_sub(y), 0x8000_0000);
        }
    }
}

#[test]
fn seqnum_matches_rtl_around_the_wraps() {
    let bases = [0u32, 1, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFF0, 0xFFFF_FFFF];
    let deltas = [0u32, 1, 2, 0x7FFF_FFFE, 0x7FFF_FFFF, 0x8000_0000, 0x8000_0001, 0xFFFF_FFFE, 0xFFFF_FFFF];
    let pairs: Vec<(u32, u32)> = bases
        .iter()
        .flat_map(|b| deltas.iter().flat_map(move |d| [(b.wrapping_add(*d), *b), (*b, b.wrapping_add(*d))]))
        .collect();
    check_all(pairs.into_iter());
}

/// RFC 1982 leaves numbers exactly 2^31 apart unordered; the RTL decides
/// them by the sign bit, "before" both ways round, and so does `SeqNum`.
#[test]
fn exactly_half_the_circle_apart_is_decided_as_the_rtl_decides() {
    let bases = [0u32, 1, 5, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFF0, 0xFFFF_FFFF];
    for b in bases {
        let (x, y) = (SeqNum(b), SeqNum(b) + 0x8000_0000);
        assert!(x.before(y) && y.before(x), "{x:?} and {y:?} are each before the other");
        assert!(x.partial_cmp(&y).is_none(), "{x:?} and {y:?} have no RFC 1982 order");
    }
    check_all(bases.iter().flat_map(|b| [(*b, b.wrapping_add(0x8000_0000)), (b.wrapping_add(0x8000_0000), *b)]));
}

#[test]
fn seqnum_matches_rtl_on_seeded_pairs() {
    let seed = holdback_sim::test_seed(0xD51E_5EED);
    // xorshift64*: enough for test vectors, no extra dependency.
    let mut s = seed | 1;
    let mut next = move || {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        (s.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as u32
    };
    let pairs: Vec<(u32, u32)> = (0..50_000)
        .map(|i| {
            let x = next();
            // Every other pair close together, where TCP lives.
            let y = if i % 2 == 0 { x.wrapping_add(next() % 65_536).wrapping_sub(32_768) } else { next() };
            (x, y)
        })
        .collect();
    check_all(pairs.into_iter());
}
