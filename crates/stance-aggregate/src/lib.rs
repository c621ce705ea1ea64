//! The aggregate stage of stance: per-thread, per-author and per-day metrics over the
//! per-comment predictions, computed with polars.
//!
//! Data flows **ingest → encode → heads → aggregate → write**. [`aggregate`] takes the comments
//! table the heads stage produced (every input column kept, plus `depth`, `root_id`, `lang`, …,
//! and for each task that ran its label and probability columns: see [`Task`]) and the articles
//! table, and returns the [`Aggregates`]. Nothing here reads or writes files.
//!
//! Every output column is defined once, in [`metrics`]: each constant's documentation is the
//! definition, and [`METRICS`] returns the same text as a table (name → tables → definition) for
//! the README and the reports. The conventions the definitions share (hard-label shares, soft
//! `mean_p_*` counterparts, absent tasks, the time rule) are stated at the top of that module.
//!
//! Guarantees, tested on random tables:
//! - every kept comment counts once: `Σ threads.n_comments = Σ daily.n_comments + Σ threads.n_undated`
//!   `= ` the number of input rows; `Σ authors.n_comments` = the rows with an author;
//! - the shares of a task sum to 1 in every row where the task labelled at least one comment;
//! - rows are sorted (threads by `article_id`, authors by `author`, daily by `article_id` then
//!   `day`) and columns come in the order of [`METRICS`], so the same input gives the same tables.

mod columns;
mod error;
mod exprs;
pub mod metrics;
mod prepare;
mod tasks;
mod time;

pub use error::AggregateError;
pub use metrics::{definition, definitions_markdown, Metric, Table, METRICS};
pub use tasks::{Label, LabelKind, Task};
pub use time::{created_at_millis, parse_created_at, utc_days};

use exprs::{derived_exprs, group_exprs};
use polars::prelude::*;
use std::collections::HashMap;

/// Knobs of the metrics whose definitions name a parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregateOptions {
    /// How many comment ids `most_contested_ids` keeps per thread.
    pub top_contested: usize,
    /// The half-volume `h` of `controversy`: the thread size that gets half weight.
    pub controversy_half_volume: f64,
}

impl Default for AggregateOptions {
    fn default() -> Self {
        AggregateOptions {
            top_contested: 5,
            controversy_half_volume: 20.0,
        }
    }
}

/// The tables of the aggregate stage. Column sets depend on the tasks present; see
/// [`metrics`] for every column.
#[derive(Debug, Clone)]
pub struct Aggregates {
    /// One row per article found in the comments or the articles table.
    pub threads: DataFrame,
    /// One row per non-null author.
    pub authors: DataFrame,
    /// One row per article and UTC day with at least one dated comment.
    pub daily: DataFrame,
    /// One row for the whole input.
    pub overall: DataFrame,
    /// The most contested comments of each thread (`article_id`, `rank`, `comment_id`,
    /// `n_disagree_replies`, `n_direct_replies`), sorted by article then rank. `None` when the
    /// reply task did not run.
    pub contested: Option<DataFrame>,
    /// The tasks whose columns were found, in [`Task::ALL`] order.
    pub tasks: Vec<Task>,
    /// The options the metrics were computed with.
    pub options: AggregateOptions,
}

/// Computes every aggregate table. `articles` may be an empty frame (no articles table); it
/// adds article metadata to `threads` and articles without comments as rows of their own.
///
/// Fails, without panicking, on a missing `comment_id` or `article_id` column, on a column of
/// a type it cannot read, and on a label outside its task's label set.
pub fn aggregate(
    comments: &DataFrame,
    articles: &DataFrame,
    opts: &AggregateOptions,
) -> Result<Aggregates, AggregateError> {
    if !(opts.controversy_half_volume > 0.0 && opts.controversy_half_volume.is_finite()) {
        return Err(AggregateError::Option(format!(
            "controversy_half_volume must be a positive number, not {}",
            opts.controversy_half_volume
        )));
    }
    let prepared = prepare::prepare(comments)?;
    let inputs = &prepared.inputs;
    let comments = prepared.frame;
    let half = opts.controversy_half_volume;

    let contested = if inputs.has(Task::Reply) {
        Some(contested(comments.clone(), opts.top_contested)?)
    } else {
        None
    };

    let per_article = comments
        .clone()
        .group_by([col("article_id")])
        .agg(group_exprs(Table::Threads, inputs))
        .with_columns(derived_exprs(Table::Threads, inputs, half));
    let threads = threads(comments.clone(), per_article, articles)?;
    let threads = with_contested_ids(threads, contested.as_ref())?;

    let authors = comments
        .clone()
        .filter(col(columns::AUTHOR).is_not_null())
        .group_by([col(columns::AUTHOR).alias("author")])
        .agg(group_exprs(Table::Authors, inputs))
        .with_columns(derived_exprs(Table::Authors, inputs, half))
        .sort(["author"], SortMultipleOptions::default())
        .collect()?;

    let daily = comments
        .clone()
        .filter(col(columns::DAY).is_not_null())
        .group_by([col("article_id"), col(columns::DAY).alias("day")])
        .agg(group_exprs(Table::Daily, inputs))
        .with_columns(derived_exprs(Table::Daily, inputs, half))
        .sort(["article_id", "day"], SortMultipleOptions::default())
        .collect()?;

    let overall = comments
        .select(group_exprs(Table::Overall, inputs))
        .with_columns(derived_exprs(Table::Overall, inputs, half))
        .with_column(
            lit(threads.height() as u64)
                .cast(DataType::UInt32)
                .alias(metrics::N_ARTICLES.name),
        )
        .collect()?;

    Ok(Aggregates {
        threads: in_documented_order(threads, Table::Threads)?,
        authors: in_documented_order(authors, Table::Authors)?,
        daily: in_documented_order(daily, Table::Daily)?,
        overall: in_documented_order(overall, Table::Overall)?,
        contested,
        tasks: inputs.tasks.clone(),
        options: opts.clone(),
    })
}

/// One row per article id seen in either table, with article metadata and zero counts for
/// articles without comments.
fn threads(
    comments: LazyFrame,
    per_article: LazyFrame,
    articles: &DataFrame,
) -> Result<DataFrame, AggregateError> {
    let articles_frame = articles;
    let has_articles = articles.width() > 0;
    if has_articles && articles.column("article_id").is_err() {
        return Err(AggregateError::MissingColumn {
            table: "articles",
            column: "article_id".into(),
        });
    }
    let id = || col("article_id").cast(DataType::String);
    let mut ids = vec![comments.select([id()])];
    let mut info = None;
    if has_articles {
        let articles = articles.clone().lazy();
        ids.push(articles.clone().select([id()]));
        let mut info_columns = vec![id()];
        for name in ["title", "target", "lang", "url", "published"] {
            if articles_frame.column(name).is_ok() {
                info_columns.push(col(name).cast(DataType::String));
            }
        }
        // A repeated article id would repeat its thread row: keep the first record.
        info = Some(
            articles
                .select(info_columns)
                .unique_stable(Some(cols(["article_id"])), UniqueKeepStrategy::First),
        );
    }
    let mut threads = concat(ids, UnionArgs::default())?
        .unique(None, UniqueKeepStrategy::Any)
        .left_join(per_article, col("article_id"), col("article_id"));
    if let Some(info) = info {
        threads = threads.left_join(info, col("article_id"), col("article_id"));
    }
    let threads = threads
        .sort(["article_id"], SortMultipleOptions::default())
        .collect()?;
    zero_counts(threads)
}

/// Counts of an article without comments are 0, not null.
fn zero_counts(mut threads: DataFrame) -> Result<DataFrame, AggregateError> {
    let counts: Vec<&str> = METRICS
        .iter()
        .filter(|m| m.tables.contains(&Table::Threads) && m.name.starts_with("n_"))
        .map(|m| m.name)
        .filter(|name| threads.column(name).is_ok())
        .collect();
    for name in counts {
        let filled = threads.column(name)?.fill_null(FillNullStrategy::Zero)?;
        threads.with_column(filled)?;
    }
    Ok(threads)
}

/// The most contested comments per thread, ranked.
fn contested(comments: LazyFrame, top: usize) -> Result<DataFrame, AggregateError> {
    let ranked = comments
        .filter(col(columns::RECEIVED_DISAGREE).gt(lit(0u32)))
        .select([
            col("article_id"),
            col("comment_id").cast(DataType::String),
            col(columns::RECEIVED_DISAGREE).alias(metrics::N_DISAGREE_REPLIES.name),
            col(columns::RECEIVED).alias(metrics::N_DIRECT_REPLIES.name),
        ])
        .sort(
            [
                "article_id",
                metrics::N_DISAGREE_REPLIES.name,
                metrics::N_DIRECT_REPLIES.name,
                "comment_id",
            ],
            SortMultipleOptions::default().with_order_descending_multi([false, true, true, false]),
        )
        .collect()?;
    // Rank within each article by position in the sorted frame.
    let articles = ranked.column("article_id")?.str()?;
    let mut ranks = Vec::with_capacity(ranked.height());
    let mut previous: Option<&str> = None;
    let mut rank = 0u32;
    for article in articles.iter() {
        if article == previous {
            rank += 1;
        } else {
            rank = 1;
            previous = article;
        }
        ranks.push(rank);
    }
    let mut ranked = ranked;
    ranked.with_column(Column::new(metrics::RANK.name.into(), ranks))?;
    let kept = ranked
        .lazy()
        .filter(col(metrics::RANK.name).lt_eq(lit(top as u32)))
        .collect()?;
    in_documented_order(kept, Table::Contested)
}

/// Adds `most_contested_ids` (an empty list for threads without contested comments).
fn with_contested_ids(
    mut threads: DataFrame,
    contested: Option<&DataFrame>,
) -> Result<DataFrame, AggregateError> {
    let Some(contested) = contested else {
        return Ok(threads);
    };
    let mut by_article: HashMap<&str, Vec<&str>> = HashMap::new();
    let article_ids = contested.column("article_id")?.str()?;
    let comment_ids = contested.column("comment_id")?.str()?;
    for (article, comment) in article_ids.iter().zip(comment_ids.iter()) {
        if let (Some(article), Some(comment)) = (article, comment) {
            by_article.entry(article).or_default().push(comment);
        }
    }
    let ids: Vec<Series> = threads
        .column("article_id")?
        .str()?
        .iter()
        .map(|article| {
            let list = article
                .and_then(|a| by_article.get(a))
                .cloned()
                .unwrap_or_default();
            Series::new(PlSmallStr::EMPTY, list)
        })
        .collect();
    let mut column = Series::new(metrics::MOST_CONTESTED_IDS.name.into(), ids);
    if threads.height() == 0 {
        column = Series::new_empty(
            metrics::MOST_CONTESTED_IDS.name.into(),
            &DataType::List(Box::new(DataType::String)),
        );
    }
    threads.with_column(column.into_column())?;
    Ok(threads)
}

/// Keeps the documented columns of `table`, in [`METRICS`] order.
fn in_documented_order(df: DataFrame, table: Table) -> Result<DataFrame, AggregateError> {
    let names: Vec<&str> = METRICS
        .iter()
        .filter(|m| m.tables.contains(&table) && df.column(m.name).is_ok())
        .map(|m| m.name)
        .collect();
    Ok(df.select(names)?)
}
