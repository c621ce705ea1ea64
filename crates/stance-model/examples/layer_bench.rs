//! The time of one e5-small-shaped encoder layer (hidden 384, 12 heads, FFN 1536, erf GELU) in
//! each arithmetic, on one batch: the layer alone, without tokenizing, pooling or writing. On a
//! shared 2-vCPU slice even the best of 50 moved by ±10 % from one call to the next: compare
//! binaries by alternating them several times, and trust only differences larger than that.
//!
//! ```sh
//! cargo run --release -p stance-model --example layer_bench [-- ROWS SEQ THREADS]
//! ```
//!
//! Random weights and inputs (fixed seeds); best of 50 runs after a warm-up, with the mask of a
//! batch whose last row is half padding.

use candle_core::{DType, Device, Tensor};
use stance_model::arch::layers::{MatmulMode, PostLnLayer, PostLnWeights};
use stance_model::config::Activation;
use std::time::Instant;

fn random(shape: &[usize], seed: u64, scale: f32) -> Tensor {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let n: usize = shape.iter().product();
    let values: Vec<f32> = (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 2.0 * scale
        })
        .collect();
    Tensor::from_vec(values, shape, &Device::Cpu).expect("tensor")
}

fn weights(hidden: usize, intermediate: usize) -> PostLnWeights {
    let mut tensors = Vec::new();
    let linears = [
        ("attention.self.query", hidden, hidden),
        ("attention.self.key", hidden, hidden),
        ("attention.self.value", hidden, hidden),
        ("attention.output.dense", hidden, hidden),
        ("intermediate.dense", hidden, intermediate),
        ("output.dense", intermediate, hidden),
    ];
    for (seed, (name, i, o)) in linears.into_iter().enumerate() {
        tensors.push((format!("{name}.weight"), random(&[o, i], seed as u64 + 1, 1.0 / (i as f32).sqrt())));
        tensors.push((format!("{name}.bias"), random(&[o], seed as u64 + 101, 0.02)));
    }
    for name in ["attention.output.LayerNorm", "output.LayerNorm"] {
        tensors.push((format!("{name}.weight"), Tensor::ones(hidden, DType::F32, &Device::Cpu).expect("ones")));
        tensors.push((format!("{name}.bias"), Tensor::zeros(hidden, DType::F32, &Device::Cpu).expect("zeros")));
    }
    PostLnWeights { tensors, heads: 12, eps: 1e-12, activation: Activation::GeluErf }
}

fn main() {
    let arg = |i: usize, default: usize| std::env::args().nth(i).and_then(|s| s.parse().ok()).unwrap_or(default);
    let (rows, seq, threads) = (arg(1, 32), arg(2, 64), arg(3, 2));
    stance_model::threads::limit_threads(threads).expect("threads");
    let (hidden, intermediate) = (384, 1536);
    let weights = weights(hidden, intermediate);
    let x = random(&[rows, seq, hidden], 7, 1.0);
    let mask: Vec<f32> = (0..rows * seq).map(|i| if i >= (rows - 1) * seq + seq / 2 { f32::MIN } else { 0.0 }).collect();
    let mask = Tensor::from_vec(mask, (rows, 1, 1, seq), &Device::Cpu).expect("mask");
    let flops = 2.0 * (rows * seq) as f64 * (4 * hidden * hidden + 2 * hidden * intermediate) as f64
        + 4.0 * (rows * seq * seq * hidden) as f64;
    println!("one layer, [{rows} × {seq}] tokens, {threads} thread(s)");
    for (mode, name) in [(MatmulMode::F32, "f32"), (MatmulMode::Bf16, "bf16"), (MatmulMode::Int8, "int8"), (MatmulMode::Int16, "int16")] {
        let layer = PostLnLayer::from_weights(&weights, mode).expect("layer");
        let run = || layer.forward(&x, Some(&mask)).expect("forward");
        run();
        let best = (0..50)
            .map(|_| {
                let start = Instant::now();
                std::hint::black_box(run());
                start.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min);
        println!("{name}: {:.3} ms, {:.1} GFLOP/s", best * 1e3, flops / best / 1e9);
    }
}
