//! Typed reads of single cells, for the reports. A missing column, a null or a value of
//! another type all read as `None`: the reports show what is there and skip the rest.

use polars::prelude::*;

pub(crate) fn f64_at(df: &DataFrame, column: &str, row: usize) -> Option<f64> {
    let value = df.column(column).ok()?.get(row).ok()?;
    match value {
        AnyValue::Float64(v) => Some(v),
        AnyValue::Float32(v) => Some(f64::from(v)),
        AnyValue::UInt32(v) => Some(f64::from(v)),
        AnyValue::UInt64(v) => Some(v as f64),
        AnyValue::Int32(v) => Some(f64::from(v)),
        AnyValue::Int64(v) => Some(v as f64),
        _ => None,
    }
    .filter(|v| v.is_finite())
}

pub(crate) fn u64_at(df: &DataFrame, column: &str, row: usize) -> Option<u64> {
    let value = df.column(column).ok()?.get(row).ok()?;
    match value {
        AnyValue::UInt8(v) => Some(u64::from(v)),
        AnyValue::UInt16(v) => Some(u64::from(v)),
        AnyValue::UInt32(v) => Some(u64::from(v)),
        AnyValue::UInt64(v) => Some(v),
        AnyValue::Int8(v) => u64::try_from(v).ok(),
        AnyValue::Int16(v) => u64::try_from(v).ok(),
        AnyValue::Int32(v) => u64::try_from(v).ok(),
        AnyValue::Int64(v) => u64::try_from(v).ok(),
        _ => None,
    }
}

pub(crate) fn str_at(df: &DataFrame, column: &str, row: usize) -> Option<String> {
    let value = df.column(column).ok()?.get(row).ok()?;
    match value {
        AnyValue::String(s) => Some(s.to_string()),
        AnyValue::StringOwned(s) => Some(s.to_string()),
        AnyValue::Null => None,
        other => crate::values::text(&other),
    }
}

pub(crate) fn bool_at(df: &DataFrame, column: &str, row: usize) -> Option<bool> {
    match df.column(column).ok()?.get(row).ok()? {
        AnyValue::Boolean(b) => Some(b),
        _ => None,
    }
}

/// Milliseconds since the epoch of a datetime cell.
pub(crate) fn millis_at(df: &DataFrame, column: &str, row: usize) -> Option<i64> {
    match df.column(column).ok()?.get(row).ok()? {
        AnyValue::Datetime(v, unit, _) => Some(to_millis(v, unit)),
        AnyValue::DatetimeOwned(v, unit, _) => Some(to_millis(v, unit)),
        _ => None,
    }
}

fn to_millis(v: i64, unit: TimeUnit) -> i64 {
    match unit {
        TimeUnit::Milliseconds => v,
        TimeUnit::Microseconds => v.div_euclid(1_000),
        TimeUnit::Nanoseconds => v.div_euclid(1_000_000),
    }
}

/// Every value of a string-like column as owned strings (`None` for nulls); all `None` when the
/// column is absent.
pub(crate) fn strings(df: &DataFrame, column: &str) -> Vec<Option<String>> {
    let Ok(c) = df.column(column) else {
        return vec![None; df.height()];
    };
    match c.cast(&DataType::String) {
        Ok(c) => match c.str() {
            Ok(ca) => ca.iter().map(|v| v.map(str::to_string)).collect(),
            Err(_) => vec![None; df.height()],
        },
        Err(_) => vec![None; df.height()],
    }
}
