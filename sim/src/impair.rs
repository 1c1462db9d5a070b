//! Seeded loss and reordering of the frames arriving at the simulated
//! card's port — the lab's stand-in for `tc netem` on kernels built without
//! `sch_netem` (this project's CI machines among them). It acts where netem
//! on the client's link would: on the peer → card direction, before the
//! core (and its pcap) sees the frame.
//!
//! Spelled like netem: `"loss 1% reorder 1%"`. A reordered frame is held
//! back and delivered right after the next frame (or at the next look at
//! the port if none follows), so the peer's segments arrive swapped.
use std::fmt;
use std::str::FromStr;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// What to do to arriving frames.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Impairment {
    /// Probability of dropping a frame, 0..=1.
    pub loss: f64,
    /// Probability of holding a frame back behind the next one, 0..=1.
    pub reorder: f64,
    pub seed: u64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImpairmentError {
    #[error("`{0}` is not an impairment: expected words like \"loss 1% reorder 1%\" (and optionally \"seed 7\")")]
    Syntax(String),
    #[error("`{0}` is not a percentage in 0%..=100%")]
    Percent(String),
}

fn percent(word: &str) -> Result<f64, ImpairmentError> {
    let v: f64 = word
        .strip_suffix('%')
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| ImpairmentError::Percent(word.to_string()))?;
    if !(0.0..=100.0).contains(&v) {
        return Err(ImpairmentError::Percent(word.to_string()));
    }
    Ok(v / 100.0)
}

impl FromStr for Impairment {
    type Err = ImpairmentError;
    fn from_str(s: &str) -> Result<Impairment, ImpairmentError> {
        let mut imp = Impairment { loss: 0.0, reorder: 0.0, seed: 1 };
        let words: Vec<&str> = s.split_whitespace().collect();
        if words.is_empty() || !words.len().is_multiple_of(2) {
            return Err(ImpairmentError::Syntax(s.to_string()));
        }
        for pair in words.chunks(2) {
            match pair[0] {
                "loss" => imp.loss = percent(pair[1])?,
                "reorder" => imp.reorder = percent(pair[1])?,
                "seed" => imp.seed = pair[1].parse().map_err(|_| ImpairmentError::Syntax(s.to_string()))?,
                _ => return Err(ImpairmentError::Syntax(s.to_string())),
            }
        }
        Ok(imp)
    }
}

impl fmt::Display for Impairment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "loss {}% reorder {}% seed {}", self.loss * 100.0, self.reorder * 100.0, self.seed)
    }
}

/// The running impairment: its random stream, the held frame, counters.
pub struct Impairer {
    cfg: Impairment,
    rng: SmallRng,
    held: Option<Vec<u8>>,
    pub dropped: u64,
    pub reordered: u64,
}

impl Impairer {
    pub fn new(cfg: Impairment) -> Impairer {
        Impairer { cfg, rng: SmallRng::seed_from_u64(cfg.seed), held: None, dropped: 0, reordered: 0 }
    }

    /// Passes `frame` through: `deliver` is called for what reaches the card now.
    pub fn arrive(&mut self, frame: &[u8], deliver: &mut dyn FnMut(&[u8])) {
        if self.rng.gen_bool(self.cfg.loss) {
            self.dropped += 1;
            return;
        }
        if self.held.is_none() && self.rng.gen_bool(self.cfg.reorder) {
            self.reordered += 1;
            self.held = Some(frame.to_vec());
            return;
        }
        deliver(frame);
        if let Some(h) = self.held.take() {
            deliver(&h);
        }
    }

    /// No frame followed: let the held one through (a short delay, not a loss).
    pub fn flush(&mut self, deliver: &mut dyn FnMut(&[u8])) {
        if let Some(h) = self.held.take() {
            deliver(&h);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_netem_spelling_and_refuses_nonsense() {
        let i: Impairment = "loss 1% reorder 2.5%".parse().unwrap();
        assert_eq!((i.loss, i.reorder), (0.01, 0.025));
        assert_eq!("seed 9 loss 0%".parse::<Impairment>().unwrap().seed, 9);
        assert!(matches!("loss".parse::<Impairment>(), Err(ImpairmentError::Syntax(_))));
        assert!(matches!("loss 1".parse::<Impairment>(), Err(ImpairmentError::Percent(_))));
        assert!(matches!("loss 120%".parse::<Impairment>(), Err(ImpairmentError::Percent(_))));
        assert!(matches!("jitter 1%".parse::<Impairment>(), Err(ImpairmentError::Syntax(_))));
    }

    #[test]
    fn drops_and_swaps_at_about_the_asked_rates_and_loses_nothing_else() {
        let mut imp = Impairer::new("loss 1% reorder 1% seed 3".parse().unwrap());
        let mut got: Vec<u32> = Vec::new();
        for n in 0..100_000u32 {
            imp.arrive(&n.to_be_bytes(), &mut |f| got.push(u32::from_be_bytes(f.try_into().unwrap())));
        }
        imp.flush(&mut |f| got.push(u32::from_be_bytes(f.try_into().unwrap())));
        assert!((800..1200).contains(&imp.dropped), "{}", imp.dropped);
        assert!((800..1200).contains(&imp.reordered), "{}", imp.reordered);
        assert_eq!(got.len() as u64 + imp.dropped, 100_000);
        let swaps = got.windows(2).filter(|w| w[0] > w[1]).count() as u64;
        assert!(swaps <= imp.reordered && swaps + 1 >= imp.reordered, "{swaps} swaps, {} held", imp.reordered);
    }
}
