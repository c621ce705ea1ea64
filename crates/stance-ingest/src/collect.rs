//! What readers hand over, and the checks every record goes through once all inputs are read:
//! ids and text present, fields within 1 MiB, no duplicate ids, languages, thread links.

use crate::summary::Summary;
use crate::{lang, IngestOptions, Ingested, MAX_FIELD_BYTES};
use rayon::prelude::*;
use serde_json::Value;
use stance_core::{link_threads, Article, Comment, Extra, Reject, Severity};
use std::collections::{HashMap, HashSet};

/// Records and rejects as readers produce them, tagged with their input and line.
#[derive(Default)]
pub(crate) struct Collector {
    files: Vec<String>,
    /// Article id for comments of the input being read that name none ([`crate::source_slug`]).
    default_article_id: String,
    articles: Vec<Tagged<Article>>,
    comments: Vec<Tagged<Comment>>,
    rejects: Vec<Tagged<Reject>>,
    records_read: u64,
}

struct Tagged<T> {
    item: T,
    file: usize,
    line: u64,
}

impl Collector {
    pub fn begin_file(&mut self, name: &str, default_article_id: &str) {
        self.files.push(name.to_string());
        self.default_article_id = default_article_id.to_string();
    }

    fn file_index(&self) -> usize {
        self.files.len().saturating_sub(1)
    }

    /// Name of the input being read.
    pub fn file(&self) -> &str {
        self.files.last().map(String::as_str).unwrap_or("")
    }

    pub fn article(&mut self, article: Article, line: u64) {
        self.records_read += 1;
        self.articles.push(Tagged {
            item: article,
            file: self.file_index(),
            line,
        });
    }

    pub fn comment(&mut self, mut comment: Comment, line: u64) {
        self.records_read += 1;
        // The one place a comment without an article id gets the file's: readers leave an
        // absent id empty, and a blank one (`"article_id": " "`, `<thread dsq:id=""/>`,
        // `"link_id": "t3_ "`) is no id either (kept blank, it became an id-less article).
        if comment.article_id.trim().is_empty() {
            comment.article_id = self.default_article_id.clone();
        }
        self.comments.push(Tagged {
            item: comment,
            file: self.file_index(),
            line,
        });
    }

    /// A record (or the unreadable rest of an input) left out.
    pub fn error(&mut self, line: u64, field: Option<&str>, reason: impl Into<String>) {
        self.records_read += 1;
        let reject = Reject::error(self.file(), line, field, reason);
        self.rejects.push(Tagged {
            item: reject,
            file: self.file_index(),
            line,
        });
    }

    /// Something repaired or dropped from a record that is kept.
    pub fn warning(&mut self, line: u64, field: Option<&str>, reason: impl Into<String>) {
        let reject = Reject::warning(self.file(), line, field, reason);
        self.rejects.push(Tagged {
            item: reject,
            file: self.file_index(),
            line,
        });
    }

    pub fn finish(mut self, options: &IngestOptions) -> Ingested {
        let mut late = Vec::new();
        let articles = self.validate_articles(&mut late);
        let (mut comments, comment_lines) = self.validate_comments(&mut late);

        let mut article_index: HashMap<String, usize> = HashMap::new();
        for (i, a) in articles.iter().enumerate() {
            article_index.insert(a.article_id.clone(), i);
        }
        let mut articles = articles;
        if options.detect_languages {
            // Each record's language depends on its own text (and its article's), so detection
            // runs in parallel with the same result as a sequential pass.
            articles
                .par_iter_mut()
                .filter(|a| a.lang.is_none())
                .for_each(|a| {
                    let sample = if a.text.trim().is_empty() {
                        a.title.clone()
                    } else {
                        format!("{}\n{}", a.title, a.text)
                    };
                    a.lang = lang::identify(&sample, None);
                });
            let articles = &articles;
            comments
                .par_iter_mut()
                .filter(|c| c.lang.is_none())
                .for_each(|c| {
                    let hint = article_index
                        .get(&c.article_id)
                        .and_then(|&i| articles[i].lang.as_deref());
                    c.lang = lang::identify(&c.text, hint);
                });
        }

        let report = link_threads(&mut comments);
        for &i in &report.orphans {
            let missing = comments[i]
                .extra
                .get("missing_parent_id")
                .and_then(Value::as_str)
                .unwrap_or("");
            let (file, line) = comment_lines[i];
            late.push(self.tagged_reject(
                file,
                line,
                Severity::Warning,
                "parent_id",
                format!("unknown parent `{missing}`: kept as a top-level comment (orphan)"),
            ));
        }
        for &i in &report.cycles_broken {
            let cut = comments[i]
                .extra
                .get("cycle_parent_id")
                .and_then(Value::as_str)
                .unwrap_or("");
            let (file, line) = comment_lines[i];
            late.push(self.tagged_reject(
                file,
                line,
                Severity::Warning,
                "parent_id",
                format!("parent cycle broken here: link to `{cut}` dropped, kept as a top-level comment"),
            ));
        }

        let mut placeholders = 0;
        let mut known: HashSet<String> = articles.iter().map(|a| a.article_id.clone()).collect();
        for c in &comments {
            if known.insert(c.article_id.clone()) {
                articles.push(Article::placeholder(c.article_id.clone()));
                placeholders += 1;
            }
        }

        self.rejects.extend(late);
        self.rejects.sort_by_key(|r| (r.file, r.line));
        let rejects: Vec<Reject> = self.rejects.into_iter().map(|r| r.item).collect();
        let summary = Summary::new(
            self.files.len(),
            self.records_read,
            &articles,
            placeholders,
            &comments,
            &rejects,
            report.orphans.len(),
            report.cycles_broken.len(),
        );
        Ingested {
            articles,
            comments,
            rejects,
            summary,
        }
    }

    fn tagged_reject(
        &self,
        file: usize,
        line: u64,
        severity: Severity,
        field: &str,
        reason: String,
    ) -> Tagged<Reject> {
        let name = self.files.get(file).map(String::as_str).unwrap_or("");
        let item = match severity {
            Severity::Error => Reject::error(name, line, Some(field), reason),
            Severity::Warning => Reject::warning(name, line, Some(field), reason),
        };
        Tagged { item, file, line }
    }

    fn validate_articles(&mut self, late: &mut Vec<Tagged<Reject>>) -> Vec<Article> {
        let mut first_seen: HashMap<String, (usize, u64)> = HashMap::new();
        let mut kept = Vec::with_capacity(self.articles.len());
        for Tagged {
            item: mut a,
            file,
            line,
        } in std::mem::take(&mut self.articles)
        {
            a.article_id = a.article_id.trim().to_string();
            let problem = if a.article_id.is_empty() {
                Some((
                    "article_id".to_string(),
                    "no id: the article has no `article_id`".to_string(),
                ))
            } else if a.title.trim().is_empty() && a.text.trim().is_empty() {
                Some((
                    "text".to_string(),
                    "no text: the article has neither a title nor a text".to_string(),
                ))
            } else if let Some((field, size)) = oversized_article(&a) {
                Some((field, too_big(size)))
            } else if let Some(&(f, l)) = first_seen.get(&a.article_id) {
                Some((
                    "article_id".to_string(),
                    duplicate("article", &a.article_id, &self.files[f], l),
                ))
            } else {
                None
            };
            match problem {
                Some((field, reason)) => {
                    late.push(self.tagged_reject(file, line, Severity::Error, &field, reason))
                }
                None => {
                    first_seen.insert(a.article_id.clone(), (file, line));
                    kept.push(a);
                }
            }
        }
        kept
    }

    /// The comments that pass, with the (input, line) of each.
    fn validate_comments(
        &mut self,
        late: &mut Vec<Tagged<Reject>>,
    ) -> (Vec<Comment>, Vec<(usize, u64)>) {
        let mut first_seen: HashMap<(String, String), (usize, u64)> = HashMap::new();
        let mut kept = Vec::with_capacity(self.comments.len());
        let mut lines = Vec::with_capacity(self.comments.len());
        for Tagged {
            item: mut c,
            file,
            line,
        } in std::mem::take(&mut self.comments)
        {
            c.comment_id = c.comment_id.trim().to_string();
            c.article_id = c.article_id.trim().to_string();
            c.parent_id = c
                .parent_id
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty());
            let key = (c.article_id.clone(), c.comment_id.clone());
            let problem = if c.comment_id.is_empty() {
                Some((
                    "comment_id".to_string(),
                    "no id: the comment has no `comment_id`".to_string(),
                ))
            } else if c.text.trim().is_empty() {
                Some((
                    "text".to_string(),
                    "no text: the comment's `text` is missing or blank".to_string(),
                ))
            } else if let Some((field, size)) = oversized_comment(&c) {
                Some((field, too_big(size)))
            } else if let Some(&(f, l)) = first_seen.get(&key) {
                Some((
                    "comment_id".to_string(),
                    duplicate("comment", &c.comment_id, &self.files[f], l),
                ))
            } else {
                None
            };
            match problem {
                Some((field, reason)) => {
                    late.push(self.tagged_reject(file, line, Severity::Error, &field, reason))
                }
                None => {
                    first_seen.insert(key, (file, line));
                    kept.push(c);
                    lines.push((file, line));
                }
            }
        }
        // Some exports mark a direct reply to the article with parent_id = the article's id.
        for c in kept.iter_mut() {
            if c.parent_id.as_deref() == Some(c.article_id.as_str())
                && !first_seen.contains_key(&(c.article_id.clone(), c.article_id.clone()))
            {
                c.parent_id = None;
            }
        }
        (kept, lines)
    }
}

fn too_big(size: usize) -> String {
    format!("field over 1 MiB ({size} bytes): record left out")
}

fn duplicate(kind: &str, id: &str, file: &str, line: u64) -> String {
    format!("duplicate {kind} id `{id}`: the first one ({file}:{line}) is kept")
}

fn oversized_article(a: &Article) -> Option<(String, usize)> {
    let named = [
        ("article_id", Some(&a.article_id)),
        ("title", Some(&a.title)),
        ("text", Some(&a.text)),
        ("target", a.target.as_ref()),
        ("lang", a.lang.as_ref()),
        ("url", a.url.as_ref()),
        ("published", a.published.as_ref()),
    ];
    oversized(&named, &a.extra)
}

fn oversized_comment(c: &Comment) -> Option<(String, usize)> {
    let named = [
        ("comment_id", Some(&c.comment_id)),
        ("article_id", Some(&c.article_id)),
        ("parent_id", c.parent_id.as_ref()),
        ("author", c.author.as_ref()),
        ("created_at", c.created_at.as_ref()),
        ("text", Some(&c.text)),
        ("lang", c.lang.as_ref()),
    ];
    oversized(&named, &c.extra)
}

fn oversized(named: &[(&str, Option<&String>)], extra: &Extra) -> Option<(String, usize)> {
    for (name, value) in named {
        if let Some(v) = value.filter(|v| v.len() > MAX_FIELD_BYTES) {
            return Some((name.to_string(), v.len()));
        }
    }
    for (name, value) in extra {
        let size = match value {
            Value::String(s) => s.len(),
            Value::Array(_) | Value::Object(_) => {
                serde_json::to_string(value).map(|s| s.len()).unwrap_or(0)
            }
            _ => 0,
        };
        if size > MAX_FIELD_BYTES {
            return Some((name.clone(), size));
        }
    }
    None
}
