//! Mean reversion on Bollinger Bands: buy a close below the lower band, sell one above the
//! upper band, and step aside once price is back at the middle.

use super::{Book, Strategy};
use crate::candle::Candle;
use crate::indicators::Bollinger;

pub struct BollingerReversion {
    bands: Bollinger,
    qty: i64,
    allow_short: bool,
}

impl BollingerReversion {
    pub fn new(period: usize, k: f64, qty: u64, allow_short: bool) -> Self {
        BollingerReversion { bands: Bollinger::new(period, k), qty: qty as i64, allow_short }
    }
}

impl Strategy for BollingerReversion {
    fn on_candle(&mut self, candle: &Candle, book: &Book) -> Option<i64> {
        let close = candle.close.as_f64();
        let b = self.bands.update(close)?;
        let held = book.projected();
        if close < b.lower {
            Some(self.qty)
        } else if close > b.upper {
            Some(if self.allow_short { -self.qty } else { 0 })
        } else if (held > 0 && close >= b.middle) || (held < 0 && close <= b.middle) {
            Some(0)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{NetQty, Price};

    fn bar(close: i64) -> Candle {
        super::super::testing::bar(Price(close))
    }

    #[test]
    fn buys_the_dip_and_exits_at_the_middle() {
        let mut s = BollingerReversion::new(5, 1.5, 5, false);
        let flat = Book::default();
        for c in [100, 101, 99, 100, 100] {
            assert_eq!(s.on_candle(&bar(c), &flat), None);
        }
        assert_eq!(s.on_candle(&bar(90), &flat), Some(5));
        let long = Book { position: NetQty(5), ..Book::default() };
        assert_eq!(s.on_candle(&bar(95), &long), None);
        assert_eq!(s.on_candle(&bar(101), &long), Some(0));
        // Above the upper band, long-only means flat.
        assert_eq!(s.on_candle(&bar(130), &flat), Some(0));
    }
}
