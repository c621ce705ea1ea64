//! CSV and TSV tables (`--format csv` / `--format tsv`): the same bytes through both delimiters.
#![no_main]
use libfuzzer_sys::fuzz_target;
use stance_fuzz::{compressed, ingest_and_check};
use stance_ingest::InputFormat;

fuzz_target!(|data: &[u8]| {
    for format in [InputFormat::Csv, InputFormat::Tsv] {
        let ing = ingest_and_check("comments.csv", data, Some(format));
        if !compressed(data) {
            // Records start on distinct non-blank lines.
            assert!(
                ing.summary.records_read <= stance_fuzz::nonblank_lines(data),
                "{format}: more records than non-blank lines: {:?}",
                ing.summary
            );
        }
    }
});
