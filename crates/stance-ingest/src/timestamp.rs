//! Timestamps as stance stores them: RFC 3339 with the offset the source gave; a naive
//! `YYYY-MM-DDTHH:MM:SS` when the source gave no timezone (never guessed); a bare `YYYY-MM-DD`
//! when it gave only a date. Epoch numbers (Reddit's `created_utc`) are UTC.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat, Utc};
use serde_json::Value;

/// What came of a timestamp field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// No value (null, empty).
    Absent,
    Valid(String),
    /// A value no known format reads; the caller warns and stores null.
    Unreadable,
}

impl Parsed {
    pub fn into_option(self) -> Option<String> {
        match self {
            Parsed::Valid(s) => Some(s),
            _ => None,
        }
    }
}

/// Reads a JSON value: a string in any supported format, or epoch seconds as a number.
pub fn parse_value(value: &Value) -> Parsed {
    match value {
        Value::Null => Parsed::Absent,
        Value::String(s) => parse_str(s),
        Value::Number(n) => match n.as_f64().and_then(from_epoch) {
            Some(s) => Parsed::Valid(s),
            None => Parsed::Unreadable,
        },
        _ => Parsed::Unreadable,
    }
}

/// Reads a string in any supported format (see the module docs).
pub fn parse_str(raw: &str) -> Parsed {
    let s = raw.trim();
    if s.is_empty() {
        return Parsed::Absent;
    }
    match normalize(s) {
        Some(v) => Parsed::Valid(v),
        None => Parsed::Unreadable,
    }
}

/// Seconds since the Unix epoch (milliseconds when the number is too large to be seconds).
pub fn from_epoch(value: f64) -> Option<String> {
    if !value.is_finite() {
        return None;
    }
    let secs = if value.abs() >= 1e11 {
        value / 1000.0
    } else {
        value
    };
    let whole = secs.floor();
    let nanos = ((secs - whole) * 1e9).round().min(999_999_999.0) as u32;
    if whole < -1e12 || whole > 1e12 {
        return None;
    }
    DateTime::<Utc>::from_timestamp(whole as i64, nanos)
        .map(|dt| dt.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

const OFFSET_FORMATS: &[&str] = &[
    "%Y-%m-%d %H:%M:%S%.f%:z",
    "%Y-%m-%dT%H:%M:%S%.f%z",
    "%Y-%m-%d %H:%M:%S%.f%z",
    "%Y-%m-%d %H:%M:%S%.f %z",
    "%Y-%m-%dT%H:%M%:z",
    "%Y-%m-%dT%H:%M%z",
    "%Y-%m-%d %H:%M%:z",
];

const NAIVE_FORMATS: &[&str] = &[
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
];

const DATE_FORMATS: &[&str] = &["%Y-%m-%d", "%Y/%m/%d", "%d.%m.%Y"];

fn normalize(s: &str) -> Option<String> {
    if s.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && s.bytes().filter(|&b| b == b'.').count() <= 1
    {
        return s.parse::<f64>().ok().and_then(from_epoch);
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.to_rfc3339_opts(SecondsFormat::AutoSi, true));
    }
    // "… UTC" / "… GMT" / "…Z" after a space-separated time.
    for suffix in [" UTC", " GMT", "Z"] {
        if let Some(naive) = s.strip_suffix(suffix).and_then(parse_naive) {
            return Some(naive.and_utc().to_rfc3339_opts(SecondsFormat::AutoSi, true));
        }
    }
    for format in OFFSET_FORMATS {
        if let Ok(dt) = DateTime::parse_from_str(s, format) {
            return Some(dt.to_rfc3339_opts(SecondsFormat::AutoSi, true));
        }
    }
    if let Ok(dt) = DateTime::parse_from_rfc2822(s) {
        return Some(dt.to_rfc3339_opts(SecondsFormat::AutoSi, true));
    }
    if let Some(naive) = parse_naive(s) {
        return Some(format_naive(naive));
    }
    DATE_FORMATS
        .iter()
        .find_map(|f| NaiveDate::parse_from_str(s, f).ok())
        .map(|d| d.format("%Y-%m-%d").to_string())
}

fn parse_naive(s: &str) -> Option<NaiveDateTime> {
    NAIVE_FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
}

fn format_naive(dt: NaiveDateTime) -> String {
    dt.format("%Y-%m-%dT%H:%M:%S%.f").to_string()
}

/// A naive local time from its parts; `None` if the parts name no real time.
pub fn naive_from_parts(
    year: i32,
    month: u32,
    day: u32,
    time: Option<(u32, u32, u32)>,
) -> Option<String> {
    let date = NaiveDate::from_ymd_opt(year, month, day)?;
    match time {
        None => Some(date.format("%Y-%m-%d").to_string()),
        Some((h, m, s)) => Some(format_naive(
            date.and_time(NaiveTime::from_hms_opt(h, m, s)?),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> Option<String> {
        parse_str(s).into_option()
    }

    #[test]
    fn offsets_are_kept_and_naive_stays_naive() {
        assert_eq!(
            norm("2024-09-21T09:37:00+02:00").as_deref(),
            Some("2024-09-21T09:37:00+02:00")
        );
        assert_eq!(
            norm("2018-02-21T00:19:43Z").as_deref(),
            Some("2018-02-21T00:19:43Z")
        );
        assert_eq!(
            norm("2024-09-21 09:37:00+0200").as_deref(),
            Some("2024-09-21T09:37:00+02:00")
        );
        assert_eq!(
            norm("2024-09-21 09:37:00 UTC").as_deref(),
            Some("2024-09-21T09:37:00Z")
        );
        assert_eq!(
            norm("2024-09-21 09:37").as_deref(),
            Some("2024-09-21T09:37:00")
        );
        assert_eq!(
            norm("2024-09-21T09:37:00.250").as_deref(),
            Some("2024-09-21T09:37:00.250")
        );
        assert_eq!(
            norm("21.09.2024 09:37").as_deref(),
            Some("2024-09-21T09:37:00")
        );
        assert_eq!(
            norm("Sat, 21 Sep 2024 09:37:00 +0200").as_deref(),
            Some("2024-09-21T09:37:00+02:00")
        );
        assert_eq!(norm("2024-09-21").as_deref(), Some("2024-09-21"));
    }

    #[test]
    fn epochs_are_utc() {
        assert_eq!(norm("1420070400").as_deref(), Some("2015-01-01T00:00:00Z"));
        assert_eq!(
            parse_value(&Value::from(1420070400))
                .into_option()
                .as_deref(),
            Some("2015-01-01T00:00:00Z")
        );
        assert_eq!(
            parse_value(&Value::from(1420070400.5))
                .into_option()
                .as_deref(),
            Some("2015-01-01T00:00:00.500Z")
        );
        assert_eq!(
            norm("1420070400000").as_deref(),
            Some("2015-01-01T00:00:00Z")
        );
    }

    #[test]
    fn unreadable_and_absent_are_told_apart() {
        assert_eq!(parse_str("yesterday"), Parsed::Unreadable);
        assert_eq!(parse_str("2024-02-30"), Parsed::Unreadable);
        assert_eq!(parse_str("  "), Parsed::Absent);
        assert_eq!(parse_value(&Value::Null), Parsed::Absent);
        assert_eq!(parse_value(&serde_json::json!([1])), Parsed::Unreadable);
        assert_eq!(parse_value(&Value::from(1e300)), Parsed::Unreadable);
    }
}
