//! What `stance train`, `stance calibrate` and `stance eval` share: labelled files read for a
//! task, and their examples turned into head features by the opened model behind the on-disk
//! embedding cache.

use crate::cmd::texts;
use crate::flags::{Global, ModelFlags};
use anyhow::{bail, Context, Result};
use stance_heads::model_encoder::ModelEncoder;
use stance_heads::{features, CachedEncoder, DataSpec, Dataset, EmbeddingCache, Task, TextEncoder};

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

/// Reads each data argument for `task`, refusing an empty one and reporting skipped rows.
pub fn read_all(specs: &[DataSpec], task: Task, global: &Global) -> Result<Vec<Dataset>> {
    let sets = stance_heads::data::read_datasets(specs, task)?;
    for d in &sets {
        if d.examples.is_empty() {
            bail!("{}: no rows", d.spec);
        }
        if !d.skipped.is_empty() && !global.quiet {
            let (row, why) = &d.skipped[0];
            eprintln!("stance: {}: left out {} row(s), e.g. row {row}: {why}", d.spec, d.skipped.len());
        }
    }
    Ok(sets)
}

/// Features, label indices and source indices of every example of `sets`.
pub fn featurize(
    sets: &[Dataset],
    labels: &[String],
    kind: stance_heads::InputKind,
    encoder: &dyn TextEncoder,
    what: &str,
    global: &Global,
) -> Result<(Vec<Vec<f32>>, Vec<usize>, Vec<usize>)> {
    let x = example_features(sets, kind, encoder, what, global)?;
    let (y, src) = gold_and_sources(sets, labels)?;
    Ok((x, y, src))
}

/// The head features of every example of `sets`, with a progress bar named `what`.
pub fn example_features(
    sets: &[Dataset],
    kind: stance_heads::InputKind,
    encoder: &dyn TextEncoder,
    what: &str,
    global: &Global,
) -> Result<Vec<Vec<f32>>> {
    let examples: Vec<stance_heads::Example> = sets.iter().flat_map(|d| d.examples.iter().cloned()).collect();
    let bar = texts::progress(0, what, global.quiet);
    let x = features::example_features(&examples, kind, encoder, &mut |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })?;
    bar.finish_and_clear();
    Ok(x)
}

/// The label index (in `labels`) and the data argument index of every example of `sets`.
pub fn gold_and_sources(sets: &[Dataset], labels: &[String]) -> Result<(Vec<usize>, Vec<usize>)> {
    let y = sets
        .iter()
        .flat_map(|d| &d.examples)
        .map(|e| labels.iter().position(|l| *l == e.label).context("label outside the label set"))
        .collect::<Result<Vec<_>>>()?;
    let src = sets.iter().enumerate().flat_map(|(i, d)| std::iter::repeat_n(i, d.examples.len())).collect();
    Ok((y, src))
}
