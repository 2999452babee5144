//! Average Directional Index with +DI and −DI (TA-Lib `ADX`, `PLUS_DI`, `MINUS_DI`).
//!
//! Per bar (from the second): `up = h_t − h_{t-1}`, `down = l_{t-1} − l_t`;
//! `+DM = up` if `up > 0 && up > down`, `−DM = down` if `down > 0 && down > up`, else 0;
//! `TR` is the true range. Over bars 1..n−1 the three are summed; from bar n on they are
//! smoothed Wilder's way without dividing, `S_t = S_{t-1} − S_{t-1}/n + v_t` (the first
//! smoothing step at bar n completes TA-Lib's seed). Then
//! `+DI = 100·(+DM_s / TR_s)`, `−DI = 100·(−DM_s / TR_s)` (0 when TR_s is zero), from index n;
//! `DX = 100·|−DI − +DI| / (−DI + +DI)`; `ADX` is seeded with the mean of the first `n` DX
//! (bars n..2n−1, so the first ADX is at index 2n − 1) and then smoothed
//! `ADX_t = (ADX_{t-1}·(n − 1) + DX_t) / n`.
//!
//! This is exactly TA-Lib's seeding with its default unstable period of 0, including its
//! edge cases: a DX is skipped (the ADX carries over; the seed still divides by n) when the
//! smoothed TR or `+DI + −DI` is zero (`TA_IS_ZERO`, |v| < 1e-14).

use super::atr::true_range;
use super::window::ta_is_zero;

/// One ADX reading; each part is `None` until it has its first value.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AdxOutput {
    pub adx: Option<f64>,
    pub plus_di: Option<f64>,
    pub minus_di: Option<f64>,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Adx {
    n: usize,
    prev: Option<(f64, f64, f64)>,
    /// Index of the last bar seen (0 = first).
    bar: usize,
    plus_dm: f64,
    minus_dm: f64,
    tr: f64,
    sum_dx: f64,
    adx: f64,
}

impl Adx {
    /// `n` is clamped to at least 1.
    pub fn new(n: usize) -> Adx {
        Adx { n: n.max(1), prev: None, bar: 0, plus_dm: 0.0, minus_dm: 0.0, tr: 0.0, sum_dx: 0.0, adx: 0.0 }
    }

    pub fn period(&self) -> usize {
        self.n
    }

    #[inline]
    pub fn update(&mut self, high: f64, low: f64, close: f64) -> AdxOutput {
        let Some((ph, pl, pc)) = self.prev.replace((high, low, close)) else {
            return AdxOutput::default();
        };
        self.bar += 1;
        let (i, n, nf) = (self.bar, self.n, self.n as f64);
        let diff_p = high - ph;
        let diff_m = pl - low;
        let tr = true_range(high, low, pc);
        let minus = diff_m > 0.0 && diff_p < diff_m;
        let plus = !minus && diff_p > 0.0 && diff_p > diff_m;
        if i < n {
            if minus {
                self.minus_dm += diff_m;
            } else if plus {
                self.plus_dm += diff_p;
            }
            self.tr += tr;
            return AdxOutput::default();
        }
        self.minus_dm -= self.minus_dm / nf;
        self.plus_dm -= self.plus_dm / nf;
        if minus {
            self.minus_dm += diff_m;
        } else if plus {
            self.plus_dm += diff_p;
        }
        self.tr = self.tr - (self.tr / nf) + tr;

        let mut out = AdxOutput::default();
        let mut dx = None;
        if ta_is_zero(self.tr) {
            out.plus_di = Some(0.0);
            out.minus_di = Some(0.0);
        } else {
            let minus_di = 100.0 * (self.minus_dm / self.tr);
            let plus_di = 100.0 * (self.plus_dm / self.tr);
            out.plus_di = Some(plus_di);
            out.minus_di = Some(minus_di);
            let sum = minus_di + plus_di;
            if !ta_is_zero(sum) {
                dx = Some(100.0 * ((minus_di - plus_di).abs() / sum));
            }
        }
        let last_seed = 2 * n - 1;
        if i < last_seed {
            self.sum_dx += dx.unwrap_or(0.0);
        } else if i == last_seed {
            self.sum_dx += dx.unwrap_or(0.0);
            self.adx = self.sum_dx / nf;
            out.adx = Some(self.adx);
        } else {
            if let Some(dx) = dx {
                self.adx = (self.adx * (nf - 1.0) + dx) / nf;
            }
            out.adx = Some(self.adx);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adx_hand_checked_n2() {
        let mut a = Adx::new(2);
        assert_eq!(a.update(10.0, 8.0, 9.0), AdxOutput::default());
        // Bar 1: up 2, down −1 → +DM 2; TR max(3, 3, 0) = 3. Raw sums only.
        assert_eq!(a.update(12.0, 9.0, 11.0), AdxOutput::default());
        // Bar 2: up −1, down 2 → −DM 2; TR max(3, 0, 4) = 4.
        // +DM 2 − 1 = 1, −DM 0 − 0 + 2 = 2, TR 3 − 1.5 + 4 = 5.5 → +DI 100/5.5, −DI 200/5.5.
        let o = a.update(11.0, 7.0, 8.0);
        assert!((o.plus_di.unwrap() - 100.0 / 5.5).abs() < 1e-12);
        assert!((o.minus_di.unwrap() - 200.0 / 5.5).abs() < 1e-12);
        assert_eq!(o.adx, None);
        // DX at bar 2 = 100·|200 − 100|/300 = 33.33…
        // Bar 3: up 1, down −1 → +DM 1; TR max(4, 4, 0) = 4.
        // +DM 1 − 0.5 + 1 = 1.5, −DM 2 − 1 = 1, TR 5.5 − 2.75 + 4 = 6.75; DX = 100·0.5/2.5 = 20.
        // ADX = (33.33… + 20)/2
        let o = a.update(12.0, 8.0, 10.0);
        assert!((o.adx.unwrap() - (100.0 / 3.0 + 20.0) / 2.0).abs() < 1e-9);
        assert!((o.plus_di.unwrap() - 100.0 * 1.5 / 6.75).abs() < 1e-12);
    }

    #[test]
    fn flat_bars_give_zero_di_and_carry_adx() {
        let mut a = Adx::new(2);
        for _ in 0..3 {
            a.update(5.0, 5.0, 5.0);
        }
        let o = a.update(5.0, 5.0, 5.0);
        assert_eq!(o, AdxOutput { adx: Some(0.0), plus_di: Some(0.0), minus_di: Some(0.0) });
    }
}
