//! The networks: an MLP classifier and a mirrored autoencoder, behind one [`Detector`] type.
//!
//! Shapes: inputs are `(rows, features)` float32. The MLP returns logits of shape `(rows, 1)`;
//! the autoencoder returns reconstructions of shape `(rows, features)`. Scores have shape
//! `(rows,)`: the sigmoid of the logit, or the mean squared reconstruction error per row.

use std::path::Path;

use candle_core::{D, DType, Device, Module, Tensor};
use candle_nn::{Linear, VarBuilder, VarMap};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::{Activation, Dropout, Error, ModelKind, ModelSpec, Result};

fn activate(activation: Activation, x: &Tensor) -> Result<Tensor> {
    let y = match activation {
        Activation::Relu => x.relu()?,
        Activation::LeakyRelu => candle_nn::ops::leaky_relu(x, 0.01)?,
        Activation::Gelu => x.gelu()?,
        Activation::Silu => x.silu()?,
        Activation::Tanh => x.tanh()?,
    };
    Ok(y)
}

/// Runs `x` through `layers`, applying the activation (and dropout, when training) after
/// every layer except the last.
fn run_layers(
    layers: &[Linear],
    activation: Activation,
    x: &Tensor,
    mut dropout: Option<&mut Dropout>,
) -> Result<Tensor> {
    let mut h = x.clone();
    for (i, layer) in layers.iter().enumerate() {
        h = layer.forward(&h)?;
        if i + 1 < layers.len() {
            h = activate(activation, &h)?;
            if let Some(dropout) = dropout.as_deref_mut() {
                h = dropout.apply(&h)?;
            }
        }
    }
    Ok(h)
}

fn build_layers(spec: &ModelSpec, vb: &VarBuilder, prefix: &str) -> Result<Vec<Linear>> {
    spec.layer_shapes()
        .iter()
        .enumerate()
        .map(|(i, &(input, output))| {
            Ok(candle_nn::linear(input, output, vb.pp(format!("{prefix}{i}")))?)
        })
        .collect()
}

/// A feed-forward classifier ending in one logit.
#[derive(Debug, Clone)]
pub struct Mlp {
    layers: Vec<Linear>,
    activation: Activation,
}

impl Mlp {
    /// Builds the layers under `vb`, named `layer0`, `layer1`, ...
    pub fn new(spec: &ModelSpec, vb: &VarBuilder) -> Result<Mlp> {
        Ok(Mlp { layers: build_layers(spec, vb, "layer")?, activation: spec.activation })
    }

    /// Returns logits of shape `(rows, 1)`.
    pub fn forward(&self, x: &Tensor, dropout: Option<&mut Dropout>) -> Result<Tensor> {
        run_layers(&self.layers, self.activation, x, dropout)
    }
}

/// An autoencoder whose decoder mirrors its encoder.
#[derive(Debug, Clone)]
pub struct Autoencoder {
    layers: Vec<Linear>,
    activation: Activation,
}

impl Autoencoder {
    /// Builds the encoder and decoder layers under `vb`, named `layer0`, `layer1`, ...
    pub fn new(spec: &ModelSpec, vb: &VarBuilder) -> Result<Autoencoder> {
        Ok(Autoencoder { layers: build_layers(spec, vb, "layer")?, activation: spec.activation })
    }

    /// Returns reconstructions of shape `(rows, features)`.
    pub fn forward(&self, x: &Tensor, dropout: Option<&mut Dropout>) -> Result<Tensor> {
        run_layers(&self.layers, self.activation, x, dropout)
    }
}

/// A model of either family with its variables.
#[derive(Clone)]
pub struct Detector {
    spec: ModelSpec,
    network: Network,
    vars: VarMap,
    device: Device,
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector").field("spec", &self.spec).field("device", &self.device).finish()
    }
}

#[derive(Debug, Clone)]
enum Network {
    Mlp(Mlp),
    Autoencoder(Autoencoder),
}

impl Detector {
    /// Builds a model with weights drawn from a generator seeded with `seed`.
    ///
    /// Every weight matrix and bias is drawn uniformly from `[-1/sqrt(fan_in), 1/sqrt(fan_in)]`,
    /// PyTorch's default for linear layers, in the sorted order of the variable names.
    pub fn new(spec: &ModelSpec, device: &Device, seed: u64) -> Result<Detector> {
        let detector = Detector::build(spec, device)?;
        let vars = detector.vars.data().lock().expect("variable map lock is never poisoned");
        let mut names: Vec<&String> = vars.keys().collect();
        names.sort();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for name in names {
            let var = &vars[name];
            let dims = var.dims();
            let fan_in = if dims.len() == 2 { dims[1] } else { fan_in_of_bias(spec, name)? };
            let bound = 1.0 / (fan_in as f64).sqrt();
            let values: Vec<f32> =
                (0..var.elem_count()).map(|_| rng.random_range(-bound..bound) as f32).collect();
            var.set(&Tensor::from_vec(values, var.shape(), device)?)?;
        }
        drop(vars);
        Ok(detector)
    }

    /// Builds a model and loads its weights from a safetensors file written by
    /// [`save`](Self::save).
    pub fn load(spec: &ModelSpec, path: &Path, device: &Device) -> Result<Detector> {
        let mut detector = Detector::build(spec, device)?;
        detector
            .vars
            .load(path)
            .map_err(|e| Error::Weights { path: path.to_path_buf(), reason: e.to_string() })?;
        Ok(detector)
    }

    fn build(spec: &ModelSpec, device: &Device) -> Result<Detector> {
        spec.validate()?;
        let vars = VarMap::new();
        let vb = VarBuilder::from_varmap(&vars, DType::F32, device);
        let network = match spec.kind {
            ModelKind::Mlp => Network::Mlp(Mlp::new(spec, &vb)?),
            ModelKind::Autoencoder => Network::Autoencoder(Autoencoder::new(spec, &vb)?),
        };
        Ok(Detector { spec: spec.clone(), network, vars, device: device.clone() })
    }

    /// Writes the weights as safetensors.
    pub fn save(&self, path: &Path) -> Result<()> {
        self.vars
            .save(path)
            .map_err(|e| Error::Weights { path: path.to_path_buf(), reason: e.to_string() })
    }

    /// Returns the specification the model was built from.
    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// Returns the device holding the weights.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Returns the trainable variables, sorted by name.
    pub fn vars(&self) -> Vec<candle_core::Var> {
        let vars = self.vars.data().lock().expect("variable map lock is never poisoned");
        let mut named: Vec<_> = vars.iter().collect();
        named.sort_by(|a, b| a.0.cmp(b.0));
        named.into_iter().map(|(_, var)| var.clone()).collect()
    }

    /// Returns the raw network output: logits `(rows, 1)` for the MLP, reconstructions
    /// `(rows, features)` for the autoencoder.
    pub fn forward(&self, x: &Tensor, dropout: Option<&mut Dropout>) -> Result<Tensor> {
        match &self.network {
            Network::Mlp(mlp) => mlp.forward(x, dropout),
            Network::Autoencoder(autoencoder) => autoencoder.forward(x, dropout),
        }
    }

    /// Returns anomaly scores of shape `(rows,)` for inputs of shape `(rows, features)`.
    pub fn score(&self, x: &Tensor) -> Result<Tensor> {
        let output = self.forward(x, None)?;
        let scores = match self.spec.kind {
            ModelKind::Mlp => candle_nn::ops::sigmoid(&output)?.squeeze(1)?,
            ModelKind::Autoencoder => (output - x)?.sqr()?.mean(D::Minus1)?,
        };
        Ok(scores)
    }

    /// Scores a row-major matrix in batches and returns one score per row.
    pub fn score_rows(&self, values: &[f32], batch_size: usize) -> Result<Vec<f32>> {
        let width = self.spec.input_dim();
        let rows = values.len() / width;
        let mut scores = Vec::with_capacity(rows);
        for start in (0..rows).step_by(batch_size.max(1)) {
            let end = (start + batch_size).min(rows);
            let chunk = &values[start * width..end * width];
            let x = Tensor::from_slice(chunk, (end - start, width), &self.device)?;
            scores.extend(self.score(&x)?.to_vec1::<f32>()?);
        }
        Ok(scores)
    }
}

/// Returns the fan-in of the layer a bias belongs to, from its `layerN.bias` name.
fn fan_in_of_bias(spec: &ModelSpec, name: &str) -> Result<usize> {
    let index = name
        .strip_prefix("layer")
        .and_then(|rest| rest.split('.').next())
        .and_then(|n| n.parse::<usize>().ok());
    index
        .and_then(|i| spec.layer_shapes().get(i).map(|&(input, _)| input))
        .ok_or_else(|| Error::InvalidSpec(format!("unexpected variable `{name}`")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: ModelKind) -> ModelSpec {
        ModelSpec {
            kind,
            features: vec!["a".into(), "b".into(), "c".into(), "d".into()],
            hidden: vec![8, 2],
            activation: Activation::Relu,
            dropout: 0.0,
        }
    }

    fn rows() -> Vec<f32> {
        (0..40).map(|i| ((i * 7 % 11) as f32 - 5.0) / 3.0).collect()
    }

    #[test]
    fn same_seed_gives_same_weights() {
        for kind in [ModelKind::Mlp, ModelKind::Autoencoder] {
            let a = Detector::new(&spec(kind), &Device::Cpu, 7).unwrap();
            let b = Detector::new(&spec(kind), &Device::Cpu, 7).unwrap();
            let c = Detector::new(&spec(kind), &Device::Cpu, 8).unwrap();
            assert_eq!(a.score_rows(&rows(), 4).unwrap(), b.score_rows(&rows(), 4).unwrap());
            assert_ne!(a.score_rows(&rows(), 4).unwrap(), c.score_rows(&rows(), 4).unwrap());
        }
    }

    #[test]
    fn scores_have_expected_range() {
        let mlp = Detector::new(&spec(ModelKind::Mlp), &Device::Cpu, 1).unwrap();
        let scores = mlp.score_rows(&rows(), 3).unwrap();
        assert_eq!(scores.len(), 10);
        assert!(scores.iter().all(|s| (0.0..=1.0).contains(s)));

        let autoencoder = Detector::new(&spec(ModelKind::Autoencoder), &Device::Cpu, 1).unwrap();
        let scores = autoencoder.score_rows(&rows(), 3).unwrap();
        assert_eq!(scores.len(), 10);
        assert!(scores.iter().all(|s| *s >= 0.0));
    }

    #[test]
    fn reload_gives_identical_scores() {
        let dir = tempfile::tempdir().unwrap();
        for kind in [ModelKind::Mlp, ModelKind::Autoencoder] {
            let path = dir.path().join(format!("{}.safetensors", kind.as_str()));
            let model = Detector::new(&spec(kind), &Device::Cpu, 3).unwrap();
            model.save(&path).unwrap();
            let reloaded = Detector::load(&spec(kind), &path, &Device::Cpu).unwrap();
            assert_eq!(
                model.score_rows(&rows(), 4).unwrap(),
                reloaded.score_rows(&rows(), 4).unwrap()
            );
        }
    }

    #[test]
    fn weights_of_another_shape_fail_to_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.safetensors");
        Detector::new(&spec(ModelKind::Mlp), &Device::Cpu, 3).unwrap().save(&path).unwrap();
        let mut wider = spec(ModelKind::Mlp);
        wider.hidden = vec![16, 2];
        let error = Detector::load(&wider, &path, &Device::Cpu).unwrap_err().to_string();
        assert!(error.contains("m.safetensors"), "{error}");
    }
}
