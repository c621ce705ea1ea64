//! One reader per input format; [`read`] picks it.

mod csv;
mod disqus;
mod jsonl;
pub(crate) mod page;
mod parquet;
mod reddit;
pub(crate) mod rows;

use crate::collect::Collector;
use crate::source::Opened;
use crate::{detect, IngestOptions, InputFormat};

/// Reads one opened input into the collector with the reader its format calls for.
pub(crate) fn read(
    opened: Opened,
    explicit: Option<InputFormat>,
    options: &IngestOptions,
    sink: &mut Collector,
) {
    let format = detect::detect(explicit, opened.extension_format, &opened.head);
    let slug = opened.slug.clone();
    match format {
        InputFormat::Jsonl => jsonl::read(opened.into_reader(), &slug, options, sink),
        InputFormat::Reddit => reddit::read(opened.into_reader(), options, sink),
        InputFormat::Csv => csv::read(opened.into_reader(), b',', &slug, options, sink),
        InputFormat::Tsv => csv::read(opened.into_reader(), b'\t', &slug, options, sink),
        InputFormat::Parquet | InputFormat::Disqus | InputFormat::Page => {
            let (data, error) = opened.read_all();
            match format {
                InputFormat::Parquet => parquet::read(&data, &slug, options, sink),
                InputFormat::Disqus => disqus::read(&data, options, sink),
                _ => page::read(&data, &slug, options, sink),
            }
            if let Some(e) = error {
                sink.error(
                    0,
                    None,
                    format!("input unreadable past byte {}: {e}", data.len()),
                );
            }
        }
    }
}
