//! CSV and TSV tables with a header line (RFC 4180 quoting; fields split by the `csv` crate).
//!
//! Physical lines are grouped into records here, following the quotes, so that every record
//! knows its exact first line and one bad line cannot swallow the rest of the file: when a quote
//! opened on some line never closes (or closes into a record with the wrong number of fields),
//! that line alone is rejected and the lines after it are read again as records of their own.
//!
//! The limit, inherent in CSV: two stray quotes on distant lines pair up into one quoted field;
//! if the record they make happens to have the header's number of fields, the rows between them
//! are read as that field's text instead of as rows.

use super::rows::{decide_kind, push_row, Row, TableContext};
use crate::collect::Collector;
use crate::lines::{Line, Lines, MAX_LINE_BYTES};
use crate::text::{check_utf8, Utf8};
use crate::IngestOptions;
use serde_json::Value;
use std::collections::VecDeque;
use std::io::{self, BufRead};

/// A quoted field may span at most this many lines / bytes before its opening quote is judged
/// stray.
const MAX_RECORD_LINES: usize = 100_000;
const MAX_RECORD_BYTES: usize = 16 << 20;

pub(crate) fn read(
    reader: impl BufRead,
    delimiter: u8,
    slug: &str,
    options: &IngestOptions,
    sink: &mut Collector,
) {
    let mut records = Records::new(Lines::new(reader), delimiter);
    let mut header: Option<Vec<String>> = None;
    let mut ctx: Option<TableContext> = None;
    while let Some((line_no, parts)) = records.next(header.as_ref().map(Vec::len), sink) {
        // An empty line is no record (the `csv` crate yields nothing for it, which used to be
        // reported as "no CSV record"); like a line of blanks, it is skipped.
        if parts.len() == 1 && parts[0].iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let Some(fields) = split(&parts, delimiter) else {
            sink.error(line_no, None, "unparsable line: no CSV record");
            continue;
        };
        if fields.len() == 1 && fields[0].iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let Some(columns) = &header else {
            header = Some(header_names(&fields));
            continue;
        };
        if fields.len() != columns.len() {
            wrong_field_count(line_no, parts, fields.len(), columns.len(), &mut records, sink);
            continue;
        }
        let mut row = Row::new();
        let mut bad = false;
        for (column, field) in columns.iter().zip(&fields) {
            let value = match check_utf8(field, options.lossy_utf8) {
                Utf8::Valid(s) => s.to_string(),
                Utf8::Replaced(s, at) => {
                    sink.warning(
                        line_no,
                        Some(column),
                        format!("invalid UTF-8 at byte {at} replaced with U+FFFD"),
                    );
                    s
                }
                Utf8::Invalid(at) => {
                    sink.error(line_no, Some(column), super::jsonl::invalid_utf8(at));
                    bad = true;
                    break;
                }
            };
            row.insert(column.clone(), Value::String(value));
        }
        if bad {
            continue;
        }
        let ctx = ctx.get_or_insert_with(|| {
            let kind = decide_kind(columns.iter().map(String::as_str), &options.field_map, slug);
            TableContext::with_header(kind, &options.field_map, columns)
        });
        push_row(row, line_no, ctx, sink);
    }
}

/// Rejects a record whose field count is not the header's; when a quote made it run over
/// several lines, only its first line is rejected and the others are read again.
fn wrong_field_count<R: BufRead>(
    line_no: u64,
    parts: Vec<Vec<u8>>,
    count: usize,
    expected: usize,
    records: &mut Records<R>,
    sink: &mut Collector,
) {
    let reason = format!("unparsable line: {count} fields where the header has {expected}");
    if parts.len() > 1 {
        sink.error(line_no, None, format!("{reason} (a quote opened here runs over {} lines; read again from the next line)", parts.len()));
        records.requeue(line_no + 1, parts.into_iter().skip(1).collect());
    } else {
        sink.error(line_no, None, reason);
    }
}

/// Column names: BOM and surrounding blanks removed, empty names numbered, repeats suffixed.
fn header_names(fields: &[Vec<u8>]) -> Vec<String> {
    let mut names: Vec<String> = Vec::with_capacity(fields.len());
    for (i, raw) in fields.iter().enumerate() {
        let name = String::from_utf8_lossy(raw);
        let mut name = name.trim_start_matches('\u{feff}').trim().to_string();
        if name.is_empty() {
            name = format!("column_{}", i + 1);
        }
        let base = name.clone();
        let mut n = 2;
        while names.contains(&name) {
            name = format!("{base}_{n}");
            n += 1;
        }
        names.push(name);
    }
    names
}

/// Splits one assembled record into its fields.
fn split(parts: &[Vec<u8>], delimiter: u8) -> Option<Vec<Vec<u8>>> {
    let joined = parts.join(&b'\n');
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .terminator(csv::Terminator::Any(b'\n'))
        .buffer_capacity(joined.len().clamp(64, 1 << 20))
        .from_reader(joined.as_slice());
    let mut record = csv::ByteRecord::new();
    match reader.read_byte_record(&mut record) {
        Ok(true) => Some(record.iter().map(<[u8]>::to_vec).collect()),
        _ => None,
    }
}

enum Physical {
    Text(u64, Vec<u8>),
    Overlong(u64),
    Failed(u64, io::Error),
}

/// Groups physical lines into records by following RFC 4180 quotes.
///
/// Lines read ahead to find where a quote closes stay in `pending` until the record is taken, and
/// the lines already known to leave an open quote open (`run`) are not scanned again when the
/// next line opens a quote too. Before, the lines were taken out and put back for every retry,
/// and scanned again from each line of a run of lines that each open a quote the others never
/// close (`a"b,"` repeated): quadratic, so that a few megabytes of such lines took hours.
struct Records<R> {
    lines: Lines<R>,
    pending: VecDeque<Physical>,
    delimiter: u8,
    /// For `pending[..run.len()]`, text lines that each leave an open quote open: their length
    /// with the line end, and the delimiters they hold outside quotes.
    run: VecDeque<(usize, usize)>,
    run_bytes: usize,
    run_delimiters: usize,
}

impl<R: BufRead> Records<R> {
    fn new(lines: Lines<R>, delimiter: u8) -> Self {
        Records {
            lines,
            pending: VecDeque::new(),
            delimiter,
            run: VecDeque::new(),
            run_bytes: 0,
            run_delimiters: 0,
        }
    }

    fn read_line(&mut self) -> Option<Physical> {
        Some(match self.lines.next_line()? {
            Line::Text(n, bytes) => Physical::Text(n, bytes.to_vec()),
            Line::Overlong(n) => Physical::Overlong(n),
            Line::Failed(n, e) => Physical::Failed(n, e),
        })
    }

    fn physical(&mut self) -> Option<Physical> {
        if let Some(p) = self.pending.pop_front() {
            if let Some((bytes, delimiters)) = self.run.pop_front() {
                self.run_bytes -= bytes;
                self.run_delimiters -= delimiters;
            }
            return Some(p);
        }
        self.read_line()
    }

    fn clear_run(&mut self) {
        self.run.clear();
        self.run_bytes = 0;
        self.run_delimiters = 0;
    }

    /// Puts lines back to be read again, first line numbered `first`.
    fn requeue(&mut self, first: u64, parts: Vec<Vec<u8>>) {
        for (i, part) in parts.into_iter().enumerate().rev() {
            self.pending
                .push_front(Physical::Text(first + i as u64, part));
        }
        self.clear_run();
    }

    /// The next record: its first line number and its physical lines.
    ///
    /// With `expected` (the header's field count), a record over several lines with another
    /// number of fields is rejected here, on its first line, and the lines after it are read
    /// again: deciding before the lines leave `pending` keeps a run of such records (`a"b,"`
    /// repeated, then `"`) linear.
    fn next(
        &mut self,
        expected: Option<usize>,
        sink: &mut Collector,
    ) -> Option<(u64, Vec<Vec<u8>>)> {
        loop {
            let (first, bytes) = match self.physical()? {
                Physical::Text(n, bytes) => (n, bytes),
                Physical::Overlong(n) => {
                    sink.error(
                        n,
                        None,
                        format!("line over {} MiB: record left out", MAX_LINE_BYTES >> 20),
                    );
                    continue;
                }
                Physical::Failed(n, e) => {
                    sink.error(n, None, format!("input unreadable from here on: {e}"));
                    return None;
                }
            };
            let mut quotes = QuoteState::default();
            // The `csv` crate skips a UTF-8 BOM at the start of what it splits (each record), so
            // a quote right after one opens a field; the scanner has to agree (the fuzzer found
            // `\u{feff}"…,"…` grouped as one line but split as a quoted field).
            quotes.scan(
                bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&bytes),
                self.delimiter,
            );
            if !quotes.in_quotes {
                return Some((first, vec![bytes]));
            }
            // Look for the line that closes the quote, `pending[closes_at]`. The lines known to
            // keep it open are skipped (none of them can close it); the limits count them.
            let mut lines = 1 + self.run.len();
            let mut size = bytes.len() + self.run_bytes;
            quotes.delimiters += self.run_delimiters;
            let closes_at = loop {
                if lines >= MAX_RECORD_LINES || size > MAX_RECORD_BYTES {
                    break None;
                }
                let ahead = self.run.len();
                if ahead == self.pending.len() {
                    match self.read_line() {
                        Some(p) => self.pending.push_back(p),
                        None => break None,
                    }
                }
                let Physical::Text(_, next) = &self.pending[ahead] else {
                    // An overlong or unreadable line interrupts the record.
                    break None;
                };
                let delimiters_before = quotes.delimiters;
                quotes.scan(next, self.delimiter);
                lines += 1;
                size += next.len() + 1;
                if !quotes.in_quotes {
                    break Some(ahead);
                }
                let delimiters = quotes.delimiters - delimiters_before;
                self.run.push_back((next.len() + 1, delimiters));
                self.run_bytes += next.len() + 1;
                self.run_delimiters += delimiters;
            };
            let Some(closes_at) = closes_at else {
                // The lines looked at stay in `pending`: read again from the next line.
                sink.error(first, None, "unparsable line: a quote opened here never closes; read again from the next line");
                continue;
            };
            // Outside quotes, each delimiter ends a field (as it does for the `csv` crate).
            let count = quotes.delimiters + 1;
            // (Checked against the `csv` crate on short records in debug builds; the fuzz
            // targets build with debug assertions.)
            #[cfg(debug_assertions)]
            if closes_at < 64 {
                let mut all = vec![bytes.clone()];
                all.extend(self.pending.range(..=closes_at).map(|p| match p {
                    Physical::Text(_, b) => b.clone(),
                    _ => Vec::new(),
                }));
                debug_assert_eq!(Some(count), split(&all, self.delimiter).map(|f| f.len()));
            }
            let n_lines = closes_at + 2;
            if let Some(expected) = expected.filter(|&e| e != count) {
                sink.error(first, None, format!("unparsable line: {count} fields where the header has {expected} (a quote opened here runs over {n_lines} lines; read again from the next line)"));
                continue;
            }
            let mut parts = Vec::with_capacity(n_lines);
            parts.push(bytes);
            for p in self.pending.drain(..=closes_at) {
                if let Physical::Text(_, b) = p {
                    parts.push(b);
                }
            }
            self.clear_run();
            return Some((first, parts));
        }
    }
}

/// Where the quote parser stands, carried from one physical line to the next.
#[derive(Default)]
struct QuoteState {
    in_quotes: bool,
    /// Delimiters seen outside quotes.
    delimiters: usize,
}

impl QuoteState {
    /// Follows one physical line. A quote opens a quoted field only at the start of a field (as in
    /// the `csv` crate); inside one, `""` is an escaped quote and `"` closes it.
    fn scan(&mut self, line: &[u8], delimiter: u8) {
        // A line continuing a quoted field is not at a field start.
        let mut at_field_start = !self.in_quotes;
        let mut i = 0;
        while i < line.len() {
            let b = line[i];
            if self.in_quotes {
                if b == b'"' {
                    if line.get(i + 1) == Some(&b'"') {
                        i += 1;
                    } else {
                        self.in_quotes = false;
                    }
                }
            } else if b == delimiter {
                self.delimiters += 1;
                at_field_start = true;
                i += 1;
                continue;
            } else if b == b'"' && at_field_start {
                self.in_quotes = true;
            }
            at_field_start = false;
            i += 1;
        }
    }
}
