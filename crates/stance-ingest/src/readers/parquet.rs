//! Parquet tables of comments or articles, read with polars. Rows are numbered from 1 in
//! rejects; a file polars cannot read at all is one error reject at line 0.

use super::rows::{decide_kind, push_row, Row, TableContext};
use crate::collect::Collector;
use crate::text::{check_utf8, Utf8};
use crate::IngestOptions;
use chrono::{DateTime, NaiveDate, SecondsFormat};
use polars::prelude::{AnyValue, ParquetReader, SerReader, TimeUnit};
use serde_json::{Number, Value};
use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};

pub(crate) fn read(data: &[u8], slug: &str, options: &IngestOptions, sink: &mut Collector) {
    // The decoder is third-party code fed untrusted bytes: a panic in it becomes a reject.
    let decoded = catch_unwind(AssertUnwindSafe(|| {
        ParquetReader::new(Cursor::new(data)).finish()
    }));
    let df = match decoded {
        Ok(Ok(df)) => df,
        Ok(Err(e)) => {
            sink.error(0, None, format!("unreadable Parquet file: {e}"));
            return;
        }
        Err(_) => {
            sink.error(
                0,
                None,
                "unreadable Parquet file: the decoder gave up on it",
            );
            return;
        }
    };
    let columns = df.columns();
    let names: Vec<String> = columns.iter().map(|c| c.name().to_string()).collect();
    let kind = decide_kind(names.iter().map(String::as_str), &options.field_map, slug);
    let ctx = TableContext::with_header(kind, &options.field_map, &names);
    for i in 0..df.height() {
        let line = i as u64 + 1;
        let mut row = Row::new();
        let mut bad = false;
        for (name, column) in names.iter().zip(columns) {
            let value = match column.get(i) {
                Ok(AnyValue::Binary(bytes)) => binary(bytes, name, line, options, sink),
                Ok(AnyValue::BinaryOwned(bytes)) => binary(&bytes, name, line, options, sink),
                Ok(v) => Some(to_json(&v)),
                Err(e) => {
                    sink.error(line, Some(name), format!("unreadable value: {e}"));
                    None
                }
            };
            match value {
                Some(v) => {
                    row.insert(name.clone(), v);
                }
                None => {
                    bad = true;
                    break;
                }
            }
        }
        if !bad {
            push_row(row, line, &ctx, sink);
        }
    }
}

/// A binary cell as text: its UTF-8 checked like any other input.
fn binary(
    bytes: &[u8],
    column: &str,
    line: u64,
    options: &IngestOptions,
    sink: &mut Collector,
) -> Option<Value> {
    match check_utf8(bytes, options.lossy_utf8) {
        Utf8::Valid(s) => Some(Value::String(s.to_string())),
        Utf8::Replaced(s, at) => {
            sink.warning(
                line,
                Some(column),
                format!("invalid UTF-8 at byte {at} replaced with U+FFFD"),
            );
            Some(Value::String(s))
        }
        Utf8::Invalid(at) => {
            sink.error(line, Some(column), super::jsonl::invalid_utf8(at));
            None
        }
    }
}

fn to_json(v: &AnyValue) -> Value {
    match v {
        AnyValue::Null => Value::Null,
        AnyValue::Boolean(b) => Value::Bool(*b),
        AnyValue::String(s) => Value::String(s.to_string()),
        AnyValue::StringOwned(s) => Value::String(s.to_string()),
        AnyValue::UInt8(n) => Value::from(*n),
        AnyValue::UInt16(n) => Value::from(*n),
        AnyValue::UInt32(n) => Value::from(*n),
        AnyValue::UInt64(n) => Value::from(*n),
        AnyValue::Int8(n) => Value::from(*n),
        AnyValue::Int16(n) => Value::from(*n),
        AnyValue::Int32(n) => Value::from(*n),
        AnyValue::Int64(n) => Value::from(*n),
        AnyValue::Float32(x) => Number::from_f64(f64::from(*x))
            .map(Value::Number)
            .unwrap_or(Value::Null),
        AnyValue::Float64(x) => Number::from_f64(*x)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        AnyValue::Date(days) => NaiveDate::from_num_days_from_ce_opt(*days + 719_163)
            .map(|d| Value::String(d.format("%Y-%m-%d").to_string()))
            .unwrap_or(Value::Null),
        AnyValue::Datetime(t, unit, tz) => datetime(*t, *unit, tz.is_some()),
        AnyValue::DatetimeOwned(t, unit, tz) => datetime(*t, *unit, tz.is_some()),
        AnyValue::List(series) => {
            let items = (0..series.len())
                .map(|i| series.get(i).map(|v| to_json(&v)).unwrap_or(Value::Null));
            Value::Array(items.collect())
        }
        other => Value::String(other.to_string()),
    }
}

/// A Parquet timestamp: with a time zone it is an instant (written in UTC); without one it is
/// a naive local time and stays naive.
fn datetime(t: i64, unit: TimeUnit, zoned: bool) -> Value {
    let (secs, nanos) = match unit {
        TimeUnit::Nanoseconds => (t.div_euclid(1_000_000_000), t.rem_euclid(1_000_000_000)),
        TimeUnit::Microseconds => (t.div_euclid(1_000_000), t.rem_euclid(1_000_000) * 1_000),
        TimeUnit::Milliseconds => (t.div_euclid(1_000), t.rem_euclid(1_000) * 1_000_000),
    };
    match DateTime::from_timestamp(secs, nanos as u32) {
        Some(dt) if zoned => Value::String(dt.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
        Some(dt) => Value::String(dt.naive_utc().format("%Y-%m-%dT%H:%M:%S%.f").to_string()),
        None => Value::Null,
    }
}
