//! DeBERTa-v2/v3 and `DebertaV2ForSequenceClassification`, on candle-transformers' `debertav2`
//! (which matches transformers on the fixtures) fed through this crate's checked weight store.

use super::inputs;
use crate::config::{Activation, DebertaSettings, FamilySettings, ModelConfig};
use crate::error::ModelError;
use crate::weights::{CheckedBackend, WeightStore};
use crate::{Model, ModelOutput, TokenBatch};
use candle_core::{DType, Device, Module, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::debertav2 as candle_deberta;

struct Head {
    pooler: candle_deberta::DebertaV2ContextPooler,
    classifier: candle_nn::Linear,
}

pub struct DebertaV2 {
    device: Device,
    vocab_size: usize,
    /// Set when the model adds absolute position embeddings (then inputs are bounded).
    max_positions: Option<usize>,
    type_vocab_size: usize,
    model: candle_deberta::DebertaV2Model,
    head: Option<Head>,
}

fn candle_activation(activation: Activation) -> candle_deberta::HiddenAct {
    match activation {
        Activation::GeluErf => candle_deberta::HiddenAct::Gelu,
        Activation::GeluTanh => candle_deberta::HiddenAct::GeluApproximate,
        // `Silu` is refused when the config is parsed.
        Activation::Relu | Activation::Silu => candle_deberta::HiddenAct::Relu,
    }
}

fn candle_config(config: &ModelConfig, d: &DebertaSettings) -> candle_deberta::Config {
    candle_deberta::Config {
        vocab_size: config.vocab_size,
        hidden_size: config.hidden_size,
        num_hidden_layers: config.num_hidden_layers,
        num_attention_heads: config.num_attention_heads,
        intermediate_size: config.intermediate_size,
        hidden_act: candle_activation(config.hidden_act),
        // Dropout and init are training-only.
        hidden_dropout_prob: 0.0,
        attention_probs_dropout_prob: 0.0,
        initializer_range: 0.02,
        max_position_embeddings: config.max_position_embeddings,
        type_vocab_size: d.type_vocab_size,
        layer_norm_eps: config.layer_norm_eps,
        relative_attention: d.relative_attention,
        max_relative_positions: d.max_relative_positions,
        pad_token_id: config.pad_token_id.map(|p| p as usize),
        position_biased_input: d.position_biased_input,
        pos_att_type: d.pos_att_type.clone(),
        position_buckets: Some(d.position_buckets),
        share_att_key: Some(d.share_att_key),
        attention_head_size: d.attention_head_size,
        embedding_size: d.embedding_size,
        norm_rel_ebd: Some(d.norm_rel_ebd.clone()),
        conv_kernel_size: d.conv_kernel_size,
        conv_groups: d.conv_groups,
        conv_act: d.conv_act.clone(),
        id2label: config.classifier.as_ref().map(|c| {
            c.id2label
                .iter()
                .enumerate()
                .map(|(i, l)| (i as u32, l.clone()))
                .collect()
        }),
        label2id: None,
        pooler_dropout: Some(0.0),
        pooler_hidden_act: Some(candle_activation(d.pooler_hidden_act)),
        pooler_hidden_size: Some(d.pooler_hidden_size),
        cls_dropout: None,
    }
}

impl DebertaV2 {
    pub fn load(config: &ModelConfig, store: &WeightStore) -> Result<Self, ModelError> {
        let FamilySettings::DebertaV2(settings) = &config.settings else {
            return Err(ModelError::Unsupported {
                path: config.path.clone(),
                what: format!("model_type `{}` for the DeBERTa loader", config.model_type),
            });
        };
        let candle_config = candle_config(config, settings);
        let (backend, errors) = CheckedBackend::new(store, None);
        let vb = VarBuilder::from_backend(Box::new(backend), DType::F32, store.device().clone());
        let encoder_vb = if store.contains("deberta.embeddings.word_embeddings.weight")
            || config.classifier.is_some()
        {
            vb.pp("deberta")
        } else {
            vb.clone()
        };
        let build = || -> candle_core::Result<(candle_deberta::DebertaV2Model, Option<Head>)> {
            let model = candle_deberta::DebertaV2Model::load(encoder_vb.clone(), &candle_config)?;
            let head = match &config.classifier {
                None => None,
                Some(classifier) => Some(Head {
                    // The pooler reads `pooler.dense` from the root, as in transformers.
                    pooler: candle_deberta::DebertaV2ContextPooler::load(
                        encoder_vb.clone(),
                        &candle_config,
                    )?,
                    classifier: candle_nn::linear(
                        settings.pooler_hidden_size,
                        classifier.num_labels(),
                        vb.pp("classifier"),
                    )?,
                }),
            };
            Ok((model, head))
        };
        let (model, head) = build().map_err(|e| CheckedBackend::take_error(&errors, e))?;
        Ok(Self {
            device: store.device().clone(),
            vocab_size: config.vocab_size,
            max_positions: settings
                .position_biased_input
                .then_some(config.max_position_embeddings),
            type_vocab_size: settings.type_vocab_size,
            model,
            head,
        })
    }
}

impl Model for DebertaV2 {
    fn forward(&self, batch: &TokenBatch) -> Result<ModelOutput, ModelError> {
        inputs::validate(batch, self.vocab_size)?;
        if let Some(max) = self.max_positions {
            inputs::check_length(batch, max)?;
        }
        let ids = inputs::input_ids(batch, &self.device)?;
        let mask = Tensor::from_slice(
            &batch.attention_mask,
            (batch.batch_size, batch.seq_len),
            &self.device,
        )?;
        // With `type_vocab_size` 0 the ids are ignored (DeBERTa-v3), so they are not checked.
        let types = if self.type_vocab_size > 0 {
            inputs::token_type_ids(batch, self.type_vocab_size, &self.device)?
        } else {
            None
        };
        let last_hidden = self.model.forward(&ids, types, Some(mask))?;
        let logits = match &self.head {
            None => None,
            Some(head) => Some(head.classifier.forward(&head.pooler.forward(&last_hidden)?)?),
        };
        Ok(ModelOutput {
            last_hidden: Some(last_hidden),
            logits,
        })
    }
}
