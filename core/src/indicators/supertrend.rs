//! SuperTrend (ATR bands with a trailing stop and trend flips).
//!
//! With `mid = (h + l) / 2` and `ATR` = [`super::Atr`] over `n` (Wilder, TA-Lib seeding, so the
//! first value is at index n):
//!
//! ```text
//! basic_upper = mid + m·ATR                basic_lower = mid − m·ATR
//! final_upper = basic_upper  if basic_upper < final_upper[t-1] or close[t-1] > final_upper[t-1]
//!               final_upper[t-1] otherwise (the upper band only ratchets down while price stays under it)
//! final_lower = basic_lower  if basic_lower > final_lower[t-1] or close[t-1] < final_lower[t-1]
//!               final_lower[t-1] otherwise (the lower band only ratchets up while price stays over it)
//! trend       = down → up    when close > final_upper
//!               up   → down  when close < final_lower
//! SuperTrend  = final_lower in an up-trend, final_upper in a down-trend
//! ```
//!
//! On the first bar with an ATR the final bands are the basic bands and the trend starts
//! down. This is TradingView's `ta.supertrend` (the most common reference), with one
//! difference: its ATR seeds on the true ranges of bars 0..n−1 (bar 0's is `h − l`), ours on
//! bars 1..n as TA-Lib's `ATR`. The direction output is `+1` for an up-trend (the line is
//! the lower band, under price) and `−1` for a down-trend; TradingView's sign is the
//! opposite.

use std::cmp::Ordering;

use super::atr::Atr;

/// One SuperTrend reading.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SuperTrendOutput {
    /// The trailing line: the lower band in an up-trend, the upper band in a down-trend.
    pub value: f64,
    /// `+1.0` up-trend, `−1.0` down-trend.
    pub direction: f64,
}

#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
struct Bands {
    upper: f64,
    lower: f64,
    up: bool,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct SuperTrend {
    atr: Atr,
    multiplier: f64,
    prev_close: f64,
    bands: Option<Bands>,
}

impl SuperTrend {
    /// `n` is clamped to at least 1.
    pub fn new(n: usize, multiplier: f64) -> SuperTrend {
        SuperTrend { atr: Atr::new(n), multiplier, prev_close: f64::NAN, bands: None }
    }

    #[inline]
    pub fn update(&mut self, high: f64, low: f64, close: f64) -> Option<SuperTrendOutput> {
        let atr = self.atr.update(high, low, close);
        let prev_close = std::mem::replace(&mut self.prev_close, close);
        let atr = atr?;
        let mid = (high + low) / 2.0;
        let basic_upper = mid + self.multiplier * atr;
        let basic_lower = mid - self.multiplier * atr;
        let bands = match self.bands {
            None => Bands { upper: basic_upper, lower: basic_lower, up: false },
            Some(p) => {
                let upper = if basic_upper < p.upper || prev_close > p.upper { basic_upper } else { p.upper };
                let lower = if basic_lower > p.lower || prev_close < p.lower { basic_lower } else { p.lower };
                // Stays up unless the close is below the lower band (a NaN close changes nothing).
                let up = if p.up { close.partial_cmp(&lower) != Some(Ordering::Less) } else { close > upper };
                Bands { upper, lower, up }
            }
        };
        self.bands = Some(bands);
        Some(if bands.up {
            SuperTrendOutput { value: bands.lower, direction: 1.0 }
        } else {
            SuperTrendOutput { value: bands.upper, direction: -1.0 }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(v: f64, d: f64) -> Option<SuperTrendOutput> {
        Some(SuperTrendOutput { value: v, direction: d })
    }

    /// n = 2, m = 1, every bar with range 2 and no gaps beyond it, so TR = 2 and ATR = 2
    /// throughout; the bands are mid ± 2.
    #[test]
    fn supertrend_hand_checked() {
        let mut s = SuperTrend::new(2, 1.0);
        // bar 0: no ATR yet (no previous close).
        assert_eq!(s.update(11.0, 9.0, 10.0), None);
        // bar 1: TR = max(2, |11−10|, |9−10|) = 2; one TR, ATR not seeded.
        assert_eq!(s.update(11.0, 9.0, 10.0), None);
        // bar 2: ATR = (2 + 2)/2 = 2, mid 10: bands 12 / 8, starts down → line = upper 12.
        assert_eq!(s.update(11.0, 9.0, 10.0), st(12.0, -1.0));
        // bar 3: mid 11, TR 2, basic 13 / 9. Upper: 13 < 12? no; prev close 10 > 12? no → stays 12.
        // Lower: 9 > 8 → 9. Close 12 > 12? no → still down at 12.
        assert_eq!(s.update(12.0, 10.0, 12.0), st(12.0, -1.0));
        // bar 4: high 13.5, low 11.5, close 13: TR = max(2, 1.5, 0.5) = 2, mid 12.5, basic 14.5 / 10.5.
        // Upper: 14.5 < 12? no; prev close 12 > 12? no → 12. Lower: 10.5 > 9 → 10.5.
        // Close 13 > 12 → flips up: line = lower 10.5.
        assert_eq!(s.update(13.5, 11.5, 13.0), st(10.5, 1.0));
        // bar 5: high 13, low 11, close 11.2: TR = max(2, 0, 2) = 2, mid 12, basic 14 / 10.
        // Upper: prev close 13 > 12 → resets to 14. Lower: 10 > 10.5? no; prev close 13 < 10.5? no → 10.5.
        // Up-trend holds (11.2 ≥ 10.5).
        assert_eq!(s.update(13.0, 11.0, 11.2), st(10.5, 1.0));
        // bar 6: high 11.2, low 9.2, close 9.5: TR = max(2, 0, 2) = 2, mid 10.2, basic 12.2 / 8.2.
        // Lower stays 10.5; close 9.5 < 10.5 → flips down: line = upper min(12.2 < 14) = 12.2.
        let o = s.update(11.2, 9.2, 9.5).unwrap();
        assert_eq!(o.direction, -1.0);
        assert!((o.value - 12.2).abs() < 1e-12);
    }

    #[test]
    fn supertrend_survives_nan() {
        let mut s = SuperTrend::new(1, 3.0);
        for x in [1.0, f64::NAN, 2.0, f64::INFINITY, 3.0] {
            let _ = s.update(x + 1.0, x - 1.0, x);
        }
    }
}
