//! The encode and heads stages over ingested threads.
//!
//! Data flows **ingest → encode → heads → aggregate → write**. This crate takes what ingest
//! produced ([`stance_ingest::Ingested`]), runs one encoder pass per distinct text and every
//! requested head over those vectors, and returns the comments table with prediction columns
//! (every input column kept): the table the aggregate stage reads and the writers write.
//!
//! - [`run`]: the whole job as one call, from a plain [`ClassifyRequest`];
//! - [`heads`]: the heads of a run, checked against the columns they fill;
//! - [`score`]: one chunk of comments → its prediction columns;
//! - [`zero_shot`]: stance from an NLI model instead of the stance head;
//! - [`checkpoint`]: chunks committed to a work directory, so a rerun resumes.

pub mod checkpoint;
mod error;
pub mod heads;
mod lock;
pub mod run;
pub mod score;
pub mod zero_shot;

pub use checkpoint::{InputFingerprint, RunKey, WorkDir};
pub use error::{ClassifyError, Result};
pub use heads::HeadSet;
pub use lock::OutputLock;
pub use run::{run, ClassifyRequest, Destination, Event, ModelChoice, Outcome, ZeroShotRequest};
pub use score::StageTimes;
pub use zero_shot::{Templates, ZeroShotStance};

use polars::prelude::{concat, DataFrame, IntoLazy, UnionArgs};
use stance_heads::model_encoder::ModelEncoder;
use stance_ingest::Ingested;

/// Comments per checkpointed chunk when nothing else is asked for: a few seconds of work, so
/// a kill loses little, and enough texts per encoder call to batch well.
pub const DEFAULT_CHUNK_SIZE: usize = 1024;

/// Where a run stands, after each chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkProgress {
    /// Comments whose predictions are committed (resumed ones included).
    pub done: usize,
    pub total: usize,
    /// Whether the chunk just finished came from an earlier run's checkpoint.
    pub resumed: bool,
}

/// Scores every comment of `ingested` with `heads`, resuming from and committing to `work`,
/// and returns the comments table: ingest's columns (extras included), then `n_tokens`,
/// `truncated` and each head's columns. `target` overrides every article's target.
pub fn classify(
    ingested: &Ingested,
    encoder: &ModelEncoder<'_>,
    heads: &HeadSet,
    work: &WorkDir,
    zero_shot: Option<&ZeroShotStance<'_>>,
    target: Option<&str>,
    progress: &mut dyn FnMut(ChunkProgress),
) -> Result<Classified> {
    let comments = &ingested.comments;
    if work.key().n_comments != comments.len() {
        return Err(ClassifyError::Invalid(format!(
            "the run key counts {} comments, the input has {}",
            work.key().n_comments,
            comments.len()
        )));
    }
    let lookup = score::Lookup::new(&ingested.articles, comments, target);
    let mut chunks = Vec::with_capacity(work.key().n_chunks());
    let mut times = StageTimes::default();
    for index in 0..work.key().n_chunks() {
        let rows = work.chunk_rows(index);
        let (chunk, resumed) = match work.load_chunk(index)? {
            Some(chunk) => (chunk, true),
            None => {
                let mut chunk = score::score_chunk(encoder, heads, &comments[rows.clone()], &lookup, zero_shot, work.key().logits, &mut times)?;
                work.save_chunk(index, &mut chunk)?;
                (chunk, false)
            }
        };
        chunks.push(chunk);
        progress(ChunkProgress { done: rows.end, total: comments.len(), resumed });
    }
    let mut table = stance_ingest::comments_frame(comments)?;
    if !chunks.is_empty() {
        let predictions = concat(chunks.into_iter().map(|c| c.lazy()).collect::<Vec<_>>(), UnionArgs::default())?
            .collect()?;
        table = table.hstack(predictions.columns())?;
    }
    Ok(Classified { table, times })
}

/// The comments table with predictions, and where the scoring time went.
pub struct Classified {
    pub table: DataFrame,
    /// Only chunks scored in this run count (resumed ones cost nothing).
    pub times: StageTimes,
}
