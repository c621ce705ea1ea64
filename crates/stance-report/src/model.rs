//! What the reports show, read once from the aggregates and the comments: plain Rust values
//! that the text, Markdown and HTML renderers share, so the three never disagree.

use crate::cells::{bool_at, f64_at, millis_at, str_at, strings, u64_at};
use crate::{CommentChunks, ReportError, RunInfo};
use polars::prelude::*;
use stance_aggregate::{created_at_millis, Aggregates, Task};
use std::collections::HashMap;

/// Metrics of one group (a thread, or everything).
#[derive(Debug, Clone, Default)]
pub(crate) struct GroupStats {
    pub n_comments: u64,
    pub n_authors: Option<u64>,
    pub n_stance: Option<u64>,
    pub favor: Option<f64>,
    pub against: Option<f64>,
    pub none: Option<f64>,
    pub net_stance: Option<f64>,
    pub polarization: Option<f64>,
    pub negative: Option<f64>,
    pub neutral: Option<f64>,
    pub positive: Option<f64>,
    pub mean_polarity: Option<f64>,
    pub ironic: Option<f64>,
    pub toxic: Option<f64>,
    pub n_reply: Option<u64>,
    pub agree: Option<f64>,
    pub disagree: Option<f64>,
    pub none_reply: Option<f64>,
    pub controversy: Option<f64>,
}

impl GroupStats {
    fn read(df: &DataFrame, row: usize) -> GroupStats {
        let f = |c: &str| f64_at(df, c, row);
        let u = |c: &str| u64_at(df, c, row);
        GroupStats {
            n_comments: u("n_comments").unwrap_or(0),
            n_authors: u("n_authors"),
            n_stance: u("n_stance_labelled"),
            favor: f("share_favor"),
            against: f("share_against"),
            none: f("share_none"),
            net_stance: f("net_stance"),
            polarization: f("polarization"),
            negative: f("share_negative"),
            neutral: f("share_neutral"),
            positive: f("share_positive"),
            mean_polarity: f("mean_polarity"),
            ironic: f("share_ironic"),
            toxic: f("share_toxic"),
            n_reply: u("n_reply_labelled"),
            agree: f("share_agree"),
            disagree: f("share_disagree"),
            none_reply: f("share_none_reply"),
            controversy: f("controversy"),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct ThreadView {
    pub article_id: String,
    pub title: Option<String>,
    pub url: Option<String>,
    pub stats: GroupStats,
    pub max_depth: Option<u64>,
    pub first_ms: Option<i64>,
    pub last_ms: Option<i64>,
}

impl ThreadView {
    /// The title when there is one, else the id.
    pub fn label(&self) -> &str {
        match &self.title {
            Some(t) if !t.trim().is_empty() => t.trim(),
            _ => &self.article_id,
        }
    }
}

/// One comment as the reports show it.
#[derive(Debug, Clone, Default)]
pub(crate) struct CommentView {
    /// The comment's row in the comments table.
    pub row: usize,
    pub comment_id: String,
    pub author: Option<String>,
    pub created_ms: Option<i64>,
    pub text: Option<String>,
    pub stance: Option<String>,
    pub sentiment: Option<String>,
    pub reply: Option<String>,
    pub toxic: Option<bool>,
    pub ironic: Option<bool>,
}

/// A contested comment with the path from its thread's top-level comment and its direct replies.
#[derive(Debug, Clone)]
pub(crate) struct Chain {
    pub thread: String,
    pub ancestors: Vec<CommentView>,
    pub comment: CommentView,
    /// Direct replies, disagreeing ones first, then by time.
    pub replies: Vec<CommentView>,
    pub n_disagree: u64,
    pub n_direct: u64,
}

/// Time buckets of the activity chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bucket {
    Hour,
    Day,
    Week,
}

impl Bucket {
    pub fn millis(self) -> i64 {
        match self {
            Bucket::Hour => 3_600_000,
            Bucket::Day => 86_400_000,
            Bucket::Week => 7 * 86_400_000,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Bucket::Hour => "hour",
            Bucket::Day => "day",
            Bucket::Week => "week",
        }
    }
}

/// Comments per time bucket, split by stance label (`unlabelled` holds the rest, or all of them
/// when the stance task did not run).
#[derive(Debug, Clone, Default)]
pub(crate) struct TimePoint {
    pub start_ms: i64,
    pub favor: u64,
    pub against: u64,
    pub none: u64,
    pub unlabelled: u64,
}

impl TimePoint {
    pub fn total(&self) -> u64 {
        self.favor + self.against + self.none + self.unlabelled
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Timeline {
    pub bucket: Bucket,
    pub points: Vec<TimePoint>,
}

/// Everything the reports show.
#[derive(Debug, Clone)]
pub(crate) struct ReportModel {
    pub tasks: Vec<Task>,
    pub overall: GroupStats,
    pub n_threads: u64,
    pub n_anonymous: u64,
    pub n_orphans: u64,
    pub n_undated: u64,
    pub first_ms: Option<i64>,
    pub last_ms: Option<i64>,
    pub threads: Vec<ThreadView>,
    /// The columns of the threads table, for the definitions the reports print.
    pub thread_columns: Vec<String>,
    pub timeline: Option<Timeline>,
    pub chains: Vec<Chain>,
    pub run: RunInfo,
}

/// How many contested chains the reports show.
const CHAINS_SHOWN: usize = 6;
/// Direct replies shown under a contested comment.
pub(crate) const REPLIES_SHOWN: usize = 3;
/// At most this many buckets in the activity chart: the bucket grows until they fit.
const MAX_BUCKETS: i64 = 240;

impl ReportModel {
    /// `comments` has a row per comment; the texts it lacks are read from `texts`.
    pub fn new(
        comments: &DataFrame,
        aggregates: &Aggregates,
        run: &RunInfo,
        texts: &dyn CommentChunks,
    ) -> Result<Self, ReportError> {
        let overall = &aggregates.overall;
        let threads = (0..aggregates.threads.height())
            .map(|row| {
                let t = &aggregates.threads;
                ThreadView {
                    article_id: str_at(t, "article_id", row).unwrap_or_default(),
                    title: str_at(t, "title", row),
                    url: str_at(t, "url", row),
                    stats: GroupStats::read(t, row),
                    max_depth: u64_at(t, "max_depth", row),
                    first_ms: millis_at(t, "first_comment_at", row),
                    last_ms: millis_at(t, "last_comment_at", row),
                }
            })
            .collect::<Vec<_>>();
        let comments_view = Comments::read(comments)?;
        let timeline = timeline(&comments_view, aggregates.tasks.contains(&Task::Stance));
        let mut chains = chains(&comments_view, aggregates, &threads);
        for chain in &mut chains {
            let views = chain.ancestors.iter_mut().chain([&mut chain.comment]).chain(chain.replies.iter_mut());
            for view in views.filter(|v| v.text.is_none()) {
                view.text = texts.text(view.row)?;
            }
        }
        Ok(ReportModel {
            tasks: aggregates.tasks.clone(),
            overall: if overall.height() > 0 {
                GroupStats::read(overall, 0)
            } else {
                GroupStats::default()
            },
            n_threads: u64_at(overall, "n_articles", 0).unwrap_or(threads.len() as u64),
            n_anonymous: u64_at(overall, "n_anonymous", 0).unwrap_or(0),
            n_orphans: u64_at(overall, "n_orphans", 0).unwrap_or(0),
            n_undated: u64_at(overall, "n_undated", 0).unwrap_or(0),
            first_ms: millis_at(overall, "first_comment_at", 0),
            last_ms: millis_at(overall, "last_comment_at", 0),
            threads,
            thread_columns: aggregates
                .threads
                .get_column_names()
                .iter()
                .map(|n| n.to_string())
                .collect(),
            timeline,
            chains,
            run: run.clone(),
        })
    }

    pub fn has(&self, task: Task) -> bool {
        self.tasks.contains(&task)
    }

    /// Threads ordered for display: most controversial first when controversy exists, else
    /// most commented first; ties by id.
    pub fn threads_ranked(&self) -> Vec<&ThreadView> {
        let mut threads: Vec<&ThreadView> = self.threads.iter().collect();
        threads.sort_by(|a, b| {
            let key = |t: &ThreadView| t.stats.controversy.unwrap_or(-1.0);
            key(b)
                .total_cmp(&key(a))
                .then(b.stats.n_comments.cmp(&a.stats.n_comments))
                .then(a.article_id.cmp(&b.article_id))
        });
        threads
    }

    /// Threads by size, largest first; ties by id.
    pub fn threads_by_size(&self) -> Vec<&ThreadView> {
        let mut threads: Vec<&ThreadView> = self.threads.iter().collect();
        threads.sort_by(|a, b| {
            b.stats
                .n_comments
                .cmp(&a.stats.n_comments)
                .then(a.article_id.cmp(&b.article_id))
        });
        threads
    }
}

/// The comment columns the reports need for every row (ids, links, times, stance), read once;
/// the rest (text, author, other labels) is read only for the few comments shown.
struct Comments<'a> {
    df: &'a DataFrame,
    ids: Vec<Option<String>>,
    article: Vec<Option<String>>,
    parent: Vec<Option<String>>,
    stance: Vec<Option<String>>,
    times: Vec<Option<i64>>,
    index: HashMap<(String, String), usize>,
}

impl<'a> Comments<'a> {
    fn read(df: &'a DataFrame) -> Result<Self, ReportError> {
        let ids = strings(df, "comment_id");
        let article = strings(df, "article_id");
        let mut index = HashMap::with_capacity(ids.len());
        for (row, (a, id)) in article.iter().zip(&ids).enumerate() {
            if let (Some(a), Some(id)) = (a, id) {
                index.entry((a.clone(), id.clone())).or_insert(row);
            }
        }
        Ok(Comments {
            df,
            parent: strings(df, "parent_id"),
            stance: strings(df, "stance"),
            times: created_at_millis(df)?.iter().collect(),
            ids,
            article,
            index,
        })
    }

    fn view(&self, row: usize) -> CommentView {
        let df = self.df;
        CommentView {
            row,
            comment_id: self.ids[row].clone().unwrap_or_default(),
            author: str_at(df, "author", row),
            created_ms: self.times[row],
            text: str_at(df, "text", row),
            stance: self.stance[row].clone(),
            sentiment: str_at(df, "sentiment", row),
            reply: str_at(df, "reply", row),
            toxic: bool_at(df, "toxic", row),
            ironic: bool_at(df, "ironic", row),
        }
    }
}

fn timeline(comments: &Comments, with_stance: bool) -> Option<Timeline> {
    let times: Vec<(i64, Option<&str>)> = comments
        .times
        .iter()
        .zip(&comments.stance)
        .filter_map(|(t, s)| t.map(|t| (t, s.as_deref())))
        .collect();
    let first = times.iter().map(|t| t.0).min()?;
    let last = times.iter().map(|t| t.0).max()?;
    let span = last - first;
    let bucket = if span <= 3 * 86_400_000 {
        Bucket::Hour
    } else if span <= 180 * 86_400_000 {
        Bucket::Day
    } else {
        Bucket::Week
    };
    let mut width = bucket.millis();
    while span / width >= MAX_BUCKETS {
        width *= 2;
    }
    // Buckets start at multiples of the width since the epoch (UTC midnight for days); weeks
    // start on Mondays (the epoch was a Thursday).
    let offset = if bucket == Bucket::Week {
        4 * 86_400_000
    } else {
        0
    };
    let start = (first - offset).div_euclid(width) * width + offset;
    let n = ((last - start) / width + 1) as usize;
    let mut points: Vec<TimePoint> = (0..n)
        .map(|i| TimePoint {
            start_ms: start + i as i64 * width,
            ..TimePoint::default()
        })
        .collect();
    for (t, stance) in times {
        let i = ((t - start) / width) as usize;
        let Some(p) = points.get_mut(i) else { continue };
        match (with_stance, stance) {
            (true, Some("favor")) => p.favor += 1,
            (true, Some("against")) => p.against += 1,
            (true, Some("none")) => p.none += 1,
            _ => p.unlabelled += 1,
        }
    }
    let bucket = match width / bucket.millis() {
        1 => bucket,
        _ if width % Bucket::Week.millis() == 0 => Bucket::Week,
        _ if width % Bucket::Day.millis() == 0 => Bucket::Day,
        _ => bucket,
    };
    Some(Timeline { bucket, points })
}

fn chains(comments: &Comments, aggregates: &Aggregates, threads: &[ThreadView]) -> Vec<Chain> {
    let Some(contested) = &aggregates.contested else {
        return Vec::new();
    };
    let mut picks: Vec<(String, String, u64, u64)> = (0..contested.height())
        .filter_map(|row| {
            Some((
                str_at(contested, "article_id", row)?,
                str_at(contested, "comment_id", row)?,
                u64_at(contested, "n_disagree_replies", row)?,
                u64_at(contested, "n_direct_replies", row)?,
            ))
        })
        .collect();
    picks.sort_by(|a, b| {
        b.2.cmp(&a.2)
            .then(b.3.cmp(&a.3))
            .then(a.0.cmp(&b.0))
            .then(a.1.cmp(&b.1))
    });
    picks.truncate(CHAINS_SHOWN);
    let titles: HashMap<&str, &str> = threads
        .iter()
        .map(|t| (t.article_id.as_str(), t.label()))
        .collect();
    let mut children: HashMap<(String, String), Vec<usize>> = HashMap::new();
    for (row, parent) in comments.parent.iter().enumerate() {
        if let (Some(p), Some(a)) = (parent, &comments.article[row]) {
            children
                .entry((a.clone(), p.clone()))
                .or_default()
                .push(row);
        }
    }
    picks
        .into_iter()
        .filter_map(|(article, comment, n_disagree, n_direct)| {
            let &row = comments.index.get(&(article.clone(), comment.clone()))?;
            // Walk up to the top-level comment; the guard stops on a cycle ingest missed.
            let mut ancestors = Vec::new();
            let mut cursor = comments.parent[row].clone();
            let mut seen = std::collections::HashSet::from([row]);
            while let Some(parent) = cursor {
                let Some(&p) = comments.index.get(&(article.clone(), parent)) else {
                    break;
                };
                if !seen.insert(p) {
                    break;
                }
                ancestors.push(comments.view(p));
                cursor = comments.parent[p].clone();
            }
            ancestors.reverse();
            let mut replies: Vec<CommentView> = children
                .get(&(article.clone(), comment.clone()))
                .map(|rows| rows.iter().map(|&r| comments.view(r)).collect())
                .unwrap_or_default();
            replies.sort_by(|a, b| {
                let disagree = |c: &CommentView| c.reply.as_deref() != Some("disagree");
                disagree(a)
                    .cmp(&disagree(b))
                    .then(
                        a.created_ms
                            .unwrap_or(i64::MAX)
                            .cmp(&b.created_ms.unwrap_or(i64::MAX)),
                    )
                    .then(a.comment_id.cmp(&b.comment_id))
            });
            Some(Chain {
                thread: titles
                    .get(article.as_str())
                    .map(|t| t.to_string())
                    .unwrap_or_else(|| article.clone()),
                ancestors,
                comment: comments.view(row),
                replies,
                n_disagree,
                n_direct,
            })
        })
        .collect()
}
