//! Williams %R (TA-Lib `WILLR`).
//!
//! `%R_t = −100 · (HH − c_t) / (HH − LL)` over the last `n` bars (HH = highest high, LL =
//! lowest low), 0 when HH = LL; first value at index n − 1. Computed as TA-Lib does,
//! `(HH − c) / ((HH − LL) / −100)`, so the values round alike.

use super::window::RollingExtreme;

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct WillR {
    highest: RollingExtreme,
    lowest: RollingExtreme,
}

impl WillR {
    /// `n` is clamped to at least 1.
    pub fn new(n: usize) -> WillR {
        WillR { highest: RollingExtreme::max(n), lowest: RollingExtreme::min(n) }
    }

    #[inline]
    pub fn update(&mut self, high: f64, low: f64, close: f64) -> Option<f64> {
        let hh = self.highest.push(high);
        let ll = self.lowest.push(low);
        let (hh, ll) = (hh?, ll?);
        let diff = (hh - ll) / -100.0;
        Some(if diff != 0.0 { (hh - close) / diff } else { 0.0 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn willr_hand_checked() {
        let mut w = WillR::new(2);
        assert_eq!(w.update(10.0, 8.0, 9.0), None);
        // HH 12, LL 8, close 11 → −100 · 1/4
        assert_eq!(w.update(12.0, 9.0, 11.0), Some(-25.0));
        // HH 12, LL 9, close 9 → −100
        assert_eq!(w.update(10.0, 9.0, 9.0), Some(-100.0));
    }
}
