//! Simple moving average.
//!
//! `SMA_t = (x_{t-n+1} + … + x_t) / n`, first value at the n-th input (index n − 1).
//!
//! Kept as a running sum updated in exactly TA-Lib's order (add the new value, drop the one
//! leaving the window), so it agrees with TA-Lib `SMA` to within an ulp or so. If the
//! sum stops being finite (a NaN or ±inf input) it is recomputed from the window on each
//! update until the bad value has left the window, so one bad print does not poison the
//! average forever.

use super::window::Ring;

/// Simple moving average over the last `n` values.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Sma {
    window: Ring,
    sum: f64,
}

impl Sma {
    /// `n` is clamped to at least 1.
    pub fn new(n: usize) -> Sma {
        Sma { window: Ring::new(n), sum: 0.0 }
    }

    pub fn period(&self) -> usize {
        self.window.capacity()
    }

    /// Adds a value; returns the average once `n` values have been seen.
    #[inline]
    pub fn update(&mut self, x: f64) -> Option<f64> {
        if let Some(old) = self.window.push(x) {
            self.sum -= old;
        }
        self.sum += x;
        if !self.sum.is_finite() && self.window.is_full() {
            self.sum = self.window.iter_oldest_first().sum();
        }
        self.value()
    }

    #[inline]
    pub fn value(&self) -> Option<f64> {
        self.window.is_full().then(|| self.sum / self.window.capacity() as f64)
    }

    /// Population standard deviation of the window, once full. Two-pass over the window
    /// (O(n)); [`super::Bollinger`] keeps a running variance instead.
    pub fn stddev(&self) -> Option<f64> {
        let mean = self.value()?;
        let n = self.window.capacity() as f64;
        let var = self.window.slots().iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
        Some(var.max(0.0).sqrt())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sma_slides() {
        let mut s = Sma::new(3);
        assert_eq!(s.update(1.0), None);
        assert_eq!(s.update(2.0), None);
        assert_eq!(s.update(3.0), Some(2.0));
        assert_eq!(s.update(7.0), Some(4.0));
    }

    #[test]
    fn sma_stddev_is_population() {
        let mut s = Sma::new(4);
        for x in [2.0, 4.0, 4.0, 6.0] {
            s.update(x);
        }
        assert_eq!(s.stddev(), Some(2f64.sqrt()));
    }

    #[test]
    fn sma_recovers_after_nan_leaves_window() {
        let mut s = Sma::new(2);
        s.update(1.0);
        assert!(s.update(f64::NAN).unwrap().is_nan());
        assert!(s.update(3.0).unwrap().is_nan());
        assert_eq!(s.update(5.0), Some(4.0));
        assert!(s.update(f64::INFINITY).unwrap().is_infinite());
        assert!(s.update(f64::NEG_INFINITY).unwrap().is_nan());
        assert!(s.update(1.0).unwrap().is_infinite());
        assert_eq!(s.update(1.0), Some(1.0));
    }
}
