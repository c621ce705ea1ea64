//! The trainable transformer layer: candle's matmuls, and the LayerNorm, softmax and GELU of
//! [`crate::ops`], which carry their own backward passes.
//!
//! candle 0.11's `candle_nn::LayerNorm` / `ops::layer_norm` and `softmax_last_dim` run fused
//! kernels that have no backward pass: gradients stop at them without an error (candle issues
//! #2168, #3011), and `stance-model`'s fast CPU kernels are `apply_op1_no_bwd` for the same
//! reason. The forward equals `stance_model`'s `PostLnLayer` on the same weights (a test checks
//! it to 1e-5), and the gradients match finite differences (tests/layer.rs).

use crate::ops;
use candle_core::{Result, Tensor, D};
use stance_model::arch::layers::PostLnWeights;

/// Additive attention bias on padding. Any value whose `exp` underflows gives the same
/// probabilities as inference's `f32::MIN`; this one keeps every intermediate finite.
pub const MASKED: f32 = -1e9;

/// `y = x Wᵀ + b` for `x: [.., in]`, `w: [out, in]`, `b: [out]`.
pub fn linear(x: &Tensor, w: &Tensor, b: &Tensor) -> Result<Tensor> {
    let dims = x.dims().to_vec();
    let last = *dims.last().expect("rank ≥ 1");
    let rows = x.elem_count() / last;
    let y = ops::add_bias(&x.reshape((rows, last))?.matmul(&w.t()?)?, b)?;
    let mut out = dims;
    *out.last_mut().expect("rank ≥ 1") = w.dim(0)?;
    y.reshape(out)
}

/// Log-softmax over the last axis, from primitive ops.
pub fn log_softmax(x: &Tensor) -> Result<Tensor> {
    let max = x.max_keepdim(D::Minus1)?.detach();
    let shifted = x.broadcast_sub(&max)?;
    let lse = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
    shifted.broadcast_sub(&lse)
}

/// The parameters of one post-LN BERT layer, by role. Linear weights are `[out, in]`.
#[derive(Debug, Clone)]
pub struct LayerParams {
    pub query_w: Tensor,
    pub query_b: Tensor,
    pub key_w: Tensor,
    pub key_b: Tensor,
    pub value_w: Tensor,
    pub value_b: Tensor,
    pub attn_out_w: Tensor,
    pub attn_out_b: Tensor,
    pub attn_norm_w: Tensor,
    pub attn_norm_b: Tensor,
    pub ffn_in_w: Tensor,
    pub ffn_in_b: Tensor,
    pub ffn_out_w: Tensor,
    pub ffn_out_b: Tensor,
    pub ffn_norm_w: Tensor,
    pub ffn_norm_b: Tensor,
}

/// The names of a layer's tensors (Hugging Face `BertLayer` names), in [`LayerParams`] order.
pub const PARAM_NAMES: [&str; 16] = [
    "attention.self.query.weight",
    "attention.self.query.bias",
    "attention.self.key.weight",
    "attention.self.key.bias",
    "attention.self.value.weight",
    "attention.self.value.bias",
    "attention.output.dense.weight",
    "attention.output.dense.bias",
    "attention.output.LayerNorm.weight",
    "attention.output.LayerNorm.bias",
    "intermediate.dense.weight",
    "intermediate.dense.bias",
    "output.dense.weight",
    "output.dense.bias",
    "output.LayerNorm.weight",
    "output.LayerNorm.bias",
];

/// An encoder layer's tensors in [`PARAM_NAMES`] order (the trainable copy's starting point),
/// or the first name it lacks.
pub fn param_list(weights: &PostLnWeights) -> std::result::Result<Vec<Tensor>, &'static str> {
    PARAM_NAMES
        .iter()
        .map(|&n| weights.tensors.iter().find(|(k, _)| k == n).map(|(_, t)| t.clone()).ok_or(n))
        .collect()
}

impl LayerParams {
    /// From 16 tensors in [`PARAM_NAMES`] order.
    pub fn from_list(t: &[Tensor]) -> Self {
        assert_eq!(t.len(), 16, "a layer has 16 tensors");
        LayerParams {
            query_w: t[0].clone(),
            query_b: t[1].clone(),
            key_w: t[2].clone(),
            key_b: t[3].clone(),
            value_w: t[4].clone(),
            value_b: t[5].clone(),
            attn_out_w: t[6].clone(),
            attn_out_b: t[7].clone(),
            attn_norm_w: t[8].clone(),
            attn_norm_b: t[9].clone(),
            ffn_in_w: t[10].clone(),
            ffn_in_b: t[11].clone(),
            ffn_out_w: t[12].clone(),
            ffn_out_b: t[13].clone(),
            ffn_norm_w: t[14].clone(),
            ffn_norm_b: t[15].clone(),
        }
    }
}

/// One post-LN layer forward: self-attention, add & norm, erf-GELU feed-forward, add & norm.
/// `x: [batch, seq, hidden]`; `mask_bias: [batch, 1, 1, seq]` (0 on tokens, [`MASKED`] on pads).
pub fn layer_forward(
    p: &LayerParams,
    x: &Tensor,
    mask_bias: Option<&Tensor>,
    heads: usize,
    eps: f64,
) -> Result<Tensor> {
    let (batch, seq, hidden) = x.dims3()?;
    let head_dim = hidden / heads;
    let split = |t: Tensor| -> Result<Tensor> {
        t.reshape((batch, seq, heads, head_dim))?
            .transpose(1, 2)?
            .contiguous()
    };
    let q = split(linear(x, &p.query_w, &p.query_b)?)?;
    let k = split(linear(x, &p.key_w, &p.key_b)?)?;
    let v = split(linear(x, &p.value_w, &p.value_b)?)?;
    let scores = q.matmul(&k.t()?.contiguous()?)?;
    let probs = ops::masked_softmax(&scores, mask_bias, 1.0 / (head_dim as f64).sqrt())?;
    let context = probs
        .matmul(&v)?
        .transpose(1, 2)?
        .contiguous()?
        .reshape((batch, seq, hidden))?;
    let attended = ops::layer_norm(
        &(linear(&context, &p.attn_out_w, &p.attn_out_b)? + x)?,
        &p.attn_norm_w,
        &p.attn_norm_b,
        eps,
    )?;
    let inner = ops::gelu_erf(&linear(&attended, &p.ffn_in_w, &p.ffn_in_b)?)?;
    ops::layer_norm(
        &(linear(&inner, &p.ffn_out_w, &p.ffn_out_b)? + attended)?,
        &p.ffn_norm_w,
        &p.ffn_norm_b,
        eps,
    )
}
