//! Writing `articles`, `comments` (JSONL or Parquet) and `rejects.jsonl` into a directory.
//!
//! Each file is written under a temporary name in the same directory and renamed into place, so
//! a reader never sees a half-written file and an interrupted run leaves the previous outputs.
//!
//! Parquet: the stance fields are typed columns (`depth` u32, the rest strings; timestamps stay
//! strings so their offsets survive). An extra column becomes boolean, int64, float64 or string
//! when all its values have that type; a column of mixed or nested JSON values is written as
//! JSON text (`"abc"` with its quotes, `[1,2]`, `{"a":1}`).

use crate::{IngestError, Ingested};
use polars::prelude::{Column, DataFrame};
use serde::Serialize;
use serde_json::Value;
use stance_core::{Article, Comment, Extra};
use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// How articles and comments are written (rejects are always JSONL).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum OutputFormat {
    #[default]
    Jsonl,
    Parquet,
}

impl OutputFormat {
    pub fn extension(self) -> &'static str {
        match self {
            OutputFormat::Jsonl => "jsonl",
            OutputFormat::Parquet => "parquet",
        }
    }
}

impl fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.extension())
    }
}

impl FromStr for OutputFormat {
    type Err = IngestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "jsonl" | "json" | "ndjson" => Ok(OutputFormat::Jsonl),
            "parquet" | "pq" => Ok(OutputFormat::Parquet),
            _ => Err(IngestError::UnknownFormat(s.to_string())),
        }
    }
}

/// The files one run wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFiles {
    pub articles: PathBuf,
    pub comments: PathBuf,
    pub rejects: PathBuf,
}

/// Writes the three outputs into `dir` (created if missing), each atomically.
pub fn write_ingested(
    ingested: &Ingested,
    dir: &Path,
    format: OutputFormat,
) -> Result<OutputFiles, IngestError> {
    fs::create_dir_all(dir).map_err(|source| IngestError::CreateDir {
        path: dir.to_path_buf(),
        source,
    })?;
    let ext = format.extension();
    let files = OutputFiles {
        articles: dir.join(format!("articles.{ext}")),
        comments: dir.join(format!("comments.{ext}")),
        rejects: dir.join("rejects.jsonl"),
    };
    match format {
        OutputFormat::Jsonl => {
            write_atomic(&files.articles, |w| write_jsonl(w, &ingested.articles))?;
            write_atomic(&files.comments, |w| write_jsonl(w, &ingested.comments))?;
        }
        OutputFormat::Parquet => {
            write_parquet(&files.articles, articles_frame(&ingested.articles))?;
            write_parquet(&files.comments, comments_frame(&ingested.comments))?;
        }
    }
    write_rejects(&files.rejects, &ingested.rejects)?;
    Ok(files)
}

/// Writes `rejects` as JSONL to `path`, atomically (the shape `stance ingest` writes).
pub fn write_rejects(path: &Path, rejects: &[stance_core::Reject]) -> Result<(), IngestError> {
    write_atomic(path, |w| write_jsonl(w, rejects))
}

fn write_jsonl<T: Serialize>(w: &mut dyn Write, records: &[T]) -> io::Result<()> {
    for record in records {
        serde_json::to_writer(&mut *w, record)?;
        w.write_all(b"\n")?;
    }
    Ok(())
}

/// Writes through `fill` into a temporary sibling of `path`, then renames it to `path`.
fn write_atomic(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<(), IngestError> {
    stance_io::write_file_atomic(path, |w| {
        fill(w).map_err(|source| IngestError::Write { path: path.to_path_buf(), source })
    })
}

fn write_parquet(
    path: &Path,
    frame: polars::prelude::PolarsResult<DataFrame>,
) -> Result<(), IngestError> {
    let parquet_error = |e: polars::prelude::PolarsError| IngestError::Parquet {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let mut df = frame.map_err(parquet_error)?;
    stance_io::table::write_parquet(path, &mut df, parquet_error)
}

fn str_column<'a>(name: &str, values: impl Iterator<Item = &'a str>) -> Column {
    Column::new(name.into(), values.collect::<Vec<&str>>())
}

fn opt_column<'a>(name: &str, values: impl Iterator<Item = Option<&'a str>>) -> Column {
    Column::new(name.into(), values.collect::<Vec<Option<&str>>>())
}

/// The comments as a table: the stance fields as typed columns, then every extra column.
pub fn comments_frame(comments: &[Comment]) -> polars::prelude::PolarsResult<DataFrame> {
    let extras: Vec<&Extra> = comments.iter().map(|c| &c.extra).collect();
    comments_frame_with(comments, &ExtraSchema::infer(&extras))
}

/// The comments as [`comments_frame`] makes them, but with the extra columns of `schema`: frames
/// of consecutive slices of one archive, each built with the archive's schema, stack into the
/// frame of the whole.
pub fn comments_frame_with(
    comments: &[Comment],
    schema: &ExtraSchema,
) -> polars::prelude::PolarsResult<DataFrame> {
    let mut columns = vec![
        str_column("comment_id", comments.iter().map(|c| c.comment_id.as_str())),
        str_column("article_id", comments.iter().map(|c| c.article_id.as_str())),
        opt_column("parent_id", comments.iter().map(|c| c.parent_id.as_deref())),
        Column::new(
            "depth".into(),
            comments.iter().map(|c| c.depth).collect::<Vec<u32>>(),
        ),
        str_column("root_id", comments.iter().map(|c| c.root_id.as_str())),
        opt_column("author", comments.iter().map(|c| c.author.as_deref())),
        opt_column(
            "created_at",
            comments.iter().map(|c| c.created_at.as_deref()),
        ),
        str_column("text", comments.iter().map(|c| c.text.as_str())),
        opt_column("lang", comments.iter().map(|c| c.lang.as_deref())),
    ];
    let extras: Vec<&Extra> = comments.iter().map(|c| &c.extra).collect();
    schema.push_columns(&mut columns, &extras);
    DataFrame::new(comments.len(), columns)
}

/// The articles as a table, typed as [`comments_frame`] types comments.
pub fn articles_frame(articles: &[Article]) -> polars::prelude::PolarsResult<DataFrame> {
    let mut columns = vec![
        str_column("article_id", articles.iter().map(|a| a.article_id.as_str())),
        str_column("title", articles.iter().map(|a| a.title.as_str())),
        str_column("text", articles.iter().map(|a| a.text.as_str())),
        opt_column("target", articles.iter().map(|a| a.target.as_deref())),
        opt_column("lang", articles.iter().map(|a| a.lang.as_deref())),
        opt_column("url", articles.iter().map(|a| a.url.as_deref())),
        opt_column("published", articles.iter().map(|a| a.published.as_deref())),
    ];
    let extras: Vec<&Extra> = articles.iter().map(|a| &a.extra).collect();
    ExtraSchema::infer(&extras).push_columns(&mut columns, &extras);
    DataFrame::new(articles.len(), columns)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ExtraType {
    Bool,
    Int,
    Float,
    Str,
    Json,
}

fn value_type(v: &Value) -> Option<ExtraType> {
    match v {
        Value::Null => None,
        Value::Bool(_) => Some(ExtraType::Bool),
        Value::Number(n) if n.is_i64() => Some(ExtraType::Int),
        Value::Number(_) => Some(ExtraType::Float),
        Value::String(_) => Some(ExtraType::Str),
        Value::Array(_) | Value::Object(_) => Some(ExtraType::Json),
    }
}

/// The extra columns of a table: one per extra key (first-seen order), typed when its values
/// agree (see the module's documentation).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtraSchema {
    /// (key, column type).
    columns: Vec<(String, ExtraType)>,
}

impl ExtraSchema {
    /// The schema that `extras` (every record of a table) call for.
    pub fn infer(extras: &[&Extra]) -> ExtraSchema {
        let mut columns: Vec<(String, Option<ExtraType>)> = Vec::new();
        let mut index: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for extra in extras {
            for (key, value) in extra.iter() {
                let slot = *index.entry(key.as_str()).or_insert_with(|| {
                    columns.push((key.clone(), None));
                    columns.len() - 1
                });
                let Some(t) = value_type(value) else { continue };
                let column_type = &mut columns[slot].1;
                *column_type = Some(match (*column_type, t) {
                    (None, t) => t,
                    (Some(a), b) if a == b => a,
                    (Some(ExtraType::Int), ExtraType::Float)
                    | (Some(ExtraType::Float), ExtraType::Int) => ExtraType::Float,
                    _ => ExtraType::Json,
                });
            }
        }
        ExtraSchema {
            columns: columns
                .into_iter()
                .map(|(key, t)| (key, t.unwrap_or(ExtraType::Str)))
                .collect(),
        }
    }

    /// Appends one column per key of the schema, valued from `extras` (one per row). A key
    /// that names a column already there becomes `input_<key>`.
    fn push_columns(&self, columns: &mut Vec<Column>, extras: &[&Extra]) {
        for (key, column_type) in &self.columns {
            let key = key.as_str();
            let values: Vec<Option<&Value>> = extras
                .iter()
                .map(|e| e.get(key).filter(|v| !v.is_null()))
                .collect();
            let taken = columns.iter().any(|c| c.name().as_str() == key);
            let name = if taken {
                format!("input_{key}")
            } else {
                key.to_string()
            };
            let column = match column_type {
                ExtraType::Bool => Column::new(
                    name.into(),
                    values
                        .iter()
                        .map(|v| v.and_then(Value::as_bool))
                        .collect::<Vec<_>>(),
                ),
                ExtraType::Int => Column::new(
                    name.into(),
                    values
                        .iter()
                        .map(|v| v.and_then(Value::as_i64))
                        .collect::<Vec<_>>(),
                ),
                ExtraType::Float => Column::new(
                    name.into(),
                    values
                        .iter()
                        .map(|v| v.and_then(Value::as_f64))
                        .collect::<Vec<_>>(),
                ),
                ExtraType::Str => Column::new(
                    name.into(),
                    values
                        .iter()
                        .map(|v| v.and_then(Value::as_str))
                        .collect::<Vec<_>>(),
                ),
                ExtraType::Json => Column::new(
                    name.into(),
                    values
                        .iter()
                        .map(|v| v.map(|v| v.to_string()))
                        .collect::<Vec<Option<String>>>(),
                ),
            };
            columns.push(column);
        }
    }
}
