//! Articles and comments as they leave the ingest stage.

use serde::{Deserialize, Serialize};

/// Columns of the input that stance has no use for, kept verbatim so analysts can join on them
/// later. Insertion order is preserved (serde_json's `preserve_order`).
pub type Extra = serde_json::Map<String, serde_json::Value>;

/// A news article, forum post or social post: the thing comments react to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Article {
    pub article_id: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub text: String,
    /// The claim stance is measured against. `None` means "the title" (see [`Article::target`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default)]
    pub lang: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Publication time or date as given (RFC 3339 or `YYYY-MM-DD`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Article {
    /// A bare article known only by its id (comments arrived without an articles table).
    pub fn placeholder(article_id: impl Into<String>) -> Self {
        Article {
            article_id: article_id.into(),
            title: String::new(),
            text: String::new(),
            target: None,
            lang: None,
            url: None,
            published: None,
            extra: Extra::new(),
        }
    }

    /// The text stance is measured toward: the explicit target, else the title, else the
    /// start of the body.
    pub fn target(&self) -> &str {
        match &self.target {
            Some(t) if !t.trim().is_empty() => t,
            _ if !self.title.trim().is_empty() => &self.title,
            _ => &self.text,
        }
    }
}

/// One reader comment. `depth` and `root_id` are derived by [`crate::link_threads`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comment {
    pub comment_id: String,
    pub article_id: String,
    /// `None` for a top-level comment (a direct reply to the article).
    pub parent_id: Option<String>,
    /// 0 for top-level comments.
    #[serde(default)]
    pub depth: u32,
    /// The top-level comment this one descends from (itself when top-level).
    #[serde(default)]
    pub root_id: String,
    #[serde(default)]
    pub author: Option<String>,
    /// RFC 3339 with its offset when the source gave one; a naive local
    /// `YYYY-MM-DDTHH:MM:SS` when the source gave no timezone.
    #[serde(default)]
    pub created_at: Option<String>,
    pub text: String,
    #[serde(default)]
    pub lang: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Comment {
    pub fn new(
        comment_id: impl Into<String>,
        article_id: impl Into<String>,
        parent_id: Option<String>,
        text: impl Into<String>,
    ) -> Self {
        let comment_id = comment_id.into();
        Comment {
            root_id: comment_id.clone(),
            comment_id,
            article_id: article_id.into(),
            parent_id,
            depth: 0,
            author: None,
            created_at: None,
            text: text.into(),
            lang: None,
            extra: Extra::new(),
        }
    }
}
