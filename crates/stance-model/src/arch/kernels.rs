//! CPU kernels for the encoder's steps around its linear layers, which profiling showed
//! costing as much as the matmuls: attention, the erf GELU, bias adds, add & LayerNorm.
//!
//! candle computes softmax and GELU with scalar libm calls (its softmax exponentiates every
//! masked score, and each underflow takes glibc's slow errno path), runs its element-wise ops
//! on a second, spinning thread pool beside rayon's, and allocates a new tensor for each step.
//! These kernels give the same numbers to float rounding (see the tests), on contiguous f32 CPU
//! tensors (anything else goes to candle's own ops), and most work in place on a tensor the
//! caller has just computed: each new `[tokens, 4·hidden]` tensor costs fresh pages and a pass
//! over memory, which a profile showed as large as the arithmetic.

use candle_core::{CpuStorage, CustomOp1, InplaceOp1, InplaceOp2, Layout, Shape, Tensor};
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Compiles a kernel for AVX-512, AVX2 and the baseline, the best the CPU has chosen at run time
/// (`multiversion`'s own "simd" preset leaves AVX-512 out).
macro_rules! simd_kernel {
    ($kernel:item) => {
        #[multiversion::multiversion(targets(
            "x86_64+avx512f+avx512bw+avx512cd+avx512dq+avx512vl",
            "x86_64+avx2+fma",
        ))]
        $kernel
    };
}

/// Below this, `exp` is under f32's smallest normal number: treated as exactly 0.
const EXP_UNDERFLOW: f32 = -87.0;

/// Rows handed to one rayon task: large enough to amortise scheduling.
const MIN_ELEMENTS_PER_TASK: usize = 1 << 14;

/// GELU with the exact erf form, `x · Φ(x)`. On the fast path `x` is overwritten: pass a
/// freshly computed tensor, never one that shares its storage.
///
/// `fused`: multiply-adds in one rounding, as for [`attention`]'s [`AttentionMath::Fused`]: for
/// the quantized paths, where the GELU had become 15 % of an all-tasks profile on AMX tiles.
pub fn gelu_erf_in_place(x: Tensor, fused: bool) -> candle_core::Result<Tensor> {
    if fast_path(&x) && x.is_contiguous() {
        x.inplace_op1(&GeluErf { fused })?;
        Ok(x)
    } else {
        x.gelu_erf()
    }
}

/// Multi-head self-attention's core, `softmax(Q Kᵀ · scale + mask_bias) V` per head, from the
/// stacked projections `qkv` (`[batch, seq, 3 · hidden]`: the queries, keys and values side by
/// side, each with its heads side by side) to the context `[batch, seq, hidden]`; `mask_bias`
/// is `[batch, 1, 1, seq]` or `None`.
///
/// Why not candle's matmuls: `gemm`'s order of summation over the keys depends on how many
/// there are, so a row's context changed in its last bits with the padded width of its batch,
/// and a comment's probabilities with the batch size. Here a row's numbers depend on its own
/// tokens only: scores are summed over the head's dimensions in order, and the context over the
/// row's keys in order, skipping the padded keys (weight exactly 0). Each (batch row, head) is
/// one rayon task that reads its head's columns where they lie, without the transposed copies.
/// Equal to candle's path to float rounding (a test holds them within 1e-5); as fast (BENCH.md).
///
/// `math`: how the products are computed ([`AttentionMath`]).
pub fn attention(
    qkv: &Tensor,
    mask_bias: Option<&Tensor>,
    heads: usize,
    scale: f64,
    math: AttentionMath,
) -> candle_core::Result<Tensor> {
    let (batch, seq, stacked) = qkv.dims3()?;
    if stacked % 3 != 0 {
        candle_core::bail!("attention: {stacked} projection columns are not query, key and value");
    }
    let hidden = stacked / 3;
    if !fast_path(qkv) || !qkv.is_contiguous() || heads == 0 || hidden % heads != 0 {
        let split = |i: usize| -> candle_core::Result<Tensor> {
            let t = qkv.narrow(2, i * hidden, hidden)?;
            t.reshape((batch, seq, heads, hidden / heads))?.transpose(1, 2)?.contiguous()
        };
        let (q, k, v) = (split(0)?, split(1)?, split(2)?);
        let scores = (q.matmul(&k.t()?)? * scale)?;
        let scores = match mask_bias {
            Some(bias) => scores.broadcast_add(bias)?,
            None => scores,
        };
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        return probs.matmul(&v)?.transpose(1, 2)?.contiguous()?.reshape((batch, seq, hidden));
    }
    let mask = match mask_bias {
        Some(m) => {
            let m: Vec<f32> = m.flatten_all()?.to_vec1()?;
            if m.len() != batch * seq {
                candle_core::bail!("attention mask of {} values for {batch} × {seq}", m.len());
            }
            Some(m)
        }
        None => None,
    };
    let kernel = math.kernel(hidden / heads);
    qkv.apply_op1_no_bwd(&Attention { heads, scale: scale as f32, mask, kernel })
}

/// The arithmetic of attention's products.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttentionMath {
    /// f32, separate multiplies and adds: the same bits on every CPU (the f32 path's).
    Exact,
    /// f32 multiply-adds in one rounding (FMA): faster, but the last bits then depend on
    /// whether the CPU has FMA. For int16, and for int8 where bfloat16 products do not pay
    /// (`crate::load::bf16_products_pay`): paths whose errors are far larger.
    Fused,
    /// bfloat16 products summed in f32, on AMX tiles or with AVX-512 BF16's `vdpbf16ps`
    /// (`super::attention_bf16`); [`Self::Fused`] where the CPU has neither or the heads do not
    /// fit (whole chunks of 32 dimensions).
    Bf16,
}

/// How [`Attention`] computes on this CPU: an [`AttentionMath`] resolved.
#[derive(Debug, Clone, Copy)]
enum Kernel {
    Exact,
    Fused,
    #[cfg(target_arch = "x86_64")]
    Bf16(super::attention_bf16::Products),
}

impl AttentionMath {
    /// The kernel that computes `self` on this CPU for heads of `d` dimensions.
    #[cfg_attr(not(target_arch = "x86_64"), allow(unused_variables))]
    fn kernel(self, d: usize) -> Kernel {
        match self {
            Self::Exact => Kernel::Exact,
            Self::Fused => Kernel::Fused,
            #[cfg(target_arch = "x86_64")]
            Self::Bf16 => super::attention_bf16::Products::available(d).map_or(Kernel::Fused, Kernel::Bf16),
            #[cfg(not(target_arch = "x86_64"))]
            Self::Bf16 => Kernel::Fused,
        }
    }
}

struct Attention {
    heads: usize,
    scale: f32,
    /// `[batch, seq]` additive bias on the keys.
    mask: Option<Vec<f32>>,
    kernel: Kernel,
}

impl CustomOp1 for Attention {
    fn name(&self) -> &'static str {
        "stance-attention"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let qkv = input(storage, layout)?;
        let (batch, seq, stacked) = layout.shape().dims3()?;
        let hidden = stacked / 3;
        let d = hidden / self.heads;
        // One task per batch row, which writes its `[seq, hidden]` rows of the output, and
        // within it one per head, which computes that head's context, `[seq, d]`. Every slot
        // of the output is written once, so it is never zeroed first.
        let mut out: Vec<f32> = Vec::with_capacity(batch * seq * hidden);
        out.spare_capacity_mut()[..batch * seq * hidden]
            .par_chunks_mut((seq * hidden).max(1))
            .enumerate()
            .for_each(|(b, rows)| {
                let bias = self.mask.as_ref().map(|m| &m[b * seq..(b + 1) * seq]);
                let contexts: Vec<Vec<f32>> = (0..self.heads)
                    .into_par_iter()
                    .map(|h| {
                        let query = b * seq * stacked + h * d;
                        let head = Head { seq, stride: stacked, d, query, key: query + hidden, value: query + 2 * hidden };
                        match self.kernel {
                            Kernel::Exact => attend::<false>(qkv, head, bias, self.scale),
                            Kernel::Fused => attend::<true>(qkv, head, bias, self.scale),
                            #[cfg(target_arch = "x86_64")]
                            // SAFETY: `Products::available` chose `products` for this head size.
                            Kernel::Bf16(products) => unsafe {
                                super::attention_bf16::attend_head(qkv, head, bias, self.scale, products)
                            },
                        }
                    })
                    .collect();
                for (h, context) in contexts.iter().enumerate() {
                    for (i, row) in context.chunks_exact(d).enumerate() {
                        for (slot, &x) in rows[i * hidden + h * d..][..d].iter_mut().zip(row) {
                            slot.write(x);
                        }
                    }
                }
            });
        // SAFETY: the batch rows' chunks cover every slot, and each head wrote its `d` columns
        // of each of its row's `seq` positions.
        unsafe { out.set_len(batch * seq * hidden) };
        Ok((CpuStorage::F32(out), Shape::from((batch, seq, hidden))))
    }
}

/// Where one head of one batch row lies in the stacked `[batch, seq, 3 · hidden]` projections:
/// position `j`'s `d` query values start at `query + j · stride`, its keys and values likewise.
#[derive(Clone, Copy)]
pub(crate) struct Head {
    pub seq: usize,
    pub stride: usize,
    pub d: usize,
    pub query: usize,
    pub key: usize,
    pub value: usize,
}

/// Keys (for scores) and context values accumulated in registers per query of a block of
/// queries: two AVX-512 vectors, four AVX2 ones.
const LANE_BLOCK: usize = 32;

/// One head's attention ([`attend_head`]) with as many queries at a time as the CPU's registers
/// hold accumulators for. Queries computed together keep the vector units busy (one query's
/// sums form chains that wait on each addition's latency), and each block reuses the keys and
/// values it loads: 8 queries (16 of AVX-512's 32 registers), where 4 had left attention 8–11 %
/// slower on rows of 128–256 tokens; 4 elsewhere (all 16 of AVX2's). A row's sums do not depend
/// on the block size: the same bits either way.
#[inline(always)]
fn attend<const FUSED: bool>(qkv: &[f32], head: Head, bias: Option<&[f32]>, scale: f32) -> Vec<f32> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        return attend_head::<FUSED, 8>(qkv, head, bias, scale);
    }
    attend_head::<FUSED, 4>(qkv, head, bias, scale)
}

simd_kernel! {
    /// One head's attention for one batch row: its context, `[seq, d]`.
    ///
    /// Like every `simd_kernel!` here, it is compiled for each SIMD level and chosen at run
    /// time, and its loops are written so that the compiler vectorizes them without changing
    /// any sum's order: a score sums its `d` products in order, a context value its keys in
    /// order, a softmax its exponentials in fixed lanes (`SUM_LANES`), so every level gives
    /// the same bits (Rust never fuses a multiply and an add on its own).
    fn attend_head<const FUSED: bool, const QUERY_BLOCK: usize>(
        qkv: &[f32],
        head: Head,
        bias: Option<&[f32]>,
        scale: f32,
    ) -> Vec<f32> {
        let Head { seq, stride, d, query, value, .. } = head;
        if seq == 0 {
            return Vec::new();
        }
        // Position `j`'s `d` values of the queries, keys or values starting at `start`.
        let row = |start: usize, j: usize| &qkv[start + j * stride..start + j * stride + d];
        // The scores' inner loop indexes nothing: it walks arrays laid out for it (`as_chunks`),
        // so it carries no bounds checks (with their reloads, they had outnumbered its
        // multiply-adds); the context's loop walks the values' rows as chunks.
        //
        // The head's keys transposed in blocks of `LANE_BLOCK` keys, `[width / LANE_BLOCK][d]
        // [LANE_BLOCK]`, zero past `seq`: a block of keys' scores accumulates in registers over
        // the `d` dimensions.
        let width = seq.next_multiple_of(LANE_BLOCK);
        let mut kt = vec![0f32; d * width];
        transpose_keys(qkv, head, &mut kt);
        let value_blocks = d - d % LANE_BLOCK;
        // A block's queries transposed, [d][QUERY_BLOCK] (zeros past the last query); their
        // scores, then probabilities, [QUERY_BLOCK][width] (the first `seq` of each row).
        let mut queries = vec![0f32; d * QUERY_BLOCK];
        let mut scores = vec![0f32; QUERY_BLOCK * width];
        let mut context = vec![0f32; seq * d];
        for i0 in (0..seq).step_by(QUERY_BLOCK) {
            let block = (seq - i0).min(QUERY_BLOCK);
            queries.fill(0.0);
            for r in 0..block {
                for (c, &x) in row(query, i0 + r).iter().enumerate() {
                    queries[c * QUERY_BLOCK + r] = x;
                }
            }
            let queries = queries.as_chunks::<QUERY_BLOCK>().0;
            for (b, key_block) in kt.as_chunks::<LANE_BLOCK>().0.chunks_exact(d).enumerate() {
                let mut acc = [[0f32; LANE_BLOCK]; QUERY_BLOCK];
                for (keys, query) in key_block.iter().zip(queries) {
                    for l in 0..LANE_BLOCK {
                        for r in 0..QUERY_BLOCK {
                            acc[r][l] = multiply_add::<FUSED>(query[r], keys[l], acc[r][l]);
                        }
                    }
                }
                for (r, acc) in acc.iter().enumerate() {
                    scores[r * width + b * LANE_BLOCK..][..LANE_BLOCK].copy_from_slice(acc);
                }
            }
            for row in scores.chunks_exact_mut(width) {
                scale_and_mask(&mut row[..seq], bias, scale);
            }
            softmax_rows(&mut scores, width, seq);
            // Keys past the last one with a nonzero weight (the padding) are left out, so a
            // row's sums do not depend on its batch's width; a zero weight inside adds 0.
            let keys = weighted_keys(&scores, width, seq);
            let weights: [&[f32]; QUERY_BLOCK] = std::array::from_fn(|r| &scores[r * width..r * width + keys]);
            for c0 in (0..value_blocks).step_by(LANE_BLOCK) {
                let mut acc = [[0f32; LANE_BLOCK]; QUERY_BLOCK];
                // Key `j`'s values from `c0` start the `j`-th chunk.
                for (j, values) in qkv[value + c0..].chunks(stride).take(keys).enumerate() {
                    let values = lanes(values);
                    let p: [f32; QUERY_BLOCK] = std::array::from_fn(|r| weights[r][j]);
                    for l in 0..LANE_BLOCK {
                        for r in 0..QUERY_BLOCK {
                            acc[r][l] = multiply_add::<FUSED>(p[r], values[l], acc[r][l]);
                        }
                    }
                }
                for (r, acc) in acc.iter().enumerate().take(block) {
                    context[(i0 + r) * d + c0..(i0 + r) * d + c0 + LANE_BLOCK].copy_from_slice(acc);
                }
            }
            // Values past the last whole lane block (none when `d` is a multiple of it).
            if value_blocks < d {
                for r in 0..block {
                    let out = &mut context[(i0 + r) * d + value_blocks..(i0 + r + 1) * d];
                    for (j, &p) in weights[r].iter().enumerate() {
                        for (o, &x) in out.iter_mut().zip(&row(value, j)[value_blocks..]) {
                            *o = multiply_add::<FUSED>(p, x, *o);
                        }
                    }
                }
            }
        }
        context
    }
}

/// `y + bias` (bias `[n]` added to every row of `y`, `[.., n]`). On the fast path `y` is
/// overwritten: pass the fresh output of a matmul. candle's own broadcast add runs on candle's
/// separate, spinning worker pool, which on two cores competed with rayon's (7.8 % of an f32
/// encoder run spun in its barrier); this runs on rayon.
pub fn add_bias_in_place(y: Tensor, bias: &Tensor) -> candle_core::Result<Tensor> {
    if fast_path(&y) && y.is_contiguous() && bias.dims() == [y.dims()[y.rank() - 1]] {
        y.inplace_op2(&bias.contiguous()?, &AddBias)?;
        Ok(y)
    } else {
        y.broadcast_add(bias)
    }
}

/// The parameters of a LayerNorm with a bias, as plain vectors for [`add_norm_in_place`].
#[derive(Debug, Clone)]
pub struct NormParams {
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
    pub eps: f32,
}

impl NormParams {
    pub fn from_layer_norm(norm: &candle_nn::LayerNorm, eps: f64) -> candle_core::Result<Self> {
        let weight: Vec<f32> = norm.weight().to_dtype(candle_core::DType::F32)?.to_vec1()?;
        let bias = match norm.bias() {
            Some(b) => b.to_dtype(candle_core::DType::F32)?.to_vec1()?,
            None => vec![0.0; weight.len()],
        };
        Ok(NormParams { weight, bias, eps: eps as f32 })
    }
}

/// `LayerNorm(y + residual)` over the last axis, the add-and-norm after a sublayer, with the
/// arithmetic of candle's fused LayerNorm (f32 sums of values and squares, `var = E[x²] − mean²`)
/// except for the order of the sums (see `add_norm_rows`).
/// On the fast path `y` is overwritten: pass the fresh output of the sublayer's last linear.
/// `norm` is the same LayerNorm as `params`, for the general path (candle's own, its sums in
/// candle's order).
pub fn add_norm_in_place(
    y: Tensor,
    residual: &Tensor,
    params: &NormParams,
    norm: &candle_nn::LayerNorm,
) -> candle_core::Result<Tensor> {
    let width = y.dims().last().copied().unwrap_or(0);
    if fast_path(&y) && y.is_contiguous() && residual.dims() == y.dims() && params.weight.len() == width {
        y.inplace_op2(&residual.contiguous()?, &AddNorm(params))?;
        Ok(y)
    } else {
        candle_core::Module::forward(norm, &(y + residual)?)
    }
}

struct AddBias;

impl InplaceOp2 for AddBias {
    fn name(&self) -> &'static str {
        "stance-add-bias"
    }

    fn cpu_fwd(&self, s1: &mut CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> candle_core::Result<()> {
        let bias = input(s2, l2)?;
        let y = input_mut(s1, l1)?;
        let width = bias.len().max(1);
        let rows_per_task = (MIN_ELEMENTS_PER_TASK / width).max(1);
        y.par_chunks_mut(width * rows_per_task).for_each(|rows| add_bias_rows(rows, bias));
        Ok(())
    }
}

struct AddNorm<'a>(&'a NormParams);

impl InplaceOp2 for AddNorm<'_> {
    fn name(&self) -> &'static str {
        "stance-add-norm"
    }

    fn cpu_fwd(&self, s1: &mut CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> candle_core::Result<()> {
        let p = self.0;
        let residual = input(s2, l2)?;
        let y = input_mut(s1, l1)?;
        let width = p.weight.len().max(1);
        let rows_per_task = (MIN_ELEMENTS_PER_TASK / width).max(1);
        y.par_chunks_mut(width * rows_per_task)
            .zip(residual.par_chunks(width * rows_per_task))
            .for_each(|(rows, residual)| add_norm_rows(rows, residual, p));
        Ok(())
    }
}

simd_kernel! {
    fn add_bias_rows(rows: &mut [f32], bias: &[f32]) {
        for row in rows.chunks_mut(bias.len()) {
            for (v, b) in row.iter_mut().zip(bias) {
                *v += b;
            }
        }
    }
}

simd_kernel! {
    /// Add & LayerNorm of whole rows. The two sums run in lanes as the softmax's do
    /// ([`fold_lanes`], [`reduce_lanes`]): the order is fixed by the row alone, so every CPU
    /// path gives the same bits. Why not candle's order (one running sum): its chain of
    /// dependent adds made this 7 % of an all-tasks profile on AMX tiles; the results differ
    /// from candle's in the last bits.
    fn add_norm_rows(rows: &mut [f32], residual: &[f32], p: &NormParams) {
        let width = p.weight.len();
        for (row, res) in rows.chunks_mut(width).zip(residual.chunks(width)) {
            for (v, r) in row.iter_mut().zip(res) {
                *v += r;
            }
            let sum = reduce_lanes(fold_lanes(row, 0.0, |s, v| s + v), |a, b| a + b);
            let sum2 = reduce_lanes(fold_lanes(row, 0.0, |s, v| s + v * v), |a, b| a + b);
            let mean = sum / width as f32;
            let var = sum2 / width as f32 - mean * mean;
            let inv_std = (var + p.eps).sqrt().recip();
            for ((v, w), b) in row.iter_mut().zip(&p.weight).zip(&p.bias) {
                *v = (*v - mean) * inv_std * w + b;
            }
        }
    }
}

/// What one of this crate's GEMMs does to its output rows once they are complete, while they
/// are still in cache: nothing, or the erf GELU of the feed-forward layer that follows it, as
/// [`gelu_erf_in_place`] computes it (same `fused`, so the same bits). Why: as a pass of its
/// own over the feed-forward's `[rows, 1536]` output, which no longer fits in cache, the GELU
/// was 13 % of an all-tasks profile on AMX tiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Epilogue {
    None,
    GeluErf { fused: bool },
}

impl Epilogue {
    pub fn apply(self, values: &mut [f32]) {
        match self {
            Self::None => {}
            Self::GeluErf { fused: true } => gelu_erf_slice::<true>(values),
            Self::GeluErf { fused: false } => gelu_erf_slice::<false>(values),
        }
    }

    /// [`Self::apply`] to output slots a GEMM task has filled.
    ///
    /// # Safety
    /// Every slot of `values` has been written.
    pub unsafe fn apply_written(self, values: &mut [MaybeUninit<f32>]) {
        if self != Self::None {
            // SAFETY: the caller wrote every slot, and `MaybeUninit<f32>` has `f32`'s layout.
            self.apply(unsafe { &mut *(values as *mut [MaybeUninit<f32>] as *mut [f32]) });
        }
    }
}

/// A linear layer run by one of this crate's GEMMs (`super::int8`, `super::int16`,
/// `super::bf16`): `[rows, in_dim]` f32 to `[rows, out_dim]`, each row on its own.
pub trait RowGemm: Send + Sync {
    /// The arithmetic, to name the layer kind in errors.
    const KIND: &'static str;
    fn dims(&self) -> (usize, usize);
    /// The product plus bias on the CPU's fastest path, then `epilogue`.
    fn forward_then(&self, x: &[f32], epilogue: Epilogue) -> Vec<f32>;
}

/// A [`RowGemm`] layer and what follows it, as a candle op.
pub struct GemmOp<'a, G>(pub &'a G, pub Epilogue);

impl<G: RowGemm> CustomOp1 for GemmOp<'_, G> {
    fn name(&self) -> &'static str {
        "stance-gemm"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = input(storage, layout)?;
        let (in_dim, out_dim) = self.0.dims();
        let mut dims = layout.shape().dims().to_vec();
        match dims.last_mut() {
            Some(last) if *last == in_dim => *last = out_dim,
            _ => candle_core::bail!("{} linear: input {dims:?}, expected last dim {in_dim}", G::KIND),
        }
        Ok((CpuStorage::F32(self.0.forward_then(x, self.1)), Shape::from(dims)))
    }
}

/// The output of a row-independent GEMM (`x` is `rows × k`, the output `rows × n`), computed
/// in parallel tasks of `task_rows` rows: `task` gets its rows of `x` and their slots of the
/// output, never zeroed first (zeroing and then writing were two passes over memory).
///
/// # Safety
/// `task` must write every slot it is given.
pub unsafe fn in_row_tasks(
    x: &[f32],
    k: usize,
    n: usize,
    task_rows: usize,
    task: impl Fn(&[f32], &mut [MaybeUninit<f32>]) + Sync + Send,
) -> Vec<f32> {
    let rows = x.len() / k;
    let mut out: Vec<f32> = Vec::with_capacity(rows * n);
    out.spare_capacity_mut()[..rows * n]
        .par_chunks_mut(task_rows * n)
        .zip(x.par_chunks(task_rows * k))
        .for_each(|(out, x)| task(x, out));
    // SAFETY: the chunks cover `rows * n` slots, and the caller's task wrote each of them.
    unsafe { out.set_len(rows * n) };
    out
}

/// Which instructions an integer GEMM (`super::int8`, `super::int16`) computes its exact sums
/// with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntKernel {
    /// AVX-512 VNNI (`vpdpbusd`, `vpdpwssd`) on 512-bit registers, with AVX-512 BW and VL for
    /// the quantizers' masked stores.
    Vnni,
    /// AVX2 `vpmaddwd` on 256-bit registers, with FMA for the block sums.
    Avx2,
    /// Portable scalar code (other CPUs, and the tests' reference).
    Scalar,
}

impl IntKernel {
    /// The fastest path this CPU supports.
    pub fn detect() -> Self {
        [Self::Vnni, Self::Avx2].into_iter().find(|k| k.supported()).unwrap_or(Self::Scalar)
    }

    /// Whether this CPU can run the path.
    pub fn supported(self) -> bool {
        match self {
            Self::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Self::Vnni => {
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512bw")
                    && std::arch::is_x86_feature_detected!("avx512vl")
                    && std::arch::is_x86_feature_detected!("avx512vnni")
            }
            #[cfg(target_arch = "x86_64")]
            Self::Avx2 => std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma"),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Vnni => "avx512-vnni",
            Self::Avx2 => "avx2",
            Self::Scalar => "scalar",
        }
    }
}

/// An integer GEMM (`super::int8`, `super::int16`) as [`int_forward`] runs it.
pub trait IntGemm: Sync {
    /// One task on `kernel`'s path: quantize the rows of `x`, multiply, write every slot of
    /// `out`. Marked `#[inline(always)]` by each layer, so that [`int_forward`]'s entry points
    /// compile it, quantization and epilogue included, for their path's instructions.
    fn task(&self, x: &[f32], out: &mut [MaybeUninit<f32>], kernel: IntKernel);
}

/// `layer`'s output for `x` (`rows × k`; `rows × n` out) on `kernel`'s path, in parallel tasks
/// of `task_rows` rows, then `epilogue`. The caller checked that the CPU runs `kernel`.
pub fn int_forward<L: IntGemm>(
    layer: &L,
    x: &[f32],
    (k, n): (usize, usize),
    task_rows: usize,
    kernel: IntKernel,
    epilogue: Epilogue,
) -> Vec<f32> {
    assert!(kernel.supported(), "the CPU cannot run the {} kernel", kernel.name());
    let task = |x: &[f32], out: &mut [MaybeUninit<f32>]| {
        match kernel {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: checked above.
            IntKernel::Vnni => unsafe { int_task_vnni(layer, x, out) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above.
            IntKernel::Avx2 => unsafe { int_task_avx2(layer, x, out) },
            _ => layer.task(x, out, kernel),
        }
        // SAFETY: the task wrote every slot of its rows.
        unsafe { epilogue.apply_written(out) }
    };
    // SAFETY: each task writes every slot of its rows (`IntGemm::task`'s contract).
    unsafe { in_row_tasks(x, k, n, task_rows, task) }
}

/// An integer task compiled for AVX-512.
///
/// # Safety
/// The CPU must support what `IntKernel::Vnni` needs.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,fma")]
unsafe fn int_task_vnni<L: IntGemm>(layer: &L, x: &[f32], out: &mut [MaybeUninit<f32>]) {
    layer.task(x, out, IntKernel::Vnni)
}

/// An integer task compiled for AVX2.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn int_task_avx2<L: IntGemm>(layer: &L, x: &[f32], out: &mut [MaybeUninit<f32>]) {
    layer.task(x, out, IntKernel::Avx2)
}

/// Rows per parallel task of a row-independent kernel (the int8, int16 and bf16 GEMMs): enough
/// tasks for every thread to get a couple, each a multiple of the micro-kernel's `tile_rows`,
/// at most `max_rows`.
pub fn rows_per_task(rows: usize, tile_rows: usize, max_rows: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    rows.div_ceil(2 * threads)
        .div_ceil(tile_rows)
        .max(1)
        .saturating_mul(tile_rows)
        .min(max_rows)
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

/// The mutable contiguous f32 data of an in-place kernel's tensor.
fn input_mut<'a>(storage: &'a mut CpuStorage, layout: &Layout) -> candle_core::Result<&'a mut [f32]> {
    let (start, end) = match layout.contiguous_offsets() {
        Some(range) => range,
        None => candle_core::bail!("kernel input must be contiguous"),
    };
    match storage {
        CpuStorage::F32(data) => Ok(&mut data[start..end]),
        _ => candle_core::bail!("kernel input must be f32"),
    }
}

/// The keys of `head` transposed into `kt`, `[seq.next_multiple_of(LANE_BLOCK) / LANE_BLOCK][d]
/// [LANE_BLOCK]`: key `j`'s dimension `c` at `(j / LANE_BLOCK) · d · LANE_BLOCK + c · LANE_BLOCK
/// + j % LANE_BLOCK`. `kt` comes zeroed, and the slots past `seq` stay zero.
///
/// Why the AVX-512 path: written element by element, this copy was the largest piece of
/// attention after its multiply-adds in a profile on rows of 32 tokens; 16 × 16 blocks
/// transposed in registers move the same values in a sixteenth of the instructions, and
/// attention on 64 rows of 32 tokens took 9 % less time (`attention_bench`).
#[inline(always)]
fn transpose_keys(qkv: &[f32], head: Head, kt: &mut [f32]) {
    let Head { seq, stride, d, key, .. } = head;
    assert_eq!(kt.len(), d * seq.next_multiple_of(LANE_BLOCK));
    assert!(seq == 0 || key + (seq - 1) * stride + d <= qkv.len());
    #[cfg(target_arch = "x86_64")]
    if d % 16 == 0 && std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F; the bounds are asserted above.
        unsafe { transpose_avx512::keys(qkv, head, kt) };
        return;
    }
    for (b, block) in kt.chunks_exact_mut(d * LANE_BLOCK).enumerate() {
        let keys = (seq - b * LANE_BLOCK).min(LANE_BLOCK);
        for (c, lanes) in block.chunks_exact_mut(LANE_BLOCK).enumerate() {
            for (l, x) in lanes[..keys].iter_mut().enumerate() {
                *x = qkv[key + (b * LANE_BLOCK + l) * stride + c];
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod transpose_avx512 {
    use super::{Head, LANE_BLOCK};
    use std::arch::x86_64::*;

    /// [`super::transpose_keys`] in 16 × 16 blocks: 16 keys' rows of 16 dimensions loaded (the
    /// keys past `seq` as zeros), transposed with three rounds of shuffles, stored as 16
    /// dimensions' rows of 16 keys.
    ///
    /// # Safety
    /// The CPU must support AVX-512F, `d` must be a multiple of 16, and the bounds must hold as
    /// `transpose_keys` asserts them.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn keys(qkv: &[f32], head: Head, kt: &mut [f32]) {
        let Head { seq, stride, d, key, .. } = head;
        for j0 in (0..seq).step_by(16) {
            let keys = (seq - j0).min(16);
            let block = &mut kt[(j0 / LANE_BLOCK) * d * LANE_BLOCK + j0 % LANE_BLOCK..];
            for c0 in (0..d).step_by(16) {
                let rows: [__m512; 16] = std::array::from_fn(|l| {
                    if l < keys {
                        // SAFETY: key j0 + l < seq, dimensions c0..c0 + 16 ≤ d: inside `qkv`.
                        _mm512_loadu_ps(qkv.as_ptr().add(key + (j0 + l) * stride + c0))
                    } else {
                        _mm512_setzero_ps()
                    }
                });
                let columns = transpose(rows);
                for (c, column) in columns.iter().enumerate() {
                    let at = (c0 + c) * LANE_BLOCK;
                    assert!(at + 16 <= block.len());
                    // SAFETY: checked just above.
                    _mm512_storeu_ps(block.as_mut_ptr().add(at), *column);
                }
            }
        }
    }

    /// A 16 × 16 block transposed: row `c` of the result holds lane `c` of each input row.
    #[inline(always)]
    unsafe fn transpose(r: [__m512; 16]) -> [__m512; 16] {
        // Pairs of rows interleaved by 32 bits, then pairs of those by 64 bits: `u[4q + g]`
        // holds columns g, g + 4, g + 8, g + 12 (one per 128-bit lane) of rows 4q..4q + 4.
        let t: [__m512; 16] = std::array::from_fn(|i| {
            let (a, b) = (r[i / 2 * 2], r[i / 2 * 2 + 1]);
            if i % 2 == 0 { _mm512_unpacklo_ps(a, b) } else { _mm512_unpackhi_ps(a, b) }
        });
        let u: [__m512; 16] = std::array::from_fn(|i| {
            let (q, g) = (i / 4, i % 4);
            let (a, b) = (_mm512_castps_pd(t[4 * q + g / 2]), _mm512_castps_pd(t[4 * q + 2 + g / 2]));
            _mm512_castpd_ps(if g % 2 == 0 { _mm512_unpacklo_pd(a, b) } else { _mm512_unpackhi_pd(a, b) })
        });
        // 128-bit lanes: `v` pairs rows 0–7 and 8–15 by lanes (0, 2) and (1, 3), then the
        // final round picks a column's four lanes in row order.
        let mut out = [_mm512_setzero_ps(); 16];
        for g in 0..4 {
            let v0 = _mm512_shuffle_f32x4::<0x88>(u[g], u[4 + g]);
            let v1 = _mm512_shuffle_f32x4::<0xDD>(u[g], u[4 + g]);
            let v2 = _mm512_shuffle_f32x4::<0x88>(u[8 + g], u[12 + g]);
            let v3 = _mm512_shuffle_f32x4::<0xDD>(u[8 + g], u[12 + g]);
            out[g] = _mm512_shuffle_f32x4::<0x88>(v0, v2);
            out[8 + g] = _mm512_shuffle_f32x4::<0xDD>(v0, v2);
            out[4 + g] = _mm512_shuffle_f32x4::<0x88>(v1, v3);
            out[12 + g] = _mm512_shuffle_f32x4::<0xDD>(v1, v3);
        }
        out
    }
}

/// `acc + a · b`, in one rounding when `FUSED` (an FMA instruction where the kernel is compiled
/// for a CPU that has one).
#[inline(always)]
fn multiply_add<const FUSED: bool>(a: f32, b: f32, acc: f32) -> f32 {
    if FUSED {
        a.mul_add(b, acc)
    } else {
        acc + a * b
    }
}

/// The first [`LANE_BLOCK`] values of `x`, as an array (so that the loops over it have a known
/// length and vectorize).
#[inline(always)]
fn lanes(x: &[f32]) -> &[f32; LANE_BLOCK] {
    x[..LANE_BLOCK].try_into().expect("a whole lane block")
}

/// A row of scores scaled and the mask's additive bias added (`s · scale + bias`), in place.
#[inline(always)]
pub(crate) fn scale_and_mask(row: &mut [f32], bias: Option<&[f32]>, scale: f32) {
    match bias {
        Some(bias) => row.iter_mut().zip(bias).for_each(|(s, b)| *s = *s * scale + b),
        None => row.iter_mut().for_each(|s| *s *= scale),
    }
}

/// One past the last key with a nonzero probability in any of the rows of `probs` (`width`
/// apart, their first `seq` values read): the keys a block of queries' context sums over.
#[inline(always)]
pub(crate) fn weighted_keys(probs: &[f32], width: usize, seq: usize) -> usize {
    probs
        .chunks_exact(width)
        .map(|row| row[..seq].iter().rposition(|&p| p != 0.0).map_or(0, |j| j + 1))
        .max()
        .unwrap_or(0)
}

/// Lanes of the softmax's maximum and sum, and of add & LayerNorm's sums: a row's values go to
/// lane `j mod SUM_LANES`, each lane sums in order, and the lanes are then added in a fixed
/// order. One vector's worth of independent sums, where a single sum waits on each addition;
/// the order depends on the row's own length only, and the same code gives the same bits at
/// every SIMD width.
const SUM_LANES: usize = 16;

/// Softmax of the first `len` values of each of the rows of `rows` (`width` apart), in place;
/// vectorized where this is inlined into a `simd_kernel!` (or an AVX-512 function).
#[inline(always)]
pub(crate) fn softmax_rows(rows: &mut [f32], width: usize, len: usize) {
    debug_assert_eq!(rows.len() % width, 0);
    for row in rows.chunks_exact_mut(width) {
        let row = &mut row[..len];
        // The maximum is exact in any order: a plain comparison, not `f32::max`, whose NaN rule
        // costs a compare and a blend after each `vmaxps` on the chain's latency, and the lanes
        // meet pairwise, a chain of 4 steps rather than 16 (on rows of 32, the softmax had taken
        // a third of attention's time).
        let larger = |a: f32, b: f32| if a > b { a } else { b };
        let max = reduce_lanes(fold_lanes(row, f32::NEG_INFINITY, larger), larger);
        for v in row.iter_mut() {
            let d = *v - max;
            *v = if d < EXP_UNDERFLOW { 0.0 } else { exp::<false>(d) };
        }
        let lanes = fold_lanes(row, 0.0, |s, x| s + x);
        let scale = 1.0 / reduce_lanes(lanes, |a, b| a + b);
        for v in row.iter_mut() {
            *v *= scale;
        }
    }
}

/// `f` folded over `row` in [`SUM_LANES`] lanes: lane `l` folds values `l`, `l + SUM_LANES`, …
/// in order, starting from `init`.
#[inline(always)]
fn fold_lanes(row: &[f32], init: f32, f: impl Fn(f32, f32) -> f32) -> [f32; SUM_LANES] {
    let mut lanes = [init; SUM_LANES];
    let mut chunks = row.chunks_exact(SUM_LANES);
    for chunk in &mut chunks {
        let chunk: &[f32; SUM_LANES] = chunk.try_into().expect("a whole chunk");
        for (lane, &x) in lanes.iter_mut().zip(chunk) {
            *lane = f(*lane, x);
        }
    }
    for (lane, &x) in lanes.iter_mut().zip(chunks.remainder()) {
        *lane = f(*lane, x);
    }
    lanes
}

/// The lanes combined by `f` in halves, pairwise (a fixed order).
#[inline(always)]
fn reduce_lanes(mut lanes: [f32; SUM_LANES], f: impl Fn(f32, f32) -> f32) -> f32 {
    let mut half = SUM_LANES / 2;
    while half > 0 {
        for i in 0..half {
            lanes[i] = f(lanes[i], lanes[i + half]);
        }
        half /= 2;
    }
    lanes[0]
}

/// `eˣ` for `x` in [-87.3, 88.3] (clamped to it), within 2 ulp of the exact value (a test checks
/// against f64): Cody–Waite reduction to `r = x − n·ln 2`, |r| ≤ ½ ln 2, Cephes' degree-6
/// polynomial for `eʳ`, and `2ⁿ` built from its exponent bits.
///
/// Why not `f32::exp`: libm's is a call per element, so the loops around it stay scalar; this is
/// plain arithmetic that vectorizes, and it gives the same bits on every CPU and libc.
///
/// Public for the trainable layer's ops (`stance-tune`), which inline it the same way.
#[inline(always)]
pub fn exp<const FUSED: bool>(x: f32) -> f32 {
    let mad = multiply_add::<FUSED>;
    // Adding 1.5 · 2²³ rounds to an integer, which then sits in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let x = x.clamp(-87.3, 88.3);
    let t = mad(x, std::f32::consts::LOG2_E, ROUND);
    let n = t - ROUND;
    let r = mad(-n, LN2_LO, mad(-n, LN2_HI, x));
    let p = mad(mad(mad(mad(mad(1.987_569_2e-4, r, 1.398_199_9e-3), r, 8.333_452e-3), r, 4.166_579_6e-2), r, 1.666_666_5e-1), r, 0.5);
    let poly = mad(p, r * r, r) + 1.0;
    // 2ⁿ: n + 127 in the exponent field (n is in [-126, 128) after the clamp).
    let two_n = f32::from_bits(t.to_bits().wrapping_sub(ROUND.to_bits()).wrapping_add(127) << 23);
    poly * two_n
}

struct GeluErf {
    fused: bool,
}

impl InplaceOp1 for GeluErf {
    fn name(&self) -> &'static str {
        "stance-gelu-erf"
    }

    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> candle_core::Result<()> {
        let values = input_mut(storage, layout)?.par_chunks_mut(MIN_ELEMENTS_PER_TASK);
        match self.fused {
            true => values.for_each(gelu_erf_slice::<true>),
            false => values.for_each(gelu_erf_slice::<false>),
        }
        Ok(())
    }
}

simd_kernel! {
    /// `x · ½(1 + erf(x/√2))` for each value.
    fn gelu_erf_slice<const FUSED: bool>(values: &mut [f32]) {
        for v in values.iter_mut() {
            let x = *v;
            *v = 0.5 * x * (1.0 + erf::<FUSED>(x * std::f32::consts::FRAC_1_SQRT_2));
        }
    }
}

/// `erf(z)` from Abramowitz & Stegun 7.1.26 (absolute error under 1.5e-7, the size of f32
/// rounding near 1). Branch-free, so that the loops around it vectorize. Public for the
/// trainable layer's GELU and its derivative (`stance-tune`).
#[inline(always)]
pub fn erf<const FUSED: bool>(z: f32) -> f32 {
    let mad = multiply_add::<FUSED>;
    let a = z.abs();
    let t = 1.0 / mad(0.327_591_1, a, 1.0);
    let poly = t * mad(t, mad(t, mad(t, mad(t, 1.061_405_4, -1.453_152_1), 1.421_413_7), -0.284_496_74), 0.254_829_6);
    // erf(a) = 1 to f32 precision beyond 4.
    let erf_abs = if a > 4.0 { 1.0 } else { mad(-poly, exp::<FUSED>(-a * a), 1.0) };
    if z < 0.0 {
        -erf_abs
    } else {
        erf_abs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn values() -> Vec<f32> {
        (-4000..=4000).map(|i| i as f32 / 400.0).collect()
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar().unwrap()
    }

    #[test]
    fn keys_are_transposed_into_lane_blocks_with_zeros_past_the_row() {
        for d in [16, 32, 48, 64, 24] {
            for seq in [1, 5, 15, 16, 17, 31, 32, 33, 40, 70] {
                let stride = 3 * d * 2 + 8;
                let key = d + 3;
                let qkv: Vec<f32> = (0..key + seq * stride).map(|i| i as f32 * 0.5 - 7.0).collect();
                let head = Head { seq, stride, d, query: 0, key, value: 0 };
                let mut kt = vec![0f32; d * seq.next_multiple_of(LANE_BLOCK)];
                transpose_keys(&qkv, head, &mut kt);
                for (i, &x) in kt.iter().enumerate() {
                    let (block, c, l) = (i / (d * LANE_BLOCK), i / LANE_BLOCK % d, i % LANE_BLOCK);
                    let j = block * LANE_BLOCK + l;
                    let want = if j < seq { qkv[key + j * stride + c] } else { 0.0 };
                    assert_eq!(x, want, "d {d}, seq {seq}: key {j}, dimension {c}");
                }
            }
        }
    }

    #[test]
    fn exp_is_within_two_ulp_of_the_exact_value() {
        let mut x = -87.3f32;
        while x < 88.3 {
            let exact = (x as f64).exp();
            let ulp = f64::from(f32::EPSILON) * exact;
            for got in [exp::<false>(x), exp::<true>(x)] {
                let err = (f64::from(got) - exact).abs();
                assert!(err <= 2.0 * ulp, "exp({x}): {got} against {exact}");
            }
            x += 0.0137;
        }
        assert_eq!(exp::<false>(0.0), 1.0);
        assert_eq!(exp::<false>(-1000.0), exp::<false>(-87.3));
    }

    #[test]
    fn gelu_matches_candles_erf_gelu() {
        let x = Tensor::new(values(), &Device::Cpu).unwrap();
        let reference: Vec<f32> = x.gelu_erf().unwrap().to_vec1().unwrap();
        for fused in [false, true] {
            let ours: Vec<f32> = gelu_erf_in_place(x.copy().unwrap(), fused).unwrap().to_vec1().unwrap();
            let worst = ours.iter().zip(&reference).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            assert!(worst < 5e-7, "fused {fused}: max |Δ| {worst}");
        }
    }

    /// `softmax(q kᵀ · scale + mask) v` per head with candle's ops, `[batch, seq, hidden]`.
    fn reference_attention(q: &Tensor, k: &Tensor, v: &Tensor, mask: Option<&Tensor>, heads: usize, scale: f64) -> Tensor {
        let (batch, seq, hidden) = q.dims3().unwrap();
        let split = |t: &Tensor| t.reshape((batch, seq, heads, hidden / heads)).unwrap().transpose(1, 2).unwrap().contiguous().unwrap();
        let scores = (split(q).matmul(&split(k).t().unwrap()).unwrap() * scale).unwrap();
        let scores = match mask {
            Some(m) => scores.broadcast_add(m).unwrap(),
            None => scores,
        };
        let probs = candle_nn::ops::softmax_last_dim(&scores).unwrap();
        probs.matmul(&split(v)).unwrap().transpose(1, 2).unwrap().contiguous().unwrap().reshape((batch, seq, hidden)).unwrap()
    }

    /// `t` rounded to bfloat16 (nearest, ties to even) and back.
    fn round_bf16(t: &Tensor) -> Tensor {
        t.to_dtype(candle_core::DType::BF16).unwrap().to_dtype(candle_core::DType::F32).unwrap()
    }

    /// Each arithmetic against candle's matmuls, and a padded row the same alone as in its batch.
    /// In bf16 the operands are rounded to bfloat16 first, so what remains is the rounding
    /// of the probabilities (each within a relative 2⁻⁹, so a context within 2⁻⁹ · max |v|) and
    /// the order of the sums.
    #[test]
    fn attention_matches_candles_matmuls_and_ignores_padding_width() {
        let (batch, seq, hidden, heads) = (3, 37, 96, 3);
        let v = |seed: usize| -> Vec<f32> {
            values().into_iter().cycle().skip(seed * 977).take(batch * seq * hidden).map(|x| x * 0.3).collect()
        };
        let t = |seed| Tensor::from_vec(v(seed), (batch, seq, hidden), &Device::Cpu).unwrap();
        let stack = |q: &Tensor, k: &Tensor, v: &Tensor| Tensor::cat(&[q, k, v], 2).unwrap();
        // The last row has 12 padded positions.
        let bias: Vec<f32> = (0..batch * seq).map(|i| if i >= 2 * seq + 25 { f32::MIN } else { 0.0 }).collect();
        let bias = Tensor::from_vec(bias, (batch, 1, 1, seq), &Device::Cpu).unwrap();
        let scale = 1.0 / 32f64.sqrt();
        // |v| ≤ 3.
        let bf16_bound = 3.0 / 512.0 + 1e-5;
        for (math, bound) in [(AttentionMath::Exact, 1e-5), (AttentionMath::Fused, 1e-5), (AttentionMath::Bf16, bf16_bound)] {
            let (q, k, vv) = match math {
                AttentionMath::Bf16 => (round_bf16(&t(1)), round_bf16(&t(2)), round_bf16(&t(3))),
                _ => (t(1), t(2), t(3)),
            };
            let qkv = stack(&q, &k, &vv);
            for mask in [Some(&bias), None] {
                let ours = attention(&qkv, mask, heads, scale, math).unwrap();
                let want = reference_attention(&q, &k, &vv, mask, heads, scale);
                assert!(max_diff(&ours, &want) < bound, "{math:?}: max |Δ| {}", max_diff(&ours, &want));
            }
            // The padded row alone, cut to its 25 tokens: the same bits at its real positions.
            let full = attention(&qkv, Some(&bias), heads, scale, math).unwrap();
            let cut = |t: &Tensor| t.narrow(0, 2, 1).unwrap().narrow(1, 0, 25).unwrap().contiguous().unwrap();
            let alone = attention(&stack(&cut(&q), &cut(&k), &cut(&vv)), None, heads, scale, math).unwrap();
            assert_eq!(max_diff(&alone, &cut(&full)), 0.0, "{math:?}");
        }
    }

    /// bf16 attention runs on bfloat16 products wherever the CPU has them (so the tests above
    /// run them on CI's AVX-512 BF16 machines too), for heads of whole chunks of 32 dimensions.
    #[test]
    fn bf16_attention_takes_bfloat16_products_where_the_cpu_has_them() {
        use crate::arch::bf16::Bf16Kernel;
        let has_products = Bf16Kernel::detect() != Bf16Kernel::Scalar;
        assert_eq!(matches!(AttentionMath::Bf16.kernel(32), Kernel::Fused), !has_products);
        assert_eq!(matches!(AttentionMath::Bf16.kernel(64), Kernel::Fused), !has_products);
        assert!(matches!(AttentionMath::Bf16.kernel(48), Kernel::Fused));
        assert!(matches!(AttentionMath::Fused.kernel(32), Kernel::Fused));
    }

    /// Heads of 64 dimensions (BERT-base) and rows of more than one block of 32 in bf16.
    #[test]
    fn bf16_attention_covers_wide_heads_and_long_rows() {
        let (batch, seq, hidden, heads) = (2, 75, 128, 2);
        let t = |seed: usize| -> Tensor {
            let v: Vec<f32> = values().into_iter().cycle().skip(seed * 613).take(batch * seq * hidden).map(|x| x * 0.1).collect();
            round_bf16(&Tensor::from_vec(v, (batch, seq, hidden), &Device::Cpu).unwrap())
        };
        let (q, k, v) = (t(1), t(2), t(3));
        let qkv = Tensor::cat(&[&q, &k, &v], 2).unwrap();
        let bias: Vec<f32> = (0..batch * seq).map(|i| if i >= seq + 40 { f32::MIN } else { 0.0 }).collect();
        let bias = Tensor::from_vec(bias, (batch, 1, 1, seq), &Device::Cpu).unwrap();
        let bf16 = attention(&qkv, Some(&bias), heads, 0.125, AttentionMath::Bf16).unwrap();
        let want = reference_attention(&q, &k, &v, Some(&bias), heads, 0.125);
        // |v| ≤ 1.
        assert!(max_diff(&bf16, &want) < 1.0 / 512.0 + 1e-5, "max |Δ| {}", max_diff(&bf16, &want));
    }

    /// `LayerNorm(y + residual)` in f64, the variance from the mean (two passes).
    fn exact_add_norm(y: &Tensor, residual: &Tensor, p: &NormParams) -> Vec<f64> {
        let width = p.weight.len();
        let y: Vec<f32> = (y + residual).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        let mut out = Vec::with_capacity(y.len());
        for row in y.chunks(width) {
            let mean = row.iter().map(|&v| v as f64).sum::<f64>() / width as f64;
            let var = row.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / width as f64;
            let inv_std = 1.0 / (var + p.eps as f64).sqrt();
            for (i, &v) in row.iter().enumerate() {
                out.push((v as f64 - mean) * inv_std * p.weight[i] as f64 + p.bias[i] as f64);
            }
        }
        out
    }

    #[test]
    fn add_norm_and_bias_match_candles_ops() {
        let (rows, width) = (37, 384);
        let v = |seed: usize| -> Vec<f32> { values().into_iter().cycle().skip(seed * 131).take(rows * width).collect() };
        let y = Tensor::from_vec(v(1), (1, rows, width), &Device::Cpu).unwrap();
        let residual = Tensor::from_vec(v(2), (1, rows, width), &Device::Cpu).unwrap();
        let weight = Tensor::from_vec(values()[..width].to_vec(), width, &Device::Cpu).unwrap();
        let bias = Tensor::from_vec(values()[1000..1000 + width].to_vec(), width, &Device::Cpu).unwrap();
        let norm = candle_nn::LayerNorm::new(weight, bias.clone(), 1e-12);
        let params = NormParams::from_layer_norm(&norm, 1e-12).unwrap();
        let reference = candle_core::Module::forward(&norm, &(&y + &residual).unwrap()).unwrap();
        let ours = add_norm_in_place(y.copy().unwrap(), &residual, &params, &norm).unwrap();
        // Only the order of the sums differs from candle's: both are held to the exact values.
        let exact = exact_add_norm(&y, &residual, &params);
        let err = |t: &Tensor| -> f64 {
            let t: Vec<f32> = t.flatten_all().unwrap().to_vec1().unwrap();
            t.iter().zip(&exact).map(|(&a, &e)| (a as f64 - e).abs()).fold(0.0, f64::max)
        };
        let (ours, candles) = (err(&ours), err(&reference));
        assert!(ours <= candles, "max |Δ| from the exact values: {ours}, candle's {candles}");
        let reference = y.broadcast_add(&bias).unwrap();
        let ours = add_bias_in_place(y.copy().unwrap(), &bias).unwrap();
        assert_eq!(max_diff(&ours, &reference), 0.0);
    }

    #[test]
    fn non_contiguous_input_takes_candles_path_with_the_same_result() {
        let (batch, seq, stacked) = (2, 9, 3 * 64);
        let v: Vec<f32> = values().into_iter().take(batch * seq * stacked).map(|x| x * 0.2).collect();
        let qkv = Tensor::from_vec(v, (batch, seq, stacked), &Device::Cpu).unwrap();
        // The same values behind a transposed view.
        let view = qkv.transpose(1, 2).unwrap().contiguous().unwrap().transpose(1, 2).unwrap();
        assert!(!view.is_contiguous());
        let fast = attention(&qkv, None, 4, 0.25, AttentionMath::Exact).unwrap();
        let slow = attention(&view, None, 4, 0.25, AttentionMath::Exact).unwrap();
        assert!(max_diff(&fast, &slow) < 1e-5);
    }
}
