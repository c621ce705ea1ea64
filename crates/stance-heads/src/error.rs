//! Errors of the heads stage. Every variant says where the problem is (file, row, head) and what it is.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum HeadsError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A data file is malformed as a whole (unknown format, unreadable Parquet, bad selector).
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    /// One row of a data file is unusable; `row` is 1-based (the line for JSONL and CSV).
    #[error("{path}:{row}: {message}")]
    Row {
        path: PathBuf,
        row: u64,
        message: String,
    },
    /// A head directory is missing a file, or its files disagree with each other.
    #[error("head {path}: {message}")]
    Head { path: PathBuf, message: String },
    /// The text encoder failed.
    #[error("encoder: {0}")]
    Encoder(String),
    /// Arguments that cannot work together (no labels, mismatched dimensions, …).
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

impl HeadsError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        HeadsError::Io {
            path: path.into(),
            source,
        }
    }
}

pub type Result<T> = std::result::Result<T, HeadsError>;
