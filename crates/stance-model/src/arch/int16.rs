//! A GEMM for linear layers with int16 activations and small integer weight codes in blocks of
//! 32 inputs: `y = x Wᵀ + b` where
//!
//! - **Weights** are `W[n, k] = d[n, k / 32] · c[n, k]`, codes `|c| ≤ 2047`. GGUF Q4_0 and Q8_0
//!   blocks are taken as stored (`c` their 4- or 8-bit values, `d` their f16 scale), so the
//!   4-bit default encoder's weights are exact (as in `super::int8`). Float weights are
//!   quantized per block of 32 inputs to 12-bit codes (`d = max|w| / 2047`): a step of 1/4,094
//!   of the block's largest weight.
//! - **Activations** are quantized per row (token), symmetric: `s = max|x| / 32767`,
//!   `a = round(x / s)` (ties to even). A step of 1/65,534 of the row's range, where int8's is
//!   1/254 of its block of 32 inputs. A row's codes depend on that row alone, so results do not
//!   depend on the batch.
//! - **Products**: per block, `Σ a·c` in exact i32 arithmetic (at most 32 · 32767 · 2047 <
//!   2³¹), converted to f32 and accumulated as `acc = fma(sum, d, acc)`, blocks in order; then
//!   `y = s · acc + b`.
//!
//! Why: int8's error sits at the edge of the 0.5 % bound on labels, even with scales per block
//! of 32 inputs (BENCH.md). `vpdpwssd` (AVX-512 VNNI) sums two i16 products per 32-bit lane,
//! twice an f32 FMA's multiply-adds per instruction, with errors a hundred times smaller than
//! int8's.
//!
//! Three code paths compute the integer sums: AVX-512 VNNI (`vpdpwssd`), AVX2 (`vpmaddwd`) and
//! portable scalar code. The sums are exact, the conversions and fused multiply-adds are
//! IEEE operations in the same order, and all paths quantize with the same code, so they give
//! the same bits; the tests check that against a naive reference. The path is chosen at run
//! time from the CPU's features.

use super::gguf_blocks::{for_each_block, BLOCK};
use super::int8::round_even;
use super::kernels::{int_forward, rows_per_task, Epilogue, IntGemm, IntKernel, RowGemm};
use candle_core::quantized::QTensor;
use std::mem::MaybeUninit;

/// Output channels per packed panel (one 512-bit register of i32 lanes).
const PANEL: usize = 16;
/// Panels a micro-kernel covers at once (48 output channels; e5's 384 and 1,536 are multiples).
const PANELS_PER_TILE: usize = 3;
/// Output channels a micro-kernel covers at once.
const TILE_COLS: usize = PANEL * PANELS_PER_TILE;
/// Rows a micro-kernel covers at once: 4 × 3 i32 and 4 × 3 f32 accumulators, 3 weight registers
/// and a broadcast take 28 of the 32 registers; each pair of inputs loads 7 registers for 12
/// `vpdpwssd`.
const TILE_ROWS: usize = 4;
/// Inputs per block of the reduction: 48 channels × 256 inputs × 2 bytes = 24 KiB of weights,
/// which stay in L1 while a task's row tiles go by. A multiple of `BLOCK`.
const K_BLOCK: usize = 256;
/// Most rows one parallel task quantizes and multiplies (their codes stay in L2).
const MAX_TASK_ROWS: usize = 64;
/// Largest weight code of quantized float weights (12 bits with the sign), chosen so that a
/// block's 32 products with 16-bit activations cannot overflow i32.
const FLOAT_CODE_MAX: f32 = 2047.0;
/// Largest activation code.
const ACT_CODE_MAX: f32 = 32767.0;

/// A linear layer's weights as block-scaled codes, packed for the kernels, with its f32 bias.
#[derive(Clone)]
pub struct Int16Linear {
    out_dim: usize,
    in_dim: usize,
    /// `in_dim` rounded up to a multiple of `BLOCK` (zero codes in the padding).
    k32: usize,
    /// `[out_dim.div_ceil(16)][k32 / 2][16][2]` codes; padding channels are zero.
    packed: Vec<i16>,
    /// `[out_dim.div_ceil(16)][k32 / 32][16]` block scales; padding channels are zero.
    scales: Vec<f32>,
    bias: Option<Vec<f32>>,
}

impl Int16Linear {
    /// Quantizes float weights (`[out_dim, in_dim]`, row-major) per block of 32 inputs to
    /// 12-bit codes and packs them.
    pub fn new(weight: &[f32], out_dim: usize, in_dim: usize, bias: Option<Vec<f32>>) -> Self {
        assert_eq!(weight.len(), out_dim * in_dim, "weight shape");
        let mut layer = Self::empty(out_dim, in_dim, bias);
        let mut codes = [0i16; BLOCK];
        for (n, row) in weight.chunks_exact(in_dim.max(1)).enumerate().take(out_dim) {
            for (b, block) in row.chunks(BLOCK).enumerate() {
                let amax = block.iter().fold(0f32, |m, &w| if w.abs() > m { w.abs() } else { m });
                let scale = if amax > 0.0 && amax.is_finite() { amax / FLOAT_CODE_MAX } else { 1.0 };
                let inv = 1.0 / scale;
                for (c, &w) in codes.iter_mut().zip(block) {
                    *c = round_even(w * inv).clamp(-FLOAT_CODE_MAX, FLOAT_CODE_MAX) as i16;
                }
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
        let taken = for_each_block(weight, |n, b, scale, codes| {
            layer.set_block(n, b, scale, &codes.map(i16::from));
        })?;
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
            bias,
        }
    }

    /// Stores block `b` of output channel `n`: its scale and codes (fewer than 32 in a last,
    /// partial block; the rest stay zero).
    fn set_block(&mut self, n: usize, b: usize, scale: f32, codes: &[i16]) {
        let blocks = self.k32 / BLOCK;
        self.scales[(n / PANEL) * blocks * PANEL + b * PANEL + n % PANEL] = scale;
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

    /// The weights as the kernel sees them (code × block scale), `[out_dim, in_dim]`.
    pub fn dequantized(&self) -> Vec<f32> {
        let blocks = self.k32 / BLOCK;
        let mut w = Vec::with_capacity(self.out_dim * self.in_dim);
        for n in 0..self.out_dim {
            for k in 0..self.in_dim {
                let scale = self.scales[(n / PANEL) * blocks * PANEL + (k / BLOCK) * PANEL + n % PANEL];
                w.push(f32::from(self.packed[pack_index(n, k, self.k32)]) * scale);
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

impl IntGemm for Int16Linear {
    /// One task: quantize its rows, then multiply them tile by tile: for each group of 48
    /// output channels, over blocks of `K_BLOCK` inputs (so that the group's weights stay in
    /// L1 while every row tile of the task goes by).
    #[inline(always)]
    fn task(&self, x: &[f32], out: &mut [MaybeUninit<f32>], kernel: IntKernel) {
        let (k, k32) = (self.in_dim, self.k32);
        let rows = x.len() / k;
        let mut codes = vec![0i16; rows * k32];
        let mut row_scale = vec![0f32; rows];
        for r in 0..rows {
            let (x, codes) = (&x[r * k..(r + 1) * k], &mut codes[r * k32..r * k32 + k]);
            row_scale[r] = match kernel {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: `int_forward` checked the CPU features.
                IntKernel::Vnni => unsafe { x86::quantize_row_avx512(x, codes) },
                _ => quantize_row(x, codes),
            };
        }
        let panels = self.out_dim.div_ceil(PANEL);
        let blocks = k32 / BLOCK;
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
                        codes: &codes[r0 * k32..(r0 + nr) * k32],
                        rows: nr,
                        weights: &self.packed[p0 * k32 * PANEL..(p0 + np) * k32 * PANEL],
                        scales: &self.scales[p0 * blocks * PANEL..(p0 + np) * blocks * PANEL],
                        panels: np,
                        k32,
                        blocks: b0..b1,
                    };
                    tile.run(kernel, &mut acc[r0 * TILE_COLS..(r0 + nr) * TILE_COLS]);
                    r0 += nr;
                }
                b0 = b1;
            }
            // The epilogue, shared by every path: the row's scale, then the bias (two roundings,
            // no fused multiply-add, as in the reference), one store per output.
            let c0 = p0 * PANEL;
            let c1 = ((p0 + np) * PANEL).min(self.out_dim);
            for (m, &sx) in row_scale.iter().enumerate() {
                let out_row = &mut out[m * self.out_dim + c0..m * self.out_dim + c1];
                let sums = &acc[m * TILE_COLS..];
                match &self.bias {
                    Some(b) => {
                        for ((y, &a), &b) in out_row.iter_mut().zip(sums).zip(&b[c0..c1]) {
                            y.write(a * sx + b);
                        }
                    }
                    None => {
                        for (y, &a) in out_row.iter_mut().zip(sums) {
                            y.write(a * sx);
                        }
                    }
                }
            }
            p0 += np;
        }
    }
}

/// One micro-kernel call: `rows` (≤ 4) rows of codes × `panels` (≤ 3) panels of weights, over
/// the weight blocks in `blocks`, added to `acc` (`rows × 48` f32, row-major, channel
/// `p * 16 + j` of the tile at `p * 16 + j`); from block 0, `acc` is overwritten instead, so
/// it is never zeroed.
struct Tile<'a> {
    /// `rows` rows of `k32` codes.
    codes: &'a [i16],
    rows: usize,
    /// `panels` panels of `k32 * 16` codes.
    weights: &'a [i16],
    /// `panels` panels of `k32 / 32 * 16` block scales.
    scales: &'a [f32],
    panels: usize,
    k32: usize,
    blocks: std::ops::Range<usize>,
}

impl Tile<'_> {
    fn run(&self, kernel: IntKernel, acc: &mut [f32]) {
        // The unsafe kernels rely on these bounds.
        assert!(self.rows >= 1 && self.rows <= TILE_ROWS && self.panels >= 1 && self.panels <= PANELS_PER_TILE);
        assert!(self.codes.len() >= self.rows * self.k32);
        assert!(self.weights.len() >= self.panels * self.k32 * PANEL);
        assert!(self.scales.len() >= self.panels * (self.k32 / BLOCK) * PANEL);
        assert!(self.blocks.start <= self.blocks.end && self.blocks.end * BLOCK <= self.k32);
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
                for (j, y) in acc[r * TILE_COLS + p * PANEL..][..PANEL].iter_mut().enumerate() {
                    if self.blocks.start == 0 {
                        *y = 0.0;
                    }
                    for b in self.blocks.clone() {
                        let mut sum = 0i32;
                        for k in b * BLOCK..(b + 1) * BLOCK {
                            let w = panel[(k / 2) * PANEL * 2 + j * 2 + k % 2];
                            sum += i32::from(row[k]) * i32::from(w);
                        }
                        *y = (sum as f32).mul_add(scales[b * PANEL + j], *y);
                    }
                }
            }
        }
    }
}

impl std::fmt::Debug for Int16Linear {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Int16Linear({} -> {}, bias: {})", self.in_dim, self.out_dim, self.bias.is_some())
    }
}

impl RowGemm for Int16Linear {
    const KIND: &'static str = "int16";

    fn dims(&self) -> (usize, usize) {
        (self.in_dim, self.out_dim)
    }

    fn forward_then(&self, x: &[f32], epilogue: Epilogue) -> Vec<f32> {
        self.forward_with(x, IntKernel::detect(), epilogue)
    }
}

/// Index of weight `(n, k)` in the packed layout.
fn pack_index(n: usize, k: usize, k32: usize) -> usize {
    (n / PANEL) * k32 * PANEL + (k / 2) * PANEL * 2 + (n % PANEL) * 2 + k % 2
}

/// Quantizes one activation row to int16 codes; returns its scale. `x86::quantize_row_avx512`
/// gives the same codes for finite inputs (the tests compare the paths bit for bit).
pub fn quantize_row(x: &[f32], codes: &mut [i16]) -> f32 {
    let amax = x.iter().fold(0f32, |m, &v| if v.abs() > m { v.abs() } else { m });
    let scale = row_scale(amax);
    let inv = 1.0 / scale;
    for (c, &v) in codes.iter_mut().zip(x) {
        *c = round_even(v * inv).clamp(-ACT_CODE_MAX, ACT_CODE_MAX) as i16;
    }
    scale
}

/// A row's scale from its largest magnitude (1 for a zero or non-finite row).
fn row_scale(amax: f32) -> f32 {
    if amax > 0.0 && amax.is_finite() {
        amax / ACT_CODE_MAX
    } else {
        1.0
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{row_scale, Tile, ACT_CODE_MAX, BLOCK, PANEL, TILE_COLS};
    use std::arch::x86_64::*;

    /// [`super::quantize_row`] on 16 lanes: the same maxima (NaN lanes skipped alike), the same
    /// scale, and `vcvtps2dq`'s rounding (to nearest, ties to even) of the same products.
    ///
    /// # Safety
    /// The CPU must support AVX-512F, BW and VL; `codes` is as long as `x`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    pub unsafe fn quantize_row_avx512(x: &[f32], codes: &mut [i16]) -> f32 {
        assert_eq!(x.len(), codes.len());
        let n = x.len();
        let tail = (1u16 << (n % 16)) - 1;
        let mut m = _mm512_setzero_ps();
        for i in (0..n).step_by(16) {
            let mask = if i + 16 <= n { u16::MAX } else { tail };
            // SAFETY: the mask keeps the load inside `x`.
            let v = _mm512_abs_ps(_mm512_maskz_loadu_ps(mask, x.as_ptr().add(i)));
            // `max(v, m)` returns `m` where `v` is NaN, as the scalar comparison skips it.
            m = _mm512_max_ps(v, m);
        }
        let scale = row_scale(_mm512_reduce_max_ps(m));
        let inv = _mm512_set1_ps(1.0 / scale);
        let (lo, hi) = (_mm512_set1_epi32(-(ACT_CODE_MAX as i32)), _mm512_set1_epi32(ACT_CODE_MAX as i32));
        for i in (0..n).step_by(16) {
            let mask = if i + 16 <= n { u16::MAX } else { tail };
            // SAFETY: as above, for `x` and `codes`.
            let v = _mm512_mul_ps(_mm512_maskz_loadu_ps(mask, x.as_ptr().add(i)), inv);
            let c = _mm512_min_epi32(_mm512_max_epi32(_mm512_cvtps_epi32(v), lo), hi);
            _mm256_mask_storeu_epi16(codes.as_mut_ptr().add(i), mask, _mm512_cvtepi32_epi16(c));
        }
        scale
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
    /// and per pair of inputs take `P` weight loads, `R` broadcasts and `R·P` `vpdpwssd`; then
    /// each is converted and added to its f32 accumulator times the block's scales.
    #[target_feature(enable = "avx512f,avx512vnni")]
    unsafe fn vnni<const R: usize, const P: usize>(t: &Tile, first: usize, acc: &mut [f32]) {
        let blocks = t.k32 / BLOCK;
        let a_ptr = t.codes.as_ptr();
        let w_ptr = t.weights.as_ptr().add(first * t.k32 * PANEL);
        let s_ptr = t.scales.as_ptr().add(first * blocks * PANEL);
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
            for pair in b * BLOCK / 2..(b + 1) * BLOCK / 2 {
                let mut wv = [_mm512_setzero_si512(); P];
                for (p, v) in wv.iter_mut().enumerate() {
                    // SAFETY: panel first + p, pair < k32 / 2: inside `weights`.
                    *v = _mm512_loadu_si512(w_ptr.add(p * panel_len + pair * PANEL * 2) as *const _);
                }
                for (r, row) in ints.iter_mut().enumerate() {
                    // SAFETY: row r, codes 2·pair and 2·pair + 1 < k32: inside `codes`.
                    let two = (a_ptr.add(r * t.k32 + pair * 2) as *const i32).read_unaligned();
                    let av = _mm512_set1_epi32(two);
                    for p in 0..P {
                        row[p] = _mm512_dpwssd_epi32(row[p], av, wv[p]);
                    }
                }
            }
            for p in 0..P {
                // SAFETY: panel first + p, block b < blocks: inside `scales`.
                let sv = _mm512_loadu_ps(s_ptr.add(p * blocks * PANEL + b * PANEL));
                for r in 0..R {
                    sums[r][p] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ints[r][p]), sv, sums[r][p]);
                }
            }
        }
        for (r, row) in sums.iter().enumerate() {
            for (p, s) in row.iter().enumerate() {
                _mm512_storeu_ps(acc_ptr.add(r * TILE_COLS + p * PANEL), *s);
            }
        }
    }

    /// One row and one panel at a time, 8 channels per 256-bit register: `vpmaddwd` sums each
    /// pair of i16 products into an i32 lane (exact: at most 2 · 32767 · 2047).
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
                let dst = acc.as_mut_ptr().add(r * TILE_COLS + p * PANEL);
                let mut sums = match t.blocks.start {
                    0 => [_mm256_setzero_ps(); 2],
                    _ => [_mm256_loadu_ps(dst), _mm256_loadu_ps(dst.add(8))],
                };
                for b in t.blocks.clone() {
                    let mut ints = [_mm256_setzero_si256(); 2];
                    for pair in b * BLOCK / 2..(b + 1) * BLOCK / 2 {
                        let av = _mm256_set1_epi32((a_ptr.add(pair * 2) as *const i32).read_unaligned());
                        for (h, i) in ints.iter_mut().enumerate() {
                            let wv = _mm256_loadu_si256(w_ptr.add(pair * PANEL * 2 + h * 16) as *const _);
                            *i = _mm256_add_epi32(*i, _mm256_madd_epi16(av, wv));
                        }
                    }
                    for (h, (s, i)) in sums.iter_mut().zip(ints).enumerate() {
                        let sv = _mm256_loadu_ps(s_ptr.add(b * PANEL + h * 8));
                        *s = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i), sv, *s);
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

    /// The recipe written out naively from the unpacked weights: quantize the row, exact
    /// integer sums per block, fused multiply-adds in block order, scale, bias.
    fn naive(layer: &Int16Linear, x: &[f32]) -> Vec<f32> {
        let (k, n) = (layer.in_dim, layer.out_dim);
        let blocks = layer.k32 / BLOCK;
        let mut out = Vec::new();
        for row in x.chunks(k) {
            let mut codes = vec![0i16; k];
            let sx = quantize_row(row, &mut codes);
            for c in 0..n {
                let mut acc = 0f32;
                for b in 0..blocks {
                    let sum: i64 = (b * BLOCK..((b + 1) * BLOCK).min(k))
                        .map(|j| i64::from(codes[j]) * i64::from(layer.packed[pack_index(c, j, layer.k32)]))
                        .sum();
                    let scale = layer.scales[(c / PANEL) * blocks * PANEL + b * PANEL + c % PANEL];
                    acc = (sum as i32 as f32).mul_add(scale, acc);
                }
                let mut y = acc * sx;
                if let Some(b) = &layer.bias {
                    y += b[c];
                }
                out.push(y);
            }
        }
        out
    }

    fn kernels() -> Vec<IntKernel> {
        [IntKernel::Scalar, IntKernel::Avx2, IntKernel::Vnni].into_iter().filter(|k| k.supported()).collect()
    }

    #[test]
    fn every_path_matches_the_naive_reference_bit_for_bit() {
        eprintln!("int16 paths on this CPU: {:?}", kernels());
        // Odd sizes: inputs not a multiple of 32, channels not a multiple of 16 or 48, row
        // counts around the 4-row tile and the task split, reductions over several K blocks.
        for &(rows, k, n) in &[(1, 1, 1), (3, 5, 17), (5, 33, 33), (9, 384, 70), (13, 130, 48), (130, 67, 129), (4, 1536, 384)] {
            let x = values(rows * k, (rows * 31 + k) as u64);
            let w = values(n * k, (n * 17 + k) as u64);
            let layer = Int16Linear::new(&w, n, k, Some(values(n, n as u64)));
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
    fn q4_0_and_q8_0_weights_are_taken_exactly_as_candle_dequantizes_them() {
        crate::arch::gguf_blocks::tests::check_exact_weights(|q| {
            Int16Linear::from_blocks(q, None).unwrap().expect("a block type it takes").dequantized()
        });
    }

    impl crate::arch::linear_checks::QuantizedLinear for Int16Linear {
        fn build(weight: &[f32], out_dim: usize, in_dim: usize, bias: Option<Vec<f32>>) -> Self {
            Self::new(weight, out_dim, in_dim, bias)
        }
        fn run(&self, x: &[f32]) -> Vec<f32> {
            self.forward(x)
        }
    }

    #[test]
    fn close_to_the_f32_product() {
        // A 12-bit and a 16-bit rounding: the weights' steps (1/4,094 of each block's largest)
        // dominate. int8's bound for the same sums is 0.15.
        crate::arch::linear_checks::close_to_the_f32_product::<Int16Linear>(0.015);
    }

    #[test]
    fn rows_do_not_depend_on_their_batch() {
        crate::arch::linear_checks::rows_do_not_depend_on_their_batch::<Int16Linear>();
    }

    #[test]
    fn zero_rows_and_constant_rows() {
        crate::arch::linear_checks::zero_rows_and_constant_rows::<Int16Linear>(5e-3);
    }

    #[test]
    fn the_largest_codes_do_not_overflow_a_block_sum() {
        // 32 products of ±32767 × ±2047 per block, in i32.
        let k = 64;
        let layer = Int16Linear::new(&vec![-1.0; k], 1, k, None);
        assert_eq!(layer.forward(&vec![-1.0f32; k]), vec![64.0]);
    }
}
