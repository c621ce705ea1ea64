//! A blend: one task scored by several models at once, their probabilities combined.
//!
//! A head on frozen sentence vectors and a cross-encoder that reads the pair together are good
//! at different things (the stance head at fixed-target tweets and threads, the cross-encoder
//! at a question and the answer that takes a side on it). A weighted geometric mean of their
//! probabilities keeps most of each: the blend's score for class `c` is `Σ wᵢ · ln pᵢ(c)`, and
//! its probabilities are the softmax of those scores.
//!
//! A blend is a folder holding `blend.json`:
//!
//! ```json
//! {"format": "stance-blend/1", "task": "stance",
//!  "members": [{"model": "default", "weight": 0.6}, {"model": "../tuned/stance", "weight": 0.4}]}
//! ```
//!
//! `default` is the task's built-in head; any other member is a head or cross-encoder folder,
//! relative to the blend's own. The file may carry a decision rule like a head's
//! (`class_offsets`, `thresholds`); without one the most probable class wins.

use serde::{Deserialize, Serialize};
use stance_heads::DecisionRule;

pub const META_FILE: &str = "blend.json";
pub const FORMAT: &str = "stance-blend/1";

/// What `blend.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BlendMeta {
    pub format: String,
    pub task: String,
    pub members: Vec<BlendMember>,
    /// Why these members and weights (free text, for the card and `stance models`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(flatten)]
    pub decision: DecisionRule,
}

/// One model of a blend and its weight.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BlendMember {
    /// `default` (the task's built-in head) or a folder relative to the blend's.
    pub model: String,
    pub weight: f64,
}

/// The blend's scores of one row: `Σ wᵢ · ln pᵢ(c)` for each class `c` of the blend, where
/// `member_probs[i]` lists member `i`'s probabilities in the blend's label order. Probabilities
/// are floored at 1e-12 so that one member's certainty cannot veto a class outright.
pub fn blend_scores(member_probs: &[&[f32]], weights: &[f64]) -> Vec<f32> {
    let classes = member_probs.first().map_or(0, |p| p.len());
    (0..classes)
        .map(|c| {
            let score: f64 =
                member_probs.iter().zip(weights).map(|(p, w)| w * f64::from(p[c]).max(1e-12).ln()).sum();
            score as f32
        })
        .collect()
}

/// Checks the weights (finite, positive) and scales them to sum to one.
pub fn normalised_weights(members: &[BlendMember]) -> Result<Vec<f64>, String> {
    if members.len() < 2 {
        return Err(format!("a blend needs at least two members, it has {}", members.len()));
    }
    if let Some(m) = members.iter().find(|m| !(m.weight.is_finite() && m.weight > 0.0)) {
        return Err(format!("member `{}` has weight {}; weights must be positive", m.model, m.weight));
    }
    let sum: f64 = members.iter().map(|m| m.weight).sum();
    Ok(members.iter().map(|m| m.weight / sum).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use stance_heads::calibrate::softmax;

    fn member(model: &str, weight: f64) -> BlendMember {
        BlendMember { model: model.into(), weight }
    }

    #[test]
    fn the_blend_is_the_normalised_weighted_geometric_mean() {
        let a = [0.7f32, 0.2, 0.1];
        let b = [0.1f32, 0.6, 0.3];
        let p = softmax(&blend_scores(&[&a, &b], &[0.5, 0.5]), 1.0);
        let geo: Vec<f64> = (0..3).map(|c| (f64::from(a[c]) * f64::from(b[c])).sqrt()).collect();
        let sum: f64 = geo.iter().sum();
        for c in 0..3 {
            assert!((f64::from(p[c]) - geo[c] / sum).abs() < 1e-6, "class {c}: {p:?}");
        }
        // One member alone gives back its own probabilities.
        let alone = softmax(&blend_scores(&[&a, &b], &[1.0, 0.0]), 1.0);
        assert!(alone.iter().zip(a).all(|(x, y)| (x - y).abs() < 1e-6));
        // A certain zero in one member lowers a class without removing it.
        let z = [0.0f32, 0.5, 0.5];
        assert!(softmax(&blend_scores(&[&a, &z], &[0.9, 0.1]), 1.0)[0] > 0.0);
    }

    #[test]
    fn weights_are_checked_and_sum_to_one() {
        assert_eq!(normalised_weights(&[member("default", 3.0), member("x", 1.0)]).unwrap(), vec![0.75, 0.25]);
        assert!(normalised_weights(&[member("default", 1.0)]).is_err());
        assert!(normalised_weights(&[member("default", 1.0), member("x", 0.0)]).is_err());
        assert!(normalised_weights(&[member("default", 1.0), member("x", f64::NAN)]).is_err());
    }

    #[test]
    fn blend_json_reads_with_a_flat_decision_rule() {
        let text = r#"{"format": "stance-blend/1", "task": "stance",
            "members": [{"model": "default", "weight": 0.6}, {"model": "../tuned/stance", "weight": 0.4}],
            "class_offsets": {"by_label": {"none": 0.5}}}"#;
        let meta: BlendMeta = serde_json::from_str(text).unwrap();
        assert_eq!(meta.members.len(), 2);
        assert_eq!(meta.members[1].model, "../tuned/stance");
        assert!(meta.decision.class_offsets.is_some());
    }
}
