//! Scoring a head on labelled examples: overall and per language.

use crate::data::Example;
use crate::error::{HeadsError, Result};
use crate::metrics::{self, Report};
use serde::Serialize;
use std::collections::BTreeMap;

/// How to score.
#[derive(Debug, Clone, Default)]
pub struct EvalOptions {
    /// Score as a classifier over these labels only: rows with another gold label are left out,
    /// the head's probabilities are renormalised over these labels, and the macro-F1 averages
    /// over them (X-Stance: favor/against, though the head also knows `none`).
    pub only_labels: Option<Vec<String>>,
    /// Also score each `lang` separately.
    pub by_lang: bool,
}

/// The scores of one head on one set of examples.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    pub overall: Report,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub by_lang: BTreeMap<String, Report>,
    /// Rows left out because their gold label is not among `only_labels`.
    pub left_out: usize,
}

/// Scores `probs` (from [`crate::Head::predict`], columns in `head_labels` order) against the
/// examples' gold labels, predicting the most probable label. Gold labels the head does not
/// know count as errors.
pub fn evaluate_examples(
    head_labels: &[String],
    examples: &[Example],
    probs: &[Vec<f32>],
    opts: &EvalOptions,
) -> Result<Evaluation> {
    evaluate_decided(head_labels, examples, probs, &|p, _| metrics::argmax(p), opts)
}

/// As [`evaluate_examples`], predicting with `decide(probabilities, example)` (a head's
/// [`crate::Head::decide`] of the example's language, thresholds included). With `only_labels`, the prediction is the most
/// probable of those labels.
pub fn evaluate_decided(
    head_labels: &[String],
    examples: &[Example],
    probs: &[Vec<f32>],
    decide: &dyn Fn(&[f32], &Example) -> usize,
    opts: &EvalOptions,
) -> Result<Evaluation> {
    if examples.len() != probs.len() {
        return Err(HeadsError::Invalid(format!(
            "{} examples but {} predictions",
            examples.len(),
            probs.len()
        )));
    }
    let mut labels: Vec<String> = head_labels.to_vec();
    for e in examples {
        if !labels.contains(&e.label) {
            labels.push(e.label.clone());
        }
    }
    labels[head_labels.len()..].sort();
    let index = |l: &str| labels.iter().position(|x| x == l);

    let only: Option<Vec<usize>> = match &opts.only_labels {
        Some(only) => Some(
            only.iter()
                .map(|l| {
                    index(l).filter(|&i| i < head_labels.len()).ok_or_else(|| {
                        HeadsError::Invalid(format!(
                            "label `{l}` is not one the head predicts ({})",
                            head_labels.join(", ")
                        ))
                    })
                })
                .collect::<Result<_>>()?,
        ),
        None => None,
    };

    let mut gold = Vec::new();
    let mut decided = Vec::new();
    let mut rows = Vec::new();
    let mut langs = Vec::new();
    let mut left_out = 0;
    for (e, p) in examples.iter().zip(probs) {
        if p.len() != head_labels.len() {
            return Err(HeadsError::Invalid(format!(
                "a prediction has {} probabilities for {} head labels",
                p.len(),
                head_labels.len()
            )));
        }
        let g = index(&e.label)
            .ok_or_else(|| HeadsError::Invalid(format!("unindexed label {}", e.label)))?;
        let mut row: Vec<f32> = p.clone();
        row.resize(labels.len(), 0.0);
        let mut decision = decide(p, e);
        if let Some(only) = &only {
            if !only.contains(&g) {
                left_out += 1;
                continue;
            }
            for (j, v) in row.iter_mut().enumerate() {
                if !only.contains(&j) {
                    *v = 0.0;
                }
            }
            let sum: f32 = row.iter().sum();
            for &j in only {
                row[j] = if sum > 0.0 {
                    row[j] / sum
                } else {
                    1.0 / only.len() as f32
                };
            }
            decision = metrics::argmax(&row);
        }
        gold.push(g);
        decided.push(decision);
        rows.push(row);
        langs.push(e.lang.clone().unwrap_or_else(|| "unknown".into()));
    }
    let overall = metrics::evaluate_predicted(&gold, &rows, &decided, &labels, only.as_deref())?;
    let mut by_lang = BTreeMap::new();
    if opts.by_lang {
        let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, l) in langs.iter().enumerate() {
            groups.entry(l.as_str()).or_default().push(i);
        }
        for (lang, members) in groups {
            let g: Vec<usize> = members.iter().map(|&i| gold[i]).collect();
            let r: Vec<Vec<f32>> = members.iter().map(|&i| rows[i].clone()).collect();
            let d: Vec<usize> = members.iter().map(|&i| decided[i]).collect();
            by_lang.insert(
                lang.to_string(),
                metrics::evaluate_predicted(&g, &r, &d, &labels, only.as_deref())?,
            );
        }
    }
    Ok(Evaluation {
        overall,
        by_lang,
        left_out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(label: &str, lang: &str) -> Example {
        Example {
            text: String::new(),
            context: None,
            label: label.into(),
            lang: Some(lang.into()),
        }
    }

    fn labels(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn per_language_and_restricted_scoring() {
        let head = labels(&["against", "favor", "none"]);
        let examples = [
            ex("favor", "fr"),
            ex("against", "fr"),
            ex("favor", "de"),
            ex("none", "de"),
        ];
        let probs = vec![
            vec![0.2, 0.3, 0.5], // favor → none (wrong), but favor beats against when restricted
            vec![0.6, 0.1, 0.3],
            vec![0.1, 0.8, 0.1],
            vec![0.1, 0.1, 0.8],
        ];
        let plain = evaluate_examples(
            &head,
            &examples,
            &probs,
            &EvalOptions {
                only_labels: None,
                by_lang: true,
            },
        )
        .unwrap();
        assert_eq!(plain.overall.n, 4);
        assert!((plain.overall.accuracy - 0.75).abs() < 1e-12);
        assert_eq!(plain.by_lang["fr"].n, 2);
        assert!((plain.by_lang["de"].accuracy - 1.0).abs() < 1e-12);

        let opts = EvalOptions {
            only_labels: Some(labels(&["favor", "against"])),
            by_lang: false,
        };
        let r = evaluate_examples(&head, &examples, &probs, &opts).unwrap();
        assert_eq!(r.left_out, 1);
        assert_eq!(r.overall.n, 3);
        assert!((r.overall.accuracy - 1.0).abs() < 1e-12);
        assert_eq!(r.overall.macro_over, labels(&["favor", "against"]));
        // Renormalised: 0.3 / (0.2 + 0.3).
        assert!(r.by_lang.is_empty());
    }

    #[test]
    fn unknown_gold_labels_are_errors_not_crashes() {
        let head = labels(&["negative", "positive"]);
        let examples = [ex("neutral", "en"), ex("positive", "en")];
        let probs = vec![vec![0.4, 0.6], vec![0.1, 0.9]];
        let r = evaluate_examples(&head, &examples, &probs, &EvalOptions::default()).unwrap();
        assert_eq!(r.overall.classes.len(), 3);
        assert_eq!(r.overall.classes[2].label, "neutral");
        assert_eq!(r.overall.classes[2].recall, 0.0);
        assert!(evaluate_examples(
            &head,
            &examples,
            &probs,
            &EvalOptions {
                only_labels: Some(labels(&["neutral"])),
                by_lang: false
            }
        )
        .is_err());
    }
}
