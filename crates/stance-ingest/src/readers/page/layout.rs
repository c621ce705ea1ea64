//! A page as numbered lines with their indentation measured (tabs count to the next multiple of
//! 4 columns, so tab- and space-indented pages nest alike).

#[derive(Debug, Clone)]
pub(crate) struct PageLine<'a> {
    /// 1-based line number in the input.
    pub no: u64,
    /// Width of the leading blanks, in columns.
    pub indent: usize,
    /// The line without its indentation and trailing blanks.
    pub content: &'a str,
    /// The line as given, without its trailing blanks.
    pub raw: &'a str,
}

impl PageLine<'_> {
    pub fn is_blank(&self) -> bool {
        self.content.is_empty()
    }
}

const TAB_WIDTH: usize = 4;

/// Splits normalized text (`\n` line ends) into measured lines.
pub(crate) fn lines(text: &str) -> Vec<PageLine<'_>> {
    text.split('\n')
        .enumerate()
        .map(|(i, raw)| {
            let raw = raw.trim_end();
            let (indent, bytes) = measure_indent(raw);
            PageLine {
                no: i as u64 + 1,
                indent,
                content: &raw[bytes..],
                raw,
            }
        })
        .collect()
}

/// (columns, bytes) of the leading spaces and tabs.
fn measure_indent(raw: &str) -> (usize, usize) {
    let mut columns = 0;
    let mut bytes = 0;
    for b in raw.bytes() {
        match b {
            b' ' => columns += 1,
            b'\t' => columns = (columns / TAB_WIDTH + 1) * TAB_WIDTH,
            _ => break,
        }
        bytes += 1;
    }
    (columns, bytes)
}

/// `raw` without up to `columns` columns of indentation (deeper indentation is kept).
pub(crate) fn dedent(raw: &str, columns: usize) -> &str {
    let mut width = 0;
    for (i, b) in raw.bytes().enumerate() {
        let next = match b {
            b' ' => width + 1,
            b'\t' => (width / TAB_WIDTH + 1) * TAB_WIDTH,
            _ => return &raw[i..],
        };
        if next > columns {
            return &raw[i..];
        }
        width = next;
    }
    ""
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tabs_and_spaces_measure_alike() {
        let ls = lines("\tA\n    B\n  \tC\nD  \n");
        let measured: Vec<(usize, &str)> = ls.iter().map(|l| (l.indent, l.content)).collect();
        assert_eq!(
            measured,
            vec![(4, "A"), (4, "B"), (4, "C"), (0, "D"), (0, "")]
        );
    }

    #[test]
    fn dedent_keeps_extra_indentation() {
        assert_eq!(dedent("      > quote", 4), "  > quote");
        assert_eq!(dedent("\t\tx", 4), "\tx");
        assert_eq!(dedent("  x", 4), "x");
    }
}
