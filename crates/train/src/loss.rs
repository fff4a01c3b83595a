//! Loss functions: a numerically stable weighted BCE with logits, and mean squared error.

use candle_core::Tensor;

use crate::Result;

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

    #[test]
    fn mse_averages_squared_differences() {
        let a = Tensor::new(&[[1f32, 2.0], [3.0, 4.0]], &Device::Cpu).unwrap();
        let b = Tensor::new(&[[1f32, 0.0], [3.0, 1.0]], &Device::Cpu).unwrap();
        let value: f32 = mse(&a, &b).unwrap().to_scalar().unwrap();
        assert!((value - (4.0 + 9.0) / 4.0).abs() < 1e-6);
    }
}
