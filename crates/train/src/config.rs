//! Parameters of a train stage, as written in an experiment file.
//!
//! Every key except `model`, `seed` and `device` applies to some model kinds only, and
//! [`TrainConfig::validate`] rejects a key set for a kind it does not apply to. Unset keys
//! take the defaults that the accessor methods document.
//!
//! The parameters serialise canonically, as the stage cache keys them, with every default
//! that applies to the kind filled in. On the MLP and the autoencoder, the optional keys
//! (`hidden`, `encoder`, `positive_weight`, `loss`, `focal_alpha`, `train_on`) are written
//! only when given, as they were before the other kinds existed, so the keys of existing
//! stages are unchanged. `seed` and `device` are written only when given, for every kind.

use model::{
    Activation, DeviceChoice, IsolationForestSpec, ModelKind, ModelSpec, NetworkSpec, PcaSpec,
    VaeScore, VaeSpec,
};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Parameters of a train stage.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// `mlp`, `autoencoder`, `vae`, `deep_svdd`, `isolation_forest` or `pca`.
    pub model: ModelKind,
    /// MLP: hidden layer widths before the logit (default `[64, 32]`).
    #[serde(default)]
    pub hidden: Option<Vec<usize>>,
    /// Autoencoder and VAE: encoder widths, the last being the bottleneck or latent dimension
    /// (default `[16, 8]`); the decoder mirrors them. Deep SVDD: layer widths, the last being
    /// the output dimension (default `[64, 32]`).
    #[serde(default)]
    pub encoder: Option<Vec<usize>>,
    /// Networks: activation after each hidden layer (default `relu`).
    #[serde(default)]
    pub activation: Option<Activation>,
    /// Networks: dropout probability after each hidden activation (default 0).
    #[serde(default)]
    pub dropout: Option<f64>,
    /// Networks: `adamw` (default) or `adam`.
    #[serde(default)]
    pub optimizer: Option<OptimizerKind>,
    /// Networks: learning rate (default 0.001).
    #[serde(default)]
    pub learning_rate: Option<f64>,
    /// Networks: decoupled weight decay of AdamW (default 0; 1e-6 for Deep SVDD with AdamW).
    #[serde(default)]
    pub weight_decay: Option<f64>,
    /// Networks: maximum number of epochs (default 30).
    #[serde(default)]
    pub epochs: Option<u32>,
    /// Networks: rows per minibatch (default 256).
    #[serde(default)]
    pub batch_size: Option<usize>,
    /// Networks: epochs without a better validation average precision before training stops
    /// (default 5; 0 turns early stopping off).
    #[serde(default)]
    pub patience: Option<u32>,
    /// MLP: weight of an anomaly in the loss, `auto` (default: normal rows divided by
    /// anomalies in the training split) or a number (1 for no weighting).
    #[serde(default)]
    pub positive_weight: Option<PositiveWeight>,
    /// MLP: `bce` (default) or `focal`.
    #[serde(default)]
    pub loss: Option<LossKind>,
    /// MLP with `loss = "focal"`: the focusing parameter γ (default 2).
    #[serde(default)]
    pub focal_gamma: Option<f64>,
    /// MLP with `loss = "focal"`: the weight α of anomalies, `1 - α` being that of normal rows
    /// (default: unset, no α weighting).
    #[serde(default)]
    pub focal_alpha: Option<f64>,
    /// Every kind but the MLP: `normal` trains on the normal training rows only, `all` on
    /// every training row without looking at labels (default `all` for the isolation forest,
    /// `normal` otherwise).
    #[serde(default)]
    pub train_on: Option<TrainOn>,
    /// VAE: weight of the KL term against the reconstruction error (default 1).
    #[serde(default)]
    pub beta: Option<f64>,
    /// VAE: `reconstruction` (default) or `elbo`.
    #[serde(default)]
    pub score: Option<VaeScore>,
    /// Isolation forest: number of trees (default 100).
    #[serde(default)]
    pub trees: Option<usize>,
    /// Isolation forest: rows drawn to grow each tree (default 256).
    #[serde(default)]
    pub max_samples: Option<usize>,
    /// PCA: number of components kept (default: unset, chosen by `variance`).
    #[serde(default)]
    pub components: Option<usize>,
    /// PCA: share of the variance the kept components explain, when `components` is unset
    /// (default 0.95).
    #[serde(default)]
    pub variance: Option<f64>,
    /// PCA: divide each discarded component's squared projection by its variance (default
    /// false: the plain squared reconstruction error).
    #[serde(default)]
    pub standardize: Option<bool>,
    /// Seed for this stage; defaults to the experiment's seed.
    #[serde(default)]
    pub seed: Option<u64>,
    /// Device for this stage; defaults to the experiment's device.
    #[serde(default)]
    pub device: Option<DeviceChoice>,
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

/// The classifier's loss.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LossKind {
    /// Binary cross-entropy with logits.
    #[default]
    Bce,
    /// Focal loss (Lin et al. 2017), which down-weights rows the model already classifies
    /// well.
    Focal,
}

/// The training rows that a detector other than the MLP learns from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrainOn {
    /// Normal rows only (semi-supervised).
    #[default]
    Normal,
    /// Every row, labels unused (unsupervised).
    All,
}

/// The kinds trained by gradient descent, for messages.
const NETWORKS: &[ModelKind] =
    &[ModelKind::Mlp, ModelKind::Autoencoder, ModelKind::Vae, ModelKind::DeepSvdd];

/// Every kind but the MLP, for messages.
const ONE_CLASS: &[ModelKind] = &[
    ModelKind::Autoencoder,
    ModelKind::Vae,
    ModelKind::DeepSvdd,
    ModelKind::IsolationForest,
    ModelKind::Pca,
];

impl TrainConfig {
    /// Returns the layer widths: `hidden` for the MLP, `encoder` for the other networks, with
    /// their defaults; empty for isolation forest and PCA.
    pub fn widths(&self) -> Vec<usize> {
        match self.model {
            ModelKind::Mlp => self.hidden.clone().unwrap_or_else(|| vec![64, 32]),
            ModelKind::Autoencoder | ModelKind::Vae => {
                self.encoder.clone().unwrap_or_else(|| vec![16, 8])
            }
            ModelKind::DeepSvdd => self.encoder.clone().unwrap_or_else(|| vec![64, 32]),
            ModelKind::IsolationForest | ModelKind::Pca => Vec::new(),
        }
    }

    /// Returns the activation (default `relu`).
    pub fn activation(&self) -> Activation {
        self.activation.unwrap_or_default()
    }

    /// Returns the dropout probability (default 0).
    pub fn dropout(&self) -> f64 {
        self.dropout.unwrap_or(0.0)
    }

    /// Returns the optimiser (default `adamw`).
    pub fn optimizer(&self) -> OptimizerKind {
        self.optimizer.unwrap_or_default()
    }

    /// Returns the learning rate (default 0.001).
    pub fn learning_rate(&self) -> f64 {
        self.learning_rate.unwrap_or(1e-3)
    }

    /// Returns the weight decay: 1e-6 for Deep SVDD with AdamW (the λ of Ruff et al. 2018),
    /// 0 otherwise.
    pub fn weight_decay(&self) -> f64 {
        let default = match (self.model, self.optimizer()) {
            (ModelKind::DeepSvdd, OptimizerKind::Adamw) => 1e-6,
            _ => 0.0,
        };
        self.weight_decay.unwrap_or(default)
    }

    /// Returns the maximum number of epochs (default 30).
    pub fn epochs(&self) -> u32 {
        self.epochs.unwrap_or(30)
    }

    /// Returns the rows per minibatch (default 256).
    pub fn batch_size(&self) -> usize {
        self.batch_size.unwrap_or(256)
    }

    /// Returns the early-stopping patience in epochs (default 5).
    pub fn patience(&self) -> u32 {
        self.patience.unwrap_or(5)
    }

    /// Returns the classifier's anomaly weight (default `auto`).
    pub fn positive_weight(&self) -> PositiveWeight {
        self.positive_weight.unwrap_or(PositiveWeight::Auto(AutoWeight::Auto))
    }

    /// Returns the classifier's loss (default `bce`).
    pub fn loss(&self) -> LossKind {
        self.loss.unwrap_or_default()
    }

    /// Returns the focal loss's γ (default 2).
    pub fn focal_gamma(&self) -> f64 {
        self.focal_gamma.unwrap_or(2.0)
    }

    /// Returns the rows a detector other than the MLP learns from (default `all` for the
    /// isolation forest, as in Liu et al. 2008, `normal` otherwise).
    pub fn train_on(&self) -> TrainOn {
        let default = match self.model {
            ModelKind::IsolationForest => TrainOn::All,
            _ => TrainOn::Normal,
        };
        self.train_on.unwrap_or(default)
    }

    /// Returns the VAE's β (default 1).
    pub fn beta(&self) -> f64 {
        self.beta.unwrap_or(1.0)
    }

    /// Returns what the VAE scores (default `reconstruction`).
    pub fn vae_score(&self) -> VaeScore {
        self.score.unwrap_or_default()
    }

    /// Returns the number of trees of the isolation forest (default 100).
    pub fn trees(&self) -> usize {
        self.trees.unwrap_or(100)
    }

    /// Returns the subsample size of the isolation forest (default 256).
    pub fn max_samples(&self) -> usize {
        self.max_samples.unwrap_or(256)
    }

    /// Returns the PCA variance share (default 0.95).
    pub fn variance(&self) -> f64 {
        self.variance.unwrap_or(0.95)
    }

    /// Checks value ranges and that every key set applies to the model kind.
    pub fn validate(&self) -> Result<()> {
        self.validate_keys()?;
        self.validate_values()
    }

    /// Rejects keys set for a kind they do not apply to.
    fn validate_keys(&self) -> Result<()> {
        use ModelKind::{Autoencoder, DeepSvdd, IsolationForest, Mlp, Pca, Vae};
        let kind = self.model;
        let networks_only = [
            ("activation", self.activation.is_some()),
            ("dropout", self.dropout.is_some()),
            ("optimizer", self.optimizer.is_some()),
            ("learning_rate", self.learning_rate.is_some()),
            ("weight_decay", self.weight_decay.is_some()),
            ("epochs", self.epochs.is_some()),
            ("batch_size", self.batch_size.is_some()),
            ("patience", self.patience.is_some()),
        ];
        if !kind.is_network()
            && let Some((key, _)) = networks_only.iter().find(|(_, set)| *set)
        {
            return Err(Error::InvalidConfig {
                key,
                problem: format!(
                    "model = \"{}\" is fitted in one pass, without epochs or an optimiser; \
                     remove `{key}` (it applies to {})",
                    kind.as_str(),
                    describe_kinds(NETWORKS)
                ),
            });
        }
        let specific: [(&'static str, bool, &[ModelKind]); 14] = [
            ("hidden", self.hidden.is_some(), &[Mlp]),
            ("encoder", self.encoder.is_some(), &[Autoencoder, Vae, DeepSvdd]),
            ("positive_weight", self.positive_weight.is_some(), &[Mlp]),
            ("loss", self.loss.is_some(), &[Mlp]),
            ("focal_gamma", self.focal_gamma.is_some(), &[Mlp]),
            ("focal_alpha", self.focal_alpha.is_some(), &[Mlp]),
            ("train_on", self.train_on.is_some(), ONE_CLASS),
            ("beta", self.beta.is_some(), &[Vae]),
            ("score", self.score.is_some(), &[Vae]),
            ("trees", self.trees.is_some(), &[IsolationForest]),
            ("max_samples", self.max_samples.is_some(), &[IsolationForest]),
            ("components", self.components.is_some(), &[Pca]),
            ("variance", self.variance.is_some(), &[Pca]),
            ("standardize", self.standardize.is_some(), &[Pca]),
        ];
        for (key, set, applies_to) in specific {
            if set && !applies_to.contains(&kind) {
                let hint = match (key, kind) {
                    ("hidden", Autoencoder | Vae | DeepSvdd) => "; use `encoder` for its layers",
                    ("encoder", Mlp) => "; use `hidden` for the MLP",
                    _ => "",
                };
                return Err(Error::InvalidConfig {
                    key,
                    problem: format!("applies only to {}{hint}", describe_kinds(applies_to)),
                });
            }
        }
        if self.loss() != LossKind::Focal {
            for (key, set) in [
                ("focal_gamma", self.focal_gamma.is_some()),
                ("focal_alpha", self.focal_alpha.is_some()),
            ] {
                if set {
                    return Err(Error::InvalidConfig {
                        key,
                        problem: "applies only with loss = \"focal\"".into(),
                    });
                }
            }
        }
        if self.components.is_some() && self.variance.is_some() {
            return Err(Error::InvalidConfig {
                key: "variance",
                problem: "set either `components` or `variance`, not both".into(),
            });
        }
        Ok(())
    }

    /// Checks the range of every value set.
    fn validate_values(&self) -> Result<()> {
        let invalid =
            |key: &'static str, problem: String| Err(Error::InvalidConfig { key, problem });
        let positive = |value: f64| value > 0.0 && value.is_finite();
        let non_negative = |value: f64| value >= 0.0 && value.is_finite();
        if !positive(self.learning_rate()) {
            return invalid(
                "learning_rate",
                format!("{} is not a positive number", self.learning_rate()),
            );
        }
        if !non_negative(self.weight_decay()) {
            return invalid(
                "weight_decay",
                format!("{} is negative or not finite", self.weight_decay()),
            );
        }
        if self.optimizer() == OptimizerKind::Adam && self.weight_decay() != 0.0 {
            return invalid(
                "weight_decay",
                "plain Adam has no weight decay here; use optimizer = \"adamw\"".into(),
            );
        }

        if self.batch_size() == 0 {
            return invalid("batch_size", "must be at least 1".into());
        }
        if self.epochs() == 0 {
            return invalid("epochs", "must be at least 1".into());
        }
        if !(0.0..1.0).contains(&self.dropout()) {
            return invalid("dropout", format!("{} is outside [0, 1)", self.dropout()));
        }

        if let PositiveWeight::Fixed(weight) = self.positive_weight()
            && !positive(weight)
        {
            return invalid(
                "positive_weight",
                format!("{weight} is not a positive number; use a number or \"auto\""),
            );
        }
        if !non_negative(self.focal_gamma()) {
            return invalid(
                "focal_gamma",
                format!("{} is negative or not finite", self.focal_gamma()),
            );
        }
        if let Some(alpha) = self.focal_alpha
            && !(alpha > 0.0 && alpha < 1.0)
        {
            return invalid("focal_alpha", format!("{alpha} is outside (0, 1)"));
        }

        if !non_negative(self.beta()) {
            return invalid("beta", format!("{} is negative or not finite", self.beta()));
        }
        if self.trees() == 0 {
            return invalid("trees", "must be at least 1".into());
        }
        if self.max_samples() < 2 {
            return invalid("max_samples", "must be at least 2".into());
        }

        if self.components == Some(0) {
            return invalid("components", "must be at least 1".into());
        }
        if !(self.variance() > 0.0 && self.variance() < 1.0) {
            return invalid("variance", format!("{} is outside (0, 1)", self.variance()));
        }

        if self.model.is_network() && self.widths().contains(&0) {
            let key = if self.model == ModelKind::Mlp { "hidden" } else { "encoder" };
            return invalid(key, format!("layer widths must be positive, got {:?}", self.widths()));
        }
        if matches!(self.model, ModelKind::Autoencoder | ModelKind::Vae | ModelKind::DeepSvdd)
            && self.widths().is_empty()
        {
            return invalid("encoder", "needs at least one width".into());
        }
        Ok(())
    }

    /// Returns the model specification for these parameters and input features.
    pub fn spec(&self, features: Vec<String>) -> ModelSpec {
        let network = || NetworkSpec {
            features: features.clone(),
            hidden: self.widths(),
            activation: self.activation(),
            dropout: self.dropout(),
        };
        match self.model {
            ModelKind::Mlp => ModelSpec::Mlp(network()),
            ModelKind::Autoencoder => ModelSpec::Autoencoder(network()),
            ModelKind::Vae => ModelSpec::Vae(VaeSpec {
                network: network(),
                beta: self.beta(),
                score: self.vae_score(),
            }),
            ModelKind::DeepSvdd => ModelSpec::DeepSvdd(network()),
            ModelKind::IsolationForest => ModelSpec::IsolationForest(IsolationForestSpec {
                features,
                trees: self.trees(),
                max_samples: self.max_samples(),
            }),
            ModelKind::Pca => ModelSpec::Pca(PcaSpec {
                features,
                components: self.components,
                variance: self.variance(),
                standardize: self.standardize.unwrap_or(false),
            }),
        }
    }
}

/// Returns `model = "a"`, `model = "a" or "b"`, `model = "a", "b" or "c"`, ... for a list of
/// kinds.
fn describe_kinds(list: &[ModelKind]) -> String {
    let names: Vec<String> = list.iter().map(|kind| format!("\"{}\"", kind.as_str())).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => {
            format!("model = {} or {last}", rest.join(", "))
        }
        _ => format!("model = {}", names.join("")),
    }
}

/// The canonical form of a [`TrainConfig`], as described in the module documentation.
#[derive(Serialize)]
struct Canonical<'a> {
    model: ModelKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    hidden: Option<Vec<usize>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    encoder: Option<Vec<usize>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    activation: Option<Activation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dropout: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    optimizer: Option<OptimizerKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    learning_rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    weight_decay: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    epochs: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    batch_size: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    patience: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    positive_weight: Option<PositiveWeight>,
    #[serde(skip_serializing_if = "Option::is_none")]
    loss: Option<LossKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    focal_gamma: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    focal_alpha: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    train_on: Option<TrainOn>,
    #[serde(skip_serializing_if = "Option::is_none")]
    beta: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    score: Option<VaeScore>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trees: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_samples: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    components: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    variance: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    standardize: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    device: Option<&'a DeviceChoice>,
}

impl Serialize for TrainConfig {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let kind = self.model;
        let network = kind.is_network();
        let focal = kind == ModelKind::Mlp && self.loss() == LossKind::Focal;
        let canonical = Canonical {
            model: kind,
            hidden: if kind == ModelKind::Mlp { self.hidden.clone() } else { None },
            encoder: match kind {
                ModelKind::Autoencoder => self.encoder.clone(),
                ModelKind::Vae | ModelKind::DeepSvdd => Some(self.widths()),
                _ => None,
            },
            activation: network.then(|| self.activation()),
            dropout: network.then(|| self.dropout()),
            optimizer: network.then(|| self.optimizer()),
            learning_rate: network.then(|| self.learning_rate()),
            weight_decay: network.then(|| self.weight_decay()),
            epochs: network.then(|| self.epochs()),
            batch_size: network.then(|| self.batch_size()),
            patience: network.then(|| self.patience()),
            positive_weight: if kind == ModelKind::Mlp { self.positive_weight } else { None },
            loss: if kind == ModelKind::Mlp { self.loss } else { None },
            focal_gamma: focal.then(|| self.focal_gamma()),
            focal_alpha: if focal { self.focal_alpha } else { None },
            train_on: match kind {
                ModelKind::Mlp => None,
                ModelKind::Autoencoder => self.train_on,
                _ => Some(self.train_on()),
            },
            beta: (kind == ModelKind::Vae).then(|| self.beta()),
            score: (kind == ModelKind::Vae).then(|| self.vae_score()),
            trees: (kind == ModelKind::IsolationForest).then(|| self.trees()),
            max_samples: (kind == ModelKind::IsolationForest).then(|| self.max_samples()),
            components: if kind == ModelKind::Pca { self.components } else { None },
            variance: (kind == ModelKind::Pca && self.components.is_none())
                .then(|| self.variance()),
            standardize: (kind == ModelKind::Pca).then(|| self.standardize.unwrap_or(false)),
            seed: self.seed,
            device: self.device.as_ref(),
        };
        canonical.serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> std::result::Result<TrainConfig, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    fn validate(text: &str) -> std::result::Result<TrainConfig, String> {
        let config = parse(text)?;
        config.validate().map_err(|e| e.to_string())?;
        Ok(config)
    }

    #[test]
    fn defaults_fill_missing_keys() {
        let config = validate("model = \"mlp\"").unwrap();
        assert_eq!(config.epochs(), 30);
        assert_eq!(config.batch_size(), 256);
        assert_eq!(config.spec(vec!["a".into()]).network().unwrap().hidden, vec![64, 32]);
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
        for (text, expected) in [
            ("model = \"autoencoder\"\nhidden = [8]", "`hidden`"),
            ("model = \"mlp\"\ntrain_on = \"all\"", "`train_on`"),
            ("model = \"vae\"\ntrees = 10", "`trees`"),
            ("model = \"isolation_forest\"\nbeta = 1.0", "`beta`"),
            ("model = \"pca\"\nloss = \"focal\"", "`loss`"),
            ("model = \"mlp\"\nfocal_gamma = 1.0", "loss = \"focal\""),
            ("model = \"pca\"\ncomponents = 2\nvariance = 0.9", "not both"),
        ] {
            let error = validate(text).unwrap_err();
            assert!(error.contains(expected), "{text}: {error}");
        }
    }

    #[test]
    fn gradient_keys_are_rejected_for_one_pass_models() {
        for model in ["isolation_forest", "pca"] {
            for key in
                ["epochs = 3", "learning_rate = 0.1", "batch_size = 8", "optimizer = \"adam\""]
            {
                let error = validate(&format!("model = \"{model}\"\n{key}")).unwrap_err();
                let name = key.split(' ').next().unwrap();
                assert!(error.contains(&format!("`{name}`")), "{model} {key}: {error}");
                assert!(error.contains("fitted in one pass"), "{model} {key}: {error}");
            }
        }
    }

    #[test]
    fn bad_ranges_are_rejected() {
        for (text, key) in [
            ("model = \"mlp\"\nlearning_rate = -0.1", "learning_rate"),
            ("model = \"mlp\"\nbatch_size = 0", "batch_size"),
            ("model = \"mlp\"\ndropout = 1.0", "dropout"),
            ("model = \"mlp\"\npositive_weight = 0", "positive_weight"),
            ("model = \"mlp\"\nloss = \"focal\"\nfocal_gamma = -1.0", "focal_gamma"),
            ("model = \"mlp\"\nloss = \"focal\"\nfocal_alpha = 1.0", "focal_alpha"),
            ("model = \"vae\"\nbeta = -1.0", "beta"),
            ("model = \"isolation_forest\"\ntrees = 0", "trees"),
            ("model = \"isolation_forest\"\nmax_samples = 1", "max_samples"),
            ("model = \"pca\"\ncomponents = 0", "components"),
            ("model = \"pca\"\nvariance = 1.0", "variance"),
            ("model = \"deep_svdd\"\nencoder = []", "encoder"),
            ("model = \"deep_svdd\"\noptimizer = \"adam\"\nweight_decay = 0.1", "weight_decay"),
        ] {
            let error = validate(text).unwrap_err();
            assert!(error.contains(key), "{text}: {error}");
        }
    }

    #[test]
    fn kind_defaults() {
        let svdd = validate("model = \"deep_svdd\"").unwrap();
        assert_eq!(svdd.widths(), vec![64, 32]);
        assert_eq!(svdd.weight_decay(), 1e-6);
        assert_eq!(
            validate("model = \"deep_svdd\"\noptimizer = \"adam\"").unwrap().weight_decay(),
            0.0
        );
        assert_eq!(svdd.train_on(), TrainOn::Normal);
        let forest = validate("model = \"isolation_forest\"").unwrap();
        assert_eq!((forest.trees(), forest.max_samples()), (100, 256));
        assert_eq!(forest.train_on(), TrainOn::All);
        let pca = validate("model = \"pca\"").unwrap();
        let ModelSpec::Pca(spec) = pca.spec(vec!["a".into(), "b".into()]) else { panic!() };
        assert_eq!((spec.components, spec.variance, spec.standardize), (None, 0.95, false));
        let vae = validate("model = \"vae\"").unwrap();
        let ModelSpec::Vae(spec) = vae.spec(vec!["a".into()]) else { panic!() };
        assert_eq!(
            (spec.beta, spec.score, spec.network.hidden),
            (1.0, VaeScore::Reconstruction, vec![16, 8])
        );
    }

    #[test]
    fn existing_kinds_serialise_as_before() {
        // The canonical JSON of MLP and autoencoder stages must not change, or every cached
        // entry of an existing experiment would be recomputed.
        let mlp = parse("model = \"mlp\"\nhidden = [32, 16]").unwrap();
        let json = serde_json::to_value(&mlp).unwrap();
        let expected = serde_json::json!({
            "model": "mlp", "hidden": [32, 16], "activation": "relu", "dropout": 0.0,
            "optimizer": "adamw", "learning_rate": 0.001, "weight_decay": 0.0, "epochs": 30,
            "batch_size": 256, "patience": 5
        });
        assert_eq!(json, expected);
        let autoencoder = parse("model = \"autoencoder\"").unwrap();
        let json = serde_json::to_value(&autoencoder).unwrap();
        let expected = serde_json::json!({
            "model": "autoencoder", "activation": "relu", "dropout": 0.0, "optimizer": "adamw",
            "learning_rate": 0.001, "weight_decay": 0.0, "epochs": 30, "batch_size": 256,
            "patience": 5
        });
        assert_eq!(json, expected);
    }

    #[test]
    fn new_kinds_serialise_with_defaults() {
        let forest = serde_json::to_value(parse("model = \"isolation_forest\"").unwrap()).unwrap();
        let expected = serde_json::json!({
            "model": "isolation_forest", "trees": 100, "max_samples": 256, "train_on": "all"
        });
        assert_eq!(forest, expected);
        let pca = serde_json::to_value(parse("model = \"pca\"\ncomponents = 3").unwrap()).unwrap();
        let expected = serde_json::json!({
            "model": "pca", "components": 3, "standardize": false, "train_on": "normal"
        });
        assert_eq!(pca, expected);
        // A given `loss` is written even when it is the default, so that a sweep over it
        // records the value of every variant.
        let bce = serde_json::to_value(parse("model = \"mlp\"\nloss = \"bce\"").unwrap()).unwrap();
        assert_eq!(bce["loss"], "bce");
        assert!(bce.get("focal_gamma").is_none());
        let focal = parse("model = \"mlp\"\nloss = \"focal\"").unwrap();
        let json = serde_json::to_value(&focal).unwrap();
        assert_eq!(json["loss"], "focal");
        assert_eq!(json["focal_gamma"], 2.0);
        assert!(json.get("focal_alpha").is_none());
    }

    #[test]
    fn canonical_form_parses_back() {
        for text in [
            "model = \"mlp\"\nloss = \"focal\"\nfocal_alpha = 0.25",
            "model = \"vae\"\nscore = \"elbo\"",
            "model = \"deep_svdd\"",
            "model = \"isolation_forest\"\nseed = 3",
            "model = \"pca\"\nstandardize = true",
        ] {
            let config = validate(text).unwrap();
            let json = serde_json::to_string(&config).unwrap();
            let back: TrainConfig = serde_json::from_str(&json).unwrap();
            back.validate().unwrap();
            assert_eq!(serde_json::to_string(&back).unwrap(), json, "{text}");
            assert_eq!(
                back.spec(vec!["a".into(), "b".into()]),
                config.spec(vec!["a".into(), "b".into()])
            );
        }
    }
}
