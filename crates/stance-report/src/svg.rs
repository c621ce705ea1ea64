//! Inline SVG charts, drawn by hand: no script, no external resource, text escaped.

use crate::fmt::{day, html, minute};
use crate::model::{Bucket, Timeline};
use std::fmt::Write;

pub(crate) const FAVOR: &str = "#2f6fb3";
pub(crate) const AGAINST: &str = "#d9622b";
pub(crate) const NONE: &str = "#c5ccd6";
pub(crate) const NEGATIVE: &str = "#b8324f";
pub(crate) const NEUTRAL: &str = "#c5ccd6";
pub(crate) const POSITIVE: &str = "#2e8b6e";
pub(crate) const UNLABELLED: &str = "#8d99a8";

/// Buckets with fewer stance labels than this are left out of the net-stance line.
const MIN_LABELLED: u64 = 3;

/// One piece of a 100% bar.
pub(crate) struct Segment<'a> {
    pub share: f64,
    pub color: &'a str,
    /// Name shown in the tooltip (`favor`).
    pub name: &'a str,
    /// Dark text on light fills.
    pub light: bool,
}

/// A horizontal 100% stacked bar with the share printed inside each piece wide enough for it.
pub(crate) fn stacked_bar(segments: &[Segment], width: f64, height: f64) -> String {
    let total: f64 = segments.iter().map(|s| s.share.max(0.0)).sum();
    let mut out = format!(
        r#"<svg class="bar" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">"#
    );
    if total <= 0.0 {
        let _ = write!(
            out,
            r##"<rect width="{width}" height="{height}" rx="3" fill="#f0f2f5"/><text x="6" y="{}" class="in dark">no labels</text></svg>"##,
            height / 2.0 + 4.0
        );
        return out;
    }
    let mut x = 0.0;
    for s in segments {
        let w = s.share.max(0.0) / total * width;
        if w <= 0.0 {
            continue;
        }
        let _ = write!(
            out,
            r#"<rect x="{x:.2}" width="{w:.2}" height="{height}" fill="{}"><title>{} {:.1}%</title></rect>"#,
            s.color,
            html(s.name),
            s.share * 100.0
        );
        if w >= 30.0 && height >= 14.0 {
            let _ = write!(
                out,
                r#"<text x="{:.2}" y="{:.1}" class="in{}" text-anchor="middle">{:.0}%</text>"#,
                x + w / 2.0,
                height / 2.0 + 4.0,
                if s.light { " dark" } else { "" },
                s.share * 100.0
            );
        }
        x += w;
    }
    out.push_str("</svg>");
    out
}

/// A short horizontal bar for a single rate in [0, 1], with the value beside it.
pub(crate) fn rate_bar(value: Option<f64>, color: &str, width: f64) -> String {
    let Some(v) = value else {
        return "–".into();
    };
    let w = (v.clamp(0.0, 1.0) * width).max(if v > 0.0 { 1.5 } else { 0.0 });
    format!(
        r##"<span class="rate"><svg width="{width}" height="10" viewBox="0 0 {width} 10"><rect width="{width}" height="10" rx="2" fill="#eef1f5"/><rect width="{w:.2}" height="10" rx="2" fill="{color}"/></svg>{:.1}%</span>"##,
        v * 100.0
    )
}

/// Ticks for an axis from 0 to at least `max`: 0, step, 2·step, … with a 1-2-5 step.
fn ticks(max: f64, target: usize) -> Vec<f64> {
    if max <= 0.0 {
        return vec![0.0, 1.0];
    }
    let raw = max / target.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude)
        .max(1.0);
    let mut out = vec![0.0];
    while *out.last().unwrap_or(&0.0) < max {
        let next = out.len() as f64 * step;
        out.push(next);
    }
    out
}

fn bucket_label(bucket: Bucket, ms: i64) -> String {
    match bucket {
        Bucket::Hour => minute(ms)[5..].to_string(),
        Bucket::Day | Bucket::Week => day(ms),
    }
}

/// Comments per bucket as stacked columns by stance label, and, under it, net stance per
/// bucket as a line (buckets with fewer than [`MIN_LABELLED`] stance labels are left out; the
/// line is drawn only when at least two buckets qualify).
pub(crate) fn timeline_chart(t: &Timeline, with_stance: bool, width: f64) -> String {
    let (left, right, top) = (48.0, 12.0, 14.0);
    let volume_h = 190.0;
    let gap = 58.0;
    // The net-stance panel needs at least two buckets with enough labels to draw a line.
    let net_points = t
        .points
        .iter()
        .filter(|p| p.favor + p.against + p.none >= MIN_LABELLED)
        .count();
    let draw_net = with_stance && net_points >= 2;
    let net_h = if draw_net { 110.0 } else { 0.0 };
    let height = if draw_net {
        top + volume_h + gap + net_h + 30.0
    } else {
        top + volume_h + 30.0
    };
    let plot_w = width - left - right;
    let n = t.points.len().max(1);
    let slot = plot_w / n as f64;
    // Few buckets would give slabs, not bars.
    let bar_w = (slot * 0.78).clamp(1.0, 42.0);
    let max = t.points.iter().map(|p| p.total()).max().unwrap_or(0) as f64;
    let ticks = ticks(max, 4);
    let top_value = *ticks.last().unwrap_or(&1.0);
    let y = |v: f64| top + volume_h - v / top_value * volume_h;
    let mut out = format!(
        r#"<svg class="chart" width="100%" viewBox="0 0 {width} {height}" preserveAspectRatio="xMinYMin meet" role="img">"#
    );
    for tick in &ticks {
        let _ = write!(
            out,
            r#"<line x1="{left}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" class="grid"/><text x="{:.1}" y="{:.1}" class="axis" text-anchor="end">{}</text>"#,
            width - right,
            left - 6.0,
            y(*tick) + 4.0,
            *tick as u64,
            y = y(*tick)
        );
    }
    for (i, p) in t.points.iter().enumerate() {
        let x = left + i as f64 * slot + (slot - bar_w) / 2.0;
        let mut base = 0.0;
        let stack: [(u64, &str, &str); 4] = [
            (p.favor, FAVOR, "favor"),
            (p.none, NONE, "none"),
            (p.against, AGAINST, "against"),
            (
                p.unlabelled,
                if with_stance { "#e3e7ee" } else { UNLABELLED },
                if with_stance {
                    "no stance label"
                } else {
                    "comments"
                },
            ),
        ];
        let mut tooltip = format!(
            "{} — {} comments",
            bucket_label(t.bucket, p.start_ms),
            p.total()
        );
        if with_stance {
            let _ = write!(
                tooltip,
                ": {} favor, {} none, {} against",
                p.favor, p.none, p.against
            );
        }
        let _ = write!(out, "<g><title>{}</title>", html(&tooltip));
        for (count, color, _) in stack {
            if count == 0 {
                continue;
            }
            let h = count as f64 / top_value * volume_h;
            let _ = write!(
                out,
                r#"<rect x="{x:.2}" y="{:.2}" width="{bar_w:.2}" height="{h:.2}" fill="{color}"/>"#,
                y(base) - h
            );
            base += count as f64;
        }
        out.push_str("</g>");
    }
    // About eight date labels, evenly spaced.
    let every = (n as f64 / 8.0).ceil().max(1.0) as usize;
    for (i, p) in t.points.iter().enumerate().step_by(every) {
        let x = left + (i as f64 + 0.5) * slot;
        let _ = write!(
            out,
            r#"<line x1="{x:.1}" x2="{x:.1}" y1="{:.1}" y2="{:.1}" class="tick"/><text x="{x:.1}" y="{:.1}" class="axis" text-anchor="middle">{}</text>"#,
            top + volume_h,
            top + volume_h + 4.0,
            top + volume_h + 17.0,
            html(&bucket_label(t.bucket, p.start_ms))
        );
    }
    if draw_net {
        let net_top = top + volume_h + gap;
        let ny = |v: f64| net_top + (1.0 - v) / 2.0 * net_h;
        let _ = write!(
            out,
            r#"<text x="{left}" y="{:.1}" class="label">Net stance (favor − against) per {}; buckets with at least {MIN_LABELLED} stance labels</text>"#,
            net_top - 10.0,
            t.bucket.name()
        );
        for v in [-1.0, -0.5, 0.0, 0.5, 1.0] {
            let _ = write!(
                out,
                r#"<line x1="{left}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" class="{}"/><text x="{:.1}" y="{:.1}" class="axis" text-anchor="end">{}</text>"#,
                width - right,
                if v == 0.0 { "zero" } else { "grid" },
                left - 6.0,
                ny(v) + 4.0,
                if v > 0.0 {
                    format!("+{v}")
                } else if v < 0.0 {
                    format!("−{}", -v)
                } else {
                    "0".into()
                },
                y = ny(v)
            );
        }
        let mut path = String::new();
        let mut dots = String::new();
        let mut previous: Option<usize> = None;
        for (i, p) in t.points.iter().enumerate() {
            let labelled = p.favor + p.against + p.none;
            if labelled < MIN_LABELLED {
                continue;
            }
            let net = (p.favor as f64 - p.against as f64) / labelled as f64;
            let x = left + (i as f64 + 0.5) * slot;
            // Gaps in the data break the line instead of drawing across them.
            let joined = previous.is_some_and(|j| j + 1 == i);
            let _ = write!(
                path,
                "{}{x:.1},{:.1} ",
                if joined { "L" } else { "M" },
                ny(net)
            );
            let _ = write!(
                dots,
                r#"<circle cx="{x:.1}" cy="{:.1}" r="2.6" fill="{}"><title>{}: net {:+.0} pts ({labelled} labelled)</title></circle>"#,
                ny(net),
                if net >= 0.0 { FAVOR } else { AGAINST },
                html(&bucket_label(t.bucket, p.start_ms)),
                net * 100.0
            );
            previous = Some(i);
        }
        if !path.is_empty() {
            let _ = write!(
                out,
                r##"<path d="{}" fill="none" stroke="#5c6675" stroke-width="1.4"/>"##,
                path.trim_end()
            );
        }
        out.push_str(&dots);
    }
    out.push_str("</svg>");
    out
}
