//! An int8 GEMM for linear layers with scales per block of 32 inputs on both sides (llama.cpp's
//! Q4_0 × Q8 dot products, with each activation block on its own range): `y = x Wᵀ + b` where
//!
//! - **Weights** are `W[n, k] = d[n, k / 32] · c[n, k]`, `-128 ≤ c ≤ 127`. GGUF Q4_0 and Q8_0
//!   blocks are taken as stored (`c` their 4- or 8-bit values, `d` their f16 scale), so the
//!   4-bit default encoder's weights are exact. Float weights are quantized per block of 32
//!   inputs: `d = max|w| / 127`, `c = round(w / d)`.
//! - **Activations** are quantized per row (token) and block of 32 inputs onto the block's own
//!   range: `m = min x`, `s = (max x - m) / 255`, `q = round((x - m) / s)` in `[0, 255]` (ties to
//!   even), so `x ≈ m + s·q`. e5's few large channels (up to 44 where most stay under 2) coarsen
//!   only the block they sit in, where one scale per token coarsened the whole row, and a
//!   block's 256 steps span what it holds (after the GELU, `[-0.17, max]`), where a symmetric
//!   scale left half of them unused. A row's codes depend on that row alone, so results do not
//!   depend on the batch.
//! - **Products**: per block, `Σ q·c` in exact i32 arithmetic, converted to f32 and accumulated
//!   as `acc = fma(sum, s·d, acc)` (`s·d` one f32 product), then `acc = fma(m, d·Σc, acc)` (`d·Σc`
//!   kept per block at load), blocks in order; then `y = acc + b`.
//!
//! Why: `vpdpbusd` (AVX-512 VNNI) sums four byte products per 32-bit lane, twice the
//! multiply-adds per instruction of `vdpbf16ps` or `vpdpwssd`. With one scale per token and one
//! per output channel (ONNX Runtime's dynamic recipe, this module's first version) int8 moved
//! 0.4–1.6 % of the labels, above the 0.5 % bound, half of it from e5's weights leaving their
//! Q4_0 grid and most of the rest from the per-token activation scale; with symmetric scales
//! per block, 0.2–0.9 %; with the block's own range, 0.1–0.45 % of the 2k bench and up to
//! 0.64 % of the 20k bench (sentiment), still over the bound. Most of that came from the
//! fine-tuned cross-encoder layers, whose float weights this module would quantize too: with
//! them in bf16 (`Compute::for_fine_tuned_layers`), 0.09–0.32 % of the 20k bench, within the
//! bound, and int8 became the default on AMD CPUs with AVX-512 VNNI and BF16 (BENCH.md); with
//! them in int16 where bfloat16 products are slow, 0.17–0.36 %, and int8 became the default on
//! Intel's without AMX too. Float checkpoints loaded under int8 take int16 (`load`). Models
//! whose labels were measured to stay within it with their layers in int8 too are marked so
//! (`int8_layers`: the stance and toxicity models, 0.19–0.36 %) and run here.
//!
//! `vpdpbusd` multiplies unsigned by signed bytes: the activation codes and the weight codes as
//! they are. Three code paths compute the sums: AVX-512 VNNI, AVX2 (bytes widened to 16 bits
//! for `vpmaddwd`) and portable scalar code. The sums are exact and the f32 operations are the
//! same IEEE operations in the same order on every path, so all give the same bits; the tests
//! check that against a naive reference. The path is chosen at run time from the CPU's
//! features.

use super::gguf_blocks::{for_each_block, BLOCK};
use super::kernels::{int_forward, rows_per_task, Epilogue, IntGemm, IntKernel, RowGemm};
use candle_core::quantized::QTensor;
use std::mem::MaybeUninit;

/// Output channels per packed panel (one 512-bit register of i32 lanes).
const PANEL: usize = 16;
/// Inputs per group: the four bytes `vpdpbusd` sums into one lane.
const GROUP: usize = 4;
/// Panels a micro-kernel covers at once (48 output channels; e5's 384 and 1,536 are multiples).
const PANELS_PER_TILE: usize = 3;
/// Output channels a micro-kernel covers at once.
const TILE_COLS: usize = PANEL * PANELS_PER_TILE;
/// Rows a micro-kernel covers at once: 4 × 3 i32 and 4 × 3 f32 accumulators, 3 weight registers
/// and a broadcast take 28 of the 32 registers; each group of four inputs loads 7 registers for
/// 12 `vpdpbusd`.
const TILE_ROWS: usize = 4;
/// Inputs per block of the reduction: 48 channels × 384 inputs = 18 KiB of weights, which stay
/// in L1 while a task's row tiles go by (e5's 384 inputs in one pass). A multiple of `BLOCK`.
const K_BLOCK: usize = 384;
/// Most rows one parallel task quantizes and multiplies (their codes stay in L2).
const MAX_TASK_ROWS: usize = 64;
/// Largest code of a quantized float weight.
const CODE_MAX: f32 = 127.0;
/// Largest activation code (unsigned).
const ACT_CODE_MAX: f32 = 255.0;

/// A linear layer's weights as block-scaled bytes, packed for the kernels, with its f32 bias.
#[derive(Clone)]
pub struct Int8Linear {
    out_dim: usize,
    in_dim: usize,
    /// `in_dim` rounded up to a multiple of `BLOCK` (code 0 in the padding).
    k32: usize,
    /// `[out_dim.div_ceil(16)][k32 / 4][16][4]` codes; padding channels are zero.
    packed: Vec<i8>,
    /// `[out_dim.div_ceil(16)][k32 / 32][16]` block scales; padding channels are zero.
    scales: Vec<f32>,
    /// The same layout: each block's scale times the sum of its codes (`d·Σc`), which the
    /// activations' block minimum multiplies.
    code_sums: Vec<f32>,
    bias: Option<Vec<f32>>,
}

impl Int8Linear {
    /// Quantizes float weights (`[out_dim, in_dim]`, row-major) per block of 32 inputs to int8
    /// codes and packs them.
    pub fn new(weight: &[f32], out_dim: usize, in_dim: usize, bias: Option<Vec<f32>>) -> Self {
        assert_eq!(weight.len(), out_dim * in_dim, "weight shape");
        let mut layer = Self::empty(out_dim, in_dim, bias);
        let mut codes = [0i8; BLOCK];
        for (n, row) in weight.chunks_exact(in_dim.max(1)).enumerate().take(out_dim) {
            for (b, block) in row.chunks(BLOCK).enumerate() {
                let scale = quantize_block(block, &mut codes[..block.len()]);
                layer.set_block(n, b, scale, &codes[..block.len()]);
            }
        }
        layer
    }

    /// The layer from GGUF blocks as stored: Q4_0 and Q8_0 exactly (their codes and f16
    /// scales); `None` for other block types, which the caller expands to floats.
    pub fn from_blocks(weight: &QTensor, bias: Option<Vec<f32>>) -> candle_core::Result<Option<Self>> {
        let (out_dim, in_dim) = weight.shape().dims2()?;
        let mut layer = Self::empty(out_dim, in_dim, bias);
        let taken = for_each_block(weight, |n, b, scale, codes| layer.set_block(n, b, scale, codes))?;
        Ok(taken.then_some(layer))
    }

    fn empty(out_dim: usize, in_dim: usize, bias: Option<Vec<f32>>) -> Self {
        if let Some(b) = &bias {
            assert_eq!(b.len(), out_dim, "bias shape");
        }
        let k32 = in_dim.div_ceil(BLOCK) * BLOCK;
        let panels = out_dim.div_ceil(PANEL);
        Self {
            out_dim,
            in_dim,
            k32,
            packed: vec![0; panels * k32 * PANEL],
            scales: vec![0.0; panels * (k32 / BLOCK) * PANEL],
            code_sums: vec![0.0; panels * (k32 / BLOCK) * PANEL],
            bias,
        }
    }

    /// Stores block `b` of output channel `n`: its scale and codes (fewer than 32 in a last,
    /// partial block; the rest stay 0).
    fn set_block(&mut self, n: usize, b: usize, scale: f32, codes: &[i8]) {
        let at = block_index(n, b, self.k32);
        self.scales[at] = scale;
        self.code_sums[at] = scale * codes.iter().map(|&c| i32::from(c)).sum::<i32>() as f32;
        for (j, &c) in codes.iter().enumerate() {
            self.packed[pack_index(n, b * BLOCK + j, self.k32)] = c;
        }
    }

    pub fn in_dim(&self) -> usize {
        self.in_dim
    }

    pub fn out_dim(&self) -> usize {
        self.out_dim
    }

    /// Weight code `(n, k)`.
    fn code(&self, n: usize, k: usize) -> i32 {
        i32::from(self.packed[pack_index(n, k, self.k32)])
    }

    /// Block scale of output channel `n` for block `b`.
    fn scale(&self, n: usize, b: usize) -> f32 {
        self.scales[block_index(n, b, self.k32)]
    }

    /// `d·Σc` of output channel `n`'s block `b`.
    #[cfg(test)]
    fn code_sum(&self, n: usize, b: usize) -> f32 {
        self.code_sums[block_index(n, b, self.k32)]
    }

    /// The weights as the kernel sees them (code × block scale), `[out_dim, in_dim]`.
    pub fn dequantized(&self) -> Vec<f32> {
        let mut w = Vec::with_capacity(self.out_dim * self.in_dim);
        for n in 0..self.out_dim {
            for k in 0..self.in_dim {
                w.push(self.code(n, k) as f32 * self.scale(n, k / BLOCK));
            }
        }
        w
    }

    /// `x` is `[rows, in_dim]` row-major; returns `[rows, out_dim]`, on the fastest path.
    pub fn forward(&self, x: &[f32]) -> Vec<f32> {
        self.forward_with(x, IntKernel::detect(), Epilogue::None)
    }

    /// [`Self::forward`] on a chosen path, then `epilogue`; panics if the CPU cannot run it.
    pub fn forward_with(&self, x: &[f32], kernel: IntKernel, epilogue: Epilogue) -> Vec<f32> {
        let k = self.in_dim;
        assert!(k > 0 && x.len() % k == 0, "input width must be {k}");
        let rows = x.len() / k;
        let n = self.out_dim;
        if rows == 0 || n == 0 {
            return vec![0f32; rows * n];
        }
        let task_rows = rows_per_task(rows, TILE_ROWS, MAX_TASK_ROWS);
        int_forward(self, x, (k, n), task_rows, kernel, epilogue)
    }
}

impl IntGemm for Int8Linear {
    /// One task: quantize its rows, then multiply them tile by tile: for each group of 48
    /// output channels, over blocks of `K_BLOCK` inputs (so that the group's weights stay in
    /// L1 while every row tile of the task goes by).
    #[inline(always)]
    fn task(&self, x: &[f32], out: &mut [MaybeUninit<f32>], kernel: IntKernel) {
        let (k, k32) = (self.in_dim, self.k32);
        let rows = x.len() / k;
        let blocks = k32 / BLOCK;
        let mut acts = QuantizedRows {
            codes: vec![0u8; rows * k32],
            scales: vec![0f32; rows * blocks],
            mins: vec![0f32; rows * blocks],
        };
        for r in 0..rows {
            let x = &x[r * k..(r + 1) * k];
            let codes = &mut acts.codes[r * k32..r * k32 + k];
            let scales = &mut acts.scales[r * blocks..(r + 1) * blocks];
            let mins = &mut acts.mins[r * blocks..(r + 1) * blocks];
            match kernel {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: `int_forward` checked the CPU features.
                IntKernel::Vnni => unsafe { x86::quantize_row_avx512(x, codes, scales, mins) },
                _ => quantize_row(x, codes, scales, mins),
            }
        }
        let panels = self.out_dim.div_ceil(PANEL);
        let mut acc = vec![0f32; rows * TILE_COLS];
        let mut p0 = 0;
        while p0 < panels {
            let np = (panels - p0).min(PANELS_PER_TILE);
            let mut b0 = 0;
            while b0 < blocks {
                let b1 = (b0 + K_BLOCK / BLOCK).min(blocks);
                let mut r0 = 0;
                while r0 < rows {
                    let nr = (rows - r0).min(TILE_ROWS);
                    let tile = Tile {
                        codes: &acts.codes[r0 * k32..(r0 + nr) * k32],
                        act_scales: &acts.scales[r0 * blocks..(r0 + nr) * blocks],
                        act_mins: &acts.mins[r0 * blocks..(r0 + nr) * blocks],
                        rows: nr,
                        weights: &self.packed[p0 * k32 * PANEL..(p0 + np) * k32 * PANEL],
                        scales: &self.scales[p0 * blocks * PANEL..(p0 + np) * blocks * PANEL],
                        code_sums: &self.code_sums[p0 * blocks * PANEL..(p0 + np) * blocks * PANEL],
                        panels: np,
                        k32,
                        blocks: b0..b1,
                    };
                    tile.run(kernel, &mut acc[r0 * TILE_COLS..(r0 + nr) * TILE_COLS]);
                    r0 += nr;
                }
                b0 = b1;
            }
            // The epilogue, shared by every path: the bias, one store per output.
            let c0 = p0 * PANEL;
            let c1 = ((p0 + np) * PANEL).min(self.out_dim);
            for m in 0..rows {
                let out_row = &mut out[m * self.out_dim + c0..m * self.out_dim + c1];
                let sums = &acc[m * TILE_COLS..];
                match &self.bias {
                    Some(b) => {
                        for ((y, &a), &b) in out_row.iter_mut().zip(sums).zip(&b[c0..c1]) {
                            y.write(a + b);
                        }
                    }
                    None => {
                        for (y, &a) in out_row.iter_mut().zip(sums) {
                            y.write(a);
                        }
                    }
                }
            }
            p0 += np;
        }
    }
}

/// A task's activation rows as codes: `[rows][k32]` codes, and per row and block of 32 inputs
/// the scale and the minimum.
struct QuantizedRows {
    codes: Vec<u8>,
    scales: Vec<f32>,
    mins: Vec<f32>,
}

/// One micro-kernel call: `rows` (≤ 4) rows of codes × `panels` (≤ 3) panels of weights, over
/// the weight blocks in `blocks`, added to `acc` (`rows × 48` f32, row-major, channel
/// `p * 16 + j` of the tile at `p * 16 + j`); from block 0, `acc` is overwritten instead, so
/// it is never zeroed.
struct Tile<'a> {
    /// `rows` rows of `k32` codes.
    codes: &'a [u8],
    /// `rows` rows of `k32 / 32` activation scales and minima.
    act_scales: &'a [f32],
    act_mins: &'a [f32],
    rows: usize,
    /// `panels` panels of `k32 * 16` weight codes.
    weights: &'a [i8],
    /// `panels` panels of `k32 / 32 * 16` weight block scales, and as many `d·Σc`.
    scales: &'a [f32],
    code_sums: &'a [f32],
    panels: usize,
    k32: usize,
    blocks: std::ops::Range<usize>,
}

impl Tile<'_> {
    fn run(&self, kernel: IntKernel, acc: &mut [f32]) {
        // The unsafe kernels rely on these bounds.
        let blocks = self.k32 / BLOCK;
        assert!(self.rows >= 1 && self.rows <= TILE_ROWS && self.panels >= 1 && self.panels <= PANELS_PER_TILE);
        assert!(self.codes.len() >= self.rows * self.k32);
        assert!(self.act_scales.len() >= self.rows * blocks && self.act_mins.len() >= self.rows * blocks);
        assert!(self.weights.len() >= self.panels * self.k32 * PANEL);
        assert!(self.scales.len() >= self.panels * blocks * PANEL);
        assert!(self.code_sums.len() >= self.panels * blocks * PANEL);
        assert!(self.blocks.start <= self.blocks.end && self.blocks.end <= blocks);
        assert!(acc.len() >= self.rows * TILE_COLS);
        match kernel {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `int_forward` checked the CPU features; the bounds are asserted above.
            IntKernel::Vnni => unsafe { x86::tile_vnni(self, acc) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above.
            IntKernel::Avx2 => unsafe { x86::tile_avx2(self, acc) },
            _ => self.scalar(acc),
        }
    }

    fn scalar(&self, acc: &mut [f32]) {
        let blocks = self.k32 / BLOCK;
        for r in 0..self.rows {
            let row = &self.codes[r * self.k32..(r + 1) * self.k32];
            for p in 0..self.panels {
                let panel = &self.weights[p * self.k32 * PANEL..(p + 1) * self.k32 * PANEL];
                let scales = &self.scales[p * blocks * PANEL..(p + 1) * blocks * PANEL];
                let code_sums = &self.code_sums[p * blocks * PANEL..(p + 1) * blocks * PANEL];
                for (j, y) in acc[r * TILE_COLS + p * PANEL..][..PANEL].iter_mut().enumerate() {
                    if self.blocks.start == 0 {
                        *y = 0.0;
                    }
                    for b in self.blocks.clone() {
                        let mut sum = 0i32;
                        for k in b * BLOCK..(b + 1) * BLOCK {
                            let w = panel[(k / GROUP) * PANEL * GROUP + j * GROUP + k % GROUP];
                            sum += i32::from(row[k]) * i32::from(w);
                        }
                        let scale = self.act_scales[r * blocks + b] * scales[b * PANEL + j];
                        *y = (sum as f32).mul_add(scale, *y);
                        *y = self.act_mins[r * blocks + b].mul_add(code_sums[b * PANEL + j], *y);
                    }
                }
            }
        }
    }
}

impl std::fmt::Debug for Int8Linear {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Int8Linear({} -> {}, bias: {})", self.in_dim, self.out_dim, self.bias.is_some())
    }
}

impl RowGemm for Int8Linear {
    const KIND: &'static str = "int8";

    fn dims(&self) -> (usize, usize) {
        (self.in_dim, self.out_dim)
    }

    fn forward_then(&self, x: &[f32], epilogue: Epilogue) -> Vec<f32> {
        self.forward_with(x, IntKernel::detect(), epilogue)
    }
}

/// Index of weight `(n, k)` in the packed layout.
fn pack_index(n: usize, k: usize, k32: usize) -> usize {
    (n / PANEL) * k32 * PANEL + (k / GROUP) * PANEL * GROUP + (n % PANEL) * GROUP + k % GROUP
}

/// Index of output channel `n`'s block `b` in the per-block layouts (`scales`, `code_sums`).
fn block_index(n: usize, b: usize, k32: usize) -> usize {
    (n / PANEL) * (k32 / BLOCK) * PANEL + b * PANEL + n % PANEL
}

/// Quantizes up to 32 weights to int8 codes with one symmetric scale; returns the scale (1 for
/// a zero or non-finite block).
fn quantize_block(x: &[f32], codes: &mut [i8]) -> f32 {
    let amax = x.iter().fold(0f32, |m, &v| if v.abs() > m { v.abs() } else { m });
    let scale = if amax > 0.0 && amax.is_finite() { amax / CODE_MAX } else { 1.0 };
    let inv = 1.0 / scale;
    for (c, &v) in codes.iter_mut().zip(x) {
        *c = round_even(v * inv).clamp(-CODE_MAX, CODE_MAX) as i8;
    }
    scale
}

/// Quantizes one activation row block by block: `codes` as long as `x`, one scale and one
/// minimum per block. `x86::quantize_row_avx512` gives the same for finite inputs (the tests
/// compare the paths bit for bit).
pub fn quantize_row(x: &[f32], codes: &mut [u8], scales: &mut [f32], mins: &mut [f32]) {
    for (((x, codes), s), m) in x.chunks(BLOCK).zip(codes.chunks_mut(BLOCK)).zip(scales).zip(mins) {
        let lo = x.iter().fold(f32::INFINITY, |m, &v| if v < m { v } else { m });
        let hi = x.iter().fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m });
        let (scale, min) = block_range(lo, hi);
        let inv = 1.0 / scale;
        for (c, &v) in codes.iter_mut().zip(x) {
            *c = round_even((v - min) * inv).clamp(0.0, ACT_CODE_MAX) as u8;
        }
        (*s, *m) = (scale, min);
    }
}

/// A block's scale and minimum from its extremes: one step per 255th of the range; a constant
/// block gets scale 1 (its codes are all 0), a non-finite one scale 1 and minimum 0.
fn block_range(lo: f32, hi: f32) -> (f32, f32) {
    let range = hi - lo;
    if !range.is_finite() {
        (1.0, 0.0)
    } else if range > 0.0 {
        (range / ACT_CODE_MAX, lo)
    } else {
        (1.0, lo)
    }
}

/// `v` rounded to the nearest integer, ties to even (as `vcvtps2dq`), for `|v| < 2²²`: adding
/// and taking back 1.5 · 2²³ leaves no fraction bits, and f32 addition rounds to even.
#[inline(always)]
pub(crate) fn round_even(v: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0;
    (v + MAGIC) - MAGIC
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{block_range, Tile, ACT_CODE_MAX, BLOCK, GROUP, PANEL, TILE_COLS};
    use std::arch::x86_64::*;

    /// [`super::quantize_row`] on 16 lanes: the same extremes per block (NaN lanes skipped
    /// alike), the same scales, and `vcvtps2dq`'s rounding (to nearest, ties to even) of the
    /// same products.
    ///
    /// # Safety
    /// The CPU must support AVX-512F, BW and VL; `codes` is as long as `x`, `scales` and `mins`
    /// hold one slot per block of 32.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    pub unsafe fn quantize_row_avx512(x: &[f32], codes: &mut [u8], scales: &mut [f32], mins: &mut [f32]) {
        assert_eq!(x.len(), codes.len());
        let n = x.len();
        assert!(scales.len() >= n.div_ceil(BLOCK) && mins.len() >= n.div_ceil(BLOCK));
        let (zero, top) = (_mm512_setzero_si512(), _mm512_set1_epi32(ACT_CODE_MAX as i32));
        let (inf, neg_inf) = (_mm512_set1_ps(f32::INFINITY), _mm512_set1_ps(f32::NEG_INFINITY));
        for (b, start) in (0..n).step_by(BLOCK).enumerate() {
            let mask = |i: usize| -> u16 {
                let left = n.saturating_sub(start + i);
                if left >= 16 {
                    u16::MAX
                } else {
                    (1u16 << left) - 1
                }
            };
            let (m0, m1) = (mask(0), mask(16));
            let (p0, p1) = (x.as_ptr().add(start), x.as_ptr().add(start + 16));
            // SAFETY: the masks keep the loads inside `x`; lanes past it read as ±∞, which
            // neither extreme takes. `min(v, m)` and `max(v, m)` return `m` where `v` is NaN,
            // as the scalar comparisons skip it.
            let lo = _mm512_min_ps(_mm512_mask_loadu_ps(inf, m0, p0), inf);
            let lo = _mm512_min_ps(_mm512_mask_loadu_ps(inf, m1, p1), lo);
            let hi = _mm512_max_ps(_mm512_mask_loadu_ps(neg_inf, m0, p0), neg_inf);
            let hi = _mm512_max_ps(_mm512_mask_loadu_ps(neg_inf, m1, p1), hi);
            let (scale, min) = block_range(_mm512_reduce_min_ps(lo), _mm512_reduce_max_ps(hi));
            let (inv, minv) = (_mm512_set1_ps(1.0 / scale), _mm512_set1_ps(min));
            let code = |p: *const f32, m: u16| {
                let v = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, p), minv), inv);
                _mm512_cvtepi32_epi8(_mm512_min_epi32(_mm512_max_epi32(_mm512_cvtps_epi32(v), zero), top))
            };
            // SAFETY: as above, for `codes`.
            _mm_mask_storeu_epi8(codes.as_mut_ptr().add(start) as *mut i8, m0, code(p0, m0));
            _mm_mask_storeu_epi8(codes.as_mut_ptr().add(start + 16) as *mut i8, m1, code(p1, m1));
            scales[b] = scale;
            mins[b] = min;
        }
    }

    /// Dispatches to the micro-kernel for the tile's rows × panels.
    ///
    /// # Safety
    /// The CPU must support AVX-512F and AVX-512 VNNI, and the tile's bounds must hold as
    /// `Tile::run` asserts them.
    pub unsafe fn tile_vnni(t: &Tile, acc: &mut [f32]) {
        dispatch_tile!(vnni, t, acc, full = 3, rows = [4, 3, 2, 1])
    }

    /// `R` rows × `P` panels from panel `first`. Per weight block: the i32 sums start at zero,
    /// and per group of four inputs take `P` weight loads, `R` broadcasts and `R·P`
    /// `vpdpbusd`; then each is converted and added to its f32 accumulator times the product of
    /// the row's and the channels' block scales, and the row's block minimum times `d·Σc`.
    #[target_feature(enable = "avx512f,avx512vnni")]
    unsafe fn vnni<const R: usize, const P: usize>(t: &Tile, first: usize, acc: &mut [f32]) {
        let blocks = t.k32 / BLOCK;
        let a_ptr = t.codes.as_ptr();
        let w_ptr = t.weights.as_ptr().add(first * t.k32 * PANEL);
        let s_ptr = t.scales.as_ptr().add(first * blocks * PANEL);
        let cs_ptr = t.code_sums.as_ptr().add(first * blocks * PANEL);
        let acc_ptr = acc.as_mut_ptr().add(first * PANEL);
        let mut sums = [[_mm512_setzero_ps(); P]; R];
        for (r, row) in sums.iter_mut().enumerate() {
            for (p, s) in row.iter_mut().enumerate() {
                // SAFETY: row r < rows, channel block first + p < panels: inside `acc`.
                if t.blocks.start > 0 {
                    *s = _mm512_loadu_ps(acc_ptr.add(r * TILE_COLS + p * PANEL));
                }
            }
        }
        let panel_len = t.k32 * PANEL;
        for b in t.blocks.clone() {
            let mut ints = [[_mm512_setzero_si512(); P]; R];
            for g in b * BLOCK / GROUP..(b + 1) * BLOCK / GROUP {
                let mut wv = [_mm512_setzero_si512(); P];
                for (p, v) in wv.iter_mut().enumerate() {
                    // SAFETY: panel first + p, group g < k32 / 4: inside `weights`.
                    *v = _mm512_loadu_si512(w_ptr.add(p * panel_len + g * PANEL * GROUP) as *const _);
                }
                for (r, row) in ints.iter_mut().enumerate() {
                    // SAFETY: row r, codes 4·g … 4·g + 3 < k32: inside `codes`.
                    let quad = (a_ptr.add(r * t.k32 + g * GROUP) as *const i32).read_unaligned();
                    let av = _mm512_set1_epi32(quad);
                    for p in 0..P {
                        row[p] = _mm512_dpbusd_epi32(row[p], av, wv[p]);
                    }
                }
            }
            for p in 0..P {
                // SAFETY: panel first + p, block b < blocks: inside `scales`.
                let dv = _mm512_loadu_ps(s_ptr.add(p * blocks * PANEL + b * PANEL));
                let cv = _mm512_loadu_ps(cs_ptr.add(p * blocks * PANEL + b * PANEL));
                for r in 0..R {
                    // SAFETY: row r, block b < blocks: inside the activations' scales and minima.
                    let scale = _mm512_mul_ps(_mm512_set1_ps(*t.act_scales.get_unchecked(r * blocks + b)), dv);
                    let sum = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ints[r][p]), scale, sums[r][p]);
                    sums[r][p] = _mm512_fmadd_ps(_mm512_set1_ps(*t.act_mins.get_unchecked(r * blocks + b)), cv, sum);
                }
            }
        }
        for (r, row) in sums.iter().enumerate() {
            for (p, s) in row.iter().enumerate() {
                _mm512_storeu_ps(acc_ptr.add(r * TILE_COLS + p * PANEL), *s);
            }
        }
    }

    /// One row and one panel at a time. A group's 64 weight codes are widened 16 at a time
    /// (4 channels × 4 inputs) to i16 and multiplied with the row's 4 codes by `vpmaddwd`,
    /// which leaves two partial sums per channel in neighbouring lanes (exact: at most
    /// 2 · 255 · 128); per block, `vphaddd` and a permutation put the 16 channels' sums in order.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA; bounds as for [`tile_vnni`].
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn tile_avx2(t: &Tile, acc: &mut [f32]) {
        let blocks = t.k32 / BLOCK;
        for r in 0..t.rows {
            let a_ptr = t.codes.as_ptr().add(r * t.k32);
            for p in 0..t.panels {
                let w_ptr = t.weights.as_ptr().add(p * t.k32 * PANEL);
                let s_ptr = t.scales.as_ptr().add(p * blocks * PANEL);
                let cs_ptr = t.code_sums.as_ptr().add(p * blocks * PANEL);
                let dst = acc.as_mut_ptr().add(r * TILE_COLS + p * PANEL);
                let mut sums = match t.blocks.start {
                    0 => [_mm256_setzero_ps(); 2],
                    _ => [_mm256_loadu_ps(dst), _mm256_loadu_ps(dst.add(8))],
                };
                for b in t.blocks.clone() {
                    let mut parts = [_mm256_setzero_si256(); 4];
                    for g in b * BLOCK / GROUP..(b + 1) * BLOCK / GROUP {
                        let quad = (a_ptr.add(g * GROUP) as *const i32).read_unaligned();
                        let a16 = _mm256_cvtepu8_epi16(_mm_set1_epi32(quad));
                        let group = w_ptr.add(g * PANEL * GROUP);
                        for (h, part) in parts.iter_mut().enumerate() {
                            let w16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(group.add(h * 16) as *const _));
                            *part = _mm256_add_epi32(*part, _mm256_madd_epi16(a16, w16));
                        }
                    }
                    let act_scale = _mm256_set1_ps(*t.act_scales.get_unchecked(r * blocks + b));
                    let act_min = _mm256_set1_ps(*t.act_mins.get_unchecked(r * blocks + b));
                    for (h, s) in sums.iter_mut().enumerate() {
                        // Channels 8h … 8h + 7 in order.
                        let pairs = _mm256_hadd_epi32(parts[2 * h], parts[2 * h + 1]);
                        let ints = _mm256_permute4x64_epi64(pairs, 0b11_01_10_00);
                        let scale = _mm256_mul_ps(act_scale, _mm256_loadu_ps(s_ptr.add(b * PANEL + h * 8)));
                        let sum = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ints), scale, *s);
                        *s = _mm256_fmadd_ps(act_min, _mm256_loadu_ps(cs_ptr.add(b * PANEL + h * 8)), sum);
                    }
                }
                _mm256_storeu_ps(dst, sums[0]);
                _mm256_storeu_ps(dst.add(8), sums[1]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::arch::test_values as values;

    /// The recipe written out naively from the unpacked weights: quantize the row per block,
    /// exact integer sums per block, two fused multiply-adds per block in order, bias.
    fn naive(layer: &Int8Linear, x: &[f32]) -> Vec<f32> {
        let (k, n) = (layer.in_dim, layer.out_dim);
        let blocks = k.div_ceil(BLOCK);
        let mut out = Vec::new();
        for row in x.chunks(k) {
            let (mut codes, mut scales, mut mins) = (vec![0u8; k], vec![0f32; blocks], vec![0f32; blocks]);
            quantize_row(row, &mut codes, &mut scales, &mut mins);
            for c in 0..n {
                let mut acc = 0f32;
                for b in 0..blocks {
                    let code = |j: usize| i64::from(layer.code(c, j));
                    let sum: i64 = (b * BLOCK..((b + 1) * BLOCK).min(k)).map(|j| i64::from(codes[j]) * code(j)).sum();
                    acc = (sum as i32 as f32).mul_add(scales[b] * layer.scale(c, b), acc);
                    acc = mins[b].mul_add(layer.code_sum(c, b), acc);
                }
                out.push(match &layer.bias {
                    Some(b) => acc + b[c],
                    None => acc,
                });
            }
        }
        out
    }

    fn kernels() -> Vec<IntKernel> {
        [IntKernel::Scalar, IntKernel::Avx2, IntKernel::Vnni].into_iter().filter(|k| k.supported()).collect()
    }

    #[test]
    fn every_path_matches_the_naive_reference_bit_for_bit() {
        eprintln!("int8 paths on this CPU: {:?}", kernels());
        // Odd sizes: inputs not a multiple of 32, channels not a multiple of 16 or 48, row
        // counts around the 4-row tile and the task split, reductions over several K blocks.
        let shapes = [(1, 1, 1), (3, 5, 17), (5, 33, 33), (9, 384, 70), (13, 130, 48), (130, 67, 129), (4, 1536, 384)];
        for (rows, k, n) in shapes {
            // Wide activations with a few large channels, as e5's.
            let mut x = values(rows * k, (rows * 31 + k) as u64);
            for v in x.iter_mut().step_by(37) {
                *v *= 40.0;
            }
            let w = values(n * k, (n * 17 + k) as u64);
            let layer = Int8Linear::new(&w, n, k, Some(values(n, n as u64)));
            let expected = naive(&layer, &x);
            for kernel in kernels() {
                let got = layer.forward_with(&x, kernel, Epilogue::None);
                assert_eq!(got.len(), rows * n);
                let same = got.iter().zip(&expected).all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "{} at {rows}×{k}×{n}", kernel.name());
            }
        }
    }

    #[test]
    fn the_avx512_quantizer_matches_the_scalar_one() {
        if !IntKernel::Vnni.supported() {
            return;
        }
        for n in [1, 16, 31, 32, 33, 100, 384] {
            let mut x = values(n, n as u64);
            x[n / 2] *= 50.0;
            let blocks = n.div_ceil(BLOCK);
            let mut expected = (vec![0u8; n], vec![0f32; blocks], vec![0f32; blocks]);
            quantize_row(&x, &mut expected.0, &mut expected.1, &mut expected.2);
            let mut got = (vec![0u8; n], vec![0f32; blocks], vec![0f32; blocks]);
            // SAFETY: the CPU supports AVX-512 (checked above); the slices have the sizes asked.
            unsafe { x86::quantize_row_avx512(&x, &mut got.0, &mut got.1, &mut got.2) };
            assert_eq!(got, expected, "{n} inputs");
        }
    }

    #[test]
    fn q4_0_and_q8_0_weights_are_taken_exactly_as_candle_dequantizes_them() {
        crate::arch::gguf_blocks::tests::check_exact_weights(|q| {
            Int8Linear::from_blocks(q, None).unwrap().expect("a block type it takes").dequantized()
        });
    }

    impl crate::arch::linear_checks::QuantizedLinear for Int8Linear {
        fn build(weight: &[f32], out_dim: usize, in_dim: usize, bias: Option<Vec<f32>>) -> Self {
            Self::new(weight, out_dim, in_dim, bias)
        }
        fn run(&self, x: &[f32]) -> Vec<f32> {
            self.forward(x)
        }
    }

    #[test]
    fn close_to_the_f32_product() {
        // Two 8-bit roundings per product, steps of 1/254 of the weight block's largest value
        // and 1/255 of the activation block's range: on these evenly spread values, as coarse
        // as one scale per row and channel; blocks gain where a few channels are far larger
        // than the rest, as e5's.
        crate::arch::linear_checks::close_to_the_f32_product::<Int8Linear>(0.15);
    }

    #[test]
    fn rows_do_not_depend_on_their_batch() {
        crate::arch::linear_checks::rows_do_not_depend_on_their_batch::<Int8Linear>();
    }

    #[test]
    fn zero_rows_and_constant_rows() {
        crate::arch::linear_checks::zero_rows_and_constant_rows::<Int8Linear>(0.07);
    }

    #[test]
    fn the_largest_codes_do_not_overflow_a_block_sum() {
        // Codes 255 on the activations' side and ±127 on the weights', 32 products per block:
        // activations alternating -127 and 127 (minimum -127, scale 254/255), weights all 127.
        let k = 64;
        let layer = Int8Linear::new(&vec![127.0; k], 1, k, None);
        let x: Vec<f32> = (0..k).map(|i| if i % 2 == 0 { -127.0 } else { 127.0 }).collect();
        let y = layer.forward(&x)[0];
        assert!(y.abs() < 1.0, "{y}");
        let x = vec![127.0f32; k];
        assert_eq!(layer.forward(&x), vec![64.0 * 16_129.0]);
    }
}
