//! Zero-shot classification with an NLI checkpoint, as transformers'
//! `pipeline("zero-shot-classification")` does it: each candidate label becomes a hypothesis
//! (`template` with `{}` replaced by the label), each (text, hypothesis) pair is classified,
//! and entailment against contradiction decides.
//!
//! - Single-label: softmax of the entailment logits across the candidates.
//! - Multi-label (or a single candidate): per candidate, softmax over
//!   `[contradiction, entailment]` logits. Like transformers, the contradiction logit is the
//!   **last** one when entailment is id 0 and id 0 otherwise; `label2id` is not consulted.
//! - Pairs are cut `only_first` (the text, never the hypothesis) to the model's limit.

use crate::batch::BatchOptions;
use crate::config::ProblemType::SingleLabel;
use crate::error::ModelError;
use crate::predict::logits_rows;
use crate::runtime::TextModel;
use crate::tokenize::{Truncation, TruncationStrategy};

#[derive(Debug, Clone)]
pub struct ZeroShotOptions {
    /// A hypothesis with `{}` where the label goes, e.g. `This example is {}.`.
    pub template: String,
    pub multi_label: bool,
    pub batch: BatchOptions,
}

/// One candidate label of one text.
#[derive(Debug, Clone, PartialEq)]
pub struct CandidateScore {
    pub label: String,
    pub hypothesis: String,
    pub logits: Vec<f32>,
    pub score: f32,
    pub n_tokens: usize,
    pub truncated: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ZeroShotResult {
    /// Candidate labels sorted by descending score (the pipeline's `labels`).
    pub labels: Vec<String>,
    /// Their scores, in the same order.
    pub scores: Vec<f32>,
    /// Every candidate in input order.
    pub candidates: Vec<CandidateScore>,
}

impl TextModel {
    /// The index of the entailment logit: the first label whose name starts with "entail"
    /// (case-insensitive), else the last one, as transformers' `entailment_id` of -1 reads.
    pub fn entailment_index(&self) -> Result<usize, ModelError> {
        let labels = &self.classifier()?.id2label;
        Ok(labels
            .iter()
            .position(|l| l.to_lowercase().starts_with("entail"))
            .unwrap_or(labels.len().saturating_sub(1)))
    }

    /// Scores every text against every candidate label; `progress` counts (text, candidate)
    /// pairs.
    pub fn zero_shot<S: AsRef<str> + Sync>(
        &self,
        texts: &[S],
        candidate_labels: &[String],
        options: &ZeroShotOptions,
        progress: &dyn Fn(usize),
    ) -> Result<Vec<ZeroShotResult>, ModelError> {
        if candidate_labels.is_empty() {
            return Err(ModelError::InvalidRequest(
                "zero-shot classification needs at least one candidate label".into(),
            ));
        }
        if !options.template.contains("{}") {
            return Err(ModelError::InvalidRequest(format!(
                "the hypothesis template `{}` has no `{{}}` for the label",
                options.template
            )));
        }
        let n_logits = self.classifier()?.num_labels();
        if n_logits < 2 {
            return Err(ModelError::InvalidRequest(
                "zero-shot classification needs an NLI model with at least two labels".into(),
            ));
        }
        let entail = self.entailment_index()?;
        let contradiction = if entail == 0 { n_logits - 1 } else { 0 };
        let hypotheses: Vec<String> = candidate_labels
            .iter()
            .map(|l| options.template.replacen("{}", l, 1))
            .collect();
        let pairs: Vec<(usize, usize)> = (0..texts.len())
            .flat_map(|t| (0..hypotheses.len()).map(move |h| (t, h)))
            .collect();
        let encode = |&(t, h): &(usize, usize)| {
            self.tokenizer.encode_pair(
                texts[t].as_ref(),
                &hypotheses[h],
                TruncationStrategy::OnlyFirst,
                Truncation::Head,
            )
        };
        let n_candidates = hypotheses.len();
        let results = self
            .runner(options.batch)
            .run(&pairs, encode, logits_rows, progress)?;
        let multi = options.multi_label || n_candidates == 1;
        results
            .chunks(n_candidates)
            .map(|per_text| {
                let mut candidates = Vec::with_capacity(n_candidates);
                for (i, r) in per_text.iter().enumerate() {
                    let logits = r.weighted_mean();
                    if logits.len() != n_logits {
                        return Err(ModelError::InvalidBatch(format!(
                            "the model gave {} logits per row but the config names {n_logits} labels",
                            logits.len()
                        )));
                    }
                    candidates.push(CandidateScore {
                        label: candidate_labels[i].clone(),
                        hypothesis: hypotheses[i].clone(),
                        score: 0.0,
                        logits,
                        n_tokens: r.n_tokens,
                        truncated: r.truncated,
                    });
                }
                let scores: Vec<f32> = if multi {
                    candidates.iter().map(|c| SingleLabel.scores(&[c.logits[contradiction], c.logits[entail]])[1]).collect()
                } else {
                    SingleLabel.scores(&candidates.iter().map(|c| c.logits[entail]).collect::<Vec<_>>())
                };
                for (c, s) in candidates.iter_mut().zip(&scores) {
                    c.score = *s;
                }
                // Descending; equal scores put the later candidate first, as the pipeline's
                // reversed argsort does.
                let mut order: Vec<usize> = (0..n_candidates).collect();
                order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(b.cmp(&a)));
                Ok(ZeroShotResult {
                    labels: order.iter().map(|&i| candidate_labels[i].clone()).collect(),
                    scores: order.iter().map(|&i| scores[i]).collect(),
                    candidates,
                })
            })
            .collect()
    }
}
