//! An int8 GEMM for linear layers: `y = x Wᵀ + b` with `W` quantized once at load and `x`
//! quantized per row at run time, in the spirit of ONNX Runtime's dynamic quantization.
//!
//! - **Weights**: per output channel (row of `W`), symmetric int8: `s_w[n] = max|W[n,:]| / 127`,
//!   `q_w = round(W / s_w)` in `[-127, 127]`. Packed at load into panels of 16 output channels
//!   × 4 consecutive inputs (`[n/16][k/4][16][4]` bytes), the layout `vpdpbusd` reads, and the
//!   sum of each channel's codes kept for the zero-point correction.
//! - **Activations**: per row (token), asymmetric uint8 as in ONNX Runtime's
//!   `DynamicQuantizeLinear`, but with one scale per row instead of per tensor: the range is
//!   `[min(0, min x), max(0, max x)]`, `s_x = range / 255`, zero point `z = round(-min / s_x)`,
//!   `q_x = clamp(round(x / s_x) + z, 0, 255)` (ties to even). A row's codes depend only on that
//!   row, so results do not depend on what else is in the batch.
//! - **Product**: `Σ_k q_x·q_w` in exact i32 arithmetic (at most 255·127·k, far from overflow
//!   for k ≤ 65,536), then `y = s_x·s_w[n]·(acc − z·Σ_k q_w[n,k]) + b[n]` in f32.
//!
//! Three code paths compute the integer products: AVX-512 VNNI (`vpdpbusd`: four u8×s8
//! products summed into each i32 lane, no saturation), AVX2 (bytes widened to i16, then
//! `vpmaddwd`; `vpmaddubsw` would saturate at 255·127·2), and portable scalar code. The integer
//! sums are exact, and all paths share one f32 epilogue, so the three give the same bits; the
//! tests check that against a naive reference. The path is chosen at run time from the CPU's
//! features.

use super::kernels::{rows_per_task, Epilogue, RowGemm};
use rayon::prelude::*;

/// Output channels per packed panel (one 512-bit register of i32 lanes).
const PANEL: usize = 16;
/// Panels a micro-kernel covers at once (64 output channels).
const PANELS_PER_TILE: usize = 4;
/// Output channels a micro-kernel covers at once.
const TILE_COLS: usize = PANEL * PANELS_PER_TILE;
/// Rows a micro-kernel covers at once.
const TILE_ROWS: usize = 4;
/// Inputs per block of the reduction: 64 channels × 256 inputs = 16 KiB of weights, which stay
/// in L1 while a task's row tiles go by. A multiple of 4.
const K_BLOCK: usize = 256;
/// Most rows one parallel task quantizes and multiplies (its codes stay in L2).
const MAX_TASK_ROWS: usize = 64;

/// Which instructions compute the integer dot products.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Int8Kernel {
    /// AVX-512 VNNI `vpdpbusd` on 512-bit registers.
    Vnni,
    /// AVX2: widened to i16 and multiplied with `vpmaddwd`.
    Avx2,
    /// Portable scalar code (other CPUs, and the tests' reference).
    Scalar,
}

impl Int8Kernel {
    /// The fastest path this CPU supports.
    pub fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512vnni")
            {
                return Self::Vnni;
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                return Self::Avx2;
            }
        }
        Self::Scalar
    }

    /// Whether this CPU can run the path.
    pub fn supported(self) -> bool {
        match self {
            Self::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Self::Vnni => {
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512vnni")
            }
            #[cfg(target_arch = "x86_64")]
            Self::Avx2 => std::arch::is_x86_feature_detected!("avx2"),
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

/// A linear layer's weights in int8, packed for the kernels, with its f32 bias.
#[derive(Clone)]
pub struct Int8Linear {
    out_dim: usize,
    in_dim: usize,
    /// `in_dim` rounded up to a multiple of 4 (zero weights in the padding).
    k4: usize,
    /// `[out_dim.div_ceil(16)][k4 / 4][16][4]` codes; padding channels are zero.
    packed: Vec<i8>,
    /// Per output channel: the dequantization scale and the sum of its codes.
    scales: Vec<f32>,
    code_sums: Vec<i32>,
    bias: Option<Vec<f32>>,
}

impl Int8Linear {
    /// Quantizes `weight` (`[out_dim, in_dim]`, row-major) per output channel and packs it.
    pub fn new(weight: &[f32], out_dim: usize, in_dim: usize, bias: Option<Vec<f32>>) -> Self {
        assert_eq!(weight.len(), out_dim * in_dim, "weight shape");
        if let Some(b) = &bias {
            assert_eq!(b.len(), out_dim, "bias shape");
        }
        let k4 = in_dim.div_ceil(4) * 4;
        let panels = out_dim.div_ceil(PANEL);
        let mut packed = vec![0i8; panels * k4 * PANEL];
        let mut scales = Vec::with_capacity(out_dim);
        let mut code_sums = Vec::with_capacity(out_dim);
        for (n, row) in weight.chunks_exact(in_dim.max(1)).enumerate().take(out_dim) {
            let amax = row.iter().fold(0f32, |m, &w| m.max(w.abs()));
            let scale = if amax > 0.0 && amax.is_finite() { amax / 127.0 } else { 1.0 };
            let inv = 1.0 / scale;
            let mut sum = 0i32;
            for (k, &w) in row.iter().enumerate() {
                let q = round_even(w * inv).clamp(-127.0, 127.0) as i8;
                sum += q as i32;
                packed[pack_index(n, k, k4)] = q;
            }
            scales.push(scale);
            code_sums.push(sum);
        }
        Self {
            out_dim,
            in_dim,
            k4,
            packed,
            scales,
            code_sums,
            bias,
        }
    }

    pub fn in_dim(&self) -> usize {
        self.in_dim
    }

    pub fn out_dim(&self) -> usize {
        self.out_dim
    }

    /// The weights as the kernel sees them (codes × scale), `[out_dim, in_dim]`: for tests.
    pub fn dequantized(&self) -> Vec<f32> {
        let mut w = Vec::with_capacity(self.out_dim * self.in_dim);
        for n in 0..self.out_dim {
            for k in 0..self.in_dim {
                w.push(self.packed[pack_index(n, k, self.k4)] as f32 * self.scales[n]);
            }
        }
        w
    }

    /// `x` is `[rows, in_dim]` row-major; returns `[rows, out_dim]`, on the fastest path.
    pub fn forward(&self, x: &[f32]) -> Vec<f32> {
        self.forward_with(x, Int8Kernel::detect(), Epilogue::None)
    }

    /// [`Self::forward`] on a chosen path, then `epilogue`; panics if the CPU cannot run it.
    pub fn forward_with(&self, x: &[f32], kernel: Int8Kernel, epilogue: Epilogue) -> Vec<f32> {
        assert!(kernel.supported(), "the CPU cannot run the {} int8 kernel", kernel.name());
        let k = self.in_dim;
        assert!(k > 0 && x.len() % k == 0, "input width must be {k}");
        let rows = x.len() / k;
        let n = self.out_dim;
        let mut out = vec![0f32; rows * n];
        if rows == 0 || n == 0 {
            return out;
        }
        let task_rows = rows_per_task(rows, TILE_ROWS, MAX_TASK_ROWS);
        out.par_chunks_mut(task_rows * n)
            .zip(x.par_chunks(task_rows * k))
            .for_each(|(out, x)| {
                self.task(x, out, kernel);
                epilogue.apply(out);
            });
        out
    }

    /// One task: quantize its rows, then multiply them tile by tile: for each block of 64
    /// output channels, over blocks of `K_BLOCK` inputs (so that the block's weights stay in
    /// L1 while every row tile of the task goes by), accumulating in i32.
    fn task(&self, x: &[f32], out: &mut [f32], kernel: Int8Kernel) {
        let (k, k4) = (self.in_dim, self.k4);
        let rows = x.len() / k;
        let mut codes = vec![0u8; rows * k4];
        let mut row_scale = vec![0f32; rows];
        let mut row_zero = vec![0i32; rows];
        for r in 0..rows {
            let (s, z) = quantize_row(&x[r * k..(r + 1) * k], &mut codes[r * k4..r * k4 + k]);
            row_scale[r] = s;
            row_zero[r] = z;
        }
        let panels = self.out_dim.div_ceil(PANEL);
        let panel_bytes = k4 * PANEL;
        let mut acc = vec![0i32; rows * TILE_COLS];
        let mut p0 = 0;
        while p0 < panels {
            let np = (panels - p0).min(PANELS_PER_TILE);
            let weights = &self.packed[p0 * panel_bytes..(p0 + np) * panel_bytes];
            acc.fill(0);
            let mut k0 = 0;
            while k0 < k4 {
                let k1 = (k0 + K_BLOCK).min(k4);
                let mut r0 = 0;
                while r0 < rows {
                    let nr = (rows - r0).min(TILE_ROWS);
                    let tile = Tile {
                        codes: &codes[r0 * k4..(r0 + nr) * k4],
                        rows: nr,
                        weights,
                        panels: np,
                        k4,
                        groups: k0 / 4..k1 / 4,
                    };
                    tile.run(kernel, &mut acc[r0 * TILE_COLS..(r0 + nr) * TILE_COLS]);
                    r0 += nr;
                }
                k0 = k1;
            }
            // The epilogue, shared by every path: zero-point correction, scales, bias.
            let c0 = p0 * PANEL;
            let c1 = ((p0 + np) * PANEL).min(self.out_dim);
            // Written as zipped slices so that it vectorizes (no FMA contraction: the same bits
            // as the naive reference).
            let (sums, scales) = (&self.code_sums[c0..c1], &self.scales[c0..c1]);
            for m in 0..rows {
                let (sx, zx) = (row_scale[m], row_zero[m]);
                let out_row = &mut out[m * self.out_dim + c0..m * self.out_dim + c1];
                let acc_row = &acc[m * TILE_COLS..m * TILE_COLS + (c1 - c0)];
                for ((y, &a), (&cs, &sw)) in out_row.iter_mut().zip(acc_row).zip(sums.iter().zip(scales)) {
                    *y = (a - zx * cs) as f32 * (sx * sw);
                }
                if let Some(b) = &self.bias {
                    for (y, &b) in out_row.iter_mut().zip(&b[c0..c1]) {
                        *y += b;
                    }
                }
            }
            p0 += np;
        }
    }
}

/// One micro-kernel call: `rows` (≤ 4) rows of codes × `panels` (≤ 4) panels of weights, over
/// the input groups (of 4) in `groups`, added to `acc` (`rows × 64` i32, row-major, channel
/// `p * 16 + j` of the tile at `p * 16 + j`).
struct Tile<'a> {
    /// `rows` rows of `k4` codes.
    codes: &'a [u8],
    rows: usize,
    /// `panels` panels of `k4 * 16` weights.
    weights: &'a [i8],
    panels: usize,
    k4: usize,
    groups: std::ops::Range<usize>,
}

impl Tile<'_> {
    fn run(&self, kernel: Int8Kernel, acc: &mut [i32]) {
        // The unsafe kernels rely on these bounds.
        assert!(self.rows >= 1 && self.rows <= TILE_ROWS && self.panels >= 1 && self.panels <= PANELS_PER_TILE);
        assert!(self.codes.len() >= self.rows * self.k4);
        assert!(self.weights.len() >= self.panels * self.k4 * PANEL);
        assert!(self.groups.start <= self.groups.end && self.groups.end * 4 <= self.k4);
        assert!(acc.len() >= self.rows * TILE_COLS);
        match kernel {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `forward_with` checked the CPU features; the bounds are asserted above.
            Int8Kernel::Vnni => unsafe { x86::tile_vnni(self, acc) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above.
            Int8Kernel::Avx2 => unsafe { x86::tile_avx2(self, acc) },
            _ => self.scalar(acc),
        }
    }

    fn scalar(&self, acc: &mut [i32]) {
        for r in 0..self.rows {
            let row = &self.codes[r * self.k4..(r + 1) * self.k4];
            for p in 0..self.panels {
                let panel = &self.weights[p * self.k4 * PANEL..(p + 1) * self.k4 * PANEL];
                let sums = &mut acc[r * TILE_COLS + p * PANEL..][..PANEL];
                for g in self.groups.clone() {
                    let quad = &row[g * 4..g * 4 + 4];
                    let block = &panel[g * PANEL * 4..(g + 1) * PANEL * 4];
                    for (j, s) in sums.iter_mut().enumerate() {
                        for t in 0..4 {
                            *s += quad[t] as i32 * block[j * 4 + t] as i32;
                        }
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
        self.forward_with(x, Int8Kernel::detect(), epilogue)
    }
}

/// Index of weight `(n, k)` in the packed layout.
fn pack_index(n: usize, k: usize, k4: usize) -> usize {
    (n / PANEL) * k4 * PANEL + (k / 4) * PANEL * 4 + (n % PANEL) * 4 + k % 4
}

/// Quantizes one activation row to uint8 codes; returns its scale and zero point.
pub fn quantize_row(x: &[f32], codes: &mut [u8]) -> (f32, i32) {
    // Plain comparisons rather than `f32::min`/`max` (whose NaN rules keep them scalar): this
    // form compiles to `minps`/`maxps`.
    let (mut lo, mut hi) = (0f32, 0f32);
    for &v in x {
        lo = if v < lo { v } else { lo };
        hi = if v > hi { v } else { hi };
    }
    let range = hi - lo;
    let scale = if range > 0.0 && range.is_finite() { range / 255.0 } else { 1.0 };
    let zero = round_even(-lo / scale).clamp(0.0, 255.0);
    let inv = 1.0 / scale;
    for (c, &v) in codes.iter_mut().zip(x) {
        *c = (round_even(v * inv) + zero).clamp(0.0, 255.0) as u8;
    }
    (scale, zero as i32)
}

/// Rounds half to even for |v| < 2^22 (every value quantized here, and in `super::int16`, is
/// within ±32,768 or is clamped anyway): adding and subtracting 1.5·2^23 leaves no fraction
/// bits, and IEEE addition rounds to even. The same result as `f32::round_ties_even`, without
/// its libm call (`rintf`: 15 % of the int8 encoder's time in a profile), and it vectorizes.
#[inline(always)]
pub(crate) fn round_even(v: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0;
    (v + MAGIC) - MAGIC
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Tile, PANEL, TILE_COLS};
    use std::arch::x86_64::*;

    /// Dispatches to the micro-kernel for the tile's rows × panels.
    ///
    /// # Safety
    /// The CPU must support AVX-512F and AVX-512 VNNI, and the tile's bounds must hold as
    /// `Tile::run` asserts them.
    pub unsafe fn tile_vnni(t: &Tile, acc: &mut [i32]) {
        dispatch_tile!(vnni, t, acc, full = 4, rows = [4, 3, 2, 1])
    }

    /// `R` rows × `P` panels from panel `first`: `R·P` accumulators; per group of 4 inputs,
    /// `P` weight loads, `R` broadcasts and `R·P` `vpdpbusd`.
    #[target_feature(enable = "avx512f,avx512vnni")]
    unsafe fn vnni<const R: usize, const P: usize>(t: &Tile, first: usize, acc: &mut [i32]) {
        let a_ptr = t.codes.as_ptr();
        let w_ptr = t.weights.as_ptr().add(first * t.k4 * PANEL);
        let acc_ptr = acc.as_mut_ptr().add(first * PANEL);
        let mut sums = [[_mm512_setzero_si512(); P]; R];
        for (r, row) in sums.iter_mut().enumerate() {
            for (p, s) in row.iter_mut().enumerate() {
                // SAFETY: row r < rows, channel block first + p < panels: inside `acc`.
                *s = _mm512_loadu_si512(acc_ptr.add(r * TILE_COLS + p * PANEL) as *const _);
            }
        }
        let panel_bytes = t.k4 * PANEL;
        for g in t.groups.clone() {
            let mut wv = [_mm512_setzero_si512(); P];
            for (p, v) in wv.iter_mut().enumerate() {
                // SAFETY: panel first + p, group g < k4 / 4: inside `weights`.
                *v = _mm512_loadu_si512(w_ptr.add(p * panel_bytes + g * PANEL * 4) as *const _);
            }
            for (r, row) in sums.iter_mut().enumerate() {
                // SAFETY: row r, bytes 4g..4g+4 ≤ k4: inside `codes`.
                let quad = (a_ptr.add(r * t.k4 + g * 4) as *const i32).read_unaligned();
                let av = _mm512_set1_epi32(quad);
                for p in 0..P {
                    row[p] = _mm512_dpbusd_epi32(row[p], av, wv[p]);
                }
            }
        }
        for (r, row) in sums.iter().enumerate() {
            for (p, s) in row.iter().enumerate() {
                _mm512_storeu_si512(acc_ptr.add(r * TILE_COLS + p * PANEL) as *mut _, *s);
            }
        }
    }

    /// One row at a time, 8 channels per 256-bit register: codes widened to i16 and multiplied
    /// pairwise with `vpmaddwd` (exact; `vpmaddubsw` would saturate at 255·127·2).
    ///
    /// # Safety
    /// The CPU must support AVX2; bounds as for [`tile_vnni`].
    #[target_feature(enable = "avx2")]
    pub unsafe fn tile_avx2(t: &Tile, acc: &mut [i32]) {
        for r in 0..t.rows {
            let a_ptr = t.codes.as_ptr().add(r * t.k4);
            for p in 0..t.panels {
                let w_ptr = t.weights.as_ptr().add(p * t.k4 * PANEL);
                // Four accumulators of 8 i32: channels 0-3, 4-7, 8-11, 12-15, each lane pair
                // holding one channel's two partial sums (inputs 0-1 and 2-3 of each group).
                let mut s = [_mm256_setzero_si256(); 4];
                for g in t.groups.clone() {
                    let quad = (a_ptr.add(g * 4) as *const i32).read_unaligned();
                    // The 4 codes as i16, repeated: [x0 x1 x2 x3] × 4.
                    let a16 = _mm256_cvtepu8_epi16(_mm_set1_epi32(quad));
                    let block = w_ptr.add(g * PANEL * 4);
                    for (h, sh) in s.iter_mut().enumerate() {
                        // 16 bytes: 4 channels × 4 inputs, as i16.
                        let w16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(block.add(h * 16) as *const _));
                        *sh = _mm256_add_epi32(*sh, _mm256_madd_epi16(a16, w16));
                    }
                }
                // Pairwise sums: hadd gives [c0 c1 c4 c5 | c2 c3 c6 c7] of its two inputs.
                let lo = _mm256_permute4x64_epi64(_mm256_hadd_epi32(s[0], s[1]), 0b11_01_10_00);
                let hi = _mm256_permute4x64_epi64(_mm256_hadd_epi32(s[2], s[3]), 0b11_01_10_00);
                let dst = acc.as_mut_ptr().add(r * TILE_COLS + p * PANEL);
                _mm256_storeu_si256(dst as *mut _, _mm256_add_epi32(_mm256_loadu_si256(dst as *const _), lo));
                let dst = dst.add(8);
                _mm256_storeu_si256(dst as *mut _, _mm256_add_epi32(_mm256_loadu_si256(dst as *const _), hi));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::arch::test_values as values;

    /// The recipe written out naively: quantize, integer dot products, dequantize.
    fn naive(layer: &Int8Linear, x: &[f32]) -> Vec<f32> {
        let (k, n) = (layer.in_dim, layer.out_dim);
        let mut out = Vec::new();
        for row in x.chunks(k) {
            let mut codes = vec![0u8; k];
            let (sx, zx) = quantize_row(row, &mut codes);
            for c in 0..n {
                let mut dot = 0i64;
                for (j, &q) in codes.iter().enumerate() {
                    let wq = layer.packed[pack_index(c, j, layer.k4)] as i64;
                    dot += (q as i64 - zx as i64) * wq;
                }
                let mut y = dot as i32 as f32 * (sx * layer.scales[c]);
                if let Some(b) = &layer.bias {
                    y += b[c];
                }
                out.push(y);
            }
        }
        out
    }

    fn kernels() -> Vec<Int8Kernel> {
        [Int8Kernel::Scalar, Int8Kernel::Avx2, Int8Kernel::Vnni]
            .into_iter()
            .filter(|k| k.supported())
            .collect()
    }

    #[test]
    fn every_path_matches_the_naive_reference_bit_for_bit() {
        eprintln!("int8 paths on this CPU: {:?}", kernels());
        // Odd sizes: inputs not a multiple of 4, channels not a multiple of 16 or 64, row
        // counts around the 4-row tile and the task split.
        for &(rows, k, n) in &[(1, 1, 1), (3, 5, 17), (5, 7, 33), (9, 384, 70), (13, 130, 64), (130, 67, 129), (4, 1536, 384)] {
            let x = values(rows * k, (rows * 31 + k) as u64);
            let w = values(n * k, (n * 17 + k) as u64);
            let bias = Some(values(n, n as u64));
            let layer = Int8Linear::new(&w, n, k, bias);
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
    fn rounding_is_ties_to_even() {
        for i in -600_000..600_000 {
            let v = i as f32 / 1000.0;
            assert_eq!(round_even(v), v.round_ties_even(), "{v}");
        }
        for v in [0.5f32, 1.5, 2.5, -0.5, -1.5, 254.5, -255.5, 0.0] {
            assert_eq!(round_even(v), v.round_ties_even(), "{v}");
        }
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
        // Two 8-bit roundings.
        crate::arch::linear_checks::close_to_the_f32_product::<Int8Linear>(0.15);
    }

    #[test]
    fn rows_do_not_depend_on_their_batch() {
        crate::arch::linear_checks::rows_do_not_depend_on_their_batch::<Int8Linear>();
    }

    #[test]
    fn zero_rows_and_constant_rows() {
        // A constant positive row has zero point 0.
        crate::arch::linear_checks::zero_rows_and_constant_rows::<Int8Linear>(0.05);
    }
}
