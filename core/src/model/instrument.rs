//! Instrument reference data. The exchange's instrument master is the source of truth for tick
//! and lot sizes (they change at every review); config only carries what the master says.

use serde::{Deserialize, Serialize};
use std::fmt;

use super::ids::InstrumentId;
use super::price::Price;
use super::qty::Qty;

/// Market segment, which decides charges, margin and trading rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Segment {
    /// NSE cash equity.
    #[serde(rename = "NSE_EQ")]
    Equity,
    /// NSE futures (index or stock).
    #[serde(rename = "NSE_FUT")]
    Futures,
    /// NSE options (index or stock).
    #[serde(rename = "NSE_OPT")]
    Options,
}

impl Segment {
    pub const fn as_str(self) -> &'static str {
        match self {
            Segment::Equity => "NSE_EQ",
            Segment::Futures => "NSE_FUT",
            Segment::Options => "NSE_OPT",
        }
    }
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Inclusive lower and upper price limits for the day (circuit / operating range).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceBand {
    pub lower: Price,
    pub upper: Price,
}

impl PriceBand {
    /// No band: every positive price is allowed.
    pub const OPEN: PriceBand = PriceBand { lower: Price(1), upper: Price(i64::MAX) };

    /// A band of ±`pct` % around a reference price (previous close), snapped inward to the
    /// tick grid so both limits are tradable prices.
    pub fn around(reference: Price, pct: f64, tick: Price) -> PriceBand {
        let d = (reference.0 as f64 * pct / 100.0).floor() as i64;
        let lower = Price((reference.0 - d).max(tick.0.max(1)));
        let upper = Price(reference.0 + d);
        let lower = if tick.0 > 0 && lower.0 % tick.0 != 0 { Price((lower.0 / tick.0 + 1) * tick.0) } else { lower };
        PriceBand { lower, upper: upper.floor_to(tick) }
    }

    #[inline]
    pub fn contains(&self, p: Price) -> bool {
        p >= self.lower && p <= self.upper
    }
}

/// Everything the engine needs to know about one tradable instrument.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstrumentSpec {
    pub id: InstrumentId,
    pub symbol: String,
    pub segment: Segment,
    pub tick_size: Price,
    pub lot_size: Qty,
    pub band: PriceBand,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn band_snaps_inward_to_grid() {
        let b = PriceBand::around(Price(128_540), 10.0, Price(10));
        assert_eq!(b, PriceBand { lower: Price(115_690), upper: Price(141_390) });
        assert!(b.contains(Price(128_540)));
        assert!(!b.contains(Price(141_400)));
        assert!(b.lower.on_grid(Price(10)) && b.upper.on_grid(Price(10)));
    }
}
