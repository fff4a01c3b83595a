//! Loss functions: numerically stable weighted BCE and focal loss with logits, mean squared
//! error, the VAE loss and the Deep SVDD loss.

use candle_core::Tensor;
use model::VaeOutput;

use crate::Result;

/// Returns `ln(1 + exp(x))` per element, computed as `max(x, 0) + ln(1 + exp(-|x|))` so that it
/// stays finite for any `x`.
fn softplus(x: &Tensor) -> Result<Tensor> {
    Ok((x.relu()? + x.abs()?.neg()?.exp()?.affine(1.0, 1.0)?.log()?)?)
}

/// Returns the weighted binary cross-entropy of `logits` against `targets`, averaged over rows.
///
/// Per element `l = max(x, 0) - x * y + ln(1 + exp(-|x|))`, which equals
/// `-(y ln σ(x) + (1 - y) ln(1 - σ(x)))` but stays finite for any logit. Each element is
/// multiplied by its weight (the positive weight for anomalies, 1 otherwise) before the mean,
/// as PyTorch's `pos_weight` does. All three tensors have shape `(rows, 1)`.
pub fn weighted_bce_with_logits(
    logits: &Tensor,
    targets: &Tensor,
    weights: &Tensor,
) -> Result<Tensor> {
    let softplus_of_negative_abs = logits.abs()?.neg()?.exp()?.affine(1.0, 1.0)?.log()?;
    let per_element = ((logits.relu()? - logits.mul(targets)?)? + softplus_of_negative_abs)?;
    Ok(per_element.mul(weights)?.mean_all()?)
}

/// Returns the weighted focal loss (Lin et al., "Focal Loss for Dense Object Detection",
/// ICCV 2017) of `logits` against `targets`, averaged over rows.
///
/// Per element `l = α_t (1 - p_t)^γ * bce`, where `p_t` is the predicted probability of the
/// true class, `bce = -ln p_t` is the term of [`weighted_bce_with_logits`], and `α_t` is `alpha`
/// for anomalies and `1 - alpha` for normal rows (1 for both when `alpha` is `None`). The factor
/// `(1 - p_t)^γ` is computed as `exp(-γ softplus(-s))` with `s = (1 - 2y) x`, because
/// `1 - p_t = σ(s)`; this keeps it and its gradient finite when `p_t` rounds to 1. Each element
/// is then multiplied by its weight, as in [`weighted_bce_with_logits`]. With `gamma = 0` and no
/// `alpha` the result equals the weighted BCE. All three tensors have shape `(rows, 1)`.
pub fn weighted_focal_with_logits(
    logits: &Tensor,
    targets: &Tensor,
    weights: &Tensor,
    gamma: f64,
    alpha: Option<f64>,
) -> Result<Tensor> {
    let softplus_of_negative_abs = logits.abs()?.neg()?.exp()?.affine(1.0, 1.0)?.log()?;
    let bce = ((logits.relu()? - logits.mul(targets)?)? + softplus_of_negative_abs)?;
    let wrong_class_logit = targets.affine(-2.0, 1.0)?.mul(logits)?;
    let modulating = softplus(&wrong_class_logit.neg()?)?.affine(-gamma, 0.0)?.exp()?;
    let mut per_element = bce.mul(&modulating)?;
    if let Some(alpha) = alpha {
        let alpha_t = targets.affine(2.0 * alpha - 1.0, 1.0 - alpha)?;
        per_element = per_element.mul(&alpha_t)?;
    }
    Ok(per_element.mul(weights)?.mean_all()?)
}

/// Returns the VAE loss of a batch: the mean squared reconstruction error over all elements
/// plus `beta` times the mean over rows of the KL divergence of each row's latent Gaussian from
/// the standard normal prior.
///
/// Both terms are per-row means over the batch, so the loss is the mean of the rows'
/// `mse_row + beta * KL_row`.
pub fn vae_loss(output: &VaeOutput, input: &Tensor, beta: f64) -> Result<Tensor> {
    let reconstruction = mse(&output.reconstruction, input)?;
    let kl = model::kl_divergence(&output.mean, &output.log_variance)?.mean_all()?;
    Ok((reconstruction + kl.affine(beta, 0.0)?)?)
}

/// Returns the mean of the squared distances `(rows,)` of the Deep SVDD outputs to the centre.
pub fn svdd_loss(squared_distances: &Tensor) -> Result<Tensor> {
    Ok(squared_distances.mean_all()?)
}

/// Returns the mean squared error between a reconstruction and its input, over all elements.
pub fn mse(reconstruction: &Tensor, input: &Tensor) -> Result<Tensor> {
    Ok(reconstruction.sub(input)?.sqr()?.mean_all()?)
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    fn bce(logit: f32, target: f32, weight: f32) -> f32 {
        let t = |v: f32| Tensor::new(&[[v]], &Device::Cpu).unwrap();
        weighted_bce_with_logits(&t(logit), &t(target), &t(weight)).unwrap().to_scalar().unwrap()
    }

    #[test]
    fn matches_the_textbook_formula() {
        // -ln(sigmoid(0.5)) = ln(1 + e^-0.5) = 0.474076984...
        assert!((bce(0.5, 1.0, 1.0) - 0.474_077).abs() < 1e-6);
        // -ln(1 - sigmoid(0.5)) = ln(1 + e^0.5) = 0.974076984...
        assert!((bce(0.5, 0.0, 1.0) - 0.974_077).abs() < 1e-6);
        assert!((bce(0.5, 1.0, 3.0) - 3.0 * 0.474_077).abs() < 1e-5);
    }

    #[test]
    fn stays_finite_for_saturated_logits() {
        assert_eq!(bce(200.0, 1.0, 1.0), 0.0);
        assert!((bce(-200.0, 1.0, 1.0) - 200.0).abs() < 1e-3);
        assert!((bce(200.0, 0.0, 1.0) - 200.0).abs() < 1e-3);
    }

    fn focal(logit: f32, target: f32, weight: f32, gamma: f64, alpha: Option<f64>) -> f32 {
        let t = |v: f32| Tensor::new(&[[v]], &Device::Cpu).unwrap();
        weighted_focal_with_logits(&t(logit), &t(target), &t(weight), gamma, alpha)
            .unwrap()
            .to_scalar()
            .unwrap()
    }

    #[test]
    fn focal_matches_a_hand_computation() {
        // p = σ(0.5) = 0.6224593. Anomaly: α (1 - p)² (-ln p) with α = 0.25:
        // 0.25 * 0.3775407² * 0.4740770 = 0.0168934. Normal row: (1 - α) p² (-ln(1 - p)):
        // 0.75 * 0.6224593² * 0.9740770 = 0.2830587.
        assert!((focal(0.5, 1.0, 1.0, 2.0, Some(0.25)) - 0.016_893_4).abs() < 1e-6);
        assert!((focal(0.5, 0.0, 1.0, 2.0, Some(0.25)) - 0.283_058_7).abs() < 1e-6);
        // p = σ(-3) = 0.0474259, anomaly with weight 4 and no α: 4 (1 - p)² (-ln p) = 11.0651218.
        assert!((focal(-3.0, 1.0, 4.0, 2.0, None) - 11.065_122).abs() < 1e-4);
        // A confident correct prediction contributes almost nothing: p² (-ln(1 - p)) for a
        // normal row at logit -3 is 0.0001093.
        assert!((focal(-3.0, 0.0, 1.0, 2.0, None) - 0.000_109_28).abs() < 1e-8);
    }

    #[test]
    fn focal_averages_over_rows() {
        // Mean of (0.25 * 0.3775407² * 0.4740770 * 3) and (0.75 * σ(2)² * -ln(1 - σ(2))):
        // (0.0506801 + 1.2375586) / 2 = 0.6441194.
        let logits = Tensor::new(&[[0.5f32], [2.0]], &Device::Cpu).unwrap();
        let targets = Tensor::new(&[[1f32], [0.0]], &Device::Cpu).unwrap();
        let weights = Tensor::new(&[[3f32], [1.0]], &Device::Cpu).unwrap();
        let value: f32 = weighted_focal_with_logits(&logits, &targets, &weights, 2.0, Some(0.25))
            .unwrap()
            .to_scalar()
            .unwrap();
        assert!((value - 0.644_119_4).abs() < 1e-6, "{value}");
    }

    #[test]
    fn focal_with_gamma_zero_is_bce() {
        for (logit, target, weight) in [(0.5, 1.0, 1.0), (-2.0, 0.0, 1.0), (3.0, 1.0, 7.5)] {
            assert_eq!(focal(logit, target, weight, 0.0, None), bce(logit, target, weight));
        }
    }

    #[test]
    fn focal_stays_finite_for_saturated_logits() {
        for gamma in [0.5, 2.0] {
            assert_eq!(focal(200.0, 1.0, 1.0, gamma, None), 0.0);
            assert!(focal(-200.0, 1.0, 1.0, gamma, None).is_finite());
        }
        // The gradient of (1 - p_t)^γ with γ < 1 is infinite where 1 - p_t is 0; the form
        // exp(-γ softplus(-s)) never reaches 0 at this logit.
        let logits = candle_core::Var::new(&[[30f32]], &Device::Cpu).unwrap();
        let one = Tensor::new(&[[1f32]], &Device::Cpu).unwrap();
        let loss = weighted_focal_with_logits(logits.as_tensor(), &one, &one, 0.5, None).unwrap();
        let gradient = loss.backward().unwrap().get(&logits).unwrap().to_vec2::<f32>().unwrap();
        assert!(gradient[0][0].is_finite(), "{gradient:?}");
    }

    #[test]
    fn vae_loss_adds_weighted_kl() {
        // Row 1 reconstructs with squared errors (1, 0) and has latent N(1, 1): KL = 1/2.
        // Row 2 reconstructs exactly and has latent N(0, 1): KL = 0. The loss is the mean
        // squared error 1/4 plus beta = 2 times the mean KL 1/4, so 0.75.
        let input = Tensor::new(&[[1f32, 2.0], [3.0, 4.0]], &Device::Cpu).unwrap();
        let output = VaeOutput {
            reconstruction: Tensor::new(&[[0f32, 2.0], [3.0, 4.0]], &Device::Cpu).unwrap(),
            mean: Tensor::new(&[[1f32], [0.0]], &Device::Cpu).unwrap(),
            log_variance: Tensor::new(&[[0f32], [0.0]], &Device::Cpu).unwrap(),
        };
        let value: f32 = vae_loss(&output, &input, 2.0).unwrap().to_scalar().unwrap();
        assert!((value - 0.75).abs() < 1e-6, "{value}");
    }

    #[test]
    fn mse_averages_squared_differences() {
        let a = Tensor::new(&[[1f32, 2.0], [3.0, 4.0]], &Device::Cpu).unwrap();
        let b = Tensor::new(&[[1f32, 0.0], [3.0, 1.0]], &Device::Cpu).unwrap();
        let value: f32 = mse(&a, &b).unwrap().to_scalar().unwrap();
        assert!((value - (4.0 + 9.0) / 4.0).abs() < 1e-6);
    }
}
