//! The data model every stage of stance shares.
//!
//! Data flows one way: **ingest → encode → heads → aggregate → write**. This crate holds only
//! the records that travel between those stages ([`Article`], [`Comment`], [`Reject`]) and the
//! thread logic that derives `depth` and `root_id` from parent links ([`thread`]). It has no I/O.

pub mod record;
pub mod reject;
pub mod task;
pub mod thread;

pub use record::{Article, Comment, Extra};
pub use reject::{Reject, Severity};
pub use task::{Label, LabelKind, Task, TaskInput};
pub use thread::{link_threads, ThreadReport};
