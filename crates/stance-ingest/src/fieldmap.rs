//! `--map field=column`: which input column feeds which stance field in tabular inputs.

use crate::IngestError;

/// Which of the two record types a table holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    Article,
    Comment,
}

impl RecordKind {
    /// The stance fields a table of this kind can provide.
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            RecordKind::Comment => COMMENT_FIELDS,
            RecordKind::Article => ARTICLE_FIELDS,
        }
    }

    /// Every key the output record has besides its extra columns.
    pub(crate) fn reserved_keys(self) -> &'static [&'static str] {
        match self {
            RecordKind::Comment => &[
                "comment_id",
                "article_id",
                "parent_id",
                "depth",
                "root_id",
                "author",
                "created_at",
                "text",
                "lang",
            ],
            RecordKind::Article => ARTICLE_FIELDS,
        }
    }
}

pub(crate) const COMMENT_FIELDS: &[&str] = &[
    "comment_id",
    "article_id",
    "parent_id",
    "author",
    "created_at",
    "text",
    "lang",
];
pub(crate) const ARTICLE_FIELDS: &[&str] = &[
    "article_id",
    "title",
    "text",
    "target",
    "lang",
    "url",
    "published",
];

/// Column renames. `text=body` applies to both record kinds; `comment.text=body` or
/// `article.title=headline` to one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldMap {
    entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    kind: Option<RecordKind>,
    field: String,
    column: String,
}

impl FieldMap {
    pub fn parse<S: AsRef<str>>(specs: &[S]) -> Result<Self, IngestError> {
        let mut map = FieldMap::default();
        for spec in specs {
            map.add(spec.as_ref())?;
        }
        Ok(map)
    }

    /// Adds one `[comment.|article.]field=column` rename.
    pub fn add(&mut self, spec: &str) -> Result<(), IngestError> {
        let invalid = |reason: String| IngestError::InvalidMap {
            spec: spec.to_string(),
            reason,
        };
        let (lhs, column) = spec
            .split_once('=')
            .ok_or_else(|| invalid("expected FIELD=COLUMN".into()))?;
        let (lhs, column) = (lhs.trim(), column.trim());
        if column.is_empty() {
            return Err(invalid("the column name is empty".into()));
        }
        let (kind, field) = match lhs.split_once('.') {
            Some(("comment" | "comments", f)) => (Some(RecordKind::Comment), f),
            Some(("article" | "articles", f)) => (Some(RecordKind::Article), f),
            Some((other, _)) => {
                return Err(invalid(format!("`{other}` is not `comment` or `article`")))
            }
            None => (None, lhs),
        };
        let known = match kind {
            Some(k) => k.fields().contains(&field),
            None => COMMENT_FIELDS.contains(&field) || ARTICLE_FIELDS.contains(&field),
        };
        if !known {
            return Err(invalid(format!(
                "unknown field `{field}`; comment fields: {}; article fields: {}",
                COMMENT_FIELDS.join(", "),
                ARTICLE_FIELDS.join(", ")
            )));
        }
        if self
            .entries
            .iter()
            .any(|e| e.kind == kind && e.field == field)
        {
            return Err(invalid(format!("field `{field}` is mapped twice")));
        }
        self.entries.push(Entry {
            kind,
            field: field.to_string(),
            column: column.to_string(),
        });
        Ok(())
    }

    /// The input column that feeds `field` for records of `kind`.
    pub fn column<'a>(&'a self, kind: RecordKind, field: &'a str) -> &'a str {
        let qualified = self
            .entries
            .iter()
            .find(|e| e.kind == Some(kind) && e.field == field);
        let plain = || {
            self.entries
                .iter()
                .find(|e| e.kind.is_none() && e.field == field)
        };
        qualified
            .or_else(plain)
            .map(|e| e.column.as_str())
            .unwrap_or(field)
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualified_mapping_wins_over_plain() {
        let map = FieldMap::parse(&["text=body", "article.text=content"]).unwrap();
        assert_eq!(map.column(RecordKind::Comment, "text"), "body");
        assert_eq!(map.column(RecordKind::Article, "text"), "content");
        assert_eq!(map.column(RecordKind::Comment, "author"), "author");
    }

    #[test]
    fn bad_specs_are_refused_with_reason() {
        for bad in ["text", "nope=x", "text=", "post.text=x", "comment.title=x"] {
            assert!(FieldMap::parse(&[bad]).is_err(), "{bad} accepted");
        }
        assert!(FieldMap::parse(&["text=a", "text=b"]).is_err());
    }
}
