//! A trained head on disk and in memory: `head.safetensors` (weights) + `head.json` (what it
//! reads, what it predicts, how it was made).
//!
//! A head may hold several MLPs over one standardisation, trained alike from different seeds:
//! its logits are their mean. One seed's head on frozen vectors moves by a point or more of
//! validation macro-F1 with the seed alone (UMSAB: 60.85 to 61.89 over seeds 13 to 17); the mean of
//! several keeps what they agree on. Member 0's tensors keep the names of a one-MLP head.

use crate::calibrate;
use crate::data::{InputKind, Task};
use crate::error::{HeadsError, Result};
use crate::config::{is_one_member, one_member};
use crate::decision::DecisionRule;
use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// Version of the head file layout; bumped on any incompatible change.
pub const HEAD_FORMAT: u32 = 1;
pub const WEIGHTS_FILE: &str = "head.safetensors";
pub const META_FILE: &str = "head.json";

/// Rows per forward pass at inference.
const INFERENCE_CHUNK: usize = 4096;

/// Everything about a head except its weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeadMeta {
    pub format: u32,
    pub task: Task,
    /// Output classes, in the order of the probabilities.
    pub labels: Vec<String>,
    pub input: InputKind,
    /// Length of one encoder vector.
    pub embedding_dim: usize,
    /// Length of the head input (`embedding_dim`, or 4× for pairs).
    pub input_dim: usize,
    /// Widths of the hidden layers (GELU); empty for a linear head.
    pub hidden: Vec<usize>,
    /// How many MLPs of that shape the head averages (see the module's documentation).
    #[serde(default = "one_member", skip_serializing_if = "is_one_member")]
    pub members: usize,
    /// The encoder the head was trained on (see [`crate::TextEncoder::id`]).
    pub encoder: String,
    /// Divides the logits before the softmax (temperature scaling on validation data).
    pub temperature: f64,
    /// Thresholds per language (a flag head) or class offsets (a multi-class head), stored as
    /// top-level `thresholds` / `class_offsets`; argmax when absent.
    #[serde(flatten)]
    pub decision: DecisionRule,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training: Option<TrainingRecord>,
}

/// How a head was trained, for its card and for reproducibility.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingRecord {
    pub train: Vec<DataSummary>,
    pub valid: Vec<DataSummary>,
    pub config: crate::config::TrainConfig,
    /// The head training started from, if it was fine-tuned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm_start: Option<String>,
    /// Epochs of the first member (the only one of a one-MLP head).
    pub epochs_run: usize,
    /// The first member's; 0 when the warm-start head was never beaten on validation.
    pub best_epoch: usize,
    /// Each member's seed, epochs and validation score, when the head has more than one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<MemberRecord>,
    /// Mean over validation sources of their macro-F1 (the early-stopping criterion), of the
    /// head's output (the members' mean logits).
    pub valid_score: f64,
    pub valid_macro_f1_by_source: Vec<f64>,
    pub valid_accuracy: f64,
    pub valid_ece_uncalibrated: f64,
    pub valid_ece: f64,
}

/// How one member of a several-MLP head was trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberRecord {
    pub seed: u64,
    pub epochs_run: usize,
    pub best_epoch: usize,
    /// This member's own validation score, as [`TrainingRecord::valid_score`] measures it.
    pub valid_score: f64,
}

/// One data argument as used in training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataSummary {
    pub data: String,
    pub rows: usize,
    pub labels: BTreeMap<String, usize>,
}

/// A classifier over encoder features: standardisation, then an MLP.
#[derive(Debug, Clone)]
pub struct Head {
    pub meta: HeadMeta,
    pub(crate) net: Mlp,
}

/// The network: `x → (x − mean) / std`, then for each member `[Linear → GELU]* → Linear`, and
/// the mean of the members' outputs.
#[derive(Debug, Clone)]
pub(crate) struct Mlp {
    pub mean: Tensor,
    pub std: Tensor,
    /// Each member's `(weight [out, in], bias [out])`, input layer first.
    pub members: Vec<Vec<(Tensor, Tensor)>>,
}

impl Mlp {
    /// The members' mean logits (the input standardised once for all of them).
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let h = standardise(&self.mean, &self.std, x)?;
        let mut sum: Option<Tensor> = None;
        for layers in &self.members {
            let logits = layers_forward(layers, h.clone(), None)?;
            sum = Some(match sum {
                Some(s) => (s + logits)?,
                None => logits,
            });
        }
        let sum = sum.ok_or_else(|| candle_core::Error::Msg("a head without members".into()))?;
        sum.affine(1.0 / self.members.len() as f64, 0.0)
    }
}

/// The name of one tensor of member `member`'s layer `layer` (`weight` or `bias`). Member 0's
/// names are those of a one-MLP head, so that such a head reads as it always did.
fn layer_tensor_name(member: usize, layer: usize, part: &str) -> String {
    match member {
        0 => format!("layers.{layer}.{part}"),
        m => format!("members.{m}.layers.{layer}.{part}"),
    }
}

/// One member's logits of raw inputs `x` (what training runs, with dropout `masks`).
pub(crate) fn forward(
    mean: &Tensor,
    std: &Tensor,
    layers: &[(Tensor, Tensor)],
    x: &Tensor,
    masks: Option<&[Tensor]>,
) -> candle_core::Result<Tensor> {
    layers_forward(layers, standardise(mean, std, x)?, masks)
}

fn standardise(mean: &Tensor, std: &Tensor, x: &Tensor) -> candle_core::Result<Tensor> {
    x.broadcast_sub(mean)?.broadcast_div(std)
}

/// `[Linear → GELU]* → Linear` on standardised inputs `h`; `masks` (training only) are dropout
/// multipliers for the input of each layer.
fn layers_forward(
    layers: &[(Tensor, Tensor)],
    mut h: Tensor,
    masks: Option<&[Tensor]>,
) -> candle_core::Result<Tensor> {
    for (i, (w, b)) in layers.iter().enumerate() {
        if let Some(m) = masks.and_then(|m| m.get(i)) {
            h = h.mul(m)?;
        }
        h = h.matmul(&w.t()?)?.broadcast_add(b)?;
        if i + 1 < layers.len() {
            h = h.gelu_erf()?;
        }
    }
    Ok(h)
}

impl Head {
    pub fn labels(&self) -> &[String] {
        &self.meta.labels
    }

    pub fn task(&self) -> Task {
        self.meta.task
    }

    pub fn input_kind(&self) -> InputKind {
        self.meta.input
    }

    /// Raw scores (before temperature and softmax), one row per feature vector.
    pub fn logits(&self, features: &[Vec<f32>]) -> Result<Vec<Vec<f32>>> {
        let d = self.meta.input_dim;
        let mut out = Vec::with_capacity(features.len());
        for chunk in features.chunks(INFERENCE_CHUNK) {
            let mut flat = Vec::with_capacity(chunk.len() * d);
            for f in chunk {
                if f.len() != d {
                    return Err(HeadsError::Invalid(format!(
                        "{} head expects {d} features, got {}",
                        self.meta.task,
                        f.len()
                    )));
                }
                flat.extend_from_slice(f);
            }
            let x = Tensor::from_vec(flat, (chunk.len(), d), &Device::Cpu)?;
            out.extend(self.net.forward(&x)?.to_vec2::<f32>()?);
        }
        Ok(out)
    }

    /// Calibrated class probabilities, one row per feature vector, columns in [`Head::labels`] order.
    pub fn predict(&self, features: &[Vec<f32>]) -> Result<Vec<Vec<f32>>> {
        let t = self.meta.temperature;
        Ok(self
            .logits(features)?
            .iter()
            .map(|z| calibrate::softmax(z, t))
            .collect())
    }

    /// The predicted class of one probability row of a comment in `lang`: by the head's
    /// thresholds or class offsets when it has them, else the first of the largest probabilities.
    pub fn decide(&self, probs: &[f32], lang: Option<&str>) -> usize {
        self.meta.decision.decide(&self.meta.labels, probs, lang)
    }

    /// Writes `head.safetensors` and `head.json` into `dir` (created if needed). The same head
    /// always gives the same bytes.
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| HeadsError::io(dir, e))?;
        let mut tensors: HashMap<String, Tensor> = HashMap::new();
        tensors.insert("input.mean".into(), self.net.mean.flatten_all()?);
        tensors.insert("input.std".into(), self.net.std.flatten_all()?);
        for (m, layers) in self.net.members.iter().enumerate() {
            for (i, (w, b)) in layers.iter().enumerate() {
                tensors.insert(layer_tensor_name(m, i, "weight"), w.clone());
                tensors.insert(layer_tensor_name(m, i, "bias"), b.clone());
            }
        }
        let weights = dir.join(WEIGHTS_FILE);
        candle_core::safetensors::save(&tensors, &weights)?;
        let meta = dir.join(META_FILE);
        let mut json = serde_json::to_string_pretty(&self.meta)
            .map_err(|e| HeadsError::Invalid(format!("cannot serialise head metadata: {e}")))?;
        json.push('\n');
        std::fs::write(&meta, json).map_err(|e| HeadsError::io(&meta, e))
    }

    /// Reads a head written by [`Head::save`], checking that weights and metadata agree.
    pub fn load(dir: &Path) -> Result<Head> {
        let meta_path = dir.join(META_FILE);
        let text =
            std::fs::read_to_string(&meta_path).map_err(|e| HeadsError::io(&meta_path, e))?;
        let weights_path = dir.join(WEIGHTS_FILE);
        if !weights_path.is_file() {
            return Err(HeadsError::Head {
                path: dir.to_path_buf(),
                message: format!("no {WEIGHTS_FILE}"),
            });
        }
        let weights = std::fs::read(&weights_path).map_err(|e| HeadsError::io(&weights_path, e))?;
        Head::from_bytes(&text, &weights, dir)
    }

    /// A head from the contents of its two files; `origin` names it in errors.
    pub fn from_bytes(meta_json: &str, weights: &[u8], origin: &Path) -> Result<Head> {
        let bad = |message: String| HeadsError::Head {
            path: origin.to_path_buf(),
            message,
        };
        let meta: HeadMeta =
            serde_json::from_str(meta_json).map_err(|e| bad(format!("{META_FILE}: {e}")))?;
        if meta.format != HEAD_FORMAT {
            return Err(bad(format!(
                "format {} (this build reads {HEAD_FORMAT})",
                meta.format
            )));
        }
        let mut tensors = candle_core::safetensors::load_buffer(weights, &Device::Cpu)?;
        let mut take = |name: &str, shape: &[usize]| -> Result<Tensor> {
            let t = tensors
                .remove(name)
                .ok_or_else(|| bad(format!("{WEIGHTS_FILE} has no tensor `{name}`")))?
                .to_dtype(DType::F32)?;
            if t.dims() != shape {
                return Err(bad(format!(
                    "`{name}` has shape {:?}, expected {shape:?}",
                    t.dims()
                )));
            }
            Ok(t)
        };
        let d = meta.input_dim;
        let mean = take("input.mean", &[d])?.reshape((1, d))?;
        let std = take("input.std", &[d])?.reshape((1, d))?;
        let mut widths = vec![d];
        widths.extend(&meta.hidden);
        widths.push(meta.labels.len());
        if meta.members == 0 {
            return Err(bad("a head of 0 members".into()));
        }
        let mut members = Vec::with_capacity(meta.members);
        for m in 0..meta.members {
            let mut layers = Vec::new();
            for (i, pair) in widths.windows(2).enumerate() {
                let w = take(&layer_tensor_name(m, i, "weight"), &[pair[1], pair[0]])?;
                let b = take(&layer_tensor_name(m, i, "bias"), &[pair[1]])?;
                layers.push((w, b));
            }
            members.push(layers);
        }
        if let Some(name) = tensors.keys().min() {
            return Err(bad(format!("{WEIGHTS_FILE} has a tensor `{name}` that head.json does not describe")));
        }
        let expected_dim = match meta.input {
            InputKind::Single => meta.embedding_dim,
            InputKind::Pair => 4 * meta.embedding_dim,
        };
        if d != expected_dim || meta.labels.len() < 2 || !(meta.temperature > 0.0) {
            return Err(bad("inconsistent input_dim, labels or temperature".into()));
        }
        Ok(Head {
            meta,
            net: Mlp { mean, std, members },
        })
    }

    /// Index of each label, for mapping gold labels.
    pub fn label_index(&self) -> HashMap<&str, usize> {
        self.meta
            .labels
            .iter()
            .enumerate()
            .map(|(i, l)| (l.as_str(), i))
            .collect()
    }
}
