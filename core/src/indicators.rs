//! Incremental indicators: O(1) per update and no allocation after construction. Seeding
//! follows TA-Lib (an EMA starts from the SMA of its first N inputs; RSI uses Wilder's
//! smoothing) so values can be checked against it.

/// Simple moving average over the last `n` values.
#[derive(Clone, Debug)]
pub struct Sma {
    window: Box<[f64]>,
    pos: usize,
    len: usize,
    sum: f64,
}

impl Sma {
    /// `n` is clamped to at least 1.
    pub fn new(n: usize) -> Sma {
        Sma { window: vec![0.0; n.max(1)].into_boxed_slice(), pos: 0, len: 0, sum: 0.0 }
    }

    pub fn period(&self) -> usize {
        self.window.len()
    }

    /// Adds a value; returns the average once `n` values have been seen.
    #[inline]
    pub fn update(&mut self, x: f64) -> Option<f64> {
        let n = self.window.len();
        if self.len == n {
            self.sum -= self.window[self.pos];
        } else {
            self.len += 1;
        }
        self.window[self.pos] = x;
        self.sum += x;
        self.pos += 1;
        if self.pos == n {
            self.pos = 0;
        }
        self.value()
    }

    #[inline]
    pub fn value(&self) -> Option<f64> {
        (self.len == self.window.len()).then(|| self.sum / self.len as f64)
    }

    /// Population standard deviation of the window (what Bollinger Bands use), once full.
    pub fn stddev(&self) -> Option<f64> {
        let mean = self.value()?;
        let var = self.window.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / self.len as f64;
        Some(var.max(0.0).sqrt())
    }
}

/// Exponential moving average with α = 2 / (n + 1), seeded with the SMA of the first `n`
/// values (TA-Lib's default), so the first value appears at the n-th input.
#[derive(Clone, Debug)]
pub struct Ema {
    n: usize,
    alpha: f64,
    seen: usize,
    seed_sum: f64,
    value: f64,
}

impl Ema {
    pub fn new(n: usize) -> Ema {
        let n = n.max(1);
        Ema { n, alpha: 2.0 / (n as f64 + 1.0), seen: 0, seed_sum: 0.0, value: 0.0 }
    }

    pub fn period(&self) -> usize {
        self.n
    }

    #[inline]
    pub fn update(&mut self, x: f64) -> Option<f64> {
        if self.seen < self.n {
            self.seen += 1;
            self.seed_sum += x;
            if self.seen == self.n {
                self.value = self.seed_sum / self.n as f64;
                return Some(self.value);
            }
            return None;
        }
        self.value += self.alpha * (x - self.value);
        Some(self.value)
    }

    #[inline]
    pub fn value(&self) -> Option<f64> {
        (self.seen >= self.n).then_some(self.value)
    }
}

/// Bollinger Bands: SMA(n) ± k population standard deviations.
#[derive(Clone, Debug)]
pub struct Bollinger {
    sma: Sma,
    k: f64,
}

/// One Bollinger reading.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bands {
    pub upper: f64,
    pub middle: f64,
    pub lower: f64,
}

impl Bollinger {
    pub fn new(n: usize, k: f64) -> Bollinger {
        Bollinger { sma: Sma::new(n), k }
    }

    /// O(n) for the deviation over a small window; n is a bar count (typically 20), and this
    /// runs once per closed bar, not per tick.
    #[inline]
    pub fn update(&mut self, x: f64) -> Option<Bands> {
        let middle = self.sma.update(x)?;
        let sd = self.sma.stddev()?;
        Some(Bands { upper: middle + self.k * sd, middle, lower: middle - self.k * sd })
    }
}

/// Relative Strength Index with Wilder's smoothing, first value after `n + 1` inputs.
#[derive(Clone, Debug)]
pub struct Rsi {
    n: usize,
    prev: Option<f64>,
    seen: usize,
    avg_gain: f64,
    avg_loss: f64,
}

impl Rsi {
    pub fn new(n: usize) -> Rsi {
        Rsi { n: n.max(1), prev: None, seen: 0, avg_gain: 0.0, avg_loss: 0.0 }
    }

    #[inline]
    pub fn update(&mut self, x: f64) -> Option<f64> {
        let prev = self.prev.replace(x)?;
        let change = x - prev;
        let (gain, loss) = if change > 0.0 { (change, 0.0) } else { (0.0, -change) };
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
        let total = self.avg_gain + self.avg_loss;
        Some(if total == 0.0 { 0.0 } else { 100.0 * self.avg_gain / total })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1.0)
    }

    #[test]
    fn sma_slides() {
        let mut s = Sma::new(3);
        assert_eq!(s.update(1.0), None);
        assert_eq!(s.update(2.0), None);
        assert_eq!(s.update(3.0), Some(2.0));
        assert_eq!(s.update(7.0), Some(4.0));
    }

    #[test]
    fn ema_is_seeded_with_sma() {
        let mut e = Ema::new(3);
        assert_eq!(e.update(1.0), None);
        assert_eq!(e.update(2.0), None);
        assert_eq!(e.update(3.0), Some(2.0));
        // α = 0.5: 2 + 0.5 (6 − 2) = 4
        assert_eq!(e.update(6.0), Some(4.0));
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
}
