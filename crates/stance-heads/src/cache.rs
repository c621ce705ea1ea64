//! An on-disk embedding cache, so that training and evaluation reruns do not re-encode.
//!
//! Layout: `<root>/<first 16 hex digits of sha256(encoder id)>/seg-<pid>-<nanos>.bin`. Each
//! process appends to a segment of its own, so concurrent runs never interleave writes. A
//! segment is a magic line followed by records
//! `sha256(encoder id, text) [32] | dim u32 LE | dim × f32 LE | FNV-1a 64 of the preceding bytes`.
//! A torn or corrupt record ends the reading of its segment: the cache can lose entries, never
//! return wrong ones, and it is never needed for correctness.

use crate::encoder::TextEncoder;
use crate::error::{HeadsError, Result};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

const MAGIC: &[u8] = b"stance-embeddings 1\n";

type Key = [u8; 32];

/// The cache directory: `$STANCE_CACHE_DIR/embeddings`, else `$XDG_CACHE_HOME/stance/embeddings`,
/// else `$HOME/.cache/stance/embeddings`.
pub fn default_cache_root() -> Option<PathBuf> {
    let nonempty = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = nonempty("STANCE_CACHE_DIR") {
        return Some(dir.join("embeddings"));
    }
    if let Some(dir) = nonempty("XDG_CACHE_HOME") {
        return Some(dir.join("stance").join("embeddings"));
    }
    nonempty("HOME").map(|h| h.join(".cache").join("stance").join("embeddings"))
}

fn key(encoder_id: &str, text: &str) -> Key {
    let mut h = Sha256::new();
    h.update(encoder_id.as_bytes());
    h.update([0u8]);
    h.update(text.as_bytes());
    h.finalize().into()
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The embeddings of one encoder, loaded from disk, with an append-only segment for new ones.
pub struct EmbeddingCache {
    dir: PathBuf,
    encoder_id: String,
    entries: HashMap<Key, Vec<f32>>,
    segment: Option<std::fs::File>,
}

impl EmbeddingCache {
    /// Opens (creating if needed) the cache of `encoder_id` under `root` and loads its entries.
    pub fn open(root: &Path, encoder_id: &str) -> Result<Self> {
        let id_hash = Sha256::digest(encoder_id.as_bytes());
        let hex: String = id_hash[..8].iter().map(|b| format!("{b:02x}")).collect();
        let dir = root.join(hex);
        std::fs::create_dir_all(&dir).map_err(|e| HeadsError::io(&dir, e))?;
        let mut segments: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(|e| HeadsError::io(&dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "bin"))
            .collect();
        segments.sort();
        let mut entries = HashMap::new();
        for path in segments {
            // An unreadable segment only loses its entries.
            if let Ok(bytes) = std::fs::read(&path) {
                read_segment(&bytes, &mut entries);
            }
        }
        Ok(EmbeddingCache {
            dir,
            encoder_id: encoder_id.to_string(),
            entries,
            segment: None,
        })
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, text: &str) -> Option<&[f32]> {
        self.entries
            .get(&key(&self.encoder_id, text))
            .map(Vec::as_slice)
    }

    /// Stores new embeddings in memory and appends them to this process's segment.
    pub fn insert(&mut self, items: &[(&str, &[f32])]) -> Result<()> {
        let mut buf = Vec::new();
        for (text, vector) in items {
            let k = key(&self.encoder_id, text);
            let start = buf.len();
            buf.extend_from_slice(&k);
            buf.extend_from_slice(&(vector.len() as u32).to_le_bytes());
            for v in *vector {
                buf.extend_from_slice(&v.to_le_bytes());
            }
            let sum = fnv1a(&buf[start..]);
            buf.extend_from_slice(&sum.to_le_bytes());
            self.entries.insert(k, vector.to_vec());
        }
        if self.segment.is_none() {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            let path = self
                .dir
                .join(format!("seg-{}-{nanos}.bin", std::process::id()));
            let mut file = std::fs::OpenOptions::new()
                .create_new(true)
                .append(true)
                .open(&path)
                .map_err(|e| HeadsError::io(&path, e))?;
            file.write_all(MAGIC)
                .map_err(|e| HeadsError::io(&path, e))?;
            self.segment = Some(file);
        }
        if let Some(file) = self.segment.as_mut() {
            file.write_all(&buf)
                .map_err(|e| HeadsError::io(&self.dir, e))?;
        }
        Ok(())
    }
}

fn read_segment(bytes: &[u8], entries: &mut HashMap<Key, Vec<f32>>) {
    let Some(mut rest) = bytes.strip_prefix(MAGIC) else {
        return;
    };
    while rest.len() >= 36 {
        let dim = u32::from_le_bytes([rest[32], rest[33], rest[34], rest[35]]) as usize;
        let body = 36 + 4 * dim;
        if rest.len() < body + 8 {
            return;
        }
        let mut sum = [0u8; 8];
        sum.copy_from_slice(&rest[body..body + 8]);
        if fnv1a(&rest[..body]) != u64::from_le_bytes(sum) {
            return;
        }
        let mut k = [0u8; 32];
        k.copy_from_slice(&rest[..32]);
        let vector = rest[36..body]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        entries.insert(k, vector);
        rest = &rest[body + 8..];
    }
}

/// An encoder that answers from the cache and encodes only what is missing (or, built without a
/// cache, passes every text through). A cache that cannot be written is dropped, and the first
/// error is kept for the caller to report.
pub struct CachedEncoder<E> {
    inner: E,
    cache: Mutex<Option<EmbeddingCache>>,
    write_error: Mutex<Option<String>>,
}

impl<E: TextEncoder> CachedEncoder<E> {
    pub fn new(inner: E, cache: Option<EmbeddingCache>) -> Self {
        CachedEncoder {
            inner,
            cache: Mutex::new(cache),
            write_error: Mutex::new(None),
        }
    }

    /// The first error met while writing the cache, if any (the cache is off after it).
    pub fn write_error(&self) -> Option<String> {
        self.write_error.lock().ok().and_then(|e| e.clone())
    }
}

impl<E: TextEncoder> TextEncoder for CachedEncoder<E> {
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let mut guard = self
            .cache
            .lock()
            .map_err(|_| HeadsError::Encoder("embedding cache lock poisoned".into()))?;
        let Some(cache) = guard.as_mut() else {
            return self.inner.embed(texts);
        };
        let mut out: Vec<Option<Vec<f32>>> = texts
            .iter()
            .map(|t| cache.get(t).map(<[f32]>::to_vec))
            .collect();
        let missing: Vec<usize> = (0..texts.len()).filter(|&i| out[i].is_none()).collect();
        if !missing.is_empty() {
            let batch: Vec<&str> = missing.iter().map(|&i| texts[i]).collect();
            let vectors = self.inner.embed(&batch)?;
            if vectors.len() != batch.len() {
                return Err(HeadsError::Encoder(format!(
                    "{} vectors for {} texts",
                    vectors.len(),
                    batch.len()
                )));
            }
            let items: Vec<(&str, &[f32])> = batch
                .iter()
                .copied()
                .zip(vectors.iter().map(Vec::as_slice))
                .collect();
            if let Err(e) = cache.insert(&items) {
                if let Ok(mut slot) = self.write_error.lock() {
                    slot.get_or_insert_with(|| e.to_string());
                }
                *guard = None;
            }
            for (&i, v) in missing.iter().zip(vectors) {
                out[i] = Some(v);
            }
        }
        Ok(out.into_iter().flatten().collect())
    }

    fn id(&self) -> String {
        self.inner.id()
    }

    fn cache_id(&self) -> String {
        self.inner.cache_id()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// Encodes a text as [length, first byte], counting the texts it was asked for.
    struct Counting {
        calls: Cell<usize>,
    }

    impl TextEncoder for Counting {
        fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
            self.calls.set(self.calls.get() + texts.len());
            Ok(texts
                .iter()
                .map(|t| vec![t.len() as f32, f32::from(t.bytes().next().unwrap_or(0))])
                .collect())
        }
        fn id(&self) -> String {
            "counting/query: ".into()
        }
    }

    #[test]
    fn second_run_reads_from_disk() {
        let dir = tempfile::tempdir().unwrap();
        let enc = Counting {
            calls: Cell::new(0),
        };
        let cached = CachedEncoder::new(
            &enc,
            Some(EmbeddingCache::open(dir.path(), &enc.cache_id()).unwrap()),
        );
        let first = cached.embed(&["hello", "hi"]).unwrap();
        assert_eq!(enc.calls.get(), 2);
        let again = cached.embed(&["hi", "new"]).unwrap();
        assert_eq!(enc.calls.get(), 3, "only `new` is encoded");
        assert_eq!(again[0], first[1]);
        drop(cached);

        let reopened = EmbeddingCache::open(dir.path(), &enc.cache_id()).unwrap();
        assert_eq!(reopened.len(), 3);
        assert_eq!(reopened.get("hello"), Some(&[5.0, 104.0][..]));
        // Another encoder id sees none of it.
        assert!(EmbeddingCache::open(dir.path(), "other")
            .unwrap()
            .is_empty());
    }

    #[test]
    fn torn_and_corrupt_records_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = EmbeddingCache::open(dir.path(), "e").unwrap();
        cache
            .insert(&[("a", &[1.0, 2.0]), ("b", &[3.0, 4.0])])
            .unwrap();
        drop(cache);
        let sub = std::fs::read_dir(dir.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let seg = std::fs::read_dir(&sub)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let mut bytes = std::fs::read(&seg).unwrap();
        // Corrupt the second record's data, then append half a record.
        let record = 32 + 4 + 8 + 8;
        let second = MAGIC.len() + record + 36;
        bytes[second] ^= 0xFF;
        bytes.extend_from_slice(&[0u8; 20]);
        std::fs::write(&seg, bytes).unwrap();
        let cache = EmbeddingCache::open(dir.path(), "e").unwrap();
        assert_eq!(cache.get("a"), Some(&[1.0, 2.0][..]));
        assert_eq!(cache.get("b"), None);
    }
}
