//! Candle definitions of the detectors: an MLP classifier and an autoencoder.
//!
//! Models are built through `VarBuilder` with one named prefix per layer, initialised from a
//! seeded ChaCha generator (Candle's CPU generator cannot be seeded), and saved as
//! safetensors. A [`ModelSpec`] holds everything needed to rebuild a model, so `train` writes
//! it as `model.json` beside `model.safetensors` and `evaluate` reloads both.

mod device;
mod dropout;
mod error;
mod network;
mod spec;

pub use device::{DeviceChoice, device_name, select_device};
pub use dropout::Dropout;
pub use error::{Error, Result};
pub use network::{Autoencoder, Detector, Mlp};
pub use spec::{Activation, ModelKind, ModelSpec};
