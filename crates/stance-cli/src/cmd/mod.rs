//! One module per subcommand.

pub mod bench;
pub mod classify;
pub mod ingest;
pub mod embed;
pub mod eval;
pub mod models;
pub mod predict;
pub mod train;
pub mod tune;
/// The reader and writer shared by `embed` and `predict`.
pub mod texts;
