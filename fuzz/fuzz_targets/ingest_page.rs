//! Scraped comment pages saved as text (`--format page`): at most one article, comments
//! numbered c1, c2, … in page order, each parent earlier in the page than its reply.
#![no_main]
use libfuzzer_sys::fuzz_target;
use stance_fuzz::ingest_and_check;
use stance_ingest::InputFormat;

fuzz_target!(|data: &[u8]| {
    let ing = ingest_and_check("threads/some-site/page.txt", data, Some(InputFormat::Page));
    assert!(ing.summary.articles <= 1, "{:?}", ing.summary);
    for c in &ing.comments {
        let n: usize = c.comment_id[1..].parse().expect("page comment ids are c<n>");
        if let Some(p) = &c.parent_id {
            let p: usize = p[1..].parse().expect("page parent ids are c<n>");
            assert!(p < n, "parent after its reply: {c:?}");
        }
    }
});
