//! The per-comment table as the writers read it: chunk by chunk, so that a run over a large
//! archive writes its comments without holding all of their texts at once.

use crate::ReportError;
use polars::prelude::*;

/// A comments table split into consecutive chunks of rows that share one schema. An in-memory
/// [`DataFrame`] is a table of one chunk; `stance classify` reads its chunks back from disk.
pub trait CommentChunks {
    fn n_chunks(&self) -> usize;

    /// Chunk `index`, every column.
    fn chunk(&self, index: usize) -> Result<DataFrame, ReportError>;

    /// The `text` of the comment at `row` of the whole table (the reports quote a few).
    fn text(&self, row: usize) -> Result<Option<String>, ReportError>;
}

impl CommentChunks for DataFrame {
    fn n_chunks(&self) -> usize {
        1
    }

    fn chunk(&self, _index: usize) -> Result<DataFrame, ReportError> {
        Ok(self.clone())
    }

    fn text(&self, row: usize) -> Result<Option<String>, ReportError> {
        Ok(crate::cells::str_at(self, "text", row))
    }
}

/// Every chunk stacked into one frame.
pub fn concat_chunks(comments: &dyn CommentChunks) -> Result<DataFrame, ReportError> {
    let mut chunks = (0..comments.n_chunks()).map(|i| comments.chunk(i));
    let Some(first) = chunks.next() else {
        return Ok(DataFrame::empty());
    };
    let mut all = first?;
    for chunk in chunks {
        all.vstack_mut(&chunk?)?;
    }
    all.rechunk_mut();
    Ok(all)
}
