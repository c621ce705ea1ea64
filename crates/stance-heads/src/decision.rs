//! How a model turns one row's probabilities into its label: the most probable class, or the
//! rule `stance calibrate` chose on validation data and stored with the model (a flag's
//! thresholds per language, or offsets on a multi-class model's log-probabilities). Heads and
//! fine-tuned models carry the same rule, so classify, eval and `run.json` treat them alike.

use crate::metrics;
use crate::offsets::ClassOffsets;
use crate::thresholds::Thresholds;
use serde::{Deserialize, Serialize};

/// A model's decision rule; argmax when both parts are absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DecisionRule {
    /// A flag model's decision thresholds per language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thresholds: Option<Thresholds>,
    /// A multi-class model's offsets on the log-probabilities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_offsets: Option<ClassOffsets>,
}

impl DecisionRule {
    /// The predicted class of one probability row (in `labels` order) of a comment in `lang`:
    /// by the thresholds or class offsets when there are any, else the first of the largest
    /// probabilities.
    pub fn decide(&self, labels: &[String], probs: &[f32], lang: Option<&str>) -> usize {
        match (&self.thresholds, &self.class_offsets) {
            (Some(t), _) => t.decide(labels, probs, lang),
            (None, Some(o)) => o.decide(labels, probs),
            (None, None) => metrics::argmax(probs),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn a_rule_overrides_the_argmax_and_reads_back_from_flat_json() {
        let labels: Vec<String> = ["toxic", "non_toxic"].iter().map(|s| s.to_string()).collect();
        let argmax = DecisionRule::default();
        assert_eq!(argmax.decide(&labels, &[0.6, 0.4], Some("fr")), 0);
        let strict = DecisionRule {
            thresholds: Some(Thresholds {
                flag: "toxic".into(),
                default: 0.5,
                by_lang: BTreeMap::from([("fr".to_string(), 0.7)]),
            }),
            class_offsets: None,
        };
        assert_eq!(strict.decide(&labels, &[0.6, 0.4], Some("fr")), 1);
        assert_eq!(strict.decide(&labels, &[0.6, 0.4], Some("de")), 0);
        let json = serde_json::to_string(&strict).unwrap();
        assert!(json.starts_with("{\"thresholds\":"), "{json}");
        assert_eq!(serde_json::from_str::<DecisionRule>(&json).unwrap(), strict);
        assert_eq!(serde_json::from_str::<DecisionRule>("{}").unwrap(), argmax);
    }
}
