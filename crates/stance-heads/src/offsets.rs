//! Class offsets of a multi-class head (stance, reply, sentiment): one number per label added to
//! the log-probabilities before the argmax, chosen on validation data.
//!
//! A head trained where most rows are `none` (RumourEval and DAST replies mostly comment on
//! their parent) learns that prior and hands almost every reply `none`, so agreement and
//! disagreement are rarely found. Temperature scaling cannot fix that: it never changes the
//! argmax. An offset per class moves the decision boundaries, the multi-class counterpart of a
//! flag head's threshold ([`crate::thresholds`]). It is stored in `head.json`, applied by
//! `stance classify` and `stance eval`, and written to `run.json`.

use crate::error::{HeadsError, Result};
use crate::metrics;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Offsets are searched in `-MAX_OFFSET..=MAX_OFFSET` (natural-log units: 1.5 scales a class's
/// odds by about 4.5).
const MAX_OFFSET: f64 = 1.5;
/// Step of the search grid.
const STEP: f64 = 0.05;
/// A move is taken only when it raises the mean macro-F1 by more than this (in points of 1):
/// small validation files must not buy noise.
const MIN_GAIN: f64 = 0.002;

/// Offsets on the log-probabilities, by label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassOffsets {
    pub by_label: BTreeMap<String, f64>,
}

impl ClassOffsets {
    /// The offset of each label of `labels`, in their order (0 for a label without one).
    fn in_order(&self, labels: &[String]) -> Vec<f64> {
        labels.iter().map(|l| self.by_label.get(l).copied().unwrap_or(0.0)).collect()
    }

    /// The predicted class: the first maximum of `ln p + offset`.
    pub fn decide(&self, labels: &[String], probs: &[f32]) -> usize {
        let log_probs: Vec<f64> = probs.iter().map(|&p| ln(p)).collect();
        shifted_argmax(&log_probs, &self.in_order(labels))
    }

    /// Chooses offsets on validation rows (`probs` in `labels` order, `gold` indices, `source`
    /// the validation file of each row) that maximise the mean over files of their macro-F1,
    /// the criterion the heads are trained by ([`metrics::macro_f1_by_source`]). Coordinate
    /// ascent on a grid, from zero, each move gaining at least [`MIN_GAIN`]; the offsets are
    /// then shifted to a zero mean (only their differences matter).
    pub fn fit(labels: &[String], probs: &[Vec<f32>], gold: &[usize], source: &[usize]) -> Result<ClassOffsets> {
        if probs.is_empty() || labels.len() < 2 {
            return Err(HeadsError::Invalid("class offsets need validation rows and at least 2 labels".into()));
        }
        let log_probs: Vec<Vec<f64>> = probs.iter().map(|row| row.iter().map(|&p| ln(p)).collect()).collect();
        let score = |offsets: &[f64]| -> Result<f64> {
            let predicted: Vec<usize> = log_probs.iter().map(|row| shifted_argmax(row, offsets)).collect();
            metrics::mean_macro_f1_by_source(gold, probs, &predicted, source, labels)
        };
        let mut offsets = vec![0.0; labels.len()];
        let mut best = score(&offsets)?;
        // Candidate values nearest zero first, so that among equal scores the smallest wins.
        let steps = (MAX_OFFSET / STEP).round() as i64;
        let values: Vec<f64> = (0..=steps).flat_map(|s| [s, -s]).skip(1).map(|s| s as f64 * STEP).collect();
        for _round in 0..20 {
            let mut moved = false;
            for class in 0..labels.len() {
                let mut candidate = offsets.clone();
                let (mut top, mut top_value) = (f64::NEG_INFINITY, offsets[class]);
                for &v in &values {
                    candidate[class] = v;
                    let s = score(&candidate)?;
                    if s > top {
                        (top, top_value) = (s, v);
                    }
                }
                if top > best + MIN_GAIN {
                    offsets[class] = top_value;
                    best = top;
                    moved = true;
                }
            }
            if !moved {
                break;
            }
        }
        let mean = offsets.iter().sum::<f64>() / offsets.len() as f64;
        let by_label = labels.iter().zip(&offsets).map(|(l, o)| (l.clone(), round(o - mean))).collect();
        Ok(ClassOffsets { by_label })
    }
}

impl std::fmt::Display for ClassOffsets {
    /// `agree +0.40, disagree +0.55, none −0.95`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (label, o)) in self.by_label.iter().enumerate() {
            write!(f, "{}{label} {o:+.2}", if i == 0 { "" } else { ", " })?;
        }
        Ok(())
    }
}

/// `x` to three decimals; a zero is +0, never -0 (an offset a hair under zero after the mean is
/// taken away rounds to -0, which the files and `stance models info` would show as "-0").
fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0 + 0.0
}

fn ln(p: f32) -> f64 {
    f64::from(p).max(1e-12).ln()
}

/// The first maximum of `log_probs + offsets`.
fn shifted_argmax(log_probs: &[f64], offsets: &[f64]) -> usize {
    let mut best = 0;
    for c in 1..log_probs.len() {
        if log_probs[c] + offsets[c] > log_probs[best] + offsets[best] {
            best = c;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> Vec<String> {
        vec!["agree".into(), "disagree".into(), "none".into()]
    }

    #[test]
    fn a_rounded_offset_is_never_negative_zero() {
        assert!(round(-1e-17).is_sign_positive());
        assert_eq!(round(-0.0004), 0.0);
        assert!(round(-0.0004).is_sign_positive());
        assert_eq!(round(-0.0126), -0.013);
    }

    #[test]
    fn offsets_undo_a_prior_that_buries_the_minority_classes() {
        // Every row leans to `none` (0.5), the true class comes second (0.3 or 0.45): the argmax
        // finds no agreement or disagreement; offsets that lower `none` find them all.
        let mut probs = Vec::new();
        let mut gold = Vec::new();
        for i in 0..90 {
            let g = i % 3;
            let mut p = vec![0.2f32, 0.2, 0.5];
            if g != 2 {
                p[g] = 0.3;
                p[2] = 0.5;
            } else {
                p = vec![0.2, 0.2, 0.6];
            }
            let sum: f32 = p.iter().sum();
            probs.push(p.iter().map(|x| x / sum).collect::<Vec<_>>());
            gold.push(g);
        }
        let source = vec![0; gold.len()];
        let argmax_right = probs.iter().zip(&gold).filter(|(p, &g)| metrics::argmax(p) == g).count();
        assert_eq!(argmax_right, 30);
        let offsets = ClassOffsets::fit(&labels(), &probs, &gold, &source).unwrap();
        let right = probs.iter().zip(&gold).filter(|(p, &g)| offsets.decide(&labels(), p) == g).count();
        assert_eq!(right, 90, "{offsets}");
        assert!(offsets.by_label["none"] < offsets.by_label["agree"], "{offsets}");
        let mean: f64 = offsets.by_label.values().sum::<f64>() / 3.0;
        assert!(mean.abs() < 1e-3, "{offsets}");
    }

    #[test]
    fn a_head_already_right_gets_no_offsets() {
        let probs: Vec<Vec<f32>> = (0..30).map(|i| {
            let mut p = vec![0.1f32; 3];
            p[i % 3] = 0.8;
            p
        }).collect();
        let gold: Vec<usize> = (0..30).map(|i| i % 3).collect();
        let offsets = ClassOffsets::fit(&labels(), &probs, &gold, &vec![0; 30]).unwrap();
        assert!(offsets.by_label.values().all(|&o| o == 0.0), "{offsets}");
    }

    #[test]
    fn a_label_without_an_offset_reads_as_zero() {
        let offsets = ClassOffsets { by_label: BTreeMap::from([("none".to_string(), -1.0)]) };
        // ln 0.45 − 1 < ln 0.3: agree wins over none once none is lowered.
        assert_eq!(offsets.decide(&labels(), &[0.3, 0.25, 0.45]), 0);
        assert_eq!(offsets.in_order(&labels()), vec![0.0, 0.0, -1.0]);
    }
}
