//! Helpers shared by the end-to-end tests in this folder (they run the real `stance` binary).
#![allow(dead_code)]

use polars::prelude::*;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

/// `../shared` beside the repository.
pub fn shared(rel: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared").join(rel);
    assert!(p.exists(), "{} must exist (../shared beside the project)", p.display());
    p
}

pub fn stance() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("stance").unwrap();
    cmd.arg("--quiet");
    cmd
}

/// The first `n` comments of the 2k bench archive, as JSONL at `out`.
pub fn bench_sample(n: usize, out: &Path) {
    let file = std::fs::File::open(shared("data/bench/comments-2k.jsonl")).unwrap();
    let mut w = std::fs::File::create(out).unwrap();
    for line in std::io::BufReader::new(file).lines().take(n) {
        writeln!(w, "{}", line.unwrap()).unwrap();
    }
}

pub fn read_parquet(path: &Path) -> DataFrame {
    ParquetReader::new(std::fs::File::open(path).unwrap()).finish().unwrap()
}

pub fn f32s(df: &DataFrame, name: &str) -> Vec<Option<f32>> {
    df.column(name).unwrap().f32().unwrap().iter().collect()
}

pub fn strs(df: &DataFrame, name: &str) -> Vec<Option<String>> {
    df.column(name).unwrap().str().unwrap().iter().map(|s| s.map(str::to_string)).collect()
}

/// The prediction columns of a comments table: everything a head or the encoder wrote.
pub fn prediction_columns(df: &DataFrame) -> Vec<String> {
    let inputs = ["comment_id", "article_id", "parent_id", "depth", "root_id", "author", "created_at", "text", "lang"];
    df.get_column_names()
        .iter()
        .map(|n| n.to_string())
        .filter(|n| !inputs.contains(&n.as_str()))
        .collect()
}
