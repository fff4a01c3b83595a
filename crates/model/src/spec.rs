//! The model specification written as `model.json` beside the weights.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The family of detector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// A supervised classifier; its score is the predicted probability of an anomaly.
    Mlp,
    /// A reconstruction model; its score is the mean squared reconstruction error of a row.
    Autoencoder,
}

impl ModelKind {
    /// Returns the lowercase name used in configs and artifacts.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Mlp => "mlp",
            ModelKind::Autoencoder => "autoencoder",
        }
    }

    /// Returns what the score of this kind of model measures.
    pub fn score_name(self) -> &'static str {
        match self {
            ModelKind::Mlp => "probability",
            ModelKind::Autoencoder => "reconstruction_error",
        }
    }
}

/// The non-linearity applied after each hidden layer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// max(0, x).
    #[default]
    Relu,
    /// Leaky ReLU with slope 0.01 for negative inputs.
    LeakyRelu,
    /// The Gaussian error linear unit (tanh approximation).
    Gelu,
    /// x * sigmoid(x).
    Silu,
    /// The hyperbolic tangent.
    Tanh,
}

/// Everything needed to rebuild a model: kind, input features and layer sizes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    /// The family of detector.
    pub kind: ModelKind,
    /// Input feature names, in the column order the model expects.
    pub features: Vec<String>,
    /// Hidden layer widths: for the MLP the hidden layers before the single logit, for the
    /// autoencoder the encoder layers, the last being the bottleneck; the decoder mirrors them.
    pub hidden: Vec<usize>,
    /// Activation after each hidden layer.
    pub activation: Activation,
    /// Dropout probability after each hidden activation, used only while training.
    pub dropout: f64,
}

impl ModelSpec {
    /// Returns the number of input features.
    pub fn input_dim(&self) -> usize {
        self.features.len()
    }

    /// Checks that the layer sizes and dropout make a buildable model.
    pub fn validate(&self) -> Result<()> {
        if self.features.is_empty() {
            return Err(Error::InvalidSpec("the model has no input features".into()));
        }
        if self.hidden.contains(&0) {
            return Err(Error::InvalidSpec(format!(
                "layer widths must be positive, got {:?}",
                self.hidden
            )));
        }
        if self.kind == ModelKind::Autoencoder && self.hidden.is_empty() {
            return Err(Error::InvalidSpec(
                "an autoencoder needs at least one encoder layer (the bottleneck)".into(),
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(Error::InvalidSpec(format!(
                "dropout must be in [0, 1), got {}",
                self.dropout
            )));
        }
        Ok(())
    }

    /// Returns the (input, output) width of every linear layer in order.
    pub fn layer_shapes(&self) -> Vec<(usize, usize)> {
        let mut widths = vec![self.input_dim()];
        widths.extend(&self.hidden);
        match self.kind {
            ModelKind::Mlp => widths.push(1),
            ModelKind::Autoencoder => {
                widths.extend(self.hidden.iter().rev().skip(1));
                widths.push(self.input_dim());
            }
        }
        widths.windows(2).map(|pair| (pair[0], pair[1])).collect()
    }

    /// Returns the number of trainable parameters.
    pub fn parameter_count(&self) -> u64 {
        self.layer_shapes().iter().map(|&(i, o)| (i * o + o) as u64).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: ModelKind, hidden: Vec<usize>) -> ModelSpec {
        let features = (0..30).map(|i| format!("f{i}")).collect();
        ModelSpec { kind, features, hidden, activation: Activation::Relu, dropout: 0.0 }
    }

    #[test]
    fn autoencoder_decoder_mirrors_encoder() {
        let shapes = spec(ModelKind::Autoencoder, vec![16, 8]).layer_shapes();
        assert_eq!(shapes, vec![(30, 16), (16, 8), (8, 16), (16, 30)]);
    }

    #[test]
    fn mlp_ends_in_one_logit() {
        let shapes = spec(ModelKind::Mlp, vec![64, 32]).layer_shapes();
        assert_eq!(shapes, vec![(30, 64), (64, 32), (32, 1)]);
        assert_eq!(
            spec(ModelKind::Mlp, vec![64, 32]).parameter_count(),
            30 * 64 + 64 + 64 * 32 + 32 + 33
        );
    }

    #[test]
    fn zero_width_is_rejected() {
        let error = spec(ModelKind::Mlp, vec![64, 0]).validate().unwrap_err().to_string();
        assert!(error.contains("[64, 0]"), "{error}");
    }
}
