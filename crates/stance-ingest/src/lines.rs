//! Physical lines of a stream, numbered from 1, without their `\n` / `\r\n`, as raw bytes (UTF-8
//! is checked per record by the readers, so one bad line never spoils the others).

use std::io::{self, BufRead, Read};

/// A line longer than this cannot hold a record whose fields are each under 1 MiB in any sane
/// table; it is skipped (and reported) instead of being held in memory.
pub(crate) const MAX_LINE_BYTES: u64 = 64 << 20;

pub(crate) enum Line<'a> {
    Text(u64, &'a [u8]),
    /// Longer than [`MAX_LINE_BYTES`]; its bytes were skipped.
    Overlong(u64),
    /// The stream failed at this line; nothing more will be read.
    Failed(u64, io::Error),
}

pub(crate) struct Lines<R> {
    reader: R,
    buf: Vec<u8>,
    line_no: u64,
    done: bool,
}

impl<R: BufRead> Lines<R> {
    pub fn new(reader: R) -> Self {
        Lines {
            reader,
            buf: Vec::new(),
            line_no: 0,
            done: false,
        }
    }

    pub fn next_line(&mut self) -> Option<Line<'_>> {
        if self.done {
            return None;
        }
        self.buf.clear();
        self.line_no += 1;
        let read = (&mut self.reader)
            .take(MAX_LINE_BYTES)
            .read_until(b'\n', &mut self.buf);
        match read {
            Err(e) => {
                self.done = true;
                Some(Line::Failed(self.line_no, e))
            }
            Ok(0) => {
                self.done = true;
                None
            }
            Ok(n) => {
                if n as u64 == MAX_LINE_BYTES && self.buf.last() != Some(&b'\n') {
                    if let Err(e) = skip_line(&mut self.reader) {
                        self.done = true;
                        return Some(Line::Failed(self.line_no, e));
                    }
                    return Some(Line::Overlong(self.line_no));
                }
                let mut end = self.buf.len();
                if self.buf[..end].ends_with(b"\n") {
                    end -= 1;
                }
                if self.buf[..end].ends_with(b"\r") {
                    end -= 1;
                }
                Some(Line::Text(self.line_no, &self.buf[..end]))
            }
        }
    }
}

/// Consumes the stream up to and including the next `\n`.
fn skip_line<R: BufRead>(reader: &mut R) -> io::Result<()> {
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            return Ok(());
        }
        match available.iter().position(|&b| b == b'\n') {
            Some(i) => {
                reader.consume(i + 1);
                return Ok(());
            }
            None => {
                let n = available.len();
                reader.consume(n);
            }
        }
    }
}
