//! `stance classify INPUT... --out DIR`: the main job. Turns the flags into a
//! [`ClassifyRequest`], runs it with a progress bar, and prints what it did.

use crate::cmd::texts;
use crate::flags::{Global, InputFlags, ModelFlags, STRICT_FAILURE};
use anyhow::{Context, Result};
use clap::ValueEnum;
use stance_classify::{ClassifyRequest, Destination, Event, Outcome, ZeroShotRequest};
use stance_core::Task;
use stance_heads::HeadSource;
use stance_ingest::InputFormat;
use stance_model::source::ModelRef;
use stance_report::{Format, OutputOptions, PartitionBy};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

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
    pub input_format: Option<InputFormat>,
    /// Article tables (`article_id`, `title`, `target`, …) to read with the comments.
    #[arg(long, value_name = "FILE")]
    pub articles: Vec<String>,
    #[command(flatten)]
    pub model: ModelFlags,
    /// Tasks to run, comma-separated [default: all].
    #[arg(long, value_delimiter = ',', value_name = "TASK")]
    pub tasks: Option<Vec<Task>>,
    /// Use another head for a task: `TASK=DIR` (e.g. one made with `stance train --from default`),
    /// or `TASK=head` for the task's built-in heads alone (stance and reply: two heads blended).
    #[arg(long = "head", value_name = "TASK=DIR")]
    pub heads: Vec<String>,
    /// Which built-in models score the tasks that no --head names: the most accurate, or fewer
    /// fine-tuned layers for more comments per second (BENCH.md and models/EVAL.md, "three speeds").
    #[arg(long, value_enum, default_value_t = Speed::Accurate)]
    pub speed: Speed,
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
    #[arg(long, short, value_name = "DIR", required_unless_present = "stdout")]
    pub out: Option<PathBuf>,
    /// Write only the comments table, in this format, to standard output instead of a folder:
    /// no aggregates, reports, rejects file or checkpoints (`stance classify - --stdout parquet`
    /// is one Spark task's work; see examples/spark). Rejected records are counted on stderr.
    #[arg(long, value_enum, value_name = "FORMAT", conflicts_with_all = ["out", "format", "partition_by", "print", "fresh"])]
    pub stdout: Option<Format>,
    /// Table format.
    #[arg(long, value_enum, default_value_t = Format::Parquet)]
    pub format: Format,
    /// Write comments and daily as hive-partitioned directories.
    #[arg(long, value_enum)]
    pub partition_by: Option<PartitionBy>,
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

pub fn run(args: Args, global: &Global) -> Result<ExitCode> {
    let started = Instant::now();
    let strict = args.input.strict;
    let (print, stdout) = (args.print, args.stdout);
    let request = request(args, global)?;
    let mut outcome = pipeline(&request, global)?;
    if print {
        print!("{}", outcome.summary);
    }
    let out = match (&request.out, stdout) {
        (Destination::Dir(out), _) => out.display().to_string(),
        (Destination::Memory, format) => {
            let comments = outcome.comments.take().context("the run returned no comments table")?;
            let mut w = std::io::BufWriter::new(std::io::stdout().lock());
            stance_report::write_frame(&mut w, &comments, format.unwrap_or_default(), &[])
                .context("cannot write the comments table to stdout")?;
            w.flush().context("cannot write the comments table to stdout")?;
            "the comments table to stdout".to_string()
        }
    };
    if !global.quiet {
        let seconds = started.elapsed().as_secs_f64();
        eprintln!(
            "classified {} comments ({} resumed from checkpoints) with {} in {seconds:.1}s ({:.1} comments/s); wrote {}",
            outcome.n_comments,
            outcome.resumed,
            outcome.tasks.iter().map(|t| t.name()).collect::<Vec<_>>().join(", "),
            (outcome.n_comments - outcome.resumed) as f64 / seconds.max(1e-9),
            out
        );
    }
    if strict && outcome.rejected > 0 {
        let see = match &request.out {
            Destination::Dir(out) => format!(" (see {})", out.join("rejects.jsonl").display()),
            Destination::Memory => String::new(),
        };
        eprintln!("stance: error: --strict: {} record(s) rejected with an error{see}", outcome.rejected);
        return Ok(ExitCode::from(STRICT_FAILURE));
    }
    Ok(ExitCode::SUCCESS)
}

/// How much fine-tuned work the built-in models do: the speed of a run against its accuracy
/// (models/EVAL.md and BENCH.md, "three speeds").
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speed {
    /// Every task's most accurate built-in model: the blends, route and cross-encoders, which run
    /// fine-tuned layers beside the encoder (sentiment nine, toxicity and stance six).
    Accurate,
    /// Stance, reply and irony as `accurate`; sentiment and toxicity from their built-in heads,
    /// which read the encoder pass every head shares.
    Balanced,
    /// Every task from its built-in heads (`--head TASK=head`; stance and reply blend two): one
    /// encoder pass per distinct text and nothing else.
    Fast,
}

impl Speed {
    /// Whether `task` is scored by its built-in heads alone at this speed (`--head TASK=head`).
    fn heads_only(self, task: Task) -> bool {
        match self {
            Speed::Accurate => false,
            Speed::Balanced => matches!(task, Task::Sentiment | Task::Toxicity),
            Speed::Fast => true,
        }
    }
}

/// The request the flags describe. Threads are bounded here, before anything runs in parallel.
pub fn request(mut args: Args, global: &Global) -> Result<ClassifyRequest> {
    args.model.bound_threads()?;
    let tasks = args.tasks.unwrap_or_else(|| Task::ALL.to_vec());
    // The speed's heads first: a --head given for the same task comes later and wins.
    let mut heads: Vec<(Task, HeadSource)> =
        tasks.iter().filter(|&&t| args.speed.heads_only(t)).map(|&t| (t, HeadSource::DefaultHead)).collect();
    for spec in &args.heads {
        let (task, source) = spec.split_once('=').with_context(|| format!("--head `{spec}`: expected TASK=DIR"))?;
        let task: Task = task.parse().with_context(|| format!("--head `{spec}`"))?;
        heads.push((task, HeadSource::parse(source)));
    }
    args.input.inputs.extend(args.articles.iter().cloned());
    let mut extra = serde_json::Map::new();
    extra.insert("command".into(), serde_json::json!(std::env::args().collect::<Vec<_>>()));
    let speed = args.speed.to_possible_value().map(|v| v.get_name().to_string());
    extra.insert(stance_report::RunInfo::SPEED_KEY.into(), serde_json::json!(speed));
    Ok(ClassifyRequest {
        inputs: args.input.specs(args.input_format),
        ingest: args.input.options()?,
        model: args.model.choice(global),
        tasks,
        heads,
        zero_shot: args.stance_model.as_deref().map(|name| ZeroShotRequest {
            model: ModelRef::parse(name),
            templates: args.stance_templates.clone(),
            multi_label: args.multi_label,
        }),
        target: args.target,
        chunk_size: args.chunk_size,
        logits: args.logits,
        out: match args.out {
            Some(out) if args.stdout.is_none() => Destination::Dir(out),
            _ => Destination::Memory,
        },
        output: OutputOptions { format: args.format, partition_by: args.partition_by },
        fresh: args.fresh,
        extra,
    })
}

/// Runs `request` with a progress bar and the ingest summary on stderr (unless quiet).
pub fn pipeline(request: &ClassifyRequest, global: &Global) -> Result<Outcome> {
    let mut bar: Option<indicatif::ProgressBar> = None;
    let outcome = stance_classify::run(request, &mut |event| {
        crate::manage_freed_pages(&event);
        match event {
            Event::Ingested(summary) => {
                if !global.quiet {
                    eprintln!("{summary}");
                }
            }
            Event::Chunk(p) => {
                let bar = bar.get_or_insert_with(|| texts::progress(p.total, "classify", global.quiet));
                if p.resumed {
                    bar.reset_eta();
                }
                bar.set_position(p.done as u64);
            }
            Event::Loaded | Event::Scored => {}
        }
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(outcome?)
}
