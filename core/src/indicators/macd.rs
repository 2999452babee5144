//! Moving Average Convergence/Divergence (TA-Lib `MACD`).
//!
//! `MACD = EMA_fast(x) − EMA_slow(x)`, `signal = EMA_signal(MACD)`, `hist = MACD − signal`,
//! every EMA with `α = 2 / (n + 1)` and seeded with the SMA of its first `n` inputs.
//!
//! TA-Lib aligns the two EMAs: the fast EMA does not start at the first bar but is seeded
//! with the SMA of the `fast` inputs that end where the slow EMA's first value is (index
//! slow − 1), i.e. it skips the first `slow − fast` bars. Both EMAs thus start at index
//! slow − 1; the signal EMA is seeded with the SMA of the first `signal` MACD values, and all
//! three outputs start together at index `slow + signal − 2` (33 for 12/26/9) — TA-Lib does
//! not emit the MACD line before the signal exists. A fast period larger than the slow one is
//! swapped, as TA-Lib does.

use super::ema::Ema;

/// One MACD reading.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MacdOutput {
    pub macd: f64,
    pub signal: f64,
    pub hist: f64,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Macd {
    fast: Ema,
    slow: Ema,
    signal: Ema,
    /// Bars the fast EMA skips (slow − fast).
    skip: usize,
    seen: usize,
}

impl Macd {
    /// Periods are clamped to at least 1; `fast > slow` is swapped (TA-Lib).
    pub fn new(fast: usize, slow: usize, signal: usize) -> Macd {
        let (fast, slow) = (fast.max(1), slow.max(1));
        let (fast, slow) = if fast > slow { (slow, fast) } else { (fast, slow) };
        Macd { fast: Ema::new(fast), slow: Ema::new(slow), signal: Ema::new(signal), skip: slow - fast, seen: 0 }
    }

    #[inline]
    pub fn update(&mut self, x: f64) -> Option<MacdOutput> {
        let slow = self.slow.update(x);
        if self.seen < self.skip {
            self.seen += 1;
            return None;
        }
        let fast = self.fast.update(x);
        let macd = fast? - slow?;
        let signal = self.signal.update(macd)?;
        Some(MacdOutput { macd, signal, hist: macd - signal })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macd_aligns_fast_with_slow_and_waits_for_signal() {
        // fast 2, slow 3, signal 2: the fast EMA skips bar 0 and seeds on bars 1..=2.
        let mut m = Macd::new(2, 3, 2);
        let xs = [1.0, 2.0, 4.0, 8.0, 16.0];
        let out: Vec<_> = xs.iter().map(|&x| m.update(x)).collect();
        assert_eq!(out[..3], [None, None, None]);
        // Bar 2: fast = (2 + 4)/2 = 3, slow = 7/3 → macd 2/3.
        // Bar 3: fast = 3 + ⅔(8 − 3) = 19/3, slow = 7/3 + ½(8 − 7/3) = 31/6 → macd 7/6.
        // Signal seeds on (2/3, 7/6) → 11/12; hist 7/6 − 11/12 = 1/4.
        let o = out[3].unwrap();
        assert!((o.macd - 7.0 / 6.0).abs() < 1e-12);
        assert!((o.signal - 11.0 / 12.0).abs() < 1e-12);
        assert!((o.hist - 0.25).abs() < 1e-12);
        assert!(out[4].is_some());
    }
}
