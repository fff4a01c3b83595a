//! The networks: an MLP classifier, a mirrored autoencoder, a variational autoencoder and a
//! Deep SVDD network, behind one [`Network`] type.
//!
//! Shapes: inputs are `(rows, features)` float32. The MLP returns logits of shape `(rows, 1)`,
//! and the autoencoder returns reconstructions of shape `(rows, features)`. The VAE returns the
//! decoded mean and the latent mean and log-variance of shape `(rows, latent)`. Deep SVDD
//! returns points of shape `(rows, output)` in its output space. Scores have shape `(rows,)`.

use candle_core::{D, Tensor};
use candle_nn::{Linear, VarBuilder};

use crate::{Activation, Dropout, ModelSpec, NetworkSpec, Result, VaeScore, VaeSpec};

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
/// every layer except the last, or after every layer when `activate_last` is set.
fn run_layers(
    layers: &[Linear],
    activation: Activation,
    x: &Tensor,
    mut dropout: Option<&mut Dropout>,
    activate_last: bool,
) -> Result<Tensor> {
    let mut h = x.clone();
    for (i, layer) in layers.iter().enumerate() {
        h = crate::fused::linear(layer, &h)?;
        if activate_last || i + 1 < layers.len() {
            h = activate(activation, &h)?;
            if let Some(dropout) = dropout.as_deref_mut() {
                h = dropout.apply(&h)?;
            }
        }
    }
    Ok(h)
}

/// Builds one linear layer per `(input, output)` shape under `vb`, named `{prefix}0`,
/// `{prefix}1`, ...
fn build_layers(
    shapes: &[(usize, usize)],
    vb: &VarBuilder,
    prefix: &str,
    bias: bool,
) -> Result<Vec<Linear>> {
    shapes
        .iter()
        .enumerate()
        .map(|(i, &(input, output))| {
            let vb = vb.pp(format!("{prefix}{i}"));
            let layer = if bias {
                candle_nn::linear(input, output, vb)?
            } else {
                candle_nn::linear_no_bias(input, output, vb)?
            };
            Ok(layer)
        })
        .collect()
}

/// Returns the `(input, output)` shapes between consecutive widths.
fn shapes_of(widths: &[usize]) -> Vec<(usize, usize)> {
    widths.windows(2).map(|pair| (pair[0], pair[1])).collect()
}

/// Returns the mean squared error of each row of `reconstruction` against `x`, shape `(rows,)`.
fn row_mse(reconstruction: &Tensor, x: &Tensor) -> Result<Tensor> {
    Ok((reconstruction - x)?.sqr()?.mean(D::Minus1)?)
}

/// A feed-forward classifier ending in one logit.
#[derive(Debug, Clone)]
pub struct Mlp {
    layers: Vec<Linear>,
    activation: Activation,
}

impl Mlp {
    /// Builds the layers of an MLP spec under `vb`, named `layer0`, `layer1`, ...
    pub fn new(spec: &ModelSpec, vb: &VarBuilder) -> Result<Mlp> {
        let activation = spec.network().map(|n| n.activation).unwrap_or_default();
        Ok(Mlp { layers: build_layers(&spec.layer_shapes(), vb, "layer", true)?, activation })
    }

    /// Returns logits of shape `(rows, 1)`.
    pub fn forward(&self, x: &Tensor, dropout: Option<&mut Dropout>) -> Result<Tensor> {
        run_layers(&self.layers, self.activation, x, dropout, false)
    }
}

/// An autoencoder whose decoder mirrors its encoder.
#[derive(Debug, Clone)]
pub struct Autoencoder {
    layers: Vec<Linear>,
    activation: Activation,
}

impl Autoencoder {
    /// Builds the encoder and decoder layers of an autoencoder spec under `vb`, named
    /// `layer0`, `layer1`, ...
    pub fn new(spec: &ModelSpec, vb: &VarBuilder) -> Result<Autoencoder> {
        let activation = spec.network().map(|n| n.activation).unwrap_or_default();
        Ok(Autoencoder {
            layers: build_layers(&spec.layer_shapes(), vb, "layer", true)?,
            activation,
        })
    }

    /// Returns reconstructions of shape `(rows, features)`.
    pub fn forward(&self, x: &Tensor, dropout: Option<&mut Dropout>) -> Result<Tensor> {
        run_layers(&self.layers, self.activation, x, dropout, false)
    }
}

/// The outputs of a VAE for a batch.
#[derive(Debug, Clone)]
pub struct VaeOutput {
    /// The decoded mean of each row, `(rows, features)`.
    pub reconstruction: Tensor,
    /// The mean of the encoder's Gaussian, `(rows, latent)`.
    pub mean: Tensor,
    /// The log-variance of the encoder's Gaussian, `(rows, latent)`.
    pub log_variance: Tensor,
}

/// A variational autoencoder with a diagonal Gaussian encoder and a mirrored decoder.
///
/// With encoder widths `[h1, ..., hk]`, hidden layers `encoder0..` map the input through
/// `h1..h(k-1)`, two heads `mean` and `log_variance` map to the latent dimension `hk`, and
/// decoder layers `decoder0..` map back through `h(k-1)..h1` to the input width, the last
/// without activation.
#[derive(Debug, Clone)]
pub struct Vae {
    encoder: Vec<Linear>,
    mean: Linear,
    log_variance: Linear,
    decoder: Vec<Linear>,
    activation: Activation,
    beta: f64,
    score: VaeScore,
}

impl Vae {
    /// Builds the layers of a VAE spec under `vb`.
    pub fn new(spec: &VaeSpec, vb: &VarBuilder) -> Result<Vae> {
        let network = &spec.network;
        let input = network.features.len();
        let (&latent, hidden) =
            network.hidden.split_last().expect("validated specs have a latent width");
        let mut encoder_widths = vec![input];
        encoder_widths.extend(hidden);
        let last_hidden = *encoder_widths.last().expect("the input width is always present");
        let mut decoder_widths = vec![latent];
        decoder_widths.extend(hidden.iter().rev());
        decoder_widths.push(input);
        Ok(Vae {
            encoder: build_layers(&shapes_of(&encoder_widths), vb, "encoder", true)?,
            mean: candle_nn::linear(last_hidden, latent, vb.pp("mean"))?,
            log_variance: candle_nn::linear(last_hidden, latent, vb.pp("log_variance"))?,
            decoder: build_layers(&shapes_of(&decoder_widths), vb, "decoder", true)?,
            activation: network.activation,
            beta: spec.beta,
            score: spec.score,
        })
    }

    /// Encodes `x`, draws `z = mean + exp(log_variance / 2) * noise` (or takes `z = mean`
    /// when `noise` is `None`) and decodes `z`.
    ///
    /// `noise` is standard normal of shape `(rows, latent)`, from a seeded
    /// [`GaussianNoise`](crate::GaussianNoise) while training.
    pub fn forward(
        &self,
        x: &Tensor,
        noise: Option<&Tensor>,
        mut dropout: Option<&mut Dropout>,
    ) -> Result<VaeOutput> {
        let h = run_layers(&self.encoder, self.activation, x, dropout.as_deref_mut(), true)?;
        let mean = crate::fused::linear(&self.mean, &h)?;
        let log_variance = crate::fused::linear(&self.log_variance, &h)?;
        let z = match noise {
            Some(noise) => (&mean + (log_variance.affine(0.5, 0.0)?.exp()? * noise)?)?,
            None => mean.clone(),
        };
        let reconstruction = run_layers(&self.decoder, self.activation, &z, dropout, false)?;
        Ok(VaeOutput { reconstruction, mean, log_variance })
    }

    /// Returns the latent dimension.
    pub fn latent_dim(&self) -> usize {
        self.mean.weight().dim(0).expect("a linear weight is a matrix")
    }

    /// Returns the weight of the KL term.
    pub fn beta(&self) -> f64 {
        self.beta
    }

    /// Returns scores of shape `(rows,)`, computed at `z = mean` so that they are
    /// deterministic.
    pub fn score(&self, x: &Tensor) -> Result<Tensor> {
        let output = self.forward(x, None, None)?;
        let reconstruction_error = row_mse(&output.reconstruction, x)?;
        match self.score {
            VaeScore::Reconstruction => Ok(reconstruction_error),
            VaeScore::Elbo => {
                let kl = kl_divergence(&output.mean, &output.log_variance)?;
                Ok((reconstruction_error + kl.affine(self.beta, 0.0)?)?)
            }
        }
    }
}

/// Returns the KL divergence of `N(mean, exp(log_variance))` from `N(0, I)` for each row,
/// `-1/2 * sum_j (1 + log_variance_j - mean_j^2 - exp(log_variance_j))`, shape `(rows,)`.
pub fn kl_divergence(mean: &Tensor, log_variance: &Tensor) -> Result<Tensor> {
    let terms = ((log_variance.affine(1.0, 1.0)? - mean.sqr()?)? - log_variance.exp()?)?;
    Ok(terms.sum(D::Minus1)?.affine(-0.5, 0.0)?)
}

/// Lower bound on each coordinate of the Deep SVDD centre, in absolute value.
///
/// A coordinate near 0 could be matched by a network whose weights are all 0, so coordinates
/// with `|c_j| < eps` are moved to `-eps` (when negative) or `eps` (otherwise), as Ruff et al.
/// (ICML 2018) do with `eps = 0.1`.
pub const CENTER_EPS: f32 = 0.1;

/// A Deep SVDD network (Ruff et al., "Deep One-Class Classification", ICML 2018): linear
/// layers without bias terms, so that the network cannot map every input to the centre by
/// learning a constant output.
#[derive(Debug, Clone)]
pub struct DeepSvdd {
    layers: Vec<Linear>,
    activation: Activation,
    center: Tensor,
}

impl DeepSvdd {
    /// Builds the bias-free layers of a Deep SVDD spec under `vb`, named `layer0`, `layer1`,
    /// ..., with a centre of zeros until [`set_center`](Self::set_center) is called.
    pub fn new(spec: &ModelSpec, network: &NetworkSpec, vb: &VarBuilder) -> Result<DeepSvdd> {
        let output = *network.hidden.last().expect("validated specs have an output width");
        Ok(DeepSvdd {
            layers: build_layers(&spec.layer_shapes(), vb, "layer", false)?,
            activation: network.activation,
            center: Tensor::zeros(output, candle_core::DType::F32, vb.device())?,
        })
    }

    /// Returns the points of `x` in the output space, shape `(rows, output)`.
    pub fn forward(&self, x: &Tensor, dropout: Option<&mut Dropout>) -> Result<Tensor> {
        run_layers(&self.layers, self.activation, x, dropout, false)
    }

    /// Returns the centre, shape `(output,)`.
    pub fn center(&self) -> &Tensor {
        &self.center
    }

    /// Sets the centre, shape `(output,)`.
    pub fn set_center(&mut self, center: Tensor) {
        self.center = center;
    }

    /// Sets the centre to the mean output of the network on `x`, scored in batches of
    /// `batch_size` rows, with every coordinate pushed to at least [`CENTER_EPS`] in absolute
    /// value.
    pub fn init_center(&mut self, x: &Tensor, batch_size: usize) -> Result<()> {
        let rows = x.dim(0)?;
        let mut sums = vec![0f64; self.center.elem_count()];
        for start in (0..rows).step_by(batch_size.max(1)) {
            let len = batch_size.min(rows - start);
            let batch_sums = self.forward(&x.narrow(0, start, len)?, None)?.sum(0)?;
            for (sum, value) in sums.iter_mut().zip(batch_sums.to_vec1::<f32>()?) {
                *sum += f64::from(value);
            }
        }
        let center: Vec<f32> = sums
            .iter()
            .map(|&sum| {
                let mean = (sum / rows.max(1) as f64) as f32;
                if mean.abs() >= CENTER_EPS {
                    mean
                } else if mean < 0.0 {
                    -CENTER_EPS
                } else {
                    CENTER_EPS
                }
            })
            .collect();
        self.center = Tensor::from_vec(center, self.center.shape(), x.device())?;
        Ok(())
    }

    /// Returns the squared Euclidean distance of each output to the centre, `(rows,)`.
    pub fn squared_distances(&self, output: &Tensor) -> Result<Tensor> {
        Ok(output.broadcast_sub(&self.center)?.sqr()?.sum(D::Minus1)?)
    }
}

/// A network of any family.
#[derive(Debug, Clone)]
pub enum Network {
    /// An MLP classifier.
    Mlp(Mlp),
    /// An autoencoder.
    Autoencoder(Autoencoder),
    /// A variational autoencoder.
    Vae(Vae),
    /// A Deep SVDD network.
    DeepSvdd(DeepSvdd),
}

impl Network {
    /// Builds the network of a network spec under `vb`; `None` for the other kinds.
    pub(crate) fn new(spec: &ModelSpec, vb: &VarBuilder) -> Result<Option<Network>> {
        let network = match spec {
            ModelSpec::Mlp(_) => Network::Mlp(Mlp::new(spec, vb)?),
            ModelSpec::Autoencoder(_) => Network::Autoencoder(Autoencoder::new(spec, vb)?),
            ModelSpec::Vae(vae) => Network::Vae(Vae::new(vae, vb)?),
            ModelSpec::DeepSvdd(network) => Network::DeepSvdd(DeepSvdd::new(spec, network, vb)?),
            ModelSpec::IsolationForest(_) | ModelSpec::Pca(_) => return Ok(None),
        };
        Ok(Some(network))
    }

    /// Returns the main output without noise: logits of the MLP, reconstructions of the
    /// autoencoder, the decoding of the latent mean of the VAE, output points of Deep SVDD.
    pub fn forward(&self, x: &Tensor, dropout: Option<&mut Dropout>) -> Result<Tensor> {
        match self {
            Network::Mlp(mlp) => mlp.forward(x, dropout),
            Network::Autoencoder(autoencoder) => autoencoder.forward(x, dropout),
            Network::Vae(vae) => Ok(vae.forward(x, None, dropout)?.reconstruction),
            Network::DeepSvdd(svdd) => svdd.forward(x, dropout),
        }
    }

    /// Returns anomaly scores of shape `(rows,)` for inputs of shape `(rows, features)`.
    pub fn score(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Network::Mlp(mlp) => Ok(candle_nn::ops::sigmoid(&mlp.forward(x, None)?)?.squeeze(1)?),
            Network::Autoencoder(autoencoder) => row_mse(&autoencoder.forward(x, None)?, x),
            Network::Vae(vae) => vae.score(x),
            Network::DeepSvdd(svdd) => svdd.squared_distances(&svdd.forward(x, None)?),
        }
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device};
    use candle_nn::VarMap;

    use super::*;

    #[test]
    fn kl_matches_the_closed_form() {
        // KL(N(1, e^0.5) || N(0, 1)) = -1/2 (1 + 0.5 - 1 - e^0.5) = 0.574360635...;
        // KL(N(0, 1) || N(0, 1)) = 0.
        let mean = Tensor::new(&[[1f32, 0.0]], &Device::Cpu).unwrap();
        let log_variance = Tensor::new(&[[0.5f32, 0.0]], &Device::Cpu).unwrap();
        let kl = kl_divergence(&mean, &log_variance).unwrap().to_vec1::<f32>().unwrap();
        assert!((kl[0] - 0.574_360_6).abs() < 1e-6, "{kl:?}");
    }

    #[test]
    fn vae_layers_mirror_the_encoder() {
        let spec = VaeSpec {
            network: NetworkSpec {
                features: (0..5).map(|i| format!("f{i}")).collect(),
                hidden: vec![4, 3, 2],
                activation: Activation::Tanh,
                dropout: 0.0,
            },
            beta: 1.0,
            score: VaeScore::Reconstruction,
        };
        let vars = VarMap::new();
        let vb = VarBuilder::from_varmap(&vars, DType::F32, &Device::Cpu);
        let vae = Vae::new(&spec, &vb).unwrap();
        let shapes = |layers: &[Linear]| -> Vec<Vec<usize>> {
            layers.iter().map(|l| l.weight().dims().to_vec()).collect()
        };
        // Weights are (output, input).
        assert_eq!(shapes(&vae.encoder), vec![vec![4, 5], vec![3, 4]]);
        assert_eq!(vae.mean.weight().dims(), [2, 3]);
        assert_eq!(vae.log_variance.weight().dims(), [2, 3]);
        assert_eq!(shapes(&vae.decoder), vec![vec![3, 2], vec![4, 3], vec![5, 4]]);
        assert_eq!(vae.latent_dim(), 2);
    }

    #[test]
    fn deep_svdd_layers_have_no_bias() {
        let network = NetworkSpec {
            features: vec!["a".into(), "b".into()],
            hidden: vec![3, 2],
            activation: Activation::Relu,
            dropout: 0.0,
        };
        let spec = ModelSpec::DeepSvdd(network.clone());
        let vars = VarMap::new();
        let vb = VarBuilder::from_varmap(&vars, DType::F32, &Device::Cpu);
        DeepSvdd::new(&spec, &network, &vb).unwrap();
        let mut names: Vec<String> = vars.data().lock().unwrap().keys().cloned().collect();
        names.sort();
        assert_eq!(names, ["layer0.weight", "layer1.weight"]);
    }

    #[test]
    fn center_coordinates_are_pushed_away_from_zero() {
        let network = NetworkSpec {
            features: vec!["a".into(), "b".into(), "c".into()],
            hidden: vec![3],
            activation: Activation::Relu,
            dropout: 0.0,
        };
        let spec = ModelSpec::DeepSvdd(network.clone());
        let vars = VarMap::new();
        let vb = VarBuilder::from_varmap(&vars, DType::F32, &Device::Cpu);
        let mut svdd = DeepSvdd::new(&spec, &network, &vb).unwrap();
        // With the identity as the only layer, the output is the input, so the centre is the
        // column mean: (0.5, -0.05, 0.0) before the adjustment.
        let identity = Tensor::eye(3, DType::F32, &Device::Cpu).unwrap();
        vars.data().lock().unwrap()["layer0.weight"].set(&identity).unwrap();
        let x = Tensor::new(&[[1f32, -0.1, 0.2], [0.0, 0.0, -0.2]], &Device::Cpu).unwrap();
        svdd.init_center(&x, 1).unwrap();
        assert_eq!(svdd.center().to_vec1::<f32>().unwrap(), [0.5, -0.1, 0.1]);
        let distances = svdd.squared_distances(&x).unwrap().to_vec1::<f32>().unwrap();
        // Row 1: 0.5^2 + 0^2 + 0.1^2 = 0.26; row 2: 0.5^2 + 0.1^2 + 0.3^2 = 0.35.
        assert!((distances[0] - 0.26).abs() < 1e-6, "{distances:?}");
        assert!((distances[1] - 0.35).abs() < 1e-6, "{distances:?}");
    }
}
