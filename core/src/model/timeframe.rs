//! Time-bar lengths and the session-anchored buckets they cut.

use serde::Serialize;
use std::fmt;

use super::time::{NANOS_PER_DAY, NANOS_PER_SEC};
use super::{Session, Timestamp};

/// A bar length. `Timeframe::SESSION` (1d) covers one whole normal session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize)]
pub struct Timeframe(pub i64);

impl Timeframe {
    pub const S1: Timeframe = Timeframe(NANOS_PER_SEC);
    pub const M1: Timeframe = Timeframe(60 * NANOS_PER_SEC);
    pub const SESSION: Timeframe = Timeframe(NANOS_PER_DAY);

    /// Parses `15s`, `1m`, `1h`, `1d`.
    pub fn parse(s: &str) -> Option<Timeframe> {
        let s = s.trim();
        let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
        let n: i64 = num.parse().ok().filter(|n| *n > 0)?;
        let secs = match unit {
            "s" => n,
            "m" => n * 60,
            "h" => n * 3600,
            "d" if n == 1 => return Some(Timeframe::SESSION),
            _ => return None,
        };
        Some(Timeframe(secs * NANOS_PER_SEC))
    }

    /// [start, end) of the bucket holding `ts`.
    #[inline]
    pub fn bucket(self, session: &Session, ts: Timestamp) -> (Timestamp, Timestamp) {
        let open = session.open_on(ts);
        let close = session.close_on(ts);
        if self.0 >= NANOS_PER_DAY {
            return (open, close);
        }
        let k = (ts.0 - open.0).div_euclid(self.0);
        let start = open.0 + k * self.0;
        let mut end = start + self.0;
        if start < close.0 && end > close.0 {
            end = close.0;
        }
        (Timestamp(start), Timestamp(end))
    }
}

impl fmt::Display for Timeframe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0 / NANOS_PER_SEC;
        if self.0 >= NANOS_PER_DAY {
            write!(f, "1d")
        } else if s % 3600 == 0 {
            write!(f, "{}h", s / 3600)
        } else if s % 60 == 0 {
            write!(f, "{}m", s / 60)
        } else {
            write!(f, "{s}s")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::time::NANOS_PER_MIN;

    // 2026-11-20 09:15:00 IST.
    const OPEN: i64 = 1_795_146_300 * NANOS_PER_SEC;

    #[test]
    fn parses_timeframes() {
        assert_eq!(Timeframe::parse("1s"), Some(Timeframe::S1));
        assert_eq!(Timeframe::parse("1m"), Some(Timeframe::M1));
        assert_eq!(Timeframe::parse("1h").map(|t| t.to_string()), Some("1h".into()));
        assert_eq!(Timeframe::parse("1d"), Some(Timeframe::SESSION));
        assert_eq!(Timeframe::parse("0m"), None);
        assert_eq!(Timeframe::parse("m"), None);
        assert_eq!(Timeframe::parse("2d"), None);
        for s in ["1s", "5s", "15s", "1m", "3m", "5m", "10m", "15m", "30m", "1h", "1d"] {
            assert_eq!(Timeframe::parse(s).map(|t| t.to_string()).as_deref(), Some(s));
        }
    }

    #[test]
    fn hourly_buckets_anchor_at_open_and_cut_at_close() {
        let s = Session::NSE_NORMAL;
        let h = Timeframe::parse("1h").unwrap_or(Timeframe::M1);
        let (a, b) = h.bucket(&s, Timestamp(OPEN + 70 * NANOS_PER_MIN));
        assert_eq!((a.0 - OPEN, b.0 - OPEN), (60 * NANOS_PER_MIN, 120 * NANOS_PER_MIN));
        // 15:15–15:30: the last hourly bar is cut at the close.
        let (a, b) = h.bucket(&s, Timestamp(OPEN + 370 * NANOS_PER_MIN));
        assert_eq!((a.0 - OPEN, b.0 - OPEN), (360 * NANOS_PER_MIN, 375 * NANOS_PER_MIN));
        // 3-minute bars: 09:15, 09:18, …
        let m3 = Timeframe::parse("3m").unwrap_or(Timeframe::M1);
        let (a, _) = m3.bucket(&s, Timestamp(OPEN + 7 * NANOS_PER_MIN));
        assert_eq!(a.0 - OPEN, 6 * NANOS_PER_MIN);
        // The session bar covers the session.
        let (a, b) = Timeframe::SESSION.bucket(&s, Timestamp(OPEN + 100));
        assert_eq!((a.0, b.0 - a.0), (OPEN, 375 * NANOS_PER_MIN));
    }
}
