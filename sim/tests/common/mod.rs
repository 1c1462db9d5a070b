//! Helpers shared by the block testbenches. Each testbench decodes frames with
//! its own small readers, independent of `holdback_sim::wire`, so the RTL is not
//! checked against the same code that built its stimulus.
#![allow(dead_code)] // each test binary uses its own subset

pub fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

pub fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

pub fn mac_u64(m: &[u8]) -> u64 {
    m[..6].iter().fold(0, |a, &b| (a << 8) | b as u64)
}
