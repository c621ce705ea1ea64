//! Where a head comes from: the default heads built into this library, or a folder.
//!
//! The default heads are compiled in (about 14 MB), so the `stance` binary needs nothing beside
//! it but an encoder: no source tree, no `models/` folder. They are named by task and digest in
//! `run.json`, never by a path.

use crate::data::Task;
use crate::error::{HeadsError, Result};
use crate::head::Head;
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};

/// A head to load: `default` (the one built in for its task) or a folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadSource {
    Default,
    /// `head`: the task's built-in model without fine-tuned layers. Here, where heads load, the
    /// same as [`HeadSource::Default`]; where `default` names a task's built-in model (a blend or
    /// route with fine-tuned layers, see `stance-classify`), this names its heads alone, which
    /// read the vectors of the one encoder pass every head shares.
    DefaultHead,
    Folder(PathBuf),
    /// Another head compiled in, by its folder's name under `models/heads` ([`is_built_in`]):
    /// a member of a built-in blend beside the task's default head. Blends name it, users never.
    BuiltIn(String),
}

/// A head compiled in besides the tasks' defaults: its folder's name under `models/heads`, its
/// task, and its files as `head_files!` gives them.
struct ExtraHead {
    name: &'static str,
    task: Task,
    files: (&'static str, &'static [u8], &'static str),
}

impl HeadSource {
    /// `default`, `head`, or else a folder path.
    pub fn parse(name: &str) -> HeadSource {
        match name {
            "default" => HeadSource::Default,
            "head" => HeadSource::DefaultHead,
            path => HeadSource::Folder(PathBuf::from(path)),
        }
    }

    /// Loads the head of `task` from here, refusing a head trained for another task.
    pub fn load(&self, task: Task) -> Result<SourcedHead> {
        let (head, sha256) = match self {
            HeadSource::Default | HeadSource::DefaultHead => {
                let (meta, weights, sha256) = built_in(task);
                from_static(meta, weights, sha256, &self.path_for_errors(task))?
            }
            HeadSource::BuiltIn(name) => {
                let Some(extra) = EXTRA_HEADS.iter().find(|h| h.name == name) else {
                    let names: Vec<&str> = EXTRA_HEADS.iter().map(|h| h.name).collect();
                    return Err(HeadsError::Head {
                        path: self.path_for_errors(task),
                        message: format!("no head `{name}` is built in (built in: {})", names.join(", ")),
                    });
                };
                let (meta, weights, sha256) = extra.files;
                from_static(meta, weights, sha256, &self.path_for_errors(task))?
            }
            HeadSource::Folder(dir) => {
                let head = Head::load(dir)?;
                let weights = dir.join(crate::head::WEIGHTS_FILE);
                (head, crate::model_encoder::file_sha256(&weights)?)
            }
        };
        if head.task() != task {
            return Err(HeadsError::Head {
                path: self.path_for_errors(task),
                message: format!("is a {} head, not a {task} head", head.task()),
            });
        }
        Ok(SourcedHead { head, source: self.clone(), sha256 })
    }

    fn path_for_errors(&self, task: Task) -> PathBuf {
        match self {
            HeadSource::Default | HeadSource::DefaultHead => PathBuf::from(format!("<built-in {task} head>")),
            HeadSource::Folder(dir) => dir.clone(),
            HeadSource::BuiltIn(name) => PathBuf::from(format!("<built-in head {name}>")),
        }
    }
}

impl fmt::Display for HeadSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeadSource::Default => f.write_str("default"),
            HeadSource::DefaultHead => f.write_str("head"),
            HeadSource::Folder(dir) => write!(f, "{}", dir.display()),
            HeadSource::BuiltIn(name) => write!(f, "built-in {name}"),
        }
    }
}

/// A loaded head with where it came from and the SHA-256 of its weights (which names it in
/// checkpoints and `run.json`).
#[derive(Debug, Clone)]
pub struct SourcedHead {
    pub head: Head,
    pub source: HeadSource,
    pub sha256: String,
}

impl SourcedHead {
    pub fn task(&self) -> Task {
        self.head.task()
    }

    /// `default stance head (sha256 0123456789abcdef)` or `DIR (sha256 …)`: how run records name it.
    pub fn describe(&self) -> String {
        let digest = &self.sha256[..16.min(self.sha256.len())];
        match &self.source {
            HeadSource::Default | HeadSource::DefaultHead => {
                format!("default {} head (sha256 {digest})", self.head.task())
            }
            HeadSource::Folder(dir) => format!("{} (sha256 {digest})", dir.display()),
            HeadSource::BuiltIn(name) => format!("built-in {} head {name} (sha256 {digest})", self.head.task()),
        }
    }

    /// Refuses to read vectors of an encoder other than the one the head was trained on,
    /// naming what differs (tokenizer, shape, prefix, pooling, normalisation).
    pub fn check_encoder(&self, encoder_id: &str) -> Result<()> {
        check_encoder_id(&self.head.meta.encoder, encoder_id).map_err(|message| HeadsError::Head {
            path: self.path(),
            message,
        })
    }

    fn path(&self) -> PathBuf {
        self.source.path_for_errors(self.head.task())
    }
}

/// `Err` naming each part of two encoder ids (`part=value;…`, see
/// [`crate::model_encoder::ModelEncoder`]) that differs.
pub fn check_encoder_id(trained_on: &str, running: &str) -> std::result::Result<(), String> {
    if trained_on == running {
        return Ok(());
    }
    let parts = |id: &str| -> Vec<(String, String)> {
        id.split(';')
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => ("model".to_string(), p.to_string()),
            })
            .collect()
    };
    let (want, have) = (parts(trained_on), parts(running));
    let differences: Vec<String> = want
        .iter()
        .filter_map(|(k, v)| {
            let other = have.iter().find(|(k2, _)| k2 == k).map(|(_, v)| v.as_str()).unwrap_or("(none)");
            (other != v).then(|| format!("{k} {v} at training, {other} now"))
        })
        .collect();
    Err(format!(
        "was trained on another encoder input ({}): trained on `{trained_on}`, this run encodes with `{running}`",
        if differences.is_empty() { "different settings".to_string() } else { differences.join("; ") }
    ))
}

/// The compiled-in files of the head in `models/heads/NAME`: its metadata, its weights and their
/// SHA-256 (from build.rs).
macro_rules! head_files {
    ($name:literal) => {
        (
            include_str!(concat!("../../../models/heads/", $name, "/head.json")),
            include_bytes!(concat!("../../../models/heads/", $name, "/head.safetensors")).as_slice(),
            include_str!(concat!(env!("OUT_DIR"), "/head-", $name, ".sha256")),
        )
    };
}

/// The files of the default head of `task`, as compiled in, and its weights' SHA-256.
fn built_in(task: Task) -> (&'static str, &'static [u8], &'static str) {
    match task {
        Task::Stance => head_files!("stance"),
        Task::Sentiment => head_files!("sentiment"),
        Task::Irony => head_files!("irony"),
        Task::Toxicity => head_files!("toxicity"),
        Task::Reply => head_files!("reply"),
    }
}

/// A head from compiled-in files; the weights' pages are handed back to the system once read.
fn from_static(meta: &str, weights: &'static [u8], sha256: &str, origin: &Path) -> Result<(Head, String)> {
    let head = Head::from_bytes(meta, weights, origin)?;
    stance_model::resident::release_static(weights);
    Ok((head, sha256.to_string()))
}

/// The heads compiled in besides each task's default, each a member of its task's default blend:
/// the reply head that also learnt replies that say they agree or disagree in so many words
/// (models/EVAL.md, "replies that say they agree or disagree"), and the stance head that also
/// learnt comments that praise or damn the article itself ("comments that say where they stand
/// toward the article").
const EXTRA_HEADS: &[ExtraHead] = &[
    ExtraHead { name: "reply-markers", task: Task::Reply, files: head_files!("reply-markers") },
    ExtraHead { name: "stance-markers", task: Task::Stance, files: head_files!("stance-markers") },
];

/// Whether `models/heads/NAME` is compiled in as a head of `task` besides its default, so that
/// a built-in blend can name it ([`HeadSource::BuiltIn`]).
pub fn is_built_in(name: &str, task: Task) -> bool {
    EXTRA_HEADS.iter().any(|h| h.name == name && h.task == task)
}

/// The SHA-256 of `bytes` as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `path` holds a head (a `head.json`).
pub fn is_head_dir(path: &Path) -> bool {
    path.join(crate::head::META_FILE).is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_digests_are_those_of_the_compiled_in_weights() {
        for task in Task::ALL {
            let (_, weights, sha256) = built_in(task);
            assert_eq!(sha256, sha256_hex(weights), "{task}");
            let file = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../models/heads/{task}/head.safetensors"));
            assert_eq!(sha256, crate::model_encoder::file_sha256(&file).unwrap(), "{task}");
        }
    }

    #[test]
    fn the_extra_built_in_heads_load_with_the_digests_of_their_folders() {
        for &ExtraHead { name, task, files: (_, weights, sha256) } in EXTRA_HEADS {
            assert!(is_built_in(name, task), "{name}");
            assert!(Task::ALL.into_iter().filter(|&t| t != task).all(|t| !is_built_in(name, t)), "{name}");
            assert_eq!(sha256, sha256_hex(weights), "{name}");
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../models/heads/{name}"));
            let folder = HeadSource::Folder(dir).load(task).unwrap();
            let built_in = HeadSource::BuiltIn(name.to_string()).load(task).unwrap();
            assert_eq!(built_in.sha256, folder.sha256, "{name}");
            assert_eq!(built_in.describe(), format!("built-in {task} head {name} (sha256 {})", &sha256[..16]));
        }
        let err = HeadSource::BuiltIn("nope".into()).load(Task::Reply).unwrap_err().to_string();
        assert!(err.contains("no head `nope` is built in"), "{err}");
    }

    #[test]
    fn every_default_head_loads_for_its_task_with_the_catalogue_labels() {
        for task in Task::ALL {
            let head = HeadSource::Default.load(task).unwrap();
            let mut have: Vec<&str> = head.head.labels().iter().map(String::as_str).collect();
            let mut want = task.model_labels();
            have.sort_unstable();
            want.sort_unstable();
            assert_eq!(have, want, "{task}");
            assert_eq!(head.sha256.len(), 64);
            assert!(head.describe().starts_with(&format!("default {task} head (sha256 ")));
            // Loading handed the compiled-in pages back to the kernel; read again, they are the same.
            let again = HeadSource::Default.load(task).unwrap();
            assert_eq!(again.sha256, head.sha256, "{task}");
        }
    }

    #[test]
    fn a_head_of_another_task_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        HeadSource::Default.load(Task::Irony).unwrap().head.save(dir.path()).unwrap();
        let err = HeadSource::Folder(dir.path().into()).load(Task::Toxicity).unwrap_err().to_string();
        assert!(err.contains("is a irony head, not a toxicity head"), "{err}");
    }

    #[test]
    fn encoder_mismatches_name_the_part_that_differs() {
        let trained = "tokenizer=ab;bert:12x384x250037;prefix=\"query: \";pool=mean;normalize=true";
        let running = "tokenizer=ab;bert:12x384x250037;prefix=\"\";pool=mean;normalize=true";
        assert!(check_encoder_id(trained, trained).is_ok());
        let err = check_encoder_id(trained, running).unwrap_err();
        assert!(err.contains("prefix \"query: \" at training, \"\" now"), "{err}");
        assert!(!err.contains("pool mean"), "{err}");
    }
}
