//! PCA reconstruction baseline, fitted in float64 with a cyclic Jacobi eigen-decomposition of
//! the sample covariance matrix.
//!
//! Fitting centres the rows on their mean `μ`, computes the covariance `C = XᵀX / (n - 1)` and
//! its eigenvalues `λ_1 ≥ ... ≥ λ_d` and unit eigenvectors `v_1, ..., v_d`, and keeps the first
//! `k` components: a fixed number, or the fewest whose eigenvalues sum to the requested share
//! of the total variance, at most `d - 1`. The score of a row `x` is its squared
//! reconstruction error `‖(x - μ) - Σ_{j≤k} (v_jᵀ(x - μ)) v_j‖²`, or, when standardised,
//! `Σ_{j>k} (v_jᵀ(x - μ))² / λ_j`: the squared projections on the discarded components, each
//! divided by that component's variance (with variances below 1e-9 of the total raised to
//! that floor). Every step is deterministic.

use std::collections::HashMap;

use candle_core::{Device, Tensor};

use crate::{Error, PcaSpec, Result};

/// Floor of a component variance in the standardised score, relative to the total variance.
const VARIANCE_FLOOR: f64 = 1e-9;

/// Maximum sweeps of the Jacobi method; it converges quadratically, in well under 20 sweeps
/// for covariance matrices of up to a few hundred features.
const MAX_SWEEPS: usize = 100;

/// A fitted PCA model.
///
/// [`to_tensors`](Self::to_tensors) returns it as the tensors that
/// [`Detector::save`](crate::Detector::save) writes as safetensors: `mean` (F64, `(d,)`),
/// `eigenvalues` (F64, `(d,)`, decreasing), `eigenvectors` (F64, `(d, d)`, column `j` is `v_j`)
/// and `components` (U32, `(1,)`, the number `k` of components kept).
#[derive(Debug, Clone, PartialEq)]
pub struct Pca {
    mean: Vec<f64>,
    eigenvalues: Vec<f64>,
    /// Row-major `(d, d)`; column `j` is the `j`-th eigenvector.
    eigenvectors: Vec<f64>,
    components: usize,
    standardize: bool,
}

/// Returns the eigenvalues and eigenvectors (column `j` of a row-major `(d, d)` matrix) of the
/// symmetric row-major matrix `a`, sorted by decreasing eigenvalue.
///
/// Cyclic Jacobi method: each rotation in the `(p, q)` plane sets `a[p][q]` to zero, and sweeps
/// over every pair repeat until the off-diagonal part is negligible against the whole matrix.
pub fn symmetric_eigen(a: &[f64], d: usize) -> (Vec<f64>, Vec<f64>) {
    let mut a = a.to_vec();
    let mut v = vec![0.0; d * d];
    for i in 0..d {
        v[i * d + i] = 1.0;
    }
    let total: f64 = a.iter().map(|x| x * x).sum();
    for _ in 0..MAX_SWEEPS {
        let off_diagonal: f64 = (0..d)
            .flat_map(|i| (0..d).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * d + j] * a[i * d + j])
            .sum();
        if off_diagonal <= f64::EPSILON * f64::EPSILON * total {
            break;
        }
        for p in 0..d {
            for q in p + 1..d {
                let apq = a[p * d + q];
                if apq == 0.0 {
                    continue;
                }
                // Choose the rotation angle so that the rotated a[p][q] is zero: with
                // θ = (a_qq - a_pp) / (2 a_pq), t = tan(angle) is the smaller root of
                // t² + 2θt - 1 = 0.
                let theta = (a[q * d + q] - a[p * d + p]) / (2.0 * apq);
                let t = if theta.abs() > 1e150 {
                    0.5 / theta
                } else {
                    theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt())
                };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..d {
                    let (akp, akq) = (a[k * d + p], a[k * d + q]);
                    a[k * d + p] = c * akp - s * akq;
                    a[k * d + q] = s * akp + c * akq;
                }
                for k in 0..d {
                    let (apk, aqk) = (a[p * d + k], a[q * d + k]);
                    a[p * d + k] = c * apk - s * aqk;
                    a[q * d + k] = s * apk + c * aqk;
                }
                for k in 0..d {
                    let (vkp, vkq) = (v[k * d + p], v[k * d + q]);
                    v[k * d + p] = c * vkp - s * vkq;
                    v[k * d + q] = s * vkp + c * vkq;
                }
            }
        }
    }

    let mut order: Vec<usize> = (0..d).collect();
    order.sort_by(|&i, &j| a[j * d + j].total_cmp(&a[i * d + i]).then(i.cmp(&j)));
    let eigenvalues = order.iter().map(|&i| a[i * d + i]).collect();
    let mut eigenvectors = vec![0.0; d * d];
    for (column, &i) in order.iter().enumerate() {
        for row in 0..d {
            eigenvectors[row * d + column] = v[row * d + i];
        }
    }
    (eigenvalues, eigenvectors)
}

impl Pca {
    /// Fits the model on the rows of a row-major matrix with `spec.features.len()` columns.
    ///
    /// Fails when there are fewer than 2 rows or every row is the same, since no direction of
    /// variance exists then.
    pub fn fit(spec: &PcaSpec, values: &[f32]) -> Result<Pca> {
        let d = spec.features.len();
        let n = values.len() / d.max(1);
        if n < 2 || values.len() != n * d {
            return Err(Error::InvalidData(format!(
                "PCA needs at least 2 rows of {d} values, got {} values",
                values.len()
            )));
        }

        let mut mean = vec![0.0; d];
        for row in values.chunks_exact(d) {
            for (m, &x) in mean.iter_mut().zip(row) {
                *m += f64::from(x);
            }
        }
        for m in &mut mean {
            *m /= n as f64;
        }
        let mut covariance = vec![0.0; d * d];
        let mut centred = vec![0.0; d];
        for row in values.chunks_exact(d) {
            for (c, (&x, &m)) in centred.iter_mut().zip(row.iter().zip(&mean)) {
                *c = f64::from(x) - m;
            }
            for i in 0..d {
                for j in i..d {
                    covariance[i * d + j] += centred[i] * centred[j];
                }
            }
        }
        for i in 0..d {
            for j in i..d {
                covariance[i * d + j] /= (n - 1) as f64;
                covariance[j * d + i] = covariance[i * d + j];
            }
        }

        let (mut eigenvalues, eigenvectors) = symmetric_eigen(&covariance, d);
        // Rounding can leave eigenvalues of a singular covariance slightly negative.
        for lambda in &mut eigenvalues {
            *lambda = lambda.max(0.0);
        }
        let total: f64 = eigenvalues.iter().sum();
        if total <= 0.0 {
            return Err(Error::InvalidData(
                "every training row is the same, so PCA finds no direction of variance".into(),
            ));
        }
        let components = match spec.components {
            Some(components) => components,
            None => {
                let mut explained = 0.0;
                let mut kept = 0;
                while kept < d - 1 && explained < spec.variance * total {
                    explained += eigenvalues[kept];
                    kept += 1;
                }
                kept.max(1)
            }
        };
        Ok(Pca { mean, eigenvalues, eigenvectors, components, standardize: spec.standardize })
    }

    /// Returns the number of components kept.
    pub fn components(&self) -> usize {
        self.components
    }

    /// Returns the eigenvalues of the covariance matrix, decreasing.
    pub fn eigenvalues(&self) -> &[f64] {
        &self.eigenvalues
    }

    /// Returns the share of the total variance that the kept components explain.
    pub fn explained_variance(&self) -> f64 {
        let total: f64 = self.eigenvalues.iter().sum();
        self.eigenvalues[..self.components].iter().sum::<f64>() / total
    }

    /// Returns the score of one row: the squared reconstruction error, or its standardised
    /// form when the spec sets `standardize` (see the module documentation).
    pub fn score_row(&self, row: &[f32]) -> f64 {
        let d = self.mean.len();
        let centred: Vec<f64> =
            row.iter().zip(&self.mean).map(|(&x, &m)| f64::from(x) - m).collect();
        let projection =
            |j: usize| -> f64 { (0..d).map(|i| self.eigenvectors[i * d + j] * centred[i]).sum() };
        if self.standardize {
            let floor = VARIANCE_FLOOR * self.eigenvalues.iter().sum::<f64>();
            return (self.components..d)
                .map(|j| projection(j).powi(2) / self.eigenvalues[j].max(floor))
                .sum();
        }
        let mut residual = centred.clone();
        for j in 0..self.components {
            let y = projection(j);
            for (i, r) in residual.iter_mut().enumerate() {
                *r -= y * self.eigenvectors[i * d + j];
            }
        }
        residual.iter().map(|r| r * r).sum()
    }

    /// Returns the score of every row of a row-major matrix.
    pub fn score_rows(&self, values: &[f32]) -> Vec<f64> {
        values.chunks_exact(self.mean.len()).map(|row| self.score_row(row)).collect()
    }

    /// Returns the tensors described in the type's documentation, on the CPU.
    pub fn to_tensors(&self) -> Result<HashMap<String, Tensor>> {
        let d = self.mean.len();
        let cpu = &Device::Cpu;
        Ok(HashMap::from([
            ("mean".to_string(), Tensor::from_slice(&self.mean, d, cpu)?),
            ("eigenvalues".to_string(), Tensor::from_slice(&self.eigenvalues, d, cpu)?),
            ("eigenvectors".to_string(), Tensor::from_slice(&self.eigenvectors, (d, d), cpu)?),
            ("components".to_string(), Tensor::from_vec(vec![self.components as u32], 1, cpu)?),
        ]))
    }

    /// Rebuilds a model from its tensors and checks their shapes against `spec`.
    pub fn from_tensors(
        spec: &PcaSpec,
        tensors: &HashMap<String, Tensor>,
    ) -> std::result::Result<Pca, String> {
        let d = spec.features.len();
        let get =
            |name: &str| tensors.get(name).ok_or_else(|| format!("tensor `{name}` is missing"));
        let f64s = |name: &str, len: usize| -> std::result::Result<Vec<f64>, String> {
            let values = get(name)?
                .flatten_all()
                .and_then(|t| t.to_vec1::<f64>())
                .map_err(|e| format!("tensor `{name}`: {e}"))?;
            if values.len() != len {
                return Err(format!("tensor `{name}` has {} values, expected {len}", values.len()));
            }
            Ok(values)
        };
        let mean = f64s("mean", d)?;
        let eigenvalues = f64s("eigenvalues", d)?;
        let eigenvectors = f64s("eigenvectors", d * d)?;
        let components =
            get("components")?.to_vec1::<u32>().map_err(|e| format!("tensor `components`: {e}"))?;
        let components = match components.as_slice() {
            &[k] if (k as usize) < d => k as usize,
            other => {
                return Err(format!(
                    "tensor `components` is {other:?}, expected one value below {d}"
                ));
            }
        };
        Ok(Pca { mean, eigenvalues, eigenvectors, components, standardize: spec.standardize })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(d: usize, components: Option<usize>, variance: f64, standardize: bool) -> PcaSpec {
        PcaSpec {
            features: (0..d).map(|i| format!("f{i}")).collect(),
            components,
            variance,
            standardize,
        }
    }

    /// Points on the line (1, 2, 3) + t (1, -1, 2) for t = -2, -1.5, ..., 2.
    fn line() -> Vec<f32> {
        (0..9)
            .flat_map(|i| {
                let t = -2.0 + 0.5 * i as f32;
                [1.0 + t, 2.0 - t, 3.0 + 2.0 * t]
            })
            .collect()
    }

    #[test]
    fn eigen_of_a_known_matrix() {
        // [[2, 1], [1, 2]] has eigenvalues 3 and 1 with eigenvectors (1, 1)/√2 and (1, -1)/√2.
        let (values, vectors) = symmetric_eigen(&[2.0, 1.0, 1.0, 2.0], 2);
        assert!((values[0] - 3.0).abs() < 1e-12, "{values:?}");
        assert!((values[1] - 1.0).abs() < 1e-12, "{values:?}");
        let half = std::f64::consts::FRAC_1_SQRT_2;
        assert!((vectors[0].abs() - half).abs() < 1e-12, "{vectors:?}");
        assert!((vectors[2].abs() - half).abs() < 1e-12, "{vectors:?}");
        assert!(vectors[0] * vectors[2] > 0.0, "first eigenvector is along (1, 1): {vectors:?}");
        assert!(vectors[1] * vectors[3] < 0.0, "second eigenvector is along (1, -1): {vectors:?}");
    }

    #[test]
    fn eigen_decomposition_reconstructs_the_matrix() {
        // A symmetric 4 x 4 matrix with distinct eigenvalues: V diag(λ) Vᵀ must give it back.
        let a =
            [4.0, 1.0, -2.0, 0.5, 1.0, 3.0, 0.0, 1.5, -2.0, 0.0, 5.0, -1.0, 0.5, 1.5, -1.0, 2.0];
        let (values, v) = symmetric_eigen(&a, 4);
        assert!(values.windows(2).all(|w| w[0] >= w[1]), "{values:?}");
        for i in 0..4 {
            for j in 0..4 {
                let rebuilt: f64 = (0..4).map(|k| v[i * 4 + k] * values[k] * v[j * 4 + k]).sum();
                assert!((rebuilt - a[i * 4 + j]).abs() < 1e-12, "({i}, {j}): {rebuilt}");
            }
        }
    }

    #[test]
    fn points_on_the_line_have_zero_error() {
        let pca = Pca::fit(&spec(3, None, 0.95, false), &line()).unwrap();
        assert_eq!(pca.components(), 1);
        assert!((pca.explained_variance() - 1.0).abs() < 1e-12);
        for score in pca.score_rows(&line()) {
            assert!(score < 1e-10, "{score}");
        }
        // (1, 2, 3) + 7 (1, -1, 2) lies on the line, outside the training range.
        assert!(pca.score_row(&[8.0, -5.0, 17.0]) < 1e-9);
        // (1, 2, 3) + (1, 1, 0) is off the line; (1, 1, 0) is orthogonal to the direction
        // (1, -1, 2), so the squared error is |(1, 1, 0)|² = 2.
        assert!((pca.score_row(&[2.0, 3.0, 3.0]) - 2.0).abs() < 1e-9);
    }

    #[test]
    fn variance_share_picks_the_components() {
        // Columns with variances 100, 10 and 1 (independent by construction): the first
        // component explains 100 / 111 = 0.90 of the variance, the first two 110 / 111 = 0.99.
        let values: Vec<f32> = [-1.0f32, 1.0]
            .iter()
            .flat_map(|&a| [-1.0f32, 1.0].map(move |b| (a, b)))
            .flat_map(|(a, b)| [-1.0f32, 1.0].map(move |c| [10.0 * a, 10f32.sqrt() * b, c]))
            .flatten()
            .collect();
        assert_eq!(Pca::fit(&spec(3, None, 0.85, false), &values).unwrap().components(), 1);
        assert_eq!(Pca::fit(&spec(3, None, 0.95, false), &values).unwrap().components(), 2);
        assert_eq!(Pca::fit(&spec(3, None, 0.999, false), &values).unwrap().components(), 2);
        assert_eq!(Pca::fit(&spec(3, Some(1), 0.999, false), &values).unwrap().components(), 1);
    }

    #[test]
    fn standardized_score_divides_by_variance() {
        // Same cube as above, with sample variances 800/7, 80/7 and 8/7 (n - 1 = 7). Keeping one
        // component, the point (0, 2, 2) has projections 2 and 2 on the discarded axes, so its
        // standardised score is 4 / (80/7) + 4 / (8/7) = 0.35 + 3.5 = 3.85.
        let values: Vec<f32> = [-1.0f32, 1.0]
            .iter()
            .flat_map(|&a| [-1.0f32, 1.0].map(move |b| (a, b)))
            .flat_map(|(a, b)| [-1.0f32, 1.0].map(move |c| [10.0 * a, 10f32.sqrt() * b, c]))
            .flatten()
            .collect();
        let pca = Pca::fit(&spec(3, Some(1), 0.9, true), &values).unwrap();
        assert!((pca.score_row(&[0.0, 2.0, 2.0]) - 3.85).abs() < 1e-6);
        let plain = Pca::fit(&spec(3, Some(1), 0.9, false), &values).unwrap();
        assert!((plain.score_row(&[0.0, 2.0, 2.0]) - 8.0).abs() < 1e-9);
    }

    #[test]
    fn identical_rows_are_rejected() {
        let error = Pca::fit(&spec(2, None, 0.9, false), &[1.0; 8]).unwrap_err().to_string();
        assert!(error.contains("every training row is the same"), "{error}");
    }

    #[test]
    fn tensors_round_trip() {
        let pca = Pca::fit(&spec(3, None, 0.95, true), &line()).unwrap();
        let rebuilt = Pca::from_tensors(&spec(3, None, 0.95, true), &pca.to_tensors().unwrap());
        assert_eq!(rebuilt.unwrap(), pca);
        let error = Pca::from_tensors(&spec(4, None, 0.95, true), &pca.to_tensors().unwrap());
        assert!(error.unwrap_err().contains("expected 4"));
    }
}
