//! Disqus XML exports: `<thread dsq:id>` elements become articles, `<post dsq:id>` elements
//! comments, linked by their `<thread dsq:id/>` and `<parent dsq:id/>` children.
//!
//! Messages are HTML and become plain text; `author/name` is the author; `createdAt` the time.
//! Every other child (`author_email`, `author_username`, `isDeleted`, `isSpam`, `ipAddress`, the
//! external `id`, …) is kept as an extra field, named by its path with `_`.
//!
//! A syntax error costs one record, not the file: reading resumes at the next `<post` or
//! `<thread` after the point of failure.

use super::rows::{into_extra, Row};
use crate::collect::Collector;
use crate::text::{check_utf8, html_to_text, Utf8};
use crate::timestamp::{self, Parsed};
use crate::{IngestOptions, RecordKind};
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use serde_json::Value;
use stance_core::{Article, Comment};

pub(crate) fn read(data: &[u8], options: &IngestOptions, sink: &mut Collector) {
    let mut parser = Parser {
        data,
        newlines: newline_offsets(data),
        options,
        open: None,
    };
    let mut pos = 0;
    while pos < data.len() {
        match parser.run_from(pos, sink) {
            None => break,
            Some(resume) => match next_record_start(data, resume) {
                Some(next) => pos = next,
                None => break,
            },
        }
    }
    if let Some(open) = parser.open.take() {
        sink.error(
            open.line,
            None,
            format!(
                "<{}> not closed before the end of the input: record left out",
                open.kind_name()
            ),
        );
    }
}

fn newline_offsets(data: &[u8]) -> Vec<usize> {
    data.iter()
        .enumerate()
        .filter(|(_, &b)| b == b'\n')
        .map(|(i, _)| i)
        .collect()
}

/// The next `<post` or `<thread` tag at or after `from`.
fn next_record_start(data: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i < data.len() {
        let rel = data[i..].iter().position(|&b| b == b'<')?;
        let at = i + rel;
        let rest = &data[at + 1..];
        for name in [&b"post"[..], &b"thread"[..]] {
            if rest.starts_with(name)
                && rest
                    .get(name.len())
                    .is_some_and(|&b| b.is_ascii_whitespace() || b == b'>' || b == b'/')
            {
                return Some(at);
            }
        }
        i = at + 1;
    }
    None
}

/// Whether a `<post` or `<thread` tag starts in `from..to`.
///
/// Looks no further than the tag name after `to` needs: searching the whole rest of the input
/// for every event made a long run of other elements (`<a/>` × 100 000, no record after them)
/// quadratic, minutes for 400 KB.
fn record_start_between(data: &[u8], from: usize, to: usize) -> bool {
    // `<thread` and the byte after it: a start before `to` lies within `to + 7`.
    let window = &data[..data.len().min(to + 7)];
    next_record_start(window, from).is_some_and(|at| at < to)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Thread,
    Post,
}

/// A `<thread>` or `<post>` being read.
struct Open {
    kind: Kind,
    start: usize,
    line: u64,
    id: Option<String>,
    /// Element names below the record element.
    path: Vec<String>,
    text: String,
    fields: Vec<(String, String)>,
    thread_ref: Option<String>,
    parent_ref: Option<String>,
    invalid_utf8: Option<usize>,
    replaced_utf8: Option<usize>,
}

impl Open {
    fn kind_name(&self) -> &'static str {
        match self.kind {
            Kind::Thread => "thread",
            Kind::Post => "post",
        }
    }

    fn in_message(&self) -> bool {
        self.path.first().is_some_and(|p| p == "message")
    }
}

struct Parser<'a> {
    data: &'a [u8],
    newlines: Vec<usize>,
    options: &'a IngestOptions,
    open: Option<Open>,
}

enum AttrId {
    Found(String),
    Missing,
    Malformed,
}

fn local_name(e: &BytesStart) -> String {
    String::from_utf8_lossy(e.local_name().as_ref()).into_owned()
}

/// The `dsq:id` (any `…:id` or `id`) attribute.
fn id_attribute(e: &BytesStart) -> AttrId {
    for attr in e.attributes() {
        let Ok(attr) = attr else {
            return AttrId::Malformed;
        };
        if attr.key.local_name().as_ref() == b"id" {
            return match attr.unescape_value() {
                Ok(v) => AttrId::Found(v.into_owned()),
                Err(_) => AttrId::Malformed,
            };
        }
    }
    AttrId::Missing
}

impl Parser<'_> {
    fn line_of(&self, offset: usize) -> u64 {
        self.newlines.partition_point(|&n| n < offset) as u64 + 1
    }

    /// Parses from `base` until the end (`None`) or a failure (`Some(resume offset)`).
    fn run_from(&mut self, base: usize, sink: &mut Collector) -> Option<usize> {
        let mut reader = Reader::from_reader(&self.data[base..]);
        let config = reader.config_mut();
        config.check_end_names = false;
        config.allow_unmatched_ends = true;
        config.allow_dangling_amp = true;
        loop {
            let before = base + reader.buffer_position() as usize;
            let event = match reader.read_event() {
                Ok(event) => event,
                Err(e) => {
                    let at = base + reader.error_position() as usize;
                    let line = self.line_of(at);
                    return Some(match self.open.take() {
                        Some(open) => {
                            sink.error(
                                open.line,
                                None,
                                format!(
                                    "XML error at line {line}: {e}: <{}> left out",
                                    open.kind_name()
                                ),
                            );
                            open.start + 1
                        }
                        None => {
                            sink.error(
                                line,
                                None,
                                format!("XML error: {e}; skipped to the next <post> or <thread>"),
                            );
                            before + 1
                        }
                    });
                }
            };
            let after = base + reader.buffer_position() as usize;
            let may_swallow = match &event {
                Event::Text(_) | Event::GeneralRef(_) | Event::Eof => false,
                // A CDATA message may quote markup; outside a record it is junk.
                Event::CData(_) => self.open.is_none(),
                _ => true,
            };
            if may_swallow && record_start_between(self.data, before + 1, after) {
                // Broken markup (`<a`, `</`, `<!--` …) ran over the start of a record: resume
                // just inside it so the swallowed <post>/<thread> is read on its own.
                if let Some(open) = self.open.take() {
                    let line = self.line_of(before);
                    sink.error(
                        open.line,
                        None,
                        format!(
                            "malformed markup at line {line}: <{}> left out",
                            open.kind_name()
                        ),
                    );
                }
                return Some(before + 1);
            }
            match event {
                Event::Eof => return None,
                Event::Start(e) => {
                    if let Some(resume) = self.start(&e, before, false, sink) {
                        return Some(resume);
                    }
                }
                Event::Empty(e) => {
                    if let Some(resume) = self.start(&e, before, true, sink) {
                        return Some(resume);
                    }
                }
                Event::End(e) => {
                    let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                    self.end(&name, sink);
                }
                Event::Text(t) => self.append_bytes(&t),
                Event::CData(t) => self.append_bytes(&t),
                Event::GeneralRef(r) => {
                    let name = String::from_utf8_lossy(&r).into_owned();
                    let resolved = match r.resolve_char_ref() {
                        Ok(Some(c)) => c.to_string(),
                        _ => match quick_xml::escape::resolve_html5_entity(&name) {
                            Some(s) => s.to_string(),
                            None => format!("&{name};"),
                        },
                    };
                    self.append_str(&resolved);
                }
                _ => {}
            }
        }
    }

    /// A start (or empty) tag at `offset`. Returns a resume offset when the tag is malformed.
    fn start(
        &mut self,
        e: &BytesStart,
        offset: usize,
        empty: bool,
        sink: &mut Collector,
    ) -> Option<usize> {
        let name = local_name(e);
        let record_kind = match name.as_str() {
            "post" => Some(Kind::Post),
            // Inside a post, <thread dsq:id/> is a reference, not a thread.
            "thread" if self.open.as_ref().is_none_or(|o| o.kind != Kind::Post) => {
                Some(Kind::Thread)
            }
            _ => None,
        };
        if let Some(kind) = record_kind {
            if empty {
                // A real record has content; an empty one at top level is a stray reference.
                return None;
            }
            if let Some(previous) = self.open.take() {
                sink.error(
                    previous.line,
                    None,
                    format!(
                        "<{}> not closed before the next <{name}>: record left out",
                        previous.kind_name()
                    ),
                );
            }
            let line = self.line_of(offset);
            let id = match id_attribute(e) {
                AttrId::Found(id) => Some(id),
                AttrId::Missing => None,
                AttrId::Malformed => {
                    sink.error(
                        line,
                        None,
                        format!("malformed <{name}> tag: record left out"),
                    );
                    return Some(offset + 1);
                }
            };
            self.open = Some(Open {
                kind,
                start: offset,
                line,
                id,
                path: Vec::new(),
                text: String::new(),
                fields: Vec::new(),
                thread_ref: None,
                parent_ref: None,
                invalid_utf8: None,
                replaced_utf8: None,
            });
            return None;
        }
        let Some(open) = self.open.as_mut() else {
            return None;
        };
        if open.in_message() {
            // Unescaped HTML inside <message>: keep the tags for the HTML-to-text step.
            open.text.push('<');
            open.text.push_str(&name);
            open.text.push('>');
            return None;
        }
        if open.kind == Kind::Post && (name == "thread" || name == "parent") {
            if let AttrId::Found(id) = id_attribute(e) {
                if name == "thread" {
                    open.thread_ref = Some(id);
                } else {
                    open.parent_ref = Some(id);
                }
            }
        }
        if !empty {
            open.path.push(name);
            open.text.clear();
        }
        None
    }

    fn end(&mut self, name: &str, sink: &mut Collector) {
        let Some(open) = self.open.as_mut() else {
            return;
        };
        if open.in_message() && name != "message" {
            open.text.push_str("</");
            open.text.push_str(name);
            open.text.push('>');
            return;
        }
        match open.path.pop() {
            Some(child) => {
                if !open.text.trim().is_empty() {
                    let mut key = open.path.join("_");
                    if !key.is_empty() {
                        key.push('_');
                    }
                    key.push_str(&child);
                    let value = std::mem::take(&mut open.text);
                    open.fields.push((key, value));
                }
                open.text.clear();
            }
            None => {
                let expected = open.kind_name();
                if name == expected {
                    if let Some(open) = self.open.take() {
                        self.finish(open, sink);
                    }
                }
            }
        }
    }

    fn append_bytes(&mut self, raw: &[u8]) {
        let lossy = self.options.lossy_utf8;
        let Some(open) = self.open.as_mut() else {
            return;
        };
        if open.path.is_empty() {
            return;
        }
        match check_utf8(raw, lossy) {
            Utf8::Valid(s) => open.text.push_str(s),
            Utf8::Replaced(s, at) => {
                open.replaced_utf8.get_or_insert(at);
                open.text.push_str(&s);
            }
            Utf8::Invalid(at) => {
                open.invalid_utf8.get_or_insert(at);
            }
        }
    }

    fn append_str(&mut self, s: &str) {
        if let Some(open) = self.open.as_mut().filter(|o| !o.path.is_empty()) {
            open.text.push_str(s);
        }
    }

    fn finish(&self, open: Open, sink: &mut Collector) {
        if let Some(at) = open.invalid_utf8 {
            sink.error(open.line, None, super::jsonl::invalid_utf8(at));
            return;
        }
        if let Some(at) = open.replaced_utf8 {
            sink.warning(
                open.line,
                None,
                format!("invalid UTF-8 at byte {at} replaced with U+FFFD"),
            );
        }
        let mut row = Row::new();
        let mut message = None;
        let mut created = None;
        let mut title = None;
        let mut link = None;
        let mut author_name = None;
        for (key, value) in open.fields {
            match key.as_str() {
                "message" => message = Some(value),
                "createdAt" => created = Some(value),
                "title" if open.kind == Kind::Thread => title = Some(value.trim().to_string()),
                "link" if open.kind == Kind::Thread => link = Some(value.trim().to_string()),
                "author_name" => author_name = Some(value.trim().to_string()),
                _ => {
                    let trimmed = value.trim();
                    let v = match trimmed {
                        "true" => Value::Bool(true),
                        "false" => Value::Bool(false),
                        _ => Value::String(trimmed.to_string()),
                    };
                    row.insert(key, v);
                }
            }
        }
        let text = message.map(|m| html_to_text(&m)).unwrap_or_default();
        let field = if open.kind == Kind::Post {
            "created_at"
        } else {
            "published"
        };
        let when = match created.as_deref().map(timestamp::parse_str) {
            Some(Parsed::Valid(s)) => Some(s),
            Some(Parsed::Unreadable) => {
                let raw = created.unwrap_or_default();
                sink.warning(
                    open.line,
                    Some(field),
                    format!("unreadable timestamp \"{}\": set to null", raw.trim()),
                );
                None
            }
            _ => None,
        };
        let id = open.id.unwrap_or_default();
        match open.kind {
            Kind::Post => {
                let author = author_name.or_else(|| match row.get("author_username") {
                    Some(Value::String(s)) => Some(s.clone()),
                    _ => None,
                });
                // Absent: the collector gives it the file's article id.
                let article_id = open.thread_ref.unwrap_or_default();
                let mut comment = Comment::new(id, article_id, open.parent_ref, text);
                comment.author = author;
                comment.created_at = when;
                comment.extra = into_extra(RecordKind::Comment, row);
                sink.comment(comment, open.line);
            }
            Kind::Thread => {
                if let Some(name) = author_name {
                    row.insert("author_name".into(), Value::String(name));
                }
                let mut article = Article::placeholder(id);
                article.title = title.unwrap_or_default();
                article.text = text;
                article.url = link;
                article.published = when;
                article.extra = into_extra(RecordKind::Article, row);
                sink.article(article, open.line);
            }
        }
    }
}
