//! `stance calibrate`: gives an existing head its decision rule, chosen on labelled validation
//! files, without retraining it: a flag head (irony, toxicity) thresholds per language
//! ([`Thresholds`]), a multi-class head (stance, reply, sentiment) offsets on its classes'
//! log-probabilities ([`ClassOffsets`]). Only the validation texts go through the encoder.

use crate::cmd::encoder::{featurize, open_encoder, read_all, report_cache};
use crate::flags::{Global, ModelFlags};
use anyhow::{bail, Context, Result};
use stance_core::LabelKind;
use stance_heads::{ClassOffsets, HeadSource, Task, TextEncoder, Thresholds};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub model: ModelFlags,
    /// The head's task: irony or toxicity get thresholds, stance, reply or sentiment class offsets.
    #[arg(long)]
    pub task: Task,
    /// The head to calibrate: a folder, or `default` for the built-in head of the task.
    #[arg(long, default_value = "default")]
    pub head: String,
    /// Labelled validation files (selectors as for `stance train`).
    #[arg(long, num_args = 1.., required = true)]
    pub valid: Vec<stance_heads::DataSpec>,
    /// Only thresholds that flag at most this share of each language's other-class validation
    /// rows (e.g. 0.15: at least 85 % of non-toxic comments recognised). Flag tasks only.
    #[arg(long, value_name = "RATE")]
    pub max_false_positives: Option<f64>,
    /// Folder to write the calibrated head into (weights unchanged, decision rule added).
    #[arg(long)]
    pub out: PathBuf,
    /// Do not read or write the embedding cache.
    #[arg(long)]
    pub no_cache: bool,
}

pub fn run(mut args: Args, global: &Global) -> Result<ExitCode> {
    args.model.use_reference_arithmetic();
    let flag = matches!(args.task.kind(), LabelKind::Flag { .. });
    if !flag && args.max_false_positives.is_some() {
        bail!("--max-false-positives bounds a flag's thresholds: irony or toxicity, not {}", args.task);
    }
    let mut loaded = HeadSource::parse(&args.head).load(args.task)?;
    let sets = read_all(&args.valid, args.task, global)?;
    let opened = args.model.open(global)?;
    let encoder = open_encoder(&opened, &args.model, args.no_cache, global)?;
    loaded.check_encoder(&encoder.id())?;
    let labels = loaded.head.labels().to_vec();
    let (x, y, sources) = featurize(&sets, &labels, loaded.head.input_kind(), &encoder, "embed valid", global)?;
    report_cache(&encoder, global);
    let probs = loaded.head.predict(&x)?;
    let chosen = if flag {
        let langs: Vec<Option<String>> = sets.iter().flat_map(|d| d.examples.iter().map(|e| e.lang.clone())).collect();
        let thresholds = Thresholds::fit(&labels, args.task.label_column(), &probs, &y, &langs, args.max_false_positives)
            .context("cannot choose thresholds: the validation rows lack one of the classes")?;
        let chosen = format!("thresholds {thresholds}");
        loaded.head.meta.thresholds = Some(thresholds);
        chosen
    } else {
        let offsets = ClassOffsets::fit(&labels, &probs, &y, &sources).context("cannot choose class offsets")?;
        let chosen = format!("class offsets {offsets}");
        loaded.head.meta.class_offsets = Some(offsets);
        chosen
    };
    if !global.quiet {
        eprintln!("stance calibrate: {chosen}; wrote {}", args.out.display());
    }
    loaded.head.save(&args.out).with_context(|| format!("cannot write the head into {}", args.out.display()))?;
    Ok(ExitCode::SUCCESS)
}
