//! The Internet checksum (RFC 1071) where the core computes it its own way:
//! the incremental update of an ICMP echo reply (RFC 1624), which the model
//! must reproduce bit for bit (including for a request whose checksum was
//! wrong), and the byte sums `hex` prints. Every checksum a packet carries is
//! computed and verified by smoltcp.

/// Ones'-complement sum of `data` as big-endian 16-bit words (odd tail padded
/// with zero), not yet folded.
pub fn sum(data: &[u8]) -> u32 {
    let mut acc = 0u32;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
        acc = (acc & 0xffff) + (acc >> 16);
    }
    if let [last] = chunks.remainder() {
        acc += u32::from(*last) << 8;
    }
    acc
}

/// Fold carries into 16 bits (end-around carry).
pub fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// RFC 1624 eqn. 3: the new checksum after a 16-bit word of the covered data
/// changes from `old_word` to `new_word`: `HC' = ~(~HC + ~m + m')`.
pub fn adjust(old_checksum: u16, old_word: u16, new_word: u16) -> u16 {
    !fold(u32::from(!old_checksum) + u32::from(!old_word) + u32::from(new_word))
}

/// The checksum field value for `data` (complement of the folded sum), for
/// the corruption helpers' headers that no well-formed packet view covers
/// (an IHL below 5 with the fixed 20 bytes still summed).
pub fn of(data: &[u8]) -> u16 {
    !fold(sum(data))
}
