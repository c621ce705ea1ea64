//! Opening inputs: files, stdin or memory; gzip and zstd decompressed on the fly (detected from
//! the magic bytes, whatever the extension); the first bytes kept aside for format detection.

use crate::text::slugify;
use crate::{IngestError, InputFormat, InputSource, InputSpec};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Cursor, Read};
use std::path::Path;

/// How many decompressed bytes format detection may look at.
const HEAD_BYTES: u64 = 64 * 1024;

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

/// An opened input, ready to be read once.
pub(crate) struct Opened {
    /// Name used in rejects.
    pub name: String,
    /// Base for ids derived from the file name (see [`source_slug`]).
    pub slug: String,
    /// The format the extension suggests, if any.
    pub extension_format: Option<InputFormat>,
    /// The first (decompressed) bytes, for detection.
    pub head: Vec<u8>,
    rest: Box<dyn Read + Send>,
}

impl Opened {
    /// The whole (decompressed) stream, head included.
    pub fn into_reader(self) -> Box<dyn BufRead + Send> {
        Box::new(BufReader::with_capacity(
            256 * 1024,
            Cursor::new(self.head).chain(self.rest),
        ))
    }

    /// Reads everything into memory (formats that need random access: Parquet, XML).
    pub fn read_all(self) -> (Vec<u8>, Option<io::Error>) {
        let mut data = self.head;
        let mut rest = self.rest;
        let err = rest.read_to_end(&mut data).err();
        (data, err)
    }
}

pub(crate) fn open(input: &InputSpec) -> Result<Opened, IngestError> {
    let name = input.display_name();
    let (raw, slug, extension_format): (Box<dyn Read + Send>, String, Option<InputFormat>) =
        match &input.source {
            InputSource::Stdin => (Box::new(io::stdin()), "stdin".to_string(), None),
            InputSource::Path(path) => {
                let file = File::open(path).map_err(|source| IngestError::Open {
                    path: path.clone(),
                    source,
                })?;
                (Box::new(file), source_slug(path), extension_format(path))
            }
            InputSource::Memory { name, data } => {
                let path = Path::new(name);
                (
                    Box::new(Cursor::new(data.clone())),
                    source_slug(path),
                    extension_format(path),
                )
            }
        };
    let mut raw = raw;
    let mut magic = Vec::with_capacity(4);
    let magic_result = (&mut raw).take(4).read_to_end(&mut magic);
    let raw = Cursor::new(magic.clone()).chain(raw);
    let decoded: Box<dyn Read + Send> = match magic_result {
        Err(e) => Box::new(FailingReader(Some(e))),
        Ok(_) if magic.starts_with(GZIP_MAGIC) => Box::new(flate2::read::MultiGzDecoder::new(raw)),
        Ok(_) if magic.starts_with(ZSTD_MAGIC) => match zstd::stream::read::Decoder::new(raw) {
            Ok(decoder) => Box::new(decoder),
            Err(e) => Box::new(FailingReader(Some(e))),
        },
        Ok(_) => Box::new(raw),
    };
    let mut head = Vec::new();
    let mut decoded = decoded;
    let rest: Box<dyn Read + Send> = match (&mut decoded).take(HEAD_BYTES).read_to_end(&mut head) {
        Ok(_) => decoded,
        Err(e) => Box::new(FailingReader(Some(e))),
    };
    Ok(Opened {
        name,
        slug,
        extension_format,
        head,
        rest,
    })
}

/// Yields one I/O error, then end of stream: a read failure becomes a reject, not a crash.
struct FailingReader(Option<io::Error>);

impl Read for FailingReader {
    fn read(&mut self, _buf: &mut [u8]) -> io::Result<usize> {
        match self.0.take() {
            Some(e) => Err(e),
            None => Ok(0),
        }
    }
}

/// The file name, lower-cased, without `.gz`/`.zst`.
fn inner_name(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    for suffix in [".gz", ".gzip", ".zst", ".zstd"] {
        if let Some(stripped) = name.strip_suffix(suffix) {
            return stripped.to_string();
        }
    }
    name
}

fn extension_format(path: &Path) -> Option<InputFormat> {
    let name = inner_name(path);
    let ext = name.rsplit_once('.')?.1;
    match ext {
        "jsonl" | "ndjson" | "json" => Some(InputFormat::Jsonl),
        "csv" => Some(InputFormat::Csv),
        "tsv" | "tab" => Some(InputFormat::Tsv),
        "parquet" | "pq" => Some(InputFormat::Parquet),
        "xml" => Some(InputFormat::Disqus),
        "txt" | "text" => Some(InputFormat::Page),
        _ => None,
    }
}

/// File stems too generic to identify an article on their own.
const GENERIC_STEMS: &[&str] = &[
    "page", "index", "comments", "comment", "articles", "article", "thread", "threads", "posts",
    "data", "export", "dump", "input", "content", "text",
];

/// The base of ids derived from a file name: the file stem (without compression and format
/// extensions), or the name of its directory when the stem is generic (`page`, `index`,
/// `comments`, …), lower-cased with runs of other characters turned into `-`.
///
/// `threads/les-crises-durov/page.txt` → `les-crises-durov`; `dumps/lemonde.csv.gz` → `lemonde`.
pub fn source_slug(path: &Path) -> String {
    let name = inner_name(path);
    let stem = match name.rsplit_once('.') {
        Some((stem, _)) if !stem.is_empty() => stem.to_string(),
        _ => name.clone(),
    };
    let stem_slug = slugify(&stem);
    if GENERIC_STEMS.contains(&stem_slug.as_str()) || stem_slug.is_empty() {
        let parent = path
            .parent()
            .and_then(|p| p.file_name())
            .map(|n| slugify(&n.to_string_lossy()));
        if let Some(parent) = parent.filter(|p| !p.is_empty()) {
            return parent;
        }
    }
    if stem_slug.is_empty() {
        "input".to_string()
    } else {
        stem_slug
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slug_uses_directory_for_generic_stems() {
        assert_eq!(
            source_slug(Path::new("../x/les-crises-durov/page.txt")),
            "les-crises-durov"
        );
        assert_eq!(source_slug(Path::new("dumps/Le Monde.csv.gz")), "le-monde");
        assert_eq!(source_slug(Path::new("comments.jsonl")), "comments");
        assert_eq!(source_slug(Path::new("a/b/comments.jsonl.zst")), "b");
    }

    #[test]
    fn extension_hint_ignores_compression() {
        assert_eq!(
            extension_format(Path::new("x.CSV.gz")),
            Some(InputFormat::Csv)
        );
        assert_eq!(
            extension_format(Path::new("x.ndjson.zst")),
            Some(InputFormat::Jsonl)
        );
        assert_eq!(extension_format(Path::new("x.bin")), None);
    }
}
