//! Time bars, anchored to the NSE session: buckets count from 09:15:00 IST so an hourly bar is
//! 09:15–10:15 and the day's last bucket is cut at 15:30, matching what brokers chart.

use serde::Serialize;
use std::fmt;

use crate::event::Tick;
use crate::types::time::{NANOS_PER_DAY, NANOS_PER_SEC};
use crate::types::{InstrumentId, Price, Qty, Session, Timestamp};

/// A bar length. `Timeframe::SESSION` (1d) covers one whole normal session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
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

/// One bar.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Candle {
    pub instrument: InstrumentId,
    pub timeframe: Timeframe,
    /// Bucket open time.
    pub start: Timestamp,
    /// Bucket end (exclusive).
    pub end: Timestamp,
    pub open: Price,
    pub high: Price,
    pub low: Price,
    pub close: Price,
    pub volume: Qty,
    pub trades: u32,
    /// Σ price × qty in paise, for the bar's VWAP.
    pub turnover: i64,
}

impl Candle {
    fn open_with(tick: &Tick, timeframe: Timeframe, start: Timestamp, end: Timestamp) -> Candle {
        Candle {
            instrument: tick.instrument,
            timeframe,
            start,
            end,
            open: tick.price,
            high: tick.price,
            low: tick.price,
            close: tick.price,
            volume: tick.qty,
            trades: 1,
            turnover: tick.qty.notional(tick.price).0,
        }
    }

    #[inline]
    fn update(&mut self, tick: &Tick) {
        if tick.price > self.high {
            self.high = tick.price;
        }
        if tick.price < self.low {
            self.low = tick.price;
        }
        self.close = tick.price;
        self.volume += tick.qty;
        self.trades = self.trades.saturating_add(1);
        self.turnover = self.turnover.saturating_add(tick.qty.notional(tick.price).0);
    }

    /// Volume-weighted average price of the bar, in rupees.
    pub fn vwap(&self) -> f64 {
        if self.volume.0 == 0 {
            self.close.as_f64()
        } else {
            self.turnover as f64 / self.volume.0 as f64 / 100.0
        }
    }
}

/// Builds bars for every instrument in several timeframes at once. State is one slot per
/// (instrument, timeframe), allocated up front.
pub struct CandleBuilder {
    session: Session,
    timeframes: Vec<Timeframe>,
    bars: Vec<Option<Candle>>,
    /// Earliest end among open bars, so timers that close nothing cost one comparison.
    next_close: i64,
    emitted: u64,
}

impl CandleBuilder {
    pub fn new(session: Session, timeframes: &[Timeframe], instruments: usize) -> Self {
        let mut tfs = timeframes.to_vec();
        tfs.sort();
        tfs.dedup();
        CandleBuilder {
            session,
            bars: vec![None; tfs.len() * instruments],
            timeframes: tfs,
            next_close: i64::MAX,
            emitted: 0,
        }
    }

    pub fn timeframes(&self) -> &[Timeframe] {
        &self.timeframes
    }

    /// Bars closed so far.
    pub fn emitted(&self) -> u64 {
        self.emitted
    }

    /// Folds a validated tick in; every bar it closes is handed to `closed` first.
    #[inline]
    pub fn on_tick(&mut self, tick: &Tick, mut closed: impl FnMut(&Candle)) {
        let n = self.timeframes.len();
        let base = tick.instrument.index() * n;
        let Some(slots) = self.bars.get_mut(base..base + n) else { return };
        for (slot, &tf) in slots.iter_mut().zip(self.timeframes.iter()) {
            match slot {
                Some(bar) if tick.ts >= bar.start && tick.ts < bar.end => bar.update(tick),
                _ => {
                    if let Some(bar) = slot.take() {
                        self.emitted += 1;
                        closed(&bar);
                    }
                    let (start, end) = tf.bucket(&self.session, tick.ts);
                    if end.0 < self.next_close {
                        self.next_close = end.0;
                    }
                    *slot = Some(Candle::open_with(tick, tf, start, end));
                }
            }
        }
    }

    /// Closes every bar whose window has ended by `now`, so a quiet instrument's bar is not
    /// held back until its next trade.
    pub fn on_timer(&mut self, now: Timestamp, mut closed: impl FnMut(&Candle)) {
        if now.0 < self.next_close {
            return;
        }
        let mut next = i64::MAX;
        for slot in self.bars.iter_mut() {
            if let Some(bar) = slot {
                if bar.end <= now {
                    self.emitted += 1;
                    closed(bar);
                    *slot = None;
                } else if bar.end.0 < next {
                    next = bar.end.0;
                }
            }
        }
        self.next_close = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::time::NANOS_PER_MIN;

    // 2026-11-20 09:15:00 IST.
    const OPEN: i64 = 1_795_146_300 * NANOS_PER_SEC;

    fn tick(sec: i64, price: i64, qty: u64) -> Tick {
        Tick {
            instrument: InstrumentId(0),
            ts: Timestamp(OPEN + sec * NANOS_PER_SEC),
            price: Price(price),
            qty: Qty(qty),
        }
    }

    #[test]
    fn parses_timeframes() {
        assert_eq!(Timeframe::parse("1s"), Some(Timeframe::S1));
        assert_eq!(Timeframe::parse("1m"), Some(Timeframe::M1));
        assert_eq!(Timeframe::parse("1h").unwrap().to_string(), "1h");
        assert_eq!(Timeframe::parse("1d"), Some(Timeframe::SESSION));
        assert_eq!(Timeframe::parse("0m"), None);
        assert_eq!(Timeframe::parse("m"), None);
        assert_eq!(Timeframe::parse("2d"), None);
    }

    #[test]
    fn hourly_buckets_anchor_at_open_and_cut_at_close() {
        let s = Session::NSE_NORMAL;
        let h = Timeframe::parse("1h").unwrap();
        let (a, b) = h.bucket(&s, Timestamp(OPEN + 70 * NANOS_PER_MIN));
        assert_eq!((a.0 - OPEN, b.0 - OPEN), (60 * NANOS_PER_MIN, 120 * NANOS_PER_MIN));
        // 15:15–15:30: the last hourly bar is cut at the close.
        let (a, b) = h.bucket(&s, Timestamp(OPEN + 370 * NANOS_PER_MIN));
        assert_eq!((a.0 - OPEN, b.0 - OPEN), (360 * NANOS_PER_MIN, 375 * NANOS_PER_MIN));
    }

    #[test]
    fn builds_ohlcv_in_two_timeframes() {
        let mut b = CandleBuilder::new(Session::NSE_NORMAL, &[Timeframe::M1, Timeframe::S1], 1);
        let mut out = Vec::new();
        for t in [tick(0, 100, 1), tick(0, 105, 2), tick(30, 95, 3), tick(59, 101, 4), tick(60, 102, 5)] {
            b.on_tick(&t, |c| out.push(*c));
        }
        let m1: Vec<_> = out.iter().filter(|c| c.timeframe == Timeframe::M1).collect();
        assert_eq!(m1.len(), 1);
        let c = m1[0];
        assert_eq!((c.open, c.high, c.low, c.close), (Price(100), Price(105), Price(95), Price(101)));
        assert_eq!((c.volume, c.trades), (Qty(10), 4));
        assert_eq!(c.start.0, OPEN);
        // 1s bars: [0], [30], [59] closed, [60] still open.
        assert_eq!(out.iter().filter(|c| c.timeframe == Timeframe::S1).count(), 3);
        assert!((c.vwap() - (100.0 + 210.0 + 285.0 + 404.0) / 10.0 / 100.0).abs() < 1e-12);
    }

    #[test]
    fn timer_closes_quiet_bars() {
        let mut b = CandleBuilder::new(Session::NSE_NORMAL, &[Timeframe::M1], 2);
        let mut out = Vec::new();
        b.on_tick(&tick(5, 100, 1), |c| out.push(*c));
        b.on_timer(Timestamp(OPEN + 59 * NANOS_PER_SEC), |c| out.push(*c));
        assert!(out.is_empty());
        b.on_timer(Timestamp(OPEN + 60 * NANOS_PER_SEC), |c| out.push(*c));
        assert_eq!(out.len(), 1);
        assert_eq!(b.emitted(), 1);
    }
}
