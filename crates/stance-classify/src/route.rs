//! A route: one single-text task (irony, say) scored by one model where the comment answers
//! another text and by another where it stands alone.
//!
//! Whether a reply is ironic depends on what it answers, so a model that reads the parent with
//! the reply (a `stance tune` model trained with MultiPICo's parent posts) does better on
//! replies than a head on the reply alone; on texts without a parent (tweets, top-level
//! comments) the head does better. A route gives each row to the model that is better at it,
//! and each model decides its rows with its own decision rule.
//!
//! A route is a folder holding `route.json`:
//!
//! ```json
//! {"format": "stance-route/1", "task": "irony",
//!  "with_context": "../../tuned/irony", "alone": "default"}
//! ```
//!
//! `default` is the task's built-in head; any other model is a head, cross-encoder or blend
//! folder, relative to the route's own.

use serde::{Deserialize, Serialize};

pub const META_FILE: &str = "route.json";
pub const FORMAT: &str = "stance-route/1";

/// What `route.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteMeta {
    pub format: String,
    pub task: String,
    /// The model of rows with a context (a reply's parent): it must read the context.
    pub with_context: String,
    /// The model of rows without one.
    pub alone: String,
    /// Why these models (free text, for the card).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The rows of `context` (one entry per row, `Some` where the row has a context) split by
/// route: the rows with a context, then the rows without, each in row order.
pub fn split_rows<T>(context: &[Option<T>]) -> (Vec<usize>, Vec<usize>) {
    (0..context.len()).partition(|&row| context[row].is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_split_by_whether_they_have_a_context() {
        let (with, alone) = split_rows(&[Some(3), None, None, Some(0), Some(3)]);
        assert_eq!(with, vec![0, 3, 4]);
        assert_eq!(alone, vec![1, 2]);
        let (with, alone) = split_rows::<usize>(&[]);
        assert!(with.is_empty() && alone.is_empty());
    }

    #[test]
    fn route_json_reads_and_refuses_unknown_fields() {
        let text = r#"{"format": "stance-route/1", "task": "irony",
            "with_context": "../../tuned/irony", "alone": "default"}"#;
        let meta: RouteMeta = serde_json::from_str(text).unwrap();
        assert_eq!((meta.with_context.as_str(), meta.alone.as_str()), ("../../tuned/irony", "default"));
        let typo = r#"{"format": "stance-route/1", "task": "irony", "with_context": "a", "alone": "b", "thresholds": {}}"#;
        assert!(serde_json::from_str::<RouteMeta>(typo).is_err());
    }
}
