//! `stance classify INPUT... --out DIR`: the main job. Wires the stages together:
//! ingest → encode + heads (chunked, checkpointed in `DIR/.stance-work`) → aggregate → write.

use crate::cmd::texts;
use crate::cmd::train::head_dir;
use crate::flags::{Global, InputFlags, InputFormatArg, ModelFlags, STRICT_FAILURE};
use anyhow::{bail, Context, Result};
use clap::ValueEnum;
use stance_classify::{HeadSet, InputFingerprint, RunKey, StageTimes, WorkDir, ZeroShotStance};
use stance_model::runtime::OpenModel;
use stance_heads::model_encoder::ModelEncoder;
use stance_heads::Task;
use stance_ingest::InputSpec;
use stance_report::{HeadInfo, InputFile, ModelRef, RunInfo};
use stance_report::{Format, OutputOptions, PartitionBy};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

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
    /// Score stance zero-shot with this NLI model (a DeBERTa-v2 or XLM-R `…ForSequenceClassification`
    /// checkpoint with an entailment label; folder or hub id) instead of the stance head.
    #[arg(long, value_name = "MODEL")]
    pub stance_model: Option<String>,
    /// Hypothesis templates for --stance-model, JSON by language:
    /// `{"fr": {"hypothesis": "Ce commentaire est {}.", "favor": "favorable à {target}", "against": …, "none": …}}`
    /// (built in: en, fr, de, es, it, ca, pt; others use English).
    #[arg(long, value_name = "FILE", requires = "stance_model")]
    pub stance_templates: Option<PathBuf>,
    /// With --stance-model: score each stance on its own (entailment vs contradiction) instead
    /// of one softmax across the three; probabilities then need not sum to 1.
    #[arg(long, requires = "stance_model")]
    pub multi_label: bool,
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

/// What one run did, and where its time went (what `stance bench` reports).
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub n_comments: usize,
    pub resumed: usize,
    pub rejected: usize,
    pub tasks: Vec<Task>,
    pub summary: String,
    pub read: Duration,
    pub load: Duration,
    pub scoring: StageTimes,
    pub aggregate: Duration,
    pub write: Duration,
    /// (layers, hidden, intermediate) of the encoder, for its FLOP count.
    pub encoder_shape: (usize, usize, usize),
}

pub fn run(args: Args, global: &Global) -> Result<ExitCode> {
    let started = Instant::now();
    let strict = args.input.strict;
    let (print, out) = (args.print, args.out.clone());
    let outcome = pipeline(args, global)?;
    if print {
        print!("{}", outcome.summary);
    }
    if !global.quiet {
        let seconds = started.elapsed().as_secs_f64();
        eprintln!(
            "classified {} comments ({} resumed from checkpoints) with {} in {seconds:.1}s ({:.1} comments/s); wrote {}",
            outcome.n_comments,
            outcome.resumed,
            outcome.tasks.iter().map(|t| t.name()).collect::<Vec<_>>().join(", "),
            (outcome.n_comments - outcome.resumed) as f64 / seconds.max(1e-9),
            out.display()
        );
    }
    if strict && outcome.rejected > 0 {
        eprintln!(
            "stance: error: --strict: {} record(s) rejected with an error (see {})",
            outcome.rejected,
            out.join("rejects.jsonl").display()
        );
        return Ok(ExitCode::from(STRICT_FAILURE));
    }
    Ok(ExitCode::SUCCESS)
}

/// ingest → encode + heads → aggregate → write, timing each stage.
pub fn pipeline(mut args: Args, global: &Global) -> Result<Outcome> {
    if args.chunk_size == 0 {
        bail!("--chunk-size must be at least 1");
    }
    let tasks = args.tasks.clone().unwrap_or_else(|| Task::ALL.to_vec());
    let zero_shot_stance = args.stance_model.is_some() && tasks.contains(&Task::Stance);
    let head_tasks: Vec<Task> = tasks.iter().copied().filter(|t| !(zero_shot_stance && *t == Task::Stance)).collect();
    let head_dirs = head_dirs(&head_tasks, &args.heads)?;

    args.model.bound_threads()?;
    let clock = Instant::now();
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
    let read = clock.elapsed();

    let clock = Instant::now();
    let opened = args.model.open(global)?;
    let encoder = ModelEncoder::new(&opened, args.model.truncate, args.model.batch())?;
    let heads = HeadSet::load(&head_dirs, &stance_heads::TextEncoder::id(&encoder))?;
    let nli = match (&args.stance_model, zero_shot_stance) {
        (Some(name), true) => {
            let reference = stance_model::source::ModelRef::parse(name);
            let resolve = stance_model::source::ResolveOptions::new(args.model.offline, !global.quiet);
            let opened = stance_model::runtime::open(&reference, &resolve, &args.model.gguf.load_options())
                .with_context(|| format!("cannot open the stance model `{reference}`"))?;
            let templates = match &args.stance_templates {
                Some(path) => stance_classify::Templates::with_file(path)?,
                None => stance_classify::Templates::default(),
            };
            Some((opened, templates))
        }
        _ => None,
    };
    let zero_shot = nli.as_ref().map(|(opened, templates)| ZeroShotStance {
        model: &opened.model,
        templates: templates.clone(),
        multi_label: args.multi_label,
        batch: args.model.batch(),
    });
    let load = clock.elapsed();

    let key = RunKey {
        stance_version: env!("CARGO_PKG_VERSION").to_string(),
        inputs: inputs.clone(),
        encoder: stance_heads::TextEncoder::cache_id(&encoder),
        heads: heads
            .heads
            .iter()
            .map(|h| (h.task.name().to_string(), h.sha256.clone()))
            .chain(nli.as_ref().map(|(opened, templates)| {
                let weights = stance_heads::model_encoder::file_sha256(&opened.resolved.files.weights).unwrap_or_default();
                let templates = serde_json::to_string(templates).unwrap_or_default();
                ("stance".to_string(), format!("nli {weights}; multi_label {}; templates {templates}", args.multi_label))
            }))
            .collect(),
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
    let classified = stance_classify::classify(&ingested, &encoder, &heads, &work, zero_shot.as_ref(), args.target.as_deref(), &mut |p| {
        if p.resumed {
            resumed = p.done;
            bar.reset_eta();
        }
        bar.set_position(p.done as u64);
    })?;
    bar.finish_and_clear();

    let clock = Instant::now();
    let articles = stance_ingest::articles_frame(&ingested.articles)?;
    let aggregates =
        stance_aggregate::aggregate(&classified.table, &articles, &stance_aggregate::AggregateOptions::default())?;
    let aggregate = clock.elapsed();

    let clock = Instant::now();
    let run = run_info(&opened, nli.as_ref().map(|(o, _)| o), &heads, &inputs, &args);
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
    let written = stance_report::write_outputs(&args.out, &classified.table, &aggregates, &run, &options)
        .with_context(|| format!("cannot write outputs to {}", args.out.display()))?;
    stance_ingest::write_rejects(&args.out.join("rejects.jsonl"), &ingested.rejects)?;
    work.remove()?;
    let write = clock.elapsed();

    let config = &opened.model.config;
    Ok(Outcome {
        n_comments: ingested.comments.len(),
        resumed,
        rejected: ingested.error_count(),
        tasks,
        summary: written.summary,
        read,
        load,
        scoring: classified.times,
        aggregate,
        write,
        encoder_shape: (config.num_hidden_layers, config.hidden_size, config.intermediate_size),
    })
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

fn run_info(
    opened: &OpenModel,
    nli: Option<&OpenModel>,
    heads: &HeadSet,
    inputs: &[InputFingerprint],
    args: &Args,
) -> RunInfo {
    let model_ref = |role: &str, opened: &OpenModel| {
        let (id, revision) = match &opened.resolved.origin {
            stance_model::source::Origin::Folder(path) => (path.display().to_string(), None),
            stance_model::source::Origin::HubCache { repo, revision, .. } => (repo.clone(), Some(revision.clone())),
        };
        ModelRef { role: role.into(), id, revision }
    };
    let mut extra = serde_json::Map::new();
    extra.insert("command".into(), serde_json::json!(std::env::args().collect::<Vec<_>>()));
    extra.insert("target".into(), serde_json::json!(args.target));
    extra.insert("truncate".into(), serde_json::json!(args.model.truncate.to_string()));
    extra.insert("quantized_matmul".into(), serde_json::json!(opened.info.quantized_matmul));
    RunInfo {
        stance_version: env!("CARGO_PKG_VERSION").to_string(),
        models: std::iter::once(model_ref("encoder", opened))
            .chain(nli.map(|nli| model_ref("stance (zero-shot NLI)", nli)))
            .collect(),
        heads: heads
            .heads
            .iter()
            .map(|h| HeadInfo {
                task: h.task.name().to_string(),
                labels: h.head.labels().to_vec(),
                source: Some(format!("{} (sha256 {})", h.dir.display(), &h.sha256[..16])),
                thresholds: Default::default(),
            })
            .chain(nli.map(|_| HeadInfo {
                task: "stance".into(),
                labels: stance_classify::zero_shot::LABELS.iter().map(|l| l.to_string()).collect(),
                source: Some(format!("zero-shot NLI, multi_label {}", args.multi_label)),
                thresholds: Default::default(),
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
