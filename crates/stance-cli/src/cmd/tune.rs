//! `stance tune`: the encoder's top layers fine-tuned for one task over cached bottom states (a
//! late-interaction cross-encoder for stance or reply, the comment alone for a tone task; see
//! the `stance-tune` crate), and `stance eval` of such a model.

use crate::cmd::encoder::read_all;
use crate::cmd::eval;
use crate::flags::{Global, ModelFlags};
use anyhow::{bail, Result};
use stance_heads::model_encoder::ModelEncoder;
use stance_heads::{DataSpec, EvalOptions, Task, TextEncoder};
use stance_model::tokenize::Truncation;
use stance_heads::data::TaskInput;
use stance_tune::train::{build_store, predict_examples, AlsoTask, TuneConfig, TuneRequest};
use stance_classify::heads::SourcedCrossEncoder;
use stance_heads::source::check_encoder_id;
use stance_model::batch::DEFAULT_BATCH_TOKENS;
use stance_model::runtime::OpenModel;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub model: ModelFlags,
    /// stance (target ↔ comment), reply (parent ↔ reply), or a tone task on the comment alone
    /// (sentiment, irony, toxicity).
    #[arg(long)]
    pub task: Task,
    /// Training files with selectors, as for `stance train`.
    #[arg(long, num_args = 1.., required = true)]
    pub train: Vec<DataSpec>,
    /// Validation files: early stopping on their mean macro-F1, and the temperature.
    #[arg(long, num_args = 1.., required = true)]
    pub valid: Vec<DataSpec>,
    /// Folder to write cross_encoder.safetensors (f16) and cross_encoder.json into.
    #[arg(long)]
    pub out: PathBuf,
    /// Cached encoder states and checkpoints [default: OUT.work]. A rerun of the same command
    /// resumes from its last checkpoint.
    #[arg(long)]
    pub work: Option<PathBuf>,
    /// Encoder layers to fine-tune (the rest stay frozen and shared).
    #[arg(long, default_value_t = 2)]
    pub top_layers: usize,
    /// Most tokens kept of the target (or parent).
    #[arg(long, default_value_t = 64)]
    pub context_tokens: usize,
    /// Most tokens kept of the comment.
    #[arg(long, default_value_t = 192)]
    pub comment_tokens: usize,
    #[arg(long, default_value_t = 4)]
    pub epochs: usize,
    #[arg(long, default_value_t = 5e-5)]
    pub lr: f64,
    #[arg(long, default_value_t = 1e-3)]
    pub head_lr: f64,
    /// Most padded positions per training batch.
    #[arg(long, default_value_t = 4096)]
    pub train_batch_tokens: usize,
    /// Rows sampled from each training file at most (0: all).
    #[arg(long, default_value_t = 6000)]
    pub max_per_source: usize,
    /// Rows sampled from each validation file at most (0: all).
    #[arg(long, default_value_t = 1200)]
    pub max_valid_per_source: usize,
    #[arg(long, default_value_t = 0.1)]
    pub dropout: f64,
    #[arg(long, default_value_t = 2)]
    pub patience: usize,
    #[arg(long, default_value_t = 13)]
    pub seed: u64,
    #[arg(long, default_value_t = 200)]
    pub checkpoint_every: usize,
    /// Stop each epoch after this many steps (smoke runs).
    #[arg(long)]
    pub max_steps_per_epoch: Option<usize>,
    /// Train no further: save the best epoch of the checkpoint in --work (same command
    /// otherwise), to cut a run short.
    #[arg(long)]
    pub finish: bool,
    /// End after this many epochs while the learning rate follows the --epochs schedule
    /// (repeats a run that --finish cut short).
    #[arg(long)]
    pub stop_after: Option<usize>,
    /// Start from this saved model (same encoder and --top-layers; same task, or a stance model
    /// for --task reply, favor/against/none read as agree/disagree/none) instead of the
    /// encoder's layers and a fresh classifier: train it further, on more data.
    #[arg(long, value_name = "DIR")]
    pub init: Option<PathBuf>,
    /// A second task trained at once on the same layers (multi-task), with its own classifier:
    /// a tone task, like --task. Needs --also-train, --also-valid and --also-out. Its model
    /// shares the layers with --out's, so `stance classify` runs them once for both.
    #[arg(long, requires_all = ["also_train", "also_valid", "also_out"])]
    pub also_task: Option<Task>,
    /// Training files of --also-task.
    #[arg(long, num_args = 1.., requires = "also_task")]
    pub also_train: Vec<DataSpec>,
    /// Validation files of --also-task (early stopping: the mean of both tasks' validation means).
    #[arg(long, num_args = 1.., requires = "also_task")]
    pub also_valid: Vec<DataSpec>,
    /// Folder to write --also-task's model into.
    #[arg(long, requires = "also_task")]
    pub also_out: Option<PathBuf>,
}

fn cap(n: usize) -> Option<usize> {
    (n > 0).then_some(n)
}

pub fn run(mut args: Args, global: &Global) -> Result<ExitCode> {
    args.model.use_reference_arithmetic();
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let opened = args.model.open(global)?;
    let encoder = ModelEncoder::new(&opened, Truncation::Head, args.model.batch())?;
    let train = stance_heads::data::read_datasets(&args.train, args.task)?;
    let valid = stance_heads::data::read_datasets(&args.valid, args.task)?;
    let also = match (args.also_task, &args.also_out) {
        (Some(task), Some(out)) => {
            if task == args.task || task.input() != TaskInput::Comment || args.task.input() != TaskInput::Comment {
                bail!("--also-task trains a second tone task beside --task's (both on the comment alone)");
            }
            Some(AlsoTask {
                task,
                train: stance_heads::data::read_datasets(&args.also_train, task)?,
                valid: stance_heads::data::read_datasets(&args.also_valid, task)?,
                out: out.clone(),
            })
        }
        _ => None,
    };
    let work = args.work.clone().unwrap_or_else(|| {
        let mut p = args.out.clone().into_os_string();
        p.push(".work");
        PathBuf::from(p)
    });
    let request = TuneRequest {
        task: args.task,
        model: &opened.model,
        encoder_id: encoder.id(),
        cache_key: encoder.cache_id(),
        train,
        valid,
        out: args.out.clone(),
        work,
        config: TuneConfig {
            top_layers: args.top_layers,
            context_tokens: args.context_tokens,
            comment_tokens: args.comment_tokens,
            epochs: args.epochs,
            lr: args.lr,
            head_lr: args.head_lr,
            batch_tokens: args.train_batch_tokens,
            max_per_source: cap(args.max_per_source),
            max_valid_per_source: cap(args.max_valid_per_source),
            dropout: args.dropout,
            patience: args.patience,
            seed: args.seed,
            checkpoint_every: args.checkpoint_every,
            max_steps_per_epoch: args.max_steps_per_epoch,
            ..TuneConfig::default()
        },
        command,
        quiet: global.quiet,
        finish: args.finish,
        stop_after: args.stop_after,
        init: args.init.clone(),
        also,
    };
    stance_tune::tune(&request)?;
    Ok(ExitCode::SUCCESS)
}

/// The encoder whose bottom-layer states `sourced` reads, refused if it is not the one the
/// model was trained on.
pub fn state_encoder<'a>(
    sourced: &SourcedCrossEncoder,
    opened: &'a OpenModel,
    flags: &ModelFlags,
) -> Result<ModelEncoder<'a>> {
    let encoder = ModelEncoder::new(opened, Truncation::Head, flags.batch())?;
    if let Err(message) = check_encoder_id(&sourced.model.meta.encoder, &encoder.id()) {
        bail!("{} {message}", sourced.describe());
    }
    Ok(encoder)
}

/// `stance eval` of a cross-encoder.
pub fn eval(args: &eval::Args, sourced: &SourcedCrossEncoder, global: &Global) -> Result<ExitCode> {
    let model = &sourced.model;
    let name = sourced.describe();
    let sets = read_all(&args.data, args.task, global)?;
    let opened = args.model.open(global)?;
    let encoder = state_encoder(sourced, &opened, &args.model)?;
    let keep = model.meta.state_rows();
    let options = EvalOptions { only_labels: args.labels.clone(), by_lang: args.by == Some(eval::By::Lang) };
    let mut out = Vec::new();
    for set in &sets {
        let started = std::time::Instant::now();
        let key = encoder.cache_id();
        let store = build_store(
            &opened.model,
            &[&set.examples[..]],
            model.bottom_layers(),
            keep,
            args.states_cache.as_deref(),
            &key,
            global.quiet,
        )?;
        let states_s = started.elapsed().as_secs_f64();
        let top = std::time::Instant::now();
        let probs = predict_examples(model, &store, &set.examples, DEFAULT_BATCH_TOKENS)?;
        let top_s = top.elapsed().as_secs_f64();
        let decide = |p: &[f32], e: &stance_heads::Example| model.decide(p, e.lang.as_deref());
        let evaluation = stance_heads::evaluate_decided(model.labels(), &set.examples, &probs, &decide, &options)?;
        if args.json {
            out.push(serde_json::json!({"data": set.spec, "evaluation": evaluation,
                "seconds": {"bottom_states": states_s, "top_layers": top_s}}));
            continue;
        }
        println!("{}", eval::heading(&set.spec.to_string(), args.task, "cross-encoder", &name, &sourced.source));
        if evaluation.left_out > 0 {
            println!("({} rows with a gold label outside --labels left out)", evaluation.left_out);
        }
        print!("{}", evaluation.overall.to_text());
        eval::print_false_positives(args.task, &evaluation.overall);
        let f1 = |r: &stance_heads::Report, l: &str| r.classes.iter().find(|c| c.label == l).map(|c| c.f1);
        if let (Some(a), Some(b)) = (f1(&evaluation.overall, "favor"), f1(&evaluation.overall, "against")) {
            println!("F1avg (favor, against): {:.2}", (a + b) * 50.0);
        }
        for (lang, report) in &evaluation.by_lang {
            println!("-- lang {lang}");
            print!("{}", report.to_text());
            eval::print_false_positives(args.task, report);
        }
        println!(
            "time: bottom {} layers {:.1} s ({} distinct texts), top {} layers {:.1} s ({} pairs)",
            model.bottom_layers(),
            states_s,
            store.len(),
            model.meta.top_layers,
            top_s,
            set.examples.len()
        );
        println!();
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    }
    Ok(ExitCode::SUCCESS)
}
