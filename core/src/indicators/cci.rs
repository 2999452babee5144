//! Commodity Channel Index (TA-Lib `CCI`).
//!
//! `tp = (h + l + c) / 3`; over the last `n` typical prices, `mean = Σ tp / n` and the
//! *mean deviation* `md = Σ |tp_i − mean| / n` (not the standard deviation);
//! `CCI = (tp_t − mean) / (0.015 · md)`, 0 when either `tp_t − mean` or `md` is zero;
//! first value at index n − 1.
//!
//! The mean deviation around a moving mean has no O(1) update, so each bar is O(n) over the
//! fixed window (no allocation). The window is summed in TA-Lib's circular-buffer order, so
//! the values agree with TA-Lib to within a few ulps.

use super::window::Ring;

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Cci {
    window: Ring,
}

impl Cci {
    /// `n` is clamped to at least 1.
    pub fn new(n: usize) -> Cci {
        Cci { window: Ring::new(n) }
    }

    #[inline]
    pub fn update(&mut self, high: f64, low: f64, close: f64) -> Option<f64> {
        let tp = (high + low + close) / 3.0;
        self.window.push(tp);
        if !self.window.is_full() {
            return None;
        }
        let n = self.window.capacity() as f64;
        let mut mean = 0.0;
        for v in self.window.slots() {
            mean += v;
        }
        mean /= n;
        let mut md = 0.0;
        for v in self.window.slots() {
            md += (v - mean).abs();
        }
        let dev = tp - mean;
        Some(if dev != 0.0 && md != 0.0 { dev / (0.015 * (md / n)) } else { 0.0 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cci_uses_mean_deviation() {
        let mut c = Cci::new(3);
        // Typical prices 1, 2, 6: mean 3, mean deviation (2 + 1 + 3)/3 = 2 → (6 − 3)/(0.015·2) = 100
        assert_eq!(c.update(1.0, 1.0, 1.0), None);
        assert_eq!(c.update(3.0, 1.0, 2.0), None);
        let v = c.update(7.0, 5.0, 6.0).unwrap();
        assert!((v - 100.0).abs() < 1e-9);
        let mut flat = Cci::new(2);
        flat.update(4.0, 4.0, 4.0);
        assert_eq!(flat.update(4.0, 4.0, 4.0), Some(0.0));
    }
}
