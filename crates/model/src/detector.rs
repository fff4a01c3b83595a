//! [`Detector`]: a model of any kind with its fitted state, and the one scoring, saving and
//! loading interface that `train` and `evaluate` use.
//!
//! Every kind saves into one safetensors file:
//!
//! - MLP, autoencoder and VAE: their variables, one tensor per weight and bias named by layer
//!   (`layer0.weight`, ...; for the VAE `encoder0.*`, `mean.*`, `log_variance.*`,
//!   `decoder0.*`), float32.
//! - Deep SVDD: its weights (`layer0.weight`, ...) and the centre `center`, float32 `(output,)`.
//! - Isolation forest and PCA: the arrays described at [`IsolationForest`] and [`Pca`].

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::{Dropout, Error, IsolationForest, ModelSpec, Network, Pca, Result};

/// Name of the Deep SVDD centre in the weights file.
const CENTER: &str = "center";

/// A model of any family with its fitted state.
#[derive(Clone)]
pub struct Detector {
    spec: ModelSpec,
    state: State,
    device: Device,
}

#[derive(Clone)]
enum State {
    Network { network: Network, vars: VarMap },
    IsolationForest(IsolationForest),
    Pca(Pca),
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector").field("spec", &self.spec).field("device", &self.device).finish()
    }
}

impl Detector {
    /// Builds a network with weights drawn from a generator seeded with `seed`.
    ///
    /// Every weight matrix and bias is drawn uniformly from `[-1/sqrt(fan_in), 1/sqrt(fan_in)]`,
    /// PyTorch's default for linear layers, in the sorted order of the variable names. Fails
    /// for isolation forest and PCA, which [`fit`](Self::fit) builds from data.
    pub fn new(spec: &ModelSpec, device: &Device, seed: u64) -> Result<Detector> {
        let detector = Detector::build(spec, device)?;
        let State::Network { vars, .. } = &detector.state else {
            unreachable!("Detector::build builds networks only")
        };
        let vars = vars.data().lock().expect("variable map lock is never poisoned");
        let mut names: Vec<&String> = vars.keys().collect();
        names.sort();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for name in names {
            let var = &vars[name];
            let fan_in = fan_in(&vars, name)?;
            let bound = 1.0 / (fan_in as f64).sqrt();
            let values: Vec<f32> =
                (0..var.elem_count()).map(|_| rng.random_range(-bound..bound) as f32).collect();
            var.set(&Tensor::from_vec(values, var.shape(), device)?)?;
        }
        drop(vars);
        Ok(detector)
    }

    /// Fits an isolation forest or a PCA model on the rows of a row-major matrix with one
    /// column per feature of `spec`.
    ///
    /// The forest's random choices come from `seed`, and the model lives on the CPU. Fails for
    /// network kinds, which [`new`](Self::new) builds.
    pub fn fit(spec: &ModelSpec, values: &[f32], seed: u64) -> Result<Detector> {
        spec.validate()?;
        let state = match spec {
            ModelSpec::IsolationForest(forest) => {
                State::IsolationForest(IsolationForest::fit(forest, values, seed)?)
            }
            ModelSpec::Pca(pca) => State::Pca(Pca::fit(pca, values)?),
            _ => {
                return Err(Error::InvalidSpec(format!(
                    "{} is trained by gradient descent; build it with Detector::new",
                    spec.kind().as_str()
                )));
            }
        };
        Ok(Detector { spec: spec.clone(), state, device: Device::Cpu })
    }

    /// Rebuilds a model from a safetensors file written by [`save`](Self::save).
    pub fn load(spec: &ModelSpec, path: &Path, device: &Device) -> Result<Detector> {
        let weights_error = |reason: String| Error::Weights { path: path.to_path_buf(), reason };
        let read_all = || {
            candle_core::safetensors::load(path, &Device::Cpu)
                .map_err(|e| weights_error(e.to_string()))
        };
        match spec {
            ModelSpec::IsolationForest(forest_spec) => {
                let forest = IsolationForest::from_tensors(forest_spec, &read_all()?)
                    .map_err(weights_error)?;
                let state = State::IsolationForest(forest);
                Ok(Detector { spec: spec.clone(), state, device: Device::Cpu })
            }
            ModelSpec::Pca(pca_spec) => {
                let pca = Pca::from_tensors(pca_spec, &read_all()?).map_err(weights_error)?;
                Ok(Detector { spec: spec.clone(), state: State::Pca(pca), device: Device::Cpu })
            }
            _ => {
                let mut detector = Detector::build(spec, device)?;
                let State::Network { network, vars } = &mut detector.state else {
                    unreachable!("network kinds build a network")
                };
                vars.load(path).map_err(|e| weights_error(e.to_string()))?;
                if let Network::DeepSvdd(svdd) = network {
                    let center = read_all()?
                        .remove(CENTER)
                        .ok_or_else(|| weights_error(format!("tensor `{CENTER}` is missing")))?;
                    if center.shape() != svdd.center().shape() {
                        return Err(weights_error(format!(
                            "tensor `{CENTER}` has shape {:?}, expected {:?}",
                            center.dims(),
                            svdd.center().dims()
                        )));
                    }
                    svdd.set_center(center.to_dtype(DType::F32)?.to_device(device)?);
                }
                Ok(detector)
            }
        }
    }

    fn build(spec: &ModelSpec, device: &Device) -> Result<Detector> {
        spec.validate()?;
        let vars = VarMap::new();
        let vb = VarBuilder::from_varmap(&vars, DType::F32, device);
        let network = Network::new(spec, &vb)?.ok_or_else(|| {
            Error::InvalidSpec(format!(
                "{} is fitted from data in one pass; build it with Detector::fit",
                spec.kind().as_str()
            ))
        })?;
        let state = State::Network { network, vars };
        Ok(Detector { spec: spec.clone(), state, device: device.clone() })
    }

    /// Writes the fitted state as safetensors, in the layout of the module documentation.
    pub fn save(&self, path: &Path) -> Result<()> {
        let weights_error = |e: candle_core::Error| Error::Weights {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let tensors: HashMap<String, Tensor> = match &self.state {
            State::Network { network: Network::DeepSvdd(svdd), vars } => {
                let vars = vars.data().lock().expect("variable map lock is never poisoned");
                let mut tensors: HashMap<String, Tensor> = vars
                    .iter()
                    .map(|(name, var)| (name.clone(), var.as_tensor().clone()))
                    .collect();
                tensors.insert(CENTER.to_string(), svdd.center().clone());
                tensors
            }
            State::Network { vars, .. } => return vars.save(path).map_err(weights_error),
            State::IsolationForest(forest) => forest.to_tensors()?,
            State::Pca(pca) => pca.to_tensors()?,
        };
        candle_core::safetensors::save(&tensors, path).map_err(weights_error)
    }

    /// Returns the specification the model was built from.
    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// Returns the device holding the weights; the CPU for isolation forest and PCA.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Returns the network of a network kind.
    pub fn network(&self) -> Option<&Network> {
        match &self.state {
            State::Network { network, .. } => Some(network),
            _ => None,
        }
    }

    /// Returns the network of a network kind, to change state outside its variables (the Deep
    /// SVDD centre).
    pub fn network_mut(&mut self) -> Option<&mut Network> {
        match &mut self.state {
            State::Network { network, .. } => Some(network),
            _ => None,
        }
    }

    /// Returns the fitted isolation forest.
    pub fn isolation_forest(&self) -> Option<&IsolationForest> {
        match &self.state {
            State::IsolationForest(forest) => Some(forest),
            _ => None,
        }
    }

    /// Returns the fitted PCA model.
    pub fn pca(&self) -> Option<&Pca> {
        match &self.state {
            State::Pca(pca) => Some(pca),
            _ => None,
        }
    }

    /// Returns the trainable variables, sorted by name; none for isolation forest and PCA.
    pub fn vars(&self) -> Vec<Var> {
        let State::Network { vars, .. } = &self.state else {
            return Vec::new();
        };
        let vars = vars.data().lock().expect("variable map lock is never poisoned");
        let mut named: Vec<_> = vars.iter().collect();
        named.sort_by(|a, b| a.0.cmp(b.0));
        named.into_iter().map(|(_, var)| var.clone()).collect()
    }

    /// Returns the number of fitted values: the weights and biases of a network, the nodes of
    /// an isolation forest, and the mean and kept components (`features * (components + 1)`)
    /// of PCA.
    pub fn parameter_count(&self) -> u64 {
        match &self.state {
            State::Network { .. } => self.vars().iter().map(|var| var.elem_count() as u64).sum(),
            State::IsolationForest(forest) => forest.node_count() as u64,
            State::Pca(pca) => (self.spec.input_dim() * (pca.components() + 1)) as u64,
        }
    }

    /// Returns the raw network output without noise: logits `(rows, 1)` of the MLP,
    /// reconstructions `(rows, features)` of the autoencoder and the VAE, output points of
    /// Deep SVDD. Fails for isolation forest and PCA.
    pub fn forward(&self, x: &Tensor, dropout: Option<&mut Dropout>) -> Result<Tensor> {
        match self.network() {
            Some(network) => network.forward(x, dropout),
            None => Err(self.not_a_network()),
        }
    }

    fn not_a_network(&self) -> Error {
        Error::InvalidSpec(format!("{} has no network to run", self.spec.kind().as_str()))
    }

    /// Returns anomaly scores of shape `(rows,)` for inputs of shape `(rows, features)` on the
    /// model's device; higher is more anomalous.
    pub fn score(&self, x: &Tensor) -> Result<Tensor> {
        match &self.state {
            State::Network { network, .. } => network.score(x),
            State::IsolationForest(_) | State::Pca(_) => {
                let rows = x.dim(0)?;
                let values = x.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
                let scores = self.score_rows(&values, rows.max(1))?;
                Ok(Tensor::from_vec(scores, rows, x.device())?)
            }
        }
    }

    /// Scores a row-major matrix in batches of `batch_size` rows (networks) and returns one
    /// score per row; higher is more anomalous.
    ///
    /// Network scores are computed in float32 and widened; isolation forest and PCA scores are
    /// computed in float64 on the CPU.
    pub fn score_rows(&self, values: &[f32], batch_size: usize) -> Result<Vec<f64>> {
        self.score_rows_on_threads(values, batch_size, 1)
    }

    /// Scores like [`score_rows`](Self::score_rows), sharing the batches of a network on the
    /// CPU among `threads` groups, scored in parallel on a pool of one thread per core.
    ///
    /// Each thread scores whole batches at the same row offsets as one thread would, so the
    /// scores are identical for any `threads`. Candle's own kernels keep the thread count they
    /// read from `RAYON_NUM_THREADS`, so a caller that passes `threads > 1` normally sets that
    /// to 1. Other models and devices score on the calling thread.
    pub fn score_rows_on_threads(
        &self,
        values: &[f32],
        batch_size: usize,
        threads: usize,
    ) -> Result<Vec<f64>> {
        let width = self.spec.input_dim();
        if !values.len().is_multiple_of(width) {
            return Err(Error::InvalidSpec(format!(
                "{} values do not form rows of {width} features",
                values.len()
            )));
        }
        match &self.state {
            State::Network { network, .. } => {
                let rows = values.len() / width;
                let batch_size = batch_size.max(1);
                let batches: Vec<usize> = (0..rows).step_by(batch_size).collect();
                let threads = if self.device.is_cpu() { threads.max(1) } else { 1 };
                let score_batches = |starts: &[usize]| -> Result<Vec<f64>> {
                    let mut scores = Vec::new();
                    for &start in starts {
                        let end = (start + batch_size).min(rows);
                        let chunk = &values[start * width..end * width];
                        let x = Tensor::from_slice(chunk, (end - start, width), &self.device)?;
                        let batch = network.score(&x)?.to_vec1::<f32>()?;
                        scores.extend(batch.into_iter().map(f64::from));
                    }
                    Ok(scores)
                };
                if threads == 1 || batches.len() < 2 {
                    return score_batches(&batches);
                }
                let per_thread = batches.len().div_ceil(threads);
                let groups: Vec<&[usize]> = batches.chunks(per_thread).collect();
                let mut parts: Vec<Result<Vec<f64>>> = Vec::new();
                parts.resize_with(groups.len(), || Ok(Vec::new()));
                scoring_pool().scope(|scope| {
                    for (part, starts) in parts.iter_mut().zip(&groups) {
                        scope.spawn(move |_| *part = score_batches(starts));
                    }
                });
                let mut scores = Vec::with_capacity(rows);
                for part in parts {
                    scores.extend(part?);
                }
                Ok(scores)
            }
            State::IsolationForest(forest) => Ok(forest.score_rows(values)),
            State::Pca(pca) => Ok(pca.score_rows(values)),
        }
    }
}

/// Returns the threads that score batches in parallel, one per core, started on first use.
///
/// The threads live as long as the process, so the per-thread packing buffers of the matrix
/// multiplication are allocated once rather than on every call.
fn scoring_pool() -> &'static rayon::ThreadPool {
    static POOL: std::sync::OnceLock<rayon::ThreadPool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        rayon::ThreadPoolBuilder::new()
            .num_threads(cores)
            .thread_name(|index| format!("scoring-{index}"))
            .build()
            .expect("the scoring threads can be started")
    })
}

/// Returns the fan-in of a variable: the input width of a weight matrix `(output, input)`, or
/// for a bias `NAME.bias` that of the weight `NAME.weight` beside it.
fn fan_in(vars: &HashMap<String, Var>, name: &str) -> Result<usize> {
    let weight = match name.strip_suffix(".bias") {
        Some(layer) => vars.get(&format!("{layer}.weight")),
        None => vars.get(name),
    };
    match weight.map(|w| w.dims()) {
        Some(&[_, input]) => Ok(input),
        _ => Err(Error::InvalidSpec(format!("unexpected variable `{name}`"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        Activation, IsolationForestSpec, ModelKind, NetworkSpec, PcaSpec, VaeScore, VaeSpec,
    };

    fn features(count: usize) -> Vec<String> {
        (0..count).map(|i| format!("f{i}")).collect()
    }

    fn network(hidden: Vec<usize>) -> NetworkSpec {
        NetworkSpec { features: features(4), hidden, activation: Activation::Relu, dropout: 0.0 }
    }

    fn spec(kind: ModelKind) -> ModelSpec {
        match kind {
            ModelKind::Mlp => ModelSpec::Mlp(network(vec![8, 2])),
            ModelKind::Autoencoder => ModelSpec::Autoencoder(network(vec![8, 2])),
            ModelKind::Vae => ModelSpec::Vae(VaeSpec {
                network: network(vec![8, 2]),
                beta: 1.0,
                score: VaeScore::Elbo,
            }),
            ModelKind::DeepSvdd => ModelSpec::DeepSvdd(network(vec![8, 3])),
            ModelKind::IsolationForest => ModelSpec::IsolationForest(IsolationForestSpec {
                features: features(4),
                trees: 10,
                max_samples: 8,
            }),
            ModelKind::Pca => ModelSpec::Pca(PcaSpec {
                features: features(4),
                components: None,
                variance: 0.9,
                standardize: true,
            }),
        }
    }

    fn rows() -> Vec<f32> {
        (0..40).map(|i| ((i * 7 % 11) as f32 - 5.0) / 3.0).collect()
    }

    /// Builds a model of any kind: seeded weights for networks (with the Deep SVDD centre set
    /// from the rows), a fit on the rows otherwise.
    fn detector(kind: ModelKind, seed: u64) -> Detector {
        let spec = spec(kind);
        if !kind.is_network() {
            return Detector::fit(&spec, &rows(), seed).unwrap();
        }
        let mut detector = Detector::new(&spec, &Device::Cpu, seed).unwrap();
        if let Some(Network::DeepSvdd(svdd)) = detector.network_mut() {
            let x = Tensor::from_vec(rows(), (10, 4), &Device::Cpu).unwrap();
            svdd.init_center(&x, 4).unwrap();
        }
        detector
    }

    #[test]
    fn same_seed_gives_same_scores() {
        for kind in ModelKind::ALL {
            let a = detector(kind, 7).score_rows(&rows(), 4).unwrap();
            let b = detector(kind, 7).score_rows(&rows(), 4).unwrap();
            assert_eq!(a, b, "{kind:?}");
            if kind != ModelKind::Pca {
                let c = detector(kind, 8).score_rows(&rows(), 4).unwrap();
                assert_ne!(a, c, "{kind:?}");
            }
        }
    }

    #[test]
    fn scores_have_expected_range() {
        for kind in ModelKind::ALL {
            let scores = detector(kind, 1).score_rows(&rows(), 3).unwrap();
            assert_eq!(scores.len(), 10, "{kind:?}");
            let in_range = match kind {
                ModelKind::Mlp | ModelKind::IsolationForest => {
                    scores.iter().all(|s| *s > 0.0 && *s <= 1.0)
                }
                _ => scores.iter().all(|s| *s >= 0.0 && s.is_finite()),
            };
            assert!(in_range, "{kind:?}: {scores:?}");
        }
    }

    #[test]
    fn reload_gives_identical_scores() {
        let dir = tempfile::tempdir().unwrap();
        for kind in ModelKind::ALL {
            let path = dir.path().join(format!("{}.safetensors", kind.as_str()));
            let model = detector(kind, 3);
            model.save(&path).unwrap();
            let reloaded = Detector::load(&spec(kind), &path, &Device::Cpu).unwrap();
            assert_eq!(
                model.score_rows(&rows(), 4).unwrap(),
                reloaded.score_rows(&rows(), 4).unwrap(),
                "{kind:?}"
            );
            assert_eq!(model.parameter_count(), reloaded.parameter_count(), "{kind:?}");
        }
    }

    #[test]
    fn score_tensor_matches_score_rows() {
        let x = Tensor::from_vec(rows(), (10, 4), &Device::Cpu).unwrap();
        for kind in ModelKind::ALL {
            let model = detector(kind, 5);
            let from_tensor: Vec<f64> =
                model.score(&x).unwrap().to_vec1::<f64>().unwrap_or_else(|_| {
                    let scores = model.score(&x).unwrap().to_vec1::<f32>().unwrap();
                    scores.into_iter().map(f64::from).collect()
                });
            assert_eq!(from_tensor, model.score_rows(&rows(), 10).unwrap(), "{kind:?}");
        }
    }

    #[test]
    fn parameter_counts() {
        // MLP 4-8-2-1: 4*8 + 8 + 8*2 + 2 + 2*1 + 1 = 61.
        assert_eq!(detector(ModelKind::Mlp, 1).parameter_count(), 61);
        // VAE 4-8-(2, 2)-8-4: 4*8 + 8, two heads 8*2 + 2, then 2*8 + 8 and 8*4 + 4 = 136.
        assert_eq!(detector(ModelKind::Vae, 1).parameter_count(), 136);
        // Deep SVDD 4-8-3 without biases: 32 + 24 = 56.
        assert_eq!(detector(ModelKind::DeepSvdd, 1).parameter_count(), 56);
    }

    #[test]
    fn weights_of_another_shape_fail_to_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.safetensors");
        detector(ModelKind::Mlp, 3).save(&path).unwrap();
        let wider = ModelSpec::Mlp(network(vec![16, 2]));
        let error = Detector::load(&wider, &path, &Device::Cpu).unwrap_err().to_string();
        assert!(error.contains("m.safetensors"), "{error}");
    }

    #[test]
    fn kinds_are_built_the_right_way() {
        let error = Detector::new(&spec(ModelKind::Pca), &Device::Cpu, 1).unwrap_err();
        assert!(error.to_string().contains("Detector::fit"), "{error}");
        let error = Detector::fit(&spec(ModelKind::Vae), &rows(), 1).unwrap_err();
        assert!(error.to_string().contains("Detector::new"), "{error}");
    }
}
