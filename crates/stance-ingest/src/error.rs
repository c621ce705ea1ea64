//! Failures that stop ingest as a whole. Problems inside an input are rejects, not errors.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("cannot open input `{path}`: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("standard input (`-`) can be read only once")]
    StdinTwice,
    #[error("unknown input format `{0}` (expected one of: jsonl, csv, tsv, parquet, reddit, disqus, page)")]
    UnknownFormat(String),
    #[error("invalid --map `{spec}`: {reason}")]
    InvalidMap { spec: String, reason: String },
    #[error("cannot create output directory `{path}`: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write `{path}`: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write Parquet file `{path}`: {message}")]
    Parquet { path: PathBuf, message: String },
}

impl From<stance_io::AtomicError> for IngestError {
    fn from(e: stance_io::AtomicError) -> Self {
        IngestError::Write { path: e.path, source: e.source }
    }
}
