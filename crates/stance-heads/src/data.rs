//! Labelled datasets in the shared schema: readers, per-task label maps, row selectors.
//!
//! A data argument is a path, optionally followed by a selector after `#`:
//! `FILE#lang=de+fr,by=target_id,part=0-85,label=label_parent`.
//! - `lang`: keep rows whose `lang` is one of the `+`-separated codes;
//! - `by` + `part`: a deterministic held-out split: groups of rows sharing the `by` field
//!   (default `id`) are ordered by the SHA-256 of their key, and the groups whose start falls in
//!   the `part` percent range of the rows are kept. Disjoint ranges give disjoint row sets, and a
//!   group (a thread, a question) never straddles two parts;
//! - `label`: the field holding the label (default `label`; for the reply task, `label_parent`
//!   when the row has one, since reply stance is stance toward the parent).
//!
//! Files are JSONL (`.jsonl`, `.ndjson`, `.json` with one object per line), CSV/TSV or Parquet.

use crate::error::{HeadsError, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

pub use stance_core::task::{Task, TaskInput};

/// The feature layout a head reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputKind {
    /// The comment embedding `v`.
    Single,
    /// `[u, v, u·v, |u−v|]` for the context embedding `u` (target or parent) and the comment `v`.
    Pair,
}

impl InputKind {
    /// The layout a head of `task` reads.
    pub fn of(task: Task) -> InputKind {
        match task.input() {
            TaskInput::Comment => InputKind::Single,
            TaskInput::TargetAndComment | TaskInput::ParentAndComment => InputKind::Pair,
        }
    }
}

/// One labelled example.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub text: String,
    /// The target (stance) or parent text (reply); for irony, what the text answers when the
    /// file says (a `context` field, as MultiPICo's parent post), which a fine-tuned irony model
    /// reads and a head ignores; `None` otherwise.
    pub context: Option<String>,
    pub label: String,
    pub lang: Option<String>,
}

/// The examples read from one data argument.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The data argument as given (path and selector).
    pub spec: String,
    pub examples: Vec<Example>,
    /// Rows left out, with the reason (a reply whose parent text is nowhere in the data).
    pub skipped: Vec<(u64, String)>,
}

impl Dataset {
    /// Label counts, in label order.
    pub fn label_counts(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for e in &self.examples {
            *counts.entry(e.label.clone()).or_insert(0) += 1;
        }
        counts
    }
}

/// A parsed data argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataSpec {
    pub path: PathBuf,
    pub langs: Option<Vec<String>>,
    pub by: Option<String>,
    /// Percent range `[from, to)` of the hashed group order (`to == 100` includes the end).
    pub part: Option<(u32, u32)>,
    pub label_field: Option<String>,
    raw: String,
}

impl DataSpec {
    /// The same data restricted to the percent range `[from, to)` of its hashed row order
    /// (used to hold out validation rows when none are given).
    pub fn with_part(&self, from: u32, to: u32) -> Result<DataSpec> {
        if self.part.is_some() {
            return Err(HeadsError::File {
                path: self.path.clone(),
                message: "already selects a part; give validation data explicitly".into(),
            });
        }
        let sep = if self.raw.contains('#') { ',' } else { '#' };
        format!("{}{sep}part={from}-{to}", self.raw).parse()
    }
}

impl fmt::Display for DataSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl FromStr for DataSpec {
    type Err = HeadsError;
    fn from_str(raw: &str) -> Result<Self> {
        let (path, selector) = match raw.rsplit_once('#') {
            Some((p, s)) => (p, Some(s)),
            None => (raw, None),
        };
        let bad = |message: String| HeadsError::File {
            path: PathBuf::from(path),
            message,
        };
        let mut spec = DataSpec {
            path: PathBuf::from(path),
            langs: None,
            by: None,
            part: None,
            label_field: None,
            raw: raw.to_string(),
        };
        for item in selector
            .into_iter()
            .flat_map(|s| s.split(','))
            .filter(|s| !s.is_empty())
        {
            let (key, value) = item
                .split_once('=')
                .ok_or_else(|| bad(format!("selector `{item}` is not KEY=VALUE")))?;
            match key {
                "lang" => spec.langs = Some(value.split('+').map(str::to_string).collect()),
                "by" => spec.by = Some(value.to_string()),
                "label" => spec.label_field = Some(value.to_string()),
                "part" => {
                    let range = value
                        .split_once('-')
                        .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)));
                    match range {
                        Some((a, b)) if a < b && b <= 100 => spec.part = Some((a, b)),
                        _ => {
                            return Err(bad(format!(
                                "part `{value}` is not FROM-TO with 0 <= FROM < TO <= 100"
                            )))
                        }
                    }
                }
                _ => {
                    return Err(bad(format!(
                        "unknown selector key `{key}` (lang, by, part, label)"
                    )))
                }
            }
        }
        if spec.by.is_some() && spec.part.is_none() {
            return Err(bad("`by` needs a `part` range".into()));
        }
        Ok(spec)
    }
}

/// One row of a data file with its 1-based position (line for text formats).
type Row = (u64, Map<String, Value>);

/// Reads the rows of a file, whatever its format, as JSON objects (CSV and Parquet cells as strings).
pub fn read_rows(path: &Path) -> Result<Vec<Row>> {
    stance_io::table::read_rows(path).map_err(|e| match e {
        stance_io::TableError::File { path, message } => HeadsError::File { path, message },
        stance_io::TableError::Row { path, row, message } => HeadsError::Row { path, row, message },
    })
}

fn row_error(path: &Path, row: u64, message: &str) -> HeadsError {
    HeadsError::Row {
        path: path.into(),
        row,
        message: message.to_string(),
    }
}

/// A field as text: strings as they are, numbers and booleans printed, null and absence as `None`.
fn field(map: &Map<String, Value>, key: &str) -> Option<String> {
    match map.get(key)? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// Reads one data argument for `task`.
pub fn read_dataset(spec: &DataSpec, task: Task) -> Result<Dataset> {
    let path = spec.path.as_path();
    let rows = read_rows(path)?;
    // Reply parents (and, for stance rows without a `target`, thread sources) are looked up
    // among all rows of the file, before any selection.
    let parents = match task {
        Task::Reply | Task::Stance => Some(ParentIndex::new(path, &rows)?),
        _ => None,
    };
    let rows = select(spec, rows)?;
    let mut examples = Vec::with_capacity(rows.len());
    let mut skipped = Vec::new();
    for (row, map) in &rows {
        let text = field(map, "text").ok_or_else(|| row_error(path, *row, "no `text` field"))?;
        let label_field = match (&spec.label_field, task) {
            (Some(f), _) => f.as_str(),
            (None, Task::Reply) if field(map, "label_parent").is_some() => "label_parent",
            (None, _) => "label",
        };
        let raw = field(map, label_field)
            .map(|l| l.trim().to_lowercase())
            .filter(|l| !l.is_empty())
            .ok_or_else(|| row_error(path, *row, &format!("no label in `{label_field}`")))?;
        let context = match task {
            Task::Stance => match field(map, "target").filter(|t| !t.trim().is_empty()) {
                Some(target) => Some(target),
                // A thread set: each post's stance is toward the thread's source.
                None if is_thread_source(map) => {
                    skipped.push((*row, "a thread's source post (no stance toward itself)".into()));
                    continue;
                }
                None => {
                    let thread = field(map, "thread_id").ok_or_else(|| {
                        let message = "stance rows need a non-empty `target` or a `thread_id`";
                        row_error(path, *row, message)
                    })?;
                    match parents.as_ref().and_then(|p| p.thread_source(Some(&thread))) {
                        Some(source) => Some(source),
                        None => {
                            let reason = format!("the source of thread `{thread}` not found");
                            skipped.push((*row, reason));
                            continue;
                        }
                    }
                }
            },
            Task::Reply => match parents.as_ref().and_then(|p| p.parent_text(map)) {
                Some(parent) => Some(parent),
                None => {
                    skipped.push((
                        *row,
                        "parent text not found (no `parent_text`, parent row or thread source)"
                            .into(),
                    ));
                    continue;
                }
            },
            // Irony depends on what a reply answers: kept for the models that read it.
            Task::Irony => field(map, "context").filter(|c| !c.trim().is_empty()),
            Task::Sentiment | Task::Toxicity => None,
        };
        examples.push(Example {
            text,
            context,
            label: task.map_label(&raw),
            lang: field(map, "lang"),
        });
    }
    Ok(Dataset {
        spec: spec.to_string(),
        examples,
        skipped,
    })
}

/// Reads several data arguments, failing on the first error.
pub fn read_datasets(specs: &[DataSpec], task: Task) -> Result<Vec<Dataset>> {
    specs.iter().map(|s| read_dataset(s, task)).collect()
}

/// Applies the `lang` filter, then the hashed `part` split.
fn select(spec: &DataSpec, rows: Vec<Row>) -> Result<Vec<Row>> {
    let rows: Vec<Row> = match &spec.langs {
        Some(langs) => rows
            .into_iter()
            .filter(|(_, m)| field(m, "lang").is_some_and(|l| langs.contains(&l)))
            .collect(),
        None => rows,
    };
    let Some((from, to)) = spec.part else {
        return Ok(rows);
    };
    // Rows are grouped by `by`; without it, by `id`, or by the text itself when there is no id.
    let by = spec.by.as_deref().unwrap_or("id");
    let mut groups: BTreeMap<([u8; 32], String), Vec<usize>> = BTreeMap::new();
    for (i, (row, map)) in rows.iter().enumerate() {
        let key = field(map, by)
            .or_else(|| {
                if spec.by.is_none() {
                    field(map, "text")
                } else {
                    None
                }
            })
            .ok_or_else(|| row_error(&spec.path, *row, &format!("no `{by}` field to split by")))?;
        let hash: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        groups.entry((hash, key)).or_default().push(i);
    }
    let total = rows.len().max(1) as f64;
    let mut keep = vec![false; rows.len()];
    let mut before = 0usize;
    for members in groups.values() {
        let start = 100.0 * before as f64 / total;
        if start >= f64::from(from) && start < f64::from(to) {
            for &i in members {
                keep[i] = true;
            }
        }
        before += members.len();
    }
    Ok(rows
        .into_iter()
        .zip(keep)
        .filter_map(|(r, k)| k.then_some(r))
        .collect())
}

/// Where a reply's parent text comes from: the `parent_text` field, the row whose `id` is the
/// `parent_id`, or — for a direct reply to the thread source, a source post itself, or a reply
/// whose parent is missing from the data — the thread source from the `threads.jsonl` beside
/// the file.
struct ParentIndex {
    by_id: HashMap<String, String>,
    threads: HashMap<String, String>,
}

impl ParentIndex {
    fn new(path: &Path, rows: &[Row]) -> Result<Self> {
        let by_id = rows
            .iter()
            .filter_map(|(_, m)| Some((field(m, "id")?, field(m, "text")?)))
            .collect();
        let threads_path = path.with_file_name("threads.jsonl");
        let threads = if threads_path.is_file() && threads_path != path {
            read_rows(&threads_path)?
                .into_iter()
                .filter_map(|(_, m)| Some((field(&m, "thread_id")?, thread_source_text(&m))))
                .collect()
        } else {
            HashMap::new()
        };
        Ok(ParentIndex { by_id, threads })
    }

    /// The text a row replies to: its `parent_text`, else its `target` (a target-stance file:
    /// the statement the text responds to), else its parent or thread source in the file.
    fn parent_text(&self, row: &Map<String, Value>) -> Option<String> {
        if let Some(text) = field(row, "parent_text").or_else(|| field(row, "target")) {
            return Some(text);
        }
        let thread = field(row, "thread_id");
        match field(row, "parent_id") {
            Some(pid) if thread.as_deref() == Some(pid.as_str()) => self
                .threads
                .get(&pid)
                .or_else(|| self.by_id.get(&pid))
                .cloned(),
            // A parent missing from the data (deleted, not collected): the reply is paired with
            // the thread source, which it ultimately answers.
            Some(pid) => self
                .by_id
                .get(&pid)
                .cloned()
                .or_else(|| self.thread_source(thread.as_deref())),
            // A thread's source post: its "parent" is the thread source, i.e. itself.
            None => self.thread_source(thread.as_deref()),
        }
    }

    fn thread_source(&self, thread: Option<&str>) -> Option<String> {
        let t = thread?;
        self.threads.get(t).or_else(|| self.by_id.get(t)).cloned()
    }
}

/// Whether a thread row is the thread's source post itself (RumourEval labels those too).
fn is_thread_source(m: &Map<String, Value>) -> bool {
    field(m, "thread_id").is_some_and(|t| field(m, "id").as_deref() == Some(t.as_str()))
}

/// The text of a thread source: title and body, whichever are present.
fn thread_source_text(m: &Map<String, Value>) -> String {
    let title = field(m, "title").unwrap_or_default();
    let text = field(m, "text").unwrap_or_default();
    match (title.trim().is_empty(), text.trim().is_empty()) {
        (false, false) => format!("{}\n{}", title.trim(), text.trim()),
        (false, true) => title.trim().to_string(),
        _ => text.trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Each example as (text, context, label); every example here has a context.
    fn text_context_label(d: &Dataset) -> Vec<(&str, &str, &str)> {
        d.examples
            .iter()
            .map(|e| (e.text.as_str(), e.context.as_deref().unwrap(), e.label.as_str()))
            .collect()
    }

    fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::File::create(&p)
            .unwrap()
            .write_all(body.as_bytes())
            .unwrap();
        p
    }

    #[test]
    fn parses_selectors() {
        let s: DataSpec = "a/b.jsonl#lang=de+fr,by=target_id,part=0-85"
            .parse()
            .unwrap();
        assert_eq!(s.path, PathBuf::from("a/b.jsonl"));
        assert_eq!(s.langs, Some(vec!["de".to_string(), "fr".to_string()]));
        assert_eq!(s.by.as_deref(), Some("target_id"));
        assert_eq!(s.part, Some((0, 85)));
        assert_eq!(s.to_string(), "a/b.jsonl#lang=de+fr,by=target_id,part=0-85");
        assert!("x.jsonl#part=50-10".parse::<DataSpec>().is_err());
        assert!("x.jsonl#by=id".parse::<DataSpec>().is_err());
        assert!("x.jsonl#colour=red".parse::<DataSpec>().is_err());
        assert_eq!("plain.csv".parse::<DataSpec>().unwrap().part, None);
        let held = "plain.csv"
            .parse::<DataSpec>()
            .unwrap()
            .with_part(80, 100)
            .unwrap();
        assert_eq!(held.to_string(), "plain.csv#part=80-100");
        assert_eq!(held.part, Some((80, 100)));
        assert!(held.with_part(0, 10).is_err());
        assert_eq!(s.langs.as_ref().map(Vec::len), Some(2));
    }

    #[test]
    fn parts_partition_rows_and_keep_groups_whole() {
        let dir = tempfile::tempdir().unwrap();
        let body: String = (0..200)
            .map(|i| {
                format!(
                    "{{\"id\":\"{i}\",\"g\":\"{}\",\"text\":\"t{i}\",\"label\":\"x\"}}\n",
                    i % 17
                )
            })
            .collect();
        let path = write(dir.path(), "d.jsonl", &body);
        let read = |sel: &str| {
            let spec: DataSpec = format!("{}#{sel}", path.display()).parse().unwrap();
            read_dataset(&spec, Task::Sentiment).unwrap().examples
        };
        let a = read("by=g,part=0-70");
        let b = read("by=g,part=70-100");
        assert_eq!(a.len() + b.len(), 200);
        assert!(a.len() > 100 && b.len() > 30, "{} / {}", a.len(), b.len());
        let group = |e: &Example| e.text[1..].parse::<usize>().unwrap() % 17;
        let ga: std::collections::HashSet<usize> = a.iter().map(group).collect();
        assert!(b.iter().all(|e| !ga.contains(&group(e))));
        assert_eq!(read("by=g,part=0-70"), a, "the split is deterministic");
    }

    #[test]
    fn reply_labels_and_parents() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "threads.jsonl",
            "{\"thread_id\":\"t1\",\"title\":\"Headline\",\"text\":\"\"}\n",
        );
        let path = write(
            dir.path(),
            "all.jsonl",
            concat!(
                "{\"id\":\"a\",\"thread_id\":\"t1\",\"parent_id\":\"t1\",\"text\":\"first\",\"label\":\"comment\",\"label_parent\":\"deny\"}\n",
                "{\"id\":\"b\",\"thread_id\":\"t1\",\"parent_id\":\"a\",\"text\":\"second\",\"label\":\"support\"}\n",
                "{\"id\":\"c\",\"thread_id\":\"t1\",\"parent_id\":\"gone\",\"text\":\"orphan\",\"label\":\"query\"}\n",
                "{\"id\":\"e\",\"thread_id\":\"t9\",\"parent_id\":\"gone\",\"text\":\"lost\",\"label\":\"query\"}\n",
                "{\"id\":\"d\",\"thread_id\":\"t1\",\"parent_id\":\"a\",\"parent_text\":\"given\",\"text\":\"x\",\"label\":\"comment\"}\n",
            ),
        );
        let spec: DataSpec = path.display().to_string().parse().unwrap();
        let d = read_dataset(&spec, Task::Reply).unwrap();
        assert_eq!(
            text_context_label(&d),
            vec![
                ("first", "Headline", "disagree"),
                ("second", "first", "agree"),
                ("orphan", "Headline", "none"),
                ("x", "given", "none")
            ]
        );
        // Neither the parent nor the thread source of row 4 is known.
        assert_eq!(d.skipped.len(), 1);
        assert_eq!(d.skipped[0].0, 4);
        // An explicit label field overrides `label_parent`.
        let spec: DataSpec = format!("{}#label=label", path.display()).parse().unwrap();
        assert_eq!(
            read_dataset(&spec, Task::Reply).unwrap().examples[0].label,
            "none"
        );

        // A target-stance file reads as replies to its targets.
        let path = write(
            dir.path(),
            "statements.jsonl",
            concat!(
                "{\"target\":\"Raise the minimum wage.\",\"text\":\"Yes, long overdue.\",\"label\":\"favor\"}\n",
                "{\"target\":\"Raise the minimum wage.\",\"text\":\"It costs jobs.\",\"label\":\"against\"}\n",
                "{\"target\":\"Raise the minimum wage.\",\"text\":\"Depends.\",\"label\":\"none\"}\n",
            ),
        );
        let spec: DataSpec = path.display().to_string().parse().unwrap();
        let d = read_dataset(&spec, Task::Reply).unwrap();
        let got: Vec<(&str, &str)> =
            d.examples.iter().map(|e| (e.context.as_deref().unwrap(), e.label.as_str())).collect();
        assert_eq!(
            got,
            vec![
                ("Raise the minimum wage.", "agree"),
                ("Raise the minimum wage.", "disagree"),
                ("Raise the minimum wage.", "none")
            ]
        );
    }

    #[test]
    fn csv_rows_and_errors_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "mine.csv",
            "text,label,lang\n\"Great, really\",Positive,en\nmeh,,en\n",
        );
        let spec: DataSpec = path.display().to_string().parse().unwrap();
        let err = read_dataset(&spec, Task::Sentiment)
            .unwrap_err()
            .to_string();
        assert!(err.contains(":3:") && err.contains("no label"), "{err}");
        let path = write(
            dir.path(),
            "ok.csv",
            "text,label\n\"Great, really\",Positive\n",
        );
        let spec: DataSpec = path.display().to_string().parse().unwrap();
        let d = read_dataset(&spec, Task::Sentiment).unwrap();
        assert_eq!(d.examples[0].text, "Great, really");
        assert_eq!(d.examples[0].label, "positive");
    }

    #[test]
    fn stance_needs_a_target() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "s.jsonl",
            "{\"text\":\"t\",\"label\":\"favor\"}\n",
        );
        let spec: DataSpec = path.display().to_string().parse().unwrap();
        assert!(read_dataset(&spec, Task::Stance)
            .unwrap_err()
            .to_string()
            .contains("target"));
    }

    #[test]
    fn irony_rows_keep_what_they_answer_and_other_tone_rows_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "i.jsonl",
            "{\"text\":\"Great, another Monday.\",\"context\":\"I love Mondays\",\"label\":\"ironic\"}\n\
             {\"text\":\"Nice day\",\"context\":\" \",\"label\":\"not_ironic\"}\n",
        );
        let spec: DataSpec = path.display().to_string().parse().unwrap();
        let irony = read_dataset(&spec, Task::Irony).unwrap();
        let contexts: Vec<Option<&str>> = irony.examples.iter().map(|e| e.context.as_deref()).collect();
        assert_eq!(contexts, [Some("I love Mondays"), None]);
        let sentiment = write(
            dir.path(),
            "s.jsonl",
            "{\"text\":\"Nice day\",\"context\":\"Hi\",\"label\":\"positive\"}\n",
        );
        let spec: DataSpec = sentiment.display().to_string().parse().unwrap();
        assert_eq!(read_dataset(&spec, Task::Sentiment).unwrap().examples[0].context, None);
    }

    #[test]
    fn thread_posts_take_stance_toward_the_thread_source() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "threads.jsonl",
            "{\"thread_id\":\"t1\",\"title\":\"Headline\",\"text\":\"Lede\"}\n",
        );
        let path = write(
            dir.path(),
            "all.jsonl",
            concat!(
                "{\"id\":\"t1\",\"thread_id\":\"t1\",\"parent_id\":null,\"text\":\"source\",\"label\":\"support\"}\n",
                "{\"id\":\"a\",\"thread_id\":\"t1\",\"parent_id\":\"t1\",\"text\":\"first\",\"label\":\"deny\",\"label_parent\":\"support\"}\n",
                "{\"id\":\"b\",\"thread_id\":\"t1\",\"parent_id\":\"a\",\"text\":\"second\",\"label\":\"support\"}\n",
                "{\"id\":\"c\",\"thread_id\":\"t1\",\"parent_id\":\"b\",\"text\":\"third\",\"label\":\"query\"}\n",
                "{\"id\":\"d\",\"thread_id\":\"t9\",\"parent_id\":\"t9\",\"text\":\"lost\",\"label\":\"query\"}\n",
            ),
        );
        let d = read_dataset(&path.display().to_string().parse().unwrap(), Task::Stance).unwrap();
        // Every post is read against the source, whatever it replies to; `label`, not
        // `label_parent`, is the stance toward the source.
        assert_eq!(
            text_context_label(&d),
            vec![
                ("first", "Headline\nLede", "against"),
                ("second", "Headline\nLede", "favor"),
                ("third", "Headline\nLede", "none")
            ]
        );
        // The source post itself is skipped, and so is a post whose thread source is unknown.
        let skipped: Vec<u64> = d.skipped.iter().map(|s| s.0).collect();
        assert_eq!(skipped, [1, 5]);
    }

    #[test]
    fn parquet_rows_are_read() {
        use polars::prelude::*;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.parquet");
        let mut df =
            df!("text" => ["a", "b"], "label" => ["ironic", "not_ironic"], "n" => [1i64, 2])
                .unwrap();
        ParquetWriter::new(std::fs::File::create(&path).unwrap())
            .finish(&mut df)
            .unwrap();
        let spec: DataSpec = path.display().to_string().parse().unwrap();
        let d = read_dataset(&spec, Task::Irony).unwrap();
        assert_eq!(d.examples.len(), 2);
        assert_eq!(d.examples[1].label, "not_ironic");
    }
}
