//! `stance bench`: the real `stance classify` pipeline on a benchmark archive, repeated, with
//! where the time went. Speed is measured here, never asserted in tests.
//!
//! Each run is a process of its own (this binary, called back with `--child-run`), so that its
//! peak memory is what one `stance classify` costs: in one process, the runs after the first
//! started with about 330 MB the allocator had kept from the run before, and the peak over
//! three runs read 578–645 MB where a single run peaks at 422–490 MB.

use crate::cmd::classify;
use crate::flags::Global;
use anyhow::{Context, Result};
use clap::Parser;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Comments to classify (any format `classify` reads).
    #[arg(long, default_value = "../shared/data/bench/comments.jsonl")]
    pub input: PathBuf,
    /// Articles for the comments [default: articles.jsonl beside the input, if there is one].
    #[arg(long)]
    pub articles: Option<PathBuf>,
    /// Runs; the report gives the median of each figure.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub repeat: u32,
    /// Print JSON on stdout instead of text.
    #[arg(long)]
    pub json: bool,
    /// Anything else is passed to `stance classify` as is (e.g. `--model`, `--threads`,
    /// `--tasks`, `--batch-tokens`).
    #[arg(last = true)]
    pub classify_args: Vec<String>,
    #[arg(long, default_value = "default")]
    pub model: String,
    #[arg(long)]
    pub threads: Option<u16>,
    /// Run once in this process and print the run's figures as JSON (how the bench calls
    /// itself for each run).
    #[arg(long, hide = true)]
    pub child_run: bool,
}

/// `stance classify`'s flags, parsed from the argument list a bench run builds: the bench takes
/// any classify flag after `--`, and this is where they are read.
#[derive(Parser)]
struct ClassifyCommand {
    #[command(flatten)]
    args: classify::Args,
}

#[derive(Serialize)]
struct BenchReport {
    input: String,
    comments: usize,
    repeats: u32,
    threads: usize,
    cpu: String,
    /// Medians over the repeats.
    comments_per_s: f64,
    /// The same without the model load and the reading of the input: what
    /// `bench-peers/run-peers.sh` times for its peers (their loading, reading and warm-up stay
    /// outside the clock), and what a long archive approaches as the load is spread over it.
    comments_per_s_loaded: f64,
    tokens_per_s: f64,
    encoder_gflop_per_s: f64,
    /// The encoder's layers run per token on average: fewer than its depth where texts that
    /// only cross-encoders read stop at the layer they read.
    encoder_layers_per_token: f64,
    /// The arithmetic of the encoder's linears, and of each task's fine-tuned layers (tasks
    /// without any are left out), as `run.json` records them.
    compute: String,
    fine_tuned_compute: Vec<(String, String)>,
    seconds: Stages,
    /// Medians of the seconds each task's model took, within `seconds.heads`.
    heads_seconds_by_task: Vec<(String, f64)>,
    tokens: usize,
    /// Share of the positions the encoder computed that were padding, in %.
    padding_waste_pct: f64,
    /// The largest of the runs' peaks (each run a process of its own).
    peak_rss_mb: f64,
}

#[derive(Serialize, Deserialize, Default, Clone, Copy)]
struct Stages {
    total: f64,
    read: f64,
    load: f64,
    encode: f64,
    heads: f64,
    aggregate: f64,
    write: f64,
}

/// What one run measured: a child's output, read by the parent.
#[derive(Serialize, Deserialize)]
struct RunRecord {
    n_comments: usize,
    stages: Stages,
    heads_by_task: Vec<(String, f64)>,
    compute: String,
    fine_tuned_compute: Vec<(String, String)>,
    tokens_encoded: usize,
    padded_tokens: usize,
    /// Σ tokens × layers run, and Σ tokens² × layers run, over encoded texts (see
    /// `StageTimes`), for the encoder's FLOP count.
    layer_tokens: f64,
    layer_attention_cost: f64,
    /// (hidden, intermediate) of the encoder's layers, for its FLOP count.
    encoder_shape: (usize, usize),
    threads: usize,
    /// The child process's peak resident set, in MB (10⁶ bytes).
    peak_rss_mb: f64,
}

pub fn run(args: Args, global: &Global) -> Result<ExitCode> {
    if args.child_run {
        println!("{}", serde_json::to_string(&one_run(&args)?)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut runs: Vec<RunRecord> = Vec::new();
    for repeat in 0..args.repeat {
        let run = child_run(&args)?;
        if !global.quiet {
            eprintln!(
                "run {}/{}: {} comments in {:.1}s ({:.1} comments/s), peak RSS {:.0} MB",
                repeat + 1,
                args.repeat,
                run.n_comments,
                run.stages.total,
                run.n_comments as f64 / run.stages.total,
                run.peak_rss_mb
            );
        }
        runs.push(run);
    }
    let report = summarize(&args, &runs);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report));
    }
    Ok(ExitCode::SUCCESS)
}

/// One run in a child process: this binary with the same flags and `--child-run`.
fn child_run(args: &Args) -> Result<RunRecord> {
    let exe = std::env::current_exe().context("cannot find the stance binary to run the bench")?;
    let mut command = Command::new(exe);
    command.args(["--quiet", "bench", "--child-run", "--model", &args.model]);
    command.arg("--input").arg(&args.input);
    if let Some(a) = &args.articles {
        command.arg("--articles").arg(a);
    }
    if let Some(n) = args.threads {
        command.args(["--threads", &n.to_string()]);
    }
    command.arg("--").args(&args.classify_args);
    let output = command.stderr(Stdio::inherit()).output().context("cannot start a bench run")?;
    if !output.status.success() {
        anyhow::bail!("a bench run failed ({}); its error is above", output.status);
    }
    serde_json::from_slice(&output.stdout).context("cannot read a bench run's figures")
}

/// One run of the classify pipeline in this process, into a temporary folder.
fn one_run(args: &Args) -> Result<RunRecord> {
    let articles = args.articles.clone().or_else(|| {
        let beside = args.input.with_file_name("articles.jsonl");
        beside.is_file().then_some(beside)
    });
    let out = tempfile::tempdir().context("cannot make a temporary output directory")?;
    let mut argv: Vec<String> = vec!["classify".into(), "--offline".into(), "--model".into(), args.model.clone()];
    if let Some(n) = args.threads {
        argv.extend(["--threads".into(), n.to_string()]);
    }
    argv.push(args.input.display().to_string());
    if let Some(a) = &articles {
        argv.extend(["--articles".into(), a.display().to_string()]);
    }
    argv.extend(["--out".into(), out.path().display().to_string()]);
    argv.extend(args.classify_args.iter().cloned());
    let quiet = Global { quiet: true };
    let request = classify::request(ClassifyCommand::try_parse_from(&argv)?.args, &quiet)?;
    // Memory is managed as in `stance classify`.
    let started = Instant::now();
    let outcome = stance_classify::run(&request, &mut |event| crate::manage_freed_pages(&event))?;
    let total = started.elapsed();
    let s = |d: Duration| d.as_secs_f64();
    Ok(RunRecord {
        n_comments: outcome.n_comments,
        stages: Stages {
            total: s(total),
            read: s(outcome.read),
            load: s(outcome.load),
            encode: s(outcome.scoring.encode),
            heads: s(outcome.scoring.heads),
            aggregate: s(outcome.aggregate),
            write: s(outcome.write),
        },
        heads_by_task: outcome.scoring.heads_of_tasks().map(|(task, took)| (task.name().into(), s(took))).collect(),
        compute: outcome.compute.name().into(),
        fine_tuned_compute: (outcome.fine_tuned_compute.iter())
            .map(|(task, computes)| (task.name().into(), stance_classify::computes_name(computes)))
            .collect(),
        tokens_encoded: outcome.scoring.tokens_encoded,
        padded_tokens: outcome.scoring.padded_tokens,
        layer_tokens: outcome.scoring.layer_tokens,
        layer_attention_cost: outcome.scoring.layer_attention_cost,
        encoder_shape: outcome.encoder_shape,
        threads: rayon::current_num_threads(),
        peak_rss_mb: peak_rss_bytes().map(|b| b as f64 / 1e6).unwrap_or(f64::NAN),
    })
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn summarize(args: &Args, runs: &[RunRecord]) -> BenchReport {
    let first = &runs[0];
    let (hidden, intermediate) = (first.encoder_shape.0 as f64, first.encoder_shape.1 as f64);
    // Multiply-adds ×2 of one layer's linears per token, and of its two attention products per
    // token pair (QKᵀ and PV).
    let linear_per_token = 2.0 * (4.0 * hidden * hidden + 2.0 * hidden * intermediate);
    let attention_per_pair = 4.0 * hidden;
    let flops = |r: &RunRecord| linear_per_token * r.layer_tokens + attention_per_pair * r.layer_attention_cost;
    let over_runs = |f: &dyn Fn(&RunRecord) -> f64| median(runs.iter().map(f).collect());
    let stage = |f: &dyn Fn(&Stages) -> f64| over_runs(&|r| f(&r.stages));
    BenchReport {
        input: args.input.display().to_string(),
        comments: first.n_comments,
        repeats: runs.len() as u32,
        threads: first.threads,
        cpu: cpu_model(),
        comments_per_s: over_runs(&|r| r.n_comments as f64 / r.stages.total),
        comments_per_s_loaded: over_runs(&|r| r.n_comments as f64 / (r.stages.total - r.stages.load - r.stages.read)),
        tokens_per_s: over_runs(&|r| r.tokens_encoded as f64 / r.stages.total),
        encoder_gflop_per_s: over_runs(&|r| flops(r) / r.stages.encode / 1e9),
        encoder_layers_per_token: first.layer_tokens / first.tokens_encoded.max(1) as f64,
        compute: first.compute.clone(),
        fine_tuned_compute: first.fine_tuned_compute.clone(),
        seconds: Stages {
            total: stage(&|s| s.total),
            read: stage(&|s| s.read),
            load: stage(&|s| s.load),
            encode: stage(&|s| s.encode),
            heads: stage(&|s| s.heads),
            aggregate: stage(&|s| s.aggregate),
            write: stage(&|s| s.write),
        },
        // Every run asks for the same tasks, so the first run's list names them all.
        heads_seconds_by_task: first
            .heads_by_task
            .iter()
            .enumerate()
            .map(|(i, (task, _))| (task.clone(), over_runs(&|r| r.heads_by_task.get(i).map_or(f64::NAN, |t| t.1))))
            .collect(),
        tokens: first.tokens_encoded,
        padding_waste_pct: 100.0 * (1.0 - first.tokens_encoded as f64 / first.padded_tokens.max(1) as f64),
        peak_rss_mb: runs.iter().map(|r| r.peak_rss_mb).fold(f64::NAN, f64::max),
    }
}

fn render(r: &BenchReport) -> String {
    let s = &r.seconds;
    let share = |x: f64| 100.0 * x / s.total;
    // A task with fine-tuned layers says their arithmetic: `stance 4.33s (int8 layers)`.
    let by_task: Vec<String> = (r.heads_seconds_by_task.iter())
        .map(|(task, t)| match r.fine_tuned_compute.iter().find(|(name, _)| name == task) {
            Some((_, compute)) => format!("{task} {t:.2}s ({compute} layers)"),
            None => format!("{task} {t:.2}s"),
        })
        .collect();
    let by_task = match by_task.is_empty() {
        true => String::new(),
        false => format!("  heads by task: {}\n", by_task.join(", ")),
    };
    let mut text = format!(
        "stance bench: {} ({} comments, {} tokens encoded), median of {} run(s), {} thread(s) on {}\n\
         \x20 {:.1} comments/s ({:.1} once loaded), {:.0} tokens/s, encoder {:.1} GFLOP/s in {} over {:.1} layers \
         per token, padding {:.1}% of positions, peak RSS {:.0} MB\n\
         \x20 time: total {:.2}s = read {:.2}s ({:.0}%) + model load {:.2}s ({:.0}%) + encode {:.2}s ({:.0}%) \
         + heads {:.2}s ({:.0}%) + aggregate {:.2}s ({:.0}%) + write {:.2}s ({:.0}%)\n",
        r.input,
        r.comments,
        r.tokens,
        r.repeats,
        r.threads,
        r.cpu,
        r.comments_per_s,
        r.comments_per_s_loaded,
        r.tokens_per_s,
        r.encoder_gflop_per_s,
        r.compute,
        r.encoder_layers_per_token,
        r.padding_waste_pct,
        r.peak_rss_mb,
        s.total,
        s.read,
        share(s.read),
        s.load,
        share(s.load),
        s.encode,
        share(s.encode),
        s.heads,
        share(s.heads),
        s.aggregate,
        share(s.aggregate),
        s.write,
        share(s.write),
    );
    text.push_str(&by_task);
    text
}

/// The process's peak resident set (`VmHWM`), on Linux.
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}
