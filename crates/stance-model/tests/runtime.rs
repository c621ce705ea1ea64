//! The runtime around the models, text in → numbers out: model sources, tokenization, batching,
//! embeddings, predictions and zero-shot classification.
//!
//! - `probe`: batching, order, windows and errors with a small deterministic [`Model`] whose
//!   outputs leak padding visibly if the runtime ever pools or scores over it.
//! - `sources`: folders, a fake Hugging Face cache (`models--org--name/snapshots/<rev>`),
//!   the default manifest, offline errors.
//! - `tiny`: every tiny checkpoint through `TextModel::predict` against `expected.jsonl`.
//! - `zero_shot`: the NLI checkpoint against transformers' zero-shot pipeline.
//! - `e5`: the default model on the 250 reference texts, both weight paths, several budgets.

use serde_json::Value;
use stance_model::batch::BatchOptions;
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
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .collect()
}

fn u32s(value: &Value) -> Vec<u32> {
    value
        .as_array()
        .expect("array")
        .iter()
        .map(|v| v.as_u64().expect("id") as u32)
        .collect()
}

fn f32s(value: &Value) -> Vec<f32> {
    value
        .as_array()
        .expect("array")
        .iter()
        .map(|v| v.as_f64().expect("number") as f32)
        .collect()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn budgets(tokens: &[usize]) -> Vec<BatchOptions> {
    tokens
        .iter()
        .map(|&batch_tokens| BatchOptions { batch_tokens })
        .collect()
}

mod probe {
    use super::*;
    use candle_core::{Device, Tensor};
    use stance_model::embed::{EmbedMode, EmbedOptions};
    use stance_model::predict::{PredictOptions, TextInput};
    use stance_model::runtime::TextModel;
    use stance_model::source::TextSettings;
    use stance_model::tokenize::{TextTokenizer, Truncation};
    use stance_model::{
        conventions::{Pooling, Prefixes}, Model, ModelConfig, ModelError, ModelOutput, TokenBatch,
    };
    use std::cell::Cell;

    const DIM: usize = 6;
    const LABELS: usize = 3;

    /// Hidden state of token j in row r: a feature of its id plus the mean feature of the row's
    /// real tokens (so every token depends on its neighbours, as with attention). Padding gets
    /// 1e3, so any pooling over it shows. Logits: fixed projections of the masked mean.
    struct Probe;

    fn feature(id: u32, d: usize) -> f32 {
        ((id as f32 + 1.0) * (d as f32 + 1.0) * 0.37).sin()
    }

    impl Model for Probe {
        fn forward(&self, b: &TokenBatch) -> Result<ModelOutput, ModelError> {
            let mut hidden = vec![1e3f32; b.batch_size * b.seq_len * DIM];
            let mut logits = Vec::with_capacity(b.batch_size * LABELS);
            for r in 0..b.batch_size {
                let row = r * b.seq_len..(r + 1) * b.seq_len;
                let real: Vec<u32> = b.input_ids[row.clone()]
                    .iter()
                    .zip(&b.attention_mask[row])
                    .filter(|(_, m)| **m == 1)
                    .map(|(id, _)| *id)
                    .collect();
                let context: Vec<f32> = (0..DIM)
                    .map(|d| real.iter().map(|&id| feature(id, d)).sum::<f32>() / real.len() as f32)
                    .collect();
                let mut mean = [0f32; DIM];
                for (j, &id) in real.iter().enumerate() {
                    for d in 0..DIM {
                        let h = feature(id, d) + context[d];
                        hidden[(r * b.seq_len + j) * DIM + d] = h;
                        mean[d] += h / real.len() as f32;
                    }
                }
                logits.extend((0..LABELS).map(|l| {
                    (0..DIM)
                        .map(|d| mean[d] * ((l * DIM + d) as f32).cos())
                        .sum::<f32>()
                }));
            }
            Ok(ModelOutput {
                last_hidden: Some(Tensor::from_vec(
                    hidden,
                    (b.batch_size, b.seq_len, DIM),
                    &Device::Cpu,
                )?),
                logits: Some(Tensor::from_vec(
                    logits,
                    (b.batch_size, LABELS),
                    &Device::Cpu,
                )?),
            })
        }
    }

    fn config(vocab_size: usize, problem_type: &str) -> ModelConfig {
        let text = format!(
            r#"{{"architectures": ["BertForSequenceClassification"], "model_type": "bert",
            "vocab_size": {vocab_size}, "hidden_size": {DIM}, "num_hidden_layers": 1,
            "num_attention_heads": 1, "intermediate_size": 8, "max_position_embeddings": 16,
            "pad_token_id": 0, "problem_type": "{problem_type}",
            "id2label": {{"0": "a", "1": "b", "2": "c"}}}}"#
        );
        ModelConfig::from_json_str(&text, Path::new("probe/config.json")).expect("probe config")
    }

    fn probe_model(max_tokens: usize, problem_type: &str) -> TextModel {
        let tokenizer =
            TextTokenizer::from_file(&tiny_dir("bert").join("tokenizer.json"), max_tokens)
                .expect("tokenizer");
        let settings = TextSettings {
            prefixes: Prefixes {
                query: "query: ".into(),
                passage: "passage: ".into(),
            },
            pooling: Pooling::Mean,
            normalize: true,
            max_tokens: Some(max_tokens),
        };
        TextModel::new(
            Box::new(Probe),
            config(2000, problem_type),
            tokenizer,
            settings,
        )
        .expect("probe model")
    }

    fn texts() -> Vec<String> {
        let fixture = read_jsonl(&tiny_dir("bert").join("expected.jsonl"));
        fixture
            .iter()
            .map(|r| r["text"].as_str().expect("text").to_string())
            .collect()
    }

    #[test]
    fn embeddings_do_not_depend_on_budget_or_input_order() {
        let model = probe_model(16, "single_label_classification");
        let texts = texts();
        let reference = model
            .embed(
                &texts,
                &EmbedOptions {
                    batch: BatchOptions { batch_tokens: 1 },
                    ..Default::default()
                },
                &|_| {},
            )
            .unwrap();
        assert_eq!(reference.len(), texts.len());
        for batch in budgets(&[17, 64, 100_000]) {
            let options = EmbedOptions {
                batch,
                ..Default::default()
            };
            let got = model.embed(&texts, &options, &|_| {}).unwrap();
            for (g, r) in got.iter().zip(&reference) {
                assert!(
                    max_abs_diff(&g.vector, &r.vector) <= 1e-6,
                    "budget {}",
                    batch.batch_tokens
                );
                assert_eq!((g.n_tokens, g.truncated), (r.n_tokens, r.truncated));
            }
            // Each text is computed at least at its own width, and the batches' padding stays
            // within its share of the positions.
            assert!(got.iter().all(|e| e.padded_tokens >= e.n_tokens));
            let padded: usize = got.iter().map(|e| e.padded_tokens).sum();
            let real: usize = got.iter().map(|e| e.n_tokens).sum();
            assert!((padded - real) as f64 <= stance_model::batch::MAX_PADDING_SHARE * padded as f64);
            let reversed: Vec<&String> = texts.iter().rev().collect();
            let back = model.embed(&reversed, &options, &|_| {}).unwrap();
            for (g, r) in back.iter().rev().zip(&reference) {
                assert!(
                    max_abs_diff(&g.vector, &r.vector) <= 1e-6,
                    "reversed, budget {}",
                    batch.batch_tokens
                );
            }
        }
        // Unit length, and the long texts of the fixture are cut at 16 tokens.
        for e in &reference {
            let norm: f32 = e.vector.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-5);
            assert!(e.n_tokens <= 16);
        }
        assert!(reference.iter().any(|e| e.truncated));
        // Alone in its batch, a text is computed without padding.
        assert!(reference.iter().all(|e| e.padded_tokens == e.n_tokens));
    }

    #[test]
    fn modes_apply_the_models_own_prefixes() {
        let model = probe_model(128, "single_label_classification");
        let query = model
            .embed(&["hello"], &EmbedOptions::default(), &|_| {})
            .unwrap();
        let passage = model
            .embed(
                &["hello"],
                &EmbedOptions {
                    mode: EmbedMode::Passage,
                    ..Default::default()
                },
                &|_| {},
            )
            .unwrap();
        let by_hand = model
            .tokenizer
            .encode("query: hello", "", Truncation::Head)
            .unwrap();
        assert_eq!(query[0].n_tokens, by_hand.n_tokens);
        assert!(
            max_abs_diff(&query[0].vector, &passage[0].vector) > 1e-3,
            "prefixes must change the input"
        );
    }

    #[test]
    fn windows_pool_to_the_token_weighted_mean_of_their_means() {
        let model = probe_model(16, "single_label_classification");
        let long = texts()
            .into_iter()
            .max_by_key(|t| t.len())
            .expect("a long text");
        let encoded = model
            .tokenizer
            .encode(&long, "query: ", Truncation::Window)
            .unwrap();
        assert!(
            encoded.segments.len() > 2,
            "{} windows",
            encoded.segments.len()
        );
        assert!(!encoded.truncated);
        // By hand: each window alone through the probe, masked mean, weighted by its length.
        let mut sum = [0f64; DIM];
        let mut total = 0f64;
        for seg in &encoded.segments {
            let batch = stance_model::batch::pad(&[seg], 0);
            let hidden = Probe
                .forward(&batch)
                .unwrap()
                .last_hidden
                .unwrap()
                .squeeze(0)
                .unwrap()
                .to_vec2::<f32>()
                .unwrap();
            for row in &hidden {
                for d in 0..DIM {
                    sum[d] += row[d] as f64;
                }
            }
            total += seg.ids.len() as f64;
        }
        let mean: Vec<f64> = sum.iter().map(|s| s / total).collect();
        let norm = mean.iter().map(|x| x * x).sum::<f64>().sqrt();
        let expected: Vec<f32> = mean.iter().map(|x| (x / norm) as f32).collect();

        let options = EmbedOptions {
            truncation: Truncation::Window,
            batch: BatchOptions { batch_tokens: 40 },
            ..Default::default()
        };
        let done = Cell::new(0);
        let got = model
            .embed(&[long.as_str(), "short"], &options, &|n| {
                done.set(done.get() + n)
            })
            .unwrap();
        assert!(max_abs_diff(&got[0].vector, &expected) <= 1e-5);
        assert_eq!(
            (got[0].n_tokens, got[0].truncated),
            (encoded.n_tokens, false)
        );
        assert!(got[0].n_tokens > 16);
        assert_eq!(done.get(), 2, "progress counts inputs, not windows");
    }

    #[test]
    fn predictions_score_and_decide_by_problem_type() {
        let texts = texts();
        let inputs: Vec<TextInput> = texts.iter().map(TextInput::single).collect();
        let single = probe_model(64, "single_label_classification");
        let multi = probe_model(64, "multi_label_classification");
        let done = Cell::new(0);
        let p = single
            .predict(&inputs, &PredictOptions::default(), &|n| {
                done.set(done.get() + n)
            })
            .unwrap();
        assert_eq!(done.get(), inputs.len());
        let m = multi
            .predict(&inputs, &PredictOptions::default(), &|_| {})
            .unwrap();
        for (s, m) in p.iter().zip(&m) {
            assert!((s.scores.iter().sum::<f32>() - 1.0).abs() < 1e-5);
            let best = (0..LABELS)
                .max_by(|&a, &b| s.logits[a].total_cmp(&s.logits[b]))
                .unwrap();
            assert_eq!(s.labels, vec![["a", "b", "c"][best].to_string()]);
            assert_eq!(s.logits, m.logits);
            let above: Vec<String> = (0..LABELS)
                .filter(|&l| m.scores[l] > 0.5)
                .map(|l| ["a", "b", "c"][l].to_string())
                .collect();
            assert_eq!(m.labels, above);
            for (l, score) in m.logits.iter().zip(&m.scores) {
                assert!((1.0 / (1.0 + (-l).exp()) - score).abs() < 1e-6);
            }
        }
        // Pairs run through the pair template and refuse windowing.
        let pairs = vec![TextInput::pair("A text.", "A hypothesis.")];
        assert_eq!(
            single
                .predict(&pairs, &PredictOptions::default(), &|_| {})
                .unwrap()
                .len(),
            1
        );
        let window = PredictOptions {
            truncation: Truncation::Window,
            ..Default::default()
        };
        let err = single
            .predict(&pairs, &window, &|_| {})
            .unwrap_err()
            .to_string();
        assert!(err.contains("pairs"), "{err}");
    }

    #[test]
    fn a_vocabulary_larger_than_the_embedding_matrix_is_refused_naming_the_file() {
        let tokenizer_path = tiny_dir("bert").join("tokenizer.json");
        let tokenizer = TextTokenizer::from_file(&tokenizer_path, 16).unwrap();
        let settings = TextSettings {
            prefixes: Prefixes::default(),
            pooling: Pooling::Mean,
            normalize: true,
            max_tokens: None,
        };
        let err = TextModel::new(
            Box::new(Probe),
            config(1000, "single_label_classification"),
            tokenizer,
            settings,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains(&tokenizer_path.display().to_string()), "{err}");
        assert!(err.contains("1999") && err.contains("1000 rows"), "{err}");
    }
}

mod sources {
    use super::*;
    use stance_model::manifest::{Base, Location, Manifest};
    use stance_model::runtime::open;
    use stance_model::source::{resolve, resolve_default, ModelRef, Origin, ResolveOptions};
    use stance_model::LoadOptions;

    const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

    /// A hub cache holding `org/name` at `COMMIT` (ref `main`) with the tiny BERT's files.
    fn fake_cache(repo: &str) -> tempfile::TempDir {
        let cache = tempfile::tempdir().unwrap();
        let repo_dir = cache
            .path()
            .join(format!("models--{}", repo.replace('/', "--")));
        let snapshot = repo_dir.join("snapshots").join(COMMIT);
        std::fs::create_dir_all(&snapshot).unwrap();
        std::fs::create_dir_all(repo_dir.join("refs")).unwrap();
        std::fs::write(repo_dir.join("refs/main"), COMMIT).unwrap();
        for file in [
            "config.json",
            "tokenizer.json",
            "model.safetensors",
            "tokenizer_config.json",
        ] {
            std::fs::copy(tiny_dir("bert").join(file), snapshot.join(file)).unwrap();
        }
        cache
    }

    fn offline(cache: &Path) -> ResolveOptions {
        ResolveOptions {
            offline: true,
            progress: false,
            hub_cache: Some(cache.to_path_buf()),
        }
    }

    #[test]
    fn hub_ids_resolve_from_the_cache_by_ref_and_by_commit() {
        let repo = "intfloat/multilingual-e5-small";
        let cache = fake_cache(repo);
        let options = offline(cache.path());
        let snapshot = cache
            .path()
            .join("models--intfloat--multilingual-e5-small/snapshots")
            .join(COMMIT);
        for reference in [repo.to_string(), format!("{repo}@{COMMIT}")] {
            let resolved = resolve(&ModelRef::parse(&reference), &options).unwrap();
            assert_eq!(resolved.files.weights, snapshot.join("model.safetensors"));
            assert_eq!(resolved.files.tokenizer, snapshot.join("tokenizer.json"));
            assert_eq!(
                resolved.settings.max_tokens,
                Some(128),
                "from tokenizer_config.json"
            );
            assert!(matches!(resolved.origin, Origin::HubCache { .. }));
        }
        // And it runs: the tiny BERT from the cache gives the fixture's first logits.
        let opened = open(&ModelRef::parse(repo), &options, &LoadOptions::default()).unwrap();
        let got = opened
            .model
            .predict(
                &[stance_model::predict::TextInput::single("Great!")],
                &Default::default(),
                &|_| {},
            )
            .unwrap();
        assert!(max_abs_diff(&got[0].logits, &[0.39726692, -0.12955375, 0.2654814]) <= 1e-4);
    }

    #[test]
    fn offline_missing_files_name_the_file_and_where_it_looked() {
        let repo = "org/name";
        let cache = fake_cache(repo);
        let snapshot = cache
            .path()
            .join("models--org--name/snapshots")
            .join(COMMIT);
        std::fs::remove_file(snapshot.join("tokenizer.json")).unwrap();
        let err = resolve(&ModelRef::parse(repo), &offline(cache.path()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`tokenizer.json`"), "{err}");
        assert!(err.contains(&snapshot.display().to_string()), "{err}");
        assert!(err.contains("offline"), "{err}");

        let err = resolve(&ModelRef::parse("org/name@v2"), &offline(cache.path()))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("config.json") && err.contains("no snapshot for revision `v2`"),
            "{err}"
        );

        let folder = tempfile::tempdir().unwrap();
        std::fs::copy(
            tiny_dir("bert").join("config.json"),
            folder.path().join("config.json"),
        )
        .unwrap();
        let err = resolve(
            &ModelRef::Folder(folder.path().into()),
            &offline(cache.path()),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("`tokenizer.json`") && err.contains(&folder.path().display().to_string()),
            "{err}"
        );
    }

    fn manifest_with(locations: Vec<Location>) -> Manifest {
        let mut manifest = Manifest::builtin().unwrap();
        manifest.encoder.locations = locations;
        manifest
    }

    #[test]
    fn the_default_manifest_falls_through_to_the_hub_cache() {
        let cache = fake_cache("intfloat/multilingual-e5-small");
        let manifest = manifest_with(vec![
            Location::Env {
                var: "STANCE_RUNTIME_TEST_UNSET_VARIABLE".into(),
            },
            Location::Dir {
                path: "no/such/folder".into(),
                relative_to: Base::CwdOrParent,
            },
            Location::Hub {
                repo: "intfloat/multilingual-e5-small".into(),
                revision: None,
            },
        ]);
        let resolved = resolve_default(&manifest, &offline(cache.path())).unwrap();
        assert!(
            matches!(resolved.origin, Origin::HubCache { .. }),
            "{:?}",
            resolved.origin
        );
        assert_eq!(resolved.settings.prefixes.query, "query: ");
        assert_eq!(resolved.settings.max_tokens, Some(512));

        let empty = tempfile::tempdir().unwrap();
        let err = resolve_default(&manifest, &offline(empty.path()))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("$STANCE_RUNTIME_TEST_UNSET_VARIABLE (not set)"),
            "{err}"
        );
        assert!(err.contains("no/such/folder"), "{err}");
        assert!(err.contains("intfloat/multilingual-e5-small"), "{err}");
    }

    #[test]
    fn an_environment_override_is_authoritative() {
        let var = "STANCE_RUNTIME_TEST_MODEL_DIR";
        let manifest = manifest_with(vec![
            Location::Env { var: var.into() },
            Location::Dir {
                path: "../shared/models/multilingual-e5-small-q4".into(),
                relative_to: Base::CwdOrParent,
            },
        ]);
        let incomplete = tempfile::tempdir().unwrap();
        std::env::set_var(var, incomplete.path());
        let err = resolve_default(&manifest, &ResolveOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains(var) && err.contains("config.json"), "{err}");
        std::env::set_var(var, tiny_dir("bert"));
        let resolved = resolve_default(&manifest, &ResolveOptions::default()).unwrap();
        assert_eq!(resolved.origin, Origin::Folder(tiny_dir("bert")));
        std::env::remove_var(var);
    }

    #[test]
    fn default_finds_the_shared_e5_folder_with_its_gguf() {
        let resolved = resolve(&ModelRef::Default, &ResolveOptions::new(true, false)).unwrap();
        assert_eq!(resolved.files.weights.file_name().unwrap(), "model.gguf");
        assert_eq!(resolved.settings.prefixes.passage, "passage: ");
        assert!(resolved.manifest.is_some());
    }
}

mod tiny {
    use super::*;
    use stance_model::predict::{PredictOptions, TextInput};
    use stance_model::runtime::open;
    use stance_model::source::{ModelRef, ResolveOptions};
    use stance_model::tokenize::{Truncation, TruncationStrategy};
    use stance_model::LoadOptions;

    /// Text in → ids exactly as `tokenizers`, logits within 1e-4 for several batch budgets,
    /// decisions exactly.
    fn check(name: &str) {
        let options = ResolveOptions::new(true, false);
        let opened = open(
            &ModelRef::Folder(tiny_dir(name)),
            &options,
            &LoadOptions::default(),
        )
        .unwrap();
        let model = &opened.model;
        assert_eq!(model.tokenizer.max_tokens(), 128, "{name}");
        let records = read_jsonl(&tiny_dir(name).join("expected.jsonl"));
        let inputs: Vec<TextInput> = records
            .iter()
            .map(|r| TextInput {
                text: r["text"].as_str().unwrap().to_string(),
                pair: r
                    .get("text_pair")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            })
            .collect();
        for (input, record) in inputs.iter().zip(&records) {
            let encoded = match &input.pair {
                Some(pair) => model.tokenizer.encode_pair(
                    &input.text,
                    pair,
                    TruncationStrategy::LongestFirst,
                    Truncation::Head,
                ),
                None => model.tokenizer.encode(&input.text, "", Truncation::Head),
            }
            .unwrap();
            assert_eq!(
                encoded.segments[0].ids,
                u32s(&record["input_ids"]),
                "{name} {}",
                record["id"]
            );
            if let Some(types) = record.get("token_type_ids") {
                assert_eq!(
                    encoded.segments[0].type_ids,
                    u32s(types),
                    "{name} {}",
                    record["id"]
                );
            }
            assert_eq!(
                encoded.truncated,
                record["truncated"].as_bool().unwrap(),
                "{name} {}",
                record["id"]
            );
        }
        let mut worst = 0f32;
        for batch in budgets(&[1, 300, 8192]) {
            let options = PredictOptions {
                batch,
                ..Default::default()
            };
            let predictions = model.predict(&inputs, &options, &|_| {}).unwrap();
            for (p, record) in predictions.iter().zip(&records) {
                let diff = max_abs_diff(&p.logits, &f32s(&record["logits"]));
                assert!(
                    diff <= 1e-4,
                    "{name} {} budget {}: {diff:e}",
                    record["id"],
                    batch.batch_tokens
                );
                assert!(max_abs_diff(&p.scores, &f32s(&record["probs"])) <= 1e-4);
                let expected: Vec<String> = match record.get("label") {
                    Some(label) => vec![label.as_str().unwrap().to_string()],
                    None => record["labels_above_0.5"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|l| l.as_str().unwrap().to_string())
                        .collect(),
                };
                assert_eq!(p.labels, expected, "{name} {}", record["id"]);
                assert_eq!(p.n_tokens, u32s(&record["input_ids"]).len());
                worst = worst.max(diff);
            }
        }
        eprintln!("runtime tiny/{name}: max |Δlogit| {worst:.2e} over budgets 1, 300, 8192");
    }

    #[test]
    fn bert() {
        check("bert")
    }

    #[test]
    fn bert_multilabel() {
        check("bert-multilabel")
    }

    #[test]
    fn xlm_roberta() {
        check("xlm-roberta")
    }

    #[test]
    fn distilbert() {
        check("distilbert")
    }

    #[test]
    fn deberta_v2() {
        check("deberta-v2")
    }

    #[test]
    fn deberta_v2_nli() {
        check("deberta-v2-nli")
    }

    #[test]
    fn modernbert() {
        check("modernbert")
    }
}

mod zero_shot {
    use super::*;
    use stance_model::runtime::open;
    use stance_model::source::{ModelRef, ResolveOptions};
    use stance_model::tokenize::{Truncation, TruncationStrategy};
    use stance_model::zero_shot::ZeroShotOptions;
    use stance_model::LoadOptions;

    fn strings(v: &Value) -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn matches_the_transformers_pipeline() {
        let dir = tiny_dir("deberta-v2-nli");
        let opened = open(
            &ModelRef::Folder(dir.clone()),
            &ResolveOptions::new(true, false),
            &LoadOptions::default(),
        )
        .unwrap();
        let model = &opened.model;
        assert_eq!(model.entailment_index().unwrap(), 0);
        let records = read_jsonl(&dir.join("zero_shot.jsonl"));
        assert_eq!(records.len(), 20);
        let mut worst = 0f32;
        for (i, record) in records.iter().enumerate() {
            let text = record["sequence"].as_str().unwrap();
            let labels = strings(&record["candidate_labels"]);
            let options = ZeroShotOptions {
                template: record["hypothesis_template"].as_str().unwrap().to_string(),
                multi_label: record["multi_label"].as_bool().unwrap(),
                batch: BatchOptions {
                    batch_tokens: if i % 2 == 0 { 1 } else { 4096 },
                },
            };
            let result = model
                .zero_shot(&[text], &labels, &options, &|_| {})
                .unwrap()
                .remove(0);
            for (candidate, expected) in result
                .candidates
                .iter()
                .zip(record["per_candidate"].as_array().unwrap())
            {
                assert_eq!(
                    candidate.hypothesis,
                    expected["hypothesis"].as_str().unwrap()
                );
                let encoded = model
                    .tokenizer
                    .encode_pair(
                        text,
                        &candidate.hypothesis,
                        TruncationStrategy::OnlyFirst,
                        Truncation::Head,
                    )
                    .unwrap();
                assert_eq!(
                    encoded.segments[0].ids,
                    u32s(&expected["input_ids"]),
                    "record {i}"
                );
                assert_eq!(
                    encoded.segments[0].type_ids,
                    u32s(&expected["token_type_ids"]),
                    "record {i}"
                );
                let diff = max_abs_diff(&candidate.logits, &f32s(&expected["logits"]));
                assert!(diff <= 1e-4, "record {i} {}: {diff:e}", candidate.label);
                worst = worst.max(diff);
            }
            assert_eq!(
                result.labels,
                strings(&record["labels"]),
                "record {i}: label order"
            );
            let score_diff = max_abs_diff(&result.scores, &f32s(&record["scores"]));
            assert!(
                score_diff <= 1e-4,
                "record {i}: scores {:?} vs {}",
                result.scores,
                record["scores"]
            );
            worst = worst.max(score_diff);
        }
        assert!(
            records
                .iter()
                .any(|r| r["sequence"].as_str().unwrap().len() > 600),
            "the long text is exercised"
        );
        eprintln!("runtime zero-shot: 20 records, max |Δ| (logits, scores) {worst:.2e}");
    }

    #[test]
    fn bad_requests_are_refused() {
        let dir = tiny_dir("deberta-v2-nli");
        let opened = open(
            &ModelRef::Folder(dir),
            &ResolveOptions::new(true, false),
            &LoadOptions::default(),
        )
        .unwrap();
        let options = ZeroShotOptions {
            template: "no slot".into(),
            multi_label: false,
            batch: BatchOptions::default(),
        };
        let err = opened
            .model
            .zero_shot(&["x"], &["a".to_string()], &options, &|_| {})
            .unwrap_err()
            .to_string();
        assert!(err.contains("{}"), "{err}");
        let options = ZeroShotOptions {
            template: "About {}.".into(),
            ..options
        };
        assert!(opened
            .model
            .zero_shot(&["x"], &[], &options, &|_| {})
            .is_err());
    }
}

mod e5 {
    use super::*;
    use stance_model::embed::{EmbedMode, EmbedOptions};
    use stance_model::runtime::{open, OpenModel};
    use stance_model::source::{ModelRef, ResolveOptions};
    use stance_model::tokenize::Truncation;
    use stance_model::{GgufMode, LoadOptions};

    fn cosine(a: &[f32], b: &[f32]) -> f64 {
        let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
        let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
        let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
        dot / (na * nb)
    }

    fn open_default(gguf: GgufMode) -> OpenModel {
        open(
            &ModelRef::Default,
            &ResolveOptions::new(true, false),
            &LoadOptions { gguf, ..Default::default() },
        )
        .expect("default model")
    }

    fn records() -> Vec<Value> {
        let records = read_jsonl(&shared_dir().join("fixtures/parity/e5/reference.jsonl"));
        assert_eq!(records.len(), 250);
        records
    }

    /// (min cos, mean cos, max |Δ|) of the runtime's embeddings of the reference texts, texts
    /// given bare with the mode that matches each record's prefix.
    fn agreement(opened: &OpenModel, records: &[Value], batch: BatchOptions) -> (f64, f64, f32) {
        let (mut min_cos, mut sum_cos, mut max_abs) = (f64::INFINITY, 0f64, 0f32);
        for (mode, prefix) in [
            (EmbedMode::Query, "query: "),
            (EmbedMode::Passage, "passage: "),
        ] {
            let subset: Vec<&Value> = records.iter().filter(|r| r["prefix"] == prefix).collect();
            let texts: Vec<&str> = subset.iter().map(|r| r["text"].as_str().unwrap()).collect();
            let options = EmbedOptions {
                mode,
                truncation: Truncation::Head,
                batch,
            };
            let embeddings = opened.model.embed(&texts, &options, &|_| {}).unwrap();
            for (e, r) in embeddings.iter().zip(&subset) {
                let expected = f32s(&r["embedding"]);
                let cos = cosine(&e.vector, &expected);
                min_cos = min_cos.min(cos);
                sum_cos += cos;
                max_abs = max_abs.max(max_abs_diff(&e.vector, &expected));
                assert_eq!(e.n_tokens, r["n_tokens"].as_u64().unwrap() as usize);
                assert_eq!(e.truncated, r["truncated"].as_bool().unwrap());
            }
        }
        assert!(records
            .iter()
            .all(|r| r["prefix"] == "query: " || r["prefix"] == "passage: "));
        (min_cos, sum_cos / records.len() as f64, max_abs)
    }

    #[test]
    fn reference_texts_tokenize_exactly_with_the_models_prefix() {
        let records = records();
        let opened = open_default(GgufMode::default());
        let model = &opened.model;
        assert_eq!(model.tokenizer.max_tokens(), 512);
        for r in &records {
            let mode = if r["prefix"] == "query: " {
                EmbedMode::Query
            } else {
                EmbedMode::Passage
            };
            assert_eq!(model.prefix(mode), r["prefix"].as_str().unwrap());
            let encoded = model
                .tokenizer
                .encode(
                    r["text"].as_str().unwrap(),
                    model.prefix(mode),
                    Truncation::Head,
                )
                .unwrap();
            assert_eq!(encoded.segments.len(), 1);
            assert_eq!(
                encoded.segments[0].ids,
                u32s(&r["input_ids"]),
                "record {}",
                r["id"]
            );
            assert_eq!(encoded.n_tokens, r["n_tokens"].as_u64().unwrap() as usize);
            assert_eq!(encoded.truncated, r["truncated"].as_bool().unwrap());
        }
        assert_eq!(
            records.iter().filter(|r| r["truncated"] == true).count(),
            12
        );
    }

    /// All 250 records once in batches of 4096 tokens, then every 5th record (lengths from 3
    /// to 512 tokens, truncated ones included) one by one and with a 16384-token budget. The
    /// closure checks each run's (min cos, mean cos, max |Δ|).
    fn check_budgets(gguf: GgufMode, name: &str, check: impl Fn(f64, f64, f32) -> bool) {
        let records = records();
        let opened = open_default(gguf);
        assert_eq!(
            opened.info.quantized_matmul,
            gguf == GgufMode::KeepQuantized
        );
        let every_fifth: Vec<Value> = records.iter().step_by(5).cloned().collect();
        assert!(every_fifth.iter().any(|r| r["truncated"] == true));
        for (subset, batch) in [(&records, 4096), (&every_fifth, 1), (&every_fifth, 16384)] {
            let (min_cos, mean_cos, max_abs) = agreement(
                &opened,
                subset,
                BatchOptions {
                    batch_tokens: batch,
                },
            );
            eprintln!(
                "runtime e5 {name}, --batch-tokens {batch}, {} records: min cos {min_cos:.10}, \
                 mean cos {mean_cos:.10}, max |Δ| {max_abs:.2e}",
                subset.len()
            );
            assert!(check(min_cos, mean_cos, max_abs), "{name}, budget {batch}");
        }
    }

    /// The default path: linears expanded to f32, vocabulary rows dequantized on lookup.
    #[test]
    fn default_embeddings_match_one_by_one_and_batched() {
        check_budgets(
            GgufMode::DequantizeLinears,
            "f32 linears",
            |min_cos, _, max_abs| min_cos >= 0.9999 && max_abs <= 1e-4,
        );
    }

    /// Queries cut at their head, in batches of 4,096 padded tokens: the kept-states tests' options.
    fn query_options() -> EmbedOptions {
        EmbedOptions { mode: EmbedMode::Query, truncation: Truncation::Head, batch: BatchOptions { batch_tokens: 4096 } }
    }

    /// The pass that keeps bottom-layer states for the cross-encoders gives the same vectors
    /// as the plain pass, and states equal to a separate run of the bottom layers alone (each
    /// row's own tokens, cut to the head and the final token).
    #[test]
    fn kept_states_are_the_bottom_layers_output_of_the_same_pass() {
        use stance_model::batch::{head_and_tail_rows, pad, KeepStates};
        let records = records();
        let opened = open_default(GgufMode::default());
        let model = &opened.model;
        let texts: Vec<&str> = records.iter().step_by(10).map(|r| r["text"].as_str().unwrap()).collect();
        let options = query_options();
        let keep = KeepStates::one(9, 48);
        let plain = model.embed(&texts, &options, &|_| {}).unwrap();
        let kept = model.embed_keeping_states(&texts, &options, keep.clone(), &|_| {}).unwrap();
        let bert = model.network().as_bert().expect("e5 is a BERT");
        let hidden = model.config.hidden_size;
        let mut cut = 0;
        for ((text, p), k) in texts.iter().zip(&plain).zip(&kept) {
            assert_eq!(p.vector, k.vector, "{text}");
            assert!(p.states.is_empty());
            assert_eq!(k.states.len(), 1);
            let states = k.states_at(9).expect("states kept");
            let segment = model.tokenizer.encode(text, model.prefix(EmbedMode::Query), Truncation::Head).unwrap().segments.remove(0);
            let alone = bert.bottom_states(&pad(&[&segment], model.pad_id()), 9).unwrap();
            let alone = head_and_tail_rows(&alone.flatten_all().unwrap().to_vec1::<f32>().unwrap(), hidden, keep.max_rows);
            assert_eq!(states.len(), segment.ids.len().min(keep.max_rows) * hidden);
            // Kept in f16, so rounded to within 2⁻¹¹ of their magnitude.
            let within = states.iter().zip(&alone).all(|(k, a)| (k.to_f32() - a).abs() <= 1e-3 + a.abs() / 2048.0);
            assert!(within, "{text}");
            cut += usize::from(segment.ids.len() > keep.max_rows);
        }
        assert!(cut > 0, "some texts are longer than the rows kept");
    }

    /// Keeping two layers in one pass gives, for each, exactly the states of a pass keeping
    /// that layer alone, in the layers' order whatever order they were asked in, and the same
    /// vectors as the plain pass.
    #[test]
    fn kept_states_of_two_layers_are_those_of_each_layer_kept_alone() {
        use stance_model::batch::KeepStates;
        let records = records();
        let opened = open_default(GgufMode::default());
        let model = &opened.model;
        let texts: Vec<&str> = records.iter().step_by(25).map(|r| r["text"].as_str().unwrap()).collect();
        let options = query_options();
        let keep = KeepStates::new([9, 6, 9], 40);
        assert_eq!(keep.layers, [6, 9]);
        let both = model.embed_keeping_states(&texts, &options, keep, &|_| {}).unwrap();
        let six = model.embed_keeping_states(&texts, &options, KeepStates::one(6, 40), &|_| {}).unwrap();
        let nine = model.embed_keeping_states(&texts, &options, KeepStates::one(9, 40), &|_| {}).unwrap();
        let plain = model.embed(&texts, &options, &|_| {}).unwrap();
        for (k, text) in texts.iter().enumerate() {
            assert_eq!(both[k].vector, plain[k].vector, "{text}");
            assert_eq!(both[k].states.iter().map(|(l, _)| *l).collect::<Vec<_>>(), [6, 9], "{text}");
            assert_eq!(both[k].states_at(6), six[k].states_at(6), "{text}");
            assert_eq!(both[k].states_at(9), nine[k].states_at(9), "{text}");
            assert_eq!(six[k].states_at(9), None);
            assert_ne!(both[k].states_at(6), both[k].states_at(9), "{text}");
        }
    }

    /// A pass without vectors stops at the deepest kept layer: the same states, bit for bit, as
    /// the pass through every layer, token counts and truncation as before, and no vector.
    #[test]
    fn kept_states_without_vectors_are_those_of_the_whole_pass() {
        use stance_model::batch::KeepStates;
        let records = records();
        let opened = open_default(GgufMode::default());
        let model = &opened.model;
        let texts: Vec<&str> = records.iter().step_by(25).map(|r| r["text"].as_str().unwrap()).collect();
        let options = query_options();
        let keep = KeepStates::new([3, 6], 40);
        let whole = model.embed_keeping_states(&texts, &options, keep.clone(), &|_| {}).unwrap();
        let stopped = model.embed_keeping_states(&texts, &options, keep.without_vectors(), &|_| {}).unwrap();
        for ((w, s), text) in whole.iter().zip(&stopped).zip(&texts) {
            assert_eq!(w.vector.len(), model.config.hidden_size, "{text}");
            assert!(s.vector.is_empty(), "{text}");
            assert_eq!(s.states, w.states, "{text}");
            assert_eq!((s.n_tokens, s.padded_tokens, s.truncated), (w.n_tokens, w.padded_tokens, w.truncated));
        }
        let too_deep = KeepStates::one(13, 40).without_vectors();
        let err = model.embed_keeping_states(&texts, &options, too_deep, &|_| {}).unwrap_err();
        assert!(err.to_string().contains("13 layers of a 12-layer encoder"), "{err}");
    }

    #[test]
    fn quantized_embeddings_match_one_by_one_and_batched() {
        check_budgets(
            GgufMode::KeepQuantized,
            "quantized",
            |min_cos, mean_cos, _| min_cos >= 0.999 && mean_cos >= 0.9998,
        );
    }
}
