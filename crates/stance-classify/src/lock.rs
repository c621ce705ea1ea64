//! One run per output folder: an advisory lock on `DIR/.stance-lock`, held for the whole run.
//!
//! The operating system drops the lock when the process ends, however it ends, so a killed run
//! never leaves the folder locked; the lock file itself stays (empty) and is harmless.

use crate::error::{ClassifyError, Result};
use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

pub const LOCK_FILE: &str = ".stance-lock";

/// Held while a run writes its output folder.
#[derive(Debug)]
pub struct OutputLock {
    _file: File,
    path: PathBuf,
}

impl OutputLock {
    /// Creates `dir` if needed and takes its lock, or fails at once with [`ClassifyError::Busy`]
    /// when another run holds it.
    pub fn acquire(dir: &Path) -> Result<OutputLock> {
        std::fs::create_dir_all(dir).map_err(ClassifyError::io(dir))?;
        let path = dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(ClassifyError::io(&path))?;
        match file.try_lock() {
            Ok(()) => Ok(OutputLock { _file: file, path }),
            Err(TryLockError::WouldBlock) => Err(ClassifyError::Busy { dir: dir.to_path_buf(), lock: path }),
            Err(TryLockError::Error(e)) => Err(ClassifyError::io(&path)(e)),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_folder_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let first = OutputLock::acquire(&out).unwrap();
        let err = OutputLock::acquire(&out).unwrap_err();
        assert!(matches!(err, ClassifyError::Busy { .. }), "{err}");
        assert!(err.to_string().contains("another stance run"), "{err}");
        drop(first);
        OutputLock::acquire(&out).unwrap();
    }
}
