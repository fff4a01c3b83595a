//! Parameters of a train stage, as written in an experiment file.

use model::{Activation, DeviceChoice, ModelKind, ModelSpec};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Parameters of a train stage. Keys that apply to one model kind only are rejected for the
/// other.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// `mlp` (supervised classifier) or `autoencoder` (reconstruction).
    pub model: ModelKind,
    /// MLP hidden layer widths (default `[64, 32]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden: Option<Vec<usize>>,
    /// Autoencoder encoder widths, the last being the bottleneck (default `[16, 8]`); the
    /// decoder mirrors them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoder: Option<Vec<usize>>,
    /// Activation after each hidden layer (default `relu`).
    #[serde(default)]
    pub activation: Activation,
    /// Dropout probability after each hidden activation (default 0).
    #[serde(default)]
    pub dropout: f64,
    /// `adamw` (default) or `adam`.
    #[serde(default)]
    pub optimizer: OptimizerKind,
    /// Learning rate (default 0.001).
    #[serde(default = "default_learning_rate")]
    pub learning_rate: f64,
    /// Decoupled weight decay of AdamW (default 0).
    #[serde(default)]
    pub weight_decay: f64,
    /// Maximum number of epochs (default 30).
    #[serde(default = "default_epochs")]
    pub epochs: u32,
    /// Rows per minibatch (default 256).
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Epochs without a better validation average precision before training stops
    /// (default 5; 0 turns early stopping off).
    #[serde(default = "default_patience")]
    pub patience: u32,
    /// MLP only: weight of an anomaly in the loss, `auto` (default: normal rows divided by
    /// anomalies in the training split) or a number (1 for no weighting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub positive_weight: Option<PositiveWeight>,
    /// Autoencoder only: `normal` (default) trains on the normal training rows only,
    /// `all` on every training row without looking at labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_on: Option<TrainOn>,
    /// Seed for this stage; defaults to the experiment's seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Device for this stage; defaults to the experiment's device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<DeviceChoice>,
}

fn default_learning_rate() -> f64 {
    1e-3
}

fn default_epochs() -> u32 {
    30
}

fn default_batch_size() -> usize {
    256
}

fn default_patience() -> u32 {
    5
}

/// The optimiser.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Adam with decoupled weight decay.
    #[default]
    Adamw,
    /// Adam without weight decay.
    Adam,
}

/// Weight of the anomaly class in the classifier's loss.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PositiveWeight {
    /// A fixed weight.
    Fixed(f64),
    /// `auto`: normal rows divided by anomalies in the training split.
    Auto(AutoWeight),
}

/// The literal `auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AutoWeight {
    /// Weight by the class ratio.
    Auto,
}

/// Which training rows an autoencoder learns from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrainOn {
    /// Normal rows only (semi-supervised).
    #[default]
    Normal,
    /// Every row, labels unused (unsupervised).
    All,
}

impl TrainConfig {
    /// Checks value ranges and that kind-specific keys match the model kind.
    pub fn validate(&self) -> Result<()> {
        let invalid =
            |key: &'static str, problem: String| Err(Error::InvalidConfig { key, problem });
        match self.model {
            ModelKind::Mlp => {
                if self.encoder.is_some() {
                    return invalid(
                        "encoder",
                        "applies only to model = \"autoencoder\"; use `hidden` for the MLP".into(),
                    );
                }
                if self.train_on.is_some() {
                    return invalid("train_on", "applies only to model = \"autoencoder\"".into());
                }
            }
            ModelKind::Autoencoder => {
                if self.hidden.is_some() {
                    return invalid(
                        "hidden",
                        "applies only to model = \"mlp\"; use `encoder` for the autoencoder".into(),
                    );
                }
                if self.positive_weight.is_some() {
                    return invalid("positive_weight", "applies only to model = \"mlp\"".into());
                }
            }
        }
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return invalid(
                "learning_rate",
                format!("{} is not a positive number", self.learning_rate),
            );
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return invalid(
                "weight_decay",
                format!("{} is negative or not finite", self.weight_decay),
            );
        }
        if self.optimizer == OptimizerKind::Adam && self.weight_decay != 0.0 {
            return invalid(
                "weight_decay",
                "plain Adam has no weight decay here; use optimizer = \"adamw\"".into(),
            );
        }
        if self.batch_size == 0 {
            return invalid("batch_size", "must be at least 1".into());
        }
        if self.epochs == 0 {
            return invalid("epochs", "must be at least 1".into());
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return invalid("dropout", format!("{} is outside [0, 1)", self.dropout));
        }
        if let Some(PositiveWeight::Fixed(weight)) = self.positive_weight
            && !(weight > 0.0 && weight.is_finite())
        {
            return invalid(
                "positive_weight",
                format!("{weight} is not a positive number; use a number or \"auto\""),
            );
        }
        Ok(())
    }

    /// Returns the model specification for these parameters and input features.
    pub fn spec(&self, features: Vec<String>) -> ModelSpec {
        let hidden = match self.model {
            ModelKind::Mlp => self.hidden.clone().unwrap_or_else(|| vec![64, 32]),
            ModelKind::Autoencoder => self.encoder.clone().unwrap_or_else(|| vec![16, 8]),
        };
        ModelSpec {
            kind: self.model,
            features,
            hidden,
            activation: self.activation,
            dropout: self.dropout,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> std::result::Result<TrainConfig, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_fill_missing_keys() {
        let config = parse("model = \"mlp\"").unwrap();
        assert_eq!(config.epochs, 30);
        assert_eq!(config.batch_size, 256);
        assert_eq!(config.spec(vec!["a".into()]).hidden, vec![64, 32]);
        config.validate().unwrap();
    }

    #[test]
    fn positive_weight_takes_auto_or_number() {
        let auto = parse("model = \"mlp\"\npositive_weight = \"auto\"").unwrap();
        assert_eq!(auto.positive_weight, Some(PositiveWeight::Auto(AutoWeight::Auto)));
        let fixed = parse("model = \"mlp\"\npositive_weight = 3.5").unwrap();
        assert_eq!(fixed.positive_weight, Some(PositiveWeight::Fixed(3.5)));
    }

    #[test]
    fn unknown_key_is_rejected() {
        let error = parse("model = \"mlp\"\nlearning_rat = 0.1").unwrap_err();
        assert!(error.contains("learning_rat"), "{error}");
    }

    #[test]
    fn key_of_other_kind_is_rejected() {
        let config = parse("model = \"autoencoder\"\nhidden = [8]").unwrap();
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("`hidden`"), "{error}");
    }

    #[test]
    fn bad_ranges_are_rejected() {
        for (text, key) in [
            ("learning_rate = -0.1", "learning_rate"),
            ("batch_size = 0", "batch_size"),
            ("dropout = 1.0", "dropout"),
            ("positive_weight = 0", "positive_weight"),
        ] {
            let config = parse(&format!("model = \"mlp\"\n{text}")).unwrap();
            let error = config.validate().unwrap_err().to_string();
            assert!(error.contains(key), "{text}: {error}");
        }
    }
}
