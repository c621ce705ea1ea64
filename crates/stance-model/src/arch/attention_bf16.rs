//! One head's attention in bfloat16: the scores `Q Kᵀ` and the context `P V` as bfloat16
//! products summed in f32, on AMX tiles (`tdpbf16ps`, `super::amx`) or with AVX-512 BF16's
//! `vdpbf16ps` (`super::bf16::block_32x32`), which read the same operand layout; the scale, mask
//! and softmax in f32 between them (`super::kernels`).
//!
//! Why: where the linear layers run on the tiles, attention's f32 multiply-adds were the
//! largest cost left (23 % of an all-tasks profile, beside 33 % for every GEMM together); on a
//! CPU without tiles, `vdpbf16ps` does twice the multiply-adds of an f32 FMA per instruction.
//! It serves the bf16 arithmetic, whose linear layers already round their inputs to bfloat16,
//! and int8, whose errors are larger: queries, keys, values and probabilities are rounded the
//! same way (nearest, ties to even), and the error this adds is measured in BENCH.md.
//!
//! Blocks of 32 queries × 32 keys (scores) and 32 queries × 32 channels (context), whole tiles:
//! queries past the head's last position are zero rows, keys past it zero columns whose
//! probabilities are set to 0. A query's context sums whole chunks of 32 keys in order up to
//! the chunk of its row's last unmasked key, so it depends on its own row's tokens only, not
//! on its batch's padded width.

use super::amx::{sized, Tiles, TILE_COLS, TILE_K, TILE_ROWS};
use super::bf16::{block_32x32, round_to_bf16, Bf16Kernel};
use super::kernels::{scale_and_mask, softmax_rows, weighted_keys, Head};
use std::arch::x86_64::*;
use std::cell::Cell;

/// Queries, keys and context channels per block: two tiles' rows or columns.
const BLOCK: usize = 2 * TILE_ROWS;
const _: () = assert!(BLOCK == 2 * TILE_COLS && BLOCK == TILE_K);

/// How many positions ahead the rounding loop asks for a row's lines: about a memory
/// latency's worth of its iterations.
const PREFETCH_AHEAD: usize = 16;

/// What multiplies the bfloat16 blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Products {
    /// AMX tiles' `tdpbf16ps`.
    Tiles,
    /// AVX-512 BF16's `vdpbf16ps`.
    Vdpbf16,
}

impl Products {
    /// The fastest this process can run for heads of `d` dimensions (whole chunks of 32), if
    /// any.
    pub fn available(d: usize) -> Option<Self> {
        if d == 0 || d % TILE_K != 0 {
            None
        } else if super::amx::bf16_usable() {
            Some(Self::Tiles)
        } else if Bf16Kernel::Avx512.supported() {
            Some(Self::Vdpbf16)
        } else {
            None
        }
    }
}

/// One head's attention for one batch row: its context, `[seq, d]`, as
/// `super::kernels::attention` documents it.
///
/// # Safety
/// [`Products::available`]`(head.d)` must have returned `products`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")]
pub unsafe fn attend_head(qkv: &[f32], head: Head, bias: Option<&[f32]>, scale: f32, products: Products) -> Vec<f32> {
    let Head { seq, stride, d, query, key, value } = head;
    debug_assert_eq!(Products::available(d), Some(products));
    if seq == 0 {
        return Vec::new();
    }
    let width = seq.next_multiple_of(BLOCK);
    let row = |start: usize, j: usize| &qkv[start + j * stride..start + j * stride + d];
    let mut scratch = SCRATCH.take();
    // The head's queries, keys and values rounded, `[width][d]` codes each, zero rows past
    // `seq`. The queries are the scores' A operand as they are (a row per query).
    let rounded = sized(&mut scratch.rounded, 3 * width * d);
    let (queries, rest) = rounded.split_at_mut(width * d);
    let (key_rows, value_rows) = rest.split_at_mut(width * d);
    // The rows lie a whole projection row apart (`stride`, 4.5 kB for e5), each on a page of
    // its own, where the hardware prefetcher does not follow: the loads of this loop waited
    // on memory (38 % of this function's samples). Every 64-byte line of a row's query,
    // key and value is requested `PREFETCH_AHEAD` positions before it is read (the first
    // rows' all at once, before the loop).
    let lines = (d * std::mem::size_of::<f32>()).div_ceil(64);
    let prefetch = |j: usize| {
        for start in [query, key, value] {
            let first = qkv.as_ptr().add(start + j * stride) as *const i8;
            for line in 0..lines {
                _mm_prefetch::<_MM_HINT_T0>(first.add(64 * line));
            }
        }
    };
    (0..seq.min(PREFETCH_AHEAD)).for_each(prefetch);
    for j in 0..seq {
        if j + PREFETCH_AHEAD < seq {
            prefetch(j + PREFETCH_AHEAD);
        }
        round_to_bf16(row(query, j), &mut queries[j * d..(j + 1) * d]);
        round_to_bf16(row(key, j), &mut key_rows[j * d..(j + 1) * d]);
        round_to_bf16(row(value, j), &mut value_rows[j * d..(j + 1) * d]);
    }
    for rows in [&mut *queries, &mut *key_rows, &mut *value_rows] {
        rows[seq * d..].fill(0);
    }
    // Keys in panels of 16 keys, `[width / 16][d / 2][16]` pairs of codes (the B operand of the
    // scores: dimension pairs down, keys across): each panel's pairs transposed, a gather of
    // one pair from each of its 16 keys at a time.
    let key_panel = d / 2 * TILE_COLS;
    let keys = sized(&mut scratch.keys, width / TILE_COLS * key_panel);
    // Key `l` of a panel starts `l · d / 2` pairs after its first.
    let lanes = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    let key_starts = _mm512_mullo_epi32(lanes, _mm512_set1_epi32((d / 2) as i32));
    for (panel, out) in keys.chunks_exact_mut(key_panel).enumerate() {
        let first = key_rows[panel * TILE_COLS * d..].as_ptr() as *const i32;
        for (i, pairs) in out.chunks_exact_mut(TILE_COLS).enumerate() {
            let gathered = _mm512_i32gather_epi32::<4>(key_starts, first.add(i));
            _mm512_storeu_si512(pairs.as_mut_ptr() as *mut _, gathered);
        }
    }
    // Values in panels of 16 channels, `[d / 16][width / 2][16][2]` codes (the B operand of the
    // context: key pairs down, channels across): two keys' rows interleaved, 32 channels (two
    // panels) at a time.
    let value_panel = width * TILE_COLS;
    let values = sized(&mut scratch.values, d / TILE_COLS * value_panel);
    // Channel `c` of the first key, then of the second (codes 32 on), for c in 0..16 and 16..32.
    let interleave: [__m512i; 2] = std::array::from_fn(|half| {
        let idx: [i16; 32] = std::array::from_fn(|e| (half * 16 + e / 2 + (e % 2) * 32) as i16);
        _mm512_loadu_si512(idx.as_ptr() as *const _)
    });
    for (pair, rows) in value_rows.chunks_exact(2 * d).enumerate() {
        for g in (0..d).step_by(2 * TILE_COLS) {
            let first = _mm512_loadu_si512(rows[g..].as_ptr() as *const _);
            let second = _mm512_loadu_si512(rows[d + g..].as_ptr() as *const _);
            for (half, idx) in interleave.iter().enumerate() {
                let panel = g / TILE_COLS + half;
                let out = values[panel * value_panel + pair * 2 * TILE_COLS..].as_mut_ptr();
                _mm512_storeu_si512(out as *mut _, _mm512_permutex2var_epi16(first, *idx, second));
            }
        }
    }
    let tiles = (products == Products::Tiles).then(|| Tiles::new());
    // `a`'s 32 rows × `b`'s 2 panels over `chunks` chunks of 32 inputs, into `c`.
    let block = |a: *const u16, a_stride, b: *const u16, b_stride, chunks, c: *mut f32, c_stride| match &tiles {
        Some(tiles) => tiles.bf16_block::<2, 2>(a, a_stride, b, b_stride, chunks, c, c_stride),
        None => block_32x32(a, a_stride, b, b_stride, chunks, c, c_stride),
    };
    // A block's scores, then probabilities, `[BLOCK][width]` (the blocks write every one), and
    // the probabilities' codes (rows past the real queries keep earlier codes: never NaN).
    let scores = sized(&mut scratch.scores, BLOCK * width);
    let probs = sized(&mut scratch.probs, BLOCK * width);
    // Whole blocks of rows, which the blocks write (so not zeroed first), cut to `seq` after.
    let mut context: Vec<f32> = Vec::with_capacity(width * d);
    for i0 in (0..seq).step_by(BLOCK) {
        let real = (seq - i0).min(BLOCK);
        let a = queries.as_ptr().add(i0 * d);
        for k0 in (0..width).step_by(BLOCK) {
            let b = keys.as_ptr().add(k0 / TILE_COLS * key_panel) as *const u16;
            let c = scores.as_mut_ptr().add(k0);
            block(a, d, b, 2 * key_panel, d / TILE_K, c, width);
        }
        // Rows past the real queries are left as they are: their context is never written.
        let real_scores = &mut scores[..real * width];
        for row in real_scores.chunks_exact_mut(width) {
            let (row, past) = row.split_at_mut(seq);
            scale_and_mask(row, bias, scale);
            past.fill(0.0);
        }
        softmax_rows(real_scores, width, seq);
        // Chunks of keys up to the last one with a nonzero weight in a real query's row (past
        // it, the padding's weights are exactly 0).
        let chunks = weighted_keys(real_scores, width, seq).div_ceil(TILE_K);
        for (row, out) in real_scores.chunks_exact(width).zip(probs.chunks_exact_mut(width)) {
            round_to_bf16(&row[..chunks * TILE_K], &mut out[..chunks * TILE_K]);
        }
        for c0 in (0..d).step_by(BLOCK) {
            let b = values.as_ptr().add(c0 / TILE_COLS * value_panel);
            let c = context.as_mut_ptr().add(i0 * d + c0);
            block(probs.as_ptr(), width, b, value_panel, chunks, c, d);
        }
    }
    drop(tiles);
    SCRATCH.set(scratch);
    // SAFETY: each block of 32 queries had its 32 rows × `d` channels written.
    context.set_len(width * d);
    context.truncate(seq * d);
    context
}

/// Buffers a thread reuses from head to head: allocated and zeroed for each head, they showed
/// as `memset`, 3 % of an all-tasks profile.
#[derive(Default)]
struct Scratch {
    rounded: Vec<u16>,
    keys: Vec<u32>,
    values: Vec<u16>,
    scores: Vec<f32>,
    probs: Vec<u16>,
}

thread_local! {
    static SCRATCH: Cell<Scratch> = Cell::new(Scratch::default());
}

