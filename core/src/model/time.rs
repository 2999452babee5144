//! Event time. Every timestamp is nanoseconds since the Unix epoch (UTC). Stages read time only
//! from the events they receive, never from a wall clock, which is what lets the same code run
//! live and in a backtest with a simulated clock.

use serde::{Deserialize, Serialize};
use std::fmt;

pub const NANOS_PER_SEC: i64 = 1_000_000_000;
pub const NANOS_PER_MIN: i64 = 60 * NANOS_PER_SEC;
pub const NANOS_PER_DAY: i64 = 86_400 * NANOS_PER_SEC;
/// India Standard Time is UTC+05:30 with no daylight saving.
pub const IST_OFFSET_NS: i64 = (5 * 3600 + 30 * 60) * NANOS_PER_SEC;

/// Nanoseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

/// [`Timestamp::ist_time_of_day`] where adding the offset would overflow; out of line so the
/// common path stays small enough to inline.
#[cold]
#[inline(never)]
fn time_of_day_near_the_top(t: i64) -> i64 {
    (t.rem_euclid(NANOS_PER_DAY) + IST_OFFSET_NS).rem_euclid(NANOS_PER_DAY)
}

impl Timestamp {
    #[inline]
    pub const fn nanos(self) -> i64 {
        self.0
    }

    /// Midnight IST of the calendar day (in IST) this instant falls on (saturating at the
    /// representable extremes: every timestamp is valid input and none may panic).
    #[inline]
    pub fn ist_midnight(self) -> Timestamp {
        Timestamp(self.0.saturating_sub(self.ist_time_of_day()))
    }

    /// Nanoseconds since midnight IST, `(t + offset) mod day`; near the top of the range the
    /// day is reduced before the offset is added, so no timestamp overflows.
    #[inline]
    pub fn ist_time_of_day(self) -> i64 {
        match self.0.checked_add(IST_OFFSET_NS) {
            Some(local) => local.rem_euclid(NANOS_PER_DAY),
            None => time_of_day_near_the_top(self.0),
        }
    }

    /// Day of week in IST, 0 = Monday … 6 = Sunday.
    pub fn ist_weekday(self) -> u8 {
        let days = self.0.div_euclid(NANOS_PER_DAY)
            + (self.0.rem_euclid(NANOS_PER_DAY) + IST_OFFSET_NS).div_euclid(NANOS_PER_DAY);
        // 1970-01-01 was a Thursday (3).
        ((days + 3).rem_euclid(7)) as u8
    }

    /// Wall-clock now; only the edges (live feeds, timers) may call this.
    pub fn now() -> Timestamp {
        let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        Timestamp(d.as_nanos() as i64)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A time of day in IST, as nanoseconds since local midnight. Human-readable formats (JSON,
/// TOML) spell it `HH:MM` or `HH:MM:SS`; binary ones (snapshots) carry the nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IstTime(pub i64);

impl fmt::Display for IstTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0.div_euclid(NANOS_PER_SEC);
        let (h, m, sec) = (s / 3600, s / 60 % 60, s % 60);
        if sec == 0 {
            write!(f, "{h:02}:{m:02}")
        } else {
            write!(f, "{h:02}:{m:02}:{sec:02}")
        }
    }
}

impl Serialize for IstTime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.collect_str(self)
        } else {
            s.serialize_newtype_struct("IstTime", &self.0)
        }
    }
}

impl<'de> Deserialize<'de> for IstTime {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let text = String::deserialize(d)?;
            IstTime::parse(&text)
                .ok_or_else(|| serde::de::Error::custom(format!("{text:?} is not an HH:MM time of day")))
        } else {
            #[derive(Deserialize)]
            #[serde(rename = "IstTime")]
            struct Raw(i64);
            Raw::deserialize(d).map(|r| IstTime(r.0))
        }
    }
}

impl IstTime {
    pub const fn hm(h: i64, m: i64) -> IstTime {
        IstTime((h * 60 + m) * NANOS_PER_MIN)
    }

    /// Parses `HH:MM` or `HH:MM:SS`.
    pub fn parse(s: &str) -> Option<IstTime> {
        let mut it = s.split(':');
        let h: i64 = it.next()?.parse().ok()?;
        let m: i64 = it.next()?.parse().ok()?;
        let sec: i64 = match it.next() {
            Some(x) => x.parse().ok()?,
            None => 0,
        };
        if it.next().is_some() || !(0..24).contains(&h) || !(0..60).contains(&m) || !(0..60).contains(&sec) {
            return None;
        }
        Some(IstTime(((h * 60 + m) * 60 + sec) * NANOS_PER_SEC))
    }
}

/// The NSE normal market session. Candle buckets anchor at its open (so hourly bars run
/// 09:15–10:15 …) and the last bucket of the day is cut at its close.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Session {
    pub open: IstTime,
    pub close: IstTime,
}

impl Default for Session {
    fn default() -> Self {
        Session::NSE_NORMAL
    }
}

impl Session {
    /// 09:15–15:30 IST (NSE normal market).
    pub const NSE_NORMAL: Session = Session { open: IstTime::hm(9, 15), close: IstTime::hm(15, 30) };

    /// Session open on the IST day of `ts`.
    #[inline]
    pub fn open_on(&self, ts: Timestamp) -> Timestamp {
        Timestamp(ts.ist_midnight().0 + self.open.0)
    }

    /// Session close on the IST day of `ts`.
    #[inline]
    pub fn close_on(&self, ts: Timestamp) -> Timestamp {
        Timestamp(ts.ist_midnight().0 + self.close.0)
    }

    /// True inside [open, close) on a weekday. Exchange holidays are calendar data applied at
    /// the edges, not here.
    pub fn contains(&self, ts: Timestamp) -> bool {
        let t = ts.ist_time_of_day();
        ts.ist_weekday() < 5 && t >= self.open.0 && t < self.close.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The calendar arithmetic against the same formulas in 128 bits (which cannot overflow),
    /// from the extremes of `i64` to ordinary days.
    #[test]
    fn ist_calendar_is_exact_and_total() {
        let (d, off) = (i128::from(NANOS_PER_DAY), i128::from(IST_OFFSET_NS));
        let mut cases = vec![i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX, 1_795_147_860_000_000_000];
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            cases.push(x as i64);
            cases.push((x % (200 * 365 * NANOS_PER_DAY as u64)) as i64);
        }
        for t in cases {
            let local = i128::from(t) + off;
            let tod = local.rem_euclid(d);
            let ts = Timestamp(t);
            assert_eq!(i128::from(ts.ist_time_of_day()), tod, "{t}");
            let midnight = (local.div_euclid(d) * d - off).clamp(i128::from(i64::MIN), i128::from(i64::MAX));
            assert_eq!(i128::from(ts.ist_midnight().0), midnight, "{t}");
            assert_eq!(i128::from(ts.ist_weekday()), (local.div_euclid(d) + 3).rem_euclid(7), "{t}");
        }
    }

    #[test]
    fn ist_time_reads_and_writes_hh_mm() {
        let t = IstTime::hm(15, 15);
        assert_eq!(t.to_string(), "15:15");
        assert_eq!(serde_json::to_string(&t).ok().as_deref(), Some("\"15:15\""));
        assert_eq!(serde_json::from_str::<IstTime>("\"09:15:30\"").ok(), IstTime::parse("09:15:30"));
        assert!(serde_json::from_str::<IstTime>("\"3pm\"").is_err());
        let bin = postcard::to_stdvec(&t).unwrap_or_default();
        assert_eq!(bin, postcard::to_stdvec(&t.0).unwrap_or_default(), "binary form is the nanoseconds");
        assert_eq!(postcard::from_bytes::<IstTime>(&bin).ok(), Some(t));
    }

    // 2026-11-20 (a Friday) 09:15:00 IST == 03:45:00 UTC.
    const FRI_0915_IST: i64 = 1_795_146_300 * NANOS_PER_SEC;

    #[test]
    fn session_bounds_in_ist() {
        let s = Session::NSE_NORMAL;
        let ts = Timestamp(FRI_0915_IST + 5 * NANOS_PER_MIN);
        assert_eq!(s.open_on(ts), Timestamp(FRI_0915_IST));
        assert_eq!(s.close_on(ts).0 - FRI_0915_IST, (6 * 60 + 15) * NANOS_PER_MIN);
        assert!(s.contains(ts));
        assert!(!s.contains(Timestamp(FRI_0915_IST - 1)));
        assert!(!s.contains(s.close_on(ts)));
        assert_eq!(ts.ist_weekday(), 4);
        // Saturday is closed.
        assert!(!s.contains(Timestamp(ts.0 + NANOS_PER_DAY)));
    }

    #[test]
    fn parses_times() {
        assert_eq!(IstTime::parse("09:15"), Some(IstTime::hm(9, 15)));
        assert_eq!(IstTime::parse("15:20:30").map(|t| t.0), Some(IstTime::hm(15, 20).0 + 30 * NANOS_PER_SEC));
        assert_eq!(IstTime::parse("25:00"), None);
        assert_eq!(IstTime::parse("x"), None);
    }
}
