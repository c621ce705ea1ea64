//! Small text helpers shared by the readers: ids from names, HTML to plain text, UTF-8 checks.

use std::borrow::Cow;

/// Lower-cases and turns every run of non-alphanumeric characters into one `-`.
pub fn slugify(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending_dash = false;
    for c in s.chars() {
        if c.is_alphanumeric() {
            if pending_dash && !out.is_empty() {
                out.push('-');
            }
            pending_dash = false;
            out.extend(c.to_lowercase());
        } else {
            pending_dash = true;
        }
    }
    out
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
pub fn prefix_at_boundary(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Outcome of checking bytes for UTF-8.
pub(crate) enum Utf8<'a> {
    Valid(&'a str),
    /// Invalid bytes replaced by U+FFFD (only with `--lossy-utf8`); the offset of the first one.
    Replaced(String, usize),
    /// Invalid, not repaired: the offset of the first bad byte.
    Invalid(usize),
}

pub(crate) fn check_utf8(bytes: &[u8], lossy: bool) -> Utf8<'_> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Utf8::Valid(s),
        Err(e) if lossy => {
            Utf8::Replaced(String::from_utf8_lossy(bytes).into_owned(), e.valid_up_to())
        }
        Err(e) => Utf8::Invalid(e.valid_up_to()),
    }
}

/// Plain text from the HTML fragments some exports hold (Disqus messages): paragraphs and block
/// elements become blank lines, `<br>` a line break, other tags vanish, entities are decoded.
pub fn html_to_text(html: &str) -> String {
    if !html.contains('<') && !html.contains('&') {
        return html.trim().to_string();
    }
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(pos) = rest.find(['<', '&']) {
        out.push_str(&rest[..pos]);
        rest = &rest[pos..];
        if rest.starts_with('<') {
            match tag_end(rest) {
                Some(end) => {
                    let tag = &rest[1..end];
                    let name: String = tag
                        .trim_start_matches('/')
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric())
                        .collect::<String>()
                        .to_ascii_lowercase();
                    match name.as_str() {
                        "br" => out.push('\n'),
                        "p" | "div" | "blockquote" | "li" | "ul" | "ol" | "pre" | "tr"
                        | "table" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => out.push_str("\n\n"),
                        _ => {}
                    }
                    rest = &rest[end + 1..];
                }
                None => {
                    out.push('<');
                    rest = &rest[1..];
                }
            }
        } else {
            match decode_entity(rest) {
                Some((decoded, len)) => {
                    out.push_str(&decoded);
                    rest = &rest[len..];
                }
                None => {
                    out.push('&');
                    rest = &rest[1..];
                }
            }
        }
    }
    out.push_str(rest);
    tidy_blank_lines(&out)
}

/// Where a tag that starts at `s[0] == '<'` ends (`>`), if `s` really starts a tag.
fn tag_end(s: &str) -> Option<usize> {
    let next = s[1..].chars().next()?;
    if !(next.is_ascii_alphabetic() || next == '/' || next == '!') {
        return None;
    }
    s.find('>')
}

/// Decodes `&name;`, `&#123;` or `&#x1F;` at the start of `s`: the text and the bytes consumed.
fn decode_entity(s: &str) -> Option<(Cow<'static, str>, usize)> {
    let semi = prefix_at_boundary(s, 40).find(';')?;
    let body = &s[1..semi];
    let decoded: Cow<'static, str> = if let Some(num) = body.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse::<u32>().ok()?,
        };
        let c = char::from_u32(code).filter(|&c| c != '\0')?;
        Cow::Owned(c.to_string())
    } else {
        Cow::Borrowed(quick_xml::escape::resolve_html5_entity(body)?)
    };
    Some((decoded, semi + 1))
}

/// Trims each line's end, collapses runs of blank lines into one, trims the whole.
fn tidy_blank_lines(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut blank_run = 0;
    for line in s.lines() {
        let line = line.trim_end();
        if line.trim().is_empty() {
            blank_run += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank_run > 0 { "\n\n" } else { "\n" });
        }
        blank_run = 0;
        out.push_str(line);
    }
    out.trim_start().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_paragraphs_breaks_and_entities() {
        let html =
            "<p>Hello &amp; <b>welcome</b>,<br>friend &#233;&#x41;</p><p>a &lt; b &nbsp;x</p>";
        assert_eq!(
            html_to_text(html),
            "Hello & welcome,\nfriend éA\n\na < b \u{a0}x"
        );
        assert_eq!(html_to_text("5 < 6 & 7 > 3"), "5 < 6 & 7 > 3");
        assert_eq!(html_to_text("&bogus; &#0; &#xZZ;"), "&bogus; &#0; &#xZZ;");
    }

    #[test]
    fn slugs() {
        assert_eq!(slugify("  Les Crises -- Durov!"), "les-crises-durov");
        assert_eq!(slugify("Été_2024"), "été-2024");
    }

    #[test]
    fn prefix_respects_char_boundaries() {
        assert_eq!(prefix_at_boundary("héllo", 2), "h");
        assert_eq!(prefix_at_boundary("abc", 10), "abc");
    }
}
