//! Cells as text (CSV, partition names) and as JSON (JSONL), for any column type.
//!
//! Times are written in RFC 3339 / ISO 8601: a zoned datetime as its UTC instant with `Z`, a
//! naive one without an offset, a date as `YYYY-MM-DD`. Lists and structs are JSON in both
//! formats (a CSV cell holds the JSON text), so nothing is lost and nothing needs a new parser.

use chrono::{DateTime, NaiveDate};
use polars::prelude::*;
use serde_json::Value;

/// The JSON form of one cell.
pub(crate) fn to_json(value: &AnyValue) -> Value {
    match value {
        AnyValue::Null => Value::Null,
        AnyValue::Boolean(b) => Value::Bool(*b),
        AnyValue::String(s) => Value::String((*s).to_string()),
        AnyValue::StringOwned(s) => Value::String(s.to_string()),
        AnyValue::UInt8(v) => (*v).into(),
        AnyValue::UInt16(v) => (*v).into(),
        AnyValue::UInt32(v) => (*v).into(),
        AnyValue::UInt64(v) => (*v).into(),
        AnyValue::Int8(v) => (*v).into(),
        AnyValue::Int16(v) => (*v).into(),
        AnyValue::Int32(v) => (*v).into(),
        AnyValue::Int64(v) => (*v).into(),
        AnyValue::Float32(v) => float(f64::from(*v)),
        AnyValue::Float64(v) => float(*v),
        AnyValue::List(series) => Value::Array(series_json(series)),
        AnyValue::Date(_) | AnyValue::Datetime(..) | AnyValue::DatetimeOwned(..) => {
            text(value).map(Value::String).unwrap_or(Value::Null)
        }
        AnyValue::StructOwned(payload) => {
            let (values, fields) = &**payload;
            Value::Object(
                fields
                    .iter()
                    .zip(values)
                    .map(|(f, v)| (f.name().to_string(), to_json(v)))
                    .collect(),
            )
        }
        AnyValue::Struct(..) => to_json(&value.clone().into_static()),
        other => Value::String(other.to_string()),
    }
}

/// The text form of one cell; `None` for null.
pub(crate) fn text(value: &AnyValue) -> Option<String> {
    Some(match value {
        AnyValue::Null => return None,
        AnyValue::String(s) => (*s).to_string(),
        AnyValue::StringOwned(s) => s.to_string(),
        AnyValue::Boolean(b) => b.to_string(),
        AnyValue::Float32(v) => f64::from(*v).to_string(),
        AnyValue::Float64(v) => v.to_string(),
        AnyValue::Date(days) => NaiveDate::from_num_days_from_ce_opt(days + 719_163)
            .map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_else(|| days.to_string()),
        AnyValue::Datetime(v, unit, tz) => datetime(*v, *unit, tz.is_some()),
        AnyValue::DatetimeOwned(v, unit, tz) => datetime(*v, *unit, tz.is_some()),
        AnyValue::List(_) | AnyValue::Struct(..) | AnyValue::StructOwned(_) => {
            to_json(value).to_string()
        }
        other => other.to_string(),
    })
}

fn datetime(v: i64, unit: TimeUnit, zoned: bool) -> String {
    let nanos = match unit {
        TimeUnit::Nanoseconds => Some(v),
        TimeUnit::Microseconds => v.checked_mul(1_000),
        TimeUnit::Milliseconds => v.checked_mul(1_000_000),
    };
    let Some(t) = nanos.map(DateTime::from_timestamp_nanos) else {
        return v.to_string();
    };
    let format = if t.timestamp_subsec_nanos() == 0 {
        "%Y-%m-%dT%H:%M:%S"
    } else {
        "%Y-%m-%dT%H:%M:%S%.3f"
    };
    let mut out = t.naive_utc().format(format).to_string();
    if zoned {
        out.push('Z');
    }
    out
}

fn float(v: f64) -> Value {
    serde_json::Number::from_f64(v)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

fn series_json(series: &Series) -> Vec<Value> {
    if series.is_empty() {
        return Vec::new();
    }
    let series = series.rechunk();
    series.iter().map(|v| to_json(&v)).collect()
}
