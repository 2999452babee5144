//! Trend following on two EMAs of the close: long when the fast one crosses above the slow one,
//! short (or flat) when it crosses below.

use super::period;
use crate::stages::strategy::{Ctx, ParamError, Strategy, StrategyEnv};
use crate::model::Candle;
use crate::indicators::IndicatorSpec;

/// Parameters of [`EmaCross`]: the two EMA periods, in bars.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmaCrossParams {
    pub fast: usize,
    pub slow: usize,
}

#[derive(serde::Serialize, serde::Deserialize)]
pub struct EmaCross {
    fast: usize,
    slow: usize,
    /// Sign of (fast − slow) at the previous bar; 0 until both are ready.
    last_sign: i8,
    qty: i64,
    allow_short: bool,
}

impl EmaCross {
    /// `qty` is the position size in units (a whole number of lots, checked by config).
    fn from_values(fast: usize, slow: usize, qty: u64, allow_short: bool) -> Self {
        EmaCross { fast, slow, last_sign: 0, qty: qty as i64, allow_short }
    }
}

impl Strategy for EmaCross {
    const KIND: &'static str = "ema_cross";
    type Params = EmaCrossParams;

    fn new(p: &EmaCrossParams, env: &StrategyEnv<'_>) -> Result<Self, ParamError> {
        period("fast", p.fast)?;
        period("slow", p.slow)?;
        if p.fast >= p.slow {
            return Err(ParamError::new("fast", format!("must be less than slow ({} ≥ {})", p.fast, p.slow)));
        }
        Ok(EmaCross::from_values(p.fast, p.slow, env.qty, env.allow_short))
    }

    fn indicators(&self) -> Vec<IndicatorSpec> {
        vec![IndicatorSpec::Ema(self.fast), IndicatorSpec::Ema(self.slow)]
    }

    fn on_candle(&mut self, _candle: &Candle, ctx: &mut Ctx<'_>) {
        let (Some(f), Some(s)) = (ctx.value(0), ctx.value(1)) else { return };
        let sign = if f > s {
            1
        } else if f < s {
            -1
        } else {
            0
        };
        let prev = self.last_sign;
        if sign != 0 {
            self.last_sign = sign;
        }
        if prev == 0 || sign == 0 || sign == prev {
            return;
        }
        ctx.target(if sign > 0 {
            self.qty
        } else if self.allow_short {
            -self.qty
        } else {
            0
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::strategy::testing::run_bars;
    use crate::model::Price;

    fn closes(v: &[i64]) -> Vec<Price> {
        v.iter().map(|c| Price(c * 100)).collect()
    }

    const SERIES: [i64; 13] = [10, 10, 10, 10, 9, 8, 7, 12, 14, 15, 15, 9, 5];

    #[test]
    fn signals_only_on_crosses() {
        let positions = run_bars(EmaCross::from_values(2, 4, 10, true), &closes(&SERIES));
        assert_eq!(positions, vec![10, -10]);
    }

    #[test]
    fn long_only_goes_flat() {
        let positions = run_bars(EmaCross::from_values(2, 4, 10, false), &closes(&SERIES));
        assert_eq!(positions, vec![10, 0]);
    }
}
