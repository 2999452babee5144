//! True range and Average True Range (TA-Lib `TRANGE`, `ATR`).
//!
//! `TR_t = max(h_t − l_t, |h_t − c_{t-1}|, |l_t − c_{t-1}|)`, defined from the second bar.
//! `ATR` is seeded with the plain mean of the first `n` true ranges (bars 1..=n, so the first
//! value is at index n) and then smoothed Wilder's way, `ATR_t = (ATR_{t-1}·(n − 1) + TR_t) / n`.
//! That is TA-Lib's seeding with its default unstable period of 0 (the Python wrapper's
//! default); the first bar, which has no previous close, contributes no true range, exactly as
//! in TA-Lib.

/// True range of a bar given the previous close, in TA-Lib's comparison order.
#[inline]
pub fn true_range(high: f64, low: f64, prev_close: f64) -> f64 {
    let mut tr = high - low;
    let up = (high - prev_close).abs();
    if up > tr {
        tr = up;
    }
    let down = (low - prev_close).abs();
    if down > tr {
        tr = down;
    }
    tr
}

/// Average True Range with Wilder's smoothing, first value at the (n + 1)-th bar.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Atr {
    n: usize,
    prev_close: Option<f64>,
    seen: usize,
    sum: f64,
    value: f64,
}

impl Atr {
    /// `n` is clamped to at least 1 (`n = 1` is the true range itself).
    pub fn new(n: usize) -> Atr {
        Atr { n: n.max(1), prev_close: None, seen: 0, sum: 0.0, value: 0.0 }
    }

    pub fn period(&self) -> usize {
        self.n
    }

    #[inline]
    pub fn update(&mut self, high: f64, low: f64, close: f64) -> Option<f64> {
        let prev_close = self.prev_close.replace(close)?;
        let tr = true_range(high, low, prev_close);
        let n = self.n as f64;
        if self.seen < self.n {
            self.seen += 1;
            self.sum += tr;
            if self.seen < self.n {
                return None;
            }
            self.value = self.sum / n;
        } else {
            self.value = (self.value * (n - 1.0) + tr) / n;
        }
        Some(self.value)
    }

    #[inline]
    pub fn value(&self) -> Option<f64> {
        (self.seen >= self.n).then_some(self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn true_range_uses_gaps() {
        assert_eq!(true_range(12.0, 10.0, 11.0), 2.0);
        assert_eq!(true_range(12.0, 10.0, 15.0), 5.0);
        assert_eq!(true_range(12.0, 10.0, 7.0), 5.0);
    }

    #[test]
    fn atr_seeds_with_mean_then_wilder() {
        let mut a = Atr::new(2);
        assert_eq!(a.update(11.0, 9.0, 10.0), None); // no previous close: no TR
        assert_eq!(a.update(12.0, 10.0, 11.0), None); // TR 2
        assert_eq!(a.update(12.0, 8.0, 9.0), Some(3.0)); // TR 4 → mean 3
        assert_eq!(a.update(10.0, 9.0, 9.5), Some(2.0)); // TR 1 → (3 + 1)/2
    }
}
