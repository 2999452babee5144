//! Mean reversion to the session VWAP. VWAP (Σ price·qty / Σ qty over the session's trades,
//! reset at each 09:15 open) is the day's average traded price, the benchmark execution desks
//! work orders against; a close far from it is often an order imbalance that fades back.
//!
//! - Buy `qty` on a close below `VWAP·(1 − band_bps/10 000)`.
//! - Sell on a close above `VWAP·(1 + band_bps/10 000)`: short `qty` if `allow_short`, else
//!   only close a long.
//! - Exit (go flat) once a close is back at or through VWAP: a long at `close ≥ VWAP`, a short
//!   at `close ≤ VWAP`.
//!
//! The VWAP comes from [`IndicatorSpec::Vwap`], which the strategy stage feeds every trade of
//! the instrument (not bars), so it is the exact session VWAP at the bar's close. No signal
//! until the session has a trade.
//!
//! Session VWAP is an intraday anchor and the orders are MIS, so the bar whose end reaches
//! `exit_time` (default 15:15, before the broker's square-off) closes the position, and no
//! position is opened after it that day.

use crate::stages::strategy::{Ctx, ParamError, Strategy, StrategyEnv};
use crate::model::Candle;
use crate::indicators::IndicatorSpec;
use crate::model::IstTime;

/// Parameters of [`VwapReversion`]: how far from the session VWAP a close must be to be faded
/// (basis points), and the IST time to be flat by.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VwapReversionParams {
    #[serde(default = "default_band")]
    pub band_bps: u32,
    #[serde(default = "super::default_exit")]
    pub exit_time: IstTime,
}

fn default_band() -> u32 {
    50
}

#[derive(serde::Serialize, serde::Deserialize)]
pub struct VwapReversion {
    /// Band half-width as a fraction of VWAP.
    band: f64,
    qty: i64,
    allow_short: bool,
    /// Flat time, ns since midnight IST.
    exit: i64,
}

impl VwapReversion {
    /// `band_bps`: distance from VWAP, in basis points, beyond which a close is faded; `exit`
    /// the time to be flat by.
    fn from_values(band_bps: u32, qty: u64, allow_short: bool, exit: IstTime) -> Self {
        VwapReversion { band: band_bps as f64 / 10_000.0, qty: qty as i64, allow_short, exit: exit.0 }
    }
}

impl Strategy for VwapReversion {
    const KIND: &'static str = "vwap_reversion";
    type Params = VwapReversionParams;

    fn new(p: &VwapReversionParams, env: &StrategyEnv<'_>) -> Result<Self, ParamError> {
        if !(1..=5_000).contains(&p.band_bps) {
            return Err(ParamError::new("band_bps", format!("{} is not between 1 and 5000", p.band_bps)));
        }
        super::exit_inside_session(p.exit_time, env)?;
        Ok(VwapReversion::from_values(p.band_bps, env.qty, env.allow_short, p.exit_time))
    }

    fn indicators(&self) -> Vec<IndicatorSpec> {
        vec![IndicatorSpec::Vwap]
    }

    fn on_candle(&mut self, candle: &Candle, ctx: &mut Ctx<'_>) {
        if candle.end.ist_time_of_day() >= self.exit {
            ctx.target(0);
            return;
        }
        let Some(vwap) = ctx.value(0).filter(|v| v.is_finite() && *v > 0.0) else { return };
        let close = candle.close.as_f64();
        let held = ctx.projected();
        if close < vwap * (1.0 - self.band) {
            ctx.target(self.qty);
        } else if close > vwap * (1.0 + self.band) {
            ctx.target(if self.allow_short { -self.qty } else { 0 });
        } else if (held > 0 && close >= vwap) || (held < 0 && close <= vwap) {
            ctx.target(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::strategy::testing::{at, m1, Harness, Sent};
    use crate::model::Side;

    const EXIT: IstTime = IstTime::hm(15, 15);

    /// Per minute: one trade (price in paise, qty) in the minute, then the minute's bar closing
    /// at that price. Returns the position after each bar that traded.
    fn run(s: VwapReversion, trades: &[(i64, u64)]) -> Vec<i64> {
        let mut h = Harness::new(s);
        let mut positions = Vec::new();
        for (k, &(p, q)) in trades.iter().enumerate() {
            let k = k as i64;
            assert_eq!(h.tick(at(k), p, q), vec![], "VWAP reversion does not act on ticks");
            let sent = h.candle(m1(k, p, p, p, p));
            if sent.iter().any(|s| matches!(s, Sent::Order { .. })) {
                positions.push(h.position());
            }
        }
        positions
    }

    // VWAP after each trade: 100.00; (10 000·100 + 99·10)/110 = 99.909 (lower band at 50 bps
    // 99.41: 99.00 buys); 99.875 (99.50 holds, under VWAP); 99.885 (100.00 exits the long);
    // 100.03 (upper band 100.53: 101.00 shorts); 100.03 (100.00 covers).
    const TRADES: [(i64, u64); 6] = [(10_000, 100), (9_900, 10), (9_950, 10), (10_000, 10), (10_100, 20), (10_000, 10)];

    #[test]
    fn fades_both_sides_and_exits_at_vwap() {
        assert_eq!(run(VwapReversion::from_values(50, 10, true, EXIT), &TRADES), vec![10, 0, -10, 0]);
    }

    #[test]
    fn long_only_skips_the_short() {
        assert_eq!(run(VwapReversion::from_values(50, 10, false, EXIT), &TRADES), vec![10, 0]);
    }

    #[test]
    fn flat_at_exit_time_and_no_entry_after_it() {
        let mut h = Harness::new(VwapReversion::from_values(50, 10, true, EXIT));
        h.tick(at(356), 10_000, 100);
        assert_eq!(h.candle(m1(356, 10_000, 10_000, 10_000, 10_000)), vec![]);
        h.tick(at(357), 9_900, 10);
        assert_eq!(h.candle(m1(357, 9_900, 9_900, 9_900, 9_900)).len(), 1);
        assert_eq!(h.position(), 10);
        // 15:14–15:15, still below the band: the exit bar sells anyway.
        h.tick(at(358), 9_800, 10);
        assert_eq!(h.candle(m1(358, 9_800, 9_800, 9_800, 9_800)), vec![]);
        h.tick(at(359), 9_700, 10);
        assert_eq!(
            h.candle(m1(359, 9_700, 9_700, 9_700, 9_700)),
            vec![Sent::Order {
                id: 2,
                side: Side::Sell,
                qty: 10,
                kind: crate::model::OrderType::Market,
                price: 0,
                trigger: 0
            }]
        );
        assert_eq!(h.position(), 0);
        h.tick(at(360), 9_000, 10);
        assert_eq!(h.candle(m1(360, 9_000, 9_000, 9_000, 9_000)), vec![]);
    }

    #[test]
    fn a_wider_band_does_not_trade_and_no_vwap_no_signal() {
        assert_eq!(run(VwapReversion::from_values(150, 10, true, EXIT), &TRADES), Vec::<i64>::new());
        // Bars with no session trade behind them (pre-open prints are not in the VWAP).
        let mut h = Harness::new(VwapReversion::from_values(50, 10, true, EXIT));
        assert_eq!(h.tick(at(-10), 10_000, 100), vec![]);
        assert_eq!(h.candle(m1(0, 5_000, 5_000, 5_000, 5_000)), vec![]);
        // The first session trade defines the VWAP; a close 2 % under it buys.
        h.tick(at(1), 10_000, 100);
        assert_eq!(
            h.candle(m1(1, 9_800, 9_800, 9_800, 9_800)),
            vec![Sent::Order {
                id: 1,
                side: Side::Buy,
                qty: 10,
                kind: crate::model::OrderType::Market,
                price: 0,
                trigger: 0
            }]
        );
    }
}
