//! Which reader an input goes to: `--format` if given; Parquet magic bytes; otherwise the
//! extension; otherwise the content. JSONL whose records carry Reddit's keys goes to the Reddit
//! reader unless `--format jsonl` says otherwise.

use crate::readers::page;
use crate::InputFormat;
use serde_json::{Map, Value};

pub(crate) fn detect(
    explicit: Option<InputFormat>,
    extension: Option<InputFormat>,
    head: &[u8],
) -> InputFormat {
    if let Some(format) = explicit {
        return format;
    }
    if head.starts_with(b"PAR1") {
        return InputFormat::Parquet;
    }
    let format = extension.unwrap_or_else(|| sniff(head));
    if format == InputFormat::Jsonl && looks_like_reddit(head) {
        InputFormat::Reddit
    } else {
        format
    }
}

fn sniff(head: &[u8]) -> InputFormat {
    let text = String::from_utf8_lossy(head);
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with('{') {
        return InputFormat::Jsonl;
    }
    if trimmed.starts_with('<') {
        return InputFormat::Disqus;
    }
    if page::looks_like_page(&text) {
        return InputFormat::Page;
    }
    let first_line = trimmed.lines().next().unwrap_or("");
    if first_line.matches('\t').count() > first_line.matches(',').count() {
        InputFormat::Tsv
    } else {
        InputFormat::Csv
    }
}

/// Reddit dumps carry `link_id`, `subreddit` or `t1_`/`t3_` parent ids; normalized tables carry
/// `comment_id` or `article_id`.
fn looks_like_reddit(head: &[u8]) -> bool {
    let first_object = head
        .split(|&b| b == b'\n')
        .take(20)
        .find_map(|line| serde_json::from_slice::<Map<String, Value>>(line).ok());
    match first_object {
        Some(obj) => {
            if obj.contains_key("comment_id") || obj.contains_key("article_id") {
                return false;
            }
            let prefixed_parent = obj
                .get("parent_id")
                .and_then(Value::as_str)
                .is_some_and(|p| p.starts_with("t1_") || p.starts_with("t3_"));
            obj.contains_key("link_id")
                || obj.contains_key("subreddit")
                || obj.contains_key("selftext")
                || prefixed_parent
        }
        None => {
            let text = String::from_utf8_lossy(head);
            !text.contains("\"comment_id\"")
                && (text.contains("\"link_id\"") || text.contains("\"subreddit\""))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_decides_without_extension() {
        assert_eq!(detect(None, None, b"PAR1\0\0"), InputFormat::Parquet);
        assert_eq!(
            detect(None, None, b"{\"comment_id\": 1}\n"),
            InputFormat::Jsonl
        );
        assert_eq!(
            detect(None, None, b"{\"id\": \"x\", \"link_id\": \"t3_a\"}\n"),
            InputFormat::Reddit
        );
        assert_eq!(
            detect(None, None, b"<?xml version=\"1.0\"?><disqus/>"),
            InputFormat::Disqus
        );
        assert_eq!(
            detect(None, None, b"comment_id\ttext\n1\thi\n"),
            InputFormat::Tsv
        );
        assert_eq!(
            detect(None, None, b"comment_id,text\n1,hi\n"),
            InputFormat::Csv
        );
        assert_eq!(
            detect(
                None,
                None,
                b"Site\n\nTitle\n\n  \xe2\x80\xa2 Bob // 21.09.2024 \xc3\xa0 09h37\n"
            ),
            InputFormat::Page
        );
    }

    #[test]
    fn explicit_format_wins_and_extension_beats_content() {
        assert_eq!(
            detect(Some(InputFormat::Jsonl), None, b"{\"link_id\": \"t3_a\"}"),
            InputFormat::Jsonl
        );
        assert_eq!(
            detect(None, Some(InputFormat::Csv), b"{\"a\": 1}"),
            InputFormat::Csv
        );
        assert_eq!(
            detect(
                None,
                Some(InputFormat::Jsonl),
                b"{\"id\":\"a\",\"subreddit\":\"x\"}"
            ),
            InputFormat::Reddit
        );
    }
}
