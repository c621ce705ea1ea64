//! The heads of a run, checked against the columns they fill.
//!
//! Labels and column names come from the task catalogue ([`stance_core::task`]), the one place
//! that defines them, so the aggregate stage always finds what this stage writes.

use crate::error::{ClassifyError, Result};
use stance_heads::{HeadSource, SourcedHead, Task};

/// The heads that run, in the order given.
pub struct HeadSet {
    pub heads: Vec<SourcedHead>,
}

impl HeadSet {
    /// Loads each `(task, source)`, refusing a head of another task, of another encoder, or
    /// whose labels are not its task's output labels.
    pub fn load(sources: &[(Task, HeadSource)], encoder_id: &str) -> Result<Self> {
        let mut heads = Vec::with_capacity(sources.len());
        for (task, source) in sources {
            let fail = |message: String| ClassifyError::Head {
                task: task.name().to_string(),
                message: format!("{source}: {message}"),
            };
            let loaded = source.load(*task)?;
            loaded.check_encoder(encoder_id)?;
            check_labels(*task, loaded.head.labels()).map_err(fail)?;
            heads.push(loaded);
        }
        Ok(HeadSet { heads })
    }

    pub fn tasks(&self) -> Vec<Task> {
        self.heads.iter().map(SourcedHead::task).collect()
    }
}

/// A head must output exactly its task's classes (the catalogue's `model_labels`), in any order.
fn check_labels(task: Task, labels: &[String]) -> std::result::Result<(), String> {
    let mut want = task.model_labels();
    let mut have: Vec<&str> = labels.iter().map(String::as_str).collect();
    want.sort_unstable();
    have.sort_unstable();
    if want != have {
        return Err(format!("outputs {have:?}; a {task} head must output {want:?}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn label_sets_are_checked_per_task() {
        assert!(check_labels(Task::Stance, &strings(&["against", "favor", "none"])).is_ok());
        assert!(check_labels(Task::Stance, &strings(&["against", "favor"])).is_err());
        assert!(check_labels(Task::Reply, &strings(&["agree", "disagree", "none"])).is_ok());
        assert!(check_labels(Task::Irony, &strings(&["ironic", "not_ironic"])).is_ok());
        assert!(check_labels(Task::Irony, &strings(&["yes", "no"])).is_err());
        assert!(check_labels(Task::Toxicity, &strings(&["non_toxic", "toxic"])).is_ok());
        assert!(check_labels(Task::Toxicity, &strings(&["toxic", "a", "b"])).is_err());
    }
}
