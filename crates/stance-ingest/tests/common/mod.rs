//! Helpers shared by the ingest test files.

use stance_ingest::Ingested;

/// Every record read was kept or rejected, once.
pub fn counts_add_up(ing: &Ingested) {
    let s = &ing.summary;
    assert_eq!(
        s.records_read,
        (s.articles + s.comments + s.rejected) as u64,
        "{s:?}"
    );
}
