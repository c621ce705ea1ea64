//! One module per subcommand, and the helpers several share (`encoder`, `texts`).

pub mod bench;
pub mod calibrate;
pub mod classify;
pub mod ingest;
pub mod embed;
/// The encoder behind the embedding cache, shared by `train` and `eval`.
pub mod encoder;
pub mod eval;
pub mod models;
pub mod predict;
pub mod train;
pub mod tune;
/// The reader and writer shared by `embed` and `predict`.
pub mod texts;
