//! Money Flow Index (TA-Lib `MFI`).
//!
//! `tp = (h + l + c) / 3`, raw money flow `mf = tp · volume`, counted as positive when `tp`
//! rose from the previous bar, negative when it fell, and in neither sum when it is equal.
//! Over the last `n` flows, `MFI = 100 · Σ⁺ / (Σ⁺ + Σ⁻)`; first value at index n (n flows
//! need n + 1 bars). As in TA-Lib, a total below 1 gives 0 (no volume, no signal).
//!
//! O(1) per bar with TA-Lib's running positive/negative sums (same order of operations, so
//! it agrees with TA-Lib to rounding on finite data); if a sum stops being finite they
//! are rebuilt from the window, recovering once the bad value has left it.

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Mfi {
    prev_tp: Option<f64>,
    pos: Box<[f64]>,
    neg: Box<[f64]>,
    idx: usize,
    len: usize,
    pos_sum: f64,
    neg_sum: f64,
}

impl Mfi {
    /// `n` is clamped to at least 1.
    pub fn new(n: usize) -> Mfi {
        let n = n.max(1);
        Mfi {
            prev_tp: None,
            pos: vec![0.0; n].into_boxed_slice(),
            neg: vec![0.0; n].into_boxed_slice(),
            idx: 0,
            len: 0,
            pos_sum: 0.0,
            neg_sum: 0.0,
        }
    }

    #[inline]
    pub fn update(&mut self, high: f64, low: f64, close: f64, volume: f64) -> Option<f64> {
        let tp = (high + low + close) / 3.0;
        let prev = self.prev_tp.replace(tp)?;
        let n = self.pos.len();
        if self.len == n {
            self.pos_sum -= self.pos[self.idx];
            self.neg_sum -= self.neg[self.idx];
        } else {
            self.len += 1;
        }
        let diff = tp - prev;
        let flow = tp * volume;
        let (p, m) = if diff < 0.0 {
            (0.0, flow)
        } else if diff > 0.0 {
            (flow, 0.0)
        } else {
            (0.0, 0.0)
        };
        self.pos[self.idx] = p;
        self.neg[self.idx] = m;
        self.pos_sum += p;
        self.neg_sum += m;
        self.idx += 1;
        if self.idx == n {
            self.idx = 0;
        }
        if self.len < n {
            return None;
        }
        if !self.pos_sum.is_finite() || !self.neg_sum.is_finite() {
            self.pos_sum = self.pos.iter().sum();
            self.neg_sum = self.neg.iter().sum();
        }
        let total = self.pos_sum + self.neg_sum;
        Some(if total < 1.0 { 0.0 } else { 100.0 * (self.pos_sum / total) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mfi_hand_checked() {
        let mut m = Mfi::new(2);
        assert_eq!(m.update(10.0, 10.0, 10.0, 100.0), None);
        // tp 11 up: +1100
        assert_eq!(m.update(11.0, 11.0, 11.0, 100.0), None);
        // tp 10 down: −2000 → 100·1100/3100
        let v = m.update(10.0, 10.0, 10.0, 200.0).unwrap();
        assert!((v - 100.0 * 1100.0 / 3100.0).abs() < 1e-12);
        // tp 10 equal: neither; window (−2000, 0) → 0
        assert_eq!(m.update(10.0, 10.0, 10.0, 300.0), Some(0.0));
        // tp 10 equal again: both sums 0 → total < 1 → 0
        assert_eq!(m.update(10.0, 10.0, 10.0, 300.0), Some(0.0));
    }
}
