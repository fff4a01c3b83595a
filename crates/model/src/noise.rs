//! Standard normal noise from a seeded generator, for the reparameterisation of the VAE.

use std::f64::consts::TAU;

use candle_core::{Device, Shape, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::Result;

/// Draws independent standard normal values with the Box-Muller transform from a ChaCha
/// generator, because Candle's CPU generator cannot be seeded.
#[derive(Debug, Clone)]
pub struct GaussianNoise {
    rng: ChaCha8Rng,
    values: Vec<f32>,
}

impl GaussianNoise {
    /// Creates a source whose values come from a generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        GaussianNoise { rng: ChaCha8Rng::seed_from_u64(seed), values: Vec::new() }
    }

    /// Returns a float32 tensor of `shape` filled with fresh standard normal values.
    pub fn sample<S: Into<Shape>>(&mut self, shape: S, device: &Device) -> Result<Tensor> {
        let shape = shape.into();
        let count = shape.elem_count();
        self.values.clear();
        while self.values.len() < count {
            // u1 is in (0, 1], so its logarithm is finite.
            let u1 = 1.0 - self.rng.random::<f64>();
            let u2 = self.rng.random::<f64>();
            let radius = (-2.0 * u1.ln()).sqrt();
            self.values.push((radius * (TAU * u2).cos()) as f32);
            self.values.push((radius * (TAU * u2).sin()) as f32);
        }
        self.values.truncate(count);
        Ok(Tensor::from_slice(&self.values, shape, device)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_gives_same_noise() {
        let draw = |seed| {
            GaussianNoise::new(seed).sample((3, 5), &Device::Cpu).unwrap().flatten_all().unwrap()
        };
        assert_eq!(draw(4).to_vec1::<f32>().unwrap(), draw(4).to_vec1::<f32>().unwrap());
        assert_ne!(draw(4).to_vec1::<f32>().unwrap(), draw(5).to_vec1::<f32>().unwrap());
    }

    #[test]
    fn moments_are_standard_normal() {
        let values = GaussianNoise::new(1).sample(20_000, &Device::Cpu).unwrap();
        let values = values.to_vec1::<f32>().unwrap();
        let n = values.len() as f64;
        let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let variance = values.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n;
        // The standard error of the mean is 1 / sqrt(20000) = 0.007, that of the variance
        // sqrt(2 / 20000) = 0.01; both bounds are about four standard errors.
        assert!(mean.abs() < 0.03, "mean {mean}");
        assert!((variance - 1.0).abs() < 0.04, "variance {variance}");
    }
}
