//! `stance embed` and `stance predict`'s view of the I/O layer (`stance-io`): rows with `id` and
//! `text` (and an optional pair field) from JSONL, CSV or Parquet, results to Parquet, and a
//! progress bar on stderr. Archive ingestion proper lives in `stance-ingest`.

use anyhow::{anyhow, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use polars::prelude::*;
use std::path::Path;

/// One input row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextRow {
    pub id: String,
    pub text: String,
    pub pair: Option<String>,
}

/// Reads `id`, `text` and, when asked, `pair_field` from a `.jsonl`/`.ndjson`, `.csv`/`.tsv` or
/// `.parquet` file. Numeric ids are kept as their decimal text.
pub fn read(path: &Path, pair_field: Option<&str>) -> Result<Vec<TextRow>> {
    let rows = stance_io::table::read_rows(path).with_context(|| format!("cannot read {}", path.display()))?;
    rows.into_iter()
        .map(|(line, row)| {
            let field = |name: &str| -> Result<String> {
                match row.get(name) {
                    Some(serde_json::Value::String(s)) => Ok(s.clone()),
                    Some(serde_json::Value::Number(n)) if name == "id" => Ok(n.to_string()),
                    Some(serde_json::Value::Null) | None => Err(anyhow!("no `{name}` field")),
                    Some(other) => Err(anyhow!("`{name}` must be a string, found {other}")),
                }
            };
            let at = || format!("{}:{line}", path.display());
            Ok(TextRow {
                id: field("id").with_context(at)?,
                text: field("text").with_context(at)?,
                pair: pair_field.map(field).transpose().with_context(at)?,
            })
        })
        .collect()
}

/// Writes `columns` as one Parquet file, atomically.
pub fn write_parquet(path: &Path, columns: Vec<Column>) -> Result<()> {
    let height = columns.first().map_or(0, |c| c.len());
    let mut df = DataFrame::new(height, columns)?;
    stance_io::table::write_parquet(path, &mut df, anyhow::Error::from)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// A list<f32> column, typed even when empty.
pub fn f32_lists(name: &str, rows: impl ExactSizeIterator<Item = Vec<f32>>) -> Column {
    let mut builder = ListPrimitiveChunkedBuilder::<Float32Type>::new(
        name.into(),
        rows.len(),
        0,
        DataType::Float32,
    );
    for row in rows {
        builder.append_slice(&row);
    }
    builder.finish().into_series().into_column()
}

/// A progress bar on stderr counting `len` items, hidden with `--quiet` (and, as indicatif
/// does, when stderr is not a terminal).
pub fn progress(len: usize, what: &str, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64);
    if let Ok(style) =
        ProgressStyle::with_template("{msg} {bar:30} {pos}/{len} {per_sec} [{elapsed} < {eta}]")
    {
        bar.set_style(style);
    }
    bar.set_message(what.to_string());
    bar
}
