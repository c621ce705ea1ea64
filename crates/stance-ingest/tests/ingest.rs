//! Ingest on small real-shaped samples of every format, on every kind of bad input, and on the
//! shared seed page and bench archive.

use serde_json::{json, Value};
use stance_core::{Reject, Severity};
use stance_ingest::{
    read_inputs, write_ingested, FieldMap, IngestOptions, Ingested, InputFormat, InputSpec,
    OutputFormat,
};
use std::path::{Path, PathBuf};

mod common;
use common::counts_add_up;

fn shared(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .join(rel)
}

fn ingest_with(name: &str, data: &[u8], options: &IngestOptions) -> Ingested {
    read_inputs(&[InputSpec::memory(name, data)], options).expect("ingest")
}

fn ingest(name: &str, data: &str) -> Ingested {
    ingest_with(name, data.as_bytes(), &IngestOptions::default())
}

fn comment_ids(ing: &Ingested) -> Vec<&str> {
    ing.comments.iter().map(|c| c.comment_id.as_str()).collect()
}

fn errors(ing: &Ingested) -> Vec<&Reject> {
    ing.rejects
        .iter()
        .filter(|r| r.severity == Severity::Error)
        .collect()
}

/// The one reject of a run, checked for line, field, severity and a word of its reason.
fn only_reject<'a>(
    ing: &'a Ingested,
    line: u64,
    field: Option<&str>,
    severity: Severity,
    reason_has: &str,
) -> &'a Reject {
    assert_eq!(ing.rejects.len(), 1, "rejects: {:#?}", ing.rejects);
    let r = &ing.rejects[0];
    assert_eq!(
        (r.line, r.field.as_deref(), r.severity),
        (line, field, severity),
        "{r:?}"
    );
    assert!(
        r.reason.contains(reason_has),
        "reason `{}` lacks `{reason_has}`",
        r.reason
    );
    r
}

mod seed_page {
    use super::*;

    fn read_jsonl(path: &Path) -> Vec<Value> {
        std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .lines()
            .map(|l| serde_json::from_str(l).expect("json line"))
            .collect()
    }

    #[test]
    fn les_crises_page_reproduces_expected_field_by_field() {
        let dir = shared("data/threads/les-crises-durov");
        let ingested = read_inputs(
            &[InputSpec::path(dir.join("page.txt"))],
            &IngestOptions::default(),
        )
        .unwrap();
        assert!(errors(&ingested).is_empty(), "{:#?}", ingested.rejects);
        let out = tempfile::tempdir().unwrap();
        write_ingested(&ingested, out.path(), OutputFormat::Jsonl).unwrap();

        let expected: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("expected/article.json")).unwrap(),
        )
        .unwrap();
        let articles = read_jsonl(&out.path().join("articles.jsonl"));
        assert_eq!(articles.len(), 1);
        let (got, want) = (
            articles[0].as_object().unwrap(),
            expected.as_object().unwrap(),
        );
        for (key, value) in want {
            assert_eq!(got.get(key), Some(value), "article field `{key}`");
        }
        let mut got_keys: Vec<&String> = got.keys().collect();
        let mut want_keys: Vec<&String> = want.keys().collect();
        got_keys.sort();
        want_keys.sort();
        assert_eq!(got_keys, want_keys, "article fields");

        let want_comments = read_jsonl(&dir.join("expected/comments.jsonl"));
        let got_comments = read_jsonl(&out.path().join("comments.jsonl"));
        assert_eq!(got_comments.len(), want_comments.len());
        for (got, want) in got_comments.iter().zip(&want_comments) {
            let id = &want["comment_id"];
            for (key, value) in want.as_object().unwrap() {
                assert_eq!(got.get(key), Some(value), "comment {id} field `{key}`");
            }
            let extra: Vec<&String> = got
                .as_object()
                .unwrap()
                .keys()
                .filter(|k| !want.get(k.as_str()).is_some())
                .collect();
            assert_eq!(extra, vec!["root_id"], "comment {id}: unexpected fields");
        }
    }
}

mod tables {
    use super::*;

    const COMMENTS: &str = concat!(
        r#"{"comment_id":"1","article_id":"a1","parent_id":null,"author":"ann","created_at":"2024-05-01T10:00:00+02:00","text":"I fully agree with the council's decision to close the road on weekends.","score":3,"flair":{"badge":"gold"}}"#,
        "\n",
        r#"{"comment_id":"2","article_id":"a1","parent_id":"1","author":"bob","created_at":"2024-05-01 10:05","text":"Not me, closing the road will only move the traffic to our street.","score":-1}"#,
        "\n\n",
        r#"{"comment_id":3,"article_id":"a1","parent_id":"2","depth":7,"root_id":"zzz","created_at":1714557600,"text":"Les commerçants du centre-ville ne sont pas du tout d'accord avec cette décision."}"#,
        "\n",
    );

    #[test]
    fn jsonl_comments_are_linked_typed_and_keep_extra_columns() {
        let ing = ingest("comments.jsonl", COMMENTS);
        assert!(ing.rejects.is_empty(), "{:#?}", ing.rejects);
        assert_eq!(comment_ids(&ing), ["1", "2", "3"]);
        let c = &ing.comments;
        assert_eq!((c[1].depth, c[1].root_id.as_str()), (1, "1"));
        assert_eq!(
            (c[2].depth, c[2].root_id.as_str()),
            (2, "1"),
            "input depth/root_id are recomputed"
        );
        assert_eq!(
            c[0].created_at.as_deref(),
            Some("2024-05-01T10:00:00+02:00")
        );
        assert_eq!(c[1].created_at.as_deref(), Some("2024-05-01T10:05:00"));
        assert_eq!(c[2].created_at.as_deref(), Some("2024-05-01T10:00:00Z"));
        assert_eq!(c[0].extra["score"], json!(3));
        assert_eq!(c[0].extra["flair"], json!({"badge": "gold"}));
        assert!(!c[2].extra.contains_key("depth") && !c[2].extra.contains_key("root_id"));
        assert_eq!(c[0].lang.as_deref(), Some("en"));
        assert_eq!(c[2].lang.as_deref(), Some("fr"));
        // No articles table: the referenced article is a placeholder.
        assert_eq!(ing.articles.len(), 1);
        assert_eq!(
            (
                ing.articles[0].article_id.as_str(),
                ing.summary.placeholder_articles
            ),
            ("a1", 1)
        );
        counts_add_up(&ing);
    }

    #[test]
    fn articles_and_comments_from_two_inputs() {
        let articles = r#"{"article_id":"a1","title":"Council closes the high street to cars on weekends","text":"From June, the high street will be closed to cars every weekend.","section":"local"}"#;
        let ing = read_inputs(
            &[
                InputSpec::memory("articles.jsonl", articles.as_bytes()),
                InputSpec::memory("comments.jsonl", COMMENTS.as_bytes()),
            ],
            &IngestOptions::default(),
        )
        .unwrap();
        assert_eq!(ing.articles.len(), 1);
        let a = &ing.articles[0];
        assert_eq!(
            (a.article_id.as_str(), a.target(), a.lang.as_deref()),
            ("a1", a.title.as_str(), Some("en"))
        );
        assert_eq!(a.extra["section"], "local");
        assert_eq!(ing.summary.placeholder_articles, 0);
        assert_eq!(ing.summary.files, 2);
    }

    #[test]
    fn csv_with_quotes_multiline_fields_crlf_and_bom_keeps_exact_lines() {
        let csv = "\u{feff}comment_id,article_id,parent_id,author,text,likes\r\n\
                   c1,a1,,ann,\"First line,\r\nsecond line with \"\"quotes\"\"\",4\r\n\
                   c2,a1,c1,bob,plain reply,0\r\n\
                   c3,a1,,cy,,2\r\n";
        let ing = ingest("thread.csv", csv);
        assert_eq!(comment_ids(&ing), ["c1", "c2"]);
        assert_eq!(
            ing.comments[0].text,
            "First line,\nsecond line with \"quotes\""
        );
        assert_eq!(ing.comments[0].extra["likes"], "4");
        assert_eq!(ing.comments[1].parent_id.as_deref(), Some("c1"));
        // c3 starts on physical line 5 (the quoted field spans lines 2-3).
        only_reject(&ing, 5, Some("text"), Severity::Error, "no text");
    }

    #[test]
    fn map_renames_columns_and_unknown_columns_survive() {
        let csv = "id,post,body,user,time,likes,text\n\
                   9,p1,Great reporting on the flooding in the valley.,eve,2024-03-02 08:00,12,old\n";
        let options = IngestOptions {
            field_map: FieldMap::parse(&[
                "comment_id=id",
                "article_id=post",
                "text=body",
                "comment.author=user",
                "created_at=time",
            ])
            .unwrap(),
            ..IngestOptions::default()
        };
        let ing = ingest_with("export.csv", csv.as_bytes(), &options);
        assert!(ing.rejects.is_empty(), "{:#?}", ing.rejects);
        let c = &ing.comments[0];
        assert_eq!(
            (
                c.comment_id.as_str(),
                c.article_id.as_str(),
                c.author.as_deref()
            ),
            ("9", "p1", Some("eve"))
        );
        assert_eq!(c.text, "Great reporting on the flooding in the valley.");
        assert_eq!(c.created_at.as_deref(), Some("2024-03-02T08:00:00"));
        assert_eq!(c.extra["likes"], "12");
        // A `text` column that --map did not take is kept under another name.
        assert_eq!(c.extra["input_text"], "old");
    }

    /// A table that lacks a column every comment needs: each row is rejected with a reason that
    /// names the table's columns and the `--map` that fixes it (not a bare "no id"), and the
    /// summary shows it with its count.
    #[test]
    fn a_table_without_an_id_or_text_column_says_which_map_fixes_it() {
        let csv = "msg_id,body,user\n1,Bravo pour cet article.,alice\n2,N'importe quoi.,bob\n";
        let ing = ingest("export.csv", csv);
        assert!(ing.comments.is_empty());
        let rejected = errors(&ing);
        assert_eq!(rejected.len(), 2, "{rejected:#?}");
        for (r, line) in rejected.iter().zip([2, 3]) {
            assert_eq!((r.line, r.field.as_deref()), (line, Some("comment_id")), "{r:?}");
            assert!(r.reason.contains("no `comment_id` or `text` column"), "{}", r.reason);
            assert!(r.reason.contains("its columns: msg_id, body, user"), "{}", r.reason);
            assert!(r.reason.contains("--map comment_id=COLUMN --map text=COLUMN"), "{}", r.reason);
        }
        let common = &ing.summary.common_rejects;
        assert_eq!(common.len(), 1, "{common:#?}");
        assert_eq!((common[0].count, common[0].first_line), (2, 2));
        let shown = ing.summary.to_string();
        assert!(shown.contains("rejected 2 × `comment_id`: the table of comments has no"), "{shown}");

        // Mapping the id alone leaves the text: the reason names only what is still missing.
        let options = IngestOptions {
            field_map: FieldMap::parse(&["comment_id=msg_id"]).unwrap(),
            ..IngestOptions::default()
        };
        let ing = ingest_with("export.csv", csv.as_bytes(), &options);
        let r = errors(&ing)[0];
        assert_eq!(r.field.as_deref(), Some("text"));
        assert!(r.reason.contains("no `text` column"), "{}", r.reason);
        assert!(r.reason.contains("name it with `--map text=COLUMN`"), "{}", r.reason);

        // Both mapped: every row kept.
        let options = IngestOptions {
            field_map: FieldMap::parse(&["comment_id=msg_id", "text=body"]).unwrap(),
            ..IngestOptions::default()
        };
        let ing = ingest_with("export.csv", csv.as_bytes(), &options);
        assert!(ing.rejects.is_empty(), "{:#?}", ing.rejects);
        assert_eq!(comment_ids(&ing), ["1", "2"]);
        assert!(ing.summary.common_rejects.is_empty());
    }

    #[test]
    fn tsv_comments_without_article_id_take_the_file_name() {
        let tsv = "comment_id\tparent_id\ttext\n1\t\tFirst!\n2\t1\tSecond, with a comma\n";
        let ing = ingest("dumps/lemonde-2024.tsv", tsv);
        assert!(ing.rejects.is_empty(), "{:#?}", ing.rejects);
        assert!(ing.comments.iter().all(|c| c.article_id == "lemonde-2024"));
        assert_eq!(ing.comments[1].text, "Second, with a comma");
        assert_eq!(ing.articles[0].article_id, "lemonde-2024");
    }

    #[test]
    fn csv_articles_table_is_recognised_by_its_columns() {
        let csv = "article_id,title,url,published\nx1,Budget vote delayed again,https://example.org/x1,2024-06-01\n";
        let ing = ingest("data.csv", csv);
        assert!(ing.comments.is_empty());
        let a = &ing.articles[0];
        assert_eq!(
            (a.url.as_deref(), a.published.as_deref()),
            (Some("https://example.org/x1"), Some("2024-06-01"))
        );
    }

    #[test]
    fn gzip_and_zstd_inputs_read_like_plain_ones() {
        use std::io::Write;
        let plain = ingest("c.jsonl", COMMENTS);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(COMMENTS.as_bytes()).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::encode_all(COMMENTS.as_bytes(), 3).unwrap();
        for (name, data) in [
            ("c.jsonl.gz", gz),
            ("c.jsonl.zst", zst.clone()),
            ("no-extension", zst),
        ] {
            let ing = ingest_with(name, &data, &IngestOptions::default());
            assert_eq!(ing.comments, plain.comments, "{name}");
        }
    }

    #[test]
    fn truncated_gzip_keeps_the_records_before_the_cut() {
        use std::io::Write;
        let mut big = String::new();
        for i in 0..2000 {
            big.push_str(&format!(
                "{{\"comment_id\":\"{i}\",\"article_id\":\"a\",\"text\":\"comment number {i}\"}}\n"
            ));
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(big.as_bytes()).unwrap();
        let gz = gz.finish().unwrap();
        let cut = &gz[..gz.len() / 2];
        let ing = ingest_with("c.jsonl.gz", cut, &IngestOptions::default());
        assert!(ing.comments.len() > 100, "{}", ing.comments.len());
        let err = errors(&ing);
        assert_eq!(err.len(), 1, "{err:#?}");
        assert!(err[0].reason.contains("unreadable"), "{}", err[0].reason);
    }
}

mod parquet {
    use super::*;
    use polars::prelude::*;

    fn parquet_bytes(df: &mut DataFrame) -> Vec<u8> {
        let mut out = Vec::new();
        ParquetWriter::new(&mut out).finish(df).unwrap();
        out
    }

    #[test]
    fn parquet_rows_become_comments_with_typed_extras() {
        let mut df = df!(
            "comment_id" => ["p1", "p2", "p3"],
            "article_id" => ["a", "a", "a"],
            "parent_id" => [None, Some("p1"), Some("p1")],
            "text" => ["Une décision courageuse du conseil municipal, enfin.", "", "Je ne partage pas du tout cet avis."],
            "created_at" => ["2024-01-01T08:00:00Z", "2024-01-01T09:00:00Z", "not a date"],
            "likes" => [3i64, 0, 7],
        )
        .unwrap();
        let ing = ingest_with(
            "c.parquet",
            &parquet_bytes(&mut df),
            &IngestOptions::default(),
        );
        assert_eq!(comment_ids(&ing), ["p1", "p3"]);
        assert_eq!(ing.comments[1].extra["likes"], json!(7));
        assert_eq!(ing.comments[1].created_at, None);
        let rejects: Vec<(u64, Option<&str>, Severity)> = ing
            .rejects
            .iter()
            .map(|r| (r.line, r.field.as_deref(), r.severity))
            .collect();
        assert_eq!(
            rejects,
            vec![
                (2, Some("text"), Severity::Error),
                (3, Some("created_at"), Severity::Warning)
            ]
        );
    }

    #[test]
    fn parquet_output_round_trips_extras_and_mixed_columns_become_json() {
        let jsonl = concat!(
            r#"{"comment_id":"1","article_id":"a","text":"First comment here, a long enough one.","n":1,"mixed":"x","flag":true}"#,
            "\n",
            r#"{"comment_id":"2","article_id":"a","parent_id":"1","text":"A reply to the first comment.","n":2,"mixed":[1,2]}"#,
            "\n"
        );
        let ing = ingest("c.jsonl", jsonl);
        let out = tempfile::tempdir().unwrap();
        let files = write_ingested(&ing, out.path(), OutputFormat::Parquet).unwrap();
        assert!(
            files.comments.ends_with("comments.parquet")
                && files.rejects.ends_with("rejects.jsonl")
        );
        let file = std::fs::File::open(&files.comments).unwrap();
        let df = ParquetReader::new(file).finish().unwrap();
        assert_eq!(df.height(), 2);
        assert_eq!(df.column("depth").unwrap().u32().unwrap().get(1), Some(1));
        assert_eq!(df.column("n").unwrap().i64().unwrap().get(1), Some(2));
        assert_eq!(
            df.column("flag").unwrap().bool().unwrap().get(0),
            Some(true)
        );
        let mixed = df.column("mixed").unwrap().str().unwrap();
        assert_eq!((mixed.get(0), mixed.get(1)), (Some("\"x\""), Some("[1,2]")));
        // And the written file reads back as an input.
        let again = read_inputs(
            &[InputSpec::path(&files.comments)],
            &IngestOptions::default(),
        )
        .unwrap();
        assert_eq!(comment_ids(&again), ["1", "2"]);
        assert_eq!(again.comments[1].depth, 1);
        assert!(out.path().join("articles.parquet").exists());
        let leftovers: Vec<_> = std::fs::read_dir(out.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn garbage_after_parquet_magic_is_one_reject() {
        let ing = ingest_with(
            "broken.parquet",
            b"PAR1 this is not parquet PAR1",
            &IngestOptions::default(),
        );
        assert!(ing.comments.is_empty());
        only_reject(&ing, 0, None, Severity::Error, "Parquet");
    }
}

mod reddit {
    use super::*;

    const DUMP: &str = concat!(
        r#"{"id":"1abcde","name":"t3_1abcde","title":"City approves new bike lanes downtown","selftext":"","url":"https://news.example/bikes","created_utc":1717243200,"author":"op","subreddit":"cityplanning","score":120}"#,
        "\n",
        r#"{"id":"k1","parent_id":"t3_1abcde","link_id":"t3_1abcde","body":"Finally! This should have happened years ago.","author":"u1","created_utc":1717246800,"score":15,"subreddit":"cityplanning"}"#,
        "\n",
        r#"{"id":"k2","parent_id":"t1_k1","link_id":"t3_1abcde","body":"Years ago there was no budget for it.","author":"u2","created_utc":"1717250400","score":4}"#,
        "\n",
        r#"{"id":"k3","parent_id":"t1_gone","link_id":"t3_1abcde","body":"[deleted]","author":"[deleted]","created_utc":1717254000}"#,
        "\n",
    );

    #[test]
    fn submissions_become_articles_and_prefixes_are_stripped() {
        let ing = ingest("RC_2024-06.jsonl", DUMP);
        assert_eq!(ing.articles.len(), 1);
        let a = &ing.articles[0];
        assert_eq!(
            (a.article_id.as_str(), a.title.as_str()),
            ("1abcde", "City approves new bike lanes downtown")
        );
        assert_eq!(
            (a.url.as_deref(), a.published.as_deref()),
            (
                Some("https://news.example/bikes"),
                Some("2024-06-01T12:00:00Z")
            )
        );
        assert_eq!(a.extra["subreddit"], "cityplanning");
        let c = &ing.comments;
        assert_eq!(comment_ids(&ing), ["k1", "k2", "k3"]);
        assert!(c.iter().all(|c| c.article_id == "1abcde"));
        assert_eq!((c[0].parent_id.as_deref(), c[0].depth), (None, 0));
        assert_eq!(
            (c[1].parent_id.as_deref(), c[1].depth, c[1].root_id.as_str()),
            (Some("k1"), 1, "k1")
        );
        assert_eq!(c[1].created_at.as_deref(), Some("2024-06-01T14:00:00Z"));
        assert_eq!(c[0].extra["score"], json!(15));
        // Its parent is not in the dump: kept at top level, reported as an orphan.
        assert_eq!(
            (
                c[2].parent_id.as_deref(),
                c[2].extra["missing_parent_id"].as_str()
            ),
            (None, Some("gone"))
        );
        only_reject(&ing, 4, Some("parent_id"), Severity::Warning, "orphan");
        assert_eq!(ing.summary.orphans, 1);
    }

    #[test]
    fn detected_from_content_even_with_a_plain_extension() {
        let ing = ingest("dump.json", DUMP);
        assert_eq!(ing.articles[0].article_id, "1abcde");
        // --format jsonl reads the same lines as a plain table instead.
        let plain = read_inputs(
            &[InputSpec::memory("dump.json", DUMP.as_bytes())
                .with_format(Some(InputFormat::Jsonl))],
            &IngestOptions::default(),
        )
        .unwrap();
        assert!(plain
            .comments
            .iter()
            .all(|c| c.comment_id.is_empty() || c.article_id == "dump"));
    }
}

mod disqus {
    use super::*;

    const EXPORT: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<disqus xmlns="http://disqus.com" xmlns:dsq="http://disqus.com/disqus-internals">
  <category dsq:id="1"><forum>myblog</forum><title>General</title><isDefault>true</isDefault></category>
  <thread dsq:id="7001">
    <id>post-42</id>
    <forum>myblog</forum>
    <category dsq:id="1"/>
    <link>https://blog.example/2024/05/rent-control</link>
    <title>Rent control is back on the agenda</title>
    <message><![CDATA[<p>The city council will vote on rent control in June.</p>]]></message>
    <createdAt>2024-05-02T07:30:00Z</createdAt>
    <author><email>editor@blog.example</email><name>Editor</name><isAnonymous>false</isAnonymous></author>
    <isClosed>false</isClosed>
    <isDeleted>false</isDeleted>
  </thread>
  <post dsq:id="9001">
    <id />
    <message><![CDATA[<p>Rent control never worked anywhere &amp; it won't work here.</p><p>Build more homes instead.</p>]]></message>
    <createdAt>2024-05-02T08:00:00Z</createdAt>
    <isDeleted>false</isDeleted>
    <isSpam>false</isSpam>
    <author><email>a@x.example</email><name>Alice</name><isAnonymous>false</isAnonymous><username>alice_k</username></author>
    <thread dsq:id="7001" />
  </post>
  <post dsq:id="9002">
    <message>&lt;p&gt;It worked in Vienna for decades.&lt;br&gt;Look it up.&lt;/p&gt;</message>
    <createdAt>2024-05-02T08:10:00+02:00</createdAt>
    <isDeleted>false</isDeleted>
    <isSpam>false</isSpam>
    <author><name>Bruno</name><isAnonymous>true</isAnonymous></author>
    <thread dsq:id="7001" />
    <parent dsq:id="9001" />
  </post>
</disqus>
"#;

    #[test]
    fn threads_and_posts_become_articles_and_linked_comments() {
        let ing = ingest("export.xml", EXPORT);
        assert!(ing.rejects.is_empty(), "{:#?}", ing.rejects);
        let a = &ing.articles[0];
        assert_eq!(a.article_id, "7001");
        assert_eq!(a.title, "Rent control is back on the agenda");
        assert_eq!(
            a.text,
            "The city council will vote on rent control in June."
        );
        assert_eq!(
            a.url.as_deref(),
            Some("https://blog.example/2024/05/rent-control")
        );
        assert_eq!(a.extra["id"], "post-42");
        let c = &ing.comments;
        assert_eq!(comment_ids(&ing), ["9001", "9002"]);
        assert_eq!(
            c[0].text,
            "Rent control never worked anywhere & it won't work here.\n\nBuild more homes instead."
        );
        assert_eq!(
            (
                c[0].author.as_deref(),
                c[0].extra["author_username"].as_str()
            ),
            (Some("Alice"), Some("alice_k"))
        );
        assert_eq!(c[0].extra["isSpam"], json!(false));
        assert_eq!(c[1].text, "It worked in Vienna for decades.\nLook it up.");
        assert_eq!((c[1].parent_id.as_deref(), c[1].depth), (Some("9001"), 1));
        assert_eq!(
            c[1].created_at.as_deref(),
            Some("2024-05-02T08:10:00+02:00")
        );
        assert_eq!(c[0].lang.as_deref(), Some("en"));
    }

    #[test]
    fn a_broken_post_costs_only_itself() {
        let broken = EXPORT.replace(
            "<post dsq:id=\"9002\">",
            "<post dsq:id=\"9100\"><message>unclosed <!-- comment</message></post>\n  <post dsq:id=\"9002\">",
        );
        let ing = ingest("export.xml", &broken);
        assert_eq!(comment_ids(&ing), ["9001", "9002"]);
        let err = errors(&ing);
        assert_eq!(err.len(), 1, "{err:#?}");
        assert_eq!(err[0].line, 25, "the broken post's own line");
    }
}

mod pages {
    use super::*;
    use stance_core::Comment;

    pub(crate) const VALLEY_FOR_TESTS: &str = VALLEY;

    const VALLEY: &str = "The Valley Courier
June 3, 2024 | By Sam Reed

Dam project approved despite protests

Share
Tweet

The regional board approved the new dam on Monday after a four-hour hearing.

Opponents say the reservoir will flood farmland that has been worked for generations.
Protesters at the hearing on Monday. Photo: Jane Roe/Reuters

Supporters argue the dam will secure water for the next fifty years.

4 comments

  - Maria Lopez | June 3, 2024 at 9:05 pm
    This is a disaster for the farmers in the valley.
    Nobody asked them.
    Reply

    - Tom | June 3, 2024 at 9:30 pm
      They were asked, the hearing lasted four hours.

      - Maria Lopez | June 3, 2024 at 10:02 pm
        A hearing is not a vote.

          Not even close.

        - Ken | June 4, 2024 at 7:15 am
          Water has to come from somewhere.
          Reply

  - Ann | June 4, 2024 at 8:00 am
    Good decision.

Leave a Reply
Your email address will not be published.
";

    type Shape = (
        String,
        Option<String>,
        u32,
        Option<String>,
        Option<String>,
        String,
    );

    fn shape(c: &Comment) -> Shape {
        (
            c.comment_id.clone(),
            c.parent_id.clone(),
            c.depth,
            c.author.clone(),
            c.created_at.clone(),
            c.text.clone(),
        )
    }

    fn s(v: &str) -> String {
        v.to_string()
    }

    #[test]
    fn other_site_header_english_dates_deeper_nesting_no_recommended_block() {
        let ing = ingest("valley-courier/page.txt", VALLEY);
        assert!(ing.rejects.is_empty(), "{:#?}", ing.rejects);
        let a = &ing.articles[0];
        assert_eq!(a.article_id, "valley-courier-2024-06-03");
        assert_eq!(a.title, "Dam project approved despite protests");
        assert_eq!(a.published.as_deref(), Some("2024-06-03"));
        assert_eq!(a.extra["site"], "The Valley Courier");
        assert_eq!(a.extra["authors"], json!(["Sam Reed"]));
        assert_eq!(
            a.text,
            "The regional board approved the new dam on Monday after a four-hour hearing.\n\n\
             Opponents say the reservoir will flood farmland that has been worked for generations.\n\n\
             Supporters argue the dam will secure water for the next fifty years."
        );
        let got: Vec<Shape> = ing.comments.iter().map(shape).collect();
        let t = |s: &str| Some(s.to_string());
        assert_eq!(
            got,
            vec![
                (
                    s("c1"),
                    None,
                    0,
                    t("Maria Lopez"),
                    t("2024-06-03T21:05:00"),
                    s("This is a disaster for the farmers in the valley.\nNobody asked them.")
                ),
                (
                    s("c2"),
                    t("c1"),
                    1,
                    t("Tom"),
                    t("2024-06-03T21:30:00"),
                    s("They were asked, the hearing lasted four hours.")
                ),
                (
                    s("c3"),
                    t("c2"),
                    2,
                    t("Maria Lopez"),
                    t("2024-06-03T22:02:00"),
                    s("A hearing is not a vote.\n\n  Not even close.")
                ),
                (
                    s("c4"),
                    t("c3"),
                    3,
                    t("Ken"),
                    t("2024-06-04T07:15:00"),
                    s("Water has to come from somewhere.")
                ),
                (
                    s("c5"),
                    None,
                    0,
                    t("Ann"),
                    t("2024-06-04T08:00:00"),
                    s("Good decision.")
                ),
            ]
        );
        assert!(ing
            .comments
            .iter()
            .all(|c| c.extra["recommended"] == json!(false)));
    }

    #[test]
    fn tabs_and_crlf_give_the_same_tree() {
        let tabbed: String = VALLEY
            .lines()
            .map(|l| {
                let spaces = l.len() - l.trim_start_matches(' ').len();
                format!("{}{}\r\n", "\t".repeat(spaces / 2), &l[spaces..])
            })
            .collect();
        assert!(tabbed.contains("\t\t\t- Maria"));
        let spaces = ingest("valley-courier/page.txt", VALLEY);
        let tabs = ingest("valley-courier/page.txt", &tabbed);
        let shapes = |ing: &Ingested| ing.comments.iter().map(shape).collect::<Vec<_>>();
        // Deeper indentation inside a text is kept relative to the text: one tab instead of 2 spaces.
        let mut expected = shapes(&spaces);
        expected[2].5 = s("A hearing is not a vote.\n\n\tNot even close.");
        assert_eq!(shapes(&tabs), expected);
        assert_eq!(tabs.articles, spaces.articles);
    }

    const JOURNAL: &str = "Le Journal du Val
Publié le 12 mars 2024

Le conseil vote la fermeture de la piscine municipale

Par Jean Dupont
12 commentaires

La piscine municipale fermera ses portes en septembre, a annoncé le maire.
Photo : AFP
Les usagers ont lancé une pétition qui a déjà recueilli trois mille signatures.

Commentaires recommandés

Claire // 12.03.2024 à 18h02
Une honte, les enfants n'auront plus où apprendre à nager.

Paul // 11.03.2024 à 09h00
Ce commentaire n'est plus dans la liste affichée.

12 commentaires

• Claire // 12.03.2024 à 18h02
    Une honte, les enfants n'auront plus où apprendre à nager.
    • Marc // 31.02.2024 à 19h15
        Il y a la piscine de la ville voisine.
• Luc // 13.03.2024 à 07h45
    Le maire n'avait pas le choix vu l'état du bâtiment.
";

    #[test]
    fn recommended_block_bylines_credits_and_an_impossible_date() {
        let ing = ingest("journal-du-val.txt", JOURNAL);
        let a = &ing.articles[0];
        assert_eq!(a.article_id, "journal-du-val-2024-03-12");
        assert_eq!(
            (a.title.as_str(), a.published.as_deref()),
            (
                "Le conseil vote la fermeture de la piscine municipale",
                Some("2024-03-12")
            )
        );
        assert_eq!(a.extra["authors"], json!(["Jean Dupont"]));
        assert_eq!(
            a.text,
            "La piscine municipale fermera ses portes en septembre, a annoncé le maire.\n\n\
             Les usagers ont lancé une pétition qui a déjà recueilli trois mille signatures."
        );
        assert_eq!(a.lang.as_deref(), Some("fr"));
        let got: Vec<(&str, Option<&str>, &str, Option<&str>, &Value)> = ing
            .comments
            .iter()
            .map(|c| {
                (
                    c.comment_id.as_str(),
                    c.parent_id.as_deref(),
                    c.author.as_deref().unwrap_or(""),
                    c.created_at.as_deref(),
                    &c.extra["recommended"],
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "c1",
                    None,
                    "Claire",
                    Some("2024-03-12T18:02:00"),
                    &json!(true)
                ),
                ("c2", Some("c1"), "Marc", None, &json!(false)),
                (
                    "c3",
                    None,
                    "Luc",
                    Some("2024-03-13T07:45:00"),
                    &json!(false)
                ),
                // In the recommended block only: kept, at top level.
                (
                    "c4",
                    None,
                    "Paul",
                    Some("2024-03-11T09:00:00"),
                    &json!(true)
                ),
            ]
        );
        assert_eq!(
            ing.comments[1].text,
            "Il y a la piscine de la ville voisine."
        );
        only_reject(
            &ing,
            25,
            Some("created_at"),
            Severity::Warning,
            "unreadable timestamp",
        );
    }

    #[test]
    fn page_is_detected_from_content() {
        let ing = ingest("saved", VALLEY);
        assert_eq!(ing.comments.len(), 5);
    }
}

mod bad_input {
    use super::*;

    const GOOD_1: &str = r#"{"comment_id":"1","article_id":"a","text":"good one"}"#;
    const GOOD_3: &str = r#"{"comment_id":"3","article_id":"a","text":"good three"}"#;

    fn around(middle: &str) -> String {
        format!("{GOOD_1}\n{middle}\n{GOOD_3}\n")
    }

    #[test]
    fn unparsable_lines() {
        let ing = ingest(
            "c.jsonl",
            &format!("{GOOD_1}\n{{\"comment_id\":\"2\",\"text\":\n{GOOD_3}\n[1,2]\n"),
        );
        assert_eq!(comment_ids(&ing), ["1", "3"]);
        let e: Vec<(u64, Option<&str>)> = errors(&ing)
            .iter()
            .map(|r| (r.line, r.field.as_deref()))
            .collect();
        assert_eq!(e, vec![(2, None), (4, None)]);
        assert!(ing
            .rejects
            .iter()
            .all(|r| r.reason.starts_with("unparsable line")));
        counts_add_up(&ing);
    }

    #[test]
    fn unparsable_csv_lines() {
        let csv = "comment_id,article_id,text\n1,a,good one\n2,a,too,many,fields\n\"4,a,\"x\n5,a,\"a quote that never closes\n3,a,good three\n";
        let ing = ingest("c.csv", csv);
        assert_eq!(comment_ids(&ing), ["1", "3"]);
        let e: Vec<u64> = errors(&ing).iter().map(|r| r.line).collect();
        assert_eq!(e, vec![3, 4, 5]);
        assert!(errors(&ing)[2].reason.contains("never closes"));
        assert!(errors(&ing)[0]
            .reason
            .contains("5 fields where the header has 3"));
    }

    #[test]
    fn no_id() {
        let ing = ingest(
            "c.jsonl",
            &around(r#"{"article_id":"a","text":"who am I"}"#),
        );
        assert_eq!(comment_ids(&ing), ["1", "3"]);
        only_reject(&ing, 2, Some("comment_id"), Severity::Error, "no id");
        let ing = ingest(
            "a.jsonl",
            "{\"article_id\":\" \",\"title\":\"t\"}\n{\"article_id\":\"x\",\"title\":\"Kept\"}\n",
        );
        assert_eq!(ing.articles.len(), 1);
        only_reject(&ing, 1, Some("article_id"), Severity::Error, "no id");
    }

    #[test]
    fn no_text() {
        for middle in [
            r#"{"comment_id":"2","article_id":"a","text":"   "}"#,
            r#"{"comment_id":"2","article_id":"a"}"#,
        ] {
            let ing = ingest("c.jsonl", &around(middle));
            assert_eq!(comment_ids(&ing), ["1", "3"]);
            only_reject(&ing, 2, Some("text"), Severity::Error, "no text");
        }
        let ing = ingest(
            "c.jsonl",
            &around(r#"{"comment_id":"2","article_id":"a","text":{"html":"<p>x</p>"}}"#),
        );
        assert_eq!(comment_ids(&ing), ["1", "3"]);
        only_reject(&ing, 2, Some("text"), Severity::Error, "list or an object");
    }

    #[test]
    fn invalid_utf8_is_an_error_unless_lossy() {
        let mut data = format!("{GOOD_1}\n").into_bytes();
        data.extend_from_slice(
            b"{\"comment_id\":\"2\",\"article_id\":\"a\",\"text\":\"caf\xe9 cr\xe8me\"}\n",
        );
        data.extend_from_slice(format!("{GOOD_3}\n").as_bytes());
        let ing = ingest_with("c.jsonl", &data, &IngestOptions::default());
        assert_eq!(comment_ids(&ing), ["1", "3"]);
        only_reject(&ing, 2, None, Severity::Error, "invalid UTF-8 at byte 46");

        let lossy = IngestOptions {
            lossy_utf8: true,
            ..IngestOptions::default()
        };
        let ing = ingest_with("c.jsonl", &data, &lossy);
        assert_eq!(comment_ids(&ing), ["1", "2", "3"]);
        assert_eq!(ing.comments[1].text, "caf\u{fffd} cr\u{fffd}me");
        only_reject(&ing, 2, None, Severity::Warning, "replaced with U+FFFD");
    }

    #[test]
    fn invalid_utf8_in_a_csv_field_names_the_column() {
        let mut data =
            b"comment_id,article_id,text\n1,a,good one\n2,a,bad \xff byte\n3,a,good three\n"
                .to_vec();
        let ing = ingest_with("c.csv", &data, &IngestOptions::default());
        assert_eq!(comment_ids(&ing), ["1", "3"]);
        only_reject(&ing, 3, Some("text"), Severity::Error, "invalid UTF-8");
        data.extend_from_slice(b"4,a,\xff\n");
        let ing = ingest_with(
            "c.csv",
            &data,
            &IngestOptions {
                lossy_utf8: true,
                ..IngestOptions::default()
            },
        );
        assert_eq!(comment_ids(&ing), ["1", "2", "3", "4"]);
    }

    #[test]
    fn invalid_utf8_in_a_page_costs_the_comment_holding_it() {
        let mut page = pages_valley().into_bytes();
        let at = find(&page, b"Nobody asked them.");
        page.splice(at..at, b"\xff".iter().copied());
        let ing = ingest_with("valley-courier/page.txt", &page, &IngestOptions::default());
        assert_eq!(comment_ids(&ing), ["c2", "c3", "c4", "c5"]);
        let e = errors(&ing);
        // Reported at the comment's header line; the reason names the bad line.
        assert_eq!((e.len(), e[0].line), (1, 18));
        assert!(e[0].reason.contains("line 20"), "{}", e[0].reason);
        // Its reply loses its parent: kept at top level, reported.
        assert!(ing.rejects.iter().any(|r| r.severity == Severity::Warning
            && r.line == 23
            && r.reason.contains("orphan")));
    }

    fn pages_valley() -> String {
        super::pages::VALLEY_FOR_TESTS.to_string()
    }

    fn find(hay: &[u8], needle: &[u8]) -> usize {
        hay.windows(needle.len())
            .position(|w| w == needle)
            .expect("needle")
    }

    #[test]
    fn duplicate_ids_keep_the_first() {
        let ing = ingest("c.jsonl", &format!("{GOOD_1}\n{GOOD_3}\n{{\"comment_id\":\"1\",\"article_id\":\"a\",\"text\":\"second copy\"}}\n"));
        assert_eq!(comment_ids(&ing), ["1", "3"]);
        assert_eq!(ing.comments[0].text, "good one");
        let r = only_reject(
            &ing,
            3,
            Some("comment_id"),
            Severity::Error,
            "duplicate comment id `1`",
        );
        assert!(r.reason.contains("(c.jsonl:1)"), "{}", r.reason);
        // The same id under another article is another comment.
        let ing = ingest(
            "c.jsonl",
            &format!(
                "{GOOD_1}\n{{\"comment_id\":\"1\",\"article_id\":\"b\",\"text\":\"other\"}}\n"
            ),
        );
        assert_eq!(ing.comments.len(), 2);
        let ing = ingest("a.jsonl", "{\"article_id\":\"x\",\"title\":\"First\"}\n{\"article_id\":\"x\",\"title\":\"Second\"}\n");
        assert_eq!(
            ing.articles
                .iter()
                .map(|a| a.title.as_str())
                .collect::<Vec<_>>(),
            ["First"]
        );
        only_reject(
            &ing,
            2,
            Some("article_id"),
            Severity::Error,
            "duplicate article id",
        );
    }

    #[test]
    fn fields_over_one_mib() {
        let big = "x".repeat(stance_ingest::MAX_FIELD_BYTES + 1);
        let ing = ingest(
            "c.jsonl",
            &around(&format!(
                r#"{{"comment_id":"2","article_id":"a","text":"{big}"}}"#
            )),
        );
        assert_eq!(comment_ids(&ing), ["1", "3"]);
        only_reject(&ing, 2, Some("text"), Severity::Error, "over 1 MiB");
        let ing = ingest(
            "c.jsonl",
            &around(&format!(
                r#"{{"comment_id":"2","article_id":"a","text":"ok","blob":"{big}"}}"#
            )),
        );
        only_reject(&ing, 2, Some("blob"), Severity::Error, "over 1 MiB");
        let exactly = "y".repeat(stance_ingest::MAX_FIELD_BYTES);
        let ing = ingest(
            "c.jsonl",
            &format!(r#"{{"comment_id":"2","article_id":"a","text":"{exactly}"}}"#),
        );
        assert!(ing.rejects.is_empty());
    }

    #[test]
    fn unreadable_timestamps_are_warnings_and_the_record_stays() {
        let ing = ingest(
            "c.jsonl",
            &around(
                r#"{"comment_id":"2","article_id":"a","text":"still here","created_at":"last Tuesday"}"#,
            ),
        );
        assert_eq!(comment_ids(&ing), ["1", "2", "3"]);
        assert_eq!(ing.comments[1].created_at, None);
        only_reject(
            &ing,
            2,
            Some("created_at"),
            Severity::Warning,
            "unreadable timestamp \"last Tuesday\"",
        );
        counts_add_up(&ing);
    }

    #[test]
    fn unknown_parents_become_top_level_orphans() {
        let ing = ingest(
            "c.jsonl",
            &around(
                r#"{"comment_id":"2","article_id":"a","parent_id":"99","text":"reply to nothing"}"#,
            ),
        );
        assert_eq!(comment_ids(&ing), ["1", "2", "3"]);
        let c = &ing.comments[1];
        assert_eq!(
            (
                c.parent_id.as_deref(),
                c.depth,
                c.extra["missing_parent_id"].as_str()
            ),
            (None, 0, Some("99"))
        );
        only_reject(
            &ing,
            2,
            Some("parent_id"),
            Severity::Warning,
            "unknown parent `99`",
        );
        assert_eq!(ing.summary.orphans, 1);
        // parent_id = the article's id marks a direct reply, not an orphan.
        let ing = ingest(
            "c.jsonl",
            r#"{"comment_id":"1","article_id":"a","parent_id":"a","text":"top"}"#,
        );
        assert!(ing.rejects.is_empty() && ing.comments[0].parent_id.is_none());
    }

    #[test]
    fn parent_cycles_are_broken_and_reported() {
        let data = concat!(
            r#"{"comment_id":"x","article_id":"a","parent_id":"y","text":"x says"}"#,
            "\n",
            r#"{"comment_id":"y","article_id":"a","parent_id":"x","text":"y says"}"#,
            "\n",
            r#"{"comment_id":"z","article_id":"a","parent_id":"y","text":"z says"}"#,
            "\n"
        );
        let ing = ingest("c.jsonl", data);
        assert_eq!(comment_ids(&ing), ["x", "y", "z"]);
        let depths: Vec<u32> = ing.comments.iter().map(|c| c.depth).collect();
        assert_eq!(depths, [0, 1, 2]);
        only_reject(&ing, 1, Some("parent_id"), Severity::Warning, "cycle");
        assert_eq!(ing.summary.cycles_broken, 1);
    }

    #[test]
    fn missing_input_is_a_clear_error() {
        let err = read_inputs(
            &[InputSpec::path("/nonexistent/x.jsonl")],
            &IngestOptions::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/x.jsonl"), "{err}");
        let twice = read_inputs(
            &[InputSpec::stdin(), InputSpec::stdin()],
            &IngestOptions::default(),
        )
        .unwrap_err();
        assert!(twice.to_string().contains("only once"));
    }
}

mod bench {
    use super::*;

    #[test]
    fn bench_archive_ingests_without_errors() {
        let started = std::time::Instant::now();
        let ing = read_inputs(
            &[
                InputSpec::path(shared("data/bench/articles.jsonl")),
                InputSpec::path(shared("data/bench/comments.jsonl")),
            ],
            &IngestOptions::default(),
        )
        .unwrap();
        let elapsed = started.elapsed();
        assert!(
            ing.rejects.is_empty(),
            "{:#?}",
            &ing.rejects[..ing.rejects.len().min(5)]
        );
        let s = &ing.summary;
        assert_eq!(
            (
                s.articles,
                s.comments,
                s.placeholder_articles,
                s.records_read
            ),
            (743, 20_000, 0, 20_743)
        );
        assert_eq!(ing.comments.iter().filter(|c| c.depth == 0).count(), 15_313);
        assert_eq!(s.comment_languages["en"], 9_341);
        eprintln!(
            "bench ingest: {} records in {:.3}s\n{}",
            s.records_read,
            elapsed.as_secs_f64(),
            s
        );
    }
}
