//! On-Balance Volume (TA-Lib `OBV`).
//!
//! `OBV_0 = v_0`; then `OBV_t = OBV_{t-1} + v_t` if `c_t > c_{t-1}`, `− v_t` if `c_t < c_{t-1}`,
//! unchanged on an equal close. Starting from the first bar's volume (not 0) is TA-Lib's
//! convention; it only shifts the series by a constant. Valid from the first bar.

#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Obv {
    prev_close: Option<f64>,
    value: f64,
}

impl Obv {
    pub fn new() -> Obv {
        Obv::default()
    }

    #[inline]
    pub fn update(&mut self, close: f64, volume: f64) -> f64 {
        match self.prev_close {
            None => self.value = volume,
            Some(p) if close > p => self.value += volume,
            Some(p) if close < p => self.value -= volume,
            Some(_) => {}
        }
        self.prev_close = Some(close);
        self.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn obv_hand_checked() {
        let mut o = Obv::new();
        assert_eq!(o.update(10.0, 100.0), 100.0);
        assert_eq!(o.update(11.0, 50.0), 150.0);
        assert_eq!(o.update(11.0, 70.0), 150.0);
        assert_eq!(o.update(9.0, 200.0), -50.0);
    }
}
