//! The heads stage: small classifiers that read the encoder's comment embedding.
//!
//! One encoder pass per comment feeds every head. A head is a standardisation plus a small MLP
//! over either the comment vector `v` ([`InputKind::Single`]: sentiment, irony, toxicity) or the
//! pair layout `[u, v, u·v, |u−v|]` of a context `u` and the comment `v` ([`InputKind::Pair`]:
//! stance toward a target, reply stance toward a parent).
//!
//! - [`data`]: labelled datasets in the shared schema (JSONL, CSV, Parquet), per-task label maps,
//!   deterministic held-out selectors;
//! - [`features`]: examples → head inputs, each distinct text embedded once;
//! - [`train`]: AdamW + dropout + early stopping + temperature scaling, deterministic per seed;
//! - [`head`]: the on-disk head (`head.safetensors` + `head.json`), `Head::load` / `Head::predict`;
//! - [`source`]: the default heads built into the library, or a folder; the encoder check;
//! - [`thresholds`]: a flag head's decision thresholds per language, chosen on validation;
//! - [`offsets`]: a multi-class head's class offsets on the log-probabilities, chosen on validation;
//! - [`decision`]: the rule (argmax, thresholds or offsets) a head or fine-tuned model decides by;
//! - [`metrics`] and [`evaluate`]: accuracy, macro-F1, per-class scores, confusion, ECE, per language;
//! - [`cache`]: an on-disk embedding cache keyed by encoder id and text;
//! - [`model_encoder`]: the project's encode stage (`stance-model`) as a [`TextEncoder`].

pub mod cache;
pub mod calibrate;
pub mod config;
pub mod data;
pub mod decision;
pub mod encoder;
pub mod error;
pub mod evaluate;
pub mod features;
pub mod head;
pub mod metrics;
pub mod model_encoder;
pub mod offsets;
pub mod rng;
pub mod source;
pub mod thresholds;
pub mod train;

pub use cache::{CachedEncoder, EmbeddingCache};
pub use data::{DataSpec, Dataset, Example, InputKind, Task};
pub use decision::DecisionRule;
pub use encoder::TextEncoder;
pub use error::{HeadsError, Result};
pub use evaluate::{evaluate_decided, evaluate_examples, EvalOptions, Evaluation};
pub use head::{Head, HeadMeta};
pub use metrics::Report;
pub use offsets::ClassOffsets;
pub use source::{HeadSource, SourcedHead};
pub use thresholds::{ParityThreshold, Thresholds};
pub use train::{train, Balance, TrainConfig, TrainRequest, Trained};
