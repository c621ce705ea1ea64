//! The one thing the heads need from the encode stage: text in, one vector per text out.

use crate::error::Result;

/// A sentence encoder. `embed` returns one vector per text, all of the same length, in order.
///
/// `id` must change whenever the vectors would: it names the model (and its weights), the input
/// prefix (e5's `query: `) and anything else that shapes the output. Heads record it, and the
/// embedding cache is keyed by it.
pub trait TextEncoder {
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>>;
    fn id(&self) -> String;
}

impl<T: TextEncoder + ?Sized> TextEncoder for &T {
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        (**self).embed(texts)
    }
    fn id(&self) -> String {
        (**self).id()
    }
}

impl<T: TextEncoder + ?Sized> TextEncoder for Box<T> {
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        (**self).embed(texts)
    }
    fn id(&self) -> String {
        (**self).id()
    }
}
