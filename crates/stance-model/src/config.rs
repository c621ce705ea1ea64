//! Hugging Face `config.json`, read into one [`ModelConfig`] for every supported family.
//!
//! transformers 4.x and 5.x spell some keys differently (ModernBERT's attention layout and RoPE
//! settings, integer or string ids in `label2id`); both spellings are read here so that the
//! architectures never see the difference.

use crate::error::ModelError;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// The architecture families this crate runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// BERT layout with absolute positions `0..n` (also multilingual-e5, which is a BERT model
    /// with the XLM-R vocabulary).
    Bert,
    /// RoBERTa layout (`xlm-roberta`, `camembert`, `roberta`): position ids count the non-pad
    /// tokens and start at `padding_idx + 1`.
    Roberta,
    DistilBert,
    DebertaV2,
    ModernBert,
}

impl Family {
    fn from_model_type(model_type: &str) -> Option<Self> {
        match model_type {
            "bert" => Some(Self::Bert),
            "xlm-roberta" | "roberta" | "camembert" => Some(Self::Roberta),
            "distilbert" => Some(Self::DistilBert),
            "deberta-v2" => Some(Self::DebertaV2),
            "modernbert" => Some(Self::ModernBert),
            _ => None,
        }
    }

    /// The `model_type` values accepted, for error messages.
    pub const SUPPORTED_MODEL_TYPES: &'static str =
        "bert, xlm-roberta, roberta, camembert, distilbert, deberta-v2, modernbert";
}

/// A hidden activation, named after what it computes (HF's names are ambiguous: `"gelu"` is the
/// exact erf form, `"gelu_new"` the tanh approximation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    GeluErf,
    GeluTanh,
    Relu,
    Silu,
}

impl Activation {
    fn parse(name: &str) -> Option<Self> {
        match name {
            "gelu" => Some(Self::GeluErf),
            // The same tanh formula under three names in transformers' ACT2FN.
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Some(Self::GeluTanh),
            "relu" => Some(Self::Relu),
            "silu" | "swish" => Some(Self::Silu),
            _ => None,
        }
    }
}

/// How logits turn into scores, from `problem_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemType {
    /// Softmax over the labels; the decision is the argmax.
    SingleLabel,
    /// An independent sigmoid per label; a label applies when its score is above 0.5.
    MultiLabel,
    /// One raw output, no activation.
    Regression,
}

impl ProblemType {
    /// Scores of one row of logits under this problem type.
    pub fn scores(&self, logits: &[f32]) -> Vec<f32> {
        match self {
            Self::SingleLabel => {
                let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let exps: Vec<f32> = logits.iter().map(|l| (l - max).exp()).collect();
                let sum: f32 = exps.iter().sum();
                exps.iter().map(|e| e / sum).collect()
            }
            Self::MultiLabel => logits.iter().map(|l| 1.0 / (1.0 + (-l).exp())).collect(),
            Self::Regression => logits.to_vec(),
        }
    }
}

/// The sequence-classification head of a `...ForSequenceClassification` checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassifierConfig {
    /// Label names in id order (`id2label[0]`, `id2label[1]`, ...).
    pub id2label: Vec<String>,
    pub problem_type: ProblemType,
}

impl ClassifierConfig {
    pub fn num_labels(&self) -> usize {
        self.id2label.len()
    }
}

/// Settings of the BERT and RoBERTa families.
#[derive(Debug, Clone, PartialEq)]
pub struct BertSettings {
    pub type_vocab_size: usize,
    /// `Some(padding_idx)` for the RoBERTa family: positions are
    /// `padding_idx + cumsum(input_ids != padding_idx)`, pads get `padding_idx`.
    pub roberta_padding_idx: Option<u32>,
}

/// Settings of DeBERTa-v2 (read with HF's defaults for absent keys).
#[derive(Debug, Clone, PartialEq)]
pub struct DebertaSettings {
    pub type_vocab_size: usize,
    pub relative_attention: bool,
    pub max_relative_positions: isize,
    pub position_buckets: isize,
    pub pos_att_type: Vec<String>,
    pub share_att_key: bool,
    pub norm_rel_ebd: String,
    pub position_biased_input: bool,
    pub embedding_size: Option<usize>,
    pub attention_head_size: Option<usize>,
    pub conv_kernel_size: Option<usize>,
    pub conv_groups: Option<usize>,
    pub conv_act: Option<String>,
    pub pooler_hidden_size: usize,
    pub pooler_hidden_act: Activation,
}

/// Which attention a ModernBERT layer uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttentionKind {
    Global,
    /// Token i sees token j only when |i - j| <= local_attention / 2.
    Sliding,
}

/// How a classifier reduces the sequence to one vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassifierPooling {
    Cls,
    /// Masked mean over all real tokens, specials included.
    Mean,
}

/// Settings of ModernBERT, from either spelling of the config.
#[derive(Debug, Clone, PartialEq)]
pub struct ModernBertSettings {
    pub layer_attention: Vec<AttentionKind>,
    pub global_rope_theta: f64,
    pub local_rope_theta: f64,
    pub local_attention: usize,
    pub classifier_pooling: ClassifierPooling,
    pub classifier_activation: Activation,
    pub norm_bias: bool,
    pub attention_bias: bool,
    pub mlp_bias: bool,
    pub classifier_bias: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FamilySettings {
    Bert(BertSettings),
    DistilBert,
    DebertaV2(DebertaSettings),
    ModernBert(ModernBertSettings),
}

/// A parsed `config.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    /// The file it was read from (named in every later error).
    pub path: PathBuf,
    pub model_type: String,
    pub family: Family,
    /// `architectures[0]`, e.g. `BertForSequenceClassification`.
    pub architecture: Option<String>,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    pub layer_norm_eps: f64,
    pub hidden_act: Activation,
    pub pad_token_id: Option<u32>,
    /// `Some` for `...ForSequenceClassification` checkpoints, `None` for bare encoders.
    pub classifier: Option<ClassifierConfig>,
    pub settings: FamilySettings,
}

impl ModelConfig {
    /// Reads and validates `config.json`.
    pub fn from_file(path: &Path) -> Result<Self, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::File {
            path: path.to_path_buf(),
            message: format!("cannot read the model configuration: {e}"),
        })?;
        Self::from_json_str(&text, path)
    }

    /// Parses the text of a `config.json`; `path` is only used to name the file in errors.
    pub fn from_json_str(text: &str, path: &Path) -> Result<Self, ModelError> {
        let value: Value = serde_json::from_str(text).map_err(|e| ModelError::Config {
            path: path.to_path_buf(),
            message: format!("not valid JSON: {e}"),
        })?;
        let Value::Object(object) = value else {
            return Err(ModelError::Config {
                path: path.to_path_buf(),
                message: "the top level is not a JSON object".into(),
            });
        };
        parse(&Raw { path, object: &object })
    }

    /// The longest input (specials included) the position scheme allows, if it has a bound.
    pub fn max_input_tokens(&self) -> Option<usize> {
        match &self.settings {
            FamilySettings::Bert(BertSettings {
                roberta_padding_idx: Some(padding_idx),
                ..
            }) => Some(
                self.max_position_embeddings
                    .saturating_sub(*padding_idx as usize + 1),
            ),
            FamilySettings::DebertaV2(d) if !d.position_biased_input => None,
            _ => Some(self.max_position_embeddings),
        }
    }

    /// Whether the model reads `token_type_ids` (otherwise they are ignored).
    pub fn uses_token_type_ids(&self) -> bool {
        match &self.settings {
            FamilySettings::Bert(b) => b.type_vocab_size > 1,
            FamilySettings::DebertaV2(d) => d.type_vocab_size > 0,
            FamilySettings::DistilBert | FamilySettings::ModernBert(_) => false,
        }
    }
}

/// The top-level JSON object with the file's path, for typed look-ups with clear errors.
struct Raw<'a> {
    path: &'a Path,
    object: &'a Map<String, Value>,
}

impl Raw<'_> {
    fn error(&self, message: String) -> ModelError {
        ModelError::Config {
            path: self.path.to_path_buf(),
            message,
        }
    }

    fn unsupported(&self, what: String) -> ModelError {
        ModelError::Unsupported {
            path: self.path.to_path_buf(),
            what,
        }
    }

    /// The value of `key`, treating JSON `null` as absent (HF writes `"bos_token_id": null`).
    fn get(&self, key: &str) -> Option<&Value> {
        self.object.get(key).filter(|v| !v.is_null())
    }

    fn usize(&self, key: &str) -> Result<Option<usize>, ModelError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| self.error(format!("`{key}` must be a non-negative integer"))),
        }
    }

    fn isize(&self, key: &str) -> Result<Option<isize>, ModelError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .and_then(|n| isize::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| self.error(format!("`{key}` must be an integer"))),
        }
    }

    fn f64(&self, key: &str) -> Result<Option<f64>, ModelError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .map(Some)
                .ok_or_else(|| self.error(format!("`{key}` must be a number"))),
        }
    }

    fn bool(&self, key: &str) -> Result<Option<bool>, ModelError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_bool()
                .map(Some)
                .ok_or_else(|| self.error(format!("`{key}` must be true or false"))),
        }
    }

    fn str(&self, key: &str) -> Result<Option<&str>, ModelError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_str()
                .map(Some)
                .ok_or_else(|| self.error(format!("`{key}` must be a string"))),
        }
    }

    /// The first of `keys` present, required: HF renamed some fields between families.
    fn required_usize(&self, keys: &[&str]) -> Result<usize, ModelError> {
        for key in keys {
            if let Some(v) = self.usize(key)? {
                return Ok(v);
            }
        }
        Err(self.error(format!("missing `{}`", keys.join("` or `"))))
    }

    fn activation(&self, key: &str, default: &str) -> Result<Activation, ModelError> {
        let name = self.str(key)?.unwrap_or(default);
        Activation::parse(name)
            .ok_or_else(|| self.unsupported(format!("activation `{key}`: `{name}`")))
    }
}

fn parse(raw: &Raw) -> Result<ModelConfig, ModelError> {
    let architecture = match raw.get("architectures") {
        Some(Value::Array(items)) => items.first().and_then(Value::as_str).map(str::to_owned),
        Some(_) => return Err(raw.error("`architectures` must be a list of names".into())),
        None => None,
    };
    let model_type = raw
        .str("model_type")?
        .ok_or_else(|| raw.error("missing `model_type`".into()))?
        .to_owned();
    let family = Family::from_model_type(&model_type).ok_or_else(|| {
        raw.unsupported(format!(
            "architecture: model_type `{model_type}`{} (supported: {})",
            architecture
                .as_deref()
                .map(|a| format!(" ({a})"))
                .unwrap_or_default(),
            Family::SUPPORTED_MODEL_TYPES
        ))
    })?;
    let classifier = match &architecture {
        Some(a) if a.ends_with("ForSequenceClassification") => Some(parse_classifier(raw)?),
        _ => None,
    };
    let pad_token_id = raw
        .usize("pad_token_id")?
        .map(|p| u32::try_from(p).map_err(|_| raw.error("`pad_token_id` is too large".into())))
        .transpose()?;

    let config = match family {
        Family::Bert | Family::Roberta => {
            if let Some(kind) = raw.str("position_embedding_type")? {
                if kind != "absolute" {
                    return Err(raw.unsupported(format!("position_embedding_type `{kind}`")));
                }
            }
            let roberta_padding_idx = match family {
                Family::Roberta => Some(pad_token_id.unwrap_or(1)),
                _ => None,
            };
            ModelConfig {
                path: raw.path.to_path_buf(),
                model_type,
                family,
                architecture,
                vocab_size: raw.required_usize(&["vocab_size"])?,
                hidden_size: raw.required_usize(&["hidden_size"])?,
                num_hidden_layers: raw.required_usize(&["num_hidden_layers"])?,
                num_attention_heads: raw.required_usize(&["num_attention_heads"])?,
                intermediate_size: raw.required_usize(&["intermediate_size"])?,
                max_position_embeddings: raw.required_usize(&["max_position_embeddings"])?,
                layer_norm_eps: raw.f64("layer_norm_eps")?.unwrap_or(1e-12),
                hidden_act: raw.activation("hidden_act", "gelu")?,
                pad_token_id,
                classifier,
                settings: FamilySettings::Bert(BertSettings {
                    type_vocab_size: raw.usize("type_vocab_size")?.unwrap_or(2),
                    roberta_padding_idx,
                }),
            }
        }
        Family::DistilBert => ModelConfig {
            path: raw.path.to_path_buf(),
            model_type,
            family,
            architecture,
            vocab_size: raw.required_usize(&["vocab_size"])?,
            hidden_size: raw.required_usize(&["dim", "hidden_size"])?,
            num_hidden_layers: raw.required_usize(&["n_layers", "num_hidden_layers"])?,
            num_attention_heads: raw.required_usize(&["n_heads", "num_attention_heads"])?,
            intermediate_size: raw.required_usize(&["hidden_dim", "intermediate_size"])?,
            max_position_embeddings: raw.required_usize(&["max_position_embeddings"])?,
            // transformers hard-codes DistilBERT's LayerNorm eps; it is not in the config.
            layer_norm_eps: 1e-12,
            hidden_act: raw.activation("activation", "gelu")?,
            pad_token_id,
            classifier,
            settings: FamilySettings::DistilBert,
        },
        Family::DebertaV2 => {
            let hidden_size = raw.required_usize(&["hidden_size"])?;
            ModelConfig {
                path: raw.path.to_path_buf(),
                model_type,
                family,
                architecture,
                vocab_size: raw.required_usize(&["vocab_size"])?,
                hidden_size,
                num_hidden_layers: raw.required_usize(&["num_hidden_layers"])?,
                num_attention_heads: raw.required_usize(&["num_attention_heads"])?,
                intermediate_size: raw.required_usize(&["intermediate_size"])?,
                max_position_embeddings: raw.usize("max_position_embeddings")?.unwrap_or(512),
                layer_norm_eps: raw.f64("layer_norm_eps")?.unwrap_or(1e-7),
                hidden_act: raw.activation("hidden_act", "gelu")?,
                pad_token_id,
                classifier,
                settings: FamilySettings::DebertaV2(parse_deberta(raw, hidden_size)?),
            }
        }
        Family::ModernBert => ModelConfig {
            path: raw.path.to_path_buf(),
            model_type,
            family,
            architecture,
            vocab_size: raw.required_usize(&["vocab_size"])?,
            hidden_size: raw.required_usize(&["hidden_size"])?,
            num_hidden_layers: raw.required_usize(&["num_hidden_layers"])?,
            num_attention_heads: raw.required_usize(&["num_attention_heads"])?,
            intermediate_size: raw.required_usize(&["intermediate_size"])?,
            max_position_embeddings: raw.usize("max_position_embeddings")?.unwrap_or(8192),
            // 5.x and 4.x write `norm_eps`; candle's own config reads `layer_norm_eps`.
            layer_norm_eps: match raw.f64("norm_eps")? {
                Some(eps) => eps,
                None => raw.f64("layer_norm_eps")?.unwrap_or(1e-5),
            },
            hidden_act: raw.activation("hidden_activation", "gelu")?,
            pad_token_id,
            classifier,
            settings: FamilySettings::ModernBert(parse_modernbert(raw)?),
        },
    };
    validate(raw, &config)?;
    Ok(config)
}

fn validate(raw: &Raw, config: &ModelConfig) -> Result<(), ModelError> {
    for (name, value) in [
        ("vocab_size", config.vocab_size),
        ("hidden_size", config.hidden_size),
        ("num_hidden_layers", config.num_hidden_layers),
        ("num_attention_heads", config.num_attention_heads),
        ("intermediate_size", config.intermediate_size),
        ("max_position_embeddings", config.max_position_embeddings),
    ] {
        if value == 0 {
            return Err(raw.error(format!("`{name}` must be positive")));
        }
    }
    let explicit_head_size = matches!(
        &config.settings,
        FamilySettings::DebertaV2(DebertaSettings {
            attention_head_size: Some(_),
            ..
        })
    );
    if !explicit_head_size && config.hidden_size % config.num_attention_heads != 0 {
        return Err(raw.error(format!(
            "hidden size {} is not a multiple of the {} attention heads",
            config.hidden_size, config.num_attention_heads
        )));
    }
    if !(config.layer_norm_eps.is_finite() && config.layer_norm_eps > 0.0) {
        return Err(raw.error("the LayerNorm epsilon must be a positive number".into()));
    }
    Ok(())
}

/// A label id written as an integer or as a string holding one (both occur in the wild).
fn label_id(value: &Value) -> Option<usize> {
    match value {
        Value::Number(n) => n.as_u64().and_then(|n| usize::try_from(n).ok()),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// `id2label` in id order; ids must be exactly `0..n`.
fn labels_in_id_order(
    raw: &Raw,
    pairs: Vec<(usize, String)>,
    key: &str,
) -> Result<Vec<String>, ModelError> {
    let mut slots: Vec<Option<String>> = vec![None; pairs.len()];
    for (id, name) in pairs {
        match slots.get_mut(id) {
            Some(slot @ None) => *slot = Some(name),
            Some(Some(_)) => return Err(raw.error(format!("`{key}` repeats label id {id}"))),
            None => {
                return Err(raw.error(format!(
                    "`{key}` has id {id}, but ids must run from 0 to the number of labels - 1"
                )))
            }
        }
    }
    // Every slot is filled: n distinct ids in 0..n.
    Ok(slots.into_iter().flatten().collect())
}

fn parse_classifier(raw: &Raw) -> Result<ClassifierConfig, ModelError> {
    let from_id2label = match raw.get("id2label") {
        None => None,
        Some(Value::Object(map)) => {
            let mut pairs = Vec::with_capacity(map.len());
            for (id, name) in map {
                let id = id.trim().parse::<usize>().map_err(|_| {
                    raw.error(format!("`id2label` key `{id}` is not a label id"))
                })?;
                let name = name
                    .as_str()
                    .ok_or_else(|| raw.error(format!("`id2label[{id}]` must be a string")))?;
                pairs.push((id, name.to_owned()));
            }
            Some(labels_in_id_order(raw, pairs, "id2label")?)
        }
        Some(_) => return Err(raw.error("`id2label` must be an object".into())),
    };
    let from_label2id = match raw.get("label2id") {
        None => None,
        Some(Value::Object(map)) => {
            let mut pairs = Vec::with_capacity(map.len());
            for (name, id) in map {
                let id = label_id(id).ok_or_else(|| {
                    raw.error(format!("`label2id[{name}]` is not a label id: {id}"))
                })?;
                pairs.push((id, name.clone()));
            }
            Some(labels_in_id_order(raw, pairs, "label2id")?)
        }
        Some(_) => return Err(raw.error("`label2id` must be an object".into())),
    };
    let id2label = match (from_id2label, from_label2id) {
        (Some(labels), _) | (None, Some(labels)) => labels,
        (None, None) => {
            let n = match raw.usize("num_labels")? {
                Some(n) => n,
                None => raw.usize("_num_labels")?.unwrap_or(2),
            };
            (0..n).map(|i| format!("LABEL_{i}")).collect()
        }
    };
    if id2label.is_empty() {
        return Err(raw.error("a sequence classifier needs at least one label".into()));
    }
    let problem_type = match raw.str("problem_type")? {
        Some("single_label_classification") => ProblemType::SingleLabel,
        Some("multi_label_classification") => ProblemType::MultiLabel,
        Some("regression") => ProblemType::Regression,
        Some(other) => return Err(raw.unsupported(format!("problem_type `{other}`"))),
        // transformers' own rule when the field is absent.
        None if id2label.len() == 1 => ProblemType::Regression,
        None => ProblemType::SingleLabel,
    };
    Ok(ClassifierConfig {
        id2label,
        problem_type,
    })
}

fn parse_deberta(raw: &Raw, hidden_size: usize) -> Result<DebertaSettings, ModelError> {
    let pos_att_type = match raw.get("pos_att_type") {
        None => Vec::new(),
        // Older configs write "p2c|c2p".
        Some(Value::String(s)) => s
            .split('|')
            .map(|p| p.trim().to_lowercase())
            .filter(|p| !p.is_empty())
            .collect(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(|s| s.trim().to_lowercase())
                    .ok_or_else(|| raw.error("`pos_att_type` must list strings".into()))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(raw.error("`pos_att_type` must be a string or a list".into())),
    };
    for kind in &pos_att_type {
        if kind != "p2c" && kind != "c2p" {
            return Err(raw.unsupported(format!("DeBERTa pos_att_type `{kind}`")));
        }
    }
    let pooler_hidden_act = raw.activation("pooler_hidden_act", "gelu")?;
    if raw.activation("hidden_act", "gelu")? == Activation::Silu
        || pooler_hidden_act == Activation::Silu
    {
        return Err(raw.unsupported("DeBERTa activation `silu`".into()));
    }
    Ok(DebertaSettings {
        type_vocab_size: raw.usize("type_vocab_size")?.unwrap_or(0),
        relative_attention: raw.bool("relative_attention")?.unwrap_or(false),
        max_relative_positions: raw.isize("max_relative_positions")?.unwrap_or(-1),
        position_buckets: raw.isize("position_buckets")?.unwrap_or(-1),
        pos_att_type,
        share_att_key: raw.bool("share_att_key")?.unwrap_or(false),
        norm_rel_ebd: raw
            .str("norm_rel_ebd")?
            .unwrap_or("none")
            .to_lowercase(),
        position_biased_input: raw.bool("position_biased_input")?.unwrap_or(true),
        embedding_size: raw.usize("embedding_size")?,
        attention_head_size: raw.usize("attention_head_size")?,
        conv_kernel_size: raw.usize("conv_kernel_size")?,
        conv_groups: raw.usize("conv_groups")?,
        conv_act: raw.str("conv_act")?.map(str::to_owned),
        pooler_hidden_size: raw.usize("pooler_hidden_size")?.unwrap_or(hidden_size),
        pooler_hidden_act,
    })
}

/// RoPE theta of one `rope_parameters` entry; only the plain ("default") RoPE is supported.
fn rope_theta(raw: &Raw, entry: &Value, key: &str) -> Result<f64, ModelError> {
    if let Some(kind) = entry.get("rope_type").and_then(Value::as_str) {
        if kind != "default" {
            return Err(raw.unsupported(format!("ModernBERT rope_type `{kind}` in `{key}`")));
        }
    }
    entry
        .get("rope_theta")
        .and_then(Value::as_f64)
        .ok_or_else(|| raw.error(format!("`{key}` has no numeric `rope_theta`")))
}

fn parse_modernbert(raw: &Raw) -> Result<ModernBertSettings, ModelError> {
    let num_layers = raw.required_usize(&["num_hidden_layers"])?;
    // transformers 5.x: an explicit `layer_types` list; 4.x: every n-th layer is global.
    let layer_attention = match raw.get("layer_types") {
        Some(Value::Array(items)) => {
            let kinds = items
                .iter()
                .map(|item| match item.as_str() {
                    Some("full_attention") => Ok(AttentionKind::Global),
                    Some("sliding_attention") => Ok(AttentionKind::Sliding),
                    other => Err(raw.unsupported(format!(
                        "ModernBERT layer type {}",
                        other.unwrap_or("(not a string)")
                    ))),
                })
                .collect::<Result<Vec<_>, _>>()?;
            if kinds.len() != num_layers {
                return Err(raw.error(format!(
                    "`layer_types` lists {} layers but `num_hidden_layers` is {num_layers}",
                    kinds.len()
                )));
            }
            kinds
        }
        Some(_) => return Err(raw.error("`layer_types` must be a list".into())),
        None => {
            let every = raw.usize("global_attn_every_n_layers")?.unwrap_or(3);
            if every == 0 {
                return Err(raw.error("`global_attn_every_n_layers` must be positive".into()));
            }
            (0..num_layers)
                .map(|i| {
                    if i % every == 0 {
                        AttentionKind::Global
                    } else {
                        AttentionKind::Sliding
                    }
                })
                .collect()
        }
    };
    let (global_rope_theta, local_rope_theta) = match raw.get("rope_parameters") {
        Some(params @ Value::Object(map)) => {
            if map.contains_key("full_attention") || map.contains_key("sliding_attention") {
                let global = match map.get("full_attention") {
                    Some(entry) => rope_theta(raw, entry, "rope_parameters.full_attention")?,
                    None => raw.f64("global_rope_theta")?.unwrap_or(160_000.0),
                };
                let local = match map.get("sliding_attention") {
                    Some(entry) => rope_theta(raw, entry, "rope_parameters.sliding_attention")?,
                    None => raw.f64("local_rope_theta")?.unwrap_or(10_000.0),
                };
                (global, local)
            } else {
                let theta = rope_theta(raw, params, "rope_parameters")?;
                (theta, theta)
            }
        }
        Some(_) => return Err(raw.error("`rope_parameters` must be an object".into())),
        None => (
            raw.f64("global_rope_theta")?.unwrap_or(160_000.0),
            raw.f64("local_rope_theta")?.unwrap_or(10_000.0),
        ),
    };
    let classifier_pooling = match raw.str("classifier_pooling")?.unwrap_or("cls") {
        "cls" => ClassifierPooling::Cls,
        "mean" => ClassifierPooling::Mean,
        other => return Err(raw.unsupported(format!("ModernBERT classifier_pooling `{other}`"))),
    };
    Ok(ModernBertSettings {
        layer_attention,
        global_rope_theta,
        local_rope_theta,
        local_attention: raw.usize("local_attention")?.unwrap_or(128),
        classifier_pooling,
        classifier_activation: raw.activation("classifier_activation", "gelu")?,
        norm_bias: raw.bool("norm_bias")?.unwrap_or(false),
        attention_bias: raw.bool("attention_bias")?.unwrap_or(false),
        mlp_bias: raw.bool("mlp_bias")?.unwrap_or(false),
        classifier_bias: raw.bool("classifier_bias")?.unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<ModelConfig, ModelError> {
        ModelConfig::from_json_str(text, Path::new("config.json"))
    }

    const MODERNBERT_4X: &str = r#"{
        "architectures": ["ModernBertForSequenceClassification"], "model_type": "modernbert",
        "vocab_size": 100, "hidden_size": 32, "num_hidden_layers": 4, "num_attention_heads": 4,
        "intermediate_size": 64, "max_position_embeddings": 128, "layer_norm_eps": 1e-6,
        "global_attn_every_n_layers": 2, "global_rope_theta": 1000.0, "local_rope_theta": 10.0,
        "local_attention": 16, "classifier_pooling": "mean",
        "id2label": {"0": "a", "1": "b"}, "label2id": {"a": "0", "b": "1"}
    }"#;

    const MODERNBERT_5X: &str = r#"{
        "architectures": ["ModernBertForSequenceClassification"], "model_type": "modernbert",
        "vocab_size": 100, "hidden_size": 32, "num_hidden_layers": 4, "num_attention_heads": 4,
        "intermediate_size": 64, "max_position_embeddings": 128, "norm_eps": 1e-6,
        "layer_types": ["full_attention", "sliding_attention", "full_attention", "sliding_attention"],
        "rope_parameters": {"full_attention": {"rope_theta": 1000.0, "rope_type": "default"},
                            "sliding_attention": {"rope_theta": 10.0, "rope_type": "default"}},
        "local_attention": 16, "classifier_pooling": "mean",
        "id2label": {"0": "a", "1": "b"}, "label2id": {"a": 0, "b": 1}
    }"#;

    #[test]
    fn modernbert_spellings_agree() {
        let old = parse_str(MODERNBERT_4X).expect("4.x config");
        let new = parse_str(MODERNBERT_5X).expect("5.x config");
        assert_eq!(old.settings, new.settings);
        assert_eq!(old.layer_norm_eps, 1e-6);
        assert_eq!(new.layer_norm_eps, 1e-6);
        let FamilySettings::ModernBert(m) = &new.settings else {
            panic!("not ModernBERT: {:?}", new.settings)
        };
        assert_eq!(
            m.layer_attention,
            [
                AttentionKind::Global,
                AttentionKind::Sliding,
                AttentionKind::Global,
                AttentionKind::Sliding
            ]
        );
        assert_eq!((m.global_rope_theta, m.local_rope_theta), (1000.0, 10.0));
        assert_eq!(m.classifier_pooling, ClassifierPooling::Mean);
    }

    #[test]
    fn labels_come_in_id_order_and_problem_type_defaults() {
        let config = parse_str(
            r#"{"architectures": ["BertForSequenceClassification"], "model_type": "bert",
            "vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,
            "intermediate_size": 16, "max_position_embeddings": 16,
            "id2label": {"2": "c", "0": "a", "1": "b"}}"#,
        )
        .expect("config");
        let classifier = config.classifier.clone().expect("classifier");
        assert_eq!(classifier.id2label, ["a", "b", "c"]);
        assert_eq!(classifier.problem_type, ProblemType::SingleLabel);
        assert!(config.uses_token_type_ids());
    }

    #[test]
    fn label2id_alone_with_string_ids_and_multi_label() {
        let config = parse_str(
            r#"{"architectures": ["XLMRobertaForSequenceClassification"],
            "model_type": "xlm-roberta", "vocab_size": 10, "hidden_size": 8,
            "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 16,
            "max_position_embeddings": 18, "pad_token_id": 1,
            "problem_type": "multi_label_classification",
            "label2id": {"y": "1", "x": "0"}}"#,
        )
        .expect("config");
        let classifier = config.classifier.clone().expect("classifier");
        assert_eq!(classifier.id2label, ["x", "y"]);
        assert_eq!(classifier.problem_type, ProblemType::MultiLabel);
        assert_eq!(config.family, Family::Roberta);
        assert_eq!(config.max_input_tokens(), Some(16));
    }

    #[test]
    fn gaps_in_label_ids_are_rejected() {
        let err = parse_str(
            r#"{"architectures": ["BertForSequenceClassification"], "model_type": "bert",
            "vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,
            "intermediate_size": 16, "max_position_embeddings": 16,
            "id2label": {"0": "a", "2": "c"}}"#,
        )
        .expect_err("gap");
        assert!(err.to_string().contains("id2label"), "{err}");
    }

    #[test]
    fn unsupported_model_type_names_the_file() {
        let err = parse_str(r#"{"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]}"#)
            .expect_err("gpt2");
        let message = err.to_string();
        assert!(message.starts_with("config.json: unsupported architecture"), "{message}");
        assert!(message.contains("gpt2"), "{message}");
    }

    #[test]
    fn scores_follow_the_problem_type() {
        let soft = ProblemType::SingleLabel.scores(&[0.0, f32::ln(3.0)]);
        assert!((soft[0] - 0.25).abs() < 1e-6 && (soft[1] - 0.75).abs() < 1e-6);
        let sig = ProblemType::MultiLabel.scores(&[0.0, 100.0]);
        assert!((sig[0] - 0.5).abs() < 1e-6 && (sig[1] - 1.0).abs() < 1e-6);
    }
}
