//! Shared by the build scripts of the crates that compile model weights into the binary
//! (`#[path]`-included, so it needs no crate of its own): the SHA-256 of each weights file,
//! computed once at build time rather than on every run. The weights are fixed when compiled
//! in, so their digests are too; hashing them at start-up had been a quarter of the CPU time
//! of a one-page `stance classify`.

use sha2::{Digest, Sha256};
use std::path::Path;

/// For each folder `models/KIND/NAME` (relative to the repository root) holding `file`,
/// writes the file's SHA-256 as hex to `$OUT_DIR/{prefix}NAME.sha256`, and has cargo rerun
/// the script when anything under `models/KIND` changes.
pub fn write_digests(kind: &str, file: &str, prefix: &str) {
    let models = Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
        .join("../../models")
        .join(kind);
    println!("cargo:rerun-if-changed={}", models.display());
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    for entry in std::fs::read_dir(&models).unwrap_or_else(|e| panic!("{}: {e}", models.display())) {
        let dir = entry.expect("a folder entry").path();
        let weights = dir.join(file);
        if let (true, Some(name)) = (weights.is_file(), dir.file_name().and_then(|n| n.to_str())) {
            let bytes = std::fs::read(&weights).unwrap_or_else(|e| panic!("{}: {e}", weights.display()));
            let hex: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
            std::fs::write(Path::new(&out).join(format!("{prefix}{name}.sha256")), hex).expect("write a digest");
        }
    }
}
