//! Comment times: `created_at` as a UTC instant, or nothing.
//!
//! The rule (also stated in the crate docs, which analysts cite):
//! - an RFC 3339 time with an offset (`2024-09-21T09:37:00+02:00`, `…Z`) is converted to UTC;
//! - a naive time (`2024-09-21T09:37:00`, also with a space instead of `T`, with or without
//!   fractional seconds or seconds) is taken as-is, as if it were UTC, because the source did not
//!   say which zone it is in and guessing one would shift days silently;
//! - a bare date (`2024-09-21`) is midnight of that day;
//! - anything else, and null, gives no time: the comment is left out of time metrics only.
//!
//! A `created_at` column that already has a datetime type is used as it is: a zoned one by its
//! UTC instant, a naive one as-is; a date column gives midnight.

use crate::AggregateError;
use chrono::{DateTime, NaiveDate, NaiveDateTime};
use polars::prelude::*;

const NAIVE_FORMATS: [&str; 4] = [
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
];

/// Parses one `created_at` value by the rule above. `None` when it cannot be read as a time.
pub fn parse_created_at(raw: &str) -> Option<NaiveDateTime> {
    let raw = raw.trim();
    if let Ok(zoned) = DateTime::parse_from_rfc3339(raw) {
        return Some(zoned.naive_utc());
    }
    for format in NAIVE_FORMATS {
        if let Ok(naive) = NaiveDateTime::parse_from_str(raw, format) {
            return Some(naive);
        }
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
}

/// `created_at` of every comment as milliseconds since the Unix epoch (UTC by the rule above),
/// named `created_at_ms`; null where the time is unknown. A missing column gives all nulls.
pub fn created_at_millis(comments: &DataFrame) -> Result<Int64Chunked, AggregateError> {
    let name = PlSmallStr::from_static("created_at_ms");
    let Some(column) = comments.column("created_at").ok() else {
        return Ok(Int64Chunked::full_null(name, comments.height()));
    };
    let millis = match column.dtype() {
        DataType::Null => Int64Chunked::full_null(name, comments.height()),
        DataType::String => column
            .str()?
            .iter()
            .map(|v| {
                v.and_then(parse_created_at)
                    .map(|t| t.and_utc().timestamp_millis())
            })
            .collect::<Int64Chunked>()
            .with_name(name),
        // Physical datetime values are UTC instants for zoned columns and wall-clock values
        // for naive ones: either way exactly the rule above, so only the unit changes.
        DataType::Datetime(unit, _) => {
            let per_milli = match unit {
                TimeUnit::Milliseconds => 1,
                TimeUnit::Microseconds => 1_000,
                TimeUnit::Nanoseconds => 1_000_000,
            };
            let physical = column.as_materialized_series().to_physical_repr();
            physical
                .i64()?
                .iter()
                .map(|v| v.map(|v| v.div_euclid(per_milli)))
                .collect::<Int64Chunked>()
                .with_name(name)
        }
        DataType::Date => {
            let physical = column.as_materialized_series().to_physical_repr();
            physical
                .i32()?
                .iter()
                .map(|v| v.map(|days| i64::from(days) * 86_400_000))
                .collect::<Int64Chunked>()
                .with_name(name)
        }
        other => {
            return Err(AggregateError::ColumnType {
                table: "comments",
                column: "created_at".into(),
                found: other.to_string(),
                expected: "an RFC 3339 string, a datetime or a date",
            })
        }
    };
    Ok(millis)
}

/// The UTC calendar day of every comment's `created_at` (by the rule above), as a `day` date
/// column; null where the time is unknown. This is the key of `daily` and of `--partition-by day`.
pub fn utc_days(comments: &DataFrame) -> Result<Column, AggregateError> {
    let days = created_at_millis(comments)?
        .iter()
        .map(|ms| ms.map(|ms| ms.div_euclid(86_400_000) as i32))
        .collect::<Int32Chunked>()
        .with_name(PlSmallStr::from_static("day"));
    Ok(days.into_date().into_column())
}
