//! Rows of a table (a JSONL object, a CSV/TSV line, a Parquet row) to articles or comments,
//! shared by the tabular readers. Unknown columns become extra fields.

use crate::collect::Collector;
use crate::timestamp::{self, Parsed};
use crate::{FieldMap, RecordKind};
use serde_json::{Map, Value};
use stance_core::{Article, Comment, Extra};

pub(crate) type Row = Map<String, Value>;

/// How the rows of one table are read.
pub(crate) struct TableContext<'a> {
    pub kind: RecordKind,
    pub map: &'a FieldMap,
    /// For a table whose rows all have the header's columns (CSV, TSV, Parquet) and lack a
    /// column every record needs: the field and the reason each row is rejected with
    /// ([`missing_field`]). JSONL objects each bring their own keys, so one without an id or a
    /// text is rejected as its own record.
    missing: Option<(&'static str, String)>,
}

impl<'a> TableContext<'a> {
    /// The context of a table whose rows each bring their own keys (JSONL objects).
    pub fn rows(kind: RecordKind, map: &'a FieldMap) -> Self {
        TableContext { kind, map, missing: None }
    }

    /// The context of a table with a header line (or schema) of `columns`.
    pub fn with_header(kind: RecordKind, map: &'a FieldMap, columns: &[String]) -> Self {
        TableContext { kind, map, missing: missing_field(kind, map, columns) }
    }
}

/// The first field every record of `kind` needs (a comment its `comment_id` and `text`, an
/// article its `article_id`) that has no column among `columns`, with the reason to reject each
/// row for: what is missing, the table's columns, and the `--map` that fixes it. Otherwise every
/// row would be rejected for a missing id, with no word of why.
fn missing_field(
    kind: RecordKind,
    map: &FieldMap,
    columns: &[String],
) -> Option<(&'static str, String)> {
    let (needed, what): (&[&'static str], _) = match kind {
        RecordKind::Comment => (&["comment_id", "text"], "comments"),
        RecordKind::Article => (&["article_id"], "articles"),
    };
    let has = |field: &str| columns.iter().any(|c| c == map.column(kind, field));
    let absent: Vec<&'static str> = needed.iter().copied().filter(|f| !has(f)).collect();
    let field = *absent.first()?;
    let named: Vec<String> = absent.iter().map(|f| format!("`{f}`")).collect();
    let maps: Vec<String> = absent.iter().map(|f| format!("--map {f}=COLUMN")).collect();
    let them = if absent.len() == 1 { "it" } else { "them" };
    let reason = format!(
        "the table of {what} has no {} column (its columns: {}): name {them} with `{}`",
        named.join(" or "),
        columns.join(", "),
        maps.join(" ")
    );
    Some((field, reason))
}

/// Whether a table holds comments or articles, from its column names: a `comment_id` column means
/// comments; article-only columns (`title`, `url`, `published`, `target`) without comment-only
/// ones (`parent_id`, `author`, `created_at`) mean articles; otherwise a file named `*article*`
/// holds articles, anything else comments.
pub(crate) fn decide_kind<'k>(
    columns: impl IntoIterator<Item = &'k str>,
    map: &FieldMap,
    slug: &str,
) -> RecordKind {
    let columns: Vec<&str> = columns.into_iter().collect();
    let has = |kind: RecordKind, field: &str| columns.contains(&map.column(kind, field));
    if has(RecordKind::Comment, "comment_id") {
        return RecordKind::Comment;
    }
    let article_only = ["title", "url", "published", "target"]
        .iter()
        .any(|f| has(RecordKind::Article, f));
    let comment_only = ["parent_id", "author", "created_at"]
        .iter()
        .any(|f| has(RecordKind::Comment, f));
    if (article_only && !comment_only) || (!comment_only && slug.contains("article")) {
        RecordKind::Article
    } else {
        RecordKind::Comment
    }
}

/// Reads one row into the collector: a record, or an error reject when a stance field holds a
/// list or an object.
pub(crate) fn push_row(row: Row, line: u64, ctx: &TableContext, sink: &mut Collector) {
    if let Some((field, reason)) = &ctx.missing {
        sink.error(line, Some(field), reason.clone());
        return;
    }
    match ctx.kind {
        RecordKind::Comment => push_comment(row, line, ctx, sink),
        RecordKind::Article => push_article(row, line, ctx, sink),
    }
}

struct Taker<'a> {
    row: Row,
    kind: RecordKind,
    map: &'a FieldMap,
    bad_field: Option<String>,
}

impl Taker<'_> {
    fn raw(&mut self, field: &str) -> Option<Value> {
        self.row.remove(self.map.column(self.kind, field))
    }

    /// A scalar field as text; empty strings count as absent.
    fn text(&mut self, field: &str) -> Option<String> {
        match self.raw(field)? {
            Value::Null => None,
            Value::String(s) if s.is_empty() => None,
            Value::String(s) => Some(s),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Array(_) | Value::Object(_) => {
                self.bad_field.get_or_insert_with(|| field.to_string());
                None
            }
        }
    }

    /// The columns nobody claimed. Derived columns are dropped (they are recomputed); names that
    /// clash with a stance field are prefixed with `input_`.
    fn extra(mut self) -> Extra {
        for derived in ["depth", "root_id"] {
            if self.kind == RecordKind::Comment {
                self.row.remove(derived);
            }
        }
        into_extra(self.kind, self.row)
    }
}

/// Extra fields from leftover columns; names that clash with a stance field get `input_`.
pub(crate) fn into_extra(kind: RecordKind, row: Row) -> Extra {
    let reserved = kind.reserved_keys();
    let mut extra = Extra::new();
    for (key, value) in row {
        if reserved.contains(&key.as_str()) {
            extra.insert(format!("input_{key}"), value);
        } else {
            extra.insert(key, value);
        }
    }
    extra
}

fn non_scalar(field: &str) -> String {
    format!("field `{field}` holds a list or an object, not text: record left out")
}

fn timestamp(taker: &mut Taker, field: &str, line: u64, sink: &mut Collector) -> Option<String> {
    let raw = taker.raw(field)?;
    match timestamp::parse_value(&raw) {
        Parsed::Valid(s) => Some(s),
        Parsed::Absent => None,
        Parsed::Unreadable => {
            sink.warning(
                line,
                Some(field),
                format!("unreadable timestamp {raw}: set to null"),
            );
            None
        }
    }
}

fn push_comment(row: Row, line: u64, ctx: &TableContext, sink: &mut Collector) {
    let mut t = Taker {
        row,
        kind: RecordKind::Comment,
        map: ctx.map,
        bad_field: None,
    };
    let comment_id = t.text("comment_id").unwrap_or_default();
    // Absent: the collector gives it the file's article id.
    let article_id = t.text("article_id").unwrap_or_default();
    let parent_id = t.text("parent_id");
    let author = t.text("author");
    let text = t.text("text").unwrap_or_default();
    let lang = t.text("lang");
    if let Some(field) = t.bad_field.take() {
        sink.error(line, Some(&field), non_scalar(&field));
        return;
    }
    let created_at = timestamp(&mut t, "created_at", line, sink);
    let mut comment = Comment::new(comment_id, article_id, parent_id, text);
    comment.author = author;
    comment.created_at = created_at;
    comment.lang = lang;
    comment.extra = t.extra();
    sink.comment(comment, line);
}

fn push_article(row: Row, line: u64, ctx: &TableContext, sink: &mut Collector) {
    let mut t = Taker {
        row,
        kind: RecordKind::Article,
        map: ctx.map,
        bad_field: None,
    };
    let article_id = t.text("article_id").unwrap_or_default();
    let title = t.text("title").unwrap_or_default();
    let text = t.text("text").unwrap_or_default();
    let target = t.text("target");
    let lang = t.text("lang");
    let url = t.text("url");
    if let Some(field) = t.bad_field.take() {
        sink.error(line, Some(&field), non_scalar(&field));
        return;
    }
    let published = timestamp(&mut t, "published", line, sink);
    let mut article = Article::placeholder(article_id);
    article.title = title;
    article.text = text;
    article.target = target;
    article.lang = lang;
    article.url = url;
    article.published = published;
    article.extra = t.extra();
    sink.article(article, line);
}
