//! Building blocks shared by the architectures written in this crate: linear layers that are
//! either f32 or quantized, embedding tables that may stay quantized, LayerNorm, activations,
//! and the post-LN transformer layer of BERT and DistilBERT.

use super::bf16::Bf16Linear;
use super::int16::Int16Linear;
use super::int8::Int8Linear;
use super::kernels::{self, AttentionMath, Epilogue, GemmOp, RowGemm};
use crate::config::Activation;
use crate::error::ModelError;
use crate::load::Compute;
use crate::weights::WeightStore;
use candle_core::quantized::{QMatMul, QTensor};
use candle_core::{Module, Tensor};

/// Whether block-quantized weights (GGUF Q4_0/Q8_0) run as quantized matmuls or are expanded
/// to f32 at load. Weights stored as floats always run in f32.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatmulMode {
    /// Dequantize everything at load: the reference path, exact up to float rounding.
    F32,
    /// Expand the linear layers to f32 at load (exact, and several times faster than candle's
    /// `QMatMul` on CPU) but keep lookup tables in blocks, dequantizing rows as they are looked
    /// up: the 250k-row multilingual vocabulary is most of the parameters and stays 4-bit.
    F32LinearsQuantizedTables,
    /// Keep Q4_0/Q8_0 blocks and multiply with candle's `QMatMul` (activations are quantized to
    /// Q8_0 per 32-block, as in ggml); embedding rows are dequantized only when looked up.
    Quantized,
    /// Linear layers in int8 with scales per block of 32 inputs: the weights' own Q4_0/Q8_0
    /// blocks as stored, or float weights in 8-bit codes per block, times activations quantized
    /// per token and block at run time (see [`super::int8`]); lookup tables as in
    /// `F32LinearsQuantizedTables`.
    Int8,
    /// Linear layers in bfloat16 (weights rounded at load, activations at run time, sums in
    /// f32; see [`super::bf16`]); lookup tables as in `F32LinearsQuantizedTables`.
    Bf16,
    /// Linear layers with int16 activations (per token) and the weights' own Q4_0/Q8_0 blocks
    /// as stored, or float weights in 12-bit codes per block of 32 (see [`super::int16`]);
    /// lookup tables as in `F32LinearsQuantizedTables`.
    Int16,
}

/// A dense layer `y = x W^T + b`, with `W` in f32 or as GGML blocks.
#[derive(Debug, Clone)]
pub enum Linear {
    F32(candle_nn::Linear),
    Quantized {
        weight: QMatMul,
        bias: Option<Tensor>,
    },
    /// Block-scaled int8 weights and the f32 bias, run by [`super::int8`]'s kernels.
    Int8(std::sync::Arc<Int8Linear>),
    /// Bfloat16 weights and the f32 bias, run by [`super::bf16`]'s kernels.
    Bf16(std::sync::Arc<Bf16Linear>),
    /// Block-scaled integer weights and the f32 bias, run by [`super::int16`]'s kernels.
    Int16(std::sync::Arc<Int16Linear>),
}

impl Linear {
    /// Loads `{prefix}.weight` (`[out_dim, in_dim]`) and, when `with_bias`, `{prefix}.bias`.
    pub fn load(
        store: &WeightStore,
        prefix: &str,
        in_dim: usize,
        out_dim: usize,
        with_bias: bool,
        mode: MatmulMode,
    ) -> Result<Self, ModelError> {
        Self::load_stacked(store, &[(prefix, out_dim)], in_dim, with_bias, mode)
    }

    /// Layers that read the same input, `(prefix, out_dim)` each, loaded as one whose outputs
    /// lie side by side in their order (weight `[Σ out_dim, in_dim]`). Each output is the one
    /// its own layer gives (its weights' rows are unchanged), but the input is quantized once
    /// and multiplied in one pass: the attention's query, key and value projections.
    pub fn load_stacked(
        store: &WeightStore,
        parts: &[(&str, usize)],
        in_dim: usize,
        with_bias: bool,
        mode: MatmulMode,
    ) -> Result<Self, ModelError> {
        let out_dim = parts.iter().map(|&(_, o)| o).sum();
        let bias = match with_bias {
            true => {
                let biases = parts
                    .iter()
                    .map(|&(prefix, o)| store.f32_tensor(&format!("{prefix}.bias"), &[o]))
                    .collect::<Result<Vec<_>, _>>()?;
                Some(Tensor::cat(&biases, 0)?)
            }
            false => None,
        };
        if matches!(mode, MatmulMode::Quantized | MatmulMode::Int16 | MatmulMode::Int8) {
            if let Some(blocks) = stacked_blocks(store, parts, in_dim)? {
                if mode == MatmulMode::Quantized {
                    return Ok(Self::Quantized {
                        weight: QMatMul::from_qtensor(blocks)?,
                        bias,
                    });
                }
                // The stored blocks' own codes and scales, when the kernels take their type.
                let b = bias.as_ref().map(|b| b.to_vec1::<f32>()).transpose()?;
                let layer = match mode {
                    MatmulMode::Int8 => Int8Linear::from_blocks(&blocks, b)?.map(|l| Self::Int8(std::sync::Arc::new(l))),
                    _ => Int16Linear::from_blocks(&blocks, b)?.map(|l| Self::Int16(std::sync::Arc::new(l))),
                };
                if let Some(layer) = layer {
                    return Ok(layer);
                }
            }
        }
        let weights = parts
            .iter()
            .map(|&(prefix, o)| store.f32_tensor(&format!("{prefix}.weight"), &[o, in_dim]))
            .collect::<Result<Vec<_>, _>>()?;
        let weight = match weights.len() {
            1 => weights.into_iter().next().expect("one weight"),
            _ => Tensor::cat(&weights, 0)?,
        };
        debug_assert_eq!(weight.dims(), [out_dim, in_dim]);
        Ok(Self::from_f32(weight, bias, mode)?)
    }

    /// A layer from its f32 weight `[out_dim, in_dim]` and bias, in `mode`'s arithmetic
    /// (`Quantized` keeps f32: there are no blocks to keep).
    pub fn from_f32(weight: Tensor, bias: Option<Tensor>, mode: MatmulMode) -> candle_core::Result<Self> {
        if matches!(mode, MatmulMode::Int8 | MatmulMode::Bf16 | MatmulMode::Int16) && weight.device().is_cpu() {
            let (out_dim, in_dim) = weight.dims2()?;
            let w: Vec<f32> = weight.flatten_all()?.to_vec1()?;
            let b = bias.as_ref().map(|b| b.to_vec1::<f32>()).transpose()?;
            return Ok(match mode {
                MatmulMode::Int8 => Self::Int8(std::sync::Arc::new(Int8Linear::new(&w, out_dim, in_dim, b))),
                MatmulMode::Int16 => Self::Int16(std::sync::Arc::new(Int16Linear::new(&w, out_dim, in_dim, b))),
                _ => Self::Bf16(std::sync::Arc::new(Bf16Linear::new(&w, out_dim, in_dim, b))),
            });
        }
        Ok(Self::F32(candle_nn::Linear::new(weight, bias)))
    }

    /// The weight `[out_dim, in_dim]` and bias as f32 tensors (quantized blocks are expanded).
    pub fn f32_parts(&self) -> candle_core::Result<(Tensor, Option<Tensor>)> {
        match self {
            Self::F32(linear) => Ok((linear.weight().clone(), linear.bias().cloned())),
            Self::Quantized { weight, bias } => {
                let w = match weight {
                    QMatMul::QTensor(q) => q.dequantize(&candle_core::Device::Cpu)?,
                    QMatMul::Tensor(t) => t.clone(),
                    QMatMul::TensorF16(t) => t.to_dtype(candle_core::DType::F32)?,
                };
                Ok((w, bias.clone()))
            }
            Self::Int8(_) | Self::Bf16(_) | Self::Int16(_) => Err(candle_core::Error::Msg(format!(
                "{} layers keep no f32 weights: load the model with --compute f32 to read them",
                self.compute()
            ))),
        }
    }

    pub fn is_quantized(&self) -> bool {
        matches!(
            self,
            Self::Quantized {
                weight: QMatMul::QTensor(_),
                ..
            }
        )
    }

    /// The arithmetic this layer runs in (`F32` for f32 and GGUF-block layers).
    pub fn compute(&self) -> Compute {
        match self {
            Self::Int8(_) => Compute::Int8,
            Self::Bf16(_) => Compute::Bf16,
            Self::Int16(_) => Compute::Int16,
            Self::F32(_) | Self::Quantized { .. } => Compute::F32,
        }
    }

    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Self::F32(linear) => {
                // candle_nn's forward, with the bias added in place on rayon (see
                // `kernels::add_bias_in_place`).
                let width = x.dim(candle_core::D::Minus1)?;
                let mut dims = x.dims().to_vec();
                let y = x.contiguous()?.reshape((x.elem_count() / width, width))?.matmul(&linear.weight().t()?)?;
                *dims.last_mut().expect("rank ≥ 1") = y.dim(1)?;
                let y = y.reshape(dims)?;
                match linear.bias() {
                    Some(bias) => kernels::add_bias_in_place(y, bias),
                    None => Ok(y),
                }
            }
            Self::Int8(layer) => gemm(x, layer.as_ref(), Epilogue::None),
            Self::Bf16(layer) => gemm(x, layer.as_ref(), Epilogue::None),
            Self::Int16(layer) => gemm(x, layer.as_ref(), Epilogue::None),
            Self::Quantized { weight, bias } => {
                let y = weight.forward(x)?;
                match bias {
                    Some(b) => y.broadcast_add(b),
                    None => Ok(y),
                }
            }
        }
    }

    /// [`Self::forward`], then `activation` as [`activate`] applies it. This crate's GEMMs apply
    /// the erf GELU to each task's rows as soon as they are finished, while they are in cache
    /// ([`Epilogue`]): the same bits as the separate pass.
    pub fn forward_activated(&self, x: &Tensor, activation: Activation, fused: bool) -> candle_core::Result<Tensor> {
        let gelu = Epilogue::GeluErf { fused };
        match (self, activation) {
            (Self::Int8(layer), Activation::GeluErf) => gemm(x, layer.as_ref(), gelu),
            (Self::Bf16(layer), Activation::GeluErf) => gemm(x, layer.as_ref(), gelu),
            (Self::Int16(layer), Activation::GeluErf) => gemm(x, layer.as_ref(), gelu),
            _ => activate(self.forward(x)?, activation, fused),
        }
    }
}

/// The `parts`' weights as one tensor of GGML blocks, `[Σ out_dim, in_dim]`, when each is
/// stored in blocks of the same type (`None` otherwise). A row's blocks are its own, so the
/// stacked tensor is the parts' bytes one after the other.
fn stacked_blocks(store: &WeightStore, parts: &[(&str, usize)], in_dim: usize) -> Result<Option<QTensor>, ModelError> {
    let mut blocks = Vec::with_capacity(parts.len());
    for &(prefix, out_dim) in parts {
        match store.block_tensor(&format!("{prefix}.weight"), &[out_dim, in_dim])? {
            Some(b) => blocks.push(b),
            None => return Ok(None),
        }
    }
    if blocks.len() == 1 {
        return Ok(blocks.pop());
    }
    let dtype = blocks[0].dtype();
    if blocks.iter().any(|b| b.dtype() != dtype) {
        return Ok(None);
    }
    let mut bytes = Vec::new();
    for b in &blocks {
        bytes.extend_from_slice(&b.data()?);
    }
    let out_dim = parts.iter().map(|&(_, o)| o).sum();
    Ok(Some(candle_core::quantized::ggml_file::qtensor_from_ggml(dtype, &bytes, vec![out_dim, in_dim], store.device())?))
}

/// A `[rows, dim]` lookup table. Quantized, only the looked-up rows are dequantized, so the
/// 250k-row multilingual vocabulary stays 4-bit in memory.
#[derive(Debug)]
pub enum EmbeddingTable {
    F32(Tensor),
    Quantized(QTensor),
}

impl EmbeddingTable {
    pub fn load(
        store: &WeightStore,
        name: &str,
        rows: usize,
        dim: usize,
        mode: MatmulMode,
    ) -> Result<Self, ModelError> {
        if mode != MatmulMode::F32 {
            if let Some(blocks) = store.block_tensor(name, &[rows, dim])? {
                return Ok(Self::Quantized(blocks));
            }
        }
        Ok(Self::F32(store.f32_tensor(name, &[rows, dim])?))
    }

    /// Rows for `ids` (any shape), as f32 with a trailing `dim` axis.
    pub fn lookup(&self, ids: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Self::F32(table) => {
                let mut dims = ids.dims().to_vec();
                dims.push(table.dim(1)?);
                table.index_select(&ids.flatten_all()?, 0)?.reshape(dims)
            }
            Self::Quantized(blocks) => blocks.embedding(ids),
        }
    }
}

/// `x` through one of this crate's GEMMs, then `epilogue`.
fn gemm<G: RowGemm>(x: &Tensor, layer: &G, epilogue: Epilogue) -> candle_core::Result<Tensor> {
    x.contiguous()?.apply_op1_no_bwd(&GemmOp(layer, epilogue))
}

/// LayerNorm from `{prefix}.weight` and, when `with_bias`, `{prefix}.bias`.
pub fn layer_norm(
    store: &WeightStore,
    prefix: &str,
    dim: usize,
    eps: f64,
    with_bias: bool,
) -> Result<candle_nn::LayerNorm, ModelError> {
    let weight = store.f32_tensor(&format!("{prefix}.weight"), &[dim])?;
    Ok(if with_bias {
        let bias = store.f32_tensor(&format!("{prefix}.bias"), &[dim])?;
        candle_nn::LayerNorm::new(weight, bias, eps)
    } else {
        candle_nn::LayerNorm::new_no_bias(weight, eps)
    })
}

/// `x` is consumed: the erf GELU overwrites it (pass a freshly computed tensor). `fused`: with
/// multiply-adds in one rounding (`kernels::gelu_erf_in_place`), for the quantized paths.
pub fn activate(x: Tensor, activation: Activation, fused: bool) -> candle_core::Result<Tensor> {
    match activation {
        Activation::GeluErf => kernels::gelu_erf_in_place(x, fused),
        Activation::GeluTanh => x.gelu(),
        Activation::Relu => x.relu(),
        Activation::Silu => x.silu(),
    }
}

/// Tensor names of one post-LN encoder layer, relative to the layer's prefix.
pub struct PostLnNames {
    pub query: &'static str,
    pub key: &'static str,
    pub value: &'static str,
    pub attention_output: &'static str,
    pub attention_norm: &'static str,
    pub ffn_in: &'static str,
    pub ffn_out: &'static str,
    pub ffn_norm: &'static str,
}

/// Sizes shared by every layer of one encoder.
#[derive(Debug, Clone, Copy)]
pub struct EncoderDims {
    pub hidden: usize,
    pub intermediate: usize,
    pub heads: usize,
    pub eps: f64,
    pub activation: Activation,
}

/// The f32 parameters of one [`PostLnLayer`], named as in Hugging Face's `BertLayer`
/// (`attention.self.query.weight`, …, `output.LayerNorm.bias`): what a fine-tuning crate needs
/// to start a trainable copy of the layer. Linear weights are `[out_dim, in_dim]`.
#[derive(Debug, Clone)]
pub struct PostLnWeights {
    pub tensors: Vec<(String, Tensor)>,
    pub heads: usize,
    pub eps: f64,
    pub activation: Activation,
}

/// BERT's names of the query, key and value projections, stacked in this order.
const PROJECTIONS: [&str; 3] = ["attention.self.query", "attention.self.key", "attention.self.value"];

/// One BERT-style layer: self-attention, add & LayerNorm, feed-forward, add & LayerNorm.
#[derive(Debug)]
pub struct PostLnLayer {
    /// The query, key and value projections stacked: `[.., 3 · hidden]` out, in that order.
    projections: Linear,
    attention_output: Linear,
    attention_norm: candle_nn::LayerNorm,
    ffn_in: Linear,
    ffn_out: Linear,
    ffn_norm: candle_nn::LayerNorm,
    /// The two LayerNorms' parameters for the in-place add & norm kernel.
    attention_norm_params: kernels::NormParams,
    ffn_norm_params: kernels::NormParams,
    heads: usize,
    head_dim: usize,
    eps: f64,
    activation: Activation,
}

impl PostLnLayer {
    pub fn load(
        store: &WeightStore,
        prefix: &str,
        names: &PostLnNames,
        dims: EncoderDims,
        mode: MatmulMode,
    ) -> Result<Self, ModelError> {
        let h = dims.hidden;
        let linear = |name: &str, i, o| Linear::load(store, &format!("{prefix}.{name}"), i, o, true, mode);
        let projections = [names.query, names.key, names.value].map(|name| format!("{prefix}.{name}"));
        let projections: Vec<(&str, usize)> = projections.iter().map(|p| (p.as_str(), h)).collect();
        let attention_norm = layer_norm(store, &format!("{prefix}.{}", names.attention_norm), h, dims.eps, true)?;
        let ffn_norm = layer_norm(store, &format!("{prefix}.{}", names.ffn_norm), h, dims.eps, true)?;
        Ok(Self {
            projections: Linear::load_stacked(store, &projections, h, true, mode)?,
            attention_output: linear(names.attention_output, h, h)?,
            attention_norm_params: kernels::NormParams::from_layer_norm(&attention_norm, dims.eps)?,
            attention_norm,
            ffn_in: linear(names.ffn_in, h, dims.intermediate)?,
            ffn_out: linear(names.ffn_out, dims.intermediate, h)?,
            ffn_norm_params: kernels::NormParams::from_layer_norm(&ffn_norm, dims.eps)?,
            ffn_norm,
            heads: dims.heads,
            head_dim: h / dims.heads,
            eps: dims.eps,
            activation: dims.activation,
        })
    }

    /// A layer from f32 parameters under BERT's names (what [`Self::f32_weights`] returns, or
    /// a fine-tuned copy of it), its linears in `mode`'s arithmetic: a fine-tuned layer then
    /// runs on the same kernels as the encoder's own.
    pub fn from_weights(weights: &PostLnWeights, mode: MatmulMode) -> candle_core::Result<Self> {
        let get = |name: &str| -> candle_core::Result<Tensor> {
            let found = weights.tensors.iter().find(|(n, _)| n == name).map(|(_, t)| t);
            found
                .ok_or_else(|| candle_core::Error::Msg(format!("layer tensor `{name}` missing")))?
                .to_dtype(candle_core::DType::F32)
        };
        let linear = |name: &str| Linear::from_f32(get(&format!("{name}.weight"))?, Some(get(&format!("{name}.bias"))?), mode);
        let stacked = |part: &str| -> candle_core::Result<Tensor> {
            let parts = PROJECTIONS.map(|name| get(&format!("{name}.{part}")));
            Tensor::cat(&parts.into_iter().collect::<candle_core::Result<Vec<_>>>()?, 0)
        };
        let norm = |name: &str| -> candle_core::Result<(candle_nn::LayerNorm, kernels::NormParams)> {
            let norm = candle_nn::LayerNorm::new(get(&format!("{name}.weight"))?, get(&format!("{name}.bias"))?, weights.eps);
            let params = kernels::NormParams::from_layer_norm(&norm, weights.eps)?;
            Ok((norm, params))
        };
        let hidden = get("attention.self.query.weight")?.dim(0)?;
        let (attention_norm, attention_norm_params) = norm("attention.output.LayerNorm")?;
        let (ffn_norm, ffn_norm_params) = norm("output.LayerNorm")?;
        Ok(Self {
            projections: Linear::from_f32(stacked("weight")?, Some(stacked("bias")?), mode)?,
            attention_output: linear("attention.output.dense")?,
            attention_norm,
            attention_norm_params,
            ffn_in: linear("intermediate.dense")?,
            ffn_out: linear("output.dense")?,
            ffn_norm,
            ffn_norm_params,
            heads: weights.heads,
            head_dim: hidden / weights.heads,
            eps: weights.eps,
            activation: weights.activation,
        })
    }

    pub fn is_quantized(&self) -> bool {
        [
            &self.projections,
            &self.attention_output,
            &self.ffn_in,
            &self.ffn_out,
        ]
        .iter()
        .any(|l| l.is_quantized())
    }

    /// This layer's parameters as f32 tensors, under BERT's names (whatever names the
    /// checkpoint used), quantized linears expanded.
    pub fn f32_weights(&self) -> candle_core::Result<PostLnWeights> {
        let mut tensors = Vec::with_capacity(16);
        let (w, b) = self.projections.f32_parts()?;
        let hidden = self.heads * self.head_dim;
        for (i, name) in PROJECTIONS.iter().enumerate() {
            tensors.push((format!("{name}.weight"), w.narrow(0, i * hidden, hidden)?.contiguous()?));
            if let Some(b) = &b {
                tensors.push((format!("{name}.bias"), b.narrow(0, i * hidden, hidden)?.contiguous()?));
            }
        }
        let linears = [
            ("attention.output.dense", &self.attention_output),
            ("intermediate.dense", &self.ffn_in),
            ("output.dense", &self.ffn_out),
        ];
        for (name, linear) in linears {
            let (w, b) = linear.f32_parts()?;
            tensors.push((format!("{name}.weight"), w));
            if let Some(b) = b {
                tensors.push((format!("{name}.bias"), b));
            }
        }
        for (name, norm) in [
            ("attention.output.LayerNorm", &self.attention_norm),
            ("output.LayerNorm", &self.ffn_norm),
        ] {
            tensors.push((format!("{name}.weight"), norm.weight().clone()));
            if let Some(b) = norm.bias() {
                tensors.push((format!("{name}.bias"), b.clone()));
            }
        }
        Ok(PostLnWeights {
            tensors,
            heads: self.heads,
            eps: self.eps,
            activation: self.activation,
        })
    }

    /// The arithmetic of the layer's linears (all load in the same mode).
    pub fn compute(&self) -> Compute {
        self.projections.compute()
    }

    /// `mask_bias`: `[batch, 1, 1, seq]`, 0 on real tokens and a huge negative on padding, or
    /// `None` when the batch has no padding.
    pub fn forward(&self, x: &Tensor, mask_bias: Option<&Tensor>) -> candle_core::Result<Tensor> {
        // f32 keeps separate multiplies and adds (the same bits on every CPU); bf16 rounds
        // attention's operands to bfloat16 too where the CPU multiplies them, and so does int8
        // where those products pay (its labels stay within their bound: BENCH.md); int16, and
        // int8 elsewhere, take fused f32 multiply-adds.
        let math = match self.compute() {
            Compute::F32 => AttentionMath::Exact,
            Compute::Bf16 => AttentionMath::Bf16,
            Compute::Int8 if crate::load::bf16_products_pay() => AttentionMath::Bf16,
            Compute::Int8 | Compute::Int16 => AttentionMath::Fused,
        };
        let fused = math != AttentionMath::Exact;
        let context = kernels::attention(
            &self.projections.forward(x)?,
            mask_bias,
            self.heads,
            1.0 / (self.head_dim as f64).sqrt(),
            math,
        )?;
        let attended = kernels::add_norm_in_place(
            self.attention_output.forward(&context)?,
            x,
            &self.attention_norm_params,
            &self.attention_norm,
        )?;
        let inner = self.ffn_in.forward_activated(&attended, self.activation, fused)?;
        kernels::add_norm_in_place(self.ffn_out.forward(&inner)?, &attended, &self.ffn_norm_params, &self.ffn_norm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gemm_with_the_gelu_after_it_gives_the_bits_of_the_separate_pass() {
        let (rows, k, n) = (45, 64, 200);
        let weight = Tensor::new(crate::arch::test_values(n * k, 31), &candle_core::Device::Cpu).unwrap();
        let weight = weight.reshape((n, k)).unwrap();
        let bias = Tensor::new(crate::arch::test_values(n, 32), &candle_core::Device::Cpu).unwrap();
        let x = Tensor::new(crate::arch::test_values(rows * k, 33), &candle_core::Device::Cpu).unwrap();
        let x = (x.reshape((rows, k)).unwrap() * 3.0).unwrap();
        for mode in [MatmulMode::Int8, MatmulMode::Bf16, MatmulMode::Int16, MatmulMode::F32] {
            let layer = Linear::from_f32(weight.clone(), Some(bias.clone()), mode).unwrap();
            for fused in [false, true] {
                let want = activate(layer.forward(&x).unwrap(), Activation::GeluErf, fused).unwrap();
                let got = layer.forward_activated(&x, Activation::GeluErf, fused).unwrap();
                let (want, got): (Vec<f32>, Vec<f32>) =
                    (want.flatten_all().unwrap().to_vec1().unwrap(), got.flatten_all().unwrap().to_vec1().unwrap());
                assert!(got.iter().zip(&want).all(|(g, w)| g.to_bits() == w.to_bits()), "{mode:?}, fused {fused}");
            }
        }
    }
}
