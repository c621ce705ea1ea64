//! `$OUT_DIR/head-TASK.sha256`: the digest of each built-in head's weights (`src/source.rs`).

#[path = "../build-support/digests.rs"]
mod digests;

fn main() {
    digests::write_digests("heads", "head.safetensors", "head-");
}
