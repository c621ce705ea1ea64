//! `stance calibrate`: gives an existing head or fine-tuned model its decision rule, chosen on
//! labelled validation files, without retraining it: a flag model (irony, toxicity) thresholds
//! per language ([`Thresholds`]), a multi-class model (stance, reply, sentiment) offsets on its
//! classes' log-probabilities ([`ClassOffsets`]). A blend is calibrated in place, and with
//! `--blend-weights` its members' weights are chosen too; with `--parity`, a flag model's
//! languages without validation rows get thresholds by flag-rate parity on ordinary text. Only
//! the validation (and parity) texts go through the encoder.

use crate::cmd::encoder::{example_features, gold_and_sources, open_encoder, read_all, report_cache};
use crate::cmd::tune::state_encoder;
use crate::flags::{Global, ModelFlags};
use anyhow::{bail, Context, Result};
use stance_classify::heads::{SourcedBlend, TaskModel};
use stance_heads::metrics::mean_macro_f1_by_source;
use stance_core::LabelKind;
use stance_heads::calibrate::softmax;
use stance_heads::{ClassOffsets, Dataset, DecisionRule, Example, HeadSource, Task, TextEncoder, Thresholds};
use stance_model::runtime::OpenModel;
use stance_model::batch::DEFAULT_BATCH_TOKENS;
use stance_tune::train::{build_store, predict_examples};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub model: ModelFlags,
    /// The head's task: irony or toxicity get thresholds, stance, reply or sentiment class offsets.
    #[arg(long)]
    pub task: Task,
    /// The model to calibrate: a head or `stance tune` folder, or `default` for the built-in
    /// head of the task.
    #[arg(long, default_value = "default")]
    pub head: String,
    /// Labelled validation files (selectors as for `stance train`).
    #[arg(long, num_args = 1.., required = true)]
    pub valid: Vec<stance_heads::DataSpec>,
    /// Only thresholds that flag at most this share of each language's other-class validation
    /// rows (e.g. 0.15: at least 85 % of non-toxic comments recognised). Flag tasks only.
    #[arg(long, value_name = "RATE")]
    pub max_false_positives: Option<f64>,
    /// Folder to write the calibrated model into (weights unchanged, decision rule added).
    #[arg(long)]
    pub out: PathBuf,
    /// Do not read or write the embedding cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Comments of ordinary text with their `lang` (labels are not read), for flag tasks:
    /// each language that validation gave no threshold of its own, with at least 60 rows here,
    /// gets the one that flags the same share of its rows as the reference language's
    /// threshold flags of the reference's (`--parity-reference`), never below the overall
    /// threshold.
    #[arg(long, num_args = 1.., value_name = "FILE")]
    pub parity: Vec<stance_heads::DataSpec>,
    /// The language whose flag rate `--parity` gives the others: one with its own validated
    /// threshold and many validation rows.
    #[arg(long, value_name = "LANG", default_value = "en", requires = "parity")]
    pub parity_reference: String,
    /// With `--parity`: hold the validated languages to the reference's flag rate too; one whose
    /// own threshold flags more of its rows in FILE gets the parity threshold instead (thresholds
    /// are only ever raised).
    #[arg(long, requires = "parity")]
    pub parity_caps_validated: bool,
    /// A blend only: also choose its members' weights, on a grid of tenths, for the best mean
    /// macro-F1 over the validation files, each candidate with its own decision rule (class
    /// offsets, or a flag's thresholds within `--max-false-positives`).
    #[arg(long)]
    pub blend_weights: bool,
}

pub fn run(mut args: Args, global: &Global) -> Result<ExitCode> {
    args.model.use_reference_arithmetic();
    let flag = matches!(args.task.kind(), LabelKind::Flag { .. });
    if !flag && (args.max_false_positives.is_some() || !args.parity.is_empty()) {
        bail!("--max-false-positives and --parity set a flag's thresholds: irony or toxicity, not {}", args.task);
    }
    let mut model = TaskModel::load(args.task, &HeadSource::parse(&args.head))?;
    if let TaskModel::Route(r) = &model {
        bail!(
            "a route decides each row with the rule of the model that scored it: calibrate `{}` on rows with a \
             context and `{}` on rows without, each on its own",
            r.meta.with_context,
            r.meta.alone
        );
    }
    let sets = read_all(&args.valid, args.task, global)?;
    let opened = args.model.open(global)?;
    let labels = model.labels().to_vec();
    let (y, sources) = gold_and_sources(&sets, &labels)?;
    let langs: Vec<Option<String>> = sets.iter().flat_map(|d| d.examples.iter().map(|e| e.lang.clone())).collect();
    let fit_rule = |probs: &[Vec<f32>]| -> Result<DecisionRule> {
        let mut decision = DecisionRule::default();
        if flag {
            let thresholds =
                Thresholds::fit(&labels, args.task.label_column(), probs, &y, &langs, args.max_false_positives)
                    .context("cannot choose thresholds: the validation rows lack one of the classes")?;
            decision.thresholds = Some(thresholds);
        } else {
            let offsets = ClassOffsets::fit(&labels, probs, &y, &sources).context("cannot choose class offsets")?;
            decision.class_offsets = Some(offsets);
        }
        Ok(decision)
    };
    let probs = match &mut model {
        TaskModel::Blend(b) if args.blend_weights => {
            let members = b
                .members
                .iter()
                .map(|m| model_probs(m, &sets, &opened, &args.model, args.no_cache, global))
                .collect::<Result<Vec<_>>>()?;
            let score = |probs: &[Vec<f32>]| -> Result<f64> {
                let rule = fit_rule(probs)?;
                let predicted: Vec<usize> =
                    probs.iter().zip(&langs).map(|(p, lang)| rule.decide(&labels, p, lang.as_deref())).collect();
                Ok(mean_macro_f1_by_source(&y, probs, &predicted, &sources, &labels)?)
            };
            let (weights, score) = choose_weights(b, &members, &score)?;
            if !global.quiet {
                eprintln!("stance calibrate: weights {weights:?}: mean validation macro-F1 {:.2}", 100.0 * score);
            }
            for (member, w) in b.meta.members.iter_mut().zip(&weights) {
                member.weight = *w;
            }
            b.weights = weights;
            blended_probs(b, &members)
        }
        _ if args.blend_weights => bail!("--blend-weights needs a blend (a folder with blend.json)"),
        _ => model_probs(&model, &sets, &opened, &args.model, args.no_cache, global)?,
    };
    let mut decision = fit_rule(&probs)?;
    if let Some(thresholds) = decision.thresholds.as_mut().filter(|_| !args.parity.is_empty()) {
        parity_thresholds(thresholds, &model, &args, &opened, global)?;
    }
    let chosen = match (&decision.thresholds, &decision.class_offsets) {
        (Some(thresholds), _) => format!("thresholds {thresholds}"),
        (None, Some(offsets)) => format!("class offsets {offsets}"),
        (None, None) => unreachable!("fit_rule sets one of the two"),
    };
    let cannot_write = || format!("cannot write the calibrated model into {}", args.out.display());
    match &mut model {
        TaskModel::Head(loaded) => {
            loaded.head.meta.decision = decision;
            loaded.head.save(&args.out).with_context(cannot_write)?;
        }
        TaskModel::CrossEncoder(c) => {
            c.model.meta.decision = decision;
            c.model.save_shipped(&args.out).with_context(cannot_write)?;
        }
        TaskModel::Route(_) => unreachable!("a route is refused before scoring"),
        // Its members are named relative to its folder, so a blend is calibrated in place.
        TaskModel::Blend(b) => {
            let HeadSource::Folder(dir) = &b.source else { bail!("only a blend folder can be calibrated") };
            if std::fs::canonicalize(dir).ok() != std::fs::canonicalize(&args.out).ok() {
                bail!("a blend is calibrated in place: give its own folder {} as --out", dir.display());
            }
            b.meta.decision = decision;
            let path = args.out.join(stance_classify::blend::META_FILE);
            let text = serde_json::to_string_pretty(&b.meta)? + "\n";
            stance_io::atomic::write_file_atomic(&path, |w| {
                std::io::Write::write_all(w, text.as_bytes()).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
            })
            .with_context(cannot_write)?;
        }
    }
    if !global.quiet {
        eprintln!("stance calibrate: {chosen}; wrote {}", args.out.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Fills `thresholds` for the languages without one by flag-rate parity on `args.parity`'s
/// rows, and says what it set.
fn parity_thresholds(
    thresholds: &mut Thresholds,
    model: &TaskModel,
    args: &Args,
    opened: &OpenModel,
    global: &Global,
) -> Result<()> {
    // Labels are not read: every row needs its language, so that stands in for one.
    let specs: Vec<_> = args
        .parity
        .iter()
        .cloned()
        .map(|mut s| {
            s.label_field.get_or_insert_with(|| "lang".into());
            s
        })
        .collect();
    let sets = read_all(&specs, args.task, global)?;
    let probs = model_probs(model, &sets, opened, &args.model, args.no_cache, global)?;
    let flag = model.labels().iter().position(|l| l == &thresholds.flag).context("the flag is one of the labels")?;
    let flag_probs: Vec<f32> = probs.iter().map(|p| p[flag]).collect();
    let langs: Vec<Option<String>> = sets.iter().flat_map(|d| d.examples.iter().map(|e| e.lang.clone())).collect();
    let set = thresholds
        .fill_by_flag_rate_parity(&flag_probs, &langs, &args.parity_reference, args.parity_caps_validated)
        .map_err(|e| anyhow::anyhow!("--parity: {e}"))?;
    if !global.quiet {
        for p in set {
            eprintln!(
                "stance calibrate: {}: {} unlabelled rows, {:.1} % flagged at {:.2}; parity threshold {:.3}",
                p.lang,
                p.rows,
                100.0 * p.flagged_before,
                p.threshold_before,
                p.threshold
            );
        }
    }
    Ok(())
}

/// Every row's probabilities under `model`, the rows of `sets` one after the other: a head
/// reads the (cached) sentence vectors, a cross-encoder the bottom-layer states, a blend its
/// members' probabilities, a route each row's model's.
pub fn model_probs(
    model: &TaskModel,
    sets: &[Dataset],
    opened: &OpenModel,
    flags: &ModelFlags,
    no_cache: bool,
    global: &Global,
) -> Result<Vec<Vec<f32>>> {
    Ok(match model {
        TaskModel::Head(loaded) => {
            let encoder = open_encoder(opened, flags, no_cache, global)?;
            loaded.check_encoder(&encoder.id())?;
            let x = example_features(sets, loaded.head.input_kind(), &encoder, "embed", global)?;
            report_cache(&encoder, global);
            loaded.head.predict(&x)?
        }
        TaskModel::CrossEncoder(c) => {
            let encoder = state_encoder(c, opened, flags)?;
            let examples: Vec<&[Example]> = sets.iter().map(|d| &d.examples[..]).collect();
            let (layers, keep) = (c.model.bottom_layers(), c.model.meta.state_rows());
            let store = build_store(&opened.model, &examples, layers, keep, None, &encoder.cache_id(), global.quiet)?;
            let mut probs = Vec::new();
            for d in sets {
                probs.extend(predict_examples(&c.model, &store, &d.examples, DEFAULT_BATCH_TOKENS)?);
            }
            probs
        }
        TaskModel::Blend(b) => {
            let members = b
                .members
                .iter()
                .map(|m| model_probs(m, sets, opened, flags, no_cache, global))
                .collect::<Result<Vec<_>>>()?;
            blended_probs(b, &members)
        }
        TaskModel::Route(r) => {
            let rows_with_context = |with: bool| -> Vec<Dataset> {
                sets.iter()
                    .map(|d| Dataset {
                        spec: d.spec.clone(),
                        examples: d.examples.iter().filter(|e| e.context.is_some() == with).cloned().collect(),
                        skipped: Vec::new(),
                    })
                    .filter(|d| !d.examples.is_empty())
                    .collect()
            };
            let probs_of = |model: &TaskModel, with: bool| -> Result<_> {
                let sets = rows_with_context(with);
                let probs = if sets.is_empty() { Vec::new() } else { model_probs(model, &sets, opened, flags, no_cache, global)? };
                Ok(probs.into_iter())
            };
            let (mut with, mut alone) = (probs_of(&r.with_context, true)?, probs_of(&r.alone, false)?);
            sets.iter()
                .flat_map(|d| &d.examples)
                .map(|e| if e.context.is_some() { with.next() } else { alone.next() }.expect("one row of probabilities per example"))
                .collect()
        }
    })
}

/// The blend's probabilities of every row, from each member's (`members[i][row]`).
fn blended_probs(b: &SourcedBlend, members: &[Vec<Vec<f32>>]) -> Vec<Vec<f32>> {
    (0..members[0].len())
        .map(|row| softmax(&b.scores(&members.iter().map(|p| p[row].clone()).collect::<Vec<_>>()), 1.0))
        .collect()
}

/// The members' weights, among all splits of ten tenths with every member at least one, whose
/// blend has the best `score` (the mean validation macro-F1 under a decision rule fitted to
/// it); the first best in grid order wins a tie. Returns the weights and that score.
fn choose_weights(
    b: &mut SourcedBlend,
    members: &[Vec<Vec<f32>>],
    score: &dyn Fn(&[Vec<f32>]) -> Result<f64>,
) -> Result<(Vec<f64>, f64)> {
    let mut best: Option<(Vec<f64>, f64)> = None;
    for tenths in splits(10, members.len()) {
        b.weights = tenths.iter().map(|&t| t as f64 / 10.0).collect();
        let score = score(&blended_probs(b, members))?;
        if best.as_ref().is_none_or(|(_, s)| score > *s) {
            best = Some((b.weights.clone(), score));
        }
    }
    best.context("a blend has at least two members")
}

/// Every way to write `total` as an ordered sum of `parts` positive integers.
fn splits(total: usize, parts: usize) -> Vec<Vec<usize>> {
    if parts == 1 {
        return vec![vec![total]];
    }
    (1..=total.saturating_sub(parts - 1))
        .flat_map(|first| {
            splits(total - first, parts - 1).into_iter().map(move |mut rest| {
                rest.insert(0, first);
                rest
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::splits;

    #[test]
    fn weight_grids_cover_every_positive_split() {
        assert_eq!(splits(10, 2).len(), 9);
        assert_eq!(splits(10, 2)[0], vec![1, 9]);
        assert_eq!(splits(10, 3).len(), 36);
        assert!(splits(10, 3).iter().all(|s| s.iter().sum::<usize>() == 10 && s.iter().all(|&t| t > 0)));
        assert_eq!(splits(10, 1), vec![vec![10]]);
    }
}
