//! `stance train`: a classification head on the encoder's comment embeddings, from labelled
//! JSONL/CSV/Parquet files in the shared schema.

use crate::cmd::encoder::{featurize, open_encoder, read_all, report_cache};
use crate::cmd::texts;
use crate::flags::{Global, ModelFlags};
use anyhow::{bail, Context, Result};
use stance_core::LabelKind;
use stance_heads::head::DataSummary;
use stance_heads::train::{Progress, Split};
use stance_heads::{
    Balance, DataSpec, Dataset, HeadSource, Task, TextEncoder, Thresholds, TrainConfig,
    TrainRequest,
};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub model: ModelFlags,
    /// What to classify: sentiment, stance (needs `target`, or a `thread_id` with the thread's
    /// source in a `threads.jsonl`), irony, toxicity, reply (needs `parent_text`, or
    /// `parent_id`/`thread_id` with the parent rows or a `threads.jsonl`).
    #[arg(long)]
    pub task: Task,
    /// Training files (`text`, `label`, …), each optionally followed by a selector:
    /// `FILE#lang=de+fr,by=thread_id,part=0-80,label=label_parent`.
    #[arg(long, num_args = 1.., required = true)]
    pub train: Vec<DataSpec>,
    /// Validation files, for early stopping and calibration. Without them, a hashed
    /// `--valid-percent` of each training file is held out.
    #[arg(long, num_args = 1..)]
    pub valid: Vec<DataSpec>,
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=50))]
    pub valid_percent: u32,
    /// Folder to write head.safetensors and head.json into.
    #[arg(long)]
    pub out: PathBuf,
    /// Fine-tune an existing head (a folder, or `default` for the shipped head of the task)
    /// instead of starting from scratch: the way to adapt the default to your own comments.
    #[arg(long)]
    pub from: Option<String>,
    /// Hidden layer widths, comma-separated; `0` for a linear head [default: 1024].
    #[arg(long, value_delimiter = ',')]
    pub hidden: Option<Vec<usize>>,
    #[arg(long)]
    pub dropout: Option<f32>,
    #[arg(long)]
    pub input_dropout: Option<f32>,
    /// Learning rate [default: 3e-4, or 1e-4 with --from].
    #[arg(long)]
    pub lr: Option<f64>,
    #[arg(long)]
    pub weight_decay: Option<f64>,
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Most epochs [default: 40, or enough for 1,500 updates on a small training set].
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Epochs without a better validation macro-F1 before stopping [default: 6, or 150
    /// updates' worth on a small training set].
    #[arg(long)]
    pub patience: Option<usize>,
    /// Seed of the first MLP (member `m` of `--members` starts from SEED + m).
    #[arg(long, default_value_t = 13)]
    pub seed: u64,
    /// MLPs to train from consecutive seeds and average: the head's logits are their mean,
    /// steadier than any one seed's (a seed alone moves validation macro-F1 by a point)
    /// [default: 1, or as many as the --from head has].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=32))]
    pub members: Option<u64>,
    /// Class-balanced loss: auto (when the classes are skewed), on, off, or per-source (classes
    /// balanced within each training file, so no file's label skew is learnt as its language).
    #[arg(long, default_value = "auto")]
    pub balance: Balance,
    /// A flag head's decision threshold: `argmax`, or `per-lang` (chosen on the validation rows
    /// of each language with enough of them, else overall; see `stance_heads::thresholds`).
    #[arg(long, value_enum, default_value_t = ThresholdChoice::Argmax)]
    pub thresholds: ThresholdChoice,
    /// Do not read or write the embedding cache.
    #[arg(long)]
    pub no_cache: bool,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThresholdChoice {
    Argmax,
    PerLang,
}

pub fn run(mut args: Args, global: &Global) -> Result<ExitCode> {
    args.model.use_reference_arithmetic();
    if args.thresholds == ThresholdChoice::PerLang && !matches!(args.task.kind(), LabelKind::Flag { .. }) {
        bail!("--thresholds per-lang is for flag tasks (irony, toxicity), not {}", args.task);
    }
    let (train_specs, valid_specs) = if args.valid.is_empty() {
        let cut = 100 - args.valid_percent;
        let train = args.train.iter().map(|s| s.with_part(0, cut)).collect::<Result<Vec<_>, _>>()?;
        let valid = args.train.iter().map(|s| s.with_part(cut, 100)).collect::<Result<Vec<_>, _>>()?;
        (train, valid)
    } else {
        (args.train.clone(), args.valid.clone())
    };
    let train_sets = read_all(&train_specs, args.task, global)?;
    let valid_sets = read_all(&valid_specs, args.task, global)?;
    let labels: Vec<String> = train_sets
        .iter()
        .flat_map(|d| d.examples.iter().map(|e| e.label.clone()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if labels.len() < 2 {
        bail!("the training data has {} label(s) ({}); a head needs at least 2", labels.len(), labels.join(", "));
    }
    for d in &valid_sets {
        if let Some(e) = d.examples.iter().find(|e| !labels.contains(&e.label)) {
            bail!("{}: validation label `{}` does not occur in the training data ({})", d.spec, e.label, labels.join(", "));
        }
    }

    let warm = match &args.from {
        Some(from) => Some(HeadSource::parse(from).load(args.task)?),
        None => None,
    };
    let opened = args.model.open(global)?;
    let encoder = open_encoder(&opened, &args.model, args.no_cache, global)?;
    if let Some(warm) = &warm {
        warm.check_encoder(&encoder.id())?;
    }

    let kind = stance_heads::InputKind::of(args.task);
    let (train_x, train_y, train_src) = featurize(&train_sets, &labels, kind, &encoder, "embed train", global)?;
    let (valid_x, valid_y, valid_src) = featurize(&valid_sets, &labels, kind, &encoder, "embed valid", global)?;
    report_cache(&encoder, global);
    let embedding_dim = match kind {
        stance_heads::InputKind::Single => train_x[0].len(),
        stance_heads::InputKind::Pair => train_x[0].len() / 4,
    };

    let defaults = TrainConfig::for_rows(train_x.len());
    let hidden = match (&args.hidden, &warm) {
        (Some(h), _) => h.iter().copied().filter(|&w| w > 0).collect(),
        (None, Some(warm)) => warm.head.meta.hidden.clone(),
        (None, None) => defaults.hidden.clone(),
    };
    let config = TrainConfig {
        hidden,
        dropout: args.dropout.unwrap_or(defaults.dropout),
        input_dropout: args.input_dropout.unwrap_or(defaults.input_dropout),
        learning_rate: args.lr.unwrap_or(if warm.is_some() { defaults.learning_rate / 3.0 } else { defaults.learning_rate }),
        weight_decay: args.weight_decay.unwrap_or(defaults.weight_decay),
        batch_size: args.batch_size.unwrap_or(defaults.batch_size),
        max_epochs: args.epochs.unwrap_or(defaults.max_epochs),
        patience: args.patience.unwrap_or(defaults.patience),
        seed: args.seed,
        balance: args.balance,
        members: match (args.members, &warm) {
            (Some(n), _) => n as usize,
            (None, Some(warm)) => warm.head.meta.members,
            (None, None) => defaults.members,
        },
    };
    if !global.quiet {
        eprintln!(
            "stance train: {} head, labels {}; {} training and {} validation rows; hidden {:?}",
            args.task,
            labels.join("/"),
            train_x.len(),
            valid_x.len(),
            config.hidden
        );
    }
    let request = TrainRequest {
        task: args.task,
        labels: labels.clone(),
        input: kind,
        embedding_dim,
        encoder: encoder.id(),
        train: Split { features: &train_x, labels: &train_y, sources: &train_src },
        valid: Split { features: &valid_x, labels: &valid_y, sources: &valid_src },
        train_data: summaries(&train_sets),
        valid_data: summaries(&valid_sets),
        config,
        warm_start: warm.as_ref().map(|w| (&w.head, w.source.to_string())),
    };
    let bar = texts::progress(0, "epoch 1", global.quiet);
    let trained = stance_heads::train(request, &mut |p| match p {
        Progress::Member { index, of, seed } => {
            if !global.quiet {
                bar.suspend(|| eprintln!("member {} of {of} (seed {seed})", index + 1));
            }
        }
        Progress::Batch { epoch, done, total } => {
            if done == 1 {
                bar.set_length(total as u64);
                bar.set_position(0);
                bar.set_message(format!("epoch {epoch}"));
            }
            bar.set_position(done as u64);
        }
        Progress::Epoch(r) => {
            if !global.quiet {
                bar.suspend(|| {
                    eprintln!(
                        "epoch {:>3}  loss {:.4}  valid macro-F1 {:.2}  accuracy {:.2}{}",
                        r.epoch,
                        r.train_loss,
                        100.0 * r.valid_score,
                        100.0 * r.valid_accuracy,
                        if r.improved { "  *" } else { "" }
                    )
                });
            }
        }
    })?;
    bar.finish_and_clear();
    let mut trained = trained;
    if args.thresholds == ThresholdChoice::PerLang {
        let probs = trained.head.predict(&valid_x)?;
        let langs: Vec<Option<String>> = valid_sets.iter().flat_map(|d| d.examples.iter().map(|e| e.lang.clone())).collect();
        let thresholds = Thresholds::fit(&labels, args.task.label_column(), &probs, &valid_y, &langs, None)
            .context("cannot choose thresholds: the validation rows lack one of the classes")?;
        if !global.quiet {
            eprintln!("stance train: thresholds {thresholds}");
        }
        trained.head.meta.decision.thresholds = Some(thresholds);
    }
    trained.head.save(&args.out).with_context(|| format!("cannot write the head into {}", args.out.display()))?;
    if !global.quiet {
        if let Some(t) = &trained.head.meta.training {
            for (m, member) in t.members.iter().enumerate() {
                eprintln!(
                    "stance train: member {} (seed {}): best epoch {} of {}, valid macro-F1 {:.2}",
                    m + 1,
                    member.seed,
                    member.best_epoch,
                    member.epochs_run,
                    100.0 * member.valid_score
                );
            }
            let epochs = match t.members.len() {
                0 => format!("best epoch {} of {}", t.best_epoch, t.epochs_run),
                n => format!("mean of {n} members"),
            };
            eprintln!(
                "stance train: {epochs}: valid macro-F1 {:.2} (mean over {} source(s)), temperature {:.3}, ECE {:.3} → {:.3}; wrote {}",
                100.0 * t.valid_score,
                t.valid_macro_f1_by_source.len(),
                trained.head.meta.temperature,
                t.valid_ece_uncalibrated,
                t.valid_ece,
                args.out.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn summaries(sets: &[Dataset]) -> Vec<DataSummary> {
    sets.iter()
        .map(|d| DataSummary { data: d.spec.clone(), rows: d.examples.len(), labels: d.label_counts() })
        .collect()
}

