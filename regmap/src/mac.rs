//! 48-bit Ethernet addresses, as the card's registers and TCBs hold them.
use std::fmt;
use std::str::FromStr;

use serde::{de::Error as _, Deserialize, Deserializer, Serialize, Serializer};

/// A 48-bit Ethernet (MAC) address, byte 0 first on the wire. Shown and
/// parsed as six two-digit lower-case hex bytes: `02:48:4c:44:42:01`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MacAddr(pub [u8; 6]);

/// Why text is not a MAC address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MacParseError {
    #[error("\"{text}\" is not a MAC address: it has {found} ':'-separated groups, expected six two-digit hex bytes like \"02:48:4c:44:42:01\"")]
    Groups { text: String, found: usize },
    #[error(
        "\"{text}\" is not a MAC address: group {index} (\"{group}\") is not a two-digit hex byte"
    )]
    Byte {
        text: String,
        index: usize,
        group: String,
    },
}

impl MacAddr {
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    /// As a 48-bit number, byte 0 in bits 47:40 (the RTL's 48-bit signals).
    pub fn to_u64(self) -> u64 {
        self.0
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
    }
    /// The low 48 bits of `v` (byte 0 from bits 47:40).
    pub fn from_u64(v: u64) -> MacAddr {
        let b = v.to_be_bytes();
        MacAddr([b[2], b[3], b[4], b[5], b[6], b[7]])
    }
    /// Split as the 32-bit registers hold it: bytes 0-1 big-endian in the
    /// low half of the first word (`MAC_HI`, TCB `REMOTE_MAC_HI`), bytes 2-5
    /// big-endian in the second (`MAC_LO`, TCB `REMOTE_MAC_LO`).
    pub fn to_words(self) -> (u16, u32) {
        let b = self.0;
        (
            u16::from_be_bytes([b[0], b[1]]),
            u32::from_be_bytes([b[2], b[3], b[4], b[5]]),
        )
    }
    /// The inverse of [`MacAddr::to_words`].
    pub fn from_words(hi: u16, lo: u32) -> MacAddr {
        let (h, l) = (hi.to_be_bytes(), lo.to_be_bytes());
        MacAddr([h[0], h[1], l[0], l[1], l[2], l[3]])
    }
    /// The group bit (I/G, bit 0 of byte 0): multicast or broadcast, never
    /// the address of one station.
    pub fn is_group(self) -> bool {
        self.0[0] & 1 != 0
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for MacAddr {
    type Err = MacParseError;

    /// Six ':'-separated two-digit hex bytes, either case.
    fn from_str(text: &str) -> Result<MacAddr, MacParseError> {
        let groups: Vec<&str> = text.split(':').collect();
        if groups.len() != 6 {
            return Err(MacParseError::Groups {
                text: text.to_string(),
                found: groups.len(),
            });
        }
        let mut mac = [0u8; 6];
        for (index, (group, byte)) in groups.iter().zip(mac.iter_mut()).enumerate() {
            let parsed = (group.len() == 2 && group.bytes().all(|c| c.is_ascii_hexdigit()))
                .then(|| u8::from_str_radix(group, 16).ok())
                .flatten();
            *byte = parsed.ok_or_else(|| MacParseError::Byte {
                text: text.to_string(),
                index,
                group: group.to_string(),
            })?;
        }
        Ok(MacAddr(mac))
    }
}

/// As its text form (`"02:48:4c:44:42:01"`), the way configs and reports show it.
impl Serialize for MacAddr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MacAddr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<MacAddr, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips() {
        let m = MacAddr([0x02, 0x48, 0x4c, 0x44, 0x42, 0xab]);
        assert_eq!(m.to_string(), "02:48:4c:44:42:ab");
        assert_eq!(format!("{m:?}"), "02:48:4c:44:42:ab");
        assert_eq!("02:48:4C:44:42:AB".parse::<MacAddr>(), Ok(m));
        assert_eq!(serde_json::to_value(m).unwrap(), "02:48:4c:44:42:ab");
        assert_eq!(serde_json::from_str::<MacAddr>("\"02:48:4c:44:42:ab\"").unwrap(), m);
        assert!(serde_json::from_str::<MacAddr>("\"02:48:4c\"").is_err());
    }

    #[test]
    fn parse_refuses_with_the_reason() {
        assert!(matches!(
            "02:48:4c".parse::<MacAddr>(),
            Err(MacParseError::Groups { found: 3, .. })
        ));
        assert!(matches!(
            "02:48:4c:44:42:01:07".parse::<MacAddr>(),
            Err(MacParseError::Groups { found: 7, .. })
        ));
        assert!(matches!(
            "02:48:4c:4:42:01".parse::<MacAddr>(),
            Err(MacParseError::Byte { index: 3, .. })
        ));
        assert!(matches!(
            "02:48:4c:+4:42:01".parse::<MacAddr>(),
            Err(MacParseError::Byte { index: 3, .. })
        ));
        assert!(matches!(
            "02:48:4c:44:42:zz".parse::<MacAddr>(),
            Err(MacParseError::Byte { index: 5, .. })
        ));
        let e = "02:48:4c".parse::<MacAddr>().unwrap_err().to_string();
        assert!(e.contains("is not a MAC address"), "{e}");
    }

    #[test]
    fn register_words_and_u64_agree() {
        let m = MacAddr([1, 2, 3, 4, 5, 6]);
        assert_eq!(m.to_words(), (0x0102, 0x0304_0506));
        assert_eq!(MacAddr::from_words(0x0102, 0x0304_0506), m);
        assert_eq!(m.to_u64(), 0x0102_0304_0506);
        assert_eq!(MacAddr::from_u64(0xffff_0102_0304_0506), m);
        assert!(MacAddr::BROADCAST.is_group() && m.is_group());
        assert!(!MacAddr([2, 0, 0, 0, 0, 1]).is_group());
    }
}
