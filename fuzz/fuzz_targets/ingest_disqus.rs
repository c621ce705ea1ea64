//! Disqus XML exports (`--format disqus`).
#![no_main]
use libfuzzer_sys::fuzz_target;
use stance_fuzz::ingest_and_check;
use stance_ingest::InputFormat;

fuzz_target!(|data: &[u8]| {
    ingest_and_check("export.xml", data, Some(InputFormat::Disqus));
});
