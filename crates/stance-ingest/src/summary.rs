//! The counts printed after an ingest run.

use serde::Serialize;
use stance_core::{Article, Comment, Reject, Severity};
use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// What an ingest run read, kept and left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub files: usize,
    /// Records met in the inputs (kept + rejected).
    pub records_read: u64,
    /// Articles kept from the inputs (placeholders not included).
    pub articles: usize,
    /// Articles added only because comments referred to them.
    pub placeholder_articles: usize,
    pub comments: usize,
    /// Error rejects: records (or unreadable rests of inputs) left out.
    pub rejected: usize,
    /// Warning rejects: records kept with a repair.
    pub warnings: usize,
    pub orphans: usize,
    pub cycles_broken: usize,
    /// Comments per language (`unknown` when none could be told).
    pub comment_languages: BTreeMap<String, usize>,
    /// The most frequent reasons for error rejects, most frequent first (at most
    /// [`COMMON_REJECTS`]): what the summary shows of `rejects.jsonl`.
    pub common_rejects: Vec<RejectReason>,
}

/// How many reasons [`Summary::common_rejects`] keeps.
pub const COMMON_REJECTS: usize = 3;

/// One reason records were rejected for, with how many and where the first was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectReason {
    pub count: usize,
    pub field: Option<String>,
    pub reason: String,
    pub first_file: String,
    pub first_line: u64,
}

impl Summary {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        files: usize,
        records_read: u64,
        articles: &[Article],
        placeholder_articles: usize,
        comments: &[Comment],
        rejects: &[Reject],
        orphans: usize,
        cycles_broken: usize,
    ) -> Self {
        let mut comment_languages = BTreeMap::new();
        for c in comments {
            *comment_languages
                .entry(c.lang.clone().unwrap_or_else(|| "unknown".into()))
                .or_insert(0) += 1;
        }
        let errors: Vec<&Reject> = rejects.iter().filter(|r| r.severity == Severity::Error).collect();
        let rejected = errors.len();
        // Reasons by count, ties in the order first met (rejects come sorted by file and line).
        let mut reasons: Vec<RejectReason> = Vec::new();
        let mut index: HashMap<(&Option<String>, &str), usize> = HashMap::new();
        for r in &errors {
            let i = *index.entry((&r.field, &r.reason)).or_insert_with(|| {
                reasons.push(RejectReason {
                    count: 0,
                    field: r.field.clone(),
                    reason: r.reason.clone(),
                    first_file: r.file.clone(),
                    first_line: r.line,
                });
                reasons.len() - 1
            });
            reasons[i].count += 1;
        }
        reasons.sort_by(|a, b| b.count.cmp(&a.count));
        reasons.truncate(COMMON_REJECTS);
        Summary {
            files,
            records_read,
            articles: articles.len() - placeholder_articles,
            placeholder_articles,
            comments: comments.len(),
            rejected,
            warnings: rejects.len() - rejected,
            orphans,
            cycles_broken,
            comment_languages,
            common_rejects: reasons,
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        writeln!(
            f,
            "read {} records from {} input{}: kept {} article{} and {} comment{}, rejected {}, {} warning{}",
            self.records_read,
            self.files,
            plural(self.files),
            self.articles,
            plural(self.articles),
            self.comments,
            plural(self.comments),
            self.rejected,
            self.warnings,
            plural(self.warnings),
        )?;
        for r in &self.common_rejects {
            let field = r.field.as_deref().map(|f| format!("`{f}`: ")).unwrap_or_default();
            writeln!(
                f,
                "  rejected {} × {field}{} (first: {} line {})",
                r.count, r.reason, r.first_file, r.first_line
            )?;
        }
        writeln!(
            f,
            "threads: {} orphan{} attached at top level, {} cycle{} broken, {} placeholder article{}",
            self.orphans,
            plural(self.orphans),
            self.cycles_broken,
            plural(self.cycles_broken),
            self.placeholder_articles,
            plural(self.placeholder_articles),
        )?;
        let mut langs: Vec<(&String, &usize)> = self.comment_languages.iter().collect();
        langs.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let list: Vec<String> = langs.iter().map(|(l, n)| format!("{l} {n}")).collect();
        write!(
            f,
            "comment languages: {}",
            if list.is_empty() {
                "none".to_string()
            } else {
                list.join(", ")
            }
        )
    }
}
