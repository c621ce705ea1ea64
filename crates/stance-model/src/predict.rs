//! Sequence classification with any `...ForSequenceClassification` checkpoint: texts or text
//! pairs (NLI) in, logits, scores and decisions out, scored as the checkpoint's `problem_type`
//! says (softmax and argmax, or a sigmoid per label and a threshold).

use crate::batch::BatchOptions;
use crate::config::{ClassifierConfig, ProblemType};
use crate::error::ModelError;
use crate::runtime::TextModel;
use crate::tokenize::{Truncation, TruncationStrategy};
use crate::{ModelOutput, TokenBatch};

/// One input: a text, and the second text of a pair for NLI models.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextInput {
    pub text: String,
    pub pair: Option<String>,
}

impl TextInput {
    pub fn single(text: impl Into<String>) -> Self {
        TextInput {
            text: text.into(),
            pair: None,
        }
    }

    pub fn pair(text: impl Into<String>, pair: impl Into<String>) -> Self {
        TextInput {
            text: text.into(),
            pair: Some(pair.into()),
        }
    }
}

/// Score above which a multi-label checkpoint's label applies (transformers' convention).
pub const MULTI_LABEL_THRESHOLD: f32 = 0.5;

#[derive(Debug, Clone, Copy)]
pub struct PredictOptions {
    /// For single texts; pairs accept `head` or `tail`.
    pub truncation: Truncation,
    /// How a too-long pair is cut (`LongestFirst`, as the tokenizer does by default).
    pub pair_strategy: TruncationStrategy,
    pub batch: BatchOptions,
    pub threshold: f32,
}

impl Default for PredictOptions {
    fn default() -> Self {
        PredictOptions {
            truncation: Truncation::Head,
            pair_strategy: TruncationStrategy::LongestFirst,
            batch: BatchOptions::default(),
            threshold: MULTI_LABEL_THRESHOLD,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// Raw logits, one per label (token-weighted mean over windows).
    pub logits: Vec<f32>,
    /// Softmax or sigmoid of `logits`, one per label.
    pub scores: Vec<f32>,
    /// The argmax label (single-label), the labels above the threshold (multi-label), or
    /// nothing (regression).
    pub labels: Vec<String>,
    pub n_tokens: usize,
    pub truncated: bool,
}

impl TextModel {
    /// The classifier head's configuration, or an error naming the checkpoint.
    pub fn classifier(&self) -> Result<&ClassifierConfig, ModelError> {
        self.config.classifier.as_ref().ok_or_else(|| {
            ModelError::InvalidRequest(format!(
                "{} is not a sequence-classification checkpoint (architecture {})",
                self.config.path.display(),
                self.config.architecture.as_deref().unwrap_or("unknown")
            ))
        })
    }

    /// One prediction per input, in input order.
    pub fn predict(
        &self,
        inputs: &[TextInput],
        options: &PredictOptions,
        progress: &dyn Fn(usize),
    ) -> Result<Vec<Prediction>, ModelError> {
        let classifier = self.classifier()?;
        let encode = |input: &TextInput| match &input.pair {
            Some(pair) => self.tokenizer.encode_pair(
                &input.text,
                pair,
                options.pair_strategy,
                options.truncation,
            ),
            None => self.tokenizer.encode(&input.text, "", options.truncation),
        };
        let results = self
            .runner(options.batch)
            .run(inputs, encode, logits_rows, progress)?;
        results
            .into_iter()
            .map(|r| {
                let logits = r.weighted_mean();
                if logits.len() != classifier.num_labels() {
                    return Err(ModelError::InvalidBatch(format!(
                        "the model gave {} logits per row but the config names {} labels",
                        logits.len(),
                        classifier.num_labels()
                    )));
                }
                let scores = classifier.problem_type.scores(&logits);
                let labels = decide(classifier, &scores, options.threshold);
                Ok(Prediction {
                    logits,
                    scores,
                    labels,
                    n_tokens: r.n_tokens,
                    truncated: r.truncated,
                })
            })
            .collect()
    }
}

/// Labels decided from scores; ties keep the lowest id, as `argmax` does.
fn decide(classifier: &ClassifierConfig, scores: &[f32], threshold: f32) -> Vec<String> {
    match classifier.problem_type {
        ProblemType::SingleLabel => {
            let best = scores
                .iter()
                .enumerate()
                .fold(None::<(usize, f32)>, |best, (i, &s)| match best {
                    Some((_, b)) if b >= s => best,
                    _ => Some((i, s)),
                });
            best.map(|(i, _)| vec![classifier.id2label[i].clone()])
                .unwrap_or_default()
        }
        ProblemType::MultiLabel => scores
            .iter()
            .zip(&classifier.id2label)
            .filter(|(s, _)| **s > threshold)
            .map(|(_, label)| label.clone())
            .collect(),
        ProblemType::Regression => Vec::new(),
    }
}

pub(crate) fn logits_rows(
    output: &ModelOutput,
    _batch: &TokenBatch,
) -> Result<Vec<Vec<f32>>, ModelError> {
    let logits = output
        .logits
        .as_ref()
        .ok_or_else(|| ModelError::InvalidRequest("the model gave no logits".into()))?;
    Ok(logits.to_dtype(candle_core::DType::F32)?.to_vec2::<f32>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classifier(problem_type: ProblemType) -> ClassifierConfig {
        ClassifierConfig {
            id2label: vec!["a".into(), "b".into(), "c".into()],
            problem_type,
        }
    }

    #[test]
    fn single_label_decides_argmax_with_lowest_id_on_ties() {
        let c = classifier(ProblemType::SingleLabel);
        assert_eq!(decide(&c, &[0.2, 0.5, 0.3], 0.5), vec!["b"]);
        assert_eq!(decide(&c, &[0.4, 0.4, 0.2], 0.5), vec!["a"]);
    }

    #[test]
    fn multi_label_keeps_scores_strictly_above_threshold() {
        let c = classifier(ProblemType::MultiLabel);
        assert_eq!(decide(&c, &[0.7, 0.5, 0.51], 0.5), vec!["a", "c"]);
        assert!(decide(&c, &[0.1, 0.2, 0.3], 0.5).is_empty());
    }
}
