//! The SYN cookies' SipHash keys (COOKIE_KEY0..7, docs/syn-cookies.md).
//!
//! Both cards of a pair must hold the same keys: a promoted standby then
//! accepts the ACKs that return the dead primary's cookies. So each host
//! derives them from the pair's shared secret (`[replication] secret_file`)
//! with HMAC-SHA256 over a fixed label, as the replication link derives its
//! frame keys (`replication::wire`). A lone card has nobody to agree with:
//! its keys come from the OS RNG, new at every start (a cookie then lives
//! no longer than the card that sent it).
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use holdback_driver::CookieKeys;

/// The HMAC message; a new derivation needs a new label.
const LABEL: &[u8] = b"holdback syn-cookie keys v1";

/// The keys a pair with shared secret `secret` uses: the 32 bytes of
/// HMAC-SHA256(secret, LABEL), key0 the first 16 and key1 the last 16, each
/// little-endian (its `to_le_bytes()` are SipHash's key bytes).
pub fn pair_keys(secret: &[u8]) -> CookieKeys {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(LABEL);
    keys_from(mac.finalize().into_bytes().into())
}

/// key0 from the first 16 bytes, key1 from the last 16, each little-endian.
fn keys_from(b: [u8; 32]) -> CookieKeys {
    let (k0, k1) = b.split_at(16);
    CookieKeys {
        key0: u128::from_le_bytes(k0.try_into().expect("16 bytes")),
        key1: u128::from_le_bytes(k1.try_into().expect("16 bytes")),
    }
}

/// A lone card's keys, from the OS RNG.
pub fn random_keys() -> CookieKeys {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    keys_from(b)
}

/// The keys this daemon's card gets at setup: the pair's when it is one of
/// a pair (primary and standby alike), else random ones.
pub fn card_keys(replication: Option<&crate::config::Replication>) -> CookieKeys {
    match replication {
        Some(r) => pair_keys(&r.secret),
        None => random_keys(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pair_keys_are_hmac_sha256_of_the_label_split_little_endian() {
        // Computed apart from this code (Python's hmac and hashlib):
        // HMAC-SHA256("holdback test secret", LABEL) =
        // cd6b39d0e9c49eb23d7e371cb60c2b06 01c941d7af19a4204f77da5eab0807b8.
        let k = pair_keys(b"holdback test secret");
        assert_eq!(k.key0, 0x062b_0cb6_1c37_7e3d_b29e_c4e9_d039_6bcd);
        assert_eq!(k.key1, 0xb807_08ab_5eda_774f_20a4_19af_d741_c901);
        assert_eq!(k.key0.to_le_bytes()[..4], [0xcd, 0x6b, 0x39, 0xd0], "SipHash's key bytes are the HMAC's, in order");
    }

    #[test]
    fn both_roles_of_a_pair_get_the_same_keys_and_other_secrets_others() {
        let secret = b"0123456789abcdef0123456789abcdef";
        // Each host derives alone; nothing about the role goes in.
        assert_eq!(pair_keys(secret), pair_keys(&secret.to_vec()));
        let other = pair_keys(b"0123456789abcdef0123456789abcdeF");
        let k = pair_keys(secret);
        assert!(other.key0 != k.key0 && other.key1 != k.key1);
        assert_ne!(k.key0, k.key1, "two keys, not one twice");
    }

    #[test]
    fn a_lone_card_gets_fresh_random_keys() {
        let (a, b) = (random_keys(), random_keys());
        assert_ne!(a, b);
        assert!(a.key0 != 0 && a.key1 != 0);
    }
}
