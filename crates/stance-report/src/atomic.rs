//! Atomic outputs: everything is written under a temporary name in the destination directory,
//! flushed to disk, then renamed into place, so a reader sees either the previous complete
//! output or the new complete one, never a half-written file.

use crate::ReportError;
use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

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
pub fn write_file_atomic<F>(path: &Path, write: F) -> Result<(), ReportError>
where
    F: FnOnce(&mut BufWriter<&mut fs::File>) -> Result<(), ReportError>,
{
    let dir = parent_dir(path);
    let mut temp = readable(&mut tempfile::Builder::new(), 0o644)
        .prefix(&format!(".{}.", file_name(path)))
        .suffix(".tmp")
        .tempfile_in(&dir)
        .map_err(ReportError::io("create a temporary file in", &dir))?;
    let temp_path = temp.path().to_path_buf();
    {
        let mut writer = BufWriter::new(temp.as_file_mut());
        write(&mut writer)?;
        writer
            .flush()
            .map_err(ReportError::io("write", &temp_path))?;
    }
    temp.as_file()
        .sync_all()
        .map_err(ReportError::io("flush", temp.path()))?;
    temp.persist(path)
        .map_err(|e| ReportError::io("rename into", path)(e.error))?;
    sync_dir(&dir);
    Ok(())
}

/// Writes a directory tree through `fill` (given an empty temporary directory beside `path`),
/// then puts it at `path`, replacing what was there. The old tree, if any, is moved aside first
/// and removed last, so `path` never holds a mix of old and new files.
pub fn write_dir_atomic<F>(path: &Path, fill: F) -> Result<(), ReportError>
where
    F: FnOnce(&Path) -> Result<(), ReportError>,
{
    let dir = parent_dir(path);
    let temp = readable(&mut tempfile::Builder::new(), 0o755)
        .prefix(&format!(".{}.", file_name(path)))
        .suffix(".tmp")
        .tempdir_in(&dir)
        .map_err(ReportError::io("create a temporary directory in", &dir))?;
    fill(temp.path())?;
    let staged = temp.keep();
    let displaced = if path.exists() {
        let aside = aside_name(path);
        fs::rename(path, &aside).map_err(ReportError::io("move aside", path))?;
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
        return Err(ReportError::io("rename into", path)(e));
    }
    sync_dir(&dir);
    if let Some(aside) = displaced {
        remove_any(&aside).map_err(ReportError::io("remove the previous", &aside))?;
    }
    Ok(())
}

/// Removes a previous output at `path` (file or directory), atomically from a reader's view:
/// it is renamed away before it is deleted. Used when a run switches between a single file and
/// a partitioned directory for the same table.
pub fn remove_atomic(path: &Path) -> Result<(), ReportError> {
    if fs::symlink_metadata(path).is_err() {
        return Ok(());
    }
    let aside = aside_name(path);
    fs::rename(path, &aside).map_err(ReportError::io("move aside", path))?;
    remove_any(&aside).map_err(ReportError::io("remove", &aside))
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
