//! Seeds of the randomised tests. Every run of a test uses the same seed
//! unless `HOLDBACK_TEST_SEED` says otherwise, and the seed is printed, so a
//! failure seen once can be replayed (`docs/testing.md`).

/// The environment variable that replaces every test's default seed.
pub const TEST_SEED_VAR: &str = "HOLDBACK_TEST_SEED";

/// The seed a randomised test runs with: `default`, or the value of
/// `HOLDBACK_TEST_SEED` (decimal, or hex with `0x`). Printed to stderr with
/// the test's name, which the test harness shows when the test fails.
///
/// # Panics
/// If `HOLDBACK_TEST_SEED` is set but is not a number: a test run with a
/// seed nobody asked for would reproduce nothing.
pub fn test_seed(default: u64) -> u64 {
    let seed = match std::env::var(TEST_SEED_VAR) {
        Ok(text) => parse_seed(&text)
            .unwrap_or_else(|| panic!("{TEST_SEED_VAR}={text:?} is not a seed: expected a decimal or 0x-hex u64")),
        Err(_) => default,
    };
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("this test");
    eprintln!("{test}: seed {seed} (rerun with {TEST_SEED_VAR}={seed})");
    seed
}

fn parse_seed(text: &str) -> Option<u64> {
    let text = text.trim();
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(&hex.replace('_', ""), 16).ok(),
        None => text.replace('_', "").parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_seed;

    #[test]
    fn seeds_parse_as_decimal_or_hex() {
        assert_eq!(parse_seed("42"), Some(42));
        assert_eq!(parse_seed(" 0x4b1d_f00d "), Some(0x4b1d_f00d));
        assert_eq!(parse_seed("0XFF"), Some(255));
        assert_eq!(parse_seed(&u64::MAX.to_string()), Some(u64::MAX));
        assert_eq!(parse_seed("seven"), None);
        assert_eq!(parse_seed("0x"), None);
        assert_eq!(parse_seed("-1"), None);
    }
}
