//! A model's input conventions: the prompt prefixes put before texts and how token states are
//! pooled into one vector. They belong to the model, not to the name it was opened by, so the
//! same weights give the same vectors whether named `default`, by folder, by
//! `$STANCE_MODEL_DIR` or by hub id.
//!
//! Where they come from, first match wins:
//! 1. `stance.json` beside the weights: `{"prefixes": {"query": "…", "passage": "…"}, "pooling": "mean"}`;
//! 2. sentence-transformers' `config_sentence_transformers.json` `prompts`, when it has any;
//! 3. a model this library knows by its identity: its hub repository, or its tokenizer's
//!    content and its shape (multilingual-e5, whose model card asks for `query: ` / `passage: `);
//! 4. otherwise no prefix and mean pooling.

use crate::error::ModelError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

/// Optional file beside a model's weights declaring its conventions.
pub const STANCE_FILE: &str = "stance.json";

/// Text prepended to every input, per e5 mode. Applied by the runtime, never by callers.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prefixes {
    #[serde(default)]
    pub query: String,
    #[serde(default)]
    pub passage: String,
}

/// How the token states of a text become one vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pooling {
    /// Mean of the last hidden states over the attention mask (special tokens included).
    #[default]
    Mean,
    /// The first token's state (`[CLS]` / `<s>`).
    Cls,
}

impl Pooling {
    pub fn name(self) -> &'static str {
        match self {
            Pooling::Mean => "mean",
            Pooling::Cls => "cls",
        }
    }
}

/// The conventions of one model and where they were found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conventions {
    pub prefixes: Prefixes,
    pub pooling: Pooling,
    /// `stance.json`, `config_sentence_transformers.json`, `known model multilingual-e5-small`
    /// or `none found` — for `stance models info`.
    pub source: String,
}

/// The contents of `stance.json`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StanceFile {
    #[serde(default)]
    prefixes: Prefixes,
    #[serde(default)]
    pooling: Pooling,
}

/// A model recognised by its identity.
struct KnownModel {
    name: &'static str,
    hub_repo: &'static str,
    /// SHA-256 of its `tokenizer.json`.
    tokenizer_sha256: &'static str,
    /// `model_type`, layers, hidden size, vocabulary size, as in `config.json`.
    shape: (&'static str, usize, usize, usize),
    query: &'static str,
    passage: &'static str,
    pooling: Pooling,
}

const KNOWN: &[KnownModel] = &[KnownModel {
    name: "multilingual-e5-small",
    hub_repo: "intfloat/multilingual-e5-small",
    tokenizer_sha256: "0b44a9d7b51c3c62626640cda0e2c2f70fdacdc25bbbd68038369d14ebdf4c39",
    shape: ("bert", 12, 384, 250037),
    query: "query: ",
    passage: "passage: ",
    pooling: Pooling::Mean,
}];

/// What identifies a model: its hub repository (when it came from the hub), its tokenizer file
/// and its `config.json` shape.
pub struct Identity<'a> {
    pub hub_repo: Option<&'a str>,
    pub tokenizer: &'a Path,
    pub config: &'a Path,
}

/// The conventions of the model whose files are `stance_file` (if any), `sentence_transformers`
/// (if any) and `identity`.
pub fn find(
    stance_file: Option<&Path>,
    sentence_transformers: Option<&Path>,
    identity: &Identity<'_>,
) -> Result<Conventions, ModelError> {
    if let Some(path) = stance_file {
        let file: StanceFile = serde_json::from_value(read_json(path)?).map_err(|e| invalid(path, e))?;
        return Ok(Conventions { prefixes: file.prefixes, pooling: file.pooling, source: STANCE_FILE.into() });
    }
    if let Some(path) = sentence_transformers {
        let config: SentenceTransformersConfig =
            serde_json::from_value(read_json(path)?).map_err(|e| invalid(path, e))?;
        let prompt = |name: &str| config.prompts.get(name).cloned().unwrap_or_default();
        let prefixes = Prefixes { query: prompt("query"), passage: prompt("passage") };
        if prefixes != Prefixes::default() {
            return Ok(Conventions {
                prefixes,
                pooling: Pooling::Mean,
                source: crate::source::SENTENCE_TRANSFORMERS_FILE.into(),
            });
        }
    }
    if let Some(known) = recognise(identity)? {
        return Ok(Conventions {
            prefixes: Prefixes { query: known.query.into(), passage: known.passage.into() },
            pooling: known.pooling,
            source: format!("known model {}", known.name),
        });
    }
    Ok(Conventions { prefixes: Prefixes::default(), pooling: Pooling::Mean, source: "none found".into() })
}

/// The known model these files are: by hub repository, else by tokenizer content and shape.
fn recognise(identity: &Identity<'_>) -> Result<Option<&'static KnownModel>, ModelError> {
    if let Some(repo) = identity.hub_repo {
        if let Some(known) = KNOWN.iter().find(|k| k.hub_repo == repo) {
            return Ok(Some(known));
        }
    }
    let config: ConfigShape = serde_json::from_value(read_json(identity.config)?).map_err(|e| invalid(identity.config, e))?;
    let shape = (config.model_type.as_str(), config.num_hidden_layers, config.hidden_size, config.vocab_size);
    let candidates: Vec<&KnownModel> = KNOWN.iter().filter(|k| (k.shape.0, k.shape.1, k.shape.2, k.shape.3) == shape).collect();
    if candidates.is_empty() {
        return Ok(None);
    }
    let digest = file_sha256(identity.tokenizer)?;
    Ok(candidates.into_iter().find(|k| k.tokenizer_sha256 == digest))
}

#[derive(Deserialize)]
struct SentenceTransformersConfig {
    #[serde(default)]
    prompts: BTreeMap<String, String>,
}

/// The fields of `config.json` that identify a model's shape (absent ones never match).
#[derive(Deserialize)]
struct ConfigShape {
    #[serde(default)]
    model_type: String,
    #[serde(default)]
    num_hidden_layers: usize,
    #[serde(default)]
    hidden_size: usize,
    #[serde(default)]
    vocab_size: usize,
}

fn read_json(path: &Path) -> Result<serde_json::Value, ModelError> {
    let text = std::fs::read_to_string(path).map_err(|e| ModelError::File { path: path.to_path_buf(), message: e.to_string() })?;
    serde_json::from_str(&text).map_err(|e| ModelError::File { path: path.to_path_buf(), message: format!("invalid JSON: {e}") })
}

fn invalid(path: &Path, e: serde_json::Error) -> ModelError {
    ModelError::File { path: path.to_path_buf(), message: e.to_string() }
}

fn file_sha256(path: &Path) -> Result<String, ModelError> {
    let bytes = std::fs::read(path).map_err(|e| ModelError::File { path: path.to_path_buf(), message: e.to_string() })?;
    Ok(Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared_e5() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/models/multilingual-e5-small-q4")
    }

    fn e5_identity(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
        (dir.join("tokenizer.json"), dir.join("config.json"))
    }

    #[test]
    fn e5_is_recognised_by_its_files_and_by_its_hub_id() {
        let (tokenizer, config) = e5_identity(&shared_e5());
        let by_files = find(None, None, &Identity { hub_repo: None, tokenizer: &tokenizer, config: &config }).unwrap();
        assert_eq!(by_files.prefixes.query, "query: ");
        assert_eq!(by_files.prefixes.passage, "passage: ");
        assert_eq!(by_files.pooling, Pooling::Mean);
        assert_eq!(by_files.source, "known model multilingual-e5-small");

        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), r#"{"model_type": "bert", "num_hidden_layers": 2}"#).unwrap();
        std::fs::write(dir.path().join("tokenizer.json"), "{}").unwrap();
        let (tokenizer, config) = e5_identity(dir.path());
        let by_hub = Identity { hub_repo: Some("intfloat/multilingual-e5-small"), tokenizer: &tokenizer, config: &config };
        assert_eq!(find(None, None, &by_hub).unwrap().prefixes, by_files.prefixes);
        let unknown = Identity { hub_repo: Some("org/other"), tokenizer: &tokenizer, config: &config };
        assert_eq!(find(None, None, &unknown).unwrap().prefixes, Prefixes::default());
    }

    #[test]
    fn a_stance_file_wins_and_empty_sentence_transformers_prompts_fall_through() {
        let dir = tempfile::tempdir().unwrap();
        let (tokenizer, config) = e5_identity(&shared_e5());
        let identity = Identity { hub_repo: None, tokenizer: &tokenizer, config: &config };
        let st = dir.path().join("config_sentence_transformers.json");
        std::fs::write(&st, r#"{"prompts": {}}"#).unwrap();
        assert_eq!(find(None, Some(&st), &identity).unwrap().prefixes.query, "query: ");
        std::fs::write(&st, r#"{"prompts": {"query": "q: "}}"#).unwrap();
        assert_eq!(find(None, Some(&st), &identity).unwrap().prefixes.query, "q: ");

        let own = dir.path().join(STANCE_FILE);
        std::fs::write(&own, r#"{"prefixes": {"query": ""}, "pooling": "cls"}"#).unwrap();
        let c = find(Some(&own), Some(&st), &identity).unwrap();
        assert_eq!((c.prefixes, c.pooling, c.source.as_str()), (Prefixes::default(), Pooling::Cls, STANCE_FILE));
        std::fs::write(&own, r#"{"pooling": "max"}"#).unwrap();
        let err = find(Some(&own), None, &identity).unwrap_err().to_string();
        assert!(err.contains(STANCE_FILE) && err.contains("max"), "{err}");
    }
}
