//! Checkpoints: a long run commits its predictions chunk by chunk to a work directory, so a
//! killed run loses at most the chunk in flight and a rerun of the same command resumes.
//!
//! Layout of the work directory (`OUT/.stance-work/` for `stance classify`):
//! - `run-key.json`: what the chunks were computed from ([`RunKey`]); a rerun with other
//!   inputs, model, heads or options is refused instead of mixing results;
//! - `chunk-000000.parquet`, …: the prediction columns of comments `[i·size, (i+1)·size)`;
//! - `input/`: the run's comments themselves ([`crate::Spill`]), rewritten by every run.
//!
//! Every file is written to a temporary name, synced, and renamed, so a chunk file exists
//! only when complete. Chunks are scored with the same batch composition on every run, so
//! resumed predictions are identical to uninterrupted ones.

use crate::error::{ClassifyError, Result};
use polars::prelude::{DataFrame, ParquetReader, SerReader};
use serde::{Deserialize, Serialize};
use std::fs::{self, File};
use std::io::Write;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

const KEY_FILE: &str = "run-key.json";

/// An input file as fingerprinted when the run started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputFingerprint {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

impl InputFingerprint {
    pub fn of(path: &Path) -> Result<Self> {
        let bytes = fs::metadata(path).map_err(ClassifyError::io(path))?.len();
        let sha256 = stance_heads::model_encoder::file_sha256(path)?;
        Ok(InputFingerprint { path: path.display().to_string(), bytes, sha256 })
    }
}

/// Everything the predictions of a chunk depend on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunKey {
    pub stance_version: String,
    pub inputs: Vec<InputFingerprint>,
    /// The encoder's cache id: weights, tokenizer, prefix, truncation, matmul precision.
    pub encoder: String,
    /// `(task, SHA-256 of the head's weights)` in output order.
    pub heads: Vec<(String, String)>,
    pub target: Option<String>,
    pub logits: bool,
    pub chunk_size: usize,
    pub n_comments: usize,
}

impl RunKey {
    /// The first field in which `self` (the stored key) and `now` differ, in words.
    fn difference(&self, now: &RunKey) -> Option<String> {
        if self.inputs.len() != now.inputs.len() {
            return Some(format!("{} input file(s) then, {} now", self.inputs.len(), now.inputs.len()));
        }
        for (a, b) in self.inputs.iter().zip(&now.inputs) {
            if a.path != b.path {
                return Some(format!("input `{}` then, `{}` now", a.path, b.path));
            }
            if a != b {
                return Some(format!(
                    "input {} changed ({} bytes, sha256 {}… then; {} bytes, sha256 {}… now)",
                    a.path,
                    a.bytes,
                    &a.sha256[..12.min(a.sha256.len())],
                    b.bytes,
                    &b.sha256[..12.min(b.sha256.len())]
                ));
            }
        }
        let fields: [(&str, bool); 7] = [
            ("stance version", self.stance_version != now.stance_version),
            ("encoder", self.encoder != now.encoder),
            ("heads", self.heads != now.heads),
            ("--target", self.target != now.target),
            ("--logits", self.logits != now.logits),
            ("chunk size", self.chunk_size != now.chunk_size),
            ("number of comments", self.n_comments != now.n_comments),
        ];
        fields.iter().find(|(_, differs)| *differs).map(|(name, _)| format!("the {name} differs"))
    }

    pub fn n_chunks(&self) -> usize {
        self.n_comments.div_ceil(self.chunk_size)
    }
}

/// An open work directory for one [`RunKey`], or none at all ([`WorkDir::memory`]).
pub struct WorkDir {
    /// `None`: chunks are held in `held` instead, and nothing is resumed.
    dir: Option<PathBuf>,
    key: RunKey,
    held: Mutex<HashMap<usize, DataFrame>>,
}

impl WorkDir {
    /// Opens `dir` for `key`: creates it, or resumes it when it was made for the same key.
    /// A directory made for another key is an error, unless `fresh`, which empties it first.
    pub fn open(dir: &Path, key: RunKey, fresh: bool) -> Result<WorkDir> {
        if key.chunk_size == 0 {
            return Err(ClassifyError::Invalid("the chunk size must be at least 1".into()));
        }
        let key_path = dir.join(KEY_FILE);
        if fresh {
            remove_checkpoints(dir)?;
        }
        if key_path.exists() {
            let text = fs::read_to_string(&key_path).map_err(ClassifyError::io(&key_path))?;
            let stored: RunKey = serde_json::from_str(&text).map_err(|e| ClassifyError::Checkpoint {
                path: key_path.clone(),
                message: e.to_string(),
            })?;
            if let Some(difference) = stored.difference(&key) {
                return Err(ClassifyError::ForeignCheckpoint { dir: dir.to_path_buf(), difference });
            }
        } else {
            fs::create_dir_all(dir).map_err(ClassifyError::io(dir))?;
            let text = serde_json::to_string_pretty(&key).expect("a run key serializes");
            stance_io::write_file_atomic(&key_path, |w| {
                w.write_all(text.as_bytes()).map_err(ClassifyError::io(&key_path))
            })?;
        }
        Ok(WorkDir { dir: Some(dir.to_path_buf()), key, held: Mutex::default() })
    }

    /// No directory: chunks are scored exactly as with one (same rows, same batches) and held
    /// in memory, never resumed. For runs whose results are streamed, not written.
    pub fn memory(key: RunKey) -> Result<WorkDir> {
        if key.chunk_size == 0 {
            return Err(ClassifyError::Invalid("the chunk size must be at least 1".into()));
        }
        Ok(WorkDir { dir: None, key, held: Mutex::default() })
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<usize, DataFrame>> {
        self.held.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether chunk `index` is committed (by this run or an earlier one).
    pub fn has_chunk(&self, index: usize) -> Result<bool> {
        match self.chunk_path(index) {
            Some(path) => Ok(path.exists()),
            None => Ok(self.held().contains_key(&index)),
        }
    }

    pub fn key(&self) -> &RunKey {
        &self.key
    }

    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    fn chunk_path(&self, index: usize) -> Option<PathBuf> {
        Some(self.dir.as_ref()?.join(format!("chunk-{index:06}.parquet")))
    }

    /// Rows of the comments table that chunk `index` covers.
    pub fn chunk_rows(&self, index: usize) -> std::ops::Range<usize> {
        chunk_rows(index, self.key.chunk_size, self.key.n_comments)
    }

    /// The chunk's predictions if they are committed.
    pub fn load_chunk(&self, index: usize) -> Result<Option<DataFrame>> {
        let Some(path) = self.chunk_path(index) else { return Ok(self.held().get(&index).cloned()) };
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(ClassifyError::io(&path)(e)),
        };
        let bad = |message: String| ClassifyError::Checkpoint { path: path.clone(), message };
        let df = ParquetReader::new(file).finish().map_err(|e| bad(e.to_string()))?;
        let expected = self.chunk_rows(index).len();
        if df.height() != expected {
            return Err(bad(format!("{} rows, expected {expected}", df.height())));
        }
        Ok(Some(df))
    }

    /// Commits chunk `index`.
    pub fn save_chunk(&self, index: usize, predictions: &mut DataFrame) -> Result<()> {
        let Some(path) = self.chunk_path(index) else {
            self.held().insert(index, predictions.clone());
            return Ok(());
        };
        stance_io::table::write_parquet(&path, predictions, |e| ClassifyError::Checkpoint {
            path: path.clone(),
            message: e.to_string(),
        })
    }

    /// Deletes the work directory once the final outputs are in place.
    pub fn remove(self) -> Result<()> {
        match &self.dir {
            Some(dir) => fs::remove_dir_all(dir).map_err(ClassifyError::io(dir)),
            None => Ok(()),
        }
    }
}

/// Rows `[index·size, (index+1)·size)` of a table of `n` rows, as every chunked stage cuts it.
pub(crate) fn chunk_rows(index: usize, chunk_size: usize, n: usize) -> std::ops::Range<usize> {
    let start = index * chunk_size;
    start..(start + chunk_size).min(n)
}

/// Removes the files a work directory holds for a run key (the key and the chunks), leaving
/// anything else in it (the run's spilled inputs) alone.
fn remove_checkpoints(dir: &Path) -> Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(ClassifyError::io(dir)(e)),
    };
    for entry in entries {
        let path = entry.map_err(ClassifyError::io(dir))?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name == KEY_FILE || name.starts_with("chunk-") || name.starts_with(".chunk-") {
            fs::remove_file(&path).map_err(ClassifyError::io(&path))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::Column;

    fn key(n_comments: usize) -> RunKey {
        RunKey {
            stance_version: "0".into(),
            inputs: vec![InputFingerprint { path: "in.jsonl".into(), bytes: 10, sha256: "ab".repeat(32) }],
            encoder: "e".into(),
            heads: vec![("sentiment".into(), "cd".repeat(32))],
            target: None,
            logits: false,
            chunk_size: 4,
            n_comments,
        }
    }

    fn frame(rows: usize) -> DataFrame {
        DataFrame::new(rows, vec![Column::new("n_tokens".into(), vec![3u32; rows])]).unwrap()
    }

    #[test]
    fn chunks_survive_a_reopen_and_foreign_keys_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("work");
        let work = WorkDir::open(&dir, key(10), false).unwrap();
        assert_eq!(work.key().n_chunks(), 3);
        assert_eq!(work.chunk_rows(2), 8..10);
        assert!(work.load_chunk(0).unwrap().is_none());
        work.save_chunk(0, &mut frame(4)).unwrap();
        drop(work);

        let work = WorkDir::open(&dir, key(10), false).unwrap();
        assert_eq!(work.load_chunk(0).unwrap().unwrap().height(), 4);
        assert!(work.load_chunk(1).unwrap().is_none());
        // A chunk of the wrong size is reported, not silently used.
        work.save_chunk(1, &mut frame(3)).unwrap();
        assert!(matches!(work.load_chunk(1), Err(ClassifyError::Checkpoint { .. })));

        let mut changed = key(10);
        changed.inputs[0].sha256 = "ef".repeat(32);
        let err = WorkDir::open(&dir, changed.clone(), false).err().unwrap().to_string();
        assert!(err.contains("input in.jsonl changed"), "{err}");
        assert!(err.contains("--fresh"), "{err}");
        let err = WorkDir::open(&dir, key(11), false).err().unwrap().to_string();
        assert!(err.contains("number of comments"), "{err}");

        let work = WorkDir::open(&dir, changed, true).unwrap();
        assert!(work.load_chunk(0).unwrap().is_none(), "--fresh starts over");
        work.remove().unwrap();
        assert!(!dir.exists());
    }

    #[test]
    fn no_temporary_files_are_left_behind() {
        let tmp = tempfile::tempdir().unwrap();
        let work = WorkDir::open(tmp.path(), key(4), false).unwrap();
        work.save_chunk(0, &mut frame(4)).unwrap();
        let names: Vec<String> = fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.contains(".tmp-")), "{names:?}");
        assert_eq!(names.len(), 2);
    }
}
