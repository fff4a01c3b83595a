//! Dropout with masks drawn from a seeded generator, so that training is reproducible.

use candle_core::Tensor;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::Result;

/// Inverted dropout: zeroes each element with probability `p` and scales the rest by
/// `1 / (1 - p)`, so that no rescaling is needed at inference.
#[derive(Debug, Clone)]
pub struct Dropout {
    p: f64,
    rng: ChaCha8Rng,
    mask: Vec<f32>,
}

impl Dropout {
    /// Creates a dropout layer whose masks come from a generator seeded with `seed`.
    pub fn new(p: f64, seed: u64) -> Self {
        Dropout { p, rng: ChaCha8Rng::seed_from_u64(seed), mask: Vec::new() }
    }

    /// Applies a fresh mask to `x`; returns `x` unchanged when `p` is zero.
    pub fn apply(&mut self, x: &Tensor) -> Result<Tensor> {
        if self.p == 0.0 {
            return Ok(x.clone());
        }
        let keep = 1.0 - self.p;
        let scale = (1.0 / keep) as f32;
        self.mask.clear();
        for _ in 0..x.elem_count() {
            let kept = self.rng.random::<f64>() < keep;
            self.mask.push(if kept { scale } else { 0.0 });
        }
        let mask = Tensor::from_slice(&self.mask, x.shape(), x.device())?;
        Ok(x.mul(&mask)?)
    }
}
