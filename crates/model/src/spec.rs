//! The model specification written as `model.json` beside the weights.
//!
//! A [`ModelSpec`] is tagged by `kind` and carries only the settings of that kind, so
//! `model.json` of an MLP reads `{"kind": "mlp", "features": [...], "hidden": [...],
//! "activation": ..., "dropout": ...}` and that of an isolation forest names no layers.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The family of detector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// A supervised classifier; its score is the predicted probability of an anomaly.
    Mlp,
    /// A reconstruction model; its score is the mean squared reconstruction error of a row.
    Autoencoder,
    /// A variational autoencoder; its score is a reconstruction error or the negative ELBO.
    Vae,
    /// Deep SVDD, a one-class network; its score is the squared distance to a fixed centre.
    DeepSvdd,
    /// An isolation forest; its score is `2^(-E[h(x)] / c(n))`.
    IsolationForest,
    /// Principal component analysis; its score is the squared reconstruction error.
    Pca,
}

impl ModelKind {
    /// Every kind, in the order the documentation lists them.
    pub const ALL: [ModelKind; 6] = [
        ModelKind::Mlp,
        ModelKind::Autoencoder,
        ModelKind::Vae,
        ModelKind::DeepSvdd,
        ModelKind::IsolationForest,
        ModelKind::Pca,
    ];

    /// Returns the name used in configs and artifacts.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Mlp => "mlp",
            ModelKind::Autoencoder => "autoencoder",
            ModelKind::Vae => "vae",
            ModelKind::DeepSvdd => "deep_svdd",
            ModelKind::IsolationForest => "isolation_forest",
            ModelKind::Pca => "pca",
        }
    }

    /// Returns whether the kind is a network trained by gradient descent over epochs, as
    /// opposed to a detector fitted in one pass (isolation forest, PCA).
    pub fn is_network(self) -> bool {
        !matches!(self, ModelKind::IsolationForest | ModelKind::Pca)
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

/// Input features and layers of a network detector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkSpec {
    /// Input feature names, in the column order the model expects.
    pub features: Vec<String>,
    /// Layer widths. For the MLP, the hidden layers before the single logit. For the
    /// autoencoder and the VAE, the encoder layers, the last being the bottleneck (the latent
    /// dimension of the VAE); the decoder mirrors them. For Deep SVDD, the layers of the
    /// network, the last being the dimension of the output space.
    pub hidden: Vec<usize>,
    /// Activation after each hidden layer.
    pub activation: Activation,
    /// Dropout probability after each hidden activation, used only while training.
    pub dropout: f64,
}

/// What a VAE scores.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VaeScore {
    /// The mean squared error between a row and the decoding of its latent mean.
    #[default]
    Reconstruction,
    /// The negative ELBO at the latent mean: the reconstruction error above plus `beta` times
    /// the KL divergence of the encoder's distribution from the standard normal prior.
    Elbo,
}

/// A variational autoencoder: its network and the weight of the KL term.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VaeSpec {
    /// Features and encoder widths; the last width is the latent dimension.
    #[serde(flatten)]
    pub network: NetworkSpec,
    /// Weight of the KL divergence against the reconstruction error, in training and in the
    /// `elbo` score.
    pub beta: f64,
    /// What the model scores.
    pub score: VaeScore,
}

/// An isolation forest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IsolationForestSpec {
    /// Input feature names, in the column order the model expects.
    pub features: Vec<String>,
    /// Number of trees.
    pub trees: usize,
    /// Rows drawn without replacement to grow each tree (all rows when there are fewer).
    pub max_samples: usize,
}

/// A PCA reconstruction model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PcaSpec {
    /// Input feature names, in the column order the model expects.
    pub features: Vec<String>,
    /// Principal components kept; when unset, the fewest that explain `variance`.
    pub components: Option<usize>,
    /// Share of the total variance the kept components explain, used when `components` is
    /// unset.
    pub variance: f64,
    /// Divide the squared projection on each discarded component by that component's
    /// variance, instead of the plain squared reconstruction error.
    pub standardize: bool,
}

/// Everything needed to rebuild a model: its kind, input features and settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ModelSpec {
    /// A feed-forward classifier ending in one logit.
    Mlp(NetworkSpec),
    /// An autoencoder whose decoder mirrors its encoder.
    Autoencoder(NetworkSpec),
    /// A variational autoencoder.
    Vae(VaeSpec),
    /// A Deep SVDD network without bias terms.
    DeepSvdd(NetworkSpec),
    /// An isolation forest.
    IsolationForest(IsolationForestSpec),
    /// A PCA reconstruction model.
    Pca(PcaSpec),
}

impl ModelSpec {
    /// Returns the family of detector.
    pub fn kind(&self) -> ModelKind {
        match self {
            ModelSpec::Mlp(_) => ModelKind::Mlp,
            ModelSpec::Autoencoder(_) => ModelKind::Autoencoder,
            ModelSpec::Vae(_) => ModelKind::Vae,
            ModelSpec::DeepSvdd(_) => ModelKind::DeepSvdd,
            ModelSpec::IsolationForest(_) => ModelKind::IsolationForest,
            ModelSpec::Pca(_) => ModelKind::Pca,
        }
    }

    /// Returns the input feature names, in the column order the model expects.
    pub fn features(&self) -> &[String] {
        match self {
            ModelSpec::Mlp(network)
            | ModelSpec::Autoencoder(network)
            | ModelSpec::DeepSvdd(network)
            | ModelSpec::Vae(VaeSpec { network, .. }) => &network.features,
            ModelSpec::IsolationForest(forest) => &forest.features,
            ModelSpec::Pca(pca) => &pca.features,
        }
    }

    /// Returns the number of input features.
    pub fn input_dim(&self) -> usize {
        self.features().len()
    }

    /// Returns the network settings of a network kind, `None` for isolation forest and PCA.
    pub fn network(&self) -> Option<&NetworkSpec> {
        match self {
            ModelSpec::Mlp(network)
            | ModelSpec::Autoencoder(network)
            | ModelSpec::DeepSvdd(network)
            | ModelSpec::Vae(VaeSpec { network, .. }) => Some(network),
            ModelSpec::IsolationForest(_) | ModelSpec::Pca(_) => None,
        }
    }

    /// Returns what the score measures, as written in `metrics.json`.
    pub fn score_name(&self) -> &'static str {
        match self {
            ModelSpec::Mlp(_) => "probability",
            ModelSpec::Autoencoder(_) => "reconstruction_error",
            ModelSpec::Vae(vae) => match vae.score {
                VaeScore::Reconstruction => "reconstruction_error",
                VaeScore::Elbo => "negative_elbo",
            },
            ModelSpec::DeepSvdd(_) => "squared_distance",
            ModelSpec::IsolationForest(_) => "isolation_score",
            ModelSpec::Pca(pca) if pca.standardize => "standardized_reconstruction_error",
            ModelSpec::Pca(_) => "reconstruction_error",
        }
    }

    /// Checks that the settings make a buildable model.
    pub fn validate(&self) -> Result<()> {
        if self.features().is_empty() {
            return Err(Error::InvalidSpec("the model has no input features".into()));
        }
        match self {
            ModelSpec::Mlp(network) => network.validate(),
            ModelSpec::Autoencoder(network) | ModelSpec::DeepSvdd(network) => {
                network.validate()?;
                network.require_layers(self.kind())
            }
            ModelSpec::Vae(vae) => {
                vae.network.validate()?;
                vae.network.require_layers(ModelKind::Vae)?;
                if !(vae.beta >= 0.0 && vae.beta.is_finite()) {
                    return Err(Error::InvalidSpec(format!(
                        "beta must be a finite number of at least 0, got {}",
                        vae.beta
                    )));
                }
                Ok(())
            }
            ModelSpec::IsolationForest(forest) => {
                if forest.trees == 0 || forest.max_samples < 2 {
                    return Err(Error::InvalidSpec(format!(
                        "an isolation forest needs at least 1 tree and max_samples of at least 2, \
                         got {} trees and max_samples {}",
                        forest.trees, forest.max_samples
                    )));
                }
                Ok(())
            }
            ModelSpec::Pca(pca) => pca.validate(),
        }
    }

    /// Returns the (input, output) width of every linear layer of an MLP, autoencoder or
    /// Deep SVDD network in order, and an empty list for the other kinds.
    pub fn layer_shapes(&self) -> Vec<(usize, usize)> {
        let Some(network) = self.network() else {
            return Vec::new();
        };
        let input = network.features.len();
        let mut widths = vec![input];
        widths.extend(&network.hidden);
        match self.kind() {
            ModelKind::Mlp => widths.push(1),
            ModelKind::Autoencoder => {
                widths.extend(network.hidden.iter().rev().skip(1));
                widths.push(input);
            }
            ModelKind::DeepSvdd => {}
            ModelKind::Vae | ModelKind::IsolationForest | ModelKind::Pca => return Vec::new(),
        }
        widths.windows(2).map(|pair| (pair[0], pair[1])).collect()
    }
}

impl NetworkSpec {
    /// Checks the layer widths and the dropout probability.
    fn validate(&self) -> Result<()> {
        if self.hidden.contains(&0) {
            return Err(Error::InvalidSpec(format!(
                "layer widths must be positive, got {:?}",
                self.hidden
            )));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(Error::InvalidSpec(format!(
                "dropout must be in [0, 1), got {}",
                self.dropout
            )));
        }
        Ok(())
    }

    /// Rejects an empty layer list for kinds whose last layer defines an output space.
    fn require_layers(&self, kind: ModelKind) -> Result<()> {
        if self.hidden.is_empty() {
            let role = match kind {
                ModelKind::DeepSvdd => "the output layer",
                ModelKind::Vae => "the latent layer",
                _ => "the bottleneck",
            };
            return Err(Error::InvalidSpec(format!(
                "{} needs at least one encoder layer ({role})",
                kind.as_str()
            )));
        }
        Ok(())
    }
}

impl PcaSpec {
    /// Checks `components` against the number of features and `variance` against (0, 1).
    fn validate(&self) -> Result<()> {
        let features = self.features.len();
        if features < 2 {
            return Err(Error::InvalidSpec(
                "PCA needs at least 2 features: with one, every component kept reconstructs \
                 rows exactly"
                    .into(),
            ));
        }
        if let Some(components) = self.components
            && !(1..features).contains(&components)
        {
            return Err(Error::InvalidSpec(format!(
                "components must be between 1 and {} (one less than the {features} features, \
                 or every reconstruction error is 0), got {components}",
                features - 1
            )));
        }
        if !(self.variance > 0.0 && self.variance < 1.0) {
            return Err(Error::InvalidSpec(format!(
                "variance must be in (0, 1), got {}",
                self.variance
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn features(count: usize) -> Vec<String> {
        (0..count).map(|i| format!("f{i}")).collect()
    }

    fn network(hidden: Vec<usize>) -> NetworkSpec {
        NetworkSpec { features: features(30), hidden, activation: Activation::Relu, dropout: 0.0 }
    }

    #[test]
    fn autoencoder_decoder_mirrors_encoder() {
        let shapes = ModelSpec::Autoencoder(network(vec![16, 8])).layer_shapes();
        assert_eq!(shapes, vec![(30, 16), (16, 8), (8, 16), (16, 30)]);
    }

    #[test]
    fn mlp_ends_in_one_logit() {
        let shapes = ModelSpec::Mlp(network(vec![64, 32])).layer_shapes();
        assert_eq!(shapes, vec![(30, 64), (64, 32), (32, 1)]);
    }

    #[test]
    fn deep_svdd_ends_in_last_width() {
        let shapes = ModelSpec::DeepSvdd(network(vec![64, 32])).layer_shapes();
        assert_eq!(shapes, vec![(30, 64), (64, 32)]);
    }

    #[test]
    fn zero_width_is_rejected() {
        let error = ModelSpec::Mlp(network(vec![64, 0])).validate().unwrap_err().to_string();
        assert!(error.contains("[64, 0]"), "{error}");
    }

    #[test]
    fn mlp_json_has_the_original_layout() {
        // `model.json` of an MLP must keep the field order it had before other kinds existed,
        // so that the files of existing experiments stay byte-identical.
        let spec = ModelSpec::Mlp(NetworkSpec {
            features: vec!["a".into()],
            hidden: vec![4],
            activation: Activation::Relu,
            dropout: 0.1,
        });
        let json = serde_json::to_string(&spec).unwrap();
        assert_eq!(
            json,
            r#"{"kind":"mlp","features":["a"],"hidden":[4],"activation":"relu","dropout":0.1}"#
        );
        assert_eq!(serde_json::from_str::<ModelSpec>(&json).unwrap(), spec);
    }

    #[test]
    fn every_kind_round_trips_through_json() {
        let specs = [
            ModelSpec::Vae(VaeSpec {
                network: network(vec![8, 2]),
                beta: 0.5,
                score: VaeScore::Elbo,
            }),
            ModelSpec::DeepSvdd(network(vec![8, 4])),
            ModelSpec::IsolationForest(IsolationForestSpec {
                features: features(3),
                trees: 10,
                max_samples: 64,
            }),
            ModelSpec::Pca(PcaSpec {
                features: features(3),
                components: Some(2),
                variance: 0.95,
                standardize: false,
            }),
        ];
        for spec in specs {
            let json = serde_json::to_string(&spec).unwrap();
            assert!(json.starts_with(&format!(r#"{{"kind":"{}""#, spec.kind().as_str())), "{json}");
            assert_eq!(serde_json::from_str::<ModelSpec>(&json).unwrap(), spec);
            spec.validate().unwrap();
        }
    }

    #[test]
    fn pca_components_must_leave_a_residual() {
        let spec = |components| {
            ModelSpec::Pca(PcaSpec {
                features: features(3),
                components,
                variance: 0.9,
                standardize: false,
            })
        };
        spec(Some(2)).validate().unwrap();
        for components in [0, 3] {
            let error = spec(Some(components)).validate().unwrap_err().to_string();
            assert!(error.contains("between 1 and 2"), "{error}");
        }
    }

    #[test]
    fn empty_encoder_is_rejected() {
        for spec in [
            ModelSpec::Autoencoder(network(vec![])),
            ModelSpec::DeepSvdd(network(vec![])),
            ModelSpec::Vae(VaeSpec {
                network: network(vec![]),
                beta: 1.0,
                score: VaeScore::default(),
            }),
        ] {
            let error = spec.validate().unwrap_err().to_string();
            assert!(error.contains("at least one encoder layer"), "{error}");
        }
    }
}
