//! Aggregate stage: exact metrics on a hand-made thread, absent tasks, errors, the time rule,
//! the definitions table, and invariants on random tables.

use polars::prelude::*;
use stance_aggregate::{
    aggregate, parse_created_at, AggregateError, AggregateOptions, Aggregates, Table, Task, METRICS,
};

const EPS: f64 = 1e-9;

fn f(df: &DataFrame, column: &str, row: usize) -> Option<f64> {
    match df.column(column).unwrap().get(row).unwrap() {
        AnyValue::Float64(v) => Some(v),
        AnyValue::Null => None,
        other => panic!("{column}: not a float: {other:?}"),
    }
}

fn u(df: &DataFrame, column: &str, row: usize) -> u64 {
    match df.column(column).unwrap().get(row).unwrap() {
        AnyValue::UInt32(v) => u64::from(v),
        other => panic!("{column}: not a u32 count: {other:?}"),
    }
}

fn s(df: &DataFrame, column: &str, row: usize) -> Option<String> {
    match df.column(column).unwrap().get(row).unwrap() {
        AnyValue::String(v) => Some(v.to_string()),
        AnyValue::StringOwned(v) => Some(v.to_string()),
        AnyValue::Null => None,
        other => panic!("{column}: not a string: {other:?}"),
    }
}

fn strings(df: &DataFrame, column: &str) -> Vec<Option<String>> {
    (0..df.height()).map(|r| s(df, column, r)).collect()
}

fn row_of(df: &DataFrame, column: &str, value: &str) -> usize {
    strings(df, column)
        .iter()
        .position(|v| v.as_deref() == Some(value))
        .unwrap_or_else(|| panic!("no row with {column} = {value}"))
}

fn close(actual: Option<f64>, expected: f64) {
    let a = actual.expect("a value, not null");
    assert!((a - expected).abs() < EPS, "{a} != {expected}");
}

fn millis(df: &DataFrame, column: &str, row: usize) -> Option<i64> {
    match df.column(column).unwrap().get(row).unwrap() {
        AnyValue::Datetime(v, TimeUnit::Milliseconds, _) => Some(v),
        AnyValue::DatetimeOwned(v, TimeUnit::Milliseconds, _) => Some(v),
        AnyValue::Null => None,
        other => panic!("{column}: not a datetime: {other:?}"),
    }
}

fn utc_millis(raw: &str) -> i64 {
    parse_created_at(raw).unwrap().and_utc().timestamp_millis()
}

/// Two articles; a1 has a small reply tree with an orphan, undated comments and mixed time
/// formats. Probabilities follow the labels so that means are easy to compute by hand.
fn thread() -> DataFrame {
    let stance = [
        "favor", "against", "against", "none", "favor", "favor", "none", "favor",
    ];
    let sentiment = [
        "positive", "negative", "negative", "neutral", "neutral", "positive", "neutral", "positive",
    ];
    let ironic = [false, true, false, false, false, false, false, false];
    let p = |labels: &[&str], want: &str, hit: f64, miss: f64| -> Vec<f64> {
        labels
            .iter()
            .map(|l| if *l == want { hit } else { miss })
            .collect()
    };
    df!(
        "comment_id" => ["c1", "c2", "c3", "c4", "c5", "c6", "d1", "d2"],
        "article_id" => ["a1", "a1", "a1", "a1", "a1", "a1", "a2", "a2"],
        "parent_id" => [None, Some("c1"), Some("c1"), Some("c2"), None, Some("c2"), None, Some("d1")],
        "missing_parent_id" => [None, None, None, None, Some("gone"), None, None, None::<&str>],
        "depth" => [0u32, 1, 1, 2, 0, 2, 0, 1],
        "author" => [Some("alice"), Some("bob"), Some("carol"), Some("alice"), None, Some("dave"), Some("bob"), Some("erin")],
        "created_at" => [
            Some("2024-01-01T10:00:00Z"),
            Some("2024-01-01T11:00:00+02:00"),
            Some("2024-01-02T08:00:00"),
            None,
            Some("garbage"),
            Some("2024-01-02T23:30:00-01:00"),
            Some("2024-02-01T00:00:00Z"),
            Some("2024-02-01T01:00:00Z"),
        ],
        "text" => ["t1", "t2", "t3", "t4", "t5", "t6", "u1", "u2"],
        "stance" => stance,
        "p_favor" => p(&stance, "favor", 0.7, 0.15),
        "p_against" => p(&stance, "against", 0.7, 0.15),
        "p_none" => p(&stance, "none", 0.7, 0.15),
        "sentiment" => sentiment,
        "p_negative" => p(&sentiment, "negative", 0.8, 0.1),
        "p_neutral" => p(&sentiment, "neutral", 0.8, 0.1),
        "p_positive" => p(&sentiment, "positive", 0.8, 0.1),
        "ironic" => ironic,
        "p_ironic" => ironic.iter().map(|b| if *b { 0.9 } else { 0.1 }).collect::<Vec<f64>>(),
        "toxic" => ironic,
        "p_toxic" => ironic.iter().map(|b| if *b { 0.6 } else { 0.2 }).collect::<Vec<f64>>(),
        "reply" => [None, Some("disagree"), Some("disagree"), Some("agree"), None, Some("disagree"), None, Some("agree")],
        "p_agree" => [None, Some(0.1), Some(0.2), Some(0.8), None, Some(0.1), None, Some(0.9)],
        "p_disagree" => [None, Some(0.8), Some(0.7), Some(0.1), None, Some(0.8), None, Some(0.05)],
        "p_none_reply" => [None, Some(0.1), Some(0.1), Some(0.1), None, Some(0.1), None, Some(0.05)],
    )
    .unwrap()
}

fn articles() -> DataFrame {
    df!(
        "article_id" => ["a1", "a2", "a3", "a1"],
        "title" => ["Tax reform", "Bike lanes", "Empty", "Duplicate"],
        "url" => [Some("https://example.org/a1"), None, None, None],
    )
    .unwrap()
}

fn run(comments: &DataFrame, articles: &DataFrame) -> Aggregates {
    aggregate(comments, articles, &AggregateOptions::default()).unwrap()
}

mod time_rule {
    use super::*;

    fn iso(raw: &str) -> Option<String> {
        parse_created_at(raw).map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3f").to_string())
    }

    #[test]
    fn offsets_become_utc_and_naive_times_stay_as_given() {
        assert_eq!(
            iso("2024-09-21T01:30:00+02:00").as_deref(),
            Some("2024-09-20T23:30:00.000")
        );
        assert_eq!(
            iso("2024-09-21T01:30:00Z").as_deref(),
            Some("2024-09-21T01:30:00.000")
        );
        assert_eq!(
            iso("2024-09-21T01:30:00.250").as_deref(),
            Some("2024-09-21T01:30:00.250")
        );
        assert_eq!(
            iso(" 2024-09-21 01:30 ").as_deref(),
            Some("2024-09-21T01:30:00.000")
        );
        assert_eq!(
            iso("2024-09-21").as_deref(),
            Some("2024-09-21T00:00:00.000")
        );
    }

    #[test]
    fn garbage_is_no_time() {
        for raw in [
            "",
            "yesterday",
            "2024-13-40T00:00:00",
            "21/09/2024",
            "2024-09-21T25:00:00Z",
        ] {
            assert_eq!(parse_created_at(raw), None, "{raw}");
        }
    }

    #[test]
    fn datetime_typed_created_at_is_read_by_its_instant() {
        let mut comments = df!(
            "comment_id" => ["x", "y"],
            "article_id" => ["a", "a"],
            "created_at" => [Some(utc_millis("2024-03-01T12:00:00Z")), None],
        )
        .unwrap();
        let zoned = comments
            .column("created_at")
            .unwrap()
            .cast(&DataType::Datetime(
                TimeUnit::Milliseconds,
                Some(TimeZone::UTC),
            ))
            .unwrap();
        comments.with_column(zoned).unwrap();
        let a = run(&comments, &DataFrame::empty());
        assert_eq!(
            millis(&a.threads, "first_comment_at", 0),
            Some(utc_millis("2024-03-01T12:00:00Z"))
        );
        assert_eq!(u(&a.threads, "n_undated", 0), 1);
        assert_eq!(a.daily.height(), 1);
    }
}

mod hand_made {
    use super::*;

    #[test]
    fn thread_counts_times_and_article_metadata() {
        let a = run(&thread(), &articles());
        let t = &a.threads;
        assert_eq!(
            strings(t, "article_id"),
            vec![Some("a1".into()), Some("a2".into()), Some("a3".into())]
        );
        assert_eq!(
            strings(t, "title"),
            vec![
                Some("Tax reform".into()),
                Some("Bike lanes".into()),
                Some("Empty".into())
            ]
        );
        assert_eq!(s(t, "url", 0).as_deref(), Some("https://example.org/a1"));
        let expected = [
            ("n_comments", [6, 2, 0]),
            ("n_authors", [4, 2, 0]),
            ("n_top_level", [2, 1, 0]),
            ("n_replies", [4, 1, 0]),
            ("n_orphans", [1, 0, 0]),
            ("n_undated", [2, 0, 0]),
            ("n_stance_labelled", [6, 2, 0]),
            ("n_reply_labelled", [4, 1, 0]),
        ];
        for (column, values) in expected {
            let got: Vec<u64> = (0..3).map(|r| u(t, column, r)).collect();
            assert_eq!(got, values, "{column}");
        }
        assert_eq!(u(t, "max_depth", 0), 2);
        assert_eq!(
            millis(t, "first_comment_at", 0),
            Some(utc_millis("2024-01-01T09:00:00Z"))
        );
        assert_eq!(
            millis(t, "last_comment_at", 0),
            Some(utc_millis("2024-01-03T00:30:00Z"))
        );
        assert_eq!(millis(t, "first_comment_at", 2), None);
    }

    #[test]
    fn stance_tone_and_reply_metrics_follow_their_definitions() {
        let a = run(&thread(), &articles());
        let t = &a.threads;
        close(f(t, "share_favor", 0), 3.0 / 6.0);
        close(f(t, "share_against", 0), 2.0 / 6.0);
        close(f(t, "share_none", 0), 1.0 / 6.0);
        close(f(t, "net_stance", 0), 1.0 / 6.0);
        // f + a − (f − a)² = 5/6 − 1/36
        close(f(t, "polarization", 0), 29.0 / 36.0);
        close(f(t, "mean_p_favor", 0), (3.0 * 0.7 + 3.0 * 0.15) / 6.0);
        for share in ["share_negative", "share_neutral", "share_positive"] {
            close(f(t, share, 0), 1.0 / 3.0);
        }
        close(f(t, "mean_polarity", 0), 0.0);
        close(f(t, "mean_polarity", 1), (0.0 + 0.7) / 2.0);
        close(f(t, "share_ironic", 0), 1.0 / 6.0);
        close(f(t, "mean_p_ironic", 0), (0.9 + 5.0 * 0.1) / 6.0);
        close(f(t, "share_toxic", 0), 1.0 / 6.0);
        close(f(t, "share_disagree", 0), 3.0 / 4.0);
        close(f(t, "share_agree", 0), 1.0 / 4.0);
        close(f(t, "share_none_reply", 0), 0.0);
        close(f(t, "mean_p_disagree", 0), (0.8 + 0.7 + 0.1 + 0.8) / 4.0);
        let volume = 6.0 / (6.0 + 20.0);
        close(f(t, "controversy", 0), volume * (29.0 / 36.0 + 0.75) / 2.0);
        // a2: one favor, one none: polarization = 1/2 − 1/4; one agreeing reply.
        close(f(t, "controversy", 1), 2.0 / 22.0 * (0.25 + 0.0) / 2.0);
        // The article without comments has no shares and no controversy.
        for column in [
            "share_favor",
            "polarization",
            "controversy",
            "share_disagree",
            "mean_polarity",
        ] {
            assert_eq!(f(t, column, 2), None, "{column}");
        }
    }

    #[test]
    fn most_contested_comments_rank_by_disagreeing_direct_replies() {
        let a = run(&thread(), &articles());
        let ids = a.threads.column("most_contested_ids").unwrap();
        let list = |row: usize| -> Vec<String> {
            match ids.get(row).unwrap() {
                AnyValue::List(s) => s
                    .str()
                    .unwrap()
                    .iter()
                    .map(|v| v.unwrap().to_string())
                    .collect(),
                other => panic!("not a list: {other:?}"),
            }
        };
        assert_eq!(list(0), vec!["c1", "c2"]);
        assert!(list(1).is_empty(), "a2 has only an agreeing reply");
        assert!(list(2).is_empty());
        let c = a.contested.as_ref().unwrap();
        assert_eq!(
            strings(c, "comment_id"),
            vec![Some("c1".into()), Some("c2".into())]
        );
        assert_eq!(
            (
                u(c, "rank", 0),
                u(c, "n_disagree_replies", 0),
                u(c, "n_direct_replies", 0)
            ),
            (1, 2, 2)
        );
        assert_eq!(
            (
                u(c, "rank", 1),
                u(c, "n_disagree_replies", 1),
                u(c, "n_direct_replies", 1)
            ),
            (2, 1, 2)
        );
    }

    #[test]
    fn contested_ties_are_broken_by_replies_then_id_and_cut_at_top() {
        // p1, p2, p3 each get one disagreeing reply; p3 also an agreeing one.
        let comments = df!(
            "comment_id" => ["p2", "p1", "p3", "r1", "r2", "r3", "r4"],
            "article_id" => ["a"; 7],
            "parent_id" => [None, None, None, Some("p1"), Some("p2"), Some("p3"), Some("p3")],
            "reply" => [None, None, None, Some("disagree"), Some("disagree"), Some("disagree"), Some("agree")],
        )
        .unwrap();
        let opts = AggregateOptions {
            top_contested: 2,
            ..AggregateOptions::default()
        };
        let a = aggregate(&comments, &DataFrame::empty(), &opts).unwrap();
        let c = a.contested.unwrap();
        assert_eq!(
            strings(&c, "comment_id"),
            vec![Some("p3".into()), Some("p1".into())]
        );
    }

    #[test]
    fn authors_cover_every_comment_with_an_author() {
        let a = run(&thread(), &articles());
        let au = &a.authors;
        assert_eq!(
            strings(au, "author"),
            ["alice", "bob", "carol", "dave", "erin"]
                .map(|x| Some(x.to_string()))
                .to_vec()
        );
        let bob = row_of(au, "author", "bob");
        assert_eq!(u(au, "n_comments", bob), 2);
        assert_eq!(u(au, "n_articles", bob), 2);
        assert_eq!(u(au, "n_replies_received", bob), 3);
        assert_eq!(u(au, "n_disagree_received", bob), 1);
        let alice = row_of(au, "author", "alice");
        assert_eq!(
            (
                u(au, "n_comments", alice),
                u(au, "n_replies", alice),
                u(au, "n_undated", alice)
            ),
            (2, 1, 1)
        );
        close(f(au, "share_favor", alice), 0.5);
        close(f(au, "share_none", alice), 0.5);
        assert_eq!(u(&a.overall, "n_anonymous", 0), 1);
    }

    #[test]
    fn daily_rows_use_the_utc_day_and_skip_undated_comments() {
        let a = run(&thread(), &articles());
        let d = &a.daily;
        let days: Vec<(String, String, u64)> = (0..d.height())
            .map(|r| {
                let day = match d.column("day").unwrap().get(r).unwrap() {
                    AnyValue::Date(days) => {
                        chrono::NaiveDate::from_num_days_from_ce_opt(days + 719_163)
                            .unwrap()
                            .to_string()
                    }
                    other => panic!("not a date: {other:?}"),
                };
                (s(d, "article_id", r).unwrap(), day, u(d, "n_comments", r))
            })
            .collect();
        assert_eq!(
            days,
            vec![
                ("a1".into(), "2024-01-01".into(), 2),
                ("a1".into(), "2024-01-02".into(), 1),
                ("a1".into(), "2024-01-03".into(), 1),
                ("a2".into(), "2024-02-01".into(), 2),
            ]
        );
        close(f(d, "share_against", 0), 0.5);
    }

    #[test]
    fn overall_row_sums_the_run() {
        let a = run(&thread(), &articles());
        let o = &a.overall;
        assert_eq!(o.height(), 1);
        assert_eq!(
            (
                u(o, "n_articles", 0),
                u(o, "n_comments", 0),
                u(o, "n_authors", 0)
            ),
            (3, 8, 5)
        );
        close(f(o, "share_favor", 0), 4.0 / 8.0);
        close(f(o, "share_disagree", 0), 3.0 / 5.0);
    }

    #[test]
    fn same_input_gives_identical_tables() {
        let first = run(&thread(), &articles());
        let second = run(&thread(), &articles());
        assert!(first.threads.equals_missing(&second.threads));
        assert!(first.authors.equals_missing(&second.authors));
        assert!(first.daily.equals_missing(&second.daily));
        assert!(first.overall.equals_missing(&second.overall));
    }
}

mod absent_inputs {
    use super::*;

    fn without(df: &DataFrame, prefixes: &[&str]) -> DataFrame {
        let keep: Vec<String> = df
            .get_column_names()
            .iter()
            .map(|n| n.to_string())
            .filter(|n| !prefixes.iter().any(|p| n == p))
            .collect();
        df.select(keep).unwrap()
    }

    #[test]
    fn a_missing_task_has_no_columns_and_the_rest_still_computes() {
        let stance_only = without(
            &thread(),
            &[
                "sentiment",
                "p_negative",
                "p_neutral",
                "p_positive",
                "ironic",
                "p_ironic",
                "toxic",
                "p_toxic",
                "reply",
                "p_agree",
                "p_disagree",
                "p_none_reply",
            ],
        );
        let a = run(&stance_only, &articles());
        assert_eq!(a.tasks, vec![Task::Stance]);
        assert!(a.contested.is_none());
        for table in [&a.threads, &a.authors, &a.daily, &a.overall] {
            for gone in [
                "share_negative",
                "mean_polarity",
                "share_ironic",
                "share_toxic",
                "share_disagree",
                "controversy",
                "most_contested_ids",
                "n_disagree_received",
            ] {
                assert!(table.column(gone).is_err(), "{gone} should be absent");
            }
        }
        close(f(&a.threads, "polarization", 0), 29.0 / 36.0);
    }

    #[test]
    fn no_task_no_parent_no_author_no_time_still_counts() {
        let comments =
            df!("comment_id" => ["x", "y", "z"], "article_id" => ["b", "a", "b"]).unwrap();
        let a = run(&comments, &DataFrame::empty());
        assert!(a.tasks.is_empty());
        assert_eq!(
            strings(&a.threads, "article_id"),
            vec![Some("a".into()), Some("b".into())]
        );
        assert_eq!(
            (
                u(&a.threads, "n_comments", 1),
                u(&a.threads, "n_orphans", 1),
                u(&a.threads, "n_undated", 1)
            ),
            (2, 0, 2)
        );
        assert!(a.threads.column("max_depth").is_err());
        assert_eq!(a.authors.height(), 0);
        assert_eq!(a.daily.height(), 0);
    }

    #[test]
    fn empty_comments_give_empty_tables_and_zero_overall() {
        let comments = thread().head(Some(0));
        let a = run(&comments, &DataFrame::empty());
        assert_eq!(
            (a.threads.height(), a.authors.height(), a.daily.height()),
            (0, 0, 0)
        );
        assert_eq!(u(&a.overall, "n_comments", 0), 0);
        assert_eq!(f(&a.overall, "share_favor", 0), None);
    }

    #[test]
    fn probability_columns_are_optional() {
        let labels_only = without(&thread(), &["p_favor", "p_against", "p_none", "p_positive"]);
        let a = run(&labels_only, &articles());
        assert!(a.threads.column("mean_p_favor").is_err());
        assert!(
            a.threads.column("mean_polarity").is_err(),
            "needs p_positive and p_negative"
        );
        assert!(a.threads.column("mean_p_negative").is_ok());
        close(f(&a.threads, "share_favor", 0), 0.5);
    }
}

mod errors {
    use super::*;

    #[test]
    fn unknown_label_is_refused_with_its_column_and_value() {
        let comments =
            df!("comment_id" => ["x"], "article_id" => ["a"], "stance" => ["pro"]).unwrap();
        match aggregate(&comments, &DataFrame::empty(), &AggregateOptions::default()) {
            Err(AggregateError::UnknownLabel { column, value, .. }) => {
                assert_eq!((column.as_str(), value.as_str()), ("stance", "pro"))
            }
            other => panic!("expected UnknownLabel, got {other:?}"),
        }
    }

    #[test]
    fn missing_ids_and_wrong_types_are_errors_not_panics() {
        let no_article = df!("comment_id" => ["x"]).unwrap();
        assert!(matches!(
            aggregate(&no_article, &DataFrame::empty(), &AggregateOptions::default()),
            Err(AggregateError::MissingColumn { column, .. }) if column == "article_id"
        ));
        let bad_flag =
            df!("comment_id" => ["x"], "article_id" => ["a"], "toxic" => ["yes"]).unwrap();
        assert!(matches!(
            aggregate(&bad_flag, &DataFrame::empty(), &AggregateOptions::default()),
            Err(AggregateError::ColumnType { column, .. }) if column == "toxic"
        ));
        let bad_time =
            df!("comment_id" => ["x"], "article_id" => ["a"], "created_at" => [1.5f64]).unwrap();
        assert!(matches!(
            aggregate(&bad_time, &DataFrame::empty(), &AggregateOptions::default()),
            Err(AggregateError::ColumnType { column, .. }) if column == "created_at"
        ));
        let articles_without_id = df!("title" => ["t"]).unwrap();
        assert!(matches!(
            aggregate(
                &thread(),
                &articles_without_id,
                &AggregateOptions::default()
            ),
            Err(AggregateError::MissingColumn {
                table: "articles",
                ..
            })
        ));
        let bad_opts = AggregateOptions {
            controversy_half_volume: 0.0,
            ..AggregateOptions::default()
        };
        assert!(matches!(
            aggregate(&thread(), &articles(), &bad_opts),
            Err(AggregateError::Option(_))
        ));
    }
}

mod definitions {
    use super::*;

    #[test]
    fn every_output_column_is_defined_for_its_table_and_names_are_unique() {
        let a = run(&thread(), &articles());
        let tables = [
            (Table::Threads, &a.threads),
            (Table::Authors, &a.authors),
            (Table::Daily, &a.daily),
            (Table::Overall, &a.overall),
            (Table::Contested, a.contested.as_ref().unwrap()),
        ];
        for (table, df) in tables {
            for name in df.get_column_names() {
                let metric = METRICS.iter().find(|m| m.name == name.as_str());
                let metric = metric
                    .unwrap_or_else(|| panic!("{name} in {} has no definition", table.name()));
                assert!(
                    metric.tables.contains(&table),
                    "{name} is not documented for {}",
                    table.name()
                );
                assert!(metric.definition.len() > 10);
            }
        }
        let mut names: Vec<&str> = METRICS.iter().map(|m| m.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "duplicate metric names");
    }

    #[test]
    fn with_every_task_present_every_documented_metric_appears() {
        let a = run(&thread(), &articles());
        let tables = [
            (Table::Threads, &a.threads),
            (Table::Authors, &a.authors),
            (Table::Daily, &a.daily),
            (Table::Overall, &a.overall),
            (Table::Contested, a.contested.as_ref().unwrap()),
        ];
        for (table, df) in tables {
            for m in METRICS.iter().filter(|m| m.tables.contains(&table)) {
                // Article metadata the test articles table does not carry.
                if ["target", "lang", "published"].contains(&m.name) {
                    continue;
                }
                assert!(
                    df.column(m.name).is_ok(),
                    "{} missing from {}",
                    m.name,
                    table.name()
                );
            }
        }
    }
}

mod invariants {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    struct Row {
        article: usize,
        parent: Option<usize>,
        orphan: bool,
        author: Option<usize>,
        time: usize,
        stance: Option<usize>,
        sentiment: Option<usize>,
        flag: Option<bool>,
        reply: Option<usize>,
    }

    fn row() -> impl Strategy<Value = Row> {
        (
            0..4usize,
            proptest::option::of(0..40usize),
            proptest::bool::weighted(0.1),
            proptest::option::of(0..6usize),
            0..6usize,
            proptest::option::weighted(0.9, 0..3usize),
            proptest::option::weighted(0.9, 0..3usize),
            proptest::option::weighted(0.9, any::<bool>()),
            proptest::option::weighted(0.8, 0..3usize),
        )
            .prop_map(
                |(article, parent, orphan, author, time, stance, sentiment, flag, reply)| Row {
                    article,
                    parent,
                    orphan,
                    author,
                    time,
                    stance,
                    sentiment,
                    flag,
                    reply,
                },
            )
    }

    const TIMES: [Option<&str>; 6] = [
        Some("2024-05-01T23:59:00+00:00"),
        Some("2024-05-02T00:30:00+02:00"),
        Some("2024-05-02T12:00:00"),
        Some("2024-05-03"),
        Some("not a time"),
        None,
    ];

    fn frame(rows: &[Row], tasks: u8) -> DataFrame {
        let ids: Vec<String> = (0..rows.len()).map(|i| format!("c{i:03}")).collect();
        let article = |r: &Row| format!("a{}", r.article);
        let mut columns = vec![
            Column::new("comment_id".into(), ids.clone()),
            Column::new(
                "article_id".into(),
                rows.iter().map(article).collect::<Vec<_>>(),
            ),
            Column::new(
                "parent_id".into(),
                rows.iter()
                    .enumerate()
                    .map(|(i, r)| {
                        r.parent
                            .filter(|p| *p < i && !r.orphan)
                            .map(|p| format!("c{p:03}"))
                    })
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "missing_parent_id".into(),
                rows.iter()
                    .map(|r| r.orphan.then_some("gone"))
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "author".into(),
                rows.iter()
                    .map(|r| r.author.map(|a| format!("u{a}")))
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "created_at".into(),
                rows.iter().map(|r| TIMES[r.time]).collect::<Vec<_>>(),
            ),
        ];
        let pick = |labels: [&'static str; 3], v: Option<usize>| v.map(|i| labels[i]);
        if tasks & 1 != 0 {
            columns.push(Column::new(
                "stance".into(),
                rows.iter()
                    .map(|r| pick(["favor", "against", "none"], r.stance))
                    .collect::<Vec<_>>(),
            ));
        }
        if tasks & 2 != 0 {
            columns.push(Column::new(
                "sentiment".into(),
                rows.iter()
                    .map(|r| pick(["negative", "neutral", "positive"], r.sentiment))
                    .collect::<Vec<_>>(),
            ));
        }
        if tasks & 4 != 0 {
            columns.push(Column::new(
                "ironic".into(),
                rows.iter().map(|r| r.flag).collect::<Vec<_>>(),
            ));
        }
        if tasks & 8 != 0 {
            columns.push(Column::new(
                "reply".into(),
                rows.iter()
                    .map(|r| pick(["agree", "disagree", "none"], r.reply))
                    .collect::<Vec<_>>(),
            ));
        }
        DataFrame::new_infer_height(columns).unwrap()
    }

    fn total(df: &DataFrame, column: &str) -> u64 {
        (0..df.height()).map(|r| u(df, column, r)).sum()
    }

    fn is_sorted(values: &[Option<String>]) -> bool {
        values.windows(2).all(|w| w[0] <= w[1])
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn counts_shares_and_order_hold_on_random_tables(rows in proptest::collection::vec(row(), 0..40), tasks in 0u8..16) {
            let comments = frame(&rows, tasks);
            let a = aggregate(&comments, &DataFrame::empty(), &AggregateOptions::default()).unwrap();
            let n = rows.len() as u64;
            // Every comment counts once: per thread, per day (+ undated), per author (+ anonymous).
            prop_assert_eq!(total(&a.threads, "n_comments"), n);
            prop_assert_eq!(total(&a.daily, "n_comments") + total(&a.threads, "n_undated"), n);
            prop_assert_eq!(total(&a.authors, "n_comments") + u(&a.overall, "n_anonymous", 0), n);
            prop_assert_eq!(u(&a.overall, "n_comments", 0), n);
            prop_assert_eq!(total(&a.threads, "n_orphans"), rows.iter().filter(|r| r.orphan).count() as u64);
            let articles: std::collections::BTreeSet<usize> = rows.iter().map(|r| r.article).collect();
            prop_assert_eq!(a.threads.height(), articles.len());
            // Shares of each task sum to 1 wherever it labelled something.
            let groups = [
                ("share_favor", ["share_favor", "share_against", "share_none"], "n_stance_labelled"),
                ("share_negative", ["share_negative", "share_neutral", "share_positive"], "n_sentiment_labelled"),
                ("share_agree", ["share_agree", "share_disagree", "share_none_reply"], "n_reply_labelled"),
            ];
            for df in [&a.threads, &a.authors, &a.daily, &a.overall] {
                for (probe, shares, n_col) in groups {
                    if df.column(probe).is_err() {
                        continue;
                    }
                    for r in 0..df.height() {
                        let sum: Option<f64> = shares.iter().map(|c| f(df, c, r)).sum();
                        match sum {
                            Some(sum) => prop_assert!((sum - 1.0).abs() < 1e-9, "{probe} row {r}: {sum}"),
                            None => prop_assert_eq!(u(df, n_col, r), 0),
                        }
                    }
                }
                if df.column("polarization").is_ok() {
                    for r in 0..df.height() {
                        if let Some(p) = f(df, "polarization", r) {
                            prop_assert!((-1e-12..=1.0 + 1e-12).contains(&p));
                        }
                    }
                }
            }
            if let Ok(c) = a.threads.column("controversy") {
                for r in 0..c.len() {
                    if let Some(v) = f(&a.threads, "controversy", r) {
                        prop_assert!((0.0..1.0).contains(&v));
                    }
                }
            }
            prop_assert!(is_sorted(&strings(&a.threads, "article_id")));
            prop_assert!(is_sorted(&strings(&a.authors, "author")));
            prop_assert_eq!(a.tasks.contains(&Task::Reply), tasks & 8 != 0);
        }
    }
}

mod definitions_table {
    use stance_aggregate::{definition, definitions_markdown, METRICS};

    #[test]
    fn markdown_table_has_one_row_per_metric_with_its_exact_text() {
        let md = definitions_markdown();
        assert_eq!(md.lines().count(), METRICS.len() + 2);
        let polarization = md
            .lines()
            .find(|l| l.starts_with("| `polarization` |"))
            .unwrap();
        assert!(polarization.contains("threads, authors, daily, overall"));
        // The pipes of `|f − a|` are escaped so the table keeps its columns.
        assert!(polarization.contains("\\|f − a\\|"));
        assert_eq!(definition("net_stance"), Some("`share_favor − share_against`, in [−1, 1]: positive when the group leans in favour of the target."));
    }
}

/// The README's metric table is this crate's definitions, verbatim: one definition, cited
/// everywhere. (Regenerate it with `STANCE_PRINT_DEFINITIONS=1 cargo test --release -p
/// stance-aggregate readme -- --nocapture`.)
#[test]
fn readme_states_the_metric_definitions_verbatim() {
    let md = stance_aggregate::definitions_markdown();
    if std::env::var_os("STANCE_PRINT_DEFINITIONS").is_some() {
        println!("{md}");
    }
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    assert!(readme.contains(md.trim_end()), "README.md's metric table is out of date");
}
