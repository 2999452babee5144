//! Replay pacing: feeding recorded ticks to the engine at the pace they happened (or a
//! multiple of it), or as fast as the engine takes them.
//!
//! Each tick's due wall time is computed from the *first* tick and the wall time the replay
//! started, never from the previous tick's actual release, so a sleep that overshoots delays
//! one tick and is absorbed by the next: lateness does not accumulate over a session.
//!
//! Waiting sleeps when the due time is comfortably ahead (the scheduler's wake-up slack is
//! tens of microseconds) and only yields for the last stretch, so a paced replay neither
//! burns a core spinning nor sleeps past short gaps.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use dalal_core::model::Timestamp;

/// Above this far ahead of a due time the clock sleeps; closer than that it yields.
pub const SLEEP_ABOVE: Duration = Duration::from_micros(200);

/// Slowest and fastest accepted multiples: beyond these a replay is either stuck for days
/// per minute of data or indistinguishable from [`ReplaySpeed::Max`], and the f64 arithmetic
/// on nanosecond offsets stays comfortably exact inside them.
pub const MIN_MULTIPLE: f64 = 1e-3;
pub const MAX_MULTIPLE: f64 = 1e6;

/// How fast recorded ticks are released.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ReplaySpeed {
    /// As fast as the consumer takes them; timestamps are ignored.
    Max,
    /// Tick time gaps become equal wall-clock gaps, starting at the first tick.
    RealTime,
    /// `N` × real time: gaps are divided by `N` (`0.5` replays at half speed).
    Multiple(f64),
}

/// Why a replay speed string was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpeedError {
    #[error("empty replay speed, expected \"max\", \"realtime\" or a multiple such as \"10x\"")]
    Empty,
    #[error("unknown replay speed {0:?}, expected \"max\", \"realtime\" or a multiple such as \"10x\" or \"0.5x\"")]
    Unknown(String),
    #[error("replay speed {0:?}: the multiple is not a number")]
    NotANumber(String),
    #[error("replay speed {0:?}: the multiple must be between {MIN_MULTIPLE} and {MAX_MULTIPLE}")]
    OutOfRange(String),
}

impl ReplaySpeed {
    /// Parses `max`, `realtime` (also `real-time`, `real_time`) or `<N>x` with a positive
    /// decimal `N` (`1x`, `10x`, `0.5x`), ignoring case and surrounding spaces.
    pub fn parse(s: &str) -> Result<ReplaySpeed, SpeedError> {
        let t = s.trim();
        if t.is_empty() {
            return Err(SpeedError::Empty);
        }
        let lower = t.to_ascii_lowercase();
        match lower.as_str() {
            "max" => return Ok(ReplaySpeed::Max),
            "realtime" | "real-time" | "real_time" => return Ok(ReplaySpeed::RealTime),
            _ => {}
        }
        let Some(num) = lower.strip_suffix('x') else {
            return Err(SpeedError::Unknown(s.to_string()));
        };
        // Plain decimals only: `f64::from_str` would also take "inf", "nan" and "1e3".
        let num = num.trim();
        if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return Err(SpeedError::NotANumber(s.to_string()));
        }
        let n: f64 = num.parse().map_err(|_| SpeedError::NotANumber(s.to_string()))?;
        if !(MIN_MULTIPLE..=MAX_MULTIPLE).contains(&n) {
            return Err(SpeedError::OutOfRange(s.to_string()));
        }
        Ok(ReplaySpeed::Multiple(n))
    }

    /// Wall-clock nanoseconds per tick-time nanosecond; `None` for [`ReplaySpeed::Max`].
    pub fn wall_per_tick_ns(self) -> Option<f64> {
        match self {
            ReplaySpeed::Max => None,
            ReplaySpeed::RealTime => Some(1.0),
            ReplaySpeed::Multiple(n) => Some(1.0 / n),
        }
    }
}

impl FromStr for ReplaySpeed {
    type Err = SpeedError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ReplaySpeed::parse(s)
    }
}

impl fmt::Display for ReplaySpeed {
    /// The form [`ReplaySpeed::parse`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplaySpeed::Max => f.write_str("max"),
            ReplaySpeed::RealTime => f.write_str("realtime"),
            ReplaySpeed::Multiple(n) => write!(f, "{n}x"),
        }
    }
}

/// Releases ticks at their due wall time. The first tick is released at once and anchors
/// the mapping from tick time to wall time.
#[derive(Clone, Debug)]
pub struct ReplayClock {
    speed: ReplaySpeed,
    /// Wall time and tick time of the first tick.
    anchor: Option<(Instant, i64)>,
    released: u64,
}

impl ReplayClock {
    pub fn new(speed: ReplaySpeed) -> Self {
        ReplayClock { speed, anchor: None, released: 0 }
    }

    pub fn speed(&self) -> ReplaySpeed {
        self.speed
    }

    /// Ticks released so far.
    pub fn released(&self) -> u64 {
        self.released
    }

    /// Forgets the anchor, so the next tick is released at once and starts a new mapping
    /// (after a pause, or between files).
    pub fn reset(&mut self) {
        self.anchor = None;
    }

    /// The wall time at which a tick stamped `ts` is due; `None` at [`ReplaySpeed::Max`] or
    /// before the first tick. A tick stamped before the first one is due at the start.
    pub fn due(&self, ts: Timestamp) -> Option<Instant> {
        let scale = self.speed.wall_per_tick_ns()?;
        let (start, first) = self.anchor?;
        let offset = ts.0.saturating_sub(first);
        if offset <= 0 {
            return Some(start);
        }
        let wall_ns = if scale == 1.0 { offset as f64 } else { offset as f64 * scale };
        // Float to integer casts saturate; a due time past what `Instant` can hold is as
        // good as never (only a replay of centuries could ask for one), so it becomes a year.
        let wall = Duration::from_nanos(wall_ns as u64);
        Some(start.checked_add(wall).or_else(|| start.checked_add(Duration::from_secs(86_400 * 365))).unwrap_or(start))
    }

    /// Releases the tick stamped `ts` if it is due (the first tick always is, and anchors the
    /// clock): `Ok` with how late it is, or `Err` with how long until it is due (then it is
    /// not counted as released; ask again).
    pub fn try_release(&mut self, ts: Timestamp) -> Result<Duration, Duration> {
        if self.speed != ReplaySpeed::Max && self.anchor.is_none() {
            self.anchor = Some((Instant::now(), ts.0));
        }
        let lateness = match self.due(ts) {
            None => Duration::ZERO,
            Some(due) => {
                let now = Instant::now();
                if now < due {
                    return Err(due - now);
                }
                now - due
            }
        };
        self.released += 1;
        Ok(lateness)
    }

    /// Blocks until the tick stamped `ts` is due, then returns how late it is being released
    /// (zero when on time; the lateness of a slow consumer, or of sleep overshoot).
    pub fn wait_for(&mut self, ts: Timestamp) -> Duration {
        self.released += 1;
        if self.speed == ReplaySpeed::Max {
            return Duration::ZERO;
        }
        if self.anchor.is_none() {
            self.anchor = Some((Instant::now(), ts.0));
            return Duration::ZERO;
        }
        let Some(due) = self.due(ts) else {
            return Duration::ZERO;
        };
        loop {
            let now = Instant::now();
            if now >= due {
                return now - due;
            }
            let ahead = due - now;
            if ahead > SLEEP_ABOVE {
                // Wake a little early and yield the rest, so wake-up slack is not overshoot.
                std::thread::sleep(ahead - SLEEP_ABOVE / 2);
            } else {
                std::thread::yield_now();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_speeds() {
        assert_eq!(ReplaySpeed::parse("max"), Ok(ReplaySpeed::Max));
        assert_eq!(ReplaySpeed::parse(" MAX "), Ok(ReplaySpeed::Max));
        assert_eq!(ReplaySpeed::parse("realtime"), Ok(ReplaySpeed::RealTime));
        assert_eq!(ReplaySpeed::parse("Real-Time"), Ok(ReplaySpeed::RealTime));
        assert_eq!(ReplaySpeed::parse("1x"), Ok(ReplaySpeed::Multiple(1.0)));
        assert_eq!(ReplaySpeed::parse("10x"), Ok(ReplaySpeed::Multiple(10.0)));
        assert_eq!(ReplaySpeed::parse("0.5x"), Ok(ReplaySpeed::Multiple(0.5)));
        assert_eq!(ReplaySpeed::parse("2.5X"), Ok(ReplaySpeed::Multiple(2.5)));
        assert_eq!("10x".parse::<ReplaySpeed>(), Ok(ReplaySpeed::Multiple(10.0)));
    }

    #[test]
    fn refuses_bad_speeds_with_the_reason() {
        assert_eq!(ReplaySpeed::parse(""), Err(SpeedError::Empty));
        assert_eq!(ReplaySpeed::parse("  "), Err(SpeedError::Empty));
        assert_eq!(ReplaySpeed::parse("fast"), Err(SpeedError::Unknown("fast".into())));
        assert_eq!(ReplaySpeed::parse("10"), Err(SpeedError::Unknown("10".into())));
        for bad in ["x", "abcx", "-1x", "infx", "nanx", "1e3x", "1..2x", ".x"] {
            assert_eq!(ReplaySpeed::parse(bad), Err(SpeedError::NotANumber(bad.into())), "{bad}");
        }
        for bad in ["0x", "0.0x", "0.0001x", "2000000x"] {
            assert_eq!(ReplaySpeed::parse(bad), Err(SpeedError::OutOfRange(bad.into())), "{bad}");
        }
        let msg = ReplaySpeed::parse("fast").unwrap_err().to_string();
        assert!(msg.contains("\"max\"") && msg.contains("10x"), "{msg}");
    }

    #[test]
    fn display_round_trips() {
        for s in [ReplaySpeed::Max, ReplaySpeed::RealTime, ReplaySpeed::Multiple(10.0), ReplaySpeed::Multiple(0.5)] {
            assert_eq!(ReplaySpeed::parse(&s.to_string()), Ok(s));
        }
    }

    /// Replays `n` ticks `gap_ns` apart and returns the wall time it took.
    fn replay(speed: ReplaySpeed, n: i64, gap_ns: i64) -> Duration {
        let mut clock = ReplayClock::new(speed);
        let t0 = Instant::now();
        for i in 0..n {
            clock.wait_for(Timestamp(1_700_000_000_000_000_000 + i * gap_ns));
        }
        assert_eq!(clock.released(), n as u64);
        t0.elapsed()
    }

    #[test]
    fn ten_x_divides_the_gaps() {
        // 100 ticks 1 ms apart span 99 ms of tick time: 9.9 ms at 10x.
        let took = replay(ReplaySpeed::Multiple(10.0), 100, 1_000_000);
        assert!(took >= Duration::from_micros(9_900), "{took:?}");
        assert!(took < Duration::from_millis(500), "{took:?}");
    }

    #[test]
    fn real_time_and_half_speed() {
        let took = replay(ReplaySpeed::RealTime, 21, 1_000_000);
        assert!(took >= Duration::from_millis(20), "{took:?}");
        assert!(took < Duration::from_millis(600), "{took:?}");
        let took = replay(ReplaySpeed::Multiple(0.5), 11, 1_000_000);
        assert!(took >= Duration::from_millis(20), "{took:?}");
        assert!(took < Duration::from_millis(600), "{took:?}");
    }

    #[test]
    fn max_never_waits() {
        let took = replay(ReplaySpeed::Max, 1_000_000, 1_000_000_000);
        assert!(took < Duration::from_secs(1), "{took:?}");
    }

    #[test]
    fn lateness_does_not_accumulate() {
        // 301 ticks 1 ms apart, and the consumer stalls 150 ms after tick 10. Due times are
        // anchored at the first tick, so the ticks after the stall catch up and the replay
        // still ends near 300 ms; pacing by gaps from the previous release would take 450.
        let mut clock = ReplayClock::new(ReplaySpeed::RealTime);
        let t0 = Instant::now();
        let mut late_after_stall = Duration::ZERO;
        for i in 0..301i64 {
            let late = clock.wait_for(Timestamp(i * 1_000_000));
            if i == 10 {
                std::thread::sleep(Duration::from_millis(150));
            }
            if i == 11 {
                late_after_stall = late;
            }
        }
        let took = t0.elapsed();
        assert!(took >= Duration::from_millis(300), "{took:?}");
        assert!(took < Duration::from_millis(430), "{took:?}");
        assert!(late_after_stall >= Duration::from_millis(140), "{late_after_stall:?}");
    }

    #[test]
    fn due_times_come_from_the_first_tick() {
        let mut clock = ReplayClock::new(ReplaySpeed::Multiple(4.0));
        assert_eq!(clock.due(Timestamp(0)), None);
        assert_eq!(clock.wait_for(Timestamp(1_000)), Duration::ZERO);
        let (start, _) = clock.anchor.unwrap();
        assert_eq!(clock.due(Timestamp(1_000)), Some(start));
        assert_eq!(clock.due(Timestamp(5_000)), Some(start + Duration::from_nanos(1_000)));
        // Out-of-order and extreme stamps are due at once or far ahead, never a panic.
        assert_eq!(clock.due(Timestamp(0)), Some(start));
        assert_eq!(clock.due(Timestamp(i64::MIN)), Some(start));
        assert!(clock.due(Timestamp(i64::MAX)).unwrap() > start);
        clock.reset();
        assert_eq!(clock.due(Timestamp(5_000)), None);
        assert_eq!(ReplayClock::new(ReplaySpeed::Max).due(Timestamp(1)), None);
    }
}
