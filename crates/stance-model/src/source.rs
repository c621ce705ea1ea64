//! Where a model's files come from: a local folder, the Hugging Face hub (through its standard
//! cache), or the project's `default` model described by [`Manifest`].
//!
//! Resolution only finds files; it loads nothing. Offline resolution never touches the network
//! and, when a file is missing, names it and every place it looked.

use crate::error::ModelError;
use crate::conventions::{self, Conventions, Identity, Pooling, Prefixes};
use crate::manifest::{Location, Manifest};
use serde::Deserialize;
use std::path::{Path, PathBuf};

pub const CONFIG_FILE: &str = "config.json";
pub const TOKENIZER_FILE: &str = "tokenizer.json";
pub const SAFETENSORS_FILE: &str = "model.safetensors";
pub const GGUF_FILE: &str = "model.gguf";
/// Optional: `model_max_length` lives here in Hugging Face checkpoints.
pub const TOKENIZER_CONFIG_FILE: &str = "tokenizer_config.json";
/// Optional: sentence-transformers' `prompts` (e.g. e5's `query: ` / `passage: `).
pub const SENTENCE_TRANSFORMERS_FILE: &str = "config_sentence_transformers.json";

/// What the user named with `--model`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelRef {
    /// The project's own model (`models/default.json`).
    Default,
    /// A folder holding `config.json`, `tokenizer.json` and the weights.
    Folder(PathBuf),
    /// `org/name[@revision]` on the Hugging Face hub.
    Hub {
        repo: String,
        revision: Option<String>,
    },
}

impl ModelRef {
    /// `default`, an existing folder, `org/name[@revision]`, or else a folder path (which then
    /// fails to resolve with a message naming it).
    pub fn parse(text: &str) -> ModelRef {
        if text == "default" {
            return ModelRef::Default;
        }
        let path = Path::new(text);
        if path.is_dir() {
            return ModelRef::Folder(path.to_path_buf());
        }
        let (repo, revision) = match text.split_once('@') {
            Some((repo, rev)) => (repo, Some(rev)),
            None => (text, None),
        };
        if is_hub_repo_id(repo) && revision.is_none_or(|r| !r.is_empty()) {
            ModelRef::Hub {
                repo: repo.to_string(),
                revision: revision.map(str::to_string),
            }
        } else {
            ModelRef::Folder(path.to_path_buf())
        }
    }
}

impl std::fmt::Display for ModelRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ModelRef::Default => f.write_str("default"),
            ModelRef::Folder(p) => write!(f, "{}", p.display()),
            ModelRef::Hub {
                repo,
                revision: Some(rev),
            } => write!(f, "{repo}@{rev}"),
            ModelRef::Hub {
                repo,
                revision: None,
            } => f.write_str(repo),
        }
    }
}

/// `org/name` with the characters the hub allows, and not a relative path like `./x` or `../x`.
fn is_hub_repo_id(text: &str) -> bool {
    let Some((org, name)) = text.split_once('/') else {
        return false;
    };
    let part_ok = |p: &str| {
        !p.is_empty()
            && !p.starts_with('.')
            && !p.starts_with('-')
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    part_ok(org) && part_ok(name)
}

#[derive(Debug, Clone, Default)]
pub struct ResolveOptions {
    /// Never touch the network (also implied by `HF_HUB_OFFLINE=1`).
    pub offline: bool,
    /// Show download progress on stderr.
    pub progress: bool,
    /// The hub cache folder; `None` picks it as the Python client does ([`hub_cache_dir`]).
    pub hub_cache: Option<PathBuf>,
}

impl ResolveOptions {
    /// `offline` is the flag; `HF_HUB_OFFLINE` set to anything but `0`/`false`/empty also
    /// makes resolution offline, as in the Python hub client.
    pub fn new(offline_flag: bool, progress: bool) -> Self {
        let env_offline = std::env::var("HF_HUB_OFFLINE")
            .map(|v| {
                !matches!(
                    v.trim().to_ascii_lowercase().as_str(),
                    "" | "0" | "false" | "no"
                )
            })
            .unwrap_or(false);
        ResolveOptions {
            offline: offline_flag || env_offline,
            progress,
            hub_cache: None,
        }
    }
}

/// The files a model is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFiles {
    pub config: PathBuf,
    pub tokenizer: PathBuf,
    /// `model.safetensors` or `model.gguf`.
    pub weights: PathBuf,
    pub tokenizer_config: Option<PathBuf>,
    pub sentence_transformers_config: Option<PathBuf>,
    /// Optional `stance.json`: the model's own input conventions (see [`crate::conventions`]).
    pub stance_config: Option<PathBuf>,
}

/// Where the files were found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Folder(PathBuf),
    HubCache {
        repo: String,
        revision: String,
        snapshot: PathBuf,
    },
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Folder(p) => write!(f, "folder {}", p.display()),
            Origin::HubCache {
                repo,
                revision,
                snapshot,
            } => {
                write!(f, "hub {repo}@{revision}, cached in {}", snapshot.display())
            }
        }
    }
}

/// How texts become model inputs and outputs, beyond what `config.json` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextSettings {
    pub prefixes: Prefixes,
    pub pooling: Pooling,
    /// L2-normalise pooled embeddings.
    pub normalize: bool,
    /// Most tokens per sequence, special tokens included, when known from the model's files.
    pub max_tokens: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct ResolvedModel {
    /// What the user named.
    pub reference: ModelRef,
    pub files: ModelFiles,
    pub origin: Origin,
    pub settings: TextSettings,
    /// Where the prefixes and pooling came from (see [`crate::conventions`]).
    pub conventions: String,
    /// Set for the `default` model.
    pub manifest: Option<Manifest>,
    /// For the `default` model: the manifest location that matched.
    pub via: Option<Location>,
}

/// Finds the files of `reference`.
pub fn resolve(
    reference: &ModelRef,
    options: &ResolveOptions,
) -> Result<ResolvedModel, ModelError> {
    match reference {
        ModelRef::Default => resolve_default(&Manifest::builtin()?, options),
        ModelRef::Folder(dir) => {
            let (files, origin) = folder_files(dir)?;
            let (settings, conventions) = settings_from_files(&files, &origin)?;
            Ok(ResolvedModel {
                reference: reference.clone(),
                files,
                origin,
                settings,
                conventions,
                manifest: None,
                via: None,
            })
        }
        ModelRef::Hub { repo, revision } => {
            let (files, origin) =
                HubRepo::new(repo, revision.as_deref(), options)?.files(options)?;
            let (settings, conventions) = settings_from_files(&files, &origin)?;
            Ok(ResolvedModel {
                reference: reference.clone(),
                files,
                origin,
                settings,
                conventions,
                manifest: None,
                via: None,
            })
        }
    }
}

/// Resolves the manifest's encoder: the first location that exists wins. The hub location is
/// only looked up in the local cache, so `default` never downloads.
pub fn resolve_default(
    manifest: &Manifest,
    options: &ResolveOptions,
) -> Result<ResolvedModel, ModelError> {
    let mut looked = Vec::new();
    let mut found = None;
    for location in &manifest.encoder.locations {
        match location {
            Location::Env { var } => match location.folder() {
                // An explicit override is authoritative: a wrong value is an error, not a skip.
                Some(dir) => {
                    let files = folder_files(&dir).map_err(|e| ModelError::NotFound {
                        what: format!("the default model (${var})"),
                        looked: vec![e.to_string()],
                    })?;
                    found = Some((files, location));
                    break;
                }
                None => looked.push(format!("${var} (not set)")),
            },
            Location::Dir { .. } => {
                let dir = location.folder().unwrap_or_default();
                match folder_files(&dir) {
                    Ok(f) => {
                        found = Some((f, location));
                        break;
                    }
                    Err(e) => looked.push(format!("{}: {e}", location.describe())),
                }
            }
            Location::Hub { repo, revision } => {
                let cache_only = ResolveOptions {
                    offline: true,
                    ..options.clone()
                };
                match HubRepo::new(repo, revision.as_deref(), options)
                    .and_then(|h| h.files(&cache_only))
                {
                    Ok(f) => {
                        found = Some((f, location));
                        break;
                    }
                    Err(e) => looked.push(format!("{}: {e}", location.describe())),
                }
            }
        }
    }
    let Some(((files, origin), via)) = found else {
        return Err(ModelError::NotFound {
            what: "the default model's encoder".into(),
            looked,
        });
    };
    // The conventions come from the files found, exactly as if they had been named directly.
    // The manifest's token limit is the default model's own (e5's files say the same, 512).
    let (mut settings, conventions) = settings_from_files(&files, &origin)?;
    settings.max_tokens = Some(manifest.encoder.max_tokens);
    Ok(ResolvedModel {
        reference: ModelRef::Default,
        files,
        origin,
        settings,
        conventions,
        manifest: Some(manifest.clone()),
        via: Some(via.clone()),
    })
}

/// The files of a local folder; the error names the first missing file and the folder.
pub fn folder_files(dir: &Path) -> Result<(ModelFiles, Origin), ModelError> {
    if !dir.is_dir() {
        return Err(ModelError::NotFound {
            what: format!("model folder {}", dir.display()),
            looked: vec![format!("{} (no such folder)", dir.display())],
        });
    }
    let required = |name: &str| {
        let path = dir.join(name);
        if path.is_file() {
            Ok(path)
        } else {
            Err(missing(name, &dir.display().to_string()))
        }
    };
    let config = required(CONFIG_FILE)?;
    let tokenizer = required(TOKENIZER_FILE)?;
    let weights = [SAFETENSORS_FILE, GGUF_FILE]
        .iter()
        .map(|name| dir.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            missing(
                &format!("{SAFETENSORS_FILE} or {GGUF_FILE}"),
                &dir.display().to_string(),
            )
        })?;
    let optional = |name: &str| Some(dir.join(name)).filter(|p| p.is_file());
    let files = ModelFiles {
        config,
        tokenizer,
        weights,
        tokenizer_config: optional(TOKENIZER_CONFIG_FILE),
        sentence_transformers_config: optional(SENTENCE_TRANSFORMERS_FILE),
        stance_config: optional(crate::conventions::STANCE_FILE),
    };
    Ok((files, Origin::Folder(dir.to_path_buf())))
}

fn missing(file: &str, place: &str) -> ModelError {
    ModelError::MissingFile {
        file: file.to_string(),
        looked_in: place.to_string(),
    }
}

/// The hub cache folder, as the Python client picks it: `HF_HUB_CACHE`, else `$HF_HOME/hub`,
/// else `~/.cache/huggingface/hub`.
pub fn hub_cache_dir() -> Result<PathBuf, ModelError> {
    let non_empty = |var: &str| {
        std::env::var_os(var)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = non_empty("HF_HUB_CACHE") {
        return Ok(dir);
    }
    if let Some(home) = non_empty("HF_HOME") {
        return Ok(home.join("hub"));
    }
    match non_empty("HOME") {
        Some(home) => Ok(home.join(".cache").join("huggingface").join("hub")),
        None => Err(ModelError::NotFound {
            what: "the Hugging Face cache".into(),
            looked: vec!["$HF_HUB_CACHE, $HF_HOME and $HOME (none set)".into()],
        }),
    }
}

/// One repository of the hub and its folder in the local cache.
struct HubRepo {
    repo: String,
    revision: String,
    cache: PathBuf,
}

impl HubRepo {
    fn new(
        repo: &str,
        revision: Option<&str>,
        options: &ResolveOptions,
    ) -> Result<Self, ModelError> {
        let cache = match &options.hub_cache {
            Some(dir) => dir.clone(),
            None => hub_cache_dir()?,
        };
        Ok(HubRepo {
            repo: repo.to_string(),
            revision: revision.unwrap_or("main").to_string(),
            cache,
        })
    }

    /// `models--org--name` under the cache, as `hf_hub::Repo::folder_name` spells it.
    fn repo_dir(&self) -> PathBuf {
        self.cache
            .join(format!("models--{}", self.repo.replace('/', "--")))
    }

    /// The cached snapshot folder of the revision: a full commit hash names it directly,
    /// a branch or tag goes through `refs/<revision>`.
    fn snapshot(&self) -> Option<PathBuf> {
        let repo_dir = self.repo_dir();
        let commit = if is_commit_hash(&self.revision) {
            self.revision.clone()
        } else {
            std::fs::read_to_string(repo_dir.join("refs").join(&self.revision))
                .ok()?
                .trim()
                .to_string()
        };
        Some(repo_dir.join("snapshots").join(commit)).filter(|p| p.is_dir())
    }

    fn where_looked(&self) -> String {
        match self.snapshot() {
            Some(s) => s.display().to_string(),
            None => format!(
                "{} (no snapshot for revision `{}`)",
                self.repo_dir().display(),
                self.revision
            ),
        }
    }

    fn cached(&self, file: &str) -> Option<PathBuf> {
        self.snapshot()
            .map(|s| s.join(file))
            .filter(|p| p.is_file())
    }

    /// The cached file, or (online) the downloaded one; `Ok(None)` offline when not cached.
    fn fetch(&self, file: &str, options: &ResolveOptions) -> Result<Option<PathBuf>, ModelError> {
        if let Some(path) = self.cached(file) {
            return Ok(Some(path));
        }
        if options.offline {
            return Ok(None);
        }
        let api = hf_hub::api::sync::ApiBuilder::from_cache(hf_hub::Cache::new(self.cache.clone()))
            .with_progress(options.progress)
            .build()
            .map_err(|e| ModelError::Hub {
                repo: self.repo.clone(),
                message: e.to_string(),
            })?;
        let repo = hf_hub::Repo::with_revision(
            self.repo.clone(),
            hf_hub::RepoType::Model,
            self.revision.clone(),
        );
        match api.repo(repo).get(file) {
            Ok(path) => Ok(Some(path)),
            Err(e) => Err(ModelError::Hub {
                repo: self.repo.clone(),
                message: format!("{file}: {e}"),
            }),
        }
    }

    fn required(&self, file: &str, options: &ResolveOptions) -> Result<PathBuf, ModelError> {
        self.fetch(file, options)?
            .ok_or_else(|| self.missing(file, options))
    }

    fn missing(&self, file: &str, options: &ResolveOptions) -> ModelError {
        let mut place = format!(
            "hub cache of {}@{}: {}",
            self.repo,
            self.revision,
            self.where_looked()
        );
        if options.offline {
            place.push_str("; offline, so the hub was not asked");
        }
        missing(file, &place)
    }

    fn files(&self, options: &ResolveOptions) -> Result<(ModelFiles, Origin), ModelError> {
        let config = self.required(CONFIG_FILE, options)?;
        let tokenizer = self.required(TOKENIZER_FILE, options)?;
        // A cached GGUF counts, but only safetensors are downloaded: hub repositories that
        // carry GGUF files name them freely, `model.gguf` is this project's own convention.
        let weights = match self
            .cached(SAFETENSORS_FILE)
            .or_else(|| self.cached(GGUF_FILE))
        {
            Some(p) => p,
            None => self.fetch(SAFETENSORS_FILE, options)?.ok_or_else(|| {
                self.missing(
                    &format!("{SAFETENSORS_FILE} (or a cached {GGUF_FILE})"),
                    options,
                )
            })?,
        };
        let optional = |name: &str| self.fetch(name, options).ok().flatten();
        let files = ModelFiles {
            tokenizer_config: optional(TOKENIZER_CONFIG_FILE),
            sentence_transformers_config: optional(SENTENCE_TRANSFORMERS_FILE),
            // Only ever put there by hand: never fetched, found when present in the snapshot.
            stance_config: self.cached(crate::conventions::STANCE_FILE),
            config,
            tokenizer,
            weights,
        };
        let snapshot = files
            .config
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let origin = Origin::HubCache {
            repo: self.repo.clone(),
            revision: self.revision.clone(),
            snapshot,
        };
        Ok((files, origin))
    }
}

/// A model snapshot found in the hub cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedModel {
    pub repo: String,
    /// The ref (`main`, a tag) pointing at the snapshot.
    pub revision: String,
    pub snapshot: PathBuf,
    /// `Err` names the first file that is missing for this runtime.
    pub complete: Result<(), String>,
}

/// Every `models--org--name` repository of the hub cache with its refs, sorted by name.
pub fn cached_hub_models(cache: &Path) -> Vec<CachedModel> {
    let Ok(entries) = std::fs::read_dir(cache) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(repo) = name
            .strip_prefix("models--")
            .map(|r| r.replacen("--", "/", 1))
        else {
            continue;
        };
        let Ok(refs) = std::fs::read_dir(entry.path().join("refs")) else {
            continue;
        };
        for reference in refs.flatten() {
            let revision = reference.file_name().to_string_lossy().into_owned();
            let Ok(commit) = std::fs::read_to_string(reference.path()) else {
                continue;
            };
            let snapshot = entry.path().join("snapshots").join(commit.trim());
            let complete = folder_files(&snapshot)
                .map(|_| ())
                .map_err(|e| e.to_string());
            found.push(CachedModel {
                repo: repo.clone(),
                revision,
                snapshot,
                complete,
            });
        }
    }
    found.sort_by(|a, b| (&a.repo, &a.revision).cmp(&(&b.repo, &b.revision)));
    found
}

fn is_commit_hash(revision: &str) -> bool {
    revision.len() == 40 && revision.chars().all(|c| c.is_ascii_hexdigit())
}

#[derive(Deserialize)]
struct TokenizerConfig {
    model_max_length: Option<f64>,
}

/// A model's text settings from its own files, whatever name it was opened by: prefixes and
/// pooling from [`conventions::find`] (returned with where they came from), the length limit from
/// `tokenizer_config.json` when it gives a real one (it says 1e30 when unset).
fn settings_from_files(files: &ModelFiles, origin: &Origin) -> Result<(TextSettings, String), ModelError> {
    let max_tokens = match &files.tokenizer_config {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| ModelError::File {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
            serde_json::from_str::<TokenizerConfig>(&text)
                .map_err(|e| ModelError::File {
                    path: path.clone(),
                    message: e.to_string(),
                })?
                .model_max_length
                .filter(|n| *n >= 3.0 && *n <= 1_000_000.0)
                .map(|n| n as usize)
        }
        None => None,
    };
    let hub_repo = match origin {
        Origin::HubCache { repo, .. } => Some(repo.as_str()),
        Origin::Folder(_) => None,
    };
    let identity = Identity { hub_repo, tokenizer: &files.tokenizer, config: &files.config };
    let Conventions { prefixes, pooling, source } = conventions::find(
        files.stance_config.as_deref(),
        files.sentence_transformers_config.as_deref(),
        &identity,
    )?;
    let settings = TextSettings {
        prefixes,
        pooling,
        normalize: true,
        max_tokens,
    };
    Ok((settings, source))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_default_hub_ids_with_revisions_and_folders() {
        assert_eq!(ModelRef::parse("default"), ModelRef::Default);
        assert_eq!(
            ModelRef::parse("intfloat/multilingual-e5-small"),
            ModelRef::Hub {
                repo: "intfloat/multilingual-e5-small".into(),
                revision: None
            }
        );
        assert_eq!(
            ModelRef::parse("org/name@v1.0"),
            ModelRef::Hub {
                repo: "org/name".into(),
                revision: Some("v1.0".into())
            }
        );
        assert_eq!(
            ModelRef::parse("./org/name"),
            ModelRef::Folder("./org/name".into())
        );
        assert_eq!(ModelRef::parse("../x/y"), ModelRef::Folder("../x/y".into()));
        assert_eq!(ModelRef::parse("a/b/c"), ModelRef::Folder("a/b/c".into()));
        assert_eq!(
            ModelRef::parse("org/name@"),
            ModelRef::Folder("org/name@".into())
        );
        let dir = tempfile::tempdir().unwrap();
        let existing = dir.path().to_str().unwrap();
        assert_eq!(
            ModelRef::parse(existing),
            ModelRef::Folder(dir.path().into())
        );
    }

    #[test]
    fn folder_missing_weights_names_both_weight_files_and_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CONFIG_FILE), "{}").unwrap();
        std::fs::write(dir.path().join(TOKENIZER_FILE), "{}").unwrap();
        let err = folder_files(dir.path()).unwrap_err().to_string();
        assert!(err.contains("model.safetensors or model.gguf"), "{err}");
        assert!(err.contains(&dir.path().display().to_string()), "{err}");
    }

    #[test]
    fn commit_hashes_are_recognised() {
        assert!(is_commit_hash(&"a".repeat(40)));
        assert!(!is_commit_hash("main"));
        assert!(!is_commit_hash(&"g".repeat(40)));
    }
}
