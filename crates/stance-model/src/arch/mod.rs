//! Architecture families. Each submodule loads one family from a config and weights.
//!
//! - [`bert`]: BERT, XLM-RoBERTa/CamemBERT/RoBERTa and multilingual-e5, f32 or quantized.
//! - [`distilbert`]: DistilBERT, f32 or quantized.
//! - [`deberta`]: DeBERTa-v2/v3 (candle-transformers' encoder), f32.
//! - [`modernbert`]: ModernBERT (candle-transformers' encoder, own logits head), f32.

#[cfg(target_arch = "x86_64")]
pub mod amx;
pub mod bert;
pub mod bf16;
pub mod deberta;
pub mod distilbert;
pub mod inputs;
pub mod int16;
pub mod int8;
pub mod kernels;
pub mod layers;
pub mod modernbert;

/// Deterministic pseudo-random values uniform in [-1, 1) (xorshift), for the kernels' tests.
#[cfg(test)]
pub(crate) fn test_values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}
