//! Opening-range breakout. The first minutes of the NSE normal session (09:15 IST onward) are
//! where overnight news is priced in; the high and low of that window are levels many
//! participants watch, and a close beyond one of them after the window has closed is taken as
//! the day's direction.
//!
//! - While a bar lies inside `[open, open + range_minutes]` (IST, from `candle.start`/`end`),
//!   its high and low widen the day's range. Nothing is traded inside the window.
//! - After the window: the first close above the range high buys `qty`; the first close below
//!   the range low sells `qty` short if `allow_short`. One entry per day: once entered (or once
//!   stopped out) the strategy waits for the next session.
//! - With `range_stop`, once the entry has filled, a stop-market order for the whole position
//!   rests at the other side of the range (the range low for a long, the high for a short); it
//!   is placed on the first tick or bar after the fill and cancelled when the strategy goes flat.
//! - At `exit_time` (default 15:15, before the broker's MIS square-off) the bar whose end reaches
//!   it cancels the stop and closes the position with a market order; no entry is taken on or
//!   after that bar.
//!
//! A day with no bar inside the window (a strategy started late) has no range and no trade.
//! Time bars should divide the window (config checks this), or the bar that straddles its end
//! counts for neither the range nor a breakout.

use crate::stages::strategy::{Ctx, ParamError, Strategy, StrategyEnv};
use crate::model::Candle;
use crate::model::Tick;
use crate::model::time::NANOS_PER_MIN;
use crate::model::{BarSpec, IstTime, OrderType, Price, Qty, Side, Timestamp};

/// Parameters of [`OpeningRangeBreakout`]: the opening window in minutes, the IST time to be
/// flat by, and whether a stop rests at the other side of the range once in a position.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrbParams {
    #[serde(default = "default_range")]
    pub range_minutes: u32,
    #[serde(default = "super::default_exit")]
    pub exit_time: IstTime,
    #[serde(default = "default_stop")]
    pub range_stop: bool,
}

fn default_range() -> u32 {
    15
}

fn default_stop() -> bool {
    true
}

#[derive(serde::Serialize, serde::Deserialize)]
pub struct OpeningRangeBreakout {
    qty: i64,
    allow_short: bool,
    stop: bool,
    /// Window start and end, and the flat time, as ns since midnight IST.
    open: i64,
    range_end: i64,
    exit: i64,
    /// IST midnight of the day the state below belongs to.
    day: Option<Timestamp>,
    high: Price,
    low: Price,
    has_range: bool,
    /// An entry was sent today: no other until tomorrow.
    entered: bool,
    /// The exit time has passed today.
    closed: bool,
}

impl OpeningRangeBreakout {
    /// `open` is the session open (09:15 on NSE); `range_minutes` the opening window; `exit`
    /// the time to be flat by; `stop` rests a stop at the other side of the range.
    fn from_values(open: IstTime, range_minutes: u32, exit: IstTime, qty: u64, allow_short: bool, stop: bool) -> Self {
        OpeningRangeBreakout {
            qty: qty as i64,
            allow_short,
            stop,
            open: open.0,
            range_end: open.0 + range_minutes as i64 * NANOS_PER_MIN,
            exit: exit.0,
            day: None,
            high: Price::ZERO,
            low: Price::ZERO,
            has_range: false,
            entered: false,
            closed: false,
        }
    }

    fn new_day(&mut self, day: Timestamp) {
        if self.day != Some(day) {
            self.day = Some(day);
            self.has_range = false;
            self.entered = false;
            self.closed = false;
        }
    }

    /// Quantity resting in our stop orders on `side`.
    fn stop_qty(ctx: &Ctx<'_>, side: Side) -> u64 {
        ctx.open_orders()
            .iter()
            .filter(|o| o.intent.order_type == OrderType::StopMarket && o.intent.side == side)
            .map(|o| o.remaining.0)
            .sum()
    }

    fn cancel_stops(ctx: &mut Ctx<'_>) {
        for k in 0..ctx.open_orders().len() {
            let o = ctx.open_orders()[k];
            if o.intent.order_type == OrderType::StopMarket {
                ctx.cancel(o.id);
            }
        }
    }

    /// Keeps one stop for the position at the other side of the range; none when flat.
    fn manage_stop(&self, ctx: &mut Ctx<'_>) {
        let pos = ctx.position();
        if pos == 0 {
            Self::cancel_stops(ctx);
            return;
        }
        if !self.stop || !self.has_range {
            return;
        }
        let (side, trigger, working) = if pos > 0 {
            (Side::Sell, self.low, ctx.book().working_sell)
        } else {
            (Side::Buy, self.high, ctx.book().working_buy)
        };
        // Anything already working on the closing side (a stop not yet acknowledged, an exit)
        // means there is nothing to add.
        if working.is_zero() && Self::stop_qty(ctx, side) == 0 {
            ctx.stop(side, Qty(pos.unsigned_abs()), trigger);
        }
    }

    /// Cancels the stop and closes the position with a market order.
    fn flatten(&self, ctx: &mut Ctx<'_>) {
        let pos = ctx.position();
        let side = if pos > 0 { Side::Sell } else { Side::Buy };
        let stop_qty = Self::stop_qty(ctx, side);
        Self::cancel_stops(ctx);
        let working = if pos > 0 { ctx.book().working_sell } else { ctx.book().working_buy };
        // Working quantity beyond the stops is an exit already on its way.
        if pos != 0 && working.0 <= stop_qty {
            ctx.market(side, Qty(pos.unsigned_abs()));
        }
    }
}

impl Strategy for OpeningRangeBreakout {
    const KIND: &'static str = "orb";
    type Params = OrbParams;

    fn new(p: &OrbParams, env: &StrategyEnv<'_>) -> Result<Self, ParamError> {
        let range_minutes = p.range_minutes;
        if range_minutes == 0 {
            return Err(ParamError::new("range_minutes", "must be at least 1"));
        }
        let window = i64::from(range_minutes) * NANOS_PER_MIN;
        if let BarSpec::Time(tf) = env.timeframe {
            if window % tf.0 != 0 {
                return Err(ParamError::new(
                    "range_minutes",
                    format!("{range_minutes} minutes is not a whole number of {tf} bars"),
                ));
            }
        }
        let (open, close) = (env.session.open, env.session.close);
        if !(p.exit_time.0 > open.0 + window && p.exit_time <= close) {
            return Err(ParamError::new(
                "exit_time",
                format!(
                    "{} is not a time after the opening range ({range_minutes} minutes from {open}) and no \
                     later than session_close ({close})",
                    p.exit_time
                ),
            ));
        }
        Ok(OpeningRangeBreakout::from_values(open, range_minutes, p.exit_time, env.qty, env.allow_short, p.range_stop))
    }

    fn on_candle(&mut self, candle: &Candle, ctx: &mut Ctx<'_>) {
        self.new_day(candle.start.ist_midnight());
        let start = candle.start.ist_time_of_day();
        let end = candle.end.ist_time_of_day();
        if start >= self.open && end <= self.range_end {
            if self.has_range {
                self.high = self.high.max(candle.high);
                self.low = self.low.min(candle.low);
            } else {
                (self.high, self.low, self.has_range) = (candle.high, candle.low, true);
            }
            return;
        }
        if start < self.range_end || candle.amended {
            return;
        }
        if end >= self.exit {
            self.closed = true;
            self.flatten(ctx);
            return;
        }
        if !self.entered && self.has_range && ctx.position() == 0 && ctx.projected() == 0 {
            if candle.close > self.high {
                self.entered = true;
                ctx.market(Side::Buy, Qty(self.qty as u64));
                return;
            }
            if candle.close < self.low && self.allow_short {
                self.entered = true;
                ctx.market(Side::Sell, Qty(self.qty as u64));
                return;
            }
        }
        self.manage_stop(ctx);
    }

    fn on_tick(&mut self, tick: &Tick, ctx: &mut Ctx<'_>) {
        if !self.entered || self.closed || self.day != Some(tick.ts.ist_midnight()) {
            return;
        }
        self.manage_stop(ctx);
    }

    /// Ticks place the stop as soon as the entry fills, not a bar later.
    fn wants_ticks(&self) -> bool {
        self.stop
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::strategy::testing::{at, m1, Harness, Sent};
    use crate::model::OrderType::{Market, StopMarket};

    fn orb(range: u32, short: bool, stop: bool) -> OpeningRangeBreakout {
        OpeningRangeBreakout::from_values(IstTime::hm(9, 15), range, IstTime::hm(15, 15), 10, short, stop)
    }

    fn market(id: u64, side: Side) -> Sent {
        Sent::Order { id, side, qty: 10, kind: Market, price: 0, trigger: 0 }
    }

    fn stop(id: u64, side: Side, trigger: i64) -> Sent {
        Sent::Order { id, side, qty: 10, kind: StopMarket, price: 0, trigger }
    }

    /// Fifteen one-minute bars 09:15–09:30 with a high of 105.00 (bar 7) and a low of 98.00
    /// (bar 3); a close above the running high inside the window (bar 12) does not trade.
    fn range(h: &mut Harness) {
        for k in 0..15 {
            let (hi, lo, c) = match k {
                3 => (10_100, 9_800, 9_900),
                7 => (10_500, 10_000, 10_400),
                12 => (10_450, 10_300, 10_450),
                _ => (10_200, 10_000, 10_100),
            };
            assert_eq!(h.candle(m1(k, 10_100, hi, lo, c)), vec![], "bar {k} is inside the range");
        }
    }

    #[test]
    fn breaks_out_long_rests_a_stop_at_the_low_and_is_flat_at_exit_time() {
        let mut h = Harness::new(orb(15, true, true));
        range(&mut h);
        // 09:30 closes at the high: not above it.
        assert_eq!(h.candle(m1(15, 10_400, 10_500, 10_300, 10_500)), vec![]);
        // 09:31 closes above 105.00: buy, filled at the close.
        assert_eq!(h.candle(m1(16, 10_450, 10_600, 10_400, 10_550)), vec![market(1, Side::Buy)]);
        assert_eq!(h.position(), 10);
        // The next trade rests a sell stop at the range low, once.
        assert_eq!(h.tick(at(17), 10_560, 1), vec![stop(2, Side::Sell, 9_800)]);
        assert_eq!(h.tick(at(17), 10_570, 1), vec![]);
        // A close back inside the range neither adds nor reverses.
        assert_eq!(h.candle(m1(17, 10_550, 10_600, 9_900, 9_950)), vec![]);
        // 14:15: nothing.
        assert_eq!(h.candle(m1(300, 10_550, 10_600, 10_400, 10_500)), vec![]);
        // The bar ending 15:15 cancels the stop and sells the position.
        assert_eq!(h.candle(m1(359, 10_550, 10_600, 10_400, 10_500)), vec![Sent::Cancel(2), market(3, Side::Sell)]);
        assert_eq!(h.position(), 0);
        assert!(h.orders().is_empty());
        assert_eq!(h.candle(m1(360, 10_550, 10_600, 10_400, 10_700)), vec![]);
    }

    #[test]
    fn breaks_down_short_is_stopped_at_the_high_and_trades_once_a_day() {
        let mut h = Harness::new(orb(15, true, true));
        range(&mut h);
        assert_eq!(h.candle(m1(20, 9_900, 9_950, 9_700, 9_750)), vec![market(1, Side::Sell)]);
        assert_eq!(h.position(), -10);
        // Without a tick in between, the next bar places the stop.
        assert_eq!(h.candle(m1(21, 9_750, 9_800, 9_700, 9_760)), vec![stop(2, Side::Buy, 10_500)]);
        h.fill(2, 10, 10_500);
        assert_eq!(h.position(), 0);
        assert!(h.orders().is_empty());
        // Stopped out: a later breakout the same day is not taken.
        assert_eq!(h.candle(m1(40, 10_500, 10_700, 10_500, 10_650)), vec![]);
        assert_eq!(h.tick(at(41), 10_650, 1), vec![]);
        // Monday: a new range (100.00–101.00), then a long breakout.
        let day = 3 * 24 * 60;
        for k in 0..15 {
            assert_eq!(h.candle(m1(day + k, 10_050, 10_100, 10_000, 10_050)), vec![]);
        }
        assert_eq!(h.candle(m1(day + 15, 10_050, 10_150, 10_050, 10_120)), vec![market(3, Side::Buy)]);
        assert_eq!(h.position(), 10);
    }

    #[test]
    fn long_only_ignores_a_breakdown_and_no_stop_when_disabled() {
        let mut h = Harness::new(orb(15, false, false));
        range(&mut h);
        assert_eq!(h.candle(m1(16, 9_900, 9_950, 9_700, 9_750)), vec![]);
        assert_eq!(h.candle(m1(17, 10_450, 10_600, 10_400, 10_550)), vec![market(1, Side::Buy)]);
        assert_eq!(h.tick(at(18), 10_560, 1), vec![], "no stop without range_stop");
        assert_eq!(h.candle(m1(18, 10_550, 10_600, 9_000, 9_100)), vec![]);
        assert_eq!(h.candle(m1(359, 9_100, 9_200, 9_000, 9_100)), vec![market(2, Side::Sell)]);
        assert_eq!(h.position(), 0);
    }

    #[test]
    fn a_short_window_and_a_late_start() {
        // 5-minute window: bars 0..5 form it, bar 5 (09:20) may break out.
        let mut h = Harness::new(orb(5, true, false));
        for k in 0..5 {
            assert_eq!(h.candle(m1(k, 10_000, 10_100, 9_900, 10_000)), vec![]);
        }
        assert_eq!(h.candle(m1(5, 10_000, 10_200, 10_000, 10_150)), vec![market(1, Side::Buy)]);
        // A strategy whose first bar comes after the window has no range that day.
        let mut late = Harness::new(orb(5, true, false));
        assert_eq!(late.candle(m1(30, 10_000, 10_200, 10_000, 10_150)), vec![]);
        assert_eq!(late.candle(m1(31, 10_000, 10_200, 9_000, 9_100)), vec![]);
    }
}
