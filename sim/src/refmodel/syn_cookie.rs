//! SYN cookies (RFC 4987 §3.6) in Linux's layout: the reference for
//! `hdl/src/engine/syn_cookie.rs` (docs/syn-cookies.md). Pure functions.
//!
//! `h(key, tuple, count)` is SipHash-2-4 keyed by `key` over 16 bytes, each
//! field big-endian, in this order: peer IP (bytes 0-3), our IP (4-7), peer
//! port (8-9), our port (10-11), count as a u32 (12-15). The key's bytes are
//! `key.to_le_bytes()`, so its low 64 bits are SipHash's k0. Only the low 32
//! bits of a hash are used.

use std::net::Ipv4Addr;

/// Linux's msstab: the MSS values a cookie can carry, by index.
pub const MSS_TABLE: [u16; 4] = [536, 1300, 1440, 1460];

/// A cookie is accepted from this period and the previous one (Linux's
/// MAX_SYNCOOKIE_AGE).
pub const MAX_AGE: u8 = 2;

/// The low 24 bits of a cookie carry the MSS index plus a hash.
const COOKIE_MASK: u32 = 0x00FF_FFFF;

/// The connection a cookie is bound to, as the listener sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CookieTuple {
    pub peer_ip: Ipv4Addr,
    pub our_ip: Ipv4Addr,
    pub peer_port: u16,
    pub our_port: u16,
}

/// SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF",
/// 2012) of `msg` under the 16-byte key `key.to_le_bytes()`.
pub fn siphash24(key: u128, msg: &[u8]) -> u64 {
    let k0 = key as u64;
    let k1 = (key >> 64) as u64;
    let mut v = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f6d,
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];
    let round = |v: &mut [u64; 4]| {
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13) ^ v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16) ^ v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21) ^ v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17) ^ v[2];
        v[2] = v[2].rotate_left(32);
    };
    let compress = |v: &mut [u64; 4], m: u64| {
        v[3] ^= m;
        round(v);
        round(v);
        v[0] ^= m;
    };
    let mut chunks = msg.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        compress(&mut v, u64::from_le_bytes(w));
    }
    // The last block: the remaining bytes, the length's low byte on top.
    let mut last = [0u8; 8];
    let rest = chunks.remainder();
    last[..rest.len()].copy_from_slice(rest);
    last[7] = msg.len() as u8;
    compress(&mut v, u64::from_le_bytes(last));
    v[2] ^= 0xff;
    for _ in 0..4 {
        round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

/// The 16-byte message of `h` (module doc).
pub fn cookie_message(t: &CookieTuple, count: u32) -> [u8; 16] {
    let mut m = [0u8; 16];
    m[0..4].copy_from_slice(&t.peer_ip.octets());
    m[4..8].copy_from_slice(&t.our_ip.octets());
    m[8..10].copy_from_slice(&t.peer_port.to_be_bytes());
    m[10..12].copy_from_slice(&t.our_port.to_be_bytes());
    m[12..16].copy_from_slice(&count.to_be_bytes());
    m
}

/// `h(key, tuple, count)`: the low 32 bits of the SipHash.
pub fn cookie_hash(key: u128, t: &CookieTuple, count: u32) -> u32 {
    siphash24(key, &cookie_message(t, count)) as u32
}

/// The ISN of our SYN-ACK for a SYN with ISN `sseq` (Linux's
/// `secure_tcp_syn_cookie`): `h(key0, 0) + sseq + (now_count << 24) +
/// ((h(key1, now_count) + mss_index) & 0xFF_FFFF)`, mod 2^32.
pub fn cookie_generate(key0: u128, key1: u128, t: &CookieTuple, sseq: u32, now_count: u8, mss_index: u8) -> u32 {
    let count = u32::from(now_count);
    cookie_hash(key0, t, 0)
        .wrapping_add(sseq)
        .wrapping_add(count << 24)
        .wrapping_add(cookie_hash(key1, t, count).wrapping_add(u32::from(mss_index & 3)) & COOKIE_MASK)
}

/// The MSS index a cookie carries, or None when it is not one of ours from
/// this or the previous period (Linux's `check_tcp_syn_cookie`). For an ACK
/// `cookie = SEG.ACK - 1` and `sseq = SEG.SEQ - 1`.
pub fn cookie_check(key0: u128, key1: u128, t: &CookieTuple, cookie: u32, sseq: u32, now_count: u8) -> Option<u8> {
    let v = cookie.wrapping_sub(cookie_hash(key0, t, 0)).wrapping_sub(sseq);
    let c = v >> 24;
    if now_count.wrapping_sub(c as u8) >= MAX_AGE {
        return None;
    }
    let m = v.wrapping_sub(cookie_hash(key1, t, c)) & COOKIE_MASK;
    (m < MSS_TABLE.len() as u32).then_some(m as u8)
}

/// The index of the largest table entry not above a SYN's MSS option (0
/// when below 1300, the option absent, `mss == 0`, included).
pub fn mss_index(mss: u16) -> u8 {
    MSS_TABLE.iter().rposition(|&e| e <= mss).unwrap_or(0) as u8
}

/// Options a cookie's TSval carries in its low 6 bits (Linux's
/// `cookie_init_timestamp`): bits 3:0 the peer's window-scale shift (0xF:
/// no Window Scale option), bit 4 SACK-permitted, bit 5 ECN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TsCookieOptions {
    /// The shift of the peer's Window Scale option (at most 14), if it sent one.
    pub wscale: Option<u8>,
    pub sack_ok: bool,
    pub ecn_ok: bool,
}

const TS_OPT_WSCALE_NONE: u32 = 0xF;
const TS_OPT_SACK: u32 = 1 << 4;
const TS_OPT_ECN: u32 = 1 << 5;
const TS_OPT_MASK: u32 = 0x3F;

/// The TSval of a cookie SYN-ACK: `ts_now` with its low 6 bits replaced by
/// the options, moved back 64 ticks when that would be after `ts_now`
/// (serial order, RFC 7323 §5.2), so the clock never appears to jump ahead.
pub fn ts_encode_options(ts_now: u32, o: &TsCookieOptions) -> u32 {
    let mut options = o.wscale.map_or(TS_OPT_WSCALE_NONE, |s| u32::from(s.min(14)));
    if o.sack_ok {
        options |= TS_OPT_SACK;
    }
    if o.ecn_ok {
        options |= TS_OPT_ECN;
    }
    let ts = (ts_now & !TS_OPT_MASK) | options;
    if (ts.wrapping_sub(ts_now) as i32) > 0 {
        ts.wrapping_sub(TS_OPT_MASK + 1)
    } else {
        ts
    }
}

/// The options from the TSecr of the ACK that returns a cookie (Linux's
/// `cookie_timestamp_decode`).
pub fn ts_decode_options(tsecr: u32) -> TsCookieOptions {
    let w = tsecr & TS_OPT_WSCALE_NONE;
    TsCookieOptions {
        wscale: (w != TS_OPT_WSCALE_NONE).then_some(w as u8),
        sack_ok: tsecr & TS_OPT_SACK != 0,
        ecn_ok: tsecr & TS_OPT_ECN != 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    const K0: u128 = 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210;
    const K1: u128 = 0x5a5a_0f0f_3c3c_9696_a5a5_f0f0_c3c3_6969;

    fn tuple() -> CookieTuple {
        CookieTuple {
            peer_ip: Ipv4Addr::new(198, 18, 0, 2),
            our_ip: Ipv4Addr::new(198, 18, 0, 1),
            peer_port: 40_000,
            our_port: 80,
        }
    }

    /// The SipHash paper's Appendix A: key 00..0f, message 00..0e.
    #[test]
    fn siphash_matches_the_papers_test_vector() {
        let key = u128::from_le_bytes(core::array::from_fn(|i| i as u8));
        let msg: Vec<u8> = (0..15).collect();
        assert_eq!(siphash24(key, &msg), 0xa129_ca61_49be_45e5);
    }

    #[test]
    fn message_layout_is_big_endian_fields_in_order() {
        let m = cookie_message(&tuple(), 0x0102_0304);
        assert_eq!(m, [198, 18, 0, 2, 198, 18, 0, 1, 0x9c, 0x40, 0, 80, 1, 2, 3, 4]);
    }

    #[test]
    fn a_cookie_round_trips_with_its_mss_index() {
        let mut rng = SmallRng::seed_from_u64(0x5c00_c1e);
        for _ in 0..2_000 {
            let t = CookieTuple {
                peer_ip: Ipv4Addr::from(rng.gen::<u32>()),
                our_ip: Ipv4Addr::from(rng.gen::<u32>()),
                peer_port: rng.gen(),
                our_port: rng.gen(),
            };
            let (k0, k1, sseq, now, mi): (u128, u128, u32, u8, u8) = (rng.gen(), rng.gen(), rng.gen(), rng.gen(), rng.gen_range(0..4));
            let c = cookie_generate(k0, k1, &t, sseq, now, mi);
            assert_eq!(cookie_check(k0, k1, &t, c, sseq, now), Some(mi));
            // The previous period's cookie still counts, across the count's wrap too.
            assert_eq!(cookie_check(k0, k1, &t, c, sseq, now.wrapping_add(1)), Some(mi));
            for later in 2..=255u8 {
                assert_eq!(cookie_check(k0, k1, &t, c, sseq, now.wrapping_add(later)), None, "{later} periods on");
            }
        }
    }

    #[test]
    fn a_wrong_tuple_isn_or_key_is_rejected() {
        let t = tuple();
        let c = cookie_generate(K0, K1, &t, 1000, 7, 3);
        assert_eq!(cookie_check(K0, K1, &t, c, 1000, 7), Some(3));
        // Bits 2 and up of the cookie and the ISN are covered by the hashes.
        for bit in 2..32 {
            assert_eq!(cookie_check(K0, K1, &t, c ^ (1 << bit), 1000, 7), None, "cookie bit {bit}");
            assert_eq!(cookie_check(K0, K1, &t, c, 1000 ^ (1 << bit), 7), None, "ISN bit {bit}");
        }
        // The index is added, not hashed: moving `cookie - sseq` down by
        // less than the index gives a smaller index, as in Linux. Only one
        // who holds a valid cookie can do it, and it only lowers the MSS.
        assert_eq!(cookie_check(K0, K1, &t, c - 1, 1000, 7), Some(2));
        assert_eq!(cookie_check(K0, K1, &t, c, 1003, 7), Some(0));
        assert_eq!(cookie_check(K0, K1, &t, c + 1, 1000, 7), None);
        assert_eq!(cookie_check(K0, K1 ^ 1, &t, c, 1000, 7), None);
        assert_eq!(cookie_check(K0 ^ (1 << 100), K1, &t, c, 1000, 7), None);
        let other = [
            CookieTuple { peer_port: 40_001, ..t },
            CookieTuple { our_port: 81, ..t },
            CookieTuple { peer_ip: Ipv4Addr::new(198, 18, 0, 3), ..t },
            CookieTuple { our_ip: Ipv4Addr::new(198, 19, 0, 1), ..t },
        ];
        for o in other {
            assert_eq!(cookie_check(K0, K1, &o, c, 1000, 7), None, "{o:?}");
        }
        // A random 32-bit value passes with odds about 2 * 4 / 2^32.
        let mut rng = SmallRng::seed_from_u64(0x5c00_c1f);
        let forged = (0..100_000).filter(|_| cookie_check(K0, K1, &t, rng.gen(), 1000, 7).is_some()).count();
        assert_eq!(forged, 0);
    }

    #[test]
    fn mss_index_takes_the_largest_entry_not_above() {
        for (mss, want) in [(0, 0), (1, 0), (536, 0), (1299, 0), (1300, 1), (1439, 1), (1440, 2), (1459, 2), (1460, 3), (9000, 3), (u16::MAX, 3)] {
            assert_eq!(mss_index(mss), want, "mss {mss}");
        }
        for i in 0..4 {
            assert_eq!(mss_index(MSS_TABLE[i]), i as u8);
        }
    }

    #[test]
    fn ts_options_round_trip_and_tsval_never_moves_ahead() {
        let mut rng = SmallRng::seed_from_u64(0x5c00_c20);
        for _ in 0..20_000 {
            let o = TsCookieOptions {
                wscale: rng.gen_bool(0.8).then(|| rng.gen_range(0..=14)),
                sack_ok: rng.gen(),
                ecn_ok: rng.gen(),
            };
            // Near the wrap sometimes.
            let now: u32 = if rng.gen_bool(0.1) { rng.gen_range(0..128u32).wrapping_sub(64) } else { rng.gen() };
            let ts = ts_encode_options(now, &o);
            let back = now.wrapping_sub(ts);
            assert!(back < 64, "tsval {ts:#x} for now {now:#x}: {back} ticks back");
            assert_eq!(ts_decode_options(ts), o);
        }
        let none = TsCookieOptions { wscale: None, sack_ok: false, ecn_ok: false };
        assert_eq!(ts_encode_options(0x1000, &none), 0x1000 - 64 + 0xF);
        assert_eq!(ts_encode_options(0x100F, &none), 0x100F);
        assert_eq!(ts_decode_options(0xFFFF_FFC0 | 0x1F), TsCookieOptions { wscale: None, sack_ok: true, ecn_ok: false });
    }
}
