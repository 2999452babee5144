//! The strategy stage. A strategy is a plain struct that sees closed candles of the timeframe it
//! subscribed to and says which position it wants; the host turns that into orders, keeping
//! track of what is already working so a decision is never sent twice.

mod ema_cross;
mod mean_reversion;

pub use ema_cross::EmaCross;
pub use mean_reversion::BollingerReversion;

use crate::candle::{BarSpec, Candle};
use crate::event::{Feedback, Msg, Tick};
use crate::types::{AccountId, InstrumentId, NetQty, OrderIntent, Qty, Side, StrategyId, Timestamp};

/// What a strategy sees of its own book when it decides.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Book {
    /// Filled position in the strategy's instrument.
    pub position: NetQty,
    /// Quantity in buy orders sent and not yet filled or closed.
    pub working_buy: Qty,
    pub working_sell: Qty,
}

impl Book {
    /// Position if every working order filled.
    pub fn projected(&self) -> i64 {
        self.position.0 + self.working_buy.0 as i64 - self.working_sell.0 as i64
    }
}

/// A trading strategy a quant implements in one file.
pub trait Strategy: Send {
    /// Called for each closed candle of the subscribed instrument and timeframe. Return the
    /// position wanted now (`Some`), or `None` to leave things as they are.
    fn on_candle(&mut self, candle: &Candle, book: &Book) -> Option<i64>;

    /// Called for every tick of the subscribed instrument when [`Strategy::wants_ticks`] is true.
    fn on_tick(&mut self, _tick: &Tick, _book: &Book) -> Option<i64> {
        None
    }

    fn wants_ticks(&self) -> bool {
        false
    }
}

/// One running strategy instance and its book.
pub struct StrategySlot {
    pub id: StrategyId,
    pub account: AccountId,
    pub instrument: InstrumentId,
    pub timeframe: BarSpec,
    pub book: Book,
    pub strategy: Box<dyn Strategy>,
}

/// Counters the stage keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StrategyCounters {
    pub signals: u64,
    pub intents: u64,
}

/// Hosts every strategy of every account.
pub struct StrategyStage {
    slots: Vec<StrategySlot>,
    /// For each instrument, the slots subscribed to it.
    by_instrument: Vec<Vec<usize>>,
    pub counters: StrategyCounters,
}

impl StrategyStage {
    pub fn new(slots: Vec<StrategySlot>, instruments: usize) -> Self {
        let mut by_instrument = vec![Vec::new(); instruments];
        for (i, s) in slots.iter().enumerate() {
            if let Some(v) = by_instrument.get_mut(s.instrument.index()) {
                v.push(i);
            }
        }
        StrategyStage { slots, by_instrument, counters: StrategyCounters::default() }
    }

    pub fn slots(&self) -> &[StrategySlot] {
        &self.slots
    }

    /// Timeframes some strategy listens to, so the candle stage builds only those.
    pub fn timeframes(&self) -> Vec<BarSpec> {
        let mut v: Vec<_> = self.slots.iter().map(|s| s.timeframe).collect();
        v.sort();
        v.dedup();
        v
    }

    #[inline]
    pub fn on_msg(&mut self, msg: &Msg, out: &mut impl FnMut(Msg)) {
        match *msg {
            Msg::Candle { candle: ref c, ingress_raw } => {
                let Some(subs) = self.by_instrument.get(c.instrument.index()) else { return };
                for &i in subs {
                    let slot = &mut self.slots[i];
                    if slot.timeframe != c.spec {
                        continue;
                    }
                    let target = slot.strategy.on_candle(c, &slot.book);
                    Self::steer(slot, target, c.end, ingress_raw, &mut self.counters, out);
                }
            }
            Msg::Tick { tick, ingress_raw } => {
                if let Some(subs) = self.by_instrument.get(tick.instrument.index()) {
                    for &i in subs {
                        let slot = &mut self.slots[i];
                        if slot.strategy.wants_ticks() {
                            let target = slot.strategy.on_tick(&tick, &slot.book);
                            Self::steer(slot, target, tick.ts, ingress_raw, &mut self.counters, out);
                        }
                    }
                }
                out(*msg);
            }
            Msg::Feedback(fb) => {
                self.on_feedback(&fb);
                out(*msg);
            }
            Msg::Empty => {}
            _ => out(*msg),
        }
    }

    fn on_feedback(&mut self, fb: &Feedback) {
        match *fb {
            Feedback::Filled { fill: f, .. } => {
                if let Some(slot) = self.slots.get_mut(f.strategy.index()) {
                    let b = &mut slot.book;
                    match f.side {
                        Side::Buy => b.working_buy = b.working_buy - f.qty,
                        Side::Sell => b.working_sell = b.working_sell - f.qty,
                    }
                    b.position = b.position.after(f.side, f.qty);
                }
            }
            Feedback::Closed { strategy, side, unfilled, .. } => {
                if let Some(slot) = self.slots.get_mut(strategy.index()) {
                    let b = &mut slot.book;
                    match side {
                        Side::Buy => b.working_buy = b.working_buy - unfilled,
                        Side::Sell => b.working_sell = b.working_sell - unfilled,
                    }
                }
            }
            Feedback::Modified { intent, old_remaining, new_remaining, .. } => {
                if let Some(slot) = self.slots.get_mut(intent.strategy.index()) {
                    let b = &mut slot.book;
                    match intent.side {
                        Side::Buy => b.working_buy = b.working_buy - old_remaining + new_remaining,
                        Side::Sell => b.working_sell = b.working_sell - old_remaining + new_remaining,
                    }
                }
            }
            Feedback::Accepted { .. } | Feedback::CommandRefused { .. } => {}
        }
    }

    /// Turns a wanted position into the order that gets there from the projected position.
    fn steer(
        slot: &mut StrategySlot,
        target: Option<i64>,
        ts: Timestamp,
        ingress_raw: u64,
        c: &mut StrategyCounters,
        out: &mut impl FnMut(Msg),
    ) {
        let Some(target) = target else { return };
        let delta = target.saturating_sub(slot.book.projected());
        if delta == 0 {
            return;
        }
        c.signals += 1;
        let (side, qty) =
            if delta > 0 { (Side::Buy, Qty(delta as u64)) } else { (Side::Sell, Qty(delta.unsigned_abs())) };
        match side {
            Side::Buy => slot.book.working_buy += qty,
            Side::Sell => slot.book.working_sell += qty,
        }
        c.intents += 1;
        let intent = OrderIntent::market(slot.account, slot.id, slot.instrument, side, qty);
        out(Msg::Intent { intent, ts, ingress_raw });
    }
}

#[cfg(test)]
pub(crate) mod testing {
    use crate::candle::{BarSpec, Candle};
    use crate::types::{InstrumentId, Price, Qty, Timestamp};

    /// A one-minute bar that opened and closed at `p`.
    pub fn bar(p: Price) -> Candle {
        Candle {
            instrument: InstrumentId(0),
            spec: BarSpec::M1,
            start: Timestamp(0),
            end: Timestamp(1),
            open: p,
            high: p,
            low: p,
            close: p,
            volume: Qty(1),
            trades: 1,
            turnover: 0,
            oi: 0,
            amended: false,
        }
    }
}
