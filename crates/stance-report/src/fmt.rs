//! Number, time and text formatting shared by the reports.

use chrono::DateTime;

/// `32.1%`, or `–` for no value.
pub(crate) fn pct(v: Option<f64>) -> String {
    v.map(|v| format!("{:.1}%", v * 100.0))
        .unwrap_or_else(|| "–".into())
}

/// A share difference in percentage points with its sign: `+12.9`, `−3.0`, `0.0`.
pub(crate) fn points(v: Option<f64>) -> String {
    match v {
        None => "–".into(),
        Some(v) => {
            let p = v * 100.0;
            if p.abs() < 0.05 {
                "0.0".into()
            } else if p > 0.0 {
                format!("+{p:.1}")
            } else {
                format!("−{:.1}", -p)
            }
        }
    }
}

/// A number in [−1, 1] or [0, 1] with two decimals and a real minus sign.
pub(crate) fn dec2(v: Option<f64>) -> String {
    match v {
        None => "–".into(),
        Some(v) if v < -0.005 => format!("−{:.2}", -v),
        Some(v) => format!("{:.2}", v.abs()),
    }
}

/// `12,345`.
// `is_multiple_of` would need Rust 1.87; the workspace supports 1.85.
#[allow(clippy::manual_is_multiple_of)]
pub(crate) fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `1 thread`, `2,124 threads`.
pub(crate) fn counted(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{} {noun}s", count(n))
    }
}

/// `2024-09-21 09:37` (UTC).
pub(crate) fn minute(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// `2024-09-21`.
pub(crate) fn day(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// At most `max` characters of `s` on one line (whitespace runs folded, control characters
/// such as terminal escape sequences replaced by `�`), with `…` when cut.
pub(crate) fn clip(s: &str, max: usize) -> String {
    let folded: String = s
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect();
    if folded.chars().count() <= max {
        return folded;
    }
    let mut out: String = folded.chars().take(max.saturating_sub(1)).collect();
    out.truncate(out.trim_end().len());
    out.push('…');
    out
}

/// Pads or clips `s` to exactly `width` characters (left-aligned).
pub(crate) fn left(s: &str, width: usize) -> String {
    let clipped = clip(s, width);
    let n = clipped.chars().count();
    format!("{clipped}{}", " ".repeat(width.saturating_sub(n)))
}

/// Right-aligns `s` in `width` characters.
pub(crate) fn right(s: &str, width: usize) -> String {
    let n = s.chars().count();
    format!("{}{s}", " ".repeat(width.saturating_sub(n)))
}

/// Escapes text for HTML element content and attribute values.
pub(crate) fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Escapes text for a Markdown table cell or paragraph: no markup, links or HTML survive.
pub(crate) fn markdown(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.split_whitespace().collect::<Vec<_>>().join(" ").chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '#' | '~' | '!' => {
                out.push('\\');
                out.push(c);
            }
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            c => out.push(c),
        }
    }
    out
}
