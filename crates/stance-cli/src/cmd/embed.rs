//! `stance embed`: one L2-normalised embedding per input text, to Parquet.

use crate::cmd::texts;
use crate::flags::{Global, ModelFlags};
use anyhow::Result;
use polars::prelude::*;
use stance_model::embed::{EmbedMode, EmbedOptions};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub model: ModelFlags,
    /// Which e5 prefix the model puts in front of each text (set by the model, never by you).
    #[arg(long, default_value = "query")]
    pub mode: EmbedMode,
    /// JSONL, CSV or Parquet with `id` and `text`.
    #[arg(long)]
    pub input: PathBuf,
    /// Parquet: `id`, `embedding` (list of f32), `n_tokens`, `truncated`.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(args: Args, global: &Global) -> Result<ExitCode> {
    let rows = texts::read(&args.input, None)?;
    let opened = args.model.open(global)?;
    let options = EmbedOptions {
        mode: args.mode,
        truncation: args.model.truncate,
        batch: args.model.batch(),
    };
    let bar = texts::progress(rows.len(), "embed", global.quiet);
    let text_refs: Vec<&str> = rows.iter().map(|r| r.text.as_str()).collect();
    let embeddings = opened
        .model
        .embed(&text_refs, &options, &|n| bar.inc(n as u64))?;
    bar.finish_and_clear();

    let n_truncated = embeddings.iter().filter(|e| e.truncated).count();
    let columns = vec![
        Column::new(
            "id".into(),
            rows.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ),
        texts::f32_lists("embedding", embeddings.iter().map(|e| e.vector.clone())),
        Column::new(
            "n_tokens".into(),
            embeddings
                .iter()
                .map(|e| e.n_tokens as u32)
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "truncated".into(),
            embeddings.iter().map(|e| e.truncated).collect::<Vec<_>>(),
        ),
    ];
    texts::write_parquet(&args.out, columns)?;
    if !global.quiet {
        eprintln!(
            "stance embed: {} rows → {} ({} truncated, --truncate {})",
            rows.len(),
            args.out.display(),
            n_truncated,
            args.model.truncate
        );
    }
    Ok(ExitCode::SUCCESS)
}
