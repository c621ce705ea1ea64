//! The binary is self-contained and the model's conventions belong to the model: a copy of
//! `stance` run far from the checkout classifies like the one in the tree, the same encoder
//! under every name gives the same vectors, and one output folder takes one run at a time.

mod common;

use common::*;
use std::path::Path;

fn e5_dir() -> std::path::PathBuf {
    shared("models/multilingual-e5-small-q4")
}

fn prediction_frame(out: &Path) -> polars::prelude::DataFrame {
    let comments = read_parquet(&out.join("comments.parquet"));
    comments.select(prediction_columns(&comments)).unwrap()
}

#[test]
fn a_copied_binary_run_outside_the_checkout_gives_the_same_predictions() {
    let tmp = tempfile::tempdir().unwrap();
    let page = shared("data/threads/les-crises-durov/page.txt");
    let in_tree = tmp.path().join("in-tree");
    stance().args(["classify", "--offline", "--out"]).arg(&in_tree).arg(&page).assert().success();

    // A copy of the executable in a folder of its own, run from there: nothing of the checkout
    // (no models/, no ../shared relative to it) is reachable except the encoder, named by
    // $STANCE_MODEL_DIR as a user outside this setup would.
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let binary = elsewhere.join("stance");
    std::fs::copy(assert_cmd::cargo::cargo_bin("stance"), &binary).unwrap();
    let copied = elsewhere.join("out");
    let run_copy = || {
        std::process::Command::new(&binary)
            .args(["--quiet", "classify", "--offline", "--out", "out"])
            .arg(&page)
            .current_dir(&elsewhere)
            .env("STANCE_MODEL_DIR", e5_dir())
            .output()
    };
    // A test thread that forks while the copy is being written hands its child the file's write
    // descriptor until that child execs, and Linux refuses to run a file open for writing
    // ("Text file busy", seen once in CI): wait for those children instead of failing.
    let mut output = run_copy();
    for _ in 0..50 {
        match &output {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                std::thread::sleep(std::time::Duration::from_millis(100));
                output = run_copy();
            }
            _ => break,
        }
    }
    let output = output.unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(prediction_frame(&in_tree).equals_missing(&prediction_frame(&copied)));

    // run.json names the heads by task and digest, never by a path into a build tree.
    let run = std::fs::read_to_string(copied.join("run.json")).unwrap();
    assert!(run.contains("default stance head (sha256 "), "{run}");
    assert!(!run.contains("models/heads"), "{run}");
}

/// `stance embed --model MODEL` of two French texts in `dir` (with `$STANCE_MODEL_DIR` set to
/// `env_dir` if given): their vectors.
fn embed(dir: &Path, name: &str, model: &str, env_dir: Option<&Path>) -> polars::prelude::Column {
    let texts = dir.join("texts.jsonl");
    std::fs::write(
        &texts,
        "{\"id\": \"1\", \"text\": \"Le gouvernement a raison sur ce point.\"}\n{\"id\": \"2\", \"text\": \"Quelle blague, vraiment.\"}\n",
    )
    .unwrap();
    let out = dir.join(format!("{name}.parquet"));
    let mut cmd = stance();
    cmd.args(["embed", "--offline", "--model", model, "--out"]).arg(&out).arg("--input").arg(&texts);
    if let Some(dir) = env_dir {
        cmd.env("STANCE_MODEL_DIR", dir);
    }
    cmd.assert().success();
    read_parquet(&out).column("embedding").unwrap().clone()
}

#[test]
fn the_same_encoder_under_every_name_gives_identical_vectors() {
    let tmp = tempfile::tempdir().unwrap();
    let embed = |name: &str, model: &str, env_dir: Option<&Path>| embed(tmp.path(), name, model, env_dir);
    let by_default = embed("default", "default", None);
    let by_folder = embed("folder", &e5_dir().display().to_string(), None);
    let by_env = embed("env", "default", Some(&e5_dir()));
    assert!(by_default.equals_missing(&by_folder), "default and the folder differ");
    assert!(by_default.equals_missing(&by_env), "default and $STANCE_MODEL_DIR differ");
}

/// The default model gives its heads the 4-bit weights they were trained on wherever it finds
/// the encoder: a full-precision copy (here the GGUF's own values in f32 safetensors, which is
/// what the hub's weights are but for their rounding error) is rounded to the same Q4_0 blocks as
/// it loads, so its vectors are the GGUF's, bit for bit. Named as a folder, it loads as stored.
#[test]
fn the_default_model_rounds_a_full_precision_copy_to_its_own_blocks() {
    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("e5-f32");
    std::fs::create_dir_all(&copy).unwrap();
    for file in ["config.json", "tokenizer.json"] {
        std::fs::copy(e5_dir().join(file), copy.join(file)).unwrap();
    }
    let gguf =
        stance_model::weights::WeightStore::open(&e5_dir().join("model.gguf"), &candle_core::Device::Cpu).unwrap();
    let tensors: std::collections::HashMap<String, candle_core::Tensor> = gguf
        .names()
        .map(|name| (name.to_string(), gguf.f32_tensor(name, &gguf.meta(name).unwrap().shape).unwrap()))
        .collect();
    candle_core::safetensors::save(&tensors, copy.join("model.safetensors")).unwrap();
    drop(tensors);

    let info = |model: &str| {
        let mut cmd = stance();
        let out = cmd.args(["models", "info", "--offline", model]).env("STANCE_MODEL_DIR", &copy).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    assert!(info("default").contains("F32 ×197 (73 rounded to Q4_0 at load)"), "{}", info("default"));
    let as_stored = info(&copy.display().to_string());
    assert!(!as_stored.contains("rounded to Q4_0 at load"), "{as_stored}");
    assert!(as_stored.contains("built in (this is their encoder), read as stored, in full precision"), "{as_stored}");
    let out = tmp.path().join("run");
    let mut cmd = stance();
    cmd.args(["classify", "--offline", "--tasks", "sentiment", "--out"]).arg(&out);
    cmd.arg(shared("data/threads/les-crises-durov/page.txt")).env("STANCE_MODEL_DIR", &copy).assert().success();
    let run: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert!(run["extra"]["weights"].as_str().unwrap().contains("(73 rounded to Q4_0 at load)"), "{run}");
    let by_gguf = embed(tmp.path(), "gguf", "default", None);
    let by_copy = embed(tmp.path(), "copy", "default", Some(&copy));
    assert!(by_gguf.equals_missing(&by_copy), "the rounded copy's vectors differ from the GGUF's");
}

#[test]
fn a_head_refuses_an_encoder_whose_prefix_differs_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    // The e5 files with a stance.json that drops the prefix: same weights, other conventions.
    let model = tmp.path().join("e5-no-prefix");
    std::fs::create_dir_all(&model).unwrap();
    for file in ["config.json", "tokenizer.json", "tokenizer_config.json", "model.gguf"] {
        std::fs::copy(e5_dir().join(file), model.join(file)).unwrap();
    }
    std::fs::write(model.join("stance.json"), r#"{"prefixes": {"query": "", "passage": ""}}"#).unwrap();
    let assert = stance()
        .args(["classify", "--offline", "--tasks", "sentiment", "--model"])
        .arg(&model)
        .arg("--out")
        .arg(tmp.path().join("out"))
        .arg(shared("data/threads/les-crises-durov/page.txt"))
        .assert()
        .failure();
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(stderr.contains("prefix \"query: \" at training, \"\" now"), "{stderr}");
}

#[test]
fn a_second_run_on_a_busy_output_folder_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let held = stance_classify::OutputLock::acquire(&out).unwrap();
    let assert = stance()
        .args(["classify", "--offline", "--tasks", "sentiment", "--out"])
        .arg(&out)
        .arg(shared("data/threads/les-crises-durov/page.txt"))
        .assert()
        .failure();
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(stderr.contains("is being written by another stance run"), "{stderr}");
    assert!(!out.join("comments.parquet").exists());
    drop(held);
    stance()
        .args(["classify", "--offline", "--tasks", "sentiment", "--out"])
        .arg(&out)
        .arg(shared("data/threads/les-crises-durov/page.txt"))
        .assert()
        .success();
}
