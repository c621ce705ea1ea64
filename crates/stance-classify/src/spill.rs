//! The ingested comments on disk for the length of a run, so that scoring and writing hold one
//! chunk of comments at a time and memory does not grow with the archive (about 20 bytes per
//! comment stay in memory: where its text is, its parent's row, its article and language).
//!
//! Files, in the run's work directory (a temporary one for runs that write nothing):
//! - `input-NNNNNN.parquet`: chunk NNNNNN of the comments table as ingest made it, every input
//!   column, with one schema for all chunks;
//! - `texts.bin`: every comment's text, back to back, read for parents in other chunks and for
//!   the few comments the reports quote.
//!
//! They are written afresh by every run (from the same inputs they are the same), before the
//! model loads, and the ingested records are dropped once they are on disk.

use crate::error::{ClassifyError, Result};
use crate::score::ScoreInput;
use polars::prelude::{DataFrame, ParquetReader, SerReader};
use stance_core::{Article, Comment};
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

const TEXTS_FILE: &str = "texts.bin";
/// No parent in the data (a top-level comment, or one whose parent is unknown).
const NO_PARENT: u32 = u32::MAX;

/// The comments of a run, on disk; see the module documentation.
pub struct Spill {
    dir: PathBuf,
    /// Owns `dir` when it is a temporary directory.
    _temporary: Option<tempfile::TempDir>,
    chunk_size: usize,
    texts: Mutex<File>,
    /// Byte range of comment `i`'s text in `texts.bin`: `offsets[i]..offsets[i + 1]`.
    offsets: Vec<u64>,
    /// Row of each comment's parent, or [`NO_PARENT`].
    parents: Vec<u32>,
    /// Index of each comment's article in `targets`.
    articles: Vec<u32>,
    /// Index of each comment's language in `langs`.
    lang_ids: Vec<u16>,
    langs: Vec<Option<String>>,
    /// The text stance is measured toward, per article; `None` when the article has none.
    targets: Vec<Option<String>>,
}

impl Spill {
    /// Writes `comments` into `dir` (emptied first), or into a new temporary directory when
    /// `dir` is `None`, in chunks of `chunk_size`. `target` overrides every article's target
    /// (`target`, else `title`); an article with an empty one gets no stance.
    pub fn write(
        dir: Option<&Path>,
        comments: &[Comment],
        articles: &[Article],
        target: Option<&str>,
        chunk_size: usize,
    ) -> Result<Spill> {
        if chunk_size == 0 {
            return Err(ClassifyError::Invalid("the chunk size must be at least 1".into()));
        }
        let (dir, temporary) = match dir {
            Some(dir) => {
                if dir.exists() {
                    fs::remove_dir_all(dir).map_err(ClassifyError::io(dir))?;
                }
                fs::create_dir_all(dir).map_err(ClassifyError::io(dir))?;
                (dir.to_path_buf(), None)
            }
            None => {
                let temporary = tempfile::Builder::new()
                    .prefix("stance-comments-")
                    .tempdir()
                    .map_err(ClassifyError::io(std::env::temp_dir()))?;
                (temporary.path().to_path_buf(), Some(temporary))
            }
        };

        let schema = stance_ingest::ExtraSchema::infer(&comments.iter().map(|c| &c.extra).collect::<Vec<_>>());
        for (index, chunk) in comments.chunks(chunk_size).enumerate() {
            let mut frame = stance_ingest::comments_frame_with(chunk, &schema)?;
            let path = input_path(&dir, index);
            stance_io::table::write_parquet(&path, &mut frame, |e| ClassifyError::Checkpoint {
                path: path.clone(),
                message: e.to_string(),
            })?;
        }

        let texts_path = dir.join(TEXTS_FILE);
        let mut offsets = Vec::with_capacity(comments.len() + 1);
        offsets.push(0u64);
        {
            let file = File::create(&texts_path).map_err(ClassifyError::io(&texts_path))?;
            let mut w = BufWriter::new(file);
            for c in comments {
                w.write_all(c.text.as_bytes()).map_err(ClassifyError::io(&texts_path))?;
                offsets.push(offsets.last().copied().unwrap_or(0) + c.text.len() as u64);
            }
            w.flush().map_err(ClassifyError::io(&texts_path))?;
        }
        let texts = File::open(&texts_path).map_err(ClassifyError::io(&texts_path))?;

        let rows: HashMap<(&str, &str), u32> = comments
            .iter()
            .enumerate()
            .map(|(row, c)| ((c.article_id.as_str(), c.comment_id.as_str()), row as u32))
            .collect();
        let parents = comments
            .iter()
            .map(|c| {
                let parent = c.parent_id.as_deref().and_then(|p| rows.get(&(c.article_id.as_str(), p)));
                parent.copied().unwrap_or(NO_PARENT)
            })
            .collect();

        let mut article_index: HashMap<&str, u32> = HashMap::new();
        let mut targets = Vec::with_capacity(articles.len());
        for a in articles {
            let t = target.or(a.target.as_deref()).unwrap_or(a.title.as_str()).trim();
            article_index.entry(a.article_id.as_str()).or_insert(targets.len() as u32);
            targets.push((!t.is_empty()).then(|| t.to_string()));
        }
        let mut article_ids = Vec::with_capacity(comments.len());
        for c in comments {
            let index = *article_index.entry(c.article_id.as_str()).or_insert_with(|| {
                // Ingest adds a placeholder for every article a comment names; this is only for
                // records that did not come from ingest.
                targets.push(target.map(str::to_string));
                (targets.len() - 1) as u32
            });
            article_ids.push(index);
        }

        let mut lang_index: HashMap<Option<&str>, u16> = HashMap::new();
        let mut langs = Vec::new();
        let mut lang_ids = Vec::with_capacity(comments.len());
        for c in comments {
            let lang = c.lang.as_deref();
            let id = *lang_index.entry(lang).or_insert_with(|| {
                langs.push(lang.map(str::to_string));
                (langs.len() - 1) as u16
            });
            lang_ids.push(id);
        }
        if langs.len() > u16::MAX as usize {
            return Err(ClassifyError::Invalid(format!("{} distinct languages: at most {} are supported", langs.len(), u16::MAX)));
        }

        Ok(Spill {
            dir,
            _temporary: temporary,
            chunk_size,
            texts: Mutex::new(texts),
            offsets,
            parents,
            articles: article_ids,
            lang_ids,
            langs,
            targets,
        })
    }

    pub fn n_comments(&self) -> usize {
        self.parents.len()
    }

    pub fn chunk_size(&self) -> usize {
        self.chunk_size
    }

    pub fn n_chunks(&self) -> usize {
        self.n_comments().div_ceil(self.chunk_size)
    }

    /// Rows of the comments table that chunk `index` covers.
    pub fn rows(&self, index: usize) -> Range<usize> {
        crate::checkpoint::chunk_rows(index, self.chunk_size, self.n_comments())
    }

    /// Chunk `index` of the comments table as ingest made it.
    pub fn input_frame(&self, index: usize) -> Result<DataFrame> {
        let path = input_path(&self.dir, index);
        let file = File::open(&path).map_err(ClassifyError::io(&path))?;
        ParquetReader::new(file).finish().map_err(|e| ClassifyError::Checkpoint { path, message: e.to_string() })
    }

    /// The text of the comment at `row`.
    pub fn text(&self, row: usize) -> Result<String> {
        Ok(self.texts_of(row..row + 1)?.pop().unwrap_or_default())
    }

    /// The texts of `rows`, read in one go.
    fn texts_of(&self, rows: Range<usize>) -> Result<Vec<String>> {
        let path = self.dir.join(TEXTS_FILE);
        let (start, end) = (self.offsets[rows.start], self.offsets[rows.end]);
        let mut bytes = vec![0u8; (end - start) as usize];
        {
            let mut file = self.texts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            file.seek(SeekFrom::Start(start)).map_err(ClassifyError::io(&path))?;
            file.read_exact(&mut bytes).map_err(ClassifyError::io(&path))?;
        }
        rows.map(|row| {
            let range = (self.offsets[row] - start) as usize..(self.offsets[row + 1] - start) as usize;
            String::from_utf8(bytes[range].to_vec()).map_err(|e| ClassifyError::Checkpoint {
                path: path.clone(),
                message: format!("the text of comment row {row} is not UTF-8: {e}"),
            })
        })
        .collect()
    }

    /// What scoring reads of the comments of chunk `index`.
    pub fn chunk_inputs(&self, index: usize) -> Result<ChunkInputs<'_>> {
        let rows = self.rows(index);
        let texts = self.texts_of(rows.clone())?;
        let parents = rows
            .clone()
            .map(|row| match self.parents[row] {
                NO_PARENT => Ok(None),
                p if rows.contains(&(p as usize)) => Ok(None),
                p => self.text(p as usize).map(Some),
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(ChunkInputs { spill: self, rows, texts, outside_parents: parents })
    }
}

/// The texts of one chunk and of the parents it needs from other chunks.
pub struct ChunkInputs<'a> {
    spill: &'a Spill,
    rows: Range<usize>,
    texts: Vec<String>,
    /// The parent's text for a row whose parent is in another chunk.
    outside_parents: Vec<Option<String>>,
}

impl ChunkInputs<'_> {
    /// One [`ScoreInput`] per comment of the chunk, in order.
    pub fn inputs(&self) -> Vec<ScoreInput<'_>> {
        let spill = self.spill;
        self.rows
            .clone()
            .enumerate()
            .map(|(k, row)| {
                let parent = match spill.parents[row] {
                    NO_PARENT => None,
                    p if self.rows.contains(&(p as usize)) => Some(self.texts[p as usize - self.rows.start].as_str()),
                    _ => self.outside_parents[k].as_deref(),
                };
                ScoreInput {
                    text: &self.texts[k],
                    lang: spill.langs[spill.lang_ids[row] as usize].as_deref(),
                    target: spill.targets[spill.articles[row] as usize].as_deref(),
                    parent,
                }
            })
            .collect()
    }
}

fn input_path(dir: &Path, index: usize) -> PathBuf {
    dir.join(format!("input-{index:06}.parquet"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comment(id: &str, parent: Option<&str>, text: &str, lang: Option<&str>) -> Comment {
        let mut c = Comment::new(id, "a1", parent.map(str::to_string), text);
        c.lang = lang.map(str::to_string);
        c
    }

    #[test]
    fn chunks_read_back_with_parents_from_other_chunks_and_one_schema() {
        let mut comments = vec![
            comment("c1", None, "première", Some("fr")),
            comment("c2", Some("c1"), "réponse", Some("fr")),
            comment("c3", Some("c1"), "another", Some("en")),
            comment("c4", Some("gone"), "orphan", None),
            comment("c5", Some("c3"), "🙂 last", Some("en")),
        ];
        // An extra column present in the last chunk only still types every chunk alike.
        comments[4].extra.insert("likes".into(), serde_json::json!(3));
        let mut article = Article::placeholder("a1");
        article.title = "  The title  ".into();
        let tmp = tempfile::tempdir().unwrap();
        let spill = Spill::write(Some(&tmp.path().join("input")), &comments, &[article], None, 2).unwrap();
        assert_eq!((spill.n_comments(), spill.n_chunks()), (5, 3));
        assert_eq!(spill.rows(2), 4..5);

        let chunk = spill.chunk_inputs(1).unwrap();
        let inputs = chunk.inputs();
        assert_eq!(inputs.len(), 2);
        assert_eq!((inputs[0].text, inputs[0].parent, inputs[0].lang), ("another", Some("première"), Some("en")));
        assert_eq!((inputs[1].text, inputs[1].parent, inputs[1].lang), ("orphan", None, None));
        assert_eq!(inputs[0].target, Some("The title"));
        let first = spill.chunk_inputs(0).unwrap();
        assert_eq!(first.inputs()[1].parent, Some("première"), "a parent in the same chunk");
        assert_eq!(spill.text(4).unwrap(), "🙂 last");

        let schemas: Vec<_> = (0..3).map(|i| spill.input_frame(i).unwrap().schema().clone()).collect();
        assert!(schemas.iter().all(|s| *s == schemas[0]), "{schemas:?}");
        assert!(schemas[0].get("likes").is_some());
        let all = stance_ingest::comments_frame(&comments).unwrap();
        let mut stacked = spill.input_frame(0).unwrap();
        for i in 1..3 {
            stacked.vstack_mut(&spill.input_frame(i).unwrap()).unwrap();
        }
        assert!(stacked.equals_missing(&all));
    }

    #[test]
    fn a_target_overrides_the_articles_and_a_rewrite_starts_clean() {
        let comments = vec![comment("c1", None, "x", None)];
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("input");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("input-000007.parquet"), b"stale").unwrap();
        let spill = Spill::write(Some(&dir), &comments, &[Article::placeholder("a1")], Some("claim"), 4).unwrap();
        assert_eq!(spill.chunk_inputs(0).unwrap().inputs()[0].target, Some("claim"));
        assert!(!dir.join("input-000007.parquet").exists());
        let no_target = Spill::write(None, &comments, &[Article::placeholder("a1")], None, 4).unwrap();
        assert_eq!(no_target.chunk_inputs(0).unwrap().inputs()[0].target, None, "a placeholder has no target");
    }
}
