//! `stance tune` end to end on a tiny BERT: a run told to stop after an epoch of a longer
//! schedule saves that epoch's model, and a rerun told to stop later resumes from the
//! checkpoint instead of training again from the start; a run started from a saved model
//! (`--init`) begins with that model's weights.

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

/// `stance tune` on the tiny BERT with the pairs in `dir`, training its top `top_layers`
/// layer(s); the caller adds the rest and runs it.
fn tune_cmd(dir: &Path, top_layers: usize) -> assert_cmd::Command {
    let mut cmd = cargo_bin_cmd!("stance");
    cmd.args(["tune", "--quiet", "--offline", "--model"])
        .arg(tiny_bert())
        .args(["--task", "stance", "--train"])
        .arg(dir.join("train.jsonl"))
        .arg("--valid")
        .arg(dir.join("valid.jsonl"))
        .args(["--top-layers", &top_layers.to_string(), "--context-tokens", "16", "--comment-tokens", "16"]);
    cmd
}

/// Runs `stance tune` for a 3-epoch schedule, stopping after `stop_after` epochs, and returns
/// the saved model's training record.
fn tune(dir: &Path, stop_after: usize) -> Value {
    let out = dir.join("model");
    tune_cmd(dir, 1)
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

fn weights(model: &Path) -> std::collections::HashMap<String, candle_core::Tensor> {
    candle_core::safetensors::load(model.join("cross_encoder.safetensors"), &candle_core::Device::Cpu).unwrap()
}

/// Trains one epoch with both learning rates 0 (the weights cannot move), from `init` if given.
fn frozen_run(dir: &Path, out: &str, init: Option<&Path>) -> PathBuf {
    let out = dir.join(out);
    let mut cmd = tune_cmd(dir, 1);
    cmd.args(["--epochs", "1", "--lr", "0", "--head-lr", "0", "--train-batch-tokens", "128", "--work"])
        .arg(out.with_extension("work"))
        .arg("--out")
        .arg(&out);
    if let Some(init) = init {
        cmd.arg("--init").arg(init);
    }
    cmd.assert().success();
    out
}

#[test]
fn a_run_started_from_a_saved_model_begins_with_its_weights() {
    let dir = tempfile::tempdir().unwrap();
    write_pairs(&dir.path().join("train.jsonl"), 24);
    write_pairs(&dir.path().join("valid.jsonl"), 9);
    tune(dir.path(), 1);
    let start = dir.path().join("model");

    // With nothing learnt, the saved model is the one started from, every tensor of it
    // (classifier and standardisation included); a fresh start draws another classifier.
    let continued = weights(&frozen_run(dir.path(), "continued", Some(&start)));
    let fresh = weights(&frozen_run(dir.path(), "fresh", None));
    let original = weights(&start);
    assert_eq!(continued.len(), original.len());
    for (name, t) in &original {
        let diff = (t.to_dtype(candle_core::DType::F32).unwrap()
            - continued[name].to_dtype(candle_core::DType::F32).unwrap())
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
        assert_eq!(diff, 0.0, "{name} changed");
    }
    let cls = |w: &std::collections::HashMap<String, candle_core::Tensor>| {
        w["classifier.weight"].to_dtype(candle_core::DType::F32).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap()
    };
    assert_ne!(cls(&fresh), cls(&original));

    // A model of another depth is refused, naming what differs.
    let refused = tune_cmd(dir.path(), 2)
        .args(["--epochs", "1", "--out"])
        .arg(dir.path().join("deeper"))
        .arg("--init")
        .arg(&start)
        .assert()
        .failure();
    let stderr = String::from_utf8_lossy(&refused.get_output().stderr).to_string();
    assert!(stderr.contains("top layers 1, this run 2"), "{stderr}");
}
