//! Mean reversion on Bollinger Bands: buy a close below the lower band, sell one above the
//! upper band, and step aside once price is back at the middle.

use super::{Ctx, Strategy};
use crate::candle::Candle;
use crate::indicators::IndicatorSpec;

#[derive(serde::Serialize, serde::Deserialize)]
pub struct BollingerReversion {
    period: usize,
    k: f64,
    qty: i64,
    allow_short: bool,
}

impl BollingerReversion {
    pub fn new(period: usize, k: f64, qty: u64, allow_short: bool) -> Self {
        BollingerReversion { period, k, qty: qty as i64, allow_short }
    }
}

impl Strategy for BollingerReversion {
    crate::strategy_state_by_serde!();

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
    use crate::strategy::testing::run_bars;
    use crate::types::Price;

    #[test]
    fn buys_the_dip_and_exits_at_the_middle() {
        let closes: Vec<Price> = [100, 101, 99, 100, 100, 90, 95, 101, 130].iter().map(|c| Price(*c)).collect();
        // Long at 90 (below the lower band), held at 95, flat at 101 (back above the middle);
        // 130 is above the upper band but long-only stays flat.
        let positions = run_bars(Box::new(BollingerReversion::new(5, 1.5, 5, false)), &closes);
        assert_eq!(positions, vec![5, 0]);
    }

    #[test]
    fn shorts_the_spike_when_allowed() {
        let closes: Vec<Price> = [100, 101, 99, 100, 100, 112, 100].iter().map(|c| Price(*c)).collect();
        let positions = run_bars(Box::new(BollingerReversion::new(5, 1.5, 5, true)), &closes);
        assert_eq!(positions, vec![-5, 0]);
    }
}
