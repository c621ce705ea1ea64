//! Write stage: tables in every format and layout, run metadata, atomicity, and the three
//! reports, on hand-made tables and on a realistic archive (reply trees from the shared bench
//! corpus with deterministic synthetic predictions).

use polars::prelude::*;
use stance_aggregate::{aggregate, AggregateOptions, Aggregates};
use stance_report::{
    read_parquet_metadata, render_report_html, render_summary_text, write_file_atomic,
    write_outputs, write_outputs_chunked, write_table, CommentChunks, Format, HeadInfo, InputFile, ModelRecord, OutputOptions, PartitionBy,
    ReportError, RunInfo, HIVE_NULL,
};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

fn run_info() -> RunInfo {
    RunInfo {
        stance_version: "0.1.0".into(),
        models: vec![ModelRecord {
            role: "encoder".into(),
            id: "intfloat/multilingual-e5-small".into(),
            revision: Some("c007d7ef6fd86656326059b28395a7a03a7c5846".into()),
        }],
        heads: vec![
            HeadInfo {
                task: "stance".into(),
                labels: vec!["favor".into(), "against".into(), "none".into()],
                source: Some("heads/stance.safetensors".into()),
                thresholds: BTreeMap::new(),
                class_offsets: BTreeMap::from([("none".to_string(), -0.5)]),
            },
            HeadInfo {
                task: "toxicity".into(),
                labels: vec!["toxic".into()],
                source: None,
                thresholds: BTreeMap::from([("toxic".to_string(), 0.5)]),
                class_offsets: BTreeMap::new(),
            },
        ],
        input_files: vec![InputFile {
            path: "comments.jsonl".into(),
            bytes: Some(6_719_477),
            sha256: Some("ab".repeat(32)),
        }],
        ..RunInfo::default()
    }
}

/// A cheap deterministic hash, so synthetic predictions depend only on the comment id.
fn hash(s: &str, salt: u64) -> u64 {
    let mut h = 0xcbf29ce484222325u64 ^ salt;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h ^ (h >> 29)
}

fn unit(s: &str, salt: u64) -> f64 {
    (hash(s, salt) % 10_000) as f64 / 10_000.0
}

/// Three probabilities summing to 1 with the first label favoured by `bias`.
fn probs(id: &str, salt: u64, bias: [f64; 3]) -> [f64; 3] {
    let raw = [0, 1, 2].map(|i| bias[i] + unit(id, salt + i as u64));
    let sum: f64 = raw.iter().sum();
    raw.map(|r| r / sum)
}

fn argmax(p: &[f64; 3]) -> usize {
    (0..3).fold(0, |best, i| if p[i] > p[best] { i } else { best })
}

/// Adds contract-shaped prediction columns to comments given as (id, article, is_reply).
fn with_predictions(mut df: DataFrame) -> DataFrame {
    let ids: Vec<String> = df
        .column("comment_id")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|v| v.unwrap().to_string())
        .collect();
    let articles: Vec<String> = df
        .column("article_id")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|v| v.unwrap().to_string())
        .collect();
    let is_reply: Vec<bool> = df
        .column("parent_id")
        .unwrap()
        .is_not_null()
        .iter()
        .map(|v| v.unwrap_or(false))
        .collect();
    let mut cols: BTreeMap<&str, Vec<Option<f64>>> = BTreeMap::new();
    let mut labels: BTreeMap<&str, Vec<Option<&str>>> = BTreeMap::new();
    let mut flags: BTreeMap<&str, Vec<bool>> = BTreeMap::new();
    for (i, id) in ids.iter().enumerate() {
        // Each article leans its own way, so the threads differ visibly.
        let lean = unit(&articles[i], 7);
        let stance = probs(id, 10, [0.2 + lean, 0.2 + (1.0 - lean), 0.5]);
        let sentiment = probs(id, 20, [0.6, 0.4, 0.2 + lean * 0.4]);
        for (k, name) in ["p_favor", "p_against", "p_none"].iter().enumerate() {
            cols.entry(name).or_default().push(Some(stance[k]));
        }
        labels
            .entry("stance")
            .or_default()
            .push(Some(["favor", "against", "none"][argmax(&stance)]));
        for (k, name) in ["p_negative", "p_neutral", "p_positive"].iter().enumerate() {
            cols.entry(name).or_default().push(Some(sentiment[k]));
        }
        labels.entry("sentiment").or_default().push(Some(
            ["negative", "neutral", "positive"][argmax(&sentiment)],
        ));
        let p_ironic = unit(id, 30).powi(3);
        let p_toxic = unit(id, 40).powi(4);
        cols.entry("p_ironic").or_default().push(Some(p_ironic));
        cols.entry("p_toxic").or_default().push(Some(p_toxic));
        flags.entry("ironic").or_default().push(p_ironic >= 0.5);
        flags.entry("toxic").or_default().push(p_toxic >= 0.5);
        let reply = is_reply[i].then(|| probs(id, 50, [0.3, 0.55, 0.4]));
        for (k, name) in ["p_agree", "p_disagree", "p_none_reply"].iter().enumerate() {
            cols.entry(name).or_default().push(reply.map(|p| p[k]));
        }
        labels
            .entry("reply")
            .or_default()
            .push(reply.map(|p| ["agree", "disagree", "none"][argmax(&p)]));
    }
    for (name, values) in labels {
        df.with_column(Column::new(name.into(), values)).unwrap();
    }
    for (name, values) in flags {
        df.with_column(Column::new(name.into(), values)).unwrap();
    }
    for (name, values) in cols {
        df.with_column(Column::new(name.into(), values)).unwrap();
    }
    df
}

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

/// The 12 articles of the bench archive with the most replies, threaded by stance-core as
/// ingest does, with synthetic predictions.
fn realistic() -> (DataFrame, DataFrame) {
    let path = shared().join("data/bench/comments.jsonl");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut all: Vec<stance_core::Comment> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut replies: BTreeMap<String, usize> = BTreeMap::new();
    for c in &all {
        if c.parent_id.is_some() {
            *replies.entry(c.article_id.clone()).or_default() += 1;
        }
    }
    let mut ranked: Vec<(String, usize)> = replies.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let keep: BTreeSet<String> = ranked.into_iter().take(12).map(|(a, _)| a).collect();
    all.retain(|c| keep.contains(&c.article_id));
    stance_core::link_threads(&mut all);
    let col =
        |f: &dyn Fn(&stance_core::Comment) -> Option<String>| all.iter().map(f).collect::<Vec<_>>();
    let df = DataFrame::new_infer_height(vec![
        Column::new("comment_id".into(), col(&|c| Some(c.comment_id.clone()))),
        Column::new("article_id".into(), col(&|c| Some(c.article_id.clone()))),
        Column::new("parent_id".into(), col(&|c| c.parent_id.clone())),
        Column::new("author".into(), col(&|c| c.author.clone())),
        Column::new("created_at".into(), col(&|c| c.created_at.clone())),
        Column::new("text".into(), col(&|c| Some(c.text.clone()))),
        Column::new("lang".into(), col(&|c| c.lang.clone())),
        Column::new(
            "depth".into(),
            all.iter().map(|c| c.depth).collect::<Vec<u32>>(),
        ),
        Column::new("root_id".into(), col(&|c| Some(c.root_id.clone()))),
        Column::new(
            "n_tokens".into(),
            all.iter()
                .map(|c| c.text.len().min(512) as u32)
                .collect::<Vec<u32>>(),
        ),
        Column::new(
            "truncated".into(),
            all.iter()
                .map(|c| c.text.len() > 2000)
                .collect::<Vec<bool>>(),
        ),
    ])
    .unwrap();
    let articles_path = shared().join("data/bench/articles.jsonl");
    let articles_text = fs::read_to_string(&articles_path).unwrap();
    let articles: Vec<stance_core::Article> = articles_text
        .lines()
        .map(|l| serde_json::from_str::<stance_core::Article>(l).unwrap())
        .filter(|a| keep.contains(&a.article_id))
        .collect();
    let articles = DataFrame::new_infer_height(vec![
        Column::new(
            "article_id".into(),
            articles
                .iter()
                .map(|a| a.article_id.clone())
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "title".into(),
            articles.iter().map(|a| a.title.clone()).collect::<Vec<_>>(),
        ),
        Column::new(
            "lang".into(),
            articles.iter().map(|a| a.lang.clone()).collect::<Vec<_>>(),
        ),
    ])
    .unwrap();
    (with_predictions(df), articles)
}

/// The seed thread (a real French news page, parsed by ingest's expected output), with
/// synthetic predictions.
fn seed_thread() -> (DataFrame, DataFrame) {
    let dir = shared().join("data/threads/les-crises-durov/expected");
    let text = fs::read_to_string(dir.join("comments.jsonl")).unwrap();
    let mut comments: Vec<stance_core::Comment> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    stance_core::link_threads(&mut comments);
    let article: stance_core::Article =
        serde_json::from_str(&fs::read_to_string(dir.join("article.json")).unwrap()).unwrap();
    let col = |f: &dyn Fn(&stance_core::Comment) -> Option<String>| {
        comments.iter().map(f).collect::<Vec<_>>()
    };
    let df = DataFrame::new_infer_height(vec![
        Column::new("comment_id".into(), col(&|c| Some(c.comment_id.clone()))),
        Column::new("article_id".into(), col(&|c| Some(c.article_id.clone()))),
        Column::new("parent_id".into(), col(&|c| c.parent_id.clone())),
        Column::new("author".into(), col(&|c| c.author.clone())),
        Column::new("created_at".into(), col(&|c| c.created_at.clone())),
        Column::new("text".into(), col(&|c| Some(c.text.clone()))),
        Column::new(
            "depth".into(),
            comments.iter().map(|c| c.depth).collect::<Vec<u32>>(),
        ),
    ])
    .unwrap();
    let articles = df!(
        "article_id" => [article.article_id.as_str()],
        "title" => [article.title.as_str()],
        "published" => [article.published.as_deref()],
    )
    .unwrap();
    (with_predictions(df), articles)
}

/// A small thread with hostile text in every user-controlled field.
fn hostile() -> (DataFrame, DataFrame) {
    let comments = df!(
        "comment_id" => ["c1", "c2", "c3", "c4"],
        "article_id" => ["../etc/x y:é=%", "../etc/x y:é=%", "../etc/x y:é=%", ".hidden"],
        "parent_id" => [None, Some("c1"), Some("c1"), None],
        "author" => [Some("<b>mallory</b>"), Some("eve\"'&"), None, Some("trent")],
        "created_at" => [Some("2024-05-01T10:00:00Z"), Some("2024-05-01T11:00:00+02:00"), None, Some("2024-05-03T08:00:00")],
        "text" => ["<script>alert(1)</script> first \u{1b}[2J\u{1b}]0;pwned\u{7}", "<img src=x onerror=alert(2)> | *bold* [link](http://evil.example)", "third", "fourth"],
    )
    .unwrap();
    let comments = with_predictions(comments);
    let articles = df!(
        "article_id" => ["../etc/x y:é=%", ".hidden"],
        "title" => ["Title with <iframe src=\"http://evil.example\"></iframe>", "Second"],
        "url" => ["javascript:alert(3)", "https://example.org/second"],
    )
    .unwrap();
    (comments, articles)
}

fn aggregates(comments: &DataFrame, articles: &DataFrame) -> Aggregates {
    aggregate(comments, articles, &AggregateOptions::default()).unwrap()
}

fn read_parquet(path: &Path) -> DataFrame {
    ParquetReader::new(fs::File::open(path).unwrap())
        .finish()
        .unwrap()
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

mod tables {
    use super::*;

    #[test]
    fn parquet_outputs_keep_every_comment_once_and_carry_the_run() {
        let (comments, articles) = realistic();
        let agg = aggregates(&comments, &articles);
        let dir = tempfile::tempdir().unwrap();
        let written = write_outputs(
            dir.path(),
            &comments,
            &agg,
            &run_info(),
            &OutputOptions::default(),
        )
        .unwrap();
        assert_eq!(
            names_in(dir.path()),
            [
                "authors.parquet",
                "comments.parquet",
                "daily.parquet",
                "report.html",
                "run.json",
                "summary.md",
                "summary.txt",
                "threads.parquet"
            ]
        );
        let back = read_parquet(&dir.path().join("comments.parquet"));
        assert_eq!(back.height(), comments.height());
        assert!(
            back.equals_missing(&comments),
            "comments round-trip unchanged"
        );
        let ids: BTreeSet<&str> = back
            .column("comment_id")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .flatten()
            .collect();
        assert_eq!(
            ids.len(),
            comments.height(),
            "every kept comment exactly once"
        );

        let threads = read_parquet(&dir.path().join("threads.parquet"));
        assert!(threads.equals_missing(&agg.threads));
        let total: u32 = threads
            .column("n_comments")
            .unwrap()
            .u32()
            .unwrap()
            .iter()
            .flatten()
            .sum();
        assert_eq!(total as usize, comments.height());
        for t in &written.tables {
            assert_eq!(t.files, 1);
        }

        let run_json: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(&written.run_json).unwrap()).unwrap();
        assert_eq!(run_json["aggregation"]["top_contested"], 5);
        assert_eq!(run_json["heads"][0]["class_offsets"]["none"], -0.5);
        assert!(run_json["heads"][1].get("class_offsets").is_none(), "no offsets, no key");
        assert_eq!(
            run_json["models"][0]["revision"],
            "c007d7ef6fd86656326059b28395a7a03a7c5846"
        );
        for table in ["comments", "threads", "authors", "daily"] {
            let kv: BTreeMap<String, String> =
                read_parquet_metadata(&dir.path().join(format!("{table}.parquet")))
                    .unwrap()
                    .into_iter()
                    .collect();
            let embedded: serde_json::Value = serde_json::from_str(&kv["stance.run"]).unwrap();
            assert_eq!(embedded, run_json, "{table}: stance.run is run.json");
            assert_eq!(kv["stance.table"], table);
            assert_eq!(kv["stance.version"], "0.1.0");
            assert_eq!(kv.contains_key("stance.definitions"), table != "comments");
        }
        let kv: BTreeMap<String, String> =
            read_parquet_metadata(&dir.path().join("threads.parquet"))
                .unwrap()
                .into_iter()
                .collect();
        let defs: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&kv["stance.definitions"]).unwrap();
        assert_eq!(
            defs.len(),
            agg.threads.width(),
            "one definition per threads column"
        );
        assert!(defs["polarization"].as_str().unwrap().contains("Variance"));
    }

    /// The comments of `df` in chunks of `size` rows, as `stance classify` reads them from disk.
    struct Chunked {
        df: DataFrame,
        size: usize,
    }

    impl CommentChunks for Chunked {
        fn n_chunks(&self) -> usize {
            self.df.height().div_ceil(self.size)
        }
        fn chunk(&self, index: usize) -> Result<DataFrame, ReportError> {
            Ok(self.df.slice((index * self.size) as i64, self.size))
        }
        fn text(&self, row: usize) -> Result<Option<String>, ReportError> {
            Ok(self.df.column("text")?.str()?.get(row).map(str::to_string))
        }
    }

    #[test]
    fn a_table_written_chunk_by_chunk_is_the_table_written_whole() {
        let (comments, articles) = realistic();
        let agg = aggregates(&comments, &articles);
        // The reports read every row from an overview without texts, and quote from the chunks.
        let overview = comments.drop("text").unwrap();
        let chunked = Chunked { df: comments.clone(), size: 7 };
        let (whole, parts) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        for format in [Format::Parquet, Format::Csv, Format::Jsonl] {
            let opts = OutputOptions { format, partition_by: None };
            write_outputs(whole.path(), &comments, &agg, &run_info(), &opts).unwrap();
            let written =
                write_outputs_chunked(parts.path(), &chunked, &overview, &agg, &run_info(), &opts).unwrap();
            assert_eq!(written.tables[0].rows, comments.height());
            let file = format!("comments.{}", format.extension());
            match format {
                Format::Parquet => {
                    let (a, b) = (read_parquet(&whole.path().join(&file)), read_parquet(&parts.path().join(&file)));
                    assert!(a.equals_missing(&b));
                    assert_eq!(
                        read_parquet_metadata(&whole.path().join(&file)).unwrap(),
                        read_parquet_metadata(&parts.path().join(&file)).unwrap()
                    );
                }
                _ => assert_eq!(
                    fs::read(whole.path().join(&file)).unwrap(),
                    fs::read(parts.path().join(&file)).unwrap(),
                    "{file}"
                ),
            }
            for report in ["summary.txt", "summary.md", "report.html"] {
                assert_eq!(
                    fs::read_to_string(whole.path().join(report)).unwrap(),
                    fs::read_to_string(parts.path().join(report)).unwrap(),
                    "{report}"
                );
            }
        }
        let html = fs::read_to_string(parts.path().join("report.html")).unwrap();
        let quoted = comments.column("text").unwrap().str().unwrap().iter().flatten().any(|t| {
            t.len() > 40 && !t.contains(['<', '>', '&', '"', '\'']) && html.contains(t)
        });
        assert!(quoted, "the contested chains quote comment texts read from the chunks");
    }

    #[test]
    fn csv_and_jsonl_hold_the_same_rows() {
        let (comments, articles) = hostile();
        let agg = aggregates(&comments, &articles);
        let dir = tempfile::tempdir().unwrap();
        for format in [Format::Csv, Format::Jsonl] {
            let opts = OutputOptions {
                format,
                partition_by: None,
            };
            write_outputs(dir.path(), &comments, &agg, &run_info(), &opts).unwrap();
        }
        let jsonl = fs::read_to_string(dir.path().join("threads.jsonl")).unwrap();
        let rows: Vec<serde_json::Value> = jsonl
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(rows.len(), agg.threads.height());
        assert_eq!(rows[0]["article_id"], "../etc/x y:é=%");
        assert_eq!(
            rows[0]["most_contested_ids"]
                .as_array()
                .map(|a| a.len())
                .unwrap_or(0),
            agg.contested.as_ref().unwrap().height()
        );
        assert!(rows[0]["first_comment_at"].as_str().unwrap().ends_with('Z'));
        assert!(rows[0]["share_favor"].is_number());

        let mut reader = csv::Reader::from_path(dir.path().join("comments.csv")).unwrap();
        let header: Vec<String> = reader
            .headers()
            .unwrap()
            .iter()
            .map(str::to_string)
            .collect();
        assert_eq!(
            header,
            comments
                .get_column_names()
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
        );
        let records: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
        assert_eq!(records.len(), comments.height());
        let text_at = header.iter().position(|h| h == "text").unwrap();
        assert_eq!(
            &records[1][text_at],
            "<img src=x onerror=alert(2)> | *bold* [link](http://evil.example)"
        );
        let daily_lines = fs::read_to_string(dir.path().join("daily.jsonl"))
            .unwrap()
            .lines()
            .count();
        assert_eq!(daily_lines, agg.daily.height());
    }

    #[test]
    fn hive_partitions_by_article_read_back_with_their_keys() {
        let (comments, articles) = hostile();
        let agg = aggregates(&comments, &articles);
        let dir = tempfile::tempdir().unwrap();
        let opts = OutputOptions {
            format: Format::Parquet,
            partition_by: Some(PartitionBy::Article),
        };
        let written = write_outputs(dir.path(), &comments, &agg, &run_info(), &opts).unwrap();
        let folder = dir.path().join("comments");
        let parts = names_in(&folder);
        // A leading dot is encoded, so no name is `.`, `..` or hidden; `/` can never appear.
        assert_eq!(
            parts,
            [
                "article_id=%2E.%2Fetc%2Fx%20y%3A%C3%A9%3D%25",
                "article_id=%2Ehidden"
            ]
        );
        for p in &parts {
            assert_eq!(names_in(&folder.join(p)), ["part-0.parquet"]);
        }
        assert!(dir.path().join("daily").is_dir());
        assert!(
            dir.path().join("threads.parquet").is_file(),
            "one row per article: not split"
        );
        assert!(
            dir.path().join("authors.parquet").is_file(),
            "authors has no article key"
        );
        let comments_table = written
            .tables
            .iter()
            .find(|t| t.name == "comments")
            .unwrap();
        assert_eq!((comments_table.rows, comments_table.files), (4, 2));

        let args = ScanArgsParquet {
            hive_options: HiveOptions::new_enabled(),
            ..ScanArgsParquet::default()
        };
        let path = format!("{}/", folder.display());
        let back = LazyFrame::scan_parquet(PlRefPath::from(path.as_str()), args)
            .unwrap()
            .sort(["comment_id"], SortMultipleOptions::default())
            .collect()
            .unwrap();
        let keys: Vec<&str> = back
            .column("article_id")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .flatten()
            .collect();
        assert_eq!(
            keys,
            [
                "../etc/x y:é=%",
                "../etc/x y:é=%",
                "../etc/x y:é=%",
                ".hidden"
            ]
        );
        let kv: BTreeMap<String, String> =
            read_parquet_metadata(&folder.join(&parts[0]).join("part-0.parquet"))
                .unwrap()
                .into_iter()
                .collect();
        assert_eq!(kv["stance.table"], "comments");

        // Back to single files: the partitioned directories go, atomically.
        write_outputs(
            dir.path(),
            &comments,
            &agg,
            &run_info(),
            &OutputOptions::default(),
        )
        .unwrap();
        assert!(!folder.exists() && dir.path().join("comments.parquet").is_file());
        assert!(
            names_in(dir.path()).iter().all(|n| !n.starts_with('.')),
            "no temporary left: {:?}",
            names_in(dir.path())
        );
    }

    #[test]
    fn partitions_by_day_use_the_utc_day_and_a_null_partition() {
        let (comments, articles) = hostile();
        let agg = aggregates(&comments, &articles);
        let dir = tempfile::tempdir().unwrap();
        let opts = OutputOptions {
            format: Format::Jsonl,
            partition_by: Some(PartitionBy::Day),
        };
        write_outputs(dir.path(), &comments, &agg, &run_info(), &opts).unwrap();
        // 11:00+02:00 is 09:00 UTC on the same day; the naive time stays on its day.
        assert_eq!(
            names_in(&dir.path().join("comments")),
            [
                "day=2024-05-01".to_string(),
                "day=2024-05-03".to_string(),
                format!("day={HIVE_NULL}")
            ]
        );
        assert_eq!(
            names_in(&dir.path().join("daily")),
            ["day=2024-05-01", "day=2024-05-03"]
        );
        assert!(
            dir.path().join("threads.jsonl").is_file(),
            "threads has no day key"
        );
        let undated = fs::read_to_string(
            dir.path()
                .join("comments")
                .join(format!("day={HIVE_NULL}"))
                .join("part-0.jsonl"),
        )
        .unwrap();
        let row: serde_json::Value = serde_json::from_str(undated.lines().next().unwrap()).unwrap();
        assert_eq!(row["comment_id"], "c3");
        assert!(
            row.get("day").is_none(),
            "the key lives in the path, not the file"
        );
    }

    #[test]
    fn a_value_too_long_for_a_directory_is_an_error_and_leaves_nothing() {
        let long = "x".repeat(300);
        let df = df!("article_id" => [long.as_str()], "n" => [1u32]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let err = write_table(
            dir.path(),
            "threads",
            &df,
            Format::Parquet,
            Some(PartitionBy::Article),
            &[],
        )
        .unwrap_err();
        assert!(matches!(err, ReportError::PartitionValue { .. }), "{err}");
        assert!(
            names_in(dir.path()).is_empty(),
            "{:?}",
            names_in(dir.path())
        );
    }
}

mod atomicity {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_failed_write_keeps_the_previous_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("summary.txt");
        write_file_atomic(&path, |w| {
            w.write_all(b"old").map_err(|e| ReportError::Encode {
                format: "text",
                source: e,
            })
        })
        .unwrap();
        let err = write_file_atomic(&path, |w| {
            w.write_all(b"half of the new").unwrap();
            Err(ReportError::Encode {
                format: "text",
                source: std::io::Error::other("disk full"),
            })
        });
        assert!(err.is_err());
        assert_eq!(fs::read_to_string(&path).unwrap(), "old");
        assert_eq!(names_in(dir.path()), ["summary.txt"]);
    }

    #[test]
    fn an_unwritable_directory_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("not-a-dir");
        fs::write(&blocker, "x").unwrap();
        let (comments, articles) = hostile();
        let agg = aggregates(&comments, &articles);
        let err = write_outputs(
            &blocker.join("out"),
            &comments,
            &agg,
            &run_info(),
            &OutputOptions::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("not-a-dir"), "{err}");
    }
}

mod reports {
    use super::*;

    #[test]
    fn html_is_self_contained_and_escapes_user_text() {
        let (comments, articles) = hostile();
        let agg = aggregates(&comments, &articles);
        let html = render_report_html(&comments, &agg, &run_info()).unwrap();
        assert!(html.contains("decided by ln p(none) -0.5"), "class offsets in the run section");
        assert!(html.contains("decided by toxic ≥ 0.5"));
        for forbidden in [
            "<script",
            "<iframe",
            "<img",
            "@import",
            "url(",
            "src=\"",
            "javascript:",
        ] {
            assert!(!html.contains(forbidden), "found {forbidden:?}");
        }
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("&lt;b&gt;mallory&lt;/b&gt;"));
        assert!(html.contains("eve&quot;&#39;&amp;"));
        // The only link is the article's own http(s) address.
        let links: BTreeSet<&str> = html
            .match_indices("href=\"")
            .map(|(i, _)| &html[i + 6..i + 6 + 27])
            .collect();
        assert_eq!(links, BTreeSet::from(["https://example.org/second\""]));
        assert!(html.contains("default-src 'none'"));
    }

    #[test]
    fn html_has_the_charts_an_analyst_looks_for() {
        let (comments, articles) = realistic();
        let agg = aggregates(&comments, &articles);
        let html = render_report_html(&comments, &agg, &run_info()).unwrap();
        for heading in [
            "Stance and tone per thread",
            "Activity and stance over time",
            "Most contested reply chains",
            "Threads by controversy",
            "Definitions of the thread metrics",
        ] {
            assert!(html.contains(heading), "{heading}");
        }
        assert!(
            html.matches("<svg").count() > 2 * agg.threads.height(),
            "a stance and a sentiment bar per thread"
        );
        assert!(html.matches(r#"<div class="chain">"#).count() >= 3);
        if let Ok(dir) = std::env::var("STANCE_REPORT_OUT") {
            // For looking at the page in a browser while working on it.
            fs::create_dir_all(&dir).unwrap();
            write_outputs(
                Path::new(&dir),
                &comments,
                &agg,
                &run_info(),
                &OutputOptions::default(),
            )
            .unwrap();
        }
    }

    #[test]
    fn the_seed_thread_reports_as_one_thread_by_the_hour() {
        let (comments, articles) = seed_thread();
        let agg = aggregates(&comments, &articles);
        let dir = std::env::var("STANCE_REPORT_OUT")
            .map(|d| PathBuf::from(d).join("seed"))
            .unwrap_or_else(|_| {
                std::env::temp_dir().join(format!("stance-seed-{}", std::process::id()))
            });
        let written = write_outputs(
            &dir,
            &comments,
            &agg,
            &run_info(),
            &OutputOptions::default(),
        )
        .unwrap();
        let html = fs::read_to_string(&written.report_html).unwrap();
        assert!(
            html.contains("<title>stance report: Le fondateur de Telegram"),
            "one thread: titled by it"
        );
        assert!(html.contains("Comments per hour (UTC)"));
        assert!(
            !html.contains("All threads"),
            "no total row for a single thread"
        );
        assert!(
            written
                .summary
                .contains("7 comments in 1 thread by 5 authors"),
            "{}",
            written.summary
        );
        if std::env::var("STANCE_REPORT_OUT").is_err() {
            fs::remove_dir_all(&dir).unwrap();
        }
    }

    #[test]
    fn a_run_without_optional_tasks_still_reports() {
        let (comments, articles) = hostile();
        let keep: Vec<&str> = [
            "comment_id",
            "article_id",
            "parent_id",
            "author",
            "created_at",
            "text",
            "sentiment",
        ]
        .to_vec();
        let comments = comments.select(keep).unwrap();
        let agg = aggregates(&comments, &articles);
        let html = render_report_html(&comments, &agg, &run_info()).unwrap();
        assert!(!html.contains("Most contested") && !html.contains("Net stance"));
        assert!(html.contains("Sentiment"));
        let text = render_summary_text(&comments, &agg, &run_info()).unwrap();
        assert!(text.contains("Sentiment") && !text.contains("Stance  "));
    }

    #[test]
    fn summaries_state_the_numbers_of_the_tables() {
        let (comments, articles) = realistic();
        let agg = aggregates(&comments, &articles);
        let dir = tempfile::tempdir().unwrap();
        let written = write_outputs(
            dir.path(),
            &comments,
            &agg,
            &run_info(),
            &OutputOptions::default(),
        )
        .unwrap();
        let text = fs::read_to_string(&written.summary_txt).unwrap();
        assert_eq!(text, written.summary);
        for line in text.lines() {
            assert!(
                line.chars().count() <= 100,
                "too wide for a terminal: {line}"
            );
        }
        let n = comments.height();
        let grouped = {
            let digits = n.to_string();
            let (head, tail) = digits.split_at(digits.len() - 3);
            format!("{head},{tail}")
        };
        assert!(
            text.contains(&format!("{grouped} comments in 12 threads")),
            "{text}"
        );
        let favor = agg
            .overall
            .column("share_favor")
            .unwrap()
            .f64()
            .unwrap()
            .get(0)
            .unwrap();
        assert!(
            text.contains(&format!("favor {:.1}%", favor * 100.0)),
            "{text}"
        );
        let md = fs::read_to_string(&written.summary_md).unwrap();
        assert!(md.starts_with("# stance summary"));
        assert!(md.contains("| thread |") && md.contains("| `polarization` |"));
    }

    #[test]
    fn terminal_summary_carries_no_escape_sequences() {
        let (comments, articles) = hostile();
        let agg = aggregates(&comments, &articles);
        let text = render_summary_text(&comments, &agg, &run_info()).unwrap();
        assert!(text.contains("<script>alert(1)</script> first"), "{text}");
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
    }

    #[test]
    fn markdown_neutralises_markup_in_user_text() {
        let (comments, articles) = hostile();
        let agg = aggregates(&comments, &articles);
        let md = stance_report::render_summary_markdown(&comments, &agg, &run_info()).unwrap();
        assert!(!md.contains("<iframe"), "{md}");
        assert!(md.contains("&lt;iframe"));
    }
}
