//! The trainable layer's LayerNorm, attention softmax, erf GELU and linear bias, each one candle
//! custom op with its own backward pass.
//!
//! candle 0.11's fused LayerNorm and softmax have no backward pass (see [`crate::layer`]), so
//! these were first written with its primitive ops: a LayerNorm was nine tensors allocated and
//! traversed, each with a backward node; candle's erf GELU calls libm per element; a broadcast
//! bias add sums its gradient with a strided reduction. A profile of `stance tune` (six layers,
//! 600 pairs) found 7 % of the samples in libm's erf and 4 % in its exp, 8 % in candle's
//! reductions and 9 % in page faults on fresh tensors, against 28 % in the matmuls. Here each op
//! is one pass over rows forward and one backward, with the encoder kernels' vectorizable `exp`
//! and `erf` in f32; an epoch takes two thirds of the time it took (BENCH.md). f64 runs the same
//! code (the gradient checks use it). Every row is computed alone, and the sums over rows (the
//! LayerNorm's weight and bias gradients, a bias's gradient) run over fixed blocks of rows
//! added in order, so results do not depend on the thread count.

use candle_core::backend::BackendStorage;
use candle_core::{bail, CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor, WithDType};
use rayon::prelude::*;
use std::ops::Neg;

/// Rows handed to one rayon task, and the blocks that sums over rows add up in order.
const ROWS_PER_TASK: usize = 32;

/// Below this, a softmax term `exp(s − max)` counts as exactly 0 (f32's smallest normal number
/// is e^−87.3), as in the encoder's attention kernel.
const EXP_UNDERFLOW: f64 = -87.0;

/// `LayerNorm(x)` over the last axis with weight `w` and bias `b` (biased variance, as torch).
pub fn layer_norm(x: &Tensor, w: &Tensor, b: &Tensor, eps: f64) -> Result<Tensor> {
    x.contiguous()?.apply_op3(&w.contiguous()?, &b.contiguous()?, LayerNorm { eps })
}

/// `softmax(scores · scale + bias)` over the last axis, for attention scores `[batch, heads,
/// queries, keys]` and a mask bias `[batch, 1, 1, keys]` (added to every head and query) or none.
pub fn masked_softmax(scores: &Tensor, bias: Option<&Tensor>, scale: f64) -> Result<Tensor> {
    let (batch, _, _, keys) = scores.dims4()?;
    let bias = match bias {
        Some(b) => b.reshape((batch, keys))?.contiguous()?,
        None => Tensor::zeros((batch, keys), scores.dtype(), scores.device())?,
    };
    scores.contiguous()?.apply_op2(&bias, MaskedSoftmax { scale })
}

/// `y + b` with the bias `b` added to every row of `y` (`[.., width]`, `b: [width]`), the bias
/// of a linear layer. Its gradient sums the rows (candle's broadcast add reduces with a strided
/// sum that a profile showed at 6 % of training).
pub fn add_bias(y: &Tensor, b: &Tensor) -> Result<Tensor> {
    y.contiguous()?.apply_op2(&b.contiguous()?, AddBias)
}

/// The erf GELU, `x · Φ(x)`.
pub fn gelu_erf(x: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op1(GeluErf)
}

/// The arithmetic the ops need, for f32 and f64.
pub trait Real: WithDType + Neg<Output = Self> {
    fn exp(self) -> Self;
    fn erf(self) -> Self;
    fn sqrt(self) -> Self;
}

impl Real for f32 {
    #[inline(always)]
    fn exp(self) -> Self {
        stance_model::arch::kernels::exp::<false>(self)
    }
    #[inline(always)]
    fn erf(self) -> Self {
        stance_model::arch::kernels::erf::<false>(self)
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        f32::sqrt(self)
    }
}

impl Real for f64 {
    fn exp(self) -> Self {
        f64::exp(self)
    }
    fn erf(self) -> Self {
        libm::erf(self)
    }
    fn sqrt(self) -> Self {
        f64::sqrt(self)
    }
}

fn real<T: Real>(x: f64) -> T {
    T::from_f64(x)
}

/// An op's arithmetic, on the values of its `N` inputs (contiguous, one dtype; `width` is the
/// length of the first one's last axis), written once for f32 and f64.
trait RowOp<const N: usize> {
    fn compute<T: Real>(&self, inputs: [&[T]; N], width: usize) -> Result<Vec<T>>;

    /// The output's shape: the first input's unless the op says otherwise.
    fn shape(&self, first: &Layout) -> Result<Shape> {
        Ok(first.shape().clone())
    }
}

/// A [`RowOp`] on candle's storages: the f32 or f64 values in, a storage of the same dtype out.
fn run_op<const N: usize, K: RowOp<N>>(op: &K, inputs: [(&CpuStorage, &Layout); N]) -> Result<(CpuStorage, Shape)> {
    fn slices<'a, const N: usize, T: Real>(inputs: &[(&'a CpuStorage, &Layout); N]) -> Result<[&'a [T]; N]> {
        let mut out = [&[][..]; N];
        for (slot, (storage, layout)) in out.iter_mut().zip(inputs) {
            *slot = values(storage, layout)?;
        }
        Ok(out)
    }
    let (first, layout) = inputs[0];
    let width = width_of(layout)?;
    let out = match first {
        CpuStorage::F32(_) => f32::to_cpu_storage_owned(op.compute(slices::<N, f32>(&inputs)?, width)?),
        CpuStorage::F64(_) => f64::to_cpu_storage_owned(op.compute(slices::<N, f64>(&inputs)?, width)?),
        other => bail!("the trainable layer's ops take f32 or f64, not {:?}", other.dtype()),
    };
    Ok((out, op.shape(layout)?))
}

/// The values of a contiguous tensor's storage.
fn values<'a, T: Real>(storage: &'a CpuStorage, layout: &Layout) -> Result<&'a [T]> {
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&T::cpu_storage_as_slice(storage)?[start..end]),
        None => bail!("the trainable layer's ops take contiguous tensors"),
    }
}

fn width_of(layout: &Layout) -> Result<usize> {
    match layout.dims().last() {
        Some(&w) if w > 0 => Ok(w),
        _ => bail!("the trainable layer's ops take tensors with a non-empty last axis"),
    }
}

fn sum<T: Real>(row: impl Iterator<Item = T>) -> T {
    row.fold(T::zero(), |a, b| a + b)
}

struct AddBias;

impl CustomOp2 for AddBias {
    fn name(&self) -> &'static str {
        "stance-tune-add-bias"
    }

    fn cpu_fwd(&self, y: &CpuStorage, ly: &Layout, b: &CpuStorage, lb: &Layout) -> Result<(CpuStorage, Shape)> {
        run_op(self, [(y, ly), (b, lb)])
    }

    fn bwd(&self, _y: &Tensor, _b: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let db = grad.apply_op1_no_bwd(&ColumnSums)?;
        Ok((Some(grad), Some(db)))
    }
}

impl RowOp<2> for AddBias {
    fn compute<T: Real>(&self, [y, b]: [&[T]; 2], width: usize) -> Result<Vec<T>> {
        if width != b.len() {
            bail!("add_bias: a bias of {} values for rows of {width}", b.len());
        }
        Ok(y.chunks_exact(width).flat_map(|row| row.iter().zip(b).map(|(&v, &b)| v + b)).collect())
    }
}

/// The sums of a tensor's rows over its last axis: `[width]`.
struct ColumnSums;

impl CustomOp1 for ColumnSums {
    fn name(&self) -> &'static str {
        "stance-tune-column-sums"
    }

    fn cpu_fwd(&self, x: &CpuStorage, lx: &Layout) -> Result<(CpuStorage, Shape)> {
        run_op(self, [(x, lx)])
    }
}

impl RowOp<1> for ColumnSums {
    fn compute<T: Real>(&self, [x]: [&[T]; 1], width: usize) -> Result<Vec<T>> {
        let partials: Vec<Vec<T>> = x
            .par_chunks(width * ROWS_PER_TASK)
            .map(|rows| {
                let mut partial = vec![T::zero(); width];
                for row in rows.chunks_exact(width) {
                    for (p, &v) in partial.iter_mut().zip(row) {
                        *p = *p + v;
                    }
                }
                partial
            })
            .collect();
        Ok(add_in_order(partials, width))
    }

    fn shape(&self, first: &Layout) -> Result<Shape> {
        Ok(Shape::from(width_of(first)?))
    }
}

/// The element-wise sum of `partials` (each of `width` values), added in their order.
fn add_in_order<T: Real>(partials: Vec<Vec<T>>, width: usize) -> Vec<T> {
    let mut total = vec![T::zero(); width];
    for partial in &partials {
        for (t, &v) in total.iter_mut().zip(partial) {
            *t = *t + v;
        }
    }
    total
}

struct LayerNorm {
    eps: f64,
}

impl CustomOp3 for LayerNorm {
    fn name(&self) -> &'static str {
        "stance-tune-layer-norm"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        lx: &Layout,
        w: &CpuStorage,
        lw: &Layout,
        b: &CpuStorage,
        lb: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        run_op(self, [(x, lx), (w, lw), (b, lb)])
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let width = w.elem_count();
        let rows = x.elem_count() / width;
        // One tensor: the rows of dx, then dw, then db.
        let all = x.apply_op3_no_bwd(&grad.contiguous()?, w, &LayerNormGrad { eps: self.eps })?;
        let dx = all.narrow(0, 0, rows)?.reshape(x.shape())?;
        let dw = all.narrow(0, rows, 1)?.reshape(w.shape())?;
        let db = all.narrow(0, rows + 1, 1)?.reshape(w.shape())?;
        Ok((Some(dx), Some(dw), Some(db)))
    }
}

impl RowOp<3> for LayerNorm {
    fn compute<T: Real>(&self, [x, w, b]: [&[T]; 3], width: usize) -> Result<Vec<T>> {
        let mut out = vec![T::zero(); x.len()];
        out.par_chunks_mut(width * ROWS_PER_TASK).zip(x.par_chunks(width * ROWS_PER_TASK)).for_each(|(out, x)| {
            for (out, x) in out.chunks_exact_mut(width).zip(x.chunks_exact(width)) {
                let (mean, inv_std) = moments(x, self.eps);
                for (((o, &v), &w), &b) in out.iter_mut().zip(x).zip(w).zip(b) {
                    *o = (v - mean) * inv_std * w + b;
                }
            }
        });
        Ok(out)
    }
}

/// A row's mean and `1 / sqrt(variance + eps)`, the variance of the centred values.
fn moments<T: Real>(x: &[T], eps: f64) -> (T, T) {
    let n: T = real(x.len() as f64);
    let mean = sum(x.iter().copied()) / n;
    let var = sum(x.iter().map(|&v| (v - mean) * (v - mean))) / n;
    (mean, T::one() / (var + real(eps)).sqrt())
}

/// The LayerNorm's gradients from `(x, dy, w)`: `[rows + 2, width]`, the rows of dx, then dw,
/// then db. With `x̂ = (x − mean) · r`: `dx = r · (dy·w − mean(dy·w) − x̂ · mean(dy·w·x̂))`,
/// `dw = Σ dy·x̂` and `db = Σ dy` over the rows.
struct LayerNormGrad {
    eps: f64,
}

impl CustomOp3 for LayerNormGrad {
    fn name(&self) -> &'static str {
        "stance-tune-layer-norm-grad"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        lx: &Layout,
        g: &CpuStorage,
        lg: &Layout,
        w: &CpuStorage,
        lw: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        run_op(self, [(x, lx), (g, lg), (w, lw)])
    }
}

impl RowOp<3> for LayerNormGrad {
    fn compute<T: Real>(&self, [x, g, w]: [&[T]; 3], width: usize) -> Result<Vec<T>> {
        let n: T = real(width as f64);
        let mut out = vec![T::zero(); x.len()];
        let block = width * ROWS_PER_TASK;
        let partials: Vec<Vec<T>> = out
            .par_chunks_mut(block)
            .zip(x.par_chunks(block).zip(g.par_chunks(block)))
            .map(|(dx, (x, g))| {
                let mut partial = vec![T::zero(); 2 * width];
                let (dw, db) = partial.split_at_mut(width);
                let mut normed = vec![T::zero(); width];
                for ((dx, x), g) in dx.chunks_exact_mut(width).zip(x.chunks_exact(width)).zip(g.chunks_exact(width)) {
                    let (mean, inv_std) = moments(x, self.eps);
                    for (h, &v) in normed.iter_mut().zip(x) {
                        *h = (v - mean) * inv_std;
                    }
                    let m1 = sum(g.iter().zip(w).map(|(&g, &w)| g * w)) / n;
                    let m2 = sum(g.iter().zip(w).zip(&normed).map(|((&g, &w), &h)| g * w * h)) / n;
                    for (((d, &g), &w), &h) in dx.iter_mut().zip(g).zip(w).zip(&normed) {
                        *d = inv_std * (g * w - m1 - h * m2);
                    }
                    for (((dw, db), &g), &h) in dw.iter_mut().zip(db.iter_mut()).zip(g).zip(&normed) {
                        *dw = *dw + g * h;
                        *db = *db + g;
                    }
                }
                partial
            })
            .collect();
        out.extend(add_in_order(partials, 2 * width));
        Ok(out)
    }

    fn shape(&self, first: &Layout) -> Result<Shape> {
        let width = width_of(first)?;
        Ok(Shape::from((first.shape().elem_count() / width + 2, width)))
    }
}

struct MaskedSoftmax {
    scale: f64,
}

impl CustomOp2 for MaskedSoftmax {
    fn name(&self) -> &'static str {
        "stance-tune-masked-softmax"
    }

    fn cpu_fwd(&self, s: &CpuStorage, ls: &Layout, bias: &CpuStorage, lb: &Layout) -> Result<(CpuStorage, Shape)> {
        run_op(self, [(s, ls), (bias, lb)])
    }

    fn bwd(&self, _: &Tensor, _: &Tensor, res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let ds = res.apply_op2_no_bwd(&grad.contiguous()?, &SoftmaxGrad { scale: self.scale })?;
        Ok((Some(ds), None))
    }
}

impl RowOp<2> for MaskedSoftmax {
    fn compute<T: Real>(&self, [s, bias]: [&[T]; 2], keys: usize) -> Result<Vec<T>> {
        let batch = bias.len() / keys;
        if batch == 0 || bias.len() != batch * keys || s.len() % (batch * keys) != 0 {
            bail!("softmax: {} scores do not match a mask bias of {batch} × {keys}", s.len());
        }
        // Rows (head × query) per batch row, all under that row's mask.
        let rows_per_batch = s.len() / (batch * keys);
        let (scale, underflow) = (real::<T>(self.scale), real::<T>(EXP_UNDERFLOW));
        let mut out = vec![T::zero(); s.len()];
        let block = keys * rows_per_batch;
        out.par_chunks_mut(block).zip(s.par_chunks(block)).zip(bias.par_chunks(keys)).for_each(|((out, s), bias)| {
            for (out, s) in out.chunks_exact_mut(keys).zip(s.chunks_exact(keys)) {
                for ((o, &v), &b) in out.iter_mut().zip(s).zip(bias) {
                    *o = v * scale + b;
                }
                let max = out.iter().copied().fold(out[0], |m, v| if v > m { v } else { m });
                for o in out.iter_mut() {
                    let d = *o - max;
                    *o = if d < underflow { T::zero() } else { d.exp() };
                }
                let total = sum(out.iter().copied());
                for o in out.iter_mut() {
                    *o = *o / total;
                }
            }
        });
        Ok(out)
    }
}

/// The scores' gradient from the probabilities `y` and their gradient `g`, row by row:
/// `scale · y ⊙ (g − Σ g·y)`.
struct SoftmaxGrad {
    scale: f64,
}

impl CustomOp2 for SoftmaxGrad {
    fn name(&self) -> &'static str {
        "stance-tune-softmax-grad"
    }

    fn cpu_fwd(&self, y: &CpuStorage, ly: &Layout, g: &CpuStorage, lg: &Layout) -> Result<(CpuStorage, Shape)> {
        run_op(self, [(y, ly), (g, lg)])
    }
}

impl RowOp<2> for SoftmaxGrad {
    fn compute<T: Real>(&self, [y, g]: [&[T]; 2], width: usize) -> Result<Vec<T>> {
        let scale = real::<T>(self.scale);
        let mut out = vec![T::zero(); y.len()];
        let block = width * ROWS_PER_TASK;
        out.par_chunks_mut(block).zip(y.par_chunks(block).zip(g.par_chunks(block))).for_each(|(out, (y, g))| {
            for ((out, y), g) in out.chunks_exact_mut(width).zip(y.chunks_exact(width)).zip(g.chunks_exact(width)) {
                let dot = sum(y.iter().zip(g).map(|(&y, &g)| y * g));
                for ((o, &y), &g) in out.iter_mut().zip(y).zip(g) {
                    *o = scale * y * (g - dot);
                }
            }
        });
        Ok(out)
    }
}

/// Values handed to one rayon task by the element-wise GELU and its gradient.
const VALUES_PER_TASK: usize = 1 << 14;

struct GeluErf;

/// `Φ(x) = ½(1 + erf(x/√2))`.
fn normal_cdf<T: Real>(x: T) -> T {
    real::<T>(0.5) * (T::one() + (x * real(std::f64::consts::FRAC_1_SQRT_2)).erf())
}

impl CustomOp1 for GeluErf {
    fn name(&self) -> &'static str {
        "stance-tune-gelu-erf"
    }

    fn cpu_fwd(&self, x: &CpuStorage, lx: &Layout) -> Result<(CpuStorage, Shape)> {
        run_op(self, [(x, lx)])
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(x.apply_op2_no_bwd(&grad.contiguous()?, &GeluErfGrad)?))
    }
}

impl RowOp<1> for GeluErf {
    fn compute<T: Real>(&self, [x]: [&[T]; 1], _width: usize) -> Result<Vec<T>> {
        let mut out = vec![T::zero(); x.len()];
        out.par_chunks_mut(VALUES_PER_TASK).zip(x.par_chunks(VALUES_PER_TASK)).for_each(|(out, x)| {
            for (o, &v) in out.iter_mut().zip(x) {
                *o = v * normal_cdf(v);
            }
        });
        Ok(out)
    }
}

/// The GELU's input gradient from `(x, dy)`: `dy · (Φ(x) + x·φ(x))`.
struct GeluErfGrad;

impl CustomOp2 for GeluErfGrad {
    fn name(&self) -> &'static str {
        "stance-tune-gelu-erf-grad"
    }

    fn cpu_fwd(&self, x: &CpuStorage, lx: &Layout, g: &CpuStorage, lg: &Layout) -> Result<(CpuStorage, Shape)> {
        run_op(self, [(x, lx), (g, lg)])
    }
}

impl RowOp<2> for GeluErfGrad {
    fn compute<T: Real>(&self, [x, g]: [&[T]; 2], _width: usize) -> Result<Vec<T>> {
        // 1/√(2π), the standard normal density at 0.
        let density = real::<T>(0.398_942_280_401_432_7);
        let mut out = vec![T::zero(); x.len()];
        let chunks = x.par_chunks(VALUES_PER_TASK).zip(g.par_chunks(VALUES_PER_TASK));
        out.par_chunks_mut(VALUES_PER_TASK).zip(chunks).for_each(|(out, (x, g))| {
            for ((o, &v), &g) in out.iter_mut().zip(x).zip(g) {
                let phi = density * (real::<T>(-0.5) * v * v).exp();
                *o = g * (normal_cdf(v) + v * phi);
            }
        });
        Ok(out)
    }
}
