//! Inputs the fuzz targets (`fuzz/`, `cargo +nightly fuzz run <target>`) found to break an
//! invariant, kept as ordinary tests: each asserts what the reader must do with them now.
//! The byte strings are the fuzzer's findings (or their minimal form); the pathological sizes are
//! the smallest that took minutes before the fix.

use stance_core::{Reject, Severity};
use stance_ingest::{read_inputs, IngestOptions, Ingested, InputFormat, InputSpec};
use std::sync::mpsc;
use std::time::Duration;

mod common;
use common::counts_add_up;

fn ingest(name: &str, data: &[u8], format: Option<InputFormat>) -> Ingested {
    read_inputs(
        &[InputSpec::memory(name, data).with_format(format)],
        &IngestOptions::default(),
    )
    .expect("in-memory input")
}

/// (line, field, start of the reason) of every error reject.
fn errors(ing: &Ingested) -> Vec<(u64, Option<&str>, &str)> {
    ing.rejects
        .iter()
        .filter(|r| r.severity == Severity::Error)
        .map(|r: &Reject| (r.line, r.field.as_deref(), r.reason.as_str()))
        .collect()
}

/// Runs `f` on another thread and fails if it takes longer than `secs` (a quadratic reader on
/// these inputs runs for minutes to hours; the test does not wait for it).
fn within<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(secs))
        .unwrap_or_else(|_| panic!("not done within {secs} s: pathological slowness is back"))
}

mod csv_blank_lines {
    use super::*;

    /// fuzz/artifacts/ingest_csv/crash-2c2b033e…: every empty line became an error reject
    /// ("unparsable line: no CSV record") and counted as a rejected record.
    const CRASH: &[u8] = b"comment|_id,text\xacextra\n2,\"never closes,x\xe4\n2,fineDDD\n\n\n\n\n\n\nDDDDo,ma.y,fiehds\n``````````````````````````` text\n";

    #[test]
    fn fuzzer_input_rejects_only_its_bad_lines() {
        let ing = ingest("comments.csv", CRASH, Some(InputFormat::Csv));
        counts_add_up(&ing);
        let errs = errors(&ing);
        let lines: Vec<u64> = errs.iter().map(|e| e.0).collect();
        assert_eq!(lines, vec![2, 3, 10, 11], "{errs:#?}");
        assert!(errs[0].2.contains("never closes"), "{errs:#?}");
        assert_eq!(errs[1].1, Some("comment_id"), "{errs:#?}");
        assert!(errs[2].2.contains("3 fields where the header has 2"), "{errs:#?}");
        assert!(errs[3].2.contains("1 fields where the header has 2"), "{errs:#?}");
        assert_eq!(ing.summary.records_read, 4);
    }

    #[test]
    fn empty_lines_are_skipped_in_csv_and_tsv() {
        for (format, data) in [
            (InputFormat::Csv, &b"\n\ncomment_id,text\n1,hello\n\n\r\n2,world\n\n"[..]),
            (InputFormat::Tsv, &b"\ncomment_id\ttext\n1\thello\n\n2\tworld\n"[..]),
        ] {
            let ing = ingest("comments.csv", data, Some(format));
            assert!(ing.rejects.is_empty(), "{format}: {:#?}", ing.rejects);
            let ids: Vec<&str> = ing.comments.iter().map(|c| c.comment_id.as_str()).collect();
            assert_eq!(ids, ["1", "2"], "{format}");
            assert_eq!(ing.summary.records_read, 2, "{format}");
        }
    }
}

mod csv_bom_before_a_quote {
    use super::*;

    /// The `csv` crate skips a BOM at the start of each record it splits, so `\u{feff}"` opens a
    /// quoted field there; the line grouping did not skip it, so the field's first line was split
    /// alone (one field short) and its last line read as a record of its own. Found by
    /// `ingest_csv` through the check of the quote scanner's field count against the `csv` crate
    /// (fuzz/artifacts/ingest_csv/crash-2e6c2fc6…, a BOM then a quote in a header).
    #[test]
    fn a_quote_after_a_bom_spans_lines() {
        // A BOM inside the file, as `cat a.csv b.csv` leaves one.
        let csv = "text,comment_id\n\u{feff}\"multi\nline\",2\n";
        let ing = ingest("comments.csv", csv.as_bytes(), None);
        assert!(ing.rejects.is_empty(), "{:#?}", ing.rejects);
        assert_eq!(ing.comments.len(), 1);
        assert_eq!(ing.comments[0].comment_id, "2");
        assert_eq!(ing.comments[0].text, "multi\nline");
    }

    #[test]
    fn fuzzer_input_header_is_one_quoted_field() {
        let data = b"\xef\xbb\xbf\"\x0cart{\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff,\"\x04\x00\x00\x00\x00\x00\x00\x00two\"\"mment\t4\nc2\tc1\t\"tab\tinzside\"\t\xbe-1\nc3\",,,\n";
        let ing = ingest("comments.csv", data, Some(InputFormat::Csv));
        counts_add_up(&ing);
        // Line 1 is the header, one field: the quote after the BOM opens it and closes before
        // `\x04` (grouped with line 2 before the fix, which the `csv` crate split otherwise).
        // Line 2 is a record of one field, not UTF-8; line 3 has 4 fields.
        let errs = errors(&ing);
        let lines: Vec<u64> = errs.iter().map(|e| e.0).collect();
        assert_eq!(lines, [2, 3], "{errs:#?}");
        assert!(errs[0].2.starts_with("invalid UTF-8"), "{errs:#?}");
        assert!(errs[1].2.contains("4 fields where the header has 1"), "{errs:#?}");
    }
}

mod blank_article_ids {
    use super::*;

    fn assert_takes_file_slug(ing: &Ingested, slug: &str) {
        counts_add_up(ing);
        assert!(
            ing.articles.iter().all(|a| !a.article_id.trim().is_empty()),
            "article without an id: {:#?}",
            ing.articles
        );
        assert_eq!(ing.comments.len(), 1, "{:#?}", ing.rejects);
        assert_eq!(ing.comments[0].article_id, slug);
        assert_eq!(ing.articles.len(), 1);
        assert_eq!(ing.articles[0].article_id, slug);
    }

    /// The fuzzer's finding, minimized: `<thread dsq:id=""…/>` gave the post an empty article
    /// id, and ingest then made a placeholder article with an empty id.
    #[test]
    fn disqus_empty_thread_reference() {
        let xml = b"<disqus>\n<post dsq:id=\"1\"><message>ok</message><thread dsq:id=\"\"t/></post>\n</disqus>\n";
        let ing = ingest("export.xml", xml, Some(InputFormat::Disqus));
        assert_takes_file_slug(&ing, "export");
    }

    #[test]
    fn blank_ids_in_jsonl_csv_and_reddit() {
        let jsonl = br#"{"comment_id": "1", "article_id": "   ", "text": "hello"}"#;
        assert_takes_file_slug(&ingest("lemonde.jsonl", jsonl, None), "lemonde");
        let csv = b"comment_id,article_id,text\n1, ,hello\n";
        assert_takes_file_slug(&ingest("lemonde.csv", csv, None), "lemonde");
        let reddit = br#"{"id": "c1", "link_id": "t3_ ", "body": "hello", "subreddit": "x"}"#;
        assert_takes_file_slug(
            &ingest("rc.jsonl", reddit, Some(InputFormat::Reddit)),
            "rc",
        );
    }

    /// The fuzzer's input itself (fuzz/artifacts/ingest_disqus/crash-73341a19…).
    #[test]
    fn disqus_fuzzer_input() {
        let ing = ingest("export.xml", DISQUS_CRASH, Some(InputFormat::Disqus));
        counts_add_up(&ing);
        assert!(ing.articles.iter().all(|a| !a.article_id.trim().is_empty()));
        assert!(ing.comments.iter().all(|c| !c.article_id.trim().is_empty()));
        assert!(
            ing.comments.iter().any(|c| c.comment_id == "1" && c.article_id == "export"),
            "{:#?}",
            ing.comments
        );
    }

    const DISQUS_CRASH: &[u8] = b"\
    <?xml version=e></category>\n  <thread dsq:id=\"100\"><?xml version=e></category>\n  <th\
    read dsq:id=\"100\">\n    <id>ext-100</id>\n    <forum>site</forum>\n    <link>https://e\
    xat <b>commdsq:id=\"100\" />\n  </post>\n  <post dsq:id=\"2\">\n    <Message>Reply with \
    &lt;us-internals\">\n  <category message>\n    <cre\x00\x00\x00\x00\x00\x00\x00\x00\x00\
    \x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00/message>\n \
    \x20  <General</title></category>\n  <thread \x09\x00\x00\x00\x00\x00\x00\x00100\">\n    <i\
    d>ext-100</id>#    <forum>site</forum>\n    <link>https://exat <b>c\xff\xff\xffsomme\n  \
    \x20 <id>ext-100</id>\n    <forum>site</for<diwqus>\n<post dsq:id=\"1\"><message>ok</messag\
    e><thread dsq:id=\"\"t/></post>\n<post dsnt</b> &eacute;</p>]]><esc\"301\"/>\n ns=\"http\
    ://dixat;</message>un   <cre\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\
    \x00\x00\x00\x00\x00\x00\x00\">\n    <id>ext-100</id>#    <forum>site</\x96foru00:00Z</c\
    reatedAt>\x00\x00\x00\x00\x00\n\x00  q:id=\"2\"><message>never closed<thread dsq:id=\"t\
    \"/>\n<um>\n    <link>https://exat <b>comment</b> &eacisqus.com/disqus-internals\">\npo=\
    t dsq:id=3> \x00 <message>bad t dsq:id=\"4\"><me  <cat";
}

mod pathological_sizes {
    use super::*;

    /// 200 000 elements and no record after them: every event searched the rest of the input
    /// for the next `<post`/`<thread` (102 s for half of this in the fuzz build).
    #[test]
    fn disqus_long_run_of_other_elements() {
        let mut xml = b"<disqus>".to_vec();
        for _ in 0..200_000 {
            xml.extend_from_slice(b"<a/>");
        }
        xml.extend_from_slice(b"<post dsq:id=\"1\"><message>last</message></post></disqus>");
        let ing = within(30, move || ingest("export.xml", &xml, None));
        assert!(ing.rejects.is_empty(), "{:#?}", ing.rejects);
        assert_eq!(ing.comments.len(), 1);
        assert_eq!(ing.comments[0].text, "last");
    }

    /// Lines that each open a quote the next ones never close: each was rejected after a scan
    /// of all the lines after it (hours for a few megabytes).
    #[test]
    fn csv_run_of_unclosed_quotes() {
        let n = 50_000;
        let mut csv = b"comment_id,text\n".to_vec();
        for _ in 0..n {
            csv.extend_from_slice(b"a\"b,\"\n");
        }
        csv.extend_from_slice(b"9,fine\n");
        let ing = within(30, move || ingest("comments.csv", &csv, None));
        let errs = errors(&ing);
        assert_eq!(errs.len(), n, "{:?}", &errs[..3.min(errs.len())]);
        assert!(errs.iter().all(|e| e.2.contains("never closes")));
        assert_eq!(errs.last().map(|e| e.0), Some(n as u64 + 1));
        assert_eq!(ing.comments.len(), 1);
        assert_eq!(ing.comments[0].comment_id, "9");
    }

    /// The same lines closed at the end: every line started a record running to the last line,
    /// with too many fields, and each retry re-split all of it.
    #[test]
    fn csv_run_of_records_with_too_many_fields() {
        let n = 100_000;
        let mut csv = b"comment_id,text\n".to_vec();
        for _ in 0..n {
            csv.extend_from_slice(b"a\"b,\"\n");
        }
        csv.extend_from_slice(b"c\"\n9,fine\n");
        let ing = within(30, move || ingest("comments.csv", &csv, None));
        counts_add_up(&ing);
        let errs = errors(&ing);
        // Lines 3..=n run to line n + 2 with too many fields (line 2 would run over 100 001
        // lines, past the limit of a record: its quote "never closes"); line n + 1 with line
        // n + 2 makes `a"b` + a quoted "\nc", two fields: a comment.
        assert_eq!(errs.len(), n - 1, "{:?}", &errs[..3.min(errs.len())]);
        assert_eq!(errs[0].0, 2);
        assert!(errs[0].2.contains("never closes"), "{:?}", errs[0]);
        assert!(errs[1..].iter().all(|e| e
            .2
            .contains("fields where the header has 2 (a quote opened here runs over")));
        assert_eq!(errs.last().map(|e| e.0), Some(n as u64));
        let ids: Vec<&str> = ing.comments.iter().map(|c| c.comment_id.as_str()).collect();
        assert_eq!(ids, ["a\"b", "9"]);
        assert_eq!(ing.comments[0].text, "\nc");
    }
}
