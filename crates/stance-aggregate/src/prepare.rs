//! The comments table with the working columns every metric reads (see [`crate::columns`]).

use crate::columns::{AUTHOR, DAY, ORPHAN, PARENT, RECEIVED, RECEIVED_DISAGREE, TS};
use crate::exprs::Inputs;
use crate::tasks::{check_labels, present_tasks, Task};
use crate::{time, AggregateError};
use polars::prelude::*;

pub(crate) struct Prepared {
    pub frame: LazyFrame,
    pub inputs: Inputs,
}

pub(crate) fn prepare(comments: &DataFrame) -> Result<Prepared, AggregateError> {
    for column in ["comment_id", "article_id"] {
        if comments.column(column).is_err() {
            return Err(AggregateError::MissingColumn {
                table: "comments",
                column: column.into(),
            });
        }
    }
    let schema = comments.schema();
    let tasks = present_tasks(schema)?;
    for &task in &tasks {
        check_labels(comments, task)?;
    }
    let probs = tasks
        .iter()
        .flat_map(|&t| t.prob_columns())
        .filter(|p| schema.get(p).is_some())
        .collect();
    let has_depth = match schema.get("depth") {
        None => false,
        Some(dtype) if dtype.is_integer() || dtype.is_null() => true,
        Some(dtype) => {
            return Err(AggregateError::ColumnType {
                table: "comments",
                column: "depth".into(),
                found: dtype.to_string(),
                expected: "an integer",
            })
        }
    };
    let inputs = Inputs {
        tasks,
        probs,
        has_depth,
    };

    let mut frame = comments.clone();
    frame.with_column(
        time::created_at_millis(comments)?
            .with_name(TS.into())
            .into_column(),
    )?;
    let as_string_or_null = |name: &str| {
        if schema.get(name).is_some() {
            col(name).cast(DataType::String)
        } else {
            lit(NULL).cast(DataType::String)
        }
    };
    let orphan = if schema.get("missing_parent_id").is_some() {
        col("missing_parent_id").is_not_null()
    } else {
        lit(false)
    };
    let frame = frame.lazy().with_columns([
        col("article_id").cast(DataType::String),
        col("comment_id").cast(DataType::String),
        as_string_or_null("author").alias(AUTHOR),
        as_string_or_null("parent_id").alias(PARENT),
        orphan.alias(ORPHAN),
        col(TS).cast(DataType::Datetime(
            TimeUnit::Milliseconds,
            Some(TimeZone::UTC),
        )),
    ]);
    let frame = frame.with_column(col(TS).dt().date().alias(DAY));
    let frame = with_replies_received(frame, inputs.has(Task::Reply));
    Ok(Prepared { frame, inputs })
}

/// Adds, to every comment, the number of direct replies it received (and, with the reply task,
/// how many of them disagree). Replies are matched to parents within the same article.
fn with_replies_received(frame: LazyFrame, with_reply_task: bool) -> LazyFrame {
    const KEY: &str = "__stance_parent_key";
    let mut counts = vec![len().cast(DataType::UInt32).alias(RECEIVED)];
    if with_reply_task {
        counts.push(
            col(Task::Reply.label_column())
                .eq(lit("disagree"))
                .sum()
                .cast(DataType::UInt32)
                .alias(RECEIVED_DISAGREE),
        );
    }
    let received = frame
        .clone()
        .filter(col(PARENT).is_not_null())
        .group_by([col("article_id"), col(PARENT).alias(KEY)])
        .agg(counts);
    let mut filled = vec![col(RECEIVED).fill_null(lit(0u32))];
    if with_reply_task {
        filled.push(col(RECEIVED_DISAGREE).fill_null(lit(0u32)));
    }
    frame
        .join(
            received,
            [col("article_id"), col("comment_id")],
            [col("article_id"), col(KEY)],
            JoinArgs::new(JoinType::Left),
        )
        .with_columns(filled)
}
