//! What produced the outputs: the object written as `run.json` and, verbatim, into the
//! key-value metadata of every Parquet file.

use serde::{Deserialize, Serialize};
use stance_aggregate::AggregateOptions;
use std::collections::BTreeMap;

/// Everything needed to reproduce or cite a run. The `stance classify` command fills it; the
/// writers add the aggregation options they were given.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// Version of the stance toolkit that wrote the outputs.
    pub stance_version: String,
    /// Models used (the encoder, and any model a head was distilled from).
    pub models: Vec<ModelRecord>,
    /// One entry per task head that ran.
    pub heads: Vec<HeadInfo>,
    /// The files the comments and articles were read from.
    pub input_files: Vec<InputFile>,
    /// Parameters of the aggregate metrics (filled by the writers from the aggregates).
    #[serde(default)]
    pub aggregation: AggregationInfo,
    /// Anything else the caller wants recorded (command line, thread count, …).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// A model by its hub id or local path, and the exact revision used.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelRecord {
    /// What the model does in the run, e.g. `encoder`.
    pub role: String,
    /// Hub id (`intfloat/multilingual-e5-small`) or local directory.
    pub id: String,
    /// Commit hash or content digest; `None` when unknown.
    pub revision: Option<String>,
}

/// One task head: its label set and decision thresholds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HeadInfo {
    /// Task name as `--tasks` spells it (`stance`, `sentiment`, `irony`, `toxicity`, `reply`).
    pub task: String,
    /// The labels, in the order of the head's outputs.
    pub labels: Vec<String>,
    /// Where the head's weights came from (file, digest or id).
    pub source: Option<String>,
    /// Decision thresholds by label (e.g. `ironic: 0.5`); empty for an argmax head.
    #[serde(default)]
    pub thresholds: BTreeMap<String, f64>,
    /// Offsets added to the log-probabilities by label before the argmax (a multi-class head
    /// calibrated with `stance calibrate`); empty when it decides by plain argmax.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub class_offsets: BTreeMap<String, f64>,
}

/// An input file as it was when read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InputFile {
    pub path: String,
    pub bytes: Option<u64>,
    pub sha256: Option<String>,
}

/// The parameters of the metrics that have one (see `stance_aggregate::metrics`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AggregationInfo {
    pub top_contested: usize,
    pub controversy_half_volume: f64,
}

impl Default for AggregationInfo {
    fn default() -> Self {
        AggregationInfo::from(&AggregateOptions::default())
    }
}

impl From<&AggregateOptions> for AggregationInfo {
    fn from(o: &AggregateOptions) -> Self {
        AggregationInfo {
            top_contested: o.top_contested,
            controversy_half_volume: o.controversy_half_volume,
        }
    }
}

impl RunInfo {
    /// The key of [`RunInfo::extra`] under which `stance classify` records its `--speed`: which
    /// built-in models ran, so the summaries can say it.
    pub const SPEED_KEY: &'static str = "speed";

    /// The `--speed` the run recorded, if any.
    pub fn speed(&self) -> Option<&str> {
        self.extra.get(Self::SPEED_KEY).and_then(|s| s.as_str())
    }

    /// The label set of each head, by task.
    pub fn label_sets(&self) -> BTreeMap<&str, &[String]> {
        self.heads
            .iter()
            .map(|h| (h.task.as_str(), h.labels.as_slice()))
            .collect()
    }

    /// The encoder's `id@revision`, or the first model's, for one-line summaries.
    pub fn model_line(&self) -> Option<String> {
        let model = self
            .models
            .iter()
            .find(|m| m.role == "encoder")
            .or_else(|| self.models.first())?;
        Some(match &model.revision {
            Some(rev) => format!("{}@{}", model.id, short_revision(rev)),
            None => model.id.clone(),
        })
    }
}

fn short_revision(rev: &str) -> &str {
    if rev.len() > 12 && rev.chars().all(|c| c.is_ascii_hexdigit()) {
        &rev[..12]
    } else {
        rev
    }
}
