//! `stance ingest INPUT... --out DIR`: read comment archives into clean, validated threads.

use crate::flags::{Global, InputFlags, STRICT_FAILURE};
use anyhow::{Context, Result};
use stance_ingest::{write_ingested, InputFormat, OutputFormat};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(clap::Args, Debug)]
#[command(after_help = "\
Formats are detected from content and extension (.jsonl .csv .tsv .parquet .xml .txt, \
optionally .gz or .zst): tables of comments or articles, Reddit dumps, Disqus XML exports, \
scraped comment pages. Problems are written to DIR/rejects.jsonl as {file, line, field, reason, \
severity}: errors leave the record out, warnings keep it.")]
pub struct Args {
    #[command(flatten)]
    pub input: InputFlags,

    /// Output directory (created if missing).
    #[arg(long, short, value_name = "DIR")]
    pub out: PathBuf,

    /// Read every input as this format instead of detecting it.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<InputFormat>,

    /// Output format for articles and comments (rejects are always JSONL).
    #[arg(long, value_enum, default_value_t = OutputFormat::Jsonl)]
    pub to: OutputFormat,
}

pub fn run(args: Args, global: &Global) -> Result<ExitCode> {
    let started = Instant::now();
    let ingested = args.input.read(args.format)?;
    let files = write_ingested(&ingested, &args.out, args.to)
        .with_context(|| format!("cannot write outputs to {}", args.out.display()))?;

    let errors = ingested.error_count();
    if !global.quiet {
        eprintln!("{}", ingested.summary);
        eprintln!(
            "wrote {}, {} and {} in {:.2}s",
            files.articles.display(),
            files.comments.display(),
            files.rejects.display(),
            started.elapsed().as_secs_f64()
        );
    }
    if args.input.strict && errors > 0 {
        eprintln!("stance: error: --strict: {errors} record(s) rejected with an error (see {})", files.rejects.display());
        return Ok(ExitCode::from(STRICT_FAILURE));
    }
    Ok(ExitCode::SUCCESS)
}
