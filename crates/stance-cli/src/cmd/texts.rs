//! The small reader and writer behind `stance embed` and `stance predict`: rows with `id` and
//! `text` (and an optional pair field) from JSONL, CSV or Parquet, results to Parquet, and a
//! progress bar on stderr. Archive ingestion proper lives in `stance-ingest`.

use anyhow::{anyhow, bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use polars::prelude::*;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

/// One input row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextRow {
    pub id: String,
    pub text: String,
    pub pair: Option<String>,
}

/// Reads `id`, `text` and, when asked, `pair_field` from a `.jsonl`/`.ndjson`, `.csv` or
/// `.parquet` file. Numeric ids are kept as their decimal text.
pub fn read(path: &Path, pair_field: Option<&str>) -> Result<Vec<TextRow>> {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let rows = match extension.as_str() {
        "jsonl" | "ndjson" | "json" => read_jsonl(path, pair_field),
        "csv" => read_csv(path, pair_field),
        "parquet" => read_parquet(path, pair_field),
        _ => bail!(
            "{}: unknown input format (use .jsonl, .csv or .parquet)",
            path.display()
        ),
    };
    rows.with_context(|| format!("cannot read {}", path.display()))
}

fn read_jsonl(path: &Path, pair_field: Option<&str>) -> Result<Vec<TextRow>> {
    let reader = BufReader::new(File::open(path)?);
    let mut rows = Vec::new();
    for (index, line) in reader.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let at = || format!("line {}", index + 1);
        let value: serde_json::Value = serde_json::from_str(&line).with_context(at)?;
        let field = |name: &str| -> Result<String> {
            match value.get(name) {
                Some(serde_json::Value::String(s)) => Ok(s.clone()),
                Some(serde_json::Value::Number(n)) if name == "id" => Ok(n.to_string()),
                Some(other) => Err(anyhow!("`{name}` must be a string, found {other}")),
                None => Err(anyhow!("no `{name}` field")),
            }
        };
        rows.push(TextRow {
            id: field("id").with_context(at)?,
            text: field("text").with_context(at)?,
            pair: pair_field.map(field).transpose().with_context(at)?,
        });
    }
    Ok(rows)
}

fn read_csv(path: &Path, pair_field: Option<&str>) -> Result<Vec<TextRow>> {
    let mut reader = csv::Reader::from_path(path)?;
    let headers = reader.headers()?.clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| anyhow!("no `{name}` column"))
    };
    let (id, text) = (column("id")?, column("text")?);
    let pair = pair_field.map(column).transpose()?;
    let mut rows = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let record = record.with_context(|| format!("record {}", index + 1))?;
        let get = |i: usize| record.get(i).unwrap_or_default().to_string();
        rows.push(TextRow {
            id: get(id),
            text: get(text),
            pair: pair.map(get),
        });
    }
    Ok(rows)
}

fn read_parquet(path: &Path, pair_field: Option<&str>) -> Result<Vec<TextRow>> {
    let df = ParquetReader::new(File::open(path)?).finish()?;
    let strings = |name: &str| -> Result<Vec<String>> {
        let column = df.column(name).map_err(|_| anyhow!("no `{name}` column"))?;
        let cast = column.cast(&DataType::String)?;
        let values = cast.str()?;
        values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.map(str::to_string)
                    .ok_or_else(|| anyhow!("row {}: `{name}` is null", i + 1))
            })
            .collect()
    };
    let ids = strings("id")?;
    let texts = strings("text")?;
    let pairs = pair_field.map(strings).transpose()?;
    Ok(ids
        .into_iter()
        .zip(texts)
        .enumerate()
        .map(|(i, (id, text))| TextRow {
            id,
            text,
            pair: pairs.as_ref().map(|p| p[i].clone()),
        })
        .collect())
}

/// Writes `columns` as one Parquet file.
pub fn write_parquet(path: &Path, columns: Vec<Column>) -> Result<()> {
    let height = columns.first().map_or(0, |c| c.len());
    let mut df = DataFrame::new(height, columns)?;
    let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let written = ParquetWriter::new(file).finish(&mut df);
    anyhow::Context::with_context(written, || format!("cannot write {}", path.display()))?;
    Ok(())
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
