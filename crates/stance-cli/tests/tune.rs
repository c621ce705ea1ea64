//! `stance tune` end to end on a tiny BERT: a run told to stop after an epoch of a longer
//! schedule saves that epoch's model, and a rerun told to stop later resumes from the
//! checkpoint instead of training again from the start.

use assert_cmd::cargo::cargo_bin_cmd;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

fn tiny_bert() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/parity/tiny/bert")
}

fn write_pairs(path: &Path, n: usize) {
    let targets = ["the new tax on fuel", "more bike lanes in the city"];
    let texts = [
        ("yes, this is a good idea and I support it", "favor"),
        ("no, this is a bad plan and should stop", "against"),
        ("I read about it in the paper today", "none"),
    ];
    let rows: String = (0..n)
        .map(|i| {
            let (text, label) = texts[i % texts.len()];
            let row = json!({"id": format!("r{i}"), "target": targets[i % 2], "text": text, "label": label});
            format!("{row}\n")
        })
        .collect();
    std::fs::write(path, rows).unwrap();
}

/// Runs `stance tune` for a 3-epoch schedule, stopping after `stop_after` epochs, and returns
/// the saved model's training record.
fn tune(dir: &Path, stop_after: usize) -> Value {
    let out = dir.join("model");
    cargo_bin_cmd!("stance")
        .args(["tune", "--quiet", "--offline", "--model"])
        .arg(tiny_bert())
        .args(["--task", "stance", "--train"])
        .arg(dir.join("train.jsonl"))
        .arg("--valid")
        .arg(dir.join("valid.jsonl"))
        .args(["--top-layers", "1", "--context-tokens", "16", "--comment-tokens", "16"])
        .args(["--epochs", "3", "--patience", "3", "--train-batch-tokens", "128", "--checkpoint-every", "2"])
        .args(["--stop-after", &stop_after.to_string(), "--work"])
        .arg(dir.join("work"))
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let meta: Value = serde_json::from_str(&std::fs::read_to_string(out.join("cross_encoder.json")).unwrap()).unwrap();
    meta["training"].clone()
}

#[test]
fn a_run_stopped_after_an_epoch_saves_it_and_a_later_stop_resumes() {
    let dir = tempfile::tempdir().unwrap();
    write_pairs(&dir.path().join("train.jsonl"), 24);
    write_pairs(&dir.path().join("valid.jsonl"), 9);

    let first = tune(dir.path(), 1);
    let epochs = first["epochs"].as_array().unwrap();
    assert_eq!(epochs.len(), 1, "{first}");
    assert_eq!(first["config"]["epochs"], 3, "the schedule stays the 3-epoch one");

    let second = tune(dir.path(), 2);
    let epochs2 = second["epochs"].as_array().unwrap();
    assert_eq!(epochs2.len(), 2, "{second}");
    // Resumed: the first epoch's record is the one the first run wrote, not a new one.
    assert_eq!(epochs2[0], epochs[0]);
}
