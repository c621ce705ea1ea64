use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum TuneError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    #[error(transparent)]
    Model(#[from] stance_model::ModelError),
    #[error(transparent)]
    Heads(#[from] stance_heads::HeadsError),
    #[error("{0}")]
    Invalid(String),
}

impl TuneError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        TuneError::Io { path: path.to_path_buf(), source }
    }
}

pub type Result<T, E = TuneError> = std::result::Result<T, E>;
