//! The manifest of the project's own model (`models/default.json` at the repository root).
//!
//! It says where the default encoder may be found, in order. The file is compiled into the
//! library, so the binary knows its default model wherever it runs; the encoder is found on disk
//! at run time, and nothing here points into the source tree the binary was built from. How
//! texts are prefixed and pooled is the model's own business ([`crate::conventions`]), so the
//! encoder gives the same vectors whichever name opened it.

use crate::error::ModelError;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The manifest text as built into this library.
const BUILTIN_DEFAULT: &str = include_str!("../../../models/default.json");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: String,
    pub description: String,
    pub encoder: EncoderManifest,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncoderManifest {
    /// Tried in order; the first that exists is used (an `env` location that is set wins even
    /// when its folder is incomplete, so that an explicit override never silently falls back).
    pub locations: Vec<Location>,
    /// Most tokens per sequence, special tokens included.
    pub max_tokens: usize,
    /// The heads were trained on the encoder's Q4_0 weights: a copy stored in full precision
    /// (the hub's safetensors) is rounded to Q4_0 blocks as it loads, so that every location
    /// gives the same vectors ([`crate::weights::WeightStore::round_to_q4_0`]).
    #[serde(default)]
    pub round_to_q4_0: bool,
}

/// Where an encoder folder may be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Location {
    /// A folder named by an environment variable.
    Env { var: String },
    /// A folder path, relative to `relative_to` unless absolute.
    Dir { path: PathBuf, relative_to: Base },
    /// A Hugging Face hub repository, looked up in the local cache only.
    Hub {
        repo: String,
        #[serde(default)]
        revision: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Base {
    /// The current working directory.
    Cwd,
    /// The current working directory, else the nearest of its parents where the path exists
    /// (so `../shared/…` is found from any folder of a checkout that has `shared/` beside it).
    CwdOrParent,
}

impl Manifest {
    /// The manifest built into this library from `models/default.json`.
    pub fn builtin() -> Result<Self, ModelError> {
        Self::parse(BUILTIN_DEFAULT, Path::new("models/default.json"))
    }

    pub fn from_file(path: &Path) -> Result<Self, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::File {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Self::parse(&text, path)
    }

    fn parse(text: &str, origin: &Path) -> Result<Self, ModelError> {
        let manifest: Manifest = serde_json::from_str(text).map_err(|e| ModelError::File {
            path: origin.to_path_buf(),
            message: format!("invalid model manifest: {e}"),
        })?;
        if manifest.encoder.max_tokens < 3 {
            return Err(ModelError::File {
                path: origin.to_path_buf(),
                message: format!(
                    "max_tokens {} leaves no room for text between special tokens",
                    manifest.encoder.max_tokens
                ),
            });
        }
        Ok(manifest)
    }
}

impl Location {
    /// The folder this location points at, if it can be named without touching the disk
    /// (`None` for an unset variable or a hub repository).
    pub fn folder(&self) -> Option<PathBuf> {
        match self {
            Location::Env { var } => std::env::var_os(var)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            Location::Dir { path, relative_to } => {
                let cwd = std::env::current_dir().unwrap_or_default();
                let joined = match relative_to {
                    _ if path.is_absolute() => path.clone(),
                    Base::Cwd => cwd.join(path),
                    Base::CwdOrParent => cwd
                        .ancestors()
                        .map(|dir| dir.join(path))
                        .find(|p| p.exists())
                        .unwrap_or_else(|| cwd.join(path)),
                };
                // Without `..` steps when it exists, so messages show a plain path.
                Some(std::fs::canonicalize(&joined).unwrap_or(joined))
            }
            Location::Hub { .. } => None,
        }
    }

    /// How this location reads in messages and `stance models` output.
    pub fn describe(&self) -> String {
        match self {
            Location::Env { var } => format!("${var}"),
            Location::Dir { path, relative_to } => match relative_to {
                Base::Cwd => format!("{} (relative to the current directory)", path.display()),
                Base::CwdOrParent => format!("{} (relative to the current directory or a parent)", path.display()),
            },
            Location::Hub { repo, revision } => match revision {
                Some(rev) => format!("hub {repo}@{rev} (local cache only)"),
                None => format!("hub {repo} (local cache only)"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_manifest_looks_in_the_environment_then_shared_then_the_hub() {
        let m = Manifest::builtin().unwrap();
        assert_eq!(m.name, "default");
        assert_eq!(m.encoder.locations.len(), 3);
        assert_eq!(m.encoder.max_tokens, 512);
        assert_eq!(
            m.encoder.locations.first(),
            Some(&Location::Env {
                var: "STANCE_MODEL_DIR".into()
            })
        );
        assert_eq!(
            m.encoder.locations.last(),
            Some(&Location::Hub {
                repo: "intfloat/multilingual-e5-small".into(),
                revision: None
            })
        );
    }

    #[test]
    fn unknown_fields_and_tiny_limits_are_rejected_with_the_file_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.json");
        let mut value: serde_json::Value = serde_json::from_str(BUILTIN_DEFAULT).unwrap();
        value["encoder"]["max_tokens"] = 2.into();
        std::fs::write(&path, value.to_string()).unwrap();
        let err = Manifest::from_file(&path).unwrap_err().to_string();
        assert!(
            err.contains("m.json") && err.contains("max_tokens 2"),
            "{err}"
        );

        value["encoder"]["max_tokens"] = 512.into();
        value["encoder"]["pooling_kind"] = "cls".into();
        std::fs::write(&path, value.to_string()).unwrap();
        let err = Manifest::from_file(&path).unwrap_err().to_string();
        assert!(
            err.contains("m.json") && err.contains("pooling_kind"),
            "{err}"
        );
    }

    #[test]
    fn a_location_relative_to_the_current_directory_or_a_parent_finds_shared_from_a_subfolder() {
        // Tests run in the crate's folder, two levels below the checkout that has ../shared.
        let loc = Location::Dir {
            path: "../shared/models/multilingual-e5-small-q4".into(),
            relative_to: Base::CwdOrParent,
        };
        let folder = loc.folder().unwrap();
        assert!(folder.join("config.json").is_file(), "{}", folder.display());
        let absent = Location::Dir { path: "no/such/folder".into(), relative_to: Base::CwdOrParent };
        assert!(!absent.folder().unwrap().exists());
    }
}
