//! The project's encode stage as a [`TextEncoder`]: a loaded `stance-model` text model, with
//! the prefix and pooling of the model's own conventions (`query: `, mean, for e5).

use crate::encoder::TextEncoder;
use crate::error::{HeadsError, Result};
use sha2::{Digest, Sha256};
use stance_model::batch::{BatchOptions, KeepStates};
use stance_model::embed::{EmbedMode, EmbedOptions, Embedding};
use stance_model::runtime::OpenModel;
use stance_model::tokenize::Truncation;
use std::io::Read;
use std::path::Path;

/// Embeds with [`EmbedMode::Query`], upstream's advice for classification features.
pub struct ModelEncoder<'a> {
    opened: &'a OpenModel,
    options: EmbedOptions,
    id: String,
    cache_id: String,
}

impl<'a> ModelEncoder<'a> {
    /// The encoder id names the model, not its precision: the tokenizer's content, the
    /// architecture's shape and how a text becomes a vector. So the 4-bit default and the f32
    /// `intfloat/multilingual-e5-small` from the hub share an id, and a head trained on one
    /// reads the other's vectors (their cosine is 0.9999). The cache id adds the weights'
    /// content and everything else that moves a vector, since cached vectors must be exact.
    /// Hashing takes about half a second for the default model.
    pub fn new(opened: &'a OpenModel, truncation: Truncation, batch: BatchOptions) -> Result<Self> {
        let files = &opened.resolved.files;
        let model = &opened.model;
        let mode = EmbedMode::Query;
        let id = Self::encoder_id(opened)?;
        // The precision belongs to the cache id (vectors differ), never to `id` (heads read
        // the vectors of every precision). f32 keeps the id it always had.
        let compute = match opened.info.compute {
            stance_model::Compute::F32 => String::new(),
            other => format!(";compute={other}"),
        };
        // So are weights rounded at load (the file's digest is the same, the vectors are not).
        let rounded = if opened.info.rounded_to_q4_0 > 0 { ";rounded=q4_0" } else { "" };
        let cache_id = format!(
            "{id};weights={};max_tokens={};truncate={truncation};quantized_matmul={}{compute}{rounded}",
            file_digest(&files.weights)?,
            model.tokenizer.max_tokens(),
            opened.info.quantized_matmul
        );
        Ok(ModelEncoder {
            opened,
            options: EmbedOptions {
                mode,
                truncation,
                batch,
            },
            id,
            cache_id,
        })
    }

    /// The encoder id alone (see [`ModelEncoder::new`]): it hashes the tokenizer, not the
    /// weights, so it costs little where no text is encoded.
    pub fn encoder_id(opened: &OpenModel) -> Result<String> {
        let model = &opened.model;
        let config = &model.config;
        Ok(format!(
            "tokenizer={};{}:{}x{}x{};prefix={:?};pool={};normalize={}",
            file_digest(&opened.resolved.files.tokenizer)?,
            config.model_type,
            config.num_hidden_layers,
            config.hidden_size,
            config.vocab_size,
            model.prefix(EmbedMode::Query),
            model.settings.pooling.name(),
            model.settings.normalize
        ))
    }
}

/// The first 16 hex digits of a file's SHA-256.
fn file_digest(path: &Path) -> Result<String> {
    Ok(file_sha256(path)?[..16].to_string())
}

/// A file's SHA-256 in hex, read in 1 MiB blocks.
pub fn file_sha256(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(|e| HeadsError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| HeadsError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

impl ModelEncoder<'_> {
    /// The encoder's number of layers.
    pub fn layers(&self) -> usize {
        self.opened.model.config.num_hidden_layers
    }

    /// Vectors with their token counts and truncation flags, in input order; with `keep`, each
    /// text's intermediate states from the same pass too (for cross-encoders).
    pub fn embed_detailed(&self, texts: &[&str], keep: Option<KeepStates>) -> Result<Vec<Embedding>> {
        let model = &self.opened.model;
        match keep {
            None => model.embed(texts, &self.options, &|_| {}),
            Some(keep) => model.embed_keeping_states(texts, &self.options, keep, &|_| {}),
        }
        .map_err(|e| HeadsError::Encoder(e.to_string()))
    }
}

impl TextEncoder for ModelEncoder<'_> {
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        Ok(self.embed_detailed(texts, None)?.into_iter().map(|e| e.vector).collect())
    }

    fn id(&self) -> String {
        self.id.clone()
    }

    fn cache_id(&self) -> String {
        self.cache_id.clone()
    }
}
