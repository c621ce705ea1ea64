//! The classify run as one library call: **ingest → encode + heads → aggregate → write**.
//!
//! A [`ClassifyRequest`] is plain data (what the `stance classify` flags say, and what a Spark
//! task or a notebook would fill in); [`run`] does the whole job and returns an [`Outcome`].
//! Run keys, head lookup, the encoder check and the zero-shot NLI model live here, once.

use crate::checkpoint::{InputFingerprint, RunKey, WorkDir};
use crate::error::{ClassifyError, Result};
use crate::heads::HeadSet;
use crate::lock::OutputLock;
use crate::score::StageTimes;
use crate::spill::Spill;
use crate::zero_shot::{Templates, ZeroShotStance};
use stance_heads::model_encoder::{file_sha256, ModelEncoder};
use stance_heads::{HeadSource, TextEncoder};
use stance_core::Task;
use stance_ingest::{IngestOptions, InputSource, InputSpec, Summary};
use stance_model::batch::BatchOptions;
use stance_model::runtime::OpenModel;
use stance_model::source::{ModelRef, ResolveOptions};
use stance_model::tokenize::Truncation;
use stance_model::LoadOptions;
use stance_report::{HeadInfo, InputFile, ModelRecord, OutputOptions, RunInfo};
use polars::prelude::DataFrame;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The work directory inside the output directory; present only while a run is incomplete.
pub const WORK_DIR: &str = ".stance-work";

/// How to find, load and run a model.
#[derive(Debug, Clone)]
pub struct ModelChoice {
    pub reference: ModelRef,
    pub resolve: ResolveOptions,
    pub load: LoadOptions,
    pub truncation: Truncation,
    pub batch: BatchOptions,
}

/// Stance scored zero-shot by an NLI model instead of the stance head.
#[derive(Debug, Clone)]
pub struct ZeroShotRequest {
    pub model: ModelRef,
    /// Hypothesis templates by language (a JSON file); the built-in ones when `None`.
    pub templates: Option<PathBuf>,
    /// Score each stance on its own instead of one softmax across the three.
    pub multi_label: bool,
}

/// Where a run's results go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// Every output into this folder (comments, aggregates, reports, rejects), locked for the
    /// run, with checkpoints in `WORK_DIR` so a rerun resumes.
    Dir(PathBuf),
    /// Nothing written: the comments table comes back in [`Outcome::comments`], for a caller
    /// that streams it (a Spark task reading `stance classify --stdout`). No aggregates, no
    /// checkpoints, no lock: the chunks are scored exactly as for a folder.
    Memory,
}

/// Everything one classify run needs.
#[derive(Debug, Clone)]
pub struct ClassifyRequest {
    /// Comment and article inputs, read together.
    pub inputs: Vec<InputSpec>,
    pub ingest: IngestOptions,
    pub model: ModelChoice,
    /// Tasks to run, in output order.
    pub tasks: Vec<Task>,
    /// Heads other than the default ones, per task.
    pub heads: Vec<(Task, HeadSource)>,
    pub zero_shot: Option<ZeroShotRequest>,
    /// Measure stance toward this claim instead of the article's target (one article only).
    pub target: Option<String>,
    /// Comments per checkpointed chunk.
    pub chunk_size: usize,
    /// Add each head's raw scores to the comments table.
    pub logits: bool,
    pub out: Destination,
    /// Table formats and layout of a [`Destination::Dir`] run.
    pub output: OutputOptions,
    /// Discard the checkpoints of a different earlier run in `out` instead of refusing.
    pub fresh: bool,
    /// Recorded in `run.json` (e.g. the command line).
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// What a run reports while it goes.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// The inputs are read and validated.
    Ingested(&'a Summary),
    /// The models are loaded and scoring begins: what loading freed (its parse and conversion
    /// buffers) is not needed again.
    Loaded,
    /// A chunk's predictions are committed (or were found committed by an earlier run).
    Chunk(crate::ChunkProgress),
    /// Every comment is scored and the models are dropped: the memory they held is free (an
    /// allocator that keeps freed pages may hand them back now).
    Scored,
}

/// What one run did, and where its time went (what `stance bench` reports).
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub n_comments: usize,
    /// Comments whose predictions came from an earlier run's checkpoints.
    pub resumed: usize,
    /// Records rejected with an error (see `rejects.jsonl`).
    pub rejected: usize,
    pub tasks: Vec<Task>,
    /// The content of `summary.txt`.
    pub summary: String,
    pub read: Duration,
    pub load: Duration,
    pub scoring: StageTimes,
    pub aggregate: Duration,
    pub write: Duration,
    /// (hidden, intermediate) of the encoder's layers, for its FLOP count (with
    /// `scoring.layer_tokens`, which counts the layers each text ran).
    pub encoder_shape: (usize, usize),
    /// The arithmetic of the encoder's linears, and of each task's fine-tuned layers (as
    /// `run.json` records them: `compute`, `fine_tuned_compute`).
    pub compute: stance_model::Compute,
    pub fine_tuned_compute: Vec<(Task, Vec<stance_model::Compute>)>,
    /// The comments table with predictions, for a [`Destination::Memory`] run.
    pub comments: Option<DataFrame>,
}

/// Runs the whole job for `request`, writing every output into `request.out` (or returning
/// the comments table, for [`Destination::Memory`]).
///
/// Only one run may write an output folder at a time: a second one is refused while the first
/// holds the folder's lock. A killed run leaves its committed chunks in `out/.stance-work`;
/// the same request then resumes from them.
pub fn run(request: &ClassifyRequest, progress: &mut dyn FnMut(Event<'_>)) -> Result<Outcome> {
    if request.chunk_size == 0 {
        return Err(ClassifyError::Invalid("the chunk size must be at least 1".into()));
    }
    let _lock = match &request.out {
        Destination::Dir(out) => Some(OutputLock::acquire(out)?),
        Destination::Memory => None,
    };
    let zero_shot_stance = request.zero_shot.is_some() && request.tasks.contains(&Task::Stance);
    let head_sources: Vec<(Task, HeadSource)> = request
        .tasks
        .iter()
        .filter(|t| !(zero_shot_stance && **t == Task::Stance))
        .map(|&task| {
            let chosen = request.heads.iter().rev().find(|(t, _)| *t == task);
            (task, chosen.map_or(HeadSource::Default, |(_, source)| source.clone()))
        })
        .collect();
    if let Some((task, _)) = request.heads.iter().find(|(t, _)| !request.tasks.contains(t)) {
        return Err(ClassifyError::Invalid(format!("a head is given for {task}, which is not among the tasks of this run")));
    }

    let clock = Instant::now();
    let ingested = stance_ingest::read_inputs(&request.inputs, &request.ingest)?;
    if request.target.is_some() && ingested.articles.len() > 1 {
        return Err(ClassifyError::Invalid(format!(
            "a target applies to a single article, but the input has {} articles: give each article its own `target` instead",
            ingested.articles.len()
        )));
    }
    progress(Event::Ingested(&ingested.summary));
    let inputs = fingerprint_inputs(&request.inputs)?;
    // The comments go to disk before the model loads, and the records are dropped: from here on
    // memory holds a chunk of comments at a time, however big the archive.
    let spill_dir = match &request.out {
        Destination::Dir(out) => Some(out.join(WORK_DIR).join("input")),
        Destination::Memory => None,
    };
    let spill = Spill::write(
        spill_dir.as_deref(),
        &ingested.comments,
        &ingested.articles,
        request.target.as_deref(),
        request.chunk_size,
    )?;
    let rejected = ingested.error_count();
    // The records are bound by name and dropped here, before the model loads: fields that a
    // `..` pattern leaves out stay owned by `ingested` until the end of the function.
    let stance_ingest::Ingested { articles, rejects, comments, summary: _ } = ingested;
    drop(comments);
    let read = clock.elapsed();

    let clock = Instant::now();
    // The heads and cross-encoders (parsed, hashed, built) load beside the encoder: loading
    // was serial work while a core stood idle (0.67 s of a 9.6 s run of 1,000 comments). The
    // peak memory of one run is unchanged. (A second run in the same process would load onto
    // memory the allocator still holds from the first: `stance bench` gives each run its own.)
    // The cross-encoders move to their arithmetic as they load (`HeadSet::load`), taking the
    // one asked for the encoder. The encoder runs in it unless its weights say otherwise (float
    // weights take int16 for int8); then the models load again.
    let asked = request.model.load.compute;
    let (opened, heads) = std::thread::scope(|scope| {
        let heads = scope.spawn(|| HeadSet::load(&head_sources, Some(asked)));
        let opened = open_model(&request.model.reference, &request.model);
        (opened, heads.join().expect("loading the heads does not panic"))
    });
    let opened = opened?;
    let encoder = ModelEncoder::new(&opened, request.model.truncation, request.model.batch)?;
    let mut heads = heads?;
    heads.check_encoder(&encoder.id())?;
    if opened.info.compute != asked {
        heads = HeadSet::load(&head_sources, None)?;
    }
    heads.run_cross_encoders_in(opened.info.compute)?;
    let nli = match (&request.zero_shot, zero_shot_stance) {
        (Some(zs), true) => {
            let templates = match &zs.templates {
                Some(path) => Templates::with_file(path)?,
                None => Templates::default(),
            };
            Some((open_model(&zs.model, &request.model)?, templates, zs.multi_label))
        }
        _ => None,
    };
    let zero_shot = nli.as_ref().map(|(opened, templates, multi_label)| ZeroShotStance {
        model: &opened.model,
        templates: templates.clone(),
        multi_label: *multi_label,
        batch: request.model.batch,
    });
    let load = clock.elapsed();
    progress(Event::Loaded);

    let key = RunKey {
        stance_version: env!("CARGO_PKG_VERSION").to_string(),
        inputs: inputs.clone(),
        encoder: encoder.cache_id(),
        heads: heads
            .models
            .iter()
            .map(|m| (m.task().name().to_string(), m.sha256().to_string()))
            .chain(nli.as_ref().map(|(opened, templates, multi_label)| {
                let weights = file_sha256(&opened.resolved.files.weights).unwrap_or_default();
                let templates = serde_json::to_string(templates).unwrap_or_default();
                ("stance".to_string(), format!("nli {weights}; multi_label {multi_label}; templates {templates}"))
            }))
            .collect(),
        target: request.target.clone(),
        logits: request.logits,
        chunk_size: request.chunk_size,
        n_comments: spill.n_comments(),
    };
    // Standard input cannot be fingerprinted, so a run that reads it never resumes.
    let fresh = request.fresh || inputs.iter().any(|i| i.sha256.is_empty());
    let work = match &request.out {
        Destination::Dir(out) => WorkDir::open(&out.join(WORK_DIR), key, fresh)?,
        Destination::Memory => WorkDir::memory(key)?,
    };

    let mut resumed = 0;
    let times = crate::classify(&spill, &encoder, &heads, &work, zero_shot.as_ref(), &mut |p| {
        if p.resumed {
            resumed = p.done;
        }
        progress(Event::Chunk(p));
    })?;

    let config = &opened.model.config;
    let mut outcome = Outcome {
        n_comments: spill.n_comments(),
        resumed,
        rejected,
        tasks: request.tasks.clone(),
        read,
        load,
        scoring: times,
        encoder_shape: (config.hidden_size, config.intermediate_size),
        compute: opened.info.compute,
        fine_tuned_compute: heads.fine_tuned_computes(),
        ..Outcome::default()
    };
    let run = run_info(&opened, nli.as_ref().map(|(o, _, m)| (o, *m)), &heads, &inputs, request);
    // The models are done with: their memory goes before the aggregates and writers take theirs.
    drop(zero_shot);
    drop((encoder, heads));
    drop((nli, opened));
    progress(Event::Scored);

    let comments = crate::ClassifiedComments { spill: &spill, work: &work };
    let out = match &request.out {
        Destination::Dir(out) => out,
        Destination::Memory => {
            outcome.comments = Some(stance_report::concat_chunks(&comments)?);
            return Ok(outcome);
        }
    };

    let clock = Instant::now();
    let overview = comments.overview()?;
    let articles = stance_ingest::articles_frame(&articles)?;
    let aggregates = stance_aggregate::aggregate(&overview, &articles, &stance_aggregate::AggregateOptions::default())?;
    outcome.aggregate = clock.elapsed();

    let clock = Instant::now();
    let written = stance_report::write_outputs_chunked(out, &comments, &overview, &aggregates, &run, &request.output)?;
    stance_ingest::write_rejects(&out.join("rejects.jsonl"), &rejects)?;
    drop(spill);
    work.remove()?;
    outcome.write = clock.elapsed();
    outcome.summary = written.summary;
    Ok(outcome)
}

fn open_model(reference: &ModelRef, choice: &ModelChoice) -> Result<OpenModel> {
    stance_model::runtime::open(reference, &choice.resolve, &choice.load)
        .map_err(|source| ClassifyError::Model { model: reference.to_string(), source })
}

/// Fingerprints of the input files (stdin has none: it cannot be resumed against).
fn fingerprint_inputs(inputs: &[InputSpec]) -> Result<Vec<InputFingerprint>> {
    inputs
        .iter()
        .map(|spec| match &spec.source {
            InputSource::Path(path) => InputFingerprint::of(path),
            _ => Ok(InputFingerprint { path: spec.display_name(), bytes: 0, sha256: String::new() }),
        })
        .collect()
}

/// A task's model as `run.json` and `stance models info` describe it: task, labels, where it
/// came from, and its decision rules.
pub fn head_info(m: &crate::heads::TaskModel) -> HeadInfo {
    HeadInfo {
        task: m.task().name().to_string(),
        labels: m.labels().to_vec(),
        source: Some(m.describe()),
        thresholds: scoped(m, |d| d.thresholds.iter().flat_map(threshold_entries).collect()),
        class_offsets: scoped(m, |d| d.class_offsets.iter().flat_map(|o| o.by_label.clone()).collect()),
    }
}

/// A head's thresholds as `run.json` lists them: `toxic` for the default, `toxic@fr` per language.
fn threshold_entries(t: &stance_heads::Thresholds) -> Vec<(String, f64)> {
    std::iter::once((t.flag.clone(), t.default))
        .chain(t.by_lang.iter().map(|(lang, v)| (format!("{}@{lang}", t.flag), *v)))
        .collect()
}

/// The entries of `m`'s decision rules, as `entries` lists one rule's; a route's keys are
/// named after the rows they decide (`with_context: ironic@fr`, `alone: ironic`).
fn scoped(
    m: &crate::heads::TaskModel,
    entries: impl Fn(&stance_heads::DecisionRule) -> Vec<(String, f64)>,
) -> std::collections::BTreeMap<String, f64> {
    let scope = |name: &str, key: String| if name.is_empty() { key } else { format!("{name}: {key}") };
    m.decision_rules().into_iter().flat_map(|(name, rule)| entries(rule).into_iter().map(move |(k, v)| (scope(name, k), v))).collect()
}

/// A task's fine-tuned layers' arithmetic as `run.json` and `stance bench` name it: `bf16`, or
/// `int8 and bf16` where its cross-encoders differ.
pub fn computes_name(computes: &[stance_model::Compute]) -> String {
    computes.iter().map(|c| c.name()).collect::<Vec<_>>().join(" and ")
}

/// A model as `run.json` names it: hub id and revision, or folder.
fn model_record(role: &str, opened: &OpenModel) -> ModelRecord {
    let (id, revision) = match &opened.resolved.origin {
        stance_model::source::Origin::Folder(path) => (path.display().to_string(), None),
        stance_model::source::Origin::HubCache { repo, revision, .. } => (repo.clone(), Some(revision.clone())),
    };
    ModelRecord { role: role.into(), id, revision }
}

fn run_info(
    opened: &OpenModel,
    nli: Option<(&OpenModel, bool)>,
    heads: &HeadSet,
    inputs: &[InputFingerprint],
    request: &ClassifyRequest,
) -> RunInfo {
    let mut extra = request.extra.clone();
    extra.insert("target".into(), serde_json::json!(request.target));
    extra.insert("truncate".into(), serde_json::json!(request.model.truncation.to_string()));
    extra.insert("quantized_matmul".into(), serde_json::json!(opened.info.quantized_matmul));
    extra.insert("compute".into(), serde_json::json!(opened.info.compute.name()));
    // Which weights, as stored and as read (a full-precision copy rounded to Q4_0 at load).
    extra.insert("weights".into(), serde_json::json!(opened.info.description()));
    let fine_tuned: serde_json::Map<String, serde_json::Value> = (heads.fine_tuned_computes().iter())
        .map(|(task, computes)| (task.name().to_string(), computes_name(computes).into()))
        .collect();
    if !fine_tuned.is_empty() {
        extra.insert("fine_tuned_compute".into(), fine_tuned.into());
    }
    RunInfo {
        stance_version: env!("CARGO_PKG_VERSION").to_string(),
        models: std::iter::once(model_record("encoder", opened))
            .chain(nli.map(|(nli, _)| model_record("stance (zero-shot NLI)", nli)))
            .collect(),
        heads: heads
            .models
            .iter()
            .map(head_info)
            .chain(nli.map(|(_, multi_label)| HeadInfo {
                task: "stance".into(),
                labels: crate::zero_shot::LABELS.iter().map(|l| l.to_string()).collect(),
                source: Some(format!("zero-shot NLI, multi_label {multi_label}")),
                thresholds: Default::default(),
                class_offsets: Default::default(),
            }))
            .collect(),
        input_files: inputs
            .iter()
            .map(|i| InputFile { path: i.path.clone(), bytes: Some(i.bytes), sha256: Some(i.sha256.clone()).filter(|s| !s.is_empty()) })
            .collect(),
        extra,
        ..RunInfo::default()
    }
}
