//! Choice of the compute device from the `device` setting of an experiment.

use candle_core::Device;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The `device` setting: `auto`, `cpu`, `cuda` or `cuda:N`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum DeviceChoice {
    /// The first CUDA device when the binary has CUDA support and a GPU is present, else the
    /// CPU.
    #[default]
    Auto,
    /// The CPU.
    Cpu,
    /// The CUDA device with this ordinal.
    Cuda(usize),
}

impl TryFrom<String> for DeviceChoice {
    type Error = String;

    fn try_from(value: String) -> std::result::Result<Self, Self::Error> {
        match value.as_str() {
            "auto" => Ok(DeviceChoice::Auto),
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" => Ok(DeviceChoice::Cuda(0)),
            other => other
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(DeviceChoice::Cuda)
                .ok_or_else(|| {
                    format!("invalid device `{other}`: expected `auto`, `cpu`, `cuda` or `cuda:N`")
                }),
        }
    }
}

impl From<DeviceChoice> for String {
    fn from(choice: DeviceChoice) -> String {
        match choice {
            DeviceChoice::Auto => "auto".into(),
            DeviceChoice::Cpu => "cpu".into(),
            DeviceChoice::Cuda(n) => format!("cuda:{n}"),
        }
    }
}

/// Returns the Candle device for a setting.
///
/// `auto` falls back to the CPU when the binary was built without the `cuda` feature or no
/// GPU responds; an explicit `cuda` is an error in both cases.
pub fn select_device(choice: &DeviceChoice) -> Result<Device> {
    match choice {
        DeviceChoice::Cpu => Ok(Device::Cpu),
        DeviceChoice::Auto => {
            if cfg!(feature = "cuda")
                && let Ok(device) = Device::new_cuda(0)
            {
                return Ok(device);
            }
            Ok(Device::Cpu)
        }
        DeviceChoice::Cuda(ordinal) => {
            if !cfg!(feature = "cuda") {
                return Err(Error::Device {
                    requested: String::from(choice.clone()),
                    reason: "this binary was built without CUDA support; build with \
                             `--features cuda` or set device = \"cpu\""
                        .into(),
                });
            }
            Device::new_cuda(*ordinal).map_err(|e| {
                // Candle appends a backtrace to the message when RUST_BACKTRACE is set.
                let message = e.to_string();
                let first_line = message.lines().next().unwrap_or_default();
                Error::Device {
                    requested: String::from(choice.clone()),
                    reason: format!("{first_line}; check `nvidia-smi`, or set device = \"cpu\""),
                }
            })
        }
    }
}

/// Whether this binary was built with Candle's CUDA backend (the `cuda` feature).
pub const CUDA_BUILT: bool = cfg!(feature = "cuda");

/// Returns the devices this binary can train on: the CPU, then every CUDA device that
/// responds, in ordinal order.
pub fn available_devices() -> Vec<String> {
    let mut devices = vec!["cpu".to_string()];
    if CUDA_BUILT {
        for ordinal in 0.. {
            match Device::new_cuda(ordinal) {
                Ok(device) => devices.push(device_name(&device)),
                Err(_) => break,
            }
        }
    }
    devices
}

/// Returns a short name for a device, such as `cpu` or `cuda:0`.
pub fn device_name(device: &Device) -> String {
    match device.location() {
        candle_core::DeviceLocation::Cpu => "cpu".into(),
        candle_core::DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
        candle_core::DeviceLocation::Metal { gpu_id } => format!("metal:{gpu_id}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_spelling() {
        for (text, expected) in [
            ("auto", DeviceChoice::Auto),
            ("cpu", DeviceChoice::Cpu),
            ("cuda", DeviceChoice::Cuda(0)),
            ("cuda:3", DeviceChoice::Cuda(3)),
        ] {
            assert_eq!(DeviceChoice::try_from(text.to_string()).unwrap(), expected);
        }
        assert!(DeviceChoice::try_from("gpu".to_string()).unwrap_err().contains("`gpu`"));
    }

    #[test]
    fn auto_and_cpu_always_give_a_device() {
        select_device(&DeviceChoice::Auto).unwrap();
        assert!(select_device(&DeviceChoice::Cpu).unwrap().is_cpu());
    }

    #[test]
    fn explicit_cuda_without_support_is_an_error() {
        if cfg!(feature = "cuda") {
            return;
        }
        let error = select_device(&DeviceChoice::Cuda(0)).unwrap_err().to_string();
        assert!(error.contains("--features cuda"), "{error}");
    }
}
