//! The task catalogue: every classification task stance knows, in one place.
//!
//! Per task: its name (as `--tasks` and `head.json` spell it), what it reads (the comment alone,
//! or the article's target or the parent comment together with the comment), its labels, and
//! the columns those labels fill in the comments table and the aggregate tables. Heads, classify,
//! aggregate and report all read this catalogue, so adding a task is one entry here plus its
//! model.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// One classification task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// Tone: `sentiment` ∈ {negative, neutral, positive}.
    Sentiment,
    /// Stance toward the article's target: `stance` ∈ {favor, against, none}.
    Stance,
    /// `ironic` (bool).
    Irony,
    /// `toxic` (bool).
    Toxicity,
    /// Agreement of a reply with its parent: `reply` ∈ {agree, disagree, none}; null on
    /// top-level comments.
    Reply,
}

/// What a task reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskInput {
    /// The comment alone.
    Comment,
    /// The article's target (its claim, question or title) with the comment.
    TargetAndComment,
    /// The parent comment with the reply; top-level comments get no label.
    ParentAndComment,
}

/// One value of a categorical task, with the columns that carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Label {
    /// The value in the task's label column.
    pub value: &'static str,
    /// The per-comment probability column.
    pub prob_column: &'static str,
    /// The aggregate share column.
    pub share_column: &'static str,
    /// The aggregate mean-probability column.
    pub mean_prob_column: &'static str,
}

/// How a task labels a comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelKind {
    /// A string label from a fixed set.
    Categorical(&'static [Label]),
    /// A boolean flag with the probability of `true`. A model of the task outputs two classes:
    /// the label column's name (`ironic`, `toxic`) and `other`.
    Flag {
        other: &'static str,
        prob_column: &'static str,
        share_column: &'static str,
        mean_prob_column: &'static str,
    },
}

const fn label(
    value: &'static str,
    prob_column: &'static str,
    share_column: &'static str,
    mean_prob_column: &'static str,
) -> Label {
    Label { value, prob_column, share_column, mean_prob_column }
}

const STANCE_LABELS: &[Label] = &[
    label("favor", "p_favor", "share_favor", "mean_p_favor"),
    label("against", "p_against", "share_against", "mean_p_against"),
    label("none", "p_none", "share_none", "mean_p_none"),
];
const SENTIMENT_LABELS: &[Label] = &[
    label("negative", "p_negative", "share_negative", "mean_p_negative"),
    label("neutral", "p_neutral", "share_neutral", "mean_p_neutral"),
    label("positive", "p_positive", "share_positive", "mean_p_positive"),
];
const REPLY_LABELS: &[Label] = &[
    label("agree", "p_agree", "share_agree", "mean_p_agree"),
    label("disagree", "p_disagree", "share_disagree", "mean_p_disagree"),
    label("none", "p_none_reply", "share_none_reply", "mean_p_none_reply"),
];

impl Task {
    /// Every task, in the order a run without `--tasks` runs them and their columns and metrics
    /// appear in the output tables.
    pub const ALL: [Task; 5] = [Task::Sentiment, Task::Stance, Task::Irony, Task::Toxicity, Task::Reply];

    /// The task's name as `--tasks` and `head.json` spell it.
    pub fn name(self) -> &'static str {
        match self {
            Task::Stance => "stance",
            Task::Sentiment => "sentiment",
            Task::Irony => "irony",
            Task::Toxicity => "toxicity",
            Task::Reply => "reply",
        }
    }

    pub fn input(self) -> TaskInput {
        match self {
            Task::Stance => TaskInput::TargetAndComment,
            Task::Reply => TaskInput::ParentAndComment,
            Task::Sentiment | Task::Irony | Task::Toxicity => TaskInput::Comment,
        }
    }

    /// The per-comment column holding the hard label.
    pub fn label_column(self) -> &'static str {
        match self {
            Task::Stance => "stance",
            Task::Sentiment => "sentiment",
            Task::Irony => "ironic",
            Task::Toxicity => "toxic",
            Task::Reply => "reply",
        }
    }

    pub fn kind(self) -> LabelKind {
        match self {
            Task::Stance => LabelKind::Categorical(STANCE_LABELS),
            Task::Sentiment => LabelKind::Categorical(SENTIMENT_LABELS),
            Task::Reply => LabelKind::Categorical(REPLY_LABELS),
            Task::Irony => LabelKind::Flag {
                other: "not_ironic",
                prob_column: "p_ironic",
                share_column: "share_ironic",
                mean_prob_column: "mean_p_ironic",
            },
            Task::Toxicity => LabelKind::Flag {
                other: "non_toxic",
                prob_column: "p_toxic",
                share_column: "share_toxic",
                mean_prob_column: "mean_p_toxic",
            },
        }
    }

    /// The aggregate column counting comments with a non-null label: the denominator of the
    /// task's shares.
    pub fn labelled_count_column(self) -> &'static str {
        match self {
            Task::Stance => "n_stance_labelled",
            Task::Sentiment => "n_sentiment_labelled",
            Task::Irony => "n_irony_labelled",
            Task::Toxicity => "n_toxicity_labelled",
            Task::Reply => "n_reply_labelled",
        }
    }

    /// Label values of a categorical task (empty for flags).
    pub fn labels(self) -> &'static [Label] {
        match self.kind() {
            LabelKind::Categorical(labels) => labels,
            LabelKind::Flag { .. } => &[],
        }
    }

    /// The classes a model of this task outputs (in catalogue order): the categorical labels,
    /// or a flag's name and its opposite.
    pub fn model_labels(self) -> Vec<&'static str> {
        match self.kind() {
            LabelKind::Categorical(labels) => labels.iter().map(|l| l.value).collect(),
            LabelKind::Flag { other, .. } => vec![self.label_column(), other],
        }
    }

    /// Every probability column the task fills.
    pub fn prob_columns(self) -> Vec<&'static str> {
        match self.kind() {
            LabelKind::Categorical(labels) => labels.iter().map(|l| l.prob_column).collect(),
            LabelKind::Flag { prob_column, .. } => vec![prob_column],
        }
    }

    /// Maps a dataset's label (already trimmed and lower-cased) to this task's label:
    /// RumourEval/DAST's SDQC labels become stance toward the parent for the reply task and
    /// stance toward the thread's source for the stance task (support is favour, deny against,
    /// a query or comment takes no side); a target-stance file's labels become reply labels
    /// (a statement and a response to it, as in Wahl-O-Mat: in favour of the statement is
    /// agreeing with it); and the second release's toxicity files spell the negative class
    /// `not_toxic`.
    pub fn map_label(self, raw: &str) -> String {
        match (self, raw) {
            (Task::Toxicity, "not_toxic") => "non_toxic".into(),
            (Task::Reply, "support" | "favor") => "agree".into(),
            (Task::Reply, "deny" | "against") => "disagree".into(),
            (Task::Reply, "query" | "comment") => "none".into(),
            // Thread sets label each post's stance toward the thread's source (SDQC).
            (Task::Stance, "support") => "favor".into(),
            (Task::Stance, "deny") => "against".into(),
            (Task::Stance, "query" | "comment") => "none".into(),
            _ => raw.to_string(),
        }
    }
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A task name outside the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown task `{0}` (sentiment, stance, irony, toxicity, reply)")]
pub struct UnknownTask(pub String);

impl FromStr for Task {
    type Err = UnknownTask;
    fn from_str(s: &str) -> Result<Self, UnknownTask> {
        Task::ALL.into_iter().find(|t| t.name() == s).ok_or_else(|| UnknownTask(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_listed() {
        for task in Task::ALL {
            assert_eq!(task.name().parse::<Task>(), Ok(task));
            assert_eq!(serde_json::to_string(&task).unwrap(), format!("\"{}\"", task.name()));
        }
        let err = "tone".parse::<Task>().unwrap_err().to_string();
        assert!(err.contains("`tone`") && err.contains("irony"), "{err}");
        assert_eq!(Task::ALL.len(), 5);
    }

    #[test]
    fn every_column_name_is_distinct_across_tasks() {
        let mut columns: Vec<&str> = Task::ALL
            .iter()
            .flat_map(|t| {
                let mut c = vec![t.label_column(), t.labelled_count_column()];
                c.extend(t.prob_columns());
                c.extend(t.labels().iter().flat_map(|l| [l.share_column, l.mean_prob_column]));
                if let LabelKind::Flag { share_column, mean_prob_column, .. } = t.kind() {
                    c.extend([share_column, mean_prob_column]);
                }
                c
            })
            .collect();
        let n = columns.len();
        columns.sort_unstable();
        columns.dedup();
        assert_eq!(columns.len(), n);
    }

    #[test]
    fn flags_output_their_name_and_its_opposite() {
        assert_eq!(Task::Irony.model_labels(), ["ironic", "not_ironic"]);
        assert_eq!(Task::Toxicity.model_labels(), ["toxic", "non_toxic"]);
        assert_eq!(Task::Reply.model_labels(), ["agree", "disagree", "none"]);
        assert_eq!(Task::Reply.map_label("support"), "agree");
        assert_eq!(Task::Reply.map_label("against"), "disagree");
        assert_eq!(Task::Stance.map_label("against"), "against");
        assert_eq!(Task::Stance.map_label("support"), "favor");
        assert_eq!(Task::Stance.map_label("deny"), "against");
        assert_eq!(Task::Stance.map_label("query"), "none");
        assert_eq!(Task::Stance.map_label("none"), "none");
        assert_eq!(Task::Toxicity.map_label("not_toxic"), "non_toxic");
    }
}
