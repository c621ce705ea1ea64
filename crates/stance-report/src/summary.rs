//! `summary.txt` (also what `--print` shows on the terminal) and `summary.md`.

use crate::fmt::{clip, count, counted, dec2, left, markdown, minute, pct, points, right};
use crate::model::{Chain, GroupStats, ReportModel, ThreadView};
use stance_aggregate::{Table, Task, METRICS};

/// Threads listed in `summary.txt`.
const TEXT_THREADS: usize = 10;
/// Threads listed in `summary.md`.
const MARKDOWN_THREADS: usize = 25;

/// One column of the thread table, shown when its task ran.
struct ThreadColumn {
    header: &'static str,
    width: usize,
    task: Option<Task>,
    needs_reply_and_stance: bool,
    /// Also in `summary.txt` (the terminal has room for fewer columns than Markdown).
    in_text: bool,
    value: fn(&ThreadView) -> String,
}

const THREAD_COLUMNS: &[ThreadColumn] = &[
    ThreadColumn {
        header: "comments",
        width: 8,
        task: None,
        needs_reply_and_stance: false,
        in_text: true,
        value: |t| count(t.stats.n_comments),
    },
    ThreadColumn {
        header: "favor",
        width: 6,
        task: Some(Task::Stance),
        needs_reply_and_stance: false,
        in_text: true,
        value: |t| pct(t.stats.favor),
    },
    ThreadColumn {
        header: "against",
        width: 7,
        task: Some(Task::Stance),
        needs_reply_and_stance: false,
        in_text: true,
        value: |t| pct(t.stats.against),
    },
    ThreadColumn {
        header: "none",
        width: 6,
        task: Some(Task::Stance),
        needs_reply_and_stance: false,
        in_text: false,
        value: |t| pct(t.stats.none),
    },
    ThreadColumn {
        header: "net",
        width: 6,
        task: Some(Task::Stance),
        needs_reply_and_stance: false,
        in_text: true,
        value: |t| points(t.stats.net_stance),
    },
    ThreadColumn {
        header: "polar.",
        width: 6,
        task: Some(Task::Stance),
        needs_reply_and_stance: false,
        in_text: true,
        value: |t| dec2(t.stats.polarization),
    },
    ThreadColumn {
        header: "neg.",
        width: 6,
        task: Some(Task::Sentiment),
        needs_reply_and_stance: false,
        in_text: false,
        value: |t| pct(t.stats.negative),
    },
    ThreadColumn {
        header: "toxic",
        width: 6,
        task: Some(Task::Toxicity),
        needs_reply_and_stance: false,
        in_text: false,
        value: |t| pct(t.stats.toxic),
    },
    ThreadColumn {
        header: "disagr.",
        width: 7,
        task: Some(Task::Reply),
        needs_reply_and_stance: false,
        in_text: true,
        value: |t| pct(t.stats.disagree),
    },
    ThreadColumn {
        header: "contr.",
        width: 6,
        task: None,
        needs_reply_and_stance: true,
        in_text: true,
        value: |t| dec2(t.stats.controversy),
    },
];

fn thread_columns(model: &ReportModel) -> Vec<&'static ThreadColumn> {
    THREAD_COLUMNS
        .iter()
        .filter(|c| c.task.is_none_or(|t| model.has(t)))
        .filter(|c| {
            !c.needs_reply_and_stance || (model.has(Task::Stance) && model.has(Task::Reply))
        })
        .collect()
}

/// The overview lines shared by both summaries: (label, text).
fn overview(model: &ReportModel) -> Vec<(&'static str, String)> {
    let o = &model.overall;
    let mut lines = vec![(
        "Input",
        format!(
            "{} in {} by {} ({} without author, {})",
            counted(o.n_comments, "comment"),
            counted(model.n_threads, "thread"),
            counted(o.n_authors.unwrap_or(0), "author"),
            count(model.n_anonymous),
            counted(model.n_orphans, "orphan"),
        ),
    )];
    let period = match (model.first_ms, model.last_ms) {
        (Some(a), Some(b)) => format!("{} → {} UTC", minute(a), minute(b)),
        _ => "no comment has a usable time".into(),
    };
    lines.push((
        "Period",
        if model.n_undated > 0 {
            format!("{period} ({} comments undated)", count(model.n_undated))
        } else {
            period
        },
    ));
    let mut model_line = model.run.model_line().unwrap_or_else(|| "unknown".into());
    if !model.run.stance_version.is_empty() {
        model_line.push_str(&format!(" (stance {})", model.run.stance_version));
    }
    lines.push(("Model", model_line));
    let tasks: Vec<&str> = model.tasks.iter().map(|t| t.name()).collect();
    let mut tasks_line = if tasks.is_empty() {
        "none".into()
    } else {
        tasks.join(", ")
    };
    // Runs at different speeds give different numbers, so the summary says which it is.
    if let Some(speed) = model.run.speed() {
        tasks_line.push_str(&format!(" (--speed {speed})"));
    }
    lines.push(("Tasks", tasks_line));
    lines
}

/// Per-task overall lines: (task label, text).
fn task_lines(model: &ReportModel, s: &GroupStats) -> Vec<(&'static str, String)> {
    let mut lines = Vec::new();
    if model.has(Task::Stance) {
        lines.push((
            "Stance",
            format!(
                "favor {}  against {}  none {}  ({} labelled)",
                pct(s.favor),
                pct(s.against),
                pct(s.none),
                count(s.n_stance.unwrap_or(0))
            ),
        ));
        lines.push((
            "",
            format!(
                "net stance {} pts, polarization {}",
                points(s.net_stance),
                dec2(s.polarization)
            ),
        ));
    }
    if model.has(Task::Sentiment) {
        let polarity = s
            .mean_polarity
            .map(|p| format!("  mean polarity {}", dec2(Some(p))))
            .unwrap_or_default();
        lines.push((
            "Sentiment",
            format!(
                "negative {}  neutral {}  positive {}{polarity}",
                pct(s.negative),
                pct(s.neutral),
                pct(s.positive)
            ),
        ));
    }
    if model.has(Task::Irony) {
        lines.push(("Irony", format!("{} ironic", pct(s.ironic))));
    }
    if model.has(Task::Toxicity) {
        lines.push(("Toxicity", format!("{} toxic", pct(s.toxic))));
    }
    if model.has(Task::Reply) {
        lines.push((
            "Replies",
            format!(
                "agree {}  disagree {}  none {}  ({} labelled replies)",
                pct(s.agree),
                pct(s.disagree),
                pct(s.none_reply),
                count(s.n_reply.unwrap_or(0))
            ),
        ));
    }
    lines
}

fn chain_headline(i: usize, c: &Chain) -> String {
    format!(
        "{}. {} of {} disagree{} with {} by {}",
        i + 1,
        c.n_disagree,
        counted(c.n_direct, "direct reply").replace("replys", "replies"),
        if c.n_disagree == 1 { "s" } else { "" },
        clip(&c.comment.comment_id, 40),
        clip(c.comment.author.as_deref().unwrap_or("(no author)"), 40)
    )
}

/// `summary.txt`: plain text that fits a 100-column terminal.
pub(crate) fn summary_text(model: &ReportModel) -> String {
    let mut out = String::new();
    out.push_str("stance summary\n==============\n");
    for (label, text) in overview(model) {
        out.push_str(&format!("{} {text}\n", left(label, 9)));
    }
    let overall = task_lines(model, &model.overall);
    if !overall.is_empty() {
        out.push_str("\nOverall (shares of hard labels)\n");
        for (label, text) in overall {
            out.push_str(&format!("  {} {text}\n", left(label, 10)));
        }
    }
    let columns: Vec<_> = thread_columns(model)
        .into_iter()
        .filter(|c| c.in_text)
        .collect();
    let threads = model.threads_ranked();
    if !threads.is_empty() {
        let order = if model.has(Task::Stance) && model.has(Task::Reply) {
            "most controversial first"
        } else {
            "largest first"
        };
        let shown = threads.len().min(TEXT_THREADS);
        out.push_str(&format!(
            "\nThreads, {order} ({shown} of {})\n",
            threads.len()
        ));
        let widths: usize = columns.iter().map(|c| c.width + 1).sum();
        let title_width = 98usize.saturating_sub(widths + 2).max(20);
        let mut header = String::from("  ");
        for c in &columns {
            header.push_str(&right(c.header, c.width));
            header.push(' ');
        }
        header.push_str("thread");
        out.push_str(header.trim_end());
        out.push('\n');
        for t in threads.iter().take(TEXT_THREADS) {
            let mut line = String::from("  ");
            for c in &columns {
                line.push_str(&right(&(c.value)(t), c.width));
                line.push(' ');
            }
            line.push_str(&clip(t.label(), title_width));
            out.push_str(&line);
            out.push('\n');
        }
    }
    if !model.chains.is_empty() {
        out.push_str("\nMost contested comments\n");
        for (i, c) in model.chains.iter().enumerate() {
            out.push_str(&format!("  {}\n", chain_headline(i, c)));
            out.push_str(&format!("     in {}\n", clip(&c.thread, 88)));
            if let Some(text) = &c.comment.text {
                out.push_str(&format!("     \"{}\"\n", clip(text, 86)));
            }
        }
    }
    out
}

/// `summary.md`: the same content as Markdown tables, plus the definitions of the columns.
pub(crate) fn summary_markdown(model: &ReportModel) -> String {
    let mut out = String::from("# stance summary\n\n");
    for (label, text) in overview(model) {
        out.push_str(&format!("- **{label}**: {}\n", markdown(&text)));
    }
    let overall = task_lines(model, &model.overall);
    if !overall.is_empty() {
        out.push_str("\n## Overall\n\nShares count hard labels.\n\n");
        for (label, text) in overall {
            if label.is_empty() {
                out.push_str(&format!("  {}\n", markdown(&text)));
            } else {
                out.push_str(&format!("- **{label}**: {}\n", markdown(&text)));
            }
        }
    }
    let columns = thread_columns(model);
    let threads = model.threads_ranked();
    if !threads.is_empty() {
        let shown = threads.len().min(MARKDOWN_THREADS);
        out.push_str(&format!("\n## Threads ({shown} of {})\n\n", threads.len()));
        out.push_str("| thread |");
        for c in &columns {
            out.push_str(&format!(" {} |", c.header));
        }
        out.push_str("\n|---|");
        for _ in &columns {
            out.push_str("---:|");
        }
        out.push('\n');
        for t in threads.iter().take(MARKDOWN_THREADS) {
            out.push_str(&format!("| {} |", markdown(&clip(t.label(), 80))));
            for c in &columns {
                out.push_str(&format!(" {} |", (c.value)(t)));
            }
            out.push('\n');
        }
    }
    if !model.chains.is_empty() {
        out.push_str("\n## Most contested comments\n\n");
        for (i, c) in model.chains.iter().enumerate() {
            out.push_str(&format!(
                "{}. {}, in *{}*",
                i + 1,
                markdown(&chain_headline(i, c)[format!("{}. ", i + 1).len()..]),
                markdown(&clip(&c.thread, 100))
            ));
            if let Some(text) = &c.comment.text {
                out.push_str(&format!(": “{}”", markdown(&clip(text, 200))));
            }
            out.push('\n');
        }
    }
    out.push_str("\n## Definitions\n\n| column | definition |\n|---|---|\n");
    for m in METRICS
        .iter()
        .filter(|m| m.tables.contains(&Table::Threads))
    {
        out.push_str(&format!(
            "| `{}` | {} |\n",
            m.name,
            m.definition.replace('|', "\\|")
        ));
    }
    out
}
