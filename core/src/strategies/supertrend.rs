//! Trend following on SuperTrend: long when its direction turns up (a close above the upper
//! ATR band), short — or flat when shorting is off — when it turns down (a close below the
//! trailing lower band). The line trails price by `multiplier`·ATR(`period`), so the strategy
//! rides a trend until a move against it larger than normal volatility, and ignores chop
//! inside the bands. It trades only on turns: the first reading sets the direction without
//! an order, as a trend already under way is not a fresh signal.
//!
//! Orders are intraday (MIS), which the broker squares off near the close, so the bar whose
//! end reaches `exit_time` (default 15:15) closes the position and no turn opens one again
//! until the next session (the direction is still followed, so the next turn trades).

use crate::indicators::MAX_PERIOD;
use crate::stages::strategy::{Ctx, ParamError, Strategy, StrategyEnv};
use crate::model::Candle;
use crate::indicators::IndicatorSpec;
use crate::model::IstTime;

/// Parameters of [`SupertrendFollow`]: the ATR period, the band width in ATRs, and the IST
/// time to be flat by.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupertrendParams {
    #[serde(default = "default_period")]
    pub period: usize,
    #[serde(default = "default_multiplier")]
    pub multiplier: f64,
    #[serde(default = "super::default_exit")]
    pub exit_time: IstTime,
}

fn default_period() -> usize {
    10
}

fn default_multiplier() -> f64 {
    3.0
}

#[derive(serde::Serialize, serde::Deserialize)]
pub struct SupertrendFollow {
    period: usize,
    multiplier: f64,
    qty: i64,
    allow_short: bool,
    /// Direction at the previous bar: +1 up, −1 down, 0 before the first reading.
    last_dir: i8,
    /// Flat time, ns since midnight IST.
    exit: i64,
}

impl SupertrendFollow {
    /// `period` is the ATR period, `multiplier` the band width in ATRs, `exit` the time to be
    /// flat by.
    fn from_values(period: usize, multiplier: f64, qty: u64, allow_short: bool, exit: IstTime) -> Self {
        SupertrendFollow { period, multiplier, qty: qty as i64, allow_short, last_dir: 0, exit: exit.0 }
    }
}

impl Strategy for SupertrendFollow {
    const KIND: &'static str = "supertrend";
    type Params = SupertrendParams;

    fn new(p: &SupertrendParams, env: &StrategyEnv<'_>) -> Result<Self, ParamError> {
        if !(1..=MAX_PERIOD).contains(&p.period) {
            return Err(ParamError::new("period", format!("must be between 1 and {MAX_PERIOD}")));
        }
        if !(p.multiplier.is_finite() && p.multiplier > 0.0) {
            return Err(ParamError::new("multiplier", "must be a positive number"));
        }
        super::exit_inside_session(p.exit_time, env)?;
        Ok(SupertrendFollow::from_values(p.period, p.multiplier, env.qty, env.allow_short, p.exit_time))
    }

    fn indicators(&self) -> Vec<IndicatorSpec> {
        vec![IndicatorSpec::Supertrend { period: self.period, multiplier: self.multiplier }]
    }

    fn on_candle(&mut self, candle: &Candle, ctx: &mut Ctx<'_>) {
        let late = candle.end.ist_time_of_day() >= self.exit;
        if late && ctx.projected() != 0 {
            ctx.target(0);
        }
        let Some(&Some(d)) = ctx.indicator(0).get(1) else { return };
        let dir = if d > 0.0 {
            1
        } else if d < 0.0 {
            -1
        } else {
            return;
        };
        let prev = std::mem::replace(&mut self.last_dir, dir);
        if prev == 0 || prev == dir || late {
            return;
        }
        ctx.target(if dir > 0 {
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
    use crate::model::Candle;
    use crate::stages::strategy::testing::{m1, run_candles};

    const EXIT: IstTime = IstTime::hm(15, 15);

    /// The hand-checked series of the indicator's own test (period 2, multiplier 1), in paise:
    /// no reading for bars 0–1, down at bars 2–3, up at bars 4–5 (close 13.00 > upper 12.00),
    /// down at bar 6 (close 9.50 < lower 10.50), then a rally that turns it up again.
    fn series() -> Vec<Candle> {
        let hlc = [
            (1_100, 900, 1_000),
            (1_100, 900, 1_000),
            (1_100, 900, 1_000),
            (1_200, 1_000, 1_200),
            (1_350, 1_150, 1_300),
            (1_300, 1_100, 1_120),
            (1_120, 920, 950),
            (1_000, 900, 950),
            (1_600, 1_400, 1_550),
        ];
        hlc.iter().enumerate().map(|(k, &(h, l, c))| m1(k as i64, c, h, l, c)).collect()
    }

    #[test]
    fn follows_each_turn_long_and_short() {
        let positions = run_candles(SupertrendFollow::from_values(2, 1.0, 10, true, EXIT), &series());
        assert_eq!(positions, vec![10, -10, 10]);
    }

    #[test]
    fn long_only_goes_flat_on_a_down_turn() {
        let positions = run_candles(SupertrendFollow::from_values(2, 1.0, 10, false, EXIT), &series());
        assert_eq!(positions, vec![10, 0, 10]);
    }

    #[test]
    fn flat_at_exit_time_and_no_new_position_after_it() {
        // The same bars, with the last three at 15:13, 15:14 and 15:15: the turn down at
        // 15:13 shorts, the bar ending 15:15 closes it, and the turn up at 15:15 is not taken.
        let mut bars = series();
        for (j, b) in bars.iter_mut().skip(6).enumerate() {
            *b = m1(358 + j as i64, b.open.0, b.high.0, b.low.0, b.close.0);
        }
        let positions = run_candles(SupertrendFollow::from_values(2, 1.0, 10, true, EXIT), &bars);
        assert_eq!(positions, vec![10, -10, 0]);
    }

    #[test]
    fn no_trade_without_a_turn() {
        // Bars 0–3 only: the first reading (down) is not a signal.
        let positions = run_candles(SupertrendFollow::from_values(2, 1.0, 10, true, EXIT), &series()[..4]);
        assert_eq!(positions, Vec::<i64>::new());
    }
}
