//! A bfloat16 GEMM for linear layers: `y = x Wᵀ + b` with `W` rounded to bfloat16 once at load
//! and `x` rounded to bfloat16 at run time, every product summed in f32.
//!
//! Why: AVX-512 BF16's `vdpbf16ps` does twice the multiply-adds of an f32 FMA per instruction,
//! and a bfloat16 keeps f32's exponent, so each value keeps its own scale: the error is a
//! relative 2⁻⁹ per operand wherever the value lies, where int8's step is 1/254 of the largest
//! value of its block of 32 (see `super::int8` and BENCH.md). Products of two bfloat16 values
//! are exact in f32; only the sums round.
//!
//! - **Rounding**: round to nearest, ties to even (as `vcvtneps2bf16`), one code for every path.
//! - **Layout**: weights packed at load in panels of 16 output channels × 2 consecutive inputs
//!   (`[n/16][k/2][16][2]` codes), the layout `vdpbf16ps` reads: one 512-bit load is a group of
//!   two inputs for 16 channels.
//! - **Order of the sums**: per output, inputs in pairs in order, `s += x₁w₁; s += x₀w₀` for each
//!   pair (`vdpbf16ps`'s definition), within blocks of [`K_BLOCK`] inputs. A row's result
//!   depends on that row alone: the same bits whatever the batch or thread count.
//!
//! Three code paths: AMX tiles (`super::amx`, whose `tdpbf16ps` sums each chunk of 32 inputs in
//! its own order), AVX-512 BF16, and portable scalar code that follows the AVX-512 order (the
//! tests hold all three within float rounding of each other; the instructions flush subnormals,
//! the scalar code does not). The path is chosen at run time from the CPU's features; on every
//! path a row's result depends on that row alone.

use super::kernels::{in_row_tasks, rows_per_task, Epilogue, RowGemm};
use std::mem::MaybeUninit;

/// Output channels per packed panel (one 512-bit register of f32 lanes).
const PANEL: usize = 16;
/// Panels a micro-kernel covers at once (64 output channels).
const PANELS_PER_TILE: usize = 4;
/// Output channels a micro-kernel covers at once.
const TILE_COLS: usize = PANEL * PANELS_PER_TILE;
/// Rows a micro-kernel covers at once: 6 × 4 accumulators, 4 weight registers and a broadcast
/// take 29 of the 32 registers, and each pair of inputs loads 10 registers for 24 `vdpbf16ps`.
const TILE_ROWS: usize = 6;
/// Inputs per block of the reduction: 64 channels × 128 inputs × 2 bytes = 16 KiB of weights,
/// which stay in L1 while a task's row tiles go by. Even.
const K_BLOCK: usize = 128;
/// Most rows one parallel task converts and multiplies.
const MAX_TASK_ROWS: usize = 64;
/// Inputs are padded with zeros to a multiple of this: whole AMX tiles of A and B.
const K_PAD: usize = 32;
/// Rows an AMX block covers (two row tiles), and the most one task multiplies.
const AMX_BLOCK_ROWS: usize = 32;
const AMX_MAX_TASK_ROWS: usize = 256;

/// Which instructions compute the products.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bf16Kernel {
    /// AMX tiles' `tdpbf16ps` (Xeon from Sapphire Rapids on).
    Amx,
    /// AVX-512 BF16 `vdpbf16ps` on 512-bit registers.
    Avx512,
    /// Portable scalar code (other CPUs, and the tests' reference).
    Scalar,
}

impl Bf16Kernel {
    /// The fastest path this CPU supports.
    pub fn detect() -> Self {
        if Self::Amx.supported() {
            Self::Amx
        } else if Self::Avx512.supported() {
            Self::Avx512
        } else {
            Self::Scalar
        }
    }

    /// Whether this CPU can run the path.
    pub fn supported(self) -> bool {
        match self {
            Self::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Self::Avx512 => {
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512bw")
                    && std::arch::is_x86_feature_detected!("avx512vl")
                    && std::arch::is_x86_feature_detected!("avx512dq")
                    && std::arch::is_x86_feature_detected!("avx512bf16")
            }
            #[cfg(target_arch = "x86_64")]
            Self::Amx => super::amx::bf16_usable(),
            #[cfg(not(target_arch = "x86_64"))]
            Self::Avx512 | Self::Amx => false,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Amx => "amx-bf16",
            Self::Avx512 => "avx512-bf16",
            Self::Scalar => "scalar",
        }
    }
}

/// `v` rounded to bfloat16 (nearest, ties to even; NaN stays NaN), as its 16 bits.
#[inline(always)]
pub fn to_bf16(v: f32) -> u16 {
    let bits = v.to_bits();
    if v.is_nan() {
        return ((bits >> 16) | 0x40) as u16;
    }
    ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) as u16
}

/// The f32 value of a bfloat16 code (exact).
#[inline(always)]
pub fn from_bf16(code: u16) -> f32 {
    f32::from_bits((code as u32) << 16)
}

/// A linear layer's weights in bfloat16, packed for the kernels, with its f32 bias.
#[derive(Clone)]
pub struct Bf16Linear {
    out_dim: usize,
    in_dim: usize,
    /// `in_dim` rounded up to a multiple of [`K_PAD`] (zero weights in the padding).
    k2: usize,
    /// `[out_dim.div_ceil(16)][k2 / 2][16][2]` codes; padding channels are zero.
    packed: Vec<u16>,
    bias: Option<Vec<f32>>,
}

impl Bf16Linear {
    /// Rounds `weight` (`[out_dim, in_dim]`, row-major) to bfloat16 and packs it.
    pub fn new(weight: &[f32], out_dim: usize, in_dim: usize, bias: Option<Vec<f32>>) -> Self {
        assert_eq!(weight.len(), out_dim * in_dim, "weight shape");
        if let Some(b) = &bias {
            assert_eq!(b.len(), out_dim, "bias shape");
        }
        let k2 = in_dim.div_ceil(K_PAD) * K_PAD;
        let mut packed = vec![0u16; out_dim.div_ceil(PANEL) * k2 * PANEL];
        for (n, row) in weight.chunks_exact(in_dim.max(1)).enumerate().take(out_dim) {
            for (k, &w) in row.iter().enumerate() {
                packed[pack_index(n, k, k2)] = to_bf16(w);
            }
        }
        Self { out_dim, in_dim, k2, packed, bias }
    }

    pub fn in_dim(&self) -> usize {
        self.in_dim
    }

    pub fn out_dim(&self) -> usize {
        self.out_dim
    }

    /// The weights as the kernel sees them, `[out_dim, in_dim]`: for tests.
    pub fn rounded_weights(&self) -> Vec<f32> {
        let mut w = Vec::with_capacity(self.out_dim * self.in_dim);
        for n in 0..self.out_dim {
            for k in 0..self.in_dim {
                w.push(from_bf16(self.packed[pack_index(n, k, self.k2)]));
            }
        }
        w
    }

    /// `x` is `[rows, in_dim]` row-major; returns `[rows, out_dim]`, on the fastest path.
    pub fn forward(&self, x: &[f32]) -> Vec<f32> {
        self.forward_with(x, Bf16Kernel::detect(), Epilogue::None)
    }

    /// [`Self::forward`] on a chosen path, then `epilogue`; panics if the CPU cannot run it.
    pub fn forward_with(&self, x: &[f32], kernel: Bf16Kernel, epilogue: Epilogue) -> Vec<f32> {
        assert!(kernel.supported(), "the CPU cannot run the {} bf16 kernel", kernel.name());
        let k = self.in_dim;
        assert!(k > 0 && x.len() % k == 0, "input width must be {k}");
        let rows = x.len() / k;
        let n = self.out_dim;
        if rows == 0 || n == 0 {
            return vec![0f32; rows * n];
        }
        let task_rows = match kernel {
            Bf16Kernel::Amx => rows_per_task(rows, AMX_BLOCK_ROWS, AMX_MAX_TASK_ROWS),
            _ => rows_per_task(rows, TILE_ROWS, MAX_TASK_ROWS),
        };
        // (Zeroing the output first showed as `memset`, 3.3 % of a bf16 run, but most of that
        // was the first touch of fresh memory, which the tasks' own writes now pay: the run was
        // not measurably faster.)
        let task = |x: &[f32], out: &mut [MaybeUninit<f32>]| match kernel {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `supported` checked the CPU, the OS and the permission.
            Bf16Kernel::Amx => unsafe { self.task_amx(x, out, epilogue) },
            _ => {
                self.task(x, out, kernel);
                // SAFETY: the task wrote every slot of its rows.
                unsafe { epilogue.apply_written(out) }
            }
        };
        // SAFETY: each task writes every slot of its rows (its blocks of output channels cover
        // `0..n`).
        unsafe { in_row_tasks(x, k, n, task_rows, task) }
    }

    /// One task on AMX tiles: round its rows (padded with zero rows to whole row tiles), then
    /// for each block of 32 rows × 32 output channels run the whole reduction in the tiles, and
    /// apply `epilogue` to each block of 32 rows once its outputs are complete. Compiled for
    /// AVX-512 (`amx::bf16_usable` checks it): the bias adds and copies out of the tiles'
    /// blocks were 128-bit moves, a sixth of this function's time, in the baseline build.
    ///
    /// # Safety
    /// `Bf16Kernel::Amx` must be supported.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")]
    unsafe fn task_amx(&self, x: &[f32], out: &mut [MaybeUninit<f32>], epilogue: Epilogue) {
        use super::amx::{Tiles, TILE_COLS as T_COLS, TILE_K, TILE_ROWS as T_ROWS};
        let (k, k2, n) = (self.in_dim, self.k2, self.out_dim);
        let rows = x.len() / k;
        let row_tiles = rows.div_ceil(T_ROWS);
        // The rows' codes in a buffer the thread keeps from task to task (zeroing a fresh one
        // doubled the rounding's writes): only the padding, past `k` and past `rows`, is zeroed.
        let mut buffer = AMX_CODES.take();
        let codes = super::amx::sized(&mut buffer, row_tiles * T_ROWS * k2);
        for (row, codes) in x.chunks_exact(k).zip(codes.chunks_exact_mut(k2)) {
            x86::round_to_bf16(row, &mut codes[..k]);
            codes[k..].fill(0);
        }
        codes[rows * k2..].fill(0);
        let panels = n.div_ceil(PANEL);
        let panel_len = k2 * PANEL;
        let chunks = k2 / TILE_K;
        let mut block = [0f32; 2 * T_ROWS * 2 * T_COLS];
        let tiles = Tiles::new();
        for t0 in (0..row_tiles).step_by(2) {
            let nt = (row_tiles - t0).min(2);
            let (m0, m1) = (t0 * T_ROWS, ((t0 + nt) * T_ROWS).min(rows));
            let a = codes.as_ptr().add(t0 * T_ROWS * k2);
            for p0 in (0..panels).step_by(2) {
                let np = (panels - p0).min(2);
                let b = self.packed.as_ptr().add(p0 * panel_len);
                let c = block.as_mut_ptr();
                match (nt, np) {
                    (2, 2) => tiles.bf16_block::<2, 2>(a, k2, b, panel_len, chunks, c, 2 * T_COLS),
                    (2, _) => tiles.bf16_block::<2, 1>(a, k2, b, panel_len, chunks, c, 2 * T_COLS),
                    (_, 2) => tiles.bf16_block::<1, 2>(a, k2, b, panel_len, chunks, c, 2 * T_COLS),
                    _ => tiles.bf16_block::<1, 1>(a, k2, b, panel_len, chunks, c, 2 * T_COLS),
                }
                let (c0, c1) = (p0 * PANEL, ((p0 + np) * PANEL).min(n));
                for (i, m) in (m0..m1).enumerate() {
                    let sums = &block[i * 2 * T_COLS..i * 2 * T_COLS + (c1 - c0)];
                    self.write_outputs(&mut out[m * n + c0..m * n + c1], sums, c0);
                }
            }
            // SAFETY: the panels cover `0..n`, so every slot of these rows is written.
            epilogue.apply_written(&mut out[m0 * n..m1 * n]);
        }
        drop(tiles);
        AMX_CODES.set(buffer);
    }

    /// One task: round its rows, then multiply them tile by tile: for each block of 64 output
    /// channels, over blocks of `K_BLOCK` inputs, accumulating in f32.
    fn task(&self, x: &[f32], out: &mut [MaybeUninit<f32>], kernel: Bf16Kernel) {
        let (k, k2) = (self.in_dim, self.k2);
        let rows = x.len() / k;
        let mut codes = vec![0u16; rows * k2];
        for (row, codes) in x.chunks_exact(k).zip(codes.chunks_exact_mut(k2)) {
            match kernel {
                // SAFETY: the AVX-512 kernel runs only where the CPU supports AVX-512 BF16.
                // Scalar rounding of the rows was 8 % of a bf16 run.
                #[cfg(target_arch = "x86_64")]
                Bf16Kernel::Avx512 => unsafe { x86::round_to_bf16(row, &mut codes[..k]) },
                _ => {
                    for (c, &v) in codes.iter_mut().zip(row) {
                        *c = to_bf16(v);
                    }
                }
            }
        }
        let panels = self.out_dim.div_ceil(PANEL);
        let panel_len = k2 * PANEL;
        let mut acc = vec![0f32; rows * TILE_COLS];
        let mut p0 = 0;
        while p0 < panels {
            let np = (panels - p0).min(PANELS_PER_TILE);
            let weights = &self.packed[p0 * panel_len..(p0 + np) * panel_len];
            acc.fill(0.0);
            let mut k0 = 0;
            while k0 < k2 {
                let k1 = (k0 + K_BLOCK).min(k2);
                let mut r0 = 0;
                while r0 < rows {
                    let nr = (rows - r0).min(TILE_ROWS);
                    let tile = Tile {
                        codes: &codes[r0 * k2..(r0 + nr) * k2],
                        rows: nr,
                        weights,
                        panels: np,
                        k2,
                        pairs: k0 / 2..k1 / 2,
                    };
                    tile.run(kernel, &mut acc[r0 * TILE_COLS..(r0 + nr) * TILE_COLS]);
                    r0 += nr;
                }
                k0 = k1;
            }
            let c0 = p0 * PANEL;
            let c1 = ((p0 + np) * PANEL).min(self.out_dim);
            for m in 0..rows {
                let sums = &acc[m * TILE_COLS..m * TILE_COLS + (c1 - c0)];
                self.write_outputs(&mut out[m * self.out_dim + c0..m * self.out_dim + c1], sums, c0);
            }
            p0 += np;
        }
    }

    /// Writes one row's outputs for the channels from `c0` on: the `sums` plus the bias.
    fn write_outputs(&self, out: &mut [MaybeUninit<f32>], sums: &[f32], c0: usize) {
        match &self.bias {
            Some(bias) => {
                for ((y, &s), &b) in out.iter_mut().zip(sums).zip(&bias[c0..]) {
                    y.write(s + b);
                }
            }
            None => {
                for (y, &s) in out.iter_mut().zip(sums) {
                    y.write(s);
                }
            }
        }
    }
}

/// One micro-kernel call: `rows` (≤ 4) rows of codes × `panels` (≤ 4) panels of weights, over
/// the input pairs in `pairs`, added to `acc` (`rows × 64` f32, row-major).
struct Tile<'a> {
    /// `rows` rows of `k2` codes.
    codes: &'a [u16],
    rows: usize,
    /// `panels` panels of `k2 * 16` codes.
    weights: &'a [u16],
    panels: usize,
    k2: usize,
    pairs: std::ops::Range<usize>,
}

impl Tile<'_> {
    fn run(&self, kernel: Bf16Kernel, acc: &mut [f32]) {
        // The unsafe kernel relies on these bounds.
        assert!(self.rows >= 1 && self.rows <= TILE_ROWS && self.panels >= 1 && self.panels <= PANELS_PER_TILE);
        assert!(self.codes.len() >= self.rows * self.k2);
        assert!(self.weights.len() >= self.panels * self.k2 * PANEL);
        assert!(self.pairs.start <= self.pairs.end && self.pairs.end * 2 <= self.k2);
        assert!(acc.len() >= self.rows * TILE_COLS);
        match kernel {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `forward_with` checked the CPU features; the bounds are asserted above.
            Bf16Kernel::Avx512 => unsafe { x86::tile(self, acc) },
            _ => self.scalar(acc),
        }
    }

    fn scalar(&self, acc: &mut [f32]) {
        for r in 0..self.rows {
            let row = &self.codes[r * self.k2..(r + 1) * self.k2];
            for p in 0..self.panels {
                let panel = &self.weights[p * self.k2 * PANEL..(p + 1) * self.k2 * PANEL];
                let sums = &mut acc[r * TILE_COLS + p * PANEL..][..PANEL];
                for g in self.pairs.clone() {
                    let (x0, x1) = (from_bf16(row[g * 2]), from_bf16(row[g * 2 + 1]));
                    let block = &panel[g * PANEL * 2..(g + 1) * PANEL * 2];
                    for (j, s) in sums.iter_mut().enumerate() {
                        *s += x1 * from_bf16(block[j * 2 + 1]);
                        *s += x0 * from_bf16(block[j * 2]);
                    }
                }
            }
        }
    }
}

impl std::fmt::Debug for Bf16Linear {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bf16Linear({} -> {}, bias: {})", self.in_dim, self.out_dim, self.bias.is_some())
    }
}

impl RowGemm for Bf16Linear {
    const KIND: &'static str = "bf16";

    fn dims(&self) -> (usize, usize) {
        (self.in_dim, self.out_dim)
    }

    fn forward_then(&self, x: &[f32], epilogue: Epilogue) -> Vec<f32> {
        self.forward_with(x, Bf16Kernel::detect(), epilogue)
    }
}

#[cfg(target_arch = "x86_64")]
thread_local! {
    /// The AMX tasks' rounded rows ([`Bf16Linear::task_amx`]).
    static AMX_CODES: std::cell::Cell<Vec<u16>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Index of weight `(n, k)` in the packed layout.
fn pack_index(n: usize, k: usize, k2: usize) -> usize {
    (n / PANEL) * k2 * PANEL + (k / 2) * PANEL * 2 + (n % PANEL) * 2 + k % 2
}

/// Also round and multiply the operands of attention in bfloat16 (`super::attention_bf16`).
#[cfg(target_arch = "x86_64")]
pub(crate) use x86::{block_32x32, round_to_bf16};

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Tile, PANEL, TILE_COLS};
    use std::arch::x86_64::*;

    /// Rounds `x` to bfloat16 codes with `vcvtneps2bf16` (nearest, ties to even, as `to_bf16`;
    /// the instruction reads subnormal inputs as zero).
    ///
    /// # Safety
    /// The CPU must support AVX-512F and AVX-512 BF16.
    #[target_feature(enable = "avx512f,avx512bf16")]
    pub unsafe fn round_to_bf16(x: &[f32], codes: &mut [u16]) {
        assert_eq!(x.len(), codes.len());
        let mut chunks = x.chunks_exact(16);
        let mut out = codes.chunks_exact_mut(16);
        for (x, out) in (&mut chunks).zip(&mut out) {
            let v = _mm512_loadu_ps(x.as_ptr());
            let h: __m256i = std::mem::transmute(_mm512_cvtneps_pbh(v));
            _mm256_storeu_si256(out.as_mut_ptr() as *mut __m256i, h);
        }
        for (c, &v) in out.into_remainder().iter_mut().zip(chunks.remainder()) {
            *c = super::to_bf16(v);
        }
    }

    /// The product `super::amx::Tiles::bf16_block::<2, 2>` computes, 32 rows × 32 channels, with
    /// `vdpbf16ps` on 512-bit registers, for CPUs with AVX-512 BF16 and no tiles:
    /// `c[i][p·16 + j] = Σₖ a[i][k] · b_p[k][j]` over `chunks · 32` inputs, summed per output in
    /// pairs of inputs in order (`vdpbf16ps`'s definition), so a row's result depends on its own
    /// inputs only.
    ///
    /// - `a`: 32 bfloat16 rows, `a_stride` codes apart, `chunks · 32` codes each;
    /// - `b`: 2 panels `b_stride` codes apart, each `chunks · 16` pairs of inputs × 16 channels ×
    ///   2 codes (`[k/2][16][2]`);
    /// - `c`: 32 rows of 32 f32, `c_stride` f32 apart, overwritten.
    ///
    /// # Safety
    /// The CPU must support AVX-512F and AVX-512 BF16; the pointers must cover the extents above.
    #[target_feature(enable = "avx512f,avx512bf16")]
    pub unsafe fn block_32x32(
        a: *const u16,
        a_stride: usize,
        b: *const u16,
        b_stride: usize,
        chunks: usize,
        c: *mut f32,
        c_stride: usize,
    ) {
        // 8 rows × 2 panels: 16 accumulators, 2 panel loads and 8 broadcasts per pair of
        // inputs, enough independent sums to hide `vdpbf16ps`'s latency.
        const ROWS: usize = 8;
        for r0 in (0..2 * PANEL).step_by(ROWS) {
            let mut sums = [[_mm512_setzero_ps(); 2]; ROWS];
            for g in 0..chunks * PANEL {
                let w: [__m512bh; 2] = std::array::from_fn(|p| {
                    std::mem::transmute(_mm512_loadu_si512(b.add(p * b_stride + g * PANEL * 2) as *const _))
                });
                for (r, row) in sums.iter_mut().enumerate() {
                    // The pair (a[2g], a[2g+1]) of row r0 + r as one 32-bit lane, broadcast to all 16.
                    let pair = (a.add((r0 + r) * a_stride + g * 2) as *const i32).read_unaligned();
                    let x: __m512bh = std::mem::transmute(_mm512_set1_epi32(pair));
                    for (s, w) in row.iter_mut().zip(&w) {
                        *s = _mm512_dpbf16_ps(*s, x, *w);
                    }
                }
            }
            for (r, row) in sums.iter().enumerate() {
                for (p, s) in row.iter().enumerate() {
                    _mm512_storeu_ps(c.add((r0 + r) * c_stride + p * PANEL), *s);
                }
            }
        }
    }

    /// Dispatches to the micro-kernel for the tile's rows × panels.
    ///
    /// # Safety
    /// The CPU must support AVX-512F and AVX-512 BF16, and the tile's bounds must hold as
    /// `Tile::run` asserts them.
    pub unsafe fn tile(t: &Tile, acc: &mut [f32]) {
        dispatch_tile!(dot, t, acc, full = 4, rows = [6, 5, 4, 3, 2, 1])
    }

    /// `R` rows × `P` panels from panel `first`: `R·P` accumulators; per pair of inputs, `P`
    /// weight loads, `R` broadcasts and `R·P` `vdpbf16ps`.
    #[target_feature(enable = "avx512f,avx512bf16")]
    unsafe fn dot<const R: usize, const P: usize>(t: &Tile, first: usize, acc: &mut [f32]) {
        let a_ptr = t.codes.as_ptr();
        let panel_len = t.k2 * PANEL;
        let w_ptr = t.weights.as_ptr().add(first * panel_len);
        let acc_ptr = acc.as_mut_ptr().add(first * PANEL);
        let mut sums = [[_mm512_setzero_ps(); P]; R];
        for (r, row) in sums.iter_mut().enumerate() {
            for (p, s) in row.iter_mut().enumerate() {
                // SAFETY: row r < rows, channel block first + p < panels: inside `acc`.
                *s = _mm512_loadu_ps(acc_ptr.add(r * TILE_COLS + p * PANEL));
            }
        }
        for g in t.pairs.clone() {
            let mut w = [_mm512_setzero_si512(); P];
            for (p, w) in w.iter_mut().enumerate() {
                *w = _mm512_loadu_si512(w_ptr.add(p * panel_len + g * PANEL * 2) as *const _);
            }
            for (r, row) in sums.iter_mut().enumerate() {
                // The pair (x[2g], x[2g+1]) as one 32-bit lane, broadcast to all 16.
                let pair = (a_ptr.add(r * t.k2 + g * 2) as *const i32).read_unaligned();
                let a: __m512bh = std::mem::transmute(_mm512_set1_epi32(pair));
                for (s, w) in row.iter_mut().zip(&w) {
                    *s = _mm512_dpbf16_ps(*s, a, std::mem::transmute::<__m512i, __m512bh>(*w));
                }
            }
        }
        for (r, row) in sums.iter().enumerate() {
            for (p, s) in row.iter().enumerate() {
                _mm512_storeu_ps(acc_ptr.add(r * TILE_COLS + p * PANEL), *s);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Uniform in [-2, 2): the shared test stream, doubled (exactly).
    fn values(n: usize, seed: u64) -> Vec<f32> {
        crate::arch::test_values(n, seed).into_iter().map(|v| 2.0 * v).collect()
    }

    /// The exact product of the rounded operands, in f64.
    fn exact(layer: &Bf16Linear, x: &[f32]) -> Vec<f64> {
        let (k, n) = (layer.in_dim, layer.out_dim);
        let w = layer.rounded_weights();
        let mut y = Vec::new();
        for row in x.chunks_exact(k) {
            for c in 0..n {
                let s: f64 = (0..k).map(|i| from_bf16(to_bf16(row[i])) as f64 * w[c * k + i] as f64).sum();
                y.push(s + layer.bias.as_ref().map_or(0.0, |b| b[c] as f64));
            }
        }
        y
    }

    fn kernels() -> Vec<Bf16Kernel> {
        [Bf16Kernel::Amx, Bf16Kernel::Avx512, Bf16Kernel::Scalar]
            .into_iter()
            .filter(|k| k.supported())
            .collect()
    }

    #[test]
    fn rounding_is_to_nearest_even() {
        assert_eq!(to_bf16(1.0), 0x3F80);
        // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to the even code (1.0).
        assert_eq!(to_bf16(1.0 + 1.0 / 256.0), 0x3F80);
        // 1 + 3·2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6: up to the even one.
        assert_eq!(to_bf16(1.0 + 3.0 / 256.0), 0x3F82);
        assert_eq!(from_bf16(to_bf16(-2.5)), -2.5);
        assert!(from_bf16(to_bf16(f32::NAN)).is_nan());
        assert_eq!(from_bf16(to_bf16(f32::INFINITY)), f32::INFINITY);
    }

    #[test]
    fn every_path_gives_the_product_of_the_rounded_operands() {
        // Odd sizes: a partial panel, an odd input width, a partial row tile, several K blocks.
        for &(rows, k, n) in &[(1, 1, 1), (5, 3, 17), (9, 300, 70), (4, 384, 384), (7, 1536, 40)] {
            let w = values(n * k, 1 + k as u64);
            let x = values(rows * k, 2 + n as u64);
            let layer = Bf16Linear::new(&w, n, k, Some(values(n, 3)));
            let want = exact(&layer, &x);
            for kernel in kernels() {
                let got = layer.forward_with(&x, kernel, Epilogue::None);
                for (g, e) in got.iter().zip(&want) {
                    // f32 sums of k terms of magnitude ≤ 4: rounding grows with k.
                    let tol = 1e-6 * (k as f64) * 4.0 + 1e-6;
                    assert!((*g as f64 - e).abs() <= tol, "{} {rows}×{k}×{n}: {g} vs {e}", kernel.name());
                }
            }
        }
    }

    #[test]
    fn the_gelu_epilogue_reaches_every_output_once() {
        // 77 rows: two whole AMX blocks of 32 and a partial one; 100 channels: a partial panel.
        let (rows, k, n) = (77, 384, 100);
        let layer = Bf16Linear::new(&values(n * k, 21), n, k, Some(values(n, 22)));
        let x = values(rows * k, 23);
        for kernel in kernels() {
            for fused in [false, true] {
                let gelu = Epilogue::GeluErf { fused };
                let mut want = layer.forward_with(&x, kernel, Epilogue::None);
                gelu.apply(&mut want);
                let got = layer.forward_with(&x, kernel, gelu);
                assert!(got.iter().zip(&want).all(|(g, w)| g.to_bits() == w.to_bits()), "{}", kernel.name());
            }
        }
    }

    #[test]
    fn the_paths_agree() {
        let (rows, k, n) = (13, 384, 1536);
        let w = values(n * k, 7);
        let x = values(rows * k, 8);
        let layer = Bf16Linear::new(&w, n, k, None);
        let scalar = layer.forward_with(&x, Bf16Kernel::Scalar, Epilogue::None);
        for kernel in kernels() {
            let got = layer.forward_with(&x, kernel, Epilogue::None);
            let worst = got.iter().zip(&scalar).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            assert!(worst <= 1e-4, "{}: {worst}", kernel.name());
        }
    }

    #[test]
    fn close_to_the_f32_product() {
        let (rows, k, n) = (8, 384, 384);
        let w = values(n * k, 11);
        let x = values(rows * k, 12);
        let layer = Bf16Linear::new(&w, n, k, None);
        let got = layer.forward(&x);
        for (r, row) in x.chunks_exact(k).enumerate() {
            let want: Vec<f32> = (0..n).map(|c| (0..k).map(|i| row[i] * w[c * k + i]).sum()).collect();
            let dot: f64 = want.iter().zip(&got[r * n..(r + 1) * n]).map(|(a, b)| (*a as f64) * (*b as f64)).sum();
            let norm = |v: &[f32]| v.iter().map(|a| (*a as f64).powi(2)).sum::<f64>().sqrt();
            let cos = dot / (norm(&want) * norm(&got[r * n..(r + 1) * n]));
            assert!(cos > 0.9999, "row {r}: cos {cos}");
        }
    }

    #[test]
    fn rows_do_not_depend_on_their_batch() {
        let (k, n) = (384, 96);
        let w = values(n * k, 21);
        let x = values(37 * k, 22);
        let layer = Bf16Linear::new(&w, n, k, Some(values(n, 23)));
        let all = layer.forward(&x);
        for r in [0, 5, 36] {
            let alone = layer.forward(&x[r * k..(r + 1) * k]);
            assert_eq!(alone, all[r * n..(r + 1) * n], "row {r}");
        }
    }
}
