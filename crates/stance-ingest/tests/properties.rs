//! Property tests: no reader panics on any bytes, and valid records mixed with garbage are never
//! lost.

use proptest::prelude::*;
use stance_ingest::{read_inputs, IngestOptions, Ingested, InputFormat, InputSpec};
use std::collections::BTreeMap;

fn run(name: &str, data: &[u8], format: Option<InputFormat>) -> Ingested {
    read_inputs(
        &[InputSpec::memory(name, data).with_format(format)],
        &IngestOptions::default(),
    )
    .expect("in-memory input")
}

fn texts_by_id(ing: &Ingested) -> BTreeMap<String, String> {
    ing.comments
        .iter()
        .map(|c| (c.comment_id.clone(), c.text.clone()))
        .collect()
}

/// Arbitrary bytes, sometimes behind a compression or Parquet magic number.
fn any_input() -> impl Strategy<Value = Vec<u8>> {
    let prefixes: Vec<&'static [u8]> = vec![
        b"",
        b"\x1f\x8b",
        b"\x28\xb5\x2f\xfd",
        b"PAR1",
        b"{",
        b"<post dsq:id=\"1\">",
    ];
    (
        prop::sample::select(prefixes),
        prop::collection::vec(any::<u8>(), 0..1500),
    )
        .prop_map(|(p, rest)| {
            let mut v = p.to_vec();
            v.extend(rest);
            v
        })
}

/// Lines built from the pieces the page, CSV and XML readers look for, in random order.
fn structured_lines() -> impl Strategy<Value = String> {
    let pieces = vec![
        "",
        "Site Site",
        "21.septembre.202421.9.2024 // Site",
        "Title of the article",
        "Merci 3",
        "  • Ann // 21.09.2024 à 09h37",
        "    Some text.",
        "      deeper text",
        "\t• Bob // 31.02.2024 à 25h99",
        "\t\t• Cy | June 3, 2024 at 9:05 pm",
        "Commentaire recommandé",
        "Ann // 21.09.2024 à 09h37",
        "7 réactions",
        "  • Afficher tous les commentaires",
        "Source : MSN, A B, 28-08-2024",
        "Photo : AFP",
        "Reply",
        "\"",
        "\"a,\"\"b",
        "<post dsq:id=\"p\">",
        "</post>",
        "<thread dsq:id=\"t\"><title>x</title>",
        "<message><![CDATA[<p>hi",
        "]]></message>",
        "<parent dsq:id=\"p\"/>",
        "&amp;&#0;&#xD800;",
        "comment_id,article_id,text",
        "1,a,hello",
        "{\"comment_id\":1}",
    ];
    prop::collection::vec(prop::sample::select(pieces), 0..60).prop_map(|ls| ls.join("\n"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn no_reader_panics_on_arbitrary_bytes(data in any_input()) {
        for format in std::iter::once(None).chain(InputFormat::ALL.into_iter().map(Some)) {
            let ing = run("input", &data, format);
            let s = &ing.summary;
            prop_assert_eq!(s.records_read, (s.articles + s.comments + s.rejected) as u64);
        }
    }

    #[test]
    fn no_reader_panics_on_structured_noise(text in structured_lines()) {
        for format in std::iter::once(None).chain(InputFormat::ALL.into_iter().map(Some)) {
            let ing = run("input", text.as_bytes(), format);
            for c in &ing.comments {
                let parent_depth = c.parent_id.as_ref().and_then(|p| ing.comments.iter().find(|o| &o.comment_id == p && o.article_id == c.article_id)).map(|p| p.depth);
                prop_assert_eq!(parent_depth.map(|d| d + 1).unwrap_or(0), c.depth);
            }
        }
    }

    #[test]
    fn jsonl_and_reddit_keep_every_valid_record(
        texts in prop::collection::vec("\\PC{1,40}", 1..12),
        garbage in prop::collection::vec(prop::collection::vec(any::<u8>().prop_filter("no newline", |b| *b != b'\n'), 0..60), 0..12),
        seed in any::<u64>(),
    ) {
        let texts: Vec<String> = texts.into_iter().map(|t| format!("t {t}")).collect();
        let valid: Vec<Vec<u8>> = texts.iter().enumerate().map(|(i, t)| {
            serde_json::to_vec(&serde_json::json!({"comment_id": format!("valid-{i}"), "article_id": "a", "text": t})).unwrap()
        }).collect();
        let reddit: Vec<Vec<u8>> = texts.iter().enumerate().map(|(i, t)| {
            serde_json::to_vec(&serde_json::json!({"id": format!("valid-{i}"), "link_id": "t3_a", "parent_id": "t3_a", "body": t})).unwrap()
        }).collect();
        for (name, lines) in [("c.jsonl", valid), ("RC.jsonl", reddit)] {
            let data = interleave(&lines, &garbage, seed);
            let ing = run(name, &data, None);
            let got = texts_by_id(&ing);
            for (i, t) in texts.iter().enumerate() {
                prop_assert_eq!(got.get(&format!("valid-{i}")), Some(t), "{} lost valid-{}", name, i);
            }
        }
    }

    #[test]
    fn csv_and_tsv_keep_every_valid_record_among_quote_free_garbage(
        texts in prop::collection::vec("[a-zA-Z0-9 ,;\"\n\té.!?-]{1,40}", 1..10),
        garbage in prop::collection::vec("[^\"\n]{0,50}", 0..10),
        seed in any::<u64>(),
    ) {
        for delimiter in [b',', b'\t'] {
            let mut writer = csv::WriterBuilder::new().delimiter(delimiter).from_writer(Vec::new());
            writer.write_record(["comment_id", "article_id", "text"]).unwrap();
            let header = String::from_utf8(writer.into_inner().unwrap()).unwrap();
            let rows: Vec<Vec<u8>> = texts.iter().enumerate().map(|(i, t)| {
                let mut w = csv::WriterBuilder::new().delimiter(delimiter).terminator(csv::Terminator::Any(b'\n')).from_writer(Vec::new());
                w.write_record([format!("valid-{i}").as_str(), "a", t.as_str()]).unwrap();
                let mut row = w.into_inner().unwrap();
                row.pop();
                row
            }).collect();
            let garbage: Vec<Vec<u8>> = garbage.iter().map(|g| g.clone().into_bytes()).collect();
            let mut data = header.into_bytes();
            data.extend(interleave(&rows, &garbage, seed));
            let name = if delimiter == b',' { "c.csv" } else { "c.tsv" };
            let ing = run(name, &data, None);
            let got = texts_by_id(&ing);
            for (i, t) in texts.iter().enumerate() {
                if t.trim().is_empty() { continue; }
                prop_assert_eq!(got.get(&format!("valid-{i}")), Some(t), "{} lost valid-{}", name, i);
            }
        }
    }

    #[test]
    fn csv_recovers_from_one_line_with_a_stray_quote(
        texts in prop::collection::vec("[a-zA-Z0-9 ;\"\né.!?-]{1,40}", 1..10),
        stray in "[^\n]{0,30}",
        at in any::<prop::sample::Index>(),
    ) {
        let mut lines: Vec<Vec<u8>> = texts.iter().enumerate().map(|(i, t)| {
            let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::Any(b'\n')).from_writer(Vec::new());
            w.write_record([format!("valid-{i}").as_str(), "a", t.as_str()]).unwrap();
            let mut row = w.into_inner().unwrap();
            row.pop();
            row
        }).collect();
        lines.insert(at.index(lines.len() + 1), format!("\"{}", stray.replace('"', "")).into_bytes());
        let mut data = b"comment_id,article_id,text\n".to_vec();
        data.extend(lines.join(&b'\n'));
        let ing = run("c.csv", &data, None);
        let got = texts_by_id(&ing);
        for (i, t) in texts.iter().enumerate() {
            if t.trim().is_empty() { continue; }
            prop_assert_eq!(got.get(&format!("valid-{i}")), Some(t), "lost valid-{}", i);
        }
    }

    #[test]
    fn disqus_keeps_every_valid_post_among_garbage_lines(
        texts in prop::collection::vec("[a-zA-Z0-9 .,!?]{1,40}", 1..8),
        garbage in prop::collection::vec("[^\n]{0,50}|<[a-z!?/\\[]{1,8}[^\n]{0,20}", 0..10),
        seed in any::<u64>(),
    ) {
        let posts: Vec<Vec<u8>> = texts.iter().enumerate().map(|(i, t)| {
            format!("<post dsq:id=\"valid-{i}\"><message><![CDATA[<p>{t}</p>]]></message><thread dsq:id=\"th\"/></post>").into_bytes()
        }).collect();
        let garbage: Vec<Vec<u8>> = garbage.iter().map(|g| g.clone().into_bytes()).collect();
        let mut data = b"<?xml version=\"1.0\"?>\n<disqus xmlns:dsq=\"http://disqus.com/disqus-internals\">\n".to_vec();
        data.extend(interleave(&posts, &garbage, seed));
        data.extend_from_slice(b"\n</disqus>\n");
        let ing = run("export.xml", &data, None);
        let got = texts_by_id(&ing);
        for (i, t) in texts.iter().enumerate() {
            if t.trim().is_empty() { continue; }
            prop_assert_eq!(got.get(&format!("valid-{i}")).map(String::as_str), Some(t.trim()), "lost valid-{}", i);
        }
    }

    #[test]
    fn page_keeps_every_comment_header_among_garbage_lines(
        comments in prop::collection::vec(("[A-Z][a-z]{2,8}", 1u32..28, 0u32..24, 0u32..60, "[a-zA-Z][a-zA-Z ,.]{0,39}", 0usize..3), 1..10),
        garbage in prop::collection::vec("[a-zA-Z0-9 ,.;:!?'()-]{0,60}", 0..10),
        seed in any::<u64>(),
    ) {
        let mut lines: Vec<Vec<u8>> = Vec::new();
        let mut depth_allowed = 0;
        for (author, day, hour, minute, text, depth) in &comments {
            let depth = (*depth).min(depth_allowed);
            depth_allowed = depth + 1;
            let pad = "  ".repeat(depth + 1);
            lines.push(format!("{pad}• {author} // {day:02}.09.2024 à {hour:02}h{minute:02}\n{pad}  {text}").into_bytes());
        }
        let garbage: Vec<Vec<u8>> = garbage.iter().map(|g| g.clone().into_bytes()).collect();
        let mut data = b"Site Site\n21.09.2024 // Site\n\nA title for the page\n\nThe body of the article.\n\n3 commentaires\n\n".to_vec();
        data.extend(interleave(&lines, &garbage, seed));
        let ing = run("site/page.txt", &data, Some(InputFormat::Page));
        let got: Vec<(String, String)> = ing.comments.iter().map(|c| (c.author.clone().unwrap_or_default(), c.created_at.clone().unwrap_or_default())).collect();
        let want: Vec<(String, String)> = comments.iter().map(|(a, d, h, m, _, _)| (a.clone(), format!("2024-09-{d:02}T{h:02}:{m:02}:00"))).collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn parquet_keeps_every_valid_row(rows in prop::collection::vec((any::<bool>(), "[a-z ]{0,20}"), 1..30)) {
        use polars::prelude::*;
        let ids: Vec<Option<String>> = rows.iter().enumerate().map(|(i, (has_id, _))| has_id.then(|| format!("valid-{i}"))).collect();
        let texts: Vec<String> = rows.iter().map(|(_, t)| t.clone()).collect();
        let mut df = df!("comment_id" => ids.clone(), "article_id" => vec!["a"; rows.len()], "text" => texts.clone()).unwrap();
        let mut bytes = Vec::new();
        ParquetWriter::new(&mut bytes).finish(&mut df).unwrap();
        let ing = run("c.parquet", &bytes, None);
        let got = texts_by_id(&ing);
        let mut expected_kept = 0;
        for (id, text) in ids.iter().zip(&texts) {
            if let (Some(id), false) = (id, text.trim().is_empty()) {
                prop_assert_eq!(got.get(id), Some(text));
                expected_kept += 1;
            }
        }
        prop_assert_eq!(ing.comments.len(), expected_kept);
        prop_assert_eq!(ing.summary.rejected, rows.len() - expected_kept);
    }
}

/// Valid lines in order, with garbage lines inserted at positions drawn from `seed`.
fn interleave(valid: &[Vec<u8>], garbage: &[Vec<u8>], seed: u64) -> Vec<u8> {
    let mut out: Vec<&[u8]> = valid.iter().map(Vec::as_slice).collect();
    let mut state = seed | 1;
    for g in garbage {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let at = (state % (out.len() as u64 + 1)) as usize;
        out.insert(at, g);
    }
    let mut data = out.join(&b'\n');
    data.push(b'\n');
    data
}
