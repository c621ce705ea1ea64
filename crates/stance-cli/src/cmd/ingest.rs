//! `stance ingest INPUT... --out DIR`: read comment archives into clean, validated threads.

use crate::flags::Global;
use anyhow::{Context, Result};
use clap::ValueEnum;
use stance_ingest::{read_inputs, write_ingested, FieldMap, IngestOptions, InputFormat, InputSpec, OutputFormat};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// Exit code when `--strict` finds errors (outputs are still written).
const STRICT_FAILURE: u8 = 1;

#[derive(clap::Args, Debug)]
#[command(after_help = "\
Formats are detected from content and extension (.jsonl .csv .tsv .parquet .xml .txt, \
optionally .gz or .zst): tables of comments or articles, Reddit dumps, Disqus XML exports, \
scraped comment pages. Problems are written to DIR/rejects.jsonl as {file, line, field, reason, \
severity}: errors leave the record out, warnings keep it.")]
pub struct Args {
    /// Input files; `-` reads standard input.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<String>,

    /// Output directory (created if missing).
    #[arg(long, short, value_name = "DIR")]
    pub out: PathBuf,

    /// Output format for articles and comments (rejects are always JSONL).
    #[arg(long, value_enum, default_value_t = To::Jsonl)]
    pub to: To,

    /// Read every input as this format instead of detecting it.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<Format>,

    /// Take a field from another column: `text=body`, `comment.author=user`, `article.title=headline`.
    #[arg(long = "map", value_name = "FIELD=COLUMN")]
    pub map: Vec<String>,

    /// Exit with status 1 if any record was rejected with an error.
    #[arg(long)]
    pub strict: bool,

    /// Replace invalid UTF-8 with U+FFFD (with a warning) instead of rejecting the record.
    #[arg(long)]
    pub lossy_utf8: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum To {
    Jsonl,
    Parquet,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    Jsonl,
    Csv,
    Tsv,
    Parquet,
    Reddit,
    Disqus,
    Page,
}

impl From<Format> for InputFormat {
    fn from(f: Format) -> Self {
        match f {
            Format::Jsonl => InputFormat::Jsonl,
            Format::Csv => InputFormat::Csv,
            Format::Tsv => InputFormat::Tsv,
            Format::Parquet => InputFormat::Parquet,
            Format::Reddit => InputFormat::Reddit,
            Format::Disqus => InputFormat::Disqus,
            Format::Page => InputFormat::Page,
        }
    }
}

pub fn run(args: Args, global: &Global) -> Result<ExitCode> {
    let started = Instant::now();
    let options = IngestOptions {
        field_map: FieldMap::parse(&args.map)?,
        lossy_utf8: args.lossy_utf8,
        ..IngestOptions::default()
    };
    let format = args.format.map(InputFormat::from);
    let inputs: Vec<InputSpec> = args.inputs.iter().map(|i| InputSpec::parse(i).with_format(format)).collect();
    let ingested = read_inputs(&inputs, &options).context("ingest failed")?;
    let output = match args.to {
        To::Jsonl => OutputFormat::Jsonl,
        To::Parquet => OutputFormat::Parquet,
    };
    let files = write_ingested(&ingested, &args.out, output)
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
    if args.strict && errors > 0 {
        eprintln!("stance: error: --strict: {errors} record(s) rejected with an error (see {})", files.rejects.display());
        return Ok(ExitCode::from(STRICT_FAILURE));
    }
    Ok(ExitCode::SUCCESS)
}
