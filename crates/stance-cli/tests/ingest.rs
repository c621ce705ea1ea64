//! `stance ingest` end to end: the seed page, stdin, `--strict`, Parquet output, bad options.

use assert_cmd::cargo::cargo_bin_cmd;
use std::path::Path;

fn shared(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared").join(rel)
}

fn lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn seed_page_is_ingested_with_a_summary_on_stderr() {
    let out = tempfile::tempdir().unwrap();
    let assert = cargo_bin_cmd!("stance")
        .arg("ingest")
        .arg(shared("data/threads/les-crises-durov/page.txt"))
        .arg("--out")
        .arg(out.path())
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(stderr.contains("kept 1 article and 7 comments, rejected 0"), "{stderr}");
    assert!(stderr.contains("comment languages: fr 7"), "{stderr}");
    assert!(assert.get_output().stdout.is_empty());
    assert_eq!(lines(&out.path().join("comments.jsonl")).len(), 7);
    assert_eq!(lines(&out.path().join("articles.jsonl"))[0]["article_id"], "les-crises-durov-2024-09-21");
    assert!(lines(&out.path().join("rejects.jsonl")).is_empty());
}

const WITH_BAD_LINE: &str = "{\"comment_id\":\"1\",\"article_id\":\"a\",\"text\":\"fine\"}\n\
                             {\"comment_id\":\"2\",\"article_id\":\"a\"\n\
                             {\"comment_id\":\"3\",\"article_id\":\"a\",\"text\":\"fine too\"}\n";

#[test]
fn strict_turns_errors_into_exit_status_1_and_still_writes_everything() {
    for (strict, code) in [(false, 0), (true, 1)] {
        let out = tempfile::tempdir().unwrap();
        let mut cmd = cargo_bin_cmd!("stance");
        cmd.args(["ingest", "-", "--format", "jsonl", "--out"]).arg(out.path()).write_stdin(WITH_BAD_LINE);
        if strict {
            cmd.arg("--strict");
        }
        cmd.assert().code(code);
        let comments = lines(&out.path().join("comments.jsonl"));
        assert_eq!(comments.iter().map(|c| c["comment_id"].as_str().unwrap()).collect::<Vec<_>>(), ["1", "3"]);
        let rejects = lines(&out.path().join("rejects.jsonl"));
        assert_eq!(rejects.len(), 1);
        assert_eq!((&rejects[0]["file"], &rejects[0]["line"], &rejects[0]["severity"]), (&"-".into(), &2.into(), &"error".into()));
    }
}

#[test]
fn parquet_output_and_quiet() {
    let out = tempfile::tempdir().unwrap();
    let assert = cargo_bin_cmd!("stance")
        .args(["--quiet", "ingest", "-", "--to", "parquet", "--out"])
        .arg(out.path())
        .write_stdin(WITH_BAD_LINE)
        .assert()
        .success();
    assert!(assert.get_output().stderr.is_empty());
    for name in ["articles.parquet", "comments.parquet", "rejects.jsonl"] {
        assert!(out.path().join(name).is_file(), "{name}");
    }
}

#[test]
fn bad_map_is_refused_with_a_message() {
    let out = tempfile::tempdir().unwrap();
    let assert = cargo_bin_cmd!("stance")
        .args(["ingest", "-", "--map", "colour=x", "--out"])
        .arg(out.path())
        .write_stdin(WITH_BAD_LINE)
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(stderr.contains("unknown field `colour`"), "{stderr}");
}
