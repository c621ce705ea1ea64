//! From examples to head inputs: every distinct text is embedded once, then laid out as the
//! head's input kind expects.

use crate::data::{Example, InputKind};
use crate::encoder::TextEncoder;
use crate::error::{HeadsError, Result};
use std::collections::HashMap;

/// Texts per encoder call: small enough for steady progress, large enough to batch well.
const CHUNK: usize = 256;

/// Embeds `texts`, each distinct text once, reporting `(done, total)` distinct texts.
pub fn embed_unique(
    encoder: &dyn TextEncoder,
    texts: &[&str],
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<Vec<f32>>> {
    let mut slot_of: HashMap<&str, usize> = HashMap::new();
    let mut unique: Vec<&str> = Vec::new();
    let slots: Vec<usize> = texts
        .iter()
        .map(|&t| {
            *slot_of.entry(t).or_insert_with(|| {
                unique.push(t);
                unique.len() - 1
            })
        })
        .collect();
    let mut vectors: Vec<Vec<f32>> = Vec::with_capacity(unique.len());
    progress(0, unique.len());
    for chunk in unique.chunks(CHUNK) {
        let got = encoder.embed(chunk)?;
        if got.len() != chunk.len() {
            return Err(HeadsError::Encoder(format!(
                "{} vectors for {} texts",
                got.len(),
                chunk.len()
            )));
        }
        vectors.extend(got);
        progress(vectors.len(), unique.len());
    }
    if let Some(first) = vectors.first() {
        if let Some(bad) = vectors.iter().find(|v| v.len() != first.len()) {
            return Err(HeadsError::Encoder(format!(
                "vectors of different lengths ({} and {})",
                first.len(),
                bad.len()
            )));
        }
    }
    Ok(slots.into_iter().map(|s| vectors[s].clone()).collect())
}

/// `[u, v, u·v, |u−v|]`: the classic pair layout (InferSent) for context `u` and comment `v`.
pub fn pair_features(u: &[f32], v: &[f32]) -> Vec<f32> {
    let mut out = Vec::with_capacity(4 * v.len());
    out.extend_from_slice(u);
    out.extend_from_slice(v);
    out.extend(u.iter().zip(v).map(|(a, b)| a * b));
    out.extend(u.iter().zip(v).map(|(a, b)| (a - b).abs()));
    out
}

/// The head input of each example, for the given input kind.
pub fn example_features(
    examples: &[Example],
    kind: InputKind,
    encoder: &dyn TextEncoder,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<Vec<f32>>> {
    match kind {
        InputKind::Single => {
            let texts: Vec<&str> = examples.iter().map(|e| e.text.as_str()).collect();
            embed_unique(encoder, &texts, progress)
        }
        InputKind::Pair => {
            let mut texts: Vec<&str> = Vec::with_capacity(2 * examples.len());
            for e in examples {
                let context = e.context.as_deref().ok_or_else(|| {
                    HeadsError::Invalid(
                        "a pair head needs a target or parent text for every example".into(),
                    )
                })?;
                texts.push(context);
                texts.push(e.text.as_str());
            }
            let vectors = embed_unique(encoder, &texts, progress)?;
            Ok(vectors
                .chunks_exact(2)
                .map(|p| pair_features(&p[0], &p[1]))
                .collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    struct Recording {
        seen: RefCell<Vec<String>>,
    }

    impl TextEncoder for Recording {
        fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
            self.seen
                .borrow_mut()
                .extend(texts.iter().map(|t| t.to_string()));
            Ok(texts.iter().map(|t| vec![t.len() as f32, 1.0]).collect())
        }
        fn id(&self) -> String {
            "recording".into()
        }
    }

    fn ex(context: &str, text: &str) -> Example {
        Example {
            text: text.into(),
            context: Some(context.into()),
            label: "favor".into(),
            lang: None,
        }
    }

    #[test]
    fn pair_layout_and_each_text_embedded_once() {
        let enc = Recording {
            seen: RefCell::new(vec![]),
        };
        let examples = [ex("target", "ab"), ex("target", "abcd"), ex("target", "ab")];
        let f = example_features(&examples, InputKind::Pair, &enc, &mut |_, _| {}).unwrap();
        assert_eq!(
            *enc.seen.borrow(),
            vec!["target".to_string(), "ab".into(), "abcd".into()]
        );
        // u = [6, 1], v = [2, 1]: [u, v, u·v, |u−v|].
        assert_eq!(f[0], vec![6.0, 1.0, 2.0, 1.0, 12.0, 1.0, 4.0, 0.0]);
        assert_eq!(f[0], f[2]);
        assert_eq!(f[1].len(), 8);
    }

    #[test]
    fn single_features_are_the_comment_vectors() {
        let enc = Recording {
            seen: RefCell::new(vec![]),
        };
        let examples = [ex("ignored", "xyz")];
        let f = example_features(&examples, InputKind::Single, &enc, &mut |_, _| {}).unwrap();
        assert_eq!(f, vec![vec![3.0, 1.0]]);
    }
}
