//! No `--format`: compression and format detected from the content (a name without extension),
//! then whichever reader detection picks. Parquet is left out: polars is third-party code whose
//! panics the Parquet reader catches, and libFuzzer's panic hook would report those anyway.
#![no_main]
use libfuzzer_sys::fuzz_target;
use stance_fuzz::ingest_and_check;

fuzz_target!(|data: &[u8]| {
    if data.starts_with(b"PAR1") {
        return;
    }
    ingest_and_check("input", data, None);
});
