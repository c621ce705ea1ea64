//! Classification metrics: accuracy, macro-F1, per-class precision/recall/F1, the confusion
//! matrix and the expected calibration error, with a plain-text rendering.

use crate::error::{HeadsError, Result};
use serde::Serialize;
use std::fmt::Write as _;

/// Number of equal-width confidence bins of the expected calibration error.
pub const ECE_BINS: usize = 15;

/// Scores of one class.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassMetrics {
    pub label: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Rows whose gold label is this class.
    pub support: u64,
    /// Rows predicted as this class.
    pub predicted: u64,
}

/// Scores of one set of predictions against gold labels.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub n: u64,
    pub accuracy: f64,
    /// Unweighted mean of the F1 of the classes in `macro_over`.
    pub macro_f1: f64,
    pub macro_over: Vec<String>,
    pub classes: Vec<ClassMetrics>,
    /// `confusion[gold][predicted]`, rows and columns in the order of `classes`.
    pub confusion: Vec<Vec<u64>>,
    /// Expected calibration error of the top-class probability, over [`ECE_BINS`] bins.
    pub ece: f64,
}

/// The predicted class of a probability row: the first maximum.
pub fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, &p) in row.iter().enumerate() {
        if p > row[best] {
            best = i;
        }
    }
    best
}

/// Scores `probs` (one row per example, one column per label) against `gold` (indices into
/// `labels`). The macro-F1 averages over `macro_over` when given, else over the classes that
/// occur in `gold` — so a 2-class test set scored by a 3-class head is a 2-class macro-F1.
pub fn evaluate(
    gold: &[usize],
    probs: &[Vec<f32>],
    labels: &[String],
    macro_over: Option<&[usize]>,
) -> Result<Report> {
    let predicted: Vec<usize> = probs.iter().map(|row| argmax(row)).collect();
    evaluate_predicted(gold, probs, &predicted, labels, macro_over)
}

/// As [`evaluate`], with the predicted class of each row given (a thresholded flag head's
/// decisions); the calibration error still reads the top-class probability.
pub fn evaluate_predicted(
    gold: &[usize],
    probs: &[Vec<f32>],
    predicted: &[usize],
    labels: &[String],
    macro_over: Option<&[usize]>,
) -> Result<Report> {
    let k = labels.len();
    if predicted.len() != gold.len() {
        return Err(HeadsError::Invalid(format!("{} gold labels but {} decisions", gold.len(), predicted.len())));
    }
    if gold.len() != probs.len() {
        return Err(HeadsError::Invalid(format!(
            "{} gold labels but {} predictions",
            gold.len(),
            probs.len()
        )));
    }
    if gold.is_empty() {
        return Err(HeadsError::Invalid("nothing to evaluate: no rows".into()));
    }
    if let Some(bad) = probs.iter().find(|row| row.len() != k) {
        return Err(HeadsError::Invalid(format!(
            "a prediction has {} probabilities for {k} labels",
            bad.len()
        )));
    }
    if let Some(&bad) = gold.iter().chain(predicted).find(|&&g| g >= k) {
        return Err(HeadsError::Invalid(format!(
            "label index {bad} out of {k} labels"
        )));
    }

    let mut confusion = vec![vec![0u64; k]; k];
    let mut bin_count = [0u64; ECE_BINS];
    let mut bin_conf = [0f64; ECE_BINS];
    let mut bin_correct = [0f64; ECE_BINS];
    for ((&g, row), &decided) in gold.iter().zip(probs).zip(predicted) {
        confusion[g][decided] += 1;
        let p = argmax(row);
        let conf = f64::from(row[p]).clamp(0.0, 1.0);
        let bin = ((conf * ECE_BINS as f64) as usize).min(ECE_BINS - 1);
        bin_count[bin] += 1;
        bin_conf[bin] += conf;
        bin_correct[bin] += f64::from(u8::from(p == g));
    }
    let n = gold.len() as u64;
    let correct: u64 = (0..k).map(|i| confusion[i][i]).sum();
    let classes: Vec<ClassMetrics> = (0..k)
        .map(|c| {
            let tp = confusion[c][c] as f64;
            let support: u64 = confusion[c].iter().sum();
            let predicted: u64 = confusion.iter().map(|r| r[c]).sum();
            let precision = ratio(tp, predicted as f64);
            let recall = ratio(tp, support as f64);
            ClassMetrics {
                label: labels[c].clone(),
                precision,
                recall,
                f1: ratio(2.0 * precision * recall, precision + recall),
                support,
                predicted,
            }
        })
        .collect();
    let over: Vec<usize> = match macro_over {
        Some(over) => over.to_vec(),
        None => (0..k).filter(|&c| classes[c].support > 0).collect(),
    };
    if over.is_empty() || over.iter().any(|&c| c >= k) {
        return Err(HeadsError::Invalid("macro-F1 over no valid class".into()));
    }
    let macro_f1 = over.iter().map(|&c| classes[c].f1).sum::<f64>() / over.len() as f64;
    let ece = (0..ECE_BINS)
        .filter(|&b| bin_count[b] > 0)
        .map(|b| (bin_correct[b] - bin_conf[b]).abs() / n as f64)
        .sum();
    Ok(Report {
        n,
        accuracy: correct as f64 / n as f64,
        macro_f1,
        macro_over: over.iter().map(|&c| labels[c].clone()).collect(),
        classes,
        confusion,
        ece,
    })
}

/// The macro-F1 of each source with the given decisions (`sources[i]` is row `i`'s source
/// index; each source's macro-F1 is over the classes its gold labels hold), in source order,
/// sources without rows left out: what training selects by and calibration maximises.
pub fn macro_f1_by_source(
    gold: &[usize],
    probs: &[Vec<f32>],
    predicted: &[usize],
    sources: &[usize],
    labels: &[String],
) -> Result<Vec<f64>> {
    let n_sources = sources.iter().copied().max().map_or(0, |m| m + 1);
    let mut scores = Vec::with_capacity(n_sources);
    for s in 0..n_sources {
        let rows: Vec<usize> = (0..gold.len()).filter(|&i| sources[i] == s).collect();
        if rows.is_empty() {
            continue;
        }
        let pick = |v: &[usize]| rows.iter().map(|&i| v[i]).collect::<Vec<_>>();
        let probs: Vec<Vec<f32>> = rows.iter().map(|&i| probs[i].clone()).collect();
        scores.push(evaluate_predicted(&pick(gold), &probs, &pick(predicted), labels, None)?.macro_f1);
    }
    Ok(scores)
}

/// The mean over sources of [`macro_f1_by_source`] (0 without rows): the one number that
/// calibration and the choice of blend weights maximise.
pub fn mean_macro_f1_by_source(
    gold: &[usize],
    probs: &[Vec<f32>],
    predicted: &[usize],
    sources: &[usize],
    labels: &[String],
) -> Result<f64> {
    Ok(mean_over_sources(&macro_f1_by_source(gold, probs, predicted, sources, labels)?))
}

/// The mean of per-source scores (0 without any), so that a large source does not drown a small one.
pub fn mean_over_sources(by_source: &[f64]) -> f64 {
    by_source.iter().sum::<f64>() / by_source.len().max(1) as f64
}

fn ratio(num: f64, den: f64) -> f64 {
    if den > 0.0 {
        num / den
    } else {
        0.0
    }
}

impl Report {
    /// A human-readable block: headline numbers, per-class table, confusion matrix.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "n={}  accuracy={:.2}  macro-F1={:.2} (over {})  ECE={:.3}",
            self.n,
            100.0 * self.accuracy,
            100.0 * self.macro_f1,
            self.macro_over.join("/"),
            self.ece
        );
        let width = self
            .classes
            .iter()
            .map(|c| c.label.len())
            .max()
            .unwrap_or(5)
            .max(5);
        let _ = writeln!(
            s,
            "  {:<width$}  {:>9}  {:>6}  {:>6}  {:>7}",
            "class", "precision", "recall", "F1", "support"
        );
        for c in &self.classes {
            let _ = writeln!(
                s,
                "  {:<width$}  {:>9.2}  {:>6.2}  {:>6.2}  {:>7}",
                c.label,
                100.0 * c.precision,
                100.0 * c.recall,
                100.0 * c.f1,
                c.support
            );
        }
        let _ = writeln!(s, "  confusion (rows: gold, columns: predicted)");
        let cell = self
            .classes
            .iter()
            .map(|c| c.label.len())
            .chain(self.confusion.iter().flatten().map(|v| v.to_string().len()))
            .max()
            .unwrap_or(1);
        let _ = write!(s, "  {:<width$}", "");
        for c in &self.classes {
            let _ = write!(s, "  {:>cell$}", c.label);
        }
        s.push('\n');
        for (c, row) in self.classes.iter().zip(&self.confusion) {
            let _ = write!(s, "  {:<width$}", c.label);
            for v in row {
                let _ = write!(s, "  {v:>cell$}");
            }
            s.push('\n');
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn one_hot(k: usize, i: usize, p: f32) -> Vec<f32> {
        let rest = (1.0 - p) / (k - 1) as f32;
        (0..k).map(|j| if j == i { p } else { rest }).collect()
    }

    #[test]
    fn hand_computed_three_class_example() {
        // gold:  a a a b b c
        // pred:  a a b b c c
        let gold = [0, 0, 0, 1, 1, 2];
        let pred = [0, 0, 1, 1, 2, 2];
        let probs: Vec<Vec<f32>> = pred.iter().map(|&p| one_hot(3, p, 0.8)).collect();
        let r = evaluate(&gold, &probs, &labels(&["a", "b", "c"]), None).unwrap();
        assert_eq!(r.n, 6);
        assert!((r.accuracy - 4.0 / 6.0).abs() < 1e-12);
        // a: P=2/2 R=2/3 F1=0.8; b: P=1/2 R=1/2 F1=0.5; c: P=1/2 R=1 F1=2/3.
        let f1: Vec<f64> = r.classes.iter().map(|c| c.f1).collect();
        assert!((f1[0] - 0.8).abs() < 1e-12);
        assert!((f1[1] - 0.5).abs() < 1e-12);
        assert!((f1[2] - 2.0 / 3.0).abs() < 1e-12);
        assert!((r.macro_f1 - (0.8 + 0.5 + 2.0 / 3.0) / 3.0).abs() < 1e-12);
        assert_eq!(
            r.confusion,
            vec![vec![2, 1, 0], vec![0, 1, 1], vec![0, 0, 1]]
        );
        assert_eq!(r.classes[2].predicted, 2);
        // Every confidence is 0.8 (bin 12), accuracy 4/6: ECE = |0.8 - 2/3|.
        assert!((r.ece - (0.8 - 4.0 / 6.0)).abs() < 1e-6);
    }

    #[test]
    fn macro_f1_defaults_to_gold_classes_and_can_be_restricted() {
        // A 3-class head on a favor/against test set: `none` predictions are misses.
        let names = labels(&["favor", "against", "none"]);
        let gold = [0, 0, 1, 1];
        let probs = vec![
            one_hot(3, 0, 0.9),
            one_hot(3, 2, 0.9),
            one_hot(3, 1, 0.9),
            one_hot(3, 1, 0.9),
        ];
        let r = evaluate(&gold, &probs, &names, None).unwrap();
        assert_eq!(r.macro_over, labels(&["favor", "against"]));
        // favor: P=1 R=0.5 F1=2/3; against: P=1 R=1 F1=1.
        assert!((r.macro_f1 - (2.0 / 3.0 + 1.0) / 2.0).abs() < 1e-12);
        let r = evaluate(&gold, &probs, &names, Some(&[0, 1, 2])).unwrap();
        assert!((r.macro_f1 - (2.0 / 3.0 + 1.0 + 0.0) / 3.0).abs() < 1e-12);
    }

    #[test]
    fn ece_over_separate_bins() {
        // Two rows at confidence 0.95 both right, two at 0.55 one right:
        // ECE = 2/4·|1 − 0.95| + 2/4·|0.5 − 0.55| = 0.05.
        let gold = [0, 0, 0, 1];
        let probs = vec![
            vec![0.95, 0.05],
            vec![0.95, 0.05],
            vec![0.55, 0.45],
            vec![0.55, 0.45],
        ];
        let r = evaluate(&gold, &probs, &labels(&["x", "y"]), None).unwrap();
        assert!((r.ece - 0.05).abs() < 1e-6, "{}", r.ece);
    }

    #[test]
    fn rejects_mismatched_inputs() {
        let names = labels(&["x", "y"]);
        assert!(evaluate(&[0], &[vec![1.0, 0.0], vec![1.0, 0.0]], &names, None).is_err());
        assert!(evaluate(&[0], &[vec![1.0]], &names, None).is_err());
        assert!(evaluate(&[2], &[vec![1.0, 0.0]], &names, None).is_err());
        assert!(evaluate(&[], &[], &names, None).is_err());
    }

    #[test]
    fn text_rendering_names_every_class() {
        let names = labels(&["negative", "positive"]);
        let r = evaluate(&[0, 1], &[vec![0.7, 0.3], vec![0.2, 0.8]], &names, None).unwrap();
        let text = r.to_text();
        assert!(text.contains("accuracy=100.00"), "{text}");
        assert!(text.contains("negative") && text.contains("positive"));
    }
}
