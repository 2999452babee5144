//! Grid trading: resting limit orders on a ladder of prices around a reference, buying each
//! step down and selling each step up, so a market that oscillates inside the ladder is
//! bought low and sold high one step at a time. It earns the step on every round trip and
//! loses when price trends away (inventory piles up on the wrong side), which is why the
//! position is capped.
//!
//! The ladder is fixed at the day's first bar: reference `R` = its close (on the tick grid),
//! step `S` = `R·step_bps/10 000` rounded down to the tick (at least one tick), level `k` at
//! `R + k·S` for `k` in `−levels..=levels`. It starts with `levels` buys of `qty` below `R`
//! and `levels` sells above it. Whenever a level fills, the opposite order goes one step away
//! (a buy filled at `k` puts a sell at `k + 1`; a sell at `k` a buy at `k − 1`): the classic
//! grid. It is kept in state form: the current level `c` is `−p / qty` (truncated), where `p`
//! is the position less what orders still working have filled, so a partial fill moves
//! nothing until its order completes. The wanted orders are buys at the levels in
//! `−levels..c` and sells at the levels in `c+1..=levels`, nearest first, as long as the
//! position if they all filled (counting what already works) stays within `±max_position`
//! (`0..=max_position` when shorting is off, so sells then only unwind inventory): the same
//! sum risk checks, so a grid inside its account's `max_position_qty` is not refused. Working
//! orders not wanted are cancelled first; missing ones are placed at the next decision, once
//! risk has seen the cancels.
//!
//! It re-checks on every bar, and on a trade when its position or its open orders changed
//! (a fill, an acknowledgement), so the opposite order follows a fill at the next trade.
//! While an order it sent is not yet acknowledged it waits, so nothing is sent twice. A level
//! is not sent again on the same side within a second (brokers refuse a duplicate order
//! within 500 ms, and an order refused by risk must not be retried on every trade); a level
//! held back is retried on the first trade after its second is up.
//!
//! It is an intraday (MIS) grid: the bar whose end reaches `exit_time` (default 15:15, before
//! the broker's square-off) cancels every order; then, once nothing is working, market orders
//! of at most `qty` (so `max_order_qty` holds), one a second, close the position, and nothing
//! else is sent that day. The next session builds a new ladder at its first close.

use crate::stages::strategy::{Ctx, ParamError, Strategy, StrategyEnv};
use crate::model::Candle;
use crate::model::Tick;
use crate::model::time::NANOS_PER_SEC;
use crate::model::{IstTime, OrderType, Price, Qty, Side, Timestamp};

/// Least event time between two orders for the same level, and between exit orders.
const RESEND_NS: i64 = NANOS_PER_SEC;

/// Parameters of [`Grid`]: orders each side of the reference, the distance between levels
/// (basis points of the reference), the largest position either way (default levels × qty),
/// and the IST time to be flat by.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GridParams {
    #[serde(default = "default_levels")]
    pub levels: u32,
    #[serde(default = "default_step")]
    pub step_bps: u32,
    /// `None` (left out) is levels × qty, worked out when the grid is built.
    #[serde(default)]
    pub max_position: Option<u64>,
    #[serde(default = "super::default_exit")]
    pub exit_time: IstTime,
}

fn default_levels() -> u32 {
    3
}

fn default_step() -> u32 {
    20
}

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Grid {
    levels: i64,
    step_bps: i64,
    qty: i64,
    max_long: i64,
    max_short: i64,
    tick: i64,
    /// Reference price and step, paise, once the day's first bar has set them.
    ladder: Option<(i64, i64)>,
    /// Position and open-order count at the last check.
    seen: (i64, usize),
    /// When each level (`k + levels`) was last sent, per side (buy, sell), and when a level
    /// held back is due.
    sent: Vec<[i64; 2]>,
    retry_at: i64,
    last_exit: i64,
    /// Scratch: the wanted (side, price) of one check.
    want: Vec<(Side, i64)>,
    /// Time to stop, ns since midnight IST; the day the ladder belongs to; past the stop.
    exit: i64,
    day: Option<Timestamp>,
    done: bool,
}

impl Grid {
    /// `tick` is the instrument's tick size; `max_position` caps the position in units both
    /// ways (long only when `allow_short` is false); `exit` is the time to be flat by.
    fn from_values(
        levels: u32,
        step_bps: u32,
        qty: u64,
        max_position: u64,
        allow_short: bool,
        tick: Price,
        exit: IstTime,
    ) -> Self {
        let max = max_position.min(i64::MAX as u64) as i64;
        Grid {
            levels: levels as i64,
            step_bps: step_bps as i64,
            qty: (qty.max(1)).min(i64::MAX as u64) as i64,
            max_long: max,
            max_short: if allow_short { max } else { 0 },
            tick: tick.0.max(1),
            ladder: None,
            seen: (0, 0),
            sent: vec![[i64::MIN; 2]; 2 * levels as usize + 1],
            retry_at: i64::MAX,
            last_exit: i64::MIN,
            want: Vec::with_capacity(2 * levels as usize + 1),
            exit: exit.0,
            day: None,
            done: false,
        }
    }

    /// True while an order sent is not acknowledged yet (or a cancel not yet confirmed).
    fn in_flight(ctx: &Ctx<'_>) -> bool {
        let book = ctx.book();
        let acked: u64 = ctx.open_orders().iter().map(|o| o.remaining.0).sum();
        book.working_buy.0 + book.working_sell.0 != acked
    }

    /// After the exit: once nothing is working, close the position at market, `qty` at a time.
    fn flatten(&mut self, ctx: &mut Ctx<'_>) {
        let pos = ctx.position();
        let now = ctx.now().0;
        if pos == 0 || !ctx.open_orders().is_empty() || Self::in_flight(ctx) {
            return;
        }
        if now.saturating_sub(self.last_exit) < RESEND_NS {
            return;
        }
        self.last_exit = now;
        let side = if pos > 0 { Side::Sell } else { Side::Buy };
        ctx.market(side, Qty(pos.unsigned_abs().min(self.qty as u64)));
    }

    /// Reference and step for a first close.
    fn ladder_at(&self, close: Price) -> (i64, i64) {
        let r = close.floor_to(Price(self.tick)).0;
        let raw = (r as i128 * self.step_bps as i128 / 10_000) as i64;
        let step = (raw / self.tick * self.tick).max(self.tick);
        (r, step)
    }

    /// Places and cancels so the working orders are the wanted ones.
    fn reconcile(&mut self, ctx: &mut Ctx<'_>) {
        let Some((r, step)) = self.ladder else { return };
        let pos = ctx.position();
        self.seen = (pos, ctx.open_orders().len());
        self.retry_at = i64::MAX;
        if Self::in_flight(ctx) {
            return;
        }
        let level = |px: i64| ((px - r).rem_euclid(step) == 0).then(|| (px - r).div_euclid(step));
        // The level is the position before the fills of orders still working: a partly filled
        // order keeps the level it was placed for.
        let part: i64 =
            ctx.open_orders().iter().map(|o| (o.intent.qty.0 - o.remaining.0) as i64 * o.intent.side.sign()).sum();
        let c = -(pos.saturating_sub(part) / self.qty);
        let (levels, qty) = (self.levels, self.qty);
        let resting = |ctx: &Ctx<'_>, side: Side, px: i64| {
            ctx.open_orders()
                .iter()
                .find(|o| o.intent.order_type == OrderType::Limit && o.intent.side == side && o.intent.price.0 == px)
                .map(|o| o.remaining.0 as i64)
        };
        // Wanted levels, nearest first, while the position if they all filled (counting what
        // already works at a level) stays within the cap.
        let mut want = std::mem::take(&mut self.want);
        want.clear();
        let mut acc = pos;
        for k in (-levels..=(c - 1).min(levels)).rev() {
            let px = r + k * step;
            acc += resting(ctx, Side::Buy, px).unwrap_or(qty);
            if px <= 0 || acc > self.max_long {
                break;
            }
            want.push((Side::Buy, px));
        }
        let mut acc = pos;
        for k in (c + 1).max(-levels)..=levels {
            let px = r + k * step;
            acc -= resting(ctx, Side::Sell, px).unwrap_or(qty);
            if acc < -self.max_short {
                break;
            }
            want.push((Side::Sell, px));
        }
        let mut cancelled = false;
        for i in 0..ctx.open_orders().len() {
            let o = ctx.open_orders()[i];
            if o.intent.order_type != OrderType::Limit || !want.contains(&(o.intent.side, o.intent.price.0)) {
                ctx.cancel(o.id);
                cancelled = true;
            }
        }
        // Risk still counts an order until its cancel is confirmed: place at the next decision.
        if !cancelled {
            let now = ctx.now().0;
            for &(side, px) in &want {
                let Some(k) = level(px) else { continue };
                let Some(sent) =
                    self.sent.get_mut((k + levels) as usize).map(|s| &mut s[(side == Side::Sell) as usize])
                else {
                    continue;
                };
                if resting(ctx, side, px).is_some() {
                    continue;
                }
                if now.saturating_sub(*sent) < RESEND_NS {
                    self.retry_at = self.retry_at.min(sent.saturating_add(RESEND_NS));
                    continue;
                }
                *sent = now;
                ctx.limit(side, Qty(qty as u64), Price(px));
            }
        }
        self.want = want;
    }
}

impl Strategy for Grid {
    const KIND: &'static str = "grid";
    type Params = GridParams;

    fn new(p: &GridParams, env: &StrategyEnv<'_>) -> Result<Self, ParamError> {
        let levels = p.levels;
        if !(1..=50).contains(&levels) {
            return Err(ParamError::new("levels", format!("{levels} is not between 1 and 50")));
        }
        let step_bps = p.step_bps;
        if step_bps == 0 || u64::from(levels) * u64::from(step_bps) >= 10_000 {
            return Err(ParamError::new(
                "step_bps",
                format!("must be at least 1 and levels × step_bps under 10000 ({levels} × {step_bps})"),
            ));
        }
        let max_position = p.max_position.unwrap_or(u64::from(levels).saturating_mul(env.qty));
        if max_position < env.qty || max_position == 0 {
            return Err(ParamError::new(
                "max_position",
                format!("{max_position} is less than one order of qty {}", env.qty),
            ));
        }
        super::exit_inside_session(p.exit_time, env)?;
        let tick = env.instrument.tick_size;
        Ok(Grid::from_values(levels, step_bps, env.qty, max_position, env.allow_short, tick, p.exit_time))
    }

    fn on_candle(&mut self, candle: &Candle, ctx: &mut Ctx<'_>) {
        let day = candle.start.ist_midnight();
        if self.day != Some(day) {
            (self.day, self.ladder, self.done) = (Some(day), None, false);
        }
        if candle.end.ist_time_of_day() >= self.exit {
            self.done = true;
            ctx.cancel_all();
            self.flatten(ctx);
            return;
        }
        if self.ladder.is_none() && candle.close.is_positive() {
            self.ladder = Some(self.ladder_at(candle.close));
        }
        self.reconcile(ctx);
    }

    fn on_tick(&mut self, _tick: &Tick, ctx: &mut Ctx<'_>) {
        if self.done {
            self.flatten(ctx);
        } else if self.ladder.is_some()
            && ((ctx.position(), ctx.open_orders().len()) != self.seen || ctx.now().0 >= self.retry_at)
        {
            self.reconcile(ctx);
        }
    }

    fn wants_ticks(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::strategy::testing::{at, m1, Harness, Sent};
    use crate::model::OrderType::Limit;

    fn limit(id: u64, side: Side, price: i64) -> Sent {
        Sent::Order { id, side, qty: 10, kind: Limit, price, trigger: 0 }
    }

    /// Reference 1 000.00, step 1 % = 10.00 on a 0.05 tick.
    fn grid(levels: u32, max: u64, short: bool) -> Harness {
        Harness::new(Grid::from_values(levels, 100, 10, max, short, Price(5), IstTime::hm(15, 15)))
    }

    fn resting(h: &Harness) -> Vec<(Side, i64)> {
        let mut v: Vec<_> = h.orders().iter().map(|o| (o.intent.side, o.intent.price.0)).collect();
        v.sort_by_key(|x| x.1);
        v
    }

    #[test]
    fn ladder_then_the_opposite_order_one_step_away() {
        let mut h = grid(2, 20, true);
        let first = h.candle(m1(0, 100_000, 100_000, 100_000, 100_000));
        assert_eq!(
            first,
            vec![
                limit(1, Side::Buy, 99_000),
                limit(2, Side::Buy, 98_000),
                limit(3, Side::Sell, 101_000),
                limit(4, Side::Sell, 102_000)
            ]
        );
        // The acknowledgements change nothing.
        assert_eq!(h.tick(at(1), 100_000, 1), vec![]);
        assert_eq!(h.candle(m1(1, 100_000, 100_000, 100_000, 100_000)), vec![]);
        // The buy at 990.00 fills: a sell goes one step up, at 1 000.00, on the next trade.
        h.fill(1, 10, 99_000);
        assert_eq!(h.position(), 10);
        assert_eq!(h.tick(at(2), 98_950, 1), vec![limit(5, Side::Sell, 100_000)]);
        assert_eq!(h.tick(at(2), 98_950, 1), vec![]);
        // That sell fills: back to flat, a buy returns to 990.00.
        h.fill(5, 10, 100_000);
        assert_eq!(h.position(), 0);
        assert_eq!(h.candle(m1(3, 100_050, 100_050, 100_050, 100_050)), vec![limit(6, Side::Buy, 99_000)]);
        assert_eq!(
            resting(&h),
            vec![(Side::Buy, 98_000), (Side::Buy, 99_000), (Side::Sell, 101_000), (Side::Sell, 102_000)]
        );
        // Both buys fill (a gap down): sells at 990.00 and 1 000.00, no buy beyond the grid.
        h.fill(6, 10, 99_000);
        h.fill(2, 10, 98_000);
        assert_eq!(h.position(), 20);
        assert_eq!(h.tick(at(4), 97_900, 1), vec![limit(7, Side::Sell, 99_000), limit(8, Side::Sell, 100_000)]);
        assert_eq!(h.orders().len(), 4);
    }

    #[test]
    fn max_position_caps_each_side_and_long_only_sells_only_inventory() {
        // Three levels but at most 20 units: two buys, two sells.
        let mut h = grid(3, 20, true);
        let first = h.candle(m1(0, 100_000, 100_000, 100_000, 100_000));
        assert_eq!(
            first,
            vec![
                limit(1, Side::Buy, 99_000),
                limit(2, Side::Buy, 98_000),
                limit(3, Side::Sell, 101_000),
                limit(4, Side::Sell, 102_000)
            ]
        );
        // Long only: no sell until there is something to sell.
        let mut h = grid(2, 20, false);
        assert_eq!(
            h.candle(m1(0, 100_000, 100_000, 100_000, 100_000)),
            vec![limit(1, Side::Buy, 99_000), limit(2, Side::Buy, 98_000)]
        );
        h.fill(1, 10, 99_000);
        assert_eq!(h.tick(at(1), 98_950, 1), vec![limit(3, Side::Sell, 100_000)]);
        h.fill(2, 10, 98_000);
        assert_eq!(h.tick(at(2), 97_950, 1), vec![limit(4, Side::Sell, 99_000)]);
        assert_eq!(h.position(), 20);
        assert_eq!(resting(&h), vec![(Side::Sell, 99_000), (Side::Sell, 100_000)]);
    }

    #[test]
    fn an_order_off_the_state_is_cancelled() {
        // One lot either way: buy 990, sell 1 010.
        let mut h = grid(3, 10, true);
        assert_eq!(
            h.candle(m1(0, 100_000, 100_000, 100_000, 100_000)),
            vec![limit(1, Side::Buy, 99_000), limit(2, Side::Sell, 101_000)]
        );
        h.fill(1, 10, 99_000);
        assert_eq!(h.tick(at(1), 99_000, 1), vec![limit(3, Side::Sell, 100_000)]);
        // The far sell fills first (a fill out of price order): flat again, so the grid is back
        // around 1 000.00: the sell at 1 000.00 goes; then a buy at 990 and a sell at 1 010
        // return.
        h.fill(2, 10, 101_000);
        assert_eq!(h.tick(at(2), 101_000, 1), vec![Sent::Cancel(3)]);
        assert_eq!(h.tick(at(3), 101_000, 1), vec![limit(4, Side::Buy, 99_000), limit(5, Side::Sell, 101_000)]);
        assert_eq!(resting(&h), vec![(Side::Buy, 99_000), (Side::Sell, 101_000)]);
    }

    #[test]
    fn a_partial_fill_moves_nothing() {
        let mut h = grid(1, 10, true);
        h.candle(m1(0, 100_000, 100_000, 100_000, 100_000));
        h.fill(1, 4, 99_000);
        assert_eq!(h.position(), 4);
        assert_eq!(h.tick(at(1), 99_000, 1), vec![]);
        h.fill(1, 6, 99_000);
        assert_eq!(h.tick(at(1), 99_000, 1), vec![limit(3, Side::Sell, 100_000)]);
    }

    #[test]
    fn prices_are_on_the_tick_grid() {
        // Reference 1 234.55 on a ₹0.50 tick floors to 1 234.50; 7 bps is 0.86, floored to 0.50.
        let mut h = Harness::new(Grid::from_values(2, 7, 10, 100, true, Price(50), IstTime::hm(15, 15)));
        let sent = h.candle(m1(0, 123_455, 123_455, 123_455, 123_455));
        let prices: Vec<i64> = sent
            .iter()
            .map(|s| match s {
                Sent::Order { price, .. } => *price,
                _ => 0,
            })
            .collect();
        assert_eq!(prices, vec![123_400, 123_350, 123_500, 123_550]);
        assert!(prices.iter().all(|p| p % 50 == 0));
        // A step under one tick becomes one tick.
        let g = Grid::from_values(1, 1, 10, 10, true, Price(100), IstTime::hm(15, 15));
        assert_eq!(g.ladder_at(Price(10_050)), (10_000, 100));
    }

    fn ms(t: Timestamp, ms: i64) -> Timestamp {
        Timestamp(t.0 + ms * 1_000_000)
    }

    fn market(id: u64, side: Side) -> Sent {
        Sent::Order { id, side, qty: 10, kind: crate::model::OrderType::Market, price: 0, trigger: 0 }
    }

    #[test]
    fn stops_at_exit_time_flat_in_qty_chunks_and_starts_afresh_next_day() {
        let mut h = grid(2, 20, true);
        h.candle(m1(0, 100_000, 100_000, 100_000, 100_000));
        h.fill(1, 10, 99_000);
        assert_eq!(h.tick(at(1), 99_000, 1), vec![limit(5, Side::Sell, 100_000)]);
        h.fill(2, 10, 98_000);
        assert_eq!(h.tick(at(2), 98_000, 1), vec![limit(6, Side::Sell, 99_000)]);
        assert_eq!(h.position(), 20);
        // The bar ending 15:15 cancels the ladder; trades then sell the position 10 at a time,
        // one order a second.
        assert_eq!(
            h.candle(m1(359, 99_500, 99_500, 99_500, 99_500)),
            vec![Sent::Cancel(3), Sent::Cancel(4), Sent::Cancel(5), Sent::Cancel(6)]
        );
        assert_eq!(h.tick(at(360), 99_500, 1), vec![market(7, Side::Sell)]);
        assert_eq!(h.position(), 10);
        assert_eq!(h.tick(ms(at(360), 500), 99_500, 1), vec![]);
        assert_eq!(h.tick(ms(at(360), 1_000), 99_500, 1), vec![market(8, Side::Sell)]);
        assert_eq!(h.position(), 0);
        assert_eq!(h.tick(at(361), 99_000, 1), vec![]);
        assert_eq!(h.candle(m1(361, 99_000, 99_000, 99_000, 99_000)), vec![]);
        // Monday: a new ladder at the first close, 1 010.00 (step 10.10).
        let monday = 3 * 24 * 60;
        assert_eq!(
            h.candle(m1(monday, 101_000, 101_000, 101_000, 101_000)),
            vec![
                limit(9, Side::Buy, 99_990),
                limit(10, Side::Buy, 98_980),
                limit(11, Side::Sell, 102_010),
                limit(12, Side::Sell, 103_020)
            ]
        );
    }

    #[test]
    fn a_partial_fill_that_reduces_the_position_keeps_the_level() {
        let mut h = grid(2, 20, true);
        h.candle(m1(0, 100_000, 100_000, 100_000, 100_000));
        h.fill(3, 10, 101_000);
        assert_eq!(h.tick(at(1), 101_000, 1), vec![limit(5, Side::Buy, 100_000)]);
        // 4 of the 10 bought back: still at level +1, the buy at 1 000.00 stays.
        h.fill(5, 4, 100_000);
        assert_eq!(h.position(), -6);
        assert_eq!(h.tick(at(2), 100_000, 1), vec![]);
        // The rest: back at level 0, the sell at 1 010.00 returns.
        h.fill(5, 6, 100_000);
        assert_eq!(h.tick(at(3), 100_000, 1), vec![limit(6, Side::Sell, 101_000)]);
        assert_eq!(
            resting(&h),
            vec![(Side::Buy, 98_000), (Side::Buy, 99_000), (Side::Sell, 101_000), (Side::Sell, 102_000)]
        );
    }

    #[test]
    fn two_partly_filled_orders_do_not_hold_the_level() {
        let mut h = grid(3, 30, true);
        h.candle(m1(0, 100_000, 100_000, 100_000, 100_000));
        h.fill(4, 10, 101_000);
        assert_eq!(h.tick(at(1), 101_000, 1), vec![limit(7, Side::Buy, 100_000)]);
        h.fill(5, 10, 102_000);
        assert_eq!(h.tick(at(2), 102_000, 1), vec![limit(8, Side::Buy, 101_000)]);
        // The sell at 1 030.00 is 4/10 filled: still level +2.
        h.fill(6, 4, 103_000);
        assert_eq!(h.tick(at(3), 103_000, 1), vec![]);
        // The buy at 1 010.00 completes: level +1, so a sell returns at 1 020.00 and no buy is
        // placed again at 1 010.00 although the sell at 1 030.00 is still partly filled.
        h.fill(8, 10, 101_000);
        assert_eq!(h.position(), -14);
        assert_eq!(h.tick(at(4), 101_000, 1), vec![limit(9, Side::Sell, 102_000)]);
        assert_eq!(h.tick(at(5), 101_000, 1), vec![]);
    }

    #[test]
    fn a_refused_level_is_retried_at_most_once_a_second() {
        let mut h = grid(2, 20, true);
        h.candle(m1(0, 100_000, 100_000, 100_000, 100_000));
        h.fill(1, 10, 99_000);
        let t = at(5);
        h.refuse = true;
        assert_eq!(h.tick(t, 99_000, 1), vec![limit(5, Side::Sell, 100_000)]);
        // Refused; a trade with nothing changed does not resend it.
        assert_eq!(h.tick(ms(t, 100), 99_000, 1), vec![]);
        // Another fill within the second: the new level goes, the refused one waits.
        h.fill(2, 10, 98_000);
        assert_eq!(h.tick(ms(t, 500), 98_000, 1), vec![limit(6, Side::Sell, 99_000)]);
        h.refuse = false;
        assert_eq!(h.tick(ms(t, 900), 98_000, 1), vec![]);
        assert_eq!(h.tick(ms(t, 1_000), 98_000, 1), vec![limit(7, Side::Sell, 100_000)]);
        assert_eq!(h.tick(ms(t, 1_200), 98_000, 1), vec![]);
        assert_eq!(h.tick(ms(t, 1_500), 98_000, 1), vec![limit(8, Side::Sell, 99_000)]);
        assert_eq!(h.tick(ms(t, 2_500), 98_000, 1), vec![]);
    }

    #[test]
    fn waits_for_acknowledgements() {
        // Straight on the stage: two bars without the order stage answering send the ladder once.
        use crate::model::Msg;
        use crate::stages::strategy::testing::stage_of;
        let mut stage = stage_of(Grid::from_values(1, 100, 10, 10, true, Price(5), IstTime::hm(15, 15)));
        let mut intents = 0;
        for k in 0..3 {
            let candle = m1(k, 100_000, 100_000, 100_000, 100_000);
            stage.on_msg(&Msg::Candle { candle, stamp: crate::model::Stamp::NONE }, &mut |m| {
                intents += matches!(m, Msg::Intent { .. }) as u32;
            });
        }
        assert_eq!(intents, 2);
    }
}
