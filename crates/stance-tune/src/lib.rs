//! Fine-tuned "late interaction" cross-encoders for stance (target ↔ comment) and reply
//! stance (parent ↔ reply), trained on CPU with candle.
//!
//! # Layout
//!
//! The encoder (multilingual-e5-small by default: 12 post-LN BERT layers, hidden 384) is split
//! in two. Its frozen bottom `12 − k` layers run on each distinct text alone, exactly as
//! `stance classify` already encodes texts (`query: ` prefix, head truncation to the model's
//! 512 tokens), so at inference they are shared with every other task. The task's top `k`
//! layers are trainable copies of the encoder's top layers; they run on the concatenation
//! `[context states ; comment states]` (context = the article's target, or the parent comment
//! for replies) with full attention across both. A learned segment embedding (2 × hidden,
//! added to the states) tells the two apart; the output is mean-pooled over the context's
//! tokens and over the comment's, concatenated, and mapped to labels by a linear layer.
//!
//! # Using a trained model (e.g. from `stance classify`)
//!
//! ```ignore
//! use stance_tune::{CrossEncoder, states::bottom_states};
//! let ce = CrossEncoder::load(Path::new("models/tuned/stance"))?;
//! // 1. the states: output of encoder layer `ce.bottom_layers() − 1` for `query: ` + text,
//! //    all tokens incl. <s> and </s>, [n_tokens, 384] f32 row-major per text. Compute once per
//! //    distinct text (targets, parents, comments), e.g. with the same encoder pass that feeds
//! //    the other heads: `Bert::hidden_states(batch)[ce.bottom_layers()]`, or:
//! let states = bottom_states(&opened.model, &texts, ce.bottom_layers(), 8192, &|_| {})?;
//! // 2. the pairs: (context states, comment states); truncation to the budgets in
//! //    `ce.meta.context_tokens` / `comment_tokens` happens inside.
//! let probs = ce.predict(&[(&states[0][..], &states[1][..])], 4096)?; // rows in ce.labels() order
//! ```
//!
//! Check `ce.meta.encoder` against the encoder's id (`stance_heads::model_encoder::ModelEncoder::id`)
//! before use: the model reads that encoder's states only.
//!
//! # Training
//!
//! [`train::tune`]: cached bottom states ([`states::StateStore`], f16, sharded on disk),
//! length-sorted token-budget batches in a seeded order per epoch, class-balanced loss within
//! each source, AdamW ([`optim`]) with warm-up and linear decay, early stopping on the mean
//! validation macro-F1, a checkpoint every N steps and per epoch (a rerun resumes), and a
//! temperature fitted on validation at the end. Deterministic per seed. A multi-task run
//! ([`train::TuneRequest::also`]) trains a second tone task on the same layers at once, each
//! row's loss under its own task's classifier ([`CrossEncoder::sibling`]), and saves one model
//! per task; the two share `shared_layers` in their metadata.
//!
//! The trainable layer ([`layer`]) runs candle's matmuls and its own LayerNorm, attention
//! softmax, GELU and linear bias ([`ops`]), custom ops with their own backward passes: candle
//! 0.11's fused LayerNorm and softmax have none.

pub mod error;
pub mod layer;
pub mod model;
pub mod ops;
pub mod optim;
pub mod states;
pub mod train;

pub use error::{Result, TuneError};
pub use model::{CrossEncoder, PairBatch, TunedMeta};
pub use states::{bottom_states, StateStore};
pub use train::{tune, TuneConfig, TuneReport, TuneRequest};
