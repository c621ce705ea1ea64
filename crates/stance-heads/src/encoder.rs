//! The one thing the heads need from the encode stage: text in, one vector per text out.

use crate::error::Result;

/// A sentence encoder. `embed` returns one vector per text, all of the same length, in order.
///
/// `id` names what a head depends on: the model (its weights and tokenizer) and the input
/// prefix (e5's `query: `). Heads record it and refuse other encoders. `cache_id` must change
/// whenever the vectors would, even slightly (truncation, matmul precision); the embedding cache
/// is keyed by it.
pub trait TextEncoder {
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>>;
    fn id(&self) -> String;
    fn cache_id(&self) -> String {
        self.id()
    }
}

impl<T: TextEncoder + ?Sized> TextEncoder for &T {
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        (**self).embed(texts)
    }
    fn id(&self) -> String {
        (**self).id()
    }
    fn cache_id(&self) -> String {
        (**self).cache_id()
    }
}

impl<T: TextEncoder + ?Sized> TextEncoder for Box<T> {
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        (**self).embed(texts)
    }
    fn id(&self) -> String {
        (**self).id()
    }
    fn cache_id(&self) -> String {
        (**self).cache_id()
    }
}
