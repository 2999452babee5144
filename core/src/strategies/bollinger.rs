//! Mean reversion on Bollinger Bands: buy a close below the lower band, sell one above the
//! upper band, and step aside once price is back at the middle.

use super::period;
use crate::stages::strategy::{Ctx, ParamError, Strategy, StrategyEnv};
use crate::model::Candle;
use crate::indicators::IndicatorSpec;

/// Parameters of [`BollingerReversion`]: the band's period in bars (at least 2 is used) and
/// its width in standard deviations.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BollingerParams {
    pub period: usize,
    #[serde(default = "default_k")]
    pub k: f64,
}

fn default_k() -> f64 {
    2.0
}

#[derive(serde::Serialize, serde::Deserialize)]
pub struct BollingerReversion {
    period: usize,
    k: f64,
    qty: i64,
    allow_short: bool,
}

impl BollingerReversion {
    fn from_values(period: usize, k: f64, qty: u64, allow_short: bool) -> Self {
        BollingerReversion { period, k, qty: qty as i64, allow_short }
    }
}

impl Strategy for BollingerReversion {
    const KIND: &'static str = "bollinger";
    type Params = BollingerParams;

    fn new(p: &BollingerParams, env: &StrategyEnv<'_>) -> Result<Self, ParamError> {
        period("period", p.period)?;
        if !(p.k.is_finite() && p.k > 0.0) {
            return Err(ParamError::new("k", "must be a positive number"));
        }
        Ok(BollingerReversion::from_values(p.period.max(2), p.k, env.qty, env.allow_short))
    }

    fn indicators(&self) -> Vec<IndicatorSpec> {
        vec![IndicatorSpec::Bbands { period: self.period, k: self.k }]
    }

    fn on_candle(&mut self, candle: &Candle, ctx: &mut Ctx<'_>) {
        let [Some(upper), Some(middle), Some(lower)] = ctx.indicator(0) else { return };
        let (upper, middle, lower) = (*upper, *middle, *lower);
        let close = candle.close.as_f64();
        let held = ctx.projected();
        if close < lower {
            ctx.target(self.qty);
        } else if close > upper {
            ctx.target(if self.allow_short { -self.qty } else { 0 });
        } else if (held > 0 && close >= middle) || (held < 0 && close <= middle) {
            ctx.target(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::strategy::testing::run_bars;
    use crate::model::Price;

    #[test]
    fn buys_the_dip_and_exits_at_the_middle() {
        let closes: Vec<Price> = [100, 101, 99, 100, 100, 90, 95, 101, 130].iter().map(|c| Price(*c)).collect();
        // Long at 90 (below the lower band), held at 95, flat at 101 (back above the middle);
        // 130 is above the upper band but long-only stays flat.
        let positions = run_bars(BollingerReversion::from_values(5, 1.5, 5, false), &closes);
        assert_eq!(positions, vec![5, 0]);
    }

    #[test]
    fn shorts_the_spike_when_allowed() {
        let closes: Vec<Price> = [100, 101, 99, 100, 100, 112, 100].iter().map(|c| Price(*c)).collect();
        let positions = run_bars(BollingerReversion::from_values(5, 1.5, 5, true), &closes);
        assert_eq!(positions, vec![-5, 0]);
    }
}
