//! Sentence embeddings: masked mean of the last hidden states, L2-normalised when the model's
//! settings say so. The e5 prefix of the chosen [`EmbedMode`] comes from the model's settings;
//! callers pass bare text.

use crate::batch::{states_at, BatchOptions, KeepStates, KeptStates};
use crate::error::ModelError;
use crate::conventions::Pooling;
use crate::pooling;
use crate::runtime::TextModel;
use crate::tokenize::Truncation;
use crate::{ModelOutput, TokenBatch};
use candle_core::{DType, Tensor};

/// Which e5 prefix to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EmbedMode {
    /// `query: ` (upstream's advice for features, clustering and symmetric similarity).
    #[default]
    Query,
    Passage,
}

impl std::str::FromStr for EmbedMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "query" => Ok(EmbedMode::Query),
            "passage" => Ok(EmbedMode::Passage),
            other => Err(format!("unknown mode `{other}` (query or passage)")),
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct EmbedOptions {
    pub mode: EmbedMode,
    pub truncation: Truncation,
    pub batch: BatchOptions,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Embedding {
    /// Empty from a pass that kept states without vectors ([`KeepStates::without_vectors`]).
    pub vector: Vec<f32>,
    pub n_tokens: usize,
    /// Positions the encoder computed for this text, padding included (the padded width of
    /// the batch each of its segments ran in).
    pub padded_tokens: usize,
    pub truncated: bool,
    /// With [`TextModel::embed_keeping_states`]: the intermediate states of the text's first
    /// segment (the head of a windowed text), one `[rows, hidden]` row-major block per kept
    /// layer (see [`Embedding::states_at`]); empty otherwise.
    pub states: KeptStates,
}

impl Embedding {
    /// The kept states after the first `layer` layers (`None` when that layer was not kept).
    pub fn states_at(&self, layer: usize) -> Option<&[half::f16]> {
        states_at(&self.states, layer)
    }
}

impl TextModel {
    /// The prefix this model puts in front of texts in `mode`.
    pub fn prefix(&self, mode: EmbedMode) -> &str {
        match mode {
            EmbedMode::Query => &self.settings.prefixes.query,
            EmbedMode::Passage => &self.settings.prefixes.passage,
        }
    }

    /// One embedding per text, in input order, pooled as the model's conventions say. Windows of
    /// a long text (with [`Truncation::Window`]) are averaged, weighted by their tokens.
    pub fn embed<S: AsRef<str> + Sync>(
        &self,
        texts: &[S],
        options: &EmbedOptions,
        progress: &dyn Fn(usize),
    ) -> Result<Vec<Embedding>, ModelError> {
        self.embed_with(texts, options, None, progress)
    }

    /// [`Self::embed`], keeping each text's states after each of `keep.layers` from the same
    /// pass (BERT-family encoders only): what the fine-tuned cross-encoders read.
    pub fn embed_keeping_states<S: AsRef<str> + Sync>(
        &self,
        texts: &[S],
        options: &EmbedOptions,
        keep: KeepStates,
        progress: &dyn Fn(usize),
    ) -> Result<Vec<Embedding>, ModelError> {
        self.embed_with(texts, options, Some(keep), progress)
    }

    fn embed_with<S: AsRef<str> + Sync>(
        &self,
        texts: &[S],
        options: &EmbedOptions,
        keep: Option<KeepStates>,
        progress: &dyn Fn(usize),
    ) -> Result<Vec<Embedding>, ModelError> {
        let prefix = self.prefix(options.mode);
        let encode = |text: &S| {
            self.tokenizer
                .encode(text.as_ref(), prefix, options.truncation)
        };
        let mut runner = self.runner(options.batch);
        runner.keep = keep;
        let results = runner.run(texts, encode, |output, batch| pooled(output, batch, self.settings.pooling), progress)?;
        results
            .into_iter()
            .map(|mut r| {
                let states = r.segments.first_mut().map(|s| std::mem::take(&mut s.states)).unwrap_or_default();
                let padded_tokens = r.segments.iter().map(|s| s.padded_len).sum();
                let mean = r.weighted_mean();
                // Empty when the pass kept states without vectors (`KeepStates::vectors`).
                let vector = if self.settings.normalize && !mean.is_empty() {
                    l2_normalized(mean)?
                } else {
                    mean
                };
                Ok(Embedding {
                    vector,
                    n_tokens: r.n_tokens,
                    padded_tokens,
                    truncated: r.truncated,
                    states,
                })
            })
            .collect()
    }
}

/// Each row's last hidden states pooled into one vector (not normalised: windows are averaged
/// first): the mean over its real tokens, or its first token's state.
fn pooled(output: &ModelOutput, batch: &TokenBatch, pooling: Pooling) -> Result<Vec<Vec<f32>>, ModelError> {
    let hidden = output.last_hidden.as_ref().ok_or_else(|| {
        ModelError::InvalidRequest("this model gives no hidden states to embed".into())
    })?;
    let mask = Tensor::from_slice(
        &batch.attention_mask,
        (batch.batch_size, batch.seq_len),
        hidden.device(),
    )?;
    let hidden = hidden.to_dtype(DType::F32)?;
    let rows = match pooling {
        Pooling::Mean => pooling::mean_pool(&hidden, &mask)?,
        Pooling::Cls => pooling::cls_pool(&hidden)?,
    };
    Ok(rows.to_vec2::<f32>()?)
}

/// `vector` scaled to unit length, as [`pooling::l2_normalize`] does for a batch.
fn l2_normalized(vector: Vec<f32>) -> Result<Vec<f32>, ModelError> {
    let dim = vector.len();
    let row = Tensor::from_vec(vector, (1, dim), &candle_core::Device::Cpu)?;
    Ok(pooling::l2_normalize(&row)?
        .flatten_all()?
        .to_vec1::<f32>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn l2_normalized_gives_unit_length_and_keeps_zero() {
        assert_eq!(l2_normalized(vec![3.0, 4.0]).unwrap(), vec![0.6, 0.8]);
        assert_eq!(l2_normalized(vec![0.0, 0.0]).unwrap(), vec![0.0, 0.0]);
    }

    #[test]
    fn masked_means_ignore_padding() {
        // Two rows, three positions, hidden 2; the second row has one real token.
        let hidden = Tensor::from_vec(
            vec![1f32, 2., 3., 4., 5., 6., 10., 20., 99., 99., 99., 99.],
            (2, 3, 2),
            &candle_core::Device::Cpu,
        )
        .unwrap();
        let batch = TokenBatch {
            input_ids: vec![5, 6, 7, 8, 0, 0],
            attention_mask: vec![1, 1, 1, 1, 0, 0],
            token_type_ids: vec![0; 6],
            batch_size: 2,
            seq_len: 3,
        };
        let out = ModelOutput {
            last_hidden: Some(hidden),
            logits: None,
        };
        assert_eq!(
            pooled(&out, &batch, Pooling::Mean).unwrap(),
            vec![vec![3.0, 4.0], vec![10.0, 20.0]]
        );
    }
}
