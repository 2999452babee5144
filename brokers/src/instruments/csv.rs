//! A small CSV record reader for brokers' instrument masters: comma-separated, fields in
//! double quotes when they hold commas, quotes (doubled) or line breaks. The masters are
//! plain enough that this is all of RFC 4180 they use, and a reader that never fails on
//! the whole file (only on one record) is what an import of 120 000 rows needs.

use std::borrow::Cow;

/// One record and the line it starts on (1-based, the header is line 1).
#[derive(Debug, PartialEq)]
pub(crate) struct Record<'a> {
    pub line: usize,
    pub fields: Vec<Cow<'a, str>>,
}

/// A record that could not be read; the reader resumes at the next line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CsvFault {
    /// A quoted field runs to the end of the file.
    Unterminated,
    /// Text between a closing quote and the next comma.
    StrayQuote,
}

pub(crate) struct Records<'a> {
    text: &'a str,
    pos: usize,
    line: usize,
}

impl<'a> Records<'a> {
    pub fn new(text: &'a str) -> Self {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        Records { text, pos: 0, line: 1 }
    }

    /// Skips to just past the next line break (resynchronising after a bad record).
    fn skip_line(&mut self) {
        match self.text[self.pos..].find('\n') {
            Some(n) => {
                self.pos += n + 1;
                self.line += 1;
            }
            None => self.pos = self.text.len(),
        }
    }

    /// A quoted field starting at `self.pos` (on the opening quote).
    fn quoted(&mut self) -> Result<Cow<'a, str>, CsvFault> {
        let b = self.text.as_bytes();
        self.pos += 1;
        let mut out: Option<String> = None;
        let mut seg = self.pos;
        loop {
            let Some(q) = self.text[self.pos..].find('"').map(|n| self.pos + n) else {
                self.pos = self.text.len();
                return Err(CsvFault::Unterminated);
            };
            self.line += self.text[self.pos..q].bytes().filter(|&c| c == b'\n').count();
            if b.get(q + 1) == Some(&b'"') {
                out.get_or_insert_with(String::new).push_str(&self.text[seg..=q]);
                self.pos = q + 2;
                seg = self.pos;
            } else {
                self.pos = q + 1;
                return Ok(match out {
                    Some(mut s) => {
                        s.push_str(&self.text[seg..q]);
                        Cow::Owned(s)
                    }
                    None => Cow::Borrowed(&self.text[seg..q]),
                });
            }
        }
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Record<'a>, (usize, CsvFault)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.text.len() {
            return None;
        }
        let line = self.line;
        let b = self.text.as_bytes();
        let mut fields = Vec::with_capacity(12);
        loop {
            let field = if b.get(self.pos) == Some(&b'"') {
                match self.quoted() {
                    Ok(f) => f,
                    Err(fault) => return Some(Err((line, fault))),
                }
            } else {
                let end = self.text[self.pos..].find([',', '\n']).map_or(self.text.len(), |n| self.pos + n);
                let f = &self.text[self.pos..end];
                self.pos = end;
                Cow::Borrowed(f.strip_suffix('\r').unwrap_or(f))
            };
            fields.push(field);
            match b.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b'\n') => {
                    self.pos += 1;
                    self.line += 1;
                    break;
                }
                Some(b'\r') if b.get(self.pos + 1) == Some(&b'\n') => {
                    self.pos += 2;
                    self.line += 1;
                    break;
                }
                None => break,
                Some(_) => {
                    self.skip_line();
                    return Some(Err((line, CsvFault::StrayQuote)));
                }
            }
        }
        Some(Ok(Record { line, fields }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Read = Result<(usize, Vec<String>), (usize, CsvFault)>;

    fn all(text: &str) -> Vec<Read> {
        Records::new(text).map(|r| r.map(|r| (r.line, r.fields.into_iter().map(String::from).collect()))).collect()
    }

    fn ok(line: usize, f: &[&str]) -> Read {
        Ok((line, f.iter().map(|s| s.to_string()).collect()))
    }

    #[test]
    fn plain_and_quoted_fields() {
        let t = "a,b,c\r\n1,\"X, Y LTD\",3\n\"say \"\"hi\"\"\",,\"\"\n";
        assert_eq!(
            all(t),
            vec![ok(1, &["a", "b", "c"]), ok(2, &["1", "X, Y LTD", "3"]), ok(3, &["say \"hi\"", "", ""])]
        );
    }

    #[test]
    fn no_final_newline_and_bom() {
        assert_eq!(all("\u{feff}a,b\n1,2"), vec![ok(1, &["a", "b"]), ok(2, &["1", "2"])]);
    }

    #[test]
    fn line_breaks_inside_quotes_count_lines() {
        let t = "a\n\"two\nlines\",x\nz\n";
        assert_eq!(all(t), vec![ok(1, &["a"]), ok(2, &["two\nlines", "x"]), ok(4, &["z"])]);
    }

    #[test]
    fn faults_lose_one_record_only() {
        assert_eq!(all("\"ab\"c,d\ne\n"), vec![Err((1, CsvFault::StrayQuote)), ok(2, &["e"])]);
        assert_eq!(all("a\n\"open,1\nb\n"), vec![ok(1, &["a"]), Err((2, CsvFault::Unterminated))]);
    }
}
