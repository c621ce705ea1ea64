//! The classification tasks whose columns a comments table may carry (from the catalogue in
//! `stance_core::task`), and how to find them.

use crate::AggregateError;
use polars::prelude::*;

pub use stance_core::task::{Label, LabelKind, Task};

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
        for prob in task.prob_columns() {
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
