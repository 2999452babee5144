//! Rate of change (TA-Lib `ROC`).
//!
//! `ROC_t = (x_t / x_{t-n} − 1) · 100`, 0 when `x_{t-n}` is 0 (TA-Lib's convention); first
//! value at index n.

use super::window::Ring;

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Roc {
    window: Ring,
}

impl Roc {
    /// `n` is clamped to at least 1.
    pub fn new(n: usize) -> Roc {
        Roc { window: Ring::new(n) }
    }

    #[inline]
    pub fn update(&mut self, x: f64) -> Option<f64> {
        let old = self.window.push(x)?;
        Some(if old != 0.0 { (x / old - 1.0) * 100.0 } else { 0.0 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roc_hand_checked() {
        let mut r = Roc::new(2);
        assert_eq!(r.update(100.0), None);
        assert_eq!(r.update(0.0), None);
        assert!((r.update(110.0).unwrap() - 10.0).abs() < 1e-9);
        assert_eq!(r.update(5.0), Some(0.0)); // base 0
    }
}
