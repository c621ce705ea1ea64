//! `stance train` and `stance eval` end to end on the default encoder, on a few hundred texts
//! of the shared data (kept small: every text goes through the 12-layer encoder).

use assert_cmd::Command;
use serde_json::Value;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

fn shared(rel: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared").join(rel);
    assert!(p.exists(), "{} must exist (../shared beside the project)", p.display());
    p
}

/// The first `per_label` rows of each label among the `lang` rows of a shared file.
fn subset(src: &Path, lang: &str, per_label: usize, skip: usize, out: &Path) {
    let mut counts = std::collections::HashMap::<String, usize>::new();
    let mut file = std::fs::File::create(out).unwrap();
    for line in std::io::BufReader::new(std::fs::File::open(src).unwrap()).lines() {
        let line = line.unwrap();
        let row: Value = serde_json::from_str(&line).unwrap();
        if row["lang"] != lang {
            continue;
        }
        let n = counts.entry(row["label"].as_str().unwrap().to_string()).or_insert(0);
        *n += 1;
        if *n > skip && *n <= skip + per_label {
            writeln!(file, "{line}").unwrap();
        }
    }
}

fn stance(cache: &Path) -> Command {
    let mut cmd = Command::cargo_bin("stance").unwrap();
    cmd.env("STANCE_CACHE_DIR", cache).arg("--quiet");
    cmd
}

/// `stance eval --json FLAGS --head HEAD --data DATA…`, which must succeed, as JSON.
fn eval_json(cache: &Path, flags: &[&str], head: &Path, data: &[&Path]) -> Value {
    let out = stance(cache)
        .arg("eval")
        .args(flags)
        .args(["--json", "--head"])
        .arg(head)
        .arg("--data")
        .args(data)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn train_eval_and_fine_tune_a_sentiment_head() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cache = d.join("cache");
    let umsab = shared("data/sentiment/umsab/train.jsonl");
    // 3 × 40 training and 3 × 20 validation rows of English, 3 × 20 test rows: 240 texts.
    subset(&umsab, "en", 40, 0, &d.join("train.jsonl"));
    subset(&umsab, "en", 20, 40, &d.join("valid.jsonl"));
    subset(&shared("data/sentiment/umsab/test.jsonl"), "en", 20, 0, &d.join("test.jsonl"));

    let train = |out: &str, extra: &[&str]| {
        stance(&cache)
            .args(["train", "--task", "sentiment", "--hidden", "32", "--train"])
            .arg(d.join("train.jsonl"))
            .arg("--valid")
            .arg(d.join("valid.jsonl"))
            .arg("--out")
            .arg(d.join(out))
            .args(extra)
            .assert()
            .success();
    };
    train("a", &[]);
    let meta: Value = serde_json::from_str(&std::fs::read_to_string(d.join("a/head.json")).unwrap()).unwrap();
    assert_eq!(meta["labels"], serde_json::json!(["negative", "neutral", "positive"]));
    assert_eq!(meta["input"], "single");
    assert_eq!(meta["embedding_dim"], 384);
    assert!(meta["encoder"].as_str().unwrap().contains("prefix=\"query: \""));
    assert!(std::fs::read_dir(&cache).unwrap().next().is_some(), "embeddings were cached");

    // Same data and seed, served from the cache this time: the same bytes.
    train("b", &[]);
    for f in ["head.safetensors", "head.json"] {
        assert_eq!(std::fs::read(d.join("a").join(f)).unwrap(), std::fs::read(d.join("b").join(f)).unwrap(), "{f}");
    }

    let report = eval_json(&cache, &["--task", "sentiment", "--by", "lang"], &d.join("a"), &[&d.join("test.jsonl")]);
    let overall = &report["results"][0]["overall"];
    assert_eq!(overall["n"], 60);
    assert_eq!(report["results"][0]["by_lang"]["en"]["n"], 60);
    let f1 = overall["macro_f1"].as_f64().unwrap();
    assert!(f1 > 0.45, "macro-F1 {f1} on 60 test rows: no better than chance (0.33)");
    assert_eq!(overall["confusion"].as_array().unwrap().len(), 3);
    assert!(overall["ece"].as_f64().unwrap() < 0.5);

    // Text output names every class; a head of another task is refused.
    let text = stance(&cache)
        .args(["eval", "--task", "sentiment", "--head"])
        .arg(d.join("a"))
        .arg("--data")
        .arg(d.join("test.jsonl"))
        .output()
        .unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("macro-F1") && text.contains("neutral") && text.contains("confusion"), "{text}");
    stance(&cache)
        .args(["eval", "--task", "irony", "--head"])
        .arg(d.join("a"))
        .arg("--data")
        .arg(d.join("test.jsonl"))
        .assert()
        .code(2);

    // `--head head` is the built-in head alone, without the shipped model's fine-tuned layers:
    // the folder of models/heads it was built from, and not the shipped sentiment model.
    let test = d.join("test.jsonl");
    let scores = |head: &Path| eval_json(&cache, &["--task", "sentiment"], head, &[test.as_path()])["results"].clone();
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/heads/sentiment");
    assert_eq!(scores(Path::new("head")), scores(&folder));
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/tuned/sentiment-top9");
    assert_ne!(scores(Path::new("head")), scores(&shipped));

    // `stance calibrate` gives the multi-class head class offsets chosen on the validation rows:
    // there, it scores at least as well as the argmax (which `--argmax` still reproduces).
    stance(&cache)
        .args(["calibrate", "--task", "sentiment", "--head"])
        .arg(d.join("a"))
        .arg("--valid")
        .arg(d.join("valid.jsonl"))
        .arg("--out")
        .arg(d.join("calibrated"))
        .assert()
        .success();
    let calibrated: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("calibrated/head.json")).unwrap()).unwrap();
    let offsets = calibrated["class_offsets"]["by_label"].as_object().unwrap();
    assert_eq!(offsets.len(), 3, "{offsets:?}");
    let valid_f1 = |head: &str, flags: &[&str]| {
        let report = eval_json(&cache, flags, &d.join(head), &[&d.join("valid.jsonl")]);
        report["results"][0]["overall"]["macro_f1"].as_f64().unwrap()
    };
    let sentiment = ["--task", "sentiment"];
    let (plain, offset) = (valid_f1("a", &sentiment), valid_f1("calibrated", &sentiment));
    assert!(offset >= plain, "calibrated {offset} < argmax {plain} on the rows it was chosen on");
    assert_eq!(valid_f1("calibrated", &["--task", "sentiment", "--argmax"]), plain);

    // Fine-tuning from the head: the record names the start, and the layout is kept.
    train("tuned", &["--from", d.join("a").to_str().unwrap()]);
    let tuned: Value = serde_json::from_str(&std::fs::read_to_string(d.join("tuned/head.json")).unwrap()).unwrap();
    assert_eq!(tuned["training"]["warm_start"], d.join("a").display().to_string());
    assert_eq!(tuned["hidden"], serde_json::json!([32]));
    assert!(tuned["training"]["valid_score"].as_f64() >= meta["training"]["valid_score"].as_f64());

    // A head of two seeds; fine-tuned from without --members (as the README adapts the default
    // heads), it keeps both members.
    let head_json = |dir: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(d.join(dir).join("head.json")).unwrap()).unwrap()
    };
    train("two", &["--members", "2"]);
    train("two-tuned", &["--from", d.join("two").to_str().unwrap()]);
    for dir in ["two", "two-tuned"] {
        let two = head_json(dir);
        assert_eq!(two["members"], 2, "{dir}");
        let seeds: Vec<u64> =
            two["training"]["members"].as_array().unwrap().iter().map(|m| m["seed"].as_u64().unwrap()).collect();
        assert_eq!(seeds, [13, 14], "{dir}");
    }
}

#[test]
fn stance_pairs_and_label_restricted_scoring() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cache = d.join("cache");
    let xstance = shared("data/stance/xstance/valid.jsonl");
    subset(&xstance, "de", 40, 0, &d.join("train.jsonl"));
    subset(&xstance, "fr", 30, 0, &d.join("test.jsonl"));
    // Without --valid, a hashed fifth of the training file is held out.
    stance(&cache)
        .args(["train", "--task", "stance", "--epochs", "3", "--hidden", "16", "--train"])
        .arg(d.join("train.jsonl"))
        .arg("--out")
        .arg(d.join("h"))
        .assert()
        .success();
    let meta: Value = serde_json::from_str(&std::fs::read_to_string(d.join("h/head.json")).unwrap()).unwrap();
    assert_eq!(meta["input"], "pair");
    assert_eq!(meta["input_dim"], 4 * 384);
    let rows = |k: &str| meta["training"][k][0]["rows"].as_u64().unwrap();
    assert_eq!(rows("train") + rows("valid"), 80);
    assert!(meta["training"]["valid"][0]["data"].as_str().unwrap().ends_with("#part=80-100"));

    let flags = ["--task", "stance", "--labels", "favor,against"];
    let report = eval_json(&cache, &flags, &d.join("h"), &[&d.join("test.jsonl")]);
    let overall = &report["results"][0]["overall"];
    assert_eq!(overall["n"], 60);
    assert_eq!(overall["macro_over"], serde_json::json!(["favor", "against"]));

    // A blend of the head with itself scores as the head does; calibrating it in place stores
    // its class offsets in blend.json, and eval names it as a blend. Every weight scores the
    // same here, so the weight search keeps the first of its grid.
    let blend = d.join("blend");
    std::fs::create_dir_all(&blend).unwrap();
    let members = serde_json::json!({"format": "stance-blend/1", "task": "stance",
        "members": [{"model": "../h", "weight": 1.0}, {"model": "../h", "weight": 2.0}]});
    std::fs::write(blend.join("blend.json"), members.to_string()).unwrap();
    let test = d.join("test.jsonl");
    let argmax = |model: &Path| eval_json(&cache, &["--task", "stance", "--argmax"], model, &[&test]);
    let (alone, blended) = (argmax(&d.join("h")), argmax(&blend));
    assert_eq!(alone["results"][0]["overall"]["confusion"], blended["results"][0]["overall"]["confusion"]);
    assert!(blended["head"].as_str().unwrap().contains("blend of 0.33 × "), "{}", blended["head"]);
    stance(&cache)
        .args(["calibrate", "--task", "stance", "--blend-weights", "--head"])
        .arg(&blend)
        .arg("--valid")
        .arg(d.join("test.jsonl"))
        .arg("--out")
        .arg(&blend)
        .assert()
        .success();
    let meta: Value = serde_json::from_str(&std::fs::read_to_string(blend.join("blend.json")).unwrap()).unwrap();
    assert!(meta["class_offsets"]["by_label"].is_object(), "{meta}");
    assert_eq!(meta["members"][1]["model"], "../h");
    assert_eq!((meta["members"][0]["weight"].as_f64(), meta["members"][1]["weight"].as_f64()), (Some(0.1), Some(0.9)));

    // A stance file without targets is an error naming the row.
    std::fs::write(d.join("bad.jsonl"), "{\"text\":\"x\",\"label\":\"favor\"}\n").unwrap();
    let out = stance(&cache)
        .args(["eval", "--task", "stance", "--head"])
        .arg(d.join("h"))
        .arg("--data")
        .arg(d.join("bad.jsonl"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.jsonl:1"));
}

/// A toxicity head with per-language thresholds: French and English rows (whose files spell the
/// negative class `not_toxic` and `non_toxic`) train one two-class head; each language with
/// enough validation rows gets a threshold of its own, `stance eval` applies it (and reports
/// false positives), and `--argmax` scores the same probabilities without it.
#[test]
fn per_language_thresholds_are_chosen_stored_and_applied() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cache = d.join("cache");
    let ftr = shared("data/toxicity/ftr-fr/train.jsonl");
    let offensive = shared("data/toxicity/tweeteval-offensive/train.jsonl");
    subset(&ftr, "fr", 40, 0, &d.join("train-fr.jsonl"));
    subset(&offensive, "en", 40, 0, &d.join("train-en.jsonl"));
    subset(&ftr, "fr", 35, 40, &d.join("valid-fr.jsonl"));
    subset(&offensive, "en", 35, 40, &d.join("valid-en.jsonl"));
    stance(&cache)
        .args(["train", "--task", "toxicity", "--hidden", "16", "--thresholds", "per-lang", "--train"])
        .arg(d.join("train-fr.jsonl"))
        .arg(d.join("train-en.jsonl"))
        .arg("--valid")
        .arg(d.join("valid-fr.jsonl"))
        .arg(d.join("valid-en.jsonl"))
        .arg("--out")
        .arg(d.join("h"))
        .assert()
        .success();
    let meta: Value = serde_json::from_str(&std::fs::read_to_string(d.join("h/head.json")).unwrap()).unwrap();
    assert_eq!(meta["labels"], serde_json::json!(["non_toxic", "toxic"]));
    let thresholds = &meta["thresholds"];
    assert_eq!(thresholds["flag"], "toxic");
    for lang in ["fr", "en"] {
        let t = thresholds["by_lang"][lang].as_f64().unwrap();
        assert!((0.05..=0.95).contains(&t), "{lang}: {t}");
    }

    let valid_fr = d.join("valid-fr.jsonl");
    let overall = |flags: &[&str]| eval_json(&cache, flags, &d.join("h"), &[&valid_fr])["results"][0]["overall"].clone();
    let (thresholded, argmax) = (&overall(&["--task", "toxicity"]), &overall(&["--task", "toxicity", "--argmax"]));
    // The French threshold was chosen for the best macro-F1 on these very rows, so applying it
    // can only match or beat the plain argmax there.
    assert!(thresholded["macro_f1"].as_f64() >= argmax["macro_f1"].as_f64(), "{thresholded} vs {argmax}");

    let text = stance(&cache)
        .args(["eval", "--task", "toxicity", "--by", "lang", "--head"])
        .arg(d.join("h"))
        .arg("--data")
        .arg(d.join("valid-fr.jsonl"))
        .output()
        .unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("non_toxic rows flagged toxic"), "{text}");

    // `stance calibrate` gives an existing head the same thresholds from the same validation
    // rows, without retraining it (the weights are copied unchanged).
    let calibrate = |out: &str, extra: &[&str]| {
        stance(&cache)
            .args(["calibrate", "--task", "toxicity", "--head"])
            .arg(d.join("h"))
            .arg("--valid")
            .arg(d.join("valid-fr.jsonl"))
            .arg(d.join("valid-en.jsonl"))
            .args(extra)
            .arg("--out")
            .arg(d.join(out))
            .assert()
    };
    calibrate("calibrated", &[]).success();
    let calibrated: Value = serde_json::from_str(&std::fs::read_to_string(d.join("calibrated/head.json")).unwrap()).unwrap();
    assert_eq!(calibrated["thresholds"], meta["thresholds"]);
    assert_eq!(
        std::fs::read(d.join("calibrated/head.safetensors")).unwrap(),
        std::fs::read(d.join("h/head.safetensors")).unwrap()
    );

    // `--parity`: German, with no validation rows, gets the threshold that flags as many of its
    // rows as English's threshold flags of English's. Its rows are English's texts, so the two
    // thresholds flag the same rows (unless that would lower German's below the overall one).
    let english = std::fs::read_to_string(d.join("valid-en.jsonl")).unwrap();
    let english_texts_as = |lang: &str| english.replace("\"lang\":\"en\"", &format!("\"lang\":\"{lang}\""));
    let german = english_texts_as("de");
    let ordinary = d.join("ordinary.jsonl");
    std::fs::write(&ordinary, english.clone() + &german).unwrap();
    let parity = |reference: &str| {
        calibrate("parity", &["--parity", ordinary.to_str().unwrap(), "--parity-reference", reference])
    };
    parity("en").success();
    let with_parity: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("parity/head.json")).unwrap()).unwrap();
    let by_lang = &with_parity["thresholds"]["by_lang"];
    for validated in ["fr", "en"] {
        assert_eq!(by_lang[validated], meta["thresholds"]["by_lang"][validated], "{with_parity}");
    }
    let (de, en) = (by_lang["de"].as_f64().unwrap(), by_lang["en"].as_f64().unwrap());
    let default = with_parity["thresholds"]["default"].as_f64().unwrap();
    let flags = ["--task", "toxicity", "--by", "lang"];
    let report = eval_json(&cache, &flags, &d.join("parity"), &[&ordinary]);
    let by_lang = &report["results"][0]["by_lang"];
    assert_eq!(by_lang["de"]["n"].as_u64(), Some(70), "{report}");
    if en >= default {
        assert_eq!(by_lang["de"]["confusion"], by_lang["en"]["confusion"], "de {de}, en {en}: {report}");
    } else {
        assert_eq!(de, default);
    }
    let stderr = String::from_utf8_lossy(&parity("es").failure().get_output().stderr).into_owned();
    assert!(stderr.contains("0 rows in `es`"), "{stderr}");
    // `--parity-caps-validated`: French, validated, is held to English's flag rate. Its ordinary
    // rows are English's toxic ones, twice each, so its own threshold flags a larger share of
    // them than English's flags of all English rows: it is raised until the shares match.
    let french: String = english
        .lines()
        .filter(|line| line.contains("\"label\":\"toxic\""))
        .flat_map(|line| {
            ["a", "b"].map(|copy| {
                let mut row: Value = serde_json::from_str(line).unwrap();
                row["id"] = format!("{}-{copy}", row["id"].as_str().unwrap()).into();
                row["lang"] = "fr".into();
                format!("{row}\n")
            })
        })
        .collect();
    std::fs::write(&ordinary, english.clone() + &french).unwrap();
    calibrate("capped", &["--parity", ordinary.to_str().unwrap(), "--parity-caps-validated"]).success();
    let capped: Value = serde_json::from_str(&std::fs::read_to_string(d.join("capped/head.json")).unwrap()).unwrap();
    let (fr_before, fr) = (
        meta["thresholds"]["by_lang"]["fr"].as_f64().unwrap(),
        capped["thresholds"]["by_lang"]["fr"].as_f64().unwrap(),
    );
    assert!(fr > fr_before, "fr {fr_before} → {fr}");
    assert_eq!(capped["thresholds"]["by_lang"]["en"], meta["thresholds"]["by_lang"]["en"]);
    let report = eval_json(&cache, &flags, &d.join("capped"), &[&ordinary]);
    let flagged = |lang: &str| {
        let by_lang = &report["results"][0]["by_lang"][lang];
        // Columns are the predicted labels, non_toxic then toxic.
        let flagged: u64 = by_lang["confusion"].as_array().unwrap().iter().map(|row| row[1].as_u64().unwrap()).sum();
        (flagged, by_lang["n"].as_u64().unwrap())
    };
    let ((fr_flagged, fr_n), (en_flagged, en_n)) = (flagged("fr"), flagged("en"));
    assert_eq!((fr_n, en_n), (70, 70), "{report}");
    // Equal shares, but for the two copies of a row, which a threshold cannot split.
    assert!(fr_flagged <= en_flagged + 1, "fr {fr} flags {fr_flagged}, en {en_flagged}: {report}");
    // A blend of two flag heads gets its weights and its thresholds from the validation rows,
    // within the false-positive bound: at most 20 % of the non-toxic rows flagged there.
    stance(&cache)
        .args(["train", "--task", "toxicity", "--hidden", "8", "--seed", "7", "--train"])
        .arg(d.join("train-fr.jsonl"))
        .arg(d.join("train-en.jsonl"))
        .arg("--out")
        .arg(d.join("h2"))
        .assert()
        .success();
    let blend = d.join("blend");
    std::fs::create_dir_all(&blend).unwrap();
    let members = serde_json::json!({"format": "stance-blend/1", "task": "toxicity",
        "members": [{"model": "../h", "weight": 1.0}, {"model": "../h2", "weight": 1.0}]});
    std::fs::write(blend.join("blend.json"), members.to_string()).unwrap();
    stance(&cache)
        .args(["calibrate", "--task", "toxicity", "--blend-weights", "--max-false-positives", "0.2", "--head"])
        .arg(&blend)
        .arg("--valid")
        .arg(d.join("valid-fr.jsonl"))
        .arg(d.join("valid-en.jsonl"))
        .arg("--out")
        .arg(&blend)
        .assert()
        .success();
    let meta: Value = serde_json::from_str(&std::fs::read_to_string(blend.join("blend.json")).unwrap()).unwrap();
    assert_eq!(meta["thresholds"]["flag"], "toxic", "{meta}");
    let weights: Vec<f64> = (0..2).map(|i| meta["members"][i]["weight"].as_f64().unwrap()).collect();
    assert!(weights.iter().all(|w| (0.1..=0.9).contains(w)) && (weights[0] + weights[1] - 1.0).abs() < 1e-9, "{weights:?}");
    let valid = [d.join("valid-fr.jsonl"), d.join("valid-en.jsonl")];
    let report = eval_json(&cache, &["--task", "toxicity"], &blend, &[&valid[0], &valid[1]]);
    // Rows: gold non_toxic, toxic; columns: predicted in the same order.
    let (mut flagged, mut non_toxic) = (0, 0);
    for result in report["results"].as_array().unwrap() {
        let confusion = &result["overall"]["confusion"];
        flagged += confusion[0][1].as_u64().unwrap();
        non_toxic += confusion[0][0].as_u64().unwrap() + confusion[0][1].as_u64().unwrap();
    }
    assert!(non_toxic > 0 && flagged * 5 <= non_toxic, "{flagged} of {non_toxic} non-toxic rows flagged");

    // A false-positive bound is for flag heads only.
    stance(&cache)
        .args(["calibrate", "--task", "sentiment", "--max-false-positives", "0.2", "--valid"])
        .arg(d.join("valid-en.jsonl"))
        .arg("--out")
        .arg(d.join("nope"))
        .assert()
        .code(2);

    // `--thresholds per-lang` is for flag tasks only.
    stance(&cache)
        .args(["train", "--task", "sentiment", "--thresholds", "per-lang", "--train"])
        .arg(d.join("train-en.jsonl"))
        .arg("--out")
        .arg(d.join("s"))
        .assert()
        .code(2);
}

/// `stance eval` without `--head` scores the shipped model on whichever copy of its encoder
/// `--model` names (a user's folder or the hub's weights), as `stance classify` does, and
/// refuses an encoder it was not trained on.
#[test]
fn eval_scores_the_shipped_model_on_a_copy_of_its_encoder() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cache = d.join("cache");
    let rows = d.join("irony.jsonl");
    subset(&shared("data/irony/tweeteval-irony/test.jsonl"), "en", 15, 0, &rows);
    let eval = |model: &Path| {
        let mut cmd = stance(&cache);
        cmd.args(["eval", "--json", "--task", "irony", "--model"]).arg(model).arg("--data").arg(&rows);
        cmd.output().unwrap()
    };
    let default = eval(Path::new("default"));
    let copy = eval(&shared("models/multilingual-e5-small-q4"));
    assert!(copy.status.success(), "{}", String::from_utf8_lossy(&copy.stderr));
    let (default, copy): (Value, Value) =
        (serde_json::from_slice(&default.stdout).unwrap(), serde_json::from_slice(&copy.stdout).unwrap());
    assert_eq!(copy["head"], default["head"]);
    assert_eq!(copy["results"][0]["overall"], default["results"][0]["overall"], "{copy}");
    assert_eq!(copy["results"][0]["overall"]["n"].as_u64(), Some(30));

    // `--model` naming a task model's folder (here the route the default irony model is
    // compiled from) scores that model on the default encoder, as `--head` would.
    let route = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/routes/irony");
    let folder = eval(&route);
    assert!(folder.status.success(), "{}", String::from_utf8_lossy(&folder.stderr));
    let folder: Value = serde_json::from_slice(&folder.stdout).unwrap();
    assert_eq!(folder["results"][0]["overall"], default["results"][0]["overall"], "{folder}");

    // Each file's scores are headed by the model: a built-in model's name says its task and
    // kind, a folder's follows them.
    let heading = |model: &Path| {
        let mut cmd = stance(&cache);
        cmd.args(["eval", "--task", "irony", "--model"]).arg(model).arg("--data").arg(&rows);
        let text = String::from_utf8(cmd.output().unwrap().stdout).unwrap();
        text.lines().find(|l| l.starts_with("== ")).unwrap_or_default().to_string()
    };
    let built_in = heading(Path::new("default"));
    assert!(built_in.starts_with(&format!("== {} — default irony route (sha256 ", rows.display())), "{built_in}");
    let named = heading(&route);
    let folder_heading = format!("== {} — irony route {} (sha256 ", rows.display(), route.display());
    assert!(named.starts_with(&folder_heading), "{named}");

    let other = eval(&shared("fixtures/parity/tiny/xlm-roberta"));
    assert!(!other.status.success());
    let stderr = String::from_utf8_lossy(&other.stderr);
    assert!(stderr.contains("trained on another encoder input"), "{stderr}");
}
