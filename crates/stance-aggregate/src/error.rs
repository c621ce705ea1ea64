//! What can go wrong while aggregating.

use polars::prelude::PolarsError;

/// Why [`crate::aggregate`] could not produce its tables. Every variant names the column at
/// fault so the message can be acted on without reading the code.
#[derive(Debug, thiserror::Error)]
pub enum AggregateError {
    /// A column the aggregates cannot do without is absent.
    #[error("the {table} table has no `{column}` column")]
    MissingColumn { table: &'static str, column: String },
    /// A column is there but holds values of a type that has no meaning for it.
    #[error("column `{column}` of the {table} table has type {found}; expected {expected}")]
    ColumnType {
        table: &'static str,
        column: String,
        found: String,
        expected: &'static str,
    },
    /// A task's label column holds a value outside the task's label set, so its shares could
    /// not sum to 1.
    #[error("column `{column}` holds the label {value:?}, which is not one of {expected:?}")]
    UnknownLabel {
        column: String,
        value: String,
        expected: Vec<&'static str>,
    },
    /// An aggregation option is out of its range.
    #[error("invalid option: {0}")]
    Option(String),
    #[error(transparent)]
    Polars(#[from] PolarsError),
}
