//! Bars. Time bars are anchored to the NSE session: buckets count from 09:15:00 IST so an
//! hourly bar is 09:15–10:15 and the day's last bucket is cut at 15:30, matching what brokers
//! chart. Tick-count and volume bars close on activity instead of time.

use serde::Serialize;
use std::fmt;

use super::{InstrumentId, Price, Qty, Timeframe, Timestamp};

/// What closes a bar.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize)]
pub enum BarSpec {
    /// A session-anchored time bucket.
    Time(Timeframe),
    /// Every N trades.
    Ticks(u32),
    /// Once the traded quantity reaches N (the trade that crosses it is included).
    Volume(u64),
}

impl BarSpec {
    /// Parses `1m`, `1h`, `1d` (time), `500t` (ticks) or `10000v` (volume).
    pub fn parse(s: &str) -> Option<BarSpec> {
        let s = s.trim();
        if let Some(n) = s.strip_suffix('t') {
            return n.parse().ok().filter(|n| *n > 0).map(BarSpec::Ticks);
        }
        if let Some(n) = s.strip_suffix('v') {
            return n.parse().ok().filter(|n| *n > 0).map(BarSpec::Volume);
        }
        Timeframe::parse(s).map(BarSpec::Time)
    }

    pub const S1: BarSpec = BarSpec::Time(Timeframe::S1);
    pub const M1: BarSpec = BarSpec::Time(Timeframe::M1);
}

impl fmt::Display for BarSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BarSpec::Time(t) => write!(f, "{t}"),
            BarSpec::Ticks(n) => write!(f, "{n}t"),
            BarSpec::Volume(n) => write!(f, "{n}v"),
        }
    }
}

/// One bar.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Candle {
    pub instrument: InstrumentId,
    pub spec: BarSpec,
    /// Bucket open time (time bars) or first trade time (tick and volume bars).
    pub start: Timestamp,
    /// Bucket end, exclusive (time bars) or last trade time (tick and volume bars).
    pub end: Timestamp,
    pub open: Price,
    pub high: Price,
    pub low: Price,
    pub close: Price,
    pub volume: Qty,
    pub trades: u32,
    /// Σ price × qty in paise, for the bar's VWAP.
    pub turnover: i64,
    /// Open interest at the bar's close, for derivatives whose feed carries it; 0 otherwise.
    pub oi: u64,
    /// A re-issue of an already closed bar, changed by a late trade.
    pub amended: bool,
}

impl Candle {
    /// A bar of no trades at `price` (an empty interval shown at the previous close).
    pub fn flat(
        instrument: InstrumentId,
        spec: BarSpec,
        start: Timestamp,
        end: Timestamp,
        price: Price,
        oi: u64,
    ) -> Self {
        Candle {
            instrument,
            spec,
            start,
            end,
            open: price,
            high: price,
            low: price,
            close: price,
            volume: Qty::ZERO,
            trades: 0,
            turnover: 0,
            oi,
            amended: false,
        }
    }

    /// Volume-weighted average price of the bar, in rupees (the close for an empty bar).
    pub fn vwap(&self) -> f64 {
        if self.volume.0 == 0 {
            self.close.as_f64()
        } else {
            self.turnover as f64 / self.volume.0 as f64 / 100.0
        }
    }
}
