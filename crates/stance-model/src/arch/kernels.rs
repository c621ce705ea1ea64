//! CPU kernels for the two element-wise steps that profiling showed costing as much as a third
//! of the encoder's matmuls: the erf GELU and the attention softmax.
//!
//! candle computes both with scalar libm calls. Its softmax exponentiates every masked
//! (padding) score, and each such underflow takes glibc's slow errno path; its GELU evaluates
//! a full-precision `erff`. These kernels give the same numbers to float rounding (see the
//! tests) at a fraction of the cost, on contiguous f32 CPU tensors; anything else goes to
//! candle's own op.

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};
use rayon::prelude::*;

/// Below this, `exp` is under f32's smallest normal number: treated as exactly 0.
const EXP_UNDERFLOW: f32 = -87.0;

/// Rows handed to one rayon task: large enough to amortise scheduling.
const MIN_ELEMENTS_PER_TASK: usize = 1 << 14;

/// `softmax` over the last axis.
pub fn softmax_last_dim(x: &Tensor) -> candle_core::Result<Tensor> {
    if fast_path(x) {
        x.contiguous()?.apply_op1_no_bwd(&SoftmaxLastDim)
    } else {
        candle_nn::ops::softmax_last_dim(x)
    }
}

/// GELU with the exact erf form, `x · Φ(x)`.
pub fn gelu_erf(x: &Tensor) -> candle_core::Result<Tensor> {
    if fast_path(x) {
        x.contiguous()?.apply_op1_no_bwd(&GeluErf)
    } else {
        x.gelu_erf()
    }
}

fn fast_path(x: &Tensor) -> bool {
    x.device().is_cpu() && x.dtype() == candle_core::DType::F32 && x.rank() >= 1
}

/// The contiguous f32 data of a kernel's input.
fn input<'a>(storage: &'a CpuStorage, layout: &Layout) -> candle_core::Result<&'a [f32]> {
    let data = storage.as_slice::<f32>()?;
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => candle_core::bail!("kernel input must be contiguous"),
    }
}

struct SoftmaxLastDim;

impl CustomOp1 for SoftmaxLastDim {
    fn name(&self) -> &'static str {
        "stance-softmax-last-dim"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = input(storage, layout)?;
        let width = layout.shape().dims().last().copied().unwrap_or(1).max(1);
        let mut out = vec![0f32; x.len()];
        let rows_per_task = (MIN_ELEMENTS_PER_TASK / width).max(1);
        out.par_chunks_mut(width * rows_per_task)
            .zip(x.par_chunks(width * rows_per_task))
            .for_each(|(out, x)| {
                for (out, x) in out.chunks_mut(width).zip(x.chunks(width)) {
                    softmax_row(x, out);
                }
            });
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }
}

fn softmax_row(x: &[f32], out: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0f32;
    for (o, &v) in out.iter_mut().zip(x) {
        let d = v - max;
        *o = if d < EXP_UNDERFLOW { 0.0 } else { d.exp() };
        sum += *o;
    }
    let scale = 1.0 / sum;
    for o in out.iter_mut() {
        *o *= scale;
    }
}

struct GeluErf;

impl CustomOp1 for GeluErf {
    fn name(&self) -> &'static str {
        "stance-gelu-erf"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = input(storage, layout)?;
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(MIN_ELEMENTS_PER_TASK)
            .zip(x.par_chunks(MIN_ELEMENTS_PER_TASK))
            .for_each(|(out, x)| {
                for (o, &v) in out.iter_mut().zip(x) {
                    *o = gelu_erf_scalar(v);
                }
            });
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }
}

/// `x · ½(1 + erf(x/√2))` with erf from Abramowitz & Stegun 7.1.26 (absolute error under
/// 1.5e-7, the size of f32 rounding near 1). The exponent stays above -16, clear of expf's
/// slow underflow path.
fn gelu_erf_scalar(x: f32) -> f32 {
    let z = x * std::f32::consts::FRAC_1_SQRT_2;
    let a = z.abs();
    // erf(a) = 1 to f32 precision beyond 4.
    let erf_abs = if a > 4.0 {
        1.0
    } else {
        let t = 1.0 / (1.0 + 0.327_591_1 * a);
        let poly = t
            * (0.254_829_6
                + t * (-0.284_496_74 + t * (1.421_413_7 + t * (-1.453_152_1 + t * 1.061_405_4))));
        1.0 - poly * (-a * a).exp()
    };
    let erf = if z < 0.0 { -erf_abs } else { erf_abs };
    0.5 * x * (1.0 + erf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn values() -> Vec<f32> {
        (-4000..=4000).map(|i| i as f32 / 400.0).collect()
    }

    #[test]
    fn gelu_matches_candles_erf_gelu() {
        let x = Tensor::new(values(), &Device::Cpu).unwrap();
        let ours: Vec<f32> = gelu_erf(&x).unwrap().to_vec1().unwrap();
        let reference: Vec<f32> = x.gelu_erf().unwrap().to_vec1().unwrap();
        let worst = ours.iter().zip(&reference).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(worst < 5e-7, "max |Δ| {worst}");
    }

    #[test]
    fn softmax_matches_candle_with_masked_rows() {
        let mut v = values();
        // A padded row: a huge negative bias, as the attention mask adds.
        for x in v.iter_mut().skip(7000) {
            *x -= 3.0e38;
        }
        let x = Tensor::new(v, &Device::Cpu).unwrap().reshape((3, 2667)).unwrap();
        let ours = softmax_last_dim(&x).unwrap();
        let reference = candle_nn::ops::softmax_last_dim(&x).unwrap();
        let diff: f32 = (ours - &reference).unwrap().abs().unwrap().max_all().unwrap().to_scalar().unwrap();
        assert!(diff < 1e-7, "max |Δ| {diff}");
        let sums: Vec<f32> = reference.sum(1).unwrap().to_vec1().unwrap();
        assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-5));
    }

    #[test]
    fn non_contiguous_input_is_handled() {
        let x = Tensor::new(values()[..12].to_vec(), &Device::Cpu).unwrap().reshape((3, 4)).unwrap();
        let t = x.t().unwrap();
        assert!(!t.is_contiguous());
        let ours: Vec<Vec<f32>> = softmax_last_dim(&t).unwrap().to_vec2().unwrap();
        let reference: Vec<Vec<f32>> =
            candle_nn::ops::softmax_last_dim(&t.contiguous().unwrap()).unwrap().to_vec2().unwrap();
        assert_eq!(ours.len(), 4);
        for (a, b) in ours.iter().flatten().zip(reference.iter().flatten()) {
            assert!((a - b).abs() < 1e-7);
        }
    }
}
