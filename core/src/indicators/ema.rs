//! Exponential moving averages: EMA, DEMA, TEMA.
//!
//! `EMA_t = EMA_{t-1} + α·(x_t − EMA_{t-1})` with `α = 2 / (n + 1)`, seeded with the SMA of
//! the first `n` inputs, so the first value appears at the n-th input (index n − 1). That
//! is TA-Lib's default seeding (`TA_COMPATIBILITY_DEFAULT`); seeding with the first input
//! instead (Metastock style) gives different values for a long time, and quants compare
//! with TA-Lib.
//!
//! `DEMA = 2·EMA(x) − EMA(EMA(x))`, first value at index 2(n − 1).
//! `TEMA = 3·EMA(x) − 3·EMA(EMA(x)) + EMA(EMA(EMA(x)))`, first value at index 3(n − 1).
//! Each inner EMA is seeded the same way on the outer EMA's output (as TA-Lib's DEMA/TEMA
//! chain its EMA), and the arithmetic is done in TA-Lib's order.

/// Exponential moving average with α = 2 / (n + 1), seeded with the SMA of the first `n`
/// values (TA-Lib's default), so the first value appears at the n-th input.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Ema {
    n: usize,
    alpha: f64,
    seen: usize,
    seed_sum: f64,
    value: f64,
}

impl Ema {
    /// `n` is clamped to at least 1.
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
        // TA-Lib: ((x − prev) · k) + prev.
        self.value += self.alpha * (x - self.value);
        Some(self.value)
    }

    #[inline]
    pub fn value(&self) -> Option<f64> {
        (self.seen >= self.n).then_some(self.value)
    }
}

/// Double EMA: `2·EMA − EMA(EMA)` (TA-Lib `DEMA`).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Dema {
    e1: Ema,
    e2: Ema,
}

impl Dema {
    pub fn new(n: usize) -> Dema {
        Dema { e1: Ema::new(n), e2: Ema::new(n) }
    }

    pub fn period(&self) -> usize {
        self.e1.period()
    }

    #[inline]
    pub fn update(&mut self, x: f64) -> Option<f64> {
        let a = self.e1.update(x)?;
        let b = self.e2.update(a)?;
        Some(2.0 * a - b)
    }
}

/// Triple EMA: `3·EMA − 3·EMA(EMA) + EMA(EMA(EMA))` (TA-Lib `TEMA`).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Tema {
    e1: Ema,
    e2: Ema,
    e3: Ema,
}

impl Tema {
    pub fn new(n: usize) -> Tema {
        Tema { e1: Ema::new(n), e2: Ema::new(n), e3: Ema::new(n) }
    }

    pub fn period(&self) -> usize {
        self.e1.period()
    }

    #[inline]
    pub fn update(&mut self, x: f64) -> Option<f64> {
        let a = self.e1.update(x)?;
        let b = self.e2.update(a)?;
        let c = self.e3.update(b)?;
        Some(c + (3.0 * a - 3.0 * b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn dema_and_tema_first_values() {
        // n = 2, α = 2/3. EMA: x = 1, 2 → 1.5; 3 → 2.5; 4 → 3.5; 5 → 4.5 (a constant-slope
        // input makes every EMA lag by exactly (1/α − 1) = 0.5 per level).
        let mut d = Dema::new(2);
        let mut t = Tema::new(2);
        let xs = [1.0, 2.0, 3.0, 4.0, 5.0];
        let ds: Vec<_> = xs.iter().map(|&x| d.update(x)).collect();
        let ts: Vec<_> = xs.iter().map(|&x| t.update(x)).collect();
        assert_eq!(ds[..2], [None, None]);
        // EMA(EMA) seeds on (1.5, 2.5) → 2.0 at x = 3: DEMA = 2·2.5 − 2 = 3.
        assert_eq!(ds[2], Some(3.0));
        assert_eq!(ts[..3], [None, None, None]);
        // e2 = 2 + ⅔(3.5 − 2) = 3 at x = 4; e3 seeds on (2, 3) → 2.5: TEMA = 2.5 + 3·3.5 − 3·3 = 4.
        assert!((ts[3].unwrap() - 4.0).abs() < 1e-12);
        // x = 5: e1 = 4.5, e2 = 3 + ⅔(4.5 − 3) = 4, e3 = 2.5 + ⅔(4 − 2.5) = 3.5: TEMA = 3.5 + 13.5 − 12 = 5.
        assert!((ts[4].unwrap() - 5.0).abs() < 1e-12);
    }
}
