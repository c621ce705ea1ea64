//! `stance classify INPUT... --out DIR`: the main job. Wires the stages together:
//! ingest → encode + heads (chunked, checkpointed in `DIR/.stance-work`) → aggregate → write.

use crate::cmd::texts;
use crate::cmd::train::head_dir;
use crate::flags::{Global, InputFlags, InputFormatArg, ModelFlags, STRICT_FAILURE};
use anyhow::{bail, Context, Result};
use clap::ValueEnum;
use stance_classify::{HeadSet, InputFingerprint, RunKey, WorkDir};
use stance_heads::model_encoder::ModelEncoder;
use stance_heads::Task;
use stance_ingest::InputSpec;
use stance_report::{HeadInfo, InputFile, ModelRef, RunInfo};
use stance_report::{Format, OutputOptions, PartitionBy};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// The work directory inside the output directory; present only while a run is incomplete.
pub const WORK_DIR: &str = ".stance-work";

#[derive(clap::Args, Debug)]
#[command(after_help = "\
Outputs in DIR: comments, threads, authors and daily tables (Parquet unless --format), run.json, \
summary.txt, summary.md, report.html and rejects.jsonl. Predictions are committed in chunks to \
DIR/.stance-work while the run goes; rerunning the same command after a crash or kill resumes \
there, and the work directory is removed once every output is written. Exit status: 0 done, \
1 done but --strict found rejected records, 2 failed (outputs of an earlier run, if any, are \
left as they were).")]
pub struct Args {
    #[command(flatten)]
    pub input: InputFlags,
    /// Read every input as this format instead of detecting it.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub input_format: Option<InputFormatArg>,
    /// Article tables (`article_id`, `title`, `target`, …) to read with the comments.
    #[arg(long, value_name = "FILE")]
    pub articles: Vec<String>,
    #[command(flatten)]
    pub model: ModelFlags,
    /// Tasks to run, comma-separated [default: all].
    #[arg(long, value_delimiter = ',', value_name = "TASK")]
    pub tasks: Option<Vec<Task>>,
    /// Use another head for a task: `TASK=DIR` (e.g. one made with `stance train --from default`).
    #[arg(long = "head", value_name = "TASK=DIR")]
    pub heads: Vec<String>,
    /// Measure stance toward this claim instead of each article's target (or title).
    #[arg(long)]
    pub target: Option<String>,
    /// Output directory (created if missing).
    #[arg(long, short, value_name = "DIR")]
    pub out: PathBuf,
    /// Table format.
    #[arg(long, value_enum, default_value_t = TableFormat::Parquet)]
    pub format: TableFormat,
    /// Write comments and daily as hive-partitioned directories.
    #[arg(long, value_enum)]
    pub partition_by: Option<PartitionArg>,
    /// Add each head's raw scores (`logit_<task>_<label>`) to the comments table.
    #[arg(long)]
    pub logits: bool,
    /// Print the summary (summary.txt) on stdout.
    #[arg(long)]
    pub print: bool,
    /// Comments per checkpointed chunk.
    #[arg(long, default_value_t = stance_classify::DEFAULT_CHUNK_SIZE)]
    pub chunk_size: usize,
    /// Discard the checkpoints of an earlier, different run in DIR instead of refusing.
    #[arg(long)]
    pub fresh: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum TableFormat {
    Parquet,
    Csv,
    Jsonl,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum PartitionArg {
    Article,
    Day,
}

pub fn run(mut args: Args, global: &Global) -> Result<ExitCode> {
    let started = Instant::now();
    if args.chunk_size == 0 {
        bail!("--chunk-size must be at least 1");
    }
    let tasks = args.tasks.clone().unwrap_or_else(|| Task::ALL.to_vec());
    let head_dirs = head_dirs(&tasks, &args.heads)?;

    args.input.inputs.extend(args.articles.iter().cloned());
    let ingested = args.input.read(args.input_format)?;
    if args.target.is_some() && ingested.articles.len() > 1 {
        bail!(
            "--target applies to a single article, but the input has {} articles: give each article its own `target` instead",
            ingested.articles.len()
        );
    }
    if !global.quiet {
        eprintln!("{}", ingested.summary);
    }
    let inputs = fingerprint_inputs(&args.input.inputs)?;

    let opened = args.model.open(global)?;
    let encoder = ModelEncoder::new(&opened, args.model.truncate, args.model.batch())?;
    let heads = HeadSet::load(&head_dirs, &stance_heads::TextEncoder::id(&encoder))?;

    let key = RunKey {
        stance_version: env!("CARGO_PKG_VERSION").to_string(),
        inputs: inputs.clone(),
        encoder: stance_heads::TextEncoder::cache_id(&encoder),
        heads: heads.heads.iter().map(|h| (h.task.name().to_string(), h.sha256.clone())).collect(),
        target: args.target.clone(),
        logits: args.logits,
        chunk_size: args.chunk_size,
        n_comments: ingested.comments.len(),
    };
    // Standard input cannot be fingerprinted, so a run that reads it never resumes.
    let fresh = args.fresh || inputs.iter().any(|i| i.sha256.is_empty());
    let work = WorkDir::open(&args.out.join(WORK_DIR), key, fresh)?;

    let bar = texts::progress(ingested.comments.len(), "classify", global.quiet);
    let mut resumed = 0;
    let comments = stance_classify::classify(&ingested, &encoder, &heads, &work, args.target.as_deref(), &mut |p| {
        if p.resumed {
            resumed = p.done;
            bar.reset_eta();
        }
        bar.set_position(p.done as u64);
    })?;
    bar.finish_and_clear();

    let articles = stance_ingest::articles_frame(&ingested.articles)?;
    let aggregates = stance_aggregate::aggregate(&comments, &articles, &stance_aggregate::AggregateOptions::default())?;
    let run = run_info(&opened, &heads, &inputs, &args);
    let options = OutputOptions {
        format: match args.format {
            TableFormat::Parquet => Format::Parquet,
            TableFormat::Csv => Format::Csv,
            TableFormat::Jsonl => Format::Jsonl,
        },
        partition_by: args.partition_by.map(|p| match p {
            PartitionArg::Article => PartitionBy::Article,
            PartitionArg::Day => PartitionBy::Day,
        }),
    };
    let written = stance_report::write_outputs(&args.out, &comments, &aggregates, &run, &options)
        .with_context(|| format!("cannot write outputs to {}", args.out.display()))?;
    let rejects = args.out.join("rejects.jsonl");
    stance_ingest::write_rejects(&rejects, &ingested.rejects)?;
    work.remove()?;

    if args.print {
        print!("{}", written.summary);
    }
    if !global.quiet {
        let seconds = started.elapsed().as_secs_f64();
        let scored = ingested.comments.len() - resumed;
        eprintln!(
            "classified {} comments ({} resumed from checkpoints) with {} in {seconds:.1}s ({:.1} comments/s); wrote {}",
            ingested.comments.len(),
            resumed,
            tasks.iter().map(|t| t.name()).collect::<Vec<_>>().join(", "),
            scored as f64 / seconds.max(1e-9),
            args.out.display()
        );
    }
    let errors = ingested.error_count();
    if args.input.strict && errors > 0 {
        eprintln!("stance: error: --strict: {errors} record(s) rejected with an error (see {})", rejects.display());
        return Ok(ExitCode::from(STRICT_FAILURE));
    }
    Ok(ExitCode::SUCCESS)
}

/// The head folder of each task: `--head TASK=DIR` where given, else the shipped head.
fn head_dirs(tasks: &[Task], overrides: &[String]) -> Result<Vec<(Task, PathBuf)>> {
    let mut chosen: Vec<(Task, Option<PathBuf>)> = tasks.iter().map(|&t| (t, None)).collect();
    for spec in overrides {
        let (task, dir) = spec.split_once('=').with_context(|| format!("--head `{spec}`: expected TASK=DIR"))?;
        let task: Task = task.parse().map_err(|e| anyhow::anyhow!("--head `{spec}`: {e}"))?;
        let Some(slot) = chosen.iter_mut().find(|(t, _)| *t == task) else {
            bail!("--head `{spec}`: task {task} is not among the tasks of this run");
        };
        slot.1 = Some(PathBuf::from(dir));
    }
    chosen
        .into_iter()
        .map(|(task, dir)| Ok((task, match dir {
            Some(dir) => dir,
            None => head_dir("default", task)?,
        })))
        .collect()
}

/// Fingerprints of the input files (stdin has none: it cannot be resumed against).
fn fingerprint_inputs(inputs: &[String]) -> Result<Vec<InputFingerprint>> {
    inputs
        .iter()
        .map(|i| match InputSpec::parse(i).source {
            stance_ingest::InputSource::Path(path) => InputFingerprint::of(&path).map_err(anyhow::Error::from),
            _ => Ok(InputFingerprint { path: i.clone(), bytes: 0, sha256: String::new() }),
        })
        .collect()
}

fn run_info(opened: &stance_model::runtime::OpenModel, heads: &HeadSet, inputs: &[InputFingerprint], args: &Args) -> RunInfo {
    let (id, revision) = match &opened.resolved.origin {
        stance_model::source::Origin::Folder(path) => (path.display().to_string(), None),
        stance_model::source::Origin::HubCache { repo, revision, .. } => (repo.clone(), Some(revision.clone())),
    };
    let mut extra = serde_json::Map::new();
    extra.insert("command".into(), serde_json::json!(std::env::args().collect::<Vec<_>>()));
    extra.insert("target".into(), serde_json::json!(args.target));
    extra.insert("truncate".into(), serde_json::json!(args.model.truncate.to_string()));
    extra.insert("quantized_matmul".into(), serde_json::json!(opened.info.quantized_matmul));
    RunInfo {
        stance_version: env!("CARGO_PKG_VERSION").to_string(),
        models: vec![ModelRef { role: "encoder".into(), id, revision }],
        heads: heads
            .heads
            .iter()
            .map(|h| HeadInfo {
                task: h.task.name().to_string(),
                labels: h.head.labels().to_vec(),
                source: Some(format!("{} (sha256 {})", h.dir.display(), &h.sha256[..16])),
                thresholds: Default::default(),
            })
            .collect(),
        input_files: inputs
            .iter()
            .map(|i| InputFile { path: i.path.clone(), bytes: Some(i.bytes), sha256: Some(i.sha256.clone()).filter(|s| !s.is_empty()) })
            .collect(),
        extra,
        ..RunInfo::default()
    }
}
