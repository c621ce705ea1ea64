//! Training: data → cached bottom states → length-sorted token-budget batches → AdamW on the
//! top layers, segment embedding and classifier, with early stopping on validation macro-F1,
//! checkpoints that a rerun resumes from, and temperature scaling at the end.

use crate::error::{Result, TuneError};
use crate::layer;
use crate::model::{CrossEncoder, PairBatch, TunedMeta, FORMAT};
use crate::optim::{AdamW, AdamWConfig};
use crate::states::StateStore;
use candle_core::{DType, Device, Tensor};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use stance_heads::rng::SeededRng;
use stance_heads::data::TaskInput;
use stance_heads::{DecisionRule, Dataset, EvalOptions, Evaluation, Example, Task};
use stance_model::batch::head_and_tail_rows;
use stance_model::runtime::TextModel;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The labels of a task's cross-encoder, in output order: the catalogue's (for a flag task
/// the flag first, then `other`).
pub fn task_labels(task: Task) -> Vec<String> {
    task.model_labels().iter().map(|s| s.to_string()).collect()
}

/// Training options. The defaults are the shipped stance model's.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TuneConfig {
    pub top_layers: usize,
    pub context_tokens: usize,
    pub comment_tokens: usize,
    pub epochs: usize,
    /// Learning rate of the encoder's top layers.
    pub lr: f64,
    /// Learning rate of the new parameters (segment embedding, classifier).
    pub head_lr: f64,
    pub weight_decay: f64,
    /// Share of all steps spent warming the learning rate up (then linear decay to 0).
    pub warmup: f64,
    /// Most padded positions (rows × longest pair) per training batch.
    pub batch_tokens: usize,
    /// Rows kept of each training file at most (a seeded sample), so big sources do not swamp
    /// the small ones or the time budget.
    pub max_per_source: Option<usize>,
    /// Rows kept of each validation file at most.
    pub max_valid_per_source: Option<usize>,
    pub dropout: f64,
    pub patience: usize,
    pub seed: u64,
    /// Save a checkpoint every this many steps (and at every epoch's end).
    pub checkpoint_every: usize,
    /// Stop each epoch after this many steps (smoke runs).
    pub max_steps_per_epoch: Option<usize>,
}

impl Default for TuneConfig {
    fn default() -> Self {
        TuneConfig {
            top_layers: 2,
            context_tokens: 64,
            comment_tokens: 192,
            epochs: 4,
            lr: 5e-5,
            head_lr: 1e-3,
            weight_decay: 0.01,
            warmup: 0.06,
            batch_tokens: 4096,
            max_per_source: Some(6000),
            max_valid_per_source: Some(1200),
            dropout: 0.1,
            patience: 2,
            seed: 13,
            checkpoint_every: 200,
            max_steps_per_epoch: None,
        }
    }
}

/// What to train on and where.
pub struct TuneRequest<'a> {
    pub task: Task,
    pub model: &'a TextModel,
    /// The encoder id (`stance-heads`' `ModelEncoder::id`): recorded in the model.
    pub encoder_id: String,
    /// Everything that changes a state (the encoder's cache id): keys the state cache.
    pub cache_key: String,
    pub train: Vec<Dataset>,
    pub valid: Vec<Dataset>,
    pub out: PathBuf,
    /// States cache and checkpoints (kept after the run; delete to start afresh).
    pub work: PathBuf,
    pub config: TuneConfig,
    /// Recorded in the model's training record.
    pub command: String,
    pub quiet: bool,
    /// Train no further: finish from the checkpoint's best epoch (temperature, save). For
    /// stopping a long run early; the training record says how many epochs ran.
    pub finish: bool,
    /// End after this many epochs, the learning rate still following the schedule of
    /// `config.epochs` (the record of a run that `finish` cut short, made repeatable).
    pub stop_after: Option<usize>,
    /// A saved model of the same encoder and depth to start from (its layers, segment
    /// embedding, classifier and standardisation) instead of the encoder's layers and a fresh
    /// classifier: training further on more data without repeating the first run. Its task is
    /// this one, or one whose labels this task maps to its own in order (stance for reply).
    pub init: Option<PathBuf>,
    /// A second task trained at once on the same layers (multi-task): its own classifier,
    /// training and validation data, saved as a model of its own. Early stopping takes the
    /// mean of the two tasks' validation means.
    pub also: Option<AlsoTask>,
}

/// The second task of a multi-task run ([`TuneRequest::also`]).
pub struct AlsoTask {
    pub task: Task,
    pub train: Vec<Dataset>,
    pub valid: Vec<Dataset>,
    /// Where its model is saved.
    pub out: PathBuf,
}

/// One training row, its texts as keys of the state store; no context for a single-text task.
#[derive(Debug, Clone)]
struct Item {
    context: Option<String>,
    text: String,
    /// 0: the run's task, 1: the second task of a multi-task run.
    head: usize,
    label: usize,
    weight: f32,
    len: usize,
}

impl Item {
    /// The row's (context, comment) states cut to the budgets; the context is empty without one.
    fn states(&self, store: &StateStore, hidden: usize, cfg: &TuneConfig) -> (Vec<f32>, Vec<f32>) {
        let cut = |text: &str, budget: usize| head_and_tail_rows(&store.get(text).expect("stored"), hidden, budget);
        let context = self.context.as_deref().map_or_else(Vec::new, |c| cut(c, cfg.context_tokens));
        (context, cut(&self.text, cfg.comment_tokens))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub mean_loss: f64,
    /// Validation macro-F1 (in %) per validation file, in the order given.
    pub valid: Vec<(String, f64)>,
    pub score: f64,
    pub seconds: f64,
}

/// Progress saved with each checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Progress {
    fingerprint: String,
    epoch: usize,
    step: usize,
    loss_sum: f64,
    loss_n: usize,
    best_score: f64,
    best_epoch: Option<usize>,
    bad_epochs: usize,
    history: Vec<EpochRecord>,
    seconds: f64,
    done: bool,
}

/// What a finished run reports.
#[derive(Debug, Clone)]
pub struct TuneReport {
    pub history: Vec<EpochRecord>,
    pub best_epoch: usize,
    pub best_score: f64,
    pub temperature: f64,
    pub seconds: f64,
    pub train_rows: Vec<(String, usize)>,
}

fn hash_hex(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    h.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// The model `--init` names, checked against the run, and an id of its weights for the
/// checkpoint's fingerprint.
fn start_model(dir: &Path, req: &TuneRequest, labels: &[String]) -> Result<(CrossEncoder, String)> {
    let start = CrossEncoder::load(dir)?;
    let m = &start.meta;
    let differs = |what: &str, theirs: String, ours: String| {
        TuneError::Invalid(format!("{}: the model to start from has {what} {theirs}, this run {ours}", dir.display()))
    };
    // Another task's model may start this one when this task reads its labels as its own, in
    // the same order: a stance model starts a reply model (favor → agree, against → disagree,
    // none → none), the relation of an answer to its target carrying over to a reply's to its
    // parent. Other tasks' labels do not map, so they are refused as before.
    if !starts_with_labels(req.task, &m.labels, labels) {
        let theirs = format!("{} ({})", m.labels.join(","), m.task);
        return Err(differs("labels", theirs, labels.join(",")));
    }
    if m.encoder != req.encoder_id {
        return Err(differs("encoder", m.encoder.clone(), req.encoder_id.clone()));
    }
    if m.top_layers != req.config.top_layers {
        return Err(differs("top layers", m.top_layers.to_string(), req.config.top_layers.to_string()));
    }
    let weights = dir.join(crate::model::WEIGHTS_FILE);
    let bytes = std::fs::read(&weights).map_err(|e| TuneError::io(&weights, e))?;
    Ok((start, stance_heads::source::sha256_hex(&bytes)))
}

/// Whether a model with `theirs` as labels can start a `task` model with `ours`: `task` reads
/// each of theirs as its own, in order (see [`start_model`]).
fn starts_with_labels(task: Task, theirs: &[String], ours: &[String]) -> bool {
    theirs.len() == ours.len() && theirs.iter().zip(ours).all(|(t, o)| &task.map_label(t) == o)
}

/// A seeded sample of at most `cap` examples, kept in file order.
fn sample(examples: &[Example], cap: Option<usize>, seed: u64, spec: &str) -> Vec<Example> {
    match cap {
        Some(cap) if examples.len() > cap => {
            let mut idx: Vec<usize> = (0..examples.len()).collect();
            let salt = u64::from_str_radix(&hash_hex(&[spec]), 16).unwrap_or(0);
            SeededRng::new(seed ^ salt).shuffle(&mut idx);
            idx.truncate(cap);
            idx.sort_unstable();
            idx.into_iter().map(|i| examples[i].clone()).collect()
        }
        _ => examples.to_vec(),
    }
}

/// Scores over the labels the gold data has when that is a strict subset of the model's
/// (X-Stance: favor/against only), else over all: the rule every validation uses.
pub fn eval_options(labels: &[String], examples: &[Example]) -> EvalOptions {
    let present: Vec<String> = labels
        .iter()
        .filter(|l| examples.iter().any(|e| &e.label == *l))
        .cloned()
        .collect();
    EvalOptions {
        only_labels: if present.len() < labels.len() && present.len() >= 2 { Some(present) } else { None },
        by_lang: false,
    }
}

/// Probabilities for `examples` from states in `store` (context = `example.context`).
pub fn predict_examples(
    model: &CrossEncoder,
    store: &StateStore,
    examples: &[Example],
    batch_tokens: usize,
) -> Result<Vec<Vec<f32>>> {
    let states: Vec<(Vec<f32>, Vec<f32>)> = examples
        .iter()
        .map(|e| {
            let get = |t: &str| {
                store
                    .get(t)
                    .ok_or_else(|| TuneError::Invalid(format!("no states for text `{}`", t.chars().take(40).collect::<String>())))
            };
            let context = match &e.context {
                Some(c) => get(c)?,
                None => Vec::new(),
            };
            Ok((context, get(&e.text)?))
        })
        .collect::<Result<_>>()?;
    let refs: Vec<(&[f32], &[f32])> = states.iter().map(|(a, b)| (&a[..], &b[..])).collect();
    model.predict(&refs, batch_tokens)
}

/// Computes the states of every text of `sets` (contexts and comments).
pub fn build_store(
    model: &TextModel,
    sets: &[&[Example]],
    n_layers: usize,
    keep: usize,
    cache_dir: Option<&Path>,
    key: &str,
    quiet: bool,
) -> Result<StateStore> {
    let mut texts: Vec<&str> = Vec::new();
    for set in sets {
        for e in set.iter() {
            texts.push(&e.text);
            if let Some(c) = &e.context {
                texts.push(c);
            }
        }
    }
    let bar = progress_bar(0, "encoder states", quiet);
    let store = StateStore::build(
        model,
        &texts,
        n_layers,
        keep,
        stance_model::batch::DEFAULT_BATCH_TOKENS,
        cache_dir,
        key,
        &|done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        },
    )?;
    bar.finish_and_clear();
    Ok(store)
}

pub fn progress_bar(len: usize, what: &str, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64);
    if let Ok(style) = ProgressStyle::with_template("{msg} {bar:30} {pos}/{len} {per_sec} [{elapsed} < {eta}]") {
        bar.set_style(style);
    }
    bar.set_message(what.to_string());
    bar
}

/// Scores `model` on each set: macro-F1 per [`eval_options`].
pub fn evaluate_sets(
    model: &CrossEncoder,
    store: &StateStore,
    sets: &[(String, Vec<Example>)],
    batch_tokens: usize,
) -> Result<Vec<(String, Evaluation)>> {
    sets.iter()
        .map(|(name, examples)| {
            let probs = predict_examples(model, store, examples, batch_tokens)?;
            let opts = eval_options(model.labels(), examples);
            Ok((name.clone(), stance_heads::evaluate_examples(model.labels(), examples, &probs, &opts)?))
        })
        .collect()
}

/// The temperature (from a grid of 0.5–5) that minimises the negative log-likelihood of the
/// gold labels under `logits / T`.
pub fn fit_temperature(logits: &[Vec<f32>], gold: &[usize]) -> f64 {
    let nll = |t: f64| -> f64 {
        logits
            .iter()
            .zip(gold)
            .map(|(row, &g)| {
                let max = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
                let lse = row.iter().map(|&z| ((z as f64 - max) / t).exp()).sum::<f64>().ln();
                lse - (row[g] as f64 - max) / t
            })
            .sum()
    };
    let mut best = (1.0, nll(1.0));
    for i in 0..=90 {
        let t = 0.5 + 0.05 * i as f64;
        let v = nll(t);
        if v < best.1 {
            best = (t, v);
        }
    }
    best.0
}

fn lr_factor(step: usize, total: usize, warmup: usize) -> f64 {
    if step < warmup {
        (step + 1) as f64 / warmup.max(1) as f64
    } else {
        ((total - step.min(total)) as f64 / (total - warmup).max(1) as f64).max(0.0)
    }
}

/// Cross-entropy of `logits` against one-hot `gold`, each row weighted, normalised by the
/// weights' sum.
pub fn weighted_loss(logits: &Tensor, gold: &[usize], weights: &[f32]) -> Result<Tensor> {
    let (b, l) = logits.dims2()?;
    let mut onehot = vec![0f32; b * l];
    for (r, &g) in gold.iter().enumerate() {
        onehot[r * l + g] = 1.0;
    }
    let onehot = Tensor::from_vec(onehot, (b, l), logits.device())?;
    let w = Tensor::from_slice(weights, b, logits.device())?;
    let picked = (layer::log_softmax(logits)? * onehot)?.sum(1)?;
    let total: f32 = weights.iter().sum();
    Ok(((picked * w)?.sum_all()? * (-1.0 / total as f64))?)
}

/// The loss of a multi-task batch: each row's cross-entropy under its own task's classifier
/// (`heads[r]` indexes `models`), weighted and normalised by all rows' weights together, as
/// [`weighted_loss`] normalises one task's.
pub fn two_task_loss(
    pooled: &Tensor,
    models: [&CrossEncoder; 2],
    heads: &[usize],
    gold: &[usize],
    weights: &[f32],
) -> Result<Tensor> {
    let total: f32 = weights.iter().sum();
    let mut loss: Option<Tensor> = None;
    for (head, model) in models.into_iter().enumerate() {
        let rows: Vec<u32> = (0..heads.len() as u32).filter(|&r| heads[r as usize] == head).collect();
        if rows.is_empty() {
            continue;
        }
        let index = Tensor::from_slice(&rows, rows.len(), pooled.device())?;
        let logits = model.classify(&pooled.index_select(&index, 0)?)?;
        let gold: Vec<usize> = rows.iter().map(|&r| gold[r as usize]).collect();
        let weights: Vec<f32> = rows.iter().map(|&r| weights[r as usize]).collect();
        let share = weights.iter().sum::<f32>() / total;
        let part = (weighted_loss(&logits, &gold, &weights)? * share as f64)?;
        loss = Some(match loss {
            Some(sum) => (sum + part)?,
            None => part,
        });
    }
    loss.ok_or_else(|| TuneError::Invalid("a batch without rows".into()))
}

/// Inverted dropout mask `[rows, cols]` from a seeded generator.
fn dropout_mask(rows: usize, cols: usize, p: f64, rng: &mut SeededRng) -> Result<Tensor> {
    let keep = 1.0 - p;
    let v: Vec<f32> = (0..rows * cols)
        .map(|_| if rng.next_f64() < keep { (1.0 / keep) as f32 } else { 0.0 })
        .collect();
    Ok(Tensor::from_vec(v, (rows, cols), &Device::Cpu)?)
}

/// Training pairs whose pooled vectors set the standardisation.
const STANDARDISATION_ROWS: usize = 4096;

/// At most `k` indices of `0..n`, evenly spread over all of it. The items are in source order,
/// so a sample that stops short of the end leaves the last sources out. It did (a whole stride
/// of rows taken from the front, until 2026-12-03): irony's MultiPICo rows, the only ones with
/// a context, came last, the context half measured all zero had its spread floored at 1e-3, and
/// their contexts, divided by it, drove the training loss to 10.
fn spread(n: usize, k: usize) -> Vec<usize> {
    let k = k.min(n);
    (0..k).map(|i| i * n / k).collect()
}

/// Trains a cross-encoder and saves it into `request.out`. A rerun with the same request
/// resumes from the last checkpoint in `request.work`.
pub fn tune(req: &TuneRequest) -> Result<TuneReport> {
    let cfg = &req.config;
    let labels = task_labels(req.task);
    // Each task's labels by head: 0 the run's task, 1 a multi-task run's second one.
    let head_labels: Vec<Vec<String>> =
        std::iter::once(labels.clone()).chain(req.also.as_ref().map(|a| task_labels(a.task))).collect();
    let bert = req
        .model
        .network()
        .as_bert()
        .ok_or_else(|| TuneError::Invalid("the cross-encoder needs a BERT-family encoder".into()))?;
    let n_layers = bert.num_layers();
    if cfg.top_layers == 0 || cfg.top_layers > n_layers {
        return Err(TuneError::Invalid(format!("--top-layers must be 1..={n_layers}")));
    }
    let bottom = n_layers - cfg.top_layers;
    let hidden = req.model.config.hidden_size;
    let say = |s: String| {
        if !req.quiet {
            eprintln!("stance tune: {s}");
        }
    };

    // Data: seeded samples, label checks, class weights balanced within each source.
    // Each file's seeded sample of at most `cap` rows, with its spec.
    let sampled = |sets: &[Dataset], cap: Option<usize>| -> Vec<(String, Vec<Example>)> {
        sets.iter().map(|d| (d.spec.clone(), sample(&d.examples, cap, cfg.seed, &d.spec))).collect()
    };
    // Training sets with the head they train.
    let mut train_sets: Vec<(String, Vec<Example>, usize)> =
        sampled(&req.train, cfg.max_per_source).into_iter().map(|(s, e)| (s, e, 0)).collect();
    let valid_sets = sampled(&req.valid, cfg.max_valid_per_source);
    let mut also_valid = Vec::new();
    if let Some(also) = &req.also {
        train_sets.extend(sampled(&also.train, cfg.max_per_source).into_iter().map(|(s, e)| (s, e, 1)));
        also_valid = sampled(&also.valid, cfg.max_valid_per_source);
    }
    let checked = train_sets
        .iter()
        .map(|(spec, ex, head)| (spec, ex, *head))
        .chain(valid_sets.iter().map(|(spec, ex)| (spec, ex, 0)))
        .chain(also_valid.iter().map(|(spec, ex)| (spec, ex, 1)));
    for (spec, ex, head) in checked {
        let labels = &head_labels[head];
        if ex.is_empty() {
            return Err(TuneError::Invalid(format!("{spec}: no rows")));
        }
        if let Some(e) = ex.iter().find(|e| !labels.contains(&e.label)) {
            return Err(TuneError::Invalid(format!("{spec}: label `{}` is not one of {}", e.label, labels.join(", "))));
        }
    }
    let train_rows: Vec<(String, usize)> = train_sets.iter().map(|(s, e, _)| (s.clone(), e.len())).collect();
    for (s, n) in &train_rows {
        say(format!("train {s}: {n} rows"));
    }

    // `epochs`, `patience` and `checkpoint_every` may change on resume: a run can be extended
    // (the learning-rate schedule is recomputed for the new length) or cut short.
    let fixed = TuneConfig { epochs: 0, patience: 0, checkpoint_every: 0, ..cfg.clone() };
    let init = req.init.as_deref().map(|dir| start_model(dir, req, &labels)).transpose()?;
    let mut fingerprint = hash_hex(&[
        &serde_json::to_string(&fixed).unwrap_or_default(),
        &req.cache_key,
        &train_rows.iter().map(|(s, n)| format!("{s}={n}")).collect::<Vec<_>>().join(";"),
        &valid_sets.iter().map(|(s, e)| format!("{s}={}", e.len())).collect::<Vec<_>>().join(";"),
        req.task.name(),
    ]);
    if let Some((_, id)) = &init {
        fingerprint = hash_hex(&[&fingerprint, id]);
    }
    if let Some(also) = &req.also {
        let rows = also_valid.iter().map(|(s, e)| format!("{s}={}", e.len())).collect::<Vec<_>>().join(";");
        fingerprint = hash_hex(&[&fingerprint, also.task.name(), &rows]);
    }

    std::fs::create_dir_all(&req.work).map_err(|e| TuneError::io(&req.work, e))?;
    let keep = cfg.context_tokens.max(cfg.comment_tokens);
    let all: Vec<&[Example]> = train_sets
        .iter()
        .map(|(_, e, _)| &e[..])
        .chain(valid_sets.iter().chain(&also_valid).map(|(_, e)| &e[..]))
        .collect();
    let t0 = Instant::now();
    let store = build_store(req.model, &all, bottom, keep, Some(&req.work.join("states")), &req.cache_key, req.quiet)?;
    let states_seconds = t0.elapsed().as_secs_f64();
    say(format!("states of {} distinct texts ready ({states_seconds:.0} s)", store.len()));

    let rows_of = |t: &str, budget: usize| store.rows(t).unwrap_or(0).min(budget);
    let mut items: Vec<Item> = Vec::new();
    for (_, ex, head) in &train_sets {
        let labels = &head_labels[*head];
        let mut counts = vec![0usize; labels.len()];
        for e in ex {
            counts[labels.iter().position(|l| *l == e.label).expect("checked")] += 1;
        }
        let present = counts.iter().filter(|&&c| c > 0).count();
        for e in ex {
            let label = labels.iter().position(|l| *l == e.label).expect("checked");
            let context_rows = e.context.as_deref().map_or(0, |c| rows_of(c, cfg.context_tokens));
            items.push(Item {
                weight: ex.len() as f32 / (present * counts[label]) as f32,
                len: context_rows + rows_of(&e.text, cfg.comment_tokens),
                context: e.context.clone(),
                text: e.text.clone(),
                head: *head,
                label,
            });
        }
    }
    let mean_w = items.iter().map(|i| i.weight as f64).sum::<f64>() / items.len() as f64;
    for i in &mut items {
        i.weight /= mean_w as f32;
    }
    let lengths: Vec<usize> = items.iter().map(|i| i.len).collect();
    let batches = stance_model::batch::plan(&lengths, cfg.batch_tokens);
    let steps_per_epoch = cfg.max_steps_per_epoch.map_or(batches.len(), |m| m.min(batches.len()));
    let total_steps = steps_per_epoch * cfg.epochs;
    let warmup = (cfg.warmup * total_steps as f64).round() as usize;
    say(format!(
        "{} training pairs in {} batches per epoch; {} epochs at most; top {} of {} layers",
        items.len(),
        batches.len(),
        cfg.epochs,
        cfg.top_layers,
        n_layers
    ));

    // Model and optimiser, fresh or from the checkpoint.
    let layers = (bottom..n_layers)
        .map(|i| {
            let w = bert.layer_weights(i)?;
            crate::layer::param_list(&w).map_err(|n| TuneError::Invalid(format!("encoder layer {i} has no `{n}`")))
        })
        .collect::<Result<Vec<_>>>()?;
    let w0 = bert.layer_weights(0)?;
    let meta = TunedMeta {
        format: FORMAT.into(),
        task: req.task.name().into(),
        labels: labels.clone(),
        encoder: req.encoder_id.clone(),
        encoder_layers: n_layers,
        bottom_layers: bottom,
        top_layers: cfg.top_layers,
        hidden,
        heads: w0.heads,
        eps: w0.eps,
        prefix: req.model.prefix(stance_model::embed::EmbedMode::Query).to_string(),
        context_tokens: cfg.context_tokens,
        comment_tokens: cfg.comment_tokens,
        temperature: 1.0,
        reads_parent: req.task.input() == TaskInput::Comment
            && train_sets.iter().any(|(_, ex, head)| *head == 0 && ex.iter().any(|e| e.context.is_some())),
        shared_layers: req.also.as_ref().map(|_| fingerprint.clone()),
        int8_layers: false,
        decision: DecisionRule::default(),
        training: serde_json::Value::Null,
    };
    let mut init_rng = SeededRng::new(cfg.seed);
    let mut model = CrossEncoder::new(meta, &layers, &mut || init_rng.normal())?;
    if let Some((start, _)) = &init {
        model.take_weights_of(start)?;
    }
    let ckpt = req.work.join("checkpoint");
    let best_dir = req.work.join("best");
    let state_path = ckpt.join("progress.json");
    // Standardise the pooled vector with statistics of (up to) `STANDARDISATION_ROWS` training
    // pairs under the initial weights (deterministic, so a resumed run recomputes the same
    // buffers). The classifier starts small and random and learns at `head_lr`: a linear probe
    // fitted first (tried on 2026-12-02) overfitted its 4,096 pairs (loss 0.66 there, 1.45 on
    // other training pairs) and left fine-tuning to climb back to chance. A model started from
    // another keeps that one's standardisation, which its classifier was trained with.
    if init.is_none() {
        let chosen = spread(items.len(), STANDARDISATION_ROWS);
        let lens: Vec<usize> = chosen.iter().map(|&i| items[i].len).collect();
        let mut pooled = Vec::new();
        for group in stance_model::batch::plan(&lens, cfg.batch_tokens * 2) {
            let states: Vec<(Vec<f32>, Vec<f32>)> =
                group.iter().map(|&g| items[chosen[g]].states(&store, hidden, cfg)).collect();
            let refs: Vec<(&[f32], &[f32])> = states.iter().map(|(a, b)| (&a[..], &b[..])).collect();
            pooled.push(model.pooled_tracked(&PairBatch::new(&refs, hidden, &Device::Cpu)?, false)?);
        }
        model.set_standardisation(&Tensor::cat(&pooled, 0)?)?;
    }
    // A multi-task run's second model shares the layers, segment and standardisation just set.
    let also_model = match &req.also {
        Some(also) => Some(model.sibling(also.task.name(), head_labels[1].clone(), &mut || init_rng.normal())?),
        None => None,
    };
    // Every trained parameter once, the second model's classifier under `also.`.
    let mut params = model.vars().clone();
    for (name, var) in also_model.iter().flat_map(|m| m.vars()) {
        if name.starts_with("classifier.") {
            params.insert(format!("also.{name}"), var.clone());
        }
    }
    let best_also_dir = req.work.join("best-also");
    let mut opt = AdamW::new(
        &params,
        AdamWConfig { weight_decay: cfg.weight_decay, ..Default::default() },
        |name| usize::from(!name.starts_with("layer.")),
    )?;
    let mut prog = Progress {
        fingerprint: fingerprint.clone(),
        epoch: 0,
        step: 0,
        loss_sum: 0.0,
        loss_n: 0,
        // Below any macro-F1 (and, unlike -inf, representable in JSON).
        best_score: -1.0,
        best_epoch: None,
        bad_epochs: 0,
        history: Vec::new(),
        seconds: 0.0,
        done: false,
    };
    if state_path.is_file() {
        let text = std::fs::read_to_string(&state_path).map_err(|e| TuneError::io(&state_path, e))?;
        let saved: Progress = serde_json::from_str(&text).map_err(|e| TuneError::Invalid(e.to_string()))?;
        if saved.fingerprint != fingerprint {
            return Err(TuneError::Invalid(format!(
                "{} holds a checkpoint of a different run (other data or options; run {}, this {fingerprint}): delete it or use another --work",
                req.work.display(),
                saved.fingerprint
            )));
        }
        let tensors = candle_core::safetensors::load(ckpt.join("model.safetensors"), &Device::Cpu)?;
        for (name, var) in &params {
            let t = tensors.get(name).ok_or_else(|| TuneError::Invalid(format!("checkpoint has no `{name}`")))?;
            var.set(t)?;
        }
        opt.load(&ckpt.join("optim.safetensors"))?;
        say(format!("resuming at epoch {} step {}", saved.epoch + 1, saved.step));
        prog = saved;
        // A run extended past where it stopped early trains again.
        if prog.done && !req.finish && prog.epoch < cfg.epochs && prog.bad_epochs < cfg.patience {
            prog.done = false;
        }
    }
    let save_ckpt = |opt: &AdamW, prog: &Progress| -> Result<()> {
        std::fs::create_dir_all(&ckpt).map_err(|e| TuneError::io(&ckpt, e))?;
        let tensors: std::collections::HashMap<String, Tensor> =
            params.iter().map(|(k, v)| (k.clone(), v.as_tensor().clone())).collect();
        let tmp = ckpt.join("model.tmp");
        candle_core::safetensors::save(&tensors, &tmp)?;
        std::fs::rename(&tmp, ckpt.join("model.safetensors")).map_err(|e| TuneError::io(&ckpt, e))?;
        opt.save(&ckpt.join("optim.safetensors"))?;
        let tmp = ckpt.join("progress.tmp");
        std::fs::write(&tmp, serde_json::to_string_pretty(prog).unwrap_or_default()).map_err(|e| TuneError::io(&tmp, e))?;
        std::fs::rename(&tmp, &state_path).map_err(|e| TuneError::io(&state_path, e))
    };

    let lrs = |step: usize| {
        let f = lr_factor(step, total_steps, warmup);
        [cfg.lr * f, cfg.head_lr * f]
    };
    // Validation scores per file, and the score early stopping reads: the mean over each
    // task of its files' mean (one task: the files' mean).
    let validate = || -> Result<(Vec<(String, f64)>, f64)> {
        let mut valid = Vec::new();
        let mut means = Vec::new();
        for (m, sets) in std::iter::once((&model, &valid_sets)).chain(also_model.as_ref().map(|a| (a, &also_valid))) {
            let results = evaluate_sets(m, &store, sets, cfg.batch_tokens * 2)?;
            let scores: Vec<(String, f64)> = results.iter().map(|(n, e)| (n.clone(), e.overall.macro_f1 * 100.0)).collect();
            means.push(scores.iter().map(|(_, s)| s).sum::<f64>() / scores.len().max(1) as f64);
            valid.extend(scores);
        }
        Ok((valid, means.iter().sum::<f64>() / means.len() as f64))
    };
    let save_best = || -> Result<()> {
        model.save(&best_dir, DType::F32)?;
        match &also_model {
            Some(also) => also.save(&best_also_dir, DType::F32),
            None => Ok(()),
        }
    };
    let mut last_save = Instant::now();
    if req.finish {
        if prog.best_epoch.is_none() {
            // No epoch has ended: the checkpoint's weights, scored on validation, are the model.
            let (valid, score) = validate()?;
            say(format!("finishing inside epoch {} at step {}: valid mean {score:.2}", prog.epoch + 1, prog.step));
            prog.history.push(EpochRecord {
                epoch: prog.epoch + 1,
                mean_loss: prog.loss_sum / prog.loss_n.max(1) as f64,
                valid,
                score,
                seconds: 0.0,
            });
            prog.best_score = score;
            prog.best_epoch = Some(prog.epoch + 1);
            save_best()?;
        }
        say(format!("finishing after {} epoch(s), from the best (epoch {})", prog.epoch, prog.best_epoch.unwrap_or(0)));
        prog.done = true;
    }
    let last_epoch = req.stop_after.map_or(cfg.epochs, |n| n.min(cfg.epochs));
    while !prog.done && prog.epoch < last_epoch {
        let epoch = prog.epoch;
        let epoch_start = Instant::now();
        let mut order: Vec<usize> = (0..batches.len()).collect();
        SeededRng::new(cfg.seed.wrapping_add(1 + epoch as u64).wrapping_mul(0x9E37_79B9)).shuffle(&mut order);
        order.truncate(steps_per_epoch);
        let bar = progress_bar(steps_per_epoch, &format!("epoch {}/{}", epoch + 1, cfg.epochs), req.quiet);
        bar.set_position(prog.step as u64);
        bar.reset_eta();
        for step in prog.step..steps_per_epoch {
            let group = &batches[order[step]];
            let states: Vec<(Vec<f32>, Vec<f32>)> =
                group.iter().map(|&i| items[i].states(&store, hidden, cfg)).collect();
            let refs: Vec<(&[f32], &[f32])> = states.iter().map(|(a, b)| (&a[..], &b[..])).collect();
            let batch = PairBatch::new(&refs, hidden, &Device::Cpu)?;
            let pooled = model.pooled(&batch)?;
            let pooled = if cfg.dropout > 0.0 {
                let mut rng = SeededRng::new(cfg.seed ^ ((epoch as u64) << 40) ^ ((step as u64) << 8) ^ 0xD5);
                let (r, c) = pooled.dims2()?;
                (pooled * dropout_mask(r, c, cfg.dropout, &mut rng)?)?
            } else {
                pooled
            };
            let gold: Vec<usize> = group.iter().map(|&i| items[i].label).collect();
            let weights: Vec<f32> = group.iter().map(|&i| items[i].weight).collect();
            let loss = match &also_model {
                None => weighted_loss(&model.classify(&pooled)?, &gold, &weights)?,
                Some(also) => {
                    let heads: Vec<usize> = group.iter().map(|&i| items[i].head).collect();
                    two_task_loss(&pooled, [&model, also], &heads, &gold, &weights)?
                }
            };
            let loss_value = loss.to_scalar::<f32>()? as f64;
            if !loss_value.is_finite() {
                return Err(TuneError::Invalid(format!("the loss became {loss_value} at epoch {} step {step}", epoch + 1)));
            }
            let grads = loss.backward()?;
            let global = epoch * steps_per_epoch + step;
            // In a multi-task batch without one task's rows, that task's classifier gets nothing.
            let multi_task = also_model.is_some();
            opt.step_where_reached(&grads, &lrs(global), |name| multi_task && name.contains("classifier."))?;
            prog.loss_sum += loss_value;
            prog.loss_n += 1;
            prog.step = step + 1;
            bar.set_position(prog.step as u64);
            bar.set_message(format!("epoch {}/{} loss {:.4}", epoch + 1, cfg.epochs, prog.loss_sum / prog.loss_n as f64));
            if cfg.checkpoint_every > 0 && prog.step % cfg.checkpoint_every == 0 && prog.step < steps_per_epoch {
                prog.seconds += last_save.elapsed().as_secs_f64();
                last_save = Instant::now();
                save_ckpt(&opt, &prog)?;
                if bar.is_hidden() {
                    // A log file has no progress bar: a line per checkpoint instead.
                    say(format!(
                        "epoch {} step {}/{steps_per_epoch}: loss {:.4}",
                        epoch + 1,
                        prog.step,
                        prog.loss_sum / prog.loss_n as f64
                    ));
                }
            }
        }
        bar.finish_and_clear();
        let (valid, score) = validate()?;
        let record = EpochRecord {
            epoch: epoch + 1,
            mean_loss: prog.loss_sum / prog.loss_n.max(1) as f64,
            valid: valid.clone(),
            score,
            seconds: epoch_start.elapsed().as_secs_f64(),
        };
        say(format!(
            "epoch {}: loss {:.4}; valid {}; mean {:.2}",
            epoch + 1,
            record.mean_loss,
            valid.iter().map(|(n, s)| format!("{n} {s:.2}")).collect::<Vec<_>>().join(", "),
            score
        ));
        prog.history.push(record);
        if score > prog.best_score {
            prog.best_score = score;
            prog.best_epoch = Some(epoch + 1);
            prog.bad_epochs = 0;
            save_best()?;
        } else {
            prog.bad_epochs += 1;
            if prog.bad_epochs >= cfg.patience {
                say(format!("no better for {} epochs: stopping", prog.bad_epochs));
                prog.done = true;
            }
        }
        prog.epoch += 1;
        prog.step = 0;
        prog.loss_sum = 0.0;
        prog.loss_n = 0;
        prog.seconds += last_save.elapsed().as_secs_f64();
        last_save = Instant::now();
        save_ckpt(&opt, &prog)?;
    }

    // The best epoch's weights, a temperature fitted on all validation rows, saved as f16;
    // each task's model of a multi-task run with its own validation rows.
    let seconds = prog.seconds;
    let best_epoch = prog.best_epoch.unwrap_or(0);
    let tasks: Vec<&str> = std::iter::once(req.task.name()).chain(req.also.as_ref().map(|a| a.task.name())).collect();
    let saves = std::iter::once((&best_dir, &valid_sets, &req.out))
        .chain(req.also.as_ref().map(|a| (&best_also_dir, &also_valid, &a.out)));
    let mut temperature = 1.0;
    for (head, (dir, sets, out)) in saves.enumerate() {
        let mut best = CrossEncoder::load(dir)?;
        best.meta.temperature = 1.0;
        let mut logits = Vec::new();
        let mut gold = Vec::new();
        for (_, ex) in sets {
            let probs = predict_examples(&best, &store, ex, cfg.batch_tokens * 2)?;
            // log-probabilities at T = 1 are logits up to a per-row constant, which the NLL ignores.
            for (p, e) in probs.iter().zip(ex) {
                logits.push(p.iter().map(|&v| v.max(1e-30).ln()).collect::<Vec<f32>>());
                gold.push(head_labels[head].iter().position(|l| *l == e.label).expect("checked"));
            }
        }
        best.meta.temperature = fit_temperature(&logits, &gold);
        if head == 0 {
            temperature = best.meta.temperature;
        }
        best.meta.training = serde_json::json!({
            "command": req.command,
            "tasks": tasks,
            "train": train_rows.iter().map(|(s, n)| serde_json::json!({"data": s, "rows": n})).collect::<Vec<_>>(),
            "valid": sets.iter().map(|(s, e)| serde_json::json!({"data": s, "rows": e.len()})).collect::<Vec<_>>(),
            "config": cfg,
            "epochs": prog.history,
            "best_epoch": best_epoch,
            "best_valid_mean_macro_f1": prog.best_score,
            "train_seconds": seconds,
            "states_seconds_this_run": states_seconds,
        });
        best.save_shipped(out)?;
        say(format!(
            "saved {} (best epoch {best_epoch}, valid mean macro-F1 {:.2}, temperature {:.2}, {:.0} s training)",
            out.display(),
            prog.best_score,
            best.meta.temperature,
            seconds
        ));
    }
    Ok(TuneReport {
        history: prog.history,
        best_epoch,
        best_score: prog.best_score,
        temperature,
        seconds,
        train_rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_checkpoint_reads_back() {
        // A checkpoint written before the first epoch ends must resume (a -inf best score
        // would be written as JSON null and refused).
        let prog = Progress {
            fingerprint: "f".into(),
            epoch: 0,
            step: 50,
            loss_sum: 1.0,
            loss_n: 1,
            best_score: -1.0,
            best_epoch: None,
            bad_epochs: 0,
            history: Vec::new(),
            seconds: 1.0,
            done: false,
        };
        let text = serde_json::to_string(&prog).unwrap();
        let back: Progress = serde_json::from_str(&text).unwrap();
        assert_eq!(back.step, 50);
        assert!(back.best_score < 0.0);
    }

    #[test]
    fn the_standardisation_sample_reaches_the_last_rows() {
        assert_eq!(spread(5, 10), vec![0, 1, 2, 3, 4]);
        let s = spread(10_435, 4096);
        assert_eq!(s.len(), 4096);
        assert!(s.windows(2).all(|w| w[0] < w[1]));
        // The last source (the final 1,989 rows here) is in the sample, in proportion.
        let tail = s.iter().filter(|&&i| i >= 10_435 - 1_989).count();
        assert!((770..=790).contains(&tail), "{tail}");
    }

    #[test]
    fn a_stance_model_starts_a_reply_model_and_no_other_task_crosses() {
        let stance = task_labels(Task::Stance);
        let reply = task_labels(Task::Reply);
        assert!(starts_with_labels(Task::Reply, &stance, &reply));
        assert!(starts_with_labels(Task::Reply, &reply, &reply));
        assert!(starts_with_labels(Task::Stance, &stance, &stance));
        assert!(!starts_with_labels(Task::Stance, &reply, &stance));
        assert!(!starts_with_labels(Task::Toxicity, &task_labels(Task::Irony), &task_labels(Task::Toxicity)));
        let reordered: Vec<String> = ["against", "favor", "none"].map(String::from).to_vec();
        assert!(!starts_with_labels(Task::Reply, &reordered, &reply));
    }

    #[test]
    fn the_schedule_warms_up_then_decays_to_zero() {
        assert!((lr_factor(0, 100, 10) - 0.1).abs() < 1e-12);
        assert!((lr_factor(9, 100, 10) - 1.0).abs() < 1e-12);
        assert!((lr_factor(10, 100, 10) - 1.0).abs() < 1e-12);
        assert!(lr_factor(99, 100, 10) > 0.0);
        assert_eq!(lr_factor(100, 100, 10), 0.0);
    }

    #[test]
    fn samples_are_seeded_and_keep_file_order() {
        let ex: Vec<Example> = (0..50)
            .map(|i| Example { text: format!("t{i}"), context: Some("c".into()), label: "favor".into(), lang: None })
            .collect();
        let a = sample(&ex, Some(10), 1, "x");
        assert_eq!(a.len(), 10);
        assert_eq!(a, sample(&ex, Some(10), 1, "x"));
        assert_ne!(a, sample(&ex, Some(10), 2, "x"));
        let idx: Vec<usize> = a.iter().map(|e| e.text[1..].parse().unwrap()).collect();
        assert!(idx.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(sample(&ex, None, 1, "x").len(), 50);
    }
}
