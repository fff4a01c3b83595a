//! AdamW with decoupled weight decay, fused into one in-place pass per variable on the CPU.
//!
//! `candle_nn::AdamW` runs 14 tensor operations per variable and step, each allocating its
//! result. [`FusedAdamW`] updates the weights and both moments in one loop, with the same
//! float32 operations in the same order (constants rounded to float32 as Candle's `affine`
//! rounds them), so the weights it produces are bit for bit those of `candle_nn::AdamW`. On
//! other devices the training loop uses `candle_nn::AdamW` itself.

use std::cell::RefCell;

use candle_core::{CpuStorage, DType, InplaceOp2, Layout, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};

use crate::Result;

/// The optimiser of the training loop.
pub(crate) enum Adam {
    /// The fused CPU implementation.
    Fused(FusedAdamW),
    /// Candle's implementation, for other devices.
    Candle(AdamW),
}

impl Adam {
    /// Builds the fused optimiser when every variable is a float32 tensor on the CPU.
    pub(crate) fn new(vars: Vec<Var>, params: ParamsAdamW) -> Result<Adam> {
        let fusable = vars.iter().all(|var| var.device().is_cpu() && var.dtype() == DType::F32);
        if fusable {
            Ok(Adam::Fused(FusedAdamW::new(vars, params)))
        } else {
            Ok(Adam::Candle(AdamW::new(vars, params)?))
        }
    }

    /// Computes the gradients of `loss` and takes one step.
    pub(crate) fn backward_step(&mut self, loss: &Tensor) -> Result<()> {
        match self {
            Adam::Fused(adam) => adam.backward_step(loss),
            Adam::Candle(adam) => Ok(adam.backward_step(loss)?),
        }
    }
}

/// AdamW over float32 CPU variables, with the moments kept in plain vectors.
pub(crate) struct FusedAdamW {
    vars: Vec<(Var, Vec<f32>, Vec<f32>)>,
    params: ParamsAdamW,
    step: i32,
}

impl FusedAdamW {
    fn new(vars: Vec<Var>, params: ParamsAdamW) -> FusedAdamW {
        let vars = vars
            .into_iter()
            .map(|var| {
                let count = var.elem_count();
                (var, vec![0f32; count], vec![0f32; count])
            })
            .collect();
        FusedAdamW { vars, params, step: 0 }
    }

    fn backward_step(&mut self, loss: &Tensor) -> Result<()> {
        let grads = loss.backward()?;
        self.step += 1;
        let ParamsAdamW { lr, beta1, beta2, eps, weight_decay } = self.params;
        // The f64 constants of `candle_nn::AdamW::step`, rounded to float32 where Candle's
        // scalar operations round them.
        let constants = Constants {
            beta1: beta1 as f32,
            one_minus_beta1: (1.0 - beta1) as f32,
            beta2: beta2 as f32,
            one_minus_beta2: (1.0 - beta2) as f32,
            scale_m: (1.0 / (1.0 - beta1.powi(self.step))) as f32,
            scale_v: (1.0 / (1.0 - beta2.powi(self.step))) as f32,
            decay: (1.0 - lr * weight_decay) as f32,
            eps: eps as f32,
            lr: lr as f32,
        };
        for (var, m, v) in &mut self.vars {
            let Some(grad) = grads.get(var) else { continue };
            let step = Step { constants, moments: RefCell::new((m, v)) };
            var.as_tensor().inplace_op2(grad, &step)?;
        }
        Ok(())
    }
}

#[derive(Clone, Copy)]
struct Constants {
    beta1: f32,
    one_minus_beta1: f32,
    beta2: f32,
    one_minus_beta2: f32,
    scale_m: f32,
    scale_v: f32,
    decay: f32,
    eps: f32,
    lr: f32,
}

/// One AdamW step of one variable, applied in place to the weights.
struct Step<'a> {
    constants: Constants,
    moments: RefCell<(&'a mut Vec<f32>, &'a mut Vec<f32>)>,
}

impl InplaceOp2 for Step<'_> {
    fn name(&self) -> &'static str {
        "fused-adamw"
    }

    fn cpu_fwd(
        &self,
        weights: &mut CpuStorage,
        weights_layout: &Layout,
        grad: &CpuStorage,
        grad_layout: &Layout,
    ) -> candle_core::Result<()> {
        let (CpuStorage::F32(theta), CpuStorage::F32(grad)) = (weights, grad) else {
            candle_core::bail!("fused AdamW supports float32 only")
        };
        let Some((start, end)) = weights_layout.contiguous_offsets() else {
            candle_core::bail!("fused AdamW needs contiguous weights")
        };
        let theta = &mut theta[start..end];
        let mut moments = self.moments.borrow_mut();
        let (m, v) = &mut *moments;
        if grad_layout.shape().elem_count() != theta.len() || m.len() != theta.len() {
            candle_core::bail!("fused AdamW: gradient and weights differ in size")
        }
        let c = self.constants;
        // Each line is one Candle operation of `candle_nn::AdamW::step`; `x * a + 0.0` is its
        // `affine(a, 0)`, kept with the `+ 0.0` so that zeros get the same sign.
        let update = |theta: &mut f32, m: &mut f32, v: &mut f32, g: f32| {
            let next_m = (*m * c.beta1 + 0.0) + (g * c.one_minus_beta1 + 0.0);
            let next_v = (*v * c.beta2 + 0.0) + ((g * g) * c.one_minus_beta2 + 0.0);
            let m_hat = next_m * c.scale_m + 0.0;
            let v_hat = next_v * c.scale_v + 0.0;
            let decayed = *theta * c.decay + 0.0;
            let adjusted = m_hat / (v_hat.sqrt() * 1.0 + c.eps);
            *theta = decayed - (adjusted * c.lr + 0.0);
            *m = next_m;
            *v = next_v;
        };
        // Zipped slices without indexing let the compiler vectorise the contiguous case.
        let elements = theta.iter_mut().zip(m.iter_mut()).zip(v.iter_mut());
        match grad_layout.contiguous_offsets() {
            Some((g_start, g_end)) => {
                for (((theta, m), v), &g) in elements.zip(&grad[g_start..g_end]) {
                    update(theta, m, v, g);
                }
            }
            None => {
                for (((theta, m), v), offset) in elements.zip(strided_offsets(grad_layout)) {
                    update(theta, m, v, grad[offset]);
                }
            }
        }
        Ok(())
    }
}

/// Returns the storage offset of every element of `layout` in row-major order.
fn strided_offsets(layout: &Layout) -> Vec<usize> {
    let dims = layout.dims();
    let strides = layout.stride();
    let mut offsets = vec![layout.start_offset()];
    for (&dim, &stride) in dims.iter().zip(strides) {
        offsets =
            offsets.iter().flat_map(|&base| (0..dim).map(move |i| base + i * stride)).collect();
    }
    offsets
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    #[test]
    fn fused_adamw_matches_candle_bitwise() {
        let params =
            ParamsAdamW { lr: 0.003, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 1e-4 };
        let device = Device::Cpu;
        let start: Vec<f32> = (0..12).map(|i| (i as f32 * 0.37).cos()).collect();
        let x =
            Tensor::from_vec((0..8).map(|i| i as f32 - 3.5).collect(), (2, 4), &device).unwrap();
        let fused_var = Var::from_vec(start.clone(), (3, 4), &device).unwrap();
        let candle_var = Var::from_vec(start, (3, 4), &device).unwrap();
        let mut fused = Adam::new(vec![fused_var.clone()], params.clone()).unwrap();
        assert!(matches!(fused, Adam::Fused(_)));
        let mut candle = AdamW::new(vec![candle_var.clone()], params).unwrap();
        // The weight enters through a transpose, so its gradient is strided.
        let loss = |w: &Var| x.matmul(&w.t().unwrap()).unwrap().sqr().unwrap().sum_all().unwrap();
        for _ in 0..5 {
            fused.backward_step(&loss(&fused_var)).unwrap();
            candle.backward_step(&loss(&candle_var)).unwrap();
        }
        assert_eq!(
            fused_var.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            candle_var.flatten_all().unwrap().to_vec1::<f32>().unwrap()
        );
    }
}
