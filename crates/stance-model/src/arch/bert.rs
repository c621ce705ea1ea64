//! BERT, XLM-RoBERTa / CamemBERT / RoBERTa, and multilingual-e5 (a BERT model with the XLM-R
//! vocabulary), with the two sequence-classification heads of transformers.
//!
//! Written here rather than taken from candle-transformers because the linear layers must be
//! able to run quantized (the default e5 encoder is Q4_0), the word-embedding table must be able
//! to stay quantized, and RoBERTa's position ids must be computed from `input_ids`.

use super::inputs;
use super::layers::{
    layer_norm, EmbeddingTable, EncoderDims, Linear, MatmulMode, PostLnLayer,
    PostLnNames, PostLnWeights,
};
use crate::config::{FamilySettings, ModelConfig};
use crate::error::ModelError;
use crate::pooling::cls_pool;
use crate::weights::WeightStore;
use crate::{Model, ModelOutput, TokenBatch};
use candle_core::{Device, Module, Tensor};

const LAYER_NAMES: PostLnNames = PostLnNames {
    query: "attention.self.query",
    key: "attention.self.key",
    value: "attention.self.value",
    attention_output: "attention.output.dense",
    attention_norm: "attention.output.LayerNorm",
    ffn_in: "intermediate.dense",
    ffn_out: "output.dense",
    ffn_norm: "output.LayerNorm",
};

/// The classification head on top of the encoder.
#[derive(Debug)]
enum ClassifierHead {
    /// `BertForSequenceClassification`: `classifier(tanh(pooler.dense(h[CLS])))`.
    Pooler { pooler: Linear, classifier: Linear },
    /// `XLMRobertaForSequenceClassification` (and RoBERTa, CamemBERT):
    /// `out_proj(tanh(dense(h[<s>])))`.
    Roberta { dense: Linear, out_proj: Linear },
}

impl ClassifierHead {
    fn forward(&self, last_hidden: &Tensor) -> candle_core::Result<Tensor> {
        let first = cls_pool(last_hidden)?;
        let (inner, outer) = match self {
            Self::Pooler { pooler, classifier } => (pooler, classifier),
            Self::Roberta { dense, out_proj } => (dense, out_proj),
        };
        outer.forward(&inner.forward(&first)?.tanh()?)
    }
}

/// A BERT-family encoder, with a classification head when the checkpoint has one.
#[derive(Debug)]
pub struct Bert {
    device: Device,
    vocab_size: usize,
    max_positions: usize,
    type_vocab_size: usize,
    roberta_padding_idx: Option<u32>,
    word_embeddings: EmbeddingTable,
    position_embeddings: Tensor,
    token_type_embeddings: Option<Tensor>,
    embeddings_norm: candle_nn::LayerNorm,
    layers: Vec<PostLnLayer>,
    head: Option<ClassifierHead>,
}

impl Bert {
    pub fn load(
        config: &ModelConfig,
        store: &WeightStore,
        mode: MatmulMode,
    ) -> Result<Self, ModelError> {
        let FamilySettings::Bert(settings) = &config.settings else {
            return Err(ModelError::Unsupported {
                path: config.path.clone(),
                what: format!("model_type `{}` for the BERT loader", config.model_type),
            });
        };
        let h = config.hidden_size;
        // Classifier checkpoints nest the encoder under `bert.`/`roberta.`; bare encoders
        // (e5's GGUF, `BertModel` exports) have no prefix.
        let default_prefix = match (&config.classifier, settings.roberta_padding_idx) {
            (None, _) => "",
            (Some(_), None) => "bert.",
            (Some(_), Some(_)) => "roberta.",
        };
        let prefix = ["bert.", "roberta.", ""]
            .into_iter()
            .find(|p| store.contains(&format!("{p}embeddings.word_embeddings.weight")))
            .unwrap_or(default_prefix);
        let emb = format!("{prefix}embeddings");
        let word_embeddings = EmbeddingTable::load(
            store,
            &format!("{emb}.word_embeddings.weight"),
            config.vocab_size,
            h,
            mode,
        )?;
        let position_embeddings = store.f32_tensor(
            &format!("{emb}.position_embeddings.weight"),
            &[config.max_position_embeddings, h],
        )?;
        let token_type_embeddings = match settings.type_vocab_size {
            0 => None,
            n => Some(store.f32_tensor(&format!("{emb}.token_type_embeddings.weight"), &[n, h])?),
        };
        let embeddings_norm = layer_norm(
            store,
            &format!("{emb}.LayerNorm"),
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
                    &format!("{prefix}encoder.layer.{i}"),
                    &LAYER_NAMES,
                    dims,
                    mode,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let head = match &config.classifier {
            None => None,
            Some(classifier) => {
                let labels = classifier.num_labels();
                Some(match settings.roberta_padding_idx {
                    None => ClassifierHead::Pooler {
                        pooler: Linear::load(store, &format!("{prefix}pooler.dense"), h, h, true, mode)?,
                        classifier: Linear::load(store, "classifier", h, labels, true, mode)?,
                    },
                    Some(_) => ClassifierHead::Roberta {
                        dense: Linear::load(store, "classifier.dense", h, h, true, mode)?,
                        out_proj: Linear::load(store, "classifier.out_proj", h, labels, true, mode)?,
                    },
                })
            }
        };
        Ok(Self {
            device: store.device().clone(),
            vocab_size: config.vocab_size,
            max_positions: config.max_position_embeddings,
            type_vocab_size: settings.type_vocab_size,
            roberta_padding_idx: settings.roberta_padding_idx,
            word_embeddings,
            position_embeddings,
            token_type_embeddings,
            embeddings_norm,
            layers,
            head,
        })
    }

    /// The pass's output from the last layer's states (with the classification head's logits).
    fn output(&self, last_hidden: Tensor) -> Result<ModelOutput, ModelError> {
        let logits = match &self.head {
            Some(head) => Some(head.forward(&last_hidden)?),
            None => None,
        };
        Ok(ModelOutput {
            last_hidden: Some(last_hidden),
            logits,
        })
    }

    /// Whether any linear layer runs as a quantized matmul.
    pub fn uses_quantized_matmul(&self) -> bool {
        self.layers.iter().any(PostLnLayer::is_quantized)
    }

    /// The arithmetic of the encoder's linear layers.
    pub fn compute(&self) -> crate::load::Compute {
        self.layers.first().map_or(crate::load::Compute::F32, PostLnLayer::compute)
    }

    /// Hidden states of every stage: index 0 is the embeddings output (after its LayerNorm),
    /// index i the output of encoder layer i. Each is `[batch, seq, hidden]`.
    pub fn hidden_states(&self, batch: &TokenBatch) -> Result<Vec<Tensor>, ModelError> {
        let mut states = Vec::with_capacity(self.layers.len() + 1);
        self.encode(batch, self.layers.len(), |state| states.push(state.clone()))?;
        Ok(states)
    }

    /// Number of encoder layers.
    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    /// The output of encoder layer `n_layers - 1` (the embeddings' output for 0): the same
    /// tensor as `hidden_states(batch)[n_layers]`, without running the layers above it.
    pub fn bottom_states(&self, batch: &TokenBatch, n_layers: usize) -> Result<Tensor, ModelError> {
        self.encode(batch, n_layers, |_| {})
    }

    /// The f32 parameters of encoder layer `index` (see [`PostLnWeights`]).
    pub fn layer_weights(&self, index: usize) -> Result<PostLnWeights, ModelError> {
        let layer = self.layers.get(index).ok_or_else(|| {
            ModelError::InvalidRequest(format!(
                "no encoder layer {index} in a {}-layer encoder",
                self.layers.len()
            ))
        })?;
        Ok(layer.f32_weights()?)
    }

    /// Runs the embeddings and the first `n_layers` layers, showing each stage's output to
    /// `observe`; returns the last.
    fn encode(
        &self,
        batch: &TokenBatch,
        n_layers: usize,
        mut observe: impl FnMut(&Tensor),
    ) -> Result<Tensor, ModelError> {
        let layers = self.layers.get(..n_layers).ok_or_else(|| {
            ModelError::InvalidRequest(format!(
                "asked for the output of {n_layers} layers of a {}-layer encoder",
                self.layers.len()
            ))
        })?;
        inputs::validate(batch, self.vocab_size)?;
        let mut hidden = self.embed(batch)?;
        observe(&hidden);
        let mask_bias = inputs::mask_bias(batch, &self.device)?;
        for layer in layers {
            hidden = layer.forward(&hidden, mask_bias.as_ref())?;
            observe(&hidden);
        }
        Ok(hidden)
    }

    /// [`Bert::encode`] through `n_layers` layers, keeping the states after each of `layers`
    /// (in that order; none deeper than `n_layers`).
    fn encode_keeping(
        &self,
        batch: &TokenBatch,
        n_layers: usize,
        layers: &[usize],
    ) -> Result<(Tensor, Vec<Tensor>), ModelError> {
        if let Some(&n) = layers.iter().find(|&&l| l > n_layers) {
            return Err(ModelError::InvalidRequest(format!(
                "asked for the output of {n} layers of a {}-layer encoder",
                self.layers.len()
            )));
        }
        let mut stage = 0;
        let mut kept: Vec<Option<Tensor>> = vec![None; layers.len()];
        let last_hidden = self.encode(batch, n_layers, |state| {
            for (slot, _) in kept.iter_mut().zip(layers).filter(|(_, &l)| l == stage) {
                *slot = Some(state.clone());
            }
            stage += 1;
        })?;
        let kept = kept.into_iter().map(|k| k.expect("encode shows every stage")).collect();
        Ok((last_hidden, kept))
    }

    fn embed(&self, batch: &TokenBatch) -> Result<Tensor, ModelError> {
        let ids = inputs::input_ids(batch, &self.device)?;
        let words = self.word_embeddings.lookup(&ids)?;
        let positions = match self.roberta_padding_idx {
            None => {
                inputs::check_length(batch, self.max_positions)?;
                let table = self.position_embeddings.narrow(0, 0, batch.seq_len)?;
                words.broadcast_add(&table)?
            }
            Some(padding_idx) => {
                let ids = roberta_position_ids(batch, padding_idx);
                if let Some(&bad) = ids.iter().find(|&&p| p as usize >= self.max_positions) {
                    return Err(ModelError::InvalidBatch(format!(
                        "position id {bad} is past the model's {} positions (input too long)",
                        self.max_positions
                    )));
                }
                let ids = Tensor::from_vec(ids, (batch.batch_size, batch.seq_len), &self.device)?;
                (words + self.position_embeddings.index_select(&ids.flatten_all()?, 0)?
                    .reshape((batch.batch_size, batch.seq_len, ()))?)?
            }
        };
        let with_types = match &self.token_type_embeddings {
            None => positions,
            Some(table) => match inputs::token_type_ids(batch, self.type_vocab_size, &self.device)? {
                None => positions.broadcast_add(&table.narrow(0, 0, 1)?)?,
                Some(types) => {
                    let rows = table
                        .index_select(&types.flatten_all()?, 0)?
                        .reshape(positions.dims())?;
                    (positions + rows)?
                }
            },
        };
        Ok(self.embeddings_norm.forward(&with_types)?)
    }
}

/// RoBERTa's position ids: `padding_idx + cumsum(input_ids != padding_idx)` on real tokens and
/// `padding_idx` on pads. They come from the ids, not the mask, as in transformers (a literal
/// `<pad>` inside the text gets position `padding_idx` too).
pub fn roberta_position_ids(batch: &TokenBatch, padding_idx: u32) -> Vec<u32> {
    let mut positions = Vec::with_capacity(batch.input_ids.len());
    for row in batch.input_ids.chunks(batch.seq_len) {
        let mut count = 0u32;
        for &id in row {
            if id == padding_idx {
                positions.push(padding_idx);
            } else {
                count += 1;
                positions.push(padding_idx + count);
            }
        }
    }
    positions
}

impl Model for Bert {
    fn as_bert(&self) -> Option<&Bert> {
        Some(self)
    }

    fn forward(&self, batch: &TokenBatch) -> Result<ModelOutput, ModelError> {
        let last_hidden = self.encode(batch, self.layers.len(), |_| {})?;
        self.output(last_hidden)
    }

    fn forward_keeping(
        &self,
        batch: &TokenBatch,
        layers: &[usize],
    ) -> Result<(ModelOutput, Vec<Tensor>), ModelError> {
        let (last_hidden, kept) = self.encode_keeping(batch, self.layers.len(), layers)?;
        Ok((self.output(last_hidden)?, kept))
    }

    fn forward_states(&self, batch: &TokenBatch, layers: &[usize]) -> Result<Vec<Tensor>, ModelError> {
        let deepest = layers.iter().copied().max().unwrap_or(0);
        Ok(self.encode_keeping(batch, deepest, layers)?.1)
    }
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roberta_positions_skip_pads_inside_and_after_the_text() {
        let batch = TokenBatch {
            input_ids: vec![0, 5, 1, 7, 2, 0, 9, 2, 1, 1],
            attention_mask: vec![1, 1, 1, 1, 1, 1, 1, 1, 0, 0],
            token_type_ids: Vec::new(),
            batch_size: 2,
            seq_len: 5,
        };
        assert_eq!(
            roberta_position_ids(&batch, 1),
            [2, 3, 1, 4, 5, 2, 3, 4, 1, 1]
        );
    }
}
