//! The polars expressions behind each metric of [`crate::metrics`].
//!
//! Expressions are built per table from the columns actually present, then filtered by the
//! tables each metric's definition lists, so that what is computed and what is documented
//! cannot drift apart.

use crate::columns::{AUTHOR, ORPHAN, PARENT, RECEIVED, RECEIVED_DISAGREE, TS};
use crate::metrics::{self, Metric, Table};
use crate::tasks::{LabelKind, Task};
use polars::prelude::*;

/// What the comments table offers beyond the mandatory columns.
#[derive(Debug, Clone)]
pub(crate) struct Inputs {
    pub tasks: Vec<Task>,
    /// Probability columns present in the comments table.
    pub probs: Vec<&'static str>,
    pub has_depth: bool,
}

impl Inputs {
    pub fn has(&self, task: Task) -> bool {
        self.tasks.contains(&task)
    }

    fn has_prob(&self, column: &str) -> bool {
        self.probs.contains(&column)
    }
}

fn count(predicate: Expr) -> Expr {
    predicate.sum().cast(DataType::UInt32)
}

/// `numerator / denominator`, null (not NaN) when the denominator is 0.
fn ratio(numerator: Expr, denominator: Expr) -> Expr {
    when(denominator.clone().gt(lit(0)))
        .then(numerator.cast(DataType::Float64) / denominator.cast(DataType::Float64))
        .otherwise(lit(NULL).cast(DataType::Float64))
}

fn mean_of(column: &str) -> Expr {
    col(column).cast(DataType::Float64).mean()
}

fn keep(table: Table, pairs: Vec<(Metric, Expr)>) -> Vec<Expr> {
    pairs
        .into_iter()
        .filter(|(m, _)| m.tables.contains(&table))
        .map(|(m, e)| e.alias(m.name))
        .collect()
}

/// Aggregations computed over each group of `table` (or over all comments for
/// [`Table::Overall`]).
pub(crate) fn group_exprs(table: Table, inputs: &Inputs) -> Vec<Expr> {
    use metrics as m;
    let mut pairs = vec![
        (
            m::N_ARTICLES,
            col("article_id").n_unique().cast(DataType::UInt32),
        ),
        (m::N_COMMENTS, len().cast(DataType::UInt32)),
        (
            m::N_AUTHORS,
            col(AUTHOR).drop_nulls().n_unique().cast(DataType::UInt32),
        ),
        (m::N_ANONYMOUS, count(col(AUTHOR).is_null())),
        (m::N_TOP_LEVEL, count(col(PARENT).is_null())),
        (m::N_REPLIES, count(col(PARENT).is_not_null())),
        (m::N_ORPHANS, count(col(ORPHAN))),
        (m::N_UNDATED, count(col(TS).is_null())),
    ];
    if inputs.has_depth {
        pairs.push((m::MAX_DEPTH, col("depth").max().cast(DataType::UInt32)));
    }
    pairs.push((m::FIRST_COMMENT_AT, col(TS).min()));
    pairs.push((m::LAST_COMMENT_AT, col(TS).max()));
    for &task in &inputs.tasks {
        pairs.extend(task_exprs(task, inputs));
    }
    pairs.push((
        m::N_REPLIES_RECEIVED,
        col(RECEIVED).sum().cast(DataType::UInt32),
    ));
    if inputs.has(Task::Reply) {
        pairs.push((
            m::N_DISAGREE_RECEIVED,
            col(RECEIVED_DISAGREE).sum().cast(DataType::UInt32),
        ));
    }
    keep(table, pairs)
}

fn task_exprs(task: Task, inputs: &Inputs) -> Vec<(Metric, Expr)> {
    let label = task.label_column();
    let n = col(label).count();
    let mut pairs = vec![(
        by_name(task.labelled_count_column()),
        n.clone().cast(DataType::UInt32),
    )];
    match task.kind() {
        LabelKind::Categorical(labels) => {
            for l in labels {
                let hits = count(col(label).eq(lit(l.value)));
                pairs.push((by_name(l.share_column), ratio(hits, n.clone())));
            }
            if task == Task::Sentiment
                && inputs.has_prob("p_positive")
                && inputs.has_prob("p_negative")
            {
                let polarity = col("p_positive").cast(DataType::Float64)
                    - col("p_negative").cast(DataType::Float64);
                pairs.push((metrics::MEAN_POLARITY, polarity.mean()));
            }
            for l in labels.iter().filter(|l| inputs.has_prob(l.prob_column)) {
                pairs.push((by_name(l.mean_prob_column), mean_of(l.prob_column)));
            }
        }
        LabelKind::Flag {
            prob_column,
            share_column,
            mean_prob_column,
            ..
        } => {
            pairs.push((by_name(share_column), ratio(count(col(label)), n)));
            if inputs.has_prob(prob_column) {
                pairs.push((by_name(mean_prob_column), mean_of(prob_column)));
            }
        }
    }
    pairs
}

/// Metrics computed from other metrics of the same row.
pub(crate) fn derived_exprs(table: Table, inputs: &Inputs, half_volume: f64) -> Vec<Expr> {
    use metrics as m;
    // All of these are evaluated side by side, so each is written in terms of aggregated
    // columns only, never of another derived one.
    let favor = col(m::SHARE_FAVOR.name);
    let against = col(m::SHARE_AGAINST.name);
    let gap = favor.clone() - against.clone();
    let polarization = favor + against - gap.clone() * gap.clone();
    let mut pairs = Vec::new();
    if inputs.has(Task::Stance) {
        pairs.push((m::NET_STANCE, gap));
        pairs.push((m::POLARIZATION, polarization.clone()));
    }
    if inputs.has(Task::Stance) && inputs.has(Task::Reply) {
        let n = col(m::N_COMMENTS.name).cast(DataType::Float64);
        let volume = n.clone() / (n + lit(half_volume));
        let conflict =
            polarization.fill_null(lit(0.0)) + col(m::SHARE_DISAGREE.name).fill_null(lit(0.0));
        pairs.push((m::CONTROVERSY, volume * conflict / lit(2.0)));
    }
    keep(table, pairs)
}

/// The documented metric of that name. Every name passed here is a constant of this crate,
/// so a miss is a programming error caught by the tests that build every table.
fn by_name(name: &'static str) -> Metric {
    metrics::METRICS
        .iter()
        .copied()
        .find(|m| m.name == name)
        .unwrap_or(Metric {
            name,
            tables: &[],
            definition: "",
        })
}
