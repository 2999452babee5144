//! Calendar days, as operators, brokers and exchanges write them (`YYYY-MM-DD`): command-line
//! dates, historical-data ranges, contract expiries. One implementation of the calendar, so a
//! date means the same day everywhere.

use std::fmt;

use super::time::{Timestamp, IST_OFFSET_NS, NANOS_PER_DAY};

/// A day of the proleptic Gregorian calendar, years 1 to 9999.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

impl Date {
    /// The day, when it exists (29 February only in leap years).
    pub fn new(year: u16, month: u8, day: u8) -> Option<Date> {
        ((1..=9999).contains(&year) && (1..=12).contains(&month) && (1..=days_in_month(year, month)).contains(&day))
            .then_some(Date { year, month, day })
    }

    /// Exactly `YYYY-MM-DD`, a real calendar day.
    pub fn parse(s: &str) -> Option<Date> {
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let num = |r: std::ops::Range<usize>| -> Option<u16> {
            let d = b.get(r)?;
            d.iter().all(u8::is_ascii_digit).then(|| d.iter().fold(0u16, |n, c| n * 10 + u16::from(c - b'0')))
        };
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        Date::new(year, u8::try_from(month).ok()?, u8::try_from(day).ok()?)
    }

    pub fn year(self) -> u16 {
        self.year
    }

    pub fn month(self) -> u8 {
        self.month
    }

    pub fn day(self) -> u8 {
        self.day
    }

    /// Days since 1970-01-01 (negative before it); Howard Hinnant's `days_from_civil`.
    pub fn days_since_epoch(self) -> i64 {
        let (m, d) = (i64::from(self.month), i64::from(self.day));
        let y = i64::from(self.year) - i64::from(m <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The day `days` after 1970-01-01; `None` outside years 1 to 9999.
    pub fn from_days(days: i64) -> Option<Date> {
        // Years 1..=9999 span about 3.65 million days each side of the epoch: bounding first
        // keeps the arithmetic far from overflow for any input.
        if !(-719_162..=2_932_896).contains(&days) {
            return None;
        }
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        Date::new(u16::try_from(year).ok()?, u8::try_from(month).ok()?, u8::try_from(day).ok()?)
    }

    /// Midnight IST at the start of this day.
    pub fn ist_midnight(self) -> Timestamp {
        Timestamp(self.days_since_epoch() * NANOS_PER_DAY - IST_OFFSET_NS)
    }

    /// The IST calendar day `ts` falls on.
    pub fn of_ist(ts: Timestamp) -> Option<Date> {
        let local = ts.0.checked_add(IST_OFFSET_NS)?;
        Date::from_days(local.div_euclid(NANOS_PER_DAY))
    }
}

/// Days in a month of a year (February by the Gregorian leap rule).
pub fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_real_days_only() {
        assert_eq!(Date::parse("2024-02-29").map(|d| d.to_string()).as_deref(), Some("2024-02-29"));
        for bad in ["2023-02-29", "1900-02-29", "2024-13-01", "2024-00-10", "2024-04-31", "0000-01-01", "2024-1-01"] {
            assert_eq!(Date::parse(bad), None, "{bad}");
        }
        assert!(Date::parse("2000-02-29").is_some());
        assert_eq!(Date::parse("２０24-01-01"), None);
    }

    #[test]
    fn day_counts_round_trip_and_match_known_days() {
        assert_eq!(Date::parse("1970-01-01").map(Date::days_since_epoch), Some(0));
        assert_eq!(Date::parse("2026-12-03").map(Date::days_since_epoch), Some(20_790));
        assert_eq!(Date::parse("1969-12-31").map(Date::days_since_epoch), Some(-1));
        for days in (-719_162..=2_932_896).step_by(997) {
            let d = Date::from_days(days).expect("in range");
            assert_eq!(d.days_since_epoch(), days, "{d}");
        }
        assert_eq!(Date::from_days(-719_163), None);
        assert_eq!(Date::from_days(2_932_897), None);
        assert_eq!(Date::from_days(i64::MIN), None);
    }

    #[test]
    fn ist_midnight_is_the_day_start_in_india() {
        // 2026-12-03 00:00 IST = 2026-12-02 18:30 UTC.
        let d = Date::parse("2026-12-03").expect("date");
        assert_eq!(d.ist_midnight(), Timestamp(1_796_236_200 * 1_000_000_000));
        assert_eq!(Date::of_ist(d.ist_midnight()), Some(d));
        assert_eq!(
            Date::of_ist(Timestamp(d.ist_midnight().0 - 1)).map(|x| x.to_string()).as_deref(),
            Some("2026-12-02")
        );
        assert_eq!(Date::of_ist(Timestamp(i64::MAX)), None);
    }
}
