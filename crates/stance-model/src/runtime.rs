//! A model ready to run on text: network, configuration, tokenizer and text settings together,
//! checked against each other once so that running never meets a mismatch.

use crate::batch::{BatchOptions, Runner};
use crate::config::ModelConfig;
use crate::error::ModelError;
use crate::load::{load_with_config, LoadOptions};
use crate::source::{resolve, ModelRef, ResolveOptions, ResolvedModel, TextSettings};
use crate::tokenize::TextTokenizer;
use crate::weights::WeightsInfo;
use crate::Model;
use candle_core::Device;

pub struct TextModel {
    model: Box<dyn Model>,
    pub config: ModelConfig,
    pub tokenizer: TextTokenizer,
    pub settings: TextSettings,
    pad_id: u32,
}

impl std::fmt::Debug for TextModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextModel")
            .field("config", &self.config.path)
            .field("tokenizer", &self.tokenizer)
            .field("settings", &self.settings)
            .field("pad_id", &self.pad_id)
            .finish_non_exhaustive()
    }
}

impl TextModel {
    /// Checks that the tokenizer fits the network: every id it can produce must have a row in
    /// the embedding matrix (`vocab_size`), and the padding id must exist.
    pub fn new(
        model: Box<dyn Model>,
        config: ModelConfig,
        tokenizer: TextTokenizer,
        settings: TextSettings,
    ) -> Result<Self, ModelError> {
        let id_bound = tokenizer.id_bound() as usize;
        if id_bound > config.vocab_size {
            return Err(ModelError::File {
                path: tokenizer.path().to_path_buf(),
                message: format!(
                    "the tokenizer produces ids up to {} but the model's embedding matrix has \
                     {} rows ({}): tokenizer and weights do not belong together",
                    id_bound - 1,
                    config.vocab_size,
                    config.path.display()
                ),
            });
        }
        let pad_id = match config.pad_token_id {
            Some(id) => id,
            None => ["[PAD]", "<pad>"]
                .iter()
                .find_map(|t| tokenizer.token_id(t))
                .unwrap_or(0),
        };
        if pad_id as usize >= config.vocab_size {
            return Err(ModelError::Config {
                path: config.path.clone(),
                message: format!(
                    "pad_token_id {pad_id} is outside the vocabulary ({})",
                    config.vocab_size
                ),
            });
        }
        Ok(TextModel {
            model,
            config,
            tokenizer,
            settings,
            pad_id,
        })
    }

    /// The loaded network itself.
    pub fn network(&self) -> &dyn Model {
        self.model.as_ref()
    }

    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    pub(crate) fn runner(&self, batch: BatchOptions) -> Runner<'_> {
        Runner {
            model: self.model.as_ref(),
            pad_id: self.pad_id,
            options: batch,
            keep: None,
        }
    }

    /// The label names of a classification checkpoint, in id order.
    pub fn labels(&self) -> Option<&[String]> {
        self.config
            .classifier
            .as_ref()
            .map(|c| c.id2label.as_slice())
    }
}

/// The token limit of a model: the model files' own (`tokenizer_config.json` or the manifest),
/// else what its position scheme allows, else BERT's customary 512.
pub fn max_tokens(settings: &TextSettings, config: &ModelConfig) -> usize {
    let positional = config.max_input_tokens();
    match (settings.max_tokens, positional) {
        (Some(own), Some(pos)) => own.min(pos),
        (Some(own), None) => own,
        (None, Some(pos)) => pos,
        (None, None) => 512,
    }
}

/// A model found, loaded and checked, with where it came from.
pub struct OpenModel {
    pub resolved: ResolvedModel,
    pub info: WeightsInfo,
    pub model: TextModel,
}

/// Finds `reference`, loads its weights on the CPU and its tokenizer, and checks that they fit.
pub fn open(
    reference: &ModelRef,
    resolve_options: &ResolveOptions,
    load_options: &LoadOptions,
) -> Result<OpenModel, ModelError> {
    let resolved = resolve(reference, resolve_options)?;
    // The default model is the 4-bit encoder its heads were trained on, whichever copy of it
    // was found: a full-precision one (the hub's) is rounded to those blocks as it loads.
    let load_options = &LoadOptions {
        round_to_q4_0: load_options.round_to_q4_0
            || resolved.manifest.as_ref().is_some_and(|m| m.encoder.round_to_q4_0),
        ..*load_options
    };
    let config = ModelConfig::from_file(&resolved.files.config)?;
    let limit = max_tokens(&resolved.settings, &config);
    // Parsing a large vocabulary (a quarter of a second for e5's 250,000 pieces) overlaps with
    // reading the weights.
    let (loaded, tokenizer) = std::thread::scope(|scope| {
        let tokenizer = scope.spawn(|| TextTokenizer::from_file(&resolved.files.tokenizer, limit));
        let loaded = load_with_config(config, &resolved.files.weights, &Device::Cpu, load_options);
        (loaded, tokenizer.join().expect("the tokenizer thread does not panic"))
    });
    let (loaded, tokenizer) = (loaded?, tokenizer?);
    let model = TextModel::new(
        loaded.model,
        loaded.config,
        tokenizer,
        resolved.settings.clone(),
    )?;
    Ok(OpenModel {
        resolved,
        info: loaded.info,
        model,
    })
}
