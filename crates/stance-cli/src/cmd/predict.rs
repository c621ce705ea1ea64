//! `stance predict`: any sequence-classification checkpoint over texts (or text pairs for NLI
//! models), one row per input, to Parquet.

use crate::cmd::texts;
use crate::flags::{Global, ModelFlags};
use anyhow::Result;
use polars::prelude::*;
use stance_model::config::ProblemType;
use stance_model::predict::{PredictOptions, TextInput};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub model: ModelFlags,
    /// JSONL, CSV or Parquet with `id` and `text`.
    #[arg(long)]
    pub input: PathBuf,
    /// Parquet: `id`, `label` (`labels`, a list, for multi-label models), `p_<label>` per
    /// label, `n_tokens`, `truncated`, and `logit_<label>` with --logits.
    #[arg(long)]
    pub out: PathBuf,
    /// Field holding the second text of each pair (the hypothesis, for NLI models).
    #[arg(long)]
    pub pair_field: Option<String>,
    /// Also write the raw logits.
    #[arg(long)]
    pub logits: bool,
}

pub fn run(args: Args, global: &Global) -> Result<ExitCode> {
    let rows = texts::read(&args.input, args.pair_field.as_deref())?;
    let opened = args.model.open(global)?;
    let classifier = opened.model.classifier()?.clone();
    let inputs: Vec<TextInput> = rows
        .iter()
        .map(|r| TextInput {
            text: r.text.clone(),
            pair: r.pair.clone(),
        })
        .collect();
    let options = PredictOptions {
        truncation: args.model.truncate,
        batch: args.model.batch(),
        ..Default::default()
    };
    let bar = texts::progress(rows.len(), "predict", global.quiet);
    let predictions = opened
        .model
        .predict(&inputs, &options, &|n| bar.inc(n as u64))?;
    bar.finish_and_clear();

    let mut columns = vec![Column::new(
        "id".into(),
        rows.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
    )];
    match classifier.problem_type {
        ProblemType::SingleLabel => columns.push(Column::new(
            "label".into(),
            predictions
                .iter()
                .map(|p| p.labels.first().cloned())
                .collect::<Vec<_>>(),
        )),
        ProblemType::MultiLabel => {
            let lists: Vec<Series> = predictions
                .iter()
                .map(|p| Series::new("".into(), p.labels.clone()))
                .collect();
            let mut list = Series::new("labels".into(), lists);
            if predictions.is_empty() {
                list =
                    Series::new_empty("labels".into(), &DataType::List(Box::new(DataType::String)));
            }
            columns.push(list.into_column());
        }
        ProblemType::Regression => {}
    }
    let per_label =
        |prefix: &str, pick: &dyn Fn(&stance_model::predict::Prediction, usize) -> f32| {
            classifier
                .id2label
                .iter()
                .enumerate()
                .map(|(i, label)| {
                    Column::new(
                        format!("{prefix}{label}").into(),
                        predictions.iter().map(|p| pick(p, i)).collect::<Vec<f32>>(),
                    )
                })
                .collect::<Vec<_>>()
        };
    columns.extend(per_label("p_", &|p, i| p.scores[i]));
    columns.push(Column::new(
        "n_tokens".into(),
        predictions
            .iter()
            .map(|p| p.n_tokens as u32)
            .collect::<Vec<_>>(),
    ));
    columns.push(Column::new(
        "truncated".into(),
        predictions.iter().map(|p| p.truncated).collect::<Vec<_>>(),
    ));
    if args.logits {
        columns.extend(per_label("logit_", &|p, i| p.logits[i]));
    }
    texts::write_parquet(&args.out, columns)?;
    if !global.quiet {
        let n_truncated = predictions.iter().filter(|p| p.truncated).count();
        eprintln!(
            "stance predict: {} rows → {} ({} truncated, --truncate {})",
            rows.len(),
            args.out.display(),
            n_truncated,
            args.model.truncate
        );
    }
    Ok(ExitCode::SUCCESS)
}
