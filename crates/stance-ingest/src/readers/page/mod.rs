//! Scraped comment pages saved as text: a site header, the article, then an indented comment
//! tree (`Author // dd.mm.yyyy à HHhMM` headers). See [`article`] and [`comments`] for the
//! layout each part is read with.
//!
//! Records: one article, `article_id` = the file's slug ([`crate::source_slug`]: the stem, or the
//! directory for a generic stem such as `page`) + `-` + the publication date when the header
//! gives one; extra fields `site`, `authors`, `original_source`, `original_published` when the
//! page names them. Comments are numbered `c1`, `c2`, … in page order, carry a `recommended`
//! flag, and keep their timestamps naive (pages give local times without a zone).
//!
//! A line with invalid UTF-8 costs the record whose lines include it (unless `--lossy-utf8`).

mod article;
mod comments;
mod layout;
mod patterns;

use crate::collect::Collector;
use crate::text::{check_utf8, slugify, Utf8};
use crate::timestamp::naive_from_parts;
use crate::IngestOptions;
use patterns::DateParts;
use serde_json::Value;
use stance_core::{Article, Comment};

/// Whether text looks like a comment page: some line is a comment header.
pub(crate) fn looks_like_page(text: &str) -> bool {
    layout::lines(text)
        .iter()
        .take(5000)
        .any(|l| patterns::header(l.content).is_some())
}

pub(crate) fn read(data: &[u8], slug: &str, options: &IngestOptions, sink: &mut Collector) {
    let (text, bad_lines) = decode(data, options, sink);
    let lines = layout::lines(&text);

    let first_nonblank = lines.iter().position(|l| !l.is_blank());
    let starts_with_comment =
        first_nonblank.is_some_and(|i| patterns::header(lines[i].content).is_some());
    let zone_start = if starts_with_comment {
        first_nonblank.unwrap_or(0)
    } else {
        let title_line = article::parse(&lines).line;
        comments::start(&lines, title_line as usize).unwrap_or(lines.len())
    };
    let parsed_article = article::parse(&lines[..zone_start]);
    let parsed_comments = comments::parse(&lines[zone_start..]);

    let article_id = article_id(slug, &parsed_article);
    let article_span = (1, zone_start as u64);
    let has_article = !parsed_article.title.is_empty() || !parsed_article.text.is_empty();
    if has_article {
        let line = if parsed_article.line > 0 {
            parsed_article.line
        } else {
            1
        };
        if let Some(bad) = bad_in(&bad_lines, article_span) {
            sink.error(line, None, invalid_utf8_in_line(bad));
        } else {
            sink.article(to_article(&article_id, parsed_article), line);
        }
    }
    let mut spans = if has_article {
        vec![article_span]
    } else {
        Vec::new()
    };
    for (i, c) in parsed_comments.iter().enumerate() {
        spans.push((c.line, c.last_line));
        if let Some(bad) = bad_in(&bad_lines, (c.line, c.last_line)) {
            sink.error(c.line, None, invalid_utf8_in_line(bad));
            continue;
        }
        let parent = c.parent.map(|p| format!("c{}", p + 1));
        let mut comment = Comment::new(
            format!("c{}", i + 1),
            article_id.clone(),
            parent,
            c.text.clone(),
        );
        comment.author = Some(c.header.author.clone()).filter(|a| !a.is_empty());
        let d = c.header.date;
        comment.created_at = naive_from_parts(d.year, d.month, d.day, c.header.time);
        if comment.created_at.is_none() {
            let raw = lines.get(c.line as usize - 1).map_or("", |l| l.content);
            sink.warning(
                c.line,
                Some("created_at"),
                format!("unreadable timestamp in `{raw}`: set to null"),
            );
        }
        comment
            .extra
            .insert("recommended".into(), Value::Bool(c.recommended));
        sink.comment(comment, c.line);
    }
    for &(line, _) in &bad_lines {
        if !spans.iter().any(|&(a, b)| (a..=b).contains(&line)) {
            sink.warning(
                line,
                None,
                "invalid UTF-8 in a line outside any record: line ignored",
            );
        }
    }
}

/// The page as text with `\n` line ends, and the lines (number, byte offset) with invalid UTF-8.
fn decode(
    data: &[u8],
    options: &IngestOptions,
    sink: &mut Collector,
) -> (String, Vec<(u64, usize)>) {
    let data = data.strip_prefix(b"\xef\xbb\xbf").unwrap_or(data);
    let separator = if !data.contains(&b'\n') && data.contains(&b'\r') {
        b'\r'
    } else {
        b'\n'
    };
    let mut text = String::with_capacity(data.len());
    let mut bad = Vec::new();
    for (i, raw) in data.split(|&b| b == separator).enumerate() {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if i > 0 {
            text.push('\n');
        }
        let no = i as u64 + 1;
        match check_utf8(raw, options.lossy_utf8) {
            Utf8::Valid(s) => text.push_str(s),
            Utf8::Replaced(s, at) => {
                sink.warning(
                    no,
                    None,
                    format!("invalid UTF-8 at byte {at} replaced with U+FFFD"),
                );
                text.push_str(&s);
            }
            Utf8::Invalid(at) => {
                bad.push((no, at));
                text.push_str(&String::from_utf8_lossy(raw));
            }
        }
    }
    (text, bad)
}

fn invalid_utf8_in_line((line, at): (u64, usize)) -> String {
    format!("invalid UTF-8 at byte {at} of line {line}: record left out (--lossy-utf8 keeps it)")
}

fn bad_in(bad_lines: &[(u64, usize)], (first, last): (u64, u64)) -> Option<(u64, usize)> {
    bad_lines
        .iter()
        .copied()
        .find(|&(line, _)| line >= first && line <= last)
}

fn date_string(d: DateParts) -> Option<String> {
    naive_from_parts(d.year, d.month, d.day, None)
}

fn article_id(slug: &str, a: &article::ParsedArticle) -> String {
    let base = match &a.site {
        Some(site) if slug == "stdin" && !slugify(site).is_empty() => slugify(site),
        _ => slug.to_string(),
    };
    match a.published.and_then(date_string) {
        Some(date) if !base.ends_with(&date) => format!("{base}-{date}"),
        _ => base,
    }
}

fn to_article(article_id: &str, parsed: article::ParsedArticle) -> Article {
    let mut article = Article::placeholder(article_id);
    article.title = parsed.title;
    article.text = parsed.text;
    article.published = parsed.published.and_then(date_string);
    if let Some(site) = parsed.site {
        article.extra.insert("site".into(), Value::String(site));
    }
    if let Some(source) = parsed.original_source {
        article
            .extra
            .insert("original_source".into(), Value::String(source));
    }
    if let Some(date) = parsed.original_published.and_then(date_string) {
        article
            .extra
            .insert("original_published".into(), Value::String(date));
    }
    if !parsed.authors.is_empty() {
        article.extra.insert(
            "authors".into(),
            Value::Array(parsed.authors.into_iter().map(Value::String).collect()),
        );
    }
    article
}
