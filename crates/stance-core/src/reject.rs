//! What ingest reports about input it could not take as given.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Errors leave the record out of the outputs; warnings keep it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One line of `rejects.jsonl`: where the problem is and what it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reject {
    pub file: String,
    /// 1-based line (or record number for formats without lines, such as Parquet rows).
    pub line: u64,
    /// The field at fault, when one is.
    pub field: Option<String>,
    pub reason: String,
    pub severity: Severity,
}

impl Reject {
    pub fn error(file: &str, line: u64, field: Option<&str>, reason: impl Into<String>) -> Self {
        Self::new(file, line, field, reason, Severity::Error)
    }

    pub fn warning(file: &str, line: u64, field: Option<&str>, reason: impl Into<String>) -> Self {
        Self::new(file, line, field, reason, Severity::Warning)
    }

    fn new(file: &str, line: u64, field: Option<&str>, reason: impl Into<String>, severity: Severity) -> Self {
        Reject {
            file: file.to_string(),
            line,
            field: field.map(str::to_string),
            reason: reason.into(),
            severity,
        }
    }
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.severity)?;
        if let Some(field) = &self.field {
            write!(f, " in field `{field}`")?;
        }
        write!(f, ": {}", self.reason)
    }
}
