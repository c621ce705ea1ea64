//! The write stage of stance: tables to disk and reports for people.
//!
//! Data flows **ingest → encode → heads → aggregate → write**. [`write_outputs`] takes the
//! per-comment table and the [`stance_aggregate::Aggregates`] and writes, into one directory:
//!
//! | file | what |
//! |---|---|
//! | `comments.parquet`, `threads.parquet`, `authors.parquet`, `daily.parquet` | the tables ([`Format::Csv`] and [`Format::Jsonl`] are the alternatives); with [`PartitionBy`], hive-partitioned directories instead |
//! | `run.json` | the [`RunInfo`]: models and revisions, heads, label sets, thresholds, stance version, input files, aggregation parameters |
//! | `summary.txt` | a plain-text summary for the terminal ([`render_summary_text`] returns it for `--print`) |
//! | `summary.md` | the same in Markdown, with the metric definitions |
//! | `report.html` | one self-contained page with charts: stance and tone per thread, activity and stance over time, the most contested reply chains |
//!
//! Every Parquet file carries the run in its key-value metadata ([`parquet_metadata`]): key
//! `stance.run` holds exactly the JSON of `run.json`; `stance.version`, `stance.table` and, for
//! the aggregate tables, `stance.definitions` (column → definition) sit beside it.
//!
//! Every file is written atomically (a temporary name in the same directory, flushed, then
//! renamed), and a partitioned table is built in a temporary directory and renamed as a whole:
//! a reader sees the previous complete output or the new one, never a half-written file.

mod cells;
mod chunks;
mod error;
mod fmt;
mod html;
mod model;
mod run;
mod summary;
mod svg;
mod table;
mod values;

pub use stance_io::{write_dir_atomic, write_file_atomic};
pub use error::ReportError;
pub use run::{AggregationInfo, HeadInfo, InputFile, ModelRecord, RunInfo};
pub use chunks::{concat_chunks, CommentChunks};
pub use table::{write_chunked_table, write_frame, write_table, Format, PartitionBy, WrittenTable, HIVE_NULL};

use model::ReportModel;
use polars::prelude::*;
use stance_aggregate::{utc_days, Aggregates, METRICS};
use std::io::Write;
use std::path::{Path, PathBuf};

/// How the tables are written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutputOptions {
    pub format: Format,
    /// Split the big tables, `comments` and `daily`, into hive-partitioned directories, by
    /// article or by the UTC day of `created_at` (see [`stance_aggregate::utc_days`]).
    /// `threads` (one row per article) and `authors` stay single files: split by article they
    /// would be one-row files, which cost more to write and to scan than they save.
    pub partition_by: Option<PartitionBy>,
}

/// What [`write_outputs`] wrote.
#[derive(Debug, Clone)]
pub struct Written {
    pub tables: Vec<WrittenTable>,
    pub run_json: PathBuf,
    pub summary_txt: PathBuf,
    pub summary_md: PathBuf,
    pub report_html: PathBuf,
    /// The content of `summary.txt`, for printing.
    pub summary: String,
}

/// Writes every output into `dir` (created if needed). `comments` is the per-comment table
/// (written as `comments`); `run` describes the run, and its `aggregation` field is set from
/// `aggregates` so the files always state the parameters the metrics were computed with.
pub fn write_outputs(
    dir: &Path,
    comments: &DataFrame,
    aggregates: &Aggregates,
    run: &RunInfo,
    options: &OutputOptions,
) -> Result<Written, ReportError> {
    write_outputs_chunked(dir, comments, comments, aggregates, run, options)
}

/// [`write_outputs`] for a comments table read chunk by chunk. `overview` holds the same rows
/// with the columns the reports read for every comment (ids, parents, times, labels; it may
/// leave out the texts, which come from `comments` for the few comments quoted). The comments
/// table is written a chunk at a time, except when partitioned: then it is gathered first.
pub fn write_outputs_chunked(
    dir: &Path,
    comments: &dyn CommentChunks,
    overview: &DataFrame,
    aggregates: &Aggregates,
    run: &RunInfo,
    options: &OutputOptions,
) -> Result<Written, ReportError> {
    std::fs::create_dir_all(dir).map_err(ReportError::io("create", dir))?;
    let mut run = run.clone();
    run.aggregation = AggregationInfo::from(&aggregates.options);

    let mut written = Vec::with_capacity(4);
    let metadata = parquet_metadata(&run, "comments", None)?;
    written.push(match options.partition_by {
        None => write_chunked_table(dir, "comments", comments, options.format, &metadata)?,
        Some(partition_by) => {
            let mut all = chunks::concat_chunks(comments)?;
            if partition_by == PartitionBy::Day && all.column("day").is_err() {
                let days = utc_days(&all)?;
                all.with_column(days)?;
            }
            write_table(dir, "comments", &all, options.format, Some(partition_by), &metadata)?
        }
    });
    // (name, table, may be partitioned)
    let tables: [(&str, &DataFrame, bool); 3] = [
        ("threads", &aggregates.threads, false),
        ("authors", &aggregates.authors, false),
        ("daily", &aggregates.daily, true),
    ];
    for (name, df, partitionable) in tables {
        let metadata = parquet_metadata(&run, name, Some(df))?;
        let partition_by = options.partition_by.filter(|_| partitionable);
        written.push(write_table(
            dir,
            name,
            df,
            options.format,
            partition_by,
            &metadata,
        )?);
    }

    let run_json = dir.join("run.json");
    let run_text = serde_json::to_string_pretty(&run)?;
    write_text(&run_json, &run_text)?;

    let model = ReportModel::new(overview, aggregates, &run, comments)?;
    let summary = summary::summary_text(&model);
    let summary_txt = dir.join("summary.txt");
    write_text(&summary_txt, &summary)?;
    let summary_md = dir.join("summary.md");
    write_text(&summary_md, &summary::summary_markdown(&model))?;
    let report_html = dir.join("report.html");
    write_text(&report_html, &html::report_html(&model))?;

    Ok(Written {
        tables: written,
        run_json,
        summary_txt,
        summary_md,
        report_html,
        summary,
    })
}

/// The key-value metadata of a Parquet table: `stance.run` (the run as compact JSON, the same
/// object as `run.json`), `stance.version`, `stance.table`, and, when `definitions_for` is an
/// aggregate table, `stance.definitions`: a JSON object from each of its columns to the
/// definition in [`stance_aggregate::METRICS`].
pub fn parquet_metadata(
    run: &RunInfo,
    table: &str,
    definitions_for: Option<&DataFrame>,
) -> Result<Vec<(String, String)>, ReportError> {
    let mut kv = vec![
        ("stance.run".to_string(), serde_json::to_string(run)?),
        ("stance.version".to_string(), run.stance_version.clone()),
        ("stance.table".to_string(), table.to_string()),
    ];
    if let Some(df) = definitions_for {
        let definitions: serde_json::Map<String, serde_json::Value> = df
            .get_column_names()
            .iter()
            .filter_map(|name| {
                let m = METRICS.iter().find(|m| m.name == name.as_str())?;
                Some((m.name.to_string(), m.definition.into()))
            })
            .collect();
        kv.push((
            "stance.definitions".to_string(),
            serde_json::to_string(&definitions)?,
        ));
    }
    Ok(kv)
}

/// The key-value metadata of a Parquet file, as written by [`write_table`].
pub fn read_parquet_metadata(path: &Path) -> Result<Vec<(String, String)>, ReportError> {
    let file = std::fs::File::open(path).map_err(ReportError::io("open", path))?;
    let mut reader = ParquetReader::new(file);
    let metadata = reader.get_metadata()?;
    Ok(metadata
        .key_value_metadata()
        .as_ref()
        .map(|kv| {
            kv.iter()
                .map(|e| (e.key.clone(), e.value.clone().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default())
}

/// The text of `summary.txt`, for printing to the terminal.
pub fn render_summary_text(
    comments: &DataFrame,
    aggregates: &Aggregates,
    run: &RunInfo,
) -> Result<String, ReportError> {
    Ok(summary::summary_text(&ReportModel::new(
        comments, aggregates, run, comments,
    )?))
}

/// The text of `summary.md`.
pub fn render_summary_markdown(
    comments: &DataFrame,
    aggregates: &Aggregates,
    run: &RunInfo,
) -> Result<String, ReportError> {
    Ok(summary::summary_markdown(&ReportModel::new(
        comments, aggregates, run, comments,
    )?))
}

/// The text of `report.html`.
pub fn render_report_html(
    comments: &DataFrame,
    aggregates: &Aggregates,
    run: &RunInfo,
) -> Result<String, ReportError> {
    Ok(html::report_html(&ReportModel::new(
        comments, aggregates, run, comments,
    )?))
}

fn write_text(path: &Path, text: &str) -> Result<(), ReportError> {
    write_file_atomic(path, |w| {
        w.write_all(text.as_bytes())
            .map_err(ReportError::io("write", path))
    })
}
