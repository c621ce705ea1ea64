//! JSON Lines: one object per line, a table of comments or of articles.

use super::rows::{decide_kind, push_row, Row, TableContext};
use crate::collect::Collector;
use crate::lines::{Line, Lines, MAX_LINE_BYTES};
use crate::text::{check_utf8, Utf8};
use crate::{IngestOptions, RecordKind};
use serde_json::Value;
use std::io::BufRead;

pub(crate) fn read(
    reader: impl BufRead,
    slug: &str,
    options: &IngestOptions,
    sink: &mut Collector,
) {
    let mut kind: Option<RecordKind> = None;
    for_each_object(reader, options, sink, |row, line, sink| {
        let kind = *kind.get_or_insert_with(|| {
            decide_kind(row.keys().map(String::as_str), &options.field_map, slug)
        });
        push_row(row, line, &TableContext::rows(kind, &options.field_map), sink);
    });
}

/// Calls `f` with every line that holds a JSON object; rejects the other non-blank lines.
pub(crate) fn for_each_object(
    reader: impl BufRead,
    options: &IngestOptions,
    sink: &mut Collector,
    mut f: impl FnMut(Row, u64, &mut Collector),
) {
    let mut lines = Lines::new(reader);
    while let Some(line) = lines.next_line() {
        let (line_no, bytes) = match line {
            Line::Text(n, bytes) => (n, bytes),
            Line::Overlong(n) => {
                sink.error(
                    n,
                    None,
                    format!("line over {} MiB: record left out", MAX_LINE_BYTES >> 20),
                );
                continue;
            }
            Line::Failed(n, e) => {
                sink.error(n, None, format!("input unreadable from here on: {e}"));
                break;
            }
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let text = match check_utf8(bytes, options.lossy_utf8) {
            Utf8::Valid(s) => std::borrow::Cow::Borrowed(s),
            Utf8::Replaced(s, at) => {
                sink.warning(
                    line_no,
                    None,
                    format!("invalid UTF-8 at byte {at} replaced with U+FFFD"),
                );
                std::borrow::Cow::Owned(s)
            }
            Utf8::Invalid(at) => {
                sink.error(line_no, None, invalid_utf8(at));
                continue;
            }
        };
        match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(row)) => f(row, line_no, sink),
            Ok(other) => sink.error(
                line_no,
                None,
                format!(
                    "unparsable line: a JSON {} is not an object",
                    kind_name(&other)
                ),
            ),
            Err(e) => sink.error(line_no, None, format!("unparsable line: {e}")),
        }
    }
}

pub(crate) fn invalid_utf8(at: usize) -> String {
    format!("invalid UTF-8 at byte {at}: record left out (--lossy-utf8 keeps it)")
}

fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}
