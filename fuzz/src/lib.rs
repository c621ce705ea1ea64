//! Shared driver for the ingest fuzz targets: feeds bytes through the same path the CLI uses
//! (`read_inputs` on an input source, format given or detected, the collector's validation,
//! linking and language detection included) and checks the invariants every reader promises.

//! (Only with the `ingest` feature, on by default; the tokenize target builds without it.)

#[cfg(feature = "ingest")]
mod ingest;
#[cfg(feature = "ingest")]
pub use ingest::*;
