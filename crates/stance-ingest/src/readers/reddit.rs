//! Reddit dumps (Pushshift style): one JSON object per line, comments and submissions mixed.
//!
//! - A submission (`title`/`selftext`, no `body`) becomes an article: `article_id` = its id
//!   without `t3_`, `text` = `selftext`, `published` = `created_utc`.
//! - A comment becomes a comment of the submission named by `link_id`; a `parent_id` of `t3_…`
//!   means top level, `t1_…` names the parent comment (prefix stripped).
//! - `created_utc` (epoch seconds, number or string) becomes RFC 3339 UTC.
//! - Every other key (`score`, `subreddit`, …) is kept as an extra field; `--map` does not apply.

use super::jsonl::for_each_object;
use super::rows::{into_extra, Row};
use crate::collect::Collector;
use crate::timestamp::{self, Parsed};
use crate::{IngestOptions, RecordKind};
use serde_json::Value;
use stance_core::{Article, Comment};
use std::io::BufRead;

pub(crate) fn read(reader: impl BufRead, options: &IngestOptions, sink: &mut Collector) {
    for_each_object(reader, options, sink, |row, line, sink| {
        let submission = !row.contains_key("body")
            && (row.contains_key("title")
                || row.contains_key("selftext")
                || str_of(row.get("name")).is_some_and(|n| n.starts_with("t3_")));
        if submission {
            push_submission(row, line, sink);
        } else {
            push_comment(row, line, sink);
        }
    });
}

fn str_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn take(row: &mut Row, key: &str) -> Option<String> {
    let v = str_of(row.get(key));
    row.remove(key);
    v
}

/// `t1_abc` → `abc` (any `tN_` kind prefix).
fn strip_kind(id: &str) -> &str {
    let bytes = id.as_bytes();
    if bytes.len() > 3 && bytes[0] == b't' && bytes[1].is_ascii_digit() && bytes[2] == b'_' {
        &id[3..]
    } else {
        id
    }
}

fn created(row: &mut Row, line: u64, sink: &mut Collector, field: &str) -> Option<String> {
    let raw = row
        .remove("created_utc")
        .or_else(|| row.remove("created"))?;
    match timestamp::parse_value(&raw) {
        Parsed::Valid(s) => Some(s),
        Parsed::Absent => None,
        Parsed::Unreadable => {
            sink.warning(
                line,
                Some(field),
                format!("unreadable timestamp {raw} in `created_utc`: set to null"),
            );
            None
        }
    }
}

fn push_submission(mut row: Row, line: u64, sink: &mut Collector) {
    let id = take(&mut row, "id")
        .or_else(|| str_of(row.get("name")))
        .unwrap_or_default();
    let mut article = Article::placeholder(strip_kind(&id));
    article.title = take(&mut row, "title").unwrap_or_default();
    article.text = take(&mut row, "selftext").unwrap_or_default();
    article.url = take(&mut row, "url");
    article.lang = take(&mut row, "lang");
    article.published = created(&mut row, line, sink, "published");
    article.extra = into_extra(RecordKind::Article, row);
    sink.article(article, line);
}

fn push_comment(mut row: Row, line: u64, sink: &mut Collector) {
    let id = take(&mut row, "id")
        .or_else(|| str_of(row.get("name")))
        .unwrap_or_default();
    let parent_raw = take(&mut row, "parent_id");
    let link = take(&mut row, "link_id");
    let article_id = link
        .as_deref()
        .or(parent_raw.as_deref().filter(|p| p.starts_with("t3_")))
        .map(|a| strip_kind(a).to_string())
        .unwrap_or_default(); // absent: the collector gives it the file's article id
    let parent_id = parent_raw
        .filter(|p| !p.starts_with("t3_"))
        .map(|p| strip_kind(&p).to_string());
    let text = take(&mut row, "body").unwrap_or_default();
    let mut comment = Comment::new(strip_kind(&id), article_id, parent_id, text);
    comment.author = take(&mut row, "author");
    comment.lang = take(&mut row, "lang");
    comment.created_at = created(&mut row, line, sink, "created_at");
    comment.extra = into_extra(RecordKind::Comment, row);
    sink.comment(comment, line);
}
