//! Parity with Hugging Face `transformers` on the shared fixtures (see
//! `shared/fixtures/parity/README.md`), plus the loader's refusals of broken models.
//!
//! - `tiny`: the seven random classifiers, f32: logits one at a time and in one padded batch
//!   within 1e-4, decisions exact; ModernBERT also from a transformers 4.x config.
//! - `e5`: multilingual-e5-small from its Q4_0 GGUF, layer by layer and as embeddings, on the
//!   dequantized (f32) path and the quantized-matmul path.
//! - `broken`: truncated, mis-shaped, NaN, unsupported, missing and pickle models, built in a
//!   temporary directory.

use serde_json::Value;
use stance_model::{ModelError, TokenBatch};
use std::path::{Path, PathBuf};

fn shared_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

fn fixtures() -> PathBuf {
    shared_dir().join("fixtures/parity")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn read_jsonl(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .collect()
}

fn u32s(value: &Value) -> Vec<u32> {
    value
        .as_array()
        .expect("array of ids")
        .iter()
        .map(|v| v.as_u64().expect("id") as u32)
        .collect()
}

fn f32s(value: &Value) -> Vec<f32> {
    value
        .as_array()
        .expect("array of numbers")
        .iter()
        .map(|v| v.as_f64().expect("number") as f32)
        .collect()
}

/// Right-pads `records` (with `input_ids`, optional `attention_mask`/`token_type_ids`) to
/// `padded_len` (or the longest) with `pad_id`, mask 0 and type 0 on the pads.
fn padded_batch(records: &[&Value], pad_id: u32, padded_len: Option<usize>) -> TokenBatch {
    let longest = records
        .iter()
        .map(|r| r["input_ids"].as_array().expect("ids").len())
        .max()
        .expect("records");
    let seq_len = padded_len.unwrap_or(longest).max(longest);
    let mut batch = TokenBatch {
        input_ids: Vec::new(),
        attention_mask: Vec::new(),
        token_type_ids: Vec::new(),
        batch_size: records.len(),
        seq_len,
    };
    for record in records {
        let ids = u32s(&record["input_ids"]);
        let mask = match record.get("attention_mask") {
            Some(m) => u32s(m),
            None => vec![1; ids.len()],
        };
        let types = match record.get("token_type_ids") {
            Some(t) => u32s(t),
            None => vec![0; ids.len()],
        };
        let pad = seq_len - ids.len();
        batch.input_ids.extend(ids.iter().copied().chain(std::iter::repeat_n(pad_id, pad)));
        batch.attention_mask.extend(mask.iter().copied().chain(std::iter::repeat_n(0, pad)));
        batch.token_type_ids.extend(types.iter().copied().chain(std::iter::repeat_n(0, pad)));
    }
    batch
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

mod tiny {
    use super::*;
    use candle_core::Device;
    use stance_model::{load, LoadOptions, ProblemType};

    const TOLERANCE: f32 = 1e-4;

    /// Runs every input one at a time and all 41 in one padded batch; checks logits, scores and
    /// decisions; prints the largest |Δlogit| of each mode.
    fn check_folder(name: &str, config_path: &Path) {
        check_folder_in(name, config_path, stance_model::Compute::F32, TOLERANCE);
    }

    /// [`check_folder`] with the linear layers in `compute`'s arithmetic, logits and scores
    /// within `tolerance`.
    /// Returns the arithmetic the model loaded in (`WeightsInfo::compute`), which may differ
    /// from the one asked for.
    fn check_folder_in(
        name: &str,
        config_path: &Path,
        compute: stance_model::Compute,
        tolerance: f32,
    ) -> stance_model::Compute {
        let dir = fixtures().join("tiny").join(name);
        let meta = read_json(&dir.join("meta.json"));
        let records = read_jsonl(&dir.join("expected.jsonl"));
        assert_eq!(records.len(), 41, "{name}: fixture size");
        let loaded = load(
            config_path,
            &dir.join("model.safetensors"),
            &Device::Cpu,
            &LoadOptions { compute, ..Default::default() },
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!loaded.info.quantized_matmul, "{name}: f32 weights run in f32");
        let classifier = loaded.config.classifier.clone().expect("a classifier");
        let pad_id = meta["tokenizer"]["pad_token_id"].as_u64().expect("pad id") as u32;

        let mut worst_single = 0f32;
        for record in &records {
            let batch = padded_batch(&[record], pad_id, None);
            let output = loaded.model.forward(&batch).unwrap_or_else(|e| panic!("{name}: {e}"));
            let logits = output.logits.expect("logits").to_vec2::<f32>().expect("f32 logits");
            let expected = f32s(&record["logits"]);
            let diff = max_abs_diff(&logits[0], &expected);
            assert!(
                diff <= tolerance,
                "{name} input {}: |Δlogit| {diff:e} > {tolerance:e}: {:?} vs {expected:?}",
                record["id"],
                logits[0]
            );
            worst_single = worst_single.max(diff);
            let scores = classifier.problem_type.scores(&logits[0]);
            let probs_diff = max_abs_diff(&scores, &f32s(&record["probs"]));
            assert!(probs_diff <= tolerance, "{name} input {}: probs", record["id"]);
            check_decision(name, record, &classifier.id2label, classifier.problem_type, &scores);
        }

        let padded_len = meta["batch"]["padded_length"].as_u64().expect("padded_length") as usize;
        let all: Vec<&Value> = records.iter().collect();
        let batch = padded_batch(&all, pad_id, Some(padded_len));
        assert_eq!(batch.seq_len, padded_len);
        let output = loaded.model.forward(&batch).unwrap_or_else(|e| panic!("{name}: {e}"));
        let logits = output.logits.expect("logits").to_vec2::<f32>().expect("f32 logits");
        let mut worst_batched = 0f32;
        for (row, record) in logits.iter().zip(&records) {
            let diff = max_abs_diff(row, &f32s(&record["logits_batched"]));
            assert!(
                diff <= tolerance,
                "{name} input {} (batched): |Δlogit| {diff:e} > {tolerance:e}",
                record["id"]
            );
            worst_batched = worst_batched.max(diff);
            let scores = classifier.problem_type.scores(row);
            check_decision(name, record, &classifier.id2label, classifier.problem_type, &scores);
        }
        eprintln!(
            "parity tiny/{name} ({}, {compute}): max |Δlogit| single {worst_single:.2e}, batched {worst_batched:.2e}",
            config_path.file_name().and_then(|f| f.to_str()).unwrap_or("?")
        );
        loaded.info.compute
    }

    fn check_decision(
        name: &str,
        record: &Value,
        labels: &[String],
        problem_type: ProblemType,
        scores: &[f32],
    ) {
        match problem_type {
            ProblemType::SingleLabel => {
                let best = scores
                    .iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .map(|(i, _)| i)
                    .expect("scores");
                assert_eq!(
                    labels[best],
                    record["label"].as_str().expect("label"),
                    "{name} input {}: decision",
                    record["id"]
                );
            }
            ProblemType::MultiLabel => {
                let above: Vec<&str> = scores
                    .iter()
                    .zip(labels)
                    .filter(|(s, _)| **s > 0.5)
                    .map(|(_, l)| l.as_str())
                    .collect();
                let expected: Vec<&str> = record["labels_above_0.5"]
                    .as_array()
                    .expect("labels_above_0.5")
                    .iter()
                    .map(|l| l.as_str().expect("label"))
                    .collect();
                assert_eq!(above, expected, "{name} input {}: decision", record["id"]);
            }
            ProblemType::Regression => panic!("{name}: no regression fixture"),
        }
    }

    fn check(name: &str) {
        check_folder(name, &fixtures().join("tiny").join(name).join("config.json"))
    }

    #[test]
    fn bert() {
        check("bert");
    }

    #[test]
    fn bert_multilabel() {
        check("bert-multilabel");
    }

    #[test]
    fn xlm_roberta() {
        check("xlm-roberta");
    }

    #[test]
    fn distilbert() {
        check("distilbert");
    }

    #[test]
    fn deberta_v2() {
        check("deberta-v2");
    }

    #[test]
    fn deberta_v2_nli() {
        check("deberta-v2-nli");
    }

    #[test]
    fn modernbert() {
        check("modernbert");
    }

    /// int8, the CLI's default on CPUs with AVX-512 VNNI and no AMX, multiplies a GGUF's own
    /// codes; float checkpoints take int16 under it, with int16's error and decisions (their
    /// linears rounded to 8-bit codes moved the logits by 2.6·10⁻² and turned a multi-label
    /// decision of `bert-multilabel`).
    #[test]
    fn bert_family_in_int8() {
        for name in ["bert", "bert-multilabel", "xlm-roberta", "distilbert"] {
            let config = fixtures().join("tiny").join(name).join("config.json");
            let ran_in = check_folder_in(name, &config, stance_model::Compute::Int8, 4e-3);
            assert_eq!(ran_in, stance_model::Compute::Int16, "{name}");
        }
    }

    /// Float checkpoints (the hub's) with the linears in int16, the CLI's default on Intel CPUs
    /// without AMX until int8 took its place: 12-bit weight codes per block of 32 inputs and
    /// 16-bit activations keep every logit within 4·10⁻³ of `transformers`' and every decision
    /// the same. Measured: at most 2.4·10⁻³ (bf16, the default with AMX: 9.8·10⁻³ on `bert`,
    /// and one multi-label decision flips).
    #[test]
    fn bert_family_in_int16() {
        for name in ["bert", "bert-multilabel", "xlm-roberta", "distilbert"] {
            let config = fixtures().join("tiny").join(name).join("config.json");
            check_folder_in(name, &config, stance_model::Compute::Int16, 4e-3);
        }
    }

    /// The same checkpoint described in transformers 4.x spelling gives the same logits.
    #[test]
    fn modernbert_from_a_transformers_4_config() {
        let original = read_json(&fixtures().join("tiny/modernbert/config.json"));
        let mut old = original.as_object().expect("object").clone();
        for key in ["layer_types", "rope_parameters", "norm_eps"] {
            old.remove(key);
        }
        old.insert("global_attn_every_n_layers".into(), 2.into());
        old.insert("global_rope_theta".into(), 160000.0.into());
        old.insert("local_rope_theta".into(), 10000.0.into());
        old.insert("layer_norm_eps".into(), 1e-5.into());
        old.insert("transformers_version".into(), "4.48.0".into());
        let label2id: serde_json::Map<String, Value> = old["label2id"]
            .as_object()
            .expect("label2id")
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.to_string())))
            .collect();
        old.insert("label2id".into(), Value::Object(label2id));
        let dir = tempfile::tempdir().expect("tempdir");
        let config_path = dir.path().join("config.json");
        std::fs::write(&config_path, Value::Object(old).to_string()).expect("write config");
        check_folder("modernbert", &config_path);
    }
}

mod e5 {
    use super::*;
    use candle_core::{Device, Tensor};
    use stance_model::arch::bert::Bert;
    use stance_model::arch::layers::MatmulMode;
    use stance_model::pooling::{l2_normalize, mean_pool};
    use stance_model::weights::WeightStore;
    use stance_model::{load, GgufMode, LoadOptions, Model, ModelConfig, TensorType};

    fn model_dir() -> PathBuf {
        shared_dir().join("models/multilingual-e5-small-q4")
    }

    /// The int8 path's tolerance against the f32 reference vectors, under the target
    /// (min cos ≥ 0.999). Measured on AVX-512 VNNI (the paths give the same bits), single and in
    /// batches of 16: min cos 0.999933, mean 0.999979, max |Δ| 1.9e-3 (with symmetric scales
    /// per block: 0.99981, 0.999936, 3.2e-3; with one scale per token and per output channel:
    /// 0.99935, 0.99967, 5.9e-3).
    const INT8_MIN_COS: f64 = 0.9999;
    const INT8_MEAN_COS: f64 = 0.99995;
    /// bfloat16 keeps 8 significant bits of every operand wherever it lies (measured: see
    /// BENCH.md); its bounds are set an order of magnitude tighter than int8's.
    const BF16_MIN_COS: f64 = 0.9999;
    const BF16_MEAN_COS: f64 = 0.99995;
    /// int16 activations times the weights' own Q4_0 codes: the weights are exact and an
    /// activation's step is 1/65,534 of its row's range. Measured on AVX-512 VNNI: min cos
    /// 0.999999978, mean 0.9999999913, max |Δ| 3.8e-5 (bf16: 0.99999149, 0.99999695, 7.3e-4).
    const INT16_MIN_COS: f64 = 0.9999995;
    const INT16_MEAN_COS: f64 = 0.9999998;

    fn embed(model: &dyn Model, batch: &TokenBatch) -> Vec<Vec<f32>> {
        let output = model.forward(batch).expect("forward");
        let hidden = output.last_hidden.expect("hidden states");
        let mask = Tensor::from_slice(
            &batch.attention_mask,
            (batch.batch_size, batch.seq_len),
            &Device::Cpu,
        )
        .expect("mask");
        let pooled = mean_pool(&hidden, &mask).expect("pool");
        l2_normalize(&pooled).expect("normalise").to_vec2::<f32>().expect("f32")
    }

    fn cosine(a: &[f32], b: &[f32]) -> f64 {
        let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
        let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
        let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
        dot / (na * nb)
    }

    struct Agreement {
        min_cos: f64,
        mean_cos: f64,
        max_abs: f32,
    }

    /// Embeds every reference record one at a time and in right-padded batches of 16.
    fn agreement(model: &dyn Model, records: &[Value]) -> (Agreement, Agreement) {
        let summarise = |vectors: &[Vec<f32>]| {
            let mut min_cos = f64::INFINITY;
            let mut sum_cos = 0f64;
            let mut max_abs = 0f32;
            for (vector, record) in vectors.iter().zip(records) {
                let expected = f32s(&record["embedding"]);
                let cos = cosine(vector, &expected);
                min_cos = min_cos.min(cos);
                sum_cos += cos;
                max_abs = max_abs.max(max_abs_diff(vector, &expected));
            }
            Agreement {
                min_cos,
                mean_cos: sum_cos / vectors.len() as f64,
                max_abs,
            }
        };
        let single: Vec<Vec<f32>> = records
            .iter()
            .map(|r| embed(model, &padded_batch(&[r], 1, None)).remove(0))
            .collect();
        let mut batched = Vec::with_capacity(records.len());
        for chunk in records.chunks(16) {
            let refs: Vec<&Value> = chunk.iter().collect();
            batched.extend(embed(model, &padded_batch(&refs, 1, None)));
        }
        (summarise(&single), summarise(&batched))
    }

    fn report(path: &str, mode: &str, a: &Agreement) {
        eprintln!(
            "parity e5 {path} {mode}: min cos {:.10}, mean cos {:.10}, max |Δ| {:.2e}",
            a.min_cos, a.mean_cos, a.max_abs
        );
    }

    /// The default model's heads were trained on the GGUF's Q4_0 weights, and a full-precision
    /// copy of the encoder (the hub's) is rounded to Q4_0 as it loads. Rounding the GGUF's own
    /// values, written as an f32 safetensors file, gives back its blocks byte for byte: the
    /// rounding is the one the file was made with. The position table stays as stored.
    #[test]
    fn rounding_a_float_copy_to_q4_0_gives_back_the_gguf_blocks() {
        let gguf = WeightStore::open(&model_dir().join("model.gguf"), &Device::Cpu).expect("gguf");
        let linears = [
            ("encoder.layer.0.attention.self.query.weight", [384, 384]),
            ("encoder.layer.11.output.dense.weight", [384, 1536]),
        ];
        let positions = ("embeddings.position_embeddings.weight", [512, 384]);
        let mut tensors = std::collections::HashMap::new();
        for (name, shape) in linears.iter().chain([&positions]) {
            tensors.insert(name.to_string(), gguf.f32_tensor(name, shape).expect("f32"));
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("model.safetensors");
        candle_core::safetensors::save(&tensors, &path).expect("save");
        let mut copy = WeightStore::open(&path, &Device::Cpu).expect("safetensors");
        assert!(copy.block_tensor(linears[0].0, &linears[0].1).expect("read").is_none(), "stored as f32");
        assert_eq!(copy.round_to_q4_0(), 2);
        for (name, shape) in linears {
            let rounded = copy.block_tensor(name, &shape).expect("read").expect("rounded");
            let stored = gguf.block_tensor(name, &shape).expect("read").expect("Q4_0");
            assert_eq!(rounded.data().expect("bytes"), stored.data().expect("bytes"), "{name}");
            let values =
                |store: &WeightStore| store.f32_tensor(name, &shape).expect("f32").to_vec2::<f32>().expect("2-d");
            assert_eq!(values(&copy), values(&gguf), "{name}");
        }
        assert!(copy.block_tensor(positions.0, &positions.1).expect("read").is_none());
        assert!(copy.info(false).description().contains("(2 rounded to Q4_0 at load)"));
    }

    #[test]
    fn dequantized_hidden_states_match_layer_by_layer() {
        let config = ModelConfig::from_file(&model_dir().join("config.json")).expect("config");
        let store = WeightStore::open(&model_dir().join("model.gguf"), &Device::Cpu).expect("gguf");
        let bert = Bert::load(&config, &store, MatmulMode::F32).expect("load");
        assert!(!bert.uses_quantized_matmul());
        let records = read_jsonl(&fixtures().join("e5/hidden_token0.jsonl"));
        assert_eq!(records.len(), 5);
        let mut worst = 0f32;
        for record in &records {
            let batch = padded_batch(&[record], 1, None);
            let states = bert.hidden_states(&batch).expect("hidden states");
            let token0 = record["hidden_token0"].as_array().expect("hidden_token0");
            let means = record["hidden_mean"].as_array().expect("hidden_mean");
            assert_eq!(states.len(), 13);
            assert_eq!(token0.len(), 13);
            for (layer, state) in states.iter().enumerate() {
                let state = state.squeeze(0).expect("one row");
                let first = state.get(0).expect("token 0").to_vec1::<f32>().expect("f32");
                let mean = state.mean(0).expect("mean").to_vec1::<f32>().expect("f32");
                let d0 = max_abs_diff(&first, &f32s(&token0[layer]));
                let dm = max_abs_diff(&mean, &f32s(&means[layer]));
                assert!(
                    d0 <= 1e-3 && dm <= 1e-3,
                    "record {}: layer {layer} diverges (token 0 {d0:e}, mean {dm:e})",
                    record["id"]
                );
                worst = worst.max(d0).max(dm);
            }
        }
        eprintln!("parity e5 hidden states (13 stages × 5 records): max |Δ| {worst:.2e}");
    }

    #[test]
    fn dequantized_embeddings_match() {
        let records = read_jsonl(&fixtures().join("e5/reference.jsonl"));
        assert_eq!(records.len(), 250);
        let loaded = load(
            &model_dir().join("config.json"),
            &model_dir().join("model.gguf"),
            &Device::Cpu,
            &LoadOptions {
                gguf: GgufMode::DequantizeF32,
                ..Default::default()
            },
        )
        .expect("load");
        assert!(!loaded.info.quantized_matmul);
        let (single, batched) = agreement(loaded.model.as_ref(), &records);
        report("dequantized", "single", &single);
        report("dequantized", "batched16", &batched);
        for (mode, a) in [("single", &single), ("batched", &batched)] {
            assert!(a.min_cos >= 0.9999, "{mode}: min cos {}", a.min_cos);
            assert!(a.max_abs <= 1e-4, "{mode}: max |Δ| {}", a.max_abs);
        }
    }

    #[test]
    fn quantized_embeddings_match() {
        let records = read_jsonl(&fixtures().join("e5/reference.jsonl"));
        let loaded = load(
            &model_dir().join("config.json"),
            &model_dir().join("model.gguf"),
            &Device::Cpu,
            &LoadOptions { gguf: GgufMode::KeepQuantized, ..Default::default() },
        )
        .expect("load");
        let info = &loaded.info;
        assert!(info.quantized_matmul, "{}", info.description());
        assert_eq!(info.parameters, 117_505_920);
        assert_eq!(info.bytes_on_disk, 67_000_224);
        assert_eq!(info.tensor_types, [(TensorType::F32, 124), (TensorType::Q4_0, 73)]);
        eprintln!("e5 weights: {}", info.description());
        let (single, batched) = agreement(loaded.model.as_ref(), &records);
        report("quantized", "single", &single);
        report("quantized", "batched16", &batched);
        for (mode, a) in [("single", &single), ("batched", &batched)] {
            assert!(a.min_cos >= 0.999, "{mode}: min cos {}", a.min_cos);
            assert!(a.mean_cos >= 0.9998, "{mode}: mean cos {}", a.mean_cos);
        }
    }

    /// The embeddings of `compute`'s linear layers against the f32 reference vectors, one at
    /// a time and in padded batches (a row's vector must not depend on its batch).
    fn compute_embeddings_match(compute: stance_model::Compute, kernel: &str, min_cos: f64, mean_cos: f64) {
        let records = read_jsonl(&fixtures().join("e5/reference.jsonl"));
        let loaded = load(
            &model_dir().join("config.json"),
            &model_dir().join("model.gguf"),
            &Device::Cpu,
            &LoadOptions { compute, ..Default::default() },
        )
        .expect("load");
        assert_eq!(loaded.info.compute, compute);
        assert!(!loaded.info.quantized_matmul);
        eprintln!("{compute} kernel: {kernel}");
        let (single, batched) = agreement(loaded.model.as_ref(), &records);
        report(compute.name(), "single", &single);
        report(compute.name(), "batched16", &batched);
        for (mode, a) in [("single", &single), ("batched", &batched)] {
            assert!(a.min_cos >= min_cos, "{mode}: min cos {}", a.min_cos);
            assert!(a.mean_cos >= mean_cos, "{mode}: mean cos {}", a.mean_cos);
        }
    }

    /// The int8 path: the Q4_0 weights as stored, 8-bit activations per token and block of 32 on
    /// the block's range.
    #[test]
    fn int8_embeddings_match() {
        let kernel = stance_model::arch::kernels::IntKernel::detect().name();
        compute_embeddings_match(stance_model::Compute::Int8, kernel, INT8_MIN_COS, INT8_MEAN_COS);
    }

    /// The bf16 path: weights and activations rounded to bfloat16, sums in f32.
    #[test]
    fn bf16_embeddings_match() {
        let kernel = stance_model::arch::bf16::Bf16Kernel::detect().name();
        compute_embeddings_match(stance_model::Compute::Bf16, kernel, BF16_MIN_COS, BF16_MEAN_COS);
    }

    /// The int16 path: the stored Q4_0 codes and scales, per-token int16 activations.
    #[test]
    fn int16_embeddings_match() {
        let kernel = stance_model::arch::kernels::IntKernel::detect().name();
        compute_embeddings_match(stance_model::Compute::Int16, kernel, INT16_MIN_COS, INT16_MEAN_COS);
    }
}

mod broken {
    use super::*;
    use candle_core::{Device, Tensor};
    use stance_model::{load, LoadOptions, LoadedModel};
    use std::collections::HashMap;

    fn tiny(name: &str) -> PathBuf {
        fixtures().join("tiny").join(name)
    }

    fn try_load(config: &Path, weights: &Path) -> Result<LoadedModel, ModelError> {
        load(config, weights, &Device::Cpu, &LoadOptions::default())
    }

    fn expect_error(config: &Path, weights: &Path) -> ModelError {
        match try_load(config, weights) {
            Ok(_) => panic!("{} with {} should not load", config.display(), weights.display()),
            Err(e) => e,
        }
    }

    fn tiny_tensors(name: &str) -> HashMap<String, Tensor> {
        candle_core::safetensors::load(tiny(name).join("model.safetensors"), &Device::Cpu)
            .expect("tiny tensors")
    }

    #[test]
    fn truncated_safetensors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bytes = std::fs::read(tiny("bert").join("model.safetensors")).expect("read");
        let weights = dir.path().join("model.safetensors");
        std::fs::write(&weights, &bytes[..bytes.len() - 1000]).expect("write");
        let err = expect_error(&tiny("bert").join("config.json"), &weights);
        let message = err.to_string();
        assert!(matches!(err, ModelError::File { .. }), "{err:?}");
        assert!(message.contains("truncated"), "{message}");
        assert!(message.contains(&weights.display().to_string()), "{message}");
        // Cut inside the header too.
        std::fs::write(&weights, &bytes[..100]).expect("write");
        let message = expect_error(&tiny("bert").join("config.json"), &weights).to_string();
        assert!(message.contains("truncated"), "{message}");
    }

    #[test]
    fn truncated_gguf() {
        let dir = tempfile::tempdir().expect("tempdir");
        let source = shared_dir().join("models/multilingual-e5-small-q4");
        let mut head = vec![0u8; 2_000_000];
        let mut file = std::fs::File::open(source.join("model.gguf")).expect("gguf");
        std::io::Read::read_exact(&mut file, &mut head).expect("read");
        let weights = dir.path().join("model.gguf");
        std::fs::write(&weights, &head).expect("write");
        let err = expect_error(&source.join("config.json"), &weights);
        let message = err.to_string();
        assert!(message.contains("truncated"), "{message}");
        assert!(message.contains("model.gguf"), "{message}");
    }

    #[test]
    fn config_shape_that_does_not_match_the_weights() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = read_json(&tiny("bert").join("config.json"));
        config["vocab_size"] = 3000.into();
        let config_path = dir.path().join("config.json");
        std::fs::write(&config_path, config.to_string()).expect("write");
        let weights = tiny("bert").join("model.safetensors");
        match expect_error(&config_path, &weights) {
            ModelError::ShapeMismatch {
                path,
                name,
                expected,
                found,
            } => {
                assert_eq!(path, weights);
                assert_eq!(name, "bert.embeddings.word_embeddings.weight");
                assert_eq!((expected, found), (vec![3000, 32], vec![2000, 32]));
            }
            other => panic!("expected a shape mismatch, got {other:?}"),
        }
        // The same check guards the candle-built families.
        let mut config = read_json(&tiny("deberta-v2").join("config.json"));
        config["intermediate_size"] = 48.into();
        std::fs::write(&config_path, config.to_string()).expect("write");
        let err = expect_error(&config_path, &tiny("deberta-v2").join("model.safetensors"));
        assert!(matches!(err, ModelError::ShapeMismatch { .. }), "{err:?}");
        assert!(err.to_string().contains("intermediate.dense"), "{err}");
    }

    #[test]
    fn nan_weight() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut tensors = tiny_tensors("xlm-roberta");
        let name = "roberta.encoder.layer.1.attention.self.key.weight";
        let mut values = tensors[name].flatten_all().expect("flat").to_vec1::<f32>().expect("f32");
        values[17] = f32::NAN;
        tensors.insert(
            name.to_owned(),
            Tensor::from_vec(values, (32, 32), &Device::Cpu).expect("tensor"),
        );
        let weights = dir.path().join("model.safetensors");
        candle_core::safetensors::save(&tensors, &weights).expect("save");
        match expect_error(&tiny("xlm-roberta").join("config.json"), &weights) {
            ModelError::NonFinite { path, name: bad } => {
                assert_eq!(path, weights);
                assert_eq!(bad, name);
            }
            other => panic!("expected NonFinite, got {other:?}"),
        }
        // Also an infinity stored as f16 in a candle-built family.
        let mut tensors = tiny_tensors("modernbert");
        let name = "model.layers.1.mlp.Wo.weight";
        let mut values = tensors[name].flatten_all().expect("flat").to_vec1::<f32>().expect("f32");
        values[0] = f32::INFINITY;
        let t = Tensor::from_vec(values, (32, 64), &Device::Cpu).expect("tensor");
        tensors.insert(name.to_owned(), t.to_dtype(candle_core::DType::F16).expect("f16"));
        candle_core::safetensors::save(&tensors, &weights).expect("save");
        let err = expect_error(&tiny("modernbert").join("config.json"), &weights);
        assert!(matches!(err, ModelError::NonFinite { .. }), "{err:?}");
        assert!(err.to_string().contains(name), "{err}");
    }

    #[test]
    fn missing_tensor() {
        let dir = tempfile::tempdir().expect("tempdir");
        let weights = dir.path().join("model.safetensors");
        for (folder, name) in [
            ("distilbert", "pre_classifier.weight"),
            ("deberta-v2", "deberta.encoder.rel_embeddings.weight"),
        ] {
            let mut tensors = tiny_tensors(folder);
            assert!(tensors.remove(name).is_some());
            candle_core::safetensors::save(&tensors, &weights).expect("save");
            match expect_error(&tiny(folder).join("config.json"), &weights) {
                ModelError::MissingTensor { path, name: missing, .. } => {
                    assert_eq!(path, weights);
                    assert_eq!(missing, name);
                }
                other => panic!("{folder}: expected MissingTensor, got {other:?}"),
            }
        }
    }

    #[test]
    fn f16_and_bf16_weights_compute_in_f32() {
        // Stored at lower precision, the tiny BERT still decides like the fixture on most
        // inputs and its logits move only by the rounding of the weights.
        let dir = tempfile::tempdir().expect("tempdir");
        let weights = dir.path().join("model.safetensors");
        let records = read_jsonl(&tiny("bert").join("expected.jsonl"));
        for dtype in [candle_core::DType::F16, candle_core::DType::BF16] {
            let tensors: HashMap<String, Tensor> = tiny_tensors("bert")
                .into_iter()
                .map(|(k, v)| (k, v.to_dtype(dtype).expect("cast")))
                .collect();
            candle_core::safetensors::save(&tensors, &weights).expect("save");
            let loaded = try_load(&tiny("bert").join("config.json"), &weights).expect("load");
            let batch = padded_batch(&[&records[5]], 0, None);
            let logits = loaded.model.forward(&batch).expect("forward").logits.expect("logits");
            let logits = logits.to_vec2::<f32>().expect("f32");
            let diff = max_abs_diff(&logits[0], &f32s(&records[5]["logits"]));
            assert!(diff > 0.0 && diff < 0.05, "{dtype:?}: |Δ| {diff}");
        }
    }

    #[test]
    fn unsupported_architecture() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = read_json(&tiny("bert").join("config.json"));
        config["model_type"] = "gpt2".into();
        config["architectures"] = serde_json::json!(["GPT2ForSequenceClassification"]);
        let config_path = dir.path().join("config.json");
        std::fs::write(&config_path, config.to_string()).expect("write");
        let err = expect_error(&config_path, &tiny("bert").join("model.safetensors"));
        let message = err.to_string();
        assert!(matches!(err, ModelError::Unsupported { .. }), "{err:?}");
        assert!(message.contains("gpt2"), "{message}");
        assert!(message.contains(&config_path.display().to_string()), "{message}");
    }

    #[test]
    fn missing_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let absent = dir.path().join("model.safetensors");
        let err = expect_error(&tiny("bert").join("config.json"), &absent);
        assert!(err.to_string().contains("not found"), "{err}");
        assert!(err.to_string().contains(&absent.display().to_string()), "{err}");
        let err = expect_error(&dir.path().join("config.json"), &tiny("bert").join("model.safetensors"));
        assert!(matches!(err, ModelError::File { .. }), "{err:?}");
        assert!(err.to_string().contains("config.json"), "{err}");
    }

    #[test]
    fn pickle_checkpoints_are_never_loaded() {
        let dir = tempfile::tempdir().expect("tempdir");
        // By name, whatever the content...
        let bin = dir.path().join("pytorch_model.bin");
        std::fs::copy(tiny("bert").join("model.safetensors"), &bin).expect("copy");
        let err = expect_error(&tiny("bert").join("config.json"), &bin);
        assert!(err.to_string().contains("pickle"), "{err}");
        // ...and by content (a torch zip archive or a raw pickle) whatever the name.
        let disguised = dir.path().join("weights.safetensors");
        std::fs::write(&disguised, b"PK\x03\x04archive/data.pkl").expect("write");
        let err = expect_error(&tiny("bert").join("config.json"), &disguised);
        assert!(err.to_string().contains("pickle"), "{err}");
        std::fs::write(&disguised, b"\x80\x02}q\x00(X\x06\x00\x00\x00weight").expect("write");
        let err = expect_error(&tiny("bert").join("config.json"), &disguised);
        assert!(err.to_string().contains("pickle"), "{err}");
    }

    #[test]
    fn bad_batches_are_errors_not_panics() {
        let loaded = try_load(&tiny("bert").join("config.json"), &tiny("bert").join("model.safetensors"))
            .expect("load");
        let mut batch = TokenBatch {
            input_ids: vec![2, 5000, 3],
            attention_mask: vec![1, 1, 1],
            token_type_ids: vec![0, 0, 0],
            batch_size: 1,
            seq_len: 3,
        };
        let err = loaded.model.forward(&batch).err().expect("out-of-vocabulary id");
        assert!(matches!(err, ModelError::InvalidBatch(_)), "{err:?}");
        batch.input_ids = vec![2; 200];
        batch.attention_mask = vec![1; 200];
        batch.token_type_ids = vec![0; 200];
        batch.seq_len = 200;
        let err = loaded.model.forward(&batch).err().expect("too long for 128 positions");
        assert!(err.to_string().contains("128"), "{err}");
    }
}
