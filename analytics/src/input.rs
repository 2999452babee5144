//! Daily series from CSV: an equity curve (`date,equity`) or a benchmark (`date,close`).
//! Dates are `YYYY-MM-DD`, strictly increasing; values are positive numbers. Columns are
//! found by name in the header, so extra columns and any column order are accepted. Every
//! error names the file's line, because these files come from elsewhere and are fixed by hand.

/// Why a daily series was refused; `line` is 1-based, the header being line 1.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SeriesError {
    #[error("the file is empty: expected a header with `date` and `{column}`")]
    Empty { column: &'static str },
    #[error("line 1: the header has no `{column}` column (found: {found})")]
    MissingColumn { column: &'static str, found: String },
    #[error("no data rows after the header")]
    NoRows,
    #[error("line {line}: expected {expected} fields, found {found}")]
    FieldCount { line: usize, expected: usize, found: usize },
    #[error("line {line}: {value:?} is not a date (YYYY-MM-DD)")]
    BadDate { line: usize, value: String },
    #[error("line {line}: {value:?} is not a number")]
    BadNumber { line: usize, value: String },
    #[error("line {line}: {column} {value} is not positive")]
    NotPositive { line: usize, column: &'static str, value: f64 },
    #[error("line {line}: date {date} repeats line {previous}")]
    Duplicate { line: usize, date: String, previous: usize },
    #[error("line {line}: date {date} comes before {previous_date} on line {previous}")]
    Unsorted { line: usize, date: String, previous_date: String, previous: usize },
}

/// A dated daily series, oldest first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DailySeries {
    /// `YYYY-MM-DD`; validated, so string order is date order.
    pub dates: Vec<String>,
    pub values: Vec<f64>,
}

impl DailySeries {
    /// The value on `date`, if the series has that day.
    pub fn on(&self, date: &str) -> Option<f64> {
        self.dates.binary_search_by(|d| d.as_str().cmp(date)).ok().map(|i| self.values[i])
    }
}

fn valid_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |acc, c| c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0')))
    };
    let (Some(y), Some(m), Some(d)) = (digits(0..4), digits(5..7), digits(8..10)) else { return false };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    y >= 1 && (1..=days).contains(&d)
}

/// Parses a daily series with columns `date` and `column` (`"equity"` or `"close"`). Blank
/// lines are skipped; surrounding spaces and a UTF-8 byte-order mark are ignored.
pub fn parse_daily(text: &str, column: &'static str) -> Result<DailySeries, SeriesError> {
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())).filter(|(_, l)| !l.is_empty());
    let Some((_, header)) = lines.next() else { return Err(SeriesError::Empty { column }) };
    let header: Vec<&str> = header.trim_start_matches('\u{feff}').split(',').map(str::trim).collect();
    let find = |name: &'static str| {
        header
            .iter()
            .position(|h| h.eq_ignore_ascii_case(name))
            .ok_or_else(|| SeriesError::MissingColumn { column: name, found: header.join(",") })
    };
    let (date_col, value_col) = (find("date")?, find(column)?);
    let mut out = DailySeries::default();
    let mut last_line = 0;
    for (line, text) in lines {
        let fields: Vec<&str> = text.split(',').map(str::trim).collect();
        if fields.len() != header.len() {
            return Err(SeriesError::FieldCount { line, expected: header.len(), found: fields.len() });
        }
        let date = fields[date_col];
        if !valid_date(date) {
            return Err(SeriesError::BadDate { line, value: date.to_string() });
        }
        let raw = fields[value_col];
        let value: f64 = raw.parse().map_err(|_| SeriesError::BadNumber { line, value: raw.to_string() })?;
        if !value.is_finite() {
            return Err(SeriesError::BadNumber { line, value: raw.to_string() });
        }
        if value <= 0.0 {
            return Err(SeriesError::NotPositive { line, column, value });
        }
        if let Some(previous) = out.dates.last() {
            if date == previous {
                return Err(SeriesError::Duplicate { line, date: date.to_string(), previous: last_line });
            }
            if date < previous.as_str() {
                return Err(SeriesError::Unsorted {
                    line,
                    date: date.to_string(),
                    previous_date: previous.clone(),
                    previous: last_line,
                });
            }
        }
        out.dates.push(date.to_string());
        out.values.push(value);
        last_line = line;
    }
    if out.dates.is_empty() {
        return Err(SeriesError::NoRows);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_line() {
        let e = parse_daily("date,equity\n2025-01-02,100\n2025-01-01,101\n", "equity");
        assert!(matches!(e, Err(SeriesError::Unsorted { line: 3, previous: 2, .. })), "{e:?}");
        let e = parse_daily("date,equity\n2025-01-02,100\n2025-01-02,101\n", "equity");
        assert!(matches!(e, Err(SeriesError::Duplicate { line: 3, .. })), "{e:?}");
        let e = parse_daily("date,equity\n2025-01-02,0\n", "equity");
        assert!(matches!(e, Err(SeriesError::NotPositive { line: 2, .. })), "{e:?}");
        let e = parse_daily("date,value\n2025-01-02,1\n", "equity");
        assert!(matches!(e, Err(SeriesError::MissingColumn { column: "equity", .. })), "{e:?}");
        let e = parse_daily("date,equity\n2025-02-30,1\n", "equity");
        assert!(matches!(e, Err(SeriesError::BadDate { line: 2, .. })), "{e:?}");
    }

    #[test]
    fn columns_are_found_by_name() {
        let s = parse_daily("close,date\n10.5,2025-01-02\n\n11,2025-01-03\n", "close").expect("parses");
        assert_eq!(s.dates, ["2025-01-02", "2025-01-03"]);
        assert_eq!(s.values, [10.5, 11.0]);
        assert_eq!(s.on("2025-01-03"), Some(11.0));
    }
}
