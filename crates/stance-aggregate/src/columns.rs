//! Names of the working columns added while aggregating. The prefix keeps them apart from any
//! extra input column; none of them reaches an output table.

/// `created_at` as a UTC datetime (milliseconds), null when unknown.
pub(crate) const TS: &str = "__stance_ts";
/// The UTC calendar day of [`TS`].
pub(crate) const DAY: &str = "__stance_day";
/// `author` as a string (null when absent).
pub(crate) const AUTHOR: &str = "__stance_author";
/// `parent_id` as a string (null for top-level comments and when the column is absent).
pub(crate) const PARENT: &str = "__stance_parent";
/// Whether ingest found the comment's parent missing (`missing_parent_id` not null).
pub(crate) const ORPHAN: &str = "__stance_orphan";
/// Direct replies the comment received.
pub(crate) const RECEIVED: &str = "__stance_received";
/// Direct replies labelled `disagree` the comment received.
pub(crate) const RECEIVED_DISAGREE: &str = "__stance_received_disagree";
