use stance_core::Severity;
use stance_ingest::{read_inputs, IngestOptions, Ingested, InputFormat, InputSpec, MAX_FIELD_BYTES};
use std::collections::HashSet;

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

/// Ingests `data` as one in-memory input named `name`, with `format` (or detection when `None`),
/// checks the invariants and returns the result. When the bytes are not valid UTF-8 the input is
/// read a second time with `--lossy-utf8`, which must then keep every record the strict run
/// left out for its encoding.
pub fn ingest_and_check(name: &str, data: &[u8], format: Option<InputFormat>) -> Ingested {
    let strict = run(name, data, format, false);
    if debug() {
        eprintln!(
            "{:?}\narticles: {:#?}\ncomments: {:#?}\nrejects: {:#?}",
            strict.summary, strict.articles, strict.comments, strict.rejects
        );
    }
    check(name, data, format, &strict);
    if std::str::from_utf8(data).is_err() {
        let lossy = run(name, data, format, true);
        check(name, data, format, &lossy);
        for r in &lossy.rejects {
            assert!(
                !(r.severity == Severity::Error && r.reason.contains("--lossy-utf8 keeps it")),
                "with --lossy-utf8 a record was still left out for its encoding: {r:?}"
            );
        }
    }
    strict
}

fn debug() -> bool {
    static DEBUG: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *DEBUG.get_or_init(|| std::env::var_os("STANCE_FUZZ_DEBUG").is_some())
}

fn run(name: &str, data: &[u8], format: Option<InputFormat>, lossy_utf8: bool) -> Ingested {
    let options = IngestOptions {
        lossy_utf8,
        ..IngestOptions::default()
    };
    read_inputs(&[InputSpec::memory(name, data).with_format(format)], &options)
        .expect("an in-memory input always opens")
}

/// Whether the bytes go through a decompressor first (then line numbers count decompressed
/// lines, which the checks below cannot bound from the raw bytes).
pub fn compressed(data: &[u8]) -> bool {
    data.starts_with(GZIP_MAGIC) || data.starts_with(ZSTD_MAGIC)
}

/// Physical lines of a plain input, as the readers count them (`\n`, or `\r` alone for a page
/// without any `\n`).
fn line_count(data: &[u8]) -> u64 {
    let newlines = data.iter().filter(|&&b| b == b'\n').count();
    let returns = data.iter().filter(|&&b| b == b'\r').count();
    newlines.max(returns) as u64 + 1
}

pub fn check(name: &str, data: &[u8], format: Option<InputFormat>, ing: &Ingested) {
    let s = &ing.summary;
    // Every record read is kept or rejected, exactly once.
    assert_eq!(
        s.records_read,
        (s.articles + s.comments + s.rejected) as u64,
        "records read != kept + rejected: {s:?}\nrejects: {:#?}",
        ing.rejects
    );
    assert_eq!(s.files, 1);
    assert_eq!(s.rejected, ing.error_count());

    // Rejects name the input and a line inside it (line 0 only for a stream that cannot be read).
    let max_line = line_count(data);
    let mut previous = 0;
    for r in &ing.rejects {
        assert_eq!(r.file, name, "{r:?}");
        assert!(!r.reason.trim().is_empty(), "{r:?}");
        assert!(r.line >= previous, "rejects out of order: {:#?}", ing.rejects);
        previous = r.line;
        if r.line == 0 {
            assert!(
                compressed(data) || format == Some(InputFormat::Parquet) || data.starts_with(b"PAR1"),
                "line 0 reject for a plain input: {r:?}"
            );
        } else if !compressed(data) {
            assert!(r.line <= max_line, "reject past the last line {max_line}: {r:?}");
        }
    }

    // Kept records pass validation: ids and text present, fields within the limit, ids unique,
    // every comment's article and parent present, depth and root consistent.
    let mut article_ids = HashSet::new();
    for a in &ing.articles {
        assert!(!a.article_id.is_empty(), "{a:?}");
        assert_eq!(a.article_id.trim(), a.article_id);
        assert!(a.title.len() <= MAX_FIELD_BYTES && a.text.len() <= MAX_FIELD_BYTES);
        assert!(article_ids.insert(a.article_id.as_str()), "duplicate article {a:?}");
    }
    let mut comment_ids = std::collections::HashMap::new();
    for c in &ing.comments {
        assert!(!c.comment_id.is_empty(), "{c:?}");
        assert!(!c.text.trim().is_empty(), "{c:?}");
        assert!(c.text.len() <= MAX_FIELD_BYTES, "{c:?}");
        assert!(article_ids.contains(c.article_id.as_str()), "no article for {c:?}");
        assert!(
            comment_ids
                .insert((c.article_id.as_str(), c.comment_id.as_str()), c)
                .is_none(),
            "duplicate comment {c:?}"
        );
    }
    for c in &ing.comments {
        match &c.parent_id {
            None => {
                assert_eq!(c.depth, 0, "{c:?}");
                assert_eq!(c.root_id, c.comment_id, "{c:?}");
            }
            Some(p) => {
                let parent = comment_ids
                    .get(&(c.article_id.as_str(), p.as_str()))
                    .unwrap_or_else(|| panic!("dangling parent in {c:?}"));
                assert_eq!(c.depth, parent.depth + 1, "{c:?}");
                assert_eq!(c.root_id, parent.root_id, "{c:?}");
            }
        }
    }
    // Records serialize (what the writers do with them).
    for c in &ing.comments {
        serde_json::to_string(c).expect("comment serializes");
    }
    for a in &ing.articles {
        serde_json::to_string(a).expect("article serializes");
    }
}

/// Non-blank physical lines of a plain input (what JSONL-style readers count as records).
pub fn nonblank_lines(data: &[u8]) -> u64 {
    data.split(|&b| b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .count() as u64
}
