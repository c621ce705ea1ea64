//! Ingest on small real-shaped samples of every format, on every kind of bad input, and on the
//! shared seed page and bench archive.

use serde_json::{json, Value};
use stance_core::{Reject, Severity};
use stance_ingest::{
    read_inputs, write_ingested, FieldMap, IngestOptions, Ingested, InputFormat, InputSpec,
    OutputFormat,
};
use std::path::{Path, PathBuf};

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

fn counts_add_up(ing: &Ingested) {
    let s = &ing.summary;
    assert_eq!(
        s.records_read,
        (s.articles + s.comments + s.rejected) as u64,
        "{s:?}"
    );
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
