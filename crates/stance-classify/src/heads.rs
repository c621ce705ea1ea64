//! The task models of a run, checked against the columns they fill.
//!
//! A task is scored either by a head on the encoder's pooled vectors (`stance train`) or by a
//! fine-tuned cross-encoder that reads the encoder's bottom-layer states of the target (or
//! parent) and the comment together (`stance tune`). Both read the same encoder pass.
//! Labels and column names come from the task catalogue ([`stance_core::task`]), the one place
//! that defines them, so the aggregate stage always finds what this stage writes.

use crate::error::{ClassifyError, Result};
use stance_heads::model_encoder::file_sha256;
use stance_heads::source::check_encoder_id;
use stance_core::TaskInput;
use stance_heads::{HeadSource, SourcedHead, Task};
use stance_model::batch::KeepStates;
use stance_tune::CrossEncoder;

/// A cross-encoder with where it came from and the SHA-256 of its weights.
pub struct SourcedCrossEncoder {
    pub task: Task,
    pub model: CrossEncoder,
    pub source: HeadSource,
    pub sha256: String,
}

impl SourcedCrossEncoder {
    /// `DIR (sha256 0123456789abcdef)`: how run records name it.
    pub fn describe(&self) -> String {
        format!("{} (sha256 {})", self.source, &self.sha256[..16.min(self.sha256.len())])
    }
}

/// What scores one task.
pub enum TaskModel {
    /// A head on the pooled sentence vectors.
    Head(SourcedHead),
    /// A fine-tuned cross-encoder over bottom-layer states of the pair.
    CrossEncoder(SourcedCrossEncoder),
}

impl TaskModel {
    /// Loads `task`'s model from `source`: a folder holding `cross_encoder.json` is a
    /// cross-encoder, anything else (the built-in defaults included) a head.
    pub fn load(task: Task, source: &HeadSource) -> Result<Self> {
        let dir = match source {
            HeadSource::Folder(dir) if stance_tune::is_cross_encoder(dir) => dir,
            _ => return Ok(TaskModel::Head(source.load(task)?)),
        };
        let fail = |message: String| head_error(task, source, message);
        let sha256 = file_sha256(&dir.join(stance_tune::model::WEIGHTS_FILE))?;
        let model = CrossEncoder::load(dir).map_err(|e| fail(e.to_string()))?;
        if model.meta.task != task.name() {
            return Err(fail(format!("is a {} cross-encoder, not a {task} one", model.meta.task)));
        }
        Ok(TaskModel::CrossEncoder(SourcedCrossEncoder { task, model, source: source.clone(), sha256 }))
    }

    pub fn task(&self) -> Task {
        match self {
            TaskModel::Head(h) => h.task(),
            TaskModel::CrossEncoder(c) => c.task,
        }
    }

    /// What the model reads: its task's input, except that a tuned tone model which learnt
    /// from what texts answer reads a reply's parent too (a comment without one goes alone).
    pub fn reads(&self) -> TaskInput {
        match self {
            TaskModel::CrossEncoder(c) if c.model.meta.reads_parent => TaskInput::ParentAndComment,
            _ => self.task().input(),
        }
    }

    pub fn labels(&self) -> &[String] {
        match self {
            TaskModel::Head(h) => h.head.labels(),
            TaskModel::CrossEncoder(c) => c.model.labels(),
        }
    }

    /// The weights' SHA-256 (run keys).
    pub fn sha256(&self) -> &str {
        match self {
            TaskModel::Head(h) => &h.sha256,
            TaskModel::CrossEncoder(c) => &c.sha256,
        }
    }

    /// How run records name it: `default stance head (sha256 …)` or `DIR (sha256 …)`.
    pub fn describe(&self) -> String {
        match self {
            TaskModel::Head(h) => h.describe(),
            TaskModel::CrossEncoder(c) => c.describe(),
        }
    }

    /// Divides the raw scores before the softmax (fitted on validation data).
    pub fn temperature(&self) -> f64 {
        match self {
            TaskModel::Head(h) => h.head.meta.temperature,
            TaskModel::CrossEncoder(c) => c.model.meta.temperature,
        }
    }

    /// The predicted class of one row's probabilities: the model's per-language thresholds or
    /// class offsets, else the most probable class.
    pub fn decide(&self, probs: &[f32], lang: Option<&str>) -> usize {
        self.decision().decide(self.labels(), probs, lang)
    }

    /// The model's decision rule (thresholds of a flag model, or class offsets), as `run.json`
    /// lists it.
    pub fn decision(&self) -> &stance_heads::DecisionRule {
        match self {
            TaskModel::Head(h) => &h.head.meta.decision,
            TaskModel::CrossEncoder(c) => &c.model.meta.decision,
        }
    }

    fn check_encoder(&self, encoder_id: &str) -> Result<()> {
        match self {
            TaskModel::Head(h) => Ok(h.check_encoder(encoder_id)?),
            TaskModel::CrossEncoder(c) => {
                check_encoder_id(&c.model.meta.encoder, encoder_id).map_err(|message| head_error(c.task, &c.source, message))
            }
        }
    }
}

/// The task models that run, in the order given.
pub struct HeadSet {
    pub models: Vec<TaskModel>,
}

impl HeadSet {
    /// Loads each `(task, source)`, refusing a model of another task, of another encoder, or
    /// whose labels are not its task's output labels.
    pub fn load(sources: &[(Task, HeadSource)], encoder_id: &str) -> Result<Self> {
        let mut models = Vec::with_capacity(sources.len());
        for (task, source) in sources {
            let loaded = TaskModel::load(*task, source)?;
            loaded.check_encoder(encoder_id)?;
            check_labels(*task, loaded.labels()).map_err(|message| head_error(*task, source, message))?;
            models.push(loaded);
        }
        let set = HeadSet { models };
        set.keep_states()?;
        Ok(set)
    }

    pub fn tasks(&self) -> Vec<Task> {
        self.models.iter().map(TaskModel::task).collect()
    }

    /// The bottom-layer states the cross-encoders need from the encoder pass (`None` without
    /// any): one layer for all of them, as many rows as the hungriest reads.
    pub fn keep_states(&self) -> Result<Option<KeepStates>> {
        let mut keep: Option<KeepStates> = None;
        for model in &self.models {
            if let TaskModel::CrossEncoder(c) = model {
                let meta = &c.model.meta;
                let rows = meta.state_rows();
                keep = match keep {
                    None => Some(KeepStates { layers: meta.bottom_layers, max_rows: rows }),
                    Some(k) if k.layers == meta.bottom_layers => Some(KeepStates { layers: k.layers, max_rows: k.max_rows.max(rows) }),
                    Some(k) => {
                        return Err(ClassifyError::Invalid(format!(
                            "the cross-encoders of one run must read the same encoder layer: {} reads layer {}, another layer {}",
                            model.describe(),
                            meta.bottom_layers,
                            k.layers
                        )))
                    }
                };
            }
        }
        Ok(keep)
    }
}

/// The error about `task`'s model from `source`.
fn head_error(task: Task, source: &HeadSource, message: String) -> ClassifyError {
    ClassifyError::Head { task: task.name().to_string(), message: format!("{source}: {message}") }
}

/// A model must output exactly its task's classes (the catalogue's `model_labels`), in any order.
fn check_labels(task: Task, labels: &[String]) -> std::result::Result<(), String> {
    let mut want = task.model_labels();
    let mut have: Vec<&str> = labels.iter().map(String::as_str).collect();
    want.sort_unstable();
    have.sort_unstable();
    if want != have {
        return Err(format!("outputs {have:?}; a {task} model must output {want:?}"));
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
