//! Errors of the encode stage. Every variant names the file (or model) and the problem.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("unsupported architecture `{0}`")]
    UnsupportedArchitecture(String),
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// A `config.json` that cannot be read as a Hugging Face configuration.
    #[error("{path}: invalid model configuration: {message}")]
    Config { path: PathBuf, message: String },
    /// Something valid in principle that this crate does not run (an architecture, a tensor
    /// type, a configuration option), named after the file that asks for it.
    #[error("{path}: unsupported {what}")]
    Unsupported { path: PathBuf, what: String },
    #[error("{path}: tensor `{name}` is missing{hint}")]
    MissingTensor {
        path: PathBuf,
        name: String,
        /// Empty, or a sentence (starting with "; ") that helps to find the cause.
        hint: String,
    },
    #[error(
        "{path}: tensor `{name}` has shape {found:?} but the configuration implies {expected:?} \
         (does the config.json belong to these weights?)"
    )]
    ShapeMismatch {
        path: PathBuf,
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    #[error("{path}: tensor `{name}` holds NaN or infinite values")]
    NonFinite { path: PathBuf, name: String },
    /// A [`crate::TokenBatch`] that does not fit the model (lengths, ids out of range).
    #[error("invalid token batch: {0}")]
    InvalidBatch(String),
    /// A model or one of its files that could not be found; `looked` lists every place tried.
    #[error("{what} not found; looked in: {}", looked.join("; "))]
    NotFound { what: String, looked: Vec<String> },
    /// A required file of a model folder or hub snapshot is missing.
    #[error("missing model file `{file}`; looked in {looked_in}")]
    MissingFile { file: String, looked_in: String },
    /// The hub client failed (network, permissions, disk).
    #[error("hub repository {repo}: {message}")]
    Hub { repo: String, message: String },
    /// A request the runtime cannot honour (a truncation mode for text pairs, no labels…).
    #[error("{0}")]
    InvalidRequest(String),
}
