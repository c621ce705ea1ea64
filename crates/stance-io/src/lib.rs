//! The I/O layer every stage writes through.
//!
//! [`atomic`]: every output (ingest tables, classify checkpoints, report tables and pages) is
//! written under a temporary name beside its destination, flushed to disk, then renamed into
//! place, so a reader — or a rerun after a crash or kill — sees either the previous complete
//! output or the new complete one, never a half-written file.
//!
//! [`table`]: rows of JSONL / CSV / TSV / Parquet files as JSON objects, and Parquet writes.

pub mod atomic;
pub mod table;

pub use atomic::{remove_atomic, write_dir_atomic, write_file_atomic, AtomicError};
pub use table::TableError;
