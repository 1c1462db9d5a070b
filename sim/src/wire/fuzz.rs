//! Seeded random frames for robustness tests: random bytes, random mutations
//! of valid templates (with or without repaired checksums) and truncations.
//! Self-contained (SplitMix64) so the library needs no `rand`.
use super::corrupt;

/// SplitMix64 (Steele et al.): tiny, seedable, good enough for test input.
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0; slight modulo bias is irrelevant here).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}

/// Which kind of frame [`FrameFuzzer::next_frame`] made, for statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FuzzKind {
    RandomBytes,
    Mutated,
    MutatedRepaired,
    Truncated,
    Oversize,
}

/// Draws frames around a set of valid templates.
#[derive(Debug, Clone)]
pub struct FrameFuzzer {
    pub rng: SplitMix64,
    templates: Vec<Vec<u8>>,
}

impl FrameFuzzer {
    pub fn new(seed: u64, templates: Vec<Vec<u8>>) -> FrameFuzzer {
        FrameFuzzer { rng: SplitMix64(seed), templates }
    }

    pub fn next_frame(&mut self) -> (FuzzKind, Vec<u8>) {
        let r = &mut self.rng;
        let pick = r.below(100);
        // Never empty: a stream cannot carry a zero-byte frame.
        if pick < 10 || self.templates.is_empty() {
            let n = 1 + r.below(200);
            return (FuzzKind::RandomBytes, r.bytes(n));
        }
        if pick < 12 {
            let n = 2049 + r.below(200);
            return (FuzzKind::Oversize, r.bytes(n));
        }
        let mut f = self.templates[r.below(self.templates.len())].clone();
        if pick < 30 && f.len() > 1 {
            let n = 1 + r.below(f.len() - 1);
            f.truncate(n);
            return (FuzzKind::Truncated, f);
        }
        // Flip 1-4 bytes, biased to the headers (first 60 bytes).
        for _ in 0..1 + r.below(4) {
            let span = if r.chance(80) { f.len().min(60) } else { f.len() };
            let at = r.below(span);
            f[at] ^= (r.next_u64() as u8) | 1;
        }
        if r.chance(20) {
            let extra = r.below(20);
            f.extend(r.bytes(extra));
        }
        if r.chance(50) {
            (FuzzKind::MutatedRepaired, corrupt::fix_checksums(f))
        } else {
            (FuzzKind::Mutated, f)
        }
    }
}
