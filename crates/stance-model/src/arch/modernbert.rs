//! ModernBERT and `ModernBertForSequenceClassification`.
//!
//! The encoder is candle-transformers' `ModernBert` (RoPE, alternating global/sliding-window
//! attention, GeGLU, bias-free pre-LN), which matches transformers on the fixtures. Its
//! classifier is not reused: it returns softmax probabilities, and the head here returns logits.

use super::inputs;
use super::layers::{activate, layer_norm, Linear, MatmulMode};
use crate::config::{
    Activation, AttentionKind, ClassifierPooling, FamilySettings, ModelConfig, ModernBertSettings,
};
use crate::error::ModelError;
use crate::pooling::{cls_pool, mean_pool};
use crate::weights::{CheckedBackend, WeightStore};
use crate::{Model, ModelOutput, TokenBatch};
use candle_core::{DType, Device, Module};
use candle_nn::VarBuilder;
use candle_transformers::models::modernbert as candle_modernbert;

/// `classifier(norm(act(dense(pooled))))`.
struct Head {
    dense: Linear,
    activation: Activation,
    norm: candle_nn::LayerNorm,
    classifier: Linear,
    pooling: ClassifierPooling,
}

pub struct ModernBert {
    device: Device,
    vocab_size: usize,
    max_positions: usize,
    model: candle_modernbert::ModernBert,
    head: Option<Head>,
}

/// candle describes the layout as "every n-th layer is global, starting at 0"; transformers
/// 5.x lists it. Finds the `n` that reproduces the list.
fn global_every_n(kinds: &[AttentionKind]) -> Option<usize> {
    (1..=kinds.len().max(1)).find(|n| {
        kinds
            .iter()
            .enumerate()
            .all(|(i, k)| (*k == AttentionKind::Global) == (i % n == 0))
    })
}

fn unsupported(config: &ModelConfig, what: String) -> ModelError {
    ModelError::Unsupported {
        path: config.path.clone(),
        what,
    }
}

fn candle_config(
    config: &ModelConfig,
    m: &ModernBertSettings,
) -> Result<candle_modernbert::Config, ModelError> {
    // candle's encoder has no bias terms and a fixed erf-GELU GeGLU: refuse what it would
    // silently compute differently.
    if m.attention_bias || m.mlp_bias || m.norm_bias {
        return Err(unsupported(
            config,
            "ModernBERT with attention_bias, mlp_bias or norm_bias set".into(),
        ));
    }
    if config.hidden_act != Activation::GeluErf {
        return Err(unsupported(
            config,
            format!("ModernBERT hidden_activation {:?}", config.hidden_act),
        ));
    }
    let every = global_every_n(&m.layer_attention).ok_or_else(|| {
        unsupported(
            config,
            format!(
                "ModernBERT layer layout {:?} (global layers must recur every n layers from 0)",
                m.layer_attention
            ),
        )
    })?;
    Ok(candle_modernbert::Config {
        vocab_size: config.vocab_size,
        hidden_size: config.hidden_size,
        num_hidden_layers: config.num_hidden_layers,
        num_attention_heads: config.num_attention_heads,
        intermediate_size: config.intermediate_size,
        max_position_embeddings: config.max_position_embeddings,
        layer_norm_eps: config.layer_norm_eps,
        pad_token_id: config.pad_token_id.unwrap_or(0),
        global_attn_every_n_layers: every,
        global_rope_theta: m.global_rope_theta,
        local_attention: m.local_attention,
        local_rope_theta: m.local_rope_theta,
        classifier_config: None,
    })
}

impl ModernBert {
    pub fn load(config: &ModelConfig, store: &WeightStore) -> Result<Self, ModelError> {
        let FamilySettings::ModernBert(settings) = &config.settings else {
            return Err(unsupported(
                config,
                format!("model_type `{}` for the ModernBERT loader", config.model_type),
            ));
        };
        let candle_config = candle_config(config, settings)?;
        // candle names the encoder `model.*`, as classifier checkpoints do; a bare
        // `ModernBertModel` export stores the same tensors without the prefix.
        let rename = (!store.contains("model.embeddings.tok_embeddings.weight")
            && store.contains("embeddings.tok_embeddings.weight"))
        .then(|| ("model.".to_owned(), String::new()));
        let (backend, errors) = CheckedBackend::new(store, rename);
        let vb = VarBuilder::from_backend(Box::new(backend), DType::F32, store.device().clone());
        let model = candle_modernbert::ModernBert::load(vb, &candle_config)
            .map_err(|e| CheckedBackend::take_error(&errors, e))?;
        let h = config.hidden_size;
        let head = match &config.classifier {
            None => None,
            Some(classifier) => Some(Head {
                dense: Linear::load(
                    store,
                    "head.dense",
                    h,
                    h,
                    settings.classifier_bias,
                    MatmulMode::F32,
                )?,
                activation: settings.classifier_activation,
                norm: layer_norm(store, "head.norm", h, config.layer_norm_eps, settings.norm_bias)?,
                classifier: Linear::load(
                    store,
                    "classifier",
                    h,
                    classifier.num_labels(),
                    true,
                    MatmulMode::F32,
                )?,
                pooling: settings.classifier_pooling,
            }),
        };
        Ok(Self {
            device: store.device().clone(),
            vocab_size: config.vocab_size,
            max_positions: config.max_position_embeddings,
            model,
            head,
        })
    }
}

impl Model for ModernBert {
    fn forward(&self, batch: &TokenBatch) -> Result<ModelOutput, ModelError> {
        inputs::validate(batch, self.vocab_size)?;
        inputs::check_length(batch, self.max_positions)?;
        let ids = inputs::input_ids(batch, &self.device)?;
        let mask = inputs::mask_f32(batch, &self.device)?;
        let last_hidden = self.model.forward(&ids, &mask)?;
        let logits = match &self.head {
            None => None,
            Some(head) => {
                let pooled = match head.pooling {
                    ClassifierPooling::Cls => cls_pool(&last_hidden)?,
                    ClassifierPooling::Mean => mean_pool(&last_hidden, &mask)?,
                };
                let inner = activate(head.dense.forward(&pooled)?, head.activation, false)?;
                Some(head.classifier.forward(&head.norm.forward(&inner)?)?)
            }
        };
        Ok(ModelOutput {
            last_hidden: Some(last_hidden),
            logits,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AttentionKind::{Global as G, Sliding as S};

    #[test]
    fn layer_lists_map_to_candles_period() {
        assert_eq!(global_every_n(&[G, S, S, G, S, S]), Some(3));
        assert_eq!(global_every_n(&[G, S]), Some(2));
        assert_eq!(global_every_n(&[G, G]), Some(1));
        assert_eq!(global_every_n(&[G, S, G, G]), None);
        assert_eq!(global_every_n(&[S, G]), None);
    }
}
