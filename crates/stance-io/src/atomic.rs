//! Atomic outputs: everything is written under a temporary name in the destination directory,
//! flushed to disk, then renamed into place, so a reader sees either the previous complete
//! output or the new complete one, never a half-written file.
//!
//! The writers are generic over the caller's error type `E`: the caller's closure fails with
//! its own errors, and this module's own failures arrive as [`AtomicError`] through `From`.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// A file or directory that could not be created, written, synced or renamed.
#[derive(Debug, thiserror::Error)]
#[error("{action} {}: {source}", path.display())]
pub struct AtomicError {
    pub action: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

impl AtomicError {
    fn at(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> AtomicError {
        let path = path.to_path_buf();
        move |source| AtomicError { action, path, source }
    }
}

/// Outputs are for sharing: tempfile's private 0600/0700 modes would survive the rename.
fn readable<'r, 'a, 'b>(builder: &'r mut tempfile::Builder<'a, 'b>, mode: u32) -> &'r mut tempfile::Builder<'a, 'b> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(fs::Permissions::from_mode(mode))
    }
    #[cfg(not(unix))]
    {
        let _ = mode;
        builder
    }
}

/// Writes `path` through `write`, atomically. On error nothing is left under `path` that was
/// not there before (the temporary file is removed).
pub fn write_file_atomic<F, E>(path: &Path, write: F) -> Result<(), E>
where
    F: FnOnce(&mut BufWriter<&mut fs::File>) -> Result<(), E>,
    E: From<AtomicError>,
{
    let dir = parent_dir(path);
    let mut temp = readable(&mut tempfile::Builder::new(), 0o644)
        .prefix(&format!(".{}.", file_name(path)))
        .suffix(".tmp")
        .tempfile_in(&dir)
        .map_err(AtomicError::at("create a temporary file in", &dir))?;
    let temp_path = temp.path().to_path_buf();
    {
        let mut writer = BufWriter::new(temp.as_file_mut());
        write(&mut writer)?;
        writer
            .flush()
            .map_err(AtomicError::at("write", &temp_path))?;
    }
    temp.as_file()
        .sync_all()
        .map_err(AtomicError::at("flush", temp.path()))?;
    temp.persist(path)
        .map_err(|e| AtomicError::at("rename into", path)(e.error))?;
    sync_dir(&dir);
    Ok(())
}

/// Writes a directory tree through `fill` (given an empty temporary directory beside `path`),
/// then puts it at `path`, replacing what was there. The old tree, if any, is moved aside first
/// and removed last, so `path` never holds a mix of old and new files.
pub fn write_dir_atomic<F, E>(path: &Path, fill: F) -> Result<(), E>
where
    F: FnOnce(&Path) -> Result<(), E>,
    E: From<AtomicError>,
{
    let dir = parent_dir(path);
    let temp = readable(&mut tempfile::Builder::new(), 0o755)
        .prefix(&format!(".{}.", file_name(path)))
        .suffix(".tmp")
        .tempdir_in(&dir)
        .map_err(AtomicError::at("create a temporary directory in", &dir))?;
    fill(temp.path())?;
    let staged = temp.keep();
    let displaced = if path.exists() {
        let aside = aside_name(path);
        fs::rename(path, &aside).map_err(AtomicError::at("move aside", path))?;
        Some(aside)
    } else {
        None
    };
    if let Err(e) = fs::rename(&staged, path) {
        // Put the previous output back rather than leave nothing.
        if let Some(aside) = &displaced {
            let _ = fs::rename(aside, path);
        }
        let _ = fs::remove_dir_all(&staged);
        return Err(AtomicError::at("rename into", path)(e).into());
    }
    sync_dir(&dir);
    if let Some(aside) = displaced {
        remove_any(&aside).map_err(AtomicError::at("remove the previous", &aside))?;
    }
    Ok(())
}

/// Removes a previous output at `path` (file or directory), atomically from a reader's view:
/// it is renamed away before it is deleted. Used when a run switches between a single file and
/// a partitioned directory for the same table.
pub fn remove_atomic(path: &Path) -> Result<(), AtomicError> {
    if fs::symlink_metadata(path).is_err() {
        return Ok(());
    }
    let aside = aside_name(path);
    fs::rename(path, &aside).map_err(AtomicError::at("move aside", path))?;
    remove_any(&aside).map_err(AtomicError::at("remove", &aside))
}

fn remove_any(path: &Path) -> std::io::Result<()> {
    if fs::symlink_metadata(path)?.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    }
}

fn aside_name(path: &Path) -> PathBuf {
    let mut n = 0u32;
    loop {
        let candidate = parent_dir(path).join(format!(
            ".{}.old-{}-{n}",
            file_name(path),
            std::process::id()
        ));
        if fs::symlink_metadata(&candidate).is_err() {
            return candidate;
        }
        n += 1;
    }
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".to_string())
}

/// Makes the rename itself durable. Best effort: some filesystems cannot sync a directory.
fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}
