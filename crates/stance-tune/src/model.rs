//! The cross-encoder: the encoder's top `k` layers (trainable copies), a learned segment
//! embedding, segment-mean pooling and a linear classifier, over the concatenated bottom-layer
//! states of a context (target or parent) and a comment, or of the comment alone for a tone
//! task (the context half of the pooled vector is then zero).

use crate::error::{Result, TuneError};
use crate::layer::{self, LayerParams, MASKED, PARAM_NAMES};
use candle_core::{DType, Device, Tensor, Var};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use stance_heads::DecisionRule;
use stance_model::arch::layers::{MatmulMode, PostLnLayer, PostLnWeights};
use stance_model::batch::{head_and_tail_count, head_and_tail_rows};
use stance_model::config::Activation;
use stance_model::Compute;
use std::path::Path;

/// Weights file and metadata file of a saved model folder.
pub const WEIGHTS_FILE: &str = "cross_encoder.safetensors";
pub const META_FILE: &str = "cross_encoder.json";
pub const FORMAT: &str = "stance-tune/cross-encoder/1";

/// `cross_encoder.json`'s metadata, refusing another format.
fn parse_meta(text: &str) -> std::result::Result<TunedMeta, String> {
    let meta: TunedMeta = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if meta.format != FORMAT {
        return Err(format!("format `{}`, expected `{FORMAT}`", meta.format));
    }
    Ok(meta)
}

/// Everything about a saved cross-encoder except its weights.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TunedMeta {
    pub format: String,
    /// `stance`, `reply` (pairs), or `sentiment`, `irony`, `toxicity` (the comment alone, no
    /// context).
    pub task: String,
    /// Output labels, in probability-column order.
    pub labels: Vec<String>,
    /// The encoder the states come from, as `stance-heads` computes its id (tokenizer digest,
    /// shape, prefix, pooling): the cross-encoder reads this encoder's states only.
    pub encoder: String,
    /// Encoder layers in total (12 for e5-small).
    pub encoder_layers: usize,
    /// Frozen encoder layers run on each text alone: the states read are the output of layer
    /// `bottom_layers - 1` (index `bottom_layers` of `Bert::hidden_states`).
    pub bottom_layers: usize,
    /// Trainable top layers run on the concatenated pair (`encoder_layers - bottom_layers`).
    pub top_layers: usize,
    pub hidden: usize,
    pub heads: usize,
    pub eps: f64,
    /// The text prefix of the bottom pass (e5: `query: `), prepended to both texts.
    pub prefix: String,
    /// Most states kept of the context text (the first `n − 1` tokens plus the last, `</s>`);
    /// unused by a single-text task.
    pub context_tokens: usize,
    /// Most states kept of the comment text, likewise.
    pub comment_tokens: usize,
    /// Logits are divided by this before the softmax (fitted on validation data).
    pub temperature: f64,
    /// A single-text task's model that also learnt from what texts answer (irony: MultiPICo's
    /// parent posts): `stance classify` gives it a reply's parent comment as the context, and
    /// scores a comment without a parent alone.
    #[serde(default)]
    pub reads_parent: bool,
    /// Set on the models of one multi-task run (`stance tune --also-task`): the same id on
    /// each, whose layers, segment embedding and standardisation are one and the same, so that
    /// their pooled vectors are too and `stance classify` computes them once for all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_layers: Option<String>,
    /// Marked by hand once measured: the model's task keeps `--compute f32`'s labels within the
    /// bound of `Compute::fastest_accurate` (≥ 99.5 % per task on the 20k bench) with these
    /// layers in int8 too, so under int8 `stance classify` runs them in int8 rather than in
    /// bf16 or int16 (`Compute::for_fine_tuned_layers`). Training and `sibling` leave it unset.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub int8_layers: bool,
    /// Thresholds per language or class offsets (`stance calibrate`); argmax when absent.
    #[serde(flatten)]
    pub decision: DecisionRule,
    /// How the model was trained (data, options, scores, time); free-form.
    #[serde(default)]
    pub training: serde_json::Value,
}

impl TunedMeta {
    /// Most bottom-layer states the model reads of any one text (the larger of its budgets):
    /// what an encoder pass must keep for it.
    pub fn state_rows(&self) -> usize {
        self.context_tokens.max(self.comment_tokens)
    }
}

/// Where to put a text's states in the pair: the segment embedding row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment {
    Context = 0,
    Comment = 1,
}

/// A padded batch of pairs, ready for [`CrossEncoder::logits`].
#[derive(Debug, Clone)]
pub struct PairBatch {
    /// `[batch, seq, hidden]`: context states, then comment states, then zero padding.
    pub x: Tensor,
    /// `[batch·seq, 2]`: one-hot segment of each position (all zero on padding).
    pub segments: Tensor,
    /// `[batch, 1, 1, seq]` additive attention bias, `None` without padding.
    pub mask_bias: Option<Tensor>,
    /// `[batch, seq, 2]`: per segment, 1/len on that segment's tokens (mean-pooling weights).
    pub pool: Tensor,
}

impl PairBatch {
    /// Builds a batch from per-pair `(context, comment)` states, each row-major `[n, hidden]`
    /// f32 (already truncated to the budgets).
    pub fn new(pairs: &[(&[f32], &[f32])], hidden: usize, device: &Device) -> Result<Self> {
        if pairs.is_empty() {
            return Err(TuneError::Invalid("an empty batch".into()));
        }
        let lens: Vec<(usize, usize)> = pairs
            .iter()
            .map(|(c, t)| (c.len() / hidden, t.len() / hidden))
            .collect();
        // An empty context is a single-text task's: its half of the pooled vector stays zero.
        if lens.iter().any(|&(_, b)| b == 0) {
            return Err(TuneError::Invalid("a comment with no states".into()));
        }
        let seq = lens.iter().map(|(a, b)| a + b).max().unwrap_or(0);
        let n = pairs.len();
        let mut x = vec![0f32; n * seq * hidden];
        let mut seg = vec![0f32; n * seq * 2];
        let mut bias = vec![0f32; n * seq];
        let mut pool = vec![0f32; n * seq * 2];
        let mut padded = false;
        for (r, ((ctx, com), &(a, b))) in pairs.iter().zip(&lens).enumerate() {
            let row = r * seq;
            x[row * hidden..(row + a) * hidden].copy_from_slice(ctx);
            x[(row + a) * hidden..(row + a + b) * hidden].copy_from_slice(com);
            for i in 0..seq {
                let pos = row + i;
                if i < a {
                    seg[pos * 2] = 1.0;
                    pool[pos * 2] = 1.0 / a as f32;
                } else if i < a + b {
                    seg[pos * 2 + 1] = 1.0;
                    pool[pos * 2 + 1] = 1.0 / b as f32;
                } else {
                    bias[pos] = MASKED;
                    padded = true;
                }
            }
        }
        Ok(PairBatch {
            x: Tensor::from_vec(x, (n, seq, hidden), device)?,
            segments: Tensor::from_vec(seg, (n * seq, 2), device)?,
            mask_bias: if padded {
                Some(Tensor::from_vec(bias, (n, 1, 1, seq), device)?)
            } else {
                None
            },
            pool: Tensor::from_vec(pool, (n, seq, 2), device)?,
        })
    }

    pub fn len(&self) -> usize {
        self.x.dims()[0]
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A new classifier for `labels` outputs on the pooled `[2·hidden]` vector: weights drawn with
/// `normal` (std 0.02), zero bias.
fn fresh_classifier(labels: usize, hidden: usize, normal: &mut dyn FnMut() -> f64) -> Result<[(String, Var); 2]> {
    let w: Vec<f32> = (0..labels * 2 * hidden).map(|_| (normal() * 0.02) as f32).collect();
    Ok([
        ("classifier.weight".into(), Var::from_tensor(&Tensor::from_vec(w, (labels, 2 * hidden), &Device::Cpu)?)?),
        ("classifier.bias".into(), Var::zeros(labels, DType::F32, &Device::Cpu)?),
    ])
}

/// A cross-encoder with its weights as candle [`Var`]s (trainable) and its metadata.
pub struct CrossEncoder {
    pub meta: TunedMeta,
    /// Every parameter by name: `layer.{i}.<BertLayer name>`, `segment.weight` `[2, hidden]`,
    /// `classifier.weight` `[labels, 2·hidden]`, `classifier.bias` `[labels]`.
    vars: BTreeMap<String, Var>,
    /// Fixed (not trained) per-dimension standardisation of the pooled vector: `pool.mean`
    /// and `pool.std`, `[2·hidden]`, measured on training pairs with the initial weights.
    /// Added because training on the raw pooled states started very slowly (dimensions of
    /// large, nearly constant magnitude are the suspected cause, not established). Inputs of
    /// unit variance call for a small classifier learning rate (1.5e-4 trains; 2e-3 did not,
    /// see models/tuned/README.md). Absent in a model without them.
    buffers: BTreeMap<String, Tensor>,
    /// The top layers on the encoder's own kernels, for inference in the arithmetic named
    /// ([`Self::run_inference_in`]); `None`: inference through the differentiable ops.
    inference: Option<(Compute, Vec<PostLnLayer>)>,
}

impl std::fmt::Debug for CrossEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CrossEncoder").field("meta", &self.meta).finish_non_exhaustive()
    }
}

impl CrossEncoder {
    /// A new model: the top layers from `layers` (each 16 tensors in [`PARAM_NAMES`] order,
    /// bottom first), a zero segment embedding and a classifier drawn with `normal` (std 0.02).
    pub fn new(meta: TunedMeta, layers: &[Vec<Tensor>], normal: &mut dyn FnMut() -> f64) -> Result<Self> {
        if layers.len() != meta.top_layers {
            return Err(TuneError::Invalid(format!(
                "{} layers given for {} top layers",
                layers.len(),
                meta.top_layers
            )));
        }
        let device = Device::Cpu;
        let mut vars = BTreeMap::new();
        for (i, layer) in layers.iter().enumerate() {
            for (name, t) in PARAM_NAMES.iter().zip(layer) {
                let t = t.to_dtype(DType::F32)?.to_device(&device)?.contiguous()?;
                vars.insert(format!("layer.{i}.{name}"), Var::from_tensor(&t)?);
            }
        }
        vars.insert("segment.weight".into(), Var::zeros((2, meta.hidden), DType::F32, &device)?);
        vars.extend(fresh_classifier(meta.labels.len(), meta.hidden, normal)?);
        Ok(CrossEncoder { meta, vars, buffers: BTreeMap::new(), inference: None })
    }

    /// A model of another task on this one's layers, for training both at once: the same layer
    /// and segment [`Var`]s (so a step on either moves both) and standardisation, and a new
    /// classifier for `labels` drawn with `normal`, as in [`Self::new`].
    pub fn sibling(&self, task: &str, labels: Vec<String>, normal: &mut dyn FnMut() -> f64) -> Result<Self> {
        self.refuse_if_inference_only("given a sibling")?;
        let mut vars: BTreeMap<String, Var> =
            self.vars.iter().filter(|(name, _)| !name.starts_with("classifier.")).map(|(n, v)| (n.clone(), v.clone())).collect();
        vars.extend(fresh_classifier(labels.len(), self.meta.hidden, normal)?);
        let meta = TunedMeta {
            task: task.into(),
            labels,
            temperature: 1.0,
            decision: DecisionRule::default(),
            training: serde_json::Value::Null,
            int8_layers: false,
            ..self.meta.clone()
        };
        let model = CrossEncoder { meta, vars, buffers: self.buffers.clone(), inference: None };
        model.check()?;
        Ok(model)
    }

    /// Loads a saved model folder (`cross_encoder.json` + `cross_encoder.safetensors`).
    pub fn load(dir: &Path) -> Result<Self> {
        let meta_path = dir.join(META_FILE);
        let text = std::fs::read_to_string(&meta_path).map_err(|e| TuneError::io(&meta_path, e))?;
        let meta = parse_meta(&text).map_err(|e| TuneError::Invalid(format!("{}: {e}", meta_path.display())))?;
        let tensors = candle_core::safetensors::load(dir.join(WEIGHTS_FILE), &Device::Cpu)?;
        Self::from_tensors(meta, tensors)
    }

    /// A model from the contents of its two files (a model compiled into the binary).
    pub fn from_bytes(meta_json: &str, weights: &[u8]) -> Result<Self> {
        let meta = parse_meta(meta_json).map_err(|e| TuneError::Invalid(format!("{META_FILE}: {e}")))?;
        Self::from_tensors(meta, candle_core::safetensors::load_buffer(weights, &Device::Cpu)?)
    }

    /// A model from named tensors (any float dtype), checking that every parameter is there.
    pub fn from_tensors(meta: TunedMeta, tensors: std::collections::HashMap<String, Tensor>) -> Result<Self> {
        let mut vars = BTreeMap::new();
        let mut buffers = BTreeMap::new();
        for (name, t) in tensors {
            let t = t.to_dtype(DType::F32)?.contiguous()?;
            if name.starts_with("pool.") {
                buffers.insert(name, t);
            } else {
                vars.insert(name, Var::from_tensor(&t)?);
            }
        }
        let model = CrossEncoder { meta, vars, buffers, inference: None };
        model.check()?;
        Ok(model)
    }

    fn check(&self) -> Result<()> {
        let mut expected: Vec<String> = (0..self.meta.top_layers)
            .flat_map(|i| PARAM_NAMES.iter().map(move |n| format!("layer.{i}.{n}")))
            .collect();
        expected.extend(["segment.weight", "classifier.weight", "classifier.bias"].map(String::from));
        for name in &expected {
            if !self.vars.contains_key(name) {
                return Err(TuneError::Invalid(format!("the weights have no `{name}`")));
            }
        }
        if self.vars.len() != expected.len() {
            return Err(TuneError::Invalid(format!(
                "the weights have {} tensors, expected {}",
                self.vars.len(),
                expected.len()
            )));
        }
        match (self.buffers.get("pool.mean"), self.buffers.get("pool.std")) {
            (None, None) if self.buffers.is_empty() => {}
            (Some(m), Some(s)) if self.buffers.len() == 2 && m.dims() == [2 * self.meta.hidden] && s.dims() == m.dims() => {}
            _ => return Err(TuneError::Invalid("`pool.mean`/`pool.std` missing, extra or misshapen".into())),
        }
        let cls = self.vars["classifier.weight"].dims().to_vec();
        if cls != [self.meta.labels.len(), 2 * self.meta.hidden] {
            return Err(TuneError::Invalid(format!("classifier shape {cls:?} does not fit the metadata")));
        }
        Ok(())
    }

    /// Saves weights (as `dtype`: F32, or F16 for a small file) and metadata into `dir`,
    /// each written to a temporary name and renamed.
    pub fn save(&self, dir: &Path, dtype: DType) -> Result<()> {
        self.refuse_if_inference_only("saved")?;
        std::fs::create_dir_all(dir).map_err(|e| TuneError::io(dir, e))?;
        let tensors = self
            .vars
            .iter()
            .map(|(k, v)| Ok((k.clone(), v.as_tensor().to_dtype(dtype)?)))
            .chain(self.buffers.iter().map(|(k, t)| Ok((k.clone(), t.clone()))))
            .collect::<Result<std::collections::HashMap<_, _>>>()?;
        let tmp = dir.join(format!("{WEIGHTS_FILE}.tmp"));
        candle_core::safetensors::save(&tensors, &tmp)?;
        std::fs::rename(&tmp, dir.join(WEIGHTS_FILE)).map_err(|e| TuneError::io(dir, e))?;
        let meta = serde_json::to_string_pretty(&self.meta).map_err(|e| TuneError::Invalid(e.to_string()))?;
        let tmp = dir.join(format!("{META_FILE}.tmp"));
        std::fs::write(&tmp, meta + "\n").map_err(|e| TuneError::io(&tmp, e))?;
        std::fs::rename(&tmp, dir.join(META_FILE)).map_err(|e| TuneError::io(dir, e))?;
        Ok(())
    }

    /// Saves the model as it ships: f16 weights (half the size; its predictions move by at most
    /// about 1e-2 in probability, see the tests). Loading reads them back as f32, so saving a
    /// loaded model again this way loses nothing.
    pub fn save_shipped(&self, dir: &Path) -> Result<()> {
        self.save(dir, DType::F16)
    }

    /// Takes every parameter and the standardisation of `other`, a model of the same shape.
    pub fn take_weights_of(&mut self, other: &CrossEncoder) -> Result<()> {
        for (name, var) in &self.vars {
            let t = other.vars.get(name).ok_or_else(|| TuneError::Invalid(format!("the weights have no `{name}`")))?;
            if t.dims() != var.dims() {
                return Err(TuneError::Invalid(format!("`{name}` is {:?}, expected {:?}", t.dims(), var.dims())));
            }
            var.set(t.as_tensor())?;
        }
        self.buffers = other.buffers.clone();
        self.check()
    }

    /// An error if [`Self::run_inference_in`] dropped the layers' trainable weights.
    fn refuse_if_inference_only(&self, what: &str) -> Result<()> {
        match self.inference {
            Some(_) => Err(TuneError::Invalid(format!("a model set up for inference cannot be {what}"))),
            None => Ok(()),
        }
    }

    /// The parameters, by name (without the layers' once set up for inference).
    pub fn vars(&self) -> &BTreeMap<String, Var> {
        &self.vars
    }

    /// The standardisation buffers (see the field), by name.
    pub fn buffers(&self) -> &BTreeMap<String, Tensor> {
        &self.buffers
    }

    /// Sets the pooled vector's standardisation from pooled vectors `[n, 2·hidden]` of the
    /// current model (std floored at 1e-3).
    pub fn set_standardisation(&mut self, pooled: &Tensor) -> Result<()> {
        let pooled = pooled.detach();
        let mean = pooled.mean(0)?;
        let std = pooled.broadcast_sub(&mean)?.sqr()?.mean(0)?.sqrt()?.clamp(1e-3f32, f32::MAX)?;
        self.buffers.insert("pool.mean".into(), mean);
        self.buffers.insert("pool.std".into(), std);
        self.check()
    }

    /// How many frozen encoder layers produce the states this model reads.
    pub fn bottom_layers(&self) -> usize {
        self.meta.bottom_layers
    }

    pub fn labels(&self) -> &[String] {
        &self.meta.labels
    }

    /// Runs inference ([`Self::predict`], [`Self::raw_logits`]) from now on through the
    /// encoder's own layer kernels in `compute`'s arithmetic, as `stance classify` runs the
    /// encoder: in f32 the same maths as the differentiable ops to float rounding; in bf16 on
    /// an AMD EPYC with AVX-512 BF16, 7.4 s instead of 17.8 s for the reply blend on 1,053
    /// replies (BENCH.md, "The reply blend"). Training, `stance eval`
    /// and `stance calibrate` keep the differentiable ops, so their numbers stay the same on
    /// every machine.
    ///
    /// The model then serves inference only: the f32 copies of its layers' weights, which only
    /// training and the differentiable ops read, are dropped (10.6M parameters, 42 MB, in a
    /// 6-layer model), so it can no longer be trained, saved or set up again. Peak RSS on 1,000
    /// bench comments did not move measurably with it (494–510 MB in three runs, 500 before;
    /// what sets that peak was not traced).
    pub fn run_inference_in(&mut self, compute: Compute) -> Result<()> {
        if self.inference.is_some() {
            return Err(TuneError::Invalid("the model is already set up for inference".into()));
        }
        let mode = MatmulMode::from(compute);
        let layers = (0..self.meta.top_layers)
            .map(|i| {
                let tensors = PARAM_NAMES
                    .iter()
                    .map(|n| (n.to_string(), self.param(&format!("layer.{i}.{n}"), false)))
                    .collect();
                let weights = PostLnWeights { tensors, heads: self.meta.heads, eps: self.meta.eps, activation: Activation::GeluErf };
                PostLnLayer::from_weights(&weights, mode)
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        self.inference = Some((compute, layers));
        self.vars.retain(|name, _| !name.starts_with("layer."));
        Ok(())
    }

    /// The arithmetic its layers run in, once set up by [`Self::run_inference_in`].
    pub fn inference_compute(&self) -> Option<Compute> {
        self.inference.as_ref().map(|(compute, _)| *compute)
    }

    /// The predicted class of one probability row of a comment in `lang`, by the model's
    /// decision rule.
    pub fn decide(&self, probs: &[f32], lang: Option<&str>) -> usize {
        self.meta.decision.decide(&self.meta.labels, probs, lang)
    }

    /// A parameter as a tensor: the variable itself when gradients must reach it, else a
    /// detached view of the same storage. Operations on a variable record their inputs for
    /// the backward pass, so inference through the variables keeps every intermediate of a
    /// batch alive (gigabytes of attention scores on a classify chunk).
    fn param(&self, name: &str, track: bool) -> Tensor {
        let t = self.vars[name].as_tensor();
        if track {
            t.clone()
        } else {
            t.detach()
        }
    }

    fn layer_params(&self, i: usize, track: bool) -> LayerParams {
        let list: Vec<Tensor> = PARAM_NAMES
            .iter()
            .map(|n| self.param(&format!("layer.{i}.{n}"), track))
            .collect();
        LayerParams::from_list(&list)
    }

    /// Pooled pair vector `[batch, 2·hidden]`: the mean of the top layers' output over the
    /// context's tokens, then over the comment's, standardised when the model has buffers.
    /// Differentiable in the parameters (for training).
    pub fn pooled(&self, batch: &PairBatch) -> Result<Tensor> {
        self.pooled_tracked(batch, true)
    }

    /// [`Self::pooled`], or with `track` false through detached parameters (no gradient graph).
    pub(crate) fn pooled_tracked(&self, batch: &PairBatch, track: bool) -> Result<Tensor> {
        if track {
            self.refuse_if_inference_only("trained")?;
        }
        let (b, s, h) = batch.x.dims3()?;
        let seg = batch
            .segments
            .matmul(&self.param("segment.weight", track))?
            .reshape((b, s, h))?;
        let mut x = (&batch.x + seg)?;
        match &self.inference {
            Some((_, layers)) if !track => {
                for layer in layers {
                    x = layer.forward(&x, batch.mask_bias.as_ref())?;
                }
            }
            _ => {
                for i in 0..self.meta.top_layers {
                    x = layer::layer_forward(
                        &self.layer_params(i, track),
                        &x,
                        batch.mask_bias.as_ref(),
                        self.meta.heads,
                        self.meta.eps,
                    )?;
                }
            }
        }
        // [b, 2, s] × [b, s, h] → [b, 2, h] → [b, 2h]
        let pooled = batch.pool.transpose(1, 2)?.contiguous()?.matmul(&x)?.reshape((b, 2 * h))?;
        Ok(match (self.buffers.get("pool.mean"), self.buffers.get("pool.std")) {
            (Some(m), Some(s)) => pooled.broadcast_sub(m)?.broadcast_div(s)?,
            _ => pooled,
        })
    }

    /// Raw logits `[batch, labels]` from a pooled vector (after any dropout), differentiable.
    pub fn classify(&self, pooled: &Tensor) -> Result<Tensor> {
        self.classify_tracked(pooled, true)
    }

    fn classify_tracked(&self, pooled: &Tensor, track: bool) -> Result<Tensor> {
        Ok(layer::linear(
            pooled,
            &self.param("classifier.weight", track),
            &self.param("classifier.bias", track),
        )?)
    }

    /// Raw logits (no temperature) `[batch, labels]`, differentiable.
    pub fn logits(&self, batch: &PairBatch) -> Result<Tensor> {
        self.classify(&self.pooled(batch)?)
    }

    /// Probabilities (temperature applied), one row per pair, columns in [`Self::labels`] order.
    /// Each element is `(context_states, comment_states)`: the bottom-layer output of
    /// `prefix + text` (its tokens, `[n, hidden]` row-major, f32 as from
    /// [`crate::states::bottom_states`] or f16 as kept by the encoder pass of `stance classify`);
    /// truncation to the budgets is done here. Pairs are scored in length-sorted batches of at most
    /// `batch_tokens` padded positions; the result is in input order.
    pub fn predict<T: Copy>(&self, pairs: &[(&[T], &[T])], batch_tokens: usize) -> Result<Vec<Vec<f32>>>
    where
        f32: From<T>,
    {
        let logits = self.raw_logits(pairs, batch_tokens)?;
        Ok(logits.iter().map(|z| stance_heads::calibrate::softmax(z, self.meta.temperature)).collect())
    }

    /// Whether `other` has this model's layers, segment embedding and standardisation, value for
    /// value: then their pooled vectors are the same (models of one multi-task run, whose
    /// metadata say so with the same `shared_layers`).
    pub fn same_layers(&self, other: &CrossEncoder) -> Result<bool> {
        self.refuse_if_inference_only("compared")?;
        other.refuse_if_inference_only("compared")?;
        let shared = |m: &CrossEncoder| -> Vec<(String, Tensor)> {
            let vars = m.vars.iter().filter(|(n, _)| !n.starts_with("classifier.")).map(|(n, v)| (n.clone(), v.as_tensor().clone()));
            vars.chain(m.buffers.iter().map(|(n, t)| (n.clone(), t.clone()))).collect()
        };
        let (mine, theirs) = (shared(self), shared(other));
        if mine.len() != theirs.len() || mine.iter().zip(&theirs).any(|((a, x), (b, y))| a != b || x.dims() != y.dims()) {
            return Ok(false);
        }
        for ((_, x), (_, y)) in mine.iter().zip(&theirs) {
            if x.flatten_all()?.to_vec1::<f32>()? != y.flatten_all()?.to_vec1::<f32>()? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The standardised pooled vectors `[2·hidden]` of pairs, as [`Self::raw_logits`] takes
    /// them and batches them, in input order: what [`Self::logits_of_pooled`] reads, of this
    /// model or of any with the [same layers](Self::same_layers).
    pub fn pooled_rows<T: Copy>(&self, pairs: &[(&[T], &[T])], batch_tokens: usize) -> Result<Vec<Vec<f32>>>
    where
        f32: From<T>,
    {
        self.per_batch(pairs, batch_tokens, |batch| Ok(self.pooled_tracked(batch, false)?.to_vec2::<f32>()?))
    }

    /// Raw logits (no temperature) of pooled vectors, each row on its own in a fixed order of
    /// sums, so a row's logits do not depend on the others.
    pub fn logits_of_pooled(&self, pooled: &[&[f32]]) -> Result<Vec<Vec<f32>>> {
        let weight = self.vars["classifier.weight"].as_tensor().to_vec2::<f32>()?;
        let bias = self.vars["classifier.bias"].as_tensor().to_vec1::<f32>()?;
        Ok(pooled
            .iter()
            .map(|p| weight.iter().zip(&bias).map(|(w, b)| b + w.iter().zip(p.iter()).map(|(w, x)| w * x).sum::<f32>()).collect())
            .collect())
    }

    /// Raw logits (no temperature) of pairs, as [`Self::predict`] takes them. Each batch's
    /// pairs are cut to the budgets as it is built: cutting every pair first copied a target's
    /// states once per comment under it, 73 MB of the 197 MB that the top-6 stance model added
    /// to peak RSS on 1,000 bench comments (573 MB before, 500 after, the same outputs).
    pub fn raw_logits<T: Copy>(&self, pairs: &[(&[T], &[T])], batch_tokens: usize) -> Result<Vec<Vec<f32>>>
    where
        f32: From<T>,
    {
        self.per_batch(pairs, batch_tokens, |batch| {
            // Inference: through detached parameters, so no gradient graph holds the batch.
            Ok(self.classify_tracked(&self.pooled_tracked(batch, false)?, false)?.to_vec2::<f32>()?)
        })
    }

    /// `rows_of` of each length-sorted batch of at most `batch_tokens` padded positions of
    /// `pairs`, cut to the budgets, one output row per pair, in input order.
    fn per_batch<T: Copy>(
        &self,
        pairs: &[(&[T], &[T])],
        batch_tokens: usize,
        rows_of: impl Fn(&PairBatch) -> Result<Vec<Vec<f32>>>,
    ) -> Result<Vec<Vec<f32>>>
    where
        f32: From<T>,
    {
        let h = self.meta.hidden;
        let budgets = (self.meta.context_tokens, self.meta.comment_tokens);
        let rows = |states: &[T], budget: usize| head_and_tail_count(states.len() / h, budget);
        let cut = |states: &[T], budget: usize| -> Vec<f32> {
            head_and_tail_rows(states, h, budget).into_iter().map(f32::from).collect()
        };
        let lengths: Vec<usize> = pairs.iter().map(|(c, t)| rows(c, budgets.0) + rows(t, budgets.1)).collect();
        let mut out = vec![Vec::new(); pairs.len()];
        for group in stance_model::batch::plan(&lengths, batch_tokens) {
            let cut: Vec<(Vec<f32>, Vec<f32>)> = group
                .iter()
                .map(|&i| (cut(pairs[i].0, budgets.0), cut(pairs[i].1, budgets.1)))
                .collect();
            let refs: Vec<(&[f32], &[f32])> = cut.iter().map(|(c, t)| (&c[..], &t[..])).collect();
            let batch = PairBatch::new(&refs, h, &Device::Cpu)?;
            for (&i, z) in group.iter().zip(rows_of(&batch)?) {
                out[i] = z;
            }
        }
        Ok(out)
    }
}
