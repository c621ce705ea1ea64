//! Errors of the classify stage; each names the file, head or chunk it is about.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ClassifyError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The work directory belongs to a different run (other inputs, model, heads or options).
    #[error(
        "{dir} holds the checkpoints of a different run: {difference}. Rerun with the original \
         inputs and options, or pass --fresh to discard those checkpoints"
    )]
    ForeignCheckpoint { dir: PathBuf, difference: String },
    /// A checkpoint file is unreadable or does not fit the run.
    #[error("checkpoint {path}: {message}")]
    Checkpoint { path: PathBuf, message: String },
    #[error("head `{task}`: {message}")]
    Head { task: String, message: String },
    #[error("{0}")]
    Invalid(String),
    /// Another run holds the output folder.
    #[error("{dir} is being written by another stance run (lock {lock}); wait for it to finish or choose another output folder")]
    Busy { dir: PathBuf, lock: PathBuf },
    #[error("cannot open model `{model}`: {source}")]
    Model {
        model: String,
        #[source]
        source: stance_model::ModelError,
    },
    #[error("ingest failed: {0}")]
    Ingest(#[from] stance_ingest::IngestError),
    #[error(transparent)]
    Aggregate(#[from] stance_aggregate::AggregateError),
    #[error("cannot write the outputs: {0}")]
    Report(#[from] stance_report::ReportError),
    #[error(transparent)]
    Heads(#[from] stance_heads::HeadsError),
    #[error("cross-encoder: {0}")]
    CrossEncoder(#[from] stance_tune::TuneError),
    #[error(transparent)]
    Polars(#[from] polars::prelude::PolarsError),
}

impl ClassifyError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| ClassifyError::Io { path, source }
    }
}

impl From<stance_io::AtomicError> for ClassifyError {
    fn from(e: stance_io::AtomicError) -> Self {
        ClassifyError::Io { path: e.path, source: e.source }
    }
}

pub type Result<T> = std::result::Result<T, ClassifyError>;
