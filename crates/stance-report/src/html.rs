//! `report.html`: one self-contained page (inline CSS and SVG; no script, font or image is
//! fetched), every piece of input text escaped.

use crate::fmt::{clip, count, day, dec2, html, minute, pct, points};
use crate::model::{Chain, CommentView, GroupStats, ReportModel, REPLIES_SHOWN};
use crate::svg::{
    rate_bar, stacked_bar, timeline_chart, Segment, AGAINST, FAVOR, NEGATIVE, NEUTRAL, NONE,
    POSITIVE,
};
use stance_aggregate::{Table, Task, METRICS};
use std::fmt::Write;

/// Threads in the per-thread chart.
const THREADS_CHARTED: usize = 25;
/// Threads in the controversy ranking.
const THREADS_RANKED: usize = 15;

const CSS: &str = r#"
:root{--ink:#1d2430;--muted:#5c6675;--line:#e3e7ee;--bg:#f4f6f9}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Helvetica Neue",Arial,sans-serif}
main{max-width:1180px;margin:0 auto;padding:28px 32px 40px}
h1{font-size:25px;margin:0 0 2px;letter-spacing:-.01em}
h2{font-size:17px;margin:0 0 2px}
.sub,.note{color:var(--muted)}
.note{font-size:12.5px;margin:0 0 12px}
.tiles{display:grid;grid-template-columns:repeat(4,1fr);gap:12px;margin:18px 0 4px}
.tile{background:#fff;border:1px solid var(--line);border-radius:8px;padding:11px 14px}
.tile .k{color:var(--muted);font-size:11.5px;text-transform:uppercase;letter-spacing:.05em}
.tile .v{font-size:22px;font-weight:650;font-variant-numeric:tabular-nums}
.tile .d{color:var(--muted);font-size:12px}
section{background:#fff;border:1px solid var(--line);border-radius:8px;padding:18px 20px;margin-top:16px}
.legend{display:flex;flex-wrap:wrap;gap:4px 16px;font-size:12.5px;color:var(--muted);margin:0 0 10px}
.legend i{display:inline-block;width:11px;height:11px;border-radius:2px;margin-right:5px;vertical-align:-1px}
table{border-collapse:collapse;width:100%}
th{text-align:left;font-size:11.5px;color:var(--muted);font-weight:600;text-transform:uppercase;letter-spacing:.04em;border-bottom:1px solid var(--line);padding:6px 8px;white-space:nowrap}
td{padding:6px 8px;border-bottom:1px solid #eef1f5;vertical-align:middle}
tr.all td{background:#f7f9fc;font-weight:600}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.thread{max-width:250px}
td.thread .t{display:block;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
td.thread .id{display:block;color:var(--muted);font-size:11.5px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
svg.bar{display:block}
svg text.in{font-size:10.5px;fill:#fff;font-weight:600}
svg text.in.dark{fill:#364152}
.rate{display:inline-flex;align-items:center;gap:6px;font-variant-numeric:tabular-nums;white-space:nowrap}
svg.chart{display:block;max-width:100%}
svg .grid{stroke:#eef1f5}
svg .zero{stroke:#9aa5b4}
svg .tick{stroke:#9aa5b4}
svg .axis{font-size:11px;fill:var(--muted)}
svg .label{font-size:12px;fill:var(--ink);font-weight:600}
.chains{display:grid;grid-template-columns:1fr 1fr;gap:14px}
.chain{border:1px solid var(--line);border-radius:8px;padding:12px 14px;min-width:0}
.chain .head{font-size:13px;margin-bottom:8px}
.chain .head b{color:#b04a1a}
.chain .head .in{color:var(--muted);display:block;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.c{margin:6px 0;padding:6px 10px;border-left:3px solid var(--line);overflow-wrap:anywhere}
.c .who{font-size:12px;color:var(--muted)}
.c .who b{color:var(--ink);font-weight:600}
.c p{margin:3px 0 0}
.c.anc{opacity:.75;font-size:12.5px}
.c.main{border-left-color:#1d2430;background:#f7f9fc}
.c.rep{margin-left:18px;font-size:13px}
.c.rep.disagree{border-left-color:#d9622b}
.c.rep.agree{border-left-color:#2f6fb3}
.more{margin-left:18px;font-size:12px;color:var(--muted)}
.badge{display:inline-block;font-size:10.5px;font-weight:650;padding:0 5px;border-radius:3px;margin-left:5px;text-transform:uppercase;letter-spacing:.03em;color:#fff;vertical-align:1px}
.b-favor,.b-agree{background:#2f6fb3}.b-against,.b-disagree{background:#d9622b}.b-none{background:#8d99a8}
.rb{display:inline-block;font-size:11px;font-weight:650;padding:0 5px;border-radius:3px;margin-left:6px;border:1px solid;background:#fff}
.rb-disagree{color:#b04a1a;border-color:#d9622b}.rb-agree{color:#2f6fb3;border-color:#2f6fb3}.rb-none{color:#5c6675;border-color:#8d99a8}
.chain .mix{display:flex;align-items:center;gap:8px;font-size:12px;color:var(--muted);margin:2px 0 8px}
.b-negative{background:#b8324f}.b-neutral{background:#8d99a8}.b-positive{background:#2e8b6e}.b-toxic{background:#5b2333}.b-ironic{background:#7a5c99}
details summary{cursor:pointer;font-weight:600}
dl.defs{display:grid;grid-template-columns:max-content 1fr;gap:5px 16px;margin:12px 0 0;font-size:13px}
dl.defs dt{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px;color:#374151}
dl.defs dd{margin:0;color:#374151}
.meta{font-size:12.5px;color:var(--muted)}
.meta h2{color:var(--ink)}
.meta code{font-size:12px}
footer{margin-top:14px;font-size:12px;color:var(--muted)}
@media (max-width:900px){.tiles{grid-template-columns:repeat(2,1fr)}.chains{grid-template-columns:1fr}}
"#;

fn legend(items: &[(&str, &str)]) -> String {
    let mut out = String::from(r#"<div class="legend">"#);
    for (color, name) in items {
        let _ = write!(
            out,
            r#"<span><i style="background:{color}"></i>{}</span>"#,
            html(name)
        );
    }
    out.push_str("</div>");
    out
}

fn stance_bar(s: &GroupStats) -> String {
    stacked_bar(
        &[
            Segment {
                share: s.favor.unwrap_or(0.0),
                color: FAVOR,
                name: "favor",
                light: false,
            },
            Segment {
                share: s.none.unwrap_or(0.0),
                color: NONE,
                name: "none",
                light: true,
            },
            Segment {
                share: s.against.unwrap_or(0.0),
                color: AGAINST,
                name: "against",
                light: false,
            },
        ],
        216.0,
        18.0,
    )
}

fn sentiment_bar(s: &GroupStats) -> String {
    stacked_bar(
        &[
            Segment {
                share: s.negative.unwrap_or(0.0),
                color: NEGATIVE,
                name: "negative",
                light: false,
            },
            Segment {
                share: s.neutral.unwrap_or(0.0),
                color: NEUTRAL,
                name: "neutral",
                light: true,
            },
            Segment {
                share: s.positive.unwrap_or(0.0),
                color: POSITIVE,
                name: "positive",
                light: false,
            },
        ],
        168.0,
        18.0,
    )
}

fn tile(key: &str, value: &str, detail: &str) -> String {
    format!(
        r#"<div class="tile"><div class="k">{}</div><div class="v">{}</div><div class="d">{}</div></div>"#,
        html(key),
        html(value),
        html(detail)
    )
}

fn tiles(m: &ReportModel) -> String {
    let o = &m.overall;
    let comments_detail = if m.has(Task::Reply) {
        format!("{} labelled replies", count(o.n_reply.unwrap_or(0)))
    } else {
        format!("{} undated", count(m.n_undated))
    };
    let mut tiles = vec![
        tile("Comments", &count(o.n_comments), &comments_detail),
        tile(
            "Threads",
            &count(m.n_threads),
            &format!("{} orphan comments", count(m.n_orphans)),
        ),
        tile(
            "Authors",
            &count(o.n_authors.unwrap_or(0)),
            &format!("{} comments without author", count(m.n_anonymous)),
        ),
    ];
    match (m.first_ms, m.last_ms) {
        (Some(a), Some(b)) if day(a) == day(b) => tiles.push(tile(
            "Period (UTC)",
            &day(a),
            &format!("{} → {}", &minute(a)[11..], &minute(b)[11..]),
        )),
        (Some(a), Some(b)) => {
            tiles.push(tile("Period (UTC)", &day(a), &format!("to {}", minute(b))))
        }
        _ => tiles.push(tile("Period", "–", "no usable comment time")),
    }
    if m.has(Task::Stance) {
        tiles.push(tile(
            "Net stance",
            &format!("{} pts", points(o.net_stance)),
            &format!("favor {} · against {}", pct(o.favor), pct(o.against)),
        ));
        tiles.push(tile(
            "Polarization",
            &dec2(o.polarization),
            "0 = one camp, 1 = even split",
        ));
    }
    if m.has(Task::Reply) {
        tiles.push(tile(
            "Reply disagreement",
            &pct(o.disagree),
            &format!("agree {}", pct(o.agree)),
        ));
    }
    if m.has(Task::Toxicity) {
        let irony = if m.has(Task::Irony) {
            format!("ironic {}", pct(o.ironic))
        } else {
            String::new()
        };
        tiles.push(tile("Toxic comments", &pct(o.toxic), &irony));
    } else if m.has(Task::Sentiment) {
        tiles.push(tile(
            "Mean polarity",
            &dec2(o.mean_polarity),
            &format!("negative {}", pct(o.negative)),
        ));
    }
    format!(r#"<div class="tiles">{}</div>"#, tiles.join(""))
}

fn thread_cell(label: &str, id: Option<&str>, url: Option<&str>) -> String {
    let title = match url {
        Some(u) if u.starts_with("https://") || u.starts_with("http://") => {
            format!(
                r#"<a class="t" href="{}" title="{}">{}</a>"#,
                html(u),
                html(label),
                html(&clip(label, 90))
            )
        }
        _ => format!(
            r#"<span class="t" title="{}">{}</span>"#,
            html(label),
            html(&clip(label, 90))
        ),
    };
    let id = id
        .map(|i| format!(r#"<span class="id">{}</span>"#, html(i)))
        .unwrap_or_default();
    format!(r#"<td class="thread">{title}{id}</td>"#)
}

fn per_thread(m: &ReportModel) -> String {
    let threads = m.threads_by_size();
    let shown = threads.len().min(THREADS_CHARTED);
    let mut out = String::from("<section><h2>Stance and tone per thread</h2>");
    let which = if shown == threads.len() {
        String::from("largest first")
    } else {
        format!(
            "the {shown} largest of {} threads",
            count(threads.len() as u64)
        )
    };
    let _ = write!(
        out,
        r#"<p class="note">Shares of hard labels per thread ({which}). Hover a bar for exact shares.</p>"#
    );
    let mut items = Vec::new();
    if m.has(Task::Stance) {
        items.extend([
            (FAVOR, "favor"),
            (NONE, "none (stance)"),
            (AGAINST, "against"),
        ]);
    }
    if m.has(Task::Sentiment) {
        items.extend([
            (NEGATIVE, "negative"),
            (NEUTRAL, "neutral (sentiment)"),
            (POSITIVE, "positive"),
        ]);
    }
    out.push_str(&legend(&items));
    out.push_str(r#"<table><thead><tr><th>Thread</th><th class="num">Comments</th>"#);
    if m.has(Task::Stance) {
        out.push_str(r#"<th>Stance toward the target</th><th class="num">Net</th>"#);
    }
    if m.has(Task::Sentiment) {
        out.push_str("<th>Sentiment</th>");
    }
    if m.has(Task::Irony) {
        out.push_str("<th>Ironic</th>");
    }
    if m.has(Task::Toxicity) {
        out.push_str("<th>Toxic</th>");
    }
    out.push_str("</tr></thead><tbody>");
    let row = |out: &mut String, class: &str, cell: String, s: &GroupStats| {
        let _ = write!(
            out,
            r#"<tr class="{class}">{cell}<td class="num">{}</td>"#,
            count(s.n_comments)
        );
        if m.has(Task::Stance) {
            let _ = write!(
                out,
                r#"<td>{}</td><td class="num">{}</td>"#,
                stance_bar(s),
                points(s.net_stance)
            );
        }
        if m.has(Task::Sentiment) {
            let _ = write!(out, "<td>{}</td>", sentiment_bar(s));
        }
        if m.has(Task::Irony) {
            let _ = write!(out, "<td>{}</td>", rate_bar(s.ironic, "#7a5c99", 40.0));
        }
        if m.has(Task::Toxicity) {
            let _ = write!(out, "<td>{}</td>", rate_bar(s.toxic, "#5b2333", 40.0));
        }
        out.push_str("</tr>");
    };
    if threads.len() > 1 {
        row(
            &mut out,
            "all",
            thread_cell("All threads", None, None),
            &m.overall,
        );
    }
    for t in threads.iter().take(THREADS_CHARTED) {
        let id = (t.label() != t.article_id).then_some(t.article_id.as_str());
        row(
            &mut out,
            "",
            thread_cell(t.label(), id, t.url.as_deref()),
            &t.stats,
        );
    }
    out.push_str("</tbody></table></section>");
    out
}

fn over_time(m: &ReportModel) -> String {
    let Some(t) = &m.timeline else {
        return String::new();
    };
    let with_stance = m.has(Task::Stance);
    let mut out = String::from("<section><h2>Activity and stance over time</h2>");
    let _ = write!(
        out,
        r#"<p class="note">Comments per {} (UTC){}{}.</p>"#,
        t.bucket.name(),
        if m.threads.len() > 1 {
            ", all threads together"
        } else {
            ""
        },
        if m.n_undated > 0 {
            format!("; {} undated comments are not shown", count(m.n_undated))
        } else {
            String::new()
        }
    );
    if with_stance {
        out.push_str(&legend(&[
            (FAVOR, "favor"),
            (NONE, "none"),
            (AGAINST, "against"),
            ("#e3e7ee", "no stance label"),
        ]));
    }
    out.push_str(&timeline_chart(t, with_stance, 1100.0));
    out.push_str("</section>");
    out
}

fn badges(c: &CommentView) -> String {
    let mut out = String::new();
    for label in [c.stance.as_deref(), c.sentiment.as_deref()]
        .into_iter()
        .flatten()
    {
        let class = match label {
            "favor" | "against" | "none" | "negative" | "neutral" | "positive" => label,
            _ => "none",
        };
        let text = if label == "none" { "no stance" } else { label };
        let _ = write!(
            out,
            r#"<span class="badge b-{class}">{}</span>"#,
            html(text)
        );
    }
    if c.toxic == Some(true) {
        out.push_str(r#"<span class="badge b-toxic">toxic</span>"#);
    }
    if c.ironic == Some(true) {
        out.push_str(r#"<span class="badge b-ironic">ironic</span>"#);
    }
    out
}

fn comment(c: &CommentView, class: &str, max_chars: usize, with_reply: bool) -> String {
    let mut who = format!(
        "<b>{}</b>",
        html(c.author.as_deref().unwrap_or("(no author)"))
    );
    if let Some(t) = c.created_ms {
        let _ = write!(who, " · {}", html(&minute(t)));
    }
    if with_reply {
        if let Some(r) = c.reply.as_deref() {
            let (class, text) = match r {
                "agree" => ("agree", "↩ agrees"),
                "disagree" => ("disagree", "↩ disagrees"),
                _ => ("none", "↩ neither"),
            };
            let _ = write!(who, r#"<span class="rb rb-{class}">{text}</span>"#);
        }
    }
    who.push_str(&badges(c));
    let text = c
        .text
        .as_deref()
        .map(|t| clip(t, max_chars))
        .unwrap_or_default();
    let reply_class = if with_reply {
        c.reply.as_deref().unwrap_or("")
    } else {
        ""
    };
    format!(
        r#"<div class="c {class} {}"><div class="who">{who}</div><p>{}</p></div>"#,
        html(reply_class),
        html(&text)
    )
}

fn chain(c: &Chain) -> String {
    let mut out = String::from(r#"<div class="chain">"#);
    let _ = write!(
        out,
        r#"<div class="head"><b>{} of {}</b> direct {} disagree{}<span class="in">in {}</span></div>"#,
        c.n_disagree,
        c.n_direct,
        if c.n_direct == 1 { "reply" } else { "replies" },
        if c.n_disagree == 1 { "s" } else { "" },
        html(&c.thread)
    );
    out.push_str(&reply_mix(c));
    // Long ancestries: the top-level comment and the direct parent are enough context.
    let n = c.ancestors.len();
    for (i, a) in c.ancestors.iter().enumerate() {
        if n > 2 && i == 1 {
            let _ = write!(
                out,
                r#"<div class="more">… {} more comments up the chain …</div>"#,
                n - 2
            );
        }
        if n > 2 && i > 0 && i + 1 < n {
            continue;
        }
        out.push_str(&comment(a, "anc", 120, false));
    }
    out.push_str(&comment(&c.comment, "main", 300, false));
    for r in c.replies.iter().take(REPLIES_SHOWN) {
        out.push_str(&comment(r, "rep", 180, true));
    }
    if c.replies.len() > REPLIES_SHOWN {
        let _ = write!(
            out,
            r#"<div class="more">and {} more replies</div>"#,
            c.replies.len() - REPLIES_SHOWN
        );
    }
    out.push_str("</div>");
    out
}

/// The labels of all direct replies as one bar, so the balance reads at a glance.
fn reply_mix(c: &Chain) -> String {
    let n = c.replies.len().max(1) as f64;
    let share = |label: &str| {
        c.replies
            .iter()
            .filter(|r| r.reply.as_deref() == Some(label))
            .count() as f64
            / n
    };
    let (agree, disagree, none) = (share("agree"), share("disagree"), share("none"));
    format!(
        r#"<div class="mix">{}<span>{:.0}% agree · {:.0}% disagree · {:.0}% neither</span></div>"#,
        stacked_bar(
            &[
                Segment {
                    share: agree,
                    color: FAVOR,
                    name: "agree",
                    light: false
                },
                Segment {
                    share: none,
                    color: NONE,
                    name: "neither",
                    light: true
                },
                Segment {
                    share: disagree,
                    color: AGAINST,
                    name: "disagree",
                    light: false
                },
            ],
            140.0,
            10.0,
        ),
        agree * 100.0,
        disagree * 100.0,
        none * 100.0
    )
}

fn chains(m: &ReportModel) -> String {
    if !m.has(Task::Reply) {
        return String::new();
    }
    let mut out = String::from("<section><h2>Most contested reply chains</h2>");
    if m.chains.is_empty() {
        out.push_str(
            r#"<p class="note">No comment received a reply labelled “disagree”.</p></section>"#,
        );
        return out;
    }
    out.push_str(r#"<p class="note">Comments with the most direct replies labelled “disagree”, with the comments above them and their first replies (disagreeing first); texts are shortened. Outlined badges: the reply’s relation to its parent; filled badges: stance toward the article’s target, sentiment, toxicity, irony.</p><div class="chains">"#);
    for c in &m.chains {
        out.push_str(&chain(c));
    }
    out.push_str("</div></section>");
    out
}

/// A score in [0, 1] as a short bar with its value.
fn score_bar(v: Option<f64>) -> String {
    let Some(v) = v else {
        return "–".into();
    };
    let w = v.clamp(0.0, 1.0) * 60.0;
    format!(
        r##"<span class="rate"><svg width="60" height="10" viewBox="0 0 60 10"><rect width="60" height="10" rx="2" fill="#eef1f5"/><rect width="{w:.2}" height="10" rx="2" fill="#b04a1a"/></svg>{}</span>"##,
        dec2(Some(v))
    )
}

fn ranking(m: &ReportModel) -> String {
    if !(m.has(Task::Stance) && m.has(Task::Reply)) || m.threads.is_empty() {
        return String::new();
    }
    let threads = m.threads_ranked();
    let shown = threads.len().min(THREADS_RANKED);
    let mut out = String::from("<section><h2>Threads by controversy</h2>");
    let which = if shown == threads.len() {
        String::new()
    } else {
        format!(
            " The {shown} most controversial of {} threads.",
            count(threads.len() as u64)
        )
    };
    let _ = write!(
        out,
        r#"<p class="note">Controversy combines stance polarization, the reply disagreement rate and thread volume (definitions below).{which}</p>"#
    );
    out.push_str(r#"<table><thead><tr><th>Thread</th><th class="num">Controversy</th><th class="num">Polarization</th><th class="num">Disagree</th><th class="num">Comments</th><th class="num">Authors</th><th class="num">Max depth</th><th>Period (UTC)</th></tr></thead><tbody>"#);
    for t in threads.iter().take(THREADS_RANKED) {
        let id = (t.label() != t.article_id).then_some(t.article_id.as_str());
        let period = match (t.first_ms, t.last_ms) {
            (Some(a), Some(b)) if day(a) == day(b) => {
                format!("{} {}–{}", day(a), &minute(a)[11..], &minute(b)[11..])
            }
            (Some(a), Some(b)) => format!("{} → {}", day(a), &day(b)[5..]),
            _ => "–".into(),
        };
        let _ = write!(
            out,
            r#"<tr>{}<td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td></tr>"#,
            thread_cell(t.label(), id, t.url.as_deref()),
            score_bar(t.stats.controversy),
            dec2(t.stats.polarization),
            pct(t.stats.disagree),
            count(t.stats.n_comments),
            t.stats.n_authors.map(count).unwrap_or_else(|| "–".into()),
            t.max_depth.map(count).unwrap_or_else(|| "–".into()),
            html(&period)
        );
    }
    out.push_str("</tbody></table></section>");
    out
}

fn definitions(m: &ReportModel) -> String {
    let mut out = String::from(
        r#"<section><details><summary>Definitions of the thread metrics</summary><dl class="defs">"#,
    );
    let present = |name: &str| m.thread_columns.iter().any(|c| c == name);
    for metric in METRICS
        .iter()
        .filter(|x| x.tables.contains(&Table::Threads) && present(x.name))
    {
        let _ = write!(
            out,
            "<dt>{}</dt><dd>{}</dd>",
            html(metric.name),
            html(metric.definition)
        );
    }
    out.push_str("</dl></details></section>");
    out
}

fn run_meta(m: &ReportModel) -> String {
    let r = &m.run;
    let mut out = String::from(r#"<section class="meta"><h2>Run</h2><table><tbody>"#);
    let row = |out: &mut String, k: &str, v: String| {
        let _ = write!(out, "<tr><td>{}</td><td>{v}</td></tr>", html(k));
    };
    if !r.stance_version.is_empty() {
        row(&mut out, "stance version", html(&r.stance_version));
    }
    for model in &r.models {
        row(
            &mut out,
            &format!("model ({})", model.role),
            format!(
                "<code>{}</code>{}",
                html(&model.id),
                model
                    .revision
                    .as_deref()
                    .map(|v| format!(" @ <code>{}</code>", html(v)))
                    .unwrap_or_default()
            ),
        );
    }
    for head in &r.heads {
        let thresholds: Vec<String> = head
            .thresholds
            .iter()
            .map(|(k, v)| format!("{k} ≥ {v}"))
            .chain(head.class_offsets.iter().map(|(k, v)| format!("ln p({k}) {v:+}")))
            .collect();
        row(
            &mut out,
            &format!("head: {}", head.task),
            format!(
                "labels {}{}{}",
                html(&head.labels.join(", ")),
                if thresholds.is_empty() {
                    String::new()
                } else {
                    format!("; decided by {}", html(&thresholds.join(", ")))
                },
                head.source
                    .as_deref()
                    .map(|s| format!("; from <code>{}</code>", html(s)))
                    .unwrap_or_default()
            ),
        );
    }
    for f in &r.input_files {
        row(
            &mut out,
            "input",
            format!(
                "<code>{}</code>{}{}",
                html(&f.path),
                f.bytes
                    .map(|b| format!(", {} bytes", count(b)))
                    .unwrap_or_default(),
                f.sha256
                    .as_deref()
                    .map(|h| format!(", sha256 <code>{}</code>", html(&h[..h.len().min(16)])))
                    .unwrap_or_default()
            ),
        );
    }
    row(
        &mut out,
        "aggregation",
        format!(
            "top {} contested comments per thread; controversy half-volume {}",
            r.aggregation.top_contested, r.aggregation.controversy_half_volume
        ),
    );
    out.push_str("</tbody></table></section>");
    out
}

/// `report.html`.
pub(crate) fn report_html(m: &ReportModel) -> String {
    let mut out = String::from("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    out.push_str(r#"<meta name="viewport" content="width=device-width, initial-scale=1">"#);
    // Forbids every fetch: the page must render from its own bytes alone.
    out.push_str(r#"<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">"#);
    let title = if m.threads.len() == 1 {
        format!("stance report: {}", m.threads[0].label())
    } else {
        format!("stance report: {} threads", count(m.threads.len() as u64))
    };
    let _ = write!(
        out,
        "<title>{}</title><style>{CSS}</style></head><body><main>",
        html(&title)
    );
    let _ = write!(out, "<h1>{}</h1>", html(&title));
    let tasks: Vec<&str> = m.tasks.iter().map(|t| t.name()).collect();
    let _ = write!(
        out,
        r#"<div class="sub">{} · tasks: {}</div>"#,
        html(&m.run.model_line().unwrap_or_else(|| "model unknown".into())),
        html(&if tasks.is_empty() {
            "none".to_string()
        } else {
            tasks.join(", ")
        })
    );
    out.push_str(&tiles(m));
    if !m.threads.is_empty()
        && (m.has(Task::Stance)
            || m.has(Task::Sentiment)
            || m.has(Task::Irony)
            || m.has(Task::Toxicity))
    {
        out.push_str(&per_thread(m));
    }
    out.push_str(&over_time(m));
    out.push_str(&chains(m));
    out.push_str(&ranking(m));
    out.push_str(&definitions(m));
    out.push_str(&run_meta(m));
    out.push_str("<footer>Written by stance. Shares count hard labels; times are UTC (naive times taken as given).</footer>");
    out.push_str("</main></body></html>\n");
    out
}
