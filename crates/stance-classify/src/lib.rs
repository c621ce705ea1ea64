//! The encode and heads stages over ingested threads.
//!
//! Data flows **ingest → encode → heads → aggregate → write**. This crate takes what ingest
//! produced ([`stance_ingest::Ingested`]), puts its comments on disk ([`Spill`]), runs one
//! encoder pass per distinct text of each chunk and every requested head over those vectors,
//! and commits each chunk's prediction columns. The comments table (every input column kept,
//! then the predictions) is read back a chunk at a time ([`ClassifiedComments`]) by the
//! aggregate stage and the writers, so memory does not grow with the archive.
//!
//! - [`run`]: the whole job as one call, from a plain [`ClassifyRequest`];
//! - [`heads`]: the heads of a run, checked against the columns they fill;
//! - [`blend`]: one task scored by several models, their probabilities combined;
//! - [`route`]: one task scored by one model where a comment answers another text, by another
//!   where it stands alone;
//! - [`score`]: one chunk of comments → its prediction columns;
//! - [`zero_shot`]: stance from an NLI model instead of the stance head;
//! - [`checkpoint`]: chunks committed to a work directory, so a rerun resumes;
//! - [`spill`]: the ingested comments on disk, read back a chunk at a time.

pub mod blend;
pub mod checkpoint;
mod error;
pub mod heads;
mod lock;
pub mod route;
pub mod run;
pub mod score;
pub mod spill;
pub mod zero_shot;

pub use checkpoint::{InputFingerprint, RunKey, WorkDir};
pub use error::{ClassifyError, Result};
pub use heads::HeadSet;
pub use lock::OutputLock;
pub use run::{computes_name, run, ClassifyRequest, Destination, Event, ModelChoice, Outcome, ZeroShotRequest};
pub use score::{ScoreInput, StageTimes};
pub use spill::Spill;
pub use zero_shot::{Templates, ZeroShotStance};

use polars::prelude::{concat, DataFrame, IntoLazy, UnionArgs};
use stance_heads::model_encoder::ModelEncoder;
use stance_report::{CommentChunks, ReportError};

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

/// Scores every comment of `spill` with `heads`, chunk by chunk, resuming from and committing
/// to `work`: each chunk's predictions are committed there, not held. The comments table is
/// then read back a chunk at a time through [`ClassifiedComments`].
pub fn classify(
    spill: &Spill,
    encoder: &ModelEncoder<'_>,
    heads: &HeadSet,
    work: &WorkDir,
    zero_shot: Option<&ZeroShotStance<'_>>,
    progress: &mut dyn FnMut(ChunkProgress),
) -> Result<StageTimes> {
    let total = spill.n_comments();
    if work.key().n_comments != total || work.key().chunk_size != spill.chunk_size() {
        return Err(ClassifyError::Invalid(format!(
            "the run key counts {} comments in chunks of {}, the input has {}",
            work.key().n_comments,
            work.key().chunk_size,
            total
        )));
    }
    let mut times = StageTimes::default();
    for index in 0..work.key().n_chunks() {
        let resumed = work.has_chunk(index)?;
        if !resumed {
            let inputs = spill.chunk_inputs(index)?;
            let mut chunk = score::score_chunk(encoder, heads, &inputs.inputs(), zero_shot, work.key().logits, &mut times)?;
            work.save_chunk(index, &mut chunk)?;
        }
        progress(ChunkProgress { done: work.chunk_rows(index).end, total, resumed });
    }
    Ok(times)
}

/// The comments table of a scored run: ingest's columns (extras included), then `n_tokens`,
/// `truncated` and each head's columns, read back chunk by chunk from the spilled inputs and the
/// committed predictions.
pub struct ClassifiedComments<'a> {
    pub spill: &'a Spill,
    pub work: &'a WorkDir,
}

/// The input columns the aggregates and reports read for every comment (the texts and other
/// extra columns are read chunk by chunk when written, never held for the whole table).
const OVERVIEW_INPUT_COLUMNS: [&str; 9] =
    ["comment_id", "article_id", "parent_id", "depth", "root_id", "author", "created_at", "lang", "missing_parent_id"];

impl ClassifiedComments<'_> {
    fn predictions(&self, index: usize) -> Result<DataFrame> {
        self.work.load_chunk(index)?.ok_or_else(|| {
            ClassifyError::Invalid(format!("the predictions of chunk {index} are missing from the work directory"))
        })
    }

    /// Every row, with the columns the aggregates and the reports read.
    pub fn overview(&self) -> Result<DataFrame> {
        let mut parts = Vec::with_capacity(self.spill.n_chunks());
        for index in 0..self.spill.n_chunks() {
            let input = self.spill.input_frame(index)?;
            let keep: Vec<&str> = OVERVIEW_INPUT_COLUMNS.iter().copied().filter(|c| input.column(c).is_ok()).collect();
            parts.push(input.select(keep)?.hstack(self.predictions(index)?.columns())?.lazy());
        }
        if parts.is_empty() {
            return Ok(stance_ingest::comments_frame(&[])?);
        }
        Ok(concat(parts, UnionArgs::default())?.collect()?)
    }
}

impl CommentChunks for ClassifiedComments<'_> {
    fn n_chunks(&self) -> usize {
        self.spill.n_chunks()
    }

    fn chunk(&self, index: usize) -> std::result::Result<DataFrame, ReportError> {
        let table = || -> Result<DataFrame> {
            let mut input = self.spill.input_frame(index)?;
            let predictions = self.predictions(index)?;
            // An input column named like a prediction column (a `p_ironic` of annotator
            // agreement, a `toxic` label from elsewhere) is kept as `input.NAME`: the table
            // cannot hold two columns of one name, and the run's predictions keep theirs.
            for name in predictions.get_column_names() {
                if input.column(name).is_ok() {
                    input.rename(name, format!("input.{name}").into())?;
                }
            }
            Ok(input.hstack(predictions.columns())?)
        };
        table().map_err(|e| ReportError::Source(e.to_string()))
    }

    fn text(&self, row: usize) -> std::result::Result<Option<String>, ReportError> {
        self.spill.text(row).map(Some).map_err(|e| ReportError::Source(e.to_string()))
    }
}
