//! Every output column of the aggregate tables, defined once.
//!
//! Each constant below is one column; its rustdoc *is* its [`Metric::definition`], and
//! [`METRICS`] lists them all in output order, so the README, `summary.md`, the HTML report and
//! these docs print the same sentence for the same column.
//!
//! Conventions that every definition relies on:
//! - **Hard labels.** A *share* counts comments by their hard label (the label column the heads
//!   wrote: `stance`, `sentiment`, `ironic`, `toxic`, `reply`), divided by the number of comments
//!   of the group whose label is not null (`n_<task>_labelled`). The shares of one task sum to 1;
//!   they are null when no comment of the group is labelled.
//! - **Soft counterparts.** A `mean_p_*` column is the mean of the matching probability column
//!   over the comments where it is not null; it is present only when that column is.
//! - **Absent tasks.** A task whose label column is not in the comments table has no columns at
//!   all in the outputs (not nulls, not zeros).
//! - **Time.** `created_at` with an offset is converted to UTC; a naive time is taken as-is (as if
//!   it were UTC); a bare date is midnight; null or unparsable times leave the comment out of the
//!   time columns and of `daily`, nowhere else (see `n_undated`).

/// An output table of the aggregate stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    /// One row per article (`threads.parquet`).
    Threads,
    /// One row per non-null author (`authors.parquet`).
    Authors,
    /// One row per article and UTC day with at least one dated comment (`daily.parquet`).
    Daily,
    /// One row for the whole run (printed in the summaries).
    Overall,
    /// The most contested comments of each thread, one row each (the rows behind
    /// `threads.most_contested_ids`).
    Contested,
}

impl Table {
    pub fn name(self) -> &'static str {
        match self {
            Table::Threads => "threads",
            Table::Authors => "authors",
            Table::Daily => "daily",
            Table::Overall => "overall",
            Table::Contested => "contested",
        }
    }
}

/// One output column and its definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metric {
    pub name: &'static str,
    /// The tables it appears in (when its inputs are present).
    pub tables: &'static [Table],
    pub definition: &'static str,
}

use Table::{Authors as A, Contested as C, Daily as D, Overall as O, Threads as T};

macro_rules! metrics {
    ($($ident:ident = $name:literal [$($table:ident),*] $definition:literal;)*) => {
        $(
            #[doc = concat!("`", $name, "`: ", $definition)]
            pub const $ident: Metric = Metric {
                name: $name,
                tables: &[$($table),*],
                definition: $definition,
            };
        )*
        /// Every column of every aggregate table, in output order.
        pub const METRICS: &[Metric] = &[$($ident),*];
    };
}

metrics! {
    ARTICLE_ID = "article_id" [T, D, C]
        "The article (thread) the comments belong to.";
    AUTHOR = "author" [A]
        "The author as given in the input. Comments without an author are not in `authors` (they are counted by `n_anonymous`).";
    DAY = "day" [D]
        "UTC calendar day of `created_at` (naive times taken as-is).";
    TITLE = "title" [T]
        "Article title, copied from the articles table (null when the article is not there or the table has no such column; likewise the next four).";
    TARGET = "target" [T]
        "The claim stance is measured toward, as given in the articles table (null: the title was used).";
    LANG = "lang" [T]
        "Article language, from the articles table.";
    URL = "url" [T]
        "Article address, from the articles table.";
    PUBLISHED = "published" [T]
        "Article publication time or date as given in the articles table.";
    N_ARTICLES = "n_articles" [A, O]
        "Distinct articles: in `authors`, those the author commented on; in `overall`, the rows of `threads`.";
    N_COMMENTS = "n_comments" [T, A, D, O]
        "Comments in the group; every kept input comment counts exactly once in each table it belongs to.";
    N_AUTHORS = "n_authors" [T, D, O]
        "Distinct non-null authors.";
    N_ANONYMOUS = "n_anonymous" [O]
        "Comments with a null author.";
    N_TOP_LEVEL = "n_top_level" [T, O]
        "Comments without a parent comment (direct responses to the article, orphans included since ingest re-roots them).";
    N_REPLIES = "n_replies" [T, A, D, O]
        "Comments with a parent comment (`parent_id` not null).";
    N_ORPHANS = "n_orphans" [T, O]
        "Comments whose parent was missing from the input: `missing_parent_id` (written by ingest) is not null. 0 when that column is absent.";
    N_UNDATED = "n_undated" [T, A, O]
        "Comments whose `created_at` is null or unparsable: counted everywhere except in the time columns and in `daily`.";
    MAX_DEPTH = "max_depth" [T, O]
        "Greatest reply depth (0 = top level). Present when the comments table has `depth`.";
    FIRST_COMMENT_AT = "first_comment_at" [T, A, O]
        "Earliest `created_at` in UTC (naive times taken as-is); null when no comment of the group has a usable time.";
    LAST_COMMENT_AT = "last_comment_at" [T, A, O]
        "Latest `created_at`, same rules as `first_comment_at`.";
    N_STANCE_LABELLED = "n_stance_labelled" [T, A, D, O]
        "Comments with a non-null `stance` label: the denominator of the stance shares.";
    SHARE_FAVOR = "share_favor" [T, A, D, O]
        "Share of stance-labelled comments whose hard `stance` label is `favor` (toward the article's target).";
    SHARE_AGAINST = "share_against" [T, A, D, O]
        "Share of stance-labelled comments labelled `against`.";
    SHARE_NONE = "share_none" [T, A, D, O]
        "Share of stance-labelled comments labelled `none` (no stance toward the target). `share_favor + share_against + share_none = 1`.";
    NET_STANCE = "net_stance" [T, A, D, O]
        "`share_favor − share_against`, in [−1, 1]: positive when the group leans in favour of the target.";
    POLARIZATION = "polarization" [T, A, D, O]
        "Variance of the stance score s (favor = +1, none = 0, against = −1) over stance-labelled comments: `share_favor + share_against − (share_favor − share_against)²`, in [0, 1]. 0 when all comments take the same position (all favor, all against or all none); 1 only when half are in favour and half against. Preferred to `1 − |f − a| / (f + a)`, which ignores neutral comments and reads 1 for a single favor/against pair among hundreds of neutral ones: the variance weighs each camp by how many comments actually join it.";
    MEAN_P_FAVOR = "mean_p_favor" [T, A, D, O]
        "Mean of `p_favor`: the soft counterpart of `share_favor`; likewise `mean_p_against` and `mean_p_none`.";
    MEAN_P_AGAINST = "mean_p_against" [T, A, D, O]
        "Mean of `p_against`.";
    MEAN_P_NONE = "mean_p_none" [T, A, D, O]
        "Mean of `p_none`.";
    N_SENTIMENT_LABELLED = "n_sentiment_labelled" [T, A, D, O]
        "Comments with a non-null `sentiment` label: the denominator of the sentiment shares.";
    SHARE_NEGATIVE = "share_negative" [T, A, D, O]
        "Share of sentiment-labelled comments whose hard `sentiment` label is `negative`.";
    SHARE_NEUTRAL = "share_neutral" [T, A, D, O]
        "Share of sentiment-labelled comments labelled `neutral`.";
    SHARE_POSITIVE = "share_positive" [T, A, D, O]
        "Share of sentiment-labelled comments labelled `positive`. The three sentiment shares sum to 1.";
    MEAN_POLARITY = "mean_polarity" [T, A, D, O]
        "Mean over comments of `p_positive − p_negative` (expected polarity), in [−1, 1]. Present when both probability columns are.";
    MEAN_P_NEGATIVE = "mean_p_negative" [T, A, D, O]
        "Mean of `p_negative`.";
    MEAN_P_NEUTRAL = "mean_p_neutral" [T, A, D, O]
        "Mean of `p_neutral`.";
    MEAN_P_POSITIVE = "mean_p_positive" [T, A, D, O]
        "Mean of `p_positive`.";
    N_IRONY_LABELLED = "n_irony_labelled" [T, A, D, O]
        "Comments with a non-null `ironic` flag.";
    SHARE_IRONIC = "share_ironic" [T, A, D, O]
        "Share of irony-labelled comments whose `ironic` flag is true.";
    MEAN_P_IRONIC = "mean_p_ironic" [T, A, D, O]
        "Mean of `p_ironic`.";
    N_TOXICITY_LABELLED = "n_toxicity_labelled" [T, A, D, O]
        "Comments with a non-null `toxic` flag.";
    SHARE_TOXIC = "share_toxic" [T, A, D, O]
        "Share of toxicity-labelled comments whose `toxic` flag is true.";
    MEAN_P_TOXIC = "mean_p_toxic" [T, A, D, O]
        "Mean of `p_toxic`.";
    N_REPLY_LABELLED = "n_reply_labelled" [T, A, D, O]
        "Replies with a non-null `reply` label (top-level comments have none): the denominator of the reply shares.";
    SHARE_AGREE = "share_agree" [T, A, D, O]
        "Share of labelled replies whose `reply` label is `agree` (with their parent comment).";
    SHARE_DISAGREE = "share_disagree" [T, A, D, O]
        "The reply disagreement rate: share of labelled replies whose `reply` label is `disagree` (with their parent comment).";
    SHARE_NONE_REPLY = "share_none_reply" [T, A, D, O]
        "Share of labelled replies labelled `none` (neither agree nor disagree). The three reply shares sum to 1.";
    MEAN_P_AGREE = "mean_p_agree" [T, A, D, O]
        "Mean of `p_agree` over replies.";
    MEAN_P_DISAGREE = "mean_p_disagree" [T, A, D, O]
        "Mean of `p_disagree` over replies.";
    MEAN_P_NONE_REPLY = "mean_p_none_reply" [T, A, D, O]
        "Mean of `p_none_reply` over replies.";
    N_REPLIES_RECEIVED = "n_replies_received" [A]
        "Direct replies to the author's comments.";
    N_DISAGREE_RECEIVED = "n_disagree_received" [A]
        "Direct replies to the author's comments labelled `disagree`.";
    CONTROVERSY = "controversy" [T]
        "`v × (polarization + share_disagree) / 2`, with the volume weight `v = n_comments / (n_comments + h)` (h, the half-volume, is 20 by default: a 20-comment thread gets half weight, a 180-comment one 0.9). A null component counts as 0 (no stance labels or no labelled replies: no evidence of conflict). In [0, 1). Present only when both the stance and the reply task ran, so that values compare across runs.";
    MOST_CONTESTED_IDS = "most_contested_ids" [T]
        "Ids of the comments with the most direct replies labelled `disagree` (at most N, 5 by default), most contested first; ties broken by more direct replies, then by `comment_id` ascending. A comment with no disagreeing reply is never listed. Present when the reply task ran.";
    RANK = "rank" [C]
        "Position of the comment in its thread's `most_contested_ids` (1 = most contested).";
    COMMENT_ID = "comment_id" [C]
        "The contested comment.";
    N_DISAGREE_REPLIES = "n_disagree_replies" [C]
        "Direct replies to the comment labelled `disagree`.";
    N_DIRECT_REPLIES = "n_direct_replies" [C]
        "Direct replies to the comment, whatever their label.";
}

/// The definition of an output column, by name.
pub fn definition(name: &str) -> Option<&'static str> {
    METRICS
        .iter()
        .find(|m| m.name == name)
        .map(|m| m.definition)
}

/// Every definition as a Markdown table (`column | tables | definition`), for the README and
/// other documents that must quote the definitions word for word.
pub fn definitions_markdown() -> String {
    let mut out = String::from("| column | tables | definition |\n|---|---|---|\n");
    for m in METRICS {
        let tables: Vec<&str> = m.tables.iter().map(|t| t.name()).collect();
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            m.name,
            tables.join(", "),
            m.definition.replace('|', "\\|")
        ));
    }
    out
}
