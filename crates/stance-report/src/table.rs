//! One table to disk: Parquet (with key-value metadata), CSV or JSONL; one file, or a
//! hive-partitioned directory (`name/key=value/part-0.ext`). Always atomic.

use stance_io::{remove_atomic, write_dir_atomic, write_file_atomic};
use crate::values::{text, to_json};
use crate::{CommentChunks, ReportError};
use percent_encoding::{percent_encode, AsciiSet, CONTROLS};
use polars::prelude::*;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// File format of the tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Format {
    /// Apache Parquet (zstd), carrying the run metadata in its key-value metadata.
    #[default]
    Parquet,
    /// Comma-separated values with a header row; lists and structs as JSON text.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Parquet => "parquet",
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
        }
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "parquet" => Ok(Format::Parquet),
            "csv" => Ok(Format::Csv),
            "jsonl" | "ndjson" => Ok(Format::Jsonl),
            other => Err(format!(
                "unknown format {other:?} (expected parquet, csv or jsonl)"
            )),
        }
    }
}

/// How big tables are split into hive-partitioned directories.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum PartitionBy {
    /// `article_id=<id>/`: tables with an `article_id` column.
    Article,
    /// `day=<YYYY-MM-DD>/` (UTC): tables with a `day` column.
    Day,
}

impl PartitionBy {
    /// The column whose values name the directories.
    pub fn column(self) -> &'static str {
        match self {
            PartitionBy::Article => "article_id",
            PartitionBy::Day => "day",
        }
    }
}

impl FromStr for PartitionBy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "article" | "article_id" => Ok(PartitionBy::Article),
            "day" => Ok(PartitionBy::Day),
            other => Err(format!(
                "unknown partitioning {other:?} (expected article or day)"
            )),
        }
    }
}

/// Where a table went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenTable {
    /// The table's name (`threads`, …).
    pub name: String,
    /// The file, or the partitioned directory.
    pub path: PathBuf,
    pub rows: usize,
    /// Number of data files (1 unless partitioned).
    pub files: usize,
}

/// The directory name hive readers (polars, DuckDB, pyarrow, Spark) give a null key.
pub const HIVE_NULL: &str = "__HIVE_DEFAULT_PARTITION__";

/// Characters percent-encoded in partition directory names: those of polars' own hive writer
/// (controls, `/`, `=`, `%`, `:`, space) plus `\`; non-ASCII bytes are always encoded. A
/// leading `.` is encoded too, so no value can name `.`, `..` or a hidden directory.
const HIVE_ENCODE: &AsciiSet = &CONTROLS
    .add(b'/')
    .add(b'=')
    .add(b'%')
    .add(b':')
    .add(b' ')
    .add(b'\\');

/// Longest `key=value` directory name accepted (common filesystems allow 255 bytes).
const MAX_DIR_NAME: usize = 255;

/// Writes `df` as `dir/name.<ext>`, or, when `partition_by` names a column `df` has, as the
/// directory `dir/name/` with one `key=value/part-0.<ext>` per value (the key column is not
/// repeated inside the files, as hive readers add it back from the path). A previous output of
/// the same table in the other layout is removed, so a directory never holds both.
pub fn write_table(
    dir: &Path,
    name: &str,
    df: &DataFrame,
    format: Format,
    partition_by: Option<PartitionBy>,
    metadata: &[(String, String)],
) -> Result<WrittenTable, ReportError> {
    let file = dir.join(format!("{name}.{}", format.extension()));
    let folder = dir.join(name);
    let key = partition_by
        .map(PartitionBy::column)
        .filter(|k| df.column(k).is_ok());
    let Some(key) = key else {
        write_file_atomic(&file, |w| write_frame(w, df, format, metadata))?;
        remove_atomic(&folder)?;
        return Ok(WrittenTable {
            name: name.to_string(),
            path: file,
            rows: df.height(),
            files: 1,
        });
    };
    let parts = partitions(df, key)?;
    let files = parts.len();
    write_dir_atomic(&folder, |staging| {
        for (dir_name, part) in &parts {
            let part_dir = staging.join(dir_name);
            fs::create_dir(&part_dir).map_err(ReportError::io("create", &part_dir))?;
            let path = part_dir.join(format!("part-0.{}", format.extension()));
            let mut out = fs::File::create(&path).map_err(ReportError::io("create", &path))?;
            {
                let mut w = std::io::BufWriter::new(&mut out);
                write_frame(&mut w, part, format, metadata)?;
                w.flush().map_err(ReportError::io("write", &path))?;
            }
            out.sync_all().map_err(ReportError::io("flush", &path))?;
        }
        Ok::<(), ReportError>(())
    })?;
    remove_atomic(&file)?;
    Ok(WrittenTable {
        name: name.to_string(),
        path: folder,
        rows: df.height(),
        files,
    })
}

/// Rows gathered before a chunked table writes a Parquet row group: chunks are small (a
/// thousand rows) and readers scan few large row groups faster than many small ones.
const ROW_GROUP_ROWS: usize = 32_768;

/// Writes the chunks of `comments` as the one file `dir/name.<ext>`, a chunk at a time (never
/// the whole table in memory), atomically. A partitioned directory of the same table is removed.
pub fn write_chunked_table(
    dir: &Path,
    name: &str,
    comments: &dyn CommentChunks,
    format: Format,
    metadata: &[(String, String)],
) -> Result<WrittenTable, ReportError> {
    let file = dir.join(format!("{name}.{}", format.extension()));
    let mut rows = 0;
    write_file_atomic(&file, |w| {
        let mut chunks = (0..comments.n_chunks()).map(|index| {
            let chunk = comments.chunk(index)?;
            rows += chunk.height();
            Ok::<_, ReportError>(chunk)
        });
        match format {
            Format::Csv => chunks.enumerate().try_for_each(|(i, chunk)| write_csv(w, &chunk?, i == 0)),
            Format::Jsonl => chunks.try_for_each(|chunk| write_jsonl(w, &chunk?)),
            Format::Parquet => {
                let Some(first) = chunks.next().transpose()? else {
                    return write_frame(w, &DataFrame::empty(), format, metadata);
                };
                let mut writer = ParquetWriter::new(w).with_key_value_metadata(key_value(metadata)).batched(first.schema())?;
                let mut gathered = first;
                for chunk in chunks {
                    if gathered.height() >= ROW_GROUP_ROWS {
                        gathered.rechunk_mut();
                        writer.write_batch(&gathered)?;
                        gathered = chunk?;
                    } else {
                        gathered.vstack_mut(&chunk?)?;
                    }
                }
                gathered.rechunk_mut();
                writer.write_batch(&gathered)?;
                writer.finish()?;
                Ok(())
            }
        }
    })?;
    remove_atomic(&dir.join(name))?;
    Ok(WrittenTable {
        name: name.to_string(),
        path: file,
        rows,
        files: 1,
    })
}

/// Splits `df` by the values of `key`, each part without the key column, named
/// `key=<encoded value>` and sorted by that name.
fn partitions(df: &DataFrame, key: &str) -> Result<Vec<(String, DataFrame)>, ReportError> {
    let mut parts = Vec::new();
    for part in df.partition_by_stable([key], true)? {
        let value = part.column(key)?.get(0)?;
        let dir_name = match text(&value) {
            None => format!("{key}={HIVE_NULL}"),
            Some(raw) => {
                let mut encoded = percent_encode(raw.as_bytes(), HIVE_ENCODE).to_string();
                if encoded.starts_with('.') {
                    encoded.replace_range(0..1, "%2E");
                }
                if encoded.is_empty() {
                    // An empty directory name is impossible; hive readers read this as null.
                    encoded = HIVE_NULL.to_string();
                }
                let dir_name = format!("{key}={encoded}");
                if dir_name.len() > MAX_DIR_NAME {
                    return Err(ReportError::PartitionValue {
                        column: key.to_string(),
                        value: raw,
                        encoded_len: dir_name.len(),
                        max: MAX_DIR_NAME,
                    });
                }
                dir_name
            }
        };
        parts.push((dir_name, part.drop(key)?));
    }
    parts.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(parts)
}

/// A Parquet file's key-value metadata; none when `metadata` is empty.
fn key_value(metadata: &[(String, String)]) -> Option<KeyValueMetadata> {
    (!metadata.is_empty()).then(|| KeyValueMetadata::from_static(metadata.to_vec()))
}

/// Writes `df` as one table in `format` to `w` (a pipe, stdout): what [`write_table`] puts in a file.
pub fn write_frame(
    w: &mut dyn Write,
    df: &DataFrame,
    format: Format,
    metadata: &[(String, String)],
) -> Result<(), ReportError> {
    match format {
        Format::Parquet => {
            ParquetWriter::new(w)
                .with_key_value_metadata(key_value(metadata))
                .finish(&mut df.clone())?;
            Ok(())
        }
        Format::Csv => write_csv(w, df, true),
        Format::Jsonl => write_jsonl(w, df),
    }
}

/// Single-chunk copies of the columns, so rows can be walked with `Series::iter`.
fn rechunked(df: &DataFrame) -> Vec<Series> {
    df.columns()
        .iter()
        .map(|c| c.as_materialized_series().rechunk())
        .collect()
}

/// Writes the rows of `df` as CSV, after a header line when `header`.
fn write_csv(w: &mut dyn Write, df: &DataFrame, header: bool) -> Result<(), ReportError> {
    let mut out = csv::Writer::from_writer(w);
    let csv_err = |e: csv::Error| ReportError::Encode {
        format: "CSV",
        source: e.into(),
    };
    if header {
        out.write_record(df.get_column_names().iter().map(|n| n.as_str()))
            .map_err(csv_err)?;
    }
    let columns = rechunked(df);
    if df.height() > 0 {
        let mut iters: Vec<_> = columns.iter().map(|s| s.iter()).collect();
        for _ in 0..df.height() {
            let record: Vec<String> = iters
                .iter_mut()
                .map(|it| it.next().and_then(|v| text(&v)).unwrap_or_default())
                .collect();
            out.write_record(&record).map_err(csv_err)?;
        }
    }
    out.flush().map_err(|e| ReportError::Encode {
        format: "CSV",
        source: e,
    })?;
    Ok(())
}

fn write_jsonl(w: &mut dyn Write, df: &DataFrame) -> Result<(), ReportError> {
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    let columns = rechunked(df);
    if df.height() == 0 {
        return Ok(());
    }
    let mut iters: Vec<_> = columns.iter().map(|s| s.iter()).collect();
    let io = |e: std::io::Error| ReportError::Encode {
        format: "JSONL",
        source: e,
    };
    for _ in 0..df.height() {
        let mut row = serde_json::Map::with_capacity(names.len());
        for (name, it) in names.iter().zip(iters.iter_mut()) {
            let value = it
                .next()
                .map(|v| to_json(&v))
                .unwrap_or(serde_json::Value::Null);
            row.insert(name.clone(), value);
        }
        serde_json::to_writer(&mut *w, &serde_json::Value::Object(row))?;
        w.write_all(b"\n").map_err(io)?;
    }
    Ok(())
}
