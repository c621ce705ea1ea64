//! The ingest stage of stance: reads comment archives in many formats into validated threads.
//!
//! ```text
//! inputs ──▶ source (stdin / file, .gz / .zst streamed) ──▶ format detection ──▶ reader
//!        ──▶ collector (records + rejects) ──▶ finalize (validation, dedup, lang, threads)
//!        ──▶ Ingested { articles, comments, rejects, summary } ──▶ write_ingested
//! ```
//!
//! Formats ([`InputFormat`]): JSONL, CSV/TSV and Parquet tables of comments or articles
//! (`--map field=column` renames columns), Reddit comment/submission dumps, Disqus XML exports and
//! scraped comment pages saved as text.
//!
//! Rules every reader follows:
//! - A record is never silently dropped: each problem becomes a [`Reject`] line with the file, the
//!   line (row number for Parquet), the field and a reason. Errors leave the record out, warnings
//!   keep it (see [`Severity`]).
//! - Columns stance has no use for are kept in the records' `extra` map, so they reach the
//!   outputs. An extra column that has the name of a stance field (because `--map` took another
//!   column for that field) is renamed `input_<name>`; the derived `depth` and `root_id` columns
//!   of an input are recomputed, not kept.
//! - Comments without an article id take one derived from their file name ([`source_slug`]);
//!   articles that comments refer to but no input provides are added as
//!   [`Article::placeholder`]s.
//! - Languages are filled only where absent, with `whatlang` (see [`lang`]).
//! - A reject's `line` is the 1-based line of the record's start (the row number for Parquet,
//!   the header line for a page comment); line 0 means the input as a whole (a Parquet file
//!   polars cannot open, a stream that fails to decompress past the point already read).
//! - Readers never panic on input; property tests in `tests/` feed them arbitrary bytes.

mod collect;
mod detect;
mod error;
mod fieldmap;
pub mod lang;
mod lines;
mod readers;
mod source;
mod summary;
pub mod text;
pub mod timestamp;
mod write;

pub use error::IngestError;
pub use fieldmap::{FieldMap, RecordKind};
pub use source::source_slug;
pub use summary::{RejectReason, Summary};
pub use write::{articles_frame, comments_frame, comments_frame_with, write_ingested, ExtraSchema, write_rejects, OutputFiles, OutputFormat};

use stance_core::{Article, Comment, Reject, Severity};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

/// Largest accepted value of any single field, in bytes (1 MiB).
pub const MAX_FIELD_BYTES: usize = 1 << 20;

/// An input format. Detected from the content and the extension unless given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum InputFormat {
    /// One JSON object per line: a table of comments or of articles.
    Jsonl,
    /// Comma-separated table with a header line.
    Csv,
    /// Tab-separated table with a header line.
    Tsv,
    /// Apache Parquet table.
    Parquet,
    /// Reddit dump: comments (`t1_`) and submissions (`t3_`), one JSON object per line.
    Reddit,
    /// Disqus XML export (`<thread>` and `<post>` elements).
    Disqus,
    /// A scraped comment page saved as text (article, then an indented comment tree).
    Page,
}

impl InputFormat {
    pub const ALL: [InputFormat; 7] = [
        InputFormat::Jsonl,
        InputFormat::Csv,
        InputFormat::Tsv,
        InputFormat::Parquet,
        InputFormat::Reddit,
        InputFormat::Disqus,
        InputFormat::Page,
    ];

    pub fn name(self) -> &'static str {
        match self {
            InputFormat::Jsonl => "jsonl",
            InputFormat::Csv => "csv",
            InputFormat::Tsv => "tsv",
            InputFormat::Parquet => "parquet",
            InputFormat::Reddit => "reddit",
            InputFormat::Disqus => "disqus",
            InputFormat::Page => "page",
        }
    }
}

impl fmt::Display for InputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for InputFormat {
    type Err = IngestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        let found = match lower.as_str() {
            "json" | "ndjson" => Some(InputFormat::Jsonl),
            "xml" => Some(InputFormat::Disqus),
            "txt" | "text" => Some(InputFormat::Page),
            "pq" => Some(InputFormat::Parquet),
            other => InputFormat::ALL.into_iter().find(|f| f.name() == other),
        };
        found.ok_or_else(|| IngestError::UnknownFormat(s.to_string()))
    }
}

/// Where an input's bytes come from.
#[derive(Debug, Clone)]
pub enum InputSource {
    /// Standard input (`-` on the command line). At most once per run.
    Stdin,
    /// A file; `.gz` and `.zst` files are decompressed on the fly (detected from content).
    Path(PathBuf),
    /// Bytes already in memory, under a display name (used by tests and by other stages).
    Memory { name: String, data: Arc<[u8]> },
}

/// One input: its source and, optionally, its format (otherwise detected).
#[derive(Debug, Clone)]
pub struct InputSpec {
    pub source: InputSource,
    pub format: Option<InputFormat>,
}

impl InputSpec {
    /// `-` means standard input; anything else is a path.
    pub fn parse(arg: &str) -> Self {
        if arg == "-" {
            Self::stdin()
        } else {
            Self::path(arg)
        }
    }

    pub fn path(path: impl Into<PathBuf>) -> Self {
        InputSpec {
            source: InputSource::Path(path.into()),
            format: None,
        }
    }

    pub fn stdin() -> Self {
        InputSpec {
            source: InputSource::Stdin,
            format: None,
        }
    }

    pub fn memory(name: impl Into<String>, data: impl Into<Arc<[u8]>>) -> Self {
        InputSpec {
            source: InputSource::Memory {
                name: name.into(),
                data: data.into(),
            },
            format: None,
        }
    }

    pub fn with_format(mut self, format: Option<InputFormat>) -> Self {
        self.format = format;
        self
    }

    /// The name used for this input in rejects: the path as given, `-` for stdin.
    pub fn display_name(&self) -> String {
        match &self.source {
            InputSource::Stdin => "-".to_string(),
            InputSource::Path(p) => p.display().to_string(),
            InputSource::Memory { name, .. } => name.clone(),
        }
    }
}

/// How inputs are read.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Column renames for tabular inputs (`--map field=column`).
    pub field_map: FieldMap,
    /// Replace invalid UTF-8 with U+FFFD (and warn) instead of rejecting the record.
    pub lossy_utf8: bool,
    /// Fill absent `lang` fields with `whatlang`. On by default.
    pub detect_languages: bool,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            field_map: FieldMap::default(),
            lossy_utf8: false,
            detect_languages: true,
        }
    }
}

/// Everything ingest produced: clean records, what was wrong, and the counts.
#[derive(Debug, Clone, Default)]
pub struct Ingested {
    /// Articles in input order, then placeholders for articles only comments referred to.
    pub articles: Vec<Article>,
    /// Comments in input order, with `depth`, `root_id` and `lang` filled.
    pub comments: Vec<Comment>,
    /// Every problem found, ordered by input then line.
    pub rejects: Vec<Reject>,
    pub summary: Summary,
}

impl Ingested {
    /// Number of error rejects (each one is a record, or the rest of a file, left out).
    pub fn error_count(&self) -> usize {
        self.rejects
            .iter()
            .filter(|r| r.severity == Severity::Error)
            .count()
    }
}

/// Reads every input, validates and links the records, and fills languages.
///
/// Fails only when an input cannot be opened at all (or stdin is named twice); everything wrong
/// *inside* an input becomes a reject.
pub fn read_inputs(inputs: &[InputSpec], options: &IngestOptions) -> Result<Ingested, IngestError> {
    let stdin_uses = inputs
        .iter()
        .filter(|i| matches!(i.source, InputSource::Stdin))
        .count();
    if stdin_uses > 1 {
        return Err(IngestError::StdinTwice);
    }
    let mut collector = collect::Collector::default();
    for input in inputs {
        let opened = source::open(input)?;
        collector.begin_file(&opened.name, &opened.slug);
        readers::read(opened, input.format, options, &mut collector);
    }
    Ok(collector.finish(options))
}
