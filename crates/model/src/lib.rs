//! The detectors: an MLP classifier, an autoencoder, a variational autoencoder and Deep SVDD
//! built with Candle, and an isolation forest and PCA in plain Rust.
//!
//! Networks are built through `VarBuilder` with one named prefix per layer and initialised
//! from a seeded ChaCha generator, because Candle's CPU generator cannot be seeded. Isolation
//! forest and PCA are fitted from data in one pass. A [`ModelSpec`] contains everything needed
//! to rebuild a model, so `train` writes it as `model.json` beside `model.safetensors`, and
//! `evaluate` reloads both through [`Detector::load`] and scores with
//! [`Detector::score_rows`].

mod detector;
mod device;
mod dropout;
mod error;
mod forest;
mod fused;
mod network;
mod noise;
mod pca;
mod spec;

pub use detector::Detector;
pub use device::{CUDA_BUILT, DeviceChoice, available_devices, device_name, select_device};
pub use dropout::Dropout;
pub use error::{Error, Result};
pub use forest::{IsolationForest, average_path_length};
pub use network::{Autoencoder, CENTER_EPS, DeepSvdd, Mlp, Network, Vae, VaeOutput, kl_divergence};
pub use noise::GaussianNoise;
pub use pca::{Pca, symmetric_eigen};
pub use spec::{
    Activation, IsolationForestSpec, ModelKind, ModelSpec, NetworkSpec, PcaSpec, VaeScore, VaeSpec,
};
