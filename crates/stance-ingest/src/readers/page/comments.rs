//! The comment part of a page: an optional "recommended" block, a count line, then comment
//! headers whose indentation gives the nesting, each followed by its (usually deeper indented)
//! text, then footer boilerplate.
//!
//! ```text
//! Commentaire recommandé                     marker: the comments up to the count line are
//! RGT // 21.09.2024 à 09h37                  copies of comments in the list, flagged
//! Décidément, …                              `recommended` there (kept, if not found)
//! 7 réactions et commentaires                count line
//!   • RGT // 21.09.2024 à 09h37              header at indent 2: top level
//!     Décidément, …                          text at indent 4
//!     • landstrykere // 21.09.2024 à 14h07   header at indent 4: reply to the one above
//!       > ou celle de Poutine, …
//!   • Afficher tous les commentaires         footer: ends the list
//! ```
//!
//! The nesting uses a stack of header indents, not a fixed step, so any indentation unit works.
//! A text line indented no deeper than its header (when the comment's text is indented deeper)
//! ends the comment; the lines that follow belong to nobody until the next header.

use super::layout::{dedent, PageLine};
use super::patterns::{self, Header};

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ParsedComment {
    pub header: Header,
    /// Line of the header.
    pub line: u64,
    /// Last line of its text (the header line when it has none).
    pub last_line: u64,
    pub text: String,
    /// Index of the parent in the list.
    pub parent: Option<usize>,
    pub recommended: bool,
}

/// Where the comment part starts: the first comment header, or a recommended marker or count
/// line directly followed by one.
pub(crate) fn start(lines: &[PageLine], from: usize) -> Option<usize> {
    (from..lines.len()).find(|&i| {
        let content = lines[i].content;
        if patterns::header(content).is_some() {
            return true;
        }
        (patterns::is_recommended_marker(content) || patterns::is_count_line(content))
            && next_nonblank(lines, i + 1)
                .is_some_and(|j| patterns::header(lines[j].content).is_some())
    })
}

fn next_nonblank(lines: &[PageLine], from: usize) -> Option<usize> {
    (from..lines.len()).find(|&i| !lines[i].is_blank())
}

struct Building<'a> {
    header: Header,
    line: u64,
    header_indent: usize,
    text_indent: Option<usize>,
    lines: Vec<&'a PageLine<'a>>,
    closed: bool,
    recommended: bool,
}

/// Parses the comment part (`lines` from [`start`] on).
pub(crate) fn parse<'a>(lines: &'a [PageLine<'a>]) -> Vec<ParsedComment> {
    let mut list: Vec<(Building, usize)> = Vec::new();
    let mut recommended: Vec<Building> = Vec::new();
    let mut current: Option<Building> = None;
    let mut in_recommended = false;
    let mut recommended_signature: Option<(usize, bool)> = None;

    let close = |current: &mut Option<Building<'a>>,
                 list: &mut Vec<(Building<'a>, usize)>,
                 recommended: &mut Vec<Building<'a>>| {
        if let Some(done) = current.take() {
            if done.recommended {
                recommended.push(done);
            } else {
                let indent = done.header_indent;
                list.push((done, indent));
            }
        }
    };

    for (i, line) in lines.iter().enumerate() {
        if line.is_blank() {
            if let Some(c) = current.as_mut().filter(|c| !c.closed) {
                c.lines.push(line);
            }
            continue;
        }
        if let Some(header) = patterns::header(line.content) {
            close(&mut current, &mut list, &mut recommended);
            let signature = (line.indent, header.bullet);
            if in_recommended {
                match recommended_signature {
                    None => recommended_signature = Some(signature),
                    Some(s) if s != signature => in_recommended = false,
                    Some(_) => {}
                }
            }
            current = Some(Building {
                header,
                line: line.no,
                header_indent: line.indent,
                text_indent: None,
                lines: Vec::new(),
                closed: false,
                recommended: in_recommended,
            });
            continue;
        }
        let structural_at =
            |c: &Option<Building>| c.as_ref().is_none_or(|c| line.indent <= c.header_indent);
        if patterns::is_recommended_marker(line.content) && structural_at(&current) {
            close(&mut current, &mut list, &mut recommended);
            in_recommended = true;
            recommended_signature = None;
            continue;
        }
        if patterns::is_count_line(line.content)
            && structural_at(&current)
            && next_nonblank(lines, i + 1)
                .is_some_and(|j| patterns::header(lines[j].content).is_some())
        {
            close(&mut current, &mut list, &mut recommended);
            in_recommended = false;
            continue;
        }
        if patterns::is_footer(line.content) && structural_at(&current) {
            if let Some(c) = current.as_mut() {
                c.closed = true;
            }
            continue;
        }
        let Some(c) = current.as_mut().filter(|c| !c.closed) else {
            continue;
        };
        let text_indent = *c.text_indent.get_or_insert(line.indent);
        if text_indent > c.header_indent && line.indent <= c.header_indent {
            c.closed = true;
            continue;
        }
        c.lines.push(line);
    }
    close(&mut current, &mut list, &mut recommended);

    let mut out: Vec<ParsedComment> = Vec::with_capacity(list.len() + recommended.len());
    let mut stack: Vec<(usize, usize)> = Vec::new();
    for (building, indent) in list {
        while stack
            .last()
            .is_some_and(|&(top_indent, _)| top_indent >= indent)
        {
            stack.pop();
        }
        let parent = stack.last().map(|&(_, index)| index);
        stack.push((indent, out.len()));
        out.push(finish(building, parent));
    }
    for building in recommended {
        let candidate = finish(building, None);
        let same = out.iter_mut().find(|c| {
            c.header.author == candidate.header.author
                && c.header.date == candidate.header.date
                && c.header.time == candidate.header.time
                && same_start(&c.text, &candidate.text)
        });
        match same {
            Some(c) => c.recommended = true,
            None => out.push(ParsedComment {
                recommended: true,
                ..candidate
            }),
        }
    }
    out
}

/// Whether two renderings of a comment start alike (a recommended copy may be cut short).
fn same_start(a: &str, b: &str) -> bool {
    let a: String = a.chars().take(80).collect();
    let b: String = b.chars().take(80).collect();
    a.starts_with(&b) || b.starts_with(&a)
}

fn finish(b: Building, parent: Option<usize>) -> ParsedComment {
    let mut lines = b.lines;
    // Reply/like buttons and blank lines trailing the text are not text.
    while lines
        .last()
        .is_some_and(|l| l.is_blank() || patterns::is_reply_button(l.content))
    {
        lines.pop();
    }
    let last_line = lines.last().map_or(b.line, |l| l.no);
    let indent = b.text_indent.unwrap_or(0);
    let mut text = String::new();
    let mut pending_blank = false;
    for line in lines.iter().skip_while(|l| l.is_blank()) {
        if line.is_blank() {
            pending_blank = true;
            continue;
        }
        if !text.is_empty() {
            text.push_str(if pending_blank { "\n\n" } else { "\n" });
        }
        pending_blank = false;
        text.push_str(dedent(line.raw, indent));
    }
    ParsedComment {
        header: b.header,
        line: b.line,
        last_line,
        text,
        parent,
        recommended: b.recommended,
    }
}
