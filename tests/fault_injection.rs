//! Kills a real `stance classify` with SIGKILL at random moments and reruns it: the final
//! outputs must hold every kept comment exactly once, with predictions identical to an
//! uninterrupted run, and an output file, when present, is always complete.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const COMMENTS: usize = 200;

fn classify(input: &Path, out: &Path) -> Command {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("stance"));
    cmd.args(["--quiet", "classify", "--offline", "--chunk-size", "16", "--out"]).arg(out).arg(input);
    cmd
}

/// A small deterministic generator (SplitMix64), so each seed kills at its own moment.
fn splitmix(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[test]
fn kill_and_rerun_gives_the_uninterrupted_predictions() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("comments.jsonl");
    bench_sample(COMMENTS, &input);

    let reference_dir = tmp.path().join("reference");
    let started = Instant::now();
    assert!(classify(&input, &reference_dir).status().unwrap().success());
    let full_run = started.elapsed();
    let reference = read_parquet(&reference_dir.join("comments.parquet"));
    assert_eq!(reference.height(), COMMENTS);

    for seed in 1..=3u64 {
        let out = tmp.path().join(format!("killed-{seed}"));
        let delay = full_run.mul_f64((splitmix(seed) % 1000) as f64 / 1000.0);
        let mut child = classify(&input, &out).spawn().unwrap();
        std::thread::sleep(delay);
        child.kill().unwrap(); // SIGKILL: no cleanup runs
        child.wait().unwrap();
        // Whatever the moment, a comments table that exists is whole.
        let table = out.join("comments.parquet");
        if table.exists() {
            assert_eq!(read_parquet(&table).height(), COMMENTS, "seed {seed}: a partial table was visible");
        }
        let status = classify(&input, &out).status().unwrap();
        assert!(status.success(), "seed {seed}: the rerun failed");
        let resumed = read_parquet(&table);
        assert_eq!(resumed.height(), COMMENTS);
        let ids = strs(&resumed, "comment_id");
        let unique: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(unique.len(), COMMENTS, "seed {seed}: every comment exactly once");
        for column in prediction_columns(&reference) {
            assert_eq!(
                reference.column(&column).unwrap(),
                resumed.column(&column).unwrap(),
                "seed {seed} (killed after {delay:?}): {column} differs from the uninterrupted run"
            );
        }
        assert!(!out.join(".stance-work").exists());
    }
}

#[test]
fn a_changed_input_is_refused_instead_of_mixed() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("comments.jsonl");
    bench_sample(COMMENTS, &input);
    let out = tmp.path().join("out");
    let mut child = classify(&input, &out).spawn().unwrap();
    // Wait for the first committed chunk, then kill.
    let work = out.join(".stance-work");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !work.join("chunk-000000.parquet").exists() {
        assert!(Instant::now() < deadline, "no chunk committed in 2 minutes");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    bench_sample(COMMENTS - 1, &input);
    let output = classify(&input, &out).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("changed") && stderr.contains("--fresh"), "{stderr}");
    assert!(!out.join("comments.parquet").exists(), "nothing is presented as complete");

    let status = classify(&input, &out).arg("--fresh").status().unwrap();
    assert!(status.success());
    assert_eq!(read_parquet(&out.join("comments.parquet")).height(), COMMENTS - 1);
}

#[test]
fn an_unwritable_output_directory_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("comments.jsonl");
    bench_sample(5, &input);
    let blocker = tmp.path().join("file");
    std::fs::write(&blocker, "not a directory").unwrap();
    let output = classify(&input, &blocker.join("out")).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&*blocker.display().to_string()), "{stderr}");
}
