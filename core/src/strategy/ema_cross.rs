//! Trend following on two EMAs of the close: long when the fast one crosses above the slow one,
//! short (or flat) when it crosses below.

use super::{Book, Strategy};
use crate::candle::Candle;
use crate::indicators::Ema;

pub struct EmaCross {
    fast: Ema,
    slow: Ema,
    /// Sign of (fast − slow) at the previous bar; 0 until both are ready.
    last_sign: i8,
    qty: i64,
    allow_short: bool,
}

impl EmaCross {
    /// `qty` is the position size in units (a whole number of lots, checked by config).
    pub fn new(fast: usize, slow: usize, qty: u64, allow_short: bool) -> Self {
        EmaCross { fast: Ema::new(fast), slow: Ema::new(slow), last_sign: 0, qty: qty as i64, allow_short }
    }
}

impl Strategy for EmaCross {
    fn on_candle(&mut self, candle: &Candle, _book: &Book) -> Option<i64> {
        let close = candle.close.as_f64();
        let (Some(f), Some(s)) = (self.fast.update(close), self.slow.update(close)) else { return None };
        let sign = if f > s {
            1
        } else if f < s {
            -1
        } else {
            0
        };
        let prev = self.last_sign;
        if sign != 0 {
            self.last_sign = sign;
        }
        if prev == 0 || sign == 0 || sign == prev {
            return None;
        }
        Some(if sign > 0 {
            self.qty
        } else if self.allow_short {
            -self.qty
        } else {
            0
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Price;

    fn bar(close: i64) -> Candle {
        super::super::testing::bar(Price(close * 100))
    }

    #[test]
    fn signals_only_on_crosses() {
        let mut s = EmaCross::new(2, 4, 10, true);
        let book = Book::default();
        let mut out = Vec::new();
        for c in [10, 10, 10, 10, 9, 8, 7, 12, 14, 15, 15, 9, 5] {
            out.push(s.on_candle(&bar(c), &book));
        }
        let targets: Vec<i64> = out.iter().flatten().copied().collect();
        assert_eq!(targets, vec![10, -10], "{out:?}");
    }

    #[test]
    fn long_only_goes_flat() {
        let mut s = EmaCross::new(2, 4, 10, false);
        let book = Book::default();
        let t: Vec<i64> = [10, 10, 10, 10, 9, 8, 7, 12, 14, 15, 15, 9, 5]
            .iter()
            .filter_map(|c| s.on_candle(&bar(*c), &book))
            .collect();
        assert_eq!(t, vec![10, 0]);
    }
}
