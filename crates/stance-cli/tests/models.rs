//! `stance predict`, `stance embed` and `stance models` end to end: files in, Parquet out,
//! compared with the shared parity fixtures.

use assert_cmd::cargo::cargo_bin_cmd;
use polars::prelude::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

fn shared_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

fn tiny_dir(name: &str) -> PathBuf {
    shared_dir().join("fixtures/parity/tiny").join(name)
}

fn read_jsonl(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn write_jsonl(path: &Path, rows: &[Value]) {
    let text: String = rows.iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(path, text).unwrap();
}

fn read_parquet(path: &Path) -> DataFrame {
    ParquetReader::new(std::fs::File::open(path).unwrap())
        .finish()
        .unwrap()
}

fn f32_column(df: &DataFrame, name: &str) -> Vec<f32> {
    let column = df
        .column(name)
        .unwrap_or_else(|_| panic!("no column {name}"));
    column
        .f32()
        .unwrap()
        .iter()
        .map(|v| v.expect("no nulls"))
        .collect()
}

fn f32s(value: &Value) -> Vec<f32> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect()
}

fn labels_of(dir: &Path) -> Vec<String> {
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    let id2label = config["id2label"].as_object().unwrap();
    (0..id2label.len())
        .map(|i| id2label[&i.to_string()].as_str().unwrap().to_string())
        .collect()
}

/// `stance predict --logits` over a tiny fixture's texts reproduces `expected.jsonl`.
fn predict_matches(name: &str) {
    let dir = tiny_dir(name);
    let records = read_jsonl(&dir.join("expected.jsonl"));
    let work = tempfile::tempdir().unwrap();
    let input = work.path().join("in.jsonl");
    let out = work.path().join("out.parquet");
    let rows: Vec<Value> = records
        .iter()
        .map(|r| json!({"id": r["id"], "text": r["text"], "hypothesis": r.get("text_pair")}))
        .collect();
    write_jsonl(&input, &rows);
    let mut cmd = cargo_bin_cmd!("stance");
    cmd.args([
        "predict",
        "--quiet",
        "--offline",
        // The maths against transformers' own outputs: the exact path, whatever this CPU's
        // default arithmetic.
        "--compute",
        "f32",
        "--logits",
        "--batch-tokens",
        "1000",
        "--model",
    ])
    .arg(&dir)
    .arg("--input")
    .arg(&input)
    .arg("--out")
    .arg(&out);
    if records[0].get("text_pair").is_some() {
        cmd.args(["--pair-field", "hypothesis"]);
    }
    cmd.assert().success();

    let df = read_parquet(&out);
    assert_eq!(df.height(), records.len(), "{name}");
    let ids: Vec<String> = df
        .column("id")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|s| s.unwrap().to_string())
        .collect();
    let expected_ids: Vec<String> = records.iter().map(|r| r["id"].to_string()).collect();
    assert_eq!(ids, expected_ids, "{name}: input order");
    let labels = labels_of(&dir);
    let mut worst = 0f32;
    for (l, label) in labels.iter().enumerate() {
        let logits = f32_column(&df, &format!("logit_{label}"));
        let probs = f32_column(&df, &format!("p_{label}"));
        for (i, record) in records.iter().enumerate() {
            let dl = (logits[i] - f32s(&record["logits"])[l]).abs();
            let dp = (probs[i] - f32s(&record["probs"])[l]).abs();
            assert!(
                dl <= 1e-4 && dp <= 1e-4,
                "{name} {} {label}: Δlogit {dl:e}, Δp {dp:e}",
                record["id"]
            );
            worst = worst.max(dl);
        }
    }
    let n_tokens: Vec<u32> = df
        .column("n_tokens")
        .unwrap()
        .u32()
        .unwrap()
        .iter()
        .map(|v| v.unwrap())
        .collect();
    let truncated: Vec<bool> = df
        .column("truncated")
        .unwrap()
        .bool()
        .unwrap()
        .iter()
        .map(|v| v.unwrap())
        .collect();
    for (i, record) in records.iter().enumerate() {
        assert_eq!(
            n_tokens[i] as usize,
            record["input_ids"].as_array().unwrap().len(),
            "{name} {}",
            record["id"]
        );
        assert_eq!(
            truncated[i],
            record["truncated"].as_bool().unwrap(),
            "{name} {}",
            record["id"]
        );
        match record.get("label") {
            Some(label) => {
                let got = df
                    .column("label")
                    .unwrap()
                    .str()
                    .unwrap()
                    .get(i)
                    .map(str::to_string);
                assert_eq!(got.as_deref(), label.as_str(), "{name} {}", record["id"]);
            }
            None => {
                let list = df
                    .column("labels")
                    .unwrap()
                    .list()
                    .unwrap()
                    .get_as_series(i)
                    .unwrap();
                let got: Vec<&str> = list.str().unwrap().iter().map(|s| s.unwrap()).collect();
                let expected: Vec<&str> = record["labels_above_0.5"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s.as_str().unwrap())
                    .collect();
                assert_eq!(got, expected, "{name} {}", record["id"]);
            }
        }
    }
    eprintln!("stance predict tiny/{name}: max |Δlogit| {worst:.2e}");
}

mod predict {
    #[test]
    fn bert() {
        super::predict_matches("bert")
    }
    #[test]
    fn bert_multilabel() {
        super::predict_matches("bert-multilabel")
    }
    #[test]
    fn xlm_roberta() {
        super::predict_matches("xlm-roberta")
    }
    #[test]
    fn distilbert() {
        super::predict_matches("distilbert")
    }
    #[test]
    fn deberta_v2() {
        super::predict_matches("deberta-v2")
    }
    #[test]
    fn deberta_v2_nli() {
        super::predict_matches("deberta-v2-nli")
    }
    #[test]
    fn modernbert() {
        super::predict_matches("modernbert")
    }
}

#[test]
fn predict_refuses_an_encoder_without_a_classifier() {
    let work = tempfile::tempdir().unwrap();
    let input = work.path().join("in.csv");
    std::fs::write(&input, "id,text\n1,hello\n").unwrap();
    let assert = cargo_bin_cmd!("stance")
        .args([
            "predict",
            "--quiet",
            "--offline",
            "--model",
            "default",
            "--input",
        ])
        .arg(&input)
        .arg("--out")
        .arg(work.path().join("out.parquet"))
        .assert()
        .failure();
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(
        stderr.contains("not a sequence-classification checkpoint"),
        "{stderr}"
    );
}

/// `stance embed --model default` on reference strings, given bare (the model adds `query: `),
/// from CSV, on the default path (f32 linears) and on quantized matmuls.
#[test]
fn embed_default_matches_the_reference_embeddings() {
    let records = read_jsonl(&shared_dir().join("fixtures/parity/e5/reference.jsonl"));
    // Short query records from every source: enough to catch a wrong prefix, position or pool.
    let picked: Vec<&Value> = records
        .iter()
        .filter(|r| r["prefix"] == "query: ")
        .step_by(10)
        .collect();
    assert_eq!(picked.len(), 20);
    let work = tempfile::tempdir().unwrap();
    let input = work.path().join("texts.csv");
    let mut writer = csv::Writer::from_path(&input).unwrap();
    writer.write_record(["id", "text"]).unwrap();
    for r in &picked {
        writer
            .write_record([r["id"].to_string(), r["text"].as_str().unwrap().to_string()])
            .unwrap();
    }
    writer.flush().unwrap();

    for (extra, min_cos_needed) in [(None, 0.9999), (Some("--quantized-matmul"), 0.999)] {
        let out = work.path().join("embeddings.parquet");
        let mut cmd = cargo_bin_cmd!("stance");
        cmd.args([
            "embed",
            "--quiet",
            "--offline",
            "--model",
            "default",
            "--threads",
            "2",
            "--input",
        ])
        .arg(&input)
        .arg("--out")
        .arg(&out);
        if let Some(flag) = extra {
            cmd.arg(flag);
        }
        cmd.assert().success();
        let df = read_parquet(&out);
        assert_eq!(df.height(), picked.len());
        let embedding = df.column("embedding").unwrap();
        assert_eq!(
            embedding.dtype(),
            &DataType::List(Box::new(DataType::Float32))
        );
        let lists = embedding.list().unwrap();
        let n_tokens = df.column("n_tokens").unwrap().u32().unwrap();
        let (mut min_cos, mut sum_cos) = (f64::INFINITY, 0f64);
        for (i, r) in picked.iter().enumerate() {
            let got: Vec<f32> = lists
                .get_as_series(i)
                .unwrap()
                .f32()
                .unwrap()
                .iter()
                .map(|v| v.unwrap())
                .collect();
            let expected = f32s(&r["embedding"]);
            assert_eq!(got.len(), 384);
            let cos: f64 = got
                .iter()
                .zip(&expected)
                .map(|(a, b)| *a as f64 * *b as f64)
                .sum();
            min_cos = min_cos.min(cos);
            sum_cos += cos;
            assert_eq!(
                n_tokens.get(i),
                Some(r["n_tokens"].as_u64().unwrap() as u32)
            );
        }
        eprintln!(
            "stance embed default {}: min cos {min_cos:.7}, mean cos {:.7} over {} texts",
            extra.unwrap_or("(f32 linears)"),
            sum_cos / picked.len() as f64,
            picked.len()
        );
        assert!(min_cos >= min_cos_needed, "{extra:?}: min cos {min_cos}");
    }
}

#[test]
fn models_info_default_tells_the_truth() {
    let assert = cargo_bin_cmd!("stance")
        .args(["models", "info", "default", "--offline"])
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    for expected in [
        "BertModel (bert): 12 layers, hidden 384, 12 heads, intermediate 1536, vocabulary 250037",
        "embedding: 384 dims, mean pooling, L2-normalised",
        "query \"query: \", passage \"passage: \"",
        "max tokens    512",
        "117,505,920 (117.5M)",
        // The default arithmetic depends on the CPU (bf16 with AMX tiles; int8 with AVX-512
        // VNNI; f32 elsewhere).
        match stance_model::Compute::fastest_accurate() {
            stance_model::Compute::Bf16 => "F32 ×124 + Q4_0 ×73 (linear layers in bfloat16, sums in f32)",
            stance_model::Compute::Int8 => {
                "F32 ×124 + Q4_0 ×73 (linear layers with int8 activations per block of 32 and the weights' blocks, sums exact per block)"
            }
            stance_model::Compute::Int16 => {
                "F32 ×124 + Q4_0 ×73 (linear layers with int16 activations and the weights' blocks, sums exact per block)"
            }
            _ => "F32 ×124 + Q4_0 ×73 (computed in f32)",
        },
        "model.gguf (GGUF, 67,000,224 bytes)",
        "250,002 pieces",
        "multilingual-e5-small-q4",
    ] {
        assert!(
            stdout.contains(expected),
            "missing `{expected}` in:\n{stdout}"
        );
    }
    let quantized = cargo_bin_cmd!("stance")
        .args(["models", "info", "default", "--offline", "--quantized-matmul"])
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&quantized.get_output().stdout).into_owned();
    assert!(stdout.contains("(quantized matmul on the stored blocks"), "{stdout}");
}

#[test]
fn models_info_of_a_classifier_lists_its_labels() {
    let assert = cargo_bin_cmd!("stance")
        .args(["models", "info", "--offline"])
        .arg(tiny_dir("bert-multilabel"))
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    assert!(
        stdout.contains("toxic, insult, threat, identity_attack"),
        "{stdout}"
    );
    assert!(
        stdout.contains("MultiLabel") && stdout.contains("max tokens    128"),
        "{stdout}"
    );
}

/// A hub id whose snapshot lacks a file: offline (flag or HF_HUB_OFFLINE), the error names the
/// file and the snapshot folder it looked in.
#[test]
fn offline_missing_file_names_the_file_and_where_it_looked() {
    let cache = tempfile::tempdir().unwrap();
    let commit = "0123456789abcdef0123456789abcdef01234567";
    let repo_dir = cache.path().join("models--org--tiny");
    let snapshot = repo_dir.join("snapshots").join(commit);
    std::fs::create_dir_all(&snapshot).unwrap();
    std::fs::create_dir_all(repo_dir.join("refs")).unwrap();
    std::fs::write(repo_dir.join("refs/main"), commit).unwrap();
    std::fs::copy(
        tiny_dir("bert").join("config.json"),
        snapshot.join("config.json"),
    )
    .unwrap();
    std::fs::copy(
        tiny_dir("bert").join("tokenizer.json"),
        snapshot.join("tokenizer.json"),
    )
    .unwrap();

    for (flag, env) in [(Some("--offline"), None), (None, Some("1"))] {
        let mut cmd = cargo_bin_cmd!("stance");
        cmd.args(["models", "info", "org/tiny"])
            .env("HF_HUB_CACHE", cache.path())
            .env_remove("HF_HUB_OFFLINE");
        if let Some(flag) = flag {
            cmd.arg(flag);
        }
        if let Some(value) = env {
            cmd.env("HF_HUB_OFFLINE", value);
        }
        let assert = cmd.assert().failure();
        let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
        assert!(stderr.contains("model.safetensors"), "{stderr}");
        assert!(stderr.contains(&snapshot.display().to_string()), "{stderr}");
        assert!(stderr.contains("offline"), "{stderr}");
    }

    // With the weights in place the same id resolves from the cache and lists in `models list`.
    std::fs::copy(
        tiny_dir("bert").join("model.safetensors"),
        snapshot.join("model.safetensors"),
    )
    .unwrap();
    let assert = cargo_bin_cmd!("stance")
        .args(["models", "info", "org/tiny", "--offline"])
        .env("HF_HUB_CACHE", cache.path())
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    assert!(stdout.contains("hub org/tiny@main"), "{stdout}");
    let assert = cargo_bin_cmd!("stance")
        .args(["models", "list"])
        .env("HF_HUB_CACHE", cache.path())
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    assert!(
        stdout.contains("org/tiny@main") && stdout.contains("complete"),
        "{stdout}"
    );
}

#[test]
fn a_tokenizer_too_big_for_the_embedding_matrix_is_an_error_naming_the_file() {
    let folder = tempfile::tempdir().unwrap();
    for file in ["config.json", "model.safetensors"] {
        std::fs::copy(tiny_dir("bert").join(file), folder.path().join(file)).unwrap();
    }
    // The e5 tokenizer (250,002 pieces) with a 2,000-row model.
    let e5_tokenizer = shared_dir().join("models/multilingual-e5-small-q4/tokenizer.json");
    std::fs::copy(&e5_tokenizer, folder.path().join("tokenizer.json")).unwrap();
    let assert = cargo_bin_cmd!("stance")
        .args(["models", "info", "--offline"])
        .arg(folder.path())
        .assert()
        .failure();
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(
        stderr.contains(&folder.path().join("tokenizer.json").display().to_string()),
        "{stderr}"
    );
    assert!(
        stderr.contains("embedding matrix has 2000 rows"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// `models info DIR` on a task's model folder describes it as `--head TASK=DIR` loads it: its
/// task and labels, what it reads, its decision rule, and each fine-tuned model within (layers,
/// budgets, the arithmetic of its layers under int8). A folder whose metadata names no task is
/// refused, naming the file.
#[test]
fn models_info_describes_a_task_models_folder() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let info = |dir: &Path| {
        let assert = cargo_bin_cmd!("stance").args(["models", "info", "--offline"]).arg(dir).assert().success();
        String::from_utf8_lossy(&assert.get_output().stdout).into_owned()
    };
    let blend = info(&repo.join("models/blends/stance"));
    for expected in [
        "task          stance: against, favor, none\n",
        "reads         the article's target (its claim, question or title) with the comment\n",
        "offsets       against 0, favor -0.05, none 0.05\n",
        "blend of 0.20 × default stance head",
        "heads/stance-markers (sha256 9c2f9bd24005828e)",
        "tuned/stance-allrows (sha256 c1df8df0f2856e59): top 6 of 12 layers fine-tuned over the bottom 6; \
         reads at most 48 context and 128 comment tokens; under --compute int8 its layers run in int8 (marked \
         `int8_layers`)",
    ] {
        assert!(blend.contains(expected), "missing `{expected}` in:\n{blend}");
    }
    let head = info(&repo.join("models/heads/irony"));
    assert!(head.contains("reads         the comment alone\n"), "{head}");
    assert!(head.contains("ironic@es 0.646"), "{head}");
    assert!(!head.contains("fine-tuned"), "{head}");
    let reply = info(&repo.join("models/tuned/reply-statements"));
    // Unmarked, its layers run in this CPU's bf16 or int16 under int8.
    let layers = stance_model::Compute::Int8.for_fine_tuned_layers(false).name();
    assert!(reply.contains(&format!("run in {layers} (not marked `int8_layers`)")), "{reply}");

    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("head.json"), r#"{"format": 1}"#).unwrap();
    let refused = cargo_bin_cmd!("stance").args(["models", "info", "--offline"]).arg(tmp.path()).assert().failure();
    let stderr = String::from_utf8_lossy(&refused.get_output().stderr).into_owned();
    assert!(stderr.contains("head.json: no `task` field"), "{stderr}");
}
