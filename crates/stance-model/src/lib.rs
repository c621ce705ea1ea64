//! The encode stage: Hugging Face encoders and sequence classifiers on candle.
//!
//! - [`arch`]: one module per architecture family, each turning a config and weights into a
//!   [`Model`] (hidden states, and logits for classification checkpoints).
//! - Tokenization and batching are kept apart from tensors: a [`TokenBatch`] is plain ids, and
//!   only a model turns it into tensors on its own device.

pub mod arch;
pub mod config;
pub mod conventions;
pub mod error;
pub mod load;
pub mod pooling;
pub mod weights;

// The runtime around the models: finding them, tokenizing, batching, and the three tasks.
pub mod batch;
pub mod embed;
pub mod manifest;
pub mod predict;
pub mod resident;
pub mod runtime;
pub mod source;
pub mod threads;
pub mod tokenize;
pub mod unigram;
pub mod zero_shot;

pub use config::{ClassifierConfig, Family, ModelConfig, ProblemType};
pub use error::ModelError;
pub use load::{load, load_with_config, Compute, GgufMode, LoadOptions, LoadedModel};
pub use weights::{TensorType, WeightsFormat, WeightsInfo};

use candle_core::Tensor;

/// A right-padded batch of tokenized inputs, row-major `[batch_size, seq_len]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenBatch {
    pub input_ids: Vec<u32>,
    /// 1 on real tokens, 0 on padding.
    pub attention_mask: Vec<u32>,
    pub token_type_ids: Vec<u32>,
    pub batch_size: usize,
    pub seq_len: usize,
}

/// What one forward pass yields. `last_hidden` is `[batch, seq, hidden]` (f32);
/// `logits` is `[batch, n_labels]` (f32) for sequence-classification checkpoints.
#[derive(Debug, Clone)]
pub struct ModelOutput {
    pub last_hidden: Option<Tensor>,
    pub logits: Option<Tensor>,
}

/// A loaded network, ready to run. Implementations must be deterministic: the same row gives
/// the same numbers whatever else is in its batch (up to float rounding).
pub trait Model: Send + Sync {
    fn forward(&self, batch: &TokenBatch) -> Result<ModelOutput, ModelError>;

    /// The network as a BERT-family encoder, for callers that need its layers (the bottom
    /// states and layer weights that `stance-tune`'s cross-encoder reads); `None` for others.
    fn as_bert(&self) -> Option<&arch::bert::Bert> {
        None
    }

    /// A forward pass that also returns, for each `l` in `layers` (in that order), the hidden
    /// states after the first `l` encoder layers (`[batch, seq, hidden]`; 0 is the embeddings'
    /// output). The fine-tuned cross-encoders read these, so the shared bottom of the encoder
    /// runs once per text for every task, whichever layer each reads. Only BERT-family
    /// encoders give them.
    fn forward_keeping(
        &self,
        batch: &TokenBatch,
        layers: &[usize],
    ) -> Result<(ModelOutput, Vec<Tensor>), ModelError> {
        let _ = (batch, layers);
        Err(ModelError::InvalidRequest(
            "this architecture does not give intermediate states (BERT-family encoders do)".into(),
        ))
    }

    /// The states of [`Model::forward_keeping`] alone, from a pass that stops after the
    /// deepest of `layers`: the layers above it do not run (for texts that only cross-encoders
    /// read, which start from those states).
    fn forward_states(&self, batch: &TokenBatch, layers: &[usize]) -> Result<Vec<Tensor>, ModelError> {
        Ok(self.forward_keeping(batch, layers)?.1)
    }
}
