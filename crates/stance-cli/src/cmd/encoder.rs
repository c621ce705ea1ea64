//! The encoder the heads of `stance train` and `stance eval` read: the opened model behind the
//! on-disk embedding cache.

use crate::flags::{Global, ModelFlags};
use anyhow::Result;
use stance_heads::model_encoder::ModelEncoder;
use stance_heads::{CachedEncoder, EmbeddingCache, TextEncoder};

/// The encoder the heads read, behind the on-disk cache unless `no_cache` (a cache that cannot
/// be opened is reported and skipped: it is never needed for correctness).
pub fn open_encoder<'a>(
    opened: &'a stance_model::runtime::OpenModel,
    flags: &ModelFlags,
    no_cache: bool,
    global: &Global,
) -> Result<CachedEncoder<ModelEncoder<'a>>> {
    let encoder = ModelEncoder::new(opened, flags.truncate, flags.batch())?;
    let cache = match stance_heads::cache::default_cache_root() {
        Some(root) if !no_cache => match EmbeddingCache::open(&root, &encoder.cache_id()) {
            Ok(cache) => Some(cache),
            Err(e) => {
                if !global.quiet {
                    eprintln!("stance: warning: embedding cache off: {e}");
                }
                None
            }
        },
        _ => None,
    };
    Ok(CachedEncoder::new(encoder, cache))
}

pub fn report_cache(encoder: &CachedEncoder<ModelEncoder<'_>>, global: &Global) {
    if let (Some(err), false) = (encoder.write_error(), global.quiet) {
        eprintln!("stance: warning: embedding cache not written: {err}");
    }
}
