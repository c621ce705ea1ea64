//! Tables on disk: rows of JSONL, CSV, TSV or Parquet files as JSON objects, and atomic
//! Parquet writes. Training data, `stance embed`/`stance predict` inputs and classify
//! checkpoints all go through here. (Comment archives have their own streaming readers with
//! rejects in `stance-ingest`.)

use polars::prelude::{DataFrame, ParquetWriter};
use serde_json::{Map, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

/// A table that cannot be read; `row` is 1-based (the line for JSONL and CSV).
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("{path}:{row}: {message}")]
    Row { path: PathBuf, row: u64, message: String },
}

impl TableError {
    fn io(path: &Path, e: std::io::Error) -> TableError {
        TableError::File { path: path.to_path_buf(), message: e.to_string() }
    }
}

/// Writes `df` as one Parquet file at `path`, atomically (see [`crate::atomic`]).
pub fn write_parquet<E>(path: &Path, df: &mut DataFrame, error: impl FnOnce(polars::prelude::PolarsError) -> E) -> Result<(), E>
where
    E: From<crate::AtomicError>,
{
    crate::write_file_atomic(path, |w| ParquetWriter::new(w).finish(df).map(|_| ()).map_err(error))
}

/// One row of a data file with its 1-based position (line for text formats).
pub type Row = (u64, Map<String, Value>);

/// Reads the rows of a file, whatever its format, as JSON objects (CSV and Parquet cells as strings).
pub fn read_rows(path: &Path) -> Result<Vec<Row>, TableError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "jsonl" | "ndjson" | "json" => read_jsonl(path),
        "csv" => read_csv(path, b','),
        "tsv" => read_csv(path, b'\t'),
        "parquet" => read_parquet(path),
        _ => Err(TableError::File {
            path: path.into(),
            message: "unknown format: expected .jsonl, .csv, .tsv or .parquet".into(),
        }),
    }
}

fn read_jsonl(path: &Path) -> Result<Vec<Row>, TableError> {
    let file = std::fs::File::open(path).map_err(|e| TableError::io(path, e))?;
    let mut rows = Vec::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| TableError::io(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let row = i as u64 + 1;
        match serde_json::from_str::<Value>(&line) {
            Ok(Value::Object(map)) => rows.push((row, map)),
            Ok(_) => return Err(row_error(path, row, "not a JSON object")),
            Err(e) => return Err(row_error(path, row, &format!("invalid JSON: {e}"))),
        }
    }
    Ok(rows)
}

fn read_csv(path: &Path, delimiter: u8) -> Result<Vec<Row>, TableError> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(false)
        .from_path(path)
        .map_err(|e| TableError::File {
            path: path.into(),
            message: e.to_string(),
        })?;
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| TableError::File {
            path: path.into(),
            message: e.to_string(),
        })?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map(|p| p.line()).unwrap_or(0);
            row_error(path, line, &e.to_string())
        })?;
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let map = header
            .iter()
            .zip(record.iter())
            .map(|(h, v)| (h.clone(), Value::String(v.to_string())))
            .collect();
        rows.push((line, map));
    }
    Ok(rows)
}

fn read_parquet(path: &Path) -> Result<Vec<Row>, TableError> {
    use polars::prelude::*;
    let fail = |e: PolarsError| TableError::File {
        path: path.into(),
        message: e.to_string(),
    };
    let file = std::fs::File::open(path).map_err(|e| TableError::io(path, e))?;
    let df = ParquetReader::new(file).finish().map_err(fail)?;
    let mut columns = Vec::new();
    for column in df.columns() {
        let as_text = column.cast(&DataType::String).map_err(fail)?;
        columns.push((column.name().to_string(), as_text));
    }
    let mut rows = Vec::with_capacity(df.height());
    for i in 0..df.height() {
        let mut map = Map::new();
        for (name, column) in &columns {
            let value = column.str().map_err(fail)?.get(i);
            map.insert(
                name.clone(),
                value.map_or(Value::Null, |v| Value::String(v.to_string())),
            );
        }
        rows.push((i as u64 + 1, map));
    }
    Ok(rows)
}

fn row_error(path: &Path, row: u64, message: &str) -> TableError {
    TableError::Row {
        path: path.into(),
        row,
        message: message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_formats_read_as_the_same_rows_and_bad_lines_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let jsonl = dir.path().join("t.jsonl");
        std::fs::write(&jsonl, "{\"id\": \"a\", \"text\": \"x\"}\n\n{\"id\": \"b\", \"text\": \"y\"}\n").unwrap();
        let csv = dir.path().join("t.csv");
        std::fs::write(&csv, "id,text\na,x\nb,y\n").unwrap();
        let text = |rows: Vec<Row>| -> Vec<(u64, String)> {
            rows.into_iter().map(|(line, m)| (line, m["text"].as_str().unwrap().to_string())).collect()
        };
        assert_eq!(text(read_rows(&jsonl).unwrap()), [(1, "x".to_string()), (3, "y".to_string())]);
        assert_eq!(text(read_rows(&csv).unwrap()), [(2, "x".to_string()), (3, "y".to_string())]);

        let mut df = polars::df!("id" => ["a", "b"], "text" => ["x", "y"]).unwrap();
        let parquet = dir.path().join("t.parquet");
        write_parquet::<crate::AtomicError>(&parquet, &mut df, |e| panic!("{e}")).unwrap();
        assert_eq!(text(read_rows(&parquet).unwrap()), [(1, "x".to_string()), (2, "y".to_string())]);

        std::fs::write(&jsonl, "{\"id\": 1}\n[1]\n").unwrap();
        let err = read_rows(&jsonl).unwrap_err().to_string();
        assert!(err.ends_with("t.jsonl:2: not a JSON object"), "{err}");
        let err = read_rows(&dir.path().join("t.txt")).unwrap_err().to_string();
        assert!(err.contains("unknown format"), "{err}");
    }
}
