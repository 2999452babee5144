//! Relative Strength Index with Wilder's smoothing (TA-Lib `RSI`).
//!
//! With `g_t = max(x_t − x_{t-1}, 0)` and `l_t = max(x_{t-1} − x_t, 0)`:
//! the first averages are the plain means of the first `n` gains / losses (so the first value
//! is at index n: n changes need n + 1 inputs), then Wilder's smoothing
//! `avg_t = (avg_{t-1}·(n − 1) + g_t) / n`, and `RSI = 100 · avg_gain / (avg_gain + avg_loss)`,
//! 0 when the denominator is zero (TA-Lib's `TA_IS_ZERO`, |v| < 1e-14).
//!
//! Seeded with the plain mean and no unstable period because that is what TA-Lib does with
//! its default unstable period of 0 (the Python wrapper's default), and the arithmetic is
//! done in TA-Lib's order so values agree with it to rounding.

use super::window::ta_is_zero;

/// Relative Strength Index with Wilder's smoothing, first value after `n + 1` inputs.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Rsi {
    n: usize,
    prev: Option<f64>,
    seen: usize,
    avg_gain: f64,
    avg_loss: f64,
}

impl Rsi {
    /// `n` is clamped to at least 1.
    pub fn new(n: usize) -> Rsi {
        Rsi { n: n.max(1), prev: None, seen: 0, avg_gain: 0.0, avg_loss: 0.0 }
    }

    pub fn period(&self) -> usize {
        self.n
    }

    #[inline]
    pub fn update(&mut self, x: f64) -> Option<f64> {
        let prev = self.prev.replace(x)?;
        let change = x - prev;
        let (gain, loss) = if change < 0.0 { (0.0, -change) } else { (change, 0.0) };
        let n = self.n as f64;
        if self.seen < self.n {
            self.seen += 1;
            self.avg_gain += gain;
            self.avg_loss += loss;
            if self.seen < self.n {
                return None;
            }
            self.avg_gain /= n;
            self.avg_loss /= n;
        } else {
            self.avg_gain = (self.avg_gain * (n - 1.0) + gain) / n;
            self.avg_loss = (self.avg_loss * (n - 1.0) + loss) / n;
        }
        self.value()
    }

    /// The last RSI, once there is one.
    #[inline]
    pub fn value(&self) -> Option<f64> {
        if self.seen < self.n {
            return None;
        }
        let total = self.avg_gain + self.avg_loss;
        Some(if ta_is_zero(total) { 0.0 } else { 100.0 * (self.avg_gain / total) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1.0)
    }

    #[test]
    fn rsi_wilder_hand_checked() {
        // n = 2. Changes: +1, −2 → avg gain 0.5, loss 1.0 → RSI 33.33…
        let mut r = Rsi::new(2);
        assert_eq!(r.update(10.0), None);
        assert_eq!(r.update(11.0), None);
        let v = r.update(9.0).unwrap();
        assert!(close(v, 100.0 / 3.0));
        // Next change +3: gain (0.5·1 + 3)/2 = 1.75, loss (1·1 + 0)/2 = 0.5 → 77.77…
        let v = r.update(12.0).unwrap();
        assert!(close(v, 100.0 * 1.75 / 2.25));
    }

    #[test]
    fn rsi_flat_is_zero() {
        let mut r = Rsi::new(3);
        let out: Vec<_> = (0..5).map(|_| r.update(7.0)).collect();
        assert_eq!(out, vec![None, None, None, Some(0.0), Some(0.0)]);
    }
}
