//! The time of attention's core alone (`kernels::attention`, e5-small's shape: hidden 384, 12
//! heads of 32) on one batch, in each arithmetic: f32 with separate multiplies and adds, f32
//! multiply-adds, and bfloat16 products on AMX tiles or with AVX-512 BF16 (f32 multiply-adds
//! again where the CPU has neither).
//! Best of 30 runs, twice each, alternating: on a shared 2-vCPU slice trust only differences
//! larger than the spread between the two.
//!
//! ```sh
//! cargo run --release -p stance-model --example attention_bench [-- ROWS SEQ]
//! ```

use candle_core::{Device, Tensor};
use stance_model::arch::kernels::{attention, AttentionMath};
use std::time::Instant;

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().expect("ROWS SEQ as numbers")).collect();
    let (rows, seq) = match args[..] {
        [rows, seq] => (rows, seq),
        _ => (32, 64),
    };
    let (hidden, heads) = (384, 12);
    // Queries, keys and values uniform in [-2, 2) (xorshift, fixed seed).
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let values: Vec<f32> = (0..rows * seq * 3 * hidden)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 4.0
        })
        .collect();
    let qkv = Tensor::from_vec(values, (rows, seq, 3 * hidden), &Device::Cpu).expect("tensor");
    let scale = 1.0 / ((hidden / heads) as f64).sqrt();
    println!("attention, [{rows} × {seq}] tokens, {heads} heads");
    for _ in 0..2 {
        for math in [AttentionMath::Exact, AttentionMath::Fused, AttentionMath::Bf16] {
            let mut best = f64::MAX;
            for _ in 0..30 {
                let start = Instant::now();
                attention(&qkv, None, heads, scale, math).expect("attention");
                best = best.min(start.elapsed().as_secs_f64());
            }
            println!("{math:?}: {:.3} ms", best * 1e3);
        }
    }
}
