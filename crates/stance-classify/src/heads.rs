//! The heads of a run, checked against the columns they fill.
//!
//! Column names come from [`stance_aggregate::Task`], the one place that defines them
//! (`stance`, `p_favor`, …, `ironic`, `p_ironic`, `reply`, `p_none_reply`), so the aggregate
//! stage always finds what this stage writes.

use crate::error::{ClassifyError, Result};
use stance_aggregate::LabelKind;
use stance_heads::model_encoder::file_sha256;
use stance_heads::{Head, Task};
use std::path::{Path, PathBuf};

/// One loaded head and where it came from.
pub struct TaskHead {
    pub task: Task,
    pub head: Head,
    pub dir: PathBuf,
    /// SHA-256 of `head.safetensors`: names the weights in checkpoints and `run.json`.
    pub sha256: String,
}

impl TaskHead {
    /// The aggregate stage's view of this task: its column names.
    pub fn columns(&self) -> stance_aggregate::Task {
        columns_of(self.task)
    }
}

/// The heads that run, in the order given.
pub struct HeadSet {
    pub heads: Vec<TaskHead>,
}

impl HeadSet {
    /// Loads each `(task, folder)`, refusing a head of another task, of another encoder, or
    /// whose labels are not its task's output labels.
    pub fn load(dirs: &[(Task, PathBuf)], encoder_id: &str) -> Result<Self> {
        let mut heads = Vec::with_capacity(dirs.len());
        for (task, dir) in dirs {
            let head = Head::load(dir)?;
            let fail = |message: String| ClassifyError::Head {
                task: task.name().to_string(),
                message: format!("{}: {message}", dir.display()),
            };
            if head.task() != *task {
                return Err(fail(format!("is a {} head", head.task())));
            }
            if head.meta.encoder != encoder_id {
                return Err(fail(format!(
                    "was trained on encoder `{}`, but this run encodes with `{encoder_id}`",
                    head.meta.encoder
                )));
            }
            check_labels(*task, head.labels()).map_err(fail)?;
            let sha256 = file_sha256(&dir.join(stance_heads::head::WEIGHTS_FILE))?;
            heads.push(TaskHead { task: *task, head, dir: dir.clone(), sha256 });
        }
        Ok(HeadSet { heads })
    }

    pub fn tasks(&self) -> Vec<Task> {
        self.heads.iter().map(|h| h.task).collect()
    }

    pub fn needs_targets(&self) -> bool {
        self.heads.iter().any(|h| h.task == Task::Stance)
    }

    pub fn needs_parents(&self) -> bool {
        self.heads.iter().any(|h| h.task == Task::Reply)
    }
}

/// The aggregate task of a heads task (the two enums name the same five tasks).
pub fn columns_of(task: Task) -> stance_aggregate::Task {
    match task {
        Task::Stance => stance_aggregate::Task::Stance,
        Task::Sentiment => stance_aggregate::Task::Sentiment,
        Task::Irony => stance_aggregate::Task::Irony,
        Task::Toxicity => stance_aggregate::Task::Toxicity,
        Task::Reply => stance_aggregate::Task::Reply,
    }
}

/// A categorical head must output exactly its task's labels; a flag head two labels, one of
/// them the flag's name (`ironic`, `toxic`).
fn check_labels(task: Task, labels: &[String]) -> std::result::Result<(), String> {
    let columns = columns_of(task);
    match columns.kind() {
        LabelKind::Categorical(expected) => {
            let mut want: Vec<&str> = expected.iter().map(|l| l.value).collect();
            let mut have: Vec<&str> = labels.iter().map(String::as_str).collect();
            want.sort_unstable();
            have.sort_unstable();
            if want != have {
                return Err(format!("outputs {have:?}; a {task} head must output {want:?}"));
            }
        }
        LabelKind::Flag { .. } => {
            let flag = columns.label_column();
            if labels.len() != 2 || !labels.iter().any(|l| l == flag) {
                return Err(format!("outputs {labels:?}; a {task} head must output `{flag}` and one other label"));
            }
        }
    }
    Ok(())
}

/// The default folder of a task's shipped head under `models_dir` (`models/heads/<task>`).
pub fn shipped_head_dir(models_dir: &Path, task: Task) -> PathBuf {
    models_dir.join("heads").join(task.name())
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
