//! JSONL tables (`--format jsonl`): every non-blank line is one record, kept or rejected.
#![no_main]
use libfuzzer_sys::fuzz_target;
use stance_fuzz::{compressed, ingest_and_check, nonblank_lines};
use stance_ingest::InputFormat;

fuzz_target!(|data: &[u8]| {
    let ing = ingest_and_check("comments.jsonl", data, Some(InputFormat::Jsonl));
    if !compressed(data) {
        assert_eq!(ing.summary.records_read, nonblank_lines(data), "{:#?}", ing.rejects);
    }
});
