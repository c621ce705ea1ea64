//! This CPU's int8, int16 and bf16 peaks and the int8, int16 and bf16 GEMMs' rates on e5's
//! layer shapes.
//!
//! ```sh
//! cargo run --release -p stance-model --example int8_peak [-- THREADS]
//! ```
//!
//! - **Peak**: each thread runs a tight loop of `vpdpbusd zmm` on 16 independent accumulators
//!   (no loads, no dependencies within an iteration), 64 multiply-adds = 128 ops per
//!   instruction; best of 5 runs of 2^26 instructions per thread.
//!   The int16 peak likewise with `vpdpwssd zmm` and the bf16 peak with `vdpbf16ps zmm` (each
//!   32 multiply-adds = 64 ops per instruction).
//!   Where the CPU has AMX tiles, the same for `tdpbf16ps` (16 × 16 × 32 multiply-adds = 16,384
//!   ops per instruction) and `tdpbusd` (16 × 16 × 64 = 32,768 ops) on four independent
//!   accumulator tiles, 2^22 instructions per thread.
//! - **Block-scaled int8**: the same products with one scale per block of 32 inputs on both
//!   sides, as `vnni_block_loop` describes: what the GEMM of that recipe could reach at best.
//! - **GEMM**: `Int8Linear::forward` and `Int16Linear::forward` (quantizing the activations
//!   included) and `Bf16Linear::forward` (rounding them included) against candle's f32 matmul
//!   on the same `[rows, k] × [k, n]`, best of 5, for e5's three linear shapes.

use candle_core::{Device, Tensor};
use stance_model::arch::bf16::{Bf16Kernel, Bf16Linear};
use stance_model::arch::int16::Int16Linear;
use stance_model::arch::int8::Int8Linear;
use stance_model::arch::kernels::IntKernel;
use std::time::Instant;

/// 16 independent accumulators, each taking `iters` `vpdpwssd` (`WORDS`: pairs of i16) or
/// `vpdpbusd` (quads of u8 × i8).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vnni")]
unsafe fn vnni_loop<const WORDS: bool>(iters: u64) -> i32 {
    use std::arch::x86_64::*;
    let a = _mm512_set1_epi32(0x0102_0304);
    let b = _mm512_set1_epi32(0x0101_0101);
    let mut acc = [_mm512_setzero_si512(); 16];
    for _ in 0..iters {
        for x in acc.iter_mut() {
            *x = if WORDS { _mm512_dpwssd_epi32(*x, a, b) } else { _mm512_dpbusd_epi32(*x, a, b) };
        }
    }
    let mut total = _mm512_setzero_si512();
    for x in acc {
        total = _mm512_add_epi32(total, x);
    }
    _mm512_reduce_add_epi32(total)
}

/// The arithmetic of an int8 GEMM with one scale per block of 32 inputs on both sides
/// (llama.cpp's Q4_0 × Q8_0 recipe; BENCH.md, "Why int8 is not the default"): for each block
/// and each of 8 accumulators (2 rows × 4 panels of 16 channels), 8 `vpdpbusd` into a fresh i32
/// sum, its conversion to f32 and a fused multiply-add by the product of the two blocks' scales
/// into the f32 accumulator. Operands stay in registers, as in `vnni_loop`; the scales are
/// constants here, so their product is computed once, where a GEMM would load them per block.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vnni")]
unsafe fn vnni_block_loop(iters: u64) -> f32 {
    use std::arch::x86_64::*;
    let mut a = [0x0102_0304, 0x0201_0403].map(|v| _mm512_set1_epi32(v));
    let b = [0x0101_0101, 0x0102_0101, 0x0101_0201, 0x0201_0101].map(|v| _mm512_set1_epi32(v));
    let weight_scales = [0.5, 0.25, 0.125, 0.0625].map(|v| _mm512_set1_ps(v));
    let row_scales = [0.5, 0.25].map(|v| _mm512_set1_ps(v));
    let mut acc = [[_mm512_setzero_ps(); 4]; 2];
    for _ in 0..iters {
        // New activations each time and per row (one add per 32 `vpdpbusd`), else the
        // compiler computes loop-invariant or identical sums once.
        for (row, (a, row_scale)) in acc.iter_mut().zip(a.iter_mut().zip(row_scales)) {
            *a = _mm512_add_epi32(*a, _mm512_set1_epi32(1));
            for ((sum, b), weight_scale) in row.iter_mut().zip(b).zip(weight_scales) {
                let mut block = _mm512_setzero_si512();
                for _ in 0..8 {
                    block = _mm512_dpbusd_epi32(block, *a, b);
                }
                let scale = _mm512_mul_ps(weight_scale, row_scale);
                *sum = _mm512_fmadd_ps(_mm512_cvtepi32_ps(block), scale, *sum);
            }
        }
    }
    let mut total = _mm512_setzero_ps();
    for x in acc.iter().flatten() {
        total = _mm512_add_ps(total, *x);
    }
    _mm512_reduce_add_ps(total)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn bf16_loop(iters: u64) -> f32 {
    use std::arch::x86_64::*;
    let a: __m512bh = std::mem::transmute(_mm512_set1_epi32(0x3F80_3F80));
    let b: __m512bh = std::mem::transmute(_mm512_set1_epi32(0x3C00_3C00));
    let mut acc = [_mm512_setzero_ps(); 16];
    for _ in 0..iters {
        for x in acc.iter_mut() {
            *x = _mm512_dpbf16_ps(*x, a, b);
        }
    }
    let mut total = _mm512_setzero_ps();
    for x in acc {
        total = _mm512_add_ps(total, x);
    }
    _mm512_reduce_add_ps(total)
}

/// GOP/s of `threads` threads each running `per_thread` (which does `ops` operations), best of 5.
fn rate(threads: usize, ops: u64, per_thread: impl Fn() + Sync) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let start = Instant::now();
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(&per_thread);
            }
        });
        best = best.min(start.elapsed().as_secs_f64());
    }
    (threads as u64 * ops) as f64 / best / 1e9
}

/// The instructions whose peak `peak` measures.
#[derive(Clone, Copy)]
enum Instruction {
    Dpbusd,
    Dpwssd,
    Dpbf16ps,
}

impl Instruction {
    fn name(self) -> &'static str {
        match self {
            Self::Dpbusd => "vpdpbusd",
            Self::Dpwssd => "vpdpwssd",
            Self::Dpbf16ps => "vdpbf16ps",
        }
    }
}

/// Peak GOP/s of `threads` threads running the instruction's loop.
fn peak(threads: usize, instruction: Instruction) -> Option<f64> {
    #[cfg(target_arch = "x86_64")]
    {
        let supported = match instruction {
            Instruction::Dpbf16ps => Bf16Kernel::Avx512.supported(),
            Instruction::Dpbusd | Instruction::Dpwssd => IntKernel::Vnni.supported(),
        };
        if !supported {
            return None;
        }
        let iters: u64 = 1 << 22; // × 16 instructions
        let ops_per_instruction = if matches!(instruction, Instruction::Dpbusd) { 128 } else { 64 };
        Some(rate(threads, iters * 16 * ops_per_instruction, || {
            let iters = std::hint::black_box(iters);
            // SAFETY: the CPU supports the loop's instructions (checked above).
            unsafe {
                match instruction {
                    Instruction::Dpbusd => drop(std::hint::black_box(vnni_loop::<false>(iters))),
                    Instruction::Dpwssd => drop(std::hint::black_box(vnni_loop::<true>(iters))),
                    Instruction::Dpbf16ps => drop(std::hint::black_box(bf16_loop(iters))),
                }
            }
        }))
    }
    #[cfg(not(target_arch = "x86_64"))]
    None
}

/// GOP/s of `threads` threads running `vnni_block_loop`, counting the `vpdpbusd` products
/// only (128 ops each, 64 instructions per iteration); `None` without AVX-512 VNNI.
fn block_scaled_peak(threads: usize) -> Option<f64> {
    #[cfg(target_arch = "x86_64")]
    {
        if !IntKernel::Vnni.supported() {
            return None;
        }
        let iters: u64 = 1 << 20; // × 64 `vpdpbusd`
        Some(rate(threads, iters * 64 * 128, || {
            let iters = std::hint::black_box(iters);
            // SAFETY: the CPU supports the loop's instructions (checked above).
            unsafe { std::hint::black_box(vnni_block_loop(iters)) };
        }))
    }
    #[cfg(not(target_arch = "x86_64"))]
    None
}

/// Peak GOP/s of `threads` threads running AMX `tdpbusd` (`int8`) or `tdpbf16ps` on four
/// accumulator tiles; `None` without AMX (AMX-INT8 is CPUID leaf 7, EDX bit 25).
fn amx_peak(threads: usize, int8: bool) -> Option<f64> {
    #[cfg(target_arch = "x86_64")]
    {
        use stance_model::arch::amx::{bf16_usable, Tiles};
        use std::arch::asm;
        // SAFETY: CPUID exists on every x86-64 CPU.
        #[allow(unused_unsafe)]
        let amx_int8 = unsafe { std::arch::x86_64::__cpuid_count(7, 0) }.edx & (1 << 25) != 0;
        if !bf16_usable() || (int8 && !amx_int8) {
            return None;
        }
        let iters: u64 = 1 << 20; // × 4 instructions
        let ops_per_instruction = if int8 { 32_768 } else { 16_384 };
        Some(rate(threads, iters * 4 * ops_per_instruction, || {
            let iters = std::hint::black_box(iters);
            // SAFETY: the CPU, the OS and the process allow tiles (checked above); the loop
            // touches tile registers only.
            unsafe {
                let _tiles = Tiles::new();
                for _ in 0..iters {
                    if int8 {
                        asm!("tdpbusd tmm0, tmm4, tmm6", "tdpbusd tmm1, tmm4, tmm7",
                             "tdpbusd tmm2, tmm5, tmm6", "tdpbusd tmm3, tmm5, tmm7", options(nostack, nomem));
                    } else {
                        asm!("tdpbf16ps tmm0, tmm4, tmm6", "tdpbf16ps tmm1, tmm4, tmm7",
                             "tdpbf16ps tmm2, tmm5, tmm6", "tdpbf16ps tmm3, tmm5, tmm7", options(nostack, nomem));
                    }
                }
            }
        }))
    }
    #[cfg(not(target_arch = "x86_64"))]
    None
}

fn best_of<F: FnMut()>(mut f: F) -> f64 {
    f();
    (0..5)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let threads: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(2);
    stance_model::threads::limit_threads(threads).expect("threads");
    println!(
        "int8 and int16 kernel: {}, bf16 kernel: {}",
        IntKernel::detect().name(),
        Bf16Kernel::detect().name()
    );
    for instruction in [Instruction::Dpbusd, Instruction::Dpwssd, Instruction::Dpbf16ps] {
        let name = instruction.name();
        for t in [1, threads] {
            match peak(t, instruction) {
                Some(gops) => println!("{name} peak, {t} thread(s): {gops:.1} GOP/s"),
                None => println!("{name}: not on this CPU"),
            }
        }
    }
    for t in [1, threads] {
        match block_scaled_peak(t) {
            Some(gops) => println!("vpdpbusd with a scale per 32 inputs, {t} thread(s): {gops:.1} GOP/s"),
            None => println!("vpdpbusd with a scale per 32 inputs: not on this CPU"),
        }
    }
    for (int8, name) in [(true, "AMX tdpbusd (int8)"), (false, "AMX tdpbf16ps (bf16)")] {
        for t in [1, threads] {
            match amx_peak(t, int8) {
                Some(gops) => println!("{name} peak, {t} thread(s): {gops:.1} GOP/s"),
                None => println!("{name}: not on this CPU"),
            }
        }
    }
    let rows = 2048;
    for (k, n) in [(384, 384), (384, 1536), (1536, 384)] {
        let x: Vec<f32> = (0..rows * k).map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0).collect();
        let w: Vec<f32> = (0..n * k).map(|i| ((i * 104_729 % 1000) as f32 / 5000.0) - 0.1).collect();
        let layer = Int8Linear::new(&w, n, k, Some(vec![0.1; n]));
        let ops = 2.0 * (rows * k * n) as f64;
        let t_int8 = best_of(|| {
            std::hint::black_box(layer.forward(&x));
        });
        let int16_layer = Int16Linear::new(&w, n, k, Some(vec![0.1; n]));
        let t_int16 = best_of(|| {
            std::hint::black_box(int16_layer.forward(&x));
        });
        let bf16_layer = Bf16Linear::new(&w, n, k, Some(vec![0.1; n]));
        let t_bf16 = best_of(|| {
            std::hint::black_box(bf16_layer.forward(&x));
        });
        let xt = Tensor::from_vec(x.clone(), (rows, k), &Device::Cpu).unwrap();
        let wt = Tensor::from_vec(w.clone(), (n, k), &Device::Cpu).unwrap();
        let lin = candle_nn::Linear::new(wt, Some(Tensor::from_vec(vec![0.1f32; n], n, &Device::Cpu).unwrap()));
        let t_f32 = best_of(|| {
            std::hint::black_box(candle_core::Module::forward(&lin, &xt).unwrap());
        });
        println!(
            "[{rows}×{k}]·[{k}×{n}]: int8 {:.1} GOP/s ({:.2} ms), int16 {:.1} GOP/s ({:.2} ms), bf16 {:.1} GFLOP/s ({:.2} ms), candle f32 {:.1} GFLOP/s ({:.2} ms), int8 {:.2}×, int16 {:.2}×",
            ops / t_int8 / 1e9,
            t_int8 * 1e3,
            ops / t_int16 / 1e9,
            t_int16 * 1e3,
            ops / t_bf16 / 1e9,
            t_bf16 * 1e3,
            ops / t_f32 / 1e9,
            t_f32 * 1e3,
            t_f32 / t_int8,
            t_f32 / t_int16
        );
    }
}
