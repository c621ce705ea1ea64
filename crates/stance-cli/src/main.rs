//! `stance`: reader-comment stance and tone, from the command line.
//!
//! This binary only wires the library stages together
//! (ingest → encode → heads → aggregate → write); each subcommand lives in `cmd/`, and flags
//! shared by several subcommands are defined once in `flags.rs`.

mod cmd;
mod flags;

/// The encoder allocates and frees large activation tensors on every batch; glibc hands those
/// back to the kernel each time and a fifth of the run went to page faults. mimalloc keeps them,
/// once told to purge late and not to use transparent huge pages (see [`keep_freed_pages`]).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` is entry 15 of `mi_option_t` in both mimalloc v2's and v3's
/// `mimalloc.h`; libmimalloc-sys 0.1.49 names no constant for it. Milliseconds a freed block
/// stays committed before it is handed back; 0: at once; -1: never.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// How long freed memory is kept while the encoder runs. Its activation buffers come back
/// within a batch, well under a second, so a second keeps them; memory that stays free longer
/// (the tokenizer's parse, a phase that is over) goes back to the kernel. On 1,000 bench
/// comments (all tasks, two runs each, alternated): never purging ran at 189.6–198.8
/// comments/s with a peak RSS of 505–522 MB; 1,000 ms at 188.6–196.2 comments/s, 444–465 MB;
/// 250 ms at 181.4–184.6 comments/s, 406 MB.
const KEEP_FREED_MS: std::os::raw::c_long = 1000;

/// Hands the memory freed so far back to the kernel and purges at once from now on.
fn return_freed_pages() {
    // SAFETY: sets a plain integer option, then asks mimalloc to collect; both are valid at
    // any time, from any thread.
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0);
        libmimalloc_sys::mi_collect(true);
    }
}

/// What a classify run does with freed memory, stage by stage. Only scoring reuses what it
/// frees (each batch's buffers, within the second [`KEEP_FREED_MS`] keeps them); the other
/// stages free memory they do not ask for again, which kept pages would stack on top of the
/// next stage's:
/// - loading parses and converts the weights through buffers freed once each. Kept for a
///   second, they made the run's peak: the resident set of 1,000 bench comments with all tasks,
///   read every 20 ms, reached 499 MB at the end of loading and fell to 339 MB when the second
///   was up; scoring's own peak was 480 MB. Handed back at once, the peak of six runs went
///   507–521 MB → 464–488 MB, at the same speed.
/// - once the models are dropped, the aggregate and write stages do not need their pages.
pub(crate) fn manage_freed_pages(event: &stance_classify::Event) {
    use stance_classify::Event;
    match event {
        // Loading comes next.
        Event::Ingested(_) => return_freed_pages(),
        Event::Loaded => {
            return_freed_pages();
            keep_freed_pages();
        }
        Event::Scored => return_freed_pages(),
        Event::Chunk(_) => {}
    }
}

/// Freed memory comes back zeroed, page by page, when the kernel has to fault it in again, and a
/// profile of the encoder spent 12–14 % of its samples there (`clear_page_erms`). Two causes:
/// - mimalloc returns pages that stay free for a while to the kernel ("purging"), and the next
///   batch faults them back in (300 comments: 18.8 s with mimalloc's 10 ms delay, 14.6 s
///   without purging). Purging only what stays free for a second ([`KEEP_FREED_MS`]) keeps
///   the batch buffers for reuse.
/// - mimalloc asks for transparent huge pages on its arenas; each fault on one zeroes 2 MiB,
///   and memory handed back in smaller pieces splits and refaults them (300 comments, three
///   runs each: 12.1–12.9 s with, 10.9–11.3 s without; system time 2.6 s → 0.8 s). The process
///   opts out of THP (Linux `PR_SET_THP_DISABLE`; other systems are left as they are).
/// Peak RSS went 1.29 GB → 0.94 → 0.90 GB over these and the in-place kernels.
pub(crate) fn keep_freed_pages() {
    // SAFETY: sets a plain integer option; valid at any time, from any thread.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, KEEP_FREED_MS) }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    // SAFETY: a process-wide flag with no pointer arguments; failure (an old kernel) only
    // leaves THP as it was, so the result is ignored.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "stance", version, about = "Stance and tone of reader comments, offline.")]
struct Cli {
    #[command(flatten)]
    global: flags::Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Read comment archives into clean, validated threads (articles.jsonl, comments.jsonl, rejects.jsonl).
    Ingest(cmd::ingest::Args),
    /// The main job: stance, sentiment, irony, toxicity and reply stance of every comment,
    /// aggregated per thread, author and day, as tables and text/Markdown/HTML reports.
    Classify(cmd::classify::Args),
    /// One sentence embedding per text (id, embedding, n_tokens, truncated) to Parquet.
    Embed(cmd::embed::Args),
    /// Run a sequence-classification checkpoint over texts or text pairs, to Parquet.
    Predict(cmd::predict::Args),
    /// List the models at hand, or describe one.
    Models(cmd::models::Args),
    /// Time the classify pipeline on a benchmark archive: comments/s, tokens/s, encoder
    /// GFLOP/s, peak memory, and where the time went.
    Bench(cmd::bench::Args),
    /// Train a classification head (sentiment, stance, irony, toxicity, reply) on labelled files.
    Train(cmd::train::Args),
    /// Give a head its decision rule, chosen on labelled validation files, without retraining
    /// it: thresholds per language for a flag head (irony, toxicity), class offsets for the others.
    Calibrate(cmd::calibrate::Args),
    /// Fine-tune a cross-encoder for stance or reply: the encoder's top layers read target
    /// (or parent) and comment together (late interaction over cached bottom-layer states).
    Tune(cmd::tune::Args),
    /// Score a head on labelled files: accuracy, macro-F1, per-class scores, confusion, ECE.
    Eval(cmd::eval::Args),
}

fn main() -> ExitCode {
    keep_freed_pages();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Ingest(args) => cmd::ingest::run(args, &cli.global),
        Command::Classify(args) => cmd::classify::run(args, &cli.global),
        Command::Embed(args) => cmd::embed::run(args, &cli.global),
        Command::Predict(args) => cmd::predict::run(args, &cli.global),
        Command::Models(args) => cmd::models::run(args, &cli.global),
        Command::Bench(args) => cmd::bench::run(args, &cli.global),
        Command::Train(args) => cmd::train::run(args, &cli.global),
        Command::Calibrate(args) => cmd::calibrate::run(args, &cli.global),
        Command::Tune(args) => cmd::tune::run(args, &cli.global),
        Command::Eval(args) => cmd::eval::run(args, &cli.global),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("stance: error: {}", error_text(&err));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes, outermost first, joined by ": ", leaving out a cause whose text
/// the message so far already holds: several library errors print their source in their own
/// message, and anyhow's `{:#}` then printed it twice.
fn error_text(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let cause = cause.to_string();
        if text.contains(&cause) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&cause);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::error_text;

    /// An error that prints its source in its own message, as several library errors do.
    #[derive(Debug)]
    struct Wrapping {
        source: std::io::Error,
    }

    impl std::fmt::Display for Wrapping {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "model `m`: {}", self.source)
        }
    }

    impl std::error::Error for Wrapping {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.source)
        }
    }

    /// [`super::manage_freed_pages`] relies on the order of a run's events: loading between
    /// the ingest and the first chunk, scoring over before the aggregates.
    #[test]
    fn a_run_reports_its_stages_in_order() {
        use clap::Parser;
        #[derive(Parser)]
        struct Command {
            #[command(flatten)]
            args: crate::cmd::classify::Args,
        }
        let out = tempfile::tempdir().unwrap();
        let page = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/threads/les-crises-durov/page.txt");
        let argv = ["classify", "--offline", "--speed", "fast", "--tasks", "sentiment", "--chunk-size", "4", "--out"];
        let argv: Vec<String> =
            argv.iter().map(|a| a.to_string()).chain([out.path().display().to_string(), page.into()]).collect();
        let quiet = crate::flags::Global { quiet: true };
        let request = crate::cmd::classify::request(Command::try_parse_from(&argv).unwrap().args, &quiet).unwrap();
        let mut events = Vec::new();
        stance_classify::run(&request, &mut |event| {
            super::manage_freed_pages(&event);
            events.push(match event {
                stance_classify::Event::Ingested(_) => "ingested",
                stance_classify::Event::Loaded => "loaded",
                stance_classify::Event::Chunk(_) => "chunk",
                stance_classify::Event::Scored => "scored",
            });
        })
        .unwrap();
        // The page's 7 comments in chunks of 4.
        assert_eq!(events, ["ingested", "loaded", "chunk", "chunk", "scored"]);
    }

    #[test]
    fn a_cause_already_in_the_message_is_printed_once() {
        let inner = std::io::Error::new(std::io::ErrorKind::NotFound, "config.json not found");
        let err = anyhow::Error::new(Wrapping { source: inner }).context("cannot open model `m`");
        assert_eq!(error_text(&err), "cannot open model `m`: model `m`: config.json not found");
        let plain = anyhow::anyhow!("disk full").context("cannot write out/");
        assert_eq!(error_text(&plain), "cannot write out/: disk full");
    }
}
