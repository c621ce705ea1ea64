//! `stance classify` with a fine-tuned cross-encoder (`stance tune`'s model folder) as the
//! stance model: it reads the bottom-layer states of the one shared encoder pass, gives the
//! probabilities of the training and eval path (states from a separate bottom pass), and
//! leaves the other heads' numbers exactly as they are without it.

mod common;

use common::*;
use stance_heads::model_encoder::ModelEncoder;
use stance_heads::rng::SeededRng;
use stance_heads::TextEncoder;
use stance_model::batch::BatchOptions;
use stance_model::runtime::open;
use stance_model::source::{ModelRef, ResolveOptions};
use stance_model::tokenize::Truncation;
use stance_model::LoadOptions;
use stance_tune::layer::param_list;
use stance_tune::model::{CrossEncoder, TunedMeta, FORMAT};
use std::io::{BufRead, Write};

const TARGET: &str = "Sollen Ausländer/-innen, die seit mindestens zehn Jahren in der Schweiz leben, das Stimm- und Wahlrecht auf Gemeindeebene erhalten?";

#[test]
fn a_cross_encoder_reads_the_shared_pass_and_matches_its_training_path() {
    let tmp = tempfile::tempdir().unwrap();
    let opened = open(&ModelRef::Default, &ResolveOptions::new(true, false), &LoadOptions::default()).unwrap();
    let model = one_layer_model(&opened, "stance", &["favor", "against", "none"]);
    let top = model.bottom_layers();
    let dir = tmp.path().join("cross-encoder");
    model.save(&dir, candle_core::DType::F32).unwrap();

    // Twelve comments of one thread, read against a long question (cut to the budget).
    let input = tmp.path().join("comments.jsonl");
    let texts = hillary_comments(&input);
    let run = |name: &str, stance_model: Option<&std::path::Path>| {
        let out = tmp.path().join(name);
        let mut cmd = stance();
        // f32, as the reference below (the default arithmetic depends on the CPU).
        cmd.args(["classify", "--offline", "--compute", "f32", "--tasks", "sentiment,stance", "--target", TARGET, "--out"])
            .arg(&out)
            .arg(&input);
        if let Some(dir) = stance_model {
            cmd.arg("--head").arg(format!("stance={}", dir.display()));
        }
        cmd.assert().success();
        out
    };
    let with = run("with", Some(&dir));
    let without = run("without", None);

    // The states of a separate bottom pass, as `stance tune` and `stance eval` compute them.
    let mut all: Vec<&str> = vec![TARGET];
    all.extend(texts.iter().map(|(_, t)| t.as_str()));
    let states = stance_tune::bottom_states(&opened.model, &all, top, 8192, &|_| {}).unwrap();
    let pairs: Vec<(&[f32], &[f32])> = states[1..].iter().map(|s| (&states[0][..], &s[..])).collect();
    let expected = model.predict(&pairs, 8192).unwrap();

    let table = read_parquet(&with.join("comments.parquet"));
    let ids = strs(&table, "comment_id");
    let probs: Vec<Vec<Option<f32>>> = ["p_favor", "p_against", "p_none"].iter().map(|c| f32s(&table, c)).collect();
    for (row, id) in ids.iter().enumerate() {
        let k = texts.iter().position(|(i, _)| Some(i) == id.as_ref()).unwrap();
        for (j, column) in probs.iter().enumerate() {
            let got = column[row].unwrap();
            assert!((got - expected[k][j]).abs() < 1e-4, "row {row} class {j}: {got} vs {}", expected[k][j]);
        }
    }
    let recorded = std::fs::read_to_string(with.join("run.json")).unwrap();
    assert!(recorded.contains(&format!("{} (sha256 ", dir.display())), "{recorded}");

    // Keeping the states for the stance cross-encoder leaves the sentiment model's numbers untouched.
    let plain = read_parquet(&without.join("comments.parquet"));
    for column in ["sentiment", "p_negative", "p_neutral", "p_positive", "n_tokens"] {
        assert_eq!(table.column(column).unwrap(), plain.column(column).unwrap(), "{column}");
    }
}

/// A one-layer cross-encoder of `task` on the default encoder: its top layer and a seeded
/// classifier, with budgets small enough that long texts are cut.
fn one_layer_model(opened: &stance_model::runtime::OpenModel, task: &str, labels: &[&str]) -> CrossEncoder {
    top_layers_model(opened, task, labels, 1)
}

/// A cross-encoder of `task` on the default encoder's `n` top layers (reading the states after
/// the others), as [`one_layer_model`].
fn top_layers_model(
    opened: &stance_model::runtime::OpenModel,
    task: &str,
    labels: &[&str],
    n: usize,
) -> CrossEncoder {
    let encoder_id = ModelEncoder::new(opened, Truncation::Head, BatchOptions::default()).unwrap().id();
    let bert = opened.model.network().as_bert().unwrap();
    let top = bert.num_layers() - n;
    let all_weights: Vec<_> = (top..bert.num_layers()).map(|index| bert.layer_weights(index).unwrap()).collect();
    let layers: Vec<_> = all_weights.iter().map(|w| param_list(w).unwrap()).collect();
    let weights = &all_weights[0];
    let meta = TunedMeta {
        format: FORMAT.into(),
        task: task.into(),
        labels: labels.iter().map(|l| l.to_string()).collect(),
        encoder: encoder_id,
        encoder_layers: bert.num_layers(),
        bottom_layers: top,
        top_layers: n,
        hidden: opened.model.config.hidden_size,
        heads: weights.heads,
        eps: weights.eps,
        prefix: "query: ".into(),
        context_tokens: 16,
        comment_tokens: 24,
        temperature: 1.3,
        reads_parent: false,
        shared_layers: None,
        int8_layers: false,
        decision: Default::default(),
        training: serde_json::Value::Null,
    };
    let mut rng = SeededRng::new(5);
    CrossEncoder::new(meta, &layers, &mut || rng.normal()).unwrap()
}

/// Runs `stance classify --tasks TASK --head TASK=MODEL` (plus `extra`) on `input` into `out`;
/// returns the comments table.
fn classify_with(
    task: &str,
    model: &std::path::Path,
    input: &std::path::Path,
    out: &std::path::Path,
    extra: &[&str],
) -> polars::prelude::DataFrame {
    stance()
        .args(["classify", "--offline", "--tasks", task, "--out"])
        .arg(out)
        .arg("--head")
        .arg(format!("{task}={}", model.display()))
        .args(extra)
        .arg(input)
        .assert()
        .success();
    read_parquet(&out.join("comments.parquet"))
}

/// Writes twelve comments of one bench thread to `input`; returns their (id, text).
fn hillary_comments(input: &std::path::Path) -> Vec<(String, String)> {
    let mut texts = Vec::new();
    let file = std::fs::File::open(shared("data/bench/comments-2k.jsonl")).unwrap();
    let mut w = std::fs::File::create(input).unwrap();
    for line in std::io::BufReader::new(file).lines().map(Result::unwrap) {
        let row: serde_json::Value = serde_json::from_str(&line).unwrap();
        if row["article_id"] == "tweeteval-stance-hillary" && texts.len() < 12 {
            texts.push((row["comment_id"].as_str().unwrap().to_string(), row["text"].as_str().unwrap().to_string()));
            writeln!(w, "{line}").unwrap();
        }
    }
    assert_eq!(texts.len(), 12);
    texts
}

/// Writes one thread of `(comment_id, parent_id, text)` comments to `input`.
fn write_thread(input: &std::path::Path, comments: &[(&str, Option<&str>, &str)]) {
    let mut w = std::fs::File::create(input).unwrap();
    for (id, parent, text) in comments {
        let row = serde_json::json!({"comment_id": id, "article_id": "t", "parent_id": parent, "text": text});
        writeln!(w, "{row}").unwrap();
    }
}

/// Two cross-encoders that read different encoder layers (a stance model on the top layer, a
/// reply model on the top two) work in one run from its one encoder pass: each gives the
/// probabilities of its training path (states from a separate bottom pass of its own depth)
/// and of a run with it alone.
#[test]
fn cross_encoders_of_different_layers_read_their_own_layer_of_one_pass() {
    let tmp = tempfile::tempdir().unwrap();
    let opened = open(&ModelRef::Default, &ResolveOptions::new(true, false), &LoadOptions::default()).unwrap();
    let stance_model = one_layer_model(&opened, "stance", &["favor", "against", "none"]);
    let reply_model = top_layers_model(&opened, "reply", &["agree", "disagree", "none"], 2);
    assert_ne!(stance_model.bottom_layers(), reply_model.bottom_layers());
    let (stance_dir, reply_dir) = (tmp.path().join("stance"), tmp.path().join("reply"));
    stance_model.save(&stance_dir, candle_core::DType::F32).unwrap();
    reply_model.save(&reply_dir, candle_core::DType::F32).unwrap();
    // "c" is a parent nobody answers and the target is read by stance only: texts that keep
    // one layer, next to texts that keep both.
    let comments = [
        ("a", None, "Foreigners who have lived here for ten years should vote in their town."),
        ("b", Some("a"), "Absolutely, they pay taxes like everyone else."),
        ("c", None, "Voting is a right of citizens, not of residents."),
        ("d", Some("a"), "No, they can become citizens first if they want to vote."),
        ("e", Some("d"), "Naturalisation takes years and costs a fortune, that is the point."),
    ];
    let input = tmp.path().join("thread.jsonl");
    write_thread(&input, &comments);
    let run = |name: &str, heads: &[(&str, &std::path::Path)]| {
        let out = tmp.path().join(name);
        let tasks: Vec<&str> = heads.iter().map(|(t, _)| *t).collect();
        let mut cmd = stance();
        cmd.args(["classify", "--offline", "--compute", "f32", "--target", TARGET, "--tasks", &tasks.join(",")])
            .arg("--out")
            .arg(&out);
        for (task, dir) in heads {
            cmd.arg("--head").arg(format!("{task}={}", dir.display()));
        }
        cmd.arg(&input).assert().success();
        read_parquet(&out.join("comments.parquet"))
    };
    let both = run("out-both", &[("stance", &stance_dir), ("reply", &reply_dir)]);
    let stance_alone = run("out-stance", &[("stance", &stance_dir)]);
    let reply_alone = run("out-reply", &[("reply", &reply_dir)]);

    // The training path: each model's states from a bottom pass of its own depth.
    let mut texts: Vec<&str> = vec![TARGET];
    texts.extend(comments.iter().map(|c| c.2));
    let at = |layers: usize| stance_tune::bottom_states(&opened.model, &texts, layers, 8192, &|_| {}).unwrap();
    let (stance_states, reply_states) = (at(stance_model.bottom_layers()), at(reply_model.bottom_layers()));
    let stance_pairs: Vec<(&[f32], &[f32])> =
        stance_states[1..].iter().map(|s| (&stance_states[0][..], &s[..])).collect();
    let stance_expected = stance_model.predict(&stance_pairs, 8192).unwrap();
    let text_of = |id: &str| 1 + comments.iter().position(|c| c.0 == id).unwrap();
    let reply_pairs: Vec<(&[f32], &[f32])> = comments
        .iter()
        .filter_map(|(id, parent, _)| {
            Some((&reply_states[text_of((*parent)?)][..], &reply_states[text_of(id)][..]))
        })
        .collect();
    let reply_expected = reply_model.predict(&reply_pairs, 8192).unwrap();

    // `expected` has a row per comment the model scores (every one, or the replies only).
    let check = |columns: &[&str], expected: &[Vec<f32>], alone: &polars::prelude::DataFrame, replies: bool| {
        let ids = strs(&both, "comment_id");
        assert_eq!(ids, strs(alone, "comment_id"));
        let scored: Vec<&str> = comments.iter().filter(|c| !replies || c.1.is_some()).map(|c| c.0).collect();
        for (j, column) in columns.iter().enumerate() {
            let (got, single) = (f32s(&both, column), f32s(alone, column));
            for (row, id) in ids.iter().enumerate() {
                let id = id.as_deref().unwrap();
                let Some(k) = scored.iter().position(|s| *s == id) else {
                    assert!(got[row].is_none() && single[row].is_none(), "{column} {id}: a top-level comment");
                    continue;
                };
                let p = got[row].unwrap();
                assert!((p - expected[k][j]).abs() < 1e-4, "{column} {id}: {p} vs {}", expected[k][j]);
                let alone = single[row].unwrap();
                assert!((p - alone).abs() < 1e-6, "{column} {id}: {p} vs {alone} alone");
            }
        }
    };
    check(&["p_favor", "p_against", "p_none"], &stance_expected, &stance_alone, false);
    check(&["p_agree", "p_disagree", "p_none_reply"], &reply_expected, &reply_alone, true);
}

/// A fine-tuned tone model reads the comment alone: every comment gets its probabilities (no
/// context needed), equal to those of the training path, and its decision rule (a threshold
/// per language, as `stance calibrate` stores it) decides the flag and is written to run.json.
#[test]
fn a_tuned_toxicity_model_scores_every_comment_and_decides_by_its_thresholds() {
    let tmp = tempfile::tempdir().unwrap();
    let opened = open(&ModelRef::Default, &ResolveOptions::new(true, false), &LoadOptions::default()).unwrap();
    let mut model = one_layer_model(&opened, "toxicity", &["toxic", "non_toxic"]);
    let input = tmp.path().join("comments.jsonl");
    let texts = hillary_comments(&input);
    let all: Vec<&str> = texts.iter().map(|(_, t)| t.as_str()).collect();
    let states = stance_tune::bottom_states(&opened.model, &all, model.bottom_layers(), 8192, &|_| {}).unwrap();
    let rows: Vec<(&[f32], &[f32])> = states.iter().map(|s| (&[][..], &s[..])).collect();
    let expected = model.predict(&rows, 8192).unwrap();
    // The median p(toxic) as the threshold: about half the comments flagged, whatever the
    // random classifier's leaning.
    let mut p: Vec<f32> = expected.iter().map(|r| r[0]).collect();
    p.sort_by(f32::total_cmp);
    let threshold = f64::from(p[p.len() / 2]);
    model.meta.decision.thresholds =
        Some(stance_heads::Thresholds { flag: "toxic".into(), default: threshold, by_lang: Default::default() });
    let dir = tmp.path().join("toxicity");
    model.save(&dir, candle_core::DType::F32).unwrap();

    let out = tmp.path().join("out");
    let table = classify_with("toxicity", &dir, &input, &out, &["--compute", "f32"]);
    let ids = strs(&table, "comment_id");
    let got = f32s(&table, "p_toxic");
    let flags = table.column("toxic").unwrap().bool().unwrap().clone();
    for (row, id) in ids.iter().enumerate() {
        let k = texts.iter().position(|(i, _)| Some(i) == id.as_ref()).unwrap();
        let p = got[row].expect("every comment is scored");
        assert!((p - expected[k][0]).abs() < 1e-4, "row {row}: {p} vs {}", expected[k][0]);
        assert_eq!(flags.get(row), Some(f64::from(p) >= threshold), "row {row}");
    }
    let recorded = std::fs::read_to_string(out.join("run.json")).unwrap();
    assert!(recorded.contains(&format!("{threshold}")), "{recorded}");
}

/// The two models of a multi-task run (one set of layers, a classifier each, the same
/// `shared_layers`) run in one classify: the pooled vectors are computed once and each model
/// gives the probabilities of its training path. Models that claim to share their layers but
/// do not are refused.
#[test]
fn the_models_of_a_multi_task_run_read_one_pooled_pass() {
    let tmp = tempfile::tempdir().unwrap();
    let opened = open(&ModelRef::Default, &ResolveOptions::new(true, false), &LoadOptions::default()).unwrap();
    let mut toxicity = top_layers_model(&opened, "toxicity", &["toxic", "non_toxic"], 2);
    let mut rng = SeededRng::new(11);
    let mut sentiment =
        toxicity.sibling("sentiment", ["negative", "neutral", "positive"].map(String::from).to_vec(), &mut || rng.normal()).unwrap();
    toxicity.meta.shared_layers = Some("run-1".into());
    sentiment.meta.shared_layers = Some("run-1".into());
    let input = tmp.path().join("comments.jsonl");
    let texts = hillary_comments(&input);
    let all: Vec<&str> = texts.iter().map(|(_, t)| t.as_str()).collect();
    let states = stance_tune::bottom_states(&opened.model, &all, toxicity.bottom_layers(), 8192, &|_| {}).unwrap();
    let rows: Vec<(&[f32], &[f32])> = states.iter().map(|s| (&[][..], &s[..])).collect();
    let expected = [toxicity.predict(&rows, 8192).unwrap(), sentiment.predict(&rows, 8192).unwrap()];
    let (toxicity_dir, sentiment_dir) = (tmp.path().join("toxicity"), tmp.path().join("sentiment"));
    toxicity.save(&toxicity_dir, candle_core::DType::F32).unwrap();
    sentiment.save(&sentiment_dir, candle_core::DType::F32).unwrap();

    let classify = |sentiment_dir: &std::path::Path, out: &std::path::Path| {
        let mut cmd = stance();
        cmd.args(["classify", "--offline", "--compute", "f32", "--tasks", "sentiment,toxicity", "--out"])
            .arg(out)
            .arg("--head")
            .arg(format!("toxicity={}", toxicity_dir.display()))
            .arg("--head")
            .arg(format!("sentiment={}", sentiment_dir.display()))
            .arg(&input);
        cmd.assert()
    };
    let out = tmp.path().join("out");
    classify(&sentiment_dir, &out).success();
    let table = read_parquet(&out.join("comments.parquet"));
    let ids = strs(&table, "comment_id");
    for (column, model, class) in [("p_toxic", 0, 0), ("p_negative", 1, 0), ("p_positive", 1, 2)] {
        let got = f32s(&table, column);
        for (row, id) in ids.iter().enumerate() {
            let k = texts.iter().position(|(i, _)| Some(i) == id.as_ref()).unwrap();
            let (p, want) = (got[row].unwrap(), expected[model][k][class]);
            assert!((p - want).abs() < 1e-4, "{column}, row {row}: {p} vs {want}");
        }
    }

    // Under int8 a model marked `int8_layers` runs its layers in int8, the others in bf16 or
    // int16; layers shared by models are computed once, so in int8 only if both are marked.
    let unmarked = stance_model::Compute::Int8.for_fine_tuned_layers(false).name();
    let cases = [([true, false], [unmarked; 2]), ([true, true], ["int8"; 2]), ([false, false], [unmarked; 2])];
    for (marks, want) in cases {
        let dirs = [tmp.path().join(format!("toxicity-{marks:?}")), tmp.path().join(format!("sentiment-{marks:?}"))];
        [toxicity.meta.int8_layers, sentiment.meta.int8_layers] = marks;
        toxicity.save(&dirs[0], candle_core::DType::F32).unwrap();
        sentiment.save(&dirs[1], candle_core::DType::F32).unwrap();
        let out = tmp.path().join(format!("int8-{marks:?}"));
        stance()
            .args(["classify", "--offline", "--compute", "int8", "--tasks", "sentiment,toxicity", "--out"])
            .arg(&out)
            .arg("--head")
            .arg(format!("toxicity={}", dirs[0].display()))
            .arg("--head")
            .arg(format!("sentiment={}", dirs[1].display()))
            .arg(&input)
            .assert()
            .success();
        let run: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
        let got = &run["extra"]["fine_tuned_compute"];
        let want = want.map(serde_json::Value::from);
        assert_eq!([&got["toxicity"], &got["sentiment"]], want.each_ref(), "{marks:?}: {run}");
    }

    // The same id on layers that differ: refused, naming both models.
    let name = "layer.1.output.dense.weight";
    sentiment.vars()[name].set(&(sentiment.vars()[name].as_tensor() * 1.01).unwrap()).unwrap();
    let other = tmp.path().join("other");
    sentiment.save(&other, candle_core::DType::F32).unwrap();
    let refused = classify(&other, &tmp.path().join("refused")).failure();
    let stderr = String::from_utf8_lossy(&refused.get_output().stderr).to_string();
    assert!(stderr.contains("share their layers") && stderr.contains("other"), "{stderr}");
}

/// A tuned irony model that learnt from what texts answer reads a reply together with its
/// parent comment, and a top-level comment alone.
#[test]
fn a_tuned_irony_model_reads_a_reply_with_its_parent() {
    let tmp = tempfile::tempdir().unwrap();
    let opened = open(&ModelRef::Default, &ResolveOptions::new(true, false), &LoadOptions::default()).unwrap();
    let mut model = one_layer_model(&opened, "irony", &["ironic", "not_ironic"]);
    model.meta.reads_parent = true;
    let dir = tmp.path().join("irony");
    model.save(&dir, candle_core::DType::F32).unwrap();
    let comments = [
        ("a", None, "The new tram line opens on time and under budget."),
        ("b", Some("a"), "Oh sure, and I am the Queen of England."),
        ("c", None, "Lovely weather for the parade today."),
        ("d", Some("c"), "Oh sure, and I am the Queen of England."),
    ];
    let input = tmp.path().join("thread.jsonl");
    write_thread(&input, &comments);
    let table = classify_with("irony", &dir, &input, &tmp.path().join("out"), &["--compute", "f32"]);

    let texts: Vec<&str> = comments.iter().map(|c| c.2).collect();
    let states = stance_tune::bottom_states(&opened.model, &texts, model.bottom_layers(), 8192, &|_| {}).unwrap();
    let rows: Vec<(&[f32], &[f32])> = vec![
        (&[], &states[0]),
        (&states[0], &states[1]),
        (&[], &states[2]),
        (&states[2], &states[3]),
    ];
    let expected = model.predict(&rows, 8192).unwrap();
    let ids = strs(&table, "comment_id");
    let got = f32s(&table, "p_ironic");
    for (k, (id, _, _)) in comments.iter().enumerate() {
        let row = ids.iter().position(|i| i.as_deref() == Some(id)).unwrap();
        let p = got[row].unwrap();
        assert!((p - expected[k][0]).abs() < 1e-4, "{id}: {p} vs {}", expected[k][0]);
    }
    // The same reply under different parents reads differently.
    assert!((expected[1][0] - expected[3][0]).abs() > 1e-6);
}

/// A route gives the replies to the model that reads their parent and the other comments to
/// the head: each row's probabilities and decision are those of its own model, with its own
/// decision rule, and run.json lists both rules.
#[test]
fn a_route_scores_replies_with_their_parent_and_other_comments_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let opened = open(&ModelRef::Default, &ResolveOptions::new(true, false), &LoadOptions::default()).unwrap();
    let mut model = one_layer_model(&opened, "irony", &["ironic", "not_ironic"]);
    model.meta.reads_parent = true;
    // A threshold of 0: the model flags every row it decides.
    model.meta.decision.thresholds =
        Some(stance_heads::Thresholds { flag: "ironic".into(), default: 0.0, by_lang: Default::default() });
    let cross = tmp.path().join("irony");
    model.save(&cross, candle_core::DType::F32).unwrap();
    let route = tmp.path().join("route");
    std::fs::create_dir_all(&route).unwrap();
    let meta = serde_json::json!({"format": "stance-route/1", "task": "irony", "with_context": "../irony", "alone": "default"});
    std::fs::write(route.join("route.json"), meta.to_string()).unwrap();
    let comments = [
        ("a", None, "The new tram line opens on time and under budget."),
        ("b", Some("a"), "Oh sure, and I am the Queen of England."),
        ("c", None, "Lovely weather for the parade today, what a surprise."),
        ("d", Some("c"), "Great, just great."),
    ];
    let input = tmp.path().join("thread.jsonl");
    write_thread(&input, &comments);
    let f32_compute = ["--compute", "f32"];
    let routed = classify_with("irony", &route, &input, &tmp.path().join("out-route"), &f32_compute);
    let cross_alone = classify_with("irony", &cross, &input, &tmp.path().join("out-cross"), &f32_compute);
    let head = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/heads/irony");
    let head_alone = classify_with("irony", &head, &input, &tmp.path().join("out-head"), &f32_compute);

    let by_id = |t: &polars::prelude::DataFrame, id: &str| -> (f32, bool) {
        let row = strs(t, "comment_id").iter().position(|i| i.as_deref() == Some(id)).unwrap();
        (f32s(t, "p_ironic")[row].unwrap(), t.column("ironic").unwrap().bool().unwrap().get(row).unwrap())
    };
    for (id, parent, _) in comments {
        let (got, expected) = (by_id(&routed, id), by_id(if parent.is_some() { &cross_alone } else { &head_alone }, id));
        assert!((got.0 - expected.0).abs() < 1e-6 && got.1 == expected.1, "{id}: {got:?} vs {expected:?}");
    }
    assert!(by_id(&routed, "b").1 && by_id(&routed, "d").1, "the replies are decided by the threshold of 0");
    let recorded = std::fs::read_to_string(tmp.path().join("out-route/run.json")).unwrap();
    assert!(recorded.contains("\"with_context: ironic\": 0.0") && recorded.contains("\"alone: ironic"), "{recorded}");
    assert!(recorded.contains("where a comment answers another, else default irony head"), "{recorded}");
}

/// The shipped stance cross-encoder (`models/tuned/stance`) loads on the default encoder and
/// reads an answer against its question: "yes" and "no" answers in French and German (German
/// trained it, French never did) come out favor and against. The default head, which sees the
/// two texts as separate vectors, calls the last one `favor`.
#[test]
fn the_shipped_stance_cross_encoder_reads_answers_against_their_question() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("answers.jsonl");
    let answers = [
        ("oui", "Oui, il faut absolument l'interdire, elle fait souffrir les animaux pour rien.", "favor"),
        ("non", "Non, la chasse est une tradition et elle régule les populations de sangliers.", "against"),
        ("ja", "Ja, unbedingt, das ist längst überfällig.", "favor"),
        ("nein", "Nein, das lehnen wir klar ab.", "against"),
    ];
    let mut w = std::fs::File::create(&input).unwrap();
    for (id, text, _) in answers {
        writeln!(w, "{}", serde_json::json!({"comment_id": id, "text": text})).unwrap();
    }
    let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/tuned/stance");
    let target = ["--target", "Faut-il interdire la chasse ?"];
    let table = classify_with("stance", &model, &input, &tmp.path().join("out"), &target);
    assert_labels(&table, "stance", &answers);
}

/// Each `(comment_id, text, label)` of `expected` has that label in `column` of `table`.
fn assert_labels(table: &polars::prelude::DataFrame, column: &str, expected: &[(&str, &str, &str)]) {
    let (ids, labels) = (strs(table, "comment_id"), strs(table, column));
    for (id, text, want) in expected {
        let row = ids.iter().position(|i| i.as_deref() == Some(*id)).unwrap();
        assert_eq!(labels[row].as_deref(), Some(*want), "{text}");
    }
}

/// The default reply model reads French and Italian replies that say where they stand: the
/// blend before 2026-12-06 called "Vous vous trompez complètement." `agree`, and an aside about
/// the weather too (models/EVAL.md, "replies that say they agree or disagree"); the blend before
/// 2026-12-07 also called the two that dismiss and then argue `agree` ("the reply
/// cross-encoder learns replies that argue").
#[test]
fn the_default_reply_model_reads_replies_that_say_where_they_stand() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("thread.jsonl");
    let parent = "Le gouvernement a raison d'augmenter les impôts sur les grandes fortunes, c'est une question de justice.";
    let replies = [
        ("fr-agree", "Tout à fait d'accord avec vous.", "agree"),
        ("fr-agree-2", "Exactement, c'est ce que je pense aussi.", "agree"),
        ("fr-disagree", "Vous vous trompez complètement.", "disagree"),
        ("fr-disagree-2", "Je ne suis pas du tout d'accord avec vous.", "disagree"),
        ("fr-argued", "C'est faux. Les grandes fortunes partiront en Suisse et l'État perdra des recettes.", "disagree"),
        ("fr-argued-2", "Quelle bêtise, on a déjà essayé et ça a été un fiasco.", "disagree"),
        ("fr-aside", "Il pleut encore à Paris aujourd'hui.", "none"),
        ("fr-question", "Quelqu'un a le lien vers l'article original ?", "none"),
        ("it-agree", "Sono completamente d'accordo.", "agree"),
        ("it-disagree", "Non sono affatto d'accordo.", "disagree"),
    ];
    let mut thread = vec![("parent", None, parent)];
    thread.extend(replies.iter().map(|(id, text, _)| (*id, Some("parent"), *text)));
    write_thread(&input, &thread);
    let out = tmp.path().join("out");
    stance().args(["classify", "--offline", "--tasks", "reply", "--out"]).arg(&out).arg(&input).assert().success();
    assert_labels(&read_parquet(&out.join("comments.parquet")), "reply", &replies);
}

/// Classifies `comments` (id, text, expected label) under one French headline, with the default
/// stance model or the one in `head`, and asserts each comment's stance.
fn assert_stance_toward_a_headline(head: Option<&std::path::Path>, comments: &[(&str, &str, &str)]) {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("comments.jsonl");
    let rows: Vec<_> = comments.iter().map(|(id, text, _)| (*id, None, *text)).collect();
    write_thread(&input, &rows);
    let out = tmp.path().join("out");
    let target = "La taxe sur les grandes fortunes doit revenir";
    let mut classify = stance();
    classify.args(["classify", "--offline", "--tasks", "stance", "--target", target, "--out"]).arg(&out);
    if let Some(head) = head {
        classify.arg("--head").arg(format!("stance={}", head.display()));
    }
    classify.arg(&input).assert().success();
    assert_labels(&read_parquet(&out.join("comments.parquet")), "stance", comments);
}

/// The default stance model reads comments that praise or damn the article itself: the blend
/// before 2026-12-07 called 12 of 14 such comments `none` ("Je suis tout à fait d'accord avec
/// cet article.", "Articolo vergognoso e fazioso.") (models/EVAL.md, "comments that say where
/// they stand toward the article").
#[test]
fn the_default_stance_model_reads_comments_that_say_where_they_stand_toward_the_article() {
    assert_stance_toward_a_headline(
        None,
        &[
            ("fr-favor", "Merci pour cet article très éclairant.", "favor"),
            ("fr-favor-2", "Je suis tout à fait d'accord avec cet article.", "favor"),
            ("fr-against", "Article ridicule et mensonger.", "against"),
            ("fr-against-2", "Je ne suis pas du tout d'accord avec cet article.", "against"),
            ("fr-none", "Quelqu'un sait à quelle heure est le débat ?", "none"),
            ("it-favor", "Ottimo articolo, complimenti.", "favor"),
            ("it-against", "Articolo vergognoso e fazioso.", "against"),
            ("en-against", "What a biased, dishonest article.", "against"),
        ],
    );
}

/// The default stance blend's cross-encoder reads praise and blame of the article by itself:
/// `stance-threads`, which it was trained from (two epochs with the article markers, then one on
/// every row of the stance files), called every one of these comments `none`, so only the
/// blend's heads spoke for them (models/EVAL.md, "the stance cross-encoder learns comments that
/// judge the article").
#[test]
fn the_stance_cross_encoder_reads_comments_that_judge_the_article() {
    let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/tuned/stance-allrows");
    assert_stance_toward_a_headline(
        Some(&model),
        &[
            ("fr-favor", "Merci pour cet article très éclairant.", "favor"),
            ("fr-favor-2", "Superbe article, merci. Je le partage.", "favor"),
            ("it-favor", "Ottimo articolo, complimenti.", "favor"),
            ("en-favor", "Superb article, thank you.", "favor"),
            ("en-against", "What a biased, dishonest article.", "against"),
            ("fr-none", "Quelqu'un sait à quelle heure est le débat ?", "none"),
        ],
    );
}

/// A blend of the default stance head and a cross-encoder gives each comment the normalised
/// weighted geometric mean of the two models' probabilities, as each alone gives them in the
/// same pass, and run.json names the blend with its members.
#[test]
fn a_blend_combines_its_members_probabilities_by_weight() {
    let tmp = tempfile::tempdir().unwrap();
    let opened = open(&ModelRef::Default, &ResolveOptions::new(true, false), &LoadOptions::default()).unwrap();
    let cross = tmp.path().join("cross-encoder");
    one_layer_model(&opened, "stance", &["favor", "against", "none"]).save(&cross, candle_core::DType::F32).unwrap();
    let blend = tmp.path().join("blend");
    std::fs::create_dir_all(&blend).unwrap();
    let meta = serde_json::json!({"format": "stance-blend/1", "task": "stance",
        "members": [{"model": "default", "weight": 0.6}, {"model": "../cross-encoder", "weight": 0.4}]});
    std::fs::write(blend.join("blend.json"), meta.to_string()).unwrap();

    let input = tmp.path().join("comments.jsonl");
    hillary_comments(&input);
    let target = ["--target", TARGET, "--compute", "f32"];
    let run = |name: &str, model: &std::path::Path| classify_with("stance", model, &input, &tmp.path().join(name), &target);
    let both = run("out-blend", &blend);
    // The blend's `default` member is the built-in stance head, that is this folder's head (the
    // default stance model itself is a blend).
    let head = run("out-head", std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/heads/stance")));
    let alone = run("out-cross", &cross);

    let columns = ["p_favor", "p_against", "p_none"];
    let probs = |t: &polars::prelude::DataFrame| -> Vec<Vec<f64>> {
        let cols: Vec<Vec<Option<f32>>> = columns.iter().map(|c| f32s(t, c)).collect();
        (0..t.height()).map(|r| cols.iter().map(|c| f64::from(c[r].unwrap())).collect()).collect()
    };
    let (got, a, b) = (probs(&both), probs(&head), probs(&alone));
    assert_eq!(strs(&both, "comment_id"), strs(&head, "comment_id"));
    for row in 0..got.len() {
        let geo: Vec<f64> = (0..3).map(|c| a[row][c].powf(0.6) * b[row][c].powf(0.4)).collect();
        let sum: f64 = geo.iter().sum();
        for c in 0..3 {
            assert!((got[row][c] - geo[c] / sum).abs() < 1e-5, "row {row} {}: {} vs {}", columns[c], got[row][c], geo[c] / sum);
        }
    }
    let recorded = std::fs::read_to_string(tmp.path().join("out-blend/run.json")).unwrap();
    assert!(recorded.contains("blend of 0.60 × default stance head"), "{recorded}");
}
