//! Weighted moving average (TA-Lib `WMA`).
//!
//! `WMA_t = (1·x_{t-n+1} + 2·x_{t-n+2} + … + n·x_t) / (n(n+1)/2)`, first value at index n − 1.
//!
//! O(1) per update with TA-Lib's two running sums: `sum` (the weighted sum) and `sub` (the
//! plain sum of the window); each bar adds `n·x` to `sum`, then subtracts `sub` so every
//! older weight drops by one. The updates are done in TA-Lib's order so the result agrees
//! with it to rounding on finite data; if the sums stop being finite they are rebuilt
//! from the window (as the SMA does) once the bad value has left it.

use super::window::Ring;

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Wma {
    window: Ring,
    divider: f64,
    /// Weighted sum, already reduced by `sub` after the last output (TA-Lib's `periodSum`).
    sum: f64,
    /// Plain sum (TA-Lib's `periodSub`).
    sub: f64,
    /// The value that left the window at the last output (TA-Lib's `trailingValue`).
    trailing: f64,
    seen: usize,
}

impl Wma {
    /// `n` is clamped to at least 1.
    pub fn new(n: usize) -> Wma {
        let n = n.max(1);
        let divider = ((n * (n + 1)) >> 1) as f64;
        Wma { window: Ring::new(n), divider, sum: 0.0, sub: 0.0, trailing: 0.0, seen: 0 }
    }

    pub fn period(&self) -> usize {
        self.window.capacity()
    }

    #[inline]
    pub fn update(&mut self, x: f64) -> Option<f64> {
        let n = self.window.capacity();
        self.window.push(x);
        if self.seen + 1 < n {
            self.seen += 1;
            self.sub += x;
            self.sum += x * self.seen as f64;
            return None;
        }
        self.seen = n;
        self.sub += x;
        self.sub -= self.trailing;
        self.sum += x * n as f64;
        self.trailing = self.window.oldest();
        let mut out = self.sum / self.divider;
        if !out.is_finite() || !self.sub.is_finite() {
            // Rebuild both sums from the window (weights 1..n oldest first).
            let (mut s, mut w) = (0.0, 0.0);
            for (i, v) in self.window.iter_oldest_first().enumerate() {
                s += v;
                w += v * (i + 1) as f64;
            }
            self.sub = s;
            self.sum = w;
            out = w / self.divider;
        }
        self.sum -= self.sub;
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wma_hand_checked() {
        let mut w = Wma::new(3);
        assert_eq!(w.update(1.0), None);
        assert_eq!(w.update(2.0), None);
        // (1·1 + 2·2 + 3·3) / 6 = 14/6
        assert_eq!(w.update(3.0), Some(14.0 / 6.0));
        // (1·2 + 2·3 + 3·10) / 6 = 38/6
        assert_eq!(w.update(10.0), Some(38.0 / 6.0));
        let mut one = Wma::new(1);
        assert_eq!(one.update(5.0), Some(5.0));
        assert_eq!(one.update(7.0), Some(7.0));
    }

    #[test]
    fn wma_recovers_after_nan() {
        let mut w = Wma::new(2);
        w.update(1.0);
        assert!(w.update(f64::NAN).unwrap().is_nan());
        assert!(w.update(1.0).unwrap().is_nan());
        // Window [1, 4]: (1 + 8) / 3 = 3
        assert_eq!(w.update(4.0), Some(3.0));
        assert_eq!(w.update(7.0), Some(6.0));
    }
}
