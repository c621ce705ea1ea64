//! The article part of a page: site header, date line, title, share buttons, body paragraphs
//! with their photo captions, and the trailing source/credit/disclaimer block.
//!
//! ```text
//! Les Crises Les Crises                      site (a logo's alt text often doubles it)
//! 21.septembre.202421.9.2024 // Les Crises   date line (first date within 6 lines) // byline
//! Le fondateur de Telegram …                 title
//! Merci 32 / Je commente / J'envoie          short lines without punctuation: buttons, skipped
//! Six ans avant que …                        body: one paragraph per line
//! … gouvernementsBuda Mendes/Getty Images    photo caption: dropped
//! Source : MSN, J. Schectman, …, 28-08-2024  last source line near the end: metadata, cut here
//! Traduit par … / Nous vous proposons …      after it: credits and disclaimer, dropped
//! ```

use super::layout::PageLine;
use super::patterns::{self, DateParts};

#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct ParsedArticle {
    pub site: Option<String>,
    pub title: String,
    pub published: Option<DateParts>,
    pub text: String,
    pub authors: Vec<String>,
    pub original_source: Option<String>,
    pub original_published: Option<DateParts>,
    /// Line of the title (the article record's line in rejects).
    pub line: u64,
}

/// How many of the first non-blank lines may hold the date line.
const HEADER_LINES: usize = 6;
/// Share/like buttons under the title: at most this many blocks of short lines.
const MAX_BUTTON_BLOCKS: usize = 3;
/// The last source line counts as the article's end only this close to the end of the body.
const SOURCE_TAIL: usize = 4;

pub(crate) fn parse(lines: &[PageLine]) -> ParsedArticle {
    let nonblank: Vec<&PageLine> = lines.iter().filter(|l| !l.is_blank()).collect();
    let mut article = ParsedArticle::default();
    let date_pos = nonblank
        .iter()
        .take(HEADER_LINES)
        .position(|l| l.content.chars().count() <= 120 && patterns::find_date(l.content).is_some());
    let (site, title, body_from) = match date_pos {
        Some(k) if k >= 2 => (Some(0), Some(k - 1), k + 1),
        Some(k) => ((k == 1).then_some(0), Some(k + 1), k + 2),
        None if nonblank.len() >= 2
            && looks_like_site(nonblank[0].content, nonblank[1].content) =>
        {
            (Some(0), Some(1), 2)
        }
        None => (None, Some(0), 1),
    };
    let mut date_byline = None;
    if let Some(k) = date_pos {
        let date_line = nonblank[k].content;
        let found = patterns::find_date(date_line);
        article.published = found.map(|(d, _, _)| d);
        date_byline = date_line_byline(date_line, found.map_or(0, |(_, _, end)| end));
    }
    article.site = site
        .and_then(|i| nonblank.get(i))
        .map(|l| undouble(l.content).to_string());
    if let Some(t) = title.and_then(|i| nonblank.get(i)) {
        article.title = t.content.trim().to_string();
        article.line = t.no;
    }

    let rest: Vec<&PageLine> = nonblank.iter().skip(body_from).copied().collect();
    let (buttons, body) = split_buttons(&rest);
    let bylines: Vec<String> = buttons
        .iter()
        .filter_map(|l| patterns::byline(l.content))
        .map(str::to_string)
        .collect();

    let mut paragraphs: Vec<&str> = body
        .iter()
        .map(|l| l.content.trim())
        .filter(|c| !is_caption(c, &article.title))
        .collect();
    let source_at = paragraphs
        .iter()
        .rposition(|p| patterns::source_line(p).is_some());
    match source_at {
        Some(j) if paragraphs.len() - j <= SOURCE_TAIL => {
            if let Some(source) = patterns::source_line(paragraphs[j]) {
                read_source(source, &mut article);
            }
            paragraphs.truncate(j);
        }
        _ => {}
    }
    while paragraphs.last().is_some_and(|p| patterns::is_trailer(p)) {
        paragraphs.pop();
    }
    article.text = paragraphs.join("\n\n");

    if article.authors.is_empty() {
        article.authors = if !bylines.is_empty() {
            bylines
        } else {
            date_byline
                .filter(|b| Some(b) != article.site.as_ref())
                .into_iter()
                .collect()
        };
    }
    article
}

/// The byline of a date line: what follows `//`, else what follows the date after a separator
/// (`June 3, 2024 | By Sam Reed`), without a "By"/"Par" prefix.
fn date_line_byline(line: &str, date_end: usize) -> Option<String> {
    let rest = match line.split_once("//") {
        Some((_, by)) => by,
        None => line.get(date_end..)?,
    };
    let rest = rest
        .trim_start_matches(|c: char| c.is_whitespace() || "|/·,-–—".contains(c))
        .trim();
    let name = patterns::byline(rest).unwrap_or(rest);
    (!name.is_empty()
        && patterns::find_date(name).is_none()
        && !name
            .chars()
            .all(|c| c.is_ascii_digit() || c.is_whitespace() || ":hH".contains(c)))
    .then(|| name.to_string())
}

/// A short first line followed by a longer one is a site name above a title.
fn looks_like_site(first: &str, second: &str) -> bool {
    undouble(first).len() < first.len()
        || (first.split_whitespace().count() <= 4 && second.len() > first.len())
}

/// "Les Crises Les Crises" → "Les Crises" (a logo image's alt text beside the same name).
fn undouble(s: &str) -> &str {
    let s = s.trim();
    let half = s.len() / 2;
    if !s.is_char_boundary(half) || half == 0 {
        return s;
    }
    let (a, rest) = s.split_at(half);
    if a == rest {
        return a;
    }
    match rest.strip_prefix(' ') {
        Some(b) if a == b => a,
        _ => s,
    }
}

/// Leading blocks of short, unpunctuated lines under the title (share buttons, counters,
/// bylines), and the body after them.
fn split_buttons<'a, 'b>(
    lines: &'b [&'a PageLine<'a>],
) -> (&'b [&'a PageLine<'a>], &'b [&'a PageLine<'a>]) {
    let mut end = 0;
    let mut blocks = 0;
    while end < lines.len() && blocks < MAX_BUTTON_BLOCKS {
        let mut block_end = end + 1;
        while block_end < lines.len() && lines[block_end].no == lines[block_end - 1].no + 1 {
            block_end += 1;
        }
        if !lines[end..block_end].iter().all(|l| is_button(l.content)) {
            break;
        }
        end = block_end;
        blocks += 1;
    }
    lines.split_at(end)
}

fn is_button(content: &str) -> bool {
    patterns::byline(content).is_some()
        || (content.chars().count() <= 40
            && content.split_whitespace().count() <= 5
            && !patterns::ends_sentence(content))
}

/// Photo captions: a credit at the end, or the title's words reused without punctuation.
fn is_caption(content: &str, title: &str) -> bool {
    if patterns::is_photo_credit(content) {
        return true;
    }
    let prefix: String = title.chars().take(30).collect();
    prefix.chars().count() == 30
        && content != title
        && content.starts_with(&prefix)
        && !patterns::ends_sentence(content)
}

/// `MSN, Joel Schectman, Matthew Dalton, 28-08-2024`: outlet, authors, original date.
fn read_source(source: &str, article: &mut ParsedArticle) {
    let mut items: Vec<&str> = source
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if let Some(last) = items.last() {
        if let Some((date, 0, end)) = patterns::find_date(last) {
            if end == last.len() {
                article.original_published = Some(date);
                items.pop();
            }
        }
    }
    if let Some((first, authors)) = items.split_first() {
        article.original_source = Some(first.to_string());
        article.authors = authors.iter().map(|a| a.to_string()).collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubled_names() {
        assert_eq!(undouble("Les Crises Les Crises"), "Les Crises");
        assert_eq!(undouble("LeMondeLeMonde"), "LeMonde");
        assert_eq!(undouble("Le Monde"), "Le Monde");
    }
}
