//! DistilBERT and `DistilBertForSequenceClassification`.
//!
//! candle-transformers' DistilBERT cannot be reused: it maps `"gelu"` to the tanh approximation
//! (off by up to 6e-4 in the logits) and expects an inverted mask. The layer here is the same
//! post-LN block as BERT under DistilBERT's tensor names, with erf GELU.

use super::inputs;
use super::layers::{
    layer_norm, EmbeddingTable, EncoderDims, Linear, MatmulMode, PostLnLayer,
    PostLnNames,
};
use crate::config::ModelConfig;
use crate::error::ModelError;
use crate::pooling::cls_pool;
use crate::weights::WeightStore;
use crate::{Model, ModelOutput, TokenBatch};
use candle_core::{Device, Module, Tensor};

const LAYER_NAMES: PostLnNames = PostLnNames {
    query: "attention.q_lin",
    key: "attention.k_lin",
    value: "attention.v_lin",
    attention_output: "attention.out_lin",
    attention_norm: "sa_layer_norm",
    ffn_in: "ffn.lin1",
    ffn_out: "ffn.lin2",
    ffn_norm: "output_layer_norm",
};

/// `classifier(relu(pre_classifier(h[CLS])))`.
#[derive(Debug)]
struct Head {
    pre_classifier: Linear,
    classifier: Linear,
}

#[derive(Debug)]
pub struct DistilBert {
    device: Device,
    vocab_size: usize,
    max_positions: usize,
    word_embeddings: EmbeddingTable,
    position_embeddings: Tensor,
    embeddings_norm: candle_nn::LayerNorm,
    layers: Vec<PostLnLayer>,
    head: Option<Head>,
}

impl DistilBert {
    pub fn load(
        config: &ModelConfig,
        store: &WeightStore,
        mode: MatmulMode,
    ) -> Result<Self, ModelError> {
        let h = config.hidden_size;
        let prefix = if store.contains("distilbert.embeddings.word_embeddings.weight")
            || config.classifier.is_some()
        {
            "distilbert."
        } else {
            ""
        };
        let word_embeddings = EmbeddingTable::load(
            store,
            &format!("{prefix}embeddings.word_embeddings.weight"),
            config.vocab_size,
            h,
            mode,
        )?;
        // Sinusoidal or learned, the table is stored in the checkpoint either way.
        let position_embeddings = store.f32_tensor(
            &format!("{prefix}embeddings.position_embeddings.weight"),
            &[config.max_position_embeddings, h],
        )?;
        let embeddings_norm = layer_norm(
            store,
            &format!("{prefix}embeddings.LayerNorm"),
            h,
            config.layer_norm_eps,
            true,
        )?;
        let dims = EncoderDims {
            hidden: h,
            intermediate: config.intermediate_size,
            heads: config.num_attention_heads,
            eps: config.layer_norm_eps,
            activation: config.hidden_act,
        };
        let layers = (0..config.num_hidden_layers)
            .map(|i| {
                PostLnLayer::load(
                    store,
                    &format!("{prefix}transformer.layer.{i}"),
                    &LAYER_NAMES,
                    dims,
                    mode,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let head = match &config.classifier {
            None => None,
            Some(classifier) => Some(Head {
                pre_classifier: Linear::load(store, "pre_classifier", h, h, true, mode)?,
                classifier: Linear::load(store, "classifier", h, classifier.num_labels(), true, mode)?,
            }),
        };
        Ok(Self {
            device: store.device().clone(),
            vocab_size: config.vocab_size,
            max_positions: config.max_position_embeddings,
            word_embeddings,
            position_embeddings,
            embeddings_norm,
            layers,
            head,
        })
    }

    pub fn uses_quantized_matmul(&self) -> bool {
        self.layers.iter().any(PostLnLayer::is_quantized)
    }

    /// The arithmetic of the encoder's linear layers.
    pub fn compute(&self) -> crate::load::Compute {
        self.layers.first().map_or(crate::load::Compute::F32, PostLnLayer::compute)
    }
}

impl Model for DistilBert {
    fn forward(&self, batch: &TokenBatch) -> Result<ModelOutput, ModelError> {
        inputs::validate(batch, self.vocab_size)?;
        inputs::check_length(batch, self.max_positions)?;
        let ids = inputs::input_ids(batch, &self.device)?;
        let embedded = self
            .word_embeddings
            .lookup(&ids)?
            .broadcast_add(&self.position_embeddings.narrow(0, 0, batch.seq_len)?)?;
        let mut hidden = self.embeddings_norm.forward(&embedded)?;
        let mask_bias = inputs::mask_bias(batch, &self.device)?;
        for layer in &self.layers {
            hidden = layer.forward(&hidden, mask_bias.as_ref())?;
        }
        let logits = match &self.head {
            None => None,
            Some(head) => {
                let inner = head.pre_classifier.forward(&cls_pool(&hidden)?)?.relu()?;
                Some(head.classifier.forward(&inner)?)
            }
        };
        Ok(ModelOutput {
            last_hidden: Some(hidden),
            logits,
        })
    }
}
