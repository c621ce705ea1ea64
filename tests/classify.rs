//! `stance classify` end to end with the shipped heads: outputs, consistency of the numbers,
//! determinism across batch sizes and thread counts, and refusal of a changed input.

mod common;

use common::*;
use polars::prelude::*;

const ALL_OUTPUTS: [&str; 9] = [
    "comments.parquet",
    "threads.parquet",
    "authors.parquet",
    "daily.parquet",
    "run.json",
    "summary.txt",
    "summary.md",
    "report.html",
    "rejects.jsonl",
];

#[test]
fn the_seed_thread_gets_every_head_and_consistent_tables() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let assert = stance()
        .args(["classify", "--offline", "--print", "--out"])
        .arg(&out)
        .arg(shared("data/threads/les-crises-durov/page.txt"))
        .assert()
        .success();
    let summary = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    assert!(summary.contains("Le fondateur de Telegram"), "the summary names the thread: {summary}");
    for name in ALL_OUTPUTS {
        assert!(out.join(name).is_file(), "{name} missing");
    }
    assert!(!out.join(".stance-work").exists(), "the work directory is removed after a complete run");

    let comments = read_parquet(&out.join("comments.parquet"));
    let expected = std::fs::read_to_string(shared("data/threads/les-crises-durov/expected/comments.jsonl")).unwrap();
    assert_eq!(comments.height(), expected.lines().count());
    for column in [
        "n_tokens", "truncated", "stance", "p_favor", "p_against", "p_none", "sentiment", "p_negative",
        "p_neutral", "p_positive", "ironic", "p_ironic", "toxic", "p_toxic", "reply", "p_agree",
        "p_disagree", "p_none_reply",
    ] {
        assert!(comments.column(column).is_ok(), "comments lacks {column}");
    }
    // Every comment has a stance toward the article's title and a tone; replies, and only
    // replies, have a reply stance; each task's probabilities sum to 1.
    let depth: Vec<u32> = comments.column("depth").unwrap().u32().unwrap().iter().map(|d| d.unwrap()).collect();
    let reply = strs(&comments, "reply");
    for (i, d) in depth.iter().enumerate() {
        assert_eq!(reply[i].is_some(), *d > 0, "row {i}");
    }
    for probs in [
        &["p_favor", "p_against", "p_none"][..],
        &["p_negative", "p_neutral", "p_positive"],
        &["p_agree", "p_disagree", "p_none_reply"],
    ] {
        let cols: Vec<Vec<Option<f32>>> = probs.iter().map(|p| f32s(&comments, p)).collect();
        for row in 0..comments.height() {
            if cols[0][row].is_none() {
                continue;
            }
            let sum: f32 = cols.iter().map(|c| c[row].unwrap()).sum();
            assert!((sum - 1.0).abs() < 1e-4, "{probs:?} row {row} sums to {sum}");
        }
    }

    let threads = read_parquet(&out.join("threads.parquet"));
    assert_eq!(threads.height(), 1);
    let n: Vec<Option<u32>> = threads.column("n_comments").unwrap().cast(&DataType::UInt32).unwrap().u32().unwrap().iter().collect();
    assert_eq!(n, vec![Some(comments.height() as u32)]);
    let shares: f64 = ["share_favor", "share_against", "share_none"]
        .iter()
        .map(|c| threads.column(c).unwrap().cast(&DataType::Float64).unwrap().f64().unwrap().get(0).unwrap())
        .sum();
    assert!((shares - 1.0).abs() < 1e-9, "stance shares sum to {shares}");

    let run: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    let tasks: Vec<&str> = run["heads"].as_array().unwrap().iter().map(|h| h["task"].as_str().unwrap()).collect();
    assert_eq!(tasks, ["sentiment", "stance", "irony", "toxicity", "reply"]);
    assert_eq!(run["input_files"][0]["sha256"].as_str().unwrap().len(), 64);
    let meta = stance_report::read_parquet_metadata(&out.join("comments.parquet")).unwrap();
    assert!(meta.iter().any(|(k, v)| k == "stance.run" && v.contains("\"heads\"")));
}

#[test]
fn each_speed_runs_its_models_and_a_head_flag_overrides_it() {
    let tmp = tempfile::tempdir().unwrap();
    let page = shared("data/threads/les-crises-durov/page.txt");
    let models = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models");
    let run = |name: &str, flags: &[&str]| {
        let out = tmp.path().join(name);
        stance()
            .args(["classify", "--offline", "--format", "jsonl", "--out"])
            .arg(&out)
            .args(flags)
            .arg(&page)
            .assert()
            .success();
        let run: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
        let sources: Vec<String> =
            run["heads"].as_array().unwrap().iter().map(|h| h["source"].as_str().unwrap().to_string()).collect();
        // The summary says which speed ran.
        let summary = std::fs::read_to_string(out.join("summary.txt")).unwrap();
        let speed = run["extra"]["speed"].as_str().unwrap().to_string();
        assert!(
            summary.lines().any(|l| l.starts_with("Tasks") && l.ends_with(&format!("(--speed {speed})"))),
            "{summary}"
        );
        (std::fs::read_to_string(out.join("comments.jsonl")).unwrap(), sources, speed)
    };
    // Tasks in output order: sentiment, stance, irony, toxicity, reply.
    let is_head = |source: &str, task: &str| source.starts_with(&format!("default {task} head (sha256 "));
    let (fast, sources, speed) = run("fast", &["--speed", "fast"]);
    assert_eq!(speed, "fast");
    // Stance and reply blend their two heads; no member is a cross-encoder.
    let heads_blend = |source: &str, task: &str| {
        source.starts_with(&format!("default {task} heads blend")) && !source.contains("cross-encoder")
    };
    assert!(is_head(&sources[0], "sentiment") && is_head(&sources[2], "irony") && is_head(&sources[3], "toxicity"));
    assert!(heads_blend(&sources[1], "stance") && heads_blend(&sources[4], "reply"), "{sources:?}");
    // They are the folders of models/heads and models/blends: the same predictions.
    let folders: Vec<String> =
        ["heads/sentiment", "blends/stance-heads", "heads/irony", "heads/toxicity", "blends/reply-heads"]
            .iter()
            .zip(["sentiment", "stance", "irony", "toxicity", "reply"])
            .map(|(folder, task)| format!("{task}={}", models.join(folder).display()))
            .flat_map(|spec| ["--head".to_string(), spec])
            .collect();
    let (from_folders, ..) = run("folders", &folders.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(fast, from_folders);

    // Balanced: the heads for sentiment and toxicity, the built-in models for the rest.
    let (balanced, sources, speed) = run("balanced", &["--speed", "balanced"]);
    assert_eq!(speed, "balanced");
    assert!(is_head(&sources[0], "sentiment") && is_head(&sources[3], "toxicity"), "{sources:?}");
    assert!(sources[1].starts_with("default stance blend"), "{}", sources[1]);
    assert!(sources[2].starts_with("default irony route"), "{}", sources[2]);
    assert!(sources[4].starts_with("default reply blend"), "{}", sources[4]);
    let column = |table: &str, name: &str| -> Vec<serde_json::Value> {
        table.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()[name].clone()).collect()
    };
    assert_eq!(column(&balanced, "p_toxic"), column(&fast, "p_toxic"));
    assert_ne!(column(&balanced, "p_favor"), column(&fast, "p_favor"));

    // A --head names a task's model whatever the speed: here the built-in stance blend, and the
    // heads alone (`TASK=head`) at the default speed.
    let (_, sources, _) =
        run("fast-blend", &["--speed", "fast", "--head", "stance=default", "--tasks", "sentiment,stance"]);
    assert!(is_head(&sources[0], "sentiment") && sources[1].starts_with("default stance blend"), "{sources:?}");
    let (stance_head, sources, speed) = run("head", &["--head", "stance=head", "--tasks", "stance"]);
    assert_eq!(speed, "accurate");
    assert!(heads_blend(&sources[0], "stance"), "{sources:?}");
    assert_eq!(column(&stance_head, "p_favor"), column(&fast, "p_favor"));
}

#[test]
fn predictions_do_not_depend_on_batch_size_or_threads() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("comments.jsonl");
    bench_sample(120, &input);
    let run = |name: &str, extra: &[&str]| {
        let out = tmp.path().join(name);
        stance()
            .args(["classify", "--offline", "--tasks", "sentiment,stance,reply", "--out"])
            .arg(&out)
            .arg(&input)
            .args(extra)
            .assert()
            .success();
        read_parquet(&out.join("comments.parquet"))
    };
    let reference = run("a", &[]);
    assert_eq!(reference.height(), 120);
    // Token budget and thread count: the same bits.
    let other = run("b", &["--batch-tokens", "300", "--threads", "1"]);
    for column in prediction_columns(&reference) {
        assert_eq!(
            reference.column(&column).unwrap(),
            other.column(&column).unwrap(),
            "{column} differs between batch sizes / thread counts"
        );
    }
    // Chunks are encoded apart, so a chunk size that splits the sorted batches differently can
    // move a probability by float rounding (measured ≤ 6e-7); the labels stay the same.
    let chunked = run("c", &["--chunk-size", "7"]);
    for column in prediction_columns(&reference) {
        let (a, b) = (reference.column(&column).unwrap(), chunked.column(&column).unwrap());
        if column.starts_with("p_") {
            let (a, b) = (a.f32().unwrap(), b.f32().unwrap());
            for (x, y) in a.iter().zip(b.iter()) {
                match (x, y) {
                    (Some(x), Some(y)) => assert!((x - y).abs() <= 1e-5, "{column}: {x} vs {y}"),
                    (x, y) => assert_eq!(x.is_none(), y.is_none(), "{column}: nulls differ"),
                }
            }
        } else {
            assert_eq!(a, b, "{column} differs between chunk sizes");
        }
    }
}

/// Every arithmetic, whichever is this CPU's default: no reduction across rows (per-token
/// activation scales, tiles of rows summed chunk by chunk), so the same bits whatever the batch
/// size and thread count; and each records its precision, and that of the fine-tuned layers,
/// in run.json.
#[test]
fn predictions_of_every_compute_do_not_depend_on_batch_size_or_threads() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("comments.jsonl");
    bench_sample(60, &input);
    for compute in ["f32", "int8", "bf16", "int16"] {
        let run = |name: &str, extra: &[&str]| {
            let out = tmp.path().join(format!("{compute}-{name}"));
            stance()
                .args(["classify", "--offline", "--compute", compute, "--tasks", "sentiment,stance", "--out"])
                .arg(&out)
                .arg(&input)
                .args(extra)
                .assert()
                .success();
            let run: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
            assert_eq!(run["extra"]["compute"], compute, "{run}");
            assert!(run["extra"]["weights"].as_str().unwrap().starts_with("GGUF, F32 ×124 + Q4_0 ×73"), "{run}");
            // The default sentiment and stance models have fine-tuned layers, which keep their
            // float weights out of int8 unless marked `int8_layers` (the stance blend's, not the
            // sentiment model's).
            let parsed = compute.parse::<stance_model::Compute>().unwrap();
            let fine_tuned = &run["extra"]["fine_tuned_compute"];
            assert_eq!(fine_tuned["sentiment"], parsed.for_fine_tuned_layers(false).name(), "{run}");
            assert_eq!(fine_tuned["stance"], parsed.for_fine_tuned_layers(true).name(), "{run}");
            assert_ne!(parsed.for_fine_tuned_layers(false), stance_model::Compute::Int8);
            read_parquet(&out.join("comments.parquet"))
        };
        let reference = run("a", &[]);
        assert_eq!(reference.height(), 60);
        let other = run("b", &["--batch-tokens", "300", "--threads", "1"]);
        for column in prediction_columns(&reference) {
            assert_eq!(
                reference.column(&column).unwrap(),
                other.column(&column).unwrap(),
                "{column} differs between batch sizes / thread counts with --compute {compute}"
            );
        }
    }
}

#[test]
fn csv_and_jsonl_outputs_and_partitions() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("comments.jsonl");
    bench_sample(40, &input);
    let out = tmp.path().join("csv");
    stance()
        .args(["classify", "--offline", "--tasks", "toxicity", "--format", "csv", "--partition-by", "article", "--out"])
        .arg(&out)
        .arg(&input)
        .assert()
        .success();
    assert!(out.join("threads.csv").is_file());
    let partitions = std::fs::read_dir(out.join("comments")).unwrap().count();
    assert!(partitions >= 2, "comments are split by article ({partitions} partitions)");
    let out = tmp.path().join("jsonl");
    stance()
        .args(["classify", "--offline", "--tasks", "irony", "--format", "jsonl", "--logits", "--out"])
        .arg(&out)
        .arg(&input)
        .assert()
        .success();
    let first = std::fs::read_to_string(out.join("comments.jsonl")).unwrap();
    let row: serde_json::Value = serde_json::from_str(first.lines().next().unwrap()).unwrap();
    assert!(row["ironic"].is_boolean() && row["p_ironic"].is_number(), "{row}");
    assert!(row["logit_irony_ironic"].is_number(), "{row}");
    assert!(row.get("sentiment").is_none(), "only the asked task runs");
}

#[test]
fn bad_records_go_to_rejects_and_strict_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("comments.jsonl");
    bench_sample(10, &input);
    let mut text = std::fs::read_to_string(&input).unwrap();
    text.push_str("{\"comment_id\": \"x\", \"article_id\": \"a\", \"text\": \n");
    std::fs::write(&input, text).unwrap();
    let out = tmp.path().join("out");
    stance()
        .args(["classify", "--offline", "--tasks", "sentiment", "--strict", "--out"])
        .arg(&out)
        .arg(&input)
        .assert()
        .code(1);
    let rejects = std::fs::read_to_string(out.join("rejects.jsonl")).unwrap();
    assert!(rejects.contains("\"line\":11"), "{rejects}");
    assert_eq!(read_parquet(&out.join("comments.parquet")).height(), 10, "good records go on");
}

/// An input column named like a prediction column (here an annotator-agreement `p_ironic`) is
/// kept as `input.p_ironic` beside the run's own `p_ironic`, instead of failing the write.
#[test]
fn input_columns_named_like_predictions_are_kept_apart() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("comments.jsonl");
    let rows = ["c1", "c2", "c3"]
        .iter()
        .enumerate()
        .map(|(i, id)| format!("{{\"comment_id\": \"{id}\", \"text\": \"Quelle surprise, encore un retard.\", \"p_ironic\": 0.{i}5}}\n"))
        .collect::<String>();
    std::fs::write(&input, rows).unwrap();
    let out = tmp.path().join("out");
    stance().args(["classify", "--offline", "--tasks", "irony", "--out"]).arg(&out).arg(&input).assert().success();
    let table = read_parquet(&out.join("comments.parquet"));
    let given: Vec<Option<f64>> = table.column("input.p_ironic").unwrap().f64().unwrap().iter().collect();
    assert_eq!(given, [Some(0.05), Some(0.15), Some(0.25)]);
    let predicted = table.column("p_ironic").unwrap().cast(&DataType::Float64).unwrap();
    assert!(predicted.f64().unwrap().iter().all(|p| p.is_some_and(|p| (0.0..=1.0).contains(&p))));
}

/// `--stance-model`: stance from an NLI checkpoint, hypotheses in the comment's language built
/// from the article's title; the numbers are those of the zero-shot maths run directly.
#[test]
fn zero_shot_stance_with_an_nli_model() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let nli = shared("fixtures/parity/tiny/deberta-v2-nli");
    stance()
        .args(["classify", "--offline", "--tasks", "stance", "--stance-model"])
        .arg(&nli)
        .arg("--out")
        .arg(&out)
        .arg(shared("data/threads/les-crises-durov/page.txt"))
        .assert()
        .success();
    let comments = read_parquet(&out.join("comments.parquet"));
    let run: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["models"][1]["role"], "stance (zero-shot NLI)");

    let opened = stance_model::runtime::open(
        &stance_model::source::ModelRef::parse(&nli.display().to_string()),
        &stance_model::source::ResolveOptions::new(true, false),
        &stance_model::LoadOptions::default(),
    )
    .unwrap();
    let article: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(shared("data/threads/les-crises-durov/expected/article.json")).unwrap(),
    )
    .unwrap();
    let title = article["title"].as_str().unwrap();
    let text = strs(&comments, "text")[0].clone().unwrap();
    let options = stance_model::zero_shot::ZeroShotOptions {
        template: "Ce commentaire est {}.".into(),
        multi_label: false,
        batch: Default::default(),
    };
    let candidates = [format!("favorable à {title}"), format!("opposé à {title}"), format!("neutre sur {title}")];
    let direct = opened.model.zero_shot(&[text.as_str()], &candidates, &options, &|_| {}).unwrap();
    for (i, column) in ["p_favor", "p_against", "p_none"].iter().enumerate() {
        let got = f32s(&comments, column)[0].unwrap();
        assert!((got - direct[0].candidates[i].score).abs() < 1e-6, "{column}: {got} vs {}", direct[0].candidates[i].score);
    }
}

/// `stance classify - --stdout FORMAT`: one Spark task's work. The comments table on stdout is
/// the folder run's, bit for bit; and threads scored apart (as Spark partitions score them, a
/// thread never split) keep every id and label, with probabilities within float rounding.
#[test]
fn stdin_to_stdout_is_the_folder_run_and_does_not_depend_on_partitioning() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("comments.jsonl");
    bench_sample(120, &input);
    let articles = shared("data/bench/articles.jsonl");
    let tasks = ["--offline", "--tasks", "sentiment,stance,reply", "--articles"];
    let out = tmp.path().join("folder");
    stance().arg("classify").args(tasks).arg(&articles).arg("--out").arg(&out).arg(&input).assert().success();
    let reference = read_parquet(&out.join("comments.parquet"));

    let stream = |stdin: Vec<u8>, format: &str| -> Vec<u8> {
        let assert = stance()
            .args(["classify", "-", "--stdout", format])
            .args(tasks)
            .arg(&articles)
            .write_stdin(stdin)
            .assert()
            .success();
        assert.get_output().stdout.clone()
    };
    let lines: Vec<String> = std::fs::read_to_string(&input).unwrap().lines().map(str::to_string).collect();
    let parquet = |bytes: Vec<u8>| ParquetReader::new(std::io::Cursor::new(bytes)).finish().unwrap();
    let whole = parquet(stream(lines.join("\n").into_bytes(), "parquet"));
    assert_eq!(whole.get_column_names(), reference.get_column_names());
    assert!(whole.equals_missing(&reference), "the streamed table differs from the folder run's");
    let jsonl = String::from_utf8(stream(lines.join("\n").into_bytes(), "jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(jsonl.lines().next().unwrap()).unwrap();
    assert_eq!(jsonl.lines().count(), 120);
    assert_eq!(first["p_favor"].as_f64().unwrap() as f32, f32s(&reference, "p_favor")[0].unwrap(), "JSONL keeps f32 exactly");

    // Two partitions by article, in another order than the file's.
    let article = |line: &String| serde_json::from_str::<serde_json::Value>(line).unwrap()["article_id"].as_str().unwrap().to_string();
    let (even, odd): (Vec<String>, Vec<String>) =
        lines.iter().cloned().partition(|l| article(l).bytes().map(u32::from).sum::<u32>() % 2 == 0);
    assert!(!even.is_empty() && !odd.is_empty());
    let mut parts = parquet(stream(odd.into_iter().rev().collect::<Vec<_>>().join("\n").into_bytes(), "parquet"));
    parts.vstack_mut(&parquet(stream(even.join("\n").into_bytes(), "parquet"))).unwrap();
    let order = |df: &DataFrame| df.sort(["comment_id"], SortMultipleOptions::default()).unwrap();
    let (reference, parts) = (order(&reference), order(&parts));
    assert_eq!(parts.get_column_names(), reference.get_column_names());
    let mut largest = 0f32;
    for name in reference.get_column_names() {
        let (a, b) = (reference.column(name).unwrap(), parts.column(name).unwrap());
        if name.starts_with("p_") {
            for (x, y) in a.f32().unwrap().iter().zip(b.f32().unwrap().iter()) {
                assert_eq!(x.is_none(), y.is_none(), "{name}: nulls differ");
                if let (Some(x), Some(y)) = (x, y) {
                    largest = largest.max((x - y).abs());
                }
            }
        } else {
            assert!(a.equals_missing(b), "{name} differs when threads are scored apart");
        }
    }
    assert!(largest <= 1e-6, "probabilities moved by {largest} when threads were scored apart");
}

/// `stance bench --json` on a few comments: the report's rates follow from its own stage times
/// (speed itself is measured, never asserted).
#[test]
fn bench_rates_follow_from_its_stage_times() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("comments.jsonl");
    bench_sample(24, &input);
    let assert = stance()
        .args(["bench", "--repeat", "1", "--json", "--input"])
        .arg(&input)
        .args(["--", "--tasks", "sentiment"])
        .assert()
        .success();
    let report: serde_json::Value = serde_json::from_slice(&assert.get_output().stdout).unwrap();
    assert_eq!(report["comments"], 24);
    let number = |v: &serde_json::Value| v.as_f64().unwrap();
    let seconds = &report["seconds"];
    let (total, load, read) = (number(&seconds["total"]), number(&seconds["load"]), number(&seconds["read"]));
    assert!(load > 0.0 && total > load + read, "{seconds}");
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(b.abs());
    assert!(close(number(&report["comments_per_s"]), 24.0 / total), "{report}");
    assert!(close(number(&report["comments_per_s_loaded"]), 24.0 / (total - load - read)), "{report}");
    // Only the task asked for has a model's time, and it lies within the heads' stage.
    let by_task = report["heads_seconds_by_task"].as_array().unwrap();
    assert_eq!(by_task.len(), 1, "{report}");
    assert_eq!(by_task[0][0], "sentiment");
    assert!(number(&by_task[0][1]) > 0.0 && number(&by_task[0][1]) <= number(&seconds["heads"]), "{report}");
    // The arithmetic it ran in: this CPU's default, and the sentiment model's layers' own.
    let compute = stance_model::Compute::fastest_accurate();
    assert_eq!(report["compute"], compute.name(), "{report}");
    let layers = compute.for_fine_tuned_layers(false).name();
    assert_eq!(report["fine_tuned_compute"], serde_json::json!([["sentiment", layers]]), "{report}");
    // The default sentiment model reads the states after layer 3 and nothing else: the encoder
    // stops there.
    assert_eq!(report["encoder_layers_per_token"], 3.0, "{report}");
    // Each run is a process of its own, and reports its own peak and thread count.
    if cfg!(target_os = "linux") {
        assert!(number(&report["peak_rss_mb"]) > 1.0, "{report}");
    }
    assert!(number(&report["threads"]) >= 1.0, "{report}");

    // A cross-encoder of 6 layers reads the states after layer 6; the head reads each comment's
    // vector, after all 12.
    let models = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models");
    for (model, layers) in [("tuned/sentiment-top6", 6.0), ("heads/sentiment", 12.0)] {
        let assert = stance()
            .args(["bench", "--repeat", "1", "--json", "--input"])
            .arg(&input)
            .args(["--", "--tasks", "sentiment", "--head"])
            .arg(format!("sentiment={}", models.join(model).display()))
            .assert()
            .success();
        let report: serde_json::Value = serde_json::from_slice(&assert.get_output().stdout).unwrap();
        assert_eq!(report["encoder_layers_per_token"], layers, "{model}: {report}");
    }
}

/// A bench run that fails says why, with the classify error of the run itself.
#[test]
fn bench_passes_on_a_runs_error() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("no-such-comments.jsonl");
    let assert = stance().args(["bench", "--repeat", "2", "--input"]).arg(&missing).assert().failure();
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr);
    assert!(stderr.contains("no-such-comments.jsonl"), "{stderr}");
    assert!(stderr.contains("a bench run failed"), "{stderr}");
}
