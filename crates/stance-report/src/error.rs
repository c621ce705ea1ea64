//! What can go wrong while writing outputs.

use polars::prelude::PolarsError;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file or directory could not be created, written or renamed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A partition value cannot be a directory name even once percent-encoded.
    #[error("cannot partition by `{column}`: the value {value:?} is too long for a directory name ({encoded_len} bytes encoded, at most {max})")]
    PartitionValue {
        column: String,
        value: String,
        encoded_len: usize,
        max: usize,
    },
    /// A table could not be encoded into its output stream.
    #[error("writing {format}: {source}")]
    Encode {
        format: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// A table lacks a column the writer needs.
    #[error("the {table} table has no `{column}` column")]
    MissingColumn { table: String, column: String },
    /// The comments table could not be read from where its chunks are kept.
    #[error("reading the comments table: {0}")]
    Source(String),
    #[error("run metadata: {0}")]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Aggregate(#[from] stance_aggregate::AggregateError),
    #[error(transparent)]
    Polars(#[from] PolarsError),
}

impl From<stance_io::AtomicError> for ReportError {
    fn from(e: stance_io::AtomicError) -> Self {
        ReportError::Io { action: e.action, path: e.path, source: e.source }
    }
}

impl ReportError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| ReportError::Io {
            action,
            path,
            source,
        }
    }
}
