//! Stochastic oscillator, slow %K and %D (TA-Lib `STOCH` with `slowk_matype = slowd_matype = 0`).
//!
//! `fast %K_t = 100 · (c_t − LL) / (HH − LL)` over the last `fastk` bars (HH = highest high,
//! LL = lowest low), 0 when HH = LL; `slow %K = SMA_slowk(fast %K)`, `%D = SMA_slowd(slow %K)`.
//!
//! TA-Lib computes `(c − LL) / ((HH − LL) / 100)` (same here, to round alike) and emits
//! slow %K and %D together from the first bar %D exists, index `fastk + slowk + slowd − 3`
//! (17 for 14/3/3); so does this, even though slow %K alone would be known earlier.

use super::sma::Sma;
use super::window::RollingExtreme;

/// One stochastic reading.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StochOutput {
    pub k: f64,
    pub d: f64,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Stoch {
    highest: RollingExtreme,
    lowest: RollingExtreme,
    slow_k: Sma,
    slow_d: Sma,
}

impl Stoch {
    /// Periods are clamped to at least 1.
    pub fn new(fastk: usize, slowk: usize, slowd: usize) -> Stoch {
        Stoch {
            highest: RollingExtreme::max(fastk),
            lowest: RollingExtreme::min(fastk),
            slow_k: Sma::new(slowk),
            slow_d: Sma::new(slowd),
        }
    }

    #[inline]
    pub fn update(&mut self, high: f64, low: f64, close: f64) -> Option<StochOutput> {
        let hh = self.highest.push(high);
        let ll = self.lowest.push(low);
        let (hh, ll) = (hh?, ll?);
        let diff = (hh - ll) / 100.0;
        let fast_k = if diff != 0.0 { (close - ll) / diff } else { 0.0 };
        let k = self.slow_k.update(fast_k)?;
        let d = self.slow_d.update(k)?;
        Some(StochOutput { k, d })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stoch_hand_checked() {
        // fastk 2, slowk 2, slowd 1: first output at index 2.
        let mut s = Stoch::new(2, 2, 1);
        assert_eq!(s.update(10.0, 8.0, 9.0), None);
        // HH 11, LL 8: fast %K = 100·(10 − 8)/3
        assert_eq!(s.update(11.0, 9.0, 10.0), None);
        // HH 12, LL 9: fast %K = 100·(12 − 9)/3 = 100; slow %K = (66.67 + 100)/2
        let o = s.update(12.0, 10.0, 12.0).unwrap();
        assert!((o.k - (200.0 / 3.0 + 100.0) / 2.0).abs() < 1e-9);
        assert_eq!(o.k, o.d);
        // Flat window: range 0 → fast %K 0
        let mut flat = Stoch::new(2, 1, 1);
        flat.update(5.0, 5.0, 5.0);
        assert_eq!(flat.update(5.0, 5.0, 5.0), Some(StochOutput { k: 0.0, d: 0.0 }));
    }
}
