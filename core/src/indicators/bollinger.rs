//! Bollinger Bands (TA-Lib `BBANDS` with `matype = 0`, `nbdevup = nbdevdn = k`).
//!
//! `middle = SMA_n(x)`, `σ = sqrt(Σ (x_i − middle)² / n)` (population standard deviation of
//! the same window), `upper = middle + k·σ`, `lower = middle − k·σ`; first value at index
//! n − 1. As in TA-Lib, a variance below 1e-14 (`TA_IS_ZERO_OR_NEG`) counts as zero.
//!
//! O(1) per bar without TA-Lib's cancellation-prone `Σx²/n − mean²`: the middle is the SMA
//! running sum (updated as TA-Lib's is), and the sum of squared deviations `M2` is slid
//! with the exact window-replacement identity
//! `M2' = M2 + (x_new − x_old)·(x_new − mean' + x_old − mean)`,
//! then recomputed exactly (two passes over the window) every `n` bars, which bounds the
//! accumulated rounding (amortised O(1)) and also recovers once a NaN/inf has left the window.

use super::window::{Ring, TA_EPSILON};

/// One Bollinger reading.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Bands {
    pub upper: f64,
    pub middle: f64,
    pub lower: f64,
}

/// Bollinger Bands: SMA(n) ± k population standard deviations.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Bollinger {
    window: Ring,
    k: f64,
    sum: f64,
    m2: f64,
    since_exact: usize,
}

impl Bollinger {
    /// `n` is clamped to at least 1.
    pub fn new(n: usize, k: f64) -> Bollinger {
        Bollinger { window: Ring::new(n), k, sum: 0.0, m2: 0.0, since_exact: 0 }
    }

    pub fn period(&self) -> usize {
        self.window.capacity()
    }

    pub fn k(&self) -> f64 {
        self.k
    }

    #[inline]
    pub fn update(&mut self, x: f64) -> Option<Bands> {
        let n = self.window.capacity();
        let nf = n as f64;
        match self.window.push(x) {
            None => {
                self.sum += x;
                if !self.window.is_full() {
                    return None;
                }
                self.exact();
            }
            Some(old) => {
                let mean_old = self.sum / nf;
                self.sum -= old;
                self.sum += x;
                let mean_new = self.sum / nf;
                self.m2 += (x - old) * (x - mean_new + old - mean_old);
                self.since_exact += 1;
                if self.since_exact >= n || !self.sum.is_finite() || !self.m2.is_finite() || self.m2 < 0.0 {
                    self.exact();
                }
            }
        }
        let middle = self.sum / nf;
        let var = self.m2 / nf;
        let sd = if var < TA_EPSILON { 0.0 } else { var.sqrt() };
        let d = sd * self.k;
        Some(Bands { upper: middle + d, middle, lower: middle - d })
    }

    /// Recomputes `M2` (two-pass) from the window, and the sum too if it is not finite.
    fn exact(&mut self) {
        if !self.sum.is_finite() {
            self.sum = self.window.iter_oldest_first().sum();
        }
        let mean = self.window.slots().iter().sum::<f64>() / self.window.capacity() as f64;
        self.m2 = self.window.slots().iter().map(|v| (v - mean) * (v - mean)).sum();
        self.since_exact = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1.0)
    }

    #[test]
    fn bollinger_uses_population_stddev() {
        let mut b = Bollinger::new(4, 2.0);
        for x in [2.0, 4.0, 4.0] {
            assert!(b.update(x).is_none());
        }
        let r = b.update(6.0).unwrap();
        // mean 4, population variance (4+0+0+4)/4 = 2
        assert!(close(r.middle, 4.0));
        assert!(close(r.upper, 4.0 + 2.0 * 2f64.sqrt()));
        assert!(close(r.lower, 4.0 - 2.0 * 2f64.sqrt()));
    }

    #[test]
    fn running_variance_tracks_two_pass() {
        let mut b = Bollinger::new(7, 1.0);
        let mut s = super::super::Sma::new(7);
        for i in 0..500 {
            let x = 20_000.0 + ((i * 7919) % 101) as f64 * 0.05;
            let r = b.update(x);
            s.update(x);
            if let (Some(r), Some(sd)) = (r, s.stddev()) {
                assert!((r.upper - r.middle - sd).abs() <= 1e-9 * sd.max(1e-6), "{i}: {} vs {sd}", r.upper - r.middle);
            }
        }
    }

    #[test]
    fn bollinger_recovers_after_nan() {
        let mut b = Bollinger::new(2, 1.0);
        b.update(1.0);
        assert!(b.update(f64::NAN).unwrap().middle.is_nan());
        assert!(b.update(3.0).unwrap().upper.is_nan());
        let r = b.update(5.0).unwrap();
        assert_eq!((r.lower, r.middle, r.upper), (3.0, 4.0, 5.0));
    }
}
