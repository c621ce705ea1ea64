//! The classification tasks whose columns a comments table may carry, and how to find them.

use crate::AggregateError;
use polars::prelude::*;

/// One classification task of the heads stage. Each is optional in the comments table: a task
/// is *present* when its label column is, and only present tasks get metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Task {
    /// Stance toward the article's target: `stance` ∈ {favor, against, none}.
    Stance,
    /// Tone: `sentiment` ∈ {negative, neutral, positive}.
    Sentiment,
    /// `ironic` (bool).
    Irony,
    /// `toxic` (bool).
    Toxicity,
    /// Agreement of a reply with its parent: `reply` ∈ {agree, disagree, none}; null on
    /// top-level comments.
    Reply,
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
    /// A boolean flag with the probability of `true`.
    Flag {
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
    Label {
        value,
        prob_column,
        share_column,
        mean_prob_column,
    }
}

const STANCE_LABELS: &[Label] = &[
    label("favor", "p_favor", "share_favor", "mean_p_favor"),
    label("against", "p_against", "share_against", "mean_p_against"),
    label("none", "p_none", "share_none", "mean_p_none"),
];
const SENTIMENT_LABELS: &[Label] = &[
    label(
        "negative",
        "p_negative",
        "share_negative",
        "mean_p_negative",
    ),
    label("neutral", "p_neutral", "share_neutral", "mean_p_neutral"),
    label(
        "positive",
        "p_positive",
        "share_positive",
        "mean_p_positive",
    ),
];
const REPLY_LABELS: &[Label] = &[
    label("agree", "p_agree", "share_agree", "mean_p_agree"),
    label(
        "disagree",
        "p_disagree",
        "share_disagree",
        "mean_p_disagree",
    ),
    label(
        "none",
        "p_none_reply",
        "share_none_reply",
        "mean_p_none_reply",
    ),
];

impl Task {
    /// Every task, in the order their metrics appear in the output tables.
    pub const ALL: [Task; 5] = [
        Task::Stance,
        Task::Sentiment,
        Task::Irony,
        Task::Toxicity,
        Task::Reply,
    ];

    /// The task's name as `--tasks` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Task::Stance => "stance",
            Task::Sentiment => "sentiment",
            Task::Irony => "irony",
            Task::Toxicity => "toxicity",
            Task::Reply => "reply",
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
                prob_column: "p_ironic",
                share_column: "share_ironic",
                mean_prob_column: "mean_p_ironic",
            },
            Task::Toxicity => LabelKind::Flag {
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
}

/// The tasks whose label column is in `schema`, checked for the right types: string labels for
/// categorical tasks, booleans for flags, numbers for every probability column present.
pub(crate) fn present_tasks(schema: &Schema) -> Result<Vec<Task>, AggregateError> {
    let mut present = Vec::new();
    for task in Task::ALL {
        let Some(dtype) = schema.get(task.label_column()) else {
            continue;
        };
        let (expected, ok) = match task.kind() {
            LabelKind::Categorical(_) => (
                "a string",
                matches!(dtype, DataType::String | DataType::Null),
            ),
            LabelKind::Flag { .. } => (
                "a boolean",
                matches!(dtype, DataType::Boolean | DataType::Null),
            ),
        };
        if !ok {
            return Err(column_type(task.label_column(), dtype, expected));
        }
        for prob in prob_columns(task) {
            if let Some(dtype) = schema.get(prob) {
                if !(dtype.is_primitive_numeric() || dtype.is_null()) {
                    return Err(column_type(prob, dtype, "a number"));
                }
            }
        }
        present.push(task);
    }
    Ok(present)
}

/// Every probability column a task may carry.
pub(crate) fn prob_columns(task: Task) -> Vec<&'static str> {
    match task.kind() {
        LabelKind::Categorical(labels) => labels.iter().map(|l| l.prob_column).collect(),
        LabelKind::Flag { prob_column, .. } => vec![prob_column],
    }
}

/// Fails on the first label outside a categorical task's label set, so that shares computed
/// over the known labels are guaranteed to sum to 1.
pub(crate) fn check_labels(comments: &DataFrame, task: Task) -> Result<(), AggregateError> {
    let labels = task.labels();
    if labels.is_empty() {
        return Ok(());
    }
    let column = comments.column(task.label_column())?;
    if column.dtype().is_null() {
        return Ok(());
    }
    for value in column.str()?.iter().flatten() {
        if !labels.iter().any(|l| l.value == value) {
            return Err(AggregateError::UnknownLabel {
                column: task.label_column().to_string(),
                value: value.to_string(),
                expected: labels.iter().map(|l| l.value).collect(),
            });
        }
    }
    Ok(())
}

fn column_type(column: &str, dtype: &DataType, expected: &'static str) -> AggregateError {
    AggregateError::ColumnType {
        table: "comments",
        column: column.to_string(),
        found: dtype.to_string(),
        expected,
    }
}
