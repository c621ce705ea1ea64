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
