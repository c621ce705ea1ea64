//! `stance eval`: scores a head (or a cross-encoder, or a blend) on labelled files — accuracy,
//! macro-F1, per-class precision/recall/F1, confusion matrix and expected calibration error, per
//! language if asked.

use crate::cmd::calibrate::model_probs;
use crate::cmd::encoder::read_all;
use crate::flags::{Global, ModelFlags};
use anyhow::Result;
use serde::Serialize;
use stance_core::LabelKind;
use stance_classify::heads::{FolderKind, TaskModel};
use stance_heads::metrics::argmax;
use stance_heads::{DataSpec, EvalOptions, Evaluation, Example, HeadSource, Report, Task};
use stance_heads::model_encoder::ModelEncoder;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The encoder, as for every model command; a task model's folder (head, cross-encoder,
    /// blend or route) is also taken here, meaning that model on the default encoder.
    #[command(flatten)]
    pub model: ModelFlags,
    #[arg(long)]
    pub task: Task,
    /// Labelled files (selectors as for `stance train`); each is scored on its own.
    #[arg(long, num_args = 1.., required = true)]
    pub data: Vec<DataSpec>,
    /// The head to score [default: the shipped model of the task, on the encoder --model opens
    /// when that is the one it was trained on]; `head` is the task's built-in heads alone, without
    /// the shipped model's fine-tuned layers (what `classify --speed fast` runs).
    #[arg(long)]
    pub head: Option<PathBuf>,
    /// Also score each language (`lang` field) separately.
    #[arg(long)]
    pub by: Option<By>,
    /// Score as a classifier over these labels only (comma-separated): rows with other gold
    /// labels are left out and probabilities renormalised, e.g. `favor,against` for X-Stance.
    #[arg(long, value_delimiter = ',')]
    pub labels: Option<Vec<String>>,
    /// Predict the most probable label even where the head has decision thresholds or class offsets.
    #[arg(long)]
    pub argmax: bool,
    /// Print JSON on stdout instead of text.
    #[arg(long)]
    pub json: bool,
    /// Do not read or write the embedding cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Cross-encoder folders (from `stance tune`) only: keep the encoder states of the data's
    /// texts in this folder and reuse them on the next run.
    #[arg(long)]
    pub states_cache: Option<PathBuf>,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    Lang,
}

#[derive(Serialize)]
struct Output<'a> {
    task: Task,
    head: String,
    encoder: String,
    labels: Option<&'a [String]>,
    results: Vec<DataResult>,
}

#[derive(Serialize)]
struct DataResult {
    data: String,
    #[serde(flatten)]
    evaluation: Evaluation,
}

/// The line above one data file's scores: the task and kind of model, then its name, which for
/// a built-in model already says both ("default sentiment cross-encoder (sha256 …)").
pub fn heading(data: &str, task: Task, kind: &str, name: &str, source: &HeadSource) -> String {
    match source {
        HeadSource::Default | HeadSource::DefaultHead => format!("== {data} — {name}"),
        HeadSource::Folder(_) | HeadSource::BuiltIn(_) => format!("== {data} — {task} {kind} {name}"),
    }
}

pub fn run(mut args: Args, global: &Global) -> Result<ExitCode> {
    args.model.use_reference_arithmetic();
    // `--model DIR` naming a task model's folder (head, cross-encoder, blend or route): that
    // model on the default encoder.
    if args.head.is_none() && FolderKind::of(Path::new(&args.model.model)).is_some() {
        args.head = Some(PathBuf::from(std::mem::replace(&mut args.model.model, "default".into())));
    }
    // Without --head, the shipped model of the task, on whichever encoder --model opens: as in
    // `stance classify`, it runs on any copy of the encoder it was trained on (the hub's
    // weights, a folder) and refuses another encoder, naming what differs.
    let source = match args.head.as_deref() {
        None => HeadSource::Default,
        Some(head) => head.to_str().map_or_else(|| HeadSource::Folder(head.to_path_buf()), HeadSource::parse),
    };
    let (kind, name, encoder_id, results) = match TaskModel::load(args.task, &source)? {
        TaskModel::CrossEncoder(c) => return crate::cmd::tune::eval(&args, &c, global),
        model => {
            let sets = read_all(&args.data, args.task, global)?;
            let opened = args.model.open(global)?;
            let encoder_id = ModelEncoder::encoder_id(&opened)?;
            model.check_encoder(&encoder_id)?;
            // Every file's rows in one pass (one progress bar, one cache report), then split
            // back into files.
            let mut probs = model_probs(&model, &sets, &opened, &args.model, args.no_cache, global)?.into_iter();
            let decide = |p: &[f32], e: &Example| {
                if args.argmax {
                    argmax(p)
                } else {
                    model.decide(p, e.lang.as_deref(), e.context.is_some())
                }
            };
            let options = eval_options(&args);
            let results = sets
                .iter()
                .map(|set| {
                    let probs: Vec<Vec<f32>> = probs.by_ref().take(set.examples.len()).collect();
                    let evaluation = stance_heads::evaluate_decided(model.labels(), &set.examples, &probs, &decide, &options)?;
                    Ok(DataResult { data: set.spec.clone(), evaluation })
                })
                .collect::<Result<Vec<_>>>()?;
            let kind = match model {
                TaskModel::Blend(_) => "blend",
                TaskModel::Route(_) => "route",
                _ => "head",
            };
            (kind, model.describe(), encoder_id, results)
        }
    };

    if args.json {
        let out = Output {
            task: args.task,
            head: name,
            encoder: encoder_id,
            labels: args.labels.as_deref(),
            results,
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        for r in &results {
            println!("{}", heading(&r.data, args.task, kind, &name, &source));
            if r.evaluation.left_out > 0 {
                println!("({} rows with a gold label outside --labels left out)", r.evaluation.left_out);
            }
            print!("{}", r.evaluation.overall.to_text());
            print_false_positives(args.task, &r.evaluation.overall);
            for (lang, report) in &r.evaluation.by_lang {
                println!("-- lang {lang}");
                print!("{}", report.to_text());
                print_false_positives(args.task, report);
            }
            println!();
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn eval_options(args: &Args) -> EvalOptions {
    EvalOptions { only_labels: args.labels.clone(), by_lang: args.by == Some(By::Lang) }
}

/// For a flag task (irony, toxicity): how many rows of the other class were flagged.
pub(crate) fn print_false_positives(task: Task, report: &Report) {
    let LabelKind::Flag { other, .. } = task.kind() else { return };
    let flag = task.label_column();
    let index = |label: &str| report.classes.iter().position(|c| c.label == label);
    if let (Some(o), Some(f)) = (index(other), index(flag)) {
        let negatives: u64 = report.confusion[o].iter().sum();
        if negatives > 0 {
            let flagged = report.confusion[o][f];
            println!(
                "false positives: {flagged} of {negatives} {other} rows flagged {flag} ({:.1} %)",
                100.0 * flagged as f64 / negatives as f64
            );
        }
    }
}
